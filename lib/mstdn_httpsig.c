/*
 * HTTP signatures (draft-cavage-12 and RFC 9421), see mstdn_httpsig.h.
 * Mastodon's references: app/lib/signed_request.rb and
 * app/controllers/concerns/signature_verification.rb.
 */

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "mstdn_httpsig.h"


#define HS_EXPIRES_DEFAULT   300        /* created + 5 minutes */
#define HS_EXPIRES_LIMIT     43200      /* created + 12 hours, at most */
#define HS_CLOCK_SKEW        3600       /* an hour either way */
#define HS_INT_DIGITS        15         /* created/expires: seconds */
#define HS_KEY_MIN_BITS      1024
#define HS_KEY_MAX_BITS      8192

/* base64 of MSTDN_HTTPSIG_SIG_MAX bytes */
#define HS_SIG_B64_MAX       (4 * ((MSTDN_HTTPSIG_SIG_MAX + 2) / 3))


const char *
mstdn_httpsig_error(int rc)
{
    switch (rc) {
    case MSTDN_HTTPSIG_OK:
        return "OK";
    case MSTDN_HTTPSIG_EPARSE:
    case MSTDN_HTTPSIG_ETOOBIG:
    case MSTDN_HTTPSIG_EBASE64:
        return "Error parsing signature parameters";
    case MSTDN_HTTPSIG_EMISSING:
        return "Incompatible request signature. keyId and signature are "
               "required";
    case MSTDN_HTTPSIG_EMISSING9421:
        return "Incompatible request signature. keyid and created are "
               "required";
    case MSTDN_HTTPSIG_EALGORITHM:
        return "Unsupported signature algorithm (only rsa-sha256 and hs2019 "
               "are supported)";
    case MSTDN_HTTPSIG_EDATE:
        return "Invalid Date header";
    case MSTDN_HTTPSIG_EWINDOW:
        return "Signed request date outside acceptable time window";
    case MSTDN_HTTPSIG_ENOTARGET:
        return "Mastodon requires the (request-target) pseudo-header to be "
               "signed";
    case MSTDN_HTTPSIG_ENOHOST:
        return "Mastodon requires the Host header to be signed";
    case MSTDN_HTTPSIG_ENODATE:
        return "Mastodon requires the Date header to be signed";
    case MSTDN_HTTPSIG_ENODIGEST:
        return "Mastodon requires the Digest header to be signed when doing "
               "a POST request";
    case MSTDN_HTTPSIG_ENOMETHOD:
        return "Mastodon requires the @method and @target-uri derived "
               "components to be signed";
    case MSTDN_HTTPSIG_ENOCDIGEST:
        return "Mastodon requires the Content-Digest header to be signed "
               "when doing a POST request";
    case MSTDN_HTTPSIG_ECREATED:
        return "Invalid pseudo-header (created) or (expires)";
    case MSTDN_HTTPSIG_EHEADER:
        return "A signed header is missing";
    case MSTDN_HTTPSIG_EDUPLICATE:
        return "A signed header is given more than once";
    case MSTDN_HTTPSIG_EDIGESTMISSING:
        return "Digest header missing";
    case MSTDN_HTTPSIG_EDIGESTALG:
        return "Mastodon only supports SHA-256 in Digest header";
    case MSTDN_HTTPSIG_EDIGEST:
        return "Invalid Digest value";
    case MSTDN_HTTPSIG_EKEY:
        return "Public key unusable";
    case MSTDN_HTTPSIG_EVERIFY:
        return "Verification failed";
    case MSTDN_HTTPSIG_ESIGN:
        return "Signing failed";
    }

    return "Signature error";
}


/* --- base64 ------------------------------------------------------------- */

static const char  b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static int
b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }

    return -1;
}


long
mstdn_base64_decode(const char *in, size_t len, unsigned char *out,
    size_t size)
{
    int            v[4];
    size_t         i, n, pad;
    unsigned long  w;

    if (len % 4 != 0) {
        return -1;
    }

    pad = 0;
    if (len >= 1 && in[len - 1] == '=') {
        pad++;
        if (len >= 2 && in[len - 2] == '=') {
            pad++;
        }
    }

    if (len / 4 * 3 - pad > size) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i += 4) {
        int  k, last = (i + 4 == len);

        for (k = 0; k < 4; k++) {
            if (last && k >= 4 - (int) pad) {
                v[k] = 0;
                continue;
            }

            v[k] = b64_value((unsigned char) in[i + k]);
            if (v[k] < 0) {
                return -1;
            }
        }

        w = ((unsigned long) v[0] << 18) | ((unsigned long) v[1] << 12)
            | ((unsigned long) v[2] << 6) | (unsigned long) v[3];

        /* strict: the bits a padded group leaves out must be zero */
        if (last && pad == 2 && (w & 0xffff) != 0) {
            return -1;
        }
        if (last && pad == 1 && (w & 0xff) != 0) {
            return -1;
        }

        out[n++] = (unsigned char) (w >> 16);
        if (!(last && pad == 2)) {
            out[n++] = (unsigned char) (w >> 8);
        }
        if (!(last && pad >= 1)) {
            out[n++] = (unsigned char) w;
        }
    }

    return (long) n;
}


size_t
mstdn_base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t         i, n;
    unsigned long  w;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        w = ((unsigned long) in[i] << 16) | ((unsigned long) in[i + 1] << 8)
            | in[i + 2];
        out[n++] = b64_alphabet[(w >> 18) & 63];
        out[n++] = b64_alphabet[(w >> 12) & 63];
        out[n++] = b64_alphabet[(w >> 6) & 63];
        out[n++] = b64_alphabet[w & 63];
    }

    if (len - i == 1) {
        w = (unsigned long) in[i] << 16;
        out[n++] = b64_alphabet[(w >> 18) & 63];
        out[n++] = b64_alphabet[(w >> 12) & 63];
        out[n++] = '=';
        out[n++] = '=';

    } else if (len - i == 2) {
        w = ((unsigned long) in[i] << 16) | ((unsigned long) in[i + 1] << 8);
        out[n++] = b64_alphabet[(w >> 18) & 63];
        out[n++] = b64_alphabet[(w >> 12) & 63];
        out[n++] = b64_alphabet[(w >> 6) & 63];
        out[n++] = '=';
    }

    out[n] = '\0';

    return n;
}


/* --- small parsing helpers ---------------------------------------------- */

static int
hs_tchar(unsigned char c)
{
    /* RFC 9110 token characters */
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c != '\0'
           && strchr("!#$%&'*+.^_`|~-", c) != NULL);
}


