#!/usr/bin/perl
# A local status federates (activitypub_distribute, queue push): Create,
# Update, Delete and Announce rendered by lib/mstdn_ap, delivered signed to
# the inboxes mastodon_delivery_inboxes() names: the author's remote
# followers at their shared inbox, once per URL; the mentioned; the
# replied-to author for public posts; private posts only to followers (and
# the mentioned), direct only to the mentioned.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use InboxRecorder;
use Test::More;
use Mojo::File qw(path);

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push,media', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;

sub records { $rec->records }
sub of_type {
    my ($type, $min) = @_;
    my @r;
    $t->wait_for(sub { @r = grep { $_->{json}{type} eq $type } @{ records() }; @r >= $min }, 30);
    sleep 1;    # anything else that would come
    return [ sort map { $_->{where} } grep { $_->{json}{type} eq $type } @{ records() } ];
}
sub reset_log { $rec->reset }

my $alice = $t->user('alice', password => 'correct horse battery');
my $m = $t->mojo;
my $auth = $t->bearer($alice->{token});

# remote accounts: bob and carol share b.example's inbox, dave has none,
# erin and frank do not follow
my %remote;
for (['bob', 'b.example', "$in/b/shared"], ['carol', 'b.example', "$in/b/shared"], ['dave', 'd.example', ''],
     ['erin', 'e.example', ''], ['frank', 'f.example', '']) {
    my ($name, $domain, $shared) = @$_;
    $remote{$name} = $rec->account($name, $domain, $shared);
}
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($remote{$_}, $alice->{account_id})")
    for qw(bob carol dave);

# --- public, mentioning erin ----------------------------------------------------------
my $id = $m->post_ok('/api/v1/statuses', $auth, form => { status => 'hello @erin@e.example #fedi' })
    ->status_is(200)->tx->res->json->{id};
is_deeply(of_type('Create', 3), [ 'b/shared', 'dave/inbox', 'erin/inbox' ],
          'Create: the followers\' shared inbox once, the follower without one, the mentioned');
my ($create) = grep { $_->{json}{type} eq 'Create' } @{ records() };
my $base = 'http://' . $t->domain;
is($create->{json}{id}, "$base/users/alice/statuses/$id/activity", 'the Create\'s id');
is($create->{json}{actor}, "$base/users/alice", 'its actor');
is($create->{json}{object}{type}, 'Note', 'a Note');
is($create->{json}{object}{id}, "$base/users/alice/statuses/$id", 'the Note\'s id is the status URI');
is_deeply($create->{json}{to}, ['https://www.w3.org/ns/activitystreams#Public'], 'to Public');
like($create->{json}{object}{content}, qr{<a href="https://e\.example/\@erin" class="u-url mention">}, 'the mention is linked');
ok((grep { $_->{type} eq 'Mention' && $_->{href} eq 'https://e.example/users/erin' } @{ $create->{json}{object}{tag} }),
   'the Mention tag names erin\'s URI');
ok((grep { $_->{type} eq 'Hashtag' && $_->{name} eq '#fedi' } @{ $create->{json}{object}{tag} }), 'the Hashtag tag');
like($create->{signature}, qr/keyId="\Q$base\E\/users\/alice#main-key"/, 'signed as alice');

# --- an edit, then the delete -------------------------------------------------------------
reset_log();
$m->put_ok("/api/v1/statuses/$id", $auth, form => { status => 'hello again @erin@e.example' })->status_is(200);
is_deeply(of_type('Update', 3), [ 'b/shared', 'dave/inbox', 'erin/inbox' ], 'Update to the same inboxes');
my ($update) = @{ records() };
is($update->{json}{object}{id}, "$base/users/alice/statuses/$id", 'the Update carries the Note');
like($update->{json}{object}{content}, qr/hello again/, '... as edited');
reset_log();
$m->delete_ok("/api/v1/statuses/$id", $auth)->status_is(200);
is_deeply(of_type('Delete', 3), [ 'b/shared', 'dave/inbox', 'erin/inbox' ], 'Delete to the same inboxes');
my ($delete) = @{ records() };
is($delete->{json}{object}{type}, 'Tombstone', 'a Tombstone');
is($delete->{json}{object}{id}, "$base/users/alice/statuses/$id", 'of the status');

# --- private: followers only; direct: the mentioned only ---------------------------------------
reset_log();
$m->post_ok('/api/v1/statuses', $auth, form => { status => 'followers only', visibility => 'private' })->status_is(200);
is_deeply(of_type('Create', 2), [ 'b/shared', 'dave/inbox' ], 'private: the followers only');
reset_log();
$m->post_ok('/api/v1/statuses', $auth, form => { status => '@erin@e.example psst', visibility => 'direct' })->status_is(200);
is_deeply(of_type('Create', 1), [ 'erin/inbox' ], 'direct: the mentioned only');
my ($direct) = @{ records() };
is_deeply($direct->{json}{to}, ['https://e.example/users/erin'], 'addressed to erin');

