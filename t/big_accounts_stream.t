# Big accounts merged on read (issue 10), the streaming side: a merged
# status is in no follower's feed, yet a follower reading the user stream
# gets its `update` (the push's rule: a follower muting the account or
# not taking its language does not), its edit (`status.update`) and its
# deletion (`delete`); the edit and the deletion leave the followers'
# feeds alone (not walked), and the author's own feed follows them.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1,
    worker_env  => { MASTODON_BIG_ACCOUNT_FOLLOWERS => 3 },
    http_config => "mastodon_big_account_followers 3;\nmastodon_streaming_heartbeat 30s;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(big reader muter german idle);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;
$m->get_ok('/api/v1/timelines/home', $h{$_})->status_is(200) for sort keys %u;
$m->post_ok("/api/v1/accounts/$id{big}/follow", $h{$_})->status_is(200) for qw(reader muter idle);
$m->post_ok("/api/v1/accounts/$id{big}/follow", $h{german}, form => { 'languages[]' => ['de'] })
  ->status_is(200);
$m->post_ok("/api/v1/accounts/$id{big}/mute", $h{muter})->status_is(200);

sub post { my ($who, %form) = @_; return $t->post_status($h{$who}, %form)->{id} }
sub in_feed {
    my $score = $t->redis('ZSCORE', "mastodon:feed:home:$id{$_[0]}", $_[1]);
    return defined $score && $score ne '';
}
sub worker_log { join '', map { -f $_ ? do { local (@ARGV, $/) = $_; <> } : '' } glob($t->dir . '/worker*.log') }

# the switch: the first post with 4 followers makes big a big account
my $first = post('big', status => 'the switch', language => 'en');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM feed_big_accounts WHERE account_id = $id{big}") == 1 }),
   'big is merged on read');
ok($t->wait_for(sub { in_feed('big', $first) }), "the author's own feed gets it");

my %s;
for my $who (qw(reader muter german)) {
    $s{$who} = StreamClient->sse($port, '/api/v1/streaming/user', { Authorization => "Bearer $u{$who}{token}" });
}
ok($t->wait_for(sub {
    !grep { my (undef, $n) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', "timeline:$id{$_}"); ($n // 0) < 1 }
        qw(reader muter german) }), 'the three user streams are subscribed');

sub got {
    my ($c, $event, $sid, $wait) = @_;
    return $c->wait_event(sub {
        $_[0]{event} eq $event
            && ($event eq 'delete' ? $_[0]{data} eq $sid : decode_json($_[0]{data})->{id} eq $sid)
    }, $wait);
}

# --- update ------------------------------------------------------------------------------------
my $sid = post('big', status => 'merged, streamed', language => 'en');
ok(got($s{reader}, 'update', $sid), 'a connected follower gets the update of a merged status');
ok(!in_feed('reader', $sid), '... which is not in its feed');
ok(!in_feed('idle', $sid), 'nor in the feed of a follower not connected');
my $other = post('big', status => 'a second one', language => 'en');
ok(got($s{reader}, 'update', $other), 'the next one too');
ok(!got($s{muter}, 'update', $sid, 0.5), 'a follower muting the account does not get it');
ok(!got($s{german}, 'update', $sid, 0.2), 'nor one taking only other languages');
is_deeply([ map { $_->{id} } @{ $m->get_ok('/api/v1/timelines/home?limit=2', $h{reader})->tx->res->json } ],
          [ $other, $sid ], 'the home timeline merges them');

# --- edit: status.update, the followers not walked ---------------------------------------------
$m->put_ok("/api/v1/statuses/$sid", $h{big}, form => { status => 'merged, edited' })->status_is(200);
my $upd = got($s{reader}, 'status.update', $sid);
ok($upd, 'the connected follower gets status.update');
like($upd ? decode_json($upd->{data})->{content} : '', qr/merged, edited/, '... with the edited text');
ok(!got($s{muter}, 'status.update', $sid, 0.5), 'not the one muting');
ok($t->wait_for(sub { worker_log() =~ /status_update: status \Q$sid\E is in 1 home feed\(s\) \(merged on read: followers not walked\)/ }),
   "the edit touched the author's feed only");

# --- delete: delete, out of the author's feed, the followers not walked -------------------------
$m->delete_ok("/api/v1/statuses/$sid", $h{big})->status_is(200);
ok(got($s{reader}, 'delete', $sid), 'the connected follower gets the delete');
ok($t->wait_for(sub { !in_feed('big', $sid) }), "out of the author's feed");
ok($t->wait_for(sub { worker_log() =~ /remove_status: status \Q$sid\E out of 1 home feed\(s\) \(merged on read: followers not walked\)/ }),
   'the followers were not walked');
ok($t->wait_for(sub { !grep { $_->{id} eq $sid } @{ $m->get_ok('/api/v1/timelines/home', $h{reader})->tx->res->json } }),
   'gone from the home timeline');

# --- a status pushed before the switch is removed from the feeds as before ----------------------
$m->delete_ok("/api/v1/statuses/$first", $h{big})->status_is(200);
ok($t->wait_for(sub { !in_feed('big', $first) }), 'the switch status (merged) leaves the author feed');

$_->close for values %s;
$t->done;
