/* Announcements: publishing (announcements.h) and the jobs
 * announcement_publish (PublishScheduledAnnouncementWorker: a scheduled
 * announcement at its time) and announcement_reaction
 * (PublishAnnouncementReactionWorker: a reaction's new count).  Events are
 * rendered with no viewer, as Mastodon's InlineRenderer renders them:
 * no `read`, reactions without `me`. */
#include "announcements.h"
#include "args.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "media_storage.h"
#include "queue.h"
#include "util.h"
#include "mstdn_emoji.h"
#include "mstdn_text.h"
#include "mstdn_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANNOUNCEMENT_ENTITIES_MAX  64

#define ISO(c) "to_char(" c ", 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* $1 id: the text */
static const char text_sql[] = "SELECT text FROM announcements WHERE id = $1::bigint";

/* $1 usernames, $2 domains ('' local), $3 base URL: the accounts a text
 * mentions that are known (Account.from_text) */
static const char mentions_sql[] =
    "SELECT DISTINCT ON (a.id) a.id::text, a.username, coalesce(a.domain, ''),"
    " CASE WHEN a.domain IS NULL THEN $3::text || '/@' || a.username"
    "  ELSE coalesce(a.url, a.uri) END,"
    " CASE WHEN a.domain IS NULL THEN a.username"
    "  ELSE a.username || '@' || a.domain END"
    " FROM unnest($1::text[], $2::text[]) m(u, d)"
    " JOIN accounts a ON lower(a.username) = lower(m.u)"
    "  AND coalesce(lower(a.domain), '') = lower(m.d)"
    " WHERE a.suspended_at IS NULL";

/* $1 id, $2 the rendered part, $3 the URLs in the text, $4 the ids of
 * the local status URLs among them, $5 the base URL: published (its
 * status_ids as Status.from_text finds them), and what the event shows */
static const char publish_sql[] =
    "UPDATE announcements SET published = true, scheduled_at = NULL,"
    " published_at = CASE WHEN published THEN published_at"
    "  ELSE now() AT TIME ZONE 'UTC' END,"
    " status_ids = ARRAY(SELECT s.id FROM statuses s WHERE s.uri = ANY ($3::text[])"
    "  UNION SELECT s.id FROM statuses s JOIN accounts a ON a.id = s.account_id"
    "  AND a.domain IS NULL WHERE s.id = ANY ($4::bigint[])),"
    " rendered = $2::jsonb,"
    " updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE id = $1::bigint RETURNING id::text, " ISO("starts_at") ", " ISO("ends_at") ","
    " all_day, " ISO("published_at") ", " ISO("updated_at") ","
    " " MSTDN_EMOJIS_SQL("NULL", "text") ","
    " (SELECT json_agg(json_build_array(r.name, r.n, ce.id::text, ce.image_file_name)"
    "   ORDER BY r.first) FROM (SELECT name, custom_emoji_id, count(*) n,"
    "   min(created_at) first FROM announcement_reactions"
    "   WHERE announcement_id = announcements.id GROUP BY name, custom_emoji_id) r"
    "  LEFT JOIN custom_emojis ce ON ce.id = r.custom_emoji_id),"
    " mastodon_announcement_statuses(status_ids, $5::text)";

typedef struct {
    PGresult *res;
} mention_rows;

static int mention_of(void *data, const char *username, size_t ulen, const char *domain,
                      size_t dlen, const char **url, size_t *url_len, const char **display,
                      size_t *display_len)
{
    mention_rows *m = data;

    for (int i = 0; m->res != NULL && i < PQntuples(m->res); i++) {
        const char *u = PQgetvalue(m->res, i, 1), *d = PQgetvalue(m->res, i, 2);
        if (strlen(u) != ulen || strncasecmp(u, username, ulen) != 0)
            continue;
        if (strlen(d) != (domain ? dlen : 0) || (domain && strncasecmp(d, domain, dlen) != 0))
            continue;
        *url = PQgetvalue(m->res, i, 3);
        *url_len = strlen(*url);
        *display = u;
        *display_len = strlen(u);
        return 1;
    }
    return 0;
}

/* appends "key":"value" (quoted) */
static void put_str(FILE *f, const char *key, const char *value)
{
    char *q = json_quoted(value);
    if (q != NULL)
        fprintf(f, "\"%s\":%s", key, q);
    else
        fprintf(f, "\"%s\":null", key);
    free(q);
}

