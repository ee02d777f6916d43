#ifndef TAR_GZ_H
#define TAR_GZ_H

/* A bounded .tar.gz reader (worker/tar_gz.c): the regular files of an
 * archive one after the other, their names and bytes; nothing is written
 * to disk.  Bounds: max_total bytes unpacked (headers included) and
 * max_entries headers, past which the archive is refused. */
#include <stddef.h>

#define TAR_NAME_MAX  1024

typedef struct tar_gz tar_gz;

typedef struct {
    char                name[TAR_NAME_MAX + 1];   /* as in the archive */
    unsigned long long  size;
} tar_gz_entry;

tar_gz *tar_gz_open(const char *path, unsigned long long max_total, unsigned max_entries,
                    char *err, size_t errlen);
/* the next regular file: 1, 0 at the end, -1 + err (a broken archive or
 * past a bound: stop).  An entry not read is skipped by the next call. */
int tar_gz_next(tar_gz *t, tar_gz_entry *e, char *err, size_t errlen);
/* the current entry's e->size bytes into buf: 0, or -1 + err */
int tar_gz_read(tar_gz *t, const tar_gz_entry *e, unsigned char *buf, char *err,
                size_t errlen);
void tar_gz_close(tar_gz *t);

#endif
