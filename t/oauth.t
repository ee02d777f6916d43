# OAuth 2 as Mastodon (Doorkeeper) answers it: the authorization screens as a
# browser drives them (sign-in, consent, CSRF), the token endpoint's grants
# and every error shape, revocation, and the RFC 8414 metadata.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use Digest::SHA qw(sha256 sha256_hex);
use MIME::Base64 qw(encode_base64url);
use Mojo::URL;
use Mojo::Parameters;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->base;

my $cb = 'https://elk.example/callback';
my $oob = 'urn:ietf:wg:oauth:2.0:oob';
my $app = $t->app(name => 'Elk <&> "x"', scopes => 'read write follow push',
                  redirect_uri => "$cb\n$oob");
my $other = $t->app(name => 'Other', scopes => 'read');
my $alice = $t->user('alice', password => 'correct horse battery');
my $mallory = $t->user('mallory', password => 'mallory password');
$t->psql("UPDATE users SET disabled = true WHERE id = $mallory->{user_id}");

sub pkce {
    my $verifier = MastodonTest::random_token() . 'xyz';
    return ($verifier, encode_base64url(sha256($verifier)));
}

sub authorize_url {
    my (%o) = @_;
    my %p = (response_type => 'code', client_id => $app->{client_id}, redirect_uri => $cb,
             scope => 'read write', state => 'st@te 1', %o);
    defined $p{$_} or delete $p{$_} for keys %p;
    return Mojo::URL->new('/oauth/authorize')->query(%p);
}

sub form_token {
    my $input = $m->tx->res->dom->at('input[name=authenticity_token]');
    return $input ? $input->{value} : undef;
}

sub hidden_fields {
    my ($form) = @_;
    my %f;
    $f{$_->{name}} = $_->{value} for $form->find('input[type=hidden]')->each;
    return %f;
}

