# Posting statuses and reading them back: the Status entity attribute for
# attribute, HTML rendering, validation errors, Idempotency-Key, edit,
# history, source, delete (with the source), context, and the rendered
# status cache in Redis.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;
use MastodonEntities qw(entity_errors status_errors);

my $t = MastodonTest->new(worker => 0);
my $m = $t->mojo;
my $base = $t->public_base;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});

sub jobs { my ($type) = @_; return map { $_->{args} } grep { $_->{type} eq $type } $t->jobs }

# --- post -------------------------------------------------------------------------
my $tx = $m->post_ok('/api/v1/statuses', $ha,
    form => { status => "Hello \@bob, see https://example.com/a/very/long/path/that/goes/on #Tag <b>&",
              visibility => 'public', language => 'en' })->status_is(200)->tx;
my $s = $tx->res->json;

# Mastodon sends "text" only with the source (delete); the table says nullable
is_deeply([status_errors($s)], [], 'Status entity') or diag explain [status_errors($s)];
like($s->{id}, qr/^\d+$/, 'id is a string of digits');
is($s->{account}{id}, $alice->{account_id}, 'author');
is($s->{visibility}, 'public', 'visibility');
is($s->{language}, 'en', 'language');
is($s->{favourited}, false, 'viewer flags present');
is($s->{pinned}, false, 'pinnable: pinned present');
is($s->{url}, "$base/\@alice/$s->{id}", 'url');
is($s->{uri}, "$base/users/alice/statuses/$s->{id}", 'uri');
like($s->{created_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'created_at ISO 8601');
like($s->{content}, qr{^<p>Hello <span class="h-card" translate="no"><a href="\Q$base\E/\@bob" class="u-url mention">\@<span>bob</span></a></span>},
     'mention as h-card');
like($s->{content}, qr{<a href="https://example.com/a/very/long/path/that/goes/on" target="_blank" rel="nofollow noopener" translate="no"><span class="invisible">https://</span><span class="ellipsis">},
     'link with invisible/ellipsis spans');
like($s->{content}, qr{<a href="\Q$base\E/tags/Tag" class="mention hashtag" rel="tag">#<span>Tag</span></a>}, 'hashtag');
like($s->{content}, qr{&lt;b&gt;&amp;</p>$}, 'escaped');
is_deeply($s->{mentions}, [{ id => $bob->{account_id}, username => 'bob', acct => 'bob', url => "$base/\@bob" }], 'mentions');
is_deeply($s->{tags}, [{ name => 'tag', url => "$base/tags/tag" }], 'tags: the normalized name, as Mastodon stores it');
is($t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $alice->{account_id}"), 1, 'statuses_count');
my ($job) = grep { $_->{status_id} eq $s->{id} } jobs('distribute');
ok($job, 'distribute job queued');
is_deeply([keys %$job], ['status_id'], 'job args: the id only');
my $payload = Mojo::JSON::decode_json($t->redis('GET', "mastodon:payload:status:$s->{id}"));
is($payload->{id}, $s->{id}, 'job payload (left in Redis) is the status');
ok(!exists $payload->{favourited}, 'payload without viewer flags');
is($payload->{account}{id}, $alice->{account_id}, 'payload has the account');

# cache entry
my $cached = $t->redis('GET', "mastodon:status:$s->{id}");
like($cached, qr/^$alice->{account_id} 0 0\n\{/, 'cached rendering with its header');

# --- show: anonymous, other user, cached --------------------------------------------
$m->get_ok("/api/v1/statuses/$s->{id}")->status_is(200)->json_is('/id', $s->{id})
  ->json_hasnt('/favourited');
$m->get_ok("/api/v1/statuses/$s->{id}", $hb)->status_is(200)->json_is('/favourited', false)
  ->json_hasnt('/pinned');
is_deeply($m->tx->res->json->{mentions}, $s->{mentions}, 'same from the cache');
$m->get_ok("/api/v1/statuses/999999")->status_is(404)->json_is('/error', 'Record not found');
$m->get_ok("/api/v1/statuses/abc")->status_is(404);

# --- validation ---------------------------------------------------------------------
$m->post_ok('/api/v1/statuses', $ha, form => { status => '   ' })->status_is(422)
  ->json_is('/error', "Validation failed: Text can't be blank");
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'x' x 501 })->status_is(422)
  ->json_is('/error', 'Validation failed: Text character limit of 500 exceeded');
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'x' x 500 })->status_is(200);
$m->post_ok('/api/v1/statuses', $ha, form => { status => join(' ', ('https://example.com/' . ('y' x 600)) x 2) })
  ->status_is(200, 'URLs count 23');
# twitter-text's MAX_URL_LENGTH: a URL of 4,096 characters counts 23, one of
# 4,097 is no URL and counts as written
my $url4096 = 'https://example.com/' . ('y' x (4096 - 20));
$m->post_ok('/api/v1/statuses', $ha, form => { status => $url4096 })
  ->status_is(200, 'a URL of 4,096 characters counts 23');
$m->post_ok('/api/v1/statuses', $ha, form => { status => $url4096 . 'y' })->status_is(422, 'a URL of 4,097 characters is text')
  ->json_is('/error', 'Validation failed: Text character limit of 500 exceeded');
# spoiler text and text are counted joined, in grapheme clusters
$m->post_ok('/api/v1/statuses', $ha,
    form => { spoiler_text => 'x' x 250, status => ("\x{1F468}\x{200D}\x{1F469}\x{200D}\x{1F467}" x 250) })
  ->status_is(200, 'ZWJ sequences count one character each');
$m->post_ok('/api/v1/statuses', $ha,
    form => { spoiler_text => 'x' x 250, status => ("\x{1F468}\x{200D}\x{1F469}\x{200D}\x{1F467}" x 251) })
  ->status_is(422, 'the spoiler text counts too');
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'a', visibility => 'everyone' })->status_is(422)
  ->json_is('/error', 'Validation failed: Visibility is not included in the list');
