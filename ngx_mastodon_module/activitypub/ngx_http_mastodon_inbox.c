/*
 * POST /users/:username/inbox and POST /inbox (Mastodon's
 * ActivityPub::InboxesController): the body is taken as sent (the route's
 * limit holds before it is read), its signature checked (_signature.c),
 * the body checked to be a JSON object within mastodon_json_max_depth /
 * _members, then stored with its inbox_process job in one transaction
 * before 202 is answered.  The worker does the rest (queue ingress).
 * JSON-LD signatures inside the body are never looked at: the HTTP
 * signature is the only proof of who sent it.
 *
 * As Mastodon's skip_unknown_actor_activity: a Delete or Update of an
 * actor by itself, from an actor we never stored, is answered 202 and
 * dropped without fetching its key (the key of a deleted actor is gone).
 */

#include <ctype.h>

#include "ngx_http_mastodon_activitypub.h"
#include "mstdn_json.h"


typedef struct {
    ngx_http_mastodon_signed_t     s;
    ngx_str_t                      username;    /* empty: the shared inbox */
    u_char                        *body;        /* NUL-terminated copy */
} ngx_http_mastodon_inbox_t;


static ngx_int_t ngx_http_mastodon_inbox_receive(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *username);
static ngx_int_t ngx_http_mastodon_inbox_body(ngx_http_request_t *r,
    ngx_http_mastodon_inbox_t *in);
static void ngx_http_mastodon_inbox_verified(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc);
static ngx_int_t ngx_http_mastodon_inbox_store(ngx_http_request_t *r,
    ngx_http_mastodon_inbox_t *in);
static ngx_int_t ngx_http_mastodon_inbox_sync(ngx_http_request_t *r,
    const char **values);
static void ngx_http_mastodon_inbox_stored(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_inbox_accepted(ngx_http_request_t *r);


/*
 * Stored only when the signer's domain is not suspended and the inbox's
 * account exists; the job goes with the row.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_inbox_stmt =
    ngx_http_mastodon_pg_stmt(
        "WITH target AS ("
        "  SELECT (SELECT a.id FROM accounts a"
        "           WHERE $2 <> '' AND lower(a.username) = lower($2)"
        "             AND a.domain IS NULL) AS id),"
        " blocked AS (SELECT mastodon_domain_suspended($6) AS b),"
        " ins AS ("
        "  INSERT INTO inbox_activities"
        "   (body, account_id, signer_account_id, actor_uri, key_id)"
        "  SELECT $1, t.id, $3::bigint, $4, $5 FROM target t, blocked"
        "   WHERE NOT blocked.b AND ($2 = '' OR t.id IS NOT NULL)"
        "  RETURNING id),"
        " jobs AS ("
        NGX_HTTP_MASTODON_OUTBOX_SQL(
            "SELECT 'ingress', 'inbox_process',"
            " json_build_object('id', ins.id::text) FROM ins"
            /* Collection-Synchronization: the worker checks and syncs */
            " UNION ALL SELECT 'push', 'followers_synchronization',"
            " json_build_object('account_id', $3::bigint::text,"
            " 'collection_id', $7::text, 'url', $8::text, 'digest', $9::text)"
            " FROM ins WHERE $7::text IS NOT NULL")
        ")"
        " SELECT (SELECT b FROM blocked), (SELECT id FROM target),"
        " (SELECT id FROM ins)", 9);


/* POST /users/:username/inbox */
ngx_int_t
ngx_http_mastodon_inbox(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    u_char  *p;

    /* ActivityPub::InboxesController (an Api::BaseController): its
     * errors are JSON, an unknown account Api::ErrorHandling's */
    ctx->ap_errors = 1;

    /* an account's name: [A-Za-z0-9_]+ (else no such account: 404) */
    if (ctx->captures[0].len == 0 || ctx->captures[0].len > 64) {
        ctx->error_message = "Record not found";
        return NGX_HTTP_NOT_FOUND;
    }

    for (p = ctx->captures[0].data;
         p < ctx->captures[0].data + ctx->captures[0].len;
         p++)
    {
        if (!(isalnum(*p) || *p == '_')) {
            ctx->error_message = "Record not found";
            return NGX_HTTP_NOT_FOUND;
        }
    }

    return ngx_http_mastodon_inbox_receive(r, ctx, &ctx->captures[0]);
}


