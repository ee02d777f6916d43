package FanoutTest;

# Fixtures for the fan-out tests (t/fanout*.t): rows written with SQL (the
# module's status endpoints are not used), jobs run through the worker,
# streaming events caught by a raw Redis subscriber.
#
#   my $f = FanoutTest->new($t);          # $t: a MastodonTest
#   my $a = $f->account('alice');         # local account id
#   $f->follow($b, $a, notify => 1);
#   $f->feed($b);                         # an existing (complete) home feed
#   my $s = $f->status($a, language => 'en');
#   $f->run_job('distribute', { status_id => "$s", payload => $f->payload($s, $a) });
#   $f->members($b);                      # the feed, newest first, without the sentinel

use strict;
use warnings;
use Test::More ();
use IO::Socket::INET;
use IO::Select;
use Mojo::JSON qw(encode_json decode_json);
use Time::HiRes qw(sleep time);

sub new {
    my ($class, $t) = @_;
    return bless { t => $t, n => 0 }, $class;
}

sub t { $_[0]{t} }

sub _sql_value {
    my ($v) = @_;
    return 'NULL' unless defined $v;
    return $v if $v =~ /^-?\d+$/;
    (my $q = $v) =~ s/'/''/g;
    return "'$q'";
}

# account($username, domain => 'remote.example', silenced => 1): an account id.
sub account {
    my ($self, $name, %o) = @_;
    my $id = $self->t->psql('INSERT INTO accounts (username, domain, silenced_at) VALUES ('
        . _sql_value($name) . ', ' . _sql_value($o{domain}) . ', '
        . ($o{silenced} ? "now() AT TIME ZONE 'UTC'" : 'NULL') . ') RETURNING id');
    return $id;
}