$m->post_ok('/api/v1/statuses', $ha, form => { status => 'a', in_reply_to_id => '12345' })->status_is(404)
  ->json_is('/error', 'The post you are trying to reply to does not appear to exist.');
$m->post_ok('/api/v1/statuses', form => { status => 'a' })->status_is(401);
$m->post_ok('/api/v1/statuses', $ha, json => { status => 'json body', spoiler_text => 'cw' })->status_is(200)
  ->json_is('/spoiler_text', 'cw')->json_is('/sensitive', true);

# --- Idempotency-Key -----------------------------------------------------------------
my $n0 = $t->psql("SELECT count(*) FROM statuses WHERE account_id = $alice->{account_id}");
my %idem = (%$ha, 'Idempotency-Key' => 'abc-123');
my $first = $m->post_ok('/api/v1/statuses', \%idem, form => { status => 'once' })->status_is(200)->tx->res->json;
my $again = $m->post_ok('/api/v1/statuses', \%idem, form => { status => 'once' })->status_is(200)->tx->res->json;
is($again->{id}, $first->{id}, 'a retried post answers with the first one');
is($t->psql("SELECT count(*) FROM statuses WHERE account_id = $alice->{account_id}"), $n0 + 1, 'posted once');
$m->post_ok('/api/v1/statuses', { %$hb, 'Idempotency-Key' => 'abc-123' }, form => { status => 'once' })
  ->status_is(200);
isnt($m->tx->res->json->{id}, $first->{id}, 'keys are per account');

# --- replies and context ----------------------------------------------------------------
my $r1 = $m->post_ok('/api/v1/statuses', $hb, form => { status => '@alice reply', in_reply_to_id => $s->{id} })
  ->status_is(200)->json_is('/in_reply_to_id', $s->{id})->json_is('/in_reply_to_account_id', $alice->{account_id})
  ->tx->res->json;
my $r2 = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'reply 2', in_reply_to_id => $r1->{id} })
  ->status_is(200)->tx->res->json;
$m->get_ok("/api/v1/statuses/$s->{id}")->json_is('/replies_count', 1, 'replies_count (cache dropped)');
$m->get_ok("/api/v1/statuses/$r1->{id}/context", $ha)->status_is(200)
  ->json_is('/ancestors/0/id', $s->{id})->json_is('/descendants/0/id', $r2->{id});
