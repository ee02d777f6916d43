#!/usr/bin/perl
# Reports across servers, both ways.  Out: POST /api/v1/reports with
# forward=true about a remote account makes the worker deliver a Flag from
# our instance actor to that account's server (ReportService#
# forward_to_origin!), its id the report's uri.  In: a Flag in our inbox
# (ActivityPub::Activity::Flag) stores a report by its actor about the
# local accounts it names, with their statuses (the remote reporter's
# relaxed rule), once; a domain blocked with reject_reports is ignored.
# `mastodon-worker reports list` shows them.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use InboxRecorder;
use Test::More;
use Mojo::JSON qw(true false);
use Mojo::File qw(path);

my $t = MastodonTest->new(worker_env => {
    MASTODON_QUEUES => 'default,push,ingress', MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;
my $base = $t->public_base;

my $rec = InboxRecorder->new($t);
my $in = $rec->url;

sub records { $rec->records }

# our instance actor and its key (mastodon-worker migrate makes it; made sure here)
system("openssl genrsa -traditional -out $dir/actor.pem 2048 2>/dev/null") == 0 or die;
my $pem = path("$dir/actor.pem")->slurp;
$t->psql(qq{INSERT INTO accounts (id, username, actor_type) VALUES (-99, 'localhost', 'Application')
            ON CONFLICT (id) DO NOTHING});
$t->psql(qq{UPDATE accounts SET private_key = coalesce(nullif(private_key, ''), '$pem') WHERE id = -99});

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});

# --- out: a forwarded report is a Flag to the account's server --------------------------------
my $frank = $rec->account('frank', 'f.example');
$t->psql(qq{INSERT INTO statuses (id, account_id, text, uri, local, visibility)
    VALUES (777001, $frank, 'buy now', 'https://f.example/users/frank/statuses/1', false, 0)});

my $res = $t->ua->post('/api/v1/reports' => $ha => form => {
    account_id => $frank, 'status_ids[]' => 777001, comment => 'spam, spam', category => 'spam',
    forward => 'true' })->result;
is($res->code, 200, 'a report of frank, forwarded') or diag $res->body;
is($res->json->{forwarded}, true, 'forwarded');
my $report_uri = $t->psql("SELECT uri FROM reports WHERE id = " . $res->json->{id});

my @flags;
ok($t->wait_for(sub { @flags = grep { $_->{json}{type} eq 'Flag' } @{ records() }; @flags }, 30),
   'a Flag reached f.example') or diag $t->error_log;
is($flags[0]{where}, 'frank/inbox', "at frank's inbox");
my $flag = $flags[0]{json};
is($flag->{id}, $report_uri, "its id: the report's uri");
is($flag->{actor}, "$base/actor", 'from our instance actor (the reporter stays anonymous)');
is_deeply($flag->{object}, [ 'https://f.example/users/frank', 'https://f.example/users/frank/statuses/1' ],
          'the account and the reported status');
is($flag->{content}, 'spam, spam', 'the comment');

# not forwarded: nothing goes out
$rec->reset;
$res = $t->ua->post('/api/v1/reports' => $ha => form => { account_id => $frank })->result;
is($res->json->{forwarded}, false, 'a report not forwarded');
sleep 2;
is(scalar(grep { $_->{json}{type} eq 'Flag' } @{ records() }), 0, 'sends no Flag');

# --- in: a Flag about our accounts ------------------------------------------------------------
my $inst = $t->psql(q{INSERT INTO accounts (username, domain, uri, inbox_url, actor_type)
    VALUES ('remote.test', 'remote.test', 'https://remote.test/actor', 'https://remote.test/actor/inbox',
            'Application') RETURNING id});
my $pub = $t->ua->post('/api/v1/statuses' => $hb => form => { status => 'rude' })->result->json;
my $prv = $t->ua->post('/api/v1/statuses' => $hb => form => { status => 'secret', visibility => 'private' })
    ->result->json;
my $apub = $t->ua->post('/api/v1/statuses' => $ha => form => { status => 'alice post' })->result->json;

