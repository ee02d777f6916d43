/* libFuzzer: lib/mstdn_params (form bodies and query strings). */

#include <stddef.h>
#include <stdint.h>

#include "mstdn_params.h"
#include "fuzz_tree.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char                   err[128];
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    mstdn_value_t         *root;
    static mstdn_limits_t  limits = { 32, 1000 };

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    root = mstdn_value_new(&a, MSTDN_OBJECT);
    if (root
        && mstdn_params_parse_urlencoded((const char *) data, size, &a,
                                         &limits, root, err, sizeof(err))
           == MSTDN_OK)
    {
        mstdn_fuzz_tree(root, 1, &limits);
    }

    mstdn_arena_destroy(ar);

    return 0;
}
