/* storage/legacy.c: legacy message sets (magic 0 and 1, plain and wrapped
 * in gzip, raw and xerial snappy, and lz4 — with the broken magic-0 lz4
 * header of KAFKA-3160) become one v2 batch that passes the produce-path
 * validation, holding the same keys and values in order with the
 * timestamps legacy.h promises; bad CRCs, every truncation, foreign
 * magics, nesting and oversized content are refused cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/test_compress.h"

#include "alloc/mem.h"
#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/legacy.h"
#include "storage/records.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define NOW 1700000000000LL
#define BUF (1 << 20)

enum { GZIP = 1, SNAPPY = 2, LZ4 = 3 };
enum { PLAIN, XERIAL, LZ4_BROKEN_HC, LZ4_BAD_HC };

struct msg {
    int magic, attr;
    int64_t ts;
    const char *key; /* NULL: null */
    const char *val; /* NULL: null */
};

static size_t put_bytes(uint8_t *p, const char *s)
{
    size_t n;
    if (!s) {
        st_put_be32(p, UINT32_MAX);
        return 4;
    }
    n = strlen(s);
    st_put_be32(p, (uint32_t)n);
    memcpy(p + 4, s, n);
    return 4 + n;
}

/* One message set entry with a raw value of vlen bytes (vlen -1: null). */
static size_t put_entry_raw(uint8_t *o, int64_t offset, int magic, int attr,
                            int64_t ts, const char *key, const void *val,
                            int32_t vlen)
{
    uint8_t *m = o + 12, *p = m + 4;
    size_t size;
    *p++ = (uint8_t)magic;
    *p++ = (uint8_t)attr;
    if (magic == 1) {
        st_put_be64(p, (uint64_t)ts);
        p += 8;
    }
    p += put_bytes(p, key);
    st_put_be32(p, (uint32_t)vlen);
    p += 4;
    if (vlen > 0) {
        memcpy(p, val, (size_t)vlen);
        p += vlen;
    }
    size = (size_t)(p - m);
    st_put_be32(m, (uint32_t)crc32(0, m + 4, (uInt)(size - 4)));
    st_put_be64(o, (uint64_t)offset);
    st_put_be32(o + 8, (uint32_t)size);
    return 12 + size;
}

static size_t put_entry(uint8_t *o, int64_t offset, const struct msg *m)
{
    return put_entry_raw(o, offset, m->magic, m->attr, m->ts, m->key, m->val,
                         m->val ? (int32_t)strlen(m->val) : -1);
}

static size_t put_set(uint8_t *o, const struct msg *ms, int n)
{
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += put_entry(o + len, i, &ms[i]);
    return len;
}

/* XXH32, seed 0, fewer than 16 bytes: to forge and check lz4 header
 * checksums (the test's own copy, checked against liblz4's output). */
