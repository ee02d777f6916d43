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


/* The parts of a parser, written out to compare two parses. */
static size_t
dump(const mstdn_multipart_t *mp, char *out, size_t size)
{
    size_t                         n;
    const mstdn_multipart_part_t  *p;

    n = 0;

    for (p = mstdn_multipart_parts(mp); p && n < size; p = p->next) {
        if (p->filename) {
            n += snprintf(out + n, size - n, "[%s|%s|%s|%llu+%llu]", p->name,
                          p->filename, p->content_type,
                          (unsigned long long) p->offset,
                          (unsigned long long) p->size);
        } else {
            n += snprintf(out + n, size - n, "[%s=", p->name);
            if (n + p->len + 1 < size) {
                memcpy(out + n, p->value, p->len);
                n += p->len;
                out[n++] = ']';
            }
        }
    }

    return n < size ? n : size;
}


/* A body fed in the pieces cut at cuts[0..ncuts): rc, and its parts. */
static int
stream(const char *body, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_text, char *out, size_t size, size_t *n)
{
    int                 rc;
    char                err[128];
    size_t              i, from, to;
    mstdn_multipart_t  *mp;

    mp = mstdn_multipart_create("b0undary", 8, 100, max_text);
    assert_non_null(mp);

    rc = MSTDN_OK;
    from = 0;

    for (i = 0; i <= ncuts && rc == MSTDN_OK; i++) {
        to = i < ncuts ? cuts[i] : len;
        rc = mstdn_multipart_feed(mp, body + from, to - from, err,
                                  sizeof(err));
        from = to;
    }

    if (rc == MSTDN_OK) {
        rc = mstdn_multipart_finish(mp, err, sizeof(err));
    }

    /* an error sticks */
    if (rc != MSTDN_OK) {
        assert_int_equal(mstdn_multipart_feed(mp, "x", 1, err, sizeof(err)),
                         rc);
        assert_int_equal(mstdn_multipart_finish(mp, err, sizeof(err)), rc);
    }

    *n = dump(mp, out, size);
    mstdn_multipart_destroy(mp);

    return rc;
}


static const char  split_body[] =
    "pre\r\n--b0undar\r\n"
    FIELD("a", "before\r\n--b0undar")
    "--b0undary \t\r\n"
    "Content-Disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\n"
    "Content-Type: image/png\r\n\r\n"
    "\r\r\n\r\n-\r\n--\r\n--b0undar\r\n--b0undarx\r\n"
    FIELD("z[]", "after")
    "--b0undary\r\n"
    "Content-Disposition: form-data; name=\"e\"; filename=\"\"\r\n\r\n"
    "\r\n"
    "--b0undary--\r\nepilogue\r\n--b0undary\r\n";


/*
 * Where the pieces are cut changes nothing: every place to cut it in two,
 * every place for a second cut, one byte at a time.
 */
static void
split(void **state)
{
    int      rc;
    char     want[1024], got[1024];
    size_t   i, j, len, wn, gn, cuts[2048];

    len = sizeof(split_body) - 1;

    assert_int_equal(stream(split_body, len, NULL, 0, 1000, want,
                            sizeof(want), &wn), MSTDN_OK);
    print_message("# %.*s\n", (int) wn, want);
    want[wn] = '\0';
    assert_string_equal(want,
        "[a=before\r\n--b0undar]"
        "[f|x.bin|image/png|192+33]"
        "[z[]=after]"
        "[e|||361+0]");
    assert_memory_equal(split_body + 192, "\r\r\n\r\n-\r\n--", 10);

    for (i = 0; i <= len; i++) {
        for (j = i; j <= len; j++) {
            cuts[0] = i;
            cuts[1] = j;
            rc = stream(split_body, len, cuts, 2, 1000, got, sizeof(got),
                        &gn);
            assert_int_equal(rc, MSTDN_OK);
            assert_int_equal(gn, wn);
            assert_memory_equal(got, want, wn);
        }
    }

    for (i = 0; i < len; i++) {
        cuts[i] = i;
    }
    assert_int_equal(stream(split_body, len, cuts, len, 1000, got,
                            sizeof(got), &gn), MSTDN_OK);
    assert_int_equal(gn, wn);
    assert_memory_equal(got, want, wn);

    /* each error, at every place to cut */
    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        /* truncated: no closing boundary, or in the headers */
        assert_int_equal(stream(split_body, 300, cuts, i <= 300, 1000, got,
                                sizeof(got), &gn), MSTDN_ESYNTAX);
        assert_int_equal(stream(split_body, 120, cuts, i <= 120, 1000, got,
                                sizeof(got), &gn), MSTDN_ESYNTAX);
        /* the text over its limit (17 + 5 bytes) */
        assert_int_equal(stream(split_body, len, cuts, 1, 21, got,
                                sizeof(got), &gn), MSTDN_ETOOBIG);
        assert_int_equal(stream(split_body, len, cuts, 1, 22, got,
                                sizeof(got), &gn), MSTDN_OK);
    }
}


