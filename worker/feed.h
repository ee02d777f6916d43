#ifndef MW_FEED_H
#define MW_FEED_H

/* Home feeds in Redis (ARCHITECTURE.md, "Home feeds"): writes to many feeds
 * at once, as Lua scripts over up to FEED_CALL_ENTRIES feeds per call, the
 * calls pipelined.  Every operation is idempotent, so a job that dies half
 * way through can simply run again. */

#include <hiredis/hiredis.h>
#include <libpq-fe.h>

#define FEED_PREFIX        "mastodon:feed:home:"
/* the accounts whose home feed exists, as far as the fan-out knows
 * (feed_push.h): a set, dropped with the feeds when Redis loses them */
#define FEED_ACTIVE_KEY    "mastodon:feeds:home"
#define FEED_LIST_PREFIX   "mastodon:feed:list:"    /* Mastodon's feed:list:<id> */
#define FEED_CALL_ENTRIES  256      /* feeds per script call */
#define FEED_REBLOG_FALLOFF 40      /* Mastodon's REBLOG_FALLOFF */

typedef enum {
    FEED_ADD,       /* insert (reblog rule, trim), `update` event if new */
    FEED_TOUCH,     /* `status.update` event where the status is in the feed */
    FEED_REMOVE,    /* remove (and its reblog tracking), `delete` event if it was there */
} feed_op;

typedef struct {
    char feed[48];
    char reblogs[56];
    char status_id[24];
    char reblog_of_id[24];          /* "" when not a reblog */
} feed_entry;

typedef struct {
    redisContext *c;
    feed_op       op;
    const char   *event_key;        /* holds the event text (ADD, TOUCH) */
    int           publish;          /* publish events on timeline:<account id> */
    char          max[24];
    int           n;                /* entries of the call being built */
    feed_entry    entries[FEED_CALL_ENTRIES];
    int           pending;          /* calls sent, replies not read yet */
    long long     changed;          /* feeds the status was added to / found in / removed from */
    char          error[256];       /* first error, kept until collect */
} feed_batch;

/* Loads the scripts (SCRIPT LOAD) on c.  0 or -1 + err. */
int  feed_scripts_load(redisContext *c, char *err, size_t errlen);

void feed_batch_init(feed_batch *b, redisContext *c, feed_op op, const char *event_key,
                     int publish, long max);

/* Queues the status (reblog_of_id "" when not a reblog) for the account's
 * feed; a full call is appended to the connection's output buffer (not
 * written yet). */
void feed_batch_add(feed_batch *b, const char *account_id, const char *status_id,
                    const char *reblog_of_id);

/* The same for another feed than a home one: prefix (FEED_LIST_PREFIX)
 * and its id. */
void feed_batch_add_to(feed_batch *b, const char *prefix, const char *id, const char *status_id,
                       const char *reblog_of_id);

/* Writes every queued call to Redis without waiting for replies, so the
 * caller can do something else (the next page of followers) meanwhile.
 * 0 or -1 + err. */
int  feed_batch_send(feed_batch *b, char *err, size_t errlen);

/* Sends what is left and reads every reply.  0 or -1 + err. */
int  feed_batch_collect(feed_batch *b, char *err, size_t errlen);

/* One account's feed, each row of rows (status id, reblog_of_id or "")
 * through op: the scripts loaded, one batch.  *changed as the batch's.
 * 0 or -1 + err. */
int  feed_write_rows(redisContext *c, feed_op op, int publish, long max, const char *account_id,
                     const PGresult *rows, long long *changed, char *err, size_t errlen);

/* feed_write_rows for the feed prefix + id. */
int  feed_write_rows_to(redisContext *c, feed_op op, int publish, long max, const char *prefix,
                        const char *id, const PGresult *rows, long long *changed,
                        char *err, size_t errlen);

#endif
