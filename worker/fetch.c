/* The guarded client towards other servers (fetch.h): one state per fetch
 * lives across its redirect hops; each hop is one http.c transfer whose
 * handle gets the address guard (CURLOPT_OPENSOCKETFUNCTION: curl asks us
 * for the socket of each address it is about to connect to, and a refused
 * one gets none), the CA file and HTTP/2. */
#include "fetch.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FETCH_USER_AGENT "mastodon-worker (Mastodon/4.4.0; +%s/)"

typedef struct {
    http_client          *http;
    const worker_config  *cfg;
    fetch_request         req;          /* its strings are ours (below) */
    char                 *url;          /* this hop's */
    char                 *body;
    fetch_done_fn         done;
    void                 *data;
    int                   redirects;
    int                   refused;      /* the guard refused an address */
    char                  refused_addr[INET6_ADDRSTRLEN];
    long long             started;
    char                  user_agent[600];
} fetch_state;

/* --- the address rules ------------------------------------------------------ */

static int prefix_match(const unsigned char *a, const unsigned char *net, int bits)
{
    int full = bits / 8, rest = bits % 8;

    if (memcmp(a, net, (size_t) full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char) (0xff << (8 - rest));
    return (a[full] & mask) == (net[full] & mask);
}

/* IPv4 ranges that are not the public Internet (RFC 6890 and Mastodon's
 * PrivateAddressCheck): this network, private, shared (CGNAT), loopback,
 * link-local, IETF assignments, documentation, benchmarking, multicast,
 * reserved, broadcast. */
static int v4_special(const unsigned char *a)
{
    static const struct { unsigned char net[4]; int bits; } ranges[] = {
        { { 0, 0, 0, 0 }, 8 },        { { 10, 0, 0, 0 }, 8 },
        { { 100, 64, 0, 0 }, 10 },    { { 127, 0, 0, 0 }, 8 },
        { { 169, 254, 0, 0 }, 16 },   { { 172, 16, 0, 0 }, 12 },
        { { 192, 0, 0, 0 }, 24 },     { { 192, 0, 2, 0 }, 24 },
        { { 192, 88, 99, 0 }, 24 },   { { 192, 168, 0, 0 }, 16 },
        { { 198, 18, 0, 0 }, 15 },    { { 198, 51, 100, 0 }, 24 },
        { { 203, 0, 113, 0 }, 24 },   { { 224, 0, 0, 0 }, 4 },
        { { 240, 0, 0, 0 }, 4 },
    };
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (prefix_match(a, ranges[i].net, ranges[i].bits))
            return 1;
    }
    return 0;
}

/* The IPv4 address an IPv6 one carries and would reach (v4-mapped,
 * v4-compatible, NAT64, 6to4), or NULL. */
