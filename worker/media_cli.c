/* `mastodon-worker media usage | remove [--days N] [--dry-run]
 * [--prune-profiles | --remove-headers] [--include-follows]`: tootctl
 * media usage and remove.
 *
 * usage: the bytes of the attachments (file and thumbnail sizes, as
 * Mastodon sums them), all and local, then by type, custom emoji, avatars
 * and headers, in Rails' number_to_human_size (mstdn_media_human_size);
 * then the remote copies cached here (attachments, avatars, headers: what
 * `media remove` can give back).
 *
 * remove: the local copies of remote media (remote_url set, a file
 * cached) created at least N days ago (7) go from the storage (their
 * cache/ keys) and their file columns are cleared, as Paperclip's
 * file.destroy; the entity then points at the media proxy, which has the
 * worker fetch them again when asked (its statuses' rendering is
 * forgotten).  With --prune-profiles the cached avatars and headers of
 * remote accounts not fetched for N days go instead (--remove-headers:
 * headers only), skipping those that follow or are followed by anyone
 * unless --include-follows, as tootctl; they are downloaded again when
 * the account is next fetched.  Unattached local uploads are not this
 * command's: the worker's media_cleanup removes them after a day.
 * --dry-run counts without removing. */
#include "commands.h"
#include "db.h"
#include "media_storage.h"
#include "mstdn_media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: mastodon-worker media usage\n"
    "       mastodon-worker media remove [--days N] [--dry-run]"
    " [--prune-profiles | --remove-headers] [--include-follows]\n"
    "       mastodon-worker media remove-orphans [--dry-run]\n";

static int usage_cmd(PGconn *db)
{
    static const char *const types[] = { "image", "gifv", "video", "unknown", "audio" };
    char err[512], all[32], local[32];

    /* one row per line: label, all, local */
    PGresult *res = db_query(db,
        "WITH m AS (SELECT m.type, a.domain IS NULL AS local,"
        "  coalesce(m.file_file_size, 0)::bigint + coalesce(m.thumbnail_file_size, 0) AS size"
        "  FROM media_attachments m LEFT JOIN accounts a ON a.id = m.account_id)"
        " SELECT 'Attachments', coalesce(sum(size), 0), coalesce(sum(size) FILTER (WHERE local), 0)"
        "  FROM m"
        " UNION ALL SELECT 'type ' || t, coalesce(sum(size), 0),"
        "  coalesce(sum(size) FILTER (WHERE local), 0)"
        "  FROM generate_series(0, 4) t LEFT JOIN m ON m.type = t GROUP BY t"
        " UNION ALL SELECT 'Custom emoji', coalesce(sum(image_file_size), 0),"
        "  coalesce(sum(image_file_size) FILTER (WHERE domain IS NULL), 0) FROM custom_emojis"
        " UNION ALL SELECT 'Avatars', coalesce(sum(avatar_file_size), 0),"
        "  coalesce(sum(avatar_file_size) FILTER (WHERE domain IS NULL), 0) FROM accounts"
        " UNION ALL SELECT 'Headers', coalesce(sum(header_file_size), 0),"
        "  coalesce(sum(header_file_size) FILTER (WHERE domain IS NULL), 0) FROM accounts",
        0, NULL, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        const char *label = PQgetvalue(res, r, 0);
        mstdn_media_human_size(strtoull(PQgetvalue(res, r, 1), NULL, 10), all, sizeof(all));
        mstdn_media_human_size(strtoull(PQgetvalue(res, r, 2), NULL, 10), local, sizeof(local));
        if (strncmp(label, "type ", 5) == 0) {
            int t = atoi(label + 5);
            printf("  %s:\t%s (%s local)\n", types[t >= 0 && t <= 4 ? t : 3], all, local);
        } else {
            printf("%s:\t%s (%s local)\n", label, all, local);
        }
    }
    PQclear(res);

    /* the remote copies cached here */
    res = db_query(db,
        "SELECT (SELECT coalesce(sum(coalesce(file_file_size, 0)::bigint"
        "  + coalesce(thumbnail_file_size, 0)), 0) FROM media_attachments"
        "  WHERE remote_url <> '' AND file_file_name IS NOT NULL),"
        " coalesce(sum(avatar_file_size) FILTER (WHERE avatar_file_name IS NOT NULL), 0),"
        " coalesce(sum(header_file_size) FILTER (WHERE header_file_name IS NOT NULL), 0)"
        " FROM accounts WHERE domain IS NOT NULL",
        0, NULL, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    static const char *const cached[] = { "attachments", "avatars", "headers" };
    printf("Cached remote media:\n");
    for (int c = 0; c < 3; c++) {
        mstdn_media_human_size(strtoull(PQgetvalue(res, 0, c), NULL, 10), all, sizeof(all));
        printf("  %s:\t%s\n", cached[c], all);
    }
    PQclear(res);
    return 0;
}

/* the cached styles of one remote attachment out of the storage */
static int remove_files(const worker_config *cfg, const char *id, const char *name,
                        const char *thumbnail, char *err, size_t errlen)
{
    char key[MEDIA_KEY_MAX], png[128];
    const char *dot = strrchr(name, '.');

    snprintf(png, sizeof(png), "%.*s.png", dot ? (int) (dot - name) : (int) strlen(name), name);
    const char *files[][2] = { { "original", name }, { "small", name }, { "small", png } };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (media_key(key, sizeof(key), 1, "media_attachments", "files", id, files[i][0],
                      files[i][1]) != 0) {
            snprintf(err, errlen, "media %s: %s is not a file name of ours", id, files[i][1]);
            return -1;
        }
        if (media_storage_delete(cfg, key, err, errlen) != 0)
            return -1;
    }
    /* the cached thumbnail (an audio's or video's icon) */
    if (thumbnail != NULL
        && (media_key(key, sizeof(key), 1, "media_attachments", "thumbnails", id, "original",
                      thumbnail) != 0
            || media_storage_delete(cfg, key, err, errlen) != 0))
        return -1;
    return 0;
}

