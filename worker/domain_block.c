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
 * mastodon_delivery_refused() in sql/0012_delivery.sql).  As
 * BlockDomainService and UnblockDomainService do: a silence silences the
 * domain's known accounts (and its subdomains'), dated the block's
 * creation, and new accounts are created silenced (inbox_actor.c); a
 * suspension suspends them so dated and severs their follows (their
 * statuses leave the local feeds; the public timelines leave suspended
 * authors out); a later `add` with another severity gives back what the
 * old one did and the new one does not; lifting a block gives back what
 * it did.  One transaction each; then every node forgets its viewers'
 * facts (`viewer 0`). */
#include "commands.h"
#include "db.h"
#include "jobs.h"
#include "redis.h"

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

/* What a block does to the known accounts and what lifting it undoes
 * (BlockDomainService, UnblockDomainService), each with $1 the domain.
 * The accounts it touched are those dated the block's creation, which an
 * update keeps: so exactly those are given back. */
static const char silence_sql[] =
    "UPDATE accounts a SET silenced_at = b.created_at FROM domain_blocks b"
    " WHERE b.domain = $1 AND a.silenced_at IS NULL AND" ACCOUNTS_OF_DOMAIN;
static const char suspend_sql[] =
    "UPDATE accounts a SET suspended_at = b.created_at, suspension_origin = 0"
    " FROM domain_blocks b"
    " WHERE b.domain = $1 AND a.suspended_at IS NULL AND" ACCOUNTS_OF_DOMAIN;
static const char unsilence_sql[] =
    "UPDATE accounts a SET silenced_at = NULL FROM domain_blocks b"
    " WHERE b.domain = $1 AND a.silenced_at = b.created_at AND" ACCOUNTS_OF_DOMAIN;
static const char unsuspend_sql[] =
    "UPDATE accounts a SET suspended_at = NULL, suspension_origin = NULL"
    " FROM domain_blocks b"
    " WHERE b.domain = $1 AND a.suspended_at = b.created_at AND" ACCOUNTS_OF_DOMAIN;
/* DeleteAccountService on each account the suspension dated: its follows
 * end and the local feeds lose its statuses (sql/0042) */
static const char sever_sql[] =
    "SELECT mastodon_accounts_sever(array(SELECT a.id FROM accounts a, domain_blocks b"
    " WHERE b.domain = $1 AND a.suspended_at = b.created_at AND" ACCOUNTS_OF_DOMAIN "))";

/* Runs sql (none: 0) and says how many rows it changed, with what; -1 on
 * an error (err says which). */
