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
check_with(const char *in, const char *expected, int multiline, int rel_me)
{
    mstdn_arena_t         *ar;
    mstdn_alloc_t          a;
    char                  *out;
    size_t                 len;
    mstdn_text_options_t   opt = {
        "https://ex.com", 14, "ex.com", 6, multiline, rel_me, resolve, NULL
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


static void
check(const char *in, const char *expected)
{
    check_with(in, expected, 1, 0);
}


#define LINK(href, pre, shown, cls, rest)                                     \
    "<a href=\"" href "\" target=\"_blank\" rel=\"nofollow noopener\" "     \
    "translate=\"no\"><span class=\"invisible\">" pre                        \
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
links_more(void **state)
{
    /* 31 characters after the prefix: the last one is shown, no ellipsis */
    check("https://example.com/abcdefghijklmnopqrs",
          "<p>" LINK("https://example.com/abcdefghijklmnopqrs", "https://",
                     "example.com/abcdefghijklmnopqrs", "", "") "</p>");
    /* 32: 30 shown, two hidden */
    check("https://example.com/abcdefghijklmnopqrst",
          "<p>" LINK("https://example.com/abcdefghijklmnopqrst", "https://",
                     "example.com/abcdefghijklmnopqr", "ellipsis", "st")
          "</p>");
    /* 30 characters, not bytes */
    check("http://ex.org/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
          "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
          "<p>" LINK("http://ex.org/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9", "http://",
                     "ex.org/\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                     "\xc3\xa9", "", "") "</p>");
    /* URL_PREFIX_REGEX is case-sensitive: nothing hidden */
    check("HTTPS://EX.ORG/A",
          "<p>" LINK("HTTPS://EX.ORG/A", "", "HTTPS://EX.ORG/A", "", "")
          "</p>");
    /* http://www. hidden too */
    check("http://www.ex.org",
          "<p>" LINK("http://www.ex.org", "http://www.", "ex.org", "", "")
          "</p>");
    /* escaping inside the link, and around it */
    check("<https://ex.org/a'b\">",
          "<p>&lt;" LINK("https://ex.org/a&#39;b", "https://", "ex.org/a&#39;b",
                         "", "") "&quot;&gt;</p>");
    /* profile fields: rel="me", no paragraphs */
    check_with("https://ex.org",
               "<a href=\"https://ex.org\" target=\"_blank\" rel=\"nofollow "
               "noopener me\" translate=\"no\"><span class=\"invisible\">"
               "https://</span><span class=\"\">ex.org</span><span "
               "class=\"invisible\"></span></a>", 0, 1);
    /* a link across lines */
    check("a\nhttps://ex.org\nb",
          "<p>a<br />" LINK("https://ex.org", "https://", "ex.org", "", "")
          "<br />b</p>");
}


#define TAG(href, name)                                                       \
    "<a href=\"https://ex.com/tags/" href "\" class=\"mention hashtag\" "    \
    "rel=\"tag\">#<span>" name "</span></a>"


static void
hashtags_more(void **state)
{
    /* inside a URL: the URL's */
    check("https://ex.com/page#tag",
          "<p>" LINK("https://ex.com/page#tag", "https://",
                     "ex.com/page#tag", "", "") "</p>");
    /* after a letter, digit, = / ): not a tag; after ( or space: a tag */
    check("abc#tag 1#tag =#tag /#tag )#tag (#tag)",
          "<p>abc#tag 1#tag =#tag /#tag )#tag (" TAG("tag", "tag") ")</p>");
    /* letters of any script; separators inside; digits alone are not */
    check("#\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 #2024 #a\xc2\xb7" "b",
          "<p>" TAG("%D0%BF%D1%80%D0%B8%D0%B2%D0%B5%D1%82",
                    "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82")
          " #2024 " TAG("a%C2%B7b", "a\xc2\xb7" "b") "</p>");
    /* a name does not end with a separator other than _ */
    check("#foo\xc2\xb7 #1_ #_a",
          "<p>" TAG("foo", "foo") "\xc2\xb7 #1_ " TAG("_a", "_a") "</p>");
    /* the case as written */
    check("#NginX", "<p>" TAG("NginX", "NginX") "</p>");
    /* escaping around tags */
    check("<#tag>", "<p>&lt;" TAG("tag", "tag") "&gt;</p>");
}


static void
hashtags(void **state)
{
    check("#hello world",
          "<p><a href=\"https://ex.com/tags/hello\" class=\"mention hashtag\" "
          "rel=\"tag\">#<span>hello</span></a> world</p>");
    check("#caf\xc3\xa9, #123 #a1 a#b",
          "<p><a href=\"https://ex.com/tags/caf%C3%A9\" class=\"mention "
          "hashtag\" rel=\"tag\">#<span>caf\xc3\xa9</span></a>, #123 "
          "<a href=\"https://ex.com/tags/a1\" class=\"mention hashtag\" "
          "rel=\"tag\">#<span>a1</span></a> a#b</p>");
    check("#foo_bar_ #\xe6\x97\xa5\xe6\x9c\xac",
          "<p><a href=\"https://ex.com/tags/foo_bar_\" class=\"mention "
          "hashtag\" rel=\"tag\">#<span>foo_bar_</span></a> "
          "<a href=\"https://ex.com/tags/%E6%97%A5%E6%9C%AC\" "
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


#define ALICE                                                                 \
    "<span class=\"h-card\" translate=\"no\"><a href=\"https://ex.com/@alice\" " \
    "class=\"u-url mention\">@<span>alice</span></a></span>"


static void
mentions_more(void **state)
{
    /* the local domain in any case is local */
    check("@alice@EX.com", "<p>" ALICE "</p>");
    /* an e-mail address is no mention; a domain of one character neither */
    check("alice@ex.com @alice@x", "<p>alice@ex.com @alice@x</p>");
    /* followed by a Latin accent or ://: no mention */
    check("@alice\xc3\xa9 @alice://", "<p>@alice\xc3\xa9 @alice://</p>");
    /* punctuation ends it; escaping around it */
    check("<@alice>, (@alice).", "<p>&lt;" ALICE "&gt;, (" ALICE ").</p>");
    /* unknown remote account: the text as written */
    check("@carol@remote.org", "<p>@carol@remote.org</p>");
    /* new lines and paragraphs around mentions */
    check("@alice\n\n\nhi\r\n@alice",
          "<p>" ALICE "</p><p>hi<br />" ALICE "</p>");
}


static void
entities_more(void **state)
{
    mstdn_entity_t  e[16];
    const char     *t = "#Tag #tag @Bob@Remote.org mail@x.org @bob@remote.org "
                        "@alice https://y.z/#x #caf\xc3\xa9 @alice @bob";
    size_t          n;

    n = mstdn_text_entities(t, strlen(t), e, 16);
    assert_int_equal(n, 9);

    n = mstdn_text_distinct(e, n);
    assert_int_equal(n, 5);
    assert_int_equal(e[0].type, MSTDN_ENTITY_HASHTAG);
    assert_int_equal(e[0].name_len, 3);
    assert_memory_equal(e[0].name, "Tag", 3);
    assert_int_equal(e[1].type, MSTDN_ENTITY_MENTION);
    assert_memory_equal(e[1].name, "Bob", 3);
    assert_int_equal(e[1].domain_len, 10);
    assert_memory_equal(e[1].domain, "Remote.org", 10);
    assert_int_equal(e[2].type, MSTDN_ENTITY_MENTION);
    assert_memory_equal(e[2].name, "alice", 5);
    assert_null(e[2].domain);
    assert_int_equal(e[3].type, MSTDN_ENTITY_HASHTAG);
    assert_int_equal(e[3].name_len, 5);
    assert_int_equal(e[4].type, MSTDN_ENTITY_MENTION);
    assert_memory_equal(e[4].name, "bob", 3);
    assert_null(e[4].domain);

    /* more entities than room: counted all the same */
    assert_int_equal(mstdn_text_entities("#a #b #c", 8, e, 2), 3);
}


static void
strip(void **state)
{
    const char  *t = "\t\v\f \r\n x y\n\n ";
    size_t       len = strlen(t);

    mstdn_text_strip(&t, &len);
    assert_int_equal(len, 3);
    assert_memory_equal(t, "x y", 3);

    t = " \n";
    len = 2;
    mstdn_text_strip(&t, &len);
    assert_int_equal(len, 0);
}


#define LEN(s, n)                                                             \
    do {                                                                      \
        print_message("# length [%s]\n", s);                                  \
        assert_int_equal(mstdn_status_length("", 0, s, strlen(s)), n);        \
    } while (0)


static void
status_length(void **state)
{
    LEN("", 0);
    LEN("hello", 5);
    /* URLs: 23 characters, however long */
    LEN("https://example.com/a/very/long/path/that/goes/on/and/on/and/on", 23);
    LEN("see http://ex.org", 4 + 23);
    LEN("http://a.b http://c.d", 23 + 1 + 23);
    LEN("no http://nodot", 15);
    /* remote mentions count as @user, local ones as written */
    LEN("@alice@remote.example.org hi", 9);
    LEN("@alice hi", 9);
    LEN("@alice@ex.com", 6);
    /* e-mail addresses and hashtags as written */
    LEN("mail@remote.example.org", 23);
    LEN("#hashtag", 8);
    LEN("https://ex.com/#tag @bob@remote.org", 23 + 1 + 4);
    /* characters, not bytes: grapheme clusters */
    LEN("caf\xc3\xa9", 4);                                  /* precomposed */
    LEN("cafe\xcc\x81", 4);                                 /* e + U+0301 */
    LEN("\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd", 1);            /* thumbs up, tone */
    LEN("\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d"
        "\xf0\x9f\x91\xa7", 1);                             /* family, ZWJ */
    LEN("\xe2\x9d\xa4\xef\xb8\x8f", 1);                    /* heart, VS16 */
    LEN("1\xef\xb8\x8f\xe2\x83\xa3", 1);                   /* keycap */
    LEN("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xa9\xf0\x9f\x87\xaa",
        2);                                                 /* FR DE */
    LEN("\xf0\x9f\x87\xab\xf0\x9f\x87\xb7\xf0\x9f\x87\xa9", 2); /* FR + D */
    LEN("\xf0\x9f\x8f\xb4\xf3\xa0\x81\xa7\xf3\xa0\x81\xa2\xf3\xa0\x81\xa5"
        "\xf3\xa0\x81\xae\xf3\xa0\x81\xa7\xf3\xa0\x81\xbf", 1);  /* England */
    LEN("a\xe2\x80\x8d" "b", 2);                            /* ZWJ, no emoji */
    LEN("\xe1\x84\x80\xe1\x85\xa1\xe1\x86\xa8", 1);       /* Hangul jamo */
    LEN("\xea\xb0\x80\xe1\x86\xa8", 1);                    /* LV + T */
    LEN("\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4", 3);       /* 3 syllables */
    LEN("\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4"
        "\xe0\xa5\x87", 4);                                 /* Devanagari */
    LEN("\xe0\xb8\x81\xe0\xb8\xb3", 1);                    /* Thai SARA AM */
    LEN("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 3);
    LEN("a\r\nb\n\nc", 6);                                  /* CR LF is one */
    LEN("\n\xcc\x81", 2);                                    /* no mark on LF */
    /* a mark after a URL joins its placeholder's last x */
    LEN("http://ex.org \xcc\x81", 23 + 1);
}


static void
status_length_spoiler(void **state)
{
    /* counted joined, as Mastodon joins spoiler_text and text */
    assert_int_equal(mstdn_status_length("ab", 2, "cd", 2), 4);
    assert_int_equal(mstdn_status_length("ab", 2, "", 0), 2);
    assert_int_equal(mstdn_status_length("cw", 2, "http://ex.org", 13),
                     2 + 23);
    /* a mark at the start of the text joins the spoiler's last character */
    assert_int_equal(mstdn_status_length("e", 1, "\xcc\x81x", 3), 2);
    /* flags pair across the seam */
    assert_int_equal(mstdn_status_length("\xf0\x9f\x87\xab", 4,
                                         "\xf0\x9f\x87\xb7", 4), 1);
}


/* "https://host/aaa...": chars code points, the path of a or of u-umlaut */
static char *
long_url(const char *host, size_t chars, int umlaut, size_t *len)
{
    char    *s, *p;
    size_t   n, i, host_chars;

    n = strlen(host);
    for (host_chars = 0, i = 0; i < n; i++) {
        host_chars += ((unsigned char) host[i] & 0xc0) != 0x80;
    }

    s = malloc(8 + n + 1 + 2 * chars + 1);
    assert_non_null(s);
    p = s;
    memcpy(p, "https://", 8);
    p += 8;
    memcpy(p, host, n);
    p += n;
    *p++ = '/';

    for (i = 8 + host_chars + 1; i < chars; i++) {
        if (umlaut) {
            *p++ = '\xc3';
            *p++ = '\xbc';
        } else {
            *p++ = 'a';
        }
    }

    *p = '\0';
    *len = p - s;

    return s;
}


static void
status_length_long_urls(void **state)
{
    char            *s;
    size_t           n;
    mstdn_entity_t   e[2];

    /* twitter-text: 4,096 code points is a URL, 4,097 is text */
    s = long_url("ex.com", 4096, 0, &n);
    assert_int_equal(n, 4096);
    assert_int_equal(mstdn_status_length("", 0, s, n), 23);
    assert_int_equal(mstdn_text_entities(s, n, e, 2), 1);
    assert_int_equal(e[0].type, MSTDN_ENTITY_URL);
    assert_int_equal(e[0].name_len, 4096);
    free(s);

    s = long_url("ex.com", 4097, 0, &n);
    assert_int_equal(mstdn_status_length("", 0, s, n), 4097);
    assert_int_equal(mstdn_text_entities(s, n, e, 2), 0);
    free(s);

    /* code points, not bytes */
    s = long_url("ex.com", 4096, 1, &n);
    assert_true(n > 8000);
    assert_int_equal(mstdn_status_length("", 0, s, n), 23);
    free(s);
    s = long_url("ex.com", 4097, 1, &n);
    assert_int_equal(mstdn_status_length("", 0, s, n), 4097);
    free(s);

    /* the host counts as ToASCII spells it when longer: u-umlaut.de (4
     * code points) is xn--tda.de (10) */
    s = long_url("\xc3\xbc.de", 4090, 0, &n);
    assert_int_equal(mstdn_status_length("", 0, s, n), 23);
    free(s);
    s = long_url("\xc3\xbc.de", 4091, 0, &n);
    assert_int_equal(mstdn_status_length("", 0, s, n), 4091);
    free(s);

    /* no URL starts inside one dropped (twitter-text's scan resumes after
     * it), but hashtags are found there (Mastodon's scan of its own) */
    s = long_url("ex.com", 5000, 0, &n);
    memcpy(s + 4000, "http://b.com/", 13);
    memcpy(s + 4500, "&#tag&", 6);
    assert_int_equal(mstdn_text_entities(s, n, e, 2), 1);
    assert_int_equal(e[0].type, MSTDN_ENTITY_HASHTAG);
    assert_int_equal(e[0].start, 4501);
    free(s);

    /* a host ToASCII refuses (a label over 63 characters) is no URL */
    s = "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ".com";
    n = strlen(s);
    assert_int_equal(mstdn_text_entities(s, n, e, 2), 0);
    assert_int_equal(mstdn_status_length("", 0, s, n), n);
    s = "https://aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ".com";
    assert_int_equal(mstdn_text_entities(s, strlen(s), e, 2), 1);
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
        cmocka_unit_test(links_more),
        cmocka_unit_test(hashtags_more),
        cmocka_unit_test(mentions_more),
        cmocka_unit_test(entities_more),
        cmocka_unit_test(strip),
        cmocka_unit_test(status_length),
        cmocka_unit_test(status_length_spoiler),
        cmocka_unit_test(status_length_long_urls),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
