# Status interactions: favourite, reblog, bookmark, pin, mute and their undo
# (POST /api/v1/statuses/:id/...), favourited_by, reblogged_by, and the
# viewer's GET /api/v1/favourites and /api/v1/bookmarks: answers, viewer
# flags, counters (also under concurrency), visibility (404), Mastodon's
# refusals, Link pagination, scopes, and the jobs queued for the worker.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use Mojo::Promise;
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $public = $t->public_base;

my $alice = $t->user('alice');
my $bob   = $t->user('bob');
my $carol = $t->user('carol');
my $dave  = $t->user('dave');
my $eve   = $t->user('eve');
my ($ha, $hb, $hc, $hd, $he) = map { $t->bearer($_->{token}) } $alice, $bob, $carol, $dave, $eve;

# the jobs queued since the last call but status_forget (the cache's, whose
# ids land in @forgotten); the renderings a job publishes (mastodon:payload:)
my @forgotten;
sub take_jobs {
    my @all = $t->take_jobs;
    my %ids = map { $_ => 1 } map { @{ $_->{args}{status_ids} } } grep { $_->{type} eq 'status_forget' } @all;
    @forgotten = sort keys %ids;
    return grep { $_->{type} ne 'status_forget' } @all;
}
sub payload {
    my $v = $t->redis('GET', "mastodon:payload:$_[0]:$_[1]");
    return $v eq '' ? undef : Mojo::JSON::decode_json($v);
}

# bob follows alice (her private statuses are his to see)
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob->{account_id}, $alice->{account_id})");

my %VIS = (public => 0, unlisted => 1, private => 2, direct => 3);

