# How the PostgreSQL pool connects: a multi-host conninfo whose first host
# is down still connects to the second (libpq opens a new socket, often
# under the same number, which must be registered anew; t/pg_ssl.t has the
# same for the fallback from SSL); sessions get TCP keepalives and a statement_timeout
# that follows mastodon_pg_query_timeout, so the server also cancels a query
# nginx gave up on.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => 'mastodon_pg_pool_size 2; mastodon_pg_query_timeout 1s;',
);
my $m = $t->mojo;
my $pg = $t->pg_port;
my $db = $t->db_name;

sub use_conninfo {
    my ($conninfo) = @_;
    return $t->reconfigure_nginx(http_config => "mastodon_pg_pool_size 2; mastodon_pg_query_timeout 1s;\n"
        . qq{mastodon_database "$conninfo";});
}

# a port nothing listens on
my $dead = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp', Listen => 1)
        or die "listen: $!";
    my $p = $s->sockport;
    close $s;
    $p;
};

ok(use_conninfo("hostaddr=127.0.0.1,127.0.0.1 port=$dead,$pg dbname=$db user=postgres sslmode=disable"),
   'reload with a multi-host conninfo');
$m->get_ok('/api/v1/instance')->status_is(200, 'first host refuses: the second one serves');
$m->get_ok('/api/v1/accounts/lookup?acct=nobody')->status_is(404, '... and keeps serving');

ok(use_conninfo($t->pg_conninfo), 'reload: one host again');
$m->get_ok('/api/v1/instance')->status_is(200);

# TCP keepalives on nginx's sessions (ss shows the keepalive timer)
my $ss = `ss -tnoH state established 2>&1`;
$ss = join "\n", grep { /127\.0\.0\.1:$pg\s*(?:timer|$)/ } split /\n/, $ss;
like($ss, qr/timer:\(keepalive/, 'PostgreSQL sessions have TCP keepalives') or diag $ss;

# statement_timeout: a query nginx gave up on does not run on
my $locker = $t->hold_lock('users', 20);

$m->get_ok('/api/v1/instance')->status_is(503, 'a query past mastodon_pg_query_timeout: 503');
my $waiting = q{SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()};
ok($t->wait_for(sub { $t->psql($waiting) eq '0' }, 10),
   'the server cancelled it too (statement_timeout), while the lock is still held');
like($t->error_log, qr/canceling statement due to statement timeout|query timed out/, 'logged');

kill 'TERM', $locker;
waitpid($locker, 0);
$t->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()});
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10), 'and the pool recovers');

$t->done;
