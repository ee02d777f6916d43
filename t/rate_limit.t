# Rate limits as Mastodon's rack-attack: the API per token (per address
# without one), sign-ins and sign-ups per address; 429 over the limit; the
# X-RateLimit-* headers on API answers.  Small limits for the test.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    http_config => 'mastodon_rate_limit on; mastodon_rate_limit_api 5; mastodon_rate_limit_sign_in 3;'
                 . ' mastodon_rate_limit_sign_up 2;',
);
my $m = $t->mojo;

# anonymous API requests count per address
for my $i (1 .. 5) {
    $m->get_ok('/api/v1/instance')->status_is(200)
      ->header_is('X-RateLimit-Limit', 5)
      ->header_is('X-RateLimit-Remaining', 5 - $i)
      ->header_like('X-RateLimit-Reset', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:00\.000000Z$/);
}
$m->get_ok('/api/v1/instance')->status_is(429)
  ->content_type_is('application/json; charset=utf-8')
  ->json_is('/error', 'Too many requests')
  ->header_is('X-RateLimit-Remaining', 0);

# a token has its own budget, whatever the address
my $alice = $t->user('alice');
my $h = $t->bearer($alice->{token});
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->status_is(200)->header_is('X-RateLimit-Remaining', 4);
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->status_is(200) for 1 .. 4;
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->status_is(429)->json_is('/error', 'Too many requests');
my $bob = $t->user('bob');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($bob->{token}))->status_is(200, "another token is not limited");

# outside the API: no headers, no limit (health checks)
$m->get_ok('/health')->status_is(200);
ok(!defined $m->tx->res->headers->header('X-RateLimit-Limit'), 'no rate headers outside the API');

# sign-in attempts per address
for (1 .. 3) {
    $m->post_ok('/auth/sign_in', form => { 'user[email]' => 'x@example.com', 'user[password]' => 'nope' });
    isnt($m->tx->res->code, 429, 'a sign-in attempt within the limit');
}
$m->post_ok('/auth/sign_in', form => { 'user[email]' => 'x@example.com', 'user[password]' => 'nope' })
  ->status_is(429);

# sign-ups per address
my $app_token = $t->token(scopes => 'write');
for (1 .. 2) {
    $m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => {});
    isnt($m->tx->res->code, 429, 'a sign-up within the limit');
}
$m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => {})->status_is(429);

# password grants count as sign-ins (the other grants do not)
my $app = $t->app;
for (1 .. 3) {
    $m->post_ok('/oauth/token', form => { grant_type => 'client_credentials', client_id => $app->{client_id},
        client_secret => $app->{client_secret} })->status_is(200);
}
$m->post_ok('/oauth/token', form => { grant_type => 'password', username => 'x@example.com', password => 'y',
    client_id => $app->{client_id}, client_secret => $app->{client_secret} })
  ->status_is(429, 'a password grant after 3 sign-in attempts: limited');

# confirmation e-mails sent again count per address (25 / 5 min: the
# sign-in limit), here 3
my $new = $t->user('newbie', confirmed => 0);
for (1 .. 3) {
    $m->post_ok('/api/v1/emails/confirmations', $t->bearer($new->{token}));
    isnt($m->tx->res->code, 429, 'a resend within the limit');
}
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($new->{token}))->status_is(429);

# Redis down: nothing is limited, everything still answers
$t->stop_redis;
$m->get_ok('/api/v1/instance')->status_is(200, 'no Redis: not limited');
$t->start_redis;

$t->done;
