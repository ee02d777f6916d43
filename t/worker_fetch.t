#!/usr/bin/perl
# The guarded client towards other servers (worker/fetch.c), driven by
# `mastodon-worker fetch-test`: https only unless federation_allow_http; no
# loopback, private, link-local, multicast or unspecified address unless
# allowlisted, checked on the address connected to and on every redirect,
# without ever connecting to a refused one; redirects followed by hand
# (at most 3, none for a POST); size limit; Accept by kind; the CA file;
# the final URL reported.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojolicious::Lite;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use IO::Socket::INET;
use POSIX ();

my $t = MastodonTest->new(nginx => 0, worker => 0);
my $dir = $t->dir;

my $port = Mojo::IOLoop::Server->generate_port;
my $port2 = Mojo::IOLoop::Server->generate_port;
my $tls_port = Mojo::IOLoop::Server->generate_port;
my $base = "http://127.0.0.1:$port";
my $other = "http://127.0.0.2:$port2";

# --- server 1 (127.0.0.1, allowlisted) ----------------------------------------
app->log->level('fatal');
get '/actor' => sub {
    my $c = shift;
    $c->res->headers->content_type('application/activity+json');
    $c->render(text => "id=$base/actor accept=" . ($c->req->headers->accept // '')
                       . ' ua=' . ($c->req->headers->user_agent // ''));
};
get '/r/:n' => sub {
    my $c = shift;
    my $n = $c->param('n');
    $c->res->code(302);
    $c->redirect_to($n > 0 ? "$base/r/" . ($n - 1) : "$base/actor");
};
get '/to-other' => sub { $_[0]->res->code(301); $_[0]->redirect_to("$other/actor") };
get '/to-ftp' => sub { $_[0]->res->code(302); $_[0]->redirect_to('ftp://127.0.0.1/x') };
get '/to-mapped' => sub { $_[0]->res->code(307); $_[0]->redirect_to("http://[::ffff:127.0.0.2]:$port2/actor") };
post '/inbox' => sub { $_[0]->res->code(302); $_[0]->redirect_to("$base/actor") };
post '/echo' => sub {
    my $c = shift;
    $c->render(status => 202, text => ($c->req->headers->content_type // '') . ' ' . $c->req->body);
};
get '/big' => sub { shift->render(text => 'x' x (2 * 1024 * 1024)) };

# a certificate for 127.0.0.1, its own CA
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
       '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', "$dir/tls.key", '-out', "$dir/tls.crt") == 0
    or die "openssl req failed";

my @pids;
for my $listen ("http://127.0.0.1:$port", "https://127.0.0.1:$tls_port?cert=$dir/tls.crt&key=$dir/tls.key") {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        Mojo::Server::Daemon->new(app => app, listen => [$listen], silent => 1)->run;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}

# --- server 2 (127.0.0.2, not allowlisted): writes a line per connection -----
my $count_file = "$dir/connections";
open my $fh, '>', $count_file or die;
close $fh;
my $listener = IO::Socket::INET->new(LocalAddr => '127.0.0.2', LocalPort => $port2, Listen => 16,
                                     ReuseAddr => 1) or die "listen 127.0.0.2: $!";
my $pid2 = fork // die "fork: $!";
if ($pid2 == 0) {
    while (my $c = $listener->accept) {
        open my $log, '>>', $count_file or POSIX::_exit(1);
        print $log "connection\n";
        close $log;
        my $req = '';
        while (my $line = <$c>) { last if $line eq "\r\n" }
        my $body = qq({"id":"$other/actor"});
        print $c "HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\nContent-Length: "
            . length($body) . "\r\nConnection: close\r\n\r\n$body";
        close $c;
    }
    POSIX::_exit(0);
}
push @pids, $pid2;
close $listener;

ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20), 'server 1 listens');
ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$tls_port") }, 20), 'the TLS server listens');
sub connections { open my $f, '<', $count_file or die; my @l = <$f>; scalar @l }

sub fetch {
    my ($env, @args) = @_;
    local @ENV{keys %$env} = values %$env;
    my ($rc, $out, $err) = $t->worker_cli('fetch-test', @args);
    is($rc, 0, "fetch-test @args") or diag $err;
    my %res;
    for (split /\n/, $out) {
        my ($i, %f) = /^(\d+) outcome=(\S+) status=(\d+) redirects=(\d+) final=(\S+) type=(.*?) error=(.*?) body=(.*)$/
            ? ($1, outcome => $2, status => $3, redirects => $4, final => $5, type => $6, error => $7, body => $8)
            : next;
        $res{$i} = \%f;
    }
    return \%res;
}

my %dev = (MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1');
my %https = (MASTODON_FEDERATION_ALLOW_HTTP => 0, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1');

# --- the scheme --------------------------------------------------------------
my $r = fetch(\%https, "$base/actor");
is($r->{0}{outcome}, 'refused', 'http:// is refused without federation_allow_http');
like($r->{0}{error}, qr/refused URL/, '... and says so');
$r = fetch(\%dev, 'ftp://127.0.0.1/x', "http://user:pw\@127.0.0.1:$port/actor");
is($r->{0}{outcome}, 'refused', 'another scheme is refused');
is($r->{1}{outcome}, 'refused', 'a URL with credentials is refused');

# --- an allowed fetch: Accept by kind, final URL --------------------------------
$r = fetch(\%dev, "$base/actor", "http://localhost:$port/actor");
is($r->{0}{outcome}, 'ok', 'an allowlisted address is fetched');
is($r->{0}{status}, 200, '... 200');
is($r->{0}{final}, "$base/actor", '... the final URL is the one asked');
is($r->{0}{type}, 'application/activity+json', '... the content type is reported');
like($r->{0}{body}, qr{accept=application/activity\+json, application/ld\+json; profile="https://www.w3.org/ns/activitystreams" ua=},
     'the ActivityPub Accept header');
like($r->{0}{body}, qr{ua=mastodon-worker \(Mastodon/}, 'the User-Agent');
is($r->{1}{outcome}, 'ok', 'a name resolving to an allowlisted address too');
$r = fetch(\%dev, '--kind', 'webfinger', "$base/actor");
like($r->{0}{body}, qr{accept=application/jrd\+json, application/json ua=}, 'the WebFinger Accept header');

# --- redirects ---------------------------------------------------------------
$r = fetch(\%dev, "$base/r/2", "$base/r/3");
is($r->{0}{outcome}, 'ok', 'three redirects are followed');
is($r->{0}{redirects}, 3, '... all three');
is($r->{0}{final}, "$base/actor", '... and the final URL is where it ended');
is($r->{1}{outcome}, 'failed', 'a fourth is not');
like($r->{1}{error}, qr/more than 3 redirects/, '... and says so');
$r = fetch(\%dev, "$base/to-ftp");
is($r->{0}{outcome}, 'refused', 'a redirect to another scheme is refused');
$r = fetch(\%dev, '--post', '{"type":"Create"}', "$base/inbox", "$base/echo");
is($r->{0}{status}, 302, 'a POST does not follow redirects');
is($r->{0}{redirects}, 0, '... none');
is($r->{1}{status}, 202, 'a POST is sent');
is($r->{1}{body}, 'application/activity+json {"type":"Create"}', '... as application/activity+json with its body');

# --- addresses that are not allowlisted: refused, never connected to ----------
$r = fetch(\%dev, "$other/actor", "$base/to-other", "$base/to-mapped", "http://[::ffff:127.0.0.2]:$port2/actor",
           map { "http://$_:$port2/x" } qw(10.0.0.1 169.254.169.254 192.168.1.1 172.16.0.1 100.64.0.1
               0.0.0.0 224.0.0.1 255.255.255.255 [::1] [fe80::1] [fc00::1] [ff02::1] [::] [64:ff9b::7f00:2]
               [2002:7f00:2::1] [::127.0.0.2]));
is(scalar(keys %$r), 20, 'every fetch ended');
for my $i (sort { $a <=> $b } keys %$r) {
    is($r->{$i}{outcome}, 'refused', "fetch $i is refused") or diag explain $r->{$i};
    like($r->{$i}{error}, qr/address .* is not allowed/, "... for its address ($r->{$i}{error})");
}
is(connections(), 0, 'the server that is not allowlisted saw no connection');
$r = fetch({ %dev, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1, 127.0.0.0/30' }, "$base/to-other");
is($r->{0}{outcome}, 'ok', 'allowlisted by a CIDR, it is fetched through the redirect');
is($r->{0}{final}, "$other/actor", '... and the final URL is on the other host');
is(connections(), 1, '... and the server saw that connection');
$r = fetch({ %dev, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '' }, "$base/actor");
is($r->{0}{outcome}, 'refused', 'loopback without an allowlist is refused');

# --- limits --------------------------------------------------------------------
$r = fetch(\%dev, "$base/big");
is($r->{0}{outcome}, 'failed', 'a body above 1 MB fails');
like($r->{0}{error}, qr/too large/, '... as too large');

# --- https, the CA file ----------------------------------------------------------
$r = fetch(\%https, "https://127.0.0.1:$tls_port/actor");
is($r->{0}{outcome}, 'failed', 'an unknown CA fails');
$r = fetch({ %https, MASTODON_CA_FILE => "$dir/tls.crt" }, "https://127.0.0.1:$tls_port/actor");
is($r->{0}{outcome}, 'ok', 'with ca_file the https fetch works');
is($r->{0}{final}, "https://127.0.0.1:$tls_port/actor", '... final URL');

# --- configuration errors ----------------------------------------------------------
{
    local $ENV{MASTODON_FEDERATION_ALLOWED_ADDRESSES} = '127.0.0.1/33';
    my ($rc, $out, $err) = $t->worker_cli('fetch-test', "$base/actor");
    is($rc, 2, 'a bad prefix length is a configuration error');
    like($err, qr/federation_allowed_addresses: bad prefix length/, '... named');
    local $ENV{MASTODON_FEDERATION_ALLOWED_ADDRESSES} = 'localhost';
    ($rc, $out, $err) = $t->worker_cli('fetch-test', "$base/actor");
    is($rc, 2, 'a name is not an address');
}

kill 'TERM', @pids;
waitpid $_, 0 for @pids;
$t->done;
