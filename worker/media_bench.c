/* `mastodon-worker media-bench FILE COUNT DIR`: for `make bench` only.
 * COUNT times what a media_process job does to an image (decode, rotate,
 * strip, original and small styles written under DIR, the blurhash),
 * without PostgreSQL; one line: "media <count> in <ms> ms: <rate>/s". */
#include "commands.h"
#include "media.h"
#include "mstdn_media.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

int cmd_media_bench(worker_config *cfg, int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mastodon-worker media-bench FILE COUNT DIR\n");
        return 2;
    }
    long count = strtol(argv[2], NULL, 10);
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL || count < 1) {
        fprintf(stderr, "media-bench: %s: cannot read, or COUNT < 1\n", argv[1]);
        if (f != NULL)
            fclose(f);
        return 2;
    }
    static unsigned char buf[MSTDN_MEDIA_IMAGE_LIMIT];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);

    mstdn_media_kind kind;
    if (mstdn_media_sniff(buf, len, &kind) != 0 || kind.type != MSTDN_MEDIA_IMAGE) {
        fprintf(stderr, "media-bench: %s: not an image\n", argv[1]);
        return 2;
    }
    media_init("mastodon-worker");

    char original[4096], small[4096], err[512];
    snprintf(original, sizeof(original), "%s/original.%s", argv[3], kind.extension);
    snprintf(small, sizeof(small), "%s/small.%s", argv[3], kind.extension);

    long long start = monotonic_ms();
    for (long i = 0; i < count; i++) {
        media_image img = { .bytes = buf, .len = len, .content_type = kind.mime,
                            .original_path = original, .small_path = small };
        if (media_image_process(&img, err, sizeof(err)) != 0) {
            fprintf(stderr, "media-bench: %s\n", err);
            return 1;
        }
    }
    long long ms = monotonic_ms() - start;
    printf("media %ld in %lld ms: %.2f/s\n", count, ms, ms > 0 ? count * 1000.0 / (double) ms : 0.0);
    return 0;
}
