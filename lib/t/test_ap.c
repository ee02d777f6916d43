/* Unit tests of lib/mstdn_ap: ActivityPub documents as Mastodon 4.x writes
 * them, compared byte for byte. */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "mstdn_ap.h"
#include "mstdn_json.h"

#define B  "https://example.com"
#define AS "\"https://www.w3.org/ns/activitystreams\""
#define PUB "\"https://www.w3.org/ns/activitystreams#Public\""

/* the Note's own extensions (NoteSerializer: atom_uri, conversation,
 * sensitive, voters_count) */
#define NOTE_EXT                                                              \
    "\"ostatus\":\"http://ostatus.org#\",\"atomUri\":\"ostatus:atomUri\","     \
    "\"inReplyToAtomUri\":\"ostatus:inReplyToAtomUri\","                      \
    "\"conversation\":\"ostatus:conversation\",\"sensitive\":\"as:sensitive\","\
    "\"toot\":\"http://joinmastodon.org/ns#\","                               \
    "\"votersCount\":\"toot:votersCount\""

#define ACTOR_EXT                                                             \
    "\"manuallyApprovesFollowers\":\"as:manuallyApprovesFollowers\","         \
    "\"toot\":\"http://joinmastodon.org/ns#\","                               \
    "\"featured\":{\"@id\":\"toot:featured\",\"@type\":\"@id\"},"             \
    "\"featuredTags\":{\"@id\":\"toot:featuredTags\",\"@type\":\"@id\"},"     \
    "\"alsoKnownAs\":{\"@id\":\"as:alsoKnownAs\",\"@type\":\"@id\"},"         \
    "\"movedTo\":{\"@id\":\"as:movedTo\",\"@type\":\"@id\"},"                 \
    "\"schema\":\"http://schema.org#\","                                      \
    "\"PropertyValue\":\"schema:PropertyValue\","                             \
    "\"value\":\"schema:value\","                                             \
    "\"discoverable\":\"toot:discoverable\","                                 \
    "\"suspended\":\"toot:suspended\","                                       \
    "\"memorial\":\"toot:memorial\","                                         \
    "\"indexable\":\"toot:indexable\","                                       \
    "\"attributionDomains\":{\"@id\":\"toot:attributionDomains\","            \
    "\"@type\":\"@id\"}"


static yajl_gen  g;


static int
setup(void **state)
{
    g = yajl_gen_alloc(NULL);
    yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    return g ? 0 : -1;
}


static int
teardown(void **state)
{
    yajl_gen_free(g);
    return 0;
}


static void
expect(const char *want)
{
    const unsigned char  *buf;
    size_t                len;

    yajl_gen_get_buf(g, &buf, &len);

    if (len != strlen(want) || memcmp(buf, want, len) != 0) {
        fprintf(stderr, "# got:  %.*s\n# want: %s\n", (int) len, buf, want);
        fail();
    }

    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
}


/* the document ends with want */
static void
expect_tail(const char *want)
{
    const unsigned char  *buf;
    size_t                len, n;

    yajl_gen_get_buf(g, &buf, &len);
    n = strlen(want);

    if (len < n || memcmp(buf + len - n, want, n) != 0) {
        fprintf(stderr, "# got:  %.*s\n# want: ...%s\n", (int) len, buf,
                want);
        fail();
    }

    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
}


static void
uris(void **state)
{
    char  buf[128];

    assert_int_equal(mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_ACCOUNT,
                                  "alice", NULL), 31);
    assert_string_equal(buf, B "/users/alice");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_FEATURED_TAGS, "alice",
                 NULL);
    assert_string_equal(buf, B "/users/alice/collections/tags");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_KEY, "alice", NULL);
    assert_string_equal(buf, B "/users/alice#main-key");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_ACTIVITY, "alice", "12");
    assert_string_equal(buf, B "/users/alice/statuses/12/activity");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_STATUS_URL, "alice", "12");
    assert_string_equal(buf, B "/@alice/12");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_INSTANCE_URL, NULL, NULL);
    assert_string_equal(buf, B "/about/more?instance_actor=true");

    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_SHARED_INBOX, NULL, NULL);
    assert_string_equal(buf, B "/inbox");

    /* a tag's name %-encoded as a path segment */
    mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_TAG, "caf\xc3\xa9", NULL);
    assert_string_equal(buf, B "/tags/caf%C3%A9");
    assert_int_equal(mstdn_ap_uri(buf, 30, B, MSTDN_AP_URI_TAG,
                                  "\xc3\xa9\xc3\xa9\xc3\xa9", NULL), -1);

    /* too small, a status kind without an id, an account kind without a
     * name: -1 and an empty string */
    assert_int_equal(mstdn_ap_uri(buf, 10, B, MSTDN_AP_URI_ACCOUNT, "alice",
                                  NULL), -1);
    assert_string_equal(buf, "");
    assert_int_equal(mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_STATUS,
                                  "alice", NULL), -1);
    assert_int_equal(mstdn_ap_uri(buf, sizeof(buf), B, MSTDN_AP_URI_INBOX,
                                  NULL, NULL), -1);

    mstdn_ap_conversation_tag(buf, sizeof(buf), "example.com", "2024-05-01",
                              "7");
    assert_string_equal(buf, "tag:example.com,2024-05-01:objectId=7:"
                             "objectType=Conversation");
}


