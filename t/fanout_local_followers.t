#!/usr/bin/perl
# The recipients' pages of an author without remote followers read no
# account per follower (worker/recipients.c, status_load()'s
# followers_all_local): the home rule's filters are the same as with the
# accounts read (t/fanout.t has a remote follower); once a remote account
# follows, the pages read the accounts again and leave it out.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use FanoutTest;
use Test::More;

my $t = MastodonTest->new(nginx => 0, worker => 1,
    worker_env => { MASTODON_QUEUES => 'default', MASTODON_FEED_MAX => 40, MASTODON_CONCURRENCY => 2 });
my $f = FanoutTest->new($t);

my $author = $f->account('author');
my $mentioned = $f->account('mentioned');
my %fl = map { $_ => $f->account("f_$_") }
    qw(plain nofeed blocks mutes mutes_expired lang_de lang_en blocks_mentioned);
$f->follow($fl{$_}, $author) for grep { !/^lang_/ } keys %fl;
$f->follow($fl{lang_de}, $author, languages => ['de']);
$f->follow($fl{lang_en}, $author, languages => ['en', 'fr']);
$f->block($fl{blocks}, $author);
$f->mute($fl{mutes}, $author);
$f->mute($fl{mutes_expired}, $author, expired => 1);
$f->block($fl{blocks_mentioned}, $mentioned);
$f->feed($_) for $author, grep { $_ != $fl{nofeed} } values %fl;

sub distribute {
    my ($s, $acct, %o) = @_;
    return $f->run_job('distribute', { status_id => "$s", payload => $f->payload($s, $acct, %o) });
}
my %want = (plain => 1, nofeed => 0, blocks => 0, mutes => 0, mutes_expired => 1, lang_de => 0,
    lang_en => 1, blocks_mentioned => 0);

my $s1 = $f->status($author, language => 'en', mentions => [$mentioned]);
ok(distribute($s1, $author), 'distribute, every follower local');
ok($f->in_feed($author, $s1), "the author's own feed");
for my $name (sort keys %want) {
    is($f->in_feed($fl{$name}, $s1), $want{$name}, "follower $name: " . ($want{$name} ? 'in' : 'not in') . ' the feed');
}
is($t->redis('EXISTS', $f->feed_key($fl{nofeed})), 0, 'a missing feed is not created');

# a remote follower with a feed key (none has one; if it had) and known
my $remote = $f->account('remote', domain => 'remote.example');
$f->follow($remote, $author);
$f->feed($remote);
$t->redis('SADD', 'mastodon:feeds:home', $remote);
my $s2 = $f->status($author, language => 'en');
ok(distribute($s2, $author), 'distribute, a remote follower now');
is($f->in_feed($remote, $s2), 0, 'the remote follower is left out');
is($f->in_feed($fl{plain}, $s2), 1, 'the local ones get it');
is($f->in_feed($fl{blocks}, $s2), 0, '... as the rule says');

$t->done;