# --- a reply to a remote status, and a reblog of one ----------------------------------------------
my $remote_status = $t->psql(qq{INSERT INTO statuses (uri, url, text, account_id, local, visibility)
    VALUES ('https://f.example/users/frank/statuses/1', 'https://f.example/\@frank/1', '<p>hi</p>', $remote{frank}, false, 0)
    RETURNING id});
$t->psql("INSERT INTO status_stats (status_id) VALUES ($remote_status)");
reset_log();
$m->post_ok('/api/v1/statuses', $auth, form => { status => 'a reply', in_reply_to_id => $remote_status })->status_is(200);
is_deeply(of_type('Create', 3), [ 'b/shared', 'dave/inbox', 'frank/inbox' ], 'a public reply also goes to the replied-to author');
my ($reply) = @{ records() };
is($reply->{json}{object}{inReplyTo}, 'https://f.example/users/frank/statuses/1', 'inReplyTo is the parent\'s URI');
reset_log();
my $reblog = $m->post_ok("/api/v1/statuses/$remote_status/reblog", $auth)->status_is(200)->tx->res->json->{id};
is_deeply(of_type('Announce', 3), [ 'b/shared', 'dave/inbox', 'frank/inbox' ], 'Announce to the followers and the original\'s author');
my ($announce) = @{ records() };
is($announce->{json}{object}, 'https://f.example/users/frank/statuses/1', 'of the original\'s URI');
reset_log();
$m->post_ok("/api/v1/statuses/$remote_status/unreblog", $auth)->status_is(200);
is_deeply(of_type('Undo', 3), [ 'b/shared', 'dave/inbox', 'frank/inbox' ], 'unreblog: Undo of the Announce');
my ($undo) = @{ records() };
is($undo->{json}{object}{type}, 'Announce', 'the Undo carries the Announce');

# --- a profile change: Update of the actor to the followers ---------------------------------------
reset_log();
$m->patch_ok('/api/v1/accounts/update_credentials', $auth,
             form => { display_name => 'Alice A.', note => 'hi #there', 'fields_attributes[0][name]' => 'web',
                       'fields_attributes[0][value]' => 'https://alice.example' })->status_is(200);
is_deeply(of_type('Update', 2), [ 'b/shared', 'dave/inbox' ], 'Update of the actor to the followers\' inboxes');
my ($upd) = @{ records() };
is($upd->{json}{object}{type}, 'Person', 'carrying the Person');
is($upd->{json}{object}{id}, "$base/users/alice", 'alice');
is($upd->{json}{object}{name}, 'Alice A.', 'with the new name');
like($upd->{json}{object}{summary}, qr{<p>hi <a href="[^"]*/tags/there" class="mention hashtag" rel="tag">#<span>there</span></a></p>},
     'the note as HTML');
