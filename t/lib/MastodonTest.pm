package MastodonTest;

# The integration-test harness, in the spirit of nginx-tests' Test::Nginx.
#
#   use MastodonTest;
#   my $t = MastodonTest->new(location_config => '...');
#   $t->mojo->get_ok('/api/v1/instance')->status_is(200);
#   $t->done;      # stops everything, checks error.log and sanitizer output, done_testing
#
# Per test file: a temp dir, its own database (from the template that
# scripts/test.sh migrated), its own redis-server, its own nginx with the
# module, and the worker(s); with smtp => 1 an SMTP sink the worker mails to;
# with s3 => BUCKET an S3-compatible server (s3rver) with that bucket.  Run alone (`prove -I t/lib t/x.t` after `make`),
# it starts its own PostgreSQL cluster.  See README.md, "Tests".
#
# Environment (set by scripts/test.sh):
#   MASTODON_TEST_BUILD     build dir (default <repo>/build)
#   MASTODON_TEST_PGPORT    the shared cluster's port (unset: start one)
#   MASTODON_TEST_TEMPLATE  the migrated template database (mastodon_template)
#   MASTODON_TEST_VAR       where per-file dirs go (unset: a fresh var/t.XXXXXX, or
#                           /tmp/ngx_mastodon-t.XXXXXX when postgres and nobody
#                           cannot enter the checkout)
#   MASTODON_TEST_ASAN      1: the module is an ASan build; preload libasan into nginx
#   MASTODON_TEST_KEEP      1: keep per-file dirs even when the file passed
#   MASTODON_TEST_TIMEOUT   seconds before a test file is aborted (default 300)
#
# Options for instances with a public name (t/lib/Federation.pm uses them):
# domain => 'one.test' (mastodon_domain; default localhost:PORT), listen_addr
# (default 127.0.0.1), listen_port (default a free one), tls => { cert, key,
# ca } (listen ... ssl, mastodon_https on, URLs https://DOMAIN), pg_host (a
# unix socket directory of the cluster instead of TCP on 127.0.0.1).

use strict;
use warnings;

use Test::More ();
use Mojo::UserAgent;
use Mojo::URL;
use Mojo::JSON ();
use Test::Mojo;
use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use Digest::SHA ();
use MIME::Base64 ();
use Exporter qw(import);

# slurp($file): what tests read of files (fixtures, logs), by name
our @EXPORT_OK = qw(slurp);

our $ROOT   = abs_path(dirname(abs_path(__FILE__)) . '/../..');
our $LIB_SH = "$ROOT/scripts/lib.sh";
# by absolute path: a binary upgrade (USR2) re-executes nginx's own argv[0]
our $NGINX  = _abs_bin($ENV{MASTODON_TEST_NGINX} // '/usr/sbin/nginx');

my @LIVE;        # harness objects not yet done (END kills what they started)
my $COUNT = 0;   # objects made by this process (database names)

# --- construction --------------------------------------------------------------

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        nginx           => 1,
        worker          => 1,
        worker_env      => {},
        own_postgres    => 0,
        main_config     => '',
        http_config     => '',
        server_config   => '',
        location_config => '',
        smtp            => 0,
        redis_aof       => 0,
        pg_host         => '127.0.0.1',
        listen_addr     => '127.0.0.1',
        redis_tls       => 0,
        %o,
        owner    => $$,
        workers  => {},     # pid => n
        nworkers => 0,
        done     => 0,
    }, $class;
    push @LIVE, $self;
    _install_signal_handlers();

    my $build = $ENV{MASTODON_TEST_BUILD} // "$ROOT/build";
    -d $build or die "MastodonTest: build dir $build is missing: run `make` first\n";
    $self->{build} = abs_path($build);
    $self->{so} = "$self->{build}/nginx/ngx_http_mastodon_module.so";
    # an ASan build of the module needs the runtime preloaded into nginx
    $self->{asan} = $ENV{MASTODON_TEST_ASAN}
        // ((basename($build) eq 'build-asan' || _slurp($self->{so}) =~ /libasan\.so/) ? 1 : 0);
    if ($self->{nginx} && !-f $self->{so}) {
        die "MastodonTest: $self->{so} is missing: run `make module` (or `make`) first\n";
    }
    if (($self->{worker} || $self->{own_postgres} || !$ENV{MASTODON_TEST_PGPORT})
        && !-x $self->worker_bin)
    {
        die "MastodonTest: " . $self->worker_bin . " is missing: run `make worker` (or `make`) first\n";
    }

    # directories
    my $base = $ENV{MASTODON_TEST_VAR};
    if (!$base) {
        # under var/, or in /tmp when postgres and nobody cannot enter the checkout
        make_path("$ROOT/var");
        chmod 0755, "$ROOT/var";
        my ($rc, $out, $err) = _capture('bash', $LIB_SH, 'shared_tmpdir', "$ROOT/var", 't.XXXXXX');
        $rc == 0 && $out =~ m{^(/\S+)\s*\z} or die "MastodonTest: shared_tmpdir failed:\n$err";
        $base = $self->{standalone_var} = $1;
    }
    (my $name = basename($0)) =~ s/\.t$//;
    $name =~ s/[^A-Za-z0-9_-]/_/g;
    $name = substr($name, 0, 20);
    $name = substr($name, 0, 16) . "-$self->{tag}" if defined $self->{tag};
    $self->{dir} = tempdir("$name.XXXX", DIR => $base);
    chmod 0755, $self->{dir};    # nginx workers (nobody) use temp paths in it

    my $timeout = $ENV{MASTODON_TEST_TIMEOUT} // 300;
    if ($timeout) {
        $SIG{ALRM} = sub {
            Test::More::diag("MastodonTest: test file timed out after ${timeout}s");
            exit 1;
        };
        alarm $timeout;
    }

    # PostgreSQL: the shared cluster, or our own (own_postgres, or run alone)
    if ($self->{own_postgres} || !$ENV{MASTODON_TEST_PGPORT}) {
        my $pgdir = $self->{own_postgres} ? "$self->{dir}/pg" : "$base/pg";
        $self->{pg_dir} = $pgdir;
        my ($rc, $out, $err) = _capture('bash', $LIB_SH, 'pg_create', $pgdir);
        $rc == 0 or die "MastodonTest: could not start PostgreSQL in $pgdir:\n$err";
        ($self->{pgport}) = $out =~ /(\d+)\s*$/;
        $self->{template} = 'mastodon_template';
        ($rc, $out, $err) = _capture('bash', $LIB_SH, 'pg_template', $self->{pgport}, $self->{build},
            $self->{template});
        $rc == 0 or die "MastodonTest: could not migrate the template database:\n$out$err";
    } else {
        $self->{pgport}   = $ENV{MASTODON_TEST_PGPORT};
        $self->{template} = $ENV{MASTODON_TEST_TEMPLATE} // 'mastodon_template';
    }
    $self->_create_db;

    $self->start_redis;
    $self->start_smtp if $self->{smtp};
    $self->start_s3($self->{s3}) if $self->{s3};
    $self->_start_nginx if $self->{nginx};
    $self->start_worker if $self->{worker};
    return $self;
}

