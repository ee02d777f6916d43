/*
 * What the JSON answers link to outside the API: the default avatar, header
 * and instance thumbnail (PNGs of this project's own making, answered from
 * memory: a module loaded without any static files still serves them), and
 * placeholder HTML pages for the post, tag, about and privacy policy URLs
 * (the profile page is activitypub/'s, beside the actor).  The pages are
 * minimal until the web views exist: they name what was asked for and send
 * readers to an app; /users/... redirects browsers to the /@... page as
 * Mastodon's routes do (activitypub/ decides who is a browser).
 */

#include "ngx_http_mastodon_api.h"


/* 120x120, a head and shoulders on a slate ground (1-bit palette) */
static u_char  ngx_http_mastodon_avatar_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x78, 0x00, 0x00, 0x00, 0x78,
    0x01, 0x03, 0x00, 0x00, 0x00, 0x03, 0xaa, 0xa4, 0x91, 0x00, 0x00, 0x00,
    0x06, 0x50, 0x4c, 0x54, 0x45, 0x60, 0x69, 0x84, 0xd9, 0xe1, 0xe8, 0x30,
    0x66, 0x24, 0x9d, 0x00, 0x00, 0x00, 0xca, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0xed, 0xd2, 0x31, 0x0e, 0xc3, 0x20, 0x0c, 0x05, 0xd0, 0x20, 0x06,
    0xc6, 0x1c, 0x81, 0xa3, 0x70, 0x34, 0x38, 0x5a, 0x8e, 0x92, 0x23, 0x64,
    0x64, 0x88, 0x70, 0x29, 0x22, 0xc0, 0x37, 0x51, 0x4b, 0xaa, 0x0e, 0x51,
    0x55, 0xb6, 0x37, 0x60, 0x5b, 0xf6, 0x9f, 0xa6, 0xff, 0xbb, 0xe1, 0x53,
    0xb4, 0x82, 0x35, 0x79, 0xb0, 0xa5, 0xd0, 0x52, 0x10, 0x91, 0x6b, 0x2c,
    0xa3, 0x17, 0x28, 0x47, 0x50, 0x70, 0x8e, 0xde, 0xa0, 0x3c, 0x41, 0x03,
    0x13, 0xbd, 0xbf, 0xb0, 0x8d, 0x6e, 0x07, 0xa0, 0xe7, 0x1b, 0xb7, 0x48,
    0x76, 0xc3, 0x96, 0xc9, 0xcb, 0x6d, 0x7c, 0x75, 0xfe, 0xab, 0xfb, 0xe9,
    0xf6, 0xfb, 0xee, 0x1e, 0xfc, 0x7e, 0xfc, 0xbe, 0xfc, 0xfe, 0x3c, 0x1f,
    0x3c, 0x3f, 0x3c, 0x5f, 0x5d, 0xfe, 0x78, 0x3e, 0x7f, 0xed, 0x19, 0x58,
    0x6f, 0xb7, 0x2f, 0xbe, 0x6f, 0x76, 0x2f, 0x7e, 0x7f, 0x95, 0xbc, 0xc2,
    0xf7, 0xb6, 0x80, 0x49, 0xde, 0x31, 0x0e, 0x35, 0x10, 0x22, 0xdb, 0x41,
    0x1c, 0xeb, 0x44, 0x2a, 0x7b, 0x6d, 0xae, 0x4f, 0x4d, 0x02, 0x74, 0xb6,
    0x87, 0x76, 0xb5, 0xa1, 0xcd, 0x0e, 0xd8, 0xfe, 0x18, 0x40, 0x14, 0xbb,
    0x53, 0xcb, 0xe2, 0x05, 0xc6, 0x39, 0x06, 0xe2, 0x9e, 0x8b, 0xb7, 0x53,
    0xeb, 0x62, 0x7f, 0x6a, 0x53, 0xbc, 0x0f, 0xd9, 0x16, 0x87, 0x8f, 0x4c,
    0x84, 0x0b, 0xf9, 0xaa, 0x1f, 0xc7, 0x71, 0x10, 0x37, 0xf4, 0x5c, 0x69,
    0x94, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60,
    0x82,
};

