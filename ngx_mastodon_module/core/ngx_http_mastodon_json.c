/*
 * Responses.  JSON is produced by yajl's generator whose print callback
 * appends straight into a chain of nginx buffers from the request pool (an
 * operation's pool, for documents that are no request's answer): no
 * intermediate copy of the document.
 */

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_JSON_BUF  4096


static ngx_int_t ngx_http_mastodon_json_pool_init(ngx_http_request_t *r,
    ngx_pool_t *pool, ngx_http_mastodon_main_conf_t *mcf,
    ngx_http_mastodon_json_t *j);
static void ngx_http_mastodon_json_print(void *data, const char *s,
    size_t len);
static void ngx_http_mastodon_json_gen_free(void *data);


static ngx_str_t  ngx_http_mastodon_json_type =
    ngx_string("application/json; charset=utf-8");


ngx_int_t
ngx_http_mastodon_json_init(ngx_http_request_t *r, ngx_http_mastodon_json_t *j)
{
    return ngx_http_mastodon_json_pool_init(r, r->pool,
               ngx_http_get_module_main_conf(r, ngx_http_mastodon_module), j);
}


/* A document in the operation's pool, for a request or not. */
ngx_int_t
ngx_http_mastodon_json_op_init(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_json_t *j)
{
    ngx_http_request_t  *r;

    if (op->owner_kind == NGX_HTTP_MASTODON_OP_REQUEST) {
        r = op->owner;
        return ngx_http_mastodon_json_pool_init(r, op->pool,
                   ngx_http_get_module_main_conf(r, ngx_http_mastodon_module),
                   j);
    }

    return ngx_http_mastodon_json_pool_init(NULL, op->pool,
               ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_http_mastodon_module),
               j);
}


