/* A bounded reader of .tar.gz archives (zlib's gzread over ustar/GNU tar
 * blocks), for `emoji import` (tootctl reads its archive with Ruby's
 * Gem::Package::TarReader the same way).  Every header is checked (its
 * checksum, octal fields); a GNU long name ('L') is taken up to
 * TAR_NAME_MAX; pax headers ('x', 'g') are skipped, their entry keeping
 * its ustar name; what is not a regular file is skipped.  Nothing is
 * written to disk: callers get names and bytes. */
#include "tar_gz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define BLOCK  512
#define LONG_NAME_BYTES  ((TAR_NAME_MAX + BLOCK - 1) / BLOCK * BLOCK)

struct tar_gz {
    gzFile              gz;
    unsigned long long  read;           /* bytes out of zlib so far */
    unsigned long long  max_total;
    unsigned long long  left;           /* of the current entry's blocks */
    unsigned            entries;
    unsigned            max_entries;
};

tar_gz *tar_gz_open(const char *path, unsigned long long max_total, unsigned max_entries,
                    char *err, size_t errlen)
{
    tar_gz *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    t->gz = gzopen(path, "rb");
    if (t->gz == NULL) {
        snprintf(err, errlen, "%s: cannot open it", path);
        free(t);
        return NULL;
    }
    gzbuffer(t->gz, 64 * 1024);
    t->max_total = max_total;
    t->max_entries = max_entries;
    return t;
}

void tar_gz_close(tar_gz *t)
{
    if (t == NULL)
        return;
    gzclose(t->gz);
    free(t);
}

/* exactly n bytes (n a block multiple), counted against the total bound */
static int read_exact(tar_gz *t, void *buf, size_t n, char *err, size_t errlen)
{
    if (t->read + n > t->max_total) {
        snprintf(err, errlen, "the archive unpacks to more than %llu bytes", t->max_total);
        return -1;
    }
    int got = gzread(t->gz, buf, (unsigned) n);
    if (got < 0 || (size_t) got != n) {
        int zerr;
        const char *msg = gzerror(t->gz, &zerr);
        snprintf(err, errlen, "the archive ends early or is not gzip (%s)",
                 zerr != Z_OK && msg ? msg : "truncated");
        return -1;
    }
    t->read += n;
    return 0;
}

static int skip(tar_gz *t, unsigned long long n, char *err, size_t errlen)
{
    unsigned char buf[BLOCK * 16];

    while (n > 0) {
        size_t chunk = n < sizeof(buf) ? (size_t) n : sizeof(buf);
        if (read_exact(t, buf, chunk, err, errlen) != 0)
            return -1;
        n -= chunk;
    }
    return 0;
}

static unsigned long long padded(unsigned long long n)
{
    return (n + BLOCK - 1) / BLOCK * BLOCK;
}

/* an octal field (NUL or space terminated): 0, or -1 when it is not one
 * (base-256 sizes included: nothing this reader accepts is that large) */
static int octal(const unsigned char *f, size_t len, unsigned long long *out)
{
    size_t i = 0;
    unsigned long long v = 0;

    while (i < len && f[i] == ' ')
        i++;
    if (i == len || f[i] < '0' || f[i] > '7')
        return -1;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (unsigned) (f[i] - '0');
    }
    for (; i < len; i++)
        if (f[i] != ' ' && f[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

static int checksum_ok(const unsigned char *h)
{
    unsigned long long want;
    unsigned long sum = 0;

    if (octal(h + 148, 8, &want) != 0)
        return 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (i >= 148 && i < 156) ? ' ' : h[i];
    return sum == want;
}

static int all_zero(const unsigned char *h)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (h[i] != 0)
            return 0;
    return 1;
}

/* a NUL-less field of at most len bytes appended to out */
static void field(char *out, size_t size, const unsigned char *f, size_t len)
{
    size_t n = strnlen((const char *) f, len), have = strlen(out);

    if (have + n >= size)
        n = have < size ? size - have - 1 : 0;
    memcpy(out + have, f, n);
    out[have + n] = '\0';
}

int tar_gz_next(tar_gz *t, tar_gz_entry *e, char *err, size_t errlen)
{
    unsigned char h[BLOCK];
    char long_name[TAR_NAME_MAX + 1] = "";
    int have_long = 0;

    if (t->left > 0 && skip(t, t->left, err, errlen) != 0)
        return -1;
    t->left = 0;
    for (;;) {
        if (read_exact(t, h, BLOCK, err, errlen) != 0)
            return -1;
        if (all_zero(h))
            return 0;                           /* the end-of-archive block */
        if (!checksum_ok(h)) {
            snprintf(err, errlen, "not a tar archive (a header's checksum is wrong)");
            return -1;
        }
        if (++t->entries > t->max_entries) {
            snprintf(err, errlen, "more than %u entries in the archive", t->max_entries);
            return -1;
        }
        unsigned long long size;
        if (octal(h + 124, 12, &size) != 0) {
            snprintf(err, errlen, "not a tar archive (a size is not octal)");
            return -1;
        }
        char type = (char) h[156];
        if (type == 'L') {                      /* GNU: the next entry's name */
            if (size == 0 || size > TAR_NAME_MAX) {
                snprintf(err, errlen, "a long name of %llu bytes", size);
                return -1;
            }
            unsigned char buf[LONG_NAME_BYTES];
            if (read_exact(t, buf, padded(size), err, errlen) != 0)
                return -1;
            memcpy(long_name, buf, size);
            long_name[size] = '\0';
            have_long = 1;
            continue;
        }
        if (type != '0' && type != '\0') {      /* directories, links, pax... */
            if (skip(t, padded(size), err, errlen) != 0)
                return -1;
            have_long = 0;
            continue;
        }
        e->name[0] = '\0';
        if (have_long) {
            snprintf(e->name, sizeof(e->name), "%s", long_name);
        } else {
            if (memcmp(h + 257, "ustar", 5) == 0 && h[345] != '\0') {
                field(e->name, sizeof(e->name), h + 345, 155);
                field(e->name, sizeof(e->name), (const unsigned char *) "/", 1);
            }
            field(e->name, sizeof(e->name), h, 100);
        }
        e->size = size;
        t->left = padded(size);
        return 1;
    }
}

int tar_gz_read(tar_gz *t, const tar_gz_entry *e, unsigned char *buf, char *err, size_t errlen)
{
    unsigned char tail[BLOCK];
    unsigned long long whole = e->size / BLOCK * BLOCK;

    if (t->left != padded(e->size)) {
        snprintf(err, errlen, "the entry was read already");
        return -1;
    }
    if (read_exact(t, buf, (size_t) whole, err, errlen) != 0)
        return -1;
    if (e->size > whole) {
        if (read_exact(t, tail, BLOCK, err, errlen) != 0)
            return -1;
        memcpy(buf + whole, tail, (size_t) (e->size - whole));
    }
    t->left = 0;
    return 0;
}
