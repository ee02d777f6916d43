# Video, gifv and audio (issue 11, the worker's ffmpeg): an animated GIF
# becomes a gifv (H.264 MP4 without sound), an MP4 already H.264/AAC in
# yuv420p keeps its streams (VIDEO_PASSTHROUGH_OPTIONS), another video is
# transcoded (VIDEO_FORMAT), a video without sound is a gifv, the first
# frame is the small PNG preview with a blurhash, audio becomes MP3; meta
# as Mastodon's (original: width, height, frame_rate, duration, bitrate;
# small: the preview's geometry).  Hostile files (a truncated MP4, an MP4
# header with garbage, a video over the frame size limit) end in the
# failed state the API reports, the worker alive, no temporary file left.
# The media queue has threads of its own.  Fixtures are made with ffmpeg.
# POST /api/v2/media answers 202 for what Mastodon delays (video, audio,
# and an animated GIF, a gifv once transcoded), 200 for a still GIF.

use strict;
use warnings;

use Test::More;
use FindBin;
use MastodonTest qw(slurp);

my $ROOT = "$FindBin::Bin/..";
my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 16m;',
    server_config => "root .; include $ROOT/conf/media.conf;");
my $m = $t->mojo;
my $dir = $t->dir;
my $wpid = $t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1,
    MASTODON_MEDIA_CONCURRENCY => 1);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});

sub ffmpeg { system('ffmpeg', '-nostdin', '-loglevel', 'error', '-y', @_) == 0 or die "ffmpeg @_ failed" }
sub probe {
    my ($file, $entries) = @_;
    my $out = `ffprobe -v error -show_entries $entries -of default=nw=1 $file`;
    return { map { split /=/, $_, 2 } split /\n/, $out };
}

ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '0.5', "$dir/anim.gif");
ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=40x30:rate=1', '-frames:v', '1', "$dir/still.gif");
ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=160x120:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440',
    '-t', '1', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    '-metadata', 'title=SecretTitle', '-metadata', 'location=+48.8577+002.2950/', "$dir/h264.mp4");
like `ffprobe -v error -show_format $dir/h264.mp4`, qr/SecretTitle/, 'the fixture has a title tag';
ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=161x121:rate=10', '-t', '1', '-c:v', 'mpeg4',
    "$dir/mpeg4.mp4");
ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', '-c:a', 'libmp3lame', "$dir/tone.mp3");
ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', "$dir/tone.wav");

