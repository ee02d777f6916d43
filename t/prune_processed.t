#!/usr/bin/perl
# The replay guard's pruning: ap_processed_activities rows older than
# processed_activities_keep_days (14 by default) go, by the periodic job
# prune_processed_activities that a worker serving the `scheduler` queue
# enqueues once an hour (a Redis mark keeps other workers from enqueuing it
# again within the hour).
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;

my $t = MastodonTest->new(worker => 0);

sub logs { join '', map { MastodonTest::_slurp($_) } sort glob("$t->{dir}/worker-*.log") }
sub runs { scalar(() = logs() =~ /job prune_processed_activities jid=\S+ done/g) }
sub kept { $t->psql("SELECT coalesce(string_agg(uri, ',' ORDER BY uri), '') FROM ap_processed_activities") }

$t->psql("INSERT INTO ap_processed_activities (uri, processed_at) VALUES"
    . " ('https://x.test/a/old', (now() AT TIME ZONE 'UTC') - interval '15 days'),"
    . " ('https://x.test/b/edge', (now() AT TIME ZONE 'UTC') - interval '13 days'),"
    . " ('https://x.test/c/new', now() AT TIME ZONE 'UTC')");

my $w = $t->start_worker;
ok($t->wait_for(sub { runs() == 1 }, 20), 'a worker enqueues the pruning when it starts: it runs');
is(kept(), 'https://x.test/b/edge,https://x.test/c/new', 'ids older than 14 days went, the others stay');
my $ttl = $t->redis('TTL', 'mastodon:periodic:prune_processed_activities');
ok($ttl > 3500 && $ttl <= 3600, "the next run is an hour away (mark TTL $ttl s)");
is($t->stop_worker($w), 0, 'the worker stops');

# another worker within the hour does not enqueue it again
$w = $t->start_worker(MASTODON_PROCESSED_ACTIVITIES_KEEP_DAYS => 1);
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', '{"key":"mark"}');
ok($t->wait_for(sub { $t->redis('LLEN', 'mastodon:test:mark:done') == 1 }, 20), 'a second worker runs jobs');
is(runs(), 1, '... and did not enqueue the pruning again within the hour');

# the window is a setting
($rc, $out, $err) = $t->worker_cli('enqueue', 'scheduler', 'prune_processed_activities', '{}');
is($rc, 0, 'the pruning enqueued by hand') or diag $err;
ok($t->wait_for(sub { runs() == 2 }, 20), '... runs');
is(kept(), 'https://x.test/c/new', 'with processed_activities_keep_days 1, the 13-day-old id went too');
like(logs(), qr/prune_processed_activities: 1 activity id\(s\) older than 1 days removed/, '... as the log says');
is($t->stop_worker($w), 0, 'the worker stops');

$t->done;