sub _create_db {
    my ($self) = @_;
    $COUNT++;
    # in a PID namespace (t/lib/Federation.pm) $$ is 1: the pid outside tells runs apart
    my $db = 't_' . ($ENV{MASTODON_TEST_OUTER_PID} // $$) . "_$COUNT";
    my $last = '';
    for my $try (1 .. 40) {
        my ($rc, $out, $err) = $self->_psql_raw('postgres', qq{CREATE DATABASE "$db" TEMPLATE "$self->{template}"});
        if ($rc == 0) {
            $self->{db} = $db;
            return;
        }
        $last = $err;
        last unless $err =~ /being accessed by other users|could not|deadlock/;
        sleep 0.25;
    }
    die "MastodonTest: CREATE DATABASE $db failed: $last";
}

# --- accessors -----------------------------------------------------------------

sub port        { $_[0]{port} }
sub base {
    my ($self) = @_;
    my $port = $self->{port} // die "MastodonTest: no nginx (nginx => 0)\n";
    return $self->{tls} ? $self->public_base : "http://$self->{listen_addr}:$port";
}
sub dir         { $_[0]{dir} }
sub build       { $_[0]{build} }
sub db_name     { $_[0]{db} }
sub pg_port     { $_[0]{pgport} }
sub redis_port  { $_[0]{redis_port} }
sub worker_bin  { "$_[0]{build}/mastodon-worker" }
sub domain      { $_[0]{domain} // ($_[0]{port} ? "localhost:$_[0]{port}" : 'localhost') }

sub pg_conninfo {
    my ($self, $db) = @_;
    $db //= $self->{db};
    my $host = $self->{pg_host} =~ m{^/} ? "host=$self->{pg_host}" : "hostaddr=$self->{pg_host}";
    return "$host port=$self->{pgport} dbname=$db user=postgres sslmode=disable";
}

sub ua {
    my ($self) = @_;
    return $self->{ua} //= do {
        my $ua = Mojo::UserAgent->new(
            connect_timeout    => 10,
            inactivity_timeout => 30,
            request_timeout    => 30,
            max_redirects      => 0,
        );
        $ua->ca($self->{tls}{ca}) if $self->{tls} && $self->{tls}{ca};
        my $base = $self->{port} ? Mojo::URL->new($self->base) : undef;
        $ua->on(prepare => sub {
            my ($ua, $tx) = @_;
            my $url = $tx->req->url;
            return if $url->is_abs;
            die "MastodonTest: relative URL without nginx\n" unless $base;
            $url->scheme($base->scheme)->host($base->host)->port($base->port);
        });
        $ua;
    };
}

sub mojo {
    my ($self) = @_;
    return $self->{mojo} //= do {
        my $t = Test::Mojo->new;
        $t->ua($self->ua);
        $t;
    };
}

# The environment every worker (and CLI command) gets.
# The VAPID key pair of every test instance (Web Push: the worker signs,
# nginx shows the public half), made once with `mastodon-worker vapid-keys`.
our $VAPID_PRIVATE_KEY = '37JfQWUcZ-yVe198mwpgGNa_4PuByN36JwVxtqtxqns';
our $VAPID_PUBLIC_KEY  = 'BK25Iq3BWhFIXrtkgsFO0UqvmN-D-W6wuyAZuTtkejLHpmW_xPpKU9Zq0o4v-LGywIntJpPUert5sYtkELWDbzk';
sub vapid_public_key { $VAPID_PUBLIC_KEY }

sub worker_env {
    my ($self) = @_;
    return {
        MASTODON_VAPID_PRIVATE_KEY => $VAPID_PRIVATE_KEY,
        MASTODON_VAPID_PUBLIC_KEY  => $VAPID_PUBLIC_KEY,
        MASTODON_DATABASE  => $self->pg_conninfo,
        MASTODON_REDIS     => "127.0.0.1:$self->{redis_port}",
        MASTODON_DOMAIN    => $self->domain,
        MASTODON_LOG_LEVEL => 'debug',
        MASTODON_SQL_DIR   => "$ROOT/sql",
        # media files stay in the test's directory
        MASTODON_MEDIA_ROOT => "$self->{dir}/system",
        ($self->{port} ? (MASTODON_BASE_URL => $self->public_base) : ()),
        ($self->{smtp_port} ? (MASTODON_SMTP_URL => "smtp://127.0.0.1:$self->{smtp_port}") : ()),
        ($self->{asan} ? (ASAN_OPTIONS  => "detect_leaks=0:log_path=$self->{dir}/asan-worker",
                          UBSAN_OPTIONS => "print_stacktrace=1:halt_on_error=0:log_path=$self->{dir}/ubsan-worker")
                       : ()),
        %{ $self->{worker_env} },
    };
}

# worker_cli(@args) -> ($exit_status, $stdout, $stderr): run `mastodon-worker @args`
# with worker_env (logs to stderr unless MASTODON_LOG_FILE is given).
sub worker_cli {
    my ($self, @args) = @_;
    my %env = %{ $self->worker_env };
    local @ENV{keys %env} = values %env;
    return _capture($self->worker_bin, @args);
}

# --- fixtures ------------------------------------------------------------------

# A random secret like the server's (43 characters of base64url).
sub random_token {
    open my $fh, '<:raw', '/dev/urandom' or die "urandom: $!";
    read $fh, my $raw, 32;
    close $fh;
    my $b = MIME::Base64::encode_base64url($raw);
    return substr($b, 0, 43);
}

# app(%o) -> { id, client_id, client_secret }: an OAuth application row.
sub app {
    my ($self, %o) = @_;
    my ($uid, $secret) = (random_token(), random_token());
    my $name = $o{name} // 'Test App';
    my $scopes = $o{scopes} // 'read write follow push';
    my $redirect = $o{redirect_uri} // 'urn:ietf:wg:oauth:2.0:oob';
    my $id = $self->psql(qq{INSERT INTO oauth_applications (name, uid, secret, redirect_uri, scopes)
        VALUES ('$name', '$uid', '$secret', '$redirect', '$scopes') RETURNING id});
    return { id => $id, client_id => $uid, client_secret => $secret };
}

# token(%o) -> the bearer string: an access token (only its SHA-256 digest is
# stored).  user_id => undef gives an app token (client_credentials).
sub token {
    my ($self, %o) = @_;
    my $app = $o{app_id} // $self->app->{id};
    my $token = random_token();
    my $digest = Digest::SHA::sha256_hex($token);
    my $scopes = $o{scopes} // 'read write follow push';
    my $owner = defined $o{user_id} ? $o{user_id} : 'NULL';
    my $expires = defined $o{expires_in} ? $o{expires_in} : 'NULL';
    $self->psql(qq{INSERT INTO oauth_access_tokens (token, scopes, application_id, resource_owner_id,
        expires_in, created_at) VALUES ('$digest', '$scopes', $app, $owner, $expires, now() AT TIME ZONE 'UTC')});
    return $token;
}