# a status inserted as the posting code would (its conversation, uri, stats)
sub status {
    my ($u, %o) = @_;
    my $vis = $VIS{ $o{visibility} // 'public' };
    my $text = $o{text} // "a status by $u->{username}";
    my $conv = $o{no_conversation} ? 'NULL' : $t->psql('INSERT INTO conversations DEFAULT VALUES RETURNING id');
    my $id = $t->psql("INSERT INTO statuses (account_id, text, visibility, local, conversation_id)"
        . " VALUES ($u->{account_id}, '$text', $vis, true, $conv) RETURNING id");
    $t->psql("UPDATE statuses SET uri = '$public/users/$u->{username}/statuses/$id' WHERE id = $id");
    $t->psql("INSERT INTO status_stats (status_id) VALUES ($id)");
    for my $mentioned (@{ $o{mentions} // [] }) {
        $t->psql("INSERT INTO mentions (status_id, account_id) VALUES ($id, $mentioned->{account_id})");
    }
    return $id;
}

sub stat_of {
    my ($id, $col) = @_;
    return $t->psql("SELECT coalesce((SELECT $col FROM status_stats WHERE status_id = $id), -1)");
}

sub statuses_count {
    my ($u) = @_;
    return $t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $u->{account_id}");
}

sub status_ok {
    my ($json, $what) = @_;
    my @e = status_errors($json);
    is_deeply(\@e, [], "$what: a Status") or diag explain \@e;
}

# GET /api/v1/statuses/:id as the viewer sees it
my $pub = status($alice, text => 'public one');

sub flags_are {
    my ($h, $id, %want) = @_;
    my $tx = $t->ua->get("/api/v1/statuses/$id" => $h);
    is($tx->res->code, 200, "GET /api/v1/statuses/$id");
    my $json = $tx->res->json;
    for my $k (sort keys %want) {
        is($json->{$k}, $want{$k}, "GET /api/v1/statuses/$id: $k " . ($want{$k} // 'null'));
    }
}


take_jobs();

my $unl  = status($alice, visibility => 'unlisted');
my $priv = status($alice, visibility => 'private');
my $dm   = status($alice, visibility => 'direct', mentions => [$bob]);
my $bpub = status($bob, text => 'bob speaks');

# --- favourite ---------------------------------------------------------------------------
$m->post_ok("/api/v1/statuses/$pub/favourite" => $hb)->status_is(200)
  ->json_is('/id', $pub)->json_is('/favourited', true)->json_is('/favourites_count', 1)
  ->json_is('/reblogged', false)->json_is('/bookmarked', false)->json_is('/muted', false);
status_ok($m->tx->res->json, 'favourite');
ok(!exists $m->tx->res->json->{pinned}, 'no pinned flag on somebody else\'s status');
is(stat_of($pub, 'favourites_count'), 1, 'favourites_count 1');
my $fav_id = $t->psql("SELECT id FROM favourites WHERE account_id = $bob->{account_id} AND status_id = $pub");
ok($fav_id, 'the favourite row');
flags_are($hb, $pub, favourited => true, favourites_count => 1);

my @jobs = take_jobs();
is(scalar @jobs, 1, 'one job queued');
is($jobs[0]{type}, 'notify', 'a notify job');
is($jobs[0]{attempt}, 0, 'attempt 0');
like($jobs[0]{jid}, qr/^[0-9a-f]{16}$/, 'a jid');
is($jobs[0]{args}{type}, 'favourite', 'notify: favourite');
is($jobs[0]{args}{account_id}, $alice->{account_id}, 'notify: the author');
is($jobs[0]{args}{from_account_id}, $bob->{account_id}, 'notify: from the viewer');
is($jobs[0]{args}{activity_type}, 'Favourite', 'notify: activity_type');
is($jobs[0]{args}{activity_id}, $fav_id, 'notify: activity_id, the favourite');
is_deeply([sort keys %{ $jobs[0]{args} }], [sort qw(type account_id from_account_id activity_type activity_id)],
    'notify: ids only');
is_deeply(\@forgotten, [$pub], 'the cached rendering is forgotten (status_forget)');
# notification events carry ids: no Account is left for them
is($t->redis('GET', "mastodon:payload:account:$bob->{account_id}"), '',
   'notify leaves no Account in Redis');
my $st = payload(status => $pub);
is($st->{id}, $pub, 'notify: the status');
is($st->{favourites_count}, 1, 'notify: its count');
ok(!exists $st->{favourited}, 'notify: no viewer flags in the status');
is_deeply([status_errors($st)], [], 'notify: status is a Status');

# again: nothing changes, nobody is notified twice
$m->post_ok("/api/v1/statuses/$pub/favourite" => $hb)->status_is(200)
  ->json_is('/favourited', true)->json_is('/favourites_count', 1);
is(scalar(take_jobs()), 0, 'a repeated favourite queues nothing');

# one's own status: no notification
$m->post_ok("/api/v1/statuses/$pub/favourite" => $ha)->status_is(200)
  ->json_is('/favourited', true)->json_is('/favourites_count', 2);
is(scalar(take_jobs()), 0, 'favouriting one\'s own status notifies nobody');

# unfavourite, twice
$m->post_ok("/api/v1/statuses/$pub/unfavourite" => $ha)->status_is(200)
  ->json_is('/favourited', false)->json_is('/favourites_count', 1);
status_ok($m->tx->res->json, 'unfavourite');
$m->post_ok("/api/v1/statuses/$pub/unfavourite" => $ha)->status_is(200)
  ->json_is('/favourited', false)->json_is('/favourites_count', 1);
is(stat_of($pub, 'favourites_count'), 1, 'the counter counted the undo once');
is(scalar(take_jobs()), 0, 'unfavourite queues nothing');
is_deeply(\@forgotten, [$pub], 'but forgets the cached rendering');
flags_are($ha, $pub, favourited => false, favourites_count => 1);

# the notification of a favourite goes with it
$t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type)"
    . " VALUES ($alice->{account_id}, $bob->{account_id}, 'Favourite', $fav_id, 'favourite')");
$m->post_ok("/api/v1/statuses/$pub/unfavourite" => $hb)->status_is(200)
  ->json_is('/favourited', false)->json_is('/favourites_count', 0);
is($t->psql("SELECT count(*) FROM notifications WHERE activity_type = 'Favourite' AND activity_id = $fav_id"), 0,
    'its notification is gone');
is(stat_of($pub, 'favourites_count'), 0, 'favourites_count back to 0');

# visibility: private of someone not followed, direct without a mention, gone, nonsense
for my $case ([$priv, $hc, 'private, not following'], [$dm, $hc, 'direct, not mentioned'],
    [$priv, $he, 'private, not following (eve)'], ['999999999', $hb, 'no such status'],
    ['abc', $hb, 'not an id'])
{
    my ($id, $h, $what) = @$case;
    for my $action (qw(favourite unfavourite reblog unreblog bookmark unbookmark pin unpin mute unmute)) {
        $m->post_ok("/api/v1/statuses/$id/$action" => $h)->status_is(404, "$action: $what")
          ->json_is('/error', 'Record not found');
    }
}
is($t->psql("SELECT count(*) FROM favourites WHERE status_id IN ($priv, $dm)"), 0, 'nothing favourited');
is($t->psql("SELECT count(*) FROM bookmarks WHERE status_id IN ($priv, $dm)"), 0, 'nothing bookmarked');
is($t->psql("SELECT count(*) FROM statuses WHERE reblog_of_id IN ($priv, $dm)"), 0, 'nothing reblogged');

# the follower sees the private one, the mentioned one the direct one
$m->post_ok("/api/v1/statuses/$priv/favourite" => $hb)->status_is(200)->json_is('/favourited', true);
$m->post_ok("/api/v1/statuses/$dm/favourite" => $hb)->status_is(200)->json_is('/favourited', true)
  ->json_is('/visibility', 'direct');
is(scalar(take_jobs()), 2, 'two notify jobs');

# a deleted status is not found
my $gone = status($alice);
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $gone");
$m->post_ok("/api/v1/statuses/$gone/favourite" => $hb)->status_is(404);

# blocking the author: visible, but not to be favourited (403); blocked by the author: 404
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($dave->{account_id}, $alice->{account_id})");
$m->post_ok("/api/v1/statuses/$pub/favourite" => $hd)->status_is(403)
  ->json_is('/error', 'This action is not allowed');
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hd)->status_is(403)
  ->json_is('/error', 'This action is not allowed');
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($alice->{account_id}, $eve->{account_id})");
$m->post_ok("/api/v1/statuses/$pub/favourite" => $he)->status_is(404);
$t->psql("DELETE FROM blocks");
is(scalar(take_jobs()), 0, 'refusals queue nothing');

# --- 20 concurrent favourites by different users, and repeats by one -------------------------------
my $hot = status($alice, text => 'hot');
my @crowd = map { $t->user("fan$_") } 1 .. 20;
my @p = map { $t->ua->post_p("/api/v1/statuses/$hot/favourite" => $t->bearer($_->{token})) } @crowd;
my @codes;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is(scalar(grep { $_ == 200 } @codes), 20, '20 concurrent favourites answered') or diag "@codes";
is(stat_of($hot, 'favourites_count'), 20, 'favourites_count 20');
is($t->psql("SELECT count(*) FROM favourites WHERE status_id = $hot"), 20, '20 favourites');
my @notify = take_jobs();
is(scalar @notify, 20, '20 notify jobs');
is(scalar(keys %{ { map { $_->{args}{activity_id} => 1 } @notify } }), 20, 'one per favourite');

@p = map { $t->ua->post_p("/api/v1/statuses/$hot/favourite" => $hc) } 1 .. 10;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is(scalar(grep { $_ == 200 } @codes), 10, '10 concurrent favourites by one user answered') or diag "@codes";
is(stat_of($hot, 'favourites_count'), 21, 'counted once');
is(scalar(take_jobs()), 1, 'notified once');

@p = map { $t->ua->post_p("/api/v1/statuses/$hot/" . ($_ % 2 ? 'unfavourite' : 'favourite') => $t->bearer($crowd[$_]{token})) }
    0 .. 19;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is(scalar(grep { $_ == 200 } @codes), 20, 'concurrent unfavourites answered') or diag "@codes";
is(stat_of($hot, 'favourites_count'), 11, 'favourites_count 11 after ten unfavourites');
is($t->psql("SELECT count(*) FROM favourites WHERE status_id = $hot"), 11, 'as many rows');
take_jobs();

# --- reblog --------------------------------------------------------------------------------------
my $bob_count = statuses_count($bob);
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hb)->status_is(200)
  ->json_is('/reblog/id', $pub)->json_is('/reblog/reblogged', true)->json_is('/reblog/reblogs_count', 1)
  ->json_is('/account/id', $bob->{account_id})->json_is('/visibility', 'public')
  ->json_is('/content', '')->json_is('/reblogs_count', 0);
