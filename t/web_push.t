#!/usr/bin/perl
# Web Push (issue 12): POST/GET/PUT/DELETE /api/v1/push/subscription (scope
# push, one subscription per token, Mastodon's params and the
# WebPushSubscription entity), the VAPID key in the instance and app
# entities, and the worker's pushes (job web_push on its own queue): a
# loopback push endpoint receives them; they are decrypted here with the
# subscription's private key, as RFC 8291 aes128gcm for a `standard`
# subscription and as the legacy aesgcm otherwise; the VAPID JWT's ES256
# signature is checked against the server's key; alerts and policy choose
# what is pushed; a 410 or 404 deletes the subscription; a 503 is retried for that
# subscription; a notification older than the TTL is not pushed.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use MastodonEntities qw(entity_errors);
use Test::More;
use Mojolicious::Lite;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::File qw(path);
use MIME::Base64 qw(encode_base64url decode_base64url encode_base64 decode_base64);
use IO::Socket::INET;
use POSIX ();
use Crypt::PK::ECC;
use Crypt::KeyDerivation qw(hkdf);
use Crypt::AuthEnc::GCM;

my $port = Mojo::IOLoop::Server->generate_port;
# one job at a time: a push that must not happen is known not to have
# happened once a later one arrived
my $t = MastodonTest->new(worker_env => {
    MASTODON_CONCURRENCY => 1, MASTODON_RETRY_BASE_MS => 200,
    MASTODON_FEDERATION_ALLOW_HTTP => 1, MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1',
});
my $dir = $t->dir;
my $log = "$dir/push.log";
path($log)->spurt('');

# --- the push service: every POST as a JSON line ------------------------------
app->log->level('fatal');
my %seen;
post '/push/:name' => sub {
    my $c = shift;
    my $name = $c->param('name');
    my $h = $c->req->headers;
    my $n = ++$seen{$name};
    my $rec = encode_json({ name => $name, n => $n, body => encode_base64($c->req->body, ''),
        map { lc($_) => $h->header($_) }
        qw(Content-Type Content-Encoding Encryption Crypto-Key Authorization TTL Urgency Topic) });
    open my $fh, '>>', $log or die;
    print $fh "$rec\n";
    close $fh;
    my $status = $name eq 'gone' ? 410 : $name eq 'unknown' ? 404 : $name eq 'flaky' && $n == 1 ? 503 : 201;
    $c->render(status => $status, text => '');
};
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    Mojo::Server::Daemon->new(app => app, listen => ["http://127.0.0.1:$port"], silent => 1)->run;
    POSIX::_exit(0);
}
ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20),
   'the push service listens');

sub records { [ map { decode_json($_) } grep { length } split /\n/, path($log)->slurp ] }
sub records_of { my $name = shift; [ grep { $_->{name} eq $name } @{ records() } ] }
sub wait_records { my ($name, $n) = @_; $t->wait_for(sub { @{ records_of($name) } >= $n }, 30) }

# a browser's subscription keys
sub client_keys {
    my $k = Crypt::PK::ECC->new;
    $k->generate_key('secp256r1');
    my $auth = join '', map { chr int rand 256 } 1 .. 16;
    return { key => $k, p256dh => encode_base64url($k->export_key_raw('public')),
             auth => encode_base64url($auth), auth_raw => $auth };
}

# AES-128-GCM: the plaintext, or undef when the tag does not verify
sub gcm_open {
    my ($key, $nonce, $data) = @_;
    return undef if length $data < 16;
    my $g = Crypt::AuthEnc::GCM->new('AES', $key, $nonce);
    my $plain = $g->decrypt_add(substr($data, 0, -16));
    return $g->decrypt_done eq substr($data, -16) ? $plain : undef;
}

sub ecdh {
    my ($keys, $server_pub) = @_;
    my $peer = Crypt::PK::ECC->new;
    $peer->import_key_raw($server_pub, 'secp256r1');
    return $keys->{key}->shared_secret($peer);
}

# RFC 8291 / RFC 8188, one record
sub decrypt_aes128gcm {
    my ($keys, $body) = @_;
    my ($salt, $rs, $idlen) = unpack 'a16 N C', $body;
    my $as = substr($body, 21, $idlen);
    my $ct = substr($body, 21 + $idlen);
    my $ua = $keys->{key}->export_key_raw('public');
    my $ikm = hkdf(ecdh($keys, $as), $keys->{auth_raw}, 'SHA256', 32, "WebPush: info\0$ua$as");
    my $cek = hkdf($ikm, $salt, 'SHA256', 16, "Content-Encoding: aes128gcm\0");
    my $nonce = hkdf($ikm, $salt, 'SHA256', 12, "Content-Encoding: nonce\0");
    my $plain = gcm_open($cek, $nonce, $ct);
    return undef unless defined $plain;
    $plain =~ s/\x02\x00*\z// or return undef;    # the last record's delimiter
    return { plain => $plain, rs => $rs };
}

