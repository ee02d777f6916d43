#!/usr/bin/perl
# `make run INSTANCE=2` / `make stop INSTANCE=2` (scripts/run.sh): a second,
# independent development instance from the same checkout, with its own state
# folder (var/instance2/), port, database and Redis, whose worker may federate
# over http on loopback; stopping it stops only what it started.  Once
# federation is merged, @admin@localhost:PORT2 is found and followed from the
# first instance as README "Two instances on one machine" shows.
# Runs from a copy of the scripts (its own var/), on free ports.
use strict;
use warnings;

use Test::More;
use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Mojo::UserAgent;
use Time::HiRes qw(sleep time);

my $ROOT  = abs_path(dirname(abs_path(__FILE__)) . '/..');
my $BUILD = abs_path($ENV{MASTODON_TEST_BUILD} // "$ROOT/build");

# a copy where postgres and nobody can enter (as run.sh needs for var/)
make_path("$ROOT/var");
my $home = tempdir('run-instances.XXXXXX', DIR => "$ROOT/var", CLEANUP => 0);
chmod 0755, $home;
my $repo = "$home/repo";
for my $dir (qw(scripts sql conf)) {
    for my $f (glob "$ROOT/$dir/*") {
        next unless -f $f;
        make_path("$repo/$dir");
        (my $to = $f) =~ s{^\Q$ROOT\E}{$repo};
        copy($f, $to) or die "copy $f: $!";
        chmod((stat $f)[2] & 07777, $to);
    }
}
copy("$ROOT/Makefile", "$repo/Makefile") or die "copy Makefile: $!";
chmod 0755, $repo, map { "$repo/$_" } qw(scripts sql conf);

sub free_port {
    for (1 .. 100) {
        my $p = 20000 + int(rand(40000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Listen => 1) or next;
        close $s;
        return $p;
    }
    die 'no free port';
}

sub run {
    my (%env) = @_;
    my $cmd = delete $env{cmd};
    local %ENV = %ENV;
    # not the suite's: its cluster, make's jobserver, a caller's INSTANCE or PORT
    delete @ENV{qw(MASTODON_TEST_VAR MASTODON_TEST_PGPORT MASTODON_TEST_TEMPLATE FUZZ_BUILD
                   INSTANCE PORT MAKEFLAGS MAKELEVEL MFLAGS)};
    @ENV{keys %env} = values %env;
    my $out = `cd '$repo' && $cmd 2>&1`;
    return ($? >> 8, $out);
}

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> // '' }
sub pid_of { (slurp($_[0]) =~ /(\d+)/)[0] }
sub alive { my $p = shift; $p && kill(0, $p) && slurp("/proc/$p/stat") !~ /^\d+ \(.*\) [ZX] /s }

my ($p1, $p2) = (free_port(), free_port());
my $ua = Mojo::UserAgent->new(request_timeout => 10);

# --- instance 2 alone ----------------------------------------------------------------
my ($rc, $out) = run(cmd => 'scripts/run.sh start', INSTANCE => 2, PORT => $p2, BUILD => $BUILD);
is($rc, 0, 'scripts/run.sh start with INSTANCE=2') or diag $out;
like($out, qr{runs at\s+http://localhost:$p2/\s+\(instance 2, \@admin\@localhost:$p2\)}, 'it says where and who');
like($out, qr{make stop INSTANCE=2}, 'and how to stop it');
ok(-d "$repo/var/instance2/$_", "var/instance2/$_") for qw(pg redis run);
ok(-s "$repo/var/instance2/admin-password", 'its own admin password');
ok(!-e "$repo/var/$_", "nothing of instance 1 (var/$_)") for qw(pg redis run);
my $res = $ua->get("http://127.0.0.1:$p2/api/v1/instance")->result;
is($res->json->{uri}, "localhost:$p2", 'instance 2 answers as localhost:PORT');

my $wpid2 = pid_of("$repo/var/instance2/run/worker.pid");
my $env = slurp("/proc/$wpid2/environ");
like($env, qr/(?:^|\0)MASTODON_FEDERATION_ALLOW_HTTP=1\0/, 'its worker may federate over http');
like($env, qr/(?:^|\0)MASTODON_FEDERATION_ALLOWED_ADDRESSES=127\.0\.0\.1,::1\0/, '... with loopback allowed');
like($env, qr/(?:^|\0)MASTODON_DOMAIN=localhost:$p2\0/, '... as localhost:PORT');

# --- instance 1 beside it ----------------------------------------------------------------
# the port was free when picked; parallel tests may have taken it since (run.sh
# says so and starts nothing): pick another then
for my $try (1 .. 3) {
    ($rc, $out) = run(cmd => 'scripts/run.sh start', PORT => $p1, BUILD => $BUILD);
    last unless $rc && $out =~ /port $p1 is in use/;
    $p1 = free_port();
}
is($rc, 0, 'instance 1 starts beside it') or diag $out;
is($ua->get("http://127.0.0.1:$p1/api/v1/instance")->result->json->{uri}, "localhost:$p1", 'instance 1 answers');
isnt(slurp("$repo/var/pg/port"), slurp("$repo/var/instance2/pg/port"), 'two PostgreSQL clusters');
isnt(slurp("$repo/var/redis/port"), slurp("$repo/var/instance2/redis/port"), 'two Redis servers');

# --- federation between them, once its parts are there --------------------------------------
SKIP: {
    my $wf = $ua->get("http://127.0.0.1:$p2/.well-known/webfinger?resource=acct:admin\@localhost:$p2")->result;
    skip 'WebFinger answers ' . $wf->code . ' (federation not merged)', 3 unless $wf->code == 200;
    # a token for instance 1's admin, straight into its database
    my $pg1 = slurp("$repo/var/pg/port") =~ s/\s+//gr;
    my $psql = sub {
        my $sql = shift;
        my $o = `psql -X -q -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $pg1 -U postgres -d mastodon -c "$sql"`;
        chomp $o;
        return $o;
    };
    my $token = join '', map { ('a' .. 'z')[rand 26] } 1 .. 43;
    my $app = $psql->(q{INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes)
        VALUES ('t', 'uid-run-instances', 'secret', 'urn:ietf:wg:oauth:2.0:oob', 'read write follow') RETURNING id});
    $psql->(qq{INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id, created_at)
        SELECT '${\ sha256_hex($token)}', 'read write follow', $app, u.id, now() FROM users u
        JOIN accounts a ON a.id = u.account_id WHERE a.username = 'admin' AND a.domain IS NULL});
    my %auth = (Authorization => "Bearer $token");
    my ($found, $end) = (undef, time + 30);
    while (!$found && time < $end) {
        my $r = $ua->get("http://127.0.0.1:$p1/api/v2/search" => \%auth
            => form => { q => "\@admin\@localhost:$p2", resolve => 'true', type => 'accounts' })->result;
        ($found) = grep { $_->{acct} eq "admin\@localhost:$p2" } @{ ($r->is_success && $r->json->{accounts}) || [] };
        sleep 0.2 unless $found;
    }
    ok($found, "instance 1 finds \@admin\@localhost:$p2");
    $ua->post("http://127.0.0.1:$p1/api/v1/accounts/$found->{id}/follow" => \%auth) if $found;
    my $following;
    $end = time + 30;
    while ($found && !$following && time < $end) {
        my $r = $ua->get("http://127.0.0.1:$p1/api/v1/accounts/relationships?id[]=$found->{id}" => \%auth)->result;
        $following = ($r->json // [])->[0]{following};
        sleep 0.2 unless $following;
    }
    ok($following, '... and follows it');
    ok(1, 'over plain http on loopback');
}

# --- make stop INSTANCE=2 stops instance 2 only -------------------------------------------------
my @pids2 = map { pid_of("$repo/var/instance2/$_") } qw(run/nginx/nginx.pid run/worker.pid redis/redis.pid pg/data/postmaster.pid);
my @pids1 = map { pid_of("$repo/var/$_") } qw(run/nginx/nginx.pid run/worker.pid redis/redis.pid pg/data/postmaster.pid);
($rc, $out) = run(cmd => 'make -s stop INSTANCE=2');
is($rc, 0, 'make stop INSTANCE=2') or diag $out;
ok(!alive($_), "instance 2's pid $_ is gone") for @pids2;
ok(alive($_), "instance 1's pid $_ still runs") for @pids1;
is($ua->get("http://127.0.0.1:$p1/api/v1/instance")->result->code, 200, 'instance 1 still answers');
($rc, $out) = run(cmd => 'make -s stop');
is($rc, 0, 'make stop (instance 1)') or diag $out;
ok(!alive($_), "instance 1's pid $_ is gone") for @pids1;

END {
    local $?;
    if ($repo && -d "$repo/var") {
        run(cmd => 'scripts/run.sh stop', INSTANCE => 2);
        run(cmd => 'scripts/run.sh stop', INSTANCE => 1);
    }
    remove_tree($home) if $home && Test::More->builder->is_passing;
}

done_testing;