static const unsigned char *v6_embedded_v4(const unsigned char *a)
{
    static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    static const unsigned char zero[12];
    static const unsigned char nat64[12] = { 0, 0x64, 0xff, 0x9b };

    if (memcmp(a, mapped, 12) == 0 || memcmp(a, zero, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12;
    if (a[0] == 0x20 && a[1] == 0x02)
        return a + 2;
    return NULL;
}

static int v6_special(const unsigned char *a)
{
    static const struct { unsigned char net[16]; int bits; } ranges[] = {
        { { 0x01, 0x00 }, 64 },                   /* 100::/64 discard */
        { { 0x20, 0x01, 0x00, 0x00 }, 23 },       /* 2001::/23 IETF, Teredo */
        { { 0x20, 0x01, 0x0d, 0xb8 }, 32 },       /* documentation */
        { { 0xfc }, 7 },                          /* unique local */
        { { 0xfe, 0x80 }, 10 },                   /* link-local */
        { { 0xfe, 0xc0 }, 10 },                   /* site-local */
        { { 0xff }, 8 },                          /* multicast */
    };
    const unsigned char *v4 = v6_embedded_v4(a);

    if (v4 != NULL) {
        static const unsigned char zero[16];
        /* :: and ::1 are v4-compatible in form; both are special */
        if (memcmp(a, zero, 15) == 0)
            return 1;
        return v4_special(v4);
    }
    for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
        if (prefix_match(a, ranges[i].net, ranges[i].bits))
            return 1;
    }
    return 0;
}

static int in_allowlist(const worker_config *cfg, int family, const unsigned char *a)
{
    for (int i = 0; i < cfg->nallowed; i++) {
        if (cfg->allowed[i].family == family
            && prefix_match(a, cfg->allowed[i].addr, cfg->allowed[i].prefix))
            return 1;
    }
    return 0;
}

int fetch_address_allowed(const worker_config *cfg, const void *sockaddr)
{
    const struct sockaddr *sa = sockaddr;

    if (sa->sa_family == AF_INET) {
        const unsigned char *a =
            (const unsigned char *) &((const struct sockaddr_in *) sa)->sin_addr;
        return in_allowlist(cfg, AF_INET, a) || !v4_special(a);
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *a =
            (const unsigned char *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
        const unsigned char *v4 = v6_embedded_v4(a);
        static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

        if (in_allowlist(cfg, AF_INET6, a))
            return 1;
        /* ::ffff:127.0.0.1 is 127.0.0.1: the v4 allowlist speaks for it */
        if (v4 != NULL && memcmp(a, mapped, 12) == 0 && in_allowlist(cfg, AF_INET, v4))
            return 1;
        return !v6_special(a);
    }
    return 0;
}

/* --- URLs ---------------------------------------------------------------- */

int fetch_url_host(const char *url, char *out, size_t outlen)
{
    const char *p;

    if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else
        return -1;

    size_t auth = strcspn(p, "/?#");
    const char *at = memchr(p, '@', auth);
    if (at != NULL)
        return -1;
    const char *end;
    if (*p == '[') {
        end = memchr(p, ']', auth);
        if (end == NULL)
            return -1;
        p++;
    } else {
        end = p;
        while (end < p + auth && *end != ':')
            end++;
    }
    size_t n = (size_t) (end - p);
    if (n == 0 || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) p[i];
        /* a host name (IDNs as punycode), an IPv4 or IPv6 literal */
        if (!isalnum(c) && c != '.' && c != '-' && c != '_' && c != ':')
            return -1;
        out[i] = (char) tolower(c);
    }
    out[n] = '\0';
    return 0;
}

int fetch_url_domain(const char *url, char *out, size_t outlen)
{
    if (fetch_url_host(url, out, outlen) != 0)
        return -1;

    int https = strncasecmp(url, "https://", 8) == 0;
    const char *p = url + (https ? 8 : 7);
    size_t auth = strcspn(p, "/?#");
    const char *colon = NULL;
    if (*p == '[') {
        const char *end = memchr(p, ']', auth);
        if (end != NULL && end + 1 < p + auth && end[1] == ':')
            colon = end + 1;
    } else {
        colon = memchr(p, ':', auth);
    }
    if (colon == NULL)
        return 0;

    size_t digits = (size_t) (p + auth - colon - 1);
    if (digits == 0 || digits > 5 || strspn(colon + 1, "0123456789") < digits)
        return -1;
    long port = strtol(colon + 1, NULL, 10);
    if (port < 1 || port > 65535)
        return -1;
    if (port == (https ? 443 : 80))
        return 0;

    size_t n = strlen(out);
    int w = snprintf(out + n, outlen - n, ":%ld", port);
    return w > 0 && (size_t) w < outlen - n ? 0 : -1;
}

int fetch_url_allowed(const worker_config *cfg, const char *url)
{
    char host[256];

    if (strncmp(url, "https://", 8) != 0
        && !(cfg->federation_allow_http && strncmp(url, "http://", 7) == 0))
        return 0;
    if (strlen(url) > 4096 || strpbrk(url, " \t\r\n") != NULL)
        return 0;
    return fetch_url_host(url, host, sizeof(host)) == 0;
}

/* --- transfers ----------------------------------------------------------- */

static const char *accept_header(fetch_kind kind)
{
    switch (kind) {
    case FETCH_ACTIVITYPUB:
        return "Accept: application/activity+json, "
               "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"";
    case FETCH_WEBFINGER:
        return "Accept: application/jrd+json, application/json";
    case FETCH_DELIVERY:
    case FETCH_OTHER:
    default:
        return "Accept: */*";
    }
}

/* CURLOPT_OPENSOCKETFUNCTION: the guard, on the address curl connects to. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *address)
{
    fetch_state *st = clientp;

    if (!fetch_address_allowed(st->cfg, &address->addr)) {
        st->refused = 1;
        const void *a = address->family == AF_INET6
            ? (const void *) &((struct sockaddr_in6 *) &address->addr)->sin6_addr
            : (const void *) &((struct sockaddr_in *) &address->addr)->sin_addr;
        if (inet_ntop(address->family, a, st->refused_addr, sizeof(st->refused_addr)) == NULL)
            snprintf(st->refused_addr, sizeof(st->refused_addr), "?");
        return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype, address->protocol);
}

static void setup_handle(CURL *easy, void *data)
{
    fetch_state *st = data;

    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, st);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, st->user_agent);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long) CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");   /* what curl can decode */
    curl_easy_setopt(easy, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);           /* reuse an HTTP/2 connection */
    if (st->cfg->ca_file[0] != '\0')
        curl_easy_setopt(easy, CURLOPT_CAINFO, st->cfg->ca_file);
}

