# The streaming API over a WebSocket (GET /api/v1/streaming, wslay): the
# handshake with the token in any of its three places, the stream query
# parameters, subscribe and unsubscribe on a live socket, Mastodon's error
# messages, bad messages, the message-size limit, ping/pong, each stream's
# events and not others', a revoked token closing the socket, and many
# clients at once.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

# pings every 30 s while the test reads its clients one after another (a
# client not read would not answer); every 300 ms for the ping tests
my $t = MastodonTest->new(worker => 1,
    http_config => "mastodon_streaming_heartbeat 30s;\n    mastodon_streaming_max_message 1k;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;
$m->get_ok('/api/v1/timelines/home', $h{$_})->status_is(200) for sort keys %u;

sub ws {
    my ($query, $who, %o) = @_;
    return StreamClient->ws($port, "/api/v1/streaming$query",
        $who ? { Authorization => "Bearer $u{$who}{token}" } : {}, %o);
}

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

# a subscription is live once a message published on its channel arrives
sub live { my ($c, $channel) = @_; return $c->live($t, $channel) }

# --- handshake and auth ---------------------------------------------------------------------------
my $c = ws('', undef);
is($c->status, 401, 'no token: 401');
like($c->body, qr/Missing access token/, "... Mastodon's message");

$c = ws('?stream=public', 'alice');
is($c->status, 101, 'Authorization header: 101 Switching Protocols');
like($c->header('sec-websocket-accept') // '', qr/^[A-Za-z0-9+\/]{27}=$/, 'Sec-WebSocket-Accept');
$c->close;

$c = StreamClient->ws($port, "/api/v1/streaming?access_token=$u{bob}{token}", {});
is($c->status, 101, 'access_token parameter');
$c->close;

$c = StreamClient->ws($port, '/api/v1/streaming', { 'Sec-WebSocket-Protocol' => $u{bob}{token} });
is($c->status, 101, 'the token as Sec-WebSocket-Protocol');
is($c->header('sec-websocket-protocol'), $u{bob}{token}, '... echoed');
$c->close;

$m->get_ok('/api/v1/streaming', $h{alice})->status_is(400)
  ->json_is('/error', 'Unknown channel requested', 'no Upgrade: the unknown channel answer');

# --- events by stream ------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$id{bob}/follow", $h{alice})->status_is(200);
$m->post_ok("/api/v1/accounts/$id{bob}/mute", $h{carol})->status_is(200);

my $a = ws('?stream=user', 'alice');
is($a->status, 101, 'user stream by the query');
ok(live($a, "timeline:$id{alice}"), '... live');
my $d = ws('?stream=public', 'dave');
ok(live($d, 'timeline:public'), 'public stream by the query');
my $cm = ws('?stream=public', 'carol');
ok(live($cm, 'timeline:public'), "a muter's public stream");
my $tag = ws('?stream=hashtag&tag=dogs', 'dave');
ok(live($tag, 'timeline:hashtag:dogs'), 'hashtag stream with tag by the query');

my $p1 = post('bob', status => 'woof #dogs', visibility => 'public');
my $msg = $a->wait_message(sub { $_[0]{event} eq 'update' });
ok($msg, "update on the follower's user stream");
is_deeply($msg->{stream}, ['user'], '... stream ["user"]');
is(ref $msg->{payload}, '', '... the payload a string');
is(decode_json($msg->{payload})->{id}, $p1->{id}, '... of the Status');
$msg = $d->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p1->{id} });
is_deeply($msg && $msg->{stream}, ['public'], 'public stream: stream ["public"]');
$msg = $tag->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p1->{id} });
is_deeply($msg && $msg->{stream}, ['hashtag', 'dogs'], 'hashtag stream: ["hashtag", tag]');

my $p2 = post('bob', status => 'private woof #dogs', visibility => 'private');
my $p3 = post('dave', status => 'dave here', visibility => 'public');
ok($cm->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p3->{id} }),
    "the muter gets others' posts");
ok($a->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p2->{id} }),
    'a private post reaches the follower');
$_->pump(0.5) for $d, $cm, $tag;
ok(!grep({ $_->{json}{event} eq 'update' && decode_json($_->{json}{payload})->{id} eq $p2->{id} }
    @{ $d->messages }, @{ $tag->messages }), 'a private post on no public or hashtag stream');
ok(!grep({ $_->{json}{event} eq 'update' && decode_json($_->{json}{payload})->{id} eq $p1->{id} }
    @{ $cm->messages }), "a muted account's post never reaches the muter");

$m->delete_ok("/api/v1/statuses/$p1->{id}", $h{bob})->status_is(200);
$msg = $d->wait_message(sub { $_[0]{event} eq 'delete' && $_[0]{payload} eq $p1->{id} });
ok($msg, 'delete: the payload is the id');