static long apply(PGconn *db, const char *sql, const char *what, const char *domain,
                  char *err, size_t errlen)
{
    const char *params[1] = { domain };
    PGresult *res;
    long n;

    if (sql == NULL)
        return 0;
    res = db_query(db, sql, 1, params,
                   sql == sever_sql ? PGRES_TUPLES_OK : PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    n = atol(sql == sever_sql ? PQgetvalue(res, 0, 0) : PQcmdTuples(res));
    PQclear(res);
    printf("%ld %s\n", n, what);
    return n;
}

/* After the commit: every viewer's facts about authors (suspended, muted
 * by silence...) and the renderings built on them, on every node.  The
 * Account entities are forgotten by the accounts' trigger (sql/0039). */
static void forget_viewers(const worker_config *cfg)
{
    char err[256];
    redisContext *c = redis_open(cfg, 0, err, sizeof(err));

    if (c == NULL) {
        fprintf(stderr, "mastodon-worker: %s (the render caches may show the accounts"
                " as they were for a while)\n", err);
        return;
    }
    cache_forget_publish(c, "viewer", "0");
    redis_close(&c);
}

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

static int add(PGconn *db, worker_config *cfg, int argc, char **argv)
{
    char domain[256], err[512], rollback_err[256];
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
    if (db_exec(db, "BEGIN", err, sizeof(err)) != 0)
        goto failed;
    /* the severity before, to undo what it did once it changes */
    PGresult *res = db_query(db,
        "SELECT coalesce(severity, 0)::text FROM domain_blocks WHERE domain = $1 FOR UPDATE",
        1, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL)
        goto failed;
    char before[4] = "";
    if (PQntuples(res) == 1)
        snprintf(before, sizeof(before), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    res = db_query(db,
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
    if (res == NULL)
        goto failed;
    const char *done = PQgetvalue(res, 0, 0)[0] == 't' ? "blocked" : "updated";
    PQclear(res);

    long changed = 0;
    int sev = atoi(severity);
    /* BlockDomainService#process_retroactive_updates!: a changed severity
     * first gives back what the old one took and the new one does not */
    if (before[0] != '\0' && strcmp(before, severity) != 0) {
        long n = apply(db, sev == 0 ? NULL : unsilence_sql, "account(s) unsilenced",
                       domain, err, sizeof(err));
        long m = n < 0 ? -1 : apply(db, sev == 1 ? NULL : unsuspend_sql,
                                    "account(s) unsuspended", domain, err, sizeof(err));
        if (n < 0 || m < 0)
            goto failed;
        changed += n + m;
    }
    long n = apply(db, sev == 0 ? silence_sql : sev == 1 ? suspend_sql : NULL,
                   sev == 0 ? "account(s) silenced" : "account(s) suspended", domain,
                   err, sizeof(err));
    if (n < 0)
        goto failed;
    changed += n;
    if (sev == 1 && apply(db, sever_sql, "follow(s) severed", domain, err, sizeof(err)) < 0)
        goto failed;
    if (db_exec(db, "COMMIT", err, sizeof(err)) != 0)
        goto failed;
    printf("OK: %s %s (%s)\n", done, domain, severities[sev]);
    if (changed > 0)
        forget_viewers(cfg);
    return 0;

failed:
    db_exec(db, "ROLLBACK", rollback_err, sizeof(rollback_err));   /* err tells why */
    fprintf(stderr, "mastodon-worker: %s\n", err);
    return 1;
}

static int remove_block(PGconn *db, worker_config *cfg, int argc, char **argv)
{
    char domain[256], err[512];

    if (argc != 3 || normalize(argv[2], domain, sizeof(domain)) != 0) {
        fprintf(stderr, "%s", usage);
        return 2;
    }
    /* UnblockDomainService: unsilenced unless a noop, unsuspended if a
     * suspension, those dated the block */
    const char *params[1] = { domain };
    PGresult *res = db_query(db,
        "WITH b AS (DELETE FROM domain_blocks WHERE domain = $1"
        "  RETURNING coalesce(severity, 0) AS severity, created_at),"
        " u AS (UPDATE accounts a SET"
        "  silenced_at = CASE WHEN b.severity <> 2 AND a.silenced_at = b.created_at"
        "   THEN NULL ELSE a.silenced_at END,"
        "  suspended_at = CASE WHEN b.severity = 1 AND a.suspended_at = b.created_at"
        "   THEN NULL ELSE a.suspended_at END,"
        "  suspension_origin = CASE WHEN b.severity = 1 AND a.suspended_at = b.created_at"
        "   THEN NULL ELSE a.suspension_origin END"
        "  FROM b WHERE (b.severity <> 2 AND a.silenced_at = b.created_at"
        "   OR b.severity = 1 AND a.suspended_at = b.created_at) AND" ACCOUNTS_OF_DOMAIN
        "  RETURNING 1)"
        " SELECT count(*), (SELECT count(*) FROM u) FROM b",
        1, params, PGRES_TUPLES_OK, err, sizeof(err));
    if (res == NULL) {
        fprintf(stderr, "mastodon-worker: %s\n", err);
        return 1;
    }
    int n = atoi(PQgetvalue(res, 0, 0));
    long accounts = atol(PQgetvalue(res, 0, 1));
    PQclear(res);
    if (n == 0) {
        fprintf(stderr, "mastodon-worker: %s is not blocked\n", domain);
        return 1;
    }
    printf("OK: unblocked %s\n%ld account(s) given back\n", domain, accounts);
    if (accounts > 0)
        forget_viewers(cfg);
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
        rc = add(db, cfg, argc, argv);
    else if (strcmp(argv[1], "remove") == 0)
        rc = remove_block(db, cfg, argc, argv);
    else
        rc = argc == 2 ? list(db) : (fprintf(stderr, "%s", usage), 2);
    db_close(&db);
    return rc;
}
