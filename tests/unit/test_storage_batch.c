/* Record-batch validation: good batches, each kind of damage, and every
 * truncated prefix. Batches are built here byte by byte (header, varint
 * records, CRC-32C) rather than captured, so each field can be bent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tests/unit/test_util.h"

#include "simd/simd.h"
#include "storage/batch.h"

static void fix_crc(uint8_t *b, size_t total)
{
    st_put_be32(b + LOG_BATCH_OFF_CRC,
                simd_crc32c(0, b + LOG_BATCH_OFF_ATTRIBUTES,
                            total - LOG_BATCH_OFF_ATTRIBUTES));
}

/* A batch of `records` records carrying `vsize`-byte values, at out (big
 * enough); returns its size. */
static size_t build_batch(uint8_t *out, int64_t base, int records, size_t vsize,
                          int64_t ts)
{
    uint8_t *p = out + LOG_BATCH_HEADER_SIZE;
    int i;

    for (i = 0; i < records; i++) {
        uint8_t body[64 + 4096];
        size_t n = 0;
        body[n++] = 0;                       /* attributes */
        n += test_put_varlong(body + n, i);  /* timestampDelta */
        n += test_put_varlong(body + n, i);  /* offsetDelta */
        n += test_put_varlong(body + n, -1); /* null key */
        n += test_put_varlong(body + n, (int64_t)vsize);
        memset(body + n, 'a' + i % 26, vsize);
        n += vsize;
        n += test_put_varlong(body + n, 0); /* headers */
        p += test_put_varlong(p, (int64_t)n);
        memcpy(p, body, n);
        p += n;
    }
    size_t total = (size_t)(p - out);
    st_put_be64(out, (uint64_t)base);
    st_put_be32(out + LOG_BATCH_OFF_LENGTH, (uint32_t)(total - 12));
    st_put_be32(out + LOG_BATCH_OFF_LEADER_EPOCH, 0xffffffffu);
    out[LOG_BATCH_OFF_MAGIC] = 2;
    st_put_be16(out + LOG_BATCH_OFF_ATTRIBUTES, 0);
    st_put_be32(out + LOG_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(records - 1));
    st_put_be64(out + LOG_BATCH_OFF_BASE_TS, (uint64_t)ts);
    st_put_be64(out + LOG_BATCH_OFF_MAX_TS, (uint64_t)(ts + records - 1));
    st_put_be64(out + LOG_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    st_put_be16(out + LOG_BATCH_OFF_PRODUCER_EPOCH, 0xffff);
    st_put_be32(out + LOG_BATCH_OFF_BASE_SEQUENCE, 0xffffffffu);
    st_put_be32(out + LOG_BATCH_OFF_RECORDS, (uint32_t)records);
    fix_crc(out, total);
    return total;
}

static uint8_t buf[65536];

static void test_parse_good(void **state)
{
    log_batch_info_t info;
    size_t n = build_batch(buf, 42, 3, 10, 1000);
    int rc;

    (void)state;
    rc = log_batch_parse(buf, n, true, &info);
    assert_int_equal(rc, (int)n);
    assert_int_equal(info.base_offset, 42);
    assert_int_equal(info.length, (int)n);
    assert_int_equal(info.last_offset_delta, 2);
    assert_int_equal(info.records, 3);
    assert_int_equal(info.base_ts, 1000);
    assert_int_equal(info.max_ts, 1002);
    assert_int_equal(info.producer_id, -1);
    assert_int_equal(info.producer_epoch, -1);
    assert_int_equal(info.base_sequence, -1);
    assert_int_equal(info.attributes, 0);
    /* Extra bytes after the batch are not its business. */
    assert_int_equal(log_batch_parse(buf, sizeof(buf), true, NULL), (int)n);
    assert_int_equal(log_batch_size(buf), (int64_t)n);
    /* baseOffset is outside the CRC. */
    log_batch_set_base_offset(buf, 123456789);
    assert_int_equal(log_batch_parse(buf, n, true, &info), (int)n);
    assert_int_equal(info.base_offset, 123456789);
}

static void test_bad_length(void **state)
{
    size_t n = build_batch(buf, 0, 2, 10, 0);

    (void)state;
    st_put_be32(buf + LOG_BATCH_OFF_LENGTH, 48);
    assert_int_equal(log_batch_parse(buf, n, false, NULL), LOG_EBATCH_LENGTH);
    st_put_be32(buf + LOG_BATCH_OFF_LENGTH, 0xffffffffu);
    assert_int_equal(log_batch_parse(buf, n, false, NULL), LOG_EBATCH_LENGTH);
    st_put_be32(buf + LOG_BATCH_OFF_LENGTH, 0x7fffffffu);
    assert_int_equal(log_batch_parse(buf, n, false, NULL), LOG_EBATCH_LENGTH);
    /* One byte longer than the buffer. */
    st_put_be32(buf + LOG_BATCH_OFF_LENGTH, (uint32_t)(n - 12 + 1));
    assert_int_equal(log_batch_parse(buf, n, false, NULL), LOG_EBATCH_LENGTH);
}

static void test_bad_magic(void **state)
{
    size_t n = build_batch(buf, 0, 1, 10, 0);
    int m;

    (void)state;
    for (m = 0; m < 256; m++) {
        if (m == 2)
            continue;
        buf[LOG_BATCH_OFF_MAGIC] = (uint8_t)m;
        assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_MAGIC);
        /* Magic is reported even when the rest is missing. */
        assert_int_equal(log_batch_parse(buf, 17, true, NULL),
                         LOG_EBATCH_MAGIC);
    }
}

