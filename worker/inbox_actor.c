/* Remote actors: an actor document into accounts (Mastodon's
 * ActivityPub::ProcessAccountService), and the fetch of an actor or any
 * document from its origin, authoritative only for its own id. */
#include "inbox.h"
#include "ap_send.h"
#include "db.h"
#include "fetch.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_json.h"
#include "mstdn_sanitize.h"

static const char *const actor_types[] = {
    "Person", "Service", "Application", "Group", "Organization"
};

/* An http(s) URL within bounds, or NULL. */
static const char *url_or_null(const char *s)
{
    if (s == NULL || strlen(s) > MSTDN_REMOTE_URL_MAX
        || (strncasecmp(s, "https://", 8) != 0 && strncasecmp(s, "http://", 7) != 0))
        return NULL;
    return s;
}

/* url: a string, a Link {"href"}, or an array of them: the first usable. */
static const char *url_of(const mstdn_value_t *v)
{
    if (v == NULL)
        return NULL;
    if (v->type == MSTDN_STRING)
        return url_or_null(v->str);
    if (v->type == MSTDN_OBJECT) {
        const char *h = inbox_str(v, "href");
        return url_or_null(h != NULL ? h : inbox_str(v, "url"));
    }
    if (v->type == MSTDN_ARRAY) {
        for (const mstdn_value_t *e = v->first; e != NULL; e = e->next) {
            const char *u = url_of(e);
            if (u != NULL)
                return u;
        }
    }
    return NULL;
}

/* an image: {"url": ...} or a URL, or an array of them */
static const char *image_of(const mstdn_value_t *v)
{
    if (v != NULL && v->type == MSTDN_ARRAY)
        v = v->first;
    if (v != NULL && v->type == MSTDN_OBJECT)
        return url_of(mstdn_object_get(v, "url"));
    return url_of(v);
}

static int flag(const mstdn_value_t *doc, const char *key)
{
    const mstdn_value_t *v = mstdn_object_get(doc, key);
    return v != NULL && v->type == MSTDN_BOOL && v->boolean;
}

/* A cut copy of a plain text (display name): at most max characters. */
static char *cut(const char *s, size_t max)
{
    if (s == NULL)
        s = "";
    size_t n = mstdn_utf8_prefix(s, strlen(s), max);
    char *o = malloc(n + 1);
    if (o != NULL) {
        memcpy(o, s, n);
        o[n] = '\0';
    }
    return o;
}

const char *inbox_time(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (s == NULL || strlen(s) < 20 || strlen(s) > 35)
        return NULL;
    for (size_t i = 0; i < sizeof(shape) - 1; i++) {
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return NULL;
    }
    const char *p = s + sizeof(shape) - 1;
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") == 0)
        return s;
    if ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':')
        return s;
    return NULL;
}

/* The profile fields (PropertyValue attachments) as Mastodon's jsonb:
 * [{"name","value"}], names cut, values sanitized; malloc'd. */
static char *fields_json(const mstdn_value_t *att, char *err, size_t errlen)
{
    size_t cap = 3, used = 0, count = 0;
    char *out = malloc(cap);

    if (out == NULL)
        goto nomem;
    out[used++] = '[';
    /* an array of attachments, or a single one */
    int many = att != NULL && att->type == MSTDN_ARRAY;
    for (const mstdn_value_t *e = many ? att->first : att;
         e != NULL && count < MSTDN_REMOTE_FIELDS_MAX; e = many ? e->next : NULL) {
        if (!inbox_type_is(e, "PropertyValue"))
            continue;
        const char *name = inbox_str(e, "name"), *value = inbox_str(e, "value");
        if (name == NULL || value == NULL)
            continue;
        char *n = cut(name, MSTDN_REMOTE_FIELD_NAME_MAX);
        char *v = inbox_html(value, MSTDN_REMOTE_FIELD_VALUE_MAX, err, errlen);
        if (n == NULL || v == NULL) {
            free(n);
            free(v);
            if (v == NULL)
                continue;           /* that value is refused: the field goes */
            goto nomem;
        }
        size_t need = used + 30 + MSTDN_JSON_QUOTE_MAX(strlen(n)) + MSTDN_JSON_QUOTE_MAX(strlen(v));
        if (need > cap) {
            char *o = realloc(out, need * 2);
            if (o == NULL) {
                free(n);
                free(v);
                goto nomem;
            }
            out = o;
            cap = need * 2;
        }
        if (count > 0)
            out[used++] = ',';
        used += (size_t) sprintf(out + used, "{\"name\":");
        used += mstdn_json_quote(out + used, n, strlen(n));
        used += (size_t) sprintf(out + used, ",\"value\":");
        used += mstdn_json_quote(out + used, v, strlen(v));
        out[used++] = '}';
        count++;
        free(n);
        free(v);
    }
    if (used + 2 > cap) {
        char *o = realloc(out, used + 2);
        if (o == NULL)
            goto nomem;
        out = o;
    }
    out[used++] = ']';
    out[used] = '\0';
    return out;
nomem:
    free(out);
    snprintf(err, errlen, "out of memory");
    return NULL;
}

