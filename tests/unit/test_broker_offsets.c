/* Unit tests for broker/brk_offsets: the __consumer_offsets record formats,
 * one group's offset table, and the group → partition hash.
 *
 * Every record fixture below is written out byte by byte from Kafka's
 * schemas (OffsetCommitKey, GroupMetadataKey, OffsetCommitValue,
 * GroupMetadataValue), never produced by our encoder, so the encoder is
 * checked against an independent reading of the format. Truncation sweeps
 * decode every prefix from a heap copy of exactly that size, so ASan
 * reports any read past the end. The expected hashes come from Java's
 * String.hashCode computed separately (python, over UTF-16 code units). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/brk_offsets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static kp_str_t S(const char *s)
{
    kp_str_t v = {s, -1};
    if (s)
        v.len = (int32_t)strlen(s);
    return v;
}

static void assert_str(kp_str_t got, const char *want)
{
    if (!want) {
        assert_true(got.p == NULL && got.len == -1);
        return;
    }
    assert_non_null(got.p);
    assert_int_equal(got.len, (int32_t)strlen(want));
    if (got.len > 0)
        assert_memory_equal(got.p, want, strlen(want));
}

static void assert_bytes(kp_bytes_t got, const char *want)
{
    assert_int_equal(got.len, (int32_t)strlen(want));
    if (got.len > 0)
        assert_memory_equal(got.p, want, strlen(want));
}

/* The encoder's output, flattened, must be exactly want. */
static void assert_written(kp_wr_t *w, const uint8_t *want, size_t len)
{
    uint8_t *out = NULL;
    size_t out_len = 0;
    assert_int_equal(kp_wr_flatten(w, &out, &out_len), 0);
    assert_int_equal(out_len, len);
    assert_memory_equal(out, want, len);
    mem_free(out);
}

/* ---- fixtures, by hand ---- */

/* Laid out one field per line, so clang-format stays out. */
/* clang-format off */

/* Offset commit key v1: group "g1", topic "t", partition 3. */
static const uint8_t KEY_OFFSET_V1[] = {
    0x00, 0x01,             /* version 1 */
    0x00, 0x02, 'g', '1',   /* group */
    0x00, 0x01, 't',        /* topic */
    0x00, 0x00, 0x00, 0x03, /* partition */
};
/* The same as version 0 (the layouts are identical). */
static const uint8_t KEY_OFFSET_V0[] = {
    0x00, 0x00,             /* version 0 */
    0x00, 0x02, 'g', '1',   /* group */
    0x00, 0x01, 't',        /* topic */
    0x00, 0x00, 0x00, 0x03, /* partition */
};
/* Group metadata key v2: group "g1". */
static const uint8_t KEY_GROUP_V2[] = {
    0x00, 0x02,             /* version 2 */
    0x00, 0x02, 'g', '1',   /* group */
};

#define OFFSET_BYTES 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
#define COMMIT_TS    0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00
#define EXPIRE_TS    0x00, 0x00, 0x01, 0x8b, 0xd5, 0x0b, 0xc4, 0x00
#define OFFSET_VAL 0x0102030405LL
#define COMMIT_VAL 0x18bcfe56800LL
#define EXPIRE_VAL 0x18bd50bc400LL

/* Offset commit values: offset 0x0102030405, metadata "md", commit
 * timestamp 0x18bcfe56800 (ms); v1 expires at 0x18bd50bc400, v3 has
 * leader epoch 7. */
static const uint8_t OVAL_V0[] = {
    0x00, 0x00,             /* version 0 */
    OFFSET_BYTES,           /* offset */
    0x00, 0x02, 'm', 'd',   /* metadata */
    COMMIT_TS,              /* commit timestamp */
};
static const uint8_t OVAL_V1[] = {
    0x00, 0x01,             /* version 1 */
    OFFSET_BYTES,           /* offset */
    0x00, 0x02, 'm', 'd',   /* metadata */
    COMMIT_TS,              /* commit timestamp */
    EXPIRE_TS,              /* expire timestamp (version 1 only) */
};
static const uint8_t OVAL_V2[] = {
    0x00, 0x02,             /* version 2 */
    OFFSET_BYTES,           /* offset */
    0x00, 0x02, 'm', 'd',   /* metadata */
    COMMIT_TS,              /* commit timestamp */
};
static const uint8_t OVAL_V3[] = {
    0x00, 0x03,             /* version 3 */
    OFFSET_BYTES,           /* offset */
    0x00, 0x00, 0x00, 0x07, /* leader epoch */
    0x00, 0x02, 'm', 'd',   /* metadata */
    COMMIT_TS,              /* commit timestamp */
};
/* Version 3 with empty metadata and no leader epoch (-1): what a commit
 * without metadata is stored as. */
static const uint8_t OVAL_V3_EMPTY[] = {
    0x00, 0x03,             /* version 3 */
    OFFSET_BYTES,           /* offset */
    0xff, 0xff, 0xff, 0xff, /* leader epoch -1 */
    0x00, 0x00,             /* metadata "" */
    COMMIT_TS,              /* commit timestamp */
};

/* Group metadata values: protocol type "consumer", generation 5, protocol
 * "range", leader "m1", one member "m1" (client "c", host "/h", session
 * 10000 = 0x2710, rebalance 30000 = 0x7530, subscription "Sx",
 * assignment "A"); v2+ carry state timestamp COMMIT_TS, v3 instance id
 * "i1". */
#define GHEAD                                                         \
    0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', /* type */    \
    0x00, 0x00, 0x00, 0x05,                 /* generation */          \
    0x00, 0x05, 'r', 'a', 'n', 'g', 'e',    /* protocol */            \
    0x00, 0x02, 'm', '1'                    /* leader */
