/*
 * ActivityPub JSON as Mastodon 4.x writes it; see mstdn_ap.h.
 *
 * Each document is written twice over the same structs: a first walk
 * collects the @context (Mastodon's adapter gathers the named contexts and
 * the extensions of every serializer that ran, nested ones included, in the
 * order they ran), then the document is written with it first.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_ap.h"
#include "mstdn_html.h"
#include "mstdn_media.h"
#include "mstdn_hashtag.h"
#include "mstdn_text.h"


/* --- @context ------------------------------------------------------------ */

/* ActivityPub::Adapter::CONTEXT_EXTENSION_MAP, the entries 4.x uses */
typedef enum {
    EXT_MANUALLY_APPROVES_FOLLOWERS = 0,
    EXT_SENSITIVE,
    EXT_HASHTAG,
    EXT_MOVED_TO,
    EXT_ALSO_KNOWN_AS,
    EXT_EMOJI,
    EXT_FEATURED,
    EXT_PROPERTY_VALUE,
    EXT_ATOM_URI,
    EXT_CONVERSATION,
    EXT_FOCAL_POINT,
    EXT_BLURHASH,
    EXT_DISCOVERABLE,
    EXT_VOTERS_COUNT,
    EXT_SUSPENDED,
    EXT_MEMORIAL,
    EXT_INDEXABLE,
    EXT_ATTRIBUTION_DOMAINS,
    EXT_COUNT
} ext_t;

/* one key of an extension: a plain value, or {"@id", "@type"} or
 * {"@container", "@id"} */
typedef struct {
    const char  *key;
    const char  *value;         /* plain */
    const char  *id;            /* object: "@id" */
    const char  *type;          /* object: "@type" */
    const char  *container;     /* object: "@container" (written first) */
} ext_key_t;

#define TOOT  { "toot", "http://joinmastodon.org/ns#", NULL, NULL, NULL }
#define OSTATUS  { "ostatus", "http://ostatus.org#", NULL, NULL, NULL }
#define END   { NULL, NULL, NULL, NULL, NULL }

static const ext_key_t  ext_keys[EXT_COUNT][5] = {
    [EXT_MANUALLY_APPROVES_FOLLOWERS] = {
        { "manuallyApprovesFollowers", "as:manuallyApprovesFollowers",
          NULL, NULL, NULL }, END },
    [EXT_SENSITIVE] = {
        { "sensitive", "as:sensitive", NULL, NULL, NULL }, END },
    [EXT_HASHTAG] = {
        { "Hashtag", "as:Hashtag", NULL, NULL, NULL }, END },
    [EXT_MOVED_TO] = {
        { "movedTo", NULL, "as:movedTo", "@id", NULL }, END },
    [EXT_ALSO_KNOWN_AS] = {
        { "alsoKnownAs", NULL, "as:alsoKnownAs", "@id", NULL }, END },
    [EXT_EMOJI] = {
        TOOT, { "Emoji", "toot:Emoji", NULL, NULL, NULL }, END },
    [EXT_FEATURED] = {
        TOOT, { "featured", NULL, "toot:featured", "@id", NULL },
        { "featuredTags", NULL, "toot:featuredTags", "@id", NULL }, END },
    [EXT_PROPERTY_VALUE] = {
        { "schema", "http://schema.org#", NULL, NULL, NULL },
        { "PropertyValue", "schema:PropertyValue", NULL, NULL, NULL },
        { "value", "schema:value", NULL, NULL, NULL }, END },
    [EXT_ATOM_URI] = {
        OSTATUS, { "atomUri", "ostatus:atomUri", NULL, NULL, NULL }, END },
    [EXT_CONVERSATION] = {
        OSTATUS,
        { "inReplyToAtomUri", "ostatus:inReplyToAtomUri", NULL, NULL, NULL },
        { "conversation", "ostatus:conversation", NULL, NULL, NULL }, END },
    [EXT_FOCAL_POINT] = {
        TOOT, { "focalPoint", NULL, "toot:focalPoint", NULL, "@list" }, END },
    [EXT_BLURHASH] = {
        TOOT, { "blurhash", "toot:blurhash", NULL, NULL, NULL }, END },
    [EXT_DISCOVERABLE] = {
        TOOT, { "discoverable", "toot:discoverable", NULL, NULL, NULL }, END },
    [EXT_VOTERS_COUNT] = {
        TOOT, { "votersCount", "toot:votersCount", NULL, NULL, NULL }, END },
    [EXT_SUSPENDED] = {
        TOOT, { "suspended", "toot:suspended", NULL, NULL, NULL }, END },
    [EXT_MEMORIAL] = {
        TOOT, { "memorial", "toot:memorial", NULL, NULL, NULL }, END },
    [EXT_INDEXABLE] = {
        TOOT, { "indexable", "toot:indexable", NULL, NULL, NULL }, END },
    [EXT_ATTRIBUTION_DOMAINS] = {
        TOOT, { "attributionDomains", NULL, "toot:attributionDomains", "@id",
                NULL }, END },
};

typedef struct {
    unsigned    security:1;
    ext_t       order[EXT_COUNT];
    size_t      n;
} ctx_t;


static void
ctx_ext(ctx_t *c, ext_t e)
{
    size_t  i;

    for (i = 0; i < c->n; i++) {
        if (c->order[i] == e) {
            return;
        }
    }

    c->order[c->n++] = e;
}


/* --- yajl helpers -------------------------------------------------------- */

#define CHECK(x)  do { if ((x) != yajl_gen_status_ok) return -1; } while (0)


static int
str(yajl_gen g, const char *s)
{
    return yajl_gen_string(g, (const unsigned char *) s, strlen(s))
           == yajl_gen_status_ok ? 0 : -1;
}


static int
key(yajl_gen g, const char *k)
{
    return str(g, k);
}


/* "k": s, or "k": null when s is NULL */
static int
kv(yajl_gen g, const char *k, const char *s)
{
    if (key(g, k) != 0) {
        return -1;
    }

    if (s == NULL) {
        CHECK(yajl_gen_null(g));
        return 0;
    }

    return str(g, s);
}


/* "k": s, or "k": null when s is NULL or "" (Ruby's .presence) */
static int
kv_presence(yajl_gen g, const char *k, const char *s)
{
    return kv(g, k, (s != NULL && *s != '\0') ? s : NULL);
}


static int
kv_bool(yajl_gen g, const char *k, int b)
{
    if (key(g, k) != 0) {
        return -1;
    }

    CHECK(yajl_gen_bool(g, b != 0));
    return 0;
}


static int
kv_int(yajl_gen g, const char *k, long long n)
{
    if (key(g, k) != 0) {
        return -1;
    }

    CHECK(yajl_gen_integer(g, n));
    return 0;
}


static int
kv_strs(yajl_gen g, const char *k, const char *const *s, size_t n)
{
    size_t  i;

    if (key(g, k) != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; i < n; i++) {
        if (str(g, s[i]) != 0) {
            return -1;
        }
    }

    CHECK(yajl_gen_array_close(g));
    return 0;
}


static int
write_context(yajl_gen g, const ctx_t *c)
{
    const ext_key_t  *ek;
    const char       *seen[64];
    size_t            nseen, i, j;
    int               dup;

    if (key(g, "@context") != 0) {
        return -1;
    }

    if (!c->security && c->n == 0) {
        return str(g, MSTDN_AP_CONTEXT);
    }

    CHECK(yajl_gen_array_open(g));

    if (str(g, MSTDN_AP_CONTEXT) != 0) {
        return -1;
    }

    if (c->security && str(g, "https://w3id.org/security/v1") != 0) {
        return -1;
    }

    if (c->n) {
        CHECK(yajl_gen_map_open(g));
        nseen = 0;

        for (i = 0; i < c->n; i++) {
            for (ek = ext_keys[c->order[i]]; ek->key; ek++) {

                /* Hash#merge!: a key already there keeps its place */
                dup = 0;
                for (j = 0; j < nseen; j++) {
                    if (strcmp(seen[j], ek->key) == 0) {
                        dup = 1;
                        break;
                    }
                }

                if (dup) {
                    continue;
                }

                seen[nseen++] = ek->key;

                if (key(g, ek->key) != 0) {
                    return -1;
                }

                if (ek->value) {
                    if (str(g, ek->value) != 0) {
                        return -1;
                    }
                    continue;
                }

                CHECK(yajl_gen_map_open(g));

                if (ek->container
                    && (kv(g, "@container", ek->container) != 0
                        || kv(g, "@id", ek->id) != 0))
                {
                    return -1;
                }

                if (ek->type
                    && (kv(g, "@id", ek->id) != 0
                        || kv(g, "@type", ek->type) != 0))
                {
                    return -1;
                }

                CHECK(yajl_gen_map_close(g));
            }
        }

        CHECK(yajl_gen_map_close(g));
    }

    CHECK(yajl_gen_array_close(g));
    return 0;
}


