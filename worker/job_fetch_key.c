/* fetch_key: the actor owning a key id the module's inbox does not know,
 * fetched from its origin and stored (Mastodon's
 * ActivityPub::FetchRemoteKeyService).  args {"key_id": "..."}.
 *
 * The key id is the actor's URI with a fragment (…#main-key: the actor's
 * document holds the key), or a document of its own (a Key whose owner is
 * the actor, then fetched too).  Either way the actor's publicKey.id must
 * be the key id and its owner the actor.  The answer goes to Redis for
 * the module that waits on it: mastodon:keyfetch:<sha256 hex of key id> =
 * {"ok":true} once stored, or {"error":"temporary"|"gone"|"invalid"},
 * for 60 s; while it lives the job does nothing (a second job for the same
 * key, from concurrent requests).  The module enqueues it for an unknown
 * key and for a stored key that fails to verify (rotation), so it always
 * fetches anew.  The job itself succeeds: the module asks again later. */
#include "inbox.h"
#include "args.h"
#include "fetch.h"
#include "db.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>

#include "mstdn_sanitize.h"

#define KEYFETCH_TTL  60

#define KEYFETCH_KEY_LEN  (sizeof("mastodon:keyfetch:") + 2 * SHA256_DIGEST_LENGTH)

static void answer_key(const char *key_id, char key[KEYFETCH_KEY_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    SHA256((const unsigned char *) key_id, strlen(key_id), md);
    hex_encode(hex, md, sizeof(md));
    snprintf(key, KEYFETCH_KEY_LEN, "mastodon:keyfetch:%s", hex);
}

static int answer(job_ctx *ctx, const char *key_id, const char *value, char *err, size_t errlen)
{
    char key[KEYFETCH_KEY_LEN];

    answer_key(key_id, key);
    return redis_do(*ctx->redis, err, errlen, "SET %s %s EX %d", key, value, KEYFETCH_TTL);
}

/* 1 if an answer for the key id lives: it was fetched moments ago (the
 * module's per-key refetch limit; concurrent requests enqueue twice) */
static int answered(job_ctx *ctx, const char *key_id)
{
    char key[KEYFETCH_KEY_LEN];

    answer_key(key_id, key);
    redisReply *r = redisCommand(*ctx->redis, "EXISTS %s", key);
    int yes = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
    return yes;
}

/* The key's id in an actor document: publicKey (or the first of them). */
static const char *key_of(const mstdn_value_t *doc)
{
    const mstdn_value_t *pk = mstdn_object_get(doc, "publicKey");
    if (pk != NULL && pk->type == MSTDN_ARRAY)
        pk = pk->first;
    return inbox_str(pk, "id");
}

/* 1 stored, 0 refused (invalid or gone: *gone), -1 temporary */
static int fetch_owner(job_ctx *ctx, PGconn *db, const char *key_id, int *gone,
                       char *err, size_t errlen)
{
    char uri[MSTDN_REMOTE_URL_MAX + 1], id[MW_ID_LEN];
    const mstdn_value_t *doc = NULL;
    mstdn_alloc_t a;

    *gone = 0;
    if (strlen(key_id) > MSTDN_REMOTE_URL_MAX
        || (strncmp(key_id, "https://", 8) != 0 && strncmp(key_id, "http://", 7) != 0)) {
        snprintf(err, errlen, "key id %s is no URL", key_id);
        return 0;
    }
    snprintf(uri, sizeof(uri), "%s", key_id);
    uri[strcspn(uri, "#")] = '\0';

    mstdn_arena_t *ar = mstdn_arena_create();
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mstdn_arena_allocator(ar, &a);
    int rc = inbox_fetch_document(ctx, uri, &a, &doc, err, errlen);
    if (rc == 1 && inbox_str(doc, "owner") != NULL && inbox_str(doc, "inbox") == NULL) {
        /* a Key of its own: its owner's document must hold it */
        const char *owner = inbox_str(doc, "owner");
        char host[INBOX_HOST_MAX];
        if (fetch_url_host(uri, host, sizeof(host)) != 0 || !inbox_on_host(owner, host)
            || strlen(owner) > MSTDN_REMOTE_URL_MAX) {
            snprintf(err, errlen, "key %s: owner %s on another host", key_id, owner);
            rc = 0;
        } else {
            snprintf(uri, sizeof(uri), "%s", owner);
            rc = inbox_fetch_document(ctx, uri, &a, &doc, err, errlen);
        }
    }
    if (rc == 1) {
        const char *kid = key_of(doc);
        if (kid == NULL || strcmp(kid, key_id) != 0) {
            snprintf(err, errlen, "actor %s does not hold key %s", uri, key_id);
            rc = 0;
        } else {
            rc = inbox_actor_store_new(ctx, db, doc, uri, id, err, errlen);
        }
    }
    if (rc == 0 && strstr(err, ": gone (") != NULL)
        *gone = 1;
    mstdn_arena_destroy(ar);
    return rc;
}

int job_fetch_key(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char why[8192] = "";
    int gone;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *key_id = args_string(&a, "key_id");
    if (key_id == NULL || key_id[0] == '\0') {
        args_free(&a);
        snprintf(err, errlen, "args need key_id (a string)");
        return -1;
    }
    if (answered(ctx, key_id)) {
        mlog(LOG_INFO, "fetch_key %s: answered moments ago", key_id);
        args_free(&a);
        return 0;
    }
    int rc = -1;
    PGconn *db = job_db(ctx, why, sizeof(why));
    if (db != NULL)
        rc = fetch_owner(ctx, db, key_id, &gone, why, sizeof(why));
    const char *value = rc > 0 ? "{\"ok\":true}"
                        : rc < 0 ? "{\"error\":\"temporary\"}"
                        : gone ? "{\"error\":\"gone\"}" : "{\"error\":\"invalid\"}";
    if (rc <= 0)
        mlog(LOG_INFO, "fetch_key %s: %s", key_id, why);
    else
        mlog(LOG_INFO, "fetch_key %s: stored", key_id);
    rc = answer(ctx, key_id, value, err, errlen);
    args_free(&a);
    return rc;
}
