/*
 * mastodon_debug_subscribe: a test aid, off unless configured.  Each worker
 * subscribes to the channel mastodon:debug:subscribe and takes commands
 * published there:
 *
 *     add <name> <channel>    a subscription of its own operation (owner
 *                             kind STREAM: it stands for a stream)
 *     del <name>              its operation ends, which unsubscribes
 *
 * Whatever a subscription hears goes to the list
 * mastodon:debug:subscribe:<pid>:<name> ("subscribed", "dropped",
 * "message:<message>"); the control subscription's under the name
 * "control".  At exit every operation is ended.
 */

#include "ngx_http_mastodon_backend.h"


#define NGX_HTTP_MASTODON_DEBUG_SUBS      16
#define NGX_HTTP_MASTODON_DEBUG_NAME_LEN  32


typedef struct {
    ngx_http_mastodon_op_t          *op;        /* NULL: a free slot */
    ngx_http_mastodon_redis_sub_t   *sub;
    ngx_str_t                        key;
    u_char                           name[NGX_HTTP_MASTODON_DEBUG_NAME_LEN];
    size_t                           name_len;
    u_char                           key_data[
                                         sizeof("mastodon:debug:subscribe:")
                                         + NGX_INT64_LEN + 1
                                         + NGX_HTTP_MASTODON_DEBUG_NAME_LEN];
} ngx_http_mastodon_debug_sub_t;


static ngx_int_t ngx_http_mastodon_debug_subscribe_start(
    ngx_http_mastodon_debug_sub_t *ds, ngx_str_t *name, ngx_str_t *channel,
    ngx_log_t *log);
static void ngx_http_mastodon_debug_subscribe_handler(
    ngx_http_mastodon_op_t *op, ngx_http_mastodon_redis_event_e event,
    ngx_str_t *message, void *data);
static void ngx_http_mastodon_debug_subscribe_command(ngx_str_t *command,
    ngx_log_t *log);
static void ngx_http_mastodon_debug_subscribe_record(
    ngx_http_mastodon_debug_sub_t *ds, const char *what, ngx_str_t *message);
static void ngx_http_mastodon_debug_subscribe_freed(
    ngx_http_mastodon_op_t *op);


static ngx_http_mastodon_debug_sub_t  ngx_http_mastodon_debug_control;
static ngx_http_mastodon_debug_sub_t  ngx_http_mastodon_debug_subs[
                                          NGX_HTTP_MASTODON_DEBUG_SUBS];


void
ngx_http_mastodon_debug_subscribe_init_process(ngx_cycle_t *cycle,
    ngx_http_mastodon_main_conf_t *mcf)
{
    ngx_str_t  name, channel;

    ngx_memzero(&ngx_http_mastodon_debug_control,
                sizeof(ngx_http_mastodon_debug_sub_t));
    ngx_memzero(ngx_http_mastodon_debug_subs,
                sizeof(ngx_http_mastodon_debug_subs));

    if (!mcf->debug_subscribe) {
        return;
    }

    ngx_str_set(&name, "control");
    ngx_str_set(&channel, "mastodon:debug:subscribe");

    (void) ngx_http_mastodon_debug_subscribe_start(
                                 &ngx_http_mastodon_debug_control, &name,
                                 &channel, cycle->log);
}


void
ngx_http_mastodon_debug_subscribe_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_MASTODON_DEBUG_SUBS; i++) {
        if (ngx_http_mastodon_debug_subs[i].op) {
            ngx_http_mastodon_op_end(ngx_http_mastodon_debug_subs[i].op);
        }
    }

    if (ngx_http_mastodon_debug_control.op) {
        ngx_http_mastodon_op_end(ngx_http_mastodon_debug_control.op);
    }
}


static ngx_int_t
ngx_http_mastodon_debug_subscribe_start(ngx_http_mastodon_debug_sub_t *ds,
    ngx_str_t *name, ngx_str_t *channel, ngx_log_t *log)
{
    ngx_http_mastodon_op_t  *op;

    if (name->len == 0 || name->len > NGX_HTTP_MASTODON_DEBUG_NAME_LEN) {
        return NGX_ERROR;
    }

    op = ngx_http_mastodon_op_create(NGX_HTTP_MASTODON_OP_STREAM, ds, log);
    if (op == NULL) {
        return NGX_ERROR;
    }

    op->free = ngx_http_mastodon_debug_subscribe_freed;
    op->data = ds;

    ds->op = op;
    ds->name_len = name->len;
    ngx_memcpy(ds->name, name->data, name->len);
    ds->key.data = ds->key_data;
    ds->key.len = ngx_sprintf(ds->key_data, "mastodon:debug:subscribe:%P:%V",
                              ngx_pid, name)
                  - ds->key_data;

    ds->sub = ngx_http_mastodon_redis_subscribe(op, channel,
                                   ngx_http_mastodon_debug_subscribe_handler,
                                   ds);
    if (ds->sub == NULL) {
        ngx_http_mastodon_op_end(op);
        return NGX_ERROR;
    }

    if (ngx_http_mastodon_redis_subscribed(ds->sub)) {
        ngx_http_mastodon_debug_subscribe_record(ds, "subscribed", NULL);
    }

    return NGX_OK;
}


