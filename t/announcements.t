# Announcements (Api::V1::AnnouncementsController, Announcements::
# ReactionsController, the operator's `mastodon-worker announcements`):
# the published ones with the user's read and reactions, dismiss, reactions
# (Unicode emoji or local custom emoji, 8 names at most), scopes, the CLI,
# scheduled publishing by the worker, and the user stream's announcement,
# announcement.reaction and announcement.delete events (SSE and WebSocket).

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json from_json true false);
use Mojo::Util qw(url_escape);
use MastodonTest;
use MastodonEntities qw(entity_errors);
use StreamClient;

my $t = MastodonTest->new(worker => 1, http_config => "mastodon_streaming_heartbeat 30s;");
my $m = $t->mojo;
my $port = $t->port;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});
my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

sub cli {
    my ($rc, $out, $err) = $t->worker_cli('announcements', @_);
    chomp $out;
    return ($rc, $out, $err);
}

sub announcements {
    my ($h) = @_;
    return $m->get_ok('/api/v1/announcements', $h // $ha)->status_is(200)->tx->res->json;
}

# --- streams first: user streams hear announcement events --------------------------------------
my $sse = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => "Bearer $bob->{token}" });
my $ws = StreamClient->ws($port, '/api/v1/streaming?stream=user', { Authorization => "Bearer $bob->{token}" });
my $pub = StreamClient->sse($port, '/api/v1/streaming/public', { Authorization => "Bearer $bob->{token}" });
my $notif = StreamClient->sse($port, '/api/v1/streaming/user/notification',
    { Authorization => "Bearer $bob->{token}" });
is($sse->status, 200, 'an SSE user stream');
is($ws->status, 101, 'a WebSocket user stream');

sub live { my ($c, $channel) = @_; return $c->live($t, $channel) }
ok(live($sse, 'timeline:announcements') && live($ws, 'timeline:announcements'),
    'the user streams listen to the announcements channel');
ok(live($pub, 'timeline:public') && live($notif, "timeline:$bob->{account_id}:notifications"),
    '... the public and notification streams are live too');

sub sse_event {
    my ($name, $match) = @_;
    my $e = $sse->wait_event(sub { $_[0]{event} eq $name && (!$match || $match->($_[0]{data})) }, 20);
    return $e ? decode_json($e->{data}) : undef;      # bytes
}
sub ws_event {
    my ($name, $match) = @_;
    my $e = $ws->wait_message(sub { $_[0]{event} eq $name && (!$match || $match->($_[0]{payload})) }, 20);
    return $e ? from_json($e->{payload}) : undef;     # characters already
}

# --- nothing yet; scopes ----------------------------------------------------------------------------
is_deeply(announcements(), [], 'no announcements');
$m->get_ok('/api/v1/announcements')->status_is(401);
my $app_token = $t->token(user_id => undef);
$m->get_ok('/api/v1/announcements', $t->bearer($app_token))->status_is(422, 'an app token: no user');
my $push_only = $t->bearer($t->token(user_id => $alice->{user_id}, scopes => 'push'));
$m->get_ok('/api/v1/announcements', $push_only)->status_is(200, 'index: any scope (no doorkeeper_authorize!)');

# --- the CLI: add publishes at once ------------------------------------------------------------------
$t->psql("INSERT INTO custom_emojis (shortcode, image_file_name, image_content_type)"
    . " VALUES ('blobcat', 'blobcat.png', 'image/png')");
my ($rc, $id, $err) = cli('add', "Hello \@alice and #News, see https://example.com/x :blobcat:",
    '--starts-at', '2030-01-01T10:00:00Z', '--ends-at', '2030-01-02T10:00:00Z', '--all-day');
is($rc, 0, 'announcements add') or diag $err;
like($id, qr/^\d+$/, '... prints the id');

