#!/usr/bin/perl
# Fan-out (ARCHITECTURE.md, "Statuses, feeds and fan-out"): the worker's
# distribute, status_update, remove_status, notify, feed_merge and
# feed_unmerge jobs, on rows written with SQL.
use strict;
use warnings;
use lib 't/lib';
use MastodonTest;
use FanoutTest;
use Test::More;
use Mojo::JSON qw(encode_json decode_json);

# only the default queue: activitypub_distribute entries stay in their stream
my $t = MastodonTest->new(nginx => 0, worker => 1,
    worker_env => { MASTODON_QUEUES => 'default', MASTODON_FEED_MAX => 40, MASTODON_CONCURRENCY => 2 });
my $f = FanoutTest->new($t);

my $author = $f->account('author');
my $mentioned = $f->account('mentioned');          # not a follower
my %fl;                                            # followers by what they test
for my $name (qw(plain nofeed blocks mutes mutes_expired lang_de lang_en noreblogs notify
                 blocks_mentioned follows_x domain_blocker)) {
    $fl{$name} = $f->account("f_$name");
}
$f->follow($fl{$_}, $author) for grep { !/^lang_|^noreblogs$|^notify$/ } keys %fl;
$f->follow($fl{lang_de}, $author, languages => ['de']);
$f->follow($fl{lang_en}, $author, languages => ['en', 'fr']);
$f->follow($fl{noreblogs}, $author, show_reblogs => 0);
$f->follow($fl{notify}, $author, notify => 1);
$f->block($fl{blocks}, $author);
$f->mute($fl{mutes}, $author);
$f->mute($fl{mutes_expired}, $author, expired => 1);
$f->block($fl{blocks_mentioned}, $mentioned);
my $remote = $f->account('remote', domain => 'remote.example');
$f->follow($remote, $author);
$f->feed($_) for $author, $mentioned, grep { $_ != $fl{nofeed} } values %fl;

sub distribute {
    my ($s, $acct, %o) = @_;
    return $f->run_job('distribute', { status_id => "$s", payload => $f->payload($s, $acct, %o) });
}

# --- a public status ---------------------------------------------------------------
my $sub = $f->subscribe("timeline:$fl{plain}", "timeline:$fl{blocks}", "timeline:$mentioned:notifications",
    "timeline:$fl{notify}", "timeline:$fl{notify}:notifications", 'timeline:public', 'timeline:public:local', 'timeline:public:media',
    'timeline:public:local:media', 'timeline:public:remote', 'timeline:hashtag:nginx',
    'timeline:hashtag:nginx:local');
my $s1 = $f->status($author, language => 'en', mentions => [$mentioned], tags => ['NGINX']);
ok(distribute($s1, $author), 'distribute a public status');

ok($f->in_feed($author, $s1), "the author's own feed");
my %want = (plain => 1, nofeed => 0, blocks => 0, mutes => 0, mutes_expired => 1, lang_de => 0,
    lang_en => 1, noreblogs => 1, notify => 1, blocks_mentioned => 0, follows_x => 1, domain_blocker => 1);
for my $name (sort keys %want) {
    is($f->in_feed($fl{$name}, $s1), $want{$name}, "follower $name: " . ($want{$name} ? 'in' : 'not in') . ' the feed');
}
is($t->redis('EXISTS', $f->feed_key($fl{nofeed})), 0, 'a missing feed is not created');
is($f->in_feed($mentioned, $s1), 0, 'a mentioned non-follower: not in the home feed');
is($t->redis('ZSCORE', $f->feed_key($fl{plain}), 0), 0, 'the sentinel stays');

my @m = $sub->messages(count => 9, wait => 3);
my %by = map { $_->{channel} => $_ } @m;
is($by{"timeline:$fl{plain}"}{json}{event}, 'update', 'update event on the follower timeline');
is($by{"timeline:$fl{plain}"}{json}{payload}{id}, "$s1", 'with the payload');
is($by{"timeline:$fl{plain}"}{raw}, '{"event":"update","payload":' . encode_json($f->payload($s1, $author)) . '}',
    'payload inserted as rendered');
ok(!$by{"timeline:$fl{blocks}"}, 'nothing for the follower who blocks');
ok($by{'timeline:public'} && $by{'timeline:public:local'}, 'public and public:local');
ok(!$by{'timeline:public:remote'} && !$by{'timeline:public:media'}, 'not remote, no media');
ok($by{'timeline:hashtag:nginx'} && $by{'timeline:hashtag:nginx:local'}, 'hashtag channels, lower-cased');
# notification events name the notification: the stream renders it for its
# user (t/streaming_sse.t), nothing here waits for renderings
my $n = $by{"timeline:$mentioned:notifications"};
is($n->{json}{event}, 'notification', 'mention notification event');
is_deeply($n->{json}, { event => 'notification', notification_id => $f->notifications("type = 'mention'")->[0]{id} },
    '... naming the mention notification');
