#!/usr/bin/perl
# Local custom emojis (issue 9): `mastodon-worker emoji import|add|list|
# remove` validate the image by its bytes (PNG, GIF, WebP of at most 256 KB)
# and store it and its static style (the first frame as PNG) in the media
# storage under custom_emojis/images/<id>/; GET /api/v1/custom_emojis lists
# them (public, cached 3 minutes) and a local status, display name or note
# naming :shortcode: shows them in its "emojis".
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Path qw(make_path);
use MIME::Base64 qw(decode_base64);
use MastodonTest qw(slurp);
use Test::More;
use Mojo::JSON qw(true false);

my $ROOT = "$FindBin::Bin/..";
my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    server_config => "root .; include $ROOT/conf/media.conf;");
my $dir = $t->dir;
$ENV{MASTODON_MEDIA_ROOT} = "$dir/system";     # the daemon's and the CLI's
$t->start_worker(MASTODON_CONCURRENCY => 1);
my $ua = $t->ua;
my $base = $t->public_base;

sub spew { my ($f, $b) = @_; open my $fh, '>:raw', $f or die "$f: $!"; print $fh $b; close $fh }
sub file_of { $t->file_of(@_) }

system('vips', 'black', "$dir/blobcat.png", 8, 8) == 0 or die 'vips failed';
spew("$dir/wave.gif", decode_base64('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7'));
spew("$dir/evil.png", "<svg xmlns='http://www.w3.org/2000/svg'/>");
spew("$dir/big.png", slurp("$dir/blobcat.png") . ("\0" x 262144));
spew("$dir/broken.png", substr(slurp("$dir/blobcat.png"), 0, 40));

