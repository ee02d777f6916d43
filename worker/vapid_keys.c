/* `mastodon-worker vapid-keys`: a new VAPID key pair for Web Push, printed
 * as Mastodon's `rake mastodon:webpush:generate_vapid_key` prints it.
 * Made once and kept: the worker signs with the pair (vapid_private_key,
 * vapid_public_key), nginx shows the public half (mastodon_vapid_public_key)
 * and clients bind their subscriptions to it, so a new pair orphans them. */
#include "commands.h"
#include "mstdn_webpush.h"

#include <stdio.h>

int cmd_vapid_keys(worker_config *cfg, int argc, char **argv)
{
    char priv[MSTDN_WEBPUSH_KEY_B64_LEN], pub[MSTDN_WEBPUSH_KEY_B64_LEN];

    (void) cfg;
    (void) argv;
    if (argc != 1) {
        fprintf(stderr, "usage: mastodon-worker vapid-keys\n");
        return 2;
    }
    if (mstdn_webpush_vapid_generate(priv, pub) != 0) {
        fprintf(stderr, "mastodon-worker: VAPID key generation failed\n");
        return 1;
    }
    printf("VAPID_PRIVATE_KEY=%s\nVAPID_PUBLIC_KEY=%s\n", priv, pub);
    return 0;
}