static ngx_int_t
ngx_http_mastodon_json_pool_init(ngx_http_request_t *r, ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_http_mastodon_json_t *j)
{
    ngx_pool_cleanup_t  *cln;

    ngx_memzero(j, sizeof(ngx_http_mastodon_json_t));

    j->request = r;
    j->pool = pool;
    j->conf = mcf;
    j->last = &j->out;

    cln = ngx_pool_cleanup_add(j->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    j->gen = yajl_gen_alloc(NULL);
    if (j->gen == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_mastodon_json_gen_free;
    cln->data = j->gen;

    yajl_gen_config(j->gen, yajl_gen_print_callback,
                    ngx_http_mastodon_json_print, j);
    yajl_gen_config(j->gen, yajl_gen_validate_utf8, 1);

    return NGX_OK;
}


static void
ngx_http_mastodon_json_gen_free(void *data)
{
    yajl_gen_free(data);
}


static void
ngx_http_mastodon_json_print(void *data, const char *s, size_t len)
{
    ngx_http_mastodon_json_t *j = data;

    size_t        n, size;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (j->failed) {
        return;
    }

    while (len) {
        b = j->buf;

        if (b == NULL || b->last == b->end) {
            size = len > NGX_HTTP_MASTODON_JSON_BUF ? len
                                                    : NGX_HTTP_MASTODON_JSON_BUF;

            b = ngx_create_temp_buf(j->pool, size);
            cl = ngx_alloc_chain_link(j->pool);
            if (b == NULL || cl == NULL) {
                j->failed = 1;
                return;
            }

            cl->buf = b;
            cl->next = NULL;
            *j->last = cl;
            j->last = &cl->next;
            j->buf = b;
        }

        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, s, n);
        j->size += n;
        s += n;
        len -= n;
    }
}


void
ngx_http_mastodon_json_key(ngx_http_mastodon_json_t *j, const char *key)
{
    if (key
        && yajl_gen_string(j->gen, (const unsigned char *) key,
                           ngx_strlen(key))
           != yajl_gen_status_ok)
    {
        j->failed = 1;
    }
}


void
ngx_http_mastodon_json_str(ngx_http_mastodon_json_t *j, ngx_str_t *s)
{
    if (yajl_gen_string(j->gen, s->data, s->len) != yajl_gen_status_ok) {
        j->failed = 1;
    }
}


void
ngx_http_mastodon_json_cstr(ngx_http_mastodon_json_t *j, const char *s)
{
    /* e.g. invalid UTF-8: yajl refuses, and nothing half-written goes out */
    if (yajl_gen_string(j->gen, (const unsigned char *) s, ngx_strlen(s))
        != yajl_gen_status_ok)
    {
        j->failed = 1;
    }
}


void
ngx_http_mastodon_json_kv_str(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *s)
{
    ngx_http_mastodon_json_key(j, key);
    ngx_http_mastodon_json_str(j, s);
}


void
ngx_http_mastodon_json_kv_cstr(ngx_http_mastodon_json_t *j, const char *key,
    const char *s)
{
    ngx_http_mastodon_json_key(j, key);
    ngx_http_mastodon_json_cstr(j, s);
}


void
ngx_http_mastodon_json_kv_url(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *base, const char *path)
{
    u_char     *p;
    ngx_str_t   url;

    url.len = base->len + ngx_strlen(path);
    url.data = ngx_pnalloc(j->pool, url.len);
    if (url.data == NULL) {
        j->failed = 1;
        return;
    }

    p = ngx_cpymem(url.data, base->data, base->len);
    ngx_memcpy(p, path, url.len - base->len);

    ngx_http_mastodon_json_kv_str(j, key, &url);
}


void
ngx_http_mastodon_json_kv_int(ngx_http_mastodon_json_t *j, const char *key,
    int64_t n)
{
    ngx_http_mastodon_json_key(j, key);
    yajl_gen_integer(j->gen, n);
}


void
ngx_http_mastodon_json_kv_bool(ngx_http_mastodon_json_t *j, const char *key,
    ngx_uint_t b)
{
    ngx_http_mastodon_json_key(j, key);
    yajl_gen_bool(j->gen, b ? 1 : 0);
}


void
ngx_http_mastodon_json_kv_null(ngx_http_mastodon_json_t *j, const char *key)
{
    ngx_http_mastodon_json_key(j, key);
    yajl_gen_null(j->gen);
}


void
ngx_http_mastodon_json_open(ngx_http_mastodon_json_t *j, const char *key)
{
    ngx_http_mastodon_json_key(j, key);
    yajl_gen_map_open(j->gen);
}


void
ngx_http_mastodon_json_close(ngx_http_mastodon_json_t *j)
{
    yajl_gen_map_close(j->gen);
}


void
ngx_http_mastodon_json_open_array(ngx_http_mastodon_json_t *j,
    const char *key)
{
    ngx_http_mastodon_json_key(j, key);
    yajl_gen_array_open(j->gen);
}


void
ngx_http_mastodon_json_close_array(ngx_http_mastodon_json_t *j)
{
    yajl_gen_array_close(j->gen);
}


static ngx_int_t
ngx_http_mastodon_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_chain_t *out, off_t size)
{
    ngx_int_t                 rc;
    ngx_chain_t              *cl;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    if (ctx) {
        ctx->own_body = 1;
    }

    r->headers_out.status = status;
    r->headers_out.content_type = *type;
    r->headers_out.content_type_len = type->len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = size;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    if (size == 0 || r->header_only) {
        r->header_only = 1;
        return ngx_http_send_header(r);
    }

    rc = ngx_http_send_header(r);
    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    for (cl = out; cl->next; cl = cl->next) { /* void */ }

    cl->buf->last_buf = (r == r->main) ? 1 : 0;
    cl->buf->last_in_chain = 1;

    return ngx_http_output_filter(r, out);
}


