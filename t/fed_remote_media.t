#!/usr/bin/perl
# Remote media cached here (issues 9 and 11), as Mastodon downloads it: a
# remote status' attachments by media_fetch jobs (worker/job_media_fetch.c,
# media_download.c through the guarded fetch client), processed by the
# upload pipeline and stored under cache/; a remote account's avatar and
# header by account_image_fetch jobs when the account is fetched; the media
# proxy enqueuing the download of what is not cached; reject_media domain
# blocks never downloading anything; hostile files (oversize, not media, a
# private address not allowlisted) never cached, the last never contacted;
# `media remove` (--days, --prune-profiles, --remove-headers) and `media
# usage`.  The remote server is a DocServer on 127.0.0.1.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use DocServer;
use Test::More;
use IO::Socket::INET;
use IO::Select;
use Mojo::File qw(path);
use FindBin;

my $tmp;
my $t = MastodonTest->new(server_config => "root .; include $FindBin::Bin/../conf/media.conf;",
  worker_env => {
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
    MASTODON_RETRY_BASE_MS => 200,
    TMPDIR => ($tmp = "/tmp/rm-$$-" . int(rand(1e9))),
});
mkdir $tmp or die "mkdir $tmp: $!";
END { rmdir $tmp if $tmp }
my $dir = $t->dir;
my $m = $t->mojo;
my $srv = DocServer->new("$dir/docs");
my $R = $srv->url;
my $L = $t->public_base;

# a listener on an address the guard does not allow: never to be connected to
my $private = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => 0, Proto => 'tcp',
                                    Listen => 4, ReuseAddr => 1) or die "listen 127.0.0.2: $!";
my $P = 'http://127.0.0.2:' . $private->sockport;

# --- the remote files -------------------------------------------------------------------------
sub ffmpeg { system('ffmpeg', '-nostdin', '-loglevel', 'error', '-y', @_) == 0 or die "ffmpeg @_ failed" }
system('vips', 'gaussnoise', "$dir/photo.jpg", 64, 48) == 0 or die 'vips failed';
system('vips', 'gaussnoise', "$dir/face.png", 600, 500) == 0 or die 'vips failed';
system('vips', 'gaussnoise', "$dir/wide.png", 1600, 600) == 0 or die 'vips failed';
ffmpeg('-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=10', '-t', '1', '-c:v', 'libx264',
       '-pix_fmt', 'yuv420p', "$dir/clip.mp4");
sub bytes { path($_[0])->slurp }
$srv->serve('/media/photo.jpg', bytes("$dir/photo.jpg"));
$srv->serve('/media/clip.mp4', bytes("$dir/clip.mp4"));
$srv->serve('/media/clip-thumb.jpg', bytes("$dir/photo.jpg"));
$srv->serve('/media/bob.png', bytes("$dir/face.png"));
$srv->serve('/media/bob-header.png', bytes("$dir/wide.png"));
$srv->serve('/media/page.jpg', "<html><body>not a picture</body></html>");
# over IMAGE_LIMIT (16 MB) for an image Document
$srv->serve('/media/huge.jpg', "\xff\xd8\xff\xe0" . ("\0" x (16 * 1024 * 1024 + 16)));
$srv->serve("/users/$_", $srv->actor($_)) for qw(bob dave);

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});

