# Remote media cached in S3-compatible object storage (issues 9 and 11):
# with s3_enabled a remote attachment's copy and a remote account's avatar
# go to the bucket under cache/ (media_storage.h, the same keys as on the
# file system), the entities point there (mastodon_media_base_url), and
# `media remove` deletes the objects again.  The remote server is a
# DocServer on 127.0.0.1, the bucket s3rver (t/media_s3.t).

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use Mojo::UserAgent;
use Mojo::File qw(path);
use MastodonTest;
use DocServer;

my $t = MastodonTest->new(worker => 0, s3 => 'media', main_config => 'worker_processes 1;');
my $m = $t->mojo;
my $dir = $t->dir;
my $bucket = $t->s3_bucket_url;
ok $t->reconfigure_nginx(http_config => "mastodon_media_base_url $bucket/;"),
    'mastodon_media_base_url: the bucket';
my %s3 = $t->s3_env;
$t->start_worker(%s3, MASTODON_MEDIA_ROOT => "$dir/system", MASTODON_FEDERATION_ALLOW_HTTP => 1,
                 MASTODON_FEDERATION_ALLOWED_ADDRESSES => '127.0.0.1');
my $ua = Mojo::UserAgent->new(max_redirects => 0);
my $srv = DocServer->new("$dir/docs");
my $R = $srv->url;

system('vips', 'gaussnoise', "$dir/photo.jpg", 64, 48) == 0 or die 'vips failed';
system('vips', 'gaussnoise', "$dir/face.png", 500, 500) == 0 or die 'vips failed';
$srv->serve('/media/photo.jpg', path("$dir/photo.jpg")->slurp);
$srv->serve('/media/face.png', path("$dir/face.png")->slurp);

my $alice = $t->user('alice');
my $A = $t->bearer($alice->{token});
(my $domain = $R) =~ s{^http://}{};
my $bob = $t->psql(qq{INSERT INTO accounts (username, domain, uri, url, inbox_url, avatar_remote_url, protocol)
    VALUES ('bob', '$domain', '$R/users/bob', '$R/\@bob', '$R/users/bob/inbox', '$R/media/face.png', 1)
    RETURNING id});
$t->psql("INSERT INTO account_stats (account_id) VALUES ($bob)");
my $sid = $t->psql(qq{INSERT INTO statuses (uri, url, text, account_id, local, visibility)
    VALUES ('$R/users/bob/statuses/1', '$R/\@bob/1', '<p>hi</p>', $bob, false, 0) RETURNING id});
my $mid = $t->psql(qq{INSERT INTO media_attachments (status_id, account_id, remote_url, type)
    VALUES ($sid, $bob, '$R/media/photo.jpg', 0) RETURNING id});
$t->psql(qq{INSERT INTO job_outbox (queue, type, args) VALUES
    ('media', 'media_fetch', '{"id":"$mid"}'),
    ('media', 'account_image_fetch', '{"account_id":"$bob","attribute":"avatar"}')});

my $e;
ok $t->wait_for(sub { $e = $m->ua->get("/api/v1/statuses/$sid" => $A)->res->json;
                      $e && $e->{media_attachments}[0]{url} =~ /^\Q$bucket\E/ }, 60),
    'the remote attachment is cached in the bucket' or diag explain $e;
my $att = $e->{media_attachments}[0];
like $att->{url}, qr{^\Q$bucket\E/cache/media_attachments/files/\d{3}(?:/\d{3}){2,}/original/[0-9a-f]{16}\.jpeg$},
    'url: under cache/ in the bucket';
is $att->{remote_url}, "$R/media/photo.jpg", 'remote_url';
my $tx = $ua->get($att->{url});
is $tx->res->code, 200, 'the object is there';
is $tx->res->headers->content_type, 'image/jpeg', 'with its Content-Type';
is $ua->get($att->{preview_url})->res->code, 200, 'and its preview';
like $e->{account}{avatar}, qr{^\Q$bucket\E/cache/accounts/avatars/.*/original/[0-9a-f]{16}\.png$},
    "bob's avatar: our copy in the bucket";
is $ua->get($e->{account}{avatar})->res->code, 200, 'the avatar object is there';
ok !-e "$dir/system", 'nothing under media_root';

$t->psql("UPDATE media_attachments SET created_at = created_at - interval '8 days' WHERE id = $mid");
my ($rc, $out, $err) = do { local @ENV{keys %s3} = values %s3; $t->worker_cli('media', 'remove') };
is $rc, 0, 'media remove' or diag $err;
like $out, qr/^Removed 1 media attachments/m, 'the cached copy';
ok $t->wait_for(sub { $ua->head($att->{url})->res->code == 404 }, 30), 'its object is deleted from the bucket';

done_testing;
