# Timelines: home (the Redis feed, its rebuild from PostgreSQL, exact ids
# above 2^53), public (local, remote, only_media), hashtags (any, all,
# none), an account's statuses (every filter, every kind of viewer), their
# Link headers literally, limits, and paging while others post.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(status_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol');
my $dave = $t->user('dave');
my ($ha, $hb, $hc, $hd) = map { $t->bearer($_->{token}) } $alice, $bob, $carol, $dave;
my ($aid, $bid, $cid, $did) = map { $_->{account_id} } $alice, $bob, $carol, $dave;

my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, url)
    VALUES ('rem', 'remote.example', 'https://remote.example/users/rem', 'https://remote.example/@rem')
    RETURNING id});
$t->psql("INSERT INTO account_stats (account_id) VALUES ($remote)");

# post($account_id, %o) -> id: a status as the statuses endpoints write it
sub post {
    my ($account, %o) = @_;
    my $id = $o{id} // $t->psql("SELECT timestamp_id('statuses')");
    my $local = $account == $remote ? 'false' : 'true';
    my $uri = $account == $remote ? "'https://remote.example/statuses/$id'"
                                   : "'$base/users/x/statuses/$id'";
    my %col = (
        id => $id, account_id => $account, text => "'" . ($o{text} // "status $id") . "'",
        visibility => $o{visibility} // 0, local => $local, uri => $uri,
        reply => $o{in_reply_to_id} ? 'true' : 'false',
        in_reply_to_id => $o{in_reply_to_id} // 'NULL',
        in_reply_to_account_id => $o{in_reply_to_account_id} // 'NULL',
        reblog_of_id => $o{reblog_of_id} // 'NULL',
        language => defined $o{language} ? "'$o{language}'" : "'en'",
    );
    my @k = sort keys %col;
    $t->psql('WITH i AS (INSERT INTO statuses (' . join(', ', @k) . ') VALUES ('
        . join(', ', map { $col{$_} } @k) . ') RETURNING id)'
        . ' INSERT INTO status_stats (status_id) SELECT id FROM i') // die "post failed";
    for my $tag (@{ $o{tags} // [] }) {
        $t->psql("INSERT INTO tags (name) VALUES ('$tag') ON CONFLICT DO NOTHING");
        $t->psql("INSERT INTO statuses_tags (status_id, tag_id) SELECT $id, id FROM tags"
            . " WHERE lower(name) = lower('$tag')");
    }
    for my $who (@{ $o{mentions} // [] }) {
        $t->psql("INSERT INTO mentions (status_id, account_id) VALUES ($id, $who)");
    }
    return $id;
}

sub ids { [ map { $_->{id} } @{ $m->tx->res->json // [] } ] }

sub link_header { $m->tx->res->headers->header('Link') }

sub entities_ok {
    my ($what) = @_;
    my @errors = map { status_errors($_) } @{ $m->tx->res->json // [] };
    is_deeply(\@errors, [], "$what: Status entities") or diag explain \@errors;
}

sub follow {
    my ($who, $target, %o) = @_;
    $t->psql("INSERT INTO follows (account_id, target_account_id, show_reblogs, languages) VALUES"
        . " ($who, $target, " . ($o{show_reblogs} // 'true') . ', ' . ($o{languages} // 'NULL') . ')');
}

# ===== public ==============================================================================
my @pub;
my $a1 = post($aid);
my $a_unlisted = post($aid, visibility => 1);
my $a_private = post($aid, visibility => 2);
my $a_direct = post($aid, visibility => 3, mentions => [$cid]);
my $b1 = post($bid);
my $a_reply_b = post($aid, in_reply_to_id => $b1, in_reply_to_account_id => $bid);
my $a_self = post($aid, in_reply_to_id => $a1, in_reply_to_account_id => $aid);
my $b_reblog = post($bid, reblog_of_id => $a1);
my $r1 = post($remote);
my $a2 = post($aid);
@pub = ($a2, $r1, $a_self, $b1, $a1);

$m->get_ok('/api/v1/timelines/public')->status_is(200);
is_deeply(ids(), [@pub], 'public: public statuses, no reblogs, no replies but to oneself');
entities_ok('public');
is(link_header(), "<$base/api/v1/timelines/public?max_id=$a1>; rel=\"next\", "
    . "<$base/api/v1/timelines/public?min_id=$a2>; rel=\"prev\"", 'public: Link');

$m->get_ok('/api/v1/timelines/public?local=true&limit=2')->status_is(200);
is_deeply(ids(), [$a2, $a_self], 'local: local only, limit 2');
is(link_header(), "<$base/api/v1/timelines/public?limit=2&local=true&max_id=$a_self>; rel=\"next\", "
    . "<$base/api/v1/timelines/public?limit=2&local=true&min_id=$a2>; rel=\"prev\"",
    'local: Link keeps local and limit, sorted');
$m->get_ok("/api/v1/timelines/public?local=true&limit=2&max_id=$a_self")->status_is(200);
is_deeply(ids(), [$b1, $a1], 'local: the next page');

$m->get_ok('/api/v1/timelines/public?remote=1&only_media=false')->status_is(200);
is_deeply(ids(), [$r1], 'remote: remote only');
is(link_header(), "<$base/api/v1/timelines/public?max_id=$r1&only_media=false&remote=1>; rel=\"next\", "
    . "<$base/api/v1/timelines/public?min_id=$r1&only_media=false&remote=1>; rel=\"prev\"",
    'remote: Link keeps the parameters as given');
$m->get_ok('/api/v1/timelines/public?remote=true&local=true')->status_is(200);
is_deeply(ids(), [@pub], 'local and remote: everything');

$m->get_ok('/api/v1/timelines/public?only_media=true')->status_is(200)->content_is('[]');
ok(!defined link_header(), 'an empty page has no Link');
$t->psql("INSERT INTO media_attachments (status_id, account_id, type) VALUES ($b1, $bid, 0)");
$m->get_ok('/api/v1/timelines/public?only_media=true')->status_is(200);
is_deeply(ids(), [$b1], 'only_media: statuses with attachments');

$m->get_ok("/api/v1/timelines/public?min_id=$a1&limit=2")->status_is(200);
is_deeply(ids(), [$a_self, $b1], 'min_id: the oldest above it, newest first');
$m->get_ok("/api/v1/timelines/public?since_id=$a1&limit=2")->status_is(200);
is_deeply(ids(), [$a2, $r1], 'since_id: the newest above it');

# viewers: blocks, mutes, domain blocks, silenced accounts, chosen languages
$m->get_ok('/api/v1/timelines/public', $hc)->status_is(200);
is_deeply(ids(), [@pub], 'public with a token');
is($m->tx->res->json->[0]{favourited}, false, 'the viewer flags are there');
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($cid, $bid)");
$t->psql("INSERT INTO account_domain_blocks (account_id, domain) VALUES ($cid, 'remote.example')");
$m->get_ok('/api/v1/timelines/public', $hc)->status_is(200);
is_deeply(ids(), [$a2, $a_self, $a1], 'blocked accounts and domains are left out');
$m->get_ok('/api/v1/timelines/public', $hb)->status_is(200);
is_deeply(ids(), [@pub], 'the blocked one still sees the public timeline');
$t->psql("DELETE FROM blocks; DELETE FROM account_domain_blocks");
$t->psql("INSERT INTO mutes (account_id, target_account_id) VALUES ($cid, $aid)");
$m->get_ok('/api/v1/timelines/public', $hc)->status_is(200);
is_deeply(ids(), [$r1, $b1], 'muted accounts are left out');
$t->psql("DELETE FROM mutes");
$t->psql("UPDATE users SET chosen_languages = '{de}' WHERE account_id = $cid");
my $de = post($bid, language => 'de');
$m->get_ok('/api/v1/timelines/public', $hc)->status_is(200);
is_deeply(ids(), [$de], 'chosen languages');
$t->psql("UPDATE users SET chosen_languages = NULL WHERE account_id = $cid");
$t->psql("UPDATE accounts SET silenced_at = now() WHERE id = $bid");
$m->get_ok('/api/v1/timelines/public')->status_is(200);
is_deeply(ids(), [$a2, $r1, $a_self, $a1], 'silenced accounts are left out');
$t->psql("UPDATE accounts SET silenced_at = NULL WHERE id = $bid");
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $de");

# scopes
my $wtoken = $t->token(user_id => $carol->{user_id}, scopes => 'write');
$m->get_ok('/api/v1/timelines/public', $t->bearer($wtoken))->status_is(403)
  ->json_is('/error', 'This action is outside the authorized scopes');
$m->get_ok('/api/v1/timelines/public', $t->bearer('nonsense'))->status_is(401);

# limits: Mastodon's limit_param
$t->psql(qq{WITH i AS (INSERT INTO statuses (account_id, text, local, uri)
    SELECT $bid, 'bulk ' || n, true, 'bulk:' || n FROM generate_series(1, 45) n RETURNING id)
    INSERT INTO status_stats (status_id) SELECT id FROM i});
$m->get_ok('/api/v1/timelines/public?limit=100')->status_is(200);
is(scalar @{ ids() }, 40, 'limit: at most 40');
like(link_header(), qr/\?limit=100&max_id=/, 'the limit as given stays in the links');
$m->get_ok('/api/v1/timelines/public')->status_is(200);
is(scalar @{ ids() }, 20, 'limit: 20 by default');
$m->get_ok('/api/v1/timelines/public?limit=-3')->status_is(200);
is(scalar @{ ids() }, 3, 'limit: the absolute value');
$m->get_ok('/api/v1/timelines/public?limit=0')->status_is(200)->content_is('[]');
$m->get_ok('/api/v1/timelines/public?limit=abc')->status_is(200)->content_is('[]');
$t->psql("UPDATE statuses SET deleted_at = now() WHERE text LIKE 'bulk %'");

# ===== hashtags ============================================================================
my $cats = post($aid, tags => ['Cats']);
my $dogs = post($bid, tags => ['dogs']);
my $both = post($aid, tags => ['cats', 'dogs']);
my $rcats = post($remote, tags => ['cats']);
my $cats_reply = post($bid, tags => ['cats'], in_reply_to_id => $a1, in_reply_to_account_id => $aid);
my $cats_private = post($aid, tags => ['cats'], visibility => 2);

$m->get_ok('/api/v1/timelines/tag/cats')->status_is(200);
is_deeply(ids(), [$cats_reply, $rcats, $both, $cats], 'tag: public statuses with it, replies too');
entities_ok('tag');
is(link_header(), "<$base/api/v1/timelines/tag/cats?max_id=$cats>; rel=\"next\", "
    . "<$base/api/v1/timelines/tag/cats?min_id=$cats_reply>; rel=\"prev\"", 'tag: Link');
$m->get_ok('/api/v1/timelines/tag/CATS?local=true&limit=10&any[]=x')->status_is(200);
is_deeply(ids(), [$cats_reply, $both, $cats], 'tag: case-insensitive, local');
is(link_header(), "<$base/api/v1/timelines/tag/CATS?limit=10&local=true&max_id=$cats>; rel=\"next\", "
    . "<$base/api/v1/timelines/tag/CATS?limit=10&local=true&min_id=$cats_reply>; rel=\"prev\"",
    'tag: Link keeps local and limit, not any[]');
$m->get_ok('/api/v1/timelines/tag/cats?remote=true')->status_is(200);
is_deeply(ids(), [$rcats], 'tag: remote');
$m->get_ok('/api/v1/timelines/tag/cats?any[]=dogs')->status_is(200);
is_deeply(ids(), [$cats_reply, $rcats, $both, $dogs, $cats], 'tag: any');
$m->get_ok('/api/v1/timelines/tag/cats?any=dogs')->status_is(200);
is_deeply(ids(), [$cats_reply, $rcats, $both, $dogs, $cats], 'tag: any as one value');
$m->get_ok('/api/v1/timelines/tag/cats?all[]=DOGS')->status_is(200);
is_deeply(ids(), [$both], 'tag: all');
$m->get_ok('/api/v1/timelines/tag/cats?none[]=dogs')->status_is(200);
is_deeply(ids(), [$cats_reply, $rcats, $cats], 'tag: none');
$m->get_ok('/api/v1/timelines/tag/cats?all[]=nosuchtag')->status_is(200);
is(scalar @{ ids() }, 4, 'tag: unknown tags in all are ignored, as Mastodon');
$m->get_ok('/api/v1/timelines/tag/nosuchtag?any[]=cats')->status_is(200)->content_is('[]');
$m->get_ok('/api/v1/timelines/tag/cats?only_media=1')->status_is(200)->content_is('[]');
$m->get_ok('/api/v1/timelines/tag/cats', $hc)->status_is(200);
is(scalar @{ ids() }, 4, 'tag with a token: the private one is not there');
# the tag alone walks statuses_tags page by page: the same pages as the
# statement for several tags ("any" naming a tag nobody used)
for my $q ("max_id=$both", "since_id=$both", "min_id=$cats&limit=2", "max_id=$cats_reply&since_id=$cats",
           "limit=1", "max_id=$cats") {
    $m->get_ok("/api/v1/timelines/tag/cats?$q&any[]=nosuchtag")->status_is(200);
    my $many = ids();
    $m->get_ok("/api/v1/timelines/tag/cats?$q")->status_is(200);
    is_deeply(ids(), $many, "tag alone, $q: the page as with any[]");
}
$m->get_ok("/api/v1/timelines/tag/cats?min_id=$cats&limit=2")->status_is(200);
is_deeply(ids(), [$rcats, $both], 'tag alone, min_id: the oldest after it, newest first');
$m->get_ok("/api/v1/timelines/tag/cats?max_id=$cats")->status_is(200)->content_is('[]');

# ===== an account's statuses ===============================================================
$t->psql("DELETE FROM statuses WHERE account_id = $aid AND id IN ($cats, $both, $cats_private)");
my $b2 = post($bid);
my $a_reblog = post($aid, reblog_of_id => $b2);
my $a_tagged = post($aid, tags => ['cats']);
$t->psql("INSERT INTO status_pins (account_id, status_id) VALUES ($aid, $a1), ($aid, $a_unlisted)");
$t->psql("INSERT INTO media_attachments (status_id, account_id, type) VALUES ($a_self, $aid, 0)");
my @mine = ($a_tagged, $a_reblog, $a2, $a_self, $a_reply_b, $a_direct, $a_private, $a_unlisted, $a1);
my %vis = ($a_direct => 3, $a_private => 2, $a_unlisted => 1);
my @public = grep { ($vis{$_} // 0) < 2 } @mine;

$m->get_ok("/api/v1/accounts/$aid/statuses")->status_is(200);
is_deeply(ids(), \@public, 'anonymous: public and unlisted');
entities_ok('account statuses');
is(link_header(), "<$base/api/v1/accounts/$aid/statuses?min_id=$a_tagged>; rel=\"prev\"",
    'not a full page: no next link');
$m->get_ok("/api/v1/accounts/$aid/statuses", $hd)->status_is(200);
is_deeply(ids(), \@public, 'a stranger: public and unlisted');
$m->get_ok("/api/v1/accounts/$aid/statuses", $hc)->status_is(200);
is_deeply(ids(), [grep { $_ != $a_private } @mine], 'mentioned: the direct one too');
follow($cid, $aid);
$m->get_ok("/api/v1/accounts/$aid/statuses", $hc)->status_is(200);
is_deeply(ids(), \@mine, 'a mentioned follower: everything');
$m->get_ok("/api/v1/accounts/$aid/statuses", $hd)->status_is(200);
is_deeply(ids(), \@public, 'still public and unlisted for the stranger');
follow($did, $aid);
$m->get_ok("/api/v1/accounts/$aid/statuses", $hd)->status_is(200);
is_deeply(ids(), [grep { $_ != $a_direct } @mine], 'a follower: private too');
$m->get_ok("/api/v1/accounts/$aid/statuses", $ha)->status_is(200);
is_deeply(ids(), \@mine, 'the author: everything');

$m->get_ok("/api/v1/accounts/$aid/statuses?exclude_replies=true", $ha)->status_is(200);
is_deeply(ids(), [grep { $_ != $a_reply_b } @mine], 'exclude_replies (self-replies stay)');
$m->get_ok("/api/v1/accounts/$aid/statuses?exclude_reblogs=true", $ha)->status_is(200);
is_deeply(ids(), [grep { $_ != $a_reblog } @mine], 'exclude_reblogs');
$m->get_ok("/api/v1/accounts/$aid/statuses?only_media=true")->status_is(200);
is_deeply(ids(), [$a_self], 'only_media');
$m->get_ok("/api/v1/accounts/$aid/statuses?pinned=true")->status_is(200);
is_deeply(ids(), [$a_unlisted, $a1], 'pinned: newest pin first');
$m->get_ok("/api/v1/accounts/$aid/statuses?tagged=CATS")->status_is(200);
is_deeply(ids(), [$a_tagged], 'tagged');
$m->get_ok("/api/v1/accounts/$aid/statuses?tagged=nosuchtag")->status_is(200)->content_is('[]');

$m->get_ok("/api/v1/accounts/$aid/statuses?limit=2&exclude_replies=true&pinned=false", $ha)->status_is(200);
is_deeply(ids(), [$a_tagged, $a_reblog], 'a page of 2');
is(link_header(), "<$base/api/v1/accounts/$aid/statuses?exclude_replies=true&limit=2&max_id=$a_reblog"
    . "&pinned=false>; rel=\"next\", <$base/api/v1/accounts/$aid/statuses?exclude_replies=true&limit=2"
    . "&min_id=$a_tagged&pinned=false>; rel=\"prev\"", 'a full page: next and prev, sorted');
$m->get_ok("/api/v1/accounts/$aid/statuses?limit=2&min_id=$a_self", $ha)->status_is(200);
is_deeply(ids(), [$a_reblog, $a2], 'min_id: the oldest above it, newest first');

# reblogs of accounts the viewer blocks or mutes
$t->psql("INSERT INTO mutes (account_id, target_account_id) VALUES ($did, $bid)");
$m->get_ok("/api/v1/accounts/$aid/statuses", $hd)->status_is(200);
is_deeply(ids(), [grep { $_ != $a_direct && $_ != $a_reblog } @mine], 'reblogs of muted accounts are left out');
$t->psql("DELETE FROM mutes");

# blocked, hidden, suspended, unknown
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($aid, $did)");
$m->get_ok("/api/v1/accounts/$aid/statuses", $hd)->status_is(200)->content_is('[]');
$t->psql("DELETE FROM blocks");
my $pending = $t->user('pending', confirmed => 0);
post($pending->{account_id});
$m->get_ok("/api/v1/accounts/$pending->{account_id}/statuses")->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok('/api/v1/accounts/123456/statuses')->status_is(404);
$m->get_ok('/api/v1/accounts/abc/statuses')->status_is(404);
my $susp = $t->user('susp');
post($susp->{account_id});
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $susp->{account_id}");
$m->get_ok("/api/v1/accounts/$susp->{account_id}/statuses")->status_is(200)->content_is('[]');

# ===== home ================================================================================
my $erin = $t->user('erin');
my $he = $t->bearer($erin->{token});
my $eid = $erin->{account_id};
my $feed = "mastodon:feed:home:$eid";

$m->get_ok('/api/v1/timelines/home')->status_is(401);
$m->get_ok('/api/v1/timelines/home', $t->bearer($t->token))->status_is(422)
  ->json_is('/error', 'This method requires an authenticated user');
$m->get_ok('/api/v1/timelines/home', $t->bearer($wtoken))->status_is(403);

# a feed the worker filled
my $e1 = post($eid);
my $e2 = post($eid, visibility => 3);
$t->redis('ZADD', $feed, 0, 0, $e1, $e1, $b1, $b1, $a2, $a2, $e2, $e2);
$m->get_ok('/api/v1/timelines/home', $he)->status_is(200);
is_deeply(ids(), [sort { $b <=> $a } $e1, $b1, $a2, $e2], 'home: the feed, newest first');
entities_ok('home');
is(link_header(), "<$base/api/v1/timelines/home?max_id=$b1>; rel=\"next\", "
    . "<$base/api/v1/timelines/home?min_id=$e2>; rel=\"prev\"", 'home: Link');
$m->get_ok('/api/v1/timelines/home?limit=2&local=true&only_media=1', $he)->status_is(200);
is_deeply(ids(), [$e2, $e1], 'home: limit');
is(link_header(), "<$base/api/v1/timelines/home?limit=2&local=true&max_id=$e1>; rel=\"next\", "
    . "<$base/api/v1/timelines/home?limit=2&local=true&min_id=$e2>; rel=\"prev\"",
    'home: Link keeps limit and local only');
$m->get_ok("/api/v1/timelines/home?min_id=$b1&limit=2", $he)->status_is(200);
is_deeply(ids(), [$e1, $a2], 'home: min_id');
$m->get_ok("/api/v1/timelines/home?since_id=$b1&limit=2", $he)->status_is(200);
is_deeply(ids(), [$e2, $e1], 'home: since_id');
$m->get_ok("/api/v1/timelines/home?since_id=$e2", $he)->status_is(200)->content_is('[]');
ok(!defined link_header(), 'home: no Link on an empty page');

# deleted statuses are skipped, the page is not refilled (Mastodon).  The
# deletion is made here behind the writers' back, so it is announced as
# every deleting writer does (the render cache's forget): warm reads take
# the viewer's facts from the cache, not from PostgreSQL
my $home2 = sub { join ',', map { $_->{id} } @{ $m->ua->get('/api/v1/timelines/home?limit=2' => $he)
                                                 ->result->json // [] } };
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $e1");
$t->redis('PUBLISH', 'mastodon:cache:forget', "status $e1");
ok($t->wait_for(sub { $home2->() eq $e2 }), 'home: the deletion announced');
$m->get_ok('/api/v1/timelines/home?limit=2', $he)->status_is(200);
is_deeply(ids(), [$e2], 'home: a deleted status is skipped');
$t->psql("UPDATE statuses SET deleted_at = NULL WHERE id = $e1");
$t->redis('PUBLISH', 'mastodon:cache:forget', "status $e1");
ok($t->wait_for(sub { $home2->() eq "$e2,$e1" }), 'home: and its undoing');

# the rebuild: erin follows alice (reblogs hidden) and bob (English only)
follow($eid, $aid, show_reblogs => 'false');
follow($eid, $bid, languages => q{'{en}'});
my $b_de = post($bid, language => 'de');
my $b_other_reply = post($bid, in_reply_to_id => $r1, in_reply_to_account_id => $remote);
my $b_reply_a = post($bid, in_reply_to_id => $a1, in_reply_to_account_id => $aid);
my $b_private = post($bid, visibility => 2);
my $b_direct = post($bid, visibility => 3, mentions => [$eid]);
my $b_rb_remote = post($bid, reblog_of_id => $r1);
my $b_rb_remote2 = post($bid, reblog_of_id => $r1);
my $a_rb = post($aid, reblog_of_id => $r1);
my $d1 = post($did);
$t->redis('DEL', $feed);

my $live = $t->psql("SELECT string_agg(id::text, ',' ORDER BY id DESC) FROM statuses WHERE deleted_at IS NULL"
    . " AND account_id IN ($aid, $bid, $eid)");
# left out: other languages, replies to strangers, direct, a second reblog of
# one status, reblogs of someone with show_reblogs off, reblogs of a status
# in the feed; kept: private statuses, replies to followed accounts
my %skip = map { $_ => 1 } ($b_de, $b_other_reply, $b_direct, $b_rb_remote2, $a_rb, $a_direct,
    $a_reblog, $b_reblog);
my @expect = grep { !$skip{$_} } split /,/, $live;

$m->get_ok('/api/v1/timelines/home?limit=40', $he)->status_is(200);
is_deeply(ids(), [@expect[0 .. ($#expect > 39 ? 39 : $#expect)]], 'home: rebuilt from PostgreSQL')
    or diag explain { got => ids(), expect => \@expect };
is($t->redis('ZSCORE', $feed, '0'), '0', 'the sentinel is back');
cmp_ok(abs($t->redis('ZSCORE', "$feed:reblogs", $r1) - $b_rb_remote), '<', 64, 'the first reblog is tracked');
my $rebuilt = ids();
$t->redis('DEL', $feed);
$m->get_ok('/api/v1/timelines/home?limit=40', $he)->status_is(200);
is_deeply(ids(), $rebuilt, 'rebuilt again: the same');

# feed_max
$t->redis('DEL', $feed);
$t->reconfigure_nginx(http_config => 'mastodon_feed_max 5;');
my $n;
for (1 .. 50) {           # until the old workers are gone
    $t->redis('DEL', $feed);
    $n = scalar @{ $t->ua->get('/api/v1/timelines/home?limit=40' => $he)->result->json };
    last if $n == 5;
    select undef, undef, undef, 0.1;
}
is($n, 5, 'mastodon_feed_max 5: five statuses');
is($t->redis('ZCARD', $feed), 6, 'five and the sentinel in Redis');
$t->reconfigure_nginx(http_config => '');
$t->redis('DEL', $feed);

# ids above 2^53 that share a score: exact pages of one
my $top = $t->psql("SELECT timestamp_id('statuses')");
my @close = map { post($eid, id => $top + $_) } 0 .. 6;
$m->get_ok('/api/v1/timelines/home?limit=1', $he)->status_is(200);
is_deeply(ids(), [$close[-1]], 'the newest');
my @walk = @{ ids() };
for (1 .. 6) {
    $m->get_ok("/api/v1/timelines/home?limit=1&max_id=$walk[-1]", $he)->status_is(200);
    push @walk, @{ ids() };
}
is_deeply(\@walk, [reverse @close], 'walking one by one through ids with one score');
$m->get_ok("/api/v1/timelines/home?limit=3&min_id=$close[1]", $he)->status_is(200);
is_deeply(ids(), [reverse @close[2 .. 4]], 'min_id between equal scores');
$m->get_ok("/api/v1/timelines/home?max_id=$close[4]&since_id=$close[1]", $he)->status_is(200);
is_deeply(ids(), [reverse @close[2 .. 3]], 'max_id and since_id between equal scores');

# paging while others post: no duplicates, no gaps
sub walk {
    my ($posting) = @_;
    my (@seen, $url);
    $url = '/api/v1/timelines/home?limit=3';
    while (1) {
        $m->get_ok($url, $he)->status_is(200);
        my $page = ids();
        last unless @$page;
        push @seen, @$page;
        if ($posting) {
            my $new = post($aid);              # the worker's fan-out, by hand
            $t->redis('ZADD', $feed, $new, $new);
        }
        my $next = $t->links($m->tx)->{next} or last;
        $url = $t->path_of($next);
    }
    return \@seen;
}
my $before = walk(0);
cmp_ok(scalar @$before, '>', 20, 'a long feed');
is_deeply(walk(1), $before, 'walked to the end while others post: the same statuses, once each');

$t->done;
