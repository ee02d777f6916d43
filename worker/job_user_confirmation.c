/* user_confirmation: the e-mail with the confirmation link of a new user
 * (Devise's confirmation_instructions), queued by the nginx module's
 * POST /api/v1/accounts on the mailers queue.
 * args {"user_id": "<id>", "token": "<the raw confirmation token>"}.
 *
 * users.confirmation_token holds the token's SHA-256 digest.  Idempotent:
 * a user who is gone, already confirmed, or whose token was replaced gets
 * nothing (the job succeeds); otherwise the mail is sent, and a retry after
 * a failure sends it again (at-least-once). */
#include "jobs.h"
#include "args.h"
#include "db.h"
#include "mail.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#define TOKEN_MAX 128

static int token_valid(const char *t)
{
    size_t n = strlen(t);
    if (n == 0 || n > TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_'))
            return 0;
    }
    return 1;
}

static int id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 19)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
    }
    return 1;
}

int job_user_confirmation(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    char digest[2 * SHA256_DIGEST_LENGTH + 1];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *user_id = args_string(&a, "user_id"), *token = args_string(&a, "token");

    if (user_id == NULL || !id_valid(user_id) || token == NULL || !token_valid(token)) {
        snprintf(err, errlen, "args need user_id (digits, a string) and token");
        goto done;
    }
    SHA256((const unsigned char *) token, strlen(token), md);
    hex_encode(digest, md, sizeof(md));

    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        goto done;

    const char *params[1] = { user_id };
    PGresult *res = db_query(db,
        "SELECT u.email, coalesce(u.confirmation_token, ''), u.confirmed_at IS NOT NULL,"
        "       a.username"
        " FROM users u JOIN accounts a ON a.id = u.account_id WHERE u.id = $1::bigint",
        1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        goto done;

    if (PQntuples(res) == 0) {
        mlog(LOG_INFO, "user_confirmation: user %s is gone, nothing to send", user_id);
        rc = 0;
    } else if (PQgetvalue(res, 0, 2)[0] == 't') {
        mlog(LOG_INFO, "user_confirmation: user %s is already confirmed", user_id);
        rc = 0;
    } else if (strcmp(PQgetvalue(res, 0, 1), digest) != 0) {
        mlog(LOG_INFO, "user_confirmation: user %s has a newer confirmation token", user_id);
        rc = 0;
    } else if (!mail_address_safe(PQgetvalue(res, 0, 0))) {
        /* retrying cannot fix the address */
        mlog(LOG_ERROR, "user_confirmation: user %s has an unusable e-mail address, not sent", user_id);
        rc = 0;
    } else {
        char subject[512], *text = NULL;
        const char *host = ctx->cfg->domain;
        snprintf(subject, sizeof(subject), "Mastodon: Confirmation instructions for %s", host);
        int n = asprintf(&text,
            "Confirm your e-mail address\n"
            "\n"
            "Hello @%s,\n"
            "\n"
            "You have created an account on %s with this e-mail address.\n"
            "You are one click away from activating it. If this wasn't you,\n"
            "please ignore this e-mail.\n"
            "\n"
            "Verify your e-mail address by opening this link:\n"
            "\n"
            "%s/auth/confirmation?confirmation_token=%s\n",
            PQgetvalue(res, 0, 3), host, ctx->cfg->base, token);
        if (n < 0) {
            snprintf(err, errlen, "out of memory");
        } else {
            rc = mail_send(ctx->cfg, ctx->http, PQgetvalue(res, 0, 0), subject, text, err, errlen);
            OPENSSL_cleanse(text, (size_t) n);
            free(text);
        }
        if (rc == 0) {
            mlog(LOG_INFO, "user_confirmation: sent to user %s", user_id);
            PGresult *u = PQexecParams(db,
                "UPDATE users SET confirmation_sent_at = now() AT TIME ZONE 'UTC' WHERE id = $1::bigint",
                1, NULL, params, NULL, NULL, 0);
            PQclear(u);     /* only informative: the mail went out */
        }
    }
    PQclear(res);

done:
    args_free(&a);
    return rc;
}