static uint32_t rotl(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static uint32_t xxh32(const uint8_t *p, size_t n)
{
    uint32_t h = 374761393u + (uint32_t)n;
    assert_true(n < 16);
    for (; n >= 4; p += 4, n -= 4)
        h = rotl(h + (p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24) *
                         3266489917u,
                 17) *
            668265263u;
    for (; n > 0; p++, n--)
        h = rotl(h + *p * 374761393u, 11) * 2654435761u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    h *= 3266489917u;
    return h ^ (h >> 16);
}

static size_t compress_with(int codec, int variant, const uint8_t *in, size_t n,
                            uint8_t *out, size_t cap)
{
    size_t len = test_compress(codec, variant == XERIAL, in, n, out, cap);
    if (codec == LZ4) {
        /* default preferences: a 2-byte descriptor, checksum at byte 6 */
        assert_int_equal(out[6], (xxh32(out + 4, 2) >> 8) & 0xff);
        if (variant == LZ4_BROKEN_HC) /* Kafka 0.8: magic bytes hashed too */
            out[6] = (uint8_t)(xxh32(out, 6) >> 8);
        else if (variant == LZ4_BAD_HC)
            out[6] ^= 0x5a;
    }
    return len;
}

/* A wrapper entry whose value is the inner set compressed. */
static size_t put_wrapper(uint8_t *o, int magic, int codec, int variant,
                          int extra_attr, int64_t ts, const uint8_t *inner,
                          size_t inner_len)
{
    static uint8_t z[BUF];
    size_t zl = compress_with(codec, variant, inner, inner_len, z, sizeof(z));
    return put_entry_raw(o, 99, magic, codec | extra_attr, ts, NULL, z,
                         (int32_t)zl);
}

/* ---- checking the output ---- */

struct want {
    const char *key, *val;
    int64_t ts;
};

struct walk {
    const struct want *w;
    int n;
};

static int walk_cb(void *arg, const log_record_t *r)
{
    struct walk *k = arg;
    const struct want *w = &k->w[k->n];
    assert_int_equal(r->offset, k->n);
    assert_int_equal(r->timestamp, w->ts);
    assert_int_equal(r->headers, 0);
    if (!w->key) {
        assert_int_equal(r->key_len, -1);
        assert_null(r->key);
    } else {
        assert_int_equal(r->key_len, (int32_t)strlen(w->key));
        assert_non_null(r->key);
        if (*w->key)
            assert_memory_equal(r->key, w->key, strlen(w->key));
    }
    if (!w->val) {
        assert_int_equal(r->value_len, -1);
        assert_null(r->value);
    } else {
        assert_int_equal(r->value_len, (int32_t)strlen(w->val));
        if (*w->val)
            assert_memory_equal(r->value, w->val, strlen(w->val));
    }
    k->n++;
    return 0;
}

/* Up-converts in, checks the batch and its records against want[n] and
 * the timestamp type; returns nothing, fails the test on any mismatch. */
static void check(const uint8_t *in, size_t len, const struct want *want, int n,
                  bool append_time, int64_t max_ts)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    int32_t records = 0;
    log_batch_info_t bi;
    log_batches_summary_t sum;
    struct walk k = {want, 0};

    assert_int_equal(
        log_legacy_upconvert(in, len, NOW, &out, &out_len, &records), 0);
    assert_non_null(out);
    assert_int_equal(records, n);
    assert_int_equal(log_batch_parse(out, out_len, true, &bi), (int)out_len);
    assert_int_equal(log_batches_validate(out, out_len, &sum), 0);
    assert_int_equal(sum.batches, 1);
    assert_int_equal(bi.base_offset, 0);
    assert_int_equal(st_be32(out + 12), UINT32_MAX); /* leader epoch -1 */
    assert_int_equal(bi.records, n);
    assert_int_equal(bi.last_offset_delta, n - 1);
    assert_int_equal(bi.producer_id, -1);
    assert_int_equal(bi.producer_epoch, -1);
    assert_int_equal(bi.base_sequence, -1);
    assert_int_equal(bi.attributes,
                     append_time ? LOG_BATCH_ATTR_LOG_APPEND_TIME : 0);
    assert_int_equal(bi.max_ts, max_ts);
    assert_int_equal(log_records_magic(out, out_len), 2);
    assert_int_equal(log_records_each(out, out_len, walk_cb, &k), 0);
    assert_int_equal(k.n, n);
    mem_free(out);
}

/* Up-conversion must fail with rc (or, rc == 1, any error) and leave
 * nothing allocated (asan checks the latter). */
static void refuse(const uint8_t *in, size_t len, int rc)
{
    uint8_t *out = (uint8_t *)1;
    size_t out_len = 1;
    int32_t records = 1;
    int got = log_legacy_upconvert(in, len, NOW, &out, &out_len, &records);
    if (rc == 1)
        assert_true(got < 0);
    else
        assert_int_equal(got, rc);
    assert_null(out);
    assert_int_equal(out_len, 0);
}

/* ---- fixtures ---- */

static const struct msg V0[] = {
    {0, 0, 0, "k0", "value-0"}, {0, 0, 0, NULL, "null key"},
    {0, 0, 0, "k2", ""}, /* empty value */
    {0, 0, 0, "", NULL}, /* empty key, null value */
    {0, 0, 0, "k4", "value-4"},
};
static const struct want V0_WANT[] = {
    {"k0", "value-0", NOW}, {NULL, "null key", NOW}, {"k2", "", NOW},
    {"", NULL, NOW},        {"k4", "value-4", NOW},
};

/* CreateTime, not in order: maxTimestamp is the largest. */
static const struct msg V1[] = {
    {1, 0, 5000, "a", "one"},
    {1, 0, 9000, NULL, "two"},
    {1, 0, 4000, "c", ""},
    {1, 0, 7000, "d", NULL},
};
static const struct want V1_WANT[] = {
    {"a", "one", 5000},
    {NULL, "two", 9000},
    {"c", "", 4000},
    {"d", NULL, 7000},
};