my $n = 0;
sub process { my ($act, %o) = @_; $t->inbox_process($act, signer_id => $o{signer_id}) }
sub flag {
    my (%o) = @_;
    $n++;
    return { '@context' => 'https://www.w3.org/ns/activitystreams', id => "https://remote.test/flags/$n",
             type => 'Flag', actor => 'https://remote.test/actor', %o };
}
sub reports_on { $t->psql("SELECT count(*) FROM reports WHERE account_id = $inst AND target_account_id = $_[0]") }

my $f1 = flag(object => [ "$base/users/bob", "$base/users/bob/statuses/$pub->{id}",
                          "$base/users/bob/statuses/$prv->{id}", "$base/users/alice/statuses/$apub->{id}",
                          'https://elsewhere.example/users/x' ],
              content => 'abusive ' . ('x' x 6000));
process($f1, signer_id => $inst);
is(reports_on($bob->{account_id}), 1, 'a report of bob by the remote instance actor');
my ($sids, $len, $uri, $fwd, $cat) = split /\|/, $t->psql("SELECT status_ids, length(comment), uri,"
    . " forwarded, category FROM reports WHERE account_id = $inst AND target_account_id = $bob->{account_id}");
is($sids, "{$pub->{id}}", "bob's public status; not the private one (no followers there), not alice's");
is($len, 5000, 'the content cut at 5000 characters');
is($uri, 'https://remote.test/flags/1', "the Flag's id as its uri");
is($fwd, 'f', 'not forwarded');
is($cat, 0, 'category other');
is(reports_on($alice->{account_id}), 0, 'alice is not reported (only her status was named)');

# replayed: once
process($f1, signer_id => $inst);
is(reports_on($bob->{account_id}), 1, 'a replay stores nothing more');

# several accounts at once, the instance actor is not one
process(flag(object => [ "$base/users/alice", "$base/users/bob", "$base/actor" ]), signer_id => $inst);
is(reports_on($alice->{account_id}), 1, 'alice reported');
is(reports_on($bob->{account_id}), 2, 'bob a second time');
is($t->psql('SELECT count(*) FROM reports WHERE target_account_id = -99'), 0, 'never our instance actor');

# a suspended account is not reported; nothing local named: nothing
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $alice->{account_id}");
process(flag(object => "$base/users/alice"), signer_id => $inst);
is(reports_on($alice->{account_id}), 1, 'a suspended account: no report');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $alice->{account_id}");
my $before = $t->psql('SELECT count(*) FROM reports');
process(flag(object => 'https://elsewhere.example/users/x'), signer_id => $inst);
is($t->psql('SELECT count(*) FROM reports'), $before, 'no local account named: nothing');

# reject_reports: ignored
my ($rc, $out, $err) = $t->worker_cli('domain-block', 'add', 'remote.test', '--severity', 'noop',
                                      '--reject-reports');
is($rc, 0, 'domain-block remote.test --reject-reports') or diag $err;
process(flag(object => "$base/users/alice"), signer_id => $inst);
is(reports_on($alice->{account_id}), 1, 'a domain rejecting reports: ignored');

# --- reports list ---------------------------------------------------------------------------------
($rc, $out, $err) = $t->worker_cli('reports', 'list');
is($rc, 0, 'reports list') or diag $err;
my @lines = split /\n/, $out;
is(scalar @lines, $t->psql('SELECT count(*) FROM reports'), 'one line a report');
my ($mine) = grep { /\tfrank\@f\.example\t/ && /forwarded/ } @lines;
ok($mine, 'the forwarded one') or diag $out;
like($mine, qr/^\d+\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\talice\tfrank\@f\.example\tspam forwarded\t777001\tspam, spam$/,
     'id, date, reporter, target, category, forwarded, statuses, comment');
ok((grep { /\tremote\.test\@remote\.test\tbob\tother\t$pub->{id}\tabusive x/ } @lines), "the remote server's report");
$t->psql('UPDATE reports SET action_taken_at = now() WHERE id = (SELECT min(id) FROM reports)');
($rc, $out) = $t->worker_cli('reports', 'list');
is(scalar(split /\n/, $out), scalar(@lines) - 1, 'a resolved one is not listed');
($rc, $out) = $t->worker_cli('reports', 'list', '--all');
is(scalar(split /\n/, $out), scalar(@lines), '--all lists it');
($rc) = $t->worker_cli('reports', 'lst');
is($rc, 2, 'a wrong command: usage, exit 2');

$t->done;
