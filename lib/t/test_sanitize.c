/*
 * Unit tests of lib/mstdn_sanitize: Mastodon's own cases
 * (spec/lib/sanitize/config_spec.rb, MASTODON_STRICT) and the tokenizer's
 * and bounds' edges.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_sanitize.h"


#define LINK  " rel=\"nofollow noopener\" target=\"_blank\""


static void
check(const char *in, const char *want)
{
    int     rc;
    char   *out;
    size_t  n;

    rc = mstdn_sanitize(in, strlen(in), 1 << 20, 1 << 22, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_OK);
    assert_int_equal(strlen(out), n);
    if (strcmp(out, want) != 0) {
        print_error("in:   %s\nwant: %s\ngot:  %s\n", in, want, out);
    }
    assert_string_equal(out, want);
    free(out);
}


/* spec/lib/sanitize/config_spec.rb */
static void
mastodon_spec(void **state)
{
    check("<h1>Foo</h1>", "<p><strong>Foo</strong></p>");
    check("<p>Check out:</p><ul><li>Foo</li><li>Bar</li></ul>",
          "<p>Check out:</p><ul><li>Foo</li><li>Bar</li></ul>");
    check("<p>Check out:</p><ol start=\"3\" reversed=\"\"><li>Foo</li>"
          "<li>Bar</li></ol>",
          "<p>Check out:</p><ol start=\"3\" reversed=\"\"><li>Foo</li>"
          "<li>Bar</li></ol>");
    check("<p><ruby>\xe6\x98\x8e\xe6\x97\xa5 <rp>(</rp><rt>Ashita</rt>"
          "<rp>)</rp></ruby></p>",
          "<p><ruby>\xe6\x98\x8e\xe6\x97\xa5 <rp>(</rp><rt>Ashita</rt>"
          "<rp>)</rp></ruby></p>");
    check("<a>Test</a>", "Test");
    check("<a><span class=\"invisible\">foo&amp;</span><span>Test</span></a>",
          "foo&amp;Test");
    check("<a href=\"foo://bar\">Test</a>", "Test");
    check("<a href=\"foo://bar\">Test&lt;a href=\"https://example.com\"&gt;"
          "test&lt;/a&gt;</a>",
          "Test&lt;a href=\"https://example.com\"&gt;test&lt;/a&gt;");
    check("<a href=\"http://example.com\">Test</a>",
          "<a href=\"http://example.com\"" LINK ">Test</a>");
    check("<a href=\"http://example.com\" translate=\"no\">Test</a>",
          "<a href=\"http://example.com\" translate=\"no\"" LINK ">Test</a>");
    check("<a href=\"http://example.com\" translate=\"foo\">Test</a>",
          "<a href=\"http://example.com\"" LINK ">Test</a>");
    check("<a href=\" https://google.fr\">Test</a>", "Test");
    check("<a href=\"dweb:/a/foo\">Test</a>",
          "<a href=\"dweb:/a/foo\"" LINK ">Test</a>");
}


/* what Mastodon itself sends: mentions, hashtags, links, invisible parts */
static void
mastodon_html(void **state)
{
    check("<p><span class=\"h-card\" translate=\"no\"><a href=\"https://ex"
          ".com/@bob\" class=\"u-url mention\">@<span>bob</span></a></span>"
          " hi <a href=\"https://ex.com/tags/cat\" class=\"mention hashtag\""
          " rel=\"tag\">#<span>cat</span></a></p>",
          "<p><span class=\"h-card\" translate=\"no\"><a href=\"https://ex"
          ".com/@bob\" class=\"u-url mention\"" LINK ">@<span>bob</span>"
          "</a></span> hi <a href=\"https://ex.com/tags/cat\" class=\""
          "mention hashtag\" rel=\"nofollow noopener\" target=\"_blank\">#"
          "<span>cat</span></a></p>");

    /* rel replaced where it stands, target always added at the end */
    check("<a rel=\"me\" target=\"_top\" href=\"https://a\">x</a>",
          "<a rel=\"nofollow noopener\" href=\"https://a\" target=\"_blank\">"
          "x</a>");

    check("<a href=\"https://a.b/c\"><span class=\"invisible\">https://"
          "</span><span class=\"ellipsis\">a.b</span><span class=\"invisible"
          "\">/c</span></a>",
          "<a href=\"https://a.b/c\"" LINK "><span class=\"invisible\">"
          "https://</span><span class=\"ellipsis\">a.b</span><span class=\""
          "invisible\">/c</span></a>");

    /* quote posts (Mastodon 4.4) */
    check("<p class=\"quote-inline\">RE: <a href=\"https://a/1\">x</a></p>",
          "<p class=\"quote-inline\">RE: <a href=\"https://a/1\"" LINK ">x"
          "</a></p>");
}