my $a = sse_event('announcement');
ok($a, 'the SSE user stream got the announcement event');
is($a->{id}, $id, '... its id');
ok(!exists $a->{read}, '... rendered for no one: no read');
is_deeply($a->{reactions}, [], '... no reactions');
my $w = ws_event('announcement');
is($w->{id}, $id, 'the WebSocket user stream got it too');
ok(!$pub->wait_event(sub { $_[0]{event} =~ /^announcement/ }, 1), 'not the public stream');
ok(!$notif->wait_event(sub { $_[0]{event} =~ /^announcement/ }, 0.5), 'not the notification stream');

my $list = announcements();
is(scalar @$list, 1, 'one announcement');
my $e = $list->[0];
my @errors = entity_errors($e, 'Announcement');
is_deeply(\@errors, [], 'an Announcement entity') or diag explain \@errors;
is($e->{id}, $id, 'its id');
is($e->{read}, false, 'not read');
is($e->{all_day}, true, 'all day');
is($e->{starts_at}, '2030-01-01T10:00:00.000Z', 'starts_at');
is($e->{ends_at}, '2030-01-02T10:00:00.000Z', 'ends_at');
like($e->{published_at}, $ISO, 'published_at');
like($e->{updated_at}, $ISO, 'updated_at');
like($e->{content}, qr{^<p>Hello <span class="h-card"}, 'content is linkified HTML');
like($e->{content}, qr{href="https://example.com/x"}, '... its link');
like($e->{content}, qr{/tags/News}, '... its hashtag');
is(scalar @{ $e->{mentions} }, 1, 'mentions: alice');
is_deeply([@{ $e->{mentions}[0] }{qw(id username acct)}], ["$alice->{account_id}", 'alice', 'alice'],
    '... id, username, acct');
