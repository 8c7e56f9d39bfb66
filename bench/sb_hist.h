/* A latency histogram for strata-bench: log-linear buckets in the manner of
 * HdrHistogram, fixed size, no allocation, about 0.4% precision.
 *
 * Values are nanoseconds. Below 128 ns every value has its own bucket;
 * above, every power of two is split into 128 equal sub-buckets, so a
 * bucket is at most 1/128 of its lower bound wide and the midpoint that
 * percentiles report is within 0.4% of any value in it. Values from 1 µs to
 * 60 s (and up to 2^36 ns, 68.7 s) keep that precision; larger ones are
 * clamped into the last bucket (max still records the true value). 3840
 * buckets of 8 bytes: 30 KiB per histogram.
 *
 * Threading: one thread records (sb_hist_record), any thread may read at
 * the same time (sb_hist_add, percentiles). Counters are C11 atomics
 * accessed with relaxed loads and stores, no read-modify-write: the single
 * writer pays a plain increment, and a reader sees each counter whole but
 * possibly a few records behind the others, which a progress line can
 * tolerate. Final figures are read after the writer has been joined. */
#ifndef STRATA_SB_HIST_H
#define STRATA_SB_HIST_H

#include <stdatomic.h>
#include <stdint.h>

#define SB_HIST_SUB_BITS 7
#define SB_HIST_SUB (1u << SB_HIST_SUB_BITS) /* 128 */
#define SB_HIST_MAX_EXP 36                   /* values < 2^36 ns */
#define SB_HIST_BUCKETS (SB_HIST_SUB * (SB_HIST_MAX_EXP - SB_HIST_SUB_BITS + 1))

typedef struct sb_hist {
    _Atomic uint64_t counts[SB_HIST_BUCKETS];
    _Atomic uint64_t total; /* number of values */
    _Atomic uint64_t sum;   /* of the values, ns (wraps after 584 years) */
    _Atomic uint64_t min, max;
} sb_hist_t;

void sb_hist_init(sb_hist_t *h); /* empty */

/* Single writer per histogram. */
void sb_hist_record(sb_hist_t *h, uint64_t ns);
/* dst += src. dst has a single writer (the caller); src may be written
 * concurrently by its own thread. */
void sb_hist_add(sb_hist_t *dst, const sb_hist_t *src);
/* out = a - b, for b an earlier snapshot of a (interval figures); min and
 * max of the interval are approximated by its outermost buckets. */
void sb_hist_diff(sb_hist_t *out, const sb_hist_t *a, const sb_hist_t *b);

uint64_t sb_hist_count(const sb_hist_t *h);
uint64_t sb_hist_min(const sb_hist_t *h); /* 0 when empty */
uint64_t sb_hist_max(const sb_hist_t *h);
double sb_hist_mean(const sb_hist_t *h); /* 0 when empty */
/* The value at percentile p (0..100): the midpoint of the bucket holding
 * the ceil(p% * count)-th smallest value, clamped to [min, max]; p <= 0
 * gives min, p >= 100 max. 0 when empty. */
uint64_t sb_hist_percentile(const sb_hist_t *h, double p);

/* Bucket arithmetic, exposed for the tests. */
unsigned sb_hist_index(uint64_t ns);
uint64_t sb_hist_bucket_low(unsigned idx);   /* smallest value in bucket */
uint64_t sb_hist_bucket_width(unsigned idx); /* number of values in it */

#endif
