#!/usr/bin/perl
# Two posts naming one media attachment at the same time (sql/0045): one
# gets it, every other answers 422 "Media ... not found or already attached
# to another post", as Mastodon's validate_media! does; the attachment belongs
# to the post that got it, and no other status was written.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojo::IOLoop;

my $POSTS = 12;
my $ROUNDS = 5;

my $t = MastodonTest->new;
my $dave = $t->user('dave');
my $ua = $t->ua;

for my $round (1 .. $ROUNDS) {
    my $media = $t->psql("INSERT INTO media_attachments (account_id, type, processing,"
        . " file_file_name, file_content_type, file_meta) VALUES ($dave->{account_id}, 0, 2,"
        . " 'x.png', 'image/png', '{}') RETURNING id");
    my %got;
    for my $i (1 .. $POSTS) {
        $ua->post($t->base . '/api/v1/statuses' => $t->bearer($dave->{token})
            => form => { status => "race $round.$i", 'media_ids[]' => [$media] } => sub {
                my (undef, $tx) = @_;
                $got{$i} = { code => $tx->res->code // 0, json => $tx->res->json };
                Mojo::IOLoop->stop if keys %got == $POSTS;
            });
    }
    Mojo::IOLoop->start if keys %got < $POSTS;
    is(scalar keys %got, $POSTS, "round $round: $POSTS answers");

    my @ok = grep { $got{$_}{code} == 200 } keys %got;
    is(scalar @ok, 1, "round $round: one post got the media");
    for my $i (grep { $got{$_}{code} != 200 } keys %got) {
        is($got{$i}{code}, 422, "round $round, post $i: 422");
        is($got{$i}{json}{error}, "Media $media not found or already attached to another post",
            "round $round, post $i: the error");
    }
    next unless @ok == 1;
    my $status = $got{ $ok[0] }{json};
    is_deeply([map { $_->{id} } @{ $status->{media_attachments} }], ["$media"],
        "round $round: the answer shows it");
    is($t->psql("SELECT status_id FROM media_attachments WHERE id = $media"), $status->{id},
        "round $round: the attachment is that post's");
    is($t->psql("SELECT count(*) FROM statuses WHERE text LIKE 'race $round.%'"), 1,
        "round $round: one status written");
}

done_testing;
