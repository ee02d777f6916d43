# Scheduled statuses as Mastodon 4 serves them: scheduled_at on POST
# /api/v1/statuses (at least 5 minutes ahead, a time in the past posts now,
# ScheduledStatus' daily (25) and total (300) limits), the ScheduledStatus
# entity with its params and reserved media, GET (paginated, Link headers),
# GET one, PUT scheduled_at, DELETE; and the worker's
# scheduled_status_publish: each published at its time exactly once, with
# its media and poll, through the post function POST /api/v1/statuses uses,
# with two workers and across a worker restart; the Idempotency-Key as a
# post has it.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false encode_json);
use POSIX qw(strftime);
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new;
my $ua = $t->ua;

my %u = map { $_ => $t->user($_) } qw(alice bob);
sub h { $t->bearer($u{ $_[0] }{token}) }
my %id = map { $_ => $t->psql("SELECT id FROM accounts WHERE username = '$_' AND domain IS NULL") } keys %u;

sub at { strftime('%Y-%m-%dT%H:%M:%S.000Z', gmtime(time + $_[0])) }
sub post { $ua->post('/api/v1/statuses' => h($_[0]) => json => $_[1])->res }
sub image {
    my ($who) = @_;
    return $t->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
        . " file_content_type, file_meta) VALUES ($id{$who}, 1, 2, '0123456789abcdef.png',"
        . " 'image/png', '{}') RETURNING id");
}

# --- scheduling -------------------------------------------------------------------
my $m1 = image('alice');
my $res = post('alice', { status => 'later #tagged', scheduled_at => at(3600), media_ids => ["$m1"],
                          sensitive => true, language => 'de' });
