#!/usr/bin/perl
# Issue 9, SSRF: an actor whose inbox or key URL points at a loopback or
# private address is never contacted.  In the test bed, evil.test is
# 10.9.8.7 (added to lo: a private address that exists only in the
# namespace) and lo.test is 127.0.0.1; listeners there count every
# connection.  The bed's own addresses (127.0.0.2-5) are the only ones the
# worker's federation_allowed_addresses allows.
# Skips itself until the inbox and the processing of what it stores are merged.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;

my $bed = Federation->new(instances => ['one'], hosts => { 'evil.test' => '10.9.8.7', 'lo.test' => '127.0.0.1' });
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $DEADLINE = 30;

my $probe = $one->api(POST => '/inbox', json => {});
$bed->skip_all('POST /inbox answers ' . $probe->code . ': the inbox (fed-inbox) is not merged')
    if $probe->code == 404 || $probe->code == 405;
my $bin = MastodonTest::_slurp($one->worker_bin);
for my $job (qw(activitypub_deliver inbox_process fetch_key)) {
    $bed->skip_all("the worker has no $job job (fed-send / fed-receive not merged)") unless $bin =~ /\bjob_\Q$job\E\b/;
}
undef $bin;

my @wires = map { $bed->tripwire(@$_) } ['10.9.8.7', 443], ['127.0.0.1', 443], ['10.9.8.7', 80], ['127.0.0.1', 80];
sub hits { my $n = 0; $n += $_->hits for @wires; return $n }

my $alice = $one->account('alice');
my $inbox = $one->url('/users/alice/inbox');
my $m = $peer->actor('mallory');

# --- a legitimate follower: what it receives shows a delivery round happened ----------------
is($peer->post($inbox, $peer->activity(type => 'Follow', object => $alice->{uri}))->code, 202, 'mallory follows alice');

# --- actors whose inboxes point inside -------------------------------------------------------
my %evil = (
    evil_private  => { inbox => 'https://evil.test/users/evil_private/inbox', shared_inbox => undef },
    evil_loopback => { inbox => 'https://lo.test/users/evil_loopback/inbox', shared_inbox => 'https://lo.test/inbox' },
    evil_literal  => { inbox => 'https://127.0.0.1/inbox', shared_inbox => 'https://10.9.8.7/inbox' },
    evil_http     => { inbox => 'http://10.9.8.7/inbox', shared_inbox => undef },
);
for my $name (sort keys %evil) {
    $peer->actor($name, %{ $evil{$name} }, key_of => 'mallory');
    my $res = $peer->post($inbox, $peer->activity(type => 'Follow', actor => $name, object => $alice->{uri}),
        actor => $name);
    like($res->code, qr/^(?:202|401)$/, "$name follows alice (" . $res->code . ')');
}
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Accept' } $peer->received(method => 'POST')
}, $DEADLINE), 'mallory gets her Accept');

# --- key URLs pointing inside -----------------------------------------------------------------
for my $key_id ('https://evil.test/users/mallory#main-key', 'https://127.0.0.1/users/mallory#main-key',
    'https://lo.test/actor#main-key', 'https://10.9.8.7:80/key')
{
    my $res = $peer->post($inbox, $peer->activity(type => 'Follow', object => $alice->{uri}), key_id => $key_id);
    is($res->code, 401, "a signature with keyId $key_id: 401");
}

# --- objects referenced inside ------------------------------------------------------------------
$peer->post($one->url('/inbox'), $peer->activity(type => 'Announce', object => 'https://evil.test/notes/1',
    to => ['https://www.w3.org/ns/activitystreams#Public']));
$peer->post($one->url('/inbox'), $peer->activity(type => 'Create', object => 'https://127.0.0.1/notes/2',
    to => ['https://www.w3.org/ns/activitystreams#Public']));

# --- a post: delivered to mallory, never inside ----------------------------------------------------
my $post = $one->api(POST => '/api/v1/statuses', token => $alice->{token},
    json => { status => 'to my followers', visibility => 'public' })->json;
ok($bed->wait_until(sub {
    grep { ($_->{json}{type} // '') eq 'Create' && ($_->{json}{object}{id} // '') eq $post->{uri} }
        $peer->received(method => 'POST')
}, $DEADLINE), 'the post reaches mallory');
is(hits(), 0, 'nothing connected to a loopback or private address');

$bed->done;
