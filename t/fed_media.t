#!/usr/bin/perl
# Media attachments over ActivityPub (issue 9).  Outgoing: a local status'
# processed attachments are Documents in its Note's "attachment" (mediaType,
# url at the original file, name = description, blurhash, focalPoint,
# width, height) at the status URI, in the outbox and in the Create and
# Update the worker delivers (mastodon_ap_attachments() of sql/0022, written
# by lib/mstdn_ap.c).  Incoming: a Create of a Note with Documents stores
# remote attachments (worker/inbox_media.c, mastodon_remote_media_set()),
# which the Status entity shows as Mastodon shows uncached remote media
# (url and preview_url through the media proxy, remote_url, description,
# blurhash, meta; GET /media_proxy redirects to the remote file); an Update that swaps them is reflected and is an edit.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use InboxRecorder;
use Mojo::IOLoop::Server;
use Mojo::JSON qw(decode_json);
use Mojo::File qw(path);

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push,ingress', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;
sub records { $rec->records }
sub first_of { $rec->first_of(@_) }
sub reset_log { $rec->reset }

my $alice = $t->user('alice', password => 'correct horse battery');
my $m = $t->mojo;
my $auth = $t->bearer($alice->{token});
my $base = 'http://' . $t->domain;
my $AP = 'application/activity+json';
my $R = 'https://b.example';

my $bob = $rec->account('bob', 'b.example');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob, $alice->{account_id})");
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($alice->{account_id}, $bob)");

# --- outgoing ------------------------------------------------------------------------
# processed uploads, as the worker leaves them
sub media {
    my ($file, $type, $ctype, $meta, $desc, $hash) = @_;
    return $t->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
        . " file_content_type, file_meta, description, blurhash) VALUES ($alice->{account_id},"
        . " $type, 2, '$file', '$ctype', '$meta', " . (defined $desc ? "'$desc'" : 'NULL') . ", "
        . (defined $hash ? "'$hash'" : 'NULL') . ") RETURNING id");
}
my $img = media('aaaa.png', 0, 'image/png',
    '{"original":{"width":640,"height":480,"size":"640x480","aspect":1.3333},"focus":{"x":0.5,"y":-0.25}}',
    'a cat', 'LEHV6nWB2yk8pyo0adR*.7kCMdnj');
my $vid = media('bbbb.jpg', 0, 'image/jpeg', '{"original":{"width":320,"height":240}}', undef, undef);

sub partition { my $s = sprintf('%09d', $_[0]); join '/', ($s =~ /(\d{3})/g) }

my $st = $m->post_ok('/api/v1/statuses', $auth, json => { status => 'with pictures',
    media_ids => [ "$vid", "$img" ] })->status_is(200)->tx->res->json;
is_deeply([ map { $_->{id} } @{ $st->{media_attachments} } ], [ "$vid", "$img" ], 'posted with two attachments');

my @want = (
    { type => 'Document', mediaType => 'image/jpeg',
      url => "$base/system/media_attachments/files/" . partition($vid) . '/original/bbbb.jpg',
      name => undef, blurhash => undef, width => 320, height => 240 },
    { type => 'Document', mediaType => 'image/png',
      url => "$base/system/media_attachments/files/" . partition($img) . '/original/aaaa.png',
      name => 'a cat', blurhash => 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', focalPoint => [0.5, -0.25],
      width => 640, height => 480 },
);

