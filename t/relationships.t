# The Relationship entity and the writes that answer with it: follow (options,
# locked accounts, remote accounts, refusals), unfollow, remove_from_followers,
# follow requests (authorize, reject), block, mute, note, endorse (pin);
# GET /api/v1/accounts/relationships; scopes and user tokens.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob   = $t->user('bob');
my $carol = $t->user('carol', locked => 1);
my $dave  = $t->user('dave');
my $eve   = $t->user('eve');
my $frank = $t->user('frank');
my $susp  = $t->user('suspended', suspended => 1);
my $pend  = $t->user('pending', approved => 0);
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});
my $hc = $t->bearer($carol->{token});
my $hd = $t->bearer($dave->{token});
my $he = $t->bearer($eve->{token});

my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, protocol)
    VALUES ('rem', 'remote.example', 'https://remote.example/users/rem', 1) RETURNING id});
my $ostatus = $t->psql(q{INSERT INTO accounts (username, domain, uri, protocol)
    VALUES ('old', 'old.example', 'https://old.example/users/old', 0) RETURNING id});

sub stats {
    my ($id) = @_;
    return $t->psql("SELECT coalesce((SELECT followers_count || '/' || following_count"
        . " FROM account_stats WHERE account_id = $id), 'none')");
}

sub rel_of {
    my ($h, $id) = @_;
    my $tx = $t->ua->get("/api/v1/accounts/relationships?id[]=$id" => $h);
    return $tx->res->json->[0];
}

sub entity_ok {
    my ($json, $what) = @_;
    my @e = entity_errors($json, 'Relationship');
    is_deeply(\@e, [], "$what: a Relationship") or diag explain \@e;
}

my %none = (following => false, showing_reblogs => false, notifying => false, languages => undef,
    followed_by => false, blocking => false, blocked_by => false, muting => false,
    muting_notifications => false, muting_expires_at => undef, requested => false,
    requested_by => false, domain_blocking => false, endorsed => false, note => '');

# --- an empty relationship ---------------------------------------------------------
$m->get_ok("/api/v1/accounts/relationships?id[]=$bob->{account_id}", $ha)->status_is(200);
is_deeply($m->tx->res->json, [{ id => "$bob->{account_id}", %none }], 'nothing between alice and bob');
entity_ok($m->tx->res->json->[0], 'empty');
is_deeply([$m->tx->res->body =~ /"(\w+)":/g], [qw(id following showing_reblogs notifying languages
    followed_by blocking blocked_by muting muting_notifications muting_expires_at requested requested_by
    domain_blocking endorsed note)], "Mastodon's attribute order");

# --- follow ----------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha)->status_is(200)
  ->json_is('/id', $bob->{account_id})
  ->json_is('/following', true)
  ->json_is('/showing_reblogs', true)
  ->json_is('/notifying', false)
  ->json_is('/languages', undef)
  ->json_is('/requested', false);
entity_ok($m->tx->res->json, 'follow');
is(stats($bob->{account_id}), '1/0', 'bob has a follower');
is(stats($alice->{account_id}), '0/1', 'alice follows one');
$m->get_ok("/api/v1/accounts/relationships?id=$alice->{account_id}", $hb)->status_is(200)
  ->json_is('/0/followed_by', true)->json_is('/0/following', false);

# following again changes the options given, and only those
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha,
    form => { reblogs => 'false', notify => 'true', 'languages[]' => ['en', 'de'] })->status_is(200)
  ->json_is('/following', true)
  ->json_is('/showing_reblogs', false)
  ->json_is('/notifying', true)
  ->json_is('/languages', ['en', 'de']);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha, json => { notify => false })->status_is(200)
  ->json_is('/showing_reblogs', false)->json_is('/notifying', false)->json_is('/languages', ['en', 'de']);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha, json => { languages => [] })->status_is(200)
  ->json_is('/languages', []);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha, json => { reblogs => true })->status_is(200)
  ->json_is('/showing_reblogs', true);
is(stats($bob->{account_id}), '1/0', 'following again counts once');
is($t->psql("SELECT count(*) FROM follows WHERE account_id = $alice->{account_id}"), 1, 'one follow row');

$m->post_ok("/api/v1/accounts/$dave->{account_id}/follow", $ha, json => { languages => ['en', 'x y'] })
  ->status_is(422)->json_is('/error', 'Validation failed: Languages is invalid');
is(rel_of($ha, $dave->{account_id})->{following}, false, 'an invalid follow does nothing');

# refusals
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $ha)->status_is(403)
  ->json_is('/error', 'Following your own account is not allowed');
