/*
 * POST /api/v1/reports: a user reports an account, and perhaps some of its
 * statuses (Api::V1::ReportsController, ReportService, Report's
 * validations).  In Mastodon's order: the account must exist (404), the
 * statuses must be its own that the reporter may see, deleted ones
 * included (404 if any is not), a suspended account cannot be reported
 * (404), then the validations (422): the comment at most 1000 characters,
 * the rules cited must all exist (rule_ids make the category "violation",
 * which needs them).  With forward=true and a remote account, the report
 * is forwarded: an activitypub_flag job (worker/job_ap_flag.c) in the same
 * transaction sends a Flag from the instance actor to its server.
 */

#include "ngx_http_mastodon_api.h"
#include "mstdn_utf8.h"


#define NGX_HTTP_MASTODON_REPORT_COMMENT_MAX  1000
#define NGX_HTTP_MASTODON_REPORT_VIOLATION    2000


/*
 * $1 the reporter, $2 the account, $3 the statuses (bigint[]), $4 the
 * rules (bigint[] or NULL), $5 the comment, $6 the category, $7 forward,
 * $8 what the handler checked is valid, $9 the base URL.  The report goes
 * in only when everything holds; the first columns say what did not.
 */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_report_stmt =
    ngx_http_mastodon_pg_stmt(
    "WITH t AS (SELECT id, domain, suspended_at IS NOT NULL AS suspended"
    "  FROM accounts WHERE id = $2::bigint AND id > 0),"
    " st AS (SELECT coalesce(array_agg(s.id ORDER BY s.id), '{}') AS ids,"
    "  count(*) AS n FROM statuses s"
    "  WHERE s.id = ANY($3::bigint[]) AND s.account_id = $2::bigint"
    "  AND EXISTS (SELECT FROM mastodon_status_visible($1::bigint, s.id,"
    "   s.account_id, s.visibility, NULL))),"
    " ru AS (SELECT count(*) AS n FROM rules"
    "  WHERE id = ANY(coalesce($4::bigint[], '{}'))),"
    " ok AS (SELECT t.id, t.domain FROM t, st, ru"
    "  WHERE NOT t.suspended AND $8::boolean"
    "  AND st.n = (SELECT count(DISTINCT x) FROM unnest($3::bigint[]) x)"
    "  AND ($6::integer <> 2000"
    "   OR ru.n = coalesce(cardinality($4::bigint[]), -1))),"
    " ins AS (INSERT INTO reports (account_id, target_account_id,"
    "  status_ids, comment, category, rule_ids, forwarded, uri)"
    "  SELECT $1::bigint, ok.id, st.ids, $5::text, $6::integer,"
    "  $4::bigint[], $7::boolean AND ok.domain IS NOT NULL,"
    "  $9::text || '/' || gen_random_uuid()"
    "  FROM ok, st RETURNING *),"
    " job AS (INSERT INTO job_outbox (queue, type, args)"
    "  SELECT 'push', 'activitypub_flag', json_build_object("
    "   'id', ins.id::text,"
    "   'target_account_id', ins.target_account_id::text,"
    "   'status_ids', (SELECT coalesce(json_agg(x::text), '[]')"
    "    FROM unnest(ins.status_ids) x),"
    "   'comment', ins.comment, 'uri', ins.uri)::text"
    "  FROM ins WHERE ins.forwarded)"
    " SELECT (SELECT count(*) FROM t), (SELECT bool_or(suspended) FROM t),"
    " (SELECT n FROM st), (SELECT n FROM ru),"
    " i.id, i.category,"
    " to_char(i.created_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
    " i.comment, i.forwarded,"
    " (SELECT json_agg(x::text) FROM unnest(i.status_ids) x)::text,"
    " (SELECT json_agg(x::text) FROM unnest(i.rule_ids) x)::text, "
    NGX_HTTP_MASTODON_ACCOUNT_COLUMNS
    " FROM (SELECT 1) one LEFT JOIN ins i ON true"
    " LEFT JOIN accounts a ON a.id = i.target_account_id"
    " LEFT JOIN account_stats s ON s.account_id = a.id", 9);

#define NGX_HTTP_MASTODON_RP_ACCOUNT  11


typedef struct {
    ngx_uint_t                     statuses;    /* distinct ids asked */
    ngx_uint_t                     rules;       /* rule ids given */
    ngx_uint_t                     violation;
    ngx_uint_t                     comment_long;
    const char                    *category;    /* an unknown one */
    const char                    *values[9];
} ngx_http_mastodon_report_t;


static const char *ngx_http_mastodon_report_ids(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char *key, ngx_uint_t *n,
    ngx_uint_t *given, ngx_uint_t ids_only);
static void ngx_http_mastodon_report_done(ngx_http_mastodon_pg_batch_t *b);
static const char *ngx_http_mastodon_report_category_name(const char *n);


