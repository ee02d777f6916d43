# Filters (issue 13): /api/v2/filters with keywords and statuses, Mastodon's
# validation errors, scopes, expiry (expired filters still listed), the
# entities' attributes, the v1 compatibility endpoints (one keyword as a
# filter), and the filters_changed event on timeline:<account_id>.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use POSIX ();
use lib 't/lib';
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;

my %u = map { $_ => $t->user($_) } qw(alice bob carol dave);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;

my $ro = $t->bearer($t->token(user_id => $u{alice}{user_id}, scopes => 'read:filters'));
my $wo = $t->bearer($t->token(user_id => $u{alice}{user_id}, scopes => 'write:filters'));
my $other = $t->bearer($t->token(user_id => $u{alice}{user_id}, scopes => 'read:lists write:lists'));

# --- what is published: a subscriber on alice's channel ---------------------------------
my $events = $t->dir . '/filter-events.txt';
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', $events or POSIX::_exit(1);
    { exec 'redis-cli', '-h', '127.0.0.1', '-p', $t->redis_port, '--raw', 'SUBSCRIBE', "timeline:$id{alice}" };
    POSIX::_exit(1);
}
ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', "timeline:$id{alice}") =~ /\n1\z/ }),
   'the subscriber listens');

sub changed_events {
    open my $fh, '<:raw', $events or return 0;
    my $n = () = do { local $/; <$fh> } =~ /^\{"event":"filters_changed"\}$/mg;
    return $n;
}

my $seen = 0;
sub published {
    my ($what) = @_;
    ok($t->wait_for(sub { changed_events() > $seen }), "$what: filters_changed on timeline:<id>");
    $seen = changed_events();
}

sub keys_of { [sort keys %{ $_[0] }] }

# --- scopes and authentication ---------------------------------------------------------------
$m->get_ok('/api/v2/filters')->status_is(401);
$m->get_ok('/api/v2/filters', $other)->status_is(403);
$m->get_ok('/api/v2/filters', $ro)->status_is(200)->json_is([]);
$m->post_ok('/api/v2/filters', $ro, form => { title => 'x', 'context[]' => 'home' })->status_is(403);
$m->get_ok('/api/v1/filters', $wo)->status_is(403);
$m->get_ok('/api/v1/filters', $ro)->status_is(200)->json_is([]);

# --- v2 CRUD ---------------------------------------------------------------------------------
$m->post_ok('/api/v2/filters', $wo, json => {
    title => 'Spoilers', context => ['home', 'public'], filter_action => 'hide',
    keywords_attributes => [{ keyword => 'ending', whole_word => false }, { keyword => 'Plot' }],
})->status_is(200)->json_is('/title' => 'Spoilers')->json_is('/context' => ['home', 'public'])
  ->json_is('/filter_action' => 'hide')->json_is('/expires_at' => undef)->json_like('/id' => qr/^\d+$/)
  ->json_is('/keywords/0/keyword' => 'ending')->json_is('/keywords/0/whole_word' => false)
  ->json_is('/keywords/1/keyword' => 'Plot')->json_is('/keywords/1/whole_word' => true)
  ->json_is('/statuses' => []);
my $f1 = $m->tx->res->json;
published('create');
is_deeply(keys_of($f1), [qw(context expires_at filter_action id keywords statuses title)],
          'the Filter entity: its attributes');
is_deeply(keys_of($f1->{keywords}[0]), [qw(id keyword whole_word)], 'the FilterKeyword entity');

