/*
 * The Poll entity for a viewer: what every viewer sees alike comes from
 * SQL (mastodon_poll_json() of sql/0017_polls.sql, cached with the status
 * rendering); the viewer's "voted" and "own_votes" (REST::PollSerializer,
 * only with a user) are spliced in before its closing brace, here, for
 * statuses and for the polls API alike.
 */

#include "ngx_http_mastodon_entities.h"


u_char *
ngx_http_mastodon_poll_viewer(u_char *out, ngx_str_t *poll, ngx_uint_t voted,
    uint64_t own_votes)
{
    u_char      *p;
    ngx_uint_t   i, n;

    if (poll->len < 2 || poll->data[poll->len - 1] != '}') {
        return ngx_cpymem(out, poll->data, poll->len);
    }

    p = ngx_cpymem(out, poll->data, poll->len - 1);
    p = ngx_sprintf(p, ",\"voted\":%s,\"own_votes\":[",
                    voted ? "true" : "false");

    n = 0;

    for (i = 0; i < NGX_HTTP_MASTODON_POLL_CHOICES; i++) {
        if (own_votes & ((uint64_t) 1 << i)) {
            p = ngx_sprintf(p, n++ ? ",%ui" : "%ui", i);
        }
    }

    *p++ = ']';
    *p++ = '}';

    return p;
}
