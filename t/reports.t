# POST /api/v1/reports as Mastodon's Api::V1::ReportsController,
# ReportService and Report's validations: scopes, the 404s (the account,
# statuses it may not see, a suspended account) before the 422s (comment
# length, rules, category), the Report entity, the stored row, and with
# forward=true and a remote account the activitypub_flag job in the same
# transaction.
use strict;
use warnings;
use utf8;
use Test::More;
use Mojo::JSON qw(encode_json decode_json true false);

use lib 't/lib';
use MastodonTest;
use MastodonEntities qw(entity_errors);

my $t = MastodonTest->new(worker => 0);
my $ua = $t->ua;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});

sub post_status {
    my ($h, %f) = @_;
    return $ua->post('/api/v1/statuses' => $h => form => \%f)->result->json;
}
my $pub = post_status($hb, status => 'public one');
my $unl = post_status($hb, status => 'unlisted one', visibility => 'unlisted');
my $prv = post_status($hb, status => 'private one', visibility => 'private');
my $gone = post_status($hb, status => 'deleted later');
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $gone->{id}");
my $own = post_status($ha, status => 'alice says');

$t->psql(q{INSERT INTO accounts (username, domain, uri, inbox_url, shared_inbox_url)
    VALUES ('rem', 'remote.test', 'https://remote.test/users/rem',
            'https://remote.test/users/rem/inbox', 'https://remote.test/inbox')});
my $rem = $t->psql(q{SELECT id FROM accounts WHERE username = 'rem'});
$t->psql(qq{INSERT INTO statuses (id, account_id, text, uri, local, visibility)
    VALUES (424242, $rem, 'remote post', 'https://remote.test/users/rem/statuses/1', false, 0)});

sub report {
    my ($h, $form, %o) = @_;
    my $tx = $o{json} ? $ua->post('/api/v1/reports' => $h => json => $form)
                      : $ua->post('/api/v1/reports' => $h => form => $form);
    return $tx->result;
}

sub error_of { my $j = eval { $_[0]->json }; ref $j eq 'HASH' ? $j->{error} : undef }

# --- authorization --------------------------------------------------------------------------
is(report({}, { account_id => $bob->{account_id} })->code, 401, 'no token: 401');
{
    my $read = $t->bearer($t->token(user_id => $alice->{user_id}, scopes => 'read'));
    my $res = report($read, { account_id => $bob->{account_id} });
    is($res->code, 403, 'read only: 403');
    is(error_of($res), 'This action is outside the authorized scopes', "Doorkeeper's words");
    my $scoped = $t->bearer($t->token(user_id => $alice->{user_id}, scopes => 'write:reports'));
    is(report($scoped, { account_id => $bob->{account_id} })->code, 200, 'write:reports: 200');
}
is($t->psql('SELECT count(*) FROM reports'), 1, 'one report so far');
$t->psql('DELETE FROM reports');

# --- 404s: Record not found -----------------------------------------------------------------
for my $case ([{}, 'no account_id'],
              [{ account_id => 'abc' }, 'account_id not an id'],
              [{ account_id => '999999999' }, 'no such account'],
              [{ account_id => $bob->{account_id}, 'status_ids[]' => $own->{id} }, "another account's status"],
              [{ account_id => $bob->{account_id}, 'status_ids[]' => $prv->{id} }, 'a private status alice may not see'],
              [{ account_id => $bob->{account_id}, 'status_ids[]' => [$pub->{id}, 'x'] }, 'a status id not an id'],
              [{ account_id => $bob->{account_id}, 'status_ids[]' => [$pub->{id}, 99999999] }, 'one status missing']) {
    my $res = report($ha, $case->[0]);
    is($res->code, 404, "$case->[1]: 404");
    is(error_of($res), 'Record not found', '... Record not found');
}
is($t->psql('SELECT count(*) FROM reports'), 0, 'nothing stored by a 404');

# --- 422s: the validations, after the 404s --------------------------------------------------
{
    my $res = report($ha, { account_id => $bob->{account_id}, comment => 'x' x 1001 });
    is($res->code, 422, 'a comment of 1001 characters: 422');
    is(error_of($res), 'Validation failed: Comment is too long (maximum is 1000 characters)', '... says so');
    is(report($ha, { account_id => '999999999', comment => 'x' x 1001 })->code, 404,
       'an unknown account comes first: 404');

    $res = report($ha, { account_id => $bob->{account_id}, 'rule_ids[]' => 1 });
    is($res->code, 422, 'a rule that does not exist: 422');
    is(error_of($res), 'Validation failed: Rule ids does not reference valid rules', '... says so');

    $res = report($ha, { account_id => $bob->{account_id}, category => 'violation' });
    is($res->code, 422, 'category violation without rules: 422');
    is(error_of($res), 'Validation failed: Rule ids does not reference valid rules', '... says so');

    $res = report($ha, { account_id => $bob->{account_id}, comment => 'x' x 1001, category => 'violation' });
    is(error_of($res), 'Validation failed: Comment is too long (maximum is 1000 characters), '
                       . 'Rule ids does not reference valid rules', 'both errors, joined');

    $res = report($ha, { account_id => $bob->{account_id}, category => 'bogus' });
    is($res->code, 422, 'an unknown category: 422');
    is(error_of($res), "'bogus' is not a valid category", '... says so');
    is($t->psql('SELECT count(*) FROM reports'), 0, 'nothing stored by a 422');
}

