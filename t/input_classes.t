# Classes of input refused, ignored or answered as Mastodon does (issue 8):
# path parameters that are not UTF-8 or not ids, enum-like parameters of the
# wrong type, unbounded app scopes, negative mute durations, marker ids that
# are not numbers, a doubled Idempotency-Key; and the answers real clients
# compare: the reblog's flags, fields_attributes as a plain string, and
# extended_description without a description.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});
my $hc = $t->bearer($carol->{token});

sub post_status {
    my ($h, %o) = @_;
    $m->post_ok('/api/v1/statuses', $h, json => { status => 'hello', %o })->status_is(200);
    return $m->tx->res->json->{id};
}

my $pub = post_status($ha, visibility => 'public');

# --- path parameters: not UTF-8 is 400 for every route, before any backend ---------------------
my @not_utf8 = ('%FF', '%C3%28', '%C0%AF', '%ED%A0%80', '%F4%90%80%80', '%E2%82', 'caf%E9', '%80abc');
my @routes = (
    [ get  => '/api/v1/timelines/tag/%s' ],
    [ get  => '/api/v1/statuses/%s' ],
    [ get  => '/api/v1/accounts/%s' ],
    [ get  => '/api/v1/accounts/%s/statuses' ],
    [ get  => '/api/v2/notifications/%s' ],
    [ post => '/api/v1/statuses/%s/favourite' ],
    [ post => '/api/v1/follow_requests/%s/authorize' ],
);
for my $bad (@not_utf8) {
    for my $r (@routes) {
        my ($method, $path) = @$r;
        my $url = sprintf $path, $bad;
        my $call = "${method}_ok";
        $m->$call($url, $ha)->status_is(400, "$method $url: 400")
          ->content_type_is('application/json; charset=utf-8')
          ->json_like('/error', qr/^Invalid path parameters: Invalid encoding/);
    }
}
$m->get_ok('/api/v1/timelines/tag/%FF')->status_is(400, 'anonymous too');
unlike($t->error_log, qr/\[error\]/, 'no [error] line: nothing reached PostgreSQL');
like($t->error_log, qr/\[info\].*invalid path parameter/, 'logged at info, a client mistake');

# valid UTF-8 still reaches the endpoint
$m->get_ok('/api/v1/timelines/tag/caf%C3%A9')->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/timelines/tag/%E6%97%A5%E6%9C%AC')->status_is(200);

# --- path ids that are not numbers: 404, as ActiveRecord's find ---------------------------------
my @not_ids = ('abc', "${pub}abc", '12abc', '-1', '0', '0x10', '1e3', '%2B5', '%205', '5%20',
               '99999999999999999999', '9223372036854775808', '1.0', '%E2%91%A0');
my @id_routes = (
    [ get    => '/api/v1/statuses/%s' ],
    [ get    => '/api/v1/statuses/%s/context' ],
    [ get    => '/api/v1/statuses/%s/favourited_by' ],
    [ delete => '/api/v1/statuses/%s' ],
    [ post   => '/api/v1/statuses/%s/reblog' ],
    [ post   => '/api/v1/statuses/%s/bookmark' ],
    [ get    => '/api/v1/accounts/%s' ],
    [ get    => '/api/v1/accounts/%s/statuses' ],
    [ get    => '/api/v1/accounts/%s/followers' ],
    [ post   => '/api/v1/accounts/%s/follow' ],
    [ post   => '/api/v1/accounts/%s/mute' ],
    [ post   => '/api/v1/follow_requests/%s/authorize' ],
    [ get    => '/api/v1/notifications/%s' ],
    [ post   => '/api/v1/notifications/%s/dismiss' ],
);
for my $id (@not_ids) {
    for my $r (@id_routes) {
        my ($method, $path) = @$r;
        my $url = sprintf $path, $id;
        my $call = "${method}_ok";
        $m->$call($url, $ha)->status_is(404, "$method $url: 404")->json_is('/error', 'Record not found');
    }
}
unlike($t->error_log, qr/\[error\]/, 'still no [error] line');

# --- the reblog answers with the original's flags: reblogged true -------------------------------
$m->post_ok("/api/v1/statuses/$pub/favourite", $hb)->status_is(200);
$m->post_ok("/api/v1/statuses/$pub/bookmark", $hb)->status_is(200);
$m->post_ok("/api/v1/statuses/$pub/reblog", $hb)->status_is(200)
  ->json_is('/reblog/id', $pub)
  ->json_is('/reblogged', true)->json_is('/favourited', true)->json_is('/bookmarked', true)
  ->json_is('/muted', false)->json_hasnt('/pinned')
  ->json_is('/reblog/reblogged', true)->json_is('/reblog/favourited', true);
