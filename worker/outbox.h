#ifndef MW_OUTBOX_H
#define MW_OUTBOX_H

/* The outbox relay (ARCHITECTURE.md, "Job outbox"): the module writes jobs
 * into the table job_outbox in the same transaction as the rows they
 * concern; the relay moves them into the Redis streams in id order, then
 * deletes them (at-least-once: a crash in between XADDs them again).  One
 * relay at a time, by a session advisory lock, so the order holds. */

#include "config.h"

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#define OUTBOX_CHANNEL  "mastodon_outbox"
#define OUTBOX_BATCH    200
/* pg_advisory_lock key of the active relay */
#define OUTBOX_LOCK_KEY "7955459678257046639"

/* One pass: up to OUTBOX_BATCH rows, oldest first, XADDed in one pipeline,
 * then deleted.  The number moved, or -1 + err (rows not deleted stay for
 * the next pass; those XADDed already will be XADDed again). */
int outbox_relay_batch(PGconn *db, redisContext *c, char *err, size_t errlen);

/* The relay thread of `run`: waits for the lock, LISTENs, relays on every
 * NOTIFY and at least once a second, until *stop. */
int  outbox_relay_start(const worker_config *cfg, volatile int *stop);
void outbox_relay_join(void);

#endif