static void state_free(fetch_state *st)
{
    if (st == NULL)
        return;
    free(st->url);
    free(st->body);
    free(st);
}

static void finish(fetch_state *st, fetch_response *res)
{
    res->redirects = st->redirects;
    res->elapsed_ms = monotonic_ms() - st->started;
    if (res->body == NULL)
        res->body = strdup("");
    if (res->final_url == NULL)
        res->final_url = st->url, st->url = NULL;
    st->done(res, st->data);
    fetch_response_free(res);
    state_free(st);
}

static void fail(fetch_state *st, fetch_outcome outcome, const char *fmt, const char *arg)
{
    fetch_response res;

    memset(&res, 0, sizeof(res));
    res.outcome = outcome;
    snprintf(res.error, sizeof(res.error), fmt, arg);
    finish(st, &res);
}

static int hop_start(fetch_state *st, char *err, size_t errlen);

static void hop_done(const http_response *hr, void *data)
{
    fetch_state *st = data;
    fetch_response res;
    char err[256];

    memset(&res, 0, sizeof(res));
    if (hr->code != CURLE_OK) {
        res.outcome = st->refused ? FETCH_REFUSED : FETCH_FAILED;
        if (st->refused)
            snprintf(res.error, sizeof(res.error), "address %s is not allowed", st->refused_addr);
        else
            snprintf(res.error, sizeof(res.error), "%s", hr->error);
        finish(st, &res);
        return;
    }

    long status = hr->status;
    const char *method = st->req.method;
    if ((status == 301 || status == 302 || status == 303 || status == 307 || status == 308)
        && strcmp(method, "GET") == 0) {
        char *location = NULL;
        curl_easy_getinfo(hr->easy, CURLINFO_REDIRECT_URL, &location);
        if (location == NULL) {
            fail(st, FETCH_FAILED, "redirect %s without a Location", "");
            return;
        }
        if (st->redirects >= FETCH_MAX_REDIRECTS) {
            fail(st, FETCH_FAILED, "more than %s redirects", "3");
            return;
        }
        if (!fetch_url_allowed(st->cfg, location)) {
            fail(st, FETCH_REFUSED, "redirect to a refused URL: %.200s", location);
            return;
        }
        char *next = strdup(location);
        if (next == NULL) {
            fail(st, FETCH_FAILED, "out of memory%s", "");
            return;
        }
        free(st->url);
        st->url = next;
        st->redirects++;
        st->refused = 0;
        if (hop_start(st, err, sizeof(err)) != 0)
            fail(st, FETCH_FAILED, "%s", err);
        return;
    }

    res.outcome = FETCH_OK;
    res.status = status;
    res.body = malloc(hr->body_len + 1);
    if (res.body != NULL) {
        memcpy(res.body, hr->body, hr->body_len);
        res.body[hr->body_len] = '\0';
        res.body_len = hr->body_len;
    }
    char *ct = NULL;
    curl_easy_getinfo(hr->easy, CURLINFO_CONTENT_TYPE, &ct);
    if (ct != NULL)
        res.content_type = strdup(ct);
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(hr->easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK)
        res.retry_after = (long) retry_after;
    finish(st, &res);
}

