#!/usr/bin/perl
# Issue 9, the inbox against a scripted peer (t/lib/FakePeer.pm, its own key):
# every rejection case answers the right status and changes nothing.
#   - refused by the module before anything is stored: missing, malformed,
#     duplicated or expired signature, Date/Digest/Host problems, wrong digest,
#     body changed after signing, signature not verifying, oversized body;
#   - taken (202) but dropped by the worker: signer not the actor, object on
#     another host, Update of someone else's object, a replay.
# Turns itself on when the inbox (fed-inbox) and, for the worker's part, the
# processing of stored activities (fed-receive) are there.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use Mojo::JSON ();

my $bed = Federation->new(instances => ['one']);
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $alice = $one->account('alice');
my $m = $peer->actor('mallory');
my $eve = $peer->actor('eve');
my $inbox = $one->url('/users/alice/inbox');
my $shared = $one->url('/inbox');

my $probe = $peer->post($shared, $peer->activity(type => 'Like', object => $one->url('/users/alice/statuses/1')),
    no_signature => 1);
$bed->skip_all('POST /inbox answers ' . $probe->code . ': the inbox (fed-inbox) is not merged')
    if $probe->code == 404 || $probe->code == 405;

# the state an inbox request could change
my @TABLES = qw(accounts follows follow_requests statuses favourites notifications blocks);
my $has_inbox_table = $one->psql("SELECT to_regclass('inbox_activities') IS NOT NULL") eq 't';
sub snapshot {
    my %s = map { $_ => $one->psql("SELECT count(*) FROM $_") } @TABLES;
    $s{inbox_activities} = $one->psql('SELECT count(*) FROM inbox_activities') if $has_inbox_table;
    $s{follows_detail} = $one->psql(q{SELECT coalesce(string_agg(account_id || '>' || target_account_id, ',' ORDER BY id), '') FROM follows});
    return \%s;
}

