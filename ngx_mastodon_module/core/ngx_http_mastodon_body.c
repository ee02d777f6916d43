/*
 * Request parameters: the query string and the body (JSON or form
 * urlencoded) merged into one tree, as Rails' params are.  Parsing is
 * bounded: the body size by client_max_body_size (nginx answers 413), the
 * nesting depth and node count by mastodon_json_max_depth/_members, and
 * every string must be strict UTF-8 without NUL.  Bad input gets 400 with a
 * JSON error that says what was wrong.
 */

#include "ngx_http_mastodon_core.h"
#include "mstdn_json.h"
#include "mstdn_params.h"
#include "mstdn_multipart.h"


static ngx_int_t ngx_http_mastodon_body_bytes(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_mastodon_bad_params(ngx_http_request_t *r,
    const char *what, const char *err);


/* An mstdn_alloc_t allocator over an nginx pool (ctx). */
void *
ngx_http_mastodon_pool_alloc(void *ctx, size_t size)
{
    return ngx_pcalloc(ctx, size);
}


ngx_int_t
ngx_http_mastodon_read_params(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int                             rc;
    char                            err[128];
    ngx_str_t                       body, type;
    mstdn_alloc_t                   a;
    mstdn_limits_t                  limits;
    mstdn_value_t                  *json;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    a.alloc = ngx_http_mastodon_pool_alloc;
    a.ctx = r->pool;
    limits.max_depth = mcf->json_max_depth;
    limits.max_members = mcf->json_max_members;

    ctx->params = mstdn_value_new(&a, MSTDN_OBJECT);
    if (ctx->params == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->args.len) {
        rc = mstdn_params_parse_urlencoded((char *) ctx->args.data,
                                           ctx->args.len,
                                           &a, &limits, ctx->params,
                                           err, sizeof(err));
        if (rc != MSTDN_OK) {
            return ngx_http_mastodon_bad_params(r, "query string", err);
        }
    }

    if (r->request_body == NULL || !ctx->route->body) {
        return NGX_OK;
    }

    if (ngx_http_mastodon_body_bytes(r, &body) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (body.len == 0) {
        return NGX_OK;
    }

    type.len = 0;

    if (r->headers_in.content_type) {
        type = r->headers_in.content_type->value;
    }

    if (type.len >= sizeof("application/json") - 1
        && ngx_strncasecmp(type.data, (u_char *) "application/json",
                           sizeof("application/json") - 1) == 0)
    {
        rc = mstdn_json_parse((char *) body.data, body.len, &a, &limits,
                              &json, err, sizeof(err));
        if (rc != MSTDN_OK) {
            return ngx_http_mastodon_bad_params(r, "JSON body", err);
        }

        if (json->type != MSTDN_OBJECT) {
            /* Rails keeps a non-object document aside as params[:_json] */
            json->key = "_json";
            json->key_len = sizeof("_json") - 1;
            mstdn_value_append(ctx->params, json);
            return NGX_OK;
        }

        /* body members follow query ones, so they win on lookup */
        while (json->first) {
            mstdn_value_t  *v = json->first;

            json->first = v->next;
            mstdn_value_append(ctx->params, v);
        }

        return NGX_OK;
    }

    if (type.len >= sizeof("application/x-www-form-urlencoded") - 1
        && ngx_strncasecmp(type.data,
                           (u_char *) "application/x-www-form-urlencoded",
                           sizeof("application/x-www-form-urlencoded") - 1)
           == 0)
    {
        rc = mstdn_params_parse_urlencoded((char *) body.data, body.len, &a,
                                           &limits, ctx->params,
                                           err, sizeof(err));
        if (rc != MSTDN_OK) {
            return ngx_http_mastodon_bad_params(r, "form body", err);
        }

        return NGX_OK;
    }

    if (type.len >= sizeof("multipart/form-data") - 1
        && ngx_strncasecmp(type.data, (u_char *) "multipart/form-data",
                           sizeof("multipart/form-data") - 1) == 0)
    {
        const char  *boundary;
        size_t       blen;

        if (mstdn_multipart_boundary((char *) type.data, type.len, &boundary,
                                     &blen)
            != 0)
        {
            return ngx_http_mastodon_bad_params(r, "multipart body",
                                                "no boundary");
        }

        /* file parts point into body, which lives as long as the request */
        rc = mstdn_multipart_parse((char *) body.data, body.len, boundary,
                                   blen, &a, &limits, ctx->params,
                                   err, sizeof(err));
        if (rc != MSTDN_OK) {
            return ngx_http_mastodon_bad_params(r, "multipart body", err);
        }

        return NGX_OK;
    }

    /* other types carry no parameters, as in Rails */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: ignoring body of type \"%V\"", &type);

    return NGX_OK;
}


/* The body as one contiguous buffer, from memory or its temporary file. */
static ngx_int_t
ngx_http_mastodon_body_bytes(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* bounded by client_max_body_size; the file is fresh in cache */
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                              "mastodon: short read of the body file");
                return NGX_ERROR;
            }
            p += n;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_bad_params(ngx_http_request_t *r, const char *what,
    const char *err)
{
    u_char                   *msg;
    ngx_http_mastodon_ctx_t  *ctx;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: invalid %s: %s", what, err);

    msg = ngx_pnalloc(r->pool, 256);
    if (msg == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf(msg, "Error while parsing request: invalid %s: %s%Z",
                what, err);

    /* the error filter writes the body */
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    ctx->error_message = (const char *) msg;

    return NGX_HTTP_BAD_REQUEST;
}


/*
 * A parameter Rails permits as an array of scalars: its first element
 * (NULL when empty); *given: it is such an array.
 */
mstdn_value_t *
ngx_http_mastodon_param_array(ngx_http_mastodon_ctx_t *ctx, const char *key,
    ngx_uint_t *given)
{
    mstdn_value_t  *a, *v;

    *given = 0;

    a = mstdn_object_get(ctx->params, key);
    if (a == NULL || a->type != MSTDN_ARRAY) {
        return NULL;
    }

    for (v = a->first; v; v = v->next) {
        if (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER) {
            return NULL;
        }
    }

    *given = 1;

    return a->first;
}
