# Media uploads (issue 11, the API): POST /api/v2/media and /api/v1/media,
# GET, PUT and DELETE /api/v1/media/:id.  The type is decided from the
# bytes (an HTML file named .png, an SVG, a 0-byte file: Mastodon's 422);
# the size limit is the type's; the upload is handed to the worker by a
# link into the spool (mastodon_media_spool) and a media_process job in the
# "media" queue, nginx's temporary file goes at the request's end and a
# refused upload leaves nothing anywhere.  The MediaAttachment entity
# attribute for attribute, 202/206 while processing, 422 once it failed.

use strict;
use warnings;
use utf8;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    # no worker here: v1 answers without waiting for one (media_av.t waits)
    http_config => 'mastodon_media_image_size_limit 100k; mastodon_media_v1_wait 0;',
    location_config => 'client_max_body_size 8m;');
my $m = $t->mojo;
my $dir = $t->dir;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $A = $t->bearer($alice->{token});

my $B = 'm3DiAbOuNdArY';
sub body {
    my (%o) = @_;
    my $b = '';
    for my $k (grep { $_ ne 'file' } sort keys %o) {
        $b .= "--$B\r\nContent-Disposition: form-data; name=\"$k\"\r\n\r\n$o{$k}\r\n";
    }
    if (my $f = $o{file}) {
        $b .= "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"$f->[0]\"\r\n"
            . "Content-Type: $f->[1]\r\n\r\n$f->[2]\r\n";
    }
    return $b . "--$B--\r\n";
}
sub upload {
    my ($path, $token, %o) = @_;
    return $m->post_ok($path, { Authorization => "Bearer $token",
        'Content-Type' => "multipart/form-data; boundary=$B" }, body(%o));
}

my $png = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR" . ("\x01" x 300);
my $jpeg = "\xff\xd8\xff\xe0\0\x10JFIF\0" . ("\x02" x 200);
my $mp4 = "\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41" . ("\x03" x 1000);

sub spool_files { $t->spool_files }
sub temp_files { my @f = grep { -f } glob("$dir/body/*"); scalar @f }
sub no_temp_files {
    for (1 .. 100) { return 1 unless temp_files(); select undef, undef, undef, 0.1 }
    return 0;
}
sub slurp { open my $fh, '<:raw', $_[0] or return undef; local $/; <$fh> }

my @keys = sort qw(id type url preview_url remote_url preview_remote_url text_url meta description blurhash);
my $part = qr{\d{3}(?:/\d{3}){2,}};

# --- an upload, v2: 202 while the worker has it ---------------------------------
upload('/api/v2/media', $alice->{token}, description => 'a cat', focus => '0.5,-0.25',
    file => [ 'cat.jpg', 'image/jpeg', $png ])->status_is(202, 'v2: 202 while processing');
my $e = $m->tx->res->json;
is_deeply [ sort keys %$e ], \@keys, 'the MediaAttachment entity, attribute for attribute';
like $e->{id}, qr/^\d+$/, 'id: a string of digits';
is $e->{type}, 'image', 'the type from the bytes (a PNG, whatever the name says)';
is $e->{url}, undef, 'url: null until processed';
like $e->{preview_url}, qr{^\Q@{[$t->public_base]}\E/system/media_attachments/files/$part/small/[0-9a-f]{16}\.png$},
    'preview_url: the small style, at Paperclip\'s path';
is $e->{remote_url}, undef, 'remote_url: null for a local upload';
is $e->{preview_remote_url}, undef;
is $e->{text_url}, undef;
is_deeply $e->{meta}, { focus => { x => 0.5, y => -0.25 } }, 'meta: the focus given';
is $e->{description}, 'a cat';
is $e->{blurhash}, undef, 'blurhash: null until processed';

my $id = $e->{id};
is $t->psql("SELECT file_content_type || ' ' || file_file_size || ' ' || processing || ' ' || type"
    . " || ' ' || account_id FROM media_attachments WHERE id = $id"),
    'image/png ' . length($png) . " 0 0 $alice->{account_id}", 'the row: sniffed type, size, queued';
like $t->psql("SELECT file_file_name FROM media_attachments WHERE id = $id"), qr/^[0-9a-f]{16}\.png$/,
    'file name: random hex and the type\'s extension';

# the job, and the file it points at
my @jobs = $t->take_jobs('media');
is scalar @jobs, 1, 'one job in the media queue';
is $jobs[0]{type}, 'media_process';
is $jobs[0]{args}{id}, $id, 'the job names the attachment';
is $jobs[0]{args}{size}, length $png;
like $jobs[0]{args}{spool}, qr{^\Q$dir\E/media_spool/[0-9a-f]{16}$}, 'the spool file, under mastodon_media_spool';
my $spooled = slurp($jobs[0]{args}{spool});
ok defined $spooled, 'the upload is in the spool after the request';
is substr($spooled, $jobs[0]{args}{offset}, $jobs[0]{args}{size}), $png, 'its bytes at the offset the job gives';
ok no_temp_files(), 'nginx\'s temporary file is gone (the spool holds its own link)';

