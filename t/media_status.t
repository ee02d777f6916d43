# Media on statuses (issue 11): media_ids[] on POST /api/v1/statuses as
# Mastodon's PostStatusService#validate_media! (at most 4, only the
# author's unattached and processed media, no video with others: 422 with
# Mastodon's texts, nothing attached), a status of media only, and
# media_attachments in every Status render in the order of media_ids: the
# status, the account's and public timelines (only_media), the tag
# timeline, a reblog, the context, the home timeline after the worker's
# fan-out and the :media streaming channels.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Mojo::JSON qw(true false);
use MastodonTest qw(slurp);
use MastodonEntities qw(entity_errors status_errors);
use FanoutTest;

my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 8m;');
my $m = $t->mojo;
my $dir = $t->dir;
$t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 2);
my $f = FanoutTest->new($t);

my %u = map { $_ => $t->user($_) } qw(alice bob);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

system('vips', 'gaussnoise', "$dir/noise.jpg", 40, 30) == 0 or die 'vips failed';
my $jpeg = slurp("$dir/noise.jpg");

my $B = 'sTaTuSmEdIaBoUnDaRy';
sub upload {
    my ($who, %o) = @_;
    my $body = '';
    $body .= "--$B\r\nContent-Disposition: form-data; name=\"description\"\r\n\r\n$o{description}\r\n"
        if defined $o{description};
    $body .= "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
        . "Content-Type: image/jpeg\r\n\r\n$jpeg\r\n--$B--\r\n";
    $m->post_ok('/api/v2/media', { %{ $h{$who} }, 'Content-Type' => "multipart/form-data; boundary=$B" },
        $body);
    my $mid = $m->tx->res->json('/id') or die 'upload failed: ' . $m->tx->res->body;
    return $mid;
}
sub processed {
    my ($who, $mid) = @_;
    return $t->wait_for(sub { $m->ua->get("/api/v1/media/$mid" => $h{$who})->res->code == 200 }, 60);
}
sub post {
    my ($who, $json) = @_;
    return $m->post_ok('/api/v1/statuses', $h{$who}, json => $json);
}
sub attached { $t->psql("SELECT coalesce(status_id::text, 'none') FROM media_attachments WHERE id = $_[0]") }
sub ids { [ map { $_->{id} } @{ $_[0] } ] }

my @a = map { upload('alice', description => "picture $_") } 1 .. 5;
my $b1 = upload('bob');
ok(processed('alice', $_), "media $_ processed") for @a;
ok(processed('bob', $b1), "bob's processed");

# media rows in the other states (as the worker leaves them)
my $row = sub {
    my ($type, $processing) = @_;
    return $t->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
        . " file_content_type, file_meta) VALUES ($id{alice}, $type, $processing,"
        . " '0123456789abcdef.mp4', 'video/mp4', '{}') RETURNING id");
};
my $queued = $row->(0, 0);
my $failed = $row->(0, 3);
my $video = $row->(2, 2);

# --- the attach rules ---------------------------------------------------------------
post('alice', { status => 'five', media_ids => [ @a[0 .. 4] ] })->status_is(422)
  ->json_is('/error', 'Cannot attach more than 4 files', 'more than 4: too_many');
post('alice', { status => 'bob\'s', media_ids => [ $a[0], $b1 ] })->status_is(422)
  ->json_is('/error', "Media $b1 not found or already attached to another post",
    "someone else's media: not_found, with the ids not found");
post('alice', { status => 'queued', media_ids => [ $a[0], $queued ] })->status_is(422)
  ->json_is('/error', 'Cannot attach files that have not finished processing. Try again in a moment!',
    'still processing: not_ready');
post('alice', { status => 'failed', media_ids => [ $failed ] })->status_is(422)
  ->json_is('/error', 'Cannot attach files that have not finished processing. Try again in a moment!',
    'failed processing: not_ready too');
post('alice', { status => 'video', media_ids => [ $a[0], $video ] })->status_is(422)
  ->json_is('/error', 'Cannot attach a video to a post that already contains images',
    'a video with an image: images_and_video');
post('alice', { status => 'unknown', media_ids => [ '999999999' ] })->status_is(422)
  ->json_is('/error', 'Media 999999999 not found or already attached to another post');
is attached($_), 'none', 'nothing attached by a refused post' for @a[0, 1], $b1, $video;
is $t->psql("SELECT count(*) FROM statuses WHERE account_id = $id{alice}"), 0, 'and nothing posted';

