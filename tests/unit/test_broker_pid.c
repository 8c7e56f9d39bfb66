/* Unit tests for broker/brk_pid: every sequence rule of the idempotent
 * producer (new producer, in-sequence, duplicates within the five-batch
 * window and beyond it, gaps, epochs, int32 wrap-around, transactional and
 * control batches), the undo log, replay from the log, expiry, and the
 * snapshot: round trip, every corruption we can think of, and the file
 * helpers in a temporary directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "broker/brk_pid.h"
#include "simd/simd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static brk_pid_table_t T;
static int64_t next_off;

static int setup(void **state)
{
    (void)state;
    brk_pid_init(&T);
    next_off = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    brk_pid_fini(&T);
    return 0;
}

static brk_pid_in_t batch(int64_t pid, int16_t epoch, int32_t seq, int n)
{
    brk_pid_in_t in = {
        .producer_id = pid,
        .epoch = epoch,
        .attributes = 0,
        .base_seq = seq,
        .last_delta = n - 1,
        .base_offset = next_off,
        .max_ts = 1000,
    };
    return in;
}

/* Checks a batch at the next offset; offsets advance when it is taken. */
static brk_pid_verdict_t check(int64_t pid, int16_t epoch, int32_t seq, int n)
{
    brk_pid_in_t in = batch(pid, epoch, seq, n);
    brk_pid_verdict_t v = brk_pid_check(&T, &in);
    if (v.err == KP_ERR_NONE && !v.duplicate)
        next_off += n;
    return v;
}

static void expect_ok(int64_t pid, int16_t epoch, int32_t seq, int n)
{
    brk_pid_verdict_t v = check(pid, epoch, seq, n);
    assert_int_equal(v.err, KP_ERR_NONE);
    assert_false(v.duplicate);
}

static void expect_err(int64_t pid, int16_t epoch, int32_t seq, int n,
                       kp_err_t err)
{
    int64_t before = next_off;
    size_t mark = brk_pid_mark(&T);
    brk_pid_verdict_t v = check(pid, epoch, seq, n);
    assert_int_equal(v.err, err);
    assert_false(v.duplicate);
    assert_int_equal(next_off, before);
    assert_int_equal(brk_pid_mark(&T), mark); /* nothing recorded */
}

static void expect_dup(int64_t pid, int16_t epoch, int32_t seq, int n,
                       int64_t first_off)
{
    size_t mark = brk_pid_mark(&T);
    brk_pid_verdict_t v = check(pid, epoch, seq, n);
    assert_int_equal(v.err, KP_ERR_NONE);
    assert_true(v.duplicate);
    assert_int_equal(v.orig.first_offset, first_off);
    assert_int_equal(v.orig.last_offset, first_off + n - 1);
    assert_int_equal(v.orig.first_seq, seq);
    assert_int_equal(brk_pid_mark(&T), mark);
}

/* ---- rules ---- */

static void test_seq_add(void **state)
{
    (void)state;
    assert_int_equal(brk_pid_seq_add(0, 0), 0);
    assert_int_equal(brk_pid_seq_add(5, 4), 9);
    assert_int_equal(brk_pid_seq_add(INT32_MAX - 1, 1), INT32_MAX);
    assert_int_equal(brk_pid_seq_add(INT32_MAX, 1), 0);
    assert_int_equal(brk_pid_seq_add(INT32_MAX - 1, 3), 1);
    assert_int_equal(brk_pid_seq_add(INT32_MAX, INT32_MAX), INT32_MAX - 1);
}

