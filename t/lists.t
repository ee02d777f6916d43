# Lists (issue 13), end to end with the worker: CRUD and Mastodon's
# errors, members (only followed accounts), GET /api/v1/accounts/:id/lists,
# the list timeline fed by the fan-out with Link pagination, replies_policy,
# exclusive lists kept out of home, unfollowed and removed members leaving
# the list and its feed, a lost list feed rebuilt from PostgreSQL, and the
# list feed's streaming events on timeline:list:<id>.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use lib 't/lib';
use MastodonTest;
use FanoutTest;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave erin);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form) }

sub ids_of { [map { $_->{id} } @{ $_[0] // [] }] }

sub list_ids {
    my ($who, $list, $query) = @_;
    return ids_of($m->get_ok("/api/v1/timelines/list/$list" . ($query // '?limit=40'), $h{$who})
                    ->status_is(200)->tx->res->json);
}

sub home_ids {
    my ($who) = @_;
    return ids_of($m->get_ok('/api/v1/timelines/home?limit=40', $h{$who})->status_is(200)->tx->res->json);
}

sub has { my ($ids, $id) = @_; return scalar grep { $_ eq $id } @$ids }

# a status' distribute job has written the list feeds once the worker
# logged it: negative checks wait for that
sub distributed {
    my @ids = @_;
    return $t->wait_for(sub {
        my $log = join '', map { local (@ARGV, $/) = ($_); <> } glob($t->dir . '/worker-*.log');
        return !grep { $log !~ /distribute: status \Q$_\E into \d+ list feed/ } @ids;
    });
}

# --- CRUD ---------------------------------------------------------------------------------
$m->get_ok('/api/v1/lists', $h{alice})->status_is(200)->json_is([]);
$m->post_ok('/api/v1/lists', $h{alice}, form => { title => 'Friends' })->status_is(200)
  ->json_is('/title' => 'Friends')->json_is('/replies_policy' => 'list')->json_is('/exclusive' => false)
  ->json_like('/id' => qr/^\d+$/);
my $l1 = $m->tx->res->json;
is_deeply([sort keys %$l1], [qw(exclusive id replies_policy title)], 'the List entity: its four attributes');

$m->post_ok('/api/v1/lists', $h{alice}, json => { title => 'Work', replies_policy => 'none', exclusive => true })
  ->status_is(200)->json_is('/replies_policy' => 'none')->json_is('/exclusive' => true);
my $l2 = $m->tx->res->json;

$m->post_ok('/api/v1/lists', $h{alice}, form => { title => '  ' })->status_is(422)
  ->json_is('/error' => "Validation failed: Title can't be blank");
$m->post_ok('/api/v1/lists', $h{alice}, form => {})->status_is(422)
  ->json_is('/error' => "Validation failed: Title can't be blank");
$m->post_ok('/api/v1/lists', $h{alice}, form => { title => 'x', replies_policy => 'everyone' })->status_is(422)
  ->json_is('/error' => "'everyone' is not a valid replies_policy");

$m->get_ok("/api/v1/lists/$l1->{id}", $h{alice})->status_is(200)->json_is($l1);
$m->get_ok("/api/v1/lists/$l1->{id}", $h{bob})->status_is(404)->json_is('/error' => 'Record not found');
$m->get_ok('/api/v1/lists/abc', $h{alice})->status_is(404);
$m->get_ok('/api/v1/lists', $h{alice})->status_is(200)->json_is([$l1, $l2]);
$m->get_ok('/api/v1/lists', $h{bob})->status_is(200)->json_is([]);

$m->put_ok("/api/v1/lists/$l1->{id}", $h{alice}, form => { replies_policy => 'followed' })->status_is(200)
  ->json_is('/title' => 'Friends')->json_is('/replies_policy' => 'followed');
$m->put_ok("/api/v1/lists/$l1->{id}", $h{alice}, json => { title => 'Pals', exclusive => false })
  ->status_is(200)->json_is('/title' => 'Pals')->json_is('/replies_policy' => 'followed');
$m->put_ok("/api/v1/lists/$l1->{id}", $h{alice}, form => { title => '' })->status_is(422);
$m->put_ok("/api/v1/lists/$l1->{id}", $h{bob}, form => { title => 'mine' })->status_is(404);
$m->get_ok("/api/v1/lists/$l1->{id}", $h{alice})->json_is('/title' => 'Pals');

# scopes: read:lists reads, write:lists writes
my $ro = $t->token(user_id => $u{alice}{user_id}, scopes => 'read:lists');
$m->get_ok('/api/v1/lists', $t->bearer($ro))->status_is(200);
$m->post_ok('/api/v1/lists', $t->bearer($ro), form => { title => 'no' })->status_is(403);

# List::PER_ACCOUNT_LIMIT
{
    my $n = 0;
    $m->post_ok('/api/v1/lists', $h{erin}, form => { title => "l$_" })->status_is(200) for 1 .. 50;
    $m->post_ok('/api/v1/lists', $h{erin}, form => { title => 'one too many' })->status_is(422)
      ->json_is('/error' => 'Validation failed: You have reached the maximum number of lists');
    is(scalar @{ $m->get_ok('/api/v1/lists', $h{erin})->tx->res->json }, 50, 'fifty lists at most');
}

# --- members -------------------------------------------------------------------------------
$m->post_ok("/api/v1/accounts/$id{$_}/follow", $h{alice})->status_is(200) for qw(bob carol);
# only accounts the owner follows (ListAccount's validation), all or none
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, form => { 'account_ids[]' => [$id{bob}, $id{dave}] })
  ->status_is(422)->json_is('/error' => 'Validation failed: Account follow relationship missing');
$m->get_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice})->status_is(200)->json_is([]);
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, form => { 'account_ids[]' => ['999999999'] })
  ->status_is(404);
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, form => { 'account_ids[]' => ['x'] })->status_is(404);
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{bob}, form => { 'account_ids[]' => [$id{alice}] })
  ->status_is(404);
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, form => { 'account_ids[]' => [$id{bob}, $id{carol}] })
  ->status_is(200)->json_is({});