static void
actor_person(void **state)
{
    mstdn_ap_actor_t  a;
    mstdn_ap_field_t  fields[] = { { "Site", "<a href=\"x\">x</a>" } };
    mstdn_ap_tag_t    tags[] = {
        { MSTDN_AP_TAG_HASHTAG, NULL, "cats", NULL, NULL, NULL, NULL, NULL },
    };

    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "alice";
    a.name = "Alice \"A\"";
    a.summary = "<p>hi</p>";
    a.published = "2024-05-01T00:00:00Z";
    a.public_key_pem = "-----BEGIN PUBLIC KEY-----\nX\n-----END PUBLIC KEY-----\n";
    a.locked = 1;
    a.discoverable = 1;
    a.fields = fields;
    a.nfields = 1;
    a.tags = tags;
    a.ntags = 1;
    a.icon.url = B "/a.png";
    a.icon.media_type = "image/png";

    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect("{\"@context\":[" AS ",\"https://w3id.org/security/v1\",{"
           ACTOR_EXT ",\"Hashtag\":\"as:Hashtag\","
           "\"focalPoint\":{\"@container\":\"@list\",\"@id\":\"toot:focalPoint\"}}],"
           "\"id\":\"" B "/users/alice\",\"type\":\"Person\","
           "\"following\":\"" B "/users/alice/following\","
           "\"followers\":\"" B "/users/alice/followers\","
           "\"inbox\":\"" B "/users/alice/inbox\","
           "\"outbox\":\"" B "/users/alice/outbox\","
           "\"featured\":\"" B "/users/alice/collections/featured\","
           "\"featuredTags\":\"" B "/users/alice/collections/tags\","
           "\"preferredUsername\":\"alice\",\"name\":\"Alice \\\"A\\\"\","
           "\"summary\":\"<p>hi</p>\",\"url\":\"" B "/@alice\","
           "\"manuallyApprovesFollowers\":true,\"discoverable\":true,"
           "\"indexable\":false,\"published\":\"2024-05-01T00:00:00Z\","
           "\"memorial\":false,"
           "\"publicKey\":{\"id\":\"" B "/users/alice#main-key\","
           "\"owner\":\"" B "/users/alice\",\"publicKeyPem\":"
           "\"-----BEGIN PUBLIC KEY-----\\nX\\n-----END PUBLIC KEY-----\\n\"},"
           "\"tag\":[{\"type\":\"Hashtag\",\"href\":\"" B "/tags/cats\","
           "\"name\":\"#cats\"}],"
           "\"attachment\":[{\"type\":\"PropertyValue\",\"name\":\"Site\","
           "\"value\":\"<a href=\\\"x\\\">x</a>\"}],"
           "\"endpoints\":{\"sharedInbox\":\"" B "/inbox\"},"
           "\"icon\":{\"type\":\"Image\",\"mediaType\":\"image/png\","
           "\"url\":\"" B "/a.png\"}}");

    /* a bot without a display name: Service, name = username */
    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "bot";
    a.type = MSTDN_AP_SERVICE;
    a.name = "";
    a.published = "2024-05-01T00:00:00Z";
    a.public_key_pem = "K";
    a.moved_to = B "/users/bot2";

    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect("{\"@context\":[" AS ",\"https://w3id.org/security/v1\",{"
           ACTOR_EXT "}],"
           "\"id\":\"" B "/users/bot\",\"type\":\"Service\","
           "\"following\":\"" B "/users/bot/following\","
           "\"followers\":\"" B "/users/bot/followers\","
           "\"inbox\":\"" B "/users/bot/inbox\","
           "\"outbox\":\"" B "/users/bot/outbox\","
           "\"featured\":\"" B "/users/bot/collections/featured\","
           "\"featuredTags\":\"" B "/users/bot/collections/tags\","
           "\"preferredUsername\":\"bot\",\"name\":\"bot\","
           "\"summary\":\"\",\"url\":\"" B "/@bot\","
           "\"manuallyApprovesFollowers\":false,\"discoverable\":false,"
           "\"indexable\":false,\"published\":\"2024-05-01T00:00:00Z\","
           "\"memorial\":false,\"movedTo\":\"" B "/users/bot2\","
           "\"publicKey\":{\"id\":\"" B "/users/bot#main-key\","
           "\"owner\":\"" B "/users/bot\",\"publicKeyPem\":\"K\"},"
           "\"tag\":[],\"attachment\":[],"
           "\"endpoints\":{\"sharedInbox\":\"" B "/inbox\"}}");
}


static void
actor_suspended_and_instance(void **state)
{
    mstdn_ap_actor_t  a;
    mstdn_ap_field_t  fields[] = { { "Site", "x" } };

    /* suspended: nothing of the profile, "suspended": true */
    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "gone";
    a.name = "Gone";
    a.summary = "<p>bio</p>";
    a.published = "2024-05-01T00:00:00Z";
    a.public_key_pem = "K";
    a.locked = 1;
    a.discoverable = 1;
    a.suspended = 1;
    a.fields = fields;
    a.nfields = 1;
    a.icon.url = B "/a.png";
    a.icon.media_type = "image/png";

    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect("{\"@context\":[" AS ",\"https://w3id.org/security/v1\",{"
           ACTOR_EXT "}],"
           "\"id\":\"" B "/users/gone\",\"type\":\"Person\","
           "\"following\":\"" B "/users/gone/following\","
           "\"followers\":\"" B "/users/gone/followers\","
           "\"inbox\":\"" B "/users/gone/inbox\","
           "\"outbox\":\"" B "/users/gone/outbox\","
           "\"featured\":\"" B "/users/gone/collections/featured\","
           "\"featuredTags\":\"" B "/users/gone/collections/tags\","
           "\"preferredUsername\":\"gone\",\"name\":\"gone\","
           "\"summary\":\"\",\"url\":\"" B "/@gone\","
           "\"manuallyApprovesFollowers\":false,\"discoverable\":false,"
           "\"indexable\":false,\"published\":\"2024-05-01T00:00:00Z\","
           "\"memorial\":false,\"suspended\":true,"
           "\"publicKey\":{\"id\":\"" B "/users/gone#main-key\","
           "\"owner\":\"" B "/users/gone\",\"publicKeyPem\":\"K\"},"
           "\"tag\":[],\"attachment\":[],"
           "\"endpoints\":{\"sharedInbox\":\"" B "/inbox\"}}");

    /* the instance actor */
    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "example.com";
    a.type = MSTDN_AP_APPLICATION;
    a.published = "2024-05-01T00:00:00Z";
    a.public_key_pem = "K";
    a.locked = 1;

    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect("{\"@context\":[" AS ",\"https://w3id.org/security/v1\",{"
           ACTOR_EXT "}],"
           "\"id\":\"" B "/actor\",\"type\":\"Application\","
           "\"inbox\":\"" B "/actor/inbox\","
           "\"outbox\":\"" B "/actor/outbox\","
           "\"preferredUsername\":\"example.com\","
           "\"url\":\"" B "/about/more?instance_actor=true\","
           "\"manuallyApprovesFollowers\":true,"
           "\"publicKey\":{\"id\":\"" B "/actor#main-key\","
           "\"owner\":\"" B "/actor\",\"publicKeyPem\":\"K\"},"
           "\"endpoints\":{\"sharedInbox\":\"" B "/inbox\"}}");
}


#define ACC(s)  mstdn_ap_accept(s, sizeof(s) - 1)

