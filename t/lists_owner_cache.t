# The list timeline's ownership check is remembered in the render cache
# (kind list): a warm list page asks PostgreSQL nothing.  Only the owner
# gets the page from any worker; a deleted list is a 404 at once on every
# worker, and so is one deleted elsewhere whose forget is published.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;
$t->ua->max_connections(0);     # a new connection per request: both workers

ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }),
   'both workers listen for forgets');

my ($ha, $hb) = map { $t->bearer($t->user($_)->{token}) } qw(alice bob);

# every read of $path as $h (six, on new connections) answers $code
sub reads_ok {
    my ($path, $h, $code, $name) = @_;
    my @codes = map { $m->ua->get($path => $h)->result->code } 1 .. 6;
    is_deeply(\@codes, [($code) x 6], $name);
}

my $l1 = $m->post_ok('/api/v1/lists', $ha, form => { title => 'one' })->status_is(200)->tx->res->json->{id};
my $l2 = $m->post_ok('/api/v1/lists', $ha, form => { title => 'two' })->status_is(200)->tx->res->json->{id};

reads_ok("/api/v1/timelines/list/$l1", $ha, 200, 'the owner reads it on every worker (the check remembered)');
reads_ok("/api/v1/timelines/list/$l1", $hb, 404, 'another account: 404 on every worker, warm or not');
reads_ok("/api/v1/timelines/list/$l1", $ha, 200, 'the owner still reads it');

$m->delete_ok("/api/v1/lists/$l1", $ha)->status_is(200);
reads_ok("/api/v1/timelines/list/$l1", $ha, 404, 'deleted: 404 at once on every worker');

# deleted on another node: its forget, as published, reaches every worker
reads_ok("/api/v1/timelines/list/$l2", $ha, 200, 'a second list, warm');
$t->psql("DELETE FROM lists WHERE id = $l2");
$t->redis('PUBLISH', 'mastodon:cache:forget', "list $l2");
ok($t->wait_for(sub {
    !grep { $m->ua->get("/api/v1/timelines/list/$l2" => $ha)->result->code != 404 } 1 .. 6
}), "another node's forget: 404 on every worker");

$t->done;