$m->post_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, json => { account_ids => [$id{bob}] })
  ->status_is(422)->json_is('/error' => 'Validation failed: Account has already been taken');
$m->post_ok("/api/v1/lists/$l2->{id}/accounts", $h{alice}, json => { account_ids => [$id{carol}] })
  ->status_is(200);

$m->get_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [sort { $b <=> $a } $id{bob}, $id{carol}], 'the members, newest account first');
$m->get_ok("/api/v1/lists/$l1->{id}/accounts?limit=1", $h{alice})->status_is(200);
is(scalar @{ $m->tx->res->json }, 1, 'limit=1: one member');
my $links = $t->links($m->tx);
like($links->{next}, qr{/api/v1/lists/$l1->{id}/accounts\?limit=1&max_id=\d+$}, 'the next link');
$m->get_ok($t->path_of($links->{next}), $h{alice})->status_is(200);
is(scalar @{ $m->tx->res->json }, 1, 'the next page: the other member');
$m->get_ok("/api/v1/lists/$l1->{id}/accounts?limit=0", $h{alice})->status_is(200);
is(scalar @{ $m->tx->res->json }, 2, 'limit=0: all of them');
ok(!$m->tx->res->headers->header('Link'), 'limit=0: no Link header');
$m->get_ok("/api/v1/lists/$l1->{id}/accounts", $h{bob})->status_is(404);

$m->get_ok("/api/v1/accounts/$id{carol}/lists", $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [$l1->{id}, $l2->{id}], "the user's lists holding carol");
$m->get_ok("/api/v1/accounts/$id{carol}/lists", $h{bob})->status_is(200)->json_is([]);
$m->get_ok("/api/v1/accounts/$id{dave}/lists", $h{alice})->status_is(200)->json_is([]);
$m->get_ok('/api/v1/accounts/999999999/lists', $h{alice})->status_is(404);

# --- the list timeline ------------------------------------------------------------------------
$m->get_ok("/api/v1/timelines/list/$l1->{id}", $h{alice})->status_is(200)->json_is([]);
$m->get_ok("/api/v1/timelines/list/$l1->{id}", $h{bob})->status_is(404);
$m->get_ok('/api/v1/timelines/list/999999999', $h{alice})->status_is(404);
home_ids('alice');

