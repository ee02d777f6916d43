/* Remote media attachments of a Note (ActivityPub::Activity::Create#
 * process_attachments, ProcessStatusUpdateService#update_media_attachments!):
 * the Documents of "attachment" read bounded (MediaAttachmentParser: url,
 * icon, summary or name, focalPoint, blurhash, mediaType; at most
 * INBOX_MEDIA_MAX), stored by mastodon_remote_media_set() of sql/0022.
 * Each one not cached yet is then downloaded by a media_fetch job (queue
 * "media", job_media_fetch.c) in the same transaction, unless the domain
 * rejects media; until it is cached the API shows it through the media
 * proxy URLs with remote_url, as Mastodon shows media it has not cached. */
#include "inbox.h"
#include "db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "mstdn_sanitize.h"

#define INBOX_MEDIA_MAX          4       /* Status::MEDIA_ATTACHMENTS_LIMIT */
#define INBOX_MEDIA_DESC_MAX     10000   /* MAX_DESCRIPTION_HARD_LENGTH_LIMIT */

/* MediaAttachment's type enum */
enum { MEDIA_IMAGE = 0, MEDIA_VIDEO = 2, MEDIA_UNKNOWN = 3, MEDIA_AUDIO = 4 };

static const char *url_of(const mstdn_value_t *v)
{
    const char *u = inbox_ref(v);

    if (u == NULL && v != NULL && v->type == MSTDN_ARRAY && v->first != NULL)
        u = inbox_ref(v->first);
    if (u == NULL || strlen(u) > MSTDN_REMOTE_URL_MAX
        || (strncmp(u, "https://", 8) != 0 && strncmp(u, "http://", 7) != 0))
        return NULL;
    return u;
}

static int media_type(const char *mime)
{
    if (mime == NULL)
        return MEDIA_UNKNOWN;
    if (strncmp(mime, "image/", 6) == 0)
        return MEDIA_IMAGE;
    if (strncmp(mime, "video/", 6) == 0)
        return MEDIA_VIDEO;
    if (strncmp(mime, "audio/", 6) == 0)
        return MEDIA_AUDIO;
    return MEDIA_UNKNOWN;
}

static int b83(char c)
{
    static const char digits[] =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
    const char *p = c != '\0' ? strchr(digits, c) : NULL;
    return p != NULL ? (int) (p - digits) : -1;
}

/* supported_blurhash?: Blurhash's alphabet, a consistent length, at most 5
 * components each way */
static const char *blurhash_of(const mstdn_value_t *doc)
{
    const char *h = inbox_str(doc, "blurhash");
    if (h == NULL || strlen(h) < 6 || strlen(h) > 100)
        return NULL;
    for (const char *p = h; *p; p++)
        if (b83(*p) < 0)
            return NULL;
    int flag = b83(h[0]);
    int x = flag % 9 + 1, y = flag / 9 + 1;
    if (x > 5 || y > 5 || strlen(h) != (size_t) (4 + 2 * x * y))
        return NULL;
    return h;
}

static int dimension(const mstdn_value_t *doc, const char *key)
{
    const mstdn_value_t *v = mstdn_object_get(doc, key);
    if (v == NULL || v->type != MSTDN_NUMBER)
        return 0;
    double d = strtod(v->str, NULL);
    return d >= 1 && d <= 100000 ? (int) d : 0;
}

#define G(call) do { if ((call) != yajl_gen_status_ok) goto fail; } while (0)
#define STR(s) G(yajl_gen_string(g, (const unsigned char *) (s), strlen(s)))

