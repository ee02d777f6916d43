# Sign-up through the API (POST /api/v1/accounts) in every registrations
# mode, Mastodon's validation errors (ValidationErrorFormatter), nothing
# half-created, and the e-mail confirmation: the worker's mail through an
# SMTP sink, retried while the sink is down, and GET /auth/confirmation.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use Mojo::IOLoop;
use Mojo::Promise;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(
    smtp        => 1,
    http_config => 'mastodon_require_confirmation off;',
    worker_env  => { MASTODON_RETRY_BASE_MS => 100 },
);
my $m = $t->mojo;
$t->ua->max_connections(0);     # no keep-alive: after a reload, only new workers answer

# new http_config, and wait until the new workers answer (their title is the marker)
sub reconfigure {
    my ($http, $title) = @_;
    $t->reconfigure_nginx(http_config => "$http\nmastodon_title \"$title\";") or return 0;
    return $t->wait_for(sub {
        my $tx = $t->ua->get('/api/v1/instance');
        ($tx->res->json('/title') // '') eq $title;
    }, 20);
}

my $app = $t->app(name => 'Tusky', scopes => 'read write follow push');
my $app_token = $t->token(app_id => $app->{id}, scopes => 'read write follow push');
my $auth = $t->bearer($app_token);

sub counts {
    return $t->psql(q{SELECT (SELECT count(*) FROM accounts) || ' ' || (SELECT count(*) FROM account_stats)
        || ' ' || (SELECT count(*) FROM users) || ' ' || (SELECT count(*) FROM oauth_access_tokens)
        || ' ' || (SELECT count(*) FROM user_invite_requests)});
}

# the state the auth cache holds for a token: "id app user account flags perms scopes"
sub cached_flags {
    my ($token) = @_;
    my @f = split / /, $t->redis('GET', 'mastodon:token:' . sha256_hex($token));
    return $f[4];
}

my %good = (username => 'alice', email => 'Alice@Example.com ', password => 'correct horse battery',
            agreement => 'true', locale => 'en');

# --- who may sign up -------------------------------------------------------------

my $before = counts();

$m->post_ok('/api/v1/accounts', form => \%good)->status_is(401)
  ->json_is('/error', 'The access token is invalid');

my $read_only = $t->token(app_id => $app->{id}, scopes => 'read');
$m->post_ok('/api/v1/accounts', $t->bearer($read_only), form => \%good)->status_is(403)
  ->json_is('/error', 'This action is outside the authorized scopes');

my $bob = $t->user('bob');
$before = counts();
$m->post_ok('/api/v1/accounts', $t->bearer($bob->{token}), form => \%good)->status_is(403)
  ->json_is('/error', 'This method requires an client credentials authentication');
is(counts(), $before, 'a user token creates nothing');

# --- open, no confirmation ---------------------------------------------------------

$m->post_ok('/api/v1/accounts', $auth, form => \%good)->status_is(200)
  ->header_is('Cache-Control', 'no-store')
  ->json_is('/token_type', 'Bearer')
  ->json_is('/scope', 'read write follow push')
  ->json_like('/access_token', qr/^[A-Za-z0-9_-]{43}$/);
my $res = $m->tx->res->json;
my @e = entity_errors($res, 'Token');
is_deeply(\@e, [], 'Token entity') or diag explain \@e;
ok(abs($res->{created_at} - time) < 120, 'created_at is a UNIX time');
my $alice_token = $res->{access_token};

my ($aid, $uid, $email, $pw, $confirmed, $approved, $locale, $byapp, $priv, $pub) = split /\|/, $t->psql(
    q{SELECT a.id, u.id, u.email, u.encrypted_password, u.confirmed_at IS NOT NULL, u.approved, u.locale,
      u.created_by_application_id, a.private_key LIKE '-----BEGIN RSA PRIVATE KEY-----%',
      a.public_key LIKE '-----BEGIN PUBLIC KEY-----%'
      FROM accounts a JOIN users u ON u.account_id = a.id WHERE a.username = 'alice' AND a.domain IS NULL});
ok($aid && $uid, 'account and user created');
is($email, 'alice@example.com', 'e-mail stripped and lower-cased');
like($pw, qr/^\$2a\$04\$/, 'bcrypt with mastodon_bcrypt_cost');
is(crypt('correct horse battery', $pw), $pw, 'the password verifies');
is($confirmed, 't', 'confirmed at once without mastodon_require_confirmation');
is($approved, 't', 'approved in open mode');
is($locale, 'en', 'locale stored');
is($byapp, $app->{id}, 'created_by_application');
is("$priv$pub", 'tt', 'RSA key pair in PEM');
is($t->psql("SELECT count(*) FROM account_stats WHERE account_id = $aid"), 1, 'account_stats row');
is($t->psql("SELECT resource_owner_id || ' ' || application_id || ' ' || scopes FROM oauth_access_tokens WHERE token = '"
            . sha256_hex($alice_token) . "'"), "$uid $app->{id} read write follow push",
   'the new token belongs to the user, the app, with the app\'s scopes (digest stored)');

$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($alice_token))->status_is(200)
  ->json_is('/name', 'Tusky');
