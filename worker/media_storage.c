/* Media storage (media_storage.h): the file system under media_root, or an
 * S3-compatible bucket through libcurl, which signs each request itself
 * (CURLOPT_AWS_SIGV4): no signer of our own. */
#include "media_storage.h"
#include "log.h"
#include "media.h"
#include "mstdn_media.h"

#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>

/* Mastodon's s3_headers: the files never change under their names */
#define MEDIA_CACHE_CONTROL "public, max-age=315576000, immutable"

static int key_part_valid(const char *s)
{
    size_t n = strlen(s);

    return n > 0 && n <= 64 && s[0] != '.'
           && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._") == n;
}

int media_key(char *out, size_t outlen, int remote, const char *class_name,
              const char *attachment, const char *id, const char *style, const char *name)
{
    char *end;

    errno = 0;
    long long n = strtoll(id, &end, 10);
    if (errno != 0 || end == id || *end != '\0' || n <= 0 || !key_part_valid(class_name)
        || !key_part_valid(attachment) || !key_part_valid(style) || !key_part_valid(name))
        return -1;
    return mstdn_media_key(out, outlen, remote, class_name, attachment, n, style, name,
                           strlen(name), NULL) > 0 ? 0 : -1;
}

static int profile_key(char *out, size_t outlen, int remote, const char *id,
                       const char *attribute, const char *style, const char *name)
{
    char attachment[16], stored[96];
    const char *ext, *dot;

    style = mstdn_media_profile_style(style, name, &ext);
    snprintf(attachment, sizeof(attachment), "%ss", attribute);
    if (ext != NULL && (dot = strchr(name, '.')) != NULL)
        snprintf(stored, sizeof(stored), "%.*s.%s", (int) (dot - name), name, ext);
    else
        snprintf(stored, sizeof(stored), "%s", name);
    return media_key(out, outlen, remote, "accounts", attachment, id, style, stored);
}

int media_profile_key(char *out, size_t outlen, const char *id, const char *attribute,
                      const char *style, const char *name)
{
    return profile_key(out, outlen, 0, id, attribute, style, name);
}

int media_cached_profile_key(char *out, size_t outlen, const char *id, const char *attribute,
                             const char *style, const char *name)
{
    return profile_key(out, outlen, 1, id, attribute, style, name);
}

/* --- the file system ------------------------------------------------------------ */

static int copy_file(const char *from, const char *to, char *err, size_t errlen)
{
    char tmp[4096], buf[65536];
    int in = -1, out = -1, rc = -1;
    ssize_t n;

    snprintf(tmp, sizeof(tmp), "%s.part", to);
    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in != -1)
        out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (in == -1 || out == -1) {
        snprintf(err, errlen, "%s: %s", in == -1 ? from : tmp, strerror(errno));
        goto done;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t) (n - off));
            if (w < 0) {
                snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
                goto done;
            }
            off += w;
        }
    }
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", from, strerror(errno));
        goto done;
    }
    if (close(out) != 0 || rename(tmp, to) != 0) {
        out = -1;
        snprintf(err, errlen, "%s: %s", to, strerror(errno));
        goto done;
    }
    out = -1;
    rc = 0;
done:
    if (in != -1)
        close(in);
    if (out != -1)
        close(out);
    if (rc != 0)
        unlink(tmp);
    return rc;
}

static int fs_put(const worker_config *cfg, const char *key, const char *local, char *err,
                  size_t errlen)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", cfg->media_root, key);
    if (media_mkdirs(path) != 0) {
        snprintf(err, errlen, "mkdir for %s: %s", path, strerror(errno));
        return -1;
    }
    if (rename(local, path) == 0)
        return 0;
    if (errno != EXDEV) {
        snprintf(err, errlen, "rename %s to %s: %s", local, path, strerror(errno));
        return -1;
    }
    /* another file system: a copy through a temporary name */
    if (copy_file(local, path, err, errlen) != 0)
        return -1;
    unlink(local);
    return 0;
}

static int fs_delete(const worker_config *cfg, const char *key, char *err, size_t errlen)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/%s", cfg->media_root, key);
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* --- S3 ---------------------------------------------------------------------------- */

/* The bucket's address: <endpoint>/<bucket> (path style), or
 * <scheme>://<bucket>.<host> (virtual-hosted; AWS's default). */
