/* E-mail over SMTP with libcurl: the message (headers + plain text body,
 * CRLF line ends, dot-stuffing done by libcurl) is built in memory and
 * uploaded to smtp_url, with STARTTLS as smtp_starttls says and optional
 * authentication, as a transfer on the thread's event loop (http.c). */
#include "mail.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define MAIL_MAX (256 * 1024)

typedef struct {
    const char *data;
    size_t      len;
    size_t      off;
} mail_reader;

static size_t mail_read(char *buf, size_t size, size_t nmemb, void *userdata)
{
    mail_reader *m = userdata;
    size_t n = size * nmemb, left = m->len - m->off;
    if (n > left)
        n = left;
    memcpy(buf, m->data + m->off, n);
    m->off += n;
    return n;
}

int mail_address_safe(const char *addr)
{
    const char *at = NULL;
    size_t n = strlen(addr);

    if (n < 3 || n > 320)
        return 0;
    for (const char *p = addr; *p != '\0'; p++) {
        unsigned char c = (unsigned char) *p;
        if (c <= 0x20 || c == 0x7f || strchr("<>\"(),;:\\[]", c) != NULL)
            return 0;
        if (c == '@') {
            if (at != NULL)
                return 0;
            at = p;
        }
    }
    return at != NULL && at != addr && at[1] != '\0';
}

/* The text with LF line ends turned into CRLF; NULL if it does not fit. */
static size_t append_crlf(char *out, size_t off, size_t cap, const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (off + 2 >= cap)
            return 0;
        if (*p == '\n' && (p == text || p[-1] != '\r'))
            out[off++] = '\r';
        out[off++] = *p;
    }
    return off;
}

typedef struct {
    int   done;
    int   ok;
    char *err;
    size_t errlen;
    const char *url;
} mail_wait;

static void mail_done(const http_response *res, void *data)
{
    mail_wait *w = data;
    w->done = 1;
    w->ok = res->code == CURLE_OK;
    if (!w->ok)
        snprintf(w->err, w->errlen, "SMTP %s: %s", w->url, res->error);
}

int mail_send(const worker_config *cfg, http_client *http, const char *to, const char *subject,
              const char *text, char *err, size_t errlen)
{
    if (http == NULL) {
        snprintf(err, errlen, "no event loop for the SMTP transfer");
        return -1;
    }
    if (!mail_address_safe(to) || !mail_address_safe(cfg->from_address)) {
        snprintf(err, errlen, "unusable e-mail address");
        return -1;
    }
    if (strpbrk(subject, "\r\n") != NULL) {
        snprintf(err, errlen, "a line break in the subject");
        return -1;
    }

    char date[64], mid[33], host[256];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    if (random_hex(mid, 16) != 0) {
        snprintf(err, errlen, "no random bytes for a Message-ID");
        return -1;
    }
    const char *at = strchr(cfg->from_address, '@');
    snprintf(host, sizeof(host), "%s", at + 1);

    char *msg = malloc(MAIL_MAX);
    if (msg == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = snprintf(msg, MAIL_MAX,
        "Date: %s\r\n"
        "From: %s\r\n"
        "To: %s\r\n"
        "Subject: %s\r\n"
        "Message-ID: <%s@%s>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=UTF-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "Auto-Submitted: auto-generated\r\n"
        "\r\n", date, cfg->from_address, to, subject, mid, host);
    size_t len = n > 0 && n < MAIL_MAX ? append_crlf(msg, (size_t) n, MAIL_MAX, text) : 0;
    if (len == 0) {
        free(msg);
        snprintf(err, errlen, "message too large");
        return -1;
    }

    CURL *curl = curl_easy_init();
    if (curl == NULL) {
        free(msg);
        snprintf(err, errlen, "curl_easy_init failed");
        return -1;
    }

    char from[340], rcpt[340];
    snprintf(from, sizeof(from), "<%s>", cfg->from_address);
    snprintf(rcpt, sizeof(rcpt), "<%s>", to);
    struct curl_slist *rcpts = curl_slist_append(NULL, rcpt);
    mail_reader reader = { msg, len, 0 };

    curl_easy_setopt(curl, CURLOPT_URL, cfg->smtp_url);
    /* QUIT and close after each mail, as before the loop: an idle SMTP
     * connection kept per thread would hold a server slot for nothing */
    curl_easy_setopt(curl, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, mail_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt(curl, CURLOPT_USE_SSL,
                     cfg->starttls == WORKER_STARTTLS_ALWAYS ? (long) CURLUSESSL_ALL
                     : cfg->starttls == WORKER_STARTTLS_NEVER ? (long) CURLUSESSL_NONE
                     : (long) CURLUSESSL_TRY);
    if (cfg->smtp_user[0] != '\0') {
        curl_easy_setopt(curl, CURLOPT_USERNAME, cfg->smtp_user);
        curl_easy_setopt(curl, CURLOPT_PASSWORD, cfg->smtp_password);
    }

    /* the client owns curl from here on, even when the start fails */
    mail_wait w = { 0, 0, err, errlen, cfg->smtp_url };
    if (rcpts == NULL) {
        curl_easy_cleanup(curl);
        snprintf(err, errlen, "out of memory");
    } else if (http_transfer_start(http, curl, mail_done, &w, err, errlen) == 0) {
        http_wait(http, &w.done);
        if (!w.done)
            snprintf(err, errlen, "SMTP %s: the event loop failed", cfg->smtp_url);
    }

    curl_slist_free_all(rcpts);
    free(msg);
    return w.done && w.ok ? 0 : -1;
}
