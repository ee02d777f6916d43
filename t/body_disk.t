# Big multipart bodies stay on disk: nginx writes an upload to its temporary
# file, a pool thread parses it there in 64 KB chunks, text fields are kept
# and file parameters become ranges of that file (checked through the test
# aid mastodon_debug_upload, which answers the parameter tree with each
# file's SHA-256 read back from its range).  A 40 MB upload leaves the
# worker's peak memory where it was; delimiters split across chunk edges,
# truncated and malformed bodies, text over the limit, chunked uploads, and
# the real route that takes files (update_credentials) the same way.

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use MastodonTest;

my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 64m;',
    server_config => 'location = /api/mastodon_debug/upload { mastodon; mastodon_debug_upload on; '
        . 'client_max_body_size 64m; }');
my $m = $t->mojo;

my $B = 'b0UnDaRy';
my $ct = { 'Content-Type' => "multipart/form-data; boundary=$B" };
my $end = "--$B--\r\n";
sub field { "--$B\r\nContent-Disposition: form-data; name=\"$_[0]\"\r\n\r\n$_[1]\r\n" }
sub file_head { "--$B\r\nContent-Disposition: form-data; name=\"$_[0]\"; filename=\"$_[1]\"\r\nContent-Type: $_[2]\r\n\r\n" }
sub upload { $m->post_ok('/api/mastodon_debug/upload', $ct, $_[0]) }

# the worker's peak resident memory, in kB
sub hwm {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or die "/proc/$pid/status: $!";
    while (<$fh>) { return $1 if /^VmHWM:\s+(\d+) kB/ }
    die "no VmHWM";
}

sub temp_files { my @f = grep { -f } glob($t->dir . '/body/*'); scalar @f }

# a request is freed (its file removed) a moment after its answer: wait
sub no_temp_files {
    for (1 .. 100) { return 1 unless temp_files(); select undef, undef, undef, 0.1 }
    return 0;
}

# the aid's route exists only where it is configured
$m->post_ok('/api/mastodon_debug/upload/', $ct, field('a', '1') . $end)->status_is(404, 'the test route is off elsewhere');

# a small upload: still a file, the field and the file intact
my $head = field('description', 'before') . file_head('file', 'a b.png', 'image/png');
upload($head . "\x89PNG\0\xff\r\n" . $end)->status_is(200)
  ->json_is('/params/description', 'before')
  ->json_is('/params/file/filename', 'a b.png')
  ->json_is('/params/file/content_type', 'image/png', 'the declared type, kept as a hint')
  ->json_is('/params/file/size', 6)
  ->json_is('/params/file/on_disk', Mojo::JSON::true, 'a media route keeps its upload in a file')
  ->json_is('/params/file/named', Mojo::JSON::true, '... under its name while the request lives')
  ->json_is('/params/file/offset', length $head)
  ->json_is('/params/file/sha256', sha256_hex("\x89PNG\0\xff"));
my $pid = $m->tx->res->json('/pid');
ok($pid, "the worker's pid: $pid");
ok(no_temp_files(), 'and the file is gone after the request');

# warm up with 2 MB, then 40 MB: fields before and after the file intact,
# the file's range exact, and the worker's peak memory unmoved by it
my $pattern = join '', map { chr(($_ * 7 + ($_ >> 8)) & 255) } 0 .. 65535;
for my $mb (2, 40) {
    my $data = $pattern x (16 * $mb);
    my $before = hwm($pid);
    my $head = field('description', 'before the file') . file_head('file', 'big.mp4', 'video/mp4');
    upload($head . $data . "\r\n" . field('after[]', 'one') . field('after[]', "two \xc3\xa9") . $end)
      ->status_is(200, "$mb MB uploaded")
      ->json_is('/pid', $pid)
      ->json_is('/params/description', 'before the file')
      ->json_is('/params/after', ['one', "two \x{e9}"], 'fields after the file intact')
      ->json_is('/params/file/size', length $data)
      ->json_is('/params/file/offset', length $head)
      ->json_is('/params/file/sha256', sha256_hex($data), 'the range holds the file exactly');
    my $grew = hwm($pid) - $before;
    if ($mb == 40) {
        cmp_ok($grew, '<', 8 * 1024, "the worker's peak memory grew by $grew kB for a 40 MB upload");
    }
}
ok(no_temp_files(), 'no temporary file left');

# a delimiter at every place across the first chunk edge (64 KB)
my $dlen = length "\r\n--$B";
my $split_ok = 1;
for my $j (0 .. $dlen + 1) {
    my $head = field('a', 'x') . file_head('f', 'edge.bin', 'application/octet-stream');
    my $data = substr($pattern x 2, 0, 65536 - $j - length $head);
    my $tx = $m->ua->post('/api/mastodon_debug/upload', $ct,
        $head . $data . "\r\n" . field('z', "after $j") . $end);
    my $json = $tx->res->json // {};
    $split_ok &&= is($json->{params}{f}{size}, length $data, "delimiter $j bytes before the edge: the file's size")
        && is($json->{params}{f}{sha256}, sha256_hex($data), '... its bytes')
        && is($json->{params}{z}, "after $j", '... and the field after it');
}
ok($split_ok, 'delimiters split across the chunk edge all found');

# a header block across the edge
{
    my $pad = field('pad', 'p' x (65536 - 40 - length field('pad', '')));
    upload($pad . file_head('f', 'h.bin', 'image/gif') . "GIF89a\r\n" . $end)->status_is(200)
      ->json_is('/params/f/filename', 'h.bin')->json_is('/params/f/sha256', sha256_hex('GIF89a'));
}