#define ONE_MEMBER 0x00, 0x00, 0x00, 0x01   /* member count */
#define MID        0x00, 0x02, 'm', '1'     /* member id */
#define INST       0x00, 0x02, 'i', '1'     /* group instance id */
#define CLIENT     0x00, 0x01, 'c',         /* client id */           \
                   0x00, 0x02, '/', 'h'     /* client host */
#define REBAL      0x00, 0x00, 0x75, 0x30   /* rebalance timeout */
#define SESSION    0x00, 0x00, 0x27, 0x10   /* session timeout */
#define SUB_ASSIGN 0x00, 0x00, 0x00, 0x02, 'S', 'x', /* subscription */ \
                   0x00, 0x00, 0x00, 0x01, 'A'       /* assignment */

static const uint8_t GVAL_V0[] = {
    0x00, 0x00, GHEAD,
    ONE_MEMBER, MID, CLIENT, SESSION, SUB_ASSIGN,
};
static const uint8_t GVAL_V1[] = {
    0x00, 0x01, GHEAD,
    ONE_MEMBER, MID, CLIENT, REBAL, SESSION, SUB_ASSIGN,
};
static const uint8_t GVAL_V2[] = {
    0x00, 0x02, GHEAD, COMMIT_TS,
    ONE_MEMBER, MID, CLIENT, REBAL, SESSION, SUB_ASSIGN,
};
static const uint8_t GVAL_V3[] = {
    0x00, 0x03, GHEAD, COMMIT_TS,
    ONE_MEMBER, MID, INST, CLIENT, REBAL, SESSION, SUB_ASSIGN,
};
/* Version 3 of an Empty group, as Kafka writes one: no protocol, no
 * leader, no members, generation 6. */
static const uint8_t GVAL_V3_EMPTY[] = {
    0x00, 0x03,                                         /* version 3 */
    0x00, 0x08, 'c', 'o', 'n', 's', 'u', 'm', 'e', 'r', /* type */
    0x00, 0x00, 0x00, 0x06,                             /* generation */
    0xff, 0xff,                                         /* protocol null */
    0xff, 0xff,                                         /* leader null */
    COMMIT_TS,                                          /* state time */
    0x00, 0x00, 0x00, 0x00,                             /* no members */
};
/* Version 3, two members: after the static leader, a dynamic one
 * (instance id null, empty host, subscription and assignment). */
static const uint8_t GVAL_V3_TWO[] = {
    0x00, 0x03, GHEAD, COMMIT_TS,
    0x00, 0x00, 0x00, 0x02,                 /* member count */
    MID, INST, CLIENT, REBAL, SESSION, SUB_ASSIGN,
    0x00, 0x02, 'm', '2',                   /* member id */
    0xff, 0xff,                             /* group instance id null */
    0x00, 0x01, 'd',                        /* client id */
    0x00, 0x00,                             /* client host "" */
    0x00, 0x00, 0x17, 0x70,                 /* rebalance timeout 6000 */
    0x00, 0x00, 0x17, 0x70,                 /* session timeout 6000 */
    0x00, 0x00, 0x00, 0x00,                 /* subscription */
    0x00, 0x00, 0x00, 0x00,                 /* assignment */
};

/* clang-format on */

/* Decodes every proper prefix of a fixture from an exact-size heap copy:
 * each must fail with -EPROTO (and, under ASan, without reading past the
 * copy). A trailing byte must fail too. */
typedef int (*decode_fn)(const uint8_t *p, size_t len, mem_pool_t *pool);

static int dec_key(const uint8_t *p, size_t len, mem_pool_t *pool)
{
    brk_okey_t k;
    (void)pool;
    return brk_okey_decode(p, len, &k);
}

static int dec_oval(const uint8_t *p, size_t len, mem_pool_t *pool)
{
    brk_ovalue_t v;
    (void)pool;
    return brk_ovalue_decode(p, len, &v);
}

static int dec_gval(const uint8_t *p, size_t len, mem_pool_t *pool)
{
    grp_image_t img;
    int rc = brk_gvalue_decode(p, len, pool, &img);
    if (rc < 0) {
        assert_int_equal(img.n_members, 0);
        assert_null(img.members);
    }
    return rc;
}

static void sweep(decode_fn fn, const uint8_t *fix, size_t len)
{
    mem_pool_t *pool = mem_pool_new(0, 0);
    uint8_t *buf;
    assert_non_null(pool);
    for (size_t n = 0; n < len; n++) {
        buf = malloc(n ? n : 1);
        assert_non_null(buf);
        memcpy(buf, fix, n);
        assert_int_equal(fn(n ? buf : NULL, n, pool), -EPROTO);
        free(buf);
    }
    buf = malloc(len + 1);
    assert_non_null(buf);
    memcpy(buf, fix, len);
    assert_int_equal(fn(buf, len, pool), 0);
    buf[len] = 0;
    assert_int_equal(fn(buf, len + 1, pool), -EPROTO);
    free(buf);
    mem_pool_free(pool);
}

/* ---- keys ---- */

