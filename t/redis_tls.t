# Redis over TLS (rediss://, as Mastodon's REDIS_URL allows): the module's
# own connections with OpenSSL on nginx's event loop.  A password and a
# database number, scripts, pub/sub and large messages over TLS; the
# server's certificate verified (a wrong CA or name refused, logged clearly,
# answered by fast 503s); a client certificate when Redis asks for one; a
# restarted Redis recovered by itself; a slow command timing out alone.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(time);
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    redis_tls   => 1,
    http_config => 'mastodon_redis_timeout 2s; mastodon_redis_connect_timeout 2s;',
);
my $m = $t->mojo;
my $tls = $t->tls_dir;
my $port = $t->redis_tls_port;
my @auth = ('-a', 's3cr@t', '--no-auth-warning');

sub timed_get { $t->timed_get(@_) }

# name => [ { fields } ] of the module's connections
sub clients {
    my %c;
    for my $line (split /\n/, $t->redis(@auth, 'CLIENT', 'LIST')) {
        my %f = map { split /=/, $_, 2 } grep { /=/ } split / /, $line;
        push @{ $c{$f{name}} }, \%f if ($f{name} // '') =~ /^mastodon:/;
    }
    return \%c;
}

sub command_ids {
    my $c = clients();
    return join ',', sort map { $_->[0]{id} } @{$c}{ grep { /^mastodon:cmd:/ } keys %$c };
}

sub healthy { $m->ua->get('/health')->result->code == 200 }

# a reload, and the old workers gone: none of them answers what follows
sub reload {
    my ($config, $name) = @_;
    my @old = MastodonTest::_children($t->nginx_pid);
    ok($t->reconfigure_nginx(http_config => $config), "reloaded $name");
    ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 20), '... the old workers exited');
}

my $common = 'mastodon_redis_timeout 2s; mastodon_redis_connect_timeout 2s; mastodon_rate_limit on;'
           . ' mastodon_debug_subscribe on;';
my $url = "rediss://:s3cr%40t\@127.0.0.1:$port/2";

# --- rediss:// with a password and a database number -------------------------
$t->redis('CONFIG', 'SET', 'requirepass', 's3cr@t');
reload("mastodon_redis $url; mastodon_redis_ssl_trusted_certificate $tls/ca.crt; $common",
    'with rediss://, a password and database 2');
ok($t->wait_for(\&healthy, 10), 'Redis answers over TLS');
ok($t->wait_for(sub { keys %{ clients() } == 4 }, 10), 'four named connections');
my $c = clients();
is(scalar(grep { $_->[0]{laddr} eq "127.0.0.1:$port" } values %$c), 4, '... all of them to the TLS port')
  or diag explain $c;

# pub/sub over TLS, with messages and commands bigger than TLS records and
# socket buffers: 1 MB heard on the pub/sub connection, 1 MB written back
my @pids = map { /(\d+)$/ } grep { /^mastodon:pubsub:/ } keys %{ clients() };
# (the module's commands go to database 2)
sub heard { [ split /\n/, $t->redis(@auth, '-n', 2, 'LRANGE', "mastodon:debug:subscribe:$_[0]:$_[1]", 0, -1) ] }
ok($t->wait_for(sub { !grep { !grep { $_ eq 'subscribed' } @{ heard($_, 'control') } } @pids }, 10),
   'subscribed over TLS');
$t->redis(@auth, 'PUBLISH', 'mastodon:debug:subscribe', 'add big big');
ok($t->wait_for(sub { !grep { !grep { $_ eq 'subscribed' } @{ heard($_, 'big') } } @pids }, 10),
   '... a subscription made from a message');
