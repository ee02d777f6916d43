#ifndef MSTDN_AP_H
#define MSTDN_AP_H

/*
 * ActivityPub JSON as Mastodon 4.x writes it (app/serializers/activitypub/,
 * app/lib/activitypub/adapter.rb, ActivityPub::TagManager): actors, Notes,
 * the activities, Tombstones and collections, from plain C structs into a
 * caller's yajl generator.  The one place for ActivityPub shapes: the module
 * answers GETs with it, the worker delivers with it.
 *
 * Strings are NUL-terminated UTF-8; NULL (or "" where said) leaves a
 * property out or writes null as Mastodon does.  `base` is
 * "https://WEB_DOMAIN" without a trailing slash; a local account's URIs are
 * built from it and the username (mstdn_ap_uri()), so that the link rule
 * lives here only.
 *
 * The "@context" of a document is collected as Mastodon's adapter collects
 * it: "https://www.w3.org/ns/activitystreams", then the named contexts
 * (security) and one object of the extensions each serializer that ran
 * declared, in the order they ran, keys merged; a single entry is written as
 * a plain string.
 *
 * Every mstdn_ap_*() writer returns 0, or -1 when yajl refused something
 * (invalid UTF-8 with yajl_gen_validate_utf8 on, say).
 */

#include <stddef.h>
#include <stdint.h>
#include <yajl/yajl_gen.h>
#include "mstdn_value.h"

#define MSTDN_AP_PUBLIC  "https://www.w3.org/ns/activitystreams#Public"
#define MSTDN_AP_CONTEXT "https://www.w3.org/ns/activitystreams"

/* Content-Type of what the module serves, and what a fetch asks for */
#define MSTDN_AP_MEDIA_TYPE  "application/activity+json"
#define MSTDN_AP_LD_TYPE \
    "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""

/*
 * Content negotiation as Rails does it for Mastodon's ActivityPub routes
 * (config/initializers/mime_types.rb makes application/activity+json,
 * application/ld+json, application/jrd+json, text/x-json and
 * application/jsonrequest aliases of application/json): the media ranges
 * by q (stable), the first that is JSON or HTML (text/html,
 * application/xhtml+xml, text/ANY, ANY/ANY) decides; a browser-like header
 * (a list with ANY/ANY in it; ANY: the '*' wildcard) or none is HTML.
 * Returns MSTDN_AP_WANTS_JSON, _HTML, or _NONE (nothing acceptable: 406).
 * Bounded: at most 32 ranges are looked at.
 */
#define MSTDN_AP_WANTS_HTML   0
#define MSTDN_AP_WANTS_JSON   1
#define MSTDN_AP_WANTS_NONE  -1

int mstdn_ap_accept(const char *accept, size_t len);


/* statuses.visibility as Mastodon stores it */
enum {
    MSTDN_AP_PUBLIC_VIS = 0,
    MSTDN_AP_UNLISTED = 1,
    MSTDN_AP_PRIVATE = 2,
    MSTDN_AP_DIRECT = 3,
    MSTDN_AP_LIMITED = 4
};


/* --- URIs of local things (ActivityPub::TagManager, config/routes) ------- */

typedef enum {
    MSTDN_AP_URI_ACCOUNT = 0,   /* base/users/NAME */
    MSTDN_AP_URI_PROFILE,       /* base/@NAME */
    MSTDN_AP_URI_INBOX,         /* base/users/NAME/inbox */
    MSTDN_AP_URI_OUTBOX,        /* base/users/NAME/outbox */
    MSTDN_AP_URI_FOLLOWERS,     /* base/users/NAME/followers */
    MSTDN_AP_URI_FOLLOWING,     /* base/users/NAME/following */
    MSTDN_AP_URI_FEATURED,      /* base/users/NAME/collections/featured */
    MSTDN_AP_URI_FEATURED_TAGS, /* base/users/NAME/collections/tags */
    MSTDN_AP_URI_KEY,           /* base/users/NAME#main-key */
    MSTDN_AP_URI_STATUS,        /* base/users/NAME/statuses/ID */
    MSTDN_AP_URI_STATUS_URL,    /* base/@NAME/ID */
    MSTDN_AP_URI_ACTIVITY,      /* base/users/NAME/statuses/ID/activity */
    MSTDN_AP_URI_REPLIES,       /* base/users/NAME/statuses/ID/replies */
    MSTDN_AP_URI_LIKES,         /* base/users/NAME/statuses/ID/likes */
    MSTDN_AP_URI_SHARES,        /* base/users/NAME/statuses/ID/shares */
    MSTDN_AP_URI_SHARED_INBOX,  /* base/inbox */
    MSTDN_AP_URI_TAG            /* base/tags/NAME (NAME: the tag) */
} mstdn_ap_uri_kind_t;

