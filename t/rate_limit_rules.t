# Mastodon's rack-attack throttles as the route table classifies them: no
# escape by a trailing "/" or ".json", a token that does not authenticate
# counts per address, a user's tokens share the per-account budget, the
# paging, delete, per-account sign-in and per-address e-mail limits, the
# X-RateLimit-* headers on every 429, and with Redis down or hung the
# sign-in limit still holds (counted in the worker).  One nginx worker, so
# the worker's own count is exact.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => 'mastodon_rate_limit on; mastodon_rate_limit_api 1000; mastodon_rate_limit_sign_in 4;'
                 . ' mastodon_rate_limit_sign_up 2; mastodon_redis_timeout 300ms;',
);
my $m = $t->mojo;

# a counter of the current window and the next one (no flake at a boundary)
sub preset {
    my ($name, $who, $period, $value) = @_;
    my $w = int(time / $period);
    $t->redis('SET', "mastodon:rl:$_:$name:$who", $value, 'EX', 2 * $period) for $w, $w + 1;
}
sub reset_limits { $t->redis('EVAL', "for _, k in ipairs(redis.call('KEYS', 'mastodon:rl:*')) do"
    . " redis.call('DEL', k) end return 1", 0) }

sub sign_in {
    my ($path, $email) = @_;
    $m->post_ok($path, form => { 'user[email]' => $email // 'x@example.com', 'user[password]' => 'nope' });
    return $m->tx->res->code;
}

# --- the route table decides, not the URI --------------------------------
isnt(sign_in('/auth/sign_in'), 429, 'sign-in 1');
isnt(sign_in('/auth/sign_in/'), 429, 'sign-in 2, trailing slash');
isnt(sign_in('/auth/sign_in'), 429, 'sign-in 3');
isnt(sign_in('/auth/sign_in/'), 429, 'sign-in 4, trailing slash');
is(sign_in('/auth/sign_in/'), 429, 'the 5th attempt is limited, with a trailing slash too');
$m->header_is('X-RateLimit-Limit', 4, 'a 429 outside the API carries the headers')
  ->header_is('X-RateLimit-Remaining', 0)
  ->header_like('X-RateLimit-Reset', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000000Z$/);
reset_limits();

my $app_token = $t->token(scopes => 'write');
for my $path ('/api/v1/accounts.json', '/api/v1/accounts/') {
    $m->post_ok($path, $t->bearer($app_token), form => {});
    isnt($m->tx->res->code, 429, "sign-up through $path: counted, within the limit");
}
$m->post_ok('/api/v1/accounts.json', $t->bearer($app_token), form => {})
  ->status_is(429, 'the 3rd sign-up is limited, ".json" or not')
  ->json_is('/error', 'Too many requests')
  ->header_is('X-RateLimit-Limit', 2)->header_is('X-RateLimit-Remaining', 0);
reset_limits();

# --- tokens that do not authenticate count per address -------------------
preset('throttle_unauthenticated_api', '127.0.0.1', 300, 998);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer("guess$_"))
  ->status_is(401, "guessed token $_: 401 within the address's budget") for 1 .. 2;
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer('guess3'))
  ->status_is(429, 'the next guess, a fresh token again: limited per address')
  ->header_is('X-RateLimit-Limit', 1000);
$m->get_ok('/api/v1/instance')->status_is(429, 'anonymous requests share that budget');
my $alice = $t->user('alice');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($alice->{token}))
  ->status_is(200, 'a real token is not counted per address');
reset_limits();

# --- the per-account limit spans the user's tokens -------------------------
my $second = $t->token(user_id => $alice->{user_id});
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($alice->{token}))->status_is(200);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($second))->status_is(200)
  ->header_is('X-RateLimit-Remaining', 999, "the most limited budget: the new token's (1000 - 1)");
my $w = int(time / 300);
my $count = $t->redis('GET', "mastodon:rl:$w:throttle_authenticated_api:$alice->{user_id}");
ok($count == 2 || $count eq '', "both tokens counted for the user ($count)");
preset('throttle_authenticated_api', $alice->{user_id}, 300, 1500);
my $third = $t->token(user_id => $alice->{user_id});
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($third))
  ->status_is(429, "a fresh token of the same user: over the user's 1500")
  ->header_is('X-RateLimit-Limit', 1500);
