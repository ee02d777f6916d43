/* Home feed writes.  One script call covers many feeds: KEYS[1] is the key
 * holding the event text to publish, then a feed key and its `:reblogs`
 * key per entry; ARGV[1] is feed_max, ARGV[2] "1" to publish events, then
 * the status id and reblog_of_id ("" for none) per entry.
 *
 * Events go to timeline:<account id> only when the channel has a
 * subscriber (PUBSUB NUMSUB, so subscribe with SUBSCRIBE, not PSUBSCRIBE):
 * the event text is copied only for the few followers who are streaming,
 * not for all of them. */
#include "feed.h"
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Mastodon's add_to_feed, push_to_home and trim: a reblog is not added when
 * its original is among the newest REBLOG_FALLOFF items of the feed or was
 * already reblogged into it (`:reblogs`: original id -> reblog id); an
 * original is not added when a reblog of it is there.  Tracking ends for
 * reblogs further down than REBLOG_FALLOFF items (so a new reblog of the
 * same status can show again); Mastodon does that after every push, here
 * it is done just before a decision that reads `:reblogs`, which decides
 * the same and costs nothing when there are no reblogs.  Feeds that do not
 * exist are left alone: the module rebuilds them when their owner returns.
 * Trim: ZREMRANGEBYRANK 1 -(max+1), rank 0 being the sentinel (a feed
 * without it keeps one status more, until it is rebuilt).  The common case
 * costs three calls per feed: ZCARD, ZSCORE, ZADD. */
#define FEED_FALLOFF_LUA                                                          \
    "local function falloff(feed, reblogs)\n"                                     \
    "  local edge = redis.call('ZREVRANGE', feed, 40, 40, 'WITHSCORES')\n"        \
    "  if edge[2] then redis.call('ZREMRANGEBYSCORE', reblogs, '-inf', edge[2]) end\n" \
    "end\n"

/* Events go out once per call: one PUBSUB NUMSUB for the channels of the
 * feeds changed, the event text read only if someone listens. */
/* A feed's channel: timeline:<account id> for home, timeline:list:<id>
 * for a list (Mastodon's PushUpdateWorker timeline ids). */
#define FEED_CHANNEL_LUA                                                          \
    "local function channel(feed)\n"                                              \
    "  local kind, id = string.match(feed, '^mastodon:feed:(%a+):(%d+)$')\n"      \
    "  if kind == 'home' then return 'timeline:' .. id end\n"                    \
    "  return 'timeline:' .. kind .. ':' .. id\n"                                 \
    "end\n"

#define FEED_PUBLISH_LUA                                                          \
    FEED_CHANNEL_LUA                                                              \
    "local function publish(channels)\n"                                          \
    "  if ARGV[2] ~= '1' or #channels == 0 then return end\n"                     \
    "  local subs, event = redis.call('PUBSUB', 'NUMSUB', unpack(channels)), nil\n" \
    "  for j = 2, #subs, 2 do\n"                                                  \
    "    if subs[j] > 0 then\n"                                                   \
    "      event = event or redis.call('GET', KEYS[1])\n"                         \
    "      if event then redis.call('PUBLISH', subs[j - 1], event) end\n"         \
    "    end\n"                                                                   \
    "  end\n"                                                                     \
    "end\n"

static redis_script feed_add_script = { .body =
    FEED_FALLOFF_LUA FEED_PUBLISH_LUA
    "local max, added, channels = tonumber(ARGV[1]), 0, {}\n"
    "for i = 2, #KEYS, 2 do\n"
    "  local feed, reblogs, id, of = KEYS[i], KEYS[i + 1], ARGV[i + 1], ARGV[i + 2]\n"
    "  local n = redis.call('ZCARD', feed)\n"
    "  if n > 0 then\n"
    "    local ok\n"
    "    if of == '' then\n"
    "      ok = not redis.call('ZSCORE', reblogs, id)\n"
    "      if not ok then\n"
    "        falloff(feed, reblogs)\n"
    "        ok = not redis.call('ZSCORE', reblogs, id)\n"
    "      end\n"
    "    else\n"
    "      local rank = redis.call('ZREVRANK', feed, of)\n"
    "      if not rank or rank >= 40 then\n"
    "        falloff(feed, reblogs)\n"
    "        ok = redis.call('ZADD', reblogs, 'NX', id, of) == 1\n"
    "      end\n"
    "    end\n"
    "    if ok and redis.call('ZADD', feed, id, id) == 1 then\n"
    "      added = added + 1\n"
    "      if n + 1 > max + 1 then redis.call('ZREMRANGEBYRANK', feed, 1, -(max + 1)) end\n"
    "      channels[#channels + 1] = channel(feed)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "publish(channels)\n"
    "return added\n"
};

