/* web_push (queue webpush): one notification to its recipient's Web Push
 * subscriptions, Mastodon's Web::PushNotificationWorker.
 *
 * args {"notification_id"} (enqueued by notify.c beside the notification's
 * streaming event when the recipient has subscriptions), or with
 * "subscription_id" the retry of one subscription.
 *
 * The subscriptions are those of live tokens whose alerts want the type
 * and whose policy lets the sender through (all; followed: the recipient
 * follows the sender; follower: the sender follows the recipient; none).
 * The payload is Web::NotificationSerializer's (access_token,
 * preferred_locale, notification_id, notification_type, icon, title,
 * body), encrypted for each subscription (aes128gcm when it registered as
 * standard, else the legacy aesgcm) and POSTed through the guarded client
 * with a VAPID JWT, TTL (what is left of Mastodon's 48 hours since the
 * notification), Urgency normal and a Topic (the notification: a retry
 * replaces a copy the service still holds).  A 4xx but 408 and 429
 * deletes the subscription, as Mastodon does (404 and 410: it is gone);
 * another failure is retried for that subscription alone; a notification
 * older than the TTL is dropped, not sent. */
#include "db.h"
#include "fetch.h"
#include "jobs.h"
#include "log.h"
#include "mstdn_html.h"
#include "mstdn_json.h"
#include "mstdn_sanitize.h"
#include "mstdn_webpush.h"
#include "queue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WEB_PUSH_TTL        (48 * 3600)     /* Web::PushNotificationWorker::TTL */
#define WEB_PUSH_BODY_CHARS 140             /* the serializer's truncate */
#define WEB_PUSH_MAX_SUBS   64              /* tokens of one user sent at once */

enum {
    C_ID, C_ENDPOINT, C_P256DH, C_AUTH, C_STANDARD, C_TOKEN, C_LOCALE, C_TYPE, C_AGE,
    C_NAME, C_AVATAR, C_TEXT
};

static const char subscriptions_sql[] =
    "SELECT w.id, w.endpoint, w.key_p256dh, w.key_auth, w.standard, w.token,"
    " coalesce(nullif(u.locale, ''), 'en'), n.type,"
    " extract(epoch FROM (now() AT TIME ZONE 'UTC') - n.created_at)::bigint,"
    " coalesce(nullif(snd.display_name, ''), snd.username),"
    " CASE WHEN snd.domain IS NOT NULL AND snd.suspended_at IS NULL"
    "      THEN coalesce(snd.avatar_remote_url, '') ELSE '' END,"
    " coalesce(nullif(ts.spoiler_text, ''), ts.text, snd.note, '')"
    " FROM notifications n"
    " JOIN users u ON u.account_id = n.account_id"
    " JOIN web_push_subscriptions w ON w.user_id = u.id"
    " JOIN oauth_access_tokens t ON t.id = w.access_token_id AND t.revoked_at IS NULL"
    " JOIN accounts snd ON snd.id = n.from_account_id"
    " LEFT JOIN statuses ts ON ts.deleted_at IS NULL AND ts.id = CASE n.activity_type"
    "   WHEN 'Status' THEN (SELECT coalesce(s.reblog_of_id, s.id) FROM statuses s"
    "                       WHERE s.id = n.activity_id)"
    "   WHEN 'Favourite' THEN (SELECT f.status_id FROM favourites f WHERE f.id = n.activity_id)"
    "   WHEN 'Mention' THEN (SELECT m.status_id FROM mentions m WHERE m.id = n.activity_id)"
    "   WHEN 'Poll' THEN (SELECT p.status_id FROM polls p WHERE p.id = n.activity_id) END"
    " WHERE n.id = $1::bigint AND ($2::bigint IS NULL OR w.id = $2::bigint)"
    " AND (w.data -> 'alerts' ->> n.type) = 'true'"
    " AND CASE coalesce(w.data ->> 'policy', 'all')"
    "   WHEN 'all' THEN true"
    "   WHEN 'followed' THEN EXISTS (SELECT 1 FROM follows f WHERE f.account_id = n.account_id"
    "                                AND f.target_account_id = n.from_account_id)"
    "   WHEN 'follower' THEN EXISTS (SELECT 1 FROM follows f WHERE f.account_id = n.from_account_id"
    "                                AND f.target_account_id = n.account_id)"
    "   ELSE false END"
    " ORDER BY w.id LIMIT 64";     /* WEB_PUSH_MAX_SUBS */

static const char delete_sql[] = "DELETE FROM web_push_subscriptions WHERE id = $1::bigint";