# user($username, %o) -> { account_id, user_id, token, username }: a local
# account with a confirmed, approved user and a token (scopes => ...).
# confirmed => 0, approved => 0, disabled => 1, suspended => 1 make the
# states Mastodon's require_user! refuses.  password => 'x' sets a real
# bcrypt password (through the worker's CLI, cost 10).
sub user {
    my ($self, $username, %o) = @_;
    my $email = $o{email} // "$username\@example.com";
    my ($account_id, $user_id);
    if (defined $o{password}) {
        my ($rc, $out, $err) = $self->worker_cli('accounts', 'create', $username, '--email', $email,
            '--password', $o{password}, '--confirmed', '--approve');
        $rc == 0 or die "MastodonTest: accounts create $username: $out$err";
        ($account_id, $user_id) = split /\|/, $self->psql(
            "SELECT a.id || '|' || u.id FROM accounts a JOIN users u ON u.account_id = a.id"
            . " WHERE lower(a.username) = lower('$username') AND a.domain IS NULL");
    } else {
        $account_id = $self->psql(qq{INSERT INTO accounts (username, display_name, note, locked,
            discoverable) VALUES ('$username', '} . ($o{display_name} // '') . qq{', '', }
            . ($o{locked} ? 'true' : 'false') . q{, true) RETURNING id});
        $self->psql("INSERT INTO account_stats (account_id) VALUES ($account_id)");
        $user_id = $self->psql(qq{INSERT INTO users (account_id, email, confirmed_at, approved, disabled)
            VALUES ($account_id, '$email', } . (($o{confirmed} // 1) ? "now() AT TIME ZONE 'UTC'" : 'NULL')
            . ', ' . (($o{approved} // 1) ? 'true' : 'false') . ', ' . ($o{disabled} ? 'true' : 'false')
            . ') RETURNING id');
    }
    $self->psql("UPDATE users SET confirmed_at = NULL WHERE id = $user_id") if defined $o{confirmed} && !$o{confirmed};
    $self->psql("UPDATE accounts SET suspended_at = now() WHERE id = $account_id") if $o{suspended};
    my $token = $self->token(user_id => $user_id, scopes => $o{scopes});
    return { account_id => $account_id, user_id => $user_id, token => $token, username => $username };
}

# Authorization header for a token, for Test::Mojo calls.
sub bearer { return { Authorization => "Bearer $_[1]" } }

# --- answers ---------------------------------------------------------------------

# The base of the URLs the server writes (mastodon_https off; the domain's host).
sub public_base { ($_[0]{tls} ? 'https://' : 'http://') . $_[0]->domain }

# links($tx) -> { next => $url, prev => $url }: the rels of the Link header.
sub links {
    my ($self, $tx) = @_;
    my %l;
    my $h = $tx->res->headers->header('Link') // '';
    while ($h =~ /<([^>]+)>; rel="(\w+)"/g) { $l{$2} = $1 }
    return \%l;
}

# path_of($url): a URL under public_base without it, for $t->ua (dies on others).
sub path_of {
    my ($self, $url) = @_;
    my $base = $self->public_base;
    my ($p) = ($url // '') =~ m{^\Q$base\E(/.*)\z}s
        or die "MastodonTest: path_of: " . ($url // 'undef') . " is not under $base\n";
    return $p;
}

# post_status($headers, %form) -> the Status: POST /api/v1/statuses, tested to
# answer 200.
sub post_status {
    my ($self, $headers, %form) = @_;
    return $self->mojo->post_ok('/api/v1/statuses', $headers, form => \%form)->status_is(200)
        ->tx->res->json;
}

# timed_get($path) -> seconds: a GET through mojo (get_ok), timed.
sub timed_get {
    my ($self, $path) = @_;
    my $start = time;
    $self->mojo->get_ok($path);
    return time - $start;
}

# media_processed($id, $headers[, $seconds]) -> ($code, $json): GET
# /api/v1/media/:id until it answers other than 206 (processing), 30 s at most.
sub media_processed {
    my ($self, $id, $headers, $seconds) = @_;
    my $tx;
    for (1 .. 10 * ($seconds // 30)) {
        $tx = $self->ua->get("/api/v1/media/$id" => $headers);
        return ($tx->res->code, $tx->res->json) if $tx->res->code != 206;
        sleep 0.1;
    }
    return ($tx->res->code, $tx->res->json);
}

# spool_files: how many uploads wait in the media spool
sub spool_files {
    my ($self) = @_;
    return scalar grep { -f } glob("$self->{dir}/media_spool/*");
}

# file_of($url): the file a local media URL (/system/...) is served from
sub file_of {
    my ($self, $url) = @_;
    $url =~ s{^https?://[^/]+/system}{$self->{dir}/system};
    return $url;
}

# --- PostgreSQL ----------------------------------------------------------------

sub _psql_raw {
    my ($self, $db, $sql) = @_;
    return _capture('psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', $self->{pg_host},
        '-p', $self->{pgport}, '-U', 'postgres', '-d', $db, '-c', $sql);
}

# psql($sql [, $db]): stdout (chomped); on error a diag and undef.
sub psql {
    my ($self, $sql, $db) = @_;
    my ($rc, $out, $err) = $self->_psql_raw($db // $self->{db}, $sql);
    if ($rc != 0) {
        Test::More::diag("psql failed ($rc): $sql\n$err");
        return undef;
    }
    chomp $out;
    return $out;
}

# hold_lock($table, $seconds) -> pid: a psql of another session holding an
# ACCESS EXCLUSIVE lock on the table for that long, returned once granted; the
# caller ends it (kill TERM, waitpid)
sub hold_lock {
    my ($self, $table, $seconds) = @_;
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        exec 'psql', '-X', '-q', '-h', $self->{pg_host}, '-p', $self->pg_port, '-U', 'postgres',
            '-d', $self->db_name,
            '-c', "BEGIN; LOCK TABLE $table IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep($seconds); COMMIT;"
            or POSIX::_exit(127);
    }
    $self->wait_for(sub {
        $self->psql(qq{SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
                       WHERE c.relname = '$table' AND l.mode = 'AccessExclusiveLock' AND l.granted}) eq '1'
    }, 10) or die "MastodonTest: the lock on $table was not taken";
    return $pid;
}

sub stop_postgres {
    my ($self, $mode) = @_;
    die "MastodonTest: stop_postgres needs own_postgres => 1\n" unless $self->{own_postgres};
    my ($rc, $out, $err) = _capture('bash', $LIB_SH, 'pg_stop', $self->{pg_dir}, $mode // 'immediate');
    $rc == 0 or die "MastodonTest: pg_stop failed: $err";
    return 1;
}

sub start_postgres {
    my ($self) = @_;
    die "MastodonTest: start_postgres needs own_postgres => 1\n" unless $self->{own_postgres};
    my ($rc, $out, $err);
    for (1 .. 20) {
        ($rc, $out, $err) = _capture('bash', $LIB_SH, 'pg_start', $self->{pg_dir}, $self->{pgport});
        return 1 if $rc == 0;
        last unless $rc == 2;    # port still taken: wait for it
        sleep 0.5;
    }
    die "MastodonTest: could not restart PostgreSQL on port $self->{pgport}: $err";
}

# --- the inbox ---------------------------------------------------------------------

# inbox_deliver($activity, signer_id => ID, signer => URI) -> row id: an
# activity as the module's inbox stores it, the row and its inbox_process job
# in one statement (signer: the actor URI whose key signed, default the
# activity's actor; signer_id: that account, default none).
sub inbox_deliver {
    my ($self, $act, %o) = @_;
    my $signer = $o{signer} // $act->{actor};
    my $sa = $o{signer_id} // 'NULL';
    (my $body = Mojo::JSON::encode_json($act)) =~ s/'/''/g;
    return $self->psql("WITH r AS (INSERT INTO inbox_activities (body, signer_account_id, actor_uri, key_id)"
        . " VALUES ('$body', $sa, '$signer', '$signer#main-key') RETURNING id),"
        . " j AS (INSERT INTO job_outbox (queue, type, args) SELECT 'ingress', 'inbox_process',"
        . " json_build_object('id', id::text)::text FROM r) SELECT id FROM r");
}

# inbox_processed($row[, $seconds]): whether the worker processed the row (it
# is gone), waited for (30 s)
sub inbox_processed {
    my ($self, $row, $seconds) = @_;
    return $self->wait_for(sub {
        $self->psql("SELECT count(*) FROM inbox_activities WHERE id = $row") eq '0' }, $seconds // 30);
}

# inbox_process($activity, %o) -> row id: inbox_deliver(), then a test that
# the worker processed it (named $o{name}, default "activity <row> processed").
sub inbox_process {
    my ($self, $act, %o) = @_;
    my $row = $self->inbox_deliver($act, %o);
    Test::More::ok($self->inbox_processed($row), $o{name} // "activity $row processed")
        or Test::More::diag($self->error_log);
    return $row;
}

# --- Redis ---------------------------------------------------------------------

# With redis_tls => 1 Redis also listens with TLS on redis_tls_port (the
# plain port stays, for redis-cli and the harness), its certificate made by a
# test CA: tls_dir() holds ca.crt, server.crt (127.0.0.1 and redis.test),
# client.crt/.key (for clientAuth) and other-ca.crt (a CA that signed nothing
# here).  Clients' certificates are verified if given (tls-auth-clients
# optional).
sub start_redis {
    my ($self) = @_;
    my $dir = "$self->{dir}/redis";
    make_path($dir);
    my $fixed = $self->{redis_port};
    my @tls;
    if ($self->{redis_tls}) {
        my $tls = $self->tls_dir;
        $self->{redis_tls_port} //= _free_port();
        @tls = ('--tls-port', $self->{redis_tls_port}, '--tls-cert-file', "$tls/server.crt",
            '--tls-key-file', "$tls/server.key", '--tls-ca-cert-file', "$tls/ca.crt",
            '--tls-auth-clients', 'optional');
    }
    for my $try (1 .. 20) {
        my $port = $fixed // _free_port();
        unlink "$dir/redis.log";
        my $pid = _spawn("$dir/redis.out", {}, 'redis-server', '--bind', '127.0.0.1', '--port', $port,
            '--dir', $dir, '--save', '', '--appendonly', ($self->{redis_aof} ? 'yes' : 'no'), '--daemonize', 'no',
            '--logfile', "$dir/redis.log", '--pidfile', "$dir/redis.pid", '--protected-mode', 'yes', @tls);
        my $up = 0;
        my $end = time + 20;
        while (time < $end) {
            if (waitpid($pid, WNOHANG) == $pid) { $pid = undef; last }
            if (_redis_ping($port)) { $up = 1; last }
            sleep 0.05;
        }
        if ($up) {
            $self->{redis_pid}  = $pid;
            $self->{redis_port} = $port;
            return $port;
        }
        _kill_wait($pid, 'KILL', 5) if $pid;
        my $log = _slurp("$dir/redis.log") . _slurp("$dir/redis.out");
        if ($log =~ /Address already in use/) {
            sleep 0.3 if $fixed;
            next;
        }
        die "MastodonTest: redis-server failed to start:\n$log";
    }
    die "MastodonTest: redis-server: no usable port";
}

sub redis_tls_port { $_[0]{redis_tls_port} }

# tls_dir: a test CA and certificates made by it (EC P-256, made once).
sub tls_dir {
    my ($self) = @_;
    my $tls = "$self->{dir}/tls";
    return $tls if -f "$tls/client.crt";
    make_path($tls);
    chmod 0755, $tls;
    my @ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes');
    for my $ca ('ca', 'other-ca') {
        _openssl('req', '-x509', @ec, '-keyout', "$tls/$ca.key", '-out', "$tls/$ca.crt", '-days', 2,
            '-subj', "/CN=mastodon test $ca");
    }
    my %ext = (server => "subjectAltName=IP:127.0.0.1,DNS:redis.test\n", client => "extendedKeyUsage=clientAuth\n");
    for my $who (sort keys %ext) {
        _spew("$tls/$who.ext", $ext{$who});
        _openssl('req', @ec, '-keyout', "$tls/$who.key", '-out', "$tls/$who.csr", '-subj', "/CN=mastodon test $who");
        _openssl('x509', '-req', '-in', "$tls/$who.csr", '-CA', "$tls/ca.crt", '-CAkey', "$tls/ca.key",
            '-CAcreateserial', '-days', 2, '-out', "$tls/$who.crt", '-extfile', "$tls/$who.ext");
    }
    chmod 0644, glob("$tls/*");
    return $tls;
}

sub _openssl {
    my ($rc, $out, $err) = _capture('openssl', @_);
    $rc == 0 or die "MastodonTest: openssl @_:\n$out$err";
}

# stop_redis([$signal]): TERM (a clean shutdown), or e.g. KILL (a crash)
sub stop_redis {
    my ($self, $sig) = @_;
    my $pid = delete $self->{redis_pid} or return;
    _kill_wait($pid, $sig // 'TERM', 10) or _kill_wait($pid, 'KILL', 5);
    unlink "$self->{dir}/redis/redis.pid";
    return 1;
}

sub redis {
    my ($self, @args) = @_;
    my ($rc, $out, $err) = _capture('redis-cli', '-h', '127.0.0.1', '-p', $self->{redis_port}, @args);
    Test::More::diag("redis-cli @args: $err") if $rc != 0;
    chomp $out;
    return $out;
}

# jobs([$queue]) -> ({ type, args (decoded), attempt, ... }, ...): the jobs in
# the stream mastodon:queue:<queue> (default), oldest first, after the outbox
# was relayed into the streams (`mastodon-worker relay`; with worker => 0
# nothing else relays).
sub jobs {
    my ($self, $queue) = @_;
    my (@jobs, $fields);
    my ($rc, $out, $err) = $self->worker_cli('relay');
    Test::More::diag("mastodon-worker relay: $err") if $rc != 0;
    for my $line (split /\n/, $self->redis('XRANGE', 'mastodon:queue:' . ($queue // 'default'), '-', '+')) {
        if ($line =~ /^\d+-\d+$/) {     # an entry id; its fields follow, one a line
            push @jobs, $fields = [];
        } else {
            push @$fields, $line;
        }
    }
    return map { my %j = @$_; $j{args} = Mojo::JSON::decode_json($j{args}) if defined $j{args}; \%j } @jobs;
}

# take_jobs([$queue]): jobs(), and the stream is emptied.
sub take_jobs {
    my ($self, $queue) = @_;
    my @jobs = $self->jobs($queue);
    $self->redis('DEL', 'mastodon:queue:' . ($queue // 'default'));
    return @jobs;
}

sub _redis_ping {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp', Timeout => 1)
        or return 0;
    print $s "PING\r\n";
    my $line = <$s> // '';
    close $s;
    return $line =~ /^\+PONG/;
}

# --- nginx ---------------------------------------------------------------------

sub _has_directive {
    my ($text, $name) = @_;
    return ($text // '') =~ /(?:^|[;{}\s])\Q$name\E\s/m;
}

# The nginx.conf text; %o overrides main_config/http_config/server_config/location_config.
sub _nginx_conf {
    my ($self, $dir, $port, %o) = @_;
    my %c = map { $_ => $o{$_} // $self->{$_} // '' } qw(main_config http_config server_config location_config);
    my $bare = $o{bare};

    my @main = (
        [ worker_processes => 'worker_processes 2;' ],
        [ thread_pool      => 'thread_pool mastodon threads=4;' ],
    );
    my @http = (
        [ mastodon_database => qq{mastodon_database "} . $self->pg_conninfo . qq{";} ],
        [ mastodon_redis    => "mastodon_redis 127.0.0.1:$self->{redis_port};" ],
        [ mastodon_domain   => 'mastodon_domain ' . ($self->{domain} // "localhost:$port") . ';' ],
        [ mastodon_https    => 'mastodon_https ' . ($self->{tls} ? 'on' : 'off') . ';' ],
        [ mastodon_pg_connect_timeout    => 'mastodon_pg_connect_timeout 2s;' ],
        [ mastodon_pg_query_timeout      => 'mastodon_pg_query_timeout 3s;' ],
        [ mastodon_redis_connect_timeout => 'mastodon_redis_connect_timeout 2s;' ],
        [ mastodon_redis_timeout         => 'mastodon_redis_timeout 2s;' ],
        [ mastodon_instance_cache        => 'mastodon_instance_cache 0;' ],
        # exact counters in every answer; t/account_cache.t turns it on
        [ mastodon_account_cache         => 'mastodon_account_cache 0;' ],
        [ mastodon_thread_pool           => 'mastodon_thread_pool mastodon;' ],
        [ mastodon_bcrypt_cost           => 'mastodon_bcrypt_cost 4;' ],
        # tests make many requests from one address; t/rate_limit.t turns it on
        [ mastodon_rate_limit            => 'mastodon_rate_limit off;' ],
        [ mastodon_vapid_public_key      => "mastodon_vapid_public_key $VAPID_PUBLIC_KEY;" ],
    );
    my $main = join "\n", map { $_->[1] } grep { !_has_directive($c{main_config}, $_->[0]) } @main;
    # a default that http_config sets itself is left out (no "is duplicate")
    my $http = $bare ? '' : join "\n    ", map { $_->[1] } grep { !_has_directive($c{http_config}, $_->[0]) } @http;

    my $listen = "$self->{listen_addr}:$port";
    my $server_name = 'localhost';
    if (my $tls = $self->{tls}) {
        ($server_name = $self->domain) =~ s/:\d+\z//;
        $listen .= " ssl;\n        ssl_certificate $tls->{cert};\n        ssl_certificate_key $tls->{key}";
    }

    # a binary upgrade (USR2) re-executes nginx with only TZ and the variables
    # named by env: the new master of an ASan build needs the runtime too
    my $env = $self->{asan} ? "env LD_PRELOAD;\nenv ASAN_OPTIONS;\nenv UBSAN_OPTIONS;" : '';

    return <<"EOF";
# written by t/lib/MastodonTest.pm
load_module $self->{so};
$main
daemon on;
master_process on;
error_log $dir/error.log info;
pid $dir/nginx.pid;
$env
$c{main_config}

events {
    worker_connections 1024;
}

http {
    access_log $dir/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    $http

    $c{http_config}

    server {
        listen $listen;
        server_name $server_name;

        $c{server_config}

        location / {
            mastodon;
            $c{location_config}
        }
    }
}
EOF
}

sub _nginx_env {
    my ($self, $dir) = @_;
    return () unless $self->{asan};
    my $lib = `gcc -print-file-name=libasan.so 2>/dev/null`;
    chomp $lib;
    die "MastodonTest: libasan.so not found\n" unless $lib && -e $lib;
    # nginx's workers run as nobody: their reports go to a directory they may write
    my $logs = "$self->{dir}/sanitizer";
    mkdir $logs;
    chmod 01777, $logs;
    return (
        LD_PRELOAD    => abs_path($lib),
        ASAN_OPTIONS  => "detect_leaks=0:log_path=$logs/asan",
        UBSAN_OPTIONS => "print_stacktrace=1:log_path=$logs/ubsan",
    );
}

sub _start_nginx {
    my ($self) = @_;
    my $dir = $self->{dir};
    my %env = $self->_nginx_env($dir);
    for my $try (1 .. 10) {
        my $port = $self->{listen_port} // _free_port();
        $self->{port} = $port;
        _spew("$dir/nginx.conf", $self->_nginx_conf($dir, $port));
        unlink "$dir/nginx.pid", "$dir/error.log";
        my ($rc, $out, $err) = do {
            local @ENV{keys %env} = values %env;
            _capture($NGINX, '-p', "$dir/", '-c', "$dir/nginx.conf", '-e', "$dir/error.log");
        };
        if ($rc != 0) {
            next if "$out$err" =~ /Address already in use/ && !$self->{listen_port};
            die "MastodonTest: nginx failed to start ($dir/nginx.conf):\n$out$err";
        }
        my $ok = _wait_for(sub { -s "$dir/nginx.pid" }, 10);
        die "MastodonTest: nginx wrote no pid file:\n" . _slurp("$dir/error.log") unless $ok;
        $self->{nginx_pid} = _read_pid("$dir/nginx.pid");
        $ok = _wait_for(sub {
            my $s = IO::Socket::INET->new(PeerAddr => $self->{listen_addr}, PeerPort => $port, Proto => 'tcp',
                Timeout => 1) or return 0;
            close $s;
            1;
        }, 10);
        die "MastodonTest: nginx does not accept on port $port:\n" . _slurp("$dir/error.log") unless $ok;
        return $port;
    }
    die "MastodonTest: nginx: no usable port";
}

sub nginx_pid { $_[0]{nginx_pid} }

# stop_nginx / start_nginx: take nginx down (QUIT, or TERM with $fast) and
# start it again (on the same port with listen_port; else on a new one).
sub stop_nginx  { my ($self, $fast) = @_; return $self->_stop_nginx(!$fast) }
sub start_nginx { my ($self) = @_; return $self->_start_nginx }

# reload_nginx: HUP the master, wait until the new workers run.
sub reload_nginx {
    my ($self) = @_;
    my $pid = $self->{nginx_pid} or die "MastodonTest: nginx is not running\n";
    my $log = "$self->{dir}/error.log";
    my $off = -s $log // 0;
    my @old = _children($pid);
    kill 'HUP', $pid or die "MastodonTest: kill HUP $pid: $!\n";
    my $ok = _wait_for(sub {
        my $tail = substr(_slurp($log), $off);
        my $n = () = $tail =~ /start worker process/g;
        return 1 if $n >= 2;
        return 2 if $tail =~ /\[emerg\]/;    # the new config was refused: old workers go on
        0;
    }, 20);
    # until the old workers have gone (or at least closed their listeners, which an
    # exiting worker does first), a new connection may still reach the old config
    _wait_for(sub { !grep { _alive($_) } @old }, 10) if $ok && $ok == 1;
    sleep 0.1;
    # connections kept alive to the old workers close as they exit: start afresh
    delete $self->{ua};
    $self->{mojo}->ua($self->ua) if $self->{mojo};
    return $ok && $ok == 1;
}

# upgrade_nginx($between): nginx's binary upgrade on the running nginx.  USR2
# to the master: a new master starts from the same binary (nginx.pid becomes
# nginx.pid.oldbin) and its workers; WINCH to the old master: its workers shut
# down gracefully; $between->() (optional) runs then, while the old master
# could still take over; QUIT to the old master.  From then on the new master
# is the harness's nginx.  True once the old master has gone.
sub upgrade_nginx {
    my ($self, $between) = @_;
    my $old = $self->{nginx_pid} or die "MastodonTest: nginx is not running\n";
    my $dir = $self->{dir};
    my $log = "$dir/error.log";
    my $off = -s $log // 0;
    my @old_workers = _children($old);
    $self->{nginx_oldbin_pid} = $old;
    kill 'USR2', $old or die "MastodonTest: kill USR2 $old: $!\n";
    my $new;
    my $ok = _wait_for(sub {
        return 2 if substr(_slurp($log), $off) =~ /new binary process \d+ exited/;
        return 0 unless (_read_pid("$dir/nginx.pid.oldbin") // 0) == $old;
        $new = _read_pid("$dir/nginx.pid") or return 0;
        return 0 if $new == $old || !_alive($new);
        my $tail = substr(_slurp($log), $off);
        my $n = () = $tail =~ /\b$new#\d+: start worker process/g;
        return $n >= @old_workers ? 1 : 0;
    }, 20);
    unless ($ok && $ok == 1) {
        Test::More::diag("MastodonTest: no new nginx master after USR2:\n" . substr(_slurp($log), $off));
        # the old master goes on (nginx renames the pid file back); a new one
        # that started but never got its workers goes
        $self->_stop_nginx_new($old, $new) if $new && $new != $old;
        delete $self->{nginx_oldbin_pid};
        return 0;
    }
    $self->{nginx_pid} = $new;
    kill 'WINCH', $old or die "MastodonTest: kill WINCH $old: $!\n";
    $ok = _wait_for(sub { !grep { _alive($_) } @old_workers }, 30);
    Test::More::diag("MastodonTest: the old workers still run 30 s after WINCH") unless $ok;
    # connections kept alive to the old workers are closed: start afresh
    delete $self->{ua};
    $self->{mojo}->ua($self->ua) if $self->{mojo};
    $between->() if $between;
    kill 'QUIT', $old;
    $ok = _wait_gone($old, 20) && $ok;
    delete $self->{nginx_oldbin_pid} if $ok;
    return $ok;
}

# reconfigure_nginx(%opts): new main_config/http_config/server_config/
# location_config (the others stay), nginx.conf rewritten, then reload_nginx.
sub reconfigure_nginx {
    my ($self, %o) = @_;
    die "MastodonTest: nginx is not running\n" unless $self->{nginx_pid};
    for my $k (qw(main_config http_config server_config location_config)) {
        $self->{$k} = $o{$k} if exists $o{$k};
    }
    _spew("$self->{dir}/nginx.conf", $self->_nginx_conf($self->{dir}, $self->{port}));
    return $self->reload_nginx;
}

# nginx_test_config(%opts) -> ($exit_status, $output): `nginx -t` on a config made
# like the harness's one with main_config/http_config/server_config/location_config
# from %opts (bare => 1 leaves out the default mastodon_* directives).
sub nginx_test_config {
    my ($self, %o) = @_;
    my $dir = tempdir('nginx-t.XXXX', DIR => $self->{dir});
    chmod 0755, $dir;
    _spew("$dir/nginx-t.conf", $self->_nginx_conf($dir, $self->{port} // _free_port(), %o));
    my %env = $self->_nginx_env($dir);
    local @ENV{keys %env} = values %env;
    my ($rc, $out, $err) = _capture($NGINX, '-t', '-p', "$dir/", '-c', "$dir/nginx-t.conf", '-e', "$dir/error.log");
    return ($rc, "$out$err");
}

sub error_log {
    my ($self) = @_;
    return _slurp("$self->{dir}/error.log");
}

# the old master of an upgrade left halfway, and its workers (and a new
# master, its child, with its workers)
sub _stop_nginx_oldbin {
    my ($self) = @_;
    my $old = delete $self->{nginx_oldbin_pid} or return;
    my @kids = _children($old);
    push @kids, map { _children($_) } @kids;
    kill 'KILL', $old, @kids;
    _wait_gone($_, 5) for $old, @kids;
}

sub _stop_nginx_new {
    my ($self, $old, $new) = @_;
    return unless grep { $_ == $new } _children($old);    # ours: the old master's child
    my @kids = _children($new);
    kill 'KILL', $new, @kids;
    _wait_gone($_, 5) for $new, @kids;
}

sub _stop_nginx {
    my ($self, $graceful) = @_;
    my $pid = delete $self->{nginx_pid} or return 1;
    my @kids = _children($pid);
    if ($graceful) {
        kill 'QUIT', $pid;
        return 1 if _wait_gone($pid, 20);
        Test::More::diag("MastodonTest: nginx master $pid still runs 20 s after QUIT; killing it");
    } else {
        kill 'TERM', $pid;
        return 1 if _wait_gone($pid, 5);
    }
    push @kids, _children($pid);
    kill 'KILL', $pid, @kids;
    _wait_gone($_, 5) for $pid, @kids;
    return 0;
}

# --- SMTP sink -------------------------------------------------------------------

# start_smtp: a tiny SMTP server (smtp => 1 starts it before the worker, whose
# environment then gets MASTODON_SMTP_URL) on a free loopback port, or on the
# port it had before (after stop_smtp).  Each accepted message is a file in
# <dir>/smtp/; mails() reads them back.
sub start_smtp {
    my ($self) = @_;
    my $dir = "$self->{dir}/smtp";
    make_path($dir);
    my $sock;
    for my $try (1 .. 50) {
        $sock = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $self->{smtp_port} // _free_port(),
            Proto => 'tcp', Listen => 16, ReuseAddr => 1) and last;
        sleep 0.1;
    }
    $sock or die "MastodonTest: SMTP sink: no port: $!\n";
    $self->{smtp_port} = $sock->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP ALRM);
        alarm 0;
        _smtp_serve($sock, $dir);
        POSIX::_exit(0);
    }
    close $sock;
    $self->{smtp_pid} = $pid;
    return $self->{smtp_port};
}

sub stop_smtp {
    my ($self) = @_;
    my $pid = delete $self->{smtp_pid} or return;
    _kill_wait($pid, 'TERM', 10) or _kill_wait($pid, 'KILL', 5);
    return 1;
}

sub smtp_port { $_[0]{smtp_port} }

# mails() -> ({ from, to => [...], data }, ...): the messages received, oldest first.
sub mails {
    my ($self) = @_;
    my @mails;
    for my $f (sort glob("$self->{dir}/smtp/*.eml")) {
        my ($head, $data) = split /\n\n/, _slurp($f), 2;
        my ($from, @to) = split /\n/, $head;
        push @mails, { from => $from, to => \@to, data => $data };
    }
    return @mails;
}

# The child's loop: one connection at a time, enough for the tests.
sub _smtp_serve {
    my ($listen, $dir) = @_;
    my $n = 0;
    while (my $c = $listen->accept) {
        $c->autoflush(1);
        my ($from, @to);
        print $c "220 127.0.0.1 MastodonTest SMTP sink\r\n";
        while (defined(my $line = <$c>)) {
            $line =~ s/\r?\n\z//;
            if ($line =~ /^(?:EHLO|HELO)\b/i) {
                print $c "250 127.0.0.1\r\n";
            } elsif ($line =~ /^MAIL FROM:\s*<?([^>]*)>?/i) {
                ($from, @to) = ($1);
                print $c "250 OK\r\n";
            } elsif ($line =~ /^RCPT TO:\s*<?([^>]*)>?/i) {
                push @to, $1;
                print $c "250 OK\r\n";
            } elsif ($line =~ /^DATA\b/i) {
                print $c "354 End data with <CR><LF>.<CR><LF>\r\n";
                my $data = '';
                while (defined(my $l = <$c>)) {
                    last if $l =~ /^\.\r?\n\z/;
                    $l =~ s/^\.\././;
                    $data .= $l;
                }
                my $name = sprintf('%s/%.6f-%d-%04d', $dir, time, $$, ++$n);
                if (open my $fh, '>', "$name.tmp") {
                    print $fh join("\n", $from // '', @to), "\n\n", $data;
                    close $fh;
                    rename "$name.tmp", "$name.eml";
                }
                print $c "250 OK queued\r\n";
            } elsif ($line =~ /^(?:RSET|NOOP)\b/i) {
                ($from, @to) = () if $line =~ /^RSET/i;
                print $c "250 OK\r\n";
            } elsif ($line =~ /^QUIT\b/i) {
                print $c "221 Bye\r\n";
                last;
            } else {
                print $c "502 Command not implemented\r\n";
            }
        }
        close $c;
    }
}

# --- an S3-compatible server ----------------------------------------------------

# The s3rver of scripts/install-deps.sh (npm's, a real S3 protocol server:
# it checks the SigV4 signatures with its keys S3RVER / S3RVER).
our $S3RVER = $ENV{MASTODON_S3RVER} // '/usr/local/lib/mastodon-s3rver/node_modules/.bin/s3rver';

# start_s3($bucket): s3rver on a free loopback port with the bucket made,
# its data under <dir>/s3; returns the port.  s3_env() is what the worker
# needs to store there (path style, as for any non-AWS endpoint).
sub start_s3 {
    my ($self, $bucket) = @_;
    $bucket //= 'media';
    die "MastodonTest: no s3rver at $S3RVER (scripts/install-deps.sh installs it)\n" unless -x $S3RVER;
    my $dir = "$self->{dir}/s3";
    make_path($dir);
    my $port = _free_port();
    my $pid = _spawn("$self->{dir}/s3rver.out", {}, $S3RVER, '-d', $dir, '-a', '127.0.0.1', '-p', $port,
        '--silent', '--no-vhost-buckets', '--configure-bucket', $bucket);
    $self->{s3_pid} = $pid;
    my $up = _wait_for(sub {
        return 0 unless _alive($pid);
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp');
        return 0 unless $s;
        close $s;
        return 1;
    }, 30);
    die "MastodonTest: s3rver did not start: " . (_slurp("$self->{dir}/s3rver.out") // '') . "\n" unless $up;
    $self->{s3_port} = $port;
    $self->{s3_bucket} = $bucket;
    return $port;
}

sub s3_port { $_[0]{s3_port} }
sub s3_bucket_url { "http://127.0.0.1:$_[0]{s3_port}/$_[0]{s3_bucket}" }

sub s3_env {
    my ($self) = @_;
    return (MASTODON_S3_ENABLED => 1, MASTODON_S3_BUCKET => $self->{s3_bucket},
        MASTODON_S3_REGION => 'us-east-1', MASTODON_S3_ENDPOINT => "http://127.0.0.1:$self->{s3_port}",
        MASTODON_S3_ACCESS_KEY_ID => 'S3RVER', MASTODON_S3_SECRET_ACCESS_KEY => 'S3RVER');
}

sub stop_s3 {
    my ($self) = @_;
    my $pid = delete $self->{s3_pid} or return;
    _kill_wait($pid, 'TERM', 10) or _kill_wait($pid, 'KILL', 5);
    return 1;
}

# --- workers -------------------------------------------------------------------

sub start_worker {
    my ($self, %env) = @_;
    my $n = ++$self->{nworkers};
    my %e = (%{ $self->worker_env }, MASTODON_LOG_FILE => "$self->{dir}/worker-$n.log", %env);
    my $pid = _spawn("$self->{dir}/worker-$n.out", \%e, $self->worker_bin, 'run');
    $self->{workers}{$pid} = $n;
    _spew("$self->{dir}/worker-$n.pid", "$pid\n");
    return $pid;
}

sub worker_pids { sort { $a <=> $b } keys %{ $_[0]{workers} } }

# kill_worker($pid, $signal): send a signal; for KILL also reap it.  Returns the
# exit status for KILL (see stop_worker), 1 otherwise.
sub kill_worker {
    my ($self, $pid, $sig) = @_;
    $sig //= 'TERM';
    kill $sig, $pid or return 0;
    if ($sig eq 'KILL' || $sig eq '9') {
        waitpid($pid, 0);
        my $st = _status($?);
        $self->_forget_worker($pid);
        return $st;
    }
    return 1;
}

# stop_worker($pid): TERM, wait up to 30 s (then KILL); returns its exit status
# (the exit code, or 128 + signal number when a signal ended it).
sub stop_worker {
    my ($self, $pid, $timeout) = @_;
    return undef unless $self->{workers}{$pid};
    kill 'TERM', $pid;
    my $st;
    my $end = time + ($timeout // 30);
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) { $st = _status($?); last }
        sleep 0.05;
    }
    unless (defined $st) {
        Test::More::diag("MastodonTest: worker $pid still runs 30 s after TERM; killing it");
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $st = _status($?);
    }
    $self->_forget_worker($pid);
    return $st;
}

sub _forget_worker {
    my ($self, $pid) = @_;
    my $n = delete $self->{workers}{$pid};
    unlink "$self->{dir}/worker-$n.pid" if $n;
}

# --- waiting -------------------------------------------------------------------

sub wait_for {
    my ($self, $code, $timeout) = @_;
    return _wait_for($code, $timeout // 10);
}

sub _wait_for {
    my ($code, $timeout) = @_;
    my $end = time + $timeout;
    while (1) {
        my $r = $code->();
        return $r if $r;
        return 0 if time >= $end;
        sleep 0.05;
    }
}

# --- the end -------------------------------------------------------------------

# done(%o): plan => 0 leaves done_testing to the caller (several instances in
# one file); quiet => 1 stops everything without the checks (before a skip_all),
# keep => 1 then leaves the dir (the caller decides).
sub done {
    my ($self, %o) = @_;
    return if $self->{done}++;
    alarm 0;
    my $quiet = $o{quiet};
    my $who = defined $self->{tag} ? "$self->{tag}: " : '';
    my $nginx_ok = $self->_stop_nginx(1);
    Test::More::ok(0, "${who}nginx exited within 20 s of QUIT") unless $nginx_ok || $quiet;
    $self->_stop_nginx_oldbin;
    $self->stop_worker($_) for $self->worker_pids;
    $self->stop_redis;
    $self->stop_smtp;
    $self->stop_s3;
    $self->_drop_db_and_pg;

    my $dir = $self->{dir};
    if ($quiet) {
        @LIVE = grep { $_ != $self } @LIVE;
        remove_tree($self->{standalone_var} // $dir) unless $ENV{MASTODON_TEST_KEEP} || $o{keep};
        return 1;
    }
    my @bad = grep { /\[(?:alert|emerg)\]/ } split /\n/, $self->error_log;
    Test::More::ok(!@bad, "${who}no [alert] or [emerg] in error.log")
        or Test::More::diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);

    my @san = $self->_sanitizer_reports;
    Test::More::ok(!@san, "${who}no sanitizer reports")
        or Test::More::diag(join "\n", @san[0 .. ($#san < 19 ? $#san : 19)]);

    @LIVE = grep { $_ != $self } @LIVE;
    Test::More::done_testing() if $o{plan} // 1;

    my $passed = Test::More->builder->is_passing;
    if ($passed && !$ENV{MASTODON_TEST_KEEP}) {
        remove_tree($self->{standalone_var} // $dir);
    } else {
        Test::More::diag("MastodonTest: logs kept in " . ($self->{standalone_var} // $dir));
    }
    return $passed;
}

# the lines of the sanitizers' reports in the dir's logs
sub _sanitizer_reports {
    my ($self) = @_;
    my $dir = $self->{dir};
    my @san;
    for my $f (grep { -f } "$dir/error.log", glob("$dir/worker-*.log"), glob("$dir/worker-*.out"),
        glob("$dir/asan*"), glob("$dir/ubsan*"), glob("$dir/sanitizer/*"), glob("$dir/nginx-start.log"))
    {
        push @san, map { basename($f) . ": $_" }
            grep { /AddressSanitizer|LeakSanitizer|runtime error:/ } split /\n/, _slurp($f);
    }
    return @san;
}

# END of a file that passed without calling done (it ended with its own
# done_testing): everything stopped as done stops it, the dir removed as for
# a passing file; kept (and said why) only when a sanitizer reported, since
# no test can fail after the plan.
sub _finish_passed {
    my ($self) = @_;
    $self->done(quiet => 1, keep => 1);
    my $kept = $self->{standalone_var} // $self->{dir};
    my @san = $self->_sanitizer_reports;
    if (@san) {
        print STDERR "# MastodonTest: sanitizer reports, logs kept in $kept\n";
        print STDERR "# $_\n" for @san[0 .. ($#san < 19 ? $#san : 19)];
    } elsif ($ENV{MASTODON_TEST_KEEP}) {
        print STDERR "# MastodonTest: logs kept in $kept\n";
    } else {
        remove_tree($kept);
    }
}

# whether the file's tests all passed and its plan was completed
sub _file_passed {
    my $b = Test::More->builder;
    return $b->is_passing && $b->expected_tests && $b->current_test == $b->expected_tests;
}

sub _drop_db_and_pg {
    my ($self) = @_;
    if ($self->{db} && !$self->{pg_dir}) {
        my $db = delete $self->{db};
        my ($rc, $out, $err) = $self->_psql_raw('postgres', qq{DROP DATABASE IF EXISTS "$db" WITH (FORCE)});
        Test::More::diag("MastodonTest: DROP DATABASE $db: $err") if $rc != 0;
    }
    if (my $pgdir = delete $self->{pg_dir}) {
        _capture('bash', $LIB_SH, 'pg_stop', $pgdir, 'fast');
    }
}

# Kill everything still running (a test died halfway, or was interrupted).
sub _emergency_cleanup {
    my ($self) = @_;
    return if $self->{done} || $self->{owner} != $$;
    $self->{done} = 1;
    $self->_stop_nginx(0);
    $self->_stop_nginx_oldbin;
    for my $pid ($self->worker_pids) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
        $self->_forget_worker($pid);
    }
    if (my $pid = delete $self->{redis_pid}) { kill 'KILL', $pid; waitpid($pid, 0) }
    if (my $pid = delete $self->{smtp_pid}) { kill 'KILL', $pid; waitpid($pid, 0) }
    if (my $pid = delete $self->{s3_pid}) { kill 'KILL', $pid; waitpid($pid, 0) }
    $self->_drop_db_and_pg;
    my $kept = $self->{standalone_var} // $self->{dir};
    print STDERR "# MastodonTest: logs kept in $kept\n" if $kept;
}

sub DESTROY { }    # cleanup happens in done() or END, not on scope exit

END {
    my $st = $?;
    my $passed = $st == 0 && _file_passed();
    for my $self (reverse @LIVE) {
        if ($passed && !$self->{done} && $self->{owner} == $$) {
            $self->_finish_passed;
        } else {
            $self->_emergency_cleanup;
        }
    }
    @LIVE = ();
    $? = $st;
}

my $handlers_installed;
sub _install_signal_handlers {
    return if $handlers_installed++;
    for my $sig (qw(INT TERM HUP)) {
        my $old = $SIG{$sig};
        next if ref $old;                    # somebody else handles it
        my $num = { INT => 2, TERM => 15, HUP => 1 }->{$sig};
        $SIG{$sig} = sub { print STDERR "# MastodonTest: SIG$sig\n"; exit 128 + $num };
    }
}

# --- little helpers ------------------------------------------------------------

sub _free_port {
    for (1 .. 200) {
        my $p = 20000 + int(rand(40000));
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $p, Proto => 'tcp', Listen => 1)
            or next;
        close $s;
        return $p;
    }
    die "MastodonTest: no free port\n";
}

# _spawn($outfile, \%env, @cmd): fork/exec with stdout+stderr to $outfile; returns the pid.
sub _spawn {
    my ($out, $env, @cmd) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        %ENV = (%ENV, %$env);
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $out or POSIX::_exit(127);
        open STDERR, '>&', \*STDOUT;
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    return $pid;
}

# _capture(@cmd) -> ($exit_status, $stdout, $stderr)
sub _capture {
    my @cmd = @_;
    my $tmp = File::Temp->new;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDERR, '>', $tmp->filename or POSIX::_exit(127);
        { no warnings 'exec'; exec { $cmd[0] } @cmd; }
        print STDERR "exec $cmd[0]: $!\n";
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    my $st = _status($?);
    my $err = _slurp($tmp->filename);
    return ($st, $out, $err);
}

sub _status {
    my ($s) = @_;
    return $s & 127 ? 128 + ($s & 127) : $s >> 8;
}

sub _alive {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    if (waitpid($pid, WNOHANG) == $pid) { return 0 }     # our child, now reaped
    open my $fh, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$fh> // '';
    return $stat !~ /^\d+ \(.*\) [ZX] /s;
}

sub _wait_gone {
    my ($pid, $timeout) = @_;
    return _wait_for(sub { !_alive($pid) }, $timeout);
}

sub _kill_wait {
    my ($pid, $sig, $timeout) = @_;
    kill $sig, $pid;
    my $end = time + $timeout;
    while (time < $end) {
        my $r = waitpid($pid, WNOHANG);
        return 1 if $r == $pid || $r == -1;
        sleep 0.05;
    }
    return 0;
}

sub _children {
    my ($ppid) = @_;
    my @kids;
    for my $f (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $f or next;
        my $s = <$fh> // next;
        push @kids, $1 if $s =~ /^(\d+) \(.*\) \S (\d+) /s && $2 == $ppid;
    }
    return @kids;
}

sub _abs_bin {
    my ($bin) = @_;
    return $bin if $bin =~ m{^/};
    return abs_path($bin) // $bin if $bin =~ m{/};
    for my $d (split /:/, $ENV{PATH} // '') {
        return "$d/$bin" if $d =~ m{^/} && -x "$d/$bin";
    }
    return $bin;
}

sub _read_pid {
    my ($f) = @_;
    my $s = _slurp($f);
    return $s =~ /(\d+)/ ? $1 : undef;
}

sub slurp { _slurp(@_) }    # '' when it cannot be read (a log not written yet)
sub _slurp {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    local $/;
    return <$fh> // '';
}

sub _spew {
    my ($f, $s) = @_;
    open my $fh, '>', $f or die "MastodonTest: $f: $!";
    print $fh $s;
    close $fh or die "MastodonTest: $f: $!";
}

1;