/* Domain blocks: suspended hosts (the block's domain or a parent of it)
 * have nothing stored or processed. */
int inbox_domain_suspended(PGconn *db, const char *host, char *err, size_t errlen)
{
    const char *params[1] = { host };
    PGresult *res = db_query(db, "SELECT mastodon_domain_suspended($1)", 1, params,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int found = PQntuples(res) == 1 && PQgetvalue(res, 0, 0)[0] == 't';
    PQclear(res);
    return found;
}

static const char upsert_sql[] =
    "WITH v AS (SELECT $1::varchar AS uri, $2::varchar AS username, $3::varchar AS domain,"
    "  $4::varchar AS display_name, $5::text AS note, $6::varchar AS url,"
    "  $7::varchar AS inbox_url, $8::varchar AS shared_inbox_url, $9::varchar AS outbox_url,"
    "  $10::varchar AS followers_url, $11::varchar AS following_url, $12::text AS public_key,"
    "  $13::varchar AS avatar_remote_url, $14::varchar AS header_remote_url, $15::jsonb AS fields,"
    "  $16::boolean AS locked, $17::varchar AS actor_type, $18::boolean AS discoverable,"
    "  $19::boolean AS indexable, $20::timestamp AS published, $21::varchar AS featured,"
    "  $22::boolean AS memorial, mastodon_domain_rejects_media($3) AS rej),"
    /* the images as they were (the statement's snapshot) */
    " o AS (SELECT a.id, coalesce(a.avatar_remote_url, '') AS avatar,"
    "  a.header_remote_url AS header, a.avatar_file_name, a.header_file_name"
    "  FROM accounts a, v WHERE a.uri = v.uri AND a.domain IS NOT NULL),"
    " up AS (UPDATE accounts a SET display_name = v.display_name, note = v.note, url = v.url,"
    "  inbox_url = v.inbox_url, shared_inbox_url = v.shared_inbox_url,"
    "  outbox_url = v.outbox_url, followers_url = v.followers_url,"
    "  following_url = v.following_url, public_key = v.public_key,"
    /* skip_download?: a domain rejecting media keeps what it had */
    "  avatar_remote_url = CASE WHEN v.rej THEN a.avatar_remote_url"
    "   ELSE v.avatar_remote_url END,"
    "  header_remote_url = CASE WHEN v.rej THEN a.header_remote_url"
    "   ELSE v.header_remote_url END,"
    "  fields = v.fields, locked = v.locked, actor_type = v.actor_type,"
    "  discoverable = v.discoverable, indexable = v.indexable,"
    "  featured_collection_url = v.featured, memorial = v.memorial,"
    "  last_webfingered_at = now() AT TIME ZONE 'UTC', updated_at = now() AT TIME ZONE 'UTC'"
    "  FROM v WHERE a.uri = v.uri AND a.domain IS NOT NULL RETURNING a.id),"
    " ins AS (INSERT INTO accounts (uri, username, domain, display_name, note, url, inbox_url,"
    "  shared_inbox_url, outbox_url, followers_url, following_url, public_key,"
    "  avatar_remote_url, header_remote_url, fields, locked, actor_type, discoverable,"
    "  indexable, created_at, featured_collection_url, memorial, protocol,"
    "  last_webfingered_at, silenced_at)"
    "  SELECT uri, username, domain, display_name, note, url, inbox_url, shared_inbox_url,"
    "  outbox_url, followers_url, following_url, public_key,"
    "  CASE WHEN rej THEN '' ELSE avatar_remote_url END,"
    "  CASE WHEN rej THEN '' ELSE header_remote_url END, fields, locked, actor_type,"
    "  discoverable, indexable,"
    "  coalesce(published, now() AT TIME ZONE 'UTC'), featured, memorial, 1,"
    "  now() AT TIME ZONE 'UTC',"
    /* auto_silence?: a silenced domain's new account starts silenced */
    "  (SELECT db.created_at FROM mastodon_domain_block(split_part(v.domain, ':', 1)) b"
    "   JOIN domain_blocks db ON db.id = b.id WHERE b.severity = 0)"
    "  FROM v WHERE NOT EXISTS (SELECT 1 FROM up)"
    "  ON CONFLICT DO NOTHING RETURNING id),"
    " st AS (INSERT INTO account_stats (account_id) SELECT id FROM ins"
    "  ON CONFLICT (account_id) DO NOTHING),"
    /* a new or changed image, or one not cached yet, downloaded
     * (job_account_image_fetch.c; an emptied one loses its copy) */
    " img AS (SELECT n.id, x.attr FROM (SELECT id FROM up UNION ALL SELECT id FROM ins) n"
    "  CROSS JOIN v LEFT JOIN o ON o.id = n.id,"
    "  LATERAL (VALUES ('avatar', coalesce(v.avatar_remote_url, ''), o.avatar,"
    "   o.avatar_file_name), ('header', v.header_remote_url, o.header, o.header_file_name))"
    "   x (attr, url, was, file)"
    "  WHERE NOT v.rej AND (x.url IS DISTINCT FROM coalesce(x.was, '')"
    "   AND (x.url <> '' OR x.file IS NOT NULL) OR (x.url <> '' AND x.file IS NULL))),"
    " ob AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'media', 'account_image_fetch', json_build_object('account_id', id::text,"
    "  'attribute', attr)::text FROM img)"
    " SELECT id FROM up UNION ALL SELECT id FROM ins";

int inbox_actor_store(PGconn *db, const worker_config *cfg, const mstdn_value_t *doc,
                      const char *uri, const inbox_webfinger_t *wf, char out[MW_ID_LEN],
                      char *err, size_t errlen)
{
    char host[INBOX_HOST_MAX];
    const char *type = NULL;

    (void) cfg;
    if (doc == NULL || doc->type != MSTDN_OBJECT) {
        snprintf(err, errlen, "not a JSON object");
        return 0;
    }
    for (size_t i = 0; i < sizeof(actor_types) / sizeof(actor_types[0]); i++) {
        if (inbox_type_is(doc, actor_types[i]))
            type = actor_types[i];
    }
    const char *id = inbox_str(doc, "id");
    if (type == NULL || id == NULL || strcmp(id, uri) != 0 || url_or_null(id) == NULL
        || fetch_url_host(id, host, sizeof(host)) != 0) {
        snprintf(err, errlen, "not the actor %s", uri);
        return 0;
    }
    const char *username = inbox_str(doc, "preferredUsername");
    if (username == NULL || username[0] == '\0') {
        snprintf(err, errlen, "actor %s has no preferredUsername", uri);
        return 0;
    }
    const char *inbox = url_or_null(inbox_ref_of(doc, "inbox"));
    if (inbox == NULL) {
        snprintf(err, errlen, "actor %s has no inbox", uri);
        return 0;
    }

    /* the key: owned by the actor, on its host */
    const mstdn_value_t *pk = mstdn_object_get(doc, "publicKey");
    if (pk != NULL && pk->type == MSTDN_ARRAY)
        pk = pk->first;
    const char *pem = inbox_str(pk, "publicKeyPem");
    const char *owner = inbox_str(pk, "owner"), *key_id = inbox_str(pk, "id");
    if (pem != NULL && ((owner != NULL && strcmp(owner, uri) != 0)
                        || (key_id != NULL && !inbox_on_host(key_id, host))
                        || strlen(pem) > MSTDN_REMOTE_KEY_MAX)) {
        snprintf(err, errlen, "actor %s: its key belongs to another", uri);
        return 0;
    }

    int rc = inbox_domain_suspended(db, host, err, errlen);
    if (rc != 0) {
        if (rc > 0)
            snprintf(err, errlen, "actor %s: domain %s is suspended", uri, host);
        return rc > 0 ? 0 : -1;
    }

    const mstdn_value_t *ep = mstdn_object_get(doc, "endpoints");
    const char *shared = url_or_null(inbox_ref_of(ep, "sharedInbox"));
    if (shared == NULL)
        shared = url_or_null(inbox_ref_of(doc, "sharedInbox"));

    char *uname = cut(wf != NULL ? wf->user : username, MSTDN_REMOTE_USERNAME_MAX);
    char *display = cut(inbox_str(doc, "name"), MSTDN_REMOTE_DISPLAY_NAME_MAX);
    char *note = inbox_html(inbox_str(doc, "summary"), MSTDN_REMOTE_NOTE_MAX, err, errlen);
    char *fields = fields_json(mstdn_object_get(doc, "attachment"), err, errlen);
    const char *url = url_of(mstdn_object_get(doc, "url"));
    const char *outbox = url_or_null(inbox_ref_of(doc, "outbox"));
    const char *followers = url_or_null(inbox_ref_of(doc, "followers"));
    const char *following = url_or_null(inbox_ref_of(doc, "following"));
    const char *avatar = image_of(mstdn_object_get(doc, "icon"));
    const char *header = image_of(mstdn_object_get(doc, "image"));
    const char *featured = url_or_null(inbox_ref_of(doc, "featured"));
    const char *published = inbox_time(inbox_str(doc, "published"));

    rc = -1;
    if (uname == NULL || display == NULL || note == NULL || fields == NULL) {
        if (note == NULL && uname != NULL && display != NULL) {
            rc = 0;                     /* the summary was refused */
        } else {
            snprintf(err, errlen, "out of memory");
        }
        goto out;
    }

    /* the account's domain keeps a port other than the scheme's, as
     * Mastodon's does (its WebFinger acct for an instance at host:port) */
    char domain[INBOX_HOST_MAX + 8];
    if (wf != NULL) {
        /* the acct WebFinger confirmed, lower-cased as Mastodon's domain */
        size_t i;
        for (i = 0; wf->domain[i] != '\0' && i + 1 < sizeof(domain); i++)
            domain[i] = (char) (wf->domain[i] >= 'A' && wf->domain[i] <= 'Z'
                                ? wf->domain[i] + 32 : wf->domain[i]);
        domain[i] = '\0';
    } else if (fetch_url_domain(id, domain, sizeof(domain)) != 0) {
        snprintf(err, errlen, "not the actor %s", uri);
        rc = 0;
        goto out;
    }

    const char *params[22] = {
        uri, uname, domain, display, note, url != NULL ? url : uri, inbox,
        shared != NULL ? shared : "", outbox != NULL ? outbox : "",
        followers != NULL ? followers : "", following != NULL ? following : "",
        pem != NULL ? pem : "", avatar, header != NULL ? header : "", fields,
        flag(doc, "manuallyApprovesFollowers") ? "true" : "false", type,
        flag(doc, "discoverable") ? "true" : "false",
        flag(doc, "indexable") ? "true" : "false", published, featured,
        flag(doc, "memorial") ? "true" : "false",
    };
    PGresult *res = db_query(db, upsert_sql, 22, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    if (PQntuples(res) == 1) {
        snprintf(out, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        rc = inbox_emojis_store(db, out, doc, err, errlen) < 0 ? -1 : 1;
        size_t ulen = strlen(uri);
        if (pem != NULL && key_id != NULL
            && !(strncmp(key_id, uri, ulen) == 0 && key_id[ulen] == '#')) {
            /* a key id of its own: found by it (sql/0011's mastodon_signing_key) */
            const char *kp[3] = { out, key_id, pem };
            PGresult *k = db_query(db, "INSERT INTO keypairs (account_id, type, uri, public_key)"
                                   " VALUES ($1::bigint, 0, $2, $3) ON CONFLICT (uri) DO UPDATE"
                                   " SET public_key = excluded.public_key, revoked = false,"
                                   " updated_at = now() AT TIME ZONE 'UTC'"
                                   " WHERE keypairs.account_id = excluded.account_id",
                                   3, kp, PGRES_COMMAND_OK, err, errlen);
            if (k == NULL)
                rc = -1;
            PQclear(k);
        }
    } else {
        /* another URI holds user@domain: Mastodon merges them; not here */
        snprintf(err, errlen, "actor %s: %s@%s is another actor's", uri, uname, host);
        rc = 0;
    }
    PQclear(res);
out:
    free(uname);
    free(display);
    free(note);
    free(fields);
    return rc;
}

int inbox_fetch_json(job_ctx *ctx, const char *url, int webfinger, const mstdn_alloc_t *alloc,
                     const mstdn_value_t **doc, char **final_url, char *err, size_t errlen)
{
    fetch_request req = { .kind = webfinger ? FETCH_WEBFINGER : FETCH_ACTIVITYPUB, .url = url };
    fetch_response res;
    ap_signing signing = { ctx->instance_signer, 0 };
    mstdn_value_t *v;
    char perr[128];

    *final_url = NULL;
    if (ctx->http == NULL) {
        snprintf(err, errlen, "no transfer client");
        return -1;
    }
    /* Every ActivityPub GET is signed by the instance actor, as Mastodon
     * signs a fetch made on no account's behalf, so peers in authorized
     * fetch (secure) mode answer it; WebFinger stays unsigned as
     * Mastodon's. */
    if (!webfinger && ctx->instance_signer != NULL) {
        PGconn *db = job_db(ctx, err, errlen);
        int found = db != NULL ? ap_signer_instance(db, ctx->cfg, ctx->instance_signer,
                                                    err, errlen) : -1;
        if (found < 0)
            return -1;
        if (found > 0) {
            req.sign = ap_sign;
            req.sign_data = &signing;
        } else {
            mlog(LOG_WARN, "fetch of %s unsigned: the instance actor has no key", url);
        }
    }
    fetch_outcome o = fetch_run(ctx->http, ctx->cfg, &req, &res);
    int rc = -1;
    if (o == FETCH_REFUSED) {
        snprintf(err, errlen, "fetch of %s refused: %s", url, res.error);
        rc = 0;
    } else if (o != FETCH_OK) {
        snprintf(err, errlen, "fetch of %s failed: %s", url, res.error);
    } else if (res.status == 404 || res.status == 410) {
        snprintf(err, errlen, "fetch of %s: gone (%ld)", url, res.status);
        rc = 0;
    } else if (res.status >= 500 || res.status == 429) {
        snprintf(err, errlen, "fetch of %s: status %ld", url, res.status);
    } else if (res.status != 200) {
        snprintf(err, errlen, "fetch of %s: status %ld", url, res.status);
        rc = 0;
    } else if (mstdn_json_parse(res.body, res.body_len, alloc, &inbox_json_limits, &v, perr,
                                sizeof(perr)) != MSTDN_OK || v->type != MSTDN_OBJECT) {
        snprintf(err, errlen, "fetch of %s: not a JSON object", url);
        rc = 0;
    } else {
        *doc = v;
        *final_url = res.final_url;
        res.final_url = NULL;
        rc = 1;
    }
    fetch_response_free(&res);
    return rc;
}

int inbox_fetch_document(job_ctx *ctx, const char *uri, const mstdn_alloc_t *alloc,
                         const mstdn_value_t **doc, char *err, size_t errlen)
{
    char *final_url;
    const mstdn_value_t *v = NULL;

    int rc = inbox_fetch_json(ctx, uri, 0, alloc, &v, &final_url, err, errlen);
    if (rc != 1)
        return rc;
    if (final_url == NULL || strcmp(final_url, uri) != 0) {
        /* authoritative only for its own id: no redirect elsewhere */
        snprintf(err, errlen, "fetch of %s answered from %s", uri,
                 final_url != NULL ? final_url : "?");
        rc = 0;
    } else if (inbox_str(v, "id") == NULL || strcmp(inbox_str(v, "id"), uri) != 0) {
        snprintf(err, errlen, "fetch of %s: the document is another's", uri);
        rc = 0;
    } else {
        *doc = v;
    }
    free(final_url);
    return rc;
}

int inbox_actor_fetch(job_ctx *ctx, PGconn *db, const char *uri, char out[MW_ID_LEN],
                      char *err, size_t errlen)
{
    const char *params[1] = { uri };
    PGresult *res = db_query(db, "SELECT id FROM accounts WHERE uri = $1 AND domain IS NOT NULL",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 1) {
        snprintf(out, MW_ID_LEN, "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
        return 1;
    }
    PQclear(res);

    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t a;
    const mstdn_value_t *doc = NULL;
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mstdn_arena_allocator(ar, &a);
    int rc = inbox_fetch_document(ctx, uri, &a, &doc, err, errlen);
    if (rc == 1)
        rc = inbox_actor_store_new(ctx, db, doc, uri, out, err, errlen);
    mstdn_arena_destroy(ar);
    return rc;
}