static void test_key_vectors(void **state)
{
    brk_okey_t k;
    kp_wr_t w;
    (void)state;
    assert_int_equal(brk_okey_decode(KEY_OFFSET_V1, sizeof(KEY_OFFSET_V1), &k),
                     0);
    assert_int_equal(k.kind, BRK_OKEY_OFFSET);
    assert_str(k.group, "g1");
    assert_str(k.topic, "t");
    assert_int_equal(k.partition, 3);
    assert_int_equal(brk_okey_decode(KEY_OFFSET_V0, sizeof(KEY_OFFSET_V0), &k),
                     0);
    assert_int_equal(k.kind, BRK_OKEY_OFFSET);
    assert_str(k.group, "g1");
    assert_str(k.topic, "t");
    assert_int_equal(k.partition, 3);
    assert_int_equal(brk_okey_decode(KEY_GROUP_V2, sizeof(KEY_GROUP_V2), &k),
                     0);
    assert_int_equal(k.kind, BRK_OKEY_GROUP);
    assert_str(k.group, "g1");

    kp_wr_init(&w, 0);
    brk_okey_offset_encode(&w, S("g1"), S("t"), 3);
    assert_written(&w, KEY_OFFSET_V1, sizeof(KEY_OFFSET_V1));
    kp_wr_reset(&w);
    brk_okey_group_encode(&w, S("g1"));
    assert_written(&w, KEY_GROUP_V2, sizeof(KEY_GROUP_V2));
    kp_wr_fini(&w);
}

static void test_key_errors(void **state)
{
    brk_okey_t k;
    /* Key version 3 (a newer group protocol's record), -1, and a null
     * group or topic. */
    static const uint8_t v3[] = {0x00, 0x03, 0x00, 0x02, 'g', '1'};
    static const uint8_t vneg[] = {0xff, 0xff, 0x00, 0x02, 'g', '1'};
    static const uint8_t null_group[] = {0x00, 0x02, 0xff, 0xff};
    static const uint8_t null_topic[] = {0x00, 0x01, 0x00, 0x01, 'g', 0xff,
                                         0xff, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t bad_len[] = {0x00, 0x02, 0xff, 0xfe};
    (void)state;
    assert_int_equal(brk_okey_decode(v3, sizeof(v3), &k), -EPROTO);
    assert_int_equal(brk_okey_decode(vneg, sizeof(vneg), &k), -EPROTO);
    assert_int_equal(brk_okey_decode(null_group, sizeof(null_group), &k),
                     -EPROTO);
    assert_int_equal(brk_okey_decode(null_topic, sizeof(null_topic), &k),
                     -EPROTO);
    assert_int_equal(brk_okey_decode(bad_len, sizeof(bad_len), &k), -EPROTO);
    sweep(dec_key, KEY_OFFSET_V1, sizeof(KEY_OFFSET_V1));
    sweep(dec_key, KEY_OFFSET_V0, sizeof(KEY_OFFSET_V0));
    sweep(dec_key, KEY_GROUP_V2, sizeof(KEY_GROUP_V2));
}

/* Keys with any bytes (a topic name is ASCII, but a group id is any
 * string) survive encode → decode. */
static void test_key_round_trip(void **state)
{
    kp_wr_t w;
    uint8_t *out;
    size_t len;
    brk_okey_t k;
    char big[400];
    kp_str_t group = {"g\0\xff", 3};
    (void)state;
    memset(big, 'x', sizeof(big));
    kp_str_t topic = {big, (int32_t)sizeof(big)};
    kp_wr_init(&w, 0);
    brk_okey_offset_encode(&w, group, topic, INT32_MAX);
    assert_int_equal(kp_wr_flatten(&w, &out, &len), 0);
    assert_int_equal(brk_okey_decode(out, len, &k), 0);
    assert_int_equal(k.kind, BRK_OKEY_OFFSET);
    assert_int_equal(k.group.len, 3);
    assert_memory_equal(k.group.p, "g\0\xff", 3);
    assert_int_equal(k.topic.len, (int32_t)sizeof(big));
    assert_memory_equal(k.topic.p, big, sizeof(big));
    assert_int_equal(k.partition, INT32_MAX);
    mem_free(out);
    kp_wr_reset(&w);
    brk_okey_group_encode(&w, S(""));
    assert_int_equal(kp_wr_flatten(&w, &out, &len), 0);
    assert_int_equal(brk_okey_decode(out, len, &k), 0);
    assert_int_equal(k.kind, BRK_OKEY_GROUP);
    assert_int_equal(k.group.len, 0);
    mem_free(out);
    kp_wr_fini(&w);
}

/* ---- offset commit values ---- */

static void check_oval(const uint8_t *p, size_t len, int32_t epoch,
                       int64_t expire)
{
    brk_ovalue_t v;
    assert_int_equal(brk_ovalue_decode(p, len, &v), 0);
    assert_int_equal(v.offset, OFFSET_VAL);
    assert_int_equal(v.leader_epoch, epoch);
    assert_str(v.metadata, "md");
    assert_int_equal(v.commit_ts, COMMIT_VAL);
    assert_int_equal(v.expire_ts, expire);
}

static void test_ovalue_vectors(void **state)
{
    brk_ovalue_t v;
    kp_wr_t w;
    (void)state;
    check_oval(OVAL_V0, sizeof(OVAL_V0), -1, -1);
    check_oval(OVAL_V1, sizeof(OVAL_V1), -1, EXPIRE_VAL);
    check_oval(OVAL_V2, sizeof(OVAL_V2), -1, -1);
    check_oval(OVAL_V3, sizeof(OVAL_V3), 7, -1);
    assert_int_equal(
        brk_ovalue_decode(OVAL_V3_EMPTY, sizeof(OVAL_V3_EMPTY), &v), 0);
    assert_str(v.metadata, "");
    assert_int_equal(v.leader_epoch, -1);

    kp_wr_init(&w, 0);
    v = (brk_ovalue_t){.offset = OFFSET_VAL,
                       .leader_epoch = 7,
                       .metadata = S("md"),
                       .commit_ts = COMMIT_VAL,
                       .expire_ts = EXPIRE_VAL}; /* not in version 3 */
    brk_ovalue_encode(&w, &v);
    assert_written(&w, OVAL_V3, sizeof(OVAL_V3));
    /* Null metadata is stored as "", as Kafka stores it. */
    kp_wr_reset(&w);
    v = (brk_ovalue_t){.offset = OFFSET_VAL,
                       .leader_epoch = -1,
                       .metadata = {NULL, -1},
                       .commit_ts = COMMIT_VAL,
                       .expire_ts = -1};
    brk_ovalue_encode(&w, &v);
    assert_written(&w, OVAL_V3_EMPTY, sizeof(OVAL_V3_EMPTY));
    kp_wr_fini(&w);
}

static void test_ovalue_errors(void **state)
{
    brk_ovalue_t v;
    uint8_t buf[sizeof(OVAL_V3)];
    (void)state;
    /* Unknown versions: 4 (flexible, not written by the Kafka versions we
     * follow) and negative. */
    memcpy(buf, OVAL_V3, sizeof(buf));
    buf[1] = 4;
    assert_int_equal(brk_ovalue_decode(buf, sizeof(buf), &v), -EPROTO);
    buf[0] = 0xff;
    buf[1] = 0xff;
    assert_int_equal(brk_ovalue_decode(buf, sizeof(buf), &v), -EPROTO);
    /* A value that is a tombstone (no bytes) is the caller's to spot:
     * decoding it is an error, never a zero record. */
    assert_int_equal(brk_ovalue_decode(NULL, 0, &v), -EPROTO);
    /* Version 0 bytes labelled version 1 are missing the expiry. */
    memcpy(buf, OVAL_V0, sizeof(OVAL_V0));
    buf[1] = 1;
    assert_int_equal(brk_ovalue_decode(buf, sizeof(OVAL_V0), &v), -EPROTO);
    sweep(dec_oval, OVAL_V0, sizeof(OVAL_V0));
    sweep(dec_oval, OVAL_V1, sizeof(OVAL_V1));
    sweep(dec_oval, OVAL_V2, sizeof(OVAL_V2));
    sweep(dec_oval, OVAL_V3, sizeof(OVAL_V3));
    sweep(dec_oval, OVAL_V3_EMPTY, sizeof(OVAL_V3_EMPTY));
}

static void test_ovalue_round_trip(void **state)
{
    static const int64_t offsets[] = {0, 1, INT64_MAX, -1};
    kp_wr_t w;
    (void)state;
    kp_wr_init(&w, 0);
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        char meta[300];
        uint8_t *out;
        size_t len;
        brk_ovalue_t in = {0}, v;
        memset(meta, 'a' + (int)i, sizeof(meta));
        meta[7] = 0; /* any bytes */
        in.offset = offsets[i];
        in.leader_epoch = (int32_t)i - 1;
        in.metadata.p = meta;
        in.metadata.len = (int32_t)(i * 100);
        in.commit_ts = 1700000000000LL + (int64_t)i;
        kp_wr_reset(&w);
        brk_ovalue_encode(&w, &in);
        assert_int_equal(kp_wr_flatten(&w, &out, &len), 0);
        assert_int_equal(brk_ovalue_decode(out, len, &v), 0);
        assert_int_equal(v.offset, in.offset);
        assert_int_equal(v.leader_epoch, in.leader_epoch);
        assert_int_equal(v.metadata.len, in.metadata.len);
        if (in.metadata.len)
            assert_memory_equal(v.metadata.p, meta, (size_t)in.metadata.len);
        assert_int_equal(v.commit_ts, in.commit_ts);
        assert_int_equal(v.expire_ts, -1);
        mem_free(out);
    }
    kp_wr_fini(&w);
}

