#!/usr/bin/perl
# The worker over TLS (rediss://): hiredis 0.14 has none, so each connection
# is bridged through OpenSSL (worker/redis_tls.c).  Jobs run with a password
# and a database number over TLS, CLI commands too; the server's certificate
# is verified (a wrong CA or name refused, logged clearly, retried with
# backoff); a connection killed by Redis is reopened.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest qw(slurp);
use Test::More;
use Time::HiRes qw(sleep);

my $t = MastodonTest->new(nginx => 0, worker => 0, redis_tls => 1);
my $tls = $t->tls_dir;
my $port = $t->redis_tls_port;
my @auth = ('-a', 's3cr@t', '--no-auth-warning');
my $url = "rediss://:s3cr%40t\@127.0.0.1:$port/2";
my %env = (MASTODON_CONCURRENCY => 1, MASTODON_REDIS => $url,
    MASTODON_REDIS_SSL_TRUSTED_CERTIFICATE => "$tls/ca.crt");

sub done  { my ($db, $key) = @_; $t->redis(@auth, '-n', $db, 'LLEN', "mastodon:test:$key:done") }

sub enqueue {
    my ($key, %e) = @_;
    local $t->{worker_env} = { %env, %e };
    return $t->worker_cli('enqueue', 'default', 'test_record', qq({"key":"$key"}));
}

$t->redis('CONFIG', 'SET', 'requirepass', 's3cr@t');

# --- jobs over TLS, with a password and database 2 ---------------------------
my $log = $t->dir . '/tls-worker.log';
my $w = $t->start_worker(%env, MASTODON_LOG_FILE => $log);
my ($rc, $out, $err) = enqueue('tls');
is($rc, 0, 'enqueue over TLS') or diag $err;
ok($t->wait_for(sub { done(2, 'tls') == 1 }, 20), 'the job ran over TLS, its record in database 2')
    or diag slurp($log);
# (a connection still being opened has sent nothing yet: cmd=NULL, db=0)
my @conns;
ok($t->wait_for(sub {
    @conns = grep { !/cmd=client/ } split /\n/, $t->redis(@auth, 'CLIENT', 'LIST');
    @conns >= 4 && !grep { !/ db=2 / } @conns }, 20),
    'the worker\'s connections (at least 4), all in database 2') or diag join "\n", @conns;
like(`ss -tn state established '( dport = :$port )' 2>/dev/null` // '', qr/:$port/,
    'connected to the TLS port');

# --- connections killed: reopened over TLS -------------------------------------
$t->redis(@auth, 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
($rc, $out, $err) = enqueue('again');
is($rc, 0, 'enqueue') or diag $err;
ok($t->wait_for(sub { done(2, 'again') == 1 }, 30), 'after its connections were killed, jobs run again');
is($t->stop_worker($w), 0, 'the worker stops cleanly');

# --- the name checked ----------------------------------------------------------
($rc, $out, $err) = enqueue('named', MASTODON_REDIS_SSL_NAME => 'redis.test');
is($rc, 0, 'the certificate\'s DNS name in redis_ssl_name') or diag $err;
($rc, $out, $err) = enqueue('x', MASTODON_REDIS_SSL_NAME => 'other.test');
isnt($rc, 0, 'another name is refused');
like($err, qr/TLS: certificate verify error: \(62:hostname mismatch\)/, '... saying why');

# --- a wrong CA ------------------------------------------------------------------
($rc, $out, $err) = enqueue('x', MASTODON_REDIS_SSL_TRUSTED_CERTIFICATE => "$tls/other-ca.crt");
isnt($rc, 0, 'a certificate signed by another CA is refused');
like($err, qr/redis 127\.0\.0\.1:$port db 2 \(TLS\): TLS: certificate verify error: \(\d+:(?:self-signed certificate in certificate chain|unable to get local issuer certificate)\)/,
    '... saying why');
unlike($err, qr/s3cr/, '... without the password');

my $bad_log = $t->dir . '/bad-ca-worker.log';
$w = $t->start_worker(%env, MASTODON_REDIS_SSL_TRUSTED_CERTIFICATE => "$tls/other-ca.crt",
    MASTODON_LOG_FILE => $bad_log);
ok($t->wait_for(sub { slurp($bad_log) =~ /\[error\].*certificate verify error.*retrying/ }, 10),
    'the daemon logs the refusal at error level');
sleep 3;
my $tries = () = slurp($bad_log) =~ /certificate verify error/g;
cmp_ok($tries, '<', 200, "and retries with backoff ($tries attempts)");
is($t->stop_worker($w), 0, 'and still stops cleanly');

($rc, $out, $err) = enqueue('x', MASTODON_REDIS_SSL_TRUSTED_CERTIFICATE => $t->dir . '/none.crt');
isnt($rc, 0, 'a missing CA file');
like($err, qr/cannot load CA file/, '... is named');

unlike(slurp($log) . slurp($bad_log), qr/s3cr/, 'no password in any log');
$t->redis(@auth, 'CONFIG', 'SET', 'requirepass', '');
done_testing;
