/* The partition log: append/read/roll against an in-memory model of every
 * batch written, index lookups for every offset, KIP-74, time lookups,
 * crash recovery with injected damage, clean reopen, sync from another
 * thread, retention, refcounted slices, and a failed append rolled back.
 * Each test works in its own mkdtemp directory, removed afterwards.
 *
 * The whole group runs once per write mode (log.io.mode): every mode must
 * give the same answers from the same files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"
#include "tests/unit/test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/log.h"
#include "storage/tier.h"

/* ---- batches ---- */

/* ---- the model: every batch the log should hold, in order ---- */

static char tmpdir[256], pdir[300];
/* The write mode of the group being run (main). */
static log_io_mode_t io_mode = LOG_IO_PWRITE;

/* Drops model batches from index k on (the log lost them). */
static void model_truncate(size_t k)
{
    M.n = k;
    M.len = k ? M.pos[k - 1] + M.size[k - 1] : 0;
    M.next = k ? M.last[k - 1] + 1 : 0;
}

/* The model batch holding offset (or the first after it). */
typedef int (*recs_fn)(int i);
typedef size_t (*vsize_fn)(int i);
typedef int64_t (*ts_fn)(int i);

static int64_t ts_step(int i)
{
    return 1000 + 10 * (int64_t)i;
}

static int batch_counter;

/* Appends `count` batches through log_assign_offsets + log_append, with
 * `per_iov` batches in each separately allocated iovec. */
static void append_n(log_t *log, int count, int per_iov, recs_fn recs,
                     vsize_fn vs, ts_fn ts)
{
    size_t cap = 0, len = 0, *sizes = calloc((size_t)count, sizeof(size_t));
    struct iovec *iov = calloc((size_t)count, sizeof(*iov));
    log_batches_summary_t sum;
    uint8_t *blob;
    int i, niov = 0;
    size_t off = 0;

    for (i = 0; i < count; i++)
        cap += batch_bound(recs(batch_counter + i), vs(batch_counter + i));
    blob = malloc(cap);
    for (i = 0; i < count; i++) {
        int k = batch_counter + i;
        sizes[i] = build_batch(blob + len, recs(k), vs(k), ts(k));
        len += sizes[i];
    }
    batch_counter += count;
    assert_int_equal(log_batches_validate(blob, len, &sum), 0);
    assert_int_equal(sum.batches, count);
    assert_int_equal(log_assign_offsets(log, blob, len), M.next);
    assert_int_equal(log_next_offset(log), M.next + sum.records);
    for (i = 0; i < count; i += per_iov) {
        int j, k = ST_MIN(per_iov, count - i);
        size_t n = 0;
        for (j = 0; j < k; j++)
            n += sizes[i + j];
        iov[niov].iov_base = malloc(n);
        memcpy(iov[niov].iov_base, blob + off, n);
        iov[niov].iov_len = n;
        niov++;
        off += n;
    }
    assert_int_equal(log_append(log, iov, niov), 0);
    off = 0;
    for (i = 0; i < count; i++) {
        model_add(blob + off, sizes[i]);
        off += sizes[i];
    }
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(log_next_offset(log), M.next);
    for (i = 0; i < niov; i++)
        free(iov[i].iov_base);
    free(iov);
    free(sizes);
    free(blob);
}

/* The cold tier's directory of the test running, "" when none. */
static char cdir[400];

static bool seg_file_exists(int64_t base)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%020lld.log", pdir, (long long)base);
    if (access(path, F_OK) == 0)
        return true;
    snprintf(path, sizeof(path), "%s/%020lld.log", cdir, (long long)base);
    return cdir[0] && access(path, F_OK) == 0;
}

/* One read, checked against the model; returns the offset after it. */
static int64_t check_read(log_t *log, int64_t offset, size_t max_bytes)
{
    log_slice_t s;
    size_t k, j, endpos;
    uint8_t *buf;
    int rc = log_read(log, offset, max_bytes, &s);

    assert_int_equal(rc, 0);
    if (offset == log_end_offset(log)) {
        assert_int_equal(s.len, 0);
        assert_null(s.ref);
        return offset;
    }
    k = model_find(offset);
    assert_true(k < M.n);
    assert_true(s.len >= M.size[k]);
    if (M.size[k] > max_bytes)
        assert_int_equal(s.len, M.size[k]); /* KIP-74 */
    else
        assert_true(s.len <= max_bytes);
    buf = malloc(s.len);
    assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
    assert_memory_equal(buf, M.bytes + M.pos[k], s.len);
    free(buf);
    /* Whole batches: the slice ends where a model batch ends. */
    endpos = M.pos[k] + s.len;
    for (j = k; j < M.n && M.pos[j] + M.size[j] < endpos; j++)
        ;
    assert_true(j < M.n && M.pos[j] + M.size[j] == endpos);
    /* Maximal within its segment: a next batch that would have fit must
     * start a new segment. */
    if (j + 1 < M.n && s.len + M.size[j + 1] <= max_bytes)
        assert_true(seg_file_exists(M.base[j + 1]));
    /* The offset to read on from: after the slice's last batch. */
    assert_int_equal(s.next_offset, M.last[j] + 1);
    mem_unref(s.ref);
    return M.last[j] + 1;
}

