#!/usr/bin/perl
# Self-test of t/lib/MastodonTest.pm's end: a file that ends with its own
# done_testing (never $t->done) is stopped at its END like one that calls
# done, and its directory is removed when it passed; a failing one, or one
# that died, keeps its directory for scripts/test.sh to print.  Each case is
# a small test file run by perl, as prove would.
use strict;
use warnings;
use Test::More;
use MastodonTest;
use File::Path qw(remove_tree);

my $t = MastodonTest->new(nginx => 0, worker => 0);
my $dir = $t->dir;
my $lib = "$MastodonTest::ROOT/t/lib";

# runs a test file whose body is $body; -> (exit status, its dir, its redis pid)
sub run_file {
    my ($name, $body) = @_;
    my $file = "$dir/$name.t";
    open my $fh, '>', $file or die "$file: $!";
    print $fh qq{use strict; use warnings; use lib '$lib'; use Test::More; use MastodonTest;\n}
        . qq{my \$t = MastodonTest->new(nginx => 0, worker => 0);\n}
        . qq{print "# dir ", \$t->{standalone_var} // \$t->{dir}, " \$t->{redis_pid}\\n";\n}
        . $body;
    close $fh;
    my $out = qx{$^X $file 2>&1};
    my $status = $? >> 8;
    my ($d, $pid) = $out =~ /^# dir (\S+) (\d+)$/m or diag $out;
    return ($status, $d, $pid);
}

sub gone { my ($pid) = @_; $t->wait_for(sub { !kill(0, $pid) }, 10) }

my ($st, $d, $pid) = run_file('passes', "ok(1, 'one'); done_testing;\n");
is($st, 0, 'a passing file without $t->done exits 0');
ok($d && !-e $d, '... and its directory is removed');
ok($pid && gone($pid), '... its Redis stopped');

# the kept ones are removed here: this file passing, they are no failure's
for (['fails', "ok(1, 'one'); ok(0, 'two'); done_testing;\n", 'a failing file'],
     ['dies', "ok(1, 'one'); die qq{on purpose\\n};\n", 'a file that died'],
     ['short', "plan tests => 2; ok(1, 'one');\n", 'a file that stopped short of its plan'])
{
    my ($name, $body, $what) = @$_;
    ($st, $d, $pid) = run_file($name, $body);
    isnt($st, 0, "$what exits non-zero");
    ok($d && -d $d, '... and keeps its directory');
    ok($pid && gone($pid), '... its Redis stopped');
    remove_tree($d) if $d;
}

$t->done;