# --- v1: answered at once (no wait) -----------------------------------------------------
upload('/api/v1/media', $alice->{token}, file => [ 'clip.mp4', 'application/octet-stream', $mp4 ])
  ->status_is(200, 'v1: 200')
  ->json_is('/type', 'video', 'an MP4, whatever its declared type')
  ->json_is('/url', undef)
  ->json_is('/meta', undef, 'meta: null without a focus')
  ->json_is('/description', undef)
  ->json_like('/preview_url', qr{/small/[0-9a-f]{16}\.png$}, 'a video\'s preview: a PNG frame');
my $vid = $m->tx->res->json('/id');
@jobs = $t->take_jobs('media');
is $jobs[0]{args}{id}, $vid, 'v1 queues the same job';
is spool_files(), 2, 'two uploads in the spool';

# --- GET: 206 while processing, 200 done, 422 failed ------------------------------
$m->get_ok("/api/v1/media/$id", $A)->status_is(206)->json_is('/id', $id)->json_is('/url', undef);
$t->psql("UPDATE media_attachments SET processing = 2, blurhash = 'LEHV6nWB2yk8pyo0adR*.7kCMdnj',"
    . " file_meta = '{\"original\":{\"width\":640,\"height\":480,\"size\":\"640x480\",\"aspect\":1.3333333333333333},"
    . "\"focus\":{\"x\":0.5,\"y\":-0.25}}' WHERE id = $id");
my $name = $t->psql("SELECT file_file_name FROM media_attachments WHERE id = $id");
$m->get_ok("/api/v1/media/$id", $A)->status_is(200, '200 once processed')
  ->json_like('/url', qr{^\Q@{[$t->public_base]}\E/system/media_attachments/files/$part/original/\Q$name\E$})
  ->json_is('/blurhash', 'LEHV6nWB2yk8pyo0adR*.7kCMdnj')
  ->json_is('/meta/original/width', 640)
  ->json_is('/meta/original/size', '640x480');
my $url = $m->tx->res->json('/url');
my $padded = sprintf '%09d', $id;
my $want = join '/', $padded =~ /(\d{3})/g;
like $url, qr{/files/\Q$want\E/original/}, 'the id partition: the id in groups of three';

$t->psql("UPDATE media_attachments SET processing = 3 WHERE id = $vid");
$m->get_ok("/api/v1/media/$vid", $A)->status_is(422)
  ->json_is('/error', 'Error processing thumbnail for uploaded media', 'failed: check_processing\'s 422');
$m->put_ok("/api/v1/media/$vid", $A, json => { description => 'x' })->status_is(422);

# --- PUT: description and focus; the rest of meta stays ---------------------------
$m->put_ok("/api/v1/media/$id", $A, json => { description => 'a black cat', focus => '-1,1' })
  ->status_is(200)
  ->json_is('/description', 'a black cat')
  ->json_is('/meta/focus', { x => -1, y => 1 })
  ->json_is('/meta/original/width', 640, 'meta keeps the original');
$m->put_ok("/api/v1/media/$id", $A, form => { focus => '0.25,0.75' })->status_is(200)
  ->json_is('/description', 'a black cat', 'description untouched when not given')
  ->json_is('/meta/focus', { x => 0.25, y => 0.75 });
$m->put_ok("/api/v1/media/$id", $A, json => { description => 'é' x 1501 })->status_is(422)
  ->json_is('/error', 'Validation failed: Description is too long (maximum is 1500 characters)');
$m->put_ok("/api/v1/media/$id", $A, json => { description => 'é' x 1500 })->status_is(200,
    '1500 characters (not bytes) are fine');

# --- someone else's, attached, unknown --------------------------------------------
my $Bb = $t->bearer($bob->{token});
$m->get_ok("/api/v1/media/$id", $Bb)->status_is(404, 'someone else\'s media: not found');
$m->put_ok("/api/v1/media/$id", $Bb, json => { description => 'mine' })->status_is(404);
$m->delete_ok("/api/v1/media/$id", $Bb)->status_is(404);
$m->get_ok('/api/v1/media/123456789', $A)->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok('/api/v1/media/abc', $A)->status_is(404);
$m->get_ok("/api/v1/media/$id")->status_is(401, 'a token is needed');
my $read_only = $t->token(user_id => $alice->{user_id}, scopes => 'read');
$m->get_ok("/api/v1/media/$id", $t->bearer($read_only))->status_is(403, 'write:media is needed');
upload('/api/v2/media', $read_only, file => [ 'a.png', 'image/png', $png ])->status_is(403);

