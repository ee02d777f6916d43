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

