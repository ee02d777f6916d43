#ifndef MSTDN_REDIS_URL_H
#define MSTDN_REDIS_URL_H

#include <stddef.h>

/*
 * A Redis address as Mastodon's REDIS_URL gives it, the one syntax of the
 * module's mastodon_redis and the worker's redis setting:
 *
 *   host[:port], [v6]:port                    (database 0, no password)
 *   redis://[[user]:password@]host[:port][/db]
 *   rediss://...                              (the same over TLS)
 *   unix:/path, unix:///path[?db=N&password=P]
 *
 * User and password are percent-decoded (%XX; a malformed escape or %00 is
 * refused).  The port defaults to 6379.
 */
typedef struct {
    int    tls;                 /* rediss:// */
    char  *host;                /* without brackets; NULL for a unix socket */
    int    port;
    char  *unix_path;           /* NULL for TCP */
    char  *user;                /* NULL: none (AUTH password alone) */
    char  *password;            /* NULL: no AUTH */
    long   db;
} mstdn_redis_url;

/* 0, or -1 (malformed, or out of memory: errno ENOMEM).  Strings are
 * malloc'd; free them with mstdn_redis_url_free(). */
int  mstdn_redis_url_parse(const char *s, size_t len, mstdn_redis_url *u);
void mstdn_redis_url_free(mstdn_redis_url *u);

#endif
