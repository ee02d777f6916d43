# Avatars and headers (issue 11): PATCH /api/v1/accounts/update_credentials
# takes multipart `avatar` and `header` (the type from the bytes: JPEG, PNG,
# GIF, WebP), the worker resizes them as Account::Avatar and
# Account::Header do (400x400 and 1500x500, cropped, never enlarged; an
# animated GIF stays animated and gets a static PNG of its first frame),
# the Account entity and the ActivityPub actor show them, the answer waits
# for the worker as Mastodon's synchronous processing (the new image in it,
# 422 for an image the worker cannot decode), and
# DELETE /api/v1/profile/avatar and /header remove them (the
# CredentialAccount answered, the files gone).  Images are made with vips
# and ffmpeg.

use strict;
use warnings;

use Test::More;
use FindBin;
use MastodonTest qw(slurp);

my $ROOT = "$FindBin::Bin/..";
my $t = MastodonTest->new(worker => 0, main_config => 'worker_processes 1;',
    location_config => 'client_max_body_size 16m;',
    server_config => "root .; include $ROOT/conf/media.conf;");
my $m = $t->mojo;
my $dir = $t->dir;
my $wpid = $t->start_worker(MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_CONCURRENCY => 1);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});

sub run { system(@_) == 0 or die "@_ failed" }
sub path_of { $t->path_of(@_) }
sub spool_files { $t->spool_files }
sub size_of {
    my ($file) = @_;
    my $w = `vipsheader -f width $file`; my $h = `vipsheader -f page-height $file 2>/dev/null`;
    $h = `vipsheader -f height $file` if !$h || $h !~ /^\d+/;
    chomp($w, $h);
    return "${w}x$h";
}

run('vips', 'gaussnoise', "$dir/wide.jpg", 1000, 800);
run('vips', 'gaussnoise', "$dir/header.png", 3000, 1500);
run('vips', 'gaussnoise', "$dir/tiny.png", 100, 50);
run('ffmpeg', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=600x500:rate=5',
    '-t', '1', "$dir/anim.gif");

my $B = 'pRoFiLeBoUnDaRy';
sub multipart {
    my (@parts) = @_;
    my $body = '';
    while (my ($name, $file) = splice @parts, 0, 2) {
        my $bytes = ref $file ? $$file : slurp($file);
        $body .= "--$B\r\nContent-Disposition: form-data; name=\"$name\"; filename=\"x.bin\"\r\n"
            . "Content-Type: application/octet-stream\r\n\r\n$bytes\r\n";
    }
    $body .= "--$B\r\nContent-Disposition: form-data; name=\"display_name\"\r\n\r\nAlice\r\n";
    return $body . "--$B--\r\n";
}
sub patch {
    my (@parts) = @_;
    $m->patch_ok('/api/v1/accounts/update_credentials',
        { %$A, 'Content-Type' => "multipart/form-data; boundary=$B" }, multipart(@parts));
}

# the account until its avatar (or header) is not the one it had
sub changed {
    my ($key, $before) = @_;
    my $json;
    for (1 .. 300) {
        $json = $m->ua->get('/api/v1/accounts/verify_credentials' => $A)->res->json;
        return $json if $json->{$key} ne $before;
        select undef, undef, undef, 0.1;
    }
    return $json;
}

# --- before: the default images ---------------------------------------------------------
$m->get_ok('/api/v1/accounts/verify_credentials' => $A)->status_is(200);
my $default_avatar = $m->tx->res->json('/avatar');
like $default_avatar, qr{/avatars/original/missing\.png$}, 'no avatar: the default';

# --- avatar and header in one request ------------------------------------------------------
patch(avatar => "$dir/wide.jpg", header => "$dir/header.png");
$m->status_is(200)->json_is('/display_name', 'Alice', 'the other fields are saved with them');
$m->json_like('/avatar', qr{/system/accounts/avatars/[\d/]+/original/[0-9a-f]{16}\.jpeg$},
    'the answer has the new avatar (it waited for the worker)')
  ->json_like('/header', qr{/system/accounts/headers/[\d/]+/original/[0-9a-f]{16}\.png$},
    '... and the new header');
my $acct = changed('avatar', $default_avatar);
$acct = changed('header', $m->tx->res->json('/header')) if $acct->{header} =~ /missing/;
like $acct->{avatar}, qr{/system/accounts/avatars/\d{3}/\d{3}/\d{3}(?:/\d{3})*/original/[0-9a-f]{16}\.jpeg$},
    "the avatar at Paperclip's path ($acct->{avatar})";
is $acct->{avatar_static}, $acct->{avatar}, 'static: the original for a JPEG';
like $acct->{header}, qr{/system/accounts/headers/[\d/]+/original/[0-9a-f]{16}\.png$}, 'the header';
is $acct->{header_static}, $acct->{header};

my $tx = $m->ua->get(path_of($acct->{avatar}));
is $tx->res->code, 200, 'nginx serves the avatar';
is $tx->res->headers->content_type, 'image/jpeg';
is $tx->res->headers->header('X-Content-Type-Options'), 'nosniff';
is size_of("$dir" . path_of($acct->{avatar})), '400x400', 'avatar: 1000x800 cropped to 400x400';
is size_of("$dir" . path_of($acct->{header})), '1500x500', 'header: 3000x1500 cropped to 1500x500';
is $t->psql("SELECT avatar_content_type || ' ' || header_content_type FROM accounts"
    . " WHERE id = $alice->{account_id}"), 'image/jpeg image/png', 'the content types';

