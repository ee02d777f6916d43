/* media_remove (queue "media"): the files of a deleted attachment.  args
 * {"id", "file_file_name", "remote"}: its original and small styles (the
 * small one of a video or GIF is a PNG) go from the storage (media_root
 * or S3, media_storage.h), under cache/ when remote is true, and its
 * custom (or, remote, cached) thumbnail when "thumbnail_file_name" names one (optional: older
 * jobs lack it); files already gone are fine, so a second delivery is
 * harmless. */
#include "jobs.h"
#include "args.h"
#include "log.h"
#include "media_storage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* the names the module gives: 16 hex digits, a dot, a short extension */
int job_media_remove(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    char id[MW_ID_LEN], key[MEDIA_KEY_MAX], png[32];
    job_args a;
    int rc = -1;

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    const char *name = args_string(&a, "file_file_name");
    /* a remote account's copy: under cache/ (optional: old jobs lack it) */
    int remote = args_true(&a, "remote");
    if (args_id(&a, "id", id) != 1 || name == NULL || !media_file_name_valid(name)) {
        snprintf(err, errlen, "args need id and file_file_name (one the module made)");
        goto out;
    }
    snprintf(png, sizeof(png), "%.16s.png", name);

    const char *files[][2] = { { "original", name }, { "small", name }, { "small", png } };
    rc = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (media_key(key, sizeof(key), remote, "media_attachments", "files", id, files[i][0],
                      files[i][1]) != 0
            || media_storage_delete(ctx->cfg, key, err, errlen) != 0)
            rc = -1;
    }
    const char *thumbnail = args_string(&a, "thumbnail_file_name");
    if (media_file_name_valid(thumbnail)
        && (media_key(key, sizeof(key), remote, "media_attachments", "thumbnails", id,
                      "original", thumbnail) != 0
            || media_storage_delete(ctx->cfg, key, err, errlen) != 0))
        rc = -1;
    if (rc == 0)
        mlog(LOG_INFO, "media %s: files removed", id);
out:
    args_free(&a);
    return rc;
}