$m->post_ok('/api/v1/accounts/999999999/follow', $ha)->status_is(404)->json_is('/error', 'Record not found');
$m->post_ok('/api/v1/accounts/abc/follow', $ha)->status_is(404)->json_is('/error', 'Record not found');
$m->post_ok("/api/v1/accounts/$susp->{account_id}/follow", $ha)->status_is(404);
$m->post_ok("/api/v1/accounts/$pend->{account_id}/follow", $ha)->status_is(404, 'a pending user is not found');
$m->post_ok("/api/v1/accounts/$pend->{account_id}/block", $ha)->status_is(404);
$m->post_ok("/api/v1/accounts/$ostatus/follow", $ha)->status_is(403)->json_is('/error', 'This action is not allowed');
is($t->psql("SELECT count(*) FROM follows f JOIN follow_requests r USING (account_id)"
    . " WHERE f.account_id = $alice->{account_id} AND f.target_account_id IN ($susp->{account_id}, $ostatus)"), 0);

# --- a remote account: a request until its Accept, shown as followed at once ----------
$m->post_ok("/api/v1/accounts/$remote/follow", $ha)->status_is(200)
  ->json_is('/following', true)->json_is('/requested', false);
is(rel_of($ha, $remote)->{requested}, true, 'the remote follow is a request');
is(rel_of($ha, $remote)->{following}, false);
is($t->psql("SELECT count(*) FROM follow_requests WHERE target_account_id = $remote"), 1);
$m->post_ok("/api/v1/accounts/$remote/unfollow", $ha)->status_is(200)->json_is('/requested', false);

# --- a locked account: request, authorize, reject ------------------------------------------
$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $ha, json => { reblogs => false })->status_is(200)
  ->json_is('/following', false)
  ->json_is('/requested', true)
  ->json_is('/showing_reblogs', false);
is(stats($carol->{account_id}), '0/0', 'a request counts nothing');
$m->get_ok('/api/v1/follow_requests', $hc)->status_is(200)
  ->json_is('/0/id', $alice->{account_id})->json_hasnt('/1');
is(rel_of($hc, $alice->{account_id})->{requested_by}, true, 'carol sees the request');
$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $ha, json => { notify => true })->status_is(200)
  ->json_is('/requested', true)->json_is('/notifying', true)->json_is('/showing_reblogs', false);
is($t->psql("SELECT count(*) FROM follow_requests WHERE target_account_id = $carol->{account_id}"), 1,
    'asking again changes the request');

$m->post_ok("/api/v1/follow_requests/$alice->{account_id}/authorize", $hc)->status_is(200)
  ->json_is('/id', $alice->{account_id})
  ->json_is('/followed_by', true)
  ->json_is('/requested_by', false);
entity_ok($m->tx->res->json, 'authorize');
my $r = rel_of($ha, $carol->{account_id});
is($r->{following}, true, 'alice follows carol');
is($r->{requested}, false);
is($r->{showing_reblogs}, false, 'with the options of the request');
is($r->{notifying}, true);
is(stats($carol->{account_id}), '1/0');
is(stats($alice->{account_id}), '0/2');
$m->post_ok("/api/v1/follow_requests/$alice->{account_id}/authorize", $hc)->status_is(404, 'no request any more');
$m->post_ok("/api/v1/follow_requests/$bob->{account_id}/reject", $hc)->status_is(404);
$m->post_ok('/api/v1/follow_requests/999999999/reject', $hc)->status_is(404);

$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $hd)->status_is(200)->json_is('/requested', true);
$m->post_ok("/api/v1/follow_requests/$dave->{account_id}/reject", $hc)->status_is(200)
  ->json_is('/requested_by', false)->json_is('/followed_by', false);
is(rel_of($hd, $carol->{account_id})->{requested}, false, 'rejected');

# unfollow withdraws a request
$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $he)->status_is(200)->json_is('/requested', true);
$m->post_ok("/api/v1/accounts/$carol->{account_id}/unfollow", $he)->status_is(200)->json_is('/requested', false);
$m->get_ok('/api/v1/follow_requests', $hc)->status_is(200)->json_is('', []);

# --- unfollow, remove_from_followers ------------------------------------------------------
$m->post_ok("/api/v1/accounts/$bob->{account_id}/unfollow", $ha)->status_is(200)
  ->json_is('/following', false)->json_is('/showing_reblogs', false)->json_is('/languages', undef);