static int remove_cmd(const worker_config *cfg, PGconn *db, long days, int dry_run)
{
    char err[1024], days_text[24], after[24] = "0", size[32];
    long processed = 0, failed = 0;
    long long aggregate = 0;

    snprintf(days_text, sizeof(days_text), "%ld", days);
    for (;;) {
        const char *params[2] = { days_text, after };
        PGresult *res = db_query(db,
            "SELECT id, file_file_name,"
            " coalesce(file_file_size, 0)::bigint + coalesce(thumbnail_file_size, 0),"
            " thumbnail_file_name"
            " FROM media_attachments WHERE remote_url <> '' AND file_file_name IS NOT NULL"
            " AND created_at <= (now() AT TIME ZONE 'UTC') - make_interval(days => $1::int)"
            " AND id > $2::bigint ORDER BY id LIMIT 500",
            2, params, PGRES_TUPLES_OK, err, sizeof(err));
        if (res == NULL) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            return 1;
        }
        int n = PQntuples(res);
        for (int r = 0; r < n; r++) {
            const char *id = PQgetvalue(res, r, 0);
            if (!dry_run) {
                if (remove_files(cfg, id, PQgetvalue(res, r, 1),
                                 PQgetisnull(res, r, 3) ? NULL : PQgetvalue(res, r, 3), err,
                                 sizeof(err)) != 0) {
                    fprintf(stderr, "mastodon-worker: %s\n", err);
                    failed++;
                    continue;
                }
                const char *p[1] = { id };
                /* the status' rendering shows the proxy again */
                PGresult *u = db_query(db,
                    "WITH u AS (UPDATE media_attachments SET file_file_name = NULL,"
                    " file_content_type = NULL, file_file_size = NULL, file_updated_at = NULL,"
                    " thumbnail_file_name = NULL, thumbnail_content_type = NULL,"
                    " thumbnail_file_size = NULL, thumbnail_updated_at = NULL,"
                    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint"
                    " RETURNING status_id)"
                    " INSERT INTO job_outbox (queue, type, args)"
                    " SELECT 'default', 'status_forget', json_build_object('status_ids',"
                    " json_build_array(status_id::text))::text FROM u"
                    " WHERE status_id IS NOT NULL",
                    1, p, PGRES_COMMAND_OK, err, sizeof(err));
                if (u == NULL) {
                    fprintf(stderr, "mastodon-worker: %s\n", err);
                    PQclear(res);
                    return 1;
                }
                PQclear(u);
            }
            processed++;
            aggregate += atoll(PQgetvalue(res, r, 2));
        }
        if (n > 0)
            snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
        PQclear(res);
        if (n < 500)
            break;
    }
    mstdn_media_human_size((unsigned long long) aggregate, size, sizeof(size));
    printf("Removed %ld media attachments (approx. %s)%s\n", processed, size,
           dry_run ? " (DRY RUN)" : "");
    return failed ? 1 : 0;
}

/* --prune-profiles, --remove-headers: tootctl's remote accounts not
 * webfingered nor updated for N days, without follows either way unless
 * --include-follows */
