# The authorization screens in a real browser: headless Chromium driven
# through chromedriver's WebDriver REST API (Mojo::UserAgent, no extra Perl
# modules).  Sign in, Authorize, read the out-of-band code, exchange it with
# PKCE; a screenshot of the consent screen at a phone's size goes into the
# test directory (consent-phone.png).

use strict;
use warnings;

use Test::More;
use MastodonTest;
use Digest::SHA qw(sha256);
use MIME::Base64 qw(encode_base64url decode_base64);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Mojo::URL;
use Mojo::UserAgent;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

my ($driver_bin) = grep { -x } '/usr/bin/chromedriver', '/usr/lib/chromium/chromedriver';
my ($chrome_bin) = grep { -x } '/usr/bin/chromium', '/usr/lib/chromium/chromium';
plan skip_all => 'chromium and chromium-driver are not installed (make deps)' unless $driver_bin && $chrome_bin;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $oob = 'urn:ietf:wg:oauth:2.0:oob';
my $app = $t->app(name => 'Phone Client', scopes => 'read write follow push', redirect_uri => $oob);
my $carol = $t->user('carol', password => 'carol browser password');

# --- chromedriver --------------------------------------------------------------

my $port;
for (1 .. 50) {
    my $p = 20000 + int(rand(40000));
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1) or next;
    close $s;
    $port = $p;
    last;
}
my $log = $t->dir . '/chromedriver.log';
my $driver_pid = fork // die "fork: $!";
if ($driver_pid == 0) {
    open STDIN, '<', '/dev/null';
    open STDOUT, '>>', $log or POSIX::_exit(127);
    open STDERR, '>&', \*STDOUT;
    { no warnings 'exec'; exec $driver_bin, "--port=$port", '--allowed-ips=127.0.0.1', "--log-path=$log.verbose"; }
    POSIX::_exit(127);
}

my $wd = Mojo::UserAgent->new(connect_timeout => 5, inactivity_timeout => 60, request_timeout => 90);
my $wd_base = "http://127.0.0.1:$port";
my $up = $t->wait_for(sub {
    my $tx = $wd->get("$wd_base/status");
    return $tx->res->code && $tx->res->json && $tx->res->json->{value}{ready};
}, 20);
ok($up, 'chromedriver is ready') or BAIL_OUT('chromedriver did not start: ' . `cat $log`);

my $profile = tempdir('chromium.XXXX', DIR => $t->dir, CLEANUP => 0);
my $session;