/* --- URIs ---------------------------------------------------------------- */

static int
fit(char *out, size_t size, int n)
{
    if (n < 0 || (size_t) n >= size) {
        if (size) {
            out[0] = '\0';
        }
        return -1;
    }

    return n;
}


int
mstdn_ap_uri(char *out, size_t size, const char *base, int kind,
    const char *name, const char *id)
{
    int          n;
    const char  *suffix;

    switch (kind) {
    case MSTDN_AP_URI_INSTANCE_ACTOR:
        return fit(out, size, snprintf(out, size, "%s/actor", base));
    case MSTDN_AP_URI_INSTANCE_INBOX:
        return fit(out, size, snprintf(out, size, "%s/actor/inbox", base));
    case MSTDN_AP_URI_INSTANCE_OUTBOX:
        return fit(out, size, snprintf(out, size, "%s/actor/outbox", base));
    case MSTDN_AP_URI_INSTANCE_KEY:
        return fit(out, size, snprintf(out, size, "%s/actor#main-key", base));
    case MSTDN_AP_URI_INSTANCE_URL:
        return fit(out, size, snprintf(out, size,
                                       "%s/about/more?instance_actor=true",
                                       base));
    case MSTDN_AP_URI_SHARED_INBOX:
        return fit(out, size, snprintf(out, size, "%s/inbox", base));
    }

    if (name == NULL) {
        return fit(out, size, -1);
    }

    switch (kind) {
    case MSTDN_AP_URI_ACCOUNT:
        return fit(out, size, snprintf(out, size, "%s/users/%s", base, name));
    case MSTDN_AP_URI_PROFILE:
        return fit(out, size, snprintf(out, size, "%s/@%s", base, name));
    case MSTDN_AP_URI_KEY:
        return fit(out, size, snprintf(out, size, "%s/users/%s#main-key",
                                       base, name));
    case MSTDN_AP_URI_TAG:
        /* Rails' tag_url: the name as a path segment, %-encoded */
        n = snprintf(out, size, "%s/tags/", base);
        if (n < 0 || (size_t) n >= size
            || size - n <= MSTDN_URL_ESCAPE_MAX(strlen(name)))
        {
            return fit(out, size, -1);
        }
        n += mstdn_url_escape(out + n, name, strlen(name), MSTDN_URL_PATH);
        out[n] = '\0';
        return n;
    case MSTDN_AP_URI_INBOX:
        suffix = "inbox";
        break;
    case MSTDN_AP_URI_OUTBOX:
        suffix = "outbox";
        break;
    case MSTDN_AP_URI_FOLLOWERS:
        suffix = "followers";
        break;
    case MSTDN_AP_URI_FOLLOWING:
        suffix = "following";
        break;
    case MSTDN_AP_URI_FEATURED:
        suffix = "collections/featured";
        break;
    case MSTDN_AP_URI_FEATURED_TAGS:
        suffix = "collections/tags";
        break;
    default:
        suffix = NULL;
    }

    if (suffix) {
        return fit(out, size, snprintf(out, size, "%s/users/%s/%s", base,
                                       name, suffix));
    }

    if (id == NULL) {
        return fit(out, size, -1);
    }

    switch (kind) {
    case MSTDN_AP_URI_STATUS:
        suffix = "";
        break;
    case MSTDN_AP_URI_ACTIVITY:
        suffix = "/activity";
        break;
    case MSTDN_AP_URI_REPLIES:
        suffix = "/replies";
        break;
    case MSTDN_AP_URI_LIKES:
        suffix = "/likes";
        break;
    case MSTDN_AP_URI_SHARES:
        suffix = "/shares";
        break;
    case MSTDN_AP_URI_STATUS_URL:
        return fit(out, size, snprintf(out, size, "%s/@%s/%s", base, name,
                                       id));
    default:
        return fit(out, size, -1);
    }

    return fit(out, size, snprintf(out, size, "%s/users/%s/statuses/%s%s",
                                   base, name, id, suffix));
}


int
mstdn_ap_conversation_tag(char *out, size_t size, const char *local_domain,
    const char *date, const char *id)
{
    return fit(out, size, snprintf(out, size,
                                   "tag:%s,%s:objectId=%s:objectType="
                                   "Conversation", local_domain, date, id));
}


/* a URI into a stack buffer; "" when it does not fit (never the case with
 * the bounded inputs the callers have) */
#define URI(buf, base, kind, name, id)                                        \
    (mstdn_ap_uri(buf, sizeof(buf), base, kind, name, id), buf)


/* --- tags, images -------------------------------------------------------- */

static void
ctx_image(ctx_t *c)
{
    ctx_ext(c, EXT_FOCAL_POINT);
}


static int
write_image(yajl_gen g, const char *k, const char *url, const char *type)
{
    if (key(g, k) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "type", "Image") != 0
        || kv(g, "mediaType", type) != 0
        || kv(g, "url", url) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


static void
ctx_tags(ctx_t *c, const mstdn_ap_tag_t *t, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (t[i].kind == MSTDN_AP_TAG_HASHTAG) {
            ctx_ext(c, EXT_HASHTAG);

        } else if (t[i].kind == MSTDN_AP_TAG_EMOJI) {
            ctx_ext(c, EXT_EMOJI);
            ctx_image(c);
        }
    }
}


static const char *
mention_href(char *buf, size_t size, const char *base,
    const mstdn_ap_tag_t *t)
{
    if (t->href && *t->href) {
        return t->href;
    }

    mstdn_ap_uri(buf, size, base, MSTDN_AP_URI_ACCOUNT, t->username, NULL);
    return buf;
}


/* ActivityPub::EmojiSerializer's members */
static int
write_emoji(yajl_gen g, const mstdn_ap_tag_t *t)
{
    char  name[512];

    snprintf(name, sizeof(name), ":%s:", t->name ? t->name : "");

    if (kv(g, "id", t->id) != 0
        || kv(g, "type", "Emoji") != 0
        || kv(g, "name", name) != 0
        || kv(g, "updated", t->updated) != 0
        || write_image(g, "icon", t->icon_url, t->media_type) != 0)
    {
        return -1;
    }

    return 0;
}


int
mstdn_ap_emoji(yajl_gen g, const mstdn_ap_tag_t *t)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));
    ctx_tags(&c, t, 1);

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0 || write_emoji(g, t) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