status_ok($m->tx->res->json, 'reblog');
status_ok($m->tx->res->json->{reblog}, 'the reblogged status');
my $rb = $m->tx->res->json->{id};
isnt($rb, $pub, 'a new status');
is($m->tx->res->json->{uri}, "$public/users/bob/statuses/$rb/activity", 'uri: the Announce activity');
is($t->psql("SELECT concat_ws('|', text, reblog_of_id, visibility, local, uri, url IS NULL,"
    . " conversation_id IS NOT NULL, reply, sensitive, deleted_at IS NULL) FROM statuses WHERE id = $rb"),
    "|$pub|0|t|$public/users/bob/statuses/$rb/activity|t|t|f|f|t", 'the reblog row as Mastodon writes it');
is(stat_of($pub, 'reblogs_count'), 1, 'reblogs_count 1');
is(stat_of($rb, 'reblogs_count'), 0, 'the reblog has its status_stats row');
is(statuses_count($bob), $bob_count + 1, "the reblogger's statuses_count");
ok($t->psql("SELECT last_status_at IS NOT NULL FROM account_stats WHERE account_id = $bob->{account_id}") eq 't',
    'last_status_at set');
flags_are($hb, $pub, reblogged => true, reblogs_count => 1);

@jobs = take_jobs();
is(scalar @jobs, 1, 'one job');
is($jobs[0]{type}, 'distribute', 'distribute');
is($jobs[0]{args}{status_id}, $rb, 'distribute: the reblog');
is_deeply([keys %{ $jobs[0]{args} }], ['status_id'], 'distribute: ids only');
is_deeply(\@forgotten, [$pub], 'the original\'s cached rendering is forgotten');
$st = payload(status => $rb);
is($st->{id}, $rb, 'distribute: its payload');
is($st->{reblog}{id}, $pub, 'distribute: the payload wraps the original');
ok(!exists $st->{reblogged}, 'distribute: no viewer flags');

