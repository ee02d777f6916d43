/* A local status as the activity federation sends (ap_send.h): one query
 * for what the Note needs (author, addressing, parent, conversation,
 * mentions, hashtags, reblogged original), the text as HTML through the
 * same formatter as the API's (lib/mstdn_text), then lib/mstdn_ap. */
#include "ap_send.h"
#include "db.h"
#include "log.h"
#include "media_storage.h"

#include "mstdn_ap.h"
#include "mstdn_emoji.h"
#include "mstdn_json.h"
#include "mstdn_text.h"
#include "mstdn_value.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#define ISO8601 "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'"

static const char status_sql[] =
    "SELECT s.id::text, a.username, s.visibility, to_char(s.created_at, " ISO8601 "),"
    " to_char(s.edited_at, " ISO8601 "), extract(epoch FROM s.edited_at)::bigint::text,"
    " p.id::text, p.uri, pa.username, pa.domain IS NULL,"
    " s.spoiler_text, s.text, s.language, s.sensitive,"
    " c.uri, to_char(c.created_at, 'YYYY-MM-DD'), c.id::text,"
    " s.reblog_of_id::text, o.uri, oa.uri, oa.username, oa.domain IS NULL,"
    " (SELECT json_agg(json_build_array(ma.username, ma.domain, ma.url, ma.uri) ORDER BY m.id)"
    "   FROM mentions m JOIN accounts ma ON ma.id = m.account_id"
    "  WHERE m.status_id = s.id AND NOT m.silent),"
    " (SELECT json_agg(t.name ORDER BY t.name) FROM statuses_tags st"
    "   JOIN tags t ON t.id = st.tag_id WHERE st.status_id = s.id),"
    " s.account_id::text, a.domain IS NULL AND (s.local OR s.local IS NULL),"
    " (SELECT count(*) FROM favourites f WHERE f.status_id = s.id),"
    " (SELECT count(*) FROM statuses r WHERE r.reblog_of_id = s.id AND r.deleted_at IS NULL),"
    " s.deleted_at IS NOT NULL,"
    " (SELECT mastodon_poll_json(pl) FROM polls pl WHERE pl.id = s.poll_id),"
    " mastodon_ap_attachments(s.id),"
    " (SELECT extract(epoch FROM pl.updated_at)::bigint::text FROM polls pl"
    "   WHERE pl.id = s.poll_id), "
    MSTDN_EMOJIS_SQL("a.domain", "s.spoiler_text || ' ' || s.text")
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"
    " LEFT JOIN statuses p ON p.id = s.in_reply_to_id"
    " LEFT JOIN accounts pa ON pa.id = p.account_id"
    " LEFT JOIN conversations c ON c.id = s.conversation_id"
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"
    " LEFT JOIN accounts oa ON oa.id = o.account_id"
    " WHERE s.id = $1::bigint";

enum {
    C_ID, C_USERNAME, C_VISIBILITY, C_PUBLISHED, C_UPDATED, C_UPDATED_EPOCH,
    C_PARENT_ID, C_PARENT_URI, C_PARENT_USERNAME, C_PARENT_LOCAL,
    C_SPOILER, C_TEXT, C_LANGUAGE, C_SENSITIVE,
    C_CONV_URI, C_CONV_DATE, C_CONV_ID,
    C_REBLOG_OF, C_REBLOG_URI, C_REBLOG_ACCOUNT_URI, C_REBLOG_USERNAME, C_REBLOG_LOCAL,
    C_MENTIONS, C_TAGS, C_ACCOUNT_ID, C_LOCAL, C_FAVOURITES, C_REBLOGS, C_DELETED,
    C_POLL, C_ATTACHMENTS, C_POLL_EPOCH, C_EMOJIS
};

static const char *col(PGresult *res, int c)
{
    return PQgetisnull(res, 0, c) ? NULL : PQgetvalue(res, 0, c);
}

/* the mentions for the text formatter: [[username, domain, url, uri]] */
typedef struct {
    yajl_val             mentions;
    const worker_config *cfg;
    char                 url[1200];
} mention_ctx;

