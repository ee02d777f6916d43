/* announcements add|list|publish|unpublish|remove: what Mastodon's admin
 * UI does with announcements (Admin::AnnouncementsController).  An
 * announcement without a future scheduled_at is published at once; a
 * scheduled one by the announcement_publish job at its time. */
#include "announcements.h"
#include "commands.h"
#include "db.h"
#include "queue.h"
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: mastodon-worker announcements add TEXT [--starts-at T --ends-at T] [--all-day]\n"
    "                                          [--scheduled-at T]\n"
    "       mastodon-worker announcements list | publish ID | unpublish ID | remove ID\n";

/* $1 text, $2 starts_at, $3 ends_at, $4 all_day, $5 scheduled_at: the id,
 * whether it waits (a future scheduled_at, Announcement#set_published),
 * and when (ms) */
static const char add_sql[] =
    "INSERT INTO announcements (text, starts_at, ends_at, all_day, scheduled_at)"
    " VALUES ($1::text, $2::timestamptz AT TIME ZONE 'UTC',"
    "  $3::timestamptz AT TIME ZONE 'UTC', $4::boolean,"
    "  $5::timestamptz AT TIME ZONE 'UTC')"
    " RETURNING id::text, scheduled_at > now() AT TIME ZONE 'UTC',"
    " (extract(epoch FROM scheduled_at) * 1000)::bigint";

static const char list_sql[] =
    "SELECT id, CASE WHEN published THEN 'published' WHEN scheduled_at IS NOT NULL"
    " THEN 'scheduled ' || to_char(scheduled_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
    " ELSE 'unpublished' END, text FROM announcements ORDER BY id";

static const char unpublish_sql[] =
    "UPDATE announcements SET published = false, scheduled_at = NULL,"
    " updated_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint"
    " RETURNING (SELECT published FROM announcements WHERE id = $1::bigint)";

static const char remove_sql[] =
    "DELETE FROM announcements WHERE id = $1::bigint RETURNING published";

static int add_cmd(const worker_config *cfg, PGconn *db, redisContext *rc, const char **v)
{
    char err[512], args[64];
    PGresult *res;

    if (v[0][0] == '\0' || (v[1] == NULL) != (v[2] == NULL)) {
        /* validates :text presence; starts_at and ends_at both or neither */
        fprintf(stderr, "mastodon-worker: %s\n", v[0][0] == '\0'
                ? "the text can't be blank"
                : "--starts-at and --ends-at go together");
        return 2;
    }
    res = db_query(db, add_sql, 5, v, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    const char *id = PQgetvalue(res, 0, 0);
    int ok;
    if (PQgetvalue(res, 0, 1)[0] == 't') {
        snprintf(args, sizeof(args), "{\"announcement_id\":\"%s\"}", id);
        ok = queue_schedule_at(rc, "default", "announcement_publish", args, strlen(args),
                               atoll(PQgetvalue(res, 0, 2)), err, sizeof(err)) == 0;
    } else {
        ok = announcement_publish(db, rc, cfg, id, err, sizeof(err)) >= 0;
    }
    if (!ok)
        fprintf(stderr, "mastodon-worker: announcement %s: %s\n", id, err);
    else
        printf("%s\n", id);
    PQclear(res);
    return ok ? 0 : 1;
}

static int list_cmd(PGconn *db)
{
    char err[512];
    PGresult *res = db_query(db, list_sql, 0, NULL, PGRES_TUPLES_OK, err, sizeof(err));

    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (int i = 0; i < PQntuples(res); i++)
        printf("%s\t%s\t%s\n", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
               PQgetvalue(res, i, 2));
    PQclear(res);
    return 0;
}

/* unpublish or remove: announcement.delete when it was published */
static int withdraw_cmd(PGconn *db, redisContext *rc, const char *sql, const char *id)
{
    char err[512];
    const char *params[1] = { id };
    PGresult *res = db_query(db, sql, 1, params, PGRES_TUPLES_OK, err, sizeof(err));

    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    int found = PQntuples(res) == 1, was = found && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    if (!found) {
        fprintf(stderr, "mastodon-worker: no announcement %s\n", id);
        return 1;
    }
    if (was && announcement_delete_event(rc, id, err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    return 0;
}

int cmd_announcements(worker_config *cfg, int argc, char **argv)
{
    char err[512];
    const char *sub = argc > 1 ? argv[1] : "", *arg = NULL;
    /* text, starts_at, ends_at, all_day, scheduled_at */
    const char *v[5] = { NULL, NULL, NULL, "false", NULL };
    int want = strcmp(sub, "list") == 0 ? 0 : 1, rc;

    if (want && strcmp(sub, "add") != 0 && strcmp(sub, "publish") != 0
        && strcmp(sub, "unpublish") != 0 && strcmp(sub, "remove") != 0) {
        fputs(usage_text, stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        int adding = strcmp(sub, "add") == 0, more = i + 1 < argc;
        if (adding && more && strcmp(argv[i], "--starts-at") == 0)
            v[1] = argv[++i];
        else if (adding && more && strcmp(argv[i], "--ends-at") == 0)
            v[2] = argv[++i];
        else if (adding && more && strcmp(argv[i], "--scheduled-at") == 0)
            v[4] = argv[++i];
        else if (adding && strcmp(argv[i], "--all-day") == 0)
            v[3] = "true";
        else if (argv[i][0] != '-' && arg == NULL && want)
            arg = argv[i];
        else {
            fputs(usage_text, stderr);
            return 2;
        }
    }
    if (want && arg == NULL) {
        fputs(usage_text, stderr);
        return 2;
    }
    if (want && strcmp(sub, "add") != 0 && arg[strspn(arg, "0123456789")] != '\0') {
        fprintf(stderr, "mastodon-worker: not an announcement id: %s\n", arg);
        return 2;
    }

    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    redisContext *redis = want ? redis_open(cfg, 0, err, sizeof(err)) : NULL;
    if (want && redis == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        db_close(&db);
        return 1;
    }
    if (strcmp(sub, "add") == 0) {
        v[0] = arg;
        rc = add_cmd(cfg, db, redis, v);
    } else if (strcmp(sub, "publish") == 0) {
        rc = announcement_publish(db, redis, cfg, arg, err, sizeof(err));
        if (rc <= 0)
            fprintf(stderr, "mastodon-worker: %s\n", rc == 0 ? "no such announcement" : err);
        rc = rc == 1 ? 0 : 1;
    } else if (strcmp(sub, "unpublish") == 0) {
        rc = withdraw_cmd(db, redis, unpublish_sql, arg);
    } else if (strcmp(sub, "remove") == 0) {
        rc = withdraw_cmd(db, redis, remove_sql, arg);
    } else {
        rc = list_cmd(db);
    }
    if (redis != NULL)
        redis_close(&redis);
    db_close(&db);
    return rc;
}
