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

PGconn *db_open(const char *conninfo, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(conninfo);
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

PGconn *db_ensure(PGconn **conn, const char *conninfo, char *err, size_t errlen)
{
    if (*conn != NULL && PQstatus(*conn) == CONNECTION_OK)
        return *conn;
    if (*conn != NULL) {
        mlog(LOG_WARN, "postgresql: connection lost, reconnecting");
        db_close(conn);
    }
    *conn = db_open(conninfo, err, errlen);
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