/* The instance actor's URIs (name NULL with these kinds): base/actor,
 * base/actor/inbox, base/actor/outbox, base/actor#main-key,
 * base/about/more?instance_actor=true. */
#define MSTDN_AP_URI_INSTANCE_ACTOR     100
#define MSTDN_AP_URI_INSTANCE_INBOX     101
#define MSTDN_AP_URI_INSTANCE_OUTBOX    102
#define MSTDN_AP_URI_INSTANCE_KEY       103
#define MSTDN_AP_URI_INSTANCE_URL       104

/*
 * Writes the URI into out (NUL-terminated, at most size bytes with the NUL)
 * and returns its length, or -1 when it does not fit or kind is unknown.
 * id: the status id (decimal) for the status kinds, else ignored.  The
 * username is a local one ([A-Za-z0-9_]): written as it is.
 */
int mstdn_ap_uri(char *out, size_t size, const char *base, int kind,
    const char *name, const char *id);

/* OStatus::TagManager#unique_tag of a local conversation:
 * "tag:LOCAL_DOMAIN,YYYY-MM-DD:objectId=ID:objectType=Conversation";
 * date is "YYYY-MM-DD" (its created_at).  Same return as mstdn_ap_uri(). */
int mstdn_ap_conversation_tag(char *out, size_t size,
    const char *local_domain, const char *date, const char *id);


/* --- actors (ActivityPub::ActorSerializer) ------------------------------- */

typedef enum {
    MSTDN_AP_PERSON = 0,
    MSTDN_AP_SERVICE,           /* a bot (actor_type Service) */
    MSTDN_AP_APPLICATION,       /* the instance actor */
    MSTDN_AP_GROUP
} mstdn_ap_actor_type_t;

typedef struct {
    const char     *url;            /* NULL: no image */
    const char     *media_type;
} mstdn_ap_image_t;

typedef struct {
    const char     *name;
    const char     *value;          /* HTML, as Mastodon formats a field */
} mstdn_ap_field_t;

typedef enum {
    MSTDN_AP_TAG_MENTION = 0,
    MSTDN_AP_TAG_HASHTAG,
    MSTDN_AP_TAG_EMOJI
} mstdn_ap_tag_kind_t;

/*
 * A tag of a Note or an actor.  Mention: href is the account's URI (NULL or
 * "": a local account, built from base and `username`), name its acct
 * ("alice" or "alice@remote.example"; '@' is prepended).  Hashtag: name is
 * the tag's name without '#'; href NULL: base/tags/NAME.  Emoji: id, name
 * (the shortcode, ':' added both sides), updated, the icon's url and
 * media_type.
 */
typedef struct {
    mstdn_ap_tag_kind_t  kind;
    const char          *href;
    const char          *name;
    const char          *username;   /* mention of a local account */
    const char          *id;         /* emoji */
    const char          *updated;    /* emoji */
    const char          *icon_url;   /* emoji */
    const char          *media_type; /* emoji */
} mstdn_ap_tag_t;

/*
 * A local account (or the instance actor: type APPLICATION, username = the
 * domain, its URIs base/actor...).  name: the display name (""/NULL: the
 * username is written); summary: the note as HTML; published: created_at at
 * midnight, ISO 8601 ("2024-05-01T00:00:00Z").  suspended: Mastodon's
 * unavailable account (name = username, summary "", no icon/image/tags/
 * fields, manuallyApprovesFollowers/discoverable/indexable false,
 * "suspended": true).
 */
