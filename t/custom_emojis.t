#!/usr/bin/perl
# Custom emojis of remote posts and accounts: the worker stores the Emoji
# tags of a Note (Create) and of an actor (Update of the profile) in
# custom_emojis under the account's domain; the Status and Account
# entities render, in "emojis", those of the author's domain whose
# :shortcode: their text names (CustomEmoji.from_text), the image the
# remote URL; GET /api/v1/custom_emojis lists the local ones only.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojo::JSON qw(true false);

my $t = MastodonTest->new(worker_env => { MASTODON_QUEUES => 'default,push,ingress' });
my $ua = $t->ua;
my $R = 'https://remote.test';
my $PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n";

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
my $em = $t->psql(qq{INSERT INTO accounts (username, domain, uri, inbox_url)
    VALUES ('em', 'remote.test', '$R/users/em', '$R/users/em/inbox') RETURNING id});

my $n = 0;
sub process { $t->inbox_process($_[0], signer_id => $em) }
sub act {
    my ($type, %o) = @_;
    $n++;
    return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "$R/activities/$n",
             type => $type, actor => "$R/users/em", %o };
}
sub emoji {
    my ($name, $url, %o) = @_;
    return { type => 'Emoji', name => $name, id => "$R/emojis/$name",
             icon => { type => 'Image', mediaType => 'image/png', url => $url }, %o };
}
sub note {
    my ($k, $content, @tags) = @_;
    return { id => "$R/users/em/statuses/$k", type => 'Note', attributedTo => "$R/users/em",
             content => $content, to => ['https://www.w3.org/ns/activitystreams#Public'],
             cc => [], tag => \@tags, published => '2026-12-01T10:00:00Z' };
}

# --- a Note's emojis ------------------------------------------------------------------------------
process(act('Create', object => note(1, '<p>hello :blobcat: :blobcat: and :nope: and :wave:</p>',
    emoji(':blobcat:', "$R/emoji/blobcat.png"),
    emoji(':bad code:', "$R/emoji/bad.png"),
    emoji(':noicon:', undef),
    emoji(':unused:', "$R/emoji/unused.png"),
    emoji(':js:', 'javascript:alert(1)'),
    { type => 'Hashtag', name => '#cats', href => "$R/tags/cats" })));
my $sid = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/em/statuses/1'");
ok($sid, 'the status is stored');
is($t->psql(q{SELECT string_agg(shortcode || ' ' || domain || ' ' || image_remote_url || ' ' || uri, ',' ORDER BY shortcode)
    FROM custom_emojis}),
   "blobcat remote.test $R/emoji/blobcat.png $R/emojis/:blobcat:,unused remote.test $R/emoji/unused.png $R/emojis/:unused:",
   'the acceptable Emoji tags stored under the account\'s domain');

my $res = $ua->get("/api/v1/statuses/$sid" => $ha)->result;
is($res->code, 200, 'the status');
is_deeply($res->json->{emojis}, [
    { shortcode => 'blobcat', url => "$R/emoji/blobcat.png", static_url => "$R/emoji/blobcat.png",
      visible_in_picker => true } ], 'emojis: the ones its text names, once');

# another domain's emoji of the same name is not this one's
$t->psql(qq{INSERT INTO custom_emojis (shortcode, domain, image_remote_url)
    VALUES ('wave', 'other.test', 'https://other.test/wave.png')});
process(act('Create', object => note(2, '<p>:wave: :blobcat:</p>')));
my $sid2 = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/em/statuses/2'");
is_deeply([ map { $_->{shortcode} } @{ $ua->get("/api/v1/statuses/$sid2" => $ha)->result->json->{emojis} } ],
          ['blobcat'], "not another domain's :wave:");

# a new image replaces the old one
process(act('Create', object => note(3, '<p>:blobcat:</p>', emoji(':blobcat:', "$R/emoji/blobcat2.png"))));
is($t->psql(q{SELECT count(*) || ' ' || max(image_remote_url) FROM custom_emojis WHERE shortcode = 'blobcat'}),
   "1 $R/emoji/blobcat2.png", 'one emoji, its new image');
my $sid3 = $t->psql("SELECT id FROM statuses WHERE uri = '$R/users/em/statuses/3'");
is($ua->get("/api/v1/statuses/$sid3" => $ha)->result->json->{emojis}[0]{url}, "$R/emoji/blobcat2.png",
   'rendered with it');

# --- an actor's emojis --------------------------------------------------------------------------
process(act('Update', object => {
    id => "$R/users/em", type => 'Person', preferredUsername => 'em', name => ':wave: Em :blobcat:',
    summary => '<p>hi</p>', inbox => "$R/users/em/inbox",
    publicKey => { id => "$R/users/em#main-key", owner => "$R/users/em", publicKeyPem => $PEM },
    tag => [ emoji(':wave:', "$R/emoji/wave.png") ] }));
$res = $ua->get("/api/v1/accounts/$em" => $ha)->result;
is($res->json->{display_name}, ':wave: Em :blobcat:', 'the new name');
is_deeply([ map { "$_->{shortcode} $_->{url}" } @{ $res->json->{emojis} } ],
          [ "blobcat $R/emoji/blobcat2.png", "wave $R/emoji/wave.png" ],
          "the account's emojis: its name's, of its domain");
is_deeply([ map { $_->{shortcode} } @{ $ua->get("/api/v1/statuses/$sid" => $ha)->result->json->{account}{emojis} } ],
          [ 'blobcat', 'wave' ], 'and in its statuses\' account');

# a suspended account shows none
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $em");
is_deeply($ua->get("/api/v1/accounts/$em" => $ha)->result->json->{emojis} // [], [], 'suspended: none');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $em");

# --- local accounts, the list --------------------------------------------------------------------
$t->psql(qq{UPDATE accounts SET display_name = ':blobcat:' WHERE id = $alice->{account_id}});
is_deeply($ua->get("/api/v1/accounts/$alice->{account_id}" => $ha)->result->json->{emojis}, [],
          'a local account: no remote emoji');
$res = $ua->get('/api/v1/custom_emojis')->result;
is($res->code, 200, 'GET /api/v1/custom_emojis');
is_deeply($res->json, [], 'no local emoji yet: []');

$t->done;