# draft-ietf-webpush-encryption-04: salt and key in the headers
sub decrypt_aesgcm {
    my ($keys, $body, $salt_b64, $dh_b64) = @_;
    my ($salt, $as) = (decode_base64url($salt_b64), decode_base64url($dh_b64));
    my $ua = $keys->{key}->export_key_raw('public');
    my $prk = hkdf(ecdh($keys, $as), $keys->{auth_raw}, 'SHA256', 32, "Content-Encoding: auth\0");
    my $context = "P-256\0" . pack('n', length $ua) . $ua . pack('n', length $as) . $as;
    my $cek = hkdf($prk, $salt, 'SHA256', 16, "Content-Encoding: aesgcm\0$context");
    my $nonce = hkdf($prk, $salt, 'SHA256', 12, "Content-Encoding: nonce\0$context");
    my $plain = gcm_open($cek, $nonce, $body);
    return undef unless defined $plain;
    my $pad = unpack 'n', $plain;
    return substr($plain, 2 + $pad);
}

# the VAPID JWT: ES256 over header.claims with the given public key
sub jwt_claims {
    my ($jwt, $key_b64) = @_;
    my ($h, $c, $s) = split /\./, $jwt;
    my $pk = Crypt::PK::ECC->new;
    $pk->import_key_raw(decode_base64url($key_b64), 'secp256r1');
    return undef unless $pk->verify_message_rfc7518(decode_base64url($s), "$h.$c", 'SHA256');
    return { header => decode_json(decode_base64url($h)), claims => decode_json(decode_base64url($c)) };
}

my $vapid = $t->vapid_public_key;
(my $vapid_raw = $vapid) =~ s/=+\z//;
my $ua = $t->ua;
my $base = "http://127.0.0.1:$port";

# --- the instance documents and apps show the VAPID key ---------------------------
is($ua->get('/api/v2/instance')->res->json->{configuration}{vapid}{public_key}, $vapid,
   'v2 instance: configuration.vapid.public_key');
my $app = $ua->post('/api/v1/apps' => form => { client_name => 'push app',
    redirect_uris => 'urn:ietf:wg:oauth:2.0:oob', scopes => 'read push' })->res->json;
is($app->{vapid_key}, $vapid, 'POST /api/v1/apps: vapid_key');

# --- the key pair: made by the CLI, checked by the worker and nginx ------------------
{
    my ($rc, $out, $err) = $t->worker_cli('vapid-keys');
    is($rc, 0, 'vapid-keys');
    like($out, qr/\AVAPID_PRIVATE_KEY=[A-Za-z0-9_-]{43}=\nVAPID_PUBLIC_KEY=B[A-Za-z0-9_-]{86}=\n\z/,
         '... prints a pair as Mastodon does');
    my ($pub) = $out =~ /VAPID_PUBLIC_KEY=(\S+)/;
    local $t->{worker_env} = { %{ $t->{worker_env} }, MASTODON_VAPID_PUBLIC_KEY => $pub };
    ($rc, $out, $err) = $t->worker_cli('relay');
    is($rc, 2, 'a private key with another pair\'s public key: a configuration error');
    like($err, qr/vapid_private_key and vapid_public_key/, '... that says so');
}

# --- the API ---------------------------------------------------------------------
my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol');
my $dave = $t->user('dave');
my $h = $t->bearer($alice->{token});

my $res = $ua->get('/api/v1/push/subscription' => $h)->res;
is($res->code, 404, 'GET without a subscription: 404');
is($res->json->{error}, 'Record not found', '... Record not found');

$res = $ua->post('/api/v1/push/subscription' => $h => form => { foo => 1 })->res;
is($res->code, 400, 'POST without subscription: 400');
is($res->json->{error}, 'param is missing or the value is empty: subscription', '... as Rails says');

my $std = client_keys();
$res = $ua->post('/api/v1/push/subscription' => $h => form => {
    'subscription[endpoint]' => "$base/push/std", 'subscription[keys][p256dh]' => 'AAAA',
    'subscription[keys][auth]' => $std->{auth} })->res;
