#ifndef MW_UTIL_H
#define MW_UTIL_H

#include <stddef.h>

long long now_ms(void);             /* wall clock, ms since the epoch */
long long monotonic_ms(void);
void sleep_ms(long ms);

/* The n bytes of raw as 2*n lowercase hex digits and a NUL into out. */
void hex_encode(char *out, const unsigned char *raw, size_t n);

/* 2*nbytes lowercase hex digits from the OpenSSL CSPRNG into out
 * (size >= 2*nbytes+1).  Returns 0 or -1. */
int random_hex(char *out, size_t nbytes);

/* s as a JSON string, quotes included (lib's mstdn_json_quote: the one
 * escaper of JSON written by hand), malloc'd; NULL when out of memory. */
char *json_quoted(const char *s);

/* 1 if buf is one complete JSON document of at most max bytes. */
int json_valid(const char *buf, size_t len, size_t max, char *err, size_t errlen);

#endif
