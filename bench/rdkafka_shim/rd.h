/* Stand-ins for the few librdkafka-internal helpers that librdkafka's
 * example rdkafka_performance.c uses (rd_clock, rd_ts_t, rd_snprintf,
 * RD_MIN/RD_MAX), so bench/run.sh can build that reference client from the
 * example source Debian ships in librdkafka-dev, unmodified but for its
 * include lines. Written for Strata; not librdkafka code. */
#ifndef STRATA_RDKAFKA_SHIM_RD_H
#define STRATA_RDKAFKA_SHIM_RD_H
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/time.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

typedef int64_t rd_ts_t; /* microseconds */

static inline rd_ts_t rd_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (rd_ts_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#define rd_snprintf snprintf
#define RD_MAX(a, b) ((a) > (b) ? (a) : (b))
#define RD_MIN(a, b) ((a) < (b) ? (a) : (b))

#endif
