package Federation;

# The federation test bed: several instances of our server with real host
# names over TLS, and a scripted fake peer, in a private network namespace.
#
#   use Federation;        # re-executes the test file inside a new namespace
#   my $bed = Federation->new;                 # one.test, two.test, peer.test
#   my $one = $bed->instance('one');           # a MastodonTest (plus api, user keys)
#   my $alice = $one->account('alice');        # a local account with its RSA key and a token
#   my $res = $one->api(GET => '/api/v1/instance', token => $alice->{token});
#   $bed->wait_until(sub { ... }, 10) or fail(...);
#   $bed->peer->post('https://one.test/inbox', $activity, %knobs);
#   $bed->done;            # stops all, checks logs and that no process is left, done_testing
#
# Loading the module re-executes the test (same pid outside, same arguments)
# under `unshare --net --mount --pid --fork --mount-proc` (plus --user
# --map-root-user when not root).  Inside: lo is up; every 127.x.y.z is
# local; a hosts file (one.test 127.0.0.2, two.test 127.0.0.3, peer.test
# 127.0.0.4) and the bed's CA certificate are bind-mounted over /etc/hosts and
# /etc/ssl/certs/ca-certificates.crt, so getaddrinfo, curl, libcurl and
# OpenSSL in every process of the test see those names and trust that CA and
# nothing else; nothing outside the namespace changes.  The test process is
# PID 1 of its namespace: when it exits, for whatever reason, the kernel
# kills every process started in it.
#
# Each instance: nginx with the module on <addr>:443 (TLS, certificate of the
# bed's CA, `mastodon_domain NAME.test; mastodon_https on;`), its own database
# (in the suite's PostgreSQL cluster, reached through its unix socket: its
# TCP port is in the other network namespace), its own redis-server and
# worker (MASTODON_CA_FILE, MASTODON_FEDERATION_ALLOWED_ADDRESSES for the bed's
# addresses).  See README.md "Federation tests".

use strict;
use warnings;

use Test::More ();
use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use MastodonTest;
use FakePeer;

our %ADDR = (one => '127.0.0.2', two => '127.0.0.3', peer => '127.0.0.4', three => '127.0.0.5');
our $INSIDE_ENV = 'MASTODON_FED_NAMESPACE';

sub import {
    return if $ENV{$INSIDE_ENV};
    _reexec();
}

# The unshare command line for this user.
sub _unshare {
    my @cmd = ('unshare', '--net', '--mount', '--pid', '--fork', '--kill-child', '--mount-proc');
    push @cmd, '--user', '--map-root-user' if $> != 0;
    return @cmd;
}

sub _reexec {
    my @unshare = _unshare();
    # can we? (no user namespaces for unprivileged users on some systems)
    my $pid = fork // die "Federation: fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null';
        open STDERR, '>', '/dev/null';
        { no warnings q(exec); exec @unshare, 'true'; }
        POSIX::_exit(127);
    }
    waitpid($pid, 0);
    if ($? != 0) {
        print "1..0 # SKIP cannot make a network namespace here (`@unshare true` failed)\n";
        exit 0;
    }
    $ENV{$INSIDE_ENV} = 1;
    $ENV{MASTODON_TEST_OUTER_PID} = $$;
    # what the world outside looks like, for t/fed_bed.t to compare
    $ENV{MASTODON_FED_OUTER_NETNS} = readlink('/proc/self/ns/net') // '';
    $ENV{MASTODON_FED_OUTER_HOSTS} = (_slurp_file('/etc/hosts') =~ /\.test\b/) ? 'has .test' : 'no .test';
    $ENV{PERL5LIB} = join ':', grep { !ref } @INC;
    { no warnings q(exec); exec @unshare, q(--), $^X, $0, @ARGV; }
    die "Federation: exec unshare: $!";
}

# --- set-up -------------------------------------------------------------------------

