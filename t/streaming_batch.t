# An update on a public stream costs one filter statement per nginx worker,
# not one per viewer: with a PostgreSQL wait queue of 4, hundreds of
# authenticated viewers of one worker all get a public post (one statement
# per event per worker: a statement each would be dropped past the queue),
# while the streaming server's rules still hold for each viewer in the
# batch: a muter of the author, a viewer the author blocks and a viewer of
# other chosen languages get nothing.  Rendered posts, ids and edits alike.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

my $t = MastodonTest->new(worker => 1,
    http_config => "mastodon_streaming_heartbeat 30s;\n    mastodon_pg_queue_size 4;");
my $m = $t->mojo;
my $port = $t->port;

my %u = map { $_ => $t->user($_) } qw(alice bob carol erin fred);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
my %id = map { $_ => $u{$_}{account_id} } keys %u;
# one request each first: the tokens are cached before the handshakes come at once
$m->get_ok('/api/v1/accounts/verify_credentials', $h{$_})->status_is(200) for sort keys %u;
$m->post_ok("/api/v1/accounts/$id{alice}/mute", $h{carol})->status_is(200);
$m->post_ok("/api/v1/accounts/$id{erin}/block", $h{alice})->status_is(200);
$t->psql("UPDATE users SET chosen_languages = '{de}' WHERE account_id = $id{fred}");

my %n = (bob => 200, carol => 30, erin => 30, fred => 30);
my %c;
for my $who (sort keys %n) {
    push @{ $c{$who} }, StreamClient->ws($port, '/api/v1/streaming?stream=public:local',
        { Authorization => "Bearer $u{$who}{token}" }) for 1 .. $n{$who};
}
my @all = map { @{ $c{$_} } } sort keys %c;
is(scalar(grep { $_->status == 101 } @all), scalar(@all), scalar(@all) . ' sockets open');

# every socket subscribed: a message on the channel reached each
my $live = 0;
ok($t->wait_for(sub {
    $live++;
    $t->redis('PUBLISH', 'timeline:public:local', qq({"event":"delete","payload":"live$live"}));
    my $all = 1;
    for my $c (@all) {
        next if $c->{live};
        $c->{live} = $c->wait_message(sub { $_[0]{event} eq 'delete' && $_[0]{payload} =~ /^live/ }, 0.01);
        $all = 0 unless $c->{live};
    }
    $all;
}, 30), 'every socket is subscribed');

sub got {
    my ($c, $sid, $wait, $event) = @_;
    return $c->wait_message(sub { $_[0]{event} eq ($event // 'update')
        && decode_json($_[0]{payload})->{id} eq $sid }, $wait);
}

sub check {
    my ($sid, $what, $event) = @_;
    my $got = grep { got($_, $sid, 20, $event) } @{ $c{bob} };
    is($got, $n{bob}, "$what: each of bob's $n{bob} sockets gets it");
    $_->pump(0.05) for map { @{ $c{$_} } } qw(carol erin fred);
    for my $who (qw(carol erin fred)) {
        is(scalar(grep { got($_, $sid, 0, $event) } @{ $c{$who} }), 0, "$what: none of $who\'s");
    }
}

my $p = $m->post_ok('/api/v1/statuses', $h{alice}, form => { status => 'to the batch', visibility => 'public',
    language => 'en' })->status_is(200)->tx->res->json;
check($p->{id}, 'a rendered post');

# the id only (a remote post's event): rendered once, then filtered alike
$t->redis('PUBLISH', 'timeline:public:local', qq({"event":"update","status_id":"$p->{id}"}));
check($p->{id}, 'its id');

# an edit: status.update goes through the same filter
$m->put_ok("/api/v1/statuses/$p->{id}", $h{alice}, form => { status => 'to the batch, edited', language => 'en' })->status_is(200);
check($p->{id}, 'an edit', 'status.update');

$_->close for @all;
ok($t->wait_for(sub { my (undef, $k) = split /\n/, $t->redis('PUBSUB', 'NUMSUB', 'timeline:public:local'); $k == 0 }, 20),
    'their subscriptions go with them');

$t->done;
