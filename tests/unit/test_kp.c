/* Unit tests for the Kafka codec (net/kp_*.c): reader and writer primitives,
 * tagged fields, headers, the writer's spliced segments, the API tables,
 * and for every API and version the codec supports: encode→decode→encode
 * round trips, golden frames decoded to known values, golden responses,
 * truncation sweeps, trailing bytes and pool limits.
 *
 * Every decode in here reads from a heap copy of exactly the bytes under
 * test, so an over-read is caught by AddressSanitizer in the asan build
 * rather than silently reading a neighbour. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "alloc/st.h"
#include "net/kp.h"
#include "net/kp_msg.h"
#include "tests/fixtures/kp/kp_golden.h"
#include "tests/fixtures/kp/kp_samples.h"

/* ---- helpers ---- */

/* A heap copy of exactly n bytes (so ASan sees any over-read). */
static uint8_t *dup_exact(const void *p, size_t n)
{
    uint8_t *d = malloc(n ? n : 1);
    assert_non_null(d);
    if (n)
        memcpy(d, p, n);
    return d;
}

#define RD(rd, ...)                                                            \
    do {                                                                       \
        static const uint8_t b_[] = {__VA_ARGS__};                             \
        kp_rd_init((rd), b_, sizeof(b_));                                      \
    } while (0)

/* Flattens a writer and compares it with the expected bytes. */
static void assert_wr_eq(const kp_wr_t *w, const void *exp, size_t n)
{
    uint8_t *out;
    size_t len;

    assert_int_equal(w->err, 0);
    assert_int_equal(kp_wr_flatten(w, &out, &len), 0);
    if (len != n || memcmp(out, exp, n) != 0) {
        size_t i;
        fprintf(stderr, "got %zu bytes, want %zu\n", len, n);
        for (i = 0; i < len || i < n; i++)
            fprintf(stderr, "%4zu: %02x %02x%s\n", i, i < len ? out[i] : 0,
                    i < n ? ((const uint8_t *)exp)[i] : 0,
                    i < len && i < n && out[i] == ((const uint8_t *)exp)[i]
                        ? ""
                        : "  <--");
    }
    assert_int_equal(len, n);
    assert_memory_equal(out, exp, n);
    mem_free(out);
}

static bool str_is(kp_str_t s, const char *c)
{
    return s.len >= 0 && (size_t)s.len == strlen(c) &&
           memcmp(s.p, c, (size_t)s.len) == 0;
}
#define assert_str(s, c) assert_true(str_is((s), (c)))
static bool str_is_null(kp_str_t s)
{
    return s.len == -1 && s.p == NULL;
}
#define assert_null_str(s) assert_true(str_is_null(s))

/* Encodes with `enc` and flattens; the caller frees *out with mem_free. */
static void encode_flat(kps_enc_fn enc, int v, const void *m, uint8_t **out,
                        size_t *len)
{
    kp_wr_t w;
    kp_wr_init(&w, 0);
    enc(&w, v, m);
    assert_int_equal(w.err, 0);
    assert_int_equal(kp_wr_flatten(&w, out, len), 0);
    kp_wr_fini(&w);
}

/* ================= reader primitives ================= */

static void test_rd_fixed(void **state)
{
    kp_rd_t rd;
    (void)state;

    RD(&rd, 0x80, 0x80, 0x01, 0xff, 0xff, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00,
       0x00, 0x00, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef, 0x02, 0x00);
    assert_int_equal(kp_rd_i8(&rd), -128);
    assert_int_equal(kp_rd_i16(&rd), (int16_t)0x8001);
    assert_int_equal(kp_rd_i32(&rd), -2);
    assert_true(kp_rd_i64(&rd) == (int64_t)0x8000000000000001ull);
    assert_true(kp_rd_u32(&rd) == 0xdeadbeefu);
    assert_true(kp_rd_bool(&rd)); /* any non-zero byte */
    assert_false(kp_rd_bool(&rd));
    assert_int_equal(kp_rd_left(&rd), 0);
    assert_int_equal(rd.err, 0);
}

static void test_rd_uuid_skip(void **state)
{
    kp_rd_t rd;
    uint8_t u[16];
    (void)state;

    RD(&rd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18);
    kp_rd_skip(&rd, 2);
    kp_rd_uuid(&rd, u);
    assert_int_equal(u[0], 3);
    assert_int_equal(u[15], 18);
    assert_int_equal(rd.err, 0);
    kp_rd_uuid(&rd, u); /* nothing left: zeroed, truncated */
    assert_int_equal(u[0], 0);
    assert_int_equal(rd.err, KP_ETRUNC);
}

struct uv_case {
    uint32_t v;
    uint8_t b[5];
    size_t n;
};

static void test_uvarint_edges(void **state)
{
    static const struct uv_case cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {127, {0x7f}, 1},
        {128, {0x80, 0x01}, 2},
        {300, {0xac, 0x02}, 2},
        {16383, {0xff, 0x7f}, 2},
        {16384, {0x80, 0x80, 0x01}, 3},
        {0x0fffffff, {0xff, 0xff, 0xff, 0x7f}, 4},
        {0x10000000, {0x80, 0x80, 0x80, 0x80, 0x01}, 5},
        {UINT32_MAX, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    size_t i;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(cases); i++) {
        kp_wr_t w;
        kp_rd_t rd;
        kp_wr_init(&w, 0);
        kp_wr_uvarint(&w, cases[i].v);
        assert_int_equal(w.len, cases[i].n);
        assert_memory_equal(w.buf, cases[i].b, cases[i].n);
        kp_rd_init(&rd, cases[i].b, cases[i].n);
        assert_true(kp_rd_uvarint(&rd) == cases[i].v);
        assert_int_equal(rd.err, 0);
        assert_int_equal(kp_rd_left(&rd), 0);
        kp_wr_fini(&w);
    }
}

static void test_uvarint_bad(void **state)
{
    kp_rd_t rd;
    (void)state;

    /* A fifth byte above 0x0f would need bit 32. */
    RD(&rd, 0xff, 0xff, 0xff, 0xff, 0x1f);
    assert_int_equal(kp_rd_uvarint(&rd), 0);
    assert_int_equal(rd.err, KP_EINVAL);
    /* A sixth byte is never allowed. */
    RD(&rd, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
    kp_rd_uvarint(&rd);
    assert_int_equal(rd.err, KP_EINVAL);
    /* Continuation with nothing after it: truncated. */
    RD(&rd, 0x80);
    kp_rd_uvarint(&rd);
    assert_int_equal(rd.err, KP_ETRUNC);
    RD(&rd, 0xff, 0xff);
    kp_rd_uvarint(&rd);
    assert_int_equal(rd.err, KP_ETRUNC);
    kp_rd_init(&rd, NULL, 0);
    kp_rd_uvarint(&rd);
    assert_int_equal(rd.err, KP_ETRUNC);
}

static void test_varint_zigzag(void **state)
{
    static const struct {
        int32_t v;
        uint8_t b[5];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {-2, {0x03}, 1},
        {63, {0x7e}, 1},
        {-64, {0x7f}, 1},
        {64, {0x80, 0x01}, 2},
        {INT32_MAX, {0xfe, 0xff, 0xff, 0xff, 0x0f}, 5},
        {INT32_MIN, {0xff, 0xff, 0xff, 0xff, 0x0f}, 5},
    };
    size_t i;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(cases); i++) {
        kp_wr_t w;
        kp_rd_t rd;
        kp_wr_init(&w, 4);
        kp_wr_varint(&w, cases[i].v);
        assert_int_equal(w.len, cases[i].n);
        assert_memory_equal(w.buf, cases[i].b, cases[i].n);
        kp_rd_init(&rd, cases[i].b, cases[i].n);
        assert_int_equal(kp_rd_varint(&rd), cases[i].v);
        assert_int_equal(rd.err, 0);
        kp_wr_fini(&w);
    }
}

static void test_varlong_zigzag(void **state)
{
    static const struct {
        int64_t v;
        uint8_t b[10];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {-1, {0x01}, 1},
        {1, {0x02}, 1},
        {1700000000000, {0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62}, 6},
        {(int64_t)INT32_MAX + 1, {0x80, 0x80, 0x80, 0x80, 0x10}, 5},
        {INT64_MAX,
         {0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
         10},
        {INT64_MIN,
         {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
         10},
    };
    size_t i;
    kp_rd_t rd;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(cases); i++) {
        kp_wr_t w;
        kp_wr_init(&w, 0);
        kp_wr_varlong(&w, cases[i].v);
        assert_int_equal(w.len, cases[i].n);
        assert_memory_equal(w.buf, cases[i].b, cases[i].n);
        kp_rd_init(&rd, cases[i].b, cases[i].n);
        assert_true(kp_rd_varlong(&rd) == cases[i].v);
        assert_int_equal(rd.err, 0);
        kp_wr_fini(&w);
    }
    /* The tenth byte may only carry bit 63. */
    RD(&rd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02);
    kp_rd_varlong(&rd);
    assert_int_equal(rd.err, KP_EINVAL);
    RD(&rd, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00);
    kp_rd_varlong(&rd);
    assert_int_equal(rd.err, KP_EINVAL);
    /* A varint stops at five bytes even if a varlong would go on. */
    RD(&rd, 0x80, 0x80, 0x80, 0x80, 0x10);
    kp_rd_varint(&rd);
    assert_int_equal(rd.err, KP_EINVAL);
}

static void test_strings(void **state)
{
    kp_wr_t w;
    kp_rd_t rd;
    kp_str_t s;
    static const uint8_t exp[] = {
        0x00, 0x03, 'a', 'b', 'c', /* classic "abc" */
        0xff, 0xff,                /* classic null */
        0x00, 0x00,                /* classic "" */
        0x04, 'a',  'b', 'c',      /* compact "abc" */
        0x00,                      /* compact null */
        0x01,                      /* compact "" */
        0x00, 0x02, 'h', 'i',      /* cstr */
        0x00,                      /* compact null via cstr(NULL) */
        0x00, 0x01, 'z',           /* kstr */
    };
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_str(&w, false, "abc", 3);
    kp_wr_str(&w, false, NULL, -1);
    kp_wr_str(&w, false, NULL, 0);
    kp_wr_str(&w, true, "abc", 3);
    kp_wr_str(&w, true, "ignored", -1);
    kp_wr_str(&w, true, "", 0);
    kp_wr_cstr(&w, false, "hi");
    kp_wr_cstr(&w, true, NULL);
    kp_wr_kstr(&w, false, (kp_str_t){"z", 1});
    assert_wr_eq(&w, exp, sizeof(exp));
    kp_wr_fini(&w);

    kp_rd_init(&rd, exp, sizeof(exp));
    assert_str(kp_rd_str(&rd, false), "abc");
    assert_null_str(kp_rd_nstr(&rd, false));
    s = kp_rd_str(&rd, false);
    assert_true(s.len == 0 && s.p != NULL); /* empty is not null */
    assert_str(kp_rd_nstr(&rd, true), "abc");
    assert_null_str(kp_rd_nstr(&rd, true));
    s = kp_rd_nstr(&rd, true);
    assert_true(s.len == 0 && s.p != NULL);
    assert_str(kp_rd_str(&rd, false), "hi");
    assert_null_str(kp_rd_nstr(&rd, true));
    assert_str(kp_rd_str(&rd, false), "z");
    assert_int_equal(rd.err, 0);
    assert_int_equal(kp_rd_left(&rd), 0);
}

static void test_strings_bad(void **state)
{
    kp_rd_t rd;
    kp_str_t s;
    (void)state;

    /* Null where the field is not nullable. */
    RD(&rd, 0xff, 0xff);
    s = kp_rd_str(&rd, false);
    assert_int_equal(rd.err, KP_EINVAL);
    assert_int_equal(s.len, 0);
    RD(&rd, 0x00);
    kp_rd_str(&rd, true);
    assert_int_equal(rd.err, KP_EINVAL);
    /* Negative lengths other than -1. */
    RD(&rd, 0xff, 0xfe);
    kp_rd_nstr(&rd, false);
    assert_int_equal(rd.err, KP_EINVAL);
    /* Longer than what is left: truncated, empty view. */
    RD(&rd, 0x00, 0x05, 'a', 'b');
    s = kp_rd_str(&rd, false);
    assert_int_equal(rd.err, KP_ETRUNC);
    assert_int_equal(s.len, 0);
    /* A compact string longer than Kafka allows. */
    RD(&rd, 0x81, 0x80, 0x02); /* 32769 + 1 */
    kp_rd_str(&rd, true);
    assert_int_equal(rd.err, KP_EINVAL);
}

static void test_bytes(void **state)
{
    kp_wr_t w;
    kp_rd_t rd;
    kp_bytes_t b;
    static const uint8_t exp[] = {
        0x00, 0x00, 0x00, 0x02, 0xaa, 0xbb, /* classic */
        0xff, 0xff, 0xff, 0xff,             /* classic null */
        0x00, 0x00, 0x00, 0x00,             /* classic empty */
        0x03, 0xaa, 0xbb,                   /* compact */
        0x00,                               /* compact null */
        0x01,                               /* compact empty */
    };
    static const uint8_t two[] = {0xaa, 0xbb};
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_bytes(&w, false, two, 2);
    kp_wr_bytes(&w, false, NULL, -1);
    kp_wr_bytes(&w, false, NULL, 0);
    kp_wr_bytes(&w, true, two, 2);
    kp_wr_bytes(&w, true, NULL, -1);
    kp_wr_bytes(&w, true, NULL, 0);
    assert_wr_eq(&w, exp, sizeof(exp));
    kp_wr_fini(&w);

    kp_rd_init(&rd, exp, sizeof(exp));
    b = kp_rd_bytes(&rd, false);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.p, two, 2);
    b = kp_rd_nbytes(&rd, false);
    assert_true(b.len == -1 && b.p == NULL);
    b = kp_rd_bytes(&rd, false);
    assert_true(b.len == 0 && b.p != NULL);
    b = kp_rd_bytes(&rd, true);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.p, two, 2);
    b = kp_rd_nbytes(&rd, true);
    assert_true(b.len == -1 && b.p == NULL);
    b = kp_rd_nbytes(&rd, true);
    assert_true(b.len == 0 && b.p != NULL);
    assert_int_equal(rd.err, 0);

    RD(&rd, 0xff, 0xff, 0xff, 0xff);
    kp_rd_bytes(&rd, false);
    assert_int_equal(rd.err, KP_EINVAL);
    RD(&rd, 0x80, 0x00, 0x00, 0x00);
    kp_rd_nbytes(&rd, false);
    assert_int_equal(rd.err, KP_EINVAL);
    RD(&rd, 0x7f, 0xff, 0xff, 0xff, 0x00);
    kp_rd_nbytes(&rd, false);
    assert_int_equal(rd.err, KP_ETRUNC);
}