# --- a report: the entity and the row --------------------------------------------------------
my $first;
{
    my $comment = 'é' x 1000;
    my $res = report($ha, { account_id => $bob->{account_id}, comment => $comment, category => 'spam',
                            'status_ids[]' => [$unl->{id}, $pub->{id}, $gone->{id}, $pub->{id}] });
    is($res->code, 200, 'a report: 200') or diag $res->body;
    my $r = $res->json;
    $first = $r;
    is_deeply([entity_errors($r, 'Report')], [], 'the Report entity');
    is_deeply([sort keys %$r], [sort qw(id action_taken action_taken_at category comment forwarded
        created_at status_ids rule_ids collection_ids target_account)], "Mastodon's attributes");
    is($r->{category}, 'spam', 'category');
    is($r->{comment}, $comment, '1000 characters (2000 bytes) are fine');
    is($r->{action_taken}, false, 'action_taken false');
    is($r->{action_taken_at}, undef, 'action_taken_at null');
    is($r->{forwarded}, false, 'not forwarded (a local account)');
    is_deeply($r->{status_ids}, [sort { $a <=> $b } map { "$_" } $pub->{id}, $unl->{id}, $gone->{id}],
              'status ids as strings, a deleted one included, once each');
    is($r->{rule_ids}, undef, 'rule_ids null');
    is_deeply($r->{collection_ids}, [], 'collection_ids []');
    is($r->{target_account}{id}, "$bob->{account_id}", 'the target account');
    like($r->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at');

    my $row = $t->psql("SELECT account_id, target_account_id, category, forwarded, uri"
                       . " FROM reports WHERE id = $r->{id}");
    my ($acc, $tgt, $cat, $fwd, $uri) = split /\|/, $row;
    is($acc, $alice->{account_id}, 'stored: the reporter');
    is($tgt, $bob->{account_id}, 'the target');
    is($cat, 1000, "category spam = Mastodon's 1000");
    is($fwd, 'f', 'forwarded false');
    like($uri, qr{^\Q$base\E/[0-9a-f-]{36}$}, 'uri: TagManager#generate_uri_for');
}

# defaults, JSON bodies, blank comments
{
    my $res = report($ha, { account_id => $bob->{account_id}, comment => '   ' });
    is($res->json->{category}, 'other', 'no category: other');
    is($res->json->{comment}, '', 'a blank comment is ""');
    is_deeply($res->json->{status_ids}, [], 'no statuses: []');

    $res = report($ha, { account_id => "$bob->{account_id}", status_ids => [$pub->{id} + 0],
                         forward => true, category => 'legal' }, json => 1);
    is($res->code, 200, 'a JSON body') or diag $res->body;
    is($res->json->{category}, 'legal', 'legal');
    is_deeply($res->json->{status_ids}, ["$pub->{id}"], 'numbers in JSON');
    is($res->json->{forwarded}, false, 'forward to a local account: not forwarded');
}

# rules
{
    $t->psql(q{INSERT INTO rules (text) VALUES ('be nice'), ('no spam')});
    my @rules = split /\n/, $t->psql('SELECT id FROM rules ORDER BY id');
    my $res = report($ha, { account_id => $bob->{account_id}, category => 'spam', 'rule_ids[]' => \@rules });
    is($res->code, 200, 'existing rules: 200') or diag $res->body;
    is($res->json->{category}, 'violation', 'rule ids make it a violation');
    is_deeply($res->json->{rule_ids}, [map { "$_" } @rules], 'rule ids as strings');
    is(report($ha, { account_id => $bob->{account_id}, 'rule_ids[]' => [$rules[0], $rules[0]] })->code,
       422, 'a rule twice: 422 (rules.size != rule_ids.size)');
    is(report($ha, { account_id => $bob->{account_id}, 'rule_ids[]' => [$rules[0], 'x'] })->code,
       422, 'a rule id not an id: 422');
}

# suspended
{
    $t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $bob->{account_id}");
    my $res = report($ha, { account_id => $bob->{account_id} });
    is($res->code, 404, 'a suspended account: 404');
    $t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $bob->{account_id}");
}

# --- forwarding: the Flag job ----------------------------------------------------------------
{
    my $jobs = sub { $t->psql(q{SELECT count(*) FROM job_outbox WHERE type = 'activitypub_flag'}) };
    my $before = $jobs->();
    my $res = report($ha, { account_id => $rem, 'status_ids[]' => 424242, comment => 'spammer' });
    is($res->code, 200, 'a remote account, not forwarded');
    is($res->json->{forwarded}, false, 'forwarded false');
    is($jobs->(), $before, 'no Flag job');

    $res = report($ha, { account_id => $rem, 'status_ids[]' => 424242, comment => 'spammer',
                         forward => 'true' });
    is($res->code, 200, 'forward=true');
    my $r = $res->json;
    is($r->{forwarded}, true, 'forwarded true');
    is($jobs->(), $before + 1, 'one activitypub_flag job');
    my ($queue, $args) = split /\|/, $t->psql(q{SELECT queue, args FROM job_outbox
        WHERE type = 'activitypub_flag' ORDER BY id DESC LIMIT 1});
    is($queue, 'push', 'on queue push');
    my $a = decode_json($args);
    is($a->{id}, $r->{id}, 'the report');
    is($a->{target_account_id}, "$rem", 'the target');
    is_deeply($a->{status_ids}, ['424242'], 'the statuses');
    is($a->{comment}, 'spammer', 'the comment');
    my $uri = $t->psql("SELECT uri FROM reports WHERE id = $r->{id}");
    is($a->{uri}, $uri, "the Flag's id: the report's uri");
}

$t->done;