my $b1 = post('bob', status => 'bob one');
ok($t->wait_for(sub { has(list_ids('alice', $l1->{id}), $b1->{id}) }), "a member's post reaches the list");
ok(!has(list_ids('alice', $l2->{id}), $b1->{id}), 'not a list it is not in');
ok($t->wait_for(sub { has(home_ids('alice'), $b1->{id}) }), 'and home (no exclusive list holds bob)');

my @posted = ($b1->{id});
push @posted, post($_ % 2 ? 'bob' : 'carol', status => "post $_")->{id} for 1 .. 5;
ok($t->wait_for(sub { @{ list_ids('alice', $l1->{id}) } == 6 }), 'six posts in the list');
is_deeply(list_ids('alice', $l1->{id}), [reverse @posted], 'newest first');

# pagination, through the one Link writer
$m->get_ok("/api/v1/timelines/list/$l1->{id}?limit=2", $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [@posted[5, 4]], 'the first page');
$links = $t->links($m->tx);
like($links->{next}, qr{/api/v1/timelines/list/$l1->{id}\?limit=2&max_id=$posted[4]$}, 'next: max_id');
like($links->{prev}, qr{/api/v1/timelines/list/$l1->{id}\?limit=2&min_id=$posted[5]$}, 'prev: min_id');
$m->get_ok($t->path_of($links->{next}), $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [@posted[3, 2]], 'the next page');
$m->get_ok("/api/v1/timelines/list/$l1->{id}?min_id=$posted[1]&limit=2", $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [@posted[3, 2]], 'min_id: the oldest above it');
$m->get_ok("/api/v1/timelines/list/$l1->{id}?since_id=$posted[3]", $h{alice})->status_is(200);
is_deeply(ids_of($m->tx->res->json), [@posted[5, 4]], 'since_id: the newest above it');

# --- exclusive: carol is in the exclusive list l2, her posts stay out of home ----------------
my $c1 = post('carol', status => 'carol exclusive');
ok(distributed($c1->{id}), 'distributed');
ok($t->wait_for(sub { has(list_ids('alice', $l2->{id}), $c1->{id}) }), 'the exclusive list gets it');
ok($t->wait_for(sub { has(list_ids('alice', $l1->{id}), $c1->{id}) }), 'and the other list');
my $b2 = post('bob', status => 'bob after');
ok($t->wait_for(sub { has(home_ids('alice'), $b2->{id}) }), "bob's later post reaches home");
ok(!has(home_ids('alice'), $c1->{id}), "carol's post is not in home");
# a rebuilt home feed keeps it out too
$t->redis('DEL', "mastodon:feed:home:$id{alice}");
my $home = home_ids('alice');
ok(has($home, $b2->{id}) && !has($home, $c1->{id}), 'nor in the rebuilt home feed');

# --- replies_policy ------------------------------------------------------------------------
# l1 is 'followed', l2 'none'; dave is followed by nobody here
$m->post_ok("/api/v1/accounts/$id{dave}/follow", $h{alice})->status_is(200);
my $d1 = post('dave', status => 'dave root');
my $to_bob = post('carol', status => '@bob to a member', in_reply_to_id => $b2->{id});
my $to_dave = post('carol', status => '@dave to a followed non-member', in_reply_to_id => $d1->{id});
my $to_alice_root = post('alice', status => 'alice root');
my $to_alice = post('carol', status => '@alice to the owner', in_reply_to_id => $to_alice_root->{id});
ok(distributed(map { $_->{id} } $to_bob, $to_dave, $to_alice), 'the replies were distributed');
my $f = list_ids('alice', $l1->{id});
ok(has($f, $to_bob->{id}) && has($f, $to_dave->{id}) && has($f, $to_alice->{id}), "followed: replies to followed accounts");
my $n = list_ids('alice', $l2->{id});
ok(!has($n, $to_bob->{id}) && !has($n, $to_dave->{id}), 'none: no replies to others');
ok(has($n, $to_alice->{id}), 'none: replies to the owner');
$m->put_ok("/api/v1/lists/$l1->{id}", $h{alice}, form => { replies_policy => 'list' })->status_is(200);
$f = list_ids('alice', $l1->{id});       # rebuilt with the new policy
ok(has($f, $to_bob->{id}) && has($f, $to_alice->{id}), 'list: replies to members and the owner');
ok(!has($f, $to_dave->{id}), 'list: not to a followed non-member');
my $to_dave2 = post('carol', status => '@dave again', in_reply_to_id => $d1->{id});
ok(distributed($to_dave2->{id}), 'distributed');
ok(!has(list_ids('alice', $l1->{id}), $to_dave2->{id}), 'list: the fan-out leaves it out too');

