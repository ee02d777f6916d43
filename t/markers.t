# Timeline markers: GET and POST /api/v1/markers (Api::V1::MarkersController),
# their Marker entities, versions, last_read_id as an id (digits only),
# scopes, and users kept apart.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use Mojo::Promise;
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});

my $ISO = qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

sub markers_ok {
    my ($json, $what) = @_;
    for my $k (sort keys %$json) {
        my @e = entity_errors($json->{$k}, 'Marker');
        is_deeply(\@e, [], "$what: $k is a Marker") or diag explain \@e;
        like($json->{$k}{updated_at}, $ISO, "$what: $k updated_at in ISO 8601 with ms");
    }
}

sub row {
    my ($user, $timeline) = @_;
    return $t->psql("SELECT last_read_id || ' ' || lock_version FROM markers"
        . " WHERE user_id = $user->{user_id} AND timeline = '$timeline'");
}

# --- nothing yet ---------------------------------------------------------------------------------
$m->get_ok('/api/v1/markers?timeline[]=home&timeline[]=notifications', $ha)->status_is(200)
  ->json_is('' => {});
$m->get_ok('/api/v1/markers', $ha)->status_is(200)->json_is('' => {}, 'no timeline asked: {}');

# --- POST as a form: created at version 1 ------------------------------------------------------
$m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => '103194548672408537' })
  ->status_is(200)
  ->json_is('/home/last_read_id', '103194548672408537')
  ->json_is('/home/version', 1)
  ->json_hasnt('/notifications');
markers_ok($m->tx->res->json, 'form POST');
is(scalar keys %{ $m->tx->res->json }, 1, 'only the timeline posted');
is(row($alice, 'home'), '103194548672408537 1', 'stored');
my $first_updated = $m->tx->res->json->{home}{updated_at};

# the same value again: no update, the version stays (Rails saves no unchanged record)
$m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => '103194548672408537' })
  ->status_is(200)->json_is('/home/version', 1)->json_is('/home/updated_at', $first_updated);

# --- POST as JSON: both timelines; the version goes up by one per change ---------------------
$m->post_ok('/api/v1/markers', $ha, json => {
    home => { last_read_id => '103194548672408600' },
    notifications => { last_read_id => '35098814' } })
  ->status_is(200)
  ->json_is('/home/last_read_id', '103194548672408600')->json_is('/home/version', 2)
  ->json_is('/notifications/last_read_id', '35098814')->json_is('/notifications/version', 1);
markers_ok($m->tx->res->json, 'JSON POST');
is_deeply([sort keys %{ $m->tx->res->json }], ['home', 'notifications'], 'both markers answered');

# a JSON number is taken as well
$m->post_ok('/api/v1/markers', $ha, json => { notifications => { last_read_id => 35098815 } })
  ->status_is(200)->json_is('/notifications/last_read_id', '35098815')
  ->json_is('/notifications/version', 2);

# --- GET: the requested existing ones only --------------------------------------------------------
$m->get_ok('/api/v1/markers?timeline[]=home&timeline[]=notifications', $ha)->status_is(200)
  ->json_is('/home/last_read_id', '103194548672408600')->json_is('/home/version', 2)
  ->json_is('/notifications/last_read_id', '35098815')->json_is('/notifications/version', 2);
markers_ok($m->tx->res->json, 'GET');
$m->get_ok('/api/v1/markers?timeline[]=notifications', $ha)->status_is(200)
  ->json_has('/notifications')->json_hasnt('/home');
$m->get_ok('/api/v1/markers?timeline=home', $ha)->status_is(200)
  ->json_has('/home')->json_hasnt('/notifications', 'timeline=home as Array(params[:timeline])');
$m->get_ok('/api/v1/markers?timeline[]=public&timeline[]=home&timeline[]=home', $ha)->status_is(200)
  ->json_is('' => { home => $m->tx->res->json->{home} }, 'unknown timelines ignored, duplicates once');
$m->get_ok('/api/v1/markers?timeline[]=public', $ha)->status_is(200)->json_is('' => {});

# --- unknown timelines and malformed values in POST --------------------------------------------
$m->post_ok('/api/v1/markers', $ha, form => { 'public[last_read_id]' => '5' })->status_is(200)
  ->json_is('' => {}, 'an unknown timeline is not permitted');
$m->post_ok('/api/v1/markers', $ha, form => { home => '5' })->status_is(200)
  ->json_is('' => {}, 'home not a hash: not permitted');
$m->post_ok('/api/v1/markers', $ha, json => {})->status_is(200)->json_is('' => {});
is($t->psql("SELECT count(*) FROM markers WHERE user_id = $alice->{user_id}"), 2, 'no marker added');

# a blank last_read_id fails Marker's presence validation
$m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => '' })->status_is(422)
  ->json_is('/error', "Validation failed: Last read can't be blank");
$m->post_ok('/api/v1/markers', $ha, json => { home => { last_read_id => undef } })->status_is(422)
  ->json_is('/error', "Validation failed: Last read can't be blank");
$m->post_ok('/api/v1/markers', $ha, form => { 'home[last_read_id]' => '  ' })->status_is(422);
is(row($alice, 'home'), '103194548672408600 2', 'nothing changed by the refused updates');

# an id is decimal digits: what Rails would cast ("12abc" 12, "abc" 0, true 1,
# 42.9 42) is refused, and the marker stays where it was
my $carol = $t->user('carol');
my $hc = $t->bearer($carol->{token});
$m->post_ok('/api/v1/markers', $hc, form => { 'home[last_read_id]' => '12' })->status_is(200)
  ->json_is('/home/last_read_id', '12')->json_is('/home/version', 1);