is(cached_flags($alice_token) & 3, 3, 'the user passes require_user (confirmed, approved)');

# JSON bodies too, with a boolean agreement
$m->post_ok('/api/v1/accounts', $auth, json => { username => 'Zoe_2', email => 'zoe@example.com',
            password => 'pässwörd-ünïcode', agreement => \1, time_zone => 'Europe/Berlin' })->status_is(200);

# what the mail gem takes, Mastodon takes: dots anywhere in the local part,
# UTF-8, lower-cased as Ruby's downcase does
$m->post_ok('/api/v1/accounts', $auth, form => { username => 'docomo', email => " A..B.\x{c9}\@Docomo.ne.jp\t",
            password => 'correct horse battery', agreement => 'true', locale => 'en',
            time_zone => 'Nowhere/Special' })->status_is(200);
is($t->psql(q{SELECT encode(convert_to(email, 'UTF8'), 'escape') FROM users u JOIN accounts a ON a.id = u.account_id
              WHERE a.username = 'docomo'}), 'a..b.\\303\\251@docomo.ne.jp', 'stored stripped, lower case');

# time_zone (the search's date operators count days in it): kept when
# known, nil otherwise (User normalizes it so); none given: nil
is($t->psql(q{SELECT string_agg(a.username || '=' || coalesce(u.time_zone, 'nil'), ' ' ORDER BY a.username)
              FROM users u JOIN accounts a ON a.id = u.account_id
              WHERE a.username IN ('alice', 'Zoe_2', 'docomo')}),
   'Zoe_2=Europe/Berlin alice=nil docomo=nil', 'time_zone stored when PostgreSQL knows it');

# --- validation: Mastodon's messages, nothing created ---------------------------------

$before = counts();

$m->post_ok('/api/v1/accounts', $auth, form => { username => 'al!ce', email => 'not-an-address',
            password => 'short' })->status_is(422)
  ->json_is('/error', 'Validation failed: E-mail address is invalid, Password is too short (minimum is 8 characters), '
            . 'Username must contain only letters, numbers and underscores, Service agreement must be accepted')
  ->json_is('/details/email', [{ error => 'ERR_INVALID', description => 'is invalid' }])
  ->json_is('/details/password', [{ error => 'ERR_TOO_SHORT', description => 'is too short (minimum is 8 characters)' }])
  ->json_is('/details/username', [{ error => 'ERR_INVALID',
            description => 'must contain only letters, numbers and underscores' }])
  ->json_is('/details/agreement', [{ error => 'ERR_ACCEPTED', description => 'must be accepted' }]);

$m->post_ok('/api/v1/accounts', $auth, form => {})->status_is(422)
  ->json_is('/error', "Validation failed: E-mail address can't be blank, Password can't be blank, "
            . "Username can't be blank, Username must contain only letters, numbers and underscores, "
            . 'Service agreement must be accepted')
  ->json_is('/details/username/0/error', 'ERR_BLANK')
  ->json_is('/details/username/1/error', 'ERR_INVALID')
  ->json_is('/details/email/0/error', 'ERR_BLANK')
  ->json_is('/details/password/0/error', 'ERR_BLANK');

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'a' x 31, email => 'x@example.com' })
  ->status_is(422)
  ->json_is('/error', 'Validation failed: Username is too long (maximum is 30 characters)')
  ->json_is('/details/username', [{ error => 'ERR_TOO_LONG', description => 'is too long (maximum is 30 characters)' }])
  ->json_hasnt('/details/email');

