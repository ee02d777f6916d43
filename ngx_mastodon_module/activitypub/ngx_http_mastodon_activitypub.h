/*
 * ActivityPub: being found (WebFinger) and read (actors, Notes, their
 * activities, collections) by remote servers, as Mastodon 4.x serves them.
 * The JSON comes from lib/mstdn_ap (the one place for ActivityPub shapes,
 * shared with the worker's delivery); the rules of who may see what from
 * sql/0009_rules.sql.
 *
 * Every ActivityPub GET route goes through one entry,
 * ngx_http_mastodon_activitypub(): the route table names it as the handler
 * and the route's `ap` member as what it runs.  The entry negotiates the
 * format (ap->json) and is where authorized fetch (secure mode) checks the
 * request's signature before ngx_http_mastodon_ap_run() runs the route.
 *
 * The inboxes (_inbox.c), HTTP signatures (_signature.c, lib/mstdn_httpsig)
 * and the shared-memory key cache (_keycache.c) are here too.
 */

#ifndef _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_
#define _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_


#include "ngx_http_mastodon_api.h"
#include "mstdn_ap.h"


/* what the entry knows of a request; ctx->data points to it */
typedef struct {
    ngx_uint_t                     json;        /* ActivityPub JSON asked
                                                   for, else an HTML page */
    const char                    *viewer;      /* the signer's local account
                                                   id as an SQL parameter
                                                   (authorized fetch), NULL:
                                                   anonymous */
    const char                    *signer_uri;  /* its actor's URI */
    void                          *data;        /* the route's own state */
    unsigned                       signed_only:1; /* a signature needed
                                                     whatever
                                                     mastodon_authorized_fetch
                                                     says */
} ngx_http_mastodon_ap_t;


