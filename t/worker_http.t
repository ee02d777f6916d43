#!/usr/bin/perl
# The worker's event loop (worker/loop.c, worker/http.c): many HTTP requests
# at once on one thread through libcurl's multi-socket API, against a real
# HTTP server on loopback, driven by `mastodon-worker http-test`.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojolicious::Lite;
use Mojo::IOLoop;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use IO::Socket::INET;
use POSIX ();

my $t = MastodonTest->new(nginx => 0, worker => 0);

# --- the server: answers /barrier/N only once N requests wait together -------
my @waiting;
app->log->level('fatal');
get '/barrier/:n' => sub {
    my $c = shift;
    $c->render_later;
    push @waiting, $c;
    if (@waiting >= $c->param('n')) {
        my @all = splice @waiting;
        $_->render(text => 'together ' . scalar @all) for @all;
        return;
    }
    # a client that sends one request at a time never gets past this
    Mojo::IOLoop->timer(20 => sub {
        return unless grep { $_ == $c } @waiting;
        @waiting = grep { $_ != $c } @waiting;
        $c->render(status => 504, text => 'alone');
    });
};
get '/slow' => sub {
    my $c = shift;
    $c->render_later;
    Mojo::IOLoop->timer(15 => sub { $c->render(text => 'late') });
};
post '/echo' => sub {
    my $c = shift;
    $c->render(status => 201, text => ($c->req->headers->content_type // '') . ' ' . $c->req->body);
};
get '/big' => sub { shift->render(text => 'x' x (2 * 1024 * 1024)) };

my $port = Mojo::IOLoop::Server->generate_port;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    Mojo::Server::Daemon->new(app => app, listen => ["http://127.0.0.1:$port"], silent => 1)->run;
    POSIX::_exit(0);
}
ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20), 'the HTTP server listens');
my $base = "http://127.0.0.1:$port";

sub run_http {
    my ($rc, $out, $err) = $t->worker_cli('http-test', @_);
    is($rc, 0, "http-test @_[0 .. 1] ...") or diag $err;
    my %res;
    for (split /\n/, $out) {
        my ($i, $status, $bytes, $error, $body) = /^(\d+) status=(\d+) bytes=(\d+) error=(.*?) body=(.*)$/ or next;
        $res{$i} = { status => $status, bytes => $bytes, error => $error, body => $body };
    }
    return \%res;
}

# --- eight requests at once: the server answers only when all eight wait ------
my $n = 8;
my $res = run_http('--timeout', 30000, map { "$base/barrier/$n" } 1 .. $n);
is(scalar keys %$res, $n, "$n answers");
is(scalar(grep { $_->{status} == 200 && $_->{body} eq "together $n" } values %$res), $n,
   'all were in flight together (one thread, one loop)') or diag explain $res;

# --- a timeout fails its own request only --------------------------------------
$res = run_http('--timeout', 1000, "$base/slow", "$base/barrier/1");
is($res->{1}{status}, 200, 'the quick request is answered');
is($res->{0}{status}, 0, 'the slow one has no answer');
like($res->{0}{error}, qr/timed out/i, 'it timed out') or diag explain $res;

# --- POST with a body and headers; a response too large; a refused connection ---
my $closed = Mojo::IOLoop::Server->generate_port;
$res = run_http('--timeout', 10000, '--post', '{"a":1}', "$base/echo");
is($res->{0}{status}, 201, 'POST: the status');
is($res->{0}{body}, 'application/json {"a":1}', 'POST: the header and the body arrived');
$res = run_http('--timeout', 10000, "$base/big", "http://127.0.0.1:$closed/");
is($res->{0}{error}, 'response body too large', 'a body above HTTP_MAX_RESPONSE is refused');
like($res->{1}{error}, qr/connect/i, 'a refused connection says so');
my ($rc, $out) = $t->worker_cli('http-test', 'ftp://127.0.0.1/');
like($out, qr/start failed: not an http\(s\) URL/, 'only http and https');

kill 'TERM', $pid;
waitpid $pid, 0;
$t->done;