is_deeply([grep { !/\.text: missing/ } entity_errors($m->tx->res->json, 'Context')], [], 'Context entity');
$m->get_ok("/api/v1/statuses/$s->{id}/context")->status_is(200)
  ->json_is('/descendants/0/id', $r1->{id})->json_is('/descendants/1/id', $r2->{id});
is($t->psql("SELECT count(DISTINCT conversation_id) FROM statuses WHERE id IN ($s->{id}, $r1->{id}, $r2->{id})"), 1,
   'one conversation');

# --- visibility --------------------------------------------------------------------------
my $priv = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'followers only', visibility => 'private' })
  ->status_is(200)->tx->res->json;
my $dm = $m->post_ok('/api/v1/statuses', $ha, form => { status => '@bob secret', visibility => 'direct' })
  ->status_is(200)->tx->res->json;
my $carol = $t->user('carol');
my $hc = $t->bearer($carol->{token});
$m->get_ok("/api/v1/statuses/$priv->{id}", $hc)->status_is(404);
$m->get_ok("/api/v1/statuses/$priv->{id}")->status_is(404);
$m->get_ok("/api/v1/statuses/$dm->{id}", $hb)->status_is(200, 'mentioned sees direct');
$m->get_ok("/api/v1/statuses/$dm->{id}", $hc)->status_is(404);
$m->post_ok("/api/v1/accounts/$alice->{account_id}/follow", $hc)->status_is(200);
$m->get_ok("/api/v1/statuses/$priv->{id}", $hc)->status_is(200, 'follower sees private');
$m->get_ok("/api/v1/statuses?id[]=$s->{id}&id[]=$priv->{id}&id[]=$dm->{id}", $hb)->status_is(200);
is_deeply([map { $_->{id} } @{ $m->tx->res->json }], [$s->{id}, $dm->{id}], 'several: only the visible');

# --- edit, history, source ------------------------------------------------------------------
$m->put_ok("/api/v1/statuses/$s->{id}", $hb, form => { status => 'hijack' })->status_is(404, "someone else's: not found");
$m->put_ok("/api/v1/statuses/$s->{id}", $ha, form => { status => 'Edited #new', spoiler_text => '' })
  ->status_is(200)->json_like('/content', qr/Edited/)->json_like('/edited_at', qr/Z$/);
is_deeply([map { $_->{name} } @{ $m->tx->res->json->{tags} }], ['new'], 'tags follow the edit');
$m->get_ok("/api/v1/statuses/$s->{id}")->json_like('/content', qr/Edited/, 'no stale cache after edit');
$m->get_ok("/api/v1/statuses/$s->{id}/history")->status_is(200);
my $h = $m->tx->res->json;
is(scalar @$h, 2, 'two versions');
like($h->[0]{content}, qr/Hello/, 'the original first');
like($h->[1]{content}, qr/Edited/, 'then the edit');
is_deeply([entity_errors($h->[0], 'StatusEdit')], [], 'StatusEdit entity');
$m->get_ok("/api/v1/statuses/$r1->{id}/history")->status_is(200)->json_is('/0/content', $r1->{content});
$m->get_ok("/api/v1/statuses/$s->{id}/source", $ha)->status_is(200)
  ->json_is('/text', 'Edited #new')->json_is('/id', $s->{id});
is_deeply([entity_errors($m->tx->res->json, 'StatusSource')], [], 'StatusSource entity');
ok((grep { $_->{status_id} eq $s->{id} } jobs('status_update')), 'status_update job');

# --- delete ---------------------------------------------------------------------------------
$m->delete_ok("/api/v1/statuses/$r2->{id}", $hb)->status_is(404, "someone else's: not found");
$m->delete_ok("/api/v1/statuses/$r2->{id}", $ha)->status_is(200)->json_is('/id', $r2->{id})
  ->json_is('/text', 'reply 2');
$m->get_ok("/api/v1/statuses/$r2->{id}", $ha)->status_is(404);
$m->delete_ok("/api/v1/statuses/$r2->{id}", $ha)->status_is(404);
$m->get_ok("/api/v1/statuses/$r1->{id}")->json_is('/replies_count', 0, 'replies_count back');
ok((grep { $_->{status_id} eq $r2->{id} } jobs('remove_status')), 'remove_status job');
is($t->redis('EXISTS', "mastodon:status:$r2->{id}"), 0, 'cache entry gone');

