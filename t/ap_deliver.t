#!/usr/bin/perl
# Signed delivery (worker/deliver.c, the activitypub_deliver job): one
# activity to many inboxes at once, each POST signed as the actor (cavage
# rsa-sha256 over "(request-target) host date digest", checked here with
# openssl against the account's public key), at most
# deliver_host_concurrency at once per host, no redirects followed;
# failures retried as jobs of their own on the queue's curve; a 4xx given
# up; hosts failing on 7 days marked unavailable and skipped, an answer
# clearing it; an address the guard refuses never contacted.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojolicious::Lite;
use Mojo::IOLoop;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::File qw(path);
use Digest::SHA qw(sha256_base64);
use IO::Socket::INET;
use POSIX ();

my $port = Mojo::IOLoop::Server->generate_port;
my $t = MastodonTest->new(nginx => 0, worker => 1, worker_env => {
    MASTODON_QUEUES => 'push', MASTODON_CONCURRENCY => 1, MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
    MASTODON_DELIVER_HOST_CONCURRENCY => 3, MASTODON_DELIVER_TIMEOUT_MS => 10000,
});
my $dir = $t->dir;
my $log = "$dir/inbox.log";
path($log)->spurt('');

# --- the recorder: every POST to /inbox/* as a JSON line ----------------------
my (%seen, $inflight, $max_inflight);
app->log->level('fatal');
post '/inbox/:name' => sub {
    my $c = shift;
    my $name = $c->param('name');
    my $h = $c->req->headers;
    my $n = ++$seen{$name};
    $inflight++;
    $max_inflight = $inflight if !defined $max_inflight || $inflight > $max_inflight;
    my $rec = encode_json({ name => $name, n => $n, body => $c->req->body,
        map { lc($_) => $h->header($_) } qw(Signature Signature-Input Content-Digest Date Digest Host Content-Type Accept User-Agent) });
    open my $fh, '>>', $log or die;
    print $fh "$rec\n";
    close $fh;
    my $status = $name =~ /^rfc9421/ ? ($h->header('Signature-Input') ? 202 : 401)
               : $name =~ /^ok/ ? 202 : $name eq 'gone' ? 410 : $name eq 'redirect' ? 302
               : $name eq 'flaky' ? ($n < 3 ? 503 : 201) : $name eq 'down' ? 503 : 200;
    my $delay = $name =~ /^slow/ ? 0.4 : 0;
    Mojo::IOLoop->timer($delay => sub {
        $inflight--;
        path("$dir/max_inflight")->spurt($max_inflight);
        $c->res->headers->location('/inbox/ok') if $status == 302;
        $c->render(status => $status, text => '');
    });
    $c->render_later;
};
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    Mojo::Server::Daemon->new(app => app, listen => ["http://127.0.0.1:$port"], silent => 1)->run;
    POSIX::_exit(0);
}
ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20), 'the recorder listens');

sub records { [ map { decode_json($_) } grep { length } split /\n/, path($log)->slurp ] }
sub records_of { my $name = shift; [ grep { $_->{name} eq $name } @{ records() } ] }

my $alice = $t->user('alice', password => 'correct horse battery');
my $id = $alice->{account_id};
my $pub = $t->psql("SELECT public_key FROM accounts WHERE id = $id");
path("$dir/alice.pub")->spurt("$pub\n");
my $base = "http://127.0.0.1:$port";