static int mention_of(void *data, const char *username, size_t ulen, const char *domain,
                      size_t dlen, const char **url, size_t *url_len, const char **display,
                      size_t *display_len)
{
    mention_ctx *mc = data;

    if (mc->mentions == NULL || !YAJL_IS_ARRAY(mc->mentions))
        return 0;
    for (size_t i = 0; i < mc->mentions->u.array.len; i++) {
        yajl_val m = mc->mentions->u.array.values[i];
        if (!YAJL_IS_ARRAY(m) || m->u.array.len < 4 || !YAJL_IS_STRING(m->u.array.values[0]))
            continue;
        const char *name = YAJL_GET_STRING(m->u.array.values[0]);
        const char *dom = YAJL_IS_STRING(m->u.array.values[1])
                          ? YAJL_GET_STRING(m->u.array.values[1]) : NULL;
        const char *murl = YAJL_IS_STRING(m->u.array.values[2])
                           ? YAJL_GET_STRING(m->u.array.values[2]) : NULL;
        if (strlen(name) != ulen || strncasecmp(name, username, ulen) != 0)
            continue;
        if (dom != NULL) {
            if (domain == NULL || strlen(dom) != dlen || strncasecmp(dom, domain, dlen) != 0
                || murl == NULL)
                continue;
            *url = murl;
            *url_len = strlen(murl);
        } else {
            if (domain != NULL && (strlen(mc->cfg->domain) != dlen
                                   || strncasecmp(mc->cfg->domain, domain, dlen) != 0))
                continue;
            snprintf(mc->url, sizeof(mc->url), "%s/@%s", mc->cfg->base, name);
            *url = mc->url;
            *url_len = strlen(mc->url);
        }
        *display = name;
        *display_len = ulen;
        return 1;
    }
    return 0;
}

static char *gen_take(yajl_gen g, size_t *len)
{
    const unsigned char *buf;
    size_t n;
    char *out = NULL;

    if (yajl_gen_get_buf(g, &buf, &n) == yajl_gen_status_ok && (out = malloc(n + 1)) != NULL) {
        memcpy(out, buf, n);
        out[n] = '\0';
        *len = n;
    }
    return out;
}

char *ap_render(const mstdn_ap_activity_t *a, size_t *len)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    char *out = NULL;

    if (g == NULL)
        return NULL;
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    if (mstdn_ap_activity(g, a) == 0)
        out = gen_take(g, len);
    yajl_gen_free(g);
    return out;
}

