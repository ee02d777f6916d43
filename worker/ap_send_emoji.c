/* The Emoji tags of a local status or actor (ap_send.h): the local emojis
 * of MSTDN_EMOJIS_SQL's array as ActivityPub::EmojiSerializer writes them,
 * the icon the stored original (media_storage_url()), the id
 * <base>/emojis/<id>. */
#include "ap_send.h"
#include "media_storage.h"

#include "mstdn_ap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

size_t ap_emoji_tags(const worker_config *cfg, yajl_val emojis, mstdn_ap_tag_t *tags,
                     ap_emoji_urls **urls)
{
    char key[MEDIA_KEY_MAX];
    size_t n = 0;

    *urls = NULL;
    if (emojis == NULL || !YAJL_IS_ARRAY(emojis))
        return 0;
    size_t len = emojis->u.array.len;
    *urls = calloc(len + 1, sizeof(**urls));
    if (*urls == NULL)
        return 0;
    for (size_t i = 0; i < len; i++) {
        yajl_val e = emojis->u.array.values[i];
        /* [shortcode, remote URL, id, file name, content type, updated] */
        if (!YAJL_IS_ARRAY(e) || e->u.array.len < 6 || !YAJL_IS_NULL(e->u.array.values[1]))
            continue;
        const char *v[6];
        int ok = 1;
        for (int k = 0; k < 6; k++) {
            v[k] = YAJL_GET_STRING(e->u.array.values[k]);
            if (k != 1 && v[k] == NULL)
                ok = 0;
        }
        if (!ok || media_key(key, sizeof(key), 0, "custom_emojis", "images", v[2], "original",
                             v[3]) != 0)
            continue;
        ap_emoji_urls *u = &(*urls)[n];
        media_storage_url(cfg, key, u->icon, sizeof(u->icon));
        snprintf(u->id, sizeof(u->id), "%s/emojis/%s", cfg->base, v[2]);
        mstdn_ap_tag_t *t = &tags[n++];
        t->kind = MSTDN_AP_TAG_EMOJI;
        t->name = v[0];
        t->id = u->id;
        t->icon_url = u->icon;
        t->media_type = v[4];
        t->updated = v[5];
    }
    return n;
}
