#!/usr/bin/perl
# Self-test of t/lib/MastodonTest.pm: PostgreSQL, Redis, the worker, nginx.
use strict;
use warnings;
use Test::More;
use MastodonTest;

my $t = MastodonTest->new(nginx => 1, worker => 1, own_postgres => 1);

# PostgreSQL: our own database, made from the migrated template
like($t->db_name, qr/^t_\d+_\d+$/, 'database name');
is($t->psql('SELECT current_database()'), $t->db_name, 'psql reaches our database');
is($t->psql(q{SELECT count(*) > 0 FROM information_schema.tables WHERE table_name = 'ngx_mastodon_migrations'}),
    't', 'the template was migrated');
like($t->pg_conninfo, qr/^hostaddr=127\.0\.0\.1 port=\d+ dbname=t_\d+_\d+ user=postgres sslmode=disable$/,
    'pg_conninfo');

# own_postgres: a private cluster that can be stopped and started again
$t->stop_postgres;
my ($rc) = $t->_psql_raw($t->db_name, 'SELECT 1');
isnt($rc, 0, 'stop_postgres: psql fails');
$t->start_postgres;
is($t->psql('SELECT 1'), '1', 'start_postgres: same port, same data');

# Redis: private, restartable on the same port
is($t->redis('PING'), 'PONG', 'redis answers');
is($t->redis('SET', 'k', 'v'), 'OK', 'redis SET');
my $port = $t->redis_port;
$t->stop_redis;
ok(!MastodonTest::_redis_ping($port), 'redis stopped');
$t->start_redis;
is($t->redis_port, $port, 'redis restarted on the same port');
is($t->redis('PING'), 'PONG', 'redis answers again');

# the worker
my ($pid) = $t->worker_pids;
ok($pid, 'a worker was started');
ok($t->wait_for(sub { -s $t->dir . '/worker-1.log' }, 10), 'the worker writes its log file');
my $w2 = $t->start_worker(MASTODON_CONCURRENCY => 1);
ok(kill(0, $w2), 'start_worker starts another one');
ok($t->wait_for(sub { -s $t->dir . '/worker-2.log' }, 10), 'the second worker logs');
is($t->stop_worker($w2), 0, 'stop_worker: clean exit on TERM');
is($t->worker_env->{MASTODON_REDIS}, '127.0.0.1:' . $t->redis_port, 'worker_env: MASTODON_REDIS');

# nginx
like($t->base, qr{^http://127\.0\.0\.1:\d+$}, 'base');
my $tx = $t->ua->get('/');
ok($tx->res->code, 'nginx answers HTTP on ' . $t->base) or diag explain $tx->error;
ok($t->reload_nginx, 'reload_nginx');
ok($t->ua->get('/')->res->code, 'nginx answers after reload');

my ($st, $out) = $t->nginx_test_config(http_config => 'mastodon_no_such_directive on;');
isnt($st, 0, 'nginx -t rejects an unknown directive');
like($out, qr/unknown directive/, 'nginx -t output') or diag $out;
($st, $out) = $t->nginx_test_config();
is($st, 0, 'nginx -t accepts the harness config') or diag $out;

$t->done;