my $rb = $m->tx->res->json->{id};
$m->post_ok("/api/v1/statuses/$pub/reblog", $hb)->status_is(200, 'twice: the same reblog')
  ->json_is('/id', $rb)->json_is('/reblogged', true);
$m->post_ok("/api/v1/statuses/$pub/reblog", $hc, json => { visibility => 'unlisted' })->status_is(200)
  ->json_is('/reblogged', true)->json_is('/favourited', false)->json_is('/bookmarked', false)
  ->json_is('/visibility', 'unlisted');

# --- visibility of the wrong type or unknown: 422, nothing posted, never widened -------------------
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { 'source[privacy]' => 'private' })
  ->status_is(200);
my $count = $t->psql('SELECT count(*) FROM statuses');
my @bad_visibility = ([], ['public'], ['direct'], {}, { a => 'direct' }, true, false, '', 'PUBLIC',
                      'public ', 'limited', 'everyone', 0, 3);
for my $v (@bad_visibility) {
    my $what = Mojo::JSON::encode_json([$v]);
    $m->post_ok('/api/v1/statuses', $ha, json => { status => 'x', visibility => $v })
      ->status_is(422, "visibility $what")
      ->json_is('/error', 'Validation failed: Visibility is not included in the list');
}
for my $form ({ 'visibility[]' => 'direct' }, { 'visibility[a]' => 'private' }, { visibility => '' }) {
    $m->post_ok('/api/v1/statuses', $ha, form => { status => 'x', %$form })
      ->status_is(422, 'form ' . join(',', %$form));
}
is($t->psql('SELECT count(*) FROM statuses'), $count, 'nothing was posted');
# null and absent are the user's default (private here), never public
$m->post_ok('/api/v1/statuses', $ha, json => { status => 'x', visibility => undef })->status_is(200)
  ->json_is('/visibility', 'private');
$m->post_ok('/api/v1/statuses', $ha, json => { status => 'x' })->status_is(200)
  ->json_is('/visibility', 'private');

# the reblog's visibility: the same class
my $pub2 = post_status($hb, visibility => 'public');
for my $v ([], ['public'], {}, true, false, 'everyone') {
    my $what = Mojo::JSON::encode_json([$v]);
    $m->post_ok("/api/v1/statuses/$pub2/reblog", $ha, json => { visibility => $v })
      ->status_is(422, "reblog visibility $what");
}
is($t->psql("SELECT count(*) FROM statuses WHERE reblog_of_id = $pub2"), 0, 'no reblog made');

# source[privacy]: an unknown value or a boolean is 422; an array is dropped by
# strong parameters (as in Mastodon) and the default stays what it was
for my $v ('everyone', 'direct', true, false) {
    my $what = Mojo::JSON::encode_json([$v]);
    $m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { source => { privacy => $v } })
      ->status_is(422, "source[privacy] $what")->json_like('/error', qr/privacy is not included in the list/);
}
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { source => { privacy => ['public'] } })
  ->status_is(200)->json_is('/source/privacy', 'private');
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { source => 'public' })
  ->status_is(200)->json_is('/source/privacy', 'private');

# --- fields_attributes: a scalar is dropped by strong parameters, 200 ------------------------------
$m->patch_ok('/api/v1/accounts/update_credentials', $ha,
    json => { fields_attributes => [ { name => 'Site', value => 'https://a.example' } ] })
  ->status_is(200)->json_is('/fields/0/name', 'Site');
for my $v ('plain string', '', 42, true) {
    my $what = Mojo::JSON::encode_json([$v]);
    $m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { fields_attributes => $v })
      ->status_is(200, "fields_attributes $what")
      ->json_is('/fields/0/name', 'Site')->json_hasnt('/fields/1');
}
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { fields_attributes => 'x', note => 'n' })
  ->status_is(200, 'form: a plain string')->json_is('/fields/0/name', 'Site')->json_is('/source/note', 'n');

# --- booleans as ActiveModel::Type::Boolean casts them ---------------------------------------------
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { bot => 'False' })->status_is(200)
  ->json_is('/bot', true, '"False" is true in Rails');
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { bot => 'FALSE' })->status_is(200)
  ->json_is('/bot', false);
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { bot => 1 })->status_is(200)
  ->json_is('/bot', true);
$m->patch_ok('/api/v1/accounts/update_credentials', $ha, json => { bot => 0 })->status_is(200)
  ->json_is('/bot', false, 'a JSON 0 is false');

# --- extended_description without a description: updated_at null, content '' --------------------
$m->get_ok('/api/v1/instance/extended_description')->status_is(200)
  ->json_is('/updated_at', undef)->json_is('/content', '');

# --- app scopes: de-duplicated and normalized as Doorkeeper's Scopes.from_string -----------------
my $oob = 'urn:ietf:wg:oauth:2.0:oob';
$m->post_ok('/api/v1/apps', json => { client_name => 'x', redirect_uris => $oob, scopes => 'read ' x 50000 })
  ->status_is(200)->json_is('/scopes', ['read']);
