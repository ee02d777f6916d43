# GET /api/v2/search, its exact part: an account address or a URL finds a
# known account or status (a status only if the viewer may see it); with
# resolve=true and a user, an unknown one is asked of the worker (job
# `resolve`, answer in Redis mastodon:resolve:<sha256 hex of q>) for at most
# mastodon_resolve_wait, then the answer (empty when it did not come).
use strict;
use warnings;
use Test::More;
use Mojo::JSON qw(decode_json);
use Digest::SHA qw(sha256_hex);
use POSIX ();

use lib 't/lib';
use MastodonTest;

my $t = MastodonTest->new(worker => 0, http_config => 'mastodon_resolve_wait 2s;');
my $ua = $t->ua;
my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $base = $t->public_base;

sub search {
    my ($q, %o) = @_;
    my $tx = $ua->get($t->base . '/api/v2/search' => ($o{token} ? $t->bearer($o{token}) : {})
        => form => { q => $q, %{ $o{params} // {} } });
    return $tx->res;
}
sub found {
    my ($res) = @_;
    return undef unless $res->code == 200;
    my $b = decode_json($res->body);
    return { accounts => [map { $_->{acct} } @{ $b->{accounts} }],
             statuses => [map { $_->{id} } @{ $b->{statuses} }], raw => $b };
}
sub resolve_jobs {
    my ($q) = @_;
    (my $e = $q) =~ s/'/''/g;
    return $t->psql(qq{SELECT count(*) FROM job_outbox WHERE type = 'resolve'
        AND queue = 'default' AND args::json->>'q' = '$e'});
}

my $carol_id = $t->psql(q{INSERT INTO accounts (username, domain, uri, url)
    VALUES ('Carol', 'remote.test', 'https://remote.test/users/Carol', 'https://remote.test/@Carol')
    RETURNING id});
my $public = $t->psql(qq{INSERT INTO statuses (uri, url, text, account_id, local, visibility)
    VALUES ('https://remote.test/users/Carol/statuses/1', 'https://remote.test/\@Carol/1',
    'hello', $carol_id, false, 0) RETURNING id});
my $private = $t->psql(qq{INSERT INTO statuses (uri, url, text, account_id, local, visibility)
    VALUES ('https://remote.test/users/Carol/statuses/2', 'https://remote.test/\@Carol/2',
    'secret', $carol_id, false, 2) RETURNING id});
my $local = $t->psql(qq{INSERT INTO statuses (text, account_id, local, visibility)
    VALUES ('mine', $bob->{account_id}, true, 0) RETURNING id});

# --- the shape and the parameters ------------------------------------------------------

my $res = search('nothing in particular', token => $alice->{token});
is($res->code, 200, 'a word: 200');
is_deeply(decode_json($res->body), { accounts => [], statuses => [], hashtags => [] },
    'a word nothing matches: empty results');

$res = $ua->get($t->base . '/api/v2/search' => $t->bearer($alice->{token}))->res;
is($res->code, 400, 'no q: 400');
like(decode_json($res->body)->{error}, qr/param is missing or the value is empty: q/,
    "Rails' message");

$res = search('@bob@' . $t->domain, params => { resolve => 'true' });
is($res->code, 401, 'resolve without a user: 401 (Mastodon)');
like(decode_json($res->body)->{error}, qr/resolve remote resources/, 'and why');
$res = search('bob', params => { offset => 1 });
is($res->code, 401, 'offset without a user: 401');
$res = search('bob', token => $alice->{token}, params => { limit => -1 });
is($res->code, 400, 'a negative limit: 400');

my $app_token = $t->token(user_id => undef, scopes => 'read');
$res = search('@unknown@elsewhere.test', token => $app_token, params => { resolve => 'true' });
is($res->code, 401, 'an app token is no user: resolve refused');
is(resolve_jobs('@unknown@elsewhere.test'), 0, 'and not attempted');

$res = search('bob', token => $t->token(user_id => $alice->{user_id}, scopes => 'write'));
is($res->code, 403, 'a token without read or read:search: 403');

# --- exact accounts --------------------------------------------------------------------

is_deeply(found(search('@bob@' . $t->domain, token => $alice->{token}))->{accounts}, ['bob'],
    'a local account by @user@our.domain');
is_deeply(found(search('BOB@' . $t->domain))->{accounts}, ['bob'],
    'by user@domain, any case, without a token');
my $f = found(search('@carol@REMOTE.test', token => $alice->{token}));
is_deeply($f->{accounts}, ['Carol@remote.test'], 'a known remote account by acct');
is($f->{raw}{accounts}[0]{id}, $carol_id, 'rendered as the Account entity');
is_deeply($f->{statuses}, [], 'an address finds no statuses');
is_deeply(found(search('@carol@remote.test', token => $alice->{token},
    params => { type => 'statuses' }))->{accounts}, [], 'type=statuses: no accounts');
is_deeply(found(search('@carol@remote.test', token => $alice->{token},
    params => { following => 'true' }))->{accounts}, [], 'following=true: only followed ones');
is_deeply(found(search('https://remote.test/@Carol', token => $alice->{token}))->{accounts},
    ['Carol@remote.test'], "a remote account by its url");
is_deeply(found(search("$base/\@bob", token => $alice->{token}))->{accounts}, ['bob'],
    'a local account by its URL');
is(resolve_jobs('@carol@REMOTE.test'), 0, 'known ones ask nothing of the worker');

# --- statuses by URL, through the visibility rule -----------------------------------------

$f = found(search('https://remote.test/users/Carol/statuses/1', token => $alice->{token}));
is_deeply($f->{statuses}, [$public], 'a public remote status by its uri');
is($f->{raw}{statuses}[0]{account}{acct}, 'Carol@remote.test', 'rendered as the Status entity');
is_deeply(found(search('https://remote.test/@Carol/1'))->{statuses}, [$public],
    'by its url, anonymously');
is_deeply(found(search('https://remote.test/users/Carol/statuses/2',
    token => $alice->{token}))->{statuses}, [], 'a private one its viewer may not see: not found');
$t->psql(qq{INSERT INTO follows (account_id, target_account_id) VALUES ($alice->{account_id}, $carol_id)});
is_deeply(found(search('https://remote.test/users/Carol/statuses/2',
    token => $alice->{token}))->{statuses}, [$private], 'a follower sees it');
is_deeply(found(search("$base/\@bob/$local", token => $alice->{token}))->{statuses}, [$local],
    'a local status by its URL');
is_deeply(found(search("$base/users/alice/statuses/$local", token => $alice->{token}))->{statuses},
    [], "not under another user's URL");

# --- resolving: no worker, the bound passes ------------------------------------------------

my $q = '@dave@elsewhere.test';
$res = search($q, token => $alice->{token}, params => { resolve => 'true' });
is($res->code, 200, 'resolve, nobody answers: 200 after the bound');
is_deeply(decode_json($res->body), { accounts => [], statuses => [], hashtags => [] },
    'the empty result, as when resolving fails');
is(resolve_jobs($q), 1, 'the worker was asked: one resolve job on queue default');
like($t->error_log, qr/"\Q$q\E" not resolved in time/, 'logged');

$res = search('@erin@elsewhere.test', token => $alice->{token});
is_deeply(found($res)->{accounts}, [], 'without resolve an unknown address finds nothing');
is(resolve_jobs('@erin@elsewhere.test'), 0, 'and asks nothing');

# --- resolving: the answer comes while the request waits -------------------------------------

$q = 'frank@elsewhere.test';
my $pid = fork // die "fork: $!";
if (!$pid) {
    # the worker's part, by hand: once asked, store the account, then answer
    $t->wait_for(sub { resolve_jobs($q) }, 30) or POSIX::_exit(1);
    my $id = $t->psql(q{INSERT INTO accounts (username, domain, uri)
        VALUES ('frank', 'elsewhere.test', 'https://elsewhere.test/users/frank') RETURNING id});
    $t->redis('SET', 'mastodon:resolve:' . sha256_hex($q), qq({"account_id":"$id"}), 'EX', '60');
    POSIX::_exit(0);
}
$res = search($q, token => $alice->{token}, params => { resolve => 'true' });
waitpid $pid, 0;
is($?, 0, 'the stand-in worker saw the job and answered');
is_deeply(found($res)->{accounts}, ['frank@elsewhere.test'], 'the resolved account');

# an answer there already (a resolve moments ago): no job
$q = 'https://elsewhere.test/notes/9';
my $gid = $t->psql(q{INSERT INTO accounts (username, domain, uri)
    VALUES ('gina', 'elsewhere.test', 'https://elsewhere.test/users/gina') RETURNING id});
my $gst = $t->psql(qq{INSERT INTO statuses (uri, text, account_id, local, visibility)
    VALUES ('https://elsewhere.test/users/gina/statuses/9', 'x', $gid, false, 0) RETURNING id});
$t->redis('SET', 'mastodon:resolve:' . sha256_hex($q), qq({"status_id":"$gst"}), 'EX', '60');
is_deeply(found(search($q, token => $alice->{token}, params => { resolve => 'true' }))->{statuses},
    [$gst], 'a resolved status (answer already in Redis)');
is(resolve_jobs($q), 0, 'not asked again while the answer lives');

$q = '@hank@elsewhere.test';
$t->redis('SET', 'mastodon:resolve:' . sha256_hex($q), '{"error":"not_found"}', 'EX', '60');
is_deeply(found(search($q, token => $alice->{token}, params => { resolve => 'true' }))->{accounts},
    [], 'not found: empty');

# --- Redis down: a backend outage is a 503, not an empty result ----------------------------

$t->stop_redis;
$res = search('@ivy@elsewhere.test', token => $alice->{token}, params => { resolve => 'true' });
is($res->code, 503, 'Redis down while resolving: 503');
is_deeply(found(search('@carol@remote.test', token => $alice->{token},
    params => { resolve => 'true' }))->{accounts}, ['Carol@remote.test'],
    'a known account needs no Redis');
$t->start_redis;

$t->done;
