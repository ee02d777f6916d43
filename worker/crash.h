#ifndef MW_CRASH_H
#define MW_CRASH_H

/* The crash handler: on SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT it
 * writes one log line naming the signal and a backtrace to the log, with
 * async-signal-safe calls only, then lets the signal's default action end
 * the process (the exit status and any core dump stay truthful).  It
 * replaces AddressSanitizer's own SIGSEGV report in ASan builds. */

/* Installs the handler and gives the calling thread its alternate signal
 * stack.  Call once, early in main(). */
void crash_handler_install(void);

/* Every other thread calls this first: its own alternate stack, so that a
 * stack overflow can still be reported. */
void crash_thread_init(void);

#endif
