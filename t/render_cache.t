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

# the anonymous viewer's facts are remembered too (key -1): an anonymous
# warm read asks PostgreSQL nothing; every status writer's forget reaches
# them as it reaches any viewer's
my $anon = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'for everyone' })->status_is(200)
             ->tx->res->json->{id};
my $anon_ok = sub { my ($code, $name) = @_;
    my $ok = 1;
    for (1 .. 6) { $ok = 0 unless $m->ua->get("/api/v1/statuses/$anon")->result->code == $code }
    ok($ok, $name);
};
$anon_ok->(200, 'anonymous: warm');
$t->psql("UPDATE statuses SET visibility = 2 WHERE id = $anon");
$anon_ok->(200, "anonymous: the facts remembered answer, not PostgreSQL");
$t->redis('PUBLISH', 'mastodon:cache:forget', "status $anon");
ok($t->wait_for(sub { $m->ua->get("/api/v1/statuses/$anon")->result->code == 404 }),
   "anonymous: a status' forget makes its facts stale");
$anon_ok->(404, 'anonymous: on every worker');
$t->psql("UPDATE statuses SET visibility = 0 WHERE id = $anon");
$t->redis('PUBLISH', 'mastodon:cache:forget', "status $anon");
ok($t->wait_for(sub { $m->ua->get("/api/v1/statuses/$anon")->result->code == 200 }), 'anonymous: public again');
$m->delete_ok("/api/v1/statuses/$anon", $ha)->status_is(200);
$anon_ok->(404, 'anonymous: a delete, at once');

