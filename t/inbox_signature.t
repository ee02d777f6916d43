# The inboxes (POST /users/:username/inbox, POST /inbox): every check of a
# signed request without network, in Mastodon's terms, each refusal with
# its status and nothing stored; a valid request stored with its job; the
# body limit, the JSON bounds, domain blocks, RFC 9421.
use strict;
use warnings;
use Test::More;
use IO::Socket::INET;
use Mojo::JSON qw(decode_json encode_json);

use lib 't/lib';
use MastodonTest;
use HttpSigTest;

my $t = MastodonTest->new(worker => 0,
    http_config => 'mastodon_key_fetch_wait 1s; mastodon_json_max_depth 32;');
my $ua = $t->ua;
my $host = $t->domain;

my $alice = $t->user('alice');
my $bob_key = HttpSigTest::key($t->dir, 'bob');
my $other_key = HttpSigTest::key($t->dir, 'other');
my $bob_uri = 'https://remote.test/users/bob';
my $key_id = "$bob_uri#main-key";
(my $pub = $bob_key->{pub}) =~ s/'/''/g;
my $bob_id = $t->psql(qq{INSERT INTO accounts (username, domain, uri, public_key, inbox_url)
    VALUES ('bob', 'remote.test', '$bob_uri', '$pub', '$bob_uri/inbox') RETURNING id});

my $activity = encode_json({ '@context' => 'https://www.w3.org/ns/activitystreams',
    id => "$bob_uri#follows/1", type => 'Follow', actor => $bob_uri,
    object => $t->public_base . '/users/alice' });

sub stored { $t->psql('SELECT count(*) FROM inbox_activities') }
sub jobs_of { $t->psql(qq{SELECT count(*) FROM job_outbox WHERE type = '$_[0]'}) }

