#!/usr/bin/perl
# Polls over ActivityPub: a local status with a poll is a Question
# (ActivityPub::NoteSerializer: oneOf or anyOf, each option a Note with its
# name and replies.totalItems, endTime, closed once expired, votersCount) in
# its Create and Update (worker/ap_send_status.c) and at its URI
# (ngx_mastodon_module/activitypub/ngx_http_mastodon_note.c), both written by
# lib/mstdn_ap.c from mastodon_poll_json().
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use InboxRecorder;
use Mojo::IOLoop::Server;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::File qw(path);

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;
sub records { $rec->records }
sub first_of { $rec->first_of(@_) }
sub reset_log { $rec->reset }

my $alice = $t->user('alice', password => 'correct horse battery');
my $m = $t->mojo;
my $auth = $t->bearer($alice->{token});
my $base = 'http://' . $t->domain;
my $AP = 'application/activity+json';

my $bob = $rec->account('bob', 'b.example');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob, $alice->{account_id})");

sub no_ms { my $t = shift; $t =~ s/\.\d+Z$/Z/; $t }

# --- a single-choice poll: Create of a Question with oneOf ---------------------------
my $st = $m->post_ok('/api/v1/statuses', $auth, form => { status => 'tea or coffee?',
    'poll[options][]' => [qw(tea coffee)], 'poll[expires_in]' => 3600 })->status_is(200)->tx->res->json;
my $poll = $st->{poll};
my $create = first_of('Create');
ok($create, 'a Create is delivered');
my $q = $create->{object};
is($q->{type}, 'Question', 'its object is a Question');
is($q->{id}, "$base/users/alice/statuses/$st->{id}", 'the status URI');
is_deeply($q->{oneOf}, [ { type => 'Note', name => 'tea', replies => { type => 'Collection', totalItems => 0 } },
                         { type => 'Note', name => 'coffee', replies => { type => 'Collection', totalItems => 0 } } ],
          'oneOf: each option a Note with its name and count');
ok(!exists $q->{anyOf}, 'no anyOf');
is($q->{endTime}, no_ms($poll->{expires_at}), 'endTime: expires_at in whole seconds');
ok(!exists $q->{closed}, 'not closed');
if (defined $poll->{voters_count}) {
    is($q->{votersCount}, $poll->{voters_count}, 'votersCount');
} else {
    ok(!exists $q->{votersCount}, 'no votersCount while unknown');
}
ok((grep { ref $_ eq 'HASH' && ($_->{votersCount} // '') eq 'toot:votersCount' } @{ $create->{'@context'} }),
   'the context defines votersCount');

# the same Question at the status URI
my $res = $m->get_ok("/users/alice/statuses/$st->{id}", { Accept => $AP })->status_is(200)->tx->res;
my $doc = $res->json;
is($doc->{type}, 'Question', 'GET of the status URI: a Question');
is_deeply($doc->{oneOf}, $q->{oneOf}, '... with the same options');
is($doc->{endTime}, $q->{endTime}, '... and endTime');

# votes counted show in both
my $carol = $t->user('carol', password => 'correct horse battery');
$m->post_ok("/api/v1/polls/$poll->{id}/votes", $t->bearer($carol->{token}), json => { choices => [1] })->status_is(200);
$doc = $m->get_ok("/users/alice/statuses/$st->{id}", { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply([ map { $_->{replies}{totalItems} } @{ $doc->{oneOf} } ], [0, 1], 'a vote counts in its option');

# an edit: Update of the Question
reset_log();
$m->put_ok("/api/v1/statuses/$st->{id}", $auth, form => { status => 'tea, coffee or water?',
    'poll[options][]' => [qw(tea coffee water)], 'poll[expires_in]' => 7200 })->status_is(200);
my $update = first_of('Update');
ok($update, 'an Update is delivered');
is($update->{object}{type}, 'Question', 'of the Question');
is_deeply([ map { $_->{name} } @{ $update->{object}{oneOf} } ], [qw(tea coffee water)], 'with the new options');

# --- a multiple-choice poll, hidden totals, then expired -------------------------------
reset_log();
$st = $m->post_ok('/api/v1/statuses', $auth, form => { status => 'pick any', 'poll[multiple]' => 'true',
    'poll[hide_totals]' => 'true', 'poll[options][]' => [qw(a b)], 'poll[expires_in]' => 3600 })
    ->status_is(200)->tx->res->json;
$q = first_of('Create')->{object};
is($q->{type}, 'Question', 'a multiple-choice poll: a Question');
ok(!exists $q->{oneOf}, 'no oneOf');
is_deeply([ map { $_->{name} } @{ $q->{anyOf} } ], [qw(a b)], 'anyOf');
is_deeply([ map { $_->{replies}{totalItems} } @{ $q->{anyOf} } ], [undef, undef], 'hidden totals are null while it runs');

$t->psql("UPDATE polls SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 minute',"
       . " cached_tallies = '{2,1}', votes_count = 3, voters_count = 2 WHERE id = $st->{poll}{id}");
$doc = $m->get_ok("/users/alice/statuses/$st->{id}", { Accept => $AP })->status_is(200)->tx->res->json;
ok($doc->{closed}, 'expired: closed');
is($doc->{closed}, $doc->{endTime}, 'closed is the end time');
is_deeply([ map { $_->{replies}{totalItems} } @{ $doc->{anyOf} } ], [2, 1], 'the totals shown once closed');
is($doc->{votersCount}, 2, 'votersCount');

# a status without a poll stays a Note
my $plain = $m->post_ok('/api/v1/statuses', $auth, form => { status => 'no poll' })->status_is(200)->tx->res->json;
$doc = $m->get_ok("/users/alice/statuses/$plain->{id}", { Accept => $AP })->status_is(200)->tx->res->json;
is($doc->{type}, 'Note', 'no poll: a Note');
ok(!exists $doc->{oneOf} && !exists $doc->{endTime}, 'without poll attributes');

$rec->stop;
done_testing;
