/* st_ basics: one-line-per-write logging with a timestamp, assertions that
 * abort, and clocks. Logging goes to stderr so that systemd/journald and
 * test harnesses capture it without configuration. */
#include "alloc/st.h"

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
