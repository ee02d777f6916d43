# The streaming API as server-sent events (streaming/): Mastodon's
# streaming server's paths, auth and errors, each stream's events and not
# others' (a private post never on a public stream, a muted account's posts
# never to the muter), heartbeats, a revoked token closing its streams, a
# client that stops reading dropped.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1,
    http_config => "mastodon_streaming_heartbeat 300ms;\n    mastodon_streaming_max_output 64k;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub sse {
    my ($path, $who, %o) = @_;
    my $headers = $who ? { Authorization => "Bearer $u{$who}{token}" } : {};
    return StreamClient->sse($port, $path, $headers, %o);
}

sub subscribed {
    my ($channel, $n) = @_;
    return $t->wait_for(sub {
        my ($name, $count) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', $channel);
        ($count // 0) >= ($n // 1);
    });
}

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

# --- health, paths, auth, scopes ------------------------------------------------------------
$m->get_ok('/api/v1/streaming/health')->status_is(200)->content_is('OK')
  ->content_type_like(qr{^text/plain});

my $c = sse('/api/v1/streaming/user');
is($c->status, 401, 'no token: 401');
is(decode_json($c->body)->{error}, 'Missing access token', "... Mastodon's message");

$c = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => 'Bearer nosuchtoken' });
is($c->status, 401, 'an unknown token: 401');
is(decode_json($c->body)->{error}, 'Invalid access token', "... Mastodon's message");

my $app_token = $t->token(user_id => undef);
$c = StreamClient->sse($port, "/api/v1/streaming/public?access_token=$app_token", {});
is($c->status, 401, 'an app token: 401 (the streaming server needs a user)');
is(decode_json($c->body)->{error}, 'Invalid access token', '... Invalid access token');

$c = sse('/api/v1/streaming/nothing', 'alice');
is($c->status, 400, 'an unknown stream: 400');
is(decode_json($c->body)->{error}, 'Unknown channel requested', "... Mastodon's message");

$c = sse('/api/v1/streaming/hashtag', 'alice');
is($c->status, 400, 'hashtag without tag: 400');
is(decode_json($c->body)->{error}, 'Missing tag name parameter', "... Mastodon's message");

$c = sse('/api/v1/streaming/list', 'alice');
is($c->status, 400, 'list without list: 400');
is(decode_json($c->body)->{error}, 'Missing list name parameter', "... Mastodon's message");

$c = sse('/api/v1/streaming/list?list=12345', 'alice');
is($c->status, 401, "no such list: 401");
is(decode_json($c->body)->{error}, 'Not authorized to stream this list', "... Mastodon's message");

my $write_only = $t->token(user_id => $u{alice}{user_id}, scopes => 'write');
$c = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => "Bearer $write_only" });
is($c->status, 401, 'user stream without read: 401');
is(decode_json($c->body)->{error}, 'Access token does not have the required scopes', "... Mastodon's message");
$c = StreamClient->sse($port, '/api/v1/streaming/public', { Authorization => "Bearer $write_only" });
is($c->status, 200, 'the public stream needs no scope');
$c->close;

my $notif_only = $t->token(user_id => $u{alice}{user_id}, scopes => 'read:notifications');
$c = StreamClient->sse($port, '/api/v1/streaming/user/notification', { Authorization => "Bearer $notif_only" });
is($c->status, 200, 'read:notifications reads the notification stream');
$c->close;
$c = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => "Bearer $notif_only" });
is($c->status, 401, '... not the user stream');

# the token as a query parameter
$c = StreamClient->sse($port, "/api/v1/streaming/public/local?access_token=$u{bob}{token}", {});
is($c->status, 200, 'access_token parameter');
like($c->header('content-type'), qr{^text/event-stream}, 'text/event-stream');
is($c->header('cache-control'), 'no-store', 'Cache-Control: no-store');
ok($c->wait_event(sub { 0 }, 0.1) || 1);
is($c->comments->[0], ')', 'the stream opens with ":)"');
ok($t->wait_for(sub { $c->pump(0.1); grep { $_ eq 'thump' } @{ $c->comments } }, 5), 'heartbeat ":thump"');
$c->close;