/* ---- tests ---- */

static void test_magic(void **state)
{
    static uint8_t b[4096];
    size_t len = put_set(b, V1, 1);
    (void)state;
    assert_int_equal(log_records_magic(b, len), 1);
    assert_int_equal(log_records_magic(b, 16), -1);
    assert_int_equal(log_records_magic(b, 0), -1);
    len = put_set(b, V0, 1);
    assert_int_equal(log_records_magic(b, 17), 0);
}

static void test_plain_v0(void **state)
{
    static uint8_t b[4096];
    size_t len = put_set(b, V0, 5);
    (void)state;
    check(b, len, V0_WANT, 5, true, NOW);
    /* a single message */
    len = put_set(b, V0, 1);
    check(b, len, V0_WANT, 1, true, NOW);
}

static void test_plain_v1(void **state)
{
    static uint8_t b[4096];
    size_t len = put_set(b, V1, 4);
    (void)state;
    check(b, len, V1_WANT, 4, false, 9000);
}

static void test_timestamps_missing(void **state)
{
    static uint8_t b[4096];
    struct msg m[4];
    struct want w[4];
    size_t len;
    (void)state;
    /* one LogAppendTime message: the batch becomes LogAppendTime, and
     * every record reads as now (Kafka's LogAppendTime semantics) */
    memcpy(m, V1, sizeof(m));
    m[2].attr = 8;
    for (int i = 0; i < 4; i++)
        w[i] = (struct want){V1_WANT[i].key, V1_WANT[i].val, NOW};
    len = put_set(b, m, 4);
    check(b, len, w, 4, true, NOW);
    /* NO_TIMESTAMP (-1) in a magic 1 message counts as missing */
    memcpy(m, V1, sizeof(m));
    m[0].ts = -1;
    len = put_set(b, m, 4);
    check(b, len, w, 4, true, NOW);
    /* magic 0 and 1 mixed in one set */
    memcpy(m, V1, sizeof(m));
    m[1].magic = 0;
    len = put_set(b, m, 4);
    check(b, len, w, 4, true, NOW);
}

struct codec_case {
    int codec, variant, magic;
};

static void test_compressed(void **state)
{
    static const struct codec_case cases[] = {
        {GZIP, PLAIN, 0},   {GZIP, PLAIN, 1},        {SNAPPY, PLAIN, 0},
        {SNAPPY, PLAIN, 1}, {SNAPPY, XERIAL, 0},     {SNAPPY, XERIAL, 1},
        {LZ4, PLAIN, 1},    {LZ4, LZ4_BROKEN_HC, 0},
    };
    static uint8_t inner[BUF], b[BUF];
    (void)state;
    for (size_t c = 0; c < ST_ARRAY_LEN(cases); c++) {
        const struct codec_case *cc = &cases[c];
        const struct msg *ms = cc->magic ? V1 : V0;
        const struct want *ws = cc->magic ? V1_WANT : V0_WANT;
        int n = cc->magic ? 4 : 5;
        struct want w[16];
        struct msg plain = {cc->magic, 0, 3000, "before", "plain"};
        size_t il = put_set(inner, ms, n), len;
        int64_t max_ts = cc->magic ? 9000 : NOW;

        /* just the wrapper */
        len = put_wrapper(b, cc->magic, cc->codec, cc->variant, 0, 9000, inner,
                          il);
        check(b, len, ws, n, cc->magic == 0, max_ts);

        /* plain, wrapper, wrapper, plain: order kept across them */
        len = put_entry(b, 0, &plain);
        len += put_wrapper(b + len, cc->magic, cc->codec, cc->variant, 0, 9000,
                           inner, il);
        len += put_wrapper(b + len, cc->magic, cc->codec, cc->variant, 0, 9000,
                           inner, il);
        len += put_entry(b + len, 0, &plain);
        w[0] = (struct want){"before", "plain", cc->magic ? 3000 : NOW};
        memcpy(w + 1, ws, (size_t)n * sizeof(*w));
        memcpy(w + 1 + n, ws, (size_t)n * sizeof(*w));
        w[1 + 2 * n] = w[0];
        check(b, len, w, 2 + 2 * n, cc->magic == 0, max_ts);

        /* a LogAppendTime wrapper: inner CreateTimes give way to now */
        if (cc->magic == 1) {
            for (int i = 0; i < n; i++)
                w[i] = (struct want){ws[i].key, ws[i].val, NOW};
            len = put_wrapper(b, 1, cc->codec, cc->variant, 8, 9000, inner, il);
            check(b, len, w, n, true, NOW);
        }
    }
}

