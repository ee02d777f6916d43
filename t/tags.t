# Hashtags as Mastodon 4 serves them: GET /api/v1/tags/:id (the Tag entity
# with history, following and featuring), follow and unfollow, GET
# /api/v1/followed_tags (pagination), a followed tag's public statuses in the
# follower's home feed through the worker's fan-out (blocks and mutes as the
# home rule has them), featured tags (GET/POST/DELETE /api/v1/featured_tags,
# POST /api/v1/tags/:id/feature and /unfeature,
# suggestions, GET /api/v1/accounts/:id/featured_tags).

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new;
my $ua = $t->ua;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
sub h { $t->bearer($u{ $_[0] }{token}) }
my %id = map { $_ => $t->psql("SELECT id FROM accounts WHERE username = '$_' AND domain IS NULL") } keys %u;
my $base = $t->public_base;

sub post { $ua->post('/api/v1/statuses' => h($_[0]) => json => $_[1])->res->json }
sub home { [ map { $_->{id} } @{ $ua->get('/api/v1/timelines/home' => h($_[0]))->res->json } ] }

# the readers' home feeds are active (the fan-out writes only those)
home($_) for qw(alice bob carol dave);

# --- the Tag entity ---------------------------------------------------------------------
my $s1 = post('alice', { status => 'hello #Cats' });
my $res = $ua->get('/api/v1/tags/cats' => h('bob'))->res;
is($res->code, 200, 'GET /api/v1/tags/:id');
my $tag = $res->json;
is_deeply([ entity_errors($tag, 'Tag') ], [], 'the Tag entity');
is($tag->{name}, 'Cats', 'name: as first written');
is($tag->{url}, "$base/tags/cats", 'url');
is($tag->{following}, false, 'not followed');
is($tag->{featuring}, false, 'not featured');
is(scalar @{ $tag->{history} }, 7, 'a week of history');
is($tag->{history}[0]{uses}, '1', 'today: one use');
is($tag->{history}[0]{accounts}, '1', 'by one account');
like($tag->{history}[0]{day}, qr/^\d+$/, 'day: a Unix time');
is($tag->{history}[0]{day} % 86400, 0, 'midnight');
is($tag->{history}[1]{uses}, '0', 'yesterday: none');
my $anon = $ua->get('/api/v1/tags/CATS')->res->json;
is($anon->{id}, $tag->{id}, 'any case: the same tag');
ok(!exists $anon->{following}, 'no following without a user');
my $new = $ua->get('/api/v1/tags/neverused')->res;
is($new->code, 200, 'a tag never used');
is($new->json->{name}, 'neverused', 'named as asked');
is($new->json->{id}, '', 'no id yet');
is($ua->get('/api/v1/tags/bad-name')->res->code, 404, 'not a tag name: 404');
is($ua->get('/api/v1/tags/1234')->res->code, 404, 'only digits: 404');

# --- follow -----------------------------------------------------------------------------
$res = $ua->post('/api/v1/tags/cats/follow' => h('bob'))->res;
is($res->code, 200, 'follow');
is($res->json->{following}, true, 'following');
is($ua->post('/api/v1/tags/cats/follow' => h('bob'))->res->code, 200, 'again: fine');
is($t->psql("SELECT count(*) FROM tag_follows WHERE account_id = $id{bob}"), 1, 'once');
is($ua->post('/api/v1/tags/cats/follow')->res->code, 401, 'no token: 401');
$res = $ua->post('/api/v1/tags/Dogs/follow' => h('bob'))->res;
is($res->json->{following}, true, 'a new tag followed');
ok($res->json->{id}, 'made');
is($ua->post('/api/v1/tags/cats/follow' => h('carol'))->res->json->{following}, true, 'carol follows it too');
is($ua->post('/api/v1/tags/cats/follow' => h('dave'))->res->json->{following}, true, 'dave too');

