/* Unit tests of lib/mstdn_multipart: multipart/form-data bodies. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_multipart.h"


static const mstdn_limits_t  limits = { 32, 100 };

static mstdn_arena_t  *ar;
static mstdn_value_t  *root;


static int
parse(const char *body, size_t len)
{
    char            err[128];
    mstdn_alloc_t   a;

    if (ar) {
        mstdn_arena_destroy(ar);
    }

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    root = mstdn_value_new(&a, MSTDN_OBJECT);

    err[0] = '\0';
    return mstdn_multipart_parse(body, len, "b0undary", 8, &a, &limits, root,
                                 err, sizeof(err));
}

#define PARSE(s)  parse(s, sizeof(s) - 1)

#define FIELD(name, value)                                                    \
    "--b0undary\r\nContent-Disposition: form-data; name=\"" name "\"\r\n\r\n" \
    value "\r\n"


static int
teardown(void **state)
{
    if (ar) {
        mstdn_arena_destroy(ar);
        ar = NULL;
    }
    return 0;
}


static void
B(const char *ct, const char *expected)
{
    const char  *b;
    size_t       n;

    print_message("# [%s]\n", ct);

    if (expected == NULL) {
        assert_int_equal(mstdn_multipart_boundary(ct, strlen(ct), &b, &n), -1);
        return;
    }

    assert_int_equal(mstdn_multipart_boundary(ct, strlen(ct), &b, &n), 0);
    assert_int_equal(n, strlen(expected));
    assert_memory_equal(b, expected, n);
}


static void
boundary(void **state)
{
    const char  *b;
    size_t       n;
    char         ct[128];

    B("multipart/form-data; boundary=abc", "abc");
    B("multipart/form-data; BOUNDARY=abc; charset=utf-8", "abc");
    B("multipart/form-data;boundary=\"a b;c\"", "a b;c");
    B("multipart/form-data; charset=x; boundary=--z", "--z");
    B("multipart/form-data", NULL);
    B("multipart/form-data; boundary=", NULL);
    B("multipart/form-data; boundary=\"\"", NULL);
    B("multipart/form-data; boundary=\"abc", NULL);
    B("multipart/form-data; xboundary=abc", NULL);

    /* RFC 2046: 70 characters at most */
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%070d", 7);
    assert_int_equal(mstdn_multipart_boundary(ct, strlen(ct), &b, &n), 0);
    assert_int_equal(n, 70);
    snprintf(ct, sizeof(ct), "multipart/form-data; boundary=%071d", 7);
    assert_int_equal(mstdn_multipart_boundary(ct, strlen(ct), &b, &n), -1);
}


static void
fields(void **state)
{
    mstdn_value_t  *v;

    /* a preamble and an epilogue are ignored; LWSP after a delimiter too */
    assert_int_equal(PARSE("preamble\r\n"
                           FIELD("a", "1")
                           "--b0undary  \r\n"
                           "Content-Disposition: form-data; name=b\r\n\r\n"
                           "two\r\n--b0undar\r\n"
                           FIELD("c[]", "x")
                           FIELD("c[]", "y")
                           "--b0undary--\r\nepilogue"), MSTDN_OK);
    assert_string_equal(mstdn_param_str(root, "a", NULL), "1");
    /* what looks like a boundary but is not one stays in the value */
    assert_string_equal(mstdn_param_str(root, "b", NULL), "two\r\n--b0undar");
    v = mstdn_object_get(root, "c");
    assert_non_null(v);
    assert_int_equal(v->type, MSTDN_ARRAY);
    assert_int_equal(v->count, 2);
    assert_string_equal(v->last->str, "y");

    /* an empty value, a value with CRLFs in it */
    assert_int_equal(PARSE(FIELD("e", "") FIELD("m", "a\r\n\r\nb")
                           "--b0undary--"), MSTDN_OK);
    assert_string_equal(mstdn_param_str(root, "e", NULL), "");
    assert_string_equal(mstdn_param_str(root, "m", NULL), "a\r\n\r\nb");

    /* no parts at all */
    assert_int_equal(PARSE("--b0undary--\r\n"), MSTDN_OK);
    assert_null(root->first);
}


