# Every URL of this server that the JSON answers hand out answers, with the
# right Content-Type: the default avatar, header and instance thumbnail are
# PNGs (web clients show a broken image for anything else), the profile,
# post, tag, about and privacy policy URLs are HTML pages, /users/... URLs
# redirect to them.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});

# every string under $base in a decoded JSON document, and the hrefs of HTML in it
sub urls_in {
    my ($v, $found) = @_;
    if (ref $v eq 'HASH') { urls_in($_, $found) for values %$v }
    elsif (ref $v eq 'ARRAY') { urls_in($_, $found) for @$v }
    elsif (defined $v && !ref $v) {
        $found->{$v} = 1 if $v =~ m{^\Q$base\E/};
        $found->{$1} = 1 while $v =~ m{href="(\Q$base\E/[^"]*)"}g;
    }
    return $found;
}

my %urls;
my $s = $m->post_ok('/api/v1/statuses', $ha, form => { status => "Hi \@bob #Tag", visibility => 'public' })
    ->status_is(200)->tx->res->json;
urls_in($s, \%urls);
urls_in($m->get_ok('/api/v1/accounts/verify_credentials', $ha)->status_is(200)->tx->res->json, \%urls);
urls_in($m->get_ok("/api/v1/accounts/$bob->{account_id}")->status_is(200)->tx->res->json, \%urls);
urls_in($m->get_ok('/api/v1/instance')->status_is(200)->tx->res->json, \%urls);
urls_in($m->get_ok('/api/v2/instance')->status_is(200)->tx->res->json, \%urls);

# the ones the issue names are among them
for my $u ("$base/avatars/original/missing.png", "$base/headers/original/missing.png",
           "$base/packs/media/images/preview.png", "$base/\@alice", "$base/users/alice",
           "$base/\@alice/$s->{id}", "$base/users/alice/statuses/$s->{id}", "$base/\@bob",
           "$base/tags/Tag", "$base/about", "$base/privacy-policy")
{
    ok($urls{$u}, "handed out: $u");
}

for my $url (sort keys %urls) {
    my $path = $t->path_of($url);
    my $res = $t->ua->get($path)->result;
    if ($res->code == 301 || $res->code == 302) {
        my $to = $res->headers->location // '';
        like($to, qr{^\Q$base\E/\@}, "$path redirects to an /\@ page");
        is($res->headers->vary, 'Accept', "$path: Vary: Accept");
        $path = $t->path_of($to);
        $res = $t->ua->get($path)->result;
    }
    is($res->code, 200, "$path answers 200");
    my $type = $res->headers->content_type // '';
    if ($path =~ /\.png$/) {
        is($type, 'image/png', "$path is image/png");
        is(substr($res->body, 0, 16), "\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", "$path has a PNG signature and IHDR");
        like($res->headers->cache_control // '', qr/^public, max-age=\d+/, "$path may be cached");
    } elsif ($path =~ m{^/api/}) {
        like($type, qr{^application/json}, "$path is JSON");
    } else {
        is($type, 'text/html; charset=utf-8', "$path is HTML");
        like($res->body, qr{^<!DOCTYPE html>}, "$path is a page");
    }
}

# HEAD too (a client may probe)
$m->head_ok('/avatars/original/missing.png')->status_is(200)->content_type_is('image/png');

# what is not a username or id is not found, and nothing unsafe reaches a header
$m->get_ok('/users/al%0d%0aX-Evil:%201')->status_is(404)->header_is('X-Evil' => undef);
$m->get_ok('/@alice/12x')->status_is(404);
$m->get_ok('/@al!ce')->status_is(404);
$m->get_ok('/tags/a%01b')->status_is(404);

# the page escapes what it shows
$m->get_ok('/tags/%3Cb%3E')->status_is(200)->content_like(qr/#&lt;b&gt;/)->content_unlike(qr/<b>/);

$t->done;