$m->post_ok('/api/v1/apps', json => { client_name => 'y', redirect_uris => $oob,
    scopes => "read\twrite\nread  write:statuses\r\nwrite follow read" })
  ->status_is(200)->json_is('/scopes', [qw(read write write:statuses follow)]);
is($t->psql(q{SELECT scopes FROM oauth_applications WHERE name = 'y'}), 'read write write:statuses follow',
   'stored normalized');
is($t->psql(q{SELECT max(length(scopes)) FROM oauth_applications}), length('read write write:statuses follow'),
   'nothing unbounded stored');
$count = $t->psql('SELECT count(*) FROM oauth_applications');
for my $s ('read ' x 1000 . 'nope', "read\x{0}", 'read:nothing', join(' ', map { "x$_" } 1 .. 20000), " \t ") {
    $m->post_ok('/api/v1/apps', json => { client_name => 'z', redirect_uris => $oob, scopes => $s })
      ->status_is($s =~ /\x{0}/ ? 400 : 422)->json_like('/error', $s =~ /\x{0}/ ? qr/./ : qr/Scopes doesn't match/);
}
is($t->psql('SELECT count(*) FROM oauth_applications'), $count, 'no app from refused scopes');

# --- a negative mute duration is an expiry in the past, never permanent ---------------------------
for my $d (-3600, '-1', ' -60', '-5abc') {
    $m->post_ok("/api/v1/accounts/$carol->{account_id}/mute", $ha, form => { duration => $d })->status_is(200)
      ->json_is('/muting', false, "duration '$d': already over");
    is($t->psql("SELECT expires_at IS NOT NULL AND expires_at < now() AT TIME ZONE 'UTC' FROM mutes"
        . " WHERE account_id = $alice->{account_id} AND target_account_id = $carol->{account_id}"), 't',
        "duration '$d': expires_at in the past");
}
$m->post_ok("/api/v1/accounts/$carol->{account_id}/mute", $ha, form => { duration => '+60' })->status_is(200)
  ->json_is('/muting', true)->json_like('/muting_expires_at', qr/^\d{4}-/);
$m->post_ok("/api/v1/accounts/$carol->{account_id}/mute", $ha, form => { duration => '-0' })->status_is(200)
  ->json_is('/muting', true)->json_is('/muting_expires_at', undef, '-0 is 0: for ever');

# --- marker ids that are not numbers: 422, the marker unchanged ------------------------------------
$m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => '100' })->status_is(200)
  ->json_is('/home/last_read_id', '100');
for my $v ('abc', '12abc', ' 12', '-5', '1_000', '0x10', '1e3', "\x{0661}") {
    $m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => $v })
      ->status_is(422, "form '$v'")->json_is('/error', 'Validation failed: Last read is not a number');
}
for my $v (true, false, 42.9, -1, 1.5) {
    my $what = Mojo::JSON::encode_json([$v]);
    $m->post_ok('/api/v1/markers', $ha, json => { home => { last_read_id => $v } })
      ->status_is(422, "json $what")->json_is('/error', 'Validation failed: Last read is not a number');
}
$m->get_ok('/api/v1/markers?timeline[]=home', $ha)->json_is('/home/last_read_id', '100')
  ->json_is('/home/version', 1, 'unchanged');
$m->post_ok('/api/v1/markers', $ha, json => { home => { last_read_id => 105 } })->status_is(200)
  ->json_is('/home/last_read_id', '105', 'a JSON integer is an id');

# --- Idempotency-Key given twice: 400, nothing posted ---------------------------------------------
$count = $t->psql('SELECT count(*) FROM statuses');
for my $keys ([qw(a b)], [qw(a a)], ['a', '']) {
    my $tx = $t->ua->build_tx(POST => '/api/v1/statuses' => $ha => json => { status => 'twice' });
    $tx->req->headers->add('Idempotency-Key' => $_) for @$keys;
    $t->ua->start($tx);
    is($tx->res->code, 400, "Idempotency-Key @$keys: 400");
    is($tx->res->json->{error}, 'Idempotency-Key must be given once', 'the error');
}
is($t->psql('SELECT count(*) FROM statuses'), $count, 'nothing was posted');
$m->post_ok('/api/v1/statuses', { %$ha, 'Idempotency-Key' => 'once' }, json => { status => 'once' })
  ->status_is(200);
my $once = $m->tx->res->json->{id};
$m->post_ok('/api/v1/statuses', { %$ha, 'Idempotency-Key' => 'once' }, json => { status => 'once' })
  ->status_is(200)->json_is('/id', $once, 'one key still works');

unlike($t->error_log, qr/\[error\]/, 'no [error] line in the whole run');

$t->done;