static void
attributes(void **state)
{
    /* classes filtered, other attributes dropped, duplicates: the first */
    check("<span class=\"foo h-card bar\tmention e-x\" style=\"x\" id=1>a"
          "</span>",
          "<span class=\"h-card mention e-x\">a</span>");
    check("<span class=\"nope\">a</span>", "<span class=\"\">a</span>");
    check("<span class=\"mention\" class=\"hashtag\">a</span>",
          "<span class=\"mention\">a</span>");
    check("<p class=x style=y onclick=\"alert(1)\">a</p>",
          "<p class=\"\">a</p>");
    check("<li value=3 class=mention>a</li>", "<li value=\"3\">a</li>");
    check("<b class=mention>a</b>", "<b>a</b>");

    /* values decoded, then escaped again */
    check("<a href='https://a/?x=1&amp;y=\"2\"'>l</a>",
          "<a href=\"https://a/?x=1&amp;y=&quot;2&quot;\"" LINK ">l</a>");
    check("<a href=https://a/b?c=<d>>l</a>",
          "<a href=\"https://a/b?c=&lt;d\"" LINK ">&gt;l</a>");

    /* schemes */
    check("<a href=\"javascript:alert(1)\">x</a>", "x");
    check("<a href=\"JaVaScRiPt:alert(1)\">x</a>", "x");
    check("<a href=\"java&#115;cript:alert(1)\">x</a>", "x");
    check("<a href=\"data:text/html,<script>\">x</a>", "x");
    check("<a href=\"/relative\">x</a>", "x");
    check("<a href=\"HTTPS://A\">x</a>",
          "<a href=\"HTTPS://A\"" LINK ">x</a>");
    check("<a href=\"gemini://a\">x</a>",
          "<a href=\"gemini://a\"" LINK ">x</a>");
    check("<a href=\"xmpp:a@b\">x</a>", "<a href=\"xmpp:a@b\"" LINK ">x</a>");
}


static void
elements(void **state)
{
    /* removed with their content */
    check("a<script>alert('<p>x</p>')</script>b", "ab");
    check("a<style>p{}</style>b<SCRIPT>x</SCRIPT >c", "abc");
    check("a<iframe src=x>y</iframe>b", "ab");
    check("a<svg><svg></svg><p>x</p></svg>b", "ab");
    check("a<svg/>b", "ab");
    check("a<math><mi>x</mi></math>b", "ab");
    check("a<plaintext><p>b", "a");
    check("a<script>never closed", "a");

    /* removed, content kept, spaces around block elements */
    check("<div>a</div><div>b</div>", " a  b ");
    check("a<img src=x onerror=alert(1)>b<hr>c", "ab  c");
    check("<font color=red>a</font>", "a");
    check("<textarea>a<b>&amp;</textarea>", "a&lt;b&gt;&amp;");

    /* comments and the like */
    check("a<!-- <script> -->b<!--->c<!-->d", "abcd");
    check("a<!doctype html>b<?xml x?>c</>d", "abcd");
    check("a<!-- never closed", "a");

    /* implied and missing end tags */
    check("<p>a<p>b", "<p>a</p><p>b</p>");
    check("<p>a<div>b</div>c", "<p>a</p> b c");
    check("<ul><li>a<li>b</ul>", "<ul><li>a</li><li>b</li></ul>");
    check("<b><i>a</b>c", "<b><i>a</i></b>c");
    check("a</p>b", "a<p></p>b");
    check("a</br>b", "a<br>b");
    check("<br/><br />", "<br><br>");
    check("<h2>a<h3>b", "<p><strong>a</strong></p><p><strong>b</strong></p>");
    check("<a href=https://x>a<a href=https://y>b",
          "<a href=\"https://x\"" LINK ">a</a><a href=\"https://y\"" LINK
          ">b</a>");
    check("<em>a</strong>b", "<em>ab</em>");
    check("<blockquote><pre><code>x</code></pre></blockquote><del>d</del>"
          "<s>s</s><u>u</u>",
          "<blockquote><pre><code>x</code></pre></blockquote><del>d</del>"
          "<s>s</s><u>u</u>");

    /* a tag cut by the end of the input goes */
    check("a<b", "a");
    check("a<p class=\"x", "a");
    check("a< b", "a&lt; b");
}