static void s3_bucket_url(const worker_config *cfg, char *out, size_t outlen)
{
    const char *e = cfg->s3_endpoint;

    if (e[0] == '\0') {
        snprintf(out, outlen, "https://%s.s3.%s.amazonaws.com", cfg->s3_bucket, cfg->s3_region);
        return;
    }
    size_t n = strlen(e);
    while (n > 0 && e[n - 1] == '/')
        n--;
    if (cfg->s3_path_style) {
        snprintf(out, outlen, "%.*s/%s", (int) n, e, cfg->s3_bucket);
    } else {
        const char *host = strstr(e, "://") + 3;
        snprintf(out, outlen, "%.*s%s.%.*s", (int) (host - e), e, cfg->s3_bucket,
                 (int) (n - (size_t) (host - e)), host);
    }
}

typedef struct {
    char   text[512];
    size_t len;
} s3_body;

/* the start of an error answer, for the log */
static size_t s3_keep_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    s3_body *b = userdata;
    size_t n = size * nmemb, room = sizeof(b->text) - 1 - b->len;

    memcpy(b->text + b->len, data, n < room ? n : room);
    b->len += n < room ? n : room;
    b->text[b->len] = '\0';
    return n;
}

/* hex SHA-256 of the file: the signed payload hash (x-amz-content-sha256) */
static int sha256_file(FILE *f, char hex[65])
{
    unsigned char buf[65536], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t n;
    int ok;

    EVP_MD_CTX *c = EVP_MD_CTX_new();
    ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        ok = EVP_DigestUpdate(c, buf, n) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(c);
    for (unsigned int i = 0; ok && i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    rewind(f);
    return ok ? 0 : -1;
}

/* A handle for one signed request to url (libcurl signs it: SigV4) with
 * the payload's hash (NULL: empty), its headers in *headers (the caller's
 * to free, with curl_slist_free_all, after the request). */
static CURL *s3_handle(const worker_config *cfg, const char *url, const char *payload_hash,
                       struct curl_slist **headers, char *err, size_t errlen)
{
    char sigv4[128], h[160];

    CURL *c = curl_easy_init();
    if (c == NULL) {
        snprintf(err, errlen, "curl_easy_init failed");
        return NULL;
    }
    snprintf(sigv4, sizeof(sigv4), "aws:amz:%s:s3", cfg->s3_region);
    snprintf(h, sizeof(h), "x-amz-content-sha256: %s",
             payload_hash != NULL
                 ? payload_hash
                 : "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    *headers = curl_slist_append(*headers, h);
    *headers = curl_slist_append(*headers, "Expect:");

    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, cfg->s3_timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, cfg->fetch_connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, cfg->s3_access_key_id);
    curl_easy_setopt(c, CURLOPT_PASSWORD, cfg->s3_secret_access_key);
    if (cfg->ca_file[0] != '\0')
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
    return c;
}

/* One signed request: PUT of the file (upload != NULL) or DELETE.
 * Returns the HTTP status, or -1 (err) when there was no answer. */
static long s3_request(const worker_config *cfg, const char *key, FILE *upload, long long size,
                       const char *content_type, const char *payload_hash, char *err,
                       size_t errlen)
{
    char url[1200], h[4][160];
    struct curl_slist *headers = NULL;
    s3_body body = { .len = 0 };
    long status = -1;

    s3_bucket_url(cfg, url, sizeof(url));
    size_t n = strlen(url);
    snprintf(url + n, sizeof(url) - n, "/%s", key);
    CURL *c = s3_handle(cfg, url, payload_hash, &headers, err, errlen);
    if (c == NULL)
        return -1;
    if (upload != NULL) {
        snprintf(h[1], sizeof(h[1]), "Content-Type: %s", content_type);
        headers = curl_slist_append(headers, h[1]);
        headers = curl_slist_append(headers, "Cache-Control: " MEDIA_CACHE_CONTROL);
        if (cfg->s3_permission[0] != '\0') {
            snprintf(h[2], sizeof(h[2]), "x-amz-acl: %s", cfg->s3_permission);
            headers = curl_slist_append(headers, h[2]);
        }
    }

    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (upload != NULL) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, upload);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) size);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }

    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", upload ? "PUT" : "DELETE", url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (status < 200 || status > 299)
            snprintf(err, errlen, "%s %s: HTTP %ld %.300s", upload ? "PUT" : "DELETE", url,
                     status, body.text);
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(c);
    return status;
}

