# GET /api/v2/search without Elasticsearch (issue 13): who may find which
# status (Mastodon's searchable_by and the indexable public statuses, then
# the visibility rule and the viewer's blocks and mutes), every operator
# of Mastodon's query syntax, edits and deletes followed at once, accounts
# ranked (the username itself, then the followed, then the rest; a typo
# still finds), hashtags by prefix ranked by use with their history, and
# GET /api/v1/accounts/search on the same machinery.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol', display_name => 'Carol Indexed');
my $dave = $t->user('dave');
my $eve = $t->user('eve');
$t->psql("UPDATE accounts SET indexable = true WHERE id IN ($carol->{account_id}, $eve->{account_id})");

sub post_as {
    my ($u, %form) = @_;
    $m->post_ok('/api/v1/statuses', $t->bearer($u->{token}), form => \%form)
      ->status_is(200, "posted: $form{status}");
    return $m->tx->res->json->{id};
}

sub search {
    my ($u, $q, %params) = @_;
    my $tx = $t->ua->get($t->base . '/api/v2/search'
        => ($u ? $t->bearer($u->{token}) : {}) => form => { q => $q, %params });
    return $tx->res;
}

sub statuses {
    my ($u, $q, %params) = @_;
    my $res = search($u, $q, type => 'statuses', %params);
    is($res->code, 200, "search [$q]: 200") or diag $res->body;
    return [ sort map { $_->{id} } @{ decode_json($res->body)->{statuses} } ];
}

sub found_ok {
    my ($u, $q, $want, $name, %params) = @_;
    is_deeply(statuses($u, $q, %params), [ sort @$want ], $name);
}

# --- who may find what ------------------------------------------------------------
my $own = post_as($alice, status => 'apples of my own', visibility => 'private');
my $indexed = post_as($carol, status => 'apples in the orchard');
my $optout = post_as($dave, status => 'apples not indexable');
my $optout_fav = post_as($dave, status => 'apples favourited by alice');
my $optout_bm = post_as($dave, status => 'apples bookmarked by alice');
my $optout_rb = post_as($dave, status => 'apples reblogged by alice');
my $mentioned = post_as($dave, status => '@alice apples for your eyes', visibility => 'private');
my $direct_bob = post_as($dave, status => '@bob apples direct to bob', visibility => 'direct');
my $unlisted = post_as($eve, status => 'apples unlisted by eve', visibility => 'unlisted');
my $private_eve = post_as($eve, status => 'apples private by eve', visibility => 'private');

$m->post_ok("/api/v1/statuses/$optout_fav/favourite", $t->bearer($alice->{token}))->status_is(200);
$m->post_ok("/api/v1/statuses/$optout_bm/bookmark", $t->bearer($alice->{token}))->status_is(200);
$m->post_ok("/api/v1/statuses/$optout_rb/reblog", $t->bearer($alice->{token}))->status_is(200);

found_ok($alice, 'apples',
         [ $own, $indexed, $optout_fav, $optout_bm, $optout_rb, $mentioned ],
         'alice: her own, indexable public, favourited, bookmarked, reblogged, mentioned in');
found_ok($bob, 'apples', [ $indexed, $direct_bob ],
         'bob: the indexable public one and the direct message to him');
found_ok($eve, 'apples', [ $indexed, $unlisted, $private_eve ],
         'eve: her own (any visibility) and the indexable public one');
found_ok($bob, 'apples not indexable', [], "an opted-out account's public post: not for a stranger");
found_ok($bob, 'apples unlisted', [], 'an unlisted post of an indexable account: not public');
found_ok($alice, 'apples in:library', [ $own, $optout_fav, $optout_bm, $optout_rb, $mentioned ],
         'in:library: only what alice has to do with');
found_ok($alice, 'apples in:public', [ $indexed ], 'in:public: only indexable public statuses');

my $res = search(undef, 'apples');
is($res->code, 200, 'anonymous: 200');
is_deeply(decode_json($res->body)->{statuses}, [], 'anonymous: no statuses (a user only)');

# a private status the searcher interacted with but may no longer see
my $followers_only = post_as($dave, status => 'apples for followers only', visibility => 'private');
$t->psql("INSERT INTO bookmarks (account_id, status_id) VALUES ($bob->{account_id}, $followers_only)");
found_ok($bob, 'followers only', [], 'a private status bookmarked without following: not seen, not found');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob->{account_id}, $dave->{account_id})");
found_ok($bob, 'followers only', [ $followers_only ], 'once a follower: found');

