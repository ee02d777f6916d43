package InboxRecorder;
# A remote server's inboxes for federation tests: a Mojolicious daemon on
# loopback, forked, that answers every POST 202 and records its path, body
# and Signature header, one JSON line each, in a file of the test's directory.
use strict;
use warnings;
use Mojolicious;
use Mojo::IOLoop::Server;
use Mojo::Server::Daemon;
use Mojo::JSON qw(decode_json encode_json);
use Mojo::File qw(path);
use IO::Socket::INET;
use POSIX ();
use Test::More ();

sub new {
    my ($class, $t) = @_;
    my $port = Mojo::IOLoop::Server->generate_port;
    my $log = $t->dir . '/inbox.log';
    path($log)->spurt('');

    my $app = Mojolicious->new;
    $app->log->level('fatal');
    $app->routes->post('/*where' => sub {
        my $c = shift;
        open my $fh, '>>', $log or die;
        print $fh encode_json({ where => $c->param('where'), body => $c->req->body,
                                signature => $c->req->headers->header('Signature') }) . "\n";
        close $fh;
        $c->render(status => 202, text => '');
    });
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        Mojo::Server::Daemon->new(app => $app, listen => ["http://127.0.0.1:$port"], silent => 1)->run;
        POSIX::_exit(0);
    }
    my $self = bless { t => $t, log => $log, pid => $pid, url => "http://127.0.0.1:$port" }, $class;
    Test::More::ok($t->wait_for(sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") }, 20),
                   'the recorder listens');
    return $self;
}

# "http://127.0.0.1:PORT", the inboxes' origin
sub url { $_[0]{url} }

# every POST so far: { where, body, signature, json }
sub records {
    my ($self) = @_;
    return [ map { my $r = decode_json($_); $r->{json} = decode_json($r->{body}); $r }
             grep { length } split /\n/, path($self->{log})->slurp ];
}

# account($name, $domain[, $shared]) -> id: a remote account of $domain
# (https://$domain/users/$name) whose inbox is here, /$name/inbox, with the
# shared inbox $shared (a URL; default none) and its account_stats row
sub account {
    my ($self, $name, $domain, $shared) = @_;
    my $t = $self->{t};
    $shared //= '';
    my $id = $t->psql(qq{INSERT INTO accounts (username, domain, uri, url, inbox_url, shared_inbox_url, protocol)
        VALUES ('$name', '$domain', 'https://$domain/users/$name', 'https://$domain/\@$name',
                '$self->{url}/$name/inbox', '$shared', 1) RETURNING id});
    $t->psql("INSERT INTO account_stats (account_id) VALUES ($id)");
    return $id;
}

# the first activity of a type, waited for (30 s at most); undef if none
sub first_of {
    my ($self, $type) = @_;
    my @r;
    $self->{t}->wait_for(sub { @r = grep { $_->{json}{type} eq $type } @{ $self->records }; @r >= 1 }, 30);
    return $r[0] ? $r[0]{json} : undef;
}

sub reset { path($_[0]{log})->spurt('') }

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = 0;
}

sub DESTROY { $_[0]->stop }

1;
