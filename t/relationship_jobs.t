# The jobs the relationship endpoints leave for the worker (ARCHITECTURE.md,
# "Jobs of issue 4"): notify after a follow or follow request of a local
# account, feed_merge after a follow or an authorized request, feed_unmerge
# after an unfollow, remove_from_followers, block (both ways) and mute; only
# when the write really changed something.  The notifications of follows and
# requests that end go with them, and a block or a mute hiding notifications
# deletes the account's.  Jobs carry ids, and no Account is left in Redis
# for them (mastodon:payload:account:<id>: the streaming side renders the
# notification).  Redis down: the
# relationship is written, its jobs wait in the outbox until Redis is back.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol', locked => 1);
my $dave = $t->user('dave');
my ($ha, $hb, $hc) = map { $t->bearer($_->{token}) } $alice, $bob, $carol;
my ($aid, $bid, $cid, $did) = map { $_->{account_id} } $alice, $bob, $carol, $dave;
my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, protocol)
    VALUES ('rem', 'remote.example', 'https://remote.example/users/rem', 1) RETURNING id});

# the jobs queued since the last call, oldest first: [type, args]; the stream
# is emptied
sub jobs { return [map { [$_->{type}, $_->{args}] } $t->take_jobs] }

sub feed { return [$_[0], { account_id => "$_[1]", target_account_id => "$_[2]" }] }

sub payload_account {
    my $v = $t->redis('GET', "mastodon:payload:account:$_[0]");
    return !defined $v || $v eq '' ? undef : Mojo::JSON::decode_json($v);
}

sub notification {
    my ($account, $from, $atype, $aid_, $type) = @_;
    return $t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type)"
        . " VALUES ($account, $from, '$atype', $aid_, '$type') RETURNING id");
}

sub exists_notification {
    return $t->psql("SELECT count(*) FROM notifications WHERE id = $_[0]");
}

jobs();

# --- follow: notify + feed_merge, once --------------------------------------------------
$m->post_ok("/api/v1/accounts/$bid/follow", $ha)->status_is(200)->json_is('/following', true);
my $fid = $t->psql("SELECT id FROM follows WHERE account_id = $aid AND target_account_id = $bid");
my $j = jobs();
is(scalar @$j, 2, 'a follow queues two jobs') or diag explain $j;
is($j->[0][0], 'notify', 'notify first');
my $n = $j->[0][1];
is_deeply([sort keys %$n],
    [sort qw(type account_id from_account_id activity_type activity_id)], 'notify args: ids');
is($n->{type}, 'follow');
is($n->{account_id}, "$bid", 'to the followed account');
is($n->{from_account_id}, "$aid", 'from the follower');
is($n->{activity_type}, 'Follow');
is($n->{activity_id}, "$fid", 'the follow row');
is(payload_account($aid), undef, 'no Account left in Redis for it');
is_deeply($j->[1], feed('feed_merge', $aid, $bid), 'feed_merge into the follower\'s feed');

$m->post_ok("/api/v1/accounts/$bid/follow", $ha, json => { reblogs => false })->status_is(200)
  ->json_is('/showing_reblogs', false);
is_deeply(jobs(), [], 'changing the options queues nothing');

# --- a locked account: follow_request, authorize, reject ---------------------------------
$m->post_ok("/api/v1/accounts/$cid/follow", $ha)->status_is(200)->json_is('/requested', true);
my $rid = $t->psql("SELECT id FROM follow_requests WHERE account_id = $aid AND target_account_id = $cid");
$j = jobs();
is(scalar @$j, 1, 'a request queues one job') or diag explain $j;
is($j->[0][0], 'notify');
is($j->[0][1]{type}, 'follow_request');
is($j->[0][1]{activity_type}, 'FollowRequest');
is($j->[0][1]{activity_id}, "$rid", 'the request row');
is($j->[0][1]{account_id}, "$cid");
is($j->[0][1]{from_account_id}, "$aid");
is(payload_account($aid), undef, '... nor for a request');

$m->post_ok("/api/v1/accounts/$cid/follow", $ha, json => { notify => true })->status_is(200);
is_deeply(jobs(), [], 'asking again queues nothing');

my $nreq = notification($cid, $aid, 'FollowRequest', $rid, 'follow_request');
$m->post_ok("/api/v1/follow_requests/$aid/authorize", $hc)->status_is(200)->json_is('/followed_by', true);
is_deeply(jobs(), [feed('feed_merge', $aid, $cid)], 'authorized: the requester\'s feed gets the statuses');
is(exists_notification($nreq), 0, 'the follow_request notification is gone with the request');
$m->post_ok("/api/v1/follow_requests/$aid/authorize", $hc)->status_is(404);
is_deeply(jobs(), [], 'nothing to authorize: no job');