# e-mail addresses Mastodon refuses (Devise's format, EmailAddressValidator's
# round trip through the mail gem, EmailMxValidator before DNS)
for my $bad ('Alice <carol@example.com>', 'carol@example.com (Carol)', 'carol(x)@example.com',
             'a,b@example.com', 'carol@example..com', 'carol@.example.com', 'carol@example.com.',
             'carol@exa/mple.com', 'carol@' . ('a' x 64) . '.com', '"carol@example.com',
             'carol@ex%ffample.com') {
    $m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'carol', email => $bad })
      ->status_is(422, "refused: $bad")
      ->json_is('/details/email', [{ error => 'ERR_INVALID', description => 'is invalid' }]);
}

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'Admin', email => 'x@example.com' })
  ->status_is(422)
  ->json_is('/error', 'Validation failed: Username is reserved')
  ->json_is('/details/username', [{ error => 'ERR_RESERVED', description => 'is reserved' }]);

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'ALICE', email => 'ALICE@example.com' })
  ->status_is(422)
  ->json_is('/error', 'Validation failed: E-mail address has already been taken, Username has already been taken')
  ->json_is('/details/username', [{ error => 'ERR_TAKEN', description => 'has already been taken' }])
  ->json_is('/details/email', [{ error => 'ERR_TAKEN', description => 'has already been taken' }]);

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'carla', email => 'carla@example.com',
            password => 'x' x 73, locale => 'xx', reason => 'r' x 421, agreement => 'no' })
  ->status_is(422)
  ->json_is('/error', 'Validation failed: Password is too long (maximum is 72 characters), '
            . 'Reason is too long (maximum is 420 characters), Locale is not included in the list, '
            . 'Service agreement must be accepted')
  ->json_is('/details/password/0/error', 'ERR_TOO_LONG')
  ->json_is('/details/reason/0/error', 'ERR_TOO_LONG')
  ->json_is('/details/locale', [{ error => 'ERR_INCLUSION', description => 'is not included in the list' }])
  ->json_is('/details/agreement/0/error', 'ERR_ACCEPTED');

is(counts(), $before, 'no row from refused sign-ups');

# two sign-ups race for one name: one wins, the other gets the same 422
my @codes;
my @p = map {
    my $n = $_;
    $t->ua->post_p('/api/v1/accounts', $auth, form => { %good, username => 'racer',
                   email => "racer$n\@example.com" })->then(sub { push @codes, $_[0]->res->code . ' '
                   . ($_[0]->res->json('/details/username/0/error') // '') });
} 1 .. 2;
Mojo::Promise->all(@p)->wait;
is_deeply([sort @codes], ['200 ', '422 ERR_TAKEN'], 'a race: one account, one "has already been taken"');
is($t->psql(q{SELECT count(*) FROM accounts WHERE username = 'racer'}), 1, 'one racer');
is($t->psql(q{SELECT count(*) FROM users WHERE email LIKE 'racer%'}), 1, 'one racer user');

# --- open, e-mail confirmation --------------------------------------------------------

ok(reconfigure('', '<b>Evil & Co</b>'), 'confirmation on (the default)');

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'carol', email => 'carol@example.com' })
  ->status_is(200);
my $carol_token = $m->tx->res->json('/access_token');
my ($carol_uid, $carol_confirmed, $carol_digest) = split /\|/, $t->psql(
    q{SELECT u.id, u.confirmed_at IS NOT NULL, u.confirmation_token FROM users u
      JOIN accounts a ON a.id = u.account_id WHERE a.username = 'carol'});
is($carol_confirmed, 'f', 'not confirmed yet');
like($carol_digest, qr/^[0-9a-f]{64}$/, 'only a digest of the confirmation token is stored');

$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($carol_token))->status_is(200);
is(cached_flags($carol_token) & 1, 0, 'require_user sees an unconfirmed user');
my $user_route = $m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($carol_token))->tx->res->code != 404;
$m->status_is(403)->json_is('/error', 'Your login is missing a confirmed e-mail address') if $user_route;