like($e->{mentions}[0]{url}, qr{^https?://[^/]+/\@alice$}, '... url');
is(scalar @{ $e->{tags} }, 1, 'tags: one');
is($e->{tags}[0]{name}, 'News', '... its name');
like($e->{tags}[0]{url}, qr{^https?://[^/]+/tags/News$}, '... its url');
is_deeply($e->{statuses}, [], 'statuses');
is(scalar @{ $e->{emojis} }, 1, 'emojis: the custom emoji');
is($e->{emojis}[0]{shortcode}, 'blobcat', '... blobcat');
like($e->{emojis}[0]{static_url}, qr{/custom_emojis/images/.*/static/blobcat\.png$}, '... its static url');
is($a->{content}, $e->{content}, 'the event and the API show the same content');
is_deeply($a->{emojis}, $e->{emojis}, '... and emojis');

# --- dismiss --------------------------------------------------------------------------------------------
$m->post_ok("/api/v1/announcements/$id/dismiss", $push_only)->status_is(403, 'dismiss needs write:accounts');
$m->post_ok("/api/v1/announcements/$id/dismiss", $ha)->status_is(200)->json_is('' => {});
$m->post_ok("/api/v1/announcements/$id/dismiss", $ha)->status_is(200, 'dismissing twice: fine');
$m->post_ok('/api/v1/announcements/999999/dismiss', $ha)->status_is(404)->json_is('/error', 'Record not found');
is(announcements()->[0]{read}, true, 'read for alice');
is(announcements($hb)->[0]{read}, false, 'not for bob');

# --- reactions -----------------------------------------------------------------------------------------
my $thumbs = "\x{1F44D}";
my $path = "/api/v1/announcements/$id/reactions/" . url_escape(Mojo::Util::encode('UTF-8', $thumbs));
my $fav_only = $t->bearer($t->token(user_id => $bob->{user_id}, scopes => 'write:favourites'));
$m->put_ok($path, $push_only)->status_is(403, 'reactions need write:favourites');
$m->put_ok($path, $ha)->status_is(200)->json_is('' => {});
my $r = sse_event('announcement.reaction');
is_deeply($r, { name => $thumbs, count => 1, announcement_id => "$id" }, 'announcement.reaction event');
$r = ws_event('announcement.reaction');
is($r->{count}, 1, '... over the WebSocket too');
$m->put_ok($path, $fav_only)->status_is(200, 'bob reacts, with write:favourites alone');
$r = sse_event('announcement.reaction', sub { decode_json($_[0])->{count} == 2 });
ok($r, 'the count is 2');
$m->put_ok($path, $ha)->status_is(200, 'the same reaction again: nothing changes');
$m->put_ok("/api/v1/announcements/$id/reactions/blobcat", $ha)->status_is(200, 'a local custom emoji');
$r = sse_event('announcement.reaction', sub { decode_json($_[0])->{name} eq 'blobcat' });
like($r->{url}, qr{/custom_emojis/images/.*/original/blobcat\.png$}, '... its event has its url');
like($r->{static_url}, qr{/static/blobcat\.png$}, '... and static_url');

$m->put_ok("/api/v1/announcements/$id/reactions/nosuch", $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: Name is not a recognized emoji');
$m->put_ok("/api/v1/announcements/$id/reactions/abc", $ha)->status_is(422, 'plain text is no emoji');
$m->put_ok("/api/v1/announcements/999999/reactions/blobcat", $ha)->status_is(404);

$list = announcements();
is_deeply($list->[0]{reactions}[0], { name => $thumbs, count => 2, me => true }, "alice's view: me");
is($list->[0]{reactions}[1]{name}, 'blobcat', 'in the order first reacted');
is($list->[0]{reactions}[1]{me}, true, '... hers too');
like($list->[0]{reactions}[1]{url}, qr{/original/blobcat\.png$}, '... with its url');
is_deeply(announcements($hb)->[0]{reactions}[1], { name => 'blobcat', count => 1, me => false,
    url => $list->[0]{reactions}[1]{url}, static_url => $list->[0]{reactions}[1]{static_url} },
    "bob's view: not his");
for my $x (@{ $list->[0]{reactions} }) {
    my @re = entity_errors($x, 'Reaction');
    is_deeply(\@re, [], "$x->{name}: a Reaction entity") or diag explain \@re;
}

# 8 distinct names at most (ReactionValidator::LIMIT); an existing one can still be added to
my @more = map { chr($_) } 0x1F600 .. 0x1F605;
for my $x (@more) {
    $m->put_ok("/api/v1/announcements/$id/reactions/" . url_escape(Mojo::Util::encode('UTF-8', $x)), $ha)
      ->status_is(200);
}
$m->put_ok("/api/v1/announcements/$id/reactions/" . url_escape(Mojo::Util::encode('UTF-8', "\x{1F606}")), $ha)
  ->status_is(422)->json_is('/error', 'Validation failed: Maximum number of different reactions reached');
$m->put_ok("/api/v1/announcements/$id/reactions/blobcat", $hb)->status_is(200, 'an existing name: fine');

$m->delete_ok("/api/v1/announcements/$id/reactions/blobcat", $hb)->status_is(200, 'bob takes his back');
$m->delete_ok("/api/v1/announcements/$id/reactions/blobcat", $ha)->status_is(200, '... and alice hers');
$r = sse_event('announcement.reaction', sub { my $p = decode_json($_[0]); $p->{name} eq 'blobcat' && $p->{count} == 0 });
is_deeply($r, { name => 'blobcat', count => 0, announcement_id => "$id" }, 'none left: count 0, no url');
$m->delete_ok($path, $ha)->status_is(200)->json_is('' => {});
$r = sse_event('announcement.reaction', sub { my $p = decode_json($_[0]); $p->{name} eq $thumbs && $p->{count} == 1 });
ok($r, 'removing: the count goes down');
$m->delete_ok($path, $ha)->status_is(404, 'removing it again: 404');
is(announcements()->[0]{reactions}[0]{me}, false, 'no longer hers');

# --- unpublish, publish, remove ------------------------------------------------------------------------
($rc, my $out) = cli('list');
like($out, qr/^$id\tpublished\tHello/m, 'list');
($rc) = cli('unpublish', $id);
is($rc, 0, 'unpublish');
is(sse_event('announcement.delete'), $id, 'announcement.delete event (its id)');
is(ws_event('announcement.delete'), $id, '... on the WebSocket too');
is_deeply(announcements(), [], 'no longer listed');
$m->put_ok($path, $ha)->status_is(404, 'an unpublished one takes no reactions');
$m->post_ok("/api/v1/announcements/$id/dismiss", $ha)->status_is(404, '... nor dismissals');
($rc) = cli('publish', $id);
is($rc, 0, 'publish again');
is(sse_event('announcement')->{id}, $id, 'announcement event');
is(scalar @{ announcements() }, 1, 'listed again');

my ($id2);
($rc, $id2) = cli('add', 'Second');
sse_event('announcement', sub { decode_json($_[0])->{id} eq $id2 });
is_deeply([map { $_->{id} } @{ announcements() }], [$id2, $id],
    'chronological: COALESCE(starts_at, scheduled_at, published_at, created_at)');
($rc) = cli('remove', $id2);
is($rc, 0, 'remove');
is(sse_event('announcement.delete'), $id2, 'removing a published one: announcement.delete');
is(scalar @{ announcements() }, 1, 'gone');
is($t->psql("SELECT count(*) FROM announcements WHERE id = $id2"), 0, '... from the database');

# statuses: the public or unlisted ones the text links to (Status.from_text)
my $st = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'public one' })->status_is(200)->tx->res->json;
my $priv = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'private one', visibility => 'private' })
  ->status_is(200)->tx->res->json;
my $id5;
($rc, $id5) = cli('add', "See $st->{url} and $priv->{url}");
my $ev5 = sse_event('announcement', sub { decode_json($_[0])->{id} eq $id5 });
is_deeply($ev5->{statuses}, [{ id => $st->{id}, url => $st->{url} }], 'statuses: the public one linked (event)');
my ($shown5) = grep { $_->{id} eq $id5 } @{ announcements() };
is_deeply($shown5->{statuses}, [{ id => $st->{id}, url => $st->{url} }], '... and in the API');
cli('remove', $id5);
sse_event('announcement.delete');

($rc, undef, $err) = cli('add', '');
is($rc, 2, 'a blank text is refused');
($rc, undef, $err) = cli('add', 'x', '--starts-at', '2030-01-01T00:00:00Z');
is($rc, 2, 'starts_at without ends_at is refused');
($rc) = cli('remove', '999999');
is($rc, 1, 'removing an unknown one fails');

# --- scheduled: published by the worker at its time ----------------------------------------------------
my $when = $t->psql("SELECT to_char((now() + interval '3 seconds') AT TIME ZONE 'UTC',"
    . " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
my $id3;
($rc, $id3) = cli('add', 'Later', '--scheduled-at', $when);
is($rc, 0, 'a scheduled announcement');
($rc, $out) = cli('list');
like($out, qr/^$id3\tscheduled /m, '... listed as scheduled');
ok(!grep({ $_->{id} eq $id3 } @{ announcements() }), '... not shown before its time');
my $s = sse_event('announcement', sub { decode_json($_[0])->{id} eq $id3 });
ok($s, 'the worker published it at its time: the event');
ok($t->wait_for(sub { grep { $_->{id} eq $id3 } @{ announcements() } }), '... and it is listed');

# unpublished before its time: never published
my $id4;
$when = $t->psql("SELECT to_char((now() + interval '2 seconds') AT TIME ZONE 'UTC',"
    . " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
($rc, $id4) = cli('add', 'Never', '--scheduled-at', $when);
cli('unpublish', $id4);
ok(!$sse->wait_event(sub { $_[0]{event} eq 'announcement' && decode_json($_[0]{data})->{id} eq $id4 }, 5),
    'a scheduled one unpublished before its time is not published');
is($t->psql("SELECT published FROM announcements WHERE id = $id4"), 'f', '... still unpublished');

$_->close for $sse, $ws, $pub, $notif;
$t->done;
