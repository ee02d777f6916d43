/*
 * HTML pages (the OAuth authorization and sign-in screens): a small page
 * builder in the request pool that escapes everything it is given unless
 * told otherwise, one page frame (lang, viewport, inline CSS allowed by a
 * per-response CSP nonce), the security headers of Mastodon's HTML answers,
 * and redirects.  No Cross-Origin-Opener-Policy: web clients open the
 * authorization page in a popup and read where it lands.
 */

#include "ngx_http_mastodon_core.h"
#include "mstdn_html.h"
#include "mstdn_oauth.h"


#define NGX_HTTP_MASTODON_HTML_BUF  4096


static ngx_str_t  ngx_http_mastodon_html_type =
    ngx_string("text/html; charset=utf-8");

static ngx_str_t  ngx_http_mastodon_html_no_store = ngx_string("no-store");
static ngx_str_t  ngx_http_mastodon_html_nosniff = ngx_string("nosniff");
static ngx_str_t  ngx_http_mastodon_html_deny = ngx_string("DENY");
static ngx_str_t  ngx_http_mastodon_html_referrer = ngx_string("same-origin");


static const char  ngx_http_mastodon_html_css[] =
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,\"Segoe UI\","
    "Roboto,sans-serif;background:#191b22;color:#d9e1e8}"
    "main{box-sizing:border-box;max-width:26rem;margin:0 auto;"
    "padding:2rem 1rem}"
    "h1{font-size:1.4rem;margin:0 0 1rem}"
    "p,ul{margin:0 0 1rem}"
    "a{color:#8c8dff}"
    "label{display:block;font-weight:600;margin:0 0 .25rem}"
    "input[type=text],input[type=email],input[type=password]{"
    "box-sizing:border-box;width:100%;padding:.7rem;margin:0 0 1rem;"
    "font:inherit;border:1px solid #606984;border-radius:4px;"
    "background:#131419;color:#fff}"
    "button{box-sizing:border-box;width:100%;padding:.8rem;margin:0 0 .75rem;"
    "font:inherit;font-weight:600;border:0;border-radius:4px;"
    "background:#6364ff;color:#fff;cursor:pointer}"
    "button.secondary{background:transparent;border:1px solid #606984;"
    "color:#d9e1e8}"
    "button:focus,input:focus{outline:2px solid #8c8dff;outline-offset:2px}"
    ".error{background:#3b1c24;border-left:4px solid #ff5050;"
    "padding:.6rem .8rem}"
    ".scopes li{margin:0 0 .4rem}"
    ".scopes code{color:#9baec8;font-size:.85em}"
    ".code{font:1.1rem monospace;word-break:break-all;background:#131419;"
    "padding:.8rem;border-radius:4px;user-select:all}"
    ".muted{color:#9baec8;font-size:.9rem}"
    "form{margin:0}";


