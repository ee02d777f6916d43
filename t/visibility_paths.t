# The visibility matrix on every path a status takes to a reader: public,
# unlisted, private and direct statuses (each mentioning @mentioned, each
# tagged #vismatrix) of one author, read by the author, a follower, a
# stranger, the mentioned account (a follower too), an account the author
# blocks, an account that blocks the author, and anonymous clients, through
# show, context, the author's statuses, the public and tag timelines, the
# home feed as the worker's fan-out fills it, as a follow's merge fills it,
# as the module rebuilds it, and notifications.  Whatever a path shows
# must be what StatusPolicy#show? (mastodon_status_visible) and, for home
# feeds, filter_from_home (mastodon_home_accepts) allow: the rules have one
# home each, and this checks every path uses it.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my @vis = qw(public unlisted private direct);
my $author = $t->user('author');
my %v = (author => $author, map { $_ => $t->user($_) } qw(follower stranger mentioned blocked blocker));
my %h = ((map { $_ => $t->bearer($v{$_}{token}) } keys %v), anonymous => {});
my $aid = $author->{account_id};
my @viewers = qw(author follower stranger mentioned blocked blocker anonymous);
my @accounts = grep { $_ ne 'anonymous' } @viewers;

# StatusPolicy#show?
my %sees = (
    author    => [@vis],
    follower  => [qw(public unlisted private)],
    stranger  => [qw(public unlisted)],
    mentioned => [@vis],
    blocked   => [],
    blocker   => [qw(public unlisted)],
    anonymous => [qw(public unlisted)],
);

sub ids_of {
    my ($path, $who) = @_;
    my $res = $m->get_ok($path, $h{$who})->status_is(200)->tx->res->json;
    return [map { $_->{id} } @$res];
}

# the visibilities of our statuses (of %$set: id => visibility) in a list
sub vis_in {
    my ($ids, $set) = @_;
    my %seen = map { $set->{$_} ? ($set->{$_} => 1) : () } @$ids;
    return [grep { $seen{$_} } @vis];
}

sub home_vis {
    my ($who, $set) = @_;
    return vis_in(ids_of('/api/v1/timelines/home?limit=40', $who), $set);
}

sub post_matrix {
    my ($label) = @_;
    my %set;
    for my $vis (@vis) {
        my $id = $m->post_ok('/api/v1/statuses', $h{author},
            form => { status => "\@mentioned #vismatrix $label $vis", visibility => $vis })
            ->status_is(200)->tx->res->json->{id};
        $set{$id} = $vis;
    }
    return \%set;
}

# every account's home feed exists from the start (readers who use their app)
ids_of('/api/v1/timelines/home', $_) for @accounts;

# blocked and blocker followed the author; the blocks end that
for my $who (qw(blocked blocker)) {
    $m->post_ok("/api/v1/accounts/$aid/follow", $h{$who})->status_is(200);
}
$m->post_ok("/api/v1/accounts/$v{blocked}{account_id}/block", $h{author})->status_is(200);
$m->post_ok("/api/v1/accounts/$aid/block", $h{blocker})->status_is(200);

# --- statuses posted before the follows: the merge brings them ----------------------------
my $before = post_matrix('before');
# the fan-out of these is done once the author's own feed holds them (it
# reads the followers before writing any feed): only then the follows
ok($t->wait_for(sub { @{ home_vis('author', $before) } == 4 }), "the author's own feed has them");

for my $who (qw(follower mentioned)) {
    $m->post_ok("/api/v1/accounts/$aid/follow", $h{$who}, form => { notify => 'true' })->status_is(200);
}

