#!/usr/bin/perl
# `make test` and `make run` from a checkout the postgres user and nginx's
# workers (nobody) cannot enter: root's own home is mode 700, and a newcomer
# logged in as root clones there.  The scripts, SQL and harness are copied
# into a mode-700 directory; from there scripts/test.sh runs a small test
# file (a body large enough for nginx's client_body_temp_path, which the
# workers write) and scripts/run.sh starts, answers and stops.

use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Mojo::UserAgent;

plan skip_all => 'needs root (other users are involved only then)' if $> != 0;

my $ROOT  = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $BUILD = abs_path($ENV{MASTODON_TEST_BUILD} // "$ROOT/build");

my $home = tempdir('private-checkout.XXXXXX', TMPDIR => 1, CLEANUP => 0);
chmod 0700, $home;
my $repo = "$home/repo";

# the files the scripts need: scripts/, sql/, conf/, t/lib/
for my $dir (qw(scripts sql conf t/lib)) {
    for my $f (glob "$ROOT/$dir/*") {
        next unless -f $f;
        make_path("$repo/$dir");
        (my $to = $f) =~ s{^\Q$ROOT\E}{$repo};
        copy($f, $to) or die "copy $f: $!";
        chmod((stat $f)[2] & 07777, $to);
    }
}

my $mini = <<'EOF';
use strict;
use warnings;
use Test::More;
use MastodonTest;

my $t = MastodonTest->new;
my $u = $t->user('alice');
$t->mojo->post_ok('/api/v1/statuses', $t->bearer($u->{token}),
    form => { status => 'x' . ('y' x 30000) })->status_is(422);
$t->mojo->post_ok('/api/v1/statuses', $t->bearer($u->{token}),
    form => { status => 'hello' })->status_is(200);
$t->done;
EOF
make_path("$repo/t");
open my $fh, '>', "$repo/t/mini.t" or die "$repo/t/mini.t: $!";
print $fh $mini;
close $fh;

sub run {
    my (%env) = @_;
    my $cmd = delete $env{cmd};
    local @ENV{keys %env} = values %env;
    # the copy has no fuzz build: make test's FUZZ_BUILD is not for it
    delete local @ENV{qw(MASTODON_TEST_VAR MASTODON_TEST_PGPORT MASTODON_TEST_TEMPLATE
                         FUZZ_BUILD)};
    my $out = `cd '$repo' && $cmd 2>&1`;
    return ($? >> 8, $out);
}

# --- make test -------------------------------------------------------------------
my ($rc, $out) = run(cmd => "scripts/test.sh '$BUILD'", TESTS => 't/mini.t', JOBS => 1);
is($rc, 0, 'scripts/test.sh passes from a mode-700 directory') or diag $out;
like($out, qr{t/mini\.t \.+ ok}, 'the test file ran and passed');
like($out, qr{throwaway cluster in /tmp/ngx_mastodon-test\.}, 'its files went to /tmp');

# --- make run, make stop -----------------------------------------------------------
my $port = do {
    my $p;
    for (1 .. 100) {
        $p = 20000 + int(rand(40000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1) or next;
        close $s;
        last;
    }
    $p;
};
my @run = (PORT => $port, BUILD => $BUILD);
($rc, $out) = run(cmd => 'scripts/run.sh start', @run);
is($rc, 0, 'scripts/run.sh start works from a mode-700 directory') or diag $out;
ok(-l "$repo/var/pg" && -d "$repo/var/pg/data", 'var/pg leads to the cluster');
like(readlink("$repo/var/pg") // '', qr{^/var/tmp/ngx_mastodon-pg\.}, 'in /var/tmp');

my $res = Mojo::UserAgent->new(request_timeout => 10)->get("http://127.0.0.1:$port/api/v1/instance")->result;
is($res->code, 200, 'the instance answers');

($rc, $out) = run(cmd => 'scripts/run.sh stop', @run);
is($rc, 0, 'scripts/run.sh stop') or diag $out;
($rc, $out) = run(cmd => 'scripts/run.sh status', @run);
unlike($out, qr/running/, 'everything stopped') or diag $out;

END {
    local $?;
    if ($repo && -d "$repo/var") {
        my ($rc, $out) = run(cmd => 'scripts/run.sh stop');
        for my $link ("$repo/var/pg", "$repo/var/run/nginx") {
            my $to = readlink $link or next;
            remove_tree($to) if $to =~ m{^/var/tmp/ngx_mastodon-};
        }
    }
    remove_tree($home) if $home && Test::More->builder->is_passing;
}

done_testing;
