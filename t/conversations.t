# Conversations as Mastodon 4 serves them: the direct-message threads the
# worker keeps when it distributes direct statuses (AccountConversation: the
# author's thread read, each notified mentioned account's unread; blocks keep
# a thread out as NotifyService does), GET /api/v1/conversations (the
# Conversation entity, pagination by last status with Link headers), POST
# /:id/read, DELETE /:id, and a deleted status leaving its threads.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new;
my $ua = $t->ua;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
sub h { $t->bearer($u{ $_[0] }{token}) }
my %id = map { $_ => $t->psql("SELECT id FROM accounts WHERE username = '$_' AND domain IS NULL") } keys %u;

sub post { $ua->post('/api/v1/statuses' => h($_[0]) => json => $_[1])->res->json }
sub convs { $ua->get("/api/v1/conversations$_[1]" => h($_[0]))->res->json }
sub threads {
    my ($who) = @_;
    return $t->psql("SELECT count(*) FROM account_conversations WHERE account_id = $id{$who}");
}

my $d1 = post('alice', { status => '@bob hello there', visibility => 'direct' });
ok($d1->{id}, 'a direct status');
ok($t->wait_for(sub { threads('alice') == 1 && threads('bob') == 1 }), 'a thread each for alice and bob');

my $c = convs('bob', '');
is(scalar @$c, 1, "bob's conversations: one");
is_deeply([ entity_errors($c->[0], 'Conversation') ], [], 'the Conversation entity');
is_deeply([ status_errors($c->[0]{last_status}) ], [], 'its last_status');
is($c->[0]{unread}, true, 'unread for bob');
is($c->[0]{last_status}{id}, $d1->{id}, 'last_status');
is_deeply([ map { $_->{username} } @{ $c->[0]{accounts} } ], ['alice'], 'accounts: the others');
is_deeply([ entity_errors($c->[0]{accounts}[0], 'Account') ], [], 'an Account');
my $ca = convs('alice', '');
is($ca->[0]{unread}, false, 'read for its author');
is_deeply([ map { $_->{username} } @{ $ca->[0]{accounts} } ], ['bob'], 'accounts: bob');

# a reply in the thread moves it along and makes it unread for alice
my $d2 = post('bob', { status => '@alice hi back', visibility => 'direct', in_reply_to_id => $d1->{id} });
ok($t->wait_for(sub { convs('alice', '')->[0]{last_status}{id} eq $d2->{id} }), 'the reply is the last status');
is(threads('alice'), 1, 'the same thread');
is(convs('alice', '')->[0]{unread}, true, 'unread for alice now');
is(convs('bob', '')->[0]{unread}, false, 'read for bob, who wrote it');
is(convs('bob', '')->[0]{id}, $c->[0]{id}, "bob's thread kept its id");

# read
my $cid = convs('alice', '')->[0]{id};
my $res = $ua->post("/api/v1/conversations/$cid/read" => h('alice'))->res;
is($res->code, 200, 'POST read');
is_deeply([ entity_errors($res->json, 'Conversation') ], [], 'answers the Conversation');
is($res->json->{unread}, false, 'read');
is(convs('alice', '')->[0]{unread}, false, 'and stays read');
is($ua->post("/api/v1/conversations/$cid/read" => h('bob'))->res->code, 404, "another's: 404");

# a third participant: a thread of its own (other participants)
my $d3 = post('alice', { status => '@bob @carol all of us', visibility => 'direct' });
ok($t->wait_for(sub { threads('carol') == 1 && threads('alice') == 2 }), 'a new thread for the three');
is_deeply([ sort map { $_->{username} } @{ convs('carol', '')->[0]{accounts} } ], [qw(alice bob)],
          "carol's thread: alice and bob");

# a self-mention only: the owner is the account shown
my $d4 = post('dave', { status => 'a note to myself', visibility => 'direct' });
ok($t->wait_for(sub { threads('dave') == 1 }), 'a thread of one');
is_deeply([ map { $_->{username} } @{ convs('dave', '')->[0]{accounts} } ], ['dave'], 'accounts: the owner');

# a block keeps the thread out (no notification, no thread)
$ua->post("/api/v1/accounts/$id{alice}/block" => h('dave'));
post('alice', { status => '@dave blocked me', visibility => 'direct' });
sleep 1;
ok($t->wait_for(sub { threads('alice') == 3 }), "alice's own thread");
is(threads('dave'), 1, 'none for dave, who blocks alice');

# not a direct status: no thread
post('alice', { status => '@bob in public' });
sleep 1;
is(threads('bob'), 2, 'a public mention makes none');

# pagination, by last status
my $tx = $ua->get('/api/v1/conversations?limit=1' => h('alice'));
is(scalar @{ $tx->res->json }, 1, 'limit=1');
my $first = $tx->res->json->[0];
my $links = $t->links($tx);
is($t->path_of($links->{next}), "/api/v1/conversations?limit=1&max_id=$first->{last_status}{id}",
   'next: max_id, the last status');
is($t->path_of($links->{prev}), "/api/v1/conversations?limit=1&min_id=$first->{last_status}{id}", 'prev: min_id');
my @all = map { $_->{id} } @{ convs('alice', '') };
is(scalar @all, 3, 'three threads');
my $page2 = $ua->get($t->path_of($links->{next}) => h('alice'))->res->json;
is($page2->[0]{id}, $all[1], 'the next page: the second');
my $back = $ua->get("/api/v1/conversations?limit=1&min_id=" . $page2->[0]{last_status}{id} => h('alice'))->res->json;
is($back->[0]{id}, $all[0], 'min_id: the one after it');

# a deleted status leaves its threads; a thread left empty goes
is($ua->delete("/api/v1/statuses/$d3->{id}" => h('alice'))->res->code, 200, 'a status deleted');
ok($t->wait_for(sub { threads('carol') == 0 }), "carol's thread, empty, gone");
is(threads('alice'), 2, "alice's other threads stay");
is($ua->delete("/api/v1/statuses/$d2->{id}" => h('bob'))->res->code, 200, 'the reply deleted');
ok($t->wait_for(sub { (convs('bob', '')->[0]{last_status}{id} // '') eq $d1->{id} }),
   'the thread goes back to the status before');

# DELETE
$cid = convs('bob', '')->[0]{id};
is($ua->delete("/api/v1/conversations/$cid" => h('alice'))->res->code, 404, "DELETE another's: 404");
$res = $ua->delete("/api/v1/conversations/$cid" => h('bob'))->res;
is($res->code, 200, 'DELETE');
is_deeply($res->json, {}, '{}');
is_deeply(convs('bob', ''), [], 'gone');
is($ua->get('/api/v1/conversations')->res->code, 401, 'no token: 401');

$t->done;