static void
files(void **state)
{
    mstdn_value_t  *v;

    assert_int_equal(PARSE("--b0undary\r\n"
                           "content-disposition: form-data; name=\"file\";"
                           " filename=\"a b.png\"\r\n\r\n"
                           "\x00\xff\r\n--b0undary--"), MSTDN_OK);
    v = mstdn_object_get(root, "file");
    assert_non_null(v);
    assert_int_equal(v->type, MSTDN_FILE);
    assert_int_equal(v->len, 2);
    assert_memory_equal(v->str, "\x00\xff", 2);
    assert_string_equal(v->filename, "a b.png");
    assert_string_equal(v->content_type, "");       /* none declared */
}


static void
refused(void **state)
{
    char    *big;
    size_t   i, n;

    /* no boundary, or no closing one */
    assert_int_equal(PARSE("just text"), MSTDN_ESYNTAX);
    assert_int_equal(PARSE(FIELD("a", "1")), MSTDN_ESYNTAX);
    assert_int_equal(PARSE("--b0undary\r\nContent-Disposition: form-data; "
                           "name=a\r\n\r\n1"), MSTDN_ESYNTAX);
    /* a delimiter followed by something else than CRLF or "--" */
    assert_int_equal(PARSE("--b0undaryX\r\n" FIELD("a", "1") "--b0undary--"),
                     MSTDN_ESYNTAX);
    /* a part without a name, without headers, headers never ending */
    assert_int_equal(PARSE("--b0undary\r\nContent-Type: text/plain\r\n\r\n"
                           "1\r\n--b0undary--"), MSTDN_ESYNTAX);
    assert_int_equal(PARSE("--b0undary\r\n\r\n1\r\n--b0undary--"),
                     MSTDN_ESYNTAX);
    assert_int_equal(PARSE("--b0undary\r\nContent-Disposition: form-data; "
                           "name=\"a\r\n\r\n1\r\n--b0undary--"),
                     MSTDN_ESYNTAX);
    /* text fields: NUL, invalid UTF-8, one name as two types */
    assert_int_equal(PARSE(FIELD("a", "x\0y") "--b0undary--"), MSTDN_ENUL);
    assert_int_equal(PARSE(FIELD("a", "\xc0\xaf") "--b0undary--"),
                     MSTDN_EUTF8);
    assert_int_equal(PARSE(FIELD("a[]", "1") FIELD("a[b]", "2")
                           "--b0undary--"), MSTDN_ETYPE);

    /* a header block over 8 KB */
    big = malloc(20000);
    assert_non_null(big);
    n = sprintf(big, "--b0undary\r\nContent-Disposition: form-data; name=a"
                     "\r\nX-Pad: ");
    memset(big + n, 'p', 9000);
    n += 9000;
    n += sprintf(big + n, "\r\n\r\n1\r\n--b0undary--");
    assert_int_equal(parse(big, n), MSTDN_ESYNTAX);

    /* more parts than limits->max_members */
    n = 0;
    for (i = 0; i < 101; i++) {
        n += sprintf(big + n, FIELD("a[]", "1"));
    }
    n += sprintf(big + n, "--b0undary--");
    assert_int_equal(parse(big, n), MSTDN_ETOOMANY);
    free(big);

    /* a bad boundary given */
    assert_int_equal(mstdn_multipart_parse("--\r\n", 4, "", 0, NULL, &limits,
                                           NULL, (char[64]) { 0 }, 64),
                     MSTDN_ESYNTAX);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundary),
        cmocka_unit_test_teardown(fields, teardown),
        cmocka_unit_test_teardown(files, teardown),
        cmocka_unit_test_teardown(refused, teardown),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("multipart", tests, NULL, NULL);
}
