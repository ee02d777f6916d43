# PostgreSQL connections recycled after mastodon_pg_max_requests (libpq's
# buffers only grow) keep serving, under concurrency, without a crash.

use strict;
use warnings;

use Test::More;
use Mojo::Promise;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    main_config => 'worker_processes 1;',
    http_config => 'mastodon_pg_pool_size 2; mastodon_pg_max_requests 3;',
);
my $m = $t->mojo;

for my $round (1 .. 3) {
    my @p = map { $m->ua->get_p('/api/v1/instance') } 1 .. 40;
    my %codes;
    Mojo::Promise->all(@p)->then(sub { $codes{ $_->[0]->result->code }++ for @_ })->wait;
    is_deeply(\%codes, { 200 => 40 }, "round $round: 40 concurrent requests, connections recycled every 3: all 200");
}

$m->get_ok('/api/v1/instance')->status_is(200) for 1 .. 10;
unlike($t->error_log, qr/exited on signal/, 'no worker crashed');

$t->done;