static void
accept(void **state)
{
    assert_int_equal(mstdn_ap_accept(NULL, 0), MSTDN_AP_WANTS_HTML);
    assert_int_equal(ACC(""), MSTDN_AP_WANTS_HTML);
    assert_int_equal(ACC("application/activity+json"), MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("application/ld+json; profile=\"https://www.w3.org/"
                         "ns/activitystreams\""), MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("application/json"), MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("Application/Activity+JSON"), MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("application/activity+json, application/ld+json"),
                     MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("text/html"), MSTDN_AP_WANTS_HTML);
    assert_int_equal(ACC("*/*"), MSTDN_AP_WANTS_HTML);

    /* a browser's header, and any list with the any-type range */
    assert_int_equal(ACC("text/html,application/xhtml+xml,application/xml;"
                         "q=0.9,*/*;q=0.8"), MSTDN_AP_WANTS_HTML);
    assert_int_equal(ACC("application/activity+json, */*"),
                     MSTDN_AP_WANTS_HTML);

    /* by q */
    assert_int_equal(ACC("text/html;q=0.5, application/activity+json"),
                     MSTDN_AP_WANTS_JSON);
    assert_int_equal(ACC("application/activity+json;q=0.1, text/html;q=0.2"),
                     MSTDN_AP_WANTS_HTML);
    assert_int_equal(ACC("application/activity+json;q=0, text/html;q=0.2"),
                     MSTDN_AP_WANTS_HTML);

    /* nothing we have */
    assert_int_equal(ACC("image/png"), MSTDN_AP_WANTS_NONE);
    assert_int_equal(ACC("image/png, application/xml"), MSTDN_AP_WANTS_NONE);
    assert_int_equal(ACC(" ; , ;"), MSTDN_AP_WANTS_HTML);
}


static void
note_public(void **state)
{
    mstdn_ap_status_t  s;
    const char        *replies[] = { B "/users/alice/statuses/13" };
    mstdn_ap_tag_t     tags[] = {
        { MSTDN_AP_TAG_MENTION, "https://remote.example/users/bob",
          "bob@remote.example", NULL, NULL, NULL, NULL, NULL },
        { MSTDN_AP_TAG_MENTION, NULL, "carol", "carol", NULL, NULL, NULL,
          NULL },
        { MSTDN_AP_TAG_HASHTAG, NULL, "cats", NULL, NULL, NULL, NULL, NULL },
    };

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "12";
    s.visibility = MSTDN_AP_PUBLIC_VIS;
    s.published = "2024-05-01T10:00:00Z";
    s.content = "<p>hi</p>";
    s.language = "en";
    s.conversation = "tag:example.com,2024-05-01:objectId=7:"
                     "objectType=Conversation";
    s.tags = tags;
    s.ntags = 3;
    s.self_replies = replies;
    s.nself_replies = 1;
    s.last_reply_id = "13";
    s.favourites_count = 2;
    s.reblogs_count = 1;

    assert_int_equal(mstdn_ap_note(g, &s), 0);
    expect("{\"@context\":[" AS ",{" NOTE_EXT ",\"Hashtag\":\"as:Hashtag\"}],"
           "\"id\":\"" B "/users/alice/statuses/12\",\"type\":\"Note\","
           "\"summary\":null,\"inReplyTo\":null,"
           "\"published\":\"2024-05-01T10:00:00Z\","
           "\"url\":\"" B "/@alice/12\","
           "\"attributedTo\":\"" B "/users/alice\","
           "\"to\":[" PUB "],"
           "\"cc\":[\"" B "/users/alice/followers\","
           "\"https://remote.example/users/bob\",\"" B "/users/carol\"],"
           "\"sensitive\":false,"
           "\"atomUri\":\"" B "/users/alice/statuses/12\","
           "\"inReplyToAtomUri\":null,"
           "\"conversation\":\"tag:example.com,2024-05-01:objectId=7:"
           "objectType=Conversation\","
           "\"content\":\"<p>hi</p>\",\"contentMap\":{\"en\":\"<p>hi</p>\"},"
           "\"attachment\":[],"
           "\"tag\":[{\"type\":\"Mention\","
           "\"href\":\"https://remote.example/users/bob\","
           "\"name\":\"@bob@remote.example\"},"
           "{\"type\":\"Mention\",\"href\":\"" B "/users/carol\","
           "\"name\":\"@carol\"},"
           "{\"type\":\"Hashtag\",\"href\":\"" B "/tags/cats\","
           "\"name\":\"#cats\"}],"
           "\"replies\":{\"id\":\"" B "/users/alice/statuses/12/replies\","
           "\"type\":\"Collection\",\"first\":{\"type\":\"CollectionPage\","
           "\"next\":\"" B "/users/alice/statuses/12/replies?min_id=13&"
           "page=true\",\"partOf\":\"" B "/users/alice/statuses/12/replies\","
           "\"items\":[\"" B "/users/alice/statuses/13\"]}},"
           "\"likes\":{\"id\":\"" B "/users/alice/statuses/12/likes\","
           "\"type\":\"Collection\",\"totalItems\":2},"
           "\"shares\":{\"id\":\"" B "/users/alice/statuses/12/shares\","
           "\"type\":\"Collection\",\"totalItems\":1}}");
}


/* the document holds want */
static void
expect_part(const char *want)
{
    const unsigned char  *buf;
    size_t                len;

    yajl_gen_get_buf(g, &buf, &len);

    if (memmem(buf, len, want, strlen(want)) == NULL) {
        fprintf(stderr, "# got:  %.*s\n# want: ...%s...\n", (int) len, buf,
                want);
        fail();
    }

    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
}


/* the actor's hashtags: its note's (Account#tags), after the emojis, each
 * once by its normalized name (Tag#name), none in a URL; none for a
 * suspended actor */
static void
actor_note_hashtags(void **state)
{
    mstdn_ap_actor_t  a;
    mstdn_ap_tag_t    emoji[] = {
        { MSTDN_AP_TAG_EMOJI, NULL, "blob", NULL, B "/emojis/1",
          "2024-05-01T00:00:00Z", B "/blob.png", "image/png" },
    };

    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "alice";
    a.published = "2024-05-01T00:00:00Z";
    a.public_key_pem = "K";
    a.tags = emoji;
    a.ntags = 1;
    a.note_text = "I like #Cats and #dogs :blob:\n#cats again, #CATS, not "
                  "https://x.example/#fragment";

    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect_part("\"Hashtag\":\"as:Hashtag\"");
    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect_part("\"tag\":[{\"id\":\"" B "/emojis/1\",\"type\":\"Emoji\"");
    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect_part("\"url\":\"" B "/blob.png\"}},"
                "{\"type\":\"Hashtag\",\"href\":\"" B "/tags/cats\","
                "\"name\":\"#cats\"},"
                "{\"type\":\"Hashtag\",\"href\":\"" B "/tags/dogs\","
                "\"name\":\"#dogs\"}],\"attachment\"");

    /* no hashtag: no Hashtag in the context */
    a.note_text = "no tags";
    a.ntags = 0;
    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect_part("\"tag\":[],");
    a.note_text = "#only";
    a.suspended = 1;
    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    expect_part("\"tag\":[],");
}


