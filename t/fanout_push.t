#!/usr/bin/perl
# The plain-command push of a new original status (worker/feed_push.c):
# feeds the worker knows (mastodon:feeds:home) are written without being
# read, trimmed now and then; feeds it does not know are read once, written
# if they exist and known from then on; a missing feed stays missing;
# `:reblogs` is read only once a reblog of the status exists.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use FanoutTest;
use Test::More;
use Mojo::JSON;

my $MAX = 40;
my $t = MastodonTest->new(nginx => 0, worker => 1,
    worker_env => { MASTODON_QUEUES => 'default', MASTODON_FEED_MAX => $MAX, MASTODON_CONCURRENCY => 2 });
my $f = FanoutTest->new($t);
my $SET = 'mastodon:feeds:home';

my $author = $f->account('author');
my %fl = map { $_ => $f->account("f_$_") } qw(active nofeed lost reblogged);
$f->follow($fl{$_}, $author) for keys %fl;
$f->feed($fl{$_}) for qw(active lost reblogged);

sub distribute {
    my ($s, $acct, %o) = @_;
    return $f->run_job('distribute', { status_id => "$s", payload => $f->payload($s, $acct, %o) });
}
sub known { $t->redis('SISMEMBER', $SET, $_[0]) }

# --- first post: the feeds are read once and learnt --------------------------------
my $s1 = $f->status($author);
ok(distribute($s1, $author), 'distribute a first status');
is($f->in_feed($fl{active}, $s1), 1, 'an existing feed gets it');
is(known($fl{active}), 1, '... and is known from now on');
is($t->redis('EXISTS', $f->feed_key($fl{nofeed})), 0, 'a missing feed is not created');
is(known($fl{nofeed}), 0, '... nor known');
is(known($author), 0, "the author's feed does not exist: not known");

# --- known feeds: written blind ---------------------------------------------------------
my $sub = $f->subscribe("timeline:$fl{active}", "timeline:$fl{lost}");
my $s2 = $f->status($author);
ok(distribute($s2, $author), 'distribute a second status');
is($f->in_feed($fl{active}, $s2), 1, 'a known feed gets it');
is($t->redis('ZSCORE', $f->feed_key($fl{active}), 0), 0, 'the sentinel stays');
my @m = $sub->messages(count => 2, wait => 3);
is_deeply([ sort map { $_->{channel} } @m ], [ sort "timeline:$fl{active}", "timeline:$fl{lost}" ],
    'update on the timeline of each feed it went into');
ok(distribute($s2, $author), 'the same job again');
is(scalar(() = $sub->messages(wait => 1)), 0, 'no second event: the feeds already held it');

# a known feed lost meanwhile comes back without its sentinel: rebuilt when read
$t->redis('DEL', $f->feed_key($fl{lost}));
my $s3 = $f->status($author);
ok(distribute($s3, $author), 'distribute after a known feed was lost');
is($f->in_feed($fl{lost}, $s3), 1, 'the lost feed holds the status');
is($t->redis('ZSCORE', $f->feed_key($fl{lost}), 0), '', '... without the sentinel (rebuilt on read)');

# --- trims: about one push in FEED_TRIM_EVERY (16) ---------------------------------------
my $big = $f->account('f_big');
$f->follow($big, $author);
$f->feed($big, map { 1000 + $_ } 1 .. $MAX + 5);
my $first = $f->status($author);
ok(distribute($first, $author), 'a first push into a feed above feed_max');
is($t->redis('ZCARD', $f->feed_key($big)), $MAX + 1, 'read, so trimmed exactly to feed_max and the sentinel');
my $N = 200;
for (1 .. $N) {
    my $s = $f->status($author);
    my ($rc, undef, $err) = $t->worker_cli('enqueue', 'default', 'distribute',
        '{"status_id":"' . $s . '","payload":' . Mojo::JSON::encode_json($f->payload($s, $author)) . '}');
    diag("enqueue: $err") if $rc != 0;
}
ok($t->wait_for(sub {
    my $pending = (split /\n/, $t->redis('XPENDING', 'mastodon:queue:default', 'workers'))[0] // 0;
    $t->redis('XLEN', 'mastodon:queue:default') == 0 && $pending == 0
}, 120), "$N more pushes done");
my $card = $t->redis('ZCARD', $f->feed_key($big));
# untrimmed it would hold every push; a trim in 200 fails to come with
# probability (15/16)^200, about 2.5e-6
cmp_ok($card, '<', $MAX + 1 + $N, "known, it was trimmed meanwhile ($card members)");
cmp_ok($card, '>=', $MAX + 1, '... never below feed_max and the sentinel');
is($t->redis('ZSCORE', $f->feed_key($big), 0), 0, 'the sentinel survives');

# --- a reblog of the status exists: `:reblogs` is read ------------------------------------
my $booster = $f->account('booster');
$f->follow($fl{reblogged}, $booster);
my $orig = $f->status($author);
my $rb = $f->status($booster, reblog_of => $orig);
ok(distribute($rb, $booster, reblog => $f->payload($orig, $author)), 'a reblog, distributed first');
is($f->in_feed($fl{reblogged}, $rb), 1, 'the reblog is in the feed');
ok(distribute($orig, $author), 'the original, late');
is($f->in_feed($fl{reblogged}, $orig), 0, 'not added to the known feed showing a reblog of it');
is($f->in_feed($fl{active}, $orig), 1, 'added elsewhere');

# --- what the worker remembers of the set (worker/feed_known.c) holds only -------------
# while the set does: the set gone (FLUSHALL, eviction) or a member removed
# by an account's deletion (the epoch moved), a feed lost meanwhile is read
# again, and stays missing
ok(distribute($f->status($author), $author), 'a push: the worker remembers the known feeds');
$t->redis('DEL', $SET);
$t->redis('DEL', $f->feed_key($fl{active}));
my $s4 = $f->status($author);
ok(distribute($s4, $author), 'a push after the set was deleted');
is($t->redis('EXISTS', $f->feed_key($fl{active})), 0, 'a feed lost with the set is not written blind');
is($f->in_feed($fl{lost}, $s4), 1, 'a feed that exists gets it');
is(known($fl{lost}), 1, '... and is known again');

ok(distribute($f->status($author), $author), 'a push: remembered again');
like($t->redis('SMEMBERS', $SET), qr/^worker:[0-9a-f]{16}$/m, "the worker's token is back in the set");
# remembered, a feed is not asked about: a member removed behind the
# worker's back (only an account's deletion removes one, and it moves the
# epoch) is still written blind
ok(distribute($f->status($author), $author), 'a push: remembered');
$t->redis('SREM', $SET, $fl{reblogged});
my $s6 = $f->status($author);
ok(distribute($s6, $author), 'a push after a member was removed, the epoch unmoved');
is($f->in_feed($fl{reblogged}, $s6), 1, 'the feed remembered is written without asking the set');
is(known($fl{reblogged}), 0, '... nor added to it again');
$t->redis('SADD', $SET, $fl{reblogged});
$t->redis('SREM', $SET, $fl{lost});
$t->redis('INCR', 'mastodon:feeds:home:epoch');     # as an account deletion does
$t->redis('DEL', $f->feed_key($fl{lost}));
my $s5 = $f->status($author);
ok(distribute($s5, $author), 'a push after the epoch moved');
is($t->redis('EXISTS', $f->feed_key($fl{lost})), 0, 'the feed removed from the set is not written blind');
is($f->in_feed($fl{reblogged}, $s5), 1, 'the others get it');

$t->done;
