# The password grant, off by default (Mastodon 4.3 removed it), on with
# mastodon_oauth_password_grant: username is the e-mail, bcrypt in the pool.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use Digest::SHA qw(sha256_hex);

my $t = MastodonTest->new(worker => 0, http_config => 'mastodon_oauth_password_grant on;');
my $m = $t->mojo;

my $app = $t->app(scopes => 'read write');
my $bob = $t->user('bob', password => 'bob secret password');
my %pw = (grant_type => 'password', client_id => $app->{client_id}, client_secret => $app->{client_secret},
          username => 'bob@example.com', password => 'bob secret password', scope => 'read write');

$m->get_ok('/.well-known/oauth-authorization-server')->status_is(200)
  ->json_is('/grant_types_supported', ['authorization_code', 'password', 'client_credentials']);

$m->post_ok('/oauth/token' => form => \%pw)->status_is(200)->json_is('/scope', 'read write')
  ->json_is('/token_type', 'Bearer')->json_like('/created_at', qr/^\d+$/);
my $token = $m->tx->res->json->{access_token};
is($t->psql("SELECT resource_owner_id FROM oauth_access_tokens WHERE token = '" . sha256_hex($token) . "'"),
   $bob->{user_id}, "bob's token");
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($token))->status_is(200);

$m->post_ok('/oauth/token' => form => { %pw, password => 'wrong' })->status_is(400)->json_is('/error', 'invalid_grant');
$m->post_ok('/oauth/token' => form => { %pw, username => 'nobody@example.com' })->status_is(400)
  ->json_is('/error', 'invalid_grant');
$m->post_ok('/oauth/token' => form => { %pw, password => undef })->status_is(400)->json_is('/error', 'invalid_grant');
$m->post_ok('/oauth/token' => form => { %pw, client_secret => 'wrong' })->status_is(401)->json_is('/error', 'invalid_client');
$m->post_ok('/oauth/token' => form => { %pw, scope => 'follow' })->status_is(400)->json_is('/error', 'invalid_scope');
$m->post_ok('/oauth/token' => json => { %pw, scope => undef })->status_is(200)->json_is('/scope', 'read');

# two-factor accounts cannot use it
$t->psql("UPDATE users SET otp_required_for_login = true WHERE id = $bob->{user_id}");
$m->post_ok('/oauth/token' => form => \%pw)->status_is(400)->json_is('/error', 'invalid_grant');

# the configuration refuses other values
my ($rc, $out) = $t->nginx_test_config(http_config => 'mastodon_oauth_password_grant maybe;');
isnt($rc, 0, 'a bad value is refused');
like($out, qr/mastodon_oauth_password_grant/, 'naming the directive');

$t->done;
