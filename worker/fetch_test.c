/* `mastodon-worker fetch-test [--kind ap|webfinger|other] [--post BODY] URL...`:
 * for the tests of fetch.c (t/worker_fetch.t) only.  Starts every fetch at
 * once through the guarded client and prints a line per fetch as it ends:
 *   <index> outcome=<ok|refused|failed> status=<n> redirects=<n>
 *   final=<url> type=<content type> error=<text> body=<text>
 * Exit status 0 when all ended (whatever their outcome), 1 otherwise. */
#include "commands.h"
#include "fetch.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int  index;
    int *left;
} fetch_test_req;

static void fetch_test_done(fetch_response *res, void *data)
{
    static const char *const outcomes[] = { "ok", "refused", "failed" };
    fetch_test_req *r = data;

    printf("%d outcome=%s status=%ld redirects=%d final=%s type=%s error=%s body=%.*s\n",
           r->index, outcomes[res->outcome], res->status, res->redirects,
           res->final_url ? res->final_url : "-", res->content_type ? res->content_type : "-",
           res->error[0] ? res->error : "-",
           (int) (res->body_len < 300 ? res->body_len : 300), res->body ? res->body : "");
    fflush(stdout);
    (*r->left)--;
}

int cmd_fetch_test(worker_config *cfg, int argc, char **argv)
{
    fetch_kind kind = FETCH_ACTIVITYPUB;
    const char *body = NULL;
    int i = 1;

    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            return 2;
        if (strcmp(argv[i], "--kind") == 0)
            kind = strcmp(argv[i + 1], "webfinger") == 0 ? FETCH_WEBFINGER
                 : strcmp(argv[i + 1], "other") == 0 ? FETCH_OTHER : FETCH_ACTIVITYPUB;
        else if (strcmp(argv[i], "--post") == 0)
            body = argv[i + 1];
        else
            return 2;
    }
    int n = argc - i, left = n, rc = 0;
    if (n <= 0) {
        fprintf(stderr, "usage: mastodon-worker fetch-test [--kind ap|webfinger|other] "
                "[--post BODY] URL...\n");
        return 2;
    }

    loop_t *loop = loop_new();
    http_client *http = loop != NULL ? http_client_new(loop) : NULL;
    fetch_test_req *reqs = calloc((size_t) n, sizeof(*reqs));
    if (http == NULL || reqs == NULL) {
        fprintf(stderr, "mastodon-worker: no event loop: %s\n", strerror(errno));
        rc = 1;
        goto out;
    }

    for (int k = 0; k < n; k++) {
        char err[256];
        fetch_request req = {
            .kind = body != NULL ? FETCH_DELIVERY : kind,
            .url = argv[i + k],
            .body = body,
            .body_len = body != NULL ? strlen(body) : 0,
        };
        reqs[k].index = k;
        reqs[k].left = &left;
        if (fetch_start(http, cfg, &req, fetch_test_done, &reqs[k], err, sizeof(err)) != 0) {
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
