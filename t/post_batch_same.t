#!/usr/bin/perl
# Group commit (issue 10): a post made in a group is answered byte for byte
# as the same post made alone (mastodon_post_statuses() with one post, then
# with several): the same keys in the same order, the same values but for
# what is the post's own (its id, in its uri and url; created_at; its
# poll's id and end) and the author's statuses_count, which each post moves.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojo::IOLoop;

my $N = 16;

my $t = MastodonTest->new;
my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ua = $t->ua;

my %form = (status => 'the same answer @bob #same https://example.com/',
            spoiler_text => 'cw', language => 'de', visibility => 'unlisted',
            sensitive => 'true', 'poll[options][]' => ['yes', 'no'],
            'poll[expires_in]' => 600, 'poll[multiple]' => 'true');

# what differs between two posts of the same form
sub normalized {
    my ($res) = @_;
    my ($j, $body) = ($res->json, $res->body);
    return '' unless $j && $j->{id} && $j->{poll};
    $body =~ s/\Q$j->{id}\E/ID/g;
    $body =~ s/\Q$j->{created_at}\E/CREATED/g;
    $body =~ s/"id"\s*:\s*"\Q$j->{poll}{id}\E"/"id":"POLL"/;
    $body =~ s/\Q$j->{poll}{expires_at}\E/EXPIRES/;
    $body =~ s/"statuses_count":\d+/"statuses_count":N/g;
    return $body;
}

my $alone = $ua->post($t->base . '/api/v1/statuses' => $t->bearer($alice->{token})
    => form => \%form)->result;
is($alone->code, 200, 'the post alone');
my $want = normalized($alone);
like($want, qr/"mentions":\[\{"id":"$bob->{account_id}"/, 'it mentions bob');
like($want, qr/"tags":\[\{"name":"same"/, 'it has its tag');

my %got;
for my $i (1 .. $N) {
    $ua->post($t->base . '/api/v1/statuses' => $t->bearer($alice->{token}) => form => \%form
        => sub {
            my (undef, $tx) = @_;
            $got{$i} = $tx->res;
            Mojo::IOLoop->stop if keys %got == $N;
        });
}
Mojo::IOLoop->start if keys %got < $N;

my %ids;
for my $i (sort { $a <=> $b } keys %got) {
    is($got{$i}->code, 200, "post $i");
    $ids{ $got{$i}->json->{id} }++;
    is(normalized($got{$i}), $want, "post $i: the answer of the post alone");
}
is(scalar keys %ids, $N, 'each its own status');
is($t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $alice->{account_id}"),
   $N + 1, 'statuses_count');
is($t->psql("SELECT count(*) FROM polls WHERE account_id = $alice->{account_id}"), $N + 1,
   'a poll each');
is($t->psql("SELECT count(*) FROM mentions WHERE account_id = $bob->{account_id}"), $N + 1,
   'a mention each');

$t->done;
