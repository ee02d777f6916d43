# Subscriptions on the worker's pub/sub connection (the streaming API's
# ground), driven by mastodon_debug_subscribe: each worker takes "add <name>
# <channel>" / "del <name>" from the channel mastodon:debug:subscribe, each
# subscription is an operation of its own (a stand-in for a stream) and
# writes what it hears into mastodon:debug:subscribe:<pid>:<name>.
# Redis hears one SUBSCRIBE per channel and worker however many subscribe
# there, and UNSUBSCRIBE after the last; messages reach every subscriber;
# a dropped connection is told and every channel subscribed again, after a
# killed connection and after a Redis restart.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    # no render cache: its own subscription would add to the counts below
    http_config => "mastodon_debug_subscribe on;\nmastodon_render_cache_size 0;",
);

sub heard {
    my ($pid, $name) = @_;
    return [ split /\n/, $t->redis('LRANGE', "mastodon:debug:subscribe:$pid:$name", 0, -1) ];
}

sub numsub {
    my ($channel) = @_;
    my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', $channel);
    return $n;
}

# pid => the pub/sub connection's fields in CLIENT LIST
sub pubsub_clients {
    my %c;
    for my $line (split /\n/, $t->redis('CLIENT', 'LIST')) {
        my %f = map { split /=/, $_, 2 } grep { /=/ } split / /, $line;
        $c{$1} = \%f if ($f{name} // '') =~ /^mastodon:pubsub:(\d+)$/;
    }
    return \%c;
}

sub all_heard {
    my ($name, $what, $pids) = @_;
    return !grep { !grep { $_ eq $what } @{ heard($_, $name) } } @$pids;
}

sub control {
    my ($cmd) = @_;
    $t->redis('PUBLISH', 'mastodon:debug:subscribe', $cmd);
}

ok($t->wait_for(sub { keys %{ pubsub_clients() } == 2 }, 10), 'two workers, a pub/sub connection each');
my @pids = sort keys %{ pubsub_clients() };
ok($t->wait_for(sub { all_heard('control', 'subscribed', \@pids) }, 10),
   'each worker subscribed to its control channel and heard it confirmed');
is(numsub('mastodon:debug:subscribe'), 2, '... once per worker');

# --- one SUBSCRIBE per channel and worker --------------------------------
control('add a news');
control('add b news');
control('add c other');
ok($t->wait_for(sub { !grep { !all_heard($_, 'subscribed', \@pids) } qw(a b c) }, 10),
   'three subscriptions in each worker, each told it is subscribed');
is(numsub('news'), 2, 'two subscribers of "news" in a worker: Redis sees one subscription per worker');
is(numsub('other'), 2, '"other" likewise');
my $c = pubsub_clients();
is($c->{$_}{sub}, 4, "worker $_: its pub/sub connection subscribed to 4 channels (its own, control, news, other)")
    for @pids;

$t->redis('PUBLISH', 'news', 'hello world');
$t->redis('PUBLISH', 'other', "caf\x{e9} 1 2 3");
ok($t->wait_for(sub { all_heard('a', 'message:hello world', \@pids) && all_heard('b', 'message:hello world', \@pids) }, 10),
   'a message reaches every subscriber of its channel in every worker');
ok($t->wait_for(sub { all_heard('c', "message:caf\x{e9} 1 2 3", \@pids) }, 10), '... bytes as they were');
ok(!grep({ /hello/ } map { @{ heard($_, 'c') } } @pids), 'and no other channel\'s subscriber');

# --- the last one unsubscribes ---------------------------------------------
control('del a');
$t->redis('PUBLISH', 'news', 'second');
ok($t->wait_for(sub { all_heard('b', 'message:second', \@pids) }, 10), 'a left: b still hears "news"');
is(numsub('news'), 2, '... and Redis still sends it to both workers');
ok(!grep({ $_ eq 'message:second' } map { @{ heard($_, 'a') } } @pids), 'a heard nothing more');

control('del b');
ok($t->wait_for(sub { numsub('news') == 0 }, 10), 'b, the last one, left: the workers unsubscribed');
ok($t->wait_for(sub { my $c = pubsub_clients(); !grep { $c->{$_}{sub} != 3 } @pids }, 10),
   '... 3 channels left on each connection');

control('add d news');
ok($t->wait_for(sub { all_heard('d', 'subscribed', \@pids) }, 10), 'a new subscriber: subscribed again');
is(numsub('news'), 2, '... once per worker');
$t->redis('PUBLISH', 'news', 'third');
ok($t->wait_for(sub { all_heard('d', 'message:third', \@pids) }, 10), '... and hears');

# --- the connection dropped ----------------------------------------------
$t->redis('DEL', map { ("mastodon:debug:subscribe:$_:c", "mastodon:debug:subscribe:$_:d") } @pids);
$t->redis('CLIENT', 'KILL', 'TYPE', 'pubsub');
ok($t->wait_for(sub { all_heard('c', 'dropped', \@pids) && all_heard('d', 'dropped', \@pids) }, 10),
   'the pub/sub connections killed: every subscriber is told');
ok($t->wait_for(sub { all_heard('c', 'subscribed', \@pids) && all_heard('d', 'subscribed', \@pids) }, 10),
   '... and then that it is subscribed again');
is(numsub('news'), 2, 'every channel subscribed again: news');
is(numsub('other'), 2, '... other');
is(numsub('mastodon:debug:subscribe'), 2, '... the control channel');
$t->redis('PUBLISH', 'other', 'after the kill');
ok($t->wait_for(sub { all_heard('c', 'message:after the kill', \@pids) }, 10), 'messages come again');

# --- Redis restarted ---------------------------------------------------------
$t->stop_redis;
$t->start_redis;
my $n = 0;
ok($t->wait_for(sub {
    $t->redis('PUBLISH', 'other', 'after the restart ' . ++$n);
    !grep { !grep { /^message:after the restart/ } @{ heard($_, 'c') } } @pids;
}, 15), 'Redis restarted: the subscriptions came back by themselves');
ok($t->wait_for(sub { numsub('news') == 2 && numsub('other') == 2 }, 10), '... every channel of every worker');
control('add e fresh');
ok($t->wait_for(sub { all_heard('e', 'subscribed', \@pids) }, 10), 'and the control channel works');

# --- a reload: the old workers end their subscriptions and exit cleanly ------
my @old = MastodonTest::_children($t->nginx_pid);
ok($t->reconfigure_nginx(http_config => 'mastodon_debug_subscribe on;'), 'reloaded');
ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 20), '... the old workers exited');
ok($t->wait_for(sub { numsub('fresh') == 0 && numsub('news') == 0 }, 10), '... their subscriptions gone with them');
unlike($t->error_log, qr/backend operations left at exit/, '... every operation freed');

$t->done;
