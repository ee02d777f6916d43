/* The image styles of an upload with libvips: bounded decode, autorotate,
 * metadata stripped, original and small written, the blurhash. */
#include "media.h"
#include "log.h"
#include "mstdn_media.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vips/vips.h>

void media_init(const char *argv0)
{
    if (VIPS_INIT(argv0) != 0)
        mlog(LOG_ERROR, "libvips: %s", vips_error_buffer());
    /* the job threads are the concurrency; nothing is kept between jobs */
    vips_concurrency_set(1);
    vips_cache_set_max(0);
}

void media_image_format(const char *content_type, const char **type, const char **extension)
{
    if (strcmp(content_type, "image/png") == 0 || strcmp(content_type, "image/gif") == 0) {
        *type = "image/png";
        *extension = "png";
    } else if (strcmp(content_type, "image/webp") == 0) {
        *type = "image/webp";
        *extension = "webp";
    } else {
        *type = "image/jpeg";
        *extension = "jpeg";
    }
}

int media_mkdirs(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);

    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(dir, 0755) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(dir, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* The loader of the sniffed type only: never one libvips would guess. */
static VipsImage *load(const media_image *img)
{
    VipsImage *out = NULL;
    const char *t = img->content_type;
    void *buf = (void *) img->bytes;

    if (strcmp(t, "image/jpeg") == 0)
        vips_jpegload_buffer(buf, img->len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (strcmp(t, "image/png") == 0)
        vips_pngload_buffer(buf, img->len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (strcmp(t, "image/gif") == 0)
        vips_gifload_buffer(buf, img->len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (strcmp(t, "image/webp") == 0)
        vips_webpload_buffer(buf, img->len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else if (strcmp(t, "image/heic") == 0 || strcmp(t, "image/avif") == 0)
        vips_heifload_buffer(buf, img->len, &out, "fail_on", VIPS_FAIL_ON_TRUNCATED, NULL);
    else
        vips_error("media", "no loader for %s", t);
    return out;
}

/* Scaled to at most `pixels` pixels, as ImageMagick's "N@" geometry. */
static int fit(VipsImage *in, VipsImage **out, double pixels)
{
    double area = (double) vips_image_get_width(in) * vips_image_get_height(in);

    if (area <= pixels) {
        g_object_ref(in);
        *out = in;
        return 0;
    }
    return vips_resize(in, out, sqrt(pixels / area), NULL);
}

static int save(VipsImage *in, const char *type, const char *path)
{
    char tmp[4200];

    snprintf(tmp, sizeof(tmp), "%s.part", path);
    if (media_mkdirs(path) != 0)
        return -1;

    int rc;
    if (strcmp(type, "image/png") == 0)
        rc = vips_pngsave(in, tmp, "strip", TRUE, NULL);
    else if (strcmp(type, "image/gif") == 0)
        rc = vips_gifsave(in, tmp, "strip", TRUE, NULL);
    else if (strcmp(type, "image/webp") == 0)
        rc = vips_webpsave(in, tmp, "Q", 90, "strip", TRUE, NULL);
    else
        rc = vips_jpegsave(in, tmp, "Q", 90, "strip", TRUE, NULL);
    if (rc != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/*
 * The small style straight from the file with vips_thumbnail: the decoder
 * shrinks while it loads (a JPEG at 1/2 to 1/8 of its size), rotated as
 * the original; the box is the one fit() would give (never enlarged).
 * In memory: the blurhash reads it again.  Animated GIFs are not here
 * (ffmpeg makes their preview).
 */
static int small_style(const media_image *img, VipsImage *upright, VipsImage **out)
{
    double w = vips_image_get_width(upright), h = vips_image_get_height(upright);
    double scale = w * h > MEDIA_SMALL_PIXELS ? sqrt(MEDIA_SMALL_PIXELS / (w * h)) : 1.0;
    VipsImage *t = NULL;

    if (vips_thumbnail_buffer((void *) img->bytes, img->len, &t, (int) fmax(1, round(w * scale)),
                              "height", (int) fmax(1, round(h * scale)), "size", VIPS_SIZE_DOWN,
                              "option_string", "fail_on=truncated", NULL) != 0)
        return -1;
    *out = vips_image_copy_memory(t);
    g_object_unref(t);
    return *out != NULL ? 0 : -1;
}

/* BlurhashTranscoder: the small style at 100 pixels wide, sRGB, 4x4 */
static int blurhash(VipsImage *small, char *out)
{
    VipsImage *t = NULL, *srgb = NULL, *rgb = NULL, *u8 = NULL;
    void *px = NULL;
    size_t len = 0;
    int rc = -1;

    if (vips_thumbnail_image(small, &t, 100, NULL) == 0
        && vips_colourspace(t, &srgb, VIPS_INTERPRETATION_sRGB, NULL) == 0
        && vips_extract_band(srgb, &rgb, 0, "n", 3, NULL) == 0
        && vips_cast_uchar(rgb, &u8, NULL) == 0
        && (px = vips_image_write_to_memory(u8, &len)) != NULL)
    {
        int w = vips_image_get_width(u8), h = vips_image_get_height(u8);
        if (len == (size_t) w * h * 3
            && mstdn_blurhash_encode(px, w, h, (size_t) w * 3, 3, 4, 4, out) > 0)
            rc = 0;
    }
    g_free(px);
    if (u8) g_object_unref(u8);
    if (rgb) g_object_unref(rgb);
    if (srgb) g_object_unref(srgb);
    if (t) g_object_unref(t);
    return rc;
}

int media_image_process(media_image *img, char *err, size_t errlen)
{
    VipsImage *in = NULL, *upright = NULL, *original = NULL, *small = NULL;
    const char *sized = img->original_path ? img->original_path : img->small_path;
    int rc = -1;

    media_image_format(img->content_type, &img->saved_type, &img->saved_extension);

    in = load(img);
    if (in == NULL) {
        snprintf(err, errlen, "not decodable: %s", vips_error_buffer());
        goto out;
    }
    double area = (double) vips_image_get_width(in) * vips_image_get_height(in);
    if (area > MEDIA_MATRIX_LIMIT) {
        snprintf(err, errlen, "%dx%d pixels: over the limit", vips_image_get_width(in),
                 vips_image_get_height(in));
        goto out;
    }
    if (vips_autorot(in, &upright, NULL) != 0
        || (img->original_path != NULL && fit(upright, &original, MEDIA_ORIGINAL_PIXELS) != 0)
        || small_style(img, upright, &small) != 0)
    {
        snprintf(err, errlen, "not decodable: %s", vips_error_buffer());
        goto out;
    }

    /* decoding happens here: a truncated file fails now */
    if ((original != NULL && save(original, img->saved_type, img->original_path) != 0)
        || save(small, img->saved_type, img->small_path) != 0)
    {
        snprintf(err, errlen, "%s", vips_error_buffer());
        /* a file we could not write is ours to retry; bad pixels are not */
        rc = errno == ENOSPC || errno == EIO || errno == EACCES ? -2 : -1;
        goto out;
    }

    struct stat st;
    if (stat(sized, &st) != 0) {
        snprintf(err, errlen, "%s: %s", sized, strerror(errno));
        rc = -2;
        goto out;
    }
    img->original_bytes = (size_t) st.st_size;
    if (original != NULL) {
        img->original.width = vips_image_get_width(original);
        img->original.height = vips_image_get_height(original);
    }
    img->small.width = vips_image_get_width(small);
    img->small.height = vips_image_get_height(small);

    if (blurhash(small, img->blurhash) != 0) {
        snprintf(err, errlen, "blurhash: %s", vips_error_buffer());
        goto out;
    }
    rc = 0;

out:
    if (rc != 0) {
        if (img->original_path != NULL)
            unlink(img->original_path);
        unlink(img->small_path);
    }
    vips_error_clear();
    if (small) g_object_unref(small);
    if (original) g_object_unref(original);
    if (upright) g_object_unref(upright);
    if (in) g_object_unref(in);
    return rc;
}

unsigned char *media_read_range(const char *path, long long offset, long long size, char *err,
                                size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    unsigned char *buf = malloc(size > 0 ? (size_t) size : 1);
    if (buf == NULL)
        snprintf(err, errlen, "out of memory");
    long long done = 0;
    while (buf != NULL && done < size) {
        ssize_t n = pread(fd, buf + done, (size_t) (size - done), offset + done);
        if (n <= 0) {
            snprintf(err, errlen, "%s: %s", path, n == 0 ? "shorter than its range" : strerror(errno));
            free(buf);
            buf = NULL;
            break;
        }
        done += n;
    }
    close(fd);
    return buf;
}

/* the box filled and cropped in the middle, never enlarged */
static int profile_fit(const media_profile_image *img, VipsImage **out)
{
    return vips_thumbnail_buffer((void *) img->bytes, img->len, out, img->width, "height",
                                 img->height, "crop", VIPS_INTERESTING_CENTRE, "size",
                                 VIPS_SIZE_DOWN, "option_string", "fail_on=truncated", NULL);
}

/* The same for every frame of an animated GIF (vips_thumbnail's crop
 * takes the first frame only): scaled as a whole, each frame cropped. */
static int profile_fit_animated(const media_profile_image *img, int w, int ph, VipsImage **out)
{
    VipsImage *t = NULL, *joined = NULL, **frames = NULL;
    double scale = fmin(1.0, fmax((double) img->width / w, (double) img->height / ph));
    int pages = 0, rc = -1;

    if (vips_thumbnail_buffer((void *) img->bytes, img->len, &t, (int) fmax(1, round(w * scale)),
                              "height", (int) fmax(1, round(ph * scale)), "size", VIPS_SIZE_DOWN,
                              "option_string", "n=-1,fail_on=truncated", NULL) != 0)
        return -1;

    int pw = vips_image_get_width(t), pph = vips_image_get_page_height(t);
    pages = vips_image_get_height(t) / pph;
    int cw = pw < img->width ? pw : img->width, ch = pph < img->height ? pph : img->height;
    frames = g_new0(VipsImage *, pages);
    for (int i = 0; i < pages; i++)
        if (vips_extract_area(t, &frames[i], (pw - cw) / 2, i * pph + (pph - ch) / 2, cw, ch,
                              NULL) != 0)
            goto out;
    if (vips_arrayjoin(frames, &joined, pages, "across", 1, NULL) != 0
        || vips_copy(joined, out, NULL) != 0)
        goto out;
    vips_image_set_int(*out, "page-height", ch);
    rc = 0;
out:
    for (int i = 0; i < pages; i++)
        if (frames[i]) g_object_unref(frames[i]);
    g_free(frames);
    if (joined) g_object_unref(joined);
    g_object_unref(t);
    return rc;
}

int media_profile_image_process(media_profile_image *img, char *err, size_t errlen)
{
    VipsImage *in = NULL, *fitted = NULL, *first = NULL;
    media_image probe = { .bytes = img->bytes, .len = img->len,
                          .content_type = img->content_type };
    int gif = strcmp(img->content_type, "image/gif") == 0;
    int rc = -1;

    /* the header by the sniffed type's own loader: the pixel limit first */
    in = load(&probe);
    if (in == NULL) {
        snprintf(err, errlen, "not decodable: %s", vips_error_buffer());
        goto out;
    }
    int w = vips_image_get_width(in), h = vips_image_get_height(in);
    int pages = gif ? vips_image_get_n_pages(in) : 1;
    /* every frame of an animation counts */
    if ((double) w * h * pages > MEDIA_MATRIX_LIMIT) {
        snprintf(err, errlen, "%dx%d pixels, %d frame(s): over the limit", w, h, pages);
        goto out;
    }
    if ((pages > 1 ? profile_fit_animated(img, w, h, &fitted) : profile_fit(img, &fitted)) != 0) {
        snprintf(err, errlen, "not decodable: %s", vips_error_buffer());
        goto out;
    }
    if (save(fitted, img->content_type, img->original_path) != 0) {
        snprintf(err, errlen, "%s", vips_error_buffer());
        rc = errno == ENOSPC || errno == EIO || errno == EACCES ? -2 : -1;
        goto out;
    }
    if (gif && (profile_fit(img, &first) != 0 || save(first, "image/png", img->static_path) != 0)) {
        snprintf(err, errlen, "%s", vips_error_buffer());
        rc = errno == ENOSPC || errno == EIO || errno == EACCES ? -2 : -1;
        goto out;
    }

    struct stat st;
    if (stat(img->original_path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", img->original_path, strerror(errno));
        rc = -2;
        goto out;
    }
    img->original_bytes = (size_t) st.st_size;
    img->original.width = vips_image_get_width(fitted);
    img->original.height = vips_image_get_page_height(fitted);
    rc = 0;

out:
    if (rc != 0) {
        unlink(img->original_path);
        if (img->static_path != NULL)
            unlink(img->static_path);
    }
    vips_error_clear();
    if (first) g_object_unref(first);
    if (fitted) g_object_unref(fitted);
    if (in) g_object_unref(in);
    return rc;
}

int media_image_file_meta(const char *path, media_size *size, char *blurhash_out, char *err,
                          size_t errlen)
{
    VipsImage *in = vips_image_new_from_file(path, "access", VIPS_ACCESS_SEQUENTIAL, NULL);
    int rc = -1;

    if (in == NULL) {
        snprintf(err, errlen, "%s: %s", path, vips_error_buffer());
        vips_error_clear();
        return -1;
    }
    size->width = vips_image_get_width(in);
    size->height = vips_image_get_height(in);
    if (blurhash(in, blurhash_out) == 0)
        rc = 0;
    else
        snprintf(err, errlen, "blurhash: %s", vips_error_buffer());
    vips_error_clear();
    g_object_unref(in);
    return rc;
}

int media_gif_animated(const unsigned char *bytes, size_t len)
{
    VipsImage *in = NULL;
    int pages = 1;

    if (vips_gifload_buffer((void *) bytes, len, &in, NULL) == 0) {
        pages = vips_image_get_n_pages(in);
        g_object_unref(in);
    }
    vips_error_clear();
    return pages > 1;
}

int media_copy_range(const char *path, long long offset, long long size, const char *dest,
                     char *err, size_t errlen)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in == -1) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int out = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out == -1) {
        snprintf(err, errlen, "%s: %s", dest, strerror(errno));
        close(in);
        return -1;
    }
    char buf[65536];
    long long done = 0;
    int rc = 0;
    while (done < size) {
        size_t want = size - done < (long long) sizeof(buf) ? (size_t) (size - done) : sizeof(buf);
        ssize_t n = pread(in, buf, want, offset + done);
        if (n <= 0 || write(out, buf, (size_t) n) != n) {
            snprintf(err, errlen, "copying %s: %s", path, n == 0 ? "shorter than its range"
                                                                 : strerror(errno));
            rc = -1;
            break;
        }
        done += n;
    }
    if (close(out) != 0 && rc == 0) {
        snprintf(err, errlen, "%s: %s", dest, strerror(errno));
        rc = -1;
    }
    close(in);
    if (rc != 0)
        unlink(dest);
    return rc;
}