# verify a recorded request's signature as a receiver does, with openssl
sub verify {
    my ($r, $path) = @_;
    my %p = $r->{signature} =~ /(\w+)="([^"]*)"/g;
    my %hdr = (host => $r->{host}, date => $r->{date}, digest => $r->{digest},
               '(request-target)' => "post $path");
    my $string = join "\n", map { "$_: " . ($hdr{$_} // '') } split / /, $p{headers} // '';
    path("$dir/str")->spurt($string);
    open my $fh, '>:raw', "$dir/sig" or die;
    print $fh Mojo::Util::b64_decode($p{signature} // '');
    close $fh;
    my $ok = system("openssl dgst -sha256 -verify $dir/alice.pub -signature $dir/sig $dir/str >/dev/null 2>&1") == 0;
    return ($ok, \%p);
}

sub enqueue {
    my ($args) = @_;
    my ($rc, $out, $err) = $t->worker_cli('enqueue', 'push', 'activitypub_deliver', encode_json($args));
    is($rc, 0, 'enqueued') or diag $err;
}

# --- one activity, several inboxes, signed ----------------------------------------
my $activity = qq({"\@context":"https://www.w3.org/ns/activitystreams","id":"http://localhost/users/alice/statuses/1/activity","type":"Create","actor":"http://localhost/users/alice","object":{"type":"Note","content":"h\\u00e9 \\ud83d\\ude00 <b>&amp;</b>"}});
my $args = qq({"account_id":"$id","inboxes":["$base/inbox/ok1","$base/inbox/ok2","$base/inbox/gone","http://localhost:$port/inbox/down"],"activity":$activity});
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'push', 'activitypub_deliver', $args);
is($rc, 0, 'enqueued') or diag $err;
ok($t->wait_for(sub { @{ records_of('ok1') } && @{ records_of('ok2') } && @{ records_of('gone') }
                      && @{ records_of('down') } }, 30), 'every inbox got a POST');
for my $name (qw(ok1 ok2)) {
    my ($r) = @{ records_of($name) };
    is($r->{body}, $activity, "$name: the activity, byte for byte");
    is($r->{'content-type'}, 'application/activity+json', "$name: Content-Type");
    is($r->{digest}, 'SHA-256=' . sha256_base64($r->{body}) . '=', "$name: Digest is the body's SHA-256");
    is($r->{host}, "127.0.0.1:$port", "$name: Host");
    like($r->{date}, qr/^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$/, "$name: Date is an HTTP date");
    my ($ok, $p) = verify($r, "/inbox/$name");
    ok($ok, "$name: the signature verifies with alice's public key");
    is($p->{keyId}, "https://localhost/users/alice#main-key", "$name: keyId is alice's key");
    is($p->{algorithm}, 'rsa-sha256', "$name: algorithm");
    is($p->{headers}, '(request-target) host date digest', "$name: what is signed");
}

# the failed inbox goes on as a job of its own; 410 is given up
ok($t->wait_for(sub { @{ records_of('down') } >= 2 }, 30), 'the failed inbox is tried again');
is(scalar @{ records_of('gone') }, 1, 'an inbox answering 410 is not');
is(scalar @{ records_of('ok1') }, 1, 'a delivered one is not either');
my $today = POSIX::strftime('%Y%m%d', gmtime);
ok($t->wait_for(sub { $t->redis('SISMEMBER', 'mastodon:exhausted_deliveries:localhost', $today) eq '1' }, 10),
   'the failing host has today as a failure day');
is($t->redis('EXISTS', 'mastodon:exhausted_deliveries:127.0.0.1'), '0', 'the answering host has none');

# --- a host failing on its 7th day is marked unavailable and skipped ------------------
$t->redis('SADD', 'mastodon:exhausted_deliveries:localhost', map { "2026010$_" } 1 .. 6);
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM unavailable_domains WHERE domain = 'localhost'") == 1 }, 60),
   'after failures on 7 days the host is unavailable');
my $before = @{ records_of('down') };
enqueue({ account_id => "$id", inboxes => ["http://localhost:$port/inbox/ok3", "$base/inbox/ok4"],
          activity => { id => 'x', type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('ok4') } }, 30), 'the available host gets its delivery');
ok($t->wait_for(sub { $t->redis('ZCARD', 'mastodon:retry') eq '0' || 1 }, 1), 'settled');
sleep 1;
is(scalar @{ records_of('ok3') }, 0, 'the unavailable host is skipped');
cmp_ok(scalar @{ records_of('down') }, '<=', $before + 1, 'its retries stop too');

