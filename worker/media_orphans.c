/* `mastodon-worker media remove-orphans [--dry-run]`: tootctl media
 * remove-orphans.  Every file stored (media_root, or the bucket's listing:
 * media_storage_list()) whose key is one of Paperclip's
 *
 *     [cache/]<class>/<attachment>/<partition...>/<style>/<name>
 *
 * for an attachment we keep (media_attachments files and thumbnails,
 * accounts avatars and headers, custom_emojis images) is an orphan when
 * its record is gone or names another file (Paperclip's variant?: the
 * names' stems differ), and is removed.  Keys of any other form are left
 * alone, and so are files younger than an hour: the worker stores a style
 * before its row names it.  Candidates are looked up 1000 at a time, one
 * statement each batch. */
#include "commands.h"
#include "db.h"
#include "media_storage.h"
#include "mstdn_media.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ORPHAN_BATCH    1000
#define ORPHAN_MIN_AGE  3600                    /* seconds */

/* the attachments we keep, and the column that names each one's file */
static const char *const attachments[][2] = {
    { "media_attachments", "files" },
    { "media_attachments", "thumbnails" },
    { "accounts", "avatars" },
    { "accounts", "headers" },
    { "custom_emojis", "images" },
};

/* $1 class/attachment, $2 ids, $3 stems (text arrays of the candidates,
 * in order): the 1-based positions of the orphans */
static const char orphans_sql[] =
    "SELECT k.i FROM unnest($1::text[], $2::bigint[], $3::text[])"
    " WITH ORDINALITY AS k (kind, id, stem, i)"
    " WHERE NOT coalesce(CASE k.kind"
    "  WHEN 'media_attachments/files' THEN (SELECT split_part(m.file_file_name, '.', 1) = k.stem"
    "   FROM media_attachments m WHERE m.id = k.id)"
    "  WHEN 'media_attachments/thumbnails' THEN"
    "   (SELECT split_part(m.thumbnail_file_name, '.', 1) = k.stem"
    "   FROM media_attachments m WHERE m.id = k.id)"
    "  WHEN 'accounts/avatars' THEN (SELECT split_part(a.avatar_file_name, '.', 1) = k.stem"
    "   FROM accounts a WHERE a.id = k.id)"
    "  WHEN 'accounts/headers' THEN (SELECT split_part(a.header_file_name, '.', 1) = k.stem"
    "   FROM accounts a WHERE a.id = k.id)"
    "  WHEN 'custom_emojis/images' THEN (SELECT split_part(e.image_file_name, '.', 1) = k.stem"
    "   FROM custom_emojis e WHERE e.id = k.id)"
    "  END, false)"
    " ORDER BY k.i";

typedef struct {
    char      key[MEDIA_KEY_MAX];
    char      kind[48];                         /* class/attachment */
    char      stem[72];
    long long id;
    long long size;
} orphan_candidate;

typedef struct {
    const worker_config *cfg;
    PGconn              *db;
    int                  dry_run;
    time_t               before;                /* younger files are left */
    orphan_candidate    *batch;
    size_t               n;
    long                 removed, failed;
    long long            reclaimed;
} orphan_scan;

static int part_valid(const char *s, size_t n)
{
    return n > 0 && n <= 64 && s[0] != '.'
           && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._") >= n;
}

/* A key of ours: 0 and c filled, or -1 (left alone). */
static int parse_key(const char *key, orphan_candidate *c)
{
    const char *seg[16];
    size_t len[16], n = 0;
    const char *p = key;

    if (strlen(key) >= sizeof(c->key))
        return -1;
    if (strncmp(p, "cache/", 6) == 0)
        p += 6;
    while (n < 16) {
        const char *slash = strchr(p, '/');
        seg[n] = p;
        len[n] = slash ? (size_t) (slash - p) : strlen(p);
        n++;
        if (slash == NULL)
            break;
        p = slash + 1;
    }
    /* class, attachment, 3 to 6 groups of 3 digits, style, name */
    if (n < 7 || n > 10 || !part_valid(seg[n - 1], len[n - 1])
        || !part_valid(seg[n - 2], len[n - 2]))
        return -1;
    size_t k;
    for (k = 0; k < sizeof(attachments) / sizeof(attachments[0]); k++) {
        if (len[0] == strlen(attachments[k][0]) && len[1] == strlen(attachments[k][1])
            && memcmp(seg[0], attachments[k][0], len[0]) == 0
            && memcmp(seg[1], attachments[k][1], len[1]) == 0)
            break;
    }
    if (k == sizeof(attachments) / sizeof(attachments[0]))
        return -1;
    long long id = 0;
    for (size_t i = 2; i < n - 2; i++) {
        if (len[i] != 3 || strspn(seg[i], "0123456789") < 3)
            return -1;
        id = id * 1000 + (seg[i][0] - '0') * 100 + (seg[i][1] - '0') * 10 + (seg[i][2] - '0');
    }
    const char *name = seg[n - 1], *dot = memchr(name, '.', len[n - 1]);
    size_t stemlen = dot ? (size_t) (dot - name) : len[n - 1];
    if (id <= 0 || stemlen == 0 || stemlen >= sizeof(c->stem))
        return -1;
    snprintf(c->key, sizeof(c->key), "%s", key);
    snprintf(c->kind, sizeof(c->kind), "%s/%s", attachments[k][0], attachments[k][1]);
    snprintf(c->stem, sizeof(c->stem), "%.*s", (int) stemlen, name);
    c->id = id;
    return 0;
}

