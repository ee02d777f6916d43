# The job outbox (ARCHITECTURE.md, "Job outbox"): jobs are committed with
# the rows they concern and relayed to Redis by the worker, so
#
# - a post whose worker and Redis are killed (SIGKILL) right after the answer
#   still reaches its followers, exactly once;
# - with Redis down, posts, favourites, follows and marker writes answer 200
#   and their jobs run once Redis is back;
# - an edit made while Redis is down leaves no stale cached rendering once
#   it is back;
# - a job relayed twice (a relay crash between XADD and DELETE) changes
#   nothing more: feeds and notifications hold it once;
# - the jobs of one status reach the stream in the order of its writes.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my %fast = (MASTODON_CLAIM_IDLE_MS => 1000, MASTODON_RETRY_BASE_MS => 100);
my $t = MastodonTest->new(worker => 0, redis_aof => 1,
    http_config => 'mastodon_redis_connect_timeout 1s;');
my $m = $t->mojo;
my $worker = $t->start_worker(%fast);

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form)->{id} }

# in bob's Redis feed (not a rebuild from PostgreSQL): what fan-out wrote
sub in_feed {
    my ($who, $sid) = @_;
    return $t->redis('ZSCORE', "mastodon:feed:home:$id{$who}", $sid) ne '';
}

sub home_count {
    my ($who, $sid) = @_;
    my $res = $t->ua->get('/api/v1/timelines/home?limit=40' => $h{$who})->result;
    return -1 unless $res->code == 200;
    return scalar grep { $_->{id} eq $sid } @{ $res->json };
}

sub notifications {
    my ($who, $type) = @_;
    return $t->psql("SELECT count(*) FROM notifications WHERE account_id = $id{$who} AND type = '$type'");
}

sub outbox_empty { return $t->psql('SELECT count(*) FROM job_outbox') == 0 }

sub queues_idle {
    my $pending = (split /\n/, $t->redis('XPENDING', 'mastodon:queue:default', 'workers'))[0] // 0;
    return outbox_empty() && $t->redis('XLEN', 'mastodon:queue:default') == 0 && $pending == 0;
}

# bob and carol follow alice; their feeds exist (read once: rebuilt)
for my $who (qw(bob carol)) {
    $m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{$who})->status_is(200);
    $m->get_ok('/api/v1/timelines/home', $h{$who})->status_is(200);
}
ok($t->wait_for(\&queues_idle, 20), 'the follows\' jobs ran');

# --- worker and Redis killed right after the answer -------------------------------------
my $s1 = post('alice', status => "killed right after \@dave");
is($t->kill_worker($worker, 'KILL'), 137, 'worker killed (SIGKILL) right after the 200');
$t->stop_redis('KILL');
pass('redis killed (SIGKILL)');
$t->start_redis;
$worker = $t->start_worker(%fast);
ok($t->wait_for(sub { in_feed(bob => $s1) && in_feed(carol => $s1) }, 30),
    'restarted: the post reached the followers\' feeds');
ok($t->wait_for(\&queues_idle, 30), 'and its jobs finished');
is(home_count(bob => $s1), 1, 'once in bob\'s home timeline');
is(home_count(carol => $s1), 1, 'once in carol\'s');
is(notifications(dave => 'mention'), 1, 'the mention notified once');

# --- Redis down: writes answer 200, their jobs run once it is back -------------------------
my $follows = notifications(alice => 'follow');
$t->stop_redis;
my $s2 = post('alice', status => 'posted while Redis is down');
$m->post_ok("/api/v1/statuses/$s1/favourite", $h{bob})->status_is(200)->json_is('/favourited', true);
$m->post_ok("/api/v1/accounts/$id{alice}/follow", $h{dave})->status_is(200)->json_is('/following', true);
$m->post_ok('/api/v1/markers', $h{bob}, form => { 'home[last_read_id]' => $s1 })->status_is(200)
  ->json_is('/home/last_read_id', $s1);
