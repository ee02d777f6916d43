/*
 * GET /media_proxy/:id(/:style): the URLs the MediaAttachment entity gives
 * a remote attachment whose file is not cached here (url, preview_url), as
 * Mastodon's MediaProxyController: an attached remote attachment whose
 * status the viewer may see (else 404).  A copy cached here: redirected
 * (302) to it (the original, or the small style: a PNG frame of a video).
 * Not cached: Mastodon downloads it before answering; nginx never fetches
 * other servers, so the same statement enqueues the worker's media_fetch
 * job (job_media_fetch.c; not for a domain rejecting media) and the answer
 * redirects to the remote file as before: the preview ("small") to the
 * remote thumbnail when there is one.  A later view finds the copy.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_media.h"


/* $1 the viewer (NULL: anonymous), $2 the attachment */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_media_proxy_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH m AS (SELECT m.id, m.remote_url, m.thumbnail_remote_url,"
    "  m.file_file_name, m.type, m.account_id"
    "  FROM media_attachments m JOIN statuses s ON s.id = m.status_id"
    "  WHERE m.id = $2::bigint AND m.remote_url <> ''"
    "  AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s") "),"
    " q AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'media', 'media_fetch', json_build_object('id', m.id::text)::text"
    "  FROM m JOIN accounts a ON a.id = m.account_id"
    "  WHERE m.file_file_name IS NULL AND a.domain IS NOT NULL"
    "  AND NOT mastodon_domain_rejects_media(a.domain))"
    " SELECT remote_url, thumbnail_remote_url, file_file_name, type FROM m",
    2);


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
    int64_t                         id, type;
    PGresult                       *res;
    ngx_str_t                       location, name;
    const char                     *style, *extension;
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
        /* the cached copy: its small style is a PNG frame of a video */
        id = ngx_http_mastodon_capture_id(ctx, 0);
        type = ngx_http_mastodon_pg_int(res, 0, 3);
        style = small && type != MSTDN_MEDIA_AUDIO ? "small" : "original";
        extension = small && (type == MSTDN_MEDIA_VIDEO
                              || type == MSTDN_MEDIA_GIFV) ? "png" : NULL;

        if (ngx_http_mastodon_media_file_url(r->pool, mcf, 1,
                                             "media_attachments", "files", id,
                                             style, &name, extension,
                                             &location)
            != NGX_OK)
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

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
