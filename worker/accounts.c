/* `mastodon-worker accounts create`: a local account and its user, as
 * `tootctl accounts create` makes them: RSA key pair for ActivityPub, a
 * Devise-compatible bcrypt password, optional role.  `accounts delete` is
 * account_delete.c. */
#include "commands.h"
#include "db.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "mstdn_password.h"
#include "mstdn_rsa.h"

/* what Devise (the bcrypt gem) writes by default: "$2a$10$..." */
#define ACCOUNTS_BCRYPT_COST 10

typedef struct {
    const char *username;
    char        email[256];
    const char *password;
    const char *role;               /* canonical role name or NULL */
    int         confirmed;
    int         approve;
    int         if_not_exists;
} account_options;

/* Mastodon: /\A[a-z0-9_]+\z/i, at most 30 characters. */
static int username_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 30)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char) s[i]) && s[i] != '_')
            return 0;
    }
    return 1;
}

/* A plausible address: one '@', something either side, no spaces or
 * control characters.  Stored lower-cased, as Devise does. */
static int email_normalize(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    const char *at = strchr(in, '@');
    if (n < 3 || n >= outlen || n > 254 || at == NULL || at == in || at[1] == '\0'
        || strchr(at + 1, '@') != NULL)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) in[i];
        if (c <= 0x20 || c == 0x7f)
            return 0;
        out[i] = (char) tolower(c);
    }
    out[n] = '\0';
    return 1;
}

static const char *role_canonical(const char *role)
{
    static const char *roles[] = { "Owner", "Admin", "Moderator" };
    for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        if (strcasecmp(role, roles[i]) == 0)
            return roles[i];
    }
    return NULL;
}

static PGresult *query(PGconn *conn, const char *sql, int n, const char *const *params)
{
    return PQexecParams(conn, sql, n, NULL, params, NULL, NULL, 0);
}

/* 1 if the username (case-insensitively, local) or the e-mail is taken. */
static int account_exists(PGconn *conn, const account_options *o, char *err, size_t errlen)
{
    const char *p[2] = { o->username, o->email };
    PGresult *res = query(conn,
        "SELECT (SELECT count(*) FROM accounts WHERE lower(username) = lower($1) AND domain IS NULL),"
        "       (SELECT count(*) FROM users WHERE lower(email) = $2)", 2, p);
    int rc = -1;
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        db_error(conn, res, err, errlen);
    } else if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
        snprintf(err, errlen, "username \"%s\" is already taken", o->username);
        rc = 1;
    } else if (strcmp(PQgetvalue(res, 0, 1), "0") != 0) {
        snprintf(err, errlen, "e-mail \"%s\" is already taken", o->email);
        rc = 1;
    } else {
        rc = 0;
    }
    PQclear(res);
    return rc;
}

/* Inserts accounts, account_stats and users rows in the open transaction.
 * Returns 0, 1 if taken (unique violation from a concurrent create), -1. */
static int insert_account(PGconn *conn, const account_options *o, const char *hash,
                          const char *private_pem, const char *public_pem,
                          char *id_out, size_t id_len, char *err, size_t errlen)
{
    PGresult *res;
    char role_id[32] = "";

    if (o->role != NULL) {
        const char *p[1] = { o->role };
        res = query(conn, "SELECT id FROM user_roles WHERE name = $1 ORDER BY id LIMIT 1", 1, p);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
            if (PQresultStatus(res) == PGRES_TUPLES_OK)
                snprintf(err, errlen, "role \"%s\" not found in user_roles (run migrate)", o->role);
            else
                db_error(conn, res, err, errlen);
            PQclear(res);
            return -1;
        }
        snprintf(role_id, sizeof(role_id), "%s", PQgetvalue(res, 0, 0));
        PQclear(res);
    }

    /* Approval as Mastodon: needed when registrations_mode is "approved",
     * unless --approve. */
    int approved = 1;
    if (!o->approve) {
        res = query(conn, "SELECT value FROM settings WHERE var = 'registrations_mode'", 0, NULL);
        if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1
            && strstr(PQgetvalue(res, 0, 0), "approved") != NULL)
            approved = 0;
        PQclear(res);
    }

    const char *pa[3] = { o->username, private_pem, public_pem };
    res = query(conn,
        "INSERT INTO accounts (username, domain, private_key, public_key, created_at, updated_at)"
        " VALUES ($1, NULL, $2, $3, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
        " RETURNING id::text", 3, pa);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int taken = state != NULL && strcmp(state, "23505") == 0;
        if (taken)
            snprintf(err, errlen, "username \"%s\" is already taken", o->username);
        else
            db_error(conn, res, err, errlen);
        PQclear(res);
        return taken ? 1 : -1;
    }
    snprintf(id_out, id_len, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);

    const char *ps[1] = { id_out };
    res = db_query(conn,
        "INSERT INTO account_stats (account_id, created_at, updated_at)"
        " VALUES ($1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')", 1, ps,
        PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);

    const char *pu[6] = {
        o->email, hash, id_out, role_id[0] ? role_id : NULL,
        o->confirmed ? "t" : "f", approved ? "t" : "f",
    };
    res = query(conn,
        "INSERT INTO users (email, encrypted_password, account_id, role_id, confirmed_at, approved,"
        "                   created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, CASE WHEN $5::boolean THEN now() AT TIME ZONE 'UTC' END, $6,"
        "         now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')", 6, pu);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        int taken = state != NULL && strcmp(state, "23505") == 0;
        if (taken)
            snprintf(err, errlen, "e-mail \"%s\" is already taken", o->email);
        else
            db_error(conn, res, err, errlen);
        PQclear(res);
        return taken ? 1 : -1;
    }
    PQclear(res);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: mastodon-worker accounts create USERNAME --email EMAIL [--password PASSWORD]\n"
                    "           [--role Owner|Admin|Moderator] [--confirmed] [--approve] [--if-not-exists]\n"
                    "       mastodon-worker accounts delete USERNAME\n");
    return 2;
}

