# Reading accounts: verify_credentials (CredentialAccount), /accounts/:id,
# ?id[]=, lookup, preferences; require_user! states and scopes.

use strict;
use warnings;

use Test::More;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $domain = $t->domain;

my $alice = $t->user('alice', display_name => 'Alice A.');
my $bob = $t->user('bob', locked => 1);
$t->psql(qq{UPDATE accounts SET note = 'Hello <b>world</b>\n\nsecond & last',
    fields = '[{"name":"Site","value":"https://a.example/<x>"}]' WHERE id = $alice->{account_id}});
$t->psql(qq{UPDATE account_stats SET followers_count = 3, following_count = 2, statuses_count = 5,
    last_status_at = '2026-11-20 10:00:00' WHERE account_id = $alice->{account_id}});
$t->psql(q{INSERT INTO accounts (username, domain, uri, url, note, display_name)
    VALUES ('carol', 'remote.example', 'https://remote.example/users/carol', 'https://remote.example/@carol',
    '<p>remote <a href="https://remote.example">html</a></p>', 'Carol')});

# --- verify_credentials -------------------------------------------------------
my $h = $t->bearer($alice->{token});
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->status_is(200)
  ->json_is('/id', $alice->{account_id})
  ->json_is('/username', 'alice')
  ->json_is('/acct', 'alice')
  ->json_is('/display_name', 'Alice A.')
  ->json_is('/url', "http://$domain/\@alice")
  ->json_is('/uri', "http://$domain/users/alice")
  ->json_is('/note', '<p>Hello &lt;b&gt;world&lt;/b&gt;</p><p>second &amp; last</p>')
  ->json_is('/source/note', "Hello <b>world</b>\n\nsecond & last")
  ->json_is('/fields/0/name', 'Site')
  ->json_is('/fields/0/value', '<a href="https://a.example/" target="_blank" rel="nofollow noopener me"'
      . ' translate="no"><span class="invisible">https://</span><span class="">a.example/</span>'
      . '<span class="invisible"></span></a>&lt;x&gt;')
  ->json_is('/fields/0/verified_at', undef)
  ->json_is('/source/fields/0/value', 'https://a.example/<x>')
  ->json_is('/followers_count', 3)
  ->json_is('/following_count', 2)
  ->json_is('/statuses_count', 5)
  ->json_is('/last_status_at', '2026-11-20')
  ->json_like('/created_at', qr/^\d{4}-\d\d-\d\dT00:00:00\.000Z$/)
  ->json_is('/source/privacy', 'public')
  ->json_is('/source/sensitive', Mojo::JSON::false)
  ->json_is('/source/follow_requests_count', 0)
  ->json_is('/role/id', '-99')
  ->json_is('/locked', Mojo::JSON::false)
  ->json_is('/bot', Mojo::JSON::false)
  ->json_like('/avatar', qr{^http://\Q$domain\E/avatars/original/missing\.png$});
my @e = entity_errors($m->tx->res->json, 'CredentialAccount');
is_deeply(\@e, [], 'CredentialAccount matches the documented entity') or diag explain \@e;

# --- scopes and user states -----------------------------------------------------
$m->get_ok('/api/v1/accounts/verify_credentials')->status_is(401);
my $profile_only = $t->token(user_id => $alice->{user_id}, scopes => 'profile');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($profile_only))->status_is(200, 'profile scope suffices');
my $granular = $t->token(user_id => $alice->{user_id}, scopes => 'read:accounts');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($granular))->status_is(200, 'read:accounts suffices');
my $wrong = $t->token(user_id => $alice->{user_id}, scopes => 'read:statuses write');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($wrong))->status_is(403)
  ->json_is('/error', 'This action is outside the authorized scopes');
my $app_token = $t->token(scopes => 'read');
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($app_token))->status_is(422)
  ->json_is('/error', 'This method requires an authenticated user');

my $unconfirmed = $t->user('unconfirmed', confirmed => 0);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($unconfirmed->{token}))->status_is(403)
  ->json_is('/error', 'Your login is missing a confirmed e-mail address');
my $pending = $t->user('pending', approved => 0);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($pending->{token}))->status_is(403)
  ->json_is('/error', 'Your login is currently pending approval');
my $disabled = $t->user('disabled', disabled => 1);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($disabled->{token}))->status_is(403)
  ->json_is('/error', 'Your login is currently disabled');
my $suspended = $t->user('suspended', suspended => 1);
$m->get_ok('/api/v1/accounts/verify_credentials', $t->bearer($suspended->{token}))->status_is(403)
  ->json_is('/error', 'Your login is currently disabled');

# --- /api/v1/accounts/:id ---------------------------------------------------------
$m->get_ok("/api/v1/accounts/$bob->{account_id}")->status_is(200, 'public without a token')
  ->json_is('/username', 'bob')
  ->json_is('/locked', Mojo::JSON::true)
  ->json_hasnt('/source');
@e = entity_errors($m->tx->res->json, 'Account');
is_deeply(\@e, [], 'Account matches the documented entity') or diag explain \@e;
$m->get_ok("/api/v1/accounts/$bob->{account_id}", $t->bearer('bad'))->status_is(401, 'a bad token is refused');
$m->get_ok("/api/v1/accounts/$bob->{account_id}", { Authorization => 'Basic Zm9vOmJhcg==' })
  ->status_is(200, 'another scheme is no token (a site behind HTTP Basic)');
$m->get_ok("/api/v1/accounts/$bob->{account_id}", $h)->status_is(200);
$m->get_ok('/api/v1/accounts/999999999')->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok('/api/v1/accounts/abc')->status_is(404);

