/* Media attachments: types from bytes, size limits, the path layout. */

#include "mstdn_media.h"

#include <stdio.h>
#include <string.h>


static const mstdn_media_kind  kinds[] = {
    { "image/jpeg", "jpeg", MSTDN_MEDIA_IMAGE, 1 },
    { "image/png", "png", MSTDN_MEDIA_IMAGE, 1 },
    { "image/gif", "gif", MSTDN_MEDIA_IMAGE, 1 },
    { "image/webp", "webp", MSTDN_MEDIA_IMAGE, 1 },
    { "image/heic", "heic", MSTDN_MEDIA_IMAGE, 1 },
    { "image/avif", "avif", MSTDN_MEDIA_IMAGE, 1 },
    { "video/mp4", "mp4", MSTDN_MEDIA_VIDEO, 1 },
    { "video/quicktime", "mov", MSTDN_MEDIA_VIDEO, 1 },
    { "video/webm", "webm", MSTDN_MEDIA_VIDEO, 1 },
    { "video/ogg", "ogv", MSTDN_MEDIA_VIDEO, 1 },
    { "audio/mpeg", "mp3", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/ogg", "oga", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/wave", "wav", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/flac", "flac", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/aac", "aac", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/mp4", "m4a", MSTDN_MEDIA_AUDIO, 0 },
    { "audio/3gpp", "3gp", MSTDN_MEDIA_AUDIO, 0 },
    { "video/x-ms-asf", "asf", MSTDN_MEDIA_AUDIO, 0 },   /* AUDIO_MIME_TYPES */
};


static int
kind(const char *mime, mstdn_media_kind *out)
{
    size_t  i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        if (strcmp(kinds[i].mime, mime) == 0) {
            *out = kinds[i];
            return 0;
        }
    }

    return -1;
}


static int
has(const unsigned char *p, size_t n, size_t at, const char *magic,
    size_t len)
{
    return n >= at + len && memcmp(p + at, magic, len) == 0;
}


