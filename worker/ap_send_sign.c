/* Signing requests to other servers as an account (ap_send.h).  The
 * signer's key comes from accounts.private_key; the key id is the actor's
 * URI + "#main-key" (Mastodon's on_behalf_of(account, :uri)). */
#include "ap_send.h"
#include "db.h"
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>
#include <time.h>

#include "mstdn_httpsig.h"

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

int ap_signer_instance(PGconn *db, const worker_config *cfg, ap_signer *s,
                       char *err, size_t errlen)
{
    if (s->private_key != NULL)
        return 1;
    return ap_signer_load(db, cfg, AP_INSTANCE_ACTOR_ID, s, err, errlen);
}

void ap_signer_free(ap_signer *s)
{
    EVP_PKEY_free(s->pkey);
    s->pkey = NULL;
    free(s->private_key);
    s->private_key = NULL;
}

/*
 * The cavage signature with the signer's key parsed once: OpenSSL 3's PEM
 * decoders cost more than the RSA signature itself (1.5 ms against 1 ms
 * on a loaded bench machine), and a delivery signs once per inbox and
 * attempt.  The signing string is lib/mstdn_httpsig's; only the RSA
 * operation is made here on the kept key.
 */
static int sign_cavage_cached(ap_signer *s, const mstdn_httpsig_request_t *req, int body,
                              char *out, size_t size)
{
    static const char *const names[] = { "(request-target)", "host", "date", "digest" };
    mstdn_httpsig_t *sig;
    char base[MSTDN_HTTPSIG_BASE_MAX], b64[MSTDN_HTTPSIG_SIG_MAX * 4 / 3 + 8];
    unsigned char raw[MSTDN_HTTPSIG_SIG_MAX];
    size_t blen, rlen = sizeof(raw);
    int rc, n;

    if (s->pkey == NULL) {
        BIO *bio = BIO_new_mem_buf(s->private_key, (int) s->private_key_len);
        s->pkey = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (s->pkey == NULL)
            return MSTDN_HTTPSIG_EKEY;
    }
    sig = calloc(1, sizeof(*sig));
    if (sig == NULL)
        return MSTDN_HTTPSIG_ESIGN;
    sig->kind = MSTDN_HTTPSIG_CAVAGE;
    sig->algorithm = MSTDN_HTTPSIG_ALG_RSA_SHA256;
    sig->created = -1;
    sig->expires = -1;
    sig->ncomponents = body ? 4 : 3;
    for (int i = 0; i < sig->ncomponents; i++)
        snprintf(sig->components[i], sizeof(sig->components[i]), "%s", names[i]);
    rc = mstdn_httpsig_base(sig, req, base, sizeof(base), &blen);
    free(sig);
    if (rc != MSTDN_HTTPSIG_OK)
        return rc;

    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, s->pkey) != 1
        || EVP_DigestSign(md, raw, &rlen, (const unsigned char *) base, blen) != 1) {
        EVP_MD_CTX_free(md);
        return MSTDN_HTTPSIG_ESIGN;
    }
    EVP_MD_CTX_free(md);
    mstdn_base64_encode(raw, rlen, b64);
    n = snprintf(out, size, "keyId=\"%s\",algorithm=\"rsa-sha256\",headers=\"%s\",signature=\"%s\"",
                 s->key_id, body ? "(request-target) host date digest" : "(request-target) host date",
                 b64);
    return n < 0 || (size_t) n >= size ? MSTDN_HTTPSIG_ETOOBIG : MSTDN_HTTPSIG_OK;
}

/* The URL's authority as the Host header carries it (no default port),
 * its scheme, path and query. */
static int url_parts(const char *url, mstdn_httpsig_request_t *req, char *host, size_t hostlen)
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
    if (port != NULL && (size_t) (a + n - port) == (https ? 3u : 2u)
        && strncmp(port, https ? "443" : "80", (size_t) (a + n - port)) == 0)
        n = (size_t) (port - 1 - a);
    for (size_t i = 0; i < n; i++)
        host[i] = (char) (a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i]);
    host[n] = '\0';

    const char *rest = a + strcspn(a, "/?#");
    size_t plen = strcspn(rest, "?#");
    req->scheme = https ? "https" : "http";
    req->scheme_len = strlen(req->scheme);
    req->authority = host;
    req->authority_len = n;
    req->path = plen > 0 ? rest : "/";
    req->path_len = plen > 0 ? plen : 1;
    if (rest[plen] == '?') {
        req->query = rest + plen + 1;
        req->query_len = strcspn(req->query, "#");
    }
    return 0;
}

