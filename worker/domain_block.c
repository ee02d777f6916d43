/* `mastodon-worker domain-block add|remove|list`: the instance's domain
 * blocks (Mastodon's DomainBlock, admin/domain_blocks), in domain_blocks.
 *
 *   add DOMAIN [--severity silence|suspend|noop] [--reject-media]
 *       [--reject-reports] [--obfuscate] [--private-comment TEXT]
 *       [--public-comment TEXT]      creates or updates the block
 *   remove DOMAIN                    lifts it
 *   list                             one line per block
 *
 * The domain is stored as Mastodon normalizes it: lower-cased, without a
 * trailing dot, IDNs as given (punycode).  What honours a block: the
 * module's inbox (403 for suspend), the worker's processing, and delivery
 * (nothing goes to a suspended domain or its subdomains:
 * mastodon_delivery_refused() in sql/0012_delivery.sql).  A silence
 * silences the domain's known accounts (and its subdomains'), dated the
 * block's creation, and new accounts are created silenced
 * (inbox_actor.c); lifting it unsilences those it silenced, as
 * BlockDomainService and UnblockDomainService do. */
#include "commands.h"
#include "db.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: mastodon-worker domain-block add DOMAIN [--severity silence|suspend|noop]\n"
    "           [--reject-media] [--reject-reports] [--obfuscate]\n"
    "           [--private-comment TEXT] [--public-comment TEXT]\n"
    "       mastodon-worker domain-block remove DOMAIN\n"
    "       mastodon-worker domain-block list\n";

/* the remote accounts of DOMAIN and its subdomains ($1; accounts.domain
 * may carry a port) */
#define ACCOUNTS_OF_DOMAIN                                                   \
    " a.domain IS NOT NULL AND (lower(split_part(a.domain, ':', 1)) = $1"    \
    " OR right(lower(split_part(a.domain, ':', 1)), length($1) + 1) = '.' || $1)"

static const char *const severities[] = { "silence", "suspend", "noop" };

/* lower-cased, no trailing dot; letters, digits, '-', '.', '_' only */
static int normalize(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);

    while (n > 0 && in[n - 1] == '.')
        n--;
    if (n == 0 || n >= outlen || n > 253)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) in[i];
        if (!isalnum(c) && c != '-' && c != '.' && c != '_')
            return -1;
        out[i] = (char) tolower(c);
    }
    out[n] = '\0';
    return out[0] == '.' ? -1 : 0;
}