static int
write_tag(yajl_gen g, const char *base, const mstdn_ap_tag_t *t)
{
    char  buf[MSTDN_AP_URI_MAX], name[512];

    CHECK(yajl_gen_map_open(g));

    switch (t->kind) {

    case MSTDN_AP_TAG_MENTION:
        snprintf(name, sizeof(name), "@%s", t->name ? t->name : "");
        if (kv(g, "type", "Mention") != 0
            || kv(g, "href", mention_href(buf, sizeof(buf), base, t)) != 0
            || kv(g, "name", name) != 0)
        {
            return -1;
        }
        break;

    case MSTDN_AP_TAG_HASHTAG:
        snprintf(name, sizeof(name), "#%s", t->name ? t->name : "");
        if (kv(g, "type", "Hashtag") != 0
            || kv(g, "href", (t->href && *t->href)
                             ? t->href
                             : URI(buf, base, MSTDN_AP_URI_TAG, t->name,
                                   NULL)) != 0
            || kv(g, "name", name) != 0)
        {
            return -1;
        }
        break;

    case MSTDN_AP_TAG_EMOJI:
        if (write_emoji(g, t) != 0) {
            return -1;
        }
        break;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


static int
write_tags(yajl_gen g, const char *base, const mstdn_ap_tag_t *t, size_t n)
{
    size_t  i;

    if (key(g, "tag") != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; i < n; i++) {
        if (write_tag(g, base, &t[i]) != 0) {
            return -1;
        }
    }

    CHECK(yajl_gen_array_close(g));
    return 0;
}


/* --- actors -------------------------------------------------------------- */

/* an actor's hashtags: those of its note (UpdateAccountService#process_hashtags) */
#define NOTE_ENTITIES_MAX  512

static size_t
note_hashtags(const char *note, mstdn_entity_t *e)
{
    size_t  i, n, k;

    n = mstdn_text_distinct(e, mstdn_text_entities(note, strlen(note), e,
                                                   NOTE_ENTITIES_MAX));

    for (i = 0, k = 0; i < n; i++) {
        if (e[i].type == MSTDN_ENTITY_HASHTAG) {
            e[k++] = e[i];
        }
    }

    return k;
}


/* the Hashtag context extension when the note has a hashtag */
static void
note_hashtags_ctx(ctx_t *c, const char *note)
{
    mstdn_entity_t  *e;

    if (note == NULL) {
        return;
    }

    e = malloc(NOTE_ENTITIES_MAX * sizeof(*e));

    if (e != NULL && note_hashtags(note, e) > 0) {
        ctx_ext(c, EXT_HASHTAG);
    }

    free(e);
}


static int
write_actor_tags(yajl_gen g, const char *base, const mstdn_ap_actor_t *a,
    int available)
{
    int              rc;
    char            *norm, **written;
    size_t           i, k, n, len, nwritten;
    mstdn_alloc_t    al;
    mstdn_arena_t   *arena;
    mstdn_ap_tag_t   t;
    mstdn_entity_t  *e;

    if (key(g, "tag") != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; available && i < a->ntags; i++) {
        if (write_tag(g, base, &a->tags[i]) != 0) {
            return -1;
        }
    }

    if (available && a->note_text != NULL) {
        e = malloc(NOTE_ENTITIES_MAX * sizeof(*e));
        written = malloc(NOTE_ENTITIES_MAX * sizeof(*written));
        arena = mstdn_arena_create();

        rc = (e == NULL || written == NULL || arena == NULL) ? -1 : 0;
        n = rc == 0 ? note_hashtags(a->note_text, e) : 0;
        nwritten = 0;

        if (arena != NULL) {
            mstdn_arena_allocator(arena, &al);
        }

        /* Account#tags are Tag rows: the normalized name, each once */
        for (i = 0; rc == 0 && i < n; i++) {
            norm = mstdn_hashtag_normalize(e[i].name, e[i].name_len, &al,
                                           &len);
            if (norm == NULL || len == 0) {
                continue;
            }

            for (k = 0; k < nwritten && strcmp(written[k], norm) != 0; k++) {
                /* void */
            }

            if (k < nwritten) {
                continue;
            }

            written[nwritten++] = norm;

            memset(&t, 0, sizeof(t));
            t.kind = MSTDN_AP_TAG_HASHTAG;
            t.name = norm;
            rc = write_tag(g, base, &t);
        }

        if (arena != NULL) {
            mstdn_arena_destroy(arena);
        }

        free(written);
        free(e);

        if (rc != 0) {
            return -1;
        }
    }

    CHECK(yajl_gen_array_close(g));
    return 0;
}


static void
ctx_actor(ctx_t *c, const mstdn_ap_actor_t *a)
{
    int  available = !a->suspended;

    c->security = 1;

    ctx_ext(c, EXT_MANUALLY_APPROVES_FOLLOWERS);
    ctx_ext(c, EXT_FEATURED);
    ctx_ext(c, EXT_ALSO_KNOWN_AS);
    ctx_ext(c, EXT_MOVED_TO);
    ctx_ext(c, EXT_PROPERTY_VALUE);
    ctx_ext(c, EXT_DISCOVERABLE);
    ctx_ext(c, EXT_SUSPENDED);
    ctx_ext(c, EXT_MEMORIAL);
    ctx_ext(c, EXT_INDEXABLE);
    ctx_ext(c, EXT_ATTRIBUTION_DOMAINS);

    if (available) {
        ctx_tags(c, a->tags, a->ntags);
        note_hashtags_ctx(c, a->note_text);
    }

    if (available && (a->icon.url || a->image.url)) {
        ctx_image(c);
    }
}


static int
write_endpoints(yajl_gen g, const char *base)
{
    char  buf[MSTDN_AP_URI_MAX];

    if (key(g, "endpoints") != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "sharedInbox", URI(buf, base, MSTDN_AP_URI_SHARED_INBOX, NULL,
                                  NULL)) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* ActivityPub::PublicKeySerializer */
static int
write_public_key(yajl_gen g, const char *key_id, const char *owner,
    const char *pem)
{
    if (key(g, "publicKey") != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "id", key_id) != 0
        || kv(g, "owner", owner) != 0
        || kv(g, "publicKeyPem", pem ? pem : "") != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* InstanceActorsController: the actor with restrict_fields_to (id type
 * preferred_username inbox outbox public_key endpoints url
 * manually_approves_followers), in the serializer's order */
static int
write_instance_actor(yajl_gen g, const mstdn_ap_actor_t *a)
{
    char         id[MSTDN_AP_URI_MAX], buf[MSTDN_AP_URI_MAX];
    const char  *b;

    b = a->base;
    URI(id, b, MSTDN_AP_URI_INSTANCE_ACTOR, NULL, NULL);

    if (kv(g, "id", id) != 0
        || kv(g, "type", "Application") != 0
        || kv(g, "inbox", URI(buf, b, MSTDN_AP_URI_INSTANCE_INBOX, NULL,
                              NULL)) != 0
        || kv(g, "outbox", URI(buf, b, MSTDN_AP_URI_INSTANCE_OUTBOX, NULL,
                               NULL)) != 0
        || kv(g, "preferredUsername", a->username) != 0
        || kv(g, "url", URI(buf, b, MSTDN_AP_URI_INSTANCE_URL, NULL, NULL))
           != 0
        || kv_bool(g, "manuallyApprovesFollowers", 1) != 0
        || write_public_key(g, URI(buf, b, MSTDN_AP_URI_INSTANCE_KEY, NULL,
                                   NULL), id, a->public_key_pem) != 0
        || write_endpoints(g, b) != 0)
    {
        return -1;
    }

    return 0;
}


static int
write_actor(yajl_gen g, const mstdn_ap_actor_t *a)
{
    char         id[MSTDN_AP_URI_MAX], buf[MSTDN_AP_URI_MAX];
    const char  *type, *b, *u;
    int          available, instance;
    size_t       i;

    b = a->base;
    u = a->username;
    available = !a->suspended;
    instance = (a->type == MSTDN_AP_APPLICATION);

    switch (a->type) {
    case MSTDN_AP_SERVICE:
        type = "Service";
        break;
    case MSTDN_AP_APPLICATION:
        type = "Application";
        break;
    case MSTDN_AP_GROUP:
        type = "Group";
        break;
    default:
        type = "Person";
    }

    if (instance) {
        return write_instance_actor(g, a);
    }

    URI(id, b, MSTDN_AP_URI_ACCOUNT, u, NULL);

    if (kv(g, "id", id) != 0
        || kv(g, "type", type) != 0
        || kv(g, "following", URI(buf, b, MSTDN_AP_URI_FOLLOWING, u, NULL))
           != 0
        || kv(g, "followers", URI(buf, b, MSTDN_AP_URI_FOLLOWERS, u, NULL))
           != 0
        || kv(g, "inbox", URI(buf, b, MSTDN_AP_URI_INBOX, u, NULL)) != 0
        || kv(g, "outbox", URI(buf, b, MSTDN_AP_URI_OUTBOX, u, NULL)) != 0
        || kv(g, "featured", URI(buf, b, MSTDN_AP_URI_FEATURED, u, NULL)) != 0
        || kv(g, "featuredTags",
              URI(buf, b, MSTDN_AP_URI_FEATURED_TAGS, u, NULL)) != 0
        || kv(g, "preferredUsername", u) != 0
        || kv(g, "name", (available && a->name && *a->name) ? a->name : u)
           != 0
        || kv(g, "summary", (available && a->summary) ? a->summary : "") != 0
        || kv(g, "url", URI(buf, b, MSTDN_AP_URI_PROFILE, u, NULL)) != 0
        || kv_bool(g, "manuallyApprovesFollowers", available && a->locked)
           != 0
        || kv_bool(g, "discoverable", available && a->discoverable) != 0
        || kv_bool(g, "indexable", available && a->indexable) != 0
        || kv(g, "published", a->published) != 0
        || kv_bool(g, "memorial", a->memorial) != 0)
    {
        return -1;
    }

    if (available && a->moved_to && *a->moved_to
        && kv(g, "movedTo", a->moved_to) != 0)
    {
        return -1;
    }

    if (available && a->n_also_known_as
        && kv_strs(g, "alsoKnownAs", a->also_known_as, a->n_also_known_as)
           != 0)
    {
        return -1;
    }

    if (a->suspended && kv_bool(g, "suspended", 1) != 0) {
        return -1;
    }

    if (a->n_attribution_domains
        && kv_strs(g, "attributionDomains", a->attribution_domains,
                   a->n_attribution_domains) != 0)
    {
        return -1;
    }

    if (write_public_key(g, URI(buf, b, MSTDN_AP_URI_KEY, u, NULL), id,
                         a->public_key_pem) != 0)
    {
        return -1;
    }

    if (write_actor_tags(g, b, a, available) != 0) {
        return -1;
    }

    if (key(g, "attachment") != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; available && i < a->nfields; i++) {
        CHECK(yajl_gen_map_open(g));

        if (kv(g, "type", "PropertyValue") != 0
            || kv(g, "name", a->fields[i].name) != 0
            || kv(g, "value", a->fields[i].value) != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_close(g));
    }

    CHECK(yajl_gen_array_close(g));

    if (write_endpoints(g, b) != 0) {
        return -1;
    }

    if (available && a->icon.url
        && write_image(g, "icon", a->icon.url, a->icon.media_type) != 0)
    {
        return -1;
    }

    if (available && a->image.url
        && write_image(g, "image", a->image.url, a->image.media_type) != 0)
    {
        return -1;
    }

    return 0;
}


int
mstdn_ap_actor(yajl_gen g, const mstdn_ap_actor_t *a)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));
    ctx_actor(&c, a);

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0 || write_actor(g, a) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* --- Notes --------------------------------------------------------------- */

int
mstdn_ap_addressing(const mstdn_ap_status_t *s, const char **to,
    size_t *nto, const char **cc, size_t *ncc, char *bufs, size_t bufsize)
{
    char         *followers, *mbuf;
    size_t        i, j, nt, nc, mspace;
    const char   *href;
    int           n;

    nt = 0;
    nc = 0;

    if (bufsize < 2 * MSTDN_AP_URI_MAX) {
        return -1;
    }

    followers = bufs;
    if (mstdn_ap_uri(followers, MSTDN_AP_URI_MAX, s->base,
                     MSTDN_AP_URI_FOLLOWERS, s->username, NULL) < 0)
    {
        return -1;
    }

    mbuf = bufs + MSTDN_AP_URI_MAX;
    mspace = bufsize - MSTDN_AP_URI_MAX;

    /* an Announce cc's the original's author (TagManager#cc) */
    if (s->reblog_of_uri && s->reblog_account_uri) {
        cc[nc++] = s->reblog_account_uri;
    }

    switch (s->visibility) {
    case MSTDN_AP_PUBLIC_VIS:
        to[nt++] = MSTDN_AP_PUBLIC;
        cc[nc++] = followers;
        break;
    case MSTDN_AP_UNLISTED:
        to[nt++] = followers;
        cc[nc++] = MSTDN_AP_PUBLIC;
        break;
    case MSTDN_AP_PRIVATE:
        to[nt++] = followers;
        break;
    }

    for (i = 0; i < s->ntags; i++) {
        if (s->tags[i].kind != MSTDN_AP_TAG_MENTION) {
            continue;
        }

        if (s->tags[i].href && *s->tags[i].href) {
            href = s->tags[i].href;

        } else {
            n = mstdn_ap_uri(mbuf, mspace, s->base, MSTDN_AP_URI_ACCOUNT,
                             s->tags[i].username, NULL);
            if (n < 0) {
                return -1;
            }

            href = mbuf;
            mbuf += n + 1;
            mspace -= n + 1;
        }

        /* direct and limited: to the mentioned; else cc'd; uniq */
        if (s->visibility >= MSTDN_AP_DIRECT) {
            for (j = 0; j < nt && strcmp(to[j], href) != 0; j++) { }
            if (j == nt) {
                to[nt++] = href;
            }

        } else {
            for (j = 0; j < nc && strcmp(cc[j], href) != 0; j++) { }
            if (j == nc) {
                cc[nc++] = href;
            }
        }
    }

    *nto = nt;
    *ncc = nc;

    return 0;
}


static size_t
mention_count(const mstdn_ap_status_t *s)
{
    size_t  i, n;

    for (i = 0, n = 0; i < s->ntags; i++) {
        n += (s->tags[i].kind == MSTDN_AP_TAG_MENTION);
    }

    return n;
}


/* writes "to" and "cc" of a status */
static int
write_addressing(yajl_gen g, const mstdn_ap_status_t *s)
{
    const char  **to, **cc;
    char         *bufs;
    size_t        n, nto, ncc, bufsize;
    int           rc;

    /* Public, followers, the reblogged author and each mention at most */
    n = mention_count(s) + 3;
    bufsize = (n + 1) * MSTDN_AP_URI_MAX;

    to = malloc(n * sizeof(char *));
    cc = malloc(n * sizeof(char *));
    bufs = malloc(bufsize);

    if (to == NULL || cc == NULL || bufs == NULL) {
        free(to);
        free(cc);
        free(bufs);
        return -1;
    }

    rc = mstdn_ap_addressing(s, to, &nto, cc, &ncc, bufs, bufsize);

    if (rc == 0) {
        rc = kv_strs(g, "to", to, nto);
    }

    if (rc == 0) {
        rc = kv_strs(g, "cc", cc, ncc);
    }

    free(to);
    free(cc);
    free(bufs);

    return rc;
}


static void
ctx_note(ctx_t *c, const mstdn_ap_status_t *s)
{
    ctx_ext(c, EXT_ATOM_URI);
    ctx_ext(c, EXT_CONVERSATION);
    ctx_ext(c, EXT_SENSITIVE);
    ctx_ext(c, EXT_VOTERS_COUNT);

    if (s->nmedia || (s->attachments && s->attachments->count)) {
        ctx_ext(c, EXT_BLURHASH);
        ctx_ext(c, EXT_FOCAL_POINT);
    }

    ctx_tags(c, s->tags, s->ntags);
}


static int
write_media(yajl_gen g, const mstdn_ap_media_t *m)
{
    CHECK(yajl_gen_map_open(g));

    if (kv(g, "type", "Document") != 0
        || kv(g, "mediaType", m->media_type) != 0
        || kv(g, "url", m->url) != 0
        || kv(g, "name", m->description) != 0
        || kv(g, "blurhash", m->blurhash) != 0)
    {
        return -1;
    }

    if (m->has_focus) {
        if (key(g, "focalPoint") != 0) {
            return -1;
        }

        CHECK(yajl_gen_array_open(g));
        CHECK(yajl_gen_double(g, m->focus_x));
        CHECK(yajl_gen_double(g, m->focus_y));
        CHECK(yajl_gen_array_close(g));
    }

    if (m->width && kv_int(g, "width", m->width) != 0) {
        return -1;
    }

    if (m->height && kv_int(g, "height", m->height) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


static const char *
value_str(const mstdn_value_t *o, const char *k)
{
    const mstdn_value_t  *v;

    v = mstdn_object_get(o, k);

    return (v && v->type == MSTDN_STRING) ? v->str : NULL;
}


static int
value_int(const mstdn_value_t *o, const char *k)
{
    const mstdn_value_t  *v;
    long                  n;

    v = mstdn_object_get(o, k);
    if (v == NULL || v->type != MSTDN_NUMBER) {
        return 0;
    }

    n = strtol(v->str, NULL, 10);

    return (n > 0 && n < 1000000) ? (int) n : 0;
}


/*
 * The local attachments of mastodon_ap_attachments() as Documents
 * (ActivityPub::MediaAttachmentSerializer): the url is the original file's,
 * media_base/ and its key (mstdn_media_key(), the one layout the REST entity
 * and the worker's storage use); media_base NULL is base/system.
 */
static int
write_attachments(yajl_gen g, const char *base, const char *media_base,
    const mstdn_value_t *list)
{
    char                  url[MSTDN_AP_URI_MAX];
    const char           *id, *file;
    const mstdn_value_t  *e, *focus;
    mstdn_ap_media_t      m;
    int                   n;

    if (list == NULL || list->type != MSTDN_ARRAY) {
        return 0;
    }

    for (e = list->first; e; e = e->next) {
        if (e->type != MSTDN_OBJECT) {
            continue;
        }

        id = value_str(e, "id");
        file = value_str(e, "file");

        if (id == NULL || file == NULL) {
            continue;
        }

        n = media_base
            ? snprintf(url, sizeof(url), "%s/", media_base)
            : snprintf(url, sizeof(url), "%s/system/", base);

        if (n < 0 || (size_t) n >= sizeof(url)
            || mstdn_media_key(url + n, sizeof(url) - n, 0,
                               "media_attachments", "files",
                               strtoll(id, NULL, 10), "original", file,
                               strlen(file), NULL) == 0)
        {
            continue;
        }

        memset(&m, 0, sizeof(m));
        m.url = url;
        m.media_type = value_str(e, "mediaType");
        m.description = value_str(e, "name");
        m.blurhash = value_str(e, "blurhash");
        m.width = value_int(e, "width");
        m.height = value_int(e, "height");

        focus = mstdn_object_get(e, "focus");
        if (focus && focus->type == MSTDN_ARRAY && focus->count == 2
            && focus->first->type == MSTDN_NUMBER
            && focus->first->next->type == MSTDN_NUMBER)
        {
            m.has_focus = 1;
            m.focus_x = strtod(focus->first->str, NULL);
            m.focus_y = strtod(focus->first->next->str, NULL);
        }

        if (write_media(g, &m) != 0) {
            return -1;
        }
    }

    return 0;
}


/* "2026-12-05T12:00:00.000Z" as Time#iso8601 writes it: no fraction */
static int
kv_time_s(yajl_gen g, const char *k, const char *t)
{
    char         buf[64];
    const char  *dot;

    dot = strchr(t, '.');

    if (dot == NULL || (size_t) (dot - t) + 2 > sizeof(buf)) {
        return kv(g, k, t);
    }

    snprintf(buf, sizeof(buf), "%.*sZ", (int) (dot - t), t);
    return kv(g, k, buf);
}


/*
 * NoteSerializer's poll attributes, read from the Poll entity: each option
 * a Note with its name and the count of its replies (null while the totals
 * are hidden, as Poll#loaded_options), endTime, closed once expired,
 * votersCount when known.
 */
static int
write_poll(yajl_gen g, const mstdn_value_t *poll)
{
    const mstdn_value_t  *options, *o, *title, *count, *v;
    const char           *expires_at;

    options = mstdn_object_get(poll, "options");

    if (key(g, mstdn_param_bool(poll, "multiple", 0) ? "anyOf" : "oneOf")
        != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (o = (options && options->type == MSTDN_ARRAY) ? options->first
                                                       : NULL;
         o;
         o = o->next)
    {
        title = mstdn_object_get(o, "title");
        count = mstdn_object_get(o, "votes_count");

        CHECK(yajl_gen_map_open(g));

        if (kv(g, "type", "Note") != 0
            || kv(g, "name", (title && title->type == MSTDN_STRING)
                             ? title->str : "") != 0
            || key(g, "replies") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));

        if (kv(g, "type", "Collection") != 0
            || key(g, "totalItems") != 0)
        {
            return -1;
        }

        if (count && count->type == MSTDN_NUMBER) {
            CHECK(yajl_gen_number(g, count->str, count->len));

        } else {
            CHECK(yajl_gen_null(g));
        }

        CHECK(yajl_gen_map_close(g));
        CHECK(yajl_gen_map_close(g));
    }

    CHECK(yajl_gen_array_close(g));

    expires_at = mstdn_param_str(poll, "expires_at", NULL);

    if (expires_at) {
        if (kv_time_s(g, "endTime", expires_at) != 0) {
            return -1;
        }

        if (mstdn_param_bool(poll, "expired", 0)
            && kv_time_s(g, "closed", expires_at) != 0)
        {
            return -1;
        }
    }

    v = mstdn_object_get(poll, "voters_count");

    if (v && v->type == MSTDN_NUMBER) {
        if (key(g, "votersCount") != 0) {
            return -1;
        }

        CHECK(yajl_gen_number(g, v->str, v->len));
    }

    return 0;
}


static int
write_note(yajl_gen g, const mstdn_ap_status_t *s)
{
    char          id[MSTDN_AP_URI_MAX], buf[MSTDN_AP_URI_MAX],
                  replies[MSTDN_AP_URI_MAX], next[MSTDN_AP_URI_MAX + 64];
    const char   *b, *u;
    size_t        i;

    b = s->base;
    u = s->username;

    URI(id, b, MSTDN_AP_URI_STATUS, u, s->id);

    if (kv(g, "id", id) != 0
        || kv(g, "type", s->poll ? "Question" : "Note") != 0
        || kv_presence(g, "summary", s->summary) != 0
        || kv(g, "inReplyTo", s->in_reply_to) != 0
        || kv(g, "published", s->published) != 0
        || kv(g, "url", URI(buf, b, MSTDN_AP_URI_STATUS_URL, u, s->id)) != 0
        || kv(g, "attributedTo", URI(buf, b, MSTDN_AP_URI_ACCOUNT, u, NULL))
           != 0
        || write_addressing(g, s) != 0
        || kv_bool(g, "sensitive", s->sensitive) != 0
        || kv(g, "atomUri", id) != 0
        || kv(g, "inReplyToAtomUri", s->in_reply_to) != 0
        || kv(g, "conversation", s->conversation) != 0
        || kv(g, "content", s->content ? s->content : "") != 0)
    {
        return -1;
    }

    if (s->language && *s->language) {
        if (key(g, "contentMap") != 0) {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));

        if (kv(g, s->language, s->content ? s->content : "") != 0) {
            return -1;
        }

        CHECK(yajl_gen_map_close(g));
    }

    if (s->updated && *s->updated && kv(g, "updated", s->updated) != 0) {
        return -1;
    }

    if (key(g, "attachment") != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; i < s->nmedia; i++) {
        if (write_media(g, &s->media[i]) != 0) {
            return -1;
        }
    }

    if (write_attachments(g, b, s->media_base, s->attachments) != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_close(g));

    if (write_tags(g, b, s->tags, s->ntags) != 0) {
        return -1;
    }

    /* the replies collection with its first page of self-replies */
    URI(replies, b, MSTDN_AP_URI_REPLIES, u, s->id);

    if (s->last_reply_id && *s->last_reply_id) {
        snprintf(next, sizeof(next), "%s?min_id=%s&page=true", replies,
                 s->last_reply_id);
    } else {
        snprintf(next, sizeof(next), "%s?only_other_accounts=true&page=true",
                 replies);
    }

    if (key(g, "replies") != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "id", replies) != 0
        || kv(g, "type", "Collection") != 0
        || key(g, "first") != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "type", "CollectionPage") != 0
        || kv(g, "next", next) != 0
        || kv(g, "partOf", replies) != 0
        || kv_strs(g, "items", s->self_replies, s->nself_replies) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    CHECK(yajl_gen_map_close(g));

    /* likes and shares: their counts only */
    if (key(g, "likes") != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "id", URI(buf, b, MSTDN_AP_URI_LIKES, u, s->id)) != 0
        || kv(g, "type", "Collection") != 0
        || kv_int(g, "totalItems", s->favourites_count) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));

    if (key(g, "shares") != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "id", URI(buf, b, MSTDN_AP_URI_SHARES, u, s->id)) != 0
        || kv(g, "type", "Collection") != 0
        || kv_int(g, "totalItems", s->reblogs_count) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));

    return s->poll ? write_poll(g, s->poll) : 0;
}