ngx_int_t
ngx_http_mastodon_json_send(ngx_http_mastodon_json_t *j, ngx_uint_t status)
{
    if (j->failed || j->out == NULL) {
        ngx_log_error(NGX_LOG_ERR, j->request->connection->log, 0,
                      "mastodon: JSON output failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_send(j->request, status,
                                  &ngx_http_mastodon_json_type, j->out,
                                  j->size);
}


ngx_int_t
ngx_http_mastodon_json_send_type(ngx_http_mastodon_json_t *j,
    ngx_uint_t status, ngx_str_t *type)
{
    if (j->failed || j->out == NULL) {
        ngx_log_error(NGX_LOG_ERR, j->request->connection->log, 0,
                      "mastodon: JSON output failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_send(j->request, status, type, j->out, j->size);
}


/* a JSON document already written (a cached rendering), in r's pool */
ngx_int_t
ngx_http_mastodon_json_send_str(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *body)
{
    return ngx_http_mastodon_send_text(r, status, &ngx_http_mastodon_json_type,
                                       body);
}


/* a JSON document already written as a chain of buffers in r's pool */
ngx_int_t
ngx_http_mastodon_json_send_chain(ngx_http_request_t *r, ngx_uint_t status,
    ngx_chain_t *out, off_t size)
{
    return ngx_http_mastodon_send(r, status, &ngx_http_mastodon_json_type, out,
                                  size);
}


ngx_int_t
ngx_http_mastodon_send_text(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_str_t *body)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = body->data;
    b->last = body->data + body->len;
    b->memory = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_mastodon_send(r, status, type, &out, body->len);
}


/* Mastodon's own wording (config/locales/en.yml, "errors"). */
const char *
ngx_http_mastodon_status_message(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        return "The request you submitted was invalid or malformed.";
    case NGX_HTTP_UNAUTHORIZED:
        return "The access token is invalid";
    case NGX_HTTP_FORBIDDEN:
        return "This action is not allowed";
    case NGX_HTTP_NOT_FOUND:
        return "Record not found";
    case NGX_HTTP_NOT_ALLOWED:
        return "Method not allowed";
    case 406:
        return "This page is not available in the requested format.";
    case NGX_HTTP_REQUEST_TIME_OUT:
        return "Request timeout";
    case 410:
        return "The page you were looking for doesn't exist here anymore.";
    case NGX_HTTP_LENGTH_REQUIRED:
        return "Length required";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "Request entity too large";
    case NGX_HTTP_REQUEST_URI_TOO_LARGE:
        return "Request URI too large";
    case 415:
        return "Unsupported media type";
    case 422:
        return "Unprocessable entity";
    case 429:
        return "Too many requests";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "The server is temporarily unavailable";
    case NGX_HTTP_GATEWAY_TIME_OUT:
        return "Gateway timeout";
    default:
        return status >= 500 ? "Internal server error"
                             : "The request could not be processed";
    }
}


ngx_int_t
ngx_http_mastodon_add_header(ngx_http_request_t *r, const char *key,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


ngx_table_elt_t *
ngx_http_mastodon_header_in(ngx_http_request_t *r, const char *name,
    ngx_uint_t *n)
{
    size_t            len;
    ngx_uint_t        i, count;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(name);
    count = 0;
    found = NULL;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            if (found == NULL) {
                found = &h[i];
            }

            count++;

            if (n == NULL) {
                break;
            }
        }
    }

    if (n) {
        *n = count;
    }

    return found;
}


/*
 * A value that is JSON already (a cached rendering).  yajl prints a
 * "number" as given, with the separators its state needs.
 */
void
ngx_http_mastodon_json_raw(ngx_http_mastodon_json_t *j, const char *key,
    ngx_str_t *value)
{
    ngx_http_mastodon_json_key(j, key);

    if (yajl_gen_number(j->gen, (const char *) value->data, value->len)
        != yajl_gen_status_ok)
    {
        j->failed = 1;
    }
}


ngx_int_t
ngx_http_mastodon_json_string(ngx_http_mastodon_json_t *j, ngx_str_t *out)
{
    u_char       *p;
    ngx_chain_t  *cl;

    if (j->failed) {
        return NGX_ERROR;
    }

    if (j->out && j->out->next == NULL) {
        out->data = j->out->buf->pos;
        out->len = j->out->buf->last - j->out->buf->pos;
        return NGX_OK;
    }

    p = ngx_pnalloc(j->pool, j->size);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    for (cl = j->out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    out->len = p - out->data;

    return NGX_OK;
}


/* a text column: its value, or null when SQL NULL */
void
ngx_http_mastodon_json_kv_pq(ngx_http_mastodon_json_t *j, const char *key,
    PGresult *res, int row, int col)
{
    ngx_str_t  s;

    if (PQgetisnull(res, row, col)) {
        ngx_http_mastodon_json_kv_null(j, key);
        return;
    }

    s = ngx_http_mastodon_pg_str(res, row, col);
    ngx_http_mastodon_json_kv_str(j, key, &s);
}


const char *
ngx_http_mastodon_status_phrase(ngx_uint_t status)
{
    switch (status) {
    case NGX_HTTP_BAD_REQUEST:
        return "Bad Request";
    case NGX_HTTP_UNAUTHORIZED:
        return "Unauthorized";
    case NGX_HTTP_FORBIDDEN:
        return "Forbidden";
    case NGX_HTTP_NOT_FOUND:
        return "Not Found";
    case NGX_HTTP_NOT_ALLOWED:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 410:
        return "Gone";
    case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
        return "Payload Too Large";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Bad Request";
    }
}