# post($path, $headers, $body, dup => [[name, value]], remove => [names])
sub post {
    my ($path, $h, $body, %o) = @_;
    my $tx = $ua->build_tx(POST => $t->base . $path => {} => $body // '');
    my $hh = $tx->req->headers;
    $hh->content_type('application/activity+json');
    $hh->header($_ => $h->{$_}) for keys %$h;
    $hh->add($_->[0] => $_->[1]) for @{ $o{dup} // [] };
    $hh->remove($_) for @{ $o{remove} // [] };
    $ua->start($tx);
    return $tx->res;
}

sub signed {
    my (%o) = @_;
    my $path = delete $o{path} // '/users/alice/inbox';
    return HttpSigTest::cavage(key => $bob_key, key_id => $key_id, host => $host, path => $path,
        body => $activity, %o);
}

# refused($name, $res, $status, $error_like): the status, Mastodon's body, nothing stored
my $before = stored();
sub refused {
    my ($name, $res, $status, $like) = @_;
    is($res->code, $status, "$name: $status") or diag($res->body);
    if ($like) {
        my $j = eval { decode_json($res->body) } // {};
        like($j->{error} // '', $like, "$name: error says why");
    }
    is(stored(), $before, "$name: nothing stored");
}

# --- accepted ---------------------------------------------------------------------

my $res = post('/users/alice/inbox', signed(), $activity);
is($res->code, 202, 'a signed Follow to an account inbox: 202');
is($res->body, '', '202 has no body');
is(stored(), $before + 1, 'stored');
my ($row) = $t->psql(q{SELECT id || '|' || coalesce(account_id::text, '') || '|' || signer_account_id
    || '|' || actor_uri || '|' || key_id || '|' || (body = '} . ($activity =~ s/'/''/gr) . q{')
    FROM inbox_activities ORDER BY id DESC LIMIT 1});
my ($id, $acct, $signer, $actor, $kid, $same) = split /\|/, $row;
is($acct, $alice->{account_id}, 'for alice');
is($signer, $bob_id, 'the signer is bob');
is($actor, $bob_uri, "the signer's actor URI");
is($kid, $key_id, 'the key id');
is($same, 'true', 'the body byte for byte');
is($t->psql(qq{SELECT count(*) FROM job_outbox WHERE queue = 'ingress' AND type = 'inbox_process'
    AND args::json->>'id' = '$id'}), 1, 'its inbox_process job, in the same transaction');

$res = post('/inbox', signed(path => '/inbox'), $activity);
is($res->code, 202, 'the shared inbox: 202');
is($t->psql('SELECT count(*) FROM inbox_activities WHERE account_id IS NULL'), 1,
   'stored without an inbox account');

$res = post('/users/alice/inbox', HttpSigTest::rfc9421(key => $bob_key, key_id => $key_id, host => $host,
    path => '/users/alice/inbox', body => $activity), $activity);
is($res->code, 202, 'RFC 9421 with Content-Digest: 202') or diag($res->body);

$res = post('/users/alice/inbox', signed(algorithm => 'hs2019'), $activity);
is($res->code, 202, 'cavage hs2019: 202');
$res = post('/users/alice/inbox', signed(algorithm => undef), $activity);
is($res->code, 202, 'no algorithm (hs2019): 202');

# a body larger than the memory buffer: nginx writes it to a file, read
# back in the thread pool, whatever its declared type
my $large = encode_json({ id => "$bob_uri#notes/1", type => 'Create', actor => $bob_uri,
    object => { type => 'Note', content => 'y' x (300 * 1024) } });
$res = post('/users/alice/inbox', signed(body => $large), $large);
is($res->code, 202, 'a 300 KB body: 202');
is($t->psql(q{SELECT length(body) FROM inbox_activities ORDER BY id DESC LIMIT 1}), length($large),
   'stored whole');
{
    my $tx = $ua->build_tx(POST => $t->base . '/inbox' => {} => $large);
    my $hs = signed(path => '/inbox', body => $large);
    $tx->req->headers->header($_ => $hs->{$_}) for keys %$hs;
    $tx->req->headers->content_type('multipart/form-data; boundary=x');
    $ua->start($tx);
    is($tx->res->code, 202, 'the same declared multipart: still taken as bytes');
}

$before = stored();

# --- refused, in the order of the checks --------------------------------------------

my $big = '{"a":"' . ('x' x (1024 * 1024)) . '"}';
refused('a body over 1 MB', post('/users/alice/inbox', signed(), $big), 413);

# a chunked body has no length to check first: it is cut at the limit
{
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Proto => 'tcp',
        Timeout => 10) or die "connect: $!";
    my $hs = signed();
    print $sock "POST /users/alice/inbox HTTP/1.1\r\n",
        (map { "$_: $hs->{$_}\r\n" } sort keys %$hs),
        "Content-Type: application/activity+json\r\nTransfer-Encoding: chunked\r\n\r\n";
    my $chunk = 'x' x 65536;
    for (1 .. 20) {
        last unless print $sock sprintf("%x\r\n", length $chunk), $chunk, "\r\n";
    }
    print $sock "0\r\n\r\n";
    my $status = <$sock> // '';
    like($status, qr{^HTTP/1\.1 413 }, 'a chunked body over 1 MB: 413');
    close $sock;
    is(stored(), $before, 'a chunked body over 1 MB: nothing stored');
}

refused('no signature', post('/users/alice/inbox', { Host => $host, Date => HttpSigTest::http_date(),
    Digest => HttpSigTest::digest($activity) }, $activity), 401, qr/^Request not signed$/);

my $h = signed();
refused('two Signature headers', post('/users/alice/inbox', $h, $activity,
    dup => [[ Signature => $h->{Signature} ]]), 401, qr/Exactly one/);
refused('two Date headers', post('/users/alice/inbox', $h, $activity,
    dup => [[ Date => $h->{Date} ]]), 401, qr/Exactly one/);
refused('two Digest headers', post('/users/alice/inbox', $h, $activity,
    dup => [[ Digest => $h->{Digest} ]]), 401, qr/Exactly one/);
refused('no Digest header', post('/users/alice/inbox', $h, $activity, remove => ['Digest']), 401,
    qr/Exactly one/);

refused('a malformed Signature', post('/users/alice/inbox', { %$h, Signature => 'keyId=' }, $activity),
    401, qr/^Error parsing signature parameters$/);
refused('a duplicated parameter', post('/users/alice/inbox', { %$h,
    Signature => $h->{Signature} . qq{,keyId="$key_id"} }, $activity), 401,
    qr/^Error parsing signature parameters$/);
refused('an unknown parameter', post('/users/alice/inbox', signed(extra => ',foo="bar"'), $activity),
    401, qr/^Error parsing signature parameters$/);
refused('an unknown algorithm', post('/users/alice/inbox', signed(algorithm => 'rsa-sha512'), $activity),
    401, qr/^Unsupported signature algorithm/);
(my $bad64 = $h->{Signature}) =~ s/signature="/signature="!!/;
refused('bad base64', post('/users/alice/inbox', { %$h, Signature => $bad64 }, $activity), 401,
    qr/^Error parsing signature parameters$/);
(my $nokey = $h->{Signature}) =~ s/keyId="[^"]*",//;
refused('no keyId', post('/users/alice/inbox', { %$h, Signature => $nokey }, $activity), 401,
    qr/keyId and signature are required/);

refused('digest not signed', post('/users/alice/inbox',
    signed(headers => '(request-target) host date'), $activity), 401, qr/Digest header to be signed/);
refused('host not signed', post('/users/alice/inbox',
    signed(headers => '(request-target) date digest'), $activity), 401, qr/Host header to be signed/);
refused('(request-target) not signed', post('/users/alice/inbox',
    signed(headers => 'host date digest'), $activity), 401, qr/\(request-target\)/);
refused('date not signed', post('/users/alice/inbox',
    signed(headers => '(request-target) host digest'), $activity), 401, qr/Date header to be signed/);

refused('a Date 66 minutes old', post('/users/alice/inbox', signed(date => time - 66 * 60), $activity),
    401, qr/^Signed request date outside acceptable time window$/);
refused('a Date 61 minutes ahead', post('/users/alice/inbox', signed(date => time + 61 * 60), $activity),
    401, qr/^Signed request date outside acceptable time window$/);
refused('a Date that is no HTTP date', post('/users/alice/inbox', { %$h, Date => 'yesterday' }, $activity),
    401, qr/Invalid Date header/);

refused('a wrong digest', post('/users/alice/inbox', signed(), $activity . ' '), 401,
    qr/^Invalid Digest value$/);
refused('a digest of another algorithm', post('/users/alice/inbox',
    signed(digest => 'SHA-512=abc'), $activity), 401, qr/only supports SHA-256/);

refused('another host signed', post('/users/alice/inbox', { %{ signed(signed_host => 'evil.test') },
    Host => 'evil.test' }, $activity), 401, qr/Host header does not match/);

# a signature that does not verify: the key is refreshed (the worker's
# answer is there already: fetched a moment ago), then Mastodon's 401
$t->redis('SET', HttpSigTest::answer_key($key_id), '{"ok":true}', 'EX', '60');
$res = post('/users/alice/inbox', signed(sign_with => $other_key), $activity);
refused('signed with another key', $res, 401,
    qr{^Verification failed for bob\@remote\.test https://remote\.test/users/bob using rsa-sha256});
my $j = decode_json($res->body);
like($j->{signed_string} // '', qr{^\(request-target\): post /users/alice/inbox\nhost: \Q$host\E\n},
     'the body has the signed string, as Mastodon');
ok($j->{signature}, 'and the signature');
$t->redis('DEL', HttpSigTest::answer_key($key_id));

# no answer and no worker: a fetch_key job, the bounded wait, Mastodon's 401
my $fetches = jobs_of('fetch_key');
refused('a signature of another request', post('/users/alice/inbox', signed(path => '/inbox'),
    $activity), 401, qr/^Could not refresh public key \Q$key_id\E$/);
is(jobs_of('fetch_key'), $fetches + 1, 'the worker was asked to fetch the key again');
is($t->psql(q{SELECT args::json->>'key_id' FROM job_outbox WHERE type = 'fetch_key' ORDER BY id DESC LIMIT 1}),
   $key_id, 'fetch_key names the key id');

refused('RFC 9421 without content-digest', post('/users/alice/inbox', HttpSigTest::rfc9421(key => $bob_key,
    key_id => $key_id, host => $host, path => '/users/alice/inbox', body => $activity,
    components => ['@method', '@target-uri']), $activity), 401, qr/Content-Digest header to be signed/);
refused('RFC 9421, created two hours ago', post('/users/alice/inbox', HttpSigTest::rfc9421(key => $bob_key,
    key_id => $key_id, host => $host, path => '/users/alice/inbox', body => $activity,
    created => time - 7200), $activity), 401, qr/time window/);
refused('RFC 9421, two Signature-Input headers', post('/users/alice/inbox', do {
        my $r = HttpSigTest::rfc9421(key => $bob_key, key_id => $key_id, host => $host,
            path => '/users/alice/inbox', body => $activity);
        $r }, $activity, dup => [[ 'Signature-Input' => 'sig2=("@method");created=1;keyid="x"' ]]),
    401, qr/Exactly one/);

# the body: a JSON object within bounds
my $nested = '{"a":' . ('[' x 100) . (']' x 100) . '}';
refused('a deeply nested body', post('/users/alice/inbox', signed(body => $nested), $nested), 400,
    qr/invalid JSON body/);
refused('a body that is no JSON', post('/users/alice/inbox', signed(body => 'hello'), 'hello'), 400,
    qr/invalid JSON body/);
refused('a JSON array', post('/users/alice/inbox', signed(body => '[1]'), '[1]'), 400,
    qr/invalid JSON body/);
my $bad_utf8 = qq{{"a":"\xff"}};
refused('invalid UTF-8', post('/users/alice/inbox', signed(body => $bad_utf8), $bad_utf8), 400);

refused('an account that does not exist', post('/users/nobody/inbox',
    signed(path => '/users/nobody/inbox'), $activity), 404);

# --- domain blocks ------------------------------------------------------------------

$t->psql(q{INSERT INTO domain_blocks (domain, severity) VALUES ('remote.test', 0)});
$res = post('/users/alice/inbox', signed(), $activity);
is($res->code, 202, 'a silenced domain still delivers');
$before = stored();

$t->psql(q{UPDATE domain_blocks SET severity = 1});
refused('a suspended domain (key cached)', post('/users/alice/inbox', signed(), $activity), 403,
    qr/^Public key not found for key \Q$key_id\E$/);
$t->psql(q{UPDATE domain_blocks SET domain = 'test'});
refused('a suspended parent domain', post('/users/alice/inbox', signed(), $activity), 403);
$t->psql(q{DELETE FROM domain_blocks});
is(post('/users/alice/inbox', signed(), $activity)->code, 202, 'unblocked: 202 again');

$t->done;
