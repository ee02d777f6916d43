#!/usr/bin/perl
# mastodon-worker's command line and configuration errors.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use File::Temp qw(tempfile);

my $t = MastodonTest->new(nginx => 0, worker => 0);

my ($rc, $out, $err) = $t->worker_cli('--help');
is($rc, 2, '--help: exit 2');
like($err, qr/usage: mastodon-worker/, '--help: usage on stderr');

($rc, $out, $err) = $t->worker_cli('frobnicate');
is($rc, 2, 'unknown command: exit 2');
like($err, qr/unknown command "frobnicate".*usage:/s, 'unknown command: message and usage');

($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'test_record', '{"key":');
is($rc, 2, 'enqueue: invalid JSON refused');
like($err, qr/invalid JSON/, 'enqueue: says why');
($rc, $out, $err) = $t->worker_cli('enqueue', 'Bad Queue', 'test_record', '{}');
is($rc, 2, 'enqueue: invalid queue name refused');
is($t->redis('KEYS', 'mastodon:queue:*'), '', 'nothing was enqueued');

# configuration: the environment, and a file
{
    local $t->{worker_env} = { MASTODON_CONCURRENCY => 0 };
    ($rc, $out, $err) = $t->worker_cli('run');
    is($rc, 2, 'concurrency 0: exit 2');
    like($err, qr/MASTODON_CONCURRENCY: concurrency must be an integer between 1 and/, 'and why');
}
{
    local $t->{worker_env} = { MASTODON_LOG_LEVEL => 'chatty' };
    ($rc, $out, $err) = $t->worker_cli('run');
    is($rc, 2, 'unknown log level: exit 2');
}
{
    local $t->{worker_env} = { MASTODON_QUEUES => 'default,Push' };
    ($rc, $out, $err) = $t->worker_cli('run');
    is($rc, 2, 'bad queue name: exit 2');
}

my ($fh, $file) = tempfile(DIR => $t->dir, SUFFIX => '.conf');
print $fh "# comment\n\nconcurrency 2\nno_such_key 1\n";
close $fh;
($rc, $out, $err) = $t->worker_cli('-c', $file, 'run');
is($rc, 2, 'unknown key in the file: exit 2');
like($err, qr/\Q$file\E:4: unknown key "no_such_key"/, 'with file and line');

($rc, $out, $err) = $t->worker_cli('-c', $t->dir . '/missing.conf', 'run');
is($rc, 2, 'missing config file: exit 2');

# a good file, the environment winning over it: the worker runs and logs there
open $fh, '>', $file or die;
print $fh "concurrency 1\nlog_level error\nqueues \"default, push\"\n";
close $fh;
my $log = $t->dir . '/cli-worker.log';
my $pid = $t->start_worker(MASTODON_LOG_LEVEL => 'info', MASTODON_LOG_FILE => $log);
ok($t->wait_for(sub { -s $log && `cat $log` =~ /started: \d+ threads/ }, 10), 'worker started');
is($t->stop_worker($pid), 0, 'and stopped');
like(`cat $log`, qr{^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[notice\] \d+#\d+: mastodon-worker started}m,
    'log lines look like nginx\'s');

# a worker whose Redis is down keeps retrying instead of exiting
$pid = $t->start_worker(MASTODON_REDIS => '127.0.0.1:1');
sleep 1.5;
ok(kill(0, $pid), 'Redis down: the worker keeps running');
is($t->stop_worker($pid), 0, 'and stops cleanly on TERM');

$t->done;