# form encoding, nested attributes as Rails reads them
$m->post_ok('/api/v2/filters', $h{alice}, form => {
    title => 'Work', 'context[]' => ['notifications', ' thread ', ''], expires_in => 3600,
    'keywords_attributes[][keyword]' => 'meeting',
})->status_is(200)->json_is('/context' => ['notifications', 'thread'])->json_is('/filter_action' => 'warn')
  ->json_is('/keywords/0/keyword' => 'meeting')->json_like('/expires_at' => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
my $f2 = $m->tx->res->json;
published('create (form)');

$m->get_ok("/api/v2/filters/$f1->{id}", $h{alice})->status_is(200)->json_is($f1);
$m->get_ok("/api/v2/filters/$f1->{id}", $h{bob})->status_is(404)->json_is('/error' => 'Record not found');
$m->get_ok('/api/v2/filters/abc', $h{alice})->status_is(404);
$m->get_ok('/api/v2/filters', $h{alice})->status_is(200)->json_is('/0' => $f1)->json_is('/1/id' => $f2->{id});
$m->get_ok('/api/v2/filters', $h{bob})->status_is(200)->json_is([]);

# update: attributes, a keyword changed, one destroyed, one added
my ($k1, $k2) = @{ $f1->{keywords} };
$m->put_ok("/api/v2/filters/$f1->{id}", $h{alice}, json => {
    title => 'Spoilers!', filter_action => 'blur',
    keywords_attributes => [{ id => $k1->{id}, whole_word => true }, { id => $k2->{id}, _destroy => true },
                            { keyword => 'twist' }],
})->status_is(200)->json_is('/title' => 'Spoilers!')->json_is('/filter_action' => 'blur')
  ->json_is('/context' => ['home', 'public'])
  ->json_is('/keywords/0' => { id => $k1->{id}, keyword => 'ending', whole_word => true })
  ->json_is('/keywords/1/keyword' => 'twist')->json_hasnt('/keywords/2');
published('update');
$m->put_ok("/api/v2/filters/$f1->{id}", $h{bob}, json => { title => 'x' })->status_is(404);
$m->put_ok("/api/v2/filters/$f1->{id}", $h{alice}, json => {
    title => 'Lost', keywords_attributes => [{ id => $k2->{id}, keyword => 'gone' }] })->status_is(404);
$m->get_ok("/api/v2/filters/$f1->{id}", $h{alice})->json_is('/title' => 'Spoilers!', 'a failed update loses nothing');

# --- validation ------------------------------------------------------------------------------
$m->post_ok('/api/v2/filters', $h{alice}, json => { context => ['home'] })->status_is(422)
  ->json_is('/error' => "Validation failed: Title can't be blank");
$m->post_ok('/api/v2/filters', $h{alice}, json => { title => 'x' })->status_is(422)
  ->json_is('/error' => "Validation failed: Context can't be blank, Context None or invalid context supplied");
$m->post_ok('/api/v2/filters', $h{alice}, json => {})->status_is(422)
  ->json_is('/error' => "Validation failed: Title can't be blank, Context can't be blank, "
                       . 'Context None or invalid context supplied');
$m->post_ok('/api/v2/filters', $h{alice}, json => { title => 'x', context => ['home', 'everywhere'] })
  ->status_is(422)->json_is('/error' => 'Validation failed: Context None or invalid context supplied');
$m->post_ok('/api/v2/filters', $h{alice}, json => { title => 'x', context => ['home'], filter_action => 'drop' })
  ->status_is(422)->json_is('/error' => "'drop' is not a valid action");
$m->post_ok('/api/v2/filters', $h{alice}, json => {
    title => 'x', context => ['home'], keywords_attributes => [{ keyword => ' ', whole_word => true }] })
  ->status_is(422)->json_is('/error' => "Validation failed: Keywords keyword can't be blank");
$m->post_ok('/api/v2/filters', $h{alice}, json => {
    title => 'Blank', context => ['home'], keywords_attributes => [{ keyword => '', whole_word => false }] })
  ->status_is(200)->json_is('/keywords' => [], 'all-blank nested attributes are left out');
my $f3 = $m->tx->res->json;
$m->put_ok("/api/v2/filters/$f1->{id}", $h{alice}, json => { context => [] })->status_is(422);
$m->get_ok('/api/v2/filters', $h{alice})->status_is(200);
is(scalar @{ $m->tx->res->json }, 3, 'no filter from a refused request');

# --- keywords --------------------------------------------------------------------------------
$m->get_ok("/api/v2/filters/$f1->{id}/keywords", $h{alice})->status_is(200)
  ->json_is('/0/keyword' => 'ending')->json_is('/1/keyword' => 'twist')->json_hasnt('/2');
$m->get_ok("/api/v2/filters/$f1->{id}/keywords", $h{bob})->status_is(404);
$m->post_ok("/api/v2/filters/$f3->{id}/keywords", $h{alice}, form => { keyword => 'cat' })->status_is(200)
  ->json_is('/keyword' => 'cat')->json_is('/whole_word' => true);
my $k3 = $m->tx->res->json;
published('keyword added');
$m->post_ok("/api/v2/filters/$f3->{id}/keywords", $h{alice}, form => { keyword => '' })->status_is(422)
  ->json_is('/error' => "Validation failed: Keyword can't be blank");
$m->post_ok("/api/v2/filters/$f3->{id}/keywords", $h{bob}, form => { keyword => 'dog' })->status_is(404);
$m->get_ok("/api/v2/filters/keywords/$k3->{id}", $h{alice})->status_is(200)->json_is($k3);
$m->get_ok("/api/v2/filters/keywords/$k3->{id}", $h{bob})->status_is(404);
$m->put_ok("/api/v2/filters/keywords/$k3->{id}", $h{alice}, json => { whole_word => false })->status_is(200)
  ->json_is({ id => $k3->{id}, keyword => 'cat', whole_word => false });
$m->put_ok("/api/v2/filters/keywords/$k3->{id}", $h{alice}, json => { keyword => ' ' })->status_is(422);
$m->put_ok("/api/v2/filters/keywords/$k3->{id}", $h{bob}, json => { keyword => 'x' })->status_is(404);
$m->delete_ok("/api/v2/filters/keywords/$k3->{id}", $h{bob})->status_is(404);
$m->delete_ok("/api/v2/filters/keywords/$k3->{id}", $h{alice})->status_is(200)->json_is({});
$m->get_ok("/api/v2/filters/keywords/$k3->{id}", $h{alice})->status_is(404);
$m->get_ok("/api/v2/filters/keywords/$k1->{id}", $h{alice})->status_is(200, 'at Mastodon\'s path (filters/keywords/:id)');
$m->get_ok("/api/v2/filter_keywords/$k1->{id}", $h{alice})->status_is(404, '... and no other');

# --- statuses --------------------------------------------------------------------------------
my $pub = $m->post_ok('/api/v1/statuses', $h{bob}, form => { status => 'public post' })->status_is(200)->tx->res->json;
my $dm = $m->post_ok('/api/v1/statuses', $h{bob}, form => { status => 'secret', visibility => 'direct' })
  ->status_is(200)->tx->res->json;
$m->post_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice}, form => { status_id => $pub->{id} })->status_is(200)
  ->json_is('/status_id' => $pub->{id})->json_like('/id' => qr/^\d+$/);
