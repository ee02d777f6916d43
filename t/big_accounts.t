# Big accounts merged on read (issue 10, sql/0031_big_accounts.sql): from
# the worker's big_account_followers (3 here) an account's statuses are not
# pushed into its followers' home feeds; the home timeline merges them at
# read time with the same order, pagination and filters (mutes, blocks,
# reblogs=false, languages, exclusive lists) as pushed ones.  The switch
# loses and repeats nothing; with Redis flushed the answers are the same.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new(worker => 1,
    worker_env  => { MASTODON_BIG_ACCOUNT_FOLLOWERS => 3 },
    http_config => 'mastodon_big_account_followers 3;');
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(viewer f1 f2 big big2 bigm bigx small x);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub home {
    my ($who, $query) = @_;
    my $tx = $m->get_ok('/api/v1/timelines/home' . ($query // '?limit=40'), $h{$who})->status_is(200)->tx;
    return ($tx->res->json, $tx->res->headers->link // '');
}

sub home_ids { my ($res) = home(@_); return [map { $_->{id} } @$res] }

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form)->{id} }

sub reblog {
    my ($who, $sid) = @_;
    return $m->post_ok("/api/v1/statuses/$sid/reblog", $h{$who})->status_is(200)->tx->res->json->{id};
}

sub follow {
    my ($who, $target, %form) = @_;
    $m->post_ok("/api/v1/accounts/$id{$target}/follow", $h{$who}, form => \%form)->status_is(200);
}

sub in_feed {
    my $score = $t->redis('ZSCORE', "mastodon:feed:home:$id{$_[0]}", $_[1]);
    return defined $score && $score ne '';
}

home_ids($_) for qw(viewer f1);    # their feeds exist

# --- the switch: big has 2 followers, posts, gets a third, posts again --------------------
follow('viewer', 'big');
follow('f1', 'big');
my @before = map { post('big', status => "big before $_", language => 'en') } 1 .. 3;
# every one of them (job threads run in parallel: the last may be through
# before the first), so that none is distributed after the third follow
ok($t->wait_for(sub { !grep { !in_feed('f1', $_) } @before }), 'below the threshold: pushed');
follow('f2', 'big');
is($t->psql("SELECT count(*) FROM feed_big_accounts"), 0, 'no switch before a post');
# read now, the render cache remembers that no account is merged on read;
# the worker's switch below must make every node forget it ("big 0")
is_deeply([ map { $_->{id} } @{ (home('viewer'))[0] } ], [ reverse @before ],
          'before any switch: the pushed posts (no big account remembered)');

for my $b (qw(big2 bigm bigx)) { follow($_, $b) for qw(f1 f2) }
follow('viewer', 'big2', reblogs => 'false', 'languages[]' => ['en']);
follow('viewer', $_) for qw(bigm bigx small);
$m->post_ok("/api/v1/accounts/$id{bigm}/mute", $h{viewer})->status_is(200);
$m->post_ok("/api/v1/accounts/$id{x}/block", $h{viewer})->status_is(200);
my $list = $m->post_ok('/api/v1/lists', $h{viewer}, json => { title => 'Apart', exclusive => true })
  ->status_is(200)->tx->res->json->{id};
$m->post_ok("/api/v1/lists/$list/accounts", $h{viewer}, form => { 'account_ids[]' => [$id{bigx}] })
  ->status_is(200);

# --- posts, interleaved: what the viewer is to see ----------------------------------------
my $xs = post('x', status => 'x says');
my $smalls = post('small', status => 'small says', language => 'en');
my @want = (@before, $smalls);
my (@hidden, @merged);
for my $i (1 .. 6) {
    my $s = post('big', status => "big $i", language => 'en');
    push @want, $s;
    push @merged, $s;
    push @want, post('small', status => "small $i", language => 'en');
    my $en = post('big2', status => "big2 en $i", language => 'en');
    push @want, $en;
    push @merged, $en;
    push @hidden, post('big2', status => "big2 de $i", language => 'de');   # languages
    push @hidden, post('bigm', status => "muted $i");                        # a mute
    push @hidden, post('bigx', status => "exclusive $i");                    # an exclusive list
}
push @hidden, reblog('big2', $smalls);                                       # reblogs=false
push @hidden, reblog('big', $xs);                                            # a blocked original
my $last = post('small', status => 'small last', language => 'en');
push @want, $last;
@want = sort { length($b) <=> length($a) || $b cmp $a } @want;

ok($t->wait_for(sub { in_feed('viewer', $last) }), 'the worker is through');
is($t->psql("SELECT count(*) FROM feed_big_accounts WHERE account_id IN ($id{big}, $id{big2})"), 2,
   'big and big2 switched');
is($t->psql("SELECT since_status_id > $before[-1] FROM feed_big_accounts WHERE account_id = $id{big}"), 't',
   "big's switch after its pushed posts");
ok(in_feed('viewer', $before[0]) && in_feed('viewer', $smalls), 'pushed posts are in the Redis feed');
# the posts from each switch on are merged.  Jobs run in parallel, so a
# post may be distributed after a newer one made the switch: its id is then
# below the switch, and it is pushed (either way every post is shown once,
# as the paging below checks)
my %since = map { $_ => $t->psql("SELECT since_status_id FROM feed_big_accounts WHERE account_id = $id{$_}") }
            qw(big big2);
my @switched = grep { my $i = $_; $merged[$i] >= $since{$i % 2 ? 'big2' : 'big'} } 0 .. $#merged;
ok(scalar(@switched) > 0 && $switched[-1] == $#merged, 'the last posts of big accounts are merged');
is(scalar(grep { in_feed('viewer', $merged[$_]) || in_feed('f1', $merged[$_]) } @switched), 0,
   'posts of big accounts from their switch on are in no follower feed');

# --- paging: no duplicates, no gaps -------------------------------------------------------
sub walk_down {
    my ($who, $limit) = @_;
    my (@seen, $q);
    $q = "?limit=$limit";
    for (1 .. 50) {
        my ($res, $link) = home($who, $q);
        last unless @$res;
        push @seen, map { $_->{id} } @$res;
        my ($next) = $link =~ /<[^>]*max_id=(\d+)[^>]*>;\s*rel="next"/ or last;
        $q = "?limit=$limit&max_id=$next";
    }
    return \@seen;
}

sub walk_up {
    my ($who, $limit) = @_;
    my @seen;
    my $q = "?limit=$limit&min_id=1";
    for (1 .. 50) {
        my ($res, $link) = home($who, $q);
        last unless @$res;
        unshift @seen, map { $_->{id} } @$res;
        $q = "?limit=$limit&min_id=$res->[0]{id}";
    }
    return \@seen;
}

sub check_all {
    my ($when) = @_;
    is_deeply(home_ids('viewer'), \@want, "$when: one page, merged in order, filters applied");
    is_deeply(walk_down('viewer', 4), \@want, "$when: paging down by max_id: no duplicates, no gaps");
    is_deeply(walk_up('viewer', 3), \@want, "$when: paging up by min_id: the same");
    my $mid = $want[10];
    is_deeply(home_ids('viewer', "?limit=40&since_id=$mid"), [@want[0 .. 9]], "$when: since_id");
    is_deeply(home_ids('viewer', "?limit=5&max_id=$mid"), [@want[11 .. 15]], "$when: max_id");
    my %h = map { $_ => 1 } @{ home_ids('viewer') };
    is(scalar(grep { $h{$_} } @hidden), 0, "$when: muted, blocked, reblogs=false, other languages, "
       . 'exclusive-list statuses all left out');
}

check_all('warm');
my ($res) = home('viewer', '?limit=40');
my ($one) = grep { $_->{id} eq $merged[0] } @$res;
is($one->{account}{id}, $id{big}, 'a merged status renders as any');
my %f2 = map { $_ => 1 } @{ home_ids('f2') };
is(scalar(grep { $f2{$_} } @merged), scalar(@merged), 'a follower without a Redis feed: rebuilt, merged');

# --- an unfollow: the big account's statuses leave at once --------------------------------
$m->post_ok("/api/v1/accounts/$id{big2}/unfollow", $h{f1})->status_is(200);
my @big2_merged = map { $merged[$_] } grep { $_ % 2 } @switched;
ok(!grep({ my $s = $_; grep { $_ eq $s } @big2_merged } @{ home_ids('f1') }),
   "unfollowing a big account: its merged statuses are gone from the follower's home at once");
ok($t->wait_for(sub { my %f1 = map { $_ => 1 } @{ home_ids('f1') };
                      !grep { $f1{$_} } @merged[map { 2 * $_ + 1 } 0 .. 5] }),
   'and the pushed ones when the worker has unmerged them');

# --- Redis flushed: the same answers ------------------------------------------------------
$t->redis('FLUSHALL');
check_all('Redis flushed');

# --- a deleted merged status goes -----------------------------------------------------------
$m->delete_ok("/api/v1/statuses/$merged[0]", $h{big})->status_is(200);
@want = grep { $_ ne $merged[0] } @want;
ok($t->wait_for(sub { !grep { $_ eq $merged[0] } @{ home_ids('viewer') } }), 'a deleted merged status goes');
is_deeply(walk_down('viewer', 7), \@want, 'paging after a delete');

is($t->psql("SELECT count(*) FROM feed_big_accounts WHERE account_id = $id{small}"), 0,
   'a small account never switches');

done_testing;
