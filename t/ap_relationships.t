#!/usr/bin/perl
# What a local account's actions tell a remote account
# (activitypub_relationship): following a remote account through the API
# makes a follow request (relationship "requested") and sends Follow;
# unfollowing sends Undo; authorize and reject of a remote request send
# Accept and Reject of its Follow, removing a remote follower Reject;
# block/unblock, favourite/unfavourite of a remote status send Block,
# Undo Block, Like, Undo Like.  Each to the remote account's own inbox.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use InboxRecorder;
use Test::More;

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push',
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;

sub records { $rec->records }
sub next_activity {
    my ($type) = @_;
    my $r;
    $t->wait_for(sub { ($r) = grep { $_->{json}{type} eq $type } @{ records() }; $r }, 30);
    $rec->reset;
    return $r;
}

my $alice = $t->user('alice', password => 'correct horse battery');
my $m = $t->mojo;
my $auth = $t->bearer($alice->{token});
my $base = 'http://' . $t->domain;
my $me = "$base/users/alice";
my %remote;
$remote{$_} = $rec->account($_, "$_.example", "$in/shared") for qw(bob carol dave);

# --- follow a remote account: a request, and Follow -------------------------------------
# (Mastodon answers an unlocked account's follow optimistically: following)
$m->post_ok("/api/v1/accounts/$remote{bob}/follow", $auth)->status_is(200)
  ->json_is('/following', Mojo::JSON::true)->json_is('/requested', Mojo::JSON::false);
my $r = next_activity('Follow');
ok($r, 'Follow sent');
is($r->{where}, 'bob/inbox', 'to bob\'s own inbox');
my $req = $t->psql("SELECT id FROM follow_requests WHERE account_id = $alice->{account_id} AND target_account_id = $remote{bob}");
is($r->{json}{id}, "$me#follows/$req", 'its id names the request');
is($r->{json}{actor}, $me, 'actor alice');
is($r->{json}{object}, 'https://bob.example/users/bob', 'object bob');
is($t->psql("SELECT uri FROM follow_requests WHERE id = $req"), "$me#follows/$req",
   'the request keeps the Follow\'s id, for the Accept');
$m->get_ok("/api/v1/accounts/relationships?id[]=$remote{bob}", $auth)->status_is(200)
  ->json_is('/0/requested', Mojo::JSON::true)->json_is('/0/following', Mojo::JSON::false);

# --- withdraw it: Undo Follow --------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$remote{bob}/unfollow", $auth)->status_is(200)->json_is('/requested', Mojo::JSON::false);
$r = next_activity('Undo');
ok($r, 'Undo sent');
is($r->{where}, 'bob/inbox', 'to bob');
is($r->{json}{object}{type}, 'Follow', 'of the Follow');
is($r->{json}{object}{id}, "$me#follows/$req", 'the same Follow');

# --- an accepted follow (as the inbox makes it), then unfollow ----------------------------------
my $fid = $t->psql(qq{INSERT INTO follows (account_id, target_account_id, uri)
    VALUES ($alice->{account_id}, $remote{carol}, '$me#follows/77') RETURNING id});
$m->post_ok("/api/v1/accounts/$remote{carol}/unfollow", $auth)->status_is(200);
$r = next_activity('Undo');
is($r->{where}, 'carol/inbox', 'Undo of an accepted follow to carol');
is($r->{json}{object}{id}, "$me#follows/77", 'of its Follow');

# --- remote requests to a locked alice: authorize, reject; a remote follower removed -----------
$t->psql("UPDATE accounts SET locked = true WHERE id = $alice->{account_id}");
$t->psql(qq{INSERT INTO follow_requests (account_id, target_account_id, uri)
    VALUES ($remote{bob}, $alice->{account_id}, 'https://bob.example/follows/1')});
$m->post_ok("/api/v1/follow_requests/$remote{bob}/authorize", $auth)->status_is(200);
$r = next_activity('Accept');
is($r->{where}, 'bob/inbox', 'Accept to bob');
is($r->{json}{actor}, $me, 'from alice');
is($r->{json}{object}{id}, 'https://bob.example/follows/1', 'of bob\'s Follow');
is($r->{json}{object}{actor}, 'https://bob.example/users/bob', '... whose actor is bob');
$t->psql(qq{INSERT INTO follow_requests (account_id, target_account_id, uri)
    VALUES ($remote{dave}, $alice->{account_id}, 'https://dave.example/follows/9')});
$m->post_ok("/api/v1/follow_requests/$remote{dave}/reject", $auth)->status_is(200);
$r = next_activity('Reject');
is($r->{where}, 'dave/inbox', 'Reject to dave');
is($r->{json}{object}{id}, 'https://dave.example/follows/9', 'of dave\'s Follow');
$m->post_ok("/api/v1/accounts/$remote{bob}/remove_from_followers", $auth)->status_is(200);
$r = next_activity('Reject');
is($r->{where}, 'bob/inbox', 'removing a remote follower: Reject to bob');
is($r->{json}{object}{id}, 'https://bob.example/follows/1', 'of its Follow');

# --- block and unblock ----------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$remote{dave}/block", $auth)->status_is(200);
$r = next_activity('Block');
my $blk = $t->psql("SELECT id FROM blocks WHERE account_id = $alice->{account_id} AND target_account_id = $remote{dave}");
is($r->{where}, 'dave/inbox', 'Block to dave');
is($r->{json}{id}, "$me#blocks/$blk", 'its id');
is($r->{json}{object}, 'https://dave.example/users/dave', 'of dave');
$m->post_ok("/api/v1/accounts/$remote{dave}/unblock", $auth)->status_is(200);
$r = next_activity('Undo');
is($r->{where}, 'dave/inbox', 'Undo Block to dave');
is($r->{json}{object}{type}, 'Block', 'of the Block');
is($r->{json}{object}{id}, "$me#blocks/$blk", 'the same one');

# --- favourite and unfavourite a remote status ----------------------------------------------------
my $st = $t->psql(qq{INSERT INTO statuses (uri, url, text, account_id, local, visibility)
    VALUES ('https://carol.example/users/carol/statuses/5', 'https://carol.example/\@carol/5', '<p>x</p>',
            $remote{carol}, false, 0) RETURNING id});
$t->psql("INSERT INTO status_stats (status_id) VALUES ($st)");
$m->post_ok("/api/v1/statuses/$st/favourite", $auth)->status_is(200);
$r = next_activity('Like');
my $fav = $t->psql("SELECT id FROM favourites WHERE account_id = $alice->{account_id} AND status_id = $st");
is($r->{where}, 'carol/inbox', 'Like to carol');
is($r->{json}{object}, 'https://carol.example/users/carol/statuses/5', 'of her status');
is($r->{json}{id}, "$me#likes/$fav", 'its id');
$m->post_ok("/api/v1/statuses/$st/unfavourite", $auth)->status_is(200);
$r = next_activity('Undo');
is($r->{where}, 'carol/inbox', 'Undo Like to carol');
is($r->{json}{object}{type}, 'Like', 'of the Like');

# --- nothing federates between local accounts ---------------------------------------------------
my $zoe = $t->user('zoe', password => 'correct horse battery');
$m->post_ok("/api/v1/accounts/$zoe->{account_id}/follow", $auth)->status_is(200);
$m->post_ok("/api/v1/accounts/$zoe->{account_id}/block", $auth)->status_is(200);
sleep 2;
is(scalar @{ records() }, 0, 'following or blocking a local account sends nothing');
is(scalar(grep { $_->{type} eq 'activitypub_relationship' } $t->jobs('push')), 0, 'and makes no job');

$rec->stop;
$t->done;
