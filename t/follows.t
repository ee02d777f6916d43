# Account lists and their Link pagination (followers, following,
# follow_requests, blocks, mutes, endorsements), hidden collections, and the
# follower/following counters under concurrent follows and unfollows.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use Mojo::Promise;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $viewer = $t->user('viewer');
my $ha = $t->bearer($alice->{token});
my $hv = $t->bearer($viewer->{token});
my $aid = $alice->{account_id};

sub counters_ok {
    my ($what) = @_;
    is($t->psql(q{SELECT count(*) FROM accounts a LEFT JOIN account_stats s ON s.account_id = a.id
        WHERE coalesce(s.followers_count, 0) <> (SELECT count(*) FROM follows WHERE target_account_id = a.id)
           OR coalesce(s.following_count, 0) <> (SELECT count(*) FROM follows WHERE account_id = a.id)}),
        0, "$what: every counter matches count(*) of follows");
}

# --- 45 followers, walked 20 at a time -------------------------------------------------
my @followers;
for my $i (1 .. 45) {
    my $u = $t->user(sprintf('f%02d', $i));
    push @followers, $u;
    $m->post_ok("/api/v1/accounts/$aid/follow", $t->bearer($u->{token}))->status_is(200)
      ->json_is('/following', true);
}
is($t->psql("SELECT followers_count FROM account_stats WHERE account_id = $aid"), 45, '45 followers');

my @fid = split /\n/, $t->psql("SELECT id FROM follows WHERE target_account_id = $aid ORDER BY id DESC");
my @expect = reverse map { $_->{account_id} } @followers;        # newest follow first

my $tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=20");
is($tx->res->code, 200, 'first page');
is(scalar @{ $tx->res->json }, 20, '20 accounts');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/accounts/$aid/followers?limit=20&max_id=$fid[19]>; rel=\"next\", "
    . "<$base/api/v1/accounts/$aid/followers?limit=20&since_id=$fid[0]>; rel=\"prev\"",
    'Link header, as Mastodon writes it');
my @e = entity_errors($tx->res->json->[0], 'Account');
is_deeply(\@e, [], 'followers are Accounts') or diag explain \@e;

my (@seen, $pages);
my $url = "/api/v1/accounts/$aid/followers?limit=20";
while ($url) {
    $tx = $t->ua->get($url);
    is($tx->res->code, 200, "GET $url");
    push @seen, map { $_->{id} } @{ $tx->res->json };
    $pages++;
    my $next = $t->links($tx)->{next};
    $url = $next ? $t->path_of($next) : undef;
    last if $pages > 5;
}
is($pages, 3, 'three pages');
is_deeply(\@seen, \@expect, 'each follower exactly once, newest first');
is($t->links($tx)->{next}, undef, 'the last page has no next link');
like($t->links($tx)->{prev}, qr/since_id=$fid[40]$/, 'but a prev link');

# prev: newer follows
my $late = $t->user('late');
$m->post_ok("/api/v1/accounts/$aid/follow", $t->bearer($late->{token}))->status_is(200);
$tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=20&since_id=$fid[0]");
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$late->{account_id}], 'since_id: the newer follower');
$tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=20&max_id=$fid[0]&min_id=1");
is(scalar @{ $tx->res->json }, 20, 'min_id is not a parameter of this list');

# limits
$tx = $t->ua->get("/api/v1/accounts/$aid/followers");
is(scalar @{ $tx->res->json }, 40, 'default limit 40');
like($t->links($tx)->{next}, qr/max_id=/, 'a full page links to the next');
$tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=200");
is(scalar @{ $tx->res->json }, 46, 'limit=200: all 46');
is($t->links($tx)->{next}, undef);
$m->get_ok('/api/v1/accounts/999999999/followers')->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok('/api/v1/accounts/abc/following')->status_is(404);
$m->get_ok("/api/v1/accounts/$aid/followers", $t->bearer('nonsense'))->status_is(401);

# --- following -------------------------------------------------------------------------
for my $u (@followers[0 .. 4]) {
    $m->post_ok("/api/v1/accounts/$u->{account_id}/follow", $ha)->status_is(200);
}
my @gid = split /\n/, $t->psql("SELECT id FROM follows WHERE account_id = $aid ORDER BY id DESC");
$tx = $t->ua->get("/api/v1/accounts/$aid/following?limit=2");
is_deeply([map { $_->{id} } @{ $tx->res->json }],
    [$followers[4]{account_id}, $followers[3]{account_id}], 'following, newest first');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/accounts/$aid/following?limit=2&max_id=$gid[1]>; rel=\"next\", "
    . "<$base/api/v1/accounts/$aid/following?limit=2&since_id=$gid[0]>; rel=\"prev\"", 'following Link');
