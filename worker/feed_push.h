#ifndef MW_FEED_PUSH_H
#define MW_FEED_PUSH_H

/* A new original status (not a reblog) into many home feeds with plain
 * commands, pipelined, in two round trips per page of followers: the
 * reads (ZCARD of the feed, ZSCORE of the status in its `:reblogs`), then
 * the writes where the rule of feed.c lets it in (ZADD, ZREMRANGEBYRANK
 * only for a feed over feed_max, one PUBSUB NUMSUB for the page's
 * channels, PUBLISH where someone listens).  Redis does what the ZADDs
 * alone cost and a read per feed, without a script's per-feed overhead.
 * The same decisions as feed.c's add script, but not atomic per feed: a
 * feed dropped between the two round trips comes back with this status
 * and no sentinel (rebuilt when read, as any feed without it). */

#include <hiredis/hiredis.h>

typedef struct {
    redisContext *c;
    const char   *event_key;        /* holds the event text */
    int           publish;
    long          max;
    const char   *status_id;
    char        (*accounts)[24];    /* the feeds of this page */
    int           n, cap;
    long long     changed;          /* feeds the status was added to */
    char         *event;            /* read once, when someone listens */
    size_t        event_len;
} feed_push;

void feed_push_init(feed_push *p, redisContext *c, const char *event_key, int publish, long max,
                    const char *status_id);

/* Queues the reads of the account's feed (appended to the connection's
 * output buffer, not written yet).  0 or -1 + err. */
int  feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen);

/* Writes the queued reads to Redis without waiting for replies. */
int  feed_push_send(feed_push *p, char *err, size_t errlen);

/* Reads the replies, writes the feeds that take the status and publishes
 * its event; ready for the next page.  0 or -1 + err. */
int  feed_push_finish(feed_push *p, char *err, size_t errlen);

void feed_push_free(feed_push *p);

#endif
