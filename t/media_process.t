# Media processing (issue 11, the worker): an upload goes through the
# media queue to mastodon-worker, which decodes it with libvips bounded,
# rotates it upright from EXIF, strips the metadata (the GPS position
# too), writes the original and the small preview with Paperclip's layout
# under media_root, computes the blurhash and the meta (JPEG, PNG, WebP);
# nginx serves the files (conf/media.conf).  Hostile images (PNG and JPEG decompression
# bombs, a truncated JPEG, a JPEG/HTML polyglot) end in the failed state
# the API reports, the worker alive and the spool empty.  Images are made with the vips command.
# POST /api/v2/media waits for an image's processing as Mastodon processes
# one in the request: 200 processed, 422 failed, 202 once
# mastodon_media_v1_wait is over (no worker).

use strict;
use warnings;

use Test::More;
use FindBin;
use Compress::Zlib qw(crc32);
use MastodonTest qw(slurp);

my $ROOT = "$FindBin::Bin/..";
my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 8m;',
    server_config => "root .; include $ROOT/conf/media.conf;");
my $m = $t->mojo;
my $dir = $t->dir;
my $wpid = $t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});

sub vips { system('vips', @_) == 0 or die "vips @_ failed" }

# a 64x32 JPEG with EXIF: orientation 6 (rotate 90 degrees) and a GPS tag
vips('gaussnoise', "$dir/noise.jpg", 64, 32);
my $jpeg = slurp("$dir/noise.jpg");
my $ifd0 = pack('v', 2) . pack('vvVvv', 0x0112, 3, 1, 6, 0) . pack('vvVV', 0x8825, 4, 1, 38) . pack('V', 0);
my $gps = pack('v', 1) . pack('vvV', 0x0001, 2, 2) . "N\0\0\0" . pack('V', 0);
my $app1 = "Exif\0\0II" . pack('vV', 42, 8) . $ifd0 . $gps;
my $exif_jpeg = "\xff\xd8\xff\xe1" . pack('n', length($app1) + 2) . $app1 . substr($jpeg, 2);

vips('black', "$dir/alpha.png", 20, 10, '--bands', 4);
vips('gaussnoise', "$dir/big.jpg", 2000, 1000);

