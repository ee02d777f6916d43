# Notifications as Mastodon 4.3 serves them: GET /api/v1/notifications (types[],
# exclude_types[], account_id, include_filtered, pagination and its Link header),
# /:id, /unread_count with the notifications marker, /clear, /:id/dismiss; GET
# /api/v2/notifications (groups: counts, sample accounts, page bounds,
# grouped_types[], expand_accounts), /:group_key, /unread_count, /:group_key/dismiss.
# Rows are inserted with SQL, one of each type; senders the user blocks or mutes
# with notifications hidden are left out, as are suspended ones.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my %u = map { $_ => $t->user($_) } qw(bob alice carol dave erin mallory muted soft sus);
my $bob = $u{bob};
my $hb = $t->bearer($bob->{token});
my $me = $bob->{account_id};
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub post_status {
    my ($who, $text, %o) = @_;
    my $tx = $t->ua->post('/api/v1/statuses' => $t->bearer($u{$who}{token}) =>
        form => { status => $text, visibility => $o{visibility} // 'public' });
    die 'post failed: ' . $tx->res->body unless $tx->res->code == 200;
    return $tx->res->json->{id};
}

# statuses: bob's own (favourited and reblogged), alice's mention of bob, carol's
my $s1 = post_status('bob', 'my post');
my $s2 = post_status('alice', 'hello @bob');
my $s3 = post_status('carol', 'news from carol');
my $smuted = post_status('muted', 'psst @bob');
my $ssoft = post_status('soft', 'hey @bob');
my $sfilt = post_status('erin', 'spam @bob');
my $mention = $t->psql("SELECT id FROM mentions WHERE status_id = $s2 AND account_id = $me");
my $mention_muted = $t->psql("SELECT id FROM mentions WHERE status_id = $smuted");
my $mention_soft = $t->psql("SELECT id FROM mentions WHERE status_id = $ssoft");
my $mention_filt = $t->psql("SELECT id FROM mentions WHERE status_id = $sfilt");
ok($mention && $mention_muted && $mention_soft && $mention_filt, 'mentions rows');

sub fav {
    my ($who) = @_;
    return $t->psql("INSERT INTO favourites (account_id, status_id) VALUES ($id{$who}, $s1) RETURNING id");
}

sub reblog {
    my ($who) = @_;
    return $t->psql("INSERT INTO statuses (account_id, reblog_of_id, local, uri, visibility)"
        . " VALUES ($id{$who}, $s1, true, 'x-$who', 0) RETURNING id");
}

sub follow_row {
    my ($who) = @_;
    return $t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($id{$who}, $me) RETURNING id");
}

my $bucket = int(time / 3600);
my %n;      # name => notification id

sub notif {
    my ($name, $from, $atype, $aid, $type, $gkey, %o) = @_;
    my $g = defined $gkey ? "'$gkey'" : 'NULL';
    my $f = $o{filtered} ? 'true' : 'false';
    $n{$name} = $t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id,"
        . " type, group_key, filtered, created_at)"
        . " VALUES ($me, $id{$from}, '$atype', $aid, '$type', $g, $f, now() AT TIME ZONE 'UTC') RETURNING id");
    return $n{$name};
}

my $fr = $t->psql("INSERT INTO follow_requests (account_id, target_account_id) VALUES ($id{dave}, $me) RETURNING id");
notif(follow_alice   => 'alice', 'Follow', follow_row('alice'), 'follow', "follow-$bucket");
notif(follow_carol   => 'carol', 'Follow', follow_row('carol'), 'follow', "follow-$bucket");
notif(request_dave   => 'dave', 'FollowRequest', $fr, 'follow_request', undef);
notif(mention_alice  => 'alice', 'Mention', $mention, 'mention', undef);
notif(fav_alice      => 'alice', 'Favourite', fav('alice'), 'favourite', "favourite-$s1-$bucket");
notif(fav_carol      => 'carol', 'Favourite', fav('carol'), 'favourite', "favourite-$s1-$bucket");
notif(fav_dave       => 'dave', 'Favourite', fav('dave'), 'favourite', "favourite-$s1-$bucket");
notif(reblog_alice   => 'alice', 'Status', reblog('alice'), 'reblog', "reblog-$s1-$bucket");
notif(reblog_carol   => 'carol', 'Status', reblog('carol'), 'reblog', "reblog-$s1-$bucket");
notif(status_carol   => 'carol', 'Status', $s3, 'status', undef);
notif(update_carol   => 'carol', 'Status', $s3, 'update', undef);
notif(fav_mallory    => 'mallory', 'Favourite', fav('mallory'), 'favourite', "favourite-$s1-$bucket");
notif(mention_muted  => 'muted', 'Mention', $mention_muted, 'mention', undef);
notif(mention_soft   => 'soft', 'Mention', $mention_soft, 'mention', undef);
notif(mention_filt   => 'erin', 'Mention', $mention_filt, 'mention', undef, filtered => 1);
notif(fav_sus        => 'sus', 'Favourite', fav('sus'), 'favourite', "favourite-$s1-$bucket");

$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($me, $id{mallory})");
$t->psql("INSERT INTO mutes (account_id, target_account_id, hide_notifications) VALUES ($me, $id{muted}, true)");
$t->psql("INSERT INTO mutes (account_id, target_account_id, hide_notifications) VALUES ($me, $id{soft}, false)");
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $id{sus}");

# another user's notification, never shown to bob
my $other = $t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type)"
    . " VALUES ($id{alice}, $me, 'Follow', 1, 'follow') RETURNING id");

