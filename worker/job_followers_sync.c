/* followers_synchronization (queue push; Mastodon's
 * PrepareFollowersSynchronizationService, FollowersSynchronizationWorker
 * and SynchronizeFollowersService): a remote account told, in the
 * Collection-Synchronization header of a delivery, the digest of its
 * followers on our host and where to read them.  args {"account_id" (the
 * remote signer), "collection_id", "url", "digest"}, the header's values
 * as received.
 *
 * Nothing happens unless collection_id is the account's followers
 * collection, url is on the account's host and the digest differs from
 * ours (the XOR of the SHA-256 of the URIs of its local followers).  Then
 * the partial collection at url (a signed GET) lists the local accounts
 * the remote side holds as followers: a local follow it does not list is
 * undone (mastodon_unfollow, which sends the Undo).  Not done (Mastodon
 * does): accepting a request the list shows as a follow, and an Undo for
 * a follow listed there that we do not have. */
#include "inbox.h"
#include "args.h"
#include "db.h"
#include "fetch.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/sha.h>

#include "mstdn_sanitize.h"

#define SYNC_ITEMS_MAX  100000

/* 1 if our local followers of the account give that digest */
static int digest_matches(job_ctx *ctx, PGconn *db, const char *account, const char *digest,
                          char *err, size_t errlen)
{
    unsigned char x[SHA256_DIGEST_LENGTH] = { 0 }, md[SHA256_DIGEST_LENGTH];
    char hex[2 * SHA256_DIGEST_LENGTH + 1], uri[1200];
    const char *params[1] = { account };

    PGresult *res = db_query(db, "SELECT a.username FROM follows f JOIN accounts a"
                             " ON a.id = f.account_id WHERE f.target_account_id = $1::bigint"
                             " AND a.domain IS NULL", 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        int n = snprintf(uri, sizeof(uri), "%s/users/%s", ctx->cfg->base, PQgetvalue(res, i, 0));
        SHA256((const unsigned char *) uri, (size_t) n, md);
        for (size_t b = 0; b < sizeof(x); b++)
            x[b] ^= md[b];
    }
    PQclear(res);
    hex_encode(hex, x, sizeof(x));
    return digest != NULL && strcasecmp(hex, digest) == 0;
}

/* The usernames of our accounts the collection lists, as a PostgreSQL
 * text[] literal (malloc'd), or NULL + err. */
static char *listed_usernames(job_ctx *ctx, const mstdn_value_t *doc, char *err, size_t errlen)
{
    const mstdn_value_t *items = mstdn_object_get(doc, "orderedItems");
    if (items == NULL)
        items = mstdn_object_get(doc, "items");
    const mstdn_value_t *first = mstdn_object_get(doc, "first");
    if (items == NULL && first != NULL && first->type == MSTDN_OBJECT) {
        items = mstdn_object_get(first, "orderedItems");
        if (items == NULL)
            items = mstdn_object_get(first, "items");
    }
    char prefix[1100];
    size_t plen = (size_t) snprintf(prefix, sizeof(prefix), "%s/users/", ctx->cfg->base);
    size_t cap = 16, used = 0;
    char *out = malloc(cap);
    int count = 0;

    if (out == NULL)
        goto nomem;
    out[used++] = '{';
    int many = items != NULL && items->type == MSTDN_ARRAY;
    for (const mstdn_value_t *e = many ? items->first : items;
         e != NULL && count < SYNC_ITEMS_MAX; e = many ? e->next : NULL) {
        const char *uri = inbox_ref(e);
        if (uri == NULL || strncmp(uri, prefix, plen) != 0)
            continue;
        const char *name = uri + plen;
        size_t n = strlen(name);
        /* a username: letters, digits and _ (nothing to quote) */
        if (n == 0 || n > 64
            || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n)
            continue;
        if (used + n + 3 > cap) {
            char *o = realloc(out, (used + n + 3) * 2);
            if (o == NULL)
                goto nomem;
            out = o;
            cap = (used + n + 3) * 2;
        }
        if (count++ > 0)
            out[used++] = ',';
        memcpy(out + used, name, n);
        used += n;
    }
    out[used++] = '}';
    out[used] = '\0';
    return out;
nomem:
    free(out);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

int job_followers_synchronization(job_ctx *ctx, const char *args_json, size_t len,
                                  char *err, size_t errlen)
{
    job_args a;
    char account[MW_ID_LEN], why[1024] = "", host[INBOX_HOST_MAX];
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *collection = args_string(&a, "collection_id");
    const char *url = args_string(&a, "url");
    const char *digest = args_string(&a, "digest");
    if (args_id(&a, "account_id", account) != 1 || collection == NULL || url == NULL
        || strlen(url) > MSTDN_REMOTE_URL_MAX) {
        snprintf(err, errlen, "args need account_id, collection_id and url");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;

    const char *params[2] = { account, collection };
    PGresult *res = db_query(db, "SELECT uri FROM accounts WHERE id = $1::bigint"
                             " AND domain IS NOT NULL AND followers_url = $2"
                             " AND followers_url <> ''", 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    int ok = PQntuples(res) == 1 && fetch_url_host(PQgetvalue(res, 0, 0), host, sizeof(host)) == 0
             && inbox_on_host(url, host);
    PQclear(res);
    rc = 0;
    if (!ok) {
        mlog(LOG_INFO, "followers_synchronization of %s: not its followers collection, or %s"
             " is on another host", account, url);
        goto out;
    }
    int same = digest_matches(ctx, db, account, digest, err, errlen);
    if (same != 0) {
        rc = same < 0 ? -1 : 0;
        if (same > 0)
            mlog(LOG_DEBUG, "followers_synchronization of %s: in sync", account);
        goto out;
    }

    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t alloc;
    const mstdn_value_t *doc = NULL;
    char *final_url = NULL, *names = NULL;
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
        goto out;
    }
    mstdn_arena_allocator(ar, &alloc);
    int got = inbox_fetch_json(ctx, url, 0, &alloc, &doc, &final_url, why, sizeof(why));
    if (got == 1 && (final_url == NULL || !inbox_on_host(final_url, host))) {
        snprintf(why, sizeof(why), "%s answered from another host", url);
        got = 0;
    }
    if (got == 1 && (names = listed_usernames(ctx, doc, err, errlen)) == NULL)
        got = -1;
    if (got == 1) {
        const char *p2[2] = { account, names };
        res = db_query(db, "SELECT count(*) FILTER (WHERE mastodon_unfollow(f.account_id,"
                       " $1::bigint, true) = 'unfollowed') FROM follows f JOIN accounts a"
                       " ON a.id = f.account_id WHERE f.target_account_id = $1::bigint"
                       " AND a.domain IS NULL AND NOT lower(a.username) = ANY"
                       " (SELECT lower(u) FROM unnest($2::text[]) u)",
                       2, p2, PGRES_TUPLES_OK, err, errlen);
        if (res == NULL) {
            got = -1;
        } else {
            mlog(LOG_INFO, "followers_synchronization of %s: %s local follow(s) it does not"
                 " list undone", account, PQgetvalue(res, 0, 0));
            PQclear(res);
        }
    } else if (got == 0) {
        mlog(LOG_INFO, "followers_synchronization of %s: %s", account, why);
    } else if (why[0] != '\0') {
        snprintf(err, errlen, "%s", why);
    }
    free(names);
    free(final_url);
    mstdn_arena_destroy(ar);
    rc = got < 0 ? -1 : 0;
out:
    args_free(&a);
    return rc;
}