static int parse_options(int argc, char **argv, account_options *o)
{
    const char *email = NULL;

    memset(o, 0, sizeof(*o));
    if (argc < 3 || strcmp(argv[1], "create") != 0)
        return usage();
    o->username = argv[2];

    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "--email") == 0 && value) {
            email = value;
            i++;
        } else if (strcmp(a, "--password") == 0 && value) {
            o->password = value;
            i++;
        } else if (strcmp(a, "--role") == 0 && value) {
            o->role = role_canonical(value);
            if (o->role == NULL) {
                fprintf(stderr, "mastodon-worker: unknown role \"%s\" (Owner, Admin, Moderator)\n", value);
                return 2;
            }
            i++;
        } else if (strcmp(a, "--confirmed") == 0) {
            o->confirmed = 1;
        } else if (strcmp(a, "--approve") == 0) {
            o->approve = 1;
        } else if (strcmp(a, "--if-not-exists") == 0) {
            o->if_not_exists = 1;
        } else {
            fprintf(stderr, "mastodon-worker: accounts create: unexpected argument \"%s\"\n", a);
            return usage();
        }
    }

    if (!username_valid(o->username)) {
        fprintf(stderr, "mastodon-worker: invalid username \"%s\": 1 to 30 letters, digits or _\n", o->username);
        return 2;
    }
    if (email == NULL) {
        fprintf(stderr, "mastodon-worker: accounts create needs --email\n");
        return usage();
    }
    if (!email_normalize(email, o->email, sizeof(o->email))) {
        fprintf(stderr, "mastodon-worker: invalid e-mail address \"%s\"\n", email);
        return 2;
    }
    if (o->password != NULL && (strlen(o->password) < 8 || strlen(o->password) > 72)) {
        fprintf(stderr, "mastodon-worker: the password must have 8 to 72 characters\n");
        return 2;
    }
    return 0;
}

int cmd_accounts(worker_config *cfg, int argc, char **argv)
{
    account_options o;

    if (argc >= 2 && strcmp(argv[1], "delete") == 0)
        return cmd_accounts_delete(cfg, argc, argv);
    int rc = parse_options(argc, argv, &o);
    if (rc != 0)
        return rc;

    char err[1024], rollback_err[256], id[32], generated[33] = "", hash[MSTDN_PASSWORD_HASH_MAX];
    char *private_pem = NULL, *public_pem = NULL;
    PGconn *conn = db_open(cfg, 0, err, sizeof(err));
    if (conn == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }

    rc = 1;
    if (db_exec(conn, "BEGIN", err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        goto out;
    }

    int exists = account_exists(conn, &o, err, sizeof(err));
    if (exists != 0)
        goto failed;

    const char *password = o.password;
    if (password == NULL) {
        if (random_hex(generated, 16) != 0) {
            snprintf(err, sizeof(err), "no random bytes for a password");
            goto failed;
        }
        password = generated;
    }
    if (mstdn_password_hash(password, strlen(password), ACCOUNTS_BCRYPT_COST, hash) != 0) {
        snprintf(err, sizeof(err), "bcrypt hashing failed");
        goto failed;
    }
    if (mstdn_rsa_keypair(&private_pem, &public_pem) != 0) {
        snprintf(err, sizeof(err), "RSA key generation failed");
        goto failed;
    }

    exists = insert_account(conn, &o, hash, private_pem, public_pem, id, sizeof(id), err, sizeof(err));
    if (exists != 0)
        goto failed;
    if (db_exec(conn, "COMMIT", err, sizeof(err)) != 0)
        goto failed;

    printf("OK: created @%s (account id %s)%s%s\n", o.username, id,
           o.role ? ", role " : "", o.role ? o.role : "");
    if (generated[0] != '\0')
        printf("New password: %s\n", generated);
    rc = 0;
    goto out;

failed:
    db_exec(conn, "ROLLBACK", rollback_err, sizeof(rollback_err));   /* err tells why */
    if (exists == 1 && o.if_not_exists) {
        rc = 0;
    } else {
        fprintf(stderr, "mastodon-worker: accounts create: %s\n", err);
        rc = 1;
    }
out:
    OPENSSL_cleanse(generated, sizeof(generated));
    OPENSSL_cleanse(hash, sizeof(hash));
    mstdn_rsa_free(private_pem, public_pem);
    PQfinish(conn);
    return rc;
}
