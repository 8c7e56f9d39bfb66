/* storage/records.c: records inside batches of every codec (none, gzip,
 * raw and xerial-framed snappy, lz4 frame, zstd) are iterated with their
 * offsets, timestamps, keys and values; timestamp search finds the first
 * record at or after a time; malformed and oversized input is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test_compress.h"
#include "tests/unit/test_util.h"

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/records.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#define NREC 50

/* Records section (uncompressed): NREC records, timestamps base+10*i. */
static size_t make_records(uint8_t *out)
{
    size_t n = 0;
    for (int i = 0; i < NREC; i++) {
        uint8_t rec[128];
        size_t r = 0;
        char key[16], val[32];
        int kl = snprintf(key, sizeof(key), "k%d", i);
        int vl = snprintf(val, sizeof(val), "value-%d", i);
        rec[r++] = 0;
        r += test_put_varlong(rec + r, 10 * i);
        r += test_put_varlong(rec + r, i);
        if (i == 7) {
            r += test_put_varlong(rec + r, -1); /* null key */
        } else {
            r += test_put_varlong(rec + r, kl);
            memcpy(rec + r, key, (size_t)kl);
            r += (size_t)kl;
        }
        r += test_put_varlong(rec + r, vl);
        memcpy(rec + r, val, (size_t)vl);
        r += (size_t)vl;
        r += test_put_varlong(rec + r, 0);
        n += test_put_varlong(out + n, (int64_t)r);
        memcpy(out + n, rec, r);
        n += r;
    }
    return n;
}

static size_t make_batch(uint8_t *b, int codec, bool xerial, int64_t base,
                         int64_t ts0)
{
    static uint8_t recs[16384];
    size_t rn = make_records(recs), len;
    memset(b, 0, 61);
    st_put_be64(b, (uint64_t)base);
    b[16] = 2;
    st_put_be16(b + 21, (uint16_t)codec);
    st_put_be32(b + 23, NREC - 1);
    st_put_be64(b + 27, (uint64_t)ts0);
    st_put_be64(b + 35, (uint64_t)(ts0 + 10 * (NREC - 1)));
    st_put_be64(b + 43, (uint64_t)-1);
    st_put_be16(b + 51, 0xffff);
    st_put_be32(b + 53, 0xffffffff);
    st_put_be32(b + 57, NREC);
    len = 61 + test_compress(codec, xerial, recs, rn, b + 61, 16384);
    st_put_be32(b + 8, (uint32_t)(len - 12));
    st_put_be32(b + 17, simd_crc32c(0, b + 21, len - 21));
    return len;
}

struct seen {
    int n;
    int64_t base;
};

static int check_cb(void *arg, const log_record_t *r)
{
    struct seen *s = arg;
    char want[32];
    int vl = snprintf(want, sizeof(want), "value-%d", s->n);
    assert_int_equal(r->offset, s->base + s->n);
    assert_int_equal(r->timestamp, 1000 + 10 * s->n);
    assert_int_equal(r->value_len, vl);
    assert_memory_equal(r->value, want, (size_t)vl);
    if (s->n == 7)
        assert_int_equal(r->key_len, -1);
    else
        assert_int_equal(r->key[0], 'k');
    s->n++;
    return 0;
}

static void test_every_codec(void **state)
{
    static uint8_t b[20000];
    (void)state;
    for (int codec = 0; codec <= 4; codec++) {
        for (int x = 0; x < (codec == 2 ? 2 : 1); x++) {
            size_t len = make_batch(b, codec, x == 1, 500, 1000);
            struct seen s = {0, 500};
            int64_t off = -1, ts = -1;
            assert_int_equal(log_records_each(b, len, check_cb, &s), 0);
            assert_int_equal(s.n, NREC);
            assert_int_equal(
                log_records_find_time(b, len, 1000 + 10 * 20 - 5, 0, &off, &ts),
                1);
            assert_int_equal(off, 520);
            assert_int_equal(ts, 1000 + 200);
            assert_int_equal(log_records_find_time(b, len, 0, 0, &off, &ts), 1);
            assert_int_equal(off, 500);
            /* records below the log start offset do not count */
            assert_int_equal(log_records_find_time(b, len, 0, 530, &off, &ts),
                             1);
            assert_int_equal(off, 530);
            assert_int_equal(
                log_records_find_time(b, len, 1000 + 10 * NREC, 0, &off, &ts),
                0);
        }
    }
}

static void test_log_append_time(void **state)
{
    static uint8_t b[20000];
    size_t len = make_batch(b, 0, false, 0, 1000);
    int64_t off, ts;
    (void)state;
    st_put_be16(b + 21, 8); /* timestampType = LogAppendTime */
    st_put_be64(b + 35, 777777);
    assert_int_equal(log_records_find_time(b, len, 5000, 0, &off, &ts), 1);
    assert_int_equal(off, 0);
    assert_int_equal(ts, 777777);
}

static int count_cb(void *arg, const log_record_t *r)
{
    (void)r;
    (*(int *)arg)++;
    return 0;
}

static void test_malformed(void **state)
{
    static uint8_t b[20000];
    (void)state;
    for (int codec = 0; codec <= 4; codec++) {
        size_t len = make_batch(b, codec, false, 0, 1000);
        /* every truncation of the records section is refused cleanly:
         * shorten batchLength so the header stays self-consistent */
        for (size_t cut = 61; cut < len; cut += 7) {
            int n = 0;
            st_put_be32(b + 8, (uint32_t)(cut - 12));
            assert_true(log_records_each(b, cut, count_cb, &n) < 0);
        }
    }
    /* unknown codec: refused (by the header check, before inflating) */
    {
        size_t len = make_batch(b, 0, false, 0, 1000);
        int n = 0;
        st_put_be16(b + 21, 6);
        assert_true(log_records_each(b, len, count_cb, &n) < 0);
        assert_int_equal(n, 0);
    }
}

static void test_inflate_cap(void **state)
{
    /* 80 MiB of zeros compresses to almost nothing: a decompression bomb
     * must stop at the cap instead of allocating it all. */
    size_t big = 80u << 20, cap = ZSTD_compressBound(big), len;
    uint8_t *zeros = calloc(1, big), *b = malloc(61 + cap);
    int n = 0;
    (void)state;
    assert_non_null(zeros);
    assert_non_null(b);
    memset(b, 0, 61);
    b[16] = 2;
    st_put_be16(b + 21, 4);
    st_put_be32(b + 57, 1);
    len = 61 + ZSTD_compress(b + 61, cap, zeros, big, 1);
    st_put_be32(b + 8, (uint32_t)(len - 12));
    assert_int_equal(log_records_each(b, len, count_cb, &n), -EFBIG);
    free(zeros);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_codec),
        cmocka_unit_test(test_log_append_time),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_inflate_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
