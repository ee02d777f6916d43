package FakePeer;

# A scripted ActivityPub server for the federation tests (t/lib/Federation.pm
# starts it at https://peer.test inside the test namespace).  It covers what
# two copies of our own server cannot: it signs exactly what a test asks for,
# broken in any chosen way, and records everything it is sent.
#
#   my $peer = $bed->peer;
#   my $m = $peer->actor('mallory');                 # its own RSA key, actor + WebFinger served
#   my $res = $peer->post('https://one.test/inbox', $activity, actor => 'mallory',
#                         date_offset => -13 * 3600); # knobs below
#   $peer->serve('/notes/1', { type => 'Note', ... });   # any document at any path
#   my @got = $peer->received(method => 'POST');      # what instances sent it
#   my $v = $peer->verify($got[0], $public_pem);      # { ok, error, key_id, scheme }
#
# The server is a child process (Mojo::Server::Daemon over TLS, the bed's
# certificate); the test and the server share state through files in its
# directory only: objects/ (what GETs answer), received/ (one JSON file per
# request, in arrival order), config.json (how POSTs are answered).
# Signing and verifying use the openssl command line (RSA-SHA256, PKCS#1 v1.5).

use strict;
use warnings;

use Digest::SHA qw(sha1_hex sha256);
use File::Path qw(make_path);
use File::Temp ();
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 decode_base64);
use Mojo::Date;
use Mojo::JSON qw(encode_json decode_json);
use Mojo::URL;
use Mojo::UserAgent;
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(sleep time);

my $AP_CONTEXT = [
    'https://www.w3.org/ns/activitystreams',
    'https://w3id.org/security/v1',
    {
        manuallyApprovesFollowers => 'as:manuallyApprovesFollowers',
        toot                      => 'http://joinmastodon.org/ns#',
        discoverable              => 'toot:discoverable',
        indexable                 => 'toot:indexable',
    },
];

sub new {
    my ($class, %o) = @_;
    my $self = bless {
        host => 'peer.test',
        addr => '127.0.0.4',
        port => 443,
        %o,
        actors => {},
        seq    => 0,
    }, $class;
    defined $self->{$_} or die "FakePeer: $_ is required\n" for qw(dir cert key ca);
    make_path(map { "$self->{dir}/$_" } qw(objects received keys));
    $self->configure(inbox_status => 202);
    return $self;
}

sub host   { $_[0]{host} }
sub base   { 'https://' . $_[0]{host} }
sub dir    { $_[0]{dir} }
sub pid    { $_[0]{pid} }

# --- the server ----------------------------------------------------------------------

# start: fork the server; returns once it accepts connections.
sub start {
    my ($self) = @_;
    return $self->{pid} if $self->{pid};
    my $pid = fork // die "FakePeer: fork: $!\n";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP ALRM);
        alarm 0;
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', "$self->{dir}/server.log";
        open STDERR, '>&', \*STDOUT;
        eval { $self->_serve };
        print STDERR "FakePeer: $@" if $@;
        POSIX::_exit(1);
    }
    $self->{pid} = $pid;
    my $end = time + 20;
    while (time < $end) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            die "FakePeer: the server exited:\n" . _slurp("$self->{dir}/server.log");
        }
        my $s = IO::Socket::INET->new(PeerAddr => $self->{addr}, PeerPort => $self->{port}, Proto => 'tcp');
        if ($s) { close $s; return $pid }
        sleep 0.02;
    }
    die "FakePeer: the server does not accept on $self->{addr}:$self->{port}\n";
}

# stop: the server goes away (a peer that is down); start brings it back.
sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return 1;
    kill 'TERM', $pid;
    my $end = time + 10;
    while (time < $end) {
        return 1 if waitpid($pid, WNOHANG) == $pid;
        sleep 0.02;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 1;
}

