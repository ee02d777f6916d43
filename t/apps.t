# POST /api/v1/apps: the Application entity and Doorkeeper's validations.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

# form, as Tusky and toot send it
$m->post_ok('/api/v1/apps', form => {
    client_name   => 'Tusky',
    redirect_uris => 'com.keylesspalace.tusky://oauth',
    scopes        => 'read write follow push',
    website       => 'https://tusky.app',
  })->status_is(200)
  ->json_is('/name', 'Tusky')
  ->json_is('/website', 'https://tusky.app')
  ->json_is('/scopes', [qw(read write follow push)])
  ->json_is('/redirect_uri', 'com.keylesspalace.tusky://oauth')
  ->json_is('/redirect_uris', ['com.keylesspalace.tusky://oauth'])
  ->json_like('/id', qr/^\d+$/)
  ->json_like('/client_id', qr/^[A-Za-z0-9_-]{43}$/)
  ->json_like('/client_secret', qr/^[A-Za-z0-9_-]{43}$/)
  ->json_is('/client_secret_expires_at', 0);
my $app = $m->tx->res->json;
my @e = entity_errors($app, 'CredentialApplication');
is_deeply(\@e, [], 'CredentialApplication matches the documented entity') or diag explain \@e;
isnt($app->{client_id}, $app->{client_secret}, 'id and secret differ');

is($t->psql("SELECT name || '|' || scopes || '|' || redirect_uri || '|' || uid FROM oauth_applications"
            . " WHERE id = $app->{id}"),
   "Tusky|read write follow push|com.keylesspalace.tusky://oauth|$app->{client_id}", 'stored');

# JSON with an array of redirect URIs (Elk), default scope "read"
$m->post_ok('/api/v1/apps', json => {
    client_name => 'Elk', redirect_uris => ['https://elk.zone/cb', 'urn:ietf:wg:oauth:2.0:oob'] })
  ->status_is(200)
  ->json_is('/scopes', ['read'])
  ->json_is('/website', undef)
  ->json_is('/redirect_uris', ['https://elk.zone/cb', 'urn:ietf:wg:oauth:2.0:oob'])
  ->json_is('/redirect_uri', "https://elk.zone/cb\nurn:ietf:wg:oauth:2.0:oob");
my $elk = $m->tx->res->json;

# verify_credentials reads them back: a website, or null when none was given
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($t->token(app_id => $app->{id}, scopes => 'read')))
  ->status_is(200)->json_is('/name', 'Tusky')->json_is('/website', 'https://tusky.app')
  ->json_is('/redirect_uris', ['com.keylesspalace.tusky://oauth']);
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($t->token(app_id => $elk->{id}, scopes => 'read')))
  ->status_is(200)->json_is('/name', 'Elk')->json_has('/website')->json_is('/website', undef)
  ->json_is('/scopes', ['read'])
  ->json_is('/redirect_uris', ['https://elk.zone/cb', 'urn:ietf:wg:oauth:2.0:oob']);

# several URIs in one string, separated by new lines
$m->post_ok('/api/v1/apps', form => { client_name => 'x', redirect_uris => "https://a.example/cb\nhttps://b.example/cb",
    scopes => 'read  write:statuses ' })
  ->status_is(200)
  ->json_is('/redirect_uris', ['https://a.example/cb', 'https://b.example/cb'])
  ->json_is('/scopes', ['read', 'write:statuses']);

# validation: 422 with every failure named, nothing created
my $before = $t->psql('SELECT count(*) FROM oauth_applications');
my @invalid = (
    [ {}, qr/^Validation failed: Application name can't be blank, Redirect URI can't be blank$/ ],
    [ { client_name => 'x', redirect_uris => '/relative' }, qr/Redirect URI must be an absolute URI\./ ],
    [ { client_name => 'x', redirect_uris => 'https://a.example/cb#frag' }, qr/Redirect URI cannot contain a fragment\./ ],
    [ { client_name => 'x', redirect_uris => 'urn:ietf:wg:oauth:2.0:oob', scopes => 'read admin' },
      qr/Scopes doesn't match configured on the server\./ ],
    [ { client_name => 'x' x 61, redirect_uris => 'urn:ietf:wg:oauth:2.0:oob' },
      qr/Application name is too long \(maximum is 60 characters\)/ ],
    [ { client_name => 'x', redirect_uris => 'urn:ietf:wg:oauth:2.0:oob', website => 'not a url' },
      qr/Application website is invalid/ ],
);
for my $c (@invalid) {
    $m->post_ok('/api/v1/apps', form => $c->[0])->status_is(422)
      ->content_type_is('application/json; charset=utf-8')
      ->json_like('/error', $c->[1]);
}
is($t->psql('SELECT count(*) FROM oauth_applications'), $before, 'no application was created by a failed request');

# 60 characters of a multi-byte script are within the limit
$m->post_ok('/api/v1/apps', json => { client_name => "\x{1F418}" x 60, redirect_uris => 'urn:ietf:wg:oauth:2.0:oob' })
  ->status_is(200)->json_is('/name', "\x{1F418}" x 60);

$t->done;