static int s3_put(const worker_config *cfg, const char *key, const char *local,
                  const char *content_type, char *err, size_t errlen)
{
    struct stat st;
    char hash[65];

    FILE *f = fopen(local, "rb");
    if (f == NULL || fstat(fileno(f), &st) != 0 || sha256_file(f, hash) != 0) {
        snprintf(err, errlen, "%s: %s", local, strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    long status = s3_request(cfg, key, f, (long long) st.st_size, content_type, hash, err, errlen);
    fclose(f);
    if (status < 200 || status > 299)
        return -1;
    unlink(local);
    return 0;
}

static int s3_delete(const worker_config *cfg, const char *key, char *err, size_t errlen)
{
    long status = s3_request(cfg, key, NULL, 0, NULL, NULL, err, errlen);

    /* S3 answers 204 whether it was there or not; others may say 404 */
    return (status >= 200 && status <= 299) || status == 404 ? 0 : -1;
}

/* --- listing ----------------------------------------------------------------------- */

#define S3_LIST_PAGE_MAX  (8 * 1024 * 1024)   /* a page of 1000 keys is ~300 KB */

typedef struct {
    char  *data;
    size_t len, cap;
} s3_page;

static size_t s3_keep_page(char *data, size_t size, size_t nmemb, void *userdata)
{
    s3_page *p = userdata;
    size_t n = size * nmemb;

    if (p->len + n + 1 > S3_LIST_PAGE_MAX)
        return 0;                                   /* curl fails the request */
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->len + n + 1)
            cap *= 2;
        char *d = realloc(p->data, cap);
        if (d == NULL)
            return 0;
        p->data = d;
        p->cap = cap;
    }
    memcpy(p->data + p->len, data, n);
    p->len += n;
    p->data[p->len] = '\0';
    return n;
}

/* the text of the first <tag> in [from, end), or NULL; *next after it */
static const char *xml_text(const char *from, const char *end, const char *tag, size_t *len,
                            const char **next)
{
    char open[48], close[48];

    snprintf(open, sizeof(open), "<%s>", tag);
    snprintf(close, sizeof(close), "</%s>", tag);
    const char *a = strstr(from, open);
    if (a == NULL || a >= end)
        return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (b == NULL || b > end)
        return NULL;
    *len = (size_t) (b - a);
    if (next != NULL)
        *next = b + strlen(close);
    return a;
}

/* S3's 2006-02-27T12:00:00.000Z */
static time_t s3_time(const char *s, size_t len)
{
    struct tm tm = { 0 };
    char buf[32];

    snprintf(buf, sizeof(buf), "%.*s", (int) (len < 31 ? len : 31), s);
    if (strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm) == NULL)
        return 0;
    return timegm(&tm);
}

/* ListObjectsV2, 1000 keys a page, each page bounded (S3_LIST_PAGE_MAX) */
static int s3_list(const worker_config *cfg, media_storage_each_fn fn, void *data, char *err,
                   size_t errlen)
{
    char url[2400], key[MEDIA_KEY_MAX], token[1024] = "";
    s3_page page = { NULL, 0, 0 };
    int rc = 0, truncated = 1;

    while (rc == 0 && truncated) {
        struct curl_slist *headers = NULL;
        long status = -1;

        s3_bucket_url(cfg, url, sizeof(url));
        size_t n = strlen(url);
        snprintf(url + n, sizeof(url) - n, "?list-type=2&max-keys=1000");
        if (token[0] != '\0') {
            char *esc = curl_easy_escape(NULL, token, 0);
            n = strlen(url);
            snprintf(url + n, sizeof(url) - n, "&continuation-token=%s", esc ? esc : "");
            curl_free(esc);
        }
        CURL *c = s3_handle(cfg, url, NULL, &headers, err, errlen);
        if (c == NULL) {
            rc = -1;
            break;
        }
        page.len = 0;
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s3_keep_page);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &page);
        CURLcode cc = curl_easy_perform(c);
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(c);
        if (cc != CURLE_OK || status != 200 || page.len == 0) {
            snprintf(err, errlen, "GET %s: %s", url,
                     cc != CURLE_OK ? curl_easy_strerror(cc) : "not a listing");
            rc = -1;
            break;
        }

        const char *end = page.data + page.len, *p = page.data, *v;
        size_t len;
        while (rc == 0 && (v = xml_text(p, end, "Contents", &len, &p)) != NULL) {
            const char *ce = v + len, *k, *sz, *lm;
            size_t klen, szlen, lmlen;
            k = xml_text(v, ce, "Key", &klen, NULL);
            sz = xml_text(v, ce, "Size", &szlen, NULL);
            lm = xml_text(v, ce, "LastModified", &lmlen, NULL);
            if (k == NULL || klen >= sizeof(key))
                continue;                           /* none of ours */
            memcpy(key, k, klen);
            key[klen] = '\0';
            rc = fn(key, sz ? strtoll(sz, NULL, 10) : 0, lm ? s3_time(lm, lmlen) : 0, data);
        }
        v = xml_text(page.data, end, "IsTruncated", &len, NULL);
        truncated = v != NULL && len == 4 && memcmp(v, "true", 4) == 0;
        if (rc == 0 && truncated) {
            v = xml_text(page.data, end, "NextContinuationToken", &len, NULL);
            if (v == NULL || len == 0 || len >= sizeof(token)) {
                snprintf(err, errlen, "GET %s: truncated without a continuation token", url);
                rc = -1;
                break;
            }
            memcpy(token, v, len);
            token[len] = '\0';
        }
    }
    free(page.data);
    return rc;
}