/* attachments (mastodon_ap_attachments()): Documents, the url at the
 * original file's Paperclip path, and blurhash/focalPoint in the context */
static void
note_attachments(void **state)
{
    mstdn_ap_status_t  s;
    mstdn_arena_t     *arena;
    mstdn_alloc_t      a;
    mstdn_limits_t     limits = { 8, 1000 };
    mstdn_value_t     *media;
    char               err[64];
    const char        *json =
        "[{\"id\":\"109876543210\",\"file\":\"ab.png\","
        "\"mediaType\":\"image/png\",\"name\":\"a cat\","
        "\"blurhash\":\"LEHV6nWB2yk8pyo0adR*.7kCMdnj\",\"width\":640,"
        "\"height\":480,\"focus\":[0.5,-0.25]},"
        "{\"id\":\"7\",\"file\":\"c.mp4\",\"mediaType\":\"video/mp4\","
        "\"name\":null,\"blurhash\":null,\"width\":null,\"height\":null,"
        "\"focus\":null},"
        "{\"id\":\"8\",\"file\":null}]";

    arena = mstdn_arena_create();
    assert_non_null(arena);
    mstdn_arena_allocator(arena, &a);

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "12";
    s.visibility = MSTDN_AP_PUBLIC_VIS;
    s.published = "2024-05-01T10:00:00Z";
    s.content = "<p>look</p>";

    assert_int_equal(mstdn_json_parse(json, strlen(json), &a, &limits, &media,
                                      err, sizeof(err)), MSTDN_OK);
    s.attachments = media;

    assert_int_equal(mstdn_ap_note(g, &s), 0);
    expect_part("\"attachment\":[{\"type\":\"Document\","
                "\"mediaType\":\"image/png\","
                "\"url\":\"" B "/system/media_attachments/files/"
                "109/876/543/210/original/ab.png\","
                "\"name\":\"a cat\","
                "\"blurhash\":\"LEHV6nWB2yk8pyo0adR*.7kCMdnj\","
                "\"focalPoint\":[0.5,-0.25],\"width\":640,\"height\":480},"
                "{\"type\":\"Document\",\"mediaType\":\"video/mp4\","
                "\"url\":\"" B "/system/media_attachments/files/"
                "000/000/007/original/c.mp4\","
                "\"name\":null,\"blurhash\":null}],\"tag\":[]");

    assert_int_equal(mstdn_ap_note(g, &s), 0);
    expect_part("\"blurhash\":\"toot:blurhash\"");

    mstdn_arena_destroy(arena);
}


/* a poll: a Question as ActivityPub::NoteSerializer writes it */
static void
note_question(void **state)
{
    mstdn_ap_status_t  s;
    mstdn_arena_t     *arena;
    mstdn_alloc_t      a;
    mstdn_limits_t     limits = { 8, 1000 };
    mstdn_value_t     *poll;
    char               err[64];
    const char        *one =
        "{\"id\":\"5\",\"expires_at\":\"2024-05-02T10:00:00.250Z\","
        "\"expired\":false,\"multiple\":false,\"votes_count\":3,"
        "\"voters_count\":null,\"options\":[{\"title\":\"tea\","
        "\"votes_count\":2},{\"title\":\"coffee\",\"votes_count\":1}],"
        "\"emojis\":[]}";
    const char        *any =
        "{\"id\":\"6\",\"expires_at\":\"2024-05-02T10:00:00.000Z\","
        "\"expired\":true,\"multiple\":true,\"votes_count\":0,"
        "\"voters_count\":4,\"options\":[{\"title\":\"a\","
        "\"votes_count\":null}],\"emojis\":[]}";

    arena = mstdn_arena_create();
    assert_non_null(arena);
    mstdn_arena_allocator(arena, &a);

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "12";
    s.visibility = MSTDN_AP_PUBLIC_VIS;
    s.published = "2024-05-01T10:00:00Z";
    s.content = "<p>tea?</p>";

    assert_int_equal(mstdn_json_parse(one, strlen(one), &a, &limits, &poll,
                                      err, sizeof(err)), MSTDN_OK);
    s.poll = poll;

    assert_int_equal(mstdn_ap_note(g, &s), 0);
    expect("{\"@context\":[" AS ",{" NOTE_EXT "}],"
           "\"id\":\"" B "/users/alice/statuses/12\",\"type\":\"Question\","
           "\"summary\":null,\"inReplyTo\":null,"
           "\"published\":\"2024-05-01T10:00:00Z\","
           "\"url\":\"" B "/@alice/12\","
           "\"attributedTo\":\"" B "/users/alice\","
           "\"to\":[" PUB "],"
           "\"cc\":[\"" B "/users/alice/followers\"],"
           "\"sensitive\":false,"
           "\"atomUri\":\"" B "/users/alice/statuses/12\","
           "\"inReplyToAtomUri\":null,\"conversation\":null,"
           "\"content\":\"<p>tea?</p>\","
           "\"attachment\":[],\"tag\":[],"
           "\"replies\":{\"id\":\"" B "/users/alice/statuses/12/replies\","
           "\"type\":\"Collection\",\"first\":{\"type\":\"CollectionPage\","
           "\"next\":\"" B "/users/alice/statuses/12/replies?"
           "only_other_accounts=true&page=true\","
           "\"partOf\":\"" B "/users/alice/statuses/12/replies\","
           "\"items\":[]}},"
           "\"likes\":{\"id\":\"" B "/users/alice/statuses/12/likes\","
           "\"type\":\"Collection\",\"totalItems\":0},"
           "\"shares\":{\"id\":\"" B "/users/alice/statuses/12/shares\","
           "\"type\":\"Collection\",\"totalItems\":0},"
           "\"oneOf\":[{\"type\":\"Note\",\"name\":\"tea\","
           "\"replies\":{\"type\":\"Collection\",\"totalItems\":2}},"
           "{\"type\":\"Note\",\"name\":\"coffee\","
           "\"replies\":{\"type\":\"Collection\",\"totalItems\":1}}],"
           "\"endTime\":\"2024-05-02T10:00:00Z\"}");

    /* multiple, expired, voters known, totals hidden */
    assert_int_equal(mstdn_json_parse(any, strlen(any), &a, &limits, &poll,
                                      err, sizeof(err)), MSTDN_OK);
    s.poll = poll;

    assert_int_equal(mstdn_ap_note(g, &s), 0);
    expect_tail("\"anyOf\":[{\"type\":\"Note\",\"name\":\"a\","
                "\"replies\":{\"type\":\"Collection\","
                "\"totalItems\":null}}],"
                "\"endTime\":\"2024-05-02T10:00:00Z\","
                "\"closed\":\"2024-05-02T10:00:00Z\",\"votersCount\":4}");

    mstdn_arena_destroy(arena);
}


