# A WebSocket client that stops reading is dropped once what waits for it
# (wslay's queue) would pass mastodon_streaming_max_output: its
# subscription goes, its connection is closed, the channel serves the
# next client and other streams stay (t/streaming_sse.t does the same for
# event streams).

use strict;
use warnings;

use Test::More;
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 0,
    http_config => "mastodon_streaming_heartbeat 30s;\n    mastodon_streaming_max_output 1m;");
my $port = $t->port;
my $u = $t->user('carol');
my $v = $t->user('dave');

sub ws {
    my ($stream, $who, %o) = @_;
    return StreamClient->ws($port, "/api/v1/streaming?stream=$stream", { Authorization => "Bearer $who->{token}" }, %o);
}

sub numsub {
    my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', $_[0]);
    return $n;
}

# a stream is live once a message published on its channel arrives
sub live {
    my ($c, $channel, $payload) = @_;
    return $t->wait_for(sub {
        $t->redis('PUBLISH', $channel, qq({"event":"delete","payload":"$payload"}));
        $c->wait_message(sub { $_[0]{event} eq 'delete' && $_[0]{payload} eq $payload }, 0.2);
    });
}

my $other = ws('public:local', $v);
ok(live($other, 'timeline:public:local', 'other'), 'a stream of another channel');

my $slow = ws('public:remote', $u, rcvbuf => 65536);
is($slow->status, 101, 'a slow client');
ok(live($slow, 'timeline:public:remote', 'ping'), '... subscribed');

my $big = 'x' x 8000;
# 8 MB a round, past what the sockets' buffers and the cap take
for (1 .. 5) {
    $t->redis('EVAL', "for i = 1, tonumber(ARGV[2]) do redis.call('PUBLISH', KEYS[1], ARGV[1]) end",
        1, 'timeline:public:remote', qq({"event":"delete","payload":"$big"}), 1000);
    last if $t->error_log =~ /the client does not read/;
}
ok($t->wait_for(sub { $t->error_log =~ /stream closed: the client does not read/ }), 'dropped over its output cap');
ok($t->wait_for(sub { numsub('timeline:public:remote') == 0 }), '... its subscription gone');
ok($slow->discard->wait_closed(20), '... its connection closed');

my $next = ws('public:remote', $u);
ok(live($next, 'timeline:public:remote', '42'), 'the channel serves the next client');
ok(live($other, 'timeline:public:local', 'still'), 'streams of other channels stay');

$_->close for $next, $other;
$t->done;
