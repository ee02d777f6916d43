/* Plain-command pushes of an original status into home feeds (feed_push.h).
 * The decisions are feed.c's add script's for an original: only a feed
 * that exists, not when `:reblogs` holds the status (a reblog of it is
 * shown), trimmed to the sentinel and feed_max statuses, an `update` on
 * timeline:<account id> where it was added and the channel has a
 * subscriber.  A batch costs Redis one SMISMEMBER, a ZADD per known feed
 * (what a raw pipelined ZADD costs), a trim now and then, and a read only
 * for the feeds it does not know yet.
 *
 * The pipeline (feed_push.h): the connection carries, in this order, the
 * PUBLISHes of the batch written before, the writes of one batch and the
 * reads of the next; each step reads them in that order and queues the
 * next ones. */
#include "feed_push.h"
#include "feed.h"
#include "feed_known.h"
#include "log.h"
#include "stream.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_PUSH_KEY_LEN  64

/* state of a feed of the batch */
#define PUSH_KNOWN    0x01          /* in FEED_ACTIVE_KEY */
#define PUSH_TRACKED  0x02          /* `:reblogs` holds the status: not added */
#define PUSH_FOUND    0x04          /* not known, but its ZCARD > 0 */
#define PUSH_TRIM     0x08          /* trimmed after the ZADD */
#define PUSH_ADDED    0x10          /* the ZADD added it */
#define PUSH_HEARD    0x20          /* timeline:<account id> has a subscriber */
#define PUSH_CACHED   0x40          /* remembered by this process (feed_known.h) */
#define PUSH_LEARNT   0x80          /* in FEED_ACTIVE_KEY, by its answer: remembered */

void feed_push_init(feed_push *p, redisContext *c, const char *event, size_t event_len,
                    long max, const char *status_id)
{
    memset(p, 0, sizeof(*p));
    p->c = c;
    p->event = event;
    p->event_len = event_len;
    p->publish = event != NULL;
    p->max = max;
    snprintf(p->max1, sizeof(p->max1), "%ld", -(max + 1));
    p->status_id = status_id;
    p->status_mix = strtoull(status_id, NULL, 10) * 0xc2b2ae3d27d4eb4fULL;
}

/* v in decimal at d; its length */
static size_t put_uint(char *d, size_t v)
{
    char tmp[24];
    size_t n = 0, len;

    do {
        tmp[n++] = (char) ('0' + v % 10);
        v /= 10;
    } while (v > 0);
    len = n;
    while (n > 0)
        *d++ = tmp[--n];
    return len;
}

/* Writes what is queued, without waiting for the replies. */
static int flush(feed_push *p, char *err, size_t errlen)
{
    int done = 0;

    if (p->out_len > 0) {
        if (redisAppendFormattedCommand(p->c, p->out, p->out_len) != REDIS_OK) {
            snprintf(err, errlen, "redis: cannot queue a command: %s", p->c->errstr);
            return -1;
        }
        p->out_len = 0;
    }
    while (!done) {
        if (redisBufferWrite(p->c, &done) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", p->c->errstr);
            return -1;
        }
    }
    return 0;
}

/* RESP of one command onto p->out, without printf: hiredis' own
 * formatting costs more than the ZADD it sends.  Written out every
 * FEED_PUSH_FLUSH_BYTES, so that Redis starts on a batch while the rest
 * of it is queued. */