# merge_into_home: public, unlisted and private (list_eligible_visibility)
my %merged = (
    author    => [@vis],                          # its own, posted into its feed
    follower  => [qw(public unlisted private)],
    mentioned => [qw(public unlisted private)],
);
for my $who (qw(follower mentioned)) {
    ok($t->wait_for(sub { @{ home_vis($who, $before) } == @{ $merged{$who} } }), "merge reached $who");
}
for my $who (@accounts) {
    is_deeply(home_vis($who, $before), $merged{$who} // [], "home after a follow's merge: $who");
}

# --- statuses posted after the follows: the fan-out brings them ---------------------------
my $after = post_matrix('after');

# the fan-out: direct only to mentioned followers
my %fanned = (
    author    => [@vis],
    follower  => [qw(public unlisted private)],
    mentioned => [@vis],
);
ok($t->wait_for(sub { @{ home_vis('mentioned', $after) } == 4 && @{ home_vis('follower', $after) } == 3 }),
   'the fan-out reached the followers');
for my $who (@accounts) {
    is_deeply(home_vis($who, $after), $fanned{$who} // [], "home after the fan-out: $who");
}

my %all = (%$before, %$after);

# --- every read path of one status, and the lists --------------------------------------------
for my $who (@viewers) {
    my %ok = map { $_ => 1 } @{ $sees{$who} };
    for my $id (sort keys %all) {
        my $vis = $all{$id};
        my $code = $ok{$vis} ? 200 : 404;
        $m->get_ok("/api/v1/statuses/$id", $h{$who})->status_is($code, "$who, $vis: show $code");
        $m->get_ok("/api/v1/statuses/$id/context", $h{$who})->status_is($code, "$who, $vis: context $code");
    }
    is_deeply(vis_in(ids_of("/api/v1/accounts/$aid/statuses?limit=40", $who), \%all),
              $who eq 'blocked' ? [] : $sees{$who}, "$who: the author's statuses");

    # the public and tag timelines: public statuses, minus blocks either way
    my $public = $who =~ /^blocke[dr]$/ ? [] : ['public'];
    is_deeply(vis_in(ids_of('/api/v1/timelines/public?limit=40', $who), \%all), $public,
              "$who: public timeline");
    is_deeply(vis_in(ids_of('/api/v1/timelines/tag/vismatrix?limit=40', $who), \%all), $public,
              "$who: tag timeline");
}

# a context shows the statuses around one the viewer may see only as far as it may see them
my $root = (grep { $all{$_} eq 'public' } sort keys %all)[0];
my %replies;
for my $vis (@vis) {
    my $id = $m->post_ok('/api/v1/statuses', $h{author},
        form => { status => "\@mentioned a $vis reply", visibility => $vis, in_reply_to_id => $root })
        ->status_is(200)->tx->res->json->{id};
    $replies{$id} = $vis;
}
for my $who (@viewers) {
    next if $who eq 'blocked';                    # the root itself is hidden from it
    my $ctx = $m->get_ok("/api/v1/statuses/$root/context", $h{$who})->status_is(200)->tx->res->json;
    # and what the viewer's blocks hide (StatusFilter): nothing of the author
    # for the account blocking it
    is_deeply(vis_in([map { $_->{id} } @{ $ctx->{descendants} }], \%replies),
              $who eq 'blocker' ? [] : $sees{$who}, "$who: the descendants in a context");
}

# --- the module's rebuild of lost feeds ---------------------------------------------------------
ok($t->wait_for(sub { @{ home_vis('follower', \%replies) } == 3 }), 'the replies reached the follower');
for my $who (@accounts) {
    $t->redis('DEL', "mastodon:feed:home:$v{$who}{account_id}", "mastodon:feed:home:$v{$who}{account_id}:reblogs");
}
# populate_home: the reader's own, and list_eligible_visibility of the followed
my %rebuilt = (
    author    => [@vis],
    follower  => [qw(public unlisted private)],
    mentioned => [qw(public unlisted private)],
);
for my $who (@accounts) {
    is_deeply(home_vis($who, \%all), $rebuilt{$who} // [], "home rebuilt: $who");
}

# --- notifications --------------------------------------------------------------------------------
# mentions of all four to the mentioned account; `status` (a notify follow)
# for what the fan-out gave: the follower's three, the mentioned's four
my %notified = (
    mentioned => { mention => [@vis], status => [@vis] },
    follower  => { status => [qw(public unlisted private)] },
);
ok($t->wait_for(sub {
    @{ $m->get_ok('/api/v1/notifications?limit=40', $h{mentioned})->tx->res->json } >= 12
}), 'the notifications arrived');
for my $who (@accounts) {
    my $n = $m->get_ok('/api/v1/notifications?limit=80', $h{$who})->status_is(200)->tx->res->json;
    my %got;
    for my $type (qw(mention status)) {
        my @ids = map { $_->{status}{id} } grep { $_->{type} eq $type && $_->{status} } @$n;
        my $set = $type eq 'mention' ? \%all : $after;
        $got{$type} = vis_in(\@ids, $set);
    }
    my $want = $notified{$who} // {};
    is_deeply($got{$_}, $want->{$_} // [], "$who: $_ notifications") for qw(mention status);
    my %ok = map { $_ => 1 } @{ $sees{$who} };
    my %vis_of = (%all, %replies);
    my @leaks = grep { $_->{status} && $vis_of{ $_->{status}{id} } && !$ok{ $vis_of{ $_->{status}{id} } } } @$n;
    is(scalar @leaks, 0, "$who: no notification shows a status it may not see");
}

$t->done;