my $s1 = $m->tx->res->json;
is_deeply(keys_of($s1), [qw(id status_id)], 'the FilterStatus entity');
$m->post_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice}, form => { status_id => $pub->{id} })->status_is(422)
  ->json_is('/error' => 'Validation failed: Status has already been taken');
$m->post_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice}, form => { status_id => $dm->{id} })->status_is(422)
  ->json_is('/error' => 'Validation failed: Status is invalid');
$m->post_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice}, form => { status_id => '999999999' })->status_is(422)
  ->json_is('/error' => 'Validation failed: Status must exist');
$m->post_ok("/api/v2/filters/$f3->{id}/statuses", $h{bob}, form => { status_id => $pub->{id} })->status_is(404);
$m->get_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice})->status_is(200)->json_is([$s1]);
$m->get_ok("/api/v2/filters/statuses/$s1->{id}", $h{alice})->status_is(200)->json_is($s1);
$m->get_ok("/api/v2/filters/statuses/$s1->{id}", $h{bob})->status_is(404);
$m->get_ok("/api/v2/filters/$f3->{id}", $h{alice})->status_is(200)->json_is('/statuses' => [$s1]);
$m->delete_ok("/api/v2/filters/statuses/$s1->{id}", $h{bob})->status_is(404);
$m->delete_ok("/api/v2/filters/statuses/$s1->{id}", $h{alice})->status_is(200)->json_is({});
$m->get_ok("/api/v2/filters/$f3->{id}/statuses", $h{alice})->status_is(200)->json_is([]);

# --- expiry: an expired filter is still listed, with its time ---------------------------------
$m->put_ok("/api/v2/filters/$f2->{id}", $h{alice}, json => { expires_in => '' })->status_is(200)
  ->json_is('/expires_at' => undef);
$t->psql("UPDATE custom_filters SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 hour' WHERE id = $f2->{id}");
$m->get_ok('/api/v2/filters', $h{alice})->status_is(200)->json_is('/1/id' => $f2->{id})
  ->json_like('/1/expires_at' => qr/Z$/);

# --- delete ----------------------------------------------------------------------------------
$m->delete_ok("/api/v2/filters/$f3->{id}", $h{bob})->status_is(404);
$m->delete_ok("/api/v2/filters/$f3->{id}", $h{alice})->status_is(200)->json_is({});
published('delete');
$m->get_ok("/api/v2/filters/$f3->{id}", $h{alice})->status_is(404);
is($t->psql("SELECT count(*) FROM custom_filter_keywords WHERE custom_filter_id = $f3->{id}"), 0,
   'its keywords went with it');