# --- events: each stream gets its own ----------------------------------------------------------
# every home feed exists (as for users who use their app)
$m->get_ok('/api/v1/timelines/home', $h{$_})->status_is(200) for sort keys %u;
$m->post_ok("/api/v1/accounts/$id{bob}/follow", $h{alice})->status_is(200);
$m->post_ok("/api/v1/accounts/$id{bob}/mute", $h{carol})->status_is(200);

my %s = (
    alice_user  => sse('/api/v1/streaming/user', 'alice'),
    alice_notif => sse('/api/v1/streaming/user/notification', 'alice'),
    carol_user  => sse('/api/v1/streaming/user', 'carol'),
    dave_public => sse('/api/v1/streaming/public', 'dave'),
    carol_public => sse('/api/v1/streaming/public', 'carol'),
    dave_local  => sse('/api/v1/streaming/public/local', 'dave'),
    dave_remote => sse('/api/v1/streaming/public/remote', 'dave'),
    dave_media  => sse('/api/v1/streaming/public?only_media=true', 'dave'),
    dave_tag    => sse('/api/v1/streaming/hashtag?tag=Cats', 'dave'),
    dave_tag_local => sse('/api/v1/streaming/hashtag/local?tag=cats', 'dave'),
    dave_direct => sse('/api/v1/streaming/direct', 'dave'),
);
is($s{$_}->status, 200, "$_ stream open") for sort keys %s;

ok(subscribed("timeline:$id{alice}"), 'the user stream subscribed timeline:<id>');
ok(subscribed("timeline:$id{alice}:notifications"), '... and its notifications');
ok(subscribed('timeline:public'), 'timeline:public');
ok(subscribed('timeline:public:local'), 'timeline:public:local');
ok(subscribed('timeline:public:remote'), 'timeline:public:remote');
ok(subscribed('timeline:public:media'), 'timeline:public:media');
ok(subscribed('timeline:hashtag:cats'), 'timeline:hashtag:cats (normalized)');
ok(subscribed('timeline:hashtag:cats:local'), 'timeline:hashtag:cats:local');
ok(subscribed("timeline:direct:$id{dave}"), 'timeline:direct:<id>');
ok(subscribed("timeline:access_token:" . $t->psql("SELECT id FROM oauth_access_tokens"
    . " WHERE token = '" . Digest::SHA::sha256_hex($u{dave}{token}) . "'"), 1), "the token's channel");

my $p1 = post('bob', status => 'hello #cats', visibility => 'public');
my $ev = $s{alice_user}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p1->{id} });
ok($ev, "a followed account's post: update on the follower's user stream");
is($ev && decode_json($ev->{data})->{content}, $p1->{content}, '... the Status as its data');
ok($s{dave_public}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p1->{id} }),
    'public stream: update');
ok($s{dave_local}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p1->{id} }),
    'public:local stream: update');
ok($s{dave_tag}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p1->{id} }),
    'hashtag stream: update');
ok($s{dave_tag_local}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p1->{id} }),
    'hashtag:local stream: update');

# a private post, a post by a muted account, a mention, a direct message
my $p2 = post('bob', status => 'followers only #cats', visibility => 'private');
my $p3 = post('dave', status => 'dave speaks', visibility => 'public');
my $p4 = post('bob', status => '@alice hi', visibility => 'public');
my $p5 = post('alice', status => '@dave secret', visibility => 'direct');

ok($s{carol_public}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p3->{id} }),
    "the muter's public stream gets others' posts");
ok($s{alice_user}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p2->{id} }),
    'a private post reaches the follower');
ok($s{alice_notif}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{type} eq 'mention' && decode_json($_[0]{data})->{status}{id} eq $p4->{id} }),
    'mention: notification on the notification stream');
