/* Small helpers shared by the daemon and the CLI. */
#include "util.h"
#include "mstdn_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <stdlib.h>

#include <openssl/rand.h>
#include <yajl/yajl_parse.h>

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

void hex_encode(char *out, const unsigned char *raw, size_t n)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[raw[i] >> 4];
        out[2 * i + 1] = digits[raw[i] & 15];
    }
    out[2 * n] = '\0';
}

int random_hex(char *out, size_t nbytes)
{
    unsigned char raw[64];

    if (nbytes > sizeof(raw) || RAND_bytes(raw, (int) nbytes) != 1)
        return -1;
    hex_encode(out, raw, nbytes);
    return 0;
}

int json_valid(const char *buf, size_t len, size_t max, char *err, size_t errlen)
{
    if (len > max) {
        snprintf(err, errlen, "%zu bytes of JSON, more than the %zu allowed", len, max);
        return 0;
    }
    yajl_handle h = yajl_alloc(NULL, NULL, NULL);
    if (h == NULL) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    int ok = yajl_parse(h, (const unsigned char *) buf, len) == yajl_status_ok
             && yajl_complete_parse(h) == yajl_status_ok;
    if (!ok) {
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *) buf, len);
        snprintf(err, errlen, "invalid JSON: %s", msg ? (char *) msg : "parse error");
        if (msg)
            yajl_free_error(h, msg);
    }
    yajl_free(h);
    return ok;
}

char *json_quoted(const char *s)
{
    size_t len = strlen(s);
    char *out = malloc(MSTDN_JSON_QUOTE_MAX(len) + 1);

    if (out != NULL)
        out[mstdn_json_quote(out, s, len)] = '\0';
    return out;
}
