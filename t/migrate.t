#!/usr/bin/perl
# mastodon-worker migrate, accounts create, and the id function.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Time::HiRes qw(sleep);

my $t = MastodonTest->new(nginx => 0, worker => 0);

# --- migrate ---------------------------------------------------------------------
my ($rc, $out, $err) = $t->worker_cli('migrate');
is($rc, 0, 'migrate on the (already migrated) test database') or diag $err;
like($out, qr/nothing to apply/, 'a second run applies nothing');
unlike($out, qr/applied/, 'no file applied');
my @versions = split /\n/, $t->psql('SELECT version FROM ngx_mastodon_migrations ORDER BY version');
is_deeply([@versions[0 .. 1]], ['0001_ids', '0002_core'], 'versions recorded');

# from scratch, two migrates at once: the advisory lock serialises them
my $fresh = 't_fresh_' . $$;
$t->psql(qq{CREATE DATABASE "$fresh"}, 'postgres');
{
    my %env = (%{ $t->worker_env }, MASTODON_DATABASE => $t->pg_conninfo($fresh));
    local @ENV{keys %env} = values %env;
    my @pipes;
    for (1 .. 2) {
        open my $fh, '-|', $t->worker_bin, 'migrate' or die "migrate: $!";
        push @pipes, $fh;
    }
    my $all = '';
    my $ok = 0;
    for my $fh (@pipes) {
        local $/;
        $all .= <$fh> // '';
        $ok++ if close $fh;
    }
    is($ok, 2, 'two concurrent migrates both succeed');
    my %applied;
    $applied{$_}++ for $all =~ /^applied (\S+)$/mg;
    ok(scalar(keys %applied) >= 2, 'the files were applied') or diag $all;
    is(scalar(grep { $_ != 1 } values %applied), 0, 'each exactly once') or diag $all;
}
is($t->psql('SELECT count(*) FROM ngx_mastodon_migrations', $fresh), scalar(@versions),
    'the fresh database has every version');
$t->psql(qq{DROP DATABASE "$fresh" WITH (FORCE)}, 'postgres');

# --- ids -------------------------------------------------------------------------------
my $a = $t->psql(q{SELECT timestamp_id('statuses')});
sleep 0.01;
my $b = $t->psql(q{SELECT timestamp_id('statuses')});
like($a, qr/^\d{17,19}$/, 'timestamp_id is a big integer');
cmp_ok($b, '>', $a, 'later ids are larger');   # Perl compares these exactly (64-bit IV)
is($t->psql(q{SELECT abs((timestamp_id('accounts') >> 16) - (extract(epoch FROM clock_timestamp()) * 1000)::bigint) < 5000}),
    't', 'the high bits are the time in milliseconds');
is($t->psql(q{SELECT count(DISTINCT id) FROM (SELECT timestamp_id('statuses') AS id FROM generate_series(1, 5000)) s}),
    5000, '5000 ids at once are unique');
is($t->psql(q{SELECT pg_typeof(timestamp_id('media_attachments'))}), 'bigint', '64-bit');
cmp_ok($a, '>', 2**53, 'beyond double precision: ids must travel as strings');

# --- accounts create -------------------------------------------------------------------
($rc, $out, $err) = $t->worker_cli(qw(accounts create Alice --email Alice@Example.COM --role owner --confirmed));
is($rc, 0, 'accounts create') or diag $err;
my ($password) = $out =~ /^New password: (\S+)$/m;
like($password // '', qr/^[0-9a-f]{32}$/, 'a generated password is printed');
my ($id, $idtext, $user, $local, $priv, $pub, $email, $hash, $role, $confirmed, $approved) = split /\|/,
    $t->psql(q{SELECT a.id, a.id::text, a.username, a.domain IS NULL, a.private_key, a.public_key, u.email,
                      u.encrypted_password, r.name, u.confirmed_at IS NOT NULL, u.approved
               FROM accounts a JOIN users u ON u.account_id = a.id LEFT JOIN user_roles r ON r.id = u.role_id
               WHERE a.username = 'Alice'} =~ s/\s+/ /gr) // '';
is($user, 'Alice', 'the account row');
is($local, 't', 'local: domain NULL');
is($idtext, $id, 'id cast to text');
like($id, qr/^\d{17,19}$/, 'account id from timestamp_id');
is($email, 'alice@example.com', 'e-mail stored lower-cased');
like($hash, qr/^\$2a\$10\$[.\/A-Za-z0-9]{53}$/, 'bcrypt $2a$, cost 10');
is(crypt($password, $hash), $hash, 'the hash verifies the printed password');
is($role, 'Owner', 'role Owner');
is($confirmed, 't', 'confirmed');
is($approved, 't', 'approved');
is($t->psql(q{SELECT private_key LIKE '-----BEGIN RSA PRIVATE KEY-----%' AND public_key LIKE '-----BEGIN PUBLIC KEY-----%'
              FROM accounts WHERE username = 'Alice'}), 't', 'PEM key pair');
is($t->psql(q{SELECT length(decode(regexp_replace(split_part(public_key, '-----', 3), '\s', '', 'g'), 'base64'))
              FROM accounts WHERE username = 'Alice'}), 294, 'a 2048-bit RSA public key');
is($t->psql(q{SELECT count(*) FROM account_stats s JOIN accounts a ON a.id = s.account_id WHERE a.username = 'Alice'}),
    1, 'account_stats row');

($rc, $out, $err) = $t->worker_cli(qw(accounts create ALICE --email other@example.com));
is($rc, 1, 'duplicate username (other case) refused');
like($err, qr/already taken/, 'with a message');
($rc, $out, $err) = $t->worker_cli(qw(accounts create bob --email ALICE@example.com));
is($rc, 1, 'duplicate e-mail (other case) refused');
($rc, $out, $err) = $t->worker_cli(qw(accounts create alice --email alice@example.com --if-not-exists));
is($rc, 0, '--if-not-exists: exit 0');
is($out . $err, '', '--if-not-exists: silent');
is($t->psql('SELECT count(*) FROM accounts WHERE id <> -99'), 1,
    'still one account (besides the instance actor migrate makes)');

($rc, $out, $err) = $t->worker_cli(qw(accounts create bob --email bob@example.com --password), 'correct horse');
is($rc, 0, 'accounts create with --password');
unlike($out, qr/New password/, 'no password printed when given');
$hash = $t->psql(q{SELECT encrypted_password FROM users WHERE email = 'bob@example.com'});
is(crypt('correct horse', $hash), $hash, 'the given password verifies');
is($t->psql(q{SELECT role_id IS NULL AND confirmed_at IS NULL FROM users WHERE email = 'bob@example.com'}), 't',
    'no role, unconfirmed');

($rc) = $t->worker_cli(qw(accounts create), 'no spaces', qw(--email x@example.com));
is($rc, 2, 'invalid username refused');
($rc) = $t->worker_cli(qw(accounts create), 'a' x 31, qw(--email x@example.com));
is($rc, 2, '31 characters refused');
($rc) = $t->worker_cli(qw(accounts create carol --email nope));
is($rc, 2, 'invalid e-mail refused');
($rc) = $t->worker_cli(qw(accounts create carol --email c@example.com --role Wizard));
is($rc, 2, 'unknown role refused');
($rc) = $t->worker_cli(qw(accounts create carol --email c@example.com --password short));
is($rc, 2, 'short password refused');

is($t->psql(q{SELECT string_agg(name || ':' || position, ',' ORDER BY position) FROM user_roles}),
    ':-1,Moderator:10,Admin:100,Owner:1000', "Mastodon's default roles");

$t->done;