# --- the actor document ----------------------------------------------------------------------
$tx = $m->ua->get('/users/alice' => { Accept => 'application/activity+json' });
is $tx->res->code, 200;
is_deeply $tx->res->json('/icon'), { type => 'Image', mediaType => 'image/jpeg', url => $acct->{avatar} },
    'the actor: icon';
is_deeply $tx->res->json('/image'), { type => 'Image', mediaType => 'image/png', url => $acct->{header} },
    'the actor: image';

# --- a small avatar is not enlarged; the former files go -------------------------------------
my $old = "$dir" . path_of($acct->{avatar});
patch(avatar => "$dir/tiny.png");
$m->status_is(200)->json_like('/avatar', qr{\.png$}, 'the answer has the PNG avatar');
my $before = $acct->{avatar};
$acct = changed('avatar', $before);
like $acct->{avatar}, qr{\.png$}, 'a PNG avatar';
is size_of("$dir" . path_of($acct->{avatar})), '100x50', '100x50: never enlarged';
my $gone = 0;
for (1 .. 100) { $gone = !-e $old and last; select undef, undef, undef, 0.1 }
ok $gone, 'the former avatar file is removed';

# --- an animated GIF: animated original, static first frame ----------------------------------
patch(avatar => "$dir/anim.gif");
$before = $acct->{avatar};
$acct = changed('avatar', $before);
like $acct->{avatar}, qr{/original/([0-9a-f]{16})\.gif$}, 'a GIF avatar stays a GIF';
my ($stem) = $acct->{avatar} =~ m{/([0-9a-f]{16})\.gif$};
like $acct->{avatar_static}, qr{/static/$stem\.png$}, 'avatar_static: the static style, a PNG';
my $gif = "$dir" . path_of($acct->{avatar});
is size_of($gif), '400x400', 'animated avatar cropped to 400x400';
is `vipsheader -f n-pages $gif` + 0, 5, 'every frame kept';
$tx = $m->ua->get(path_of($acct->{avatar_static}));
is $tx->res->code, 200, 'the static style is served';
is $tx->res->headers->content_type, 'image/png';

# --- refused uploads: 422, nothing spooled ------------------------------------------------------
my $html = "<html><body>hi</body></html>";
patch(avatar => \$html);
$m->status_is(422)->json_is('/error', 'Validation failed: Avatar content type is invalid, Avatar is invalid');
my $svg = '<svg xmlns="http://www.w3.org/2000/svg"/>';
patch(header => \$svg);
$m->status_is(422)->json_is('/error', 'Validation failed: Header content type is invalid, Header is invalid');
my $big = "\xff\xd8\xff\xe0" . ("\0" x (9 * 1024 * 1024));
patch(avatar => "$dir/tiny.png", header => \$big);
$m->status_is(422)->json_is('/error',
    'Validation failed: Header file size must be less than 8 MB, Header must be less than 8 MB');
is spool_files(), 0, 'nothing left in the spool (the valid avatar of that request neither)';

# a truncated image: sniffed as a JPEG, not decodable by the worker, which
# stays alive; the answer waited for it: Mastodon's synchronous 422
my $cut = substr(slurp("$dir/wide.jpg"), 0, 2000);
$m->patch_ok('/api/v1/accounts/update_credentials', $A, form => { display_name => 'Before' })
  ->status_is(200);
patch(header => \$cut);
$m->status_is(422)->json_is('/error', 'Validation failed: Header Could not identify image size');
$m->get_ok('/api/v1/accounts/verify_credentials' => $A)
  ->json_is('/display_name', 'Before', 'nothing else saved: the display name sent with it neither');
is $t->psql("SELECT count(*) FROM account_image_failures WHERE attribute = 'header'"), 1,
    'the failure the API waited for';
my $empty = 0;
for (1 .. 100) { $empty = spool_files() == 0 and last; select undef, undef, undef, 0.1 }
ok $empty, 'the worker removed the spool file of a bad header';
like $t->psql("SELECT header_file_name FROM accounts WHERE id = $alice->{account_id}"), qr/\.png$/,
    'the header it had stays';
ok kill(0, $wpid), 'the worker is alive';

# --- DELETE /api/v1/profile/avatar and /header ----------------------------------------------------
my $header_file = "$dir" . path_of($acct->{header});
$m->delete_ok('/api/v1/profile/avatar' => $A)->status_is(200)
  ->json_like('/avatar', qr{/avatars/original/missing\.png$}, 'the CredentialAccount, default avatar')
  ->json_has('/source', 'a CredentialAccount');
$m->delete_ok('/api/v1/profile/header' => $A)->status_is(200)
  ->json_like('/header', qr{/headers/original/missing\.png$});
$gone = 0;
for (1 .. 100) { $gone = !-e $gif && !-e $header_file and last; select undef, undef, undef, 0.1 }
ok $gone, 'their files are removed';
$m->delete_ok('/api/v1/profile/avatar' => $A)->status_is(200, 'none: 200 all the same');
$tx = $m->ua->get('/users/alice' => { Accept => 'application/activity+json' });
ok !defined $tx->res->json('/icon'), 'the actor has no icon';

is spool_files(), 0, 'the spool is empty';
unlike $t->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alerts in nginx';

done_testing;