/* status.update where the status is in the feed (Mastodon pushes the edit
 * to the feeds that show it). */
static redis_script feed_touch_script = { .body =
    FEED_PUBLISH_LUA
    "local found, channels = 0, {}\n"
    "for i = 2, #KEYS, 2 do\n"
    "  local feed, id = KEYS[i], ARGV[i + 1]\n"
    "  if redis.call('ZSCORE', feed, id) then\n"
    "    found = found + 1\n"
    "    channels[#channels + 1] = channel(feed)\n"
    "  end\n"
    "end\n"
    "publish(channels)\n"
    "return found\n"
};

/* Mastodon's remove_from_feed + unpush_from_home: a removed original ends
 * its reblog tracking; a removed reblog ends it only if it is the tracked
 * one.  `delete` goes out only where the status really was. */
static redis_script feed_remove_script = { .body =
    FEED_CHANNEL_LUA
    "local publish = ARGV[2] == '1'\n"
    "local removed = 0\n"
    "for i = 2, #KEYS, 2 do\n"
    "  local feed, reblogs, id, of = KEYS[i], KEYS[i + 1], ARGV[i + 1], ARGV[i + 2]\n"
    "  if of == '' then\n"
    "    redis.call('ZREM', reblogs, id)\n"
    "  else\n"
    "    local tracked = redis.call('ZSCORE', reblogs, of)\n"
    "    if tracked and tonumber(tracked) == tonumber(id) then redis.call('ZREM', reblogs, of) end\n"
    "  end\n"
    "  if redis.call('ZREM', feed, id) == 1 then\n"
    "    removed = removed + 1\n"
    "    if publish then\n"
    "      redis.call('PUBLISH', channel(feed),\n"
    "                 '{\"event\":\"delete\",\"payload\":\"' .. id .. '\"}')\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return removed\n"
};

static redis_script *script_of(feed_op op)
{
    return op == FEED_ADD ? &feed_add_script : op == FEED_TOUCH ? &feed_touch_script
                                                                : &feed_remove_script;
}

int feed_scripts_load(redisContext *c, char *err, size_t errlen)
{
    if (redis_script_load(c, &feed_add_script, err, errlen) != 0
        || redis_script_load(c, &feed_touch_script, err, errlen) != 0
        || redis_script_load(c, &feed_remove_script, err, errlen) != 0)
        return -1;
    return 0;
}

void feed_batch_init(feed_batch *b, redisContext *c, feed_op op, const char *event_key,
                     int publish, long max)
{
    b->c = c;
    b->op = op;
    b->event_key = event_key != NULL ? event_key : "mastodon:event:none";
    b->publish = publish;
    snprintf(b->max, sizeof(b->max), "%ld", max);
    b->n = 0;
    b->pending = 0;
    b->changed = 0;
    b->error[0] = '\0';
}

