# PostgreSQL over TLS: large answers arrive whole (a status of 60,000
# characters is one DataRow sent in 16 KB TLS records; rows of 9 to 12 KB
# are records of that size, read into whatever room libpq's buffer has
# left, so OpenSSL keeps decrypted bytes the socket does not signal; the
# pool reads them without waiting for the socket.  A stock server ends
# every reply with a record of at most 8 KB, for which libpq always has
# room, so this does not hang without that either: it guards the reading
# of large TLS answers, nothing more); sslmode=prefer against a server whose pg_hba.conf rejects TLS
# falls back to a plain connection on a new socket, which the pool follows.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(
    worker       => 0,
    own_postgres => 1,
    main_config  => 'worker_processes 1;',
    http_config  => 'mastodon_max_characters 100000;',
);
my $m = $t->mojo;
my $pg = $t->pg_port;
my $data = "$t->{pg_dir}/data";

# a self-signed certificate for the throwaway cluster, then ssl = on
system('openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2',
       '-keyout', "$data/server.key", '-out', "$data/server.crt") == 0 or die "openssl req failed";
chmod 0600, "$data/server.key";
my ($uid, $gid) = (stat $data)[4, 5];
chown $uid, $gid, "$data/server.key", "$data/server.crt";

my $plain = $t->db_name . '_plain';
$t->psql(qq{CREATE DATABASE "$plain" TEMPLATE mastodon_template}, 'postgres');
{
    open my $fh, '<', "$data/pg_hba.conf" or die $!;
    local $/;
    my $hba = <$fh>;
    close $fh;
    open $fh, '>', "$data/pg_hba.conf" or die $!;
    print $fh "hostssl $plain all 127.0.0.1/32 reject\n$hba";
    close $fh;
}
$t->psql('ALTER SYSTEM SET ssl = on', 'postgres');
$t->psql('SELECT pg_reload_conf()', 'postgres');
ok($t->wait_for(sub { ($t->psql('SHOW ssl', 'postgres') // '') eq 'on' }, 10), 'the cluster speaks TLS');

my $base = 'hostaddr=127.0.0.1 port=' . $pg . ' user=postgres';
ok($t->reconfigure_nginx(http_config => "mastodon_max_characters 100000;\n"
    . 'mastodon_database "' . $base . ' dbname=' . $t->db_name . ' sslmode=require";'), 'sslmode=require');

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
my $text = join ' ', map { "word$_" } 1 .. 7500;    # about 60,000 characters

my $s = $m->post_ok('/api/v1/statuses', $ha, form => { status => $text })->status_is(200)->tx->res->json;
ok($s && $s->{id}, 'a long status posted over TLS');

for my $i (1 .. 5) {
    my $got = $m->get_ok("/api/v1/statuses/$s->{id}", $ha)->status_is(200)->tx->res->json;
    ok($got && index($got->{content} // '', 'word7500') >= 0, "read $i: the whole status came back");
}

# many rows of 9 to 12 KB
my @ids;
for my $i (1 .. 40) {
    my $long = join ' ', ("w$i") x (3000 + 97 * $i);
    my $p = $m->ua->post('/api/v1/statuses', $ha, form => { status => $long })->result;
    push @ids, $p->json->{id} if $p->code == 200;
}
is(scalar @ids, 40, '40 statuses of 9 to 12 KB');
for my $i (1 .. 8) {
    my $res = $m->ua->get('/api/v1/timelines/public?local=true&limit=40')->result;
    is($res->code, 200, "timeline $i: 200");
    is(scalar @{ $res->json // [] }, 40, "... all 40 statuses");
}

is($t->psql(q{SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
              WHERE a.datname = current_database() AND a.backend_type = 'client backend'
              AND a.pid <> pg_backend_pid()}), 't', "nginx's sessions use TLS");

# sslmode=prefer, TLS rejected for this database: libpq retries in plain
ok($t->reconfigure_nginx(http_config => "mastodon_max_characters 100000;\n"
    . 'mastodon_database "' . $base . qq{ dbname=$plain sslmode=prefer";}), 'sslmode=prefer, TLS rejected');
$m->get_ok('/api/v1/instance')->status_is(200, 'the pool follows the fallback to a plain connection');
$m->get_ok('/api/v1/instance')->status_is(200);
is($t->psql(qq{SELECT count(*) > 0 AND NOT bool_or(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
               WHERE a.datname = '$plain'}, 'postgres'), 't', '... without TLS');

$t->done;
