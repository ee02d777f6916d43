/* PostgreSQL connection helpers (blocking libpq: worker threads, CLI). */
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static void db_notice(void *arg, const char *message)
{
    size_t n = strlen(message);
    while (n > 0 && message[n - 1] == '\n')
        n--;
    mlog(LOG_DEBUG, "postgresql: %.*s", (int) n, message);
}

void db_error(const PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
    const char *msg = res ? PQresultErrorMessage(res) : NULL;
    if (msg == NULL || msg[0] == '\0')
        msg = conn ? PQerrorMessage(conn) : "no connection";
    snprintf(err, errlen, "%s", msg);
    size_t n = strlen(err);
    while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
        err[--n] = '\0';
}

int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        db_error(conn, res, err, errlen);
    PQclear(res);
    return ok ? 0 : -1;
}

PGresult *db_query(PGconn *conn, const char *sql, int n, const char *const *params,
                   ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        db_error(conn, res, err, errlen);
        PQclear(res);
        return NULL;
    }
    return res;
}

int db_send(PGconn *conn, const char *sql, int n, const char *const *params,
            char *err, size_t errlen)
{
    if (!PQsendQueryParams(conn, sql, n, NULL, params, NULL, NULL, 0)) {
        db_error(conn, NULL, err, errlen);
        return -1;
    }
    return 0;
}

/* The statements prepared on this thread's connection (each job thread
 * has its own): a reopened connection has another backend, and prepares
 * again. */
#define DB_PREPARED_MAX 32

static __thread struct {
    const char   *name;
    const PGconn *conn;
    int           pid;
} db_prepared[DB_PREPARED_MAX];

/* 1 when name is prepared on conn (now or before), 0 when the table is
 * full (the caller sends the statement unnamed), -1 + err. */
static int db_prepare_once(PGconn *conn, const char *name, const char *sql, int n,
                           char *err, size_t errlen)
{
    int pid = PQbackendPID(conn), slot = -1;

    for (int i = 0; i < DB_PREPARED_MAX; i++) {
        if (db_prepared[i].name != NULL && strcmp(db_prepared[i].name, name) == 0) {
            if (db_prepared[i].conn == conn && db_prepared[i].pid == pid)
                return 1;
            slot = i;
            break;
        }
        if (db_prepared[i].name == NULL && slot < 0)
            slot = i;
    }
    if (slot < 0)
        return 0;
    PGresult *res = PQprepare(conn, name, sql, n, NULL);
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* 42P05: prepared already on this session */
    if (PQresultStatus(res) != PGRES_COMMAND_OK
        && (state == NULL || strcmp(state, "42P05") != 0)) {
        db_error(conn, res, err, errlen);
        PQclear(res);
        return -1;
    }
    PQclear(res);
    db_prepared[slot].name = name;
    db_prepared[slot].conn = conn;
    db_prepared[slot].pid = pid;
    return 1;
}

int db_send_prepared(PGconn *conn, const char *name, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen)
{
    int prepared = db_prepare_once(conn, name, sql, n, err, errlen);
    if (prepared < 0)
        return -1;
    if (prepared == 0)
        return db_send(conn, sql, n, params, err, errlen);
    if (!PQsendQueryPrepared(conn, name, n, params, NULL, NULL, 0)) {
        db_error(conn, NULL, err, errlen);
        return -1;
    }
    return 0;
}

PGresult *db_query_prepared(PGconn *conn, const char *name, const char *sql, int n,
                            const char *const *params, ExecStatusType want,
                            char *err, size_t errlen)
{
    int prepared = db_prepare_once(conn, name, sql, n, err, errlen);
    if (prepared < 0)
        return NULL;
    if (prepared == 0)
        return db_query(conn, sql, n, params, want, err, errlen);
    PGresult *res = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    if (PQresultStatus(res) != want) {
        db_error(conn, res, err, errlen);
        PQclear(res);
        return NULL;
    }
    return res;
}

PGresult *db_receive(PGconn *conn, ExecStatusType want, char *err, size_t errlen)
{
    PGresult *res = NULL, *next;

    /* every result up to the NULL that ends the query; the first one counts */
    while ((next = PQgetResult(conn)) != NULL) {
        if (res == NULL)
            res = next;
        else
            PQclear(next);
    }
    if (res == NULL || PQresultStatus(res) != want) {
        db_error(conn, res, err, errlen);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Our limits go before the operator's conninfo, which may override them
 * (PQconnectdbParams: the last occurrence of a key wins).  TCP keepalives
 * and tcp_user_timeout notice a PostgreSQL host that vanished, which no
 * statement_timeout can; libpq ignores them on unix sockets.  Same values
 * as the module's sessions. */
PGconn *db_open(const worker_config *cfg, long statement_timeout_ms, char *err, size_t errlen)
{
    char connect_timeout[24], user_timeout[24], options[64];
    const char *keys[16], *values[16];
    int n = 0;

    /* libpq counts whole seconds, at least 2 */
    snprintf(connect_timeout, sizeof(connect_timeout), "%ld",
             cfg->db_connect_timeout_ms < 2000 ? 2 : (cfg->db_connect_timeout_ms + 999) / 1000);
    snprintf(user_timeout, sizeof(user_timeout), "%ld", cfg->db_tcp_user_timeout_ms);
    snprintf(options, sizeof(options), "-c statement_timeout=%ld", statement_timeout_ms);

    keys[n] = "connect_timeout";     values[n++] = connect_timeout;
    keys[n] = "keepalives";          values[n++] = "1";
    keys[n] = "keepalives_idle";     values[n++] = "30";
    keys[n] = "keepalives_interval"; values[n++] = "10";
    keys[n] = "keepalives_count";    values[n++] = "3";
    if (cfg->db_tcp_user_timeout_ms > 0) {
        keys[n] = "tcp_user_timeout"; values[n++] = user_timeout;
    }
    if (statement_timeout_ms > 0) {
        keys[n] = "options";         values[n++] = options;
    }
    keys[n] = "application_name";    values[n++] = "mastodon-worker";
    keys[n] = "dbname";              values[n++] = cfg->database;
    keys[n] = NULL;                  values[n] = NULL;

    PGconn *conn = PQconnectdbParams(keys, values, 1);
    if (conn == NULL) {
        snprintf(err, errlen, "postgresql: out of memory");
        return NULL;
    }
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[512];
        db_error(conn, NULL, msg, sizeof(msg));
        snprintf(err, errlen, "postgresql: %s", msg);
        PQfinish(conn);
        return NULL;
    }
    PQsetNoticeProcessor(conn, db_notice, NULL);
    return conn;
}

PGconn *db_ensure(PGconn **conn, const worker_config *cfg, char *err, size_t errlen)
{
    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return *conn;
    if (*conn != NULL) {
        mlog(LOG_WARN, "postgresql: connection lost, reconnecting");
        db_close(conn);
    }
    *conn = db_open(cfg, cfg->db_statement_timeout_ms, err, errlen);
    if (*conn == NULL)
        mlog(LOG_ERROR, "%s", err);
    return *conn;
}

void db_close(PGconn **conn)
{
    if (*conn != NULL) {
        PQfinish(*conn);
        *conn = NULL;
    }
}