typedef struct {
    const char             *base;
    const char             *username;
    mstdn_ap_actor_type_t   type;
    const char             *name;
    const char             *summary;
    const char             *published;
    const char             *public_key_pem;
    int                     locked;
    int                     discoverable;
    int                     indexable;
    int                     memorial;
    int                     suspended;
    const char             *moved_to;          /* the new account's URI */
    const char *const      *also_known_as;
    size_t                  n_also_known_as;
    const char *const      *attribution_domains;
    size_t                  n_attribution_domains;
    const mstdn_ap_tag_t   *tags;              /* the emojis */
    size_t                  ntags;
    /* the note as written (plain text, NULL: none): its hashtags follow
     * the emojis in `tag` as Hashtag objects (Account#tags, which
     * UpdateAccountService#process_hashtags extracts from the note) */
    const char             *note_text;
    const mstdn_ap_field_t *fields;
    size_t                  nfields;
    mstdn_ap_image_t        icon;              /* avatar */
    mstdn_ap_image_t        image;             /* header */
} mstdn_ap_actor_t;

/* A local custom emoji (t->kind MSTDN_AP_TAG_EMOJI) as the document at
 * its id, base/emojis/ID (ActivityPub::EmojiSerializer, with its
 * @context). */
int mstdn_ap_emoji(yajl_gen g, const mstdn_ap_tag_t *t);

/* The actor as a document (with its @context). */
int mstdn_ap_actor(yajl_gen g, const mstdn_ap_actor_t *a);


/* --- statuses (ActivityPub::NoteSerializer) ------------------------------ */

typedef struct {
    const char     *url;
    const char     *media_type;
    const char     *description;    /* NULL: "name": null */
    const char     *blurhash;       /* NULL: "blurhash": null */
    int             width;          /* 0: left out */
    int             height;
    int             has_focus;
    double          focus_x;
    double          focus_y;
} mstdn_ap_media_t;

/*
 * A local status.  visibility: MSTDN_AP_PUBLIC_VIS.. as stored; published:
 * created_at ISO 8601 (with milliseconds dropped, "...T12:34:56Z");
 * updated: edited_at or NULL; in_reply_to: the parent's URI or NULL;
 * summary: the spoiler text ("" or NULL: null); content: the HTML;
 * language: NULL or "": no contentMap; conversation: its URI or tag (NULL:
 * null).  tags: mentions (by mention id), hashtags, emojis, in that order;
 * the mentions decide the addressing of direct statuses and are cc'd on the
 * others (TagManager#to / #cc).  self_replies: the URIs of the author's
 * first replies to it (up to 5, oldest first) and last_reply_id the id of
 * the last of them, for the "replies" collection.  Reblog (an Announce):
 * reblog_of_uri is the original's URI and reblog_account_uri its author's;
 * visibility is the reblog's own; reblog_inline, when set, is the original
 * itself, written as the Announce's object instead of its URI
 * (ActivityPresenter.from_status inlines a local private status its own
 * author reblogs: no one could fetch it).  poll: the status' Poll entity as
 * mastodon_poll_json() of sql/0017_polls.sql writes it, parsed (NULL: no
 * poll); with one the Note is a Question (oneOf or anyOf, endTime, closed,
 * votersCount).  attachments: the status' media as
 * mastodon_ap_attachments() of sql/0022 writes them, parsed (an array of
 * {"id", "file", "mediaType", "name", "blurhash", "width", "height",
 * "focus": [x, y]}), written after media[] as Documents whose url is the
 * original file's: media_base (NULL: base/system) and its key,
 * mstdn_media_key(), as the REST entity writes it.
 */
typedef struct mstdn_ap_status_s {
    const char             *base;
    const char             *username;       /* the author's */
    const char             *id;             /* decimal */
    int                     visibility;
    const char             *published;
    const char             *updated;
    const char             *in_reply_to;
    const char             *summary;
    const char             *content;
    const char             *language;
    int                     sensitive;
    const char             *conversation;
    const mstdn_ap_tag_t   *tags;
    size_t                  ntags;
    const mstdn_ap_media_t *media;
    size_t                  nmedia;
    const char *const      *self_replies;
    size_t                  nself_replies;
    const char             *last_reply_id;
    int64_t                 favourites_count;
    int64_t                 reblogs_count;
    const char             *reblog_of_uri;
    const char             *reblog_account_uri;
    const struct mstdn_ap_status_s *reblog_inline;
    const mstdn_value_t    *poll;
    const mstdn_value_t    *attachments;    /* mastodon_ap_attachments() */
    const char             *media_base;     /* where stored files are public */
} mstdn_ap_status_t;