# an answer clears the failure days and the mark
$t->psql("DELETE FROM unavailable_domains WHERE domain = 'localhost'");
enqueue({ account_id => "$id", inbox => "http://localhost:$port/inbox/ok5", activity => { type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('ok5') } }, 30), 'delivered to the host again');
ok($t->wait_for(sub { $t->redis('EXISTS', 'mastodon:exhausted_deliveries:localhost') eq '0' }, 10),
   'its failure days are cleared');
$t->psql("INSERT INTO unavailable_domains (domain) VALUES ('localhost')");
enqueue({ account_id => "$id", inbox => "http://localhost:$port/inbox/ok7", activity => { type => 'Like' } });
enqueue({ account_id => "$id", inbox => "$base/inbox/ok6", activity => { type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('ok6') } }, 30), 'a delivery elsewhere went');
$t->psql("DELETE FROM unavailable_domains");

# --- a flaky inbox: retried on the queue's curve until it answers ----------------------
enqueue({ account_id => "$id", inboxes => ["$base/inbox/flaky"], activity => { type => 'Announce' } });
ok($t->wait_for(sub { @{ records_of('flaky') } >= 3 }, 60), 'the flaky inbox was tried three times');
sleep 1;
is(scalar @{ records_of('flaky') }, 3, '... and not again once it answered 201');
for my $r (@{ records_of('flaky') }) {
    ok((verify($r, '/inbox/flaky'))[0], "attempt $r->{n} is signed afresh and verifies");
}
is(scalar @{ records_of('ok7') }, 0, 'the unavailable host was skipped by a retry job too');

# --- no redirects for a POST; a refused address never contacted --------------------
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.2', Listen => 5, ReuseAddr => 1) or die;
my $port2 = $listener->sockport;
enqueue({ account_id => "$id", inboxes => ["$base/inbox/redirect", "http://127.0.0.2:$port2/inbox",
                                           "ftp://127.0.0.1/inbox"], activity => { type => 'Delete' } });
