#!/usr/bin/perl
# Fan-out survives a worker killed mid-batch: every follower ends with the
# status exactly once, and no notification is duplicated.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use FanoutTest;
use Test::More;
use Time::HiRes qw(sleep time);

my $N = 20000;
my $t = MastodonTest->new(nginx => 0, worker => 0);
my $f = FanoutTest->new($t);
my %fast = (MASTODON_CLAIM_IDLE_MS => 1000, MASTODON_QUEUES => 'default');

my $author = $f->account('author');
my $mentioned = $f->account('mentioned');
$t->psql("INSERT INTO accounts (username) SELECT 'k' || g FROM generate_series(1, $N) g");
$t->psql("INSERT INTO follows (account_id, target_account_id, notify)"
    . " SELECT id, $author, id % 10 = 0 FROM accounts WHERE username LIKE 'k%'");
my @followers = split /\n/, $t->psql("SELECT id FROM accounts WHERE username LIKE 'k%' ORDER BY id");
is(scalar @followers, $N, "$N followers");

# every feed exists (active readers), written with redis-cli --pipe
my $cmds = "$t->{dir}/feeds.redis";
open my $fh, '>', $cmds or die $!;
for my $id (@followers, $author) {
    my $key = "mastodon:feed:home:$id";
    printf $fh "*4\r\n\$4\r\nZADD\r\n\$%d\r\n%s\r\n\$1\r\n0\r\n\$1\r\n0\r\n", length $key, $key;
}
close $fh;
system("redis-cli -h 127.0.0.1 -p " . $t->redis_port . " --pipe < $cmds > /dev/null") == 0 or die 'redis-cli --pipe';

my $s = $f->status($author, mentions => [$mentioned]);
my $first = $f->feed_key($followers[0]);
my $worker = $t->start_worker(%fast);
$f->t->worker_cli('enqueue', 'default', 'distribute',
    Mojo::JSON::encode_json({ status_id => "$s", payload => $f->payload($s, $author) }));

# Stop Redis writes the moment the first feed has it, then kill the worker
# in the middle of its pipeline.
ok($t->wait_for(sub { $t->redis('ZSCORE', $first, $s) ne '' }, 30), 'the fan-out started');
$t->redis('CLIENT', 'PAUSE', 5000, 'WRITE');
my $count = sub {
    my $lua = "local n = 0 for i = 1, #ARGV do if redis.call('ZSCORE', 'mastodon:feed:home:' .. ARGV[i], KEYS[1]) then n = n + 1 end end return n";
    my $n = 0;
    for (my $i = 0; $i < @followers; $i += 2000) {
        my @chunk = @followers[$i .. ($i + 1999 < $#followers ? $i + 1999 : $#followers)];
        $n += $t->redis('EVAL', $lua, 1, $s, @chunk);
    }
    return $n;
};
is($t->kill_worker($worker, 'KILL'), 137, 'worker killed (SIGKILL)');
$t->redis('CLIENT', 'UNPAUSE');
my $partial = $count->();
ok($partial > 0 && $partial < $N, "killed mid-batch: $partial of $N feeds written");

$t->start_worker(%fast);
ok($t->wait_for(sub { $count->() == $N }, 60), 'after a restart, every follower has the status');
ok($t->wait_for(sub {
    my $pending = (split /\n/, $t->redis('XPENDING', 'mastodon:queue:default', 'workers'))[0] // 0;
    $t->redis('XLEN', 'mastodon:queue:default') == 0 && $pending == 0 }, 30), 'and the job finished');
my $bad = 0;
for (my $i = 0; $i < @followers; $i += 2000) {
    my @chunk = @followers[$i .. ($i + 1999 < $#followers ? $i + 1999 : $#followers)];
    my $lua = "local bad = 0 for i = 1, #ARGV do local k = 'mastodon:feed:home:' .. ARGV[i]"
        . " if redis.call('ZCARD', k) ~= 2 or not redis.call('ZSCORE', k, KEYS[1]) then bad = bad + 1 end end return bad";
    $bad += $t->redis('EVAL', $lua, 1, $s, @chunk);
}
is($bad, 0, 'each feed: the sentinel and the status, exactly once');
my $notify = $t->psql("SELECT count(*) FROM follows WHERE target_account_id = $author AND notify");
cmp_ok($notify, '>', 0, "$notify followers with notify");
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'status'"), $notify, 'status notifications: one per notify follower');
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'mention'"), 1, 'one mention notification');
is($t->psql("SELECT count(*) FROM (SELECT account_id, type, activity_id FROM notifications"
    . " GROUP BY 1, 2, 3 HAVING count(*) > 1) d"), 0, 'no duplicates');
is($t->redis('ZCARD', 'mastodon:retry') + $t->redis('XLEN', 'mastodon:dead'), 0, 'nothing failed');

$t->done;
