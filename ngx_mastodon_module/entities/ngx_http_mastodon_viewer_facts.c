/*
 * The viewer's facts in the render cache (kind viewer, keyed by the
 * viewer's account id): what the status loader's lean statement said about
 * the statuses and authors a viewer saw lately, so that a warm read asks
 * PostgreSQL nothing.
 *
 * Per status: found, its visibility, the viewer's flags (favourited,
 * bookmarked, pinned, reblogged, mentioned, conversation muted, poll
 * votes), with the status'
 * render cache version when they were read: any change to a status
 * (an edit, a delete, a counter: every writer forgets it) makes its facts
 * stale too.  Per author: the relations the policy needs (suspended,
 * following, blocking, blocked by, domain blocking); an author the viewer
 * mutes is not remembered (a mute may expire).  Writers of the viewer's
 * own facts call ngx_http_mastodon_viewer_forget() after their commit; a
 * change that concerns every viewer (a suspension) forgets id 0, whose
 * version every entry carries.  A miss runs the lean statement as before,
 * which fills the entry.  The anonymous viewer's facts (no flags, no
 * relations but what concerns every viewer) are kept under id -1: a warm
 * anonymous page asks PostgreSQL nothing either.
 */

#include "ngx_http_mastodon_entities.h"
#include "ngx_http_mastodon_cache.h"


#define NGX_HTTP_MASTODON_VF_STATUSES    512
#define NGX_HTTP_MASTODON_VF_AUTHORS     256

#define NGX_HTTP_MASTODON_VF_FOUND       0x01
#define NGX_HTTP_MASTODON_VF_FAVOURITED  0x02
#define NGX_HTTP_MASTODON_VF_BOOKMARKED  0x04
#define NGX_HTTP_MASTODON_VF_PINNED      0x08
#define NGX_HTTP_MASTODON_VF_REBLOGGED   0x10
#define NGX_HTTP_MASTODON_VF_MENTIONED   0x20
#define NGX_HTTP_MASTODON_VF_MUTED       0x40
#define NGX_HTTP_MASTODON_VF_VOTED       0x80
#define NGX_HTTP_MASTODON_VF_VISIBILITY  8       /* shift: 0 public .. 3 */

#define NGX_HTTP_MASTODON_VF_ANONYMOUS   -1      /* the key without viewer */
#define ngx_http_mastodon_vf_key(st)                                          \
    ((st)->viewer ? (st)->viewer : NGX_HTTP_MASTODON_VF_ANONYMOUS)


typedef struct {
    int64_t                        id;
    uint64_t                       own_votes;
    ngx_uint_t                     version;     /* the status' */
    ngx_uint_t                     flags;       /* NGX_HTTP_MASTODON_VF_* */
} ngx_http_mastodon_vf_status_t;

typedef struct {
    int64_t                        id;
    ngx_uint_t                     rel;         /* NGX_HTTP_MASTODON_VIEWER_* */
} ngx_http_mastodon_vf_author_t;

typedef struct {
    ngx_uint_t                     epoch;       /* every viewer's version */
    ngx_uint_t                     nstatuses;
    ngx_uint_t                     nauthors;
} ngx_http_mastodon_vf_t;


/* the entry, copied aligned into pool; NULL: none (or unusable) */
static ngx_http_mastodon_vf_t *
ngx_http_mastodon_viewer_facts_get(ngx_http_mastodon_statuses_t *st)
{
    int64_t                  key;
    ngx_str_t                v;
    ngx_http_mastodon_vf_t  *vf;

    key = ngx_http_mastodon_vf_key(st);

    /* _get_many()'s copy is aligned */
    if (ngx_http_mastodon_cache_get_many(NGX_HTTP_MASTODON_CACHE_VIEWER,
                                         &key, 1, st->pool, &v)
        != NGX_OK
        || v.len < sizeof(ngx_http_mastodon_vf_t))
    {
        return NULL;
    }

    vf = (ngx_http_mastodon_vf_t *) v.data;

    if (v.len != sizeof(ngx_http_mastodon_vf_t)
                 + vf->nstatuses * sizeof(ngx_http_mastodon_vf_status_t)
                 + vf->nauthors * sizeof(ngx_http_mastodon_vf_author_t))
    {
        return NULL;
    }

    return vf;
}


/*
 * Before the lean statement is sent: the versions its facts will be
 * remembered with; then, if every item's facts are known, they are set
 * and rels[i] is the relation to item i's author (NGX_OK), else
 * NGX_DECLINED.
 */
