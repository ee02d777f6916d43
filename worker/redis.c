/* Redis connection helpers for the blocking (hiredis sync) connections the
 * worker threads and the CLI use. */
#include "redis.h"
#include "log.h"
#include "redis_tls.h"
#include "util.h"

#include <limits.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/sha.h>

/* A reply that only tells success: 0, or -1 with what failed in err.
 * Frees r. */
static int redis_check(redisContext *c, redisReply *r, const char *what, char *err, size_t errlen)
{
    int rc = 0;

    if (r == NULL) {
        snprintf(err, errlen, "%s: %s", what, c->errstr);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, errlen, "%s: %s", what, r->str);
        rc = -1;
    }
    freeReplyObject(r);
    return rc;
}

/* AUTH [user] password and SELECT db, as every new connection needs before
 * its first command.  Redis' refusals name no secret; neither does err. */
static int redis_hello(redisContext *c, const worker_config *cfg, char *err, size_t errlen)
{
    const mstdn_redis_url *u = &cfg->redis_url;
    const char *argv[3];
    size_t argvlen[3];
    char db[24];
    int argc = 0;

    if (u->password != NULL && u->password[0] != '\0') {
        argv[argc] = "AUTH";
        argvlen[argc++] = 4;
        if (u->user != NULL) {
            argv[argc] = u->user;
            argvlen[argc++] = strlen(u->user);
        }
        argv[argc] = u->password;
        argvlen[argc++] = strlen(u->password);
        if (redis_check(c, redisCommandArgv(c, argc, argv, argvlen), "AUTH", err, errlen) != 0)
            return -1;
    }
    if (u->db != 0) {
        snprintf(db, sizeof(db), "%ld", u->db);
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = strlen(db);
        if (redis_check(c, redisCommandArgv(c, 2, argv, argvlen), "SELECT", err, errlen) != 0)
            return -1;
    }
    return 0;
}

redisContext *redis_open(const worker_config *cfg, long block_ms, char *err, size_t errlen)
{
    const mstdn_redis_url *u = &cfg->redis_url;
    const char *name = cfg->redis_name;
    long connect_ms = cfg->redis_connect_timeout_ms;
    long read_timeout_ms = cfg->redis_timeout_ms + block_ms;
    struct timeval connect_timeout = { connect_ms / 1000, (connect_ms % 1000) * 1000 };
    struct timeval rt = { read_timeout_ms / 1000, (read_timeout_ms % 1000) * 1000 };
    redisContext *c;

    if (u->tls) {
        char why[400];
        int fd = redis_tls_connect(cfg, why, sizeof(why));
        if (fd < 0) {
            snprintf(err, errlen, "redis %s: %s", name, why);
            return NULL;
        }
        c = redisConnectFd(fd);
        if (c == NULL)
            close(fd);
    } else if (u->unix_path != NULL)
        c = redisConnectUnixWithTimeout(u->unix_path, connect_timeout);
    else
        c = redisConnectWithTimeout(u->host, u->port, connect_timeout);

    if (c == NULL) {
        snprintf(err, errlen, "redis %s: out of memory", name);
        return NULL;
    }
    if (c->err) {
        snprintf(err, errlen, "redis %s: %s", name, c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, rt) != REDIS_OK) {
        snprintf(err, errlen, "redis %s: cannot set timeout", name);
        redisFree(c);
        return NULL;
    }
    if (u->unix_path == NULL && !u->tls)
        redisEnableKeepAlive(c);       /* the TLS bridge keeps its own alive */

    char why[400];
    if (redis_hello(c, cfg, why, sizeof(why)) != 0) {
        snprintf(err, errlen, "redis %s: %s", name, why);
        redisFree(c);
        return NULL;
    }
    return c;
}

redisContext *redis_open_retry(const worker_config *cfg, long block_ms, volatile int *stop)
{
    long delay = 100;
    char err[512];

    while (!*stop) {
        redisContext *c = redis_open(cfg, block_ms, err, sizeof(err));
        if (c != NULL)
            return c;
        /* Loud on the first failure and then every 5 s, not on each try. */
        mlog(delay == 100 || delay == 5000 ? LOG_ERROR : LOG_DEBUG, "%s, retrying in %ld ms", err, delay);

        /* Sleep in small steps so a shutdown is not held up. */
        for (long slept = 0; slept < delay && !*stop; slept += 100)
            sleep_ms(100);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
    return NULL;
}

void redis_close(redisContext **c)
{
    if (*c != NULL) {
        redisFree(*c);
        *c = NULL;
    }
}

int redis_reply_is_error(const redisReply *r, const char *prefix)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR
           && strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static pthread_mutex_t sha_lock = PTHREAD_MUTEX_INITIALIZER;

static void script_sha1(redis_script *script)
{
    pthread_mutex_lock(&sha_lock);
    if (script->sha1[0] == '\0') {
        unsigned char md[SHA_DIGEST_LENGTH];

        SHA1((const unsigned char *) script->body, strlen(script->body), md);
        hex_encode(script->sha1, md, sizeof(md));
    }
    pthread_mutex_unlock(&sha_lock);
}

redisReply *redis_eval(redisContext *c, redis_script *script, int numkeys,
                       int argc, const char **argv, const size_t *argvlen)
{
    enum { MAX_ARGS = 32 };
    const char *args[MAX_ARGS + 3];
    size_t lens[MAX_ARGS + 3];
    char nk[16];

    if (argc > MAX_ARGS)
        return NULL;
    script_sha1(script);
    snprintf(nk, sizeof(nk), "%d", numkeys);

    args[0] = "EVALSHA";
    args[1] = script->sha1;
    args[2] = nk;
    lens[0] = 7;
    lens[1] = 40;
    lens[2] = strlen(nk);
    for (int i = 0; i < argc; i++) {
        args[i + 3] = argv[i];
        lens[i + 3] = argvlen ? argvlen[i] : strlen(argv[i]);
    }

    redisReply *r = redisCommandArgv(c, argc + 3, args, lens);
    if (redis_reply_is_error(r, "NOSCRIPT")) {
        freeReplyObject(r);
        args[0] = "EVAL";
        args[1] = script->body;
        lens[0] = 4;
        lens[1] = strlen(script->body);
        r = redisCommandArgv(c, argc + 3, args, lens);
    }
    return r;
}

int redis_script_load(redisContext *c, redis_script *script, char *err, size_t errlen)
{
    script_sha1(script);
    redisReply *r = redisCommand(c, "SCRIPT LOAD %s", script->body);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = r->type == REDIS_REPLY_STRING && strcmp(r->str, script->sha1) == 0 ? 0 : -1;
    if (rc != 0)
        snprintf(err, errlen, "redis: SCRIPT LOAD: %s", r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
    freeReplyObject(r);
    return rc;
}

int redis_do(redisContext *c, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL) {
        snprintf(err, errlen, "redis: %s", c->errstr);
        return -1;
    }
    int rc = r->type == REDIS_REPLY_ERROR ? -1 : 0;
    if (rc != 0)
        snprintf(err, errlen, "redis: %s", r->str);
    freeReplyObject(r);
    return rc;
}

int redis_do_set(redisContext *c, const char *key, const char *value, size_t len,
                 char *err, size_t errlen)
{
    return redis_do(c, err, errlen, "SET %s %b EX 3600", key, value, len);
}