/* The Note as a document (GET of a status URI). */
int mstdn_ap_note(yajl_gen g, const mstdn_ap_status_t *s);

/*
 * TagManager#to and #cc of a status: fills to[] and cc[] (arrays of at least
 * 2 + number of mentions entries) with pointers into s, bufs (URIs built
 * here: at least 2 * MSTDN_AP_URI_MAX bytes) and constants; sets the counts.
 */
#define MSTDN_AP_URI_MAX  1024
int mstdn_ap_addressing(const mstdn_ap_status_t *s, const char **to,
    size_t *nto, const char **cc, size_t *ncc, char *bufs, size_t bufsize);


/* --- activities ---------------------------------------------------------- */

typedef enum {
    MSTDN_AP_CREATE = 0,        /* status: Create of its Note */
    MSTDN_AP_UPDATE_NOTE,       /* status: its edit (updated set) */
    MSTDN_AP_ANNOUNCE,          /* status: a reblog */
    MSTDN_AP_DELETE_NOTE,       /* status: Delete with a Tombstone */
    MSTDN_AP_UPDATE_ACTOR,      /* actor_object: profile change */
    MSTDN_AP_DELETE_ACTOR,      /* actor: account deleted */
    MSTDN_AP_LIKE,              /* actor, object: the status URI; rel_id */
    MSTDN_AP_FOLLOW,            /* id (or actor#follows/rel_id), object */
    MSTDN_AP_ACCEPT,            /* actor: followed; inner: the Follow */
    MSTDN_AP_REJECT,            /* actor: followed; inner: the Follow */
    MSTDN_AP_UNDO,              /* actor; inner: Follow/Like/Block/Announce */
    MSTDN_AP_BLOCK,             /* actor, object: target URI; rel_id */
    MSTDN_AP_MOVE,              /* actor, target; rel_id (the migration) */
    MSTDN_AP_FLAG,              /* id, actor, content, objects */
    MSTDN_AP_VOTE,              /* actor, rel_id, object, target, content */
    MSTDN_AP_ADD_HASHTAG,       /* actor, target, object (href), content */
    MSTDN_AP_REMOVE_HASHTAG     /* actor, target, object (href), content */
} mstdn_ap_activity_type_t;

typedef struct mstdn_ap_activity_s  mstdn_ap_activity_t;

/*
 * What each type reads:
 *   CREATE, UPDATE_NOTE, ANNOUNCE, DELETE_NOTE: status (its id, actor, to,
 *     cc, published come from it; UPDATE_NOTE: published = updated);
 *   UPDATE_ACTOR: actor_object (id ACTOR#updates/updated_epoch);
 *   DELETE_ACTOR: actor (id ACTOR#delete);
 *   LIKE: actor, object, rel_id (ACTOR#likes/ID);
 *   FOLLOW: id (the follow's uri) or rel_id (ACTOR#follows/ID), actor,
 *     object;
 *   ACCEPT, REJECT: actor (the followed), rel_id (the follow request's id:
 *     ACTOR#accepts/follows/ID), inner (the Follow as received or sent);
 *   UNDO: inner; its id is built from the inner's actor and rel_id
 *     (#follows/ID/undo, #likes/ID/undo, #blocks/ID/undo,
 *     #announces/ID/undo with to: Public for an Announce);
 *   BLOCK: id or rel_id (ACTOR#blocks/ID), actor, object;
 *   MOVE: rel_id (ACTOR#moves/ID), actor, target;
 *   FLAG: id, actor (the instance actor), content, objects (the account's
 *     URI then the statuses');
 *   VOTE: a vote on a remote poll (ActivityPub::VoteSerializer): Create
 *     (ACTOR#votes/rel_id/activity) of a Note (ACTOR#votes/rel_id) whose
 *     name is content (the option's title), inReplyTo object (the poll's
 *     status URI), addressed to target (the poll's author).
 *   ADD_HASHTAG, REMOVE_HASHTAG: a featured tag (ActivityPub::AddSerializer,
 *     RemoveSerializer: no id): actor, target (its featured collection),
 *     a Hashtag object whose href is object and name content ("#name").
 */
