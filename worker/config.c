/* Configuration: a table of typed keys with defaults and bounds (the idea
 * of Redis' standardConfig), read from "key value" lines and then from
 * MASTODON_<KEY> environment variables, which win. */
#include "config.h"
#include "log.h"
#include "mail.h"
#include "mstdn_webpush.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CFG_STRING, CFG_LONG };

typedef struct {
    const char *name;
    int         type;
    size_t      offset;
    const char *default_value;
    long        min, max;           /* CFG_LONG bounds */
} config_entry;

#define STR(field, def)            { #field, CFG_STRING, offsetof(worker_config, field), def, 0, 0 }
#define NUM(key, field, def, lo, hi) { key, CFG_LONG, offsetof(worker_config, field), def, lo, hi }

static const config_entry config_table[] = {
    STR(database, "host=/var/run/postgresql dbname=mastodon"),
    STR(redis, "127.0.0.1:6379"),
    STR(domain, "localhost"),
    { "queues", CFG_STRING, offsetof(worker_config, queues_list),
      "default,webpush,push,ingress,mailers,pull,scheduler,media", 0, 0 },
    { "log_level", CFG_STRING, offsetof(worker_config, log_level_name), "info", 0, 0 },
    STR(log_file, ""),
    NUM("concurrency", concurrency, "5", 1, 256),
    NUM("retry_max", retry_max, "25", 0, 1000),
    NUM("retry_base_ms", retry_base_ms, "1000", 1, 86400000L),
    NUM("claim_idle_ms", claim_idle_ms, "5000", 100, 86400000L),
    NUM("db_connect_timeout_ms", db_connect_timeout_ms, "5000", 1, 3600000L),
    NUM("db_statement_timeout_ms", db_statement_timeout_ms, "60000", 0, 86400000L),
    NUM("db_tcp_user_timeout_ms", db_tcp_user_timeout_ms, "30000", 0, 3600000L),
    NUM("redis_connect_timeout_ms", redis_connect_timeout_ms, "3000", 1, 3600000L),
    NUM("redis_timeout_ms", redis_timeout_ms, "10000", 100, 3600000L),
    STR(redis_ssl_trusted_certificate, ""),
    STR(redis_ssl_name, ""),
    NUM("job_max_bytes", job_max_bytes, "536870912", 1024, 536870912L),
    STR(smtp_url, "smtp://127.0.0.1:25"),
    STR(smtp_from, ""),
    STR(smtp_user, ""),
    STR(smtp_password, ""),
    STR(smtp_starttls, "auto"),
    STR(base_url, ""),
    NUM("feed_max", feed_max, "400", 40, 100000),
    NUM("big_account_followers", big_account_followers, "10000", 0, 1000000000L),
    STR(web_domain, ""),
    NUM("federation_allow_http", federation_allow_http, "0", 0, 1),
    STR(federation_allowed_addresses, ""),
    STR(ca_file, ""),
    NUM("fetch_timeout_ms", fetch_timeout_ms, "30000", 100, 600000),
    NUM("fetch_connect_timeout_ms", fetch_connect_timeout_ms, "10000", 100, 600000),
    NUM("deliver_timeout_ms", deliver_timeout_ms, "30000", 100, 600000),
    NUM("deliver_host_concurrency", deliver_host_concurrency, "8", 1, 256),
    NUM("processed_activities_keep_days", processed_activities_keep_days, "14", 1, 3650),
    STR(media_root, "/var/lib/mastodon/public/system"),
    NUM("media_concurrency", media_concurrency, "2", 0, 256),
    NUM("media_timeout", media_timeout, "900", 1, 86400),
    NUM("poll_update_delay_ms", poll_update_delay_ms, "180000", 0, 86400000L),
    STR(media_base_url, ""),
    NUM("s3_enabled", s3_enabled, "0", 0, 1),
    STR(s3_bucket, ""),
    STR(s3_region, "us-east-1"),
    STR(s3_endpoint, ""),
    NUM("s3_path_style", s3_path_style, "1", 0, 1),
    STR(s3_access_key_id, ""),
    STR(s3_secret_access_key, ""),
    STR(s3_permission, "public-read"),
    NUM("s3_timeout_ms", s3_timeout_ms, "60000", 100, 3600000),
    STR(vapid_private_key, ""),
    STR(vapid_public_key, ""),
};

#define CONFIG_ENTRIES (sizeof(config_table) / sizeof(config_table[0]))

static const config_entry *config_find(const char *name)
{
    for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
        if (strcmp(config_table[i].name, name) == 0)
            return &config_table[i];
    }
    return NULL;
}

