/*
 * The instance actor (Mastodon's Account.representative: id -99, type
 * Application, locked, username the local domain) with its RSA key: made
 * by `mastodon-worker migrate` after the migrations, since SQL cannot make
 * a key and the module must never (2048-bit generation is CPU work, and
 * the module serves /actor from this row).  Idempotent: an existing row
 * keeps its key; a changed domain renames it.
 */

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "instance_actor.h"
#include "mstdn_rsa.h"

int instance_actor_ensure(PGconn *conn, const worker_config *cfg, char *err,
                          size_t errlen)
{
    const char *pd[1] = { cfg->domain };
    PGresult *res = db_query(conn,
        "UPDATE accounts SET username = $1,"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " WHERE id = -99 AND username <> $1", 1, pd,
        PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);

    res = db_query(conn,
        "SELECT 1 FROM accounts WHERE id = -99 AND private_key IS NOT NULL"
        " AND public_key <> ''", 0, NULL, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int done = PQntuples(res) == 1;
    PQclear(res);
    if (done)
        return 0;

    char *private_pem = NULL, *public_pem = NULL;
    if (mstdn_rsa_keypair(&private_pem, &public_pem) != 0) {
        snprintf(err, errlen, "instance actor: RSA key generation failed");
        return -1;
    }

    const char *pa[3] = { cfg->domain, private_pem, public_pem };
    res = db_query(conn,
        "INSERT INTO accounts (id, username, domain, private_key, public_key,"
        " actor_type, locked, discoverable, indexable, created_at, updated_at)"
        " VALUES (-99, $1, NULL, $2, $3, 'Application', true, false, false,"
        "  now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC')"
        " ON CONFLICT (id) DO UPDATE SET private_key = EXCLUDED.private_key,"
        "  public_key = EXCLUDED.public_key"
        "  WHERE accounts.private_key IS NULL OR accounts.public_key = ''",
        3, pa, PGRES_COMMAND_OK, err, errlen);
    mstdn_rsa_free(private_pem, public_pem);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}