my $bob = $t->user('bob');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($bob->{token}))->status_is(200, 'another user is not');
reset_limits();

# --- paging, unauthenticated and per account ------------------------------
preset('throttle_unauthenticated_paging', '127.0.0.1', 900, 300);
$m->get_ok('/api/v1/timelines/public?max_id=999999')->status_is(429, 'anonymous paging: limited')
  ->header_is('X-RateLimit-Limit', 300);
$m->get_ok('/api/v1/timelines/public')->status_is(200, 'the first page is not paging');
$m->get_ok('/api/v1/timelines/public?since_id=1', $t->bearer($bob->{token}))
  ->status_is(200, "a user's paging counts for the user");
preset('throttle_authenticated_paging', $bob->{user_id}, 900, 300);
$m->get_ok('/api/v1/timelines/public.json?min_id=1', $t->bearer($bob->{token}))->status_is(429);
reset_limits();

# --- deleting and unreblogging -------------------------------------------
preset('throttle_api_delete', $bob->{user_id}, 1800, 30);
$m->delete_ok('/api/v1/statuses/12345/', $t->bearer($bob->{token}))->status_is(429, 'delete: limited per user')
  ->header_is('X-RateLimit-Limit', 30);
$m->post_ok('/api/v1/statuses/12345/unreblog.json', $t->bearer($bob->{token}))->status_is(429, 'unreblog too');
$m->delete_ok('/api/v1/statuses/12345', $t->bearer($alice->{token}))->status_is(404, 'not for another user');
reset_limits();

# --- sign-in attempts per account, whatever the address -----------------
preset('throttle_login_attempts/email', 'alice@example.com', 3600, 4);
is(sign_in('/auth/sign_in', ' Alice@Example.COM '), 429, "attempts on one account: limited (address's first)");
isnt(sign_in('/auth/sign_in', 'bob@example.com'), 429, 'another account is not');
reset_limits();

# --- confirmation e-mails per target address -------------------------------
my @newbies = map { $t->user("newbie$_", confirmed => 0) } 1 .. 3;
for my $i (0 .. 1) {
    $m->post_ok('/api/v1/emails/confirmations', $t->bearer($newbies[$i]{token}),
        form => { email => $i % 2 ? ' Victim@Example.com' : 'victim@example.com' });
    isnt($m->tx->res->code, 429, "a confirmation to the victim from newbie $i");
}
$w = int(time / 1800);
$count = $t->redis('GET', "mastodon:rl:$w:throttle_email_confirmations/email:victim\@example.com");
ok($count == 2 || $count eq '', "counted per normalised target address, whoever asks ($count)");
preset('throttle_email_confirmations/email', 'victim@example.com', 1800, 5);
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($newbies[2]{token}), form => { email => 'VICTIM@example.com' })
  ->status_is(429, 'over 5 to one address, from yet another account: limited')
  ->header_is('X-RateLimit-Limit', 5);
reset_limits();

# --- Redis down: the sign-in limit holds in the worker --------------------
$t->stop_redis;
isnt(sign_in('/auth/sign_in'), 429, "Redis down: sign-in $_ within the limit") for 1 .. 4;
is(sign_in('/auth/sign_in/'), 429, 'Redis down: the 5th is limited all the same');
$m->get_ok('/api/v1/instance')->status_is(200, 'Redis down: the API is not limited');
$t->start_redis;

# --- Redis hung: the same once its commands time out ------------------------
my $redis_pid = $t->{redis_pid};
# wait until nginx has its connection again
for (1 .. 50) { $m->get_ok('/api/v1/instance'); last if $t->redis('KEYS', 'mastodon:rl:*') ne ''; select undef, undef, undef, 0.1 }
kill 'STOP', $redis_pid;
my @codes = map { $m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => {}); $m->tx->res->code } 1 .. 3;
kill 'CONT', $redis_pid;
isnt($codes[$_], 429, "Redis hung: sign-up @{[$_ + 1]} within the limit ($codes[$_])") for 0 .. 1;
is($codes[2], 429, 'Redis hung: the 3rd is limited all the same');

$t->done;