is($res->code, 200, 'scheduled') or diag $res->body;
my $ss = $res->json;
is_deeply([ entity_errors($ss, 'ScheduledStatus') ], [], 'the ScheduledStatus entity');
like($ss->{id}, qr/^\d+$/, 'id: a string of digits');
like($ss->{scheduled_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/, 'scheduled_at');
my $p = $ss->{params};
is($p->{text}, 'later #tagged', 'params: text');
is($p->{visibility}, 'public', 'params: visibility (the default)');
is($p->{sensitive}, true, 'params: sensitive');
is($p->{language}, 'de', 'params: language');
is_deeply($p->{media_ids}, ["$m1"], 'params: media_ids');
ok(exists $p->{poll} && !defined $p->{poll}, 'params: poll null');
ok(exists $p->{in_reply_to_id} && !defined $p->{in_reply_to_id}, 'params: in_reply_to_id null');
ok(exists $p->{scheduled_at} && !defined $p->{scheduled_at}, 'params: scheduled_at null');
ok(exists $p->{idempotency} && !defined $p->{idempotency}, 'params: idempotency null');
is($p->{with_rate_limit}, false, 'params: with_rate_limit false');
like($p->{application_id}, qr/^\d+$/, 'params: application_id');
is(scalar @{ $ss->{media_attachments} }, 1, 'its media attachment');
is($ss->{media_attachments}[0]{id}, "$m1", 'the one given');
is_deeply([ entity_errors($ss->{media_attachments}[0], 'MediaAttachment') ], [], 'a MediaAttachment');
is($t->psql("SELECT count(*) FROM statuses WHERE text = 'later #tagged'"), 0, 'nothing posted yet');

# the media are reserved
$res = post('alice', { status => 'now', media_ids => ["$m1"] });
is($res->code, 422, 'a post cannot take reserved media');
is($res->json->{error}, "Media $m1 not found or already attached to another post", 'as not found');
$res = post('alice', { status => 'later too', media_ids => ["$m1"], scheduled_at => at(7200) });
is($res->code, 422, 'nor another scheduled status');

# a poll
$res = post('alice', { status => 'vote later', scheduled_at => at(5400),
                       poll => { options => [qw(yes no)], expires_in => 600, multiple => true } });
is($res->code, 200, 'scheduled with a poll') or diag $res->body;
my $sp = $res->json;
is_deeply($sp->{params}{poll}, { options => [qw(yes no)], expires_in => 600, multiple => true,
                                 hide_totals => false }, 'params: poll');
is_deeply($sp->{media_attachments}, [], 'no media');

# form parameters too
$res = $ua->post('/api/v1/statuses' => h('alice') => form => { status => 'form later',
    scheduled_at => at(4000), visibility => 'private' })->res;
is($res->code, 200, 'scheduled (form)') or diag $res->body;
is($res->json->{params}{visibility}, 'private', 'params: visibility given');
my $sf = $res->json;

# --- refusals -------------------------------------------------------------------------
$res = post('alice', { status => 'too soon', scheduled_at => at(120) });
is($res->code, 422, 'less than 5 minutes ahead: 422');
is($res->json->{error}, 'Validation failed: Scheduled at The scheduled date must be in the future',
   'its message');
$res = post('alice', { status => 'not a time', scheduled_at => 'tomorrow-ish' });
is($res->code, 422, 'not a time: 422');
$res = post('alice', { status => 'reply', scheduled_at => at(3600), in_reply_to_id => '999999999' });
is($res->code, 404, 'replying to nothing: 404');
$res = post('alice', { status => '', scheduled_at => at(3600) });
is($res->code, 422, 'blank text: 422 as a post');
is($t->psql("SELECT count(*) FROM scheduled_statuses WHERE account_id = $id{alice}"), 3, 'none of those kept');

# a time in the past posts now (scheduled_in_the_past?)
$res = post('alice', { status => 'past is now', scheduled_at => at(-60) });
is($res->code, 200, 'scheduled_at in the past: posted');
is_deeply([ status_errors($res->json) ], [], 'a Status entity');
is($res->json->{content}, '<p>past is now</p>', 'the post');

# --- reading ------------------------------------------------------------------------
$res = $ua->get("/api/v1/scheduled_statuses/$ss->{id}" => h('alice'))->res;
is($res->code, 200, 'GET one');
is_deeply($res->json, $ss, 'the same entity');
is($ua->get("/api/v1/scheduled_statuses/$ss->{id}" => h('bob'))->res->code, 404, "another's: 404");
is($ua->get("/api/v1/scheduled_statuses/$ss->{id}")->res->code, 401, 'no token: 401');

$res = $ua->get('/api/v1/scheduled_statuses' => h('alice'))->res;
is($res->code, 200, 'GET the list');
is_deeply([ map { $_->{id} } @{ $res->json } ], [ sort { $b <=> $a } $ss->{id}, $sp->{id}, $sf->{id} ],
          'newest first');
# entities.tsv names the poll's options `options[]` (the form parameter);
# Mastodon's params hold them as "options", checked above
for my $e (@{ $res->json }) {
    my %plain = (%$e, params => { %{ $e->{params} }, poll => undef });
    is_deeply([ entity_errors(\%plain, 'ScheduledStatus') ], [], "entity $e->{id}");
}
is_deeply($ua->get('/api/v1/scheduled_statuses' => h('bob'))->res->json, [], "bob's: empty");

my $tx = $ua->get('/api/v1/scheduled_statuses?limit=2' => h('alice'));
$res = $tx->res;
is(scalar @{ $res->json }, 2, 'limit=2: two');
my $links = $t->links($tx);
my ($newest, $second, $oldest) = sort { $b <=> $a } $ss->{id}, $sp->{id}, $sf->{id};
is($t->path_of($links->{next}), "/api/v1/scheduled_statuses?limit=2&max_id=$second", 'next: max_id');
is($t->path_of($links->{prev}), "/api/v1/scheduled_statuses?limit=2&min_id=$newest", 'prev: min_id');
$tx = $ua->get("/api/v1/scheduled_statuses?limit=2&max_id=$second" => h('alice'));
is_deeply([ map { $_->{id} } @{ $tx->res->json } ], [$oldest], 'the next page');
ok(!$t->links($tx)->{next}, 'not full: no next');
$res = $ua->get("/api/v1/scheduled_statuses?limit=1&min_id=$oldest" => h('alice'))->res;
is_deeply([ map { $_->{id} } @{ $res->json } ], [$second], 'min_id: the page just after');

# --- PUT and DELETE -------------------------------------------------------------------
my $when = at(2 * 86400);
$res = $ua->put("/api/v1/scheduled_statuses/$sf->{id}" => h('alice') => form => { scheduled_at => $when })->res;
is($res->code, 200, 'PUT scheduled_at') or diag $res->body;
is($res->json->{scheduled_at}, $when, 'moved');
$res = $ua->put("/api/v1/scheduled_statuses/$sf->{id}" => h('alice') => form => { scheduled_at => at(60) })->res;
is($res->code, 422, 'PUT too soon: 422');
is($ua->get("/api/v1/scheduled_statuses/$sf->{id}" => h('alice'))->res->json->{scheduled_at}, $when, 'unchanged');
is($ua->put("/api/v1/scheduled_statuses/$sf->{id}" => h('bob') => form => { scheduled_at => at(9000) })->res->code,
   404, "PUT another's: 404");

my $m2 = image('alice');
$res = post('alice', { status => 'cancel me', scheduled_at => at(3000), media_ids => ["$m2"] });
my $sc = $res->json;
$res = $ua->delete("/api/v1/scheduled_statuses/$sc->{id}" => h('bob'))->res;
is($res->code, 404, "DELETE another's: 404");
$res = $ua->delete("/api/v1/scheduled_statuses/$sc->{id}" => h('alice'))->res;
is($res->code, 200, 'DELETE');
is_deeply($res->json, {}, 'answers {}');
is($ua->get("/api/v1/scheduled_statuses/$sc->{id}" => h('alice'))->res->code, 404, 'gone');
is($t->psql("SELECT scheduled_status_id IS NULL FROM media_attachments WHERE id = $m2"), 't', 'its media free again');
is(post('alice', { status => 'now with it', media_ids => ["$m2"] })->code, 200, 'and attachable');

# --- the limits -----------------------------------------------------------------------
my $day = strftime('%Y-%m-%d', gmtime(time + 10 * 86400));
$t->psql("INSERT INTO scheduled_statuses (account_id, scheduled_at, params, post_args)"
    . " SELECT $id{bob}, '$day 12:00'::timestamp, '{}', '{}' FROM generate_series(1, 25)");
$res = post('bob', { status => 'one more that day', scheduled_at => "${day}T18:00:00Z" });
is($res->code, 422, '25 on a day: 422');
is($res->json->{error}, 'Validation failed: You have exceeded the limit of 25 scheduled posts for today',
   'the daily limit');
is(post('bob', { status => 'next day', scheduled_at => at(11 * 86400) })->code, 200, 'another day: fine');
$t->psql("INSERT INTO scheduled_statuses (account_id, scheduled_at, params, post_args)"
    . " SELECT $id{bob}, now() + g * interval '1 day' + interval '20 days', '{}', '{}'"
    . " FROM generate_series(1, 274) g");
$res = post('bob', { status => 'too many', scheduled_at => at(400 * 86400) });
is($res->code, 422, '300 in all: 422');
is($res->json->{error}, 'Validation failed: You have exceeded the limit of 300 scheduled posts', 'the total limit');
$t->psql("DELETE FROM scheduled_statuses WHERE account_id = $id{bob}");

# --- publication ------------------------------------------------------------------------
# the job waits in mastodon:schedule for its time; the test moves the time
# and the job's score to now instead of waiting an hour
sub scheduled {
    my ($sid) = @_;
    return grep { /"scheduled_status_publish"/ && /"scheduled_status_id"\s*:\s*"$sid"/ }
        split /\n/, $t->redis('ZRANGE', 'mastodon:schedule', 0, -1);
}
sub due {
    my ($sid) = @_;
    $t->psql("UPDATE scheduled_statuses SET scheduled_at = now() AT TIME ZONE 'UTC' - interval '1 second'"
        . " WHERE id = $sid");
    $t->redis('ZADD', 'mastodon:schedule', 'XX', 0, $_) for scheduled($sid);
}
sub posted { $t->psql("SELECT count(*) FROM statuses WHERE text = '$_[0]' AND deleted_at IS NULL") }

ok($t->wait_for(sub { scheduled($ss->{id}) }), 'the job waits in mastodon:schedule');
is(scalar(my @j = scheduled($ss->{id})), 1, 'once');

# two workers
my $second_worker = $t->start_worker;
due($ss->{id});
due($sp->{id});
ok($t->wait_for(sub { posted('later #tagged') == 1 && posted('vote later') == 1 }), 'both published')
    or diag posted('later #tagged'), ' ', posted('vote later');
is($t->psql("SELECT count(*) FROM scheduled_statuses WHERE id IN ($ss->{id}, $sp->{id})"), 0, 'their rows gone');

my $sid = $t->psql("SELECT id FROM statuses WHERE text = 'later #tagged'");
my $st = $ua->get("/api/v1/statuses/$sid" => h('alice'))->res->json;
is_deeply([ status_errors($st) ], [], 'a Status entity');
is($st->{content}, '<p>later <a href="' . $t->public_base . '/tags/tagged" class="mention hashtag" rel="tag">#<span>tagged</span></a></p>',
   'its text, with its tag') or diag $st->{content};
is($st->{sensitive}, true, 'sensitive');
is($st->{language}, 'de', 'language');
is_deeply([ map { $_->{id} } @{ $st->{media_attachments} } ], ["$m1"], 'its media');
is($t->psql("SELECT scheduled_status_id IS NULL FROM media_attachments WHERE id = $m1"), 't', 'no longer reserved');
is($st->{application}{name}, $t->psql("SELECT name FROM oauth_applications WHERE id = $ss->{params}{application_id}"),
   'the application');
my $psid = $t->psql("SELECT id FROM statuses WHERE text = 'vote later'");
my $pst = $ua->get("/api/v1/statuses/$psid" => h('alice'))->res->json;
is_deeply([ map { $_->{title} } @{ $pst->{poll}{options} } ], [qw(yes no)], 'the poll');
is($pst->{poll}{multiple}, true, 'multiple');
ok($t->wait_for(sub { grep { $_->{id} eq $sid } @{ $ua->get('/api/v1/timelines/home' => h('alice'))->res->json } }),
   'distributed: in the home feed');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM statuses_tags st JOIN tags g ON g.id = st.tag_id"
    . " WHERE st.status_id = $sid AND g.name = 'tagged'") == 1 }), 'tagged');

