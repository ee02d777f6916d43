# PostgreSQL or Redis stopped: the API answers 503 (JSON) within the
# configured timeouts, never hangs; started again: it answers 200 by itself,
# without an nginx reload.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use MastodonTest;

my $t = MastodonTest->new(
    worker       => 0,
    own_postgres => 1,
    http_config  => 'mastodon_pg_connect_timeout 2s; mastodon_redis_connect_timeout 2s;',
);
my $m = $t->mojo;

sub timed_get { $t->timed_get(@_) }

# --- PostgreSQL ------------------------------------------------------------
$m->get_ok('/api/v1/instance')->status_is(200);
$m->get_ok('/health')->status_is(200)->content_is('OK');

$t->stop_postgres('fast');

for my $i (1 .. 3) {
    my $took = timed_get('/api/v1/instance');
    $m->status_is(503, "PostgreSQL down: 503 (request $i)")
      ->content_type_is('application/json; charset=utf-8')
      ->json_has('/error');
    cmp_ok($took, '<', 3, "... answered within the connect timeout (${\ sprintf '%.3f', $took} s)");
}
timed_get('/health');
$m->status_is(503)->content_like(qr/PostgreSQL: unavailable/)->content_like(qr/Redis: OK/);

# a write while down is refused as cleanly
$m->post_ok('/api/v1/apps', form => { client_name => 'x', redirect_uris => 'urn:ietf:wg:oauth:2.0:oob' })
  ->status_is(503)->json_has('/error');

$t->start_postgres;
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10),
   'PostgreSQL back: 200 again without a reload');
$m->get_ok('/health')->status_is(200)->content_is('OK');
$m->post_ok('/api/v1/apps', form => { client_name => 'x', redirect_uris => 'urn:ietf:wg:oauth:2.0:oob' })
  ->status_is(200, 'writes work again');

# the same with an abrupt stop (connections die without a goodbye)
$t->stop_postgres('immediate');
timed_get('/api/v1/instance');
$m->status_is(503, 'PostgreSQL killed: 503');
$t->start_postgres;
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10),
   'PostgreSQL back after a crash: 200 again');

# --- Redis -----------------------------------------------------------------
$t->stop_redis;
for my $i (1 .. 3) {
    my $took = timed_get('/health');
    $m->status_is(503, "Redis down: 503 (request $i)")->content_like(qr/Redis: unavailable/);
    cmp_ok($took, '<', 3, "... answered within the timeout (${\ sprintf '%.3f', $took} s)");
}
$m->get_ok('/api/v1/instance')->status_is(200, 'endpoints that need no Redis keep working');

$t->start_redis;
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 10),
   'Redis back: /health 200 again without a reload');

# both at once, then both back
$t->stop_redis;
$t->stop_postgres('fast');
timed_get('/health');
$m->status_is(503)->content_like(qr/PostgreSQL: unavailable\nRedis: unavailable/);
$t->start_redis;
$t->start_postgres;
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 10), 'both back: 200');

like($t->error_log, qr/\[error\].*PostgreSQL connection (?:lost|failed)/, 'the outage is logged at error level');
like($t->error_log, qr/\[notice\].*PostgreSQL is back/, 'the recovery is logged');
like($t->error_log, qr/\[notice\].*Redis is back/, 'the Redis recovery is logged');

$t->done;
