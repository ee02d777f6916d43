package StreamClient;

# A small client of the streaming API for the tests: an event stream
# (GET /api/v1/streaming/<stream>, HTTP/1.1, chunked) read without blocking;
# events are collected as they come.

use strict;
use warnings;

use IO::Socket::INET;
use IO::Select;
use Time::HiRes qw(time sleep);

# StreamClient->sse($port, $path_and_query, \%headers) -> client, or undef
# with $@ set; the status line and headers are read first.
sub sse {
    my ($class, $port, $path, $headers, %o) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port, Proto => 'tcp')
      or die "StreamClient: connect: $!";
    if ($o{rcvbuf}) {
        setsockopt($sock, Socket::SOL_SOCKET(), Socket::SO_RCVBUF(), $o{rcvbuf});
    }
    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n";
    $req .= "$_: $headers->{$_}\r\n" for sort keys %{ $headers // {} };
    $sock->syswrite("$req\r\n");
    my $self = bless { sock => $sock, raw => '', body => '', events => [], comments => [],
        closed => 0 }, $class;
    return $self if $o{no_wait};
    $self->_read_until(sub { $self->{raw} =~ /\r\n\r\n/ }, 10);
    $self->{raw} =~ s/\A(.*?)\r\n\r\n//s or die "StreamClient: no header";
    my $head = $1;
    ($self->{status}) = $head =~ m{\AHTTP/1\.\d (\d+)};
    $self->{headers} = { map { lc($_->[0]) => $_->[1] } map { [split /:\s*/, $_, 2] } split /\r\n/, $head };
    $self->{chunked} = ($self->{headers}{'transfer-encoding'} // '') =~ /chunked/i;
    $self->_parse;
    return $self;
}

sub status  { $_[0]{status} }
sub header  { $_[0]{headers}{ lc $_[1] } }
sub closed  { $_[0]{closed} }
sub events  { $_[0]{events} }
sub comments { $_[0]{comments} }
sub sock    { $_[0]{sock} }

# the body of a non-stream answer (an error's JSON), once it all came
sub body {
    my ($self) = @_;
    $self->_read_until(sub { $self->{closed} || ($self->{headers}{'content-length'}
        && length($self->{body}) >= $self->{headers}{'content-length'}) }, 5);
    return $self->{body};
}

# pump($seconds): reads what came within that time
sub pump {
    my ($self, $secs) = @_;
    $self->_read_until(sub { 0 }, $secs // 0.2);
    return $self;
}

# wait_event(sub { my ($ev) = @_; ... }, $timeout) -> the first event that matches
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

# wait_closed($timeout) -> true once the server closed the connection
sub wait_closed {
    my ($self, $timeout) = @_;
    $self->_read_until(sub { $self->{closed} || $self->{ended} }, $timeout // 10);
    return $self->{closed} || $self->{ended};
}

sub close { my ($self) = @_; close $self->{sock}; $self->{closed} = 1 }

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

# discard(): what comes is read and dropped (a flood, only its end matters)
sub discard { $_[0]{discard} = 1; $_[0]{raw} = $_[0]{body} = ''; $_[0] }

sub _parse {
    my ($self) = @_;
    if ($self->{discard}) { $self->{raw} = $self->{body} = ''; return }
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
    # events are separated by an empty line; comments are lines of their own
    while (1) {
        if ($self->{body} =~ s/\A:([^\n]*)\n//) { push @{ $self->{comments} }, $1; next }
        if ($self->{body} =~ s/\Aevent: ([^\n]*)\ndata: ([^\n]*)\n\n//) {
            push @{ $self->{events} }, { event => $1, data => $2 };
            next;
        }
        last;
    }
}

1;