# the same job again (a retry, a second job), many times over two workers: nothing more
$t->worker_cli('enqueue', 'default', 'scheduled_status_publish',
               encode_json({ scheduled_status_id => "$ss->{id}" })) for 1 .. 6;
my $probe = post('alice', { status => 'probe', scheduled_at => at(3600) })->json;
$t->worker_cli('enqueue', 'default', 'scheduled_status_publish',
               encode_json({ scheduled_status_id => "$probe->{id}" })) for 1 .. 4;
ok($t->wait_for(sub { scheduled($probe->{id}) >= 1 }), 'jobs before the time wait again');
is(posted('later #tagged'), 1, 'published once');
is(posted('probe'), 0, 'not before its time');

# due, with many jobs for it on two workers at once
due($probe->{id});
$t->worker_cli('enqueue', 'default', 'scheduled_status_publish',
               encode_json({ scheduled_status_id => "$probe->{id}" })) for 1 .. 6;
ok($t->wait_for(sub { posted('probe') >= 1 && !scheduled($probe->{id}) }), 'published');
sleep 1;
is(posted('probe'), 1, 'exactly once');

# a worker restart: every worker stopped, the time passes, a new one starts
my $restart = post('alice', { status => 'after restart', scheduled_at => at(3600) })->json;
ok($t->wait_for(sub { scheduled($restart->{id}) }), 'waiting');
$t->kill_worker($_, 'KILL') for $t->worker_pids;
due($restart->{id});
is(posted('after restart'), 0, 'no worker, not posted');
$t->start_worker;
$t->start_worker;
ok($t->wait_for(sub { posted('after restart') == 1 }, 20), 'published by the restarted workers');
$t->worker_cli('enqueue', 'default', 'scheduled_status_publish',
               encode_json({ scheduled_status_id => "$restart->{id}" })) for 1 .. 3;
