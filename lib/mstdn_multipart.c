#ifndef _GNU_SOURCE
#define _GNU_SOURCE     /* memmem() */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_multipart.h"
#include "mstdn_params.h"


#define MSTDN_MULTIPART_HEADERS_MAX  8192
#define MSTDN_MULTIPART_BOUNDARY_MAX 70         /* RFC 2046 */


typedef enum {
    MSTDN_MP_DATA = 0,      /* the preamble or a part's bytes */
    MSTDN_MP_DELIMITED,     /* right after a delimiter */
    MSTDN_MP_DASH,          /* "-" after it: one more ends the body */
    MSTDN_MP_PADDING,       /* LWSP after it */
    MSTDN_MP_CR,            /* CR after it: LF starts a part */
    MSTDN_MP_HEADERS,       /* a part's header block */
    MSTDN_MP_DONE,          /* after the closing delimiter */
    MSTDN_MP_FAILED
} mstdn_multipart_state_e;


struct mstdn_multipart_s {
    mstdn_multipart_state_e   state;
    int                       rc;           /* MSTDN_MP_FAILED: the error */
    char                      msg[96];

    /* "\r\n--boundary"; the body is read as if a CRLF preceded it */
    char                      delim[MSTDN_MULTIPART_BOUNDARY_MAX + 4];
    size_t                    dlen;
    size_t                    match;        /* delim bytes seen so far */

    uint64_t                  offset;       /* of the next byte fed */
    size_t                    max_parts;
    size_t                    nparts;
    size_t                    max_text;
    size_t                    text;         /* bytes of text kept */

    mstdn_multipart_part_t   *part;         /* being read; NULL: preamble */
    size_t                    cap;          /* of part->value */
    mstdn_multipart_part_t   *first;
    mstdn_multipart_part_t  **last;

    size_t                    hlen;
    char                      headers[MSTDN_MULTIPART_HEADERS_MAX + 4];
};


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


mstdn_multipart_t *
mstdn_multipart_create(const char *boundary, size_t blen, size_t max_parts,
    size_t max_text)
{
    mstdn_multipart_t  *mp;

    if (blen == 0 || blen > MSTDN_MULTIPART_BOUNDARY_MAX
        || memchr(boundary, '\r', blen) || memchr(boundary, '\n', blen))
    {
        return NULL;
    }

    mp = calloc(1, sizeof(mstdn_multipart_t));
    if (mp == NULL) {
        return NULL;
    }

    /*
     * CR appears in the delimiter only as its first byte: where a partial
     * match fails, no other match can have begun inside it.
     */
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, blen);
    mp->dlen = blen + 4;
    mp->match = 2;              /* the CRLF before the body */
    mp->max_parts = max_parts;
    mp->max_text = max_text;
    mp->last = &mp->first;

    return mp;
}


static void
mstdn_multipart_part_free(mstdn_multipart_part_t *part)
{
    free(part->name);
    free(part->filename);
    free(part->content_type);
    free(part->value);
    free(part);
}


void
mstdn_multipart_destroy(mstdn_multipart_t *mp)
{
    mstdn_multipart_part_t  *part, *next;

    if (mp == NULL) {
        return;
    }

    for (part = mp->first; part; part = next) {
        next = part->next;
        mstdn_multipart_part_free(part);
    }

    if (mp->part) {
        mstdn_multipart_part_free(mp->part);
    }

    free(mp);
}


static int
mstdn_multipart_fail(mstdn_multipart_t *mp, int rc, const char *msg)
{
    mp->state = MSTDN_MP_FAILED;
    mp->rc = rc;
    snprintf(mp->msg, sizeof(mp->msg), "%s", msg);

    return rc;
}


/* Bytes of the part being read: a text field's are kept, a file's counted. */
static int
mstdn_multipart_data(mstdn_multipart_t *mp, const char *p, size_t n)
{
    char                    *v;
    size_t                   cap;
    mstdn_multipart_part_t  *part;

    part = mp->part;

    if (part == NULL || part->filename != NULL || n == 0) {
        return MSTDN_OK;        /* the preamble, a file: offsets only */
    }

    if (n > mp->max_text - mp->text) {
        snprintf(mp->msg, sizeof(mp->msg), "text fields over %zu bytes",
                 mp->max_text);
        mp->state = MSTDN_MP_FAILED;
        mp->rc = MSTDN_ETOOBIG;
        return MSTDN_ETOOBIG;
    }

    if (part->len + n + 1 > mp->cap) {
        cap = mp->cap ? mp->cap : 64;

        while (cap < part->len + n + 1) {
            cap *= 2;
        }

        v = realloc(part->value, cap);
        if (v == NULL) {
            return mstdn_multipart_fail(mp, MSTDN_ENOMEM, "out of memory");
        }

        part->value = v;
        mp->cap = cap;
    }

    memcpy(part->value + part->len, p, n);
    part->len += n;
    mp->text += n;

    return MSTDN_OK;
}