static int hop_start(fetch_state *st, char *err, size_t errlen)
{
    struct curl_slist *list = NULL, *l;
    const char *lines[48];
    char ctype[200];
    size_t n = 0;
    int rc = -1;

    lines[n++] = accept_header(st->req.kind);
    if (st->body != NULL) {
        snprintf(ctype, sizeof(ctype), "Content-Type: %s",
                 st->req.content_type ? st->req.content_type : "application/activity+json");
        lines[n++] = ctype;
    }
    for (size_t i = 0; st->req.headers != NULL && st->req.headers[i] != NULL && n < 24; i++)
        lines[n++] = st->req.headers[i];
    if (st->req.sign != NULL) {
        if (st->req.sign(st->req.sign_data, st->req.method, st->url, st->body,
                         st->body != NULL ? st->req.body_len : 0, &list, err, errlen) != 0)
            goto out;
        for (l = list; l != NULL && n < 46; l = l->next)
            lines[n++] = l->data;
    }
    lines[n++] = "Expect:";     /* no 100-continue round trip for a POST */
    lines[n] = NULL;

    http_options opts = {
        .connect_timeout_ms = st->req.connect_timeout_ms > 0 ? st->req.connect_timeout_ms
                                                             : st->cfg->fetch_connect_timeout_ms,
        .max_response = st->req.max_bytes > 0 ? st->req.max_bytes : FETCH_MAX_BYTES,
        .protocols = st->cfg->federation_allow_http ? "http,https" : "https",
        .setup = setup_handle,
        .setup_data = st,
    };
    long timeout = st->req.timeout_ms > 0 ? st->req.timeout_ms : st->cfg->fetch_timeout_ms;
    rc = http_request_start_opts(st->http, st->req.method, st->url, lines, st->body,
                                 st->body != NULL ? st->req.body_len : 0, timeout, &opts,
                                 hop_done, st, err, errlen);
out:
    curl_slist_free_all(list);
    return rc;
}

int fetch_start(http_client *http, const worker_config *cfg, const fetch_request *req,
                fetch_done_fn done, void *data, char *err, size_t errlen)
{
    fetch_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->http = http;
    st->cfg = cfg;
    st->req = *req;
    st->done = done;
    st->data = data;
    st->started = monotonic_ms();
    if (st->req.method == NULL)
        st->req.method = req->body != NULL ? "POST" : "GET";
    snprintf(st->user_agent, sizeof(st->user_agent), FETCH_USER_AGENT, cfg->base);
    st->url = strdup(req->url);
    if (req->body != NULL) {
        st->body = malloc(req->body_len + 1);
        if (st->body != NULL) {
            memcpy(st->body, req->body, req->body_len);
            st->body[req->body_len] = '\0';
        }
    }
    if (st->url == NULL || (req->body != NULL && st->body == NULL)) {
        state_free(st);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    st->req.url = NULL;
    st->req.body = NULL;

    if (!fetch_url_allowed(cfg, st->url)) {
        fail(st, FETCH_REFUSED, "refused URL: %.200s", req->url);
        return 0;
    }
    if (hop_start(st, err, errlen) != 0) {
        state_free(st);
        return -1;
    }
    return 0;
}

typedef struct {
    int             done;
    fetch_response *res;
} fetch_waiter;

static void run_done(fetch_response *res, void *data)
{
    fetch_waiter *w = data;

    *w->res = *res;
    /* the response's memory is the caller's now */
    res->body = NULL;
    res->final_url = NULL;
    res->content_type = NULL;
    w->done = 1;
}

fetch_outcome fetch_run(http_client *http, const worker_config *cfg, const fetch_request *req,
                        fetch_response *res)
{
    fetch_waiter w = { 0, res };
    char err[256];

    memset(res, 0, sizeof(*res));
    if (fetch_start(http, cfg, req, run_done, &w, err, sizeof(err)) != 0) {
        res->outcome = FETCH_FAILED;
        snprintf(res->error, sizeof(res->error), "%s", err);
        return res->outcome;
    }
    http_wait(http, &w.done);
    if (!w.done) {
        res->outcome = FETCH_FAILED;
        snprintf(res->error, sizeof(res->error), "the event loop failed");
    }
    return res->outcome;
}

void fetch_response_free(fetch_response *res)
{
    free(res->body);
    free(res->final_url);
    free(res->content_type);
    res->body = NULL;
    res->final_url = NULL;
    res->content_type = NULL;
}