static int fs_list(const worker_config *cfg, media_storage_each_fn fn, void *data, char *err,
                   size_t errlen)
{
    char *roots[2] = { (char *) cfg->media_root, NULL };
    size_t rootlen = strlen(cfg->media_root);
    int rc = 0;

    FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
    if (fts == NULL) {
        snprintf(err, errlen, "%s: %s", cfg->media_root, strerror(errno));
        return -1;
    }
    FTSENT *e;
    while (rc == 0 && (e = fts_read(fts)) != NULL) {
        if (e->fts_info == FTS_DNR || e->fts_info == FTS_ERR || e->fts_info == FTS_NS) {
            if (e->fts_level == 0 && e->fts_errno == ENOENT)
                break;                              /* nothing stored yet */
            snprintf(err, errlen, "%s: %s", e->fts_path, strerror(e->fts_errno));
            rc = -1;
        } else if (e->fts_info == FTS_F && strlen(e->fts_path) > rootlen + 1) {
            rc = fn(e->fts_path + rootlen + 1, (long long) e->fts_statp->st_size,
                    e->fts_statp->st_mtime, data);
        }
    }
    fts_close(fts);
    return rc;
}

/* --- the interface ---------------------------------------------------------------- */

int media_storage_list(const worker_config *cfg, media_storage_each_fn fn, void *data, char *err,
                       size_t errlen)
{
    if (cfg->s3_enabled)
        return s3_list(cfg, fn, data, err, errlen);
    return fs_list(cfg, fn, data, err, errlen);
}

int media_storage_put(const worker_config *cfg, const char *key, const char *local_path,
                      const char *content_type, char *err, size_t errlen)
{
    if (cfg->s3_enabled)
        return s3_put(cfg, key, local_path, content_type, err, errlen);
    return fs_put(cfg, key, local_path, err, errlen);
}

int media_storage_delete(const worker_config *cfg, const char *key, char *err, size_t errlen)
{
    if (cfg->s3_enabled)
        return s3_delete(cfg, key, err, errlen);
    return fs_delete(cfg, key, err, errlen);
}

void media_storage_base(const worker_config *cfg, char *out, size_t outlen)
{
    size_t n;

    if (cfg->media_base_url[0] != '\0') {
        snprintf(out, outlen, "%s", cfg->media_base_url);
    } else if (cfg->s3_enabled) {
        s3_bucket_url(cfg, out, outlen);
    } else {
        snprintf(out, outlen, "%s/system", cfg->base);
    }
    n = strlen(out);
    while (n > 0 && out[n - 1] == '/')
        out[--n] = '\0';
}

void media_storage_url(const worker_config *cfg, const char *key, char *out, size_t outlen)
{
    char base[1024];

    media_storage_base(cfg, base, sizeof(base));
    snprintf(out, outlen, "%s/%s", base, key);
}

int media_file_name_valid(const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;

    return n > 17 && n <= 22 && strspn(name, "0123456789abcdef") == 16 && name[16] == '.'
           && strspn(name + 17, "abcdefghijklmnopqrstuvwxyz0123456789") == n - 17;
}

int media_profile_delete(const worker_config *cfg, int cached, const char *id,
                         const char *attribute, const char *name, char *err, size_t errlen)
{
    int (*key_of)(char *, size_t, const char *, const char *, const char *, const char *) =
        cached ? media_cached_profile_key : media_profile_key;
    char key[MEDIA_KEY_MAX];

    if (key_of(key, sizeof(key), id, attribute, "original", name) != 0) {
        snprintf(err, errlen, "account %s: %s is not a file name of ours", id, name);
        return -1;
    }
    if (media_storage_delete(cfg, key, err, errlen) != 0)
        return -1;
    if (!mstdn_media_profile_animated(name))
        return 0;
    if (key_of(key, sizeof(key), id, attribute, "static", name) != 0) {
        snprintf(err, errlen, "account %s: %s is not a file name of ours", id, name);
        return -1;
    }
    return media_storage_delete(cfg, key, err, errlen);
}
