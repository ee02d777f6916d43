/*
 * Pagination as Mastodon does it: max_id, since_id, min_id and limit, and a
 * Link header with rel="next" (older: max_id) and rel="prev" (newer:
 * since_id or min_id, as the endpoint's Mastodon controller writes it),
 * written here for every endpoint.
 *
 * Statements take the page as four parameters, SQL NULL when absent:
 *   ... AND ($2::bigint IS NULL OR x.id < $2)     max_id
 *       AND ($3::bigint IS NULL OR x.id > $3)     since_id
 *       AND ($4::bigint IS NULL OR x.id > $4)     min_id
 *   ORDER BY x.id DESC LIMIT $5
 * With min_id the page is the oldest ones above it: order ascending
 * (page->ascending) and emit the rows in reverse.
 */

#include "ngx_http_mastodon_core.h"
#include "ngx_http_mastodon_backend.h"
#include "mstdn_html.h"


static int64_t
ngx_http_mastodon_page_id(ngx_http_mastodon_ctx_t *ctx, const char *key)
{
    int64_t  n;

    if (mstdn_param_int64(ctx->params, key, &n) != 0 || n <= 0) {
        return 0;                   /* absent or not an id: ignored */
    }

    return n;
}


void
ngx_http_mastodon_page_init(ngx_http_mastodon_ctx_t *ctx,
    ngx_http_mastodon_page_t *page, ngx_uint_t dflt, ngx_uint_t max)
{
    int64_t  n;

    page->max_id = ngx_http_mastodon_page_id(ctx, "max_id");
    page->since_id = ngx_http_mastodon_page_id(ctx, "since_id");
    page->min_id = ngx_http_mastodon_page_id(ctx, "min_id");
    page->ascending = page->min_id != 0;

    /* Mastodon clamps the limit; nonsense means the default */
    if (mstdn_param_int64(ctx->params, "limit", &n) != 0 || n <= 0) {
        page->limit = dflt;
    } else {
        page->limit = (ngx_uint_t) ngx_min(n, (int64_t) max);
    }
}


/* values[0..3]: max_id, since_id, min_id, limit, for a statement's $n.. */
void
ngx_http_mastodon_page_values(ngx_http_request_t *r,
    ngx_http_mastodon_page_t *page, const char **values)
{
    int64_t     n[4];
    ngx_uint_t  i;

    n[0] = page->max_id;
    n[1] = page->since_id;
    n[2] = page->min_id;
    n[3] = page->limit;

    for (i = 0; i < 4; i++) {
        /* 0, absent, is SQL NULL (limit 0: every row) */
        values[i] = n[i] ? ngx_http_mastodon_pg_int64(r, n[i]) : NULL;
    }
}


/* the links of account and status lists: limit, always */
const char *const  ngx_http_mastodon_page_keep_limit[] = { "limit", NULL };


/* the elements of a kept "name[]" (ngx_http_mastodon_param_array) */
static mstdn_value_t *
ngx_http_mastodon_link_array(ngx_http_mastodon_ctx_t *ctx, const char *key,
    size_t klen)
{
    char        name[64];
    ngx_uint_t  given;

    if (klen - 2 >= sizeof(name)) {
        return NULL;
    }

    ngx_memcpy(name, key, klen - 2);
    name[klen - 2] = '\0';

    return ngx_http_mastodon_param_array(ctx, name, &given);
}


static u_char *
ngx_http_mastodon_link_pair(u_char *p, ngx_uint_t *first, const char *key,
    size_t klen, const char *value, size_t len)
{
    if (!*first) {
        *p++ = '&';
    }

    *first = 0;

    p += mstdn_url_escape((char *) p, key, klen, MSTDN_URL_PLUS);
    *p++ = '=';
    p += mstdn_url_escape((char *) p, value, len, MSTDN_URL_PLUS);

    return p;
}


/*
 * The query of a link, as Hash#to_query writes the controller's params
 * merged with the page's id: pairs sorted by name, values CGI-escaped,
 * arrays as name%5B%5D=v in order.  With out NULL: the room it needs.
 */
