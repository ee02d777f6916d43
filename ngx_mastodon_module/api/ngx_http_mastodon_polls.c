/*
 * Polls: GET /api/v1/polls/:id and POST /api/v1/polls/:id/votes.
 *
 * A poll is shown to whom its status is (StatusPolicy#show?, the project's
 * one rule: NGX_HTTP_MASTODON_ST_SQL_VISIBLE), else 404.  A vote is one
 * call of mastodon_poll_vote() (sql/0022, the vote rule the worker applies
 * to remote votes too): a transaction-scoped advisory lock on the poll and
 * the voter (so the next statement's snapshot sees that voter's concurrent
 * votes), then one statement that locks the poll row, checks as
 * VoteService and VoteValidator do, inserts the votes and moves the poll's
 * counters from the row as it is after the lock: concurrent voters count
 * exactly.  The status' cached rendering goes after the commit (and by the
 * outbox's status_forget job); the federation jobs go in the same
 * transaction.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_POLL_SQL_OWN(p)                                     \
    " EXISTS (SELECT 1 FROM poll_votes ov WHERE ov.poll_id = " p ".id"        \
    "  AND ov.account_id = $1::bigint),"                                      \
    " (SELECT array_agg(ov.choice ORDER BY ov.choice) FROM poll_votes ov"     \
    "  WHERE ov.poll_id = " p ".id AND ov.account_id = $1::bigint)"

/* $1 the viewer (NULL: anonymous), $2 the poll (Poll.attached) */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_poll_show_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT mastodon_poll_json(p)," NGX_HTTP_MASTODON_POLL_SQL_OWN("p")
    " FROM polls p JOIN statuses s ON s.id = p.status_id"
    " WHERE p.id = $2::bigint AND " NGX_HTTP_MASTODON_ST_SQL_VISIBLE("s"),
    2);

/*
 * $1 the voter, $2 the poll, $3 the choices (int[]): the vote rule of
 * mastodon_poll_vote() (sql/0022), which the worker applies to remote
 * votes too.  Answers the errors (VoteValidator's, joined as Rails joins
 * full messages; '' none), whether a block forbids the vote
 * (PollPolicy#vote?), then the poll and the voter's votes; no row: no poll
 * the voter may see.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_poll_vote_stmt =
    ngx_http_mastodon_pg_stmt(
    "SELECT * FROM mastodon_poll_vote($1::bigint, $2::bigint, $3::int[])",
    3);


typedef struct {
    int64_t                        status_id;
    ngx_str_t                      answer;
} ngx_http_mastodon_vote_t;


static void ngx_http_mastodon_poll_shown(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_poll_voted(ngx_http_mastodon_pg_batch_t *b);
static void ngx_http_mastodon_poll_forgotten(ngx_http_request_t *r,
    redisReply *reply, void *data);


/* the poll JSON at col, the viewer's part from the two columns after it */
static ngx_int_t
ngx_http_mastodon_poll_render(ngx_http_request_t *r, PGresult *res, int col,
    ngx_uint_t viewer, ngx_str_t *out)
{
    u_char     *p, *end, *start;
    uint64_t    own;
    int64_t     choice;
    ngx_str_t   poll;

    poll = ngx_http_mastodon_pg_str(res, 0, col);

    out->data = ngx_pnalloc(r->pool,
                            poll.len + NGX_HTTP_MASTODON_POLL_VIEWER_LEN);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    if (!viewer) {
        out->len = ngx_cpymem(out->data, poll.data, poll.len) - out->data;
        return NGX_OK;
    }

    /* own_votes: "{0,2}" */
    own = 0;
    p = (u_char *) PQgetvalue(res, 0, col + 2);
    end = p + PQgetlength(res, 0, col + 2);

    while (p < end) {
        while (p < end && (*p < '0' || *p > '9')) {
            p++;
        }

        start = p;

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }

        if (p > start) {
            choice = ngx_atoof(start, p - start);
            if (choice >= 0 && choice < NGX_HTTP_MASTODON_POLL_CHOICES) {
                own |= (uint64_t) 1 << choice;
            }
        }
    }

    out->len = ngx_http_mastodon_poll_viewer(out->data, &poll,
                                     ngx_http_mastodon_pg_bool(res, 0, col + 1),
                                     own)
               - out->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_mastodon_poll_send(ngx_http_request_t *r, ngx_str_t *poll)
{
    ngx_http_mastodon_json_t  j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_raw(&j, NULL, poll);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/* GET /api/v1/polls/:id */
ngx_int_t
ngx_http_mastodon_polls_show(ngx_http_request_t *r,
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
    }

    values[1] = ngx_http_mastodon_pg_int64(r, id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_poll_shown, NULL);
    if (b == NULL || values[1] == NULL
        || (ctx->auth && ctx->auth->user_id && values[0] == NULL))
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_poll_show_stmt, values)
        != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_poll_shown(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                 *res;
    ngx_str_t                 poll;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_poll_render(r, res, 0,
                                      ctx->auth && ctx->auth->user_id, &poll)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_poll_send(r, &poll));
}