$m->post_ok("/api/v1/accounts/$cid/follow", $hb)->status_is(200)->json_is('/requested', true);
my $rid2 = $t->psql("SELECT id FROM follow_requests WHERE account_id = $bid AND target_account_id = $cid");
jobs();
$nreq = notification($cid, $bid, 'FollowRequest', $rid2, 'follow_request');
$m->post_ok("/api/v1/follow_requests/$bid/reject", $hc)->status_is(200);
is_deeply(jobs(), [], 'a rejection queues nothing');
is(exists_notification($nreq), 0, 'the rejected request\'s notification is gone');

# withdrawing a request (unfollow) takes its notification too
$m->post_ok("/api/v1/accounts/$cid/follow", $hb)->status_is(200)->json_is('/requested', true);
$rid2 = $t->psql("SELECT id FROM follow_requests WHERE account_id = $bid AND target_account_id = $cid");
jobs();
$nreq = notification($cid, $bid, 'FollowRequest', $rid2, 'follow_request');
$m->post_ok("/api/v1/accounts/$cid/unfollow", $hb)->status_is(200)->json_is('/requested', false);
is_deeply(jobs(), [], 'withdrawing a request: no feed to clear');
is(exists_notification($nreq), 0, 'the withdrawn request\'s notification is gone');

# --- a remote account: a request, nobody here to notify ----------------------------------
$m->post_ok("/api/v1/accounts/$remote/follow", $ha)->status_is(200);
is($t->psql("SELECT count(*) FROM follow_requests WHERE target_account_id = $remote"), 1);
is_deeply(jobs(), [], 'no local notification for a remote account');
$m->post_ok("/api/v1/accounts/$remote/unfollow", $ha)->status_is(200);
jobs();

# --- unfollow: feed_unmerge, and the follow notification goes ----------------------------
my $nfol = notification($bid, $aid, 'Follow', $fid, 'follow');
my $nother = notification($bid, $did, 'Follow', $fid + 1000000, 'follow');
$m->post_ok("/api/v1/accounts/$bid/unfollow", $ha)->status_is(200)->json_is('/following', false);
is_deeply(jobs(), [feed('feed_unmerge', $aid, $bid)], 'unfollow: the followed statuses leave the feed');
is(exists_notification($nfol), 0, 'the follow notification is gone with the follow');
is(exists_notification($nother), 1, 'others stay');
$m->post_ok("/api/v1/accounts/$bid/unfollow", $ha)->status_is(200);
is_deeply(jobs(), [], 'unfollowing again queues nothing');

# --- remove_from_followers: the user's statuses out of the follower's feed ---------------
$m->post_ok("/api/v1/accounts/$aid/follow", $hb)->status_is(200);
my $fid2 = $t->psql("SELECT id FROM follows WHERE account_id = $bid AND target_account_id = $aid");
jobs();
$nfol = notification($aid, $bid, 'Follow', $fid2, 'follow');
$m->post_ok("/api/v1/accounts/$bid/remove_from_followers", $ha)->status_is(200)->json_is('/followed_by', false);
is_deeply(jobs(), [feed('feed_unmerge', $bid, $aid)], 'remove_from_followers: feed_unmerge for the follower');
is(exists_notification($nfol), 0, 'and the follow notification is gone');
$m->post_ok("/api/v1/accounts/$bid/remove_from_followers", $ha)->status_is(200);
is_deeply(jobs(), [], 'again: nothing');

# --- block: both ways, notifications from the blocked account deleted ---------------------
$m->post_ok("/api/v1/accounts/$bid/follow", $ha)->status_is(200);
$m->post_ok("/api/v1/accounts/$aid/follow", $hb)->status_is(200);
jobs();
my $nfav = notification($aid, $bid, 'Favourite', 123, 'favourite');
my $nmen = notification($aid, $bid, 'Mention', 456, 'mention');
my $nkeep = notification($aid, $did, 'Mention', 789, 'mention');
$m->post_ok("/api/v1/accounts/$bid/block", $ha)->status_is(200)->json_is('/blocking', true);
is_deeply(jobs(), [feed('feed_unmerge', $aid, $bid), feed('feed_unmerge', $bid, $aid)],
    'block: feed_unmerge both ways');
is($t->psql("SELECT count(*) FROM notifications WHERE account_id = $aid AND from_account_id = $bid"), 0,
    'AfterBlockService: the blocked account\'s notifications are gone');
is(exists_notification($nkeep), 1, 'others stay');
$m->post_ok("/api/v1/accounts/$bid/block", $ha)->status_is(200);
is_deeply(jobs(), [], 'blocking again queues nothing');
$m->post_ok("/api/v1/accounts/$bid/unblock", $ha)->status_is(200);
is_deeply(jobs(), [], 'unblock queues nothing');

