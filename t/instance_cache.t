# With mastodon_instance_cache, each nginx worker keeps the instance
# statistics, peers and activity for that long: repeated requests do not
# scan tables, and the documents keep answering while PostgreSQL is away.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(
    worker       => 0,
    own_postgres => 1,
    main_config  => 'worker_processes 1;',
    http_config  => 'mastodon_instance_cache 60s;',
);
my $m = $t->mojo;

$m->get_ok('/api/v1/instance')->status_is(200)->json_is('/stats/domain_count', 0);
$m->get_ok('/api/v1/instance/peers')->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/instance/activity')->status_is(200)->json_has('/11');
my $activity = $m->tx->res->body;

$t->psql(q{INSERT INTO accounts (username, domain) VALUES ('far', 'far.example')});
$m->get_ok('/api/v1/instance')->json_is('/stats/domain_count', 0, 'statistics come from the cache');
$m->get_ok('/api/v1/instance/peers')->json_is('', [], 'peers come from the cache');

$t->stop_postgres('fast');
$m->get_ok('/api/v1/instance')->status_is(200, 'PostgreSQL down: the cached instance still answers');
$m->get_ok('/api/v1/instance/peers')->status_is(200)->json_is('', []);
$m->get_ok('/api/v1/instance/activity')->status_is(200)->content_is($activity, 'the same activity document');
$m->get_ok('/health')->status_is(503, 'while /health tells the truth');
$t->start_postgres;

$t->done;
