# Public and tag timeline pages remembered in the render cache (kind
# "page"): a warm page asks PostgreSQL nothing, and every change of what the
# page selects is seen on the next reads from both nginx workers once the
# worker's relay published it (the test waits for what the API shows); a
# flushed Redis changes no answer; pagination and Link headers are those of
# the page selected from PostgreSQL.  Each read opens a new connection, so
# both workers answer.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new;
my $m = $t->mojo;
$t->ua->max_connections(0);     # a new connection per request

ok($t->wait_for(sub { $t->redis('PUBSUB', 'NUMSUB', 'mastodon:cache:forget') =~ /\n2$/ }),
   'both workers listen for forgets');

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $carol = $t->user('carol');
my ($ha, $hb, $hc) = map { $t->bearer($_->{token}) } $alice, $bob, $carol;

my $remote = $t->psql(q{INSERT INTO accounts (username, domain, uri, url)
    VALUES ('rem', 'remote.example', 'https://remote.example/users/rem',
    'https://remote.example/@rem') RETURNING id});
$t->psql("INSERT INTO account_stats (account_id) VALUES ($remote)");

sub ids_of {
    my ($path, $h) = @_;
    my $res = $m->ua->get($path => ($h // {}))->result;
    return undef unless $res->code == 200;
    return [map { $_->{id} } @{ $res->json }];
}

sub has {
    my ($ids, $id) = @_;
    return $ids && grep { $_ eq $id } @$ids;
}

# every read of $path as $h (six, on new connections) passes $check
sub reads_ok {
    my ($path, $h, $check, $name) = @_;
    my $ok = 1;
    for (1 .. 6) {
        $ok = 0 unless $check->(ids_of($path, $h));
    }
    ok($ok, $name);
}

# a change applied asynchronously: wait until a read shows it, then every
# read does
sub seen_ok {
    my ($path, $h, $check, $name) = @_;
    ok($t->wait_for(sub { $check->(ids_of($path, $h)) }), "$name: shown");
    reads_ok($path, $h, $check, "$name: on every worker");
}

sub post { my ($h, $text, %o) = @_; return $t->post_status($h, status => $text, %o)->{id} }

my $pub = '/api/v1/timelines/public';
my $local = '/api/v1/timelines/public?local=true';
my $a1 = post($ha, 'first words #cached');
my $b1 = post($hb, 'second words #cached');
my $r1 = $t->psql(qq{INSERT INTO statuses (account_id, text, local, uri, visibility)
    VALUES ($remote, 'far words', false, 'https://remote.example/statuses/1', 0) RETURNING id});
$t->psql("INSERT INTO status_stats (status_id) VALUES ($r1)");
seen_ok($pub, undef, sub { has($_[0], $r1) && has($_[0], $b1) }, 'the first posts');

# the page is remembered: a status inserted behind every cache's back (no
# trigger fires) is not seen until an account forget is published (the
# relay must be heard first: until then pages are read from PostgreSQL)
my $quiet;
ok($t->wait_for(sub {
    ids_of($pub) for 1 .. 2;
    $quiet = $t->psql(qq{SET session_replication_role = replica;
        INSERT INTO statuses (account_id, text, local, visibility)
        VALUES ($bob->{account_id}, 'quiet words', true, 0) RETURNING id});
    $t->psql("SET session_replication_role = replica;"
             . " INSERT INTO status_stats (status_id) VALUES ($quiet)");
    return 1 unless has(ids_of($pub), $quiet);
    $t->psql("SET session_replication_role = replica;"
             . " DELETE FROM status_stats WHERE status_id = $quiet;"
             . " DELETE FROM statuses WHERE id = $quiet");
    return 0;
}, 20), 'a warm page is answered from the cache');
reads_ok($pub, undef, sub { $_[0] && !has($_[0], $quiet) }, 'on every worker');
$t->redis('PUBLISH', 'mastodon:cache:forget', "account $bob->{account_id}");
seen_ok($pub, undef, sub { has($_[0], $quiet) }, 'a published account forget');

# pagination and Link headers: a warm page answers as the page selected
for my $q ('?limit=2', "?max_id=$b1&limit=2", "?since_id=$a1&limit=2", "?min_id=$a1&limit=2",
           '?local=true&limit=1', '?only_media=true', '?remote=true') {
    my $cold = $m->ua->get("$pub$q")->result;
    $m->ua->get("$pub$q")->result for 1 .. 3;
    for (1 .. 3) {
        my $res = $m->ua->get("$pub$q")->result;
        is($res->body, $cold->body, "$q: the same statuses");
        is($res->headers->link // '', $cold->headers->link // '', "$q: the same Link header");
    }
}
my $tag = '/api/v1/timelines/tag/cached';
seen_ok($tag, undef, sub { has($_[0], $a1) && has($_[0], $b1) }, 'the tag page');
my $tl = $m->ua->get("$tag?limit=1")->result;
for (1 .. 3) {
    is($m->ua->get("$tag?limit=1")->result->headers->link, $tl->headers->link,
       'the tag page: the same Link header');
}

# warm pages, then each change seen from every worker
for my $h (undef, $hc) {
    ids_of($_, $h) for ($pub, $local, $tag) x 3;
}
my $a2 = post($ha, 'new words #cached');
seen_ok($pub, undef, sub { has($_[0], $a2) }, 'a new public post');
seen_ok($local, $hc, sub { has($_[0], $a2) }, 'a new public post (local, a viewer)');
seen_ok($tag, $hc, sub { has($_[0], $a2) }, 'a new public post (tag)');

$m->delete_ok("/api/v1/statuses/$a2", $ha)->status_is(200);
seen_ok($pub, undef, sub { $_[0] && !has($_[0], $a2) }, 'a delete');
seen_ok($tag, $hc, sub { $_[0] && !has($_[0], $a2) }, 'a delete (tag)');

$t->psql("UPDATE accounts SET silenced_at = now() WHERE id = $bob->{account_id}");
seen_ok($pub, undef, sub { $_[0] && !has($_[0], $b1) }, 'a silence');
seen_ok($tag, $hc, sub { $_[0] && !has($_[0], $b1) }, 'a silence (tag)');
$t->psql("UPDATE accounts SET silenced_at = NULL WHERE id = $bob->{account_id}");
seen_ok($pub, undef, sub { has($_[0], $b1) }, 'its undoing');
$t->psql("UPDATE accounts SET suspended_at = now() WHERE id = $bob->{account_id}");
seen_ok($local, $hc, sub { $_[0] && !has($_[0], $b1) }, 'a suspension');
$t->psql("UPDATE accounts SET suspended_at = NULL WHERE id = $bob->{account_id}");
seen_ok($local, $hc, sub { has($_[0], $b1) }, 'its undoing');

# the viewer's own rules
$m->post_ok("/api/v1/accounts/$bob->{account_id}/block", $hc)->status_is(200);
seen_ok($pub, $hc, sub { $_[0] && !has($_[0], $b1) }, 'a block');
seen_ok($tag, $hc, sub { $_[0] && !has($_[0], $b1) }, 'a block (tag)');
reads_ok($pub, undef, sub { has($_[0], $b1) }, 'others still see it');
$m->post_ok("/api/v1/accounts/$bob->{account_id}/unblock", $hc)->status_is(200);
seen_ok($pub, $hc, sub { has($_[0], $b1) }, 'an unblock');

$m->post_ok("/api/v1/accounts/$alice->{account_id}/mute", $hc)->status_is(200);
seen_ok($local, $hc, sub { $_[0] && !has($_[0], $a1) }, 'a mute');
$m->post_ok("/api/v1/accounts/$alice->{account_id}/unmute", $hc)->status_is(200);
seen_ok($local, $hc, sub { has($_[0], $a1) }, 'an unmute');

# a mute that ends: the remembered page ends with it
$m->post_ok("/api/v1/accounts/$alice->{account_id}/mute", $hc, form => { duration => 4 })
  ->status_is(200);
ok($t->wait_for(sub { my $ids = ids_of($local, $hc); $ids && !has($ids, $a1) }),
   'a mute for 4 s: hidden');
ok($t->wait_for(sub { has(ids_of($local, $hc), $a1) }, 20), 'its end: shown');
reads_ok($local, $hc, sub { has($_[0], $a1) }, 'its end: on every worker');

# (no /api/v1/domain_blocks yet: the row, as any writer would)
$t->psql("INSERT INTO account_domain_blocks (account_id, domain)"
         . " VALUES ($carol->{account_id}, 'remote.example')");
seen_ok($pub, $hc, sub { $_[0] && !has($_[0], $r1) }, 'a domain block');
reads_ok($pub, undef, sub { has($_[0], $r1) }, 'others still see it');
$t->psql("DELETE FROM account_domain_blocks WHERE account_id = $carol->{account_id}");
seen_ok($pub, $hc, sub { has($_[0], $r1) }, 'its undoing');

$t->psql("UPDATE users SET chosen_languages = '{de}' WHERE id = $carol->{user_id}");
seen_ok($local, $hc, sub { $_[0] && !has($_[0], $a1) }, 'chosen languages');
$t->psql("UPDATE users SET chosen_languages = NULL WHERE id = $carol->{user_id}");
seen_ok($local, $hc, sub { has($_[0], $a1) }, 'chosen languages: none');

# a tag added by an edit
my $new = '/api/v1/timelines/tag/addedlater';
reads_ok($new, $hc, sub { $_[0] && !@{ $_[0] } }, 'a tag nobody used: empty');
$m->put_ok("/api/v1/statuses/$a1", $ha, form => { status => 'first words #cached #addedlater' })
  ->status_is(200);
seen_ok($new, $hc, sub { has($_[0], $a1) }, 'a tag added by an edit');
seen_ok($new, undef, sub { has($_[0], $a1) }, 'a tag added by an edit (anonymous)');

# media given to a status: only_media
my $media = '/api/v1/timelines/public?only_media=true';
reads_ok($media, undef, sub { $_[0] && !has($_[0], $b1) }, 'no media yet');
$t->psql(qq{INSERT INTO media_attachments (status_id, account_id, type, file_file_name)
    VALUES ($b1, $bob->{account_id}, 0, 'x.png')});
seen_ok($media, undef, sub { has($_[0], $b1) }, 'media attached');

# Redis flushed while warm: the same answers
my %before;
for my $path ($pub, $local, $tag, "$pub?limit=2", $new) {
    for my $h (undef, $hc) {
        my $k = $path . ($h ? ' viewer' : '');
        $m->ua->get($path => ($h // {}))->result for 1 .. 4;
        $before{$k} = [$path, $h, $m->ua->get($path => ($h // {}))->result->json];
    }
}
$t->redis('FLUSHALL');
for my $k (sort keys %before) {
    my ($path, $h, $json) = @{ $before{$k} };
    for (1 .. 4) {
        is_deeply($m->ua->get($path => ($h // {}))->result->json, $json,
                  "Redis flushed: $k answers the same");
    }
}

$t->done;
