# Media files and the records that name them, on the file system (issue
# 11; t/media_s3.t does the same in a bucket): `mastodon-worker media
# remove-orphans [--dry-run]` (tootctl media remove-orphans) removes the
# stored files no record names (record gone, or another file named), and
# leaves the files of records, keys of other forms and files under an hour
# old; `mastodon-worker accounts delete` removes the account's media
# attachments and their files, and its avatar's and header's files, as
# DeleteAccountService (queued with the delete: at least once).

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

my %u = map { $_ => $t->user($_) } qw(alice bob);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;

sub spew { my ($f, $b) = @_; make_path($f =~ s{/[^/]+$}{}r); open my $fh, '>:raw', $f or die "$f: $!"; print $fh $b; close $fh }
sub file_of { $t->file_of(@_) }
sub partition { join '/', sprintf('%018d', $_[0]) =~ /(\d{3})/g }
sub age_all { system('find', "$dir/system", '-type', 'f', '-exec', 'touch', '-d', '2 hours ago', '{}', '+') == 0 or die }
system('vips', 'gaussnoise', "$dir/noise.jpg", 40, 30) == 0 or die 'vips failed';
system('vips', 'gaussnoise', "$dir/wide.png", 600, 300) == 0 or die 'vips failed';
my $jpeg = slurp("$dir/noise.jpg");

my $B = 'oRpHaNbOuNdArY';
sub upload {
    my ($who) = @_;
    $m->post_ok('/api/v1/media', { %{ $h{$who} }, 'Content-Type' => "multipart/form-data; boundary=$B" },
        "--$B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jpg\"\r\n"
        . "Content-Type: image/jpeg\r\n\r\n$jpeg\r\n--$B--\r\n")->status_is(200);
    my $e = $m->tx->res->json;
    ok $e->{url}, "processed ($e->{id})";
    return $e;
}

# --- alice's and bob's media, alice's avatar and header --------------------------------------
my $posted = upload('alice');
$m->post_ok('/api/v1/statuses', $h{alice}, json => { status => 'with media', media_ids => [$posted->{id}] })
  ->status_is(200);
my $loose = upload('alice');
my $bobs = upload('bob');
my $png = slurp("$dir/wide.png");
$m->patch_ok('/api/v1/accounts/update_credentials',
    { %{ $h{alice} }, 'Content-Type' => "multipart/form-data; boundary=$B" },
    "--$B\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
    . "Content-Type: image/png\r\n\r\n$png\r\n"
    . "--$B\r\nContent-Disposition: form-data; name=\"header\"; filename=\"h.png\"\r\n"
    . "Content-Type: image/png\r\n\r\n$png\r\n--$B--\r\n")->status_is(200);
my $me = $m->tx->res->json;
like $me->{avatar}, qr{/system/accounts/avatars/.*\.png$}, 'the avatar (the answer waited for it)';
like $me->{header}, qr{/system/accounts/headers/.*\.png$}, 'the header';

my @alice_files = map { file_of($_) } $posted->{url}, $posted->{preview_url}, $loose->{url},
    $loose->{preview_url}, $me->{avatar}, $me->{header};
my @bob_files = map { file_of($_) } $bobs->{url}, $bobs->{preview_url};
is scalar(grep { -f } @alice_files, @bob_files), 8, 'their files are stored';

# --- media remove-orphans ----------------------------------------------------------------------
age_all();
my $gone_id = $bobs->{id} + 1000;          # no record
my @orphans = (
    "$dir/system/media_attachments/files/" . partition($gone_id) . '/original/0123456789abcdef.jpeg',
    "$dir/system/media_attachments/files/" . partition($gone_id) . '/small/0123456789abcdef.jpeg',
    # bob's record names another file
    "$dir/system/media_attachments/files/" . partition($bobs->{id}) . '/original/fedcba9876543210.jpeg',
    "$dir/system/cache/media_attachments/files/" . partition($gone_id) . '/original/0123456789abcdef.mp4',
    "$dir/system/accounts/avatars/" . partition($u{bob}{account_id}) . '/original/0123456789abcdef.png',
);
spew($_, 'x' x 100) for @orphans;
my @left = ("$dir/system/README.txt", "$dir/system/media_attachments/files/odd/original/x.png",
    "$dir/system/site_uploads/files/000/000/001/original/x.png");
spew($_, 'y') for @left;
system('touch', '-d', '2 hours ago', @orphans, @left) == 0 or die;
my $fresh = "$dir/system/media_attachments/files/" . partition($gone_id + 1) . '/original/0123456789abcdef.jpeg';
spew($fresh, 'being stored');

my ($rc, $out, $err) = $t->worker_cli('media', 'remove-orphans', '--dry-run');
is $rc, 0, 'remove-orphans --dry-run' or diag $err;
like $out, qr/^Removed 5 orphans \(approx\. 500 Bytes\) \(DRY RUN\)$/m, '... counts the orphans';
is scalar(grep { -f } @orphans), 5, '... and removes nothing';

($rc, $out, $err) = $t->worker_cli('media', 'remove-orphans');
is $rc, 0, 'remove-orphans' or diag $err;
like $out, qr/^Removed 5 orphans \(approx\. 500 Bytes\)$/m, "tootctl's summary";
for my $o (@orphans) {
    (my $key = $o) =~ s{^\Q$dir\E/system/}{};
    like $out, qr/^Found and removed orphan: \Q$key\E$/m, "orphan: $key";
}
is scalar(grep { -e } @orphans), 0, 'the orphans are gone';
is scalar(grep { -f } @alice_files, @bob_files), 8, "the records' files stay";
is scalar(grep { -f } @left), scalar(@left), 'keys of other forms stay';
ok -f $fresh, 'a file under an hour old stays (its row may not name it yet)';
($rc, $out, $err) = $t->worker_cli('media', 'remove-orphans', '--days', '1');
is $rc, 2, 'an unknown option: usage';

# --- accounts delete: the account's media and profile images go ----------------------------
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'alice');
is $rc, 0, 'accounts delete alice' or diag "$out$err";
is $t->psql("SELECT count(*) FROM media_attachments WHERE account_id = $u{alice}{account_id}"), 0,
    'her media attachments are deleted';
ok $t->wait_for(sub { !grep { -e } @alice_files }, 30),
    'their files, the avatar and the header are removed from the storage';
is scalar(grep { -f } @bob_files), 2, "bob's stay";
is $t->psql("SELECT count(*) FROM media_attachments WHERE id = $bobs->{id}"), 1, "and his record";

ok kill(0, $wpid), 'the worker is alive';
$t->done;
