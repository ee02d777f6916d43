#include <string.h>

#include "mstdn_html.h"


size_t
mstdn_html_escape(char *out, const char *in, size_t len)
{
    char    *p = out;
    size_t   i;

    for (i = 0; i < len; i++) {
        switch (in[i]) {
        case '&':  memcpy(p, "&amp;", 5); p += 5; break;
        case '<':  memcpy(p, "&lt;", 4); p += 4; break;
        case '>':  memcpy(p, "&gt;", 4); p += 4; break;
        case '"':  memcpy(p, "&quot;", 6); p += 6; break;
        case '\'': memcpy(p, "&#39;", 5); p += 5; break;
        default:   *p++ = in[i];
        }
    }

    return p - out;
}



size_t
mstdn_url_escape(char *out, const char *in, size_t len, unsigned flags)
{
    char                 *p = out;
    size_t                i;
    unsigned char         c;
    static const char     hex[] = "0123456789ABCDEF";

    for (i = 0; i < len; i++) {
        c = (unsigned char) in[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'
            || c == '~'
            || ((flags & MSTDN_URL_PATH) && c != '\0'
                && strchr("/!$&'()*+,;=:@", c) != NULL))
        {
            *p++ = (char) c;

        } else if (c == ' ' && (flags & MSTDN_URL_PLUS)) {
            *p++ = '+';

        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0x0f];
        }
    }

    return p - out;
}


int
mstdn_hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}