# --- rendered accounts (kinds account and credentials) --------------------
# GET /api/v1/accounts/:id (any viewer, anonymous too) and verify_credentials
# come from the render cache while the worker's relay says it listens for
# PostgreSQL's account changes (sql/0039).  Behind the caches' back (the
# trigger off) a change is not seen until "account <id>" is published; every
# writer is seen on the next reads: the module's at once, any other (the
# worker, SQL) once the relay published what the trigger said.
my $acct = "/api/v1/accounts/$alice->{account_id}";
my $creds = '/api/v1/accounts/verify_credentials';
sub json_of { my ($res) = @_; $res->code == 200 ? $res->json : {} }
sub anon_reads_ok {
    my ($path, $check, $name) = @_;
    my $ok = 1;
    for (1 .. 6) { $ok = 0 unless $check->(json_of($m->ua->get($path)->result)) }
    ok($ok, $name);
}
sub creds_ok {
    my ($h, $check, $name) = @_;
    reads_ok($creds, $h, sub { $check->(json_of($_[0])) }, $name);
}
sub seen_ok {               # a writer that is not the module: seen soon after
    my ($path, $h, $check, $name) = @_;
    ok($t->wait_for(sub { $check->(json_of($m->ua->get($path => ($h // {}))->result)) }), $name);
    reads_ok($path, $h // {}, sub { $check->(json_of($_[0])) }, "$name: on every worker");
}
my $name_is = sub { my $n = shift; sub { ($_[0]{display_name} // '') eq $n } };

$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { display_name => 'Alice Cached' })
  ->status_is(200);
seen_ok($acct, undef, $name_is->('Alice Cached'), 'account: warm');
creds_ok($ha, $name_is->('Alice Cached'), 'credentials: warm');
$t->psql('ALTER TABLE accounts DISABLE TRIGGER accounts_forget');
$t->psql("UPDATE accounts SET display_name = 'Alice Behind' WHERE id = $alice->{account_id}");
anon_reads_ok($acct, $name_is->('Alice Cached'), 'the render cache answers the account, not PostgreSQL');
creds_ok($ha, $name_is->('Alice Cached'), 'and verify_credentials');
$t->psql('ALTER TABLE accounts ENABLE TRIGGER accounts_forget');
$t->redis('PUBLISH', 'mastodon:cache:forget', "account $alice->{account_id}");
seen_ok($acct, undef, $name_is->('Alice Behind'), "another node's published account change");
creds_ok($ha, $name_is->('Alice Behind'), 'verify_credentials too');

# the module's writers: seen at once on every worker
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => {
    display_name => 'Alice Again', note => 'a new note', locked => 'true',
    'fields_attributes[0][name]' => 'site', 'fields_attributes[0][value]' => 'cached',
    'source[privacy]' => 'unlisted', 'source[language]' => 'de',
})->status_is(200);
anon_reads_ok($acct, sub {
    my $j = shift;
    $j->{display_name} eq 'Alice Again' && $j->{note} =~ /a new note/ && $j->{locked}
      && ($j->{fields}[0]{value} // '') eq 'cached'
}, 'update_credentials: name, note, locked, fields');
creds_ok($ha, sub {
    my $j = shift;
    $j->{display_name} eq 'Alice Again' && $j->{source}{note} eq 'a new note'
      && $j->{source}{privacy} eq 'unlisted' && $j->{source}{language} eq 'de'
      && ($j->{source}{fields}[0]{value} // '') eq 'cached'
}, 'update_credentials: the source');

my $count = sub { my ($k, $n) = @_; sub { ($_[0]{$k} // -1) == $n } };
my $requests = sub { my $n = shift; sub { ($_[0]{source}{follow_requests_count} // -1) == $n } };
my $statuses = json_of($m->ua->get($acct)->result)->{statuses_count};
my $np = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'counted' })->status_is(200)
           ->tx->res->json->{id};
anon_reads_ok($acct, $count->('statuses_count', $statuses + 1), 'a post: statuses_count');
creds_ok($ha, $count->('statuses_count', $statuses + 1), 'a post: in verify_credentials');
anon_reads_ok($acct, sub { defined $_[0]{last_status_at} }, 'a post: last_status_at');
$m->delete_ok("/api/v1/statuses/$np", $ha)->status_is(200);
anon_reads_ok($acct, $count->('statuses_count', $statuses), 'a delete: statuses_count');
my $bstat = json_of($m->ua->get("/api/v1/accounts/$bob->{account_id}")->result)->{statuses_count};
my $fs_rb = $m->post_ok("/api/v1/statuses/$fs/reblog", $hb)->status_is(200);
anon_reads_ok("/api/v1/accounts/$bob->{account_id}", $count->('statuses_count', $bstat + 1),
              'a reblog: statuses_count');
$m->post_ok("/api/v1/statuses/$fs/unreblog", $hb)->status_is(200);
anon_reads_ok("/api/v1/accounts/$bob->{account_id}", $count->('statuses_count', $bstat),
              'an unreblog');

# follows: both counters; alice is locked now: a request, then its answer
my $followers = json_of($m->ua->get($acct)->result)->{followers_count};
my $following = json_of($m->ua->get($creds => $hc)->result)->{following_count};
creds_ok($ha, $requests->(0), 'no follow request');
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hc)->status_is(200);
creds_ok($ha, $requests->(1), 'a follow request: follow_requests_count');
$m->post_ok("/api/v1/follow_requests/$carol->{account_id}/authorize", $ha)->status_is(200);
creds_ok($ha, $requests->(0), 'authorized: no request left');
anon_reads_ok($acct, $count->('followers_count', $followers + 1), 'authorized: followers_count');
creds_ok($hc, $count->('following_count', $following + 1), "the follower's following_count");
$m->post_ok("/api/v1/accounts/$alice->{account_id}/unfollow", $hc)->status_is(200);
anon_reads_ok($acct, $count->('followers_count', $followers), 'an unfollow');
creds_ok($hc, $count->('following_count', $following), "the follower's too");
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { locked => 'false' })->status_is(200);

# the images: one set by the worker (SQL here), one removed by the API
$t->psql("UPDATE accounts SET avatar_file_name = 'cafe.png', avatar_content_type = 'image/png'
          WHERE id = $alice->{account_id}");
seen_ok($acct, undef, sub { ($_[0]{avatar} // '') !~ /missing/ }, 'an avatar set by another writer');
$m->delete_ok('/api/v1/profile/avatar', $ha)->status_is(200);
anon_reads_ok($acct, sub { ($_[0]{avatar} // '') =~ /missing/ }, 'the avatar removed');
creds_ok($ha, sub { ($_[0]{avatar} // '') =~ /missing/ }, 'in verify_credentials too');

# other writers (the worker's jobs, the CLI, an admin's SQL): through the
# trigger and the relay
$t->psql("UPDATE account_stats SET followers_count = followers_count + 40
          WHERE account_id = $alice->{account_id}");
seen_ok($acct, undef, $count->('followers_count', $followers + 40), 'counters moved by another writer');
$t->psql("UPDATE accounts SET silenced_at = now() WHERE id = $alice->{account_id}");
seen_ok($acct, undef, sub { $_[0]{limited} }, 'a silencing');
$t->psql("UPDATE accounts SET silenced_at = NULL, suspended_at = now() WHERE id = $alice->{account_id}");
seen_ok($acct, undef, sub { $_[0]{suspended} && $_[0]{display_name} eq '' }, 'a suspension');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $alice->{account_id}");
seen_ok($acct, undef, sub { !$_[0]{suspended} && $_[0]{display_name} eq 'Alice Again' }, 'its undoing');
$t->psql("UPDATE users SET role_id = 1 WHERE id = $alice->{user_id}");
seen_ok($creds, $ha, sub { ($_[0]{role}{name} // '') eq 'Moderator' }, 'a role given');
$t->psql("UPDATE user_roles SET color = '#abcdef' WHERE id = 1");
seen_ok($creds, $ha, sub { ($_[0]{role}{color} // '') eq '#abcdef' }, "a role's change (every account)");
$t->psql(qq{UPDATE users SET settings = '{"default_privacy":"private"}' WHERE id = $alice->{user_id}});
seen_ok($creds, $ha, sub { ($_[0]{source}{privacy} // '') eq 'private' }, 'settings changed by SQL');
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { 'source[privacy]' => 'public' })
  ->status_is(200);
creds_ok($ha, sub { ($_[0]{source}{privacy} // '') eq 'public' }, 'and back by the API');
my $dave = $t->user('dave');
seen_ok("/api/v1/accounts/$dave->{account_id}", undef, sub { ($_[0]{username} // '') eq 'dave' },
        "dave's account, warm");
my ($drc, undef, $derr) = $t->worker_cli('accounts', 'delete', 'dave');
is($drc, 0, 'the CLI deletes dave') or diag($derr);
ok($t->wait_for(sub { $m->ua->get("/api/v1/accounts/$dave->{account_id}")->result->code == 404 }),
   "the CLI's account deletion");
anon_reads_ok("/api/v1/accounts/$dave->{account_id}", sub { !%{ $_[0] } }, 'gone on every worker');

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