/* Reads everything from the start in max_bytes steps, comparing. */
static void check_read_all(log_t *log, size_t max_bytes)
{
    int64_t off = log_start_offset(log);

    while (off < log_end_offset(log))
        off = check_read(log, off, max_bytes);
    assert_int_equal(off, M.next);
}

static void check_every_offset(log_t *log)
{
    static const size_t maxes[] = {1, 200, 1500, 5000, 1 << 20};
    int64_t off;
    size_t m;
    log_slice_t s;

    for (off = log_start_offset(log); off <= log_end_offset(log); off++)
        for (m = 0; m < ST_ARRAY_LEN(maxes); m++)
            check_read(log, off, maxes[m]);
    assert_int_equal(log_read(log, log_end_offset(log) + 1, 100, &s), -ERANGE);
    assert_int_equal(log_read(log, log_start_offset(log) - 1, 100, &s),
                     -ERANGE);
    assert_int_equal(log_read(log, -5, 100, &s), -ERANGE);
}

/* ---- fixtures ---- */

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/strata-test-storage-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(pdir, sizeof(pdir), "%s/topic-0", tmpdir);
    cdir[0] = 0;
    model_reset();
    batch_counter = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_reset();
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static log_config_t small_cfg(void)
{
    log_config_t c;
    log_config_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    c.io_mode = io_mode;
    return c;
}

static log_t *open_log(const log_config_t *c, bool recover)
{
    log_t *log = NULL;
    assert_int_equal(log_open(pdir, c, recover, &log), 0);
    assert_non_null(log);
    return log;
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void seg_name(char *out, size_t n, int64_t base, const char *ext)
{
    snprintf(out, n, "%s/%020lld%s", pdir, (long long)base, ext);
}

/* The active segment's file holds len bytes of log: exactly, except in the
 * mmap mode, which preallocates past them (zeros) until sealed or closed. */
static void check_active_len(const char *path, size_t len)
{
    off_t size = file_size(path);
    uint8_t buf[4096];
    int fd;

    if (io_mode != LOG_IO_MMAP) {
        assert_int_equal(size, (off_t)len);
        return;
    }
    assert_true(size >= (off_t)len);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    for (off_t pos = (off_t)len; pos < size;) {
        ssize_t n = pread(fd, buf, sizeof(buf), pos);
        assert_true(n > 0);
        for (ssize_t i = 0; i < n; i++)
            assert_int_equal(buf[i], 0);
        pos += n;
    }
    close(fd);
}

/* ---- tests ---- */

static void test_empty(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    log_slice_t s;
    int64_t ts;

    (void)state;
    /* /tmp takes every mode: nothing falls back. */
    assert_int_equal(log_effective_io_mode(log), io_mode);
    assert_int_equal(log_start_offset(log), 0);
    assert_int_equal(log_end_offset(log), 0);
    assert_int_equal(log_read(log, 0, 100, &s), 0);
    assert_int_equal(s.len, 0);
    assert_int_equal(log_read(log, 1, 100, &s), -ERANGE);
    assert_int_equal(log_offset_for_time(log, 0, &ts), -1);
    assert_int_equal(log_append(log, NULL, 0), 0);
    log_close(log);
    log = open_log(&c, true);
    assert_int_equal(log_end_offset(log), 0);
    log_close(log);
}

/* Checks every .index entry of the segment at base against the .log:
 * Kafka's meaning, the last offset of the batch at that position. */
static void check_index_file(int64_t base)
{
    char path[512];
    uint8_t e[8], h[LOG_BATCH_HEADER_SIZE];
    int fd, lfd, n = 0;

    seg_name(path, sizeof(path), base, ".index");
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    seg_name(path, sizeof(path), base, ".log");
    lfd = open(path, O_RDONLY);
    while (read(fd, e, 8) == 8) {
        uint32_t rel = st_be32(e), pos = st_be32(e + 4);
        assert_int_equal(pread(lfd, h, sizeof(h), pos), (ssize_t)sizeof(h));
        assert_int_equal(log_batch_base_offset(h) +
                             log_batch_last_offset_delta(h),
                         base + rel);
        n++;
    }
    assert_true(n > 0);
    close(fd);
    close(lfd);
}

static void test_append_read_roll(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    int round;

    (void)state;
    for (round = 0; round < 12; round++)
        append_n(log, 1 + round * 4, 1 + round % 4, recs_var, vsize_var,
                 ts_step);
    assert_true(log_segment_count(log) > 10);
    assert_int_equal(log_size_bytes(log), (int64_t)M.len);
    check_every_offset(log);
    check_read_all(log, 1);
    check_read_all(log, 3000);
    check_read_all(log, 1 << 30);
    log_close(log);

    /* Clean reopen: sealed segments load lazily, same answers. */
    check_index_file(0);
    log = open_log(&c, false);
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(log_start_offset(log), 0);
    check_every_offset(log);
    append_n(log, 20, 3, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);

    /* And through a full recovery, which rebuilds the same state. */
    log = open_log(&c, true);
    assert_int_equal(log_end_offset(log), M.next);
    check_every_offset(log);
    log_close(log);
}

static size_t vsize_big(int i)
{
    return 500 + (size_t)(i % 3) * 1000;
}
static int recs_one(int i)
{
    (void)i;
    return 1;
}

static void test_kip74(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    size_t i;

    (void)state;
    c.segment_bytes = 1 << 20;
    log = open_log(&c, false);
    append_n(log, 30, 2, recs_one, vsize_big, ts_step);
    for (i = 0; i < M.n; i++) {
        log_slice_t s;
        assert_int_equal(log_read(log, M.base[i], 10, &s), 0);
        assert_int_equal(s.pos, (int64_t)M.pos[i]);
        assert_int_equal(s.len, M.size[i]);
        mem_unref(s.ref);
        /* Exactly two batches fit. */
        assert_int_equal(log_read(log, M.base[i], M.size[i] + 1, &s), 0);
        assert_int_equal(s.len, M.size[i]);
        mem_unref(s.ref);
        if (i + 1 < M.n) {
            assert_int_equal(
                log_read(log, M.base[i], M.size[i] + M.size[i + 1], &s), 0);
            assert_int_equal(s.len, M.size[i] + M.size[i + 1]);
            mem_unref(s.ref);
        }
    }
    check_every_offset(log);
    log_close(log);
}

static void check_times(log_t *log)
{
    int64_t q;

    for (q = 900; q <= ts_step((int)M.n) + 20; q += 3) {
        int64_t found = -7, want = -1, got;
        size_t k;
        for (k = 0; k < M.n; k++)
            if (M.ts[k] >= q && M.last[k] >= log_start_offset(log)) {
                want = ST_MAX(M.base[k], log_start_offset(log));
                break;
            }
        got = log_offset_for_time(log, q, &found);
        assert_int_equal(got, want);
        if (want >= 0)
            assert_int_equal(found, M.ts[k]);
    }
}

static void test_offset_for_time(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);

    (void)state;
    append_n(log, 100, 7, recs_var, vsize_var, ts_step);
    append_n(log, 100, 3, recs_var, vsize_var, ts_step);
    assert_true(log_segment_count(log) > 3);
    check_times(log);
    log_close(log);
    log = open_log(&c, false);
    check_times(log);
    assert_int_equal(log_delete_records(log, M.base[57] + 1), 0);
    check_times(log);
    log_close(log);
}