# --- a post of media only, in the order given ----------------------------------------
$m->get_ok('/api/v1/timelines/home', $h{bob})->status_is(200);       # bob's feed exists
$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{bob})->status_is(200);
my $sub = $f->subscribe('timeline:public:media', 'timeline:public:local:media', 'timeline:public');

post('alice', { media_ids => [ $a[2], $a[0], $a[1], $a[0] ], sensitive => true })->status_is(200, 'media only: no text needed');
my $s = $m->tx->res->json;
is_deeply [ status_errors($s) ], [], 'a Status entity';
is_deeply ids($s->{media_attachments}), [ @a[2, 0, 1] ], 'media_attachments in the order of media_ids';
is_deeply [ entity_errors($_, 'MediaAttachment') ], [], 'MediaAttachment entities' for @{ $s->{media_attachments} };
is $s->{media_attachments}[0]{description}, 'picture 3';
like $s->{media_attachments}[0]{url}, qr{/system/media_attachments/files/.*/original/}, 'the url';
is $s->{content}, '', 'no text';
is attached($a[$_]), $s->{id}, "media $_ attached" for 0 .. 2;
is $t->psql("SELECT ordered_media_attachment_ids::text FROM statuses WHERE id = $s->{id}"),
   "{$a[2],$a[0],$a[1]}", 'ordered_media_attachment_ids';

post('alice', { status => 'again', media_ids => [ $a[0] ] })->status_is(422)
  ->json_is('/error', "Media $a[0] not found or already attached to another post", 'already attached');

# form body: media_ids[]
$m->post_ok('/api/v1/statuses', $h{alice}, form => { status => 'text and one #pics', 'media_ids[]' => [ $a[3] ] })
  ->status_is(200);
my $s2 = $m->tx->res->json;
is_deeply ids($s2->{media_attachments}), [ $a[3] ], 'form: media_ids[]';
post('alice', { status => 'no media #pics' })->status_is(200);
my $plain = $m->tx->res->json;
is_deeply $plain->{media_attachments}, [], 'none: an empty array';

# --- every path that renders it --------------------------------------------------------
sub check_media {
    my ($st, $want, $what) = @_;
    is_deeply ids($st->{media_attachments}), $want, $what;
}
$m->get_ok("/api/v1/statuses/$s->{id}", $h{bob})->status_is(200);
check_media($m->tx->res->json, [ @a[2, 0, 1] ], 'GET /api/v1/statuses/:id');
$m->get_ok("/api/v1/statuses/$s->{id}")->status_is(200);
check_media($m->tx->res->json, [ @a[2, 0, 1] ], 'anonymous, from the cache');
$m->get_ok("/api/v1/statuses?id[]=$s->{id}&id[]=$s2->{id}", $h{bob})->status_is(200);
is_deeply [ map { scalar @{ $_->{media_attachments} } } @{ $m->tx->res->json } ], [ 3, 1 ], 'GET /api/v1/statuses?id[]=';

$m->get_ok("/api/v1/accounts/$id{alice}/statuses?only_media=true", $h{bob})->status_is(200);
is_deeply ids($m->tx->res->json), [ $s2->{id}, $s->{id} ], 'account statuses, only_media';
$m->get_ok("/api/v1/timelines/public?only_media=true")->status_is(200);
is_deeply ids($m->tx->res->json), [ $s2->{id}, $s->{id} ], 'public, only_media';
check_media($m->tx->res->json->[1], [ @a[2, 0, 1] ], 'public timeline render');
$m->get_ok("/api/v1/timelines/public?local=true&only_media=1")->status_is(200);
is_deeply ids($m->tx->res->json), [ $s2->{id}, $s->{id} ], 'local, only_media';
$m->get_ok("/api/v1/timelines/public")->status_is(200);
is_deeply ids($m->tx->res->json), [ $plain->{id}, $s2->{id}, $s->{id} ], 'public without only_media: all';
$m->get_ok("/api/v1/timelines/tag/pics?only_media=true")->status_is(200);
is_deeply ids($m->tx->res->json), [ $s2->{id} ], 'tag timeline, only_media';
check_media($m->tx->res->json->[0], [ $a[3] ], 'tag timeline render');