static void put_nullable(FILE *f, const PGresult *res, int col, const char *key)
{
    if (PQgetisnull(res, 0, col))
        fprintf(f, "\"%s\":null", key);
    else
        put_str(f, key, PQgetvalue(res, 0, col));
}

/* url and static_url of a local custom emoji (the module's layout) */
static int emoji_urls(const worker_config *cfg, const char *id, const char *file,
                      char *url, char *static_url, size_t len)
{
    char key[MEDIA_KEY_MAX], png[512];
    const char *dot = strrchr(file, '.');
    int base = dot != NULL ? (int) (dot - file) : (int) strlen(file);

    snprintf(png, sizeof(png), "%.*s.png", base, file);
    if (media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "original", file) != 0)
        return -1;
    media_storage_url(cfg, key, url, len);
    if (media_key(key, sizeof(key), 0, "custom_emojis", "images", id, "static", png) != 0)
        return -1;
    media_storage_url(cfg, key, static_url, len);
    return 0;
}

/* "emojis": MSTDN_EMOJIS_SQL's array as CustomEmoji entities (local ones) */
static void put_emojis(FILE *f, const worker_config *cfg, const char *json)
{
    char url[1024], static_url[1024];
    yajl_val doc = json != NULL && json[0] != '\0' ? yajl_tree_parse(json, NULL, 0) : NULL;
    int n = 0;

    fputs("\"emojis\":[", f);
    for (size_t i = 0; doc != NULL && YAJL_IS_ARRAY(doc) && i < doc->u.array.len; i++) {
        yajl_val e = doc->u.array.values[i];
        if (!YAJL_IS_ARRAY(e) || e->u.array.len < 4)
            continue;
        const char *code = YAJL_GET_STRING(e->u.array.values[0]);
        const char *id = YAJL_GET_STRING(e->u.array.values[2]);
        const char *file = YAJL_GET_STRING(e->u.array.values[3]);
        if (code == NULL || id == NULL || file == NULL
            || emoji_urls(cfg, id, file, url, static_url, sizeof(url)) != 0)
            continue;
        fputs(n++ ? ",{" : "{", f);
        put_str(f, "shortcode", code);
        fputc(',', f);
        put_str(f, "url", url);
        fputc(',', f);
        put_str(f, "static_url", static_url);
        fputs(",\"visible_in_picker\":true}", f);
    }
    fputc(']', f);
    yajl_tree_free(doc);
}

/* one Reaction as an event shows it: no `me` */
static void put_reaction(FILE *f, const worker_config *cfg, const char *name, long long count,
                         const char *emoji_id, const char *file)
{
    char url[1024], static_url[1024];

    fputc('{', f);
    put_str(f, "name", name);
    fprintf(f, ",\"count\":%lld", count);
    if (emoji_id != NULL && file != NULL
        && emoji_urls(cfg, emoji_id, file, url, static_url, sizeof(url)) == 0) {
        fputc(',', f);
        put_str(f, "url", url);
        fputc(',', f);
        put_str(f, "static_url", static_url);
    }
}

static void put_reactions(FILE *f, const worker_config *cfg, const char *json)
{
    yajl_val doc = json != NULL && json[0] != '\0' ? yajl_tree_parse(json, NULL, 0) : NULL;
    int n = 0;

    fputs("\"reactions\":[", f);
    for (size_t i = 0; doc != NULL && YAJL_IS_ARRAY(doc) && i < doc->u.array.len; i++) {
        yajl_val e = doc->u.array.values[i];
        if (!YAJL_IS_ARRAY(e) || e->u.array.len < 4 || !YAJL_IS_STRING(e->u.array.values[0]))
            continue;
        if (n++)
            fputc(',', f);
        put_reaction(f, cfg, YAJL_GET_STRING(e->u.array.values[0]),
                     YAJL_IS_INTEGER(e->u.array.values[1])
                         ? YAJL_GET_INTEGER(e->u.array.values[1]) : 0,
                     YAJL_GET_STRING(e->u.array.values[2]),
                     YAJL_GET_STRING(e->u.array.values[3]));
        fputc('}', f);
    }
    fputc(']', f);
    yajl_tree_free(doc);
}