for my $v (' 12abc', 'abc', '1_000') {
    $m->post_ok('/api/v1/markers', $hc, form => { 'home[last_read_id]' => $v })->status_is(422)
      ->json_is('/error', 'Validation failed: Last read is not a number');
}
$m->post_ok('/api/v1/markers', $hc, json => { home => { last_read_id => 42.9 } })->status_is(422);
$m->post_ok('/api/v1/markers', $hc, json => { home => { last_read_id => true } })->status_is(422);
$m->post_ok('/api/v1/markers', $hc, json => { home => { last_read_id => 1000 } })->status_is(200)
  ->json_is('/home/last_read_id', '1000');
$m->post_ok('/api/v1/markers', $hc, json => { home => { last_read_id => 42 } })->status_is(200)
  ->json_is('/home/last_read_id', '42');
$m->post_ok('/api/v1/markers', $hc, form => { 'home[last_read_id]' => '1' })->status_is(200)
  ->json_is('/home/last_read_id', '1');
$m->post_ok('/api/v1/markers', $hc, form => { 'home[last_read_id]' => '9223372036854775807' })
  ->status_is(200)->json_is('/home/last_read_id', '9223372036854775807', 'the largest bigint');
$m->post_ok('/api/v1/markers', $hc, form => { 'home[last_read_id]' => '9223372036854775808' })
  ->status_is(422, 'beyond a bigint');
is(row($carol, 'home'), '9223372036854775807 5', 'four changes after the creation, none by the refused');

# home: {} creates the marker (find_or_create_by), last_read_id 0, version 0
$m->post_ok('/api/v1/markers', $hc, json => { notifications => {} })->status_is(200)
  ->json_is('/notifications/last_read_id', '0')->json_is('/notifications/version', 0);
markers_ok($m->tx->res->json, 'created empty');

# home is saved before notifications fails; the blank one is created, as in Mastodon
my $dave = $t->user('dave');
$m->post_ok('/api/v1/markers', $t->bearer($dave->{token}),
    form => { 'home[last_read_id]' => '7', 'notifications[last_read_id]' => '' })->status_is(422);
is(row($dave, 'home'), '7 1', 'home saved before the failure');
is(row($dave, 'notifications'), '0 0', 'notifications created by find_or_create_by');

# --- two users are kept apart ----------------------------------------------------------------------
$m->get_ok('/api/v1/markers?timeline[]=home&timeline[]=notifications', $hb)->status_is(200)
  ->json_is('' => {}, "bob does not see alice's markers");
$m->post_ok('/api/v1/markers', $hb, form => { 'home[last_read_id]' => '1' })->status_is(200)
  ->json_is('/home/last_read_id', '1')->json_is('/home/version', 1);
$m->get_ok('/api/v1/markers?timeline[]=home', $ha)->status_is(200)
  ->json_is('/home/last_read_id', '103194548672408600')->json_is('/home/version', 2);

# --- concurrent updates: none lost ---------------------------------------------------------------
my $eve = $t->user('eve');
my $he = $t->bearer($eve->{token});
my @p = map {
    my $i = $_;
    $t->ua->post_p('/api/v1/markers' => $he => form => { 'home[last_read_id]' => 1000 + $i })
} 1 .. 12;
my @codes;
Mojo::Promise->all(@p)->then(sub { @codes = map { $_->[0]->res->code } @_ })->wait;
is_deeply([sort { $a <=> $b } @codes], [(200) x 12], 'every concurrent update answered 200');
is((split / /, row($eve, 'home'))[1], 12, 'twelve changes, twelve versions');

# --- tokens and scopes -----------------------------------------------------------------------------
$m->get_ok('/api/v1/markers?timeline[]=home')->status_is(401);
$m->post_ok('/api/v1/markers', form => { 'home[last_read_id]' => '1' })->status_is(401);
my $app = $t->token(scopes => 'read write');
$m->get_ok('/api/v1/markers?timeline[]=home', $t->bearer($app))->status_is(422)
  ->json_is('/error', 'This method requires an authenticated user');
$m->post_ok('/api/v1/markers', $t->bearer($app), form => { 'home[last_read_id]' => '1' })->status_is(422);

my @cases = (
    'GET /api/v1/markers?timeline[]=home' => [['read:statuses', 'read'], ['write:statuses', 'read:notifications', 'follow']],
    'POST /api/v1/markers'                => [['write:statuses', 'write'], ['read:statuses', 'read', 'write:notifications']],
);
while (my ($req, $scopes) = splice @cases, 0, 2) {
    my ($method, $path) = split / /, $req;
    my ($ok, $refused) = @$scopes;
    for my $scope (@$ok) {
        my $tok = $t->token(user_id => $alice->{user_id}, scopes => $scope);
        my $tx = $t->ua->start($t->ua->build_tx($method => $path => $t->bearer($tok)));
        is($tx->res->code, 200, "$req with $scope") or diag $tx->res->body;
    }
    for my $scope (@$refused) {
        my $tok = $t->token(user_id => $alice->{user_id}, scopes => $scope);
        my $tx = $t->ua->start($t->ua->build_tx($method => $path => $t->bearer($tok)));
        is($tx->res->code, 403, "$req refused with $scope");
        is($tx->res->json->{error}, 'This action is outside the authorized scopes', "$req: Mastodon's message");
    }
}

$t->done;