# --- v1 --------------------------------------------------------------------------------------
$m->post_ok('/api/v1/filters', $h{carol}, form => {
    phrase => 'Bad Word', 'context[]' => ['home', 'notifications'], irreversible => 'true', whole_word => 'false',
})->status_is(200)->json_is('/phrase' => 'Bad Word')->json_is('/context' => ['home', 'notifications'])
  ->json_is('/irreversible' => true)->json_is('/whole_word' => false)->json_is('/expires_at' => undef);
my $v1 = $m->tx->res->json;
is_deeply(keys_of($v1), [qw(context expires_at id irreversible phrase whole_word)], 'the V1::Filter entity');
$m->get_ok('/api/v2/filters', $h{carol})->status_is(200)->json_is('/0/title' => 'Bad Word')
  ->json_is('/0/filter_action' => 'hide')->json_is('/0/keywords/0/id' => $v1->{id});
my $v2 = $m->tx->res->json->[0];
$m->post_ok('/api/v1/filters', $h{carol}, form => { phrase => 'x' })->status_is(422)
  ->json_is('/error' => "Validation failed: Context can't be blank, Context None or invalid context supplied");
$m->get_ok("/api/v1/filters/$v1->{id}", $h{carol})->status_is(200)->json_is($v1);
$m->get_ok("/api/v1/filters/$v1->{id}", $h{alice})->status_is(404);
$m->get_ok('/api/v1/filters', $h{carol})->status_is(200)->json_is([$v1]);
$m->put_ok("/api/v1/filters/$v1->{id}", $h{carol}, form => { phrase => 'Worse', irreversible => 'false',
    expires_in => 1800 })->status_is(200)->json_is('/phrase' => 'Worse')->json_is('/irreversible' => false)
  ->json_like('/expires_at' => qr/Z$/);
$m->get_ok("/api/v2/filters/$v2->{id}", $h{carol})->json_is('/title' => 'Worse')->json_is('/filter_action' => 'warn');

# a filter of two keywords cannot change through v1, its keyword can
$m->post_ok("/api/v2/filters/$v2->{id}/keywords", $h{carol}, form => { keyword => 'other' })->status_is(200);
$m->put_ok("/api/v1/filters/$v1->{id}", $h{carol}, form => { irreversible => 'true' })->status_is(422)
  ->json_is('/error' => 'Legacy filters cannot be edited when they contain more than one keyword');
$m->put_ok("/api/v1/filters/$v1->{id}", $h{carol}, form => { whole_word => 'true' })->status_is(200)
  ->json_is('/whole_word' => true)->json_is('/irreversible' => false);
$m->get_ok('/api/v1/filters', $h{carol})->status_is(200)->json_is('/1/phrase' => 'other');
$m->delete_ok("/api/v1/filters/$v1->{id}", $h{carol})->status_is(200)->json_is({});
$m->get_ok('/api/v1/filters', $h{carol})->status_is(200)->json_is('/0/phrase' => 'other')->json_hasnt('/1');
$m->get_ok("/api/v2/filters/$v2->{id}", $h{carol})->status_is(200, 'the v1 delete leaves the filter');


# --- applied: the viewer's Status carries its FilterResults ---------------------------------
sub post_as {
    my ($who, %form) = @_;
    return $m->post_ok('/api/v1/statuses', $h{$who}, form => \%form)->status_is(200)->tx->res->json;
}
sub seen {
    my ($who, $sid) = @_;
    return $m->get_ok("/api/v1/statuses/$sid", $h{$who})->status_is(200)->tx->res->json;
}

$m->post_ok('/api/v2/filters', $h{dave}, json => {
    title => 'Pets', context => ['home', 'public'], filter_action => 'warn',
    keywords_attributes => [{ keyword => 'cat', whole_word => true }, { keyword => 'dog', whole_word => false }],
})->status_is(200);
my $pets = $m->tx->res->json;
my $cats   = post_as('bob', status => 'I love cats');
my $cat    = post_as('bob', status => 'My CAT is here');
my $hotdog = post_as('bob', status => 'hotdogs for lunch');
my $cw     = post_as('bob', status => 'nothing to see', spoiler_text => 'about a cat');
my $plain  = post_as('bob', status => 'nothing at all');

is_deeply(seen('dave', $cats->{id})->{filtered}, [], 'whole_word: "cat" does not match "cats"');
my $r = seen('dave', $cat->{id})->{filtered};
is(scalar @$r, 1, 'one FilterResult');
is_deeply($r->[0]{keyword_matches}, ['CAT'], 'case-insensitive, the text as it matched');
is($r->[0]{status_matches}, undef, 'status_matches null');
is_deeply($r->[0]{filter}, { id => $pets->{id}, title => 'Pets', context => ['home', 'public'],
                             expires_at => undef, filter_action => 'warn' },
          'the Filter, without its rules');
