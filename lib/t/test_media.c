/* Unit tests of lib/mstdn_media: types from bytes, limits, paths. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_media.h"


static const char *
sniff(const char *bytes, size_t n, mstdn_media_type *type)
{
    mstdn_media_kind  k;

    if (mstdn_media_sniff((const unsigned char *) bytes, n, &k) != 0) {
        return NULL;
    }

    if (type) {
        *type = k.type;
    }

    return k.mime;
}

#define S(lit, type)  sniff(lit, sizeof(lit) - 1, type)


static void
images(void **state)
{
    mstdn_media_type  t;

    assert_string_equal(S("\xff\xd8\xff\xe0\0\x10JFIF", &t), "image/jpeg");
    assert_int_equal(t, MSTDN_MEDIA_IMAGE);
    assert_string_equal(S("\xff\xd8\xff\xe1\0\x10" "Exif", NULL),
                        "image/jpeg");
    assert_string_equal(S("\x89PNG\r\n\x1a\n\0\0\0\rIHDR", &t), "image/png");
    assert_int_equal(t, MSTDN_MEDIA_IMAGE);
    assert_string_equal(S("GIF89a\x01\0\x01\0", NULL), "image/gif");
    assert_string_equal(S("GIF87a\x01\0\x01\0", NULL), "image/gif");
    assert_string_equal(S("RIFF\x24\0\0\0WEBPVP8 ", NULL), "image/webp");
    assert_string_equal(S("\0\0\0\x18" "ftypheic\0\0\0\0", NULL),
                        "image/heic");
    assert_string_equal(S("\0\0\0\x1c" "ftypavif\0\0\0\0", NULL),
                        "image/avif");
}


static void
video_audio(void **state)
{
    mstdn_media_type  t;

    assert_string_equal(S("\0\0\0\x20" "ftypisom\0\0\x02\0", &t), "video/mp4");
    assert_int_equal(t, MSTDN_MEDIA_VIDEO);
    assert_string_equal(S("\0\0\0\x14" "ftypqt  \0\0\0\0", NULL),
                        "video/quicktime");
    assert_string_equal(S("\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84"
                          "webm", NULL), "video/webm");
    assert_string_equal(S("OggS\0\x02\0\0\0\0\0\0\0\0\x80theora", &t),
                        "video/ogg");
    assert_int_equal(t, MSTDN_MEDIA_VIDEO);
    assert_string_equal(S("OggS\0\x02\0\0\0\0\0\0\0\0\x01vorbis", &t),
                        "audio/ogg");
    assert_int_equal(t, MSTDN_MEDIA_AUDIO);
    assert_string_equal(S("ID3\x04\0\0\0\0\0\0", &t), "audio/mpeg");
    assert_int_equal(t, MSTDN_MEDIA_AUDIO);
    assert_string_equal(S("\xff\xfb\x90\x64", NULL), "audio/mpeg");
    assert_string_equal(S("\xff\xf1\x50\x80", NULL), "audio/aac");
    assert_string_equal(S("fLaC\0\0\0\x22", NULL), "audio/flac");
    assert_string_equal(S("RIFF\x24\0\0\0WAVEfmt ", NULL), "audio/wave");
    assert_string_equal(S("\0\0\0\x20" "ftypM4A \0\0\0\0", &t), "audio/mp4");
    assert_int_equal(t, MSTDN_MEDIA_AUDIO);
    assert_string_equal(S("\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9", &t),
                        "video/x-ms-asf");
    assert_int_equal(t, MSTDN_MEDIA_AUDIO);
}


static void
refused(void **state)
{
    /* what must never be taken for media, whatever its name says */
    assert_null(S("", NULL));
    assert_null(S("<svg xmlns=\"http://www.w3.org/2000/svg\"/>", NULL));
    assert_null(S("<?xml version=\"1.0\"?><svg/>", NULL));
    assert_null(S("<!DOCTYPE html><html><script>", NULL));
    assert_null(S("<html><body>hi</body></html>", NULL));
    assert_null(S("%PDF-1.7\n", NULL));
    assert_null(S("\xff\xd8", NULL));           /* too short for JPEG */
    assert_null(S("\x89PNG\r\n", NULL));        /* truncated signature */
    assert_null(S("RIFF\x24\0\0\0AVI ", NULL));
    assert_null(S("\x1a\x45\xdf\xa3\x9f\x42\x86\x81matroska", NULL));
    assert_null(S("\0\0\0\x20" "ftyp", NULL));  /* no brand */
    assert_null(S("BM\x36\0\0\0", NULL));       /* BMP: not supported */
    assert_null(S("\xff\xe9\0\0", NULL));       /* reserved MPEG version */
}


static void
limits(void **state)
{
    uint64_t  il = MSTDN_MEDIA_IMAGE_LIMIT, vl = MSTDN_MEDIA_VIDEO_LIMIT;

    assert_false(mstdn_media_too_large(MSTDN_MEDIA_IMAGE, il - 1, il, vl));
    assert_true(mstdn_media_too_large(MSTDN_MEDIA_IMAGE, il, il, vl));
    assert_false(mstdn_media_too_large(MSTDN_MEDIA_VIDEO, il, il, vl));
    assert_true(mstdn_media_too_large(MSTDN_MEDIA_VIDEO, vl, il, vl));
    assert_true(mstdn_media_too_large(MSTDN_MEDIA_AUDIO, vl, il, vl));
    assert_false(mstdn_media_too_large(MSTDN_MEDIA_GIFV, vl - 1, il, vl));
}


