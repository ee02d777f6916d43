#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_html.h"
#include "mstdn_redis_url.h"


/* [p, last) percent-decoded into a new string; NULL with *bad set if
 * malformed */
static char *
mstdn_redis_url_decode(const char *p, const char *last, int *bad)
{
    int    hi, lo;
    char  *out, *d;

    out = malloc((size_t) (last - p) + 1);
    if (out == NULL) {
        return NULL;
    }

    for (d = out; p < last; d++) {
        if (*p != '%') {
            *d = *p++;
            continue;
        }

        hi = last - p > 2 ? mstdn_hex_digit(p[1]) : -1;
        lo = hi >= 0 ? mstdn_hex_digit(p[2]) : -1;

        /* %00 would cut the C string short */
        if (lo < 0 || (hi == 0 && lo == 0)) {
            *bad = 1;
            free(out);
            return NULL;
        }

        *d = (char) (hi << 4 | lo);
        p += 3;
    }

    *d = '\0';

    return out;
}


static char *
mstdn_redis_url_copy(const char *p, const char *last)
{
    char  *out;

    out = malloc((size_t) (last - p) + 1);
    if (out != NULL) {
        memcpy(out, p, (size_t) (last - p));
        out[last - p] = '\0';
    }

    return out;
}


/* decimal digits only, at least one, at most max */
static int
mstdn_redis_url_number(const char *p, const char *last, long max, long *out)
{
    long  v;

    if (p == last) {
        return -1;
    }

    for (v = 0; p < last; p++) {
        if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10) {
            return -1;
        }
        v = v * 10 + (*p - '0');
    }

    *out = v;

    return 0;
}


static const char *
mstdn_redis_url_find(const char *p, const char *last, char c)
{
    return memchr(p, c, (size_t) (last - p));
}


/* after "unix:": /path or ///path, then ?db=N&password=P */
static int
mstdn_redis_url_unix(const char *p, const char *last, mstdn_redis_url *u,
    int *bad)
{
    const char  *q, *amp, *eq, *item, *end;

    if (last - p > 2 && p[0] == '/' && p[1] == '/') {
        p += 2;
    }

    q = mstdn_redis_url_find(p, last, '?');

    if (q != NULL) {
        for (item = q + 1; item < last; item = amp ? amp + 1 : last) {
            amp = mstdn_redis_url_find(item, last, '&');
            end = amp ? amp : last;
            eq = mstdn_redis_url_find(item, end, '=');

            if (eq == NULL) {
                *bad = 1;
                return -1;
            }

            if (eq - item == 2 && memcmp(item, "db", 2) == 0) {
                if (mstdn_redis_url_number(eq + 1, end, LONG_MAX, &u->db)
                    != 0)
                {
                    *bad = 1;
                    return -1;
                }

            } else if (eq - item == 8 && memcmp(item, "password", 8) == 0) {
                free(u->password);
                u->password = mstdn_redis_url_decode(eq + 1, end, bad);
                if (u->password == NULL) {
                    return -1;
                }

            } else {
                *bad = 1;
                return -1;
            }
        }

        last = q;
    }

    if (p == last || *p != '/') {
        *bad = 1;
        return -1;
    }

    u->unix_path = mstdn_redis_url_copy(p, last);

    return u->unix_path != NULL ? 0 : -1;
}


static int
mstdn_redis_url_tcp(const char *p, const char *last, mstdn_redis_url *u,
    int *bad)
{
    long         port;
    const char  *slash, *at, *colon, *q, *host, *host_end;

    if (last - p >= 9 && memcmp(p, "rediss://", 9) == 0) {
        u->tls = 1;
    }

    if (u->tls || (last - p >= 8 && memcmp(p, "redis://", 8) == 0)) {
        p += u->tls ? 9 : 8;

        slash = mstdn_redis_url_find(p, last, '/');

        if (slash != NULL) {
            if (slash + 1 < last
                && mstdn_redis_url_number(slash + 1, last, LONG_MAX, &u->db)
                   != 0)
            {
                *bad = 1;
                return -1;
            }
            last = slash;
        }

        /* the last @: a password may hold one, percent-encoded or not */
        at = NULL;
        for (q = p; q < last; q++) {
            if (*q == '@') {
                at = q;
            }
        }

        if (at != NULL) {
            colon = mstdn_redis_url_find(p, at, ':');
            if (colon == NULL) {
                *bad = 1;
                return -1;
            }

            if (colon > p) {
                u->user = mstdn_redis_url_decode(p, colon, bad);
                if (u->user == NULL) {
                    return -1;
                }
            }

            u->password = mstdn_redis_url_decode(colon + 1, at, bad);
            if (u->password == NULL) {
                return -1;
            }

            p = at + 1;
        }
    }

    if (p < last && *p == '[') {
        colon = mstdn_redis_url_find(p, last, ']');
        if (colon == NULL) {
            *bad = 1;
            return -1;
        }
        host = p + 1;
        host_end = colon++;
        if (colon < last && *colon != ':') {
            *bad = 1;
            return -1;
        }

    } else {
        colon = mstdn_redis_url_find(p, last, ':');
        host = p;
        host_end = colon ? colon : last;
    }

    port = 6379;

    if (host == host_end
        || (colon != NULL && colon < last
            && (mstdn_redis_url_number(colon + 1, last, 65535, &port) != 0
                || port < 1)))
    {
        *bad = 1;
        return -1;
    }

    u->port = (int) port;
    u->host = mstdn_redis_url_copy(host, host_end);

    return u->host != NULL ? 0 : -1;
}


int
mstdn_redis_url_parse(const char *s, size_t len, mstdn_redis_url *u)
{
    int          bad, rc;
    const char  *last;

    memset(u, 0, sizeof(*u));

    if (len == 0 || memchr(s, '\0', len) != NULL) {
        errno = EINVAL;
        return -1;
    }

    bad = 0;
    last = s + len;

    if (len > 5 && memcmp(s, "unix:", 5) == 0) {
        rc = mstdn_redis_url_unix(s + 5, last, u, &bad);

    } else {
        rc = mstdn_redis_url_tcp(s, last, u, &bad);
    }

    if (rc == 0) {
        return 0;
    }

    mstdn_redis_url_free(u);
    errno = bad ? EINVAL : ENOMEM;

    return -1;
}


void
mstdn_redis_url_free(mstdn_redis_url *u)
{
    free(u->host);
    free(u->user);
    free(u->password);
    free(u->unix_path);
    memset(u, 0, sizeof(*u));
}