sub location_params {
    my $loc = Mojo::URL->new($m->tx->res->headers->location // '');
    return ($loc, $loc->query->to_hash);
}

# --- metadata ------------------------------------------------------------------

$m->get_ok('/.well-known/oauth-authorization-server')->status_is(200)
  ->json_is('/issuer', "http://" . $t->domain . '/')
  ->json_is('/authorization_endpoint', "http://" . $t->domain . '/oauth/authorize')
  ->json_is('/token_endpoint', "http://" . $t->domain . '/oauth/token')
  ->json_is('/revocation_endpoint', "http://" . $t->domain . '/oauth/revoke')
  ->json_is('/app_registration_endpoint', "http://" . $t->domain . '/api/v1/apps')
  ->json_is('/service_documentation', 'https://docs.joinmastodon.org/')
  ->json_is('/response_types_supported', ['code'])
  ->json_is('/code_challenge_methods_supported', ['S256'])
  ->json_is('/grant_types_supported', ['authorization_code', 'client_credentials'])
  ->json_is('/token_endpoint_auth_methods_supported', ['client_secret_basic', 'client_secret_post']);
my $md = $m->tx->res->json;
ok((grep { $_ eq 'read' } @{ $md->{scopes_supported} }) && (grep { $_ eq 'admin:write:reports' } @{ $md->{scopes_supported} })
   && (grep { $_ eq 'profile' } @{ $md->{scopes_supported} }), 'all of Mastodon\'s scopes');
ok(grep({ $_ eq 'query' } @{ $md->{response_modes_supported} }), 'response modes');

# --- the browser dance ---------------------------------------------------------

my ($verifier, $challenge) = pkce();
my $url = authorize_url(code_challenge => $challenge, code_challenge_method => 'S256');

$m->get_ok($url)->status_is(200)
  ->content_type_like(qr{^text/html; charset=utf-8})
  ->header_is('Cache-Control', 'no-store')
  ->header_like('Content-Security-Policy', qr/style-src 'nonce-[A-Za-z0-9_-]{43}'/)
  ->header_unlike('Content-Security-Policy', qr/form-action/)
  ->element_exists('html[lang=en]')
  ->element_exists('meta[name=viewport]')
  ->element_exists('form[action="/auth/sign_in"][method=post]')
  ->element_exists('label[for=user_email]')
  ->element_exists('input#user_password[type=password][name="user[password]"]')
  ->content_like(qr/Elk &lt;&amp;&gt; &quot;x&quot;/, 'the app name is escaped');
ok(!defined $m->tx->res->headers->header('Cross-Origin-Opener-Policy'), 'no COOP header');
my $nonce = ($m->tx->res->headers->header('Content-Security-Policy') =~ /nonce-([A-Za-z0-9_-]+)/)[0];
$m->element_exists(qq{style[nonce="$nonce"]}, 'the inline CSS carries the nonce');
like($m->tx->res->headers->header('Set-Cookie') // '', qr/^_mastodon_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Lax$/,
     'a pre-session cookie');
my %signin = hidden_fields($m->tx->res->dom->at('form'));
is($signin{client_id}, $app->{client_id}, 'the form keeps the OAuth request');
is($signin{state}, 'st@te 1', 'and its state');
my $csrf = $signin{authenticity_token};
like($csrf, qr/^[A-Za-z0-9_-]{43}$/, 'an authenticity token');

# no token, a wrong token: 422
$m->post_ok('/auth/sign_in' => form => { %signin, authenticity_token => undef,
    'user[email]' => 'alice@example.com', 'user[password]' => 'correct horse battery' })
  ->status_is(422)->content_like(qr/authenticity token/)->element_exists('#error');
$m->post_ok('/auth/sign_in' => form => { %signin, authenticity_token => 'x' x 43,
    'user[email]' => 'alice@example.com', 'user[password]' => 'correct horse battery' })
  ->status_is(422);

# bad password, unknown user: the same answer
$m->post_ok('/auth/sign_in' => form => { %signin, 'user[email]' => 'alice@example.com',
    'user[password]' => 'wrong' })
  ->status_is(422)->text_is('#alert', 'Invalid email or password.')
  ->element_exists('input[name="user[email]"][value="alice@example.com"]');
$m->post_ok('/auth/sign_in' => form => { %signin, 'user[email]' => 'nobody@example.com',
    'user[password]' => 'whatever' })
  ->status_is(422)->text_is('#alert', 'Invalid email or password.');
$m->post_ok('/auth/sign_in' => form => { %signin, 'user[email]' => 'alice@example.com' })
  ->status_is(422)->text_is('#alert', 'Invalid email or password.');
is($t->psql("SELECT sign_in_count FROM users WHERE id = $alice->{user_id}"), 0, 'no sign-in counted');

# a disabled user: refused even with the right password
$m->post_ok('/auth/sign_in' => form => { %signin, 'user[email]' => 'mallory@example.com',
    'user[password]' => 'mallory password' })
  ->status_is(422)->text_like('#alert', qr/disabled/);

# the right password (by username works too; e-mail is what Mastodon uses)
$m->post_ok('/auth/sign_in' => form => { %signin, 'user[email]' => 'ALICE@example.com',
    'user[password]' => 'correct horse battery' })
  ->status_is(303)
  ->header_like('Location', qr{^/oauth/authorize\?});
my $cookie = $m->tx->res->headers->header('Set-Cookie');
like($cookie, qr/^_mastodon_session=([A-Za-z0-9_-]{43}); Path=\/; Max-Age=1209600; HttpOnly; SameSite=Lax$/,
     'the session cookie');
my ($session) = $cookie =~ /=([^;]+)/;
is($t->redis('GET', 'mastodon:session:' . sha256_hex($session)), $alice->{user_id}, 'the session in Redis');
my $ttl = $t->redis('TTL', 'mastodon:session:' . sha256_hex($session));
ok($ttl > 1209000 && $ttl <= 1209600, "two weeks ($ttl s)");
is($t->psql("SELECT sign_in_count || ' ' || (current_sign_in_at IS NOT NULL) || ' ' || (last_sign_in_at IS NOT NULL)"
            . " FROM users WHERE id = $alice->{user_id}"), '1 true true', 'sign-in tracked');
my ($back) = location_params();
is($back->query->param('state'), 'st@te 1', 'the redirect keeps the state');
is($back->query->param('code_challenge'), $challenge, 'and the challenge');

# the consent screen
$m->get_ok($back)->status_is(200)
  ->element_exists('form[action="/oauth/authorize"] button#authorize')
  ->element_exists('input[name=_method][value=delete]')
  ->text_is('#app-name', 'Elk <&> "x"')
  ->content_like(qr/alice/)
  ->content_like(qr/read all your account/)
  ->content_like(qr/modify all your account/)
  ->content_unlike(qr/receive your push/, 'only the requested scopes');
my %consent = hidden_fields($m->tx->res->dom->at('form'));
is($consent{scope}, 'read write', 'the scopes to grant');

# approving without the token, or with the sign-in form's token: 422
$m->post_ok('/oauth/authorize' => form => { %consent, authenticity_token => undef })->status_is(422);
$m->post_ok('/oauth/authorize' => form => { %consent, authenticity_token => $csrf })->status_is(422);
is($t->psql('SELECT count(*) FROM oauth_access_grants'), 0, 'no grant yet');

# Authorize
$m->post_ok('/oauth/authorize' => form => \%consent)->status_is(303);
my ($loc, $q) = location_params();
is($loc->clone->query(Mojo::Parameters->new)->to_string, $cb, 'back to the registered redirect URI');
like($q->{code}, qr/^[A-Za-z0-9_-]{43}$/, 'a code');
is($q->{state}, 'st@te 1', 'the state');
my $code = $q->{code};
is($t->psql("SELECT count(*) FROM oauth_access_grants WHERE token = '$code'"), 0, 'the code is not stored');
is($t->psql("SELECT expires_in || ' ' || scopes || ' ' || code_challenge_method || ' ' || resource_owner_id || ' ' || application_id"
            . " FROM oauth_access_grants WHERE token = '" . sha256_hex($code) . "'"),
   "600 read write S256 $alice->{user_id} $app->{id}", 'the grant row');

# the code for a token, with PKCE (a public client: no secret)
$m->post_ok('/oauth/token' => form => { grant_type => 'authorization_code', code => $code,
    redirect_uri => $cb, client_id => $app->{client_id}, code_verifier => $verifier })
  ->status_is(200)
  ->header_is('Cache-Control', 'no-store')
  ->json_is('/token_type', 'Bearer')
  ->json_is('/scope', 'read write')
  ->json_like('/access_token', qr/^[A-Za-z0-9_-]{43}$/);
my $tok = $m->tx->res->json;
like($tok->{created_at}, qr/^\d+$/, 'created_at is a number');
ok(abs($tok->{created_at} - time) < 60, 'created now');
ok(!ref $tok->{created_at} && $m->tx->res->body =~ /"created_at":\d+/, 'unquoted');
my $token = $tok->{access_token};
is($t->psql("SELECT scopes || ' ' || resource_owner_id || ' ' || application_id FROM oauth_access_tokens WHERE token = '"
            . sha256_hex($token) . "'"), "read write $alice->{user_id} $app->{id}", 'the token row, a digest only');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($token))->status_is(200)->json_is('/name', 'Elk <&> "x"');