my $B = 'aVbOuNdArY';
sub upload {
    my ($name, $type, $bytes, $version) = @_;
    $m->post_ok('/api/' . ($version // 'v2') . '/media',
        { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" },
        "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"$name\"\r\n"
        . "Content-Type: $type\r\n\r\n$bytes\r\n--$B--\r\n");
    return $m->tx->res->json('/id');
}

sub processed { $t->media_processed($_[0], $A, 60) }

sub path_of { $t->path_of(@_) }
sub spool_files { $t->spool_files }
my $blurhash = qr/^[0-9A-Za-z#\$%*+,\-.:;=?\@\[\]^_{|}~]{36}$/;

sub served {
    my ($url, $type, $what) = @_;
    my $tx = $m->ua->get(path_of($url));
    is $tx->res->code, 200, "$what served";
    is $tx->res->headers->content_type, $type, "$what as $type";
    is $tx->res->headers->header('X-Content-Type-Options'), 'nosniff', "$what: nosniff";
    return "$dir" . path_of($url);
}

# --- an animated GIF: gifv ---------------------------------------------------------------
my $id = upload('anim.gif', 'image/gif', slurp("$dir/anim.gif"));
$m->status_is(202, 'v2: an animated GIF, a gifv: 202 as Mastodon')->json_is('/type', 'gifv');
my ($code, $e) = processed($id);
is $code, 200, 'animated GIF processed';
is $e->{type}, 'gifv', 'type gifv';
like $e->{url}, qr{/original/[0-9a-f]{16}\.mp4$}, 'url: an MP4';
like $e->{preview_url}, qr{/small/[0-9a-f]{16}\.png$}, 'preview_url: the first frame, PNG';
like $e->{blurhash}, $blurhash, 'a blurhash of the first frame';
is $e->{meta}{original}{width}, 64;
is $e->{meta}{original}{height}, 48;
is $e->{meta}{original}{frame_rate}, '10/1', 'frame_rate as ffprobe says it';
ok $e->{meta}{original}{duration} > 0.3 && $e->{meta}{original}{duration} < 0.8, 'duration';
ok $e->{meta}{original}{bitrate} > 0, 'bitrate';
is_deeply $e->{meta}{small}, { width => 64, height => 48, size => '64x48', aspect => 64 / 48 }, 'small';
my $file = served($e->{url}, 'video/mp4', 'the gifv');
my $p = probe($file, 'stream=codec_name,pix_fmt');
is $p->{codec_name}, 'h264', 'H.264';
is $p->{pix_fmt}, 'yuv420p';
unlike `ffprobe -v error -show_streams $file`, qr/codec_type=audio/, 'no sound';
served($e->{preview_url}, 'image/png', 'the preview');
like $t->psql("SELECT file_content_type || ' ' || type FROM media_attachments WHERE id = $id"),
    qr{^video/mp4 1$}, 'the row: video/mp4, gifv (1)';

# --- a still GIF: an image, processed in the request (200) -----------------------------------
$id = upload('still.gif', 'image/gif', slurp("$dir/still.gif"));
$m->status_is(200, 'v2: a still GIF: 200 processed')->json_is('/type', 'image')
  ->json_is('/meta/original/size', '40x30');

# --- an H.264/AAC MP4: streams copied --------------------------------------------------------
$id = upload('h264.mp4', 'video/mp4', slurp("$dir/h264.mp4"));
$m->status_is(202, 'v2: a video: 202 at once')->json_is('/url', undef, 'url null while processing');
($code, $e) = processed($id);
is $code, 200, 'MP4 processed';
is $e->{type}, 'video', 'with sound: video';
is $e->{meta}{original}{size}, undef, 'original: no size key (video meta)';
is $e->{meta}{original}{width}, 160;
is $e->{meta}{original}{frame_rate}, '10/1';
ok abs($e->{meta}{original}{duration} - 1) < 0.2, 'duration about 1 s';
$file = served($e->{url}, 'video/mp4', 'the video');
unlike `ffprobe -v error -show_format $file`, qr/SecretTitle|48\.8577|location/,
    'metadata stripped (the title, the location)';
like `ffprobe -v error -show_streams $file`, qr/codec_name=aac/, 'AAC kept';
is $e->{meta}{small}{size}, '160x120', 'small: the first frame';

# --- another codec, odd sizes, no sound: transcoded, a gifv -----------------------------------
$id = upload('mpeg4.mp4', 'video/mp4', slurp("$dir/mpeg4.mp4"));
($code, $e) = processed($id);
is $code, 200;
is $e->{type}, 'gifv', 'no sound: gifv';
is $e->{meta}{original}{width}, 160, 'cropped to even width';
is $e->{meta}{original}{height}, 120, 'and height';
$p = probe("$dir" . path_of($e->{url}), 'stream=codec_name');
is $p->{codec_name}, 'h264', 'transcoded to H.264';

# --- audio: MP3 -----------------------------------------------------------------------------
$id = upload('tone.mp3', 'audio/mpeg', slurp("$dir/tone.mp3"));
$m->status_is(202, 'v2: audio: 202 at once')->json_is('/url', undef);
($code, $e) = processed($id);
is $code, 200, 'MP3 processed';
is $e->{type}, 'audio';
like $e->{url}, qr{\.mp3$};
is $e->{preview_url}, undef, 'no preview';
ok abs($e->{meta}{original}{duration} - 1) < 0.2, 'duration';
ok $e->{meta}{original}{bitrate} > 0, 'bitrate';
served($e->{url}, 'audio/mpeg', 'the audio');
my $audio = $id;
my $gifv_id;

$id = upload('tone.wav', 'audio/wav', slurp("$dir/tone.wav"));
($code, $e) = processed($id);
is $code, 200, 'WAV processed';
like $e->{url}, qr{\.mp3$}, 'WAV becomes MP3';
$p = probe("$dir" . path_of($e->{url}), 'stream=codec_name');
is $p->{codec_name}, 'mp3';

# --- PUT thumbnail: audio and video only ------------------------------------------------------
system('vips', 'gaussnoise', "$dir/cover.png", 1280, 720) == 0 or die;
sub put_thumbnail {
    my ($mid, $bytes, %fields) = @_;
    my $body = "--$B\r\nContent-Disposition: form-data; name=\"thumbnail\"; filename=\"c.png\"\r\n"
        . "Content-Type: image/png\r\n\r\n$bytes\r\n";
    $body .= "--$B\r\nContent-Disposition: form-data; name=\"$_\"\r\n\r\n$fields{$_}\r\n" for keys %fields;
    $m->put_ok("/api/v1/media/$mid", { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" },
        $body . "--$B--\r\n");
}
put_thumbnail($audio, slurp("$dir/cover.png"), description => 'a tone');
$m->status_is(200)->json_is('/description', 'a tone', 'the other fields with it');
my $thumb;
for (1 .. 300) {
    $thumb = $m->ua->get("/api/v1/media/$audio" => $A)->res->json;
    last if $thumb->{preview_url};
    select undef, undef, undef, 0.1;
}
like $thumb->{preview_url}, qr{/system/media_attachments/thumbnails/[\d/]+/original/[0-9a-f]{16}\.png$},
    'preview_url: the thumbnail';
my $s = $thumb->{meta}{small};
ok $s->{width} * $s->{height} <= 230400 && $s->{width} > 600, "meta.small: the thumbnail's ($s->{size})";
like $thumb->{blurhash}, $blurhash, "the thumbnail's blurhash";
ok $thumb->{meta}{original}{duration} > 0, 'meta.original kept';
my $thumb_file = served($thumb->{preview_url}, 'image/png', 'the thumbnail');
put_thumbnail($audio, slurp("$dir/cover.png"));
my $next;
for (1 .. 300) {
    $next = $m->ua->get("/api/v1/media/$audio" => $A)->res->json;
    last if $next->{preview_url} ne $thumb->{preview_url};
    select undef, undef, undef, 0.1;
}
isnt $next->{preview_url}, $thumb->{preview_url}, 'a new thumbnail, a new name';
my $gone = 0;
for (1 .. 100) { $gone = !-e $thumb_file and last; select undef, undef, undef, 0.1 }
ok $gone, 'the former thumbnail file is removed';
my $next_file = "$dir/system" . ($next->{preview_url} =~ s{^https?://[^/]+/system}{}r);
ok -e $next_file, 'the new thumbnail is stored';
my $audio_file = "$dir/system" . ($next->{url} =~ s{^https?://[^/]+/system}{}r);
ok -e $audio_file, 'the audio file is stored';
$m->delete_ok("/api/v1/media/$audio" => $A)->status_is(200);
$gone = 0;
for (1 .. 100) { $gone = !-e $next_file && !-e $audio_file and last; select undef, undef, undef, 0.1 }
ok $gone, 'deleting the attachment removes its file and its thumbnail';

my $gif_media = upload('anim.gif', 'image/gif', slurp("$dir/anim.gif"));
processed($gif_media);
put_thumbnail($gif_media, slurp("$dir/cover.png"));
$m->status_is(422)->json_is('/error', 'Validation failed: Thumbnail must be blank', 'a gifv takes no thumbnail');
put_thumbnail($audio, '<svg xmlns="http://www.w3.org/2000/svg"/>');
$m->status_is(422)->json_is('/error', 'Validation failed: Thumbnail content type is invalid, Thumbnail is invalid');
is spool_files(), 0, 'refused thumbnails leave nothing in the spool';

# --- v1: answered once processed ----------------------------------------------------------
$id = upload('anim.gif', 'image/gif', slurp("$dir/anim.gif"), 'v1');
$m->status_is(200, 'v1: 200 once the worker is done')->json_is('/type', 'gifv')
  ->json_like('/url', qr{\.mp4$}, 'url set: processed')
  ->json_is('/meta/original/width', 64);
$id = upload('cut.mp4', 'video/mp4', substr(slurp("$dir/h264.mp4"), 0, 1500), 'v1');
$m->status_is(422, 'v1: 422 once processing failed')
  ->json_is('/error', 'Error processing thumbnail for uploaded media');

# --- hostile files -------------------------------------------------------------------------------
$id = upload('cut.mp4', 'video/mp4', substr(slurp("$dir/h264.mp4"), 0, 1500));
($code, $e) = processed($id);
is $code, 422, 'a truncated MP4: failed';
is $e->{error}, 'Error processing thumbnail for uploaded media';

my $fake = substr(slurp("$dir/h264.mp4"), 0, 32) . ("\x42" x 5000);
$id = upload('fake.mp4', 'video/mp4', $fake);
($code, $e) = processed($id);
is $code, 422, 'an MP4 header and garbage: failed';

ffmpeg('-f', 'lavfi', '-i', 'color=size=3842x2162:rate=1', '-t', '1', '-c:v', 'libx264',
    '-pix_fmt', 'yuv420p', "$dir/huge.mp4");
$id = upload('huge.mp4', 'video/mp4', slurp("$dir/huge.mp4"));
($code, $e) = processed($id);
is $code, 422, 'over 3840x2160: failed';
like slurp("$dir/worker-1.log"), qr/3842x2162 videos are not supported/, 'for its size';

ok kill(0, $wpid), 'the worker is alive';
$id = upload('again.gif', 'image/gif', slurp("$dir/anim.gif"));
($code, $e) = processed($id);
is $code, 200, 'and processes the next upload';

# --- over the time limit: ffmpeg killed, the upload failed ---------------------------------
$t->stop_worker($wpid);
$wpid = $t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1,
    MASTODON_MEDIA_TIMEOUT => 1);
ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=25', '-t', '20', '-c:v', 'mpeg4', '-q:v', '20',
    "$dir/long.mp4");
$id = upload('long.mp4', 'video/mp4', slurp("$dir/long.mp4"));
($code, $e) = processed($id);
is $code, 422, 'a transcode over media_timeout: failed';
like slurp("$dir/worker-2.log"), qr/ffmpeg: over 1 s, killed/, 'ffmpeg killed at the limit';
ok kill(0, $wpid), 'the worker is alive';

is spool_files(), 0, 'the spool is empty';
my @left = grep { /\.(?:part|av)$/ } split /\n/, `find $dir/system $dir/media_spool -type f`;
is scalar @left, 0, 'no temporary file left';
like slurp("$dir/worker-1.log"), qr/2 threads \(1 for media\)/, 'the media queue has its own thread';

unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts in nginx';

done_testing;
