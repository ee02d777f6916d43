# Instance, nodeinfo, host-meta and health endpoints; routing errors; CORS.
# Shapes are checked against the documented entities (shared/mastodon-api).

use strict;
use warnings;

use Test::More;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(
    worker          => 0,
    http_config     => 'mastodon_title "Test Instance"; mastodon_description "A test";'
                     . ' mastodon_contact_email admin@example.com; mastodon_registrations approval;',
    location_config => 'client_max_body_size 4k;',
);
my $m = $t->mojo;
my $domain = $t->domain;

# one local, confirmed user, one remote account on another domain
$t->psql(q{INSERT INTO accounts (username, domain, created_at, updated_at)
           VALUES ('alice', NULL, now(), now()), ('bob', 'remote.example', now(), now())});
$t->psql(q{INSERT INTO users (account_id, email, confirmed_at, current_sign_in_at, created_at, updated_at)
           SELECT id, 'alice@example.com', now(), now(), now(), now() FROM accounts WHERE username = 'alice'});
$t->psql(q{INSERT INTO account_stats (account_id, statuses_count, created_at, updated_at)
           SELECT id, 7, now(), now() FROM accounts WHERE username = 'alice'
           ON CONFLICT (account_id) DO UPDATE SET statuses_count = 7});

# --- GET /api/v1/instance -----------------------------------------------------
$m->get_ok('/api/v1/instance')->status_is(200)
  ->content_type_is('application/json; charset=utf-8')
  ->json_is('/uri', $domain)
  ->json_is('/title', 'Test Instance')
  ->json_is('/description', 'A test')
  ->json_is('/email', 'admin@example.com')
  ->json_is('/stats/user_count', 1)
  ->json_is('/stats/status_count', 7)
  ->json_is('/stats/domain_count', 1)
  ->json_is('/urls/streaming_api', "ws://$domain")
  ->json_is('/registrations', Mojo::JSON::true)
  ->json_is('/approval_required', Mojo::JSON::true)
  ->json_is('/configuration/statuses/max_characters', 500)
  ->json_like('/version', qr/^4\.\d+\.\d+/);
my @e = entity_errors($m->tx->res->json, 'V1::Instance');
is_deeply(\@e, [], 'V1::Instance matches the documented entity') or diag explain \@e;

# --- GET /api/v2/instance -----------------------------------------------------
$m->get_ok('/api/v2/instance')->status_is(200)
  ->json_is('/domain', $domain)
  ->json_is('/usage/users/active_month', 1)
  ->json_is('/registrations/enabled', Mojo::JSON::true)
  ->json_is('/registrations/approval_required', Mojo::JSON::true)
  ->json_is('/contact/email', 'admin@example.com')
  ->json_is('/contact/account', undef)
  ->json_is('/configuration/urls/streaming', "ws://$domain")
  ->json_is('/api_versions/mastodon', 2)
  ->json_is('/rules', []);
@e = entity_errors($m->tx->res->json, 'Instance');
is_deeply(\@e, [], 'Instance matches the documented entity') or diag explain \@e;

# Rails' trailing slash and .json suffix
$m->get_ok('/api/v2/instance/')->status_is(200)->json_is('/domain', $domain);
$m->get_ok('/api/v1/instance.json')->status_is(200)->json_is('/uri', $domain);

# HEAD: headers only
$m->head_ok('/api/v1/instance')->status_is(200)
  ->content_type_is('application/json; charset=utf-8');
is($m->tx->res->body, '', 'HEAD has no body');

# --- nodeinfo and host-meta ---------------------------------------------------
$m->get_ok('/.well-known/nodeinfo')->status_is(200)
  ->json_is('/links/0/rel', 'http://nodeinfo.diaspora.software/ns/schema/2.0')
  ->json_is('/links/0/href', "http://$domain/nodeinfo/2.0");
$m->get_ok('/nodeinfo/2.0')->status_is(200)
  ->json_is('/version', '2.0')
  ->json_is('/software/name', 'mastodon')
  ->json_is('/protocols', ['activitypub'])
  ->json_is('/usage/users/total', 1)
  ->json_is('/usage/localPosts', 7)
  ->json_is('/openRegistrations', Mojo::JSON::false)
  ->json_is('/metadata/nodeName', 'Test Instance');
$m->get_ok('/.well-known/host-meta')->status_is(200)
  ->content_type_is('application/xrd+xml; charset=utf-8')
  ->content_like(qr{^<\?xml version="1\.0" encoding="UTF-8"\?>})
  ->content_like(qr{<Link rel="lrdd" template="http://\Q$domain\E/\.well-known/webfinger\?resource=\{uri\}"/>});
$m->get_ok('/.well-known/host-meta?format=json')->status_is(200)
  ->json_is('/links/0/template', "http://$domain/.well-known/webfinger?resource={uri}");

