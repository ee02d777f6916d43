#ifndef MW_FETCH_H
#define MW_FETCH_H

/* The one guarded client for every request to other servers (actors,
 * keys, objects, WebFinger, collections, and the deliveries' POSTs), on
 * the thread's libcurl multi client (http.c):
 *
 * - https only, unless the worker setting federation_allow_http is 1;
 * - no loopback, private, link-local, multicast, unspecified or reserved
 *   address (IPv4 and IPv6, v4-mapped included) unless the address is in
 *   federation_allowed_addresses; checked on the resolved address curl is
 *   about to connect to (CURLOPT_OPENSOCKETFUNCTION), so a refused
 *   address is never connected to, whatever DNS answered;
 * - redirects of a GET followed by hand (at most FETCH_MAX_REDIRECTS, each
 *   checked again: scheme, then the address when it connects); none for
 *   a POST;
 * - a response size limit, connect and total time limits;
 * - the Accept header of the kind asked for; the CA file `ca_file`;
 * - the final URL reported, so a caller can hold a document authoritative
 *   only for its own id (the final URL equals the id).
 *
 * Two ways to use it: fetch_start() with a callback (many at once on one
 * loop: deliveries), or fetch_run() which starts one and http_wait()s for
 * it (job handlers that need one document). */

#include <stddef.h>
#include <curl/curl.h>

#include "config.h"
#include "http.h"

#define FETCH_MAX_REDIRECTS  3
#define FETCH_MAX_BYTES      (1024 * 1024)     /* Mastodon's body_with_limit */

typedef enum {
    FETCH_ACTIVITYPUB,      /* actor, key, object, collection */
    FETCH_WEBFINGER,        /* application/jrd+json */
    FETCH_DELIVERY,         /* a POST of an activity to an inbox */
    FETCH_OTHER             /* Accept: * / * (host-meta, nodeinfo...) */
} fetch_kind;

/* The outcome, as callers decide on it. */
typedef enum {
    FETCH_OK = 0,           /* an answer came (any status: see status) */
    FETCH_REFUSED,          /* the guard refused: scheme, address, URL;
                             * never worth a retry */
    FETCH_FAILED,           /* no usable answer: DNS, connect, TLS, timeout,
                             * too large, too many redirects; retry later */
} fetch_outcome;

/* Signs one request (one hop: a redirect is signed again for its own URL;
 * a retry gets a fresh Date).  Adds its headers ("Name: value") with
 * curl_slist_append to *headers: Date, Signature, and Digest or
 * Content-Digest for a body.  0, or -1 with a message in err. */
typedef int (*fetch_sign_fn)(void *sign_data, const char *method, const char *url,
                             const char *body, size_t body_len,
                             struct curl_slist **headers, char *err, size_t errlen);

typedef struct {
    fetch_kind      kind;
    const char     *method;         /* NULL: GET, or POST when body is set */
    const char     *url;
    const char     *body;           /* copied; NULL: none */
    size_t          body_len;
    const char     *content_type;   /* NULL: application/activity+json for a body */
    const char *const *headers;     /* more "Name: value" lines, NULL-terminated, or NULL */
    fetch_sign_fn   sign;           /* NULL: unsigned */
    void           *sign_data;
    long            timeout_ms;     /* 0: fetch_timeout_ms */
    long            connect_timeout_ms;  /* 0: fetch_connect_timeout_ms */
    size_t          max_bytes;      /* 0: FETCH_MAX_BYTES */
} fetch_request;

typedef struct {
    fetch_outcome   outcome;
    long            status;         /* HTTP status, 0 without an answer */
    char           *body;           /* NUL-terminated, malloc'd ("" when none) */
    size_t          body_len;
    char           *final_url;      /* the URL that answered, after redirects */
    char           *content_type;   /* NULL when none */
    long            retry_after;    /* seconds from Retry-After, 0 when none */
    int             redirects;      /* how many were followed */
    long long       elapsed_ms;
    char            error[256];     /* "" or why (no answer, refused) */
} fetch_response;

/* Called once per fetch, from the loop.  The callback may take res->body,
 * res->final_url or res->content_type (set the field to NULL); the rest is
 * freed after it returns. */
typedef void (*fetch_done_fn)(fetch_response *res, void *data);

/* Starts a fetch on the thread's client.  0, or -1 with a message in err
 * (done is then not called; a URL refused at once, e.g. http:// without
 * federation_allow_http, is reported through done as FETCH_REFUSED). */
int  fetch_start(http_client *http, const worker_config *cfg, const fetch_request *req,
                 fetch_done_fn done, void *data, char *err, size_t errlen);

/* Starts one fetch and runs the loop until it is done; *res is filled
 * (free it with fetch_response_free).  Returns res->outcome (or
 * FETCH_FAILED when it could not start, with the reason in res->error). */
fetch_outcome fetch_run(http_client *http, const worker_config *cfg, const fetch_request *req,
                        fetch_response *res);

void fetch_response_free(fetch_response *res);

/* The guard's rules, for callers and tests.  1 if a connection to the
 * address (struct sockaddr of AF_INET or AF_INET6) is allowed: a public
 * address, or one in federation_allowed_addresses. */
int  fetch_address_allowed(const worker_config *cfg, const void *sockaddr);

/* 1 if the URL's scheme is allowed (https, or http with
 * federation_allow_http), it has a host, and no user:password part. */
int  fetch_url_allowed(const worker_config *cfg, const char *url);

/* The host of an http(s) URL, lower-cased, without the port, into out
 * (IPv6 literal without brackets; only letters, digits, '.', '-', '_'
 * and ':').  0, or -1 when there is none, it is too long or has other
 * characters. */
int  fetch_url_host(const char *url, char *out, size_t outlen);

/* An account's domain from its URL: the host, and ":port" when the URL
 * names a port other than its scheme's (Mastodon's domain of an instance
 * served at host:port, as its WebFinger acct names it).  0 or -1. */
int  fetch_url_domain(const char *url, char *out, size_t outlen);

#endif