/* an array literal of the batch's field (the parts are [a-z0-9._/] only) */
static char *array_of(const orphan_scan *s, int field)
{
    size_t cap = s->n * 96 + 3, len = 0;
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    out[len++] = '{';
    for (size_t i = 0; i < s->n; i++) {
        const orphan_candidate *c = &s->batch[i];
        len += (size_t) (field == 0   ? snprintf(out + len, cap - len, "%s%s", i ? "," : "", c->kind)
                         : field == 1 ? snprintf(out + len, cap - len, "%s%lld", i ? "," : "", c->id)
                                      : snprintf(out + len, cap - len, "%s%s", i ? "," : "", c->stem));
    }
    snprintf(out + len, cap - len, "}");
    return out;
}

static int flush(orphan_scan *s)
{
    char err[1024];
    char *arrays[3] = { NULL, NULL, NULL };
    int rc = -1;

    if (s->n == 0)
        return 0;
    for (int f = 0; f < 3; f++)
        if ((arrays[f] = array_of(s, f)) == NULL)
            goto out;
    const char *params[3] = { arrays[0], arrays[1], arrays[2] };
    PGresult *res = db_query(s->db, orphans_sql, 3, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        long i = atol(PQgetvalue(res, r, 0)) - 1;
        if (i < 0 || (size_t) i >= s->n)
            continue;
        const orphan_candidate *c = &s->batch[i];
        if (!s->dry_run && media_storage_delete(s->cfg, c->key, err, sizeof(err)) != 0) {
            fprintf(stderr, "mastodon-worker: %s\n", err);
            s->failed++;
            continue;
        }
        s->removed++;
        s->reclaimed += c->size;
        printf("Found and removed orphan: %s\n", c->key);
    }
    PQclear(res);
    s->n = 0;
    rc = 0;
out:
    for (int f = 0; f < 3; f++)
        free(arrays[f]);
    return rc;
}

static int each_file(const char *key, long long size, time_t mtime, void *data)
{
    orphan_scan *s = data;

    if (mtime > s->before || parse_key(key, &s->batch[s->n]) != 0)
        return 0;
    s->batch[s->n++].size = size;
    return s->n < ORPHAN_BATCH ? 0 : flush(s);
}

int cmd_media_remove_orphans(worker_config *cfg, int argc, char **argv)
{
    char err[1024], size[32];
    orphan_scan s = { .cfg = cfg };
    int rc;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") != 0) {
            fputs("usage: mastodon-worker media remove-orphans [--dry-run]\n", stderr);
            return 2;
        }
        s.dry_run = 1;
    }
    s.before = time(NULL) - ORPHAN_MIN_AGE;
    s.batch = calloc(ORPHAN_BATCH, sizeof(*s.batch));
    s.db = db_open(cfg, 0, err, sizeof(err));
    if (s.batch == NULL || s.db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", s.batch == NULL ? "out of memory" : err);
        free(s.batch);
        return 1;
    }
    rc = media_storage_list(cfg, each_file, &s, err, sizeof(err));
    if (rc == 0)
        rc = flush(&s);
    else if (rc == -1)
        fprintf(stderr, "mastodon-worker: %s\n", err);
    mstdn_media_human_size((unsigned long long) s.reclaimed, size, sizeof(size));
    printf("Removed %ld orphans (approx. %s)%s\n", s.removed, size, s.dry_run ? " (DRY RUN)" : "");
    db_close(&s.db);
    free(s.batch);
    return rc != 0 || s.failed ? 1 : 0;
}