static void
human_sizes(void **state)
{
    char  b[32];

    mstdn_media_human_size(16777216, b, sizeof(b));
    assert_string_equal(b, "16 MB");
    mstdn_media_human_size(103809024, b, sizeof(b));
    assert_string_equal(b, "99 MB");
    mstdn_media_human_size(1500000, b, sizeof(b));
    assert_string_equal(b, "1.43 MB");
    mstdn_media_human_size(1024, b, sizeof(b));
    assert_string_equal(b, "1 KB");
    mstdn_media_human_size(123456, b, sizeof(b));
    assert_string_equal(b, "121 KB");
    mstdn_media_human_size(512, b, sizeof(b));
    assert_string_equal(b, "512 Bytes");
    mstdn_media_human_size(1, b, sizeof(b));
    assert_string_equal(b, "1 Byte");
    mstdn_media_human_size(1073741824, b, sizeof(b));
    assert_string_equal(b, "1 GB");
}


static void
partitions(void **state)
{
    char  b[32];

    assert_int_equal(mstdn_media_id_partition(42, b, sizeof(b)), 11);
    assert_string_equal(b, "000/000/042");
    mstdn_media_id_partition(123456789, b, sizeof(b));
    assert_string_equal(b, "123/456/789");
    mstdn_media_id_partition(109618290273346817LL, b, sizeof(b));
    assert_string_equal(b, "109/618/290/273/346/817");
    /* scan(/\d{3}/) drops a trailing partial group */
    mstdn_media_id_partition(1234567890, b, sizeof(b));
    assert_string_equal(b, "123/456/789");
}


/* the static style of avatars and headers: GIFs' own, else the original */
static void
profile_styles(void **state)
{
    char         b[MSTDN_MEDIA_KEY_MAX];
    const char  *ext, *style;

    (void) state;
    style = mstdn_media_profile_style("original", "0123456789abcdef.gif", &ext);
    assert_string_equal(style, "original");
    assert_null(ext);
    style = mstdn_media_profile_style("static", "0123456789abcdef.png", &ext);
    assert_string_equal(style, "original");
    assert_null(ext);
    style = mstdn_media_profile_style("static", "0123456789abcdef.gif", &ext);
    assert_string_equal(style, "static");
    assert_string_equal(ext, "png");
    mstdn_media_key(b, sizeof(b), 0, "accounts", "headers", 109618290273346817LL, style,
                    "0123456789abcdef.gif", 20, ext);
    assert_string_equal(b, "accounts/headers/109/618/290/273/346/817/static/"
                           "0123456789abcdef.png");
    assert_true(mstdn_media_profile_animated("0123456789abcdef.gif"));
    assert_false(mstdn_media_profile_animated("0123456789abcdef.png"));
}


static void
keys(void **state)
{
    char  b[MSTDN_MEDIA_KEY_MAX];

    assert_int_equal(mstdn_media_key(b, sizeof(b), 0, "media_attachments", "files", 42,
                                     "original", "0123456789abcdef.jpeg", 21, NULL), 66);
    assert_string_equal(b, "media_attachments/files/000/000/042/original/0123456789abcdef.jpeg");
    /* a remote copy: under cache/; the small style of a video: PNG */
    mstdn_media_key(b, sizeof(b), 1, "media_attachments", "files", 109618290273346817LL,
                    "small", "0123456789abcdef.mp4", 20, "png");
    assert_string_equal(b, "cache/media_attachments/files/109/618/290/273/346/817/small/"
                           "0123456789abcdef.png");
    /* "" keeps the extension; no dot: nothing to swap */
    mstdn_media_key(b, sizeof(b), 0, "accounts", "avatars", 7, "original", "a.png", 5, "");
    assert_string_equal(b, "accounts/avatars/000/000/007/original/a.png");
    mstdn_media_key(b, sizeof(b), 0, "accounts", "avatars", 7, "small", "noext", 5, "png");
    assert_string_equal(b, "accounts/avatars/000/000/007/small/noext");
    /* the name's length counts, not its NUL */
    mstdn_media_key(b, sizeof(b), 0, "media_attachments", "files", 1, "original", "abc.pngXX", 7,
                    NULL);
    assert_string_equal(b, "media_attachments/files/000/000/001/original/abc.png");
    /* too small: 0 and an empty string */
    assert_int_equal(mstdn_media_key(b, 20, 0, "media_attachments", "files", 1, "original",
                                     "abc.png", 7, NULL), 0);
    assert_string_equal(b, "");
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(images),
        cmocka_unit_test(video_audio),
        cmocka_unit_test(refused),
        cmocka_unit_test(limits),
        cmocka_unit_test(human_sizes),
        cmocka_unit_test(partitions),
        cmocka_unit_test(profile_styles),
        cmocka_unit_test(keys),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("media", tests, NULL, NULL);
}
