# Redis from the module: a command and a pub/sub connection per worker,
# password and database from a redis:// URL, scripts by
# EVALSHA with the NOSCRIPT fallback, a slow command failing alone, a hung
# Redis costing one request the timeout and the others nothing, throttled
# error logging, and Retry-After on outage 503s.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    http_config => 'mastodon_redis_timeout 2s; mastodon_redis_connect_timeout 2s;'
                 . ' mastodon_rate_limit on;'
                 # no render cache: its subscription would add to the counts
                 . ' mastodon_render_cache_size 0;',
);
my $m = $t->mojo;
my $port = $t->redis_port;

sub timed_get { $t->timed_get(@_) }

# name => [ { id, flags, ... } ] of the module's connections
sub clients {
    my (@auth) = @_;
    my %c;
    for my $line (split /\n/, $t->redis(@auth, 'CLIENT', 'LIST')) {
        my %f = map { split /=/, $_, 2 } grep { /=/ } split / /, $line;
        push @{ $c{$f{name}} }, \%f if ($f{name} // '') =~ /^mastodon:/;
    }
    return \%c;
}

sub command_ids {
    my $c = clients(@_);
    return join ',', sort map { $_->[0]{id} } @{$c}{ grep { /^mastodon:cmd:/ } keys %$c };
}

sub stat_calls {
    my ($cmd) = @_;
    my ($calls) = $t->redis('INFO', 'commandstats') =~ /^cmdstat_\Q$cmd\E:calls=(\d+)/m;
    return $calls // 0;
}

# --- two named connections per worker ------------------------------------
ok($t->wait_for(sub { keys %{ clients() } == 4 }, 10), 'four named connections')
  or diag explain clients();
my $c = clients();
my @cmd = sort map { /(\d+)$/ } grep { /^mastodon:cmd:\d+$/ } keys %$c;
my @sub = sort map { /(\d+)$/ } grep { /^mastodon:pubsub:\d+$/ } keys %$c;
is(scalar @cmd, 2, 'a command connection per worker');
is_deeply(\@sub, \@cmd, 'and a pub/sub connection per worker, by the same pids');
for my $pid (@sub) {
    is($c->{"mastodon:pubsub:$pid"}[0]{sub}, 1, "worker $pid: the pub/sub connection subscribed to one channel");
}
like($t->redis('PUBSUB', 'CHANNELS', 'mastodon:worker:*'), qr/mastodon:worker:$sub[0]/, '... its own');

# --- scripts by EVALSHA, NOSCRIPT falls back to EVAL ------------------------
$t->redis('CONFIG', 'RESETSTAT');
my @left;
for (1 .. 6) {
    $m->get_ok('/api/v1/instance')->status_is(200);
    push @left, $m->tx->res->headers->header('X-RateLimit-Remaining');
}
is_deeply(\@left, [ map { 300 - $_ } 1 .. 6 ], 'the rate-limit script counted every request');
# the first use on each worker's connection goes whole, in its turn
cmp_ok(stat_calls('eval'), '>=', 1, 'the script itself first');
cmp_ok(stat_calls('eval'), '<=', 2, '... once per worker');
cmp_ok(stat_calls('evalsha'), '>=', 6 - stat_calls('eval'), 'then by EVALSHA');

$t->redis('SCRIPT', 'FLUSH');
my $evals = stat_calls('eval');
for (1 .. 4) {
    $m->get_ok('/api/v1/instance')->status_is(200);
    push @left, $m->tx->res->headers->header('X-RateLimit-Remaining');
}
is_deeply([ @left[6 .. 9] ], [ map { 300 - $_ } 7 .. 10 ], 'after SCRIPT FLUSH the script still counts');
cmp_ok(stat_calls('eval') - $evals, '>=', 1, 'sent whole again after NOSCRIPT');
cmp_ok(stat_calls('eval') - $evals, '<=', 2, '... once per worker');

# --- a slow command fails alone; the connection stays ------------------------
my $ids = command_ids();
my $pid = $t->{redis_pid};
kill 'STOP', $pid;
my $took = timed_get('/health');
kill 'CONT', $pid;
$m->status_is(503, 'Redis paused: the command timed out')->content_like(qr/Redis: unavailable/);
cmp_ok($took, '>=', 1.5, "... after the command timeout (${\ sprintf '%.2f', $took} s)");
cmp_ok($took, '<', 5, '... not much later');
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 10), 'answers again');
is(command_ids(), $ids, 'on the same connections: none was dropped');
like($t->error_log, qr/\[error\].*Redis command timed out/, 'the timeout is logged');
unlike($t->error_log, qr/does not answer PING/, 'the connection was not taken for hung');

