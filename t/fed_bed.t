#!/usr/bin/perl
# The federation test bed itself (t/lib/Federation.pm, t/lib/FakePeer.pm):
# a private network namespace where one.test, two.test and peer.test resolve
# to 127.0.0.2-4 and their certificates verify against the bed's CA (from
# curl, from the worker's libcurl, from Perl), both instances serve their
# own names over https, the fake peer's signed requests arrive and its
# verifier checks signatures, and tear-down leaves no process behind.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha256);

my $bed = Federation->new(hosts => { 'evil.test' => '10.9.8.7' });
my ($one, $two, $peer) = ($bed->instance('one'), $bed->instance('two'), $bed->peer);
note sprintf('bed set up in %.2f s', $bed->setup_seconds);

sub run {
    my ($rc, $out, $err) = MastodonTest::_capture(@_);
    return wantarray ? ($rc, $out, $err) : $out;
}

# --- a namespace of its own ----------------------------------------------------------
is($$, 1, 'the test runs as PID 1 of its own PID namespace');
isnt(readlink('/proc/self/ns/net'), $ENV{MASTODON_FED_OUTER_NETNS}, 'in a network namespace of its own');
is($ENV{MASTODON_FED_OUTER_HOSTS}, 'no .test', 'outside, /etc/hosts names no .test host');
my $links = run('ip', '-o', 'link', 'show');
is(scalar(() = $links =~ /^\d+:/mg), 1, 'only one interface inside') or diag $links;
like($links, qr/^\d+: lo: <[^>]*\bUP\b/m, 'lo is up');

for my $n (qw(one two peer)) {
    my $got = run('getent', 'hosts', "$n.test");
    like($got, qr/^\Q${\ $bed->address($n)}\E\s+\Q$n.test\E\b/, "$n.test resolves to " . $bed->address($n));
}
like(run('getent', 'hosts', 'evil.test'), qr/^10\.9\.8\.7\s+evil\.test\b/, 'an extra name: evil.test is 10.9.8.7');
like(run('ip', '-o', 'addr', 'show', 'dev', 'lo'), qr{inet 10\.9\.8\.7/32}, '... a private address on lo, inside only');
my ($rc) = run('getent', 'hosts', 'nowhere.test');
isnt($rc, 0, 'a name not in the bed does not resolve');

# --- TLS: curl, libcurl (the worker), Perl ---------------------------------------------
for my $inst ($one, $two) {
    my ($rc, $out, $err) = run('curl', '-sS', '--max-time', '10', $inst->url('/api/v1/instance'));
    is($rc, 0, 'curl verifies ' . $inst->host . ' against the system bundle (the bed CA)') or diag $err;
    like($out, qr/"uri":"\Q${\ $inst->host}\E"/, 'and gets its instance');
}
($rc, undef, my $err) = run('curl', '-sS', '--max-time', '10', 'https://' . $bed->address('one') . '/');
isnt($rc, 0, 'a certificate for another name is refused (verification is on)');
like($err, qr/certificate|SSL/i, '... for a certificate reason') or diag $err;

my ($wrc, $wout, $werr) = $one->worker_cli('http-test', '--timeout', 10000,
    $two->url('/api/v1/instance'), $peer->url('/users/nobody'), 'https://' . $bed->address('two') . '/');
is($wrc, 0, 'mastodon-worker http-test ran') or diag $werr;
like($wout, qr/^0 status=200 .*"uri":"two\.test"/m, "the worker's libcurl verifies two.test");
like($wout, qr/^1 status=404 /m, "... and peer.test (the fake peer answers 404 for an unknown path)");
like($wout, qr/^2 status=0 bytes=0 error=.*(?:certificate|SSL)/mi, '... and refuses a name the certificate lacks')
    or diag $wout;

# the worker's guarded fetch client (worker/fetch.c) with the bed's settings:
# ca_file, and the bed's loopback addresses allowed, no other
SKIP: {
    my ($frc, $fout, $ferr) = $one->worker_cli('fetch-test', '--kind', 'other', $two->url('/api/v1/instance'),
        'https://localhost:1/', $peer->url('/users/nobody'));
    skip 'the worker has no fetch-test (worker/fetch.c not merged)', 3 unless $fout =~ /outcome=/;
    like($fout, qr/^0 outcome=ok status=200 .*"uri":"two\.test"/m, 'the guarded fetch reaches two.test over https');
    like($fout, qr/^1 outcome=refused /m, '... refuses 127.0.0.1 (not a bed address)') or diag $fout;
    like($fout, qr/^2 outcome=ok status=404 /m, '... and reaches peer.test');
}

# a tripwire counts connections: the guarded fetch never connects to a private address
my $wire = $bed->tripwire('10.9.8.7', 443);
run('curl', '-sS', '--max-time', '5', 'https://evil.test/');
is($wire->hits, 1, 'a tripwire on evil.test:443 counts a connection');
SKIP: {
    my ($frc, $fout) = $one->worker_cli('fetch-test', 'https://evil.test/users/x', 'https://10.9.8.7/y');
    skip 'the worker has no fetch-test (worker/fetch.c not merged)', 2 unless $fout =~ /outcome=/;
    like($fout, qr/^0 outcome=refused /m, 'the guarded fetch refuses evil.test (10.9.8.7)') or diag $fout;
    like($fout, qr/^1 outcome=refused /m, '... and the literal address');
    is($wire->hits, 1, '... without connecting');
}

