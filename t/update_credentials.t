# PATCH /api/v1/accounts/update_credentials: form, JSON and multipart (as
# Tusky sends it); validation with Mastodon's 422 messages; nothing changes
# on failure.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use MastodonEntities qw(entity_errors);

# no worker: an avatar's answer does not wait for one (mastodon_media_v1_wait 0;
# t/profile_images.t has the wait)
my $t = MastodonTest->new(worker => 0, http_config => 'mastodon_media_v1_wait 0;');
my $m = $t->mojo;
my $alice = $t->user('alice');
my $h = $t->bearer($alice->{token});

# form
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => {
    display_name => 'Alice <3', note => "line one\nline two", locked => 'true', bot => '1',
    'fields_attributes[0][name]' => 'Site', 'fields_attributes[0][value]' => 'https://alice.example',
    'fields_attributes[1][name]' => '', 'fields_attributes[1][value]' => '',
    'source[privacy]' => 'private', 'source[sensitive]' => 'true', 'source[language]' => 'fr',
  })->status_is(200)
  ->json_is('/display_name', 'Alice <3')
  ->json_is('/note', '<p>line one<br />line two</p>')
  ->json_is('/source/note', "line one\nline two")
  ->json_is('/locked', Mojo::JSON::true)
  ->json_is('/bot', Mojo::JSON::true)
  ->json_is('/fields', [{ name => 'Site', verified_at => undef, value => '<a href="https://alice.example"'
      . ' target="_blank" rel="nofollow noopener me" translate="no"><span class="invisible">https://</span>'
      . '<span class="">alice.example</span><span class="invisible"></span></a>' }])
  ->json_is('/source/fields', [{ name => 'Site', value => 'https://alice.example' }])
  ->json_is('/source/privacy', 'private')
  ->json_is('/source/sensitive', Mojo::JSON::true)
  ->json_is('/source/language', 'fr');
my @e = entity_errors($m->tx->res->json, 'CredentialAccount');
is_deeply(\@e, [], 'CredentialAccount') or diag explain \@e;

# what is not sent stays as it was; JSON with an array of fields
$m->patch_ok('/api/v1/accounts/update_credentials', $h, json => {
    locked => Mojo::JSON::false, fields_attributes => [ { name => 'A', value => '1' }, { name => 'B', value => '2' } ] })
  ->status_is(200)
  ->json_is('/display_name', 'Alice <3')
  ->json_is('/locked', Mojo::JSON::false)
  ->json_is('/bot', Mojo::JSON::true)
  ->json_is('/fields/1/name', 'B')
  ->json_is('/source/privacy', 'private');

# multipart/form-data, as Tusky sends it (with an avatar file part)
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => {
    display_name => "Al\x{ef}ce", 'source[privacy]' => 'unlisted',
    avatar => { content => "\x89PNG\r\n\x1a\n\0\0", filename => 'a.png', 'Content-Type' => 'image/png' },
  })->status_is(200)
  ->json_is('/display_name', "Al\x{ef}ce")
  ->json_is('/source/privacy', 'unlisted');
like($m->tx->req->headers->content_type, qr{^multipart/form-data}, 'the request was multipart');

# notes are formatted as Mastodon does: links and hashtags
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { note => 'I like #nginx, see https://nginx.org' })
  ->status_is(200)
  ->json_like('/note', qr{^<p>I like <a href="http://[^"]+/tags/nginx" class="mention hashtag" rel="tag">#<span>nginx</span></a>, see <a href="https://nginx\.org" target="_blank"})
  ->json_is('/source/note', 'I like #nginx, see https://nginx.org');

# the public view follows
$m->get_ok("/api/v1/accounts/$alice->{account_id}")->json_is('/display_name', "Al\x{ef}ce");
$m->get_ok('/api/v1/preferences', $h)->json_is('/posting:default:visibility', 'unlisted');

# validation: 422, every problem named, nothing changed
my $before = $t->psql("SELECT display_name || note || locked FROM accounts WHERE id = $alice->{account_id}");
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => {
    display_name => 'x' x 31, note => 'y' x 501, locked => 'true', 'source[privacy]' => 'secret' })
  ->status_is(422)
  ->json_like('/error', qr/^Validation failed: /)
  ->json_like('/error', qr/Display name is too long \(maximum is 30 characters\)/)
  ->json_like('/error', qr/Note is too long \(maximum is 500 characters\)/)
  ->json_like('/error', qr/privacy is not included in the list/);