my $n = 0;
sub process { $t->inbox_process($_[0]) }
sub create {
    my ($actor, $k, @att) = @_;
    $n++;
    process({ '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/users/$actor/activities/$n",
              type => 'Create', actor => "$R/users/$actor",
              object => { id => "$R/users/$actor/statuses/$k", type => 'Note',
                          attributedTo => "$R/users/$actor", content => "<p>$k</p>",
                          to => ['https://www.w3.org/ns/activitystreams#Public'], cc => [],
                          attachment => \@att, published => '2026-12-01T10:00:00Z' } });
    return $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/$actor/statuses/$k'");
}
sub doc { my ($url, $type) = @_; { type => 'Document', mediaType => $type // 'image/jpeg', url => $url } }
sub status { $m->ua->get("/api/v1/statuses/$_[0]" => $ha)->res->json }
sub media_of { my $s = status($_[0]); $s ? $s->{media_attachments} : [] }
sub partition { my $s = sprintf('%09d', $_[0]); join '/', ($s =~ /(\d{3})/g) }
sub worker_log { join '', map { path($_)->slurp } glob("$dir/worker-*.log") }
sub local_get { my ($url) = @_; (my $p = $url) =~ s{^\Q$L\E}{}; $m->ua->get($p)->res }

# --- a remote status' attachments --------------------------------------------------------------
my $sid = create('bob', 1, doc("$R/media/photo.jpg"),
                 { %{ doc("$R/media/clip.mp4", 'video/mp4') },
                   icon => { type => 'Image', url => "$R/media/clip-thumb.jpg" } });
ok($sid, 'the remote status is stored');
my $ma;
ok($t->wait_for(sub { $ma = media_of($sid); @$ma == 2 && !grep { $_->{url} =~ m{/media_proxy/} } @$ma }, 60),
   'both attachments are cached by the worker, the status shows our copies') or diag explain $ma;
my ($photo, $clip) = @$ma;
my $pp = partition($photo->{id});
like($photo->{url}, qr{^\Q$L\E/system/cache/media_attachments/files/\Q$pp\E/original/[0-9a-f]{16}\.jpe?g$},
     'url: our copy under cache/, with its own file name');
like($photo->{preview_url}, qr{^\Q$L\E/system/cache/media_attachments/files/\Q$pp\E/small/[0-9a-f]{16}\.jpe?g$},
     'preview_url: the small style');
is($photo->{remote_url}, "$R/media/photo.jpg", 'remote_url kept');
is($photo->{type}, 'image', 'type image');
is_deeply([ @{ $photo->{meta}{original} }{qw(width height)} ], [64, 48], 'meta from the processed file');
ok($photo->{blurhash}, 'a blurhash computed');
my $res = local_get($photo->{url});
is($res->code, 200, 'the copy is served by nginx');
is($res->headers->header('X-Content-Type-Options'), 'nosniff', '... with nosniff');
is($clip->{type}, 'gifv', 'the video: processed as an upload (ffmpeg; without sound: gifv)');
like($clip->{url}, qr{/system/cache/media_attachments/files/.*/original/[0-9a-f]{16}\.mp4$}, 'its MP4 copy');
like($clip->{preview_url}, qr{/system/cache/media_attachments/thumbnails/.*/original/[0-9a-f]{16}\.jpeg$},
     'its thumbnail (the icon) cached too: the preview');
is(local_get($clip->{preview_url})->code, 200, 'the thumbnail is served');
is($clip->{preview_remote_url}, "$R/media/clip-thumb.jpg", 'preview_remote_url kept');

# the media proxy: our copy now
$m->get_ok("/media_proxy/$photo->{id}/original")->status_is(302)
  ->header_is(Location => $photo->{url}, 'the proxy redirects to the cached copy');
$m->get_ok("/media_proxy/$clip->{id}/small")->status_is(302)
  ->header_like(Location => qr{^\Q$L\E/system/cache/media_attachments/files/.*/small/[0-9a-f]{16}\.png$},
                'its small style: the PNG frame (MediaProxyController: file.url(:small))');
is(local_get($m->tx->res->headers->location)->code, 200, 'the frame is served');
my @before = $srv->requests;
is(scalar(grep { $_ eq '/media/photo.jpg' } @before), 1, 'the remote file was fetched once');

# --- remote avatar and header ------------------------------------------------------------------
my $bob = $t->psql("SELECT id FROM accounts WHERE uri = '$R/users/bob'");
my $acct;
ok($t->wait_for(sub { $acct = $m->ua->get("/api/v1/accounts/$bob" => $ha)->res->json;
                      $acct && $acct->{avatar} =~ m{/cache/} && $acct->{header} =~ m{/cache/} }, 60),
   'the avatar and header are cached when the account is fetched') or diag explain $acct;
my $bp = partition($bob);
like($acct->{avatar}, qr{^\Q$L\E/system/cache/accounts/avatars/\Q$bp\E/original/[0-9a-f]{16}\.png$},
     'avatar: our copy');
is($acct->{avatar_static}, $acct->{avatar}, 'avatar_static: the same (not animated)');
like($acct->{header}, qr{^\Q$L\E/system/cache/accounts/headers/\Q$bp\E/original/[0-9a-f]{16}\.png$},
     'header: our copy');
is($acct->{header_static}, $acct->{header}, 'header_static');
my $png = local_get($acct->{avatar})->body;
is(join('x', unpack('N2', substr($png, 16, 8))), '400x400', 'the avatar resized as Account::Avatar (400x400)');
$png = local_get($acct->{header})->body;
is(join('x', unpack('N2', substr($png, 16, 8))), '1500x500', 'the header as Account::Header (1500x500)');

# --- hostile files: never cached, the private address never contacted ---------------------------
my $sid2 = create('bob', 2, doc("$R/media/page.jpg"), doc("$R/media/huge.jpg"), doc("$P/secret.jpg"));
ok($t->wait_for(sub { my $log = worker_log();
                      $log =~ m{page\.jpg: not a supported media type} && $log =~ m{huge\.jpg: larger than}
                      && $log =~ m{secret\.jpg refused} }, 60),
   'the worker refused the HTML, the oversize file and the private address') or diag worker_log();
$ma = media_of($sid2);
is(scalar(grep { $_->{url} =~ m{/media_proxy/\d+/original$} } @$ma), 3, 'none cached: the proxy URLs stay');
ok(!IO::Select->new($private)->can_read(0), '127.0.0.2 (not allowlisted) was never connected to');
is($t->psql("SELECT count(*) FROM media_attachments WHERE status_id = $sid2 AND processing = 3"), 0,
   'a remote file not to be had is not a failed attachment');
$m->get_ok("/media_proxy/$ma->[2]{id}/original")->status_is(302)
  ->header_is(Location => "$P/secret.jpg", 'its proxy: still the remote URL');
my @left = glob("$tmp/*");
is(scalar @left, 0, 'no temporary file left') or diag "@left";

# --- reject_media: nothing from that domain is downloaded ----------------------------------------
my ($rc, $out, $err) = $t->worker_cli('domain-block', 'add', '127.0.0.1', '--severity', 'noop', '--reject-media');
is($rc, 0, 'domain-block add --reject-media') or diag $err;
$srv->serve('/media/dave.jpg', bytes("$dir/photo.jpg"));
my $sid3 = create('dave', 3, doc("$R/media/dave.jpg"));
ok($sid3, "dave's status (his account fetched first) is stored");
my $dave = $t->psql("SELECT id FROM accounts WHERE uri = '$R/users/dave'");
$m->get_ok("/media_proxy/" . media_of($sid3)->[0]{id} . "/original")->status_is(302)
  ->header_is(Location => "$R/media/dave.jpg", 'the proxy of a rejected domain: the remote URL');
# a later job on the same queue runs after them: create one and wait for it
$t->psql("INSERT INTO job_outbox (queue, type, args) SELECT 'media', 'media_fetch',"
         . " json_build_object('id', id::text)::text FROM media_attachments WHERE status_id = $sid3");
ok($t->wait_for(sub { (() = worker_log() =~ /media \d+: not cached: its domain rejects media/g) >= 1 }, 30),
   'the media_fetch jobs for it skip it');
ok(!grep({ m{^/media/dave} } $srv->requests), "neither dave's attachment nor his avatar was requested");
$acct = $m->ua->get("/api/v1/accounts/$dave" => $ha)->res->json;
like($acct->{avatar}, qr{/avatars/original/missing\.png$}, "his avatar: Mastodon's default (skip_download?)");
is($t->psql("SELECT count(*) FROM media_attachments WHERE status_id = $sid3 AND file_file_name IS NOT NULL"), 0,
   'nothing cached');
($rc) = $t->worker_cli('domain-block', 'remove', '127.0.0.1');

# --- media usage: cached remote media counted on their own --------------------------------------
($rc, $out, $err) = $t->worker_cli('media', 'usage');
is($rc, 0, 'media usage') or diag $err;
like($out, qr/^Cached remote media:\n  attachments:\t[1-9][\d.]* (?:Bytes|KB|MB)\n  avatars:\t[1-9][\d.]* (?:Bytes|KB)\n  headers:\t[1-9][\d.]* (?:Bytes|KB|MB)$/m,
     'the cached attachments, avatars and headers') or diag $out;

# --- media remove: the cached copies, the records kept, fetched again through the proxy -----------
my $photo_file = "$dir/system/" . ($photo->{url} =~ s{^\Q$L\E/system/}{}r);
ok(-f $photo_file, 'the cached file is in media_root/cache');
$t->psql("UPDATE media_attachments SET created_at = created_at - interval '8 days' WHERE status_id = $sid");
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--days', '7');
is($rc, 0, 'media remove --days 7') or diag $err;
like($out, qr/^Removed 2 media attachments/m, 'the two cached attachments');
ok(!-e $photo_file, 'their files are gone');
ok(!-e "$dir/system/" . ($clip->{preview_url} =~ s{^\Q$L\E/system/}{}r), '... the cached thumbnail too');
ok($t->wait_for(sub { $ma = media_of($sid); @$ma == 2 && $ma->[0]{url} eq "$L/media_proxy/$photo->{id}/original" }, 30),
   'the status shows the proxy again (its rendering forgotten)');
is($ma->[0]{remote_url}, "$R/media/photo.jpg", 'the record and its remote_url kept');
# a download already under way (Mastodon's media_download lock): the view's job leaves it
$t->redis('SET', "mastodon:media_download:$photo->{id}", '1', 'PX', '600000');
$m->get_ok("/media_proxy/$photo->{id}/original")->status_is(302)
  ->header_is(Location => "$R/media/photo.jpg", 'a view while not cached: the remote file');
ok($t->wait_for(sub { worker_log() =~ /media $photo->{id}: being downloaded by another job/ }, 30),
   'a second download of the same attachment waits for none: the lock holder caches it');
is(scalar(grep { $_ eq '/media/photo.jpg' } $srv->requests), 1, '... and nothing was fetched');
$t->redis('DEL', "mastodon:media_download:$photo->{id}");
$m->get_ok("/media_proxy/$photo->{id}/original")->status_is(302)
  ->header_is(Location => "$R/media/photo.jpg", 'the next view: still the remote file');
ok($t->wait_for(sub { $t->psql("SELECT file_file_name IS NOT NULL FROM media_attachments WHERE id = $photo->{id}") eq 't' }, 30),
   '... and the view had the worker fetch it again');
$m->get_ok("/media_proxy/$photo->{id}/original")->status_is(302)
  ->header_like(Location => qr{^\Q$L\E/system/cache/}, 'the next view: our copy');

# --- media remove --remove-headers, --prune-profiles ---------------------------------------------
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--prune-profiles', '--remove-headers');
is($rc, 2, 'both: refused as tootctl');
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--remove-headers');
like($out, qr/^Visited 0 accounts and removed profile media totaling 0 Bytes$/m, 'recently fetched accounts: kept');
$t->psql("UPDATE accounts SET last_webfingered_at = now() - interval '9 days',"
         . " updated_at = now() - interval '9 days' WHERE id = $bob");
my $avatar_file = "$dir/system/" . ($acct = $m->ua->get("/api/v1/accounts/$bob" => $ha)->res->json)->{avatar} =~ s{^\Q$L\E/system/}{}r;
my $header_file = "$dir/system/" . $acct->{header} =~ s{^\Q$L\E/system/}{}r;
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($alice->{account_id}, $bob)");
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--remove-headers');
like($out, qr/^Visited 0 accounts/m, 'a followed account: kept');
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--remove-headers', '--include-follows', '--dry-run');
like($out, qr/^Visited 1 accounts and removed profile media totaling \S+ \S+ \(DRY RUN\)$/m, '--include-follows --dry-run');
ok(-f $header_file, '... removes nothing');
$t->psql("DELETE FROM follows WHERE target_account_id = $bob");
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--remove-headers');
is($rc, 0, 'media remove --remove-headers') or diag $err;
like($out, qr/^Visited 1 accounts and removed profile media totaling/m, 'the header removed');
ok(!-e $header_file && -f $avatar_file, 'the header file gone, the avatar kept');
($rc, $out, $err) = $t->worker_cli('media', 'remove', '--prune-profiles');
like($out, qr/^Visited 1 accounts/m, '--prune-profiles: the avatar too');
ok(!-e $avatar_file, 'the avatar file gone');
is($t->psql("SELECT coalesce(avatar_file_name, '-') || coalesce(header_file_name, '-') FROM accounts WHERE id = $bob"),
   '--', 'the columns cleared; the remote URLs kept for the next fetch');
is($t->psql("SELECT avatar_remote_url FROM accounts WHERE id = $bob"), "$R/media/bob.png", 'avatar_remote_url kept');

close $private;
done_testing;