# newest first: what bob sees
my @shown = qw(mention_soft update_carol status_carol reblog_carol reblog_alice fav_dave fav_carol
               fav_alice mention_alice request_dave follow_carol follow_alice);

sub ids_of { [map { $n{$_} } @_] }

sub get {
    my ($url, $h) = @_;
    my $tx = $t->ua->get($url => ($h // $hb));
    return $tx;
}

# --- v1: the list --------------------------------------------------------------------
my $tx = get('/api/v1/notifications');
is($tx->res->code, 200, 'GET /api/v1/notifications');
my $list = $tx->res->json;
is_deeply([map { $_->{id} } @$list], ids_of(@shown),
    'every type, newest first; blocked, hidden-muted, suspended and filtered senders left out')
  or diag explain [map { "$_->{id} $_->{type}" } @$list];

my %by = map { $_->{id} => $_ } @$list;
for my $name (@shown) {
    my $x = $by{ $n{$name} };
    my @e = status_errors($x, 'Notification');
    is_deeply(\@e, [], "$name is a Notification") or diag explain \@e;
}
my $x = $by{ $n{fav_alice} };
is_deeply([sort keys %$x], [sort qw(id type created_at group_key account status)], 'favourite: its keys');
is($x->{type}, 'favourite');
is($x->{group_key}, "favourite-$s1-$bucket", 'the stored group key');
like($x->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at');
is($x->{account}{id}, $id{alice}, 'account: the sender');
is($x->{status}{id}, $s1, 'status: the favourited one');
is($x->{status}{account}{id}, $me, 'with its author');
is($x->{status}{favourited}, false, "with the viewer's flags");
is($by{ $n{reblog_alice} }{status}{id}, $s1, 'reblog: the reblogged status');
is($by{ $n{mention_alice} }{status}{id}, $s2, 'mention: the mentioning status');
is($by{ $n{status_carol} }{status}{id}, $s3, 'status: the status');
is($by{ $n{update_carol} }{status}{id}, $s3, 'update: the status');
is($by{ $n{mention_alice} }{group_key}, "ungrouped-$n{mention_alice}", 'no stored key: ungrouped-<id>');
is($by{ $n{follow_alice} }{group_key}, "follow-$bucket");
ok(!exists $by{ $n{follow_alice} }{status}, 'follow: no status');
ok(!exists $by{ $n{request_dave} }{status}, 'follow_request: no status');
ok(!exists $by{ $n{fav_alice} }{filtered}, 'filtered only when true');

# --- filters --------------------------------------------------------------------------
sub ids { my ($url) = @_; my $tx = get($url); is($tx->res->code, 200, "GET $url"); [map { $_->{id} } @{ $tx->res->json }] }

is_deeply(ids('/api/v1/notifications?types[]=favourite'), ids_of(qw(fav_dave fav_carol fav_alice)), 'types[]');
is_deeply(ids('/api/v1/notifications?types[]=follow&types[]=follow_request'),
    ids_of(qw(request_dave follow_carol follow_alice)), 'types[] twice');
is_deeply(ids('/api/v1/notifications?types=favourite'), ids_of(@shown), 'types not an array: ignored, as Rails permits');
is_deeply(ids('/api/v1/notifications?types[]=nonsense'), [], 'unknown types only: nothing');
is_deeply(ids('/api/v1/notifications?exclude_types[]=favourite&exclude_types[]=reblog&exclude_types[]=mention'),
    ids_of(qw(update_carol status_carol request_dave follow_carol follow_alice)), 'exclude_types[]');
is_deeply(ids('/api/v1/notifications?types[]=mention&exclude_types[]=mention'), [], 'types minus exclude_types');
is_deeply(ids("/api/v1/notifications?account_id=$id{carol}"),
    ids_of(qw(update_carol status_carol reblog_carol fav_carol follow_carol)), 'account_id');
is_deeply(ids("/api/v1/notifications?account_id=$id{erin}"), ids_of(qw(mention_filt)),
    'account_id shows filtered ones too (browserable)');
is_deeply(ids('/api/v1/notifications?include_filtered=true&types[]=mention'),
    ids_of(qw(mention_filt mention_soft mention_alice)), 'include_filtered');
$tx = get("/api/v1/notifications/$n{mention_filt}");
is($tx->res->json->{filtered}, true, 'filtered: true when it is');

# --- pagination and Link ----------------------------------------------------------------
$tx = get('/api/v1/notifications?limit=5');
is_deeply([map { $_->{id} } @{ $tx->res->json }], ids_of(@shown[0 .. 4]), 'limit=5');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/notifications?limit=5&max_id=$n{$shown[4]}>; rel=\"next\", "
    . "<$base/api/v1/notifications?limit=5&min_id=$n{$shown[0]}>; rel=\"prev\"",
    'Link as Mastodon writes it');
my @walk;
my $url = '/api/v1/notifications?limit=5';
while ($url) {
    $tx = get($url);
    my @page = map { $_->{id} } @{ $tx->res->json };
    last unless @page;
    push @walk, @page;
    last if @walk > @shown;      # a next link that never ends: the comparison below fails
    my $next = $t->links($tx)->{next};
    $url = $next && $t->path_of($next);
}
is_deeply(\@walk, ids_of(@shown), 'walking next links: every notification once');

$tx = get("/api/v1/notifications?limit=3&min_id=$n{follow_alice}");
is_deeply([map { $_->{id} } @{ $tx->res->json }], ids_of(qw(mention_alice request_dave follow_carol)),
    'min_id: the oldest above it, newest first');
is($tx->res->headers->header('Link'),
    "<$base/api/v1/notifications?limit=3&max_id=$n{follow_carol}>; rel=\"next\", "
    . "<$base/api/v1/notifications?limit=3&min_id=$n{mention_alice}>; rel=\"prev\"", 'min_id page Link');
is_deeply(ids("/api/v1/notifications?since_id=$n{reblog_carol}"), ids_of(qw(mention_soft update_carol status_carol)),
    'since_id');
is_deeply(ids("/api/v1/notifications?max_id=$n{fav_alice}&limit=2"), ids_of(qw(mention_alice request_dave)), 'max_id');

$tx = get("/api/v1/notifications?types[]=favourite&exclude_types[]=mention&account_id=$id{alice}&limit=1");
is($tx->res->headers->header('Link'),
    "<$base/api/v1/notifications?account_id=$id{alice}&exclude_types%5B%5D=mention&limit=1&max_id=$n{fav_alice}"
    . "&types%5B%5D=favourite>; rel=\"next\", "
    . "<$base/api/v1/notifications?account_id=$id{alice}&exclude_types%5B%5D=mention&limit=1&min_id=$n{fav_alice}"
    . "&types%5B%5D=favourite>; rel=\"prev\"", 'Link keeps the filters, sorted as Hash#to_query');
$tx = get('/api/v1/notifications?types[]=nonsense');
is($tx->res->headers->header('Link'), undef, 'an empty page: no Link');
is(scalar @{ get('/api/v1/notifications?limit=200')->res->json }, scalar @shown, 'limit=200: every one');
is(scalar @{ get('/api/v1/notifications?limit=-2')->res->json }, 2, 'limit: to_i.abs');

# --- show, dismiss, unread_count, clear --------------------------------------------------
$m->get_ok("/api/v1/notifications/$n{fav_carol}", $hb)->status_is(200)
  ->json_is('/id', $n{fav_carol})->json_is('/type', 'favourite')->json_is('/account/id', $id{carol})
  ->json_is('/status/id', $s1);
$m->get_ok("/api/v1/notifications/$other", $hb)->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok("/api/v1/notifications/$n{fav_sus}", $hb)->status_is(404, 'from a suspended account: not found');
$m->get_ok("/api/v1/notifications/$n{fav_mallory}", $hb)->status_is(404, 'from a blocked account: not found');
$m->get_ok('/api/v1/notifications/abc', $hb)->status_is(404);

$m->get_ok('/api/v1/notifications/unread_count', $hb)->status_is(200)->json_is('', { count => scalar @shown });
$t->psql("INSERT INTO markers (user_id, timeline, last_read_id) VALUES ($bob->{user_id}, 'notifications', $n{fav_dave})");
$m->get_ok('/api/v1/notifications/unread_count', $hb)->status_is(200)->json_is('/count', 5, 'above the marker');
$m->get_ok('/api/v1/notifications/unread_count?limit=2', $hb)->json_is('/count', 2, 'limit');
$m->get_ok('/api/v1/notifications/unread_count?types[]=reblog', $hb)->json_is('/count', 2, 'types[]');
$m->get_ok("/api/v1/notifications/unread_count?account_id=$id{carol}", $hb)->json_is('/count', 3, 'account_id');
$t->psql("INSERT INTO markers (user_id, timeline, last_read_id) VALUES ($bob->{user_id}, 'home', 999999999999)");
$m->get_ok('/api/v1/notifications/unread_count', $hb)->json_is('/count', 5, 'the home marker does not count');

# --- scopes --------------------------------------------------------------------------
my $ro = $t->token(user_id => $bob->{user_id}, scopes => 'read:notifications');
my $wo = $t->token(user_id => $bob->{user_id}, scopes => 'write:notifications');
my $rs = $t->token(user_id => $bob->{user_id}, scopes => 'read:statuses');
$m->get_ok('/api/v1/notifications', $t->bearer($ro))->status_is(200);
$m->get_ok('/api/v2/notifications', $t->bearer($ro))->status_is(200);
$m->get_ok('/api/v1/notifications', $t->bearer($rs))->status_is(403);
$m->get_ok('/api/v1/notifications', $t->bearer($wo))->status_is(403);
$m->post_ok("/api/v1/notifications/$n{fav_alice}/dismiss", $t->bearer($ro))->status_is(403);
$m->post_ok('/api/v1/notifications/clear', $t->bearer($ro))->status_is(403);
$m->get_ok('/api/v1/notifications')->status_is(401);
my $app = $t->token(user_id => undef);
$m->get_ok('/api/v1/notifications', $t->bearer($app))->status_is(422, 'an app token: require_user!');

# --- v2: groups ------------------------------------------------------------------------
$tx = get('/api/v2/notifications');
is($tx->res->code, 200, 'GET /api/v2/notifications');
my $g = $tx->res->json;
my @e = entity_errors($g, 'GroupedNotificationsResults');
@e = grep { !/^Status\.text: missing|statuses\[\d+\]\.text: missing/ } @e;
is_deeply(\@e, [], 'GroupedNotificationsResults') or diag explain \@e;
for my $group (@{ $g->{notification_groups} }) {
    my @ge = entity_errors($group, 'NotificationGroup');
    is_deeply(\@ge, [], "NotificationGroup $group->{group_key}") or diag explain \@ge;
}
ok(!exists $g->{partial_accounts}, 'no partial_accounts unless asked');
my @keys = map { $_->{group_key} } @{ $g->{notification_groups} };
is_deeply(\@keys, ["ungrouped-$n{mention_soft}", "ungrouped-$n{update_carol}", "ungrouped-$n{status_carol}",
    "reblog-$s1-$bucket", "favourite-$s1-$bucket", "ungrouped-$n{mention_alice}", "ungrouped-$n{request_dave}",
    "follow-$bucket"], 'one entry per group, by its newest notification') or diag explain \@keys;
my %grp = map { $_->{group_key} => $_ } @{ $g->{notification_groups} };

my $fg = $grp{"favourite-$s1-$bucket"};
is($fg->{type}, 'favourite');
is($fg->{notifications_count}, 3, 'three favourites (not the blocked or suspended senders\')');
is_deeply($fg->{sample_account_ids}, [$id{dave}, $id{carol}, $id{alice}], 'sample accounts, newest first');
is($fg->{most_recent_notification_id}, $n{fav_dave}, 'most_recent_notification_id');
is($fg->{page_max_id}, $n{fav_dave}, 'page_max_id');
is($fg->{page_min_id}, $n{fav_alice}, 'page_min_id');
like($fg->{latest_page_notification_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'latest_page_notification_at');
is($fg->{status_id}, $s1, 'status_id');
my $rg = $grp{"reblog-$s1-$bucket"};
is($rg->{notifications_count}, 2);
is_deeply($rg->{sample_account_ids}, [$id{carol}, $id{alice}]);
is($rg->{status_id}, $s1, 'reblog: the original');
my $follows = $grp{"follow-$bucket"};
is($follows->{notifications_count}, 2, 'follows grouped');
ok(!exists $follows->{status_id}, 'follow: no status_id');
my $ug = $grp{"ungrouped-$n{mention_alice}"};
is($ug->{notifications_count}, 1);
is($ug->{most_recent_notification_id}, $n{mention_alice});
is($ug->{page_min_id}, $n{mention_alice});
is($ug->{page_max_id}, $n{mention_alice});
is_deeply($ug->{sample_account_ids}, [$id{alice}]);
is($ug->{status_id}, $s2);
is_deeply([map { $_->{id} } @{ $g->{accounts} }], [$id{soft}, $id{carol}, $id{alice}, $id{dave}],
    'accounts: every sample account once, in order');
is_deeply([map { $_->{id} } @{ $g->{statuses} }], [$ssoft, $s3, $s1, $s2], 'statuses once each, in order');
@e = entity_errors($g->{accounts}[0], 'Account');
is_deeply(\@e, [], 'accounts are Accounts') or diag explain \@e;
is($tx->res->headers->header('Link'),
    "<$base/api/v2/notifications?max_id=$n{follow_carol}>; rel=\"next\", "
    . "<$base/api/v2/notifications?min_id=$n{mention_soft}>; rel=\"prev\"", 'v2 Link: the page\'s bounds');

# grouped_types
$tx = get('/api/v2/notifications?grouped_types[]=favourite');
@keys = map { $_->{group_key} } @{ $tx->res->json->{notification_groups} };
is(scalar(grep { $_ eq "favourite-$s1-$bucket" } @keys), 1, 'grouped_types: favourites grouped');
ok(!(grep { /^reblog-/ } @keys), 'reblogs not grouped') or diag explain \@keys;
is(scalar(grep { $_ eq "ungrouped-$n{reblog_alice}" } @keys), 1, 'each reblog its own group');
is($tx->res->headers->header('Link') =~ /grouped_types%5B%5D=favourite/ ? 1 : 0, 1, 'Link keeps grouped_types[]');

# types, exclude_types
$tx = get('/api/v2/notifications?types[]=favourite&types[]=follow');
is_deeply([map { $_->{group_key} } @{ $tx->res->json->{notification_groups} }],
    ["favourite-$s1-$bucket", "follow-$bucket"], 'v2 types[]');
$tx = get('/api/v2/notifications?exclude_types[]=favourite&exclude_types[]=mention&exclude_types[]=reblog'
    . '&exclude_types[]=status&exclude_types[]=update');
is_deeply([map { $_->{group_key} } @{ $tx->res->json->{notification_groups} }],
    ["ungrouped-$n{request_dave}", "follow-$bucket"], 'v2 exclude_types[]');

# paging by groups
$tx = get('/api/v2/notifications?limit=4');
@keys = map { $_->{group_key} } @{ $tx->res->json->{notification_groups} };
is_deeply(\@keys, ["ungrouped-$n{mention_soft}", "ungrouped-$n{update_carol}", "ungrouped-$n{status_carol}",
    "reblog-$s1-$bucket"], 'limit counts groups');
is($tx->res->headers->header('Link'),
    "<$base/api/v2/notifications?limit=4&max_id=$n{reblog_carol}>; rel=\"next\", "
    . "<$base/api/v2/notifications?limit=4&min_id=$n{mention_soft}>; rel=\"prev\"", 'v2 Link with limit');
my $rg4 = $tx->res->json->{notification_groups}[3];
is($rg4->{page_min_id}, $n{reblog_carol}, 'a full page: the group\'s bounds end at the page');
is($rg4->{notifications_count}, 2, 'the count covers the group up to the page\'s newest');
$url = $t->path_of($t->links($tx)->{next});
$tx = get($url);
@keys = map { $_->{group_key} } @{ $tx->res->json->{notification_groups} };
is_deeply(\@keys, ["reblog-$s1-$bucket", "favourite-$s1-$bucket", "ungrouped-$n{mention_alice}",
    "ungrouped-$n{request_dave}"], 'next page: the reblog group again (its older row), then on');
is($tx->res->json->{notification_groups}[0]{most_recent_notification_id}, $n{reblog_alice},
    'that group as of this page');
$tx = get("/api/v2/notifications?limit=2&min_id=$n{fav_carol}");
@keys = map { $_->{group_key} } @{ $tx->res->json->{notification_groups} };
is_deeply(\@keys, ["reblog-$s1-$bucket", "favourite-$s1-$bucket"], 'min_id: the oldest groups above it, newest first');

# expand_accounts
$tx = get('/api/v2/notifications?expand_accounts=partial_avatars');
$g = $tx->res->json;
is_deeply([map { $_->{id} } @{ $g->{accounts} }], [$id{soft}, $id{carol}, $id{dave}, $id{alice}],
    'partial_avatars: each group\'s first sample account in full');
is_deeply([map { $_->{id} } @{ $g->{partial_accounts} }], [], 'the rest are all in accounts already');
@e = entity_errors($g, 'GroupedNotificationsResults');
@e = grep { !/text: missing/ } @e;
is_deeply(\@e, [], 'with partial_accounts') or diag explain \@e;
$tx = get('/api/v2/notifications?expand_accounts=partial_avatars&types[]=favourite');
$g = $tx->res->json;
is_deeply([map { $_->{id} } @{ $g->{accounts} }], [$id{dave}], 'one group: its newest sender in full');
is_deeply([map { $_->{id} } @{ $g->{partial_accounts} }], [$id{carol}, $id{alice}], 'the others partial');
is_deeply([sort keys %{ $g->{partial_accounts}[0] }], [sort qw(id acct locked bot url avatar avatar_static)],
    'PartialAccountWithAvatar keys');
@e = entity_errors($g->{partial_accounts}[0], 'PartialAccountWithAvatar');
@e = grep { !/avatar_description/ } @e;
is_deeply(\@e, [], 'a PartialAccountWithAvatar') or diag explain \@e;
$m->get_ok('/api/v2/notifications?expand_accounts=some', $hb)->status_is(400)
  ->json_is('/error', "Invalid value for 'expand_accounts': 'some', allowed values are 'full' and 'partial_avatars'");

# one group
$m->get_ok("/api/v2/notifications/favourite-$s1-$bucket", $hb)->status_is(200)
  ->json_is('/notification_groups/0/group_key', "favourite-$s1-$bucket")
  ->json_is('/notification_groups/0/notifications_count', 3)
  ->json_is('/notification_groups/0/most_recent_notification_id', $n{fav_dave})
  ->json_hasnt('/notification_groups/0/page_min_id')
  ->json_hasnt('/notification_groups/1')
  ->json_is('/statuses/0/id', $s1)
  ->json_is('/accounts/0/id', $id{dave});
$m->get_ok("/api/v2/notifications/ungrouped-$n{mention_alice}", $hb)->status_is(200)
  ->json_is('/notification_groups/0/group_key', "ungrouped-$n{mention_alice}")
  ->json_is('/notification_groups/0/type', 'mention');
$m->get_ok("/api/v2/notifications/ungrouped-$other", $hb)->status_is(404);
$m->get_ok('/api/v2/notifications/nonsense', $hb)->status_is(404);

# v2 unread_count: groups above the marker (fav_dave)
$m->get_ok('/api/v2/notifications/unread_count', $hb)->status_is(200)->json_is('/count', 4,
    'reblog group, status, update, mention_soft');
$m->get_ok('/api/v2/notifications/unread_count?grouped_types[]=favourite', $hb)->json_is('/count', 5,
    'reblogs not grouped: five');
$m->get_ok('/api/v2/notifications/unread_count?limit=2', $hb)->json_is('/count', 2);

# --- dismiss and clear ------------------------------------------------------------------
$m->post_ok("/api/v1/notifications/$n{mention_alice}/dismiss", $hb)->status_is(200)->json_is('', {});
is($t->psql("SELECT count(*) FROM notifications WHERE id = $n{mention_alice}"), 0, 'dismissed');
$m->post_ok("/api/v1/notifications/$n{mention_alice}/dismiss", $hb)->status_is(404, 'gone: 404');
$m->post_ok("/api/v1/notifications/$other/dismiss", $hb)->status_is(404, 'someone else\'s: 404');
is($t->psql("SELECT count(*) FROM notifications WHERE id = $other"), 1, 'and kept');

$m->post_ok("/api/v2/notifications/favourite-$s1-$bucket/dismiss", $hb)->status_is(200)->json_is('', {});
is($t->psql("SELECT count(*) FROM notifications WHERE account_id = $me AND group_key = 'favourite-$s1-$bucket'"), 0,
    'the whole group dismissed');
$m->post_ok("/api/v2/notifications/ungrouped-$n{status_carol}/dismiss", $hb)->status_is(200);
is($t->psql("SELECT count(*) FROM notifications WHERE id = $n{status_carol}"), 0, 'an ungrouped one by its key');
$m->post_ok('/api/v2/notifications/nothing-here/dismiss', $hb)->status_is(200, 'nothing to dismiss: still {}');

# a status that cannot be shown any more takes its notification out
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $s3");
$t->redis('DEL', "mastodon:status:$s3");
is_deeply([grep { $_ eq $n{update_carol} } @{ ids('/api/v1/notifications') }], [], 'deleted status: not listed');

$m->post_ok('/api/v1/notifications/clear', $hb)->status_is(200)->json_is('', {});
is($t->psql("SELECT count(*) FROM notifications WHERE account_id = $me"), 0, 'cleared');
is($t->psql("SELECT count(*) FROM notifications WHERE id = $other"), 1, 'only bob\'s');
$m->get_ok('/api/v1/notifications', $hb)->status_is(200)->json_is('', []);
ok(!$m->tx->res->headers->header('Link'), 'no Link on an empty list');
$m->get_ok('/api/v2/notifications', $hb)->status_is(200)
  ->json_is('', { accounts => [], statuses => [], notification_groups => [] });

# the cap: more than 80 notifications
$t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type, created_at)"
    . " SELECT $me, $id{alice}, 'Follow', i, 'follow', now() AT TIME ZONE 'UTC' FROM generate_series(1, 85) i");
is(scalar @{ get('/api/v1/notifications?limit=200')->res->json }, 80, 'limit above 80 is capped');

$t->done;