# a block of an account that does not follow back: one way
$m->post_ok("/api/v1/accounts/$did/block", $ha)->status_is(200);
is_deeply(jobs(), [feed('feed_unmerge', $aid, $did)], 'block without a follow back: one feed_unmerge');
$m->post_ok("/api/v1/accounts/$did/unblock", $ha)->status_is(200);
jobs();

# --- mute: feed_unmerge always; hiding notifications deletes them -------------------------
my $nd1 = notification($aid, $did, 'Favourite', 1001, 'favourite');
$m->post_ok("/api/v1/accounts/$did/mute", $ha, json => { notifications => false })->status_is(200)
  ->json_is('/muting', true)->json_is('/muting_notifications', false);
is_deeply(jobs(), [feed('feed_unmerge', $aid, $did)], 'mute: feed_unmerge');
is(exists_notification($nd1), 1, 'notifications kept when not hidden');
$m->post_ok("/api/v1/accounts/$did/mute", $ha)->status_is(200)->json_is('/muting_notifications', true);
is_deeply(jobs(), [feed('feed_unmerge', $aid, $did)], 'muting again (notifications too): feed_unmerge');
is(exists_notification($nd1), 0, 'hidden notifications are deleted (BlockWorker)');
is(exists_notification($nkeep), 0, 'all of them');
$m->post_ok("/api/v1/accounts/$did/unmute", $ha)->status_is(200);
is_deeply(jobs(), [], 'unmute queues nothing');
$m->post_ok("/api/v1/accounts/$aid/mute", $ha)->status_is(200);
is_deeply(jobs(), [], 'muting oneself does nothing');

# --- unlocking: the pending requests become follows, with their feed_merge ----------------
my $erin = $t->user('erin', locked => 1);
my $he = $t->bearer($erin->{token});
my $eid = $erin->{account_id};
$m->post_ok("/api/v1/accounts/$eid/follow", $hb)->status_is(200)->json_is('/requested', true);
$m->post_ok("/api/v1/accounts/$eid/follow", $ha)->status_is(200)->json_is('/requested', true);
jobs();
$m->patch_ok('/api/v1/accounts/update_credentials', $he, form => { locked => 'false' })->status_is(200)
  ->json_is('/locked', false);
is($t->psql("SELECT count(*) FROM follows WHERE target_account_id = $eid"), 2, 'unlocked: the requests are follows');
is_deeply([sort { $a->[1]{account_id} <=> $b->[1]{account_id} } @{ jobs() }],
    [sort { $a->[1]{account_id} <=> $b->[1]{account_id} } feed('feed_merge', $bid, $eid), feed('feed_merge', $aid, $eid)],
    'each requester\'s feed gets the statuses (feed_merge)');
$m->post_ok("/api/v1/accounts/$eid/unfollow", $hb)->status_is(200);
$m->post_ok("/api/v1/accounts/$eid/unfollow", $ha)->status_is(200);
jobs();

# --- refused writes queue nothing ---------------------------------------------------------
$m->post_ok("/api/v1/accounts/$aid/follow", $ha)->status_is(403);
$m->post_ok('/api/v1/accounts/999999999/block', $ha)->status_is(404);
is_deeply(jobs(), [], 'refusals queue nothing');

# --- Redis down: the write stands, its jobs wait in the outbox -----------------------------
$t->stop_redis;
$m->post_ok("/api/v1/accounts/$did/follow", $ha)->status_is(200)->json_is('/following', true);
is($t->psql("SELECT count(*) FROM follows WHERE account_id = $aid AND target_account_id = $did"), 1,
    'followed although Redis is down');
is($t->psql("SELECT string_agg(type, ' ' ORDER BY id) FROM job_outbox"), 'notify feed_merge',
    'its jobs wait in the outbox');
$t->start_redis;
$j = jobs();
is_deeply([map { $_->[0] } @$j], ['notify', 'feed_merge'], 'Redis back: they reach their queue');
is_deeply($j->[1], feed('feed_merge', $aid, $did), 'the follow\'s feed_merge');
is($t->psql('SELECT count(*) FROM job_outbox'), 0, 'the outbox is empty');
# back once the module reconnected (after its backoff): the unfollow's job is queued
ok($t->wait_for(sub {
    $t->ua->post("/api/v1/accounts/$did/follow" => $ha);
    jobs();
    my $tx = $t->ua->post("/api/v1/accounts/$did/unfollow" => $ha);
    return $tx->res->code == 200 && @{ jobs() } == 1 ? 1 : 0;
}, 10), 'Redis back: requests go on');
$m->post_ok("/api/v1/accounts/$did/follow", $ha)->status_is(200);
is(scalar @{ jobs() }, 2, 'and jobs are queued again');

$t->done;
