# The conversation event (Mastodon's AccountConversation#push_to_streaming_api
# and PushConversationWorker): when a direct status is distributed, each of
# its local participants' direct stream gets the Conversation of that user,
# as GET /api/v1/conversations shows it to them; likewise when a thread
# changes (marked read, a status of it deleted while others stay).  Not on
# the user stream (Mastodon's channel is timeline:direct:<account>).
# Server-sent events and WebSocket alike.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1, http_config => "mastodon_streaming_heartbeat 30s;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(alice bob carol);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

my $bob_sse = StreamClient->sse($port, '/api/v1/streaming/direct', { Authorization => "Bearer $u{bob}{token}" });
my $bob_ws = StreamClient->ws($port, '/api/v1/streaming?stream=direct', { Authorization => "Bearer $u{bob}{token}" });
my $bob_user = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => "Bearer $u{bob}{token}" });
my $alice_sse = StreamClient->sse($port, '/api/v1/streaming/direct', { Authorization => "Bearer $u{alice}{token}" });
my $carol_sse = StreamClient->sse($port, '/api/v1/streaming/direct', { Authorization => "Bearer $u{carol}{token}" });
is($bob_ws->status, 101, 'a WebSocket on the direct stream');

# a stream is live once a message published on its channel arrives
sub live { my ($c, $channel) = @_; return $c->live($t, $channel) }
ok(live($bob_sse, "timeline:direct:$id{bob}") && live($bob_ws, "timeline:direct:$id{bob}"),
    "bob's direct streams are subscribed");
ok(live($alice_sse, "timeline:direct:$id{alice}") && live($carol_sse, "timeline:direct:$id{carol}"),
    '... and the others');
ok(live($bob_user, "timeline:$id{bob}"), "... and bob's user stream");

# the conversation of a user as GET /api/v1/conversations shows it (its one thread here)
sub shown {
    my ($who) = @_;
    my $list;
    $t->wait_for(sub {
        $list = $m->get_ok('/api/v1/conversations', $h{$who})->status_is(200)->tx->res->json;
        @$list == 1;
    });
    return $list->[0];
}

sub conversation_is {
    my ($got, $who, $last, $unread, $what) = @_;
    ok($got, "$what: a conversation event") or return;
    my $c = decode_json($got);
    my $shown = shown($who);
    is($c->{id}, $shown->{id}, "$what: the user's thread");
    is($c->{last_status} && $c->{last_status}{id}, $last, "$what: its last status");
    is($c->{unread} ? 1 : 0, $unread, "$what: unread $unread");
    is_deeply([map { $_->{id} } @{ $c->{accounts} }], [map { $_->{id} } @{ $shown->{accounts} }],
        "$what: the other participants");
    is_deeply([sort keys %$c], [sort keys %$shown], "$what: the Conversation entity's members");
}

sub sse_conversation {
    my ($c, $match) = @_;
    my $ev = $c->wait_event(sub { $_[0]{event} eq 'conversation' && (!$match || $match->(decode_json($_[0]{data}))) });
    return $ev && $ev->{data};
}

sub ws_conversation {
    my ($c, $match) = @_;
    my $msg = $c->wait_message(sub { $_[0]{event} eq 'conversation'
        && (!$match || $match->(decode_json($_[0]{payload}))) });
    is_deeply($msg && $msg->{stream}, ['direct'], 'the WebSocket names the direct stream') if $msg;
    return $msg && $msg->{payload};
}

# --- a direct status distributed -----------------------------------------------------------------
my $d1 = post('alice', status => "\@bob a secret", visibility => 'direct');
conversation_is(sse_conversation($bob_sse), 'bob', $d1->{id}, 1, "bob's event stream");
conversation_is(ws_conversation($bob_ws), 'bob', $d1->{id}, 1, "bob's WebSocket");
conversation_is(sse_conversation($alice_sse), 'alice', $d1->{id}, 0, "the author's own");
ok($bob_sse->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $d1->{id} }),
    'the update is on the direct stream too');
my $thread = shown('bob')->{id};

# --- marked read: the thread again ------------------------------------------------------------------
$m->post_ok("/api/v1/conversations/$thread/read", $h{bob})->status_is(200);
conversation_is(sse_conversation($bob_sse, sub { !$_[0]{unread} }), 'bob', $d1->{id}, 0, 'marked read');

# --- a second status, then deleted: the thread with the first again ------------------------------
my $d2 = post('alice', status => "\@bob another", visibility => 'direct', in_reply_to_id => $d1->{id});
conversation_is(sse_conversation($bob_sse, sub { ($_[0]{last_status} // {})->{id} eq $d2->{id} }),
    'bob', $d2->{id}, 1, 'a reply in the thread');
$m->delete_ok("/api/v1/statuses/$d2->{id}", $h{alice})->status_is(200);
conversation_is(sse_conversation($bob_sse, sub { ($_[0]{last_status} // {})->{id} eq $d1->{id} }),
    'bob', $d1->{id}, 1, 'its last status deleted');

# --- not on the user stream, nor to a stranger ---------------------------------------------------------
$bob_user->pump(0.3);
$carol_sse->pump(0.1);
ok(!grep({ $_->{event} eq 'conversation' } @{ $bob_user->events }), 'no conversation event on the user stream');
ok(!grep({ $_->{event} eq 'conversation' } @{ $carol_sse->events }), "none on a stranger's direct stream");

# --- one that cannot be shown is not sent ------------------------------------------------------------
$t->redis('PUBLISH', "timeline:direct:$id{carol}", qq({"event":"conversation","conversation_id":"$thread"}));
$t->redis('PUBLISH', "timeline:direct:$id{carol}", q({"event":"delete","payload":"after"}));
ok($carol_sse->wait_event(sub { $_[0]{event} eq 'delete' && $_[0]{data} eq 'after' }), 'a later event arrives');
ok(!grep({ $_->{event} eq 'conversation' } @{ $carol_sse->events }), "another user's thread is not rendered for carol");

$_->close for $bob_sse, $bob_ws, $bob_user, $alice_sse, $carol_sse;
$t->done;