/* ---- group metadata values ---- */

static void check_member(const grp_image_member_t *m, const char *instance,
                         int32_t rebalance)
{
    assert_str(m->member_id, "m1");
    assert_str(m->instance_id, instance);
    assert_str(m->client_id, "c");
    assert_str(m->client_host, "/h");
    assert_int_equal(m->rebalance_timeout_ms, rebalance);
    assert_int_equal(m->session_timeout_ms, 10000);
    assert_bytes(m->subscription, "Sx");
    assert_bytes(m->assignment, "A");
}

static void check_head(const grp_image_t *img, int64_t state_ts)
{
    assert_str(img->protocol_type, "consumer");
    assert_int_equal(img->generation, 5);
    assert_str(img->protocol, "range");
    assert_str(img->leader, "m1");
    assert_int_equal(img->state_ts, state_ts);
}

static void test_gvalue_vectors(void **state)
{
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    (void)state;
    assert_non_null(pool);

    assert_int_equal(brk_gvalue_decode(GVAL_V0, sizeof(GVAL_V0), pool, &img),
                     0);
    check_head(&img, -1);
    assert_int_equal(img.n_members, 1);
    /* v0 had one timeout: it is the rebalance timeout too. */
    check_member(&img.members[0], NULL, 10000);

    assert_int_equal(brk_gvalue_decode(GVAL_V1, sizeof(GVAL_V1), pool, &img),
                     0);
    check_head(&img, -1);
    assert_int_equal(img.n_members, 1);
    check_member(&img.members[0], NULL, 30000);

    assert_int_equal(brk_gvalue_decode(GVAL_V2, sizeof(GVAL_V2), pool, &img),
                     0);
    check_head(&img, COMMIT_VAL);
    assert_int_equal(img.n_members, 1);
    check_member(&img.members[0], NULL, 30000);

    assert_int_equal(brk_gvalue_decode(GVAL_V3, sizeof(GVAL_V3), pool, &img),
                     0);
    check_head(&img, COMMIT_VAL);
    assert_int_equal(img.n_members, 1);
    check_member(&img.members[0], "i1", 30000);

    assert_int_equal(
        brk_gvalue_decode(GVAL_V3_EMPTY, sizeof(GVAL_V3_EMPTY), pool, &img), 0);
    assert_str(img.protocol_type, "consumer");
    assert_int_equal(img.generation, 6);
    assert_str(img.protocol, NULL);
    assert_str(img.leader, NULL);
    assert_int_equal(img.state_ts, COMMIT_VAL);
    assert_int_equal(img.n_members, 0);

    assert_int_equal(
        brk_gvalue_decode(GVAL_V3_TWO, sizeof(GVAL_V3_TWO), pool, &img), 0);
    check_head(&img, COMMIT_VAL);
    assert_int_equal(img.n_members, 2);
    check_member(&img.members[0], "i1", 30000);
    assert_str(img.members[1].member_id, "m2");
    assert_str(img.members[1].instance_id, NULL);
    assert_str(img.members[1].client_id, "d");
    assert_str(img.members[1].client_host, "");
    assert_int_equal(img.members[1].rebalance_timeout_ms, 6000);
    assert_int_equal(img.members[1].session_timeout_ms, 6000);
    assert_bytes(img.members[1].subscription, "");
    assert_bytes(img.members[1].assignment, "");
    mem_pool_free(pool);
}

