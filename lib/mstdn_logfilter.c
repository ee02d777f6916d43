#include <string.h>

#include "mstdn_logfilter.h"
#include "mstdn_params.h"


static const char  *mstdn_logfilter_names[] = {
    /* config/initializers/filter_parameter_logging.rb */
    "password", "private_key", "public_key", "otp_attempt",
    /* Doorkeeper's engine */
    "client_secret", "code", "token",
    NULL
};


/* name decoded and lower-cased into scratch (len bytes), then searched */
static int
mstdn_logfilter_match(const char *name, size_t len, char *scratch)
{
    long          n;
    size_t        i, k;
    const char  **s;

    memcpy(scratch, name, len);

    n = mstdn_params_unescape(scratch, len, 1);
    if (n < 0) {
        /* bad %-encoding: the raw name is all there is to go by */
        memcpy(scratch, name, len);
        n = (long) len;
    }

    for (i = 0; i < (size_t) n; i++) {
        if (scratch[i] >= 'A' && scratch[i] <= 'Z') {
            scratch[i] |= 0x20;
        }
    }

    for (s = mstdn_logfilter_names; *s; s++) {
        k = strlen(*s);

        for (i = 0; i + k <= (size_t) n; i++) {
            if (memcmp(scratch + i, *s, k) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


size_t
mstdn_logfilter_size(const char *query, size_t len)
{
    size_t       pairs;
    const char  *p, *end;

    pairs = 1;
    end = query + len;

    for (p = query; p < end; p++) {
        if (*p == '&') {
            pairs++;
        }
    }

    return len + pairs * (sizeof(MSTDN_FILTERED) - 1);
}


size_t
mstdn_logfilter_query(const char *query, size_t len, char *out)
{
    int          changed;
    char        *w;
    const char  *p, *end, *amp, *eq;

    p = query;
    end = query + len;
    w = out;
    changed = 0;

    for ( ;; ) {
        amp = memchr(p, '&', end - p);
        if (amp == NULL) {
            amp = end;
        }

        eq = memchr(p, '=', amp - p);

        /* the decoded name goes to out as scratch: it is no longer */
        if (eq && mstdn_logfilter_match(p, eq - p, w)) {
            memcpy(w, p, eq + 1 - p);
            w += eq + 1 - p;
            memcpy(w, MSTDN_FILTERED, sizeof(MSTDN_FILTERED) - 1);
            w += sizeof(MSTDN_FILTERED) - 1;
            changed = 1;

        } else {
            memcpy(w, p, amp - p);
            w += amp - p;
        }

        if (amp == end) {
            break;
        }

        *w++ = '&';
        p = amp + 1;
    }

    return changed ? (size_t) (w - out) : 0;
}