is($by{"timeline:$fl{notify}:notifications"}{json}{notification_id}, $f->notifications("type = 'status'")->[0]{id},
    'status notification event (follows.notify)');

my $mn = $f->notifications("type = 'mention'");
is(scalar @$mn, 1, 'one mention notification');
is($mn->[0]{account_id}, $mentioned, '... to the mentioned account');
is($mn->[0]{activity_type}, 'Mention', '... activity Mention');
is($mn->[0]{activity_id}, $t->psql("SELECT id FROM mentions WHERE status_id = $s1"), '... the mention row');
is($mn->[0]{group_key}, '', '... group_key NULL');
my $sn = $f->notifications("type = 'status'");
is(scalar @$sn, 1, 'one status notification');
is($sn->[0]{account_id}, $fl{notify}, '... to the follower with notify');
is("$sn->[0]{activity_type} $sn->[0]{activity_id}", "Status $s1", '... activity the status');

my (undef, %ap) = split /\n/, $t->redis('XRANGE', 'mastodon:queue:push', '-', '+');
is($ap{type}, 'activitypub_distribute', 'activitypub_distribute queued on push (a remote follower)');
is_deeply(decode_json($ap{args} // '{}'), { status_id => "$s1", action => 'create' }, '... its args');
ok(distribute($s1, $author), 'the same job again');
is($t->redis('XLEN', 'mastodon:queue:push'), 2, 'a second job queues federation again (its own jid)');
is(scalar @{ $f->notifications("type IN ('mention', 'status')") }, 2, 'no duplicate notifications');
is(scalar(() = $sub->messages(wait => 1)), 4, 'feed events not repeated for feeds already holding it (public ones are)');
$t->redis('DEL', 'mastodon:queue:push');

# --- replies ----------------------------------------------------------------------------
my $x = $f->account('x');
$f->follow($fl{follows_x}, $x);
$f->follow($x, $author);
$f->feed($x);
my $xs = $f->status($x);
my $reply = $f->status($author, reply_to => $xs);
ok(distribute($reply, $author), 'distribute a reply to another account');
is($f->in_feed($fl{follows_x}, $reply), 1, 'a follower who follows the replied-to account gets it');
is($f->in_feed($x, $reply), 1, 'the replied-to account (a follower) gets it');
is($f->in_feed($fl{plain}, $reply), 0, 'a follower who does not follow them does not');
is($f->in_feed($author, $reply), 1, 'the author does');
my $self_reply = $f->status($author, reply_to => $s1);
ok(distribute($self_reply, $author), 'a self-reply');
is($f->in_feed($fl{plain}, $self_reply), 1, 'reaches every follower');
my $orphan = $f->status($author, reply_to => $xs);
$t->psql("UPDATE statuses SET in_reply_to_id = NULL WHERE id = $orphan");
ok(distribute($orphan, $author), 'a reply whose parent is unknown');
is($f->in_feed($fl{plain}, $orphan) + $f->in_feed($fl{follows_x}, $orphan), 0, 'reaches no follower');
is($f->in_feed($author, $orphan), 1, 'only the author');
$sub->messages(wait => 0.3);

# --- private and direct --------------------------------------------------------------------
my $priv = $f->status($author, visibility => 2);
ok(distribute($priv, $author), 'a private status');
is($f->in_feed($fl{plain}, $priv), 1, 'reaches followers');
ok(!grep({ $_->{channel} =~ /public/ } $sub->messages(wait => 1)), 'no public channel');

my $dsub = $f->subscribe("timeline:direct:$author", "timeline:direct:$fl{plain}", "timeline:direct:$mentioned");
my $dm = $f->status($author, visibility => 3, mentions => [$fl{plain}, $mentioned]);
ok(distribute($dm, $author), 'a direct status');
is($f->in_feed($fl{plain}, $dm), 1, 'a mentioned follower gets it in the home feed (Mastodon 4)');
is($f->in_feed($fl{lang_en}, $dm), 0, 'other followers do not');
is($f->in_feed($mentioned, $dm), 0, 'a mentioned non-follower does not');
my @d = $dsub->messages(count => 3, wait => 3);
is_deeply([ sort map { $_->{channel} } @d ],
    [ sort "timeline:direct:$author", "timeline:direct:$fl{plain}", "timeline:direct:$mentioned" ],
    'update on timeline:direct of the author and each mentioned account');
is($d[0]{json}{event}, 'update', '... event update');
is(scalar @{ $f->notifications("type = 'mention' AND activity_id IN (SELECT id FROM mentions WHERE status_id = $dm)") }, 2,
    'mention notifications for a direct status');

# --- reblogs -------------------------------------------------------------------------------
my $booster = $f->account('booster');
my $r_plain = $f->account('r_plain');
$f->follow($r_plain, $booster);
$f->follow($r_plain, $author);
$f->follow($fl{noreblogs}, $booster, show_reblogs => 0);
$f->feed($r_plain, $s1);
my $rb = $f->status($booster, reblog_of => $s1);
my $rsub = $f->subscribe("timeline:$author:notifications");
ok(distribute($rb, $booster, reblog => $f->payload($s1, $author)), 'distribute a reblog of a status in the feed');
is($f->in_feed($r_plain, $rb), 0, 'not added: its original is among the newest 40');
is($f->in_feed($booster, $rb), 0, "the booster's feed does not exist: not created");
my $old = $f->status($author);
my $rb2 = $f->status($booster, reblog_of => $old);
ok(distribute($rb2, $booster, reblog => $f->payload($old, $author)), 'a reblog of a status not in the feed');
is($f->in_feed($r_plain, $rb2), 1, 'added');
is(sprintf('%.10e', $t->redis('ZSCORE', $f->feed_key($r_plain) . ':reblogs', $old)), sprintf('%.10e', $rb2),
    'tracked in :reblogs (original -> reblog id as the score)');
is($f->in_feed($fl{noreblogs}, $rb2), 0, 'not for a follower with show_reblogs false');
my $booster2 = $f->account('booster2');
$f->follow($r_plain, $booster2);
my $rb3 = $f->status($booster2, reblog_of => $old);
ok(distribute($rb3, $booster2, reblog => $f->payload($old, $author)), 'a second reblog of the same status');
is($f->in_feed($r_plain, $rb3), 0, 'not added again');
ok(distribute($old, $author), 'the original itself, late');
is($f->in_feed($r_plain, $old), 0, 'not added: a reblog of it is in the feed');
my $rn = $f->notifications("type = 'reblog'");
is(scalar @$rn, 3, 'reblog notifications to the original author');
is($rn->[1]{group_key}, $rn->[2]{group_key}, 'reblogs of one status share a group');
like($rn->[1]{group_key}, qr/^reblog-$old-\d+$/, "group_key reblog-<status>-<hour>");
is("$rn->[0]{activity_type} $rn->[0]{activity_id} $rn->[0]{from_account_id}", "Status $rb $booster",
    'activity: the reblog, from the booster');
my ($rev) = grep { $_->{json}{event} eq 'notification' } $rsub->messages(count => 3, wait => 3);
is($rev->{json}{notification_id}, $rn->[0]{id}, "the reblog notification event names the booster's notification");

# --- trimming to feed_max -------------------------------------------------------------------------
my $trim = $f->account('trim');
$f->follow($trim, $author);
$f->feed($trim, map { 1000 + $_ } 1 .. 45);
my $s_new = $f->status($author);
ok(distribute($s_new, $author), 'distribute into a feed holding more than feed_max');
is($t->redis('ZCARD', $f->feed_key($trim)), 41, 'trimmed to feed_max (40) plus the sentinel');
is($f->members($trim)->[0], $s_new, 'the new status is the newest');
is($t->redis('ZSCORE', $f->feed_key($trim), 0), 0, 'the sentinel survives trimming');
my $partial = $f->account('partial');
$f->follow($partial, $author);
$t->redis('ZADD', $f->feed_key($partial), map { (1000 + $_, 1000 + $_) } 1 .. 45);
my $s_new2 = $f->status($author);
ok(distribute($s_new2, $author), 'distribute into a feed without the sentinel');
is($t->redis('ZCARD', $f->feed_key($partial)), 41, 'trimmed by rank from 1: feed_max plus one (rebuilt on read anyway)');

# --- notify ------------------------------------------------------------------------------------------
my $fan = $f->account('fan');
my $fan2 = $f->account('fan2');
my $hater = $f->account('hater');
my $muted = $f->account('muted');
my $soft = $f->account('soft');
$f->block($author, $hater);
$f->mute($author, $muted);
$f->mute($author, $soft, hide_notifications => 0);
my $nsub = $f->subscribe("timeline:$author:notifications");
my %fav;
for my $who ($fan, $fan2, $hater, $muted, $soft) {
    $fav{$who} = $t->psql("INSERT INTO favourites (account_id, status_id) VALUES ($who, $s1) RETURNING id");
    ok($f->run_job('notify', { type => 'favourite', account_id => "$author", from_account_id => "$who",
        activity_type => 'Favourite', activity_id => "$fav{$who}",
        account => { id => "$who", username => "u$who" }, status => $f->payload($s1, $author) }), "notify favourite from $who");
}
my $fv = $f->notifications("type = 'favourite'");
is_deeply([ map { $_->{from_account_id} } @$fv ], [ $fan, $fan2, $soft ],
    'favourites notified, except from a blocked or (hide_notifications) muted account');
like($fv->[0]{group_key}, qr/^favourite-$s1-\d+$/, 'group_key favourite-<status>-<hour>');
is($fv->[1]{group_key}, $fv->[0]{group_key}, 'one group');
my @ne = $nsub->messages(count => 3, wait => 3);
is(scalar @ne, 3, 'three notification events');
is_deeply([ map { $_->{json}{notification_id} } @ne ], [ map { $_->{id} } @$fv ], 'the events name the notifications');
ok(!grep({ exists $_->{json}{payload} } @ne), '... without renderings (the stream renders for its user)');
ok($f->run_job('notify', { type => 'favourite', account_id => "$author", from_account_id => "$fan",
    activity_type => 'Favourite', activity_id => "$fav{$fan}", account => { id => "$fan" } }), 'the same notify again');
is(scalar @{ $f->notifications("type = 'favourite'") }, 3, 'idempotent');
$t->psql("DELETE FROM favourites WHERE id = $fav{$fan2}");
$t->psql("DELETE FROM notifications WHERE activity_type = 'Favourite' AND activity_id = $fav{$fan2}");
ok($f->run_job('notify', { type => 'favourite', account_id => "$author", from_account_id => "$fan2",
    activity_type => 'Favourite', activity_id => "$fav{$fan2}", account => { id => "$fan2" } }), 'notify an undone favourite');
is(scalar @{ $f->notifications("type = 'favourite'") }, 2, 'nothing: the activity is gone');
my $follow_id = $f->follow($fan, $author);
ok($f->run_job('notify', { type => 'follow', account_id => "$author", from_account_id => "$fan",
    activity_type => 'Follow', activity_id => "$follow_id", account => { id => "$fan" } }), 'notify follow');
my ($fo) = @{ $f->notifications("type = 'follow'") };
like($fo->{group_key}, qr/^follow-\d+$/, 'group_key follow-<hour>');
my ($fe) = $nsub->messages(count => 1, wait => 3);
is($fe->{json}{notification_id}, $fo->{id}, 'the follow notification event names it');
my $bad = $t->worker_cli('enqueue', 'default', 'notify', '{"type":"favourite"}');
ok($t->wait_for(sub { $t->redis('ZCARD', 'mastodon:retry') == 1 }, 10), 'notify with bad args fails');
$t->redis('DEL', 'mastodon:retry');

# --- status_update ------------------------------------------------------------------------------------
my $usub = $f->subscribe("timeline:$fl{plain}", "timeline:$fl{blocks}", 'timeline:public', "timeline:$booster:notifications");
$t->psql("INSERT INTO follows (account_id, target_account_id) VALUES ($booster, $mentioned)");
my $newly = $f->account('newly');
$t->psql("INSERT INTO mentions (status_id, account_id) VALUES ($s1, $newly)");
ok($f->run_job('status_update', { status_id => "$s1", payload => $f->payload($s1, $author, content => 'edited') }),
    'status_update');
my @u = $usub->messages(count => 3, wait => 3);
my %ub = map { $_->{channel} => $_ } @u;
is($ub{"timeline:$fl{plain}"}{json}{event}, 'status.update', 'status.update on a feed holding it');
is($ub{"timeline:$fl{plain}"}{json}{payload}{content}, 'edited', '... the new payload');
ok(!$ub{"timeline:$fl{blocks}"}, 'not where it never went');
is($ub{'timeline:public'}{json}{event}, 'status.update', 'status.update on timeline:public');
is($ub{"timeline:$booster:notifications"}{json}{notification_id}, $f->notifications("type = 'update'")->[0]{id},
    'an update notification to a reblogger');
is(scalar @{ $f->notifications("type = 'mention' AND account_id = $newly") }, 1, 'a newly mentioned account is notified');
is(scalar @{ $f->notifications("type = 'mention' AND account_id = $mentioned AND activity_id IN (SELECT id FROM mentions WHERE status_id = $s1)") }, 1,
    'an account already mentioned is not notified again');
my $first_update = $f->notifications("type = 'update'")->[0]{id};
ok($f->run_job('status_update', { status_id => "$s1", payload => $f->payload($s1, $author) }), 'a second edit');
my $upd = $f->notifications("type = 'update'");
is(scalar @$upd, 1, 'one update notification per reblogger');
cmp_ok($upd->[0]{id}, '>', $first_update, '... a new one, so it shows on top');

# --- feed_merge / feed_unmerge ----------------------------------------------------------------------------
my $newbie = $f->account('newbie');
$f->feed($newbie);
$f->follow($newbie, $author);
ok($f->run_job('feed_merge', { account_id => "$newbie", target_account_id => "$author" }), 'feed_merge');
my $merged = $f->members($newbie);
ok((grep { $_ == $s1 } @$merged), 'the public status merged');
ok((grep { $_ == $priv } @$merged), 'the private status merged');
ok(!(grep { $_ == $dm } @$merged), 'not the direct one');
ok(!(grep { $_ == $reply } @$merged), 'not the reply to an account the reader does not follow');
ok(!(grep { $_ == $orphan } @$merged), 'not the reply without parent');
my $nofeed2 = $f->account('nofeed2');
ok($f->run_job('feed_merge', { account_id => "$nofeed2", target_account_id => "$author" }), 'feed_merge without a feed');
is($t->redis('EXISTS', $f->feed_key($nofeed2)), 0, 'no feed created');

$f->feed($newbie, $rb2);      # a reblog by someone else of the author's status
$t->redis('ZADD', $f->feed_key($newbie) . ':reblogs', $rb2, $old);
ok($f->run_job('feed_unmerge', { account_id => "$newbie", target_account_id => "$author" }), 'feed_unmerge');
is_deeply($f->members($newbie), [ $rb2 ], "the author's statuses are gone, a reblog by another stays");
my $csub = $f->subscribe("timeline:$newbie");
ok($f->run_job('feed_unmerge', { account_id => "$newbie", target_account_id => "$author", clear => \1 }),
    'feed_unmerge with clear (block, mute)');
is_deeply($f->members($newbie), [], 'reblogs of their statuses are gone too');
is($t->redis('EXISTS', $f->feed_key($newbie) . ':reblogs'), 0, 'and their reblog tracking');
is_deeply([ map { $_->{raw} } $csub->messages(count => 1, wait => 3) ], [ qq({"event":"delete","payload":"$rb2"}) ],
    'a delete event with clear');

# --- remove_status ------------------------------------------------------------------------------------------
$f->feed($r_plain, $rb);          # pretend the reblog made it there
my $dsub2 = $f->subscribe("timeline:$fl{plain}", "timeline:$r_plain", 'timeline:public', 'timeline:hashtag:nginx');
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $s1 OR reblog_of_id = $s1");
ok($f->run_job('remove_status', { status_id => "$s1", account_id => "$author", reblog_of_id => undef }), 'remove_status');
for my $who ($author, $fl{plain}, $fl{lang_en}, $r_plain) {
    is($f->in_feed($who, $s1), 0, "gone from the feed of $who");
}
is($f->in_feed($r_plain, $rb), 0, "its reblog gone from the reblogger's followers");
my %rm = map { ($_->{channel} => $_->{raw}) } $dsub2->messages(count => 4, wait => 3);
is($rm{"timeline:$fl{plain}"}, qq({"event":"delete","payload":"$s1"}), 'delete on a follower timeline');
ok($rm{'timeline:public'} && $rm{'timeline:hashtag:nginx'}, 'delete on the public and hashtag channels');
is($rm{"timeline:$r_plain"}, qq({"event":"delete","payload":"$rb"}), 'delete of the reblog where it was');
is(scalar @{ $f->notifications("(activity_type = 'Status' AND activity_id IN ($s1, $rb))"
    . " OR (activity_type = 'Mention' AND activity_id IN (SELECT id FROM mentions WHERE status_id = $s1))"
    . " OR (activity_type = 'Favourite' AND activity_id IN (SELECT id FROM favourites WHERE status_id = $s1))") }, 0,
    'its notifications are deleted (mention, status, favourite, reblog, update)');
ok(scalar @{ $f->notifications("type = 'mention'") } > 0, 'others stay');

# an unreblog
$t->psql("UPDATE statuses SET deleted_at = now() WHERE id = $rb2");
ok($f->run_job('remove_status', { status_id => "$rb2", account_id => "$booster", reblog_of_id => "$old" }), 'remove a reblog');
is($f->in_feed($r_plain, $rb2), 0, 'gone');
is($t->redis('ZSCORE', $f->feed_key($r_plain) . ':reblogs', $old), '', 'its reblog tracking too');

$t->done;
