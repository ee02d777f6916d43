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
mstdn_text_to_html(char *out, const char *in, size_t len)
{
    char        *p = out;
    const char  *s, *end, *line;
    int          open;

    /* \r\n and \r count as new lines */
    end = in + len;
    s = in;
    open = 0;

    while (s < end) {
        /* a run of new lines: one ends a line, two or more a paragraph */
        if (*s == '\n' || *s == '\r') {
            int  n = 0;

            while (s < end && (*s == '\n' || *s == '\r')) {
                if (*s == '\n' || s + 1 == end || s[1] != '\n') {
                    n++;
                }
                s++;
            }

            if (!open) {
                continue;       /* leading new lines */
            }

            if (s == end) {
                break;          /* trailing new lines */
            }

            if (n >= 2) {
                memcpy(p, "</p><p>", 7);
                p += 7;
            } else {
                memcpy(p, "<br />", 6);
                p += 6;
            }

            continue;
        }

        if (!open) {
            memcpy(p, "<p>", 3);
            p += 3;
            open = 1;
        }

        line = s;
        while (s < end && *s != '\n' && *s != '\r') {
            s++;
        }

        p += mstdn_html_escape(p, line, s - line);
    }

    if (open) {
        memcpy(p, "</p>", 4);
        p += 4;
    }

    return p - out;
}