static void test_gvalue_encode(void **state)
{
    grp_image_member_t m[2] = {
        {
            .member_id = S("m1"),
            .instance_id = S("i1"),
            .client_id = S("c"),
            .client_host = S("/h"),
            .rebalance_timeout_ms = 30000,
            .session_timeout_ms = 10000,
            .subscription = {(const uint8_t *)"Sx", 2},
            .assignment = {(const uint8_t *)"A", 1},
        },
        {
            .member_id = S("m2"),
            .instance_id = {NULL, -1},
            .client_id = S("d"),
            .client_host = S(""),
            .rebalance_timeout_ms = 6000,
            .session_timeout_ms = 6000,
            .subscription = {NULL, -1}, /* written as empty */
            .assignment = {NULL, 0},
        },
    };
    grp_image_t img = {
        .protocol_type = S("consumer"),
        .generation = 5,
        .protocol = S("range"),
        .leader = S("m1"),
        .state_ts = COMMIT_VAL,
        .n_members = 1,
        .members = m,
    };
    grp_image_t empty = {
        .protocol_type = S("consumer"),
        .generation = 6,
        .protocol = {NULL, -1},
        .leader = {NULL, -1},
        .state_ts = COMMIT_VAL,
    };
    kp_wr_t w;
    (void)state;
    kp_wr_init(&w, 0);
    brk_gvalue_encode(&w, &img);
    assert_written(&w, GVAL_V3, sizeof(GVAL_V3));
    kp_wr_reset(&w);
    img.n_members = 2;
    brk_gvalue_encode(&w, &img);
    assert_written(&w, GVAL_V3_TWO, sizeof(GVAL_V3_TWO));
    kp_wr_reset(&w);
    brk_gvalue_encode(&w, &empty);
    assert_written(&w, GVAL_V3_EMPTY, sizeof(GVAL_V3_EMPTY));
    kp_wr_fini(&w);
}

static void test_gvalue_errors(void **state)
{
    mem_pool_t *pool = mem_pool_new(0, 0);
    grp_image_t img;
    uint8_t buf[sizeof(GVAL_V3_TWO)];
    size_t count_at = 2 + 10 + 4 + 7 + 4 + 8; /* member count in v3 */
    (void)state;
    assert_non_null(pool);
    memcpy(buf, GVAL_V3, sizeof(GVAL_V3));
    buf[1] = 4;
    assert_int_equal(brk_gvalue_decode(buf, sizeof(GVAL_V3), pool, &img),
                     -EPROTO);
    assert_int_equal(brk_gvalue_decode(NULL, 0, pool, &img), -EPROTO);
    /* A member count the bytes cannot hold is refused before allocating. */
    memcpy(buf, GVAL_V3, sizeof(GVAL_V3));
    assert_int_equal(buf[count_at + 3], 1);
    buf[count_at] = 0x7f;
    assert_int_equal(brk_gvalue_decode(buf, sizeof(GVAL_V3), pool, &img),
                     -EPROTO);
    /* A null member count, and a null member id. */
    memcpy(buf, GVAL_V3, sizeof(GVAL_V3));
    memset(buf + count_at, 0xff, 4);
    assert_int_equal(brk_gvalue_decode(buf, sizeof(GVAL_V3), pool, &img),
                     -EPROTO);
    memcpy(buf, GVAL_V3, sizeof(GVAL_V3));
    memset(buf + count_at + 4, 0xff, 2);
    assert_int_equal(brk_gvalue_decode(buf, sizeof(GVAL_V3), pool, &img),
                     -EPROTO);
    /* Two members claimed, one there. */
    memcpy(buf, GVAL_V3, sizeof(GVAL_V3));
    buf[count_at + 3] = 2;
    assert_int_equal(brk_gvalue_decode(buf, sizeof(GVAL_V3), pool, &img),
                     -EPROTO);
    mem_pool_free(pool);
    sweep(dec_gval, GVAL_V0, sizeof(GVAL_V0));
    sweep(dec_gval, GVAL_V1, sizeof(GVAL_V1));
    sweep(dec_gval, GVAL_V2, sizeof(GVAL_V2));
    sweep(dec_gval, GVAL_V3, sizeof(GVAL_V3));
    sweep(dec_gval, GVAL_V3_EMPTY, sizeof(GVAL_V3_EMPTY));
    sweep(dec_gval, GVAL_V3_TWO, sizeof(GVAL_V3_TWO));
}