# twice: the same reblog
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hb)->status_is(200)->json_is('/id', $rb)
  ->json_is('/reblog/reblogs_count', 1);
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hb, form => { visibility => 'bogus' })->status_is(200)
  ->json_is('/id', $rb, 'an existing reblog is the answer whatever the visibility');
is(stat_of($pub, 'reblogs_count'), 1, 'still one');
is(scalar(take_jobs()), 0, 'nothing queued for a repeat');

# five at once by one user: one reblog
my $once = status($alice);
@p = map { $t->ua->post_p("/api/v1/statuses/$once/reblog" => $hc) } 1 .. 5;
my @ids;
Mojo::Promise->all(@p)->then(sub { @ids = map { $_->[0]->res->json->{id} } @_ })->wait;
is(scalar(keys %{ { map { $_ => 1 } @ids } }), 1, 'five concurrent reblogs, one reblog') or diag "@ids";
is($t->psql("SELECT count(*) FROM statuses WHERE reblog_of_id = $once AND deleted_at IS NULL"), 1, 'one row');
is(stat_of($once, 'reblogs_count'), 1, 'counted once');
is(scalar(take_jobs()), 1, 'distributed once');

# visibility: given, blank, the user's default, refused
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hc, json => { visibility => 'unlisted' })->status_is(200)
  ->json_is('/visibility', 'unlisted');
$m->post_ok("/api/v1/statuses/$unl/reblog" => $hc, form => { visibility => '' })->status_is(200)
  ->json_is('/visibility', 'unlisted', 'blank: the original\'s');
$t->psql(qq{UPDATE users SET settings = '{"default_privacy":"private"}' WHERE id = $dave->{user_id}});
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hd)->status_is(200)->json_is('/visibility', 'private',
    'the default privacy');
$m->post_ok("/api/v1/statuses/$unl/reblog" => $he, form => { visibility => 'direct' })->status_is(422)
  ->json_is('/error', 'Validation failed: Visibility is reserved');
$m->post_ok("/api/v1/statuses/$unl/reblog" => $he, form => { visibility => 'nonsense' })->status_is(422)
  ->json_is('/error', 'Validation failed: Visibility is not included in the list');
is($t->psql("SELECT count(*) FROM statuses WHERE account_id = $eve->{account_id}"), 0, 'nothing written');
take_jobs();

# StatusPolicy#reblog?: private only by its author (keeping it private), direct never
$m->post_ok("/api/v1/statuses/$priv/reblog" => $hb)->status_is(403)->json_is('/error', 'This action is not allowed');
$m->post_ok("/api/v1/statuses/$dm/reblog" => $hb)->status_is(403)->json_is('/error', 'This action is not allowed');
$m->post_ok("/api/v1/statuses/$priv/reblog" => $ha, form => { visibility => 'public' })->status_is(200)
  ->json_is('/visibility', 'private', "the author's reblog of a private status stays private");
my $own_rb = $m->tx->res->json->{id};
my $adm = status($alice, visibility => 'direct', mentions => [$bob]);
$m->post_ok("/api/v1/statuses/$adm/reblog" => $ha)->status_is(403);
take_jobs();

# reblogging a reblog reblogs the original
$m->post_ok("/api/v1/statuses/$rb/reblog" => $he)->status_is(200)->json_is('/reblog/id', $pub);
my $erb = $m->tx->res->json->{id};
is(stat_of($pub, 'reblogs_count'), 4, 'reblogs_count 4 (bob, carol, dave, eve)');
take_jobs();

# favouriting and bookmarking a reblog go to the original
$m->post_ok("/api/v1/statuses/$rb/favourite" => $hc)->status_is(200)->json_is('/id', $rb)
  ->json_is('/reblog/favourited', true);
