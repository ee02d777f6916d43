# Statuses and timelines while Redis or PostgreSQL is down: fast answers
# (from PostgreSQL alone where it can, else 503), nothing lost (a post made
# while Redis is down keeps its fan-out job in the outbox until Redis is
# back), recovery by itself.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use MastodonTest;

my $t = MastodonTest->new(worker => 0, own_postgres => 1,
    http_config => 'mastodon_pg_connect_timeout 2s; mastodon_redis_connect_timeout 2s;');
my $m = $t->mojo;

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
my $aid = $alice->{account_id};

my $s = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'before' })->status_is(200)->tx->res->json;
$m->get_ok('/api/v1/timelines/home', $ha)->status_is(200);
my $count = $t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $aid");

sub timed {
    my ($code) = @_;
    my $start = time;
    $code->();
    return time - $start;
}

# --- Redis down ----------------------------------------------------------------------
$t->stop_redis;

my $took = timed(sub { $m->get_ok("/api/v1/statuses/$s->{id}", $ha) });
$m->status_is(200, 'Redis down: a status from PostgreSQL alone')->json_is('/id', $s->{id});
cmp_ok($took, '<', 3, '... fast');

$took = timed(sub { $m->post_ok('/api/v1/statuses', $ha, form => { status => 'during the outage' }) });
$m->status_is(200, 'Redis down: a post is made')->json_is('/content', '<p>during the outage</p>');
my $during = $m->tx->res->json->{id};
cmp_ok($took, '<', 5, '... fast');
is($t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $aid"), $count + 1, '... counted');
is($t->psql("SELECT count(*) FROM job_outbox WHERE type = 'distribute' AND args::json->>'status_id' = '$during'"),
   1, '... and its distribute job waits in the outbox');

$took = timed(sub { $m->get_ok('/api/v1/timelines/home', $ha) });
$m->status_is(503, 'Redis down: the home timeline is 503');
cmp_ok($took, '<', 3, '... fast');

$t->start_redis;
ok($t->wait_for(sub { $m->ua->get('/api/v1/timelines/home' => $ha)->result->code == 200 }, 10),
   'Redis back: the home timeline again, without a reload');
ok((grep { $_->{type} eq 'distribute' && $_->{args}{status_id} eq $during } $t->take_jobs),
   'the distribute job of the post made during the outage reaches its queue');
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'after the outage' })->status_is(200);

# --- PostgreSQL down ------------------------------------------------------------------
$t->stop_postgres('fast');
for my $path ("/api/v1/statuses/$s->{id}", '/api/v1/timelines/home', "/api/v1/statuses/$s->{id}/context") {
    $took = timed(sub { $m->get_ok($path, $ha) });
    $m->status_is(503, "PostgreSQL down: $path 503")->json_has('/error');
    cmp_ok($took, '<', 3, '... fast');
}
$took = timed(sub { $m->post_ok('/api/v1/statuses', $ha, form => { status => 'no database' }) });
$m->status_is(503, 'PostgreSQL down: posting 503');
cmp_ok($took, '<', 3, '... fast');

$t->start_postgres;
ok($t->wait_for(sub { $m->ua->get("/api/v1/statuses/$s->{id}" => $ha)->result->code == 200 }, 10),
   'PostgreSQL back: statuses again');
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'all good' })->status_is(200);

$t->done;
