#ifndef MW_HTTP_H
#define MW_HTTP_H

/* Concurrent transfers on an event loop: libcurl's multi-socket API
 * (curl_multi_socket_action with socket and timer callbacks) driven by
 * loop.c, so that one thread runs many HTTP requests at once, as the
 * federation's deliveries to many servers need.  Not thread-safe: a client
 * belongs to the thread of its loop. */

#include <stddef.h>
#include <curl/curl.h>

#include "loop.h"

#define HTTP_MAX_RESPONSE (1024 * 1024)     /* response bodies kept */

typedef struct http_client_s http_client;

typedef struct {
    CURLcode     code;              /* CURLE_OK: an answer came */
    long         status;            /* HTTP status, 0 without an answer */
    const char  *body;              /* NUL-terminated, at most HTTP_MAX_RESPONSE */
    size_t       body_len;
    const char  *error;             /* "" or why the transfer failed */
    long long    elapsed_ms;
    CURL        *easy;              /* for curl_easy_getinfo in the callback */
} http_response;

/* Called once per transfer, from the loop; res is valid during the call. */
typedef void (*http_done_cb)(const http_response *res, void *data);

http_client *http_client_new(loop_t *loop);
/* Ends the transfers still running without calling their callbacks. */
void         http_client_free(http_client *client);

/* Starts a request: method (GET, POST, ...), headers a NULL-terminated
 * list of "Name: value" lines (or NULL), body copied (NULL: none),
 * timeout_ms for the whole transfer (connect included).  http and https
 * only, no redirects followed.  0, or -1 with a message in err (done is
 * then not called). */
int http_request_start(http_client *client, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t body_len,
                       long timeout_ms, http_done_cb done, void *data,
                       char *err, size_t errlen);

/* What http_request_start_opts() may change for one request. */
typedef struct {
    long        connect_timeout_ms;     /* 0: timeout_ms */
    size_t      max_response;           /* 0: HTTP_MAX_RESPONSE */
    const char *protocols;              /* NULL: "http,https" */
    /* more options on the handle before it starts (fetch.c: the address
     * guard, the CA file, HTTP/2) */
    void      (*setup)(CURL *easy, void *setup_data);
    void       *setup_data;
} http_options;

int http_request_start_opts(http_client *client, const char *method, const char *url,
                            const char *const *headers, const char *body, size_t body_len,
                            long timeout_ms, const http_options *opts,
                            http_done_cb done, void *data, char *err, size_t errlen);

/* Starts a transfer the caller prepared (e.g. SMTP, mail.c); the client
 * takes the handle and cleans it up after done. */
int http_transfer_start(http_client *client, CURL *easy, http_done_cb done, void *data,
                        char *err, size_t errlen);

/* Number of transfers running. */
int http_running(const http_client *client);

/* Runs the loop until *flag becomes nonzero (a done callback sets it). */
void http_wait(http_client *client, const int *flag);

#endif
