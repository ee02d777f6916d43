/* Unit tests of lib/: the bounded JSON parser, form parameters, UTF-8. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_json.h"
#include "mstdn_params.h"
#include "mstdn_multipart.h"
#include "mstdn_utf8.h"


static const mstdn_limits_t  limits = { 32, 10000 };


static int
parse_json(const char *s, size_t len, mstdn_value_t **v, mstdn_arena_t **ar)
{
    mstdn_alloc_t  a;
    char           err[128];

    *ar = mstdn_arena_create();
    mstdn_arena_allocator(*ar, &a);

    return mstdn_json_parse(s, len, &a, &limits, v, err, sizeof(err));
}


static void
json_object(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v, *m;
    int64_t         n;
    const char     *doc = "{\"status\":\"h\\u00e9llo\",\"id\":109876543210987654,"
                          "\"sensitive\":true,\"media_ids\":[\"1\",\"2\"],"
                          "\"poll\":null,\"x\":{\"y\":[{}]}}";

    assert_int_equal(parse_json(doc, strlen(doc), &v, &ar), MSTDN_OK);
    assert_int_equal(v->type, MSTDN_OBJECT);
    assert_string_equal(mstdn_param_str(v, "status", NULL), "h\xc3\xa9llo");
    assert_int_equal(mstdn_param_int64(v, "id", &n), 0);
    assert_true(n == 109876543210987654LL);     /* beyond 2^53: kept exact */
    assert_true(mstdn_param_bool(v, "sensitive", 0));
    m = mstdn_object_get(v, "media_ids");
    assert_non_null(m);
    assert_int_equal(m->type, MSTDN_ARRAY);
    assert_int_equal(m->count, 2);
    assert_string_equal(m->last->str, "2");
    assert_int_equal(mstdn_object_get(v, "poll")->type, MSTDN_NULL);
    assert_null(mstdn_object_get(v, "missing"));
    mstdn_arena_destroy(ar);
}


static void
json_duplicate_keys_last_wins(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    const char     *doc = "{\"a\":\"1\",\"a\":\"2\"}";

    assert_int_equal(parse_json(doc, strlen(doc), &v, &ar), MSTDN_OK);
    assert_string_equal(mstdn_param_str(v, "a", NULL), "2");
    mstdn_arena_destroy(ar);
}


static void
json_rejects(void **state)
{
    static const struct {
        const char  *doc;
        size_t       len;
        int          rc;
    } cases[] = {
        { "{\"a\":1", 6, MSTDN_ESYNTAX },                   /* truncated */
        { "", 0, MSTDN_ESYNTAX },
        { "  ", 2, MSTDN_ESYNTAX },
        { "{\"a\":1} x", 9, MSTDN_ESYNTAX },                /* trailing */
        { "{\"a\":1}{}", 9, MSTDN_ESYNTAX },
        { "/* c */ {}", 10, MSTDN_ESYNTAX },                /* comment */
        { "{\"a\":\"x\\u0000y\"}", 16, MSTDN_ENUL },
        { "{\"a\\u0000\":1}", 13, MSTDN_ENUL },
        { "{\"a\":\"\xc0\xaf\"}", 9, MSTDN_EUTF8 },         /* overlong / */
        { "{\"a\":\"\xed\xa0\x80\"}", 10, MSTDN_EUTF8 },    /* surrogate */
        { "{\"a\":\"\xff\"}", 8, MSTDN_EUTF8 },
        { "{\"a\":\"\xe2\x82\"}", 9, MSTDN_EUTF8 },         /* truncated seq */
        { "{\"a\":\"x\x01\"}", 9, MSTDN_ESYNTAX },          /* raw control */
        { "[1,]", 4, MSTDN_ESYNTAX },
        { "{'a':1}", 7, MSTDN_ESYNTAX },
    };
    size_t          i;
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("# case %zu\n", i);
        assert_int_equal(parse_json(cases[i].doc, cases[i].len, &v, &ar),
                         cases[i].rc);
        assert_null(v);
        mstdn_arena_destroy(ar);
    }
}