is($t->psql("SELECT status_id FROM favourites WHERE account_id = $carol->{account_id}"
    . " AND status_id IN ($rb, $pub)"), $pub, 'the favourite is the original\'s');
@jobs = take_jobs();
is($t->psql("SELECT status_id FROM favourites WHERE id = $jobs[0]{args}{activity_id}"), $pub,
    'notify: the favourite of the original status');
is(payload(status => $pub)->{favourites_count}, stat_of($pub, 'favourites_count'),
    'notify: the original status, as it is now');
$m->post_ok("/api/v1/statuses/$pub/unfavourite" => $hc)->status_is(200);

# reblogged_by: public and unlisted reblogs, newest first
$m->get_ok("/api/v1/statuses/$pub/reblogged_by")->status_is(200);
is_deeply([map { $_->{id} } @{ $m->tx->res->json }], [$eve->{account_id}, $carol->{account_id}, $bob->{account_id}],
    'reblogged_by (not the private reblog)');
is_deeply([entity_errors($m->tx->res->json->[0], 'Account')], [], 'an Account');
$m->get_ok("/api/v1/statuses/$pub/reblogged_by?limit=2" => $ha)->status_is(200);
my $rb_carol = $t->psql("SELECT id FROM statuses WHERE reblog_of_id = $pub AND account_id = $carol->{account_id}");
is($m->tx->res->headers->header('Link'),
    "<$public/api/v1/statuses/$pub/reblogged_by?limit=2&max_id=$rb_carol>; rel=\"next\", "
    . "<$public/api/v1/statuses/$pub/reblogged_by?limit=2&since_id=$erb>; rel=\"prev\"",
    'reblogged_by Link: the reblogs\' ids');

# unreblog: the original, reblogged false, the reblog discarded
$bob_count = statuses_count($bob);
$m->post_ok("/api/v1/statuses/$pub/unreblog" => $hb)->status_is(200)
  ->json_is('/id', $pub)->json_is('/reblogged', false)->json_is('/reblogs_count', 3)->json_is('/reblog', undef);
status_ok($m->tx->res->json, 'unreblog');
ok($t->psql("SELECT deleted_at IS NOT NULL FROM statuses WHERE id = $rb") eq 't', 'the reblog is discarded');
is(stat_of($pub, 'reblogs_count'), 3, 'reblogs_count 3');
is(statuses_count($bob), $bob_count - 1, "the reblogger's statuses_count");
@jobs = take_jobs();
is(scalar @jobs, 1, 'one job');
is($jobs[0]{type}, 'remove_status', 'remove_status');
is_deeply($jobs[0]{args}, { status_id => $rb, account_id => $bob->{account_id}, reblog_of_id => $pub },
    'remove_status args');
is_deeply(\@forgotten, [sort $pub, $rb], 'both cached renderings are forgotten');
flags_are($hb, $pub, reblogged => false, reblogs_count => 3);

$m->post_ok("/api/v1/statuses/$pub/unreblog" => $hb)->status_is(200)->json_is('/reblogged', false)
  ->json_is('/reblogs_count', 3);
is(scalar(take_jobs()), 0, 'a second unreblog queues nothing');
$m->post_ok("/api/v1/statuses/$rb/favourite" => $hb)->status_is(404, 'the discarded reblog is gone');

# and again: a new reblog
$m->post_ok("/api/v1/statuses/$pub/reblog" => $hb)->status_is(200);
isnt($m->tx->res->json->{id}, $rb, 'a new reblog after the undo');
is(stat_of($pub, 'reblogs_count'), 4, 'reblogs_count 4');
take_jobs();

# --- bookmark -------------------------------------------------------------------------------------
$m->post_ok("/api/v1/statuses/$pub/bookmark" => $hb)->status_is(200)->json_is('/bookmarked', true);
status_ok($m->tx->res->json, 'bookmark');
$m->post_ok("/api/v1/statuses/$pub/bookmark" => $hb)->status_is(200)->json_is('/bookmarked', true);
is($t->psql("SELECT count(*) FROM bookmarks WHERE account_id = $bob->{account_id}"), 1, 'one bookmark');
flags_are($hb, $pub, bookmarked => true);
$m->post_ok("/api/v1/statuses/$priv/bookmark" => $hb)->status_is(200)->json_is('/bookmarked', true);
$m->post_ok("/api/v1/statuses/$pub/unbookmark" => $hb)->status_is(200)->json_is('/bookmarked', false);
$m->post_ok("/api/v1/statuses/$pub/unbookmark" => $hb)->status_is(200)->json_is('/bookmarked', false);
flags_are($hb, $pub, bookmarked => false);
is(scalar(take_jobs()), 0, 'bookmarks queue nothing');