# --- what the review found --------------------------------------------------------------
# an edit that changes nothing records nothing (NoChangesSubmittedError)
my $same = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'unchanged' })->status_is(200)->tx->res->json;
$m->put_ok("/api/v1/statuses/$same->{id}", $ha, form => { status => 'unchanged' })->status_is(200)
  ->json_is('/edited_at', undef);
is($t->psql("SELECT count(*) FROM status_edits WHERE status_id = $same->{id}"), 0, 'no history for no change');

# a content warning alone becomes the text
$m->post_ok('/api/v1/statuses', $ha, form => { status => '', spoiler_text => 'only a warning' })->status_is(200)
  ->json_like('/content', qr/only a warning/)->json_is('/spoiler_text', '');

# the posting defaults of update_credentials' source[]
$m->patch_ok('/api/v1/accounts/update_credentials', $hb,
    form => { 'source[privacy]' => 'private', 'source[sensitive]' => 'true', 'source[language]' => 'de' })
  ->status_is(200);
$m->post_ok('/api/v1/statuses', $hb, form => { status => 'with my defaults' })->status_is(200)
  ->json_is('/visibility', 'private')->json_is('/sensitive', true)->json_is('/language', 'de');
$m->post_ok('/api/v1/statuses', $hb, form => { status => 'explicit', visibility => 'public', language => 'fr' })
  ->status_is(200)->json_is('/visibility', 'public')->json_is('/language', 'fr');

# an edit that drops a mention keeps the mentioned one's access (silent mention)
my $dm2 = $m->post_ok('/api/v1/statuses', $ha, form => { status => '@carol just us', visibility => 'direct' })
  ->status_is(200)->tx->res->json;
$m->put_ok("/api/v1/statuses/$dm2->{id}", $ha, form => { status => 'just us' })->status_is(200)
  ->json_is('/mentions', []);
$m->get_ok("/api/v1/statuses/$dm2->{id}", $hc)->status_is(200, 'still visible to the silently mentioned');

# counters as Mastodon: direct statuses are not counted, nor non-public replies
my $count = $t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $alice->{account_id}");
$m->post_ok('/api/v1/statuses', $ha, form => { status => '@carol dm', visibility => 'direct' })->status_is(200);
is($t->psql("SELECT statuses_count FROM account_stats WHERE account_id = $alice->{account_id}"), $count,
   'a direct status does not count');
my $top = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'top' })->status_is(200)->tx->res->json;
$m->post_ok('/api/v1/statuses', $hb, form => { status => 'private reply', in_reply_to_id => $top->{id},
    visibility => 'private' })->status_is(200);
$m->get_ok("/api/v1/statuses/$top->{id}")->json_is('/replies_count', 0, 'a private reply is not counted');

# deleting a reply with several reblogs still refreshes the parent's counter
my $kid = $m->post_ok('/api/v1/statuses', $hb, form => { status => 'public reply', in_reply_to_id => $top->{id},
    visibility => 'public' })->status_is(200)->tx->res->json;
$m->get_ok("/api/v1/statuses/$top->{id}")->json_is('/replies_count', 1);
for my $u ($alice, $carol, $t->user('dora'), $t->user('emil')) {
    $m->post_ok("/api/v1/statuses/$kid->{id}/reblog", $t->bearer($u->{token}))->status_is(200);
}
$m->delete_ok("/api/v1/statuses/$kid->{id}", $hb)->status_is(200);
$m->get_ok("/api/v1/statuses/$top->{id}")->json_is('/replies_count', 0, 'parent refreshed after the delete');

# with mastodon_https on (production): the stored URI is exactly the base URL's
ok($t->reconfigure_nginx(http_config => 'mastodon_https on;'), 'https on');
my $port = $t->port;
my $https;
ok($t->wait_for(sub {
    $https = $m->post_ok('/api/v1/statuses', $ha, form => { status => 'over https' })->tx->res->json;
    $https && ($https->{uri} // '') =~ m{^https://};
}), 'reloaded');
is($https->{uri}, "https://localhost:$port/users/alice/statuses/$https->{id}", 'uri');
is($t->psql("SELECT uri FROM statuses WHERE id = $https->{id}"), $https->{uri}, 'stored as rendered');
$t->reconfigure_nginx(http_config => '');

$t->done;