static int publish_event(redisContext *c, const char *text, size_t len, char *err, size_t errlen)
{
    redisReply *r = redisCommand(c, "PUBLISH " ANNOUNCEMENTS_CHANNEL " %b", text, len);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc != 0)
        snprintf(err, errlen, "redis: PUBLISH: %s", r->str);
    freeReplyObject(r);
    return rc;
}

/* an array literal of PostgreSQL's text[] */
static void put_pg_array(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            fputc('\\', f);
        fputc(s[i], f);
    }
    fputc('"', f);
}

/* Status.from_text's URLs: all of them as a text[] literal (statuses known
 * by uri), and the ids of those that are this server's status URLs
 * (<base>/@user/<id>, <base>/users/user/statuses/<id>) as a bigint[] one */
static int status_urls(const worker_config *cfg, const char *text, const mstdn_entity_t *ents,
                       size_t n, char **urls, char **ids)
{
    size_t ulen, ilen, blen = strlen(cfg->base);
    int nu = 0, ni = 0;
    FILE *fu = open_memstream(urls, &ulen), *fi = open_memstream(ids, &ilen);

    if (fu == NULL || fi == NULL) {
        if (fu != NULL)
            fclose(fu);
        if (fi != NULL)
            fclose(fi);
        return -1;
    }
    fputc('{', fu);
    fputc('{', fi);
    for (size_t i = 0; i < n; i++) {
        const char *u = text + ents[i].start;
        size_t len = ents[i].end - ents[i].start;
        if (ents[i].type != MSTDN_ENTITY_URL)
            continue;
        if (nu++)
            fputc(',', fu);
        put_pg_array(fu, u, len);
        if (len <= blen || strncmp(u, cfg->base, blen) != 0
            || (strncmp(u + blen, "/@", 2) != 0 && strncmp(u + blen, "/users/", 7) != 0))
            continue;
        size_t d = len;
        while (d > blen && u[d - 1] >= '0' && u[d - 1] <= '9')
            d--;
        if (d == len || u[d - 1] != '/' || len - d > 19)
            continue;
        fprintf(fi, ni++ ? ",%.*s" : "%.*s", (int) (len - d), u + d);
    }
    fputc('}', fu);
    fputc('}', fi);
    fclose(fu);
    fclose(fi);
    return 0;
}