ngx_int_t
ngx_http_mastodon_viewer_facts(ngx_http_mastodon_statuses_t *st,
    ngx_uint_t *rels)
{
    ngx_uint_t                        i, k, n;
    ngx_http_mastodon_vf_t           *vf;
    ngx_http_mastodon_vf_status_t    *s;
    ngx_http_mastodon_vf_author_t    *a;
    ngx_http_mastodon_status_item_t  *it;

    if (st->viewer < 0 || !ngx_http_mastodon_cache_usable()) {
        return NGX_DECLINED;
    }

    it = st->items.elts;
    n = st->items.nelts;

    st->versions = ngx_palloc(st->pool, (n + 1) * sizeof(ngx_uint_t));
    if (st->versions == NULL) {
        return NGX_ERROR;
    }

    st->vf_version = ngx_http_mastodon_cache_version(
                                NGX_HTTP_MASTODON_CACHE_VIEWER,
                                ngx_http_mastodon_vf_key(st));
    st->vf_epoch = ngx_http_mastodon_cache_version(
                                NGX_HTTP_MASTODON_CACHE_VIEWER, 0);

    for (i = 0; i < n; i++) {
        st->versions[i] = ngx_http_mastodon_cache_version(
                                NGX_HTTP_MASTODON_CACHE_STATUS, it[i].id);
    }

    st->vf_versioned = 1;

    vf = ngx_http_mastodon_viewer_facts_get(st);
    if (vf == NULL || vf->epoch != st->vf_epoch) {
        return NGX_DECLINED;
    }

    s = (ngx_http_mastodon_vf_status_t *) (vf + 1);
    a = (ngx_http_mastodon_vf_author_t *) (s + vf->nstatuses);

    /* all or nothing: a partial answer would still need the statement */
    for (i = 0; i < n; i++) {
        for (k = 0; k < vf->nstatuses; k++) {
            if (s[k].id == it[i].id) {
                break;
            }
        }

        if (k == vf->nstatuses || s[k].version != st->versions[i]) {
            return NGX_DECLINED;
        }

        for (k = 0; k < vf->nauthors; k++) {
            if (a[k].id == it[i].account_id) {
                break;
            }
        }

        if (k == vf->nauthors) {
            return NGX_DECLINED;
        }

        rels[i] = a[k].rel;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; s[k].id != it[i].id; k++) { /* void */ }

        it[i].found = (s[k].flags & NGX_HTTP_MASTODON_VF_FOUND) != 0;
        it[i].favourited = (s[k].flags & NGX_HTTP_MASTODON_VF_FAVOURITED) != 0;
        it[i].bookmarked = (s[k].flags & NGX_HTTP_MASTODON_VF_BOOKMARKED) != 0;
        it[i].pinned = (s[k].flags & NGX_HTTP_MASTODON_VF_PINNED) != 0;
        it[i].reblogged = (s[k].flags & NGX_HTTP_MASTODON_VF_REBLOGGED) != 0;
        it[i].mentioned = (s[k].flags & NGX_HTTP_MASTODON_VF_MENTIONED) != 0;
        it[i].muted = (s[k].flags & NGX_HTTP_MASTODON_VF_MUTED) != 0;
        it[i].voted = (s[k].flags & NGX_HTTP_MASTODON_VF_VOTED) != 0;
        it[i].own_votes = s[k].own_votes;
        /* as PostgreSQL said it (the header of the cached object is
         * not read for it) */
        it[i].visibility = (s[k].flags >> NGX_HTTP_MASTODON_VF_VISIBILITY) & 3;
    }

    st->known = 1;

    return NGX_OK;
}


/*
 * After the lean statement: its facts (the items' flags, st->who/rels)
 * go into the entry, with what the entry held of other statuses and
 * authors, newest first; _put() drops it if the viewer's facts were
 * forgotten since the versions were taken.
 */
