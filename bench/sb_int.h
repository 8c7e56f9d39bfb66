/* strata-bench internals shared by sb_run.c, sb_produce.c and
 * sb_consume.c: the run-wide state and one worker (connection thread).
 *
 * Threading: sb_shared_t is written by the main thread before the workers
 * start (plain fields) and through atomics afterwards. A worker's counters
 * and histograms have one writer, its own thread, and are read by the main
 * thread's once-a-second sampler with relaxed atomic loads (sb_hist.h
 * explains why no read-modify-write is needed). */
#ifndef STRATA_SB_INT_H
#define STRATA_SB_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "bench/sb.h"
#include "bench/sb_conn.h"

typedef struct sb_shared {
    const sb_opts_t *o;
    int32_t n_parts;
    uint64_t t0;         /* monotonic ns: the load starts */
    uint64_t t_measure;  /* t0 + warm-up */
    uint64_t t_end;      /* t0 + duration, 0 without a duration */
    int64_t wall_offset; /* wall-clock ns minus monotonic ns */
    atomic_bool go;      /* t0 is set: consumers may start fetching */
    atomic_bool stop;    /* interrupted or a worker failed: wind down */
    atomic_int producers_left;
    atomic_uint_fast64_t produced; /* acknowledged records, all producers */
    atomic_uint_fast64_t consumed; /* records read, all consumers */
    uint64_t consume_target;       /* consume --count; 0 none */
} sb_shared_t;

typedef struct sb_worker {
    sb_shared_t *sh;
    int id;
    bool producer;
    char host[256]; /* the partitions' leader */
    int port;
    int32_t *parts; /* partitions served, mem_alloc'd */
    int n_parts;
    uint64_t limit; /* producer: records to send (UINT64_MAX: until t_end) */
    double rate;    /* producer: records/s, 0 = unlimited */
    uint64_t start_records; /* consumer: records to catch up (or 0) */

    /* counters: single writer (the worker), relaxed */
    atomic_uint_fast64_t records, bytes, wire_bytes, failed, requests;
    atomic_uint_fast64_t errors;
    atomic_uint_fast64_t err[SB_NERR];
    atomic_uint_fast64_t t_last; /* monotonic ns of the last completion */
    sb_hist_t lat;               /* ack, e2e or fetch latency */

    atomic_bool ready; /* consumer: set-up done (or failed) */
    atomic_bool done;
    char fatal[200]; /* why it stopped early; written before done */
    pthread_t th;
    bool joinable; /* th was started */
} sb_worker_t;

void *sb__produce_main(void *arg);
void *sb__consume_main(void *arg);

/* Counts n occurrences of error slot `slot` on w (worker thread only). */
void sb__count_err(sb_worker_t *w, int slot, uint64_t n);
/* Single-writer relaxed add. */
static inline void sb__add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                          memory_order_relaxed);
}
static inline uint64_t sb__ld(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}
/* Records why the worker stopped (first reason wins) and asks the whole
 * run to stop. */
void sb__fatal(sb_worker_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Connects to the worker's broker and negotiates versions; on failure
 * counts the error, sets fatal and returns negative. */
int sb__connect(sb_worker_t *w, sb_conn_t *c);

#endif
