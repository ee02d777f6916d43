#ifndef MW_HEARTBEAT_H
#define MW_HEARTBEAT_H

/* Liveness of the entries a worker process holds (ARCHITECTURE.md, "Queue
 * semantics"): every entry read or claimed is registered here until it is
 * acknowledged or failed, and a thread of its own resets the idle time of
 * each one in Redis every claim_idle_ms / 5.  Other workers claim only
 * entries idle longer than claim_idle_ms: those of dead workers (and those
 * a live worker gave up), never a slow job of a live one. */

#include "config.h"

/* Starts the heartbeat thread.  0, or -1 (logged). */
int  heartbeat_start(const worker_config *cfg);

/* Stops it, after the job threads are gone. */
void heartbeat_stop(void);

/* 1 while heartbeats go through (the last round succeeded less than
 * claim_idle_ms / 2 ago): job threads read new entries only then, since an
 * entry nobody keeps alive would soon be claimed by another worker. */
int  heartbeat_healthy(void);

/* An entry now pending under consumer, or one we are done with. */
void heartbeat_hold(const char *consumer, const char *queue, const char *id);
void heartbeat_release(const char *queue, const char *id);

#endif