static void test_not_idempotent(void **state)
{
    brk_pid_in_t in = batch(-1, -1, -1, 3);
    brk_pid_verdict_t v;
    (void)state;
    v = brk_pid_check(NULL, &in); /* no table needed */
    assert_int_equal(v.err, KP_ERR_NONE);
    assert_false(v.duplicate);
    v = brk_pid_check(&T, &in);
    assert_int_equal(v.err, KP_ERR_NONE);
    assert_false(v.duplicate);
    assert_int_equal(brk_pid_count(&T), 0);
    assert_int_equal(brk_pid_mark(&T), 0);
    /* Kafka: any negative producer id means "none" */
    in.producer_id = -7;
    assert_int_equal(brk_pid_check(&T, &in).err, KP_ERR_NONE);
    assert_int_equal(brk_pid_count(&T), 0);
}

static void test_new_producer(void **state)
{
    const brk_pid_entry_t *e;
    (void)state;
    /* unknown producer not starting at 0: its state is gone */
    expect_err(7, 0, 5, 1, KP_ERR_UNKNOWN_PRODUCER_ID);
    assert_null(brk_pid_find(&T, 7));
    expect_ok(7, 0, 0, 3);
    e = brk_pid_find(&T, 7);
    assert_non_null(e);
    assert_int_equal(e->epoch, 0);
    assert_int_equal(e->nbatches, 1);
    assert_int_equal(e->batches[0].first_seq, 0);
    assert_int_equal(e->batches[0].last_seq, 2);
    assert_int_equal(e->batches[0].first_offset, 0);
    assert_int_equal(e->batches[0].last_offset, 2);
    assert_int_equal(e->last_ts, 1000);
    /* a producer whose first batch is not epoch 0 is fine too */
    expect_ok(8, 3, 0, 1);
    assert_int_equal(brk_pid_find(&T, 8)->epoch, 3);
    assert_int_equal(brk_pid_count(&T), 2);
}

static void test_in_sequence(void **state)
{
    (void)state;
    for (int i = 0; i < 20; i++)
        expect_ok(1, 0, i * 10, 10);
    const brk_pid_entry_t *e = brk_pid_find(&T, 1);
    assert_int_equal(e->nbatches, BRK_PID_BATCHES);
    for (int k = 0; k < BRK_PID_BATCHES; k++) {
        int i = 15 + k;
        assert_int_equal(e->batches[k].first_seq, i * 10);
        assert_int_equal(e->batches[k].last_seq, i * 10 + 9);
        assert_int_equal(e->batches[k].first_offset, i * 10);
    }
    /* two producers interleave freely */
    expect_ok(2, 0, 0, 1);
    expect_ok(1, 0, 200, 1);
    expect_ok(2, 0, 1, 1);
}

static void test_gap(void **state)
{
    (void)state;
    expect_ok(1, 0, 0, 5);
    expect_err(1, 0, 6, 1, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER); /* gap */
    expect_err(1, 0, 4, 2, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER); /* overlap */
    expect_err(1, 0, 0, 3, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER); /* not dup */
    expect_ok(1, 0, 5, 1);
}

