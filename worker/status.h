#ifndef MW_STATUS_H
#define MW_STATUS_H

/* What the fan-out jobs need to know about a status, read in one query. */

#include <libpq-fe.h>
#include "args.h"

enum { VISIBILITY_PUBLIC, VISIBILITY_UNLISTED, VISIBILITY_PRIVATE, VISIBILITY_DIRECT };

typedef struct {
    int   found;
    char  id[MW_ID_LEN];
    char  account_id[MW_ID_LEN];
    char  reblog_of_id[MW_ID_LEN];          /* "" when not a reblog */
    char  reblog_account_id[MW_ID_LEN];     /* the original's author, or "" */
    char  in_reply_to_account_id[MW_ID_LEN];/* "" when not a reply or a self-reply */
    char  language[64];                     /* "" when unknown */
    int   visibility;
    int   deleted;
    int   local;                            /* posted here */
    int   author_local;
    int   author_silenced;
    int   reply;                            /* statuses.reply */
    char  in_reply_to_id[MW_ID_LEN];        /* "" when none (or unknown) */
    char  replied_account_id[MW_ID_LEN];    /* in_reply_to_account_id as stored, "" when NULL */
    int   reply_to_other;                   /* a reply to another account */
    int   has_media;
    int   reaches_remote;                   /* remote followers, mentions or original author */
    char *reblog_account_domain;            /* NULL when local or not a reblog */
    char *tags;                             /* lower-cased names, '\n' after each; "" none */
    char *mentioned;                        /* PostgreSQL array: local accounts mentioned (not silently) */
    int   author_listed;                    /* the author is in a list */
    char  big_since_status_id[MW_ID_LEN];   /* feed_big_accounts' switch, "" none */
    long long author_followers;             /* account_stats.followers_count */
    int   tags_followed;                    /* a tag of it has followers (tag_follows) */
    int   followers_all_local;              /* the author has no followers on other servers */
    PGresult *res;                          /* owns the strings above */
} status_facts;

/* 0 (f->found tells whether the row exists; soft-deleted rows are found
 * with f->deleted set), or -1 + err. */
int  status_load(PGconn *db, const char *id, status_facts *f, char *err, size_t errlen);
void status_free(status_facts *f);

/* Mastodon's broadcastable?: public, not a reblog, author not silenced. */
int  status_broadcastable(const status_facts *f);

#endif
