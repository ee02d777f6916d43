/* `mastodon-worker migrate`: applies sql/NNNN_*.sql in name order.
 * Each file runs in its own transaction together with its row in
 * ngx_mastodon_migrations, so a failed file leaves nothing behind and a
 * re-run picks up where it stopped.  A session advisory lock keeps two
 * concurrent migrates from applying the same file. */
#include "commands.h"
#include "db.h"
#include "instance_actor.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* pg_advisory_lock key: "ngxmstdn" read as a big-endian 64-bit integer. */
#define MIGRATE_LOCK_KEY "7955459678257046638"

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* --sql-dir, else $MASTODON_SQL_DIR, else <binary dir>/../sql, else ./sql */
static int find_sql_dir(const char *option, char *out, size_t outlen)
{
    const char *env = getenv("MASTODON_SQL_DIR");

    if (option != NULL) {
        snprintf(out, outlen, "%s", option);
        return is_dir(out) ? 0 : -1;
    }
    if (env != NULL && env[0] != '\0') {
        snprintf(out, outlen, "%s", env);
        return is_dir(out) ? 0 : -1;
    }

    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        snprintf(out, outlen, "%s/../sql", dirname(exe));
        if (is_dir(out))
            return 0;
    }
    snprintf(out, outlen, "sql");
    return is_dir(out) ? 0 : -1;
}

static int migration_name(const struct dirent *d)
{
    const char *s = d->d_name;
    size_t n = strlen(s);
    if (n < 10 || strcmp(s + n - 4, ".sql") != 0)
        return 0;
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char) s[i]))
            return 0;
    }
    return s[4] == '_';
}

static char *read_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        snprintf(err, errlen, "%.512s: %s", path, strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    long size = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        size = ftell(f);
    if (size < 0 || size > 64L * 1024 * 1024 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%.512s: cannot read", path);
    } else if ((buf = malloc((size_t) size + 1)) == NULL) {
        snprintf(err, errlen, "out of memory");
    } else if (fread(buf, 1, (size_t) size, f) != (size_t) size) {
        snprintf(err, errlen, "%.512s: short read", path);
        free(buf);
        buf = NULL;
    } else {
        buf[size] = '\0';
    }
    fclose(f);
    return buf;
}

static int already_applied(PGconn *conn, const char *version, char *err, size_t errlen)
{
    const char *params[1] = { version };
    PGresult *res = db_query(conn, "SELECT 1 FROM ngx_mastodon_migrations WHERE version = $1",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int rc = PQntuples(res) > 0;
    PQclear(res);
    return rc;
}

static int apply_one(PGconn *conn, const char *dir, const char *file, const char *version,
                     char *err, size_t errlen)
{
    char path[PATH_MAX], msg[1024];
    if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int) sizeof(path)) {
        snprintf(err, errlen, "%s: path too long", file);
        return -1;
    }

    char *sql = read_file(path, err, errlen);
    if (sql == NULL)
        return -1;

    int rc = -1;
    if (db_exec(conn, "BEGIN", err, errlen) != 0)
        goto out;
    /* The file is ours, from the source tree: several statements, no
     * outside values, hence the simple query protocol. */
    if (db_exec(conn, sql, msg, sizeof(msg)) != 0) {
        snprintf(err, errlen, "%s: %s", file, msg);
        goto rollback;
    }
    const char *params[1] = { version };
    PGresult *res = db_query(conn,
        "INSERT INTO ngx_mastodon_migrations (version, applied_at) VALUES ($1, now())",
        1, params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        goto rollback;
    PQclear(res);
    rc = db_exec(conn, "COMMIT", err, errlen);
    goto out;

rollback:
    db_exec(conn, "ROLLBACK", msg, sizeof(msg));
out:
    free(sql);
    return rc;
}

int cmd_migrate(worker_config *cfg, int argc, char **argv)
{
    const char *option_dir = NULL;
    char dir[PATH_MAX], err[2048];

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sql-dir") == 0 && i + 1 < argc) {
            option_dir = argv[++i];
        } else if (strncmp(argv[i], "--sql-dir=", 10) == 0) {
            option_dir = argv[i] + 10;
        } else {
            fprintf(stderr, "usage: mastodon-worker migrate [--sql-dir DIR]\n");
            return 2;
        }
    }
    if (find_sql_dir(option_dir, dir, sizeof(dir)) != 0) {
        fprintf(stderr, "mastodon-worker: no migrations directory (%s); use --sql-dir or MASTODON_SQL_DIR\n", dir);
        return 1;
    }

    struct dirent **files = NULL;
    int nfiles = scandir(dir, &files, migration_name, alphasort);
    if (nfiles < 0) {
        fprintf(stderr, "mastodon-worker: %s: %s\n", dir, strerror(errno));
        return 1;
    }

    int rc = 1, applied = 0;
    PGconn *conn = db_open(cfg, 0, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }

    if (db_exec(conn, "SET client_min_messages = warning", err, sizeof(err)) != 0
        || db_exec(conn, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", err, sizeof(err)) != 0
        || db_exec(conn, "CREATE TABLE IF NOT EXISTS ngx_mastodon_migrations ("
                         " version text PRIMARY KEY,"
                         " applied_at timestamptz NOT NULL DEFAULT now())", err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: migrate: %s\n", err);
        goto out;
    }

    for (int i = 0; i < nfiles; i++) {
        char version[256];
        snprintf(version, sizeof(version), "%.*s",
                 (int) (strlen(files[i]->d_name) - 4), files[i]->d_name);

        int done = already_applied(conn, version, err, sizeof(err));
        if (done < 0) {
            fprintf(stderr, "mastodon-worker: migrate: %s\n", err);
            goto out;
        }
        if (done)
            continue;
        if (apply_one(conn, dir, files[i]->d_name, version, err, sizeof(err)) != 0) {
            fprintf(stderr, "mastodon-worker: migrate: %s\n", err);
            goto out;
        }
        printf("applied %s\n", version);
        fflush(stdout);
        applied++;
    }
    if (applied == 0)
        printf("nothing to apply, the schema is up to date\n");
    if (instance_actor_ensure(conn, cfg, err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: migrate: %s\n", err);
        goto out;
    }
    rc = 0;

out:
    if (conn != NULL)
        PQfinish(conn);              /* also releases the advisory lock */
    for (int i = 0; i < nfiles; i++)
        free(files[i]);
    free(files);
    return rc;
}
