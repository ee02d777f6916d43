/* inbox_process: one activity the module's inbox stored, processed
 * (Mastodon's ActivityPub::ProcessingWorker).  args {"id": "<inbox_activities.id>"}.
 *
 * The row is read, the activity parsed (bounded), checked as inbox.h says
 * (the signer is the actor, the id on the actor's host, the domain not
 * suspended), handed to its type's handler, then deleted.  A refused or
 * unknown activity is logged and deleted too; a temporary failure (the
 * database, a fetch that may work later) leaves the row for the retry. */
#include "inbox.h"
#include "args.h"
#include "db.h"
#include "fetch.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mstdn_json.h"

static const struct {
    const char   *type;
    inbox_handler handler;
} inbox_types[] = {
    { "Follow", inbox_follow },
    { "Accept", inbox_accept },
    { "Reject", inbox_reject },
    { "Undo", inbox_undo },
    { "Create", inbox_create },
    { "Update", inbox_update },
    { "Delete", inbox_delete },
    { "Announce", inbox_announce },
    { "Like", inbox_like },
    { "Block", inbox_block },
    { "Add", inbox_add },
    { "Remove", inbox_remove },
    { "Move", inbox_move },
    { "Flag", inbox_flag },
};

static int drop(PGconn *db, const char *row, char *err, size_t errlen)
{
    const char *params[1] = { row };
    PGresult *res = db_query(db, "DELETE FROM inbox_activities WHERE id = $1::bigint", 1,
                             params, PGRES_COMMAND_OK, err, errlen);
    if (res == NULL)
        return -1;
    PQclear(res);
    return 0;
}

/* The checks every activity passes, then its handler. */
static int process(inbox_activity *ib, const char *row, const char *signer_id,
                   char *err, size_t errlen)
{
    const mstdn_value_t *json = ib->json;
    const char *actor = inbox_ref_of(json, "actor");

    ib->type = inbox_str(json, "type");
    ib->id = inbox_str(json, "id");
    if (ib->type == NULL) {
        mlog(LOG_INFO, "inbox_process %s: no type, dropped", row);
        return INBOX_DONE;
    }
    if (actor == NULL || strcmp(actor, ib->actor_uri) != 0) {
        /* forwarded activities (LD signatures) are never trusted */
        mlog(LOG_INFO, "inbox_process %s: %s by %s signed by %s, dropped", row, ib->type,
             actor != NULL ? actor : "nobody", ib->actor_uri);
        return INBOX_DONE;
    }
    if (fetch_url_host(ib->actor_uri, ib->actor_host, sizeof(ib->actor_host)) != 0) {
        mlog(LOG_INFO, "inbox_process %s: actor %s has no host, dropped", row, ib->actor_uri);
        return INBOX_DONE;
    }
    if (ib->id == NULL || !inbox_on_host(ib->id, ib->actor_host)) {
        mlog(LOG_INFO, "inbox_process %s: %s id %s is not on %s, dropped", row, ib->type,
             ib->id != NULL ? ib->id : "(none)", ib->actor_host);
        return INBOX_DONE;
    }
    int rc = inbox_domain_suspended(ib->db, ib->actor_host, err, errlen);
    if (rc != 0) {
        if (rc > 0)
            mlog(LOG_INFO, "inbox_process %s: %s is suspended, dropped", row, ib->actor_host);
        return rc > 0 ? INBOX_DONE : INBOX_RETRY;
    }

    /* the actor: the signer's account (the module verified its key) */
    if (signer_id[0] != '\0') {
        snprintf(ib->actor_id, MW_ID_LEN, "%s", signer_id);
    } else {
        rc = inbox_actor_fetch(ib->ctx, ib->db, ib->actor_uri, ib->actor_id, err, errlen);
        if (rc <= 0) {
            if (rc == 0)
                mlog(LOG_INFO, "inbox_process %s: actor: %s; dropped", row, err);
            return rc == 0 ? INBOX_DONE : INBOX_RETRY;
        }
    }

    for (size_t i = 0; i < sizeof(inbox_types) / sizeof(inbox_types[0]); i++) {
        if (strcmp(inbox_types[i].type, ib->type) == 0)
            return inbox_types[i].handler(ib, err, errlen);
    }
    mlog(LOG_INFO, "inbox_process %s: %s is not processed, dropped", row, ib->type);
    return INBOX_DONE;
}

int job_inbox_process(job_ctx *ctx, const char *args_json, size_t len, char *err, size_t errlen)
{
    job_args a;
    char row[MW_ID_LEN], perr[128] = "";

    if (args_parse(&a, args_json, len, err, errlen) != 0)
        return -1;
    int rc = args_id(&a, "id", row);
    args_free(&a);
    if (rc != 1) {
        snprintf(err, errlen, "args need id (an id string)");
        return -1;
    }
    PGconn *db = job_db(ctx, err, errlen);
    if (db == NULL)
        return -1;

    const char *params[1] = { row };
    PGresult *res = db_query(db, "SELECT body, coalesce(signer_account_id::text, ''), actor_uri"
                             " FROM inbox_activities WHERE id = $1::bigint", 1, params,
                             PGRES_TUPLES_OK, err, errlen);
    if (res == NULL)
        return -1;
    if (PQntuples(res) == 0) {
        PQclear(res);
        mlog(LOG_DEBUG, "inbox_process %s: already processed", row);
        return 0;
    }

    mstdn_arena_t *ar = mstdn_arena_create();
    mstdn_alloc_t alloc;
    mstdn_value_t *json = NULL;
    if (ar == NULL) {
        PQclear(res);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    mstdn_arena_allocator(ar, &alloc);

    inbox_activity ib = {
        .ctx = ctx, .db = db, .alloc = &alloc, .actor_uri = PQgetvalue(res, 0, 2),
    };
    rc = INBOX_DONE;
    if (mstdn_json_parse(PQgetvalue(res, 0, 0), (size_t) PQgetlength(res, 0, 0), &alloc,
                         &inbox_json_limits, &json, perr, sizeof(perr)) != MSTDN_OK
        || json->type != MSTDN_OBJECT) {
        mlog(LOG_INFO, "inbox_process %s: not a JSON object (%s), dropped", row, perr);
    } else {
        ib.json = json;
        rc = process(&ib, row, PQgetvalue(res, 0, 1), err, errlen);
    }

    if (rc == INBOX_DONE)
        rc = drop(db, row, err, errlen);
    mstdn_arena_destroy(ar);
    PQclear(res);
    return rc == INBOX_DONE ? 0 : -1;
}
