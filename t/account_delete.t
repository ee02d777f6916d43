# `mastodon-worker accounts delete USERNAME` (tootctl accounts delete) on one
# instance, with the worker: the account and its statuses are gone through
# the API, out of the followers' home timelines, its tokens refused at once,
# its relationships, favourites and notifications gone with their counters;
# the account row stays as a suspended, emptied tombstone (reserve_username),
# the user row does not.  An unconfirmed user goes with its account row.
# Exit codes: 0 done, 1 no such (local) account, 2 usage.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(alice bob carol);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub in_home {
    my ($who, $id) = @_;
    my $res = $m->get_ok('/api/v1/timelines/home?limit=40', $h{$who})->status_is(200)->tx->res->json;
    return scalar grep { $_->{id} eq $id } @$res;
}

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

sub account_of {
    my ($who, $id) = @_;
    return $m->get_ok("/api/v1/accounts/$id", $h{$who})->status_is(200)->tx->res->json;
}

# --- usage and refusals --------------------------------------------------------------------
my ($rc, $out, $err) = $t->worker_cli('accounts', 'delete');
is($rc, 2, 'no username: usage, exit 2');
like($err, qr/usage: .*accounts delete USERNAME/, '... says how');
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'nobody');
is($rc, 1, 'no such account: exit 1');
like($err, qr/No user with such username/, "... with tootctl's message");
my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, inbox_url)
    VALUES ('alice', 'remote.test', 'https://remote.test/users/alice', 'https://remote.test/inbox')
    RETURNING id});
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'alice@remote.test');
is($rc, 1, 'a remote account is not a local user: exit 1');

