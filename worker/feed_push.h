#ifndef MW_FEED_PUSH_H
#define MW_FEED_PUSH_H

/* A new original status (not a reblog) into many home feeds with plain
 * commands, pipelined, a page of followers at a time.  Which feeds exist
 * is known without reading them: FEED_ACTIVE_KEY, the set of accounts
 * whose home feed the worker has seen, asked once per page (SMISMEMBER).
 * A known feed gets a blind ZADD, trimmed (ZREMRANGEBYRANK) one time in
 * FEED_TRIM_EVERY, spread over feeds and statuses; an account not in the
 * set has its feed read (ZCARD: a missing feed stays missing, an inactive
 * reader's), written and trimmed exactly if it exists, and is added to the
 * set.  Only when a reblog of the status exists (the page says so) is
 * `:reblogs` read first (ZSCORE: an original is not added where a reblog
 * of it is shown).  Then one PUBSUB NUMSUB for the page's channels, and
 * PUBLISH where someone listens.  The same decisions as feed.c's add
 * script, but not atomic per feed: a feed dropped while its account is in
 * the set comes back with this status and no sentinel (rebuilt when read,
 * as any feed without it). */

#include "feed.h"

#include <hiredis/hiredis.h>

/* a known feed is trimmed about once per so many statuses pushed to it:
 * it holds at most feed_max + 1 members after a trim, a few more between */
#define FEED_TRIM_EVERY  16

/* feeds per batch: pages of followers are gathered up to so many before
 * Redis is asked (each batch costs two round trips, and a loaded box
 * wakes the worker up late) */
#define FEED_PUSH_BATCH  2000

typedef struct {
    redisContext *c;
    const char   *event_key;        /* holds the event text */
    int           publish;
    long          max;
    const char   *status_id;
    char        (*accounts)[24];    /* the feeds of this page */
    unsigned char *state;           /* per feed of the page, feed_push.c */
    int           n, cap;
    int           check_reblogs;    /* this batch: read `:reblogs` first */
    int           sent;             /* the batch's reads are written */
    long long     changed;          /* feeds the status was added to */
    char         *event;            /* read once, when someone listens */
    size_t        event_len;
    char         *out;              /* RESP of the commands being queued */
    size_t        out_len, out_cap;
} feed_push;

void feed_push_init(feed_push *p, redisContext *c, const char *event_key, int publish, long max,
                    const char *status_id);

/* Adds the account's feed to the page.  0 or -1 + err. */
int  feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen);

/* Once FEED_PUSH_BATCH feeds are gathered, or for the last of them:
 * queues and writes the batch's reads (the set membership, the channels'
 * listeners, `:reblogs` when check_reblogs) without waiting for replies.
 * 0 or -1 + err. */
int  feed_push_send(feed_push *p, int last, char *err, size_t errlen);

/* After a send: reads the replies, writes the feeds that take the status
 * and publishes its event; ready for the next batch (else nothing).
 * 0 or -1 + err. */
int  feed_push_finish(feed_push *p, char *err, size_t errlen);

void feed_push_free(feed_push *p);

#endif
