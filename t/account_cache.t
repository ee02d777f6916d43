# mastodon_account_cache: a worker keeps the accounts it rendered for status
# pages, so a page of cached statuses needs neither the accounts statement
# nor the rendering; an account change shows in statuses once the entry
# expires (and at once in the account endpoints).

use strict;
use warnings;

use Test::More;
use MastodonTest;

my $t = MastodonTest->new(worker => 0, http_config => 'mastodon_account_cache 2s;',
                          main_config => 'worker_processes 1;');
my $m = $t->mojo;

my $alice = $t->user('alice');
my $bob = $t->user('bob');
my $ha = $t->bearer($alice->{token});
my $hb = $t->bearer($bob->{token});

my @ids = map { $m->post_ok('/api/v1/statuses', $ha, form => { status => "post $_" })->status_is(200)
                  ->tx->res->json->{id} } 1 .. 3;
my $q = join '&', map { "id[]=$_" } @ids;

my $first = $m->get_ok("/api/v1/statuses?$q", $hb)->status_is(200)->tx->res->json;
is(scalar @$first, 3, 'three statuses');
my $second = $m->get_ok("/api/v1/statuses?$q", $hb)->status_is(200)->tx->res->json;
is_deeply($second, $first, 'the same answer from the caches');

$m->patch_ok('/api/v1/accounts/update_credentials', $ha, form => { display_name => 'Alice Renamed' })
  ->status_is(200)->json_is('/display_name', 'Alice Renamed');
$m->get_ok("/api/v1/accounts/$alice->{account_id}")->json_is('/display_name', 'Alice Renamed',
    'the account endpoint at once');
my $soon = $m->get_ok("/api/v1/statuses?$q", $hb)->status_is(200)->tx->res->json;
is($soon->[0]{account}{display_name}, '', 'statuses: the cached account until it expires');
ok($t->wait_for(sub {
    $m->get_ok("/api/v1/statuses?$q", $hb)->tx->res->json->[0]{account}{display_name} eq 'Alice Renamed'
}, 5), 'then the new one');

# visibility is never cached: a block takes effect at once
$m->post_ok("/api/v1/accounts/$bob->{account_id}/block", $ha)->status_is(200);
is(scalar @{ $m->get_ok("/api/v1/statuses?$q", $hb)->status_is(200)->tx->res->json }, 0,
   'blocked by the author: nothing, at once');

$t->done;