# a bookmark of what one may no longer see can still be undone
$t->psql("DELETE FROM follows WHERE account_id = $bob->{account_id}");
$m->post_ok("/api/v1/statuses/$priv/unbookmark" => $hb)->status_is(200)->json_is('/id', $priv)
  ->json_is('/bookmarked', false);
$m->post_ok("/api/v1/statuses/$priv/unbookmark" => $hb)->status_is(404);
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob->{account_id}, $alice->{account_id})");

# --- pin --------------------------------------------------------------------------------------------
$m->post_ok("/api/v1/statuses/$pub/pin" => $ha)->status_is(200)->json_is('/pinned', true);
status_ok($m->tx->res->json, 'pin');
flags_are($ha, $pub, pinned => true);
$m->post_ok("/api/v1/statuses/$pub/pin" => $ha)->status_is(422)->json_is('/error', 'Duplicate record');
$m->post_ok("/api/v1/statuses/$bpub/pin" => $ha)->status_is(422)
  ->json_is('/error', "Validation failed: Someone else's post cannot be pinned");
$m->post_ok("/api/v1/statuses/$adm/pin" => $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: Posts that are only visible to mentioned users cannot be pinned');
$m->post_ok("/api/v1/statuses/$own_rb/pin" => $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: A boost cannot be pinned');
$m->post_ok("/api/v1/statuses/$erb/pin" => $ha)->status_is(422)
  ->json_is('/error', "Validation failed: A boost cannot be pinned, Someone else's post cannot be pinned");
$m->post_ok("/api/v1/statuses/$dm/pin" => $hb)->status_is(422)
  ->json_is('/error', "Validation failed: Someone else's post cannot be pinned,"
    . ' Posts that are only visible to mentioned users cannot be pinned');
$m->post_ok("/api/v1/statuses/$priv/pin" => $ha)->status_is(200)->json_is('/pinned', true);
$m->post_ok("/api/v1/statuses/$unl/pin" => $ha)->status_is(200)->json_is('/pinned', true);
my @more = map { status($alice) } 1 .. 3;
$m->post_ok("/api/v1/statuses/$more[0]/pin" => $ha)->status_is(200);
$m->post_ok("/api/v1/statuses/$more[1]/pin" => $ha)->status_is(200);
$m->post_ok("/api/v1/statuses/$more[2]/pin" => $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: You have already pinned the maximum number of posts');
$m->post_ok("/api/v1/statuses/$pub/pin" => $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: You have already pinned the maximum number of posts',
    'at the limit the limit is the error, also for a pinned one');
is($t->psql("SELECT count(*) FROM status_pins WHERE account_id = $alice->{account_id}"), 5, 'five pins');
$m->post_ok("/api/v1/statuses/$more[1]/unpin" => $ha)->status_is(200)->json_is('/pinned', false);
status_ok($m->tx->res->json, 'unpin');
$m->post_ok("/api/v1/statuses/$more[1]/unpin" => $ha)->status_is(200)->json_is('/pinned', false);
flags_are($ha, $more[1], pinned => false);

# the last free place, taken by several at once: one wins
@p = map { $t->ua->post_p("/api/v1/statuses/$_/pin" => $ha) } @more;
Mojo::Promise->all(@p)->then(sub { @codes = sort map { $_->[0]->res->code } @_ })->wait;
is("@codes", '200 422 422', 'three pins at once for one place');
is($t->psql("SELECT count(*) FROM status_pins WHERE account_id = $alice->{account_id}"), 5, 'still five pins');
is(scalar(take_jobs()), 0, 'pins queue nothing');

# --- mute (the conversation) -----------------------------------------------------------------------
$m->post_ok("/api/v1/statuses/$pub/mute" => $hb)->status_is(200)->json_is('/muted', true);
status_ok($m->tx->res->json, 'mute');
my $conv = $t->psql("SELECT conversation_id FROM statuses WHERE id = $pub");
is($t->psql("SELECT count(*) FROM conversation_mutes WHERE account_id = $bob->{account_id}"
    . " AND conversation_id = $conv"), 1, 'the conversation is muted');
$m->post_ok("/api/v1/statuses/$pub/mute" => $hb)->status_is(200)->json_is('/muted', true);
flags_are($hb, $pub, muted => true);
$m->post_ok("/api/v1/statuses/$pub/unmute" => $hb)->status_is(200)->json_is('/muted', false);
$m->post_ok("/api/v1/statuses/$pub/unmute" => $hb)->status_is(200)->json_is('/muted', false);
flags_are($hb, $pub, muted => false);
is($t->psql("SELECT count(*) FROM conversation_mutes"), 0, 'unmuted');
my $lone = status($alice, no_conversation => 1);
$m->post_ok("/api/v1/statuses/$lone/mute" => $hb)->status_is(422)->json_is('/error', 'Mastodon::ValidationError');
$m->post_ok("/api/v1/statuses/$lone/unmute" => $hb)->status_is(422);
is(scalar(take_jobs()), 0, 'mutes queue nothing');

# --- GET /api/v1/favourites and /api/v1/bookmarks: by the row's id ------------------------------------
my $u = $t->user('collector');
my $hu = $t->bearer($u->{token});
my @s = map { status($alice, text => "item $_") } 1 .. 3;
for my $kind (qw(favourite bookmark)) {
    my $list = "/api/v1/${kind}s";
    $m->get_ok($list => $hu)->status_is(200)->json_is('', []);
    ok(!defined $m->tx->res->headers->header('Link'), "$list: no Link when empty");

    # newest status first, then the oldest: the row order is not the status order
    for my $sid ($s[2], $s[0], $s[1]) {
        $m->post_ok("/api/v1/statuses/$sid/$kind" => $hu)->status_is(200);
    }
    my @rows = split /\n/, $t->psql("SELECT id FROM ${kind}s WHERE account_id = $u->{account_id} ORDER BY id");

    $m->get_ok($list => $hu)->status_is(200);
    is_deeply([map { $_->{id} } @{ $m->tx->res->json }], [$s[1], $s[0], $s[2]], "$list: newest $kind first");
    status_ok($m->tx->res->json->[0], "$list item");
    is($m->tx->res->json->[0]{$kind eq 'favourite' ? 'favourited' : 'bookmarked'}, true, "$list: the flag");
    is($m->tx->res->headers->header('Link'), "<$public$list?limit=20&min_id=$rows[2]>; rel=\"prev\"",
        "$list: only a prev link, by the $kind ids");

    my $tx = $t->ua->get("$list?limit=2" => $hu);
    is_deeply([map { $_->{id} } @{ $tx->res->json }], [$s[1], $s[0]], "$list?limit=2");
    is($tx->res->headers->header('Link'),
        "<$public$list?limit=2&max_id=$rows[1]>; rel=\"next\", <$public$list?limit=2&min_id=$rows[2]>; rel=\"prev\"",
        "$list: Link with the $kind ids");
    $tx = $t->ua->get($t->path_of($t->links($tx)->{next}) => $hu);
    is_deeply([map { $_->{id} } @{ $tx->res->json }], [$s[2]], "$list: the next page");
    $tx = $t->ua->get("$list?min_id=$rows[0]&limit=1" => $hu);
    is_deeply([map { $_->{id} } @{ $tx->res->json }], [$s[0]], "$list?min_id: the oldest above it");
    $tx = $t->ua->get("$list?since_id=$rows[0]" => $hu);
    is_deeply([map { $_->{id} } @{ $tx->res->json }], [$s[1], $s[0]], "$list?since_id");

    # deleted statuses are left out
    $t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $s[0]");
    $tx = $t->ua->get($list => $hu);
    is_deeply([map { $_->{id} } @{ $tx->res->json }], [$s[1], $s[2]], "$list: not the deleted status");
    $t->psql("UPDATE statuses SET deleted_at = NULL WHERE id = $s[0]");
}
take_jobs();

# --- favourited_by ---------------------------------------------------------------------------------
my $liked = status($alice, text => 'liked');
for my $h ($hb, $hc, $hd) { $m->post_ok("/api/v1/statuses/$liked/favourite" => $h)->status_is(200) }
my @favs = split /\n/, $t->psql("SELECT id FROM favourites WHERE status_id = $liked ORDER BY id");
$m->get_ok("/api/v1/statuses/$liked/favourited_by")->status_is(200);
is_deeply([map { $_->{id} } @{ $m->tx->res->json }], [$dave->{account_id}, $carol->{account_id}, $bob->{account_id}],
    'favourited_by, newest favourite first, without a token');
is_deeply([entity_errors($m->tx->res->json->[0], 'Account')], [], 'an Account');
$m->get_ok("/api/v1/statuses/$liked/favourited_by?limit=2" => $ha)->status_is(200);
is($m->tx->res->headers->header('Link'),
    "<$public/api/v1/statuses/$liked/favourited_by?limit=2&max_id=$favs[1]>; rel=\"next\", "
    . "<$public/api/v1/statuses/$liked/favourited_by?limit=2&since_id=$favs[2]>; rel=\"prev\"",
    'favourited_by Link: the favourites\' ids');
my $tx = $t->ua->get($t->path_of($t->links($m->tx)->{next}) => $ha);
is_deeply([map { $_->{id} } @{ $tx->res->json }], [$bob->{account_id}], 'the next page');

# the viewer's blocks and mutes leave accounts out; suspended ones are out
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($alice->{account_id}, $carol->{account_id})");
$t->psql("INSERT INTO mutes (account_id, target_account_id) VALUES ($alice->{account_id}, $dave->{account_id})");
$m->get_ok("/api/v1/statuses/$liked/favourited_by" => $ha)->status_is(200);
is_deeply([map { $_->{id} } @{ $m->tx->res->json }], [$bob->{account_id}], 'blocked and muted accounts left out');
$t->psql("DELETE FROM blocks; DELETE FROM mutes");
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $dave->{account_id}");
$m->get_ok("/api/v1/statuses/$liked/favourited_by")->status_is(200);
is(scalar @{ $m->tx->res->json }, 2, 'a suspended account is left out');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $dave->{account_id}");

# not visible: 404, also without a token
$m->get_ok("/api/v1/statuses/$priv/favourited_by")->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok("/api/v1/statuses/$priv/reblogged_by")->status_is(404);
$m->get_ok("/api/v1/statuses/$priv/favourited_by" => $hc)->status_is(404);
$m->get_ok("/api/v1/statuses/$priv/favourited_by" => $hb)->status_is(200);
$m->get_ok("/api/v1/statuses/$dm/favourited_by" => $hc)->status_is(404);
$m->get_ok("/api/v1/statuses/999999/favourited_by")->status_is(404);

# --- scopes ------------------------------------------------------------------------------------------
my %scoped;
for my $scopes ('read', 'write:favourites', 'write:bookmarks', 'write:statuses', 'write:accounts',
    'write:mutes', 'read:favourites', 'read:bookmarks', 'read:accounts', 'write')
{
    $scoped{$scopes} = $t->bearer($t->token(user_id => $eve->{user_id}, scopes => $scopes));
}
my $fresh = status($alice);
my %need = (favourite => 'write:favourites', unfavourite => 'write:favourites', reblog => 'write:statuses',
    unreblog => 'write:statuses', bookmark => 'write:bookmarks', unbookmark => 'write:bookmarks',
    pin => 'write:accounts', unpin => 'write:accounts', mute => 'write:mutes', unmute => 'write:mutes');
for my $action (sort keys %need) {
    for my $wrong ('read', grep { $_ ne $need{$action} && /^write:/ } keys %scoped) {
        $m->post_ok("/api/v1/statuses/$fresh/$action" => $scoped{$wrong})->status_is(403, "$action with $wrong")
          ->json_is('/error', 'This action is outside the authorized scopes');
    }
    my $code = $action eq 'pin' ? 422 : 200;     # eve may not pin alice's status
    $m->post_ok("/api/v1/statuses/$fresh/$action" => $scoped{ $need{$action} })
      ->status_is($code, "$action with $need{$action}");
    $m->post_ok("/api/v1/statuses/$fresh/$action" => $scoped{write})->status_is($code, "$action with write");
    $m->post_ok("/api/v1/statuses/$fresh/$action")->status_is(401, "$action without a token");
}
for my $list (['/api/v1/favourites', 'read:favourites'], ['/api/v1/bookmarks', 'read:bookmarks']) {
    my ($path, $scope) = @$list;
    $m->get_ok($path => $scoped{$scope})->status_is(200, "$path with $scope");
    $m->get_ok($path => $scoped{read})->status_is(200, "$path with read");
    $m->get_ok($path => $scoped{'read:accounts'})->status_is(403, "$path with read:accounts")
      ->json_is('/error', 'This action is outside the authorized scopes');
    $m->get_ok($path)->status_is(401, "$path without a token");
}
for my $path ("/api/v1/statuses/$fresh/favourited_by", "/api/v1/statuses/$fresh/reblogged_by") {
    $m->get_ok($path => $scoped{'read:accounts'})->status_is(200, "$path with read:accounts");
    $m->get_ok($path => $scoped{'write:favourites'})->status_is(403, "$path with write:favourites")
      ->json_is('/error', 'This action is outside the authorized scopes');
}
take_jobs();

$t->done;
