# Two nginx nodes behind HAProxy (Debian's haproxy), sharing PostgreSQL and
# Redis, as conf/haproxy.cfg sets them up: a status posted through node A
# reaches a WebSocket client on node B and an event-stream client on node A;
# both nodes pass the health checks of /health and /api/v1/streaming/health.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use IO::Socket::INET;
use MastodonTest;
use StreamClient;

plan skip_all => 'haproxy is not installed' unless -x '/usr/sbin/haproxy';

my $t = MastodonTest->new(worker => 1);
my $dir = $t->dir;
my $port_a = $t->port;

# node B: node A's configuration on another port and in its own directory
my $dir_b = "$dir/node-b";
mkdir $dir_b or die "mkdir $dir_b: $!";
chmod 0755, $dir_b;
my $port_b = MastodonTest::_free_port();
my $conf = MastodonTest::_slurp("$dir/nginx.conf");
$conf =~ s/\Q$dir\E\//$dir_b\//g;
$conf =~ s/(listen\s+127\.0\.0\.1:)$port_a\b/$1$port_b/ or die 'no listen line';
MastodonTest::_spew("$dir_b/nginx.conf", $conf);
my ($rc, $out, $err) = do {
    my %env = $t->_nginx_env($dir);    # the sanitizer's runtime, under build-asan
    local @ENV{keys %env} = values %env;
    MastodonTest::_capture($MastodonTest::NGINX, '-p', "$dir_b/", '-c', "$dir_b/nginx.conf",
        '-e', "$dir_b/error.log");
};
is($rc, 0, 'node B starts') or diag "$out$err";
ok($t->wait_for(sub { -s "$dir_b/nginx.pid" }), '... its pid file');
chomp(my $pid_b = MastodonTest::_slurp("$dir_b/nginx.pid"));

# HAProxy: the shipped backends' checks, and a header to pick a node
my $port_h = MastodonTest::_free_port();
MastodonTest::_spew("$dir/haproxy.cfg", <<"CFG");
global
    maxconn 4000
    pidfile $dir/haproxy.pid

defaults
    mode http
    option http-server-close
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h

frontend http
    bind 127.0.0.1:$port_h
    use_backend node_a if { req.hdr(x-test-node) -m str a }
    use_backend node_b if { req.hdr(x-test-node) -m str b }
    use_backend streaming if { path_beg /api/v1/streaming }
    default_backend mastodon

backend mastodon
    balance leastconn
    option httpchk
    http-check send meth GET uri /health ver HTTP/1.1 hdr Host localhost:$port_a
    http-check expect status 200
    default-server inter 500ms fall 3 rise 1 check
    server a 127.0.0.1:$port_a
    server b 127.0.0.1:$port_b

backend streaming
    balance leastconn
    option httpchk
    http-check send meth GET uri /api/v1/streaming/health ver HTTP/1.1 hdr Host localhost:$port_a
    http-check expect string OK
    default-server inter 500ms fall 3 rise 1 check
    server a 127.0.0.1:$port_a
    server b 127.0.0.1:$port_b

backend node_a
    server a 127.0.0.1:$port_a

backend node_b
    server b 127.0.0.1:$port_b
CFG
($rc, $out, $err) = MastodonTest::_capture('/usr/sbin/haproxy', '-c', '-f', "$dir/haproxy.cfg");
is($rc, 0, 'the HAProxy configuration is valid') or diag "$out$err";
($rc, $out, $err) = MastodonTest::_capture('/usr/sbin/haproxy', '-D', '-f', "$dir/haproxy.cfg");
is($rc, 0, 'HAProxy starts') or diag "$out$err";
ok($t->wait_for(sub { -s "$dir/haproxy.pid" }), '... its pid file');
chomp(my $pid_h = MastodonTest::_slurp("$dir/haproxy.pid"));

my %u = map { $_ => $t->user($_) } qw(alice bob);
my $m = $t->mojo;
$m->get_ok('/api/v1/timelines/home', $t->bearer($u{$_}{token}))->status_is(200) for qw(alice bob);
$m->post_ok("/api/v1/accounts/$u{alice}{account_id}/follow", $t->bearer($u{bob}{token}))->status_is(200);

my $ws = StreamClient->ws($port_h, '/api/v1/streaming?stream=user',
    { Authorization => "Bearer $u{bob}{token}", 'X-Test-Node' => 'b' });
is($ws->status, 101, 'a WebSocket through HAProxy to node B');
my $sse = StreamClient->sse($port_h, '/api/v1/streaming/public',
    { Authorization => "Bearer $u{bob}{token}", 'X-Test-Node' => 'a' });
is($sse->status, 200, 'an event stream through HAProxy to node A');
my $n = 0;
ok($t->wait_for(sub {
    $n++;
    $t->redis('PUBLISH', "timeline:$u{bob}{account_id}", qq({"event":"delete","payload":"live$n"}));
    $t->redis('PUBLISH', 'timeline:public', qq({"event":"delete","payload":"live$n"}));
    $ws->wait_message(sub { $_[0]{payload} =~ /^live/ }, 0.2) && $sse->wait_event(sub { $_[0]{data} =~ /^live/ }, 0.2);
}), 'both subscribed');

# post through node A (HAProxy's header)
my $tx = $m->ua->post("http://127.0.0.1:$port_h/api/v1/statuses" => {
    Authorization => "Bearer $u{alice}{token}", 'X-Test-Node' => 'a', Host => "localhost:$port_a" }
    => form => { status => 'across the nodes', visibility => 'public' });
is($tx->res->code, 200, 'a status posted through node A');
my $id = $tx->res->json->{id};
my $msg = $ws->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $id });
ok($msg, "... reaches the follower's WebSocket on node B");
ok($sse->wait_event(sub { $_[0]{event} eq 'update' && decode_json($_[0]{data})->{id} eq $id }),
    '... and the event stream on node A');

# the health checks pass on both nodes (HAProxy balances over them)
my %seen;
for (1 .. 10) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port_h) or next;
    print $c "GET /api/v1/streaming/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    local $/;
    my $res = <$c>;
    $seen{ok}++ if $res =~ m{\AHTTP/1\.1 200} && $res =~ /\r\n\r\nOK\z/;
}
is($seen{ok}, 10, 'the streaming health check through HAProxy');

$ws->close;
$sse->close;
kill 'TERM', $pid_h;
kill 'QUIT', $pid_b;
ok($t->wait_for(sub { !kill 0, $pid_b }), 'node B stops');
my $log_b = MastodonTest::_slurp("$dir_b/error.log");
unlike($log_b, qr/\[(alert|emerg)\]/, 'node B: no alert');
$t->done;
