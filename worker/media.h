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
 * through a temporary name; fills the sizes and the blurhash.  With no
 * original_path, the small style only: a custom thumbnail (PUT
 * /api/v1/media/:id), original_bytes then its size.  0; -1 the image is
 * bad (err says why: processing failed for good); -2 writing failed
 * (worth a retry).  No file is left when it fails.
 */
int media_image_process(media_image *img, char *err, size_t errlen);

/* Account::Avatar, Account::Header: cropped to fill at most these */
#define MEDIA_AVATAR_WIDTH     400
#define MEDIA_AVATAR_HEIGHT    400
#define MEDIA_HEADER_WIDTH     1500
#define MEDIA_HEADER_HEIGHT    500
/* Account::Avatar::LIMIT, Account::Header::LIMIT (the module's for uploads) */
#define MEDIA_PROFILE_IMAGE_LIMIT  (8 * 1024 * 1024)

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

/* MAX_VIDEO_MATRIX_LIMIT, MAX_VIDEO_FRAME_RATE, MAX_VIDEO_FRAMES */
#define MEDIA_VIDEO_MATRIX_LIMIT  8294400
#define MEDIA_VIDEO_FRAME_RATE    120
#define MEDIA_VIDEO_FRAMES        "36000"

/* What ffprobe says of a file (VideoMetadataExtractor). */
typedef struct {
    int         has_video, has_audio;
    char        video_codec[32], audio_codec[32], pix_fmt[32];
    int         width, height;
    char        frame_rate[32];       /* avg_frame_rate, "30/1" */
    double      fps, r_fps;
    double      duration;             /* seconds */
    long long   bitrate;              /* bits per second */
} media_probe_t;

typedef struct {
    /* in */
    const char      *input;           /* the upload, a file of its own */
    const char      *content_type;    /* the sniffed one */
    long             timeout_s;       /* each ffmpeg run */
    const char      *original_path;   /* .mp4 or .mp3 */
    const char      *small_path;      /* .png (video, gifv) */
    int              audio;           /* an audio type: MP3 */

    /* out */
    int              gifv;            /* a video without sound */
    media_probe_t    out;             /* of the original style */
    size_t           original_bytes;
    media_size       small;
    char             blurhash[MSTDN_BLURHASH_MAX];
} media_av;

/*
 * ffprobe of path (type: force that type's demuxer; NULL: ffprobe's own
 * guess, for files we wrote).  0, or -1 and err (not audio or video).
 */
int media_probe(const char *path, const char *type, long timeout_s, media_probe_t *p, char *err,
                size_t errlen);

/*
 * A video, animated GIF or audio upload transcoded as Mastodon does: MP4
 * (H.264/AAC, streams copied when already so) and its first frame as the
 * small PNG, or MP3.  0; -1 a bad file (err: processing failed); -2
 * writing failed (a retry).  No partial file is left.
 */
int media_av_process(media_av *av, char *err, size_t errlen);

/* A PNG or JPEG we wrote: its size and blurhash (BlurhashTranscoder). */
int media_image_file_meta(const char *path, media_size *size, char *blurhash, char *err,
                          size_t errlen);

/* Whether a GIF's bytes hold more than one frame (GifReader.animated?). */
int media_gif_animated(const unsigned char *bytes, size_t len);

/* The range of a spool file as a file of its own at dest (for ffmpeg). */
int media_copy_range(const char *path, long long offset, long long size, const char *dest,
                     char *err, size_t errlen);

/* Where the styles go from there: media_storage.h (media_key() names
 * them, media_storage_put() stores them in media_root or S3). */

/* mkdir -p of path's directory; 0 or -1 (errno). */
int media_mkdirs(const char *path);

#endif