# a code works once
$m->post_ok('/oauth/token' => form => { grant_type => 'authorization_code', code => $code,
    redirect_uri => $cb, client_id => $app->{client_id}, code_verifier => $verifier })
  ->status_is(400)->json_is('/error', 'invalid_grant')
  ->json_like('/error_description', qr/^The provided authorization grant is invalid/);

# --- deny ----------------------------------------------------------------------

$m->get_ok(authorize_url())->status_is(200)->element_exists('button#deny');
%consent = hidden_fields($m->tx->res->dom->at('form'));
$m->post_ok('/oauth/authorize' => form => { %consent, _method => 'delete' })->status_is(303);
($loc, $q) = location_params();
is_deeply($q, { error => 'access_denied', state => 'st@te 1',
    error_description => 'The resource owner or authorization server denied the request.' }, 'denied');
$m->delete_ok('/oauth/authorize' => form => \%consent)->status_is(303)
  ->header_like('Location', qr/^\Q$cb\E\?error=access_denied&/);
$m->delete_ok('/oauth/authorize' => form => { %consent, authenticity_token => undef })->status_is(422);

# --- errors that never redirect ------------------------------------------------

$m->get_ok(authorize_url(redirect_uri => 'https://evil.example/cb'))->status_is(400)
  ->header_is('Location', undef)
  ->text_like('#error', qr/redirect URI is malformed or doesn't match/);
$m->get_ok(authorize_url(redirect_uri => undef))->status_is(400)->header_is('Location', undef);
$m->get_ok(authorize_url(client_id => 'nope'))->status_is(401)->header_is('Location', undef)
  ->text_like('#error', qr/^Client authentication failed/);
$m->get_ok(authorize_url(client_id => undef))->status_is(400)
  ->text_is('#error', 'Missing required parameter: client_id.');
$m->get_ok(authorize_url(state => 'x' x 3000))->status_is(400);

# --- errors that go back to the client -----------------------------------------

sub error_redirect {
    my ($url, $error, $desc, $name) = @_;
    $m->get_ok($url)->status_is(302);
    my ($l, $p) = location_params();
    like($l, qr/^\Q$cb\E\?/, "$name: to the client");
    is($p->{error}, $error, "$name: $error");
    like($p->{error_description}, $desc, "$name: description");
    is($p->{state}, 'st@te 1', "$name: state");
}

error_redirect(authorize_url(scope => 'read admin:read'), 'invalid_scope', qr/^The requested scope is invalid/, 'scope not the app\'s');
error_redirect(authorize_url(scope => 'read bogus'), 'invalid_scope', qr/invalid/, 'unknown scope');
error_redirect(authorize_url(response_type => 'token'), 'unsupported_response_type', qr/does not support this response type/,
               'implicit');
error_redirect(authorize_url(response_type => undef), 'invalid_request', qr/response_type/, 'no response_type');
error_redirect(authorize_url(code_challenge => $challenge, code_challenge_method => 'plain'), 'invalid_code_challenge_method',
               qr/S256/, 'plain PKCE');
error_redirect(authorize_url(code_challenge => $challenge), 'invalid_code_challenge_method', qr/S256/, 'PKCE without a method');
error_redirect(authorize_url(response_mode => 'form_post'), 'unsupported_response_mode', qr/response mode/, 'form_post');

# the state is encoded, a fragment response mode, the default scope
$m->get_ok(authorize_url(scope => undef, state => 'a&b=c#d', response_mode => 'fragment'))->status_is(200);
%consent = hidden_fields($m->tx->res->dom->at('form'));
is($consent{scope}, 'read', 'the default scope is read');
$m->post_ok('/oauth/authorize' => form => \%consent)->status_is(303)
  ->header_like('Location', qr/^\Q$cb\E#code=[A-Za-z0-9_-]{43}&state=a%26b%3Dc%23d$/);

# an out-of-band app: errors and the code on a page
$m->get_ok(authorize_url(redirect_uri => $oob, scope => 'admin:read'))->status_is(400)->header_is('Location', undef)
  ->text_like('#error', qr/scope is invalid/);
$m->get_ok(authorize_url(redirect_uri => $oob))->status_is(200);
%consent = hidden_fields($m->tx->res->dom->at('form'));
$m->post_ok('/oauth/authorize' => form => \%consent)->status_is(303)
  ->header_like('Location', qr{^/oauth/authorize/native\?code=[A-Za-z0-9_-]{43}$});
($loc) = location_params();
$m->get_ok($loc)->status_is(200)->text_is('#code', $loc->query->param('code'));
my $oob_code = $loc->query->param('code');
$m->get_ok('/oauth/authorize/native?code=%3Cb%3E')->status_is(200)->content_like(qr/&lt;b&gt;/);

# a confidential client: the secret instead of PKCE, in HTTP Basic
my $basic = { Authorization => 'Basic ' . MIME::Base64::encode_base64("$app->{client_id}:$app->{client_secret}", '') };
$m->post_ok('/oauth/token' => $basic => form => { grant_type => 'authorization_code', code => $oob_code,
    redirect_uri => $cb })
  ->status_is(400)->json_is('/error', 'invalid_grant', 'the redirect URI must be the grant\'s');
$m->post_ok('/oauth/token' => $basic => form => { grant_type => 'authorization_code', code => $oob_code,
    redirect_uri => $oob })
  ->status_is(200)->json_is('/scope', 'read write');

# --- token endpoint errors -----------------------------------------------------

sub new_code {
    my (%o) = @_;
    $m->get_ok(authorize_url(%o))->status_is(200);
    my %c = hidden_fields($m->tx->res->dom->at('form'));
    $m->post_ok('/oauth/authorize' => form => \%c)->status_is(303);
    my ($l, $p) = location_params();
    return $p->{code};
}

sub token_error {
    my ($params, $status, $error, $name, $headers) = @_;
    $m->post_ok('/oauth/token' => ($headers // {}) => form => $params)->status_is($status, $name)
      ->json_is('/error', $error, "$name: $error")->json_has('/error_description');
}

($verifier, $challenge) = pkce();
$code = new_code(code_challenge => $challenge, code_challenge_method => 'S256');
my %ex = (grant_type => 'authorization_code', code => $code, redirect_uri => $cb, client_id => $app->{client_id});
token_error({ %ex, code_verifier => 'wrong' . $verifier }, 400, 'invalid_grant', 'wrong verifier');
token_error({ %ex }, 400, 'invalid_request', 'no verifier');
is($m->tx->res->json->{error_description}, 'Missing required parameter: code_verifier.', 'which parameter');
token_error({ %ex, code_verifier => $verifier, client_secret => 'wrong' }, 401, 'invalid_client', 'wrong secret');
$m->header_like('WWW-Authenticate', qr/^Bearer realm="Doorkeeper", error="invalid_client"/);
token_error({ %ex, code_verifier => $verifier, client_id => $other->{client_id} }, 400, 'invalid_grant', 'another client');
token_error({ %ex, code_verifier => $verifier, client_id => 'nope' }, 401, 'invalid_client', 'unknown client');
token_error({ %ex, code_verifier => $verifier, redirect_uri => undef }, 400, 'invalid_request', 'no redirect_uri');
token_error({ %ex, code => undef }, 400, 'invalid_request', 'no code');
is($m->tx->res->json->{error_description}, 'Missing required parameter: code.', 'which parameter');
token_error({ %ex, code => 'nope', client_secret => $app->{client_secret} }, 400, 'invalid_grant', 'unknown code');
token_error({ %ex, grant_type => undef }, 400, 'invalid_request', 'no grant type');
token_error({ %ex, grant_type => 'refresh_token' }, 400, 'unsupported_grant_type', 'refresh_token');
token_error({ %ex, grant_type => 'password', username => 'alice@example.com', password => 'correct horse battery',
              client_secret => $app->{client_secret} }, 400, 'unsupported_grant_type', 'password grant off');
# a confidential client without PKCE must send its secret
my $plain_code = new_code();
token_error({ %ex, code => $plain_code }, 401, 'invalid_client', 'no secret, no PKCE');
token_error({ %ex, code => $plain_code, client_secret => $app->{client_secret}, code_verifier => $verifier },
            400, 'invalid_grant', 'a verifier for a grant without PKCE');
# the right verifier, as JSON
$m->post_ok('/oauth/token' => json => { %ex, code_verifier => $verifier })->status_is(200)->json_has('/access_token');

# expired
($verifier, $challenge) = pkce();
$code = new_code(code_challenge => $challenge, code_challenge_method => 'S256');
$t->psql("UPDATE oauth_access_grants SET created_at = created_at - interval '11 minutes' WHERE token = '"
         . sha256_hex($code) . "'");
token_error({ %ex, code => $code, code_verifier => $verifier }, 400, 'invalid_grant', 'expired code');

# --- client_credentials ----------------------------------------------------------

my %cc = (grant_type => 'client_credentials', client_id => $app->{client_id}, client_secret => $app->{client_secret});
$m->post_ok('/oauth/token' => form => \%cc)->status_is(200)->json_is('/scope', 'read')->json_is('/token_type', 'Bearer');
my $app_token = $m->tx->res->json->{access_token};
is($t->psql("SELECT coalesce(resource_owner_id::text, 'none') FROM oauth_access_tokens WHERE token = '"
            . sha256_hex($app_token) . "'"), 'none', 'an app token');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($app_token))->status_is(200);
$m->post_ok('/oauth/token' => $basic => form => { grant_type => 'client_credentials', scope => 'read write' })
  ->status_is(200)->json_is('/scope', 'read write');
token_error({ %cc, scope => 'admin:read' }, 400, 'invalid_scope', 'client_credentials scope');
token_error({ %cc, client_secret => undef }, 401, 'invalid_client', 'client_credentials without secret');
token_error({ %cc, client_secret => 'x' }, 401, 'invalid_client', 'client_credentials wrong secret');
token_error({ grant_type => 'client_credentials' }, 401, 'invalid_client', 'no client',
            { Authorization => 'Basic !!!' });
$m->post_ok('/oauth/token' => { Authorization => 'Bearer whatever' } => form => \%cc)->status_is(200,
    'another scheme: the parameters count');

# --- revoke --------------------------------------------------------------------

# the token is cached by now
like($t->redis('GET', 'mastodon:token:' . sha256_hex($token)), qr/^\d+ /, 'cached');
$m->post_ok('/oauth/revoke' => form => { token => $token, client_id => $app->{client_id}, client_secret => 'wrong' })
  ->status_is(403)->json_is('/error', 'unauthorized_client')
  ->json_is('/error_description', 'You are not authorized to revoke this token');
$m->post_ok('/oauth/revoke' => form => { token => $token })->status_is(403)->json_is('/error', 'unauthorized_client');
$m->post_ok('/oauth/revoke' => form => { token => $token, client_id => $other->{client_id},
    client_secret => $other->{client_secret} })->status_is(403)->json_is('/error', 'unauthorized_client');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($token))->status_is(200, 'still valid');
$m->post_ok('/oauth/revoke' => form => { token => 'unknown', client_id => $app->{client_id},
    client_secret => $app->{client_secret} })->status_is(200)->content_is('{}');
$m->post_ok('/oauth/revoke' => form => { token => $token, client_id => $app->{client_id},
    client_secret => $app->{client_secret} })->status_is(200)->content_is('{}');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($token))->status_is(401)
  ->json_is('/error', 'The access token was revoked');
is($t->psql("SELECT revoked_at IS NOT NULL FROM oauth_access_tokens WHERE token = '" . sha256_hex($token) . "'"),
   't', 'revoked_at set');
$m->post_ok('/oauth/revoke' => $basic => json => { token => $app_token })->status_is(200)->content_is('{}');
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($app_token))->status_is(401);

# --- sessions ------------------------------------------------------------------

# force_login shows the sign-in form while signed in
$m->get_ok(authorize_url(force_login => 'true'))->status_is(200)->element_exists('form[action="/auth/sign_in"]');
$m->get_ok('/auth/sign_in')->status_is(200)->element_exists('input[name=authenticity_token]');
# a session of a user disabled meanwhile is no session
$t->psql("UPDATE users SET disabled = true WHERE id = $alice->{user_id}");
$m->get_ok(authorize_url())->status_is(200)->element_exists('form[action="/auth/sign_in"]');
$t->psql("UPDATE users SET disabled = false WHERE id = $alice->{user_id}");
# a forged session cookie
$m->ua->cookie_jar->empty;
$m->get_ok(authorize_url(), { Cookie => '_mastodon_session=' . ('A' x 43) })->status_is(200)
  ->element_exists('form[action="/auth/sign_in"]');
$m->post_ok('/oauth/authorize' => { Cookie => '_mastodon_session=' . ('A' x 43) } => form => \%consent)->status_is(422);

# the error log: client mistakes at info only
unlike($t->error_log, qr/\[(?:error|crit)\].*(?:mastodon|oauth)/i, 'no errors logged');

$t->done;