void
ngx_http_mastodon_viewer_facts_remember(ngx_http_mastodon_statuses_t *st)
{
    size_t                            len;
    ngx_str_t                         v;
    ngx_uint_t                        i, k, n, ns, na, flags;
    ngx_http_mastodon_vf_t           *vf, *old;
    ngx_http_mastodon_vf_status_t    *s, *os;
    ngx_http_mastodon_vf_author_t    *a, *oa;
    ngx_http_mastodon_status_item_t  *it;

    if (!st->vf_versioned || st->known || st->versions == NULL) {
        return;
    }

    it = st->items.elts;
    n = st->items.nelts;

    if (n > NGX_HTTP_MASTODON_VF_STATUSES || st->nwho > n) {
        return;
    }

    old = ngx_http_mastodon_viewer_facts_get(st);
    if (old && old->epoch != st->vf_epoch) {
        old = NULL;
    }

    len = sizeof(ngx_http_mastodon_vf_t)
          + NGX_HTTP_MASTODON_VF_STATUSES
            * sizeof(ngx_http_mastodon_vf_status_t)
          + NGX_HTTP_MASTODON_VF_AUTHORS
            * sizeof(ngx_http_mastodon_vf_author_t);

    vf = ngx_palloc(st->pool, len);
    s = ngx_palloc(st->pool, NGX_HTTP_MASTODON_VF_STATUSES
                             * sizeof(ngx_http_mastodon_vf_status_t));
    a = ngx_palloc(st->pool, NGX_HTTP_MASTODON_VF_AUTHORS
                             * sizeof(ngx_http_mastodon_vf_author_t));
    if (vf == NULL || s == NULL || a == NULL) {
        return;
    }

    ns = 0;

    for (i = 0; i < n; i++) {
        flags = (it[i].found ? NGX_HTTP_MASTODON_VF_FOUND : 0)
                | (it[i].favourited ? NGX_HTTP_MASTODON_VF_FAVOURITED : 0)
                | (it[i].bookmarked ? NGX_HTTP_MASTODON_VF_BOOKMARKED : 0)
                | (it[i].pinned ? NGX_HTTP_MASTODON_VF_PINNED : 0)
                | (it[i].reblogged ? NGX_HTTP_MASTODON_VF_REBLOGGED : 0)
                | (it[i].mentioned ? NGX_HTTP_MASTODON_VF_MENTIONED : 0)
                | (it[i].muted ? NGX_HTTP_MASTODON_VF_MUTED : 0)
                | (it[i].voted ? NGX_HTTP_MASTODON_VF_VOTED : 0)
                | (it[i].visibility & 3) << NGX_HTTP_MASTODON_VF_VISIBILITY;

        for (k = 0; k < ns && s[k].id != it[i].id; k++) { /* void */ }

        if (k < ns) {
            continue;
        }

        s[ns].id = it[i].id;
        s[ns].own_votes = it[i].own_votes;
        s[ns].version = st->versions[i];
        s[ns].flags = flags;
        ns++;
    }

    /* every author of the load: no row, no relation */
    na = 0;

    for (i = 0; i < n && na < NGX_HTTP_MASTODON_VF_AUTHORS; i++) {
        for (k = 0; k < na && a[k].id != it[i].account_id; k++) { /* void */ }

        if (k < na) {
            continue;
        }

        a[na].id = it[i].account_id;
        a[na].rel = 0;

        for (k = 0; k < st->nwho; k++) {
            if (st->who[k] == it[i].account_id) {
                a[na].rel = st->rels[k];
                break;
            }
        }

        if (a[na].rel & NGX_HTTP_MASTODON_VIEWER_MUTING) {
            continue;               /* may expire: asked each time */
        }

        na++;
    }

    if (old) {
        os = (ngx_http_mastodon_vf_status_t *) (old + 1);
        oa = (ngx_http_mastodon_vf_author_t *) (os + old->nstatuses);

        for (i = 0; i < old->nstatuses && ns < NGX_HTTP_MASTODON_VF_STATUSES;
             i++)
        {
            for (k = 0; k < ns && s[k].id != os[i].id; k++) { /* void */ }

            if (k == ns) {
                s[ns++] = os[i];
            }
        }

        for (i = 0; i < old->nauthors && na < NGX_HTTP_MASTODON_VF_AUTHORS;
             i++)
        {
            for (k = 0; k < na && a[k].id != oa[i].id; k++) { /* void */ }

            if (k == na) {
                a[na++] = oa[i];
            }
        }
    }

    vf->epoch = st->vf_epoch;
    vf->nstatuses = ns;
    vf->nauthors = na;

    ngx_memcpy(vf + 1, s, ns * sizeof(ngx_http_mastodon_vf_status_t));
    ngx_memcpy((u_char *) (vf + 1) + ns * sizeof(ngx_http_mastodon_vf_status_t),
               a, na * sizeof(ngx_http_mastodon_vf_author_t));

    v.data = (u_char *) vf;
    v.len = sizeof(ngx_http_mastodon_vf_t)
            + ns * sizeof(ngx_http_mastodon_vf_status_t)
            + na * sizeof(ngx_http_mastodon_vf_author_t);

    ngx_http_mastodon_cache_put(NGX_HTTP_MASTODON_CACHE_VIEWER,
                                ngx_http_mastodon_vf_key(st), st->vf_version,
                                &v);
}


void
ngx_http_mastodon_viewer_forget(ngx_http_request_t *r, int64_t *ids,
    ngx_uint_t n)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        ngx_http_mastodon_cache_forget(NGX_HTTP_MASTODON_CACHE_VIEWER, ids[i]);
    }

    ngx_http_mastodon_cache_publish(r, "viewer", ids, n);
}