static void corrupt_file(const char *path, off_t pos, uint8_t xor)
{
    int fd = open(path, O_RDWR);
    uint8_t b;
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &b, 1, pos), 1);
    b ^= xor;
    assert_int_equal(pwrite(fd, &b, 1, pos), 1);
    close(fd);
}

/* Builds a log of one segment, closes it, lets `damage` hurt the .log,
 * reopens with the given recovery mode and checks that the log ends at
 * the last good batch and takes appends at the right offset. */
static void torn_case(void (*damage)(const char *path), bool recover,
                      size_t keep)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log;

    c.segment_bytes = 1 << 20;
    log = open_log(&c, false);
    append_n(log, 40, 5, recs_var, vsize_var, ts_step);
    log_close(log);
    seg_name(path, sizeof(path), 0, ".log");
    damage(path);
    log = open_log(&c, recover);
    model_truncate(keep);
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(file_size(path), (off_t)M.len);
    check_every_offset(log);
    append_n(log, 5, 2, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, false);
    assert_int_equal(log_end_offset(log), M.next);
    check_every_offset(log);
    log_close(log);
}

static void cut_mid_batch(const char *path)
{
    assert_int_equal(truncate(path, (off_t)(M.pos[39] + M.size[39] / 2)), 0);
}
static void cut_mid_header(const char *path)
{
    assert_int_equal(truncate(path, (off_t)(M.pos[39] + 30)), 0);
}
static void add_garbage(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    uint8_t junk[777];
    size_t i;
    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 131 + 7);
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
}
static void add_zeros(const char *path)
{
    assert_int_equal(truncate(path, (off_t)M.len + 4096), 0);
}
static void flip_last_crc(const char *path)
{
    corrupt_file(path, (off_t)(M.pos[39] + M.size[39] - 1), 0x10);
}
static void flip_crc_field(const char *path)
{
    corrupt_file(path, (off_t)(M.pos[38] + LOG_BATCH_OFF_CRC + 2), 0x01);
}

static void test_recover_torn(void **state)
{
    (void)state;
    torn_case(cut_mid_batch, true, 39);
}
static void test_recover_torn_header(void **state)
{
    (void)state;
    torn_case(cut_mid_header, true, 39);
}
static void test_recover_garbage(void **state)
{
    (void)state;
    torn_case(add_garbage, true, 40);
}
static void test_recover_zeros(void **state)
{
    (void)state;
    torn_case(add_zeros, true, 40);
}
static void test_recover_crc(void **state)
{
    (void)state;
    torn_case(flip_last_crc, true, 39);
}
static void test_recover_crc_field(void **state)
{
    (void)state;
    torn_case(flip_crc_field, true, 38);
}
/* Without recovery, the structural check of the tail still cuts a tear. */
static void test_clean_open_torn(void **state)
{
    (void)state;
    torn_case(cut_mid_batch, false, 39);
}
static void test_clean_open_garbage(void **state)
{
    (void)state;
    torn_case(add_zeros, false, 40);
}

