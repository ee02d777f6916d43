#!/usr/bin/perl
# The worker's runtime: heartbeats hand a dead worker's jobs over within
# seconds and never duplicate a live worker's slow job; the crash handler
# logs a backtrace; a job is never too big for the worker.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest qw(slurp);
use Test::More;
use Time::HiRes qw(sleep time);
use IO::Socket::INET;

# the big status below takes a while to render in the ASan build
my $t = MastodonTest->new(worker => 0,
    http_config => 'client_max_body_size 8m; mastodon_redis_timeout 20s; mastodon_pg_query_timeout 20s;');

sub enqueue {
    my ($args, $queue) = @_;
    my ($rc, $out, $err) = $t->worker_cli('enqueue', $queue // 'default', 'test_record', $args);
    is($rc, 0, "enqueue $args") or diag $err;
    return $out;
}
sub started { $t->redis('LLEN', "mastodon:test:$_[0]:started") }
sub done    { $t->redis('LLEN', "mastodon:test:$_[0]:done") }
sub done_by { my ($c) = $t->redis('LRANGE', "mastodon:test:$_[0]:done", 0, 0); $c =~ /:(\d+):\d+$/ ? $1 : '' }
sub pending { (split /\n/, $t->redis('XPENDING', "mastodon:queue:$_[0]", 'workers'))[0] // 0 }

# --- a killed worker's job: handed over within seconds (default settings) ----
my $w1 = $t->start_worker;
my $w2 = $t->start_worker;
enqueue('{"key":"handover","sleep_ms":4000}');
ok($t->wait_for(sub { started('handover') == 1 }, 10), 'the job started');
my ($holder) = $t->redis('LRANGE', 'mastodon:test:handover:started', 0, 0);
my ($victim, $survivor) = $holder =~ /:$w1:\d+$/ ? ($w1, $w2) : ($w2, $w1);
is($t->kill_worker($victim, 'KILL'), 137, 'the worker holding it is killed (SIGKILL)');
my $killed_at = time;
ok($t->wait_for(sub { started('handover') == 2 }, 30), 'another worker took the job over');
my $handover = time - $killed_at;
cmp_ok($handover, '<', 20, sprintf('within seconds (%.1f s; claim_idle_ms 5000)', $handover));
like(($t->redis('LRANGE', 'mastodon:test:handover:started', 1, 1))[0], qr/:$survivor:\d+$/, 'the survivor has it');
is($t->stop_worker($survivor), 0, 'the survivor stops (it finishes the job first)');
is(done('handover'), 1, 'done once');

# --- a live worker's slow job is never run twice ------------------------------
my @two = map { $t->start_worker } 1 .. 2;
enqueue('{"key":"slow","sleep_ms":12000}');
ok($t->wait_for(sub { done('slow') == 1 }, 40), 'a job longer than claim_idle_ms finished');
sleep 1.5;
is(started('slow'), 1, 'it ran once: the other worker never claimed it');

# --- every entry a thread holds is kept alive, not only the one it runs --------
is($t->stop_worker($_), 0, 'worker stops') for @two;
enqueue('{"key":"first","sleep_ms":9000}', 'default');
enqueue('{"key":"second"}', 'mailers');
my $one = $t->start_worker(MASTODON_CONCURRENCY => 1);
ok($t->wait_for(sub { started('first') == 1 }, 10), 'one thread read both entries and runs the first');
is(pending('mailers'), 1, 'the second waits in its hands');
my $other = $t->start_worker;
ok($t->wait_for(sub { done('second') == 1 }, 40), 'the second ran');
sleep 1.5;
is(started('second'), 1, 'once');
is(done_by('second'), $one, 'by the worker that held it, after the first');
is($t->stop_worker($_), 0, 'worker stops') for $one, $other;

# --- the crash handler: a line, a backtrace, then the default action ------------
for my $case ([segv => 11, 'SIGSEGV'], [abort => 6, 'SIGABRT'], [ill => 4, 'SIGILL']) {
    my ($how, $signo, $name) = @$case;
    my $log = $t->dir . "/crash-$how.log";
    my $w = $t->start_worker(MASTODON_TEST_CRASH => 1, MASTODON_LOG_FILE => $log);
    enqueue(qq({"key":"crash_$how","crash":"$how"}));
    ok($t->wait_for(sub { slurp($log) =~ /end of backtrace/ }, 20), "$how: the crash was logged");
    is($t->stop_worker($w), 128 + $signo, "$how: the process died of $name");
    my $text = slurp($log);
    like($text, qr/\[alert\] $w#\d+: crashed on signal $signo \($name\)/, "$how: the alert line");
    # static functions show as offsets: addr2line names them
    my @offsets = $text =~ /mastodon-worker\(\+(0x[0-9a-f]+)\)/g;
    cmp_ok(scalar @offsets, '>=', 3, "$how: the backtrace has the worker's frames");
    my $names = `addr2line -f -i -e @{[$t->worker_bin]} @offsets`;
    like($text . $names, qr/job_test_record/, "$how: from the job's function");
    like($names, qr/run_entry/, "$how: called by the job thread");
    $t->redis('DEL', 'mastodon:queue:default');
}
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', '{"key":"nocrash","crash":"segv"}');
my $w = $t->start_worker;
ok($t->wait_for(sub { $t->redis('ZCARD', 'mastodon:retry') == 1 }, 10), 'without MASTODON_TEST_CRASH the job only fails');
like($t->redis('ZRANGE', 'mastodon:retry', 0, -1), qr/needs MASTODON_TEST_CRASH=1/, 'saying why');
is($t->stop_worker($w), 0, 'and the worker lives');
$t->redis('DEL', 'mastodon:retry');

# --- job sizes ------------------------------------------------------------------
# What the module produces: 450 characters can be megabytes (a character is
# a grapheme cluster: a letter and any number of combining marks); the
# distribute job carries the id, the rendering it publishes (above the old
# 1 MB limit) waits in Redis.
my $user = $t->user('big');
my $text = ("a\x{301}" . ("\x{301}" x 1499)) x 450;
my $sid = $t->mojo->post_ok('/api/v1/statuses', $t->bearer($user->{token}), json => { status => $text })
    ->status_is(200)->tx->res->json->{id};
my $size = length $t->redis('GET', "mastodon:payload:status:$sid");
cmp_ok($size, '>', 1024 * 1024, "the rendering the distribute job publishes is $size bytes");
$t->worker_cli('relay');
my $raw = $t->redis('XRANGE', 'mastodon:queue:default', '-', '+');
like($raw, qr/distribute/, 'the job is relayed from the outbox');
cmp_ok(length $raw, '<', 1024, 'and carries ids only');
$w = $t->start_worker;
ok($t->wait_for(sub { $t->redis('XLEN', 'mastodon:queue:default') == 0 && pending('default') == 0 }, 60),
   'the worker ran it');
is($t->redis('XLEN', 'mastodon:dead') + $t->redis('ZCARD', 'mastodon:retry'), 0, 'nothing failed');
is($t->stop_worker($w), 0, 'worker stops');

# Above job_max_bytes: refused by the CLI, and an entry that got in anyway is
# dead at once with the reason, logged at error.
{
    local $t->{worker_env}{MASTODON_JOB_MAX_BYTES} = 2048;
    ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', '{"key":"' . ('x' x 3000) . '"}');
}
is($rc, 2, 'enqueue refuses args above job_max_bytes');
like($err, qr/3010 bytes of JSON, more than the 2048 allowed \(job_max_bytes\)/, 'saying so');
my $log = $t->dir . '/small.log';
$t->redis('XADD', 'mastodon:queue:default', '*', 'type', 'test_record', 'args', '{"key":"' . ('x' x 3000) . '"}',
          'attempt', 0, 'jid', '00000000000000bb', 'enqueued_at', 0);
$w = $t->start_worker(MASTODON_JOB_MAX_BYTES => 2048, MASTODON_LOG_FILE => $log);
ok($t->wait_for(sub { $t->redis('XLEN', 'mastodon:dead') == 1 }, 10), 'the oversized entry is dead');
my (undef, %dead) = split /\n/, $t->redis('XRANGE', 'mastodon:dead', '-', '+');
is($dead{error}, 'args of 3010 bytes exceed job_max_bytes (2048): too large for this worker', 'with the reason');
like(slurp($log), qr/\[error\] .*jid=00000000000000bb .*args of 3010 bytes exceed job_max_bytes \(2048\).*moved to mastodon:dead/,
     'logged at error');
is($t->stop_worker($w), 0, 'worker stops');

# --- timeouts on the worker's own connections -------------------------------------
sub retry_error {
    my ($key) = @_;
    my ($m) = grep { /"key":"$key"/ } split /\n/, $t->redis('ZRANGE', 'mastodon:retry', 0, -1);
    return $m && $m =~ /"error":"((?:[^"\\]|\\.)*)"/ ? $1 : '';
}
$t->redis('DEL', 'mastodon:retry', 'mastodon:dead', 'mastodon:queue:default');