ok($t->wait_for(sub { @{ records_of('redirect') } }, 30), 'the redirecting inbox was posted to');
sleep 1;
is(scalar(grep { $_->{name} eq 'ok' } @{ records() }), 0, 'its redirect was not followed');
$listener->blocking(0);
ok(!$listener->accept, 'the inbox on an address that is not allowed was never connected to');
ok($t->wait_for(sub { path("$dir/worker-1.log")->slurp =~ m{delivery to http://127\.0\.0\.2:\d+/inbox given up: address 127\.0\.0\.2 is not allowed} }, 10),
   'and its delivery was given up');

# --- per-host concurrency ---------------------------------------------------------------
enqueue({ account_id => "$id", inboxes => [ map { "$base/inbox/slow$_" } 1 .. 12 ], activity => { type => 'Update' } });
ok($t->wait_for(sub { @{ [ grep { $_->{name} =~ /^slow/ } @{ records() } ] } == 12 }, 60), 'twelve slow inboxes on one host');
sleep 1;
my $max = path("$dir/max_inflight")->slurp;
cmp_ok($max, '<=', 3, "at most deliver_host_concurrency (3) at once on one host (saw $max)");
cmp_ok($max, '>=', 2, 'but several at once');

# --- a signer without a key: dropped, not retried ---------------------------------------
enqueue({ account_id => '12345', inbox => "$base/inbox/ok8", activity => { type => 'Like' } });
enqueue({ account_id => "$id", inbox => "$base/inbox/ok9", activity => { type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('ok9') } }, 30), 'the next job ran');
is(scalar @{ records_of('ok8') }, 0, 'nothing is sent for an account without a key');

# --- domain blocks (the CLI) are honoured: nothing goes to a suspended domain -----------
($rc, $out, $err) = $t->worker_cli('domain-block', 'add', 'LocalHost.', '--severity', 'suspend',
                                   '--public-comment', 'spam');
is($rc, 0, 'domain-block add') or diag $err;
like($out, qr/^OK: blocked localhost \(suspend\)$/m, '... lower-cased, no trailing dot');
($rc, $out) = $t->worker_cli('domain-block', 'add', 'silenced.example', '--reject-media');
like($out, qr/OK: blocked silenced\.example \(silence\)/, 'a silence');
($rc, $out) = $t->worker_cli('domain-block', 'list');
like($out, qr/^localhost\tsuspend\tspam$/m, 'list shows the suspension');
like($out, qr/^silenced\.example\tsilence reject_media$/m, 'and the silence');
($rc, $out, $err) = $t->worker_cli('domain-block', 'add', 'bad domain');
is($rc, 2, 'a bad domain is a usage error');
enqueue({ account_id => "$id", inboxes => ["http://localhost:$port/inbox/okblocked", "$base/inbox/oknotblocked"],
          activity => { type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('oknotblocked') } }, 30), 'the other host gets it');
sleep 1;
is(scalar @{ records_of('okblocked') }, 0, 'the suspended domain does not');
($rc, $out) = $t->worker_cli('domain-block', 'remove', 'localhost');
like($out, qr/OK: unblocked localhost/, 'domain-block remove');
($rc, $out, $err) = $t->worker_cli('domain-block', 'remove', 'localhost');
is($rc, 1, 'removing it again fails');
enqueue({ account_id => "$id", inbox => "http://localhost:$port/inbox/okunblocked", activity => { type => 'Like' } });
ok($t->wait_for(sub { @{ records_of('okunblocked') } }, 30), 'unblocked, it gets deliveries again');

# --- a peer refusing the cavage signature: RFC 9421 at once, then first ---------------
enqueue({ account_id => "$id", inbox => "$base/inbox/rfc9421a", activity => { type => 'Like', id => 'y' } });
ok($t->wait_for(sub { @{ records_of('rfc9421a') } >= 2 }, 30), 'refused with 401, the delivery is tried again');
my ($first, $second) = @{ records_of('rfc9421a') };
ok($first->{signature} && !$first->{'signature-input'}, 'first with the cavage signature');
ok($second->{'signature-input'}, 'then with RFC 9421');
is($second->{'content-digest'}, 'sha-256=:' . sha256_base64($second->{body}) . '=:', 'with Content-Digest');
my ($params) = $second->{'signature-input'} =~ /^sig1=(.*)$/;
like($params, qr/^\("\@method" "\@target-uri" "content-digest"\);created=\d+;keyid="https:\/\/localhost\/users\/alice#main-key"$/,
     'Signature-Input covers @method, @target-uri and content-digest');
my $sigbase = join "\n", qq("\@method": POST), qq("\@target-uri": $base/inbox/rfc9421a),
    qq("content-digest": $second->{'content-digest'}), qq("\@signature-params": $params);
path("$dir/str")->spurt($sigbase);
my ($sig64) = $second->{signature} =~ /^sig1=:([^:]+):$/;
open my $sfh, '>:raw', "$dir/sig" or die;
print $sfh Mojo::Util::b64_decode($sig64 // '');
close $sfh;
ok(system("openssl dgst -sha256 -verify $dir/alice.pub -signature $dir/sig $dir/str >/dev/null 2>&1") == 0,
   'the RFC 9421 signature verifies');
is($t->redis('GET', 'mastodon:httpsig_rfc9421:127.0.0.1'), '1', 'the host is remembered as wanting RFC 9421');
enqueue({ account_id => "$id", inbox => "$base/inbox/rfc9421b", activity => { type => 'Like', id => 'z' } });
ok($t->wait_for(sub { @{ records_of('rfc9421b') } }, 30), 'the next delivery there');
sleep 1;
is(scalar @{ records_of('rfc9421b') }, 1, '... goes once');
ok(records_of('rfc9421b')->[0]{'signature-input'}, '... signed with RFC 9421 from the start');

kill 'TERM', $pid;
waitpid $pid, 0;
$t->done;
