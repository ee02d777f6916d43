# The inbox and keys it does not have: the worker is asked (a fetch_key job
# through the outbox) and its answer polled in Redis for a bounded time;
# without a worker that ends in 503 with Retry-After and nothing stored;
# an answer written by hand (as the worker would) lets the request through.
# Keys once read stay in the shared-memory cache.
use strict;
use warnings;
use Test::More;
use Mojo::JSON qw(decode_json encode_json);
use POSIX ();

use lib 't/lib';
use MastodonTest;
use HttpSigTest;

my $t = MastodonTest->new(worker => 0, http_config => 'mastodon_key_fetch_wait 4s;');
my $ua = $t->ua;
my $host = $t->domain;
$t->user('alice');

sub stored { $t->psql('SELECT count(*) FROM inbox_activities') }
sub fetch_jobs { $t->psql(qq{SELECT count(*) FROM job_outbox WHERE type = 'fetch_key'
    AND args::json->>'key_id' = '$_[0]'}) }

sub post {
    my ($path, $h, $body) = @_;
    my $tx = $ua->build_tx(POST => $t->base . $path => {} => $body);
    $tx->req->headers->content_type('application/activity+json');
    $tx->req->headers->header($_ => $h->{$_}) for keys %$h;
    $ua->start($tx);
    return $tx->res;
}

# actor($name) -> { uri, key_id, key, body }: a remote actor we have not stored
sub actor {
    my ($name) = @_;
    my $uri = "https://remote.test/users/$name";
    my $key = HttpSigTest::key($t->dir, $name);
    my $body = encode_json({ id => "$uri#likes/1", type => 'Like', actor => $uri,
        object => $t->public_base . '/users/alice/statuses/1' });
    return { name => $name, uri => $uri, key_id => "$uri#main-key", key => $key, body => $body };
}

sub signed {
    my ($a, %o) = @_;
    return HttpSigTest::cavage(key => $a->{key}, key_id => $a->{key_id}, host => $host,
        path => '/users/alice/inbox', body => $o{body} // $a->{body});
}

sub store_actor {
    my ($a, $pem) = @_;
    ($pem //= $a->{key}{pub}) =~ s/'/''/g;
    $t->psql(qq{INSERT INTO accounts (username, domain, uri, public_key)
        VALUES ('$a->{name}', 'remote.test', '$a->{uri}', '$pem')});
}

# --- no worker: the bounded wait ends in 503 ----------------------------------------

my $carol = actor('carol');
my $before = stored();
my $res = post('/users/alice/inbox', signed($carol), $carol->{body});
is($res->code, 503, 'an unknown key, nobody fetches it: 503');
like($res->headers->header('Retry-After') // '', qr/^\d+$/, 'with Retry-After');
like(decode_json($res->body)->{error}, qr/Could not fetch the public key/, 'the error says why');
is(stored(), $before, 'nothing stored');
is(fetch_jobs($carol->{key_id}), 1, 'the worker was asked: one fetch_key job');
is($t->psql(q{SELECT queue FROM job_outbox WHERE type = 'fetch_key' LIMIT 1}), 'ingress',
   'on queue ingress');

# --- the answer comes while the request waits ----------------------------------------

my $dave = actor('dave');
my $pid = fork // die "fork: $!";
if (!$pid) {
    # the worker's part, by hand: once asked, store the actor, then answer
    $t->wait_for(sub { fetch_jobs($dave->{key_id}) }, 30) or POSIX::_exit(1);
    store_actor($dave);
    $t->redis('SET', HttpSigTest::answer_key($dave->{key_id}), '{"ok":true}', 'EX', '60');
    POSIX::_exit(0);
}
$res = post('/users/alice/inbox', signed($dave), $dave->{body});
waitpid $pid, 0;
is($?, 0, 'the stand-in worker saw the job and answered');
is($res->code, 202, 'the key fetched meanwhile: 202') or diag($res->body);
is(stored(), $before + 1, 'stored');
is($t->psql(q{SELECT actor_uri FROM inbox_activities ORDER BY id DESC LIMIT 1}), $dave->{uri},
   "signed by dave's actor");

# --- answers there already --------------------------------------------------------

my $erin = actor('erin');
$t->redis('SET', HttpSigTest::answer_key($erin->{key_id}), '{"error":"gone"}', 'EX', '60');
$res = post('/users/alice/inbox', signed($erin), $erin->{body});
is($res->code, 401, 'the worker found the key gone: 401');
is(decode_json($res->body)->{error}, "Public key not found for key $erin->{key_id}",
   "Mastodon's error");
is(fetch_jobs($erin->{key_id}), 0, 'not asked again while the answer lives');

my $frank = actor('frank');
$t->redis('SET', HttpSigTest::answer_key($frank->{key_id}), '{"error":"temporary"}', 'EX', '60');
$res = post('/users/alice/inbox', signed($frank), $frank->{body});
is($res->code, 503, 'a temporary failure: 503');
ok($res->headers->header('Retry-After'), 'with Retry-After');
is(stored(), $before + 1, 'nothing stored');

# --- an actor deleting itself, never seen: 202, dropped, no fetch ----------------------

my $gina = actor('gina');
my $delete = encode_json({ id => "$gina->{uri}#delete", type => 'Delete', actor => $gina->{uri},
    object => $gina->{uri} });
$res = post('/users/alice/inbox', signed($gina, body => $delete), $delete);
is($res->code, 202, 'Delete of an unknown actor by itself: 202 at once');
is(stored(), $before + 1, 'nothing stored');
is(fetch_jobs($gina->{key_id}), 0, 'its key not fetched');

# --- the key cache -------------------------------------------------------------------

# dave's key was read from PostgreSQL: it is cached, a wrong stored key
# does not matter for the cache's lifetime
$t->psql(q{UPDATE accounts SET public_key = 'garbage' WHERE username = 'dave'});
$res = post('/users/alice/inbox', signed($dave), $dave->{body});
is($res->code, 202, 'a cached key verifies without PostgreSQL');
is(stored(), $before + 2, 'stored');

# --- Redis down: an unknown key cannot be fetched --------------------------------------

my $hank = actor('hank');
$t->stop_redis;
$res = post('/users/alice/inbox', signed($hank), $hank->{body});
is($res->code, 503, 'Redis down and an unknown key: 503');
ok($res->headers->header('Retry-After'), 'with Retry-After');
$t->start_redis;

$t->done;
