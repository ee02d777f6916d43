#!/usr/bin/perl
# `mastodon-worker emoji import ARCHIVE.tar.gz` as tootctl emoji import:
# each .png/.gif/.webp file of the archive an emoji named by its base name
# (with --prefix/--suffix), macOS "._" files and other entries skipped, an
# existing shortcode skipped unless --overwrite, --unlisted hides them from
# the picker, --category groups them; bounded (worker/tar_gz.c): a path
# outside the archive, an oversized image, a broken or truncated archive are
# refused with nothing stored for them.  The archives are written here, byte
# by byte (ustar headers, a GNU long name), then gzipped.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use IO::Compress::Gzip qw(gzip $GzipError);
use MIME::Base64 qw(decode_base64);
use MastodonTest qw(slurp);
use Test::More;

my $t = MastodonTest->new(worker => 0);
my $dir = $t->dir;
$ENV{MASTODON_MEDIA_ROOT} = "$dir/system";

sub spew { my ($f, $b) = @_; open my $fh, '>:raw', $f or die "$f: $!"; print $fh $b; close $fh }

# one tar header block (ustar), its checksum computed
sub header {
    my ($name, $size, $type) = @_;
    my $h = pack('a100 a8 a8 a8 a12 a12 A8 a1 a100 a6 a2 a32 a32 a8 a8 a155 a12',
                 $name, '0000644', '0000000', '0000000', sprintf('%011o', $size),
                 sprintf('%011o', 1700000000), ' ' x 8, $type, '', "ustar\0", '00',
                 'root', 'root', '', '', '', '');
    my $sum = unpack('%32C*', $h);
    substr($h, 148, 8) = sprintf("%06o\0 ", $sum);
    return $h;
}
sub pad { my $n = length $_[0]; return $_[0] . ("\0" x ((512 - $n % 512) % 512)) }
sub entry {
    my ($name, $data, $type) = @_;
    my $out = '';
    if (length $name > 100) {                   # GNU long name
        $out .= header('././@LongLink', length($name) + 1, 'L') . pad("$name\0");
        $name = substr($name, 0, 100);
    }
    return $out . header($name, length $data, $type // '0') . pad($data);
}
sub archive {
    my ($file, @entries) = @_;
    my $tar = join('', @entries) . ("\0" x 1024);
    gzip(\$tar => "$dir/$file") or die $GzipError;
    return "$dir/$file";
}

system('vips', 'black', "$dir/black.png", 8, 8) == 0 or die 'vips failed';
my $png = slurp("$dir/black.png");
my $gif = decode_base64('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7');
my $long = ('d' x 120) . '/long_one.png';

my $a1 = archive('set.tar.gz',
    entry('emojis/', '', '5'),
    entry('emojis/blob.png', $png),
    entry('emojis/wave.gif', $gif),
    entry('emojis/._blob.png', 'mac junk'),
    entry('emojis/readme.txt', 'not an emoji'),
    entry($long, $png),
    entry('emojis/link.png', '', '2'),
    entry('../escape.png', $png),
    entry('emojis/../../up.png', $png),
    entry('/abs.png', $png),
    entry('emojis/svg.png', "<svg xmlns='http://www.w3.org/2000/svg'/>"),
    entry('emojis/huge.png', $png . ("\0" x 262144)));

my ($rc, $out, $err) = $t->worker_cli('emoji', 'import', $a1, '--prefix', 'x_', '--suffix', '_y',
                                      '--category', 'Set', '--unlisted');
is($rc, 0, 'the archive is read through') or diag $err;
like($out, qr/^Imported 3, skipped 0, failed to import 5$/m, "tootctl's summary");
like($err, qr{\.\./escape\.png: refused}, 'a parent path is refused');
like($err, qr{emojis/\.\./\.\./up\.png: refused}, '... also inside the name');
like($err, qr{/abs\.png: refused}, 'an absolute path is refused');
like($err, qr{svg\.png: Image must be a PNG, GIF or WebP}, 'the bytes decide, not the name');
like($err, qr{huge\.png: Image must be less than 256 KB}, 'over 256 KB is refused');
is($t->psql(q{SELECT string_agg(shortcode, ',' ORDER BY shortcode) FROM custom_emojis WHERE domain IS NULL}),
   'x_blob_y,x_long_one_y,x_wave_y', 'the three images, named prefix + base name + suffix');
is($t->psql(q{SELECT count(*) FROM custom_emojis e JOIN custom_emoji_categories c ON c.id = e.category_id
              WHERE c.name = 'Set' AND NOT e.visible_in_picker}), 3, '--category and --unlisted');
ok(!-e "$dir/escape.png" && !-e "$dir/../up.png" && !-e '/abs.png', 'nothing written outside');
my $id = $t->psql(q{SELECT id FROM custom_emojis WHERE shortcode = 'x_wave_y'});
my $part = sprintf('%03d/%03d/%03d', int($id / 1e6) % 1000, int($id / 1e3) % 1000, $id % 1000);
is(slurp("$dir/system/custom_emojis/images/$part/original/x_wave_y.gif"), $gif, 'the GIF stored as it came');

# again: existing shortcodes are skipped, or replaced with --overwrite
($rc, $out, $err) = $t->worker_cli('emoji', 'import', archive('again.tar.gz', entry('blob.png', $png)),
                                   '--prefix', 'x_', '--suffix', '_y');
like($out, qr/^Imported 0, skipped 1, failed to import 0$/m, 'an existing one is skipped');
($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/again.tar.gz", '--prefix', 'x_', '--suffix', '_y',
                                   '--overwrite');
like($out, qr/^Imported 1, skipped 0, failed to import 0$/m, '--overwrite replaces it');
is($t->psql(q{SELECT visible_in_picker FROM custom_emojis WHERE shortcode = 'x_blob_y'}), 't', '... now listed');

# broken archives: refused, exit 1, nothing stored past the break
my $before = $t->psql('SELECT count(*) FROM custom_emojis');
spew("$dir/plain.tar.gz", 'this is no archive at all, not even close' x 20);
($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/plain.tar.gz");
is($rc, 1, 'not an archive: exit 1');
like($err, qr/not a tar archive|ends early/, '... said so');
my $whole = slurp(archive('cut.tar.gz', entry('cut1.png', $png), entry('cut2.png', $png)));
spew("$dir/cut.tar.gz", substr($whole, 0, length($whole) - 30));
($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/cut.tar.gz");
is($rc, 1, 'a truncated archive: exit 1');
is($t->psql(q{SELECT count(*) FROM custom_emojis WHERE shortcode = 'cut2'}), 0, 'nothing stored past the break');
cmp_ok($t->psql('SELECT count(*) FROM custom_emojis'), '<=', $before + 1, '... at most what came before it');
my $bad = entry('sum.png', $png);
substr($bad, 148, 6) = '000001';                     # a wrong checksum
($rc, $out, $err) = $t->worker_cli('emoji', 'import', archive('sum.tar.gz', $bad));
is($rc, 1, 'a wrong header checksum: exit 1');
like($err, qr/checksum/, '... named');
is($t->psql('SELECT count(*) FROM custom_emojis WHERE shortcode = \'sum\''), 0, 'nothing stored from it');
($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/missing.tar.gz");
is($rc, 1, 'a missing file: exit 1');

done_testing;
