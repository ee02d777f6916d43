/*
 * Jobs for mastodon-worker: an XADD to the Redis stream of a queue, with
 * the fields of the contract in ARCHITECTURE.md ("Job entry"):
 *
 *   XADD mastodon:queue:<name> * type <t> args <json> attempt 0
 *        jid <16 hex digits> enqueued_at <ms>
 */

#include <openssl/rand.h>

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_QUEUE_PREFIX  "mastodon:queue:"


/*
 * NGX_OK: handler(r, reply, data) will be called (the entry id, a string,
 * on success).  NGX_ERROR: Redis is unavailable; the handler will not be
 * called.
 */
ngx_int_t
ngx_http_mastodon_enqueue(ngx_http_request_t *r, const char *queue,
    const char *type, ngx_str_t *args,
    ngx_http_mastodon_redis_done_pt handler, void *data)
{
    u_char       raw[8];
    u_char       key[sizeof(NGX_HTTP_MASTODON_QUEUE_PREFIX) + 64];
    u_char       jid[16], ms[NGX_INT64_LEN];
    size_t       qlen;
    ngx_time_t  *tp;
    const char  *argv[13];
    size_t       argvlen[13];

    qlen = ngx_strlen(queue);
    if (qlen == 0 || qlen > 64) {
        return NGX_ERROR;
    }

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "mastodon: no random bytes for a job id");
        return NGX_ERROR;
    }

    ngx_hex_dump(jid, raw, sizeof(raw));

    tp = ngx_timeofday();

    argv[0] = "XADD";
    argvlen[0] = 4;
    argv[1] = (const char *) key;
    argvlen[1] = ngx_sprintf(key, NGX_HTTP_MASTODON_QUEUE_PREFIX "%s", queue)
                 - key;
    argv[2] = "*";
    argvlen[2] = 1;
    argv[3] = "type";
    argvlen[3] = 4;
    argv[4] = type;
    argvlen[4] = ngx_strlen(type);
    argv[5] = "args";
    argvlen[5] = 4;
    argv[6] = (const char *) args->data;
    argvlen[6] = args->len;
    argv[7] = "attempt";
    argvlen[7] = 7;
    argv[8] = "0";
    argvlen[8] = 1;
    argv[9] = "jid";
    argvlen[9] = 3;
    argv[10] = (const char *) jid;
    argvlen[10] = sizeof(jid);
    argv[11] = "enqueued_at";
    argvlen[11] = 11;
    argv[12] = (const char *) ms;
    argvlen[12] = ngx_sprintf(ms, "%L",
                              (int64_t) tp->sec * 1000 + tp->msec) - ms;

    ngx_log_debug4(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "mastodon: enqueue %s %s jid %*s", queue, type,
                   sizeof(jid), jid);

    return ngx_http_mastodon_redis_command(r, handler, data, 13, argv,
                                           argvlen);
}
