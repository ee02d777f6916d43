#!/usr/bin/perl
# Followers-collection synchronization (Mastodon's Collection-Synchronization):
# deliveries of a followers-only post carry the header naming the author's
# followers collection, the digest of its followers on the receiving host and
# the partial collection's URL; the worker's followers_synchronization job
# (what the inbox enqueues for a delivery carrying the header) compares the
# digest with ours and, when they differ, reads the partial collection and
# undoes the local follows it does not list.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use Digest::SHA qw(sha256 sha256_hex);
use Mojo::JSON ();

my $bed = Federation->new(instances => ['one']);
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $DEADLINE = 30;
my %user = map { ($_ => $one->account($_)) } qw(alice carol);
my $PUBLIC = 'https://www.w3.org/ns/activitystreams#Public';

sub post_as {
    my ($actor, $activity) = @_;
    my $code;
    $bed->wait_until(sub { ($code = $peer->post('https://one.test/inbox', $activity, actor => $actor)->code) != 503 },
        $DEADLINE);
    return $code;
}
sub xor_digest {
    my $x = "\0" x 32;
    $x ^= sha256($_) for @_;
    return unpack('H*', $x);
}

# --- sending: the header on a followers-only post ---------------------------------------
my $fan = $peer->actor('fan');
my $fan2 = $peer->actor('fan2');
for my $f ($fan, $fan2) {
    is(post_as($f->{name}, $peer->activity(type => 'Follow', actor => $f->{name}, object => $user{alice}{uri})), 202,
        "$f->{name} follows alice");
}
ok($bed->wait_until(sub {
    $one->psql("SELECT count(*) FROM follows WHERE target_account_id = $user{alice}{account_id}") == 2 }, $DEADLINE),
    '... both follows stored');
$peer->clear_received;
my $priv = $one->api(POST => '/api/v1/statuses', token => $user{alice}{token},
    json => { status => 'for my followers', visibility => 'private' })->json;
my $pub = $one->api(POST => '/api/v1/statuses', token => $user{alice}{token},
    json => { status => 'for everyone', visibility => 'public' })->json;
