/* List feeds: the walk over the lists holding an author, page by page
 * (list ids as the cursor), each page one feed batch. */
#include "list_feeds.h"
#include "db.h"
#include "log.h"
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIST_FEEDS_PAGE 2000

/* every list holding the author: its id, and whether the list takes the
 * status (the owner of a list is a local user: lists are made here) */
static const char lists_filtered_sql[] =
    "SELECT la.list_id, h.ok IS NOT NULL FROM list_accounts la"
    " JOIN lists l ON l.id = la.list_id"
    " LEFT JOIN follows f ON f.id = la.follow_id"
    " LEFT JOIN LATERAL mastodon_list_accepts(l.id, l.account_id, l.replies_policy,"
    "   f.languages, coalesce(f.show_reblogs, true),"
    "   $4::bigint, $1::bigint, $5::int, $6::boolean, $7::bigint, $8::bigint, $9::varchar,"
    "   $10::bigint, $11::bigint, $12::varchar) h(ok) ON true"
    " WHERE la.account_id = $1::bigint AND la.list_id > $2::bigint"
    "   AND (la.follow_id IS NOT NULL OR l.account_id = la.account_id)"
    " ORDER BY la.list_id LIMIT $3::int";

static const char lists_sql[] =
    "SELECT la.list_id FROM list_accounts la"
    " WHERE la.account_id = $1::bigint AND la.list_id > $2::bigint"
    " ORDER BY la.list_id LIMIT $3::int";

static const char owned_sql[] =
    "SELECT id FROM lists WHERE account_id = $1::bigint"
    " AND ($2::bigint IS NULL OR id = $2::bigint)";

static const char *or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

static PGresult *lists_page(PGconn *db, const status_facts *f, const char *account_id,
                            const char *cursor, char *err, size_t errlen)
{
    char limit[16], visibility[16];

    snprintf(limit, sizeof(limit), "%d", LIST_FEEDS_PAGE);
    if (f == NULL) {
        const char *params[3] = { account_id, cursor, limit };
        return db_query_prepared(db, "mw_lists", lists_sql, 3, params, PGRES_TUPLES_OK, err,
                                 errlen);
    }
    snprintf(visibility, sizeof(visibility), "%d", f->visibility);
    const char *params[12] = {
        f->account_id, cursor, limit, f->id, visibility, f->reply ? "t" : "f",
        or_null(f->in_reply_to_id), or_null(f->replied_account_id), or_null(f->language),
        or_null(f->reblog_of_id), or_null(f->reblog_account_id),
        f->reblog_of_id[0] != '\0' ? f->reblog_account_domain : NULL,
    };
    return db_query_prepared(db, "mw_lists_filtered", lists_filtered_sql, 12, params,
                             PGRES_TUPLES_OK, err, errlen);
}

int list_feeds_walk(job_ctx *ctx, PGconn *db, const status_facts *filter, const char *account_id,
                    const char *status_id, const char *reblog_of_id, feed_op op,
                    const char *event_key, long long *changed, char *err, size_t errlen)
{
    char cursor[MW_ID_LEN] = "0";
    feed_batch *b;
    int rc = -1;

    *changed = 0;
    /* Mastodon delivers direct statuses to no list */
    if (filter != NULL && filter->visibility > VISIBILITY_PRIVATE)
        return 0;
    /* most authors are in no list: status_load() asked (one index probe
     * spares the rule's planning and a statement) */
    if (filter != NULL && !filter->author_listed)
        return 0;
    b = malloc(sizeof(*b));
    if (b == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (feed_scripts_load(*ctx->redis, err, errlen) != 0)
        goto done;
    feed_batch_init(b, *ctx->redis, op, event_key, 1, ctx->cfg->feed_max);
    for (;;) {
        PGresult *page = lists_page(db, filter, account_id, cursor, err, errlen);
        if (page == NULL)
            goto done;
        int n = PQntuples(page);
        for (int i = 0; i < n; i++) {
            if (filter != NULL && PQgetvalue(page, i, 1)[0] != 't')
                continue;
            feed_batch_add_to(b, FEED_LIST_PREFIX, PQgetvalue(page, i, 0), status_id,
                              reblog_of_id);
        }
        if (n > 0)
            snprintf(cursor, sizeof(cursor), "%s", PQgetvalue(page, n - 1, 0));
        PQclear(page);
        if (feed_batch_collect(b, err, errlen) != 0)
            goto done;
        if (n < LIST_FEEDS_PAGE)
            break;
    }
    *changed = b->changed;
    rc = 0;
done:
    free(b);
    return rc;
}

int list_feeds_drop(redisContext *c, PGconn *db, const char *owner, const char *list_id,
                    char *err, size_t errlen)
{
    const char *params[2] = { owner, list_id };
    PGresult *res = db_query(db, owned_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    int rc = 0;

    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
        const char *id = PQgetvalue(res, i, 0);
        rc = redis_do(c, err, errlen, "DEL " FEED_LIST_PREFIX "%s " FEED_LIST_PREFIX "%s:reblogs",
                      id, id);
    }
    if (rc == 0 && PQntuples(res) > 0)
        mlog(LOG_DEBUG, "%d list feed(s) of %s dropped, to be rebuilt", PQntuples(res), owner);
    PQclear(res);
    return rc;
}
