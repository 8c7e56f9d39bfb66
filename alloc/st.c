/* st_ basics: one-line-per-write logging with a timestamp, assertions that
 * abort, and clocks. Logging goes to stderr so that systemd/journald and
 * test harnesses capture it without configuration. */
#include "alloc/st.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int log_level = -1;

void st_log_set_level(enum st_level level)
{
    log_level = (int)level;
}

static int current_level(void)
{
    if (log_level < 0) {
        const char *e = getenv("STRATA_LOG");
        log_level = (e && strcmp(e, "debug") == 0) ? ST_DEBUG : ST_INFO;
    }
    return log_level;
}

void st_log(enum st_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    char line[1024];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    int n;

    if ((int)level < current_level())
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, names[level]);
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof(line) - 2)
        n = (int)sizeof(line) - 2;
    line[n++] = '\n';
    if (write(STDERR_FILENO, line, (size_t)n) < 0)
        return;
}

void st_assert_fail(const char *expr, const char *file, int line)
{
    st_log(ST_ERROR, "assertion failed: %s (%s:%d)", expr, file, line);
    abort();
}

uint64_t st_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t st_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int spawn(pthread_t *t, void *(*fn)(void *), const cpu_set_t *cpus)
{
    pthread_attr_t attr;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 << 10);
    if (cpus)
        pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus);
    rc = pthread_create(t, &attr, fn, NULL);
    pthread_attr_destroy(&attr);
    return rc;
}

int st_thread_spawn(const char *name, void *(*fn)(void *), bool any_cpu)
{
    sigset_t all, old;
    cpu_set_t cpus;
    pthread_t t;
    long i, n = sysconf(_SC_NPROCESSORS_CONF);
    int rc;

    CPU_ZERO(&cpus);
    for (i = 0; i < n && i < CPU_SETSIZE; i++)
        CPU_SET(i, &cpus);
    /* The thread starts with the mask in force here: none. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = spawn(&t, fn, any_cpu ? &cpus : NULL);
    if (rc == EINVAL && any_cpu) /* a CPU set refused: inherit instead */
        rc = spawn(&t, fn, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0)
        pthread_setname_np(t, name);
    return rc;
}