/* A delimiter ends the part being read (end: where the delimiter began). */
static int
mstdn_multipart_part_end(mstdn_multipart_t *mp, uint64_t end)
{
    mstdn_multipart_part_t  *part;

    part = mp->part;

    if (part == NULL) {
        return MSTDN_OK;        /* the preamble */
    }

    if (part->filename) {
        part->size = end - part->offset;

    } else {
        if (part->value == NULL) {
            part->value = malloc(1);
            if (part->value == NULL) {
                return mstdn_multipart_fail(mp, MSTDN_ENOMEM,
                                            "out of memory");
            }
        }
        part->value[part->len] = '\0';
    }

    mp->part = NULL;
    *mp->last = part;
    mp->last = &part->next;

    return MSTDN_OK;
}


static char *
mstdn_multipart_strdup(const char *s, size_t len)
{
    char  *d;

    d = malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }

    return d;
}


/* The header block is complete (hlen counts its final CRLFCRLF). */
static int
mstdn_multipart_part_start(mstdn_multipart_t *mp, uint64_t offset)
{
    size_t                   name_len, filename_len, ctype_len;
    const char              *name, *filename, *ctype;
    mstdn_multipart_part_t  *part;

    ctype_len = 0;

    if (mstdn_multipart_headers(mp->headers, mp->hlen - 4, &name, &name_len,
                                &filename, &filename_len, &ctype, &ctype_len)
        != 0)
    {
        return mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                    "a part without a form-data name");
    }

    part = calloc(1, sizeof(mstdn_multipart_part_t));
    if (part == NULL) {
        return mstdn_multipart_fail(mp, MSTDN_ENOMEM, "out of memory");
    }

    mp->part = part;
    mp->cap = 0;

    part->name = mstdn_multipart_strdup(name, name_len);
    part->name_len = name_len;

    if (filename) {
        part->filename = mstdn_multipart_strdup(filename, filename_len);
        part->content_type = ctype ? mstdn_multipart_strdup(ctype, ctype_len)
                                   : mstdn_multipart_strdup("", 0);
        if (part->filename == NULL || part->content_type == NULL) {
            return mstdn_multipart_fail(mp, MSTDN_ENOMEM, "out of memory");
        }
    }

    if (part->name == NULL) {
        return mstdn_multipart_fail(mp, MSTDN_ENOMEM, "out of memory");
    }

    part->offset = offset;

    return MSTDN_OK;
}


int
mstdn_multipart_feed(mstdn_multipart_t *mp, const char *buf, size_t len,
    char *err, size_t errlen)
{
    int          rc;
    const char  *p, *end, *q;

    p = buf;
    end = buf + len;
    rc = MSTDN_OK;

    while (p < end && rc == MSTDN_OK) {

        switch (mp->state) {

        case MSTDN_MP_DATA:
            if (mp->match == 0) {
                q = memchr(p, '\r', end - p);
                if (q == NULL) {
                    rc = mstdn_multipart_data(mp, p, end - p);
                    p = end;
                    break;
                }

                rc = mstdn_multipart_data(mp, p, q - p);
                p = q;
                if (rc != MSTDN_OK) {
                    break;
                }
            }

            while (p < end && mp->match < mp->dlen) {
                if (*p != mp->delim[mp->match]) {
                    /* what matched so far was data; p may start a match */
                    rc = mstdn_multipart_data(mp, mp->delim, mp->match);
                    mp->match = 0;
                    break;
                }

                mp->match++;
                p++;
            }

            if (mp->match == mp->dlen) {
                mp->match = 0;
                mp->state = MSTDN_MP_DELIMITED;
                rc = mstdn_multipart_part_end(mp,
                                              mp->offset + (p - buf)
                                              - mp->dlen);
            }

            break;

        case MSTDN_MP_DELIMITED:
            /* "--" ends the body, CRLF (after LWSP) starts a part */
            if (*p == '-') {
                mp->state = MSTDN_MP_DASH;
            } else if (*p == ' ' || *p == '\t') {
                mp->state = MSTDN_MP_PADDING;
            } else if (*p == '\r') {
                mp->state = MSTDN_MP_CR;
            } else {
                rc = mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                          "malformed part");
            }
            p++;
            break;

        case MSTDN_MP_DASH:
            if (*p++ != '-') {
                rc = mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                          "malformed part");
                break;
            }
            mp->state = MSTDN_MP_DONE;
            break;

        case MSTDN_MP_PADDING:
            if (*p == '\r') {
                mp->state = MSTDN_MP_CR;
            } else if (*p != ' ' && *p != '\t') {
                rc = mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                          "malformed part");
            }
            p++;
            break;

        case MSTDN_MP_CR:
            if (*p++ != '\n') {
                rc = mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                          "malformed part");
                break;
            }

            if (mp->nparts >= mp->max_parts) {
                snprintf(mp->msg, sizeof(mp->msg), "more than %zu parts",
                         mp->max_parts);
                mp->state = MSTDN_MP_FAILED;
                rc = mp->rc = MSTDN_ETOOMANY;
                break;
            }

            mp->nparts++;
            mp->hlen = 0;
            mp->state = MSTDN_MP_HEADERS;
            break;

        case MSTDN_MP_HEADERS:
            while (p < end) {
                if (mp->hlen == sizeof(mp->headers)) {
                    rc = mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                                              "malformed part headers");
                    break;
                }

                mp->headers[mp->hlen++] = *p++;

                if (mp->hlen >= 4
                    && memcmp(mp->headers + mp->hlen - 4, "\r\n\r\n", 4) == 0)
                {
                    mp->state = MSTDN_MP_DATA;
                    rc = mstdn_multipart_part_start(mp,
                                                    mp->offset + (p - buf));
                    break;
                }
            }
            break;

        case MSTDN_MP_DONE:
            p = end;            /* the epilogue */
            break;

        case MSTDN_MP_FAILED:
            rc = mp->rc;
            break;
        }
    }

    mp->offset += p - buf;

    if (mp->state == MSTDN_MP_FAILED) {
        snprintf(err, errlen, "%s", mp->msg);
        return mp->rc;
    }

    return MSTDN_OK;
}


