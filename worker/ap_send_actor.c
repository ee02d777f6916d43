/* A local account as the Update or Delete federation sends (ap_send.h):
 * one query for what the actor document holds, the note and the profile
 * fields as HTML through the API's formatter (lib/mstdn_text), then
 * lib/mstdn_ap. */
#include "ap_send.h"
#include "db.h"
#include "media_storage.h"

#include "mstdn_ap.h"
#include "mstdn_emoji.h"
#include "mstdn_media.h"
#include "mstdn_text.h"
#include "mstdn_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_tree.h>

static const char actor_sql[] =
    "SELECT a.username, a.display_name, a.note, to_char(a.created_at, 'YYYY-MM-DD\"T00:00:00Z\"'),"
    " a.public_key, a.locked, coalesce(a.discoverable, false), a.indexable, a.memorial,"
    " a.suspended_at IS NOT NULL, coalesce(a.actor_type, 'Person'),"
    " coalesce(m.uri, ''), m.username, m.domain IS NULL, a.fields::text,"
    " extract(epoch FROM a.updated_at)::bigint::text, a.id::text,"
    " a.avatar_file_name, a.avatar_content_type, a.header_file_name, a.header_content_type, "
    MSTDN_ACCOUNT_EMOJIS_SQL("a")
    " FROM accounts a LEFT JOIN accounts m ON m.id = a.moved_to_account_id"
    " WHERE a.id = $1::bigint AND a.domain IS NULL";

/* icon, image: the original style of the avatar or header at col (name,
 * then type), none without a file */
static void profile_image(const worker_config *cfg, PGresult *res, const char *attribute, int col,
                          char *url, size_t urllen, mstdn_ap_image_t *image)
{
    char key[MEDIA_KEY_MAX];

    if (PQgetisnull(res, 0, col) || PQgetlength(res, 0, col) == 0)
        return;
    if (media_profile_key(key, sizeof(key), PQgetvalue(res, 0, 16), attribute, "original",
                          PQgetvalue(res, 0, col)) != 0)
        return;
    media_storage_url(cfg, key, url, urllen);
    image->url = url;
    image->media_type = PQgetisnull(res, 0, col + 1) ? NULL : PQgetvalue(res, 0, col + 1);
}

static char *format(const worker_config *cfg, mstdn_arena_t *arena, const char *text, int multiline)
{
    mstdn_alloc_t al;
    mstdn_text_options_t opt;
    char *html = NULL;
    size_t len;

    if (text == NULL || text[0] == '\0')
        return "";
    mstdn_arena_allocator(arena, &al);
    memset(&opt, 0, sizeof(opt));
    opt.base_url = cfg->base;
    opt.base_url_len = strlen(cfg->base);
    opt.local_domain = cfg->domain;
    opt.local_domain_len = strlen(cfg->domain);
    opt.multiline = multiline;
    opt.rel_me = !multiline;
    return mstdn_text_format(text, strlen(text), &opt, &al, &html, &len) == 0 ? html : NULL;
}