# a list: only its owner streams it, by the query or by subscribing
my $list = $m->post_ok('/api/v1/lists', $h{alice}, form => { title => 'dogs' })->status_is(200)->tx->res->json;
$m->post_ok("/api/v1/lists/$list->{id}/accounts", $h{alice}, form => { 'account_ids[]' => $id{bob} })->status_is(200);
# its feed exists (as for a user who reads the list): the worker fills existing feeds only
$m->get_ok("/api/v1/timelines/list/$list->{id}", $h{alice})->status_is(200);
my $lq = ws("?stream=list&list=$list->{id}", 'alice');
ok(live($lq, "timeline:list:$list->{id}"), 'list stream by the query');
my $lc = ws('', 'carol');
$lc->send_json({ type => 'subscribe', stream => 'list', list => "$list->{id}" });
$msg = $lc->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Not authorized to stream this list', status => 401 }, "someone else's list: refused");
my $ls = ws('', 'alice');
$ls->send_json({ type => 'subscribe', stream => 'list', list => "$list->{id}" });
ok(live($ls, "timeline:list:$list->{id}"), "the owner subscribes to the list");
my $p4 = post('bob', status => 'a list woof', visibility => 'public');
for my $c ($lq, $ls) {
    $msg = $c->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p4->{id} });
    is_deeply($msg && $msg->{stream}, ['list', "$list->{id}"], "a list member's post: stream [\"list\", id]");
}
$_->close for $lq, $lc, $ls;

# --- subscribe, unsubscribe, errors on a live socket --------------------------------------------------
my $s = ws('', 'dave');
is($s->status, 101, 'a socket without a stream');
$s->send_json({ type => 'subscribe', stream => 'public:local' });
ok(live($s, 'timeline:public:local'), 'subscribe: public:local');
$s->send_json({ type => 'subscribe', stream => ['hashtag'], tag => 'birds' });
ok(live($s, 'timeline:hashtag:birds'), 'subscribe: hashtag with tag (stream as an array)');
my $p4 = post('bob', status => 'tweet #birds', visibility => 'public');
$msg = $s->wait_message(sub { $_[0]{event} eq 'update' && $_[0]{stream}[0] eq 'hashtag' });
is_deeply($msg && $msg->{stream}, ['hashtag', 'birds'], 'the hashtag event names its stream');
ok($s->wait_message(sub { $_[0]{event} eq 'update' && $_[0]{stream}[0] eq 'public:local'
    && decode_json($_[0]{payload})->{id} eq $p4->{id} }), '... the same post on public:local');

