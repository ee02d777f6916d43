# Media storage on the file system (issue 11): what nginx serves from
# media_root with the shipped conf/media.conf (the type from the name's
# extension among media types only, anything else application/octet-stream;
# nosniff, the CSP, Mastodon's long immutable cache), the lifetime of media
# (a status delete keeps them detached for a redraft until they are a day
# old, as Mastodon's RemoveStatusService and MediaCleanupScheduler; uploads
# never attached go after a day, from the storage too; scheduled ones stay)
# and the CLI: `media usage` (tootctl media usage) and `media remove`
# (the cached copies of remote media, under cache/).

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use MastodonTest qw(slurp);

my $ROOT = "$FindBin::Bin/..";
my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 8m;',
    server_config => "root .; include $ROOT/conf/media.conf;");
my $m = $t->mojo;
my $dir = $t->dir;
$ENV{MASTODON_MEDIA_ROOT} = "$dir/system";     # the daemon's and the CLI's
my $wpid = $t->start_worker(MASTODON_CONCURRENCY => 1);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});

sub spew { my ($f, $b) = @_; make_path($f =~ s{/[^/]+$}{}r); open my $fh, '>:raw', $f or die "$f: $!"; print $fh $b; close $fh }
system('vips', 'gaussnoise', "$dir/noise.jpg", 40, 30) == 0 or die 'vips failed';
my $jpeg = slurp("$dir/noise.jpg");

my $B = 'sToRaGeBoUnDaRy';
sub upload {
    $m->post_ok('/api/v2/media', { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" },
        "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
        . "Content-Type: image/jpeg\r\n\r\n$jpeg\r\n--$B--\r\n");
    return $m->tx->res->json('/id') // die 'upload failed: ' . $m->tx->res->body;
}
sub processed {
    my ($id) = @_;
    $t->wait_for(sub { $m->ua->get("/api/v1/media/$id" => $A)->res->code == 200 }, 60);
    return $m->ua->get("/api/v1/media/$id" => $A)->res->json;
}
sub file_of { $t->file_of(@_) }
sub cleanup {
    my ($rc, $out, $err) = $t->worker_cli('enqueue', 'scheduler', 'media_cleanup', '{}');
    is $rc, 0, 'media_cleanup enqueued' or diag $err;
    my $before = () = slurp("$dir/worker-1.log") =~ /media_cleanup: \d+/g;
    $t->wait_for(sub { (() = slurp("$dir/worker-1.log") =~ /media_cleanup: \d+/g) > $before }, 30);
}
sub rows { $t->psql("SELECT count(*) FROM media_attachments WHERE id = $_[0]") }
sub age { $t->psql("UPDATE media_attachments SET created_at = created_at - interval '$_[1]' WHERE id = $_[0]") }

# --- nginx serves media_root: types, nosniff, cache ------------------------------------------
my %want = (jpeg => 'image/jpeg', jpg => 'image/jpeg', png => 'image/png', gif => 'image/gif',
    webp => 'image/webp', mp4 => 'video/mp4', mp3 => 'audio/mpeg', ogg => 'audio/ogg',
    svg => 'application/octet-stream', html => 'application/octet-stream', htm => 'application/octet-stream',
    xml => 'application/octet-stream', js => 'application/octet-stream', txt => 'application/octet-stream');
for my $ext (sort keys %want) {
    spew("$dir/system/media_attachments/files/000/000/001/original/f.$ext", "<html><script>alert(1)</script></html>");
    my $tx = $m->ua->get("/system/media_attachments/files/000/000/001/original/f.$ext");
    is $tx->res->code, 200, ".$ext served";
    is $tx->res->headers->content_type, $want{$ext}, ".$ext: $want{$ext}";
    is $tx->res->headers->header('X-Content-Type-Options'), 'nosniff', ".$ext: nosniff";
    is $tx->res->headers->cache_control, 'public, max-age=2419200, immutable', ".$ext: Mastodon's cache";
    is $tx->res->headers->header('Content-Security-Policy'), "default-src 'none'; form-action 'none'",
        ".$ext: a CSP that runs nothing";
}
spew("$dir/system/x/noext", "<svg xmlns='http://www.w3.org/2000/svg'/>");
is $m->ua->get('/system/x/noext')->res->headers->content_type, 'application/octet-stream', 'no extension: octet-stream';
is $m->ua->get('/system/x/missing.png')->res->code, 404, 'a missing file: 404';

# --- a status delete keeps its media for a redraft, until they are a day old ----------------
my $kept = upload();
processed($kept);
my $old = upload();
my $e = processed($old);
$m->post_ok('/api/v1/statuses', $A, json => { status => 'with media', media_ids => [$old] })->status_is(200);
my $sid = $m->tx->res->json('/id');
my @files = map { file_of($_) } @$e{qw(url preview_url)};
ok -f $files[0] && -f $files[1], 'the files are on disk';
$m->delete_ok("/api/v1/statuses/$sid", $A)->status_is(200);
is $t->psql("SELECT coalesce(status_id::text, 'none') FROM media_attachments WHERE id = $old"), 'none',
    'the delete detaches the media (a redraft may take them)';
cleanup();
is rows($old), 1, 'kept while under a day old';
ok -f $files[0], 'with its files';

age($old, '23 hours');
cleanup();
is rows($old), 1, 'still kept at 23 hours';
age($old, '2 hours');
cleanup();
is rows($old), 0, 'a day old and unattached: deleted';
ok $t->wait_for(sub { !-e $files[0] && !-e $files[1] }, 30), 'and its files removed';
is rows($kept), 1, 'a fresh upload stays';

# attached and scheduled media stay whatever their age
my $on = upload();
processed($on);
$m->post_ok('/api/v1/statuses', $A, json => { status => 'kept', media_ids => [$on] })->status_is(200);
my $sched = upload();
processed($sched);
$t->psql("UPDATE media_attachments SET scheduled_status_id = 1 WHERE id = $sched");
age($_, '3 days') for $on, $sched;
cleanup();
is rows($on), 1, 'attached media stay';
is rows($sched), 1, 'media of a scheduled status stay';

# --- media usage ------------------------------------------------------------------------------
my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, inbox_url)
    VALUES ('bob', 'remote.test', 'https://remote.test/users/bob', 'https://remote.test/inbox') RETURNING id});
