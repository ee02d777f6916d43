/* Announcements: publishing (announcements.h) and the jobs
 * announcement_publish (PublishScheduledAnnouncementWorker: a scheduled
 * announcement at its time) and announcement_reaction
 * (PublishAnnouncementReactionWorker: a reaction's new count).  Events
 * carry ids: the module's streams render the Announcement and the Reaction
 * (ngx_http_mastodon_announcement_render()), as GET /api/v1/announcements
 * does. */
#include "announcements.h"
#include "args.h"
#include "db.h"
#include "jobs.h"
#include "log.h"
#include "queue.h"
#include "util.h"
#include "mstdn_text.h"
#include "mstdn_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ANNOUNCEMENT_ENTITIES_MAX  64

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
 * the local status URLs among them: published (its status_ids as
 * Status.from_text finds them) */
static const char publish_sql[] =
    "UPDATE announcements SET published = true, scheduled_at = NULL,"
    " published_at = CASE WHEN published THEN published_at"
    "  ELSE now() AT TIME ZONE 'UTC' END,"
    " status_ids = ARRAY(SELECT s.id FROM statuses s WHERE s.uri = ANY ($3::text[])"
    "  UNION SELECT s.id FROM statuses s JOIN accounts a ON a.id = s.account_id"
    "  AND a.domain IS NULL WHERE s.id = ANY ($4::bigint[])),"
    " rendered = $2::jsonb,"
    " updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE id = $1::bigint RETURNING id::text";

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
    size_t ulen, dlen, plen, rlen, hlen;
    int rc = -1, nm = 0, nt = 0, elen;
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

    const char *p2[4] = { id, rendered, urls, local_ids };
    res = db_query(db, publish_sql, 4, p2, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 0) {
        rc = 0;
        goto out;
    }

    /* the event names it: the streams render it, as no one sees it */
    elen = asprintf(&event, "{\"event\":\"announcement\",\"announcement_id\":\"%s\"}",
                    PQgetvalue(res, 0, 0));
    if (elen < 0) {
        event = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = publish_event(c, event, (size_t) elen, err, errlen) == 0 ? 1 : -1;
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

int job_announcement_reaction(job_ctx *ctx, const char *args_json, size_t len, char *err,
                              size_t errlen)
{
    job_args a;
    char id[MW_ID_LEN];
    char *q = NULL, *ev = NULL;
    int n, rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *name = args_string(&a, "name");
    if (args_id(&a, "announcement_id", id) != 1 || name == NULL) {
        snprintf(err, errlen, "args need announcement_id and name");
        goto out;
    }
    /* the streams render the name's count then (the announcement gone:
     * nothing, as Mastodon's RecordNotFound) */
    q = json_quoted(name);
    n = q != NULL ? asprintf(&ev, "{\"event\":\"announcement.reaction\","
                                  "\"announcement_id\":\"%s\",\"name\":%s}", id, q)
                  : -1;
    if (n < 0) {
        ev = NULL;
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    rc = publish_event(*ctx->redis, ev, (size_t) n, err, errlen);
out:
    free(q);
    free(ev);
    args_free(&a);
    return rc;
}