typedef struct {
    const char *host, *date, *digest, *content_digest;
} sign_headers;

static int header_of(void *data, const char *name, size_t len, const char **value, size_t *vlen)
{
    const sign_headers *h = data;
    const char *v = NULL;

    if (len == 4 && memcmp(name, "host", 4) == 0)
        v = h->host;
    else if (len == 4 && memcmp(name, "date", 4) == 0)
        v = h->date;
    else if (len == 6 && memcmp(name, "digest", 6) == 0)
        v = h->digest;
    else if (len == 14 && memcmp(name, "content-digest", 14) == 0)
        v = h->content_digest;
    if (v == NULL)
        return -1;
    *value = v;
    *vlen = strlen(v);
    return 0;
}

static int add(struct curl_slist **headers, const char *name, const char *value,
               char *err, size_t errlen)
{
    char line[MSTDN_HTTPSIG_VALUE_MAX + 64];
    snprintf(line, sizeof(line), "%s: %s", name, value);
    struct curl_slist *l = curl_slist_append(*headers, line);
    if (l == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    *headers = l;
    return 0;
}

/* Mastodon's Request#sign! for a POST (with Digest) or a GET: draft-cavage
 * over "(request-target) host date [digest]"; the RFC 9421 form covers
 * "@method @target-uri [content-digest]" with created = now. */
int ap_sign(void *data, const char *method, const char *url, const char *body,
            size_t body_len, struct curl_slist **headers, char *err, size_t errlen)
{
    const ap_signing *sg = data;
    ap_signer *s = sg->signer;
    mstdn_httpsig_request_t req;
    sign_headers h;
    char host[600], date[MSTDN_HTTPSIG_DATE_LEN], digest[MSTDN_HTTPSIG_DIGEST_LEN];
    char cdigest[MSTDN_HTTPSIG_CDIGEST_LEN];
    char value[MSTDN_HTTPSIG_VALUE_MAX], input[MSTDN_HTTPSIG_VALUE_MAX];
    int64_t now = (int64_t) time(NULL);
    int rc;

    memset(&req, 0, sizeof(req));
    memset(&h, 0, sizeof(h));
    if (url_parts(url, &req, host, sizeof(host)) != 0) {
        snprintf(err, errlen, "cannot sign %.200s: no host", url);
        return -1;
    }
    req.method = method;
    req.method_len = strlen(method);
    req.header = header_of;
    req.data = &h;
    mstdn_httpsig_format_date(now, date);
    h.host = host;
    h.date = date;
    if (body != NULL) {
        mstdn_httpsig_digest(body, body_len, digest);
        mstdn_httpsig_content_digest(body, body_len, cdigest);
        h.digest = digest;
        h.content_digest = cdigest;
    }

    if (!sg->rfc9421) {
        rc = sign_cavage_cached(s, &req, body != NULL, value, sizeof(value));
    } else {
        rc = mstdn_httpsig_sign_rfc9421(s->private_key, s->private_key_len, s->key_id, &req,
                                        body != NULL ? "@method @target-uri content-digest"
                                                     : "@method @target-uri",
                                        now, input, sizeof(input), value, sizeof(value));
    }
    if (rc != MSTDN_HTTPSIG_OK) {
        snprintf(err, errlen, "cannot sign as %s: %s", s->key_id, mstdn_httpsig_error(rc));
        return -1;
    }

    if (add(headers, "Host", host, err, errlen) != 0
        || add(headers, "Date", date, err, errlen) != 0)
        return -1;
    if (!sg->rfc9421) {
        if (body != NULL && add(headers, "Digest", digest, err, errlen) != 0)
            return -1;
        return add(headers, "Signature", value, err, errlen);
    }
    if (body != NULL && add(headers, "Content-Digest", cdigest, err, errlen) != 0)
        return -1;
    if (add(headers, "Signature-Input", input, err, errlen) != 0)
        return -1;
    return add(headers, "Signature", value, err, errlen);
}