entity_ok($m->tx->res->json, 'unfollow');
is(stats($bob->{account_id}), '0/0');
is(stats($alice->{account_id}), '0/1');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/unfollow", $ha)->status_is(200, 'unfollowing again is fine');
is(stats($bob->{account_id}), '0/0', 'and changes nothing');
$m->post_ok('/api/v1/accounts/999999999/unfollow', $ha)->status_is(404);

$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hb)->status_is(200);
is(rel_of($ha, $bob->{account_id})->{followed_by}, true);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/remove_from_followers", $ha)->status_is(200)
  ->json_is('/followed_by', false);
is(stats($alice->{account_id}), '0/1', 'alice lost her follower');
is(stats($bob->{account_id}), '0/0', 'bob follows nobody');

# --- block -----------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$dave->{account_id}/follow", $ha)->status_is(200);
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hd)->status_is(200);
$m->post_ok("/api/v1/accounts/$dave->{account_id}/endorse", $ha)->status_is(200)->json_is('/endorsed', true);
$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $hd)->status_is(200)->json_is('/requested', true);
is(stats($dave->{account_id}), '1/1');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/block", $ha)->status_is(200)
  ->json_is('/blocking', true)
  ->json_is('/following', false)
  ->json_is('/followed_by', false)
  ->json_is('/endorsed', false);
entity_ok($m->tx->res->json, 'block');
is(stats($dave->{account_id}), '0/0', 'the follows both ways are gone');
is(stats($alice->{account_id}), '0/1', 'alice still follows carol');
is(rel_of($hd, $alice->{account_id})->{blocked_by}, true, 'dave is blocked by alice');
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hd)->status_is(403)
  ->json_is('/error', 'This action is not allowed');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/follow", $ha)->status_is(403);
is(stats($dave->{account_id}), '0/0', 'refused follows count nothing');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/block", $ha)->status_is(200, 'blocking again');
is($t->psql("SELECT count(*) FROM blocks WHERE account_id = $alice->{account_id}"), 1);

# a block ends pending requests both ways
$m->post_ok("/api/v1/accounts/$dave->{account_id}/block", $hc)->status_is(200)
  ->json_is('/requested_by', false)->json_is('/blocking', true);
is($t->psql("SELECT count(*) FROM follow_requests WHERE account_id = $dave->{account_id}"), 0);

$m->post_ok("/api/v1/accounts/$alice->{account_id}/block", $ha)->status_is(200, 'blocking oneself does nothing')
  ->json_is('/blocking', false);

$m->post_ok("/api/v1/accounts/$dave->{account_id}/unblock", $ha)->status_is(200)->json_is('/blocking', false);
is(rel_of($hd, $alice->{account_id})->{blocked_by}, false);
$m->post_ok("/api/v1/accounts/$dave->{account_id}/follow", $ha)->status_is(200)->json_is('/following', true);

# --- mute ------------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$eve->{account_id}/mute", $ha)->status_is(200)
  ->json_is('/muting', true)
  ->json_is('/muting_notifications', true)
  ->json_is('/muting_expires_at', undef);
entity_ok($m->tx->res->json, 'mute');
$m->post_ok("/api/v1/accounts/$eve->{account_id}/mute", $ha, form => { notifications => 'false', duration => 3600 })
  ->status_is(200)
  ->json_is('/muting', true)
  ->json_is('/muting_notifications', false)
  ->json_like('/muting_expires_at', qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
is($t->psql("SELECT abs(extract(epoch FROM expires_at - (now() AT TIME ZONE 'UTC')) - 3600) < 60"
    . " FROM mutes WHERE account_id = $alice->{account_id}"), 't', 'an hour from now');
entity_ok($m->tx->res->json, 'timed mute');
$m->get_ok('/api/v1/mutes', $ha)->status_is(200)
  ->json_is('/0/id', $eve->{account_id})
  ->json_like('/0/mute_expires_at', qr/^\d{4}-/)
  ->json_hasnt('/1');
my @e = entity_errors($m->tx->res->json->[0], 'MutedAccount');
is_deeply(\@e, [], 'MutedAccount') or diag explain \@e;
$m->post_ok("/api/v1/accounts/$eve->{account_id}/mute", $ha, json => { duration => 0 })->status_is(200)
  ->json_is('/muting_expires_at', undef)->json_is('/muting_notifications', true);
$m->get_ok('/api/v1/mutes', $ha)->json_is('/0/mute_expires_at', undef);

# an expired mute is no mute
$t->psql("UPDATE mutes SET expires_at = now() AT TIME ZONE 'UTC' - interval '1 minute'"
    . " WHERE account_id = $alice->{account_id}");
is(rel_of($ha, $eve->{account_id})->{muting}, false, 'expired');
$m->get_ok('/api/v1/mutes', $ha)->json_is('', []);
$m->post_ok("/api/v1/accounts/$eve->{account_id}/mute", $ha)->status_is(200)->json_is('/muting', true)
  ->json_is('/muting_expires_at', undef);
$m->post_ok("/api/v1/accounts/$eve->{account_id}/unmute", $ha)->status_is(200)->json_is('/muting', false);
$m->post_ok("/api/v1/accounts/$alice->{account_id}/mute", $ha)->status_is(200)->json_is('/muting', false);
$m->post_ok('/api/v1/accounts/999999999/mute', $ha)->status_is(404);

# --- note --------------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha, json => { comment => "met at <conf> & \"so\"" })
  ->status_is(200)->json_is('/note', "met at <conf> & \"so\"");
entity_ok($m->tx->res->json, 'note');
is(rel_of($ha, $bob->{account_id})->{note}, "met at <conf> & \"so\"");
is(rel_of($hb, $alice->{account_id})->{note}, '', 'a note is private');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha, form => { comment => "\x{e9}" x 2000 })->status_is(200)
  ->json_is('/note', "\x{e9}" x 2000);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha, form => { comment => 'x' x 2001 })->status_is(422)
  ->json_is('/error', 'Validation failed: Comment is too long (maximum is 2000 characters)');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha, form => { comment => '  ' })->status_is(200)
  ->json_is('/note', '');