/* POST /inbox */
ngx_int_t
ngx_http_mastodon_shared_inbox(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_str_t  none = ngx_string("");

    ctx->ap_errors = 1;

    return ngx_http_mastodon_inbox_receive(r, ctx, &none);
}


static ngx_int_t
ngx_http_mastodon_inbox_receive(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *username)
{
    ngx_int_t                   rc;
    ngx_http_mastodon_inbox_t  *in;

    in = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_inbox_t));
    if (in == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    in->username = *username;
    in->s.done = ngx_http_mastodon_inbox_verified;
    in->s.data = in;
    in->s.checks_block = 1;     /* the storing statement does, fresh */

    if (ngx_http_mastodon_body_bytes(r, &in->s.body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_mastodon_signature_check(r, &in->s);
    if (rc != NGX_OK) {
        return ngx_http_mastodon_signature_error(r, &in->s, rc);
    }

    rc = ngx_http_mastodon_inbox_body(r, in);
    if (rc != NGX_OK) {
        return ngx_http_mastodon_signature_error(r, &in->s, rc);
    }

    rc = ngx_http_mastodon_signature_verify(r, &in->s);

    if (rc == NGX_OK) {
        return ngx_http_mastodon_inbox_store(r, in);
    }

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    return ngx_http_mastodon_signature_error(r, &in->s, rc);
}


/*
 * The body: a JSON object within the parser's bounds (strict UTF-8, no
 * NUL), else 400 (s.error says so).  Whether it is a self-Delete/Update of an actor.
 */
static ngx_int_t
ngx_http_mastodon_inbox_body(ngx_http_request_t *r,
    ngx_http_mastodon_inbox_t *in)
{
    int                             rc;
    char                            err[128];
    size_t                          tlen, alen, olen;
    const char                     *type, *actor, *object;
    mstdn_alloc_t                   a;
    mstdn_value_t                  *json, *o;
    mstdn_limits_t                  limits;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;
    limits.max_depth = mcf->json_max_depth;
    limits.max_members = mcf->json_max_members;

    rc = mstdn_json_parse((char *) in->s.body.data, in->s.body.len, &a,
                          &limits, &json, err, sizeof(err));

    if (rc == MSTDN_OK && json->type != MSTDN_OBJECT) {
        rc = MSTDN_ESYNTAX;
        ngx_cpystrn((u_char *) err, (u_char *) "not an object", sizeof(err));
    }

    if (rc != MSTDN_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: inbox body refused: %s", err);

        in->s.error = "Error while parsing request: invalid JSON body";
        return NGX_HTTP_BAD_REQUEST;
    }

    type = mstdn_param_str(json, "type", &tlen);
    actor = mstdn_param_str(json, "actor", &alen);

    o = mstdn_object_get(json, "object");
    if (o && o->type == MSTDN_OBJECT) {
        object = mstdn_param_str(o, "id", &olen);

    } else {
        object = (o && o->type == MSTDN_STRING) ? o->str : NULL;
        olen = object ? o->len : 0;
    }

    if (type && actor && object && alen > 0 && alen == olen
        && ngx_strncmp(actor, object, alen) == 0
        && ((tlen == 6 && ngx_strncmp(type, "Delete", 6) == 0)
            || (tlen == 6 && ngx_strncmp(type, "Update", 6) == 0)))
    {
        in->s.unknown_ok = 1;
    }

    /* a NUL-terminated copy for the statement (the JSON has no NUL) */
    in->body = ngx_pnalloc(r->pool, in->s.body.len + 1);
    if (in->body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(in->body, in->s.body.data, in->s.body.len) = '\0';

    return NGX_OK;
}


static void
ngx_http_mastodon_inbox_verified(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc)
{
    ngx_http_mastodon_inbox_t *in = s->data;

    if (rc == NGX_OK) {
        rc = ngx_http_mastodon_inbox_store(r, in);
        if (rc == NGX_DONE) {
            return;
        }

    } else if (rc == NGX_DECLINED) {
        /* the self-Delete of an actor never seen: nothing to do */
        rc = ngx_http_mastodon_inbox_accepted(r);

    } else {
        rc = ngx_http_mastodon_signature_error(r, s, rc);
    }

    ngx_http_mastodon_finalize(r, rc);
}


static ngx_int_t
ngx_http_mastodon_inbox_store(ngx_http_request_t *r,
    ngx_http_mastodon_inbox_t *in)
{
    u_char       *p;
    const char  **values;

    values = ngx_pcalloc(r->pool, 9 * sizeof(char *));
    p = ngx_pnalloc(r->pool, in->username.len + 1);
    if (values == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_cpymem(p, in->username.data, in->username.len) = '\0';

    values[0] = (const char *) in->body;
    values[1] = (const char *) p;
    values[2] = ngx_http_mastodon_pg_int64(r, in->s.key.account_id);
    values[3] = (const char *) in->s.key.actor_uri.data;
    values[4] = in->s.sig->key_id;
    values[5] = (const char *) in->s.key_host.data;

    if (values[2] == NULL
        || ngx_http_mastodon_inbox_sync(r, &values[6]) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_inbox_stmt, values,
                                   ngx_http_mastodon_inbox_stored, in)
        != NGX_DONE)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/*
 * Mastodon's Collection-Synchronization header (InboxesController#
 * process_collection_synchronization): collectionId, url and digest, in
 * the Signature header's syntax, for the followers_synchronization job.
 * values[0..2] stay NULL when it is absent, given twice, unparsable,
 * incomplete or too long: Mastodon logs those and answers as usual.
 */
static ngx_int_t
ngx_http_mastodon_inbox_sync(ngx_http_request_t *r, const char **values)
{
    size_t            klen, vlen;
    u_char           *c;
    ngx_int_t         i;
    ngx_uint_t        n;
    const char       *p, *end, *k, *v, *got[3];
    size_t            len[3];
    ngx_table_elt_t  *h;

    static const char  *names[3] = { "collectionId", "url", "digest" };
    static size_t       max[3] = { 2048, 2048, 128 };

    h = ngx_http_mastodon_header_in(r, "Collection-Synchronization", &n);
    if (h == NULL || n != 1 || h->value.len > 8192) {
        return NGX_OK;
    }

    got[0] = got[1] = got[2] = NULL;
    len[0] = len[1] = len[2] = 0;
    p = (const char *) h->value.data;
    end = p + h->value.len;

    while (mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen) == 1) {
        for (i = 0; i < 3; i++) {
            if (klen == ngx_strlen(names[i])
                && ngx_strncmp(k, names[i], klen) == 0)
            {
                got[i] = v;
                len[i] = vlen;
            }
        }
    }

    if (p != end) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: inbox: unparsable "
                      "Collection-Synchronization header");
        return NGX_OK;
    }

    for (i = 0; i < 3; i++) {
        if (got[i] == NULL || len[i] == 0 || len[i] > max[i]) {
            return NGX_OK;
        }
    }

    for (i = 0; i < 3; i++) {
        c = ngx_pnalloc(r->pool, len[i] + 1);
        if (c == NULL) {
            return NGX_ERROR;
        }

        *ngx_cpymem(c, got[i], len[i]) = '\0';
        values[i] = (const char *) c;
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_inbox_stored(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_inbox_t *in = b->data;

    u_char                   *p;
    ngx_int_t                 rc;
    PGresult                 *res;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    res = ngx_http_mastodon_pg_rows(b, 0);

    if (!ngx_http_mastodon_pg_ok(b) || res == NULL || PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_pg_bool(res, 0, 0)) {
        /* suspended since the key was cached: Mastodon's 403 */
        p = ngx_pnalloc(r->pool, in->s.key_id.len + 32);
        if (p == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_sprintf(p, "Public key not found for key %V%Z", &in->s.key_id);
        in->s.error = (const char *) p;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: inbox refused: %s", in->s.error);

        rc = ngx_http_mastodon_signature_error(r, &in->s,
                                               NGX_HTTP_FORBIDDEN);
        ngx_http_mastodon_finalize(r, rc);
        return;
    }

    if (in->username.len && PQgetisnull(res, 0, 1)) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
        ctx->error_message = "Record not found";
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_inbox_accepted(r));
}


/* Mastodon's head 202: no body */
static ngx_int_t
ngx_http_mastodon_inbox_accepted(ngx_http_request_t *r)
{
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ctx->own_body = 1;

    r->headers_out.status = NGX_HTTP_ACCEPTED;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}