/* A pool too small for the members array: -ENOMEM, not -EPROTO. */
static void test_gvalue_pool_exhausted(void **state)
{
    mem_pool_t *pool = mem_pool_new(64, 16);
    grp_image_t img;
    (void)state;
    assert_non_null(pool);
    assert_int_equal(
        brk_gvalue_decode(GVAL_V3_TWO, sizeof(GVAL_V3_TWO), pool, &img),
        -ENOMEM);
    /* No members needs no memory. */
    assert_int_equal(
        brk_gvalue_decode(GVAL_V3_EMPTY, sizeof(GVAL_V3_EMPTY), pool, &img), 0);
    mem_pool_free(pool);
}

static void test_gvalue_round_trip(void **state)
{
    enum { N = 20 };
    grp_image_member_t m[N];
    char ids[N][16], subs[N][600];
    mem_pool_t *pool = mem_pool_new(0, 0);
    kp_wr_t w;
    uint8_t *out;
    size_t len;
    grp_image_t in, img;
    (void)state;
    assert_non_null(pool);
    memset(m, 0, sizeof(m));
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], sizeof(ids[i]), "member-%d", i);
        memset(subs[i], i, sizeof(subs[i]));
        m[i].member_id = S(ids[i]);
        m[i].instance_id = i % 2 ? S(ids[i] + 7) : (kp_str_t){NULL, -1};
        m[i].client_id = S("client");
        m[i].client_host = S("/10.0.0.1");
        m[i].rebalance_timeout_ms = 1000 * i;
        m[i].session_timeout_ms = 100 * i + 6000;
        m[i].subscription.p = (const uint8_t *)subs[i];
        m[i].subscription.len = 30 * i;
        m[i].assignment.p = (const uint8_t *)subs[i];
        m[i].assignment.len = N - i;
    }
    in = (grp_image_t){
        .protocol_type = S("consumer"),
        .generation = INT32_MAX,
        .protocol = S("cooperative-sticky"),
        .leader = S(ids[3]),
        .state_ts = -1,
        .n_members = N,
        .members = m,
    };
    kp_wr_init(&w, 0);
    brk_gvalue_encode(&w, &in);
    assert_int_equal(kp_wr_flatten(&w, &out, &len), 0);
    assert_int_equal(brk_gvalue_decode(out, len, pool, &img), 0);
    assert_str(img.protocol_type, "consumer");
    assert_int_equal(img.generation, INT32_MAX);
    assert_str(img.protocol, "cooperative-sticky");
    assert_str(img.leader, ids[3]);
    assert_int_equal(img.state_ts, -1);
    assert_int_equal(img.n_members, N);
    for (int i = 0; i < N; i++) {
        const grp_image_member_t *d = &img.members[i];
        assert_str(d->member_id, ids[i]);
        assert_str(d->instance_id, i % 2 ? ids[i] + 7 : NULL);
        assert_str(d->client_id, "client");
        assert_str(d->client_host, "/10.0.0.1");
        assert_int_equal(d->rebalance_timeout_ms, 1000 * i);
        assert_int_equal(d->session_timeout_ms, 100 * i + 6000);
        assert_int_equal(d->subscription.len, 30 * i);
        if (i)
            assert_memory_equal(d->subscription.p, subs[i], 30 * (size_t)i);
        assert_int_equal(d->assignment.len, N - i);
        assert_memory_equal(d->assignment.p, subs[i], (size_t)(N - i));
    }
    mem_free(out);
    kp_wr_fini(&w);
    mem_pool_free(pool);
}

/* ---- offset table ---- */

typedef struct seen {
    int n;
    char topic[64][16];
    int32_t part[64];
    int64_t offset[64];
    int stop_after; /* return 99 after this many; 0: never */
} seen_t;

static int collect(void *arg, kp_str_t topic, int32_t partition,
                   const brk_ocommit_t *c)
{
    seen_t *s = arg;
    assert_true(s->n < 64);
    snprintf(s->topic[s->n], sizeof(s->topic[0]), "%.*s", (int)topic.len,
             topic.p);
    s->part[s->n] = partition;
    s->offset[s->n] = c->offset;
    s->n++;
    return s->stop_after && s->n == s->stop_after ? 99 : 0;
}

static brk_ocommit_t commit(int64_t offset, const char *meta)
{
    brk_ocommit_t c = {
        .offset = offset,
        .leader_epoch = -1,
        .metadata = (char *)meta,
        .metadata_len = meta ? (int32_t)strlen(meta) : -1,
        .commit_ts = 1000 + offset,
        .expire_ts = -1,
    };
    return c;
}