static void
addressing(void **state)
{
    mstdn_ap_status_t  s;
    const char        *to[8], *cc[8];
    char               bufs[4 * MSTDN_AP_URI_MAX];
    size_t             nto, ncc;
    mstdn_ap_tag_t     tags[] = {
        { MSTDN_AP_TAG_MENTION, "https://r.example/users/bob", "bob@r.example",
          NULL, NULL, NULL, NULL, NULL },
        { MSTDN_AP_TAG_MENTION, "https://r.example/users/bob", "bob@r.example",
          NULL, NULL, NULL, NULL, NULL },
    };

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "1";
    s.tags = tags;
    s.ntags = 2;

    /* unlisted: to followers, cc Public and the mentioned (once) */
    s.visibility = MSTDN_AP_UNLISTED;
    assert_int_equal(mstdn_ap_addressing(&s, to, &nto, cc, &ncc, bufs,
                                         sizeof(bufs)), 0);
    assert_int_equal(nto, 1);
    assert_string_equal(to[0], B "/users/alice/followers");
    assert_int_equal(ncc, 2);
    assert_string_equal(cc[0], MSTDN_AP_PUBLIC);
    assert_string_equal(cc[1], "https://r.example/users/bob");

    /* private: to followers, cc the mentioned */
    s.visibility = MSTDN_AP_PRIVATE;
    assert_int_equal(mstdn_ap_addressing(&s, to, &nto, cc, &ncc, bufs,
                                         sizeof(bufs)), 0);
    assert_int_equal(nto, 1);
    assert_string_equal(to[0], B "/users/alice/followers");
    assert_int_equal(ncc, 1);
    assert_string_equal(cc[0], "https://r.example/users/bob");

    /* direct: to the mentioned only, cc nobody */
    s.visibility = MSTDN_AP_DIRECT;
    assert_int_equal(mstdn_ap_addressing(&s, to, &nto, cc, &ncc, bufs,
                                         sizeof(bufs)), 0);
    assert_int_equal(nto, 1);
    assert_string_equal(to[0], "https://r.example/users/bob");
    assert_int_equal(ncc, 0);

    /* a reblog cc's the original's author first */
    s.visibility = MSTDN_AP_PUBLIC_VIS;
    s.ntags = 0;
    s.reblog_of_uri = "https://r.example/users/bob/statuses/9";
    s.reblog_account_uri = "https://r.example/users/bob";
    assert_int_equal(mstdn_ap_addressing(&s, to, &nto, cc, &ncc, bufs,
                                         sizeof(bufs)), 0);
    assert_int_equal(nto, 1);
    assert_string_equal(to[0], MSTDN_AP_PUBLIC);
    assert_int_equal(ncc, 2);
    assert_string_equal(cc[0], "https://r.example/users/bob");
    assert_string_equal(cc[1], B "/users/alice/followers");
}


