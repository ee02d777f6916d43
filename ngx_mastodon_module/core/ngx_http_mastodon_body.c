/*
 * Request parameters: the query string and the body (JSON or form
 * urlencoded) merged into one tree, as Rails' params are.  Parsing is
 * bounded: the body size by the route's limit (a JSON or form body
 * NGX_HTTP_MASTODON_BODY_FORM_MAX, one with files client_max_body_size;
 * over it: 413), the nesting depth and node count by
 * mastodon_json_max_depth/_members, and every string must be strict UTF-8
 * without NUL.  Bad input gets 400 with a JSON error that says what was
 * wrong.  A body nginx wrote to a temporary file is read in the thread
 * pool, never by the event loop: a multipart one in fixed-size chunks
 * through the incremental parser, so that an upload of any size stays on
 * disk (its text fields are kept, its file parts become ranges of the
 * file), any other whole (it is 1 MB at most, or a status's text).
 */

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"
#include "mstdn_json.h"
#include "mstdn_params.h"
#include "mstdn_multipart.h"


typedef struct {
    ngx_fd_t                   fd;
    off_t                      offset;
    size_t                     size;
    u_char                    *to;
} ngx_http_mastodon_body_part_t;


struct ngx_http_mastodon_multipart_s {
    mstdn_multipart_t              *mp;
    ngx_fd_t                        fd;
    off_t                           start;      /* the body in the file */
    off_t                           size;
    const char                     *path;       /* NULL: unlinked */
    u_char                         *chunk;
    int                             rc;         /* the parser's */
    char                            err[128];
    ngx_err_t                       errnum;
    ngx_uint_t                      failed;     /* reading failed */
};


typedef struct {
    ngx_http_mastodon_body_part_t  *parts;
    ngx_uint_t                      nparts;
    ngx_err_t                       err;
    ngx_uint_t                      failed;
} ngx_http_mastodon_body_file_t;


static ngx_int_t ngx_http_mastodon_request_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static void ngx_http_mastodon_body_read_file(void *data, ngx_log_t *log);
static void ngx_http_mastodon_body_file_done(ngx_http_request_t *r,
    void *data);
static ngx_int_t ngx_http_mastodon_body_multipart_file(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *boundary);
static void ngx_http_mastodon_body_parse_file(void *data, ngx_log_t *log);
static void ngx_http_mastodon_body_parsed(ngx_http_request_t *r,
    void *data);
static void ngx_http_mastodon_multipart_cleanup(void *data);
static ngx_int_t ngx_http_mastodon_read_multipart(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_int_t type, ngx_str_t *boundary,
    mstdn_alloc_t *a, mstdn_limits_t *limits);
static ngx_int_t ngx_http_mastodon_bad_params(ngx_http_request_t *r,
    const char *what, const char *err);


static ngx_http_request_body_filter_pt  ngx_http_next_request_body_filter;


ngx_int_t
ngx_http_mastodon_body_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_request_body_filter = ngx_http_top_request_body_filter;
    ngx_http_top_request_body_filter = ngx_http_mastodon_request_body_filter;

    return NGX_OK;
}


/*
 * A JSON or form body is cut at its limit as it arrives: a chunked one has
 * no length to check beforehand (nginx's own check is client_max_body_size
 * of the location).
 */
static ngx_int_t
ngx_http_mastodon_request_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_chain_t              *cl;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ctx && ctx->route
        && (ctx->route->body == NGX_HTTP_MASTODON_BODY_FORM
            || ctx->route->body == NGX_HTTP_MASTODON_BODY_RAW))
    {
        for (cl = in; cl; cl = cl->next) {
            ctx->body_received += ngx_buf_size(cl->buf);
        }

        if (ctx->body_received > NGX_HTTP_MASTODON_BODY_FORM_MAX) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "mastodon: chunked body over the route's limit");
            return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
        }
    }

    return ngx_http_next_request_body_filter(r, in);
}


/*
 * Once the body is read: NGX_OK when it is in memory; NGX_DONE when parts
 * of it are in nginx's temporary file, which a pool thread then reads into
 * ctx->body (or, multipart, parses into ctx->multipart) before
 * ngx_http_mastodon_body_ready() goes on; or a status.
 */
