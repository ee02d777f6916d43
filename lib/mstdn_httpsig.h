#ifndef MSTDN_HTTPSIG_H
#define MSTDN_HTTPSIG_H

/*
 * HTTP signatures of ActivityPub, the one place for them: the module
 * verifies incoming requests with it, the worker signs what it sends.
 *
 * Two forms, as Mastodon 4.5+ speaks them:
 *
 *   draft-cavage-http-signatures-12 ("Signature: keyId=...,algorithm=...,
 *   headers=...,signature=..."), algorithms rsa-sha256 and hs2019, with
 *   a Digest header ("SHA-256=<base64>");
 *
 *   RFC 9421 HTTP Message Signatures, one label ("Signature-Input:
 *   sig1=(...);created=...;keyid=...", "Signature: sig1=:<base64>:"),
 *   RSASSA-PKCS1-v1_5 with SHA-256, with Content-Digest (RFC 9530,
 *   "sha-256=:<base64>:").
 *
 * Parsing is strict and bounded: a duplicated or unknown parameter, an
 * unknown algorithm, bad base64, an oversized value or a missing field is
 * an error, never a guess.  No allocation: the parsed signature is one
 * fixed-size struct.  Thread-safe; no global state.
 */

#include <stddef.h>
#include <stdint.h>

#define MSTDN_HTTPSIG_VALUE_MAX      8192  /* Signature, Signature-Input */
#define MSTDN_HTTPSIG_KEYID_MAX      2048
#define MSTDN_HTTPSIG_SIG_MAX        1024  /* decoded: RSA up to 8192 bits */
#define MSTDN_HTTPSIG_COMPONENTS_MAX 16
#define MSTDN_HTTPSIG_NAME_MAX       64
#define MSTDN_HTTPSIG_PARAMS_MAX     (MSTDN_HTTPSIG_KEYID_MAX + 1024)
#define MSTDN_HTTPSIG_BASE_MAX       16384 /* signing string / base */

/* "SHA-256=" + base64 of 32 bytes + NUL; "sha-256=:" ... ":" + NUL */
#define MSTDN_HTTPSIG_DIGEST_LEN     (8 + 44 + 1)
#define MSTDN_HTTPSIG_CDIGEST_LEN    (9 + 44 + 1 + 1)
#define MSTDN_HTTPSIG_DATE_LEN       (29 + 1)   /* IMF-fixdate + NUL */

/* Results: 0 or one of these (each has a message, mstdn_httpsig_error()) */
#define MSTDN_HTTPSIG_OK              0
#define MSTDN_HTTPSIG_EPARSE         -1   /* malformed, duplicated, unknown */
#define MSTDN_HTTPSIG_ETOOBIG        -2   /* a value over its bound */
#define MSTDN_HTTPSIG_EMISSING       -3   /* keyId / signature missing */
#define MSTDN_HTTPSIG_EMISSING9421   -4   /* keyid / created missing */
#define MSTDN_HTTPSIG_EALGORITHM     -5
#define MSTDN_HTTPSIG_EBASE64        -6
#define MSTDN_HTTPSIG_EDATE          -7   /* Date not an HTTP date */
#define MSTDN_HTTPSIG_EWINDOW        -8   /* outside the time window */
#define MSTDN_HTTPSIG_ENOTARGET      -9   /* (request-target) not signed */
#define MSTDN_HTTPSIG_ENOHOST        -10  /* host not signed */
#define MSTDN_HTTPSIG_ENODATE        -11  /* date not signed */
#define MSTDN_HTTPSIG_ENODIGEST      -12  /* digest not signed (POST) */
#define MSTDN_HTTPSIG_ENOMETHOD      -13  /* @method, @target-uri (9421) */
#define MSTDN_HTTPSIG_ENOCDIGEST     -14  /* content-digest (9421 POST) */
#define MSTDN_HTTPSIG_ECREATED       -15  /* (created)/(expires) misused */
#define MSTDN_HTTPSIG_EHEADER        -16  /* a signed header absent */
#define MSTDN_HTTPSIG_EDUPLICATE     -17  /* a signed header twice */
#define MSTDN_HTTPSIG_EDIGESTMISSING -18
#define MSTDN_HTTPSIG_EDIGESTALG     -19  /* no SHA-256 offered */
#define MSTDN_HTTPSIG_EDIGEST        -20  /* body digest differs */
#define MSTDN_HTTPSIG_EKEY           -21  /* key unreadable / not RSA */
#define MSTDN_HTTPSIG_EVERIFY        -22  /* the signature does not match */
#define MSTDN_HTTPSIG_ESIGN          -23  /* signing failed */

