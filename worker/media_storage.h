#ifndef MW_MEDIA_STORAGE_H
#define MW_MEDIA_STORAGE_H

/*
 * Where media files live (issue 11): the local file system under
 * media_root (served by nginx, conf/media.conf), or an S3-compatible
 * bucket (s3_enabled), written with libcurl's own AWS SigV4 signing.
 * Files are named by keys with Paperclip's layout, the same in both:
 *
 *     [cache/]media_attachments/files/000/000/042/original/<name>
 *
 * (cache/ for a remote account's copies, as Mastodon's :prefix_path).
 * Every job that writes or removes media goes through these; each call is
 * synchronous and thread-safe (a job thread's own curl handle).
 */

#include <stddef.h>
#include <time.h>

#include "config.h"
#include "mstdn_media.h"

#define MEDIA_KEY_MAX  MSTDN_MEDIA_KEY_MAX

/* The key of a style of a record's attachment (mstdn_media_key(), the
 * layout the module's URLs share): class "media_attachments" or
 * "accounts", attachment "files", "thumbnails", "avatars", "headers";
 * remote: the cache/ prefix.  0, or -1 when something in it is not made
 * of the characters keys are (a-z, 0-9, '.', '_'). */
int media_key(char *out, size_t outlen, int remote, const char *class_name,
              const char *attachment, const char *id, const char *style, const char *name);

/* The key of style "original" or "static" of a local account's avatar or
 * header (attribute "avatar", "header"): class "accounts", attachment
 * "avatars"/"headers", a GIF's static style its first frame as PNG
 * (mstdn_media_profile_style()).  0 or -1 as media_key(). */
int media_profile_key(char *out, size_t outlen, const char *id, const char *attribute,
                      const char *style, const char *name);

/* The same for a remote account's copy of its avatar or header, under
 * cache/ (job_account_image_fetch.c). */
int media_cached_profile_key(char *out, size_t outlen, const char *id, const char *attribute,
                             const char *style, const char *name);

/* An avatar's or header's styles out of the storage (cached: a remote
 * account's copy).  0, or -1 with err (a name not of ours included). */
int media_profile_delete(const worker_config *cfg, int cached, const char *id,
                         const char *attribute, const char *name, char *err, size_t errlen);

/* Stores the local file under key with that Content-Type; the local file
 * is gone afterwards (moved, or uploaded and unlinked) when it succeeds
 * and left to the caller when it fails.  0 or -1 (err: worth a retry). */
/* a stored file's name as the module and the worker make them: 16 hex digits,
 * a dot, an extension (what a job may build a key from) */
int media_file_name_valid(const char *name);

int media_storage_put(const worker_config *cfg, const char *key, const char *local_path,
                      const char *content_type, char *err, size_t errlen);

/* Removes key; one that is not there is no error.  0 or -1. */
int media_storage_delete(const worker_config *cfg, const char *key, char *err, size_t errlen);

/* One stored file: its key, size and modification time; nonzero stops
 * the listing (and is what media_storage_list() returns). */
typedef int (*media_storage_each_fn)(const char *key, long long size, time_t mtime, void *data);

/* Calls fn for every file stored (a walk of media_root, or the bucket's
 * ListObjectsV2 pages of 1000 keys, each page's answer bounded): 0, -1
 * (err), or fn's nonzero. */
int media_storage_list(const worker_config *cfg, media_storage_each_fn fn, void *data, char *err,
                       size_t errlen);

/* Where stored keys are public, without a trailing slash: media_base_url, or
 * <base_url>/system (the file system) or the bucket's own address (S3) without
 * it.  media_storage_url()'s prefix, and the ActivityPub Documents'. */
void media_storage_base(const worker_config *cfg, char *out, size_t outlen);

/* The public URL of key: media_storage_base()/key. */
void media_storage_url(const worker_config *cfg, const char *key, char *out, size_t outlen);

#endif
