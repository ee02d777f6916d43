#!/usr/bin/perl
# A new remote account is stored only once WebFinger confirms it, as
# Mastodon's FetchRemoteActorService#check_webfinger!: acct
# preferredUsername@<the actor's host> must link back to the actor; a
# WebFinger naming another acct (a split domain: the account domain differs
# from the host serving the actor) is followed once, and that domain's own
# WebFinger must answer for the same acct and link back to the same actor.
# The fake peer (peer.test) and a second one (three.test, the account
# domain of a split-domain actor) script honest and lying answers.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Federation;
use Digest::SHA ();
use Mojo::JSON ();
use FakePeer;

my $bed = Federation->new(instances => ['one']);
my ($one, $peer) = ($bed->instance('one'), $bed->peer);
my $tls = $bed->dir . '/tls';
my $three = FakePeer->new(dir => $bed->dir . '/three', host => 'three.test', addr => $bed->address('three'),
    cert => "$tls/three.test.crt", key => "$tls/three.test.key", ca => $bed->ca_file);
$three->start;
my $DEADLINE = 30;

# resolve($q) -> the worker's answer ({account_id} or {error})
sub resolve {
    my ($q) = @_;
    my ($rc, undef, $err) = $one->worker_cli('enqueue', 'default', 'resolve', Mojo::JSON::encode_json({ q => $q }));
    diag "enqueue: $err" if $rc;
    my $answer;
    $bed->wait_until(sub {
        my $v = $one->redis('GET', 'mastodon:resolve:' . Digest::SHA::sha256_hex($q));
        $answer = eval { Mojo::JSON::decode_json($v) } if length($v // '');
        $answer;
    }, $DEADLINE);
    return $answer // {};
}
sub acct_of {
    my ($uri) = @_;
    return $one->psql("SELECT username || '\@' || domain FROM accounts WHERE uri = '$uri'");
}
sub jrd {
    my ($acct, $self) = @_;
    return { subject => "acct:$acct", aliases => [$self],
             links => [{ rel => 'self', type => 'application/activity+json', href => $self }] };
}
sub webfinger {
    my ($server, $acct, $doc) = @_;
    $server->serve("/.well-known/webfinger?resource=acct:$acct", $doc,
        content_type => 'application/jrd+json; charset=utf-8');
}

# --- an honest actor: its WebFinger links back ----------------------------------------
my $walt = $peer->actor('walt');
ok(resolve($walt->{id})->{account_id}, 'an actor whose WebFinger links back is stored');
is(acct_of($walt->{id}), 'walt@peer.test', '... as walt@peer.test');
my @wf = $peer->received(method => 'GET', path => '/.well-known/webfinger');
ok((grep { $_->{query} =~ /resource=acct(?::|%3A)walt(?:@|%40)peer\.test/ } @wf),
    'the worker asked WebFinger of the peer for acct:walt@peer.test');

# --- a lying WebFinger: it links another actor -------------------------------------------
my $liar = $peer->actor('liar');
my $other = $peer->actor('other');
webfinger($peer, 'liar@peer.test', jrd('liar@peer.test', $other->{id}));
is(resolve($liar->{id})->{error}, 'not_found', 'an actor whose WebFinger links another actor is refused');
is(acct_of($liar->{id}), '', '... and not stored');

# --- no WebFinger at all ------------------------------------------------------------------
my $ghost = $peer->actor('ghost');
$peer->unserve("/.well-known/webfinger?resource=acct:ghost\@peer.test");
is(resolve($ghost->{id})->{error}, 'not_found', 'an actor without WebFinger is refused');
is(acct_of($ghost->{id}), '', '... and not stored');

# ... nor through the inbox: the signer's key fetch stores nothing either
my $res;
$bed->wait_until(sub {
    $res = $peer->post('https://one.test/inbox', $peer->activity(type => 'Delete', actor => 'ghost',
        object => $peer->new_id('notes')), actor => 'ghost');
    $res->code != 503;
}, $DEADLINE);
is($res->code, 401, "a signed POST of the unconfirmed actor: 401 (its key is not taken)");
is(acct_of($ghost->{id}), '', '... and the actor is still not stored');

# --- a split domain: the actor on peer.test, its account domain three.test ------------------
my $sam = $peer->actor('sam');
webfinger($peer, 'sam@peer.test', jrd('sam@three.test', $sam->{id}));
webfinger($three, 'sam@three.test', jrd('sam@three.test', $sam->{id}));
ok(resolve($sam->{id})->{account_id}, 'a split-domain actor confirmed by its account domain is stored');
is(acct_of($sam->{id}), 'sam@three.test', '... as sam@three.test, the acct WebFinger confirmed');

# the account domain's WebFinger does not link back: refused
my $sid = $peer->actor('sid');
webfinger($peer, 'sid@peer.test', jrd('sid@three.test', $sid->{id}));
webfinger($three, 'sid@three.test', jrd('sid@three.test', $other->{id}));
is(resolve($sid->{id})->{error}, 'not_found', 'a split domain whose WebFinger links another actor is refused');
is(acct_of($sid->{id}), '', '... and not stored');

# the account domain names yet another acct: no second redirect
my $sue = $peer->actor('sue');
webfinger($peer, 'sue@peer.test', jrd('sue@three.test', $sue->{id}));
webfinger($three, 'sue@three.test', jrd('sue@elsewhere.test', $sue->{id}));
is(resolve($sue->{id})->{error}, 'not_found', 'a WebFinger redirecting twice is refused');
is(acct_of($sue->{id}), '', '... and not stored');

# a known account is updated without asking WebFinger again
$peer->clear_received;
my $upd = $peer->activity(type => 'Update', actor => 'walt',
    object => { %{ $walt->{doc} }, name => 'Walt Renamed' });
$bed->wait_until(sub { ($res = $peer->post('https://one.test/inbox', $upd, actor => 'walt'))->code != 503 }, $DEADLINE);
is($res->code, 202, "walt's Update is taken");
ok($bed->wait_until(sub {
    $one->psql("SELECT display_name FROM accounts WHERE uri = '$walt->{id}'") eq 'Walt Renamed' }, $DEADLINE),
    '... his profile updated');
is(scalar($peer->received(method => 'GET', path => '/.well-known/webfinger')), 0,
    '... without a WebFinger lookup');

$three->stop;
$bed->done;