# new(instances => ['one', 'two'], peer => 1, instance_options => { one => {...} },
#     hosts => { 'evil.test' => '10.9.8.7' })
# instance_options go to MastodonTest->new (http_config, worker_env, ...);
# hosts adds names (with a certificate each); an address outside 127/8 is
# added to lo (a "private" address that exists only in here).
sub new {
    my ($class, %o) = @_;
    die "Federation: not inside the namespace (load it with `use Federation;`)\n" unless $ENV{$INSIDE_ENV};
    my $self = bless {
        instances => $o{instances} // [qw(one two)],
        want_peer => $o{peer} // 1,
        opts      => $o{instance_options} // {},
        hosts     => { %ADDR, map { (my $n = $_) =~ s/\.test\z//; ($n => $o{hosts}{$_}) } keys %{ $o{hosts} // {} } },
        inst      => {},
        started   => time,
    }, $class;

    _run('ip', 'link', 'set', 'lo', 'up');
    for my $addr (values %{ $self->{hosts} }) {
        _run('ip', 'addr', 'add', "$addr/32", 'dev', 'lo') if $addr !~ /^127\./ && $addr =~ /^[\d.]+\z/;
    }
    $self->{userns} = _userns();

    my $base = $ENV{MASTODON_TEST_VAR};
    if (!$base) {
        make_path("$MastodonTest::ROOT/var");
        chmod 0755, "$MastodonTest::ROOT/var";
        my $out = _run('bash', $MastodonTest::LIB_SH, 'shared_tmpdir', "$MastodonTest::ROOT/var", 'fed.XXXXXX');
        ($base) = $out =~ m{^(/\S+)\s*\z} or die "Federation: shared_tmpdir: $out";
        $self->{standalone_var} = $base;
    }
    (my $name = basename($0)) =~ s/\.t$//;
    $self->{dir} = tempdir("fed-$name.XXXX", DIR => $base);
    chmod 0755, $self->{dir};
    # the pids in here belong to the namespace: scripts/lib.sh kill_leftovers skips them
    _spew("$self->{dir}/pid-namespace", "processes started here die with their PID namespace\n");

    $self->_tls;
    $self->_hosts;
    $self->_postgres;

    for my $n (@{ $self->{instances} }) {
        $self->{inst}{$n} = $self->_start_instance($n);
    }
    if ($self->{want_peer}) {
        my $tls = $self->{tls};
        $self->{peer} = FakePeer->new(dir => "$self->{dir}/peer", host => 'peer.test', addr => $ADDR{peer},
            cert => "$tls/peer.test.crt", key => "$tls/peer.test.key", ca => $self->ca_file);
        $self->{peer}->start;
    }
    $self->{setup_seconds} = time - $self->{started};
    return $self;
}

sub _userns {
    # mapped root: uid 0 inside, not 0 in the initial namespace
    open my $fh, '<', '/proc/self/uid_map' or return 0;
    my $line = <$fh> // '';
    my (undef, $outside, $count) = split ' ', $line;
    return !($outside == 0 && $count > 1);
}

sub _tls {
    my ($self) = @_;
    my $d = $self->{tls} = "$self->{dir}/tls";
    make_path($d);
    _run('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', "$d/ca.key", '-out', "$d/ca.crt", '-days', '2', '-subj', '/CN=federation test CA',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    for my $host ($self->host_names) {
        _run('openssl', 'req', '-x509', '-CA', "$d/ca.crt", '-CAkey', "$d/ca.key", '-newkey', 'ec',
            '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', "$d/$host.key", '-out', "$d/$host.crt",
            '-days', '2', '-subj', "/CN=$host", '-addext', "subjectAltName=DNS:$host",
            '-addext', 'basicConstraints=CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature',
            '-addext', 'extendedKeyUsage=serverAuth');
    }
    chmod 0644, glob("$d/*");
}

sub host_names { my ($self) = @_; map { "$_.test" } sort keys %{ $self->{hosts} } }

sub _hosts {
    my ($self) = @_;
    my $hosts = "$self->{dir}/hosts";
    _spew($hosts, join '', "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        map { "$self->{hosts}{$_}\t$_.test\n" } sort keys %{ $self->{hosts} });
    chmod 0644, $hosts;
    _run('mount', '--bind', $hosts, '/etc/hosts');
    _run('mount', '--bind', $self->ca_file, '/etc/ssl/certs/ca-certificates.crt');
}

# The suite's cluster (scripts/test.sh) listens on 127.0.0.1 of the other
# network namespace: reach it through its unix socket.  Run alone, start one
# in here (on this namespace's loopback).
sub _postgres {
    my ($self) = @_;
    if (my $port = $ENV{MASTODON_TEST_PGPORT}) {
        my $sockdir = $ENV{MASTODON_TEST_PGHOST}
            // ($ENV{MASTODON_TEST_VAR} ? "$ENV{MASTODON_TEST_VAR}/pg" : undef);
        -S "$sockdir/.s.PGSQL.$port"
            or die "Federation: no PostgreSQL socket $sockdir/.s.PGSQL.$port (set MASTODON_TEST_PGHOST)\n";
        $self->{pg_host} = $sockdir;
        return;
    }
    my $pgdir = $self->{pg_dir} = "$self->{dir}/pg";
    my $port = _run('bash', $MastodonTest::LIB_SH, 'pg_create', $pgdir);
    ($port) = $port =~ /(\d+)\s*$/;
    my $build = abs_path($ENV{MASTODON_TEST_BUILD} // "$MastodonTest::ROOT/build");
    _run('bash', $MastodonTest::LIB_SH, 'pg_template', $port, $build, 'mastodon_template');
    $ENV{MASTODON_TEST_PGPORT} = $port;
    $ENV{MASTODON_TEST_TEMPLATE} = 'mastodon_template';
    $self->{pg_host} = '127.0.0.1';
}

sub _start_instance {
    my ($self, $n) = @_;
    my $host = "$n.test";
    my $tls = $self->{tls};
    my %o = %{ $self->{opts}{$n} // {} };
    my $allowed = join ',', map { $ADDR{$_} } sort keys %ADDR;
    local $ENV{MASTODON_TEST_VAR} = $self->{dir};
    my $inst = Federation::Instance->new(
        tag         => $n,
        domain      => $host,
        listen_addr => $ADDR{$n} // die("Federation: no address for $n\n"),
        listen_port => 443,
        tls         => { cert => "$tls/$host.crt", key => "$tls/$host.key", ca => $self->ca_file },
        pg_host     => $self->{pg_host},
        # in a user namespace the mapped root is the only user there is
        main_config => ($self->{userns} ? "user root root;\n" : '') . ($o{main_config} // ''),
        %o,
        worker_env  => {
            MASTODON_CA_FILE                      => $self->ca_file,
            MASTODON_FEDERATION_ALLOWED_ADDRESSES => $allowed,
            %{ $o{worker_env} // {} },
        },
    );
    $inst->{bed} = $self;
    $inst->{name} = $n;
    return $inst;
}

# --- accessors ------------------------------------------------------------------------

sub instance {
    my ($self, $n) = @_;
    return $self->{inst}{$n} // die "Federation: no instance $n\n";
}
sub instances     { map { $_[0]{inst}{$_} } @{ $_[0]{instances} } }
sub peer          { $_[0]{peer} // die "Federation: no peer (peer => 0)\n" }
sub ca_file       { "$_[0]{tls}/ca.crt" }
sub dir           { $_[0]{dir} }
sub address       { $_[0]{hosts}{ $_[1] } }
sub setup_seconds { $_[0]{setup_seconds} }

# wait_until($code, $seconds = 15): poll $code every 50 ms until it returns
# true (its value is returned) or the deadline passes (0).
sub wait_until {
    my ($self, $code, $timeout) = @_;
    my $end = time + ($timeout // 15);
    while (1) {
        my $r = $code->();
        return $r if $r;
        return 0 if time >= $end;
        sleep 0.05;
    }
}

# public_key_of($key_id) -> PEM: a local account's key on a bed instance (from
# its database), for FakePeer->verify of what instances sent.
sub public_key_of {
    my ($self, $key_id) = @_;
    my ($host, $path) = $key_id =~ m{^https://([^/]+)(/[^#]*)} or return undef;
    my ($inst) = grep { $_->host eq $host } $self->instances or return undef;
    my ($user) = $path =~ m{^/users/([^/]+)\z};
    my $where = defined $user ? "username = '$user' AND domain IS NULL" : 'id = -99';
    my $pem = $inst->psql("SELECT public_key FROM accounts WHERE $where");
    return $pem ? "$pem\n" : undef;
}

# tripwire($addr, $port = 443) -> a Federation::Tripwire: a listener that
# records every connection made to it (and answers nothing), for "never
# contacted" assertions: ->hits is the number of connections so far.
sub tripwire {
    my ($self, $addr, $port) = @_;
    my $t = Federation::Tripwire->new($addr, $port // 443, "$self->{dir}/tripwire-$addr-" . ($port // 443));
    push @{ $self->{tripwires} }, $t;
    return $t;
}

# processes() -> ("pid name", ...): what runs in the namespace besides us.
sub processes {
    my @p;
    for my $f (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $f or next;
        my $s = <$fh> // next;
        my ($pid, $comm, $state) = $s =~ /^(\d+) \((.*)\) (\S)/s or next;
        next if $pid == $$ || $state eq 'Z' || $state eq 'X';
        push @p, "$pid $comm";
    }
    return @p;
}

# --- the end ------------------------------------------------------------------------

sub _stop_all {
    my ($self, %o) = @_;
    $self->{peer}->stop if $self->{peer};
    $_->stop for @{ $self->{tripwires} // [] };
    $_->done(plan => 0, %o) for $self->instances;
    if (my $pgdir = delete $self->{pg_dir}) {
        eval { _run('bash', $MastodonTest::LIB_SH, 'pg_stop', $pgdir, 'fast') };
    }
    1 while waitpid(-1, WNOHANG) > 0;    # orphans adopted by us, PID 1
}

# done: stop everything, check the logs, check that nothing is left running
# in the namespace, done_testing.
sub done {
    my ($self) = @_;
    return if $self->{done}++;
    $self->_stop_all;
    my @left;
    $self->wait_until(sub { 1 while waitpid(-1, WNOHANG) > 0; !(@left = processes()) }, 10);
    Test::More::ok(!@left, 'tear-down leaves no process in the namespace') or Test::More::diag("left: @left");
    Test::More::done_testing();
    my $passed = Test::More->builder->is_passing;
    if ($passed && !$ENV{MASTODON_TEST_KEEP}) {
        remove_tree($self->{standalone_var} // $self->{dir});
    } else {
        Test::More::diag('Federation: files kept in ' . ($self->{standalone_var} // $self->{dir}));
    }
    return $passed;
}

# skip_all($reason): tear down quietly and skip the whole file.
sub skip_all {
    my ($self, $reason) = @_;
    $self->{done}++;
    $self->_stop_all(quiet => 1);
    remove_tree($self->{standalone_var} // $self->{dir}) unless $ENV{MASTODON_TEST_KEEP};
    Test::More::plan(skip_all => $reason);
}

sub _run {
    my ($rc, $out, $err) = MastodonTest::_capture(@_);
    $rc == 0 or die "Federation: @_ failed ($rc):\n$out$err";
    return $out;
}

sub _spew { MastodonTest::_spew(@_) }

sub _slurp_file {
    open my $fh, '<', $_[0] or return '';
    local $/;
    return <$fh> // '';
}

# ---------------------------------------------------------------------------------------
package Federation::Tripwire;

use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();

sub new {
    my ($class, $addr, $port, $file) = @_;
    my $sock = IO::Socket::INET->new(LocalAddr => $addr, LocalPort => $port, Proto => 'tcp', Listen => 16,
        ReuseAddr => 1) or die "Federation: tripwire on $addr:$port: $!\n";
    open my $fh, '>', $file or die "Federation: $file: $!\n";
    close $fh;
    my $pid = fork // die "Federation: fork: $!\n";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP ALRM);
        alarm 0;
        while (my $c = $sock->accept) {
            if (open my $log, '>>', $file) { print $log time, ' ', $c->peerhost, "\n"; close $log }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $sock;
    return bless { pid => $pid, file => $file, addr => $addr, port => $port }, $class;
}

sub hits {
    my ($self) = @_;
    open my $fh, '<', $self->{file} or return 0;
    my @l = <$fh>;
    return scalar @l;
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

# ---------------------------------------------------------------------------------------
package Federation::Instance;

# One instance of the bed: a MastodonTest with a public name over TLS.

use strict;
use warnings;
our @ISA = ('MastodonTest');
use Mojo::JSON ();

sub name { $_[0]{name} }
sub host { $_[0]->domain }
sub url  { 'https://' . $_[0]->domain . ($_[1] // '') }

# worker_log: what every worker of the instance logged so far
sub worker_log {
    my ($self) = @_;
    return join '', map { MastodonTest::_slurp($_) } sort glob($self->dir . '/worker-*.log');
}

# api($method, $path, token => ..., json => {...} | form => {...} | query => {...},
# headers => {...}) -> Mojo::Message::Response
sub api {
    my ($self, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    $h{Authorization} = "Bearer $o{token}" if $o{token};
    my $url = Mojo::URL->new($path =~ m{^https?://} ? $path : $self->url($path));
    $url->query($o{query}) if $o{query};
    my @body = $o{json} ? (json => $o{json}) : $o{form} ? (form => $o{form}) : ();
    my $tx = $self->ua->build_tx($method => $url => \%h => @body);
    return $self->ua->start($tx)->res;
}

# account($username, locked => 0, %user_options) -> { account_id, user_id,
# token, username, acct, uri }: a local account made like `accounts create`
# does (RSA key pair), with a token; cached by name.
sub account {
    my ($self, $username, %o) = @_;
    return $self->{accounts}{$username} if $self->{accounts}{$username} && !%o;
    my $locked = delete $o{locked};
    my $u = $self->user($username, password => "password-$username", %o);
    $self->psql("UPDATE accounts SET locked = true WHERE id = $u->{account_id}") if $locked;
    $u->{acct} = "$username\@" . $self->domain;
    $u->{uri} = $self->url("/users/$username");
    return $self->{accounts}{$username} = $u;
}

1;