ngx_int_t
ngx_http_mastodon_html_begin(ngx_http_request_t *r,
    ngx_http_mastodon_html_t *h, const char *title, ngx_str_t *lang)
{
    u_char                         *p;
    ngx_str_t                       l;
    ngx_http_mastodon_main_conf_t  *mcf;

    ngx_memzero(h, sizeof(ngx_http_mastodon_html_t));
    h->request = r;

    if (mstdn_random_secret((char *) h->nonce) != 0) {
        return NGX_ERROR;
    }

    /* a language tag as given (letters, digits, '-'), else English */
    ngx_str_set(&l, "en");

    if (lang && lang->len > 0 && lang->len <= 16) {
        for (p = lang->data; p < lang->data + lang->len; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-'))
            {
                break;
            }
        }

        if (p == lang->data + lang->len) {
            l = *lang;
        }
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    ngx_http_mastodon_html_raw(h, "<!DOCTYPE html>\n<html lang=\"");
    ngx_http_mastodon_html_text(h, &l);
    ngx_http_mastodon_html_raw(h, "\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, "
        "initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n"
        "<title>");
    ngx_http_mastodon_html_ctext(h, title);
    ngx_http_mastodon_html_raw(h, " - ");
    ngx_http_mastodon_html_text(h, &mcf->title);
    ngx_http_mastodon_html_raw(h, "</title>\n<style nonce=\"");
    ngx_http_mastodon_html_raw(h, (const char *) h->nonce);
    ngx_http_mastodon_html_raw(h, "\">");
    ngx_http_mastodon_html_raw(h, ngx_http_mastodon_html_css);
    ngx_http_mastodon_html_raw(h, "</style>\n</head>\n<body>\n<main>\n<h1>");
    ngx_http_mastodon_html_ctext(h, title);
    ngx_http_mastodon_html_raw(h, "</h1>\n");

    return h->failed ? NGX_ERROR : NGX_OK;
}


static void
ngx_http_mastodon_html_append(ngx_http_mastodon_html_t *h, const u_char *s,
    size_t len)
{
    size_t   size, used;
    u_char  *p;

    if (h->failed) {
        return;
    }

    if ((size_t) (h->end - h->pos) < len) {
        used = h->pos - h->start;
        size = ngx_max(2 * (size_t) (h->end - h->start),
                       NGX_HTTP_MASTODON_HTML_BUF);

        while (size - used < len) {
            size *= 2;
        }

        p = ngx_pnalloc(h->request->pool, size);
        if (p == NULL) {
            h->failed = 1;
            return;
        }

        if (used) {
            ngx_memcpy(p, h->start, used);
        }

        h->start = p;
        h->pos = p + used;
        h->end = p + size;
    }

    h->pos = ngx_cpymem(h->pos, s, len);
}


void
ngx_http_mastodon_html_raw(ngx_http_mastodon_html_t *h, const char *s)
{
    ngx_http_mastodon_html_append(h, (const u_char *) s, ngx_strlen(s));
}


/* Text or an attribute value: & < > " ' become entities. */
void
ngx_http_mastodon_html_text(ngx_http_mastodon_html_t *h, ngx_str_t *s)
{
    u_char  *p;

    if (s == NULL || s->data == NULL) {
        return;
    }

    p = ngx_pnalloc(h->request->pool, MSTDN_HTML_ESCAPE_MAX(s->len) + 1);
    if (p == NULL) {
        h->failed = 1;
        return;
    }

    ngx_http_mastodon_html_append(h, p,
                       mstdn_html_escape((char *) p, (char *) s->data, s->len));
}


void
ngx_http_mastodon_html_ctext(ngx_http_mastodon_html_t *h, const char *s)
{
    ngx_str_t  t;

    t.data = (u_char *) s;
    t.len = ngx_strlen(s);

    ngx_http_mastodon_html_text(h, &t);
}


void
ngx_http_mastodon_html_hidden(ngx_http_mastodon_html_t *h, const char *name,
    ngx_str_t *value)
{
    if (value == NULL || value->data == NULL) {
        return;
    }

    ngx_http_mastodon_html_raw(h, "<input type=\"hidden\" name=\"");
    ngx_http_mastodon_html_raw(h, name);
    ngx_http_mastodon_html_raw(h, "\" value=\"");
    ngx_http_mastodon_html_text(h, value);
    ngx_http_mastodon_html_raw(h, "\">\n");
}


/* Closes the page and sends it with the headers of Mastodon's HTML pages. */
ngx_int_t
ngx_http_mastodon_html_send(ngx_http_mastodon_html_t *h, ngx_uint_t status)
{
    u_char              *p;
    ngx_str_t            body, csp;
    ngx_http_request_t  *r;

    r = h->request;

    ngx_http_mastodon_html_raw(h, "</main>\n</body>\n</html>\n");

    csp.len = sizeof("default-src 'none'; style-src 'nonce-'; img-src 'self' "
                     "data:; base-uri 'none'; frame-ancestors 'none'")
              - 1 + MSTDN_SECRET_LEN;
    csp.data = ngx_pnalloc(r->pool, csp.len);

    if (h->failed || csp.data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "mastodon: HTML output failed");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* no form-action: Chrome applies it to the redirect after a form post */
    p = ngx_sprintf(csp.data, "default-src 'none'; style-src 'nonce-%s'; "
                    "img-src 'self' data:; base-uri 'none'; "
                    "frame-ancestors 'none'", h->nonce);
    csp.len = p - csp.data;

    if (ngx_http_mastodon_add_header(r, "Content-Security-Policy", &csp)
            != NGX_OK
        || ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_html_no_store)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "X-Content-Type-Options",
                                        &ngx_http_mastodon_html_nosniff)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "X-Frame-Options",
                                        &ngx_http_mastodon_html_deny)
           != NGX_OK
        || ngx_http_mastodon_add_header(r, "Referrer-Policy",
                                        &ngx_http_mastodon_html_referrer)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body.data = h->start;
    body.len = h->pos - h->start;

    return ngx_http_mastodon_send_text(r, status, &ngx_http_mastodon_html_type,
                                       &body);
}


/* 302/303 to location (absolute, or a path on this server). */
ngx_int_t
ngx_http_mastodon_redirect(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *location)
{
    ngx_str_t  empty;

    if (ngx_http_mastodon_add_header(r, "Location", location) != NGX_OK
        || ngx_http_mastodon_add_header(r, "Cache-Control",
                                        &ngx_http_mastodon_html_no_store)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_null(&empty);

    return ngx_http_mastodon_send_text(r, status, &ngx_http_mastodon_html_type,
                                       &empty);
}


/*
 * A query string builder: "k=v" pairs percent-encoded (RFC 3986 unreserved
 * characters stay), joined with '&', appended to whatever the buffer holds.
 */
void
ngx_http_mastodon_query_add(ngx_http_mastodon_html_t *q, const char *key,
    ngx_str_t *value)
{
    u_char  *p;

    if (value == NULL || value->data == NULL) {
        return;
    }

    if (q->pos > q->start && q->pos[-1] != '?' && q->pos[-1] != '#') {
        ngx_http_mastodon_html_raw(q, "&");
    }

    ngx_http_mastodon_html_raw(q, key);
    ngx_http_mastodon_html_raw(q, "=");

    p = ngx_pnalloc(q->request->pool, MSTDN_URL_ESCAPE_MAX(value->len) + 1);
    if (p == NULL) {
        q->failed = 1;
        return;
    }

    ngx_http_mastodon_html_append(q, p,
              mstdn_url_escape((char *) p, (char *) value->data, value->len,
                               0));
}


ngx_int_t
ngx_http_mastodon_query_start(ngx_http_request_t *r,
    ngx_http_mastodon_html_t *q, ngx_str_t *base)
{
    ngx_memzero(q, sizeof(ngx_http_mastodon_html_t));
    q->request = r;

    ngx_http_mastodon_html_append(q, base->data, base->len);

    return q->failed ? NGX_ERROR : NGX_OK;
}


void
ngx_http_mastodon_query_done(ngx_http_mastodon_html_t *q, ngx_str_t *out)
{
    out->data = q->failed ? NULL : q->start;
    out->len = q->failed ? 0 : (size_t) (q->pos - q->start);
}