static void
json_surrogate_escapes(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    size_t          i;
    const char     *s;

    static const char  *bad[] = {
        "{\"a\":\"\\ud800\"}",                  /* lone high, at the end */
        "{\"a\":\"\\udc00\"}",                  /* lone low */
        "{\"a\":\"x\\udfffy\"}",                /* lone low inside */
        "{\"a\":\"\\ud83dx\"}",                 /* high, then a character */
        "{\"a\":\"\\ud83d\\n\"}",               /* high, then another escape */
        "{\"a\":\"\\ud83d\\u0041\"}",           /* high, then a non-surrogate */
        "{\"a\":\"\\ud83d\\ud83d\"}",           /* high, then high */
        "{\"a\":\"\\ud83d\\ude00\\ud800\"}",    /* a pair, then a lone high */
        "{\"\\ud800\":1}",                      /* in a key */
        "[\"ok\",\"\\uDBFF\"]",                 /* upper case hex */
        "\"\\ud800",                            /* high at end of input */
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("# %s\n", bad[i]);
        assert_int_equal(parse_json(bad[i], strlen(bad[i]), &v, &ar),
                         MSTDN_EUTF8);
        mstdn_arena_destroy(ar);
    }

    /* valid pairs become the code point, in keys and values */
    s = "{\"\\ud83d\\ude00\":\"a\\uD83D\\uDE00b\\udbff\\udfff\"}";
    assert_int_equal(parse_json(s, strlen(s), &v, &ar), MSTDN_OK);
    assert_string_equal(mstdn_param_str(v, "\xf0\x9f\x98\x80", NULL),
                        "a\xf0\x9f\x98\x80" "b\xf4\x8f\xbf\xbf");
    mstdn_arena_destroy(ar);

    /* an escaped backslash before "u" is no escape */
    s = "{\"a\":\"\\\\ud800\"}";
    assert_int_equal(parse_json(s, strlen(s), &v, &ar), MSTDN_OK);
    assert_string_equal(mstdn_param_str(v, "a", NULL), "\\ud800");
    mstdn_arena_destroy(ar);

    /* BMP escapes next to surrogates' range are fine */
    s = "[\"\\ud7ff\\ue000\"]";
    assert_int_equal(parse_json(s, strlen(s), &v, &ar), MSTDN_OK);
    mstdn_arena_destroy(ar);

    /* NUL is still refused */
    s = "{\"a\":\"\\u0000\"}";
    assert_int_equal(parse_json(s, strlen(s), &v, &ar), MSTDN_ENUL);
    mstdn_arena_destroy(ar);
}


static void
json_depth_limit(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    char           *doc;
    size_t          n = 100000;

    doc = malloc(2 * n);
    memset(doc, '[', n);
    memset(doc + n, ']', n);

    assert_int_equal(parse_json(doc, 2 * n, &v, &ar), MSTDN_EDEPTH);
    mstdn_arena_destroy(ar);

    /* exactly at the limit is fine */
    memset(doc, '[', 32);
    memset(doc + 32, ']', 32);
    assert_int_equal(parse_json(doc, 64, &v, &ar), MSTDN_OK);
    mstdn_arena_destroy(ar);

    memset(doc, '[', 33);
    memset(doc + 33, ']', 33);
    assert_int_equal(parse_json(doc, 66, &v, &ar), MSTDN_EDEPTH);
    mstdn_arena_destroy(ar);

    free(doc);
}


static void
json_member_limit(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    char           *doc;
    size_t          i, n = 20001;

    doc = malloc(2 * n + 2);
    doc[0] = '[';
    for (i = 0; i < n; i++) {
        doc[1 + 2 * i] = '0';
        doc[2 + 2 * i] = ',';
    }
    doc[2 * n] = ']';

    assert_int_equal(parse_json(doc, 2 * n + 1, &v, &ar), MSTDN_ETOOMANY);
    mstdn_arena_destroy(ar);
    free(doc);
}


static int
parse_form(const char *s, mstdn_value_t **root, mstdn_arena_t **ar)
{
    mstdn_alloc_t  a;
    char           err[128];

    *ar = mstdn_arena_create();
    mstdn_arena_allocator(*ar, &a);
    *root = mstdn_value_new(&a, MSTDN_OBJECT);

    return mstdn_params_parse_urlencoded(s, strlen(s), &a, &limits, *root,
                                         err, sizeof(err));
}


