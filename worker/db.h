#ifndef MW_DB_H
#define MW_DB_H

#include <stddef.h>
#include <libpq-fe.h>

#include "config.h"

/* Blocking libpq connection to cfg->database with the db_* limits
 * (connect timeout, keepalives, tcp_user_timeout) and, when not 0, this
 * statement_timeout; NULL + err on failure.  Notices go to the debug log
 * instead of stderr. */
PGconn *db_open(const worker_config *cfg, long statement_timeout_ms, char *err, size_t errlen);

/* Returns a usable job connection in *conn (db_statement_timeout_ms),
 * opening it lazily or reopening it after a failure.  NULL + err if
 * PostgreSQL cannot be reached now. */
PGconn *db_ensure(PGconn **conn, const worker_config *cfg, char *err, size_t errlen);

void db_close(PGconn **conn);

/* Copies the message of a failed result (or of the connection) into err,
 * without the trailing newline. */
void db_error(const PGconn *conn, const PGresult *res, char *err, size_t errlen);

/* Our own fixed SQL, without parameters (one statement or several, by
 * the simple query protocol).  0, or -1 + err. */
int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

/* PQexecParams with n text parameters: the result when its status is
 * `want`, else NULL + err. */
PGresult *db_query(PGconn *conn, const char *sql, int n, const char *const *params,
                   ExecStatusType want, char *err, size_t errlen);

/* db_query in two halves, so the caller works meanwhile: db_send sends
 * the statement (0, or -1 + err), db_receive waits for its result (as
 * db_query's).  Nothing else goes on the connection in between. */
int db_send(PGconn *conn, const char *sql, int n, const char *const *params,
            char *err, size_t errlen);
PGresult *db_receive(PGconn *conn, ExecStatusType want, char *err, size_t errlen);

/* db_send of a statement prepared once per connection under name (a
 * string constant), so a statement run for every
 * post is planned once, not each time (PostgreSQL's generic plan). */
int db_send_prepared(PGconn *conn, const char *name, const char *sql, int n,
                     const char *const *params, char *err, size_t errlen);

/* db_query of a statement prepared once per connection, likewise. */
PGresult *db_query_prepared(PGconn *conn, const char *name, const char *sql, int n,
                            const char *const *params, ExecStatusType want,
                            char *err, size_t errlen);

#endif