static void test_lz4_header_checksum(void **state)
{
    static uint8_t inner[4096], b[BUF], z[4096];
    LZ4F_preferences_t prefs = {0};
    size_t il = put_set(inner, V0, 5), len, zl;
    (void)state;
    /* a 10-byte descriptor (content size present): the test's xxh32
     * agrees with liblz4 there too, not only on the default 2 bytes */
    prefs.frameInfo.contentSize = il;
    zl = LZ4F_compressFrame(z, sizeof(z), inner, il, &prefs);
    assert_false(LZ4F_isError(zl));
    assert_int_equal(z[14], (xxh32(z + 4, 10) >> 8) & 0xff);
    /* magic 0: the Kafka 0.8 checksum (magic bytes hashed too) passes */
    z[14] = (uint8_t)(xxh32(z, 14) >> 8);
    len = put_entry_raw(b, 0, 0, LZ4, 0, NULL, z, (int32_t)zl);
    check(b, len, V0_WANT, 5, true, NOW);
    /* as does any checksum at all: like Kafka, it is not checked */
    len = put_wrapper(b, 0, LZ4, LZ4_BAD_HC, 0, 0, inner, il);
    check(b, len, V0_WANT, 5, true, NOW);
    /* magic 1: the frame must be standard */
    il = put_set(inner, V1, 4);
    len = put_wrapper(b, 1, LZ4, LZ4_BROKEN_HC, 0, 9000, inner, il);
    refuse(b, len, LOG_EBATCH_CORRUPT);
    len = put_wrapper(b, 1, LZ4, PLAIN, 0, 9000, inner, il);
    check(b, len, V1_WANT, 4, false, 9000);
}

static void test_bad_crc(void **state)
{
    static uint8_t inner[4096], b[BUF];
    size_t len, il, first;
    (void)state;
    /* any byte of a message from magic on, or of its crc, flipped */
    len = put_set(b, V1, 4);
    first = 12 + st_be32(b + 8);
    for (size_t i = 12; i < first; i++) {
        if (i == 16) /* the magic itself: 1 ^ 0x40 is no magic at all */
            continue;
        b[i] ^= 0x40;
        refuse(b, len, LOG_EBATCH_CRC);
        b[i] ^= 0x40;
    }
    b[16] ^= 0x40;
    refuse(b, len, LOG_EBATCH_CORRUPT);
    b[16] ^= 0x40;
    /* the last message of the set */
    b[len - 1] ^= 1;
    refuse(b, len, LOG_EBATCH_CRC);
    b[len - 1] ^= 1;
    check(b, len, V1_WANT, 4, false, 9000);
    /* an inner message inside a compressed wrapper */
    il = put_set(inner, V0, 5);
    inner[il - 1] ^= 1;
    len = put_wrapper(b, 0, GZIP, PLAIN, 0, 0, inner, il);
    refuse(b, len, LOG_EBATCH_CRC);
}

/* The number of entries of the set at b that end exactly at cut, or 0
 * when cut falls inside an entry. */
static int32_t entries_before(const uint8_t *b, size_t len, size_t cut)
{
    size_t off = 0;
    int32_t n = 0;
    while (off < cut && len - off >= 12) {
        off += 12 + st_be32(b + off + 8);
        n++;
    }
    return off == cut ? n : 0;
}

/* Up-conversion succeeds with n records and a valid batch. */
static void accept(const uint8_t *in, size_t len, int32_t n)
{
    uint8_t *out;
    size_t out_len;
    int32_t records;
    assert_int_equal(
        log_legacy_upconvert(in, len, NOW, &out, &out_len, &records), 0);
    assert_int_equal(records, n);
    assert_int_equal(log_batch_parse(out, out_len, true, NULL), (int)out_len);
    mem_free(out);
}

/* Every prefix of the set at b: a whole number of entries converts (to
 * fewer records), anything else is refused without leaking. */
static void sweep(const uint8_t *b, size_t len, int32_t per_entry)
{
    for (size_t cut = 0; cut < len; cut++) {
        /* exact-size copy so asan sees any read past the end */
        uint8_t *t = malloc(cut ? cut : 1);
        int32_t n = entries_before(b, len, cut);
        assert_non_null(t);
        memcpy(t, b, cut);
        if (n > 0)
            accept(t, cut, n * per_entry);
        else
            refuse(t, cut, 1);
        free(t);
    }
}

