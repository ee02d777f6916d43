#!/usr/bin/perl
# Poll votes across servers (issue 9).  One vote rule, mastodon_poll_vote()
# of sql/0022, used by the module (POST /api/v1/polls/:id/votes) and the
# worker (incoming votes).  A local account's vote on a remote poll is
# counted here and delivered to the poll's author as Mastodon's
# VoteService does (Create of a Note named after the option, inReplyTo the
# poll's status, to its author: job activitypub_vote).  A remote vote on
# a local poll (an incoming Create of such a Note) counts once per option
# and account and is never stored as a status, and the poll's new counts
# go out as the Update of the Question (DistributePollUpdateWorker: job
# activitypub_poll_update, once for the votes of poll_update_delay_ms) to
# the status' audience and the remote voters.  An Update that gives a
# remote status a poll adds it.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use InboxRecorder;
use Mojo::IOLoop::Server;
use Mojo::JSON qw(decode_json true false);
use Mojo::File qw(path);

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push,ingress', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_POLL_UPDATE_DELAY_MS => 1500,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;
sub records { $rec->records }
sub all_of {
    my ($pred, $want) = @_;
    my @r;
    $t->wait_for(sub { @r = grep { $pred->($_) } @{ records() }; @r >= ($want // 1) }, 30);
    return @r;
}
sub reset_log { $rec->reset }

my $alice = $t->user('alice', password => 'correct horse battery');
my $carol = $t->user('carol', password => 'correct horse battery');
my $m = $t->mojo;
my $ha = $t->bearer($alice->{token});
my $hc = $t->bearer($carol->{token});
my $base = 'http://' . $t->domain;
my $R = 'https://b.example';
my $AP = 'application/activity+json';

my $bob = $rec->account('bob', 'b.example');
my $dan = $rec->account('dan', 'd.example', "$in/d/shared");

my $n = 0;
sub process { my ($act, $signer) = @_; $t->inbox_process($act, signer_id => $signer // $bob) }
sub act {
    my ($type, %o) = @_;
    $n++;
    return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/users/bob/activities/$n",
             type => $type, actor => "$R/users/bob", %o };
}
sub opt { my ($name, $c) = @_; return { type => 'Note', name => $name, replies => { type => 'Collection', totalItems => $c } } }

# --- a local vote on a remote poll ------------------------------------------------------
process(act('Create', object => { id => "$R/users/bob/statuses/1", type => 'Question',
    attributedTo => "$R/users/bob", content => '<p>tea or coffee?</p>',
    to => ['https://www.w3.org/ns/activitystreams#Public'], published => '2026-12-01T10:00:00Z',
    oneOf => [ opt('tea', 2), opt('coffee', 1) ], endTime => '2099-01-01T00:00:00Z', votersCount => 3 }));
my $sid = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/bob/statuses/1'");
my $poll = $m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->tx->res->json->{poll};
ok($poll, 'the remote poll is stored');

my $voted = $m->post_ok("/api/v1/polls/$poll->{id}/votes", $ha, json => { choices => [1] })
    ->status_is(200)->tx->res->json;
is_deeply($voted->{own_votes}, [1], 'the vote is recorded here');
is($voted->{options}[1]{votes_count}, 2, 'and counted in the local copy');

my ($vote) = all_of(sub { $_[0]{where} eq 'bob/inbox' && $_[0]{json}{type} eq 'Create' });
ok($vote, 'a Create is delivered to the poll author\'s inbox');
my $vid = $t->psql("SELECT id FROM poll_votes WHERE poll_id = $poll->{id} AND account_id = $alice->{account_id}");
is_deeply($vote->{json}, {
    '@context' => 'https://www.w3.org/ns/activitystreams',
    id => "$base/users/alice#votes/$vid/activity", type => 'Create', actor => "$base/users/alice",
    to => "$R/users/bob",
    object => { id => "$base/users/alice#votes/$vid", type => 'Note', name => 'coffee',
                attributedTo => "$base/users/alice", inReplyTo => "$R/users/bob/statuses/1",
                to => "$R/users/bob" } }, 'ActivityPub::VoteSerializer\'s shape');

# a multiple-choice remote poll: one Create per choice
process(act('Create', object => { id => "$R/users/bob/statuses/2", type => 'Question',
    attributedTo => "$R/users/bob", content => '<p>any?</p>',
    to => ['https://www.w3.org/ns/activitystreams#Public'], published => '2026-12-01T10:00:00Z',
    anyOf => [ opt('a', 0), opt('b', 0), opt('c', 0) ], endTime => '2099-01-01T00:00:00Z' }));
my $sid2 = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/bob/statuses/2'");
my $poll2 = $m->get_ok("/api/v1/statuses/$sid2", $ha)->status_is(200)->tx->res->json->{poll};
reset_log();
$m->post_ok("/api/v1/polls/$poll2->{id}/votes", $ha, json => { choices => [0, 2] })->status_is(200);
my @votes = all_of(sub { $_[0]{where} eq 'bob/inbox' && $_[0]{json}{type} eq 'Create' }, 2);
is_deeply([ sort map { $_->{json}{object}{name} } @votes ], [qw(a c)], 'one Create per choice');

# a refused vote sends nothing
reset_log();
$m->post_ok("/api/v1/polls/$poll->{id}/votes", $ha, json => { choices => [0] })->status_is(422);

# --- a remote vote on a local poll -------------------------------------------------------
my $st = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'cats or dogs?',
    'poll[options][]' => [qw(cats dogs)], 'poll[expires_in]' => 3600 })->status_is(200)->tx->res->json;
my $uri = "$base/users/alice/statuses/$st->{id}";
$m->post_ok("/api/v1/polls/$st->{poll}{id}/votes", $hc, json => { choices => [0] })->status_is(200);
my $statuses = $t->psql('SELECT count(*) FROM statuses');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($dan, $alice->{account_id})");
reset_log();

process(act('Create', object => { id => "$R/users/bob#votes/7", type => 'Note', name => 'dogs',
    attributedTo => "$R/users/bob", inReplyTo => $uri, to => "$base/users/alice" }));
my $p = $m->get_ok("/api/v1/polls/$st->{poll}{id}", $ha)->status_is(200)->tx->res->json;
is_deeply([ map { $_->{votes_count} } @{ $p->{options} } ], [1, 1], 'the remote vote counts');
is($p->{voters_count}, 2, 'a new voter');
is($t->psql('SELECT count(*) FROM statuses'), $statuses, 'the vote is not a status');
is($t->psql("SELECT uri FROM poll_votes WHERE account_id = $bob"), "$R/users/bob#votes/7", 'the vote keeps its URI');

# the same option again (another activity): counted once
process(act('Create', object => { id => "$R/users/bob#votes/8", type => 'Note', name => 'dogs',
    attributedTo => "$R/users/bob", inReplyTo => $uri, to => "$base/users/alice" }));
# an option the poll does not have: nothing
process(act('Create', object => { id => "$R/users/bob#votes/9", type => 'Note', name => 'fish',
    attributedTo => "$R/users/bob", inReplyTo => $uri, to => "$base/users/alice" }));
$p = $m->get_ok("/api/v1/polls/$st->{poll}{id}", $ha)->status_is(200)->tx->res->json;
is_deeply([ map { $_->{votes_count} } @{ $p->{options} } ], [1, 1], 'once per option and account');
is($p->{voters_count}, 2, 'voters unchanged');

# the Update of the Question: once for these votes, to the followers and the voters
my ($upd) = all_of(sub { $_[0]{json}{type} eq 'Update' && $_[0]{json}{object}{id} eq $uri }, 2);
my @upd = all_of(sub { $_[0]{json}{type} eq 'Update' && $_[0]{json}{object}{id} eq $uri }, 2);
is_deeply([ sort map { $_->{where} } @upd ], [ 'bob/inbox', 'd/shared' ],
          'the Update of the Question reaches the voter and the followers (shared inbox)');
is($upd->{json}{object}{type}, 'Question', 'of the Question');
is_deeply([ map { $_->{replies}{totalItems} } @{ $upd->{json}{object}{oneOf} } ], [1, 1], 'with the new counts');
like($upd->{json}{id}, qr{^\Q$uri\E#updates/\d+$}, 'its id: STATUS#updates/<the poll\'s updated_at>');
is($p->{expired}, false, 'the poll runs');

# a vote on an ended poll: not counted, not a status
$statuses = $t->psql('SELECT count(*) FROM statuses');
$t->psql("UPDATE polls SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 minute' WHERE id = $st->{poll}{id}");
process(act('Create', object => { id => "$R/users/bob#votes/10", type => 'Note', name => 'cats',
    attributedTo => "$R/users/bob", inReplyTo => $uri, to => "$base/users/alice" }));
is($t->psql("SELECT count(*) FROM poll_votes WHERE account_id = $bob"), 1, 'a vote on an ended poll is not counted');
is($t->psql('SELECT count(*) FROM statuses'), $statuses, '... nor stored as a status');
is(scalar(grep { $_->{json}{type} eq 'Update' && $_->{json}{object}{id} eq $uri } @{ records() }), 2,
   'the Update went once to each inbox for the votes of the delay');

# --- an Update that gives a remote status a poll ---------------------------------------
process(act('Create', object => { id => "$R/users/bob/statuses/3", type => 'Note',
    attributedTo => "$R/users/bob", content => '<p>soon a poll</p>',
    to => ['https://www.w3.org/ns/activitystreams#Public'], published => '2026-12-01T10:00:00Z' }));
my $sid3 = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/bob/statuses/3'");
is($m->get_ok("/api/v1/statuses/$sid3", $ha)->status_is(200)->tx->res->json->{poll}, undef, 'no poll at first');
process(act('Update', object => { id => "$R/users/bob/statuses/3", type => 'Question',
    attributedTo => "$R/users/bob", content => '<p>soon a poll</p>',
    to => ['https://www.w3.org/ns/activitystreams#Public'], published => '2026-12-01T10:00:00Z',
    oneOf => [ opt('yes', 0), opt('no', 4) ], endTime => '2099-01-01T00:00:00Z' }));
# (the cached rendering goes with the edit's status_forget job)
my $s3;
ok($t->wait_for(sub { $s3 = $m->ua->get("/api/v1/statuses/$sid3" => $ha)->res->json; $s3 && $s3->{poll} }, 30),
   'an Update with a poll adds it');
is_deeply([ map { [$_->{title}, $_->{votes_count}] } @{ $s3->{poll}{options} || [] } ], [['yes', 0], ['no', 4]],
          'its options and counts');
ok($s3->{edited_at}, 'adding a poll is an edit');

$rec->stop;
done_testing;
