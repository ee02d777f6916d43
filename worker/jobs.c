/* The job type registry: type string -> handler. */
#include "jobs.h"
#include "db.h"

#include <string.h>

static const struct {
    const char *type;
    job_handler handler;
} job_types[] = {
    { "test_record", job_test_record },
    { "user_confirmation", job_user_confirmation },
    { "distribute", job_distribute },
    { "status_update", job_status_update },
    { "remove_status", job_remove_status },
    { "notify", job_notify },
    { "feed_merge", job_feed_merge },
    { "feed_unmerge", job_feed_unmerge },
};

job_handler jobs_find(const char *type)
{
    for (size_t i = 0; i < sizeof(job_types) / sizeof(job_types[0]); i++) {
        if (strcmp(job_types[i].type, type) == 0)
            return job_types[i].handler;
    }
    return NULL;
}

PGconn *job_db(job_ctx *ctx, char *err, size_t errlen)
{
    return db_ensure(ctx->db, ctx->cfg->database, err, errlen);
}
