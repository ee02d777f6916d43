#!/usr/bin/perl
# Issue 9, delivery that survives: the worker killed (SIGKILL) in the middle
# of a batch of deliveries, and a remote host down for a while.  A post of
# alice@one.test goes to twelve followers on the fake peer, each with its own
# inbox (no shared inbox): every inbox gets the Create at least once
# (at-least-once), after a new worker takes over, and after the host is back.
# Skips itself until the inbox, its processing and delivery are merged.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;

my $bed = Federation->new(instances => ['one'], instance_options => {
    one => { worker_env => { MASTODON_CLAIM_IDLE_MS => 1000, MASTODON_RETRY_BASE_MS => 100 } } });
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $DEADLINE = 60;

my $probe = $one->api(POST => '/inbox', json => {});
$bed->skip_all('POST /inbox answers ' . $probe->code . ': the inbox (fed-inbox) is not merged')
    if $probe->code == 404 || $probe->code == 405;
my $bin = MastodonTest::_slurp($one->worker_bin);
for my $job (qw(activitypub_deliver inbox_process fetch_key)) {
    $bed->skip_all("the worker has no $job job (fed-send / fed-receive not merged)") unless $bin =~ /\bjob_\Q$job\E\b/;
}
undef $bin;

my $alice = $one->account('alice');
my @names = map { sprintf 'f%02d', $_ } 1 .. 12;
$peer->actor('mallory');
for my $n (@names) {
    $peer->actor($n, shared_inbox => undef, key_of => 'mallory');
    is($peer->post($one->url('/users/alice/inbox'), $peer->activity(type => 'Follow', actor => $n,
        object => $alice->{uri}), actor => $n)->code, 202, "$n follows alice");
}
ok($bed->wait_until(sub {
    $one->psql(q{SELECT count(*) FROM follows f JOIN accounts a ON a.id = f.account_id WHERE a.domain = 'peer.test'})
        == @names
}, $DEADLINE), 'alice has twelve followers on peer.test');

# got($uri) -> { name => count }: the Creates of $uri each inbox received
sub got {
    my ($uri, $since) = @_;
    my %n;
    for my $r ($peer->received(method => 'POST')) {
        next if $since && $r->{time} < $since;
        next unless ($r->{json}{type} // '') eq 'Create' && ($r->{json}{object}{id} // '') eq $uri;
        $n{$1}++ if $r->{path} =~ m{^/users/(\w+)/inbox\z};
    }
    return \%n;
}
sub all_got { my $g = got(@_); return !grep { !$g->{$_} } @names }

# --- the worker killed in the middle of the batch -------------------------------------------------
$peer->configure(inbox_delay => 3);    # each delivery takes 3 s to be answered
my $post = $one->api(POST => '/api/v1/statuses', token => $alice->{token},
    json => { status => 'first', visibility => 'public' })->json;
ok($bed->wait_until(sub { %{ got($post->{uri}) } }, $DEADLINE), 'deliveries start');
my $had = scalar keys %{ got($post->{uri}) };
$one->kill_worker($_, 'KILL') for $one->worker_pids;
cmp_ok($had, '<', scalar @names, "the worker is killed mid-batch ($had of " . @names . ' inboxes reached)');
$peer->configure(inbox_delay => 0);
$one->start_worker;
ok($bed->wait_until(sub { all_got($post->{uri}) }, $DEADLINE), 'a new worker delivers to every inbox')
    or diag explain got($post->{uri});

# --- the host down for a while -----------------------------------------------------------------
$peer->configure(inbox_status => 503);
my $second = $one->api(POST => '/api/v1/statuses', token => $alice->{token},
    json => { status => 'second', visibility => 'public' })->json;
ok($bed->wait_until(sub { %{ got($second->{uri}) } }, $DEADLINE), 'the host answers 503 to the deliveries');
$peer->stop;
my $third = $one->api(POST => '/api/v1/statuses', token => $alice->{token},
    json => { status => 'third', visibility => 'public' })->json;
ok($bed->wait_until(sub { $one->redis('ZCARD', 'mastodon:schedule') > 0 || $one->worker_log =~ /retry in/ },
    $DEADLINE), 'failed deliveries are retried later');
$peer->configure(inbox_status => 202);
$peer->start;
my $back = Time::HiRes::time();
ok($bed->wait_until(sub { all_got($second->{uri}, $back) && all_got($third->{uri}, $back) }, 3 * $DEADLINE),
    'once the host is back every inbox gets both posts') or diag explain [got($second->{uri}, $back), got($third->{uri}, $back)];

$bed->done;
