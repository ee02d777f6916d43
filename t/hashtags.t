# Hashtags are one tag when Mastodon's HashtagNormalizer says so: a status'
# tags are stored under the normalized name (display_name as written), and
# tag timelines (the tag, any[], all[], none[]) and an account's statuses
# ?tagged= look names up normalized.

use strict;
use warnings;
use utf8;

use Test::More;
use Mojo::Util qw(url_escape encode decode);
use MastodonTest;

binmode(Test::More->builder->$_, ':encoding(UTF-8)') for qw(output failure_output todo_output);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $ha = $t->bearer($alice->{token});
my $aid = $alice->{account_id};

sub post_status {
    my ($text) = @_;
    $m->post_ok('/api/v1/statuses', $ha, form => { status => $text })->status_is(200, "posted: $text");
    return $m->tx->res->json;
}

sub tag_path { '/api/v1/timelines/tag/' . url_escape(encode('UTF-8', $_[0])) }

sub ids_of { [ map { $_->{id} } @{ $m->tx->res->json } ] }

my $full = post_status('full width #ＭＡＳＴＯＤＯＮ');
is_deeply($full->{tags}, [{ name => 'mastodon', url => "$base/tags/mastodon" }],
          'a full-width tag is stored and shown under its normalized name');
like($full->{content}, qr{>#<span>ＭＡＳＴＯＤＯＮ</span></a>}, 'the text keeps it as written');

my $plain = post_status('plain #mastodon');
my $mixed = post_status('mixed #MastoDon and #BLÅHAJ, #Café');
is_deeply([ map { $_->{name} } @{ $mixed->{tags} } ], [ 'mastodon', 'blahaj', 'cafe' ],
          'lower case, ASCII folding');
my $other = post_status('another #mastodon2');

is($t->psql(q{SELECT count(*) FROM tags WHERE lower(name) = 'mastodon'}), 1, 'one tag row for all three');
is(decode('UTF-8', $t->psql(q{SELECT display_name FROM tags WHERE name = 'mastodon'})), 'ＭＡＳＴＯＤＯＮ',
   'display_name: as first written');
is(decode('UTF-8', $t->psql(q{SELECT display_name FROM tags WHERE name = 'blahaj'})), 'BLÅHAJ', 'display_name keeps the diacritic');

my @three = ($mixed->{id}, $plain->{id}, $full->{id});
for my $name ('mastodon', 'MASTODON', 'ＭＡＳＴＯＤＯＮ', 'Mastodon', '#mastodon', 'máStodon') {
    $m->get_ok(tag_path($name))->status_is(200);
    is_deeply(ids_of(), \@three, "the tag timeline of $name has the three");
}
$m->get_ok(tag_path('mastodon2'))->status_is(200);
is_deeply(ids_of(), [ $other->{id} ], 'mastodon2 is another tag');
$m->get_ok(tag_path('blåhaj'))->status_is(200);
is_deeply(ids_of(), [ $mixed->{id} ], 'blåhaj is blahaj');
$m->get_ok(tag_path('nosuchtag'))->status_is(200)->content_is('[]');
$m->get_ok('/api/v1/timelines/tag/%ff')->status_is(400)->json_has('/error');

# any[], all[], none[] are normalized too
$m->get_ok(tag_path('mastodon2') . '?' . join('&', map { 'any[]=' . url_escape(encode('UTF-8', $_)) } 'ＢＬＡＨＡＪ'))
  ->status_is(200);
is_deeply(ids_of(), [ $other->{id}, $mixed->{id} ], 'any[] of a full-width name');
$m->get_ok(tag_path('mastodon') . '?all[]=' . url_escape(encode('UTF-8', 'Ｃａｆé')))->status_is(200);
is_deeply(ids_of(), [ $mixed->{id} ], 'all[] of a full-width name with a diacritic');
$m->get_ok(tag_path('mastodon') . '?none[]=' . url_escape(encode('UTF-8', 'BLÅHAJ')))->status_is(200);
is_deeply(ids_of(), [ $plain->{id}, $full->{id} ], 'none[]');

# an account's statuses ?tagged=
$m->get_ok("/api/v1/accounts/$aid/statuses?tagged=" . url_escape(encode('UTF-8', 'ＭａｓｔｏＤＯＮ')))->status_is(200);
is_deeply(ids_of(), \@three, 'tagged= is normalized');

# an edit keeps the tag it already has under another spelling, and drops others
$m->put_ok("/api/v1/statuses/$mixed->{id}", $ha, form => { status => 'edited #ｍａｓｔｏｄｏｎ' })->status_is(200);
is_deeply($m->tx->res->json->{tags}, [{ name => 'mastodon', url => "$base/tags/mastodon" }], 'edit: tags');
$m->get_ok(tag_path('blahaj'))->status_is(200)->content_is('[]');
is($t->psql(q{SELECT count(*) FROM tags WHERE lower(name) = 'mastodon'}), 1, 'still one tag row');

$t->done;
