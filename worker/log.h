#ifndef MW_LOG_H
#define MW_LOG_H

/* Log lines look like nginx's error log:
 *   2026/11/23 10:00:00 [info] 1234#1235: message
 * (pid#thread id).  The level is checked before formatting, as Redis'
 * serverLog does, so debug lines cost nothing when disabled. */

enum { LOG_DEBUG, LOG_INFO, LOG_NOTICE, LOG_WARN, LOG_ERROR };

extern int log_min_level;

int log_level_parse(const char *name);      /* -1 if unknown */
int log_open(const char *path);             /* NULL/""/"stderr": stderr; -1 on error (errno set) */
int log_descriptor(void);                   /* where lines go now (crash.c) */
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define mlog(level, ...) \
    do { if ((level) >= log_min_level) log_write((level), __VA_ARGS__); } while (0)

#endif
