# Being found and read over ActivityPub (issue 9): WebFinger for acct: and
# https: resources (and split domains), actor documents checked field by
# field against Mastodon's shape, content negotiation (JSON for ActivityPub
# clients, HTML pages or redirects for browsers, 406), the instance actor,
# Notes by visibility (private, direct, deleted: not served), their
# activities, the outbox, followers/following and featured collections with
# their paging, replies, likes and shares, 404s and the profile page's
# escaping.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;
my $domain = $t->domain;

my $AP = 'application/activity+json';
my $LD = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"';
my $BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
my $PUBLIC = 'https://www.w3.org/ns/activitystreams#Public';

# alice through the CLI: a real account with its RSA key, as sign-up makes
my $alice = $t->user('alice', password => 'correct horse battery');
my $bob = $t->user('bob');
my $carol = $t->user('carol', display_name => 'Carol');
my ($ha, $hb, $hc) = map { $t->bearer($_->{token}) } $alice, $bob, $carol;

$t->psql(q{UPDATE accounts SET display_name = 'Alice <A>', note = 'Hi <b>there</b> #cats',
    fields = '[{"name":"Site","value":"https://example.com/x","verified_at":null}]'
    WHERE username = 'alice'});

sub get {
    my ($path, $accept) = @_;
    return $t->ua->get($path => ($accept ? { Accept => $accept } : {}))->result;
}

sub ap_get {
    my ($path) = @_;
    my $res = get($path, $AP);
    return ($res, $res->code == 200 ? $res->json : undef);
}

