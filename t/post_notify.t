# A post's notifications go after its commit (sql/0054): mastodon_notify()
# keeps them while the transaction has set mastodon.notify_deferred (once
# each, rolled back with the transaction) and mastodon_notify_flush() sends
# them; without the setting it notifies at once as before.  Through the API
# a post's jobs and its page forget still arrive, announced (the relay
# logs the jobs it finds unannounced); a commit whose flush never ran (the
# connection lost after it) has its jobs moved by the relay's poll, which
# then forgets every account, so warm pages show the post on every worker.

use strict;
use warnings;

use Test::More;
use File::Temp;
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;
$t->ua->max_connections(0);     # a new connection per request

# psql running $sql as a script, notifications printed as they arrive
sub script {
    my ($sql) = @_;
    my $f = File::Temp->new(DIR => $t->dir, SUFFIX => '.sql');
    print $f $sql;
    close $f;
    my @cmd = ('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $t->{pg_host},
               '-p', $t->pg_port, '-U', 'postgres', '-d', $t->db_name, '-f', $f->filename);
    my $out = qx{@cmd 2>&1};
    $out =~ s/Asynchronous notification "(\w+)"(?: with payload "([^"]*)")? received from server process with PID \d+\./"N $1 " . ($2 \/\/ '')/ge;
    return [split /\n/, $out];
}

my $lines = script(<<'SQL');
LISTEN t_chan;
BEGIN;
SELECT set_config('mastodon.notify_deferred', 'on', true);
SELECT mastodon_notify('t_chan', '7');
SELECT mastodon_notify('t_chan', '7');
SELECT mastodon_notify('t_chan', '8');
COMMIT;
SELECT 'committed';
SELECT mastodon_notify_flush();
SELECT 'flushed';
SELECT mastodon_notify_flush();
BEGIN;
SELECT set_config('mastodon.notify_deferred', 'on', true);
SELECT mastodon_notify('t_chan', '9');
ROLLBACK;
SELECT mastodon_notify_flush();
SELECT mastodon_notify('t_chan', '10');
SELECT 'direct';
SQL
@$lines = grep { $_ ne '' } @$lines;
is_deeply($lines, ['on', 'committed', '2', 'N t_chan 7', 'N t_chan 8', 'flushed', '0',
                   'on', '0', 'N t_chan 10', 'direct'],
          'deferred: kept once each, sent by the flush, rolled back with the transaction;'
          . ' otherwise at once')
    or diag explain $lines;

# the triggers notify through it: a deferred job row's notification waits
$lines = script(<<'SQL');
LISTEN mastodon_outbox;
BEGIN;
SELECT set_config('mastodon.notify_deferred', 'on', true);
INSERT INTO job_outbox (queue, type, args) VALUES ('t_none', 'nothing', '{}');
COMMIT;
SELECT 'committed';
SELECT mastodon_notify_flush();
DELETE FROM job_outbox WHERE queue = 't_none';
SQL
@$lines = grep { $_ ne '' } @$lines;
is_deeply([@$lines[0 .. 3]], ['on', 'committed', '1', 'N mastodon_outbox '],
          'the outbox trigger through mastodon_notify()')
    or diag explain $lines;

ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }),
   'both workers listen for forgets');

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my ($ha, $hb) = map { $t->bearer($_->{token}) } $alice, $bob;
$t->psql(qq{INSERT INTO follows (account_id, target_account_id)
    VALUES ($bob->{account_id}, $alice->{account_id})});

sub ids_of {
    my ($path, $h) = @_;
    my $res = $m->ua->get($path => ($h // {}))->result;
    return undef unless $res->code == 200;
    return [map { $_->{id} } @{ $res->json }];
}

sub has {
    my ($ids, $id) = @_;
    return $ids && grep { $_ eq $id } @$ids;
}

# shown once, then on every read (six, new connections: both workers)
sub seen_ok {
    my ($path, $h, $id, $name) = @_;
    ok($t->wait_for(sub { has(ids_of($path, $h), $id) }), "$name: shown");
    my $ok = 1;
    for (1 .. 6) {
        $ok = 0 unless has(ids_of($path, $h), $id);
    }
    ok($ok, "$name: on every worker");
}

my $pub = '/api/v1/timelines/public';
my $home = '/api/v1/timelines/home';
my $log = $t->dir . '/worker-1.log';
sub unannounced {
    open(my $fh, '<', $log) or return 0;
    return scalar grep { /jobs nobody announced/ } <$fh>;
}

# through the API: jobs (the follower's feed) and the page forget arrive
my $first = $t->post_status($ha, status => 'first words')->{id};
seen_ok($pub, undef, $first, 'a post');
seen_ok($home, $hb, $first, "a post in the follower's feed");
ids_of($pub) for 1 .. 4;
my $second = $t->post_status($ha, status => 'second words')->{id};
seen_ok($pub, undef, $second, 'a post on a warm page');
seen_ok($home, $hb, $second, "a post in the follower's feed (warm)");
is(unannounced(), 0, "the API's posts were announced after their commits");

# a commit whose notifications were never sent (its connection lost)
ids_of($pub) for 1 .. 4;
my $lost = script(qq{BEGIN;
SELECT set_config('mastodon.notify_deferred', 'on', true);
SELECT id FROM mastodon_post_statuses(ARRAY[ROW($alice->{account_id}, NULL,
    'lost words', false, '', 0, 'en', NULL, 'http://localhost', NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::mastodon_post]);
COMMIT;
})->[-1] // '';
like($lost, qr/^\d+$/, 'posted in SQL, notifications kept and never sent');
seen_ok($home, $hb, $lost, "its jobs moved by the relay's poll");
seen_ok($pub, undef, $lost, 'every account forgotten: the warm page shows it');
ok(unannounced() >= 1, 'the relay said so');

$t->done;
