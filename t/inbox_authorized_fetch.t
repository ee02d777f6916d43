# Authorized fetch (Mastodon's secure mode, mastodon_authorized_fetch on):
# ActivityPub GETs of what lives under /users/ and /@ need a valid
# signature covering (request-target) host date, a suspended domain gets
# 403; HTML pages and the API stay open.  Off (the default), nothing is
# asked.
use strict;
use warnings;
use Test::More;
use Mojo::JSON qw(decode_json);
use Time::HiRes qw(sleep);

use lib 't/lib';
use MastodonTest;
use HttpSigTest;

my $t = MastodonTest->new(worker => 0,
    http_config => 'mastodon_authorized_fetch on; mastodon_key_fetch_wait 1s;'
                 . ' mastodon_key_cache_valid 1s;');
my $ua = $t->ua;
my $host = $t->domain;
my $alice = $t->user('alice');

my $key = HttpSigTest::key($t->dir, 'bob');
my $bob_uri = 'https://remote.test/users/bob';
my $key_id = "$bob_uri#main-key";
(my $pub = $key->{pub}) =~ s/'/''/g;
$t->psql(qq{INSERT INTO accounts (username, domain, uri, public_key)
    VALUES ('bob', 'remote.test', '$bob_uri', '$pub')});

my $AP = 'application/activity+json';

sub get {
    my ($path, $h) = @_;
    my $tx = $ua->build_tx(GET => $t->base . $path);
    $tx->req->headers->header($_ => $h->{$_}) for keys %{ $h // {} };
    $ua->start($tx);
    return $tx->res;
}

sub signed {
    my ($path, %o) = @_;
    return { Accept => $AP, %{ HttpSigTest::cavage(key => $key, key_id => $key_id, host => $host,
        path => $path, %o) } };
}

# what the route answers when it may go on (the actor document, or until it
# exists the redirect to the profile page)
my $open = get('/users/alice')->code;
ok($open == 200 || $open == 301, "an HTML GET of /users/alice is not asked to sign ($open)");

my $res = get('/users/alice', { Accept => $AP });
is($res->code, 401, 'an unsigned ActivityPub GET: 401');
is(decode_json($res->body)->{error}, 'Request not signed', "Mastodon's error");

$res = get('/users/alice', { Accept => 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"' });
is($res->code, 401, 'ld+json too');

$res = get('/users/alice', signed('/users/alice'));
ok($res->code != 401 && $res->code != 403 && $res->code != 503, 'signed: the route answers ('
   . $res->code . ')');

$res = get('/users/alice/statuses/1', signed('/users/alice/statuses/1'));
ok($res->code != 401 && $res->code != 403, 'a status URI signed: the route answers');

$res = get('/users/alice', signed('/users/alice', headers => '(request-target) date'));
is($res->code, 401, 'host not signed: 401');
like(decode_json($res->body)->{error}, qr/Host header to be signed/, 'says so');

$res = get('/users/alice', signed('/users/alice', date => time - 7200));
is($res->code, 401, 'an old Date: 401');

$res = get('/users/alice', signed('/users/alice/statuses/1'));
is($res->code, 401, 'the signature of another path: 401');

# the signer is the viewer: a follower's server gets the followers-only posts
my $prv = $ua->post('/api/v1/statuses' => $t->bearer($alice->{token})
    => form => { status => 'followers only', visibility => 'private' })->result->json;
my $path = "/users/alice/statuses/$prv->{id}";
is(get($path, signed($path))->code, 404, 'a private status to a signer who does not follow: 404');
my $bob_id = $t->psql("SELECT id FROM accounts WHERE uri = '$bob_uri'");
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($bob_id, $alice->{account_id})");
$res = get($path, signed($path));
is($res->code, 200, "a private status to a follower's signed fetch: 200");
is(eval { decode_json($res->body)->{content} }, '<p>followers only</p>', 'the Note');
like($res->headers->cache_control // '', qr/private/, 'cached privately (a signature decided)');
is(get($path, { Accept => $AP })->code, 401, 'still not unsigned');

# the instance actor stays open: servers fetch it to verify our signed fetches
is(get('/actor', { Accept => $AP })->code, 200, 'the instance actor is open');
is(get('/actor/outbox', { Accept => $AP })->code, 401, 'its outbox is not (Mastodon\'s OutboxesController)');

is(get('/api/v1/instance', { Accept => $AP })->code, 200, 'the API stays open');
is(get('/.well-known/nodeinfo', { Accept => $AP })->code, 200, 'nodeinfo stays open');

# a suspended domain gets nothing, even with a good signature
# (a cached key keeps its domain's state for mastodon_key_cache_valid)
$t->psql(q{INSERT INTO domain_blocks (domain, severity) VALUES ('remote.test', 1)});
sleep 2.1;
$res = get('/users/alice', signed('/users/alice'));
is($res->code, 403, 'a suspended domain: 403');
is(decode_json($res->body)->{error}, "Public key not found for key $key_id", "Mastodon's error");

$t->done;
