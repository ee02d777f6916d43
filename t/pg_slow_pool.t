# The slow pool (mastodon_pg_slow_pool_size): statements marked slow run on
# sessions of their own (application_name "ngx_mastodon slow"), which /health
# checks too; with size 0 there are none and slow statements use the main
# pool.

use strict;
use warnings;

use Test::More;
use Mojo::Promise;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => 'mastodon_pg_slow_pool_size 1; mastodon_pg_slow_query_timeout 7s;',
);
my $m = $t->mojo;

my $sessions = sub {
    my ($app) = @_;
    return $t->psql(qq{SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
                       AND application_name = '$app'});
};

$m->get_ok('/health')->status_is(200)->content_is('OK');
is($sessions->('ngx_mastodon slow'), 1, 'the slow pool has its own session');
cmp_ok($sessions->('ngx_mastodon'), '>=', 1, 'the main pool has its own');

# concurrent health checks: the slow pool never grows past its size
my @p = map { $m->ua->get_p('/health') } 1 .. 20;
my %codes;
Mojo::Promise->all(@p)->then(sub { $codes{ $_->[0]->result->code }++ for @_ })->wait;
is_deeply(\%codes, { 200 => 20 }, '20 concurrent health checks on a slow pool of 1');
is($sessions->('ngx_mastodon slow'), 1, '... still one slow session');

ok($t->reconfigure_nginx(http_config => 'mastodon_pg_slow_pool_size 0;'), 'no slow pool');
$m->get_ok('/health')->status_is(200)->content_is('OK');
ok($t->wait_for(sub { $sessions->('ngx_mastodon slow') eq '0' }, 10), 'no slow session');

# an operator's own application_name wins
ok($t->reconfigure_nginx(http_config => 'mastodon_database "' . $t->pg_conninfo . ' application_name=mine";'),
   'application_name in the conninfo');
$m->get_ok('/health')->status_is(200);
cmp_ok($sessions->('mine'), '>=', 2, "the operator's name, on both pools");

$t->done;
