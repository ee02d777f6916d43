#ifndef MW_SCHEDULER_H
#define MW_SCHEDULER_H

#include <hiredis/hiredis.h>

/* Moves the members of mastodon:retry and mastodon:schedule that are due
 * back onto their streams.  Atomic per member (a Lua script pops and XADDs),
 * so any number of workers may run it at once.  Returns the number of jobs
 * moved, or -1 on a Redis error. */
int scheduler_run(redisContext *c);

#endif
