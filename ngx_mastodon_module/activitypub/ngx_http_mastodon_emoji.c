/*
 * GET /emojis/:id: a local custom emoji as its ActivityPub document
 * (Mastodon's EmojisController with ActivityPub::EmojiSerializer), what
 * the id of every Emoji tag we write resolves to.  JSON only, public,
 * never signed.
 */

#include "ngx_http_mastodon_activitypub.h"
#include "mstdn_json.h"


/* CustomEmoji.local.find: NGX_HTTP_MASTODON_EMOJIS_SQL's row of one */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_ap_emoji_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT json_build_array(ce.shortcode, ce.image_remote_url,"
    " ce.id::text, ce.image_file_name, ce.image_content_type,"
    " to_char(ce.updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))"
    " FROM custom_emojis ce"
    " WHERE ce.id = $1::bigint AND ce.domain IS NULL"
    " AND ce.image_file_name IS NOT NULL", 1);


static void ngx_http_mastodon_ap_emoji_done(ngx_http_mastodon_pg_batch_t *b);


ngx_int_t
ngx_http_mastodon_ap_emoji(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    const char  **values;

    values = ngx_palloc(r->pool, sizeof(char *));
    if (values == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[0] = ngx_http_mastodon_ap_id(r, &ctx->captures[0]);
    if (values[0] == NULL) {
        return NGX_HTTP_NOT_FOUND;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_ap_emoji_stmt,
                                      values,
                                      ngx_http_mastodon_ap_emoji_done, NULL);
}


static void
ngx_http_mastodon_ap_emoji_done(ngx_http_mastodon_pg_batch_t *b)
{
    char                            err[64];
    PGresult                       *res;
    mstdn_alloc_t                   al;
    mstdn_value_t                  *v;
    mstdn_limits_t                  limits = { 4, 100 };
    mstdn_ap_tag_t                  t;
    ngx_http_request_t             *r;
    ngx_http_mastodon_json_t        j;
    ngx_http_mastodon_main_conf_t  *mcf;

    r = b->request;
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

    al.alloc = ngx_http_mastodon_pool_alloc;
    al.ctx = r->pool;
    ngx_memzero(&t, sizeof(mstdn_ap_tag_t));

    if (mstdn_json_parse(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0),
                         &al, &limits, &v, err, sizeof(err))
        != MSTDN_OK
        || ngx_http_mastodon_ap_emoji_tag(r->pool, mcf, v, &t) != NGX_OK
        || ngx_http_mastodon_json_init(r, &j) != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (mstdn_ap_emoji(j.gen, &t) != 0) {
        j.failed = 1;
    }

    /* expires_in 3.minutes, public: true */
    ngx_http_mastodon_finalize(r, ngx_http_mastodon_ap_send(&j, 180));
}