/*
 * POST /api/v1/polls/:id/votes: choices[] (params.require(:choices));
 * each an integer, as VoteService's Integer(choice).
 */
ngx_int_t
ngx_http_mastodon_polls_vote(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    u_char                        *p;
    int64_t                        id, choice;
    ngx_uint_t                     n;
    const char                   **values;
    mstdn_value_t                 *v, *c;
    ngx_http_mastodon_vote_t      *vote;
    ngx_http_mastodon_pg_batch_t  *b;

    id = ngx_http_mastodon_capture_id(ctx, 0);
    if (id == 0) {
        return NGX_HTTP_NOT_FOUND;
    }

    v = ctx->params ? mstdn_object_get(ctx->params, "choices") : NULL;
    n = v == NULL ? 0
        : v->type == MSTDN_ARRAY ? v->count
        : (v->type == MSTDN_STRING || v->type == MSTDN_NUMBER) && v->len ? 1
        : 0;

    if (n == 0) {
        ctx->error_message = "param is missing or the value is empty: choices";
        return NGX_HTTP_BAD_REQUEST;
    }

    if (n > NGX_HTTP_MASTODON_POLL_CHOICES) {
        ctx->error_message = "Validation failed: The chosen vote option does "
                             "not exist";
        return 422;
    }

    values = ngx_pcalloc(r->pool, 3 * sizeof(char *));
    p = ngx_pnalloc(r->pool, n * (NGX_INT64_LEN + 1) + 3);
    vote = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_vote_t));
    if (values == NULL || p == NULL || vote == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    values[2] = (const char *) p;
    *p++ = '{';

    for (c = v->type == MSTDN_ARRAY ? v->first : v; c;
         c = v->type == MSTDN_ARRAY ? c->next : NULL)
    {
        choice = -1;

        if ((c->type == MSTDN_STRING || c->type == MSTDN_NUMBER)
            && c->len > 0 && c->len <= 9
            && ngx_atoi((u_char *) c->str, c->len) != NGX_ERROR)
        {
            choice = ngx_atoi((u_char *) c->str, c->len);
        }

        if (choice < 0) {
            ctx->error_message = "Validation failed: The chosen vote option "
                                 "does not exist";
            return 422;
        }

        p = ngx_sprintf(p, p == (u_char *) values[2] + 1 ? "%L" : ",%L",
                        choice);
    }

    *p++ = '}';
    *p = '\0';

    values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    values[1] = ngx_http_mastodon_pg_int64(r, id);

    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_poll_voted, vote);
    if (b == NULL || values[0] == NULL || values[1] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_poll_vote_stmt, values)
        != NGX_OK
        || ngx_http_mastodon_pg_run(b) != NGX_OK)
    {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_poll_voted(ngx_http_mastodon_pg_batch_t *b)
{
    ngx_http_mastodon_vote_t *vote = b->data;

    u_char                   *p;
    PGresult                 *res;
    ngx_str_t                 error;
    ngx_http_request_t       *r;
    ngx_http_mastodon_ctx_t  *ctx;

    r = b->request;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_pg_bool(res, 0, 1)) {
        ctx->error_message = "This action is not allowed";
        ngx_http_mastodon_finalize(r, NGX_HTTP_FORBIDDEN);
        return;
    }

    error = ngx_http_mastodon_pg_str(res, 0, 0);

    if (error.len) {
        p = ngx_pnalloc(r->pool, sizeof("Validation failed: ") + error.len);
        if (p == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        *ngx_sprintf(p, "Validation failed: %V", &error) = '\0';
        ctx->error_message = (const char *) p;

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: vote refused: %s", ctx->error_message);
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (ngx_http_mastodon_poll_render(r, res, 3, 1, &vote->answer)
        != NGX_OK)
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* the counts changed: the status' cached rendering goes first, and
     * the voter's facts (own_votes) */
    vote->status_id = ngx_http_mastodon_pg_int(res, 0, 2);
    ngx_http_mastodon_viewer_forget(r, &ctx->auth->account_id, 1);

    if (ngx_http_mastodon_status_forget(r, &vote->status_id, 1,
                                        ngx_http_mastodon_poll_forgotten,
                                        vote)
        == NGX_OK)
    {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "mastodon: could not drop the cached status %L",
                  vote->status_id);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_poll_send(r,
                                                              &vote->answer));
}


static void
ngx_http_mastodon_poll_forgotten(ngx_http_request_t *r, redisReply *reply,
    void *data)
{
    ngx_http_mastodon_vote_t *vote = data;

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_poll_send(r,
                                                              &vote->answer));
}
