# The module loads into the installed nginx, and `nginx -t` refuses bad
# configuration with a clear message naming the directive.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(nginx => 0, worker => 0);

my ($rc, $out) = $t->nginx_test_config();
is($rc, 0, 'nginx -t accepts the module and a complete configuration')
    or diag $out;
like($out, qr/test is successful/, 'nginx -t reports success');

my @bad = (
    [ 'host name for PostgreSQL (would block on DNS)',
      http_config => 'mastodon_database "host=db.example.com dbname=mastodon";',
      qr/mastodon_database.*host "db\.example\.com" is a name.*hostaddr/ ],
    [ 'unparsable conninfo',
      http_config => 'mastodon_database "dbname";',
      qr/invalid "mastodon_database" value/ ],
    [ 'Redis host name',
      http_config => 'mastodon_redis redis.example.com:6379;',
      qr/"mastodon_redis" host "redis\.example\.com" is not a numeric address/ ],
    [ 'Redis port out of range',
      http_config => 'mastodon_redis 127.0.0.1:99999;',
      qr/invalid "mastodon_redis" value "127\.0\.0\.1:99999"/ ],
    [ 'pool size 0',
      http_config => 'mastodon_pg_pool_size 0;',
      qr/"mastodon_pg_pool_size" must be between 1 and 1024/ ],
    [ 'unknown registrations mode',
      http_config => 'mastodon_registrations sometimes;',
      qr/invalid value "sometimes"/ ],
    [ 'bad timeout',
      http_config => 'mastodon_pg_query_timeout forever;',
      qr/"mastodon_pg_query_timeout" directive invalid value/ ],
    [ 'domain given as a URL',
      http_config => 'mastodon_domain https://example.com;',
      qr/invalid "mastodon_domain" value "https:\/\/example\.com"/ ],
    [ 'mastodon twice in a location',
      location_config => 'mastodon;',
      qr/"mastodon" directive is duplicate/ ],
    [ 'directive in the wrong context',
      location_config => 'mastodon_redis 127.0.0.1:6379;',
      qr/"mastodon_redis" directive is not allowed here/ ],
    [ 'unknown directive',
      http_config => 'mastodon_databse "dbname=x";',
      qr/unknown directive "mastodon_databse"/ ],
);

for my $case (@bad) {
    my ($name, $where, $conf, $re) = @$case;
    my ($rc, $out) = $t->nginx_test_config($where => $conf);
    isnt($rc, 0, "nginx -t refuses: $name");
    like($out, qr/\[emerg\].*$re/, "... with a clear message: $name") or diag $out;
}

# without the backends' directives, a location with `mastodon` is refused
($rc, $out) = $t->nginx_test_config(bare => 1, http_config => 'mastodon_domain example.com;');
isnt($rc, 0, 'nginx -t refuses a mastodon location without mastodon_database');
like($out, qr/"mastodon_database" is not set/, '... and says which directive is missing');

($rc, $out) = $t->nginx_test_config(bare => 1,
    http_config => 'mastodon_database "hostaddr=127.0.0.1 dbname=x"; mastodon_redis 127.0.0.1;');
like($out, qr/"mastodon_domain" is not set/, 'mastodon_domain is required');

# unix sockets and numeric hosts pass
($rc, $out) = $t->nginx_test_config(http_config =>
    'mastodon_database "host=/var/run/postgresql dbname=mastodon"; mastodon_redis unix:/run/redis.sock;'
    . ' mastodon_redis_timeout 1s;');
is($rc, 0, 'unix sockets for both backends are accepted') or diag $out;

$t->done;
