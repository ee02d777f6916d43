#!/usr/bin/perl
# Group commit (issue 10): posts whose clients go away as soon as they
# have sent them, among posts whose clients wait.  Each post is committed
# whole (status, counters, its distribute job) or not at all; the waiting
# clients get their own answers; the server posts on afterwards.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use IO::Socket::INET;
use Mojo::IOLoop;

my $N = 24;

my $t = MastodonTest->new(worker => 0);     # the jobs stay in the outbox
my @users = map { $t->user("gone$_") } 1 .. 3;
my $ua = $t->ua;

my (%got, @gone);
for my $i (0 .. $N - 1) {
    my $u = $users[$i % 3];
    my $text = "gone post $i";
    if ($i % 2) {
        my $body = 'status=' . ($text =~ s/ /+/gr);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port)
            or die "connect: $!";
        print $s "POST /api/v1/statuses HTTP/1.1\r\nHost: localhost\r\n"
            . "Authorization: Bearer $u->{token}\r\n"
            . "Content-Type: application/x-www-form-urlencoded\r\n"
            . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        push @gone, $s;         # closed below, before any answer is read
        next;
    }
    $ua->post($t->base . '/api/v1/statuses' => $t->bearer($u->{token})
        => form => { status => $text } => sub {
            my (undef, $tx) = @_;
            $got{$i} = $tx->res;
            Mojo::IOLoop->stop if keys %got == $N / 2;
        });
}
close $_ for @gone;
Mojo::IOLoop->start if keys %got < $N / 2;

for my $i (sort { $a <=> $b } keys %got) {
    is($got{$i}->code, 200, "post $i answered");
    like($got{$i}->json->{content} // '', qr/gone post $i\b/, "post $i: its own answer");
}

# whatever the gone clients' posts became, it is settled within a query
# timeout; then every post is whole or absent
my $settled = sub {
    $t->psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        . " AND pid <> pg_backend_pid() AND query LIKE '%mastodon_post_status%'"
        . " AND state = 'active'") == 0
};
ok($t->wait_for($settled, 30), 'no post transaction under way');

# one snapshot: a late commit cannot fall between two counts
my ($rows, $whole, $counted) = split /\|/, $t->psql(
    "SELECT count(*), count(*) FILTER (WHERE"
    . " (SELECT count(*) FROM status_stats ss WHERE ss.status_id = s.id) = 1"
    . " AND (SELECT count(*) FROM job_outbox j WHERE j.type = 'distribute'"
    . "   AND j.args::json->>'status_id' = s.id::text) = 1),"
    . " (SELECT sum(statuses_count) FROM account_stats WHERE account_id IN ("
    . join(',', map { $_->{account_id} } @users) . '))'
    . " FROM statuses s WHERE s.text LIKE 'gone post %'");
cmp_ok($rows, '>=', $N / 2, 'the answered posts and maybe some of the others');
cmp_ok($rows, '<=', $N, 'no post twice');
is($whole, $rows, 'each post with its counters row and its distribute job');
is($counted, $rows, 'the authors\' statuses_count count every post committed');

my $after = $ua->post($t->base . '/api/v1/statuses' => $t->bearer($users[0]{token})
    => form => { status => 'after the gone ones' })->result;
is($after->code, 200, 'posting goes on');

$t->done;
