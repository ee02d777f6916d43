/*
 * libFuzzer: lib/mstdn_search_query (Mastodon's search syntax) on any
 * bytes: bounded, every clause a non-empty slice of the query, and a date
 * that parses formats back to itself.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_search_query.h"
#include "mstdn_value.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                    rc;
    long                   days;
    char                   out[11];
    size_t                 i;
    const char            *q;
    mstdn_search_query_t   sq;

    q = (const char *) data;
    rc = mstdn_search_query_parse(q, size, &sq);

    if (rc != MSTDN_OK && rc != MSTDN_ETOOBIG && rc != MSTDN_ETOOMANY) {
        abort();
    }

    if (sq.n > MSTDN_SEARCH_QUERY_CLAUSES) {
        abort();
    }

    for (i = 0; i < sq.n; i++) {
        if (sq.clauses[i].len == 0 || sq.clauses[i].text < q
            || sq.clauses[i].text + sq.clauses[i].len > q + size)
        {
            abort();
        }

        if (mstdn_search_date(sq.clauses[i].text, sq.clauses[i].len, &days)
            == 0)
        {
            mstdn_search_date_format(days, out);
            if (memcmp(out, sq.clauses[i].text, 10) != 0) {
                abort();
            }
        }
    }

    return 0;
}
