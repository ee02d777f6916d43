#!/usr/bin/perl
# Issue 9 end to end: two instances of this server (one.test, two.test, over
# TLS in the test bed) federate through their client APIs only: remote follow
# of an open and of a locked account, a post reaching the remote follower's
# home timeline, a reply threading under it, favourite and boost notifying, an
# edit and a delete reaching the copy, a mention notifying the remote user, a
# block stopping delivery, and an account delete reaching every known host once.
# Skips itself, with the reason, until every part it needs is merged.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use Digest::SHA ();
use Mojo::JSON ();

my $bed = Federation->new;
my ($one, $two, $peer) = ($bed->instance('one'), $bed->instance('two'), $bed->peer);
my $DEADLINE = 30;

my $alice = $one->account('alice');
my $carol = $one->account('carol', locked => 1);
my $bob = $two->account('bob');
my $zed = $two->account('zed');

# --- are the parts there? -------------------------------------------------------------
my $wf = $one->api(GET => '/.well-known/webfinger', query => { resource => 'acct:alice@one.test' });
$bed->skip_all('WebFinger answers ' . $wf->code . ': being found (fed-read) is not merged') if $wf->code != 200;
my $inbox = $one->api(POST => '/inbox', json => {});
$bed->skip_all('POST /inbox answers ' . $inbox->code . ': the inbox (fed-inbox) is not merged')
    if $inbox->code == 404 || $inbox->code == 405;
my $worker_bin = MastodonTest::_slurp($one->worker_bin);
for my $job (qw(activitypub_deliver inbox_process fetch_key resolve)) {
    $bed->skip_all("the worker has no $job job: " . ($job eq 'activitypub_deliver' ? 'delivery (fed-send)'
        : 'processing of received activities (fed-receive)') . ' is not merged')
        unless $worker_bin =~ /\bjob_\Q$job\E\b/;
}
undef $worker_bin;

sub api {
    my ($inst, $user, $method, $path, %o) = @_;
    my $res = $inst->api($method, $path, token => $user->{token}, %o);
    return $res;
}

sub json_ok {
    my ($inst, $user, $method, $path, %o) = @_;
    my $res = api($inst, $user, $method, $path, %o);
    ok($res->is_success, "$method $path on " . $inst->host . ' as ' . $user->{username})
        or diag $res->code . ' ' . $res->body;
    return $res->json;
}

# resolve($inst, $user, 'name@host') -> the account entity as $inst knows it:
# through GET /api/v2/search?resolve=true, as clients do.  When the search
# does not ask the worker at all (its module half is not merged: no `job
# resolve` in the worker's log), through the worker's resolve job directly,
# with a note, so the rest of federation is still tested.
my $search_resolves;
sub search_once {
    my ($inst, $user, $acct) = @_;
    my $res = api($inst, $user, GET => '/api/v2/search', query => { q => "\@$acct", resolve => 'true', type => 'accounts' });
    my ($found) = grep { $_->{acct} eq $acct } @{ ($res->is_success && $res->json->{accounts}) || [] };
    return wantarray ? ($found, $res) : $found;
}
# The search resolves (it waits for the worker's resolve job a bounded
# time, then answers); only where the route does not exist (404) is the
# worker's job enqueued by hand: a search that exists but does not ask
# the worker is a failure, not a reason to fall back.
sub resolve {
    my ($inst, $user, $acct) = @_;
    my $log_before = length $inst->worker_log;
    my ($found, $res) = search_once($inst, $user, $acct);
    return $found if $found;
    $search_resolves //= $res->code == 404 ? 0 : 1;
    if ($search_resolves) {
        unless ($bed->wait_until(sub { substr($inst->worker_log, $log_before) =~ /job resolve jid=/ }, 5)) {
            diag "GET /api/v2/search?resolve=true answered " . $res->code . " without asking the worker";
            return undef;
        }
        $bed->wait_until(sub { $found = search_once($inst, $user, $acct) }, $DEADLINE);
        return $found;
    }
    note "no GET /api/v2/search: resolving $acct with the worker's resolve job";
    my $q = "\@$acct";
    my ($rc, $out, $err) = $inst->worker_cli('enqueue', 'default', 'resolve', Mojo::JSON::encode_json({ q => $q }));
    diag "enqueue resolve: $err" if $rc;
    my $answer;
    $bed->wait_until(sub {
        my $v = $inst->redis('GET', 'mastodon:resolve:' . Digest::SHA::sha256_hex($q));
        $answer = eval { Mojo::JSON::decode_json($v) } if length $v;
        $answer;
    }, $DEADLINE);
    return undef unless $answer && $answer->{account_id};
    my $acc = api($inst, $user, GET => "/api/v1/accounts/$answer->{account_id}");
    return $acc->is_success ? $acc->json : undef;
}