my $status = $t->psql("INSERT INTO statuses (account_id, text, visibility, local) VALUES"
    . " ($alice->{account_id}, 'with media', 0, true) RETURNING id");
$t->psql("UPDATE media_attachments SET status_id = $status WHERE id = $vid");
$m->get_ok("/api/v1/media/$vid", $A)->status_is(404, 'attached media is no longer there to edit');
$m->delete_ok("/api/v1/media/$vid", $A)->status_is(422)
  ->json_is('/error', 'Media attachment is currently used by a status');
is $t->psql("SELECT count(*) FROM media_attachments WHERE id = $vid"), 1, 'attached media stays';

# --- DELETE ------------------------------------------------------------------------
$m->delete_ok("/api/v1/media/$id", $A)->status_is(200)->content_is('{}', 'render_empty');
is $t->psql("SELECT count(*) FROM media_attachments WHERE id = $id"), 0, 'deleted';
my @rm = $t->take_jobs('media');
is scalar @rm, 1, 'one job for its files';
is $rm[0]{type}, 'media_remove';
is_deeply $rm[0]{args}, { id => $id, file_file_name => $name, thumbnail_file_name => undef }, 'naming the attachment and its file';
$m->delete_ok("/api/v1/media/$id", $A)->status_is(404, 'then not found');

# --- hostile files: each a clean 422, nothing left anywhere ------------------------
my $spooled_before = spool_files();
my $invalid = 'Validation failed: File content type is invalid, File is invalid';
for my $case (
    [ 'an SVG', 'evil.svg', 'image/svg+xml',
      qq{<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>} ],
    [ 'an SVG named .png', 'evil.png', 'image/png', qq{<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>} ],
    [ 'HTML named .png', 'page.png', 'image/png', "<!DOCTYPE html><html><script>alert(1)</script></html>" ],
    [ 'a 0-byte file', 'empty.jpg', 'image/jpeg', '' ],
    [ 'a truncated signature', 'short.png', 'image/png', "\x89PNG\r" ],
    [ 'a PDF', 'doc.jpg', 'image/jpeg', "%PDF-1.7\n" . ('x' x 100) ],
) {
    my ($what, $fname, $type, $bytes) = @$case;
    upload('/api/v2/media', $alice->{token}, file => [ $fname, $type, $bytes ])
      ->status_is(422, "$what: 422")->json_is('/error', $invalid, "$what: Mastodon's error");
}

upload('/api/v2/media', $alice->{token}, description => 'no file')->status_is(422)
  ->json_is('/error', "Validation failed: File can't be blank", 'no file: can\'t be blank');
$m->post_ok('/api/v2/media', $A, json => { description => 'json' })->status_is(422)
  ->json_is('/error', "Validation failed: File can't be blank", 'a JSON body has no file either');
upload('/api/v2/media', $alice->{token}, description => 'x' x 1501, file => [ 'a.png', 'image/png', $png ])
  ->status_is(422)->json_is('/error', 'Validation failed: Description is too long (maximum is 1500 characters)');

# over the limit of its type (mastodon_media_image_size_limit 100k here)
my $big = $jpeg . ("\x05" x (100 * 1024));
upload('/api/v2/media', $alice->{token}, file => [ 'big.jpg', 'image/jpeg', $big ])->status_is(422)
  ->json_is('/error', 'Validation failed: File file size must be less than 100 KB, File must be less than 100 KB',
      'an image over the image limit: Paperclip\'s errors');
upload('/api/v2/media', $alice->{token}, file => [ 'big.jpg', 'image/jpeg', substr($big, 0, 100 * 1024 - 1) ])
  ->status_is(202, 'just under the limit is fine');
my $under = $m->tx->res->json('/id');
upload('/api/v2/media', $alice->{token}, file => [ 'big.mp4', 'video/mp4', $mp4 . ("\x05" x (100 * 1024)) ])
  ->status_is(202, 'a video of that size is under the video limit');

is scalar(() = $t->take_jobs('media')), 2, 'jobs only for the accepted uploads';
is spool_files(), $spooled_before + 2, 'refused uploads leave nothing in the spool';
ok no_temp_files(), 'and no temporary file';
is $t->psql("SELECT count(*) FROM media_attachments WHERE account_id = $alice->{account_id}"), 3,
    'rows only for the accepted uploads';

# the instance reports the limits in force
$m->get_ok('/api/v2/instance')->status_is(200)
  ->json_is('/configuration/media_attachments/image_size_limit', 102400)
  ->json_is('/configuration/media_attachments/video_size_limit', 103809024);

like $t->error_log, qr/upload of no supported media type/, 'refusals logged at info';
unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts';

done_testing;