# --- a hung Redis: one request pays the timeout, the next ones nothing ------
kill 'STOP', $pid;
$took = timed_get('/health');
$m->status_is(503, 'Redis hung: 503');
is($m->tx->res->headers->header('Retry-After'), '1', '... with Retry-After');
cmp_ok($took, '<', 5, "... the first request bounded by the command timeout (${\ sprintf '%.2f', $took} s)");
for my $i (1 .. 5) {
    $took = timed_get('/health');
    $m->status_is(503, "request $i: 503");
    cmp_ok($took, '<', 1.5, "... at once (${\ sprintf '%.2f', $took} s)");
    $took = timed_get('/api/v1/instance');
    $m->status_is(200, '... an endpoint that needs no Redis answers, not limited');
    cmp_ok($took, '<', 1.5, "... at once too (${\ sprintf '%.2f', $took} s)");
}
ok($t->wait_for(sub { $t->error_log =~ /does not answer PING/ }, 15), 'the connection is taken for hung');
for my $i (1 .. 3) {
    $took = timed_get('/api/v1/instance');
    $m->status_is(200);
    cmp_ok($took, '<', 1.5, "after the drop, still at once (${\ sprintf '%.2f', $took} s)");
}
kill 'CONT', $pid;
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 15), 'Redis back: 200 again');
ok($t->wait_for(sub { keys %{ clients() } == 4 }, 10), 'both connections of both workers are back');

# --- throttled error logging ---------------------------------------------
$t->stop_redis;
my $log = $t->dir . '/error.log';
my $before = -s $log;
for (1 .. 40) {
    $m->get_ok('/health')->status_is(503);
}
is($m->tx->res->headers->header('Retry-After'), '1', 'outage 503s carry Retry-After');
$t->start_redis;
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 10), 'Redis back');
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /more "Redis is unavailable" failures in/ }, 10), 'the count of what was held back');
my @errors = grep { /\[error\]/ } split /\n/, substr($t->error_log, $before);
cmp_ok(scalar @errors, '<=', 10, '40 failed requests wrote a handful of error lines (' . @errors . ')')
  or diag join "\n", @errors;
like(substr($t->error_log, $before), qr/\d+ more "Redis is unavailable" failures in \d+ ms/, '... and counted the rest');

# --- password and database number ------------------------------------------
# a reload, and the old workers gone: none of them answers what follows
sub reload {
    my ($config, $name) = @_;
    my @old = MastodonTest::_children($t->nginx_pid);
    ok($t->reconfigure_nginx(http_config => $config), "reloaded $name");
    ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 20), '... the old workers exited');
}

my @auth = ('-a', 's3cr@t', '--no-auth-warning');
$t->redis('CONFIG', 'SET', 'requirepass', 's3cr@t');
reload("mastodon_redis redis://:s3cr%40t\@127.0.0.1:$port/3; mastodon_redis_timeout 2s; mastodon_rate_limit on;",
    'with a password and database 3');
ok($t->wait_for(sub { $m->ua->get('/health')->result->code == 200 }, 10), 'AUTH with the percent-decoded password');
$t->redis(@auth, 'FLUSHALL');
$m->get_ok('/api/v1/instance')->status_is(200);
like($t->redis(@auth, '-n', 3, 'KEYS', 'mastodon:rl:*'), qr/mastodon:rl:\d+:throttle_unauthenticated_api:/, 'the counter is in database 3');
is($t->redis(@auth, '-n', 0, 'KEYS', 'mastodon:rl:*'), '', 'not in database 0');

reload("mastodon_redis redis://:wrong\@127.0.0.1:$port/3; mastodon_redis_timeout 2s;",
    'with a wrong password');
ok($t->wait_for(sub { $t->error_log =~ /Redis cmd AUTH failed: WRONGPASS/ }, 10), 'the refusal is logged');
$m->get_ok('/health')->status_is(503, 'and Redis is unavailable');
$t->redis(@auth, 'CONFIG', 'SET', 'requirepass', '');

# --- the directive's forms -----------------------------------------------
for my $ok ("redis://127.0.0.1:$port", "redis://:p%40ss\@127.0.0.1:$port/2", "redis://user:pw\@[::1]:6379/0",
    'unix:/run/redis.sock', 'unix:///run/redis.sock?db=1&password=x')
{
    my ($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis $ok;");
    is($rc, 0, "mastodon_redis $ok") or diag $out;
}
# rediss:// (TLS) itself: t/redis_tls.t
my ($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis rediss://:pw\@127.0.0.1:$port/0;");
is($rc, 0, 'rediss:// is taken, verified against the system CAs by default') or diag $out;
for my $bad ("redis://127.0.0.1:$port/x", 'redis://', 'unix:///run/redis.sock?db=x', 'redis://pw@127.0.0.1') {
    ($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis $bad;");
    like($out, qr/invalid "mastodon_redis" value/, "$bad is refused");
}

$t->done;