$tx = $t->ua->get($t->path_of($t->links($tx)->{next}));
is_deeply([map { $_->{id} } @{ $tx->res->json }],
    [$followers[2]{account_id}, $followers[1]{account_id}], 'second page');

# --- what others may see ------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$followers[0]{account_id}/mute", $hv)->status_is(200);
$tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=80" => $hv);
is(scalar @{ $tx->res->json }, 45, 'a muted follower is left out for the viewer');
ok(!grep({ $_->{id} eq $followers[0]{account_id} } @{ $tx->res->json }), 'the muted one');
$tx = $t->ua->get("/api/v1/accounts/$aid/followers?limit=80" => $ha);
is(scalar @{ $tx->res->json }, 46, 'but not for others');

$t->psql("UPDATE accounts SET hide_collections = true WHERE id = $aid");
$m->get_ok("/api/v1/accounts/$aid/followers")->status_is(200)->json_is('', [], 'hidden from the public');
ok(!$m->tx->res->headers->header('Link'), 'and no Link');
$m->get_ok("/api/v1/accounts/$aid/following", $hv)->status_is(200)->json_is('', [], 'hidden from others');
$m->get_ok("/api/v1/accounts/$aid/followers?limit=3", $ha)->status_is(200)->json_has('/2/id', 'shown to its owner');
$t->psql("UPDATE accounts SET hide_collections = false WHERE id = $aid");

$m->post_ok("/api/v1/accounts/$viewer->{account_id}/block", $ha)->status_is(200);
$m->get_ok("/api/v1/accounts/$aid/followers", $hv)->status_is(200)->json_is('', [], 'hidden from those it blocks');
$m->get_ok("/api/v1/accounts/$aid/followers?limit=1")->status_is(200)->json_has('/0/id');

# --- blocks and mutes lists ------------------------------------------------------------------
for my $u (@followers[10 .. 14]) {
    $m->post_ok("/api/v1/accounts/$u->{account_id}/block", $ha)->status_is(200);
}
my @bid = split /\n/, $t->psql("SELECT id FROM blocks WHERE account_id = $aid ORDER BY id DESC");
is(scalar @bid, 6, 'six blocks');
$tx = $t->ua->get('/api/v1/blocks?limit=4' => $ha);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [map { $_->{account_id} } reverse @followers[11 .. 14]],
    'blocks, newest first');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/blocks?limit=4&max_id=$bid[3]>; rel=\"next\", <$base/api/v1/blocks?limit=4&since_id=$bid[0]>; rel=\"prev\"",
    'blocks Link');
$tx = $t->ua->get($t->path_of($t->links($tx)->{next}) => $ha);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$followers[10]{account_id}, $viewer->{account_id}], 'the rest');
is($t->links($tx)->{next}, undef);
is($t->psql("SELECT followers_count FROM account_stats WHERE account_id = $aid"), 41, 'blocked followers are gone');

for my $u (@followers[20 .. 22]) {
    $m->post_ok("/api/v1/accounts/$u->{account_id}/mute", $ha, form => { duration => 86400 })->status_is(200);
}
my @mid = split /\n/, $t->psql("SELECT id FROM mutes WHERE account_id = $aid ORDER BY id DESC");
$tx = $t->ua->get('/api/v1/mutes?limit=2' => $ha);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$followers[22]{account_id}, $followers[21]{account_id}], 'mutes');
like($tx->res->json->[0]{mute_expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'mute_expires_at');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/mutes?limit=2&max_id=$mid[1]>; rel=\"next\", <$base/api/v1/mutes?limit=2&since_id=$mid[0]>; rel=\"prev\"",
    'mutes Link');

# --- follow requests ----------------------------------------------------------------------------
my $locked = $t->user('locked', locked => 1);
my $hl = $t->bearer($locked->{token});
for my $u (@followers[30 .. 34]) {
    $m->post_ok("/api/v1/accounts/$locked->{account_id}/follow", $t->bearer($u->{token}))->status_is(200)
      ->json_is('/requested', true)->json_is('/following', false);
}
my @rid = split /\n/, $t->psql("SELECT id FROM follow_requests WHERE target_account_id = $locked->{account_id} ORDER BY id DESC");
$tx = $t->ua->get('/api/v1/follow_requests?limit=2' => $hl);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$followers[34]{account_id}, $followers[33]{account_id}],
    'follow requests, newest first');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/follow_requests?limit=2&max_id=$rid[1]>; rel=\"next\", "
    . "<$base/api/v1/follow_requests?limit=2&since_id=$rid[0]>; rel=\"prev\"", 'follow_requests Link');
$m->get_ok('/api/v1/accounts/verify_credentials', $hl)->json_is('/source/follow_requests_count', 5);
$m->post_ok("/api/v1/follow_requests/$followers[34]{account_id}/authorize", $hl)->status_is(200)
  ->json_is('/followed_by', true);