static void
hs_ows(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t')) {
        (*p)++;
    }
}


static int
hs_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}


static int
hs_int(const char *s, size_t len, int64_t *v)
{
    size_t   i;
    int64_t  n;

    if (len == 0 || len > HS_INT_DIGITS) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    n = 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return MSTDN_HTTPSIG_EPARSE;
        }
        n = n * 10 + (s[i] - '0');
    }

    *v = n;

    return MSTDN_HTTPSIG_OK;
}


static int
hs_decode_signature(mstdn_httpsig_t *sig, const char *s, size_t len)
{
    long  n;

    if (len > HS_SIG_B64_MAX) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    n = mstdn_base64_decode(s, len, sig->signature, sizeof(sig->signature));
    if (n <= 0) {
        return MSTDN_HTTPSIG_EBASE64;
    }

    sig->signature_len = (size_t) n;

    return MSTDN_HTTPSIG_OK;
}


static int
hs_add_component(mstdn_httpsig_t *sig, const char *name, size_t len)
{
    int     i;
    size_t  k;
    char   *dst;

    if (len == 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    if (len > MSTDN_HTTPSIG_NAME_MAX
        || sig->ncomponents == MSTDN_HTTPSIG_COMPONENTS_MAX)
    {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    dst = sig->components[sig->ncomponents];

    for (k = 0; k < len; k++) {
        char  c = name[k];

        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }
        dst[k] = c;
    }
    dst[len] = '\0';

    for (i = 0; i < sig->ncomponents; i++) {
        if (strcmp(sig->components[i], dst) == 0) {
            return MSTDN_HTTPSIG_EPARSE;        /* listed twice */
        }
    }

    sig->ncomponents++;

    return MSTDN_HTTPSIG_OK;
}


/* a header field name (lower-cased already) or a cavage pseudo-header */
static int
hs_cavage_name_ok(const char *s)
{
    const char  *p;

    if (s[0] == '(') {
        return strcmp(s, "(request-target)") == 0
               || strcmp(s, "(created)") == 0
               || strcmp(s, "(expires)") == 0;
    }

    for (p = s; *p; p++) {
        if (!hs_tchar((unsigned char) *p)) {
            return 0;
        }
    }

    return 1;
}


/* --- cavage ------------------------------------------------------------- */

#define HS_SEEN_KEYID      0x01
#define HS_SEEN_ALGORITHM  0x02
#define HS_SEEN_HEADERS    0x04
#define HS_SEEN_SIGNATURE  0x08
#define HS_SEEN_CREATED    0x10
#define HS_SEEN_EXPIRES    0x20


static void
hs_init(mstdn_httpsig_t *sig, int kind)
{
    sig->kind = kind;
    sig->algorithm = 0;
    sig->key_id[0] = '\0';
    sig->key_id_len = 0;
    sig->signature_len = 0;
    sig->ncomponents = 0;
    sig->created = -1;
    sig->expires = -1;
    sig->label[0] = '\0';
    sig->params[0] = '\0';
    sig->params_len = 0;
}


static int
hs_seen(unsigned *seen, unsigned bit)
{
    if (*seen & bit) {
        return MSTDN_HTTPSIG_EPARSE;            /* duplicated parameter */
    }

    *seen |= bit;

    return MSTDN_HTTPSIG_OK;
}


int
mstdn_httpsig_next_param(const char **pos, const char *end, const char **k,
    size_t *klen, const char **v, size_t *vlen)
{
    const char  *p;

    p = *pos;

    if (p == end) {
        return 0;
    }

    *k = p;
    while (p < end && hs_tchar((unsigned char) *p)) {
        p++;
    }
    *klen = (size_t) (p - *k);

    if (*klen == 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    hs_ows(&p, end);
    if (p == end || *p != '=') {
        return MSTDN_HTTPSIG_EPARSE;
    }
    p++;
    hs_ows(&p, end);

    if (p < end && *p == '"') {
        *v = ++p;
        while (p < end && *p != '"') {
            /* no escapes: nothing legitimate needs them */
            if (*p == '\\' || (unsigned char) *p < 0x20
                || (unsigned char) *p >= 0x7f)
            {
                return MSTDN_HTTPSIG_EPARSE;
            }
            p++;
        }

        if (p == end) {
            return MSTDN_HTTPSIG_EPARSE;
        }

        *vlen = (size_t) (p - *v);
        p++;

    } else {
        *v = p;
        while (p < end && hs_tchar((unsigned char) *p)) {
            p++;
        }
        *vlen = (size_t) (p - *v);

        if (*vlen == 0) {
            return MSTDN_HTTPSIG_EPARSE;
        }
    }

    /* then the end, or a comma and another parameter */
    hs_ows(&p, end);
    if (p < end) {
        if (*p != ',') {
            return MSTDN_HTTPSIG_EPARSE;
        }
        p++;
        hs_ows(&p, end);

        if (p == end) {
            return MSTDN_HTTPSIG_EPARSE;
        }
    }

    *pos = p;

    return 1;
}


int
mstdn_httpsig_parse_cavage(const char *value, size_t len,
    mstdn_httpsig_t *sig)
{
    int          rc, bad_algorithm;
    unsigned     seen;
    const char  *p, *end, *k, *v, *headers;
    size_t       klen, vlen, headers_len;

    hs_init(sig, MSTDN_HTTPSIG_CAVAGE);

    if (len > MSTDN_HTTPSIG_VALUE_MAX) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    p = value;
    end = value + len;
    seen = 0;
    bad_algorithm = 0;
    headers = NULL;
    headers_len = 0;

    hs_ows(&p, end);

    /* old node-http-signature prefixes the value (Mastodon takes it) */
    if (end - p > 10 && memcmp(p, "Signature ", 10) == 0) {
        p += 10;
    }

    if (p == end) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    while ((rc = mstdn_httpsig_next_param(&p, end, &k, &klen, &v, &vlen))
           == 1)
    {
        if (hs_eq(k, klen, "keyId")) {
            if ((rc = hs_seen(&seen, HS_SEEN_KEYID)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            if (vlen > MSTDN_HTTPSIG_KEYID_MAX) {
                return MSTDN_HTTPSIG_ETOOBIG;
            }
            memcpy(sig->key_id, v, vlen);
            sig->key_id[vlen] = '\0';
            sig->key_id_len = vlen;

        } else if (hs_eq(k, klen, "algorithm")) {
            if ((rc = hs_seen(&seen, HS_SEEN_ALGORITHM)) != MSTDN_HTTPSIG_OK)
            {
                return rc;
            }
            if (hs_eq(v, vlen, "rsa-sha256")) {
                sig->algorithm = MSTDN_HTTPSIG_ALG_RSA_SHA256;
            } else if (hs_eq(v, vlen, "hs2019")) {
                sig->algorithm = MSTDN_HTTPSIG_ALG_HS2019;
            } else {
                bad_algorithm = 1;
            }

        } else if (hs_eq(k, klen, "headers")) {
            if ((rc = hs_seen(&seen, HS_SEEN_HEADERS)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            headers = v;
            headers_len = vlen;

        } else if (hs_eq(k, klen, "signature")) {
            if ((rc = hs_seen(&seen, HS_SEEN_SIGNATURE)) != MSTDN_HTTPSIG_OK)
            {
                return rc;
            }
            if (vlen > 0) {
                rc = hs_decode_signature(sig, v, vlen);
                if (rc != MSTDN_HTTPSIG_OK) {
                    return rc;
                }
            }

        } else if (hs_eq(k, klen, "created")) {
            if ((rc = hs_seen(&seen, HS_SEEN_CREATED)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            if ((rc = hs_int(v, vlen, &sig->created)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }

        } else if (hs_eq(k, klen, "expires")) {
            if ((rc = hs_seen(&seen, HS_SEEN_EXPIRES)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            if ((rc = hs_int(v, vlen, &sig->expires)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }

        } else {
            return MSTDN_HTTPSIG_EPARSE;        /* unknown parameter */
        }
    }

    if (rc < 0) {
        return rc;
    }

    if (sig->key_id_len == 0 || sig->signature_len == 0) {
        return MSTDN_HTTPSIG_EMISSING;
    }

    if (bad_algorithm) {
        return MSTDN_HTTPSIG_EALGORITHM;
    }

    if (sig->algorithm == 0) {
        sig->algorithm = MSTDN_HTTPSIG_ALG_HS2019;  /* Mastodon's default */
    }

    if (headers == NULL) {
        headers = sig->algorithm == MSTDN_HTTPSIG_ALG_HS2019 ? "(created)"
                                                             : "date";
        headers_len = strlen(headers);
    }

    p = headers;
    end = headers + headers_len;

    for ( ;; ) {
        while (p < end && *p == ' ') {
            p++;
        }
        if (p == end) {
            break;
        }

        k = p;
        while (p < end && *p != ' ') {
            p++;
        }

        rc = hs_add_component(sig, k, (size_t) (p - k));
        if (rc != MSTDN_HTTPSIG_OK) {
            return rc;
        }

        if (!hs_cavage_name_ok(sig->components[sig->ncomponents - 1])) {
            return MSTDN_HTTPSIG_EPARSE;
        }
    }

    if (sig->ncomponents == 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    /* (created) and (expires): hs2019 only, with their parameter */
    if (mstdn_httpsig_covers(sig, "(created)")
        && (sig->algorithm != MSTDN_HTTPSIG_ALG_HS2019 || sig->created < 0))
    {
        return MSTDN_HTTPSIG_ECREATED;
    }

    if (mstdn_httpsig_covers(sig, "(expires)")
        && (sig->algorithm != MSTDN_HTTPSIG_ALG_HS2019 || sig->expires < 0))
    {
        return MSTDN_HTTPSIG_ECREATED;
    }

    return MSTDN_HTTPSIG_OK;
}


/* --- RFC 9421 ----------------------------------------------------------- */

static const char  *hs_derived[] = {
    "@method", "@target-uri", "@authority", "@scheme", "@request-target",
    "@path", "@query", NULL
};


/* sf-key: lcalpha / "*" then lcalpha / DIGIT / "_" / "-" / "." / "*" */
static int
hs_sf_key(const char **p, const char *end, const char **key, size_t *len)
{
    const char  *s = *p;

    if (s == end || !((*s >= 'a' && *s <= 'z') || *s == '*')) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    while (s < end && ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9')
                       || *s == '_' || *s == '-' || *s == '.' || *s == '*'))
    {
        s++;
    }

    *key = *p;
    *len = (size_t) (s - *p);
    *p = s;

    return *len > MSTDN_HTTPSIG_NAME_MAX ? MSTDN_HTTPSIG_ETOOBIG
                                         : MSTDN_HTTPSIG_OK;
}


/* sf-string without escapes (nothing legitimate here needs them) */
static int
hs_sf_string(const char **p, const char *end, const char **s, size_t *len)
{
    const char  *q = *p;

    if (q == end || *q != '"') {
        return MSTDN_HTTPSIG_EPARSE;
    }

    *s = ++q;

    while (q < end && *q != '"') {
        if (*q == '\\' || (unsigned char) *q < 0x20
            || (unsigned char) *q >= 0x7f)
        {
            return MSTDN_HTTPSIG_EPARSE;
        }
        q++;
    }

    if (q == end) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    *len = (size_t) (q - *s);
    *p = q + 1;

    return MSTDN_HTTPSIG_OK;
}


static int
hs_params_append(mstdn_httpsig_t *sig, const char *s, size_t len)
{
    if (sig->params_len + len > MSTDN_HTTPSIG_PARAMS_MAX) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    memcpy(sig->params + sig->params_len, s, len);
    sig->params_len += len;
    sig->params[sig->params_len] = '\0';

    return MSTDN_HTTPSIG_OK;
}


static int
hs_component_ok(const char *name)
{
    int          i;
    const char  *p;

    if (name[0] == '@') {
        for (i = 0; hs_derived[i]; i++) {
            if (strcmp(name, hs_derived[i]) == 0) {
                return 1;
            }
        }
        return 0;
    }

    /* a field name, lower case as RFC 9421 requires */
    for (p = name; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || !hs_tchar((unsigned char) *p)) {
            return 0;
        }
    }

    return 1;
}


/* "(...)" and ";name=value"s after "label=" of Signature-Input */
static int
hs_parse_inner_list(const char **pp, const char *end, mstdn_httpsig_t *sig,
    int *bad_algorithm)
{
    int          rc, first;
    char         num[32];
    unsigned     seen;
    const char  *p, *k, *v;
    size_t       klen, vlen;

    p = *pp;

    if (p == end || *p != '(') {
        return MSTDN_HTTPSIG_EPARSE;
    }
    p++;

    if ((rc = hs_params_append(sig, "(", 1)) != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    first = 1;

    for ( ;; ) {
        while (p < end && *p == ' ') {
            p++;
        }

        if (p < end && *p == ')') {
            p++;
            break;
        }

        if (!first && p[-1] != ' ') {
            return MSTDN_HTTPSIG_EPARSE;        /* items need a space */
        }

        if ((rc = hs_sf_string(&p, end, &v, &vlen)) != MSTDN_HTTPSIG_OK) {
            return rc;
        }

        /* component parameters (;sf, ;key, ;req, ;bs) are not taken */
        if (p < end && *p == ';') {
            return MSTDN_HTTPSIG_EPARSE;
        }

        if ((rc = hs_add_component(sig, v, vlen)) != MSTDN_HTTPSIG_OK) {
            return rc;
        }

        if (memcmp(sig->components[sig->ncomponents - 1], v, vlen) != 0
            || !hs_component_ok(sig->components[sig->ncomponents - 1]))
        {
            return MSTDN_HTTPSIG_EPARSE;
        }

        if ((!first && (rc = hs_params_append(sig, " ", 1)))
            || (rc = hs_params_append(sig, "\"", 1))
            || (rc = hs_params_append(sig, v, vlen))
            || (rc = hs_params_append(sig, "\"", 1)))
        {
            return rc;
        }

        first = 0;
    }

    if ((rc = hs_params_append(sig, ")", 1)) != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    seen = 0;

    while (p < end && *p == ';') {
        p++;

        if ((rc = hs_sf_key(&p, end, &k, &klen)) != MSTDN_HTTPSIG_OK) {
            return rc;
        }

        if (p == end || *p != '=') {
            return MSTDN_HTTPSIG_EPARSE;        /* no boolean parameters */
        }
        p++;

        if ((rc = hs_params_append(sig, ";", 1))
            || (rc = hs_params_append(sig, k, klen))
            || (rc = hs_params_append(sig, "=", 1)))
        {
            return rc;
        }

        if (hs_eq(k, klen, "created") || hs_eq(k, klen, "expires")) {
            int64_t  *t;

            t = k[0] == 'c' ? &sig->created : &sig->expires;

            rc = hs_seen(&seen, k[0] == 'c' ? HS_SEEN_CREATED
                                            : HS_SEEN_EXPIRES);
            if (rc != MSTDN_HTTPSIG_OK) {
                return rc;
            }

            v = p;
            while (p < end && *p >= '0' && *p <= '9') {
                p++;
            }

            if ((rc = hs_int(v, (size_t) (p - v), t)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }

            /* serialized as an sf-integer is: no leading zeros */
            snprintf(num, sizeof(num), "%lld", (long long) *t);
            if ((rc = hs_params_append(sig, num, strlen(num)))) {
                return rc;
            }

            continue;
        }

        if ((rc = hs_sf_string(&p, end, &v, &vlen)) != MSTDN_HTTPSIG_OK) {
            return rc;
        }

        if (hs_eq(k, klen, "keyid")) {
            if ((rc = hs_seen(&seen, HS_SEEN_KEYID)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            if (vlen > MSTDN_HTTPSIG_KEYID_MAX) {
                return MSTDN_HTTPSIG_ETOOBIG;
            }
            memcpy(sig->key_id, v, vlen);
            sig->key_id[vlen] = '\0';
            sig->key_id_len = vlen;

        } else if (hs_eq(k, klen, "alg")) {
            if ((rc = hs_seen(&seen, HS_SEEN_ALGORITHM)) != MSTDN_HTTPSIG_OK)
            {
                return rc;
            }
            if (hs_eq(v, vlen, "rsa-v1_5-sha256")) {
                sig->algorithm = MSTDN_HTTPSIG_ALG_RSA_V1_5_SHA256;
            } else {
                *bad_algorithm = 1;
            }

        } else if (hs_eq(k, klen, "nonce")) {
            if ((rc = hs_seen(&seen, HS_SEEN_HEADERS)) != MSTDN_HTTPSIG_OK) {
                return rc;
            }

        } else if (hs_eq(k, klen, "tag")) {
            if ((rc = hs_seen(&seen, HS_SEEN_SIGNATURE)) != MSTDN_HTTPSIG_OK)
            {
                return rc;
            }

        } else {
            return MSTDN_HTTPSIG_EPARSE;        /* unknown parameter */
        }

        if ((rc = hs_params_append(sig, "\"", 1))
            || (rc = hs_params_append(sig, v, vlen))
            || (rc = hs_params_append(sig, "\"", 1)))
        {
            return rc;
        }
    }

    *pp = p;

    return MSTDN_HTTPSIG_OK;
}


int
mstdn_httpsig_parse_rfc9421(const char *input, size_t input_len,
    const char *signature, size_t signature_len, mstdn_httpsig_t *sig)
{
    int          rc, bad_algorithm;
    const char  *p, *end, *k, *v;
    size_t       klen;

    hs_init(sig, MSTDN_HTTPSIG_RFC9421);

    if (input_len > MSTDN_HTTPSIG_VALUE_MAX
        || signature_len > MSTDN_HTTPSIG_VALUE_MAX)
    {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    /* Signature-Input: one member, label=(...);params */
    p = input;
    end = input + input_len;
    bad_algorithm = 0;

    hs_ows(&p, end);

    if ((rc = hs_sf_key(&p, end, &k, &klen)) != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    memcpy(sig->label, k, klen);
    sig->label[klen] = '\0';

    if (p == end || *p != '=') {
        return MSTDN_HTTPSIG_EPARSE;
    }
    p++;

    rc = hs_parse_inner_list(&p, end, sig, &bad_algorithm);
    if (rc != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    hs_ows(&p, end);
    if (p != end) {
        return MSTDN_HTTPSIG_EPARSE;            /* a second label, or junk */
    }

    /* Signature: one member, the same label = :base64: */
    p = signature;
    end = signature + signature_len;

    hs_ows(&p, end);

    if ((rc = hs_sf_key(&p, end, &k, &klen)) != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    if (!hs_eq(k, klen, sig->label) || p == end || *p != '=') {
        return MSTDN_HTTPSIG_EPARSE;
    }
    p++;

    if (p == end || *p != ':') {
        return MSTDN_HTTPSIG_EPARSE;
    }

    v = ++p;
    while (p < end && *p != ':') {
        p++;
    }

    if (p == end) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    if (p > v) {
        rc = hs_decode_signature(sig, v, (size_t) (p - v));
        if (rc != MSTDN_HTTPSIG_OK) {
            return rc;
        }
    }

    p++;
    hs_ows(&p, end);
    if (p != end) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    if (sig->key_id_len == 0 || sig->created < 0) {
        return MSTDN_HTTPSIG_EMISSING9421;
    }

    if (sig->signature_len == 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    if (bad_algorithm) {
        return MSTDN_HTTPSIG_EALGORITHM;
    }

    if (sig->algorithm == 0) {
        sig->algorithm = MSTDN_HTTPSIG_ALG_NONE;
    }

    if (sig->ncomponents == 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    return MSTDN_HTTPSIG_OK;
}


int
mstdn_httpsig_covers(const mstdn_httpsig_t *sig, const char *name)
{
    int  i;

    for (i = 0; i < sig->ncomponents; i++) {
        if (strcmp(sig->components[i], name) == 0) {
            return 1;
        }
    }

    return 0;
}


int
mstdn_httpsig_check_strength(const mstdn_httpsig_t *sig, int post)
{
    if (sig->kind == MSTDN_HTTPSIG_RFC9421) {
        if (sig->created < 0) {
            return MSTDN_HTTPSIG_EMISSING9421;
        }
        if (!mstdn_httpsig_covers(sig, "@method")
            || !mstdn_httpsig_covers(sig, "@target-uri"))
        {
            return MSTDN_HTTPSIG_ENOMETHOD;
        }
        if (post && !mstdn_httpsig_covers(sig, "content-digest")) {
            return MSTDN_HTTPSIG_ENOCDIGEST;
        }
        return MSTDN_HTTPSIG_OK;
    }

    if (!mstdn_httpsig_covers(sig, "date")) {
        return MSTDN_HTTPSIG_ENODATE;
    }
    if (!mstdn_httpsig_covers(sig, "(request-target)")) {
        return MSTDN_HTTPSIG_ENOTARGET;
    }
    if (!mstdn_httpsig_covers(sig, "host")) {
        return MSTDN_HTTPSIG_ENOHOST;
    }
    if (post && !mstdn_httpsig_covers(sig, "digest")) {
        return MSTDN_HTTPSIG_ENODIGEST;
    }

    return MSTDN_HTTPSIG_OK;
}


/* --- dates -------------------------------------------------------------- */

static const char  *hs_days[] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};
static const char  *hs_months[] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
};


/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant) */
static int64_t
hs_days_from_civil(int64_t y, int m, int d)
{
    int64_t   era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static int
hs_digits(const char *s, int n, int *v)
{
    int  i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        *v = *v * 10 + (s[i] - '0');
    }

    return 0;
}


int
mstdn_httpsig_parse_date(const char *s, size_t len, int64_t *t)
{
    int  i, day, mon, year, hh, mm, ss, wday;
    static const int  mdays[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    /* "Sun, 06 Nov 1994 08:49:37 GMT" */
    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' '
        || s[11] != ' ' || s[16] != ' ' || s[19] != ':' || s[22] != ':'
        || memcmp(s + 25, " GMT", 4) != 0)
    {
        return MSTDN_HTTPSIG_EDATE;
    }

    wday = -1;
    for (i = 0; i < 7; i++) {
        if (memcmp(s, hs_days[i], 3) == 0) {
            wday = i;
        }
    }

    mon = -1;
    for (i = 0; i < 12; i++) {
        if (memcmp(s + 8, hs_months[i], 3) == 0) {
            mon = i;
        }
    }

    if (wday < 0 || mon < 0
        || hs_digits(s + 5, 2, &day) || hs_digits(s + 12, 4, &year)
        || hs_digits(s + 17, 2, &hh) || hs_digits(s + 20, 2, &mm)
        || hs_digits(s + 23, 2, &ss)
        || day < 1 || day > mdays[mon] || hh > 23 || mm > 59 || ss > 59)
    {
        return MSTDN_HTTPSIG_EDATE;
    }

    if (mon == 1 && day == 29
        && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
    {
        return MSTDN_HTTPSIG_EDATE;
    }

    *t = hs_days_from_civil(year, mon + 1, day) * 86400
         + hh * 3600 + mm * 60 + ss;

    return MSTDN_HTTPSIG_OK;
}


void
mstdn_httpsig_format_date(int64_t t, char *out)
{
    int64_t  days, z, era, doe, yoe, y, doy, mp, d, m, secs, wday;

    days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
    secs = t - days * 86400;

    /* civil_from_days (Howard Hinnant) */
    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;

    wday = (days % 7 + 7 + 4) % 7;             /* 1970-01-01: Thursday */

    snprintf(out, MSTDN_HTTPSIG_DATE_LEN, "%s, %02d %s %04d %02d:%02d:%02d GMT",
             hs_days[wday], (int) d, hs_months[m - 1], (int) y,
             (int) (secs / 3600), (int) (secs / 60 % 60), (int) (secs % 60));
}


int
mstdn_httpsig_check_time(const mstdn_httpsig_t *sig,
    const mstdn_httpsig_request_t *req, int64_t now)
{
    int          rc;
    int64_t      created, expires;
    const char  *v;
    size_t       vlen;

    if (sig->kind == MSTDN_HTTPSIG_RFC9421
        || (sig->algorithm == MSTDN_HTTPSIG_ALG_HS2019 && sig->created >= 0))
    {
        created = sig->created;

        if (created < 0) {
            return MSTDN_HTTPSIG_EMISSING9421;
        }

    } else {
        rc = req->header(req->data, "date", 4, &v, &vlen);
        if (rc == -1) {
            return MSTDN_HTTPSIG_EHEADER;
        }
        if (rc != 0) {
            return MSTDN_HTTPSIG_EDUPLICATE;
        }

        rc = mstdn_httpsig_parse_date(v, vlen, &created);
        if (rc != MSTDN_HTTPSIG_OK) {
            return rc;
        }
    }

    expires = sig->expires >= 0 ? sig->expires : created + HS_EXPIRES_DEFAULT;
    if (expires > created + HS_EXPIRES_LIMIT) {
        expires = created + HS_EXPIRES_LIMIT;
    }

    if (created > now + HS_CLOCK_SKEW || now > expires + HS_CLOCK_SKEW) {
        return MSTDN_HTTPSIG_EWINDOW;
    }

    return MSTDN_HTTPSIG_OK;
}


/* --- the signing string / signature base -------------------------------- */

typedef struct {
    char    *buf;
    size_t   size;
    size_t   len;
    int      full;
} hs_out_t;


static void
hs_put(hs_out_t *o, const char *s, size_t len)
{
    if (o->full || o->len + len >= o->size) {
        o->full = 1;
        return;
    }

    memcpy(o->buf + o->len, s, len);
    o->len += len;
}


static void
hs_puts(hs_out_t *o, const char *s)
{
    hs_put(o, s, strlen(s));
}


static void
hs_put_lower(hs_out_t *o, const char *s, size_t len)
{
    size_t  i;
    char    c;

    for (i = 0; i < len; i++) {
        c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c = (char) (c - 'A' + 'a');
        }
        hs_put(o, &c, 1);
    }
}


static int
hs_header(const mstdn_httpsig_request_t *req, const char *name,
    const char **v, size_t *vlen)
{
    int  rc;

    rc = req->header(req->data, name, strlen(name), v, vlen);
    if (rc == -1) {
        return MSTDN_HTTPSIG_EHEADER;
    }
    if (rc != 0) {
        return MSTDN_HTTPSIG_EDUPLICATE;
    }

    return MSTDN_HTTPSIG_OK;
}


static int
hs_base_cavage(const mstdn_httpsig_t *sig, const mstdn_httpsig_request_t *req,
    hs_out_t *o)
{
    int          i, rc;
    char         num[32];
    const char  *name, *v;
    size_t       vlen;

    for (i = 0; i < sig->ncomponents; i++) {
        name = sig->components[i];

        if (i > 0) {
            hs_put(o, "\n", 1);
        }

        hs_puts(o, name);
        hs_put(o, ": ", 2);

        if (strcmp(name, "(request-target)") == 0) {
            hs_put_lower(o, req->method, req->method_len);
            hs_put(o, " ", 1);
            hs_put(o, req->path, req->path_len);

            if (req->query && !req->target_no_query) {
                hs_put(o, "?", 1);
                hs_put(o, req->query, req->query_len);
            }

        } else if (strcmp(name, "(created)") == 0
                   || strcmp(name, "(expires)") == 0)
        {
            snprintf(num, sizeof(num), "%lld", (long long)
                     (name[2] == 'r' ? sig->created : sig->expires));
            hs_puts(o, num);

        } else {
            rc = hs_header(req, name, &v, &vlen);
            if (rc != MSTDN_HTTPSIG_OK) {
                return rc;
            }
            hs_put(o, v, vlen);
        }
    }

    return MSTDN_HTTPSIG_OK;
}


static int
hs_base_rfc9421(const mstdn_httpsig_t *sig,
    const mstdn_httpsig_request_t *req, hs_out_t *o)
{
    int          i, rc;
    const char  *name, *v;
    size_t       vlen;

    for (i = 0; i < sig->ncomponents; i++) {
        name = sig->components[i];

        hs_put(o, "\"", 1);
        hs_puts(o, name);
        hs_put(o, "\": ", 3);

        if (strcmp(name, "@method") == 0) {
            hs_put(o, req->method, req->method_len);

        } else if (strcmp(name, "@target-uri") == 0) {
            hs_put_lower(o, req->scheme, req->scheme_len);
            hs_put(o, "://", 3);
            hs_put_lower(o, req->authority, req->authority_len);
            hs_put(o, req->path, req->path_len);
            if (req->query) {
                hs_put(o, "?", 1);
                hs_put(o, req->query, req->query_len);
            }

        } else if (strcmp(name, "@authority") == 0) {
            hs_put_lower(o, req->authority, req->authority_len);

        } else if (strcmp(name, "@scheme") == 0) {
            hs_put_lower(o, req->scheme, req->scheme_len);

        } else if (strcmp(name, "@request-target") == 0) {
            hs_put(o, req->path, req->path_len);
            if (req->query) {
                hs_put(o, "?", 1);
                hs_put(o, req->query, req->query_len);
            }

        } else if (strcmp(name, "@path") == 0) {
            hs_put(o, req->path, req->path_len);

        } else if (strcmp(name, "@query") == 0) {
            hs_put(o, "?", 1);
            if (req->query) {
                hs_put(o, req->query, req->query_len);
            }

        } else if (name[0] == '@') {
            return MSTDN_HTTPSIG_EPARSE;

        } else {
            rc = hs_header(req, name, &v, &vlen);
            if (rc != MSTDN_HTTPSIG_OK) {
                return rc;
            }

            /* the field value without leading and trailing whitespace */
            while (vlen && (*v == ' ' || *v == '\t')) {
                v++;
                vlen--;
            }
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) {
                vlen--;
            }
            hs_put(o, v, vlen);
        }

        hs_put(o, "\n", 1);
    }

    hs_puts(o, "\"@signature-params\": ");
    hs_put(o, sig->params, sig->params_len);

    return MSTDN_HTTPSIG_OK;
}


int
mstdn_httpsig_base(const mstdn_httpsig_t *sig,
    const mstdn_httpsig_request_t *req, char *buf, size_t size,
    size_t *len)
{
    int       rc;
    hs_out_t  o;

    o.buf = buf;
    o.size = size;
    o.len = 0;
    o.full = 0;

    rc = sig->kind == MSTDN_HTTPSIG_RFC9421 ? hs_base_rfc9421(sig, req, &o)
                                            : hs_base_cavage(sig, req, &o);
    if (rc != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    if (o.full) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    buf[o.len] = '\0';
    *len = o.len;

    return MSTDN_HTTPSIG_OK;
}


/* --- digests ------------------------------------------------------------ */

static void
hs_sha256_b64(const void *body, size_t len, char *out)
{
    unsigned char  md[32];
    unsigned int   mdlen;

    EVP_Digest(body, len, md, &mdlen, EVP_sha256(), NULL);
    mstdn_base64_encode(md, 32, out);
}


void
mstdn_httpsig_digest(const void *body, size_t len, char *out)
{
    memcpy(out, "SHA-256=", 8);
    hs_sha256_b64(body, len, out + 8);
}


void
mstdn_httpsig_content_digest(const void *body, size_t len, char *out)
{
    memcpy(out, "sha-256=:", 9);
    hs_sha256_b64(body, len, out + 9);
    memcpy(out + 9 + 44, ":", 2);
}


int
mstdn_httpsig_check_digest(const char *value, size_t len, const void *body,
    size_t body_len)
{
    char         computed[45];
    const char  *p, *end, *item, *eq;

    if (len > MSTDN_HTTPSIG_VALUE_MAX) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    /* as Mastodon: split on ",", each on the first "=", the algorithm
     * compared case-insensitively, the first sha-256 counts */
    p = value;
    end = value + len;

    while (p <= end) {
        item = p;
        while (p < end && *p != ',') {
            p++;
        }

        eq = memchr(item, '=', (size_t) (p - item));

        if (eq && eq - item == 7 && strncasecmp(item, "sha-256", 7) == 0) {
            hs_sha256_b64(body, body_len, computed);

            if ((size_t) (p - eq - 1) == 44
                && memcmp(eq + 1, computed, 44) == 0)
            {
                return MSTDN_HTTPSIG_OK;
            }

            return MSTDN_HTTPSIG_EDIGEST;
        }

        p++;
    }

    return MSTDN_HTTPSIG_EDIGESTALG;
}


int
mstdn_httpsig_check_content_digest(const char *value, size_t len,
    const void *body, size_t body_len)
{
    int             rc;
    long            n;
    const char     *p, *end, *k, *v;
    size_t          klen;
    unsigned char   given[64], md[32];
    unsigned int    mdlen;

    if (len > MSTDN_HTTPSIG_VALUE_MAX) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    /* a structured dictionary: key=:bytes: (or another bare item) */
    p = value;
    end = value + len;
    hs_ows(&p, end);

    for ( ;; ) {
        if ((rc = hs_sf_key(&p, end, &k, &klen)) != MSTDN_HTTPSIG_OK) {
            return MSTDN_HTTPSIG_EPARSE;
        }

        if (p == end || *p != '=') {
            return MSTDN_HTTPSIG_EPARSE;
        }
        p++;

        if (p < end && *p == ':') {
            v = ++p;
            while (p < end && *p != ':') {
                p++;
            }
            if (p == end) {
                return MSTDN_HTTPSIG_EPARSE;
            }

            if (hs_eq(k, klen, "sha-256")) {
                n = mstdn_base64_decode(v, (size_t) (p - v), given,
                                        sizeof(given));
                if (n < 0) {
                    return MSTDN_HTTPSIG_EPARSE;
                }

                EVP_Digest(body, body_len, md, &mdlen, EVP_sha256(), NULL);

                return n == 32 && memcmp(given, md, 32) == 0
                       ? MSTDN_HTTPSIG_OK : MSTDN_HTTPSIG_EDIGEST;
            }
            p++;

        } else if (p < end && *p == '"') {
            if (hs_sf_string(&p, end, &v, &klen) != MSTDN_HTTPSIG_OK) {
                return MSTDN_HTTPSIG_EPARSE;
            }

        } else {
            v = p;
            while (p < end && hs_tchar((unsigned char) *p)) {
                p++;
            }
            if (p == v) {
                return MSTDN_HTTPSIG_EPARSE;
            }
        }

        hs_ows(&p, end);
        if (p == end) {
            break;
        }
        if (*p != ',') {
            return MSTDN_HTTPSIG_EPARSE;
        }
        p++;
        hs_ows(&p, end);
    }

    return MSTDN_HTTPSIG_EDIGESTALG;
}


/* --- keys, verifying and signing ---------------------------------------- */

static EVP_PKEY *
hs_public_key(const char *key, size_t len)
{
    BIO                 *bio;
    EVP_PKEY            *pkey;
    OSSL_DECODER_CTX    *dctx;
    const unsigned char *der;
    int                  bits;

    pkey = NULL;

    if (len > 11 && memcmp(key, "-----BEGIN ", 11) == 0) {
        if (len > 26 && memcmp(key + 11, "PUBLIC KEY-----", 15) == 0) {
            bio = BIO_new_mem_buf(key, (int) len);
            if (bio) {
                pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
                BIO_free(bio);
            }

        } else {
            /* "RSA PUBLIC KEY" (PKCS#1) and anything else PEM */
            der = (const unsigned char *) key;
            dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, "RSA",
                                                 EVP_PKEY_PUBLIC_KEY, NULL,
                                                 NULL);
            if (dctx) {
                OSSL_DECODER_from_data(dctx, &der, &len);
                OSSL_DECODER_CTX_free(dctx);
            }
        }

    } else {
        der = (const unsigned char *) key;
        pkey = d2i_PUBKEY(NULL, &der, (long) len);
    }

    if (pkey == NULL) {
        return NULL;
    }

    bits = EVP_PKEY_get_bits(pkey);

    if (EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || bits < HS_KEY_MIN_BITS || bits > HS_KEY_MAX_BITS)
    {
        EVP_PKEY_free(pkey);
        return NULL;
    }

    return pkey;
}


mstdn_httpsig_key_t *
mstdn_httpsig_public_key(const char *key, size_t len)
{
    EVP_PKEY  *pkey;

    pkey = hs_public_key(key, len);
    ERR_clear_error();

    return pkey;
}


void
mstdn_httpsig_key_free(mstdn_httpsig_key_t *key)
{
    EVP_PKEY_free(key);
}


int
mstdn_httpsig_verify_with(mstdn_httpsig_key_t *key,
    const mstdn_httpsig_t *sig, const char *base, size_t base_len)
{
    int          rc;
    EVP_MD_CTX  *md;

    rc = MSTDN_HTTPSIG_EVERIFY;

    md = EVP_MD_CTX_new();

    /* an RSA key's default padding is PKCS#1 v1.5 */
    if (md
        && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key) == 1
        && EVP_DigestVerify(md, sig->signature, sig->signature_len,
                            (const unsigned char *) base, base_len) == 1)
    {
        rc = MSTDN_HTTPSIG_OK;
    }

    EVP_MD_CTX_free(md);
    ERR_clear_error();

    return rc;
}


int
mstdn_httpsig_verify(const char *key, size_t key_len,
    const mstdn_httpsig_t *sig, const char *base, size_t base_len)
{
    int        rc;
    EVP_PKEY  *pkey;

    pkey = mstdn_httpsig_public_key(key, key_len);
    if (pkey == NULL) {
        return MSTDN_HTTPSIG_EKEY;
    }

    rc = mstdn_httpsig_verify_with(pkey, sig, base, base_len);

    EVP_PKEY_free(pkey);

    return rc;
}


static int
hs_sign(const char *private_key, size_t key_len, const char *base,
    size_t base_len, unsigned char *out, size_t *out_len)
{
    int          rc;
    BIO         *bio;
    EVP_PKEY    *pkey;
    EVP_MD_CTX  *md;

    bio = BIO_new_mem_buf(private_key, (int) key_len);
    if (bio == NULL) {
        return MSTDN_HTTPSIG_ESIGN;
    }

    pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA
        || EVP_PKEY_get_size(pkey) > MSTDN_HTTPSIG_SIG_MAX)
    {
        EVP_PKEY_free(pkey);
        ERR_clear_error();
        return MSTDN_HTTPSIG_EKEY;
    }

    rc = MSTDN_HTTPSIG_ESIGN;
    *out_len = MSTDN_HTTPSIG_SIG_MAX;

    md = EVP_MD_CTX_new();

    if (md
        && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1
        && EVP_DigestSign(md, out, out_len, (const unsigned char *) base,
                          base_len) == 1)
    {
        rc = MSTDN_HTTPSIG_OK;
    }

    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    ERR_clear_error();

    return rc;
}


/* a key id written into a quoted string: no quote, backslash, control */
static int
hs_key_id_ok(const char *key_id)
{
    const char  *p;
    size_t       len = strlen(key_id);

    if (len == 0 || len > MSTDN_HTTPSIG_KEYID_MAX) {
        return 0;
    }

    for (p = key_id; *p; p++) {
        if (*p == '"' || *p == '\\' || (unsigned char) *p < 0x20
            || (unsigned char) *p >= 0x7f)
        {
            return 0;
        }
    }

    return 1;
}


static int
hs_components(mstdn_httpsig_t *sig, const char *list)
{
    int          rc;
    const char  *p, *k;

    for (p = list; ; ) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }

        k = p;
        while (*p && *p != ' ') {
            p++;
        }

        rc = hs_add_component(sig, k, (size_t) (p - k));
        if (rc != MSTDN_HTTPSIG_OK) {
            return rc;
        }
    }

    return sig->ncomponents ? MSTDN_HTTPSIG_OK : MSTDN_HTTPSIG_EPARSE;
}


int
mstdn_httpsig_sign_cavage(const char *private_key, size_t key_len,
    const char *key_id, const mstdn_httpsig_request_t *req,
    const char *headers, char *out, size_t size)
{
    int               rc, n;
    char              base[MSTDN_HTTPSIG_BASE_MAX];
    char              b64[HS_SIG_B64_MAX + 1];
    size_t            base_len, sig_len;
    unsigned char     signature[MSTDN_HTTPSIG_SIG_MAX];
    mstdn_httpsig_t  *sig;

    if (!hs_key_id_ok(key_id)) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    sig = OPENSSL_malloc(sizeof(mstdn_httpsig_t));
    if (sig == NULL) {
        return MSTDN_HTTPSIG_ESIGN;
    }

    hs_init(sig, MSTDN_HTTPSIG_CAVAGE);
    sig->algorithm = MSTDN_HTTPSIG_ALG_RSA_SHA256;

    rc = hs_components(sig, headers);
    if (rc == MSTDN_HTTPSIG_OK) {
        rc = mstdn_httpsig_base(sig, req, base, sizeof(base), &base_len);
    }

    OPENSSL_free(sig);

    if (rc != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    rc = hs_sign(private_key, key_len, base, base_len, signature, &sig_len);
    if (rc != MSTDN_HTTPSIG_OK) {
        return rc;
    }

    mstdn_base64_encode(signature, sig_len, b64);

    n = snprintf(out, size,
                 "keyId=\"%s\",algorithm=\"rsa-sha256\",headers=\"%s\","
                 "signature=\"%s\"", key_id, headers, b64);

    if (n < 0 || (size_t) n >= size) {
        return MSTDN_HTTPSIG_ETOOBIG;
    }

    return MSTDN_HTTPSIG_OK;
}


int
mstdn_httpsig_sign_rfc9421(const char *private_key, size_t key_len,
    const char *key_id, const mstdn_httpsig_request_t *req,
    const char *components, int64_t created, char *input, size_t input_size,
    char *signature, size_t signature_size)
{
    int               rc, i, n;
    char              base[MSTDN_HTTPSIG_BASE_MAX];
    char              b64[HS_SIG_B64_MAX + 1];
    size_t            base_len, sig_len;
    unsigned char     bytes[MSTDN_HTTPSIG_SIG_MAX];
    hs_out_t          o;
    mstdn_httpsig_t  *sig;

    if (!hs_key_id_ok(key_id) || created < 0) {
        return MSTDN_HTTPSIG_EPARSE;
    }

    sig = OPENSSL_malloc(sizeof(mstdn_httpsig_t));
    if (sig == NULL) {
        return MSTDN_HTTPSIG_ESIGN;
    }

    hs_init(sig, MSTDN_HTTPSIG_RFC9421);
    sig->algorithm = MSTDN_HTTPSIG_ALG_NONE;
    sig->created = created;

    rc = hs_components(sig, components);

    for (i = 0; rc == MSTDN_HTTPSIG_OK && i < sig->ncomponents; i++) {
        if (!hs_component_ok(sig->components[i])) {
            rc = MSTDN_HTTPSIG_EPARSE;
        }
    }

    if (rc == MSTDN_HTTPSIG_OK) {
        /* ("c1" "c2");created=N;keyid="..." as Mastodon writes it */
        o.buf = sig->params;
        o.size = sizeof(sig->params);
        o.len = 0;
        o.full = 0;

        hs_put(&o, "(", 1);
        for (i = 0; i < sig->ncomponents; i++) {
            hs_puts(&o, i ? " \"" : "\"");
            hs_puts(&o, sig->components[i]);
            hs_put(&o, "\"", 1);
        }
        n = snprintf(b64, sizeof(b64), ");created=%lld;keyid=\"",
                     (long long) created);
        hs_put(&o, b64, (size_t) n);
        hs_puts(&o, key_id);
        hs_put(&o, "\"", 1);

        if (o.full) {
            rc = MSTDN_HTTPSIG_ETOOBIG;
        } else {
            sig->params[o.len] = '\0';
            sig->params_len = o.len;
        }
    }

    if (rc == MSTDN_HTTPSIG_OK) {
        rc = mstdn_httpsig_base(sig, req, base, sizeof(base), &base_len);
    }

    if (rc == MSTDN_HTTPSIG_OK) {
        rc = hs_sign(private_key, key_len, base, base_len, bytes, &sig_len);
    }

    if (rc == MSTDN_HTTPSIG_OK) {
        mstdn_base64_encode(bytes, sig_len, b64);

        n = snprintf(input, input_size, "sig1=%s", sig->params);
        if (n < 0 || (size_t) n >= input_size) {
            rc = MSTDN_HTTPSIG_ETOOBIG;
        }

        n = snprintf(signature, signature_size, "sig1=:%s:", b64);
        if (n < 0 || (size_t) n >= signature_size) {
            rc = MSTDN_HTTPSIG_ETOOBIG;
        }
    }

    OPENSSL_free(sig);

    return rc;
}