int announcement_publish(PGconn *db, redisContext *c, const worker_config *cfg,
                         const char *id, char *err, size_t errlen)
{
    mstdn_entity_t ents[ANNOUNCEMENT_ENTITIES_MAX];
    PGresult *res = NULL, *text_res = NULL;
    mention_rows mentions = { NULL };
    char *users = NULL, *domains = NULL, *parts = NULL, *rendered = NULL, *event = NULL;
    char *html = NULL, *urls = NULL, *local_ids = NULL;
    size_t ulen, dlen, plen, rlen, elen, hlen;
    int rc = -1, nm = 0, nt = 0;
    mstdn_arena_t *arena = NULL;

    const char *p1[1] = { id };
    text_res = db_query(db, text_sql, 1, p1, PGRES_TUPLES_OK, err, errlen);
    if (text_res == NULL)
        return -1;
    if (PQntuples(text_res) == 0) {
        PQclear(text_res);
        return 0;
    }
    const char *text = PQgetvalue(text_res, 0, 0);
    size_t n = mstdn_text_entities(text, strlen(text), ents, ANNOUNCEMENT_ENTITIES_MAX);
    if (n > ANNOUNCEMENT_ENTITIES_MAX)
        n = ANNOUNCEMENT_ENTITIES_MAX;
    /* the URLs first: mstdn_text_distinct() drops them */
    if (status_urls(cfg, text, ents, n, &urls, &local_ids) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    n = mstdn_text_distinct(ents, n);

    /* the mentioned accounts known here */
    FILE *fu = open_memstream(&users, &ulen), *fd = open_memstream(&domains, &dlen);
    if (fu == NULL || fd == NULL) {
        if (fu != NULL)
            fclose(fu);
        if (fd != NULL)
            fclose(fd);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fputc('{', fu);
    fputc('{', fd);
    for (size_t i = 0; i < n; i++) {
        if (ents[i].type != MSTDN_ENTITY_MENTION)
            continue;
        int local = ents[i].domain == NULL
                    || (ents[i].domain_len == strlen(cfg->domain)
                        && strncasecmp(ents[i].domain, cfg->domain, ents[i].domain_len) == 0);
        if (nm++) {
            fputc(',', fu);
            fputc(',', fd);
        }
        put_pg_array(fu, ents[i].name, ents[i].name_len);
        put_pg_array(fd, local ? "" : ents[i].domain, local ? 0 : ents[i].domain_len);
    }
    fputc('}', fu);
    fputc('}', fd);
    fclose(fu);
    fclose(fd);
    const char *p3[3] = { users, domains, cfg->base };
    mentions.res = db_query(db, mentions_sql, 3, p3, PGRES_TUPLES_OK, err, errlen);
    if (mentions.res == NULL)
        goto out;

    /* content: linkify(text) */
    arena = mstdn_arena_create();
    if (arena == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    mstdn_alloc_t al;
    mstdn_text_options_t opt;
    mstdn_arena_allocator(arena, &al);
    memset(&opt, 0, sizeof(opt));
    opt.base_url = cfg->base;
    opt.base_url_len = strlen(cfg->base);
    opt.local_domain = cfg->domain;
    opt.local_domain_len = strlen(cfg->domain);
    opt.multiline = 1;
    opt.mention = mention_of;
    opt.ctx = &mentions;
    if (mstdn_text_format(text, strlen(text), &opt, &al, &html, &hlen) != 0) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    /* the viewer-independent part: mentions and tags, then with content */
    FILE *f = open_memstream(&parts, &plen);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fputs("\"mentions\":[", f);
    for (int i = 0; i < PQntuples(mentions.res); i++) {
        fputs(i ? ",{" : "{", f);
        put_str(f, "id", PQgetvalue(mentions.res, i, 0));
        fputc(',', f);
        put_str(f, "username", PQgetvalue(mentions.res, i, 1));
        fputc(',', f);
        put_str(f, "url", PQgetvalue(mentions.res, i, 3));
        fputc(',', f);
        put_str(f, "acct", PQgetvalue(mentions.res, i, 4));
        fputc('}', f);
    }
    fputs("],\"tags\":[", f);
    for (size_t i = 0; i < n; i++) {
        char name[256], url[1024];
        if (ents[i].type != MSTDN_ENTITY_HASHTAG || ents[i].name_len >= sizeof(name))
            continue;
        snprintf(name, sizeof(name), "%.*s", (int) ents[i].name_len, ents[i].name);
        snprintf(url, sizeof(url), "%s/tags/%s", cfg->base, name);
        fputs(nt++ ? ",{" : "{", f);
        put_str(f, "name", name);
        fputc(',', f);
        put_str(f, "url", url);
        fputc('}', f);
    }
    fputc(']', f);
    fclose(f);
    f = open_memstream(&rendered, &rlen);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fputc('{', f);
    put_str(f, "content", html);
    fprintf(f, ",%s}", parts);
    fclose(f);

    const char *p2[5] = { id, rendered, urls, local_ids, cfg->base };
    res = db_query(db, publish_sql, 5, p2, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }

    /* the event: REST::AnnouncementSerializer with no current user */
    f = open_memstream(&event, &elen);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fputs("{\"event\":\"announcement\",\"payload\":{", f);
    put_str(f, "id", PQgetvalue(res, 0, 0));
    fputc(',', f);
    put_str(f, "content", html);
    fputc(',', f);
    put_nullable(f, res, 1, "starts_at");
    fputc(',', f);
    put_nullable(f, res, 2, "ends_at");
    fprintf(f, ",\"all_day\":%s,", PQgetvalue(res, 0, 3)[0] == 't' ? "true" : "false");
    put_nullable(f, res, 4, "published_at");
    fputc(',', f);
    put_nullable(f, res, 5, "updated_at");
    /* mentions and tags as rendered above */
    fprintf(f, ",%s,\"statuses\":%s,", parts, PQgetvalue(res, 0, 8));
    put_emojis(f, cfg, PQgetvalue(res, 0, 6));
    fputc(',', f);
    put_reactions(f, cfg, PQgetvalue(res, 0, 7));
    fputs("}}", f);
    fclose(f);

    rc = publish_event(c, event, elen, err, errlen) == 0 ? 1 : -1;
out:
    PQclear(text_res);
    PQclear(mentions.res);
    PQclear(res);
    free(users);
    free(domains);
    free(parts);
    free(urls);
    free(local_ids);
    free(rendered);
    free(event);
    if (arena != NULL)
        mstdn_arena_destroy(arena);
    return rc;
}

int announcement_delete_event(redisContext *c, const char *id, char *err, size_t errlen)
{
    char *q = json_quoted(id), *ev = NULL;
    int n = q != NULL ? asprintf(&ev, "{\"event\":\"announcement.delete\",\"payload\":%s}", q)
                      : -1;
    int rc = n < 0 ? -1 : publish_event(c, ev, (size_t) n, err, errlen);

    if (n < 0)
        snprintf(err, errlen, "out of memory");
    free(q);
    free(ev);
    return rc;
}

/* $1 id: whether it waits for its time, and when (ms) */
static const char due_sql[] =
    "SELECT (extract(epoch FROM scheduled_at) * 1000)::bigint,"
    " scheduled_at <= now() AT TIME ZONE 'UTC'"
    " FROM announcements WHERE id = $1::bigint AND NOT published"
    " AND scheduled_at IS NOT NULL";

int job_announcement_publish(job_ctx *ctx, const char *args_json, size_t len, char *err,
                             size_t errlen)
{
    job_args a;
    char id[MW_ID_LEN];
    PGresult *res = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "announcement_id", id) != 1) {
        snprintf(err, errlen, "args need announcement_id (an id string)");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[1] = { id };
    res = db_query(db, due_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        /* published by hand meanwhile, unpublished, or removed */
        mlog(LOG_INFO, "announcement_publish: %s is not waiting", id);
        rc = 0;
    } else if (PQgetvalue(res, 0, 1)[0] != 't') {
        rc = queue_schedule_at(*ctx->redis, "default", "announcement_publish", args_json, len,
                               atoll(PQgetvalue(res, 0, 0)), err, errlen);
    } else {
        rc = announcement_publish(db, *ctx->redis, ctx->cfg, id, err, errlen) < 0 ? -1 : 0;
        if (rc == 0)
            mlog(LOG_INFO, "announcement_publish: %s published", id);
    }
out:
    PQclear(res);
    args_free(&a);
    return rc;
}

/* $1 id, $2 name: the reaction's count now (no row: the announcement is gone) */
static const char reaction_sql[] =
    "SELECT (SELECT count(*) FROM announcement_reactions r"
    "  WHERE r.announcement_id = a.id AND r.name = $2::text),"
    " ce.id::text, ce.image_file_name"
    " FROM announcements a LEFT JOIN custom_emojis ce ON ce.domain IS NULL"
    "  AND ce.shortcode = $2::text AND NOT ce.disabled"
    " WHERE a.id = $1::bigint";

int job_announcement_reaction(job_ctx *ctx, const char *args_json, size_t len, char *err,
                              size_t errlen)
{
    job_args a;
    char id[MW_ID_LEN];
    char *ev = NULL;
    size_t elen;
    PGresult *res = NULL;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *name = args_string(&a, "name");
    if (args_id(&a, "announcement_id", id) != 1 || name == NULL) {
        snprintf(err, errlen, "args need announcement_id and name");
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    const char *params[2] = { id, name };
    res = db_query(db, reaction_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;                         /* RecordNotFound: nothing to tell */
        goto out;
    }
    FILE *f = open_memstream(&ev, &elen);
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    fputs("{\"event\":\"announcement.reaction\",\"payload\":", f);
    /* none left: Mastodon renders a new, unsaved reaction (no emoji) */
    long long count = atoll(PQgetvalue(res, 0, 0));
    put_reaction(f, ctx->cfg, name, count,
                 count == 0 || PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1),
                 count == 0 || PQgetisnull(res, 0, 2) ? NULL : PQgetvalue(res, 0, 2));
    fputc(',', f);
    put_str(f, "announcement_id", id);
    fputs("}}", f);
    fclose(f);
    rc = publish_event(*ctx->redis, ev, elen, err, errlen);
out:
    free(ev);
    PQclear(res);
    args_free(&a);
    return rc;
}