static void test_bad_crc(void **state)
{
    size_t n = build_batch(buf, 0, 4, 100, 0), i;

    (void)state;
    /* Every byte under the CRC matters; the ones before it do not. */
    for (i = 0; i < n; i++) {
        buf[i] ^= 0x40;
        int rc = log_batch_parse(buf, n, true, NULL);
        if (i >= LOG_BATCH_OFF_CRC && i < LOG_BATCH_HEADER_SIZE) {
            /* Header fields may fail their own checks first. */
            assert_true(rc < 0);
        } else if (i >= LOG_BATCH_OFF_CRC) {
            assert_int_equal(rc, LOG_EBATCH_CRC);
            assert_int_equal(log_batch_parse(buf, n, false, NULL), (int)n);
        } else if (i == LOG_BATCH_OFF_MAGIC) {
            assert_int_equal(rc, LOG_EBATCH_MAGIC);
        } else if (i >= LOG_BATCH_OFF_LENGTH &&
                   i < LOG_BATCH_OFF_LEADER_EPOCH) {
            /* Too long for the buffer, or shorter and then the CRC
             * covers fewer bytes. */
            assert_true(rc == LOG_EBATCH_LENGTH || rc == LOG_EBATCH_CRC);
        } else {
            assert_int_equal(rc, (int)n);
        }
        buf[i] ^= 0x40;
    }
    assert_int_equal(log_batch_parse(buf, n, true, NULL), (int)n);
}

static void test_corrupt(void **state)
{
    size_t n = build_batch(buf, 0, 3, 10, 0);

    (void)state;
    st_put_be32(buf + LOG_BATCH_OFF_LAST_OFFSET_DELTA, 0xffffffffu);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_CORRUPT);
    /* More records than offsets. */
    st_put_be32(buf + LOG_BATCH_OFF_LAST_OFFSET_DELTA, 1);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_CORRUPT);
    /* Fewer records than offsets: fine on disk, refused from producers. */
    st_put_be32(buf + LOG_BATCH_OFF_LAST_OFFSET_DELTA, 5);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), (int)n);
    assert_int_equal(log_batches_validate(buf, n, NULL), LOG_EBATCH_CORRUPT);
    /* A negative count. */
    st_put_be32(buf + LOG_BATCH_OFF_LAST_OFFSET_DELTA, 2);
    st_put_be32(buf + LOG_BATCH_OFF_RECORDS, 0xfffffffeu);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_CORRUPT);
    /* More records than the bytes could hold. */
    n = build_batch(buf, 0, 1, 0, 0);
    st_put_be32(buf + LOG_BATCH_OFF_LAST_OFFSET_DELTA, 99);
    st_put_be32(buf + LOG_BATCH_OFF_RECORDS, 100);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_CORRUPT);
    /* ... unless compressed, where only decompression could tell. */
    st_put_be16(buf + LOG_BATCH_OFF_ATTRIBUTES, 4);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), (int)n);
    /* Unknown codec. */
    st_put_be16(buf + LOG_BATCH_OFF_ATTRIBUTES, 5);
    fix_crc(buf, n);
    assert_int_equal(log_batch_parse(buf, n, true, NULL), LOG_EBATCH_CORRUPT);
}

static void test_truncated(void **state)
{
    size_t n = build_batch(buf, 7, 5, 33, 0), len;
    uint8_t *copy = malloc(n);

    (void)state;
    /* Each prefix in a buffer of exactly its size, so that a read past
     * the end would show under ASan. */
    for (len = 0; len < n; len++) {
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, buf, len);
        assert_int_equal(log_batch_parse(p, len, true, NULL),
                         LOG_EBATCH_LENGTH);
        assert_int_equal(log_batches_validate(p, len, NULL), LOG_EBATCH_LENGTH);
        free(p);
    }
    memcpy(copy, buf, n);
    assert_int_equal(log_batch_parse(copy, n, true, NULL), (int)n);
    free(copy);
}

static void test_validate_blob(void **state)
{
    log_batches_summary_t sum;
    size_t a, b, c;

    (void)state;
    a = build_batch(buf, 0, 3, 10, 100);
    b = build_batch(buf + a, 0, 1, 1000, 5000);
    c = build_batch(buf + a + b, 0, 7, 5, 200);
    assert_int_equal(log_batches_validate(buf, a + b + c, &sum), 0);
    assert_int_equal(sum.batches, 3);
    assert_int_equal(sum.records, 11);
    assert_int_equal(sum.max_batch_size, (int)b);
    assert_int_equal(sum.max_ts, 5000);
    /* A trailing partial batch. */
    assert_int_equal(log_batches_validate(buf, a + b + c - 1, NULL),
                     LOG_EBATCH_LENGTH);
    assert_int_equal(log_batches_validate(buf, a + b + 30, NULL),
                     LOG_EBATCH_LENGTH);
    /* Damage in the middle one. */
    buf[a + b - 1] ^= 1;
    assert_int_equal(log_batches_validate(buf, a + b + c, NULL),
                     LOG_EBATCH_CRC);
    buf[a + b - 1] ^= 1;
    buf[a + LOG_BATCH_OFF_MAGIC] = 1;
    assert_int_equal(log_batches_validate(buf, a + b + c, NULL),
                     LOG_EBATCH_MAGIC);
    buf[a + LOG_BATCH_OFF_MAGIC] = 2;
    assert_int_equal(log_batches_validate(buf, 0, NULL), LOG_EBATCH_LENGTH);
    assert_string_equal(log_batch_strerror(LOG_EBATCH_CRC), "CRC mismatch");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),    cmocka_unit_test(test_bad_length),
        cmocka_unit_test(test_bad_magic),     cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_corrupt),       cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_validate_blob),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