# a followed tag reaches the home feed of who does not follow the author
my $s2 = post('alice', { status => 'more #cats' });
ok($t->wait_for(sub { grep { $_ eq $s2->{id} } @{ home('bob') } }), "in bob's home feed");
ok($t->wait_for(sub { grep { $_ eq $s2->{id} } @{ home('carol') } }), "in carol's");
my $priv = post('alice', { status => 'private #cats', visibility => 'unlisted' });
my $other = post('alice', { status => 'about #birds' });
# blocks and mutes as the home rule: dave mutes alice, carol blocks her
$ua->post("/api/v1/accounts/$id{alice}/mute" => h('dave'));
$ua->post("/api/v1/accounts/$id{alice}/block" => h('carol'));
my $s3 = post('alice', { status => 'even more #cats' });
my $s4 = post('bob', { status => 'bob on #cats' });
ok($t->wait_for(sub { grep { $_ eq $s4->{id} } @{ home('dave') } }), "bob's reaches dave");
ok($t->wait_for(sub { grep { $_ eq $s3->{id} } @{ home('bob') } }), 'and bob gets the next');
my %bob = map { $_ => 1 } @{ home('bob') };
ok(!$bob{ $priv->{id} }, 'not an unlisted status');
ok(!$bob{ $other->{id} }, 'nor another tag');
ok(!grep({ $_ eq $s3->{id} } @{ home('dave') }), 'not to dave, who mutes the author');
ok(!grep({ $_ eq $s3->{id} } @{ home('carol') }), 'not to carol, who blocks the author');

# --- followed_tags ----------------------------------------------------------------------
$ua->post("/api/v1/tags/tag$_/follow" => h('alice')) for 1 .. 3;
my $tx = $ua->get('/api/v1/followed_tags?limit=2' => h('alice'));
is($tx->res->code, 200, 'GET followed_tags');
is_deeply([ map { $_->{name} } @{ $tx->res->json } ], [qw(tag3 tag2)], 'newest follow first');
is_deeply([ entity_errors($_, 'Tag') ], [], "a Tag: $_->{name}") for @{ $tx->res->json };
ok((grep { $_->{following} } @{ $tx->res->json }) == 2, 'following: true');
my $links = $t->links($tx);
ok($links->{next} && $links->{prev}, 'Link next and prev');
my $next = $ua->get($t->path_of($links->{next}) => h('alice'))->res->json;
is_deeply([ map { $_->{name} } @$next ], ['tag1'], 'the next page');

# --- unfollow ---------------------------------------------------------------------------
# what came through the tag leaves bob's home feed (TagUnmergeWorker); what came
# otherwise stays: his own, a followed account's, one with another followed tag
is($ua->post("/api/v1/accounts/$id{dave}/follow" => h('bob'))->res->code, 200, 'bob follows dave');
my $fromdave = post('dave', { status => 'dave on #cats' });
my $both = post('carol', { status => '#cats and #dogs' });
ok($t->wait_for(sub { my %h = map { $_ => 1 } @{ home('bob') }; $h{ $fromdave->{id} } && $h{ $both->{id} } }),
   'a followed account\'s and a two-tag status in bob\'s home feed');
$res = $ua->post('/api/v1/tags/cats/unfollow' => h('bob'))->res;
is($res->code, 200, 'unfollow');
is($res->json->{following}, false, 'no longer');
ok($t->wait_for(sub { !grep { $_ eq $s2->{id} } @{ home('bob') } }), 'what came through the tag leaves the home feed');
%bob = map { $_ => 1 } @{ home('bob') };
ok(!$bob{ $s3->{id} }, 'all of it');
ok($bob{ $s4->{id} }, 'his own status stays');
ok($bob{ $fromdave->{id} }, 'a followed account\'s stays');
ok($bob{ $both->{id} }, 'one with a tag still followed stays');
is($ua->post('/api/v1/tags/cats/unfollow' => h('bob'))->res->code, 200, 'unfollow again: fine');
is($ua->post('/api/v1/tags/cats/follow' => h('bob'))->res->json->{following}, true, 'following again');
is($ua->post('/api/v1/tags/cats/follow' => h('bob'))->res->json->{following}, true,
   'already followed: 200 with the tag (find_or_create_by!)');
$ua->post('/api/v1/tags/cats/unfollow' => h('bob'));
my $s5 = post('alice', { status => 'last #cats' });
my $s6 = post('alice', { status => '#dogs too' });
ok($t->wait_for(sub { grep { $_ eq $s6->{id} } @{ home('bob') } }), 'the tag still followed still comes');
ok(!grep({ $_ eq $s5->{id} } @{ home('bob') }), 'the unfollowed one does not');

# --- featured tags ----------------------------------------------------------------------
$res = $ua->post('/api/v1/featured_tags' => h('alice') => form => { name => 'cats' })->res;
is($res->code, 200, 'POST featured_tags') or diag $res->body;
my $ft = $res->json;
is_deeply([ entity_errors($ft, 'FeaturedTag') ], [], 'the FeaturedTag entity');
is($ft->{name}, 'Cats', 'name');
is($ft->{url}, "$base/\@alice/tagged/cats", 'url');
is($ft->{statuses_count}, '5', "statuses_count: alice's public and unlisted ones, a string");
like($ft->{last_status_at}, qr/^\d{4}-\d\d-\d\d$/, 'last_status_at: a date');
is($ua->post('/api/v1/featured_tags' => h('alice') => form => { name => '#cats' })->res->json->{id},
   $ft->{id}, 'again: the same one');
