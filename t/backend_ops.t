# A backend operation owned by a timer, not a request (mastodon_debug_tick):
# each round runs a PostgreSQL statement, renders JSON into the operation's
# pool, digests it in the thread pool and records it in Redis, with no
# request at all; given ids, it renders an account and a status with the
# entities' renderers, which the API's answers must equal field by field.  Ending the worker cancels the round under way and frees
# it (an [alert] otherwise, which done() refuses; ASan watches the rest).

use strict;
use warnings;

use Test::More;
use Digest::SHA qw(sha256_hex);
use Mojo::JSON qw(decode_json);
use MastodonTest;

my $t = MastodonTest->new(
    worker      => 0,
    # no render cache: its subscription is an operation alive too
    http_config => 'mastodon_debug_tick 20ms 20ms; mastodon_render_cache_size 0;',
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

# the timer's operation renders entities: an account and a status, written
# to Redis, are what the API answers for the same ids (anonymous client)
my $alice = $t->user('alice', display_name => 'Alice');
my $m = $t->mojo;
$t->psql("UPDATE accounts SET note = 'see https://example.com/x #tag',"
    . qq{ fields = '[{"name":"web","value":"https://example.org"}]'}
    . " WHERE id = $alice->{account_id}");
my $posted = $m->post_ok('/api/v1/statuses', $t->bearer($alice->{token}),
    form => { status => 'Hello #world from https://example.com/a @alice' })
    ->status_is(200)->tx->res->json;
$t->redis('SET', 'mastodon:debug:render', "$alice->{account_id} $posted->{id}");

ok($t->wait_for(sub { $t->redis('EXISTS', 'mastodon:debug:rendered') }, 20),
   'a round rendered them');
my $api_account = $m->get_ok("/api/v1/accounts/$alice->{account_id}")->status_is(200)->tx->res->json;
my $api_status = $m->get_ok("/api/v1/statuses/$posted->{id}")->status_is(200)->tx->res->json;
# a rendering made after both answers (nothing changes meanwhile)
$t->redis('DEL', 'mastodon:debug:rendered');
ok($t->wait_for(sub { $t->redis('EXISTS', 'mastodon:debug:rendered') }, 20), 'and again');
my $rendered = decode_json($t->redis('GET', 'mastodon:debug:rendered'));

sub same_fields {
    my ($what, $got, $want) = @_;
    my %keys = map { $_ => 1 } keys %$got, keys %$want;
    for my $k (sort keys %keys) {
        is_deeply($got->{$k}, $want->{$k}, "$what.$k as the API has it");
    }
}
same_fields('account', $rendered->{account}, $api_account);
same_fields('status', $rendered->{status}, $api_status);
ok(keys %{ $rendered->{status} } >= 20 && $rendered->{status}{account}{id} eq $alice->{account_id},
   'a whole Status with its account') or diag explain $rendered;
like($rendered->{account}{note}, qr/<a href="https:\/\/example\.com\/x"/, 'the note as HTML');
$t->redis('DEL', 'mastodon:debug:render');

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
