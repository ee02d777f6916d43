# Every numeric mastodon_* directive has bounds, checked by `nginx -t` with
# a message that names the directive and its range.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(nginx => 0, worker => 0);

my @bad = (
    [ 'mastodon_feed_max 0;',                qr/"mastodon_feed_max" must be between 1 and 10000/ ],
    [ 'mastodon_feed_max 1000000000;',       qr/"mastodon_feed_max" must be between 1 and 10000/ ],
    [ 'mastodon_max_characters 0;',          qr/"mastodon_max_characters" must be between 1 and 100000/ ],
    [ 'mastodon_json_max_members 0;',        qr/"mastodon_json_max_members" must be between 1 and 1000000/ ],
    [ 'mastodon_pg_queue_size 2000000;',     qr/"mastodon_pg_queue_size" must be between 0 and 1000000/ ],
    [ 'mastodon_rate_limit_api 99999999;',   qr/"mastodon_rate_limit_api" must be between 0 and 1000000/ ],
    [ 'mastodon_redis_timeout 0;',           qr/"mastodon_redis_timeout" must be between 1ms and 600000ms/ ],
    [ 'mastodon_pg_query_timeout 1h;',       qr/"mastodon_pg_query_timeout" must be between 1ms and 600000ms/ ],
    [ 'mastodon_instance_cache 2d;',         qr/"mastodon_instance_cache" must be between 0ms and 86400000ms/ ],
);

for my $case (@bad) {
    my ($conf, $re) = @$case;
    my ($rc, $out) = $t->nginx_test_config(http_config => $conf);
    isnt($rc, 0, "nginx -t refuses $conf");
    like($out, qr/\[emerg\].*$re/, '... and says the range') or diag $out;
}

my ($rc, $out) = $t->nginx_test_config(http_config => 'mastodon_feed_max 800; mastodon_max_characters 5000;'
    . ' mastodon_redis_timeout 250ms; mastodon_instance_cache 0; mastodon_rate_limit_api 0;');
is($rc, 0, 'values within the bounds pass') or diag $out;

$t->done;
