# GET /api/v1/notifications from the render cache (kind "notifications"):
# the first page's rows are kept per recipient and their senders come from
# the rendered accounts, so a warm read asks PostgreSQL nothing.  Every
# change to what the page shows is seen on the next read from both nginx
# workers (each read opens a new connection); where the change is
# asynchronous (the worker's jobs, the relay of sql/0048's triggers) the
# test waits for what the API shows.  A cached answer is the statement's:
# compared with the same page read from PostgreSQL (include_filtered, which
# the cache never answers).

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;
$t->ua->max_connections(0);     # a new connection per request

ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }),
   'both workers listen for forgets');

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;
my $ha = $h{alice};

sub post { my ($who, $text) = @_; return $t->post_status($h{$who}, status => $text)->{id} }

sub page {
    my ($query) = @_;
    my $res = $m->ua->get("/api/v1/notifications$query" => $ha)->result;
    return $res->code == 200 ? $res->json : undef;
}

sub ids { my $p = shift; return $p ? join(',', map { $_->{id} } @$p) : 'error' }

# every read of the page (six, on new connections) passes $check
sub reads_ok {
    my ($check, $name, $query) = @_;
    my $ok = 1;
    for (1 .. 6) {
        $ok = 0 unless $check->(page($query // ''));
    }
    ok($ok, $name);
}

# the same for the grouped page (v2)
sub groups {
    my ($query) = @_;
    my $res = $m->ua->get("/api/v2/notifications$query" => $ha)->result;
    return $res->code == 200 ? $res->json : undef;
}

sub groups_ok {
    my ($check, $name) = @_;
    ok($t->wait_for(sub { $check->(groups('')) }), "v2 waits: $name");
    my $ok = 1;
    for (1 .. 6) {
        $ok = 0 unless $check->(groups(''));
    }
    ok($ok, "v2: $name");
}

sub group_of_status {
    my ($g, $sid) = @_;
    return $g && grep { ($_->{status_id} // '') eq $sid } @{ $g->{notification_groups} };
}

sub waits_ok {
    my ($check, $name) = @_;
    ok($t->wait_for(sub { $check->(page('')) }), $name);
}

sub has_status {
    my ($p, $sid) = @_;
    return $p && grep { ($_->{status} // {})->{id} && $_->{status}{id} eq $sid } @$p;
}

# the relay is heard: rendered accounts are used
ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/
                      && $m->ua->get("/api/v1/accounts/$id{bob}")->result->code == 200 }),
   'accounts readable');

# mentions by bob and carol, made by the worker's jobs
my $s1 = post('bob', '@alice first');
my $s2 = post('carol', '@alice second');
waits_ok(sub { has_status($_[0], $s1) && has_status($_[0], $s2) }, 'the mentions arrive');
reads_ok(sub { has_status($_[0], $s1) && has_status($_[0], $s2) }, 'warm: both workers answer');

# the cache answers: a row deleted behind its back (no trigger) is still shown
my $n1 = $t->psql("SELECT n.id FROM notifications n JOIN mentions m ON m.id = n.activity_id"
                  . " WHERE n.activity_type = 'Mention' AND m.status_id = $s1");
ok($n1, "bob's mention notification");
$t->psql("SET session_replication_role = replica; UPDATE notifications SET type = 'follow' WHERE id = $n1");
reads_ok(sub { has_status($_[0], $s1) && (grep { $_->{id} eq $n1 && $_->{type} eq 'mention' } @{ $_[0] }) },
         'the render cache answers, not PostgreSQL');
$t->redis('PUBLISH', 'mastodon:cache:forget', "notifications $id{alice}");
waits_ok(sub { $_[0] && grep { $_->{id} eq $n1 && $_->{type} eq 'follow' } @{ $_[0] } },
         'a published forget drops it');
reads_ok(sub { $_[0] && grep { $_->{id} eq $n1 && $_->{type} eq 'follow' } @{ $_[0] } }, 'on every worker');
$t->psql("UPDATE notifications SET type = 'mention' WHERE id = $n1");
waits_ok(sub { $_[0] && grep { $_->{id} eq $n1 && $_->{type} eq 'mention' } @{ $_[0] } },
         'a change in SQL is relayed (sql/0048)');

# a new notification
my $s3 = post('dave', '@alice third');
waits_ok(sub { has_status($_[0], $s3) }, 'a new notification');
reads_ok(sub { has_status($_[0], $s3) }, 'on every worker');

# cached pages are the statement's pages
my $all = page('?include_filtered=true');
is(ids(page('')), ids($all), 'the cached page is the statement\'s');
is_deeply(page(''), $all, 'to the byte');
my @n = map { $_->{id} } @$all;
for my $q ("?limit=1", "?limit=2&max_id=$n[0]", "?since_id=$n[2]", "?min_id=$n[2]&limit=1",
           "?min_id=$n[1]", "?max_id=$n[2]", "?types[]=mention&limit=1", "?exclude_types[]=mention")
{
    (my $pg = $q) =~ s/^\?/?include_filtered=true&/;
    is(ids(page($q)), ids(page($pg)), "GET $q");
}

# v2: the sample accounts from the rendered accounts are those PostgreSQL
# renders (partial_avatars reads the groups' first ones from it)
my $v2 = $m->get_ok('/api/v2/notifications' => $ha)->status_is(200)->tx->res->json;
my $v2p = $m->get_ok('/api/v2/notifications?expand_accounts=partial_avatars' => $ha)->status_is(200)
            ->tx->res->json;
my %full = map { $_->{id} => $_ } @{ $v2->{accounts} };
ok(@{ $v2p->{accounts} } >= 3, 'v2: the senders');
is_deeply([map { $full{$_->{id}} } @{ $v2p->{accounts} }], $v2p->{accounts}, 'v2: the same accounts');
is(join(',', map { $_->{group_key} } @{ $v2->{notification_groups} }),
   join(',', map { $_->{group_key} } @{ $v2p->{notification_groups} }), 'v2: the same groups');
groups('') for 1 .. 3;
is_deeply(groups(''), groups('?include_filtered=true'), "v2: the cached page is the statement's");
is_deeply(groups('?limit=2'), groups('?include_filtered=true&limit=2'), 'v2: limit 2');
is_deeply(groups('?grouped_types[]=favourite'), groups('?include_filtered=true&grouped_types[]=favourite'),
          'v2: grouped_types');
is_deeply(groups('?exclude_types[]=mention'), groups('?include_filtered=true&exclude_types[]=mention'),
          'v2: exclude_types');
groups_ok(sub { group_of_status($_[0], $s3) }, 'warm');

# a favourite and its undoing
my $own = post('alice', 'mine');
$m->post_ok("/api/v1/statuses/$own/favourite", $h{bob})->status_is(200);
my $fav = sub { $_[0] && grep { $_->{type} eq 'favourite' } @{ $_[0] } };
waits_ok($fav, 'a favourite');
reads_ok($fav, 'on every worker');
groups_ok(sub { $_[0] && grep { $_->{type} eq 'favourite' } @{ $_[0]{notification_groups} } }, 'a favourite');
$m->post_ok("/api/v1/statuses/$own/unfavourite", $h{bob})->status_is(200);
waits_ok(sub { $_[0] && !$fav->($_[0]) }, 'an unfavourite');
reads_ok(sub { $_[0] && !$fav->($_[0]) }, 'on every worker');
groups_ok(sub { $_[0] && !grep { $_->{type} eq 'favourite' } @{ $_[0]{notification_groups} } },
          'an unfavourite');

# a favourite deleted behind the API's back, its notification left: the
# notification loses its status, so it is not shown (sql/0048)
$m->post_ok("/api/v1/statuses/$own/favourite", $h{carol})->status_is(200);
waits_ok($fav, "carol's favourite");
reads_ok($fav, 'warm');
$t->psql("DELETE FROM favourites WHERE account_id = $id{carol} AND status_id = $own");
waits_ok(sub { $_[0] && !$fav->($_[0]) }, 'a favourite deleted in SQL');

# the sender's account update
$m->patch_ok('/api/v1/accounts/update_credentials', $h{bob}, form => { display_name => 'Bob Renamed' })
  ->status_is(200);
my $renamed = sub { $_[0] && grep { $_->{account}{id} eq $id{bob} && $_->{account}{display_name} eq 'Bob Renamed' } @{ $_[0] } };
reads_ok($renamed, "the sender's account update");

# an edit of the status
$m->put_ok("/api/v1/statuses/$s1", $h{bob}, form => { status => '@alice first, edited' })->status_is(200);
reads_ok(sub { $_[0] && grep { ($_->{status} // {})->{content} && $_->{status}{content} =~ /edited/ } @{ $_[0] } },
         'a status edit');

# a delete of the status
$m->delete_ok("/api/v1/statuses/$s2", $h{carol})->status_is(200);
reads_ok(sub { $_[0] && !has_status($_[0], $s2) }, 'a status delete');
groups_ok(sub { $_[0] && !group_of_status($_[0], $s2) }, 'a status delete');

# a dismiss
my $n3 = (grep { ($_->{status} // {})->{id} && $_->{status}{id} eq $s3 } @{ page('') })[0]{id};
$m->post_ok("/api/v1/notifications/$n3/dismiss", $ha)->status_is(200);
reads_ok(sub { $_[0] && !has_status($_[0], $s3) }, 'a dismiss');
groups_ok(sub { $_[0] && !group_of_status($_[0], $s3) }, 'a dismiss');

# a mute of the sender (with its notifications) and a block
my $s4 = post('carol', '@alice fourth');
waits_ok(sub { has_status($_[0], $s4) }, "carol's mention");
reads_ok(sub { has_status($_[0], $s4) }, 'warm');
$m->post_ok("/api/v1/accounts/$id{carol}/mute", $ha, form => { notifications => 'true' })->status_is(200);
reads_ok(sub { $_[0] && !grep { $_->{account}{id} eq $id{carol} } @{ $_[0] } }, 'a mute of the sender');
$m->post_ok("/api/v1/accounts/$id{carol}/unmute", $ha)->status_is(200);
my $s5 = post('dave', '@alice fifth');
waits_ok(sub { has_status($_[0], $s5) }, "dave's mention");
reads_ok(sub { has_status($_[0], $s5) }, 'warm');
$m->post_ok("/api/v1/accounts/$id{dave}/block", $ha)->status_is(200);
reads_ok(sub { $_[0] && !grep { $_->{account}{id} eq $id{dave} } @{ $_[0] } }, 'a block of the sender');
groups_ok(sub { $_[0] && !grep { $_->{id} eq $id{dave} } @{ $_[0]{accounts} } }, 'a block of the sender');
$m->post_ok("/api/v1/accounts/$id{dave}/unblock", $ha)->status_is(200);

# a mute that hides notifications made in SQL, as one made while a row was
# on its way: hidden, then shown again when the mute ends
my $s6 = post('bob', '@alice sixth');
waits_ok(sub { has_status($_[0], $s6) }, "bob's mention");
$t->psql("INSERT INTO mutes (account_id, target_account_id, hide_notifications, expires_at)"
         . " VALUES ($id{alice}, $id{bob}, true, (now() AT TIME ZONE 'UTC') + interval '8 seconds')");
$t->redis('PUBLISH', 'mastodon:cache:forget', "viewer $id{alice}");
waits_ok(sub { $_[0] && !has_status($_[0], $s6) }, 'hidden while muted');
ok($t->wait_for(sub { has_status(page(''), $s6) }, 20), 'shown again when the mute ends');

# the sender suspended (SQL: relayed as "notifications 0")
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $id{bob}");
waits_ok(sub { $_[0] && !grep { $_->{account}{id} eq $id{bob} } @{ $_[0] } }, 'a suspension of the sender');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $id{bob}");
waits_ok(sub { $_[0] && grep { $_->{account}{id} eq $id{bob} } @{ $_[0] } }, 'and its undoing');

# clear
$m->post_ok('/api/v1/notifications/clear', $ha)->status_is(200);
reads_ok(sub { $_[0] && !@{ $_[0] } }, 'a clear');
groups_ok(sub { $_[0] && !@{ $_[0]{notification_groups} } }, 'a clear');

# more than the cache keeps: the pages beyond it come from PostgreSQL
$t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type)"
         . " SELECT $id{alice}, $id{bob}, 'Follow', i, 'follow' FROM generate_series(1, 50) i");
waits_ok(sub { $_[0] && @{ $_[0] } == 40 }, 'fifty notifications');
$all = [];
my $q = '?limit=15';
while (1) {
    my $p = page($q);
    last unless $p && @$p;
    push @$all, @$p;
    $q = "?limit=15&max_id=$p->[-1]{id}";
}
is(scalar @$all, 50, 'paged through all of them');
my %seen;
is(scalar(grep { !$seen{$_->{id}}++ } @$all), 50, 'no duplicates');
is(ids(page("?max_id=$all->[44]{id}&limit=5")), ids(page("?include_filtered=true&max_id=$all->[44]{id}&limit=5")),
   'beyond the cache');
is(ids(page("?min_id=$all->[45]{id}&limit=3")), ids(page("?include_filtered=true&min_id=$all->[45]{id}&limit=3")),
   'up from beyond the cache');

done_testing;