/* 1x1, slate */
static u_char  ngx_http_mastodon_header_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01,
    0x01, 0x03, 0x00, 0x00, 0x00, 0x25, 0xdb, 0x56, 0xca, 0x00, 0x00, 0x00,
    0x03, 0x50, 0x4c, 0x54, 0x45, 0x31, 0x35, 0x43, 0xcf, 0x37, 0x60, 0xe1,
    0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x60,
    0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0xe5, 0x27, 0xde, 0xfc, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};

/* 128x64, a white disc on the brand's blue */
static u_char  ngx_http_mastodon_preview_png[] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d,
    0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0x40,
    0x01, 0x03, 0x00, 0x00, 0x00, 0xe8, 0x18, 0xed, 0x3c, 0x00, 0x00, 0x00,
    0x06, 0x50, 0x4c, 0x54, 0x45, 0x63, 0x64, 0xff, 0xff, 0xff, 0xff, 0x99,
    0x0e, 0x35, 0x55, 0x00, 0x00, 0x00, 0x5b, 0x49, 0x44, 0x41, 0x54, 0x78,
    0xda, 0x63, 0x60, 0x18, 0x05, 0x64, 0x82, 0x06, 0x34, 0xbe, 0xfc, 0x1f,
    0x34, 0x81, 0xfa, 0xff, 0x68, 0x02, 0xff, 0xff, 0xa3, 0xea, 0x61, 0xfc,
    0xff, 0xff, 0x00, 0x8a, 0x00, 0xf3, 0xff, 0xff, 0x0f, 0x50, 0x04, 0xd8,
    0xff, 0xff, 0xff, 0x80, 0x22, 0xc0, 0xff, 0xff, 0xff, 0x0f, 0xfc, 0x02,
    0xf2, 0xff, 0xff, 0xff, 0xa1, 0xba, 0x80, 0xfd, 0xff, 0xff, 0xff, 0x68,
    0x6f, 0x0b, 0x61, 0xcf, 0x61, 0x84, 0x07, 0x46, 0x88, 0x61, 0x84, 0x29,
    0x46, 0xa8, 0x63, 0xc6, 0x0b, 0x46, 0xcc, 0x61, 0xc4, 0xed, 0x28, 0xc0,
    0x01, 0x00, 0x0a, 0xb8, 0x4a, 0xa2, 0xfa, 0xc9, 0x26, 0x5a, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
};


static ngx_str_t  ngx_http_mastodon_png_type = ngx_string("image/png");

/* Mastodon's nginx.conf for /avatars, /headers and /packs */
static ngx_str_t  ngx_http_mastodon_public_cache =
    ngx_string("public, max-age=2419200, must-revalidate");

static ngx_str_t  ngx_http_mastodon_public_nosniff = ngx_string("nosniff");
static ngx_str_t  ngx_http_mastodon_public_vary = ngx_string("Accept");


static ngx_int_t ngx_http_mastodon_public_png(ngx_http_request_t *r,
    u_char *data, size_t len);
static ngx_int_t ngx_http_mastodon_public_page(ngx_http_request_t *r,
    const char *title, const char *text);
static ngx_uint_t ngx_http_mastodon_public_username(ngx_str_t *s);
static ngx_uint_t ngx_http_mastodon_public_id(ngx_str_t *s);


ngx_int_t
ngx_http_mastodon_default_avatar(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_public_png(r, ngx_http_mastodon_avatar_png,
                                        sizeof(ngx_http_mastodon_avatar_png));
}


ngx_int_t
ngx_http_mastodon_default_header(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_public_png(r, ngx_http_mastodon_header_png,
                                        sizeof(ngx_http_mastodon_header_png));
}


ngx_int_t
ngx_http_mastodon_default_thumbnail(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_public_png(r, ngx_http_mastodon_preview_png,
                                        sizeof(ngx_http_mastodon_preview_png));
}