static int write_document(yajl_gen g, const mstdn_value_t *doc, const char *url)
{
    const char *thumb = NULL, *desc, *hash = blurhash_of(doc);
    const mstdn_value_t *icon = mstdn_object_get(doc, "icon");
    char *cut = NULL;

    if (icon != NULL)
        thumb = url_of(icon->type == MSTDN_OBJECT ? mstdn_object_get(icon, "url") : icon);

    desc = inbox_str(doc, "summary");
    if (desc == NULL || desc[0] == '\0')
        desc = inbox_str(doc, "name");
    if (desc != NULL) {
        while (isspace((unsigned char) *desc))
            desc++;
        size_t len = strlen(desc);
        while (len > 0 && isspace((unsigned char) desc[len - 1]))
            len--;
        len = mstdn_utf8_prefix(desc, len, INBOX_MEDIA_DESC_MAX);
        cut = strndup(desc, len);
        if (cut == NULL)
            return -1;
        desc = cut[0] != '\0' ? cut : NULL;
    }

    G(yajl_gen_map_open(g));
    STR("url");
    STR(url);
    STR("thumbnail");
    if (thumb != NULL)
        STR(thumb);
    else
        G(yajl_gen_null(g));
    STR("type");
    G(yajl_gen_integer(g, media_type(inbox_str(doc, "mediaType"))));
    STR("description");
    if (desc != NULL)
        STR(desc);
    else
        G(yajl_gen_null(g));
    STR("blurhash");
    if (hash != NULL)
        STR(hash);
    else
        G(yajl_gen_null(g));

    /* meta: the original's size as the Document gives it, the focus */
    STR("meta");
    G(yajl_gen_map_open(g));
    int w = dimension(doc, "width"), h = dimension(doc, "height");
    if (w > 0 && h > 0) {
        char size[32];
        snprintf(size, sizeof(size), "%dx%d", w, h);
        STR("original");
        G(yajl_gen_map_open(g));
        STR("width");
        G(yajl_gen_integer(g, w));
        STR("height");
        G(yajl_gen_integer(g, h));
        STR("size");
        STR(size);
        STR("aspect");
        G(yajl_gen_double(g, (double) w / h));
        G(yajl_gen_map_close(g));
    }
    const mstdn_value_t *f = mstdn_object_get(doc, "focalPoint");
    if (f != NULL && f->type == MSTDN_ARRAY && f->count == 2
        && f->first->type == MSTDN_NUMBER && f->first->next->type == MSTDN_NUMBER) {
        double x = strtod(f->first->str, NULL), y = strtod(f->first->next->str, NULL);
        if (x >= -1 && x <= 1 && y >= -1 && y <= 1) {
            STR("focus");
            G(yajl_gen_map_open(g));
            STR("x");
            G(yajl_gen_double(g, x));
            STR("y");
            G(yajl_gen_double(g, y));
            G(yajl_gen_map_close(g));
        }
    }
    G(yajl_gen_map_close(g));
    G(yajl_gen_map_close(g));
    free(cut);
    return 0;
fail:
    free(cut);
    return -1;
}

char *inbox_media_json(const mstdn_value_t *obj, int *count)
{
    const mstdn_value_t *a = mstdn_object_get(obj, "attachment"), *first = a;
    const unsigned char *buf;
    size_t len;
    char *out = NULL;
    yajl_gen g = yajl_gen_alloc(NULL);

    *count = 0;
    if (g == NULL)
        return NULL;
    if (a != NULL && a->type == MSTDN_ARRAY)
        first = a->first;
    if (yajl_gen_array_open(g) != yajl_gen_status_ok)
        goto out;
    for (const mstdn_value_t *d = first; d != NULL && *count < INBOX_MEDIA_MAX;
         d = (a->type == MSTDN_ARRAY) ? d->next : NULL) {
        const char *url;
        if (d->type != MSTDN_OBJECT || (url = url_of(mstdn_object_get(d, "url"))) == NULL)
            continue;
        if (write_document(g, d, url) != 0)
            goto out;
        (*count)++;
    }
    if (yajl_gen_array_close(g) != yajl_gen_status_ok
        || yajl_gen_get_buf(g, &buf, &len) != yajl_gen_status_ok)
        goto out;
    out = strndup((const char *) buf, len);
out:
    yajl_gen_free(g);
    return out;
}

int inbox_media_store(inbox_activity *ib, const char *status_id, const char *media, char *err,
                      size_t errlen)
{
    const char *params[3] = { status_id, ib->actor_id, media };
    PGresult *res = inbox_sql(ib, "SELECT mastodon_remote_media_set($1::bigint, $2::bigint,"
                              " $3::json)", 3, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int changed = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
    PQclear(res);
    if (!changed)
        return 0;
    /* MediaAttachment#download_file! unless skip_download? */
    res = inbox_sql(ib, "INSERT INTO job_outbox (queue, type, args)"
                    " SELECT 'media', 'media_fetch', json_build_object('id', m.id::text)::text"
                    " FROM media_attachments m JOIN accounts a ON a.id = m.account_id"
                    " WHERE m.status_id = $1::bigint AND m.remote_url <> ''"
                    " AND m.file_file_name IS NULL AND a.domain IS NOT NULL"
                    " AND NOT mastodon_domain_rejects_media(a.domain)",
                    1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 1;
}