# --- the smaller documents clients fetch at start -------------------------------
$m->get_ok('/api/v1/custom_emojis')->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/instance/rules')->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/instance/translation_languages')->status_is(200)->json_is('', {});
$m->get_ok('/api/v1/instance/peers')->status_is(200)->json_is('', ['remote.example']);
$m->get_ok('/api/v1/instance/extended_description')->status_is(200)
  ->json_is('/content', '<p>A test</p>')
  ->json_like('/updated_at', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'Time#iso8601: no fraction');
@e = entity_errors($m->tx->res->json, 'ExtendedDescription');
is_deeply(\@e, [], 'ExtendedDescription matches the documented entity') or diag explain \@e;
$t->psql(q{INSERT INTO statuses (id, account_id, text, local, created_at, updated_at)
           SELECT timestamp_id('statuses'), id, 'hi', true, now(), now() FROM accounts WHERE username = 'alice'});
$m->get_ok('/api/v1/instance/activity')->status_is(200)
  ->json_like('/0/week', qr/^\d+$/)
  ->json_is('/0/statuses', '1')
  ->json_is('/0/logins', '1')
  ->json_like('/0/registrations', qr/^\d+$/)
  ->json_has('/11')->json_hasnt('/12');
cmp_ok($m->tx->res->json('/0/week'), '>', $m->tx->res->json('/1/week'), 'newest week first');
$m->get_ok('/api/v1/instance/domain_blocks')->status_is(404, 'domain blocks are not shown (Mastodon\'s default)');

# --- health -------------------------------------------------------------------
$m->get_ok('/health')->status_is(200)->content_is('OK');

# --- routing errors carry Mastodon's JSON body --------------------------------
$m->get_ok('/api/v1/no_such_thing')->status_is(404)
  ->content_type_is('application/json; charset=utf-8')
  ->json_has('/error');
$m->get_ok('/api/v1/instance/extra/segments')->status_is(404)->json_has('/error');
$m->post_ok('/api/v1/instance')->status_is(405)
  ->header_is('Allow', 'GET, HEAD, OPTIONS')
  ->json_is('/error', 'Method not allowed');
$m->delete_ok('/api/v2/instance')->status_is(405)->json_has('/error');
$m->get_ok('/oauth/nothing_here')->status_is(404)->json_has('/error');

# an error nginx itself produces: the body limit (413) is JSON too
$m->post_ok('/api/v1/apps', { 'Content-Type' => 'application/json' }, 'x' x 10000)
  ->status_is(413)
  ->content_type_is('application/json; charset=utf-8')
  ->json_has('/error');

# --- CORS, as browser clients (Elk, Phanpy) need it ---------------------------
$m->options_ok('/api/v1/timelines/home', {
    Origin                           => 'https://elk.zone',
    'Access-Control-Request-Method'  => 'GET',
    'Access-Control-Request-Headers' => 'authorization,content-type,idempotency-key',
  })->status_is(200)
  ->header_is('Access-Control-Allow-Origin', '*')
  ->header_like('Access-Control-Allow-Methods', qr/\bGET\b.*\bPOST\b|\bPOST\b.*\bGET\b/)
  ->header_like('Access-Control-Allow-Headers', qr/authorization/i)
  ->header_like('Access-Control-Allow-Headers', qr/content-type/i)
  ->header_like('Access-Control-Allow-Headers', qr/idempotency-key/i)
  ->header_like('Access-Control-Max-Age', qr/^\d+$/);
$m->options_ok('/api/v1/statuses', { Origin => 'https://phanpy.social',
    'Access-Control-Request-Method' => 'POST' })
  ->status_is(200)
  ->header_like('Access-Control-Allow-Headers', qr/Authorization.*Content-Type.*Idempotency-Key/);

$m->get_ok('/api/v1/instance', { Origin => 'https://elk.zone' })->status_is(200)
  ->header_is('Access-Control-Allow-Origin', '*')
  ->header_like('Access-Control-Expose-Headers', qr/\bLink\b/)
  ->header_like('Access-Control-Expose-Headers', qr/X-RateLimit-Remaining/);
$m->get_ok('/api/v1/no_such_thing', { Origin => 'https://elk.zone' })->status_is(404)
  ->header_is('Access-Control-Allow-Origin', '*', 'errors carry CORS headers too');

# a graceful reload: new workers serve, the old ones exit without leaving
# backend sockets open ("open socket left" would be an [alert], which done() catches)
ok($t->reload_nginx, 'nginx reloads with the module');
$m->get_ok('/api/v1/instance')->status_is(200)->json_is('/uri', $domain);
$m->get_ok('/health')->status_is(200);
ok($t->wait_for(sub { $t->error_log =~ /gracefully shutting down.*\n(?:.*\n)*.*exiting/ }, 10),
   'the old workers exit');

# a page outside the API keeps nginx's own answer
$m->get_ok('/not-an-api-page')->status_is(404);
isnt($m->tx->res->headers->content_type // '', 'application/json; charset=utf-8',
    'outside the API paths errors are not rewritten');

$t->done;