/* The message Mastodon gives for each result (its {"error": ...} text). */
const char *mstdn_httpsig_error(int rc);

typedef enum {
    MSTDN_HTTPSIG_CAVAGE = 1,
    MSTDN_HTTPSIG_RFC9421
} mstdn_httpsig_kind_e;

typedef enum {
    MSTDN_HTTPSIG_ALG_HS2019 = 1,       /* cavage: absent means hs2019 */
    MSTDN_HTTPSIG_ALG_RSA_SHA256,       /* cavage */
    MSTDN_HTTPSIG_ALG_NONE,             /* RFC 9421 without alg: the key's */
    MSTDN_HTTPSIG_ALG_RSA_V1_5_SHA256   /* RFC 9421 alg="rsa-v1_5-sha256" */
} mstdn_httpsig_alg_e;

typedef struct {
    int       kind;                     /* mstdn_httpsig_kind_e */
    int       algorithm;                /* mstdn_httpsig_alg_e */

    char      key_id[MSTDN_HTTPSIG_KEYID_MAX + 1];
    size_t    key_id_len;

    unsigned char  signature[MSTDN_HTTPSIG_SIG_MAX];
    size_t         signature_len;

    /* what is covered, lower-cased, in order: cavage's headers list
     * ("(request-target)", "host", ...) or RFC 9421's component names
     * ("@method", "content-digest", ...) */
    int       ncomponents;
    char      components[MSTDN_HTTPSIG_COMPONENTS_MAX]
                        [MSTDN_HTTPSIG_NAME_MAX + 1];

    int64_t   created;                  /* -1: absent */
    int64_t   expires;                  /* -1: absent */

    /* RFC 9421: the label, and the "@signature-params" line's value
     * (the inner list and its parameters, serialized) */
    char      label[MSTDN_HTTPSIG_NAME_MAX + 1];
    char      params[MSTDN_HTTPSIG_PARAMS_MAX + 1];
    size_t    params_len;
} mstdn_httpsig_t;

/*
 * A header's value, by lower-case name: 0 with value/len when it occurs
 * once, -1 when absent, -2 when it occurs more than once.
 */
typedef int (*mstdn_httpsig_header_pt)(void *data, const char *name,
    size_t name_len, const char **value, size_t *value_len);

/* The request a signature covers. */
typedef struct {
    const char  *method;        /* "POST", as sent */
    size_t       method_len;
    const char  *scheme;        /* "https" */
    size_t       scheme_len;
    const char  *authority;     /* host[:port], as the signer names us */
    size_t       authority_len;
    const char  *path;          /* "/users/alice/inbox", percent-encoded */
    size_t       path_len;
    const char  *query;         /* without '?'; NULL: no query */
    size_t       query_len;
    /* cavage: (request-target) without the query (older Mastodons sign
     * so; Mastodon checks both) */
    int          target_no_query;
    mstdn_httpsig_header_pt  header;
    void        *data;
} mstdn_httpsig_request_t;

/*
 * The next key="value" (or key=token) of a list as cavage's Signature and
 * Mastodon's Collection-Synchronization header write it: 1 with k, v set
 * (v without its quotes) and *pos past it and its comma, 0 at the end,
 * MSTDN_HTTPSIG_EPARSE.
 */
int mstdn_httpsig_next_param(const char **pos, const char *end,
    const char **k, size_t *klen, const char **v, size_t *vlen);

/* Parses a cavage Signature header value into sig. */
int mstdn_httpsig_parse_cavage(const char *value, size_t len,
    mstdn_httpsig_t *sig);

/* Parses RFC 9421 Signature-Input and Signature: exactly one label,
 * the same in both. */
int mstdn_httpsig_parse_rfc9421(const char *input, size_t input_len,
    const char *signature, size_t signature_len, mstdn_httpsig_t *sig);

/* 1 when sig covers the (lower-case) header or component name. */
int mstdn_httpsig_covers(const mstdn_httpsig_t *sig, const char *name);

