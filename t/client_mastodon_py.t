# A real client library drives the server end to end: Mastodon.py (Debian's
# python3-mastodon) registers an app, signs up, signs in, edits the profile
# and follows someone.  The script prints TAP; each of its lines is a test here.

use strict;
use warnings;

use Test::More;
use MastodonTest;

-x '/usr/bin/python3' && system('/usr/bin/python3', '-c', 'import mastodon') == 0
    or BAIL_OUT('python3-mastodon is not installed (scripts/install-deps.sh installs it)');

my $t = MastodonTest->new(
    worker      => 0,
    http_config => 'mastodon_oauth_password_grant on; mastodon_require_confirmation off;'
                 . ' mastodon_registrations open;',
);
$t->user('target');

my $out = `/usr/bin/python3 $MastodonTest::ROOT/t/clients/mastodon_py.py ${\ $t->base} 2>&1`;
my $n = 0;
for my $line (split /\n/, $out) {
    if ($line =~ /^(not )?ok \d+ - (.*)$/) {
        ok(!$1, "Mastodon.py: $2");
        $n++;
    } elsif ($line =~ /^# (.*)/) {
        diag($1);
    }
}
ok($n >= 12, "the client script ran its steps ($n)") or diag($out);

$t->done;