# a reblog carries the original's media; a reply's context shows it
$m->post_ok("/api/v1/statuses/$s->{id}/reblog", $h{bob})->status_is(200);
my $rb = $m->tx->res->json;
is_deeply $rb->{media_attachments}, [], 'the reblog itself has none';
check_media($rb->{reblog}, [ @a[2, 0, 1] ], 'reblog.media_attachments');
post('bob', { status => '@alice nice', in_reply_to_id => $s->{id} })->status_is(200);
my $reply = $m->tx->res->json;
$m->get_ok("/api/v1/statuses/$reply->{id}/context", $h{bob})->status_is(200);
check_media($m->tx->res->json->{ancestors}[0], [ @a[2, 0, 1] ], 'context: the ancestor');
$m->get_ok("/api/v1/accounts/$id{bob}/statuses", $h{alice})->status_is(200);
check_media($m->tx->res->json->[1]{reblog}, [ @a[2, 0, 1] ], 'account statuses: the reblog');

# the home timeline after the worker's fan-out
ok $t->wait_for(sub {
    my $home = $m->ua->get('/api/v1/timelines/home' => $h{bob})->res->json // [];
    grep { $_->{id} eq $s->{id} } @$home;
}, 60), 'in the follower\'s home';
my ($in_home) = grep { $_->{id} eq $s->{id} } @{ $m->ua->get('/api/v1/timelines/home' => $h{bob})->res->json };
check_media($in_home, [ @a[2, 0, 1] ], 'home timeline render');
is_deeply [ status_errors($in_home) ], [], 'a Status entity in the home timeline';

# the :media channels got the statuses with media, not the one without
# 7 events: each of the three statuses on timeline:public, the two with
# media on both :media channels too (waited for: a loaded box is slow)
my @msg;
for (1 .. 60) {
    push @msg, $sub->messages(count => 7 - @msg, wait => 1);
    last if @msg >= 7;
}
my %n;
# an event carries the rendering, or only the status id when the worker ran before the
# module stored it (the streams render it then)
$n{ $_->{channel} }{ $_->{json}{payload}{id} // $_->{json}{status_id} // '' }++
    for grep { $_->{json}{event} eq 'update' } @msg;
ok $n{'timeline:public:media'}{ $s->{id} } && $n{'timeline:public:local:media'}{ $s->{id} },
   'the media status on the :media channels';
ok !$n{'timeline:public:media'}{ $plain->{id} } && $n{'timeline:public'}{ $plain->{id} },
   'the one without media only on timeline:public';
my ($pm) = grep { $_->{channel} eq 'timeline:public:media' && ($_->{json}{payload}{id} // '') eq $s->{id} } @msg;
check_media($pm->{json}{payload}, [ @a[2, 0, 1] ], 'the streamed payload has the media');

# --- an edit: swap media, change a description (UpdateStatusService) ----------------
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'now with words',
    media_ids => [ $a[1], $a[4] ],
    media_attributes => [ { id => $a[1], description => 'a better picture', focus => '0.5,-0.5' } ] })
  ->status_is(200);
my $ed = $m->tx->res->json;
is_deeply ids($ed->{media_attachments}), [ @a[1, 4] ], 'edit: the media swapped, in the new order';
is $ed->{media_attachments}[0]{description}, 'a better picture', 'media_attributes: the description';
is_deeply $ed->{media_attachments}[0]{meta}{focus}, { x => 0.5, y => -0.5 }, 'media_attributes: the focus';
is $ed->{media_attachments}[1]{description}, 'picture 5';
ok $ed->{edited_at}, 'edited_at';
is attached($a[4]), $s->{id}, 'the new one attached';
is attached($a[2]), $s->{id}, 'one left out stays attached (Mastodon leaves it), not shown';
$m->get_ok("/api/v1/statuses/$s->{id}", $h{bob})->status_is(200);
check_media($m->tx->res->json, [ @a[1, 4] ], 'the rendering was forgotten: the new media');
$m->get_ok("/api/v1/timelines/public?only_media=true")->status_is(200);
check_media($m->tx->res->json->[1], [ @a[1, 4] ], 'public timeline: the new media');

# only a description changes: an edit too
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'now with words',
    media_ids => [ $a[1], $a[4] ], media_attributes => [ { id => $a[4], description => 'five' } ] })
  ->status_is(200);
is $m->tx->res->json('/media_attachments/1/description'), 'five', 'a description alone';

# the refusals of a post, on an edit too; nothing changes
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'x', media_ids => [ $a[1], $b1 ] })
  ->status_is(422)->json_is('/error', "Media $b1 not found or already attached to another post");
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'x', media_ids => [ $a[3] ] })
  ->status_is(422)->json_is('/error', "Media $a[3] not found or already attached to another post",
    'media of another status');
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'x', media_ids => [ $queued ] })
  ->status_is(422)->json_is('/error', 'Cannot attach files that have not finished processing. Try again in a moment!');
