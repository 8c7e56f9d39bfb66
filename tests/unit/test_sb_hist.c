/* bench/sb_hist.c: the buckets tile the value range without gaps and
 * within the promised width; percentiles of large random samples (log-
 * uniform from 1 µs to 60 s, and a tight cluster) are within 1% of the
 * exact ones computed by sorting; min, max, mean, empty histograms; adding
 * and differencing histograms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench/sb_hist.h"

#define N 200000

static uint64_t rng = 88172645463325252ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static sb_hist_t *new_hist(void)
{
    sb_hist_t *h = malloc(sizeof(*h));
    assert_non_null(h);
    sb_hist_init(h);
    return h;
}

static void test_buckets(void **state)
{
    (void)state;
    assert_int_equal(sb_hist_index(0), 0);
    assert_int_equal(sb_hist_index(127), 127);
    assert_int_equal(sb_hist_index(128), 128);
    for (unsigned i = 0; i + 1 < SB_HIST_BUCKETS; i++) {
        uint64_t lo = sb_hist_bucket_low(i), w = sb_hist_bucket_width(i);
        /* contiguous, and each value maps back to its bucket */
        assert_int_equal(sb_hist_bucket_low(i + 1), lo + w);
        assert_int_equal(sb_hist_index(lo), i);
        assert_int_equal(sb_hist_index(lo + w - 1), i);
        /* width at most 1/128 of the lower bound above 128 ns */
        if (lo >= 128)
            assert_true(w * 128 <= lo);
    }
    /* 60 s is inside the range; far larger values clamp to the end */
    assert_true(sb_hist_index(60000000000ull) < SB_HIST_BUCKETS - 1);
    assert_int_equal(sb_hist_index(UINT64_MAX), SB_HIST_BUCKETS - 1);
}

static void check_percentiles(sb_hist_t *h, uint64_t *v, size_t n)
{
    static const double ps[] = {1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99};

    qsort(v, n, sizeof(*v), cmp_u64);
    assert_int_equal(sb_hist_count(h), n);
    assert_int_equal(sb_hist_min(h), v[0]);
    assert_int_equal(sb_hist_max(h), v[n - 1]);
    assert_int_equal(sb_hist_percentile(h, 0), v[0]);
    assert_int_equal(sb_hist_percentile(h, 100), v[n - 1]);
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++) {
        size_t rank = (size_t)ceil(ps[i] / 100 * (double)n);
        double exact = (double)v[rank - 1];
        double got = (double)sb_hist_percentile(h, ps[i]);
        if (fabs(got - exact) > exact * 0.01 + 0.5)
            fail_msg("p%g: got %.0f, exact %.0f", ps[i], got, exact);
    }
}

static void test_percentiles_wide(void **state)
{
    sb_hist_t *h = new_hist();
    uint64_t *v = malloc(N * sizeof(*v));
    double sum = 0;

    (void)state;
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) {
        /* log-uniform over 1 µs .. 60 s */
        double u = (double)(next() >> 11) / 9007199254740992.0;
        v[i] = (uint64_t)(1e3 * pow(6e7, u));
        sum += (double)v[i];
        sb_hist_record(h, v[i]);
    }
    assert_true(fabs(sb_hist_mean(h) - sum / N) <= sum / N * 1e-9);
    check_percentiles(h, v, N);
    free(v);
    free(h);
}

static void test_percentiles_cluster(void **state)
{
    sb_hist_t *h = new_hist();
    uint64_t *v = malloc(N * sizeof(*v));

    (void)state;
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) {
        /* 250 µs ± 20 µs, a few slow ones at 5-9 ms */
        v[i] = 230000 + next() % 40001;
        if (i % 997 == 0)
            v[i] = 5000000 + next() % 4000000;
        sb_hist_record(h, v[i]);
    }
    check_percentiles(h, v, N);
    free(v);
    free(h);
}

static void test_small_and_empty(void **state)
{
    sb_hist_t *h = new_hist();

    (void)state;
    assert_int_equal(sb_hist_count(h), 0);
    assert_int_equal(sb_hist_percentile(h, 50), 0);
    assert_int_equal(sb_hist_min(h), 0);
    assert_int_equal(sb_hist_max(h), 0);
    assert_true(sb_hist_mean(h) == 0);
    sb_hist_record(h, 1000);
    assert_int_equal(sb_hist_percentile(h, 50), 1000); /* clamped to min..max */
    assert_int_equal(sb_hist_percentile(h, 99.9), 1000);
    sb_hist_record(h, 3000);
    /* the bucket's midpoint: within 0.4% */
    assert_true(sb_hist_percentile(h, 50) >= 1000 &&
                sb_hist_percentile(h, 50) <= 1004);
    assert_int_equal(sb_hist_percentile(h, 51), 3000); /* clamped to max */
    /* values beyond the range keep their true max */
    sb_hist_record(h, 200000000000ull);
    assert_int_equal(sb_hist_max(h), 200000000000ull);
    assert_int_equal(sb_hist_percentile(h, 100), 200000000000ull);
    free(h);
}

static void test_add_and_diff(void **state)
{
    sb_hist_t *a = new_hist(), *b = new_hist(), *snap = new_hist(),
              *d = new_hist();

    (void)state;
    for (uint64_t i = 1; i <= 1000; i++)
        sb_hist_record(a, i * 1000); /* 1 µs .. 1 ms */
    sb_hist_add(snap, a);            /* snapshot */
    for (uint64_t i = 1; i <= 1000; i++)
        sb_hist_record(a, 10000000 + i * 1000); /* 10 .. 11 ms */
    sb_hist_diff(d, a, snap);
    assert_int_equal(sb_hist_count(d), 1000);
    assert_true(sb_hist_percentile(d, 50) >= 10400000 &&
                sb_hist_percentile(d, 50) <= 10600000);
    assert_true(sb_hist_min(d) >= 10000000 * 0.99);
    assert_int_equal(sb_hist_max(d), 11000000);

    sb_hist_add(b, a);
    sb_hist_add(b, snap);
    assert_int_equal(sb_hist_count(b), 3000);
    assert_int_equal(sb_hist_min(b), 1000);
    assert_int_equal(sb_hist_max(b), 11000000);
    free(a);
    free(b);
    free(snap);
    free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buckets),
        cmocka_unit_test(test_percentiles_wide),
        cmocka_unit_test(test_percentiles_cluster),
        cmocka_unit_test(test_small_and_empty),
        cmocka_unit_test(test_add_and_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
