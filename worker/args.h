#ifndef MW_ARGS_H
#define MW_ARGS_H

/* Job arguments: a JSON object parsed once with yajl_tree, plus the raw
 * text of members that are passed on untouched (rendered entities). */

#include <stddef.h>
#include <yajl/yajl_tree.h>

#define MW_ID_LEN 21                /* 19 digits of a bigint, NUL, spare */

typedef struct {
    const char *text;               /* the whole document */
    size_t      len;
    yajl_val    root;
} job_args;

/* Parses text into args; must be an object.
 * 0, or -1 with a message in err. */
int  args_parse(job_args *args, const char *text, size_t len, char *err, size_t errlen);
void args_free(job_args *args);

/* The id member `name` (a decimal string, as ids always are in JSON here,
 * or a plain integer) into out.  1 found and valid, 0 absent, null, "" or
 * "0", -1 present but not an id. */
int args_id(const job_args *args, const char *name, char out[MW_ID_LEN]);

/* 1 if the member `name` is there (whatever its value, null too). */
int args_has(const job_args *args, const char *name);

/* The string member `name`, or NULL. */
const char *args_string(const job_args *args, const char *name);

/* 1 if the member `name` is true. */
int args_true(const job_args *args, const char *name);

/* The raw text of the top-level member `name` when it is an object:
 * *value and *vlen point into args->text.  1 found, 0 absent or not an object. */
int args_object_raw(const job_args *args, const char *name, const char **value, size_t *vlen);

/* The same for a member of an object given as raw text (e.g. payload.account). */
int json_object_member(const char *obj, size_t len, const char *name,
                       const char **value, size_t *vlen);

#endif
