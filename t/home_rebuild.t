# One rebuild per home feed at a time: after a Redis flush every returning
# reader finds its feed missing; two hundred concurrent home requests of four
# readers cause one rebuild per feed (counted by the module's info line
# "rebuilding the home feed of <id>"), and every request gets the same page.

use strict;
use warnings;

use Test::More;
use Mojo::Promise;
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $author = $t->user('author');
my $ha = $t->bearer($author->{token});
my @readers = map { $t->user("reader$_") } 1 .. 4;

for my $r (@readers) {
    $m->post_ok("/api/v1/accounts/$author->{account_id}/follow", $t->bearer($r->{token}))->status_is(200);
}
my @posted = map {
    $m->post_ok('/api/v1/statuses', $ha, form => { status => "post $_" })->status_is(200)->tx->res->json->{id}
} 1 .. 5;
my $expect = [reverse @posted];

sub rebuilds {
    my ($id) = @_;
    my @lines = grep { /rebuilding the home feed of \Q$id\E\b/ } split /\n/, $t->error_log;
    return scalar @lines;
}

sub storm {
    my ($label) = @_;
    my %before = map { $_->{account_id} => rebuilds($_->{account_id}) } @readers;
    my $ua = Mojo::UserAgent->new(max_connections => 0, inactivity_timeout => 60, request_timeout => 60);
    my @p;
    for my $i (0 .. 199) {
        my $r = $readers[$i % @readers];
        push @p, $ua->get_p($t->base . '/api/v1/timelines/home', $t->bearer($r->{token}))->then(sub {
            my ($tx) = @_;
            return [$r->{account_id}, $tx->res->code, [map { $_->{id} } @{ $tx->res->json // [] }]];
        });
    }
    my @answers;
    Mojo::Promise->all(@p)->then(sub { @answers = map { $_->[0] } @_ })->catch(sub { fail("$label: @_") })->wait;
    is(scalar @answers, 200, "$label: 200 answers");
    is(scalar(grep { $_->[1] == 200 } @answers), 200, "$label: all 200 OK");
    is(scalar(grep { join(',', @{ $_->[2] }) eq join(',', @$expect) } @answers), 200,
       "$label: every answer is the whole rebuilt feed");
    for my $r (@readers) {
        is(rebuilds($r->{account_id}) - $before{$r->{account_id}}, 1,
           "$label: one rebuild of the feed of $r->{username}");
        is($t->redis('EXISTS', "mastodon:feed:home:$r->{account_id}:rebuild"), '0',
           "$label: its rebuild mark is gone");
    }
}

$t->redis('FLUSHALL');
storm('first read');
$t->redis('FLUSHALL');
storm('after a Redis flush');

# served from the feed now: no more rebuilds
my %before = map { $_->{account_id} => rebuilds($_->{account_id}) } @readers;
for my $r (@readers) {
    is_deeply([map { $_->{id} } @{ $m->get_ok('/api/v1/timelines/home', $t->bearer($r->{token}))
                                      ->status_is(200)->tx->res->json }], $expect, 'read again');
    is(rebuilds($r->{account_id}), $before{$r->{account_id}}, 'without a rebuild');
}

# a rebuild mark left by a request that died makes readers wait, not fail,
# and is taken over once it expires (PX): a short one here
my $r0 = $readers[0];
$t->redis('DEL', "mastodon:feed:home:$r0->{account_id}");
$t->redis('SET', "mastodon:feed:home:$r0->{account_id}:rebuild", '1', 'PX', '300');
is_deeply([map { $_->{id} } @{ $m->get_ok('/api/v1/timelines/home', $t->bearer($r0->{token}))
                                  ->status_is(200)->tx->res->json }], $expect,
          'a stale mark: the reader waits, then rebuilds');

$t->done;
