/* account_image_process (queue "media"): an avatar or header the module
 * handed over with update_credentials.  args {"account_id", "attribute"
 * (avatar, header), "spool", "offset", "size", "content_type",
 * "file_name"}: resized (Account::Avatar 400x400, Account::Header
 * 1500x500, cropped), written beside the spool file and stored
 * (media_storage.h) under its key, accounts/{avatars,headers}/..., then
 * the account's columns point to it, its former files go, and the profile
 * Update goes to the remote followers.  A bad image changes nothing but
 * a row of account_image_failures, which update_credentials, waiting for
 * the worker, turns into Mastodon's synchronous 422.  The spool file goes
 * in every end but a retry.
 *
 * account_image_remove (queue "media"): {"account_id", "attribute",
 * "file_name"}: a removed avatar's or header's files. */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "media_storage.h"
#include "mstdn_media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the former name, when the account (local) is still there */
#define SET_SQL(attr)                                                                             \
    "WITH o AS (SELECT " attr "_file_name AS name FROM accounts"                                  \
    " WHERE id = $1::bigint AND domain IS NULL FOR UPDATE),"                                      \
    " u AS (UPDATE accounts SET " attr "_file_name = $2, " attr "_content_type = $3,"             \
    " " attr "_file_size = $4::integer, " attr "_updated_at = now() AT TIME ZONE 'UTC',"          \
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint AND domain IS NULL"             \
    " RETURNING id),"                                                                             \
    " ob AS (INSERT INTO job_outbox (queue, type, args)"                                          \
    " SELECT 'push', 'activitypub_account', json_build_object('account_id', id::text,"            \
    " 'action', 'update')::text FROM u WHERE EXISTS (SELECT 1 FROM follows f"                     \
    " JOIN accounts fa ON fa.id = f.account_id AND fa.domain IS NOT NULL"                         \
    " WHERE f.target_account_id = $1::bigint))"                                                   \
    " SELECT o.name FROM o, u"

static const char avatar_sql[] = SET_SQL("avatar");
static const char header_sql[] = SET_SQL("header");

/* the names the module gives: 16 hex digits, a dot, a short extension */
static const char *attribute_valid(const char *attribute)
{
    if (attribute != NULL && strcmp(attribute, "avatar") == 0)
        return "avatar";
    if (attribute != NULL && strcmp(attribute, "header") == 0)
        return "header";
    return NULL;
}

/* an upload not taken: the API, waiting for it, answers 422; 0 or -1 */
static int not_taken(PGconn *db, const char *id, const char *attribute, const char *name,
                     const char *why, char *err, size_t errlen)
{
    const char *params[3] = { name, id, attribute };

    mlog(LOG_WARN, "account %s: %s not taken: %s", id, attribute, why);
    PGresult *res = db_query(db,
        "INSERT INTO account_image_failures (file_name, account_id, attribute)"
        " SELECT $1, id, $3 FROM accounts WHERE id = $2::bigint"
        " ON CONFLICT (file_name) DO NOTHING",
        3, params, PGRES_COMMAND_OK, err, errlen);
    PQclear(res);
    return res != NULL ? 0 : -1;
}