static ngx_int_t
ngx_http_mastodon_public_png(ngx_http_request_t *r, u_char *data, size_t len)
{
    ngx_str_t  body;

    if (ngx_http_mastodon_add_header(r, "Cache-Control",
                                     &ngx_http_mastodon_public_cache)
            != NGX_OK
        || ngx_http_mastodon_add_header(r, "X-Content-Type-Options",
                                        &ngx_http_mastodon_public_nosniff)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = data;
    body.len = len;

    return ngx_http_mastodon_send_text(r, NGX_HTTP_OK,
                                       &ngx_http_mastodon_png_type, &body);
}


/* GET /@:username/:id: a local status's url */
ngx_int_t
ngx_http_mastodon_status_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char  *title;

    if (!ngx_http_mastodon_public_username(&ctx->captures[0])
        || !ngx_http_mastodon_public_id(&ctx->captures[1]))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    title = ngx_pnalloc(r->pool, sizeof("Post by @") + ctx->captures[0].len);
    if (title == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_sprintf(title, "Post by @%V", &ctx->captures[0]) = '\0';

    return ngx_http_mastodon_public_page(r, (const char *) title,
               "This server shows posts in Mastodon apps only: open this "
               "link in yours.");
}


/* GET /tags/:tag: a hashtag's url in a status */
ngx_int_t
ngx_http_mastodon_tag_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char  *title, *p;

    /* r->uri is decoded: no control characters in a title */
    for (p = ctx->captures[0].data;
         p < ctx->captures[0].data + ctx->captures[0].len;
         p++)
    {
        if (*p < 0x20 || *p == 0x7f) {
            return NGX_HTTP_NOT_FOUND;
        }
    }

    title = ngx_pnalloc(r->pool, ctx->captures[0].len + 2);
    if (title == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ngx_sprintf(title, "#%V", &ctx->captures[0]) = '\0';

    return ngx_http_mastodon_public_page(r, (const char *) title,
               "This server shows hashtags in Mastodon apps only: follow "
               "this one in yours.");
}


/* GET /about and /privacy-policy: the instance's urls */
ngx_int_t
ngx_http_mastodon_about_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_public_page(r, "About",
               "This server speaks Mastodon's API: use it with a Mastodon "
               "app.");
}


ngx_int_t
ngx_http_mastodon_privacy_page(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_public_page(r, "Privacy policy",
               "The administrators of this server have not written a "
               "privacy policy yet.");
}


/* GET /users/:username and /users/:username/statuses/:id: Mastodon redirects
 * browsers to the /@ pages (ActivityPub clients get JSON there) */
ngx_int_t
ngx_http_mastodon_users_redirect(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                         *p;
    ngx_str_t                       location;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (!ngx_http_mastodon_public_username(&ctx->captures[0])
        || (ctx->ncaptures > 1
            && !ngx_http_mastodon_public_id(&ctx->captures[1])))
    {
        return NGX_HTTP_NOT_FOUND;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    location.data = ngx_pnalloc(r->pool, mcf->base_url.len + 3
                                         + ctx->captures[0].len
                                         + (ctx->ncaptures > 1
                                            ? ctx->captures[1].len : 0));
    if (location.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(location.data, "%V/@%V", &mcf->base_url,
                    &ctx->captures[0]);

    if (ctx->ncaptures > 1) {
        p = ngx_sprintf(p, "/%V", &ctx->captures[1]);
    }

    location.len = p - location.data;

    if (ngx_http_mastodon_add_header(r, "Vary", &ngx_http_mastodon_public_vary)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_redirect(r, NGX_HTTP_MOVED_PERMANENTLY,
                                      &location);
}


static ngx_int_t
ngx_http_mastodon_public_page(ngx_http_request_t *r, const char *title,
    const char *text)
{
    ngx_http_mastodon_html_t  h;

    if (ngx_http_mastodon_html_begin(r, &h, title, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_html_raw(&h, "<p>");
    ngx_http_mastodon_html_ctext(&h, text);
    ngx_http_mastodon_html_raw(&h, "</p>\n");

    if (ngx_http_mastodon_add_header(r, "Vary", &ngx_http_mastodon_public_vary)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_html_send(&h, NGX_HTTP_OK);
}


/* Mastodon's username characters: letters, digits, '_', and '.' or '-'
 * inside; the only ones a Location header may then carry */
static ngx_uint_t
ngx_http_mastodon_public_username(ngx_str_t *s)
{
    u_char  *p, *last;

    if (s->len == 0 || s->len > 64) {
        return 0;
    }

    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9') || *p == '_')
        {
            continue;
        }

        if ((*p == '.' || *p == '-') && p != s->data && p != last - 1) {
            continue;
        }

        return 0;
    }

    return 1;
}


static ngx_uint_t
ngx_http_mastodon_public_id(ngx_str_t *s)
{
    u_char  *p;

    if (s->len == 0 || s->len > 19) {
        return 0;
    }

    for (p = s->data; p < s->data + s->len; p++) {
        if (*p < '0' || *p > '9') {
            return 0;
        }
    }

    return 1;
}