ok($s{alice_user}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{type} eq 'mention' }), '... and on the user stream');
ok($s{dave_direct}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p5->{id} }),
    'direct stream: the direct message');

# deletes: data is the id
$m->delete_ok("/api/v1/statuses/$p1->{id}", $h{bob})->status_is(200);
ok($s{dave_public}->wait_event(sub { $_[0]{event} eq 'delete' && $_[0]{data} eq $p1->{id} }),
    'delete on the public stream, its data the id');
ok($s{alice_user}->wait_event(sub { $_[0]{event} eq 'delete' && $_[0]{data} eq $p1->{id} }),
    'delete on the user stream');

# what must never come
$_->pump(0.5) for values %s;
my @pub = map { decode_json($_->{data})->{id} } grep { $_->{event} eq 'update' } @{ $s{dave_public}->events };
ok(!grep({ $_ eq $p2->{id} } @pub), 'a private post never on the public stream');
ok(!grep({ $_ eq $p5->{id} } @pub), 'a direct post never on the public stream');
my @muter = map { decode_json($_->{data})->{id} } grep { $_->{event} eq 'update' } @{ $s{carol_public}->events };
ok(!grep({ $_ eq $p1->{id} || $_ eq $p4->{id} } @muter), "a muted account's posts never reach the muter");
ok(!@{ $s{carol_user}->events } || !grep({ $_->{event} eq 'update' } @{ $s{carol_user}->events }),
    "a stranger's user stream gets no one's posts");
ok(!grep({ $_->{event} eq 'update' } @{ $s{dave_remote}->events }), 'no local post on public:remote');
ok(!grep({ $_->{event} eq 'update' } @{ $s{dave_media}->events }), 'no post without media on public:media');
ok(!grep({ $_->{event} eq 'update' } @{ $s{alice_notif}->events }), 'no update on the notification stream');
my @tag = map { decode_json($_->{data})->{id} } grep { $_->{event} eq 'update' } @{ $s{dave_tag}->events };
ok(!grep({ $_ eq $p2->{id} } @tag), 'a private post never on the hashtag stream');

# --- a status without a rendering (a remote post's): the event names it, each stream renders it
my $p6 = post('bob', status => 'rendered where it streams #cats', visibility => 'public');
ok($s{dave_public}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p6->{id} }),
    'a post on the public stream');
$t->redis('DEL', "mastodon:payload:status:$p6->{id}");
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'distribute', qq({"status_id":"$p6->{id}"}));
is($rc, 0, 'distributed again, its rendering gone') or diag $err;
$ev = $s{dave_public}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p6->{id} });
ok($ev, '... the event (the id only) is rendered by the stream');
is($ev && decode_json($ev->{data})->{content}, $p6->{content}, '... as the Status');
is($ev && decode_json($ev->{data})->{account}{id}, $id{bob}, '... with its account');
ok($s{dave_tag}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p6->{id} }),
    '... on the hashtag stream too');
# a private status' id where a stranger listens: not shown to them
$t->redis('PUBLISH', 'timeline:public', qq({"event":"update","status_id":"$p2->{id}"}));
$t->redis('PUBLISH', 'timeline:public', qq({"event":"update","status_id":"$p3->{id}"}));
ok($s{dave_public}->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p3->{id} }),
    'a public status by its id');
$s{dave_public}->pump(0.3);
ok(!grep({ $_->{event} eq 'update' && decode_json($_->{data})->{id} eq $p2->{id} } @{ $s{dave_public}->events }),
    "a private status by its id: not for a stranger's stream");
$s{carol_public}->pump(0.3);
ok(!grep({ $_->{event} eq 'update' && decode_json($_->{data})->{id} eq $p6->{id} } @{ $s{carol_public}->events }),
    "... nor a muted account's to the muter");

