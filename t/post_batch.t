#!/usr/bin/perl
# Group commit (issue 10): many concurrent posts, which the module merges
# into one mastodon_post_statuses() call when they wait for a post
# transaction of their worker: several authors, replies, polls, mentions,
# tags, a reply to a status that is not there, a media id that is not
# there, and one media id in five posts (one gets it; a group holding two
# of them fails as a whole, and its posts run alone).  Each request gets
# its own answer (its text, its author, its reply, poll, mention and tags)
# or its own error, and the rows are those the posts make one by one.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use Test::More;
use Mojo::IOLoop;
use Mojo::UserAgent;

my $POSTS = 40;

my $t = MastodonTest->new;
my @users = map { $t->user($_) } qw(alice bob carol dave);
my ($alice, $bob, $carol, $dave) = @users;

my $ua0 = $t->ua;
my $parent = $ua0->post($t->base . '/api/v1/statuses' => $t->bearer($alice->{token})
    => form => { status => 'the parent' })->result->json->{id};
ok($parent, 'the parent is posted');

my $media = $t->psql("INSERT INTO media_attachments (account_id, type, processing,"
    . " file_file_name, file_content_type, file_meta) VALUES ($dave->{account_id}, 0, 2,"
    . " 'x.png', 'image/png', '{}') RETURNING id");

my (%want, %got);
for my $i (0 .. $POSTS - 1) {
    my $u = $users[$i % 4];
    my %form = (status => "batch post $i #batchtag" . ($i % 3));
    my %w = (author => $u->{account_id}, code => 200, text => "batch post $i",
             tag => 'batchtag' . ($i % 3));
    if ($i % 8 == 1) {
        $form{in_reply_to_id} = $parent;
        $w{reply} = $parent;
    }
    if ($i % 8 == 2) {
        $form{'poll[options][]'} = ["yes $i", "no $i"];
        $form{'poll[expires_in]'} = 600;
        $w{poll} = "yes $i";
    }
    if ($i % 8 == 3) {
        $form{status} .= ' @carol';
        $w{mention} = $carol->{account_id};
    }
    if ($i == 5) {
        $form{in_reply_to_id} = 1;
        %w = (code => 404, error => 'does not appear to exist');
    }
    if ($i == 6) {
        $form{'media_ids[]'} = [999999999];
        %w = (code => 422, error => 'Media 999999999 not found');
    }
    if ($i % 8 == 7) {      # dave's, five: one gets it, in a group or not
        $form{'media_ids[]'} = [$media];
        $w{media} = 1;
    }
    $want{$i} = \%w;

    $ua0->post($t->base . '/api/v1/statuses' => $t->bearer($u->{token}) => form => \%form
        => sub {
            my (undef, $tx) = @_;
            $got{$i} = { code => $tx->res->code // 0, json => $tx->res->json };
            Mojo::IOLoop->stop if keys %got == $POSTS;
        });
}
Mojo::IOLoop->start if keys %got < $POSTS;
is(scalar keys %got, $POSTS, "$POSTS answers");

my (%count, $replies, %ids);
my $media_200 = 0;
for my $i (sort { $a <=> $b } keys %want) {
    my ($w, $g) = ($want{$i}, $got{$i});
    if ($w->{media}) {
        if ($g->{code} == 200) {
            $media_200++;
            is(scalar @{ $g->{json}{media_attachments} }, 1, "post $i: the media");
        } else {
            is($g->{code}, 422, "post $i: the media is the other's");
            next;
        }
    }
    is($g->{code}, $w->{code}, "post $i: $w->{code}") or diag explain $g->{json};
    if ($w->{code} != 200) {
        like($g->{json}{error} // '', qr/\Q$w->{error}\E/, "post $i: its own error");
        next;
    }
    my $j = $g->{json};
    like($j->{content}, qr/\Q$w->{text}\E\b/, "post $i: its own text");
    is($j->{account}{id}, $w->{author}, "post $i: its author");
    is($j->{in_reply_to_id}, $w->{reply}, "post $i: in_reply_to_id");
    is($j->{poll} && $j->{poll}{options}[0]{title}, $w->{poll}, "post $i: poll");
    is_deeply([map { $_->{id} } @{ $j->{mentions} }], $w->{mention} ? [$w->{mention}] : [],
        "post $i: mentions");
    is_deeply([map { $_->{name} } @{ $j->{tags} }], [$w->{tag}], "post $i: tags");
    ok(!$ids{ $j->{id} }++, "post $i: an id of its own");
    $count{ $w->{author} }++;
    $replies++ if $w->{reply};
}
is($media_200, 1, 'the media went to one post');

is($t->psql("SELECT count(*) FROM statuses WHERE text LIKE 'batch post %'"),
   scalar keys %ids, 'one row per post answered 200, none for the others');
for my $u (@users) {
    my $n = ($count{ $u->{account_id} } // 0) + ($u == $alice ? 1 : 0);
    is($t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $u->{account_id}"),
       $n, "statuses_count of account $u->{account_id}");
}
is($t->psql("SELECT replies_count FROM status_stats WHERE status_id = $parent"), $replies,
   'the parent\'s replies_count');
is($t->psql("SELECT count(*) FROM statuses_tags st JOIN statuses s ON s.id = st.status_id"
    . " WHERE s.text LIKE 'batch post %'"), scalar keys %ids, 'one tag each');
is($t->psql("SELECT count(*) FROM mentions m JOIN statuses s ON s.id = m.status_id"
    . " WHERE s.text LIKE 'batch post %'"),
   scalar(grep { $want{$_}{mention} && $got{$_}{code} == 200 } keys %want), 'the mentions');
is($t->psql("SELECT count(*) FROM polls p JOIN statuses s ON s.id = p.status_id"
    . " WHERE s.text LIKE 'batch post %'"),
   scalar(grep { $want{$_}{poll} } keys %want), 'the polls');

$t->done;
