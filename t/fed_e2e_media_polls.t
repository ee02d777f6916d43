#!/usr/bin/perl
# Issue 9 end to end, media and polls: two instances of this server (one.test,
# two.test, over TLS in the test bed).  A post with media reaches the remote
# follower with its attachments (Documents in, remote attachments out: url
# through the media proxy while the file is not to be had, remote_url the
# file on its origin; once it is, a view of the proxy has two cache it, and
# the copy's url is two's own); votes cross
# both ways: a vote on the copy of a remote poll is delivered to the poll's
# server and counted there, and the poll's Update brings the copy the new
# counts (poll_update_delay_ms short here).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use FindBin;
use Federation;

# each serves its media_root (conf/media.conf), so two can cache one's files
my $media = "root .; include $FindBin::Bin/../conf/media.conf;";
my $bed = Federation->new(peer => 0, instance_options => {
    one => { worker_env => { MASTODON_POLL_UPDATE_DELAY_MS => 500 }, server_config => $media },
    two => { worker_env => { MASTODON_POLL_UPDATE_DELAY_MS => 500 }, server_config => $media },
});
my ($one, $two) = ($bed->instance('one'), $bed->instance('two'));
my $DEADLINE = 30;

my $alice = $one->account('alice');
my $carol = $one->account('carol');
my $bob = $two->account('bob');