static void
ngx_http_mastodon_debug_subscribe_handler(ngx_http_mastodon_op_t *op,
    ngx_http_mastodon_redis_event_e event, ngx_str_t *message, void *data)
{
    ngx_http_mastodon_debug_sub_t  *ds = data;

    switch (event) {

    case NGX_HTTP_MASTODON_REDIS_SUBSCRIBED:
        ngx_http_mastodon_debug_subscribe_record(ds, "subscribed", NULL);
        break;

    case NGX_HTTP_MASTODON_REDIS_DROPPED:
        ngx_http_mastodon_debug_subscribe_record(ds, "dropped", NULL);
        break;

    default: /* NGX_HTTP_MASTODON_REDIS_MESSAGE */
        ngx_http_mastodon_debug_subscribe_record(ds, "message", message);

        if (ds == &ngx_http_mastodon_debug_control) {
            ngx_http_mastodon_debug_subscribe_command(message, op->log);
        }
    }
}


/* "add <name> <channel>" or "del <name>" */
static void
ngx_http_mastodon_debug_subscribe_command(ngx_str_t *command, ngx_log_t *log)
{
    u_char                         *p, *last, *sp;
    ngx_uint_t                      i;
    ngx_str_t                       verb, name, channel;
    ngx_http_mastodon_debug_sub_t  *ds, *free;

    p = command->data;
    last = p + command->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL) {
        return;
    }

    verb.data = p;
    verb.len = sp - p;
    p = sp + 1;

    sp = ngx_strlchr(p, last, ' ');
    name.data = p;
    name.len = (sp ? sp : last) - p;
    channel.data = sp ? sp + 1 : last;
    channel.len = last - channel.data;

    ds = NULL;
    free = NULL;

    for (i = 0; i < NGX_HTTP_MASTODON_DEBUG_SUBS; i++) {
        if (ngx_http_mastodon_debug_subs[i].op == NULL) {
            if (free == NULL) {
                free = &ngx_http_mastodon_debug_subs[i];
            }
            continue;
        }

        if (ngx_http_mastodon_debug_subs[i].name_len == name.len
            && ngx_strncmp(ngx_http_mastodon_debug_subs[i].name, name.data,
                           name.len) == 0)
        {
            ds = &ngx_http_mastodon_debug_subs[i];
        }
    }

    if (verb.len == 3 && ngx_strncmp(verb.data, "add", 3) == 0) {
        if (ds == NULL && free && channel.len) {
            (void) ngx_http_mastodon_debug_subscribe_start(free, &name,
                                                           &channel, log);
        }

        return;
    }

    if (verb.len == 3 && ngx_strncmp(verb.data, "del", 3) == 0 && ds) {
        ngx_http_mastodon_op_end(ds->op);
    }
}


/* RPUSH <key> <what>[:<message>], nobody waiting for the answer */
static void
ngx_http_mastodon_debug_subscribe_record(ngx_http_mastodon_debug_sub_t *ds,
    const char *what, ngx_str_t *message)
{
    u_char      *p, *value;
    size_t       len;
    const char  *argv[3];
    size_t       argvlen[3];

    len = ngx_strlen(what) + (message ? 1 + message->len : 0);

    /* not the operation's pool: it lives as long as the subscription */
    value = ngx_alloc(len, ds->op->log);
    if (value == NULL) {
        return;
    }

    p = ngx_cpymem(value, what, ngx_strlen(what));

    if (message) {
        *p++ = ':';
        ngx_memcpy(p, message->data, message->len);
    }

    argv[0] = "RPUSH";
    argvlen[0] = sizeof("RPUSH") - 1;
    argv[1] = (const char *) ds->key.data;
    argvlen[1] = ds->key.len;
    argv[2] = (const char *) value;
    argvlen[2] = len;

    /* formatted at once: the value may go */
    (void) ngx_http_mastodon_redis_op_command(ds->op, NULL, NULL, 3, argv,
                                              argvlen);

    ngx_free(value);
}


static void
ngx_http_mastodon_debug_subscribe_freed(ngx_http_mastodon_op_t *op)
{
    ngx_http_mastodon_debug_sub_t  *ds = op->data;

    ds->op = NULL;
    ds->sub = NULL;
}