like($upd->{json}{object}{publicKey}{publicKeyPem} // '', qr/BEGIN PUBLIC KEY/, 'and the public key');
is($upd->{json}{object}{attachment}[0]{name}, 'web', 'a profile field');
like($upd->{json}{object}{attachment}[0]{value}, qr{rel="nofollow noopener me"}, '... its link rel="me"');

# --- a new avatar: an Update once it is stored, with the icon -------------------------------------
reset_log();
system('vips', 'gaussnoise', "$dir/avatar.png", 500, 500) == 0 or die 'vips';
my $AB = 'AvAtArBoUnDaRy';
$m->patch_ok('/api/v1/accounts/update_credentials',
    { %$auth, 'Content-Type' => "multipart/form-data; boundary=$AB" },
    "--$AB\r\nContent-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
    . "Content-Type: image/png\r\n\r\n" . path("$dir/avatar.png")->slurp . "\r\n--$AB--\r\n")->status_is(200);
my $with_icon;
$t->wait_for(sub { ($with_icon) = grep { $_->{json}{type} eq 'Update' && $_->{json}{object}{icon} } @{ records() };
                   $with_icon }, 30);
ok($with_icon, 'an Update of the actor carrying the new avatar');
is($with_icon->{json}{object}{icon}{mediaType}, 'image/png', 'its media type');
like($with_icon->{json}{object}{icon}{url}, qr{^\Q$base\E/system/accounts/avatars/[\d/]+/original/[0-9a-f]{16}\.png$},
     'its URL under /system/');
# the profile's own Update follows the worker's (the request waits for the
# avatar before it saves the rest): both carry the icon, both to both inboxes
ok($t->wait_for(sub { (grep { $_->{json}{type} eq 'Update' && $_->{json}{object}{icon} } @{ records() }) >= 4 }, 30),
   "both Updates carry the icon, to both inboxes");

# --- a move: Move to the followers ---------------------------------------------------------------
reset_log();
my ($mrc, $mout, $merr) = $t->worker_cli('enqueue', 'push', 'activitypub_account',
    qq({"account_id":"$alice->{account_id}","action":"move","target_account_id":"$remote{frank}","id":"7"}));
is($mrc, 0, 'enqueued a move') or diag $merr;
is_deeply(of_type('Move', 2), [ 'b/shared', 'dave/inbox' ], 'Move to the followers');
my ($mv) = @{ records() };
is($mv->{json}{object}, "$base/users/alice", 'of alice');
is($mv->{json}{target}, 'https://f.example/users/frank', 'to the new account');
is($mv->{json}{id}, "$base/users/alice#moves/7", 'its id');

# --- a featured tag: Add and Remove of the Hashtag to the followers (Add/RemoveSerializer) -------
reset_log();
my $ft = $m->post_ok('/api/v1/featured_tags', $auth, form => { name => 'Gardening' })->status_is(200)->tx->res->json;
is_deeply(of_type('Add', 2), [ 'b/shared', 'dave/inbox' ], 'Add to the followers');
my ($add) = @{ records() };
is($add->{json}{actor}, "$base/users/alice", 'by alice');
is($add->{json}{target}, "$base/users/alice/collections/featured", 'to her featured collection');
is_deeply($add->{json}{object}, { type => 'Hashtag', href => "$base/tags/gardening", name => '#Gardening' },
          'the Hashtag');
reset_log();
$m->post_ok('/api/v1/featured_tags', $auth, form => { name => 'gardening' })->status_is(200);
$m->delete_ok("/api/v1/featured_tags/$ft->{id}", $auth)->status_is(200);
is_deeply(of_type('Remove', 2), [ 'b/shared', 'dave/inbox' ], 'its removal: Remove to the followers');
is(scalar(grep { $_->{json}{type} eq 'Add' } @{ records() }), 0, 'featuring it again: nothing sent');
my ($rm) = grep { $_->{json}{type} eq 'Remove' } @{ records() };
is($rm->{json}{target}, "$base/users/alice/collections/featured", 'from her featured collection');
is($rm->{json}{object}{name}, '#Gardening', 'the Hashtag');

# --- a report forwarded: Flag from the instance actor to the reported account's server ------------
system("openssl genrsa -traditional -out $dir/actor.pem 2048 2>/dev/null") == 0 or die;
my $pem = path("$dir/actor.pem")->slurp;
$t->psql(qq{INSERT INTO accounts (id, username, actor_type) VALUES (-99, 'localhost', 'Application')
            ON CONFLICT (id) DO NOTHING});
$t->psql(qq{UPDATE accounts SET private_key = coalesce(nullif(private_key, ''), '$pem') WHERE id = -99});
reset_log();
($mrc, $mout, $merr) = $t->worker_cli('enqueue', 'push', 'activitypub_flag',
    qq({"id":"3","target_account_id":"$remote{frank}","status_ids":["$remote_status","1"],"comment":"spam"}));
is($mrc, 0, 'enqueued a report\'s forward') or diag $merr;
is_deeply(of_type('Flag', 1), [ 'frank/inbox' ], 'Flag to the reported account\'s inbox');
my ($flag) = @{ records() };
is($flag->{json}{actor}, "$base/actor", 'from the instance actor');
is_deeply($flag->{json}{object}, [ 'https://f.example/users/frank', 'https://f.example/users/frank/statuses/1' ],
          'the account and its reported status (only its own)');
is($flag->{json}{content}, 'spam', 'with the comment');
like($flag->{signature}, qr/keyId="\Q$base\E\/actor#main-key"/, 'signed with the instance actor\'s key');

# --- the account's Delete: once per known host ---------------------------------------------------
reset_log();
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'push', 'activitypub_account',
                                      qq({"account_id":"$alice->{account_id}","action":"delete"}));
is($rc, 0, 'enqueued the account\'s delete') or diag $err;
is_deeply(of_type('Delete', 4), [ 'b/shared', 'dave/inbox', 'erin/inbox', 'frank/inbox' ],
          'Delete of the actor once to every known host');
my ($del) = @{ records() };
is($del->{json}{id}, "$base/users/alice#delete", 'its id');
is($del->{json}{object}, "$base/users/alice", 'of alice');

$rec->stop;
$t->done;
