/* `mastodon-worker http-test [--timeout MS] [--post BODY] URL...`: for the
 * tests of http.c (t/worker_http.t) only.  Starts every request at once on
 * one event loop and prints a line per request as it completes:
 *   <index> status=<n> bytes=<n> error=<text> body=<text>
 * Exit status 0 when all ran (whatever their outcome), 1 otherwise. */
#include "commands.h"
#include "http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int  index;
    int *left;
} http_test_req;

static void http_test_done(const http_response *res, void *data)
{
    http_test_req *r = data;
    printf("%d status=%ld bytes=%zu error=%s body=%.*s\n", r->index, res->status, res->body_len,
           res->error[0] ? res->error : "-", (int) (res->body_len < 200 ? res->body_len : 200),
           res->body);
    fflush(stdout);
    (*r->left)--;
}

int cmd_http_test(worker_config *cfg, int argc, char **argv)
{
    long timeout_ms = 10000;
    const char *body = NULL;
    int i = 1;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return 2;
        if (strcmp(argv[i], "--timeout") == 0)
            timeout_ms = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--post") == 0)
            body = argv[i + 1];
        else
            return 2;
    }
    int n = argc - i, left = n, rc = 0;
    if (n <= 0) {
        fprintf(stderr, "usage: mastodon-worker http-test [--timeout MS] [--post BODY] URL...\n");
        return 2;
    }

    loop_t *loop = loop_new();
    http_client *http = loop != NULL ? http_client_new(loop) : NULL;
    http_test_req *reqs = calloc((size_t) n, sizeof(*reqs));
    if (http == NULL || reqs == NULL) {
        fprintf(stderr, "mastodon-worker: no event loop: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }

    for (int k = 0; k < n; k++) {
        char err[256];
        static const char *const headers[] = { "Content-Type: application/json", NULL };
        reqs[k].index = k;
        reqs[k].left = &left;
        if (http_request_start(http, body ? "POST" : "GET", argv[i + k], headers, body,
                               body ? strlen(body) : 0, timeout_ms, http_test_done, &reqs[k],
                               err, sizeof(err)) != 0) {
            printf("%d start failed: %s\n", k, err);
            left--;
            rc = 1;
        }
    }
    while (left > 0 && loop_run_once(loop, 1000) >= 0)
        ;

out:
    http_client_free(http);
    loop_free(loop);
    free(reqs);
    return left == 0 ? rc : 1;
}
