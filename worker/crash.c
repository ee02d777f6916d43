/* Crash reports: a line and a backtrace in the log, then the default
 * action.  Everything the handler calls is async-signal-safe: write(2),
 * clock_gettime, and backtrace()/backtrace_symbols_fd(), whose one unsafe
 * step (loading libgcc_s on the first call) is done at install time. */
#include "crash.h"
#include "log.h"

#include <execinfo.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CRASH_STACK_SIZE  (64 * 1024)
#define CRASH_MAX_FRAMES  64

static const struct {
    int         sig;
    const char *name;
} crash_signals[] = {
    { SIGSEGV, "SIGSEGV" }, { SIGBUS, "SIGBUS" }, { SIGFPE, "SIGFPE" },
    { SIGILL, "SIGILL" }, { SIGABRT, "SIGABRT" },
};

static __thread char crash_stack[CRASH_STACK_SIZE];
static long          utc_offset;        /* s, for log lines in local time */

/* Appends s (or the decimal / hex number) to buf at *off. */
static void put_str(char *buf, size_t cap, size_t *off, const char *s)
{
    while (*s != '\0' && *off < cap)
        buf[(*off)++] = *s++;
}

static void put_num(char *buf, size_t cap, size_t *off, unsigned long long v, int base, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % (unsigned) base];
        v /= (unsigned) base;
    } while (v != 0 && n < (int) sizeof(tmp));
    while (n < width && n < (int) sizeof(tmp))
        tmp[n++] = '0';
    while (n > 0 && *off < cap)
        buf[(*off)++] = tmp[--n];
}

/* The log line's "2026/11/23 10:00:00" without localtime_r (not
 * async-signal-safe): days to a civil date (Howard Hinnant's algorithm). */
static void put_time(char *buf, size_t cap, size_t *off)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    long long t = (long long) ts.tv_sec + utc_offset;
    long long days = t / 86400, secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
    long long y = yoe + era * 400 + (m <= 2);

    put_num(buf, cap, off, (unsigned long long) y, 10, 4);
    put_str(buf, cap, off, "/");
    put_num(buf, cap, off, (unsigned long long) m, 10, 2);
    put_str(buf, cap, off, "/");
    put_num(buf, cap, off, (unsigned long long) d, 10, 2);
    put_str(buf, cap, off, " ");
    put_num(buf, cap, off, (unsigned long long) (secs / 3600), 10, 2);
    put_str(buf, cap, off, ":");
    put_num(buf, cap, off, (unsigned long long) (secs / 60 % 60), 10, 2);
    put_str(buf, cap, off, ":");
    put_num(buf, cap, off, (unsigned long long) (secs % 60), 10, 2);
}

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t) n;
    }
}

static void crash_handler(int sig, siginfo_t *info, void *ucontext)
{
    char line[512];
    size_t off = 0;
    const char *name = "signal";
    int fd = log_descriptor();

    (void) ucontext;
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++) {
        if (crash_signals[i].sig == sig)
            name = crash_signals[i].name;
    }

    put_time(line, sizeof(line), &off);
    put_str(line, sizeof(line), &off, " [alert] ");
    put_num(line, sizeof(line), &off, (unsigned long long) getpid(), 10, 1);
    put_str(line, sizeof(line), &off, "#");
    put_num(line, sizeof(line), &off, (unsigned long long) gettid(), 10, 1);
    put_str(line, sizeof(line), &off, ": crashed on signal ");
    put_num(line, sizeof(line), &off, (unsigned long long) sig, 10, 1);
    put_str(line, sizeof(line), &off, " (");
    put_str(line, sizeof(line), &off, name);
    put_str(line, sizeof(line), &off, ")");
    if (sig != SIGABRT && info != NULL) {
        put_str(line, sizeof(line), &off, ", address 0x");
        put_num(line, sizeof(line), &off, (unsigned long long) (uintptr_t) info->si_addr, 16, 1);
    }
    put_str(line, sizeof(line), &off, "; backtrace:\n");
    write_all(fd, line, off);

    void *frames[CRASH_MAX_FRAMES];
    int n = backtrace(frames, CRASH_MAX_FRAMES);
    backtrace_symbols_fd(frames, n, fd);
    write_all(fd, "end of backtrace\n", 17);

    /* SA_RESETHAND restored the default action: a fault happens again when
     * the handler returns, a raised signal is delivered then. */
    if (sig == SIGABRT || info == NULL || info->si_code <= 0)
        raise(sig);
}

void crash_thread_init(void)
{
    stack_t ss;

    /* The sanitizers give each thread an alternate stack, and unmap it when
     * the thread ends: keep theirs rather than have them unmap ours. */
    if (sigaltstack(NULL, &ss) == 0 && !(ss.ss_flags & SS_DISABLE))
        return;
    memset(&ss, 0, sizeof(ss));
    ss.ss_sp = crash_stack;
    ss.ss_size = sizeof(crash_stack);
    sigaltstack(&ss, NULL);
}

void crash_handler_install(void)
{
    struct sigaction sa;
    struct tm tm;
    time_t now = time(NULL);
    void *frames[2];

    if (localtime_r(&now, &tm) != NULL)
        utc_offset = tm.tm_gmtoff;
    /* the first call may load libgcc_s, which must not happen in a handler */
    (void) backtrace(frames, 2);

    crash_thread_init();
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(crash_signals) / sizeof(crash_signals[0]); i++)
        sigaction(crash_signals[i].sig, &sa, NULL);
}
