# The visibility matrix: public, unlisted, private and direct statuses as a
# follower, a stranger, a mentioned account, an account the author blocks,
# an account that blocks the author, and anonymous clients see them
# (Mastodon's StatusPolicy#show?), on every read path of one status.

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;

my $author = $t->user('author');
my %v = map { $_ => $t->user($_) } qw(follower stranger mentioned blocked blocker);
my $ha = $t->bearer($author->{token});
my $aid = $author->{account_id};

$m->post_ok("/api/v1/accounts/$aid/follow", $t->bearer($v{follower}{token}))->status_is(200);
$m->post_ok("/api/v1/accounts/$aid/follow", $t->bearer($v{blocked}{token}))->status_is(200);
$m->post_ok("/api/v1/accounts/$v{blocked}{account_id}/block", $ha)->status_is(200);
$m->post_ok("/api/v1/accounts/$aid/block", $t->bearer($v{blocker}{token}))->status_is(200);

my %status;
for my $vis (qw(public unlisted private direct)) {
    $status{$vis} = $m->post_ok('/api/v1/statuses', $ha,
        form => { status => "\@mentioned a $vis status", visibility => $vis })->status_is(200)
        ->tx->res->json->{id};
}

# viewer => the visibilities it may see
my %sees = (
    author    => [qw(public unlisted private direct)],
    follower  => [qw(public unlisted private)],
    stranger  => [qw(public unlisted)],
    mentioned => [qw(public unlisted private direct)],
    blocked   => [],                          # the author blocks it
    blocker   => [qw(public unlisted)],       # it blocks the author: may still open them
    anonymous => [qw(public unlisted)],
);

for my $who (sort keys %sees) {
    my $h = $who eq 'author' ? $ha : $who eq 'anonymous' ? {} : $t->bearer($v{$who}{token});
    my %ok = map { $_ => 1 } @{ $sees{$who} };
    for my $vis (qw(public unlisted private direct)) {
        my $id = $status{$vis};
        my $code = $ok{$vis} ? 200 : 404;
        $m->get_ok("/api/v1/statuses/$id", $h)->status_is($code, "$who, $vis status: $code");
        $m->get_ok("/api/v1/statuses/$id/context", $h)->status_is($code, "$who, $vis context: $code");
        $m->get_ok("/api/v1/statuses/$id/history", $h)->status_is($code, "$who, $vis history: $code");
        my $ids = $m->get_ok("/api/v1/statuses?id[]=$id", $h)->status_is(200)->tx->res->json;
        is(scalar @$ids, $ok{$vis} ? 1 : 0, "$who, $vis in ?id[]");
        # replying needs to see it
        next if $who eq 'anonymous';
        $m->post_ok('/api/v1/statuses', $h, form => { status => 'reply', in_reply_to_id => $id })
          ->status_is($code, "$who replies to $vis: $code");
    }
}

$t->done;