sub relationship {
    my ($inst, $user, $id) = @_;
    my $r = api($inst, $user, GET => '/api/v1/accounts/relationships', query => { 'id[]' => $id });
    return ($r->json // [])->[0] // {};
}

sub home_status {
    my ($inst, $user, $uri) = @_;
    my $res = api($inst, $user, GET => '/api/v1/timelines/home', query => { limit => 40 });
    my ($s) = grep { ($_->{uri} // '') eq $uri || ($_->{reblog} && $_->{reblog}{uri} eq $uri) }
        @{ $res->json // [] };
    return $s;
}

sub notification {
    my ($inst, $user, $type, $from, $status_id) = @_;
    my $res = api($inst, $user, GET => '/api/v1/notifications', query => { limit => 40 });
    my ($n) = grep {
        $_->{type} eq $type && $_->{account}{acct} eq $from
            && (!defined $status_id || ($_->{status} && $_->{status}{id} eq $status_id))
    } @{ $res->json // [] };
    return $n;
}

# --- remote follow of an open account ------------------------------------------------------
my $alice_at_two = resolve($two, $bob, 'alice@one.test');
unless (ok($alice_at_two, 'two.test finds @alice@one.test (search, resolve=true)')) {
    $bed->done;
    exit;
}
is($alice_at_two->{url}, 'https://one.test/@alice', '... with her url');
is($alice_at_two->{username}, 'alice', '... and username');

my $rel = json_ok($two, $bob, POST => "/api/v1/accounts/$alice_at_two->{id}/follow");
ok($rel->{requested} || $rel->{following}, 'bob follows alice: requested (or already accepted)');
ok($bed->wait_until(sub { relationship($two, $bob, $alice_at_two->{id})->{following} }, $DEADLINE),
    "alice's server accepts: bob follows her") or diag explain relationship($two, $bob, $alice_at_two->{id});
my $bob_at_one;
ok($bed->wait_until(sub {
    my $f = api($one, $alice, GET => "/api/v1/accounts/$alice->{account_id}/followers")->json // [];
    ($bob_at_one) = grep { $_->{acct} eq 'bob@two.test' } @$f;
}, $DEADLINE), 'one.test lists bob@two.test among her followers');
ok($bed->wait_until(sub { notification($one, $alice, 'follow', 'bob@two.test') }, $DEADLINE),
    'alice is notified of the follow');

# --- remote follow of a locked account -------------------------------------------------------
my $carol_at_two = resolve($two, $bob, 'carol@one.test');
ok($carol_at_two && $carol_at_two->{locked}, 'carol@one.test is found, locked');
$rel = json_ok($two, $bob, POST => "/api/v1/accounts/$carol_at_two->{id}/follow");
ok($rel->{requested} && !$rel->{following}, 'bob asks to follow carol: requested');
my $req;
ok($bed->wait_until(sub {
    ($req) = grep { $_->{acct} eq 'bob@two.test' } @{ api($one, $carol, GET => '/api/v1/follow_requests')->json // [] };
}, $DEADLINE), "the request reaches carol's follow requests");
ok($bed->wait_until(sub { notification($one, $carol, 'follow_request', 'bob@two.test') }, $DEADLINE),
    'carol is notified of the request');
ok(!relationship($two, $bob, $carol_at_two->{id})->{following}, 'not following before she accepts');
json_ok($one, $carol, POST => "/api/v1/follow_requests/$req->{id}/authorize");
ok($bed->wait_until(sub { relationship($two, $bob, $carol_at_two->{id})->{following} }, $DEADLINE),
    'she accepts: following on two.test');

# --- a post reaches the remote follower's home timeline ----------------------------------------
my $post = json_ok($one, $alice, POST => '/api/v1/statuses', json => { status => 'Hello from one.test', visibility => 'public' });
my $uri = $post->{uri};
is($uri, "https://one.test/users/alice/statuses/$post->{id}", 'the status URI is Mastodon-shaped');
my $copy;
ok($bed->wait_until(sub { $copy = home_status($two, $bob, $uri) }, $DEADLINE), "it reaches bob's home timeline on two.test");
like($copy->{content}, qr/Hello from one\.test/, '... with its content');
is($copy->{account}{acct}, 'alice@one.test', '... by alice@one.test');
is($copy->{url}, "https://one.test/\@alice/$post->{id}", '... and its url');

# --- a reply threads under it ------------------------------------------------------------------
my $reply = json_ok($two, $bob, POST => '/api/v1/statuses',
    json => { status => '@alice@one.test a reply from two.test', in_reply_to_id => $copy->{id} });
ok($bed->wait_until(sub {
    my $ctx = api($one, $alice, GET => "/api/v1/statuses/$post->{id}/context")->json // {};
    grep { $_->{uri} eq $reply->{uri} && $_->{in_reply_to_id} eq $post->{id} } @{ $ctx->{descendants} // [] };
}, $DEADLINE), "the reply threads under alice's post on one.test");
ok($bed->wait_until(sub { notification($one, $alice, 'mention', 'bob@two.test') }, $DEADLINE),
    'alice is notified of the reply');

# --- favourite and boost notify ------------------------------------------------------------------
json_ok($two, $bob, POST => "/api/v1/statuses/$copy->{id}/favourite");
ok($bed->wait_until(sub { notification($one, $alice, 'favourite', 'bob@two.test', $post->{id}) }, $DEADLINE),
    'a favourite from two.test notifies alice');
json_ok($two, $bob, POST => "/api/v1/statuses/$copy->{id}/reblog");
ok($bed->wait_until(sub { notification($one, $alice, 'reblog', 'bob@two.test', $post->{id}) }, $DEADLINE),
    'a boost from two.test notifies alice');
my $counts = api($one, $alice, GET => "/api/v1/statuses/$post->{id}")->json;
is($counts->{favourites_count}, 1, 'favourites_count 1 on one.test');
is($counts->{reblogs_count}, 1, 'reblogs_count 1 on one.test');

# --- an edit updates the copy ------------------------------------------------------------------
json_ok($one, $alice, PUT => "/api/v1/statuses/$post->{id}", json => { status => 'Hello again, edited' });
ok($bed->wait_until(sub {
    my $s = api($two, $bob, GET => "/api/v1/statuses/$copy->{id}")->json // {};
    ($s->{content} // '') =~ /edited/ && $s->{edited_at};
}, $DEADLINE), 'the edit reaches the copy on two.test (content, edited_at)');

# --- a mention of a remote user notifies them ------------------------------------------------------
my $bob_acct_on_one = resolve($one, $alice, 'bob@two.test');
ok($bob_acct_on_one, 'one.test knows bob@two.test');
my $mention = json_ok($one, $alice, POST => '/api/v1/statuses',
    json => { status => '@bob@two.test did you see this?', visibility => 'public' });
is_deeply([ map { $_->{acct} } @{ $mention->{mentions} } ], ['bob@two.test'], 'the mention is linked to bob@two.test');
ok($bed->wait_until(sub { notification($two, $bob, 'mention', 'alice@one.test') }, $DEADLINE),
    'bob is notified on two.test');

# --- a delete removes it -------------------------------------------------------------------------
json_ok($one, $alice, DELETE => "/api/v1/statuses/$post->{id}");
ok($bed->wait_until(sub { api($two, $bob, GET => "/api/v1/statuses/$copy->{id}")->code == 404 }, $DEADLINE),
    'the delete reaches two.test: the copy is gone');
ok(!home_status($two, $bob, $uri), "... and out of bob's home timeline");

# --- a block stops delivery ---------------------------------------------------------------------
# the fake peer follows alice too: what it receives tells that a delivery round happened
my $m = $peer->actor('mallory');
my $res = $peer->post($one->url('/users/alice/inbox'), $peer->activity(type => 'Follow', object => $alice->{uri}));
is($res->code, 202, 'mallory@peer.test follows alice');
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Accept' } $peer->received(method => 'POST')
}, $DEADLINE), 'the peer receives the Accept');
json_ok($one, $alice, POST => "/api/v1/accounts/$bob_at_one->{id}/block");
ok($bed->wait_until(sub { !relationship($two, $bob, $alice_at_two->{id})->{following} }, $DEADLINE),
    'the block reaches two.test: bob no longer follows alice');
$peer->clear_received;
my $after = json_ok($one, $alice, POST => '/api/v1/statuses', json => { status => 'after the block', visibility => 'public' });
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Create' && ($_->{json}{object}{id} // '') eq $after->{uri} }
        $peer->received(method => 'POST')
}, $DEADLINE), 'a post after the block is delivered to the peer');
my @create = grep { ($_->{json}{type} // '') eq 'Create' } $peer->received(method => 'POST');
is($peer->verify($create[0], sub { $bed->public_key_of(shift) })->{ok}, 1, "... signed with alice's key")
    if @create;
is($two->psql("SELECT count(*) FROM statuses WHERE uri = '$after->{uri}'"), 0, '... and not to two.test');

# --- an account delete reaches every known host once --------------------------------------------
# two followers on each host: zed@two.test, mallory and eve on the peer
my $alice_at_two_z = resolve($two, $zed, 'alice@one.test');
json_ok($two, $zed, POST => "/api/v1/accounts/$alice_at_two_z->{id}/follow");
ok($bed->wait_until(sub { relationship($two, $zed, $alice_at_two_z->{id})->{following} }, $DEADLINE),
    'zed@two.test follows alice');
$peer->actor('eve');
is($peer->post($one->url('/users/alice/inbox'), $peer->activity(type => 'Follow', actor => 'eve',
    object => $alice->{uri}), actor => 'eve')->code, 202, 'eve@peer.test follows alice');
ok($bed->wait_until(sub {
    $one->psql(q{SELECT count(*) FROM follows f JOIN accounts a ON a.id = f.account_id
        WHERE a.domain = 'peer.test'}) == 2
}, $DEADLINE), 'alice has two followers on peer.test');
$peer->clear_received;
my ($drc, $dout, $derr) = $one->worker_cli('accounts', 'delete', 'alice');
is($drc, 0, 'alice deletes her account (mastodon-worker accounts delete)') or diag "$dout$derr";
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Delete' && ($_->{json}{object} // '') eq $alice->{uri} }
        $peer->received(method => 'POST')
}, $DEADLINE), 'the peer receives the Delete of alice');
ok($bed->wait_until(sub { !resolve_known($two, $bob, $alice_at_two->{id}) }, $DEADLINE),
    'two.test drops alice');
my @deletes = grep { ($_->{json}{type} // '') eq 'Delete' && ($_->{json}{object} // '') eq $alice->{uri} }
    $peer->received(method => 'POST');
is(scalar @deletes, 1, 'one Delete for the peer host');
is($peer->verify($deletes[0], sub { $bed->public_key_of(shift) })->{ok}, 1, "... signed with alice's key")
    if @deletes;
is(scalar(grep { ($_->{json}{type} // '') eq 'Delete' && ref $_->{json}{object} }
    $peer->received(method => 'POST')), 0, 'no Delete of each status: the Delete of the actor covers them');

sub resolve_known {
    my ($inst, $user, $id) = @_;
    my $res = api($inst, $user, GET => "/api/v1/accounts/$id");
    return $res->code == 200 && !$res->json->{suspended};
}

$bed->done;