my ($create_priv, $create_pub);
$bed->wait_until(sub {
    for my $r ($peer->received(method => 'POST')) {
        next unless ($r->{json}{type} // '') eq 'Create';
        $create_priv = $r if $r->{json}{object}{id} eq $priv->{uri};
        $create_pub = $r if $r->{json}{object}{id} eq $pub->{uri};
    }
    $create_priv && $create_pub;
}, $DEADLINE);
ok($create_priv, 'the followers-only post reaches the peer');
is($create_priv->{path}, '/inbox', '... at its shared inbox, once') if $create_priv;
my $want = sprintf('collectionId="https://one.test/users/alice/followers", digest="%s", '
    . 'url="https://one.test/users/alice/followers_synchronization"', xor_digest($fan->{id}, $fan2->{id}));
is(FakePeer->header($create_priv // {}, 'Collection-Synchronization'), $want,
    '... with Collection-Synchronization: the collection, the digest of her followers there, the partial collection');
ok($create_pub && !defined FakePeer->header($create_pub, 'Collection-Synchronization'),
    'a public post carries no such header');

# --- receiving: the job the inbox enqueues for the header ---------------------------------
my $idol = $peer->actor('idol');
my $idol_id;
for my $name (qw(alice carol)) {
    # a follow of idol the peer accepted
    my $res = $one->api(GET => '/api/v2/search', token => $user{$name}{token},
        query => { q => $idol->{id}, resolve => 'true', type => 'accounts' });
    ($idol_id) = map { $_->{id} } grep { $_->{acct} eq 'idol@peer.test' } @{ ($res->json // {})->{accounts} // [] };
    $idol_id //= $bed->wait_until(sub { $one->psql("SELECT id FROM accounts WHERE uri = '$idol->{id}'") }, $DEADLINE);
    $one->api(POST => "/api/v1/accounts/$idol_id/follow", token => $user{$name}{token});
    my $follow;
    $bed->wait_until(sub {
        ($follow) = grep { ($_->{json}{type} // '') eq 'Follow' && $_->{json}{actor} eq $user{$name}{uri} }
            $peer->received(method => 'POST');
    }, $DEADLINE);
    post_as('idol', $peer->activity(type => 'Accept', actor => 'idol', object => $follow->{json}{id}));
}
ok($bed->wait_until(sub {
    $one->psql("SELECT count(*) FROM follows WHERE target_account_id = $idol_id") == 2 }, $DEADLINE),
    'alice and carol follow idol@peer.test');

sub sync_job {
    my (%a) = @_;
    my $before = () = $one->worker_log =~ /job followers_synchronization jid=\S+ done/g;
    my ($rc, undef, $err) = $one->worker_cli('enqueue', 'push', 'followers_synchronization',
        Mojo::JSON::encode_json({ account_id => "$idol_id", collection_id => $idol->{followers},
            url => $peer->url('/users/idol/followers_synchronization'), %a }));
    diag $err if $rc;
    return $bed->wait_until(sub {
        (() = $one->worker_log =~ /job followers_synchronization jid=\S+ done/g) > $before }, $DEADLINE);
}
$peer->serve('/users/idol/followers_synchronization', { '@context' => 'https://www.w3.org/ns/activitystreams',
    id => $peer->url('/users/idol/followers_synchronization'), type => 'OrderedCollection',
    orderedItems => [$user{alice}{uri}, $peer->url('/users/someone')] });
$peer->clear_received;

ok(sync_job(digest => xor_digest($user{alice}{uri}, $user{carol}{uri})), 'a synchronization whose digest matches ours');
is(scalar($peer->received(method => 'GET', path => '/users/idol/followers_synchronization')), 0,
    '... reads nothing');
ok(sync_job(digest => xor_digest($user{alice}{uri}), collection_id => $peer->url('/users/idol/following')),
    'a synchronization naming another collection');
is(scalar($peer->received(method => 'GET', path => '/users/idol/followers_synchronization')), 0,
    '... reads nothing either');
is($one->psql("SELECT count(*) FROM follows WHERE target_account_id = $idol_id"), 2, '... and changes nothing');

ok(sync_job(digest => xor_digest($user{alice}{uri})), 'a synchronization whose digest differs');
my @got = $peer->received(method => 'GET', path => '/users/idol/followers_synchronization');
ok(@got && $got[0]{signature}{ok} // FakePeer->header($got[0], 'Signature'), '... reads the partial collection, signed');
is($one->psql("SELECT string_agg(a.username, ',') FROM follows f JOIN accounts a ON a.id = f.account_id"
    . " WHERE f.target_account_id = $idol_id"), 'alice', "carol's follow, which idol does not list, is undone");
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Undo' && $_->{json}{actor} eq $user{carol}{uri} } $peer->received(method => 'POST');
}, $DEADLINE), '... and idol is sent the Undo');
is($one->psql("SELECT followers_count FROM account_stats WHERE account_id = $idol_id"), 1, "idol's count follows");

# --- the inbox enqueues that job for a delivery carrying the header -----------------------
sub sync_gets { scalar($peer->received(method => 'GET', path => '/users/idol/followers_synchronization')) }
sub post_with_sync {
    my ($header) = @_;
    my $note = $peer->activity(type => 'Create', actor => 'idol', to => [$idol->{followers}],
        object => { type => 'Note', id => $peer->url('/users/idol/statuses/' . int(rand(1e9))),
            attributedTo => $idol->{id}, to => [$idol->{followers}], content => '<p>for followers</p>',
            published => '2026-12-05T00:00:00Z' });
    my $code;
    $bed->wait_until(sub { ($code = $peer->post('https://one.test/inbox', $note, actor => 'idol',
        extra_headers => { 'Collection-Synchronization' => $header })->code) != 503 }, $DEADLINE);
    return $code;
}
my $gets = sync_gets();
my $header = sprintf('collectionId="%s", url="%s", digest="%s"', $idol->{followers},
    $peer->url('/users/idol/followers_synchronization'), xor_digest($user{carol}{uri}));
is(post_with_sync($header), 202, 'a delivery with Collection-Synchronization is accepted');
ok($bed->wait_until(sub { sync_gets() > $gets }, $DEADLINE),
    '... and its digest, differing from ours, makes the worker read the partial collection');
is($one->psql("SELECT string_agg(a.username, ',') FROM follows f JOIN accounts a ON a.id = f.account_id"
    . " WHERE f.target_account_id = $idol_id"), 'alice', '... which lists alice, who stays');
sub sync_starts { scalar(() = $one->worker_log =~ /job followers_synchronization jid=\S+ queue=push attempt=0 start/g) }
my $starts = sync_starts();
is(post_with_sync('collectionId="' . $idol->{followers} . '", url='), 202,
    'an unparsable header: the delivery is accepted all the same');
is(post_with_sync(sprintf('collectionId="%s", digest="ab"', $idol->{followers})), 202,
    'a header without its url: accepted');
# a good one after them: the push queue is in order, so any job of theirs starts before its own
$gets = sync_gets();
is(post_with_sync($header), 202, 'then a good one');
ok($bed->wait_until(sub { sync_gets() > $gets }, $DEADLINE), '... read');
is(sync_starts(), $starts + 1, 'only the good header made a synchronization job');

$bed->done;
