#ifndef MW_REDIS_H
#define MW_REDIS_H

#include <stddef.h>
#include <hiredis/hiredis.h>

#include "config.h"

/* Connects to cfg->redis_url within redis_connect_timeout_ms, sends AUTH
 * and SELECT as the URL asks (on every connection: a reconnect is a
 * redis_open too), then sets the command timeout to
 * redis_timeout_ms + block_ms (block_ms: the longest BLOCK the connection
 * will send).  NULL + err on failure. */
redisContext *redis_open(const worker_config *cfg, long block_ms, char *err, size_t errlen);

/* Like redis_open, but retries with exponential backoff (100 ms .. 5 s),
 * logging failures at error level, until it succeeds or *stop becomes true. */
redisContext *redis_open_retry(const worker_config *cfg, long block_ms, volatile int *stop);

void redis_close(redisContext **c);

/* A Lua script sent as EVALSHA, falling back to EVAL once on NOSCRIPT. */
typedef struct {
    const char *body;
    char        sha1[41];           /* filled in lazily */
} redis_script;

redisReply *redis_eval(redisContext *c, redis_script *script, int numkeys,
                       int argc, const char **argv, const size_t *argvlen);

/* SCRIPT LOAD, so that EVALSHA can be pipelined (a pipelined call cannot
 * fall back to EVAL on NOSCRIPT).  0, or -1 with a message in err. */
int redis_script_load(redisContext *c, redis_script *script, char *err, size_t errlen);

/* One command, its reply checked: 0, or -1 with a message in err.  For
 * commands whose reply only tells success (SET, DEL, PUBLISH...). */
int redis_do(redisContext *c, char *err, size_t errlen, const char *fmt, ...);

/* SET key value EX 3600: a value scripts read later in the same job. */
int redis_do_set(redisContext *c, const char *key, const char *value, size_t len,
                 char *err, size_t errlen);

/* 1 if reply is an error reply starting with prefix (e.g. "BUSYGROUP"). */
int redis_reply_is_error(const redisReply *r, const char *prefix);

#endif