$m->put_ok("/api/v1/statuses/$s->{id}", $h{alice}, json => { status => 'x', media_ids => [ 1 .. 5 ] })
  ->status_is(422)->json_is('/error', 'Cannot attach more than 4 files');
$m->get_ok("/api/v1/statuses/$s->{id}", $h{bob})->status_is(200)->json_is('/content', '<p>now with words</p>');

# the history: each version with its media and the descriptions it had
$m->get_ok("/api/v1/statuses/$s->{id}/history", $h{bob})->status_is(200);
my $h = $m->tx->res->json;
is scalar @$h, 3, 'three versions';
is_deeply [ entity_errors($h->[0], 'StatusEdit') ], [], 'a StatusEdit entity';
is_deeply [ map { ids($_->{media_attachments}) } @$h ], [ [ @a[2, 0, 1] ], [ @a[1, 4] ], [ @a[1, 4] ] ],
    'history: the media of each version';
is_deeply [ map { [ map { $_->{description} } @{ $_->{media_attachments} } ] } @$h ],
    [ [ 'picture 3', 'picture 1', 'picture 2' ], [ 'a better picture', 'picture 5' ], [ 'a better picture', 'five' ] ],
    'history: the descriptions each version had';
is_deeply [ entity_errors($h->[1]{media_attachments}[0], 'MediaAttachment') ], [], 'their MediaAttachment entities';

# an edit without media_ids drops them (Mastodon's controller always passes the key)
my $sub3 = $f->subscribe('timeline:public:media', 'timeline:public');
$m->put_ok("/api/v1/statuses/$s2->{id}", $h{alice}, json => { status => 'text and none #pics' })->status_is(200);
is_deeply $m->tx->res->json->{media_attachments}, [], 'an edit without media_ids: no media';
# (the earlier edits' events may still come: only s2's count)
my $of_s2 = sub { grep { ($_->{json}{payload}{id} // $_->{json}{status_id} // '') eq $s2->{id} } @_ };
my @m3;
for (1 .. 60) { push @m3, $of_s2->($sub3->messages(count => 1, wait => 1)); last if @m3 }
push @m3, $of_s2->($sub3->messages(wait => 1));
is_deeply [ sort map { "$_->{channel} $_->{json}{event}" } @m3 ], [ 'timeline:public status.update' ],
    'its status.update: not on the :media channel (with_media? follows ordered_media_attachment_ids)';
$m->get_ok("/api/v1/statuses/$s2->{id}/history", $h{alice})->status_is(200);
is_deeply [ map { ids($_->{media_attachments}) } @{ $m->tx->res->json } ], [ [ $a[3] ], [] ], 'its history';

# --- a delete: the answer keeps the media for a redraft; they are detached -------------
$m->delete_ok("/api/v1/statuses/$s->{id}", $h{alice})->status_is(200);
check_media($m->tx->res->json, [ @a[1, 4] ], 'the delete\'s answer has the media (delete and redraft)');
is attached($_), 'none', "media detached by the delete" for @a[0, 1, 2, 4];
$m->get_ok("/api/v1/statuses/$s->{id}", $h{bob})->status_is(404);
post('alice', { status => 'redrafted', media_ids => [ @a[1, 4] ] })->status_is(200, 'a redraft attaches them again');
my $redraft = $m->tx->res->json;
check_media($redraft, [ @a[1, 4] ], 'the redraft has them');
my @files = map { my $u = $_->{url}; $u =~ s{^https?://[^/]+/system}{$dir/system}; $u } @{ $redraft->{media_attachments} };
ok -f $files[0] && -f $files[1], 'their files are there';

# delete_media=true: the rows go, the worker removes the files
$m->delete_ok("/api/v1/statuses/$redraft->{id}?delete_media=true", $h{alice})->status_is(200);
check_media($m->tx->res->json, [ @a[1, 4] ], 'the answer still shows them');
is $t->psql("SELECT count(*) FROM media_attachments WHERE id IN ($a[1], $a[4])"), 0, 'delete_media: the rows deleted';
ok $t->wait_for(sub { !-e $files[0] && !-e $files[1] }, 60), 'and the files removed by media_remove jobs';
ok -f do { my $u = $s2->{media_attachments}[0]{url}; $u =~ s{^https?://[^/]+/system}{$dir/system}; $u },
   'other media untouched';
$m->get_ok("/api/v1/media/$a[1]", $h{alice})->status_is(404);

done_testing;
