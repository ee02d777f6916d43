# The render cache (mastodon_render_cache_size): rendered statuses in shared
# memory, read by both nginx workers.  It is used (a change behind its back
# is not seen until a forget is published), every writer's change is seen on
# the next read from every worker while it is warm, and a flushed Redis
# changes no answer.  Each read below opens a new connection, so both
# workers answer them.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;
$t->ua->max_connections(0);     # a new connection per request

ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }),
   'both workers listen for forgets');

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol');
my ($ha, $hb, $hc) = map { $t->bearer($_->{token}) } $alice, $bob, $carol;

# every read of $path as $h (six, on new connections) passes $check
sub reads_ok {
    my ($path, $h, $check, $name) = @_;
    my $ok = 1;
    for (1 .. 6) {
        my $res = $m->ua->get($path => $h)->result;
        $ok = 0 unless $check->($res);
    }
    ok($ok, $name);
}

sub status_of {
    my ($res) = @_;
    return $res->code == 200 ? $res->json : undef;
}

my $s = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'first words' })
          ->status_is(200)->tx->res->json;
my $id = $s->{id};

reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{content} =~ /first words/ },
         'warm: both workers answer');

# a change behind the caches' back (no forget): the warm render cache keeps
# answering what it holds, Redis' copy gone or not
$t->psql("UPDATE statuses SET text = 'quiet change' WHERE id = $id");
$t->redis('DEL', "mastodon:status:$id");
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{content} =~ /first words/ },
         'the render cache answers, not PostgreSQL');

# another node's forget, as published: every worker drops it
$t->redis('PUBLISH', 'mastodon:cache:forget', "status $id");
ok($t->wait_for(sub {
    my $j = status_of($m->ua->get("/api/v1/statuses/$id" => $hb)->result);
    $j && $j->{content} =~ /quiet change/
}), 'a published forget drops it');
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{content} =~ /quiet change/ },
         'on every worker');

# the worker's status_forget job publishes too
$t->psql("UPDATE statuses SET text = 'worker change' WHERE id = $id");
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'default', 'status_forget',
                                      qq({"status_ids":["$id"]}));
is($rc, 0, 'status_forget enqueued') or diag($err);
ok($t->wait_for(sub {
    my $j = status_of($m->ua->get("/api/v1/statuses/$id" => $hb)->result);
    $j && $j->{content} =~ /worker change/
}), "the worker's status_forget reaches the render cache");
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{content} =~ /worker change/ },
         'on every worker');

# the module's own writes, cache warm: seen on the very next reads
$m->put_ok("/api/v1/statuses/$id", $ha, form => { status => 'edited words' })->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub {
    my $j = status_of($_[0]);
    $j && $j->{content} =~ /edited words/ && defined $j->{edited_at}
}, 'an edit');

$m->post_ok("/api/v1/statuses/$id/favourite", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$id", $hc, sub { (status_of($_[0]) // {})->{favourites_count} == 1 },
         'a favourite: the counter');
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{favourited} },
         "a favourite: the viewer's flag");
reads_ok("/api/v1/statuses/$id", $hc, sub { !(status_of($_[0]) // {})->{favourited} },
         "not another viewer's");

my $rb = $m->post_ok("/api/v1/statuses/$id/reblog", $hc)->status_is(200)->tx->res->json;
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{reblogs_count} == 1 },
         'a reblog: the counter');
reads_ok("/api/v1/statuses/$rb->{id}", $hb, sub {
    my $j = status_of($_[0]);
    $j && $j->{reblog} && $j->{reblog}{id} eq $id && $j->{reblog}{content} =~ /edited words/
}, 'the reblog, with its original');
$m->post_ok("/api/v1/statuses/$id/unreblog", $hc)->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{reblogs_count} == 0 },
         'an unreblog');
reads_ok("/api/v1/statuses/$rb->{id}", $hb, sub { $_[0]->code == 404 }, 'the reblog is gone');