# --- notifications: the event names the notification, the stream renders it for its user ------------
sub notification_is_shown {
    my ($ev, $type, $what) = @_;
    my $n = $ev ? decode_json($ev->{data}) : {};
    my $shown = $m->get_ok("/api/v1/notifications/" . ($n->{id} // 0), $h{alice})->status_is(200)->tx->res->json;
    is_deeply($n, $shown, "$what: the event is GET /api/v1/notifications/:id");
    is($n->{type}, $type, "... a $type");
    is($n->{account} && $n->{account}{id}, $id{bob}, '... with its account');
    return $n;
}
my $p7 = post('alice', status => 'like this', visibility => 'public');
$m->post_ok("/api/v1/statuses/$p7->{id}/favourite", $h{bob})->status_is(200);
$ev = $s{alice_notif}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{type} eq 'favourite' });
my $n7 = notification_is_shown($ev, 'favourite', 'a favourite');
is($n7->{status} && $n7->{status}{id}, $p7->{id}, '... and its status');
# its renderings gone (Redis was down when the module wrote them): the same, complete
$t->psql("DELETE FROM notifications WHERE id = $n7->{id}");
my @payload_keys = grep { length } split /\n/, $t->redis('KEYS', 'mastodon:payload:*');
$t->redis('DEL', @payload_keys) if @payload_keys;
my $fav_id = $t->psql("SELECT id FROM favourites WHERE status_id = $p7->{id}");
($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'notify', qq({"type":"favourite",)
    . qq("account_id":"$id{alice}","from_account_id":"$id{bob}","activity_type":"Favourite",)
    . qq("activity_id":"$fav_id"}));
is($rc, 0, 'notified again, the renderings gone') or diag $err;
$ev = $s{alice_notif}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{id} ne $n7->{id} && decode_json($_[0]{data})->{type} eq 'favourite' });
my $n8 = notification_is_shown($ev, 'favourite', 'without renderings');
is($n8->{status} && $n8->{status}{id}, $p7->{id}, '... and its status');
# a mention whose status is gone by the time it streams: nothing, not a malformed Notification
$ev = $s{alice_user}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{id} eq $n8->{id} });
ok($ev, '... on the user stream too');
my $mention = $t->psql("SELECT id FROM notifications WHERE type = 'mention' AND account_id = $id{alice} LIMIT 1");
$m->delete_ok("/api/v1/statuses/$p4->{id}", $h{bob})->status_is(200);
$t->redis('PUBLISH', "timeline:$id{alice}:notifications", qq({"event":"notification","notification_id":"$mention"}));
$t->redis('PUBLISH', "timeline:$id{alice}:notifications", qq({"event":"notification","notification_id":"$n8->{id}"}));
ok($s{alice_notif}->wait_event(sub { $_[0]{event} eq 'notification'
    && decode_json($_[0]{data})->{id} eq $n8->{id}}), 'a notification by its id');
$s{alice_notif}->pump(0.3);
ok(!grep({ $_->{event} eq 'notification' && !decode_json($_->{data})->{account} } @{ $s{alice_notif}->events }),
    'no notification without its account');
is(scalar(grep { $_->{event} eq 'notification' && decode_json($_->{data})->{id} eq $mention }
    @{ $s{alice_notif}->events }), 1, "a mention of a status gone: not streamed again");