static void test_arrays(void **state)
{
    kp_wr_t w;
    kp_rd_t rd;
    static const uint8_t exp[] = {
        0x00, 0x00, 0x00, 0x02, /* classic 2 */
        0xff, 0xff, 0xff, 0xff, /* classic null */
        0x03,                   /* compact 2 */
        0x00,                   /* compact null */
        0x01,                   /* compact empty */
        0x00, 0x00, 0x00, 0x00, /* classic empty */
    };
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_array(&w, false, 2);
    kp_wr_array(&w, false, -1);
    kp_wr_array(&w, true, 2);
    kp_wr_array(&w, true, -1);
    kp_wr_array(&w, true, 0);
    kp_wr_array(&w, false, 0);
    assert_wr_eq(&w, exp, sizeof(exp));
    kp_wr_fini(&w);

    kp_rd_init(&rd, exp, sizeof(exp));
    assert_int_equal(kp_rd_array(&rd, false, false, 1), 2);
    assert_int_equal(kp_rd_array(&rd, false, true, 1), -1);
    assert_int_equal(kp_rd_array(&rd, true, false, 1), 2);
    assert_int_equal(kp_rd_array(&rd, true, true, 1), -1);
    assert_int_equal(kp_rd_array(&rd, true, false, 1), 0);
    assert_int_equal(kp_rd_array(&rd, false, false, 1), 0);
    assert_int_equal(rd.err, 0);

    /* Null where the array is not nullable. */
    RD(&rd, 0xff, 0xff, 0xff, 0xff);
    assert_int_equal(kp_rd_array(&rd, false, false, 1), 0);
    assert_int_equal(rd.err, KP_EINVAL);
    RD(&rd, 0x00);
    assert_int_equal(kp_rd_array(&rd, true, false, 1), 0);
    assert_int_equal(rd.err, KP_EINVAL);
    RD(&rd, 0xff, 0xff, 0xff, 0xfe);
    assert_int_equal(kp_rd_array(&rd, false, true, 1), 0);
    assert_int_equal(rd.err, KP_EINVAL);
}

static void test_array_refusal(void **state)
{
    kp_rd_t rd;
    (void)state;

    /* 2 elements of at least 4 bytes need 8: exactly 8 left is fine... */
    RD(&rd, 0x00, 0x00, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7, 8);
    assert_int_equal(kp_rd_array(&rd, false, false, 4), 2);
    assert_int_equal(rd.err, 0);
    /* ...7 is not. */
    RD(&rd, 0x00, 0x00, 0x00, 0x02, 1, 2, 3, 4, 5, 6, 7);
    assert_int_equal(kp_rd_array(&rd, false, false, 4), 0);
    assert_int_equal(rd.err, KP_ETRUNC);
    assert_int_equal(kp_rd_left(&rd), 0);
    /* A huge count is refused without overflow. */
    RD(&rd, 0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0);
    assert_int_equal(kp_rd_array(&rd, false, false, 6), 0);
    assert_int_equal(rd.err, KP_ETRUNC);
    RD(&rd, 0xff, 0xff, 0xff, 0xff, 0x0f);
    assert_int_equal(kp_rd_array(&rd, true, false, 1), 0);
    assert_true(rd.err != 0);
    /* The largest compact count that fits in int32 is still refused
     * against a short buffer. */
    RD(&rd, 0x80, 0x80, 0x80, 0x80, 0x08, 0x00);
    assert_int_equal(kp_rd_array(&rd, true, false, 1), 0);
    assert_int_equal(rd.err, KP_ETRUNC);
}

static void test_sticky_error(void **state)
{
    kp_rd_t rd;
    kp_str_t s;
    kp_bytes_t b;
    (void)state;

    RD(&rd, 0x00, 0x01, 0x02);
    assert_int_equal(kp_rd_i16(&rd), 1);
    assert_int_equal(kp_rd_i32(&rd), 0); /* short: parks at the end */
    assert_int_equal(rd.err, KP_ETRUNC);
    assert_int_equal(kp_rd_left(&rd), 0);
    /* Everything after returns zero or empty, the first error stays. */
    assert_int_equal(kp_rd_i8(&rd), 0);
    kp_rd_fail(&rd, KP_EINVAL);
    assert_int_equal(rd.err, KP_ETRUNC);
    s = kp_rd_str(&rd, false);
    assert_int_equal(s.len, 0);
    b = kp_rd_nbytes(&rd, true);
    assert_int_equal(b.len, 0);
    assert_int_equal(kp_rd_array(&rd, false, true, 1), 0);
    assert_int_equal(kp_rd_uvarint(&rd), 0);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_ETRUNC);

    /* An invalid value also parks the cursor, even with bytes left. */
    RD(&rd, 0xff, 0xfe, 0x00, 0x01, 0x02, 0x03);
    kp_rd_nstr(&rd, false);
    assert_int_equal(rd.err, KP_EINVAL);
    assert_int_equal(kp_rd_left(&rd), 0);
    assert_int_equal(kp_rd_i32(&rd), 0);
    assert_int_equal(rd.err, KP_EINVAL);
}

/* ================= tagged fields ================= */

static void test_tags_skip(void **state)
{
    kp_rd_t rd;
    (void)state;

    RD(&rd, 0x03,                 /* three fields */
       0x00, 0x02, 0xaa, 0xbb,    /* tag 0, 2 bytes */
       0x05, 0x00,                /* tag 5, empty */
       0xe8, 0x07, 0x03, 1, 2, 3, /* tag 1000 (unknown), 3 bytes */
       0x7f);                     /* the next field */
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, 0);
    assert_int_equal(kp_rd_i8(&rd), 0x7f);
    assert_int_equal(kp_rd_left(&rd), 0);

    /* Not flexible: nothing is read. */
    RD(&rd, 0x01);
    kp_rd_tags(&rd, false);
    assert_int_equal(kp_rd_left(&rd), 1);

    /* Empty section. */
    RD(&rd, 0x00);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, 0);
    assert_int_equal(kp_rd_left(&rd), 0);
}

static void test_tags_bad(void **state)
{
    kp_rd_t rd;
    (void)state;

    /* A field whose length runs past the end. */
    RD(&rd, 0x01, 0x00, 0x05, 0xaa, 0xbb);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_ETRUNC);
    assert_int_equal(kp_rd_left(&rd), 0);
    /* A count the bytes left cannot hold. */
    RD(&rd, 0x7f, 0x00, 0x00);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_ETRUNC);
    /* The second field's size is cut off. */
    RD(&rd, 0x02, 0x00, 0x00, 0x01);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_ETRUNC);
    /* An overlong tag number. */
    RD(&rd, 0x01, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x00);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_EINVAL);
    /* A huge size varint. */
    RD(&rd, 0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x0f);
    kp_rd_tags(&rd, true);
    assert_int_equal(rd.err, KP_ETRUNC);
}

/* Tagged fields inside a message: an ApiVersions v3 request whose body
 * and header carry fields the codec does not know are still decoded. */
static void test_tags_in_message(void **state)
{
    static const uint8_t body[] = {
        0x04, 'a',  'b',  'c',  /* ClientSoftwareName */
        0x02, '1',              /* ClientSoftwareVersion */
        0x02,                   /* 2 tagged fields */
        0x00, 0x01, 0x99,       /* tag 0 */
        0x0a, 0x02, 0x01, 0x02, /* tag 10 */
    };
    static const uint8_t overrun[] = {
        0x04, 'a', 'b', 'c', 0x02, '1', 0x01, 0x00, 0x09, 0x99,
    };
    kp_ApiVersionsRequest_t m;
    kp_rd_t rd;
    uint8_t *b = dup_exact(body, sizeof(body));
    (void)state;

    kp_rd_init(&rd, b, sizeof(body));
    assert_int_equal(kp_ApiVersionsRequest_decode(&rd, 3, NULL, &m), 0);
    assert_str(m.ClientSoftwareName, "abc");
    assert_str(m.ClientSoftwareVersion, "1");
    assert_int_equal(kp_rd_left(&rd), 0);
    free(b);

    b = dup_exact(overrun, sizeof(overrun));
    kp_rd_init(&rd, b, sizeof(overrun));
    assert_int_equal(kp_ApiVersionsRequest_decode(&rd, 3, NULL, &m), KP_ETRUNC);
    free(b);
}

/* ================= headers ================= */

static void test_req_hdr(void **state)
{
    kp_req_hdr_t h = {KP_API_Metadata, 7, 0x01020304, {"cli", 3}, 1}, d;
    static const uint8_t v1[] = {0x00, 0x03, 0x00, 0x07, 0x01, 0x02, 0x03,
                                 0x04, 0x00, 0x03, 'c',  'l',  'i'};
    static const uint8_t v2_null[] = {0x00, 0x12, 0x00, 0x03, 0x00, 0x00,
                                      0x00, 0x09, 0xff, 0xff, 0x00};
    kp_wr_t w;
    kp_rd_t rd;
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_req_hdr(&w, false, &h);
    assert_wr_eq(&w, v1, sizeof(v1));
    kp_rd_init(&rd, w.buf, w.len);
    kp_rd_req_hdr(&rd, false, &d);
    assert_int_equal(rd.err, 0);
    assert_int_equal(d.ApiKey, KP_API_Metadata);
    assert_int_equal(d.ApiVersion, 7);
    assert_int_equal(d.CorrelationId, 0x01020304);
    assert_str(d.ClientId, "cli");
    assert_int_equal(d.hdr_version, 1);

    /* v2: the client id stays classic, then a tagged-fields section. */
    kp_wr_reset(&w);
    h = (kp_req_hdr_t){KP_API_ApiVersions, 3, 9, {NULL, -1}, 2};
    kp_wr_req_hdr(&w, true, &h);
    assert_wr_eq(&w, v2_null, sizeof(v2_null));
    kp_rd_init(&rd, w.buf, w.len);
    kp_rd_req_hdr(&rd, true, &d);
    assert_int_equal(rd.err, 0);
    assert_null_str(d.ClientId);
    assert_int_equal(d.hdr_version, 2);
    assert_int_equal(kp_rd_left(&rd), 0);
    kp_wr_fini(&w);

    /* Header v2 with a tagged field the broker does not know. */
    RD(&rd, 0x00, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x01,
       0x03, 0x01, 0xee, 0x42);
    kp_rd_req_hdr(&rd, true, &d);
    assert_int_equal(rd.err, 0);
    assert_int_equal(d.ClientId.len, 0);
    assert_int_equal(kp_rd_i8(&rd), 0x42);
}

static void test_resp_hdr(void **state)
{
    kp_wr_t w;
    kp_rd_t rd;
    static const uint8_t v0[] = {0x00, 0x00, 0x00, 0x2a};
    static const uint8_t v1[] = {0x00, 0x00, 0x00, 0x2a, 0x00};
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_resp_hdr(&w, false, 42);
    assert_wr_eq(&w, v0, sizeof(v0));
    kp_wr_reset(&w);
    kp_wr_resp_hdr(&w, true, 42);
    assert_wr_eq(&w, v1, sizeof(v1));
    kp_rd_init(&rd, w.buf, w.len);
    assert_int_equal(kp_rd_resp_hdr(&rd, true), 42);
    assert_int_equal(kp_rd_left(&rd), 0);
    kp_rd_init(&rd, v0, sizeof(v0));
    assert_int_equal(kp_rd_resp_hdr(&rd, false), 42);
    assert_int_equal(rd.err, 0);
    kp_wr_fini(&w);
}

/* ================= writer ================= */

struct counted {
    mem_ref_t ref;
    int released;
};

static void count_release(mem_ref_t *r)
{
    ((struct counted *)r)->released++;
}

static int make_temp_file(const void *p, size_t n)
{
    char path[] = "/tmp/strata-test-kp-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, p, n), (ssize_t)n);
    return fd;
}