static void
form_nesting(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v, *ids, *fa, *f0, *arr;

    assert_int_equal(parse_form("status=Hello+w%C3%B6rld%21&id[]=1&id[]=2"
                                "&&fields_attributes[0][name]=a"
                                "&fields_attributes[0][value]=b"
                                "&fields_attributes[1][name]=c"
                                "&poll[options][]=x&poll[options][]=y"
                                "&a[][k]=1&a[][v]=2&a[][k]=3&flag&dup=1&dup=2",
                                &v, &ar), MSTDN_OK);

    assert_string_equal(mstdn_param_str(v, "status", NULL),
                        "Hello w\xc3\xb6rld!");

    ids = mstdn_object_get(v, "id");
    assert_int_equal(ids->type, MSTDN_ARRAY);
    assert_int_equal(ids->count, 2);
    assert_string_equal(ids->first->str, "1");

    fa = mstdn_object_get(v, "fields_attributes");
    assert_int_equal(fa->type, MSTDN_OBJECT);
    f0 = mstdn_object_get(fa, "0");
    assert_string_equal(mstdn_param_str(f0, "value", NULL), "b");
    assert_string_equal(mstdn_param_str(mstdn_object_get(fa, "1"), "name",
                                        NULL), "c");

    arr = mstdn_object_get(mstdn_object_get(v, "poll"), "options");
    assert_int_equal(arr->count, 2);

    arr = mstdn_object_get(v, "a");
    assert_int_equal(arr->type, MSTDN_ARRAY);
    assert_int_equal(arr->count, 2);        /* {k:1,v:2}, {k:3} */
    assert_string_equal(mstdn_param_str(arr->first, "v", NULL), "2");
    assert_string_equal(mstdn_param_str(arr->last, "k", NULL), "3");

    assert_string_equal(mstdn_param_str(v, "flag", NULL), "");
    assert_string_equal(mstdn_param_str(v, "dup", NULL), "2");
    assert_false(mstdn_param_bool(v, "flag", 0));   /* "" is nil in Rails */

    mstdn_arena_destroy(ar);
}


static void
form_rejects(void **state)
{
    static const struct {
        const char  *form;
        int          rc;
    } cases[] = {
        { "a=%zz", MSTDN_ESYNTAX },
        { "a=%4", MSTDN_ESYNTAX },
        { "a=x%00y", MSTDN_ENUL },
        { "a=%C0%AF", MSTDN_EUTF8 },
        { "a=%FF", MSTDN_EUTF8 },
        { "a[]=1&a[b]=2", MSTDN_ETYPE },
        { "a=1&a[b]=2", MSTDN_ETYPE },
        { "a[b]=1&a=2", MSTDN_ETYPE },
        { "a[][]=1", MSTDN_ETYPE },
        { "a[1][2][3][4][5][6][7][8][9][10][11][12][13][14][15][16][17][18]"
          "[19][20][21][22][23][24][25][26][27][28][29][30][31][32][33]=1",
          MSTDN_EDEPTH },
    };
    size_t          i;
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        print_message("# case %zu\n", i);
        assert_int_equal(parse_form(cases[i].form, &v, &ar), cases[i].rc);
        mstdn_arena_destroy(ar);
    }
}


static void
booleans(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;

    assert_int_equal(parse_form("a=true&b=0&c=FALSE&d=1&e=off&f=yes", &v, &ar),
                     MSTDN_OK);
    assert_true(mstdn_param_bool(v, "a", 0));
    assert_false(mstdn_param_bool(v, "b", 1));
    assert_false(mstdn_param_bool(v, "c", 1));
    assert_true(mstdn_param_bool(v, "d", 0));
    assert_false(mstdn_param_bool(v, "e", 1));
    assert_true(mstdn_param_bool(v, "f", 0));
    assert_true(mstdn_param_bool(v, "missing", 1));
    mstdn_arena_destroy(ar);

    /* FALSE_VALUES' cases only: "False" and "Off" are true in Rails */
    assert_int_equal(parse_form("a=False&b=Off&c=F&d=OFF&e=F%20", &v, &ar),
                     MSTDN_OK);
    assert_true(mstdn_param_bool(v, "a", 0));
    assert_true(mstdn_param_bool(v, "b", 0));
    assert_false(mstdn_param_bool(v, "c", 1));
    assert_false(mstdn_param_bool(v, "d", 1));
    assert_true(mstdn_param_bool(v, "e", 0));
    mstdn_arena_destroy(ar);

    /* JSON numbers: 0 (and 0.0) is false, any other number true */
    assert_int_equal(parse_json("{\"a\":0,\"b\":1,\"c\":0.0,\"d\":-2}", 28,
                                &v, &ar), MSTDN_OK);
    assert_false(mstdn_param_bool(v, "a", 1));
    assert_true(mstdn_param_bool(v, "b", 0));
    assert_false(mstdn_param_bool(v, "c", 1));
    assert_true(mstdn_param_bool(v, "d", 0));
    mstdn_arena_destroy(ar);
}


