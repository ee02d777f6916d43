# The PostgreSQL pool under pressure: a query that outlives
# mastodon_pg_query_timeout gives 503 and the pool recovers; with every
# connection busy, requests wait in the queue and time out after
# mastodon_pg_queue_timeout; many concurrent requests on a small pool all
# succeed.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time sleep);
use Mojo::IOLoop;
use Mojo::Promise;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => 'mastodon_pg_pool_size 2; mastodon_pg_query_timeout 1s; mastodon_pg_queue_timeout 1s;',
);
my $m = $t->mojo;

$m->get_ok('/api/v1/instance')->status_is(200);

# hold a lock the instance statistics need, from another session
sub hold_lock { $t->hold_lock('users', $_[0]) }

my $locker = hold_lock(4);

my $start = time;
$m->get_ok('/api/v1/instance')->status_is(503, 'a query past the timeout: 503')->json_has('/error');
my $took = time - $start;
cmp_ok($took, '>=', 0.9, 'after the query timeout');
cmp_ok($took, '<', 3, '... and not much later');

# both connections stuck: the third request waits in the queue, then 503s
my @p = map { $m->ua->get_p('/api/v1/instance') } 1 .. 3;
$start = time;
my @codes;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->result->code } @_ })->wait;
is_deeply([sort @codes], [503, 503, 503], 'busy pool: every request ends with 503, none hangs');
cmp_ok(time - $start, '<', 4, '... within the timeouts');
like($t->error_log, qr/query timed out/, 'the query timeout is logged');

waitpid($locker, 0);

ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10),
   'lock released: the pool recovers by itself');

# 200 concurrent requests on 2 connections: all answered
@p = map { $m->ua->get_p('/api/v1/instance') } 1 .. 200;
my %codes;
Mojo::Promise->all(@p)->then(sub { $codes{ $_->[0]->result->code }++ for @_ })->wait;
is_deeply(\%codes, { 200 => 200 }, '200 concurrent requests on a pool of 2: all 200');

# the server never opened more connections than its pool
my $n = $t->psql(q{SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                   AND pid <> pg_backend_pid()});
cmp_ok($n, '<=', 2, "connections held by nginx: $n (pool size 2, one worker)");

$t->done;