my $create = first_of('Create');
ok($create, 'a Create is delivered');
is_deeply($create->{object}{attachment}, \@want, 'its Note carries the Documents in the status\' order');
ok((grep { ref $_ eq 'HASH' && ($_->{blurhash} // '') eq 'toot:blurhash' && $_->{focalPoint} } @{ $create->{'@context'} }),
   'the context defines blurhash and focalPoint');

my $doc = $m->get_ok("/users/alice/statuses/$st->{id}", { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply($doc->{attachment}, \@want, 'the Note at the status URI: the same Documents');

my $page = $m->get_ok('/users/alice/outbox?page=true', { Accept => $AP })->status_is(200)->tx->res->json;
my ($item) = grep { ref $_->{object} && $_->{object}{id} eq $doc->{id} } @{ $page->{orderedItems} };
is_deeply($item && $item->{object}{attachment}, \@want, 'the outbox\'s Create: the same Documents');

# an edit that drops one: Update with the rest
reset_log();
$m->put_ok("/api/v1/statuses/$st->{id}", $auth, json => { status => 'one picture', media_ids => [ "$img" ] })
  ->status_is(200);
my $update = first_of('Update');
ok($update, 'an Update is delivered');
is_deeply($update->{object}{attachment}, [ $want[1] ], 'with the attachments left');

# no media: an empty attachment array, as Mastodon writes it
my $plain = $m->post_ok('/api/v1/statuses', $auth, json => { status => 'words only' })->status_is(200)->tx->res->json;
$doc = $m->get_ok("/users/alice/statuses/$plain->{id}", { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply($doc->{attachment}, [], 'no media: attachment []');

# --- incoming ------------------------------------------------------------------------
my $n = 0;
sub process { $t->inbox_process($_[0], signer_id => $bob) }
sub act {
    my ($type, %o) = @_;
    $n++;
    return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/activities/$n",
             type => $type, actor => "$R/users/bob", %o };
}
sub rnote {
    my ($k, $content, @att) = @_;
    return { id => "$R/users/bob/statuses/$k", type => 'Note', attributedTo => "$R/users/bob",
             content => $content, to => ['https://www.w3.org/ns/activitystreams#Public'],
             cc => [], attachment => \@att, published => '2026-12-01T10:00:00Z' };
}
sub document {
    my ($name, %o) = @_;
    return { type => 'Document', mediaType => 'image/jpeg', url => "$R/media/$name.jpg", %o };
}

process(act('Create', object => rnote(1, '<p>remote pictures</p>',
    document('one', name => '  first picture  ', blurhash => 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',
             width => 1200, height => 800, focalPoint => [-0.5, 0.25]),
    document('two', mediaType => 'video/mp4', url => "$R/media/two.mp4",
             icon => { type => 'Image', url => "$R/media/two-thumb.jpg" }, summary => 'a clip'),
    document('bad', url => 'javascript:alert(1)'),
    document('three', mediaType => 'audio/mpeg', url => "$R/media/three.mp3", blurhash => 'not a hash!'),
    document('four', mediaType => 'application/pdf', url => "$R/media/four.pdf"),
    document('five'))));
my $sid = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/bob/statuses/1'");
ok($sid, 'the remote status is stored');

my $ha = $t->bearer($alice->{token});
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($alice->{account_id}, $bob) ON CONFLICT DO NOTHING");
my $s = $m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->tx->res->json;
my $ma = $s->{media_attachments};
is(scalar @$ma, 4, 'four attachments kept (Status::MEDIA_ATTACHMENTS_LIMIT), the unusable URL skipped');
is_deeply([ map { $_->{type} } @$ma ], [qw(image video audio unknown)], 'types from mediaType');
is_deeply([ map { $_->{remote_url} } @$ma ],
          [ "$R/media/one.jpg", "$R/media/two.mp4", "$R/media/three.mp3", "$R/media/four.pdf" ],
          'remote_url: the Document\'s url, in order');
is($ma->[0]{url}, "$base/media_proxy/$ma->[0]{id}/original", 'url: the media proxy while not cached');
is($ma->[0]{preview_url}, "$base/media_proxy/$ma->[0]{id}/small", 'preview_url: the media proxy');
is($ma->[0]{description}, 'first picture', 'description: name, stripped');
is($ma->[1]{description}, 'a clip', 'description: summary first');
is($ma->[0]{blurhash}, 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', 'a valid blurhash kept');
is($ma->[2]{blurhash}, undef, 'an invalid one dropped');
is($ma->[1]{preview_remote_url}, "$R/media/two-thumb.jpg", 'preview_remote_url: the icon');
is_deeply($ma->[0]{meta}{original}, { width => 1200, height => 800, size => '1200x800', aspect => 1.5 },
          'meta.original from width and height');
is_deeply($ma->[0]{meta}{focus}, { x => -0.5, y => 0.25 }, 'meta.focus from focalPoint');
my %first = map { $_->{remote_url} => $_->{id} } @$ma;

# the media proxy: to the remote file while it is not cached here
$m->get_ok("/media_proxy/$ma->[0]{id}/original")->status_is(302)
  ->header_is(Location => "$R/media/one.jpg", 'the proxy redirects to the remote file');
$m->get_ok("/media_proxy/$ma->[1]{id}/small")->status_is(302)
  ->header_is(Location => "$R/media/two-thumb.jpg", 'its preview to the remote thumbnail');
$m->get_ok("/media_proxy/$ma->[0]{id}/small")->status_is(302)
  ->header_is(Location => "$R/media/one.jpg", 'no thumbnail: the file');
$m->get_ok("/media_proxy/$img/original")->status_is(404);
$m->get_ok('/media_proxy/12345/original')->status_is(404);
$t->psql("UPDATE statuses SET visibility = 2 WHERE id = $sid");
$m->get_ok("/media_proxy/$ma->[0]{id}/original")->status_is(404);
$m->get_ok("/media_proxy/$ma->[0]{id}/original", $ha)->status_is(302, 'a follower sees a private one');
$t->psql("UPDATE statuses SET visibility = 0 WHERE id = $sid");

# an Update that swaps them: one kept, one new, the others gone
process(act('Update', object => rnote(1, '<p>remote pictures</p>',
    document('five', name => 'new one'),
    document('one', name => 'first picture, described again'))));
# (the cached rendering goes with the edit's status_forget job)
$t->wait_for(sub { $s = $m->ua->get("/api/v1/statuses/$sid" => $ha)->res->json;
                   $s && @{ $s->{media_attachments} } == 2 }, 30);
$ma = $s->{media_attachments};
is_deeply([ map { $_->{remote_url} } @$ma ], [ "$R/media/five.jpg", "$R/media/one.jpg" ],
          'an Update\'s attachments replace the old ones, in its order');
is($ma->[1]{id}, $first{"$R/media/one.jpg"}, 'the one with the same URL is the same attachment');
is($ma->[1]{description}, 'first picture, described again', '... its description refreshed');
ok($s->{edited_at}, 'changed attachments alone make an edit');
is($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid"), 2,
   'status_edits: the version before and the new one');
is($t->psql("SELECT array_to_string(ordered_media_attachment_ids, ',') FROM status_edits WHERE status_id = $sid ORDER BY id DESC LIMIT 1"),
   join(',', map { $_->{id} } @$ma), 'the new version records the attachments in order');
my $hist = $m->get_ok("/api/v1/statuses/$sid/history", $ha)->status_is(200)->tx->res->json;
is(scalar @$hist, 2, 'the history: two versions');
is_deeply([ map { $_->{remote_url} } @{ $hist->[1]{media_attachments} } ], [ "$R/media/five.jpg", "$R/media/one.jpg" ],
          "the last version's attachments");
is($hist->[1]{media_attachments}[1]{description}, 'first picture, described again', "... with that version's description");
is(scalar @{ $hist->[0]{media_attachments} }, 4, 'the first version: the four it had');

# an Update without attachments removes them all
process(act('Update', object => rnote(1, '<p>remote pictures</p>')));
$t->wait_for(sub { $s = $m->ua->get("/api/v1/statuses/$sid" => $ha)->res->json;
                   $s && !@{ $s->{media_attachments} } }, 30);
is_deeply($s->{media_attachments}, [], 'an Update without attachments: none left');

$rec->stop;
done_testing;