is($res->code, 422, 'a p256dh that is no P-256 point: 422');
$res = $ua->post('/api/v1/push/subscription' => $h => form => {
    'subscription[endpoint]' => "$base/push/std", 'subscription[keys][auth]' => $std->{auth} })->res;
is($res->code, 422, 'no p256dh: 422');
is($res->json->{error}, "Validation failed: Key p256dh can't be blank", '... its message');

my $app_token = $t->token(user_id => $alice->{user_id}, scopes => 'read write');
is($ua->get('/api/v1/push/subscription' => $t->bearer($app_token))->res->code, 403,
   'a token without push: 403');

$res = $ua->post('/api/v1/push/subscription' => $h => form => {
    'subscription[endpoint]' => "$base/push/first", 'subscription[keys][p256dh]' => $std->{p256dh},
    'subscription[keys][auth]' => $std->{auth} })->res;
is($res->code, 200, 'POST: 200');
my $first = $res->json;
is_deeply($first, { id => $first->{id}, endpoint => "$base/push/first", standard => \0, alerts => {},
                    server_key => $vapid, policy => 'all' }, 'a subscription without data')
    or diag explain $first;

$res = $ua->post('/api/v1/push/subscription' => $h => json => {
    subscription => { endpoint => "$base/push/std", keys => { p256dh => $std->{p256dh}, auth => $std->{auth} },
                      standard => \1 },
    data => { alerts => { follow => \1, favourite => 'true', mention => '1', reblog => '0',
                          bogus => \1 }, policy => 'all' } })->res;
is($res->code, 200, 'POST again (JSON): 200');
my $sub = $res->json;
isnt($sub->{id}, $first->{id}, 'the token\'s subscription is replaced: a new id');
is_deeply($sub, { id => $sub->{id}, endpoint => "$base/push/std", standard => \1,
    alerts => { follow => \1, favourite => \1, mention => \1, reblog => \0 },
    server_key => $vapid, policy => 'all' }, 'the WebPushSubscription: alerts cast, unknown ones left out')
    or diag explain $sub;