ngx_int_t
ngx_http_mastodon_reports_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    size_t                          len, i;
    int64_t                         target;
    ngx_uint_t                      given, blank, category;
    const char                     *v, *comment;
    ngx_http_mastodon_report_t     *rp;
    ngx_http_mastodon_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_mastodon_module);

    rp = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_report_t));
    if (rp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* Account.find(account_id) */
    v = mstdn_param_str(ctx->params, "account_id", &len);

    if (v == NULL || len == 0 || len > 19
        || (target = ngx_atoof((u_char *) v, len)) <= 0)
    {
        return NGX_HTTP_NOT_FOUND;
    }

    rp->values[0] = ngx_http_mastodon_pg_int64(r, ctx->auth->account_id);
    rp->values[1] = ngx_http_mastodon_pg_int64(r, target);

    /* Status.find(status_ids): one that is not an id cannot be found */
    rp->values[2] = ngx_http_mastodon_report_ids(r, ctx, "status_ids",
                                                 &rp->statuses, &given, 1);
    if (rp->values[2] == NULL) {
        return given ? NGX_HTTP_NOT_FOUND : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* rule_ids.presence: cited rules make the report a violation */
    rp->values[3] = ngx_http_mastodon_report_ids(r, ctx, "rule_ids",
                                                 &rp->rules, &given, 0);
    if (given && rp->values[3] == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rp->rules == 0) {
        rp->values[3] = NULL;
    }

    /* comment.presence || '' */
    comment = mstdn_param_str(ctx->params, "comment", &len);
    blank = 1;

    for (i = 0; comment && i < len && blank; i++) {
        blank = ngx_strchr(" \t\n\v\f\r", comment[i]) != NULL;
    }

    if (blank) {
        comment = "";
        len = 0;
    }

    rp->values[4] = comment;
    rp->comment_long = mstdn_utf8_length((u_char *) comment, len)
                       > NGX_HTTP_MASTODON_REPORT_COMMENT_MAX;

    /* category.presence || 'other' */
    v = mstdn_param_str(ctx->params, "category", &len);
    category = 0;

    if (rp->rules > 0) {
        category = NGX_HTTP_MASTODON_REPORT_VIOLATION;

    } else if (v != NULL && len > 0) {
        if (ngx_strcmp(v, "other") == 0) {
            category = 0;

        } else if (ngx_strcmp(v, "spam") == 0) {
            category = 1000;

        } else if (ngx_strcmp(v, "legal") == 0) {
            category = 1500;

        } else if (ngx_strcmp(v, "violation") == 0) {
            category = NGX_HTTP_MASTODON_REPORT_VIOLATION;

        } else {
            rp->category = v;
        }
    }

    rp->violation = (category == NGX_HTTP_MASTODON_REPORT_VIOLATION);
    rp->values[5] = ngx_http_mastodon_pg_int64(r, category);
    rp->values[6] = mstdn_param_bool(ctx->params, "forward", 0) ? "t" : "f";
    rp->values[7] = (rp->comment_long || rp->category) ? "f" : "t";
    rp->values[8] = (const char *) mcf->base_url.data;

    if (rp->values[0] == NULL || rp->values[1] == NULL
        || rp->values[5] == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_mastodon_pg_query(r, &ngx_http_mastodon_report_stmt,
                                      rp->values,
                                      ngx_http_mastodon_report_done, rp);
}


/*
 * An array parameter as a PostgreSQL bigint[] literal in the pool; *n: its
 * distinct count for statuses (ids_only: an element not an id makes it
 * NULL with *given set), its length for rules (an element not an id is 0,
 * which no rule has: Rails casts it to nothing that exists).
 */
static const char *
ngx_http_mastodon_report_ids(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx, const char *key, ngx_uint_t *n,
    ngx_uint_t *given, ngx_uint_t ids_only)
{
    u_char         *p, *list;
    size_t          size;
    int64_t         id, *seen;
    ngx_uint_t      count, i, k, dup;
    mstdn_value_t  *first, *v;

    *n = 0;

    first = ngx_http_mastodon_param_array(ctx, key, given);

    count = 0;
    for (v = first; v; v = v->next) {
        count++;
    }

    size = 3 + count * (NGX_INT64_LEN + 1);

    list = ngx_pnalloc(r->pool, size);
    seen = ngx_palloc(r->pool, (count + 1) * sizeof(int64_t));
    if (list == NULL || seen == NULL) {
        *given = 0;
        return NULL;
    }

    p = list;
    *p++ = '{';
    i = 0;

    for (v = first; v; v = v->next) {
        id = (v->len > 0 && v->len <= 19)
             ? ngx_atoof((u_char *) v->str, v->len) : NGX_ERROR;

        if (id <= 0) {
            if (ids_only) {
                *given = 1;
                return NULL;
            }

            id = 0;
        }

        dup = 0;
        for (k = 0; k < i; k++) {
            if (seen[k] == id) {
                dup = 1;
                break;
            }
        }

        seen[i] = id;
        p = ngx_sprintf(p, "%s%L", i ? "," : "", id);
        i++;

        if (!ids_only || !dup) {
            (*n)++;
        }
    }

    *p++ = '}';
    *p = '\0';

    return (const char *) list;
}


static void
ngx_http_mastodon_report_done(ngx_http_mastodon_pg_batch_t *b)
{
    u_char                      *p;
    PGresult                    *res;
    ngx_str_t                    s;
    ngx_uint_t                   rules_ok;
    ngx_http_request_t          *r;
    ngx_http_mastodon_ctx_t     *ctx;
    ngx_http_mastodon_json_t     j;
    ngx_http_mastodon_report_t  *rp;

    r = b->request;
    rp = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    res = ngx_http_mastodon_pg_rows(b, 0);
    if (res == NULL) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    if (PQntuples(res) != 1) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* RecordNotFound: the account, one of the statuses, a suspended
     * account (ReportService: @target_account.unavailable?) */
    if (ngx_http_mastodon_pg_int(res, 0, 0) != 1
        || (ngx_uint_t) ngx_http_mastodon_pg_int(res, 0, 2) != rp->statuses
        || ngx_http_mastodon_pg_bool(res, 0, 1))
    {
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    /* validate_rule_ids: rules.size == rule_ids&.size */
    rules_ok = !rp->violation
               || (rp->rules > 0
                   && (ngx_uint_t) ngx_http_mastodon_pg_int(res, 0, 3)
                      == rp->rules);

    if (rp->category) {
        /* an unknown enum value (Mastodon raises ArgumentError) */
        p = ngx_pnalloc(r->pool, ngx_strlen(rp->category)
                                 + sizeof("'' is not a valid category"));
        if (p == NULL) {
            ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        *ngx_sprintf(p, "'%s' is not a valid category", rp->category) = '\0';
        ctx->error_message = (const char *) p;
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (rp->comment_long || !rules_ok) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "mastodon: report refused: %s%s",
                      rp->comment_long ? "comment too long " : "",
                      rules_ok ? "" : "rule ids");

        ctx->error_message = (rp->comment_long && !rules_ok)
            ? "Validation failed: Comment is too long (maximum is 1000"
              " characters), Rule ids does not reference valid rules"
            : rp->comment_long
              ? "Validation failed: Comment is too long (maximum is 1000"
                " characters)"
              : "Validation failed: Rule ids does not reference valid rules";
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    if (PQgetisnull(res, 0, 4)) {
        /* valid, yet not stored: the account changed meanwhile */
        ngx_http_mastodon_finalize(r, NGX_HTTP_NOT_FOUND);
        return;
    }

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* REST::ReportSerializer */
    ngx_http_mastodon_json_open(&j, NULL);
    ngx_http_mastodon_json_kv_pq(&j, "id", res, 0, 4);
    ngx_http_mastodon_json_kv_bool(&j, "action_taken", 0);
    ngx_http_mastodon_json_kv_null(&j, "action_taken_at");
    ngx_http_mastodon_json_kv_cstr(&j, "category",
        ngx_http_mastodon_report_category_name(PQgetvalue(res, 0, 5)));
    ngx_http_mastodon_json_kv_pq(&j, "comment", res, 0, 7);
    ngx_http_mastodon_json_kv_bool(&j, "forwarded",
                                   ngx_http_mastodon_pg_bool(res, 0, 8));
    ngx_http_mastodon_json_kv_pq(&j, "created_at", res, 0, 6);

    /* json_agg of strings: JSON already */
    if (PQgetisnull(res, 0, 9)) {
        ngx_str_set(&s, "[]");

    } else {
        s = ngx_http_mastodon_pg_str(res, 0, 9);
    }

    ngx_http_mastodon_json_raw(&j, "status_ids", &s);

    if (PQgetisnull(res, 0, 10)) {
        ngx_http_mastodon_json_kv_null(&j, "rule_ids");

    } else {
        s = ngx_http_mastodon_pg_str(res, 0, 10);
        ngx_http_mastodon_json_raw(&j, "rule_ids", &s);
    }

    /* no collections here yet */
    ngx_http_mastodon_json_open_array(&j, "collection_ids");
    ngx_http_mastodon_json_close_array(&j);

    ngx_http_mastodon_json_key(&j, "target_account");
    ngx_http_mastodon_account(&j, res, 0, NGX_HTTP_MASTODON_RP_ACCOUNT);
    ngx_http_mastodon_json_close(&j);

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_json_send(&j,
                                                              NGX_HTTP_OK));
}


static const char *
ngx_http_mastodon_report_category_name(const char *n)
{
    switch (ngx_atoi((u_char *) n, ngx_strlen(n))) {
    case 1000:
        return "spam";
    case 1500:
        return "legal";
    case 2000:
        return "violation";
    default:
        return "other";
    }
}
