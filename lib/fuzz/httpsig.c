/*
 * libFuzzer: lib/mstdn_httpsig's parsers, which face every remote server.
 * The first byte picks the parser: a cavage Signature, an RFC 9421 pair
 * (Signature-Input and Signature split at the first newline), Digest and
 * Content-Digest, an HTTP date.  What a parsed signature promises is
 * checked, and its signing string is built from a fixed request.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_httpsig.h"


static int
fuzz_header(void *data, const char *name, size_t len, const char **v,
    size_t *vlen)
{
    if (len == 4 && memcmp(name, "host", 4) == 0) {
        *v = "example.test";
        *vlen = 12;
        return 0;
    }

    if (len == 4 && memcmp(name, "date", 4) == 0) {
        *v = "Sun, 05 Jan 2014 21:31:40 GMT";
        *vlen = 29;
        return 0;
    }

    return len % 2 ? -1 : -2;
}


static void
fuzz_check(const mstdn_httpsig_t *sig)
{
    int                      i;
    char                    *base;
    size_t                   len;
    mstdn_httpsig_request_t  req;

    if (sig->key_id_len == 0 || sig->key_id_len > MSTDN_HTTPSIG_KEYID_MAX
        || strlen(sig->key_id) != sig->key_id_len
        || sig->signature_len == 0
        || sig->signature_len > MSTDN_HTTPSIG_SIG_MAX
        || sig->ncomponents < 1
        || sig->ncomponents > MSTDN_HTTPSIG_COMPONENTS_MAX
        || strlen(sig->params) != sig->params_len)
    {
        abort();
    }

    for (i = 0; i < sig->ncomponents; i++) {
        if (strlen(sig->components[i]) == 0
            || strlen(sig->components[i]) > MSTDN_HTTPSIG_NAME_MAX)
        {
            abort();
        }
    }

    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.method_len = 4;
    req.scheme = "https";
    req.scheme_len = 5;
    req.authority = "example.test";
    req.authority_len = 12;
    req.path = "/inbox";
    req.path_len = 6;
    req.header = fuzz_header;

    base = malloc(MSTDN_HTTPSIG_BASE_MAX);
    if (base == NULL) {
        return;
    }

    if (mstdn_httpsig_base(sig, &req, base, MSTDN_HTTPSIG_BASE_MAX, &len)
        == MSTDN_HTTPSIG_OK && strlen(base) != len)
    {
        abort();
    }

    (void) mstdn_httpsig_check_strength(sig, 1);
    (void) mstdn_httpsig_check_time(sig, &req, 1388957500);

    free(base);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int               rc;
    int64_t           t;
    const char       *s, *nl;
    mstdn_httpsig_t  *sig;

    if (size < 1) {
        return 0;
    }

    s = (const char *) data + 1;
    size--;

    sig = malloc(sizeof(mstdn_httpsig_t));
    if (sig == NULL) {
        return 0;
    }

    switch (data[0] % 4) {

    case 0:
        if (mstdn_httpsig_parse_cavage(s, size, sig) == MSTDN_HTTPSIG_OK) {
            fuzz_check(sig);
        }
        break;

    case 1:
        nl = memchr(s, '\n', size);
        if (nl) {
            rc = mstdn_httpsig_parse_rfc9421(s, (size_t) (nl - s), nl + 1,
                                             size - (size_t) (nl - s) - 1,
                                             sig);
            if (rc == MSTDN_HTTPSIG_OK) {
                fuzz_check(sig);
            }
        }
        break;

    case 2:
        (void) mstdn_httpsig_check_digest(s, size, s, size);
        (void) mstdn_httpsig_check_content_digest(s, size, s, size);
        break;

    default:
        if (mstdn_httpsig_parse_date(s, size, &t) == MSTDN_HTTPSIG_OK) {
            char  out[MSTDN_HTTPSIG_DATE_LEN];

            /* what parses formats back the same (the weekday aside) */
            mstdn_httpsig_format_date(t, out);
            if (memcmp(out + 3, s + 3, 26) != 0) {
                abort();
            }
        }
        break;
    }

    free(sig);

    return 0;
}