is($t->psql("SELECT count(*) FROM account_notes"), 0, 'a blank comment removes the note');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha, form => { comment => 'again' })->status_is(200);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/note", $ha)->status_is(200)->json_is('/note', '');
$m->post_ok('/api/v1/accounts/999999999/note', $ha, form => { comment => 'x' })->status_is(404);

# --- endorse -------------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$bob->{account_id}/endorse", $ha)->status_is(422)
  ->json_is('/error', 'Validation failed: You must be already following the person you want to endorse');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/follow", $ha)->status_is(200);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/endorse", $ha)->status_is(200)->json_is('/endorsed', true);
entity_ok($m->tx->res->json, 'endorse');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/endorse", $ha)->status_is(200, 'again');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/pin", $ha)->status_is(200)->json_is('/endorsed', true);
$m->get_ok('/api/v1/endorsements', $ha)->status_is(200);
is_deeply([sort map { $_->{id} } @{ $m->tx->res->json }], [sort ($bob->{account_id}, $dave->{account_id})],
    'GET /api/v1/endorsements');
$m->get_ok("/api/v1/accounts/$alice->{account_id}/endorsements")->status_is(200, 'public')
  ->json_has('/1/username')->json_hasnt('/2');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/unpin", $ha)->status_is(200)->json_is('/endorsed', false);
$m->post_ok("/api/v1/accounts/$bob->{account_id}/unfollow", $ha)->status_is(200)->json_is('/endorsed', false);
$m->get_ok('/api/v1/endorsements', $ha)->status_is(200)->json_is('', [], 'unfollowing ends the endorsement');
$m->post_ok("/api/v1/accounts/$dave->{account_id}/endorse", $ha)->status_is(200);
$m->post_ok("/api/v1/accounts/$dave->{account_id}/unendorse", $ha)->status_is(200)->json_is('/endorsed', false);

# --- GET /api/v1/accounts/relationships ------------------------------------------------------------
$m->get_ok("/api/v1/accounts/relationships?id[]=$dave->{account_id}&id[]=999999&id[]=x"
    . "&id[]=$bob->{account_id}&id[]=$dave->{account_id}&id[]=$susp->{account_id}", $ha)->status_is(200)
  ->json_is('/0/id', $dave->{account_id})
  ->json_is('/0/following', true)
  ->json_is('/1/id', $bob->{account_id})
  ->json_hasnt('/2', 'unknown, duplicate and suspended ids are left out');
$m->get_ok("/api/v1/accounts/relationships?id[]=$susp->{account_id}&with_suspended=true", $ha)->status_is(200)
  ->json_is('/0/id', $susp->{account_id});
$m->get_ok('/api/v1/accounts/relationships', $ha)->status_is(200)->json_is('', []);
$m->get_ok("/api/v1/accounts/relationships?id[]=$remote", $ha)->status_is(200)->json_is('/0/domain_blocking', false);
$t->psql("INSERT INTO account_domain_blocks (account_id, domain) VALUES ($alice->{account_id}, 'remote.example')");
$m->get_ok("/api/v1/accounts/relationships?id[]=$remote", $ha)->status_is(200)->json_is('/0/domain_blocking', true);
$m->post_ok("/api/v1/accounts/$remote/follow", $ha)->status_is(403, 'a blocked domain cannot be followed');