static void
utf8(void **state)
{
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "h\xc3\xa9", 3, 0),
                     MSTDN_UTF8_VALID);
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "\xf0\x9f\x98\x80",
                                      4, 0), MSTDN_UTF8_VALID);
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "\xf4\x90\x80\x80",
                                      4, 0), 0);        /* > U+10FFFF */
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "ab\xe0\x80\x80",
                                      5, 0), 2);        /* overlong */
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "a\0b", 3, 0), 1);
    assert_int_equal(mstdn_utf8_check((const unsigned char *) "a\0b", 3, 1),
                     MSTDN_UTF8_VALID);
    assert_int_equal(mstdn_utf8_length((const unsigned char *) "h\xc3\xa9\xf0\x9f\x98\x80",
                                       7), 3);
}


static void
multipart(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_alloc_t   a;
    mstdn_value_t  *root, *v;
    char            err[128];
    const char     *b;
    size_t          blen;
    const char     *ct = "multipart/form-data; boundary=----XyZ";
    const char      body[] =
        "------XyZ\r\n"
        "Content-Disposition: form-data; name=\"display_name\"\r\n\r\n"
        "Al\xc3\xaf" "ce\r\n"
        "------XyZ\r\n"
        "Content-Disposition: form-data; name=\"fields_attributes[0][name]\"\r\n\r\n"
        "Site\r\n"
        "------XyZ\r\n"
        "Content-Disposition: form-data; name=\"avatar\"; filename=\"a.png\"\r\n"
        "Content-Type: image/png\r\n\r\n"
        "\x89PNG\x00\xff\r\n"
        "------XyZ--\r\n";

    assert_int_equal(mstdn_multipart_boundary(ct, strlen(ct), &b, &blen), 0);
    assert_int_equal(blen, 7);
    assert_memory_equal(b, "----XyZ", 7);

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    root = mstdn_value_new(&a, MSTDN_OBJECT);

    assert_int_equal(mstdn_multipart_parse(body, sizeof(body) - 1, b, blen,
                                           &a, &limits, root, err,
                                           sizeof(err)), MSTDN_OK);
    assert_string_equal(mstdn_param_str(root, "display_name", NULL),
                        "Al\xc3\xaf" "ce");
    v = mstdn_object_get(mstdn_object_get(root, "fields_attributes"), "0");
    assert_string_equal(mstdn_param_str(v, "name", NULL), "Site");
    v = mstdn_object_get(root, "avatar");
    assert_int_equal(v->type, MSTDN_FILE);
    assert_int_equal(v->len, 6);
    assert_memory_equal(v->str, "\x89PNG\x00\xff", 6);
    assert_string_equal(v->filename, "a.png");
    assert_string_equal(v->content_type, "image/png");
    mstdn_arena_destroy(ar);

    /* truncated: no closing boundary */
    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    root = mstdn_value_new(&a, MSTDN_OBJECT);
    assert_int_equal(mstdn_multipart_parse(body, 60, b, blen, &a, &limits,
                                           root, err, sizeof(err)),
                     MSTDN_ESYNTAX);
    /* a text field with invalid UTF-8 */
    root = mstdn_value_new(&a, MSTDN_OBJECT);
    {
        const char  bad[] = "------XyZ\r\nContent-Disposition: form-data; "
                            "name=\"x\"\r\n\r\n\xff\r\n------XyZ--";
        assert_int_equal(mstdn_multipart_parse(bad, sizeof(bad) - 1, b, blen,
                                               &a, &limits, root, err,
                                               sizeof(err)), MSTDN_EUTF8);
    }
    mstdn_arena_destroy(ar);

    assert_int_equal(mstdn_multipart_boundary("multipart/form-data", 19, &b,
                                              &blen), -1);
}


static void
form_many_keys(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    mstdn_alloc_t   a;
    char            err[128], key[32], val[32], *body, *p;
    size_t          i, n = 9000;
    mstdn_limits_t  big = { 32, 20000 };

    body = malloc(n * 16 + 64);
    p = body;
    for (i = 0; i < n; i++) {
        p += sprintf(p, "k%zu=%zu&", i, i);
    }
    p += sprintf(p, "k17=last&k8999=end");

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    v = mstdn_value_new(&a, MSTDN_OBJECT);
    assert_int_equal(mstdn_params_parse_urlencoded(body, p - body, &a, &big, v,
                                                   err, sizeof(err)),
                     MSTDN_OK);
    assert_int_equal(v->count, n + 2);
    assert_non_null(v->index);

    for (i = 0; i < n; i += 997) {
        sprintf(key, "k%zu", i);
        sprintf(val, "%zu", i);
        assert_string_equal(mstdn_param_str(v, key, NULL), val);
    }

    /* the last of duplicate names wins, indexed or not */
    assert_string_equal(mstdn_param_str(v, "k17", NULL), "last");
    assert_string_equal(mstdn_param_str(v, "k8999", NULL), "end");
    assert_string_equal(mstdn_param_str(v, "k5", NULL), "5");
    assert_null(mstdn_param_str(v, "k9000", NULL));

    mstdn_arena_destroy(ar);
    free(body);
}


