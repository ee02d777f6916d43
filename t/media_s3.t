# Media in S3-compatible object storage (issue 11): with s3_enabled the
# worker stores the styles in the bucket (libcurl's AWS SigV4 signing; the
# server here, s3rver, checks the request's form and its access key id,
# not the V4 signature itself), nothing under media_root;
# the entities' URLs come from mastodon_media_base_url; the objects are
# fetched from the server with their Content-Type; deleting the upload
# deletes its objects, and so does the periodic cleanup of uploads never
# attached, deleting the account, and `media remove-orphans` for objects
# no record names (the bucket's listing).  A refused key fails the upload's processing with a retry,
# never a processed row without files.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Mojo::UserAgent;
use MastodonTest qw(slurp);

my $t = MastodonTest->new(worker => 0, s3 => 'media', main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 8m;');
my $m = $t->mojo;
my $dir = $t->dir;
my $bucket = $t->s3_bucket_url;
ok $t->reconfigure_nginx(http_config => "mastodon_media_base_url $bucket/;"),
    'mastodon_media_base_url: the bucket';
my %s3 = $t->s3_env;
my $wpid = $t->start_worker(%s3, MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1);
my $ua = Mojo::UserAgent->new(max_redirects => 0);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});

system('vips', 'gaussnoise', "$dir/noise.jpg", 64, 32) == 0 or die 'vips failed';
system('vips', 'black', "$dir/alpha.png", 20, 10, '--bands', 4) == 0 or die 'vips failed';
my $jpeg = slurp("$dir/noise.jpg");
my $png = slurp("$dir/alpha.png");

my $B = 's3BoUnDaRy';
sub upload {
    my ($name, $type, $bytes) = @_;
    $m->post_ok('/api/v2/media', { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" },
        "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"$name\"\r\n"
        . "Content-Type: $type\r\n\r\n$bytes\r\n--$B--\r\n");
    # a 422 (processing failed) names no id: the newest row, alice's
    return $m->tx->res->json('/id') // $t->psql('SELECT max(id) FROM media_attachments');
}
sub processed { $t->media_processed($_[0], $A) }
sub spool_files { $t->spool_files }
sub code_of { $ua->head($_[0])->res->code }
sub gone { my @u = @_; $t->wait_for(sub { !grep { code_of($_) != 404 } @u }, 30) }

# --- a JPEG: stored in the bucket, served from it ----------------------------------------
my $id = upload('photo.jpg', 'image/jpeg', $jpeg);
$m->status_is(200, 'v2: an image is answered processed, as Mastodon')
  ->json_like('/url', qr{^\Q$bucket\E/media_attachments/files/}, 'its url: in the bucket');
my ($code, $e) = processed($id);
is $code, 200, 'processed';
like $e->{url}, qr{^\Q$bucket\E/media_attachments/files/\d{3}(?:/\d{3}){2,}/original/[0-9a-f]{16}\.jpeg$},
    'url: under the bucket, Paperclip\'s key';
like $e->{preview_url}, qr{^\Q$bucket\E/media_attachments/files/.*/small/[0-9a-f]{16}\.jpeg$}, 'preview_url';

my $tx = $ua->get($e->{url});
is $tx->res->code, 200, 'the object is there';
is $tx->res->headers->content_type, 'image/jpeg', 'with its Content-Type';
is substr($tx->res->body, 0, 3), "\xff\xd8\xff", 'a JPEG';
unlike $tx->res->body, qr/Exif/, 'stripped';
is $tx->res->headers->header('Content-Length'), $t->psql("SELECT file_file_size FROM media_attachments WHERE id = $id"),
    'file_file_size is its size';
$tx = $ua->get($e->{preview_url});
is $tx->res->code, 200, 'the preview too';
is $tx->res->headers->content_type, 'image/jpeg';

ok !-e "$dir/system", 'nothing written under media_root';
is spool_files(), 0, 'the spool is empty (the styles went from beside it to the bucket)';

# --- a PNG ---------------------------------------------------------------------------------
my $pid = upload('alpha.png', 'image/png', $png);
my ($pcode, $pe) = processed($pid);
is $pcode, 200;
$tx = $ua->get($pe->{url});
is $tx->res->code, 200;
is $tx->res->headers->content_type, 'image/png', 'a PNG as image/png';

# --- DELETE: the objects go ----------------------------------------------------------------
$m->delete_ok("/api/v1/media/$id", $A)->status_is(200);
ok gone($e->{url}, $e->{preview_url}), 'deleting the upload deletes its objects';

# --- uploads never attached: gone after a day (media_cleanup) -------------------------------
$t->psql("UPDATE media_attachments SET created_at = created_at - interval '25 hours' WHERE id = $pid");
my $fresh = upload('fresh.png', 'image/png', $png);
my ($fcode, $fe) = processed($fresh);
is $fcode, 200;
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'scheduler', 'media_cleanup', '{}');
is $rc, 0, 'media_cleanup enqueued' or diag $err;
ok $t->wait_for(sub { $t->psql("SELECT count(*) FROM media_attachments WHERE id = $pid") eq '0' }, 30),
    'the day-old unattached upload is deleted';
