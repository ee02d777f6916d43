# Hostile and malformed request bodies get a clean 4xx with a JSON error,
# and the nginx worker processes stay up.  POST /api/v1/apps is the target:
# it reads JSON and form bodies.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 0, location_config => 'client_max_body_size 1m;');
my $m = $t->mojo;

sub workers_of {
    my ($master) = @_;
    my @pids = map { /^\s*(\d+)\s+(\d+)/ && $2 == $master ? $1 : () } `ps -e -o pid=,ppid=`;
    return join ',', sort @pids;
}
my $workers = workers_of($t->nginx_pid);
ok($workers, "nginx workers: $workers");

my $json = { 'Content-Type' => 'application/json' };
my $form = { 'Content-Type' => 'application/x-www-form-urlencoded' };

my @cases = (
    [ '100,000-deep JSON array', $json, ('[' x 100000) . (']' x 100000), 400, qr/nested deeper/ ],
    [ '100,000-deep JSON object', $json, ('{"a":' x 100000) . '1' . ('}' x 100000), 400, qr/nested deeper/ ],
    [ 'invalid UTF-8', $json, qq({"client_name":"\xff\xfe"}), 400, qr/UTF-8/ ],
    [ 'overlong UTF-8 encoding of "/"', $json, qq({"client_name":"\xc0\xaf"}), 400, qr/UTF-8/ ],
    [ 'UTF-16 surrogate in UTF-8', $json, qq({"client_name":"\xed\xa0\x80"}), 400, qr/UTF-8/ ],
    [ 'lone high surrogate escape', $json, '{"client_name":"a\ud83d"}', 400, qr/surrogate/ ],
    [ 'lone low surrogate escape', $json, '{"client_name":"\ude00b"}', 400, qr/surrogate/ ],
    [ 'high surrogate escape, then a BMP escape', $json, '{"client_name":"\ud83d\u0041"}', 400, qr/surrogate/ ],
    [ 'lone surrogate escape in a key', $json, '{"\udbff":1,"client_name":"x"}', 400, qr/surrogate/ ],
    [ 'NUL escaped inside a string', $json, '{"client_name":"a\u0000b"}', 400, qr/NUL/ ],
    [ 'NUL escaped inside a key', $json, '{"a\u0000":1}', 400, qr/NUL/ ],
    [ 'truncated document', $json, '{"client_name":"x","redirect_uris":["urn:', 400, qr/end of document/ ],
    [ 'trailing garbage', $json, '{"client_name":"x"} {}', 400, qr/unexpected/ ],
    [ 'comment', $json, '/* hi */ {"client_name":"x"}', 400, qr/unexpected/ ],
    [ 'raw control character in a string', $json, qq({"client_name":"a\x01"}), 400, qr/unexpected/ ],
    [ 'too many members', $json, '[' . join(',', (1) x 20000) . ']', 400, qr/too many/ ],
    [ 'form: bad %-encoding', $form, 'client_name=%zz', 400, qr/%-encoding/ ],
    [ 'form: NUL', $form, 'client_name=a%00b', 400, qr/NUL/ ],
    [ 'form: invalid UTF-8', $form, 'client_name=%ff', 400, qr/UTF-8/ ],
    [ 'form: one name, two types', $form, 'a[]=1&a[b]=2', 400, qr/conflicting/ ],
    [ 'form: nested too deeply', $form, 'a' . ('[x]' x 100) . '=1', 400, qr/nested/ ],
    [ 'form: a long multi-byte name in the message', $form,
      ("\xe2\x82\xac" x 30) . '[]=1&' . ("\xe2\x82\xac" x 30) . '[x]=2', 400, qr/conflicting/ ],
    [ 'query string: bad %-encoding', undef, undef, 400, qr/query string/, '/api/v1/apps?x=%g0' ],
    [ 'body over client_max_body_size', $json, 'x' x (2 * 1024 * 1024), 413, qr/too large/i ],
);

for my $c (@cases) {
    my ($name, $headers, $body, $status, $re, $path) = @$c;
    $m->post_ok($path // '/api/v1/apps', $headers // {}, $body // '')
      ->status_is($status, "$name: $status")
      ->content_type_is('application/json; charset=utf-8', "$name: JSON")
      ->json_like('/error', $re, "$name: says what is wrong");
}

# chunked body over the limit
{
    my $tx = $m->ua->build_tx(POST => '/api/v1/apps' => $json);
    $tx->req->content->write_chunk('[' x 600000, sub {
        shift->write_chunk('[' x 600000, sub { shift->write_chunk('') });
    });
    $m->request_ok($tx)->status_is(413, 'chunked body over the limit: 413')->json_has('/error');
}

# a non-object JSON document is not an error of its own (Rails keeps it aside)
$m->post_ok('/api/v1/apps', $json, '["x"]')->status_is(422)
  ->json_like('/error', qr/Validation failed: Application name can't be blank/);

# duplicate keys: the last one wins, as in Rails
$m->post_ok('/api/v1/apps', $json,
    '{"client_name":"first","client_name":"second","redirect_uris":"urn:ietf:wg:oauth:2.0:oob"}')
  ->status_is(200)->json_is('/name', 'second');

# a surrogate pair escape is the code point it spells
$m->post_ok('/api/v1/apps', $json,
    '{"client_name":"a\ud83d\ude00b","redirect_uris":"urn:ietf:wg:oauth:2.0:oob"}')
  ->status_is(200)->json_is('/name', "a\x{1F600}b");

# the server is fine afterwards, and no worker process died
$m->get_ok('/api/v1/instance')->status_is(200);
is(workers_of($t->nginx_pid), $workers, 'the same nginx workers still run');
unlike($t->error_log, qr/exited on signal|worker process \d+ exited/, 'no worker process crashed');

$t->done;