static void
form_raw_nul(void **state)
{
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;
    mstdn_alloc_t   a;
    char            err[128];

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);
    v = mstdn_value_new(&a, MSTDN_OBJECT);
    assert_int_equal(mstdn_params_parse_urlencoded("a=x\0y&b=1", 9, &a,
                                                   &limits, v, err,
                                                   sizeof(err)), MSTDN_ENUL);
    mstdn_arena_destroy(ar);
}


static void
form_unescape(void **state)
{
    char  s[32];

    strcpy(s, "a+b%20c%2B%e2%82%AC");
    assert_int_equal(mstdn_params_unescape(s, strlen(s), 1), 9);
    assert_memory_equal(s, "a b c+\xe2\x82\xac", 9);

    strcpy(s, "a+b%20c");
    assert_int_equal(mstdn_params_unescape(s, strlen(s), 0), 5);
    assert_memory_equal(s, "a+b c", 5);

    strcpy(s, "%zz");
    assert_int_equal(mstdn_params_unescape(s, strlen(s), 1), -1);
    strcpy(s, "ab%4");
    assert_int_equal(mstdn_params_unescape(s, strlen(s), 1), -1);
    strcpy(s, "ab%");
    assert_int_equal(mstdn_params_unescape(s, strlen(s), 1), -1);
    strcpy(s, "");
    assert_int_equal(mstdn_params_unescape(s, 0, 1), 0);
}


/* hand-written JSON strings: hostile text quoted, then read back as it was */
static void
json_quote(void **state)
{
    size_t          i, n;
    char            out[256], doc[300];
    mstdn_arena_t  *ar;
    mstdn_value_t  *v;

    static const struct {
        const char  *in;
        size_t       len;
        const char  *out;
    } quotes[] = {
#define Q(in, out)  { in, sizeof(in) - 1, out }
        Q("plain", "\"plain\""),
        Q("\"quoted\" \\back\\", "\"\\\"quoted\\\" \\\\back\\\\\""),
        Q("a\nb\rc\td\be\ff", "\"a\\nb\\rc\\td\\be\\ff\""),
        Q("\x01\x1f\x7f", "\"\\u0001\\u001f\x7f\""),
        Q("x\xe2\x80\xa8y\xe2\x80\xa9z", "\"x\\u2028y\\u2029z\""),
        Q("</script>\xc3\xa9", "\"</script>\xc3\xa9\""),
        Q("\xe2\x80", "\"\xe2\x80\""),         /* cut short: copied */
#undef Q
    };

    for (i = 0; i < sizeof(quotes) / sizeof(quotes[0]); i++) {
        n = mstdn_json_quote(out, quotes[i].in, quotes[i].len);
        assert_true(n <= MSTDN_JSON_QUOTE_MAX(quotes[i].len));
        assert_int_equal(n, strlen(quotes[i].out));
        assert_memory_equal(out, quotes[i].out, n);

        if (i == 6) {
            continue;                   /* not UTF-8: the parser refuses */
        }

        /* valid JSON, and the same string again */
        n = (size_t) snprintf(doc, sizeof(doc), "{\"k\":%.*s}", (int) n, out);
        assert_int_equal(parse_json(doc, n, &v, &ar), MSTDN_OK);
        assert_int_equal(mstdn_object_get(v, "k")->len, quotes[i].len);
        assert_memory_equal(mstdn_object_get(v, "k")->str, quotes[i].in,
                            quotes[i].len);
        mstdn_arena_destroy(ar);
    }
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_object),
        cmocka_unit_test(json_quote),
        cmocka_unit_test(json_duplicate_keys_last_wins),
        cmocka_unit_test(json_rejects),
        cmocka_unit_test(json_surrogate_escapes),
        cmocka_unit_test(json_depth_limit),
        cmocka_unit_test(json_member_limit),
        cmocka_unit_test(form_nesting),
        cmocka_unit_test(form_rejects),
        cmocka_unit_test(booleans),
        cmocka_unit_test(utf8),
        cmocka_unit_test(multipart),
        cmocka_unit_test(form_raw_nul),
        cmocka_unit_test(form_many_keys),
        cmocka_unit_test(form_unescape),
    };

    /* prove reads TAP */
    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("lib", tests, NULL, NULL);
}
