/*
 * Throttled logging for backend failures.  During an outage every request
 * fails the same way; one error line each filled hundreds of megabytes of
 * log.  A throttle writes the first message of an interval and counts the
 * rest; the count is written when the next interval's first message comes
 * or when the outage ends (ngx_http_mastodon_log_throttle_end()).
 *
 *     static ngx_http_mastodon_log_throttle_t  unavailable =
 *         ngx_http_mastodon_log_throttle("Redis is unavailable");
 *
 *     ngx_http_mastodon_log_throttled(&unavailable, NGX_LOG_ERR, log, 0,
 *                                     "mastodon: Redis is unavailable");
 *
 * Throttles are per worker (module globals or fields of per-worker structs).
 * The log given must be valid now (a request's while it runs).
 */

#include "ngx_http_mastodon_backend.h"


static void ngx_http_mastodon_log_throttle_count(
    ngx_http_mastodon_log_throttle_t *t, ngx_log_t *log);


void
ngx_http_mastodon_log_throttled(ngx_http_mastodon_log_throttle_t *t,
    ngx_uint_t level, ngx_log_t *log, ngx_err_t err, const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[NGX_MAX_ERROR_STR];

    if (t->active
        && (ngx_msec_int_t) (ngx_current_msec - t->start)
           < NGX_HTTP_MASTODON_LOG_INTERVAL)
    {
        t->suppressed++;
        return;
    }

    ngx_http_mastodon_log_throttle_count(t, log);

    t->active = 1;
    t->start = ngx_current_msec;

    if (log->log_level < level) {
        return;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ngx_log_error(level, log, err, "%*s", p - buf, buf);
}


/* The outage is over: what was held back is counted, the next is logged. */
void
ngx_http_mastodon_log_throttle_end(ngx_http_mastodon_log_throttle_t *t,
    ngx_log_t *log)
{
    ngx_http_mastodon_log_throttle_count(t, log);
    t->active = 0;
}


static void
ngx_http_mastodon_log_throttle_count(ngx_http_mastodon_log_throttle_t *t,
    ngx_log_t *log)
{
    if (t->suppressed == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "mastodon: %ui more \"%s\" failures in %M ms",
                  t->suppressed, t->what, ngx_current_msec - t->start);

    t->suppressed = 0;
}