static void test_wr_ext_splice(void **state)
{
    static const char file_data[] = "0123456789ABCDEF";
    static const uint8_t mem_data[] = {0xa0, 0xa1, 0xa2};
    struct counted cm, cf;
    kp_wr_t w;
    kp_mark_t outer, inner;
    kp_seg_t seg[8];
    int fd, n;
    static const uint8_t exp[] = {
        0x00, 0x00, 0x00, 0x13, /* outer: 19 logical bytes follow */
        0x11,                   /* own byte */
        0x00, 0x00, 0x00, 0x0b, /* inner: 11 follow (3 mem + 1 + 6 file + 1) */
        0xa0, 0xa1, 0xa2,       /* memory segment */
        0x22,                   /* own byte between segments */
        '4',  '5',  '6',  '7',  '8', '9', /* file range */
        0x33,                             /* own byte after */
        0x44, 0x55, 0x66,                 /* after the inner length */
    };
    (void)state;

    fd = make_temp_file(file_data, 16);
    mem_ref_init(&cm.ref, count_release);
    cm.released = 0;
    mem_ref_init(&cf.ref, count_release);
    cf.released = 0;

    kp_wr_init(&w, 2); /* tiny, so the buffer moves while we write */
    outer = kp_wr_reserve_i32(&w);
    kp_wr_i8(&w, 0x11);
    inner = kp_wr_reserve_i32(&w);
    kp_wr_ext_mem(&w, mem_data, 3, &cm.ref);
    kp_wr_i8(&w, 0x22);
    kp_wr_ext_file(&w, fd, 4, 6, &cf.ref);
    kp_wr_i8(&w, 0x33);
    kp_wr_fill_len(&w, inner);
    kp_wr_raw(&w, "\x44\x55\x66", 3);
    kp_wr_fill_len(&w, outer);
    kp_wr_ext_mem(&w, mem_data, 0, &cm.ref); /* empty: not recorded */

    assert_int_equal(w.next, 2);
    assert_int_equal(w.ext_bytes, 9);
    assert_int_equal(kp_wr_size(&w), sizeof(exp));
    assert_int_equal(atomic_load(&cm.ref.refs), 2);
    assert_int_equal(atomic_load(&cf.ref.refs), 2);

    n = kp_wr_segments(&w, NULL, 0);
    assert_int_equal(n, 5);
    assert_int_equal(kp_wr_segments(&w, seg, 8), 5);
    assert_true(seg[0].ptr == w.buf && seg[0].len == 9);
    assert_true(seg[1].ptr == mem_data && seg[1].len == 3);
    assert_true(seg[2].ptr == w.buf + 9 && seg[2].len == 1);
    assert_true(seg[3].ptr == NULL && seg[3].fd == fd && seg[3].off == 4 &&
                seg[3].len == 6);
    assert_true(seg[4].ptr == w.buf + 10 && seg[4].len == 4);
    assert_wr_eq(&w, exp, sizeof(exp));

    /* Dropping our own references leaves the writer's. */
    mem_unref(&cm.ref);
    mem_unref(&cf.ref);
    assert_int_equal(cm.released + cf.released, 0);
    kp_wr_fini(&w);
    assert_int_equal(cm.released, 1);
    assert_int_equal(cf.released, 1);
    close(fd);
}

static void test_wr_segments_adjacent(void **state)
{
    kp_wr_t w;
    kp_seg_t seg[4];
    static const uint8_t a[] = {1, 2}, b[] = {3};
    static const uint8_t exp[] = {1, 2, 3};
    (void)state;

    /* Segments back to back with no own bytes at all. */
    kp_wr_init(&w, 0);
    kp_wr_ext_mem(&w, a, 2, NULL);
    kp_wr_ext_mem(&w, b, 1, NULL);
    assert_int_equal(kp_wr_segments(&w, seg, 4), 2);
    assert_wr_eq(&w, exp, sizeof(exp));
    /* Only one slot: the count is still the whole output's. */
    assert_int_equal(kp_wr_segments(&w, seg, 1), 2);
    kp_wr_fini(&w);
}

static void test_wr_reset_refs(void **state)
{
    struct counted c;
    kp_wr_t w;
    static const uint8_t d[] = {9, 9};
    (void)state;

    mem_ref_init(&c.ref, count_release);
    c.released = 0;
    kp_wr_init(&w, 0);
    kp_wr_ext_mem(&w, d, 2, &c.ref);
    kp_wr_ext_mem(&w, d, 1, &c.ref);
    assert_int_equal(atomic_load(&c.ref.refs), 3);
    kp_wr_reset(&w);
    assert_int_equal(atomic_load(&c.ref.refs), 1);
    assert_int_equal(kp_wr_size(&w), 0);
    kp_wr_i8(&w, 1);
    kp_wr_ext_mem(&w, d, 2, &c.ref);
    mem_unref(&c.ref);
    assert_int_equal(c.released, 0);
    kp_wr_fini(&w);
    assert_int_equal(c.released, 1);
}

static void test_wr_sticky_enomem(void **state)
{
    struct counted c;
    kp_wr_t w;
    uint8_t *out;
    size_t len;
    (void)state;

    mem_ref_init(&c.ref, count_release);
    c.released = 0;
    kp_wr_init(&w, 0);
    kp_wr_i32(&w, 1);
    w.err = KP_ENOMEM; /* as if an allocation had failed */
    kp_wr_i32(&w, 2);
    kp_wr_str(&w, false, "abc", 3);
    kp_wr_ext_mem(&w, "xy", 2, &c.ref); /* takes no reference */
    assert_int_equal(w.len, 4);
    assert_int_equal(w.next, 0);
    assert_int_equal(atomic_load(&c.ref.refs), 1);
    assert_int_equal(kp_wr_flatten(&w, &out, &len), KP_ENOMEM);
    assert_null(out);
    kp_wr_reset(&w); /* reset clears the error */
    kp_wr_i8(&w, 5);
    assert_int_equal(w.err, 0);
    assert_int_equal(w.len, 1);
    kp_wr_fini(&w);
    mem_unref(&c.ref);
    assert_int_equal(c.released, 1);
}

static void test_wr_flatten_short_file(void **state)
{
    kp_wr_t w;
    uint8_t *out;
    size_t len;
    int fd = make_temp_file("abc", 3);
    (void)state;

    kp_wr_init(&w, 0);
    kp_wr_ext_file(&w, fd, 1, 10, NULL); /* 8 bytes past the end */
    assert_int_equal(kp_wr_flatten(&w, &out, &len), -EIO);
    assert_null(out);
    kp_wr_fini(&w);
    close(fd);
}

static void test_wr_bytes_hdr_fill(void **state)
{
    kp_wr_t w;
    kp_mark_t m;
    static const uint8_t data[5] = {1, 2, 3, 4, 5};
    static const uint8_t exp[] = {0x00, 0x00, 0x00, 0x0a, 0x06, 1,    2,
                                  3,    4,    5,    0x00, 0x00, 0x00, 0x00};
    (void)state;

    /* A compact bytes header before a spliced segment, inside a length. */
    kp_wr_init(&w, 0);
    m = kp_wr_reserve_i32(&w);
    kp_wr_bytes_hdr(&w, true, 5);
    kp_wr_ext_mem(&w, data, 5, NULL);
    kp_wr_i32(&w, 0);
    kp_wr_fill_len(&w, m);
    assert_wr_eq(&w, exp, sizeof(exp));
    kp_wr_fini(&w);
}

/* ================= API tables ================= */

static void test_api_tables(void **state)
{
    (void)state;
    assert_string_equal(kp_api_name(KP_API_Produce), "Produce");
    assert_string_equal(kp_api_name(KP_API_ApiVersions), "ApiVersions");
    assert_string_equal(kp_api_name(KP_API_DescribeCluster), "DescribeCluster");
    assert_null(kp_api_name(-1));
    assert_null(kp_api_name(10000));

    assert_int_equal(kp_api_flex_min(KP_API_Produce), 9);
    assert_int_equal(kp_api_flex_min(KP_API_Fetch), 12);
    assert_int_equal(kp_api_flex_min(KP_API_ListOffsets), 6);
    assert_int_equal(kp_api_flex_min(KP_API_Metadata), 9);
    assert_int_equal(kp_api_flex_min(KP_API_ApiVersions), 3);
    assert_int_equal(kp_api_flex_min(KP_API_CreateTopics), 5);
    assert_int_equal(kp_api_flex_min(KP_API_DeleteTopics), 4);
    assert_int_equal(kp_api_flex_min(KP_API_OffsetCommit), 8);
    assert_int_equal(kp_api_flex_min(KP_API_JoinGroup), 6);
    assert_int_equal(kp_api_flex_min(KP_API_IncrementalAlterConfigs), 1);
    assert_int_equal(kp_api_flex_min(17), -1); /* SaslHandshake: never */
    assert_int_equal(kp_api_flex_min(KP_API_OffsetDelete), -1);
    assert_int_equal(kp_api_flex_min(KP_API_DescribeCluster), 0);
    assert_int_equal(kp_api_flex_min(-3), -1);
    assert_int_equal(kp_api_flex_min(4000), -1);
    assert_false(kp_api_is_flex(KP_API_ApiVersions, 2));
    assert_true(kp_api_is_flex(KP_API_ApiVersions, 3));
    assert_false(kp_api_is_flex(17, 1));

    assert_string_equal(kp_err_name(KP_ERR_NONE), "NONE");
    assert_string_equal(kp_err_name(KP_ERR_UNKNOWN_SERVER_ERROR),
                        "UNKNOWN_SERVER_ERROR");
    assert_string_equal(kp_err_name(KP_ERR_CORRUPT_MESSAGE), "CORRUPT_MESSAGE");
    assert_string_equal(kp_err_name(KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER),
                        "OUT_OF_ORDER_SEQUENCE_NUMBER");
    assert_string_equal(kp_err_name(KP_ERR_TOPIC_DELETION_DISABLED),
                        "TOPIC_DELETION_DISABLED");
    assert_string_equal(kp_err_name(KP_ERR_MEMBER_ID_REQUIRED),
                        "MEMBER_ID_REQUIRED");
    assert_string_equal(kp_err_name(KP_ERR_KAFKA_STORAGE_ERROR),
                        "KAFKA_STORAGE_ERROR");
    assert_string_equal(kp_err_name(-2), "?");
    assert_string_equal(kp_err_name(30000), "?");
}

/* Every key named in kp_msg.h has a name, and so has every key 0..87 of
 * the schemas (the flexible-version table covers them all). */
static void test_api_keys_named(void **state)
{
    static const int keys[] = {
        KP_API_Produce,         KP_API_Fetch,
        KP_API_ListOffsets,     KP_API_Metadata,
        KP_API_OffsetCommit,    KP_API_OffsetFetch,
        KP_API_FindCoordinator, KP_API_JoinGroup,
        KP_API_Heartbeat,       KP_API_LeaveGroup,
        KP_API_SyncGroup,       KP_API_DescribeGroups,
        KP_API_ListGroups,      KP_API_ApiVersions,
        KP_API_CreateTopics,    KP_API_DeleteTopics,
        KP_API_DeleteRecords,   KP_API_InitProducerId,
        KP_API_DescribeConfigs, KP_API_AlterConfigs,
        KP_API_DescribeLogDirs, KP_API_CreatePartitions,
        KP_API_DeleteGroups,    KP_API_IncrementalAlterConfigs,
        KP_API_OffsetDelete,    KP_API_DescribeCluster,
    };
    size_t i;
    int k;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(keys); i++)
        assert_non_null(kp_api_name(keys[i]));
    /* Every key 0..87 of the schemas is in the table. */
    for (k = 0; k <= 87; k++)
        assert_non_null(kp_api_name(k));
}

/* ================= every API, every version ================= */

/* encode(sample) → decode → encode: byte-identical, all bytes consumed,
 * and trailing bytes after the message are left unread. */