# blocks and mutes, through the API: its writers tell the render cache's
# viewer facts, as every real block and mute does
my $rel = sub {
    my ($who, $action, $target) = @_;
    $m->post_ok("/api/v1/accounts/$target->{account_id}/$action", $t->bearer($who->{token}))
      ->status_is(200);
};
$rel->($carol, 'block', $bob);
found_ok($bob, 'orchard', [], 'the author blocks the searcher: not found');
$rel->($carol, 'unblock', $bob);
$rel->($bob, 'block', $carol);
found_ok($bob, 'orchard', [], 'the searcher blocks the author: not found');
$rel->($bob, 'unblock', $carol);
$rel->($bob, 'mute', $carol);
found_ok($bob, 'orchard', [], 'the searcher mutes the author: not found');
$rel->($bob, 'unmute', $carol);
found_ok($bob, 'orchard', [ $indexed ], 'neither: found');
$t->psql("UPDATE accounts SET suspended_at = now() AT TIME ZONE 'UTC' WHERE id = $carol->{account_id}");
found_ok($bob, 'orchard', [], 'a suspended author: not found');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $carol->{account_id}");

# --- edits and deletes -----------------------------------------------------------------
my $edited = post_as($carol, status => 'kiwis are green');
found_ok($bob, 'kiwis', [ $edited ], 'before the edit');
$m->put_ok("/api/v1/statuses/$edited", $t->bearer($carol->{token}), form => { status => 'mangos are yellow' })
  ->status_is(200);
found_ok($bob, 'kiwis', [], 'the old words are gone at once');
found_ok($bob, 'mangos', [ $edited ], 'the new ones are found');
$m->delete_ok("/api/v1/statuses/$edited", $t->bearer($carol->{token}))->status_is(200);
found_ok($bob, 'mangos', [], 'deleted: not found');
found_ok($carol, 'mangos', [], 'not even by its author');

