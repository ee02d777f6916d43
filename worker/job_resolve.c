/* resolve: a remote account or status a search with resolve=true names
 * (Mastodon's ResolveAccountService, ResolveURLService).  args {"q": "..."}:
 * "@user@host" / "user@host" (WebFinger, then the actor from its origin) or
 * an https URL (the document there: an actor, or a status with its author;
 * a document whose id is another URL of the same host is fetched again at
 * its id, which alone is authoritative).  The answer goes to Redis for the
 * module waiting on it: mastodon:resolve:<sha256 hex of q> =
 * {"account_id":"N"}, {"status_id":"N"} or {"error":"not_found"|"temporary"},
 * for 60 s; while it lives a second job for q does nothing. */
#include "inbox.h"
#include "args.h"
#include "db.h"
#include "fetch.h"
#include "log.h"
#include "redis.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>

#include "mstdn_html.h"
#include "mstdn_sanitize.h"

#define RESOLVE_TTL      60
#define RESOLVE_KEY_LEN  (sizeof("mastodon:resolve:") + 2 * SHA256_DIGEST_LENGTH)

static void answer_key(const char *q, char key[RESOLVE_KEY_LEN])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1];

    SHA256((const unsigned char *) q, strlen(q), md);
    hex_encode(hex, md, sizeof(md));
    snprintf(key, RESOLVE_KEY_LEN, "mastodon:resolve:%s", hex);
}

static const char *const status_types[] = { "Note", "Question", "Article", "Page" };

/* 1 found (kind "account"/"status", id), 0 not found, -1 temporary */
static int resolve_acct(job_ctx *ctx, PGconn *db, const char *q, const char **kind,
                        char id[MW_ID_LEN], char *err, size_t errlen)
{
    char user[64], host[256];

    if (q[0] == '@')
        q++;
    const char *at = strchr(q, '@');
    if (at == NULL || at == q || (size_t) (at - q) >= sizeof(user) || strlen(at + 1) == 0
        || strlen(at + 1) >= sizeof(host) || strchr(at + 1, '@') != NULL
        || strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
           != (size_t) (at - q)
        || strspn(at + 1, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]")
           != strlen(at + 1)) {
        snprintf(err, errlen, "%s is no account address", q);
        return 0;
    }
    memcpy(user, q, (size_t) (at - q));
    user[at - q] = '\0';
    snprintf(host, sizeof(host), "%s", at + 1);
    *kind = "account";

    /* one of ours */
    if (strcasecmp(host, ctx->cfg->domain) == 0) {
        const char *params[1] = { user };
        PGresult *res = db_query(db, "SELECT id FROM accounts WHERE domain IS NULL"
                                 " AND lower(username) = lower($1)", 1, params,
                                 PGRES_TUPLES_OK, err, errlen);
        if (res == NULL)
            return -1;
        int found = PQntuples(res) == 1;
        if (found)
            snprintf(id, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return found;
    }

    inbox_webfinger_t wf;
    int rc = inbox_webfinger(ctx, user, host, &wf, err, errlen);
    if (rc <= 0)
        return rc;
    const char *actor = wf.self;
    return inbox_actor_fetch(ctx, db, actor, id, err, errlen);
}

/* a URL: known here, else the document there */
static int resolve_url(job_ctx *ctx, PGconn *db, const mstdn_alloc_t *a, const char *q,
                       const char **kind, char id[MW_ID_LEN], char *err, size_t errlen)
{
    const mstdn_value_t *doc = NULL;
    char *final_url = NULL, host[INBOX_HOST_MAX];

    if (strlen(q) > MSTDN_REMOTE_URL_MAX || fetch_url_host(q, host, sizeof(host)) != 0) {
        snprintf(err, errlen, "%s is no URL", q);
        return 0;
    }
    const char *params[1] = { q };
    PGresult *res = db_query(db, "SELECT 'account', id FROM accounts WHERE (uri = $1 OR url = $1)"
                             " AND suspended_at IS NULL"
                             " UNION ALL SELECT 'status', id FROM statuses WHERE"
                             " (uri = $1 OR url = $1) AND deleted_at IS NULL LIMIT 1",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        *kind = PQgetvalue(res, 0, 0)[0] == 'a' ? "account" : "status";
        snprintf(id, MW_ID_LEN, "%s", PQgetvalue(res, 0, 1));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    int rc = inbox_fetch_json(ctx, q, 0, a, &doc, &final_url, err, errlen);
    free(final_url);
    if (rc <= 0)
        return rc;
    /* only the document's id speaks for it: fetched again there (its host) */
    const char *uri = inbox_str(doc, "id");
    if (uri == NULL || !inbox_on_host(uri, host)) {
        snprintf(err, errlen, "%s: a document of another host", q);
        return 0;
    }
    int status = 0;
    for (size_t i = 0; i < sizeof(status_types) / sizeof(status_types[0]); i++)
        status |= inbox_type_is(doc, status_types[i]);
    if (status) {
        *kind = "status";
        return inbox_status_fetch(ctx, db, a, uri, 0, id, err, errlen);
    }
    *kind = "account";
    return inbox_actor_fetch(ctx, db, uri, id, err, errlen);
}

int job_resolve(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args args;
    char key[RESOLVE_KEY_LEN], id[MW_ID_LEN], why[8192] = "", value[96];
    const char *kind = "account";
    mstdn_alloc_t a;

    if (args_parse(&args, args_json, len, err, errlen) != 0)
        return -1;
    const char *q = args_string(&args, "q");
    if (q == NULL || q[0] == '\0' || strlen(q) > MSTDN_REMOTE_URL_MAX) {
        args_free(&args);
        snprintf(err, errlen, "args need q (a string)");
        return -1;
    }
    answer_key(q, key);
    redisReply *r = redisCommand(*ctx->redis, "EXISTS %s", key);
    int answered = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r != NULL)
        freeReplyObject(r);
    if (answered) {
        args_free(&args);
        return 0;
    }

    int rc = -1;
    mstdn_arena_t *ar = mstdn_arena_create();
    PGconn *db = ar != NULL ? job_db(ctx, why, sizeof(why)) : NULL;
    if (db != NULL) {
        mstdn_arena_allocator(ar, &a);
        if (strncasecmp(q, "https://", 8) == 0 || strncasecmp(q, "http://", 7) == 0)
            rc = resolve_url(ctx, db, &a, q, &kind, id, why, sizeof(why));
        else
            rc = resolve_acct(ctx, db, q, &kind, id, why, sizeof(why));
    }
    if (rc > 0) {
        snprintf(value, sizeof(value), "{\"%s_id\":\"%s\"}", kind, id);
        mlog(LOG_INFO, "resolve %s: %s %s", q, kind, id);
    } else {
        snprintf(value, sizeof(value), "{\"error\":\"%s\"}", rc < 0 ? "temporary" : "not_found");
        mlog(LOG_INFO, "resolve %s: %s", q, why);
    }
    rc = redis_do(*ctx->redis, err, errlen, "SET %s %s EX %d", key, value, RESOLVE_TTL);
    if (ar != NULL)
        mstdn_arena_destroy(ar);
    args_free(&args);
    return rc;
}
