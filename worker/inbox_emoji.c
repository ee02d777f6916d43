/* Custom emojis of remote statuses and actors (Mastodon's
 * ActivityPub::Activity#process_emoji, ProcessAccountService's): each
 * Emoji tag { name ":shortcode:", icon { url }, id, updated } goes into
 * custom_emojis under the account's domain, its image the remote URL (no
 * media cache: shown as is, as remote avatars are); a changed image or id
 * replaces the stored one.  Tags that are not emojis, or whose shortcode
 * or URL is not acceptable, are skipped. */
#include "inbox.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

#include "mstdn_sanitize.h"

#define EMOJIS_MAX          50
#define SHORTCODE_MAX      128

static const char upsert_sql[] =
    "INSERT INTO custom_emojis (shortcode, domain, uri, image_remote_url, image_updated_at)"
    " SELECT $2, a.domain, $3, $4, now() AT TIME ZONE 'UTC' FROM accounts a"
    " WHERE a.id = $1::bigint AND a.domain IS NOT NULL"
    " ON CONFLICT (shortcode, domain) DO UPDATE SET uri = excluded.uri,"
    " image_remote_url = excluded.image_remote_url,"
    " image_updated_at = excluded.image_updated_at, updated_at = now() AT TIME ZONE 'UTC'"
    " WHERE custom_emojis.image_remote_url IS DISTINCT FROM excluded.image_remote_url"
    " OR custom_emojis.uri IS DISTINCT FROM excluded.uri";

/* name ":blob_cat:" -> "blob_cat" (CustomEmoji::SHORTCODE_ONLY_RE), or 0 */
static int shortcode_of(const char *name, char out[SHORTCODE_MAX + 1])
{
    size_t n = 0;

    if (name == NULL)
        return 0;
    for (const char *p = name; *p; p++) {
        if (*p == ':')
            continue;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')
              || *p == '_') || n == SHORTCODE_MAX)
            return 0;
        out[n++] = *p;
    }
    out[n] = '\0';
    return n >= 2;
}

int inbox_emojis_store(PGconn *db, const char *account_id, const mstdn_value_t *obj,
                       char *err, size_t errlen)
{
    const mstdn_value_t *tag = mstdn_object_get(obj, "tag");
    int many = tag != NULL && tag->type == MSTDN_ARRAY, stored = 0;
    char shortcode[SHORTCODE_MAX + 1];

    for (const mstdn_value_t *e = many ? tag->first : tag; e != NULL && stored < EMOJIS_MAX;
         e = many ? e->next : NULL) {
        if (e->type != MSTDN_OBJECT || !inbox_type_is(e, "Emoji")
            || !shortcode_of(inbox_str(e, "name"), shortcode))
            continue;
        const mstdn_value_t *icon = mstdn_object_get(e, "icon");
        const char *url = icon != NULL && icon->type == MSTDN_OBJECT ? inbox_str(icon, "url")
                          : NULL;
        if (url == NULL || strlen(url) > MSTDN_REMOTE_URL_MAX
            || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
            continue;
        const char *uri = inbox_str(e, "id");
        if (uri != NULL && strlen(uri) > MSTDN_REMOTE_URL_MAX)
            uri = NULL;
        const char *params[4] = { account_id, shortcode, uri, url };
        PGresult *res = db_query(db, upsert_sql, 4, params, PGRES_COMMAND_OK, err, errlen);
        if (res == NULL)
            return -1;
        PQclear(res);
        stored++;
    }
    return stored;
}
