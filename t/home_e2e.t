# End to end, with the worker: posts reach followers' home timelines, and
# follows, unfollows, mutes, blocks and deletes change them; notifications of
# every type arrive through the worker; paging through a home timeline while
# others post gives no duplicates and no gaps; a lost feed is rebuilt.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub home_ids {
    my ($who, $query) = @_;
    my $res = $m->get_ok('/api/v1/timelines/home' . ($query // '?limit=40'), $h{$who})->status_is(200)
      ->tx->res->json;
    return [map { $_->{id} } @$res];
}

sub in_home {
    my ($who, $id) = @_;
    return scalar grep { $_ eq $id } @{ home_ids($who) };
}

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

sub notifications {
    my ($who, $type) = @_;
    my $res = $m->get_ok("/api/v1/notifications?types[]=$type", $h{$who})->status_is(200)->tx->res->json;
    return $res;
}

# every feed exists from the start (as for users who use their app)
home_ids($_) for keys %u;

# --- a post reaches followers, not strangers ----------------------------------------------
$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{bob})->status_is(200);
my $s1 = post('alice', status => 'first post');
ok($t->wait_for(sub { in_home('bob', $s1->{id}) }), 'the post reaches a follower');
ok($t->wait_for(sub { in_home('alice', $s1->{id}) }), "and the author's own home");
ok(!in_home('carol', $s1->{id}), 'not a stranger');

# --- notifications -------------------------------------------------------------------------
my $s2 = post('alice', status => '@carol hello');
ok($t->wait_for(sub { @{ notifications('carol', 'mention') } }), 'mention notification');
is(notifications('carol', 'mention')->[0]{status}{id}, $s2->{id}, 'about the status');
is(notifications('carol', 'mention')->[0]{account}{id}, $id{alice}, 'from the author');

$m->post_ok("/api/v1/statuses/$s1->{id}/favourite", $h{bob})->status_is(200);
ok($t->wait_for(sub { @{ notifications('alice', 'favourite') } }), 'favourite notification');
is(notifications('alice', 'favourite')->[0]{account}{id}, $id{bob}, 'from the one who favourited');

my $rb = $m->post_ok("/api/v1/statuses/$s1->{id}/reblog", $h{bob})->status_is(200)->tx->res->json;
ok($t->wait_for(sub { @{ notifications('alice', 'reblog') } }), 'reblog notification');

$m->post_ok("/api/v1/accounts/$id{carol}/follow", $h{dave})->status_is(200);
ok($t->wait_for(sub { @{ notifications('carol', 'follow') } }), 'follow notification');

$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{dave}, form => { notify => 'true' })->status_is(200);
my $s3 = post('alice', status => 'for those who ring the bell');
ok($t->wait_for(sub { @{ notifications('dave', 'status') } }), 'status notification (notify follow)');

$m->put_ok("/api/v1/statuses/$s1->{id}", $h{alice}, form => { status => 'first post, edited' })->status_is(200);
ok($t->wait_for(sub { @{ notifications('bob', 'update') } }), 'update notification to those who reblogged');

$m->patch_ok('/api/v1/accounts/update_credentials', $h{carol}, form => { locked => 'true' })->status_is(200);
$m->post_ok("/api/v1/accounts/$id{carol}/follow", $h{bob})->status_is(200)->json_is('/requested', true);
ok($t->wait_for(sub { @{ notifications('carol', 'follow_request') } }), 'follow_request notification');

# --- unfollow, follow, mute, block, delete ------------------------------------------------------
ok($t->wait_for(sub { in_home('bob', $s3->{id}) }), "bob has alice's latest");
$m->post_ok("/api/v1/accounts/$id{alice}/unfollow", $h{bob})->status_is(200);
ok($t->wait_for(sub { !in_home('bob', $s3->{id}) && !in_home('bob', $s1->{id}) }),
   "unfollow: alice's statuses leave bob's home");
$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{bob})->status_is(200);
ok($t->wait_for(sub { in_home('bob', $s3->{id}) }), "follow again: merged back");

$m->post_ok("/api/v1/accounts/$id{alice}/mute", $h{bob})->status_is(200);
ok($t->wait_for(sub { !in_home('bob', $s3->{id}) }), 'mute: out of the home');
$m->post_ok("/api/v1/accounts/$id{alice}/unmute", $h{bob})->status_is(200);
my $s4 = post('alice', status => 'after the mute');
ok($t->wait_for(sub { in_home('bob', $s4->{id}) }), 'unmuted: new posts arrive');

my $s5 = post('alice', status => 'soon gone');
ok($t->wait_for(sub { in_home('bob', $s5->{id}) }), 'arrived');
$m->delete_ok("/api/v1/statuses/$s5->{id}", $h{alice})->status_is(200);
ok(!in_home('bob', $s5->{id}), 'deleted: not shown at once');
ok($t->wait_for(sub { !$t->redis('ZSCORE', "mastodon:feed:home:$id{bob}", $s5->{id}) }),
   'and removed from the feed by the worker');

$m->post_ok("/api/v1/accounts/$id{bob}/block", $h{alice})->status_is(200);
ok($t->wait_for(sub { !in_home('bob', $s4->{id}) }), 'blocked by the author: out of the home');

# --- paging while others post ------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$id{dave}/follow", $h{carol});      # carol is locked: a request
$m->post_ok("/api/v1/accounts/$id{carol}/follow", $h{dave})->status_is(200);
my @posted = map { post('carol', status => "numbered $_")->{id} } 1 .. 30;
# ids are time-ordered between milliseconds, not within one: by id, as Mastodon
my @newest_first = sort { length($b) <=> length($a) || $b cmp $a } @posted;
ok($t->wait_for(sub {
    my %home = map { $_ => 1 } @{ home_ids('dave') };
    !grep { !$home{$_} } @posted;
}), 'all 30 arrived (their distribute jobs may finish in any order)');
my (@walked, %seen, @meanwhile);
my $max;
while (1) {
    my $page = home_ids('dave', '?limit=7' . ($max ? "&max_id=$max" : ''));
    last unless @$page;
    push @walked, @$page;
    $max = $page->[-1];
    push @meanwhile, post('carol', status => 'meanwhile ' . (@meanwhile + 1))->{id} if @meanwhile < 5;
}
my @carols = grep { my $x = $_; grep { $_ eq $x } @posted } @walked;
is_deeply(\@carols, \@newest_first, 'every status once, newest first, none missing');
is(scalar(grep { $seen{$_}++ } @walked), 0, 'no duplicates');
ok($t->wait_for(sub { @{ home_ids('dave', "?since_id=$newest_first[0]") } >= 5 }), 'the 5 posted meanwhile are above');
is_deeply(home_ids('dave', "?min_id=$newest_first[0]&limit=40"), [sort { length($b) <=> length($a) || $b cmp $a } @meanwhile],
    'min_id: only the newer ones, newest first');

# --- a lost feed is rebuilt -----------------------------------------------------------------------
my $before = home_ids('dave');
$t->redis('DEL', "mastodon:feed:home:$id{dave}");
is_deeply(home_ids('dave'), $before, 'the feed lost by Redis is rebuilt, same page');

$t->done;