/*
 * What this server requires a signature to cover (stricter than
 * Mastodon's minimum, as the project decided): cavage "(request-target)
 * host date" and "digest" for a request with a body (POST); RFC 9421
 * created, "@method", "@target-uri" and "content-digest" for a POST.
 */
int mstdn_httpsig_check_strength(const mstdn_httpsig_t *sig, int post);

/*
 * The signature's creation time: RFC 9421 created; cavage hs2019 with
 * created, else the Date header (an HTTP date).  Then Mastodon's window:
 * created at most an hour ahead of now; expires (or created + 5 minutes,
 * at most created + 12 hours) not more than an hour behind now.
 */
int mstdn_httpsig_check_time(const mstdn_httpsig_t *sig,
    const mstdn_httpsig_request_t *req, int64_t now);

/*
 * The signing string (cavage) or signature base (RFC 9421) into buf,
 * NUL-terminated, its length in *len.  A covered header that is absent
 * or occurs twice is an error.
 */
int mstdn_httpsig_base(const mstdn_httpsig_t *sig,
    const mstdn_httpsig_request_t *req, char *buf, size_t size,
    size_t *len);

/*
 * RSASSA-PKCS1-v1_5 with SHA-256 of base with the public key (PEM
 * "PUBLIC KEY" or "RSA PUBLIC KEY", or DER SubjectPublicKeyInfo):
 * MSTDN_HTTPSIG_OK, _EVERIFY or _EKEY.
 */
int mstdn_httpsig_verify(const char *key, size_t key_len,
    const mstdn_httpsig_t *sig, const char *base, size_t base_len);

/*
 * The same with a key parsed once: OpenSSL 3 takes several times longer to
 * parse a PEM key than to verify with it, so a caller verifying many
 * requests keeps parsed keys.  NULL: unusable (not RSA of 1024 to 8192
 * bits, not PEM or DER).
 */
typedef struct evp_pkey_st  mstdn_httpsig_key_t;

mstdn_httpsig_key_t *mstdn_httpsig_public_key(const char *key, size_t len);
void mstdn_httpsig_key_free(mstdn_httpsig_key_t *key);
int mstdn_httpsig_verify_with(mstdn_httpsig_key_t *key,
    const mstdn_httpsig_t *sig, const char *base, size_t base_len);

/* Digest: "SHA-256=<base64>" of body into out (MSTDN_HTTPSIG_DIGEST_LEN). */
void mstdn_httpsig_digest(const void *body, size_t len, char *out);

/* Content-Digest: "sha-256=:<base64>:" (MSTDN_HTTPSIG_CDIGEST_LEN). */
void mstdn_httpsig_content_digest(const void *body, size_t len, char *out);

/* A received Digest header against body, as Mastodon compares them. */
int mstdn_httpsig_check_digest(const char *value, size_t len,
    const void *body, size_t body_len);

/* A received Content-Digest header (a structured dictionary). */
int mstdn_httpsig_check_content_digest(const char *value, size_t len,
    const void *body, size_t body_len);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") <-> Unix time. */
int mstdn_httpsig_parse_date(const char *value, size_t len, int64_t *t);
void mstdn_httpsig_format_date(int64_t t, char *out);

/*
 * Signing (the worker).  private_key: PEM (PKCS#1 or PKCS#8).
 *
 * cavage: covers the names of "headers" (space-separated, e.g.
 * "(request-target) host date digest"), writes the Signature header
 * value (keyId, algorithm="rsa-sha256", headers, signature) into out.
 */
int mstdn_httpsig_sign_cavage(const char *private_key, size_t key_len,
    const char *key_id, const mstdn_httpsig_request_t *req,
    const char *headers, char *out, size_t size);

/*
 * RFC 9421: label "sig1", covering components (space-separated, e.g.
 * "@method @target-uri content-digest"), created = now; writes the
 * Signature-Input and Signature header values.
 */
int mstdn_httpsig_sign_rfc9421(const char *private_key, size_t key_len,
    const char *key_id, const mstdn_httpsig_request_t *req,
    const char *components, int64_t created, char *input, size_t input_size,
    char *signature, size_t signature_size);

/* Strict base64 (RFC 4648, padded, no whitespace): decoded length or -1. */
long mstdn_base64_decode(const char *in, size_t len, unsigned char *out,
    size_t size);
/* Writes 4 * ceil(len / 3) bytes and a NUL; returns the length. */
size_t mstdn_base64_encode(const unsigned char *in, size_t len, char *out);

#endif