static size_t
ngx_http_mastodon_link_query(u_char *out, ngx_http_mastodon_ctx_t *ctx,
    const char *const *keep, ngx_uint_t limit, const char *core, int64_t id)
{
    u_char         *p;
    size_t          klen, len, room;
    ngx_uint_t      first, done;
    const char     *s;
    mstdn_value_t  *v;

    p = out;
    room = ngx_strlen(core) + 2 + NGX_INT64_LEN;
    first = 1;
    done = 0;

    for ( ;; ) {
        if (!done && (*keep == NULL || ngx_strcmp(core, *keep) < 0)) {
            if (out) {
                p = ngx_sprintf(p, "%s%s=%L", first ? "" : "&", core, id);
            }

            done = 1;
            first = 0;
        }

        if (*keep == NULL) {
            return out ? (size_t) (p - out) : room;
        }

        klen = ngx_strlen(*keep);

        if (limit && ngx_strcmp(*keep, "limit") == 0) {
            room += sizeof("&limit=") + NGX_INT_T_LEN;
            if (out) {
                p = ngx_sprintf(p, "%slimit=%ui", first ? "" : "&", limit);
            }
            first = 0;

        } else if (klen > 2 && (*keep)[klen - 1] == ']') {
            for (v = ngx_http_mastodon_link_array(ctx, *keep, klen);
                 v;
                 v = v->next)
            {
                room += MSTDN_URL_ESCAPE_MAX(klen + v->len) + 2;
                if (out) {
                    p = ngx_http_mastodon_link_pair(p, &first, *keep, klen,
                                                    v->str, v->len);
                }
            }

        } else {
            s = mstdn_param_str(ctx->params, *keep, &len);

            if (s) {
                room += MSTDN_URL_ESCAPE_MAX(klen + len) + 2;
                if (out) {
                    p = ngx_http_mastodon_link_pair(p, &first, *keep, klen,
                                                    s, len);
                }
            }
        }

        keep++;
    }
}


/*
 * Link: <base path?...&max_id=N>; rel="next", <base path?...&prev_key=M>;
 * rel="prev", as Api::Pagination#set_pagination_headers with the url
 * helpers write them: the one Link writer.  keep: the query parameters
 * the endpoint's controller keeps (pagination_params), sorted by name,
 * "name[]" for an array, kept as the client sent them; limit non-zero:
 * "limit" is written as that number, sent or not.  path: as received
 * (escaped here as a Rails path); an id 0 leaves its link out.
 */
ngx_int_t
ngx_http_mastodon_page_link(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_str_t *path, const char *const *keep,
    ngx_uint_t limit, int64_t next_max_id, const char *prev_key,
    int64_t prev_id)
{
    u_char                         *p;
    size_t                          len;
    ngx_str_t                       link;
    ngx_http_mastodon_main_conf_t  *mcf;

    if (next_max_id == 0 && prev_id == 0) {
        return NGX_OK;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    len = 2 * (sizeof("<?>; rel=\"prev\", ") + mcf->base_url.len
               + MSTDN_URL_ESCAPE_MAX(path->len))
          + ngx_http_mastodon_link_query(NULL, ctx, keep, limit, "max_id", 0)
          + ngx_http_mastodon_link_query(NULL, ctx, keep, limit, prev_key, 0);

    link.data = ngx_pnalloc(r->pool, len);
    if (link.data == NULL) {
        return NGX_ERROR;
    }

    p = link.data;

    if (next_max_id) {
        p = ngx_sprintf(p, "<%V", &mcf->base_url);
        p += mstdn_url_escape((char *) p, (char *) path->data, path->len,
                              MSTDN_URL_PATH);
        *p++ = '?';
        p += ngx_http_mastodon_link_query(p, ctx, keep, limit, "max_id",
                                          next_max_id);
        p = ngx_cpymem(p, ">; rel=\"next\"", sizeof(">; rel=\"next\"") - 1);
    }

    if (prev_id) {
        p = ngx_sprintf(p, "%s<%V", next_max_id ? ", " : "", &mcf->base_url);
        p += mstdn_url_escape((char *) p, (char *) path->data, path->len,
                              MSTDN_URL_PATH);
        *p++ = '?';
        p += ngx_http_mastodon_link_query(p, ctx, keep, limit, prev_key,
                                          prev_id);
        p = ngx_cpymem(p, ">; rel=\"prev\"", sizeof(">; rel=\"prev\"") - 1);
    }

    link.len = p - link.data;

    return ngx_http_mastodon_add_header(r, "Link", &link);
}
