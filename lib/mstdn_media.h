#ifndef MSTDN_MEDIA_H
#define MSTDN_MEDIA_H

#include <stddef.h>
#include <stdint.h>

/*
 * Media attachments as Mastodon's MediaAttachment model sees them: the
 * type decided from a file's first bytes (never from the name or the
 * declared Content-Type), the size limits by type, Paperclip's path
 * layout.  Shared by the module (uploads) and the worker (processing).
 */

/* MediaAttachment.type, the enum's integers */
typedef enum {
    MSTDN_MEDIA_IMAGE = 0,
    MSTDN_MEDIA_GIFV = 1,
    MSTDN_MEDIA_VIDEO = 2,
    MSTDN_MEDIA_UNKNOWN = 3,
    MSTDN_MEDIA_AUDIO = 4
} mstdn_media_type;

/* MediaAttachment.processing */
#define MSTDN_MEDIA_QUEUED       0
#define MSTDN_MEDIA_IN_PROGRESS  1
#define MSTDN_MEDIA_COMPLETE     2
#define MSTDN_MEDIA_FAILED       3

/* IMAGE_LIMIT, VIDEO_LIMIT: the defaults of MAX_IMAGE_SIZE, MAX_VIDEO_SIZE */
#define MSTDN_MEDIA_IMAGE_LIMIT  (16 * 1024 * 1024)
#define MSTDN_MEDIA_VIDEO_LIMIT  (99 * 1024 * 1024)

/* MAX_DESCRIPTION_LENGTH, in characters */
#define MSTDN_MEDIA_DESCRIPTION_MAX  1500

/* what a sniff needs to see: the first bytes of the file */
#define MSTDN_MEDIA_SNIFF_LEN    64

typedef struct {
    const char        *mime;        /* one of Mastodon's supported types */
    const char        *extension;   /* MIME::Types' first, without a dot */
    mstdn_media_type   type;        /* set_type_and_extension's */
    unsigned           has_small:1; /* the styles have a small preview */
} mstdn_media_kind;

/*
 * The kind of a file from its first n bytes (n may be less than
 * MSTDN_MEDIA_SNIFF_LEN for a short file): 0 and *kind filled, or -1 when
 * the bytes are none of the supported types (SVG, HTML, empty, ...).
 */
int mstdn_media_sniff(const unsigned char *p, size_t n,
                      mstdn_media_kind *kind);

/* Whether a file of size bytes is refused for its type (less_than). */
int mstdn_media_too_large(mstdn_media_type type, uint64_t size,
                          uint64_t image_limit, uint64_t video_limit);

/*
 * ActiveSupport's number_to_human_size (precision 3 significant digits,
 * insignificant zeros stripped): "16 MB", "1.43 MB", "512 Bytes".  At most
 * 32 bytes with the NUL.
 */
void mstdn_media_human_size(uint64_t size, char *out, size_t outlen);

/*
 * Paperclip's :id_partition of an id: 9 digits at least, in groups of
 * three ("000/000/042", "109/618/290/273/346/817").  Returns the length
 * written (out needs 32 bytes).
 */
size_t mstdn_media_id_partition(int64_t id, char *out, size_t outlen);

/*
 * Account#avatar_static_url: how style "original" or "static" of a local
 * account's avatar or header (class "accounts", attachment "avatars" or
 * "headers" of mstdn_media_key()) of file name `name` is stored.  The
 * static style exists for GIFs only (their first frame, a PNG: *extension
 * "png"); of another type it is the original (*extension NULL).
 */
const char *mstdn_media_profile_style(const char *style, const char *name,
                                      const char **extension);

/* Whether a profile image's file name is a GIF's (it has a static style). */
int mstdn_media_profile_animated(const char *name);

/*
 * The key a stored file has (the worker stores under it, the module's
 * URLs end with it): [cache/]<class_name>/<attachment>/<id partition>/
 * <style>/<name>, cache/ for a remote record's copy (Paperclip's
 * :prefix_path), the name's extension replaced by extension when that is
 * given and not empty ("small" styles of GIFs and videos are PNGs).
 * Returns the length written, 0 when it does not fit in outlen (which
 * MSTDN_MEDIA_KEY_MAX always does for names under 128 bytes).
 */
#define MSTDN_MEDIA_KEY_MAX  384

size_t mstdn_media_key(char *out, size_t outlen, int remote, const char *class_name,
    const char *attachment, int64_t id, const char *style, const char *name,
    size_t name_len, const char *extension);

#endif
