# Polls as Mastodon 4 serves them: poll[...] on POST /api/v1/statuses (form and
# JSON, PollValidator's limits, reported in the instance configuration), the Poll
# entity in statuses (the viewer's voted/own_votes, never in the shared cached
# rendering) and at GET /api/v1/polls/:id (the status' visibility applies), votes
# (single and multiple choice, double votes, own polls, bad choices, expired
# polls), exact counts under 20 concurrent voters, and the end of a poll: the
# worker's poll_expire job waits in mastodon:schedule, then notifies the author
# and each voter once (type poll).

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false encode_json);
use Mojo::Promise;
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new;
my $ua = $t->ua;

my @voters = map { "voter$_" } 1 .. 20;
my %u = map { $_ => $t->user($_) } qw(alice bob carol dave), @voters;
sub h { $t->bearer($u{ $_[0] }{token}) }

# --- the limits in the instance configuration -----------------------------------
for my $path ('/api/v1/instance', '/api/v2/instance') {
    my $polls = $ua->get($path)->res->json->{configuration}{polls};
    is_deeply($polls, { max_options => 4, max_characters_per_option => 50,
                        min_expiration => 300, max_expiration => 2629746 }, "$path: polls limits");
}

# --- posting --------------------------------------------------------------------
sub post_poll {
    my ($who, %o) = @_;
    my $body = { status => $o{status} // 'which?', visibility => $o{visibility} // 'public',
                 'poll[options][]' => $o{options} // [qw(tea coffee)],
                 'poll[expires_in]' => $o{expires_in} // 600,
                 %{ $o{extra} // {} } };
    return $ua->post('/api/v1/statuses' => h($who) => form => $body)->res;
}

my $res = post_poll('alice', options => ['tea', ' coffee ', 'water']);
is($res->code, 200, 'a status with a poll (form)') or diag $res->body;
my $st = $res->json;
my $poll = $st->{poll};
is_deeply([ status_errors($st) ], [], 'the Status entity');
is_deeply([ entity_errors($poll, 'Poll') ], [], 'its Poll entity');
is_deeply([ map { $_->{title} } @{ $poll->{options} } ], [qw(tea coffee water)], 'options, stripped');
is_deeply([ map { $_->{votes_count} } @{ $poll->{options} } ], [0, 0, 0], 'counts shown');
ok(!$poll->{expired} && !$poll->{multiple}, 'running, single choice');
is($poll->{votes_count}, 0, 'votes_count 0');
is($poll->{voters_count}, 0, 'voters_count 0');
is_deeply($poll->{emojis}, [], 'emojis');
is($poll->{voted}, false, 'the author has not voted');
is_deeply($poll->{own_votes}, [], 'own_votes empty');
like($poll->{expires_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'expires_at');
my $pid = $poll->{id};
my $sid = $st->{id};

$res = $ua->post('/api/v1/statuses' => h('bob') => json => { status => 'pick some',
    poll => { options => [qw(red green blue)], expires_in => 3600, multiple => true, hide_totals => true } })->res;
is($res->code, 200, 'a multiple choice poll with hidden totals (JSON)') or diag $res->body;
my $multi = $res->json->{poll};
ok($multi->{multiple}, 'multiple');
is_deeply([ map { $_->{votes_count} } @{ $multi->{options} } ], [undef, undef, undef],
    'totals hidden while it runs');

my @refused = (
    [ { options => ['only'] }, 'Validation failed: Poll options must have more than one item' ],
    [ { options => [qw(a b c d e)] }, "Validation failed: Poll options can't contain more than 4 items" ],
    [ { options => [qw(a a)] }, 'Validation failed: Poll options contain duplicate items' ],
    [ { options => ['a', 'x' x 51] }, 'Validation failed: Poll options cannot be longer than 50 characters each' ],
    [ { expires_in => 299 }, 'Validation failed: Poll expires at is too soon' ],
    [ { expires_in => 2629747 }, 'Validation failed: Poll expires at is too far into the future' ],
);
my $before = $t->psql('SELECT count(*) FROM statuses');
for my $r (@refused) {
    my ($o, $msg) = @$r;
    $res = post_poll('alice', %$o);
    is($res->code, 422, "refused: $msg");
    is($res->json->{error}, $msg, 'with Mastodon\'s message');
}
is($t->psql('SELECT count(*) FROM statuses'), $before, 'nothing posted');
ok(!$t->psql("SELECT 1 FROM polls WHERE options = '{only}'"), 'no poll either');

# --- GET /api/v1/polls/:id --------------------------------------------------------
$res = $ua->get("/api/v1/polls/$pid")->res;
is($res->code, 200, 'anonymous: the poll of a public status');
ok(!exists $res->json->{voted} && !exists $res->json->{own_votes}, 'without voted/own_votes');
is_deeply([ entity_errors($res->json, 'Poll') ], [], 'Poll entity');
$res = $ua->get("/api/v1/polls/$pid" => h('carol'))->res;
is($res->json->{voted}, false, 'a user: voted false');
is($ua->get('/api/v1/polls/999999999')->res->code, 404, 'no such poll');

my $private = post_poll('dave', visibility => 'private')->json;
my $ppid = $private->{poll}{id};
is($ua->get("/api/v1/polls/$ppid" => h('carol'))->res->code, 404, 'private: not for a stranger');
is($ua->get("/api/v1/polls/$ppid")->res->code, 404, 'nor anonymous');
is($ua->get("/api/v1/polls/$ppid" => h('dave'))->res->code, 200, 'its author sees it');
is($ua->post("/api/v1/polls/$ppid/votes" => h('carol') => form => { 'choices[]' => 0 })->res->code, 404,
    'and a stranger cannot vote on it');

# --- voting ---------------------------------------------------------------------
sub vote {
    my ($who, $id, @choices) = @_;
    return $ua->post("/api/v1/polls/$id/votes" => h($who) => form => { 'choices[]' => \@choices })->res;
}

$res = vote('bob', $pid, 1);
is($res->code, 200, 'bob votes') or diag $res->body;
is($res->json->{voted}, true, 'voted');
is_deeply($res->json->{own_votes}, [1], 'own_votes');
is($res->json->{votes_count}, 1, 'votes_count');
is($res->json->{voters_count}, 1, 'voters_count');
is_deeply([ map { $_->{votes_count} } @{ $res->json->{options} } ], [0, 1, 0], 'tallies');

$res = vote('bob', $pid, 0);
is($res->code, 422, 'a second vote is refused');
is($res->json->{error}, 'Validation failed: You have already voted on this poll', 'already voted');
$res = vote('alice', $pid, 0);
is($res->code, 422, 'the author cannot vote');
is($res->json->{error}, 'Validation failed: You cannot vote in your own polls', 'self vote');
$res = vote('carol', $pid, 3);
is($res->json->{error}, 'Validation failed: The chosen vote option does not exist', 'no such choice');
$res = vote('carol', $pid, 0, 2);
is($res->json->{error}, 'Validation failed: You have already voted on this poll',
    'two choices on a single choice poll');
$res = $ua->post("/api/v1/polls/$pid/votes" => h('carol') => form => {})->res;
is($res->code, 400, 'choices missing: 400');
is($t->psql("SELECT votes_count || '/' || voters_count || '/' || array_to_string(cached_tallies, ',')"
    . " FROM polls WHERE id = $pid"), '1/1/0,1,0', 'refusals changed nothing');

# the Status: the viewer's part per viewer, the counts fresh after the vote
# (the vote's forget keeps fills out for 10 s: the mark goes, so pass 2 reads
# what pass 1 cached)
$t->redis('DEL', "mastodon:status_changed:$sid");
for my $pass (1, 2) {
    my $s = $ua->get("/api/v1/statuses/$sid" => h('bob'))->res->json;
    is($s->{poll}{voted}, true, "pass $pass: bob sees his vote");
    is_deeply($s->{poll}{own_votes}, [1], "pass $pass: bob's own_votes");
    is($s->{poll}{votes_count}, 1, "pass $pass: the count");
    $s = $ua->get("/api/v1/statuses/$sid" => h('carol'))->res->json;
    is($s->{poll}{voted}, false, "pass $pass: carol has not voted");
    is_deeply($s->{poll}{own_votes}, [], "pass $pass: nor own_votes");
    $s = $ua->get("/api/v1/statuses/$sid")->res->json;
    ok(!exists $s->{poll}{voted} && !exists $s->{poll}{own_votes}, "pass $pass: anonymous: neither");
}
my $cached = $t->redis('GET', "mastodon:status:$sid");
ok($cached =~ /"poll"/ && $cached !~ /"voted"|own_votes/, 'the cached rendering holds no viewer part');
my ($in_tl) = grep { $_->{id} eq $sid } @{ $ua->get("/api/v1/accounts/$u{alice}{account_id}/statuses"
    => h('bob'))->res->json };
is_deeply($in_tl->{poll}{own_votes}, [1], 'the account timeline too');

# multiple choice
my $mid = $multi->{id};
$res = vote('carol', $mid, 0, 2);
is($res->code, 200, 'carol picks two') or diag $res->body;
is_deeply($res->json->{own_votes}, [0, 2], 'own_votes');
is($res->json->{votes_count}, 2, 'two votes');
is($res->json->{voters_count}, 1, 'one voter');
is_deeply([ map { $_->{votes_count} } @{ $res->json->{options} } ], [undef, undef, undef], 'totals still hidden');
$res = vote('carol', $mid, 1);
is($res->code, 200, 'and another option later');
is_deeply($res->json->{own_votes}, [0, 1, 2], 'all three');
is($res->json->{voters_count}, 1, 'still one voter');
$res = vote('carol', $mid, 0);
is($res->json->{error}, 'Validation failed: You have already voted on this poll', 'not the same option twice');
$res = vote('dave', $mid, 1, 1);
is($res->json->{error}, 'Validation failed: You have already voted on this poll', 'nor twice at once');

# --- 20 concurrent voters ----------------------------------------------------------
my $busy = post_poll('alice', options => [qw(a b c d)])->json->{poll}{id};
my @p = map {
    my $i = $_;
    $ua->post_p("/api/v1/polls/$busy/votes" => h($voters[$i]) => form => { 'choices[]' => $i % 4 })
} 0 .. $#voters;
my @codes;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is_deeply([ sort { $a <=> $b } @codes ], [ (200) x 20 ], '20 concurrent votes answered 200');
is($t->psql("SELECT votes_count || '/' || voters_count || '/' || array_to_string(cached_tallies, ',')"
    . " FROM polls WHERE id = $busy"), '20/20/5,5,5,5', 'counted exactly');
is($t->psql("SELECT count(*) FROM poll_votes WHERE poll_id = $busy"), 20, '20 rows');
# one voter twice at once: one of the two only
@p = map { $ua->post_p("/api/v1/polls/$busy/votes" => h('bob') => form => { 'choices[]' => $_ }) } 0, 1;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is_deeply([ sort { $a <=> $b } @codes ], [200, 422], 'a double vote at once: one passes');
is($t->psql("SELECT votes_count || '/' || voters_count FROM polls WHERE id = $busy"), '21/21', 'counted once');

# --- the end of a poll -------------------------------------------------------------
# the job waits in mastodon:schedule for the end; the test moves the end and
# the job's time to now instead of sleeping five minutes
sub scheduled {
    my ($id) = @_;
    return grep { /"poll_expire"/ && /"poll_id"\s*:\s*"$id"/ } split /\n/, $t->redis('ZRANGE', 'mastodon:schedule', 0, -1);
}
ok($t->wait_for(sub { scheduled($pid) }), 'the poll_expire job waits in mastodon:schedule');
is(scalar(my @m = scheduled($pid)), 1, 'once');

$t->psql("UPDATE polls SET expires_at = now() AT TIME ZONE 'UTC' - interval '1 second' WHERE id IN ($pid, $mid)");
for my $id ($pid, $mid) {
    $t->redis('ZADD', 'mastodon:schedule', 'XX', 0, $_) for scheduled($id);
}
my $notified = sub {
    my ($id) = @_;
    return $t->psql("SELECT string_agg(a.username, ',' ORDER BY a.username) FROM notifications n"
        . " JOIN accounts a ON a.id = n.account_id WHERE n.type = 'poll' AND n.activity_type = 'Poll'"
        . " AND n.activity_id = $id");
};
ok($t->wait_for(sub { $notified->($pid) eq 'alice,bob' && $notified->($mid) eq 'bob,carol' }),
    'at the end: the author and each voter notified') or diag $notified->($pid), ' ', $notified->($mid);
ok(!scheduled($pid), 'the job left the schedule');

# once: the job again changes nothing
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'poll_expire', encode_json({ poll_id => "$pid" }));
is($rc, 0, 'poll_expire enqueued again') or diag "$out$err";
ok($t->wait_for(sub { $t->redis('XLEN', 'mastodon:queue:default') == 0 }), 'and run');
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'poll' AND activity_id = $pid"), 2,
    'still one notification each');

$res = $ua->get("/api/v1/polls/$mid" => h('bob'))->res;
is($res->json->{expired}, true, 'expired');
is_deeply([ map { $_->{votes_count} } @{ $res->json->{options} } ], [1, 1, 1], 'the totals shown at the end');
my $s = $ua->get("/api/v1/statuses/$sid" => h('bob'))->res->json;
is($s->{poll}{expired}, true, 'the status rendering says expired (its cache dropped)');
$res = vote('dave', $pid, 0);
is($res->code, 422, 'no vote after the end');
is($res->json->{error}, 'Validation failed: The poll has already ended', 'with Mastodon\'s message');

my $n = $ua->get('/api/v1/notifications?types[]=poll' => h('bob'))->res->json;
is(scalar @$n, 2, 'bob has two poll notifications');
my ($np) = grep { $_->{status}{id} eq $sid } @$n;
ok($np, 'one about alice\'s status');
is($np->{type}, 'poll', 'type poll');
is($np->{account}{id}, $u{alice}{account_id}, 'from its author');
is($np->{status}{poll}{id}, $pid, 'with the poll');

# --- edits (UpdateStatusService#update_poll!) -----------------------------------------
my $e = post_poll('carol', options => [qw(x y)], expires_in => 900)->json;
my ($eid, $epid) = ($e->{id}, $e->{poll}{id});
is(vote('dave', $epid, 0)->code, 200, 'dave votes on carol\'s poll');
sub edit {
    my ($body) = @_;
    return $ua->put("/api/v1/statuses/$eid" => h('carol') => form => $body)->res;
}
$res = edit({ status => 'which? (edited)', 'poll[options][]' => [qw(x y)], 'poll[expires_in]' => 7200 });
is($res->code, 200, 'an edit keeping the options') or diag $res->body;
is($res->json->{poll}{id}, $epid, 'the same poll');
is($res->json->{poll}{votes_count}, 1, 'its votes kept');
ok($res->json->{poll}{expires_at} gt $e->{poll}{expires_at}, 'a new end, expires_in from now');
is($ua->get("/api/v1/statuses/$eid" => h('dave'))->res->json->{poll}{voted}, true, 'dave still voted');

$res = edit({ status => 'which? (again)', 'poll[options][]' => [qw(x y z)], 'poll[expires_in]' => 7200 });
is($res->code, 200, 'an edit changing the options');
is_deeply([ map { $_->{title} } @{ $res->json->{poll}{options} } ], [qw(x y z)], 'the new options');
is($res->json->{poll}{votes_count}, 0, 'the votes thrown away');
is_deeply([ map { $_->{votes_count} } @{ $res->json->{poll}{options} } ], [0, 0, 0], 'tallies reset');
my $d = $ua->get("/api/v1/statuses/$eid" => h('dave'))->res->json;
is($d->{poll}{voted}, false, 'dave may vote again');
is($t->psql("SELECT count(*) FROM poll_votes WHERE poll_id = $epid"), 0, 'no vote rows left');
is(edit({ status => 'x', 'poll[options][]' => ['only'], 'poll[expires_in]' => 600 })->code, 422,
    'an edit is validated as a post');

$res = edit({ status => 'no poll now' });
is($res->code, 200, 'an edit without a poll');
is($res->json->{poll}, undef, 'removes it');
ok(!$t->psql("SELECT 1 FROM polls WHERE id = $epid"), 'its row gone');
is($ua->get("/api/v1/polls/$epid" => h('dave'))->res->code, 404, 'and the poll with it');

$res = edit({ status => 'a poll again', 'poll[options][]' => [qw(m n)], 'poll[expires_in]' => 600 });
is($res->code, 200, 'an edit adding a poll');
my $npid = $res->json->{poll}{id};
ok($npid && $npid ne $epid, 'a new poll');
ok($t->wait_for(sub { scheduled($npid) }), 'its end scheduled');
my $hist = $ua->get("/api/v1/statuses/$eid/history" => h('carol'))->res;
is($hist->code, 200, 'the history answers');
is_deeply([ map { $_->{poll} ? join(',', map { $_->{title} } @{ $_->{poll}{options} }) : '-' } @{ $hist->json } ],
    ['x,y', 'x,y', 'x,y,z', '-', 'm,n'], 'each version with its poll options (StatusEdit.poll)');
is_deeply([ entity_errors($hist->json->[0], 'StatusEdit') ], [], 'StatusEdit entity');

$t->done;
