/* Plain-command pushes of an original status into home feeds (feed_push.h).
 * The decisions are feed.c's add script's for an original: only a feed
 * that exists, not when `:reblogs` holds the status (a reblog of it is
 * shown), trimmed to the sentinel and feed_max statuses, an `update` on
 * timeline:<account id> where it was added and the channel has a
 * subscriber.  A page costs Redis one SMISMEMBER, a ZADD per known feed
 * (what a raw pipelined ZADD costs), a trim now and then, and a read only
 * for the feeds it does not know yet. */
#include "feed_push.h"
#include "feed.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FEED_PUSH_KEY_LEN  64

/* state of a feed of the page */
#define PUSH_KNOWN    0x01          /* in FEED_ACTIVE_KEY */
#define PUSH_TRACKED  0x02          /* `:reblogs` holds the status: not added */
#define PUSH_FOUND    0x04          /* not known, but its ZCARD > 0 */
#define PUSH_TRIM     0x08          /* trimmed after the ZADD */
#define PUSH_ADDED    0x10          /* the ZADD added it */
#define PUSH_HEARD    0x20          /* timeline:<account id> has a subscriber */

void feed_push_init(feed_push *p, redisContext *c, const char *event_key, int publish, long max,
                    const char *status_id)
{
    memset(p, 0, sizeof(*p));
    p->c = c;
    p->event_key = event_key;
    p->publish = publish && event_key != NULL;
    p->max = max;
    p->status_id = status_id;
}

