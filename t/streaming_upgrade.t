# nginx's binary upgrade under open streams: USR2 to the master (a new master
# from the same binary, nginx.pid renamed nginx.pid.oldbin), WINCH to the old
# one (its workers shut down gracefully: their WebSocket and event stream are
# closed well within worker_shutdown_timeout), a new client reaches a new
# worker and gets events, then QUIT to the old master.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(decode_json);
use MastodonTest;
use StreamClient;

# streams are closed at once by an exiting worker, not when the timeout expires
my $t = MastodonTest->new(worker => 1, main_config => 'worker_shutdown_timeout 30s;',
    http_config => 'mastodon_streaming_heartbeat 30s;');
my $m = $t->mojo;
my $port = $t->port;
my $dir = $t->dir;

my %u = map { $_ => $t->user($_) } qw(alice bob);
my %h = map { $_ => $t->bearer($u{$_}{token}) } keys %u;
$m->get_ok('/api/v1/timelines/home', $h{$_})->status_is(200) for sort keys %u;

sub ws {
    my ($query, $who) = @_;
    return StreamClient->ws($port, "/api/v1/streaming$query", { Authorization => "Bearer $u{$who}{token}" });
}

# a subscription is live once a message published on its channel arrives
sub live { my ($c, $channel) = @_; return $c->live($t, $channel) }

my $old_master = $t->nginx_pid;
my $old_ws = ws('?stream=public', 'alice');
my $old_sse = StreamClient->sse($port, '/api/v1/streaming/public', $h{alice});
ok(live($old_ws, 'timeline:public'), 'a socket before the upgrade');
is($old_sse->status, 200, 'an event stream before the upgrade');

my ($new_master, $closed_ws, $closed_sse, $new_ws, $new_live, $post);
ok($t->upgrade_nginx(sub {
    # USR2 and WINCH done: the old master still runs, without workers
    $new_master = $t->nginx_pid;
    $closed_ws = $old_ws->wait_closed(10);
    $closed_sse = $old_sse->wait_closed(10);
    $new_ws = ws('?stream=public', 'bob');
    $new_live = live($new_ws, 'timeline:public');
    $post = $m->post_ok('/api/v1/statuses', $h{alice}, form => { status => 'after the upgrade', visibility => 'public' })
        ->status_is(200)->tx->res->json;
}), 'binary upgrade: USR2, WINCH, QUIT');

isnt($new_master, $old_master, 'a new master runs');
like($t->error_log, qr/\b$new_master#\d+: start worker process/, '... with its own workers');
is(MastodonTest::_read_pid("$dir/nginx.pid"), $new_master, '... in nginx.pid');
ok(!-e "$dir/nginx.pid.oldbin", 'nginx.pid.oldbin gone with the old master');
ok(!MastodonTest::_alive($old_master), 'the old master exited on QUIT');
ok($closed_ws, "the old worker's socket was closed on WINCH");
is($old_ws->close_code, 1001, '... with a close frame, 1001 going away');
ok($closed_sse, "the old worker's event stream was closed on WINCH");
is($new_ws->status, 101, 'a new client reaches a new worker');
ok($new_live, '... its subscription is live');
ok($new_ws->wait_message(sub { $_[0]{event} eq 'update' && decode_json($_[0]{payload})->{id} eq $post->{id} }, 10),
    '... and gets the post');
$new_ws->close;

# the new nginx goes on serving
$m->get_ok('/api/v1/timelines/public')->status_is(200)->json_is('/0/id', $post->{id});

$t->done;