# --- alice's world ---------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{bob})->status_is(200);
$m->post_ok("/api/v1/accounts/$id{carol}/follow", $h{alice})->status_is(200);
my $s1 = post('alice', status => 'hello followers');
my $s2 = post('alice', status => '@carol hi there');
my $c1 = post('carol', status => 'carol speaks');
$m->post_ok("/api/v1/statuses/$c1->{id}/favourite", $h{alice})->status_is(200);
$m->post_ok("/api/v1/statuses/$c1->{id}/reblog", $h{alice})->status_is(200);
$m->post_ok("/api/v1/statuses/$c1->{id}/bookmark", $h{alice})->status_is(200);
my $rb = $m->post_ok("/api/v1/statuses/$s1->{id}/reblog", $h{bob})->status_is(200)->tx->res->json;
ok($t->wait_for(sub { in_home('bob', $s1->{id}) }), "alice's post reaches bob's home");
ok($t->wait_for(sub {
    my $n = $m->get_ok('/api/v1/notifications', $h{carol})->tx->res->json;
    (grep { $_->{type} eq 'mention' } @$n) && (grep { $_->{type} eq 'favourite' } @$n)
}), 'carol is notified by alice');
is(account_of('carol', $id{carol})->{followers_count}, 1, 'carol has a follower');
$m->get_ok('/api/v1/accounts/verify_credentials', $h{alice})->status_is(200);  # the token is cached
in_home('alice', $s1->{id});                                            # her home feed is made
ok($t->redis('EXISTS', "mastodon:feed:home:$id{alice}"), "alice's home feed is in Redis");
$t->psql(q{DELETE FROM job_outbox});
my $stream = StreamClient->sse($t->port, '/api/v1/streaming/user', $h{alice});
is($stream->status, 200, "alice's user stream is open");
my @tokens = split /\n/, $t->psql("SELECT id FROM oauth_access_tokens WHERE resource_owner_id = $u{alice}{user_id}");
ok($t->wait_for(sub { grep { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', "timeline:access_token:$_"); ($n // 0) >= 1 } @tokens }),
   "... listening for its token's kill");

# --- the delete ---------------------------------------------------------------------------------
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'ALICE');
is($rc, 0, 'accounts delete alice: exit 0') or diag "$out$err";
like($out, qr/Deleting user with 3 statuses.*\nOK/s, "... says so, as tootctl");

$m->get_ok('/api/v1/accounts/verify_credentials', $h{alice})->status_is(401);
ok($stream->wait_closed(10), "her open stream is closed (the tokens' kill)");
$m->get_ok('/api/v1/timelines/home', $h{alice})->status_is(401);
is($t->redis('EXISTS', "mastodon:feed:home:$id{alice}"), 0, "alice's home feed is gone from Redis");
$m->get_ok("/api/v1/accounts/$id{alice}", $h{bob})->status_is(404);
$m->get_ok('/api/v1/accounts/lookup?acct=alice', $h{bob})->status_is(404);
$m->get_ok("/api/v1/statuses/$_", $h{bob})->status_is(404) for $s1->{id}, $s2->{id}, $rb->{id};
ok($t->wait_for(sub { !in_home('bob', $s1->{id}) && !in_home('bob', $rb->{id}) }),
    "out of bob's home timeline");
ok($t->wait_for(sub { !$t->redis('ZSCORE', "mastodon:feed:home:$id{bob}", $s1->{id}) }),
    "... and out of his feed in Redis");
ok($t->wait_for(sub {
    !grep { ($_->{account}{id} // '') eq $id{alice} }
        @{ $m->get_ok('/api/v1/notifications', $h{carol})->tx->res->json }
}), "carol's notifications from alice are gone");

my $carol = account_of('carol', $id{carol});
is($carol->{followers_count}, 0, "carol's followers count drops");
is(account_of('bob', $id{bob})->{following_count}, 0, "bob's following count drops");
my $c1now = $m->get_ok("/api/v1/statuses/$c1->{id}", $h{carol})->status_is(200)->tx->res->json;
is($c1now->{favourites_count}, 0, "carol's status lost alice's favourite");
is($c1now->{reblogs_count}, 0, '... and her reblog');

is($t->psql("SELECT count(*) FROM users WHERE account_id = $id{alice}"), 0, 'the user row is gone');
is($t->psql("SELECT count(*) FROM oauth_access_tokens WHERE resource_owner_id = $u{alice}{user_id}"), 0,
    '... with its tokens');
is($t->psql("SELECT count(*) FROM follows WHERE $id{alice} IN (account_id, target_account_id)")
    + $t->psql("SELECT count(*) FROM favourites WHERE account_id = $id{alice}")
    + $t->psql("SELECT count(*) FROM bookmarks WHERE account_id = $id{alice}")
    + $t->psql("SELECT count(*) FROM statuses WHERE account_id = $id{alice} AND deleted_at IS NULL"),
    0, 'follows, favourites, bookmarks and statuses gone');
is($t->psql("SELECT suspended_at IS NOT NULL AND display_name = ''"
    . " FROM accounts WHERE id = $id{alice}"), 't',
    'the account row stays, suspended and emptied (the name stays reserved)');
is($t->psql("SELECT count(*) FROM accounts WHERE id = $remote"), 1, 'the remote alice is untouched');

# the jobs that did it went through the outbox with the rows
ok($t->wait_for(sub { $t->psql('SELECT count(*) FROM job_outbox') == 0 }), 'the outbox is relayed');
ok($t->wait_for(sub {
    join('', map { local (@ARGV, $/) = ($_); <> } glob($t->dir . '/worker-*.log'))
        =~ /activitypub_account delete of $id{alice}|job activitypub_account .*done|activitypub_account/
}), "the worker ran the account's Delete job");

# --- an unconfirmed user goes altogether, as Mastodon does --------------------------------------
my $dave = $t->user('dave', confirmed => 0);
($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'dave');
is($rc, 0, 'accounts delete of an unconfirmed user: exit 0') or diag "$out$err";
is($t->psql("SELECT count(*) FROM accounts WHERE id = $dave->{account_id}"), 0, 'its account row is gone too');

$t->done;