is($t->psql("SELECT display_name || note || locked FROM accounts WHERE id = $alice->{account_id}"), $before,
   'nothing changed');
$m->patch_ok('/api/v1/accounts/update_credentials', $h, json => {
    fields_attributes => [ map { { name => "n$_", value => 'v' } } 1 .. 5 ] })
  ->status_is(422)->json_like('/error', qr/Fields/);
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { display_name => "\x{1F418}" x 30 })
  ->status_is(200, '30 characters, whatever their bytes');

# a malformed multipart body is a clean 400
$m->patch_ok('/api/v1/accounts/update_credentials',
    { %$h, 'Content-Type' => 'multipart/form-data; boundary=XX' }, "--XX\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end")
  ->status_is(400)->json_like('/error', qr/multipart/);

# unlocking approves the pending follow requests, as Mastodon does
my $fan = $t->user('fan');
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { locked => 'true' })->status_is(200);
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $t->bearer($fan->{token}))->status_is(200)
  ->json_is('/requested', Mojo::JSON::true)->json_is('/following', Mojo::JSON::false);
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->json_is('/source/follow_requests_count', 1);
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { locked => 'false' })->status_is(200)
  ->json_is('/locked', Mojo::JSON::false)
  ->json_is('/source/follow_requests_count', 0)
  ->json_is('/followers_count', 1);
$m->get_ok("/api/v1/accounts/relationships?id[]=$alice->{account_id}", $t->bearer($fan->{token}))
  ->json_is('/0/following', Mojo::JSON::true)->json_is('/0/requested', Mojo::JSON::false);
$m->get_ok("/api/v1/accounts/$fan->{account_id}")->json_is('/following_count', 1);

# ... except those of silenced accounts: UpdateAccountService leaves them pending
my @silenced = map { $t->user("quiet$_") } 1 .. 2;
my $loud = $t->user('loud');
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { locked => 'true' })->status_is(200);
for my $u (@silenced, $loud) {
    $m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $t->bearer($u->{token}))->status_is(200)
      ->json_is('/requested', Mojo::JSON::true);
}
$t->psql("UPDATE accounts SET silenced_at = now() WHERE id IN ($silenced[0]{account_id}, $silenced[1]{account_id})");
$m->patch_ok('/api/v1/accounts/update_credentials', $h, form => { locked => 'false' })->status_is(200)
  ->json_is('/source/follow_requests_count', 2, 'the silenced ones stay pending')
  ->json_is('/followers_count', 2);
is($t->psql("SELECT string_agg(a.username, ',' ORDER BY a.username) FROM follow_requests r"
    . " JOIN accounts a ON a.id = r.account_id WHERE r.target_account_id = $alice->{account_id}"),
   'quiet1,quiet2', 'pending: the silenced requesters');
$m->get_ok("/api/v1/accounts/relationships?id[]=$alice->{account_id}", $t->bearer($loud->{token}))
  ->json_is('/0/following', Mojo::JSON::true);
$m->get_ok("/api/v1/accounts/relationships?id[]=$alice->{account_id}", $t->bearer($silenced[0]{token}))
  ->json_is('/0/following', Mojo::JSON::false)->json_is('/0/requested', Mojo::JSON::true);

# scopes and auth
my $ro = $t->token(user_id => $alice->{user_id}, scopes => 'read');
$m->patch_ok('/api/v1/accounts/update_credentials', $t->bearer($ro), form => { display_name => 'x' })
  ->status_is(403)->json_is('/error', 'This action is outside the authorized scopes');
$m->patch_ok('/api/v1/accounts/update_credentials', form => { display_name => 'x' })->status_is(401);
my $wa = $t->token(user_id => $alice->{user_id}, scopes => 'write:accounts');
$m->patch_ok('/api/v1/accounts/update_credentials', $t->bearer($wa), form => { display_name => 'granular' })
  ->status_is(200)->json_is('/display_name', 'granular');

$t->done;