# the viewer's facts (flags, relations) are remembered too: a warm read asks
# PostgreSQL nothing, so a change behind the cache's back is not seen until
# a forget is published; the module's own writes are seen at once
reads_ok("/api/v1/statuses/$id", $hb, sub { !(status_of($_[0]) // {})->{bookmarked} }, 'not bookmarked');
$t->psql("INSERT INTO bookmarks (account_id, status_id) VALUES ($bob->{account_id}, $id)");
reads_ok("/api/v1/statuses/$id", $hb, sub { !(status_of($_[0]) // {})->{bookmarked} },
         "the viewer's facts answer, not PostgreSQL");
$t->redis('PUBLISH', 'mastodon:cache:forget', "viewer $bob->{account_id}");
ok($t->wait_for(sub { (status_of($m->ua->get("/api/v1/statuses/$id" => $hb)->result) // {})->{bookmarked} }),
   "another node's published viewer change");
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{bookmarked} }, 'on every worker');
$t->psql("DELETE FROM bookmarks WHERE account_id = $bob->{account_id}");
$t->redis('PUBLISH', 'mastodon:cache:forget', 'viewer 0');
ok($t->wait_for(sub { !(status_of($m->ua->get("/api/v1/statuses/$id" => $hb)->result) // {})->{bookmarked} }),
   "every viewer's facts go with 'viewer 0'");
$m->post_ok("/api/v1/statuses/$id/bookmark", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub { (status_of($_[0]) // {})->{bookmarked} }, 'a bookmark');
$m->post_ok("/api/v1/statuses/$id/unbookmark", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub { !(status_of($_[0]) // {})->{bookmarked} }, 'an unbookmark');
$m->post_ok("/api/v1/statuses/$id/pin", $ha)->status_is(200);
reads_ok("/api/v1/statuses/$id", $ha, sub { (status_of($_[0]) // {})->{pinned} }, 'a pin');
$m->post_ok("/api/v1/statuses/$id/unpin", $ha)->status_is(200);
reads_ok("/api/v1/statuses/$id", $ha, sub { !(status_of($_[0]) // {})->{pinned} }, 'an unpin');
$m->post_ok("/api/v1/statuses/$id/mute", $ha)->status_is(200);
reads_ok("/api/v1/statuses/$id", $ha, sub { (status_of($_[0]) // {})->{muted} }, 'a conversation mute');
$m->post_ok("/api/v1/statuses/$id/unmute", $ha)->status_is(200);
reads_ok("/api/v1/statuses/$id", $ha, sub { !(status_of($_[0]) // {})->{muted} }, 'its unmute');

# account update: the status shows the new name
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { display_name => 'Alice Renamed' })
  ->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub {
    ((status_of($_[0]) // {})->{account} // {})->{display_name} eq 'Alice Renamed'
}, 'an account update');

# followers-only: unfollow hides it at once
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hb)->status_is(200);
my $private = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'for followers', visibility => 'private' })
                ->status_is(200)->tx->res->json->{id};
reads_ok("/api/v1/statuses/$private", $hb, sub { $_[0]->code == 200 }, 'private: a follower sees it');
$m->post_ok("/api/v1/accounts/$alice->{account_id}/unfollow", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$private", $hb, sub { $_[0]->code == 404 }, 'an unfollow');

# mute: the home timeline hides the muted account's posts
$m->post_ok("/api/v1/accounts/$carol->{account_id}/follow", $hb)->status_is(200);
my $cs = $m->post_ok('/api/v1/statuses', $hc, form => { status => 'carol speaks' })->status_is(200)
           ->tx->res->json->{id};
my $in_home = sub { my $res = shift; $res->code == 200 && grep { $_->{id} eq $cs } @{ $res->json } };
ok($t->wait_for(sub { $in_home->($m->ua->get('/api/v1/timelines/home' => $hb)->result) }),
   "carol's post reaches bob's home");
reads_ok('/api/v1/timelines/home', $hb, $in_home, 'home, warm');
$m->post_ok("/api/v1/accounts/$carol->{account_id}/mute", $hb)->status_is(200);
reads_ok('/api/v1/timelines/home', $hb, sub { $_[0]->code == 200 && !$in_home->($_[0]) }, 'a mute');
$m->post_ok("/api/v1/accounts/$carol->{account_id}/unmute", $hb)->status_is(200);

# block: the author blocks the viewer
reads_ok("/api/v1/statuses/$cs", $hb, sub { $_[0]->code == 200 }, 'before the block');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/block", $hc)->status_is(200);
reads_ok("/api/v1/statuses/$cs", $hb, sub { $_[0]->code == 404 }, 'a block');

# a block by a remote account, applied by the worker: seen at once after it
my $remote = $t->psql("INSERT INTO accounts (username, domain, uri) VALUES ('far', 'far.example',
                       'https://far.example/users/far') RETURNING id");
my $rs = $t->psql("INSERT INTO statuses (account_id, text, uri, local, visibility)
                   VALUES ($remote, 'from afar', 'https://far.example/s/1', false, 0) RETURNING id");
reads_ok("/api/v1/statuses/$rs", $hb, sub { $_[0]->code == 200 }, 'a remote status, warm');
$t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($remote, $bob->{account_id})");
$t->redis('PUBLISH', 'mastodon:cache:forget', "viewer $bob->{account_id}");
ok($t->wait_for(sub { $m->ua->get("/api/v1/statuses/$rs" => $hb)->result->code == 404 }),
   "the worker's forget of a remote block");

# delete
$m->delete_ok("/api/v1/statuses/$id", $ha)->status_is(200);
reads_ok("/api/v1/statuses/$id", $hb, sub { $_[0]->code == 404 }, 'a delete');

# filters: a viewer without any is remembered (no filters statement on a
# warm read); a filter made, a keyword added, a filter deleted are seen on
# the next read from every worker, as is another node's published change
my $fs = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'spoilers ahead' })->status_is(200)
           ->tx->res->json->{id};
my $filtered = sub { my $j = status_of($_[0]); $j ? scalar @{ $j->{filtered} } : -1 };
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 0 }, 'no filter: filtered is []');
my $f = $m->post_ok('/api/v2/filters', $hb, json => {
    title => 'No spoilers', context => ['home'], keywords_attributes => [{ keyword => 'spoilers' }],
})->status_is(200)->tx->res->json;
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 1 }, 'a filter made');
$m->delete_ok("/api/v2/filters/$f->{id}", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 0 }, 'a filter deleted');
my $f2 = $m->post_ok('/api/v2/filters', $hb, json => { title => 'Later', context => ['home'] })
           ->status_is(200)->tx->res->json;
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 0 }, 'a filter without keywords');
$m->post_ok("/api/v2/filters/$f2->{id}/keywords", $hb, json => { keyword => 'ahead' })->status_is(200);
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 1 }, 'a keyword added');
$m->delete_ok("/api/v2/filters/$f2->{id}", $hb)->status_is(200);
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 0 }, 'warm again without filters');
$t->psql("INSERT INTO custom_filters (account_id, phrase, context) VALUES ($bob->{account_id}, 'Quiet', '{home}')");
$t->psql("INSERT INTO custom_filter_keywords (custom_filter_id, keyword)
          SELECT id, 'spoilers' FROM custom_filters WHERE phrase = 'Quiet'");
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 0 },
         'a filter made behind the cache: not seen while remembered');
$t->redis('PUBLISH', 'mastodon:cache:forget', "filters $bob->{account_id}");
ok($t->wait_for(sub { $filtered->($m->ua->get("/api/v1/statuses/$fs" => $hb)->result) == 1 }),
   "another node's published filters change");
reads_ok("/api/v1/statuses/$fs", $hb, sub { $filtered->($_[0]) == 1 }, 'on every worker');
$t->psql("DELETE FROM custom_filters WHERE account_id = $bob->{account_id}");
$t->redis('PUBLISH', 'mastodon:cache:forget', "filters $bob->{account_id}");
ok($t->wait_for(sub { $filtered->($m->ua->get("/api/v1/statuses/$fs" => $hb)->result) == 0 }),
   'and its removal');

# Redis goes away while warm and a change is made meanwhile (its forget,
# published by another node, is lost): once the workers subscribe again the
# cache was emptied
my $w = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'before the outage' })
          ->status_is(200)->tx->res->json->{id};
reads_ok("/api/v1/statuses/$w", $hb, sub { (status_of($_[0]) // {})->{content} =~ /before the outage/ },
         'warm before the outage');
$t->stop_redis;
$t->psql("UPDATE statuses SET text = 'during the outage' WHERE id = $w");
$t->start_redis;
ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }, 20),
   'both workers listen again');
reads_ok("/api/v1/statuses/$w", $hb, sub { (status_of($_[0]) // {})->{content} =~ /during the outage/ },
         'what changed while they did not listen is not served from the cache');

# Redis flushed while warm: the same answers (rebuilt from PostgreSQL)
my @ids = map { $m->post_ok('/api/v1/statuses', $ha, form => { status => "post $_ #words" })->status_is(200)
                  ->tx->res->json->{id} } 1 .. 3;
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hb)->status_is(200);
$m->post_ok("/api/v1/statuses/$ids[0]/favourite", $hb)->status_is(200);
my $q = join '&', map { "id[]=$_" } @ids;
my %before;
ok($t->wait_for(sub {
    my $home = $m->ua->get('/api/v1/timelines/home' => $hb)->result->json;
    ref $home eq 'ARRAY' && grep { $_->{id} eq $ids[2] } @$home
}), "alice's posts in bob's home");
for my $path ("/api/v1/statuses/$ids[0]", "/api/v1/statuses?$q", '/api/v1/timelines/home',
              "/api/v1/accounts/$alice->{account_id}/statuses", '/api/v1/accounts/verify_credentials',
              "/api/v1/accounts/$alice->{account_id}", '/api/v1/timelines/public?local=true',
              '/api/v1/timelines/tag/words', '/api/v1/notifications')
{
    $m->ua->get($path => $hb)->result for 1 .. 4;     # warm on both workers
    $before{$path} = $m->ua->get($path => $hb)->result->json;
}
$t->redis('FLUSHALL');
for my $path (sort keys %before) {
    for (1 .. 4) {
        is_deeply($m->ua->get($path => $hb)->result->json, $before{$path},
                  "Redis flushed: $path answers the same");
    }
}

$t->done;
