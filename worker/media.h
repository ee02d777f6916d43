#ifndef MW_MEDIA_H
#define MW_MEDIA_H

/* Media processing (issue 11): the images of uploads, with libvips. */

#include <stddef.h>
#include <stdint.h>

#include "mstdn_blurhash.h"

/* IMAGE_STYLES: original at most 3840x2160 pixels, small 640x360 */
#define MEDIA_ORIGINAL_PIXELS  8294400
#define MEDIA_SMALL_PIXELS     230400
/* image_matrix_limit: larger images are refused before decoding */
#define MEDIA_MATRIX_LIMIT     33177600

typedef struct {
    int    width, height;
} media_size;

typedef struct {
    /* in */
    const unsigned char *bytes;
    size_t               len;
    const char          *content_type;     /* the sniffed one */
    const char          *original_path;    /* where to write them */
    const char          *small_path;

    /* out */
    const char          *saved_type;       /* the original's type now */
    const char          *saved_extension;
    media_size           original, small;
    size_t               original_bytes;
    char                 blurhash[MSTDN_BLURHASH_MAX];
} media_image;

/* Once per process, before the job threads start. */
void media_init(const char *argv0);

/* The extension and type an image of content_type is saved as (GIF as
 * PNG, HEIF and AVIF as JPEG: Mastodon's conversions). */
void media_image_format(const char *content_type, const char **type,
                        const char **extension);

/*
 * Decodes img->bytes bounded (MEDIA_MATRIX_LIMIT, a truncated file is an
 * error), rotates it upright, strips its metadata and writes the original
 * (downscaled to MEDIA_ORIGINAL_PIXELS) and the small preview, each
 * through a temporary name; fills the sizes and the blurhash.  0; -1 the
 * image is bad (err says why: processing failed for good); -2 writing
 * failed (worth a retry).
 */
int media_image_process(media_image *img, char *err, size_t errlen);

/* Account::Avatar, Account::Header: cropped to fill at most these */
#define MEDIA_AVATAR_WIDTH     400
#define MEDIA_AVATAR_HEIGHT    400
#define MEDIA_HEADER_WIDTH     1500
#define MEDIA_HEADER_HEIGHT    500

typedef struct {
    /* in */
    const unsigned char *bytes;
    size_t               len;
    const char          *content_type;     /* the sniffed one */
    int                  width, height;    /* the box */
    const char          *original_path;
    const char          *static_path;      /* GIF: its first frame, PNG */

    /* out */
    media_size           original;
    size_t               original_bytes;
} media_profile_image;

/*
 * An avatar or header: decoded bounded as media_image_process() does,
 * upright, scaled down to fill the box and cropped to it in the middle
 * (ImageMagick's "WxH#", never enlarged), metadata stripped, saved in its
 * own format (an animated GIF stays animated; its static style is the
 * first frame).  0, -1 bad image, -2 writing failed.
 */
int media_profile_image_process(media_profile_image *img, char *err, size_t errlen);

/* The range [offset, offset + size) of the file at path, malloc'd; NULL
 * and err. */
unsigned char *media_read_range(const char *path, long long offset, long long size, char *err,
                                size_t errlen);

/* Removes a stored file (gone already is fine): 0, or -1 and err.  Every
 * removal of a processed file goes through here. */
int media_remove_file(const char *path, char *err, size_t errlen);

/* root/media_attachments/files/<id partition>/<style>/<name> */
void media_style_path(const char *root, const char *id, const char *style, const char *name,
                      char *out, size_t outlen);

/* mkdir -p of path's directory; 0 or -1 (errno). */
int media_mkdirs(const char *path);

#endif
