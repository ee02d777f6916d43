# Custom filters on streams, as Mastodon's streaming server applies them
# (streaming/, the status loader's matching): a status event whose status
# matches a hide filter of the stream's context (home for user and list
# streams, public for public and hashtag streams, notifications for
# notification events) is not sent to that viewer; a warn match carries
# the "filtered" results; a viewer without filters gets the status as it
# is.  Server-sent events and WebSocket alike.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1,
    http_config => "mastodon_streaming_heartbeat 30s;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(alice bob carol);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;
$m->get_ok('/api/v1/timelines/home', $h{$_})->status_is(200) for sort keys %u;
$m->post_ok("/api/v1/accounts/$id{bob}/follow", $h{$_})->status_is(200) for qw(alice carol);

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

sub filter {
    my (%f) = @_;
    return $m->post_ok('/api/v2/filters', $h{alice}, json => \%f)->status_is(200)->tx->res->json;
}

my $hide = filter(title => 'Hidden', context => ['home', 'public'], filter_action => 'hide',
    keywords_attributes => [{ keyword => 'secretword' }]);
my $warn = filter(title => 'Warned', context => ['home', 'public', 'notifications'], filter_action => 'warn',
    keywords_attributes => [{ keyword => 'spoilery' }]);
my $quiet = filter(title => 'Quiet', context => ['notifications'], filter_action => 'hide',
    keywords_attributes => [{ keyword => 'quietword' }]);