static void roundtrip_one(const kps_api_t *api, int v, bool req)
{
    kps_any_t m, d;
    mem_pool_t *pool = mem_pool_new(0, 0);
    uint8_t *b1, *b2, *copy;
    size_t n1, n2;
    kp_rd_t rd;
    int rc;
    kps_enc_fn enc = req ? api->req_enc : api->resp_enc;
    kps_dec_fn dec = req ? api->req_dec : api->resp_dec;

    memset(&m, 0, sizeof(m));
    (req ? api->req_sample : api->resp_sample)(v, &m);
    encode_flat(enc, v, &m, &b1, &n1);

    copy = dup_exact(b1, n1);
    kp_rd_init(&rd, copy, n1);
    rc = dec(&rd, v, pool, &d);
    if (rc)
        fail_msg("%s %s v%d: decode failed %d", api->name,
                 req ? "request" : "response", v, rc);
    assert_int_equal(kp_rd_left(&rd), 0);
    encode_flat(enc, v, &d, &b2, &n2);
    if (n1 != n2 || memcmp(b1, b2, n1) != 0)
        fail_msg("%s %s v%d: re-encoding differs (%zu vs %zu bytes)", api->name,
                 req ? "request" : "response", v, n1, n2);
    free(copy);
    mem_free(b2);

    /* The same bytes followed by garbage: same result, garbage left. */
    copy = malloc(n1 + 3);
    assert_non_null(copy);
    memcpy(copy, b1, n1);
    memcpy(copy + n1, "\xff\x00\x7f", 3);
    kp_rd_init(&rd, copy, n1 + 3);
    assert_int_equal(dec(&rd, v, pool, &d), 0);
    assert_int_equal(kp_rd_left(&rd), 3);
    encode_flat(enc, v, &d, &b2, &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(b1, b2, n1);
    free(copy);
    mem_free(b2);
    mem_free(b1);
    mem_pool_free(pool);
}

static void test_roundtrip_all(void **state)
{
    int i, v, count = 0;
    (void)state;

    for (i = 0; i < KPS_N_APIS; i++) {
        for (v = kps_apis[i].min; v <= kps_apis[i].max; v++) {
            roundtrip_one(&kps_apis[i], v, true);
            roundtrip_one(&kps_apis[i], v, false);
            count++;
        }
    }
    /* 4 + 8 + 8 + 8 + 4 + 5 + 4 versions, then the group and producer
     * APIs: 3 + 6 + 4 + 4 + 4 + 8 + 6 + 3 + 5 + 2 + 1 + 2 */
    assert_int_equal(count, 41 + 48);
}

/* Versions outside the supported ranges are refused by every decoder. */
static void test_versions_refused(void **state)
{
    static const uint8_t zeros[64];
    int i, k;
    (void)state;

    for (i = 0; i < KPS_N_APIS; i++) {
        const kps_api_t *api = &kps_apis[i];
        const int bad[] = {api->min - 1, api->max + 1, -1, 32767};
        for (k = 0; k < 4; k++) {
            kps_any_t d;
            kp_rd_t rd;
            mem_pool_t *pool = mem_pool_new(0, 0);
            if (bad[k] >= api->min && bad[k] <= api->max)
                continue;
            kp_rd_init(&rd, zeros, sizeof(zeros));
            assert_int_equal(api->req_dec(&rd, bad[k], pool, &d), KP_EINVAL);
            assert_int_equal(rd.err, KP_EINVAL);
            kp_rd_init(&rd, zeros, sizeof(zeros));
            assert_int_equal(api->resp_dec(&rd, bad[k], pool, &d), KP_EINVAL);
            mem_pool_free(pool);
        }
    }
}

/* Decodes every strict prefix of buf and expects an error each time. */
static void sweep(kps_dec_fn dec, int v, const uint8_t *buf, size_t n,
                  const char *what)
{
    size_t cut;

    for (cut = 0; cut < n; cut++) {
        uint8_t *p = dup_exact(buf, cut);
        mem_pool_t *pool = mem_pool_new(0, 0);
        kps_any_t d;
        kp_rd_t rd;
        int rc;

        kp_rd_init(&rd, p, cut);
        rc = dec(&rd, v, pool, &d);
        if (rc == 0)
            fail_msg("%s v%d: prefix of %zu/%zu bytes decoded", what, v, cut,
                     n);
        assert_true(rc == KP_ETRUNC || rc == KP_EINVAL);
        assert_int_equal(rc, rd.err);
        mem_pool_free(pool);
        free(p);
    }
}

static void test_truncation_encoded(void **state)
{
    int i, v;
    (void)state;

    for (i = 0; i < KPS_N_APIS; i++) {
        const kps_api_t *api = &kps_apis[i];
        for (v = api->min; v <= api->max; v++) {
            kps_any_t m;
            uint8_t *b;
            size_t n;
            char what[64];

            memset(&m, 0, sizeof(m));
            api->req_sample(v, &m);
            encode_flat(api->req_enc, v, &m, &b, &n);
            snprintf(what, sizeof(what), "%s request", api->name);
            sweep(api->req_dec, v, b, n, what);
            mem_free(b);

            memset(&m, 0, sizeof(m));
            api->resp_sample(v, &m);
            encode_flat(api->resp_enc, v, &m, &b, &n);
            snprintf(what, sizeof(what), "%s response", api->name);
            sweep(api->resp_dec, v, b, n, what);
            mem_free(b);
        }
    }
}

/* Decodes a golden request frame: size, header, then the body with the
 * API's decoder. Returns the decoder's result; *rd is left after it. */
static int decode_frame(const uint8_t *frame, size_t n, mem_pool_t *pool,
                        kp_req_hdr_t *h, void *out, kp_rd_t *rd)
{
    const kps_api_t *api;
    int32_t size;
    bool flex;

    kp_rd_init(rd, frame, n);
    size = kp_rd_i32(rd);
    if (rd->err)
        return rd->err;
    if (size < 4 || (size_t)size != kp_rd_left(rd))
        return KP_EINVAL;
    /* Peek key and version to choose the header version. */
    flex = kp_api_is_flex(st_be16(rd->p), (int16_t)st_be16(rd->p + 2));
    kp_rd_req_hdr(rd, flex, h);
    if (rd->err)
        return rd->err;
    api = kps_api(h->ApiKey);
    if (!api)
        return KP_EINVAL;
    return api->req_dec(rd, h->ApiVersion, pool, out);
}

/* Every golden frame: sizes are consistent, the whole frame decodes, and
 * every strict prefix of its body fails. */
static void test_golden_frames_sweep(void **state)
{
    size_t i;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(kpg_req_frames); i++) {
        const kpg_frame_t *f = &kpg_req_frames[i];
        uint8_t *p = dup_exact(f->p, f->len);
        mem_pool_t *pool = mem_pool_new(0, 0);
        kp_req_hdr_t h;
        kps_any_t d;
        kp_rd_t rd;
        const kps_api_t *api;
        size_t body_at;

        assert_int_equal(st_be32(f->p), f->len - 4);
        if (decode_frame(p, f->len, pool, &h, &d, &rd) != 0)
            fail_msg("%s: does not decode (%d)", f->name, rd.err);
        if (kp_rd_left(&rd) != 0)
            fail_msg("%s: %zu bytes left over", f->name, kp_rd_left(&rd));
        api = kps_api(h.ApiKey);
        assert_non_null(api);

        /* Re-read the header to find where the body starts. */
        kp_rd_init(&rd, p + 4, f->len - 4);
        kp_rd_req_hdr(&rd, kp_api_is_flex(h.ApiKey, h.ApiVersion), &h);
        body_at = f->len - kp_rd_left(&rd);
        sweep(api->req_dec, h.ApiVersion, p + body_at, f->len - body_at,
              f->name);
        /* The body followed by garbage decodes the same and leaves it. */
        {
            size_t n = f->len - body_at;
            uint8_t *q = malloc(n + 2);
            assert_non_null(q);
            memcpy(q, p + body_at, n);
            q[n] = 0xab;
            q[n + 1] = 0xcd;
            kp_rd_init(&rd, q, n + 2);
            assert_int_equal(api->req_dec(&rd, h.ApiVersion, pool, &d), 0);
            assert_int_equal(kp_rd_left(&rd), 2);
            free(q);
        }
        /* And the whole frame cut anywhere fails in the header or body. */
        {
            size_t cut;
            for (cut = 0; cut < f->len; cut++) {
                uint8_t *q = dup_exact(f->p, cut);
                mem_pool_t *pl = mem_pool_new(0, 0);
                kp_rd_t r2;
                kp_req_hdr_t h2;
                kps_any_t d2;
                assert_int_not_equal(decode_frame(q, cut, pl, &h2, &d2, &r2),
                                     0);
                mem_pool_free(pl);
                free(q);
            }
        }
        mem_pool_free(pool);
        free(p);
    }
}

/* ================= golden requests, decoded ================= */

struct golden {
    mem_pool_t *pool;
    uint8_t *copy;
    kp_req_hdr_t h;
    kp_rd_t rd;
};

static void golden_decode(struct golden *g, const uint8_t *frame, size_t n,
                          void *out)
{
    g->pool = mem_pool_new(0, 0);
    g->copy = dup_exact(frame, n);
    assert_int_equal(decode_frame(g->copy, n, g->pool, &g->h, out, &g->rd), 0);
    assert_int_equal(kp_rd_left(&g->rd), 0);
}

static void golden_done(struct golden *g)
{
    mem_pool_free(g->pool);
    free(g->copy);
}

static void test_golden_apiversions(void **state)
{
    struct golden g;
    kp_ApiVersionsRequest_t m;
    (void)state;

    golden_decode(&g, kpg_apiversions_v3_req, sizeof(kpg_apiversions_v3_req),
                  &m);
    assert_int_equal(g.h.ApiKey, KP_API_ApiVersions);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_int_equal(g.h.CorrelationId, 1);
    assert_int_equal(g.h.hdr_version, 2);
    assert_str(g.h.ClientId, "rdkafka");
    assert_str(m.ClientSoftwareName, "librdkafka");
    assert_str(m.ClientSoftwareVersion, "2.3.0");
    golden_done(&g);

    golden_decode(&g, kpg_apiversions_v0_req, sizeof(kpg_apiversions_v0_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 0);
    assert_int_equal(g.h.hdr_version, 1);
    assert_str(g.h.ClientId, "cli");
    assert_int_equal(m.ClientSoftwareName.len, 0); /* default "" */
    golden_done(&g);
}

static void test_golden_metadata(void **state)
{
    struct golden g;
    kp_MetadataRequest_t m;
    (void)state;

    golden_decode(&g, kpg_metadata_v1_req, sizeof(kpg_metadata_v1_req), &m);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_int_equal(m.n_Topics, -1); /* null: all topics */
    assert_null(m.Topics);
    assert_true(m.AllowAutoTopicCreation); /* v4+ field: default */
    golden_done(&g);

    golden_decode(&g, kpg_metadata_v0_req, sizeof(kpg_metadata_v0_req), &m);
    assert_null_str(g.h.ClientId);
    assert_int_equal(m.n_Topics, 0); /* v0: empty means all */
    golden_done(&g);

    golden_decode(&g, kpg_metadata_v4_req, sizeof(kpg_metadata_v4_req), &m);
    assert_int_equal(m.n_Topics, 2);
    assert_str(m.Topics[0], "test");
    assert_str(m.Topics[1], "other");
    assert_false(m.AllowAutoTopicCreation);
    golden_done(&g);
}

/* Standard CRC-32C, bit by bit: independent of simd/ on purpose. */
static uint32_t crc32c_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    }
    return ~c;
}

static void test_golden_batch_crc(void **state)
{
    (void)state;
    assert_true(crc32c_ref((const uint8_t *)"123456789", 9) == 0xe3069283u);
    /* batchLength counts everything after itself. */
    assert_int_equal(st_be32(kpg_batch_hello + 8),
                     sizeof(kpg_batch_hello) - 12);
    assert_int_equal(kpg_batch_hello[16], 2); /* magic */
    assert_true(st_be32(kpg_batch_hello + 17) ==
                crc32c_ref(kpg_batch_hello + 21, sizeof(kpg_batch_hello) - 21));
}

/* Standard CRC-32 (IEEE, reflected 0xedb88320, zlib's), bit by bit: the
 * checksum of legacy messages (magic 0 and 1). */
