# mastodon_pg_pgbouncer on: through a real PgBouncer in transaction mode
# (server sessions shared between nginx's connections, so no named prepared
# statements and no "options" startup parameter), statuses and timelines
# work, concurrently too; the statement timeout still reaches the server
# (set in each batch).  The same setting works straight against PostgreSQL.

use strict;
use warnings;

use Test::More;
use Mojo::Promise;
use MastodonTest;

my $pgbouncer = '/usr/sbin/pgbouncer';
plan skip_all => "$pgbouncer is not installed (scripts/install-deps.sh installs it)" unless -x $pgbouncer;

my $http = 'mastodon_pg_pool_size 6; mastodon_pg_query_timeout 1s;';
my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => "$http mastodon_pg_pgbouncer on;",
);
my $m = $t->mojo;
my $db = $t->db_name;

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});

sub exercise {
    my ($what) = @_;
    my $s = $m->post_ok('/api/v1/statuses', $ha, form => { status => "hello $what" })
              ->status_is(200, "$what: post")->tx->res->json;
    $m->get_ok("/api/v1/statuses/$s->{id}", $ha)->status_is(200, "$what: read")->json_is('/id', $s->{id});
    $m->post_ok("/api/v1/statuses/$s->{id}/favourite", $ha)->status_is(200, "$what: favourite")
      ->json_is('/favourited', Mojo::JSON::true);
    $m->get_ok('/api/v1/timelines/public?local=true', $ha)->status_is(200, "$what: public timeline")
      ->json_is('/0/id', $s->{id});
    $m->get_ok("/api/v1/accounts/$alice->{account_id}/statuses", $ha)->status_is(200, "$what: account statuses")
      ->json_is('/0/id', $s->{id});
    $m->get_ok('/api/v1/timelines/home', $ha)->status_is(200, "$what: home timeline");
    # statements planned with their parameters (custom plans) fold constants:
    # a post and an edit with and without a poll
    my $p = $m->post_ok('/api/v1/statuses', $ha, form => { status => "poll $what",
        'poll[options][]' => [qw(a b)], 'poll[expires_in]' => 600 })->status_is(200, "$what: a poll")
      ->tx->res->json;
    $m->put_ok("/api/v1/statuses/$p->{id}", $ha, form => { status => "no poll $what" })
      ->status_is(200, "$what: an edit removing it");
    $m->put_ok("/api/v1/statuses/$s->{id}", $ha, form => { status => "a poll $what",
        'poll[options][]' => [qw(c d)], 'poll[expires_in]' => 600 })->status_is(200, "$what: an edit adding one");

    my @p = map { $m->ua->get_p($_ % 2 ? "/api/v1/statuses/$s->{id}" : '/api/v1/timelines/public', $ha) } 1 .. 60;
    my %codes;
    Mojo::Promise->all(@p)->then(sub { $codes{ $_->[0]->result->code }++ for @_ })->wait;
    is_deeply(\%codes, { 200 => 60 }, "$what: 60 concurrent reads, all 200");
}

# straight to PostgreSQL
exercise('direct');

# PgBouncer in transaction mode, two server sessions for six nginx connections
my $dir = $t->dir . '/pgbouncer';
mkdir $dir;
my $port = MastodonTest::_free_port();
MastodonTest::_spew("$dir/userlist.txt", qq{"postgres" ""\n});
MastodonTest::_spew("$dir/pgbouncer.ini", <<"EOF");
[databases]
* = host=127.0.0.1 port=${\ $t->pg_port} user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/userlist.txt
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
EOF
my ($uid) = (getpwnam('nobody'))[2];
chown $uid, -1, $dir;
my $bouncer = MastodonTest::_spawn("$dir/pgbouncer.out", {}, $pgbouncer, ($> == 0 ? ('-u', 'nobody') : ()),
    "$dir/pgbouncer.ini");
ok(MastodonTest::_wait_for(sub {
    IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1)
}, 10), 'PgBouncer listens') or diag MastodonTest::_slurp("$dir/pgbouncer.out");

ok($t->reconfigure_nginx(http_config => "$http mastodon_pg_pgbouncer on;\n"
    . qq{mastodon_database "hostaddr=127.0.0.1 port=$port dbname=$db user=postgres sslmode=disable";}),
   'nginx through PgBouncer');
exercise('PgBouncer');

# the statement timeout reaches the server through PgBouncer
my $locker = $t->hold_lock('users', 20);
$m->get_ok('/api/v1/instance')->status_is(503, 'a query past the timeout: 503');
my $waiting = q{SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()};
ok($t->wait_for(sub { $t->psql($waiting) eq '0' }, 10), 'the server cancelled it too');
kill 'TERM', $locker;
waitpid($locker, 0);
$t->psql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
           WHERE datname = current_database() AND query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()});
ok($t->wait_for(sub { $m->ua->get('/api/v1/instance')->result->code == 200 }, 10), 'and it recovers');

unlike(MastodonTest::_slurp("$dir/pgbouncer.log"), qr/unsupported startup parameter/,
       'PgBouncer got no startup parameter it refuses');

$t->reconfigure_nginx(http_config => $http);
kill 'TERM', $bouncer;
waitpid($bouncer, 0);

$t->done;