sub subscribed {
    my ($channel, $n) = @_;
    return $t->wait_for(sub {
        my (undef, $count) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', $channel);
        ($count // 0) >= ($n // 1);
    });
}

# SSE: alice (filters) and carol (none) on user, public, hashtag; alice's notifications
my %s;
for my $who (qw(alice carol)) {
    my $hd = { Authorization => "Bearer $u{$who}{token}" };
    $s{"${who}_user"} = StreamClient->sse($port, '/api/v1/streaming/user', $hd);
    $s{"${who}_public"} = StreamClient->sse($port, '/api/v1/streaming/public', $hd);
    $s{"${who}_tag"} = StreamClient->sse($port, '/api/v1/streaming/hashtag?tag=cats', $hd);
}
$s{alice_notif} = StreamClient->sse($port, '/api/v1/streaming/user/notification',
    { Authorization => "Bearer $u{alice}{token}" });
is($s{$_}->status, 200, "SSE $_ open") for sort keys %s;

# WebSocket: alice's user stream and public, carol's public
my $wa = StreamClient->ws($port, '/api/v1/streaming?stream=user', { Authorization => "Bearer $u{alice}{token}" });
is($wa->status, 101, 'WebSocket of alice');
$wa->send_json({ type => 'subscribe', stream => 'public' });
$wa->send_json({ type => 'subscribe', stream => 'hashtag', tag => 'cats' });
my $wc = StreamClient->ws($port, '/api/v1/streaming?stream=public', { Authorization => "Bearer $u{carol}{token}" });
is($wc->status, 101, 'WebSocket of carol');

# (one subscription a worker, whatever its clients)
ok(subscribed("timeline:$id{alice}"), "alice's home channel");
ok(subscribed("timeline:$id{carol}"), "carol's home channel");
ok(subscribed("timeline:$id{alice}:notifications"), "... her notifications");
ok(subscribed('timeline:public'), 'timeline:public');
ok(subscribed('timeline:hashtag:cats'), 'timeline:hashtag:cats');

# a WebSocket subscription is live once a message published on its channel arrives
sub live {
    my ($c, $channel, $stream) = @_;
    return $c->live($t, $channel, sub { $_[0]{stream}[0] eq $stream });
}
ok(live($wa, 'timeline:public', 'public'), "alice's socket: public subscribed");
ok(live($wa, 'timeline:hashtag:cats', 'hashtag'), '... hashtag subscribed');
ok(live($wc, 'timeline:public', 'public'), "carol's socket: public");

sub sse_ids {
    my ($c, $event) = @_;
    return map { decode_json($_->{data})->{id} } grep { $_->{event} eq ($event // 'update') } @{ $c->events };
}

sub sse_got {
    my ($c, $id) = @_;
    my $ev = $c->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $id });
    return $ev && decode_json($ev->{data});
}

sub ws_got {
    my ($c, $stream, $id) = @_;
    my $msg = $c->wait_message(sub { $_[0]{event} eq 'update' && $_[0]{stream}[0] eq $stream
        && decode_json($_[0]{payload})->{id} eq $id });
    return $msg && decode_json($msg->{payload});
}

# --- hide: not sent to the viewer whose filter it is --------------------------------------------------
my $hidden = post('bob', status => 'the secretword #cats', visibility => 'public');
my $plain = post('bob', status => 'nothing to see #cats', visibility => 'public');

for my $k (qw(user public tag)) {
    my $st = sse_got($s{"carol_$k"}, $hidden->{id});
    ok($st, "SSE $k: a viewer without filters gets the post");
    ok($st && !exists $st->{filtered}, '... with no "filtered"');
    ok(sse_got($s{"alice_$k"}, $plain->{id}), "SSE $k: the filtering viewer gets the next post");
}
ok(ws_got($wc, 'public', $hidden->{id}), 'WebSocket public: carol gets it');
ok(ws_got($wa, 'user', $plain->{id}), 'WebSocket user: alice gets the next post');
ok(ws_got($wa, 'public', $plain->{id}), 'WebSocket public: the same');
ok(ws_got($wa, 'hashtag', $plain->{id}), 'WebSocket hashtag: the same');

$_->pump(0.5) for values %s;
$wa->wait_message(sub { 0 }, 0.5);
for my $k (qw(user public tag)) {
    ok(!grep({ $_ eq $hidden->{id} } sse_ids($s{"alice_$k"})), "SSE $k: a hide match never reaches its viewer");
}
ok(!grep({ $_->{json} && $_->{json}{event} eq 'update' && decode_json($_->{json}{payload})->{id} eq $hidden->{id} }
    @{ $wa->{messages} }), 'WebSocket: no stream of hers gets it');

# --- warn: sent, with the filter results ----------------------------------------------------------------
my $warned = post('bob', status => 'a spoilery thing #cats', visibility => 'public');
for my $k (qw(user public tag)) {
    my $st = sse_got($s{"alice_$k"}, $warned->{id});
    ok($st, "SSE $k: a warn match is sent");
    is($st && $st->{filtered} && $st->{filtered}[0]{filter}{title}, 'Warned', '... "filtered" names the filter');
    is_deeply($st && $st->{filtered} && $st->{filtered}[0]{keyword_matches}, ['spoilery'],
        '... and the keyword matched');
    is($st && $st->{filtered} && $st->{filtered}[0]{filter}{filter_action}, 'warn', '... a warn filter');
    is($st && $st->{content}, $warned->{content}, '... the Status as it is');
    my $c = sse_got($s{"carol_$k"}, $warned->{id});
    ok($c && !exists $c->{filtered}, "SSE $k: another viewer's copy has no \"filtered\"");
}
for my $k (qw(user public hashtag)) {
    my $st = ws_got($wa, $k, $warned->{id});
    is($st && $st->{filtered} && $st->{filtered}[0]{filter}{id}, $warn->{id},
        "WebSocket $k: the warn match, \"filtered\" with it");
}
my $c = ws_got($wc, 'public', $warned->{id});
ok($c && !exists $c->{filtered}, 'WebSocket: no "filtered" for carol');

# --- the stream's context: a notifications-only hide filter leaves home alone -------------------------
my $quiet_post = post('bob', status => "\@alice quietword", visibility => 'public');
ok(sse_got($s{alice_user}, $quiet_post->{id}), 'a filter of another context: the update is sent');
ok(ws_got($wa, 'user', $quiet_post->{id}), '... over the WebSocket too');
my $loud = post('bob', status => "\@alice loud and clear", visibility => 'public');
my $ev = $s{alice_notif}->wait_event(sub { $_[0]{event} eq 'notification'
    && (decode_json($_[0]{data})->{status} // {})->{id} eq $loud->{id} });
ok($ev, 'a mention: notification sent');
my $msg = $wa->wait_message(sub { $_[0]{event} eq 'notification'
    && (decode_json($_[0]{payload})->{status} // {})->{id} eq $loud->{id} });
ok($msg, '... over the WebSocket too');
$s{alice_notif}->pump(0.5);
$wa->wait_message(sub { 0 }, 0.5);
ok(!grep({ $_->{event} eq 'notification' && (decode_json($_->{data})->{status} // {})->{id} eq $quiet_post->{id} }
    @{ $s{alice_notif}->events }), 'a hide match of the notifications context: no notification (SSE)');
ok(!grep({ $_->{json} && $_->{json}{event} eq 'notification'
    && (decode_json($_->{json}{payload})->{status} // {})->{id} eq $quiet_post->{id} } @{ $wa->{messages} }),
    '... nor over the WebSocket');

# --- filters changed: a dropped filter no longer hides -------------------------------------------------
$m->delete_ok("/api/v2/filters/$hide->{id}", $h{alice})->status_is(200);
my $again = post('bob', status => 'the secretword again #cats', visibility => 'public');
ok(sse_got($s{alice_public}, $again->{id}), 'its filter deleted: the post is sent');
ok(ws_got($wa, 'public', $again->{id}), '... over the WebSocket too');

$_->close for values %s, $wa, $wc;

$t->done;