# statement_timeout on job connections
$w = $t->start_worker(MASTODON_DB_STATEMENT_TIMEOUT_MS => 300);
enqueue('{"key":"stmt","sql_sleep_ms":5000}');
ok($t->wait_for(sub { retry_error('stmt') ne '' }, 20), 'a statement over db_statement_timeout_ms fails');
like(retry_error('stmt'), qr/statement timeout/, 'PostgreSQL cancelled it');
enqueue('{"key":"stmt_ok","sql_sleep_ms":50}');
ok($t->wait_for(sub { done('stmt_ok') == 1 }, 20), 'a short one runs');
is($t->stop_worker($w), 0, 'worker stops');
$t->redis('DEL', 'mastodon:retry');

# a PostgreSQL that accepts the connection and never answers
my $mute = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
    or die "listen: $!";
my $mute_port = $mute->sockport;
$w = $t->start_worker(MASTODON_DATABASE => "hostaddr=127.0.0.1 port=$mute_port dbname=x user=x",
                      MASTODON_DB_CONNECT_TIMEOUT_MS => 2000);
enqueue('{"key":"connect","sql_sleep_ms":1}');
ok($t->wait_for(sub { retry_error('connect') ne '' }, 30), 'connecting to a mute server gives up');
like(retry_error('connect'), qr/timeout expired/, 'on db_connect_timeout_ms');
is($t->stop_worker($w), 0, 'worker stops');
close $mute;
$t->redis('DEL', 'mastodon:retry');

# a Redis that stops answering: commands time out, the worker reconnects
my $rlog = $t->dir . '/redis-timeout.log';
$w = $t->start_worker(MASTODON_REDIS_TIMEOUT_MS => 500, MASTODON_LOG_FILE => $rlog);
ok($t->wait_for(sub { slurp($rlog) =~ /started/ }, 10), 'worker started');
sleep 1;
$t->redis('CLIENT', 'PAUSE', 4000, 'ALL');
ok($t->wait_for(sub { slurp($rlog) =~ /\[error\] .*redis: .*Resource temporarily unavailable/ }, 15),
   'a command past redis_timeout_ms fails (logged)');
enqueue('{"key":"after_pause"}');
ok($t->wait_for(sub { done('after_pause') == 1 }, 20), 'after the pause the worker works again');
is($t->stop_worker($w), 0, 'worker stops');

$t->done;