is($ua->post('/api/v1/featured_tags' => h('alice') => form => { name => 'no way' })->res->code, 422,
   'not a tag name: 422');
is($ua->post('/api/v1/featured_tags' => h('alice') => form => {})->res->code, 422, 'no name: 422');
is($ua->get('/api/v1/tags/cats' => h('alice'))->res->json->{featuring}, true, 'featuring');

is_deeply([ map { $_->{id} } @{ $ua->get('/api/v1/featured_tags' => h('alice'))->res->json } ],
          [ $ft->{id} ], 'GET featured_tags');
my $pub = $ua->get("/api/v1/accounts/$id{alice}/featured_tags")->res;
is($pub->code, 200, "an account's featured tags, without a token");
is_deeply($pub->json, [ $ft ], 'the same entities');
is_deeply($ua->get("/api/v1/accounts/$id{bob}/featured_tags")->res->json, [], 'none');
$res = $ua->get('/api/v1/accounts/999999999/featured_tags')->res;
is($res->code, 404, 'an unknown account: 404 (Account.find)');
is($res->json->{error}, 'Record not found', 'as Mastodon words it');

my $sug = $ua->get('/api/v1/featured_tags/suggestions' => h('alice'))->res;
is($sug->code, 200, 'suggestions');
is_deeply([ map { $_->{name} } @{ $sug->json } ], [qw(Dogs birds)], 'used tags not featured, the latest first')
    or diag explain $sug->json;
is_deeply([ entity_errors($_, 'Tag') ], [], 'Tag entities') for @{ $sug->json };

$ua->post('/api/v1/featured_tags' => h('bob') => form => { name => "f$_" }) for 1 .. 10;
$res = $ua->post('/api/v1/featured_tags' => h('bob') => form => { name => 'f11' })->res;
is($res->code, 422, 'the eleventh: 422');
is($res->json->{error}, 'Validation failed: You have already featured the maximum number of hashtags',
   'the limit');

is($ua->delete("/api/v1/featured_tags/$ft->{id}" => h('bob'))->res->code, 404, "DELETE another's: 404");
$res = $ua->delete("/api/v1/featured_tags/$ft->{id}" => h('alice'))->res;
is($res->code, 200, 'DELETE');
is_deeply($res->json, {}, '{}');
is_deeply($ua->get('/api/v1/featured_tags' => h('alice'))->res->json, [], 'gone');

# POST /api/v1/tags/:id/feature and /unfeature (4.4): the Tag back
$res = $ua->post('/api/v1/tags/Birds/feature' => h('alice'))->res;
is($res->code, 200, 'feature') or diag $res->body;
is_deeply([ entity_errors($res->json, 'Tag') ], [], 'the Tag entity');
is($res->json->{featuring}, true, 'featuring');
is_deeply([ map { $_->{name} } @{ $ua->get('/api/v1/featured_tags' => h('alice'))->res->json } ], [ 'birds' ],
          'a featured tag, as POST featured_tags makes it');
is($ua->post('/api/v1/tags/birds/feature' => h('alice'))->res->code, 200, 'again: 200');
is(scalar @{ $ua->get('/api/v1/featured_tags' => h('alice'))->res->json }, 1, '... still one');
$res = $ua->post('/api/v1/tags/newtag/feature' => h('alice'))->res;
is($res->json->{featuring}, true, 'a tag not yet used: made and featured');
$res = $ua->post('/api/v1/tags/f11/feature' => h('bob'))->res;
is($res->code, 422, 'over the limit: 422');
is($res->json->{error}, 'Validation failed: You have already featured the maximum number of hashtags', 'the limit');
$res = $ua->post('/api/v1/tags/birds/unfeature' => h('alice'))->res;
is($res->code, 200, 'unfeature');
is($res->json->{featuring}, false, 'not featuring');
is_deeply([ map { $_->{name} } @{ $ua->get('/api/v1/featured_tags' => h('alice'))->res->json } ], [ 'newtag' ],
          'the featured tag gone');
is($ua->post('/api/v1/tags/birds/unfeature' => h('alice'))->res->code, 200, 'again: 200');
is($ua->post('/api/v1/tags/birds/feature')->res->code, 401, 'no token: 401');
my $ro = $t->bearer($t->token(user_id => $u{alice}{user_id}, scopes => 'read write:follows'));
is($ua->post('/api/v1/tags/birds/feature' => $ro)->res->code, 403, 'write:accounts needed');

$t->done;
