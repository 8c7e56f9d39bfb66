/* Shared basics used by every module: logging, assertions that stay on in
 * release builds, monotonic and wall-clock time, and small helpers.
 *
 * These live in alloc/ because it is the lowest layer that everything above
 * links; simd/ deliberately uses none of this and depends on nothing. */
#ifndef STRATA_ST_H
#define STRATA_ST_H

#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>

enum st_level { ST_DEBUG, ST_INFO, ST_WARN, ST_ERROR };

/* Minimum level printed (default ST_INFO; STRATA_LOG=debug lowers it).
 * Thread-safe: each line is written with one write(2) to stderr. */
void st_log_set_level(enum st_level level);
void st_log(enum st_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define st_debug(...) st_log(ST_DEBUG, __VA_ARGS__)
#define st_info(...) st_log(ST_INFO, __VA_ARGS__)
#define st_warn(...) st_log(ST_WARN, __VA_ARGS__)
#define st_error(...) st_log(ST_ERROR, __VA_ARGS__)

/* Aborts with file:line and the expression; never compiled out. */
void st_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));
#define st_assert(e) ((e) ? (void)0 : st_assert_fail(#e, __FILE__, __LINE__))

/* CLOCK_MONOTONIC in ns, and wall clock (CLOCK_REALTIME) in ms. */
uint64_t st_now_ns(void);
int64_t st_wall_ms(void);

/* Starts a detached helper thread (64 KiB of stack, no signals) named
 * name, running fn(NULL). any_cpu: allowed on every CPU whatever the
 * caller's pinning (the kernel keeps it to those the process may use);
 * else it inherits the caller's. Returns 0 or an errno value. */
int st_thread_spawn(const char *name, void *(*fn)(void *), bool any_cpu);

#define ST_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define ST_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ST_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Big-endian loads and stores (the Kafka wire and on-disk order). */
static inline uint16_t st_be16(const void *p)
{
    const uint8_t *b = p;
    return (uint16_t)((b[0] << 8) | b[1]);
}
static inline uint32_t st_be32(const void *p)
{
    const uint8_t *b = p;
    return ((uint32_t)b[0] << 24) | ((uint32_t)b[1] << 16) |
           ((uint32_t)b[2] << 8) | b[3];
}
static inline uint64_t st_be64(const void *p)
{
    const uint8_t *b = p;
    return ((uint64_t)st_be32(b) << 32) | st_be32(b + 4);
}
static inline void st_put_be16(void *p, uint16_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}
static inline void st_put_be32(void *p, uint32_t v)
{
    uint8_t *b = p;
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}
static inline void st_put_be64(void *p, uint64_t v)
{
    st_put_be32(p, (uint32_t)(v >> 32));
    st_put_be32((uint8_t *)p + 4, (uint32_t)v);
}

#endif
