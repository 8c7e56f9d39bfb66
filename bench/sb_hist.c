/* Log-linear latency histogram (sb_hist.h).
 *
 * Index arithmetic: for v >= 128 with its highest set bit e (7 <= e <= 35),
 * the bucket is 128 * (e - 6) + the 7 bits below the top bit; values below
 * 128 map to themselves, so the two ranges join without a gap (e = 7 gives
 * 128..255 for v = 128..255). Everything is integer arithmetic on the
 * recording path: one clz, a shift and a mask. */
#include "bench/sb_hist.h"

#include <math.h>

#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define ST(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)

#define VMAX ((UINT64_C(1) << SB_HIST_MAX_EXP) - 1)

void sb_hist_init(sb_hist_t *h)
{
    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++)
        ST(h->counts[i], 0);
    ST(h->total, 0);
    ST(h->sum, 0);
    ST(h->min, UINT64_MAX);
    ST(h->max, 0);
}

unsigned sb_hist_index(uint64_t v)
{
    unsigned e;

    if (v > VMAX)
        v = VMAX;
    if (v < SB_HIST_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v);
    return SB_HIST_SUB * (e - (SB_HIST_SUB_BITS - 1)) +
           (unsigned)((v >> (e - SB_HIST_SUB_BITS)) & (SB_HIST_SUB - 1));
}

uint64_t sb_hist_bucket_low(unsigned idx)
{
    unsigned e, m;

    if (idx < SB_HIST_SUB)
        return idx;
    e = idx / SB_HIST_SUB + (SB_HIST_SUB_BITS - 1);
    m = idx % SB_HIST_SUB;
    return (uint64_t)(SB_HIST_SUB + m) << (e - SB_HIST_SUB_BITS);
}

uint64_t sb_hist_bucket_width(unsigned idx)
{
    if (idx < SB_HIST_SUB)
        return 1;
    return UINT64_C(1) << (idx / SB_HIST_SUB - 1);
}

void sb_hist_record(sb_hist_t *h, uint64_t ns)
{
    unsigned i = sb_hist_index(ns);

    ST(h->counts[i], LD(h->counts[i]) + 1);
    ST(h->total, LD(h->total) + 1);
    ST(h->sum, LD(h->sum) + ns);
    if (ns < LD(h->min))
        ST(h->min, ns);
    if (ns > LD(h->max))
        ST(h->max, ns);
}

void sb_hist_add(sb_hist_t *dst, const sb_hist_t *src)
{
    uint64_t v;

    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++) {
        v = LD(src->counts[i]);
        if (v)
            ST(dst->counts[i], LD(dst->counts[i]) + v);
    }
    ST(dst->total, LD(dst->total) + LD(src->total));
    ST(dst->sum, LD(dst->sum) + LD(src->sum));
    if ((v = LD(src->min)) < LD(dst->min))
        ST(dst->min, v);
    if ((v = LD(src->max)) > LD(dst->max))
        ST(dst->max, v);
}

void sb_hist_diff(sb_hist_t *out, const sb_hist_t *a, const sb_hist_t *b)
{
    uint64_t total = 0;
    unsigned lo = SB_HIST_BUCKETS, hi = 0;

    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++) {
        uint64_t x = LD(a->counts[i]), y = LD(b->counts[i]);
        uint64_t d = x > y ? x - y : 0;
        ST(out->counts[i], d);
        total += d;
        if (d) {
            if (lo == SB_HIST_BUCKETS)
                lo = i;
            hi = i;
        }
    }
    ST(out->total, total);
    ST(out->sum, LD(a->sum) - LD(b->sum));
    if (!total) {
        ST(out->min, UINT64_MAX);
        ST(out->max, 0);
        return;
    }
    /* The interval's extremes lie in its outermost buckets; the overall
     * min/max bound them more tightly when they fall there. */
    uint64_t mn = sb_hist_bucket_low(lo);
    uint64_t mx = sb_hist_bucket_low(hi) + sb_hist_bucket_width(hi) - 1;
    if (LD(a->min) > mn && sb_hist_index(LD(a->min)) == lo)
        mn = LD(a->min);
    if (LD(a->max) < mx && sb_hist_index(LD(a->max)) == hi)
        mx = LD(a->max);
    if (hi == SB_HIST_BUCKETS - 1 && LD(a->max) > mx)
        mx = LD(a->max);
    ST(out->min, mn);
    ST(out->max, mx);
}

uint64_t sb_hist_count(const sb_hist_t *h)
{
    return LD(h->total);
}

uint64_t sb_hist_min(const sb_hist_t *h)
{
    return LD(h->total) ? LD(h->min) : 0;
}

uint64_t sb_hist_max(const sb_hist_t *h)
{
    return LD(h->max);
}

double sb_hist_mean(const sb_hist_t *h)
{
    uint64_t n = LD(h->total);

    return n ? (double)LD(h->sum) / (double)n : 0.0;
}

uint64_t sb_hist_percentile(const sb_hist_t *h, double p)
{
    uint64_t n = LD(h->total), want, seen = 0;
    uint64_t mn = sb_hist_min(h), mx = sb_hist_max(h);

    if (!n)
        return 0;
    if (p <= 0)
        return mn;
    if (p >= 100)
        return mx;
    want = (uint64_t)ceil((p / 100.0) * (double)n - 1e-9);
    if (want < 1)
        want = 1;
    if (want > n)
        want = n;
    for (unsigned i = 0; i < SB_HIST_BUCKETS; i++) {
        seen += LD(h->counts[i]);
        if (seen >= want) {
            uint64_t v = sb_hist_bucket_low(i) + sb_hist_bucket_width(i) / 2;
            if (v < mn)
                v = mn;
            if (v > mx)
                v = mx;
            return v;
        }
    }
    return mx; /* counters read while being written: total ran ahead */
}