static int process(job_ctx *ctx, PGconn *db, const char *id, const char *attribute,
                   const char *spool, long long offset, long long size, const char *type,
                   const char *name, char *err, size_t errlen)
{
    char original[4096], still[4096], why[512] = "", bytes_text[24];
    char okey[MEDIA_KEY_MAX], skey[MEDIA_KEY_MAX];
    int animated = mstdn_media_profile_animated(name);

    if (media_profile_key(okey, sizeof(okey), id, attribute, "original", name) != 0
        || media_profile_key(skey, sizeof(skey), id, attribute, "static", name) != 0) {
        mlog(LOG_WARN, "account %s: %s not taken: not a file name of ours", id, attribute);
        return 0;
    }
    /* written beside the spool file, then handed to the storage */
    snprintf(original, sizeof(original), "%s.original", spool);
    snprintf(still, sizeof(still), "%s.static", spool);

    unsigned char *bytes = media_read_range(spool, offset, size, err, errlen);
    if (bytes == NULL) {
        snprintf(why, sizeof(why), "%s", err);
        return not_taken(db, id, attribute, name, why, err, errlen);
    }
    int avatar = strcmp(attribute, "avatar") == 0;
    media_profile_image img = {
        .bytes = bytes, .len = (size_t) size, .content_type = type,
        .width = avatar ? MEDIA_AVATAR_WIDTH : MEDIA_HEADER_WIDTH,
        .height = avatar ? MEDIA_AVATAR_HEIGHT : MEDIA_HEADER_HEIGHT,
        .original_path = original,
        .static_path = animated ? still : NULL,
    };
    int rc = media_profile_image_process(&img, why, sizeof(why));
    free(bytes);
    if (rc == -2) {
        snprintf(err, errlen, "writing %s: %s", original, why);
        return -1;
    }
    if (rc != 0)
        return not_taken(db, id, attribute, name, why, err, errlen);
    if (media_storage_put(ctx->cfg, okey, original, type, err, errlen) != 0
        || (animated && media_storage_put(ctx->cfg, skey, still, "image/png", err, errlen) != 0)) {
        /* a retry makes them again */
        unlink(original);
        unlink(still);
        return -1;
    }

    snprintf(bytes_text, sizeof(bytes_text), "%zu", img.original_bytes);
    const char *params[4] = { id, name, type, bytes_text };
    PGresult *res = db_query(db, avatar ? avatar_sql : header_sql, 4, params, PGRES_TUPLES_OK,
                             err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        /* the account is gone: so are its new files */
        PQclear(res);
        return media_profile_delete(ctx->cfg, 0, id, attribute, name, err, errlen);
    }
    char former[64] = "";
    if (!PQgetisnull(res, 0, 0))
        snprintf(former, sizeof(former), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    mlog(LOG_INFO, "account %s: %s %s, %dx%d", id, attribute, name, img.original.width,
         img.original.height);

    /* the former files (another name: each upload has its own) */
    if (media_file_name_valid(former) && strcmp(former, name) != 0
        && media_profile_delete(ctx->cfg, 0, id, attribute, former, err, errlen) != 0)
        mlog(LOG_WARN, "account %s: former %s left: %s", id, attribute, err);
    return 0;
}

int job_account_image_process(job_ctx *ctx, const char *args_json, size_t len, char *err,
                              size_t errlen)
{
    static const char *offset_path[] = { "offset", NULL }, *size_path[] = { "size", NULL };
    char id[MW_ID_LEN];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *spool = args_string(&a, "spool");
    const char *attribute = attribute_valid(args_string(&a, "attribute"));
    const char *type = args_string(&a, "content_type");
    const char *name = args_string(&a, "file_name");
    yajl_val off = yajl_tree_get(a.root, offset_path, yajl_t_number);
    yajl_val sz = yajl_tree_get(a.root, size_path, yajl_t_number);
    if (args_id(&a, "account_id", id) != 1 || spool == NULL || attribute == NULL || type == NULL
        || !media_file_name_valid(name) || off == NULL || sz == NULL || !YAJL_IS_INTEGER(off)
        || !YAJL_IS_INTEGER(sz) || YAJL_GET_INTEGER(off) < 0 || YAJL_GET_INTEGER(sz) < 0
        || YAJL_GET_INTEGER(sz) > MSTDN_MEDIA_IMAGE_LIMIT) {
        snprintf(err, errlen, "args need account_id, attribute, spool, offset, size, content_type"
                              " and file_name (one the module made)");
        goto out;
    }

    PGconn *db = job_db(ctx, err, errlen);
    if (db != NULL)
        rc = process(ctx, db, id, attribute, spool, YAJL_GET_INTEGER(off), YAJL_GET_INTEGER(sz),
                     type, name, err, errlen);

    /* done with it, for good or bad; a retry needs it still */
    if (rc == 0 && unlink(spool) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "account %s: unlink %s: %s", id, spool, strerror(errno));
out:
    args_free(&a);
    return rc;
}

int job_account_image_remove(job_ctx *ctx, const char *args_json, size_t len, char *err,
                             size_t errlen)
{
    char id[MW_ID_LEN];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *attribute = attribute_valid(args_string(&a, "attribute"));
    const char *name = args_string(&a, "file_name");
    if (args_id(&a, "account_id", id) != 1 || attribute == NULL || !media_file_name_valid(name)) {
        snprintf(err, errlen, "args need account_id, attribute and file_name (one the module made)");
        goto out;
    }
    rc = media_profile_delete(ctx->cfg, 0, id, attribute, name, err, errlen);
    if (rc == 0)
        mlog(LOG_INFO, "account %s: %s %s removed", id, attribute, name);
out:
    args_free(&a);
    return rc;
}