static int config_set(worker_config *cfg, const config_entry *e, const char *value,
                      const char *origin, char *err, size_t errlen)
{
    void *field = (char *) cfg + e->offset;

    if (e->type == CFG_STRING) {
        char **s = field;
        char *copy = strdup(value);
        if (copy == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        free(*s);
        *s = copy;
        return 0;
    }

    char *end;
    errno = 0;
    long v = strtol(value, &end, 10);
    if (errno != 0 || end == value || *end != '\0' || v < e->min || v > e->max) {
        snprintf(err, errlen, "%s: %s must be an integer between %ld and %ld, not \"%s\"",
                 origin, e->name, e->min, e->max, value);
        return -1;
    }
    *(long *) field = v;
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char) *s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char) end[-1]))
        *--end = '\0';
    return s;
}

static int config_read_file(worker_config *cfg, const char *file, char *err, size_t errlen)
{
    FILE *f = fopen(file, "r");
    if (f == NULL) {
        snprintf(err, errlen, "cannot open config file %s: %s", file, strerror(errno));
        return -1;
    }

    char line[4096], origin[512];
    int lineno = 0, rc = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        snprintf(origin, sizeof(origin), "%s:%d", file, lineno);

        if (strchr(line, '\n') == NULL && !feof(f)) {
            snprintf(err, errlen, "%s: line too long", origin);
            rc = -1;
            break;
        }
        char *p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;

        char *key = p;
        while (*p != '\0' && !isspace((unsigned char) *p))
            p++;
        if (*p != '\0')
            *p++ = '\0';
        char *value = trim(p);

        /* Allow quoting a value that contains spaces, e.g. a conninfo. */
        size_t vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }

        const config_entry *e = config_find(key);
        if (e == NULL) {
            snprintf(err, errlen, "%s: unknown key \"%s\"", origin, key);
            rc = -1;
            break;
        }
        if (config_set(cfg, e, value, origin, err, errlen) != 0) {
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

int queue_name_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= MW_QUEUE_NAMELEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char) name[i];
        if (!(islower(c) || isdigit(c) || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int config_split_queues(worker_config *cfg, char *err, size_t errlen)
{
    char *copy = strdup(cfg->queues_list);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cfg->nqueues = 0;

    int rc = 0;
    char *save = NULL;
    for (char *q = strtok_r(copy, ", ", &save); q != NULL; q = strtok_r(NULL, ", ", &save)) {
        if (!queue_name_valid(q)) {
            snprintf(err, errlen, "queues: invalid queue name \"%s\" (a-z, 0-9, _ and -)", q);
            rc = -1;
            break;
        }
        for (int i = 0; i < cfg->nqueues; i++) {
            if (strcmp(cfg->queues[i], q) == 0) {
                snprintf(err, errlen, "queues: \"%s\" listed twice", q);
                rc = -1;
                goto done;
            }
        }
        if (cfg->nqueues == MW_MAX_QUEUES) {
            snprintf(err, errlen, "queues: at most %d queues", MW_MAX_QUEUES);
            rc = -1;
            break;
        }
        snprintf(cfg->queues[cfg->nqueues++], MW_QUEUE_NAMELEN, "%s", q);
    }
    if (rc == 0 && cfg->nqueues == 0) {
        snprintf(err, errlen, "queues: no queue given");
        rc = -1;
    }
done:
    free(copy);
    return rc;
}

/* redis: the module's syntax (lib/mstdn_redis_url), and a name for logs
 * that leaves the password out. */
static int config_redis(worker_config *cfg, char *err, size_t errlen)
{
    mstdn_redis_url *u = &cfg->redis_url;

    if (mstdn_redis_url_parse(cfg->redis, strlen(cfg->redis), u) != 0) {
        if (errno == ENOMEM) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        /* the value may hold a password: not repeated */
        snprintf(err, errlen, "redis: invalid value: expected host[:port], unix:/path, "
                 "redis://[[user]:password@]host[:port][/db] or unix:///path?db=N&password=P");
        return -1;
    }
    if (u->unix_path != NULL)
        snprintf(cfg->redis_name, sizeof(cfg->redis_name), "unix:%.200s", u->unix_path);
    else
        snprintf(cfg->redis_name, sizeof(cfg->redis_name), strchr(u->host, ':') ? "[%.200s]:%d" : "%.200s:%d",
                 u->host, u->port);
    size_t n = strlen(cfg->redis_name);
    if (u->db != 0)
        n += (size_t) snprintf(cfg->redis_name + n, sizeof(cfg->redis_name) - n, " db %ld", u->db);
    if (u->tls)
        snprintf(cfg->redis_name + n, sizeof(cfg->redis_name) - n, " (TLS)");
    return 0;
}

/* The e-mail keys, checked and completed with their derived defaults. */
static int config_mail(worker_config *cfg, char *err, size_t errlen)
{
    if (strncmp(cfg->smtp_url, "smtp://", 7) != 0 && strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
        snprintf(err, errlen, "smtp_url: \"%s\" is not an smtp:// or smtps:// URL", cfg->smtp_url);
        return -1;
    }

    if (strcmp(cfg->smtp_starttls, "auto") == 0) {
        cfg->starttls = WORKER_STARTTLS_AUTO;
    } else if (strcmp(cfg->smtp_starttls, "always") == 0) {
        cfg->starttls = WORKER_STARTTLS_ALWAYS;
    } else if (strcmp(cfg->smtp_starttls, "never") == 0) {
        cfg->starttls = WORKER_STARTTLS_NEVER;
    } else {
        snprintf(err, errlen, "smtp_starttls: \"%s\" is not auto, always or never", cfg->smtp_starttls);
        return -1;
    }

    const char *from = cfg->smtp_from;
    if (from[0] == '\0') {
        size_t host = strcspn(cfg->domain, ":");
        snprintf(cfg->from_address, sizeof(cfg->from_address), "notifications@%.*s",
                 (int) host, cfg->domain);
    } else if (strlen(from) < sizeof(cfg->from_address)) {
        snprintf(cfg->from_address, sizeof(cfg->from_address), "%s", from);
    } else {
        snprintf(err, errlen, "smtp_from: too long");
        return -1;
    }
    /* an address mail_send() would refuse is refused at start, not per mail */
    if (!mail_address_safe(cfg->from_address)) {
        snprintf(err, errlen, "smtp_from: \"%s\" is not an e-mail address", cfg->from_address);
        return -1;
    }

    const char *base = cfg->base_url;
    if (base[0] == '\0') {
        snprintf(cfg->base, sizeof(cfg->base), "https://%s",
                 cfg->web_domain[0] != '\0' ? cfg->web_domain : cfg->domain);
    } else if ((strncmp(base, "https://", 8) == 0 || strncmp(base, "http://", 7) == 0)
               && strlen(base) < sizeof(cfg->base) && strcspn(base, " \t\r\n\"<>") == strlen(base)) {
        snprintf(cfg->base, sizeof(cfg->base), "%s", base);
    } else {
        snprintf(err, errlen, "base_url: \"%s\" is not an http:// or https:// URL", base);
        return -1;
    }
    size_t n = strlen(cfg->base);
    while (n > 0 && cfg->base[n - 1] == '/')
        cfg->base[--n] = '\0';
    return 0;
}

static int url_valid(const char *url)
{
    return (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0)
           && strcspn(url, " \t\r\n\"<>?#") == strlen(url);
}

/* S3: a bucket, keys and an http(s) endpoint (Mastodon's S3_* variables);
 * media_base_url: where the keys are public ("" = the storage's own
 * address: <base_url>/system, or the bucket's). */
static int config_media(worker_config *cfg, char *err, size_t errlen)
{
    const char *b = cfg->s3_bucket;

    if (cfg->media_base_url[0] != '\0'
        && (!url_valid(cfg->media_base_url) || strlen(cfg->media_base_url) >= 512)) {
        snprintf(err, errlen, "media_base_url: \"%s\" is not an http:// or https:// URL",
                 cfg->media_base_url);
        return -1;
    }
    if (!cfg->s3_enabled)
        return 0;
    if (b[0] == '\0' || strlen(b) > 63 || strspn(b, "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(b)) {
        snprintf(err, errlen, "s3_bucket: \"%s\" is not a bucket name", b);
        return -1;
    }
    if (cfg->s3_region[0] == '\0' || strlen(cfg->s3_region) > 64
        || strspn(cfg->s3_region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(cfg->s3_region)) {
        snprintf(err, errlen, "s3_region: \"%s\" is not a region", cfg->s3_region);
        return -1;
    }
    if (cfg->s3_endpoint[0] != '\0'
        && (!url_valid(cfg->s3_endpoint) || strlen(cfg->s3_endpoint) >= 512)) {
        snprintf(err, errlen, "s3_endpoint: \"%s\" is not an http:// or https:// URL",
                 cfg->s3_endpoint);
        return -1;
    }
    if (cfg->s3_access_key_id[0] == '\0' || cfg->s3_secret_access_key[0] == '\0') {
        snprintf(err, errlen, "s3_enabled needs s3_access_key_id and s3_secret_access_key");
        return -1;
    }
    return 0;
}

/* vapid_private_key and vapid_public_key: both or neither, one key pair. */
static int config_vapid(worker_config *cfg, char *err, size_t errlen)
{
    if (cfg->vapid_private_key[0] == '\0' && cfg->vapid_public_key[0] == '\0')
        return 0;
    EVP_PKEY *key = mstdn_webpush_vapid_load(cfg->vapid_private_key, cfg->vapid_public_key);
    if (key == NULL) {
        snprintf(err, errlen, "vapid_private_key and vapid_public_key: not the two halves of one"
                 " P-256 key pair in URL-safe base64 (`mastodon-worker vapid-keys` makes one)");
        return -1;
    }
    EVP_PKEY_free(key);
    return 0;
}

/* federation_allowed_addresses: "IP" or "IP/bits", comma or space separated. */
static int config_allowed(worker_config *cfg, char *err, size_t errlen)
{
    char *copy = strdup(cfg->federation_allowed_addresses);
    char *save = NULL;
    int rc = 0;

    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cfg->nallowed = 0;
    for (char *a = strtok_r(copy, ", ", &save); a != NULL; a = strtok_r(NULL, ", ", &save)) {
        char *slash = strchr(a, '/');
        int family = strchr(a, ':') != NULL ? AF_INET6 : AF_INET;
        int max = family == AF_INET6 ? 128 : 32, prefix = max;

        if (cfg->nallowed == MW_MAX_ALLOWED) {
            snprintf(err, errlen, "federation_allowed_addresses: at most %d entries", MW_MAX_ALLOWED);
            rc = -1;
            break;
        }
        if (slash != NULL) {
            char *end;
            *slash = '\0';
            errno = 0;
            long bits = strtol(slash + 1, &end, 10);
            if (errno != 0 || end == slash + 1 || *end != '\0' || bits < 0 || bits > max) {
                snprintf(err, errlen, "federation_allowed_addresses: bad prefix length in \"%s/%s\"",
                         a, slash + 1);
                rc = -1;
                break;
            }
            prefix = (int) bits;
        }
        if (inet_pton(family, a, cfg->allowed[cfg->nallowed].addr) != 1) {
            snprintf(err, errlen, "federation_allowed_addresses: \"%s\" is not an IP address", a);
            rc = -1;
            break;
        }
        cfg->allowed[cfg->nallowed].family = family;
        cfg->allowed[cfg->nallowed].prefix = prefix;
        cfg->nallowed++;
    }
    free(copy);
    return rc;
}

int config_load(worker_config *cfg, const char *file, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));

    for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
        if (config_set(cfg, &config_table[i], config_table[i].default_value, "default",
                       err, errlen) != 0)
            return -1;
    }

    if (file != NULL && config_read_file(cfg, file, err, errlen) != 0)
        return -1;

    for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
        char env[64], origin[80];
        size_t j;
        for (j = 0; config_table[i].name[j] != '\0' && j < 40; j++)
            env[j] = (char) toupper((unsigned char) config_table[i].name[j]);
        env[j] = '\0';
        snprintf(origin, sizeof(origin), "MASTODON_%s", env);

        const char *value = getenv(origin);
        if (value != NULL && config_set(cfg, &config_table[i], value, origin, err, errlen) != 0)
            return -1;
    }

    cfg->log_level = log_level_parse(cfg->log_level_name);
    if (cfg->log_level < 0) {
        snprintf(err, errlen, "log_level: unknown level \"%s\" (debug, info, notice, warn, error)",
                 cfg->log_level_name);
        return -1;
    }
    if (config_redis(cfg, err, errlen) != 0)
        return -1;
    if (config_mail(cfg, err, errlen) != 0)
        return -1;
    if (config_allowed(cfg, err, errlen) != 0)
        return -1;
    if (config_media(cfg, err, errlen) != 0)
        return -1;
    if (config_vapid(cfg, err, errlen) != 0)
        return -1;
    return config_split_queues(cfg, err, errlen);
}

void config_free(worker_config *cfg)
{
    mstdn_redis_url_free(&cfg->redis_url);
    for (size_t i = 0; i < CONFIG_ENTRIES; i++) {
        if (config_table[i].type == CFG_STRING) {
            char **s = (char **) ((char *) cfg + config_table[i].offset);
            free(*s);
            *s = NULL;
        }
    }
}
