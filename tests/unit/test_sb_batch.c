/* bench/sb_batch.c: batches built by strata-bench, with every codec, pass
 * storage's strict producer-side validation (log_batches_validate: length,
 * magic, CRC-32C, counts) and read back through log_records_each with the
 * same offsets, timestamps, keys and values; the size limit closes a batch
 * at the right record; the value stamp round-trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "alloc/st.h"
#include "bench/sb_batch.h"
#include "storage/batch.h"
#include "storage/records.h"

#define NREC 300
#define TS0 1700000000000LL

struct check {
    int n;
};

static void value_of(int i, uint8_t *v, int32_t len)
{
    for (int32_t j = 0; j < len; j++)
        v[j] = (uint8_t)('A' + (i * 7 + j) % 26);
}

static int check_cb(void *arg, const log_record_t *r)
{
    struct check *c = arg;
    int i = c->n++;
    uint8_t want[200];
    char key[16];
    int32_t vlen = 50 + i % 100;

    assert_int_equal(r->offset, i);
    assert_int_equal(r->timestamp, TS0 + i / 3);
    if (i % 5 == 0) {
        assert_int_equal(r->key_len, -1);
        assert_null(r->key);
    } else {
        int kl = snprintf(key, sizeof(key), "key-%d", i);
        assert_int_equal(r->key_len, kl);
        assert_memory_equal(r->key, key, (size_t)kl);
    }
    value_of(i, want, vlen);
    assert_int_equal(r->value_len, vlen);
    assert_memory_equal(r->value, want, (size_t)vlen);
    return 0;
}

static void build(sb_batch_t *b, int n)
{
    for (int i = 0; i < n; i++) {
        char key[16];
        int kl = snprintf(key, sizeof(key), "key-%d", i);
        int32_t vlen = 50 + i % 100;
        uint8_t *v = sb_batch_add(b, TS0 + i / 3, i % 5 ? key : NULL, kl, vlen);
        assert_non_null(v);
        value_of(i, v, vlen);
    }
}

static void test_round_trip_every_codec(void **state)
{
    sb_compressor_t z;

    (void)state;
    sb_compressor_init(&z);
    for (int codec = SB_CODEC_NONE; codec <= SB_CODEC_ZSTD; codec++) {
        sb_batch_t b;
        log_batches_summary_t sum;
        log_batch_info_t bi;
        struct check c = {0};

        assert_int_equal(sb_batch_init(&b, 1 << 20), 0);
        for (int round = 0; round < 2; round++) { /* reuse after reset */
            sb_batch_reset(&b);
            build(&b, NREC);
            assert_int_equal(sb_batch_seal(&b, codec, &z), 0);
            assert_int_equal(log_batches_validate(b.data, b.data_len, &sum), 0);
            assert_int_equal(sum.batches, 1);
            assert_int_equal(sum.records, NREC);
            assert_int_equal(sum.max_ts, TS0 + (NREC - 1) / 3);
            assert_int_equal(log_batch_parse(b.data, b.data_len, true, &bi),
                             (int)b.data_len);
            assert_int_equal(bi.attributes & 7, codec);
            assert_int_equal(bi.producer_id, -1);
            assert_int_equal(bi.producer_epoch, -1);
            assert_int_equal(bi.base_sequence, -1);
            assert_int_equal(bi.base_ts, TS0);
            if (codec != SB_CODEC_NONE) /* text-like values compress */
                assert_true(b.data_len < b.len);
            c.n = 0;
            assert_int_equal(log_records_each(b.data, b.data_len, check_cb, &c),
                             0);
            assert_int_equal(c.n, NREC);
        }
        sb_batch_fini(&b);
    }
    sb_compressor_fini(&z);
}

static void test_limit(void **state)
{
    sb_batch_t b;
    size_t rec = sb_record_size_max(-1, 100);
    int n = 0;

    (void)state;
    assert_int_equal(sb_batch_init(&b, 4096), 0);
    while (sb_batch_has_room(&b, rec)) {
        assert_non_null(sb_batch_add(&b, TS0, NULL, -1, 100));
        n++;
    }
    assert_true(b.len <= 4096);
    assert_true(b.len + rec > 4096);
    assert_true(n >= (4096 - 61) / (int)rec);
    /* a record that does not fit is refused, the batch unchanged */
    size_t len = b.len;
    assert_null(sb_batch_add(&b, TS0, NULL, -1, 1000));
    assert_int_equal(b.len, len);
    assert_int_equal(b.n, n);
    /* the first record of a batch always fits, whatever its size */
    sb_batch_reset(&b);
    assert_non_null(sb_batch_add(&b, TS0, NULL, -1, 10000));
    assert_int_equal(sb_batch_seal(&b, SB_CODEC_NONE, NULL), 0);
    assert_int_equal(log_batches_validate(b.data, b.data_len, NULL), 0);
    /* an empty batch cannot be sealed */
    sb_batch_reset(&b);
    assert_int_equal(sb_batch_seal(&b, SB_CODEC_NONE, NULL), -EINVAL);
    sb_batch_fini(&b);
}

static void test_codec_names(void **state)
{
    (void)state;
    for (int c = SB_CODEC_NONE; c <= SB_CODEC_ZSTD; c++)
        assert_int_equal(sb_codec_parse(sb_codec_name(c)), c);
    assert_int_equal(sb_codec_parse("lz5"), -1);
    assert_int_equal(sb_codec_parse(""), -1);
}

static void test_stamp(void **state)
{
    uint8_t v[32];
    uint64_t t = 0;

    (void)state;
    sb_stamp_put(v, 1700000000123456789ull);
    assert_true(sb_stamp_get(v, 12, &t));
    assert_int_equal(t, 1700000000123456789ull);
    assert_false(sb_stamp_get(v, 11, &t)); /* too short */
    v[1] = 'X';
    assert_false(sb_stamp_get(v, 32, &t)); /* not ours */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_every_codec),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_codec_names),
        cmocka_unit_test(test_stamp),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