/* the entry of every ActivityPub GET route (ctx->route->ap) */
ngx_int_t ngx_http_mastodon_activitypub(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* runs the route once the request may be answered */
ngx_int_t ngx_http_mastodon_ap_run(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* answers a document: application/activity+json, Vary: Accept,
 * Cache-Control (max_age 0: no-cache with private for what a signature
 * decided, public otherwise) */
ngx_int_t ngx_http_mastodon_ap_send(ngx_http_mastodon_json_t *j,
    time_t max_age);
/* a local username as the routes take it: [A-Za-z0-9_.-], bounded */
ngx_uint_t ngx_http_mastodon_ap_username(ngx_str_t *s);
/* a decimal id (< 2^63) as a NUL-terminated string in the pool, or NULL */
const char *ngx_http_mastodon_ap_id(ngx_http_request_t *r, ngx_str_t *s);
/* a URI of lib/mstdn_ap (mstdn_ap_uri(): kind, name, id) on our base URL,
 * in the pool; NULL: no memory, or it cannot be built */
const char *ngx_http_mastodon_ap_uri(ngx_http_request_t *r, int kind,
    const char *name, const char *id);
/* a capture as a NUL-terminated string in the pool */
const char *ngx_http_mastodon_ap_cstr(ngx_http_request_t *r, ngx_str_t *s);


/*
 * SQL: what a local status's Note, Create or Announce needs (status s,
 * author a); with NGX_HTTP_MASTODON_AP_STATUS_FROM.  The visibility rule
 * is the caller's (NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s") with $1 the
 * viewer).
 */
#define NGX_HTTP_MASTODON_AP_TIME(t)                                          \
    "to_char(" t ", 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
#define NGX_HTTP_MASTODON_AP_STATUS_COLUMNS                                   \
    "s.id::text, s.visibility, " NGX_HTTP_MASTODON_AP_TIME("s.created_at")   \
    ", " NGX_HTTP_MASTODON_AP_TIME("s.edited_at") ","                         \
    " p.id::text, p.uri, pa.username, pa.domain IS NULL,"                     \
    " s.spoiler_text, s.text, s.language,"                                    \
    " s.sensitive OR a.sensitized_at IS NOT NULL,"                            \
    " c.uri, to_char(c.created_at, 'YYYY-MM-DD'), c.id::text,"                \
    " (SELECT json_agg(json_build_array(ma.id::text, ma.username,"            \
    "   ma.domain, ma.url, ma.uri) ORDER BY m.id) FROM mentions m"            \
    "   JOIN accounts ma ON ma.id = m.account_id"                             \
    "   WHERE m.status_id = s.id AND NOT m.silent"                            \
    "   AND ma.suspended_at IS NULL),"                                        \
    " (SELECT json_agg(t.name ORDER BY t.id) FROM statuses_tags stt"          \
    "   JOIN tags t ON t.id = stt.tag_id WHERE stt.status_id = s.id),"        \
    " (SELECT json_agg(sr.id::text ORDER BY sr.id) FROM (SELECT r.id"         \
    "   FROM statuses r WHERE r.in_reply_to_id = s.id"                        \
    "   AND r.account_id = s.account_id AND r.visibility IN (0, 1)"           \
    "   AND r.deleted_at IS NULL ORDER BY r.id LIMIT 5) sr),"                 \
    " coalesce(ss.favourites_count, 0), coalesce(ss.reblogs_count, 0),"       \
    " a.username, o.id::text, o.uri, oa.username, oa.domain IS NULL, oa.uri,"\
    " (SELECT mastodon_poll_json(pl) FROM polls pl WHERE pl.id = s.poll_id),"\
    " mastodon_ap_attachments(s.id), "                                        \
    NGX_HTTP_MASTODON_EMOJIS_SQL("a.domain",                                  \
                                 "s.spoiler_text || ' ' || s.text")
#define NGX_HTTP_MASTODON_AP_STATUS_NCOLS  29
#define NGX_HTTP_MASTODON_AP_STATUS_FROM                                      \
    " FROM statuses s JOIN accounts a ON a.id = s.account_id"                 \
    " LEFT JOIN status_stats ss ON ss.status_id = s.id"                       \
    " LEFT JOIN statuses p ON p.id = s.in_reply_to_id"                        \
    "  AND p.deleted_at IS NULL"                                              \
    " LEFT JOIN accounts pa ON pa.id = p.account_id"                          \
    " LEFT JOIN conversations c ON c.id = s.conversation_id"                  \
    " LEFT JOIN statuses o ON o.id = s.reblog_of_id"                          \
    " LEFT JOIN accounts oa ON oa.id = o.account_id"

/* the status of row `row` (columns from `col`) for lib/mstdn_ap, its
 * strings in the request pool */
ngx_int_t ngx_http_mastodon_ap_status(ngx_http_request_t *r, PGresult *res,
    int row, int col, mstdn_ap_status_t *s);
/* the Emoji tag of a local emoji, e an element of NGX_HTTP_MASTODON_
 * EMOJIS_SQL's array: NGX_OK, NGX_DECLINED (not a local one), NGX_ERROR */
ngx_int_t ngx_http_mastodon_ap_emoji_tag(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, mstdn_value_t *e, mstdn_ap_tag_t *t);


/* the routes (ctx->route->ap) */
ngx_int_t ngx_http_mastodon_ap_actor(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_instance_actor(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_note(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_note_activity(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_replies(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_likes(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_shares(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_outbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_followers(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_following(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_featured(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_featured_tags(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_ap_followers_sync(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
/* GET /emojis/:id (activitypub/_emoji.c) */
ngx_int_t ngx_http_mastodon_ap_emoji(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* GET /.well-known/webfinger (not an ActivityPub route: never signed) */
ngx_int_t ngx_http_mastodon_webfinger(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);



/* --- the inboxes, HTTP signatures, the key cache ----------------------- */

#include "mstdn_httpsig.h"


/* a remote actor's key, as the key cache and PostgreSQL give it */
typedef struct {
    int64_t                        account_id;
    ngx_str_t                      actor_uri;
    ngx_str_t                      acct;        /* user@domain */
    ngx_str_t                      public_key;  /* PEM */
    unsigned                       blocked:1;   /* domain suspended */
} ngx_http_mastodon_key_t;

/* the key cache (_keycache.c): shared memory, entries expire */
char *ngx_http_mastodon_keycache_init_conf(ngx_conf_t *cf,
    ngx_http_mastodon_main_conf_t *mcf);
ngx_int_t ngx_http_mastodon_keycache_get(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_pool_t *pool, ngx_http_mastodon_key_t *key);
void ngx_http_mastodon_keycache_put(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id, ngx_http_mastodon_key_t *key);
void ngx_http_mastodon_keycache_forget(ngx_http_mastodon_main_conf_t *mcf,
    ngx_str_t *key_id);
mstdn_httpsig_key_t *ngx_http_mastodon_keycache_parsed(ngx_str_t *pem,
    ngx_log_t *log);


/*
 * A signed request (_signature.c): the checks without network, then the
 * key (cache, PostgreSQL, or fetched by the worker) and the verification;
 * done() is called once with NGX_OK (s->key is the signer), NGX_DECLINED
 * (the key is unknown and s->unknown_ok said so), or a status (401, 403,
 * 503; s->error says why).
 */
typedef struct ngx_http_mastodon_signed_s  ngx_http_mastodon_signed_t;

typedef void (*ngx_http_mastodon_signed_pt)(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc);

struct ngx_http_mastodon_signed_s {
    ngx_http_request_t            *request;
    mstdn_httpsig_t               *sig;
    ngx_str_t                      body;        /* a POST's, as received */
    ngx_str_t                      key_id;
    ngx_str_t                      key_host;    /* the key id's host */
    u_char                        *base;        /* the signing string */
    size_t                         base_len;
    mstdn_httpsig_request_t        req;         /* what base covers */
    ngx_http_mastodon_key_t        key;
    const char                    *error;       /* for a 401/403/503 */
    ngx_http_mastodon_signed_pt    done;
    void                          *data;

    ngx_http_mastodon_ask_t        ask;         /* the key fetch */

    unsigned                       unknown_ok:1; /* no fetch: DECLINED */
    unsigned                       checks_block:1; /* the caller checks
                                                      the domain itself */
    unsigned                       from_cache:1;
    unsigned                       looked_up:1;  /* PostgreSQL read */
    unsigned                       refresh:1;    /* the stored key failed */
    unsigned                       reloaded:1;   /* read after the answer */
};

/* the checks without network: NGX_OK, or 400/401 with s->error */
ngx_int_t ngx_http_mastodon_signature_check(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
/* the key and the verification: NGX_DONE (done() follows) or a status */
ngx_int_t ngx_http_mastodon_signature_verify(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
/* {"error": ...} (and what Mastodon adds) with status */
ngx_int_t ngx_http_mastodon_signature_error(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_uint_t status);

/*
 * Authorized fetch (secure mode), from ngx_http_mastodon_activitypub() for
 * a JSON request: with mastodon_authorized_fetch off (unless the route is
 * ap->signed_only) or for the instance actor the route runs at once; on, the signature is verified first and
 * the signer becomes ap->viewer.  The route's rc, NGX_DONE while a key is
 * fetched, or the error answered (401/403/503).
 */
ngx_int_t ngx_http_mastodon_authorized_fetch(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);

/* POST /users/:username/inbox, POST /inbox (_inbox.c) */
ngx_int_t ngx_http_mastodon_inbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);
ngx_int_t ngx_http_mastodon_shared_inbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx);


#endif /* _NGX_HTTP_MASTODON_ACTIVITYPUB_H_INCLUDED_ */
