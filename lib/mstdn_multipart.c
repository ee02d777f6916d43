#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem() */
#endif

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mstdn_multipart.h"
#include "mstdn_params.h"


#define MSTDN_MULTIPART_HEADERS_MAX  8192
#define MSTDN_MULTIPART_BOUNDARY_MAX 70         /* RFC 2046 */


int
mstdn_multipart_boundary(const char *ctype, size_t len, const char **boundary,
    size_t *blen)
{
    const char  *p, *end, *b;

    end = ctype + len;

    for (p = ctype; p + 9 <= end; p++) {
        if (strncasecmp(p, "boundary=", 9) != 0
            || (p > ctype && p[-1] != ';' && p[-1] != ' '))
        {
            continue;
        }

        b = p + 9;

        if (b < end && *b == '"') {
            b++;
            p = memchr(b, '"', end - b);
            if (p == NULL) {
                return -1;
            }
        } else {
            for (p = b; p < end && *p != ';' && *p != ' '; p++) { /* void */ }
        }

        if (p == b || p - b > MSTDN_MULTIPART_BOUNDARY_MAX) {
            return -1;
        }

        *boundary = b;
        *blen = p - b;
        return 0;
    }

    return -1;
}


/* name="value" (or name=value) in a header's parameters */
static int
mstdn_multipart_param(const char *h, size_t len, const char *name,
    const char **val, size_t *vlen)
{
    const char  *p, *end, *v;
    size_t       n;

    n = strlen(name);
    end = h + len;

    for (p = h; p + n + 1 <= end; p++) {
        if ((p == h || p[-1] == ';' || p[-1] == ' ')
            && strncasecmp(p, name, n) == 0 && p[n] == '=')
        {
            v = p + n + 1;

            if (v < end && *v == '"') {
                v++;
                p = memchr(v, '"', end - v);
                if (p == NULL) {
                    return -1;
                }
            } else {
                for (p = v; p < end && *p != ';'; p++) { /* void */ }
            }

            *val = v;
            *vlen = p - v;
            return 0;
        }
    }

    return -1;
}


static int
mstdn_multipart_headers(const char *h, size_t len, const char **name,
    size_t *name_len, const char **filename, size_t *filename_len,
    const char **ctype, size_t *ctype_len)
{
    const char  *line, *eol, *end, *v;
    size_t       n;

    *name = NULL;
    *filename = NULL;
    *ctype = NULL;
    end = h + len;

    for (line = h; line < end; line = eol + 2) {
        eol = memmem(line, end - line, "\r\n", 2);
        if (eol == NULL) {
            eol = end;
        }

        n = eol - line;

        if (n > 20 && strncasecmp(line, "Content-Disposition:", 20) == 0) {
            v = line + 20;
            if (mstdn_multipart_param(v, eol - v, "name", name, name_len)
                != 0)
            {
                return -1;
            }
            if (mstdn_multipart_param(v, eol - v, "filename", filename,
                                      filename_len)
                != 0)
            {
                *filename = NULL;
            }

        } else if (n > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
            for (v = line + 13; v < eol && *v == ' '; v++) { /* void */ }
            *ctype = v;
            *ctype_len = eol - v;
        }

        if (eol == end) {
            break;
        }
    }

    return *name ? 0 : -1;
}


int
mstdn_multipart_parse(const char *buf, size_t len, const char *boundary,
    size_t blen, const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen)
{
    char           delim[MSTDN_MULTIPART_BOUNDARY_MAX + 4];
    const char    *p, *end, *hend, *next, *name, *filename, *ctype;
    size_t         dlen, name_len, filename_len, ctype_len, parts;
    int            rc;
    mstdn_value_t *file;

    if (blen == 0 || blen > MSTDN_MULTIPART_BOUNDARY_MAX) {
        snprintf(err, errlen, "bad boundary");
        return MSTDN_ESYNTAX;
    }

    /* "\r\n--boundary": the first one may start the body without CRLF */
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    dlen = blen + 4;
    end = buf + len;

    if (len >= dlen - 2 && memcmp(buf, delim + 2, dlen - 2) == 0) {
        p = buf + dlen - 2;
    } else {
        p = memmem(buf, len, delim, dlen);
        if (p == NULL) {
            snprintf(err, errlen, "no boundary");
            return MSTDN_ESYNTAX;
        }
        p += dlen;
    }

    for (parts = 0; /* void */; parts++) {
        /* after a delimiter: "--" ends the body, CRLF starts a part */
        if (end - p >= 2 && p[0] == '-' && p[1] == '-') {
            return MSTDN_OK;
        }

        while (p < end && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (end - p < 2 || p[0] != '\r' || p[1] != '\n') {
            snprintf(err, errlen, "malformed part");
            return MSTDN_ESYNTAX;
        }

        p += 2;

        if (parts >= limits->max_members) {
            snprintf(err, errlen, "more than %zu parts", limits->max_members);
            return MSTDN_ETOOMANY;
        }

        hend = memmem(p, end - p, "\r\n\r\n", 4);
        if (hend == NULL || hend - p > MSTDN_MULTIPART_HEADERS_MAX) {
            snprintf(err, errlen, "malformed part headers");
            return MSTDN_ESYNTAX;
        }

        if (mstdn_multipart_headers(p, hend - p, &name, &name_len,
                                    &filename, &filename_len,
                                    &ctype, &ctype_len)
            != 0)
        {
            snprintf(err, errlen, "a part without a form-data name");
            return MSTDN_ESYNTAX;
        }

        p = hend + 4;

        next = memmem(p, end - p, delim, dlen);
        if (next == NULL) {
            snprintf(err, errlen, "no closing boundary");
            return MSTDN_ESYNTAX;
        }

        if (filename) {
            file = mstdn_value_new(a, MSTDN_FILE);
            if (file == NULL) {
                return MSTDN_ENOMEM;
            }
            file->str = p;
            file->len = next - p;
            file->filename = mstdn_strndup(a, filename, filename_len);
            file->content_type = ctype ? mstdn_strndup(a, ctype, ctype_len)
                                       : mstdn_strndup(a, "", 0);
            if (file->filename == NULL || file->content_type == NULL) {
                return MSTDN_ENOMEM;
            }

            rc = mstdn_params_add_file(a, limits, root, name, name_len, file,
                                       err, errlen);
        } else {
            rc = mstdn_params_add(a, limits, root, name, name_len, p,
                                  next - p, err, errlen);
        }

        if (rc != MSTDN_OK) {
            return rc;
        }

        p = next + dlen;
    }
}
