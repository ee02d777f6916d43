# Hostile strings through the JSON written outside the response writer: job
# arguments (the module's notify and feed jobs, the worker's
# activitypub_distribute) and streaming events (notification, update,
# delete).  A display name and a status full of quotes, backslashes,
# control characters, U+2028 and U+2029 must come out of every one of
# them as valid JSON that reads back as the same text.

use strict;
use warnings;
use utf8;

use Test::More;
use Mojo::JSON qw(decode_json);
use POSIX ();
use MastodonTest;

my $t = MastodonTest->new(worker => 1);
my $m = $t->mojo;

my $hostile = qq{"q" 'a' \\ \\" \\u0000 </script>\x{2028}x\x{2029} \x{1F600}};
my $name = "$hostile\x01\x1f";

my $author = $t->user('author');
my $reader = $t->user('reader');
my %h = (author => $t->bearer($author->{token}), reader => $t->bearer($reader->{token}));

# the display name as stored, control characters and all (the API may refuse those)
(my $sql_name = $name) =~ s/'/''/g;
$t->psql("UPDATE accounts SET display_name = '$sql_name' WHERE id = $author->{account_id}");
$m->get_ok("/api/v1/accounts/$author->{account_id}")->status_is(200)->json_is('/display_name', $name);

# --- what the worker publishes: a subscriber on the reader's channels -------------------
my $events = $t->dir . '/events.txt';
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', $events or POSIX::_exit(1);
    exec 'redis-cli', '-h', '127.0.0.1', '-p', $t->redis_port, '--raw', 'SUBSCRIBE',
        "timeline:$reader->{account_id}", "timeline:$reader->{account_id}:notifications";
    POSIX::_exit(1);
}
ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', "timeline:$reader->{account_id}") =~ /\n1\z/ }),
   'the subscriber listens');

sub events {
    open my $fh, '<:raw', $events or return ();
    my @lines = <$fh>;
    chomp @lines;
    my @out;
    for (my $i = 0; $i + 2 < @lines; $i++) {
        next unless $lines[$i] eq 'message';
        push @out, [$lines[$i + 1], $lines[$i + 2]];
        $i += 2;
    }
    return @out;
}

sub event_of {
    my ($channel, $event) = @_;
    for my $e (events()) {
        next unless $e->[0] eq $channel;
        my $doc = eval { decode_json($e->[1]) };
        return $doc if $doc && $doc->{event} eq $event;
    }
    return undef;
}

# a follow: the notify job (module) and the notification event (worker)
$m->post_ok("/api/v1/accounts/$reader->{account_id}/follow", $h{author})->status_is(200);
my $note;
ok($t->wait_for(sub { $note = event_of("timeline:$reader->{account_id}:notifications", 'notification') }),
   'the follow notification was published, as JSON');
# the event names it; the stream renders it as GET /api/v1/notifications/:id
my $shown = $m->get_ok("/api/v1/notifications/$note->{notification_id}", $h{reader})->status_is(200)->tx->res->json;
is($shown->{type}, 'follow', 'of type follow');
is($shown->{account}{display_name}, $name, 'the display name reads back the same');

# a status: distribute (module args), update events (worker)
$m->post_ok("/api/v1/accounts/$author->{account_id}/follow", $h{reader})->status_is(200);
ok($t->wait_for(sub { $t->redis('EXISTS', "mastodon:feed:home:$reader->{account_id}") eq '1'
                      || $m->get_ok('/api/v1/timelines/home', $h{reader}) }), 'the reader has a feed');
my $status = $m->post_ok('/api/v1/statuses', $h{author},
    form => { status => "$hostile \@reader", spoiler_text => $hostile })->status_is(200)->tx->res->json;
my $update;
ok($t->wait_for(sub { $update = event_of("timeline:$reader->{account_id}", 'update') }),
   'the update event was published, as JSON');
is($update->{payload}{id}, $status->{id}, 'of the status');
is($update->{payload}{spoiler_text}, $hostile, 'its spoiler text reads back the same');
is($update->{payload}{account}{display_name}, $name, 'its account too');
my $mention;
ok($t->wait_for(sub {
    ($mention) = grep { $_->{type} eq 'mention' }
                 map { $m->get_ok("/api/v1/notifications/$_->{notification_id}", $h{reader})->tx->res->json }
                 grep { $_->{notification_id} }
                 map { my $d = eval { decode_json($_->[1]) }; $d ? ($d) : () }
                 grep { $_->[0] eq "timeline:$reader->{account_id}:notifications" } events();
    $mention;
}), 'the mention notification was published, as JSON');
is($mention->{status}{spoiler_text}, $hostile, 'with the status as it was');

# a delete: the delete event's payload is the id as a JSON string
$m->delete_ok("/api/v1/statuses/$status->{id}", $h{author})->status_is(200);
my $delete;
ok($t->wait_for(sub { $delete = event_of("timeline:$reader->{account_id}", 'delete') }),
   'the delete event was published, as JSON');
is($delete->{payload}, $status->{id}, 'its payload is the id');

# every line the subscriber got is valid JSON
my @bad = grep { !eval { decode_json($_->[1]); 1 } } events();
is(scalar @bad, 0, 'no event is broken JSON') or diag explain \@bad;

kill 'TERM', $pid;
waitpid $pid, 0;

$t->done;