is($t->psql("SELECT string_agg(DISTINCT type, ' ' ORDER BY type) FROM job_outbox"),
    'distribute feed_merge notify status_forget', 'their jobs wait in the outbox');
$t->start_redis;
ok($t->wait_for(sub { in_feed(bob => $s2) && in_feed(carol => $s2) }, 30),
    'Redis back: the post reaches the followers');
ok($t->wait_for(sub { notifications(alice => 'favourite') == 1 && notifications(alice => 'follow') == $follows + 1 }, 30),
    'the favourite and the follow are notified');
ok($t->wait_for(\&queues_idle, 30), 'every job ran');
is($t->psql("SELECT last_read_id FROM markers WHERE user_id = $u{bob}{user_id} AND timeline = 'home'"), $s1,
    'the marker stands');

# --- an edit while Redis is down: no stale rendering once it is back ----------------------
my $s3 = post('alice', status => 'the first version');
ok($t->wait_for(\&queues_idle, 20), 'posted and distributed');
$m->get_ok("/api/v1/statuses/$s3", $h{bob})->status_is(200)->json_is('/content', '<p>the first version</p>');
like($t->redis('GET', "mastodon:status:$s3"), qr/the first version/, 'its rendering is cached');
$t->stop_redis;         # cleanly: the cached rendering survives in the AOF
$m->put_ok("/api/v1/statuses/$s3", $h{alice}, form => { status => 'the second version' })->status_is(200)
  ->json_is('/content', '<p>the second version</p>');
$t->start_redis;
ok($t->wait_for(\&queues_idle, 30), 'Redis back: the edit\'s jobs ran');
$m->get_ok("/api/v1/statuses/$s3", $h{bob})->status_is(200)->json_is('/content', '<p>the second version</p>',
    'no stale rendering is served');
unlike($t->redis('GET', "mastodon:status:$s3"), qr/the first version/, 'nor cached');

# --- a job relayed twice changes nothing more ---------------------------------------------
$t->stop_worker($worker);
my $s4 = post('alice', status => "relayed twice, \@dave");
$m->post_ok("/api/v1/statuses/$s4/favourite", $h{carol})->status_is(200);
# what a relay that died between its XADD and its DELETE leaves: every job twice
$t->psql('INSERT INTO job_outbox (queue, type, args) SELECT queue, type, args FROM job_outbox ORDER BY id');
is($t->psql("SELECT count(*) FROM job_outbox WHERE type IN ('distribute', 'notify')"), 4, 'each job twice');
$worker = $t->start_worker(%fast);
ok($t->wait_for(sub { in_feed(bob => $s4) }, 30), 'distributed');
ok($t->wait_for(\&queues_idle, 30), 'every job ran');
is(home_count(bob => $s4), 1, 'once in a home timeline');
is(notifications(dave => 'mention'), 2, 'one more mention notification (one per status)');
is($t->psql("SELECT count(*) FROM notifications WHERE type = 'favourite' AND account_id = $id{alice}"), 2,
    'one more favourite notification');
is($t->redis('ZCARD', 'mastodon:retry') + $t->redis('XLEN', 'mastodon:dead'), 0, 'nothing failed');

# --- one status' jobs in the order of its writes ---------------------------------------------
# a worker that relays but runs nothing of the default queue
$t->stop_worker($worker);
$worker = $t->start_worker(%fast, MASTODON_QUEUES => 'mailers');
my $s5 = post('alice', status => 'first');
$m->put_ok("/api/v1/statuses/$s5", $h{alice}, form => { status => 'then edited' })->status_is(200);
$m->delete_ok("/api/v1/statuses/$s5", $h{alice})->status_is(200);
ok($t->wait_for(\&outbox_empty, 20), 'relayed');
my @order = map { $_->{type} } grep { $_->{type} ne 'status_forget' && ($_->{args}{status_id} // '') eq $s5 }
    $t->jobs;
is_deeply(\@order, [qw(distribute status_update remove_status)], 'post, edit, delete: in that order');
$t->redis('DEL', 'mastodon:queue:default');

$t->done;