/* Appends the call built so far to the output buffer. */
static void batch_append(feed_batch *b)
{
    /* EVALSHA sha numkeys event_key, 2 keys per entry, max publish, 2 args per entry */
    enum { MAXARGS = 6 + 4 * FEED_CALL_ENTRIES };
    const char *argv[MAXARGS];
    size_t lens[MAXARGS];
    char nkeys[16];
    int argc = 0;

    if (b->n == 0)
        return;
    redis_script *s = script_of(b->op);
    snprintf(nkeys, sizeof(nkeys), "%d", 1 + 2 * b->n);

    argv[argc++] = "EVALSHA";
    argv[argc++] = s->sha1;
    argv[argc++] = nkeys;
    argv[argc++] = b->event_key;
    for (int i = 0; i < b->n; i++) {
        argv[argc++] = b->entries[i].feed;
        argv[argc++] = b->entries[i].reblogs;
    }
    argv[argc++] = b->max;
    argv[argc++] = b->publish ? "1" : "0";
    for (int i = 0; i < b->n; i++) {
        argv[argc++] = b->entries[i].status_id;
        argv[argc++] = b->entries[i].reblog_of_id;
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);

    if (redisAppendCommandArgv(b->c, argc, argv, lens) == REDIS_OK)
        b->pending++;
    else if (b->error[0] == '\0')
        snprintf(b->error, sizeof(b->error), "redis: cannot queue a command: %s", b->c->errstr);
    b->n = 0;
}

void feed_batch_add(feed_batch *b, const char *account_id, const char *status_id,
                    const char *reblog_of_id)
{
    feed_batch_add_to(b, FEED_PREFIX, account_id, status_id, reblog_of_id);
}

void feed_batch_add_to(feed_batch *b, const char *prefix, const char *id, const char *status_id,
                       const char *reblog_of_id)
{
    feed_entry *e = &b->entries[b->n++];

    snprintf(e->feed, sizeof(e->feed), "%s%s", prefix, id);
    snprintf(e->reblogs, sizeof(e->reblogs), "%s%s:reblogs", prefix, id);
    snprintf(e->status_id, sizeof(e->status_id), "%s", status_id);
    snprintf(e->reblog_of_id, sizeof(e->reblog_of_id), "%s", reblog_of_id);
    if (b->n == FEED_CALL_ENTRIES)
        batch_append(b);
}

int feed_batch_send(feed_batch *b, char *err, size_t errlen)
{
    int done = 0;

    batch_append(b);
    while (!done) {
        if (redisBufferWrite(b->c, &done) != REDIS_OK) {
            snprintf(err, errlen, "redis: %s", b->c->errstr);
            return -1;
        }
    }
    return 0;
}

int feed_batch_collect(feed_batch *b, char *err, size_t errlen)
{
    if (feed_batch_send(b, err, errlen) != 0)
        return -1;

    /* Read every reply even after an error reply, so the connection stays
     * in step for the next command. */
    while (b->pending > 0) {
        redisReply *r = NULL;
        if (redisGetReply(b->c, (void **) &r) != REDIS_OK || r == NULL) {
            snprintf(err, errlen, "redis: %s", b->c->errstr);
            return -1;
        }
        b->pending--;
        if (r->type == REDIS_REPLY_INTEGER)
            b->changed += r->integer;
        else if (b->error[0] == '\0')
            snprintf(b->error, sizeof(b->error), "redis: feed script: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
    }
    if (b->error[0] != '\0') {
        snprintf(err, errlen, "%s", b->error);
        b->error[0] = '\0';
        return -1;
    }
    return 0;
}

int feed_write_rows(redisContext *c, feed_op op, int publish, long max, const char *account_id,
                    const PGresult *rows, long long *changed, char *err, size_t errlen)
{
    return feed_write_rows_to(c, op, publish, max, FEED_PREFIX, account_id, rows, changed,
                              err, errlen);
}

int feed_write_rows_to(redisContext *c, feed_op op, int publish, long max, const char *prefix,
                       const char *id, const PGresult *rows, long long *changed,
                       char *err, size_t errlen)
{
    feed_batch *b = malloc(sizeof(*b));
    int rc = -1;

    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
    } else if (feed_scripts_load(c, err, errlen) == 0) {
        feed_batch_init(b, c, op, NULL, publish, max);
        for (int i = 0; i < PQntuples(rows); i++)
            feed_batch_add_to(b, prefix, id, PQgetvalue(rows, i, 0), PQgetvalue(rows, i, 1));
        rc = feed_batch_collect(b, err, errlen);
        *changed = b->changed;
    }
    free(b);
    return rc;
}