int ap_status_activity(PGconn *db, const worker_config *cfg, const char *status_id,
                       const char *action, char **out, size_t *out_len,
                       char account_id[32], char *err, size_t errlen)
{
    const char *params[1] = { status_id };
    mstdn_ap_status_t s;
    mstdn_ap_activity_t a, inner;
    mstdn_ap_tag_t *tags = NULL;
    yajl_val mentions = NULL, hashtags = NULL, emojis = NULL;
    ap_emoji_urls *emoji_urls = NULL;
    mstdn_arena_t *arena = NULL;
    char (*accts)[600] = NULL;
    char parent[1200], conv[1200], reblog_account[1200], errbuf[128];
    char media_base[1024];
    char *html = NULL;
    int rc = -1;

    *out = NULL;
    PGresult *res = db_query(db, status_sql, 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, C_LOCAL), "t") != 0
        || (strcmp(action, "delete") != 0 && strcmp(PQgetvalue(res, 0, C_DELETED), "t") == 0)) {
        PQclear(res);
        return 0;                       /* gone, or not ours to send */
    }
    snprintf(account_id, 32, "%s", PQgetvalue(res, 0, C_ACCOUNT_ID));

    memset(&s, 0, sizeof(s));
    memset(&a, 0, sizeof(a));
    memset(&inner, 0, sizeof(inner));
    s.base = cfg->base;
    media_storage_base(cfg, media_base, sizeof(media_base));
    s.media_base = media_base;
    s.username = col(res, C_USERNAME);
    s.id = col(res, C_ID);
    s.visibility = atoi(PQgetvalue(res, 0, C_VISIBILITY));
    s.published = col(res, C_PUBLISHED);
    s.updated = col(res, C_UPDATED);
    s.summary = col(res, C_SPOILER);
    s.language = col(res, C_LANGUAGE);
    s.sensitive = strcmp(PQgetvalue(res, 0, C_SENSITIVE), "t") == 0;
    s.favourites_count = atoll(PQgetvalue(res, 0, C_FAVOURITES));
    s.reblogs_count = atoll(PQgetvalue(res, 0, C_REBLOGS));

    if (col(res, C_PARENT_ID) != NULL) {
        const char *puri = col(res, C_PARENT_URI);
        if (puri != NULL && puri[0] != '\0')
            snprintf(parent, sizeof(parent), "%s", puri);
        else if (mstdn_ap_uri(parent, sizeof(parent), cfg->base, MSTDN_AP_URI_STATUS,
                              col(res, C_PARENT_USERNAME), col(res, C_PARENT_ID)) < 0)
            parent[0] = '\0';
        s.in_reply_to = parent;
    }
    if (col(res, C_CONV_ID) != NULL) {
        const char *curi = col(res, C_CONV_URI);
        if (curi != NULL && curi[0] != '\0')
            snprintf(conv, sizeof(conv), "%s", curi);
        else if (mstdn_ap_conversation_tag(conv, sizeof(conv), cfg->domain, col(res, C_CONV_DATE),
                                           col(res, C_CONV_ID)) < 0)
            conv[0] = '\0';
        s.conversation = conv;
    }
    if (col(res, C_REBLOG_OF) != NULL) {
        s.reblog_of_uri = col(res, C_REBLOG_URI);
        const char *ruri = col(res, C_REBLOG_ACCOUNT_URI);
        if (strcmp(PQgetvalue(res, 0, C_REBLOG_LOCAL), "t") == 0
            && mstdn_ap_uri(reblog_account, sizeof(reblog_account), cfg->base,
                            MSTDN_AP_URI_ACCOUNT, col(res, C_REBLOG_USERNAME), NULL) >= 0)
            ruri = reblog_account;
        s.reblog_account_uri = ruri;
    }

    if (col(res, C_MENTIONS) != NULL)
        mentions = yajl_tree_parse(col(res, C_MENTIONS), errbuf, sizeof(errbuf));
    if (col(res, C_TAGS) != NULL)
        hashtags = yajl_tree_parse(col(res, C_TAGS), errbuf, sizeof(errbuf));
    size_t nm = mentions != NULL && YAJL_IS_ARRAY(mentions) ? mentions->u.array.len : 0;
    size_t nh = hashtags != NULL && YAJL_IS_ARRAY(hashtags) ? hashtags->u.array.len : 0;
    if (col(res, C_EMOJIS) != NULL)
        emojis = yajl_tree_parse(col(res, C_EMOJIS), errbuf, sizeof(errbuf));
    size_t ne = emojis != NULL && YAJL_IS_ARRAY(emojis) ? emojis->u.array.len : 0;
    accts = calloc(nm + 1, sizeof(*accts));
    tags = calloc(nm + nh + ne + 1, sizeof(*tags));
    if (tags == NULL || accts == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nm; i++) {
        yajl_val m = mentions->u.array.values[i];
        if (!YAJL_IS_ARRAY(m) || m->u.array.len < 4)
            continue;
        const char *name = YAJL_GET_STRING(m->u.array.values[0]);
        const char *dom = YAJL_IS_STRING(m->u.array.values[1])
                          ? YAJL_GET_STRING(m->u.array.values[1]) : NULL;
        const char *uri = YAJL_IS_STRING(m->u.array.values[3])
                          ? YAJL_GET_STRING(m->u.array.values[3]) : NULL;
        mstdn_ap_tag_t *t = &tags[s.ntags++];
        t->kind = MSTDN_AP_TAG_MENTION;
        if (dom != NULL) {
            snprintf(accts[i], sizeof(accts[i]), "%s@%s", name ? name : "", dom);
            t->href = uri;
            t->name = accts[i];
        } else {
            t->name = name;
            t->username = name;
        }
    }
    for (size_t i = 0; i < nh; i++) {
        if (!YAJL_IS_STRING(hashtags->u.array.values[i]))
            continue;
        mstdn_ap_tag_t *t = &tags[s.ntags++];
        t->kind = MSTDN_AP_TAG_HASHTAG;
        t->name = YAJL_GET_STRING(hashtags->u.array.values[i]);
    }
    s.ntags += ap_emoji_tags(cfg, emojis, tags + s.ntags, &emoji_urls);
    s.tags = tags;

    /* the text as the API shows it (Mastodon's TextFormatter) */
    const char *text = PQgetvalue(res, 0, C_TEXT);
    arena = mstdn_arena_create();
    if (arena == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (text[0] != '\0') {
        mstdn_alloc_t al;
        mstdn_text_options_t opt;
        mention_ctx mc = { mentions, cfg, "" };
        size_t hlen;
        mstdn_arena_allocator(arena, &al);
        memset(&opt, 0, sizeof(opt));
        opt.base_url = cfg->base;
        opt.base_url_len = strlen(cfg->base);
        opt.local_domain = cfg->domain;
        opt.local_domain_len = strlen(cfg->domain);
        opt.multiline = 1;
        opt.mention = mention_of;
        opt.ctx = &mc;
        if (mstdn_text_format(text, strlen(text), &opt, &al, &html, &hlen) != 0) {
            snprintf(err, errlen, "out of memory");
            goto out;
        }
    }
    s.content = html != NULL ? html : "";

    /* a poll: the Poll entity, the Note then a Question */
    if (col(res, C_POLL) != NULL) {
        mstdn_alloc_t al;
        mstdn_limits_t limits = { 4, 10000 };
        mstdn_value_t *poll;
        mstdn_arena_allocator(arena, &al);
        if (mstdn_json_parse(col(res, C_POLL), strlen(col(res, C_POLL)), &al, &limits, &poll,
                             errbuf, sizeof(errbuf)) == MSTDN_OK
            && poll->type == MSTDN_OBJECT)
            s.poll = poll;
    }
    /* the processed local attachments, as Documents */
    if (col(res, C_ATTACHMENTS) != NULL) {
        mstdn_alloc_t al;
        mstdn_limits_t limits = { 4, 10000 };
        mstdn_value_t *media;
        mstdn_arena_allocator(arena, &al);
        if (mstdn_json_parse(col(res, C_ATTACHMENTS), strlen(col(res, C_ATTACHMENTS)), &al,
                             &limits, &media, errbuf, sizeof(errbuf)) == MSTDN_OK
            && media->type == MSTDN_ARRAY)
            s.attachments = media;
    }

    a.status = &s;
    int reblog = s.reblog_of_uri != NULL;
    if (strcmp(action, "delete") == 0) {
        if (reblog) {
            inner.type = MSTDN_AP_ANNOUNCE;
            inner.status = &s;
            a.type = MSTDN_AP_UNDO;
            a.inner = &inner;
        } else {
            a.type = MSTDN_AP_DELETE_NOTE;
        }
    } else if (strcmp(action, "update") == 0 || strcmp(action, "poll_update") == 0) {
        if (reblog || (action[0] == 'p' && s.poll == NULL)) {
            rc = 0;                     /* a reblog is not edited */
            goto out;
        }
        a.type = MSTDN_AP_UPDATE_NOTE;
        /* a poll's new counts: ActivityPub::UpdatePollSerializer's id,
         * STATUS#updates/<the poll's updated_at> */
        a.updated_epoch = col(res, action[0] == 'p' ? C_POLL_EPOCH : C_UPDATED_EPOCH);
    } else {
        a.type = reblog ? MSTDN_AP_ANNOUNCE : MSTDN_AP_CREATE;
    }

    *out = ap_render(&a, out_len);
    if (*out == NULL) {
        snprintf(err, errlen, "status %s: the activity could not be rendered", status_id);
        goto out;
    }
    rc = 1;

out:
    free(accts);
    free(tags);
    yajl_tree_free(mentions);
    yajl_tree_free(hashtags);
    yajl_tree_free(emojis);
    free(emoji_urls);
    mstdn_arena_destroy(arena);
    PQclear(res);
    return rc;
}