static void test_otable_basic(void **state)
{
    brk_otable_t *t = brk_otable_new();
    const brk_ocommit_t *c;
    brk_ocommit_t in;
    char meta[8];
    seen_t s;
    (void)state;
    assert_non_null(t);
    assert_int_equal(brk_otable_count(t), 0);
    assert_null(brk_otable_get(t, S("a"), 0));
    assert_false(brk_otable_del(t, S("a"), 0));
    assert_false(brk_otable_has_topic(t, S("a")));
    memset(&s, 0, sizeof(s));
    assert_int_equal(brk_otable_each(t, collect, &s), 0);
    assert_int_equal(s.n, 0);

    /* The metadata is copied: the caller's buffer may change after. */
    snprintf(meta, sizeof(meta), "hello");
    in = commit(10, meta);
    in.leader_epoch = 4;
    in.expire_ts = 77;
    assert_int_equal(brk_otable_put(t, S("orders"), 2, &in), 0);
    meta[0] = 'J';
    c = brk_otable_get(t, S("orders"), 2);
    assert_non_null(c);
    assert_int_equal(c->offset, 10);
    assert_int_equal(c->leader_epoch, 4);
    assert_int_equal(c->commit_ts, 1010);
    assert_int_equal(c->expire_ts, 77);
    assert_int_equal(c->metadata_len, 5);
    assert_string_equal(c->metadata, "hello");
    assert_null(brk_otable_get(t, S("orders"), 1));
    assert_null(brk_otable_get(t, S("order"), 2));
    assert_null(brk_otable_get(t, S("orders2"), 2));
    assert_true(brk_otable_has_topic(t, S("orders")));
    assert_false(brk_otable_has_topic(t, S("order")));

    /* Replacing: null metadata, then metadata with a NUL inside. */
    in = commit(11, NULL);
    assert_int_equal(brk_otable_put(t, S("orders"), 2, &in), 0);
    assert_int_equal(brk_otable_count(t), 1);
    c = brk_otable_get(t, S("orders"), 2);
    assert_int_equal(c->offset, 11);
    assert_null(c->metadata);
    assert_int_equal(c->metadata_len, -1);
    in = commit(12, NULL);
    in.metadata = "a\0b";
    in.metadata_len = 3;
    assert_int_equal(brk_otable_put(t, S("orders"), 2, &in), 0);
    c = brk_otable_get(t, S("orders"), 2);
    assert_int_equal(c->metadata_len, 3);
    assert_memory_equal(c->metadata, "a\0b", 4);
    in = commit(13, "");
    assert_int_equal(brk_otable_put(t, S("orders"), 2, &in), 0);
    c = brk_otable_get(t, S("orders"), 2);
    assert_non_null(c->metadata);
    assert_int_equal(c->metadata_len, 0);

    /* Deleting the last partition of a topic removes the topic. */
    assert_true(brk_otable_del(t, S("orders"), 2));
    assert_false(brk_otable_del(t, S("orders"), 2));
    assert_int_equal(brk_otable_count(t), 0);
    assert_false(brk_otable_has_topic(t, S("orders")));
    assert_null(brk_otable_get(t, S("orders"), 2));
    brk_otable_free(t);
    brk_otable_free(NULL);
}

/* Entries inserted in a scrambled order come out by topic name (bytes,
 * shorter first) then partition, and deleting keeps the order. */
static void test_otable_order(void **state)
{
    static const char *topics[] = {"b", "a", "ab", "B", "", "aa", "a-1"};
    static const char *sorted[] = {"", "B", "a", "a-1", "aa", "ab", "b"};
    enum { NT = 7, NP = 5 };
    brk_otable_t *t = brk_otable_new();
    seen_t s;
    int k = 0;
    (void)state;
    assert_non_null(t);
    /* Partitions 4, 1, 3, 0, 2 of each topic, interleaved across topics
     * (and partition -1 as a key like any other is not used here). */
    for (int step = 0; step < NP; step++) {
        int32_t p = (int32_t)((step * 3 + 4) % NP);
        for (int i = 0; i < NT; i++) {
            brk_ocommit_t c = commit(100 * i + p, "m");
            assert_int_equal(brk_otable_put(t, S(topics[i]), p, &c), 0);
        }
    }
    assert_int_equal(brk_otable_count(t), NT * NP);
    memset(&s, 0, sizeof(s));
    assert_int_equal(brk_otable_each(t, collect, &s), 0);
    assert_int_equal(s.n, NT * NP);
    for (int i = 0; i < NT; i++) {
        for (int32_t p = 0; p < NP; p++, k++) {
            assert_string_equal(s.topic[k], sorted[i]);
            assert_int_equal(s.part[k], p);
        }
    }
    for (int i = 0; i < NT; i++)
        assert_true(brk_otable_has_topic(t, S(topics[i])));

    /* fn's non-zero return stops the walk and is returned. */
    memset(&s, 0, sizeof(s));
    s.stop_after = 3;
    assert_int_equal(brk_otable_each(t, collect, &s), 99);
    assert_int_equal(s.n, 3);

    /* Delete the middle partition of every topic and all of "a". */
    for (int i = 0; i < NT; i++)
        assert_true(brk_otable_del(t, S(topics[i]), 2));
    for (int32_t p = 0; p < NP; p++)
        if (p != 2)
            assert_true(brk_otable_del(t, S("a"), p));
    assert_false(brk_otable_has_topic(t, S("a")));
    assert_int_equal(brk_otable_count(t), (NT - 1) * (NP - 1));
    memset(&s, 0, sizeof(s));
    assert_int_equal(brk_otable_each(t, collect, &s), 0);
    k = 0;
    for (int i = 0; i < NT; i++) {
        if (!strcmp(sorted[i], "a"))
            continue;
        for (int32_t p = 0; p < NP; p++) {
            if (p == 2)
                continue;
            assert_string_equal(s.topic[k], sorted[i]);
            assert_int_equal(s.part[k], p);
            k++;
        }
    }
    assert_int_equal(k, s.n);
    brk_otable_free(t);
}

/* Many partitions of many topics: every entry found, count right, and the
 * walk ordered (checked pairwise). */
typedef struct walk {
    char last_topic[32];
    int32_t last_part;
    size_t n;
} walk_t;

