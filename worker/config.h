#ifndef MW_CONFIG_H
#define MW_CONFIG_H

#include <stddef.h>

#include "mstdn_redis_url.h"

#define MW_MAX_QUEUES   16
#define MW_QUEUE_NAMELEN 64
#define MW_MAX_ALLOWED  64

typedef struct {
    char *database;                 /* libpq conninfo */
    char *redis;                    /* Mastodon's REDIS_URL forms (mstdn_redis_url.h) */
    char *domain;
    char *queues_list;              /* as configured, comma separated */
    char *log_level_name;
    char *log_file;
    long  concurrency;
    long  retry_max;
    long  retry_base_ms;
    long  claim_idle_ms;
    long  db_connect_timeout_ms;
    long  db_statement_timeout_ms;  /* job connections only; 0: none */
    long  db_tcp_user_timeout_ms;   /* 0: the system's */
    long  redis_connect_timeout_ms;
    long  redis_timeout_ms;         /* one command (plus any BLOCK) */
    char *redis_ssl_trusted_certificate; /* rediss://: CAs ("" = OpenSSL's default) */
    char *redis_ssl_name;           /* rediss://: the certificate's name ("" = the host) */
    long  job_max_bytes;            /* largest args a job entry may have */
    char *smtp_url;                 /* smtp://host:port or smtps://... */
    char *smtp_from;                /* "" = notifications@<domain> */
    char *smtp_user;
    char *smtp_password;
    char *smtp_starttls;            /* auto, always, never */
    char *base_url;                 /* "" = https://<domain> */
    long  feed_max;                 /* statuses kept in a home feed */
    long  big_account_followers;    /* merged on read from so many (0: never) */
    char *web_domain;               /* "" = domain (Mastodon's WEB_DOMAIN) */
    long  federation_allow_http;    /* 1: http:// towards other servers too */
    char *federation_allowed_addresses; /* IPs/CIDRs the guard lets through */
    char *ca_file;                  /* CA bundle for https ("" = system's) */
    long  fetch_timeout_ms;         /* a fetch's whole transfer */
    long  fetch_connect_timeout_ms;
    long  deliver_timeout_ms;       /* one delivery POST */
    long  deliver_host_concurrency; /* deliveries at once to one host */
    long  processed_activities_keep_days; /* the replay guard's window */
    char *media_root;               /* Paperclip's public/system */
    long  media_concurrency;        /* threads of their own for the media queue */
    long  media_timeout;            /* seconds an ffmpeg run may take */
    long  poll_update_delay_ms;     /* a local poll's Update after votes */
    char *media_base_url;           /* where stored keys are public ("" = the storage's) */
    long  s3_enabled;               /* 1: media in S3-compatible storage, not media_root */
    char *s3_bucket;
    char *s3_region;
    char *s3_endpoint;              /* "" = AWS's, https://s3.<region>.amazonaws.com */
    long  s3_path_style;            /* with s3_endpoint: <endpoint>/<bucket>/<key> */
    char *s3_access_key_id;
    char *s3_secret_access_key;
    char *s3_permission;            /* x-amz-acl ("" = none sent) */
    long  s3_timeout_ms;            /* one PUT or DELETE */
    char *vapid_private_key;        /* VAPID_PRIVATE_KEY (Web Push): "" none */
    char *vapid_public_key;         /* VAPID_PUBLIC_KEY */

    /* derived */
    int   nqueues;
    char  queues[MW_MAX_QUEUES][MW_QUEUE_NAMELEN];
    int   log_level;
    mstdn_redis_url redis_url;      /* redis parsed */
    char  redis_name[300];          /* redis for logs: no password */
    int   starttls;                 /* WORKER_STARTTLS_* */
    char  from_address[320];        /* smtp_from, or the default */
    char  base[512];                /* base_url without a trailing '/' */
    int   nallowed;                 /* federation_allowed_addresses parsed */
    struct {
        int           family;       /* AF_INET or AF_INET6 */
        unsigned char addr[16];
        int           prefix;       /* bits */
    } allowed[MW_MAX_ALLOWED];
} worker_config;

enum { WORKER_STARTTLS_AUTO, WORKER_STARTTLS_ALWAYS, WORKER_STARTTLS_NEVER };

/* Defaults, then FILE (may be NULL), then MASTODON_<KEY> from the
 * environment.  Returns 0, or -1 with a message in err. */
int  config_load(worker_config *cfg, const char *file, char *err, size_t errlen);
void config_free(worker_config *cfg);

int  queue_name_valid(const char *name);

#endif
