#!/usr/bin/perl
# Delivery is at-least-once: a worker killed (SIGKILL) in the middle of a
# batch of deliveries leaves its job entry pending; the next worker claims
# it and every inbox gets the activity (those already served may get it
# twice: receivers deduplicate by the activity's id).
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojolicious::Lite;
use Mojo::IOLoop;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use Mojo::JSON qw(encode_json);
use Mojo::File qw(path);
use IO::Socket::INET;
use POSIX ();

my $port = Mojo::IOLoop::Server->generate_port;
my %env = (MASTODON_QUEUES => 'push', MASTODON_CONCURRENCY => 1, MASTODON_CLAIM_IDLE_MS => 1000,
           MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
           MASTODON_DELIVER_HOST_CONCURRENCY => 2, MASTODON_DELIVER_TIMEOUT_MS => 20000);
my $t = MastodonTest->new(nginx => 0, worker => 0, worker_env => \%env);
my $dir = $t->dir;
my $log = "$dir/inbox.log";
path($log)->spurt('');

# every inbox answers after a second: the batch takes a while
app->log->level('fatal');
post '/inbox/:n' => sub {
    my $c = shift;
    open my $fh, '>>', $log or die;
    print $fh $c->param('n') . "\n";
    close $fh;
    $c->render_later;
    Mojo::IOLoop->timer(1 => sub { $c->render(status => 202, text => '') });
};
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    Mojo::Server::Daemon->new(app => app, listen => ["http://127.0.0.1:$port"], silent => 1)->run;
    POSIX::_exit(0);
}
ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20), 'the recorder listens');
sub seen { my %s; $s{$_}++ for grep { length } split /\n/, path($log)->slurp; \%s }

my $alice = $t->user('alice', password => 'correct horse battery');
my $n = 12;
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'push', 'activitypub_deliver', encode_json({
    account_id => "$alice->{account_id}", activity => { id => 'https://localhost/a/1', type => 'Create' },
    inboxes => [ map { "http://127.0.0.1:$port/inbox/$_" } 1 .. $n ] }));
is($rc, 0, 'a batch of twelve deliveries enqueued') or diag $err;

my $w1 = $t->start_worker;
ok($t->wait_for(sub { keys %{ seen() } >= 2 }, 30), 'the first worker started delivering');
$t->kill_worker($w1, 'KILL');
my $before = keys %{ seen() };
cmp_ok($before, '<', $n, "killed mid-batch ($before of $n inboxes reached)");

$t->start_worker;
ok($t->wait_for(sub { keys %{ seen() } == $n }, 90), 'after a new worker claimed the job, every inbox got it');
is($t->redis('XLEN', 'mastodon:dead'), '0', 'nothing went to the dead stream');
ok($t->wait_for(sub { $t->redis('XPENDING', 'mastodon:queue:push', 'workers') =~ /^0/ }, 30),
   'the job was acknowledged');

kill 'TERM', $pid;
waitpid $pid, 0;
$t->done;