ok gone($pe->{url}, $pe->{preview_url}), 'and its objects';
is code_of($fe->{url}), 200, 'a fresh upload is kept';
is $t->psql("SELECT count(*) FROM media_attachments WHERE id = $fresh"), '1';

# --- a hostile file: failed, nothing stored --------------------------------------------------
sub objects { my @f = split /\n/, `find $dir/s3 -type f`; scalar @f }
my $objects = objects();
my $cut = upload('cut.jpg', 'image/jpeg', substr($jpeg, 0, int(length($jpeg) / 2)));
$m->status_is(422, 'v2: 422 once processing failed')
  ->json_is('/error', 'Error processing thumbnail for uploaded media');
my ($ccode) = processed($cut);
is $ccode, 422, 'a truncated JPEG: failed';
is objects(), $objects, 'nothing stored in the bucket for it';
is spool_files(), 0, 'nor left in the spool';

# --- a storage that refuses: retried, never processed without its files ----------------------
# (the upload cannot be processed: a short wait, then v2's 202)
ok $t->reconfigure_nginx(http_config => "mastodon_media_base_url $bucket/; mastodon_media_v1_wait 1s;"),
    'a short mastodon_media_v1_wait';
$t->stop_worker($wpid);
$wpid = $t->start_worker(%s3, MASTODON_S3_ACCESS_KEY_ID => 'NOBODY', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1);
my $bad = upload('bad.png', 'image/png', $png);
$m->status_is(202, 'past the wait: 202 while processing')->json_is('/url', undef);
ok $t->reconfigure_nginx(http_config => "mastodon_media_base_url $bucket/;"), 'the wait as it was';
ok $t->wait_for(sub { -s "$dir/worker-2.log" && slurp("$dir/worker-2.log") =~ /HTTP 403 .*InvalidAccessKeyId/ }, 30),
    'a refused PUT is logged';
is $t->psql("SELECT processing FROM media_attachments WHERE id = $bad"), '1', 'not processed: to be retried';
$m->get_ok("/api/v1/media/$bad", $A)->status_is(206, 'still processing for the API');
ok kill(0, $wpid), 'the worker is alive';
$t->stop_worker($wpid);
$wpid = $t->start_worker(%s3, MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1,
    MASTODON_RETRY_BASE_MS => 200);
my ($bcode, $be) = processed($bad);
is $bcode, 200, 'the retry with the right key stores it';
is code_of($be->{url}), 200;
my @left = grep { -f } glob("$dir/media_spool/*");
is scalar @left, 0, 'no scratch file left beside the spool';

# --- an avatar (accounts/avatars) and an animated GIF (a gifv by ffmpeg): in the bucket too --
my $AB = 's3AvAtAr';
$m->patch_ok('/api/v1/accounts/update_credentials',
    { %$A, 'Content-Type' => "multipart/form-data; boundary=$AB" },
    "--$AB\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n"
    . "Content-Type: image/png\r\n\r\n$png\r\n--$AB--\r\n")->status_is(200);
my $avatar = '';
ok $t->wait_for(sub {
    $avatar = $m->ua->get('/api/v1/accounts/verify_credentials' => $A)->res->json('/avatar') // '';
    index($avatar, $bucket) == 0 }, 30), 'the avatar is stored';
like $avatar, qr{^\Q$bucket\E/accounts/avatars/\d{3}(?:/\d{3}){2,}/original/[0-9a-f]{16}\.png$},
    "avatar: under the bucket, Paperclip's key ($avatar)";
$tx = $ua->get($avatar);
is $tx->res->code, 200, 'the avatar object is there';
is $tx->res->headers->content_type, 'image/png', 'as image/png';
$m->get_ok('/users/alice' => { Accept => 'application/activity+json' })
  ->json_is('/icon/url', $avatar, "the actor's icon: the bucket's URL");
$m->delete_ok('/api/v1/profile/avatar' => $A)->status_is(200);
ok gone($avatar), 'removing the avatar deletes its object';

system('ffmpeg', '-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i',
    'testsrc=size=64x48:rate=10', '-t', '0.5', "$dir/anim.gif") == 0 or die 'ffmpeg failed';
my $gid = upload('anim.gif', 'image/gif', slurp("$dir/anim.gif"));
my ($gcode, $ge) = processed($gid);
is $gcode, 200, 'the animated GIF is processed';
is $ge->{type}, 'gifv', 'a gifv';
like $ge->{url}, qr{^\Q$bucket\E/media_attachments/files/[\d/]+/original/[0-9a-f]{16}\.mp4$}, 'url: the MP4';
like $ge->{preview_url}, qr{^\Q$bucket\E/media_attachments/files/[\d/]+/small/[0-9a-f]{16}\.png$},
    'preview_url: the first frame';
$tx = $ua->get($ge->{url});
is $tx->res->code, 200, 'the MP4 object is there';
is $tx->res->headers->content_type, 'video/mp4', 'as video/mp4';
is $tx->res->headers->header('Content-Length'),
    $t->psql("SELECT file_file_size FROM media_attachments WHERE id = $gid"), 'file_file_size is its size';
