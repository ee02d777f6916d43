#ifndef MW_FEED_PUSH_H
#define MW_FEED_PUSH_H

/* A new original status (not a reblog) into many home feeds with plain
 * commands, pipelined, a page of followers at a time.  Which feeds exist
 * is known without reading them: FEED_ACTIVE_KEY, the set of accounts
 * whose home feed the worker has seen, asked once per page (SMISMEMBER)
 * about the accounts this process does not remember yet (feed_known.h).
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
 * Redis is asked */
#define FEED_PUSH_BATCH  2000

/* The batches are pipelined: while Redis writes one batch's feeds it
 * already has the next one's reads, and the worker reads the replies of
 * one while it queues the other's commands (written as they are queued,
 * FEED_PUSH_FLUSH_BYTES at a time), so neither waits for the other.  A
 * batch with feeds the set does not know yet is done alone, its reads,
 * writes and the set's SADD each a round trip (once per feed and account). */
#define FEED_PUSH_FLUSH_BYTES  65536

/* Who listens (timeline:<id> has a subscriber) is asked per batch (PUBSUB
 * NUMSUB of its channels, a lookup and a reply per feed) for the first
 * FEED_PUSH_NUMSUB_BATCHES batches; with them Redis tells how many
 * channels it has (INFO stats), and when they are no more than the feeds
 * asked so far, the rest of the walk asks once for the home channels
 * (PUBSUB CHANNELS, a cost bounded by the NUMSUBs already paid) and looks
 * the feeds up in that list.  A user stream opened meanwhile misses the
 * event, as one opened just after the walk. */
#define FEED_PUSH_NUMSUB_BATCHES  2

typedef struct {
    char        (*accounts)[24];    /* the feeds of this batch */
    unsigned char *state;           /* per feed, feed_push.c */
    int           n, cap;
    int           check_reblogs;    /* read `:reblogs` first */
    int           heard_by;         /* FEED_HEARD_*: how its listeners are known */
    int           channels_count;   /* its reads ask INFO stats */
    unsigned      known_version;    /* feed_known.h: what its lookups saw */
    int           known_held;       /* ... confirmed by its reads */
    int           token_added;      /* its reads add this process' token first */
} feed_push_batch;

#define FEED_HEARD_NUMSUB    0      /* PUBSUB NUMSUB of its channels */
#define FEED_HEARD_CHANNELS  1      /* PUBSUB CHANNELS: the list, then as below */
#define FEED_HEARD_LIST      2      /* looked up in the list */

typedef struct {
    redisContext *c;
    int           publish;
    long          max;
    char          max1[24];         /* -(max + 1): the trim's end rank */
    const char   *status_id;
    unsigned long long status_mix;  /* the status' share of trim_turn() */
    feed_push_batch batch[3];       /* gathered, asked (reads sent), written */
    int           gather;           /* the batch being gathered */
    feed_push_batch *asked;         /* its reads on the wire, or NULL */
    feed_push_batch *written;       /* its writes on the wire, or NULL */
    long          publishes;        /* PUBLISH replies on the wire before the writes' */
    long          outstanding;      /* replies on the wire, not read yet */
    int           last;             /* the last batch is sent */
    int           check_reblogs;    /* the batch being gathered: read `:reblogs` first */
    long          feeds_asked;      /* feeds whose reads were sent */
    int           numsub_batches;   /* batches asked with PUBSUB NUMSUB */
    int           list_wanted;      /* few channels: the next reads ask for the list */
    int           list_held;        /* heard holds it */
    unsigned long long *heard;      /* the accounts listening, sorted */
    size_t        heard_n;
    long long     changed;          /* feeds the status was added to */
    const char   *event;            /* the event text, NULL: none published */
    size_t        event_len;
    char         *out;              /* RESP of the commands being queued */
    size_t        out_len, out_cap;
    char          rerr[256];        /* the first error reply */
} feed_push;

/* event: the text published where the status is added (not copied), or
 * NULL. */
void feed_push_init(feed_push *p, redisContext *c, const char *event, size_t event_len,
                    long max, const char *status_id);

/* Adds the account's feed to the batch being gathered.  0 or -1 + err. */
int  feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen);

/* Once FEED_PUSH_BATCH feeds are gathered, or for the last of them: the
 * pipeline one step on (the replies of the batches before read, their
 * writes queued, this batch's reads sent), without waiting for this
 * batch's replies.  0 or -1 + err. */
int  feed_push_send(feed_push *p, int last, char *err, size_t errlen);

/* After the last send: every reply read, every feed written and the
 * events published (before it, nothing).  0 or -1 + err. */
int  feed_push_finish(feed_push *p, char *err, size_t errlen);

/* Every reply on the wire read, the feeds sent so far written and their
 * events published: the connection is free for other commands (the
 * batch being gathered stays).  0 or -1 + err. */
int  feed_push_sync(feed_push *p, char *err, size_t errlen);

/* Frees p; replies still on the wire (a failed walk) are read first, so
 * that the connection stays in step for the next job. */
void feed_push_free(feed_push *p);

#endif
