/*
 * libFuzzer: lib/mstdn_ap's Accept negotiation (an outside header) never
 * reads past its input and answers one of its three values; and a Note
 * whose strings come from the input is written (strict UTF-8 in) as JSON
 * that the project's own parser reads back, or refused as a whole (-1)
 * when yajl finds invalid UTF-8.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>

#include "mstdn_ap.h"
#include "mstdn_json.h"
#include "mstdn_utf8.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   rc, valid;
    char                 *copy, *parts[4], err[64];
    size_t                len, i, k, start;
    yajl_gen              g;
    mstdn_arena_t        *ar;
    mstdn_alloc_t         a;
    mstdn_value_t        *v;
    mstdn_limits_t        limits = { 64, 100000 };
    mstdn_ap_tag_t        tag;
    mstdn_ap_status_t     s;
    const unsigned char  *buf;

    /* an exact-size copy: ASan sees any read past the header */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);

    rc = mstdn_ap_accept(copy, size);
    if (rc != MSTDN_AP_WANTS_HTML && rc != MSTDN_AP_WANTS_JSON
        && rc != MSTDN_AP_WANTS_NONE)
    {
        abort();
    }

    free(copy);

    /* four NUL-terminated strings from the input, split at 0x01 */
    copy = malloc(size + 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    copy[size] = '\0';

    for (i = 0, k = 0, start = 0; i <= size && k < 4; i++) {
        if (i == size || copy[i] == '\x01' || copy[i] == '\0') {
            copy[i] = '\0';
            parts[k++] = copy + start;
            start = i + 1;
        }
    }
    while (k < 4) {
        parts[k++] = "";
    }

    memset(&s, 0, sizeof(s));
    memset(&tag, 0, sizeof(tag));
    s.base = "https://example.com";
    s.username = "alice";
    s.id = "1";
    s.published = "2024-05-01T00:00:00Z";
    s.content = parts[0];
    s.summary = parts[1];
    s.language = parts[2];
    s.visibility = (size > 0) ? data[0] % 5 : 0;
    tag.kind = MSTDN_AP_TAG_MENTION;
    tag.name = parts[3];
    tag.username = parts[3];
    s.tags = &tag;
    s.ntags = 1;

    valid = 1;
    for (k = 0; k < 4; k++) {
        if (mstdn_utf8_check((unsigned char *) parts[k], strlen(parts[k]), 0)
            != MSTDN_UTF8_VALID)
        {
            valid = 0;
        }
    }

    g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);

    rc = mstdn_ap_note(g, &s);

    if (valid && rc != 0 && strlen(parts[3]) < 400) {
        abort();
    }

    /* (yajl's own check lets overlong forms through: strings from
     * PostgreSQL are strict UTF-8, so only those are read back) */
    if (rc == 0 && valid) {
        yajl_gen_get_buf(g, &buf, &len);
        ar = mstdn_arena_create();
        mstdn_arena_allocator(ar, &a);
        if (mstdn_json_parse((const char *) buf, len, &a, &limits, &v, err,
                             sizeof(err))
            != MSTDN_OK)
        {
            abort();
        }
        mstdn_arena_destroy(ar);
    }

    yajl_gen_free(g);
    free(copy);

    return 0;
}