# --- the query syntax ------------------------------------------------------------------------
my $plain = post_as($eve, status => 'the quick brown fox jumps');
my $reply = post_as($eve, status => 'a reply about foxes', in_reply_to_id => $plain);
my $sensitive = post_as($eve, status => 'a sensitive fox', sensitive => 'true', spoiler_text => 'cw');
my $french = post_as($eve, status => 'le renard brun', language => 'fr');
my $link = post_as($eve, status => 'fox pictures at https://example.com/fox');
my $media = post_as($eve, status => 'fox photo');
my $poll = post_as($eve, status => 'fox poll', 'poll[options][]' => ['yes', 'no'], 'poll[expires_in]' => 3600);
my $bob_fox = post_as($bob, status => 'a fox of bob');
$t->psql("INSERT INTO media_attachments (status_id, account_id, type, file_file_name)
          VALUES ($media, $eve->{account_id}, 0, 'x.png')");
$t->psql("UPDATE statuses SET created_at = '2024-03-10 12:00' WHERE id = $plain");
$t->psql("UPDATE statuses SET created_at = '2024-03-11 00:30' WHERE id = $reply");

found_ok($bob, 'quick fox', [ $plain ], 'two words: both must be there');
found_ok($bob, 'quick jumping', [ $plain ], 'stemmed: jumping finds jumps');
found_ok($bob, 'foxes', [ $plain, $reply, $sensitive, $link, $media, $poll, $bob_fox ],
         'stemmed: foxes finds fox (English, the searcher\'s default)');
found_ok($bob, '"brown fox"', [ $plain ], 'a phrase');
found_ok($bob, '"fox brown"', [], 'a phrase is in order');
found_ok($bob, 'fox -photo -poll -pictures -sensitive -reply -quick', [ $bob_fox ], '-term excludes');
found_ok($bob, 'fox -"quick brown"', [ $reply, $sensitive, $link, $media, $poll, $bob_fox ],
         '-"phrase" excludes');
found_ok($bob, 'fox from:eve', [ $plain, $reply, $sensitive, $link, $media, $poll ], 'from:user');
found_ok($bob, 'fox from:@eve@' . $t->domain, [ $plain, $reply, $sensitive, $link, $media, $poll ],
         'from:@user@our.domain');
found_ok($bob, 'fox from:me', [ $bob_fox ], 'from:me');
found_ok($bob, 'fox -from:eve', [ $bob_fox ], '-from:');
found_ok($bob, 'fox from:nobody', [], 'from: an unknown account: nothing');
found_ok($bob, 'fox has:media', [ $media ], 'has:media');
found_ok($bob, 'fox has:image', [ $media ], 'has:image');
found_ok($bob, 'fox has:video', [], 'has:video');
found_ok($bob, 'fox has:poll', [ $poll ], 'has:poll');
found_ok($bob, 'fox has:link', [ $link ], 'has:link');
found_ok($bob, 'fox is:reply', [ $reply ], 'is:reply');
found_ok($bob, 'fox is:sensitive', [ $sensitive ], 'is:sensitive');
found_ok($bob, 'fox -is:reply -has:media -has:poll -is:sensitive -has:link', [ $plain, $bob_fox ],
         'negated has: and is:');
found_ok($bob, 'renard language:fr', [ $french ], 'language:fr');
found_ok($bob, 'renards language:fr', [ $french ], 'language:fr stems in French');
found_ok($bob, 'renard language:en', [], 'language:en');
found_ok($bob, 'renard language:FR', [ $french ], 'a language code in capitals');
found_ok($bob, 'renard -language:fr', [], '-language:');
found_ok($bob, 'fox before:2024-03-11', [ $plain ], 'before: (the day\'s start, UTC)');
found_ok($bob, 'fox after:2024-03-10', [ $link, $media, $poll, $sensitive, $bob_fox, $reply ],
         'after: (from the next day)');
found_ok($bob, 'fox during:2024-03-10', [ $plain ], 'during:');
found_ok($bob, 'fox during:2024-03-11', [ $reply ], 'during: another day');
found_ok($bob, 'fox -during:2024-03-10 -during:2024-03-11',
         [ $link, $media, $poll, $sensitive, $bob_fox ], '-during:');
found_ok($bob, 'fox before:yesterday', [], 'a date that is none: nothing (as Mastodon)');

# dates are days of the searcher's time zone (users.time_zone, as Mastodon's
# user_time_zone); $plain is 2024-03-10 12:00 UTC, $reply 2024-03-11 00:30 UTC
my $later = [ $link, $media, $poll, $sensitive, $bob_fox ];
$t->psql("UPDATE users SET time_zone = 'America/New_York' WHERE account_id = $bob->{account_id}");
found_ok($bob, 'fox during:2024-03-10', [ $plain, $reply ], 'New York: during: the day there (DST began)');
found_ok($bob, 'fox during:2024-03-11', [], 'New York: during: the next day');
found_ok($bob, 'fox before:2024-03-11', [ $plain, $reply ], 'New York: before:');
found_ok($bob, 'fox after:2024-03-10', $later, 'New York: after:');
found_ok($bob, 'fox -during:2024-03-10', [ @$later ], 'New York: -during:');
$t->psql("UPDATE users SET time_zone = 'Pacific/Kiritimati' WHERE account_id = $bob->{account_id}");
found_ok($bob, 'fox during:2024-03-10', [], 'UTC+14: during: the day before');
found_ok($bob, 'fox during:2024-03-11', [ $plain, $reply ], 'UTC+14: during: the day there');
found_ok($bob, 'fox after:2024-03-10', [ @$later, $plain, $reply ], 'UTC+14: after:');
found_ok($bob, 'fox before:2024-03-11', [], 'UTC+14: before:');
$t->psql("UPDATE users SET time_zone = 'Mars/Olympus_Mons' WHERE account_id = $bob->{account_id}");
found_ok($bob, 'fox during:2024-03-10', [ $plain ], 'a time zone PostgreSQL does not know: UTC');
$t->psql("UPDATE users SET time_zone = '' WHERE account_id = $bob->{account_id}");
found_ok($bob, 'fox during:2024-03-11', [ $reply ], 'none: UTC');
found_ok($bob, 'fox', [ $plain, $reply, $sensitive, $link, $media, $poll ], 'the account_id parameter',
         account_id => $eve->{account_id});
found_ok($bob, 'has:poll', [ $poll ], 'operators alone');

# pagination: newest first, limit, offset, max_id, min_id
my @all = sort { $b <=> $a } ($plain, $reply, $sensitive, $link, $media, $poll, $bob_fox);
$res = search($bob, 'fox', type => 'statuses', limit => 2);
is_deeply([ map { $_->{id} } @{ decode_json($res->body)->{statuses} } ], [ @all[0, 1] ], 'limit, newest first');
$res = search($bob, 'fox', type => 'statuses', limit => 2, offset => 2);
is_deeply([ map { $_->{id} } @{ decode_json($res->body)->{statuses} } ], [ @all[2, 3] ], 'offset');
$res = search($bob, 'fox', type => 'statuses', max_id => $all[1], min_id => $all[4]);
is_deeply([ map { $_->{id} } @{ decode_json($res->body)->{statuses} } ], [ @all[2, 3] ], 'max_id and min_id');
$res = search($bob, 'fox', type => 'statuses', limit => 100);
is(scalar @{ decode_json($res->body)->{statuses} }, 7, 'limit over 40: 40 (all 7 here)');

# outside input: long queries and many clauses are refused quietly
found_ok($bob, join(' ', ('fox') x 40), [], 'more clauses than the bound: nothing');
$res = search($bob, 'fox ' x 600, type => 'statuses');
is($res->code, 200, 'a long query: 200');
my @e = entity_errors(decode_json(search($bob, 'fox')->body), 'Search');
is_deeply(\@e, [], 'Search matches the documented entity') or diag explain \@e;

# --- accounts ------------------------------------------------------------------------------
$t->user('alicia', display_name => 'Alicia Keys');
my $alison = $t->user('robert', display_name => 'Robert Alison');
my $remote = $t->psql(q{INSERT INTO accounts (username, domain, display_name, uri)
    VALUES ('alina', 'remote.test', 'Alina', 'https://remote.test/users/alina') RETURNING id});

sub accounts {
    my ($u, $q, %params) = @_;
    my $res = search($u, $q, type => 'accounts', %params);
    is($res->code, 200, "accounts [$q]: 200");
    return [ map { $_->{acct} } @{ decode_json($res->body)->{accounts} } ];
}

my $got = accounts($bob, 'ali');
is_deeply([ sort @$got ], [ sort qw(alice alicia robert alina@remote.test) ],
          'prefix of a username or a display name word');
is($got->[-1], 'alina@remote.test', 'local accounts before remote ones');
$got = accounts($bob, 'alicee');
is($got->[0], 'alice', 'a typo: the account that looks most like it first');
ok((grep { $_ eq 'alicia' } @$got) && !(grep { $_ eq 'carol' } @$got), 'and others that look like it');
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob->{account_id}, $remote)");
is(accounts($bob, 'ali')->[0], 'alina@remote.test', 'a followed account first');
is_deeply(accounts($bob, 'ali', following => 'true'), [ 'alina@remote.test' ], 'following=true: only those');
is_deeply(accounts($bob, 'ali', following => 'true', offset => 1), [], 'following=true on the next page too');
is_deeply(accounts($bob, 'ali', offset => 1, limit => 1), [ accounts($bob, 'ali')->[1] ], 'offset');
is(accounts($bob, 'alice')->[0], 'alice', 'the username itself first');
is_deeply(accounts($bob, 'remote.tes'), [ 'alina@remote.test' ], 'a domain prefix');
is_deeply(accounts($bob, 'alina@remote.test'), [ 'alina@remote.test' ], '@user@host: the account');
is_deeply(accounts($bob, 'indexed'), [ 'carol' ], 'a word of the display name');
is_deeply(accounts($bob, '#ali'), [], 'a hashtag query searches no accounts');
is_deeply(accounts(undef, 'carol'), [ 'carol' ], 'anonymous may search accounts');

