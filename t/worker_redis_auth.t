#!/usr/bin/perl
# The worker's Redis URL (the module's mastodon_redis syntax, Mastodon's
# REDIS_URL forms): AUTH with a password or an ACL user and SELECT of the
# database on every connection it opens, reconnections included; a wrong
# password is a clear error that is retried with backoff, and no password
# is ever logged.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest qw(slurp);
use Test::More;
use Time::HiRes qw(sleep);

my $t = MastodonTest->new(nginx => 0, worker => 0);
my $port = $t->redis_port;
my $secret = 's3cr@t';
my @auth = ('-a', $secret, '--no-auth-warning');
my $url = "redis://:s3cr%40t\@127.0.0.1:$port/3";
my %fast = (MASTODON_CONCURRENCY => 1, MASTODON_CLAIM_IDLE_MS => 1000);

sub done  { my ($db, $key) = @_; $t->redis(@auth, '-n', $db, 'LLEN', "mastodon:test:$key:done") }

sub enqueue {
    my ($redis, $key) = @_;
    local $t->{worker_env} = { MASTODON_REDIS => $redis };
    my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', qq({"key":"$key"}));
    is($rc, 0, "enqueue $key through $redis") or diag $err;
}

$t->redis('CONFIG', 'SET', 'requirepass', $secret);

# --- a password and database 3 ---------------------------------------------------
my $log = $t->dir . '/auth-worker.log';
my $w = $t->start_worker(%fast, MASTODON_REDIS => $url, MASTODON_LOG_FILE => $log);
ok($t->wait_for(sub { slurp($log) =~ /mastodon-worker started: .*redis 127\.0\.0\.1:$port db 3/ }, 10),
    'the worker started, its Redis named without the password');
enqueue($url, 'db3');
ok($t->wait_for(sub { done(3, 'db3') == 1 }, 20), 'the job ran: its record is in database 3');
is(done(0, 'db3'), 0, 'not in database 0');
is($t->redis(@auth, '-n', 0, 'EXISTS', 'mastodon:queue:default'), 0, 'the queue is not in database 0');
like($t->redis(@auth, '-n', 3, 'XINFO', 'GROUPS', 'mastodon:queue:default'), qr/workers/,
    'the consumer group is in database 3');
# the job thread, housekeeping, heartbeat and outbox relay: each its own connection
# (a connection still being opened has sent nothing yet: cmd=NULL, db=0)
my @conns;
ok($t->wait_for(sub {
    @conns = grep { !/cmd=client/ } split /\n/, $t->redis(@auth, 'CLIENT', 'LIST');
    @conns >= 4 && !grep { !/ db=3 / } @conns }, 20),
    'the worker\'s connections (at least 4), every one of them in database 3') or diag join "\n", @conns;

# --- every connection dropped: AUTH and SELECT again on reconnecting ----------------
$t->redis(@auth, 'CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes');
enqueue($url, 'again');
ok($t->wait_for(sub { done(3, 'again') == 1 }, 30), 'after its connections were killed, the worker runs jobs in database 3');
is(done(0, 'again'), 0, '... and nothing in database 0');
is($t->stop_worker($w), 0, 'the worker stops cleanly');

# --- a Redis 6 ACL user ------------------------------------------------------------
$t->redis(@auth, 'ACL', 'SETUSER', 'mastodon', 'on', '>p:w@2', '~*', '&*', '+@all');
my $acl = "redis://mastodon:p%3Aw%402\@127.0.0.1:$port/5";
$w = $t->start_worker(%fast, MASTODON_REDIS => $acl);
enqueue($acl, 'acl');
ok($t->wait_for(sub { done(5, 'acl') == 1 }, 20), 'user and password: AUTH as the ACL user, database 5');
like($t->redis(@auth, 'CLIENT', 'LIST'), qr/user=mastodon /, 'connected as that user');
is($t->stop_worker($w), 0, 'stopped');

# --- a wrong password ---------------------------------------------------------------
my $wrong = "redis://:wrong-pass\@127.0.0.1:$port/3";
{
    local $t->{worker_env} = { MASTODON_REDIS => $wrong };
    my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', '{"key":"x"}');
    isnt($rc, 0, 'a CLI command with a wrong password fails');
    like($err, qr/redis 127\.0\.0\.1:$port db 3: AUTH: WRONGPASS/, '... saying AUTH was refused');
    unlike($err, qr/wrong-pass/, '... without the password');
}
my $bad_log = $t->dir . '/wrong-worker.log';
$w = $t->start_worker(%fast, MASTODON_REDIS => $wrong, MASTODON_LOG_FILE => $bad_log);
ok($t->wait_for(sub { slurp($bad_log) =~ /\[error\].*AUTH: WRONGPASS.*retrying/ }, 10),
    'the daemon logs the refusal at error level');
sleep 3;
my $tries = () = slurp($bad_log) =~ /WRONGPASS/g;
# four loops retry (job thread, housekeeping, heartbeat, outbox relay), backing
# off from 100 ms to 5 s: some tens of lines, not thousands
cmp_ok($tries, '<', 200, "retried with backoff, not in a hot loop ($tries attempts)");
is($t->stop_worker($w), 0, 'and still stops cleanly');

# --- forms refused at startup, the value not repeated ------------------------------
for my $bad ("redis://127.0.0.1:$port/x", 'redis://', 'redis://secretpw@127.0.0.1', 'redis://:%zz@127.0.0.1',
    'unix:///run/redis.sock?db=1&secret=1')
{
    local $t->{worker_env} = { MASTODON_REDIS => $bad };
    my ($rc, $out, $err) = $t->worker_cli('run');
    is($rc, 2, "$bad: exit 2");
    like($err, qr/redis: invalid value: expected/, '... saying what is expected');
    unlike($err, qr/secret/, '... not repeating it');
}

unlike(slurp($log) . slurp($bad_log), qr/s3cr|wrong-pass|p:w/, 'no password in any log');
$t->redis(@auth, 'CONFIG', 'SET', 'requirepass', '');
done_testing;