/* A crash (the files as a kill -9 leaves them: no index for the active
 * segment, no checkpoint) is simulated by copying the directory of a log
 * that is still open. */
static void test_recover_crash_copy(void **state)
{
    log_config_t c = small_cfg();
    char cmd[1024], copy[320];
    log_t *log = open_log(&c, false), *log2;

    log_sync_t *s;

    (void)state;
    append_n(log, 150, 4, recs_var, vsize_var, ts_step);
    /* A sync records a recovery point: only later segments are scanned. */
    s = log_sync_prepare(log);
    assert_non_null(s);
    assert_int_equal(log_sync_run(s), 0);
    log_sync_finish(log, s);
    append_n(log, 50, 4, recs_var, vsize_var, ts_step);
    snprintf(copy, sizeof(copy), "%s/copy-0", tmpdir);
    snprintf(cmd, sizeof(cmd), "cp -r %s %s", pdir, copy);
    assert_int_equal(system(cmd), 0);
    log_close(log);
    log_destroy(open_log(&c, false));
    assert_int_equal(rename(copy, pdir), 0);
    log2 = open_log(&c, true);
    assert_int_equal(log_end_offset(log2), M.next);
    assert_true(log_durable_offset(log2) > 0);
    check_every_offset(log2);
    check_times(log2);
    log_close(log2);
}

/* Damage in a sealed segment found by a full recovery cuts the log there
 * and drops the segments after it. */
static void test_recover_middle_segment(void **state)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log = open_log(&c, false);
    size_t k, nsegs;

    (void)state;
    append_n(log, 120, 4, recs_var, vsize_var, ts_step);
    nsegs = log_segment_count(log);
    assert_true(nsegs > 5);
    log_close(log);
    /* The 3rd segment begins at the first batch whose file exists after
     * the first two; damage its second batch. */
    for (k = 1; !seg_file_exists(M.base[k]); k++)
        ;
    for (k = k + 1; !seg_file_exists(M.base[k]); k++)
        ;
    seg_name(path, sizeof(path), M.base[k], ".log");
    corrupt_file(path, (off_t)(M.pos[k + 1] - M.pos[k] + 70), 0xff);
    snprintf(path, sizeof(path), "%s/strata-checkpoint", pdir);
    assert_int_equal(unlink(path), 0);
    log = open_log(&c, true);
    model_truncate(k + 1);
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(log_segment_count(log), 3);
    check_every_offset(log);
    append_n(log, 30, 4, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);
}

/* A lost or wrong index is rebuilt from the .log. */
static void test_bad_index(void **state)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log;
    int fd;

    (void)state;
    c.segment_bytes = 1 << 20;
    log = open_log(&c, false);
    append_n(log, 200, 4, recs_var, vsize_var, ts_step);
    log_close(log);
    seg_name(path, sizeof(path), 0, ".index");
    fd = open(path, O_WRONLY);
    assert_int_equal(pwrite(fd, "\0\0\0\x05\0\0\0\x07", 8, 8 * 3), 8);
    close(fd);
    log = open_log(&c, false);
    check_every_offset(log);
    log_close(log);
    check_index_file(0);
    assert_int_equal(unlink(path), 0);
    seg_name(path, sizeof(path), 0, ".timeindex");
    assert_int_equal(unlink(path), 0);
    log = open_log(&c, false);
    check_every_offset(log);
    check_times(log);
    log_close(log);
    check_index_file(0);
}

static void *sync_thread(void *arg)
{
    return (void *)(intptr_t)log_sync_run(arg);
}

