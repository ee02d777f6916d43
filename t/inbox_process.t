#!/usr/bin/perl
# The worker's incoming side (worker/job_inbox_process.c, inbox_*.c): rows
# of inbox_activities with their inbox_process jobs (what the module's inbox
# stores), processed with the honesty rules, their effects seen through the
# client API; remote documents served by a small HTTP server on 127.0.0.1
# (federation_allow_http, the address allowlisted).  Every rule has its
# negative case: nothing changes.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use DocServer;
use Test::More;
use Digest::SHA qw(sha256_hex);
use Mojo::JSON qw(encode_json decode_json true false);

# --- the remote server: documents from files, path -> file (t/lib/DocServer.pm) -------
my $t = MastodonTest->new(worker_env => {
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1' });
my $m = $t->mojo;
my $srv = DocServer->new($t->dir . '/docs');
my ($port, $R, $pem) = ($srv->port, $srv->url, $DocServer::PEM);
sub serve { $srv->serve(@_) }
sub actor { $srv->actor(@_) }

serve("/users/$_", actor($_)) for qw(bob eve dave);

my $alice = $t->user('alice');
my $carol = $t->user('carol', locked => 1);
my ($aid, $cid) = map { $_->{account_id} } $alice, $carol;
my $ha = $t->bearer($alice->{token});
my $hc = $t->bearer($carol->{token});
my $L = $t->public_base;

# an activity as the module's inbox stores it (the row and its job), processed
my $n = 0;
sub process { $t->inbox_process(@_) }
sub act { my ($type, $actor, %o) = @_; $n++; return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/users/$actor/activities/$n", type => $type, actor => "$R/users/$actor", %o } }
sub count { $t->psql($_[0]) }
# a status as the API shows it once the worker forgot its cached rendering
sub shows {
    my ($id, $path, $want, $name) = @_;
    ok($t->wait_for(sub { my $v = $m->ua->get("/api/v1/statuses/$id", $ha)->res->json($path); defined $v && $v eq $want }, 20),
       $name) or diag explain $m->ua->get("/api/v1/statuses/$id", $ha)->res->json;
}

# --- Follow of an open account: the actor fetched and stored, follow, notification --------
process(act('Follow', 'bob', object => "$L/users/alice"));
my $bob = count("SELECT id FROM accounts WHERE uri = '$R/users/bob'");
ok($bob, 'bob stored from his document');
is(count("SELECT count(*) FROM follows WHERE account_id = $bob AND target_account_id = $aid"), 1, 'bob follows alice');
ok($t->wait_for(sub { count("SELECT count(*) FROM notifications WHERE account_id = $aid AND type = 'follow'") == 1 }),
   'alice notified of the follow');
# the Accept goes out through fed-send's job, written with the follow
ok($t->wait_for(sub {
    open my $fh, '<', $t->dir . '/worker-1.log' or return 0;
    local $/;
    my $log = <$fh>;
    $log =~ /job activitypub_relationship jid=/ }, 20), 'an activitypub_relationship job queued for the Accept');

$m->get_ok("/api/v1/accounts/$bob", $ha)->status_is(200)
  ->json_is('/acct', "bob\@127.0.0.1:$port")->json_is('/username', 'bob')
  ->json_is('/uri', "$R/users/bob")->json_is('/url', "$R/\@bob")
  ->json_is('/display_name', 'Bob')->json_is('/locked', false)->json_is('/bot', false)
  ->json_is('/note', '<p>hi x</p>')
  ->json_is('/fields/0/name', 'site')
  ->json_is('/fields/0/value', '<a href="https://x.example" rel="nofollow noopener" target="_blank">x</a>')
  ->json_is('/emojis', [])
  ->json_is('/avatar', "$R/media/bob.png")->json_is('/avatar_static', "$R/media/bob.png")
  ->json_is('/header', "$R/media/bob-header.png");
$m->get_ok("/api/v1/accounts/$aid", $ha)->status_is(200)
  ->json_is('/avatar', "$L/avatars/original/missing.png");
$m->get_ok("/api/v1/accounts/$aid/followers", $ha)->status_is(200)->json_is('/0/acct', "bob\@127.0.0.1:$port");

# --- Follow of a locked account: a request --------------------------------------------
process(act('Follow', 'bob', object => "$L/users/carol"));
is(count("SELECT count(*) FROM follow_requests WHERE account_id = $bob AND target_account_id = $cid"), 1, 'a request to carol');
is(count("SELECT count(*) FROM follows WHERE account_id = $bob AND target_account_id = $cid"), 0, 'no follow yet');
$m->get_ok('/api/v1/follow_requests', $hc)->status_is(200)->json_is('/0/acct', "bob\@127.0.0.1:$port");

# --- Create: a remote post reaches a local follower's home, sanitized -------------------
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($aid, $bob)");
my $note_uri = "$R/users/bob/statuses/1";
sub note_doc {
    my ($uri, %o) = @_;
    return { id => $uri, type => 'Note', attributedTo => "$R/users/bob", url => "$R/\@bob/1",
             content => '<p>Hello <span class="h-card"><a href="' . "$L/users/alice" . '" class="u-url mention">@alice</a></span> <script>x</script><b onclick="y">bold</b></p>',
             to => ['https://www.w3.org/ns/activitystreams#Public'], cc => ["$R/users/bob/followers"],
             tag => [{ type => 'Mention', href => "$L/users/alice", name => '@alice' },
                     { type => 'Hashtag', href => "$R/tags/Cats", name => '#Cats' }],
             published => '2026-12-01T10:00:00Z', sensitive => false, %o };
}
my $create = act('Create', 'bob', object => note_doc($note_uri));
process($create);
my $sid = count("SELECT id FROM statuses WHERE uri = '$note_uri'");
ok($sid, 'the status is stored');
my $content = '<p>Hello <span class="h-card"><a href="' . "$L/users/alice"
    . '" class="u-url mention" rel="nofollow noopener" target="_blank">@alice</a></span> <b>bold</b></p>';
$m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)
  ->json_is('/uri', $note_uri)->json_is('/url', "$R/\@bob/1")->json_is('/content', $content)
  ->json_is('/visibility', 'public')->json_is('/account/acct', "bob\@127.0.0.1:$port")
  ->json_is('/mentions/0/id', "$aid")->json_is('/tags/0/name', 'cats');
ok($t->wait_for(sub {
    my $tx = $m->ua->get('/api/v1/timelines/home', $ha);
    grep { $_->{id} eq $sid } @{ $tx->res->json // [] } }), 'in alice\'s home timeline');
ok($t->wait_for(sub { count("SELECT count(*) FROM notifications WHERE account_id = $aid AND type = 'mention'") == 1 }),
   'alice notified of the mention');

# replayed: processed once
process($create);
is(count("SELECT count(*) FROM statuses WHERE uri = '$note_uri'"), 1, 'a replay creates nothing');
my $again = { %$create, id => "$R/users/bob/activities/another" };
process($again);
is(count("SELECT count(*) FROM statuses WHERE uri = '$note_uri'"), 1, 'nor another Create of the same object');

# visibility from the audience
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/2", to => ["$R/users/bob/followers"], cc => [])));
is(count("SELECT visibility FROM statuses WHERE uri = '$R/users/bob/statuses/2'"), 2, 'to the followers: private');
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/3", to => ["$L/users/alice"], cc => [])));
is(count("SELECT visibility FROM statuses WHERE uri = '$R/users/bob/statuses/3'"), 3, 'to alice alone: direct');
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/4", to => ["$R/users/bob/followers"],
                                             cc => ['as:Public'])));
is(count("SELECT visibility FROM statuses WHERE uri = '$R/users/bob/statuses/4'"), 1, 'public in cc: unlisted');

# a reply threads under its parent
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/5", inReplyTo => $note_uri)));
is(count("SELECT in_reply_to_id FROM statuses WHERE uri = '$R/users/bob/statuses/5'"), $sid, 'a reply has its parent');
$m->get_ok("/api/v1/statuses/$sid/context", $ha)->status_is(200)->json_has('/descendants/0');

# --- the honesty rules: nothing changes ------------------------------------------------
my $statuses = count('SELECT count(*) FROM statuses');
# the signer is not the actor
process(act('Create', 'eve', object => note_doc("$R/users/eve/statuses/9", attributedTo => "$R/users/eve")),
        signer => "$R/users/bob");
# the activity's id on another host
process({ %{ act('Create', 'bob', object => note_doc("$R/users/bob/statuses/10")) },
          id => 'http://other.example/activities/1' });
# the object on another host (embedded: never trusted)
process(act('Create', 'bob', object => note_doc('http://other.example/statuses/1')));
# attributed to another
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/11", attributedTo => "$R/users/eve")));
is(count('SELECT count(*) FROM statuses'), $statuses, 'no status from a forged Create');

# Update and Delete of someone else's status
process(act('Update', 'eve', object => note_doc($note_uri, attributedTo => "$R/users/eve", content => 'pwned')));
process(act('Delete', 'eve', object => $note_uri));
like(count("SELECT text FROM statuses WHERE id = $sid AND deleted_at IS NULL"), qr/Hello/, 'eve cannot edit or delete bob\'s status');
# Undo of someone else's follow
process(act('Undo', 'eve', object => { id => "$R/users/bob/activities/1", type => 'Follow',
                                       actor => "$R/users/bob", object => "$L/users/alice" }));
process(act('Undo', 'eve', object => "$R/users/bob/activities/1"));
is(count("SELECT count(*) FROM follows WHERE account_id = $bob AND target_account_id = $aid"), 1, 'eve cannot undo bob\'s follow');

# a fetched document counts only for its own id
serve('/users/mallory', actor('bob2'));
serve('/users/redir', 'redirect ' . "$R/users/dave");
process(act('Follow', 'mallory', object => "$L/users/alice"));
process(act('Follow', 'redir', object => "$L/users/alice"));
is(count("SELECT count(*) FROM accounts WHERE uri LIKE '$R/users/%' AND username IN ('bob2', 'dave', 'mallory', 'redir')"), 0,
   'no account from a document that is not its URL\'s');
is(count("SELECT count(*) FROM follows WHERE target_account_id = $aid"), 1, 'and no follow');

# a domain block (suspend) drops everything
$t->psql("INSERT INTO domain_blocks (domain, severity) VALUES ('127.0.0.1', 1)");
process(act('Create', 'bob', object => note_doc("$R/users/bob/statuses/12")));
is(count("SELECT count(*) FROM statuses WHERE uri = '$R/users/bob/statuses/12'"), 0, 'a suspended domain is not heard');
$t->psql("DELETE FROM domain_blocks");

# an Announce of a status its origin does not have: the embedded copy is not taken
process(act('Announce', 'bob', object => note_doc("$R/users/zed/statuses/2", attributedTo => "$R/users/zed"),
            to => ['https://www.w3.org/ns/activitystreams#Public']));
is(count('SELECT count(*) FROM statuses'), $statuses, 'no status from an embedded copy');

# --- Like and its Undo -----------------------------------------------------------------
my $mine = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'local post' })->status_is(200)->tx->res->json('/id');
my $mine_uri = count("SELECT uri FROM statuses WHERE id = $mine");
my $like = act('Like', 'bob', object => $mine_uri);
process($like);
shows($mine, '/favourites_count', 1, 'favourited once');
ok($t->wait_for(sub { count("SELECT count(*) FROM notifications WHERE account_id = $aid AND type = 'favourite'") == 1 }),
   'alice notified of the favourite');
process(act('Undo', 'eve', object => $like));
is(count("SELECT count(*) FROM favourites WHERE status_id = $mine"), 1, 'eve cannot undo bob\'s like');
process(act('Undo', 'bob', object => $like));
shows($mine, '/favourites_count', 0, 'unfavourited');

# --- Announce of our status: a reblog, notified -----------------------------------------
my $boost = act('Announce', 'bob', object => $mine_uri, to => ['https://www.w3.org/ns/activitystreams#Public']);
process($boost);
shows($mine, '/reblogs_count', 1, 'reblogged once');
ok($t->wait_for(sub { count("SELECT count(*) FROM notifications WHERE account_id = $aid AND type = 'reblog'") == 1 }),
   'alice notified of the reblog');
process(act('Undo', 'bob', object => $boost->{id}));
shows($mine, '/reblogs_count', 0, 'unreblogged');

# --- Update: the status, the profile -----------------------------------------------------
process(act('Update', 'bob', object => note_doc($note_uri, content => '<p>edited</p>', summary => 'cw')));
shows($sid, '/content', '<p>edited</p>', 'the edit shows');
$m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(200)->json_is('/spoiler_text', 'cw');
ok($m->tx->res->json('/edited_at'), 'edited_at set');
process(act('Update', 'bob', object => actor('bob', name => 'Bobby', summary => '<h1>new</h1>',
                                             manuallyApprovesFollowers => true)));
$m->get_ok("/api/v1/accounts/$bob", $ha)->status_is(200)->json_is('/display_name', 'Bobby')
  ->json_is('/note', '<p><strong>new</strong></p>')->json_is('/locked', true);
# a profile Update for another actor is refused
process(act('Update', 'eve', object => actor('bob', name => 'Pwned')));
$m->get_ok("/api/v1/accounts/$bob", $ha)->status_is(200)->json_is('/display_name', 'Bobby');

# --- Delete: gone, and stays deleted ---------------------------------------------------
process(act('Delete', 'bob', object => { id => $note_uri, type => 'Tombstone' }));
$m->get_ok("/api/v1/statuses/$sid", $ha)->status_is(404);
process(act('Create', 'bob', object => note_doc($note_uri)));
is(count("SELECT count(*) FROM statuses WHERE uri = '$note_uri' AND deleted_at IS NULL"), 0, 'a deleted URI stays deleted');

# --- Block and Undo Block; Undo Follow ----------------------------------------------------
my $block = act('Block', 'bob', object => "$L/users/alice");
process($block);
is(count("SELECT count(*) FROM blocks WHERE account_id = $bob AND target_account_id = $aid"), 1, 'bob blocks alice');
is(count("SELECT count(*) FROM follows WHERE (account_id = $bob AND target_account_id = $aid) OR (account_id = $aid AND target_account_id = $bob)"),
   0, 'the follows both ways went');
process(act('Undo', 'bob', object => $block));
is(count("SELECT count(*) FROM blocks WHERE account_id = $bob"), 0, 'unblocked');
my $f2 = act('Follow', 'bob', object => "$L/users/alice");
process($f2);
is(count("SELECT count(*) FROM follows WHERE account_id = $bob AND target_account_id = $aid"), 1, 'following again');
process(act('Undo', 'bob', object => $f2));
is(count("SELECT count(*) FROM follows WHERE account_id = $bob AND target_account_id = $aid"), 0, 'Undo Follow');
is(count("SELECT followers_count FROM account_stats WHERE account_id = $aid"),
   count("SELECT count(*) FROM follows WHERE target_account_id = $aid"), "... alice's followers count follows");

# --- Accept of our follow request --------------------------------------------------------
my $eve = count("SELECT id FROM accounts WHERE uri = '$R/users/eve'");
$t->psql("INSERT INTO follow_requests (account_id, target_account_id, uri) VALUES ($aid, $eve, '$L/follow/1')");
process(act('Accept', 'bob', object => "$L/follow/1"));
is(count("SELECT count(*) FROM follows WHERE account_id = $aid AND target_account_id = $eve"), 0, 'bob cannot accept for eve');
process(act('Accept', 'eve', object => { id => "$L/follow/1", type => 'Follow', actor => "$L/users/alice", object => "$R/users/eve" }));
is(count("SELECT count(*) FROM follows WHERE account_id = $aid AND target_account_id = $eve"), 1, 'accepted: alice follows eve');
$m->get_ok("/api/v1/accounts/relationships?id[]=$eve", $ha)->status_is(200)->json_is('/0/following', true);

# --- Delete of the actor ---------------------------------------------------------------
process(act('Create', 'eve', object => note_doc("$R/users/eve/statuses/1", attributedTo => "$R/users/eve")));
ok(count("SELECT id FROM statuses WHERE uri = '$R/users/eve/statuses/1' AND deleted_at IS NULL"), 'eve posted');
process(act('Delete', 'eve', object => "$R/users/eve"));
is(count("SELECT count(*) FROM statuses WHERE account_id = $eve AND deleted_at IS NULL"), 0, 'her statuses went with her');
ok(count("SELECT suspended_at IS NOT NULL FROM accounts WHERE id = $eve") eq 't', 'she is suspended');

# --- Announce of a status unknown here: fetched from its origin, with its author --------------
serve('/users/jill', actor('jill'));
serve('/users/jill/statuses/7', { id => "$R/users/jill/statuses/7", type => 'Note', attributedTo => "$R/users/jill",
                                  content => '<p>from jill</p>', to => ['https://www.w3.org/ns/activitystreams#Public'] });
process(act('Announce', 'bob', object => { id => "$R/users/jill/statuses/7", type => 'Note', attributedTo => "$R/users/jill",
                                           content => 'forged copy' },
            to => ['https://www.w3.org/ns/activitystreams#Public']));
my $jill7 = count("SELECT id FROM statuses WHERE uri = '$R/users/jill/statuses/7'");
ok($jill7, 'the original fetched from its origin');
is(count("SELECT text FROM statuses WHERE id = $jill7"), '<p>from jill</p>', 'its own text, not the embedded copy');
is(count("SELECT count(*) FROM statuses WHERE reblog_of_id = $jill7 AND account_id = $bob"), 1, 'bob\'s reblog of it');

# --- resolve: what a search with resolve=true asks the worker -----------------------------------
sub resolve {
    my ($q) = @_;
    $t->psql("INSERT INTO job_outbox (queue, type, args) VALUES ('default', 'resolve', '"
             . encode_json({ q => $q }) . "')");
    my $k = 'mastodon:resolve:' . sha256_hex($q);
    $t->wait_for(sub { $t->redis('GET', $k) ne '' }, 20);
    return decode_json($t->redis('GET', $k) || '{}');
}
my $wf = "/.well-known/webfinger?resource=acct%3Ahank%40127.0.0.1%3A$port";
serve($wf, { subject => "acct:hank\@127.0.0.1:$port",
             links => [{ rel => 'self', type => 'application/activity+json', href => "$R/users/hank" }] });
serve('/users/hank', actor('hank'));
my $r = resolve("\@hank\@127.0.0.1:$port");
my $hank = count("SELECT id FROM accounts WHERE uri = '$R/users/hank'");
ok($hank, 'hank found through WebFinger and stored');
is_deeply($r, { account_id => "$hank" }, 'the answer names his account');
is_deeply(resolve("nobody\@127.0.0.1:$port"), { error => 'not_found' }, 'no WebFinger: not found');
is_deeply(resolve('alice@' . $t->domain), { account_id => "$aid" }, 'one of ours');
serve('/@hank/8', { id => "$R/users/hank/statuses/8", type => 'Note', attributedTo => "$R/users/hank",
                    content => '<p>by url</p>', to => ['https://www.w3.org/ns/activitystreams#Public'] });
serve('/users/hank/statuses/8', { id => "$R/users/hank/statuses/8", type => 'Note', attributedTo => "$R/users/hank",
                                  content => '<p>by url</p>', to => ['https://www.w3.org/ns/activitystreams#Public'] });
$r = resolve("$R/\@hank/8");
my $h8 = count("SELECT id FROM statuses WHERE uri = '$R/users/hank/statuses/8'");
ok($h8, 'a status found by its URL, stored from its id');
is_deeply($r, { status_id => "$h8" }, 'the answer names it');
is_deeply(resolve("$R/users/hank"), { account_id => "$hank" }, 'an account by its URI');
serve('/elsewhere', { id => 'http://other.example/users/x', type => 'Person', preferredUsername => 'x',
                      inbox => 'http://other.example/inbox' });
is_deeply(resolve("$R/elsewhere"), { error => 'not_found' }, 'a document naming another host: not found');

# --- fetch_key: the module's question, answered on Redis ------------------------------------
sub fetch_key {
    my ($key_id) = @_;
    $t->psql("INSERT INTO job_outbox (queue, type, args) VALUES ('ingress', 'fetch_key', '"
             . encode_json({ key_id => $key_id }) . "')");
    my $k = 'mastodon:keyfetch:' . sha256_hex($key_id);
    $t->wait_for(sub { $t->redis('GET', $k) ne '' }, 20);
    return $t->redis('GET', $k);
}
is(fetch_key("$R/users/dave#main-key"), '{"ok":true}', 'a key fetched: ok');
like(count("SELECT public_key FROM accounts WHERE uri = '$R/users/dave'"), qr/BEGIN PUBLIC KEY/, 'dave and his key stored');
is(fetch_key("$R/users/nobody#main-key"), '{"error":"gone"}', 'an actor that is not there: gone');
is(fetch_key("$R/users/dave#other-key"), '{"error":"invalid"}', 'a key the actor does not hold: invalid');
serve('/users/frank', actor('frank', publicKey => { id => "$R/users/frank#main-key", owner => "$R/users/bob", publicKeyPem => $pem }));
is(fetch_key("$R/users/frank#main-key"), '{"error":"invalid"}', 'a key owned by another: invalid');
is(count("SELECT count(*) FROM accounts WHERE uri = '$R/users/frank'"), 0, 'and not stored');
# a key of its own (a Key document whose owner holds it): found by its id (keypairs)
serve('/keys/gina', { id => "$R/keys/gina", type => 'Key', owner => "$R/users/gina", publicKeyPem => $pem });
serve('/users/gina', actor('gina', publicKey => { id => "$R/keys/gina", owner => "$R/users/gina", publicKeyPem => $pem }));
is(fetch_key("$R/keys/gina"), '{"ok":true}', 'a Key document: its owner fetched');
is(count("SELECT count(*) FROM keypairs k JOIN accounts a ON a.id = k.account_id WHERE k.uri = '$R/keys/gina'"
         . " AND a.uri = '$R/users/gina'"), 1, 'the key found by its id');

# --- Add and Remove of a Hashtag to the featured collection: the account's featured tags ------
my $bfeat = "$R/users/bob/collections/featured";
$t->psql("UPDATE accounts SET featured_collection_url = '$bfeat' WHERE id = $bob");
sub bob_featured { [ map { $_->{name} } @{ $m->ua->get("/api/v1/accounts/$bob/featured_tags")->res->json } ] }
sub hashtag { { type => 'Hashtag', href => "$R/tags/" . lc($_[0] =~ s/^#//r), name => $_[0] } }
process(act('Add', 'bob', object => hashtag('#Gardening'), target => $bfeat));
is_deeply(bob_featured(), ['Gardening'], 'a Hashtag added: featured, named as given');
process(act('Add', 'bob', object => hashtag('#gardening'), target => $bfeat));
is(count("SELECT count(*) FROM featured_tags WHERE account_id = $bob"), 1, 'again: once');
process(act('Add', 'bob', object => hashtag('#Cooking'), target => "$R/users/bob/collections/tags"));
is_deeply(bob_featured(), ['Gardening'], 'another target than the featured collection: nothing');
process(act('Add', 'bob', object => hashtag('#no way'), target => $bfeat));
process(act('Add', 'bob', object => hashtag('#1234'), target => $bfeat));
is(count("SELECT count(*) FROM featured_tags WHERE account_id = $bob"), 1, 'not a tag\'s name: nothing');
process(act('Remove', 'bob', object => hashtag('#GARDENING'), target => $bfeat));
is_deeply(bob_featured(), [], 'a Hashtag removed: no longer featured');

# --- a remote actor's Emoji tags: its custom emojis, shown in the Account entity's "emojis" ----
sub emoji_tag { my ($code, $file) = @_; { id => "$R/emojis/$code", type => 'Emoji', name => ":$code:",
    updated => '2026-12-01T00:00:00Z', icon => { type => 'Image', mediaType => 'image/png', url => "$R/media/$file" } } }
process(act('Update', 'bob', object => actor('bob', name => 'Bob :bobcat:',
    summary => '<p>likes :fish_heart:</p>',
    tag => [ emoji_tag('bobcat', 'bobcat.png'), emoji_tag('fish_heart', 'fish.png'),
             emoji_tag('unused', 'unused.png'), { type => 'Emoji', name => ':no_icon:' },
             hashtag('#Cats') ])));
my $emojis_of_bob = sub { $m->ua->get("/api/v1/accounts/$bob", $ha)->res->json('/emojis') // [] };
ok($t->wait_for(sub { @{ $emojis_of_bob->() } == 2 }, 20), 'the account shows the emojis its name and note use')
    or diag explain $emojis_of_bob->();
is_deeply($emojis_of_bob->(), [
    { shortcode => 'bobcat', url => "$R/media/bobcat.png", static_url => "$R/media/bobcat.png", visible_in_picker => true },
    { shortcode => 'fish_heart', url => "$R/media/fish.png", static_url => "$R/media/fish.png", visible_in_picker => true },
], 'as CustomEmoji entities, the remote image as url and static_url');
is(count("SELECT count(*) FROM custom_emojis WHERE domain = (SELECT domain FROM accounts WHERE id = $bob) AND shortcode IN ('bobcat', 'fish_heart', 'unused')"), 3,
   'every Emoji tag with an icon stored under its domain');
is(count("SELECT count(*) FROM custom_emojis WHERE shortcode = 'no_icon'"), 0, 'one without an icon is not');
# a changed image replaces the stored one
process(act('Update', 'bob', object => actor('bob', name => 'Bob :bobcat:', tag => [ emoji_tag('bobcat', 'bobcat2.png') ])));
ok($t->wait_for(sub { ($emojis_of_bob->()->[0]{url} // '') eq "$R/media/bobcat2.png" }, 20), 'a new image replaces it');

# --- a silenced domain (BlockDomainService, auto_silence?, UnblockDomainService) -----------------
my $gina = count("SELECT id FROM accounts WHERE uri = '$R/users/gina'");
$t->psql("UPDATE accounts SET silenced_at = '2020-01-01' WHERE id = $gina");   # silenced by a moderator
my ($rc, $out, $err) = $t->worker_cli('domain-block', 'add', '127.0.0.1', '--severity', 'silence');
is($rc, 0, 'domain-block add --severity silence') or diag $err;
like($out, qr/^\d+ account\(s\) silenced$/m, 'it says how many accounts it silenced');
is(count("SELECT silenced_at IS NOT NULL FROM accounts WHERE id = $bob"), 't', "the domain's known accounts are silenced");
ok($t->wait_for(sub { $m->ua->get("/api/v1/accounts/$bob", $ha)->res->json('/limited') }, 10), '... shown limited');
is(count("SELECT count(*) FROM accounts WHERE domain IS NULL AND silenced_at IS NOT NULL"), 0, 'local accounts untouched');
serve('/users/hank', actor('hank'));
process(act('Follow', 'hank', object => "$L/users/alice"));
my $hank = count("SELECT id FROM accounts WHERE uri = '$R/users/hank'");
ok($hank, 'a new account of the silenced domain is stored');
is(count("SELECT silenced_at = (SELECT created_at FROM domain_blocks WHERE domain = '127.0.0.1') FROM accounts WHERE id = $hank"),
   't', '... silenced from the start, dated the block');
($rc, $out, $err) = $t->worker_cli('domain-block', 'remove', '127.0.0.1');
is($rc, 0, 'the silence lifted') or diag $err;
is(count("SELECT count(*) FROM accounts WHERE id IN ($bob, $hank) AND silenced_at IS NULL"), 2, 'the accounts it silenced are not any more');
is(count("SELECT silenced_at FROM accounts WHERE id = $gina"), '2020-01-01 00:00:00', 'one silenced before stays silenced');

$t->done;