sub follow {
    my ($self, $from, $to, %o) = @_;
    my $langs = $o{languages} ? "ARRAY[" . join(',', map { _sql_value($_) } @{ $o{languages} }) . ']::varchar[]' : 'NULL';
    return $self->t->psql("INSERT INTO follows (account_id, target_account_id, show_reblogs, notify, languages)"
        . " VALUES ($from, $to, " . (($o{show_reblogs} // 1) ? 'true' : 'false') . ', '
        . ($o{notify} ? 'true' : 'false') . ", $langs) RETURNING id");
}

sub block { $_[0]->t->psql("INSERT INTO blocks (account_id, target_account_id) VALUES ($_[1], $_[2]) RETURNING id") }

sub mute {
    my ($self, $from, $to, %o) = @_;
    return $self->t->psql("INSERT INTO mutes (account_id, target_account_id, hide_notifications, expires_at)"
        . " VALUES ($from, $to, " . (($o{hide_notifications} // 1) ? 'true' : 'false') . ', '
        . ($o{expired} ? "now() AT TIME ZONE 'UTC' - interval '1 hour'" : 'NULL') . ') RETURNING id');
}

# status($account, visibility => 0..3, reply_to => $status_id, reblog_of => $id,
#        language => 'en', mentions => [$id, ...], tags => ['Name'], media => 1, local => 1)
sub status {
    my ($self, $account, %o) = @_;
    my ($irt, $irt_account) = ('NULL', 'NULL');
    if (defined $o{reply_to}) {
        $irt = $o{reply_to};
        $irt_account = $o{reply_to_account} // $self->t->psql("SELECT account_id FROM statuses WHERE id = $irt");
    }
    my $id = $self->t->psql('INSERT INTO statuses (account_id, visibility, reply, in_reply_to_id,'
        . ' in_reply_to_account_id, reblog_of_id, language, local, text) VALUES ('
        . join(', ', $account, $o{visibility} // 0, defined $o{reply_to} ? 'true' : 'false', $irt,
            $irt_account, $o{reblog_of} // 'NULL', _sql_value($o{language}),
            ($o{local} // 1) ? 'true' : 'false', "'text'") . ') RETURNING id');
    for my $m (@{ $o{mentions} // [] }) {
        $self->t->psql("INSERT INTO mentions (status_id, account_id) VALUES ($id, $m)");
    }
    for my $tag (@{ $o{tags} // [] }) {
        my $q = _sql_value($tag);
        my $tid = $self->t->psql("WITH ins AS (INSERT INTO tags (name) SELECT $q WHERE NOT EXISTS"
            . " (SELECT 1 FROM tags WHERE lower(name) = lower($q)) RETURNING id)"
            . " SELECT id FROM ins UNION ALL SELECT id FROM tags WHERE lower(name) = lower($q)");
        $self->t->psql("INSERT INTO statuses_tags (status_id, tag_id) VALUES ($id, $tid)");
    }
    $self->t->psql("INSERT INTO media_attachments (status_id, account_id) VALUES ($id, $account)") if $o{media};
    return $id;
}

# The Status entity as the module would render it (enough for the tests).
sub payload {
    my ($self, $id, $account, %o) = @_;
    my %p = (id => "$id", content => $o{content} // "<p>status $id</p>",
        account => { id => "$account", username => "u$account" });
    $p{reblog} = $o{reblog} if $o{reblog};
    return \%p;
}

sub feed_key { "mastodon:feed:home:$_[1]" }

# feed($account, @ids): the feed exists and is complete (sentinel), with ids in it.
sub feed {
    my ($self, $account, @ids) = @_;
    $self->t->redis('ZADD', $self->feed_key($account), 0, 0, map { ($_, $_) } @ids);
}

sub members {
    my ($self, $account) = @_;
    my @m = split /\n/, $self->t->redis('ZREVRANGE', $self->feed_key($account), 0, -1);
    return [ grep { $_ ne '0' } @m ];
}

sub in_feed {
    my ($self, $account, $id) = @_;
    return $self->t->redis('ZSCORE', $self->feed_key($account), $id) ne '' ? 1 : 0;
}

# run_job($type, \%args [, $queue]): enqueue, wait until it is done (acked),
# fail the test if it went to the retry set or the dead stream.
sub run_job {
    my ($self, $type, $args, $queue) = @_;
    my $t = $self->t;
    $queue //= 'default';
    my $json = ref $args ? encode_json($args) : $args;
    my ($rc, $out, $err) = $t->worker_cli('enqueue', $queue, $type, $json);
    Test::More::diag("enqueue $type: $err") if $rc != 0;
    my $ok = $t->wait_for(sub {
        return 2 if $t->redis('ZCARD', 'mastodon:retry') > 0 || $t->redis('XLEN', 'mastodon:dead') > 0;
        my $pending = (split /\n/, $t->redis('XPENDING', "mastodon:queue:$queue", 'workers'))[0] // 0;
        return $t->redis('XLEN', "mastodon:queue:$queue") == 0 && $pending == 0 ? 1 : 0;
    }, 30);
    if ($ok != 1) {
        Test::More::diag("job $type did not finish: retry "
            . $t->redis('ZRANGE', 'mastodon:retry', 0, -1) . ' dead ' . $t->redis('XRANGE', 'mastodon:dead', '-', '+'));
        $t->redis('DEL', 'mastodon:retry', 'mastodon:dead');
    }
    return $ok == 1;
}

sub notifications {
    my ($self, $where) = @_;
    my $rows = $self->t->psql("SELECT id, account_id, from_account_id, type, activity_type, activity_id,"
        . " coalesce(group_key, '') FROM notifications WHERE $where ORDER BY id");
    return [ map { my @c = split /\|/, $_, -1; +{ id => $c[0], account_id => $c[1], from_account_id => $c[2],
        type => $c[3], activity_type => $c[4], activity_id => $c[5], group_key => $c[6] } }
        grep { length } split /\n/, $rows ];
}

# --- a Redis subscriber ---------------------------------------------------------

# subscribe(@channels): a subscriber on its own connection.
sub subscribe {
    my ($self, @channels) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->t->redis_port, Proto => 'tcp')
        or die "subscribe: $!";
    my $cmd = '*' . (@channels + 1) . "\r\n\$9\r\nSUBSCRIBE\r\n";
    $cmd .= '$' . length($_) . "\r\n$_\r\n" for @channels;
    print $s $cmd;
    my $sub = bless { sock => $s, buf => '', messages => [] }, 'FanoutTest::Subscriber';
    # the subscribe confirmations
    $sub->_read_until(sub { $_[0]{confirmed} >= @channels }, 5);
    return $sub;
}

package FanoutTest::Subscriber;

use Mojo::JSON qw(decode_json);
use Time::HiRes qw(time);

# One RESP value from the buffer, or undef if incomplete.
sub _parse {
    my ($buf, $pos) = @_;
    my $eol = index($$buf, "\r\n", $pos);
    return if $eol < 0;
    my $type = substr($$buf, $pos, 1);
    my $line = substr($$buf, $pos + 1, $eol - $pos - 1);
    my $next = $eol + 2;
    if ($type eq '$') {
        return (undef, $next) if $line < 0;
        return if length($$buf) < $next + $line + 2;
        return (substr($$buf, $next, $line), $next + $line + 2);
    }
    if ($type eq '*') {
        my @a;
        for (1 .. $line) {
            my ($v, $p) = _parse($buf, $next) or return;
            push @a, $v;
            $next = $p;
        }
        return (\@a, $next);
    }
    return ($line, $next);
}

sub _read_until {
    my ($self, $cond, $timeout) = @_;
    $self->{confirmed} //= 0;
    my $sel = IO::Select->new($self->{sock});
    my $end = time + $timeout;
    while (1) {
        while (1) {
            my ($v, $p) = _parse(\$self->{buf}, 0) or last;
            substr($self->{buf}, 0, $p) = '';
            if (ref $v && $v->[0] eq 'message') {
                push @{ $self->{messages} }, { channel => $v->[1], raw => $v->[2], json => eval { decode_json($v->[2]) } };
            } elsif (ref $v && $v->[0] eq 'subscribe') {
                $self->{confirmed}++;
            }
        }
        return 1 if $cond->($self);
        my $left = $end - time;
        return 0 if $left <= 0;
        next unless $sel->can_read($left < 0.1 ? $left : 0.1);
        my $n = sysread($self->{sock}, my $chunk, 65536);
        return 0 unless $n;
        $self->{buf} .= $chunk;
    }
}

# messages(%o): everything received after waiting up to `wait` seconds
# (default 0.5) for more; drains the list.
sub messages {
    my ($self, %o) = @_;
    my $want = $o{count};
    $self->_read_until(sub { defined $want && @{ $_[0]{messages} } >= $want }, $o{wait} // 0.5);
    my @m = @{ $self->{messages} };
    $self->{messages} = [];
    return @m;
}

sub close { close $_[0]{sock} }

1;