my $B = 'pRoCeSsBoUnDaRy';
sub upload {
    my ($name, $type, $bytes) = @_;
    $m->post_ok('/api/v2/media', { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" },
        "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"$name\"\r\n"
        . "Content-Type: $type\r\n\r\n$bytes\r\n--$B--\r\n");
    # a 422 (processing failed) names no id: the newest row, alice's
    return $m->tx->res->json('/id') // $t->psql('SELECT max(id) FROM media_attachments');
}

# GET until it is no longer 206: the final answer's status and entity
sub processed { $t->media_processed($_[0], $A) }

sub path_of { $t->path_of(@_) }
sub spool_files { $t->spool_files }

my $blurhash = qr/^[0-9A-Za-z#\$%*+,\-.:;=?\@\[\]^_{|}~]{36}$/;   # 4x4 components

# --- a JPEG with EXIF rotation and GPS ------------------------------------------------
my $id = upload('photo.jpg', 'image/jpeg', $exif_jpeg);
$m->status_is(200, 'v2: an image is answered processed, as Mastodon')
  ->json_like('/url', qr{/original/[0-9a-f]{16}\.jpeg$}, 'with its url')
  ->json_like('/preview_url', qr{/small/[0-9a-f]{16}\.jpeg$}, 'and preview_url')
  ->json_is('/meta/original/size', '32x64', 'and its meta');
my ($code, $e) = processed($id);
is $code, 200, 'processed: 200';
is $e->{type}, 'image';
is_deeply $e->{meta}{original}, { width => 32, height => 64, size => '32x64', aspect => 0.5 },
    'rotated upright from its EXIF orientation';
is_deeply $e->{meta}{small}, { width => 32, height => 64, size => '32x64', aspect => 0.5 },
    'small: the same, never enlarged';
like $e->{blurhash}, $blurhash, 'a 4x4 blurhash';
like $e->{url}, qr{/system/media_attachments/files/\d{3}(?:/\d{3}){2,}/original/[0-9a-f]{16}\.jpeg$}, 'url';
like $e->{preview_url}, qr{/small/[0-9a-f]{16}\.jpeg$}, 'preview_url';

my $tx = $m->ua->get(path_of($e->{url}));
is $tx->res->code, 200, 'nginx serves the original';
is $tx->res->headers->content_type, 'image/jpeg', 'as image/jpeg';
is $tx->res->headers->header('X-Content-Type-Options'), 'nosniff', 'nosniff';
like $tx->res->headers->cache_control, qr/max-age=\d+/, 'a long cache';
my $served = $tx->res->body;
is substr($served, 0, 3), "\xff\xd8\xff", 'a JPEG';
unlike $served, qr/Exif/, 'no EXIF left (the GPS position is gone)';
unlike $served, qr/GPS|N\0\0\0/, 'no GPS tag';
$tx = $m->ua->get(path_of($e->{preview_url}));
is $tx->res->code, 200, 'nginx serves the preview';
unlike $tx->res->body, qr/Exif/, 'stripped too';

# --- a PNG with alpha ------------------------------------------------------------------
$id = upload('alpha.png', 'image/png', slurp("$dir/alpha.png"));
($code, $e) = processed($id);
is $code, 200;
is $e->{meta}{original}{size}, '20x10';
like $e->{url}, qr{\.png$}, 'a PNG stays a PNG';
$tx = $m->ua->get(path_of($e->{url}));
is $tx->res->headers->content_type, 'image/png';
like $e->{blurhash}, $blurhash;

# --- a WebP: stays a WebP, served as image/webp -----------------------------------------
vips('gaussnoise', "$dir/noise.webp", 48, 24);
$id = upload('noise.webp', 'image/webp', slurp("$dir/noise.webp"));
($code, $e) = processed($id);
is $code, 200, 'a WebP: processed';
is $e->{type}, 'image';
is_deeply $e->{meta}{original}, { width => 48, height => 24, size => '48x24', aspect => 2 }, 'its meta';
like $e->{url}, qr{/original/[0-9a-f]{16}\.webp$}, 'a WebP stays a WebP';
like $e->{preview_url}, qr{/small/[0-9a-f]{16}\.webp$}, 'its preview too';
like $e->{blurhash}, $blurhash, 'a blurhash';
$tx = $m->ua->get(path_of($e->{url}));
is $tx->res->code, 200, 'nginx serves it';
is $tx->res->headers->content_type, 'image/webp', 'as image/webp';
is substr($tx->res->body, 8, 4), 'WEBP', 'a WebP file';

# --- a large image: the small preview at 640x360's area --------------------------------
$id = upload('big.jpg', 'image/jpeg', slurp("$dir/big.jpg"));
($code, $e) = processed($id);
is $code, 200;
is $e->{meta}{original}{size}, '2000x1000', 'the original under 3840x2160 keeps its size';
my $s = $e->{meta}{small};
ok $s->{width} * $s->{height} <= 230400, "small within 230400 pixels ($s->{size})";
ok $s->{width} * $s->{height} > 200000, 'and near it';
ok abs($s->{aspect} - 2) < 0.02, 'the aspect kept';

# --- hostile images ----------------------------------------------------------------------
# a PNG header claiming 100000x100000 pixels: refused before decoding
my $ihdr = pack('NNCCCCC', 100000, 100000, 8, 2, 0, 0, 0);
my $bomb = "\x89PNG\r\n\x1a\n" . pack('N', 13) . 'IHDR' . $ihdr . pack('N', crc32("IHDR$ihdr"))
    . pack('N', 0) . 'IDAT' . pack('N', crc32('IDAT')) . pack('N', 0) . 'IEND' . pack('N', crc32('IEND'));
$id = upload('bomb.png', 'image/png', $bomb);
$m->status_is(422, 'a bomb passes the sniff (its bytes start as a PNG), fails processing: 422')
  ->json_is('/error', 'Error processing thumbnail for uploaded media', "Mastodon's error");
($code, $e) = processed($id);
is $code, 422, 'a decompression bomb: failed';
is $e->{error}, 'Error processing thumbnail for uploaded media', 'the API reports it';
like slurp("$dir/worker-1.log"), qr/100000x100000 pixels: over the limit/, 'refused by its size, not decoded';

# a truncated JPEG
$id = upload('cut.jpg', 'image/jpeg', substr(slurp("$dir/big.jpg"), 0, 3000));
$m->status_is(422, 'a truncated JPEG: 422');
($code, $e) = processed($id);
is $code, 422, 'a truncated JPEG: failed';
like $t->psql("SELECT processing FROM media_attachments WHERE id = $id"), qr/^3$/, 'processing failed (3)';

# a JPEG whose frame header claims 60000x60000 pixels (a real small JPEG,
# its SOF0 patched): refused from the header too
my $small_jpeg = slurp("$dir/noise.jpg");
my $sof = index($small_jpeg, "\xff\xc0");
ok $sof > 0, 'the JPEG has a baseline frame header';
substr($small_jpeg, $sof + 5, 4) = pack('nn', 60000, 60000);
$id = upload('bomb.jpg', 'image/jpeg', $small_jpeg);
$m->status_is(422);
($code, $e) = processed($id);
is $code, 422, 'a JPEG decompression bomb: failed';
like slurp("$dir/worker-1.log"), qr/60000x60000 pixels: over the limit/, 'refused by its size, not decoded';

# a polyglot: JPEG magic, then HTML; passes the sniff, never decodes, never served
$id = upload('poly.jpg', 'image/jpeg', "\xff\xd8\xff\xe0<html><script>alert(1)</script></html>");
$m->status_is(422, 'a polyglot passes the sniff, fails processing: 422');
($code, $e) = processed($id);
is $code, 422, 'and fails processing';
my ($poly) = $t->psql("SELECT file_file_name FROM media_attachments WHERE id = $id") =~ /^([0-9a-f]{16})\./;
ok $poly, 'its name';
is `find $dir/system -name '$poly*'`, '', 'no file stored for it';

ok kill(0, $wpid), 'the worker is alive';
$id = upload('again.png', 'image/png', slurp("$dir/alpha.png"));
($code, $e) = processed($id);
is $code, 200, 'and processes the next upload';

# DELETE takes the files with it (a media_remove job)
my $served_path = "$dir" . path_of($e->{url});
my $small_path = "$dir" . path_of($e->{preview_url});
ok -f $served_path && -f $small_path, 'the styles are on disk';
$m->delete_ok("/api/v1/media/$id", $A)->status_is(200);
my $gone = 0;
for (1 .. 100) { $gone = !-e $served_path && !-e $small_path and last; select undef, undef, undef, 0.1 }
ok $gone, 'deleting the upload removes its files';
is $m->ua->get(path_of($e->{url}))->res->code, 404, 'no longer served';

# deleted before the worker got to it: the spool file goes all the same
# (no worker: v2 waits mastodon_media_v1_wait, then 202 while processing)
ok $t->reconfigure_nginx(http_config => 'mastodon_media_v1_wait 1s;'), 'a short wait';
$t->stop_worker($wpid);
$id = upload('late.png', 'image/png', slurp("$dir/alpha.png"));
$m->status_is(202, 'past the wait: 202')->json_is('/url', undef, 'url null');
$m->get_ok("/api/v1/media/$id", $A)->status_is(206, 'GET: 206 while processing');
$m->delete_ok("/api/v1/media/$id", $A)->status_is(200);
is spool_files(), 1, 'in the spool while no worker runs';
$wpid = $t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1);
my $empty = 0;
for (1 .. 100) { $empty = spool_files() == 0 and last; select undef, undef, undef, 0.1 }
ok $empty, 'the worker removes the spool file of a deleted upload';

is spool_files(), 0, 'the spool is empty: every upload cleaned';
my @left = grep { /\.part$/ } split /\n/, `find $dir/system -type f`;
is scalar @left, 0, 'no partial file left in media_root';

# a file that is not an upload is never served inline
mkdir "$dir/system/x";
open my $fh, '>', "$dir/system/x/page.html" or die;
print $fh "<html><script>alert(1)</script></html>";
close $fh;
$tx = $m->ua->get('/system/x/page.html');
is $tx->res->headers->content_type, 'application/octet-stream', 'HTML under /system/: octet-stream';
is $tx->res->headers->header('X-Content-Type-Options'), 'nosniff';

unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts in nginx';

done_testing;