sub api { my ($inst, $user, $method, $path, %o) = @_; return $inst->api($method, $path, token => $user->{token}, %o) }
sub json_ok {
    my ($inst, $user, $method, $path, %o) = @_;
    my $res = api($inst, $user, $method, $path, %o);
    ok($res->is_success, "$method $path on " . $inst->host . ' as ' . $user->{username})
        or diag $res->code . ' ' . $res->body;
    return $res->json;
}
sub resolve {
    my ($inst, $user, $acct) = @_;
    my $found;
    $bed->wait_until(sub {
        my $res = api($inst, $user, GET => '/api/v2/search', query => { q => "\@$acct", resolve => 'true', type => 'accounts' });
        ($found) = grep { $_->{acct} eq $acct } @{ ($res->is_success && $res->json->{accounts}) || [] };
        $found;
    }, $DEADLINE);
    return $found;
}
sub home_status {
    my ($inst, $user, $uri) = @_;
    my $res = api($inst, $user, GET => '/api/v1/timelines/home', query => { limit => 40 });
    my ($s) = grep { ($_->{uri} // '') eq $uri } @{ $res->json // [] };
    return $s;
}

# bob@two follows alice@one, alice@one follows bob@two
my $alice_at_two = resolve($two, $bob, 'alice@one.test');
my $bob_at_one = resolve($one, $alice, 'bob@two.test');
unless (ok($alice_at_two && $bob_at_one, 'each finds the other')) {
    $bed->done;
    exit;
}
json_ok($two, $bob, POST => "/api/v1/accounts/$alice_at_two->{id}/follow");
json_ok($one, $alice, POST => "/api/v1/accounts/$bob_at_one->{id}/follow");
ok($bed->wait_until(sub {
    (api($two, $bob, GET => '/api/v1/accounts/relationships', query => { 'id[]' => $alice_at_two->{id} })->json // [{}])->[0]{following}
    && (api($one, $alice, GET => '/api/v1/accounts/relationships', query => { 'id[]' => $bob_at_one->{id} })->json // [{}])->[0]{following}
}, $DEADLINE), 'both follows accepted');

# --- media ---------------------------------------------------------------------------
my $mid = $one->psql("INSERT INTO media_attachments (account_id, type, processing, file_file_name,"
    . " file_content_type, file_meta, description, blurhash) VALUES ($alice->{account_id}, 0, 2,"
    . " 'cat.png', 'image/png', '{\"original\":{\"width\":64,\"height\":48},\"focus\":{\"x\":0.1,\"y\":0.2}}',"
    . " 'a cat', 'LEHV6nWB2yk8pyo0adR*.7kCMdnj') RETURNING id");
my $st = json_ok($one, $alice, POST => '/api/v1/statuses', json => { status => 'look', media_ids => [ "$mid" ] });
my $copy;
ok($bed->wait_until(sub { $copy = home_status($two, $bob, $st->{uri}) }, $DEADLINE), 'the post reaches bob');
my $ma = $copy ? $copy->{media_attachments} : [];
is(scalar @$ma, 1, 'with its attachment');
my $part = join '/', (sprintf('%09d', $mid) =~ /(\d{3})/g);
my $dir_one = $one->dir;
is($ma->[0]{remote_url}, "https://one.test/system/media_attachments/files/$part/original/cat.png",
   'remote_url: the file on its origin');
is($ma->[0]{type}, 'image', 'an image');
is($ma->[0]{description}, 'a cat', 'its description');
is($ma->[0]{blurhash}, 'LEHV6nWB2yk8pyo0adR*.7kCMdnj', 'its blurhash');
is_deeply($ma->[0]{meta}{focus}, { x => 0.1, y => 0.2 }, 'its focus');
is($ma->[0]{meta}{original}{width}, 64, 'its width');
is($ma->[0]{url}, "https://two.test/media_proxy/$ma->[0]{id}/original", 'url: the media proxy');
my $proxy = api($two, $bob, GET => "/media_proxy/$ma->[0]{id}/original");
is($proxy->code, 302, 'which redirects');
is($proxy->headers->location, $ma->[0]{remote_url}, '... to the file on its origin');

# the file appears on one: the next view of the proxy has two's worker cache it
system('vips', 'gaussnoise', "$dir_one/cat.png", 64, 48) == 0 or die 'vips failed';
my $file = $one->dir . "/system/media_attachments/files/$part/original/cat.png";
system('mkdir', '-p', $one->dir . "/system/media_attachments/files/$part/original") == 0 or die 'mkdir';
rename "$dir_one/cat.png", $file or die "rename: $!";
is(api($two, $bob, GET => "/media_proxy/$ma->[0]{id}/original")->code, 302, 'a view while not cached');
my $cached;
ok($bed->wait_until(sub { my $s = home_status($two, $bob, $st->{uri});
                          $cached = $s && $s->{media_attachments}[0];
                          $cached && $cached->{url} =~ m{^https://two\.test/system/cache/} }, $DEADLINE),
   'two caches the file from one (over TLS, through its guarded client)') or diag explain $cached;
is($cached->{remote_url}, $ma->[0]{remote_url}, '... remote_url kept');
is(api($two, $bob, GET => "/media_proxy/$ma->[0]{id}/original")->headers->location, $cached->{url},
   'the proxy now redirects to two\'s copy');

# --- a vote from two on one's poll ---------------------------------------------------------
my $pst = json_ok($one, $alice, POST => '/api/v1/statuses', form => { status => 'tea or coffee?',
    'poll[options][]' => [qw(tea coffee)], 'poll[expires_in]' => 3600 });
my $pcopy;
ok($bed->wait_until(sub { $pcopy = home_status($two, $bob, $pst->{uri}) }, $DEADLINE), 'the poll reaches bob');
my $voted = json_ok($two, $bob, POST => "/api/v1/polls/$pcopy->{poll}{id}/votes", json => { choices => [1] });
is_deeply($voted->{own_votes}, [1], 'bob votes on the copy');
my $p;
ok($bed->wait_until(sub {
    $p = api($one, $alice, GET => "/api/v1/polls/$pst->{poll}{id}")->json;
    $p && $p->{options}[1]{votes_count} == 1;
}, $DEADLINE), 'one.test counts bob\'s vote') or diag explain $p;
is($p->{voters_count}, 1, 'one voter');
# a local vote there: only the Update of the Question can tell two.test
json_ok($one, $carol, POST => "/api/v1/polls/$pst->{poll}{id}/votes", json => { choices => [0] });
my $c;
ok($bed->wait_until(sub {
    $c = api($two, $bob, GET => "/api/v1/polls/$pcopy->{poll}{id}")->json;
    $c && join(',', map { $_->{votes_count} } @{ $c->{options} }) eq '1,1' && ($c->{voters_count} // 0) == 2;
}, $DEADLINE), 'the Update of the Question brings two.test\'s copy the counts') or diag explain $c;

# --- a vote from one on two's poll ---------------------------------------------------------
my $bst = json_ok($two, $bob, POST => '/api/v1/statuses', form => { status => 'any?', 'poll[multiple]' => 'true',
    'poll[options][]' => [qw(a b c)], 'poll[expires_in]' => 3600 });
my $bcopy;
ok($bed->wait_until(sub { $bcopy = home_status($one, $alice, $bst->{uri}) }, $DEADLINE), 'bob\'s poll reaches alice');
json_ok($one, $alice, POST => "/api/v1/polls/$bcopy->{poll}{id}/votes", json => { choices => [0, 2] });
ok($bed->wait_until(sub {
    my $q = api($two, $bob, GET => "/api/v1/polls/$bst->{poll}{id}")->json;
    $q && join(',', map { $_->{votes_count} } @{ $q->{options} }) eq '1,0,1';
}, $DEADLINE), 'two.test counts both of alice\'s choices');

$bed->done;