# --- both instances over https with their names ------------------------------------------
for my $inst ($one, $two) {
    my $res = $inst->api(GET => '/api/v1/instance');
    is($res->code, 200, $inst->host . ' answers /api/v1/instance over https');
    is($res->json->{uri}, $inst->host, '... with its uri');
    is($res->json->{urls}{streaming_api}, 'wss://' . $inst->host, '... and https-based URLs');
}
my $alice = $one->account('alice');
my $res = $one->api(GET => '/api/v1/accounts/verify_credentials', token => $alice->{token});
is($res->code, 200, 'an account with a token works on one.test');
is($res->json->{username}, 'alice', '... as alice');
like($one->psql("SELECT public_key FROM accounts WHERE id = $alice->{account_id}"), qr/BEGIN PUBLIC KEY/,
    '... who has an RSA key');
is($two->psql("SELECT count(*) FROM accounts WHERE username = 'alice'"), 0, "two.test's database is its own");

# --- the fake peer ---------------------------------------------------------------------
my $m = $peer->actor('mallory');
$res = $one->ua->get($m->{id} => { Accept => 'application/activity+json' })->result;
is($res->code, 200, 'the peer serves its actor');
is($res->json->{publicKey}{id}, "$m->{id}#main-key", '... with its key id');
like($res->json->{publicKey}{publicKeyPem}, qr/BEGIN PUBLIC KEY/, '... and key');
$res = $one->ua->get($peer->url('/.well-known/webfinger?resource=acct:mallory@peer.test'))->result;
is($res->json->{links}[0]{href}, $m->{id}, 'and WebFinger');

# its signer against its verifier, through its own inbox
$peer->clear_received;
my $act = $peer->activity(type => 'Follow', object => $alice->{uri});
is($peer->post($peer->url('/users/mallory/inbox'), $act)->code, 202, 'the peer takes a signed POST');
my ($got) = $peer->received(method => 'POST');
is($got->{json}{id}, $act->{id}, '... records it');
is_deeply($peer->verify($got, $m->{public_pem}), { ok => 1, key_id => $m->{key_id}, scheme => 'cavage' },
    '... and its signature verifies');
$peer->clear_received;
$peer->post($peer->url('/inbox'), $act, tamper_body => '{"x":1}');
$peer->post($peer->url('/inbox'), $act, corrupt => 1);
$peer->post($peer->url('/inbox'), $act, rfc9421 => 1);
$peer->post($peer->url('/inbox'), $act, date_offset => -13 * 3600, signed => '(request-target) host date');
my @got = $peer->received(method => 'POST');
is(scalar @got, 4, 'four more recorded');
is($peer->verify($got[0], $m->{public_pem})->{error}, 'Digest mismatch', 'a body changed after signing: refused');
is($peer->verify($got[1], $m->{public_pem})->{error}, 'signature does not verify', 'a corrupt signature: refused');
is_deeply($peer->verify($got[2], $m->{public_pem}), { ok => 1, key_id => $m->{key_id}, scheme => 'rfc9421' },
    'an RFC 9421 signature verifies');
is($peer->verify($got[3], $m->{public_pem})->{error}, 'digest not signed', 'digest not signed: refused');
# the same signing string made with the openssl command line of the test-bed notes
my $date = FakePeer::http_date();
my $body = '{"a":1}';
my $h = { @{ $peer->signed_headers('POST', 'https://one.test/inbox', $body, date => $date) } };
my $text = "(request-target): post /inbox\nhost: one.test\ndate: $date\ndigest: SHA-256="
    . encode_base64(sha256($body), '');
my $sig = MIME::Base64::encode_base64(FakePeer::_rsa_sign($m->{key}, $text), '');
like($h->{Signature}, qr/signature="\Q$sig\E"/, 'the Signature header signs (request-target) host date digest');

# the peer's signed POST reaches an instance (the inbox answers what it answers today)
my $log_before = -s "${\ $one->dir}/access.log" // 0;
$res = $peer->post('https://one.test/inbox', $act);
ok($res->code, 'a signed POST from the peer reaches one.test: ' . $res->code);
ok($bed->wait_until(sub {
    substr(MastodonTest::_slurp("${\ $one->dir}/access.log"), $log_before) =~ m{"POST /inbox HTTP/1\.1" ${\ $res->code} }
}, 10), '... and is in its access log');

# an instance's worker reaches the peer
$peer->clear_received;
($wrc, $wout) = $one->worker_cli('http-test', '--post', '{"type":"Ping"}', $peer->url('/users/mallory/inbox'));
like($wout, qr/^0 status=202 /m, "the worker's POST is answered by the peer");
# (one.test's worker may deliver to that inbox too: the Accept of the
# activity above, now that it is processed)
($got) = grep { ($_->{json}{type} // '') eq 'Ping' }
    $peer->received(method => 'POST', path => '/users/mallory/inbox');
is($got->{json}{type}, 'Ping', '... which recorded it');
is($peer->verify($got, $m->{public_pem})->{error}, 'no Signature header', '... unsigned (http-test signs nothing)');

# a peer that is down, then back
$peer->stop;
($wrc, $wout) = $two->worker_cli('http-test', '--timeout', 5000, $peer->url('/users/mallory'));
like($wout, qr/^0 status=0 /m, 'the peer stopped: no answer');
$peer->start;
($wrc, $wout) = $two->worker_cli('http-test', '--timeout', 5000, $peer->url('/users/mallory'));
like($wout, qr/^0 status=200 /m, 'started again: it answers');

# an instance that is down, then back (same address and port)
$two->stop_nginx;
($wrc, $wout) = $one->worker_cli('http-test', '--timeout', 5000, $two->url('/api/v1/instance'));
like($wout, qr/^0 status=0 /m, 'two.test stopped: no answer');
$two->start_nginx;
is($two->api(GET => '/api/v1/instance')->code, 200, 'started again: it answers');

$bed->done;
