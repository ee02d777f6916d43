# POST /api/v1/emails/confirmations: a lost confirmation e-mail is sent
# again, with a fresh link (the old one stops working), optionally to a
# corrected address; only the app the user signed up with may ask, and only
# while the address is unconfirmed.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(smtp => 1, worker_env => { MASTODON_RETRY_BASE_MS => 100 });
my $m = $t->mojo;

my $app = $t->app(name => 'Signup App', scopes => 'read write');
my $app_token = $t->token(app_id => $app->{id}, scopes => 'read write');

$m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => { username => 'newbie',
    email => 'newbie@example.com', password => 'correct horse battery', agreement => 'true', locale => 'en' })
  ->status_is(200);
my $token = $m->tx->res->json('/access_token');
ok($token, 'signed up, unconfirmed');

sub links_to {
    my ($addr) = @_;
    return map { $_->{data} =~ m{(/auth/confirmation\?confirmation_token=[A-Za-z0-9_-]+)} ? $1 : () }
           grep { $_->{to}[0] eq $addr } $t->mails;
}
ok($t->wait_for(sub { links_to('newbie@example.com') == 1 }, 20), 'the first mail arrived');
my ($first) = links_to('newbie@example.com');

# resend, to a corrected address
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($token), form => { email => ' NewBie@Example.org ' })
  ->status_is(200)->json_is('', {});
ok($t->wait_for(sub { links_to('newbie@example.org') == 1 }, 20), 'a new mail went to the corrected address');
my ($second) = links_to('newbie@example.org');
isnt($second, $first, 'with a new link');

$m->get_ok($first)->status_is(422, 'the old link no longer works');
$m->get_ok($second)->status_is(200)->content_like(qr/confirmed/);
is($t->psql(q{SELECT email || ' ' || (confirmed_at IS NOT NULL) FROM users u JOIN accounts a ON a.id = u.account_id
              WHERE a.username = 'newbie'}), 'newbie@example.org true', 'confirmed, at the new address');

# confirmed now: nothing more to send
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($token))->status_is(403)
  ->json_is('/error', 'This method is only available while the e-mail is awaiting confirmation');

# only the app the user signed up with
$m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => { username => 'other',
    email => 'other@example.com', password => 'correct horse battery', agreement => 'true', locale => 'en' })
  ->status_is(200);
my $other = $t->psql(q{SELECT u.id FROM users u JOIN accounts a ON a.id = u.account_id WHERE a.username = 'other'});
my $foreign = $t->token(user_id => $other, scopes => 'write');
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($foreign))->status_is(403)
  ->json_like('/error', qr/only available to the application the user originally signed-up with/);

# tokens and bad input
$m->post_ok('/api/v1/emails/confirmations')->status_is(401);
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($app_token))->status_is(422)
  ->json_is('/error', 'This method requires an authenticated user');
my $other_token = $m->post_ok('/api/v1/accounts', $t->bearer($app_token), form => { username => 'third',
    email => 'third@example.com', password => 'correct horse battery', agreement => 'true', locale => 'en' })
  ->tx->res->json('/access_token');
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($other_token), form => { email => 'no at sign' })
  ->status_is(422)->json_is('/error', 'Validation failed: Email is invalid');
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($other_token), form => { email => 'a<b>@example.org' })
  ->status_is(422)->json_is('/error', 'Validation failed: Email is invalid');
for my $bad ('third@example..org', 'Third <third@example.org>', 'third@exa?mple.org') {
    $m->post_ok('/api/v1/emails/confirmations', $t->bearer($other_token), form => { email => $bad })
      ->status_is(422, "refused: $bad")->json_is('/error', 'Validation failed: Email is invalid');
}
$m->post_ok('/api/v1/emails/confirmations', $t->bearer($other_token), form => { email => 'NEWBIE@example.org' })
  ->status_is(422)->json_is('/error', 'Validation failed: Email has already been taken');

$t->done;