static void test_truncation(void **state)
{
    static uint8_t inner[4096], b[BUF], z[4096], w[8192];
    size_t len, il, zl;
    (void)state;
    len = put_set(b, V0, 5);
    sweep(b, len, 1);
    /* a whole set followed by a partial entry header */
    refuse(b, len + 5, LOG_EBATCH_CORRUPT);
    len = put_set(b, V1, 4);
    sweep(b, len, 1);
    /* a message whose size points past the end */
    st_put_be32(b + 8, st_be32(b + 8) + (uint32_t)len);
    refuse(b, len, LOG_EBATCH_CORRUPT);
    /* wrappers of 4 records each */
    il = put_set(inner, V1, 4);
    len = put_wrapper(b, 1, SNAPPY, XERIAL, 0, 9000, inner, il);
    len += put_wrapper(b + len, 1, LZ4, PLAIN, 0, 9000, inner, il);
    sweep(b, len, 4);
    /* the compressed value truncated, under a correct outer CRC */
    zl = compress_with(GZIP, PLAIN, inner, il, z, sizeof(z));
    for (size_t cut = 0; cut < zl; cut++) {
        len = put_entry_raw(w, 0, 1, GZIP, 1, NULL, z, (int32_t)cut);
        refuse(w, len, LOG_EBATCH_CORRUPT);
    }
    /* the inner set truncated before compression */
    for (size_t cut = 0; cut < il; cut++) {
        int32_t n = entries_before(inner, il, cut);
        len = put_wrapper(w, 1, GZIP, PLAIN, 0, 1, inner, cut);
        if (n > 0)
            accept(w, len, n);
        else
            refuse(w, len, LOG_EBATCH_CORRUPT);
    }
}

static void test_refused(void **state)
{
    static uint8_t inner[4096], b[BUF], b2[BUF];
    uint8_t *out;
    size_t len, il, out_len;
    int32_t records;
    (void)state;

    /* empty input */
    refuse(b, 0, LOG_EBATCH_CORRUPT);

    /* a v2 batch (our own output) is not a legacy message set */
    len = put_set(b, V1, 4);
    assert_int_equal(
        log_legacy_upconvert(b, len, NOW, &out, &out_len, &records), 0);
    assert_int_equal(log_records_magic(out, out_len), 2);
    refuse(out, out_len, LOG_EBATCH_CORRUPT);
    mem_free(out);

    /* magic 2 and 3 in the legacy layout, even with a correct CRC */
    for (int magic = 2; magic <= 3; magic++) {
        len = put_entry_raw(b, 0, magic, 0, 0, "k", "v", 1);
        refuse(b, len, LOG_EBATCH_CORRUPT);
    }

    /* key and value not filling the message exactly: a byte too many */
    len = put_entry(b, 0, &V0[0]);
    b[len] = 0;
    st_put_be32(b + 8, st_be32(b + 8) + 1);
    st_put_be32(b + 12, (uint32_t)crc32(0, b + 16, (uInt)(len + 1 - 16)));
    refuse(b, len + 1, LOG_EBATCH_CORRUPT);

    /* a message too short for its magic */
    len = put_entry_raw(b, 0, 1, 0, 0, NULL, NULL, -1);
    st_put_be32(b + 8, 13); /* crc magic attr + 6 bytes */
    st_put_be32(b + 12, (uint32_t)crc32(0, b + 16, 9));
    refuse(b, 12 + 13, LOG_EBATCH_CORRUPT);

    /* codec 4 (zstd) does not exist before magic 2; 5-7 never */
    for (int codec = 4; codec <= 7; codec++) {
        len = put_entry_raw(b, 0, 1, codec, 0, NULL, "xx", 2);
        refuse(b, len, LOG_EBATCH_CORRUPT);
    }

    /* a wrapper with a null value, and with garbage for a value */
    len = put_entry_raw(b, 0, 1, GZIP, 0, NULL, NULL, -1);
    refuse(b, len, LOG_EBATCH_CORRUPT);
    len = put_entry_raw(b, 0, 1, SNAPPY, 0, NULL, "garbage!", 8);
    refuse(b, len, LOG_EBATCH_CORRUPT);

    /* a wrapper around an empty message set */
    len = put_wrapper(b, 1, GZIP, PLAIN, 0, 0, inner, 0);
    refuse(b, len, LOG_EBATCH_CORRUPT);

    /* inner magic different from the wrapper's */
    il = put_set(inner, V0, 5);
    len = put_wrapper(b, 1, GZIP, PLAIN, 0, 0, inner, il);
    refuse(b, len, LOG_EBATCH_CORRUPT);

    /* a wrapper inside a wrapper */
    il = put_set(inner, V1, 4);
    len = put_wrapper(b2, 1, SNAPPY, PLAIN, 0, 0, inner, il);
    len = put_wrapper(b, 1, GZIP, PLAIN, 0, 0, b2, len);
    refuse(b, len, LOG_EBATCH_CORRUPT);

    /* a negative message size, and a negative key length */
    len = put_set(b, V1, 1);
    st_put_be32(b + 8, UINT32_MAX);
    refuse(b, len, LOG_EBATCH_CORRUPT);
    len = put_entry_raw(b, 0, 0, 0, 0, "key", "v", 1);
    st_put_be32(b + 18, (uint32_t)-2);
    st_put_be32(b + 12, (uint32_t)crc32(0, b + 16, (uInt)(len - 16)));
    refuse(b, len, LOG_EBATCH_CORRUPT);
}

