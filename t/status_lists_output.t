# Lists of statuses (home, list timelines) are written straight into the
# output buffers, the cached objects pointed at rather than copied: each
# element must be exactly the Status that GET /api/v1/statuses/:id gives the
# same viewer (written by the other path), with the viewer's flags, a poll's
# voted/own_votes, a filter's result, a reblog and its original, pinned on
# the viewer's own; and so must a page longer than the pieces that are
# pointed at (the rest copied), cold and warm.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false encode_json);
use MastodonTest;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(alice bob carol);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

sub page {
    my ($path) = @_;
    return $m->get_ok($path, $h{alice})->status_is(200)->tx->res->json;
}

# each element against the single status endpoint, with the same viewer
sub differences {
    my ($list) = @_;
    my @bad;
    for my $s (@$list) {
        my $one = $m->get_ok("/api/v1/statuses/$s->{id}", $h{alice})->tx->res->json;
        # Mojo::JSON writes keys sorted: equal documents, equal text
        push @bad, $s->{id} unless encode_json($s) eq encode_json($one);
    }
    return @bad;
}

page('/api/v1/timelines/home');      # the feed exists from the start
$m->post_ok("/api/v1/accounts/$id{bob}/follow", $h{alice})->status_is(200);
my $list = $m->post_ok('/api/v1/lists', $h{alice}, form => { title => 'Bob' })->status_is(200)
  ->tx->res->json->{id};
$m->post_ok("/api/v1/lists/$list/accounts", $h{alice}, form => { 'account_ids[]' => $id{bob} })
  ->status_is(200);

$m->post_ok('/api/v2/filters', $h{alice}, json => {
    title => 'Cutlery', context => ['home', 'thread'], filter_action => 'warn',
    keywords_attributes => [{ keyword => 'spoon' }],
})->status_is(200);

my @ids;
push @ids, post('bob', status => "plain $_")->{id} for 1 .. 30;
my $poll = post('bob', status => 'which one?', 'poll[options][]' => [qw(tea coffee)],
                'poll[expires_in]' => 600);
$m->post_ok("/api/v1/polls/$poll->{poll}{id}/votes", $h{alice}, form => { 'choices[]' => 1 })
  ->status_is(200);
my $spoon = post('bob', status => 'a spoon, a <fork> & "knife"');
my $own = post('alice', status => 'mine, pinned');
$m->post_ok("/api/v1/statuses/$own->{id}/pin", $h{alice})->status_is(200);
my $carols = post('carol', status => "carol's, reblogged by bob");
my $rb = $m->post_ok("/api/v1/statuses/$carols->{id}/reblog", $h{bob})->status_is(200)->tx->res->json;
$m->post_ok("/api/v1/statuses/$ids[-1]/favourite", $h{alice})->status_is(200);
$m->post_ok("/api/v1/statuses/$ids[-2]/bookmark", $h{alice})->status_is(200);
push @ids, $poll->{id}, $spoon->{id};

ok($t->wait_for(sub {
    my %home = map { $_->{id} => 1 } @{ page('/api/v1/timelines/home?limit=40') };
    !grep { !$home{$_} } @ids, $own->{id}, $rb->{id};
}), "bob's statuses, his reblog and alice's own reached her home");

for my $path ('/api/v1/timelines/home?limit=40', "/api/v1/timelines/list/$list?limit=40") {
    # cold (the first read fills the render cache), then warm
    for my $round (qw(first second)) {
        my @bad;
        ok($t->wait_for(sub { @bad = differences(page($path)); !@bad }),
           "$path, $round read: every element is the status as GET /api/v1/statuses/:id writes it")
          or diag("differ: @bad");
    }
}

my $home = page('/api/v1/timelines/home?limit=40');
ok(@$home >= 34, 'a page longer than the pieces pointed at: ' . scalar(@$home));
my ($p) = grep { $_->{id} eq $poll->{id} } @$home;
is($p->{poll}{voted}, true, 'the poll: voted');
is_deeply($p->{poll}{own_votes}, [1], 'and own_votes');
my ($f) = grep { $_->{id} eq $spoon->{id} } @$home;
is($f->{filtered}[0]{keyword_matches}[0], 'spoon', 'the filter result');
my ($o) = grep { $_->{id} eq $own->{id} } @$home;
is($o->{pinned}, true, 'pinned: on the viewer\'s own');
my ($r) = grep { $_->{id} eq $rb->{id} } @$home;
is($r->{reblog}{id}, $carols->{id}, 'the reblog with its original');
is($r->{reblog}{account}{id}, $id{carol}, "and the original's account");
my ($fav) = grep { $_->{id} eq $ids[-3] } @$home;
is($fav->{favourited}, true, 'favourited');
my ($bm) = grep { $_->{id} eq $ids[-4] } @$home;
is($bm->{bookmarked}, true, 'bookmarked');

$t->done;