static void test_sync_thread(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    log_sync_t *s;
    pthread_t th;
    void *ret;
    int i;

    (void)state;
    for (i = 0; i < 5; i++) {
        int64_t covered;
        append_n(log, 10, 3, recs_var, vsize_var, ts_step);
        covered = log_end_offset(log);
        s = log_sync_prepare(log);
        assert_non_null(s);
        assert_true(log_sync_pending(log));
        /* Appends may continue while the sync runs. */
        append_n(log, 3, 1, recs_var, vsize_var, ts_step);
        assert_int_equal(pthread_create(&th, NULL, sync_thread, s), 0);
        assert_int_equal(pthread_join(th, &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
        assert_int_equal(log_sync_finish(log, s), covered);
        assert_false(log_sync_pending(log));
    }
    /* Many dirty segments at once (more than a sync holds inline). */
    append_n(log, 150, 5, recs_var, vsize_var, ts_step);
    s = log_sync_prepare(log);
    assert_non_null(s);
    assert_int_equal(log_sync_run(s), 0);
    assert_int_equal(log_sync_finish(log, s), M.next);
    assert_int_equal(log_durable_offset(log), M.next);
    assert_null(log_sync_prepare(log));
    log_close(log);
}

static void test_retention_bytes(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    int64_t start, total;
    size_t before;
    log_slice_t s;
    int n;

    (void)state;
    c.retention_bytes = 10000;
    log = open_log(&c, false);
    append_n(log, 150, 5, recs_var, vsize_var, ts_step);
    before = log_segment_count(log);
    n = log_retention_run(log, 0);
    assert_true(n > 0);
    assert_int_equal(log_segment_count(log), before - (size_t)n);
    total = log_size_bytes(log);
    assert_true(total >= 10000);
    start = log_start_offset(log);
    assert_true(start > 0);
    assert_false(seg_file_exists(0));
    assert_true(seg_file_exists(start));
    assert_int_equal(log_read(log, start - 1, 100, &s), -ERANGE);
    check_every_offset(log);
    assert_int_equal(log_retention_run(log, 0), 0);
    log_close(log);
    /* The start offset survives a restart, clean or not. */
    log = open_log(&c, false);
    assert_int_equal(log_start_offset(log), start);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, true);
    assert_int_equal(log_start_offset(log), start);
    log_close(log);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t ts_old(int i)
{
    return now_ms() - 3 * 3600 * 1000 + i;
}
static int64_t ts_now(int i)
{
    return now_ms() + i;
}

static void test_retention_time(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    size_t segs_old;
    int n;

    (void)state;
    c.retention_ms = 3600 * 1000;
    log = open_log(&c, false);
    append_n(log, 60, 4, recs_var, vsize_var, ts_old);
    segs_old = log_segment_count(log);
    append_n(log, 60, 4, recs_var, vsize_var, ts_now);
    /* Segments holding only old batches go; the one holding the last old
     * batches may also hold new ones. */
    n = log_retention_run(log, now_ms());
    assert_true(n == (int)segs_old - 1 || n == (int)segs_old);
    /* The segment holding both old and new batches stays. */
    assert_true(log_start_offset(log) > 0);
    check_every_offset(log);
    log_close(log);
    /* Everything is old by then; the active segment stays. */
    log = open_log(&c, false);
    n = log_retention_run(log, now_ms() + 10 * 3600 * 1000);
    assert_true(n > 0);
    assert_int_equal(log_segment_count(log), 1);
    check_every_offset(log);
    log_close(log);
}

static void test_delete_records(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    int64_t mid;
    log_slice_t s;

    (void)state;
    append_n(log, 100, 4, recs_var, vsize_var, ts_step);
    mid = M.base[50] + 1;
    assert_int_equal(log_delete_records(log, M.next + 1), -ERANGE);
    assert_int_equal(log_delete_records(log, mid), 0);
    assert_int_equal(log_start_offset(log), mid);
    assert_int_equal(log_read(log, mid - 1, 100, &s), -ERANGE);
    check_read(log, mid, 100);
    assert_int_equal(log_delete_records(log, 3), 0);
    assert_int_equal(log_start_offset(log), mid);
    log_close(log);
    log = open_log(&c, false);
    assert_int_equal(log_start_offset(log), mid);
    check_every_offset(log);
    log_close(log);
}

/* log_scan_batches: collects what the callback saw. */
struct scan_seen {
    size_t n, stop_after;
    int64_t base[4096], ts[4096];
    int32_t delta[4096];
};

static int scan_cb(const log_batch_info_t *info, void *arg)
{
    struct scan_seen *s = arg;
    assert_true(s->n < ST_ARRAY_LEN(s->base));
    s->base[s->n] = info->base_offset;
    s->delta[s->n] = info->last_offset_delta;
    s->ts[s->n] = info->max_ts;
    s->n++;
    return s->n == s->stop_after ? 77 : 0;
}

/* Every batch from the one holding `from` to the end, as the model has
 * them. */
static void check_scan(log_t *log, int64_t from)
{
    static struct scan_seen seen;
    size_t k = model_find(ST_MAX(from, log_start_offset(log)));

    memset(&seen, 0, sizeof(seen));
    assert_int_equal(log_scan_batches(log, from, scan_cb, &seen), 0);
    assert_int_equal(seen.n, M.n - k);
    for (size_t i = 0; i < seen.n; i++) {
        assert_int_equal(seen.base[i], M.base[k + i]);
        assert_int_equal(seen.base[i] + seen.delta[i], M.last[k + i]);
        assert_int_equal(seen.ts[i], M.ts[k + i]);
    }
}

static void test_scan_batches(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    static struct scan_seen seen;

    (void)state;
    check_scan(log, 0); /* empty log */
    append_n(log, 150, 3, recs_var, vsize_var, ts_step);
    assert_true(log_segment_count(log) > 5);
    for (int64_t off = 0; off <= M.next; off++)
        check_scan(log, off);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(log_scan_batches(log, M.next + 1, scan_cb, &seen),
                     -ERANGE);
    assert_int_equal(seen.n, 0);
    /* the callback's non-zero answer stops the scan and is returned */
    seen.stop_after = 10;
    assert_int_equal(log_scan_batches(log, 0, scan_cb, &seen), 77);
    assert_int_equal(seen.n, 10);
    /* reopened (sealed segments opened lazily), and below the start
     * offset after DeleteRecords */
    log_close(log);
    log = open_log(&c, false);
    check_scan(log, 0);
    check_scan(log, M.base[70]);
    assert_int_equal(log_delete_records(log, M.base[40] + 1), 0);
    check_scan(log, 0);
    check_scan(log, M.base[40]);
    check_scan(log, M.base[41]);
    log_close(log);
}

static void test_slice_outlives_destroy(void **state)
{
    log_config_t c = small_cfg();
    log_t *log = open_log(&c, false);
    log_slice_t s, s2;
    uint8_t *buf;

    (void)state;
    append_n(log, 50, 4, recs_var, vsize_var, ts_step);
    assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
    assert_int_equal(log_read(log, M.last[M.n - 1], 1 << 20, &s2), 0);
    assert_int_equal(log_destroy(log), 0);
    assert_int_equal(access(pdir, F_OK), -1);
    buf = malloc(s.len);
    assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
    assert_memory_equal(buf, M.bytes, s.len);
    free(buf);
    mem_unref(s.ref);
    buf = malloc(s2.len);
    assert_int_equal(pread(s2.fd, buf, s2.len, s2.pos), (ssize_t)s2.len);
    free(buf);
    mem_unref(s2.ref);
}

/* A write that fails half way (file size limit) leaves the log as it was,
 * and appends work again afterwards. */
static void test_append_failure(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    struct rlimit old, lim;
    char path[512];
    uint8_t *blob;
    size_t len = 0;
    struct iovec iov;
    int64_t end, first;
    size_t nsegs;
    int i;

    (void)state;
    c.segment_bytes = 20000;
    log = open_log(&c, false);
    append_n(log, 10, 2, recs_var, vsize_var, ts_step);
    end = log_end_offset(log);
    nsegs = log_segment_count(log);
    seg_name(path, sizeof(path), 0, ".log");

    blob = malloc(100 * batch_bound(3, 400));
    for (i = 0; i < 100; i++)
        len += build_batch(blob + len, 3, 400, 5);
    first = log_assign_offsets(log, blob, len);
    assert_int_equal(first, end);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    /* Past what is written, not the file's length: the mmap mode may have
     * preallocated more, and fails when a new segment needs space. */
    lim.rlim_cur = (rlim_t)M.len + 1000;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    iov = (struct iovec){blob, len};
    assert_int_equal(log_append(log, &iov, 1), -EFBIG);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(log_end_offset(log), end);
    assert_int_equal(log_next_offset(log), end);
    assert_int_equal(log_segment_count(log), nsegs);
    check_active_len(path, M.len);
    check_every_offset(log);
    /* Offsets are assigned again; the same bytes then go through. */
    assert_int_equal(log_assign_offsets(log, blob, len), end);
    assert_int_equal(log_append(log, &iov, 1), 0);
    for (i = 0, len = 0; i < 100; i++) {
        size_t sz = (size_t)log_batch_size(blob + len);
        model_add(blob + len, sz);
        len += sz;
    }
    assert_int_equal(log_end_offset(log), M.next);
    assert_true(log_segment_count(log) > nsegs);
    check_every_offset(log);
    free(blob);
    log_close(log);
}

static void test_roll_ms(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    struct timespec d = {0, 400 * 1000000};

    (void)state;
    c.segment_bytes = 1 << 20;
    c.roll_ms = 300;
    log = open_log(&c, false);
    append_n(log, 3, 3, recs_var, vsize_var, ts_step);
    append_n(log, 3, 3, recs_var, vsize_var, ts_step);
    assert_int_equal(log_segment_count(log), 1);
    nanosleep(&d, NULL);
    append_n(log, 3, 3, recs_var, vsize_var, ts_step);
    assert_int_equal(log_segment_count(log), 2);
    assert_true(seg_file_exists(M.base[6]));
    check_every_offset(log);
    log_close(log);
}

static void test_index_full_rolls(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;

    (void)state;
    c.segment_bytes = 1 << 20;
    c.index_interval_bytes = 0; /* an entry for every batch but the first */
    c.index_max_bytes = 8 * 10;
    log = open_log(&c, false);
    append_n(log, 5, 1, recs_var, vsize_var, ts_step);
    append_n(log, 5, 1, recs_var, vsize_var, ts_step);
    append_n(log, 5, 1, recs_var, vsize_var, ts_step);
    assert_int_equal(log_segment_count(log), 3);
    check_every_offset(log);
    log_close(log);
}

static void test_clean_marker(void **state)
{
    (void)state;
    assert_false(log_dir_was_clean(tmpdir));
    assert_int_equal(log_dir_mark_clean(tmpdir, true), 0);
    assert_true(log_dir_was_clean(tmpdir));
    assert_int_equal(log_dir_mark_clean(tmpdir, false), 0);
    assert_false(log_dir_was_clean(tmpdir));
    assert_int_equal(log_dir_mark_clean(tmpdir, false), 0);
}

/* ---- crashes: the files as kill -9 leaves them ---- */

static void sync_log(log_t *log)
{
    log_sync_t *s = log_sync_prepare(log);
    if (s) {
        assert_int_equal(log_sync_run(s), 0);
        log_sync_finish(log, s);
    }
}

/* log_abandon frees the log without closing anything (tier.h), which is
 * what a kill leaves: the page cache holds everything written, the active
 * segment has no index, its length is whatever the mode made it (the
 * mmap mode's preallocation included), no checkpoint for the last roll.
 * Both recovery paths must find every batch. */
static void crash_case(bool recover)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log = open_log(&c, false);
    size_t k;

    append_n(log, 60, 4, recs_var, vsize_var, ts_step);
    sync_log(log);
    /* Unsynced, into a large active segment. */
    log_set_limits(log, &(log_config_t){.segment_bytes = 1 << 20,
                                        .roll_ms = -1,
                                        .retention_ms = -1,
                                        .retention_bytes = -1,
                                        .cold_after_ms = -1,
                                        .local_retention_bytes = -1});
    append_n(log, 30, 3, recs_var, vsize_var, ts_step);
    append_n(log, 1, 1, recs_var, vsize_var, ts_step);
    log_abandon(log);
    log = open_log(&c, recover);
    assert_int_equal(log_end_offset(log), M.next);
    /* The active segment's file ends with its last batch: preallocated
     * zeros were cut as the log's end. */
    for (k = M.n - 1; !seg_file_exists(M.base[k]); k--)
        ;
    seg_name(path, sizeof(path), M.base[k], ".log");
    assert_int_equal(file_size(path), (off_t)(M.len - M.pos[k]));
    check_every_offset(log);
    check_times(log);
    append_n(log, 7, 2, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, false);
    assert_int_equal(log_end_offset(log), M.next);
    check_every_offset(log);
    log_close(log);
}

static void test_crash_recover(void **state)
{
    (void)state;
    crash_case(true);
}

static void test_crash_clean_path(void **state)
{
    (void)state;
    crash_case(false);
}

/* A kill that tore the last write: its batch is cut, and whatever the
 * mode left after it (zeros of the mmap mode's preallocation, in this
 * case past the tear) goes too. */
static void test_crash_torn(void **state)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log;
    size_t k;
    int fd;

    (void)state;
    c.segment_bytes = 1 << 20;
    log = open_log(&c, false);
    append_n(log, 40, 5, recs_var, vsize_var, ts_step);
    log_abandon(log);
    seg_name(path, sizeof(path), 0, ".log");
    /* Half of the last batch never reached the file: zeros, as a crash
     * of any mode may leave (the length grew, the data did not land). */
    k = M.n - 1;
    fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    {
        size_t half = M.size[k] / 2;
        uint8_t *z = calloc(1, M.size[k]);
        assert_int_equal(
            pwrite(fd, z, M.size[k] - half, (off_t)(M.pos[k] + half)),
            (ssize_t)(M.size[k] - half));
        free(z);
    }
    close(fd);
    log = open_log(&c, true);
    model_truncate(k);
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(file_size(path), (off_t)M.len);
    check_every_offset(log);
    append_n(log, 5, 2, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);
}

