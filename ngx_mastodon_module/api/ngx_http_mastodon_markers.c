/*
 * Timeline markers (Api::V1::MarkersController): GET /api/v1/markers
 * (timeline[]: the user's markers among those named) and POST
 * /api/v1/markers (home[last_read_id], notifications[last_read_id]), both
 * answered with an object of Marker entities keyed by timeline.
 *
 * A POST does what find_or_create_by + update! do, timeline by timeline
 * (home, then notifications): the marker is created (last_read_id 0,
 * version 0) if missing, then, when last_read_id changes, updated with
 * lock_version + 1.  last_read_id must be an id (decimal digits): where
 * Rails would cast "12abc" to 12 and "abc" to 0, it is 422 "is not a
 * number"; blank or null fails the presence validation (422).  Either
 * comes after the marker was created, and
 * the timelines before it stay saved, as in Mastodon.  The update is one
 * atomic upsert, so concurrent updates do not lose each other; should
 * PostgreSQL report a serialization failure or deadlock, the answer is
 * Mastodon's 409 for a stale lock_version.
 */

#include "ngx_http_mastodon_api.h"


#define NGX_HTTP_MASTODON_MARKERS_N  2

static const char  *ngx_http_mastodon_markers_timelines[] = {
    "home", "notifications"         /* Marker::TIMELINES, in this order */
};


/* $1 the user, $2 the timeline, $3 last_read_id */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_markers_update =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO markers (user_id, timeline, last_read_id, lock_version)"
        " VALUES ($1::bigint, $2::text, $3::bigint,"
        "  CASE WHEN $3::bigint = 0 THEN 0 ELSE 1 END)"
        " ON CONFLICT (user_id, timeline) DO UPDATE SET"
        " last_read_id = excluded.last_read_id,"
        " lock_version = markers.lock_version + 1,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE markers.last_read_id <> excluded.last_read_id", 3);

/* find_or_create_by alone: no last_read_id given, or a blank one */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_markers_insert =
    ngx_http_mastodon_pg_stmt(
        "INSERT INTO markers (user_id, timeline)"
        " VALUES ($1::bigint, $2::text)"
        " ON CONFLICT (user_id, timeline) DO NOTHING", 2);

/* $1 the user, $2 the timelines, as a text[] literal, in answer order */
static ngx_http_mastodon_pg_stmt_t  ngx_http_mastodon_markers_select =
    ngx_http_mastodon_pg_stmt(
        "SELECT timeline, last_read_id, lock_version,"
        " to_char(updated_at, 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
        " FROM markers WHERE user_id = $1::bigint"
        " AND timeline = ANY ($2::text[])"
        " ORDER BY array_position($2::text[], timeline::text)", 2);


typedef struct {
    const char   *error;        /* the 422 to answer once the batch ran */
} ngx_http_mastodon_markers_t;


static void ngx_http_mastodon_markers_done(ngx_http_mastodon_pg_batch_t *b);
static ngx_int_t ngx_http_mastodon_markers_send(ngx_http_request_t *r,
    PGresult *res);
static ngx_int_t ngx_http_mastodon_markers_run(ngx_http_request_t *r,
    ngx_http_mastodon_pg_batch_t *b, const char *uid, ngx_uint_t *wanted,
    const char *error);
static ngx_int_t ngx_http_mastodon_markers_cast(mstdn_value_t *v,
    int64_t *out);


/* GET /api/v1/markers */
ngx_int_t
ngx_http_mastodon_markers_index(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    ngx_uint_t                     i, k, wanted[NGX_HTTP_MASTODON_MARKERS_N];
    const char                    *uid;
    mstdn_value_t                 *t, *v;
    ngx_http_mastodon_pg_batch_t  *b;

    ngx_memzero(wanted, sizeof(wanted));

    /* Array(params[:timeline]): timeline[]=home, or timeline=home */
    t = ctx->params ? mstdn_object_get(ctx->params, "timeline") : NULL;

    if (t && (t->type == MSTDN_STRING || t->type == MSTDN_ARRAY)) {
        v = (t->type == MSTDN_ARRAY) ? t->first : t;

        for ( /* void */ ; v; v = (t->type == MSTDN_ARRAY) ? v->next : NULL) {
            if (v->type != MSTDN_STRING) {
                continue;
            }

            for (k = 0; k < NGX_HTTP_MASTODON_MARKERS_N; k++) {
                if (ngx_strcmp(v->str,
                               ngx_http_mastodon_markers_timelines[k]) == 0)
                {
                    wanted[k] = 1;
                }
            }
        }
    }

    for (i = 0; i < NGX_HTTP_MASTODON_MARKERS_N; i++) {
        if (wanted[i]) {
            uid = ngx_http_mastodon_pg_int64(r, ctx->auth->user_id);
            b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_markers_done,
                                           NULL);
            if (uid == NULL || b == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            return ngx_http_mastodon_markers_run(r, b, uid, wanted, NULL);
        }
    }

    /* none of the timelines there are: no markers */
    return ngx_http_mastodon_markers_send(r, NULL);
}


