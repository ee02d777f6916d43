/* WebFinger of remote accounts: the lookup (Mastodon's WebfingerHelper)
 * and the check a new remote account passes before it is stored
 * (ActivityPub::FetchRemoteActorService#check_webfinger!): the acct the
 * actor's host answers for its preferredUsername must link back to the
 * actor, or name another domain (a split domain: account domain and web
 * domain differ) whose own WebFinger answers for the same acct and links
 * back to the same actor.  WebFinger GETs are unsigned, as Mastodon's. */
#include "inbox.h"
#include "db.h"
#include "fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mstdn_html.h"
#include "mstdn_sanitize.h"

/* the actor a JRD links as "self" (ActivityPub) */
static const char *self_link(const mstdn_value_t *jrd)
{
    const mstdn_value_t *links = mstdn_object_get(jrd, "links");
    if (links == NULL || links->type != MSTDN_ARRAY)
        return NULL;
    for (const mstdn_value_t *l = links->first; l != NULL; l = l->next) {
        const char *rel = inbox_str(l, "rel"), *type = inbox_str(l, "type");
        if (rel != NULL && strcmp(rel, "self") == 0 && type != NULL
            && (strcmp(type, "application/activity+json") == 0
                || strncmp(type, "application/ld+json", 19) == 0))
            return inbox_str(l, "href");
    }
    return NULL;
}

/* "acct:user@domain" or "user@domain" split (Mastodon's split_acct) */
static int split_acct(const char *s, inbox_webfinger_t *wf)
{
    if (s == NULL)
        return -1;
    if (strncasecmp(s, "acct:", 5) == 0)
        s += 5;
    const char *at = strchr(s, '@');
    if (at == NULL || at == s || (size_t) (at - s) >= sizeof(wf->user)
        || at[1] == '\0' || strlen(at + 1) >= sizeof(wf->domain) || strchr(at + 1, '@') != NULL)
        return -1;
    memcpy(wf->user, s, (size_t) (at - s));
    wf->user[at - s] = '\0';
    snprintf(wf->domain, sizeof(wf->domain), "%s", at + 1);
    return 0;
}

int inbox_webfinger(job_ctx *ctx, const char *user, const char *domain, inbox_webfinger_t *wf,
                    char *err, size_t errlen)
{
    char acct[INBOX_ACCT_MAX * 2], esc[MSTDN_URL_ESCAPE_MAX(INBOX_ACCT_MAX * 2) + 1];
    char url[sizeof(esc) + INBOX_HOST_MAX + 64];
    const mstdn_value_t *jrd = NULL;
    char *final_url = NULL;

    memset(wf, 0, sizeof(*wf));
    if (strlen(user) >= INBOX_ACCT_MAX || strlen(domain) >= INBOX_HOST_MAX
        || strspn(domain, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]_")
           != strlen(domain)) {
        snprintf(err, errlen, "%.200s@%.200s is no account address", user, domain);
        return 0;
    }
    snprintf(acct, sizeof(acct), "acct:%s@%s", user, domain);
    size_t n = mstdn_url_escape(esc, acct, strlen(acct), 0);
    esc[n] = '\0';
    snprintf(url, sizeof(url), "%s://%s/.well-known/webfinger?resource=%s",
             ctx->cfg->federation_allow_http ? "http" : "https", domain, esc);

    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t a;
    if (ar == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mstdn_arena_allocator(ar, &a);
    int rc = inbox_fetch_json(ctx, url, 1, &a, &jrd, &final_url, err, errlen);
    free(final_url);
    if (rc == 1) {
        const char *self = self_link(jrd);
        if (split_acct(inbox_str(jrd, "subject"), wf) != 0) {
            snprintf(err, errlen, "WebFinger of %.300s: no usable subject", acct + 5);
            rc = 0;
        } else if (self == NULL || strlen(self) >= sizeof(wf->self)) {
            snprintf(err, errlen, "WebFinger of %.300s: no ActivityPub actor", acct + 5);
            rc = 0;
        } else {
            snprintf(wf->self, sizeof(wf->self), "%s", self);
        }
    }
    mstdn_arena_destroy(ar);
    return rc;
}

int inbox_actor_webfinger(job_ctx *ctx, const char *uri, const char *username,
                          inbox_webfinger_t *wf, char *err, size_t errlen)
{
    char domain[INBOX_HOST_MAX + 8], user[INBOX_ACCT_MAX];

    if (fetch_url_domain(uri, domain, sizeof(domain)) != 0 || strlen(username) >= sizeof(user)) {
        snprintf(err, errlen, "actor %.300s: no account address", uri);
        return 0;
    }
    snprintf(user, sizeof(user), "%s", username);
    int rc = inbox_webfinger(ctx, user, domain, wf, err, errlen);
    if (rc <= 0)
        return rc;
    if (strcasecmp(wf->user, user) == 0 && strcasecmp(wf->domain, domain) == 0) {
        if (strcmp(wf->self, uri) != 0) {
            snprintf(err, errlen, "WebFinger of %.200s@%.200s does not link back to %.300s",
                     user, domain, uri);
            return 0;
        }
        return 1;
    }
    /* another acct: followed once, it must answer for itself and link
     * back to the same actor */
    inbox_webfinger_t named = *wf;
    rc = inbox_webfinger(ctx, named.user, named.domain, wf, err, errlen);
    if (rc <= 0)
        return rc;
    if (strcasecmp(wf->user, named.user) != 0 || strcasecmp(wf->domain, named.domain) != 0) {
        snprintf(err, errlen, "too many WebFinger redirects for %.300s (stopped at %.200s@%.200s)",
                 uri, wf->user, wf->domain);
        return 0;
    }
    if (strcmp(wf->self, uri) != 0) {
        snprintf(err, errlen, "WebFinger of %.200s@%.200s does not link back to %.300s",
                 wf->user, wf->domain, uri);
        return 0;
    }
    return 1;
}

int inbox_actor_store_new(job_ctx *ctx, PGconn *db, const mstdn_value_t *doc, const char *uri,
                          char out[MW_ID_LEN], char *err, size_t errlen)
{
    const char *params[1] = { uri };
    inbox_webfinger_t wf;

    PGresult *res = db_query(db, "SELECT 1 FROM accounts WHERE uri = $1 AND domain IS NOT NULL",
                             1, params, PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    int known = PQntuples(res) == 1;
    PQclear(res);
    if (known)
        return inbox_actor_store(db, ctx->cfg, doc, uri, NULL, out, err, errlen);

    const char *username = inbox_str(doc, "preferredUsername");
    if (username == NULL || username[0] == '\0' || inbox_str(doc, "id") == NULL
        || strcmp(inbox_str(doc, "id"), uri) != 0) {
        /* what the store refuses, with its reason */
        return inbox_actor_store(db, ctx->cfg, doc, uri, NULL, out, err, errlen);
    }
    int rc = inbox_actor_webfinger(ctx, uri, username, &wf, err, errlen);
    if (rc <= 0)
        return rc;
    return inbox_actor_store(db, ctx->cfg, doc, uri, &wf, out, err, errlen);
}
