/*
 * GET /media_proxy/:id(/:style): the URLs the MediaAttachment entity gives
 * a remote attachment whose file is not cached here (url, preview_url), as
 * Mastodon's MediaProxyController: an attached remote attachment whose
 * status the viewer may see (else 404), redirected (302) to its file.
 * Mastodon downloads the file first; this server never fetches other
 * servers from nginx (remote files are not cached), so it redirects to the
 * remote URL itself: the preview ("small") to the remote thumbnail when
 * there is one.  A file cached here goes to its local path.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_media.h"


/* $1 the viewer (NULL: anonymous), $2 the attachment */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_proxy_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT m.remote_url, m.thumbnail_remote_url, m.file_file_name"
    " FROM media_attachments m JOIN statuses s ON s.id = m.status_id"
    " WHERE m.id = $2::bigint AND m.remote_url <> ''"
    " AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"), 2);


static void ngx_http_mastodon_media_proxied(ngx_http_mastodon_pg_batch_t *b);


ngx_int_t
ngx_http_mastodon_media_proxy(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                        id;
    const char                   **values;
    ngx_http_mastodon_pg_batch_t  *b;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    values = ngx_pcalloc(r->pool, 2 * sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->auth && ctx->auth->user_id) {
        values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
        if (values[0] == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    values[1] = ngx_http_mastodon_pg_int64(r, id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_media_proxied, NULL);
    if (b == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_media_proxy_stmt,
                                 values)
        != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_media_proxied(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                         *p;
    char                            part[32];
    size_t                          len;
    int64_t                         id;
    PGresult                       *res;
    ngx_str_t                       location, name, style;
    ngx_uint_t                      small;
    ngx_http_request_t             *r;
    ngx_http_mastodon_ctx_t        *ctx;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);
    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    /* MediaProxyController#version: a path ending in /small, else the
     * original */
    small = ctx->ncaptures > 1 && ctx->captures[1].len == 5
            && ngx_strncmp(ctx->captures[1].data, "small", 5) == 0;

    name = ngx_http_mastodon_pg_str(res, 0, 2);

    if (name.len) {
        id = ngx_http_mastodon_capture_id(ctx, 0);
        mstdn_media_id_partition(id, part, sizeof(part));
        ngx_str_set(&style, "original");
        if (small) {
            ngx_str_set(&style, "small");
        }

        len = mcf->base_url.len + sizeof("/system/media_attachments/files///")
              + ngx_strlen(part) + style.len + name.len;
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        location.data = p;
        location.len = ngx_sprintf(p, "%V/system/media_attachments/files/%s/"
                                   "%V/%V", &mcf->base_url, part, &style,
                                   &name)
                       - p;

    } else if (small && !PQgetisnull(res, 0, 1)
               && PQgetlength(res, 0, 1) > 0)
    {
        location = ngx_http_mastodon_pg_str(res, 0, 1);

    } else {
        location = ngx_http_mastodon_pg_str(res, 0, 0);
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_redirect(r,
                                                  NGX_HTTP_MOVED_TEMPORARILY,
                                                  &location));
}