$tx = $ua->get($ge->{preview_url});
is $tx->res->code, 200, 'the preview object is there';
is $tx->res->headers->content_type, 'image/png', 'as image/png';
$m->delete_ok("/api/v1/media/$gid", $A)->status_is(200);
ok gone($ge->{url}, $ge->{preview_url}), "deleting the gifv deletes its objects";
ok !-e "$dir/system", 'still nothing under media_root';
@left = grep { -f } glob("$dir/media_spool/*");
is scalar @left, 0, 'nor beside the spool';

# --- media remove-orphans: the bucket's listing ----------------------------------------------
sub s3_file { "$dir/s3/media/$_[0]._S3rver_object" }
system("find $dir/s3 -name '*._S3rver_object' -exec touch -d '2 hours ago' {} +") == 0 or die;
my $gone_id = $bad + 1000;
my $gone_part = join '/', sprintf('%018d', $gone_id) =~ /(\d{3})/g;
my @orphans = ("media_attachments/files/$gone_part/original/0123456789abcdef.png",
    "cache/media_attachments/files/$gone_part/small/0123456789abcdef.png");
for my $key (@orphans, 'README.txt') {
    my $f = s3_file($key);
    (my $d = $f) =~ s{/[^/]+$}{};
    system('mkdir', '-p', $d) == 0 or die;
    open my $fh, '>:raw', $f or die "$f: $!"; print $fh 'x' x 10; close $fh;
    system('touch', '-d', '2 hours ago', $f) == 0 or die;
}
is code_of("$bucket/$orphans[0]"), 200, 'an orphan object is in the bucket';
{
    local @ENV{keys %s3} = values %s3;      # the CLI's configuration: the bucket
    ($rc, $out, $err) = $t->worker_cli('media', 'remove-orphans', '--dry-run');
    is $rc, 0, 'remove-orphans --dry-run in the bucket' or diag $err;
    like $out, qr/^Removed 2 orphans \(approx\. 20 Bytes\) \(DRY RUN\)$/m, '... counts them';
    is code_of("$bucket/$orphans[0]"), 200, '... and deletes nothing';
    ($rc, $out, $err) = $t->worker_cli('media', 'remove-orphans');
}
is $rc, 0, 'remove-orphans in the bucket' or diag $err;
like $out, qr/^Removed 2 orphans \(approx\. 20 Bytes\)$/m, 'the orphans found in the listing';
ok gone(map { "$bucket/$_" } @orphans), 'and deleted';
is code_of($fe->{url}), 200, "a record's objects stay";
ok -f s3_file('README.txt'), 'a key of another form stays';

# --- accounts delete: the account's objects go ---------------------------------------------
$m->patch_ok('/api/v1/accounts/update_credentials',
    { %$A, 'Content-Type' => "multipart/form-data; boundary=$AB" },
    "--$AB\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"me.png\"\r\n"
    . "Content-Type: image/png\r\n\r\n$png\r\n--$AB--\r\n")->status_is(200);
my $avatar2 = $m->tx->res->json('/avatar');
like $avatar2, qr{^\Q$bucket\E/accounts/avatars/}, 'the answer has the avatar in the bucket';
is code_of($avatar2), 200;
$m->post_ok('/api/v1/statuses', $A, json => { status => 'kept', media_ids => [$fresh] })->status_is(200);
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'alice');
is $rc, 0, 'accounts delete alice' or diag "$out$err";
ok gone($avatar2, $fe->{url}, $fe->{preview_url}, $be->{url}, $be->{preview_url}),
    "her avatar's and media's objects are deleted";
is $t->psql("SELECT count(*) FROM media_attachments WHERE account_id = $alice->{account_id}"), 0,
    'and her media attachments';

# --- configuration: refused when it cannot work -------------------------------------------
my ($nrc, $nout) = $t->nginx_test_config(http_config => 'mastodon_media_base_url ftp://files.example;');
isnt $nrc, 0, 'mastodon_media_base_url: only http(s)';
like $nout, qr/mastodon_media_base_url "ftp:\/\/files\.example" is not an http:\/\/ or https:\/\/ URL/;
for my $case ([ MASTODON_S3_BUCKET => 'Bad_Bucket', qr/s3_bucket: "Bad_Bucket" is not a bucket name/ ],
    [ MASTODON_S3_ENDPOINT => 'ftp://x', qr/s3_endpoint: "ftp:\/\/x" is not an http/ ],
    [ MASTODON_S3_SECRET_ACCESS_KEY => '', qr/s3_enabled needs s3_access_key_id and s3_secret_access_key/ ],
    [ MASTODON_MEDIA_BASE_URL => 'files.example', qr/media_base_url: "files\.example" is not an http/ ]) {
    my ($k, $v, $re) = @$case;
    local @ENV{keys %s3} = values %s3;
    local $ENV{$k} = $v;
    my ($crc, $cout, $cerr) = $t->worker_cli('media', 'usage');
    is $crc, 2, "$k=$v: a configuration error";
    like $cerr, $re, 'saying why';
}

$t->done;