/* Zeros after a sealed segment's last batch (its cut to length was not
 * durable when the machine died) lose nothing when the next segment
 * starts right after: recovery cuts them and keeps the later segments. */
static void test_zero_tail_sealed(void **state)
{
    log_config_t c = small_cfg();
    char path[512];
    log_t *log = open_log(&c, false);
    size_t nsegs;
    off_t len;

    (void)state;
    append_n(log, 60, 4, recs_var, vsize_var, ts_step);
    nsegs = log_segment_count(log);
    assert_true(nsegs > 3);
    log_close(log);
    seg_name(path, sizeof(path), 0, ".log");
    len = file_size(path);
    assert_int_equal(truncate(path, len + 10000), 0);
    snprintf(path, sizeof(path), "%s/strata-checkpoint", pdir);
    assert_int_equal(unlink(path), 0);
    log = open_log(&c, true);
    assert_int_equal(log_segment_count(log), nsegs);
    assert_int_equal(log_end_offset(log), M.next);
    seg_name(path, sizeof(path), 0, ".log");
    assert_int_equal(file_size(path), len);
    check_every_offset(log);
    log_close(log);
}

/* ---- readers see every append at once, with pread and sendfile ---- */

static void check_sendfile(const log_slice_t *s, const uint8_t *want)
{
    char path[512];
    uint8_t *got = malloc(s->len);
    off_t off = s->pos;
    size_t done = 0;
    int out;

    snprintf(path, sizeof(path), "%s/sendfile.out", tmpdir);
    out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(out >= 0);
    while (done < s->len) {
        ssize_t n = sendfile(out, s->fd, &off, s->len - done);
        assert_true(n > 0);
        done += (size_t)n;
    }
    assert_int_equal(pread(out, got, s->len, 0), (ssize_t)s->len);
    assert_memory_equal(got, want, s->len);
    close(out);
    unlink(path);
    free(got);
}