static uint32_t crc32_ieee_ref(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    size_t i;
    int k;
    for (i = 0; i < n; i++) {
        c ^= p[i];
        for (k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

/* A one-message legacy set: offset, messageSize, crc, magic. */
static void check_msgset(const uint8_t *p, size_t n, int magic)
{
    assert_true(n > 17);
    assert_true(st_be64(p) == 0);             /* producer's offset */
    assert_int_equal(st_be32(p + 8), n - 12); /* messageSize */
    assert_int_equal(p[16], magic);           /* magic */
    assert_true(st_be32(p + 12) == crc32_ieee_ref(p + 16, n - 16));
}

static void test_golden_msgset_crc(void **state)
{
    (void)state;
    assert_true(crc32_ieee_ref((const uint8_t *)"123456789", 9) == 0xcbf43926u);
    check_msgset(kpg_msgset_v0_hello, sizeof(kpg_msgset_v0_hello), 0);
    check_msgset(kpg_msgset_v1_key_hello, sizeof(kpg_msgset_v1_key_hello), 1);
    /* Field positions the comments claim: key length, and for magic 1 the
     * timestamp before it. */
    assert_int_equal((int32_t)st_be32(kpg_msgset_v0_hello + 18), -1);
    assert_int_equal(st_be32(kpg_msgset_v0_hello + 22), 5);
    assert_true(st_be64(kpg_msgset_v1_key_hello + 18) == 1700000000000ull);
    assert_int_equal(st_be32(kpg_msgset_v1_key_hello + 26), 3);
    assert_int_equal(st_be32(kpg_msgset_v1_key_hello + 33), 5);
}

static void test_golden_produce(void **state)
{
    struct golden g;
    kp_ProduceRequest_t m;
    const kp_records_t *r;
    (void)state;

    golden_decode(&g, kpg_produce_v7_req, sizeof(kpg_produce_v7_req), &m);
    assert_int_equal(g.h.ApiKey, KP_API_Produce);
    assert_int_equal(g.h.ApiVersion, 7);
    assert_int_equal(g.h.CorrelationId, 5);
    assert_null_str(m.TransactionalId);
    assert_int_equal(m.Acks, -1);
    assert_int_equal(m.TimeoutMs, 30000);
    assert_int_equal(m.n_TopicData, 1);
    assert_str(m.TopicData[0].Name, "test");
    assert_int_equal(m.TopicData[0].n_PartitionData, 1);
    assert_int_equal(m.TopicData[0].PartitionData[0].Index, 0);
    r = &m.TopicData[0].PartitionData[0].Records;
    assert_int_equal(r->len, sizeof(kpg_batch_hello));
    assert_memory_equal(r->p, kpg_batch_hello, sizeof(kpg_batch_hello));
    /* A view into the request buffer, not a copy. */
    assert_true(r->p >= g.copy && r->p < g.copy + sizeof(kpg_produce_v7_req));
    assert_int_equal(r->fd, -1);
    assert_null(r->ref);
    golden_done(&g);

    /* v0: no TransactionalId on the wire, a magic-0 message set passed
     * through as it came. */
    golden_decode(&g, kpg_produce_v0_req, sizeof(kpg_produce_v0_req), &m);
    assert_int_equal(g.h.ApiVersion, 0);
    assert_int_equal(g.h.CorrelationId, 12);
    assert_int_equal(g.h.hdr_version, 1);
    assert_null_str(m.TransactionalId); /* v3+ field: default */
    assert_int_equal(m.Acks, 1);
    assert_int_equal(m.TimeoutMs, 1500);
    assert_int_equal(m.n_TopicData, 1);
    assert_str(m.TopicData[0].Name, "test");
    assert_int_equal(m.TopicData[0].n_PartitionData, 1);
    assert_int_equal(m.TopicData[0].PartitionData[0].Index, 0);
    r = &m.TopicData[0].PartitionData[0].Records;
    assert_int_equal(r->len, sizeof(kpg_msgset_v0_hello));
    assert_memory_equal(r->p, kpg_msgset_v0_hello, sizeof(kpg_msgset_v0_hello));
    assert_true(r->p >= g.copy && r->p < g.copy + sizeof(kpg_produce_v0_req));
    golden_done(&g);

    /* v2: same layout, a magic-1 message set. */
    golden_decode(&g, kpg_produce_v2_req, sizeof(kpg_produce_v2_req), &m);
    assert_int_equal(g.h.ApiVersion, 2);
    assert_int_equal(g.h.CorrelationId, 13);
    assert_null_str(m.TransactionalId);
    assert_int_equal(m.Acks, -1);
    assert_int_equal(m.TimeoutMs, 30000);
    assert_int_equal(m.n_TopicData, 1);
    assert_str(m.TopicData[0].Name, "test");
    assert_int_equal(m.TopicData[0].n_PartitionData, 1);
    assert_int_equal(m.TopicData[0].PartitionData[0].Index, 1);
    r = &m.TopicData[0].PartitionData[0].Records;
    assert_int_equal(r->len, sizeof(kpg_msgset_v1_key_hello));
    assert_memory_equal(r->p, kpg_msgset_v1_key_hello,
                        sizeof(kpg_msgset_v1_key_hello));
    golden_done(&g);
}

/* Encoding the decoded v0/v2 golden bodies gives the wire bytes back: in
 * particular no TransactionalId is written below v3, even when set. */
static void test_produce_v0_v2_reencode(void **state)
{
    static const struct {
        const uint8_t *frame;
        size_t len;
    } fr[] = {{kpg_produce_v0_req, sizeof(kpg_produce_v0_req)},
              {kpg_produce_v2_req, sizeof(kpg_produce_v2_req)}};
    size_t i;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(fr); i++) {
        struct golden g;
        kp_ProduceRequest_t m;
        size_t body_at;
        kp_wr_t w;

        golden_decode(&g, fr[i].frame, fr[i].len, &m);
        body_at = 4 + 2 + 2 + 4 + 2 + 7; /* size, header v1 "rdkafka" */
        m.TransactionalId = (kp_str_t){"txn", 3};
        kp_wr_init(&w, 0);
        kp_ProduceRequest_encode(&w, g.h.ApiVersion, &m);
        assert_wr_eq(&w, fr[i].frame + body_at, fr[i].len - body_at);
        kp_wr_fini(&w);
        golden_done(&g);
    }
}

static void test_golden_fetch(void **state)
{
    struct golden g;
    kp_FetchRequest_t m;
    const kp_FetchPartition_t *p;
    (void)state;

    golden_decode(&g, kpg_fetch_v11_req, sizeof(kpg_fetch_v11_req), &m);
    assert_int_equal(g.h.ApiVersion, 11);
    assert_int_equal(m.ReplicaId, -1);
    assert_int_equal(m.MaxWaitMs, 500);
    assert_int_equal(m.MinBytes, 1);
    assert_int_equal(m.MaxBytes, 52428800);
    assert_int_equal(m.IsolationLevel, 1);
    assert_int_equal(m.SessionId, 0);
    assert_int_equal(m.SessionEpoch, 0);
    assert_int_equal(m.n_Topics, 1);
    assert_str(m.Topics[0].Topic, "test");
    assert_int_equal(m.Topics[0].n_Partitions, 1);
    p = &m.Topics[0].Partitions[0];
    assert_int_equal(p->Partition, 0);
    assert_int_equal(p->CurrentLeaderEpoch, 5);
    assert_true(p->FetchOffset == 42);
    assert_true(p->LogStartOffset == -1);
    assert_int_equal(p->PartitionMaxBytes, 1 << 20);
    assert_int_equal(m.n_ForgottenTopicsData, 0);
    assert_str(m.RackId, "r1");
    golden_done(&g);
}

static void test_golden_listoffsets(void **state)
{
    struct golden g;
    kp_ListOffsetsRequest_t m;
    (void)state;

    golden_decode(&g, kpg_listoffsets_v1_req, sizeof(kpg_listoffsets_v1_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_int_equal(m.ReplicaId, -1);
    assert_int_equal(m.IsolationLevel, 0);
    assert_int_equal(m.n_Topics, 1);
    assert_str(m.Topics[0].Name, "test");
    assert_int_equal(m.Topics[0].n_Partitions, 2);
    assert_int_equal(m.Topics[0].Partitions[0].PartitionIndex, 0);
    assert_true(m.Topics[0].Partitions[0].Timestamp == -1);
    assert_int_equal(m.Topics[0].Partitions[0].MaxNumOffsets, 1);
    assert_int_equal(m.Topics[0].Partitions[1].PartitionIndex, 1);
    assert_true(m.Topics[0].Partitions[1].Timestamp == -2);
    golden_done(&g);

    golden_decode(&g, kpg_listoffsets_v2_req, sizeof(kpg_listoffsets_v2_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 2);
    assert_int_equal(m.IsolationLevel, 1);
    assert_int_equal(m.Topics[0].n_Partitions, 1);
    assert_int_equal(m.Topics[0].Partitions[0].PartitionIndex, 3);
    assert_true(m.Topics[0].Partitions[0].Timestamp == 1700000000000);
    golden_done(&g);
}

static void test_golden_createtopics(void **state)
{
    struct golden g;
    kp_CreateTopicsRequest_t m;
    const kp_CreatableTopic_t *t;
    (void)state;

    golden_decode(&g, kpg_createtopics_v3_req, sizeof(kpg_createtopics_v3_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_str(g.h.ClientId, "admincl");
    assert_int_equal(m.n_Topics, 1);
    t = &m.Topics[0];
    assert_str(t->Name, "orders");
    assert_int_equal(t->NumPartitions, 3);
    assert_int_equal(t->ReplicationFactor, 1);
    assert_int_equal(t->n_Assignments, 0);
    assert_int_equal(t->n_Configs, 2);
    assert_str(t->Configs[0].Name, "cleanup.policy");
    assert_str(t->Configs[0].Value, "compact");
    assert_str(t->Configs[1].Name, "retention.ms");
    assert_null_str(t->Configs[1].Value);
    assert_int_equal(m.timeoutMs, 30000);
    assert_false(m.validateOnly);
    golden_done(&g);

    golden_decode(&g, kpg_createtopics_v4_req, sizeof(kpg_createtopics_v4_req),
                  &m);
    t = &m.Topics[0];
    assert_str(t->Name, "x");
    assert_int_equal(t->NumPartitions, -1);
    assert_int_equal(t->ReplicationFactor, -1);
    assert_int_equal(t->n_Assignments, 2);
    assert_int_equal(t->Assignments[0].PartitionIndex, 0);
    assert_int_equal(t->Assignments[0].n_BrokerIds, 1);
    assert_int_equal(t->Assignments[0].BrokerIds[0], 1);
    assert_int_equal(t->Assignments[1].PartitionIndex, 1);
    assert_int_equal(t->Assignments[1].n_BrokerIds, 2);
    assert_int_equal(t->Assignments[1].BrokerIds[1], 2);
    assert_int_equal(t->n_Configs, 0);
    assert_int_equal(m.timeoutMs, 60000);
    assert_true(m.validateOnly);
    golden_done(&g);
}

static void test_golden_deletetopics(void **state)
{
    struct golden g;
    kp_DeleteTopicsRequest_t m;
    (void)state;

    golden_decode(&g, kpg_deletetopics_v3_req, sizeof(kpg_deletetopics_v3_req),
                  &m);
    assert_int_equal(g.h.ApiKey, KP_API_DeleteTopics);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_int_equal(m.n_TopicNames, 2);
    assert_str(m.TopicNames[0], "orders");
    assert_str(m.TopicNames[1], "x");
    assert_int_equal(m.TimeoutMs, 30000);
    golden_done(&g);
}

/* ================= golden responses, encoded ================= */

static void test_golden_resp_apiversions(void **state)
{
    kp_ApiVersion_t keys3[] = {{0, 3, 7}, {18, 0, 3}};
    kp_ApiVersion_t keys0[] = {{18, 0, 3}};
    kp_ApiVersionsResponse_t m = {0, 2, keys3, 0};
    kp_wr_t w;
    (void)state;

    kp_wr_init(&w, 0);
    kp_ApiVersionsResponse_encode(&w, 3, &m);
    assert_wr_eq(&w, kpg_apiversions_v3_resp, sizeof(kpg_apiversions_v3_resp));

    /* Header v0 even for the flexible v3 body. */
    kp_wr_reset(&w);
    kp_wr_resp_hdr(&w, false, 1);
    assert_wr_eq(&w, kpg_resp_hdr_v0_cid1, sizeof(kpg_resp_hdr_v0_cid1));

    kp_wr_reset(&w);
    m = (kp_ApiVersionsResponse_t){KP_ERR_UNSUPPORTED_VERSION, 1, keys0, 0};
    kp_ApiVersionsResponse_encode(&w, 0, &m);
    assert_wr_eq(&w, kpg_apiversions_v0_resp, sizeof(kpg_apiversions_v0_resp));
    kp_wr_fini(&w);
}

static void test_golden_resp_metadata(void **state)
{
    int32_t one[] = {1};
    kp_MetadataPartition_t part = {0, 0, 1, -1, 1, one, 1, one, 0, NULL};
    kp_MetadataTopic_t topic = {0, {"test", 4}, false, 1, &part};
    kp_MetadataBroker_t broker = {1, {"localhost", 9}, 9092, {NULL, -1}};
    kp_MetadataResponse_t m = {0, 1, &broker, {NULL, -1}, 1, 1, &topic};
    kp_wr_t w;
    (void)state;

    kp_wr_init(&w, 0);
    kp_MetadataResponse_encode(&w, 1, &m);
    assert_wr_eq(&w, kpg_metadata_v1_resp, sizeof(kpg_metadata_v1_resp));
    kp_wr_fini(&w);
}

static void test_golden_resp_produce(void **state)
{
    kp_ProducePartitionResponse_t p = {0, 0, 42, -1, 0};
    kp_ProduceTopicResponse_t t = {{"test", 4}, 1, &p};
    kp_ProduceResponse_t m = {1, &t, 0};
    kp_ProduceResponse_t d;
    mem_pool_t *pool;
    kp_wr_t w;
    kp_rd_t rd;
    (void)state;

    kp_wr_init(&w, 0);
    kp_ProduceResponse_encode(&w, 7, &m);
    assert_wr_eq(&w, kpg_produce_v7_resp, sizeof(kpg_produce_v7_resp));

    /* v0: the v2+ and v5+ fields and the v1+ throttle time are not
     * written, whatever the struct holds. */
    p = (kp_ProducePartitionResponse_t){0, 0, 42, 1700000000000, 3};
    m.ThrottleTimeMs = 100;
    kp_wr_reset(&w);
    kp_ProduceResponse_encode(&w, 0, &m);
    assert_wr_eq(&w, kpg_produce_v0_resp, sizeof(kpg_produce_v0_resp));

    /* v2: log-append time and throttle time, still no LogStartOffset. */
    p = (kp_ProducePartitionResponse_t){1, 0, 7, 1700000000000, 3};
    kp_wr_reset(&w);
    kp_ProduceResponse_encode(&w, 2, &m);
    assert_wr_eq(&w, kpg_produce_v2_resp, sizeof(kpg_produce_v2_resp));
    kp_wr_fini(&w);

    /* Decoding gives the schema defaults for what a version lacks. */
    pool = mem_pool_new(0, 0);
    kp_rd_init(&rd, kpg_produce_v0_resp, sizeof(kpg_produce_v0_resp));
    assert_int_equal(kp_ProduceResponse_decode(&rd, 0, pool, &d), 0);
    assert_int_equal(kp_rd_left(&rd), 0);
    assert_int_equal(d.n_Responses, 1);
    assert_int_equal(d.Responses[0].n_PartitionResponses, 1);
    assert_true(d.Responses[0].PartitionResponses[0].BaseOffset == 42);
    assert_true(d.Responses[0].PartitionResponses[0].LogAppendTimeMs == -1);
    assert_true(d.Responses[0].PartitionResponses[0].LogStartOffset == -1);
    assert_int_equal(d.ThrottleTimeMs, 0);
    kp_rd_init(&rd, kpg_produce_v2_resp, sizeof(kpg_produce_v2_resp));
    assert_int_equal(kp_ProduceResponse_decode(&rd, 2, pool, &d), 0);
    assert_int_equal(kp_rd_left(&rd), 0);
    assert_int_equal(d.Responses[0].PartitionResponses[0].Index, 1);
    assert_true(d.Responses[0].PartitionResponses[0].LogAppendTimeMs ==
                1700000000000);
    assert_true(d.Responses[0].PartitionResponses[0].LogStartOffset == -1);
    assert_int_equal(d.ThrottleTimeMs, 100);
    mem_pool_free(pool);

    /* Every prefix of both fails cleanly. */
    sweep(kps_Produce_resp_dec, 0, kpg_produce_v0_resp,
          sizeof(kpg_produce_v0_resp), "kpg_produce_v0_resp");
    sweep(kps_Produce_resp_dec, 2, kpg_produce_v2_resp,
          sizeof(kpg_produce_v2_resp), "kpg_produce_v2_resp");
}

/* The Fetch v11 golden response three ways: records copied (no ref),
 * spliced from memory (ref), and spliced from a file range (ref); all
 * flatten to the same bytes and the references are released. */
static void test_golden_resp_fetch(void **state)
{
    struct counted c;
    kp_FetchPartitionResponse_t parts[2];
    kp_FetchTopicResponse_t t = {{"test", 4}, 2, parts};
    kp_FetchResponse_t m = {0, 0, 0, 1, &t};
    kp_FetchResponse_t d;
    kp_wr_t w;
    kp_rd_t rd;
    mem_pool_t *pool;
    int fd, mode;
    uint8_t pad[7] = {0};
    (void)state;

    /* The batch sits at offset 7 of a file, behind other data. */
    fd = make_temp_file(pad, sizeof(pad));
    assert_int_equal(write(fd, kpg_batch_hello, sizeof(kpg_batch_hello)),
                     (ssize_t)sizeof(kpg_batch_hello));
    mem_ref_init(&c.ref, count_release);
    c.released = 0;

    for (mode = 0; mode < 3; mode++) {
        parts[0] = (kp_FetchPartitionResponse_t){
            .PartitionIndex = 0,
            .HighWatermark = 1,
            .LastStableOffset = 1,
            .LogStartOffset = 0,
            .n_AbortedTransactions = -1,
            .PreferredReadReplica = -1,
            .Records = {kpg_batch_hello, (int32_t)sizeof(kpg_batch_hello), -1,
                        0, NULL},
        };
        parts[1] = (kp_FetchPartitionResponse_t){
            .PartitionIndex = 1,
            .ErrorCode = KP_ERR_NOT_LEADER_OR_FOLLOWER,
            .HighWatermark = -1,
            .LastStableOffset = -1,
            .LogStartOffset = -1,
            .n_AbortedTransactions = -1,
            .PreferredReadReplica = -1,
            .Records = {NULL, -1, -1, 0, NULL},
        };
        if (mode == 1)
            parts[0].Records.ref = &c.ref;
        if (mode == 2)
            parts[0].Records = (kp_records_t){
                NULL, (int32_t)sizeof(kpg_batch_hello), fd, 7, &c.ref};

        kp_wr_init(&w, 0);
        kp_FetchResponse_encode(&w, 11, &m);
        assert_int_equal(w.next, mode == 0 ? 0 : 1);
        assert_int_equal(atomic_load(&c.ref.refs), mode == 0 ? 1 : 2);
        assert_wr_eq(&w, kpg_fetch_v11_resp, sizeof(kpg_fetch_v11_resp));
        kp_wr_fini(&w);
        assert_int_equal(atomic_load(&c.ref.refs), 1);
    }
    assert_int_equal(c.released, 0);

    /* And the client side decodes it. */
    pool = mem_pool_new(0, 0);
    kp_rd_init(&rd, kpg_fetch_v11_resp, sizeof(kpg_fetch_v11_resp));
    assert_int_equal(kp_FetchResponse_decode(&rd, 11, pool, &d), 0);
    assert_int_equal(d.n_Responses, 1);
    assert_int_equal(d.Responses[0].n_Partitions, 2);
    assert_int_equal(d.Responses[0].Partitions[0].Records.len,
                     sizeof(kpg_batch_hello));
    assert_int_equal(d.Responses[0].Partitions[0].n_AbortedTransactions, -1);
    assert_int_equal(d.Responses[0].Partitions[1].ErrorCode,
                     KP_ERR_NOT_LEADER_OR_FOLLOWER);
    assert_int_equal(d.Responses[0].Partitions[1].Records.len, -1);
    assert_null(d.Responses[0].Partitions[1].Records.p);
    mem_pool_free(pool);
    close(fd);
}

static void test_golden_resp_others(void **state)
{
    kp_ListOffsetsPartitionResponse_t lp = {0, 0, 0, NULL, -1, 42};
    kp_ListOffsetsTopicResponse_t lt = {{"test", 4}, 1, &lp};
    kp_ListOffsetsResponse_t lo = {0, 1, &lt};
    kp_CreatableTopicResult_t cr = {
        {"orders", 6}, KP_ERR_TOPIC_ALREADY_EXISTS, {"exists", 6}};
    kp_CreateTopicsResponse_t ct = {0, 1, &cr};
    kp_DeletableTopicResult_t dr[] = {
        {{"orders", 6}, 0}, {{"x", 1}, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION}};
    kp_DeleteTopicsResponse_t dt = {0, 2, dr};
    kp_wr_t w;
    (void)state;

    kp_wr_init(&w, 0);
    kp_ListOffsetsResponse_encode(&w, 1, &lo);
    assert_wr_eq(&w, kpg_listoffsets_v1_resp, sizeof(kpg_listoffsets_v1_resp));
    kp_wr_reset(&w);
    kp_CreateTopicsResponse_encode(&w, 3, &ct);
    assert_wr_eq(&w, kpg_createtopics_v3_resp,
                 sizeof(kpg_createtopics_v3_resp));
    kp_wr_reset(&w);
    kp_DeleteTopicsResponse_encode(&w, 3, &dt);
    assert_wr_eq(&w, kpg_deletetopics_v3_resp,
                 sizeof(kpg_deletetopics_v3_resp));
    kp_wr_fini(&w);
}

/* ================= consumer groups and InitProducerId ================= */

/* An opaque bytes field decoded from a golden frame: the expected bytes,
 * and a view into the (copied) frame rather than a copy. */
static void assert_view(const struct golden *g, size_t frame_len, kp_bytes_t b,
                        const uint8_t *exp, size_t n)
{
    assert_int_equal(b.len, n);
    assert_memory_equal(b.p, exp, n);
    assert_true(b.p >= g->copy && b.p + n <= g->copy + frame_len);
}

static void test_golden_findcoordinator(void **state)
{
    struct golden g;
    kp_FindCoordinatorRequest_t m;
    (void)state;

    golden_decode(&g, kpg_findcoordinator_v2_req,
                  sizeof(kpg_findcoordinator_v2_req), &m);
    assert_int_equal(g.h.ApiKey, KP_API_FindCoordinator);
    assert_int_equal(g.h.ApiVersion, 2);
    assert_int_equal(g.h.hdr_version, 1);
    assert_str(m.Key, "my-group");
    assert_int_equal(m.KeyType, KP_COORD_GROUP);
    golden_done(&g);

    /* v0: no KeyType on the wire; a group key by default. */
    golden_decode(&g, kpg_findcoordinator_v0_req,
                  sizeof(kpg_findcoordinator_v0_req), &m);
    assert_int_equal(g.h.ApiVersion, 0);
    assert_str(m.Key, "my-group");
    assert_int_equal(m.KeyType, KP_COORD_GROUP);
    golden_done(&g);
}

static void test_golden_joingroup(void **state)
{
    struct golden g;
    kp_JoinGroupRequest_t m;
    size_t n = sizeof(kpg_joingroup_v5_req);
    (void)state;

    golden_decode(&g, kpg_joingroup_v5_req, n, &m);
    assert_int_equal(g.h.ApiKey, KP_API_JoinGroup);
    assert_int_equal(g.h.ApiVersion, 5);
    assert_int_equal(g.h.CorrelationId, 21);
    assert_str(m.GroupId, "my-group");
    assert_int_equal(m.SessionTimeoutMs, 45000);
    assert_int_equal(m.RebalanceTimeoutMs, 300000);
    assert_str(m.MemberId, "");
    assert_str(m.GroupInstanceId, "consumer-1");
    assert_str(m.ProtocolType, "consumer");
    assert_int_equal(m.n_Protocols, 2);
    assert_str(m.Protocols[0].Name, "range");
    assert_view(&g, n, m.Protocols[0].Metadata, kpg_sub_test,
                sizeof(kpg_sub_test));
    assert_str(m.Protocols[1].Name, "roundrobin");
    assert_view(&g, n, m.Protocols[1].Metadata, kpg_sub_test,
                sizeof(kpg_sub_test));
    golden_done(&g);
}

static void test_golden_syncgroup(void **state)
{
    struct golden g;
    kp_SyncGroupRequest_t m;
    size_t n = sizeof(kpg_syncgroup_v3_req);
    (void)state;

    golden_decode(&g, kpg_syncgroup_v3_req, n, &m);
    assert_int_equal(g.h.ApiKey, KP_API_SyncGroup);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_str(m.GroupId, "my-group");
    assert_int_equal(m.GenerationId, 1);
    assert_str(m.MemberId, "m-1");
    assert_str(m.GroupInstanceId, "consumer-1");
    assert_int_equal(m.n_Assignments, 2);
    assert_str(m.Assignments[0].MemberId, "m-1");
    assert_view(&g, n, m.Assignments[0].Assignment, kpg_assign_test_01,
                sizeof(kpg_assign_test_01));
    assert_str(m.Assignments[1].MemberId, "m-2");
    assert_view(&g, n, m.Assignments[1].Assignment, kpg_assign_test_2,
                sizeof(kpg_assign_test_2));
    golden_done(&g);
}

static void test_golden_heartbeat_leavegroup(void **state)
{
    struct golden g;
    kp_HeartbeatRequest_t hb;
    kp_LeaveGroupRequest_t lg;
    (void)state;

    golden_decode(&g, kpg_heartbeat_v3_req, sizeof(kpg_heartbeat_v3_req), &hb);
    assert_int_equal(g.h.ApiKey, KP_API_Heartbeat);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_str(hb.GroupId, "my-group");
    assert_int_equal(hb.GenerationId, 1);
    assert_str(hb.MemberId, "m-1");
    assert_str(hb.GroupInstanceId, "consumer-1");
    golden_done(&g);

    golden_decode(&g, kpg_leavegroup_v3_req, sizeof(kpg_leavegroup_v3_req),
                  &lg);
    assert_int_equal(g.h.ApiKey, KP_API_LeaveGroup);
    assert_int_equal(g.h.ApiVersion, 3);
    assert_str(lg.GroupId, "my-group");
    assert_str(lg.MemberId, ""); /* v0-2 field: default */
    assert_int_equal(lg.n_Members, 2);
    assert_str(lg.Members[0].MemberId, "m-1");
    assert_str(lg.Members[0].GroupInstanceId, "consumer-1");
    assert_str(lg.Members[1].MemberId, "m-2");
    assert_null_str(lg.Members[1].GroupInstanceId);
    golden_done(&g);

    golden_decode(&g, kpg_leavegroup_v0_req, sizeof(kpg_leavegroup_v0_req),
                  &lg);
    assert_int_equal(g.h.ApiVersion, 0);
    assert_str(lg.GroupId, "my-group");
    assert_str(lg.MemberId, "m-1");
    assert_int_equal(lg.n_Members, 0);
    assert_null(lg.Members);
    golden_done(&g);
}

static void test_golden_offsetcommit(void **state)
{
    struct golden g;
    kp_OffsetCommitRequest_t m;
    const kp_OffsetCommitRequestPartition_t *p;
    (void)state;

    golden_decode(&g, kpg_offsetcommit_v7_req, sizeof(kpg_offsetcommit_v7_req),
                  &m);
    assert_int_equal(g.h.ApiKey, KP_API_OffsetCommit);
    assert_int_equal(g.h.ApiVersion, 7);
    assert_str(m.GroupId, "my-group");
    assert_int_equal(m.GenerationIdOrMemberEpoch, 1);
    assert_str(m.MemberId, "m-1");
    assert_str(m.GroupInstanceId, "consumer-1");
    assert_true(m.RetentionTimeMs == -1); /* v2-4 only */
    assert_int_equal(m.n_Topics, 1);
    assert_str(m.Topics[0].Name, "test");
    assert_int_equal(m.Topics[0].n_Partitions, 2);
    p = &m.Topics[0].Partitions[0];
    assert_int_equal(p->PartitionIndex, 0);
    assert_true(p->CommittedOffset == 42);
    assert_int_equal(p->CommittedLeaderEpoch, 5);
    assert_true(p->CommitTimestamp == -1); /* v1 only */
    assert_str(p->CommittedMetadata, "");
    p = &m.Topics[0].Partitions[1];
    assert_int_equal(p->PartitionIndex, 1);
    assert_true(p->CommittedOffset == 7);
    assert_int_equal(p->CommittedLeaderEpoch, -1);
    assert_null_str(p->CommittedMetadata);
    golden_done(&g);

    golden_decode(&g, kpg_offsetcommit_v2_req, sizeof(kpg_offsetcommit_v2_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 2);
    assert_int_equal(m.GenerationIdOrMemberEpoch, 3);
    assert_null_str(m.GroupInstanceId); /* v7+ */
    assert_true(m.RetentionTimeMs == -1);
    p = &m.Topics[0].Partitions[0];
    assert_true(p->CommittedOffset == 42);
    assert_int_equal(p->CommittedLeaderEpoch, -1); /* v6+ */
    assert_true(p->CommitTimestamp == -1);
    assert_str(p->CommittedMetadata, "meta");
    golden_done(&g);

    golden_decode(&g, kpg_offsetcommit_v1_req, sizeof(kpg_offsetcommit_v1_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_str(m.MemberId, "m-1");
    p = &m.Topics[0].Partitions[0];
    assert_true(p->CommittedOffset == 42);
    assert_true(p->CommitTimestamp == 1700000000000);
    assert_null_str(p->CommittedMetadata);
    golden_done(&g);
}

static void test_golden_offsetfetch(void **state)
{
    struct golden g;
    kp_OffsetFetchRequest_t m;
    (void)state;

    golden_decode(&g, kpg_offsetfetch_v5_req, sizeof(kpg_offsetfetch_v5_req),
                  &m);
    assert_int_equal(g.h.ApiKey, KP_API_OffsetFetch);
    assert_int_equal(g.h.ApiVersion, 5);
    assert_str(m.GroupId, "my-group");
    assert_int_equal(m.n_Topics, -1); /* null: all committed */
    assert_null(m.Topics);
    golden_done(&g);

    golden_decode(&g, kpg_offsetfetch_v1_req, sizeof(kpg_offsetfetch_v1_req),
                  &m);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_int_equal(m.n_Topics, 1);
    assert_str(m.Topics[0].Name, "test");
    assert_int_equal(m.Topics[0].n_PartitionIndexes, 2);
    assert_int_equal(m.Topics[0].PartitionIndexes[0], 0);
    assert_int_equal(m.Topics[0].PartitionIndexes[1], 1);
    golden_done(&g);
}

static void test_golden_group_admin(void **state)
{
    struct golden g;
    kp_ListGroupsRequest_t lg;
    kp_DescribeGroupsRequest_t dg;
    kp_DeleteGroupsRequest_t del;
    kp_OffsetDeleteRequest_t od;
    (void)state;

    golden_decode(&g, kpg_listgroups_v2_req, sizeof(kpg_listgroups_v2_req),
                  &lg);
    assert_int_equal(g.h.ApiKey, KP_API_ListGroups);
    assert_int_equal(g.h.ApiVersion, 2);
    golden_done(&g);

    golden_decode(&g, kpg_describegroups_v4_req,
                  sizeof(kpg_describegroups_v4_req), &dg);
    assert_int_equal(g.h.ApiKey, KP_API_DescribeGroups);
    assert_int_equal(g.h.ApiVersion, 4);
    assert_int_equal(dg.n_Groups, 2);
    assert_str(dg.Groups[0], "my-group");
    assert_str(dg.Groups[1], "other");
    assert_true(dg.IncludeAuthorizedOperations);
    golden_done(&g);

    golden_decode(&g, kpg_deletegroups_v1_req, sizeof(kpg_deletegroups_v1_req),
                  &del);
    assert_int_equal(g.h.ApiKey, KP_API_DeleteGroups);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_int_equal(del.n_GroupsNames, 2);
    assert_str(del.GroupsNames[0], "my-group");
    assert_str(del.GroupsNames[1], "other");
    golden_done(&g);

    golden_decode(&g, kpg_offsetdelete_v0_req, sizeof(kpg_offsetdelete_v0_req),
                  &od);
    assert_int_equal(g.h.ApiKey, KP_API_OffsetDelete);
    assert_int_equal(g.h.ApiVersion, 0);
    assert_str(od.GroupId, "my-group");
    assert_int_equal(od.n_Topics, 1);
    assert_str(od.Topics[0].Name, "test");
    assert_int_equal(od.Topics[0].n_Partitions, 2);
    assert_int_equal(od.Topics[0].Partitions[0].PartitionIndex, 0);
    assert_int_equal(od.Topics[0].Partitions[1].PartitionIndex, 1);
    golden_done(&g);
}

static void test_golden_initproducerid(void **state)
{
    struct golden g;
    kp_InitProducerIdRequest_t m;
    (void)state;

    golden_decode(&g, kpg_initproducerid_v1_req,
                  sizeof(kpg_initproducerid_v1_req), &m);
    assert_int_equal(g.h.ApiKey, KP_API_InitProducerId);
    assert_int_equal(g.h.ApiVersion, 1);
    assert_null_str(m.TransactionalId);
    assert_int_equal(m.TransactionTimeoutMs, INT32_MAX);
    golden_done(&g);
}

/* Encodes with `enc` and compares with the golden body, then decodes the
 * golden body (the client side) and sweeps its prefixes. */
static void golden_resp(kps_enc_fn enc, kps_dec_fn dec, int v, const void *m,
                        const uint8_t *exp, size_t n, const char *what)
{
    kp_wr_t w;
    kp_rd_t rd;
    kps_any_t d;
    mem_pool_t *pool = mem_pool_new(0, 0);
    uint8_t *copy = dup_exact(exp, n);

    kp_wr_init(&w, 0);
    enc(&w, v, m);
    assert_wr_eq(&w, exp, n);
    kp_wr_fini(&w);

    kp_rd_init(&rd, copy, n);
    if (dec(&rd, v, pool, &d) != 0)
        fail_msg("%s: does not decode (%d)", what, rd.err);
    assert_int_equal(kp_rd_left(&rd), 0);
    /* What was decoded encodes to the same bytes. */
    kp_wr_init(&w, 0);
    enc(&w, v, &d);
    assert_wr_eq(&w, exp, n);
    kp_wr_fini(&w);
    sweep(dec, v, exp, n, what);
    mem_pool_free(pool);
    free(copy);
}

#define GOLDEN_RESP(Api, v, m, arr)                                            \
    golden_resp(kps_##Api##_resp_enc, kps_##Api##_resp_dec, (v), (m), (arr),   \
                sizeof(arr), #arr)

static void test_golden_resp_groups(void **state)
{
    kp_FindCoordinatorResponse_t fc = {0,   0, {NULL, -1}, 1, {"localhost", 9},
                                       9092};
    kp_FindCoordinatorResponse_t fc0 = {
        55, KP_ERR_COORDINATOR_NOT_AVAILABLE, {"ignored", 7}, -1, {"", 0}, -1};
    kp_JoinGroupResponseMember_t jm[] = {
        {{"m-1", 3}, {"consumer-1", 10}, {kpg_sub_test, sizeof(kpg_sub_test)}},
        {{"m-2", 3}, {NULL, -1}, {kpg_sub_test, sizeof(kpg_sub_test)}},
    };
    kp_JoinGroupResponse_t jg = {0,          0,          1, {"range", 5},
                                 {"m-1", 3}, {"m-1", 3}, 2, jm};
    kp_SyncGroupResponse_t sg = {
        0, 0, {kpg_assign_test_01, sizeof(kpg_assign_test_01)}};
    kp_HeartbeatResponse_t hb = {0, KP_ERR_REBALANCE_IN_PROGRESS};
    kp_LeaveGroupMemberResponse_t lm[] = {
        {{"m-1", 3}, {"consumer-1", 10}, 0},
        {{"m-2", 3}, {NULL, -1}, KP_ERR_UNKNOWN_MEMBER_ID},
    };
    kp_LeaveGroupResponse_t lg = {0, 0, 2, lm};
    kp_DescribedGroupMember_t dm = {
        {"m-1", 3},
        {"consumer-1", 10},
        {"rdkafka", 7},
        {"/127.0.0.1", 10},
        {kpg_sub_test, sizeof(kpg_sub_test)},
        {kpg_assign_test_01, sizeof(kpg_assign_test_01)},
    };
    kp_DescribedGroup_t dgg = {
        0,   {"my-group", 8}, {"Stable", 6}, {"consumer", 8}, {"range", 5}, 1,
        &dm, INT32_MIN};
    kp_DescribeGroupsResponse_t dg = {0, 1, &dgg};
    kp_ListedGroup_t lgg = {{"my-group", 8}, {"consumer", 8}};
    kp_ListGroupsResponse_t ls = {0, 0, 1, &lgg};
    kp_DeletableGroupResult_t dr[] = {{{"my-group", 8}, 0},
                                      {{"other", 5}, KP_ERR_NON_EMPTY_GROUP}};
    kp_DeleteGroupsResponse_t del = {0, 2, dr};
    kp_InitProducerIdResponse_t ip = {0, 0, 1000, 0};
    (void)state;

    GOLDEN_RESP(FindCoordinator, 2, &fc, kpg_findcoordinator_v2_resp);
    /* v0: neither throttle time nor message, whatever the struct holds. */
    {
        kp_wr_t w;
        kp_wr_init(&w, 0);
        kp_FindCoordinatorResponse_encode(&w, 0, &fc0);
        assert_wr_eq(&w, kpg_findcoordinator_v0_resp,
                     sizeof(kpg_findcoordinator_v0_resp));
        kp_wr_fini(&w);
    }
    GOLDEN_RESP(JoinGroup, 5, &jg, kpg_joingroup_v5_resp);
    GOLDEN_RESP(SyncGroup, 3, &sg, kpg_syncgroup_v3_resp);
    GOLDEN_RESP(Heartbeat, 3, &hb, kpg_heartbeat_v3_resp);
    GOLDEN_RESP(LeaveGroup, 3, &lg, kpg_leavegroup_v3_resp);
    GOLDEN_RESP(DescribeGroups, 4, &dg, kpg_describegroups_v4_resp);
    GOLDEN_RESP(ListGroups, 2, &ls, kpg_listgroups_v2_resp);
    GOLDEN_RESP(DeleteGroups, 1, &del, kpg_deletegroups_v1_resp);
    GOLDEN_RESP(InitProducerId, 1, &ip, kpg_initproducerid_v1_resp);
}

static void test_golden_resp_offsets(void **state)
{
    kp_OffsetCommitResponsePartition_t cp[] = {{0, 0},
                                               {1, KP_ERR_ILLEGAL_GENERATION}};
    kp_OffsetCommitResponseTopic_t ct = {{"test", 4}, 2, cp};
    kp_OffsetCommitResponse_t oc = {0, 1, &ct};
    kp_OffsetFetchResponsePartition_t fp[] = {
        {0, 42, 5, {"", 0}, 0},
        {1, -1, -1, {"", 0}, 0},
    };
    kp_OffsetFetchResponseTopic_t ft = {{"test", 4}, 2, fp};
    kp_OffsetFetchResponse_t of = {0, 1, &ft, 0};
    kp_OffsetDeleteResponsePartition_t dp = {0, 0};
    kp_OffsetDeleteResponseTopic_t dt = {{"test", 4}, 1, &dp};
    kp_OffsetDeleteResponse_t od = {0, 0, 1, &dt};
    kp_OffsetFetchResponse_t d;
    kp_rd_t rd;
    mem_pool_t *pool;
    (void)state;

    GOLDEN_RESP(OffsetCommit, 7, &oc, kpg_offsetcommit_v7_resp);
    GOLDEN_RESP(OffsetFetch, 5, &of, kpg_offsetfetch_v5_resp);
    GOLDEN_RESP(OffsetDelete, 0, &od, kpg_offsetdelete_v0_resp);

    /* The v5 body read as the client would: the top-level error code is
     * the last field, after the topics. */
    pool = mem_pool_new(0, 0);
    kp_rd_init(&rd, kpg_offsetfetch_v5_resp, sizeof(kpg_offsetfetch_v5_resp));
    assert_int_equal(kp_OffsetFetchResponse_decode(&rd, 5, pool, &d), 0);
    assert_int_equal(d.Topics[0].Partitions[0].CommittedLeaderEpoch, 5);
    assert_true(d.Topics[0].Partitions[1].CommittedOffset == -1);
    assert_str(d.Topics[0].Partitions[1].Metadata, "");
    assert_int_equal(d.ErrorCode, 0);
    mem_pool_free(pool);
}

/* OffsetFetch: null topics ("all committed") exist from v2 only. */
static void test_offsetfetch_null_topics(void **state)
{
    static const uint8_t body[] = {
        0x00, 0x01, 'g',        /* GroupId "g" */
        0xff, 0xff, 0xff, 0xff, /* Topics null */
    };
    kp_OffsetFetchRequest_t m = {{"g", 1}, -1, NULL}, d;
    kp_wr_t w;
    kp_rd_t rd;
    int v;
    (void)state;

    for (v = 0; v <= 5; v++) {
        kp_rd_init(&rd, body, sizeof(body));
        if (v < 2) {
            assert_int_equal(kp_OffsetFetchRequest_decode(&rd, v, NULL, &d),
                             KP_EINVAL);
            continue;
        }
        assert_int_equal(kp_OffsetFetchRequest_decode(&rd, v, NULL, &d), 0);
        assert_int_equal(d.n_Topics, -1);
        kp_wr_init(&w, 0);
        kp_OffsetFetchRequest_encode(&w, v, &m);
        assert_wr_eq(&w, body, sizeof(body));
        kp_wr_fini(&w);
    }
}

/* LeaveGroup: v0-2 carry MemberId, v3 the Members batch; each version
 * writes only its own and ignores the other. */
static void test_leavegroup_versions(void **state)
{
    static const uint8_t v2[] = {0x00, 0x01, 'g', 0x00, 0x03, 'm', '-', '9'};
    static const uint8_t v3[] = {
        0x00, 0x01, 'g', 0x00, 0x00, 0x00, 0x01, /* 1 member */
        0x00, 0x03, 'm', '-',  '1',  0xff, 0xff, /* m-1, null instance */
    };
    kp_LeaveGroupMember_t mb = {{"m-1", 3}, {NULL, -1}};
    kp_LeaveGroupRequest_t m = {{"g", 1}, {"m-9", 3}, 1, &mb};
    kp_wr_t w;
    (void)state;

    kp_wr_init(&w, 0);
    kp_LeaveGroupRequest_encode(&w, 2, &m);
    assert_wr_eq(&w, v2, sizeof(v2));
    kp_wr_reset(&w);
    kp_LeaveGroupRequest_encode(&w, 3, &m);
    assert_wr_eq(&w, v3, sizeof(v3));
    kp_wr_fini(&w);
}

/* Decoding an old version gives the schema defaults for the fields it
 * lacks (whatever the encoded struct held). */
static void test_group_defaults(void **state)
{
    kps_any_t m, d;
    mem_pool_t *pool = mem_pool_new(0, 0);
    uint8_t *b;
    size_t n;
    kp_rd_t rd;
    (void)state;

    memset(&m, 0, sizeof(m));
    kps_JoinGroup_req(0, &m);
    encode_flat(kps_JoinGroup_req_enc, 0, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_JoinGroupRequest_decode(&rd, 0, pool, &d.i0), 0);
    assert_int_equal(d.i0.RebalanceTimeoutMs, -1);
    assert_null_str(d.i0.GroupInstanceId);
    assert_str(d.i0.MemberId, "m-1");
    mem_free(b);

    memset(&m, 0, sizeof(m));
    kps_JoinGroup_resp(4, &m);
    encode_flat(kps_JoinGroup_resp_enc, 4, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_JoinGroupResponse_decode(&rd, 4, pool, &d.i1), 0);
    assert_null_str(d.i1.Members[0].GroupInstanceId); /* v5+ */
    assert_int_equal(d.i1.ThrottleTimeMs, 11);
    mem_free(b);

    memset(&m, 0, sizeof(m));
    kps_OffsetCommit_req(0, &m);
    encode_flat(kps_OffsetCommit_req_enc, 0, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_OffsetCommitRequest_decode(&rd, 0, pool, &d.m0), 0);
    assert_int_equal(d.m0.GenerationIdOrMemberEpoch, -1);
    assert_str(d.m0.MemberId, "");
    assert_null_str(d.m0.GroupInstanceId);
    assert_true(d.m0.RetentionTimeMs == -1);
    assert_int_equal(d.m0.Topics[0].Partitions[0].CommittedLeaderEpoch, -1);
    assert_true(d.m0.Topics[0].Partitions[0].CommitTimestamp == -1);
    assert_str(d.m0.Topics[0].Partitions[0].CommittedMetadata, "meta");
    mem_free(b);

    /* v3-4 still carry RetentionTimeMs, v5 no longer. */
    memset(&m, 0, sizeof(m));
    kps_OffsetCommit_req(4, &m);
    encode_flat(kps_OffsetCommit_req_enc, 4, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_OffsetCommitRequest_decode(&rd, 4, pool, &d.m0), 0);
    assert_true(d.m0.RetentionTimeMs == 86400000);
    mem_free(b);
    encode_flat(kps_OffsetCommit_req_enc, 5, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_OffsetCommitRequest_decode(&rd, 5, pool, &d.m0), 0);
    assert_true(d.m0.RetentionTimeMs == -1);
    assert_int_equal(d.m0.Topics[0].Partitions[0].CommittedLeaderEpoch, -1);
    mem_free(b);

    memset(&m, 0, sizeof(m));
    kps_OffsetFetch_resp(1, &m);
    encode_flat(kps_OffsetFetch_resp_enc, 1, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_OffsetFetchResponse_decode(&rd, 1, pool, &d.n1), 0);
    assert_int_equal(d.n1.ErrorCode, 0);      /* v2+ */
    assert_int_equal(d.n1.ThrottleTimeMs, 0); /* v3+ */
    assert_int_equal(d.n1.Topics[0].Partitions[0].CommittedLeaderEpoch, -1);
    mem_free(b);

    memset(&m, 0, sizeof(m));
    kps_FindCoordinator_resp(0, &m);
    encode_flat(kps_FindCoordinator_resp_enc, 0, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_FindCoordinatorResponse_decode(&rd, 0, pool, &d.h1), 0);
    assert_null_str(d.h1.ErrorMessage);
    assert_int_equal(d.h1.ThrottleTimeMs, 0);
    assert_str(d.h1.Host, "broker-3.example");
    mem_free(b);

    memset(&m, 0, sizeof(m));
    kps_DescribeGroups_resp(2, &m);
    encode_flat(kps_DescribeGroups_resp_enc, 2, &m, &b, &n);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_DescribeGroupsResponse_decode(&rd, 2, pool, &d.p1), 0);
    assert_int_equal(d.p1.Groups[0].AuthorizedOperations, INT32_MIN);
    assert_null_str(d.p1.Groups[0].Members[0].GroupInstanceId);
    assert_int_equal(d.p1.Groups[0].Members[1].MemberMetadata.len, 0);
    mem_free(b);
    mem_pool_free(pool);
}

/* Every golden response body decodes completely with its API's response
 * decoder, re-encodes to the same bytes, and fails cleanly when cut. */
static void test_golden_resp_bodies(void **state)
{
    size_t i;
    (void)state;

    for (i = 0; i < ST_ARRAY_LEN(kpg_resp_bodies); i++) {
        const kpg_body_t *b = &kpg_resp_bodies[i];
        const kps_api_t *api = kps_api(b->key);
        mem_pool_t *pool = mem_pool_new(0, 0);
        uint8_t *copy = dup_exact(b->p, b->len), *out;
        size_t n;
        kps_any_t d;
        kp_rd_t rd;

        assert_non_null(api);
        kp_rd_init(&rd, copy, b->len);
        if (api->resp_dec(&rd, b->version, pool, &d) != 0)
            fail_msg("%s: does not decode (%d)", b->name, rd.err);
        if (kp_rd_left(&rd) != 0)
            fail_msg("%s: %zu bytes left over", b->name, kp_rd_left(&rd));
        encode_flat(api->resp_enc, b->version, &d, &out, &n);
        if (n != b->len || memcmp(out, b->p, n) != 0)
            fail_msg("%s: re-encoding differs", b->name);
        mem_free(out);
        sweep(api->resp_dec, b->version, b->p, b->len, b->name);
        mem_pool_free(pool);
        free(copy);
    }
}

/* ================= semantics and limits ================= */

static void test_metadata_all_topics(void **state)
{
    kp_MetadataRequest_t m = {-1, NULL, true}, d;
    static const uint8_t v0[] = {0x00, 0x00, 0x00, 0x00};
    static const uint8_t v1[] = {0xff, 0xff, 0xff, 0xff};
    static const uint8_t v4_empty[] = {0x00, 0x00, 0x00, 0x00, 0x01};
    kp_wr_t w;
    kp_rd_t rd;
    (void)state;

    kp_wr_init(&w, 0);
    kp_MetadataRequest_encode(&w, 0, &m); /* null at v0: written as [] */
    assert_wr_eq(&w, v0, sizeof(v0));
    kp_wr_reset(&w);
    kp_MetadataRequest_encode(&w, 1, &m);
    assert_wr_eq(&w, v1, sizeof(v1));
    kp_wr_reset(&w);
    m.n_Topics = 0; /* v1+: an empty list asks for no topics */
    kp_MetadataRequest_encode(&w, 4, &m);
    assert_wr_eq(&w, v4_empty, sizeof(v4_empty));
    kp_wr_fini(&w);

    /* v0 has no null arrays: -1 is refused. */
    kp_rd_init(&rd, v1, sizeof(v1));
    assert_int_equal(kp_MetadataRequest_decode(&rd, 0, NULL, &d), KP_EINVAL);
    kp_rd_init(&rd, v1, sizeof(v1));
    assert_int_equal(kp_MetadataRequest_decode(&rd, 1, NULL, &d), 0);
    assert_int_equal(d.n_Topics, -1);
}

/* A pool limit caps what one request may allocate: KP_ENOMEM, not a
 * crash, and a NULL pool allows no allocation at all. */
static void test_pool_limit(void **state)
{
    kp_MetadataResponse_t m, d;
    mem_pool_t *pool;
    kp_rd_t rd;
    uint8_t *b;
    size_t n;
    (void)state;

    memset(&m, 0, sizeof(m));
    kps_Metadata_resp(7, &m);
    encode_flat(kps_Metadata_resp_enc, 7, &m, &b, &n);

    pool = mem_pool_new(64, 64); /* smaller than two broker structs */
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_MetadataResponse_decode(&rd, 7, pool, &d), KP_ENOMEM);
    assert_int_equal(kp_rd_left(&rd), 0);
    mem_pool_free(pool);

    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_MetadataResponse_decode(&rd, 7, NULL, &d), KP_ENOMEM);

    pool = mem_pool_new(0, 1 << 20);
    kp_rd_init(&rd, b, n);
    assert_int_equal(kp_MetadataResponse_decode(&rd, 7, pool, &d), 0);
    mem_pool_free(pool);
    mem_free(b);
}

/* A message claiming many elements in a short buffer is refused before
 * the pool is asked for anything. */
static void test_count_refused_before_alloc(void **state)
{
    static const uint8_t body[] = {
        0xff, 0xff,             /* TransactionalId null */
        0x00, 0x01,             /* Acks */
        0x00, 0x00, 0x00, 0x10, /* TimeoutMs */
        0x10, 0x00, 0x00, 0x00, /* 268 million topics */
        0x00, 0x01, 'a',  0x00, 0x00, 0x00, 0x00,
    };
    kp_ProduceRequest_t d;
    mem_pool_t *pool = mem_pool_new(0, 0);
    kp_rd_t rd;
    (void)state;

    kp_rd_init(&rd, body, sizeof(body));
    assert_int_equal(kp_ProduceRequest_decode(&rd, 7, pool, &d), KP_ETRUNC);
    assert_int_equal(mem_pool_used(pool), 0);
    /* v0 has no TransactionalId: the same claim two bytes earlier. */
    kp_rd_init(&rd, body + 2, sizeof(body) - 2);
    assert_int_equal(kp_ProduceRequest_decode(&rd, 0, pool, &d), KP_ETRUNC);
    assert_int_equal(mem_pool_used(pool), 0);
    mem_pool_free(pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rd_fixed),
        cmocka_unit_test(test_rd_uuid_skip),
        cmocka_unit_test(test_uvarint_edges),
        cmocka_unit_test(test_uvarint_bad),
        cmocka_unit_test(test_varint_zigzag),
        cmocka_unit_test(test_varlong_zigzag),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_strings_bad),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_array_refusal),
        cmocka_unit_test(test_sticky_error),
        cmocka_unit_test(test_tags_skip),
        cmocka_unit_test(test_tags_bad),
        cmocka_unit_test(test_tags_in_message),
        cmocka_unit_test(test_req_hdr),
        cmocka_unit_test(test_resp_hdr),
        cmocka_unit_test(test_wr_ext_splice),
        cmocka_unit_test(test_wr_segments_adjacent),
        cmocka_unit_test(test_wr_reset_refs),
        cmocka_unit_test(test_wr_sticky_enomem),
        cmocka_unit_test(test_wr_flatten_short_file),
        cmocka_unit_test(test_wr_bytes_hdr_fill),
        cmocka_unit_test(test_api_tables),
        cmocka_unit_test(test_api_keys_named),
        cmocka_unit_test(test_roundtrip_all),
        cmocka_unit_test(test_versions_refused),
        cmocka_unit_test(test_truncation_encoded),
        cmocka_unit_test(test_golden_frames_sweep),
        cmocka_unit_test(test_golden_apiversions),
        cmocka_unit_test(test_golden_metadata),
        cmocka_unit_test(test_golden_batch_crc),
        cmocka_unit_test(test_golden_msgset_crc),
        cmocka_unit_test(test_golden_produce),
        cmocka_unit_test(test_produce_v0_v2_reencode),
        cmocka_unit_test(test_golden_fetch),
        cmocka_unit_test(test_golden_listoffsets),
        cmocka_unit_test(test_golden_createtopics),
        cmocka_unit_test(test_golden_deletetopics),
        cmocka_unit_test(test_golden_resp_apiversions),
        cmocka_unit_test(test_golden_resp_metadata),
        cmocka_unit_test(test_golden_resp_produce),
        cmocka_unit_test(test_golden_resp_fetch),
        cmocka_unit_test(test_golden_resp_others),
        cmocka_unit_test(test_golden_findcoordinator),
        cmocka_unit_test(test_golden_joingroup),
        cmocka_unit_test(test_golden_syncgroup),
        cmocka_unit_test(test_golden_heartbeat_leavegroup),
        cmocka_unit_test(test_golden_offsetcommit),
        cmocka_unit_test(test_golden_offsetfetch),
        cmocka_unit_test(test_golden_group_admin),
        cmocka_unit_test(test_golden_initproducerid),
        cmocka_unit_test(test_golden_resp_groups),
        cmocka_unit_test(test_golden_resp_offsets),
        cmocka_unit_test(test_golden_resp_bodies),
        cmocka_unit_test(test_offsetfetch_null_topics),
        cmocka_unit_test(test_leavegroup_versions),
        cmocka_unit_test(test_group_defaults),
        cmocka_unit_test(test_metadata_all_topics),
        cmocka_unit_test(test_pool_limit),
        cmocka_unit_test(test_count_refused_before_alloc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
