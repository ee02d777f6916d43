package MastodonEntities;

# Checks a decoded JSON response against the documented entity tables in
# ../shared/mastodon-api/entities.tsv (derived from Mastodon's documentation):
# every attribute that may not be absent is present, has the documented JSON
# type, and is null only where null is allowed.
#
#   use MastodonEntities qw(entity_errors);
#   my @errors = entity_errors($json, 'Instance');
#   is_deeply(\@errors, [], 'Instance entity') or diag explain \@errors;

use strict;
use warnings;

use B ();
use Exporter qw(import);
use File::Basename qw(dirname);
use Cwd qw(abs_path);

our @EXPORT_OK = qw(entity_errors status_errors entity_attributes);

my $ROOT = abs_path(dirname(abs_path(__FILE__)) . '/../..');
my $TSV  = $ENV{MASTODON_API_TABLES} // "$ROOT/../shared/mastodon-api/entities.tsv";

my %ENTITY;      # name => [ { attribute, type, nullable, removed } ]
my %EXTENDS;     # name => parent

sub _load {
    return if %ENTITY;
    open my $fh, '<:encoding(UTF-8)', $TSV
        or die "MastodonEntities: cannot read $TSV (shared/mastodon-api beside the repo): $!\n";
    my $head = <$fh>;
    chomp $head;
    my @cols = split /\t/, $head;
    while (my $line = <$fh>) {
        chomp $line;
        my %r;
        @r{@cols} = split /\t/, $line, -1;
        push @{ $ENTITY{ $r{entity} } }, \%r;
        $EXTENDS{ $r{entity} } = $r{extends} if $r{extends};
    }
    close $fh;
}

sub entity_attributes {
    my ($name) = @_;
    _load();
    my @attrs = @{ $ENTITY{$name} // die "MastodonEntities: no entity $name\n" };
    push @attrs, entity_attributes($EXTENDS{$name}) if $EXTENDS{$name};
    return @attrs;
}

sub _is_number {
    my ($v) = @_;
    my $flags = B::svref_2object(\$v)->FLAGS;
    return ($flags & (B::SVp_IOK | B::SVp_NOK)) && !($flags & B::SVp_POK);
}

sub _is_bool { ref $_[0] && (ref $_[0]) =~ /Boolean/ }

# Does $v have the documented type $type?  (null handled by the caller)
sub _type_ok {
    my ($v, $type) = @_;
    if ($type =~ /^array-of-/) {
        return ref $v eq 'ARRAY';
    }
    if ($type =~ /\|/) {
        for my $t (split /\|/, $type) { return 1 if _type_ok($v, $t) }
        return 0;
    }
    return !ref $v && defined $v && !_is_number($v) if $type eq 'string';
    return !ref $v && defined $v && !_is_number($v) && $v =~ m{^[a-z][a-z0-9+.-]*://}i if $type eq 'url';
    return !ref $v && defined $v && $v =~ /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$/
        if $type eq 'datetime';
    return !ref $v && defined $v && $v =~ /^\d{4}-\d\d-\d\d$/ if $type eq 'date';
    return !ref $v && _is_number($v) && $v =~ /^-?\d+$/ if $type eq 'integer';
    return !ref $v && _is_number($v) if $type eq 'float' || $type eq 'number';
    return _is_bool($v) if $type eq 'boolean';
    return ref $v eq 'HASH' if $type eq 'hash';
    return 1 if $type eq 'null';
    # another entity
    return ref $v eq 'HASH';
}

# Follows "a[b][c]" (and "a[][b]" for arrays) in $json; returns the list of
# [value, exists] at that path (several for arrays).
sub _lookup {
    my ($json, $attr) = @_;
    my @keys = $attr =~ /^([^\[]+)/;
    push @keys, $attr =~ /\[([^\]]*)\]/g;
    my @cur = ([$json, 1]);
    for my $k (@keys) {
        my @next;
        for my $c (@cur) {
            my ($v, $exists) = @$c;
            next unless $exists && defined $v;
            if ($k eq '') {
                next unless ref $v eq 'ARRAY';
                push @next, map { [$_, 1] } @$v;
            } else {
                next unless ref $v eq 'HASH';
                push @next, [$v->{$k}, exists $v->{$k} ? 1 : 0];
            }
        }
        @cur = @next;
    }
    return @cur;
}

sub entity_errors {
    my ($json, $name) = @_;
    my @errors;
    return ("$name: not a JSON object") unless ref $json eq 'HASH';
    for my $a (entity_attributes($name)) {
        next if ($a->{removed} // '') eq 'yes';
        my $optional = ($a->{nullable} // '') eq 'optional';
        my $type = $a->{type};
        my $nullable_type = $type =~ s/^nullable-//;
        my $nullable = $optional || ($a->{nullable} // '') eq 'yes' || $nullable_type;
        for my $c (_lookup($json, $a->{attribute})) {
            my ($v, $exists) = @$c;
            if (!$exists) {
                push @errors, "$name.$a->{attribute}: missing" unless $optional;
                next;
            }
            if (!defined $v) {
                push @errors, "$name.$a->{attribute}: null" unless $nullable;
                next;
            }
            push @errors, "$name.$a->{attribute}: not of type $a->{type}" unless _type_ok($v, $type);
        }
    }
    return @errors;
}

# status_errors($json [, $name]): entity_errors($json, $name // 'Status') but a
# missing Status.text: Mastodon sends it only with the source (a delete,
# ?format=source), though the documentation has it always.
sub status_errors {
    my ($json, $name) = @_;
    return grep { $_ ne 'Status.text: missing' } entity_errors($json, $name // 'Status');
}

1;