static int check_order(void *arg, kp_str_t topic, int32_t partition,
                       const brk_ocommit_t *c)
{
    walk_t *w = arg;
    char name[32];
    snprintf(name, sizeof(name), "%.*s", (int)topic.len, topic.p);
    if (w->n) {
        int cmp = strcmp(w->last_topic, name);
        assert_true(cmp < 0 || (cmp == 0 && w->last_part < partition));
    }
    assert_int_equal(c->offset, partition * 7);
    snprintf(w->last_topic, sizeof(w->last_topic), "%s", name);
    w->last_part = partition;
    w->n++;
    return 0;
}

static void test_otable_many(void **state)
{
    enum { NT = 37, NP = 101 };
    brk_otable_t *t = brk_otable_new();
    walk_t w;
    char name[32];
    (void)state;
    assert_non_null(t);
    for (int k = 0; k < NT * NP; k++) {
        /* A scrambled but complete walk over (topic, partition). */
        int idx = (int)(((long)k * 7919) % (NT * NP));
        int ti = idx / NP;
        int32_t p = idx % NP;
        brk_ocommit_t c = commit(p * 7, NULL);
        snprintf(name, sizeof(name), "topic-%d", (ti * 13) % NT);
        assert_int_equal(brk_otable_put(t, S(name), p, &c), 0);
    }
    assert_int_equal(brk_otable_count(t), NT * NP);
    for (int ti = 0; ti < NT; ti++) {
        snprintf(name, sizeof(name), "topic-%d", ti);
        for (int32_t p = 0; p < NP; p++) {
            const brk_ocommit_t *c = brk_otable_get(t, S(name), p);
            assert_non_null(c);
            assert_int_equal(c->offset, p * 7);
        }
    }
    memset(&w, 0, sizeof(w));
    assert_int_equal(brk_otable_each(t, check_order, &w), 0);
    assert_int_equal(w.n, NT * NP);
    brk_otable_free(t);
}

/* ---- group → partition ---- */

static int32_t part_of(const char *id, int32_t n)
{
    return brk_group_partition(id, strlen(id), n);
}

static void test_group_partition(void **state)
{
    (void)state;
    /* Java: "my-group".hashCode() = -1906497762; Utils.abs gives
     * 1906497762, and 1906497762 % 50 = 12. (h & 0x7fffffff would give
     * 36: the wrong partition.) */
    assert_int_equal(part_of("my-group", 50), 12);
    assert_int_equal(part_of("my-group", 1), 0);
    /* 627841412 % 50; 158455506 % 50; 97 % 50; 101807910 % 50 */
    assert_int_equal(part_of("test-group", 50), 12);
    assert_int_equal(part_of("console-consumer-12345", 50), 6);
    assert_int_equal(part_of("a", 50), 47);
    assert_int_equal(part_of("kafka", 50), 10);
    assert_int_equal(part_of("group-1", 50), 49);
    assert_int_equal(part_of("", 50), 0);
    /* "polygenelubricants".hashCode() is Integer.MIN_VALUE: Utils.abs
     * makes it 0. */
    assert_int_equal(part_of("polygenelubricants", 50), 0);
    assert_int_equal(part_of("polygenelubricants", 7), 0);
    /* "Aa" and "BB" collide in Java (2112): same partition. */
    assert_int_equal(part_of("Aa", 50), 2112 % 50);
    assert_int_equal(part_of("BB", 50), 2112 % 50);
    /* Non-ASCII ids hash over UTF-16 as Java does: "gröup" (ö = U+00F6,
     * two UTF-8 bytes) is 98758982; "g😀" (U+1F600, a surrogate pair
     * D83D DE00) is 1871882. */
    assert_int_equal(part_of("gr\xc3\xb6up", 1000), 98758982 % 1000);
    assert_int_equal(part_of("g\xf0\x9f\x98\x80", 1000), 1871882 % 1000);
    /* Malformed UTF-8 counts as U+FFFD: 'g' then one replacement for a
     * stray continuation byte, and one for a truncated sequence. */
    assert_int_equal(part_of("g\x80", 100000), (31 * 103 + 0xfffd) % 100000);
    assert_int_equal(part_of("g\xe2\x82", 100000),
                     (31 * 103 + 0xfffd) % 100000);
    /* A surrogate encoded in UTF-8 (ED A0 80) is one U+FFFD, and an
     * overlong form (E0 80 ..) one per byte. */
    assert_int_equal(part_of("\xed\xa0\x80", 100000), 0xfffd % 100000);
    assert_int_equal(part_of("\xe0\x80\x80", 1000000000),
                     (int32_t)((0xfffdu * 31 + 0xfffd) * 31 + 0xfffd) %
                         1000000000);
    /* An id with a NUL byte hashes over all its bytes. */
    assert_int_equal(brk_group_partition("a\0", 2, 100000), (97 * 31) % 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_vectors),
        cmocka_unit_test(test_key_errors),
        cmocka_unit_test(test_key_round_trip),
        cmocka_unit_test(test_ovalue_vectors),
        cmocka_unit_test(test_ovalue_errors),
        cmocka_unit_test(test_ovalue_round_trip),
        cmocka_unit_test(test_gvalue_vectors),
        cmocka_unit_test(test_gvalue_encode),
        cmocka_unit_test(test_gvalue_errors),
        cmocka_unit_test(test_gvalue_pool_exhausted),
        cmocka_unit_test(test_gvalue_round_trip),
        cmocka_unit_test(test_otable_basic),
        cmocka_unit_test(test_otable_order),
        cmocka_unit_test(test_otable_many),
        cmocka_unit_test(test_group_partition),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
