# PostgreSQL connections and nginx's graceful shutdown: on a reload the old
# worker closes its idle connections at once (ngx_close_idle_connections)
# and a busy one when worker_shutdown_timeout expires, instead of waiting
# for the query timeout; no "open socket left" alerts.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use Mojo::IOLoop;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => "worker_processes 1;\nworker_shutdown_timeout 1s;",
    http_config => 'mastodon_pg_pool_size 4; mastodon_pg_query_timeout 60s;',
);
my $m = $t->mojo;
my $db = $t->db_name;

# two live connections, both idle
my @p = map { $m->ua->get_p('/api/v1/instance') } 1 .. 2;
Mojo::Promise->all(@p)->wait;
$m->get_ok('/api/v1/instance')->status_is(200);

# --- a reload with idle connections only: the old worker goes at once ------------
my @old = MastodonTest::_children($t->nginx_pid);
my $start = time;
ok($t->reload_nginx, 'reload');
ok(MastodonTest::_wait_for(sub { !grep { MastodonTest::_alive($_) } @old }, 20), 'the old worker exited');
cmp_ok(time - $start, '<', 10, '... promptly');
$m->get_ok('/api/v1/instance')->status_is(200, 'the new worker serves');

# --- a reload while a query waits for a lock: worker_shutdown_timeout ends it ------
my $locker = $t->hold_lock('users', 40);

my $stuck_done = 0;
$m->ua->get_p('/api/v1/instance')->then(sub { $stuck_done = 1 }, sub { $stuck_done = 1 });
my $waiting = q{SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()};
# wait while the user agent's loop runs (the request in flight)
my $ioloop_wait = sub {
    my ($cond, $secs) = @_;
    my $end = time + $secs;
    until ($cond->() || time > $end) {
        Mojo::IOLoop->timer(0.05 => sub { });
        Mojo::IOLoop->one_tick;
    }
    return $cond->();
};
ok($ioloop_wait->(sub { $t->psql($waiting) eq '1' }, 10), 'a request waits for the lock');

@old = MastodonTest::_children($t->nginx_pid);
$start = time;
kill 'HUP', $t->nginx_pid;
ok($ioloop_wait->(sub { !grep { MastodonTest::_alive($_) } @old }, 30), 'the old worker exited');
my $took = time - $start;
cmp_ok($took, '<', 15, sprintf('... after worker_shutdown_timeout, not the query timeout (%.1f s)', $took));
$ioloop_wait->(sub { $stuck_done }, 10);
ok($stuck_done, 'the waiting request ended');

kill 'TERM', $locker;
waitpid($locker, 0);
$t->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE '%pg_sleep(40)%' AND pid <> pg_backend_pid()});

# the harness's reload bookkeeping: fresh user agent for the new worker
sleep 1;
delete $t->{ua};
$m->ua($t->ua);
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10), 'the new worker serves');

unlike($t->error_log, qr/open socket/, 'no open socket left behind');

$t->done;
