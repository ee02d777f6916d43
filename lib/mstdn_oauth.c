#include <string.h>
#include <strings.h>

#include <openssl/rand.h>

#include "mstdn_oauth.h"


static const char  *mstdn_scopes[] = {
    "read", "write", "follow", "push", "profile",
    "read:accounts", "read:blocks", "read:bookmarks", "read:favourites",
    "read:filters", "read:follows", "read:lists", "read:mutes",
    "read:notifications", "read:search", "read:statuses",
    "write:accounts", "write:blocks", "write:bookmarks",
    "write:conversations", "write:favourites", "write:filters",
    "write:follows", "write:lists", "write:media", "write:mutes",
    "write:notifications", "write:reports", "write:statuses",
    "admin:read", "admin:read:accounts", "admin:read:reports",
    "admin:read:domain_allows", "admin:read:domain_blocks",
    "admin:read:ip_blocks", "admin:read:email_domain_blocks",
    "admin:read:canonical_email_blocks",
    "admin:write", "admin:write:accounts", "admin:write:reports",
    "admin:write:domain_allows", "admin:write:domain_blocks",
    "admin:write:ip_blocks", "admin:write:email_domain_blocks",
    "admin:write:canonical_email_blocks",
    NULL
};


int
mstdn_scope_valid(const char *scope, size_t len)
{
    const char  **s;

    for (s = mstdn_scopes; *s; s++) {
        if (strlen(*s) == len && memcmp(*s, scope, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
mstdn_scopes_check(const char *scopes, size_t len, const char **bad,
    size_t *bad_len)
{
    const char  *p, *end, *start;
    int          n;

    p = scopes;
    end = scopes + len;
    n = 0;

    while (p < end) {
        while (p < end && *p == ' ') {
            p++;
        }

        start = p;

        while (p < end && *p != ' ') {
            p++;
        }

        if (p == start) {
            break;
        }

        if (!mstdn_scope_valid(start, p - start)) {
            *bad = start;
            *bad_len = p - start;
            return -1;
        }

        n++;
    }

    if (n == 0) {
        *bad = scopes;
        *bad_len = 0;
        return -1;
    }

    return 0;
}


/* granted "read" covers "read:statuses", "admin:read" "admin:read:x" */
static int
mstdn_scope_covers(const char *g, size_t glen, const char *s, size_t slen)
{
    if (glen == slen) {
        return memcmp(g, s, glen) == 0;
    }

    /* each parent compared with its own length: no read past a literal */
    return glen < slen && s[glen] == ':' && memcmp(g, s, glen) == 0
           && ((glen == 4 && memcmp(g, "read", 4) == 0)
               || (glen == 5 && memcmp(g, "write", 5) == 0)
               || (glen == 10 && memcmp(g, "admin:read", 10) == 0)
               || (glen == 11 && memcmp(g, "admin:write", 11) == 0));
}


int
mstdn_scopes_allow(const char *granted, size_t granted_len,
    const char *required)
{
    const char  *r, *rs, *g, *gs, *gend;
    int          any;

    any = 0;

    for (r = required; *r; /* void */) {
        while (*r == ' ') {
            r++;
        }
        rs = r;
        while (*r && *r != ' ') {
            r++;
        }
        if (r == rs) {
            break;
        }

        any = 1;
        gend = granted + granted_len;

        for (g = granted; g < gend; /* void */) {
            while (g < gend && *g == ' ') {
                g++;
            }
            gs = g;
            while (g < gend && *g != ' ') {
                g++;
            }
            if (g > gs
                && mstdn_scope_covers(gs, g - gs, rs, r - rs))
            {
                return 1;
            }
        }
    }

    return !any;
}


const char *
mstdn_redirect_uri_check(const char *uri, size_t len)
{
    size_t  i, scheme;

    if (len == sizeof(MSTDN_OAUTH_OOB) - 1
        && memcmp(uri, MSTDN_OAUTH_OOB, len) == 0)
    {
        return NULL;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) uri[i] <= 0x20 || uri[i] == 0x7f) {
            return "must be a valid URI.";
        }
    }

    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    for (scheme = 0; scheme < len && uri[scheme] != ':'; scheme++) {
        char  c = uri[scheme];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (scheme > 0 && ((c >= '0' && c <= '9')
                                 || c == '+' || c == '-' || c == '.'))))
        {
            return scheme == 0 || c == '/' ? "must be an absolute URI."
                                           : "must be a valid URI.";
        }
    }

    if (scheme == 0 || scheme == len) {
        return "must be an absolute URI.";
    }

    if (scheme + 1 == len) {
        return "must be a valid URI.";
    }

    if (memchr(uri, '#', len) != NULL) {
        return "cannot contain a fragment.";
    }

    /* Mastodon's Doorkeeper forbids these (forbid_redirect_uri) */
    if ((scheme == 10 && strncasecmp(uri, "javascript", 10) == 0)
        || (scheme == 4 && strncasecmp(uri, "data", 4) == 0)
        || (scheme == 8 && strncasecmp(uri, "vbscript", 8) == 0))
    {
        return "is forbidden by the server.";
    }

    if ((scheme == 4 && strncasecmp(uri, "http", 4) == 0)
        || (scheme == 5 && strncasecmp(uri, "https", 5) == 0))
    {
        /* web redirect URIs need a host */
        if (len < scheme + 4 || memcmp(uri + scheme, "://", 3) != 0
            || uri[scheme + 3] == '/')
        {
            return "must be a valid URI.";
        }
    }

    return NULL;
}


int
mstdn_random_secret(char out[MSTDN_SECRET_LEN + 1])
{
    static const char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char      raw[33];
    size_t             i, o;
    unsigned int       v;

    if (RAND_bytes(raw, 32) != 1) {
        return -1;
    }

    raw[32] = 0;

    /* 32 bytes -> 43 base64url characters (the last one carries 2 bits) */
    for (i = 0, o = 0; i < 33 && o < MSTDN_SECRET_LEN; i += 3) {
        v = (unsigned int) raw[i] << 16
            | (i + 1 < 33 ? (unsigned int) raw[i + 1] << 8 : 0)
            | (i + 2 < 33 ? raw[i + 2] : 0);

        out[o++] = alphabet[(v >> 18) & 63];
        if (o < MSTDN_SECRET_LEN) out[o++] = alphabet[(v >> 12) & 63];
        if (o < MSTDN_SECRET_LEN) out[o++] = alphabet[(v >> 6) & 63];
        if (o < MSTDN_SECRET_LEN) out[o++] = alphabet[v & 63];
    }

    out[MSTDN_SECRET_LEN] = '\0';

    return 0;
}