static void
activities(void **state)
{
    mstdn_ap_status_t    s;
    mstdn_ap_activity_t  a, in;
    const char          *objs[] = { "https://r.example/users/bob",
                                    "https://r.example/users/bob/statuses/1" };

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "12";
    s.visibility = MSTDN_AP_DIRECT;
    s.published = "2024-05-01T10:00:00Z";
    s.summary = "cw";
    s.sensitive = 1;
    s.in_reply_to = "https://r.example/users/bob/statuses/1";
    s.content = "<p>x</p>";

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_CREATE;
    a.status = &s;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":[" AS ",{" NOTE_EXT "}],"
           "\"id\":\"" B "/users/alice/statuses/12/activity\","
           "\"type\":\"Create\",\"actor\":\"" B "/users/alice\","
           "\"published\":\"2024-05-01T10:00:00Z\",\"to\":[],\"cc\":[],"
           "\"object\":{\"id\":\"" B "/users/alice/statuses/12\","
           "\"type\":\"Note\",\"summary\":\"cw\","
           "\"inReplyTo\":\"https://r.example/users/bob/statuses/1\","
           "\"published\":\"2024-05-01T10:00:00Z\","
           "\"url\":\"" B "/@alice/12\","
           "\"attributedTo\":\"" B "/users/alice\",\"to\":[],\"cc\":[],"
           "\"sensitive\":true,"
           "\"atomUri\":\"" B "/users/alice/statuses/12\","
           "\"inReplyToAtomUri\":\"https://r.example/users/bob/statuses/1\","
           "\"conversation\":null,\"content\":\"<p>x</p>\","
           "\"attachment\":[],\"tag\":[],"
           "\"replies\":{\"id\":\"" B "/users/alice/statuses/12/replies\","
           "\"type\":\"Collection\",\"first\":{\"type\":\"CollectionPage\","
           "\"next\":\"" B "/users/alice/statuses/12/replies?"
           "only_other_accounts=true&page=true\","
           "\"partOf\":\"" B "/users/alice/statuses/12/replies\","
           "\"items\":[]}},"
           "\"likes\":{\"id\":\"" B "/users/alice/statuses/12/likes\","
           "\"type\":\"Collection\",\"totalItems\":0},"
           "\"shares\":{\"id\":\"" B "/users/alice/statuses/12/shares\","
           "\"type\":\"Collection\",\"totalItems\":0}}}");

    a.type = MSTDN_AP_DELETE_NOTE;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":[" AS ",{\"ostatus\":\"http://ostatus.org#\","
           "\"atomUri\":\"ostatus:atomUri\"}],"
           "\"id\":\"" B "/users/alice/statuses/12#delete\","
           "\"type\":\"Delete\",\"actor\":\"" B "/users/alice\","
           "\"to\":[" PUB "],"
           "\"object\":{\"id\":\"" B "/users/alice/statuses/12\","
           "\"type\":\"Tombstone\","
           "\"atomUri\":\"" B "/users/alice/statuses/12\"}}");

    /* Announce of a remote status: the object by URI */
    s.visibility = MSTDN_AP_PUBLIC_VIS;
    s.reblog_of_uri = "https://r.example/users/bob/statuses/1";
    s.reblog_account_uri = "https://r.example/users/bob";
    a.type = MSTDN_AP_ANNOUNCE;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice/statuses/12/activity\","
           "\"type\":\"Announce\",\"actor\":\"" B "/users/alice\","
           "\"published\":\"2024-05-01T10:00:00Z\",\"to\":[" PUB "],"
           "\"cc\":[\"https://r.example/users/bob\","
           "\"" B "/users/alice/followers\"],"
           "\"object\":\"https://r.example/users/bob/statuses/1\"}");

    /* a self-reblog of a private status: the Note inlined */
    {
        mstdn_ap_status_t  orig, rb;

        memset(&orig, 0, sizeof(orig));
        orig.base = B;
        orig.username = "alice";
        orig.id = "3";
        orig.visibility = MSTDN_AP_PRIVATE;
        orig.published = "2024-05-01T09:00:00Z";
        orig.content = "<p>p</p>";

        rb = orig;
        rb.id = "4";
        rb.published = "2024-05-01T10:00:00Z";
        rb.content = NULL;
        rb.reblog_of_uri = B "/users/alice/statuses/3";
        rb.reblog_account_uri = B "/users/alice";
        rb.reblog_inline = &orig;

        memset(&in, 0, sizeof(in));
        in.type = MSTDN_AP_ANNOUNCE;
        in.status = &rb;
        assert_int_equal(mstdn_ap_activity(g, &in), 0);
        {
            const unsigned char *buf;
            size_t               len;

            yajl_gen_get_buf(g, &buf, &len);
            assert_non_null(strstr((const char *) buf,
                "{\"@context\":[" AS ",{" NOTE_EXT "}],"
                "\"id\":\"" B "/users/alice/statuses/4/activity\","
                "\"type\":\"Announce\",\"actor\":\"" B "/users/alice\","
                "\"published\":\"2024-05-01T10:00:00Z\","
                "\"to\":[\"" B "/users/alice/followers\"],"
                "\"cc\":[\"" B "/users/alice\"],"
                "\"object\":{\"id\":\"" B "/users/alice/statuses/3\","
                "\"type\":\"Note\","));
            yajl_gen_clear(g);
            yajl_gen_reset(g, NULL);
        }
    }

    /* its Undo */
    memset(&in, 0, sizeof(in));
    in = a;
    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_UNDO;
    a.inner = &in;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice#announces/12/undo\","
           "\"type\":\"Undo\",\"actor\":\"" B "/users/alice\","
           "\"to\":[" PUB "],"
           "\"object\":{\"id\":\"" B "/users/alice/statuses/12/activity\","
           "\"type\":\"Announce\",\"actor\":\"" B "/users/alice\","
           "\"published\":\"2024-05-01T10:00:00Z\",\"to\":[" PUB "],"
           "\"cc\":[\"https://r.example/users/bob\","
           "\"" B "/users/alice/followers\"],"
           "\"object\":\"https://r.example/users/bob/statuses/1\"}}");

    /* Follow by its uri, Accept of it, Undo of a Like, Block, Move, Flag */
    memset(&in, 0, sizeof(in));
    in.type = MSTDN_AP_FOLLOW;
    in.id = "https://r.example/f1";
    in.actor = "https://r.example/users/bob";
    in.object = B "/users/alice";
    assert_int_equal(mstdn_ap_activity(g, &in), 0);
    expect("{\"@context\":" AS ",\"id\":\"https://r.example/f1\","
           "\"type\":\"Follow\",\"actor\":\"https://r.example/users/bob\","
           "\"object\":\"" B "/users/alice\"}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_ACCEPT;
    a.actor = B "/users/alice";
    a.rel_id = "5";
    a.inner = &in;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice#accepts/follows/5\","
           "\"type\":\"Accept\",\"actor\":\"" B "/users/alice\","
           "\"object\":{\"id\":\"https://r.example/f1\","
           "\"type\":\"Follow\",\"actor\":\"https://r.example/users/bob\","
           "\"object\":\"" B "/users/alice\"}}");

    a.type = MSTDN_AP_REJECT;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice#rejects/follows/5\","
           "\"type\":\"Reject\",\"actor\":\"" B "/users/alice\","
           "\"object\":{\"id\":\"https://r.example/f1\","
           "\"type\":\"Follow\",\"actor\":\"https://r.example/users/bob\","
           "\"object\":\"" B "/users/alice\"}}");

    memset(&in, 0, sizeof(in));
    in.type = MSTDN_AP_LIKE;
    in.actor = B "/users/alice";
    in.object = "https://r.example/users/bob/statuses/1";
    in.rel_id = "8";
    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_UNDO;
    a.inner = &in;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice#likes/8/undo\","
           "\"type\":\"Undo\",\"actor\":\"" B "/users/alice\","
           "\"object\":{\"id\":\"" B "/users/alice#likes/8\","
           "\"type\":\"Like\",\"actor\":\"" B "/users/alice\","
           "\"object\":\"https://r.example/users/bob/statuses/1\"}}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_BLOCK;
    a.actor = B "/users/alice";
    a.object = "https://r.example/users/bob";
    a.rel_id = "3";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice#blocks/3\","
           "\"type\":\"Block\",\"actor\":\"" B "/users/alice\","
           "\"object\":\"https://r.example/users/bob\"}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_MOVE;
    a.actor = B "/users/alice";
    a.target = "https://r.example/users/alice";
    a.rel_id = "4";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice#moves/4\","
           "\"type\":\"Move\",\"target\":\"https://r.example/users/alice\","
           "\"actor\":\"" B "/users/alice\","
           "\"object\":\"" B "/users/alice\"}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_ADD_HASHTAG;
    a.actor = B "/users/alice";
    a.target = B "/users/alice/collections/featured";
    a.object = B "/tags/cats";
    a.content = "#Cats";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect_tail("\"type\":\"Add\",\"actor\":\"" B "/users/alice\","
                "\"target\":\"" B "/users/alice/collections/featured\","
                "\"object\":{\"type\":\"Hashtag\",\"href\":\"" B "/tags/cats\","
                "\"name\":\"#Cats\"}}");
    a.type = MSTDN_AP_REMOVE_HASHTAG;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect_part("\"Hashtag\":\"as:Hashtag\"}],\"type\":\"Remove\"");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_FLAG;
    a.id = B "/0b5f";
    a.actor = B "/actor";
    a.content = "spam";
    a.objects = objs;
    a.nobjects = 2;
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/0b5f\",\"type\":\"Flag\","
           "\"actor\":\"" B "/actor\",\"content\":\"spam\","
           "\"object\":[\"https://r.example/users/bob\","
           "\"https://r.example/users/bob/statuses/1\"]}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_VOTE;
    a.actor = B "/users/alice";
    a.rel_id = "12";
    a.object = "https://r.example/users/bob/statuses/1";
    a.target = "https://r.example/users/bob";
    a.content = "tea";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice#votes/12/activity\","
           "\"type\":\"Create\",\"actor\":\"" B "/users/alice\","
           "\"to\":\"https://r.example/users/bob\","
           "\"object\":{\"id\":\"" B "/users/alice#votes/12\",\"type\":\"Note\","
           "\"name\":\"tea\",\"attributedTo\":\"" B "/users/alice\","
           "\"inReplyTo\":\"https://r.example/users/bob/statuses/1\","
           "\"to\":\"https://r.example/users/bob\"}}");

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_DELETE_ACTOR;
    a.actor = B "/users/alice";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice#delete\","
           "\"type\":\"Delete\",\"actor\":\"" B "/users/alice\","
           "\"to\":[" PUB "],\"object\":\"" B "/users/alice\"}");
}


