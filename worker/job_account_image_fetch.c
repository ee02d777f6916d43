/* account_image_fetch (queue "media"): a remote account's avatar or header
 * cached here, as Mastodon downloads them when it fetches or updates the
 * account (Account#avatar_remote_url=, RedownloadAvatarWorker).  args
 * {"account_id", "attribute" (avatar, header)}: the URL the account has
 * now is downloaded (media_download.c: guarded, Account::Avatar::LIMIT,
 * an image by its bytes), resized as a local one (400x400, 1500x500,
 * media_profile_image_process()), stored under cache/accounts/... and the
 * account's <attribute>_file_name etc. set, while the URL is still the one
 * downloaded; the former copy goes.  An account whose URL is now empty
 * loses its copy; nothing is fetched for a domain blocked with
 * reject_media; a file not to be had leaves the account as it was (the
 * entity then shows the remote URL, or the former copy). */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "log.h"
#include "media.h"
#include "media_storage.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FIND_SQL(attr)                                                                            \
    "SELECT coalesce(a." attr "_remote_url, ''), a." attr "_file_name,"                          \
    " mastodon_domain_rejects_media(a.domain) FROM accounts a"                                   \
    " WHERE a.id = $1::bigint AND a.domain IS NOT NULL"

/* the copy of the URL $5, while the account still has it; the former name */
#define SET_SQL(attr)                                                                             \
    "WITH o AS (SELECT " attr "_file_name AS name FROM accounts WHERE id = $1::bigint"            \
    " AND domain IS NOT NULL AND coalesce(" attr "_remote_url, '') = $5 FOR UPDATE),"             \
    " u AS (UPDATE accounts SET " attr "_file_name = $2, " attr "_content_type = $3,"             \
    " " attr "_file_size = $4::integer, " attr "_updated_at = now() AT TIME ZONE 'UTC',"          \
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint AND domain IS NOT NULL"         \
    " AND coalesce(" attr "_remote_url, '') = $5 RETURNING id)"                                   \
    " SELECT o.name FROM o, u"

static const char *const find_sql[2] = { FIND_SQL("avatar"), FIND_SQL("header") };
static const char *const set_sql[2] = { SET_SQL("avatar"), SET_SQL("header") };
static const char *const attributes[2] = { "avatar", "header" };