$m->get_ok('/api/v1/accounts/search?q=ali&following=true', $t->bearer($bob->{token}))->status_is(200)
  ->json_is('/0/acct', 'alina@remote.test')->json_hasnt('/1');
$m->get_ok('/api/v1/accounts/search?q=robert', $t->bearer($bob->{token}))->status_is(200)
  ->json_is('/0/username', 'robert')->json_hasnt('/1');

# --- hashtags ----------------------------------------------------------------------------
post_as($eve, status => "#searching one");
post_as($eve, status => "#searching two");
post_as($eve, status => "#search once");
post_as($eve, status => "#seaside once");
$t->psql(q{UPDATE tags SET listable = false WHERE name = 'seaside'});

sub hashtags {
    my ($q, %params) = @_;
    my $res = search($bob, $q, type => 'hashtags', %params);
    is($res->code, 200, "hashtags [$q]: 200");
    return decode_json($res->body)->{hashtags};
}
my $tags = hashtags('#sea');
is_deeply([ map { $_->{name} } @$tags ], [ 'searching', 'search' ], 'prefix, most used first, unlisted out');
is($tags->[0]{url}, "$base/tags/searching", 'url');
is(scalar @{ $tags->[0]{history} }, 7, 'a week of history');
is($tags->[0]{history}[0]{uses}, '2', 'today: 2 uses');
is($tags->[0]{history}[0]{accounts}, '1', 'by 1 account');
@e = entity_errors({ accounts => [], statuses => [], hashtags => $tags }, 'Search');
is_deeply(\@e, [], 'Tag matches the documented entity') or diag explain \@e;
is_deeply([ map { $_->{name} } @{ hashtags('search') } ], [ 'search', 'searching' ], 'the exact name first');
is_deeply([ map { $_->{name} } @{ hashtags('sea', exclude_unreviewed => 'true') } ], [],
          'exclude_unreviewed: only reviewed ones');
