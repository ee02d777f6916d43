/* mastodon-worker: the job daemon and the operator CLI.
 * main() reads the global options and the configuration, then dispatches. */
#include "commands.h"
#include "config.h"
#include "crash.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

static const char usage_text[] =
    "usage: mastodon-worker [-c FILE] [COMMAND [ARGS...]]\n"
    "\n"
    "commands:\n"
    "  run                        run the job daemon (the default)\n"
    "  migrate [--sql-dir DIR]    apply the pending sql/NNNN_*.sql migrations\n"
    "  accounts create USERNAME --email EMAIL [--password PASSWORD]\n"
    "           [--role Owner|Admin|Moderator] [--confirmed] [--approve] [--if-not-exists]\n"
    "                             create a local account and its user\n"
    "  accounts delete USERNAME   delete a local account (tootctl accounts delete): its Delete\n"
    "                             to every known host, its data, user and tokens\n"
    "  enqueue QUEUE TYPE JSON    add a job to mastodon:queue:QUEUE, print its entry id\n"
    "  relay                      move the jobs waiting in the outbox into the streams now\n"
    "  domain-block add DOMAIN [--severity silence|suspend|noop] [--reject-media]\n"
    "           [--reject-reports] [--obfuscate] [--private-comment T] [--public-comment T]\n"
    "  domain-block remove DOMAIN | domain-block list\n"
    "                             the instance's domain blocks\n"
    "  reports list [--all]       the reports waiting for the moderators (--all: resolved too)\n"
    "  media usage                the storage the media take (tootctl media usage)\n"
    "  emoji import FILE [--prefix P] [--category NAME] [--overwrite]\n"
    "  emoji add SHORTCODE FILE [--category NAME] [--overwrite]\n"
    "  emoji list | emoji remove SHORTCODE   the local custom emojis\n"
    "  announcements add TEXT [--starts-at T --ends-at T] [--all-day] [--scheduled-at T]\n"
    "  announcements list | publish ID | unpublish ID | remove ID\n"
    "                             the instance's announcements (T: ISO 8601, UTC)\n"
    "  media remove [--days N] [--dry-run]\n"
    "                             remove the cached copies of remote media N days old (7)\n"
    "  media remove-orphans [--dry-run]\n"
    "                             remove stored files no record names (tootctl media\n"
    "                             remove-orphans)\n"
    "  search deploy [--batch-size N]\n"
    "                             recompute the statuses' full-text search index (tootctl\n"
    "                             search deploy), N statuses a transaction (10000)\n"
    "  vapid-keys                 print a new VAPID key pair for Web Push (once: keep it in the\n"
    "                             worker's vapid_* keys and mastodon_vapid_public_key)\n"
    "\n"
    "options:\n"
    "  -c, --config FILE          configuration file (\"key value\" lines)\n"
    "  -h, --help                 this text\n"
    "\n"
    "Environment variables MASTODON_<KEY> override the file's keys: DATABASE, REDIS,\n"
    "DOMAIN, CONCURRENCY, QUEUES, RETRY_MAX, RETRY_BASE_MS, CLAIM_IDLE_MS, JOB_MAX_BYTES,\n"
    "DB_CONNECT_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS, DB_TCP_USER_TIMEOUT_MS,\n"
    "REDIS_CONNECT_TIMEOUT_MS, REDIS_TIMEOUT_MS, LOG_LEVEL, LOG_FILE, SMTP_URL, SMTP_FROM,\n"
    "SMTP_USER, SMTP_PASSWORD, SMTP_STARTTLS, BASE_URL, FEED_MAX, WEB_DOMAIN,\n"
    "FEDERATION_ALLOW_HTTP, FEDERATION_ALLOWED_ADDRESSES, CA_FILE, FETCH_TIMEOUT_MS,\n"
    "FETCH_CONNECT_TIMEOUT_MS, DELIVER_TIMEOUT_MS, DELIVER_HOST_CONCURRENCY, MEDIA_ROOT,\n"
    "MEDIA_BASE_URL, S3_ENABLED, S3_BUCKET, S3_REGION, S3_ENDPOINT, S3_PATH_STYLE,\n"
    "S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_PERMISSION, S3_TIMEOUT_MS,\n"
    "VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY.\n"
    "MASTODON_SQL_DIR locates the migrations.\n";

static const struct {
    const char *name;
    int (*run)(worker_config *cfg, int argc, char **argv);
} commands[] = {
    { "run", cmd_run },
    { "migrate", cmd_migrate },
    { "accounts", cmd_accounts },
    { "enqueue", cmd_enqueue },
    { "relay", cmd_relay },
    { "domain-block", cmd_domain_block },
    { "reports", cmd_reports },
    { "media", cmd_media },
    { "emoji", cmd_emoji },
    { "announcements", cmd_announcements },
    { "search", cmd_search },
    { "vapid-keys", cmd_vapid_keys },
    { "http-test", cmd_http_test },     /* t/worker_http.t; not in the usage */
    { "fetch-test", cmd_fetch_test },   /* t/worker_fetch.t; not in the usage */
    { "deliver-bench", cmd_deliver_bench },     /* make bench; not in the usage */
    { "media-bench", cmd_media_bench },         /* make bench; not in the usage */
};

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

int main(int argc, char **argv)
{
    const char *config_file = NULL;
    int i = 1;

    while (i < argc && argv[i][0] == '-') {
        const char *opt = argv[i];
        if (strcmp(opt, "-c") == 0 || strcmp(opt, "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "mastodon-worker: %s needs a file name\n", opt);
                return 2;
            }
            config_file = argv[i + 1];
            i += 2;
        } else if (strncmp(opt, "--config=", 9) == 0) {
            config_file = opt + 9;
            i++;
        } else if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            return usage();
        } else if (strcmp(opt, "--") == 0) {
            i++;
            break;
        } else {
            fprintf(stderr, "mastodon-worker: unknown option %s\n", opt);
            return usage();
        }
    }

    const char *name = i < argc ? argv[i] : "run";
    int (*run)(worker_config *, int, char **) = NULL;
    for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
        if (strcmp(commands[k].name, name) == 0)
            run = commands[k].run;
    }
    if (run == NULL) {
        fprintf(stderr, "mastodon-worker: unknown command \"%s\"\n", name);
        return usage();
    }

    crash_handler_install();

    worker_config cfg;
    char err[1024];
    if (config_load(&cfg, config_file, err, sizeof(err)) != 0) {
        fprintf(stderr, "mastodon-worker: configuration error: %s\n", err);
        config_free(&cfg);
        return 2;
    }
    log_min_level = cfg.log_level;

    /* Only the daemon writes to log_file: the CLI talks to its operator. */
    if (strcmp(name, "run") == 0 && log_open(cfg.log_file) != 0) {
        fprintf(stderr, "mastodon-worker: configuration error: log_file %s: %s\n",
                cfg.log_file, strerror(errno));
        config_free(&cfg);
        return 2;
    }

    /* libcurl (SMTP) must be set up once, before any thread runs */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "mastodon-worker: libcurl initialization failed\n");
        config_free(&cfg);
        return 1;
    }

    static char *no_args[] = { "run", NULL };
    int rc = i < argc ? run(&cfg, argc - i, argv + i) : run(&cfg, 1, no_args);
    curl_global_cleanup();
    config_free(&cfg);
    return rc;
}
