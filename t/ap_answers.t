# ActivityPub answers as Mastodon's: errors to ActivityPub clients are
# respond_with_error's JSON ({"error": Rack's words}); the ".json" format
# suffix of Rails' resources asks for JSON whatever the Accept;
# AccountOwnedConcern: 410 for a deleted account (suspended for good), 403
# for one suspended for now (its actor still served); /users/LOCAL_DOMAIN is
# no actor (the instance actor lives at /actor); the followers on the
# signer's site at /users/:name/followers_synchronization, signed only.
use strict;
use warnings;
use Test::More;
use Mojo::JSON qw(decode_json);

use lib 't/lib';
use MastodonTest;
use HttpSigTest;

my $t = MastodonTest->new(worker => 0);
my $ua = $t->ua;
my $host = $t->domain;
my $base = $t->public_base;

my $AP = 'application/activity+json';
my $BROWSER = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
my $pub = $ua->post('/api/v1/statuses' => $ha => form => { status => 'hello' })->result->json;

sub get {
    my ($path, $h) = @_;
    $h = { Accept => $h } if defined $h && !ref $h;
    my $tx = $ua->build_tx(GET => $t->base . $path);
    $tx->req->headers->header($_ => $h->{$_}) for keys %{ $h // {} };
    $ua->start($tx);
    return $tx->res;
}

sub json_error {
    my ($res) = @_;
    return undef unless ($res->headers->content_type // '') =~ m{^application/json};
    return eval { decode_json($res->body)->{error} };
}

# --- errors to ActivityPub clients: JSON, Rack's words ------------------------------------
for my $case (['/users/nobody', 404, 'Not Found'],
              ['/@nobody', 404, 'Not Found'],
              ['/users/alice/statuses/999999', 404, 'Not Found'],
              ['/users/nobody/outbox', 404, 'Not Found'],
              ['/users/nobody/followers', 404, 'Not Found'],
              ['/users/nobody/collections/featured', 404, 'Not Found']) {
    my ($path, $code, $error) = @$case;
    my $res = get($path, $AP);
    is($res->code, $code, "$path: $code");
    is(json_error($res), $error, "$path: {\"error\":\"$error\"}") if defined $error;
}

{
    my $res = get('/@nobody', $BROWSER);
    is($res->code, 404, 'a browser: 404 too');
    unlike($res->headers->content_type // '', qr/json/, '... as a page, not JSON');
}

# --- the ".json" suffix -----------------------------------------------------------------------
{
    for my $path ('/users/alice.json', '/@alice.json') {
        my $res = get($path, $BROWSER);
        is($res->code, 200, "$path for a browser: 200");
        like($res->headers->content_type, qr{^application/activity\+json}, '... ActivityPub JSON');
        is(eval { $res->json->{id} }, "$base/users/alice", '... the actor');
    }

    my $res = get("/users/alice/statuses/$pub->{id}.json");
    is($res->code, 200, 'a status with .json: 200');
    is(eval { $res->json->{type} }, 'Note', '... its Note');
    is(get("/\@alice/$pub->{id}.json")->json->{id}, "$base/users/alice/statuses/$pub->{id}",
       '/@alice/ID.json too');
    is(eval { get("/users/alice/statuses/$pub->{id}/activity.json")->json->{type} }, 'Create',
       'the activity');
    for my $c (qw(outbox followers following collections/featured collections/tags)) {
        my $r = get("/users/alice/$c.json", $BROWSER);
        is($r->code, 200, "/users/alice/$c.json: 200");
        is(eval { $r->json->{id} }, "$base/users/alice/$c", '... the collection');
    }
    is(eval { get('/actor.json', $BROWSER)->json->{type} }, 'Application', '/actor.json');

    $res = get('/users/nobody.json', $BROWSER);
    is($res->code, 404, 'an unknown account with .json: 404');
    is(json_error($res), 'Not Found', '... as JSON');
    is(get('/api/v1/instance.json')->code, 200, 'the API keeps its own .json');
}

# --- AccountOwnedConcern: deleted (410), suspended for now (403) -------------------------
{
    my $gone = $t->user('gone');
    my $st = $ua->post('/api/v1/statuses' => $t->bearer($gone->{token}) => form => { status => 'bye' })
        ->result->json;
    my ($rc, $out, $err) = $t->worker_cli('accounts', 'delete', 'gone');
    is($rc, 0, 'accounts delete gone') or diag "$out$err";

    for my $path ('/users/gone', "/users/gone/statuses/$st->{id}", "/\@gone/$st->{id}",
                  '/users/gone/outbox', '/users/gone/followers', '/users/gone.json') {
        my $res = get($path, $AP);
        is($res->code, 410, "$path of a deleted account: 410");
        is(json_error($res), 'Gone', '... {"error":"Gone"}');
        is($res->headers->cache_control, 'max-age=180, public', '... cached 3 minutes');
    }
    is(get('/@gone', $BROWSER)->code, 410, 'its page: 410');

    my $sam = $t->user('sam');
    my $s2 = $ua->post('/api/v1/statuses' => $t->bearer($sam->{token}) => form => { status => 'x' })
        ->result->json;
    $t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $sam->{account_id}");

    my $res = get('/users/sam', $AP);
    is($res->code, 200, 'suspended for now: its actor is served');
    is(eval { $res->json->{suspended} }, Mojo::JSON::true, '... suspended');
    for my $path ("/users/sam/statuses/$s2->{id}", '/users/sam/outbox', '/users/sam/followers') {
        $res = get($path, $AP);
        is($res->code, 403, "$path: 403");
        is(json_error($res), 'Forbidden', '... {"error":"Forbidden"}');
    }
    is(get('/@sam', $BROWSER)->code, 403, 'its page: 403');
}

# --- /users/LOCAL_DOMAIN: not the instance actor's address -----------------------------------
{
    my $res = get("/users/$host", $AP);
    is($res->code, 404, "/users/$host: 404 (the instance actor has no user: check_account_confirmation)");
    is(json_error($res), 'Not Found', '... as JSON');
    is(get('/actor', $AP)->code, 200, 'the instance actor is at /actor');
}

# --- followers_synchronization ---------------------------------------------------------------
{
    my $key = HttpSigTest::key($t->dir, 'bob');
    my $bob_uri = 'https://remote.test/users/bob';
    my $key_id = "$bob_uri#main-key";
    (my $pem = $key->{pub}) =~ s/'/''/g;
    $t->psql(qq{INSERT INTO accounts (username, domain, uri, public_key)
        VALUES ('bob', 'remote.test', '$bob_uri', '$pem')});
    $t->psql(q{INSERT INTO accounts (username, domain, uri) VALUES
        ('zed', 'remote.test', 'https://remote.test/users/zed'),
        ('inst', 'remote.test', 'https://remote.test'),
        ('evil', 'remote.test.evil', 'https://remote.test.evil/users/evil'),
        ('other', 'other.test', 'https://other.test/users/other')});
    $t->psql(qq{INSERT INTO follows (account_id, target_account_id)
        SELECT id, $alice->{account_id} FROM accounts WHERE domain IS NOT NULL});
    $t->psql(qq{INSERT INTO follows (account_id, target_account_id)
        SELECT id, $alice->{account_id} FROM accounts WHERE username = 'gone'});

    my $path = '/users/alice/followers_synchronization';
    my $res = get($path, $AP);
    is($res->code, 401, 'unsigned: 401 (whatever mastodon_authorized_fetch says)');
    is(json_error($res), 'Request not signed', "Mastodon's error");

    my $signed = sub {
        my ($p, $accept) = @_;
        return { Accept => $accept, %{ HttpSigTest::cavage(key => $key, key_id => $key_id,
            host => $host, path => $p) } };
    };
    $res = get($path, $signed->($path, $BROWSER));
    is($res->code, 200, 'signed: 200, JSON whatever the Accept');
    like($res->headers->content_type, qr{^application/activity\+json}, '... ActivityPub JSON');
    is_deeply($res->json, {
        '@context' => 'https://www.w3.org/ns/activitystreams',
        id => "$base/users/alice/followers_synchronization",
        type => 'OrderedCollection',
        orderedItems => [ 'https://remote.test', $bob_uri, 'https://remote.test/users/zed' ],
    }, "the followers on the signer's site, nobody else's");

    $res = get("$path.json", $signed->("$path.json", $AP));
    is($res->code, 200, 'with .json too');

    $res = get('/users/nobody/followers_synchronization',
               $signed->('/users/nobody/followers_synchronization', $AP));
    is($res->code, 404, 'an unknown account: 404');
    is(get('/users/gone/followers_synchronization',
           $signed->('/users/gone/followers_synchronization', $AP))->code, 410, 'a deleted one: 410');

    # the inboxes (ActivityPub::InboxesController): errors in JSON too
    my $post = sub {
        my ($p, $body, $h) = @_;
        my $tx = $ua->build_tx(POST => $t->base . $p => $h // {} => $body);
        $ua->start($tx);
        return $tx->res;
    };
    my $body = qq({"id":"https://remote.test/a/1","type":"Like","actor":"$bob_uri","object":"$base/users/alice"});
    $res = $post->('/users/no.body/inbox', $body, { 'Content-Type' => $AP });
    is($res->code, 404, 'an inbox of no account: 404');
    is(json_error($res), 'Record not found', "... Api::ErrorHandling's words");
    $res = $post->('/users/nobody/inbox', $body, { 'Content-Type' => $AP,
        %{ HttpSigTest::cavage(key => $key, key_id => $key_id, host => $host, path => '/users/nobody/inbox',
                               body => $body) } });
    is($res->code, 404, 'signed, to an unknown account: 404');
    is(json_error($res), 'Record not found', '... as JSON');
    is($t->psql('SELECT count(*) FROM inbox_activities'), 0, '... nothing stored');
}

$t->done;