is_deeply([sort keys %{ $r->[0] }], [qw(filter keyword_matches status_matches)], 'the FilterResult entity');
is_deeply(seen('dave', $hotdog->{id})->{filtered}[0]{keyword_matches}, ['dog'], 'not whole_word: inside a word');
is_deeply(seen('dave', $cw->{id})->{filtered}[0]{keyword_matches}, ['cat'], 'the spoiler text is searched');
is_deeply(seen('dave', $plain->{id})->{filtered}, [], 'no match: []');
is_deeply(seen('bob', $cat->{id})->{filtered}, [], 'another viewer: [] (nothing per viewer in the shared render)');
is_deeply(seen('dave', $cat->{id})->{filtered}[0]{keyword_matches}, ['CAT'], '... and the viewer still gets its own');
$m->get_ok("/api/v1/statuses/$cat->{id}")->status_is(200)->json_hasnt('/filtered', 'anonymous: no filtered');

# a status filter, hide and blur actions
$m->post_ok('/api/v2/filters', $h{dave}, json => { title => 'This one', context => ['thread'], filter_action => 'hide' })
  ->status_is(200);
my $this = $m->tx->res->json;
$m->post_ok("/api/v2/filters/$this->{id}/statuses", $h{dave}, form => { status_id => $plain->{id} })->status_is(200);
$r = seen('dave', $plain->{id})->{filtered};
is(scalar @$r, 1, 'the status filter applies');
is_deeply($r->[0]{status_matches}, [$plain->{id}], 'status_matches: the status');
is($r->[0]{keyword_matches}, undef, 'keyword_matches null');
is($r->[0]{filter}{filter_action}, 'hide', 'the hide action told');

$m->post_ok('/api/v2/filters', $h{dave}, json => { title => 'Blurry', context => ['account'], filter_action => 'blur',
    keywords_attributes => [{ keyword => 'lunch' }] })->status_is(200);
$r = seen('dave', $hotdog->{id})->{filtered};
is_deeply([map { $_->{filter}{filter_action} } @$r], ['warn', 'blur'], 'every matching filter, in order');

# a reblog: matched on its original, both carry the result
my $rb = $m->post_ok("/api/v1/statuses/$cat->{id}/reblog", $h{carol})->status_is(200)->tx->res->json;
my $seen_rb = seen('dave', $rb->{id});
is_deeply($seen_rb->{filtered}[0]{keyword_matches}, ['CAT'], 'a reblog: its original\'s text');
is_deeply($seen_rb->{reblog}{filtered}[0]{keyword_matches}, ['CAT'], '... and the original inside it');

# timelines carry it too
$m->get_ok('/api/v1/timelines/public?limit=40', $h{dave})->status_is(200);
my ($in_tl) = grep { $_->{id} eq $cat->{id} } @{ $m->tx->res->json };
is_deeply($in_tl->{filtered}[0]{keyword_matches}, ['CAT'], 'the public timeline');

# the searchable text is Status#searchable_text: poll options and media
# descriptions too
my $pet_poll = post_as('bob', status => 'which pet?', 'poll[options][]' => ['a cat', 'a fish'],
                       'poll[expires_in]' => 3600);
is_deeply(seen('dave', $pet_poll->{id})->{filtered}[0]{keyword_matches}, ['cat'], 'a poll option matches');
my $mid = $t->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
    . " file_content_type, file_meta, description) VALUES ($id{bob}, 0, 2, '0123456789abcdef.png',"
    . " 'image/png', '{}', 'a sleepy dog') RETURNING id");
my $pet_pic = post_as('bob', status => 'look at this', 'media_ids[]' => $mid);
is_deeply(seen('dave', $pet_pic->{id})->{filtered}[0]{keyword_matches}, ['dog'], 'a media description matches');

# an expired filter is not applied
$t->psql("UPDATE custom_filters SET expires_at = (now() AT TIME ZONE 'UTC') - interval '1 minute'"
         . " WHERE id = $pets->{id}");
is_deeply(seen('dave', $cat->{id})->{filtered}, [], 'an expired filter is not applied');
$m->get_ok("/api/v2/filters/$pets->{id}", $h{dave})->status_is(200, '... and still listed');

kill 'TERM', $pid;
waitpid $pid, 0;

done_testing;