static size_t vsize_odd(int i)
{
    return 37 + (size_t)(i * 7919 % 5000);
}

/* Appends of every size, most ending inside a 4 KiB block (the direct
 * mode's partial block), each read back at once through the slice's
 * descriptor, with pread and with sendfile. */
static void test_read_after_append(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    int round;

    (void)state;
    c.segment_bytes = 256 << 10;
    log = open_log(&c, false);
    for (round = 0; round < 80; round++) {
        int64_t from = M.next;
        size_t k;
        log_slice_t s;

        append_n(log, 1 + round % 7, 1 + round % 3, recs_var, vsize_odd,
                 ts_step);
        k = model_find(from);
        assert_int_equal(log_read(log, from, 1 << 20, &s), 0);
        assert_int_equal(s.pos + (int64_t)s.len <= (int64_t)(1 << 20), 1);
        check_sendfile(&s, M.bytes + M.pos[k]);
        mem_unref(s.ref);
        check_read(log, from, 1 << 20);
    }
    assert_true(log_segment_count(log) > 2);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, false);
    check_read_all(log, 1 << 20);
    log_close(log);
}

/* ---- the cold tier reads the sealed .log files of every mode ---- */

static void test_cold_move(void **state)
{
    log_config_t c = small_cfg();
    log_move_t *m;
    log_t *log;
    int moved = 0;

    (void)state;
    snprintf(cdir, sizeof(cdir), "%s/cold/topic-0", tmpdir);
    c.cold_dir = cdir;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 80, 4, recs_var, vsize_var, ts_step);
    while ((m = log_move_prepare(log, now_ms())) != NULL) {
        assert_int_equal(log_move_finish(log, m, log_move_run(m)), 0);
        moved++;
    }
    assert_int_equal((size_t)moved + 1, log_segment_count(log));
    check_every_offset(log);
    append_n(log, 10, 3, recs_var, vsize_var, ts_step);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, true);
    check_every_offset(log);
    log_close(log);
}

