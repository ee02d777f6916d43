/* libFuzzer: lib/mstdn_json (JSON bodies). */

#include <stddef.h>
#include <stdint.h>

#include "mstdn_json.h"
#include "fuzz_tree.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   err[128];
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    mstdn_value_t         *v;
    static mstdn_limits_t  limits = { 32, 10000 };

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    if (mstdn_json_parse((const char *) data, size, &a, &limits, &v, err,
                         sizeof(err)) == MSTDN_OK)
    {
        mstdn_fuzz_tree(v, 1, &limits);
    }

    mstdn_arena_destroy(ar);

    return 0;
}