int
mstdn_ap_note(yajl_gen g, const mstdn_ap_status_t *s)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));
    ctx_note(&c, s);

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0 || write_note(g, s) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* --- activities ---------------------------------------------------------- */

static void
ctx_activity(ctx_t *c, const mstdn_ap_activity_t *a)
{
    switch (a->type) {
    case MSTDN_AP_CREATE:
    case MSTDN_AP_UPDATE_NOTE:
        ctx_note(c, a->status);
        break;
    case MSTDN_AP_ANNOUNCE:
        if (a->status->reblog_inline) {
            ctx_note(c, a->status->reblog_inline);
        }
        break;
    case MSTDN_AP_DELETE_NOTE:
        ctx_ext(c, EXT_ATOM_URI);
        break;
    case MSTDN_AP_UPDATE_ACTOR:
        ctx_actor(c, a->actor_object);
        break;
    case MSTDN_AP_ADD_HASHTAG:
    case MSTDN_AP_REMOVE_HASHTAG:
        ctx_ext(c, EXT_HASHTAG);            /* HashtagSerializer's */
        break;
    case MSTDN_AP_ACCEPT:
    case MSTDN_AP_REJECT:
    case MSTDN_AP_UNDO:
        if (a->inner) {
            ctx_activity(c, a->inner);
        }
        break;
    default:
        break;
    }
}


