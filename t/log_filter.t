# Secrets in query strings stay out of nginx's logs, as Rails'
# filter_parameters keeps them out of Mastodon's: ?access_token= (and every
# name with token, code, client_secret, password, private_key, public_key or
# otp_attempt in it) is logged as [FILTERED] in $request, $request_uri, $args
# and the error log's request: "...", and still authenticates.

use strict;
use warnings;

use Test::More;
use Time::HiRes qw(sleep);
use MastodonTest;

my $t = MastodonTest->new(
    worker        => 0,
    http_config   => q{log_format all '$request|$request_uri|$args|$query_string';},
    server_config => 'access_log access.log; access_log access-all.log all;',
);
my $m = $t->mojo;

my $alice = $t->user('alice');
my $token = $alice->{token};
my @secrets = ($token);

# the token as a parameter authenticates
$m->get_ok("/api/v1/accounts/verify_credentials?access_token=$token")->status_is(200)
  ->json_is('/username', 'alice');
$m->get_ok("/api/v1/accounts/verify_credentials?limit=1&access_token=$token&x=y")->status_is(200);

# encoded names and a bad token (a 401, logged at info with the request line)
my $bad = MastodonTest::random_token();
push @secrets, $bad;
$m->get_ok("/api/v1/accounts/verify_credentials?access%5Ftoken=$bad")->status_is(401);

# the other names Mastodon and Doorkeeper filter, on a route and off any route
my %other = map { $_ => MastodonTest::random_token() }
    qw(code client_secret password refresh_token otp_attempt private_key);
push @secrets, values %other;
my $q = join '&', map { "$_=$other{$_}" } sort keys %other;
$m->get_ok("/api/v1/instance?$q")->status_is(200);
$m->get_ok("/nope?$q")->status_is(404);
$m->options_ok("/api/v1/accounts/verify_credentials?access_token=$token",
    { Origin => 'https://app.example', 'Access-Control-Request-Method' => 'GET' })->status_is(200);

# names that are no secret stay as they are
$m->get_ok('/api/v1/instance?limit=5&max_id=7')->status_is(200);

# nginx writes each log line when it frees its request, which may come a
# moment after the client has the answer: wait for the last request's line
my $dir = $t->dir;
my $access = '';
for (1 .. 200) {
    $access = MastodonTest::_slurp("$dir/access.log");
    last if $access =~ m{"GET /api/v1/instance\?limit=5&max_id=7 HTTP/1.1"}
            && MastodonTest::_slurp("$dir/access-all.log") =~ /max_id=7/;
    sleep 0.05;
}
my $all = MastodonTest::_slurp("$dir/access-all.log");
my $error = $t->error_log;

for my $s (@secrets) {
    unlike($access, qr/\Q$s\E/, 'no secret in access.log');
    unlike($all, qr/\Q$s\E/, 'no secret in $request, $request_uri, $args');
    unlike($error, qr/\Q$s\E/, 'no secret in error.log');
}

like($access, qr{"GET /api/v1/accounts/verify_credentials\?access_token=\[FILTERED\] HTTP/1.1" 200},
     'access.log: the request line with the token filtered');
like($access, qr{\?limit=1&access_token=\[FILTERED\]&x=y HTTP}, 'other parameters kept');
like($all, qr{^GET /api/v1/accounts/verify_credentials\?access_token=\[FILTERED\] HTTP/1.1\|/api/v1/accounts/verify_credentials\?access_token=\[FILTERED\]\|access_token=\[FILTERED\]\|access_token=\[FILTERED\]$}m,
     '$request, $request_uri, $args, $query_string filtered');
like($access, qr{\?access%5Ftoken=\[FILTERED\] HTTP/1.1" 401}, 'an encoded name is filtered');
my $filtered = join '&', map { "$_=\\[FILTERED\\]" } sort keys %other;
like($access, qr{"GET /nope\?$filtered HTTP/1.1" 404}, 'every name of the list, off any route');
like($error, qr{request: "GET /nope\?$filtered HTTP/1.1"}, 'error.log: the request line filtered');
like($error, qr{request: "GET /api/v1/accounts/verify_credentials\?access%5Ftoken=\[FILTERED\] HTTP/1.1"},
     'error.log: the 401 filtered');
like($access, qr{"GET /api/v1/instance\?limit=5&max_id=7 HTTP/1.1" 200}, 'nothing else touched');

$t->done;
