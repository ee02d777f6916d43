/*
 * Signed requests from other servers (Mastodon's SignatureVerification),
 * for the inboxes and authorized fetch.  First what needs no network, in
 * this order: exactly one of each header the signature form needs, strict
 * parsing (lib/mstdn_httpsig), what must be covered, Mastodon's time
 * window, the body's digest, the signed host being ours.  Then the key:
 * the shared-memory key cache (_keycache.c), else PostgreSQL
 * (mastodon_signing_key(), with mastodon_domain_suspended(): 403), else
 * the worker fetches it: a fetch_key job through the outbox, its answer
 * polled in Redis (mastodon:keyfetch:<sha256 hex of the key id>) for at
 * most mastodon_key_fetch_wait, never blocking.  A key that fails to
 * verify is fetched again once (a rotated key), as Mastodon refreshes it.
 *
 * RSA verification runs inline, not in the thread pool: a 2048-bit
 * RSA-SHA256 verify takes some 20 to 30 microseconds (public exponent
 * 65537), keys are capped at 8192 bits (about 0.4 ms), and a trip through
 * the pool costs a task, two thread switches and an event-loop wake-up,
 * about as much as the verify itself.  What is slow is OpenSSL 3 parsing
 * a PEM key (several times the verify): parsed keys are kept per worker
 * (_keycache.c), so a known peer costs one verify.
 */

#include <openssl/evp.h>

#include "ngx_http_mastodon_activitypub.h"
#include "mstdn_json.h"


#define NGX_HTTP_MASTODON_KEYFETCH_PREFIX  "mastodon:keyfetch:"
#define NGX_HTTP_MASTODON_KEYFETCH_RETRY   "30"         /* Retry-After */

#define NGX_HTTP_MASTODON_ANSWER_OK         0
#define NGX_HTTP_MASTODON_ANSWER_TEMPORARY  1
#define NGX_HTTP_MASTODON_ANSWER_ERROR      2


static int ngx_http_mastodon_sig_lookup(void *data, const char *name,
    size_t len, const char **value, size_t *value_len);
static ngx_uint_t ngx_http_mastodon_sig_count(ngx_http_request_t *r,
    const char *name, ngx_str_t *value);