my $big = 'ABCDEFGHIJ' x 100000;
# (too big for one argument of redis-cli: made by Redis itself)
$t->redis(@auth, 'EVAL', "return redis.call('PUBLISH', 'big', string.rep('ABCDEFGHIJ', 100000))", 0);
ok($t->wait_for(sub {
    !grep { ($t->redis(@auth, '-n', 2, 'LINDEX', "mastodon:debug:subscribe:$_:big", -1) // '') ne "message:$big" } @pids;
}, 15), 'a 1 MB message heard and written back whole, by each worker');

$t->redis(@auth, 'FLUSHALL');
my @left;
for (1 .. 4) {
    $m->get_ok('/api/v1/instance')->status_is(200);
    push @left, $m->tx->res->headers->header('X-RateLimit-Remaining');
}
is_deeply(\@left, [ map { 300 - $_ } 1 .. 4 ], 'the rate-limit script (EVAL, then EVALSHA) counts over TLS');
like($t->redis(@auth, '-n', 2, 'KEYS', 'mastodon:rl:*'), qr/mastodon:rl:\d+:throttle_unauthenticated_api:/,
     'in database 2');
is($t->redis(@auth, '-n', 0, 'KEYS', 'mastodon:rl:*'), '', 'not in database 0');

# --- a slow command times out alone -------------------------------------------
my $ids = command_ids();
my $pid = $t->{redis_pid};
kill 'STOP', $pid;
my $took = timed_get('/health');
kill 'CONT', $pid;
$m->status_is(503, 'Redis paused: the command timed out');
cmp_ok($took, '>=', 1.5, "... after the command timeout (${\ sprintf '%.2f', $took} s)");
cmp_ok($took, '<', 5, '... not much later');
ok($t->wait_for(\&healthy, 10), 'answers again');
is(command_ids(), $ids, 'on the same TLS connections: none was dropped');

# --- Redis restarted: back by itself -------------------------------------------
$t->stop_redis;
for my $i (1 .. 3) {
    $took = timed_get('/health');
    $m->status_is(503, "Redis down: 503 (request $i)");
    cmp_ok($took, '<', 3, "... within the timeout (${\ sprintf '%.2f', $took} s)");
}
$t->start_redis;
$t->redis('CONFIG', 'SET', 'requirepass', 's3cr@t');
ok($t->wait_for(\&healthy, 15), 'Redis restarted: /health 200 again, no reload');
ok($t->wait_for(sub { keys %{ clients() } == 4 }, 10), 'all four TLS connections are back');
like($t->error_log, qr/\[notice\].*Redis is back/, 'the recovery is logged');

# --- the server's certificate verified -----------------------------------------
my $log = $t->dir . '/error.log';
my $before = -s $log;
reload("mastodon_redis $url; mastodon_redis_ssl_trusted_certificate $tls/other-ca.crt; $common",
    'trusting another CA');
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /Redis cmd TLS failed: certificate verify error/ }, 10),
   'the certificate is refused') or diag substr($t->error_log, $before);
like(substr($t->error_log, $before), qr/\[error\].*Redis cmd TLS failed: certificate verify error: \(\d+:[^)]+\)/,
     '... saying why, at error level');
for my $i (1 .. 3) {
    $took = timed_get('/health');
    $m->status_is(503, "503 (request $i)")->content_like(qr/Redis: unavailable/);
    cmp_ok($took, '<', 1.5, "... at once (${\ sprintf '%.2f', $took} s)");
}
is(scalar(keys %{ clients() }), 0, 'no connection got to Redis');

$before = -s $log;
reload("mastodon_redis $url; mastodon_redis_ssl_trusted_certificate $tls/ca.crt;"
     . " mastodon_redis_ssl_name other.test; $common", 'expecting another name');
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /Redis cmd TLS failed: certificate does not match "other\.test"/ }, 10),
   'a certificate for another name is refused');
$m->get_ok('/health')->status_is(503);

reload("mastodon_redis $url; mastodon_redis_ssl_trusted_certificate $tls/ca.crt;"
     . " mastodon_redis_ssl_name redis.test; $common", 'with the certificate\'s DNS name');
ok($t->wait_for(\&healthy, 10), 'verified by name (and sent as SNI)');

# --- a client certificate --------------------------------------------------------
$t->redis(@auth, 'CONFIG', 'SET', 'tls-auth-clients', 'yes');
$before = -s $log;
$t->redis(@auth, 'CLIENT', 'KILL', 'TYPE', 'normal');
$t->redis(@auth, 'CLIENT', 'KILL', 'TYPE', 'pubsub');
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /Redis cmd (?:TLS handshake|connection) failed/ }, 10),
   'Redis asks for a client certificate: none, refused');
ok($t->wait_for(sub { !healthy() }, 10), '... 503');
reload("mastodon_redis $url; mastodon_redis_ssl_trusted_certificate $tls/ca.crt;"
     . " mastodon_redis_ssl_certificate $tls/client.crt; mastodon_redis_ssl_certificate_key $tls/client.key; $common",
    'with a client certificate');
ok($t->wait_for(\&healthy, 10), 'the client certificate is taken');
ok($t->wait_for(sub { keys %{ clients() } == 4 }, 10), '... on all four connections');
$t->redis(@auth, 'CONFIG', 'SET', 'tls-auth-clients', 'optional');

# --- the configuration -----------------------------------------------------------
my ($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis $url;"
    . " mastodon_redis_ssl_trusted_certificate $tls/missing.crt;");
isnt($rc, 0, 'a CA file that is not there fails nginx -t');
like($out, qr/missing\.crt/, '... naming it');
($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis $url;"
    . " mastodon_redis_ssl_certificate $tls/client.crt;");
like($out, qr/no "mastodon_redis_ssl_certificate_key"/, 'a client certificate needs its key');
($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis rediss://127.0.0.1:$port;");
is($rc, 0, 'by default the system CAs are trusted') or diag $out;
{
    local $ENV{SSL_CERT_FILE} = "$tls/gone.crt";
    ($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis rediss://127.0.0.1:$port;");
    like($out, qr/gone\.crt/, '... those of $SSL_CERT_FILE if set, as OpenSSL does');
}
($rc, $out) = $t->nginx_test_config(http_config => "mastodon_redis rediss://redis.test:$port;");
like($out, qr/is not a numeric address.*mastodon_redis_ssl_name/, 'a host name: use its address and the name');

$t->done;
