# A PostgreSQL that accepts but does not answer (its processes stopped with
# SIGSTOP): the first request waits the query timeout, the following ones
# fail fast (503 with Retry-After) instead of each waiting as long; the
# outage is logged in a few lines, not one per request; after SIGCONT the
# pool recovers by itself.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use MastodonTest;

my $t = MastodonTest->new(
    worker       => 0,
    own_postgres => 1,
    main_config  => 'worker_processes 1;',
    http_config  => 'mastodon_pg_pool_size 2; mastodon_pg_query_timeout 5s; mastodon_pg_connect_timeout 5s;',
);
my $m = $t->mojo;

$m->get_ok('/api/v1/instance')->status_is(200);

# the test's own cluster: its postmaster and the postmaster's children
my ($postmaster) = MastodonTest::_slurp("$t->{pg_dir}/data/postmaster.pid") =~ /^(\d+)/;
ok($postmaster && MastodonTest::_alive($postmaster), "postmaster $postmaster");
my @pids = ($postmaster, MastodonTest::_children($postmaster));

my $log_before = length $t->error_log;
kill 'STOP', @pids;

my $start = time;
$m->get_ok('/api/v1/instance')->status_is(503, 'PostgreSQL stopped: the first request times out');
my $first = time - $start;
cmp_ok($first, '>=', 4.5, sprintf('... after the query timeout (%.1f s)', $first));

my ($slowest, $retry_after) = (0, 0);
for my $i (1 .. 8) {
    $start = time;
    $m->get_ok('/api/v1/instance')->status_is(503, "request $i: 503");
    my $took = time - $start;
    $slowest = $took if $took > $slowest;
    $retry_after++ if ($m->tx->res->headers->header('Retry-After') // '') =~ /^[1-9]\d*$/;
    sleep 0.3;
}
cmp_ok($slowest, '<', 3, sprintf('the following requests fail fast, none waits the query timeout (slowest %.1f s)',
    $slowest));
cmp_ok($retry_after, '>', 0, "refused at once with Retry-After ($retry_after of 8)");

my $during = substr($t->error_log, $log_before);
my @errors = grep { /\[error\].*PostgreSQL/ } split /\n/, $during;
cmp_ok(scalar @errors, '<=', 4, scalar(@errors) . ' error lines for 9 failed requests')
    or diag join "\n", @errors;
like($during, qr/PostgreSQL does not answer/, 'the hang is logged');

kill 'CONT', @pids;
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 20),
   'SIGCONT: the pool recovers by itself');
$m->get_ok('/api/v1/instance')->status_is(200);
like($t->error_log, qr/\[notice\].*PostgreSQL answers again/, 'the recovery is logged');

$t->done;