$t->psql(q{UPDATE tags SET reviewed_at = now() WHERE name = 'search'});
is_deeply([ map { $_->{name} } @{ hashtags('sea', exclude_unreviewed => 'true') } ], [ 'search' ],
          'a reviewed one');
is_deeply(hashtags('bob@x'), [], 'no hashtags for a query with @');

# poll options and media descriptions are searchable (Status#searchable_text)
# and follow edits
my $question = post_as($eve, status => 'a question', 'poll[options][]' => ['zebra', 'giraffe'],
                       'poll[expires_in]' => 3600);
found_ok($bob, 'zebra', [ $question ], 'a poll option is found');
found_ok($bob, 'giraffes', [ $question ], '... stemmed too');
$m->put_ok("/api/v1/statuses/$question", $t->bearer($eve->{token}),
           json => { status => 'a question', poll => { options => ['okapi', 'giraffe'], expires_in => 3600 } })
  ->status_is(200);
found_ok($bob, 'zebra', [], 'an option edited away: not found');
found_ok($bob, 'okapi', [ $question ], 'the new option: found');
my $described = $t->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
    . " file_content_type, file_meta, description) VALUES ($eve->{account_id}, 0, 2,"
    . " '0123456789abcdef.png', 'image/png', '{}', 'a lighthouse at dusk') RETURNING id");
my $pictured = post_as($eve, status => 'look', 'media_ids[]' => $described);
found_ok($bob, 'lighthouse', [ $pictured ], 'a media description is found');
found_ok($bob, '"lighthouse at dusk" look', [ $pictured ], '... with the text');
$m->put_ok("/api/v1/statuses/$pictured", $t->bearer($eve->{token}), json => {
    status => 'look', media_ids => [ $described ],
    media_attributes => [ { id => $described, description => 'a windmill' } ] })->status_is(200);
found_ok($bob, 'lighthouse', [], 'a description edited away: not found');
found_ok($bob, 'windmill', [ $pictured ], 'the new description: found');
$t->psql("UPDATE media_attachments SET status_id = NULL WHERE id = $described");
found_ok($bob, 'windmill', [], 'the media gone from the status: not found');

# all three at once, and the type filter
$res = search($bob, 'search');
my $all3 = decode_json($res->body);
ok(@{ $all3->{hashtags} } >= 1 && ref $all3->{accounts} eq 'ARRAY' && ref $all3->{statuses} eq 'ARRAY',
   'no type: all three');

# --- mastodon-worker search deploy rebuilds the index ---------------------------------------
$t->psql("UPDATE statuses SET search_vector = NULL WHERE id = $plain");
found_ok($bob, 'quick', [], 'a status out of the index: not found');
my ($rc, $out, $err) = $t->worker_cli('search', 'deploy', '--batch-size', '7');
is($rc, 0, 'search deploy: exit 0') or diag $err;
my $count = $t->psql('SELECT count(*) FROM statuses');
like($out, qr/^$count statuses indexed$/m, 'every status, in batches');
found_ok($bob, 'quick', [ $plain ], 'found again');
($rc) = $t->worker_cli('search', 'deploy', '--batch-size', '0');
is($rc, 2, 'a bad batch size: usage error');

done_testing;
