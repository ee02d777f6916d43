#!/usr/bin/perl
# Local custom emojis over ActivityPub (issue 9): a local status naming
# :shortcode: of a local emoji carries its Emoji tag (id base/emojis/ID,
# name :shortcode:, updated, icon an Image with mediaType and url) in the
# worker's Create (worker/ap_send_status.c, ap_send_emoji.c) and in the
# Note at its URI (the module's ngx_http_mastodon_note.c), both from
# lib/mstdn_emoji.h's one query.
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

# a local emoji, imported with the CLI
$ENV{MASTODON_MEDIA_ROOT} = "$dir/system";
system('vips', 'black', "$dir/blobcat.png", 8, 8) == 0 or die 'vips failed';
my ($rc, $out, $err) = $t->worker_cli('emoji', 'import', "$dir/blobcat.png");
is($rc, 0, 'emoji imported') or diag $err;
my ($eid, $updated) = split /\|/, $t->psql(q{SELECT id, to_char(updated_at, 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
    FROM custom_emojis WHERE shortcode = 'blobcat'});
my $part = sprintf('%03d/%03d/%03d', int($eid / 1e6) % 1000, int($eid / 1e3) % 1000, $eid % 1000);
my $tag = { id => "$base/emojis/$eid", type => 'Emoji', name => ':blobcat:', updated => $updated,
            icon => { type => 'Image', mediaType => 'image/png',
                      url => "$base/system/custom_emojis/images/$part/original/blobcat.png" } };

my $st = $m->post_ok('/api/v1/statuses', $auth, form => { status => 'hello :blobcat: #cats' })
    ->status_is(200)->tx->res->json;
is_deeply([ map { $_->{shortcode} } @{ $st->{emojis} } ], ['blobcat'], 'the status shows the emoji');

my $create = first_of('Create');
ok($create, 'a Create is delivered');
my @emoji_tags = grep { $_->{type} eq 'Emoji' } @{ $create->{object}{tag} // [] };
is_deeply(\@emoji_tags, [ $tag ], "the Create's Note carries the Emoji tag");
is_deeply([ map { $_->{type} } @{ $create->{object}{tag} } ], [ 'Hashtag', 'Emoji' ], 'after the hashtags');
ok((grep { ref $_ eq 'HASH' && ($_->{Emoji} // '') eq 'toot:Emoji' } @{ $create->{'@context'} }),
   'the context names toot:Emoji');

my $note = $m->get_ok("/users/alice/statuses/$st->{id}" => { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply([ grep { $_->{type} eq 'Emoji' } @{ $note->{tag} } ], [ $tag ], 'the Note at its URI: the same tag');

# a status naming no emoji carries none
reset_log();
$m->post_ok('/api/v1/statuses', $auth, form => { status => 'plain :nope:' })->status_is(200);
$create = first_of('Create');
ok($create, 'the plain status is delivered');
ok(!(grep { $_->{type} eq 'Emoji' } @{ $create->{object}{tag} // [] }), 'no emoji named: no Emoji tag');

# --- the actor: Emoji tags of the emojis its name, note and fields name (ActorSerializer) ---
reset_log();
$m->patch_ok('/api/v1/accounts/update_credentials', $auth,
             form => { display_name => 'Alice :blobcat:', note => 'no emoji here',
                       'fields_attributes[0][name]' => 'cat', 'fields_attributes[0][value]' => ':blobcat:' })
  ->status_is(200);
my $actor = $m->get_ok('/users/alice' => { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply($actor->{tag}, [ $tag ], "the actor's tag: the emoji once (name and field)");
ok((grep { ref $_ eq 'HASH' && ($_->{Emoji} // '') eq 'toot:Emoji' } @{ $actor->{'@context'} }),
   "the actor's context names toot:Emoji");
my $update;
ok($t->wait_for(sub { $update = first_of('Update') }, 20), 'the profile Update is delivered');
is_deeply($update && $update->{object}{tag}, [ $tag ], "the Update's actor carries the same tag");
$m->patch_ok('/api/v1/accounts/update_credentials', $auth,
             form => { display_name => 'Alice', 'fields_attributes[0][name]' => 'cat',
                       'fields_attributes[0][value]' => 'meow' })->status_is(200);
$actor = $m->get_ok('/users/alice' => { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply($actor->{tag}, [], 'no emoji named: an empty tag');

# --- the actor's hashtags: its note's (Account#tags), after the emojis (ActorSerializer#virtual_tags) ---
reset_log();
$m->patch_ok('/api/v1/accounts/update_credentials', $auth,
             form => { note => "I like #Cats and :blobcat:\n#dogs, #cats again" })->status_is(200);
my @hashtags = map { { type => 'Hashtag', href => "$base/tags/$_", name => "#$_" } } qw(cats dogs);
$actor = $m->get_ok('/users/alice' => { Accept => $AP })->status_is(200)->tx->res->json;
is_deeply($actor->{tag}, [ $tag, @hashtags ], "the actor's tag: the emoji, then the note's hashtags once each, normalized (Tag#name)");
ok((grep { ref $_ eq 'HASH' && ($_->{Hashtag} // '') eq 'as:Hashtag' } @{ $actor->{'@context'} }),
   "the actor's context names as:Hashtag");
# the Update of this change (the previous change's may come late, jobs run in parallel)
ok($t->wait_for(sub { ($update) = grep { $_->{type} eq 'Update' && ($_->{object}{summary} // '') =~ /dogs/ }
                                  map { $_->{json} } @{ records() }; $update }, 30), 'the profile Update is delivered');
is_deeply($update && $update->{object}{tag}, [ $tag, @hashtags ], "the Update's actor carries the same tag");

# --- GET /emojis/:id: the Emoji document its tags' ids name (EmojisController) ---
my $doc = $m->get_ok("/emojis/$eid" => { Accept => $AP })->status_is(200)
  ->header_like('Content-Type', qr{^application/activity\+json})
  ->header_is('Cache-Control', 'max-age=180, public')->tx->res->json;
my %want = (%$tag, '@context' => [ 'https://www.w3.org/ns/activitystreams',
    { toot => 'http://joinmastodon.org/ns#', Emoji => 'toot:Emoji', focalPoint => { '@container' => '@list', '@id' => 'toot:focalPoint' } } ]);
is_deeply($doc, \%want, 'the Emoji document: context, id, type, name, updated, icon');
$m->get_ok("/emojis/$eid.json")->status_is(200)->json_is('/id', "$base/emojis/$eid");
$m->get_ok("/emojis/$eid" => { Accept => 'text/html' })->status_is(406);
$m->get_ok('/emojis/999999' => { Accept => $AP })->status_is(404);
$m->get_ok('/emojis/nope' => { Accept => $AP })->status_is(404);
my $remote = $t->psql(q{INSERT INTO custom_emojis (shortcode, domain, image_remote_url)
    VALUES ('farcat', 'b.example', 'https://b.example/farcat.png') RETURNING id});
$m->get_ok("/emojis/$remote" => { Accept => $AP })->status_is(404);   # CustomEmoji.local only

$rec->stop;
$t->done;
