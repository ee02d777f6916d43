/* libcurl's multi-socket API on loop.c: curl says which sockets to watch
 * (socket callback) and when to call it back (timer callback); the loop
 * reports readiness with curl_multi_socket_action, and finished transfers
 * are collected with curl_multi_info_read after each call. */
#include "http.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_client_s {
    loop_t     *loop;
    CURLM      *multi;
    loop_timer  timer;
    int         running;            /* transfers added, not yet done */
    struct http_transfer_s *transfers;
};

typedef struct http_transfer_s {
    struct http_transfer_s *prev, *next;    /* the client's running ones */
    http_client        *client;
    CURL               *easy;
    struct curl_slist  *headers;
    char               *body;
    size_t              body_len;
    int                 too_large;
    size_t              max_response;
    http_done_cb        done;
    void               *data;
    long long           started;
    char                error[CURL_ERROR_SIZE];
} http_transfer;

static void transfer_free(http_transfer *t)
{
    http_client *c = t->client;
    if (t->prev != NULL)
        t->prev->next = t->next;
    else if (c->transfers == t)
        c->transfers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    curl_easy_cleanup(t->easy);
    curl_slist_free_all(t->headers);
    free(t->body);
    free(t);
}

/* Transfers curl reports finished: their callbacks, then they go. */
static void collect_done(http_client *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode code = msg->data.result;
        http_transfer *t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &t);
        curl_multi_remove_handle(c->multi, easy);
        c->running--;

        http_response res;
        memset(&res, 0, sizeof(res));
        res.code = code;
        res.easy = easy;
        res.body = t->body != NULL ? t->body : "";
        res.body_len = t->body_len;
        res.elapsed_ms = monotonic_ms() - t->started;
        if (code == CURLE_OK)
            curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &res.status);
        if (t->too_large)
            res.error = "response body too large";
        else if (code != CURLE_OK)
            res.error = t->error[0] ? t->error : curl_easy_strerror(code);
        else
            res.error = "";
        if (t->done != NULL)
            t->done(&res, t->data);
        transfer_free(t);
    }
}

static void on_socket_ready(loop_t *loop, int fd, int events, void *data)
{
    http_client *c = data;
    int flags = (events & LOOP_READ ? CURL_CSELECT_IN : 0) | (events & LOOP_WRITE ? CURL_CSELECT_OUT : 0);
    int still;

    curl_multi_socket_action(c->multi, fd, flags, &still);
    collect_done(c);
}

static void on_timeout(loop_t *loop, void *data)
{
    http_client *c = data;
    int still;

    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &still);
    collect_done(c);
}

/* CURLMOPT_SOCKETFUNCTION */
static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    http_client *c = userp;
    int events = what == CURL_POLL_IN ? LOOP_READ
               : what == CURL_POLL_OUT ? LOOP_WRITE
               : what == CURL_POLL_INOUT ? LOOP_READ | LOOP_WRITE : 0;

    return loop_watch(c->loop, s, events, on_socket_ready, c) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer; 0 means "soon", from the
 * loop, since curl must not be called back from inside this callback. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    http_client *c = userp;

    if (timeout_ms < 0)
        loop_timer_stop(c->loop, &c->timer);
    else
        loop_timer_start(c->loop, &c->timer, timeout_ms, on_timeout, c);
    return 0;
}

http_client *http_client_new(loop_t *loop)
{
    http_client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    return c;
}

void http_client_free(http_client *c)
{
    if (c == NULL)
        return;
    while (c->transfers != NULL) {
        http_transfer *t = c->transfers;
        curl_multi_remove_handle(c->multi, t->easy);
        transfer_free(t);
    }
    loop_timer_stop(c->loop, &c->timer);
    curl_multi_cleanup(c->multi);
    free(c);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    http_transfer *t = userdata;
    size_t n = size * nmemb;

    if (t->body_len + n > t->max_response) {
        t->too_large = 1;
        return 0;                       /* curl stops: CURLE_WRITE_ERROR */
    }
    char *p = realloc(t->body, t->body_len + n + 1);
    if (p == NULL)
        return 0;
    memcpy(p + t->body_len, ptr, n);
    t->body = p;
    t->body_len += n;
    t->body[t->body_len] = '\0';
    return n;
}

static http_transfer *transfer_new(http_client *c, CURL *easy, http_done_cb done, void *data)
{
    http_transfer *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->client = c;
    t->easy = easy;
    t->done = done;
    t->data = data;
    t->max_response = HTTP_MAX_RESPONSE;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->error);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    return t;
}

static int transfer_add(http_client *c, http_transfer *t, char *err, size_t errlen)
{
    t->started = monotonic_ms();
    CURLMcode mc = curl_multi_add_handle(c->multi, t->easy);
    if (mc != CURLM_OK) {
        snprintf(err, errlen, "curl: %s", curl_multi_strerror(mc));
        return -1;
    }
    c->running++;
    t->next = c->transfers;
    if (c->transfers != NULL)
        c->transfers->prev = t;
    c->transfers = t;
    return 0;
}

int http_transfer_start(http_client *c, CURL *easy, http_done_cb done, void *data,
                        char *err, size_t errlen)
{
    http_transfer *t = transfer_new(c, easy, done, data);
    if (t == NULL) {
        curl_easy_cleanup(easy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (transfer_add(c, t, err, errlen) != 0) {
        transfer_free(t);
        return -1;
    }
    return 0;
}

int http_request_start(http_client *c, const char *method, const char *url,
                       const char *const *headers, const char *body, size_t body_len,
                       long timeout_ms, http_done_cb done, void *data,
                       char *err, size_t errlen)
{
    return http_request_start_opts(c, method, url, headers, body, body_len, timeout_ms, NULL,
                                   done, data, err, errlen);
}

int http_request_start_opts(http_client *c, const char *method, const char *url,
                            const char *const *headers, const char *body, size_t body_len,
                            long timeout_ms, const http_options *opts,
                            http_done_cb done, void *data, char *err, size_t errlen)
{
    static const http_options defaults;

    if (opts == NULL)
        opts = &defaults;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errlen, "not an http(s) URL: %s", url);
        return -1;
    }
    CURL *easy = curl_easy_init();
    if (easy == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }
    http_transfer *t = transfer_new(c, easy, done, data);
    if (t == NULL) {
        curl_easy_cleanup(easy);
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++) {
        struct curl_slist *l = curl_slist_append(t->headers, headers[i]);
        if (l == NULL) {
            transfer_free(t);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        t->headers = l;
    }

    if (opts->max_response > 0)
        t->max_response = opts->max_response;
    curl_easy_setopt(easy, CURLOPT_URL, url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, opts->protocols ? opts->protocols : "http,https");
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : timeout_ms);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, t);
    if (body != NULL) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) body_len);
        curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, body);
    }
    if (strcmp(method, "GET") == 0 && body == NULL)
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    else if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    else if (strcmp(method, "POST") != 0 || body == NULL)
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    if (opts->setup != NULL)
        opts->setup(easy, opts->setup_data);

    if (transfer_add(c, t, err, errlen) != 0) {
        transfer_free(t);
        return -1;
    }
    return 0;
}

int http_running(const http_client *c)
{
    return c->running;
}

void http_wait(http_client *c, const int *flag)
{
    while (!*flag && c->running > 0) {
        if (loop_run_once(c->loop, 1000) < 0)
            break;
    }
}
