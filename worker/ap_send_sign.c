/* Signing requests to other servers as an account (ap_send.h).  The
 * signer's key comes from accounts.private_key; the key id is the actor's
 * URI + "#main-key" (Mastodon's on_behalf_of(account, :uri)). */
#include "ap_send.h"
#include "db.h"
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

int ap_signer_load(PGconn *db, const worker_config *cfg, const char *account_id,
                   ap_signer *s, char *err, size_t errlen)
{
    const char *params[1] = { account_id };

    memset(s, 0, sizeof(*s));
    PGresult *res = db_query(db,
        "SELECT username, private_key FROM accounts"
        " WHERE id = $1::bigint AND domain IS NULL AND private_key IS NOT NULL"
        " AND private_key <> ''", 1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) != 1) {
        PQclear(res);
        return 0;
    }
    const char *name = PQgetvalue(res, 0, 0);
    snprintf(s->username, sizeof(s->username), "%s", name);
    if (strcmp(account_id, AP_INSTANCE_ACTOR_ID) == 0)
        snprintf(s->actor, sizeof(s->actor), "%s/actor", cfg->base);
    else
        snprintf(s->actor, sizeof(s->actor), "%s/users/%s", cfg->base, name);
    snprintf(s->key_id, sizeof(s->key_id), "%s#main-key", s->actor);
    s->private_key = strdup(PQgetvalue(res, 0, 1));
    s->private_key_len = s->private_key != NULL ? strlen(s->private_key) : 0;
    PQclear(res);
    if (s->private_key == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}

void ap_signer_free(ap_signer *s)
{
    free(s->private_key);
    s->private_key = NULL;
}

/* The URL's authority as the Host header carries it (no default port) and
 * its path and query (the request target). */
static int url_parts(const char *url, char *host, size_t hostlen, const char **target)
{
    int https = strncasecmp(url, "https://", 8) == 0;
    const char *a = url + (https ? 8 : 7);
    size_t n = strcspn(a, "/?#");
    const char *port = NULL;

    if (n == 0 || n >= hostlen)
        return -1;
    for (const char *p = a + n; p > a; p--) {
        if (p[-1] == ':') {
            port = p;
            break;
        }
        if (p[-1] == ']')
            break;
    }
    if (port != NULL && strncmp(port, https ? "443" : "80", (size_t) (a + n - port)) == 0
        && (size_t) (a + n - port) == (https ? 3u : 2u))
        n = (size_t) (port - 1 - a);
    for (size_t i = 0; i < n; i++)
        host[i] = (char) (a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i]);
    host[n] = '\0';
    *target = a + strcspn(a, "/?#");
    return 0;
}

static int b64(const unsigned char *in, size_t len, char *out, size_t outlen)
{
    if (outlen < 4 * ((len + 2) / 3) + 1)
        return -1;
    EVP_EncodeBlock((unsigned char *) out, in, (int) len);
    return 0;
}

static int add(struct curl_slist **headers, const char *line, char *err, size_t errlen)
{
    struct curl_slist *l = curl_slist_append(*headers, line);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *headers = l;
    return 0;
}

int ap_sign(void *data, const char *method, const char *url, const char *body,
            size_t body_len, struct curl_slist **headers, char *err, size_t errlen)
{
    const ap_signing *sg = data;
    const ap_signer *s = sg->signer;
    char host[600], date[64], digest[80], line[4096], sigstr[8192], sigb64[1400];
    const char *target;
    unsigned char md[32], sig[1024];
    size_t siglen = sizeof(sig);
    int rc = -1;

    if (url_parts(url, host, sizeof(host), &target) != 0) {
        snprintf(err, errlen, "cannot sign %.200s: no host", url);
        return -1;
    }
    size_t tlen = strcspn(target, "#");
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);

    char lower[16];
    size_t m = 0;
    for (; method[m] != '\0' && m < sizeof(lower) - 1; m++)
        lower[m] = (char) (method[m] >= 'A' && method[m] <= 'Z' ? method[m] + 32 : method[m]);
    lower[m] = '\0';

    int n;
    if (body != NULL) {
        EVP_Digest(body, body_len, md, NULL, EVP_sha256(), NULL);
        memcpy(digest, "SHA-256=", 8);
        b64(md, sizeof(md), digest + 8, sizeof(digest) - 8);
        n = snprintf(sigstr, sizeof(sigstr), "(request-target): %s %.*s\nhost: %s\ndate: %s\ndigest: %s",
                     lower, (int) (tlen ? tlen : 1), tlen ? target : "/", host, date, digest);
    } else {
        n = snprintf(sigstr, sizeof(sigstr), "(request-target): %s %.*s\nhost: %s\ndate: %s",
                     lower, (int) (tlen ? tlen : 1), tlen ? target : "/", host, date);
    }
    if (n < 0 || (size_t) n >= sizeof(sigstr)) {
        snprintf(err, errlen, "cannot sign %.200s: too long", url);
        return -1;
    }

    BIO *bio = BIO_new_mem_buf(s->private_key, (int) s->private_key_len);
    EVP_PKEY *key = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    EVP_MD_CTX *mdctx = EVP_MD_CTX_new();
    if (key == NULL || mdctx == NULL
        || EVP_DigestSignInit(mdctx, NULL, EVP_sha256(), NULL, key) != 1
        || EVP_DigestSign(mdctx, sig, &siglen, (const unsigned char *) sigstr, (size_t) n) != 1
        || b64(sig, siglen, sigb64, sizeof(sigb64)) != 0) {
        snprintf(err, errlen, "cannot sign as %s: bad key", s->key_id);
        goto out;
    }

    snprintf(line, sizeof(line), "Host: %s", host);
    if (add(headers, line, err, errlen) != 0)
        goto out;
    snprintf(line, sizeof(line), "Date: %s", date);
    if (add(headers, line, err, errlen) != 0)
        goto out;
    if (body != NULL) {
        snprintf(line, sizeof(line), "Digest: %s", digest);
        if (add(headers, line, err, errlen) != 0)
            goto out;
    }
    snprintf(line, sizeof(line),
             "Signature: keyId=\"%s\",algorithm=\"rsa-sha256\",headers=\"%s\",signature=\"%s\"",
             s->key_id, body != NULL ? "(request-target) host date digest"
                                     : "(request-target) host date", sigb64);
    rc = add(headers, line, err, errlen);
out:
    EVP_MD_CTX_free(mdctx);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}