static void
text(void **state)
{
    /* character references, and serialization of what they give */
    check("&lt;&gt;&amp;&quot;&apos;&#39;&#x41;&#65;&nbsp;\xc2\xa0",
          "&lt;&gt;&amp;\"''AA&nbsp;&nbsp;");
    check("&hellip;&mdash;&unknown;&amp", "\xe2\x80\xa6\xe2\x80\x94"
          "&amp;unknown;&amp;amp");
    check("&#0;&#x110000;&#xd800;&#128;&#9999999999;",
          "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xe2\x82\xac\xef\xbf\xbd");
    check("&#;&#x;", "&amp;#;&amp;#x;");
    check("a\r\nb\rc", "a\nb\nc");
    check("\"quotes\" stay in text", "\"quotes\" stay in text");
    check("", "");
}


static void
bounds(void **state)
{
    int     rc, i;
    char   *out, *in;
    size_t  n, len;

    /* not UTF-8 */
    rc = mstdn_sanitize("a\xff", 2, 100, 100, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_EINVAL);
    assert_null(out);

    /* NUL bytes go */
    rc = mstdn_sanitize("a\0b", 3, 100, 100, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_OK);
    assert_string_equal(out, "ab");
    free(out);

    /* input and output bounds */
    rc = mstdn_sanitize("abcd", 4, 3, 100, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_ETOOBIG);
    rc = mstdn_sanitize("&&&&", 4, 100, 10, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_ETOOBIG);
    assert_null(out);
    rc = mstdn_sanitize("&&", 2, 100, 10, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_OK);
    assert_string_equal(out, "&amp;&amp;");
    free(out);

    /* nesting: deeper tags go, their text stays, all is closed */
    len = 10000 * 3 + 1;
    in = malloc(len + 1);
    for (i = 0; i < 10000; i++) {
        memcpy(in + i * 3, "<b>", 3);
    }
    in[len - 1] = 'x';
    rc = mstdn_sanitize(in, len, len, len * 2, &out, &n);
    assert_int_equal(rc, MSTDN_SANITIZE_OK);
    assert_int_equal(n, MSTDN_SANITIZE_MAX_DEPTH * 7 + 1);
    assert_memory_equal(out, "<b><b>", 6);
    assert_memory_equal(out + MSTDN_SANITIZE_MAX_DEPTH * 3, "x</b>", 5);
    free(out);
    free(in);
}


static void
charref(void **state)
{
    char         o[4];
    size_t       olen;
    const char  *in;

    (void) state;

    in = "&amp;x";
    assert_int_equal(mstdn_charref(in, in + strlen(in), o, &olen), 5);
    assert_int_equal(olen, 1);
    assert_memory_equal(o, "&", 1);

    in = "&#x20AC;";
    assert_int_equal(mstdn_charref(in, in + strlen(in), o, &olen), 8);
    assert_int_equal(olen, 3);
    assert_memory_equal(o, "\xe2\x82\xac", 3);

    in = "&#39;";
    assert_int_equal(mstdn_charref(in, in + strlen(in), o, &olen), 5);
    assert_memory_equal(o, "'", 1);

    in = "& cats";
    assert_int_equal(mstdn_charref(in, in + strlen(in), o, &olen), 0);

    in = "&unknown;";
    assert_int_equal(mstdn_charref(in, in + strlen(in), o, &olen), 0);
}


static void
prefix(void **state)
{
    assert_int_equal(mstdn_utf8_prefix("abc", 3, 2), 2);
    assert_int_equal(mstdn_utf8_prefix("abc", 3, 5), 3);
    assert_int_equal(mstdn_utf8_prefix("\xc3\xa9\xc3\xa9", 4, 1), 2);
    assert_int_equal(mstdn_utf8_prefix("\xf0\x9f\x90\x98x", 5, 1), 4);
    assert_int_equal(mstdn_utf8_prefix("abc", 3, 0), 0);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mastodon_spec),
        cmocka_unit_test(mastodon_html),
        cmocka_unit_test(attributes),
        cmocka_unit_test(elements),
        cmocka_unit_test(text),
        cmocka_unit_test(bounds),
        cmocka_unit_test(prefix),
        cmocka_unit_test(charref),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("sanitize", tests, NULL, NULL);
}