int
mstdn_multipart_finish(mstdn_multipart_t *mp, char *err, size_t errlen)
{
    switch (mp->state) {

    case MSTDN_MP_DONE:
        return MSTDN_OK;

    case MSTDN_MP_FAILED:
        break;

    case MSTDN_MP_DATA:
        mstdn_multipart_fail(mp, MSTDN_ESYNTAX,
                             mp->part ? "no closing boundary" : "no boundary");
        break;

    case MSTDN_MP_HEADERS:
        mstdn_multipart_fail(mp, MSTDN_ESYNTAX, "malformed part headers");
        break;

    default:
        mstdn_multipart_fail(mp, MSTDN_ESYNTAX, "malformed part");
        break;
    }

    snprintf(err, errlen, "%s", mp->msg);

    return mp->rc;
}


const mstdn_multipart_part_t *
mstdn_multipart_parts(const mstdn_multipart_t *mp)
{
    return mp->first;
}


int
mstdn_multipart_params(const mstdn_multipart_t *mp,
    const mstdn_multipart_body_t *body, const mstdn_alloc_t *a,
    const mstdn_limits_t *limits, mstdn_value_t *root, char *err,
    size_t errlen)
{
    int                            rc;
    mstdn_value_t                 *file;
    const mstdn_multipart_part_t  *part;

    for (part = mp->first; part; part = part->next) {

        if (part->filename == NULL) {
            rc = mstdn_params_add(a, limits, root, part->name, part->name_len,
                                  part->value, part->len, err, errlen);
            if (rc != MSTDN_OK) {
                return rc;
            }

            continue;
        }

        file = mstdn_value_new(a, MSTDN_FILE);
        if (file == NULL) {
            return MSTDN_ENOMEM;
        }

        file->len = part->size;

        if (body->data) {
            file->str = body->data + part->offset;
            file->fd = -1;

        } else {
            file->fd = body->fd;
            file->offset = body->offset + part->offset;
            if (body->path) {
                file->path = mstdn_strndup(a, body->path, strlen(body->path));
                if (file->path == NULL) {
                    return MSTDN_ENOMEM;
                }
            }
        }

        file->filename = mstdn_strndup(a, part->filename,
                                       strlen(part->filename));
        file->content_type = mstdn_strndup(a, part->content_type,
                                           strlen(part->content_type));
        if (file->filename == NULL || file->content_type == NULL) {
            return MSTDN_ENOMEM;
        }

        rc = mstdn_params_add_file(a, limits, root, part->name,
                                   part->name_len, file, err, errlen);
        if (rc != MSTDN_OK) {
            return rc;
        }
    }

    return MSTDN_OK;
}


int
mstdn_multipart_parse(const char *buf, size_t len, const char *boundary,
    size_t blen, const mstdn_alloc_t *a, const mstdn_limits_t *limits,
    mstdn_value_t *root, char *err, size_t errlen)
{
    int                      rc;
    mstdn_multipart_t       *mp;
    mstdn_multipart_body_t   body;

    if (blen == 0 || blen > MSTDN_MULTIPART_BOUNDARY_MAX
        || memchr(boundary, '\r', blen) || memchr(boundary, '\n', blen))
    {
        snprintf(err, errlen, "bad boundary");
        return MSTDN_ESYNTAX;
    }

    mp = mstdn_multipart_create(boundary, blen, limits->max_members, len);
    if (mp == NULL) {
        snprintf(err, errlen, "out of memory");
        return MSTDN_ENOMEM;
    }

    rc = mstdn_multipart_feed(mp, buf, len, err, errlen);

    if (rc == MSTDN_OK) {
        rc = mstdn_multipart_finish(mp, err, errlen);
    }

    if (rc == MSTDN_OK) {
        body.data = buf;
        body.fd = -1;
        body.path = NULL;
        body.offset = 0;

        rc = mstdn_multipart_params(mp, &body, a, limits, root, err, errlen);
    }

    mstdn_multipart_destroy(mp);

    return rc;
}
