#!/usr/bin/perl
# Incoming polls (worker/inbox_note.c poll_read): a Create of a Question
# stores its poll (options by name, their counts, endTime or closed,
# votersCount, anyOf: multiple; options bounded) so the Status API shows
# it as Mastodon does.  The remote server and the delivery as in
# t/inbox_process.t.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use DocServer;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Mojo::JSON qw(decode_json true false);

# --- the remote server: documents from files, path -> file (t/lib/DocServer.pm) -------
my $t = MastodonTest->new(worker_env => {
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1' });
my $m = $t->mojo;
my $srv = DocServer->new($t->dir . '/docs');
my ($port, $R) = ($srv->port, $srv->url);
sub serve { $srv->serve(@_) }
sub actor { $srv->actor(@_) }

serve("/users/bob", actor('bob'));
my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});

my $n = 0;
sub process { $t->inbox_process($_[0]) }
sub act { my ($type, %o) = @_; $n++; return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/users/bob/activities/$n", type => $type, actor => "$R/users/bob", %o } }
sub question {
    my ($id, %o) = @_;
    return { id => "$R/users/bob/statuses/$id", type => 'Question', attributedTo => "$R/users/bob",
             content => '<p>which?</p>', to => ['https://www.w3.org/ns/activitystreams#Public'],
             published => '2026-12-01T10:00:00Z', %o };
}
sub opt { my ($name, $n) = @_; return { type => 'Note', name => $name, replies => { type => 'Collection', totalItems => $n } } }
sub status_of { $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/bob/statuses/$_[0]'") }
# The poll as the API shows it once $done says so: the render cache forgets
# the status in a status_forget job after the activity's transaction, so the
# first read may still be the old one (at most the wait; then its checks fail).
sub poll_once {
    my ($sid, $done) = @_;
    my $p;
    $t->wait_for(sub { $p = $m->ua->get("/api/v1/statuses/$sid" => $ha)->result->json->{poll}; $done->($p) }, 10);
    return $p;
}

# --- oneOf: a single-choice poll with its counts and end ---------------------------
process(act('Create', object => question(1, oneOf => [opt('tea', 3), opt('coffee', 1)],
                                         endTime => '2099-01-01T00:00:00Z', votersCount => 4)));
my $sid = status_of(1);
ok($sid, 'the Question is stored');
my $p = $m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->tx->res->json->{poll};
ok($p, 'the status has a poll');
is($p->{multiple}, false, 'oneOf: single choice');
is_deeply([ map { [$_->{title}, $_->{votes_count}] } @{ $p->{options} } ], [['tea', 3], ['coffee', 1]], 'options and counts');
is($p->{votes_count}, 4, 'votes_count: the sum');
is($p->{voters_count}, 4, 'voters_count');
is($p->{expires_at}, '2099-01-01T00:00:00.000Z', 'expires_at: endTime');
is($p->{expired}, false, 'running');
$m->get_ok("/api/v1/polls/$p->{id}", $ha)->status_is(200)->json_is('/options/1/title', 'coffee');

# --- anyOf, closed, options by content, bounded ------------------------------------
my @many = map { opt("o$_", $_) } 1 .. 60;
$many[0] = { type => 'Note', content => 'by content', replies => { totalItems => -5 } };
process(act('Create', object => question(2, anyOf => \@many, closed => '2026-11-30T00:00:00Z')));
$sid = status_of(2);
$p = $m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->tx->res->json->{poll};
is($p->{multiple}, true, 'anyOf: multiple');
is(scalar @{ $p->{options} }, 50, 'at most 50 options kept');
is($p->{options}[0]{title}, 'by content', 'an option without name: its content');
is($p->{options}[0]{votes_count}, 0, 'a negative count is 0');
is($p->{expired}, true, 'closed: expired');
is($p->{expires_at}, '2026-11-30T00:00:00.000Z', 'expires_at: closed');
is($p->{voters_count}, undef, 'no votersCount: null');

# --- a Note stays without poll; a Question without options too ------------------------
process(act('Create', object => question(3, oneOf => [])));
$sid = status_of(3);
ok($sid, 'a Question without options is stored');
is($m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->tx->res->json->{poll}, undef, '... without a poll');

# --- Update of the Question: the counts refreshed, no edit ------------------------------
process(act('Update', object => question(1, oneOf => [opt('tea', 5), opt('coffee', 2)],
                                         endTime => '2099-01-01T00:00:00Z', votersCount => 7)));
$sid = status_of(1);
$p = poll_once($sid, sub { ($_[0]{votes_count} // 0) == 7 });
is_deeply([ map { $_->{votes_count} } @{ $p->{options} } ], [5, 2], 'Update: the counts refreshed');
is($p->{votes_count}, 7, 'votes_count');
is($p->{voters_count}, 7, 'voters_count');
is($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid"), 0, 'a count update is no edit');
is($t->psql("SELECT edited_at IS NULL FROM statuses WHERE id = $sid"), 't', 'edited_at untouched');

# a local vote, then the options change: the vote is dropped, an edit recorded
my $pid = $p->{id};
$t->psql("INSERT INTO poll_votes (account_id, poll_id, choice) VALUES ($alice->{account_id}, $pid, 0)");
process(act('Update', object => question(1, content => '<p>which now?</p>',
                                         oneOf => [opt('water', 0), opt('juice', 0)],
                                         endTime => '2099-01-02T00:00:00Z')));
$p = poll_once($sid, sub { ($_[0]{options}[0]{title} // '') eq 'water' });
is_deeply([ map { $_->{title} } @{ $p->{options} } ], [qw(water juice)], 'new options');
is($p->{expires_at}, '2099-01-02T00:00:00.000Z', 'the new end');
is($t->psql("SELECT count(*) FROM poll_votes WHERE poll_id = $pid"), 0, 'the votes on the old options dropped');
ok($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid") > 0, 'a text change is an edit');

# --- an Update without the poll removes it, and is an edit (update_poll!) ---------------
my $edits = $t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid");
$t->psql("INSERT INTO poll_votes (account_id, poll_id, choice) VALUES ($alice->{account_id}, $pid, 1)");
process(act('Update', object => question(1, type => 'Note', content => '<p>which now?</p>')));
ok($t->wait_for(sub { my $s = $m->ua->get("/api/v1/statuses/$sid" => $ha)->result->json;
                      $s && exists $s->{poll} && !defined $s->{poll} }, 10), 'the poll is gone from the status');
is($t->psql("SELECT count(*) FROM polls WHERE id = $pid"), 0, 'the polls row removed');
is($t->psql("SELECT count(*) FROM poll_votes WHERE poll_id = $pid"), 0, '... with its votes');
is($t->psql("SELECT poll_id IS NULL FROM statuses WHERE id = $sid"), 't', 'statuses.poll_id cleared');
is($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid"), $edits + 1, 'the removal is an edit');
my $hist = $m->get_ok("/api/v1/statuses/$sid/history", $ha)->status_is(200)->tx->res->json;
is_deeply([ map { $_->{poll} ? [ map { $_->{title} } @{ $_->{poll}{options} } ] : undef } @$hist ],
          [ [qw(tea coffee)], [qw(water juice)], undef ], 'the history: the poll, the new options, no poll');

# the same Note again: nothing significant, no edit
process(act('Update', object => question(1, type => 'Note', content => '<p>which now?</p>')));
is($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $sid"), $edits + 1, 'an unchanged Update is no edit');

done_testing;