# --- the list stream: the owner's list only, its feed's events -------------------------------------
my $list = $m->post_ok('/api/v1/lists', $h{alice}, form => { title => 'friends' })->status_is(200)->tx->res->json;
$m->post_ok("/api/v1/lists/$list->{id}/accounts", $h{alice}, form => { 'account_ids[]' => $id{bob} })->status_is(200);
# its feed exists (as for a user who reads the list): the worker fills existing feeds only
$m->get_ok("/api/v1/timelines/list/$list->{id}", $h{alice})->status_is(200);
$c = sse("/api/v1/streaming/list?list=$list->{id}", 'carol');
is($c->status, 401, "someone else's list: 401");
is(decode_json($c->body)->{error}, 'Not authorized to stream this list', "... Mastodon's message");
my $ls = sse("/api/v1/streaming/list?list=$list->{id}", 'alice');
is($ls->status, 200, "the owner's list: 200");
ok(subscribed("timeline:list:$list->{id}"), '... subscribed to timeline:list:<id>');
my $p9 = post('bob', status => 'for my listeners', visibility => 'public');
$ev = $ls->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $p9->{id} });
ok($ev, "a list member's post: update on the list stream");
is($ev && decode_json($ev->{data})->{content}, $p9->{content}, '... the Status as its data');
my $p10 = post('dave', status => 'not in the list', visibility => 'public');
$m->delete_ok("/api/v1/statuses/$p9->{id}", $h{bob})->status_is(200);
ok($ls->wait_event(sub { $_[0]{event} eq 'delete' && $_[0]{data} eq $p9->{id} }), '... and its delete');
ok(!grep({ $_->{event} eq 'update' && decode_json($_->{data})->{id} eq $p10->{id} } @{ $ls->events }),
    "a post of someone not in the list: not on it");
$ls->close;

# --- a revoked token closes its streams at once ---------------------------------------------------
my $app = $t->app;
my $tok = $t->token(user_id => $u{dave}{user_id}, app_id => $app->{id});
my $k = StreamClient->sse($port, '/api/v1/streaming/public', { Authorization => "Bearer $tok" });
is($k->status, 200, 'a stream of a token');
my $tok_id = $t->psql("SELECT id FROM oauth_access_tokens WHERE token = '" . Digest::SHA::sha256_hex($tok) . "'");
ok(subscribed("timeline:access_token:$tok_id"), "... subscribed to its token's channel");
$m->post_ok('/oauth/revoke', form => { client_id => $app->{client_id}, client_secret => $app->{client_secret},
    token => $tok })->status_is(200);
ok($k->wait_closed(5), 'revoking the token closes the stream');
ok($s{dave_public}->pump(0.1) && !$s{dave_public}->closed, "another token's stream stays");

# --- a client that does not read is dropped ----------------------------------------------------------
$s{dave_remote}->close;
ok($t->wait_for(sub { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:public:remote'); $n == 0 }),
    'a stream closed leaves its channel');
my $slow = sse('/api/v1/streaming/public/remote', 'carol', rcvbuf => 65536);
is($slow->status, 200, 'a slow client');
ok($t->wait_for(sub {
    $t->redis('PUBLISH', 'timeline:public:remote', q({"event":"delete","payload":"ping"}));
    $slow->wait_event(sub { $_[0]{data} eq 'ping' }, 0.2) }), '... subscribed');
my $big = 'x' x 8000;
# 8 MB a round, past what the sockets' buffers take
for (1 .. 5) {
    $t->redis('EVAL', "for i = 1, tonumber(ARGV[2]) do redis.call('PUBLISH', KEYS[1], ARGV[1]) end",
        1, 'timeline:public:remote', qq({"event":"delete","payload":"$big"}), 1000);
    last if $t->error_log =~ /the client does not read/;
}
ok($t->wait_for(sub { $t->error_log =~ /stream closed: the client does not read/ }), 'dropped over its output cap');
ok($t->wait_for(sub { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:public:remote'); $n == 0 }),
    '... its subscription gone');
ok($slow->discard->wait_closed(20), '... its connection closed');
my $next = sse('/api/v1/streaming/public/remote', 'carol');
ok($t->wait_for(sub {
    $t->redis('PUBLISH', 'timeline:public:remote', q({"event":"delete","payload":"42"}));
    $next->wait_event(sub { $_[0]{data} eq '42' }, 0.2) }), 'the channel serves the next client');
ok(!$s{dave_public}->pump(0.1)->closed, 'streams of other channels stay');

# --- closing the stream unsubscribes ------------------------------------------------------------------
$_->close for values %s;
ok($t->wait_for(sub { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:public'); $n == 0 }),
    'closed streams leave their channels');

$t->done;
