# OAuth bearer tokens: look-up (cached), revocation, expiry, scopes, and
# Mastodon's require_user! states, with Doorkeeper's status codes and messages.
# GET /api/v1/apps/verify_credentials needs any valid token.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $app = $t->app(name => 'Phanpy', scopes => 'read write');
my $app_token = $t->token(app_id => $app->{id}, scopes => 'read');

# no token, a bad scheme, an unknown token
$m->get_ok('/api/v1/apps/verify_credentials')->status_is(401)
  ->json_is('/error', 'The access token is invalid')
  ->header_like('WWW-Authenticate', qr/^Bearer realm="Doorkeeper", error="invalid_token"/);
$m->get_ok('/api/v1/apps/verify_credentials', { Authorization => 'Basic Zm9vOmJhcg==' })->status_is(401);
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer('nope'))->status_is(401)
  ->json_is('/error', 'The access token is invalid');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer('x' x 300))->status_is(401);

# an app token (no user)
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($app_token))->status_is(200)
  ->json_is('/id', $app->{id})
  ->json_is('/name', 'Phanpy')
  ->json_is('/scopes', ['read', 'write'])
  ->json_hasnt('/client_secret');
my @e = entity_errors($m->tx->res->json, 'Application');
is_deeply(\@e, [], 'Application entity') or diag explain \@e;

# the second look-up comes from the Redis cache
my $digest = Digest::SHA::sha256_hex($app_token);
like($t->redis('GET', "mastodon:token:$digest"), qr/^\d+ $app->{id} 0 0 \d+ 0 read$/, 'the token is cached');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($app_token))->status_is(200);

# the token as a parameter, as Doorkeeper accepts it
$m->get_ok("/api/v1/apps/verify_credentials?access_token=$app_token")->status_is(200);

# only the digest is stored
is($t->psql("SELECT count(*) FROM oauth_access_tokens WHERE token = '$app_token'"), 0, 'no plaintext token in the database');

# revoked and expired tokens
my $revoked = $t->token(app_id => $app->{id});
$t->psql(q{UPDATE oauth_access_tokens SET revoked_at = now() WHERE token = '} . Digest::SHA::sha256_hex($revoked) . q{'});
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($revoked))->status_is(401)
  ->json_is('/error', 'The access token was revoked');
my $expired = $t->token(app_id => $app->{id}, expires_in => 1);
$t->psql(q{UPDATE oauth_access_tokens SET created_at = created_at - interval '1 hour' WHERE token = '}
         . Digest::SHA::sha256_hex($expired) . q{'});
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($expired))->status_is(401)
  ->json_is('/error', 'The access token expired');

# a tombstone in the cache wins over the database at once
my $tomb = $t->token(app_id => $app->{id});
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($tomb))->status_is(200);
$t->redis('SET', 'mastodon:token:' . Digest::SHA::sha256_hex($tomb), 'revoked', 'EX', 300);
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($tomb))->status_is(401)
  ->json_is('/error', 'The access token was revoked');

# Redis down: look-ups fall back to PostgreSQL
$t->stop_redis;
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($app_token))->status_is(200, 'no Redis: still authenticated');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer('nope'))->status_is(401);
$t->start_redis;

# a user's token works too
my $alice = $t->user('alice');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($alice->{token}))->status_is(200);
like($t->redis('SMEMBERS', "mastodon:user_tokens:$alice->{user_id}"), qr/^[0-9a-f]{64}$/,
     "the user's cached tokens are indexed for invalidation");

# a user's state change: cached tokens dropped, and no fill for a while, so a
# look-up that read the row before the change cannot cache the old state
my $eve = $t->user('eve');
# (the first request records her as seen and drops the entry on purpose)
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($eve->{token}))->status_is(200) for 1 .. 2;
my $eve_key = 'mastodon:token:' . Digest::SHA::sha256_hex($eve->{token});
is($t->redis('EXISTS', $eve_key), 1, 'cached');
cmp_ok($t->redis('TTL', "mastodon:user_tokens:$eve->{user_id}"), '>', 0, "the user's token set expires");
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $eve->{account_id}");
$t->redis('SET', "mastodon:user_changed:$eve->{user_id}", '1', 'EX', 10);   # what forget_user marks
$t->redis('DEL', $eve_key);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($eve->{token}))->status_is(403, 'suspended at once');
is($t->redis('EXISTS', $eve_key), 0, 'not cached while the change is fresh');

# a user seen through the API counts as active (Mastodon's update_user_sign_in), once a day
my $dora = $t->user('dora');
is($t->psql("SELECT current_sign_in_at IS NULL FROM users WHERE id = $dora->{user_id}"), 't', 'never seen');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($dora->{token}))->status_is(200);
ok($t->wait_for(sub {
    $t->psql("SELECT current_sign_in_at IS NOT NULL AND last_sign_in_at IS NOT NULL FROM users WHERE id = $dora->{user_id}") eq 't'
}, 10), 'recorded as seen');
my $seen = $t->psql("SELECT current_sign_in_at FROM users WHERE id = $dora->{user_id}");
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($dora->{token}))->status_is(200);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($dora->{token}))->status_is(200);
is($t->psql("SELECT current_sign_in_at FROM users WHERE id = $dora->{user_id}"), $seen, 'not again the same day');
$m->get_ok('/api/v2/instance')->status_is(200);
cmp_ok($m->tx->res->json('/usage/users/active_month'), '>=', 1, 'the instance counts the user as active');

$t->done;