# --- a lost list feed is rebuilt, the same -----------------------------------------------------
my $before = list_ids('alice', $l1->{id});
$t->redis('DEL', "mastodon:feed:list:$l1->{id}");
is_deeply(list_ids('alice', $l1->{id}), $before, 'rebuilt from PostgreSQL after Redis lost it');
like($t->error_log, qr/rebuilding the list feed of $l1->{id}\b/, 'the module rebuilt it');

# --- edits and deletes reach the list feed --------------------------------------------------------
my $sub = FanoutTest->new($t)->subscribe("timeline:list:$l1->{id}");
my $gone = post('bob', status => 'to be deleted');
ok($t->wait_for(sub { has(list_ids('alice', $l1->{id}), $gone->{id}) }), 'in the list');
my ($ev) = $sub->messages(count => 1, wait => 5);
is($ev->{json}{event}, 'update', 'an update event on timeline:list:<id>');
is($ev->{json}{payload}{id}, $gone->{id}, 'with the status');
$m->put_ok("/api/v1/statuses/$gone->{id}", $h{bob}, form => { status => 'to be deleted, edited' })->status_is(200);
($ev) = $sub->messages(count => 1, wait => 5);
is($ev->{json}{event}, 'status.update', 'an edit: status.update on the list channel');
$m->delete_ok("/api/v1/statuses/$gone->{id}", $h{bob})->status_is(200);
ok($t->wait_for(sub { !$t->redis('ZSCORE', "mastodon:feed:list:$l1->{id}", $gone->{id}) }),
   'a deleted status leaves the list feed');
($ev) = $sub->messages(count => 1, wait => 5);
is($ev->{raw}, qq({"event":"delete","payload":"$gone->{id}"}), 'with a delete event');
$sub->close;

# --- removing a member, unfollowing --------------------------------------------------------------
$m->delete_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice}, form => { 'account_ids[]' => [$id{bob}] })
  ->status_is(200)->json_is({});
is_deeply(ids_of($m->get_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice})->tx->res->json), [$id{carol}],
          'bob is out of the list');
ok(!grep({ has(list_ids('alice', $l1->{id}), $_) } @posted[0, 1, 3, 5]), "and bob's posts out of its feed");
ok(has(list_ids('alice', $l1->{id}), $posted[2]), "carol's stay");

$m->post_ok("/api/v1/accounts/$id{carol}/unfollow", $h{alice})->status_is(200);
is($t->psql("SELECT count(*) FROM list_accounts WHERE account_id = $id{carol}"), 0,
   'unfollowing takes carol out of every list');
$m->get_ok("/api/v1/lists/$l1->{id}/accounts", $h{alice})->status_is(200)->json_is([]);
$m->get_ok("/api/v1/accounts/$id{carol}/lists", $h{alice})->status_is(200)->json_is([]);
ok($t->wait_for(sub { !has(list_ids('alice', $l2->{id}), $c1->{id}) }), "and her posts out of the list feeds");
is_deeply(list_ids('alice', $l1->{id}), [], 'the list feed is empty');
my $c2 = post('carol', status => 'after the unfollow');
ok(distributed($c2->{id}), 'distributed');
is_deeply(list_ids('alice', $l1->{id}), [], 'nothing reaches the list from a former member');

# --- delete a list ---------------------------------------------------------------------------
$m->delete_ok("/api/v1/lists/$l2->{id}", $h{bob})->status_is(404);
$m->delete_ok("/api/v1/lists/$l2->{id}", $h{alice})->status_is(200)->json_is({});
$m->get_ok("/api/v1/lists/$l2->{id}", $h{alice})->status_is(404);
$m->get_ok("/api/v1/timelines/list/$l2->{id}", $h{alice})->status_is(404);
ok($t->wait_for(sub { !$t->redis('EXISTS', "mastodon:feed:list:$l2->{id}") }), 'its feed is gone from Redis');

$t->done;