int ap_account_activity(PGconn *db, const worker_config *cfg, const char *account_id,
                        const char *action, char **out, size_t *out_len, char *err, size_t errlen)
{
    const char *params[1] = { account_id };
    mstdn_ap_actor_t actor;
    mstdn_ap_activity_t a;
    mstdn_ap_field_t *fields = NULL;
    mstdn_ap_tag_t *tags = NULL;
    ap_emoji_urls *emoji_urls = NULL;
    yajl_val fj = NULL, ej = NULL;
    char uri[1200], moved[1200], errbuf[128], icon[1400], image[1400];
    int rc = -1;

    *out = NULL;
    PGresult *res = db_query(db, actor_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    mstdn_arena_t *arena = mstdn_arena_create();
    if (arena == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    memset(&a, 0, sizeof(a));
    memset(&actor, 0, sizeof(actor));
    const char *username = PQgetvalue(res, 0, 0);
    if (mstdn_ap_uri(uri, sizeof(uri), cfg->base, MSTDN_AP_URI_ACCOUNT, username, NULL) < 0) {
        snprintf(err, errlen, "account %s: no URI", account_id);
        goto out;
    }
    if (strcmp(action, "delete") == 0) {
        a.type = MSTDN_AP_DELETE_ACTOR;
        a.actor = uri;
    } else {
        actor.base = cfg->base;
        actor.username = username;
        const char *type = PQgetvalue(res, 0, 10);
        actor.type = strcmp(type, "Service") == 0 ? MSTDN_AP_SERVICE
                   : strcmp(type, "Group") == 0 ? MSTDN_AP_GROUP : MSTDN_AP_PERSON;
        actor.name = PQgetvalue(res, 0, 1);
        actor.summary = format(cfg, arena, PQgetvalue(res, 0, 2), 1);
        actor.note_text = PQgetvalue(res, 0, 2);
        actor.published = PQgetvalue(res, 0, 3);
        actor.public_key_pem = PQgetvalue(res, 0, 4);
        actor.locked = PQgetvalue(res, 0, 5)[0] == 't';
        actor.discoverable = PQgetvalue(res, 0, 6)[0] == 't';
        actor.indexable = PQgetvalue(res, 0, 7)[0] == 't';
        actor.memorial = PQgetvalue(res, 0, 8)[0] == 't';
        actor.suspended = PQgetvalue(res, 0, 9)[0] == 't';
        if (!PQgetisnull(res, 0, 12)) {
            if (PQgetvalue(res, 0, 13)[0] == 't')
                mstdn_ap_uri(moved, sizeof(moved), cfg->base, MSTDN_AP_URI_ACCOUNT,
                             PQgetvalue(res, 0, 12), NULL);
            else
                snprintf(moved, sizeof(moved), "%s", PQgetvalue(res, 0, 11));
            actor.moved_to = moved;
        }
        if (!PQgetisnull(res, 0, 14))
            fj = yajl_tree_parse(PQgetvalue(res, 0, 14), errbuf, sizeof(errbuf));
        if (fj != NULL && YAJL_IS_ARRAY(fj)) {
            fields = calloc(fj->u.array.len + 1, sizeof(*fields));
            if (fields == NULL) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < fj->u.array.len; i++) {
                yajl_val f = fj->u.array.values[i];
                yajl_val n = yajl_tree_get(f, (const char *[]) { "name", NULL }, yajl_t_string);
                yajl_val v = yajl_tree_get(f, (const char *[]) { "value", NULL }, yajl_t_string);
                if (n == NULL || v == NULL)
                    continue;
                fields[actor.nfields].name = YAJL_GET_STRING(n);
                fields[actor.nfields].value = format(cfg, arena, YAJL_GET_STRING(v), 0);
                if (fields[actor.nfields].value != NULL)
                    actor.nfields++;
            }
            actor.fields = fields;
        }
        if (actor.summary == NULL) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
        /* tag: the local emojis of the name, the note and the fields */
        if (!PQgetisnull(res, 0, 21))
            ej = yajl_tree_parse(PQgetvalue(res, 0, 21), errbuf, sizeof(errbuf));
        if (ej != NULL && YAJL_IS_ARRAY(ej)) {
            tags = calloc(ej->u.array.len + 1, sizeof(*tags));
            if (tags == NULL) {
                snprintf(err, errlen, "out of memory");
                goto out;
            }
            actor.ntags = ap_emoji_tags(cfg, ej, tags, &emoji_urls);
            actor.tags = tags;
        }
        profile_image(cfg, res, "avatar", 17, icon, sizeof(icon), &actor.icon);
        profile_image(cfg, res, "header", 19, image, sizeof(image), &actor.image);
        a.type = MSTDN_AP_UPDATE_ACTOR;
        a.actor_object = &actor;
        a.updated_epoch = PQgetvalue(res, 0, 15);
    }
    *out = ap_render(&a, out_len);
    if (*out == NULL) {
        snprintf(err, errlen, "account %s: the activity could not be rendered", account_id);
        goto out;
    }
    rc = 1;
out:
    free(fields);
    free(tags);
    free(emoji_urls);
    yajl_tree_free(fj);
    yajl_tree_free(ej);
    mstdn_arena_destroy(arena);
    PQclear(res);
    return rc;
}
