# Each route's body limit holds before the body is read: a 16 MB body to an
# unauthenticated route is answered 413 at once (the client has not even
# sent it), chunked bodies stop at the limit, small JSON and form bodies stay
# in memory, larger ones nginx wrote to a file are read in the thread pool,
# and a status's text is bounded before it is scanned.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use MastodonTest;

# no worker: an avatar's answer does not wait for one (mastodon_media_v1_wait 0)
my $t = MastodonTest->new(worker => 0, location_config => 'client_max_body_size 16m;',
    http_config => 'mastodon_media_v1_wait 0;');
my $m = $t->mojo;

my $json = { 'Content-Type' => 'application/json' };

# raw HTTP: the request head and only the first bytes of a 16 MB body
sub head_only {
    my ($head) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp', Timeout => 30)
        or die "connect: $!";
    print $s $head, 'x' x 1000;
    my $res = '';
    local $SIG{ALRM} = sub { die "no answer\n" };
    alarm 30;
    # up to the end of the error body; the connection itself lingers on
    eval { while ($res !~ m!"error"[^}]*\}|</html>!i) { sysread($s, $res, 4096, length $res) or last } 1 };
    alarm 0;
    my ($status, $rest) = split /\r\n/, $res, 2;
    close $s;
    return ($status // '', $rest // '');
}

my ($status, $rest) = head_only("POST /api/v1/apps HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/json\r\nContent-Length: 16777216\r\n\r\n");
like($status, qr{^HTTP/1\.1 413}, '16 MB to an unauthenticated route: 413 before the body is sent');
like($rest, qr/"error"/, '... with a JSON error');

($status) = head_only("POST /auth/sign_in/ HTTP/1.1\r\nHost: localhost\r\n"
    . "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 16777216\r\n\r\n");
like($status, qr{^HTTP/1\.1 413}, 'the same for the sign-in form, trailing slash and all');

($status) = head_only("POST /api/v1/apps HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
    . "Content-Type: application/json\r\nContent-Length: 16777216\r\n\r\n");
like($status, qr{^HTTP/1\.1 413}, 'with Expect: 100-continue: 413, no "100 Continue" first');

# just over the limit of a JSON route
$m->post_ok('/api/v1/apps', $json, '{"client_name":"' . ('x' x (1024 * 1024)) . '"}')
  ->status_is(413, 'a JSON body over 1 MB: 413')->json_like('/error', qr/too large/i);

{
    my $tx = $m->ua->build_tx(POST => '/api/v1/apps' => $json);
    $tx->req->content->write_chunk('{"client_name":"' . ('x' x 600000), sub {
        shift->write_chunk('x' x 600000, sub { shift->write_chunk('"}', sub { shift->write_chunk('') }) });
    });
    $m->request_ok($tx)->status_is(413, 'chunked over the route limit (under client_max_body_size): 413');
}

# a small body: parsed from memory, never a temporary file
my $log_at = length $t->error_log;
$m->post_ok('/api/v1/apps', $json, '{"client_name":"' . ('x' x 60000) . '"}')
  ->status_is(422, 'a 60 KB JSON body is read and validated')
  ->json_like('/error', qr/Application name is too long/);
unlike(substr($t->error_log, $log_at), qr/buffered to a temporary file/, 'small bodies stay in memory');
$log_at = length $t->error_log;

# under the limit but larger: from its file, read in the thread pool
$m->post_ok('/api/v1/apps', $json, '{"client_name":"' . ('x' x 900000) . '"}')
  ->status_is(422, 'a 900 KB JSON body is read and validated')
  ->json_like('/error', qr/Application name is too long/);
like(substr($t->error_log, $log_at), qr/buffered to a temporary file/, '... which nginx did write to a file');

# multipart with a file part, larger than the memory buffer: read in the pool
my $alice = $t->user('alice');
$m->patch_ok('/api/v1/accounts/update_credentials', $t->bearer($alice->{token}),
    # a PNG by its first bytes: avatars are sniffed (and processed by the worker)
    form => { display_name => 'Alice A.', avatar => { content => "\x89PNG\r\n\x1a\n" . 'x' x (2 * 1024 * 1024),
        filename => 'a.png',
        'Content-Type' => 'image/png' } })
  ->status_is(200, 'a 2 MB multipart body, over the form limit (a route with files)')
  ->json_is('/display_name', 'Alice A.');

# a status's text: 450 characters may be megabytes (combining marks), so its
# routes take client_max_body_size; the count is Mastodon's
my $auth_json = { %{ $t->bearer($alice->{token}) }, %$json };
$m->post_ok('/api/v1/statuses', $auth_json, '{"status":"' . ('a' x 400000) . '"}')
  ->status_is(422)->json_is('/error', 'Validation failed: Text character limit of 500 exceeded');
$m->post_ok('/api/v1/statuses', $auth_json,
    '{"status":"' . join(' ', map { 'https://example.com/' . ('p' x 2000) . $_ } 1 .. 20) . '"}')
  ->status_is(200, '20 URLs of 2 KB each: 480 characters, allowed');

$m->get_ok('/api/v1/instance')->status_is(200, 'the server is fine afterwards');

$t->done;
