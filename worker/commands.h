#ifndef MW_COMMANDS_H
#define MW_COMMANDS_H

#include "config.h"

/* Each command returns the process exit status: 0 ok, 1 failure,
 * 2 usage or configuration error.  argv[0] is the command name. */
int cmd_run(worker_config *cfg, int argc, char **argv);
int cmd_migrate(worker_config *cfg, int argc, char **argv);
int cmd_accounts(worker_config *cfg, int argc, char **argv);
int cmd_accounts_delete(worker_config *cfg, int argc, char **argv);     /* accounts delete */
int cmd_enqueue(worker_config *cfg, int argc, char **argv);
int cmd_relay(worker_config *cfg, int argc, char **argv);
int cmd_domain_block(worker_config *cfg, int argc, char **argv);
int cmd_reports(worker_config *cfg, int argc, char **argv);
int cmd_media(worker_config *cfg, int argc, char **argv);          /* media usage|remove */
int cmd_media_remove_orphans(worker_config *cfg, int argc, char **argv); /* media remove-orphans */
int cmd_emoji(worker_config *cfg, int argc, char **argv);          /* emoji import|add|list|remove */
int cmd_announcements(worker_config *cfg, int argc, char **argv);  /* announcements add|list|... */
int cmd_search(worker_config *cfg, int argc, char **argv);
int cmd_vapid_keys(worker_config *cfg, int argc, char **argv);
int cmd_http_test(worker_config *cfg, int argc, char **argv);      /* tests only */
int cmd_fetch_test(worker_config *cfg, int argc, char **argv);     /* tests only */
int cmd_deliver_bench(worker_config *cfg, int argc, char **argv);  /* make bench only */
int cmd_media_bench(worker_config *cfg, int argc, char **argv);    /* make bench only */

#endif
