#!/usr/bin/perl
# `mastodon-worker domain-block` on the accounts already known
# (worker/domain_block.c, sql/0042): a suspension suspends the domain's and
# its subdomains' accounts dated the block, ends their follows both ways
# (counters down, their statuses out of the local followers' home feeds, out
# of the public timelines), and the API shows it; a later `add` with another
# severity gives back what the old one did (BlockDomainService's update
# path); `remove` gives back exactly what the block did (UnblockDomainService).
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use DocServer;
use Test::More;
use Mojo::JSON qw(true false);

my $t = MastodonTest->new(worker_env => {
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1' });
my $m = $t->mojo;
my $srv = DocServer->new($t->dir . '/docs');
my ($port, $R) = ($srv->port, $srv->url);
$srv->serve("/users/$_", $srv->actor($_)) for qw(bob eve);

my $alice = $t->user('alice');
my $carol = $t->user('carol');
my ($aid, $cid) = map { $_->{account_id} } $alice, $carol;
my $ha = $t->bearer($alice->{token});
my $L = $t->public_base;

sub count { $t->psql($_[0]) }
my $n = 0;
sub process {
    my ($type, $actor, %o) = @_;
    $n++;
    $t->inbox_process({ '@context' => 'https://www.w3.org/ns/activitystreams',
        id => "$R/users/$actor/activities/$n", type => $type, actor => "$R/users/$actor", %o },
        name => "$type of $actor processed");
}
sub cli {
    my ($rc, $out, $err) = $t->worker_cli('domain-block', @_);
    is($rc, 0, "domain-block @_") or diag $err;
    return $out;
}
sub ids_of { my ($path) = @_; [ map { $_->{id} } @{ $m->ua->get($path, $ha)->res->json // [] } ] }
sub shows { my ($path, $id) = @_; scalar grep { $_ eq $id } @{ ids_of($path) } }
sub suspended_flag { $m->ua->get("/api/v1/accounts/$_[0]", $ha)->res->json('/suspended') ? 1 : 0 }
sub stats_of { count("SELECT $_[1] FROM account_stats WHERE account_id = $_[0]") }

# bob follows alice and carol (open accounts: accepted at once); alice follows bob
process('Follow', 'bob', object => "$L/users/alice");
process('Follow', 'bob', object => "$L/users/carol");
process('Follow', 'eve', object => "$L/users/carol");
my $bob = count("SELECT id FROM accounts WHERE uri = '$R/users/bob'");
my $eve = count("SELECT id FROM accounts WHERE uri = '$R/users/eve'");
ok($bob && $eve, 'bob and eve known');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($aid, $bob)");
$t->psql("UPDATE account_stats SET following_count = following_count + 1 WHERE account_id = $aid");
# a subdomain's account, and another domain's
my ($sub, $other) = map { count("INSERT INTO accounts (username, domain, uri) VALUES ('$_->[0]', '$_->[1]',"
    . " 'https://$_->[1]/users/$_->[0]') RETURNING id") } ['sam', 'sub.127.0.0.1'], ['olga', 'other.test'];
ok($sub && $other, 'accounts of a subdomain and of another domain');
$t->psql("UPDATE accounts SET suspended_at = '2020-01-01', suspension_origin = 0 WHERE id = $eve");   # by a moderator before

# bob's public post reaches alice's home and the public timelines
my $note = "$R/users/bob/statuses/1";
process('Create', 'bob', object => { id => $note, type => 'Note', attributedTo => "$R/users/bob",
    content => '<p>hello</p>', to => ['https://www.w3.org/ns/activitystreams#Public'],
    cc => ["$R/users/bob/followers"], published => '2026-12-01T10:00:00Z' });
my $sid = count("SELECT id FROM statuses WHERE uri = '$note'");
ok($sid, 'bob\'s status stored');
ok($t->wait_for(sub { shows('/api/v1/timelines/home', $sid) }, 20), 'in alice\'s home timeline');
ok(shows('/api/v1/timelines/public', $sid), 'in the public timeline');
ok(shows('/api/v1/timelines/public?remote=true', $sid), 'in the federated timeline');
is(suspended_flag($bob), 0, 'bob not suspended');
# carol (local) boosts it: the boost is in the home of dan, who follows carol (not bob)
my $hcarol = $t->bearer($carol->{token});
my $dan = $t->user('dan');
my $hd = $t->bearer($dan->{token});
$m->post_ok("/api/v1/accounts/$cid/follow", $hd)->status_is(200);
my $rbid = $m->post_ok("/api/v1/statuses/$sid/reblog", $hcarol)->status_is(200)->tx->res->json('/id');
sub dan_sees { scalar grep { $_->{id} eq $rbid } @{ $m->ua->get('/api/v1/timelines/home', $hd)->res->json // [] } }
ok($t->wait_for(sub { dan_sees() }, 20), 'carol\'s boost of it in dan\'s home timeline');
my ($a_following, $a_followers, $c_followers) = (stats_of($aid, 'following_count'), stats_of($aid, 'followers_count'),
                                                  stats_of($cid, 'followers_count'));

# --- suspend: BlockDomainService#suspend_accounts! --------------------------------------
my $out = cli('add', '127.0.0.1', '--severity', 'suspend');
like($out, qr/^2 account\(s\) suspended$/m, 'it says it suspended bob and the subdomain\'s account');
like($out, qr/^3 follow\(s\) severed$/m, 'and the follows it ended (eve\'s was ended by nobody)');
my $dated = "(SELECT created_at FROM domain_blocks WHERE domain = '127.0.0.1')";
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND suspended_at = $dated AND suspension_origin = 0"), 2,
   'the domain\'s and its subdomain\'s accounts suspended, dated the block, locally');
is(count("SELECT suspended_at FROM accounts WHERE id = $eve"), '2020-01-01 00:00:00', 'one suspended before keeps its date');
is(count("SELECT count(*) FROM accounts WHERE id = $other AND suspended_at IS NULL"), 1, 'another domain untouched');
is(count("SELECT count(*) FROM accounts WHERE domain IS NULL AND suspended_at IS NOT NULL"), 0, 'local accounts untouched');
is(count("SELECT count(*) FROM follows WHERE $bob IN (account_id, target_account_id)"), 0, 'bob\'s follows both ways ended');
is(stats_of($aid, 'following_count'), $a_following - 1, 'alice follows one fewer');
is(stats_of($aid, 'followers_count'), $a_followers - 1, 'alice has one follower fewer');
is(stats_of($cid, 'followers_count'), $c_followers - 1, 'carol too');
ok($t->wait_for(sub { suspended_flag($bob) }, 20), 'the API shows bob suspended (the cached Account forgotten)');
ok($t->wait_for(sub { !shows('/api/v1/timelines/home', $sid) }, 20), 'bob\'s status left alice\'s home timeline');
ok($t->wait_for(sub { !dan_sees() }, 20),
   '... and a local account\'s boost of it is not shown (the viewers\' facts forgotten)');
ok(!shows('/api/v1/timelines/public', $sid), '... and the public timeline');
ok(!shows('/api/v1/timelines/public?remote=true', $sid), '... and the federated one');

# --- a later add changing the severity: the update path ---------------------------------
$out = cli('add', '127.0.0.1', '--severity', 'silence');
like($out, qr/^OK: updated 127\.0\.0\.1 \(silence\)$/m, 'suspend -> silence: updated');
like($out, qr/^2 account\(s\) unsuspended$/m, 'the accounts it suspended are given back');
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND suspended_at IS NULL AND silenced_at = $dated"), 2,
   '... and silenced, dated the block');
is(count("SELECT suspended_at FROM accounts WHERE id = $eve"), '2020-01-01 00:00:00', 'the one suspended before stays');
ok($t->wait_for(sub { !suspended_flag($bob) && $m->ua->get("/api/v1/accounts/$bob", $ha)->res->json('/limited') }, 20),
   'the API shows bob limited, not suspended');

$out = cli('add', '127.0.0.1', '--severity', 'suspend');
like($out, qr/^3 account\(s\) unsilenced$/m, 'silence -> suspend: unsilenced (eve too: the silence took every account not silenced)');
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND silenced_at IS NULL AND suspended_at = $dated"), 2,
   '... and suspended, dated the block');

$out = cli('add', '127.0.0.1', '--severity', 'noop');
like($out, qr/^2 account\(s\) unsuspended$/m, 'suspend -> noop: unsuspended');
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND silenced_at IS NULL AND suspended_at IS NULL"), 2,
   '... neither silenced nor suspended');

$out = cli('add', '127.0.0.1', '--severity', 'noop', '--reject-media');
unlike($out, qr/account\(s\)/, 'the same severity again changes no account');

# --- remove: UnblockDomainService -------------------------------------------------------
cli('add', '127.0.0.1', '--severity', 'suspend');
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND suspended_at = $dated"), 2, 'suspended again');
ok($t->wait_for(sub { suspended_flag($bob) }, 20), 'the API shows bob suspended again');
$t->psql("UPDATE accounts SET silenced_at = '2021-01-01' WHERE id = $bob");   # a moderator's silence
$out = cli('remove', '127.0.0.1');
like($out, qr/^2 account\(s\) given back$/m, 'remove gives back the accounts');
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $sub) AND suspended_at IS NULL AND suspension_origin IS NULL"), 2,
   'the accounts it suspended are not any more');
is(count("SELECT silenced_at FROM accounts WHERE id = $bob"), '2021-01-01 00:00:00', 'a silence it did not make stays');
is(count("SELECT suspended_at FROM accounts WHERE id = $eve"), '2020-01-01 00:00:00', 'a suspension it did not make stays');
ok($t->wait_for(sub { !suspended_flag($bob) }, 20), 'the API shows bob unsuspended');
my ($rc, undef, $err) = $t->worker_cli('domain-block', 'remove', '127.0.0.1');
is($rc, 1, 'removing it again: not blocked');

$t->done;