static void test_duplicate_window(void **state)
{
    int64_t offs[8];
    (void)state;
    for (int i = 0; i < 8; i++) {
        /* unrelated traffic between, so offsets and sequences differ */
        expect_ok(99, 0, i, 1);
        offs[i] = next_off;
        expect_ok(1, 0, i * 3, 3);
    }
    /* the last five are duplicates, answered with their original offsets */
    for (int i = 3; i < 8; i++)
        expect_dup(1, 0, i * 3, 3, offs[i]);
    /* older ones fell out of the window: Kafka says out of order */
    for (int i = 0; i < 3; i++)
        expect_err(1, 0, i * 3, 3, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* same first sequence, different length: not a duplicate */
    expect_err(1, 0, 21, 2, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* a duplicate with another epoch is no duplicate */
    expect_err(1, 1, 21, 3, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    /* and the producer goes on */
    expect_ok(1, 0, 24, 1);
    expect_dup(1, 0, 24, 1, next_off - 1);
}

static void test_epochs(void **state)
{
    const brk_pid_entry_t *e;
    (void)state;
    expect_ok(1, 2, 0, 1);
    expect_ok(1, 2, 1, 1);
    expect_err(1, 1, 2, 1, KP_ERR_INVALID_PRODUCER_EPOCH);
    expect_err(1, 1, 0, 1, KP_ERR_INVALID_PRODUCER_EPOCH);
    /* a new epoch must start at 0 */
    expect_err(1, 3, 2, 1, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect_ok(1, 3, 0, 2);
    e = brk_pid_find(&T, 1);
    assert_int_equal(e->epoch, 3);
    assert_int_equal(e->nbatches, 1); /* the old epoch's batches dropped */
    /* the old epoch is fenced now, duplicates included */
    expect_err(1, 2, 1, 1, KP_ERR_INVALID_PRODUCER_EPOCH);
    expect_ok(1, 3, 2, 1);
    expect_dup(1, 3, 0, 2, e->batches[0].first_offset);
}

static void test_wrap(void **state)
{
    brk_pid_in_t in;
    (void)state;
    /* get close to the end of the sequence space through replay */
    in = batch(1, 0, INT32_MAX - 4, 3); /* INT32_MAX-4 .. INT32_MAX-2 */
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    next_off = 3;
    expect_err(1, 0, INT32_MAX, 1, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect_ok(1, 0, INT32_MAX - 1, 2); /* .. INT32_MAX */
    expect_err(1, 0, 1, 1, KP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER);
    expect_ok(1, 0, 0, 1); /* wraps to 0 */
    expect_ok(1, 0, 1, 1);
    /* a batch spanning the wrap: last sequence wraps too */
    brk_pid_fini(&T);
    brk_pid_init(&T);
    in = batch(1, 0, INT32_MAX - 9, 8); /* .. INT32_MAX - 2 */
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    next_off = 100;
    expect_ok(1, 0, INT32_MAX - 1, 4); /* INT32_MAX-1, MAX, 0, 1 */
    assert_int_equal(brk_pid_find(&T, 1)->batches[1].last_seq, 1);
    expect_dup(1, 0, INT32_MAX - 1, 4, 100);
    expect_ok(1, 0, 2, 1);
}

static void test_transactional_and_control(void **state)
{
    brk_pid_in_t in = batch(1, 0, 0, 1);
    (void)state;
    in.attributes = LOG_BATCH_ATTR_TRANSACTIONAL;
    assert_int_equal(brk_pid_check(&T, &in).err,
                     KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    in.attributes = LOG_BATCH_ATTR_TRANSACTIONAL | LOG_BATCH_ATTR_CONTROL;
    assert_int_equal(brk_pid_check(&T, &in).err,
                     KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED);
    in.attributes = LOG_BATCH_ATTR_CONTROL;
    assert_int_equal(brk_pid_check(&T, &in).err, KP_ERR_CORRUPT_MESSAGE);
    in.attributes = 0;
    in.base_seq = -1; /* a producer id needs a sequence */
    assert_int_equal(brk_pid_check(&T, &in).err, KP_ERR_CORRUPT_MESSAGE);
    assert_int_equal(brk_pid_count(&T), 0);
    /* compression and timestamp bits are fine */
    in = batch(1, 0, 0, 1);
    in.attributes = 4 | LOG_BATCH_ATTR_LOG_APPEND_TIME;
    assert_int_equal(brk_pid_check(&T, &in).err, KP_ERR_NONE);
}

/* ---- undo ---- */

static void test_rollback(void **state)
{
    const brk_pid_entry_t *e;
    size_t mark;
    (void)state;
    expect_ok(1, 0, 0, 1);
    expect_ok(1, 0, 1, 1);
    brk_pid_commit(&T);
    assert_int_equal(brk_pid_mark(&T), 0);

    mark = brk_pid_mark(&T);
    expect_ok(1, 0, 2, 1);
    expect_ok(2, 0, 0, 1); /* new producer */
    expect_ok(1, 1, 0, 1); /* epoch bump */
    assert_int_equal(brk_pid_count(&T), 2);
    brk_pid_rollback(&T, mark);
    assert_int_equal(brk_pid_count(&T), 1);
    assert_null(brk_pid_find(&T, 2));
    e = brk_pid_find(&T, 1);
    assert_int_equal(e->epoch, 0);
    assert_int_equal(e->nbatches, 2);
    assert_int_equal(e->batches[1].last_seq, 1);
    /* the failed batches can be sent again: not duplicates */
    next_off = 2;
    expect_ok(1, 0, 2, 1);

    /* partial rollback keeps what came before the mark */
    mark = brk_pid_mark(&T);
    assert_int_equal(mark, 1);
    expect_ok(1, 0, 3, 1);
    brk_pid_rollback(&T, mark);
    assert_int_equal(brk_pid_find(&T, 1)->batches[2].last_seq, 2);
    assert_int_equal(brk_pid_find(&T, 1)->nbatches, 3);
    brk_pid_rollback(&T, 0);
    assert_int_equal(brk_pid_find(&T, 1)->nbatches, 2);

    /* a full window rolls back to the exact batches it had */
    for (int i = 2; i < 9; i++)
        expect_ok(1, 0, i, 1);
    brk_pid_commit(&T);
    expect_ok(1, 0, 9, 1);
    expect_ok(1, 0, 10, 1);
    brk_pid_rollback(&T, 0);
    e = brk_pid_find(&T, 1);
    assert_int_equal(e->nbatches, 5);
    assert_int_equal(e->batches[0].first_seq, 4);
    assert_int_equal(e->batches[4].first_seq, 8);
    /* rollback after commit changes nothing */
    brk_pid_rollback(&T, 0);
    assert_int_equal(brk_pid_find(&T, 1)->batches[4].first_seq, 8);
}

/* ---- replay and expiry ---- */

static void test_replay(void **state)
{
    brk_pid_in_t in;
    const brk_pid_entry_t *e;
    (void)state;
    /* no checks: a first batch need not start at 0, gaps are taken */
    in = batch(5, 1, 40, 2);
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    in = batch(5, 1, 50, 2);
    in.base_offset = 10;
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    /* older epoch ignored, newer resets */
    in = batch(5, 0, 0, 1);
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    e = brk_pid_find(&T, 5);
    assert_int_equal(e->epoch, 1);
    assert_int_equal(e->nbatches, 2);
    in = batch(5, 2, 0, 1);
    in.base_offset = 12;
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    assert_int_equal(e->epoch, 2);
    assert_int_equal(e->nbatches, 1);
    /* ignored: no producer id, transactional, control */
    in = batch(-1, -1, -1, 1);
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    in = batch(6, 0, 0, 1);
    in.attributes = LOG_BATCH_ATTR_TRANSACTIONAL;
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    in.attributes = LOG_BATCH_ATTR_CONTROL;
    assert_int_equal(brk_pid_replay(&T, &in), 0);
    assert_int_equal(brk_pid_count(&T), 1);
    assert_int_equal(brk_pid_mark(&T), 0); /* replay is not undoable */
    /* and checks continue from the replayed state */
    next_off = 13;
    expect_ok(5, 2, 1, 1);
    expect_dup(5, 2, 0, 1, 12);
}

static void test_expire(void **state)
{
    brk_pid_in_t in;
    (void)state;
    for (int i = 0; i < 100; i++) {
        in = batch(i, 0, 0, 1);
        in.max_ts = i < 30 ? 1000 : 5000;
        assert_int_equal(brk_pid_check(&T, &in).err, KP_ERR_NONE);
    }
    brk_pid_commit(&T);
    assert_int_equal(brk_pid_expire(&T, 5999, 5000), 0); /* 4999 ms */
    assert_int_equal(brk_pid_expire(&T, 6000, 5000), 30);
    assert_int_equal(brk_pid_count(&T), 70);
    assert_null(brk_pid_find(&T, 29));
    assert_non_null(brk_pid_find(&T, 30));
    /* an expired producer is unknown again */
    expect_err(3, 0, 1, 1, KP_ERR_UNKNOWN_PRODUCER_ID);
    assert_int_equal(brk_pid_expire(&T, 10000, 5000), 70);
    assert_int_equal(brk_pid_count(&T), 0);
}

static void test_many_producers(void **state)
{
    (void)state;
    for (int64_t pid = 0; pid < 20000; pid++)
        expect_ok(pid * 7919, 0, 0, 1);
    assert_int_equal(brk_pid_count(&T), 20000);
    for (int64_t pid = 0; pid < 20000; pid++) {
        const brk_pid_entry_t *e = brk_pid_find(&T, pid * 7919);
        assert_non_null(e);
        assert_int_equal(e->batches[0].first_offset, pid);
    }
    assert_null(brk_pid_find(&T, 1));
    brk_pid_rollback(&T, 0);
    assert_int_equal(brk_pid_count(&T), 0);
}

/* ---- snapshot ---- */

/* A table with producers of every window size, epochs and wrapped
 * sequences; offsets end below 10,000. */
static void fill(brk_pid_table_t *t)
{
    brk_pid_in_t in;
    for (int p = 0; p < 40; p++) {
        int n = 1 + p % 7;
        for (int k = 0; k < n; k++) {
            /* producer 5 runs over INT32_MAX */
            int64_t seq = p == 5 ? (int64_t)INT32_MAX - 1 + k : k * 2;
            if (seq > INT32_MAX)
                seq -= (int64_t)INT32_MAX + 1;
            in = (brk_pid_in_t){
                .producer_id = 1000 + p * 13,
                .epoch = (int16_t)(p % 3),
                .base_seq = (int32_t)seq,
                .last_delta = 1,
                .base_offset = p * 200 + k * 2,
                .max_ts = 77 + p,
            };
            assert_int_equal(brk_pid_replay(t, &in), 0);
        }
    }
}

static void assert_tables_equal(const brk_pid_table_t *a,
                                const brk_pid_table_t *b)
{
    assert_int_equal(brk_pid_count(a), brk_pid_count(b));
    for (size_t i = 0; i < a->nbuckets; i++) {
        for (const brk_pid_entry_t *x = a->buckets[i]; x; x = x->next) {
            const brk_pid_entry_t *y = brk_pid_find(b, x->producer_id);
            assert_non_null(y);
            assert_int_equal(x->epoch, y->epoch);
            assert_int_equal(x->last_ts, y->last_ts);
            assert_int_equal(x->nbatches, y->nbatches);
            assert_memory_equal(x->batches, y->batches,
                                sizeof(x->batches[0]) * x->nbatches);
        }
    }
}

static void test_snapshot_roundtrip(void **state)
{
    brk_pid_table_t u;
    uint8_t *buf;
    size_t len;
    int64_t off = -1;
    (void)state;

    /* empty */
    assert_int_equal(brk_pid_snapshot_encode(&T, 0, &buf, &len), 0);
    assert_int_equal(len, 24);
    brk_pid_init(&u);
    assert_int_equal(brk_pid_snapshot_decode(&u, buf, len, &off), 0);
    assert_int_equal(off, 0);
    assert_int_equal(brk_pid_count(&u), 0);
    mem_free(buf);

    fill(&T);
    assert_int_equal(brk_pid_snapshot_encode(&T, 10000, &buf, &len), 0);
    assert_int_equal(st_be32(buf), 0x53545053u);
    assert_int_equal(st_be16(buf + 4), 1);
    assert_int_equal(st_be64(buf + 8), 10000);
    assert_int_equal(st_be32(buf + 16), 40);
    assert_int_equal(st_be32(buf + len - 4), simd_crc32c(0, buf, len - 4));
    assert_int_equal(brk_pid_snapshot_decode(&u, buf, len, &off), 0);
    assert_int_equal(off, 10000);
    assert_tables_equal(&T, &u);
    assert_tables_equal(&u, &T);
    /* the decoded state checks like the original */
    {
        const brk_pid_entry_t *e = brk_pid_find(&u, 1000 + 6 * 13);
        brk_pid_in_t in = {.producer_id = e->producer_id,
                           .epoch = e->epoch,
                           .base_seq = e->batches[e->nbatches - 1].first_seq,
                           .last_delta = 1};
        brk_pid_verdict_t v = brk_pid_check(&u, &in);
        assert_true(v.duplicate);
        assert_int_equal(v.orig.first_offset,
                         e->batches[e->nbatches - 1].first_offset);
    }
    brk_pid_fini(&u);
    mem_free(buf);
}

/* Decoding must fail cleanly and leave the table empty. */
static void expect_bad(const uint8_t *buf, size_t len)
{
    brk_pid_table_t u;
    int64_t off = 12345;
    brk_pid_init(&u);
    assert_int_equal(brk_pid_snapshot_decode(&u, buf, len, &off), -EINVAL);
    assert_int_equal(brk_pid_count(&u), 0);
    assert_int_equal(off, 12345);
    brk_pid_fini(&u);
}

static void reseal(uint8_t *buf, size_t len)
{
    st_put_be32(buf + len - 4, simd_crc32c(0, buf, len - 4));
}

static void test_snapshot_corruption(void **state)
{
    uint8_t *buf, *copy;
    size_t len;
    (void)state;

    fill(&T);
    assert_int_equal(brk_pid_snapshot_encode(&T, 10000, &buf, &len), 0);
    copy = malloc(len + 8);
    /* every truncation */
    for (size_t n = 0; n < len; n++)
        expect_bad(buf, n);
    /* trailing bytes */
    memcpy(copy, buf, len);
    memset(copy + len, 0, 8);
    expect_bad(copy, len + 8);
    /* every single flipped bit is caught (by the CRC at least) */
    for (size_t i = 0; i < len; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(copy, buf, len);
            copy[i] ^= (uint8_t)(1 << bit);
            expect_bad(copy, len);
        }
    }
    /* well-sealed but wrong: version, reserved, count, batch count, a
     * producer twice, offsets past the snapshot, negative values */
    struct {
        size_t at;
        int width;
        uint64_t value;
    } bad[] = {
        {4, 2, 2},                       /* version */
        {6, 2, 1},                       /* reserved */
        {8, 8, (uint64_t)-5},            /* offset < 0 */
        {8, 8, 1},                       /* batches past the offset */
        {16, 4, 41},                     /* one producer too many */
        {16, 4, 39},                     /* one too few: bytes left over */
        {20, 8, (uint64_t)-1},           /* producer id < 0 */
        {30, 1, 0},                      /* batch count 0 */
        {30, 1, 6},                      /* batch count 6 */
        {31, 1, 1},                      /* entry reserved byte */
        {40, 4, (uint64_t)(uint32_t)-3}, /* first sequence < 0 */
        {48, 8, (uint64_t)-2},           /* first offset < 0 */
        {56, 8, (uint64_t)-1},           /* last offset < first */
    };
    for (size_t k = 0; k < ST_ARRAY_LEN(bad); k++) {
        memcpy(copy, buf, len);
        if (bad[k].width == 1)
            copy[bad[k].at] = (uint8_t)bad[k].value;
        else if (bad[k].width == 2)
            st_put_be16(copy + bad[k].at, (uint16_t)bad[k].value);
        else if (bad[k].width == 4)
            st_put_be32(copy + bad[k].at, (uint32_t)bad[k].value);
        else
            st_put_be64(copy + bad[k].at, bad[k].value);
        reseal(copy, len);
        expect_bad(copy, len);
    }
    /* the same producer id twice */
    {
        brk_pid_table_t two;
        uint8_t *b2;
        size_t l2;
        brk_pid_in_t in = {.producer_id = 1, .base_seq = 0};
        brk_pid_init(&two);
        assert_int_equal(brk_pid_replay(&two, &in), 0);
        in.producer_id = 2;
        assert_int_equal(brk_pid_replay(&two, &in), 0);
        assert_int_equal(brk_pid_snapshot_encode(&two, 5, &b2, &l2), 0);
        assert_int_equal(l2, 20 + 2 * 44 + 4);
        st_put_be64(b2 + 20, 7);
        st_put_be64(b2 + 64, 7);
        reseal(b2, l2);
        expect_bad(b2, l2);
        st_put_be64(b2 + 64, 8);
        reseal(b2, l2);
        {
            brk_pid_table_t u;
            int64_t off;
            brk_pid_init(&u);
            assert_int_equal(brk_pid_snapshot_decode(&u, b2, l2, &off), 0);
            assert_int_equal(brk_pid_count(&u), 2);
            brk_pid_fini(&u);
        }
        mem_free(b2);
        brk_pid_fini(&two);
    }
    free(copy);
    mem_free(buf);
}

static void test_snapshot_file(void **state)
{
    char dir[] = "/tmp/strata-test-pid-XXXXXX", path[256];
    uint8_t *buf, *back;
    size_t len, blen;
    int64_t off;
    (void)state;

    assert_non_null(mkdtemp(dir));
    assert_int_equal(brk_pid_snapshot_peek_offset(dir, &off), -ENOENT);
    assert_int_equal(brk_pid_snapshot_read(dir, &back, &blen), -ENOENT);
    assert_int_equal(brk_pid_snapshot_remove(dir), 0);
    fill(&T);
    assert_int_equal(brk_pid_snapshot_encode(&T, 9999, &buf, &len), 0);
    assert_int_equal(brk_pid_snapshot_write(dir, buf, len), 0);
    snprintf(path, sizeof(path), "%s/producer-state.snapshot.tmp", dir);
    assert_int_equal(access(path, F_OK), -1); /* renamed away */
    assert_int_equal(brk_pid_snapshot_peek_offset(dir, &off), 0);
    assert_int_equal(off, 9999);
    assert_int_equal(brk_pid_snapshot_read(dir, &back, &blen), 0);
    assert_int_equal(blen, len);
    assert_memory_equal(back, buf, len);
    mem_free(back);
    /* overwritten by a newer one */
    brk_pid_commit(&T);
    mem_free(buf);
    assert_int_equal(brk_pid_snapshot_encode(&T, 10001, &buf, &len), 0);
    assert_int_equal(brk_pid_snapshot_write(dir, buf, len), 0);
    assert_int_equal(brk_pid_snapshot_peek_offset(dir, &off), 0);
    assert_int_equal(off, 10001);
    /* a file of another kind */
    snprintf(path, sizeof(path), "%s/producer-state.snapshot", dir);
    {
        int fd = open(path, O_WRONLY | O_TRUNC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "garbage garbage garbage", 23), 23);
        close(fd);
    }
    assert_int_equal(brk_pid_snapshot_peek_offset(dir, &off), -EINVAL);
    assert_int_equal(brk_pid_snapshot_remove(dir), 0);
    assert_int_equal(access(path, F_OK), -1);
    mem_free(buf);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T_(test_seq_add),
        T_(test_not_idempotent),
        T_(test_new_producer),
        T_(test_in_sequence),
        T_(test_gap),
        T_(test_duplicate_window),
        T_(test_epochs),
        T_(test_wrap),
        T_(test_transactional_and_control),
        T_(test_rollback),
        T_(test_replay),
        T_(test_expire),
        T_(test_many_producers),
        T_(test_snapshot_roundtrip),
        T_(test_snapshot_corruption),
        T_(test_snapshot_file),
    };
#undef T_
    simd_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