# --- tokens and scopes --------------------------------------------------------------------------------
my $read = $t->token(user_id => $alice->{user_id}, scopes => 'read');
$m->post_ok("/api/v1/accounts/$eve->{account_id}/follow", $t->bearer($read))->status_is(403)
  ->json_is('/error', 'This action is outside the authorized scopes');
$m->post_ok("/api/v1/accounts/$eve->{account_id}/follow")->status_is(401);
$m->get_ok("/api/v1/accounts/relationships?id[]=$eve->{account_id}")->status_is(401);
my $app = $t->token(scopes => 'read write follow');
$m->post_ok("/api/v1/accounts/$eve->{account_id}/follow", $t->bearer($app))->status_is(422)
  ->json_is('/error', 'This method requires an authenticated user');

my @cases = (
    "POST /api/v1/accounts/$eve->{account_id}/follow"         => [['write:follows', 'write', 'follow'], ['write:blocks', 'read']],
    "POST /api/v1/accounts/$eve->{account_id}/unfollow"       => [['write:follows'], ['write:mutes']],
    "POST /api/v1/accounts/$eve->{account_id}/remove_from_followers" => [['write:follows'], ['write:accounts']],
    "POST /api/v1/accounts/$eve->{account_id}/mute"           => [['write:mutes', 'follow'], ['write:blocks']],
    "POST /api/v1/accounts/$eve->{account_id}/unmute"         => [['write:mutes'], ['read:mutes']],
    "POST /api/v1/accounts/$eve->{account_id}/note"           => [['write:accounts', 'write'], ['follow', 'write:follows']],
    "POST /api/v1/accounts/$eve->{account_id}/unendorse"      => [['write:accounts'], ['follow']],
    "POST /api/v1/accounts/$eve->{account_id}/unpin"          => [['write:accounts'], ['write:follows']],
    "GET /api/v1/accounts/relationships?id=$eve->{account_id}" => [['read:follows', 'read'], ['follow', 'read:accounts']],
    'GET /api/v1/blocks'                                      => [['read:blocks', 'follow'], ['read:mutes']],
    'GET /api/v1/mutes'                                       => [['read:mutes', 'follow'], ['read:blocks']],
    'GET /api/v1/endorsements'                                => [['read:accounts', 'read'], ['follow']],
    'GET /api/v1/follow_requests'                             => [['read:follows', 'follow'], ['read:accounts']],
    "POST /api/v1/follow_requests/$eve->{account_id}/reject"  => [['write:follows', 'follow'], ['read:follows']],
    "POST /api/v1/accounts/$eve->{account_id}/block"          => [['write:blocks', 'follow'], ['write:follows']],
    "POST /api/v1/accounts/$eve->{account_id}/unblock"        => [['write:blocks'], ['write:mutes']],
);
while (my ($req, $scopes) = splice @cases, 0, 2) {
    my ($method, $path) = split / /, $req;
    my ($ok, $refused) = @$scopes;
    for my $scope (@$ok) {
        my $tok = $t->token(user_id => $alice->{user_id}, scopes => $scope);
        my $tx = $t->ua->build_tx($method => $path => $t->bearer($tok));
        $tx = $t->ua->start($tx);
        isnt($tx->res->code, 403, "$req with $scope") or diag $tx->res->body;
        isnt($tx->res->code, 401, "$req with $scope: a valid token");
    }
    for my $scope (@$refused) {
        my $tok = $t->token(user_id => $alice->{user_id}, scopes => $scope);
        my $tx = $t->ua->start($t->ua->build_tx($method => $path => $t->bearer($tok)));
        is($tx->res->code, 403, "$req refused with $scope");
    }
    my $tx = $t->ua->start($t->ua->build_tx($method => $path));
    is($tx->res->code, 401, "$req without a token");
}

# --- the counters add up -----------------------------------------------------------------------------
is($t->psql(q{SELECT count(*) FROM accounts a LEFT JOIN account_stats s ON s.account_id = a.id
    WHERE coalesce(s.followers_count, 0) <> (SELECT count(*) FROM follows WHERE target_account_id = a.id)
       OR coalesce(s.following_count, 0) <> (SELECT count(*) FROM follows WHERE account_id = a.id)}),
    0, 'every counter matches the follows');

$t->done;
