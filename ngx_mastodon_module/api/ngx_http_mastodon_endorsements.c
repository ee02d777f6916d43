/*
 * Endorsements (featured accounts): POST /api/v1/accounts/:id/endorse and
 * /unendorse (also /pin and /unpin, their names before Mastodon 4.4),
 * GET /api/v1/endorsements (the user's), GET /api/v1/accounts/:id/endorsements.
 * Only an account one follows can be endorsed (AccountPin's validation);
 * unfollowing it ends the endorsement.  Lists are paginated by account id.
 */

#include "ngx_http_mastodon_api.h"


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_endorse_stmt =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO account_pins (account_id, target_account_id)"
        " SELECT $1::bigint, $2::bigint"
        " WHERE EXISTS (SELECT 1 FROM follows f WHERE f.account_id = $1"
        "  AND f.target_account_id = $2)"
        " ON CONFLICT (account_id, target_account_id) DO NOTHING", 2);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_unendorse_stmt =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM account_pins"
        " WHERE account_id = $1::bigint AND target_account_id = $2::bigint",
        2);

/* $1 the account: its endorsements are hidden while it is suspended */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_endorsements_check =
    ngx_http_mastodon_pg_stmt(
        "SELECT suspended_at IS NOT NULL"
        " FROM accounts WHERE id = $1::bigint", 1);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_endorsements_stmt =
    ngx_http_mastodon_pg_stmt(
        "SELECT " NGX_HTTP_MASTODON_ACCOUNT_COLUMNS ", a.id"
        NGX_HTTP_MASTODON_ACCOUNT_FROM
        " JOIN account_pins p ON p.target_account_id = a.id"
        " WHERE p.account_id = $1::bigint AND a.suspended_at IS NULL"
        " AND ($2::bigint IS NULL OR a.id < $2)"
        " AND ($3::bigint IS NULL OR a.id > $3)"
        " ORDER BY a.id DESC LIMIT $4::bigint", 4);


/* limit=0: all of them, as Api::V1::EndorsementsController#unlimited? */
static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_endorsements_list = {
    NULL, &ngx_http_mastodon_endorsements_stmt, "/api/v1/endorsements", 1, 0
};

static ngx_http_mastodon_rel_list_t  ngx_http_mastodon_account_endorsements_list
    = {
    &ngx_http_mastodon_endorsements_check,
    &ngx_http_mastodon_endorsements_stmt,
    "/api/v1/accounts/%L/endorsements", 0, 0
};


static ngx_int_t
ngx_http_mastodon_endorsements_write(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, ngx_uint_t flags,
    ngx_http_mastodon_pg_stmt_t *stmt)
{
    ngx_int_t                       rc;
    ngx_http_mastodon_rel_write_t  *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, flags, 2, &w);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_mastodon_rel_write_add(w, stmt) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}


/* POST /api/v1/accounts/:id/endorse, /pin */
ngx_int_t
ngx_http_mastodon_endorse(ngx_http_request_t *r, ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_endorsements_write(r, ctx,
                                              NGX_HTTP_MASTODON_REL_ENDORSE,
                                              &ngx_http_mastodon_endorse_stmt);
}


/* POST /api/v1/accounts/:id/unendorse, /unpin */
ngx_int_t
ngx_http_mastodon_unendorse(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_endorsements_write(r, ctx, 0,
                                            &ngx_http_mastodon_unendorse_stmt);
}


/* GET /api/v1/endorsements */
ngx_int_t
ngx_http_mastodon_endorsements(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx,
                                      &ngx_http_mastodon_endorsements_list);
}


/* GET /api/v1/accounts/:id/endorsements */
ngx_int_t
ngx_http_mastodon_account_endorsements(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    return ngx_http_mastodon_rel_list(r, ctx,
                                 &ngx_http_mastodon_account_endorsements_list);
}