void feed_push_free(feed_push *p)
{
    free(p->accounts);
    free(p->state);
    free(p->event);
    free(p->out);
    p->accounts = NULL;
    p->state = NULL;
    p->event = NULL;
    p->out = NULL;
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

/* RESP of one command onto p->out, without printf: hiredis' own
 * formatting costs more than the ZADD it sends. */
static int queue(feed_push *p, int argc, const char **argv, const size_t *lens,
                 char *err, size_t errlen)
{
    size_t need = 16;
    char *o;

    for (int i = 0; i < argc; i++)
        need += lens[i] + 24;
    if (p->out_len + need > p->out_cap) {
        size_t cap = p->out_cap > 0 ? 2 * p->out_cap : 65536;
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

/* SMISMEMBER or SADD of FEED_ACTIVE_KEY with the page's accounts that
 * have every bit of `with` in their state (with 0: all). */
static int queue_set(feed_push *p, const char *cmd, unsigned char with, char *err, size_t errlen)
{
    int argc = 2;
    const char **argv = malloc((size_t) (p->n + 2) * sizeof(*argv));
    size_t *lens = malloc((size_t) (p->n + 2) * sizeof(*lens));
    int rc = -1;

    if (argv == NULL || lens == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    argv[0] = cmd;
    lens[0] = strlen(cmd);
    argv[1] = FEED_ACTIVE_KEY;
    lens[1] = sizeof(FEED_ACTIVE_KEY) - 1;
    for (int i = 0; i < p->n; i++) {
        if ((p->state[i] & with) != with)
            continue;
        argv[argc] = p->accounts[i];
        lens[argc++] = strlen(p->accounts[i]);
    }
    rc = argc > 2 ? queue(p, argc, argv, lens, err, errlen) : 0;
done:
    free(argv);
    free(lens);
    return rc;
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

int feed_push_add(feed_push *p, const char *account_id, char *err, size_t errlen)
{
    if (p->n == p->cap) {
        int cap = p->cap > 0 ? 2 * p->cap : 1024;
        void *a = realloc(p->accounts, (size_t) cap * sizeof(*p->accounts));
        if (a != NULL)
            p->accounts = a;
        void *s = realloc(p->state, (size_t) cap);
        if (s != NULL)
            p->state = s;
        if (a == NULL || s == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        p->cap = cap;
    }
    size_t len = strnlen(account_id, sizeof(p->accounts[0]) - 1);
    memcpy(p->accounts[p->n], account_id, len);
    p->accounts[p->n][len] = '\0';
    p->state[p->n] = 0;
    p->n++;
    return 0;
}

/* PUBSUB NUMSUB of the page's timeline:<account id> channels. */
static int queue_numsub(feed_push *p, char *err, size_t errlen)
{
    int rc = -1;
    const char **argv = malloc((size_t) (p->n + 2) * sizeof(*argv));
    size_t *lens = malloc((size_t) (p->n + 2) * sizeof(*lens));
    char (*channels)[40] = malloc((size_t) p->n * sizeof(*channels));

    if (argv == NULL || lens == NULL || channels == NULL) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    argv[0] = "PUBSUB";
    argv[1] = "NUMSUB";
    lens[0] = 6;
    lens[1] = 6;
    for (int i = 0; i < p->n; i++) {
        size_t alen = strnlen(p->accounts[i], sizeof(p->accounts[0]));
        memcpy(channels[i], "timeline:", 9);
        memcpy(channels[i] + 9, p->accounts[i], alen);
        argv[2 + i] = channels[i];
        lens[2 + i] = 9 + alen;
    }
    rc = queue(p, p->n + 2, argv, lens, err, errlen);
done:
    free(argv);
    free(lens);
    free(channels);
    return rc;
}

int feed_push_send(feed_push *p, int last, char *err, size_t errlen)
{
    if (p->n == 0 || (!last && p->n < FEED_PUSH_BATCH))
        return 0;
    p->sent = 1;
    if (queue_set(p, "SMISMEMBER", 0, err, errlen) != 0
        || (p->publish && queue_numsub(p, err, errlen) != 0))
        return -1;
    for (int i = 0; p->check_reblogs && i < p->n; i++) {
        if (queue_feed(p, "ZSCORE", ":reblogs", p->accounts[i], p->status_id, NULL, err,
                       errlen) != 0)
            return -1;
    }
    return flush(p, err, errlen);
}

/* The next reply. */
static redisReply *reply(feed_push *p, char *err, size_t errlen)
{
    redisReply *r = NULL;

    if (redisGetReply(p->c, (void **) &r) != REDIS_OK || r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        return NULL;
    }
    return r;
}

/* Reads n replies; the first error reply, if any, goes into err. */
static int drain(feed_push *p, long n, char *err, size_t errlen)
{
    int rc = 0;

    while (n-- > 0) {
        redisReply *r = reply(p, err, errlen);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR && rc == 0) {
            snprintf(err, errlen, "redis: feed write: %s", r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

/* The event text, read once (the first time someone listens); without
 * it there is nothing to publish. */
static int event_load(feed_push *p, char *err, size_t errlen)
{
    if (p->event != NULL)
        return 0;
    redisReply *r = redisCommand(p->c, "GET %s", p->event_key);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", p->c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        p->event = malloc(r->len + 1);
        if (p->event != NULL) {
            memcpy(p->event, r->str, r->len);
            p->event_len = r->len;
        }
    }
    freeReplyObject(r);
    if (p->event == NULL)
        p->publish = 0;
    return 0;
}

/* The event to the channels of the feeds the status went into that have
 * a subscriber (PUBSUB NUMSUB of the page's first round trip). */
static int publish_page(feed_push *p, char *err, size_t errlen)
{
    char channel[40];
    int sent = 0;

    for (int i = 0; i < p->n; i++) {
        if ((p->state[i] & (PUSH_ADDED | PUSH_HEARD)) != (PUSH_ADDED | PUSH_HEARD))
            continue;
        if (event_load(p, err, errlen) != 0)
            return -1;
        if (!p->publish)
            break;
        int clen = snprintf(channel, sizeof(channel), "timeline:%s", p->accounts[i]);
        const char *argv[3] = { "PUBLISH", channel, p->event };
        size_t lens[3] = { 7, (size_t) clen, p->event_len };
        if (queue(p, 3, argv, lens, err, errlen) != 0)
            return -1;
        sent++;
    }
    if (sent > 0 && (flush(p, err, errlen) != 0 || drain(p, sent, err, errlen) != 0))
        return -1;
    return 0;
}

/* Whether this status trims this known feed: about one time in
 * FEED_TRIM_EVERY, spread over feeds so that a page's trims are too. */
static int trim_turn(const char *account_id, uint64_t status_mix)
{
    uint64_t h = strtoull(account_id, NULL, 10) * 0x9e3779b97f4a7c15ULL ^ status_mix;

    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h % FEED_TRIM_EVERY == 0;
}

/* ZADD of the status into feed i, and its trim when flagged. */
static int queue_write(feed_push *p, int i, const char *max1, char *err, size_t errlen)
{
    if (queue_feed(p, "ZADD", "", p->accounts[i], p->status_id, p->status_id, err, errlen) != 0)
        return -1;
    if ((p->state[i] & PUSH_TRIM)
        && queue_feed(p, "ZREMRANGEBYRANK", "", p->accounts[i], "1", max1, err, errlen) != 0)
        return -1;
    return 0;
}

/* The replies of queue_write() for feed i; the first error into rerr. */
static int collect_write(feed_push *p, int i, char *rerr, size_t rerrlen, char *err,
                         size_t errlen)
{
    redisReply *r = reply(p, err, errlen);

    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        p->state[i] |= PUSH_ADDED;
        p->changed++;
    } else if (r->type == REDIS_REPLY_ERROR && rerr[0] == '\0') {
        snprintf(rerr, rerrlen, "redis: feed write: %s", r->str);
    }
    freeReplyObject(r);
    if (p->state[i] & PUSH_TRIM) {
        r = reply(p, err, errlen);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR && rerr[0] == '\0')
            snprintf(rerr, rerrlen, "redis: feed trim: %s", r->str);
        freeReplyObject(r);
    }
    return 0;
}

int feed_push_finish(feed_push *p, char *err, size_t errlen)
{
    char max1[24], rerr[256] = "";
    int rc = -1, n = p->n, found = 0;
    uint64_t status_mix = strtoull(p->status_id, NULL, 10) * 0xc2b2ae3d27d4eb4fULL;

    if (!p->sent)
        return 0;
    snprintf(max1, sizeof(max1), "%ld", -(p->max + 1));

    /* the reads: every reply, even after an error, to stay in step */
    redisReply *known = reply(p, err, errlen);
    if (known == NULL)
        goto done;
    if (known->type == REDIS_REPLY_ARRAY && known->elements == (size_t) n) {
        for (int i = 0; i < n; i++) {
            redisReply *e = known->element[i];
            if (e->type == REDIS_REPLY_INTEGER && e->integer == 1)
                p->state[i] |= PUSH_KNOWN;
        }
    } else {
        snprintf(rerr, sizeof(rerr), "redis: feed set: %s",
                 known->type == REDIS_REPLY_ERROR ? known->str : "not an array of the page");
    }
    freeReplyObject(known);
    if (p->publish) {
        redisReply *heard = reply(p, err, errlen);
        if (heard == NULL)
            goto done;
        for (int i = 0; heard->type == REDIS_REPLY_ARRAY && i < n
                        && (size_t) (2 * i + 1) < heard->elements; i++) {
            redisReply *subs = heard->element[2 * i + 1];
            if (subs->type == REDIS_REPLY_INTEGER && subs->integer > 0)
                p->state[i] |= PUSH_HEARD;
        }
        if (heard->type == REDIS_REPLY_ERROR && rerr[0] == '\0')
            snprintf(rerr, sizeof(rerr), "redis: feed listeners: %s", heard->str);
        freeReplyObject(heard);
    }
    for (int i = 0; p->check_reblogs && i < n; i++) {
        redisReply *tracked = reply(p, err, errlen);
        if (tracked == NULL)
            goto done;
        if (tracked->type != REDIS_REPLY_NIL)
            p->state[i] |= PUSH_TRACKED;
        freeReplyObject(tracked);
    }
    if (rerr[0] != '\0')
        goto failed;

    /* known feeds written blind; the others read */
    for (int i = 0; i < n; i++) {
        if (p->state[i] & PUSH_TRACKED)
            continue;
        if (p->state[i] & PUSH_KNOWN) {
            if (trim_turn(p->accounts[i], status_mix))
                p->state[i] |= PUSH_TRIM;
            if (queue_write(p, i, max1, err, errlen) != 0)
                goto done;
        } else if (queue_feed(p, "ZCARD", "", p->accounts[i], NULL, NULL, err, errlen) != 0) {
            goto done;
        }
    }
    if (flush(p, err, errlen) != 0)
        goto done;
    for (int i = 0; i < n; i++) {
        if (p->state[i] & PUSH_TRACKED)
            continue;
        if (p->state[i] & PUSH_KNOWN) {
            if (collect_write(p, i, rerr, sizeof(rerr), err, errlen) != 0)
                goto done;
            continue;
        }
        redisReply *card = reply(p, err, errlen);
        if (card == NULL)
            goto done;
        if (card->type == REDIS_REPLY_INTEGER && card->integer > 0) {
            p->state[i] |= PUSH_FOUND;
            /* over feed_max once added: ranks 1 to -(max+1) go, rank 0 the sentinel */
            if (card->integer + 1 > p->max + 1)
                p->state[i] |= PUSH_TRIM;
            found++;
        } else if (card->type == REDIS_REPLY_ERROR && rerr[0] == '\0') {
            snprintf(rerr, sizeof(rerr), "redis: feed read: %s", card->str);
        }
        freeReplyObject(card);
    }
    if (rerr[0] != '\0')
        goto failed;

    /* the feeds found: written, and known from now on */
    if (found > 0) {
        for (int i = 0; i < n; i++) {
            if ((p->state[i] & PUSH_FOUND) && queue_write(p, i, max1, err, errlen) != 0)
                goto done;
        }
        if (queue_set(p, "SADD", PUSH_FOUND, err, errlen) != 0 || flush(p, err, errlen) != 0)
            goto done;
        for (int i = 0; i < n; i++) {
            if ((p->state[i] & PUSH_FOUND)
                && collect_write(p, i, rerr, sizeof(rerr), err, errlen) != 0)
                goto done;
        }
        if (drain(p, 1, err, errlen) != 0)
            goto done;
        if (rerr[0] != '\0')
            goto failed;
    }
    if (p->publish && publish_page(p, err, errlen) != 0)
        goto done;
    rc = 0;
    goto done;
failed:
    snprintf(err, errlen, "%s", rerr);
done:
    p->n = 0;
    p->sent = 0;
    p->check_reblogs = 0;
    p->out_len = 0;
    return rc;
}