/* File parts are ranges of the body; the tree refers to where it is. */
static void
file_refs(void **state)
{
    char                     err[128];
    mstdn_alloc_t            a;
    mstdn_value_t           *v;
    mstdn_multipart_t       *mp;
    mstdn_multipart_body_t   body;

    mp = mstdn_multipart_create("b0undary", 8, 100, 1000);
    assert_non_null(mp);
    assert_int_equal(mstdn_multipart_feed(mp, split_body,
                                          sizeof(split_body) - 1, err,
                                          sizeof(err)), MSTDN_OK);
    assert_int_equal(mstdn_multipart_finish(mp, err, sizeof(err)), MSTDN_OK);

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    root = mstdn_value_new(&a, MSTDN_OBJECT);

    body.data = NULL;
    body.fd = 7;
    body.path = "/tmp/body/0000000001";
    body.offset = 1000;

    assert_int_equal(mstdn_multipart_params(mp, &body, &a, &limits, root,
                                            err, sizeof(err)), MSTDN_OK);
    mstdn_multipart_destroy(mp);        /* the tree has its own copies */

    assert_string_equal(mstdn_param_str(root, "a", NULL),
                        "before\r\n--b0undar");
    v = mstdn_object_get(root, "z");
    assert_non_null(v);
    assert_string_equal(v->first->str, "after");

    v = mstdn_object_get(root, "f");
    assert_non_null(v);
    assert_int_equal(v->type, MSTDN_FILE);
    assert_null(v->str);
    assert_int_equal(v->fd, 7);
    assert_string_equal(v->path, "/tmp/body/0000000001");
    assert_int_equal(v->offset, 1192);
    assert_int_equal(v->len, 33);
    assert_string_equal(v->filename, "x.bin");
    assert_string_equal(v->content_type, "image/png");

    v = mstdn_object_get(root, "e");
    assert_non_null(v);
    assert_int_equal(v->len, 0);
    assert_string_equal(v->filename, "");

    /* bad boundaries */
    assert_null(mstdn_multipart_create("", 0, 1, 1));
    assert_null(mstdn_multipart_create("a\rb", 3, 1, 1));
    assert_null(mstdn_multipart_create("a\nb", 3, 1, 1));
    assert_null(mstdn_multipart_create(
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0", 71, 1, 1));
}


/* The parts are counted as they start, not at the end. */
static void
stream_limits(void **state)
{
    char                err[128];
    size_t              i;
    mstdn_multipart_t  *mp;

    mp = mstdn_multipart_create("b0undary", 8, 3, 1000);
    assert_non_null(mp);

    for (i = 0; i < 3; i++) {
        assert_int_equal(mstdn_multipart_feed(mp, FIELD("a[]", "1"),
                                              sizeof(FIELD("a[]", "1")) - 1,
                                              err, sizeof(err)), MSTDN_OK);
    }

    assert_int_equal(mstdn_multipart_feed(mp, "--b0undary\r", 11, err,
                                          sizeof(err)), MSTDN_OK);
    assert_int_equal(mstdn_multipart_feed(mp, "\n", 1, err, sizeof(err)),
                     MSTDN_ETOOMANY);
    assert_string_equal(err, "more than 3 parts");
    mstdn_multipart_destroy(mp);

    /* the end in each state */
    mp = mstdn_multipart_create("b0undary", 8, 3, 1000);
    assert_int_equal(mstdn_multipart_feed(mp, "--b0undary-", 11, err,
                                          sizeof(err)), MSTDN_OK);
    assert_int_equal(mstdn_multipart_finish(mp, err, sizeof(err)),
                     MSTDN_ESYNTAX);
    assert_string_equal(err, "malformed part");
    mstdn_multipart_destroy(mp);

    mp = mstdn_multipart_create("b0undary", 8, 3, 1000);
    assert_int_equal(mstdn_multipart_feed(mp, "--b0undary\r\nX: y\r\n", 18,
                                          err, sizeof(err)), MSTDN_OK);
    assert_int_equal(mstdn_multipart_finish(mp, err, sizeof(err)),
                     MSTDN_ESYNTAX);
    assert_string_equal(err, "malformed part headers");
    mstdn_multipart_destroy(mp);

    mp = mstdn_multipart_create("b0undary", 8, 3, 1000);
    assert_int_equal(mstdn_multipart_feed(mp, "text only", 9, err,
                                          sizeof(err)), MSTDN_OK);
    assert_int_equal(mstdn_multipart_finish(mp, err, sizeof(err)),
                     MSTDN_ESYNTAX);
    assert_string_equal(err, "no boundary");
    mstdn_multipart_destroy(mp);

    /* destroyed in the middle of a part: nothing leaks (ASan) */
    mp = mstdn_multipart_create("b0undary", 8, 3, 1000);
    assert_int_equal(mstdn_multipart_feed(mp, FIELD("a", "12345"),
                                          sizeof(FIELD("a", "12345")) - 3,
                                          err, sizeof(err)), MSTDN_OK);
    mstdn_multipart_destroy(mp);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boundary),
        cmocka_unit_test_teardown(fields, teardown),
        cmocka_unit_test_teardown(files, teardown),
        cmocka_unit_test_teardown(refused, teardown),
        cmocka_unit_test(split),
        cmocka_unit_test_teardown(file_refs, teardown),
        cmocka_unit_test(stream_limits),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("multipart", tests, NULL, NULL);
}