static int remove_profiles_cmd(const worker_config *cfg, PGconn *db, long days, int dry_run,
                               int avatars, int include_follows)
{
    char err[1024], days_text[24], after[24] = "0", size[32];
    long processed = 0, failed = 0;
    long long aggregate = 0;
    static const char *const attrs[2] = { "header", "avatar" };

    snprintf(days_text, sizeof(days_text), "%ld", days);
    for (;;) {
        const char *params[4] = { days_text, after, include_follows ? "true" : "false",
                                  avatars ? "true" : "false" };
        PGresult *res = db_query(db,
            "SELECT a.id, a.header_file_name, a.avatar_file_name,"
            " coalesce(a.header_file_size, 0)::bigint"
            "  + CASE WHEN $4::boolean THEN coalesce(a.avatar_file_size, 0) ELSE 0 END"
            " FROM accounts a WHERE a.domain IS NOT NULL AND a.id > $2::bigint"
            " AND (a.header_file_name IS NOT NULL"
            "  OR ($4::boolean AND a.avatar_file_name IS NOT NULL))"
            " AND coalesce(a.last_webfingered_at, '-infinity')"
            "  <= (now() AT TIME ZONE 'UTC') - make_interval(days => $1::int)"
            " AND a.updated_at <= (now() AT TIME ZONE 'UTC') - make_interval(days => $1::int)"
            " AND ($3::boolean OR NOT EXISTS (SELECT 1 FROM follows f"
            "  WHERE f.account_id = a.id OR f.target_account_id = a.id))"
            " ORDER BY a.id LIMIT 500",
            4, params, PGRES_TUPLES_OK, err, sizeof(err));
        if (res == NULL) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            return 1;
        }
        int n = PQntuples(res);
        for (int r = 0; r < n; r++) {
            const char *id = PQgetvalue(res, r, 0);
            int bad = 0;
            for (int k = 0; k < (avatars ? 2 : 1) && !dry_run; k++) {
                if (PQgetisnull(res, r, 1 + k))
                    continue;
                const char *name = PQgetvalue(res, r, 1 + k);
                if (media_profile_delete(cfg, 1, id, attrs[k], name, err, sizeof(err)) != 0) {
                    fprintf(stderr, "mastodon-worker: %s\n", err);
                    bad = 1;
                    break;
                }
                char sql[384];
                const char *p[2] = { id, name };
                snprintf(sql, sizeof(sql),
                         "UPDATE accounts SET %s_file_name = NULL, %s_content_type = NULL,"
                         " %s_file_size = NULL, %s_updated_at = NULL"
                         " WHERE id = $1::bigint AND %s_file_name = $2",
                         attrs[k], attrs[k], attrs[k], attrs[k], attrs[k]);
                PGresult *u = db_query(db, sql, 2, p, PGRES_COMMAND_OK, err, sizeof(err));
                if (u == NULL) {
                    fprintf(stderr, "mastodon-worker: %s\n", err);
                    PQclear(res);
                    return 1;
                }
                PQclear(u);
            }
            if (bad) {
                failed++;
                continue;
            }
            processed++;
            aggregate += atoll(PQgetvalue(res, r, 3));
        }
        if (n > 0)
            snprintf(after, sizeof(after), "%s", PQgetvalue(res, n - 1, 0));
        PQclear(res);
        if (n < 500)
            break;
    }
    mstdn_media_human_size((unsigned long long) aggregate, size, sizeof(size));
    printf("Visited %ld accounts and removed profile media totaling %s%s\n", processed, size,
           dry_run ? " (DRY RUN)" : "");
    return failed ? 1 : 0;
}

int cmd_media(worker_config *cfg, int argc, char **argv)
{
    char err[512];
    long days = 7;
    int dry_run = 0, prune_profiles = 0, remove_headers = 0, include_follows = 0, rc;

    if (argc >= 2 && strcmp(argv[1], "remove-orphans") == 0)
        return cmd_media_remove_orphans(cfg, argc, argv);     /* media_orphans.c */
    if (argc < 2 || (strcmp(argv[1], "usage") != 0 && strcmp(argv[1], "remove") != 0)) {
        fputs(usage_text, stderr);
        return 2;
    }
    int remove = strcmp(argv[1], "remove") == 0;
    for (int i = 2; i < argc; i++) {
        char *end;
        if (remove && strcmp(argv[i], "--dry-run") == 0) {
            dry_run = 1;
        } else if (remove && strcmp(argv[i], "--prune-profiles") == 0) {
            prune_profiles = 1;
        } else if (remove && strcmp(argv[i], "--remove-headers") == 0) {
            remove_headers = 1;
        } else if (remove && strcmp(argv[i], "--include-follows") == 0) {
            include_follows = 1;
        } else if (remove && (strcmp(argv[i], "--days") == 0 || strcmp(argv[i], "-d") == 0)
                   && i + 1 < argc) {
            errno = 0;
            days = strtol(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0' || days < 0 || days > 36500) {
                fprintf(stderr, "mastodon-worker: --days: not a number of days: %s\n", argv[i]);
                return 2;
            }
        } else {
            fputs(usage_text, stderr);
            return 2;
        }
    }

    if (prune_profiles && remove_headers) {
        fprintf(stderr, "mastodon-worker: --prune-profiles and --remove-headers should not be"
                        " specified simultaneously\n");
        return 2;
    }

    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    if (remove && (prune_profiles || remove_headers))
        rc = remove_profiles_cmd(cfg, db, days, dry_run, prune_profiles, include_follows);
    else
        rc = remove ? remove_cmd(cfg, db, days, dry_run) : usage_cmd(db);
    db_close(&db);
    return rc;
}
