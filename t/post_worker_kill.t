#!/usr/bin/perl
# Posting while the worker is killed and restarted: every post answered 200
# is durable with its job (one transaction), so once a worker runs again
# every follower's home feed holds each of them exactly once, and nothing
# else.  The kills come after a count of answers, not after a time.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojo::IOLoop;
use Mojo::UserAgent;

my $POSTS = 300;        # below feed_max (400): nothing is trimmed
my $CONCURRENCY = 16;
my $FOLLOWERS = 20;
my $KILL_EVERY = 60;    # answers

my $t = MastodonTest->new(worker => 0);
my %fast = (MASTODON_CLAIM_IDLE_MS => 1000);

my $author = $t->user('poster');
$t->psql("INSERT INTO accounts (username) SELECT 'pf' || g FROM generate_series(1, $FOLLOWERS) g");
$t->psql("INSERT INTO follows (account_id, target_account_id)"
    . " SELECT id, $author->{account_id} FROM accounts WHERE username LIKE 'pf%'");
my @readers = (split(/\n/, $t->psql("SELECT id FROM accounts WHERE username LIKE 'pf%' ORDER BY id")),
    $author->{account_id});
is(scalar @readers, $FOLLOWERS + 1, "$FOLLOWERS followers and the author");

# every feed exists (active readers): the sentinel alone
$t->redis('ZADD', "mastodon:feed:home:$_", 0, 0) for @readers;

my $worker = $t->start_worker(%fast);
my $ua = Mojo::UserAgent->new(request_timeout => 60, inactivity_timeout => 60);
my (%posted, @failed);
my ($sent, $answered, $kills) = (0, 0, 0);
my $next;
$next = sub {
    return if $sent >= $POSTS;
    my $n = ++$sent;
    $ua->post($t->base . '/api/v1/statuses' => $t->bearer($author->{token})
        => form => { status => "post $n while the worker dies #killtest" } => sub {
            my (undef, $tx) = @_;
            my $code = $tx->res->code // 0;
            if ($code == 200 && defined $tx->res->json->{id}) {
                $posted{ $tx->res->json->{id} }++;
            } else {
                push @failed, "$code " . ($tx->res->body // '');
            }
            $answered++;
            if ($answered % $KILL_EVERY == 0 && $answered < $POSTS) {
                $t->kill_worker($worker, 'KILL');
                $kills++;
                $worker = $t->start_worker(%fast);
            }
            if ($answered == $POSTS) {
                Mojo::IOLoop->stop;
                return;
            }
            $next->();
        });
};
$next->() for 1 .. $CONCURRENCY;
Mojo::IOLoop->start;

is($kills, int(($POSTS - 1) / $KILL_EVERY), "the worker was killed $kills times while posts went on");
is(scalar @failed, 0, 'every post answered 200') or diag(join "\n", @failed[0 .. ($#failed < 4 ? $#failed : 4)]);
is(scalar keys %posted, $POSTS, "$POSTS distinct statuses");

my $complete = sub {
    for my $reader (@readers) {
        my %in = map { $_ => 1 } grep { $_ ne '0' } split /\n/,
            $t->redis('ZRANGE', "mastodon:feed:home:$reader", 0, -1);
        return 0 if grep { !$in{$_} } keys %posted;
    }
    return 1;
};
ok($t->wait_for($complete, 120), 'every follower\'s feed has every post answered 200');

# exactly once each, and nothing else: the sentinel and the posts
my @wrong;
for my $reader (@readers) {
    my @members = split /\n/, $t->redis('ZRANGE', "mastodon:feed:home:$reader", 0, -1);
    my @extra = grep { $_ ne '0' && !$posted{$_} } @members;
    push @wrong, "$reader: " . scalar(@members) . " members, " . scalar(@extra) . " not posted"
        if @members != $POSTS + 1 || @extra;
}
is(scalar @wrong, 0, 'every feed holds the sentinel and each post once, nothing else')
    or diag(join "\n", @wrong);

$t->done;