static void test_over_cap(void **state)
{
    /* 70 MiB of zeros: over the cap uncompressed, and as a gzip bomb */
    size_t big = 70u << 20, zcap = big / 100 + 4096, zl, len;
    uint8_t *zeros = calloc(1, big), *b = malloc(big + 64), *z = malloc(zcap);
    (void)state;
    assert_non_null(zeros);
    assert_non_null(b);
    assert_non_null(z);
    len = put_entry_raw(b, 0, 1, 0, 1, NULL, zeros, (int32_t)big);
    refuse(b, len, -EFBIG);

    len = put_entry_raw(b, 0, 1, 0, 1, NULL, zeros, (int32_t)big);
    zl = compress_with(GZIP, PLAIN, b, len, z, zcap);
    len = put_entry_raw(b, 0, 1, GZIP, 1, NULL, z, (int32_t)zl);
    refuse(b, len, -EFBIG);

    /* two wrappers of 40 MiB each: each fits, their sum does not */
    len = put_entry_raw(b, 0, 1, 0, 1, NULL, zeros, 40 << 20);
    zl = compress_with(GZIP, PLAIN, b, len, z, zcap);
    len = put_entry_raw(b, 0, 1, GZIP, 1, NULL, z, (int32_t)zl);
    memcpy(b + len, b, len);
    refuse(b, 2 * len, -EFBIG);
    /* while one alone converts */
    {
        uint8_t *out;
        size_t out_len;
        int32_t records;
        assert_int_equal(
            log_legacy_upconvert(b, len, NOW, &out, &out_len, &records), 0);
        assert_int_equal(records, 1);
        assert_int_equal(log_batch_parse(out, out_len, true, NULL),
                         (int)out_len);
        mem_free(out);
    }
    free(zeros);
    free(b);
    free(z);
}

static void test_inflated_cap(void **state)
{
    /* 2^20 empty messages (34 MiB) per wrapper: the output stays small
     * (~10 bytes a record), but two wrappers inflate past the cap. */
    size_t n = 1u << 20, il = 0, zcap = 8u << 20, zl, len;
    uint8_t *inner = malloc(n * 34), *z = malloc(zcap), *b = malloc(2 * zcap);
    (void)state;
    assert_non_null(inner);
    assert_non_null(z);
    assert_non_null(b);
    for (size_t i = 0; i < n; i++)
        il += put_entry_raw(inner + il, (int64_t)i, 1, 0, 1, NULL, NULL, -1);
    assert_int_equal(il, n * 34);
    zl = compress_with(GZIP, PLAIN, inner, il, z, zcap);
    len = put_entry_raw(b, 0, 1, GZIP, 1, NULL, z, (int32_t)zl);
    accept(b, len, (int32_t)n);
    memcpy(b + len, b, len);
    refuse(b, 2 * len, -EFBIG);
    free(inner);
    free(z);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_magic),
        cmocka_unit_test(test_plain_v0),
        cmocka_unit_test(test_plain_v1),
        cmocka_unit_test(test_timestamps_missing),
        cmocka_unit_test(test_compressed),
        cmocka_unit_test(test_lz4_header_checksum),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_over_cap),
        cmocka_unit_test(test_inflated_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
