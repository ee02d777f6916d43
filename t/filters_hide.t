# Filters with filter_action hide, applied by the server: a status matching
# an active hide filter of the viewer is left out of the lists of the
# filter's contexts (home and list timelines: home; public and tag
# timelines: public; a context's ancestors and descendants: thread; an
# account's statuses: account; notifications), and stays in the others
# with its FilterResults; warn filters hide nothing; an expired filter
# hides nothing; the status itself is still shown by id.

use strict;
use warnings;

use Test::More;
use Mojo::JSON qw(true false);
use MastodonTest;

my $t = MastodonTest->new;
my $ua = $t->ua;

my %u = map { $_ => $t->user($_) } qw(alice bob);
sub h { $t->bearer($u{ $_[0] }{token}) }
my %id = map { $_ => $t->psql("SELECT id FROM accounts WHERE username = '$_' AND domain IS NULL") } keys %u;

sub post { $ua->post('/api/v1/statuses' => h($_[0]) => json => $_[1])->res->json }
sub ids { my ($who, $path) = @_; [ map { $_->{id} } @{ $ua->get($path => h($who))->res->json } ] }
sub has { my ($list, $id) = @_; scalar grep { $_ eq $id } @$list }

$ua->post("/api/v1/accounts/$id{bob}/follow" => h('alice'));
$ua->get('/api/v1/timelines/home' => h('alice'));
my $list = $ua->post('/api/v1/lists' => h('alice') => form => { title => 'bob' })->res->json;
$ua->post("/api/v1/lists/$list->{id}/accounts" => h('alice') => form => { 'account_ids[]' => $id{bob} });
$ua->get("/api/v1/timelines/list/$list->{id}" => h('alice'));

# alice hides "spoiler" at home, in public and in threads; warns about "plot" everywhere
my $res = $ua->post('/api/v2/filters' => h('alice') => json => {
    title => 'No spoilers', context => [qw(home public thread)], filter_action => 'hide',
    keywords_attributes => [{ keyword => 'spoiler' }] })->res;
is($res->code, 200, 'a hide filter');
my $hide = $res->json;
$ua->post('/api/v2/filters' => h('alice') => json => {
    title => 'Plot', context => [qw(home public thread account notifications)], filter_action => 'warn',
    keywords_attributes => [{ keyword => 'plot' }] });
$ua->post('/api/v2/filters' => h('alice') => json => {
    title => 'Mentions', context => [qw(notifications account)], filter_action => 'hide',
    keywords_attributes => [{ keyword => 'secret' }] });

my $root    = post('bob', { status => 'a thread' });
my $spoiler = post('bob', { status => 'the spoiler is #movies', in_reply_to_id => $root->{id} });
my $plot    = post('bob', { status => 'the plot of #movies', in_reply_to_id => $root->{id} });
my $secret  = post('bob', { status => '@alice a secret' });
my $plain   = post('bob', { status => 'nothing here #movies' });
ok($t->wait_for(sub { has(ids('alice', '/api/v1/timelines/home'), $plain->{id})
                      && has(ids('alice', "/api/v1/timelines/list/$list->{id}"), $plain->{id}) }),
   'distributed');

my %where = (
    home    => '/api/v1/timelines/home',
    list    => "/api/v1/timelines/list/$list->{id}",
    public  => '/api/v1/timelines/public',
    tag     => '/api/v1/timelines/tag/movies',
    account => "/api/v1/accounts/$id{bob}/statuses",
);
for my $name (qw(home list public tag)) {
    my $l = ids('alice', $where{$name});
    ok(!has($l, $spoiler->{id}), "$name: the hidden status left out");
    ok(has($l, $plot->{id}), "$name: a warned one stays");
    ok(has($l, $plain->{id}), "$name: the rest stays");
}
my $acc = ids('alice', $where{account});
ok(has($acc, $spoiler->{id}), 'account: not a context of the filter, shown');
ok(!has($acc, $secret->{id}), 'account: hidden by the filter whose context it is');
ok(has(ids('bob', $where{public}), $spoiler->{id}), "another viewer's timelines keep it");
ok(has(ids('alice', '/api/v1/timelines/public?limit=40&local=true'), $plot->{id}), 'a warned one in local');

my ($w) = grep { $_->{id} eq $plot->{id} } @{ $ua->get('/api/v1/timelines/public' => h('alice'))->res->json };
is($w->{filtered}[0]{filter}{filter_action}, 'warn', 'a warned status carries its FilterResult');
# the fanned-out feeds too, read twice (the second from the render cache)
for my $name (qw(home list)) {
    for my $pass (1, 2) {
        my ($fw) = grep { $_->{id} eq $plot->{id} } @{ $ua->get($where{$name} => h('alice'))->res->json };
        is($fw->{filtered}[0]{filter}{title}, 'Plot', "$name, read $pass: the warned status carries its FilterResult");
    }
}
my ($bw) = grep { $_->{id} eq $plot->{id} } @{ $ua->get($where{public} => h('bob'))->res->json };
is_deeply($bw->{filtered}, [], "... and another viewer's reading has none");

# thread
my $cx = $ua->get("/api/v1/statuses/$root->{id}/context" => h('alice'))->res->json;
is_deeply([ map { $_->{id} } @{ $cx->{descendants} } ], [ $plot->{id} ], 'thread: the hidden reply left out');
$res = $ua->get("/api/v1/statuses/$spoiler->{id}" => h('alice'))->res;
is($res->code, 200, 'the status itself is still shown by id');
is($res->json->{filtered}[0]{filter}{filter_action}, 'hide', 'with its FilterResult');

# notifications
ok($t->wait_for(sub { $t->psql("SELECT count(*) FROM notifications WHERE account_id = $id{alice}"
                               . " AND type = 'mention'") == 1 }), 'the mention notified');
my $n = $ua->get('/api/v1/notifications' => h('alice'))->res->json;
ok(!grep({ ($_->{status}{id} // '') eq $secret->{id} } @$n), 'notifications: the hidden status\'s notification left out');
my $g = $ua->get('/api/v2/notifications' => h('alice'))->res->json;
ok(!grep({ $_->{id} eq $secret->{id} } @{ $g->{statuses} }), 'nor in the grouped ones');

# an expired filter hides nothing
$t->psql("UPDATE custom_filters SET expires_at = now() AT TIME ZONE 'UTC' - interval '1 minute'"
    . " WHERE id = $hide->{id}");
ok(has(ids('alice', $where{home}), $spoiler->{id}), 'expired: shown again at home');
ok(has(ids('alice', $where{public}), $spoiler->{id}), 'and in public');

$t->done;
