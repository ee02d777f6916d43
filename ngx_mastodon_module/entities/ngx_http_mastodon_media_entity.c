/*
 * The MediaAttachment entity (REST::MediaAttachmentSerializer): id, type,
 * url, preview_url, remote_url, preview_remote_url, text_url, meta,
 * description, blurhash.  Files are at Paperclip's keys
 * (media_attachments/files/<id partition>/<style>/<file name>) under
 * mastodon_media_base_url (/system/ served by nginx itself, or an S3
 * bucket); url is null until processing completed.
 */

#include "ngx_http_mastodon_entities.h"
#include "mstdn_media.h"


static const char  *ngx_http_mastodon_media_types[] = {
    "image", "gifv", "video", "unknown", "audio"
};


static void ngx_http_mastodon_media_url(ngx_http_mastodon_json_t *j,
    const char *key, ngx_uint_t remote, const char *attachment, int64_t id,
    const char *style, ngx_str_t *name, const char *extension);


void
ngx_http_mastodon_media_attachment(ngx_http_mastodon_json_t *j,
    PGresult *res, int row, int col)
{
    int64_t     id, type;
    ngx_str_t   s, name, remote, thumbnail;
    ngx_uint_t  processed, redownload;
    const char  *small;

    id = ngx_http_mastodon_pg_int(res, row, col);
    type = ngx_http_mastodon_pg_int(res, row, col + 1);
    if (type < 0 || type > MSTDN_MEDIA_AUDIO) {
        type = MSTDN_MEDIA_UNKNOWN;
    }

    processed = ngx_http_mastodon_media_processing(res, row, col)
                == MSTDN_MEDIA_COMPLETE;
    name = ngx_http_mastodon_pg_str(res, row, col + 3);
    remote = ngx_http_mastodon_pg_str(res, row, col + 5);
    thumbnail = ngx_http_mastodon_pg_str(res, row, col + 6);
    redownload = name.len == 0 && remote.len;

    ngx_http_mastodon_json_open(j, NULL);

    s.data = (u_char *) PQgetvalue(res, row, col);
    s.len = PQgetlength(res, row, col);
    ngx_http_mastodon_json_kv_str(j, "id", &s);
    ngx_http_mastodon_json_kv_cstr(j, "type",
                                   ngx_http_mastodon_media_types[type]);

    /* url: not_processed? nil; needs_redownload? the media proxy */
    if (!processed || (name.len == 0 && !redownload)) {
        ngx_http_mastodon_json_kv_null(j, "url");

    } else {
        ngx_http_mastodon_media_url(j, "url", remote.len != 0,
                                    redownload ? NULL : "files",
                                    id, "original", &name, NULL);
    }

    /*
     * preview_url: the proxy, the custom thumbnail, or the small style of
     * images and videos (a PNG frame of videos and GIFs, a JPEG of what
     * is converted: the style's format)
     */
    small = NULL;
    if (type == MSTDN_MEDIA_VIDEO || type == MSTDN_MEDIA_GIFV) {
        small = "png";

    } else if (type == MSTDN_MEDIA_IMAGE) {
        s = ngx_http_mastodon_pg_str(res, row, col + 4);
        if (s.len > 6 && (ngx_strcmp(s.data, "image/heic") == 0
                          || ngx_strcmp(s.data, "image/heif") == 0
                          || ngx_strcmp(s.data, "image/avif") == 0))
        {
            small = "jpeg";

        } else if (s.len > 6 && ngx_strcmp(s.data, "image/gif") == 0) {
            small = "png";

        } else {
            small = "";
        }
    }

    if (redownload) {
        ngx_http_mastodon_media_url(j, "preview_url", 0, NULL, id, "small",
                                    NULL, NULL);

    } else if (thumbnail.len) {
        ngx_http_mastodon_media_url(j, "preview_url", remote.len != 0,
                                    "thumbnails", id, "original", &thumbnail,
                                    NULL);

    } else if (small && name.len) {
        ngx_http_mastodon_media_url(j, "preview_url", remote.len != 0,
                                    "files", id, "small", &name, small);

    } else {
        ngx_http_mastodon_json_kv_null(j, "preview_url");
    }

    if (remote.len) {
        ngx_http_mastodon_json_kv_str(j, "remote_url", &remote);
    } else {
        ngx_http_mastodon_json_kv_null(j, "remote_url");
    }

    ngx_http_mastodon_json_kv_pq(j, "preview_remote_url", res, row, col + 7);

    /* text_url: local media with a shortcode; uploads here have none */
    ngx_http_mastodon_json_kv_null(j, "text_url");

    if (PQgetisnull(res, row, col + 8)) {
        ngx_http_mastodon_json_kv_null(j, "meta");

    } else {
        s = ngx_http_mastodon_pg_str(res, row, col + 8);
        ngx_http_mastodon_json_raw(j, "meta", &s);
    }

    ngx_http_mastodon_json_kv_pq(j, "description", res, row, col + 9);
    ngx_http_mastodon_json_kv_pq(j, "blurhash", res, row, col + 10);

    ngx_http_mastodon_json_close(j);
}


/*
 * The public URL of a stored file (one home for every render):
 * media_base_url/ and the key the worker stores it under
 * (mstdn_media_key(): [cache/]<class>/<attachment>/<partition>/<style>/
 * <name>, the name's extension swapped for the style's format if given).
 * media_base_url is <base_url>/system, where nginx serves media_root, or
 * the S3 bucket's public address (mastodon_media_base_url).
 */
ngx_int_t
ngx_http_mastodon_media_file_url(ngx_pool_t *pool,
    ngx_http_mastodon_main_conf_t *mcf, ngx_uint_t remote,
    const char *class_name, const char *attachment, int64_t id,
    const char *style, ngx_str_t *name, const char *extension, ngx_str_t *url)
{
    u_char  *p;
    size_t   n;

    p = ngx_pnalloc(pool, mcf->media_base_url.len + 1 + MSTDN_MEDIA_KEY_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    url->data = p;
    p = ngx_sprintf(p, "%V/", &mcf->media_base_url);

    n = mstdn_media_key((char *) p, MSTDN_MEDIA_KEY_MAX, remote != 0,
                        class_name, attachment, id, style,
                        (const char *) name->data, name->len, extension);
    if (n == 0) {
        return NGX_ERROR;
    }

    url->len = p + n - url->data;

    return NGX_OK;
}


/*
 * The file's URL (ngx_http_mastodon_media_file_url()) as key's value; with
 * no attachment, the media proxy: base/media_proxy/<id>/<style>.
 */
static void
ngx_http_mastodon_media_url(ngx_http_mastodon_json_t *j, const char *key,
    ngx_uint_t remote, const char *attachment, int64_t id, const char *style,
    ngx_str_t *name, const char *extension)
{
    u_char     *p;
    ngx_str_t   url;

    if (attachment == NULL) {
        p = ngx_pnalloc(j->pool, j->conf->base_url.len
                                 + sizeof("/media_proxy//") + NGX_INT64_LEN
                                 + ngx_strlen(style));
        if (p == NULL) {
            j->failed = 1;
            return;
        }

        url.data = p;
        url.len = ngx_sprintf(p, "%V/media_proxy/%L/%s", &j->conf->base_url,
                              id, style)
                  - p;

    } else if (ngx_http_mastodon_media_file_url(j->pool, j->conf, remote,
                   "media_attachments", attachment, id, style, name,
                   extension, &url)
               != NGX_OK)
    {
        j->failed = 1;
        return;
    }

    ngx_http_mastodon_json_kv_str(j, key, &url);
}