$s->send_json({ type => 'unsubscribe', stream => 'hashtag', tag => 'birds' });
ok($t->wait_for(sub { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:hashtag:birds'); $n == 0 }),
    'unsubscribe: the channel is left');
post('bob', status => 'tweet again #birds', visibility => 'public');
ok(live($s, 'timeline:public:local'), 'public:local still live');
ok(!$s->wait_message(sub { $_[0]{event} eq 'update' && $_[0]{stream}[0] eq 'hashtag' }, 0.5),
    'no more hashtag events');

$s->send_json({ type => 'subscribe', stream => 'nonsense' });
$msg = $s->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Unknown stream type', status => 400 }, "an unknown stream: Mastodon's error");
$s->send_json({ type => 'subscribe', stream => 'hashtag' });
$msg = $s->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Missing tag name parameter', status => 400 }, 'hashtag without a tag');
$s->send_json({ type => 'subscribe', stream => 'list' });
$msg = $s->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Missing list name parameter', status => 400 }, 'list without a list');
$s->send_json({ type => 'subscribe', stream => 'list', list => '999' });
$msg = $s->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Not authorized to stream this list', status => 401 }, 'no such list');
$s->send_json({ type => 'unsubscribe', stream => 'nonsense' });
$msg = $s->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Error unsubscribing from channel' }, 'unsubscribe error');
$s->send_text('this is not JSON');
$s->send_json({ type => 'dance' });
$s->send_json([1, 2]);
ok(live($s, 'timeline:public:local'), 'bad messages are ignored, the socket lives');

my $wo = $t->token(user_id => $u{dave}{user_id}, scopes => 'write');
my $w = StreamClient->ws($port, '/api/v1/streaming', { Authorization => "Bearer $wo" });
$w->send_json({ type => 'subscribe', stream => 'user' });
$msg = $w->wait_message(sub { exists $_[0]{error} });
is_deeply($msg, { error => 'Access token does not have the required scopes', status => 401 },
    'the user stream without read scope');
$w->send_json({ type => 'subscribe', stream => 'public' });
ok(live($w, 'timeline:public'), '... the public stream needs none');
$w->close;

# --- size limit, binary, early bytes, pings ---
ok($t->reconfigure_nginx(http_config => "mastodon_streaming_heartbeat 300ms;\n    mastodon_streaming_max_message 1k;"),
    'pings every 300 ms');
my $big = ws('', 'dave');
$big->send_text('{"type":"subscribe","stream":"' . ('x' x 2000) . '"}');
ok($big->wait_closed(5), 'a message over mastodon_streaming_max_message closes the socket');
my $bin = ws('', 'dave');
$bin->send_frame(2, "\x00\x01");
ok($bin->wait_closed(5), 'a binary message closes the socket');
is($bin->close_code, 1003, '... with 1003');
is($bin->close_reason, 'The mastodon streaming server does not support binary messages', "... Mastodon's reason");
my $early = StreamClient->ws($port, '/api/v1/streaming', { Authorization => "Bearer $u{dave}{token}" },
    early => '{"type":"subscribe","stream":"public:remote"}');
ok(live($early, 'timeline:public:remote'), 'a message sent with the handshake is read');
ok($t->wait_for(sub { $early->pump(0.1); $early->pings >= 2 }, 5), 'pings come');
ok(!$early->closed, '... answered, the socket stays');
my $mute = ws('', 'dave', no_pong => 1);
ok($mute->wait_closed(5), 'a client that never answers pings is closed');

# --- a revoked token closes its sockets ----------------------------------------------------------------------
my $app = $t->app;
my $tok = $t->token(user_id => $u{dave}{user_id}, app_id => $app->{id});
my $k = StreamClient->ws($port, '/api/v1/streaming?stream=public', { Authorization => "Bearer $tok" });
ok(live($k, 'timeline:public'), 'a socket of a token');
$m->post_ok('/oauth/revoke', form => { client_id => $app->{client_id}, client_secret => $app->{client_secret},
    token => $tok })->status_is(200);
ok($k->wait_closed(5), 'revoking the token closes it');

# --- a reload: the old workers close their streams at once ----------------------------------------------------
my $old_ws = ws('?stream=public', 'alice');
my $old_sse = StreamClient->sse($port, '/api/v1/streaming/public', { Authorization => "Bearer $u{alice}{token}" });
ok(live($old_ws, 'timeline:public'), 'a socket before the reload');
is($old_sse->status, 200, 'an event stream before the reload');
ok($t->reconfigure_nginx(http_config => "mastodon_streaming_heartbeat 30s;"), 'reload (pings every 30 s again)');
ok($old_ws->wait_closed(5), "the old worker's socket is closed");
is($old_ws->close_code, 1001, '... with a close frame, 1001 going away');
ok($old_sse->wait_closed(5), "the old worker's event stream is closed");
my $new_ws = ws('?stream=public', 'alice');
ok(live($new_ws, 'timeline:public'), 'the client reconnects to a new worker');
$new_ws->close;

# --- Redis restarted under open streams: they stay and get events again ------------------------------------------
my $rs = ws('?stream=public', 'dave');
my $rsse = StreamClient->sse($port, '/api/v1/streaming/public', { Authorization => "Bearer $u{dave}{token}" });
ok(live($rs, 'timeline:public'), 'a socket before Redis restarts');
$rsse->pump(0.3);
$_->{seen} = 1 for @{ $rsse->events };
$t->stop_redis;
$rs->pump(0.5);
$rsse->pump(0.1);
$t->start_redis;
ok(live($rs, 'timeline:public'), 'after the restart the same socket gets events again (resubscribed)');
ok($rsse->wait_event(sub { $_[0]{data} =~ /^live/ }, 10), '... and the same event stream');
ok(!$rs->closed && !$rsse->closed, '... neither was closed');
$rs->close;
$rsse->close;

# --- a thousand clients ---------------------------------------------------------------------------------------
my @many;
for my $i (1 .. 1000) {
    push @many, StreamClient->ws($port, '/api/v1/streaming?stream=public:local', { Authorization => "Bearer $u{carol}{token}" },
        no_wait => 1);
}
for my $c (@many) { $c->_head; $c->{ws} = $c->{status} == 101; $c->_parse }
is(scalar(grep { $_->status == 101 } @many), 1000, '1000 sockets open');
my $p5 = post('dave', status => 'to the thousand', visibility => 'public');
my $got = 0;
for my $c (@many) {
    $got++ if $c->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $p5->{id} }, 20);
}
is($got, 1000, 'each of the 1000 gets the post');
$_->close for @many;
ok($t->wait_for(sub { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:public:local'); $n <= 1 }, 20),
    'their subscriptions go with them');

$t->done;
