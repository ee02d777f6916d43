/*
 * POST /api/v1/accounts/:id/note: the user's private note on an account
 * (Relationship.note).  A blank comment removes it; at most 2000
 * characters (AccountNote::COMMENT_SIZE_LIMIT).
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_NOTE_MAX  2000


static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_note_set =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO account_notes (account_id, target_account_id, comment)"
        " SELECT $1::bigint, $2::bigint, $3::text"
        " WHERE " NGX_HTTP_MASTODON_REL_SQL_EXISTS
        " ON CONFLICT (account_id, target_account_id) DO UPDATE SET"
        " comment = excluded.comment, updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE account_notes.comment IS DISTINCT FROM excluded.comment", 3);

static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_note_delete =
    ngx_http_mastodon_pg_stmt(
        "DELETE FROM account_notes"
        " WHERE account_id = $1::bigint AND target_account_id = $2::bigint",
        2);


/* POST /api/v1/accounts/:id/note */
ngx_int_t
ngx_http_mastodon_account_note(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                          len, i, chars;
    ngx_int_t                       rc;
    ngx_uint_t                      blank;
    const char                     *comment;
    ngx_http_mastodon_pg_stmt_t    *stmt;
    ngx_http_mastodon_rel_write_t  *w;

    rc = ngx_http_mastodon_rel_write(r, ctx, 0, 3, &w);
    if (rc != NGX_OK) {
        return rc;
    }

    comment = mstdn_param_str(ctx->params, "comment", &len);

    /* String#blank?: only whitespace */
    blank = 1;

    for (i = 0; comment && i < len && blank; i++) {
        blank = ngx_strchr(" \t\n\v\f\r", comment[i]) != NULL;
    }

    /* characters, not bytes (the body is valid UTF-8) */
    chars = blank ? 0 : mstdn_utf8_length((u_char *) comment, len);

    if (blank) {
        stmt = &ngx_http_mastodon_note_delete;

    } else if (chars > NGX_HTTP_MASTODON_NOTE_MAX) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: account note of %uz characters", chars);
        ctx->error_message = "Validation failed: Comment is too long"
                             " (maximum is 2000 characters)";
        return 422;

    } else {
        stmt = &ngx_http_mastodon_note_set;
        w->values[2] = comment;
    }

    if (ngx_http_mastodon_rel_write_add(w, stmt) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_rel_write_run(w);
}