/* Start-up cost with many small partitions, reopened after a clean
 * close; the bound is loose for slow CI machines, the time is printed. */
static void test_open_many(void **state)
{
    enum { N = 1000 };
    log_config_t c;
    log_t **logs = calloc(N, sizeof(*logs));
    uint8_t b[512];
    size_t len = build_batch(b, 2, 100, 5);
    char dir[400];
    uint64_t t0, t1;
    int i;

    (void)state;
    log_config_default(&c);
    c.io_mode = io_mode;
    for (i = 0; i < N; i++) {
        struct iovec iov = {b, len};
        snprintf(dir, sizeof(dir), "%s/t-%d", tmpdir, i);
        assert_int_equal(log_open(dir, &c, false, &logs[i]), 0);
        log_assign_offsets(logs[i], b, len);
        assert_int_equal(log_append(logs[i], &iov, 1), 0);
    }
    for (i = 0; i < N; i++)
        log_close(logs[i]);
    t0 = st_now_ns();
    for (i = 0; i < N; i++) {
        snprintf(dir, sizeof(dir), "%s/t-%d", tmpdir, i);
        assert_int_equal(log_open(dir, &c, false, &logs[i]), 0);
        assert_int_equal(log_end_offset(logs[i]), 2);
    }
    t1 = st_now_ns();
    fprintf(stderr, "# clean open of %d partitions: %.1f ms\n", N,
            (double)(t1 - t0) / 1e6);
    assert_true(t1 - t0 < 2000000000ull);
    for (i = 0; i < N; i++)
        log_close(logs[i]);
    free(logs);
}

/* Whether a log opened in `mode` keeps it here: the uring modes fall back
 * where the kernel or a container refuses io_uring (the others work on
 * any /tmp). */
static bool mode_works(log_io_mode_t mode)
{
    char dir[] = "/tmp/strata-test-log-probe-XXXXXX";
    log_config_t c;
    log_t *log;
    bool ok;

    assert_non_null(mkdtemp(dir));
    log_config_default(&c);
    c.io_mode = mode;
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    ok = log_effective_io_mode(log) == mode;
    log_close(log);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return ok;
}

int main(void)
{
    static const log_io_mode_t modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP,   LOG_IO_DIRECT,
                                          LOG_IO_URING,  LOG_IO_URING_DIRECT};
    char name[64];
    size_t m;
    int failed = 0;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty),
        T(test_append_read_roll),
        T(test_kip74),
        T(test_offset_for_time),
        T(test_recover_torn),
        T(test_recover_torn_header),
        T(test_recover_garbage),
        T(test_recover_zeros),
        T(test_recover_crc),
        T(test_recover_crc_field),
        T(test_clean_open_torn),
        T(test_clean_open_garbage),
        T(test_recover_crash_copy),
        T(test_recover_middle_segment),
        T(test_bad_index),
        T(test_sync_thread),
        T(test_retention_bytes),
        T(test_retention_time),
        T(test_delete_records),
        T(test_scan_batches),
        T(test_slice_outlives_destroy),
        T(test_append_failure),
        T(test_roll_ms),
        T(test_index_full_rolls),
        T(test_clean_marker),
        T(test_open_many),
        T(test_crash_recover),
        T(test_crash_clean_path),
        T(test_crash_torn),
        T(test_zero_tail_sealed),
        T(test_read_after_append),
        T(test_cold_move),
    };
#undef T
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        io_mode = modes[m];
        if ((io_mode == LOG_IO_URING || io_mode == LOG_IO_URING_DIRECT) &&
            !mode_works(io_mode)) {
            fprintf(stderr, "# io mode %s falls back to pwrite here: skipped\n",
                    log_io_mode_name(io_mode));
            continue;
        }
        snprintf(name, sizeof(name), "log, io mode %s",
                 log_io_mode_name(io_mode));
        failed += cmocka_run_group_tests_name(name, tests, NULL, NULL);
    }
    return failed;
}
