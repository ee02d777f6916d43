/*
 * mastodon_debug_upload: a test aid, off unless configured in the
 * location.  POST /api/mastodon_debug/upload takes a multipart body as a
 * media route does (NGX_HTTP_MASTODON_BODY_MEDIA: always in nginx's
 * temporary file) and answers what the handlers would see: the parameter
 * tree, each file parameter with its range, whether its file still has a
 * name, and the SHA-256 of its bytes (read in the thread pool); and the
 * worker's pid, whose memory the tests watch in /proc.
 */

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_DEBUG_FILES  16


typedef struct {
    mstdn_value_t                  *file;
    ngx_uint_t                      named;      /* its path exists */
    u_char                          digest[2 * SHA256_DIGEST_LENGTH];
} ngx_http_mastodon_debug_file_t;


typedef struct {
    ngx_http_mastodon_debug_file_t  files[NGX_HTTP_MASTODON_DEBUG_FILES];
    ngx_uint_t                      nfiles;
    u_char                         *chunk;
    ngx_err_t                       err;
    ngx_uint_t                      failed;
} ngx_http_mastodon_debug_upload_t;


static void ngx_http_mastodon_debug_files(ngx_http_mastodon_debug_upload_t *u,
    mstdn_value_t *v);
static void ngx_http_mastodon_debug_digest(void *data, ngx_log_t *log);
static void ngx_http_mastodon_debug_digested(ngx_http_request_t *r,
    void *data);
static void ngx_http_mastodon_debug_value(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_debug_upload_t *u, mstdn_value_t *v);


ngx_int_t
ngx_http_mastodon_debug_upload(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_http_mastodon_debug_upload_t  *u;

    u = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_debug_upload_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->chunk = ngx_palloc(r->pool, NGX_HTTP_MASTODON_BODY_CHUNK);
    if (u->chunk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_debug_files(u, ctx->params);

    if (ngx_http_mastodon_thread_run(r, ngx_http_mastodon_debug_digest,
                                     ngx_http_mastodon_debug_digested, u)
        != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_debug_files(ngx_http_mastodon_debug_upload_t *u,
    mstdn_value_t *v)
{
    mstdn_value_t  *c;

    if (v->type == MSTDN_FILE && u->nfiles < NGX_HTTP_MASTODON_DEBUG_FILES) {
        u->files[u->nfiles++].file = v;
    }

    for (c = v->first; c; c = c->next) {
        ngx_http_mastodon_debug_files(u, c);
    }
}


/* in a pool thread */
static void
ngx_http_mastodon_debug_digest(void *data, ngx_log_t *log)
{
    size_t                             size;
    ssize_t                            n;
    uint64_t                           done;
    ngx_uint_t                         i;
    EVP_MD_CTX                        *sha;
    mstdn_value_t                     *f;
    u_char                             md[SHA256_DIGEST_LENGTH];
    ngx_http_mastodon_debug_upload_t  *u = data;

    sha = EVP_MD_CTX_new();
    if (sha == NULL) {
        u->failed = 1;
        return;
    }

    for (i = 0; i < u->nfiles; i++) {
        f = u->files[i].file;

        EVP_DigestInit_ex(sha, EVP_sha256(), NULL);

        if (f->str) {
            EVP_DigestUpdate(sha, f->str, f->len);

        } else {
            for (done = 0; done < f->len; done += n) {
                size = ngx_min(NGX_HTTP_MASTODON_BODY_CHUNK, f->len - done);

                n = pread(f->fd, u->chunk, size,      /* thread pool */
                          f->offset + done);
                if (n <= 0) {
                    u->err = n == 0 ? 0 : ngx_errno;
                    u->failed = 1;
                    EVP_MD_CTX_free(sha);
                    return;
                }

                EVP_DigestUpdate(sha, u->chunk, n);
            }

            u->files[i].named = f->path && access(f->path, F_OK) == 0;
        }

        EVP_DigestFinal_ex(sha, md, NULL);
        ngx_hex_dump(u->files[i].digest, md, sizeof(md));
    }

    EVP_MD_CTX_free(sha);
}


static void
ngx_http_mastodon_debug_digested(ngx_http_request_t *r, void *data)
{
    ngx_http_mastodon_json_t           j;
    ngx_http_mastodon_ctx_t           *ctx;
    ngx_http_mastodon_debug_upload_t  *u = data;

    if (u->failed) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, u->err,
                      "mastodon: reading an uploaded file failed");
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_int(&j, "pid", ngx_pid);
    ngx_http_mastodon_json_key(&j, "params");
    ngx_http_mastodon_debug_value(&j, u, ctx->params);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


static void
ngx_http_mastodon_debug_value(ngx_http_mastodon_json_t *j,
    ngx_http_mastodon_debug_upload_t *u, mstdn_value_t *v)
{
    ngx_str_t       s;
    ngx_uint_t      i;
    mstdn_value_t  *c;

    switch (v->type) {

    case MSTDN_OBJECT:
        ngx_http_mastodon_json_open(j, NULL);
        for (c = v->first; c; c = c->next) {
            ngx_http_mastodon_json_key(j, c->key);
            ngx_http_mastodon_debug_value(j, u, c);
        }
        ngx_http_mastodon_json_close(j);
        break;

    case MSTDN_ARRAY:
        ngx_http_mastodon_json_open_array(j, NULL);
        for (c = v->first; c; c = c->next) {
            ngx_http_mastodon_debug_value(j, u, c);
        }
        ngx_http_mastodon_json_close_array(j);
        break;

    case MSTDN_FILE:
        ngx_http_mastodon_json_open(j, NULL);
        ngx_http_mastodon_json_kv_cstr(j, "filename", v->filename);
        ngx_http_mastodon_json_kv_cstr(j, "content_type", v->content_type);
        ngx_http_mastodon_json_kv_int(j, "size", (int64_t) v->len);
        ngx_http_mastodon_json_kv_bool(j, "on_disk", v->str == NULL);
        ngx_http_mastodon_json_kv_int(j, "offset", (int64_t) v->offset);

        for (i = 0; i < u->nfiles; i++) {
            if (u->files[i].file == v) {
                ngx_http_mastodon_json_kv_bool(j, "named", u->files[i].named);
                s.data = u->files[i].digest;
                s.len = sizeof(u->files[i].digest);
                ngx_http_mastodon_json_kv_str(j, "sha256", &s);
            }
        }

        ngx_http_mastodon_json_close(j);
        break;

    case MSTDN_NULL:
        ngx_http_mastodon_json_kv_null(j, NULL);
        break;

    default:
        s.data = (u_char *) v->str;
        s.len = v->len;
        ngx_http_mastodon_json_str(j, &s);
        break;
    }
}
