/* thread_resolve (Mastodon's ThreadResolveWorker, queue pull): a remote
 * status stored as a reply to a status we did not have gets its parent,
 * fetched from the parent's origin (with its author) and stored; the
 * reply is then attached to it.  args {"status_id", "uri" (the parent's),
 * "depth" (ancestors fetched before this one)}.  The parent, if it answers
 * another unknown status, enqueues its own job one deeper, up to
 * INBOX_THREAD_DEPTH_MAX.  A parent that is gone, refused or deleted
 * leaves the reply as it is; a temporary failure retries the job. */
#include "inbox.h"
#include "args.h"
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_sanitize.h"

/* $1 the reply, $2 the parent: attached (when still unattached), the
 * parent's replies count as create_sql counts it, renderings forgotten */
static const char attach_sql[] =
    "WITH p AS (SELECT id, account_id FROM statuses WHERE id = $2::bigint"
    "  AND deleted_at IS NULL),"
    " u AS (UPDATE statuses s SET in_reply_to_id = p.id, in_reply_to_account_id = p.account_id,"
    "  updated_at = now() AT TIME ZONE 'UTC' FROM p"
    "  WHERE s.id = $1::bigint AND s.in_reply_to_id IS NULL AND s.deleted_at IS NULL"
    "  AND s.id <> p.id RETURNING s.id, s.visibility),"
    " rs AS (INSERT INTO status_stats (status_id, replies_count)"
    "  SELECT p.id, 1 FROM p, u WHERE u.visibility <= 1"
    "  ON CONFLICT (status_id) DO UPDATE SET replies_count = status_stats.replies_count + 1,"
    "  updated_at = now() AT TIME ZONE 'UTC'),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'default', 'status_forget', json_build_object('status_ids',"
    "   json_build_array(u.id::text, p.id::text))::text FROM p, u)"
    " SELECT id FROM u";

int job_thread_resolve(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char status_id[MW_ID_LEN], depth_s[MW_ID_LEN], parent[MW_ID_LEN], why[1024] = "";
    long depth = 0;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *uri = args_string(&a, "uri");
    int d = args_id(&a, "depth", depth_s);
    if (args_id(&a, "status_id", status_id) != 1 || uri == NULL || uri[0] == '\0'
        || strlen(uri) > MSTDN_REMOTE_URL_MAX || d < 0) {
        snprintf(err, errlen, "args need status_id, uri and depth");
        goto out;
    }
    if (d == 1)
        depth = atol(depth_s);
    if (depth >= INBOX_THREAD_DEPTH_MAX) {
        mlog(LOG_INFO, "thread_resolve %s: depth %ld, not fetched", uri, depth);
        rc = 0;
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;

    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t alloc;
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    mstdn_arena_allocator(ar, &alloc);
    int found = inbox_status_fetch(ctx, db, &alloc, uri, (int) depth + 1, parent, why,
                                   sizeof(why));
    mstdn_arena_destroy(ar);
    if (found < 0) {
        snprintf(err, errlen, "thread_resolve %s: %s", uri, why);
        goto out;
    }
    if (found == 0) {
        mlog(LOG_INFO, "thread_resolve %s: %s", uri, why);
        rc = 0;
        goto out;
    }
    const char *params[2] = { status_id, parent };
    PGresult *res = db_query(db, attach_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    mlog(LOG_INFO, "thread_resolve %s: status %s %s %s", uri, status_id,
         PQntuples(res) == 1 ? "attached to" : "already attached, parent", parent);
    PQclear(res);
    rc = 0;
out:
    args_free(&a);
    return rc;
}