$t->psql("UPDATE media_attachments SET file_file_size = 0, thumbnail_file_size = NULL");
$t->psql("UPDATE media_attachments SET file_file_size = 1234 WHERE id = $kept");
my $rid = $t->psql(qq{INSERT INTO media_attachments (account_id, type, remote_url, file_file_name,
    file_content_type, file_file_size, thumbnail_file_size, processing, created_at)
    VALUES ($remote, 2, 'https://remote.test/a.mp4', '0123456789abcdef.mp4', 'video/mp4', 1048576, 10000, 2,
    (now() AT TIME ZONE 'UTC') - interval '8 days') RETURNING id});
my ($rc, $out, $err) = $t->worker_cli('media', 'usage');
is $rc, 0, 'media usage' or diag $err;
like $out, qr/^Attachments:\t1\.01 MB \(1\.21 KB local\)$/m, 'attachments: all and local, number_to_human_size';
like $out, qr/^  image:\t1\.21 KB \(1\.21 KB local\)$/m, 'by type: images';
like $out, qr/^  video:\t1\.01 MB \(0 Bytes local\)$/m, 'by type: videos (remote)';
like $out, qr/^  audio:\t0 Bytes \(0 Bytes local\)$/m, 'by type: none';
like $out, qr/^Custom emoji:\t0 Bytes \(0 Bytes local\)$/m, 'custom emoji';
like $out, qr/^Avatars:\t.*\nHeaders:\t/m, 'avatars and headers';

# --- media remove: remote copies, under cache/ ------------------------------------------------
my $part = join '/', sprintf('%09d', $rid) =~ /(\d{3})/g;    # Paperclip's id_partition
my @cached = map { "$dir/system/cache/media_attachments/files/$part/$_/0123456789abcdef.mp4" } qw(original small);
spew($_, 'video') for @cached;
spew(my $small_png = "$dir/system/cache/media_attachments/files/$part/small/0123456789abcdef.png", 'frame');

($rc, $out, $err) = $t->worker_cli('media', 'remove', '--days', '9');
is $rc, 0;
like $out, qr/^Removed 0 media attachments \(approx\. 0 Bytes\)$/m, '--days 9: nothing that old';
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--dry-run');
like $out, qr/^Removed 1 media attachments \(approx\. 1\.01 MB\) \(DRY RUN\)$/m, '--dry-run counts';
ok -f $cached[0], 'and removes nothing';
($rc, $out, $err) = $t->worker_cli('media', 'remove');
is $rc, 0, 'media remove' or diag $err;
like $out, qr/^Removed 1 media attachments \(approx\. 1\.01 MB\)$/m, 'the default 7 days: removed';
ok !-e $cached[0] && !-e $cached[1] && !-e $small_png, 'the cached files are gone from cache/';
is $t->psql("SELECT coalesce(file_file_name, 'null') || coalesce(file_file_size::text, 'null') FROM media_attachments WHERE id = $rid"),
    'nullnull', 'the file columns cleared (Paperclip\'s file.destroy)';
is $t->psql("SELECT remote_url FROM media_attachments WHERE id = $rid"), 'https://remote.test/a.mp4',
    'the remote URL kept (fetched again when asked)';
ok -f file_of(processed($kept)->{url}), 'local media untouched';

($rc, $out, $err) = $t->worker_cli('media', 'remove', '--days', 'x');
is $rc, 2, 'a bad --days: usage error';
($rc, $out, $err) = $t->worker_cli('media', 'frobnicate');
is $rc, 2, 'an unknown subcommand: usage';
like $err, qr/usage: mastodon-worker media usage/;

ok kill(0, $wpid), 'the worker is alive';
$t->done;