ngx_int_t
ngx_http_mastodon_body_load(ngx_http_request_t *r)
{
    off_t                           len;
    u_char                         *p;
    ngx_buf_t                      *b;
    ngx_str_t                       boundary;
    ngx_uint_t                      n;
    ngx_chain_t                    *cl;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_body_file_t  *f;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;
    n = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            len += b->file_last - b->file_pos;
            n++;

        } else {
            len += b->last - b->pos;
        }
    }

    if (n == 0) {
        return NGX_OK;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    /* nginx keeps a body that went to a file whole in it: one buffer (a
     * raw body, an inbox's, is read whole whatever its type says) */
    if (n == 1 && r->request_body->bufs->next == NULL
        && ctx->route->body != NGX_HTTP_MASTODON_BODY_RAW)
    {

        switch (ngx_http_mastodon_multipart_type(r, &boundary)) {

        case NGX_OK:
            return ngx_http_mastodon_body_multipart_file(r, ctx, &boundary);

        case NGX_ERROR:
            return NGX_OK;      /* 400 without reading it */

        default: /* NGX_DECLINED */
            break;
        }
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_body_file_t));
    p = ngx_pnalloc(r->pool, len);
    if (f == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->parts = ngx_palloc(r->pool, n * sizeof(ngx_http_mastodon_body_part_t));
    if (f->parts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->body.data = p;
    ctx->body.len = len;

    /* the memory parts are copied now, the file parts by the thread */
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            f->parts[f->nparts].fd = b->file->fd;
            f->parts[f->nparts].offset = b->file_pos;
            f->parts[f->nparts].size = b->file_last - b->file_pos;
            f->parts[f->nparts].to = p;
            f->nparts++;
            p += b->file_last - b->file_pos;

        } else {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
        }
    }

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_body_read_file,
                                     ngx_http_mastodon_body_file_done, f)
        != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* in a pool thread */
static void
ngx_http_mastodon_body_read_file(void *data, ngx_log_t *log)
{
    ssize_t                         n;
    size_t                          done;
    ngx_uint_t                      i;
    ngx_http_mastodon_body_part_t  *part;
    ngx_http_mastodon_body_file_t  *f = data;

    for (i = 0; i < f->nparts; i++) {
        part = &f->parts[i];

        for (done = 0; done < part->size; done += n) {
            n = pread(part->fd, part->to + done,     /* thread pool */
                      part->size - done, part->offset + done);

            if (n <= 0) {
                f->err = n == 0 ? 0 : ngx_errno;
                f->failed = 1;
                return;
            }
        }
    }
}


static void
ngx_http_mastodon_body_file_done(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_body_file_t  *f = data;

    if (f->failed) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, f->err,
                      "mastodon: reading the body file failed");
        ngx_http_mastodon_body_ready(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_body_ready(r, NGX_OK);
}


/*
 * A multipart body in its file: parsed in a pool thread, chunk by chunk,
 * the parser's memory released with the request's pool (which outlives
 * the task: r->main->blocked holds it).
 */