sub wd {
    my ($method, $path, $body) = @_;
    my $url = $session && $path !~ m{^/session$} ? "$wd_base/session/$session$path" : "$wd_base$path";
    my $tx = $wd->build_tx($method => $url => (defined $body ? (json => $body) : ()));
    $wd->start($tx);
    my $json = $tx->res->json;
    die "WebDriver $method $path: " . ($tx->res->code // 'no answer') . ' '
        . ($json && ref $json->{value} eq 'HASH' ? ($json->{value}{message} // '') : $tx->res->body)
        unless $tx->res->code && $tx->res->code == 200;
    return $json->{value};
}

# a click on a submit button returns before the next page may have loaded
sub wait_title {
    my ($re) = @_;
    my $title = '';
    $t->wait_for(sub { $title = eval { wd(GET => '/title') } // ''; $title =~ $re }, 15);
    return $title;
}

sub element {
    my ($css) = @_;
    my $v = wd(POST => '/element', { using => 'css selector', value => $css });
    return (values %$v)[0];
}

my $new = wd(POST => '/session', { capabilities => { alwaysMatch => {
    browserName => 'chrome',
    'goog:chromeOptions' => {
        binary => $chrome_bin,
        # a phone's viewport (a headless window is at least 500 px wide)
        mobileEmulation => { deviceMetrics => { width => 390, height => 844, pixelRatio => 1, touch => \1 } },
        args   => [qw(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking
                      --disable-component-update --disable-sync --no-first-run), '--window-size=390,844',
                   "--user-data-dir=$profile"],
    },
} } });
$session = $new->{sessionId};
ok($session, 'a browser session');

# --- the dance -----------------------------------------------------------------

my $verifier = MastodonTest::random_token() . 'browser';
my $challenge = encode_base64url(sha256($verifier));
my $url = Mojo::URL->new($t->base . '/oauth/authorize')->query(response_type => 'code',
    client_id => $app->{client_id}, redirect_uri => $oob, scope => 'read write follow',
    state => 'browser-state', code_challenge => $challenge, code_challenge_method => 'S256');

wd(POST => '/url', { url => "$url" });
like(wait_title(qr/^Log in/), qr/^Log in/, 'the sign-in page');

# a wrong password first
wd(POST => '/element/' . element('#user_email') . '/value', { text => 'carol@example.com' });
wd(POST => '/element/' . element('#user_password') . '/value', { text => 'not it' });
wd(POST => '/element/' . element('#sign-in') . '/click', {});
$t->wait_for(sub { eval { element('#alert') } }, 15);
is(wd(GET => '/element/' . element('#alert') . '/text'), 'Invalid email or password.', 'refused');

# the e-mail is kept; the password again
wd(POST => '/element/' . element('#user_password') . '/value', { text => 'carol browser password' });
wd(POST => '/element/' . element('#sign-in') . '/click', {});
like(wait_title(qr/^Authorization required/), qr/^Authorization required/, 'the consent screen');
is(wd(GET => '/element/' . element('#app-name') . '/text'), 'Phone Client', 'naming the app');
my $cookies = wd(GET => '/cookie');
my ($sess) = grep { $_->{name} eq '_mastodon_session' } @$cookies;
ok($sess && $sess->{httpOnly}, 'an HttpOnly session cookie in the browser');
is($sess->{sameSite}, 'Lax', 'SameSite=Lax');

# the consent screen at a phone's size
my ($vw, $vh) = @{ wd(POST => '/execute/sync', { script => 'return [window.innerWidth, window.innerHeight]', args => [] }) };
is($vw, 390, "a phone-sized viewport (${vw}x$vh)");
my $overflow = wd(POST => '/execute/sync', { script => 'return document.documentElement.scrollWidth', args => [] });
ok($overflow <= $vw, 'no horizontal scrolling');
my $png = decode_base64(wd(GET => '/screenshot'));
my $shot = $t->dir . '/consent-phone.png';
open my $fh, '>:raw', $shot or die "$shot: $!";
print $fh $png;
close $fh;
like($png, qr/^\x89PNG/, "screenshot in $shot");
my $button = wd(GET => '/element/' . element('#authorize') . '/rect');
ok($button->{width} > 250 && $button->{x} + $button->{width} <= $vw, 'the Authorize button fits the screen');
ok($button->{y} + $button->{height} < $vh, 'and is visible without scrolling');

wd(POST => '/element/' . element('#authorize') . '/click', {});
like(wait_title(qr/^Authorization code/), qr/^Authorization code/, 'the out-of-band page');
like(wd(GET => '/url'), qr{/oauth/authorize/native\?code=}, 'at its address');
my $code = wd(GET => '/element/' . element('#code') . '/text');
like($code, qr/^[A-Za-z0-9_-]{43}$/, 'the code, shown');

wd(DELETE => '', undef);
undef $session;

# --- the app's side --------------------------------------------------------------

$m->post_ok('/oauth/token' => form => { grant_type => 'authorization_code', code => $code, redirect_uri => $oob,
    client_id => $app->{client_id}, code_verifier => $verifier })
  ->status_is(200)->json_is('/scope', 'read write follow');
my $token = $m->tx->res->json->{access_token};
$m->get_ok('/api/v1/apps/verify_credentials', $t->bearer($token))->status_is(200)->json_is('/name', 'Phone Client');
is($t->psql("SELECT sign_in_count FROM users WHERE id = $carol->{user_id}"), 1, 'one sign-in');

# --- clean up: chromedriver and whatever browser it left ---------------------------

sub descendants {
    my ($pid) = @_;
    my @all;
    for my $f (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $f or next;
        my $line = <$s> // next;
        push @all, [$1, $2] if $line =~ /^(\d+) \(.*\) \S (\d+) /s;
    }
    my @out;
    my @queue = ($pid);
    while (defined(my $p = shift @queue)) {
        my @kids = map { $_->[0] } grep { $_->[1] == $p } @all;
        push @out, @kids;
        push @queue, @kids;
    }
    return @out;
}

my @left = descendants($driver_pid);
kill 'TERM', $driver_pid, @left;
my $end = time + 10;
while (time < $end && waitpid($driver_pid, WNOHANG) != $driver_pid) { sleep 0.1 }
kill 'KILL', $driver_pid, grep { kill 0, $_ } descendants($driver_pid), @left;
waitpid($driver_pid, 0);
ok(!grep({ kill 0, $_ } @left), 'no browser process left');

$t->done;

END {
    if ($driver_pid && $driver_pid > 0 && kill 0, $driver_pid) {
        kill 'KILL', $driver_pid;
    }
}
