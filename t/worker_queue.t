#!/usr/bin/perl
# The job queue: at-least-once delivery on Redis Streams (ARCHITECTURE.md,
# "Queue semantics"), driven through `mastodon-worker enqueue` and the
# test_record job.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Time::HiRes qw(sleep);

my $t = MastodonTest->new(nginx => 0, worker => 0);
my %fast = (MASTODON_CLAIM_IDLE_MS => 1000, MASTODON_RETRY_MAX => 2, MASTODON_RETRY_BASE_MS => 100);

sub enqueue {
    my ($args, $queue) = @_;
    my ($rc, $out, $err) = $t->worker_cli('enqueue', $queue // 'default', 'test_record', $args);
    is($rc, 0, "enqueue $args") or diag $err;
    like($out, qr/^\d+-\d+$/, 'enqueue prints the stream entry id');
    return $out;
}
sub started { $t->redis('LLEN', "mastodon:test:$_[0]:started") }
sub done    { $t->redis('LLEN', "mastodon:test:$_[0]:done") }
sub pending { (split /\n/, $t->redis('XPENDING', "mastodon:queue:$_[0]", 'workers'))[0] // 0 }

# --- a job runs exactly once ---------------------------------------------------
my $w1 = $t->start_worker(%fast);
enqueue('{"key":"once"}');
ok($t->wait_for(sub { done('once') == 1 }, 10), 'the job ran');
sleep 2;
is(done('once'), 1, 'and only once');
is(started('once'), 1, 'started once');
is($t->redis('XLEN', 'mastodon:queue:default'), 0, 'the entry was deleted from the stream');
is(pending('default'), 0, 'nothing pending');

# --- a job enqueued before any worker created the group still runs ---------------
enqueue('{"key":"early"}', 'mailers');
ok($t->wait_for(sub { done('early') == 1 }, 10), 'a job on another queue runs');

# --- a worker killed during a job: the next worker runs it ------------------------
enqueue('{"key":"killed","sleep_ms":3000}');
ok($t->wait_for(sub { started('killed') == 1 }, 10), 'the long job started');
$t->kill_worker($w1, 'KILL');
is(done('killed'), 0, 'it did not finish');
is(pending('default'), 1, 'its entry is pending under the dead consumer');
my $w2 = $t->start_worker(%fast);
ok($t->wait_for(sub { done('killed') == 1 }, 20), 'the next worker claimed and ran it');
is(started('killed'), 2, 'started twice in all');
ok($t->wait_for(sub { pending('default') == 0 }, 5), 'and acknowledged it');

# --- a job that keeps failing ends in mastodon:dead ---------------------------------
enqueue('{"key":"doomed","fail":true}', 'push');
ok($t->wait_for(sub { $t->redis('XLEN', 'mastodon:dead') == 1 }, 20), 'the failing job reached mastodon:dead');
is(started('doomed'), 3, 'it ran 1 + retry_max (2) times');
is(done('doomed'), 0, 'never done');
is($t->redis('ZCARD', 'mastodon:retry'), 0, 'nothing left in the retry set');
is($t->redis('XLEN', 'mastodon:queue:push'), 0, 'nor in its stream');
is(pending('push'), 0, 'nor pending');
my (undef, %dead) = split /\n/, $t->redis('XRANGE', 'mastodon:dead', '-', '+');
is($dead{type}, 'test_record', 'dead entry: type');
is($dead{args}, '{"key":"doomed","fail":true}', 'dead entry: args unchanged');
is($dead{queue}, 'push', 'dead entry: queue');
is($dead{attempt}, 2, 'dead entry: last attempt');
is($dead{error}, 'test failure requested', 'dead entry: error');
like($dead{jid}, qr/^[0-9a-f]{16}$/, 'dead entry: jid');
like($dead{failed_at}, qr/^\d{13}$/, 'dead entry: failed_at');

# an unknown job type fails the same way
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'no_such_job', '{}');
is($rc, 0, 'enqueue an unknown job type');
ok($t->wait_for(sub { $t->redis('XLEN', 'mastodon:dead') == 2 }, 20), 'unknown type: dead after retries');
like($t->redis('XREVRANGE', 'mastodon:dead', '+', '-', 'COUNT', 1), qr/unknown job type/, 'with its error');

# --- the scheduler moves due jobs from mastodon:schedule ------------------------------
my $due = int(Time::HiRes::time() * 1000) + 500;
$t->redis('ZADD', 'mastodon:schedule', $due,
    '{"queue":"default","type":"test_record","args":{"key":"later","n":123456789012345678},"attempt":0,"jid":"00000000000000aa"}');
ok($t->wait_for(sub { done('later') == 1 }, 10), 'a scheduled job ran once due');
is($t->redis('ZCARD', 'mastodon:schedule'), 0, 'the schedule set is empty');

# --- SIGTERM: the job in hand finishes, the worker exits 0 ---------------------------
enqueue('{"key":"term","sleep_ms":1500}');
ok($t->wait_for(sub { started('term') == 1 }, 10), 'a short job started');
is($t->stop_worker($w2), 0, 'SIGTERM: exit status 0');
is(done('term'), 1, 'the job in hand finished before the exit');
is(pending('default'), 0, 'and was acknowledged');

# --- two workers side by side: each job exactly once ---------------------------------
my @two = map { $t->start_worker(%fast) } 1 .. 2;
sleep 0.5;
enqueue(qq({"key":"two$_","sleep_ms":300})) for 1 .. 20;
ok($t->wait_for(sub { !grep { done("two$_") != 1 } 1 .. 20 }, 30), '20 jobs done');
sleep 1.5;
is(scalar(grep { done("two$_") == 1 && started("two$_") == 1 } 1 .. 20), 20, 'each exactly once');
my %by_pid;
for my $i (1 .. 20) {
    my ($consumer) = $t->redis('LRANGE', "mastodon:test:two$i:done", 0, 0);
    $by_pid{$1}++ if $consumer =~ /:(\d+):\d+$/;
}
is_deeply([sort keys %by_pid], [sort @two], 'both workers took jobs') or diag explain \%by_pid;
is($t->stop_worker($_), 0, "worker $_ stops cleanly") for @two;

is($t->redis('XLEN', 'mastodon:queue:default'), 0, 'the default stream is empty at the end');

$t->done;