static ngx_int_t ngx_http_mastodon_sig_fail(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, int rc);
static ngx_int_t ngx_http_mastodon_sig_key_host(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static ngx_int_t ngx_http_mastodon_sig_check_key(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static ngx_int_t ngx_http_mastodon_sig_lookup_key(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static void ngx_http_mastodon_sig_key_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_sig_ask(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static void ngx_http_mastodon_sig_answer(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a, ngx_int_t rc);
static ngx_int_t ngx_http_mastodon_sig_parse_answer(ngx_http_request_t *r,
    ngx_str_t *answer);
static ngx_int_t ngx_http_mastodon_sig_unavailable(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static ngx_int_t ngx_http_mastodon_sig_not_found(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s);
static void ngx_http_mastodon_sig_finish(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc);


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_sig_key_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT k.account_id, k.actor_uri, k.acct, k.public_key,"
        " mastodon_domain_suspended($2)"
        " FROM (SELECT 1) one"
        " LEFT JOIN mastodon_signing_key($1) k ON true", 2);



/* The request's headers, by lower-case name, for lib/mstdn_httpsig. */
static int
ngx_http_mastodon_sig_lookup(void *data, const char *name, size_t len,
    const char **value, size_t *value_len)
{
    ngx_uint_t           n;
    ngx_str_t            v;
    ngx_http_request_t  *r = data;
    u_char               lname[MSTDN_HTTPSIG_NAME_MAX + 1];

    if (len > MSTDN_HTTPSIG_NAME_MAX) {
        return -1;
    }

    ngx_memcpy(lname, name, len);
    lname[len] = '\0';

    n = ngx_http_mastodon_sig_count(r, (const char *) lname, &v);

    if (n == 0) {
        return -1;
    }

    if (n > 1) {
        return -2;
    }

    *value = (const char *) v.data;
    *value_len = v.len;

    return 0;
}


/* How many times the header occurs; value: the first one. */
static ngx_uint_t
ngx_http_mastodon_sig_count(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_uint_t        n;
    ngx_table_elt_t  *h;

    h = ngx_http_mastodon_header_in(r, name, &n);
    if (h) {
        *value = h->value;

    } else {
        ngx_str_null(value);
    }

    return n;
}


static ngx_int_t
ngx_http_mastodon_sig_fail(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, int rc)
{
    s->error = mstdn_httpsig_error(rc);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: signature refused: %s", s->error);

    return NGX_HTTP_UNAUTHORIZED;
}


ngx_int_t
ngx_http_mastodon_signature_check(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    int                             rc;
    u_char                         *q;
    ngx_str_t                       sig, input, v, host, ours;
    ngx_uint_t                      post, n;
    ngx_http_mastodon_ctx_t        *ctx;
    mstdn_httpsig_request_t        *req;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    s->request = r;
    post = (r->method == NGX_HTTP_POST);

    n = ngx_http_mastodon_sig_count(r, "signature", &sig);

    if (n == 0) {
        s->error = "Request not signed";
        return NGX_HTTP_UNAUTHORIZED;
    }

    s->sig = ngx_palloc(r->pool, sizeof(mstdn_httpsig_t));
    s->base = ngx_pnalloc(r->pool, MSTDN_HTTPSIG_BASE_MAX);
    if (s->sig == NULL || s->base == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* exactly one of each header the form needs */
    if (ngx_http_mastodon_sig_count(r, "host", &host) != 1) {
        s->error = "Exactly one Host header is required";
        return NGX_HTTP_UNAUTHORIZED;
    }

    if (ngx_http_mastodon_sig_count(r, "signature-input", &input)) {
        if (n > 1
            || ngx_http_mastodon_sig_count(r, "signature-input", &input) > 1
            || (post && ngx_http_mastodon_sig_count(r, "content-digest", &v)
                        != 1))
        {
            s->error = "Exactly one Signature, Signature-Input and "
                       "Content-Digest header are required";
            return NGX_HTTP_UNAUTHORIZED;
        }

        rc = mstdn_httpsig_parse_rfc9421((char *) input.data, input.len,
                                         (char *) sig.data, sig.len, s->sig);

    } else {
        if (n > 1
            || ngx_http_mastodon_sig_count(r, "date", &v) != 1
            || (post && ngx_http_mastodon_sig_count(r, "digest", &v) != 1))
        {
            s->error = "Exactly one Signature, Date and Digest header are "
                       "required";
            return NGX_HTTP_UNAUTHORIZED;
        }

        rc = mstdn_httpsig_parse_cavage((char *) sig.data, sig.len, s->sig);
    }

    if (rc != MSTDN_HTTPSIG_OK) {
        return ngx_http_mastodon_sig_fail(r, s, rc);
    }

    rc = mstdn_httpsig_check_strength(s->sig, post);
    if (rc != MSTDN_HTTPSIG_OK) {
        return ngx_http_mastodon_sig_fail(r, s, rc);
    }

    /* the request as signed: our scheme and host, the path as sent */
    req = &s->req;
    ngx_memzero(req, sizeof(mstdn_httpsig_request_t));

    ours = mcf->base_url;
    q = ngx_strlchr(ours.data, ours.data + ours.len, ':');

    req->method = (const char *) r->method_name.data;
    req->method_len = r->method_name.len;
    req->scheme = (const char *) ours.data;
    req->scheme_len = q - ours.data;
    req->authority = (const char *) q + 3;
    req->authority_len = ours.len - (q + 3 - ours.data);
    req->path = (const char *) r->unparsed_uri.data;
    req->path_len = r->args_start ? (size_t) (r->args_start - 1
                                              - r->unparsed_uri.data)
                                  : r->unparsed_uri.len;
    if (ctx->args.len || r->args_start) {
        req->query = (const char *) ctx->args.data;
        req->query_len = ctx->args.len;
        if (req->query == NULL) {
            req->query = "";
        }
    }
    req->header = ngx_http_mastodon_sig_lookup;
    req->data = r;

    rc = mstdn_httpsig_check_time(s->sig, req, ngx_time());
    if (rc != MSTDN_HTTPSIG_OK) {
        return ngx_http_mastodon_sig_fail(r, s, rc);
    }

    if (post) {
        if (s->sig->kind == MSTDN_HTTPSIG_RFC9421) {
            (void) ngx_http_mastodon_sig_count(r, "content-digest", &v);
            rc = mstdn_httpsig_check_content_digest((char *) v.data, v.len,
                                                    s->body.data,
                                                    s->body.len);
        } else {
            (void) ngx_http_mastodon_sig_count(r, "digest", &v);
            rc = mstdn_httpsig_check_digest((char *) v.data, v.len,
                                            s->body.data, s->body.len);
        }

        if (rc != MSTDN_HTTPSIG_OK) {
            return ngx_http_mastodon_sig_fail(r, s, rc);
        }
    }

    /* the host signed (cavage) or sent (RFC 9421 signs our own) is ours */
    if (host.len != req->authority_len
        || ngx_strncasecmp(host.data, (u_char *) req->authority, host.len)
           != 0)
    {
        s->error = "Host header does not match this server";
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: signature refused: Host \"%V\"", &host);
        return NGX_HTTP_UNAUTHORIZED;
    }

    rc = mstdn_httpsig_base(s->sig, req, (char *) s->base,
                            MSTDN_HTTPSIG_BASE_MAX, &s->base_len);
    if (rc != MSTDN_HTTPSIG_OK) {
        return ngx_http_mastodon_sig_fail(r, s, rc);
    }

    s->key_id.data = (u_char *) s->sig->key_id;
    s->key_id.len = s->sig->key_id_len;

    return ngx_http_mastodon_sig_key_host(r, s);
}


/* The key id's host: where the key comes from, what a block names. */
static ngx_int_t
ngx_http_mastodon_sig_key_host(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    u_char                         *p, *end, *h;
    ngx_str_t                       ours;
    ngx_http_mastodon_main_conf_t  *mcf;

    p = s->key_id.data;
    end = p + s->key_id.len;

    if (s->key_id.len > 8 && ngx_strncmp(p, "https://", 8) == 0) {
        p += 8;

    } else if (s->key_id.len > 7 && ngx_strncmp(p, "http://", 7) == 0) {
        p += 7;

    } else {
        /* acct: key ids (WebFinger look-ups) are not taken */
        return ngx_http_mastodon_sig_not_found(r, s);
    }

    for (h = p; p < end && *p != '/' && *p != ':' && *p != '?' && *p != '#';
         p++)
    {
        if (*p == '@' || *p <= ' ' || *p >= 0x7f) {
            return ngx_http_mastodon_sig_not_found(r, s);
        }
    }

    if (p == h) {
        return ngx_http_mastodon_sig_not_found(r, s);
    }

    s->key_host.len = p - h;
    s->key_host.data = ngx_pnalloc(r->pool, s->key_host.len + 1);
    if (s->key_host.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_strlow(s->key_host.data, h, s->key_host.len);
    s->key_host.data[s->key_host.len] = '\0';

    /*
     * Our own keys sign nothing that comes in (Mastodon: not found): a key
     * id on our site, scheme, host and port (TagManager#local_uri?), so
     * another instance on the same host at another port is not ours.
     */
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    ours = mcf->base_url;

    if (s->key_id.len > ours.len
        && ngx_strncasecmp(s->key_id.data, ours.data, ours.len) == 0
        && (s->key_id.data[ours.len] == '/'
            || s->key_id.data[ours.len] == '#'))
    {
        return ngx_http_mastodon_sig_not_found(r, s);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_sig_not_found(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, s->key_id.len + 32);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(p, "Public key not found for key %V%Z", &s->key_id);
    s->error = (const char *) p;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: signature refused: %s", s->error);

    return NGX_HTTP_UNAUTHORIZED;
}


/*
 * NGX_OK: verified at once (a cached key); NGX_DONE: s->done() follows;
 * or a status.
 */
ngx_int_t
ngx_http_mastodon_signature_verify(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_keycache_get(mcf, &s->key_id, r->pool, &s->key)
        == NGX_OK)
    {
        s->from_cache = 1;

        /* the inbox's storing checks the domain again, fresh */
        if (s->key.blocked && !s->checks_block) {
            rc = ngx_http_mastodon_sig_not_found(r, s);
            return rc == NGX_HTTP_UNAUTHORIZED ? NGX_HTTP_FORBIDDEN : rc;
        }

        if (ngx_http_mastodon_sig_check_key(r, s) == NGX_OK) {
            return NGX_OK;
        }

        /* a rotated key: PostgreSQL may have the new one */
        ngx_http_mastodon_keycache_forget(mcf, &s->key_id);
    }

    return ngx_http_mastodon_sig_lookup_key(r, s);
}


/* s->key against the signature; Mastodon's second try without a query */
static ngx_int_t
ngx_http_mastodon_sig_check_key(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    int                   rc;
    char                 *base;
    size_t                len;
    mstdn_httpsig_key_t  *key;

    key = ngx_http_mastodon_keycache_parsed(&s->key.public_key,
                                            r->connection->log);

    rc = key ? mstdn_httpsig_verify_with(key, s->sig, (char *) s->base,
                                         s->base_len)
             : MSTDN_HTTPSIG_EKEY;

    if (rc == MSTDN_HTTPSIG_EVERIFY && s->sig->kind == MSTDN_HTTPSIG_CAVAGE
        && s->req.query)
    {
        base = ngx_pnalloc(r->pool, MSTDN_HTTPSIG_BASE_MAX);
        if (base == NULL) {
            return NGX_ERROR;
        }

        s->req.target_no_query = 1;

        if (mstdn_httpsig_base(s->sig, &s->req, base, MSTDN_HTTPSIG_BASE_MAX,
                               &len)
            == MSTDN_HTTPSIG_OK)
        {
            rc = mstdn_httpsig_verify_with(key, s->sig, base, len);
        }

        s->req.target_no_query = 0;
    }

    if (rc == MSTDN_HTTPSIG_EKEY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: the stored key of \"%V\" is unusable",
                      &s->key_id);
    }

    return rc == MSTDN_HTTPSIG_OK ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_mastodon_sig_lookup_key(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    const char  **values;

    values = ngx_palloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = s->sig->key_id;
    values[1] = (const char *) s->key_host.data;

    if (ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_sig_key_stmt, values,
                                   ngx_http_mastodon_sig_key_done, s)
        != NGX_DONE)
    {
        s->error = "Service Unavailable";
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    s->looked_up = 1;

    return NGX_DONE;
}


static void
ngx_http_mastodon_sig_key_done(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_signed_t *s = b->data;

    u_char                         *p;
    ngx_int_t                       rc;
    PGresult                       *res;
    ngx_http_request_t             *r;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (!ngx_http_mastodon_pg_ok(b) || res == NULL || PQntuples(res) != 1) {
        s->error = "Service Unavailable";
        ngx_http_mastodon_sig_finish(r, s, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (ngx_http_mastodon_pg_bool(res, 0, 4)) {
        /* Mastodon answers a suspended domain 403 "not found"; a known
         * key is cached so, sparing PostgreSQL the domain's next requests */
        if (!PQgetisnull(res, 0, 0)) {
            s->key.account_id = ngx_http_mastodon_pg_int(res, 0, 0);
            s->key.actor_uri = ngx_http_mastodon_pg_str(res, 0, 1);
            s->key.acct = ngx_http_mastodon_pg_str(res, 0, 2);
            s->key.public_key = ngx_http_mastodon_pg_str(res, 0, 3);
            s->key.blocked = 1;

            ngx_http_mastodon_keycache_put(mcf, &s->key_id, &s->key);
        }

        rc = ngx_http_mastodon_sig_not_found(r, s);
        ngx_http_mastodon_sig_finish(r, s, rc == NGX_HTTP_UNAUTHORIZED
                                           ? NGX_HTTP_FORBIDDEN : rc);
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        if (s->unknown_ok) {
            ngx_http_mastodon_sig_finish(r, s, NGX_DECLINED);
            return;
        }

        if (s->reloaded) {
            ngx_http_mastodon_sig_finish(r, s,
                                         ngx_http_mastodon_sig_not_found(r, s));
            return;
        }

        rc = ngx_http_mastodon_sig_ask(r, s);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_sig_finish(r, s, rc);
        }
        return;
    }

    s->key.account_id = ngx_http_mastodon_pg_int(res, 0, 0);
    s->key.actor_uri = ngx_http_mastodon_pg_str(res, 0, 1);
    s->key.acct = ngx_http_mastodon_pg_str(res, 0, 2);
    s->key.public_key = ngx_http_mastodon_pg_str(res, 0, 3);
    s->key.blocked = 0;

    ngx_http_mastodon_keycache_put(mcf, &s->key_id, &s->key);

    if (ngx_http_mastodon_sig_check_key(r, s) == NGX_OK) {
        ngx_http_mastodon_sig_finish(r, s, NGX_OK);
        return;
    }

    if (!s->refresh) {
        /* Mastodon refreshes the actor's key once, then tries again */
        s->refresh = 1;

        rc = ngx_http_mastodon_sig_ask(r, s);
        if (rc != NGX_DONE) {
            ngx_http_mastodon_sig_finish(r, s, rc);
        }
        return;
    }

    p = ngx_pnalloc(r->pool, s->key.acct.len + s->key.actor_uri.len + 80);
    if (p == NULL) {
        ngx_http_mastodon_sig_finish(r, s, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_sprintf(p, "Verification failed for %V %V using rsa-sha256 "
                "(RSASSA-PKCS1-v1_5 with SHA-256)%Z",
                &s->key.acct, &s->key.actor_uri);
    s->error = (const char *) p;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: signature refused: %s", s->error);

    ngx_http_mastodon_sig_finish(r, s, NGX_HTTP_UNAUTHORIZED);
}


/*
 * The worker fetches the key (ngx_http_mastodon_ask(): its answer in Redis
 * may be there already, a fetch moments ago; if not, a fetch_key job and a
 * bounded poll).
 */
static ngx_int_t
ngx_http_mastodon_sig_ask(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    ngx_http_mastodon_ask_t        *a;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    a = &s->ask;

    if (a->key.data == NULL) {
        if (ngx_http_mastodon_ask_key(r, NGX_HTTP_MASTODON_KEYFETCH_PREFIX,
                                      &s->key_id, &a->key)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    a->queue = "ingress";
    a->type = "fetch_key";
    a->arg_name = "key_id";
    a->arg = s->key_id;
    a->wait = mcf->key_fetch_wait;
    a->done = ngx_http_mastodon_sig_answer;
    a->data = s;

    if (ngx_http_mastodon_ask(r, a) != NGX_DONE) {
        return ngx_http_mastodon_sig_unavailable(r, s);
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_sig_answer(ngx_http_request_t *r,
    ngx_http_mastodon_ask_t *a, ngx_int_t rc)
{
    ngx_http_mastodon_signed_t *s = a->data;

    ngx_int_t  answer;

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: key \"%V\" not fetched within %M ms",
                      &s->key_id, a->wait);
    }

    if (rc != NGX_OK) {
        ngx_http_mastodon_sig_finish(r, s,
                                     ngx_http_mastodon_sig_unavailable(r, s));
        return;
    }

    answer = ngx_http_mastodon_sig_parse_answer(r, &a->answer);

    if (answer == NGX_HTTP_MASTODON_ANSWER_OK) {
        /* stored in PostgreSQL: read it again (once) */
        s->reloaded = 1;
        rc = ngx_http_mastodon_sig_lookup_key(r, s);

    } else if (answer == NGX_HTTP_MASTODON_ANSWER_TEMPORARY || s->refresh) {
        rc = ngx_http_mastodon_sig_unavailable(r, s);

    } else {
        rc = ngx_http_mastodon_sig_not_found(r, s);
    }

    if (rc != NGX_DONE) {
        ngx_http_mastodon_sig_finish(r, s, rc);
    }
}


/* the worker's answer: {"ok":true} or {"error":"temporary"|"gone"|...} */
static ngx_int_t
ngx_http_mastodon_sig_parse_answer(ngx_http_request_t *r, ngx_str_t *answer)
{
    char             err[64];
    size_t           len;
    const char      *e;
    mstdn_alloc_t    a;
    mstdn_value_t   *v, *ok;
    mstdn_limits_t   limits;

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;
    limits.max_depth = 4;
    limits.max_members = 16;

    if (mstdn_json_parse((const char *) answer->data, answer->len, &a,
                         &limits, &v, err, sizeof(err))
        != MSTDN_OK || v->type != MSTDN_OBJECT)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: key fetch answer is not JSON: %s", err);
        return NGX_HTTP_MASTODON_ANSWER_ERROR;
    }

    ok = mstdn_object_get(v, "ok");
    if (ok && ok->type == MSTDN_BOOL && ok->boolean) {
        return NGX_HTTP_MASTODON_ANSWER_OK;
    }

    e = mstdn_param_str(v, "error", &len);
    if (e && len == sizeof("temporary") - 1
        && ngx_strncmp(e, "temporary", len) == 0)
    {
        return NGX_HTTP_MASTODON_ANSWER_TEMPORARY;
    }

    return NGX_HTTP_MASTODON_ANSWER_ERROR;
}


/*
 * The key could not be had for now: an unknown key is 503 with
 * Retry-After (the sender retries); a stored key that failed and could not
 * be refreshed is Mastodon's 401.
 */
static ngx_int_t
ngx_http_mastodon_sig_unavailable(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s)
{
    u_char     *p;
    ngx_str_t   retry;

    if (s->refresh) {
        p = ngx_pnalloc(r->pool, s->key_id.len + 40);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(p, "Could not refresh public key %V%Z", &s->key_id);
        s->error = (const char *) p;

        return NGX_HTTP_UNAUTHORIZED;
    }

    s->error = "Could not fetch the public key for now";

    ngx_str_set(&retry, NGX_HTTP_MASTODON_KEYFETCH_RETRY);
    (void) ngx_http_mastodon_add_header(r, "Retry-After", &retry);

    return NGX_HTTP_SERVICE_UNAVAILABLE;
}


static void
ngx_http_mastodon_sig_finish(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc)
{
    s->done(r, s, rc);
}


/* Mastodon's body: {"error": ...}, and on a failed verification what it
 * verified */
ngx_int_t
ngx_http_mastodon_signature_error(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_uint_t status)
{
    ngx_http_mastodon_json_t  j;

    if (status < NGX_HTTP_BAD_REQUEST || s->error == NULL) {
        return status;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_cstr(&j, "error", s->error);

    if (status == NGX_HTTP_UNAUTHORIZED && s->key.public_key.len
        && s->base_len && ngx_strncmp(s->error, "Verification failed", 19)
                          == 0)
    {
        ngx_str_t  v;

        v.data = s->base;
        v.len = s->base_len;
        ngx_http_mastodon_json_kv_str(&j, "signed_string", &v);

        if (ngx_http_mastodon_sig_count(r, "signature", &v) == 1
            && s->sig->kind == MSTDN_HTTPSIG_CAVAGE)
        {
            u_char  *b64;

            b64 = ngx_pnalloc(r->pool, 4 * (s->sig->signature_len + 2) / 3
                                       + 4);
            if (b64) {
                v.len = mstdn_base64_encode(s->sig->signature,
                                            s->sig->signature_len,
                                            (char *) b64);
                v.data = b64;
                ngx_http_mastodon_json_kv_str(&j, "signature", &v);
            }
        }
    }

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, status);
}


/*
 * Authorized fetch (Mastodon's AUTHORIZED_FETCH, secure mode): called by
 * the one entry of the ActivityPub GET routes (_activitypub.c) when JSON
 * is asked for.  With mastodon_authorized_fetch on, the request must be
 * signed, covering (request-target) host date, and its signer's domain not
 * suspended (403); the signer then is the viewer the visibility rule sees
 * (ap->viewer), so a follower's server gets followers-only posts.  The
 * instance actor stays open, as Mastodon's InstanceActorsController: other
 * servers fetch it to verify our own signed fetches.
 */

typedef struct {
    ngx_http_mastodon_signed_t     s;
    ngx_http_mastodon_ctx_t       *ctx;
} ngx_http_mastodon_fetch_t;


static ngx_int_t ngx_http_mastodon_fetch_run(ngx_http_request_t *r,
    ngx_http_mastodon_fetch_t *f);
static void ngx_http_mastodon_fetch_verified(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc);


ngx_int_t
ngx_http_mastodon_authorized_fetch(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_ap_t         *ap;
    ngx_http_mastodon_fetch_t      *f;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    ap = ctx->data;

    if ((!mcf->authorized_fetch && !ap->signed_only)
        || ctx->route->ap == ngx_http_mastodon_ap_instance_actor)
    {
        return ngx_http_mastodon_ap_run(r, ctx);
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_fetch_t));
    if (f == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->ctx = ctx;
    f->s.done = ngx_http_mastodon_fetch_verified;
    f->s.data = f;

    rc = ngx_http_mastodon_signature_check(r, &f->s);
    if (rc != NGX_OK) {
        return ngx_http_mastodon_signature_error(r, &f->s, rc);
    }

    rc = ngx_http_mastodon_signature_verify(r, &f->s);

    if (rc == NGX_OK) {
        return ngx_http_mastodon_fetch_run(r, f);
    }

    if (rc == NGX_DONE) {
        return NGX_DONE;
    }

    return ngx_http_mastodon_signature_error(r, &f->s, rc);
}


/* the route, its viewer the signer */
static ngx_int_t
ngx_http_mastodon_fetch_run(ngx_http_request_t *r,
    ngx_http_mastodon_fetch_t *f)
{
    u_char                  *p;
    ngx_http_mastodon_ap_t  *ap;

    ap = f->ctx->data;

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_sprintf(p, "%L", f->s.key.account_id) = '\0';
    ap->viewer = (const char *) p;

    ap->signer_uri = ngx_http_mastodon_ap_cstr(r, &f->s.key.actor_uri);
    if (ap->signer_uri == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_ap_run(r, f->ctx);
}


static void
ngx_http_mastodon_fetch_verified(ngx_http_request_t *r,
    ngx_http_mastodon_signed_t *s, ngx_int_t rc)
{
    ngx_http_mastodon_fetch_t *f = s->data;

    if (rc == NGX_OK) {
        rc = ngx_http_mastodon_fetch_run(r, f);
        if (rc == NGX_DONE) {
            /* the endpoint waits on a backend: the reference goes on */
            return;
        }

    } else {
        rc = ngx_http_mastodon_signature_error(r, s, rc);
    }

    ngx_http_mastodon_finalize(r, rc);
}