# the alerts given, as REST::WebPushSubscriptionSerializer shows them (the
# documentation lists every type)
is_deeply([ grep { !/\.alerts\[/ } entity_errors($sub, 'WebPushSubscription') ], [],
          'WebPushSubscription entity');
is($t->psql("SELECT count(*) FROM web_push_subscriptions WHERE user_id = $alice->{user_id}"), 1,
   'one subscription per token');
is_deeply($ua->get('/api/v1/push/subscription' => $h)->res->json, $sub, 'GET shows it');

$res = $ua->put('/api/v1/push/subscription' => $h => form => {
    'data[alerts][follow]' => 'true', 'data[alerts][favourite]' => 'true',
    'data[alerts][mention]' => 'false', 'data[policy]' => 'follower' })->res;
is($res->code, 200, 'PUT: 200');
is_deeply([ @{ $res->json }{qw(id endpoint policy)} ], [ $sub->{id}, "$base/push/std", 'follower' ],
          'PUT keeps the subscription, changes the policy');
is_deeply($res->json->{alerts}, { follow => \1, favourite => \1, mention => \0 }, 'PUT replaces the alerts');

# a second token of alice's: a legacy (aesgcm) subscription, follows only
my $legacy = client_keys();
my $token_b = $t->token(user_id => $alice->{user_id});
$res = $ua->post('/api/v1/push/subscription' => $t->bearer($token_b) => form => {
    'subscription[endpoint]' => "$base/push/legacy", 'subscription[keys][p256dh]' => $legacy->{p256dh},
    'subscription[keys][auth]' => $legacy->{auth}, 'data[alerts][follow]' => 'true' })->res;
is($res->code, 200, 'a second token, its own subscription');
ok(!$res->json->{standard}, '... not standard');
is($t->psql("SELECT count(*) FROM web_push_subscriptions WHERE user_id = $alice->{user_id}"), 2,
   'two tokens, two subscriptions');

# --- pushes: a follow goes to both ---------------------------------------------------
is($ua->post("/api/v1/accounts/$alice->{account_id}/follow" => $t->bearer($bob->{token}))->res->code,
   200, 'bob follows alice');
ok(wait_records('std', 1) && wait_records('legacy', 1), 'both subscriptions got the follow')
    or diag path($log)->slurp;
my $follow_id = $t->psql("SELECT id FROM notifications WHERE account_id = $alice->{account_id}"
                         . " AND type = 'follow'");

my ($r) = @{ records_of('std') };
is($r->{'content-encoding'}, 'aes128gcm', 'standard: Content-Encoding aes128gcm');
is($r->{'content-type'}, 'application/octet-stream', '... octet-stream');
ok($r->{ttl} > 172000 && $r->{ttl} <= 172800, "... TTL what is left of 48 hours ($r->{ttl})");
is($r->{urgency}, 'normal', '... Urgency normal');
is($r->{topic}, $follow_id, '... Topic the notification');
my ($jwt, $k) = ($r->{authorization} // '') =~ /^vapid t=([^,]+),k=(\S+)\z/;
is($k, $vapid_raw, '... Authorization: vapid t=<JWT>,k=<the server key>');
my $j = jwt_claims($jwt // '', $k // $vapid_raw);
ok($j, '... the JWT\'s ES256 signature verifies with the VAPID key');
is_deeply($j && $j->{header}, { typ => 'JWT', alg => 'ES256' }, '... its header');
is($j && $j->{claims}{aud}, $base, '... aud the endpoint\'s origin');
ok($j && $j->{claims}{exp} > time + 3600 && $j->{claims}{exp} <= time + 86400 + 60, '... exp within a day');
like($j && $j->{claims}{sub}, qr/^mailto:\S+\@/, '... sub a mailto:');
my $d = decrypt_aes128gcm($std, decode_base64($r->{body}));
ok($d, '... decrypts with the subscription\'s key (RFC 8291)');
is($d && $d->{rs}, 4096, '... record size 4096');
my $payload = decode_json($d ? $d->{plain} : '{}');
is_deeply($payload, {
    access_token => $alice->{token}, preferred_locale => 'en', notification_id => $follow_id,
    notification_type => 'follow', icon => $t->public_base . '/avatars/original/missing.png',
    title => 'bob is now following you', body => '' }, '... Web::NotificationSerializer\'s payload')
    or diag explain $payload;

($r) = @{ records_of('legacy') };
is($r->{'content-encoding'}, 'aesgcm', 'legacy: Content-Encoding aesgcm');
my ($salt) = ($r->{encryption} // '') =~ /^salt=([A-Za-z0-9_-]+)\z/;
my ($dh, $p256ecdsa) = ($r->{'crypto-key'} // '') =~ /^dh=([A-Za-z0-9_-]+);p256ecdsa=([A-Za-z0-9_-]+)\z/;
ok($salt && $dh, '... Encryption: salt=, Crypto-Key: dh=');
is($p256ecdsa, $vapid_raw, '... Crypto-Key: p256ecdsa=<the server key>');
($jwt) = ($r->{authorization} // '') =~ /^WebPush (\S+)\z/;
ok(jwt_claims($jwt // '', $vapid_raw), '... Authorization: WebPush <JWT>, signed with the VAPID key');
my $plain = decrypt_aesgcm($legacy, decode_base64($r->{body}), $salt // '', $dh // '');
ok(defined $plain, '... decrypts with the subscription\'s key (aesgcm)');
$payload = decode_json($plain // '{}');
is($payload->{access_token}, $token_b, '... the token of its own subscription');
is_deeply([ @$payload{qw(notification_id notification_type title)} ],
          [ $follow_id, 'follow', 'bob is now following you' ], '... the same notification');

# --- alerts and policy ------------------------------------------------------------------
my $s1 = $ua->post('/api/v1/statuses' => $h => form => { status => 'Tea & <cake> ' . ('x' x 150) })
    ->res->json->{id};
# policy follower: carol does not follow alice, her favourite is not pushed;
# bob's is, to std only (legacy wants follows only)
is($ua->post("/api/v1/statuses/$s1/favourite" => $t->bearer($carol->{token}))->res->code, 200,
   'carol favourites');
is($ua->post("/api/v1/statuses/$s1/favourite" => $t->bearer($bob->{token}))->res->code, 200,
   'bob favourites');
ok(wait_records('std', 2), 'a favourite pushed');
my @std = @{ records_of('std') };
is(scalar @std, 2, 'one: carol, who does not follow alice, is not pushed (policy follower)');
$payload = decode_json(decrypt_aes128gcm($std, decode_base64($std[1]{body}))->{plain});
is($payload->{title}, 'bob favorited your post', 'it is bob\'s');
# strip_tags drops what looks like a tag, as Mastodon's does
is($payload->{body}, 'Tea &  ' . ('x' x 130) . '...', 'body: the text, tags stripped, truncated to 140');
is(scalar @{ records_of('legacy') }, 1, 'the legacy subscription wants no favourites');

# policy none: nothing
$ua->put('/api/v1/push/subscription' => $h => form => { 'data[alerts][follow]' => 'true',
    'data[policy]' => 'none' });
$ua->post("/api/v1/accounts/$alice->{account_id}/follow" => $t->bearer($carol->{token}));
ok(wait_records('legacy', 2), 'carol\'s follow pushed to legacy');
is(scalar @{ records_of('std') }, 2, '... not to std (policy none)');

# --- a 410 deletes the subscription ------------------------------------------------------
my $gone = client_keys();
my $token_c = $t->token(user_id => $alice->{user_id});
$ua->post('/api/v1/push/subscription' => $t->bearer($token_c) => form => {
    'subscription[endpoint]' => "$base/push/gone", 'subscription[keys][p256dh]' => $gone->{p256dh},
    'subscription[keys][auth]' => $gone->{auth}, 'subscription[standard]' => 'true',
    'data[alerts][follow]' => 'true' });
my $unknown = client_keys();
my $token_u = $t->token(user_id => $alice->{user_id});
$ua->post('/api/v1/push/subscription' => $t->bearer($token_u) => form => {
    'subscription[endpoint]' => "$base/push/unknown", 'subscription[keys][p256dh]' => $unknown->{p256dh},
    'subscription[keys][auth]' => $unknown->{auth}, 'subscription[standard]' => 'true',
    'data[alerts][follow]' => 'true' });
my $flaky = client_keys();
my $token_f = $t->token(user_id => $alice->{user_id});
$ua->post('/api/v1/push/subscription' => $t->bearer($token_f) => form => {
    'subscription[endpoint]' => "$base/push/flaky", 'subscription[keys][p256dh]' => $flaky->{p256dh},
    'subscription[keys][auth]' => $flaky->{auth}, 'subscription[standard]' => 'true',
    'data[alerts][follow]' => 'true' });
$ua->post("/api/v1/accounts/$alice->{account_id}/follow" => $t->bearer($dave->{token}));
ok(wait_records('gone', 1), 'the gone endpoint was pushed to');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM web_push_subscriptions WHERE endpoint = '$base/push/gone'") == 0 }, 30),
   'its 410 deleted the subscription');
ok(wait_records('unknown', 1), 'the unknown endpoint was pushed to');
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM web_push_subscriptions WHERE endpoint = '$base/push/unknown'") == 0 }, 30),
   'its 404 deleted the subscription');
ok(wait_records('flaky', 2), 'a 503 is retried for that subscription');
my @flaky = @{ records_of('flaky') };
my @p = map { decode_json(decrypt_aes128gcm($flaky, decode_base64($_->{body}))->{plain}) } @flaky;
is($p[1]{notification_id}, $p[0]{notification_id}, '... the same notification');
ok($t->wait_for(sub { @{ records_of('legacy') } >= 3 }, 30), 'the others got it once');
is(scalar @{ records_of('legacy') }, 3, '... once');

# --- past its TTL: dropped, not sent ---------------------------------------------------------
my $old = $t->psql("INSERT INTO notifications (account_id, from_account_id, activity_type, activity_id, type,"
    . " created_at) VALUES ($alice->{account_id}, $bob->{account_id}, 'Follow',"
    . " 424242,"
    . " 'follow', now() AT TIME ZONE 'UTC' - interval '49 hours') RETURNING id");
my ($rc, $out, $err) = $t->worker_cli('enqueue', 'webpush', 'web_push', qq({"notification_id":"$old"}));
is($rc, 0, 'a web_push of a 49-hour-old notification enqueued') or diag $err;
ok($t->wait_for(sub { grep { /notification $old is older than the TTL/ } map { path($_)->slurp } glob("$dir/worker-*.log") }, 30),
   'the worker drops it');
is(scalar @{ records_of('legacy') }, 3, '... nothing sent');

# --- DELETE ---------------------------------------------------------------------------------
$res = $ua->delete('/api/v1/push/subscription' => $h)->res;
is($res->code, 200, 'DELETE: 200');
is($res->body, '{}', '... {}');
is($ua->get('/api/v1/push/subscription' => $h)->res->code, 404, 'then GET: 404');
is($t->psql("SELECT count(*) FROM web_push_subscriptions WHERE endpoint = '$base/push/legacy'"), 1,
   'the other token\'s subscription stays');

kill 'TERM', $pid;
waitpid $pid, 0;
$t->done;
