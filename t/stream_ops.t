# Backend operations owned by a long-lived connection, not a request
# (mastodon_debug_stream, a test aid standing in for streaming): one
# operation per event, with its own pool, freed when the event is out; the
# request's and the connection's pools do not grow event after event; a
# client that closes while an event's PostgreSQL statement or thread task is
# under way ends it safely (ASan watches in the asan build); a worker that
# exits, gracefully or not, ends the stream and its operations.  The request
# path too: a thread task of the request's own operation keeps the request
# alive until done, when its client left meanwhile.

use strict;
use warnings;

use Test::More;
use IO::Socket::INET;
use Mojo::JSON qw(decode_json);
use MastodonTest;

my $t = MastodonTest->new(
    worker          => 0,
    main_config     => 'worker_processes 1;',
    server_config   => 'location = /debug/stream { mastodon_debug_stream; }',
    # no render cache: its subscription is an operation alive too
    http_config     => 'mastodon_render_cache_size 0;',
);
my $m = $t->mojo;

my $alice = $t->user('alice', display_name => 'Alice');
my $posted = $m->post_ok('/api/v1/statuses', $t->bearer($alice->{token}),
    form => { status => 'Streamed #events from https://example.com/s' })
    ->status_is(200)->tx->res->json;
my $api_account = $m->get_ok("/api/v1/accounts/$alice->{account_id}")->status_is(200)->tx->res->json;
my $api_status = $m->get_ok("/api/v1/statuses/$posted->{id}")->status_is(200)->tx->res->json;

# open(query) -> a socket past the response header
sub open_stream {
    my ($query) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port, Timeout => 10)
        or die "connect: $!";
    print $s "GET /debug/stream?account=$alice->{account_id}&status=$posted->{id}&$query HTTP/1.0\r\n"
        . "Host: localhost\r\n\r\n";
    my $status = <$s>;
    while (my $h = <$s>) { last if $h eq "\r\n" }
    return ($s, $status);
}

sub next_event {
    my ($s) = @_;
    local $SIG{ALRM} = sub { die "no event within 20 s\n" };
    alarm 20;
    my $line = <$s>;
    alarm 0;
    return defined $line ? decode_json($line) : undef;
}

# a stream of events, each rendered in its own operation
my ($s, $status) = open_stream('interval=5');
like($status, qr{^HTTP/1\.[01] 200}, 'the stream answers 200');
my @events = map { next_event($s) } 1 .. 60;
is(scalar(grep { defined } @events), 60, '60 events');
is_deeply([ map { $_->{event} } @events ], [ 1 .. 60 ], 'in order');
is_deeply($events[0]{rendered}{account}, $api_account, 'the account as the API has it');
is_deeply($events[0]{rendered}{status}, $api_status, 'the status as the API has it');
is_deeply($events[59]{rendered}, $events[0]{rendered}, 'the same at the 60th event');
is_deeply([ grep { $_->{operations} != 1 } @events ], [],
          'one operation alive at each event: its own (the earlier ones were freed)');
is($events[59]{request_pool_blocks}, $events[9]{request_pool_blocks},
   "the request's pool does not grow (event 10 to 60)");
is($events[59]{connection_pool_blocks}, $events[9]{connection_pool_blocks},
   "nor the connection's");
close $s;

# closed while an event's PostgreSQL statement runs (2 s of sleep; with an
# interval of 0 the next event is under way before the client reads this one)
my $log = $t->dir . '/error.log';
my $before = -s $log;
($s) = open_stream('interval=0&sleep=2000');
ok(next_event($s), 'an event with a PostgreSQL sleep');
close $s;
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /debug stream: gone with event 2 under way/ }, 10),
   'the client left during the next event');

# closed while an event's thread task runs (1 s): the task cannot be
# stopped, its operation stays until the task is done, then goes
$before = -s $log;
($s) = open_stream('interval=0&work=1000');
ok(next_event($s), 'an event with a thread task');
close $s;
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /debug stream: gone with event 2 under way/ }, 10),
   'the client left during the next event');

($s) = open_stream('interval=50');
my @after = map { next_event($s) } 1 .. 30;
close $s;
ok((grep { $_->{operations} == 1 } @after), 'the held operation went when its task was done')
    or diag explain [ map { $_->{operations} } @after ];
ok($t->wait_for(sub {
    my ($s2) = open_stream('interval=1');
    my $e = next_event($s2);
    close $s2;
    $e->{operations} == 1;
}, 15), 'no operation left behind');

# the request path: a thread task of the request's own operation, and the
# client leaves while it runs.  nginx terminates the request at once, but the
# request (and its pool, which holds the task and its data) is freed only
# when the task is done; the task's done handler is not called.
$before = -s $log;
my $status_line;
($s, $status_line) = open_stream('task=1500&interval=50');
like($status_line, qr{^HTTP/1\.[01] 200}, 'the header before the task');
close $s;
ok($t->wait_for(sub { substr($t->error_log, $before) =~ /request freed after 0 events/ }, 15),
   'the request went');
my $tail = substr($t->error_log, $before);
my @order = map { my $i = index($tail, $_); $i } 'client prematurely closed connection',
    "the request's task slept 1500 ms", 'request freed after 0 events';
ok($order[0] >= 0 && $order[0] < $order[1] && $order[1] < $order[2],
   'terminated while its task ran, freed after the task')
    or diag $tail;
unlike($tail, qr/the request's task is done/, 'its done handler was not called');

# and a request whose client stays: the task's done handler begins the stream
($s) = open_stream('task=100&interval=50');
ok(next_event($s), 'an event after the request\'s task');
close $s;
like($t->error_log, qr/the request's task is done/, 'the done handler ran');

sub until_eof {
    my ($s) = @_;
    return eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 20;
        1 while defined <$s>;
        alarm 0;
        1;
    };
}

# a graceful reload while an event's thread task runs: the old worker ends
# the stream (a watch timer it waits for) instead of exiting with the socket
# open, and the task's operation goes at exit at the latest
($s) = open_stream('interval=0&work=300');
ok(next_event($s), 'a stream before the reload');
kill 'HUP', $t->nginx_pid;
ok(until_eof($s), 'the exiting worker ended the stream');
close $s;
ok($t->wait_for(sub { $t->error_log =~ /worker process \d+ exited with code 0/ }, 20),
   'the old worker exited');

# a fast stop (TERM) while an event's thread task runs: the operation of the
# stream still open goes at exit
$before = -s $log;
($s) = open_stream('interval=0&work=1000');
ok(next_event($s), 'a stream before the stop');
kill 'TERM', $t->nginx_pid;
ok($t->wait_for(sub { !kill 0, $t->nginx_pid }, 20), 'nginx stopped');
close $s;
unlike(substr($t->error_log, $before), qr/backend operations left at exit/,
       'no operation left at exit');

$t->done;