# sent chunked (no length known beforehand)
{
    my $data = $pattern x 48;                       # 3 MB
    my $tx = $m->ua->build_tx(POST => '/api/mastodon_debug/upload' => $ct);
    my @pieces = (field('a', 'chunked') . file_head('f', 'c.bin', 'image/png'),
                  (map { substr($data, $_ * 1000000, 1000000) } 0 .. 3), "\r\n" . $end);
    my $next;
    $next = sub { my $p = shift @pieces; $tx->req->content->write_chunk($p // '', @pieces || defined $p ? $next : undef) };
    $next->();
    $m->request_ok($tx)->status_is(200, 'a chunked upload')
      ->json_is('/params/a', 'chunked')->json_is('/params/f/sha256', sha256_hex($data));
}

# refused: nothing is kept, no file left
my $big = $pattern x 32;                            # 2 MB
upload(field('a', '1') . file_head('f', 't.bin', 'image/png') . $big)
  ->status_is(400, 'truncated: no closing boundary')->json_like('/error', qr/multipart body: no closing boundary/);
upload(field('a', '1') . file_head('f', 't.bin', 'image/png') . $big . "\r\n--$B")
  ->status_is(400, 'cut right after the last delimiter')->json_like('/error', qr/multipart body: malformed part/);
upload(field('a', '1') . "--${B}X\r\n" . $big . $end)
  ->status_is(400, 'a delimiter followed by junk')->json_like('/error', qr/multipart/);
upload("--$B\r\nContent-Type: text/plain\r\n\r\n$big\r\n$end")
  ->status_is(400, 'a part without a name')->json_like('/error', qr/form-data name/);
upload(field('a', 'x' x (1024 * 1024 + 1)) . file_head('f', 't.bin', 'image/png') . $big . "\r\n" . $end)
  ->status_is(413, 'text fields over 1 MB: 413')->json_like('/error', qr/.+/);
upload(field('a', "\xc0\xaf") . file_head('f', 't.bin', 'image/png') . $big . "\r\n" . $end)
  ->status_is(400, 'a text field that is not UTF-8')->json_like('/error', qr/UTF-8/);
$m->post_ok('/api/mastodon_debug/upload', { 'Content-Type' => 'multipart/form-data' }, $big)
  ->status_is(400, 'no boundary')->json_like('/error', qr/no boundary/);
ok(no_temp_files(), 'no temporary file left after the refusals');

# the client goes away while its upload is parsed: the request ends cleanly
{
    use IO::Socket::INET;
    my $logged = sub { Mojo::File->new($t->dir, 'access.log')->slurp =~ m{POST /api/mastodon_debug/upload\?gone=1 } };
    my $body = field('a', '1') . file_head('f', 'gone.bin', 'image/png') . ($pattern x 160) . "\r\n" . $end;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp', Timeout => 30)
        or die "connect: $!";
    print $s "POST /api/mastodon_debug/upload?gone=1 HTTP/1.1\r\nHost: localhost\r\n"
        . "Content-Type: multipart/form-data; boundary=$B\r\nContent-Length: " . length($body) . "\r\n\r\n" . $body;
    close $s;
    # nginx logs a request when it ends, then frees it
    for (1 .. 300) { last if $logged->() && !temp_files(); select undef, undef, undef, 0.1 }
    ok($logged->(), 'a 10 MB upload whose client left has ended');
    is(temp_files(), 0, '... and its file is removed');
    $m->get_ok('/api/v1/instance')->status_is(200, 'the server is fine afterwards');
}

# the route that takes files today: update_credentials, from its file
my $alice = $t->user('alice');
my $h = { %{ $t->bearer($alice->{token}) }, %$ct };
my $data = $pattern x (16 * 24);                    # 24 MB
my $hwm = hwm($pid);
# (a file part the route does not take: an avatar is sniffed and limited to 8 MB)
$m->patch_ok('/api/v1/accounts/update_credentials', $h,
    field('display_name', 'Big Alice') . file_head('attachment', 'a.png', 'image/png') . $data . "\r\n"
    . field('note', 'after the avatar') . $end)
  ->status_is(200, 'a 24 MB file upload to update_credentials')
  ->json_is('/display_name', 'Big Alice')->json_is('/source/note', 'after the avatar');
my $grew = hwm($pid) - $hwm;
cmp_ok($grew, '<', 8 * 1024, "the worker's peak memory grew by $grew kB for it");
my $before = $t->psql("SELECT display_name || note FROM accounts WHERE id = $alice->{account_id}");
$m->patch_ok('/api/v1/accounts/update_credentials', $h,
    field('display_name', 'Lost') . file_head('avatar', 'a.png', 'image/png') . $data)
  ->status_is(400, 'truncated: 400')->json_like('/error', qr/multipart/);
$m->patch_ok('/api/v1/accounts/update_credentials', $h,
    field('display_name', 'Lost') . file_head('avatar', 'a.png', 'image/png') . $data . "\r\n"
    . "--$B\r\nContent-Disposition: form-data\r\n\r\nx\r\n" . $end)
  ->status_is(400, 'malformed after the file: 400')->json_like('/error', qr/multipart/);
is($t->psql("SELECT display_name || note FROM accounts WHERE id = $alice->{account_id}"), $before,
   'nothing changed');
ok(no_temp_files(), 'no temporary file left');

$t->done;
