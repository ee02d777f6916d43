# Mentions in a post (sql/0040: found through the accounts' (username,
# domain) index): local and remote forms, any case, each account once
# however often it is named, unknown names left out; the answer lists them;
# an edit silences the mentions it drops.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});

my $carol = $t->psql(q{INSERT INTO accounts (username, domain, uri, inbox_url)
    VALUES ('Carol', 'Remote.Example', 'https://remote.example/users/carol',
    'https://remote.example/users/carol/inbox') RETURNING id});
# the same name on another server, and a local-looking remote name
$t->psql(q{INSERT INTO accounts (username, domain, uri) VALUES
    ('carol', 'other.example', 'https://other.example/users/carol'),
    ('bob', 'remote.example', 'https://remote.example/users/bob')});

my $s = $m->post_ok('/api/v1/statuses', $ha, form => {
    status => '@BOB @bob @carol@remote.example @Carol@REMOTE.EXAMPLE @nobody '
            . '@nobody@remote.example hi' })->status_is(200)->tx->res->json;

is_deeply([sort map { $_->{id} } @{ $s->{mentions} }],
          [sort ($bob->{account_id}, $carol)], 'each account mentioned once')
    or diag explain $s->{mentions};
my %acct = map { $_->{id} => $_->{acct} } @{ $s->{mentions} };
is($acct{$bob->{account_id}}, 'bob', 'the local account, not its remote namesake');
is($acct{$carol}, 'Carol@Remote.Example', 'the remote account on its server');
is($t->psql("SELECT count(*) FROM mentions WHERE status_id = $s->{id}"), 2, 'two mention rows');

# an edit: the mentions named no more go silent, the ones named again return
my $e = $m->put_ok("/api/v1/statuses/$s->{id}", $ha,
    form => { status => '@Carol@remote.example edited' })->status_is(200)->tx->res->json;
is_deeply([map { $_->{id} } @{ $e->{mentions} }], [$carol], 'edit: only the remaining one')
    or diag explain $e->{mentions};
$e = $m->put_ok("/api/v1/statuses/$s->{id}", $ha,
    form => { status => '@bob @BOB back' })->status_is(200)->tx->res->json;
is_deeply([map { $_->{id} } @{ $e->{mentions} }], [$bob->{account_id}], 'edit: named again, once')
    or diag explain $e->{mentions};
is($t->psql("SELECT string_agg(silent::text, ',' ORDER BY account_id = $carol) FROM mentions"
            . " WHERE status_id = $s->{id}"), 'false,true', 'rows kept, the unnamed one silent');

# a post naming nobody mentions nobody
my $n = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'no one here' })
    ->status_is(200)->tx->res->json;
is_deeply($n->{mentions}, [], 'no mentions');

done_testing;
