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

my $bob = $t->psql(qq{INSERT INTO accounts (username, domain, uri, url, inbox_url, shared_inbox_url, protocol)
    VALUES ('bob', 'b.example', 'https://b.example/users/bob', 'https://b.example/\@bob',
            '$in/bob/inbox', '', 1) RETURNING id});
$t->psql("INSERT INTO account_stats (account_id) VALUES ($bob)");
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
ok(!(grep { $_->{type} eq 'Emoji' } @{ $create->{object}{tag} // [] }), 'no emoji named: no Emoji tag');

$rec->stop;
$t->done;