sub rejected {
    my ($name, $want, $url, $body, %k) = @_;
    my $before = snapshot();
    my $res = $peer->post($url, $body, %k);
    is($res->code, $want, "$name: $want");
    if ($res->code >= 400 && $res->code != 413) {
        like($res->headers->content_type // '', qr{application/json}, "$name: a JSON error")
            and ok(defined eval { $res->json->{error} }, "$name: {\"error\": ...}");
    }
    is_deeply(snapshot(), $before, "$name: nothing changed");
    return $res;
}

my $follow = sub { $peer->activity(type => 'Follow', object => $alice->{uri}, @_) };

# --- refused before anything is stored (no key needed) ----------------------------------
rejected('no Signature header', 401, $inbox, $follow->(), no_signature => 1);
rejected('a malformed Signature header', 401, $inbox, $follow->(), signature => 'keyId=,,,"garbage');
rejected('a Signature without keyId', 401, $inbox, $follow->(),
    signature => 'algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"');
rejected('two Signature headers', 401, $inbox, $follow->(), duplicate_signature => 1);
rejected('an unknown algorithm', 401, $inbox, $follow->(), algorithm => 'rsa-md5');
rejected('a Date 13 hours old', 401, $inbox, $follow->(), date_offset => -13 * 3600);
rejected('a Date 13 hours ahead', 401, $inbox, $follow->(), date_offset => 13 * 3600);
rejected('no Date', 401, $inbox, $follow->(), no_date => 1, signed => '(request-target) host digest');
rejected('two Date headers', 401, $inbox, $follow->(), duplicate_date => 1);
rejected('no Digest', 401, $inbox, $follow->(), no_digest => 1, signed => '(request-target) host date');
rejected('Digest not signed', 401, $inbox, $follow->(), signed => '(request-target) host date');
rejected('Host not signed', 401, $inbox, $follow->(), signed => '(request-target) date digest');
rejected('(request-target) not signed', 401, $inbox, $follow->(), signed => 'host date digest');
rejected('two Digest headers', 401, $inbox, $follow->(), duplicate_digest => 1);
rejected('a wrong Digest', 401, $inbox, $follow->(), digest => 'SHA-256=' . ('A' x 43) . '=');
rejected('the body changed after signing', 401, $inbox, $follow->(),
    tamper_body => Mojo::JSON::encode_json($follow->(object => $alice->{uri} . 'x')));
rejected('a Host header of another host', 401, $inbox, $follow->(), host => 'two.test');

my $big = $follow->(content => 'x' x (2 * 1024 * 1024));
rejected('an oversized body', 413, $shared, $big);

# --- with the key (the worker fetches it once) -------------------------------------------
my $ok;
$bed->wait_until(sub {
    $ok = $peer->post($shared, $peer->activity(type => 'Delete', object => $peer->new_id('notes')))->code;
    $ok == 202;
}, 20);
SKIP: {
    skip "a valid signature is not accepted yet (answers $ok): key fetching (fed-receive) is missing", 30
        unless $ok == 202;
    rejected('a signature that does not verify', 401, $inbox, $follow->(), corrupt => 1);
    rejected("signed with eve's key under mallory's key id", 401, $inbox, $follow->(), key => $eve->{key});
    rejected('another host signed', 401, $inbox, $follow->(), sign_host => 'two.test');
    rejected('another request target signed', 401, $inbox, $follow->(), target => '/inbox');
    my $deep = $follow->();
    my $nest = {};
    my $p = $nest;
    ($p = $p->{a} = {}) for 1 .. 200;
    $deep->{tag} = $nest;
    my $before = snapshot();
    my $res = $peer->post($shared, $deep);
    is($res->code, 400, 'a body nested deeper than mastodon_json_max_depth: 400');
    drain();
    is_deeply(snapshot(), $before, 'a deeply nested body: nothing changed');

    # RFC 9421 (Mastodon 4.5 verifies it too)
    $res = $peer->post($shared, $peer->activity(type => 'Delete', object => $peer->new_id('notes')), rfc9421 => 1);
    is($res->code, 202, 'an RFC 9421 signature with Content-Digest is taken');
    rejected('an RFC 9421 signature over a changed body', 401, $shared, $follow->(), rfc9421 => 1,
        tamper_body => '{"type":"Follow"}');
}

# --- taken by the module, dropped by the worker -------------------------------------------
# processing (fed-receive) is there when a valid Follow makes a follow
my $res = $peer->post($inbox, $follow->());
my $processes = $res->code == 202 && $bed->wait_until(sub {
    $one->psql("SELECT count(*) FROM follows f JOIN accounts a ON a.id = f.account_id WHERE a.uri = '$m->{id}'") > 0
}, 20);
SKIP: {
    skip 'stored activities are not processed yet (fed-receive is missing)', 13 unless $processes;
    # eve signs below: her key is fetched and her actor stored (as Mastodon
    # does for any signer) whatever becomes of the activity, so she is made
    # known first, by a harmless signed Delete of a note nobody has
    $res = $peer->post($shared, $peer->activity(type => 'Delete', actor => 'eve',
        object => $peer->new_id('notes')), actor => 'eve');
    is($res->code, 202, "eve's first signed activity is taken");
    drain();
    my $before = snapshot();
    # signer is not the actor: eve signs an activity of mallory
    my $bad_actor = $peer->activity(type => 'Undo', actor => 'mallory', object => $follow->());
    $res = $peer->post($inbox, $bad_actor, actor => 'eve');
    like($res->code, qr/^(?:202|401)$/, 'signer not the actor: refused or dropped');
    # an activity id on another host
    $res = $peer->post($inbox, $follow->(id => 'https://two.test/activities/1'));
    like($res->code, qr/^(?:202|401)$/, 'activity id on another host: refused or dropped');
    # a Create whose object lives on another host (never trusted from the embedded copy)
    my $note = { id => 'https://two.test/users/bob/statuses/1', type => 'Note', attributedTo => $m->{id},
        content => '<p>forged</p>', to => ['https://www.w3.org/ns/activitystreams#Public'],
        published => '2026-01-01T00:00:00Z' };
    $res = $peer->post($inbox, $peer->activity(type => 'Create', object => $note,
        to => ['https://www.w3.org/ns/activitystreams#Public']));
    like($res->code, qr/^(?:202|401)$/, 'object on another host: refused or dropped');
    # Update of someone else's object: alice's account
    $res = $peer->post($shared, $peer->activity(type => 'Update',
        object => { id => $alice->{uri}, type => 'Person', preferredUsername => 'alice', name => 'pwned' }));
    like($res->code, qr/^(?:202|401)$/, "Update of someone else's object: refused or dropped");
    drain();
    is_deeply(snapshot(), $before, 'none of them changed anything');
    isnt($one->psql("SELECT display_name FROM accounts WHERE id = $alice->{account_id}"), 'pwned',
        "alice's name is hers");

    # a replay: the same Follow (same id) after an Undo is processed once only
    my $f = $follow->();
    $peer->post($inbox, $peer->activity(type => 'Undo', object => $follow->()));
    $peer->post($inbox, $f);
    drain();
    my $n = $one->psql("SELECT count(*) FROM follows f JOIN accounts a ON a.id = f.account_id WHERE a.uri = '$m->{id}'");
    $peer->post($inbox, $peer->activity(type => 'Undo', object => $f));
    drain();
    $res = $peer->post($inbox, $f);
    like($res->code, qr/^(?:202|401)$/, 'a replayed activity: taken or refused');
    drain();
    is($one->psql("SELECT count(*) FROM follows f JOIN accounts a ON a.id = f.account_id WHERE a.uri = '$m->{id}'"),
        0, 'the replay was not processed again') or diag "after the first: $n";
}

# wait until the worker has handled every stored activity
sub drain {
    return 1 unless $has_inbox_table;
    my $cols = $one->psql(q{SELECT string_agg(column_name, ',') FROM information_schema.columns
        WHERE table_name = 'inbox_activities'});
    my $pending = $cols =~ /\bprocessed_at\b/ ? 'WHERE processed_at IS NULL' : '';
    # and the jobs the activities led to (a Follow's notify runs after it):
    # the outbox relayed, every queue stream empty (done entries are deleted)
    return $bed->wait_until(sub {
            $one->psql("SELECT (SELECT count(*) FROM inbox_activities $pending)"
                       . ' + (SELECT count(*) FROM job_outbox)') == 0
            && !grep { $one->redis('XLEN', "mastodon:queue:$_") } qw(default push ingress)
        }, 20)
        || (diag('inbox activities or their jobs still pending') && 0);
}

$bed->done;