static int
contains(const unsigned char *p, size_t n, const char *s)
{
    size_t  i, len = strlen(s);

    for (i = 0; i + len <= n; i++) {
        if (memcmp(p + i, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


/* an ISO base media file (MP4, QuickTime, HEIF...): by its major brand */
static const char *
ftyp(const unsigned char *p, size_t n)
{
    static const struct {
        const char  *brand;
        const char  *mime;
    } brands[] = {
        { "heic", "image/heic" }, { "heix", "image/heic" },
        { "mif1", "image/heic" }, { "msf1", "image/heic" },
        { "avif", "image/avif" }, { "avis", "image/avif" },
        { "qt  ", "video/quicktime" },
        { "M4A ", "audio/mp4" }, { "M4B ", "audio/mp4" },
        { "3gp4", "audio/3gpp" }, { "3gp5", "audio/3gpp" },
        { "3gp6", "audio/3gpp" }, { "3ge6", "audio/3gpp" },
    };
    size_t  i;

    for (i = 0; i < sizeof(brands) / sizeof(brands[0]); i++) {
        if (has(p, n, 8, brands[i].brand, 4)) {
            return brands[i].mime;
        }
    }

    /* isom, iso2, mp41, mp42, avc1, M4V, dash...: MP4 */
    return n >= 12 ? "video/mp4" : NULL;
}


int
mstdn_media_sniff(const unsigned char *p, size_t n, mstdn_media_kind *out)
{
    const char  *mime = NULL;

    if (n >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        mime = "image/jpeg";

    } else if (has(p, n, 0, "\x89PNG\r\n\x1a\n", 8)) {
        mime = "image/png";

    } else if (has(p, n, 0, "GIF87a", 6) || has(p, n, 0, "GIF89a", 6)) {
        mime = "image/gif";

    } else if (has(p, n, 0, "RIFF", 4) && has(p, n, 8, "WEBP", 4)) {
        mime = "image/webp";

    } else if (has(p, n, 0, "RIFF", 4) && has(p, n, 8, "WAVE", 4)) {
        mime = "audio/wave";

    } else if (has(p, n, 4, "ftyp", 4)) {
        mime = ftyp(p, n);

    } else if (has(p, n, 0, "\x1a\x45\xdf\xa3", 4)) {
        /* Matroska: only its WebM profile is supported */
        mime = contains(p, n, "webm") ? "video/webm" : NULL;

    } else if (has(p, n, 0, "OggS", 4)) {
        mime = contains(p, n, "theora") ? "video/ogg" : "audio/ogg";

    } else if (has(p, n, 0, "fLaC", 4)) {
        mime = "audio/flac";

    } else if (has(p, n, 0, "ID3", 3)) {
        mime = "audio/mpeg";

    } else if (has(p, n, 0, "\x30\x26\xb2\x75\x8e\x66\xcf\x11", 8)) {
        mime = "video/x-ms-asf";

    } else if (n >= 2 && p[0] == 0xff && (p[1] & 0xe0) == 0xe0) {
        /* an MPEG audio frame header; layer bits 00 are ADTS (AAC) */
        if ((p[1] & 0x06) == 0) {
            mime = (p[1] & 0x10) ? "audio/aac" : NULL;

        } else if ((p[1] & 0x18) != 0x08) {
            mime = "audio/mpeg";
        }
    }

    if (mime == NULL) {
        return -1;
    }

    return kind(mime, out);
}


int
mstdn_media_too_large(mstdn_media_type type, uint64_t size,
    uint64_t image_limit, uint64_t video_limit)
{
    /* larger_media_format?: video, gifv, audio */
    if (type == MSTDN_MEDIA_IMAGE || type == MSTDN_MEDIA_UNKNOWN) {
        return size >= image_limit;
    }

    return size >= video_limit;
}


void
mstdn_media_human_size(uint64_t size, char *out, size_t outlen)
{
    static const char  *units[] = { "KB", "MB", "GB", "TB" };
    int                 u, decimals;
    char               *e;
    double              v;

    if (size < 1024) {
        snprintf(out, outlen, "%llu %s", (unsigned long long) size,
                 size == 1 ? "Byte" : "Bytes");
        return;
    }

    v = (double) size / 1024;
    for (u = 0; u < 3 && v >= 1024; u++) {
        v /= 1024;
    }

    decimals = v >= 100 ? 0 : (v >= 10 ? 1 : 2);
    snprintf(out, outlen, "%.*f", decimals, v);

    /* strip_insignificant_zeros */
    if (strchr(out, '.')) {
        e = out + strlen(out) - 1;
        while (*e == '0') {
            *e-- = '\0';
        }
        if (*e == '.') {
            *e = '\0';
        }
    }

    snprintf(out + strlen(out), outlen - strlen(out), " %s", units[u]);
}


size_t
mstdn_media_id_partition(int64_t id, char *out, size_t outlen)
{
    char    digits[24];
    size_t  i, n, len;

    n = (size_t) snprintf(digits, sizeof(digits), "%09lld", (long long) id);

    /* String#scan(/\d{3}/): whole groups only */
    for (i = 0, len = 0; i + 3 <= n && len + 4 <= outlen; i += 3) {
        if (len) {
            out[len++] = '/';
        }
        memcpy(out + len, digits + i, 3);
        len += 3;
    }

    out[len] = '\0';

    return len;
}


int
mstdn_media_profile_animated(const char *name)
{
    size_t  n = strlen(name);

    return n > 4 && strcmp(name + n - 4, ".gif") == 0;
}


const char *
mstdn_media_profile_style(const char *style, const char *name,
                          const char **extension)
{
    if (strcmp(style, "static") == 0 && mstdn_media_profile_animated(name)) {
        *extension = "png";
        return "static";
    }

    *extension = NULL;
    return "original";
}


size_t
mstdn_media_key(char *out, size_t outlen, int remote, const char *class_name,
    const char *attachment, int64_t id, const char *style, const char *name,
    size_t name_len, const char *extension)
{
    char        part[32];
    size_t      base;
    const char *dot;
    int         n;

    mstdn_media_id_partition(id, part, sizeof(part));

    base = name_len;
    if (extension != NULL && *extension != '\0') {
        dot = memchr(name, '.', name_len);
        if (dot != NULL) {
            base = (size_t) (dot - name);
        }
    }

    n = snprintf(out, outlen, "%s%s/%s/%s/%s/%.*s%s%s", remote ? "cache/" : "",
                 class_name, attachment, part, style, (int) base, name,
                 base < name_len ? "." : "",
                 base < name_len ? extension : "");

    if (n < 0 || (size_t) n >= outlen) {
        if (outlen) {
            out[0] = '\0';
        }
        return 0;
    }

    return (size_t) n;
}