/* One subscription's push. */
typedef struct {
    int            row;
    int            done;
    fetch_outcome  outcome;
    long           status;
    char           error[256];
    int           *pending;
    int           *all_done;      /* set when pending reaches 0 */
} push_item;

/* notification_mailer.<type>.subject (en) */
static const char *title_format(const char *type)
{
    static const struct { const char *type, *fmt; } titles[] = {
        { "mention", "You were mentioned by %s" },
        { "status", "%s just posted" },
        { "reblog", "%s boosted your post" },
        { "follow", "%s is now following you" },
        { "follow_request", "Pending follower: %s" },
        { "favourite", "%s favorited your post" },
        { "poll", "A poll by %s has ended" },
        { "update", "%s edited a post" },
        { "admin.sign_up", "%s signed up" },
        { "admin.report", "%s submitted a report" },
        { "quote", "%s quoted your post" },
    };
    for (size_t i = 0; i < sizeof(titles) / sizeof(titles[0]); i++) {
        if (strcmp(titles[i].type, type) == 0)
            return titles[i].fmt;
    }
    return "%s";
}

/* The serializer's body: strip_tags, HTML entities decoded, truncate(140)
 * ("..." in the last three of 140 characters).  malloc'd or NULL. */
static char *plain_body(const char *html)
{
    size_t len = strlen(html), n = 0, olen;
    char *out = malloc(len + 4), buf[4];

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (html[i] == '<') {
            const char *end = memchr(html + i, '>', len - i);
            if (end != NULL) {
                i = (size_t) (end - html);
                continue;
            }
        }
        if (html[i] == '&') {
            size_t k = mstdn_charref(html + i, html + len, buf, &olen);
            if (k > 0) {
                memcpy(out + n, buf, olen);
                n += olen;
                i += k - 1;
                continue;
            }
        }
        out[n++] = html[i];
    }
    out[n] = '\0';
    size_t keep = mstdn_utf8_prefix(out, n, WEB_PUSH_BODY_CHARS);
    if (keep < n) {
        keep = mstdn_utf8_prefix(out, n, WEB_PUSH_BODY_CHARS - 3);
        memcpy(out + keep, "...", 4);
    }
    return out;
}

/* scheme://host[:port] of the endpoint: the JWT's audience. */
static int audience(const char *url, char *out, size_t outlen)
{
    const char *p = strstr(url, "://");
    if (p == NULL)
        return -1;
    size_t n = strcspn(p + 3, "/?#");
    if ((size_t) (p + 3 - url) + n >= outlen || n == 0)
        return -1;
    memcpy(out, url, (size_t) (p + 3 - url) + n);
    out[(p + 3 - url) + n] = '\0';
    for (char *c = out; *c != '\0'; c++) {
        if (*c >= 'A' && *c <= 'Z')
            *c = (char) (*c - 'A' + 'a');
    }
    return 0;
}

/* A JSON string member ,"key":"value" appended at *p (room checked by the
 * caller: MSTDN_JSON_QUOTE_MAX of the value). */
static char *json_member(char *p, const char *key, const char *value)
{
    p += sprintf(p, ",\"%s\":", key);
    p += mstdn_json_quote(p, value, strlen(value));
    return p;
}

static void push_done(fetch_response *res, void *data)
{
    push_item *it = data;

    it->done = 1;
    it->outcome = res->outcome;
    it->status = res->status;
    snprintf(it->error, sizeof(it->error), "%s", res->error);
    if (--*it->pending == 0)
        *it->all_done = 1;
}