/* POST /api/v1/markers */
ngx_int_t
ngx_http_mastodon_markers_create(ngx_http_request_t *r,
    ngx_http_mastodon_ctx_t *ctx)
{
    int64_t                        id;
    ngx_int_t                      rc;
    ngx_uint_t                     i, wanted[NGX_HTTP_MASTODON_MARKERS_N];
    const char                   **values, *error, *uid;
    mstdn_value_t                 *t, *v;
    ngx_http_mastodon_pg_stmt_t   *stmt;
    ngx_http_mastodon_pg_batch_t  *b;

    ngx_memzero(wanted, sizeof(wanted));
    error = NULL;

    uid = ngx_http_mastodon_pg_int64(r, ctx->auth->user_id);
    b = ngx_http_mastodon_pg_batch(r, ngx_http_mastodon_markers_done, NULL);
    if (uid == NULL || b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < NGX_HTTP_MASTODON_MARKERS_N && error == NULL; i++) {

        /* permit(home: [:last_read_id]): a hash, or nothing */
        t = ctx->params
            ? mstdn_object_get(ctx->params,
                               ngx_http_mastodon_markers_timelines[i])
            : NULL;

        if (t == NULL || t->type != MSTDN_OBJECT) {
            continue;
        }

        wanted[i] = 1;

        values = ngx_pcalloc(r->pool, 3 * sizeof(const char *));
        if (values == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        values[0] = uid;
        values[1] = ngx_http_mastodon_markers_timelines[i];
        stmt = &ngx_http_mastodon_markers_insert;

        /* only a scalar last_read_id is permitted */
        v = mstdn_object_get(t, "last_read_id");

        if (v && (v->type == MSTDN_ARRAY || v->type == MSTDN_OBJECT
                  || v->type == MSTDN_FILE))
        {
            v = NULL;
        }

        if (v) {
            rc = ngx_http_mastodon_markers_cast(v, &id);

            if (rc == NGX_DECLINED) {
                error = "Validation failed: Last read can't be blank";

            } else if (rc == NGX_ABORT) {
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "mastodon: marker last_read_id not an id");
                error = "Validation failed: Last read is not a number";

            } else if (rc == NGX_ERROR) {
                /* Rails raises ActiveModel::RangeError (a 500) */
                ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                              "mastodon: marker last_read_id out of range");
                error = "Validation failed: Last read is out of range";

            } else {
                values[2] = ngx_http_mastodon_pg_int64(r, id);
                if (values[2] == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                stmt = &ngx_http_mastodon_markers_update;
            }
        }

        if (ngx_http_mastodon_pg_add(b, stmt, values) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_http_mastodon_markers_run(r, b, uid, wanted, error);
}


/*
 * Adds the SELECT of the wanted markers (unless the answer is an error)
 * and sends the batch: NGX_DONE, or the status to answer.
 */
static ngx_int_t
ngx_http_mastodon_markers_run(ngx_http_request_t *r,
    ngx_http_mastodon_pg_batch_t *b, const char *uid, ngx_uint_t *wanted,
    const char *error)
{
    u_char                       *p;
    ngx_uint_t                    i, n;
    const char                  **values;
    ngx_http_mastodon_markers_t  *m;

    m = ngx_pcalloc(r->pool, sizeof(ngx_http_mastodon_markers_t));
    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->error = error;
    b->data = m;

    for (i = 0, n = 0; i < NGX_HTTP_MASTODON_MARKERS_N; i++) {
        n += wanted[i];
    }

    if (error == NULL && n) {
        values = ngx_pcalloc(r->pool, 2 * sizeof(const char *));
        p = ngx_pnalloc(r->pool, sizeof("{home,notifications}"));
        if (values == NULL || p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        values[0] = uid;
        values[1] = (const char *) p;

        *p++ = '{';
        for (i = 0, n = 0; i < NGX_HTTP_MASTODON_MARKERS_N; i++) {
            if (wanted[i]) {
                if (n++) {
                    *p++ = ',';
                }
                p = ngx_cpymem(p, ngx_http_mastodon_markers_timelines[i],
                           ngx_strlen(ngx_http_mastodon_markers_timelines[i]));
            }
        }
        *p++ = '}';
        *p = '\0';

        if (ngx_http_mastodon_pg_add(b, &ngx_http_mastodon_markers_select,
                                     values) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (b->nqueries == 0) {
        /* nothing asked for */
        return ngx_http_mastodon_markers_send(r, NULL);
    }

    if (ngx_http_mastodon_pg_run(b) != NGX_OK) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    return NGX_DONE;
}


static void
ngx_http_mastodon_markers_done(ngx_http_mastodon_pg_batch_t *b)
{
    PGresult                     *res;
    ngx_uint_t                    i;
    const char                   *state;
    ngx_http_request_t           *r;
    ngx_http_mastodon_ctx_t      *ctx;
    ngx_http_mastodon_markers_t  *m;

    r = b->request;
    m = b->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_mastodon_module);

    if (b->rc != NGX_OK) {
        ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
        return;
    }

    for (i = 0; i < b->nqueries; i++) {
        res = b->results[i];

        if (res && PQresultStatus(res) == PGRES_FATAL_ERROR) {
            state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

            /* serialization failure, deadlock: a StaleObjectError */
            if (state && ngx_strncmp(state, "40", 2) == 0) {
                ctx->error_message = "Conflict during update, please try "
                                     "again";
                ngx_http_mastodon_finalize(r, NGX_HTTP_CONFLICT);
                return;
            }
        }

        if (res == NULL
            || (PQresultStatus(res) != PGRES_COMMAND_OK
                && PQresultStatus(res) != PGRES_TUPLES_OK))
        {
            ngx_http_mastodon_finalize(r, NGX_HTTP_SERVICE_UNAVAILABLE);
            return;
        }
    }

    if (m->error) {
        ctx->error_message = m->error;
        ngx_http_mastodon_finalize(r, 422);
        return;
    }

    ngx_http_mastodon_finalize(r, ngx_http_mastodon_markers_send(r,
                                  ngx_http_mastodon_pg_rows(b,
                                                         b->nqueries - 1)));
}


/* The markers (timeline, last_read_id, lock_version, updated_at rows). */
static ngx_int_t
ngx_http_mastodon_markers_send(ngx_http_request_t *r, PGresult *res)
{
    int                        row;
    ngx_str_t                  s;
    ngx_http_mastodon_json_t   j;

    if (ngx_http_mastodon_json_init(r, &j) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_mastodon_json_open(&j, NULL);

    for (row = 0; res && row < PQntuples(res); row++) {
        ngx_http_mastodon_json_open(&j, PQgetvalue(res, row, 0));

        s = ngx_http_mastodon_pg_str(res, row, 1);
        ngx_http_mastodon_json_kv_str(&j, "last_read_id", &s);

        ngx_http_mastodon_json_kv_int(&j, "version",
                              ngx_http_mastodon_pg_int(res, row, 2));

        s = ngx_http_mastodon_pg_str(res, row, 3);
        ngx_http_mastodon_json_kv_str(&j, "updated_at", &s);

        ngx_http_mastodon_json_close(&j);
    }

    ngx_http_mastodon_json_close(&j);

    return ngx_http_mastodon_json_send(&j, NGX_HTTP_OK);
}


/*
 * last_read_id is a status or notification id: decimal digits, as a
 * string or a JSON integer.  Rails would cast "12abc" to 12 and "abc",
 * true or 1.5 to 0 or 1; those are refused instead of moving the marker
 * to an id nobody read.  NGX_OK; NGX_DECLINED for nil (null, blank);
 * NGX_ABORT not an id; NGX_ERROR beyond a bigint.
 */
static ngx_int_t
ngx_http_mastodon_markers_cast(mstdn_value_t *v, int64_t *out)
{
    size_t  i;

    if (v->type != MSTDN_STRING && v->type != MSTDN_NUMBER) {
        return v->type == MSTDN_NULL ? NGX_DECLINED : NGX_ABORT;
    }

    /* String#presence: blank is nil */
    for (i = 0; i < v->len; i++) {
        if (!ngx_strchr(" \t\n\v\f\r", v->str[i])) {
            break;
        }
    }

    if (i == v->len) {
        return NGX_DECLINED;
    }

    for (i = 0; i < v->len; i++) {
        if (v->str[i] < '0' || v->str[i] > '9') {
            return NGX_ABORT;
        }
    }

    *out = ngx_atoof((u_char *) v->str, v->len);

    return *out < 0 ? NGX_ERROR : NGX_OK;
}
