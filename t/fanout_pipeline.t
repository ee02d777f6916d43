#!/usr/bin/perl
# The plain-command push pipelined across batches of FEED_PUSH_BATCH (2000)
# feeds (worker/feed_push.c): a batch's writes and the next batch's reads
# share the wire.  With 7,000 followers (four batches), known feeds, a feed
# the set does not know yet (its batch done alone), a missing one, a
# follower to notify (the connection made free for the notification) and
# subscribers in the first and the last batches (asked with PUBSUB NUMSUB,
# then looked up in the list of channels): every existing feed gets the
# status once, each subscriber its `update` once, nothing else changes.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use FanoutTest;
use Test::More;

my $N = 7000;
my $t = MastodonTest->new(nginx => 0, worker => 1,
    worker_env => { MASTODON_QUEUES => 'default', MASTODON_CONCURRENCY => 1 });
my $f = FanoutTest->new($t);
my $SET = 'mastodon:feeds:home';

my $author = $f->account('author');
$t->psql("INSERT INTO accounts (username) SELECT 'p' || g FROM generate_series(1, $N) g");
$t->psql("INSERT INTO follows (account_id, target_account_id)"
    . " SELECT id, $author FROM accounts WHERE username LIKE 'p%'");
my @fl = split /\n/, $t->psql("SELECT id FROM accounts WHERE username LIKE 'p%' ORDER BY id");
is(scalar @fl, $N, "$N followers");
my ($first, $missing, $notified, $unknown, $last) = @fl[10, 2500, 3000, 4500, $N - 5];
$t->psql("UPDATE follows SET notify = true WHERE account_id = $notified AND target_account_id = $author");

# every feed but $missing exists, complete; all but $unknown are known
my $cmds = "$t->{dir}/feeds.redis";
open my $fh, '>', $cmds or die $!;
for my $id (@fl) {
    next if $id == $missing;
    my $key = "mastodon:feed:home:$id";
    printf $fh "*4\r\n\$4\r\nZADD\r\n\$%d\r\n%s\r\n\$1\r\n0\r\n\$1\r\n0\r\n", length $key, $key;
    next if $id == $unknown;
    printf $fh "*3\r\n\$4\r\nSADD\r\n\$%d\r\n%s\r\n\$%d\r\n%s\r\n", length $SET, $SET, length $id, $id;
}
close $fh;
system("redis-cli -h 127.0.0.1 -p " . $t->redis_port . " --pipe < $cmds > /dev/null") == 0
    or die 'redis-cli --pipe';
$t->redis('SADD', $SET, $missing);  # known, then lost: comes back without its sentinel

# feeds holding $s with the sentinel, and exactly two members
my $complete = sub {
    my ($s) = @_;
    my $n = 0;
    for (my $i = 0; $i < @fl; $i += 2000) {
        my @chunk = grep { $_ != $missing } @fl[$i .. ($i + 1999 < $#fl ? $i + 1999 : $#fl)];
        my $lua = "local n = 0 for i = 1, #ARGV do local k = 'mastodon:feed:home:' .. ARGV[i]"
            . " if redis.call('ZSCORE', k, KEYS[1]) and redis.call('ZSCORE', k, '0')"
            . " and redis.call('ZCARD', k) == 2 then n = n + 1 end end return n";
        $n += $t->redis('EVAL', $lua, 1, $s, @chunk);
    }
    return $n;
};

my $sub = $f->subscribe("timeline:$first", "timeline:$last", "timeline:$unknown");
my $s1 = $f->status($author);
ok($f->run_job('distribute', { status_id => "$s1", payload => $f->payload($s1, $author) }),
    'distribute to 7,000 followers');
is($complete->($s1), $N - 1, 'every existing feed holds the status once, with its sentinel');
is($t->redis('SISMEMBER', $SET, $unknown), 1, 'the feed the set did not know is known now');
is($f->in_feed($missing, $s1), 1, 'the known feed lost meanwhile holds the status');
is($t->redis('ZSCORE', $f->feed_key($missing), 0), '', '... without the sentinel (rebuilt on read)');
my @m = $sub->messages(count => 3, wait => 5);
is_deeply([ sort map { $_->{channel} } @m ],
    [ sort "timeline:$first", "timeline:$last", "timeline:$unknown" ],
    'update on each subscribed timeline, first, middle and last batch');
is(scalar(grep { ($_->{json}{event} // "") eq "update" } @m), 3, "... update events");
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'status' AND account_id = $notified"),
    1, 'the follower with notify is notified');
# few channels: after two batches asked with NUMSUB, the list of the home
# channels once, the last batches looked up in it
my $log = join('', map { local (@ARGV, $/) = ($_); <> } glob($t->dir . '/worker-*.log'));
like($log, qr/fan-out of $s1: 3 account\(s\) listening, looked up from now on/,
    'the listeners of the later batches from one PUBSUB CHANNELS');

# all known now: the steady pipeline; the same job twice writes nothing twice
$t->redis('DEL', $f->feed_key($missing));
my $s2 = $f->status($author);
ok($f->run_job('distribute', { status_id => "$s2", payload => $f->payload($s2, $author) }),
    'a second status');
ok($f->run_job('distribute', { status_id => "$s2", payload => $f->payload($s2, $author) }),
    '... distributed again (a retry)');
my $card = 0;
for (my $i = 0; $i < @fl; $i += 2000) {
    my @chunk = grep { $_ != $missing } @fl[$i .. ($i + 1999 < $#fl ? $i + 1999 : $#fl)];
    my $lua = "local n = 0 for i = 1, #ARGV do local k = 'mastodon:feed:home:' .. ARGV[i]"
        . " if redis.call('ZSCORE', k, KEYS[1]) and redis.call('ZCARD', k) == 3 then n = n + 1 end"
        . " end return n";
    $card += $t->redis('EVAL', $lua, 1, $s2, @chunk);
}
is($card, $N - 1, 'every existing feed holds both statuses and its sentinel');
@m = $sub->messages(count => 3, wait => 5);
is(scalar @m, 3, 'one update per subscribed timeline');
is(scalar(() = $sub->messages(wait => 1)), 0, '... and no second one for the retry');
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'status' AND account_id = $notified"),
    2, 'notified of each status once');
is($t->redis('ZCARD', 'mastodon:retry') + $t->redis('XLEN', 'mastodon:dead'), 0, 'nothing failed');

$t->done;