/* Starts one subscription's push. */
static int push_start(job_ctx *ctx, EVP_PKEY *vapid, const PGresult *res, push_item *it,
                      const char *notification_id, long ttl, const char *title,
                      const char *icon, const char *body, char *err, size_t errlen)
{
    const worker_config *cfg = ctx->cfg;
    int row = it->row, standard = PQgetvalue(res, row, C_STANDARD)[0] == 't';
    const char *endpoint = PQgetvalue(res, row, C_ENDPOINT);
    unsigned char p256dh[MSTDN_WEBPUSH_POINT_LEN + 1], auth[MSTDN_WEBPUSH_AUTH_LEN + 1];
    char aud[512], sub[400], jwt[1024], pub[MSTDN_WEBPUSH_KEY_B64_LEN];
    char salt[32], dh[MSTDN_WEBPUSH_KEY_B64_LEN];
    char h_ttl[40], h_topic[64], h_auth[1200], h_crypto[400], h_enc[64];
    const char *headers[8];
    mstdn_webpush_message_t m;

    const char *key = PQgetvalue(res, row, C_P256DH), *secret = PQgetvalue(res, row, C_AUTH);
    if (mstdn_base64url_decode(key, strlen(key), p256dh, sizeof(p256dh)) != MSTDN_WEBPUSH_POINT_LEN
        || mstdn_base64url_decode(secret, strlen(secret), auth, sizeof(auth))
           != MSTDN_WEBPUSH_AUTH_LEN
        || audience(endpoint, aud, sizeof(aud)) != 0) {
        snprintf(err, errlen, "subscription %s: bad keys or endpoint", PQgetvalue(res, row, C_ID));
        return -1;
    }

    /* the payload: the token and locale are the subscription's */
    const char *token = PQgetvalue(res, row, C_TOKEN), *locale = PQgetvalue(res, row, C_LOCALE);
    size_t room = 256 + strlen(notification_id)
                  + MSTDN_JSON_QUOTE_MAX(strlen(token) + strlen(locale) + strlen(icon)
                                         + strlen(title) + strlen(body)
                                         + strlen(PQgetvalue(res, row, C_TYPE)));
    char *payload = malloc(room), *p = payload;
    if (payload == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    p += sprintf(p, "{\"access_token\":");
    p += mstdn_json_quote(p, token, strlen(token));
    p = json_member(p, "preferred_locale", locale);
    p += sprintf(p, ",\"notification_id\":%s", notification_id);
    p = json_member(p, "notification_type", PQgetvalue(res, row, C_TYPE));
    p = json_member(p, "icon", icon);
    p = json_member(p, "title", title);
    p = json_member(p, "body", body);
    *p++ = '}';

    int rc = mstdn_webpush_encrypt(standard, p256dh, auth, (unsigned char *) payload,
                                   (size_t) (p - payload), &m);
    free(payload);
    if (rc != 0) {
        snprintf(err, errlen, "subscription %s: encryption failed", PQgetvalue(res, row, C_ID));
        return -1;
    }

    /* Mastodon's sub: mailto: the contact address */
    snprintf(sub, sizeof(sub), "mailto:%s", cfg->from_address);
    if (mstdn_webpush_vapid_jwt(vapid, aud, (long long) time(NULL) + 24 * 3600, sub, jwt,
                                sizeof(jwt)) != 0) {
        mstdn_webpush_message_free(&m);
        snprintf(err, errlen, "VAPID signature failed");
        return -1;
    }
    {
        unsigned char point[MSTDN_WEBPUSH_POINT_LEN + 1];
        long n = mstdn_base64url_decode(cfg->vapid_public_key, strlen(cfg->vapid_public_key),
                                        point, sizeof(point));
        mstdn_base64url_encode(point, n > 0 ? (size_t) n : 0, pub);
    }

    int k = 0;
    snprintf(h_ttl, sizeof(h_ttl), "TTL: %ld", ttl);
    snprintf(h_topic, sizeof(h_topic), "Topic: %s", notification_id);
    headers[k++] = h_ttl;
    headers[k++] = "Urgency: normal";
    headers[k++] = h_topic;
    if (standard) {
        snprintf(h_enc, sizeof(h_enc), "Content-Encoding: aes128gcm");
        snprintf(h_auth, sizeof(h_auth), "Authorization: vapid t=%s,k=%s", jwt, pub);
        headers[k++] = h_enc;
        headers[k++] = h_auth;
    } else {
        mstdn_base64url_encode(m.salt, sizeof(m.salt), salt);
        mstdn_base64url_encode(m.server_key, sizeof(m.server_key), dh);
        snprintf(h_enc, sizeof(h_enc), "Encryption: salt=%s", salt);
        snprintf(h_crypto, sizeof(h_crypto), "Crypto-Key: dh=%s;p256ecdsa=%s", dh, pub);
        snprintf(h_auth, sizeof(h_auth), "Authorization: WebPush %s", jwt);
        headers[k++] = "Content-Encoding: aesgcm";
        headers[k++] = h_enc;
        headers[k++] = h_crypto;
        headers[k++] = h_auth;
    }
    headers[k] = NULL;

    fetch_request req = {
        .kind = FETCH_OTHER,
        .method = "POST",
        .url = endpoint,
        .body = (const char *) m.body,
        .body_len = m.len,
        .content_type = "application/octet-stream",
        .headers = headers,
        .timeout_ms = cfg->deliver_timeout_ms,
    };
    rc = fetch_start(ctx->http, cfg, &req, push_done, it, err, errlen);
    mstdn_webpush_message_free(&m);
    if (rc == 0)
        (*it->pending)++;
    return rc;
}

int job_web_push(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char notification[MW_ID_LEN], subscription[MW_ID_LEN];
    EVP_PKEY *vapid = NULL;
    PGresult *res = NULL;
    push_item items[WEB_PUSH_MAX_SUBS];
    int rc = -1, pending = 0, all_done = 0, single;
    char *body = NULL;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    if (args_id(&a, "notification_id", notification) != 1) {
        snprintf(err, errlen, "args need notification_id (an id string)");
        goto out;
    }
    single = args_id(&a, "subscription_id", subscription) == 1;

    if (ctx->cfg->vapid_private_key[0] == '\0') {
        mlog(LOG_WARN, "web_push: no VAPID key configured (vapid_private_key): notification %s"
             " not pushed", notification);
        rc = 0;
        goto out;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto out;
    if (ctx->http == NULL) {
        snprintf(err, errlen, "no HTTP client");
        goto out;
    }
    const char *params[2] = { notification, single ? subscription : NULL };
    res = db_query(db, subscriptions_sql, 2, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto out;
    int n = PQntuples(res);
    if (n == 0) {
        rc = 0;
        goto out;
    }
    long ttl = WEB_PUSH_TTL - atol(PQgetvalue(res, 0, C_AGE));
    if (ttl <= 0) {
        /* past its TTL: a push service would drop it, so do we */
        mlog(LOG_INFO, "web_push: notification %s is older than the TTL, not pushed", notification);
        rc = 0;
        goto out;
    }
    vapid = mstdn_webpush_vapid_load(ctx->cfg->vapid_private_key, ctx->cfg->vapid_public_key);
    if (vapid == NULL) {
        snprintf(err, errlen, "the VAPID key does not load");
        goto out;
    }

    char title[512], icon[2200];
    snprintf(title, sizeof(title), title_format(PQgetvalue(res, 0, C_TYPE)),
             PQgetvalue(res, 0, C_NAME));
    if (PQgetvalue(res, 0, C_AVATAR)[0] != '\0')
        snprintf(icon, sizeof(icon), "%s", PQgetvalue(res, 0, C_AVATAR));
    else
        snprintf(icon, sizeof(icon), "%s/avatars/original/missing.png", ctx->cfg->base);
    body = plain_body(PQgetvalue(res, 0, C_TEXT));
    if (body == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }

    for (int i = 0; i < n; i++) {
        items[i] = (push_item) { .row = i, .pending = &pending, .all_done = &all_done };
        if (push_start(ctx, vapid, res, &items[i], notification, ttl, title, icon, body,
                       items[i].error, sizeof(items[i].error)) != 0) {
            items[i].done = 1;
            items[i].outcome = FETCH_REFUSED;
        }
    }
    if (pending > 0)
        http_wait(ctx->http, &all_done);

    rc = 0;
    for (int i = 0; i < n; i++) {
        push_item *it = &items[i];
        const char *id = PQgetvalue(res, i, C_ID);
        if (it->outcome == FETCH_OK && it->status >= 200 && it->status < 300) {
            mlog(LOG_DEBUG, "web_push: notification %s to subscription %s: %ld", notification,
                 id, it->status);
            continue;
        }
        if (it->outcome == FETCH_OK && it->status >= 400 && it->status < 500
            && it->status != 408 && it->status != 429) {
            /* the subscription is invalid or expired */
            mlog(LOG_INFO, "web_push: subscription %s answered %ld: deleted", id, it->status);
            const char *p[1] = { id };
            PGresult *d = db_query(db, delete_sql, 1, p, PGRES_COMMAND_OK, err, errlen);
            if (d == NULL) {
                rc = -1;
                break;
            }
            PQclear(d);
            continue;
        }
        if (it->outcome == FETCH_REFUSED) {
            mlog(LOG_INFO, "web_push: subscription %s refused: %s", id, it->error);
            continue;
        }
        char why[300];
        if (it->outcome == FETCH_OK)
            snprintf(why, sizeof(why), "subscription %s answered %ld", id, it->status);
        else
            snprintf(why, sizeof(why), "subscription %s: %s", id, it->error);
        if (single || n == 1) {
            snprintf(err, errlen, "%s", why);
            rc = -1;
            continue;
        }
        /* the others went through: this one is retried alone */
        char args[160];
        int k = snprintf(args, sizeof(args),
                         "{\"notification_id\":\"%s\",\"subscription_id\":\"%s\"}",
                         notification, id);
        if (queue_schedule(*ctx->redis, "webpush", "web_push", args, (size_t) k, 1,
                           queue_backoff_ms(ctx->cfg, 0), why, err, errlen) != 0) {
            rc = -1;
            break;
        }
        mlog(LOG_INFO, "web_push: %s, retried alone", why);
    }
out:
    free(body);
    if (res != NULL)
        PQclear(res);
    EVP_PKEY_free(vapid);
    args_free(&a);
    return rc;
}
