/* A remote media file downloaded (MediaAttachment#download_file!,
 * Account#avatar_remote_url=): one unsigned GET through the guarded client
 * (fetch.h: scheme, address after resolution and on every redirect, size
 * and time limits), at most limit bytes, typed from its bytes
 * (mstdn_media_sniff: the declared Content-Type and name count for
 * nothing) and refused when over its type's limit, then written to a
 * temporary file of its own for the media pipeline. */
#include "jobs.h"
#include "fetch.h"
#include "log.h"
#include "mstdn_media.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

int media_download(job_ctx *ctx, const char *url, size_t limit, media_download_t *out,
                   char *err, size_t errlen)
{
    /* a large file takes longer than a document: media_timeout, as a
     * transcoding may */
    fetch_request req = { .kind = FETCH_OTHER, .url = url, .max_bytes = limit,
                          .timeout_ms = ctx->cfg->media_timeout * 1000L };
    fetch_response res;
    const char *dir = getenv("TMPDIR");
    int rc = 0;

    memset(out, 0, sizeof(*out));
    if (ctx->http == NULL) {
        snprintf(err, errlen, "no transfer client");
        return -1;
    }
    fetch_outcome o = fetch_run(ctx->http, ctx->cfg, &req, &res);
    if (o == FETCH_REFUSED) {
        snprintf(err, errlen, "%s refused: %s", url, res.error);
    } else if (o != FETCH_OK && strstr(res.error, "too large") != NULL) {
        snprintf(err, errlen, "%s: larger than %zu bytes", url, limit);
    } else if (o != FETCH_OK) {
        snprintf(err, errlen, "%s failed: %s", url, res.error);
        rc = -1;
    } else if (res.status >= 500 || res.status == 429) {
        snprintf(err, errlen, "%s: status %ld", url, res.status);
        rc = -1;
    } else if (res.status != 200) {
        snprintf(err, errlen, "%s: status %ld", url, res.status);
    } else if (mstdn_media_sniff((const unsigned char *) res.body, res.body_len, &out->kind)
               != 0) {
        snprintf(err, errlen, "%s: not a supported media type", url);
    } else if (mstdn_media_too_large(out->kind.type, res.body_len, MSTDN_MEDIA_IMAGE_LIMIT,
                                     MSTDN_MEDIA_VIDEO_LIMIT)) {
        snprintf(err, errlen, "%s: %zu bytes, over the limit of %s", url, res.body_len,
                 out->kind.mime);
    } else {
        snprintf(out->path, sizeof(out->path), "%s/mastodon-remote-XXXXXX",
                 dir != NULL && dir[0] == '/' ? dir : "/tmp");
        int fd = mkstemp(out->path);
        if (fd < 0 || write_all(fd, res.body, res.body_len) != 0) {
            snprintf(err, errlen, "writing %s: %s", out->path, strerror(errno));
            if (fd >= 0) {
                close(fd);
                unlink(out->path);
            }
            out->path[0] = '\0';
            rc = -1;
        } else {
            close(fd);
            out->size = (long long) res.body_len;
            rc = 1;
        }
    }
    fetch_response_free(&res);
    return rc;
}