static ngx_int_t
ngx_http_mastodon_body_multipart_file(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *boundary)
{
    ngx_buf_t                      *b;
    ngx_pool_cleanup_t             *cln;
    ngx_http_request_body_t        *rb;
    ngx_http_mastodon_main_conf_t  *mcf;
    ngx_http_mastodon_multipart_t  *m;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);
    rb = r->request_body;
    b = rb->bufs->buf;

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_multipart_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (m == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->mp = mstdn_multipart_create((char *) boundary->data, boundary->len,
                                   mcf->json_max_members,
                                   NGX_HTTP_MASTODON_BODY_TEXT_MAX);
    if (m->mp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_mastodon_multipart_cleanup;
    cln->data = m;

    m->chunk = ngx_palloc(r->pool, NGX_HTTP_MASTODON_BODY_CHUNK);
    if (m->chunk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->fd = b->file->fd;
    m->start = b->file_pos;
    m->size = b->file_last - b->file_pos;

    if (rb->temp_file && rb->temp_file->persistent) {
        m->path = (const char *) b->file->name.data;    /* NUL-terminated */
    }

    ctx->multipart = m;

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_body_parse_file,
                                     ngx_http_mastodon_body_parsed, m)
        != NGX_OK)
    {
        ctx->multipart = NULL;
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


/* in a pool thread */
static void
ngx_http_mastodon_body_parse_file(void *data, ngx_log_t *log)
{
    size_t                          size;
    ssize_t                         n;
    off_t                           done;
    ngx_http_mastodon_multipart_t  *m = data;

    for (done = 0; done < m->size; done += n) {
        size = ngx_min(NGX_HTTP_MASTODON_BODY_CHUNK, m->size - done);

        n = pread(m->fd, m->chunk, size, m->start + done);  /* thread pool */

        if (n <= 0) {
            m->errnum = n == 0 ? 0 : ngx_errno;
            m->failed = 1;
            return;
        }

        m->rc = mstdn_multipart_feed(m->mp, (char *) m->chunk, n, m->err,
                                     sizeof(m->err));
        if (m->rc != MSTDN_OK) {
            return;             /* the rest is not read */
        }
    }

    m->rc = mstdn_multipart_finish(m->mp, m->err, sizeof(m->err));
}


static void
ngx_http_mastodon_body_parsed(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_multipart_t  *m = data;

    if (m->failed) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, m->errnum,
                      "mastodon: reading the body file failed");
        ngx_http_mastodon_body_ready(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* a parse error is answered with the parameters (read_params) */
    ngx_http_mastodon_body_ready(r, NGX_OK);
}


static void
ngx_http_mastodon_multipart_cleanup(void *data)
{
    ngx_http_mastodon_multipart_t  *m = data;

    mstdn_multipart_destroy(m->mp);
    m->mp = NULL;
}


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
    ngx_str_t                       body, type, boundary;
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

    /* a raw body (an inbox's) is its endpoint's to read */
    if (r->request_body == NULL || r->request_body->bufs == NULL
        || !ctx->route->body
        || ctx->route->body == NGX_HTTP_MASTODON_BODY_RAW)
    {
        return NGX_OK;
    }

    rc = ngx_http_mastodon_multipart_type(r, &boundary);

    if (rc != NGX_DECLINED) {
        return ngx_http_mastodon_read_multipart(r, ctx, rc, &boundary, &a,
                                                &limits);
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

    /* other types carry no parameters, as in Rails */
    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "mastodon: ignoring body of type \"%V\"", &type);

    return NGX_OK;
}


/*
 * NGX_OK: the body is multipart/form-data with a boundary (into *boundary,
 * if given); NGX_ERROR: it is, without one; NGX_DECLINED: it is not.
 */
ngx_int_t
ngx_http_mastodon_multipart_type(ngx_http_request_t *r, ngx_str_t *boundary)
{
    size_t      blen;
    ngx_str_t   type;
    const char *b;

    if (r->headers_in.content_type == NULL) {
        return NGX_DECLINED;
    }

    type = r->headers_in.content_type->value;

    if (type.len < sizeof("multipart/form-data") - 1
        || ngx_strncasecmp(type.data, (u_char *) "multipart/form-data",
                           sizeof("multipart/form-data") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    if (mstdn_multipart_boundary((char *) type.data, type.len, &b, &blen)
        != 0)
    {
        return NGX_ERROR;
    }

    if (boundary) {
        boundary->data = (u_char *) b;
        boundary->len = blen;
    }

    return NGX_OK;
}


/*
 * A multipart body's parts into ctx->params: parsed already from its file
 * (file parameters are ranges of that file), or now from memory.
 */
static ngx_int_t
ngx_http_mastodon_read_multipart(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_int_t type, ngx_str_t *boundary,
    mstdn_alloc_t *a, mstdn_limits_t *limits)
{
    int                             rc;
    char                            err[128];
    ngx_str_t                       body;
    mstdn_multipart_t              *mp;
    mstdn_multipart_body_t          where;
    ngx_http_mastodon_multipart_t  *m;

    if (type == NGX_ERROR) {
        return ngx_http_mastodon_bad_params(r, "multipart body",
                                            "no boundary");
    }

    m = ctx->multipart;

    if (m) {
        mp = m->mp;
        rc = m->rc;
        ngx_memcpy(err, m->err, sizeof(err));

        where.data = NULL;
        where.fd = m->fd;
        where.path = m->path;
        where.offset = m->start;

    } else {
        if (ngx_http_mastodon_body_bytes(r, &body) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (body.len == 0) {
            return NGX_OK;
        }

        mp = mstdn_multipart_create((char *) boundary->data, boundary->len,
                                    limits->max_members,
                                    NGX_HTTP_MASTODON_BODY_TEXT_MAX);
        if (mp == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        rc = mstdn_multipart_feed(mp, (char *) body.data, body.len, err,
                                  sizeof(err));
        if (rc == MSTDN_OK) {
            rc = mstdn_multipart_finish(mp, err, sizeof(err));
        }

        /* file parameters point into body, which lives as the request */
        where.data = (char *) body.data;
        where.fd = -1;
        where.path = NULL;
        where.offset = 0;
    }

    if (rc == MSTDN_OK) {
        rc = mstdn_multipart_params(mp, &where, a, limits, ctx->params, err,
                                    sizeof(err));
    }

    /* the tree has its own copies */
    mstdn_multipart_destroy(mp);

    if (m) {
        m->mp = NULL;
    }

    if (rc == MSTDN_ETOOBIG) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: multipart body: %s", err);
        return NGX_HTTP_REQUEST_ENTITY_TOO_LARGE;
    }

    if (rc != MSTDN_OK) {
        return ngx_http_mastodon_bad_params(r, "multipart body", err);
    }

    return NGX_OK;
}


/* The body as one contiguous buffer: in memory, or read from its file. */
ngx_int_t
ngx_http_mastodon_body_bytes(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char                   *p;
    off_t                     len;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_mastodon_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ctx->body.data) {
        *body = ctx->body;              /* ngx_http_mastodon_body_load() */
        return NGX_OK;
    }

    body->len = 0;
    body->data = NULL;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        p = ngx_cpymem(p, b->pos, b->last - b->pos);
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


/*
 * An uploaded file parameter (NULL when absent or not a file).  Its bytes
 * are at str when the body was small enough to stay in memory; otherwise
 * (str NULL) they are the range offset, len of nginx's temporary file fd,
 * which stays open as long as the request; on a media route
 * (NGX_HTTP_MASTODON_BODY_MEDIA) always so, and the file is named path
 * until the request ends (a handler may move it away first).  filename
 * and content_type are the client's word: hints only.
 */
mstdn_value_t *
ngx_http_mastodon_param_file(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    mstdn_value_t  *v;

    v = mstdn_object_get(ctx->params, key);

    return (v && v->type == MSTDN_FILE) ? v : NULL;
}