static int write_activity(yajl_gen g, const mstdn_ap_activity_t *a);


/* "ACTOR" + fmt's rest: Mastodon's activity ids made of the actor's URI */
static const char *
actor_id(char *buf, size_t size, const char *actor, const char *what,
    const char *rel_id, const char *suffix)
{
    snprintf(buf, size, "%s#%s/%s%s", actor ? actor : "", what,
             rel_id ? rel_id : "", suffix);
    return buf;
}


/* the id, type, actor, published, to, cc and object of a status's
 * activity (ActivityPub::ActivityPresenter.from_status) */
static int
write_status_activity(yajl_gen g, const mstdn_ap_activity_t *a)
{
    const mstdn_ap_status_t  *s = a->status;
    char                      id[MSTDN_AP_URI_MAX + 64],
                              actor[MSTDN_AP_URI_MAX];
    const char               *type, *published;

    URI(actor, s->base, MSTDN_AP_URI_ACCOUNT, s->username, NULL);
    published = s->published;

    switch (a->type) {
    case MSTDN_AP_UPDATE_NOTE:
        type = "Update";
        URI(id, s->base, MSTDN_AP_URI_STATUS, s->username, s->id);
        snprintf(id + strlen(id), sizeof(id) - strlen(id), "#updates/%s",
                 a->updated_epoch ? a->updated_epoch : "");
        published = s->updated ? s->updated : s->published;
        break;
    case MSTDN_AP_ANNOUNCE:
        type = "Announce";
        URI(id, s->base, MSTDN_AP_URI_ACTIVITY, s->username, s->id);
        break;
    default:
        type = "Create";
        URI(id, s->base, MSTDN_AP_URI_ACTIVITY, s->username, s->id);
    }

    if (kv(g, "id", id) != 0
        || kv(g, "type", type) != 0
        || kv(g, "actor", actor) != 0
        || kv(g, "published", published) != 0
        || write_addressing(g, s) != 0
        || key(g, "object") != 0)
    {
        return -1;
    }

    if (a->type == MSTDN_AP_ANNOUNCE && s->reblog_inline == NULL) {
        return str(g, s->reblog_of_uri ? s->reblog_of_uri : "");
    }

    if (a->type == MSTDN_AP_ANNOUNCE) {
        s = s->reblog_inline;
    }

    CHECK(yajl_gen_map_open(g));

    if (write_note(g, s) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


static int
write_activity(yajl_gen g, const mstdn_ap_activity_t *a)
{
    char                        buf[MSTDN_AP_URI_MAX + 64],
                                actor[MSTDN_AP_URI_MAX];
    const mstdn_ap_activity_t  *in;
    const mstdn_ap_status_t    *s;
    const char                 *what;
    size_t                      i;

    switch (a->type) {

    case MSTDN_AP_CREATE:
    case MSTDN_AP_UPDATE_NOTE:
    case MSTDN_AP_ANNOUNCE:
        return write_status_activity(g, a);

    case MSTDN_AP_DELETE_NOTE:
        s = a->status;
        URI(buf, s->base, MSTDN_AP_URI_STATUS, s->username, s->id);
        if (kv(g, "id", strcat(buf, "#delete")) != 0
            || kv(g, "type", "Delete") != 0
            || kv(g, "actor", URI(actor, s->base, MSTDN_AP_URI_ACCOUNT,
                                  s->username, NULL)) != 0
            || kv_strs(g, "to", (const char *const[]) { MSTDN_AP_PUBLIC }, 1)
               != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        URI(buf, s->base, MSTDN_AP_URI_STATUS, s->username, s->id);
        if (kv(g, "id", buf) != 0
            || kv(g, "type", "Tombstone") != 0
            || kv(g, "atomUri", buf) != 0)
        {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
        return 0;

    case MSTDN_AP_UPDATE_ACTOR:
        if (a->actor_object->type == MSTDN_AP_APPLICATION) {
            URI(actor, a->actor_object->base, MSTDN_AP_URI_INSTANCE_ACTOR,
                NULL, NULL);
        } else {
            URI(actor, a->actor_object->base, MSTDN_AP_URI_ACCOUNT,
                a->actor_object->username, NULL);
        }

        snprintf(buf, sizeof(buf), "%s#updates/%s", actor,
                 a->updated_epoch ? a->updated_epoch : "");

        if (kv(g, "id", buf) != 0
            || kv(g, "type", "Update") != 0
            || kv(g, "actor", actor) != 0
            || kv_strs(g, "to", (const char *const[]) { MSTDN_AP_PUBLIC }, 1)
               != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        if (write_actor(g, a->actor_object) != 0) {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
        return 0;

    case MSTDN_AP_DELETE_ACTOR:
        snprintf(buf, sizeof(buf), "%s#delete", a->actor);
        if (kv(g, "id", buf) != 0
            || kv(g, "type", "Delete") != 0
            || kv(g, "actor", a->actor) != 0
            || kv_strs(g, "to", (const char *const[]) { MSTDN_AP_PUBLIC }, 1)
               != 0
            || kv(g, "object", a->actor) != 0)
        {
            return -1;
        }
        return 0;

    case MSTDN_AP_LIKE:
        if (kv(g, "id", a->id ? a->id
                              : actor_id(buf, sizeof(buf), a->actor, "likes",
                                         a->rel_id, "")) != 0
            || kv(g, "type", "Like") != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "object", a->object) != 0)
        {
            return -1;
        }
        return 0;

    case MSTDN_AP_FOLLOW:
    case MSTDN_AP_BLOCK:
        what = (a->type == MSTDN_AP_FOLLOW) ? "follows" : "blocks";
        if (kv(g, "id", (a->id && *a->id)
                        ? a->id
                        : actor_id(buf, sizeof(buf), a->actor, what,
                                   a->rel_id, "")) != 0
            || kv(g, "type", a->type == MSTDN_AP_FOLLOW ? "Follow" : "Block")
               != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "object", a->object) != 0)
        {
            return -1;
        }
        return 0;

    case MSTDN_AP_ACCEPT:
    case MSTDN_AP_REJECT:
        what = (a->type == MSTDN_AP_ACCEPT) ? "accepts/follows"
                                            : "rejects/follows";
        if (kv(g, "id", (a->id && *a->id)
                        ? a->id
                        : actor_id(buf, sizeof(buf), a->actor, what,
                                   a->rel_id, "")) != 0
            || kv(g, "type", a->type == MSTDN_AP_ACCEPT ? "Accept" : "Reject")
               != 0
            || kv(g, "actor", a->actor) != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        if (a->inner == NULL || write_activity(g, a->inner) != 0) {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
        return 0;

    case MSTDN_AP_UNDO:
        in = a->inner;
        if (in == NULL) {
            return -1;
        }

        if (in->type == MSTDN_AP_ANNOUNCE) {
            URI(actor, in->status->base, MSTDN_AP_URI_ACCOUNT,
                in->status->username, NULL);
            actor_id(buf, sizeof(buf), actor, "announces", in->status->id,
                     "/undo");

        } else {
            snprintf(actor, sizeof(actor), "%s", in->actor ? in->actor : "");
            what = (in->type == MSTDN_AP_LIKE) ? "likes"
                   : (in->type == MSTDN_AP_BLOCK) ? "blocks" : "follows";
            actor_id(buf, sizeof(buf), actor, what, in->rel_id, "/undo");
        }

        if (kv(g, "id", (a->id && *a->id) ? a->id : buf) != 0
            || kv(g, "type", "Undo") != 0
            || kv(g, "actor", actor) != 0)
        {
            return -1;
        }

        if (in->type == MSTDN_AP_ANNOUNCE
            && kv_strs(g, "to", (const char *const[]) { MSTDN_AP_PUBLIC }, 1)
               != 0)
        {
            return -1;
        }

        if (key(g, "object") != 0) {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        if (write_activity(g, in) != 0) {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
        return 0;

    case MSTDN_AP_MOVE:
        if (kv(g, "id", actor_id(buf, sizeof(buf), a->actor, "moves",
                                 a->rel_id, "")) != 0
            || kv(g, "type", "Move") != 0
            || kv(g, "target", a->target) != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "object", a->actor) != 0)
        {
            return -1;
        }
        return 0;

    case MSTDN_AP_ADD_HASHTAG:
    case MSTDN_AP_REMOVE_HASHTAG:
        if (kv(g, "type", a->type == MSTDN_AP_ADD_HASHTAG ? "Add" : "Remove")
            != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "target", a->target) != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        if (kv(g, "type", "Hashtag") != 0
            || kv(g, "href", a->object) != 0
            || kv(g, "name", a->content ? a->content : "") != 0)
        {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
        return 0;

    case MSTDN_AP_FLAG:
        if (kv(g, "id", a->id) != 0
            || kv(g, "type", "Flag") != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "content", a->content ? a->content : "") != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_array_open(g));
        for (i = 0; i < a->nobjects; i++) {
            if (str(g, a->objects[i]) != 0) {
                return -1;
            }
        }
        CHECK(yajl_gen_array_close(g));
        return 0;

    case MSTDN_AP_VOTE:
        if (kv(g, "id", actor_id(buf, sizeof(buf), a->actor, "votes",
                                 a->rel_id, "/activity")) != 0
            || kv(g, "type", "Create") != 0
            || kv(g, "actor", a->actor) != 0
            || kv(g, "to", a->target) != 0
            || key(g, "object") != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));

        if (kv(g, "id", actor_id(buf, sizeof(buf), a->actor, "votes",
                                 a->rel_id, "")) != 0
            || kv(g, "type", "Note") != 0
            || kv(g, "name", a->content ? a->content : "") != 0
            || kv(g, "attributedTo", a->actor) != 0
            || kv(g, "inReplyTo", a->object) != 0
            || kv(g, "to", a->target) != 0)
        {
            return -1;
        }

        CHECK(yajl_gen_map_close(g));
        return 0;
    }

    return -1;
}


int
mstdn_ap_activity(yajl_gen g, const mstdn_ap_activity_t *a)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));
    ctx_activity(&c, a);

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0 || write_activity(g, a) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


int
mstdn_ap_tombstone(yajl_gen g, const char *uri)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));
    ctx_ext(&c, EXT_ATOM_URI);

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0
        || kv(g, "id", uri) != 0
        || kv(g, "type", "Tombstone") != 0
        || kv(g, "atomUri", uri) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* --- collections --------------------------------------------------------- */

static void
ctx_collection(ctx_t *c, const mstdn_ap_collection_t *col)
{
    size_t                    i;
    const mstdn_ap_item_t    *it;
    mstdn_ap_activity_t       a;

    if (col->first_page) {
        ctx_collection(c, col->first_page);
    }

    for (i = 0; i < col->nitems; i++) {
        it = &col->items[i];

        switch (it->kind) {
        case MSTDN_AP_ITEM_NOTE:
            ctx_note(c, it->status);
            break;
        case MSTDN_AP_ITEM_CREATE:
            memset(&a, 0, sizeof(a));
            a.type = MSTDN_AP_CREATE;
            a.status = it->status;
            ctx_activity(c, &a);
            break;
        case MSTDN_AP_ITEM_HASHTAG:
            ctx_ext(c, EXT_HASHTAG);
            break;
        default:
            break;
        }
    }
}


static int
write_collection(yajl_gen g, const mstdn_ap_collection_t *col)
{
    char                  buf[MSTDN_AP_URI_MAX], name[512];
    const mstdn_ap_item_t *it;
    mstdn_ap_activity_t    a;
    const char            *type;
    size_t                 i;

    if (col->page) {
        type = col->ordered ? "OrderedCollectionPage" : "CollectionPage";
    } else {
        type = col->ordered ? "OrderedCollection" : "Collection";
    }

    if (col->id && kv(g, "id", col->id) != 0) {
        return -1;
    }

    if (kv(g, "type", type) != 0) {
        return -1;
    }

    if (col->total_items >= 0
        && kv_int(g, "totalItems", col->total_items) != 0)
    {
        return -1;
    }

    if (col->fields == MSTDN_AP_FIELDS_ID_TYPE_TOTAL) {
        return 0;
    }

    if ((col->next && kv(g, "next", col->next) != 0)
        || (col->prev && kv(g, "prev", col->prev) != 0)
        || (col->part_of && kv(g, "partOf", col->part_of) != 0))
    {
        return -1;
    }

    if (col->first && kv(g, "first", col->first) != 0) {
        return -1;
    }

    if (col->first_page) {
        if (key(g, "first") != 0) {
            return -1;
        }

        CHECK(yajl_gen_map_open(g));
        if (write_collection(g, col->first_page) != 0) {
            return -1;
        }
        CHECK(yajl_gen_map_close(g));
    }

    if (col->last && kv(g, "last", col->last) != 0) {
        return -1;
    }

    if (!col->has_items) {
        return 0;
    }

    if (key(g, col->ordered ? "orderedItems" : "items") != 0) {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    for (i = 0; i < col->nitems; i++) {
        it = &col->items[i];

        switch (it->kind) {

        case MSTDN_AP_ITEM_URI:
            if (str(g, it->uri) != 0) {
                return -1;
            }
            break;

        case MSTDN_AP_ITEM_NOTE:
            CHECK(yajl_gen_map_open(g));
            if (write_note(g, it->status) != 0) {
                return -1;
            }
            CHECK(yajl_gen_map_close(g));
            break;

        case MSTDN_AP_ITEM_CREATE:
        case MSTDN_AP_ITEM_ANNOUNCE:
            memset(&a, 0, sizeof(a));
            a.type = (it->kind == MSTDN_AP_ITEM_CREATE) ? MSTDN_AP_CREATE
                                                        : MSTDN_AP_ANNOUNCE;
            a.status = it->status;

            CHECK(yajl_gen_map_open(g));
            if (write_status_activity(g, &a) != 0) {
                return -1;
            }
            CHECK(yajl_gen_map_close(g));
            break;

        case MSTDN_AP_ITEM_HASHTAG:
            snprintf(name, sizeof(name), "#%s", it->name ? it->name : "");
            CHECK(yajl_gen_map_open(g));
            if (kv(g, "type", "Hashtag") != 0
                || kv(g, "href", (it->uri && *it->uri)
                                 ? it->uri
                                 : URI(buf, it->base, MSTDN_AP_URI_TAG,
                                       it->name, NULL)) != 0
                || kv(g, "name", name) != 0)
            {
                return -1;
            }
            CHECK(yajl_gen_map_close(g));
            break;
        }
    }

    CHECK(yajl_gen_array_close(g));
    return 0;
}


int
mstdn_ap_collection(yajl_gen g, const mstdn_ap_collection_t *col)
{
    ctx_t  c;

    memset(&c, 0, sizeof(c));

    if (col->fields != MSTDN_AP_FIELDS_ID_TYPE_TOTAL) {
        ctx_collection(&c, col);
    }

    CHECK(yajl_gen_map_open(g));

    if (write_context(g, &c) != 0 || write_collection(g, col) != 0) {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


/* --- WebFinger ----------------------------------------------------------- */

static int
link(yajl_gen g, const char *rel, const char *type, const char *href)
{
    CHECK(yajl_gen_map_open(g));

    if (kv(g, "rel", rel) != 0
        || kv(g, "type", type) != 0
        || kv(g, "href", href) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    return 0;
}


int
mstdn_ap_webfinger(yajl_gen g, const char *base, const char *local_domain,
    const char *username, const char *instance_name)
{
    char         subject[MSTDN_AP_URI_MAX], profile[MSTDN_AP_URI_MAX],
                 self[MSTDN_AP_URI_MAX], tmpl[MSTDN_AP_URI_MAX];
    const char  *aliases[2];
    size_t       naliases;

    if (username) {
        snprintf(subject, sizeof(subject), "acct:%s@%s", username,
                 local_domain);
        URI(profile, base, MSTDN_AP_URI_PROFILE, username, NULL);
        URI(self, base, MSTDN_AP_URI_ACCOUNT, username, NULL);
        aliases[0] = profile;
        aliases[1] = self;
        naliases = 2;

    } else {
        snprintf(subject, sizeof(subject), "acct:%s@%s", instance_name,
                 local_domain);
        URI(profile, base, MSTDN_AP_URI_INSTANCE_URL, NULL, NULL);
        URI(self, base, MSTDN_AP_URI_INSTANCE_ACTOR, NULL, NULL);
        aliases[0] = self;
        naliases = 1;
    }

    snprintf(tmpl, sizeof(tmpl), "%s/authorize_interaction?uri={uri}", base);

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "subject", subject) != 0
        || kv_strs(g, "aliases", aliases, naliases) != 0
        || key(g, "links") != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_array_open(g));

    if (link(g, "http://webfinger.net/rel/profile-page", "text/html",
             profile) != 0
        || link(g, "self", MSTDN_AP_MEDIA_TYPE, self) != 0
        || link(g, "self", MSTDN_AP_LD_TYPE, self) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_open(g));

    if (kv(g, "rel", "http://ostatus.org/schema/1.0/subscribe") != 0
        || kv(g, "template", tmpl) != 0)
    {
        return -1;
    }

    CHECK(yajl_gen_map_close(g));
    CHECK(yajl_gen_array_close(g));
    CHECK(yajl_gen_map_close(g));

    return 0;
}


/* --- content negotiation ------------------------------------------------- */

#define MSTDN_AP_ACCEPT_MAX  32

typedef struct {
    const char  *type;
    size_t       len;
    int          q;             /* thousandths */
} accept_range_t;


/* bytes from a to b, 0 when b is before a */
static size_t
span(const char *a, const char *b)
{
    return (b > a) ? (size_t) (b - a) : 0;
}


static int
range_is(const accept_range_t *r, const char *type)
{
    return r->len == strlen(type) && strncasecmp(r->type, type, r->len) == 0;
}


/* q=0.5 as thousandths; anything unreadable counts as 1 (Rails' to_f) */
static int
accept_q(const char *p, const char *end)
{
    int  q, scale;

    q = 0;

    if (p < end && *p == '1') {
        return 1000;
    }

    if (p < end && *p == '0') {
        p++;
    }

    if (p < end && *p == '.') {
        p++;
        for (scale = 100; p < end && scale > 0 && *p >= '0' && *p <= '9';
             p++, scale /= 10)
        {
            q += (*p - '0') * scale;
        }
    }

    return q;
}


int
mstdn_ap_accept(const char *accept, size_t len)
{
    const char      *p, *end, *item, *item_end, *semi, *t;
    accept_range_t   ranges[MSTDN_AP_ACCEPT_MAX], tmp;
    size_t           n, i, j;
    int              comma;

    if (accept == NULL) {
        return MSTDN_AP_WANTS_HTML;
    }

    end = accept + len;
    comma = (memchr(accept, ',', len) != NULL);

    /* Rails' BROWSER_LIKE_ACCEPTS: the any-type range next to a comma */
    if (comma) {
        for (p = accept; p + 3 <= end; p++) {
            if (p[0] == '*' && p[1] == '/' && p[2] == '*') {
                for (t = p + 3; t < end && (*t == ' ' || *t == '\t'); t++) {
                    /* void */
                }
                if (t < end && *t == ',') {
                    return MSTDN_AP_WANTS_HTML;
                }
                for (t = p; t > accept && (t[-1] == ' ' || t[-1] == '\t');
                     t--)
                {
                    /* void */
                }
                if (t > accept && t[-1] == ',') {
                    return MSTDN_AP_WANTS_HTML;
                }
            }
        }
    }

    n = 0;

    for (p = accept; p < end && n < MSTDN_AP_ACCEPT_MAX; p = item_end + 1) {
        item = p;
        item_end = memchr(p, ',', span(p, end));
        if (item_end == NULL) {
            item_end = end;
        }

        while (item < item_end && (*item == ' ' || *item == '\t')) {
            item++;
        }

        semi = memchr(item, ';', span(item, item_end));
        t = semi ? semi : item_end;

        while (t > item && (t[-1] == ' ' || t[-1] == '\t')) {
            t--;
        }

        if (t > item) {
            ranges[n].type = item;
            ranges[n].len = t - item;
            ranges[n].q = 1000;

            /* the q parameter among the others */
            while (semi) {
                p = semi + 1;
                while (p < item_end && (*p == ' ' || *p == '\t')) {
                    p++;
                }
                semi = memchr(p, ';', span(p, item_end));
                if (item_end - p > 2 && p[0] == 'q' && p[1] == '=') {
                    ranges[n].q = accept_q(p + 2, semi ? semi : item_end);
                }
            }

            n++;
        }

        if (item_end == end) {
            break;
        }
    }

    /* by q, stable */
    for (i = 1; i < n; i++) {
        tmp = ranges[i];
        for (j = i; j > 0 && ranges[j - 1].q < tmp.q; j--) {
            ranges[j] = ranges[j - 1];
        }
        ranges[j] = tmp;
    }

    for (i = 0; i < n; i++) {
        if (ranges[i].q == 0) {
            continue;
        }

        if (range_is(&ranges[i], "application/json")
            || range_is(&ranges[i], "application/activity+json")
            || range_is(&ranges[i], "application/ld+json")
            || range_is(&ranges[i], "application/jrd+json")
            || range_is(&ranges[i], "text/x-json")
            || range_is(&ranges[i], "application/jsonrequest"))
        {
            return MSTDN_AP_WANTS_JSON;
        }

        if (range_is(&ranges[i], "text/html")
            || range_is(&ranges[i], "application/xhtml+xml")
            || range_is(&ranges[i], "text/*")
            || range_is(&ranges[i], "*/*"))
        {
            return MSTDN_AP_WANTS_HTML;
        }
    }

    return n ? MSTDN_AP_WANTS_NONE : MSTDN_AP_WANTS_HTML;
}