struct mstdn_ap_activity_s {
    mstdn_ap_activity_type_t    type;
    const char                 *id;
    const char                 *actor;
    const char                 *object;
    const char                 *target;
    const char                 *rel_id;
    const char                 *updated_epoch;
    const char                 *content;
    const char *const          *objects;
    size_t                      nobjects;
    const mstdn_ap_status_t    *status;
    const mstdn_ap_actor_t     *actor_object;
    const mstdn_ap_activity_t  *inner;
};

/* The activity as a document. */
int mstdn_ap_activity(yajl_gen g, const mstdn_ap_activity_t *a);

/* The Tombstone of a deleted local status (its id), as a document: what a
 * GET of a deleted status's URI would answer (Mastodon answers 410 with
 * no body; the worker's Delete embeds it). */
int mstdn_ap_tombstone(yajl_gen g, const char *uri);


/* --- collections (ActivityPub::CollectionSerializer) --------------------- */

typedef enum {
    MSTDN_AP_ITEM_URI = 0,      /* a string */
    MSTDN_AP_ITEM_NOTE,         /* status: its Note */
    MSTDN_AP_ITEM_CREATE,       /* status: Create of its Note */
    MSTDN_AP_ITEM_ANNOUNCE,     /* status (a reblog): its Announce */
    MSTDN_AP_ITEM_HASHTAG       /* uri: href (NULL: base/tags/NAME), name */
} mstdn_ap_item_kind_t;

typedef struct {
    mstdn_ap_item_kind_t        kind;
    const char                 *uri;
    const char                 *name;
    const char                 *base;       /* hashtag without href */
    const mstdn_ap_status_t    *status;
} mstdn_ap_item_t;

typedef struct mstdn_ap_collection_s  mstdn_ap_collection_t;

/*
 * A Collection or OrderedCollection, or a page of one (part_of or page
 * set).  id NULL: left out (a page embedded in a Note).  total_items < 0:
 * left out.  first: a URI, or first_page: an embedded page.  items: written
 * when has_items (an empty array is written as []), as "orderedItems" when
 * ordered, else "items".  fields: MSTDN_AP_FIELDS_ID_TYPE_TOTAL writes only
 * id, type and totalItems (Mastodon's restrict_fields_to of a hidden
 * collection).
 */
struct mstdn_ap_collection_s {
    const char                     *id;
    int                             ordered;
    int                             page;
    int64_t                         total_items;
    const char                     *first;
    const mstdn_ap_collection_t    *first_page;
    const char                     *last;
    const char                     *next;
    const char                     *prev;
    const char                     *part_of;
    int                             has_items;
    const mstdn_ap_item_t          *items;
    size_t                          nitems;
    int                             fields;
};

#define MSTDN_AP_FIELDS_ALL             0
#define MSTDN_AP_FIELDS_ID_TYPE_TOTAL   1

int mstdn_ap_collection(yajl_gen g, const mstdn_ap_collection_t *c);


/* --- WebFinger (WebfingerSerializer), as JSON (JRD) ---------------------- */

/*
 * subject "acct:USERNAME@LOCAL_DOMAIN", aliases [base/@NAME, base/users/NAME],
 * links: profile-page (text/html), self (application/activity+json), self
 * (application/ld+json; profile=...: the issue asks for both types;
 * Mastodon writes the first only) and the subscribe template
 * base/authorize_interaction?uri={uri}.  The instance actor (username NULL):
 * subject acct:INSTANCE_NAME@LOCAL_DOMAIN, aliases [base/actor], links:
 * profile-page base/about/more?instance_actor=true, self base/actor (both
 * types), the subscribe template.
 */
int mstdn_ap_webfinger(yajl_gen g, const char *base, const char *local_domain,
    const char *username, const char *instance_name);

#endif