# --- the CLI --------------------------------------------------------------------------------------
my ($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/blobcat.png", '--category', 'Cats');
is($rc, 0, 'import a PNG') or diag $err;
like($out, qr/blobcat: added \(image\/png/, 'it says so');
($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'wave_hi', "$dir/wave.gif");
is($rc, 0, 'add a GIF under a shortcode') or diag $err;
($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/wave.gif", '--prefix', 'p_');
is($rc, 0, 'import with a prefix') or diag $err;

($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'evil', "$dir/evil.png");
isnt($rc, 0, 'an SVG named .png is refused');
like($err, qr/must be a PNG, GIF or WebP/, 'by its bytes');
($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'big', "$dir/big.png");
like($err, qr/less than 256 KB/, 'over 256 KB is refused');
($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'broken', "$dir/broken.png");
like($err, qr/does not decode/, 'a truncated image is refused');
($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'a b', "$dir/blobcat.png");
like($err, qr/Shortcode is invalid/, 'a bad shortcode is refused');
is($t->psql(q{SELECT count(*) FROM custom_emojis}), '3', 'nothing stored for the refused ones');

($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/blobcat.png");
is($rc, 0, 'importing an existing shortcode');
like($out, qr/exists, skipped/, 'skips it without --overwrite');

my $id = $t->psql(q{SELECT id FROM custom_emojis WHERE shortcode = 'blobcat' AND domain IS NULL});
my $part = sprintf('%03d/%03d/%03d', int($id / 1e6) % 1000, int($id / 1e3) % 1000, $id % 1000);
ok(-s "$dir/system/custom_emojis/images/$part/original/blobcat.png", 'the original stored');
ok(-s "$dir/system/custom_emojis/images/$part/static/blobcat.png", 'the static style stored');
my $wid = $t->psql(q{SELECT id FROM custom_emojis WHERE shortcode = 'wave_hi'});
my $wpart = sprintf('%03d/%03d/%03d', int($wid / 1e6) % 1000, int($wid / 1e3) % 1000, $wid % 1000);
is(substr(slurp("$dir/system/custom_emojis/images/$wpart/original/wave_hi.gif"), 0, 6), 'GIF89a',
   'a GIF original as it came');
is(substr(slurp("$dir/system/custom_emojis/images/$wpart/static/wave_hi.png"), 1, 3), 'PNG',
   'its static style a PNG');

($rc, $out, $err) = $t->worker_cli('emoji', 'list');
is($rc, 0, 'list');
like($out, qr{^:blobcat:\t\Q$base\E/system/custom_emojis/images/$part/original/blobcat\.png\tCats$}m,
     'lists the shortcode, URL, category');
like($out, qr/^:wave_hi:/m, 'and the others');

# --- GET /api/v1/custom_emojis --------------------------------------------------------------------
my $res = $ua->get('/api/v1/custom_emojis')->result;
is($res->code, 200, 'GET /api/v1/custom_emojis without a token');
is($res->headers->cache_control, 'max-age=180, public', 'cacheable 3 minutes');
is_deeply($res->json->[0], {
    shortcode => 'blobcat', visible_in_picker => true, category => 'Cats',
    url => "$base/system/custom_emojis/images/$part/original/blobcat.png",
    static_url => "$base/system/custom_emojis/images/$part/static/blobcat.png" },
    'a CustomEmoji with its category');
is_deeply([ map { $_->{shortcode} } @{ $res->json } ], [ 'blobcat', 'wave_hi', 'p_wave' ],
          'all of them, in order');
ok(!exists $res->json->[1]{category}, 'no category: no key');
is($t->mojo->ua->get($res->json->[0]{url} =~ s{^https?://[^/]+}{}r)->res->code, 200,
   'nginx serves the image');

$t->psql(q{UPDATE custom_emojis SET visible_in_picker = false WHERE shortcode = 'p_wave'});
is_deeply([ map { $_->{shortcode} } @{ $ua->get('/api/v1/custom_emojis')->result->json } ],
          [ 'blobcat', 'wave_hi' ], 'not the ones hidden from the picker');
# a remote emoji is never listed
$t->psql(q{INSERT INTO custom_emojis (shortcode, domain, image_remote_url)
    VALUES ('blobcat', 'remote.test', 'https://remote.test/b.png')});
is(scalar @{ $ua->get('/api/v1/custom_emojis')->result->json }, 2, 'nor remote ones');

# --- in statuses and accounts ---------------------------------------------------------------------
my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
$res = $ua->post('/api/v1/statuses' => $ha => json => { status => 'hi :blobcat: and :nope: :wave_hi:' })->result;
is($res->code, 200, 'a post naming local emojis');
is_deeply([ map { "$_->{shortcode} $_->{static_url}" } @{ $res->json->{emojis} } ],
          [ "blobcat $base/system/custom_emojis/images/$part/static/blobcat.png",
            "wave_hi $base/system/custom_emojis/images/$wpart/static/wave_hi.png" ],
          'its emojis: the local ones it names');
my $sid = $res->json->{id};
is_deeply([ map { $_->{shortcode} } @{ $ua->get("/api/v1/statuses/$sid" => $ha)->result->json->{emojis} } ],
          [ 'blobcat', 'wave_hi' ], 'read back');

$res = $ua->patch('/api/v1/accounts/update_credentials' => $ha
                  => form => { display_name => 'Alice :blobcat:', note => ':wave_hi:' })->result;
is($res->code, 200, 'a display name and note naming them');
is_deeply([ map { $_->{shortcode} } @{ $ua->get("/api/v1/accounts/$alice->{account_id}" => $ha)->result->json->{emojis} } ],
          [ 'blobcat', 'wave_hi' ], "the account's emojis");

# --- remove ---------------------------------------------------------------------------------------
($rc, $out, $err) = $t->worker_cli('emoji', 'remove', 'wave_hi');
is($rc, 0, 'remove') or diag $err;
ok(!-e "$dir/system/custom_emojis/images/$wpart/original/wave_hi.gif", 'its files are gone');
is_deeply([ map { $_->{shortcode} } @{ $ua->get('/api/v1/custom_emojis')->result->json } ],
          [ 'blobcat' ], 'no longer listed');
($rc, $out, $err) = $t->worker_cli('emoji', 'remove', 'wave_hi');
isnt($rc, 0, 'removing it again fails');

# --overwrite replaces the image of the same row
($rc, $out, $err) = $t->worker_cli('emoji', 'add', 'blobcat', "$dir/wave.gif", '--overwrite');
is($rc, 0, '--overwrite') or diag $err;
is($t->psql(q{SELECT id || ' ' || image_content_type FROM custom_emojis WHERE shortcode = 'blobcat' AND domain IS NULL}),
   "$id image/gif", 'the same emoji, its new image');
ok(!-e "$dir/system/custom_emojis/images/$part/original/blobcat.png", 'the old file gone');

$t->done;
