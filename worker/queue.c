/* Streams, consumer group, ack, retry and dead: the at-least-once queue. */
#include "queue.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <yajl/yajl_gen.h>

void job_entry_free(job_entry *e)
{
    free(e->type);
    free(e->args);
    memset(e, 0, sizeof(*e));
}

void job_batch_free(job_batch *b)
{
    for (int i = 0; i < b->n; i++)
        job_entry_free(&b->entries[i]);
    b->n = 0;
}

static char *dup_bytes(const char *s, size_t len)
{
    char *p = malloc(len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

static int parse_long(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* One stream entry: [id, [field, value, ...]] (fields nil if deleted).
 * Entries that cannot run are parsed still, with the reason in malformed,
 * so that they reach the dead stream with it. */
static int parse_entry(const redisReply *r, const worker_config *cfg, const char *queue,
                       job_entry *e)
{
    memset(e, 0, sizeof(*e));
    snprintf(e->queue, sizeof(e->queue), "%s", queue);

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[0]->len >= sizeof(e->id))
        return -1;
    memcpy(e->id, r->element[0]->str, r->element[0]->len);
    e->id[r->element[0]->len] = '\0';

    const redisReply *f = r->element[1];
    if (f->type != REDIS_REPLY_ARRAY) {
        e->malformed = "entry has no fields";
        return 0;
    }

    int have_attempt = 0;
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        long long n;

        if (strcmp(k->str, "type") == 0 && e->type == NULL) {
            e->type = dup_bytes(v->str, v->len);
            if (e->type == NULL)
                return -1;
        } else if (strcmp(k->str, "args") == 0 && e->args == NULL) {
            e->args = dup_bytes(v->str, v->len);
            if (e->args == NULL)
                return -1;
            e->args_len = v->len;
        } else if (strcmp(k->str, "attempt") == 0) {
            if (parse_long(v->str, &n) == 0 && n >= 0 && n < 1000000) {
                e->attempt = (long) n;
                have_attempt = 1;
            }
        } else if (strcmp(k->str, "jid") == 0) {
            snprintf(e->jid, sizeof(e->jid), "%.*s", (int) v->len, v->str);
        } else if (strcmp(k->str, "enqueued_at") == 0) {
            if (parse_long(v->str, &n) == 0)
                e->enqueued_at = n;
        }
    }

    if (e->jid[0] == '\0')
        snprintf(e->jid, sizeof(e->jid), "-");

    char err[256];
    if (e->type == NULL || e->type[0] == '\0') {
        e->malformed = "entry has no type";
    } else if (e->args == NULL) {
        e->malformed = "entry has no args";
    } else if (!have_attempt) {
        e->malformed = "entry has no valid attempt";
    } else if (e->args_len > (size_t) cfg->job_max_bytes) {
        snprintf(e->why, sizeof(e->why), "args of %zu bytes exceed job_max_bytes (%ld): too large "
                 "for this worker", e->args_len, cfg->job_max_bytes);
        e->malformed = e->why;
    } else if (strlen(e->args) != e->args_len) {
        e->malformed = "args are not valid JSON: a NUL byte";
    } else if (!json_valid(e->args, e->args_len, (size_t) cfg->job_max_bytes, err, sizeof(err))) {
        snprintf(e->why, sizeof(e->why), "args are not valid JSON: %s", err);
        e->malformed = e->why;
    }
    return 0;
}

int queue_create_groups(redisContext *c, const worker_config *cfg)
{
    for (int i = 0; i < cfg->nqueues; i++) {
        redisReply *r = redisCommand(c, "XGROUP CREATE " QUEUE_PREFIX "%s " QUEUE_GROUP " 0 MKSTREAM",
                                     cfg->queues[i]);
        if (r == NULL) {
            mlog(LOG_ERROR, "redis: XGROUP CREATE: %s", c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && !redis_reply_is_error(r, "BUSYGROUP")) {
            mlog(LOG_ERROR, "redis: XGROUP CREATE %s%s: %s", QUEUE_PREFIX, cfg->queues[i], r->str);
            freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}

int queue_read(redisContext *c, const worker_config *cfg, const char *consumer,
               long block_ms, job_batch *out)
{
    const char *argv[8 + 2 * MW_MAX_QUEUES];
    char keys[MW_MAX_QUEUES][MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];
    char block[32];
    int argc = 0;

    out->n = 0;
    snprintf(block, sizeof(block), "%ld", block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = QUEUE_GROUP;
    argv[argc++] = consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = "1";
    argv[argc++] = "BLOCK";
    argv[argc++] = block;
    argv[argc++] = "STREAMS";
    for (int i = 0; i < cfg->nqueues; i++) {
        snprintf(keys[i], sizeof(keys[i]), QUEUE_PREFIX "%s", cfg->queues[i]);
        argv[argc++] = keys[i];
    }
    for (int i = 0; i < cfg->nqueues; i++)
        argv[argc++] = ">";

    redisReply *r = redisCommandArgv(c, argc, argv, NULL);
    if (r == NULL) {
        mlog(LOG_ERROR, "redis: XREADGROUP: %s", c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* The streams were deleted (FLUSHALL, a new Redis): create them again. */
        int nogroup = redis_reply_is_error(r, "NOGROUP");
        if (!nogroup)
            mlog(LOG_ERROR, "redis: XREADGROUP: %s", r->str);
        freeReplyObject(r);
        if (nogroup && queue_create_groups(c, cfg) == 0)
            return 0;
        return -1;
    }

    /* [[stream, [[id, fields]]], ...]; Redis answers in the order asked. */
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *s = r->element[i];
        if (s->type != REDIS_REPLY_ARRAY || s->elements != 2
            || s->element[0]->type != REDIS_REPLY_STRING
            || strncmp(s->element[0]->str, QUEUE_PREFIX, sizeof(QUEUE_PREFIX) - 1) != 0)
            continue;
        const char *queue = s->element[0]->str + sizeof(QUEUE_PREFIX) - 1;
        const redisReply *entries = s->element[1];

        for (size_t j = 0; entries->type == REDIS_REPLY_ARRAY && j < entries->elements; j++) {
            if (out->n == MW_MAX_QUEUES)
                break;
            if (parse_entry(entries->element[j], cfg, queue, &out->entries[out->n]) != 0) {
                job_entry_free(&out->entries[out->n]);
                mlog(LOG_ERROR, "redis: unexpected XREADGROUP reply from %s", queue);
                continue;
            }
            out->n++;
        }
    }
    freeReplyObject(r);
    return out->n;
}

static long long pending_deliveries(redisContext *c, const char *key, const char *id)
{
    long long n = 0;
    redisReply *r = redisCommand(c, "XPENDING %s " QUEUE_GROUP " %s %s 1", key, id, id);
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 1
        && r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements == 4
        && r->element[0]->element[3]->type == REDIS_REPLY_INTEGER)
        n = r->element[0]->element[3]->integer;
    if (r != NULL)
        freeReplyObject(r);
    return n;
}

int queue_claim(redisContext *c, const worker_config *cfg, const char *consumer, job_entry *out)
{
    for (int q = 0; q < cfg->nqueues; q++) {
        char key[MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];
        char cursor[48] = "0-0";
        snprintf(key, sizeof(key), QUEUE_PREFIX "%s", cfg->queues[q]);

        /* XAUTOCLAIM scans a bounded slice of the pending list per call;
         * follow the cursor a little way before giving up on this queue. */
        for (int round = 0; round < 16; round++) {
            redisReply *r = redisCommand(c, "XAUTOCLAIM %s " QUEUE_GROUP " %s %ld %s COUNT 1",
                                         key, consumer, cfg->claim_idle_ms, cursor);
            if (r == NULL) {
                mlog(LOG_ERROR, "redis: XAUTOCLAIM: %s", c->errstr);
                return -1;
            }
            if (r->type == REDIS_REPLY_ERROR) {
                if (!redis_reply_is_error(r, "NOGROUP"))
                    mlog(LOG_ERROR, "redis: XAUTOCLAIM %s: %s", key, r->str);
                freeReplyObject(r);
                break;
            }
            if (r->type != REDIS_REPLY_ARRAY || r->elements < 2
                || r->element[0]->type != REDIS_REPLY_STRING
                || r->element[1]->type != REDIS_REPLY_ARRAY) {
                freeReplyObject(r);
                break;
            }
            snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);

            const redisReply *entries = r->element[1];
            if (entries->elements > 0) {
                int rc = parse_entry(entries->element[0], cfg, cfg->queues[q], out);
                freeReplyObject(r);
                if (rc != 0) {
                    job_entry_free(out);
                    return 0;
                }
                out->deliveries = pending_deliveries(c, key, out->id);
                return 1;
            }
            freeReplyObject(r);
            if (strcmp(cursor, "0-0") == 0)
                break;
        }
    }
    return 0;
}

int queue_heartbeat(redisContext *c, const char *queue, const char *consumer, const char *id)
{
    redisReply *r = redisCommand(c, "XCLAIM " QUEUE_PREFIX "%s " QUEUE_GROUP " %s 0 %s JUSTID",
                                 queue, consumer, id);
    if (r == NULL)
        return -1;
    freeReplyObject(r);
    return 0;
}

int queue_ack(redisContext *c, const job_entry *e)
{
    char key[MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];
    snprintf(key, sizeof(key), QUEUE_PREFIX "%s", e->queue);

    /* pipelined, not a transaction (MULTI/EXEC cost Redis as much as both):
     * the entry goes first, so one left pending by a lost XACK names a
     * deleted entry, which the next XAUTOCLAIM drops from the group */
    redisAppendCommand(c, "XDEL %s %s", key, e->id);
    redisAppendCommand(c, "XACK %s " QUEUE_GROUP " %s", key, e->id);

    int rc = 0;
    for (int i = 0; i < 2; i++) {
        redisReply *r = NULL;
        if (redisGetReply(c, (void **) &r) != REDIS_OK) {
            mlog(LOG_ERROR, "redis: ack %s %s: %s", key, e->id, c->errstr);
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            mlog(LOG_ERROR, "redis: ack %s %s: %s", key, e->id, r->str);
            rc = -1;
        }
        freeReplyObject(r);
    }
    return rc;
}

long long queue_backoff_ms(const worker_config *cfg, long attempt)
{
    const long long year_ms = 31536000000LL;   /* never further out, whatever the config */
    long long a = attempt > 1000 ? 1000 : attempt;
    long long base = cfg->retry_base_ms;
    long long factor = a * a * a * a + 1;     /* at most 10^12 + 1 */
    unsigned int rnd = 0;

    if (factor > year_ms / base)
        return year_ms;
    RAND_bytes((unsigned char *) &rnd, sizeof(rnd));
    long long spread = base * (a + 1);
    long long delay = base * factor + (long long) (rnd % (unsigned long long) spread);
    return delay > year_ms ? year_ms : delay;
}

/* The retry set member: {"queue","type","attempt","jid","error", "args"}.
 * args goes in raw (it is already JSON), so the generator writes the rest
 * and args is spliced in before the closing brace. */
static char *retry_member(const job_entry *e, long next_attempt, const char *error, size_t *len)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g == NULL)
        return NULL;

#define GEN_STR(s) yajl_gen_string(g, (const unsigned char *) (s), strlen(s))
    yajl_gen_map_open(g);
    GEN_STR("queue");   GEN_STR(e->queue);
    GEN_STR("type");    GEN_STR(e->type);
    GEN_STR("attempt"); yajl_gen_integer(g, next_attempt);
    GEN_STR("jid");     GEN_STR(e->jid);
    if (error != NULL) {
        GEN_STR("error");   GEN_STR(error);
    }
    GEN_STR("enqueued_at"); yajl_gen_integer(g, e->enqueued_at);
    yajl_gen_map_close(g);
#undef GEN_STR

    const unsigned char *buf;
    size_t blen;
    char *member = NULL;

    if (yajl_gen_get_buf(g, &buf, &blen) == yajl_gen_status_ok && blen >= 2) {
        static const char sep[] = ",\"args\":";
        size_t n = blen - 1 + (sizeof(sep) - 1) + e->args_len + 1;
        member = malloc(n + 1);
        if (member != NULL) {
            memcpy(member, buf, blen - 1);                    /* without '}' */
            memcpy(member + blen - 1, sep, sizeof(sep) - 1);
            memcpy(member + blen - 1 + sizeof(sep) - 1, e->args, e->args_len);
            member[n - 1] = '}';
            member[n] = '\0';
            *len = n;
        }
    }
    yajl_gen_free(g);
    return member;
}

/* KEYS: stream, retry set, dead stream.
 * ARGV: entry id, "retry"|"dead", due, member, dead entry fields...
 * The XACK guard makes a second failure report for the same entry (two
 * workers ran a claimed job) a no-op instead of a second retry. */
static redis_script fail_script = { .body =
    "if redis.call('XACK', KEYS[1], 'workers', ARGV[1]) == 0 then return 0 end\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "if ARGV[2] == 'retry' then\n"
    "  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])\n"
    "else\n"
    "  redis.call('XADD', KEYS[3], '*', unpack(ARGV, 5))\n"
    "end\n"
    "return 1\n"
};

int queue_fail(redisContext *c, const worker_config *cfg, const job_entry *e,
               const char *error, long long *delay_ms)
{
    char key[MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];
    char due[32], attempt[32], enq[32], failed_at[32];
    const char *argv[32];
    size_t lens[32];
    int argc = 0;
    char *member = NULL;
    size_t member_len = 0;

    /* Malformed entries cannot succeed later: straight to the dead stream. */
    int dead = e->malformed != NULL || e->attempt >= cfg->retry_max;
    long long now = now_ms();

    snprintf(key, sizeof(key), QUEUE_PREFIX "%s", e->queue);
    snprintf(attempt, sizeof(attempt), "%ld", e->attempt);
    snprintf(enq, sizeof(enq), "%lld", e->enqueued_at);
    snprintf(failed_at, sizeof(failed_at), "%lld", now);

#define ARG(s, l) do { argv[argc] = (s); lens[argc] = (l); argc++; } while (0)
#define ARGS(s) ARG((s), strlen(s))
    ARGS(key);
    ARGS(QUEUE_RETRY);
    ARGS(QUEUE_DEAD);
    ARGS(e->id);

    if (!dead) {
        *delay_ms = queue_backoff_ms(cfg, e->attempt);
        snprintf(due, sizeof(due), "%lld", now + *delay_ms);
        member = retry_member(e, e->attempt + 1, error, &member_len);
        if (member == NULL)
            return -1;
        ARGS("retry");
        ARGS(due);
        ARG(member, member_len);
    } else {
        *delay_ms = -1;
        ARGS("dead");
        ARGS("0");
        ARGS("");
        ARGS("queue");       ARGS(e->queue);
        ARGS("type");        ARGS(e->type ? e->type : "");
        ARGS("args");        ARG(e->args ? e->args : "", e->args ? e->args_len : 0);
        ARGS("attempt");     ARGS(attempt);
        ARGS("jid");         ARGS(e->jid);
        ARGS("enqueued_at"); ARGS(enq);
        ARGS("error");       ARGS(error);
        ARGS("failed_at");   ARGS(failed_at);
    }
#undef ARG
#undef ARGS

    redisReply *r = redis_eval(c, &fail_script, 3, argc, argv, lens);
    free(member);
    if (r == NULL) {
        mlog(LOG_ERROR, "redis: failing job %s: %s", e->jid, c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        mlog(LOG_ERROR, "redis: failing job %s: %s", e->jid, r->str);
        rc = -1;
    } else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        mlog(LOG_NOTICE, "job %s jid=%s was already acknowledged (claimed and finished elsewhere)",
             e->type ? e->type : "-", e->jid);
    }
    freeReplyObject(r);
    return rc;
}

void queue_forget_consumer(redisContext *c, const worker_config *cfg, const char *consumer)
{
    for (int i = 0; i < cfg->nqueues; i++) {
        redisReply *r = redisCommand(c, "XPENDING " QUEUE_PREFIX "%s " QUEUE_GROUP " - + 1 %s",
                                     cfg->queues[i], consumer);
        if (r == NULL)
            return;
        int idle = r->type == REDIS_REPLY_ARRAY && r->elements == 0;
        freeReplyObject(r);
        if (!idle)
            continue;
        r = redisCommand(c, "XGROUP DELCONSUMER " QUEUE_PREFIX "%s " QUEUE_GROUP " %s",
                         cfg->queues[i], consumer);
        if (r == NULL)
            return;
        freeReplyObject(r);
    }
}

int queue_push(redisContext *c, const char *queue, const char *type,
               const char *args, size_t args_len, char *id_out, size_t id_len,
               char *err, size_t errlen)
{
    char jid[17], enq[32];
    if (random_hex(jid, 8) != 0) {
        snprintf(err, errlen, "no random bytes");
        return -1;
    }
    snprintf(enq, sizeof(enq), "%lld", now_ms());

    redisReply *r = redisCommand(c, "XADD " QUEUE_PREFIX "%s * type %s args %b attempt 0 jid %s enqueued_at %s",
                                 queue, type, args, args_len, jid, enq);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING) {
        snprintf(id_out, id_len, "%s", r->str);
    } else {
        snprintf(err, errlen, "redis: XADD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

static int schedule_into(redisContext *c, const char *set, const char *queue, const char *type,
                         const char *args, size_t args_len, long attempt, long long due_ms,
                         const char *error, char *err, size_t errlen);

int queue_schedule(redisContext *c, const char *queue, const char *type,
                   const char *args, size_t args_len, long attempt, long long delay_ms,
                   const char *error, char *err, size_t errlen)
{
    return schedule_into(c, QUEUE_RETRY, queue, type, args, args_len, attempt,
                         now_ms() + delay_ms, error, err, errlen);
}

int queue_schedule_at(redisContext *c, const char *queue, const char *type,
                      const char *args, size_t args_len, long long due_ms,
                      char *err, size_t errlen)
{
    return schedule_into(c, QUEUE_SCHEDULE, queue, type, args, args_len, 0, due_ms, NULL,
                         err, errlen);
}

static int schedule_into(redisContext *c, const char *set, const char *queue, const char *type,
                         const char *args, size_t args_len, long attempt, long long due_ms,
                         const char *error, char *err, size_t errlen)
{
    job_entry e;
    char due[32];
    size_t len = 0;

    memset(&e, 0, sizeof(e));
    if (random_hex(e.jid, 8) != 0) {
        snprintf(err, errlen, "no random bytes");
        return -1;
    }
    snprintf(e.queue, sizeof(e.queue), "%s", queue);
    e.type = (char *) type;
    e.args = (char *) args;
    e.args_len = args_len;
    e.enqueued_at = now_ms();
    char *member = retry_member(&e, attempt, error, &len);
    if (member == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    snprintf(due, sizeof(due), "%lld", due_ms);
    redisReply *r = redisCommand(c, "ZADD %s %s %b", set, due, member, len);
    free(member);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "redis: ZADD: %s", r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* SET NX + XADD in one script: both or neither. */
static redis_script push_once_script = { .body =
    "if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', 86400) then return 0 end\n"
    "redis.call('XADD', KEYS[2], '*', 'type', ARGV[1], 'args', ARGV[2], 'attempt', '0',\n"
    "           'jid', ARGV[3], 'enqueued_at', ARGV[4])\n"
    "return 1\n"
};

int queue_push_once(redisContext *c, const char *once_key, const char *queue, const char *type,
                    const char *args, size_t args_len, int *pushed, char *err, size_t errlen)
{
    char jid[17], enq[32], stream[MW_QUEUE_NAMELEN + sizeof(QUEUE_PREFIX)];

    *pushed = 0;
    if (random_hex(jid, 8) != 0) {
        snprintf(err, errlen, "no random bytes");
        return -1;
    }
    snprintf(enq, sizeof(enq), "%lld", now_ms());
    snprintf(stream, sizeof(stream), QUEUE_PREFIX "%s", queue);

    const char *argv[6] = { once_key, stream, type, args, jid, enq };
    size_t lens[6] = { strlen(once_key), strlen(stream), strlen(type), args_len, strlen(jid), strlen(enq) };
    redisReply *r = redis_eval(c, &push_once_script, 2, 6, argv, lens);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = 0;
    if (r->type == REDIS_REPLY_INTEGER) {
        *pushed = r->integer == 1;
    } else {
        snprintf(err, errlen, "redis: push once: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}