# configure(inbox_status => 202, refuse_cavage => 0, inbox_delay => 0,
# authorized_fetch => undef): how requests are answered from now on
# (refuse_cavage: 401 to POSTs that carry no RFC 9421 signature; inbox_delay:
# seconds before answering a POST, recorded at once; authorized_fetch =>
# { KEY_ID => PEM, ... }: every GET but WebFinger needs a signature of one of
# those keys over (request-target) host date (or RFC 9421 @method
# @target-uri) with a Date within an hour, else 401; the check's outcome is
# recorded as the request's `signature`).
sub configure {
    my ($self, %o) = @_;
    my $f = "$self->{dir}/config.json";
    my $cfg = -f $f ? decode_json(_slurp($f)) : {};
    %$cfg = (%$cfg, %o);
    _spew_atomic($f, encode_json($cfg));
    return $cfg;
}

sub _serve {
    my ($self) = @_;
    require Mojolicious;
    require Mojo::Server::Daemon;
    require Mojo::IOLoop;
    my $app = Mojolicious->new;
    $app->log->level('fatal');
    $app->max_request_size(64 * 1024 * 1024);
    my $n = 0;
    $app->routes->any('/*any' => { any => '' } => sub {
        my $c = shift;
        my $req = $c->req;
        my $url = $req->url;
        my $rec = {
            n       => ++$n,
            time    => time,
            method  => $req->method,
            path    => $url->path->to_string,
            query   => $url->query->to_string,
            headers => $req->headers->to_hash(1),
            body    => encode_base64($req->body, ''),
        };
        my $cfg = eval { decode_json(_slurp("$self->{dir}/config.json")) } // {};
        # authorized fetch (Mastodon's secure mode): a GET other than
        # WebFinger needs a valid signature of a key the test named
        my $refuse;
        if ($req->method eq 'GET' && $cfg->{authorized_fetch} && $rec->{path} ne '/.well-known/webfinger') {
            my $v = $self->_verify_get($rec, $cfg->{authorized_fetch});
            $rec->{signature} = $v;
            $refuse = !$v->{ok};
        }
        _spew_atomic(sprintf('%s/received/%.6f-%06d.json', $self->{dir}, time, $n), encode_json($rec));
        return $c->render(status => 401, json => { error => 'Request not signed' }) if $refuse;
        if ($req->method eq 'POST') {
            if ($cfg->{refuse_cavage} && !defined $req->headers->header('Signature-Input')) {
                return $c->render(status => 401, json => { error => 'Verification failed' });
            }
            my $status = $cfg->{inbox_status} // 202;
            if (my $delay = $cfg->{inbox_delay}) {
                $c->render_later;
                $c->inactivity_timeout($delay + 30);
                return Mojo::IOLoop->timer($delay => sub { $c->render(status => $status, text => '') });
            }
            return $c->render(status => $status, text => '');
        }
        my $doc = $self->_lookup($rec->{path}, $url->query);
        return $c->render(status => 404, json => { error => 'Not Found' }) unless $doc;
        $c->res->headers->header($_ => $doc->{headers}{$_}) for keys %{ $doc->{headers} // {} };
        $c->res->headers->content_type($doc->{content_type} // 'application/activity+json; charset=utf-8');
        return $c->render(status => $doc->{status} // 200, data => $doc->{body} // '');
    });
    my $listen = Mojo::URL->new("https://$self->{addr}:$self->{port}");
    $listen->query(cert => $self->{cert}, key => $self->{key});
    Mojo::Server::Daemon->new(app => $app, listen => [$listen->to_string], silent => 1)->run;
    POSIX::_exit(0);
}

# what a GET answers: WebFinger from the resource, else the stored document
sub _lookup {
    my ($self, $path, $query) = @_;
    if ($path eq '/.well-known/webfinger') {
        my $res = $query->param('resource') // '';
        $path = "/.well-known/webfinger?resource=$res";
    }
    my $f = "$self->{dir}/objects/" . sha1_hex($path) . '.json';
    return -f $f ? decode_json(_slurp($f)) : undef;
}

# the check of a GET in authorized fetch mode: { ok, error, key_id, scheme }
sub _verify_get {
    my ($self, $rec, $keys) = @_;
    my $r = { %$rec, body => '' };
    my $v = $self->verify($r, sub { $keys->{ $_[0] // '' } });
    return $v unless $v->{ok};
    my $h = _headers_lc($r);
    if ($v->{scheme} eq 'cavage') {
        my ($signed) = ($h->{signature}[0] // '') =~ /headers="([^"]*)"/;
        my %has = map { $_ => 1 } split ' ', $signed // '';
        $has{$_} or return { %$v, ok => 0, error => "$_ not signed" } for '(request-target)', 'host', 'date';
        my $date = $h->{date}[0] // '';
        my $t = eval { Mojo::Date->new($date)->epoch };
        return { %$v, ok => 0, error => "Date $date out of the window" } unless $t && abs(time - $t) < 3600;
    }
    return $v;
}

# --- documents ---------------------------------------------------------------------

# serve($path, $doc_or_text, status => 200, content_type => ..., headers => {})
# Answer GETs of https://peer.test$path with it (a hash or array is JSON).
# The WebFinger resource is matched on its own: serve("/.well-known/webfinger?resource=acct:x@peer.test", ...).
sub serve {
    my ($self, $path, $doc, %o) = @_;
    $path = Mojo::URL->new($path)->path_query if $path =~ m{^https?://};
    my $body = ref $doc ? encode_json($doc) : $doc;
    _spew_atomic("$self->{dir}/objects/" . sha1_hex($path) . '.json',
        encode_json({ status => $o{status} // 200, content_type => $o{content_type},
                      headers => $o{headers} // {}, body => $body }));
    return $self->url($path);
}

sub unserve {
    my ($self, $path) = @_;
    $path = Mojo::URL->new($path)->path_query if $path =~ m{^https?://};
    unlink "$self->{dir}/objects/" . sha1_hex($path) . '.json';
}

sub url { $_[0]->base . $_[1] }

# A fresh id on the peer (activities, notes).
sub new_id {
    my ($self, $kind) = @_;
    return sprintf('%s/%s/%d%04d', $self->base, $kind // 'activities', int(time * 1000), ++$self->{seq});
}

# actor($name, %o) -> { name, id, key_id, inbox, shared_inbox, outbox, followers,
# following, key (private key file), public_pem, doc }: an actor with its own
# RSA key, its document at https://peer.test/users/$name and its WebFinger.
# %o: type, locked, display_name, summary, inbox, shared_inbox (undef: none,
# deliveries then go to the actor's own inbox), key_id (the
# publicKey id, e.g. on another host), public_pem (publish another key),
# extra => {...} merged into the document, key_of => 'other' (reuse a key).
# Calling it again with options rewrites the documents.
sub actor {
    my ($self, $name, %o) = @_;
    my $a = $self->{actors}{$name};
    return $a if $a && !%o;
    my $id = $self->base . "/users/$name";
    my $key = $o{key_of} ? $self->actor($o{key_of})->{key} : "$self->{dir}/keys/$name.key";
    if (!-f $key) {
        _run('openssl', 'genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', $key);
    }
    (my $pub = $key) =~ s/\.key\z/.pub/;
    _run('openssl', 'pkey', '-in', $key, '-pubout', '-out', $pub) unless -f $pub;
    $a = {
        name         => $name,
        id           => $id,
        key_id       => $o{key_id} // "$id#main-key",
        inbox        => $o{inbox} // "$id/inbox",
        shared_inbox => exists $o{shared_inbox} ? $o{shared_inbox} : $self->base . '/inbox',
        outbox       => "$id/outbox",
        followers    => "$id/followers",
        following    => "$id/following",
        key          => $key,
        public_pem   => $o{public_pem} // _slurp($pub),
    };
    my $doc = {
        '@context'                => $AP_CONTEXT,
        id                        => $id,
        type                      => $o{type} // 'Person',
        preferredUsername         => $name,
        name                      => $o{display_name} // ucfirst $name,
        summary                   => $o{summary} // '<p>a scripted peer</p>',
        url                       => $self->base . "/\@$name",
        inbox                     => $a->{inbox},
        outbox                    => $a->{outbox},
        followers                 => $a->{followers},
        following                 => $a->{following},
        manuallyApprovesFollowers => $o{locked} ? Mojo::JSON::true : Mojo::JSON::false,
        discoverable              => Mojo::JSON::true,
        published                 => '2026-01-01T00:00:00Z',
        (defined $a->{shared_inbox} ? (endpoints => { sharedInbox => $a->{shared_inbox} }) : ()),
        publicKey                 => { id => $a->{key_id}, owner => $id, publicKeyPem => $a->{public_pem} },
        %{ $o{extra} // {} },
    };
    $a->{doc} = $doc;
    $self->serve("/users/$name", $doc);
    # the key's own URL answers with the actor too (Mastodon fetches the key id without fragment)
    my $webfinger = {
        subject => "acct:$name\@$self->{host}",
        aliases => [$id],
        links   => [
            { rel => 'self', type => 'application/activity+json', href => $id },
            { rel => 'http://webfinger.net/rel/profile-page', type => 'text/html', href => $self->base . "/\@$name" },
        ],
    };
    $self->serve("/.well-known/webfinger?resource=acct:$name\@$self->{host}", $webfinger,
        content_type => 'application/jrd+json; charset=utf-8');
    $self->serve("/.well-known/webfinger?resource=$id", $webfinger,
        content_type => 'application/jrd+json; charset=utf-8');
    for my $coll (qw(outbox followers following)) {
        $self->serve("/users/$name/$coll", { '@context' => 'https://www.w3.org/ns/activitystreams',
            id => "$id/$coll", type => 'OrderedCollection', totalItems => 0, orderedItems => [] });
    }
    return $self->{actors}{$name} = $a;
}

# --- what it was sent ------------------------------------------------------------------

# received(method => 'POST', path => '/inbox' or qr//) -> ({ n, time, method, path,
# query, headers => { Name => [values] }, body (raw bytes), json (decoded, or undef) }, ...)
sub received {
    my ($self, %f) = @_;
    my @r;
    for my $file (sort glob("$self->{dir}/received/*.json")) {
        my $r = eval { decode_json(_slurp($file)) } or next;
        next if $f{method} && $r->{method} ne $f{method};
        if (defined $f{path}) {
            next if ref $f{path} ? $r->{path} !~ $f{path} : $r->{path} ne $f{path};
        }
        $r->{body} = decode_base64($r->{body});
        $r->{json} = eval { decode_json($r->{body}) };
        $r->{file} = $file;
        push @r, $r;
    }
    return @r;
}

sub clear_received {
    my ($self) = @_;
    unlink glob("$self->{dir}/received/*.json");
}

# header($record, $name) -> the first value of a received header
sub header {
    my ($class, $r, $name) = @_;
    for my $k (keys %{ $r->{headers} }) {
        return $r->{headers}{$k}[0] if lc $k eq lc $name;
    }
    return undef;
}

sub _headers_lc {
    my ($r) = @_;
    my %h;
    for my $k (keys %{ $r->{headers} }) { push @{ $h{lc $k} }, @{ $r->{headers}{$k} } }
    return \%h;
}

# verify($record, $public_pem_or_resolver) -> { ok, error, key_id, scheme }:
# checks the signature of a received request the way Mastodon verifies one:
# cavage (Signature; (request-target) host date digest for a POST, Digest =
# SHA-256 of the body) or RFC 9421 (Signature-Input/Signature, one label,
# @method @target-uri content-digest).  The key is a PEM, or a sub given the
# key id that returns the PEM.
sub verify {
    my ($self, $r, $key) = @_;
    my $h = _headers_lc($r);
    my $v = { ok => 0 };
    my $pem_of = sub { my $id = shift; ref $key eq 'CODE' ? $key->($id) : $key };
    if ($h->{'signature-input'}) {
        $v->{scheme} = 'rfc9421';
        my ($label, $params) = $h->{'signature-input'}[0] =~ /^([\w-]+)=(\(.*)\z/
            or return { %$v, error => 'bad Signature-Input' };
        my ($comp) = $params =~ /^\(([^)]*)\)/;
        my @comp = $comp =~ /"([^"]+)"/g;
        ($v->{key_id}) = $params =~ /;keyid="([^"]+)"/;
        my ($sig) = ($h->{signature}[0] // '') =~ /^\Q$label\E=:([A-Za-z0-9+\/=]+):/
            or return { %$v, error => 'no Signature for the label' };
        my @lines;
        for my $c (@comp) {
            my $val = $c eq '@method' ? $r->{method}
                : $c eq '@target-uri' ? 'https://' . ($h->{host}[0] // '') . $r->{path} . (length $r->{query} ? "?$r->{query}" : '')
                : $c eq '@authority' ? $h->{host}[0]
                : $c eq '@path' ? $r->{path}
                : $h->{$c} ? join(', ', @{ $h->{$c} }) : return { %$v, error => "component $c missing" };
            push @lines, qq{"$c": $val};
        }
        push @lines, qq{"\@signature-params": $params};
        if ($r->{method} eq 'POST') {
            grep { $_ eq 'content-digest' } @comp or return { %$v, error => 'content-digest not signed' };
            my $want = 'sha-256=:' . encode_base64(sha256($r->{body}), '') . ':';
            ($h->{'content-digest'}[0] // '') =~ /(?:^|,\s*)\Q$want\E/ or return { %$v, error => 'Content-Digest mismatch' };
        }
        my $pem = $pem_of->($v->{key_id}) or return { %$v, error => 'no key' };
        $v->{ok} = _rsa_verify($pem, join("\n", @lines), decode_base64($sig)) ? 1 : 0;
        $v->{error} = 'signature does not verify' unless $v->{ok};
        return $v;
    }
    $v->{scheme} = 'cavage';
    my $sh = $h->{signature} or return { %$v, error => 'no Signature header' };
    return { %$v, error => 'several Signature headers' } if @$sh > 1;
    my %p;
    while ($sh->[0] =~ /\G\s*([A-Za-z]+)="([^"]*)"\s*(?:,|\z)/gc) { $p{$1} = $2 }
    $v->{key_id} = $p{keyId};
    return { %$v, error => 'malformed Signature' } unless $p{keyId} && $p{signature};
    my @names = split ' ', $p{headers} // 'date';
    if ($r->{method} eq 'POST') {
        for my $need ('(request-target)', 'host', 'date', 'digest') {
            grep { $_ eq $need } @names or return { %$v, error => "$need not signed" };
        }
        my $want = 'SHA-256=' . encode_base64(sha256($r->{body}), '');
        ($h->{digest}[0] // '') eq $want or return { %$v, error => 'Digest mismatch' };
    }
    my @lines;
    for my $n (@names) {
        if ($n eq '(request-target)') {
            push @lines, '(request-target): ' . lc($r->{method}) . ' ' . $r->{path}
                . (length $r->{query} ? "?$r->{query}" : '');
        } else {
            my $val = $h->{$n} or return { %$v, error => "signed header $n missing" };
            push @lines, "$n: " . join(', ', @$val);
        }
    }
    my $pem = $pem_of->($p{keyId}) or return { %$v, error => 'no key' };
    $v->{ok} = _rsa_verify($pem, join("\n", @lines), decode_base64($p{signature})) ? 1 : 0;
    $v->{error} = 'signature does not verify' unless $v->{ok};
    return $v;
}

# --- sending ---------------------------------------------------------------------------

sub ua {
    my ($self) = @_;
    return $self->{ua} //= do {
        my $ua = Mojo::UserAgent->new(connect_timeout => 10, inactivity_timeout => 30,
            request_timeout => 30, max_redirects => 0);
        $ua->ca($self->{ca});
        $ua;
    };
}

sub http_date {
    my ($t) = @_;
    local $ENV{LC_ALL} = 'C';
    return strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($t // time));
}

# signed_headers($method, $url, $body, %knobs) -> [ name => value, ... ] in order.
# Knobs, each breaking one part:
#   actor => 'mallory'        whose key and key id (default mallory)
#   key_id => '...'           another keyId in the header
#   key => FILE               sign with another private key
#   date => 'text' | date_offset => -46800 | no_date => 1 | duplicate_date => 1
#   digest => 'text' | no_digest => 1 | duplicate_digest => 1
#   host => 'x.test'          Host header sent (and signed) | sign_host => 'x.test' (signed only)
#   signed => '(request-target) host date digest'   the headers= list
#   algorithm => 'rsa-sha256' (or 'hs2019', or anything)
#   signature => 'raw header' | signature_value => 'b64' | no_signature => 1
#   duplicate_signature => 1 | corrupt => 1 (one signature byte flipped)
#   rfc9421 => 1               Content-Digest + Signature-Input/Signature instead
#   components => [...]        RFC 9421 covered components
#   created_offset => -46800   RFC 9421 created parameter
#   target => '/other'         sign another request target / @target-uri path
#   headers => { extra }       more headers (not signed)
sub signed_headers {
    my ($self, $method, $url, $body, %k) = @_;
    $url = Mojo::URL->new($url);
    my $actor = $self->actor($k{actor} // 'mallory');
    my $keyfile = $k{key} // $actor->{key};
    my $key_id = $k{key_id} // $actor->{key_id};
    my $host = $k{host} // $url->host_port;
    my $target = $k{target} // $url->path_query;
    my @h = (Host => $host);
    my $date = $k{date} // http_date(time + ($k{date_offset} // 0));
    push @h, Date => $date unless $k{no_date};
    push @h, Date => http_date(time - 1) if $k{duplicate_date};
    my $digest;
    if (uc $method eq 'POST') {
        $digest = $k{digest} // 'SHA-256=' . encode_base64(sha256($body // ''), '');
    }
    if ($k{rfc9421}) {
        my $cd = 'sha-256=:' . encode_base64(sha256($body // ''), '') . ':';
        push @h, 'Content-Digest' => $cd if uc $method eq 'POST' && !$k{no_digest};
        my @comp = @{ $k{components} // [ '@method', '@target-uri', (uc $method eq 'POST' ? 'content-digest' : ()) ] };
        my $created = int(time + ($k{created_offset} // 0));
        my $params = '(' . join(' ', map {qq{"$_"}} @comp) . qq{);created=$created;keyid="$key_id"}
            . ($k{alg} ? qq{;alg="$k{alg}"} : '');
        my %val = ('@method' => uc $method, '@target-uri' => 'https://' . ($k{sign_host} // $host) . $target,
            '@authority' => $k{sign_host} // $host, '@path' => $url->path->to_string, 'content-digest' => $cd,
            date => $date);
        my $base = join("\n", (map { qq{"$_": } . ($val{$_} // '') } @comp), qq{"\@signature-params": $params});
        my $sig = $k{signature_value} // encode_base64(_rsa_sign($keyfile, $base, $k{corrupt}), '');
        push @h, 'Signature-Input' => "sig1=$params", Signature => "sig1=:$sig:" unless $k{no_signature};
        push @h, %{ $k{headers} // {} };
        return \@h;
    }
    if (defined $digest && !$k{no_digest}) {
        push @h, Digest => $digest;
        push @h, Digest => 'SHA-256=' . encode_base64(sha256('other'), '') if $k{duplicate_digest};
    }
    my $signed = $k{signed} // (uc $method eq 'POST' ? '(request-target) host date digest' : '(request-target) host date');
    my %val = ('(request-target)' => lc($method) . " $target", host => $k{sign_host} // $host,
        date => $date, digest => $digest // '');
    my $text = join "\n", map { "$_: " . ($val{$_} // '') } split ' ', $signed;
    my $sig = $k{signature_value} // encode_base64(_rsa_sign($keyfile, $text, $k{corrupt}), '');
    my $header = $k{signature}
        // sprintf('keyId="%s",algorithm="%s",headers="%s",signature="%s"', $key_id,
            $k{algorithm} // 'rsa-sha256', $signed, $sig);
    push @h, Signature => $header unless $k{no_signature};
    push @h, Signature => $header if $k{duplicate_signature};
    push @h, %{ $k{headers} // {} };
    return \@h;
}

# post($url, $activity_or_bytes, %knobs) -> Mojo::Message::Response: a signed
# POST (application/activity+json).  tamper_body => 'bytes' sends other bytes
# than the ones signed and digested.
sub post {
    my ($self, $url, $body, %k) = @_;
    $body = encode_json($body) if ref $body;
    my $h = $self->signed_headers('POST', $url, $body, %k);
    my $tx = $self->ua->build_tx(POST => $url);
    $tx->req->headers->content_type($k{content_type} // 'application/activity+json');
    _add_headers($tx, $h);
    # headers sent beside the signature, unsigned (Collection-Synchronization)
    $tx->req->headers->header($_ => $k{extra_headers}{$_}) for sort keys %{ $k{extra_headers} // {} };
    $tx->req->body($k{tamper_body} // $body);
    return $self->ua->start($tx)->res;
}

# get($url, %knobs) -> Mojo::Message::Response: a GET, signed unless unsigned => 1.
sub get {
    my ($self, $url, %k) = @_;
    my $tx = $self->ua->build_tx(GET => $url);
    $tx->req->headers->accept($k{accept} // 'application/activity+json');
    _add_headers($tx, $self->signed_headers('GET', $url, undef, %k)) unless $k{unsigned};
    return $self->ua->start($tx)->res;
}

sub _add_headers {
    my ($tx, $h) = @_;
    my $headers = $tx->req->headers;
    my %seen;
    for (my $i = 0; $i < @$h; $i += 2) {
        my ($n, $v) = @$h[$i, $i + 1];
        # a header named twice is sent twice (duplicate_* knobs)
        if ($seen{lc $n}++) { $headers->add($n => $v) } else { $headers->header($n => $v) }
    }
}

# activity(type => 'Follow', actor => 'mallory', object => ..., %more) -> a hash
# with @context and a fresh id on the peer.
sub activity {
    my ($self, %a) = @_;
    my $actor = $self->actor(delete $a{actor} // 'mallory');
    return {
        '@context' => 'https://www.w3.org/ns/activitystreams',
        id         => delete $a{id} // $self->new_id,
        type       => delete $a{type},
        actor      => $actor->{id},
        %a,
    };
}

# --- RSA with the openssl command line -------------------------------------------

sub _rsa_sign {
    my ($keyfile, $text, $corrupt) = @_;
    my $in = File::Temp->new;
    print $in $text;
    close $in;
    my $out = File::Temp->new;
    _run('openssl', 'dgst', '-sha256', '-sign', $keyfile, '-out', $out->filename, $in->filename);
    my $sig = _slurp($out->filename);
    substr($sig, 10, 1) = chr(ord(substr($sig, 10, 1)) ^ 1) if $corrupt;
    return $sig;
}

sub _rsa_verify {
    my ($pem, $text, $sig) = @_;
    my ($in, $sf, $kf) = map { File::Temp->new } 1 .. 3;
    print $in $text;
    print $sf $sig;
    print $kf $pem;
    close $_ for $in, $sf, $kf;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>', '/dev/null';
        { no warnings q(exec); exec 'openssl', 'dgst', '-sha256', '-verify', $kf->filename, '-signature', $sf->filename, $in->filename; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return $? == 0 && $out =~ /Verified OK/;
}

sub _run {
    my @cmd = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if ($pid == 0) {
        open STDERR, '>&', \*STDOUT;
        { no warnings q(exec); exec { $cmd[0] } @cmd; }
        POSIX::_exit(127);
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    $? == 0 or die "FakePeer: @cmd failed:\n$out";
    return $out;
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return '';
    local $/;
    return <$fh> // '';
}

sub _spew_atomic {
    my ($f, $s) = @_;
    open my $fh, '>:raw', "$f.tmp$$" or die "FakePeer: $f: $!";
    print $fh $s;
    close $fh or die "FakePeer: $f: $!";
    rename "$f.tmp$$", $f or die "FakePeer: rename $f: $!";
}

1;