# --- WebFinger ----------------------------------------------------------------
{
    my $res = get("/.well-known/webfinger?resource=acct:alice\@$domain");
    is($res->code, 200, 'webfinger acct: 200');
    is($res->headers->content_type, 'application/jrd+json; charset=utf-8', 'JRD');
    like($res->headers->cache_control // '', qr/max-age=259200, public/, 'cached 3 days');
    is_deeply($res->json, {
        subject => "acct:alice\@$domain",
        aliases => [ "$base/\@alice", "$base/users/alice" ],
        links   => [
            { rel => 'http://webfinger.net/rel/profile-page', type => 'text/html',
              href => "$base/\@alice" },
            { rel => 'self', type => $AP, href => "$base/users/alice" },
            { rel => 'self', type => $LD, href => "$base/users/alice" },
            { rel => 'http://ostatus.org/schema/1.0/subscribe',
              template => "$base/authorize_interaction?uri={uri}" },
        ],
    }, 'the JRD as Mastodon writes it, both ActivityPub types');

    for my $r ("ALICE\@$domain", "acct:Alice\@" . uc($domain), "$base/users/alice",
               "$base/\@alice", "$base/users/alice/", "https://elsewhere.example/\@alice")
    {
        my $res = get('/.well-known/webfinger?resource=' . Mojo::Util::url_escape($r));
        is($res->code, 200, "resource $r");
        is($res->json->{subject}, "acct:alice\@$domain", "$r: the canonical subject");
    }

    # the instance actor, by its acct:, the bare domain or its URL
    for my $r ("acct:$domain\@$domain", $domain, "$base/actor", "$base/") {
        my $res = get('/.well-known/webfinger?resource=' . Mojo::Util::url_escape($r));
        is($res->code, 200, "instance actor: $r");
        is($res->json->{subject}, "acct:$domain\@$domain", "$r: subject");
        is_deeply($res->json->{aliases}, [ "$base/actor" ], "$r: aliases");
        is($res->json->{links}[1]{href}, "$base/actor", "$r: self");
        is($res->json->{links}[0]{href}, "$base/about/more?instance_actor=true", "$r: profile page");
    }

    # Mastodon's heads: 404 for others, 400 without a usable resource
    for my $case (["acct:nobody\@$domain", 404], ["acct:alice\@other.example", 404],
                  ["$base/tags/cats", 404], ['https://nohost', 404], ['alice', 400],
                  ['', 400], [undef, 400], ["acct:\@$domain", 404])
    {
        my ($r, $code) = @$case;
        my $q = defined $r ? '?resource=' . Mojo::Util::url_escape($r) : '';
        my $res = get("/.well-known/webfinger$q");
        is($res->code, $code, 'resource ' . ($r // '(none)') . ": $code");
        is($res->body, '', 'no body, as Mastodon\'s head');
    }
}

# --- actors ---------------------------------------------------------------------
my $alice_key = $t->psql(q{SELECT public_key FROM accounts WHERE username = 'alice'});
like($alice_key, qr/^-----BEGIN PUBLIC KEY-----\n/, 'the CLI gave alice her key');

my $actor_context = [
    'https://www.w3.org/ns/activitystreams',
    'https://w3id.org/security/v1',
    {
        manuallyApprovesFollowers => 'as:manuallyApprovesFollowers',
        toot => 'http://joinmastodon.org/ns#',
        featured => { '@id' => 'toot:featured', '@type' => '@id' },
        featuredTags => { '@id' => 'toot:featuredTags', '@type' => '@id' },
        alsoKnownAs => { '@id' => 'as:alsoKnownAs', '@type' => '@id' },
        movedTo => { '@id' => 'as:movedTo', '@type' => '@id' },
        schema => 'http://schema.org#',
        PropertyValue => 'schema:PropertyValue',
        value => 'schema:value',
        discoverable => 'toot:discoverable',
        suspended => 'toot:suspended',
        memorial => 'toot:memorial',
        indexable => 'toot:indexable',
        attributionDomains => { '@id' => 'toot:attributionDomains', '@type' => '@id' },
    },
];

for my $accept ($AP, $LD, 'application/json') {
    my $res = get('/users/alice', $accept);
    is($res->code, 200, "actor for $accept");
    is($res->headers->content_type, 'application/activity+json; charset=utf-8', 'activity+json');
    is($res->headers->vary, 'Accept', 'Vary: Accept');
    like($res->headers->cache_control // '', qr/^max-age=180, public$/, 'public, 3 minutes');
}

{
    my ($res, $a) = ap_get('/users/alice');
    my $site = delete $a->{attachment};
    my $summary = delete $a->{summary};
    my $published = delete $a->{published};
    is_deeply($a, {
        # her note's #cats: a Hashtag in `tag` (ActorSerializer#virtual_tags)
        '@context' => [ @$actor_context[0, 1], { %{ $actor_context->[2] }, Hashtag => 'as:Hashtag' } ],
        id => "$base/users/alice",
        type => 'Person',
        following => "$base/users/alice/following",
        followers => "$base/users/alice/followers",
        inbox => "$base/users/alice/inbox",
        outbox => "$base/users/alice/outbox",
        featured => "$base/users/alice/collections/featured",
        featuredTags => "$base/users/alice/collections/tags",
        preferredUsername => 'alice',
        name => 'Alice <A>',
        url => "$base/\@alice",
        manuallyApprovesFollowers => false,
        discoverable => false,
        indexable => false,
        memorial => false,
        publicKey => { id => "$base/users/alice#main-key", owner => "$base/users/alice",
                       publicKeyPem => $alice_key },
        tag => [ { type => 'Hashtag', href => "$base/tags/cats", name => '#cats' } ],
        endpoints => { sharedInbox => "$base/inbox" },
    }, 'the actor, field by field') or diag explain $a;
    like($published, qr/^\d{4}-\d\d-\d\dT00:00:00Z$/, 'published: the day of creation');
    like($summary, qr{^<p>Hi &lt;b&gt;there&lt;/b&gt; <a href="\Q$base\E/tags/cats" class="mention hashtag" rel="tag">#<span>cats</span></a></p>$},
        'summary: the bio as Mastodon formats it');
    is(scalar @$site, 1, 'one field');
    is($site->[0]{type}, 'PropertyValue', 'a PropertyValue');
    is($site->[0]{name}, 'Site', 'its name');
    like($site->[0]{value}, qr{^<a href="https://example.com/x"}, 'its value as HTML');

    # the same at /@alice
    my ($res2, $a2) = ap_get('/@alice');
    is($a2->{id}, "$base/users/alice", '/@alice serves the actor too');
}

# bots are Service, locked accounts approve followers, discoverable, moved
$t->psql(q{UPDATE accounts SET actor_type = 'Service', locked = true, discoverable = true,
    indexable = true WHERE username = 'bob'});
$t->psql(qq{UPDATE accounts SET moved_to_account_id = $alice->{account_id},
    also_known_as = ARRAY['https://old.example/users/bob'] WHERE username = 'bob'});
{
    my ($res, $b) = ap_get('/users/BOB');
    is($b->{type}, 'Service', 'a bot is a Service');
    is($b->{preferredUsername}, 'bob', 'found case-insensitively, named as stored');
    is($b->{name}, 'bob', 'no display name: the username');
    is($b->{manuallyApprovesFollowers}, true, 'locked');
    is($b->{discoverable}, true, 'discoverable');
    is($b->{indexable}, true, 'indexable');
    is($b->{movedTo}, "$base/users/alice", 'movedTo');
    is_deeply($b->{alsoKnownAs}, ['https://old.example/users/bob'], 'alsoKnownAs');
    is($b->{publicKey}{publicKeyPem}, '', 'an account without a key (fixture) has an empty one');
}
$t->psql(q{UPDATE accounts SET actor_type = NULL, locked = false, moved_to_account_id = NULL,
    also_known_as = NULL WHERE username = 'bob'});

# suspended: Mastodon's unavailable actor
my $sam = $t->user('sam', suspended => 1);
{
    $t->psql(q{UPDATE accounts SET display_name = 'Sam', note = 'bio' WHERE username = 'sam'});
    my ($res, $s) = ap_get('/users/sam');
    is($res->code, 200, 'a suspended actor is served');
    is($s->{suspended}, true, 'suspended: true');
    is($s->{name}, 'sam', 'name: the username');
    is($s->{summary}, '', 'no summary');
}

# not found: unknown, unconfirmed, remote, invalid names
$t->user('pending', confirmed => 0);
$t->psql(q{INSERT INTO accounts (username, domain, uri) VALUES ('remo', 'remote.example', 'https://remote.example/users/remo')});
for my $path ('/users/nobody', '/users/pending', '/users/remo', '/users/a%20b', '/@nobody') {
    is(get($path, $AP)->code, 404, "$path: 404");
}

# browsers: /users/NAME redirects, /@NAME is a page; nothing acceptable: 406
{
    my $res = get('/users/alice', $BROWSER);
    is($res->code, 301, 'a browser at /users/alice is redirected');
    is($res->headers->location, "$base/\@alice", 'to /@alice');
    is($res->headers->vary, 'Accept', 'Vary: Accept');

    $res = get('/users/alice', "$AP, */*");
    is($res->code, 301, 'a browser-like Accept (with */*) is HTML, as Rails has it');

    $res = get('/@alice', $BROWSER);
    is($res->code, 200, 'the profile page');
    is($res->headers->content_type, 'text/html; charset=utf-8', 'HTML');
    like($res->body, qr{<title>Alice &lt;A&gt; - }, 'the display name escaped in the title');
    like($res->body, qr{\@alice\@\Q$domain\E}, 'the handle');
    like($res->body, qr{Hi &lt;b&gt;there&lt;/b&gt;}, 'the bio escaped');
    unlike($res->body, qr{<A>|<b>there}, 'nothing unescaped');

    $t->psql(q{UPDATE accounts SET display_name = '<script>alert(1)</script>' WHERE username = 'carol'});
    $res = get('/@carol');
    is($res->code, 200, 'no Accept: HTML');
    unlike($res->body, qr{<script>alert}, 'a display name cannot inject a script');

    is(get('/@nobody', $BROWSER)->code, 404, 'no such profile: 404');
    is(get('/users/alice', 'image/png')->code, 406, 'nothing acceptable: 406');
}

# --- the instance actor -------------------------------------------------------------
{
    my $key = $t->psql('SELECT public_key FROM accounts WHERE id = -99');
    like($key, qr/^-----BEGIN PUBLIC KEY-----\n/, 'migrate made the instance actor with its key');
    like($t->psql('SELECT private_key FROM accounts WHERE id = -99'),
         qr/^-----BEGIN RSA PRIVATE KEY-----\n/, 'and its private key');
    my ($rc, $out, $err) = $t->worker_cli('migrate');
    is($rc, 0, 'migrate again') or diag $err;
    is($t->psql('SELECT public_key FROM accounts WHERE id = -99'), $key, 'the key is kept');

    for my $accept ($AP, $BROWSER) {
        my $res = get('/actor', $accept);
        is($res->code, 200, "/actor for $accept");
        is($res->headers->content_type, 'application/activity+json; charset=utf-8', 'JSON always');
        is_deeply($res->json, {
            '@context' => $actor_context,
            id => "$base/actor",
            type => 'Application',
            inbox => "$base/actor/inbox",
            outbox => "$base/actor/outbox",
            preferredUsername => $domain,
            url => "$base/about/more?instance_actor=true",
            manuallyApprovesFollowers => true,
            publicKey => { id => "$base/actor#main-key", owner => "$base/actor", publicKeyPem => $key },
            endpoints => { sharedInbox => "$base/inbox" },
        }, 'the instance actor with Mastodon\'s restricted fields');
    }

    my ($res, $o) = ap_get('/actor/outbox');
    is($o->{id}, "$base/actor/outbox", 'the instance actor\'s outbox');
    is($o->{totalItems}, 0, 'empty');
}

# --- Notes -------------------------------------------------------------------------------
sub post {
    my ($h, %form) = @_;
    my $res = $t->ua->post('/api/v1/statuses' => $h => form => \%form)->result;
    $res->code == 200 or die 'post: ' . $res->code . ' ' . $res->body;
    return $res->json;
}

my $pub = post($ha, status => "Hello \@bob #Cats", visibility => 'public', language => 'en');
my $unl = post($ha, status => 'quiet', visibility => 'unlisted');
my $prv = post($ha, status => 'followers only', visibility => 'private');
my $dm  = post($ha, status => "\@bob psst", visibility => 'direct');
my $del = post($ha, status => 'soon gone', visibility => 'public');
is($t->ua->delete("/api/v1/statuses/$del->{id}" => $ha)->result->code, 200, 'deleted one');

my $conv_tag = sub {
    my ($id) = @_;
    my ($cid, $date) = split /\|/, $t->psql("SELECT c.id || '|' || to_char(c.created_at, 'YYYY-MM-DD')"
        . " FROM statuses s JOIN conversations c ON c.id = s.conversation_id WHERE s.id = $id");
    return "tag:$domain,$date:objectId=$cid:objectType=Conversation";
};

{
    my ($res, $n) = ap_get("/users/alice/statuses/$pub->{id}");
    is($res->code, 200, 'a public Note');
    is($res->headers->content_type, 'application/activity+json; charset=utf-8', 'activity+json');
    my $content = delete $n->{content};
    my $map = delete $n->{contentMap};
    my $published = delete $n->{published};
    my $uri = "$base/users/alice/statuses/$pub->{id}";
    is_deeply($n, {
        '@context' => [
            'https://www.w3.org/ns/activitystreams',
            { ostatus => 'http://ostatus.org#', atomUri => 'ostatus:atomUri',
              inReplyToAtomUri => 'ostatus:inReplyToAtomUri', conversation => 'ostatus:conversation',
              sensitive => 'as:sensitive', toot => 'http://joinmastodon.org/ns#',
              votersCount => 'toot:votersCount', Hashtag => 'as:Hashtag' },
        ],
        id => $uri,
        type => 'Note',
        summary => undef,
        inReplyTo => undef,
        url => "$base/\@alice/$pub->{id}",
        attributedTo => "$base/users/alice",
        to => [ $PUBLIC ],
        cc => [ "$base/users/alice/followers", "$base/users/bob" ],
        sensitive => false,
        atomUri => $uri,
        inReplyToAtomUri => undef,
        conversation => $conv_tag->($pub->{id}),
        attachment => [],
        tag => [
            { type => 'Mention', href => "$base/users/bob", name => '@bob' },
            { type => 'Hashtag', href => "$base/tags/cats", name => '#cats' },
        ],
        replies => {
            id => "$uri/replies", type => 'Collection',
            first => { type => 'CollectionPage', next => "$uri/replies?only_other_accounts=true&page=true",
                       partOf => "$uri/replies", items => [] },
        },
        likes => { id => "$uri/likes", type => 'Collection', totalItems => 0 },
        shares => { id => "$uri/shares", type => 'Collection', totalItems => 0 },
    }, 'the Note, field by field') or diag explain $n;
    is($content, $pub->{content}, 'content: the HTML the API shows');
    like($content, qr{href="\Q$base\E/\@bob"}, 'the mention linked');
    is_deeply($map, { en => $content }, 'contentMap by language');
    like($published, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'published, ISO 8601 in seconds');

    ($res, $n) = ap_get("/users/alice/statuses/$unl->{id}");
    is_deeply([$n->{to}, $n->{cc}], [["$base/users/alice/followers"], [$PUBLIC]],
        'unlisted: to the followers, cc Public');
    is_deeply($n->{contentMap}, { en => $n->{content} }, 'the default language: en');

    # Note at the status's url too
    ($res, $n) = ap_get("/\@alice/$pub->{id}");
    is($n->{id}, "$base/users/alice/statuses/$pub->{id}", '/@alice/ID serves the Note');

    # not served: private, direct (no signature: nobody may see them), deleted,
    # another account's path, not a number
    for my $case ([$prv->{id}, 'private'], [$dm->{id}, 'direct'], [$del->{id}, 'deleted']) {
        is(get("/users/alice/statuses/$case->[0]", $AP)->code, 404, "$case->[1]: 404");
        is(get("/users/alice/statuses/$case->[0]/activity", $AP)->code, 404, "$case->[1] activity: 404");
        is(get("/users/alice/statuses/$case->[0]/replies", $AP)->code, 404, "$case->[1] replies: 404");
    }
    is(get("/users/bob/statuses/$pub->{id}", $AP)->code, 404, 'under another account: 404');
    is(get('/users/alice/statuses/12x', $AP)->code, 404, 'not an id: 404');
    is(get('/users/alice/statuses/9223372036854775808', $AP)->code, 404, 'beyond a bigint: 404');
    is(get('/users/alice/statuses/99999999999999999999', $AP)->code, 404, 'too long: 404');
    is(get("/users/sam/statuses/$pub->{id}", $AP)->code, 403, 'a suspended account (for now): 403, AccountOwnedConcern');

    # browsers
    $res = get("/users/alice/statuses/$pub->{id}", $BROWSER);
    is($res->code, 301, 'a browser is redirected');
    is($res->headers->location, "$base/\@alice/$pub->{id}", 'to the status page');
    is(get("/\@alice/$pub->{id}", $BROWSER)->code, 200, 'which is a page');
}

# the activity: Create, or Announce for a reblog
{
    my ($res, $c) = ap_get("/users/alice/statuses/$pub->{id}/activity");
    is($res->code, 200, 'the activity');
    is($c->{type}, 'Create', 'Create');
    is($c->{id}, "$base/users/alice/statuses/$pub->{id}/activity", 'its id');
    is($c->{actor}, "$base/users/alice", 'actor');
    is_deeply([$c->{to}, $c->{cc}], [[$PUBLIC], ["$base/users/alice/followers", "$base/users/bob"]],
        'addressed as the Note');
    is($c->{object}{id}, "$base/users/alice/statuses/$pub->{id}", 'the Note inside');
    is($c->{published}, $c->{object}{published}, 'published');

    my $rb = $t->ua->post("/api/v1/statuses/$pub->{id}/reblog" => $hc)->result->json;
    ($res, $c) = ap_get("/users/carol/statuses/$rb->{id}/activity");
    is($c->{type}, 'Announce', 'a reblog is an Announce');
    is($c->{object}, "$base/users/alice/statuses/$pub->{id}", 'of the original, by URI');
    is_deeply($c->{cc}, ["$base/users/alice", "$base/users/carol/followers"], 'cc the author, followers');
    is($c->{'@context'}, 'https://www.w3.org/ns/activitystreams', 'the plain context');

    $res = get("/users/carol/statuses/$rb->{id}", $AP);
    is($res->code, 302, 'a reblog\'s Note: to the original');
    is($res->headers->location, "$base/\@alice/$pub->{id}", 'its url');
}

# replies: the author's own first, then the others'
{
    my $self1 = post($ha, status => 'and more', visibility => 'public', in_reply_to_id => $pub->{id});
    my $other = post($hb, status => 'reply', visibility => 'unlisted', in_reply_to_id => $pub->{id});
    post($hb, status => 'hidden reply', visibility => 'private', in_reply_to_id => $pub->{id});
    my $uri = "$base/users/alice/statuses/$pub->{id}";

    my ($res, $n) = ap_get("/users/alice/statuses/$pub->{id}");
    is_deeply($n->{replies}{first}, {
        type => 'CollectionPage', next => "$uri/replies?min_id=$self1->{id}&page=true",
        partOf => "$uri/replies", items => [ "$base/users/alice/statuses/$self1->{id}" ],
    }, 'the Note lists its self-replies');

    my ($res2, $r) = ap_get("/users/alice/statuses/$pub->{id}/replies");
    is($r->{id}, "$uri/replies", 'the replies collection');
    is($r->{type}, 'Collection', 'a Collection');
    is($r->{first}{id}, "$uri/replies?page=true", 'its first page');
    is(scalar @{ $r->{first}{items} }, 1, 'one self-reply');
    is($r->{first}{items}[0]{id}, "$base/users/alice/statuses/$self1->{id}", 'inlined as a Note');
    is($r->{first}{items}[0]{inReplyTo}, $uri, 'replying to the status');
    is($r->{first}{next}, "$uri/replies?only_other_accounts=true&page=true", 'then the others');

    ($res2, $r) = ap_get("/users/alice/statuses/$pub->{id}/replies?only_other_accounts=true&page=true");
    is($r->{type}, 'CollectionPage', 'a page');
    is($r->{id}, "$uri/replies?only_other_accounts=true&page=true", 'its id');
    is_deeply([map { $_->{id} } @{ $r->{items} }], ["$base/users/bob/statuses/$other->{id}"],
        'the others\' public and unlisted replies');
    ok(!exists $r->{next}, 'the last page');
}

# likes and shares
{
    $t->ua->post("/api/v1/statuses/$pub->{id}/favourite" => $hb)->result;
    my ($res, $l) = ap_get("/users/alice/statuses/$pub->{id}/likes");
    is_deeply($l, { '@context' => 'https://www.w3.org/ns/activitystreams',
                    id => "$base/users/alice/statuses/$pub->{id}/likes", type => 'Collection',
                    totalItems => 1 }, 'likes: the count');
    ($res, $l) = ap_get("/users/alice/statuses/$pub->{id}/shares");
    is($l->{totalItems}, 1, 'shares: the count');
}

# --- the outbox -----------------------------------------------------------------------
{
    my $dave = $t->user('dave');
    my $hd = $t->bearer($dave->{token});
    my @ids;
    for my $i (1 .. 27) {
        push @ids, post($hd, status => "post $i", visibility => $i % 5 == 0 ? 'private' : 'public')->{id};
    }
    my @shown = reverse map { $ids[$_ - 1] } grep { $_ % 5 } 1 .. 27;
    my $count = $t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $dave->{account_id}");
    my $outbox = "$base/users/dave/outbox";

    my ($res, $o) = ap_get('/users/dave/outbox');
    is_deeply($o, { '@context' => 'https://www.w3.org/ns/activitystreams', id => $outbox,
                    type => 'OrderedCollection', totalItems => $count,
                    first => "$outbox?page=true", last => "$outbox?min_id=0&page=true" },
        'the outbox');
    like($res->headers->cache_control, qr/max-age=180/, 'cached 3 minutes');

    ($res, $o) = ap_get('/users/dave/outbox?page=true');
    is($o->{type}, 'OrderedCollectionPage', 'a page');
    is($o->{id}, "$outbox?page=true", 'its id');
    is($o->{partOf}, $outbox, 'partOf');
    my @got = map { $_->{object}{id} } @{ $o->{orderedItems} };
    is(scalar @got, 20, '20 a page');
    is_deeply(\@got, [ map { "$base/users/dave/statuses/$_" } @shown[0 .. 19] ],
        'newest first, no private status');
    is($o->{orderedItems}[0]{type}, 'Create', 'Creates');
    is($o->{next}, "$outbox?max_id=$shown[19]&page=true", 'next');
    is($o->{prev}, "$outbox?min_id=$shown[0]&page=true", 'prev');

    ($res, $o) = ap_get($t->path_of($o->{next}));
    is_deeply([ map { $_->{object}{id} } @{ $o->{orderedItems} } ],
              [ map { "$base/users/dave/statuses/$_" } @shown[20 .. $#shown] ], 'the rest');
    ok(!exists $o->{next}, 'no next on the last page');
    is($o->{id}, "$outbox?max_id=$shown[19]&page=true", 'its id keeps max_id');

    ($res, $o) = ap_get($t->path_of("$outbox?min_id=0&page=true"));
    is($o->{id}, "$outbox?min_id=0&page=true", 'the last page (min_id=0)');
    is_deeply([ map { $_->{object}{id} } @{ $o->{orderedItems} } ],
              [ map { "$base/users/dave/statuses/$_" } @shown[$#shown - 19 .. $#shown] ],
              'the oldest 20, newest first');

    ($res, $o) = ap_get("/users/dave/outbox?min_id=$shown[3]&page=true");
    is_deeply([ map { $_->{object}{id} } @{ $o->{orderedItems} } ],
              [ map { "$base/users/dave/statuses/$_" } @shown[0 .. 2] ], 'min_id: the newer ones, newest first');

    # a reblog is an Announce in the outbox
    my $rb = $t->ua->post("/api/v1/statuses/$pub->{id}/reblog" => $hd)->result->json;
    ($res, $o) = ap_get('/users/dave/outbox?page=true');
    is($o->{orderedItems}[0]{type}, 'Announce', 'a reblog: Announce');
    is($o->{orderedItems}[0]{id}, "$base/users/dave/statuses/$rb->{id}/activity", 'its id');

    is(get('/users/nobody/outbox', $AP)->code, 404, 'no such outbox');
}

# --- followers and following ------------------------------------------------------------
{
    my $erin = $t->user('erin');
    my @f;
    for my $i (1 .. 13) {
        push @f, $t->psql("INSERT INTO accounts (username) VALUES ('f$i') RETURNING id");
    }
    my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri)
        VALUES ('far', 'remote.example', 'https://remote.example/users/far') RETURNING id});
    for my $id (@f, $remote) {
        $t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($id, $erin->{account_id})");
    }
    $t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($erin->{account_id}, $f[0])");
    $t->psql("UPDATE account_stats SET followers_count = 14, following_count = 1 WHERE account_id = $erin->{account_id}");
    my $followers = "$base/users/erin/followers";

    my ($res, $c) = ap_get('/users/erin/followers');
    is_deeply($c, { '@context' => 'https://www.w3.org/ns/activitystreams', id => $followers,
                    type => 'OrderedCollection', totalItems => 14, first => "$followers?page=1" },
        'the followers collection');

    ($res, $c) = ap_get('/users/erin/followers?page=1');
    is($c->{id}, "$followers?page=1", 'page 1');
    is($c->{type}, 'OrderedCollectionPage', 'a page');
    is($c->{totalItems}, 14, 'with the count');
    is($c->{partOf}, $followers, 'partOf');
    is($c->{next}, "$followers?page=2", 'next');
    ok(!exists $c->{prev}, 'no prev on page 1');
    is(scalar @{ $c->{orderedItems} }, 12, '12 a page');
    is($c->{orderedItems}[0], 'https://remote.example/users/far', 'newest first; a remote one by its uri');
    is($c->{orderedItems}[1], "$base/users/f13", 'a local one built');

    ($res, $c) = ap_get('/users/erin/followers?page=2');
    is_deeply($c->{orderedItems}, [ "$base/users/f2", "$base/users/f1" ], 'page 2: the rest');
    is($c->{prev}, "$followers?page=1", 'prev');
    ok(!exists $c->{next}, 'no next');

    ($res, $c) = ap_get('/users/erin/following?page=1');
    is_deeply($c->{orderedItems}, [ "$base/users/f1" ], 'following');
    is($c->{totalItems}, 1, 'following count');

    # hidden lists: the count only, pages refused
    $t->psql("UPDATE accounts SET hide_collections = true WHERE id = $erin->{account_id}");
    ($res, $c) = ap_get('/users/erin/followers');
    is_deeply($c, { '@context' => 'https://www.w3.org/ns/activitystreams', id => $followers,
                    type => 'OrderedCollection', totalItems => 14 }, 'hidden: id, type, totalItems');
    is(get('/users/erin/followers?page=1', $AP)->code, 403, 'hidden: pages 403');
    is(get('/users/erin/following?page=1', $AP)->code, 403, 'following too');
    is(get('/users/nobody/followers', $AP)->code, 404, 'no such account');
}

# --- featured statuses and tags -----------------------------------------------------------
{
    is($t->ua->post("/api/v1/statuses/$unl->{id}/pin" => $ha)->result->code, 200, 'pinned unlisted');
    is($t->ua->post("/api/v1/statuses/$prv->{id}/pin" => $ha)->result->code, 200, 'pinned private');
    my ($res, $c) = ap_get('/users/alice/collections/featured');
    is($c->{id}, "$base/users/alice/collections/featured", 'featured');
    is($c->{type}, 'OrderedCollection', 'ordered');
    is($c->{totalItems}, 2, 'two');
    is($c->{orderedItems}[0], "$base/users/alice/statuses/$prv->{id}", 'a private pin: its URI only');
    is($c->{orderedItems}[1]{id}, "$base/users/alice/statuses/$unl->{id}", 'an unlisted pin: its Note');

    my $tag = $t->psql(q{SELECT id FROM tags WHERE name = 'cats'});
    my $shown_name = $t->psql("SELECT coalesce(display_name, name) FROM tags WHERE id = $tag");
    $t->psql("INSERT INTO featured_tags (account_id, tag_id, name) VALUES ($alice->{account_id}, $tag, 'Cats')");
    ($res, $c) = ap_get('/users/alice/collections/tags');
    is_deeply($c, {
        '@context' => [ 'https://www.w3.org/ns/activitystreams', { Hashtag => 'as:Hashtag' } ],
        id => "$base/users/alice/collections/tags", type => 'Collection', totalItems => 1,
        items => [ { type => 'Hashtag', href => "$base/\@alice/tagged/cats", name => "#$shown_name" } ],
    }, 'featured tags') or diag explain $c;
}

# --- split domains: acct: names the account domain, URLs the web domain ---------------------
{
    my ($rc, $out) = $t->nginx_test_config(http_config => 'mastodon_web_domain https://x.example/;');
    isnt($rc, 0, 'a URL is no web domain');
    like($out, qr/invalid "mastodon_web_domain" value/, 'said so');

    my $port = $t->port;
    ok($t->reconfigure_nginx(http_config => "mastodon_domain social.example;\n"
                                           . "    mastodon_web_domain localhost:$port;"),
       'LOCAL_DOMAIN social.example, WEB_DOMAIN localhost:port');
    for my $r ('acct:alice@social.example', "acct:alice\@localhost:$port") {
        my $res = get('/.well-known/webfinger?resource=' . Mojo::Util::url_escape($r));
        is($res->code, 200, "$r found");
        is($res->json->{subject}, 'acct:alice@social.example', 'the subject names the account domain');
        is($res->json->{links}[1]{href}, "http://localhost:$port/users/alice", 'self on the web domain');
    }
    my $res = get('/.well-known/webfinger?resource=acct:social.example@social.example');
    is($res->json->{subject}, 'acct:social.example@social.example', 'the instance actor by the account domain');
    my ($r2, $a) = ap_get('/users/alice');
    is($a->{id}, "http://localhost:$port/users/alice", 'ids on the web domain');
    ($r2, $a) = ap_get('/actor');
    is($a->{preferredUsername}, 'social.example', 'the instance actor is named by the account domain');
    is($m->get_ok('/api/v2/instance')->tx->res->json->{domain}, 'social.example',
        'the instance\'s domain is LOCAL_DOMAIN');
}

$t->done;