static void
update_actor(void **state)
{
    mstdn_ap_actor_t     ac;
    mstdn_ap_activity_t  a;
    const unsigned char *buf;
    size_t               len;

    memset(&ac, 0, sizeof(ac));
    ac.base = B;
    ac.username = "alice";
    ac.published = "2024-05-01T00:00:00Z";
    ac.public_key_pem = "K";

    memset(&a, 0, sizeof(a));
    a.type = MSTDN_AP_UPDATE_ACTOR;
    a.actor_object = &ac;
    a.updated_epoch = "1714557600";
    assert_int_equal(mstdn_ap_activity(g, &a), 0);

    yajl_gen_get_buf(g, &buf, &len);
    assert_non_null(strstr((const char *) buf,
        "{\"@context\":[" AS ",\"https://w3id.org/security/v1\",{"
        ACTOR_EXT "}],\"id\":\"" B "/users/alice#updates/1714557600\","
        "\"type\":\"Update\",\"actor\":\"" B "/users/alice\","
        "\"to\":[" PUB "],\"object\":{\"id\":\"" B "/users/alice\","
        "\"type\":\"Person\","));
    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
}


static void
collections(void **state)
{
    mstdn_ap_collection_t  c, page;
    mstdn_ap_item_t        items[2];
    mstdn_ap_status_t      s;

    /* the followers collection: first page by number */
    memset(&c, 0, sizeof(c));
    c.id = B "/users/alice/followers";
    c.ordered = 1;
    c.total_items = 3;
    c.first = B "/users/alice/followers?page=1";
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice/followers\","
           "\"type\":\"OrderedCollection\",\"totalItems\":3,"
           "\"first\":\"" B "/users/alice/followers?page=1\"}");

    /* hidden: id, type and totalItems only */
    c.fields = MSTDN_AP_FIELDS_ID_TYPE_TOTAL;
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice/followers\","
           "\"type\":\"OrderedCollection\",\"totalItems\":3}");

    /* a page of URIs */
    memset(&c, 0, sizeof(c));
    memset(items, 0, sizeof(items));
    items[0].kind = MSTDN_AP_ITEM_URI;
    items[0].uri = "https://r.example/users/bob";
    c.id = B "/users/alice/followers?page=2";
    c.ordered = 1;
    c.page = 1;
    c.total_items = 13;
    c.prev = B "/users/alice/followers?page=1";
    c.part_of = B "/users/alice/followers";
    c.has_items = 1;
    c.items = items;
    c.nitems = 1;
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    expect("{\"@context\":" AS ",\"id\":\"" B "/users/alice/followers?page=2\","
           "\"type\":\"OrderedCollectionPage\",\"totalItems\":13,"
           "\"prev\":\"" B "/users/alice/followers?page=1\","
           "\"partOf\":\"" B "/users/alice/followers\","
           "\"orderedItems\":[\"https://r.example/users/bob\"]}");

    /* an outbox page: a Create (its Note's context) and an Announce */
    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "12";
    s.published = "2024-05-01T10:00:00Z";
    s.content = "";
    items[0].kind = MSTDN_AP_ITEM_ANNOUNCE;
    items[0].status = &s;
    items[1].kind = MSTDN_AP_ITEM_CREATE;
    items[1].status = &s;
    memset(&c, 0, sizeof(c));
    c.id = B "/users/alice/outbox?page=true";
    c.ordered = 1;
    c.page = 1;
    c.total_items = -1;
    c.has_items = 1;
    c.items = items;
    c.nitems = 2;
    c.part_of = B "/users/alice/outbox";
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    {
        const unsigned char *buf;
        size_t               len;

        yajl_gen_get_buf(g, &buf, &len);
        assert_non_null(strstr((const char *) buf,
            "{\"@context\":[" AS ",{" NOTE_EXT "}],"
            "\"id\":\"" B "/users/alice/outbox?page=true\","
            "\"type\":\"OrderedCollectionPage\","
            "\"partOf\":\"" B "/users/alice/outbox\",\"orderedItems\":[{"
            "\"id\":\"" B "/users/alice/statuses/12/activity\","
            "\"type\":\"Announce\","));
        assert_non_null(strstr((const char *) buf,
            "},{\"id\":\"" B "/users/alice/statuses/12/activity\","
            "\"type\":\"Create\","));
        yajl_gen_clear(g);
        yajl_gen_reset(g, NULL);
    }

    /* featured tags: a Collection of Hashtags */
    memset(items, 0, sizeof(items));
    items[0].kind = MSTDN_AP_ITEM_HASHTAG;
    items[0].name = "cats";
    items[0].uri = B "/@alice/tagged/cats";
    memset(&c, 0, sizeof(c));
    c.id = B "/users/alice/collections/tags";
    c.total_items = 1;
    c.has_items = 1;
    c.items = items;
    c.nitems = 1;
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    expect("{\"@context\":[" AS ",{\"Hashtag\":\"as:Hashtag\"}],"
           "\"id\":\"" B "/users/alice/collections/tags\","
           "\"type\":\"Collection\",\"totalItems\":1,"
           "\"items\":[{\"type\":\"Hashtag\","
           "\"href\":\"" B "/@alice/tagged/cats\",\"name\":\"#cats\"}]}");

    /* replies: an embedded first page */
    memset(&page, 0, sizeof(page));
    page.page = 1;
    page.total_items = -1;
    page.next = B "/users/alice/statuses/12/replies?only_other_accounts=true"
                "&page=true";
    page.part_of = B "/users/alice/statuses/12/replies";
    page.has_items = 1;
    memset(&c, 0, sizeof(c));
    c.id = B "/users/alice/statuses/12/replies";
    c.total_items = -1;
    c.first_page = &page;
    assert_int_equal(mstdn_ap_collection(g, &c), 0);
    expect("{\"@context\":" AS ","
           "\"id\":\"" B "/users/alice/statuses/12/replies\","
           "\"type\":\"Collection\",\"first\":{\"type\":\"CollectionPage\","
           "\"next\":\"" B "/users/alice/statuses/12/replies?"
           "only_other_accounts=true&page=true\","
           "\"partOf\":\"" B "/users/alice/statuses/12/replies\","
           "\"items\":[]}}");
}