static int add(PGconn *db, int argc, char **argv)
{
    char domain[256], err[512];
    const char *severity = "0", *reject_media = "false", *reject_reports = "false";
    const char *obfuscate = "false", *private_comment = NULL, *public_comment = NULL;

    if (argc < 3 || normalize(argv[2], domain, sizeof(domain)) != 0) {
        fprintf(stderr, argc < 3 ? "%s" : "mastodon-worker: not a domain name\n%s",
                usage);
        return 2;
    }
    for (int i = 3; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--reject-media") == 0) {
            reject_media = "true";
        } else if (strcmp(o, "--reject-reports") == 0) {
            reject_reports = "true";
        } else if (strcmp(o, "--obfuscate") == 0) {
            obfuscate = "true";
        } else if (i + 1 < argc && strcmp(o, "--severity") == 0) {
            static const char *const codes[] = { "0", "1", "2" };
            severity = NULL;
            for (int k = 0; k < 3; k++) {
                if (strcmp(argv[i + 1], severities[k]) == 0)
                    severity = codes[k];
            }
            if (severity == NULL) {
                fprintf(stderr, "mastodon-worker: --severity is silence, suspend or noop\n");
                return 2;
            }
            i++;
        } else if (i + 1 < argc && strcmp(o, "--private-comment") == 0) {
            private_comment = argv[++i];
        } else if (i + 1 < argc && strcmp(o, "--public-comment") == 0) {
            public_comment = argv[++i];
        } else {
            fprintf(stderr, "mastodon-worker: unknown option %s\n%s", o, usage);
            return 2;
        }
    }
    const char *params[7] = { domain, severity, reject_media, reject_reports, obfuscate,
                              private_comment, public_comment };
    PGresult *res = db_query(db,
        "INSERT INTO domain_blocks (domain, severity, reject_media, reject_reports, obfuscate,"
        " private_comment, public_comment)"
        " VALUES ($1, $2::integer, $3::boolean, $4::boolean, $5::boolean, $6, $7)"
        " ON CONFLICT (domain) DO UPDATE SET severity = excluded.severity,"
        " reject_media = excluded.reject_media, reject_reports = excluded.reject_reports,"
        " obfuscate = excluded.obfuscate,"
        " private_comment = coalesce(excluded.private_comment, domain_blocks.private_comment),"
        " public_comment = coalesce(excluded.public_comment, domain_blocks.public_comment),"
        " updated_at = now() AT TIME ZONE 'UTC'"
        " RETURNING (xmax = 0)",
        7, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    printf("OK: %s %s (%s)\n", PQgetvalue(res, 0, 0)[0] == 't' ? "blocked" : "updated", domain,
           severities[atoi(severity)]);
    PQclear(res);
    if (strcmp(severity, "0") != 0)
        return 0;
    res = db_query(db,
        "UPDATE accounts a SET silenced_at = b.created_at FROM domain_blocks b"
        " WHERE b.domain = $1 AND a.silenced_at IS NULL AND" ACCOUNTS_OF_DOMAIN,
        1, params, PGRES_COMMAND_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    printf("%s account(s) silenced\n", PQcmdTuples(res));
    PQclear(res);
    return 0;
}

static int remove_block(PGconn *db, int argc, char **argv)
{
    char domain[256], err[512];

    if (argc != 3 || normalize(argv[2], domain, sizeof(domain)) != 0) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    const char *params[1] = { domain };
    PGresult *res = db_query(db,
        "WITH b AS (DELETE FROM domain_blocks WHERE domain = $1 RETURNING severity, created_at),"
        " u AS (UPDATE accounts a SET silenced_at = NULL FROM b"
        "  WHERE b.severity = 0 AND a.silenced_at = b.created_at AND" ACCOUNTS_OF_DOMAIN ")"
        " SELECT count(*) FROM b",
        1, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    if (n == 0) {
        fprintf(stderr, "mastodon-worker: %s is not blocked\n", domain);
        return 1;
    }
    printf("OK: unblocked %s\n", domain);
    return 0;
}

static int list(PGconn *db)
{
    char err[512];
    PGresult *res = db_query(db,
        "SELECT domain, coalesce(severity, 0), reject_media, reject_reports, obfuscate,"
        " coalesce(public_comment, '') FROM domain_blocks ORDER BY domain",
        0, NULL, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    for (int r = 0; r < PQntuples(res); r++) {
        int sev = atoi(PQgetvalue(res, r, 1));
        printf("%s\t%s%s%s%s%s%s\n", PQgetvalue(res, r, 0),
               severities[sev >= 0 && sev <= 2 ? sev : 0],
               PQgetvalue(res, r, 2)[0] == 't' ? " reject_media" : "",
               PQgetvalue(res, r, 3)[0] == 't' ? " reject_reports" : "",
               PQgetvalue(res, r, 4)[0] == 't' ? " obfuscate" : "",
               PQgetvalue(res, r, 5)[0] != '\0' ? "\t" : "", PQgetvalue(res, r, 5));
    }
    PQclear(res);
    return 0;
}

int cmd_domain_block(worker_config *cfg, int argc, char **argv)
{
    char err[512];
    int rc;

    if (argc < 2 || (strcmp(argv[1], "add") != 0 && strcmp(argv[1], "remove") != 0
                     && strcmp(argv[1], "list") != 0)) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    PGconn *db = db_open(cfg, 0, err, sizeof(err));
    if (db == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    if (strcmp(argv[1], "add") == 0)
        rc = add(db, argc, argv);
    else if (strcmp(argv[1], "remove") == 0)
        rc = remove_block(db, argc, argv);
    else
        rc = argc == 2 ? list(db) : (fprintf(stderr, "%s", usage), 2);
    db_close(&db);
    return rc;
}
