package HttpSigTest;

# Signed requests for the inbox tests: a remote actor's RSA key (made with
# the openssl command line, as t/lib/FakePeer.pm does), draft-cavage-12 and
# RFC 9421 signatures made the way Mastodon makes them, with knobs to break
# each part.  An implementation independent of lib/mstdn_httpsig.
#
#   my $k = HttpSigTest::key($dir, 'bob');          # { file, pub }
#   my $h = HttpSigTest::cavage(key => $k, key_id => ..., host => ...,
#       path => '/inbox', body => $json);           # header name => value(s)

use strict;
use warnings;

use Digest::SHA qw(sha256 sha256_hex);
use File::Temp qw(tempfile);
use MIME::Base64 qw(encode_base64);
use POSIX qw(strftime);

sub _run {
    my (@cmd) = @_;
    system(@cmd) == 0 or die "HttpSigTest: @cmd failed\n";
}

sub _slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or die "HttpSigTest: $f: $!\n";
    local $/;
    return scalar <$fh>;
}

# key($dir, $name) -> { file => private key PEM path, pub => SPKI PEM }
sub key {
    my ($dir, $name) = @_;
    my $file = "$dir/$name.key";
    _run('openssl', 'genpkey', '-quiet', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048',
        '-out', $file) unless -f $file;
    _run('openssl', 'pkey', '-in', $file, '-pubout', '-out', "$file.pub");
    return { file => $file, pub => _slurp("$file.pub") };
}

# sign($key, $string) -> base64 RSA-SHA256 (PKCS#1 v1.5)
sub sign {
    my ($key, $string) = @_;
    my ($fh, $tmp) = tempfile(UNLINK => 1);
    binmode $fh;
    print $fh $string;
    close $fh;
    open my $p, '-|', 'openssl', 'dgst', '-sha256', '-sign', $key->{file}, $tmp
        or die "HttpSigTest: openssl: $!\n";
    binmode $p;
    local $/;
    my $sig = <$p>;
    close $p or die "HttpSigTest: openssl dgst failed\n";
    unlink $tmp;
    return encode_base64($sig, '');
}

sub http_date { strftime('%a, %d %b %Y %H:%M:%S GMT', gmtime($_[0] // time)) }

sub digest { 'SHA-256=' . encode_base64(sha256($_[0] // ''), '') }

# cavage(%o) -> { header => value }: key, key_id, host, path (with query),
# body (undef: a GET), method; optional: date (epoch), headers (the list
# signed), digest (the Digest value sent), signed_host (the Host in the
# string), algorithm, extra (params appended raw), sign_with (another key).
sub cavage {
    my (%o) = @_;
    my $method = $o{method} // (defined $o{body} ? 'POST' : 'GET');
    my $date = http_date($o{date});
    my $post = $method eq 'POST';
    my $list = $o{headers} // ($post ? '(request-target) host date digest' : '(request-target) host date');
    my %h = (host => $o{host}, date => $date);
    $h{digest} = $o{digest} // digest($o{body}) if $post;
    my %in_string = (%h, host => $o{signed_host} // $o{host});
    my @lines;
    for my $n (split / /, $list) {
        if ($n eq '(request-target)') {
            push @lines, '(request-target): ' . lc($method) . " $o{path}";
        } else {
            push @lines, "$n: " . ($in_string{$n} // '');
        }
    }
    my $sig = sign($o{sign_with} // $o{key}, join("\n", @lines));
    my $alg = exists $o{algorithm} ? $o{algorithm} : 'rsa-sha256';
    my $value = qq{keyId="$o{key_id}",} . (defined $alg ? qq{algorithm="$alg",} : '')
        . qq{headers="$list",signature="$sig"} . ($o{extra} // '');
    return { Host => $o{host}, Date => $date, ($post ? (Digest => $h{digest}) : ()),
             Signature => $value };
}

# rfc9421(%o) -> { header => value }: key, key_id, host, path, body, scheme
# (http), created (epoch); components (default @method @target-uri
# content-digest for a POST).
sub rfc9421 {
    my (%o) = @_;
    my $method = $o{method} // (defined $o{body} ? 'POST' : 'GET');
    my $post = $method eq 'POST';
    my $created = $o{created} // time;
    my @comp = @{ $o{components} // [ '@method', '@target-uri', ($post ? 'content-digest' : ()) ] };
    my $cd = 'sha-256=:' . encode_base64(sha256($o{body} // ''), '') . ':';
    my $params = '(' . join(' ', map { qq{"$_"} } @comp) . qq{);created=$created;keyid="$o{key_id}"};
    my %v = ('@method' => $method, '@target-uri' => ($o{scheme} // 'http') . "://$o{host}$o{path}",
             '@authority' => $o{host}, '@path' => $o{path}, 'content-digest' => $cd,
             'host' => $o{host}, 'date' => http_date($created));
    my $base = join('', map { qq{"$_": $v{$_}\n} } @comp) . qq{"\@signature-params": $params};
    my $sig = sign($o{key}, $base);
    return { Host => $o{host}, Date => http_date($created), ($post ? ('Content-Digest' => $cd) : ()),
             'Signature-Input' => "sig1=$params", Signature => "sig1=:$sig:" };
}

# The Redis key of the worker's answer for a key id.
sub answer_key { 'mastodon:keyfetch:' . sha256_hex($_[0]) }

1;