my $carol = $t->psql(q{SELECT id FROM accounts WHERE username = 'carol'});
$m->get_ok("/api/v1/accounts/$carol")->status_is(200)
  ->json_is('/acct', 'carol@remote.example')
  ->json_is('/url', 'https://remote.example/@carol')
  ->json_is('/uri', 'https://remote.example/users/carol')
  ->json_is('/note', '<p>remote <a href="https://remote.example">html</a></p>')
  ->json_hasnt('/noindex');

# local accounts whose user is unconfirmed or awaiting approval are not shown
$m->get_ok("/api/v1/accounts/$unconfirmed->{account_id}")->status_is(404);
$m->get_ok("/api/v1/accounts/$pending->{account_id}")->status_is(404);
$m->get_ok('/api/v1/accounts/lookup?acct=pending')->status_is(404);
$m->get_ok("/api/v1/accounts?id[]=$pending->{account_id}&id[]=$bob->{account_id}")->status_is(200)
  ->json_is('/0/username', 'bob')->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=pend', $h)->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/accounts/lookup?acct=alice@')->status_is(404);

# suspended accounts show almost nothing
$m->get_ok("/api/v1/accounts/$suspended->{account_id}")->status_is(200)
  ->json_is('/suspended', Mojo::JSON::true)
  ->json_is('/display_name', '')
  ->json_is('/fields', []);

# --- ?id[]= ------------------------------------------------------------------------
$m->get_ok("/api/v1/accounts?id[]=$bob->{account_id}&id[]=999999&id[]=$alice->{account_id}&id[]=x")
  ->status_is(200)
  ->json_is('/0/username', 'bob')
  ->json_is('/1/username', 'alice')
  ->json_hasnt('/2');
$m->get_ok('/api/v1/accounts')->status_is(200)->json_is('', []);

# --- lookup ------------------------------------------------------------------------
$m->get_ok('/api/v1/accounts/lookup?acct=ALICE')->status_is(200)->json_is('/id', $alice->{account_id});
$m->get_ok('/api/v1/accounts/lookup?acct=@alice')->status_is(200)->json_is('/id', $alice->{account_id});
$m->get_ok("/api/v1/accounts/lookup?acct=alice\@$domain")->status_is(200)->json_is('/id', $alice->{account_id});
$m->get_ok('/api/v1/accounts/lookup?acct=carol@REMOTE.example')->status_is(200)->json_is('/id', $carol);
$m->get_ok('/api/v1/accounts/lookup?acct=carol')->status_is(404);
$m->get_ok('/api/v1/accounts/lookup?acct=nobody')->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok('/api/v1/accounts/lookup')->status_is(400)->json_has('/error');

# --- search ------------------------------------------------------------------------
$t->user('alicia', display_name => 'Alicia Keys');
$t->user('bobby', display_name => 'Robert Alison');
$t->user('al_x');
$m->get_ok('/api/v1/accounts/search?q=alice', $h)->status_is(200)->json_is('/0/username', 'alice')->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=ali', $h)->status_is(200);
my @names = map { $_->{username} } @{ $m->tx->res->json };
is_deeply([sort @names], [qw(alice alicia bobby)], 'prefix of a username or of a word of the display name');
$m->get_ok('/api/v1/accounts/search?q=@ALICIA', $h)->status_is(200)->json_is('/0/username', 'alicia');
$m->get_ok('/api/v1/accounts/search?q=al_', $h)->status_is(200)->json_is('/0/username', 'al_x')->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=%25', $h)->status_is(200)->json_is('', [], 'LIKE wildcards are literal');
$m->get_ok('/api/v1/accounts/search?q=carol@remote.example', $h)->status_is(200)->json_is('/0/acct', 'carol@remote.example');
$m->get_ok("/api/v1/accounts/search?q=alice\@$domain", $h)->status_is(200)->json_is('/0/acct', 'alice');
$m->get_ok('/api/v1/accounts/search?q=ali&limit=1', $h)->status_is(200)->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=ali&limit=1&offset=1', $h)->status_is(200)->json_has('/0');
$m->get_ok('/api/v1/accounts/search?q=', $h)->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/accounts/search?q=suspended', $h)->status_is(200)->json_is('', [], 'suspended accounts are not found');
$t->psql("INSERT INTO follows (account_id, target_account_id) SELECT $alice->{account_id}, id FROM accounts WHERE username = 'alicia'");
$m->get_ok('/api/v1/accounts/search?q=ali&following=true', $h)->status_is(200)
  ->json_is('/0/username', 'alicia')->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=ali')->status_is(401);

# --- preferences -------------------------------------------------------------------
$t->psql(qq{UPDATE users SET settings = '{"default_privacy":"unlisted","default_sensitive":true,"default_language":"de"}'
    WHERE id = $alice->{user_id}});
$m->get_ok('/api/v1/preferences', $h)->status_is(200)
  ->json_is('/posting:default:visibility', 'unlisted')
  ->json_is('/posting:default:sensitive', Mojo::JSON::true)
  ->json_is('/posting:default:language', 'de')
  ->json_is('/reading:expand:media', 'default')
  ->json_is('/reading:expand:spoilers', Mojo::JSON::false);
@e = entity_errors($m->tx->res->json, 'Preferences');
is_deeply(\@e, [], 'Preferences matches the documented entity') or diag explain \@e;
$m->get_ok('/api/v1/accounts/verify_credentials', $h)->status_is(200)
  ->json_is('/source/privacy', 'unlisted')->json_is('/source/language', 'de');
$m->get_ok('/api/v1/preferences')->status_is(401);

$t->done;
