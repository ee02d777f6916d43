# A backend operation owned by a timer, not a request (mastodon_debug_tick):
# each round runs a PostgreSQL statement, renders JSON into the operation's
# pool, digests it in the thread pool and records it in Redis, with no
# request at all.  Ending the worker cancels the round under way and frees
# it (an [alert] otherwise, which done() refuses; ASan watches the rest).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use Mojo::JSON qw(decode_json);
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    http_config => 'mastodon_debug_tick 20ms 20ms;',
);

sub rounds {
    my %h = split /\n/, $t->redis('HGETALL', 'mastodon:debug:tick');
    return { map { $_ => decode_json($h{$_}) } keys %h };
}

ok($t->wait_for(sub {
    my $r = rounds();
    keys %$r == 2 && !grep { $_->{round} < 5 } values %$r;
}, 20), 'both workers run rounds on their own') or diag explain rounds();

my $accounts = $t->psql('SELECT count(*) FROM accounts');
for my $pid (sort keys %{ rounds() }) {
    my $json = $t->redis('HGET', 'mastodon:debug:tick', $pid);
    my $r = decode_json($json);
    is($r->{pid}, $pid, "worker $pid: its own pid");
    is($r->{accounts}, $accounts, '... the PostgreSQL answer');
    is($r->{operations}, 1, '... one operation alive: the round itself (earlier ones were freed)');
    (my $rest = $json) =~ s/,"digest":"[0-9a-f]{64}"\}$/}/;
    is($r->{digest}, sha256_hex($rest), '... the digest the thread pool made of the JSON');
}

is(-s $t->dir . '/access.log' // 0, 0, 'no request was made');

# a graceful reload: the old workers start no new round and exit
my @old = sort keys %{ rounds() };
$t->redis('DEL', 'mastodon:debug:tick');
# (the query timeout above the sleep: the round stays under way)
ok($t->reconfigure_nginx(http_config => 'mastodon_debug_tick 20ms 30s; mastodon_pg_query_timeout 60s;'),
   'reloaded');
ok($t->wait_for(sub { !grep { kill 0, $_ } @old }, 15), 'the old workers exited');

# the new workers' rounds sleep 30 s in PostgreSQL: one is under way in each
# when the workers are told to stop at once
sleep 1;
my $log = $t->dir . '/error.log';
my $before = -s $log;
kill 'TERM', $t->nginx_pid;
ok($t->wait_for(sub { !kill 0, $t->nginx_pid }, 15), 'nginx stopped');
my $tail = substr($t->error_log, $before);
my $n = () = $tail =~ /debug tick: round \d+ cancelled at exit/g;
is($n, 2, 'each worker cancelled its round under way');
unlike($tail, qr/backend operations left at exit/, 'and freed it');

$t->done;
