#!/usr/bin/perl
# An incoming Move (Mastodon's ActivityPub::Activity::Move, MoveWorker,
# UnfollowFollowWorker): the target's alsoKnownAs, fetched from its origin,
# must name the moving actor; then the old account points at the new one and
# each local follower follows the new account (a Follow sent: it is remote,
# so the follow is requested until its Accept) and stops following the old
# one (an Undo sent).  A follower who blocks the new account keeps the old
# follow.  A Move the target does not confirm changes nothing.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use Digest::SHA ();
use Mojo::JSON ();

my $bed = Federation->new(instances => ['one']);
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $DEADLINE = 30;
my %user = map { ($_ => $one->account($_)) } qw(alice carol dave);

my $oldie = $peer->actor('oldie');
my $newbie = $peer->actor('newbie', extra => { alsoKnownAs => [$oldie->{id}] });
my $victim = $peer->actor('victim');
my $liar = $peer->actor('liar2');

sub resolve {
    my ($uri) = @_;
    my ($rc, undef, $err) = $one->worker_cli('enqueue', 'default', 'resolve', Mojo::JSON::encode_json({ q => $uri }));
    diag $err if $rc;
    my $answer;
    $bed->wait_until(sub {
        my $v = $one->redis('GET', 'mastodon:resolve:' . Digest::SHA::sha256_hex($uri));
        $answer = eval { Mojo::JSON::decode_json($v) } if length($v // '');
        $answer;
    }, $DEADLINE);
    return ($answer // {})->{account_id};
}
sub rel {
    my ($name, $id) = @_;
    my $r = $one->api(GET => '/api/v1/accounts/relationships', token => $user{$name}{token}, query => { 'id[]' => $id });
    return (($r->json // [])->[0]) // {};
}
sub post_as {
    my ($actor, $activity) = @_;
    my $code;
    $bed->wait_until(sub { ($code = $peer->post('https://one.test/inbox', $activity, actor => $actor)->code) != 503 },
        $DEADLINE);
    return $code;
}
# follow($name, $remote, $id): the local user follows a peer actor, the peer accepts
sub follow {
    my ($name, $remote, $id) = @_;
    my $res = $one->api(POST => "/api/v1/accounts/$id/follow", token => $user{$name}{token});
    my $actor = $user{$name}{uri};
    my $follow;
    $bed->wait_until(sub {
        ($follow) = grep { ($_->{json}{type} // '') eq 'Follow' && $_->{json}{actor} eq $actor
            && $_->{json}{object} eq $remote->{id} } $peer->received(method => 'POST');
    }, $DEADLINE);
    return 0 unless $follow;
    post_as($remote->{name}, $peer->activity(type => 'Accept', actor => $remote->{name}, object => $follow->{json}{id}));
    return $bed->wait_until(sub { rel($name, $id)->{following} }, $DEADLINE);
}

my $old_id = resolve($oldie->{id});
my $new_id = resolve($newbie->{id});
my $victim_id = resolve($victim->{id});
ok($old_id && $new_id && $victim_id, 'the peer actors are known');
ok(follow($_, $oldie, $old_id), "$_ follows oldie\@peer.test") for qw(alice carol dave);
ok(follow('alice', $victim, $victim_id), 'alice follows victim@peer.test');
ok($one->api(POST => "/api/v1/accounts/$new_id/block", token => $user{dave}{token})->is_success,
    'dave blocks newbie@peer.test');
is($one->psql("SELECT followers_count FROM account_stats WHERE account_id = $old_id"), 3, 'oldie has 3 followers here');

# --- a Move the target does not confirm -------------------------------------------------
$peer->clear_received;
is(post_as('victim', $peer->activity(type => 'Move', actor => 'victim', object => $victim->{id},
    target => $liar->{id})), 202, "victim's Move to an account that does not name it is taken");
ok($bed->wait_until(sub { $one->worker_log =~ /Move \S+: \Q$liar->{id}\E does not name \Q$victim->{id}\E/ }, $DEADLINE),
    '... and refused by the worker');
ok(rel('alice', $victim_id)->{following}, '... alice still follows victim');
is($one->psql("SELECT coalesce(moved_to_account_id::text, '') FROM accounts WHERE id = $victim_id"), '',
    '... who has not moved');

# --- the Move -----------------------------------------------------------------------------
is(post_as('oldie', $peer->activity(type => 'Move', actor => 'oldie', object => $oldie->{id},
    target => $newbie->{id})), 202, "oldie's Move to newbie is taken");
ok($bed->wait_until(sub {
    $one->psql("SELECT coalesce(moved_to_account_id::text, '') FROM accounts WHERE id = $old_id") eq $new_id }, $DEADLINE),
    'oldie now points at newbie');
for my $name (qw(alice carol)) {
    ok($bed->wait_until(sub { my $r = rel($name, $new_id); $r->{requested} && !$r->{following} }, $DEADLINE),
        "$name asks to follow newbie (remote: requested until its Accept)");
    ok(!rel($name, $old_id)->{following}, "... and no longer follows oldie");
    my $actor = $user{$name}{uri};
    ok($bed->wait_until(sub {
        grep { ($_->{json}{type} // '') eq 'Follow' && $_->{json}{actor} eq $actor && $_->{json}{object} eq $newbie->{id} }
            $peer->received(method => 'POST');
    }, $DEADLINE), "... a Follow of newbie is sent for $name");
    ok($bed->wait_until(sub {
        grep { ($_->{json}{type} // '') eq 'Undo' && $_->{json}{actor} eq $actor
            && ref $_->{json}{object} && $_->{json}{object}{object} eq $oldie->{id} }
            $peer->received(method => 'POST');
    }, $DEADLINE), "... and the Undo of the Follow of oldie");
}
ok(rel('dave', $old_id)->{following}, 'dave, who blocks newbie, keeps following oldie');
ok(!rel('dave', $new_id)->{requested}, '... and asks nothing of newbie');
is($one->psql("SELECT followers_count FROM account_stats WHERE account_id = $old_id"), 1, 'oldie has 1 follower left here');
like($one->worker_log, qr/move_followers: 3 local follower\(s\) of $old_id moved to $new_id/, 'the move ran once over the 3 followers');

# newbie accepts alice: she follows the new account
my ($follow) = grep { ($_->{json}{type} // '') eq 'Follow' && $_->{json}{actor} eq $user{alice}{uri}
    && $_->{json}{object} eq $newbie->{id} } $peer->received(method => 'POST');
post_as('newbie', $peer->activity(type => 'Accept', actor => 'newbie', object => $follow->{json}{id}));
ok($bed->wait_until(sub { rel('alice', $new_id)->{following} }, $DEADLINE), 'newbie accepts: alice follows it');

$bed->done;
