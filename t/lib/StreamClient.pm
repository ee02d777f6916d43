package StreamClient;

# A small client of the streaming API for the tests, read without blocking:
# an event stream (GET /api/v1/streaming/<stream>, HTTP/1.1, chunked) whose
# events and comments are collected as they come, or a WebSocket (GET
# /api/v1/streaming upgraded) whose text messages are collected decoded.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Socket ();
use MIME::Base64 ();
use Mojo::JSON ();
use Time::HiRes qw(time sleep);

sub _connect {
    my ($port, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
      or die "StreamClient: connect: $!";
    setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), $o{rcvbuf}) if $o{rcvbuf};
    return $sock;
}

sub _head {
    my ($self) = @_;
    $self->_read_until(sub { $self->{raw} =~ /\r\n\r\n/ }, 10);
    $self->{raw} =~ s/\A(.*?)\r\n\r\n//s or die "StreamClient: no header";
    my $head = $1;
    ($self->{status}) = $head =~ m{\AHTTP/1\.\d (\d+)};
    $self->{headers} = { map { lc($_->[0]) => $_->[1] } map { [split /:\s*/, $_, 2] } split /\r\n/, $head };
}

# StreamClient->sse($port, $path_and_query, \%headers, %o) -> client (its
# status and headers read); o: rcvbuf => bytes, no_wait => 1
sub sse {
    my ($class, $port, $path, $headers, %o) = @_;
    my $sock = _connect($port, %o);
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers // {} };
    $sock->syswrite("$req\r\n");
    my $self = bless { sock => $sock, raw => '', body => '', events => [], comments => [], closed => 0 },
        $class;
    return $self if $o{no_wait};
    $self->_head;
    $self->{chunked} = ($self->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    $self->_parse;
    return $self;
}

# StreamClient->ws($port, $path_and_query, \%headers, %o) -> client (the
# handshake done: status 101, or the refusal's status and body); pings are
# answered unless no_pong => 1; early => bytes sent right after the request
sub ws {
    my ($class, $port, $path, $headers, %o) = @_;
    my $sock = _connect($port, %o);
    my $key = MIME::Base64::encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        . "Sec-WebSocket-Key: $key\r\nSec-WebSocket-Version: 13\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers // {} };
    my $self = bless { sock => $sock, raw => '', body => '', events => [], comments => [], closed => 0,
        messages => [], pings => 0, no_pong => $o{no_pong} }, $class;
    $sock->syswrite("$req\r\n" . (defined $o{early} ? $self->frame(1, $o{early}) : ''));
    return $self if $o{no_wait};
    $self->_head;
    $self->{ws} = $self->{status} == 101;
    $self->_parse;
    return $self;
}

sub status   { $_[0]{status} }
sub header   { $_[0]{headers}{ lc $_[1] } }
sub closed   { $_[0]{closed} }
sub events   { $_[0]{events} }
sub comments { $_[0]{comments} }
sub messages { $_[0]{messages} }
sub pings    { $_[0]{pings} }
sub close_code { $_[0]{close_code} }
sub close_reason { $_[0]{close_reason} }
sub sock     { $_[0]{sock} }

# the body of a refusal (an error's JSON), once it all came
sub body {
    my ($self) = @_;
    $self->_read_until(sub { $self->{closed} || ($self->{headers}{'content-length'}
        && length($self->{body}) >= $self->{headers}{'content-length'}) }, 5);
    return $self->{body};
}

# pump($seconds): reads what comes within that time
sub pump {
    my ($self, $secs) = @_;
    $self->_read_until(sub { 0 }, $secs // 0.2);
    return $self;
}

# wait_event(sub { my ($ev) = @_; ... }, $timeout) -> the first new event that matches
sub wait_event {
    my ($self, $match, $timeout) = @_;
    my $found;
    $self->_read_until(sub {
        for my $ev (@{ $self->{events} }) {
            if (!$ev->{seen} && $match->($ev)) { $ev->{seen} = 1; $found = $ev; return 1 }
        }
        return 0;
    }, $timeout // 10);
    return $found;
}

# wait_message(sub { my ($json) = @_; ... }, $timeout) -> the first new message that matches
sub wait_message {
    my ($self, $match, $timeout) = @_;
    my $found;
    $self->_read_until(sub {
        for my $m (@{ $self->{messages} }) {
            if (!$m->{seen} && $m->{json} && $match->($m->{json})) { $m->{seen} = 1; $found = $m->{json}; return 1 }
        }
        return 0;
    }, $timeout // 10);
    return $found;
}

# wait_closed($timeout) -> true once the server ended the stream or closed
sub wait_closed {
    my ($self, $timeout) = @_;
    $self->_read_until(sub { $self->{closed} || $self->{ended} }, $timeout // 10);
    return $self->{closed} || $self->{ended};
}

# live($t, $channel[, $match]) -> true once a delete event published on the
# Redis channel (by $t, again and again, 10 s at most) arrives: the stream is
# subscribed to it.  $match: a further test of the event (or message).
sub live {
    my ($self, $t, $channel, $match) = @_;
    my $n = 0;
    return $t->wait_for(sub {
        $n++;
        $t->redis('PUBLISH', $channel, qq({"event":"delete","payload":"live$n"}));
        $self->{ws}
            ? $self->wait_message(sub { $_[0]{event} eq 'delete' && $_[0]{payload} =~ /^live/
                                        && (!$match || $match->($_[0])) }, 0.2)
            : $self->wait_event(sub { $_[0]{event} eq 'delete' && $_[0]{data} =~ /^live/
                                      && (!$match || $match->($_[0])) }, 0.2);
    });
}

sub close { my ($self) = @_; close $self->{sock}; $self->{closed} = 1 }

# discard(): what comes is read and dropped (a flood: only its end matters)
sub discard { $_[0]{discard} = 1; $_[0]{raw} = $_[0]{body} = ''; $_[0] }

# frame($opcode, $payload): a masked frame, as a client sends it
sub frame {
    my ($self, $op, $data, %o) = @_;
    my $len = length $data;
    my $frame = chr(($o{fin} // 1 ? 0x80 : 0) | $op);
    if ($len < 126) { $frame .= chr(0x80 | $len) }
    elsif ($len < 65536) { $frame .= chr(0x80 | 126) . pack('n', $len) }
    else { $frame .= chr(0x80 | 127) . pack('Q>', $len) }
    my $mask = join '', map { chr int rand 256 } 1 .. 4;
    my @m = unpack 'C4', $mask;
    my $i = 0;
    return $frame . $mask . join '', map { chr(ord($_) ^ $m[$i++ % 4]) } split //, $data;
}

sub send_frame { my ($self, @a) = @_; $self->{sock}->syswrite($self->frame(@a)) }
sub send_text  { $_[0]->send_frame(1, $_[1]) }
sub send_json  { $_[0]->send_frame(1, Mojo::JSON::encode_json($_[1])) }

sub _read_until {
    my ($self, $cond, $timeout) = @_;
    my $end = time + $timeout;
    my $sel = IO::Select->new($self->{sock});
    until ($cond->()) {
        my $left = $end - time;
        last if $left <= 0 || $self->{closed};
        next unless $sel->can_read($left > 0.1 ? 0.1 : $left);
        my $n = sysread($self->{sock}, my $buf, 65536);
        if (!$n) { $self->{closed} = 1; last }
        $self->{raw} .= $buf;
        $self->_parse if defined $self->{status};
    }
    return $cond->();
}

sub _parse {
    my ($self) = @_;
    if ($self->{discard}) { $self->{raw} = $self->{body} = ''; return }
    return $self->_parse_ws if $self->{ws};
    if ($self->{chunked}) {
        while ($self->{raw} =~ /\A([0-9a-fA-F]+)\r\n/) {
            my $size = hex $1;
            my $hl = length($1) + 2;
            last if length($self->{raw}) < $hl + $size + 2;
            $self->{body} .= substr($self->{raw}, $hl, $size);
            substr($self->{raw}, 0, $hl + $size + 2) = '';
            $self->{ended} = 1 if $size == 0;
        }
    } else {
        $self->{body} .= $self->{raw};
        $self->{raw} = '';
    }
    return unless ($self->{status} // 0) == 200;
    # events end with an empty line; comments are lines of their own
    while (1) {
        if ($self->{body} =~ s/\A:([^\n]*)\n//) { push @{ $self->{comments} }, $1; next }
        if ($self->{body} =~ s/\Aevent: ([^\n]*)\ndata: ([^\n]*)\n\n//) {
            push @{ $self->{events} }, { event => $1, data => $2 };
            next;
        }
        last;
    }
}

sub _parse_ws {
    my ($self) = @_;
    while (length($self->{raw}) >= 2) {
        my ($b0, $b1) = unpack 'C2', $self->{raw};
        my $len = $b1 & 0x7f;
        my $off = 2;
        if ($len == 126) {
            return if length($self->{raw}) < 4;
            ($len, $off) = (unpack('n', substr($self->{raw}, 2, 2)), 4);
        } elsif ($len == 127) {
            return if length($self->{raw}) < 10;
            ($len, $off) = (unpack('Q>', substr($self->{raw}, 2, 8)), 10);
        }
        return if length($self->{raw}) < $off + $len;
        my $data = substr($self->{raw}, $off, $len);
        substr($self->{raw}, 0, $off + $len) = '';
        my $op = $b0 & 0x0f;
        if ($op == 1) {
            push @{ $self->{messages} }, { text => $data, json => eval { Mojo::JSON::decode_json($data) } };
        } elsif ($op == 9) {
            $self->{pings}++;
            $self->send_frame(10, $data) unless $self->{no_pong};
        } elsif ($op == 8) {
            $self->{close_code} = length($data) >= 2 ? unpack('n', $data) : 1005;
            $self->{close_reason} = length($data) > 2 ? substr($data, 2) : '';
            $self->{ended} = 1;
        }
    }
}

1;