static int queue(feed_push *p, int argc, const char **argv, const size_t *lens,
                 char *err, size_t errlen)
{
    size_t need = 16;
    char *o;

    for (int i = 0; i < argc; i++)
        need += lens[i] + 24;
    if (p->out_len >= FEED_PUSH_FLUSH_BYTES && flush(p, err, errlen) != 0)
        return -1;
    if (p->out_len + need > p->out_cap) {
        size_t cap = p->out_cap > 0 ? 2 * p->out_cap : 2 * FEED_PUSH_FLUSH_BYTES;
        while (cap < p->out_len + need)
            cap *= 2;
        o = realloc(p->out, cap);
        if (o == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->out = o;
        p->out_cap = cap;
    }
    o = p->out + p->out_len;
    *o++ = '*';
    o += put_uint(o, (size_t) argc);
    *o++ = '\r';
    *o++ = '\n';
    for (int i = 0; i < argc; i++) {
        *o++ = '$';
        o += put_uint(o, lens[i]);
        *o++ = '\r';
        *o++ = '\n';
        memcpy(o, argv[i], lens[i]);
        o += lens[i];
        *o++ = '\r';
        *o++ = '\n';
    }
    p->out_len = (size_t) (o - p->out);
    p->outstanding++;
    return 0;
}

static int queue_feed(feed_push *p, const char *cmd, const char *suffix, const char *account,
                      const char *a1, const char *a2, char *err, size_t errlen)
{
    char key[FEED_PUSH_KEY_LEN];
    const char *argv[4] = { cmd, key, a1, a2 };
    size_t lens[4], alen = strnlen(account, 24), slen = strlen(suffix);
    int argc = a1 == NULL ? 2 : a2 == NULL ? 3 : 4;

    memcpy(key, FEED_PREFIX, sizeof(FEED_PREFIX) - 1);
    memcpy(key + sizeof(FEED_PREFIX) - 1, account, alen);
    memcpy(key + sizeof(FEED_PREFIX) - 1 + alen, suffix, slen);
    lens[1] = sizeof(FEED_PREFIX) - 1 + alen + slen;
    lens[0] = strlen(cmd);
    for (int i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return queue(p, argc, argv, lens, err, errlen);
}

/* SMISMEMBER or SADD of FEED_ACTIVE_KEY with `first` (when given) and the
 * batch's accounts that have every bit of `with` in their state (with 0:
 * all) and none of `without`. */
static int queue_set(feed_push *p, const feed_push_batch *b, const char *cmd, const char *first,
                     unsigned char with, unsigned char without, char *err, size_t errlen)
{
    int argc = 2;
    const char **argv = malloc((size_t) (b->n + 3) * sizeof(*argv));
    size_t *lens = malloc((size_t) (b->n + 3) * sizeof(*lens));
    int rc = -1;

    if (argv == NULL || lens == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    argv[0] = cmd;
    lens[0] = strlen(cmd);
    argv[1] = FEED_ACTIVE_KEY;
    lens[1] = sizeof(FEED_ACTIVE_KEY) - 1;
    if (first != NULL) {
        argv[argc] = first;
        lens[argc++] = strlen(first);
    }
    for (int i = 0; i < b->n; i++) {
        if ((b->state[i] & with) != with || (b->state[i] & without))
            continue;
        argv[argc] = b->accounts[i];
        lens[argc++] = strlen(b->accounts[i]);
    }
    rc = argc > 2 ? queue(p, argc, argv, lens, err, errlen) : 0;
done:
    free(argv);
    free(lens);
    return rc;
}

/* PUBSUB NUMSUB of the batch's timeline:<account id> channels. */
static int queue_numsub(feed_push *p, const feed_push_batch *b, char *err, size_t errlen)
{
    int rc = -1;
    const char **argv = malloc((size_t) (b->n + 2) * sizeof(*argv));
    size_t *lens = malloc((size_t) (b->n + 2) * sizeof(*lens));
    char (*channels)[40] = malloc((size_t) b->n * sizeof(*channels));

    if (argv == NULL || lens == NULL || channels == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    argv[0] = "PUBSUB";
    argv[1] = "NUMSUB";
    lens[0] = 6;
    lens[1] = 6;
    for (int i = 0; i < b->n; i++) {
        size_t alen = strnlen(b->accounts[i], sizeof(b->accounts[0]));
        memcpy(channels[i], "timeline:", 9);
        memcpy(channels[i] + 9, b->accounts[i], alen);
        argv[2 + i] = channels[i];
        lens[2 + i] = 9 + alen;
    }
    rc = queue(p, b->n + 2, argv, lens, err, errlen);
done:
    free(argv);
    free(lens);
    free(channels);
    return rc;
}

/* The next reply. */
static redisReply *reply(feed_push *p, char *err, size_t errlen)
{
    redisReply *r = NULL;

    if (redisGetReply(p->c, (void **) &r) != REDIS_OK || r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        return NULL;
    }
    p->outstanding--;
    if (r->type == REDIS_REPLY_ERROR && p->rerr[0] == '\0')
        snprintf(p->rerr, sizeof(p->rerr), "redis: feed write: %s", r->str);
    return r;
}

/* Reads n replies (an error reply goes into p->rerr). */
static int drain(feed_push *p, long n, char *err, size_t errlen)
{
    while (n-- > 0) {
        redisReply *r = reply(p, err, errlen);
        if (r == NULL)
            return -1;
        freeReplyObject(r);
    }
    return 0;
}

int feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen)
{
    feed_push_batch *b = &p->batch[p->gather];

    if (b->n == b->cap) {
        int cap = b->cap > 0 ? 2 * b->cap : 1024;
        void *a = realloc(b->accounts, (size_t) cap * sizeof(*b->accounts));
        if (a != NULL)
            b->accounts = a;
        void *s = realloc(b->state, (size_t) cap);
        if (s != NULL)
            b->state = s;
        if (a == NULL || s == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        b->cap = cap;
    }
    size_t len = strnlen(account_id, sizeof(b->accounts[0]) - 1);
    memcpy(b->accounts[b->n], account_id, len);
    b->accounts[b->n][len] = '\0';
    b->state[b->n] = 0;
    b->n++;
    return 0;
}

/* The batch's reads: the set membership, the channels' listeners,
 * `:reblogs` when asked. */
static int queue_reads(feed_push *p, feed_push_batch *b, char *err, size_t errlen)
{
    const char *token = feed_known_token();

    /* the accounts remembered are not asked; the token and the epoch say
     * whether what is remembered still holds */
    b->known_version = feed_known_lookup(b->accounts, b->n, b->state, PUSH_CACHED);
    b->token_added = feed_known_token_wanted();
    if (b->token_added) {
        const char *argv[3] = { "SADD", FEED_ACTIVE_KEY, token };
        size_t lens[3] = { 4, sizeof(FEED_ACTIVE_KEY) - 1, strlen(token) };
        if (queue(p, 3, argv, lens, err, errlen) != 0)
            return -1;
    }
    if (queue_set(p, b, "SMISMEMBER", token, 0, PUSH_CACHED, err, errlen) != 0)
        return -1;
    {
        const char *argv[2] = { "GET", FEED_KNOWN_EPOCH_KEY };
        size_t lens[2] = { 3, sizeof(FEED_KNOWN_EPOCH_KEY) - 1 };
        if (queue(p, 2, argv, lens, err, errlen) != 0)
            return -1;
    }
    p->feeds_asked += b->n;
    if (p->publish) {
        b->heard_by = p->list_held ? FEED_HEARD_LIST
                      : p->list_wanted ? FEED_HEARD_CHANNELS : FEED_HEARD_NUMSUB;
        b->channels_count = 0;
        if (b->heard_by == FEED_HEARD_CHANNELS) {
            const char *argv[3] = { "PUBSUB", "CHANNELS", STREAM_HOME_CHANNELS };
            size_t lens[3] = { 6, 8, sizeof(STREAM_HOME_CHANNELS) - 1 };
            if (queue(p, 3, argv, lens, err, errlen) != 0)
                return -1;
            p->list_wanted = 0;
        } else if (b->heard_by == FEED_HEARD_NUMSUB) {
            if (queue_numsub(p, b, err, errlen) != 0)
                return -1;
            if (++p->numsub_batches == FEED_PUSH_NUMSUB_BATCHES) {
                const char *argv[2] = { "INFO", "stats" };
                size_t lens[2] = { 4, 5 };
                if (queue(p, 2, argv, lens, err, errlen) != 0)
                    return -1;
                b->channels_count = 1;
            }
        }
    }
    for (int i = 0; b->check_reblogs && i < b->n; i++) {
        if (queue_feed(p, "ZSCORE", ":reblogs", b->accounts[i], p->status_id, NULL, err,
                       errlen) != 0)
            return -1;
    }
    return 0;
}

static int id_cmp(const void *a, const void *b)
{
    unsigned long long x = *(const unsigned long long *) a, y = *(const unsigned long long *) b;

    return x < y ? -1 : x > y;
}

/* The list of the accounts listening, from PUBSUB CHANNELS' reply. */
static int heard_list(feed_push *p, const redisReply *r, char *err, size_t errlen)
{
    p->heard_n = 0;
    p->list_held = 1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
        mlog(LOG_DEBUG, "fan-out of %s: no account listening", p->status_id);
        return 0;
    }
    p->heard = malloc(r->elements * sizeof(*p->heard));
    if (p->heard == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *ch = r->element[i];
        const char *id;
        if (ch->type == REDIS_REPLY_STRING && stream_home_channel_id(ch->str, ch->len, &id) > 0)
            p->heard[p->heard_n++] = strtoull(id, NULL, 10);
    }
    qsort(p->heard, p->heard_n, sizeof(*p->heard), id_cmp);
    mlog(LOG_DEBUG, "fan-out of %s: %zu account(s) listening, looked up from now on",
         p->status_id, p->heard_n);
    return 0;
}

/* Who listens to the batch's feeds: NUMSUB's counts, or the list (asked
 * now, or before); and with the last NUMSUB how many channels Redis has. */
static int read_heard(feed_push *p, feed_push_batch *b, char *err, size_t errlen)
{
    redisReply *r = NULL;

    if (b->heard_by != FEED_HEARD_LIST && (r = reply(p, err, errlen)) == NULL)
        return -1;
    if (b->heard_by == FEED_HEARD_NUMSUB) {
        for (int i = 0; r->type == REDIS_REPLY_ARRAY && i < b->n
                        && (size_t) (2 * i + 1) < r->elements; i++) {
            redisReply *subs = r->element[2 * i + 1];
            if (subs->type == REDIS_REPLY_INTEGER && subs->integer > 0)
                b->state[i] |= PUSH_HEARD;
        }
    } else {
        if (b->heard_by == FEED_HEARD_CHANNELS && heard_list(p, r, err, errlen) != 0) {
            freeReplyObject(r);
            return -1;
        }
        for (int i = 0; p->heard_n > 0 && i < b->n; i++) {
            unsigned long long id = strtoull(b->accounts[i], NULL, 10);
            if (bsearch(&id, p->heard, p->heard_n, sizeof(id), id_cmp) != NULL)
                b->state[i] |= PUSH_HEARD;
        }
    }
    freeReplyObject(r);
    if (b->channels_count) {
        if ((r = reply(p, err, errlen)) == NULL)
            return -1;
        const char *n = r->type == REDIS_REPLY_STRING ? strstr(r->str, "\npubsub_channels:")
                                                      : NULL;
        if (n != NULL && strtol(n + 17, NULL, 10) <= p->feeds_asked)
            p->list_wanted = 1;
        freeReplyObject(r);
    }
    return 0;
}

/* The replies of queue_reads(): every one, even after an error, to stay
 * in step. */
static int read_reads(feed_push *p, feed_push_batch *b, char *err, size_t errlen)
{
    redisReply *known, *epoch;
    size_t asked = 1;

    if (b->token_added && drain(p, 1, err, errlen) != 0)
        return -1;
    if ((known = reply(p, err, errlen)) == NULL)
        return -1;
    if ((epoch = reply(p, err, errlen)) == NULL) {
        freeReplyObject(known);
        return -1;
    }
    for (int i = 0; i < b->n; i++)
        asked += !(b->state[i] & PUSH_CACHED);
    if (known->type == REDIS_REPLY_ARRAY && known->elements == asked) {
        int token = known->element[0]->type == REDIS_REPLY_INTEGER
                    && known->element[0]->integer == 1;
        b->known_held = feed_known_confirm(b->known_version, token,
                                           epoch->type == REDIS_REPLY_STRING ? epoch->str : NULL,
                                           epoch->type == REDIS_REPLY_STRING ? epoch->len : 0);
        for (int i = 0, k = 1; i < b->n; i++) {
            if (b->state[i] & PUSH_CACHED) {
                /* not confirmed: asked as a feed not known (ZCARD) */
                b->state[i] &= (unsigned char) ~PUSH_CACHED;
                if (b->known_held)
                    b->state[i] |= PUSH_KNOWN;
                continue;
            }
            redisReply *e = known->element[k++];
            if (e->type == REDIS_REPLY_INTEGER && e->integer == 1)
                b->state[i] |= PUSH_KNOWN | PUSH_LEARNT;
        }
        if (b->known_held)
            feed_known_add(b->known_version, b->accounts, b->state, PUSH_LEARNT, b->n);
    } else if (p->rerr[0] == '\0') {
        snprintf(p->rerr, sizeof(p->rerr), "redis: feed set: not an array of the batch");
    }
    freeReplyObject(known);
    freeReplyObject(epoch);
    if (p->publish) {
        if (read_heard(p, b, err, errlen) != 0)
            return -1;
    }
    for (int i = 0; b->check_reblogs && i < b->n; i++) {
        redisReply *tracked = reply(p, err, errlen);
        if (tracked == NULL)
            return -1;
        if (tracked->type != REDIS_REPLY_NIL)
            b->state[i] |= PUSH_TRACKED;
        freeReplyObject(tracked);
    }
    return 0;
}

/* Whether this status trims this known feed: about one time in
 * FEED_TRIM_EVERY, spread over feeds so that a batch's trims are too. */
static int trim_turn(const char *account_id, uint64_t status_mix)
{
    uint64_t h = strtoull(account_id, NULL, 10) * 0x9e3779b97f4a7c15ULL ^ status_mix;

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h % FEED_TRIM_EVERY == 0;
}

/* ZADD of the status into feed i, and its trim when flagged. */
static int queue_write(feed_push *p, feed_push_batch *b, int i, char *err, size_t errlen)
{
    if (queue_feed(p, "ZADD", "", b->accounts[i], p->status_id, p->status_id, err, errlen) != 0)
        return -1;
    if ((b->state[i] & PUSH_TRIM)
        && queue_feed(p, "ZREMRANGEBYRANK", "", b->accounts[i], "1", p->max1, err, errlen) != 0)
        return -1;
    return 0;
}

/* The replies of queue_write() for feed i. */
static int collect_write(feed_push *p, feed_push_batch *b, int i, char *err, size_t errlen)
{
    redisReply *r = reply(p, err, errlen);

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        b->state[i] |= PUSH_ADDED;
        p->changed++;
    }
    freeReplyObject(r);
    return (b->state[i] & PUSH_TRIM) ? drain(p, 1, err, errlen) : 0;
}

/* The event to the channels of the batch's feeds the status went into
 * that have a subscriber: queued, read at the next step. */
static int queue_publishes(feed_push *p, const feed_push_batch *b, char *err, size_t errlen)
{
    char channel[40];

    for (int i = 0; p->publish && i < b->n; i++) {
        if ((b->state[i] & (PUSH_ADDED | PUSH_HEARD)) != (PUSH_ADDED | PUSH_HEARD))
            continue;
        int clen = snprintf(channel, sizeof(channel), "timeline:%s", b->accounts[i]);
        const char *argv[3] = { "PUBLISH", channel, p->event };
        size_t lens[3] = { 7, (size_t) clen, p->event_len };
        if (queue(p, 3, argv, lens, err, errlen) != 0)
            return -1;
        p->publishes++;
    }
    return 0;
}

/* A batch with feeds the set does not know: the known ones written
 * blind, the others read (ZCARD), then those found written and added to
 * the set, each a round trip; its PUBLISHes queued.  Nothing else is on
 * the wire but the PUBLISHes queued before. */
static int write_alone(feed_push *p, feed_push_batch *b, char *err, size_t errlen)
{
    int found = 0;

    for (int i = 0; i < b->n; i++) {
        if (b->state[i] & PUSH_TRACKED)
            continue;
        if (b->state[i] & PUSH_KNOWN) {
            if (trim_turn(b->accounts[i], p->status_mix))
                b->state[i] |= PUSH_TRIM;
            if (queue_write(p, b, i, err, errlen) != 0)
                return -1;
        } else if (queue_feed(p, "ZCARD", "", b->accounts[i], NULL, NULL, err, errlen) != 0) {
            return -1;
        }
    }
    if (flush(p, err, errlen) != 0 || drain(p, p->publishes, err, errlen) != 0)
        return -1;
    p->publishes = 0;
    for (int i = 0; i < b->n; i++) {
        if (b->state[i] & PUSH_TRACKED)
            continue;
        if (b->state[i] & PUSH_KNOWN) {
            if (collect_write(p, b, i, err, errlen) != 0)
                return -1;
            continue;
        }
        redisReply *card = reply(p, err, errlen);
        if (card == NULL)
            return -1;
        if (card->type == REDIS_REPLY_INTEGER && card->integer > 0) {
            b->state[i] |= PUSH_FOUND;
            /* over feed_max once added: ranks 1 to -(max+1) go, rank 0 the sentinel */
            if (card->integer + 1 > p->max + 1)
                b->state[i] |= PUSH_TRIM;
            found++;
        }
        freeReplyObject(card);
    }
    if (p->rerr[0] != '\0')
        return -1;

    /* the feeds found: written, and known from now on */
    if (found > 0) {
        for (int i = 0; i < b->n; i++) {
            if ((b->state[i] & PUSH_FOUND) && queue_write(p, b, i, err, errlen) != 0)
                return -1;
        }
        if (queue_set(p, b, "SADD", NULL, PUSH_FOUND, 0, err, errlen) != 0
            || flush(p, err, errlen) != 0)
            return -1;
        for (int i = 0; i < b->n; i++) {
            if ((b->state[i] & PUSH_FOUND) && collect_write(p, b, i, err, errlen) != 0)
                return -1;
        }
        if (drain(p, 1, err, errlen) != 0 || p->rerr[0] != '\0')
            return -1;
        if (b->known_held)
            feed_known_add(b->known_version, b->accounts, b->state, PUSH_FOUND, b->n);
    }
    return queue_publishes(p, b, err, errlen);
}

/* One step: the PUBLISHes and the writes on the wire read (the written
 * batch's PUBLISHes queued), the asked batch's reads read and its writes
 * queued, then `next`'s reads (when given); all of it written out. */
static int step(feed_push *p, feed_push_batch *next, char *err, size_t errlen)
{
    feed_push_batch *w = p->written, *a = p->asked;

    if (drain(p, p->publishes, err, errlen) != 0)
        return -1;
    p->publishes = 0;
    if (w != NULL) {
        for (int i = 0; i < w->n; i++) {
            if ((w->state[i] & (PUSH_KNOWN | PUSH_TRACKED)) == PUSH_KNOWN
                && collect_write(p, w, i, err, errlen) != 0)
                return -1;
        }
        if (p->rerr[0] != '\0' || queue_publishes(p, w, err, errlen) != 0)
            return -1;
        w->n = 0;
        p->written = NULL;
    }
    if (a != NULL) {
        int all_known = 1;

        if (read_reads(p, a, err, errlen) != 0 || p->rerr[0] != '\0')
            return -1;
        p->asked = NULL;
        for (int i = 0; i < a->n && all_known; i++)
            all_known = (a->state[i] & (PUSH_KNOWN | PUSH_TRACKED)) != 0;
        if (!all_known) {
            if (write_alone(p, a, err, errlen) != 0)
                return -1;
            a->n = 0;
        } else {
            for (int i = 0; i < a->n; i++) {
                if (a->state[i] & PUSH_TRACKED)
                    continue;
                if (trim_turn(a->accounts[i], p->status_mix))
                    a->state[i] |= PUSH_TRIM;
                if (queue_write(p, a, i, err, errlen) != 0)
                    return -1;
            }
            p->written = a;
        }
    }
    if (next != NULL) {
        if (queue_reads(p, next, err, errlen) != 0)
            return -1;
        p->asked = next;
    }
    return flush(p, err, errlen);
}

int feed_push_send(feed_push *p, int last, char *err, size_t errlen)
{
    feed_push_batch *b = &p->batch[p->gather];

    if (last)
        p->last = 1;
    if (b->n == 0 || (!last && b->n < FEED_PUSH_BATCH))
        return 0;
    b->check_reblogs = p->check_reblogs;
    p->check_reblogs = 0;
    if (step(p, b, err, errlen) != 0)
        goto failed;
    /* the batch written before is read: its slot gathers the next one */
    p->gather = (p->gather + 1) % 3;
    return 0;
failed:
    if (p->rerr[0] != '\0')
        snprintf(err, errlen, "%s", p->rerr);
    return -1;
}

int feed_push_sync(feed_push *p, char *err, size_t errlen)
{
    while (p->asked != NULL || p->written != NULL || p->publishes > 0) {
        if (step(p, NULL, err, errlen) != 0) {
            if (p->rerr[0] != '\0')
                snprintf(err, errlen, "%s", p->rerr);
            return -1;
        }
    }
    return 0;
}

int feed_push_finish(feed_push *p, char *err, size_t errlen)
{
    return p->last ? feed_push_sync(p, err, errlen) : 0;
}

void feed_push_free(feed_push *p)
{
    char err[256];

    /* a failed walk: what is on the wire is read, the connection kept */
    if (p->outstanding > 0 && p->c->err == 0 && flush(p, err, sizeof(err)) == 0)
        (void) drain(p, p->outstanding, err, sizeof(err));
    for (int i = 0; i < 3; i++) {
        free(p->batch[i].accounts);
        free(p->batch[i].state);
    }
    free(p->out);
    free(p->heard);
    memset(p, 0, sizeof(*p));
}