ok($t->wait_for(sub { grep { $_->{to}[0] eq 'carol@example.com' } $t->mails }, 20), 'the confirmation mail arrived');
my ($mail) = grep { $_->{to}[0] eq 'carol@example.com' } $t->mails;
is($mail->{from}, 'notifications@localhost', 'envelope sender');
like($mail->{data}, qr/^Subject: Mastodon: Confirmation instructions for localhost:\d+\r?$/m, 'subject');
like($mail->{data}, qr/^To: carol\@example\.com\r?$/m, 'To header');
my ($link, $path, $token) = $mail->{data} =~ m{(http://localhost:\d+(/auth/confirmation\?confirmation_token=([A-Za-z0-9_-]+)))};
ok($link, 'the mail has the link') or diag $mail->{data};
is(sha256_hex($token // ''), $carol_digest, 'the link carries the token whose digest is stored');

$m->get_ok($path)->status_is(200)
  ->content_type_like(qr{^text/html})
  ->content_like(qr/Your e-mail address has been confirmed/)
  ->content_like(qr/\@carol/)
  ->content_like(qr/&lt;b&gt;Evil &amp; Co&lt;\/b&gt;/)
  ->content_unlike(qr/<b>Evil/);
is($t->psql("SELECT (confirmed_at IS NOT NULL) || ' ' || coalesce(confirmation_token, 'none') FROM users WHERE id = $carol_uid"),
   'true none', 'confirmed, token cleared');
is($t->redis('EXISTS', 'mastodon:token:' . sha256_hex($carol_token)), 0, 'the cached token state was dropped');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($carol_token))->status_is(200);
is($t->redis('EXISTS', 'mastodon:token:' . sha256_hex($carol_token)), 0,
   'no cache fill right after the change (a look-up may have read the row before it)');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($carol_token))->status_is(200) if $user_route;

# a link works once; bad links get an error page
$m->get_ok($path)->status_is(422)->content_type_like(qr{^text/html})->content_like(qr/invalid/);
$m->get_ok('/auth/confirmation')->status_is(422)->content_like(qr/can&#39;t be blank|can't be blank/);
$m->get_ok('/auth/confirmation?confirmation_token=%3Cscript%3E')->status_is(422)->content_unlike(qr/<script>/);

# --- the mail is retried while the SMTP server is down -----------------------------------

$t->stop_smtp;
$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'dave', email => 'dave@example.com' })
  ->status_is(200);
ok($t->wait_for(sub { grep { /user_confirmation.*(?:SMTP|retry)/ } map { MastodonTest::_slurp($_) }
                      glob($t->dir . '/worker-*.log') }, 20), 'the job failed while the sink was down');
ok(!(grep { $_->{to}[0] eq 'dave@example.com' } $t->mails), 'no mail yet');
$t->start_smtp;
ok($t->wait_for(sub { grep { $_->{to}[0] eq 'dave@example.com' } $t->mails }, 30), 'delivered after a retry');

# --- approval -----------------------------------------------------------------------------

ok(reconfigure("mastodon_registrations approval;\nmastodon_require_confirmation off;", 'Approval'),
   'approval mode');
$m->get_ok('/api/v1/instance')->json_is('/approval_required', Mojo::JSON::true);

$before = counts();
$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'erin', email => 'erin@example.com' })
  ->status_is(422)
  ->json_is('/error', "Validation failed: Reason can't be blank")
  ->json_is('/details/reason', [{ error => 'ERR_BLANK', description => "can't be blank" }]);
is(counts(), $before, 'nothing created without a reason');

$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'erin', email => 'erin@example.com',
            reason => "I'd like to <join>" })->status_is(200);
my $erin_token = $m->tx->res->json('/access_token');
is($t->psql(q{SELECT u.approved || ' ' || r.text FROM users u JOIN accounts a ON a.id = u.account_id
              JOIN user_invite_requests r ON r.user_id = u.id WHERE a.username = 'erin'}),
   "false I'd like to <join>", 'pending approval, reason stored');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($erin_token))->status_is(200);
is(cached_flags($erin_token) & 2, 0, 'require_user sees a user pending approval');

# --- closed --------------------------------------------------------------------------------

ok(reconfigure('mastodon_registrations closed;', 'Closed'), 'closed');
$before = counts();
$m->post_ok('/api/v1/accounts', $auth, form => { %good, username => 'frank', email => 'frank@example.com' })
  ->status_is(403)->json_is('/error', 'This action is not allowed');
is(counts(), $before, 'nothing created when closed');

$t->done;
