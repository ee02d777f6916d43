package DocServer;
# A remote server for the worker's inbox tests on 127.0.0.1: it serves the
# documents written with serve() (one file per path), a "redirect URL" file
# as a 302, and WebFinger for the actors it serves (their acct links back, as
# new remote accounts are confirmed); anything else is 404.  The worker is
# let to fetch from it by federation_allow_http and the address allowlist.
# requests() lists the paths asked for, in order.
#
#   my $srv = DocServer->new($t->dir . '/docs');
#   $srv->serve('/users/bob', $srv->actor('bob'));
use strict;
use warnings;
use IO::Socket::INET;
use POSIX ();
use Mojo::JSON qw(encode_json false true);

# a key that parses as PEM but verifies nothing (documents only)
our $PEM = "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n";

sub new {
    my ($class, $docs) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp',
                                       Listen => 16, ReuseAddr => 1) or die "listen: $!";
    my $port = $listen->sockport;
    my $R = "http://127.0.0.1:$port";
    mkdir $docs or die "mkdir $docs: $!";

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP ALRM);
        while (my $c = $listen->accept) {
            my $req = <$c> // '';
            while (defined(my $h = <$c>)) { last if $h =~ /^\r?\n\z/ }
            my ($path) = $req =~ m{^GET (\S+)};
            if (open my $log, '>>', "$docs/.requests") { print $log ($path // '-'), "\n"; close $log }
            (my $file = $path // '') =~ s{[^A-Za-z0-9._-]}{_}g;
            if (!-f "$docs/$file" && ($path // '') =~ m{^/\.well-known/webfinger\?resource=acct%3A([A-Za-z0-9_]+)%40127\.0\.0\.1%3A$port\z}
                && -f "$docs/_users_$1") {
                my $body = encode_json({ subject => "acct:$1\@127.0.0.1:$port",
                    links => [{ rel => 'self', type => 'application/activity+json', href => "$R/users/$1" }] });
                print $c "HTTP/1.1 200 OK\r\nContent-Type: application/jrd+json\r\n"
                    . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
            } elsif (open my $fh, '<', "$docs/$file") {
                local $/;
                my $body = <$fh>;
                if ($body =~ /\Aredirect (\S+)/) {
                    print $c "HTTP/1.1 302 Found\r\nLocation: $1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
                } else {
                    print $c "HTTP/1.1 200 OK\r\nContent-Type: application/activity+json\r\n"
                        . "Content-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
                }
            } else {
                print $c "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            }
            close $c;
        }
        POSIX::_exit(0);
    }
    close $listen;
    return bless { pid => $pid, owner => $$, port => $port, url => $R, docs => $docs }, $class;
}

sub port { $_[0]{port} }

# the paths asked for so far
sub requests {
    my ($self) = @_;
    open my $fh, '<', "$self->{docs}/.requests" or return ();
    chomp(my @paths = <$fh>);
    return @paths;
}
sub url  { $_[0]{url} }

# serve($path, $doc): $doc (a reference: as JSON; else the text) at $path
sub serve {
    my ($self, $path, $doc) = @_;
    (my $file = $path) =~ s{[^A-Za-z0-9._-]}{_}g;
    open my $fh, '>', "$self->{docs}/$file" or die "write: $!";
    print $fh ref $doc ? encode_json($doc) : $doc;
    close $fh;
}

# actor($name, %fields): a Person here, with hostile HTML to be sanitized
sub actor {
    my ($self, $name, %o) = @_;
    my $R = $self->{url};
    my $uri = "$R/users/$name";
    return {
        '@context' => ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1'],
        id => $uri, type => 'Person', preferredUsername => $name, name => "\u$name",
        summary => '<p>hi <script>alert(1)</script><a href="javascript:x">x</a></p>',
        url => "$R/\@$name", inbox => "$uri/inbox", outbox => "$uri/outbox",
        followers => "$uri/followers", following => "$uri/following",
        endpoints => { sharedInbox => "$R/inbox" },
        manuallyApprovesFollowers => false, discoverable => true,
        publicKey => { id => "$uri#main-key", owner => $uri, publicKeyPem => $PEM },
        icon => { type => 'Image', mediaType => 'image/png', url => "$R/media/$name.png" },
        image => { type => 'Image', url => "$R/media/$name-header.png" },
        attachment => [{ type => 'PropertyValue', name => 'site',
                         value => '<a href="https://x.example">x</a><img src=x>' }],
        %o,
    };
}

sub DESTROY {
    my ($self) = @_;
    return unless $self->{pid} && $self->{owner} == $$;
    local $?;
    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
}

1;
