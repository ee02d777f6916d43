#include <stdlib.h>
#include <string.h>

#include <idna.h>

#include "mstdn_email.h"
#include "mstdn_text.h"
#include "mstdn_utf8.h"


/* RFC 5322 atext, and the mail gem's UTF-8 beyond ASCII */
static int
mstdn_email_atext(unsigned char c)
{
    if (c >= 0x80) {
        return 1;
    }

    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
        || (c >= '0' && c <= '9'))
    {
        return 1;
    }

    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}


/* dot-atom-text with the mail gem's obs local part: dots anywhere */
static int
mstdn_email_local(const unsigned char *p, size_t len)
{
    size_t  i, atext;

    if (len >= 2 && p[0] == '"') {
        /* a quoted string, all of it: qtext and quoted pairs */
        for (i = 1; i < len - 1; i++) {
            if (p[i] == '\\') {
                if (++i == len - 1 || p[i] < 0x21 || p[i] == 0x7f) {
                    return 0;
                }
                continue;
            }

            if (p[i] == '"' || p[i] < 0x21 || p[i] == 0x7f) {
                return 0;
            }
        }

        return p[len - 1] == '"';
    }

    atext = 0;

    for (i = 0; i < len; i++) {
        if (mstdn_email_atext(p[i])) {
            atext++;
        } else if (p[i] != '.') {
            return 0;
        }
    }

    return atext > 0;
}


static int
mstdn_email_domain(const unsigned char *p, size_t len)
{
    size_t  i;

    if (len >= 2 && p[0] == '[') {
        /* a domain literal: dtext */
        for (i = 1; i < len - 1; i++) {
            if (p[i] < 0x21 || p[i] > 0x7e || p[i] == '[' || p[i] == ']'
                || p[i] == '\\')
            {
                return 0;
            }
        }

        return p[len - 1] == ']';
    }

    /* dot-atom-text: no dot first, last or twice */
    for (i = 0; i < len; i++) {
        if (p[i] == '.') {
            if (i == 0 || i == len - 1 || p[i - 1] == '.') {
                return 0;
            }
        } else if (!mstdn_email_atext(p[i])) {
            return 0;
        }
    }

    return len > 0;
}


static int
mstdn_email_hex(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}


/*
 * EmailMxValidator#get_domain: TagManager#normalize_domain, an Addressable
 * host: characters a host cannot have, then %-decoded, IDNA ToASCII.
 */
static int
mstdn_email_host(const unsigned char *p, size_t len)
{
    int     rc, hi, lo;
    char   *host, *ascii;
    size_t  i, n;

    for (i = 0; i < len; i++) {
        if (p[i] == '/' || p[i] == '?' || p[i] == '#' || p[i] == '{'
            || p[i] == '}')
        {
            return 0;
        }
    }

    host = malloc(len + 1);
    if (host == NULL) {
        return -1;
    }

    for (i = 0, n = 0; i < len; i++) {
        if (p[i] == '%' && i + 2 < len
            && (hi = mstdn_email_hex(p[i + 1])) >= 0
            && (lo = mstdn_email_hex(p[i + 2])) >= 0)
        {
            host[n++] = (char) (hi << 4 | lo);
            i += 2;
            continue;
        }
        host[n++] = p[i];
    }

    host[n] = '\0';

    ascii = NULL;
    rc = strlen(host) == n
         && mstdn_utf8_check((unsigned char *) host, n, 0) == MSTDN_UTF8_VALID
         && idna_to_ascii_8z(host, &ascii, IDNA_ALLOW_UNASSIGNED)
            == IDNA_SUCCESS;

    free(ascii);
    free(host);

    return rc;
}


int
mstdn_email_normalize(const char *s, size_t len, const mstdn_alloc_t *a,
    char **out, size_t *out_len)
{
    int             rc;
    size_t          i, n, at, ats;
    unsigned char  *e;

    *out = NULL;

    /* Devise's strip_whitespace_keys and case_insensitive_keys */
    mstdn_text_strip(&s, &len);

    if (len > MSTDN_EMAIL_MAX) {
        return MSTDN_ESYNTAX;
    }

    e = a->alloc(a->ctx, MSTDN_UTF8_DOWNCASE_MAX(len) + 1);
    if (e == NULL) {
        return MSTDN_ENOMEM;
    }

    n = mstdn_utf8_downcase((const unsigned char *) s, len, e);
    e[n] = '\0';

    /* Devise: /\A[^@\s]+@[^@\s]+\z/ */
    at = 0;
    ats = 0;

    for (i = 0; i < n; i++) {
        if (e[i] == '@') {
            at = i;
            ats++;
        } else if (e[i] == ' ' || (e[i] >= '\t' && e[i] <= '\r')) {
            return MSTDN_ESYNTAX;
        }
    }

    if (ats != 1 || at == 0 || at == n - 1) {
        return MSTDN_ESYNTAX;
    }

    /* the mail gem gives it back as it is; the host is one */
    if (!mstdn_email_local(e, at)
        || !mstdn_email_domain(e + at + 1, n - at - 1))
    {
        return MSTDN_ESYNTAX;
    }

    rc = mstdn_email_host(e + at + 1, n - at - 1);
    if (rc != 1) {
        return rc < 0 ? MSTDN_ENOMEM : MSTDN_ESYNTAX;
    }

    *out = (char *) e;
    *out_len = n;

    return MSTDN_OK;
}