$m->post_ok("/api/v1/follow_requests/$followers[33]{account_id}/reject", $hl)->status_is(200)
  ->json_is('/followed_by', false);
$m->get_ok('/api/v1/follow_requests', $hl)->status_is(200);
is(scalar @{ $m->tx->res->json }, 3, 'three left');
$m->get_ok("/api/v1/accounts/$locked->{account_id}/followers", $hl)->status_is(200)
  ->json_is('/0/id', $followers[34]{account_id})->json_hasnt('/1');

# --- endorsements -------------------------------------------------------------------------------
for my $u (@followers[0 .. 2]) {
    $m->post_ok("/api/v1/accounts/$u->{account_id}/endorse", $ha)->status_is(200)->json_is('/endorsed', true);
}
my @endorsed = sort { $b <=> $a } map { $_->{account_id} } @followers[0 .. 2];
$tx = $t->ua->get('/api/v1/endorsements?limit=2' => $ha);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [@endorsed[0, 1]], 'endorsements by account id');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/endorsements?limit=2&max_id=$endorsed[1]>; rel=\"next\", "
    . "<$base/api/v1/endorsements?limit=2&since_id=$endorsed[0]>; rel=\"prev\"", 'endorsements Link');
$tx = $t->ua->get('/api/v1/endorsements?limit=0' => $ha);
is(scalar @{ $tx->res->json }, 3, 'limit=0: all of them');
$tx = $t->ua->get("/api/v1/accounts/$aid/endorsements?limit=1");
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$endorsed[0]], "someone's endorsements, public");
like($t->links($tx)->{next}, qr{/api/v1/accounts/$aid/endorsements\?limit=1&max_id=$endorsed[0]$});

counters_ok('after the lists');

# --- counters under concurrency ---------------------------------------------------------------------
my $target = $t->user('target');
my @crowd = @followers[35 .. 44];
my %tok = map { $_->{account_id} => $_->{token} } (@followers, $alice, $target);

sub burst {
    my (@reqs) = @_;
    my @p = map {
        my ($who, $action, $whom) = @$_;
        $t->ua->post_p("/api/v1/accounts/$whom/$action" => $t->bearer($tok{$who}))
    } @reqs;
    my @codes;
    Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
    return @codes;
}

# 50 follows at once: every one of the crowd five times
my @codes = burst(map { my $u = $_; map { [$u->{account_id}, 'follow', $target->{account_id}] } 1 .. 5 } @crowd);
is(scalar(grep { $_ == 200 } @codes), 50, '50 concurrent follows answered') or diag "@codes";
is($t->psql("SELECT followers_count FROM account_stats WHERE account_id = $target->{account_id}"), 10,
    'ten followers, each counted once');
counters_ok('50 concurrent follows');

# follows, unfollows and follows back, all at once
my @reqs;
for my $u (@crowd) {
    push @reqs, [$u->{account_id}, 'unfollow', $target->{account_id}], [$u->{account_id}, 'follow', $target->{account_id}],
        [$u->{account_id}, 'unfollow', $target->{account_id}], [$target->{account_id}, 'follow', $u->{account_id}],
        [$u->{account_id}, 'follow', $aid];
}
@codes = burst(@reqs);
is(scalar(grep { $_ == 200 } @codes), 50, '50 concurrent mixed writes answered') or diag "@codes";
counters_ok('50 concurrent follows and unfollows');

# both directions at once, and blocks in the middle
@reqs = ();
for my $i (0 .. 8) {
    my ($x, $y) = ($crowd[$i]{account_id}, $crowd[$i + 1]{account_id});
    push @reqs, [$x, 'follow', $y], [$y, 'follow', $x], [$x, 'unfollow', $y], [$y, 'remove_from_followers', $x],
        [$x, 'follow', $y];
}
push @reqs, map { [$target->{account_id}, 'block', $_->{account_id}] } @crowd[0 .. 4];
@codes = burst(@reqs);
is(scalar(grep { $_ == 200 } @codes), 50, '50 concurrent crossed writes answered') or diag "@codes";
counters_ok('crossed follows and blocks');
is($t->psql("SELECT count(*) FROM follows f JOIN blocks b ON b.account_id = f.target_account_id"
    . " AND b.target_account_id = f.account_id"), 0, 'no follow survives a block');

# the cap: more than 80 followers
my $popular = $t->user('popular');
$t->psql("WITH a AS (INSERT INTO accounts (username) SELECT 'fan' || i FROM generate_series(1, 85) i RETURNING id)"
    . " INSERT INTO follows (account_id, target_account_id) SELECT id, $popular->{account_id} FROM a");
$tx = $t->ua->get("/api/v1/accounts/$popular->{account_id}/followers?limit=200");
is(scalar @{ $tx->res->json }, 80, 'limit above 80 is capped');

$t->done;
