/* Unit tests of lib/mstdn_text: Mastodon's text to HTML. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <strings.h>

#include "mstdn_text.h"


static int
resolve(void *ctx, const char *u, size_t ulen, const char *d, size_t dlen,
    const char **url, size_t *url_len, const char **disp, size_t *disp_len)
{
    if (ulen == 5 && strncasecmp(u, "alice", 5) == 0 && d == NULL) {
        *url = "https://ex.com/@alice";
        *url_len = strlen(*url);
        *disp = "alice";
        *disp_len = 5;
        return 1;
    }

    if (ulen == 3 && strncmp(u, "bob", 3) == 0 && d && dlen == 10
        && strncmp(d, "remote.org", 10) == 0)
    {
        *url = "https://remote.org/@bob";
        *url_len = strlen(*url);
        *disp = "bob";
        *disp_len = 3;
        return 1;
    }

    return 0;
}


static void
check(const char *in, const char *expected)
{
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    char                  *out;
    size_t                 len;
    mstdn_text_options_t   opt = {
        "https://ex.com", 14, "ex.com", 6, 1, 0, resolve, NULL
    };

    ar = mstdn_arena_create();
    mstdn_arena_allocator(ar, &a);

    print_message("# [%s]\n", in ? in : "(null)");
    assert_int_equal(mstdn_text_format(in, strlen(in), &opt, &a, &out, &len),
                     0);
    assert_int_equal(strlen(out), len);
    assert_string_equal(out, expected);

    mstdn_arena_destroy(ar);
}


#define LINK(href, pre, shown, cls, rest)                                     \
    "<a href=\"" href "\" target=\"_blank\" rel=\"nofollow noopener "       \
    "noreferrer\" translate=\"no\"><span class=\"invisible\">" pre          \
    "</span><span class=\"" cls "\">" shown "</span><span "                  \
    "class=\"invisible\">" rest "</span></a>"


static void
paragraphs(void **state)
{
    check("", "");
    check("hello", "<p>hello</p>");
    check("  hello  \n", "<p>hello</p>");
    check("a\nb\n\nc", "<p>a<br />b</p><p>c</p>");
    check("a\r\n\r\nb", "<p>a</p><p>b</p>");
    check("<b>&\"'</b>", "<p>&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;</p>");
}


static void
links(void **state)
{
    check("see https://example.com/path.",
          "<p>see " LINK("https://example.com/path", "https://",
                         "example.com/path", "", "") ".</p>");
    check("https://www.example.com/a/very/long/path/that/goes/on/and/on",
          "<p>" LINK("https://www.example.com/a/very/long/path/that/goes/on/and/on",
                     "https://www.", "example.com/a/very/long/path/t",
                     "ellipsis", "hat/goes/on/and/on") "</p>");
    check("(http://example.com/wiki/Foo_(bar))",
          "<p>(" LINK("http://example.com/wiki/Foo_(bar)", "http://",
                      "example.com/wiki/Foo_(bar)", "", "") ")</p>");
    check("q: https://ex.org/?a=1&b=2!",
          "<p>q: " LINK("https://ex.org/?a=1&amp;b=2", "https://",
                        "ex.org/?a=1&amp;b=2", "", "") "!</p>");
    check("no https://nodot here", "<p>no https://nodot here</p>");
    check("xhttps://glued.com", "<p>xhttps://glued.com</p>");
    check("https://ex.com/#not-a-tag @not-a-mention",
          "<p>" LINK("https://ex.com/#not-a-tag", "https://",
                     "ex.com/#not-a-tag", "", "") " @not-a-mention</p>");
}


static void
hashtags(void **state)
{
    check("#hello world",
          "<p><a href=\"https://ex.com/tags/hello\" class=\"mention hashtag\" "
          "rel=\"tag\">#<span>hello</span></a> world</p>");
    check("#caf\xc3\xa9, #123 #a1 a#b",
          "<p><a href=\"https://ex.com/tags/caf\xc3\xa9\" class=\"mention "
          "hashtag\" rel=\"tag\">#<span>caf\xc3\xa9</span></a>, #123 "
          "<a href=\"https://ex.com/tags/a1\" class=\"mention hashtag\" "
          "rel=\"tag\">#<span>a1</span></a> a#b</p>");
    check("#foo_bar_ #\xe6\x97\xa5\xe6\x9c\xac",
          "<p><a href=\"https://ex.com/tags/foo_bar_\" class=\"mention "
          "hashtag\" rel=\"tag\">#<span>foo_bar_</span></a> "
          "<a href=\"https://ex.com/tags/\xe6\x97\xa5\xe6\x9c\xac\" "
          "class=\"mention hashtag\" rel=\"tag\">#<span>\xe6\x97\xa5\xe6\x9c\xac"
          "</span></a></p>");
}


static void
mentions(void **state)
{
    check("hi @alice!",
          "<p>hi <span class=\"h-card\" translate=\"no\"><a href=\"https://"
          "ex.com/@alice\" class=\"u-url mention\">@<span>alice</span></a>"
          "</span>!</p>");
    check("@alice@ex.com and @bob@remote.org",
          "<p><span class=\"h-card\" translate=\"no\"><a href=\"https://"
          "ex.com/@alice\" class=\"u-url mention\">@<span>alice</span></a>"
          "</span> and <span class=\"h-card\" translate=\"no\"><a href=\""
          "https://remote.org/@bob\" class=\"u-url mention\">@<span>bob"
          "</span></a></span></p>");
    check("@nobody and mail@alice.com", "<p>@nobody and mail@alice.com</p>");
}


static void
entities(void **state)
{
    mstdn_entity_t  e[8];
    const char     *t = "@a.b-c@x.org #Tag https://y.z/p @d";
    size_t          n;

    n = mstdn_text_entities(t, strlen(t), e, 8);
    assert_int_equal(n, 4);
    assert_int_equal(e[0].type, MSTDN_ENTITY_MENTION);
    assert_int_equal(e[0].name_len, 5);
    assert_memory_equal(e[0].name, "a.b-c", 5);
    assert_int_equal(e[0].domain_len, 5);
    assert_memory_equal(e[0].domain, "x.org", 5);
    assert_int_equal(e[1].type, MSTDN_ENTITY_HASHTAG);
    assert_memory_equal(e[1].name, "Tag", 3);
    assert_int_equal(e[2].type, MSTDN_ENTITY_URL);
    assert_int_equal(e[2].name_len, 13);
    assert_int_equal(e[3].type, MSTDN_ENTITY_MENTION);
    assert_null(e[3].domain);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(paragraphs),
        cmocka_unit_test(links),
        cmocka_unit_test(hashtags),
        cmocka_unit_test(mentions),
        cmocka_unit_test(entities),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