/* the URL is gone from the actor: so is the copy */
static int forget(job_ctx *ctx, PGconn *db, const char *id, int which, const char *name,
                  char *err, size_t errlen)
{
    char sql[512];
    const char *attr = attributes[which];
    const char *params[2] = { id, name };

    snprintf(sql, sizeof(sql),
             "UPDATE accounts SET %s_file_name = NULL, %s_content_type = NULL,"
             " %s_file_size = NULL, %s_updated_at = now() AT TIME ZONE 'UTC'"
             " WHERE id = $1::bigint AND domain IS NOT NULL AND %s_file_name = $2"
             " AND coalesce(%s_remote_url, '') = ''", attr, attr, attr, attr, attr, attr);
    PGresult *res = db_query(db, sql, 2, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    int cleared = strcmp(PQcmdTuples(res), "1") == 0;
    PQclear(res);
    if (cleared && media_file_name_valid(name))
        return media_profile_delete(ctx->cfg, 1, id, attr, name, err, errlen);
    return 0;
}

static int cache(job_ctx *ctx, PGconn *db, const char *id, int which, const char *url,
                 char *err, size_t errlen)
{
    const char *attr = attributes[which];
    char base[24], name[64], original[300], still[300], why[512] = "", bytes_text[24];
    char okey[MEDIA_KEY_MAX], skey[MEDIA_KEY_MAX];
    media_download_t dl;
    int rc = 0;

    int got = media_download(ctx, url, MEDIA_PROFILE_IMAGE_LIMIT, &dl, err, errlen);
    if (got <= 0) {
        if (got == 0)
            mlog(LOG_WARN, "account %s: %s not cached: %s", id, attr, err);
        return got;
    }
    if (dl.kind.type != MSTDN_MEDIA_IMAGE) {
        mlog(LOG_WARN, "account %s: %s not cached: %s is not an image", id, attr, dl.kind.mime);
        goto out;
    }
    if (random_hex(base, 8) != 0) {
        snprintf(err, errlen, "no randomness for a file name");
        rc = -1;
        goto out;
    }
    snprintf(name, sizeof(name), "%s.%s", base, dl.kind.extension);
    if (!media_file_name_valid(name) || media_cached_profile_key(okey, sizeof(okey), id, attr, "original",
                                                      name) != 0
        || media_cached_profile_key(skey, sizeof(skey), id, attr, "static", name) != 0) {
        mlog(LOG_WARN, "account %s: %s not cached: no file name for %s", id, attr,
             dl.kind.mime);
        goto out;
    }
    unsigned char *bytes = media_read_range(dl.path, 0, dl.size, err, errlen);
    if (bytes == NULL) {
        rc = -1;
        goto out;
    }
    int animated = mstdn_media_profile_animated(name);
    snprintf(original, sizeof(original), "%s.original", dl.path);
    snprintf(still, sizeof(still), "%s.static", dl.path);
    media_profile_image img = {
        .bytes = bytes, .len = (size_t) dl.size, .content_type = dl.kind.mime,
        .width = which == 0 ? MEDIA_AVATAR_WIDTH : MEDIA_HEADER_WIDTH,
        .height = which == 0 ? MEDIA_AVATAR_HEIGHT : MEDIA_HEADER_HEIGHT,
        .original_path = original,
        .static_path = animated ? still : NULL,
    };
    int p = media_profile_image_process(&img, why, sizeof(why));
    free(bytes);
    if (p == -2) {
        snprintf(err, errlen, "writing %s: %s", original, why);
        rc = -1;
        goto out;
    }
    if (p != 0) {
        mlog(LOG_WARN, "account %s: %s not cached: %s", id, attr, why);
        goto out;
    }
    if (media_storage_put(ctx->cfg, okey, original, dl.kind.mime, err, errlen) != 0
        || (animated && media_storage_put(ctx->cfg, skey, still, "image/png", err, errlen) != 0)) {
        unlink(original);
        unlink(still);
        rc = -1;
        goto out;
    }

    snprintf(bytes_text, sizeof(bytes_text), "%zu", img.original_bytes);
    const char *params[5] = { id, name, dl.kind.mime, bytes_text, url };
    PGresult *res = db_query(db, set_sql[which], 5, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL) {
        rc = -1;
        goto out;
    }
    if (PQntuples(res) != 1) {
        /* another URL meanwhile (its own job comes), or the account gone */
        PQclear(res);
        rc = media_profile_delete(ctx->cfg, 1, id, attr, name, err, errlen);
        goto out;
    }
    char former[64] = "";
    if (!PQgetisnull(res, 0, 0))
        snprintf(former, sizeof(former), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    mlog(LOG_INFO, "account %s: %s cached as %s, %dx%d", id, attr, name, img.original.width,
         img.original.height);
    if (media_file_name_valid(former) && strcmp(former, name) != 0
        && media_profile_delete(ctx->cfg, 1, id, attr, former, err, errlen) != 0)
        mlog(LOG_WARN, "account %s: former %s copy left: %s", id, attr, err);
out:
    if (unlink(dl.path) != 0 && errno != ENOENT)
        mlog(LOG_WARN, "account %s: unlink %s: %s", id, dl.path, strerror(errno));
    return rc;
}

int job_account_image_fetch(job_ctx *ctx, const char *args_json, size_t len, char *err,
                            size_t errlen)
{
    char id[MW_ID_LEN], url[2048], name[64] = "";
    const char *attribute;
    job_args a;
    int rc = -1, which;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    attribute = args_string(&a, "attribute");
    which = attribute == NULL ? -1 : strcmp(attribute, "avatar") == 0 ? 0
            : strcmp(attribute, "header") == 0 ? 1 : -1;
    if (args_id(&a, "account_id", id) != 1 || which < 0) {
        snprintf(err, errlen, "args need account_id and attribute (avatar, header)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[1] = { id };
    PGresult *res = db_query(db, find_sql[which], 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) != 1) {
        PQclear(res);
        rc = 0;
        goto out;
    }
    snprintf(url, sizeof(url), "%s", PQgetvalue(res, 0, 0));
    if (!PQgetisnull(res, 0, 1))
        snprintf(name, sizeof(name), "%s", PQgetvalue(res, 0, 1));
    int reject = PQgetvalue(res, 0, 2)[0] == 't';
    PQclear(res);

    if (url[0] == '\0')
        rc = name[0] != '\0' ? forget(ctx, db, id, which, name, err, errlen) : 0;
    else if (reject) {
        mlog(LOG_INFO, "account %s: %s not cached: its domain rejects media", id, attribute);
        rc = 0;
    } else
        rc = cache(ctx, db, id, which, url, err, errlen);
out:
    args_free(&a);
    return rc;
}
