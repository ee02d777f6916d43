#!/usr/bin/perl
# What a received status names and we do not have is fetched from its
# origin, as Mastodon does: an unknown parent (inReplyTo) by a
# thread_resolve job (ThreadResolveWorker), its own unknown parent by the
# next one, a bounded number of ancestors deep; an unknown mentioned account
# while the status is stored (process_mention), so mentions and threads work.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;

my $bed = Federation->new(instances => ['one']);
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $alice = $one->account('alice');
my $DEADLINE = 30;
my $PUBLIC = 'https://www.w3.org/ns/activitystreams#Public';

my $m = $peer->actor('mallory');
my $bea = $peer->actor('bea');

sub note {
    my ($author, $path, %o) = @_;
    my $doc = { id => $peer->url($path), type => 'Note', attributedTo => $author->{id},
                content => "<p>$path</p>", to => [$PUBLIC], published => '2026-12-01T00:00:00Z', %o };
    $peer->serve($path, { '@context' => 'https://www.w3.org/ns/activitystreams', %$doc });
    return $doc;
}
sub deliver {
    my ($actor, $note) = @_;
    my $code;
    $bed->wait_until(sub {
        $code = $peer->post('https://one.test/inbox', $peer->activity(type => 'Create', actor => $actor,
            to => [$PUBLIC], object => $note), actor => $actor)->code;
        $code != 503;
    }, $DEADLINE);
    return $code;
}
sub status_id { $one->psql("SELECT id FROM statuses WHERE uri = '$_[0]'") }
sub parent_of { $one->psql("SELECT coalesce(in_reply_to_id::text, '') FROM statuses WHERE uri = '$_[0]'") }

# --- an unknown parent, and its own unknown parent -------------------------------------------
my $p0 = note($bea, '/notes/p0');
my $p1 = note($bea, '/notes/p1', inReplyTo => $p0->{id});
my $r = note($m, '/notes/r', inReplyTo => $p1->{id});
is(deliver('mallory', $r), 202, "mallory's reply to a status one.test does not have is taken");
ok($bed->wait_until(sub { status_id($r->{id}) }, $DEADLINE), 'the reply is stored');
ok($bed->wait_until(sub { my $p = status_id($p1->{id}); $p && parent_of($r->{id}) eq $p }, $DEADLINE),
    'its parent is fetched from its origin and the reply attached to it');
is($one->psql("SELECT username || '\@' || domain FROM accounts WHERE uri = '$bea->{id}'"), 'bea@peer.test',
    "... with the parent's author");
ok($bed->wait_until(sub { my $p = status_id($p0->{id}); $p && parent_of($p1->{id}) eq $p }, $DEADLINE),
    "the parent's own parent too, by the next job");
my $ctx = $one->api(GET => '/api/v1/statuses/' . status_id($r->{id}) . '/context', token => $alice->{token});
is_deeply([map { $_->{uri} } @{ ($ctx->json // {})->{ancestors} // [] }], [$p0->{id}, $p1->{id}],
    'the thread shows both ancestors in order') or diag $ctx->body;
is($one->psql('SELECT replies_count FROM status_stats WHERE status_id = ' . status_id($p1->{id})), 1,
    "the parent counts the reply");
like($one->worker_log, qr/job thread_resolve jid=\S+ queue=pull/, 'thread_resolve jobs ran on queue pull');

# --- bounded: at most 8 ancestors are fetched ---------------------------------------------
my @chain = (note($bea, '/notes/c0'));
push @chain, note($bea, "/notes/c$_", inReplyTo => $chain[-1]{id}) for 1 .. 10;
is(deliver('bea', $chain[10]), 202, 'a reply at the end of a chain of 10 ancestors is taken');
ok($bed->wait_until(sub { my $p = status_id($chain[2]{id}); $p && parent_of($chain[3]{id}) eq $p }, 60),
    'ancestors are fetched, one job each, down to the eighth');
is(status_id($chain[1]{id}), '', 'the ninth is not fetched');
is(scalar($peer->received(method => 'GET', path => '/notes/c1')), 0, '... nor even asked for');
is(parent_of($chain[2]{id}), '', 'the eighth stays unattached');

# --- a parent that is gone: the reply stays as it is -------------------------------------
my $orphan = note($m, '/notes/orphan', inReplyTo => $peer->url('/notes/missing'));
is(deliver('mallory', $orphan), 202, 'a reply to a status that is gone at its origin is taken');
ok($bed->wait_until(sub { $one->worker_log =~ m{thread_resolve \Q${\ $peer->url('/notes/missing')}\E: .*gone} },
    $DEADLINE), '... the parent fetch finds it gone');
ok(status_id($orphan->{id}) && parent_of($orphan->{id}) eq '', '... and the reply stays, unattached');

# --- an unknown mentioned account ---------------------------------------------------------
my $dora = $peer->actor('dora');
my $mn = note($m, '/notes/mention', content => '<p>hi @dora and @alice</p>', tag => [
    { type => 'Mention', href => $dora->{id}, name => '@dora@peer.test' },
    { type => 'Mention', href => 'https://one.test/users/alice', name => '@alice@one.test' },
    { type => 'Mention', href => $peer->url('/users/nobody'), name => '@nobody@peer.test' },
]);
is(deliver('mallory', $mn), 202, 'a status mentioning an unknown remote account is taken');
ok($bed->wait_until(sub { status_id($mn->{id}) }, $DEADLINE), '... and stored');
my $sid = status_id($mn->{id});
is($one->psql("SELECT username || '\@' || domain FROM accounts WHERE uri = '$dora->{id}'"), 'dora@peer.test',
    'the mentioned account was fetched and stored');
is($one->psql("SELECT string_agg(a.username, ',' ORDER BY a.username) FROM mentions m"
    . " JOIN accounts a ON a.id = m.account_id WHERE m.status_id = $sid"), 'alice,dora',
    'both mentions are kept; the one whose actor is gone is left out');
my $st = $one->api(GET => "/api/v1/statuses/$sid", token => $alice->{token})->json // {};
is_deeply([sort map { $_->{acct} } @{ $st->{mentions} // [] }], ['alice', 'dora@peer.test'],
    'the status entity lists the mentions');
ok($bed->wait_until(sub {
    my $n = $one->api(GET => '/api/v1/notifications', token => $alice->{token})->json // [];
    grep { $_->{type} eq 'mention' && ($_->{status}{uri} // '') eq $mn->{id} } @$n;
}, $DEADLINE), 'alice is notified of the mention');

$bed->done;
