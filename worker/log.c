/* Logging: one write(2) per line so lines from several threads never interleave. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_min_level = LOG_INFO;
static int log_fd = STDERR_FILENO;

static const char *level_names[] = { "debug", "info", "notice", "warn", "error" };

int log_level_parse(const char *name)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(name, level_names[i]) == 0)
            return (int) i;
    }
    if (strcasecmp(name, "warning") == 0)
        return LOG_WARN;
    return -1;
}

/* Also used on SIGHUP to reopen a rotated file: dup2() swaps the file
 * behind the same descriptor, so threads writing meanwhile never see a
 * closed or reused descriptor. */
int log_open(const char *path)
{
    if (path == NULL || path[0] == '\0' || strcmp(path, "stderr") == 0) {
        log_fd = STDERR_FILENO;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (log_fd == STDERR_FILENO) {
        log_fd = fd;
        return 0;
    }
    int rc = dup3(fd, log_fd, O_CLOEXEC) < 0 ? -1 : 0;
    close(fd);
    return rc;
}

int log_descriptor(void)
{
    return log_fd;
}

void log_write(int level, const char *fmt, ...)
{
    char line[4096];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);

    int n = snprintf(line, sizeof(line), "%04d/%02d/%02d %02d:%02d:%02d [%s] %d#%d: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec,
                     level_names[level], (int) getpid(), (int) gettid());
    if (n < 0)
        return;

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t) n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;

    size_t len = (size_t) n + (size_t) m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;          /* truncated: keep the newline */

    /* Control characters would let job errors forge log lines. */
    for (size_t i = (size_t) n; i < len; i++) {
        if ((unsigned char) line[i] < 0x20)
            line[i] = ' ';
    }
    line[len++] = '\n';

    int saved = errno;
    ssize_t w = write(log_fd, line, len);
    (void) w;
    errno = saved;
}