sleep 1;
is(posted('after restart'), 1, 'once');

# a scheduled status whose reply target went away is dropped, as Mastodon drops it
my $target = post('bob', { status => 'to be deleted' })->json;
my $orphan = post('alice', { status => 'orphan reply', scheduled_at => at(3600),
                             in_reply_to_id => $target->{id} })->json;
ok($orphan->{id}, 'a scheduled reply');
is($orphan->{params}{in_reply_to_id}, $target->{id}, 'params: in_reply_to_id (a number)');
is($ua->delete("/api/v1/statuses/$target->{id}" => h('bob'))->res->code, 200, 'its target deleted');
due($orphan->{id});
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM scheduled_statuses WHERE id = $orphan->{id}") == 0 }),
   'dropped');
is(posted('orphan reply'), 0, 'never posted');

# --- Idempotency-Key: as for a post, a retry gets the ScheduledStatus made -------------
sub keyed { $ua->post('/api/v1/statuses' => { %{ h($_[0]) }, 'Idempotency-Key' => $_[1] } => json => $_[2])->res }
sub kept { $t->psql("SELECT count(*) FROM scheduled_statuses WHERE params->>'text' = '$_[0]'") }
my $k1 = keyed('bob', 'sched-1', { status => 'keyed later', scheduled_at => at(3600) });
is($k1->code, 200, 'scheduled with an Idempotency-Key') or diag $k1->body;
my $k2 = keyed('bob', 'sched-1', { status => 'keyed later', scheduled_at => at(3600) });
is($k2->code, 200, 'the retry: 200');
is($k2->json->{id}, $k1->json->{id}, 'the same ScheduledStatus');
is_deeply([ entity_errors($k2->json, 'ScheduledStatus') ], [], 'a ScheduledStatus entity');
is(kept('keyed later'), 1, 'scheduled once');
is(keyed('bob', 'sched-2', { status => 'keyed later', scheduled_at => at(3600) })->json->{id} == $k1->json->{id}
   ? 'same' : 'new', 'new', 'another key: another one');
is(kept('keyed later'), 2, 'two');
is(keyed('alice', 'sched-1', { status => 'keyed later', scheduled_at => at(3600) })->code, 200,
   "another account's key of that name: its own");
is(kept('keyed later'), 3, 'three');
# a refused try gives the key up: the next one schedules
is(keyed('bob', 'sched-3', { status => 'keyed soon', scheduled_at => at(60) })->code, 422, 'too soon: 422');
my $k3 = keyed('bob', 'sched-3', { status => 'keyed soon', scheduled_at => at(3600) });
is($k3->code, 200, 'then a good retry with the key: scheduled');
is(kept('keyed soon'), 1, 'once');

$t->done;