static void
webfinger(void **state)
{
    assert_int_equal(mstdn_ap_webfinger(g, "https://social.example.com",
                                        "example.com", "alice", NULL), 0);
    expect("{\"subject\":\"acct:alice@example.com\","
           "\"aliases\":[\"https://social.example.com/@alice\","
           "\"https://social.example.com/users/alice\"],"
           "\"links\":[{\"rel\":\"http://webfinger.net/rel/profile-page\","
           "\"type\":\"text/html\","
           "\"href\":\"https://social.example.com/@alice\"},"
           "{\"rel\":\"self\",\"type\":\"application/activity+json\","
           "\"href\":\"https://social.example.com/users/alice\"},"
           "{\"rel\":\"self\",\"type\":\"application/ld+json; profile=\\\""
           "https://www.w3.org/ns/activitystreams\\\"\","
           "\"href\":\"https://social.example.com/users/alice\"},"
           "{\"rel\":\"http://ostatus.org/schema/1.0/subscribe\","
           "\"template\":\"https://social.example.com/authorize_interaction"
           "?uri={uri}\"}]}");

    assert_int_equal(mstdn_ap_webfinger(g, B, "example.com", NULL,
                                        "example.com"), 0);
    expect("{\"subject\":\"acct:example.com@example.com\","
           "\"aliases\":[\"" B "/actor\"],"
           "\"links\":[{\"rel\":\"http://webfinger.net/rel/profile-page\","
           "\"type\":\"text/html\","
           "\"href\":\"" B "/about/more?instance_actor=true\"},"
           "{\"rel\":\"self\",\"type\":\"application/activity+json\","
           "\"href\":\"" B "/actor\"},"
           "{\"rel\":\"self\",\"type\":\"application/ld+json; profile=\\\""
           "https://www.w3.org/ns/activitystreams\\\"\","
           "\"href\":\"" B "/actor\"},"
           "{\"rel\":\"http://ostatus.org/schema/1.0/subscribe\","
           "\"template\":\"" B "/authorize_interaction?uri={uri}\"}]}");
}


/* ActivityPub::EmojiSerializer at the emoji's id, and the actor's tag */
static void
emoji(void **state)
{
    mstdn_ap_tag_t    t;
    mstdn_ap_actor_t  a;

    memset(&t, 0, sizeof(t));
    t.kind = MSTDN_AP_TAG_EMOJI;
    t.name = "blobcat";
    t.id = B "/emojis/7";
    t.updated = "2026-12-01T10:00:00Z";
    t.icon_url = B "/system/custom_emojis/images/000/000/007/original/blobcat.png";
    t.media_type = "image/png";

    assert_int_equal(mstdn_ap_emoji(g, &t), 0);
    expect("{\"@context\":[" AS ",{\"toot\":\"http://joinmastodon.org/ns#\","
           "\"Emoji\":\"toot:Emoji\","
           "\"focalPoint\":{\"@container\":\"@list\",\"@id\":\"toot:focalPoint\"}}],"
           "\"id\":\"" B "/emojis/7\",\"type\":\"Emoji\",\"name\":\":blobcat:\","
           "\"updated\":\"2026-12-01T10:00:00Z\",\"icon\":{\"type\":\"Image\","
           "\"mediaType\":\"image/png\",\"url\":\"" B
           "/system/custom_emojis/images/000/000/007/original/blobcat.png\"}}");

    /* an actor naming it carries it in its tag */
    memset(&a, 0, sizeof(a));
    a.base = B;
    a.username = "alice";
    a.published = "2026-12-01T00:00:00Z";
    a.tags = &t;
    a.ntags = 1;
    assert_int_equal(mstdn_ap_actor(g, &a), 0);
    {
        const unsigned char  *buf;
        size_t                len;
        static const char     tag[] = "\"tag\":[{\"id\":\"" B "/emojis/7\","
                                      "\"type\":\"Emoji\"";
        static const char     ctx[] = "\"Emoji\":\"toot:Emoji\"";

        yajl_gen_get_buf(g, &buf, &len);
        assert_non_null(memmem(buf, len, tag, strlen(tag)));
        assert_non_null(memmem(buf, len, ctx, strlen(ctx)));
        yajl_gen_clear(g);
    }
}


static void
bad_utf8(void **state)
{
    mstdn_ap_status_t  s;

    memset(&s, 0, sizeof(s));
    s.base = B;
    s.username = "alice";
    s.id = "1";
    s.published = "x";
    s.content = "\xff";

    /* yajl refuses it: -1, nothing half-written is trusted */
    assert_int_equal(mstdn_ap_note(g, &s), -1);
    yajl_gen_clear(g);
    yajl_gen_reset(g, NULL);
}


int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(uris),
        cmocka_unit_test(actor_person),
        cmocka_unit_test(actor_note_hashtags),
        cmocka_unit_test(actor_suspended_and_instance),
        cmocka_unit_test(accept),
        cmocka_unit_test(note_public),
        cmocka_unit_test(note_question),
        cmocka_unit_test(addressing),
        cmocka_unit_test(note_attachments),
        cmocka_unit_test(activities),
        cmocka_unit_test(update_actor),
        cmocka_unit_test(collections),
        cmocka_unit_test(webfinger),
        cmocka_unit_test(emoji),
        cmocka_unit_test(bad_utf8),
    };

    setenv("CMOCKA_MESSAGE_OUTPUT", "TAP", 0);

    return cmocka_run_group_tests_name("ap", tests, setup, teardown);
}
