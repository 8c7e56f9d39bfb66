/* The cold tier: which segments move (by age, by local bytes, never the
 * active one, one move at a time), reads byte-identical before and after
 * moves and reopens, a crash injected between every two steps of a move
 * and of its finish, slices that outlive a move and retention, retention
 * and DeleteRecords across tiers, destroy, the read/write fallback of the
 * copy, a copy that fails its check, and the reconciliation rules of
 * log_open. The log is checked against an in-memory model of every batch
 * written, as in test_storage_log.c. Each test works in its own mkdtemp
 * directory, with the local dir at <tmp>/local/topic-0 and the cold dir at
 * <tmp>/cold/topic-0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"
#include "tests/unit/test_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/log.h"
#include "storage/tier.h"

/* ---- the model (as in test_storage_log.c) ---- */

static char tmpdir[256], pdir[300], cdir[300];

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

typedef int64_t (*ts_fn)(int i);

static int64_t ts_step(int i)
{
    return 1000 + 10 * (int64_t)i;
}
static int64_t ts_old(int i)
{
    return now_ms() - 3 * 3600 * 1000 + i;
}
static int64_t ts_now(int i)
{
    return now_ms() + i;
}

static int batch_counter;

static void append_ts(log_t *log, int count, ts_fn ts)
{
    size_t cap = 0, len = 0, off = 0;
    log_batches_summary_t sum;
    struct iovec iov;
    uint8_t *blob;
    int i;

    for (i = 0; i < count; i++)
        cap += batch_bound(recs_var(batch_counter + i),
                           vsize_var(batch_counter + i));
    blob = malloc(cap);
    for (i = 0; i < count; i++) {
        int k = batch_counter + i;
        len += build_batch(blob + len, recs_var(k), vsize_var(k), ts(k));
    }
    batch_counter += count;
    assert_int_equal(log_batches_validate(blob, len, &sum), 0);
    assert_int_equal(log_assign_offsets(log, blob, len), M.next);
    iov = (struct iovec){blob, len};
    assert_int_equal(log_append(log, &iov, 1), 0);
    while (off < len) {
        size_t sz = (size_t)log_batch_size(blob + off);
        model_add(blob + off, sz);
        off += sz;
    }
    assert_int_equal(log_end_offset(log), M.next);
    free(blob);
}

static void append_n(log_t *log, int count)
{
    append_ts(log, count, ts_step);
}

/* ---- files ---- */

static void seg_name(char *out, size_t n, const char *dir, int64_t base,
                     const char *ext)
{
    snprintf(out, n, "%s/%020lld%s", dir, (long long)base, ext);
}

static bool exists_in(const char *dir, int64_t base, const char *ext)
{
    char path[512];
    seg_name(path, sizeof(path), dir, base, ext);
    return access(path, F_OK) == 0;
}

static bool seg_exists(int64_t base)
{
    return exists_in(pdir, base, ".log") || exists_in(cdir, base, ".log");
}

/* ---- reads against the model ---- */

static int64_t check_read(log_t *log, int64_t offset, size_t max_bytes)
{
    log_slice_t s;
    size_t k, j, endpos;
    uint8_t *buf;

    assert_int_equal(log_read(log, offset, max_bytes, &s), 0);
    if (offset == log_end_offset(log)) {
        assert_int_equal(s.len, 0);
        return offset;
    }
    k = model_find(offset);
    assert_true(k < M.n);
    assert_true(s.len >= M.size[k]);
    if (M.size[k] > max_bytes)
        assert_int_equal(s.len, M.size[k]);
    else
        assert_true(s.len <= max_bytes);
    buf = malloc(s.len);
    assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
    assert_memory_equal(buf, M.bytes + M.pos[k], s.len);
    free(buf);
    endpos = M.pos[k] + s.len;
    for (j = k; j < M.n && M.pos[j] + M.size[j] < endpos; j++)
        ;
    assert_true(j < M.n && M.pos[j] + M.size[j] == endpos);
    if (j + 1 < M.n && s.len + M.size[j + 1] <= max_bytes)
        assert_true(seg_exists(M.base[j + 1]));
    mem_unref(s.ref);
    return M.last[j] + 1;
}

static void check_every_offset(log_t *log)
{
    static const size_t maxes[] = {1, 1500, 1 << 20};
    int64_t off;
    size_t m;

    for (off = log_start_offset(log); off <= log_end_offset(log); off++)
        for (m = 0; m < ST_ARRAY_LEN(maxes); m++)
            check_read(log, off, maxes[m]);
}

static void check_times(log_t *log)
{
    int64_t q;

    for (q = 900; q <= ts_step((int)M.n) + 20; q += 7) {
        int64_t found = -7, want = -1;
        size_t k;
        for (k = 0; k < M.n; k++)
            if (M.ts[k] >= q && M.last[k] >= log_start_offset(log)) {
                want = ST_MAX(M.base[k], log_start_offset(log));
                break;
            }
        assert_int_equal(log_offset_for_time(log, q, &found), want);
        if (want >= 0)
            assert_int_equal(found, M.ts[k]);
    }
}

static int scan_count_cb(const log_batch_info_t *info, void *arg)
{
    size_t *n = arg;
    assert_int_equal(info->base_offset, M.base[*n]);
    (*n)++;
    return 0;
}

static void check_scan(log_t *log)
{
    size_t n = model_find(log_start_offset(log));
    assert_int_equal(log_scan_batches(log, 0, scan_count_cb, &n), 0);
    assert_int_equal(n, M.n);
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

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/strata-test-tier-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(pdir, sizeof(pdir), "%s/local/topic-0", tmpdir);
    snprintf(cdir, sizeof(cdir), "%s/cold/topic-0", tmpdir);
    model_reset();
    batch_counter = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tier_test_set_copy_fn(NULL);
    model_reset();
    rm_rf(tmpdir);
    return 0;
}

static log_config_t tier_cfg(void)
{
    log_config_t c;
    log_config_default(&c);
    c.segment_bytes = 4096;
    c.index_interval_bytes = 256;
    c.retention_ms = -1;
    c.cold_dir = cdir;
    return c;
}

static log_t *open_log(const log_config_t *c, bool recover)
{
    log_t *log = NULL;
    assert_int_equal(log_open(pdir, c, recover, &log), 0);
    assert_non_null(log);
    return log;
}

/* One whole move; returns the base offset moved, or -1 when none was due. */
static int64_t move_one(log_t *log, int64_t now)
{
    log_move_t *m = log_move_prepare(log, now);
    int64_t base;

    if (!m)
        return -1;
    base = m->base;
    assert_true(log_move_pending(log));
    assert_int_equal(log_move_finish(log, m, log_move_run(m)), 0);
    assert_false(log_move_pending(log));
    assert_true(exists_in(cdir, base, ".log"));
    assert_true(exists_in(cdir, base, ".index"));
    assert_true(exists_in(cdir, base, ".timeindex"));
    assert_false(exists_in(pdir, base, ".log"));
    assert_false(exists_in(pdir, base, ".index"));
    assert_false(exists_in(pdir, base, ".timeindex"));
    return base;
}

static int move_all(log_t *log, int64_t now)
{
    int n = 0;
    while (move_one(log, now) >= 0)
        n++;
    return n;
}

static void check_stats(log_t *log)
{
    log_tier_stats_t st;
    log_tier_stats(log, &st);
    assert_int_equal(st.local_bytes + st.cold_bytes, log_size_bytes(log));
    assert_int_equal(st.local_segments + st.cold_segments,
                     log_segment_count(log));
}

/* Every file of both dirs is a .log, .index or .timeindex (or the
 * checkpoint, locally); every index has its .log in the same dir; no
 * segment is in both. Returns the number of cold .log files. */
static size_t check_dirs(void)
{
    const char *dirs[2] = {pdir, cdir};
    size_t ncold = 0;
    int t;

    for (t = 0; t < 2; t++) {
        DIR *d = opendir(dirs[t]);
        struct dirent *de;
        if (!d) {
            assert_int_equal(t, 1); /* no cold dir yet */
            continue;
        }
        while ((de = readdir(d)) != NULL) {
            const char *n = de->d_name;
            size_t len = strlen(n);
            char base[32];
            if (n[0] == '.' || strcmp(n, "strata-checkpoint") == 0)
                continue;
            assert_null(strstr(n, ".tmp"));
            assert_true(len > 20);
            memcpy(base, n, 20);
            base[20] = 0;
            if (strcmp(n + 20, ".log") == 0) {
                if (t == 1) {
                    ncold++;
                    assert_false(exists_in(pdir, atoll(base), ".log"));
                }
            } else {
                assert_true(strcmp(n + 20, ".index") == 0 ||
                            strcmp(n + 20, ".timeindex") == 0);
                assert_true(exists_in(dirs[t], atoll(base), ".log"));
            }
        }
        closedir(d);
    }
    return ncold;
}

/* ---- which segments move ---- */

static void test_no_cold_dir(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_t *log;

    (void)state;
    c.cold_dir = NULL;
    c.local_retention_bytes = 0;
    c.cold_after_ms = 0;
    log = open_log(&c, false);
    append_n(log, 80);
    assert_true(log_segment_count(log) > 3);
    assert_null(log_move_prepare(log, now_ms()));
    assert_false(log_move_pending(log));
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, 0);
    assert_int_equal(st.local_segments, log_segment_count(log));
    log_close(log);
    /* "" is no cold dir either. */
    c.cold_dir = "";
    log = open_log(&c, false);
    assert_null(log_move_prepare(log, now_ms()));
    log_close(log);
    assert_int_equal(access(cdir, F_OK), -1);
    /* A cold dir that is the log's own dir is refused. */
    c.cold_dir = pdir;
    {
        log_t *bad = NULL;
        assert_int_equal(log_open(pdir, &c, false, &bad), -EINVAL);
    }
}

static void test_move_by_bytes(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_t *log;
    int64_t expect_base = 0;
    int n = 0;

    (void)state;
    c.local_retention_bytes = 10000;
    log = open_log(&c, false);
    append_n(log, 150);
    check_every_offset(log);
    /* Oldest first, each one re-checked against the model. */
    for (;;) {
        int64_t base = move_one(log, now_ms());
        if (base < 0)
            break;
        assert_int_equal(base, expect_base);
        log_tier_stats(log, &st);
        expect_base = base + 1; /* the next one starts after it */
        while (!seg_exists(expect_base))
            expect_base++;
        n++;
        if (n % 3 == 0)
            check_every_offset(log);
    }
    assert_true(n > 3);
    log_tier_stats(log, &st);
    assert_true(st.local_bytes <= 10000);
    assert_int_equal(st.cold_segments, (size_t)n);
    assert_int_equal(check_dirs(), (size_t)n);
    check_stats(log);
    assert_int_equal(log_size_bytes(log), (int64_t)M.len);
    check_every_offset(log);
    check_times(log);
    check_scan(log);
    log_close(log);

    /* Reopened, trusting and recovering: same answers. */
    log = open_log(&c, false);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, (size_t)n);
    assert_int_equal(log_end_offset(log), M.next);
    check_every_offset(log);
    check_times(log);
    append_n(log, 40);
    n += move_all(log, now_ms());
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, true);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, (size_t)n);
    assert_int_equal(log_end_offset(log), M.next);
    check_every_offset(log);
    check_scan(log);
    check_stats(log);
    log_close(log);
    assert_int_equal(check_dirs(), (size_t)n);
}

static void test_move_by_age(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    size_t segs_old;
    log_t *log;
    int n;

    (void)state;
    c.cold_after_ms = 3600 * 1000;
    log = open_log(&c, false);
    append_ts(log, 60, ts_old);
    segs_old = log_segment_count(log);
    append_ts(log, 60, ts_now);
    n = move_all(log, now_ms());
    /* Segments of old batches only; the one holding the last old batches
     * may hold new ones too. */
    assert_true(n == (int)segs_old - 1 || n == (int)segs_old);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, (size_t)n);
    check_every_offset(log);
    /* Ten hours later everything sealed is old. */
    n += move_all(log, now_ms() + 10 * 3600 * 1000);
    log_tier_stats(log, &st);
    assert_int_equal(st.local_segments, 1);
    assert_int_equal(st.cold_segments, (size_t)n);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, false);
    check_every_offset(log);
    log_close(log);
}

static void test_active_never_moves(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_t *log;
    int round;

    (void)state;
    c.local_retention_bytes = 0;
    c.cold_after_ms = 0;
    log = open_log(&c, false);
    /* A single, active segment: nothing to move. */
    append_n(log, 3);
    assert_null(log_move_prepare(log, now_ms() + 1000000));
    for (round = 0; round < 4; round++) {
        append_n(log, 30);
        move_all(log, now_ms() + 1000000);
        log_tier_stats(log, &st);
        assert_int_equal(st.local_segments, 1);
        assert_true(st.cold_segments > 0);
        assert_null(log_move_prepare(log, now_ms() + 1000000));
        check_every_offset(log);
    }
    log_close(log);
    log = open_log(&c, true);
    log_tier_stats(log, &st);
    assert_int_equal(st.local_segments, 1);
    check_every_offset(log);
    log_close(log);
}

static void *run_thread(void *arg)
{
    return (void *)(intptr_t)log_move_run(arg);
}

static void test_one_outstanding(void **state)
{
    log_config_t c = tier_cfg();
    log_move_t *m;
    pthread_t th;
    void *ret;
    log_t *log;
    int i;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 100);
    m = log_move_prepare(log, now_ms());
    assert_non_null(m);
    assert_true(log_move_pending(log));
    assert_null(log_move_prepare(log, now_ms()));
    /* Cancelled before running: nothing anywhere. */
    log_move_cancel(log, m);
    assert_false(log_move_pending(log));
    assert_int_equal(check_dirs(), 0);
    /* Runs on another thread while the owner appends and reads. */
    for (i = 0; i < 4; i++) {
        m = log_move_prepare(log, now_ms());
        assert_non_null(m);
        assert_int_equal(pthread_create(&th, NULL, run_thread, m), 0);
        append_n(log, 20);
        check_read(log, log_start_offset(log), 1 << 20);
        check_read(log, M.base[M.n / 2], 3000);
        assert_null(log_move_prepare(log, now_ms()));
        assert_int_equal(pthread_join(th, &ret), 0);
        assert_int_equal((intptr_t)ret, 0);
        assert_int_equal(log_move_finish(log, m, 0), 0);
    }
    assert_int_equal(check_dirs(), 4);
    /* Cancelled after a successful run: the copy goes, the segment stays
     * local. */
    m = log_move_prepare(log, now_ms());
    assert_int_equal(log_move_run(m), 0);
    assert_true(exists_in(cdir, m->base, ".log"));
    log_move_cancel(log, m);
    assert_int_equal(check_dirs(), 4);
    check_every_offset(log);
    check_stats(log);
    log_close(log);
}

/* ---- crashes ---- */

/* A log of several segments, `premoved` of them already cold. */
static log_t *crash_fixture(const log_config_t *c, int premoved)
{
    log_t *log;
    int i;

    rm_rf(tmpdir);
    assert_int_equal(mkdir(tmpdir, 0755), 0);
    model_reset();
    batch_counter = 0;
    log = open_log(c, false);
    append_n(log, 60);
    for (i = 0; i < premoved; i++)
        assert_true(move_one(log, now_ms()) >= 0);
    return log;
}

static void crash_case(int run_steps, int finish_steps, bool recover,
                       int premoved)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_move_t *m;
    int64_t base;
    log_t *log;
    bool committed = run_steps > TIER_STEP_COMMIT;
    int rc;

    c.local_retention_bytes = 0;
    log = crash_fixture(&c, premoved);
    m = log_move_prepare(log, now_ms());
    assert_non_null(m);
    base = m->base;
    rc = log_move_run_steps(m, run_steps);
    assert_int_equal(rc, run_steps < TIER_STEP_DONE ? 1 : 0);
    if (rc == 0 && finish_steps >= 0)
        assert_int_equal(log_move_finish_steps(log, m, 0, finish_steps),
                         finish_steps < 5 ? 1 : 0);
    log_abandon(log); /* kill -9 */

    log = open_log(&c, recover);
    assert_int_equal(log_end_offset(log), M.next);
    assert_int_equal(log_start_offset(log), 0);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, (size_t)premoved + committed);
    assert_int_equal(check_dirs(), (size_t)premoved + committed);
    assert_true(exists_in(committed ? cdir : pdir, base, ".log"));
    assert_false(exists_in(committed ? pdir : cdir, base, ".log"));
    check_stats(log);
    check_every_offset(log);
    /* The log goes on: appends, and every segment moves. */
    append_n(log, 10);
    move_all(log, now_ms());
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, !recover);
    check_every_offset(log);
    log_tier_stats(log, &st);
    assert_int_equal(st.local_segments, 1);
    log_close(log);
    check_dirs();
}

static void test_crash_every_step(void **state)
{
    int k, j;

    (void)state;
    for (k = 0; k <= TIER_STEP_DONE; k++) {
        crash_case(k, -1, k % 2 == 0, 0);
        crash_case(k, -1, k % 2 == 1, 2);
    }
    for (j = 0; j <= 5; j++) {
        crash_case(TIER_STEP_DONE, j, j % 2 == 0, 1);
        crash_case(TIER_STEP_DONE, j, j % 2 == 1, 0);
    }
}

/* ---- slices ---- */

static void check_slice(log_slice_t *s, size_t model_pos)
{
    uint8_t *buf = malloc(s->len);
    assert_int_equal(pread(s->fd, buf, s->len, s->pos), (ssize_t)s->len);
    assert_memory_equal(buf, M.bytes + model_pos, s->len);
    free(buf);
    mem_unref(s->ref);
}

static void test_slices_survive(void **state)
{
    log_config_t c = tier_cfg();
    log_slice_t s0, s1;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 80);
    /* Taken from the local file, which the move then unlinks. */
    assert_int_equal(log_read(log, 0, 1 << 20, &s0), 0);
    assert_int_equal(move_one(log, now_ms()), 0);
    check_slice(&s0, 0);
    /* Taken from the cold file, which retention then unlinks. */
    assert_int_equal(log_read(log, 0, 1 << 20, &s1), 0);
    assert_int_equal(log_delete_records(log, M.next), 0);
    assert_false(exists_in(cdir, 0, ".log"));
    check_slice(&s1, 0);
    log_close(log);
}

/* ---- retention, DeleteRecords, destroy ---- */

static void test_retention_bytes(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st, before;
    int64_t start;
    log_slice_t s;
    log_t *log;
    int n;

    (void)state;
    c.local_retention_bytes = 12000;
    log = open_log(&c, false);
    append_n(log, 200);
    move_all(log, now_ms());
    log_tier_stats(log, &before);
    assert_true(before.cold_segments > 4);
    /* Half of the cold bytes go, oldest first. */
    c.retention_bytes = log_size_bytes(log) - before.cold_bytes / 2;
    log_set_limits(log, &c);
    n = log_retention_run(log, now_ms());
    assert_true(n > 0);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, before.cold_segments - (size_t)n);
    assert_int_equal(st.local_segments, before.local_segments);
    start = log_start_offset(log);
    assert_false(exists_in(cdir, 0, ".log"));
    assert_false(exists_in(cdir, 0, ".index"));
    assert_true(exists_in(cdir, start, ".log"));
    assert_int_equal(log_read(log, start - 1, 100, &s), -ERANGE);
    check_every_offset(log);
    /* Then into the local tier. */
    c.retention_bytes = st.local_bytes / 2;
    log_set_limits(log, &c);
    assert_true(log_retention_run(log, now_ms()) > 0);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, 0);
    assert_true(st.local_segments < before.local_segments);
    check_every_offset(log);
    assert_int_equal(check_dirs(), 0);
    start = log_start_offset(log);
    log_close(log);
    log = open_log(&c, true);
    assert_int_equal(log_start_offset(log), start);
    check_every_offset(log);
    log_close(log);
}

static void test_retention_time(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_t *log;
    int n;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_ts(log, 60, ts_old);
    append_ts(log, 60, ts_now);
    n = move_all(log, now_ms());
    assert_true(n > 2);
    c.retention_ms = 3600 * 1000;
    log_set_limits(log, &c);
    assert_true(log_retention_run(log, now_ms()) > 0);
    log_tier_stats(log, &st);
    assert_true(st.cold_segments > 0 && (int)st.cold_segments < n);
    check_every_offset(log);
    check_dirs();
    log_close(log);
    /* Reopened: the cold segments' timestamps come from their indexes. */
    log = open_log(&c, false);
    assert_true(log_retention_run(log, now_ms() + 10 * 3600 * 1000) > 0);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, 0);
    assert_int_equal(log_segment_count(log), 1);
    check_every_offset(log);
    log_close(log);
    assert_int_equal(check_dirs(), 0);
}

static void test_delete_records(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    int64_t mid;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 15000;
    log = open_log(&c, false);
    append_n(log, 150);
    move_all(log, now_ms());
    /* Into the middle of the cold tier, then of the local one. */
    mid = M.base[20] + 1;
    assert_int_equal(log_delete_records(log, mid), 0);
    assert_int_equal(log_start_offset(log), mid);
    assert_false(exists_in(cdir, 0, ".log"));
    check_every_offset(log);
    check_times(log);
    mid = M.base[M.n - 10] + 1;
    assert_int_equal(log_delete_records(log, mid), 0);
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, 0);
    assert_int_equal(check_dirs(), 0);
    check_every_offset(log);
    log_close(log);
    log = open_log(&c, false);
    assert_int_equal(log_start_offset(log), mid);
    check_every_offset(log);
    log_close(log);
}

static void test_destroy(void **state)
{
    log_config_t c = tier_cfg();
    log_slice_t s;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    assert_true(move_all(log, now_ms()) > 0);
    assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
    assert_int_equal(log_destroy(log), 0);
    assert_int_equal(access(pdir, F_OK), -1);
    assert_int_equal(access(cdir, F_OK), -1);
    check_slice(&s, 0);
}

/* ---- the copy ---- */

static int hook_calls;

static ssize_t copy_exdev(int fd_in, int64_t *off_in, int fd_out,
                          int64_t *off_out, size_t len)
{
    (void)fd_in, (void)off_in, (void)fd_out, (void)off_out, (void)len;
    hook_calls++;
    errno = EXDEV;
    return -1;
}

/* A real partial copy first, then a refusal: the fallback resumes. */
static ssize_t copy_half_then_exdev(int fd_in, int64_t *off_in, int fd_out,
                                    int64_t *off_out, size_t len)
{
    ssize_t n;
    uint8_t buf[777];

    if (hook_calls++ > 0) {
        errno = EOPNOTSUPP;
        return -1;
    }
    len = ST_MIN(len / 2 + 1, sizeof(buf));
    n = pread(fd_in, buf, len, *off_in);
    assert_true(n > 0);
    assert_int_equal(pwrite(fd_out, buf, (size_t)n, *off_out), n);
    *off_in += n;
    *off_out += n;
    return n;
}

static ssize_t copy_eio(int fd_in, int64_t *off_in, int fd_out,
                        int64_t *off_out, size_t len)
{
    (void)fd_in, (void)off_in, (void)fd_out, (void)off_out, (void)len;
    hook_calls++;
    errno = EIO;
    return -1;
}

/* The cold .log of the segment at base holds the model's bytes. */
static void check_cold_file(int64_t base)
{
    char path[512];
    size_t k = model_find(base), end = k;
    uint8_t *buf;
    struct stat st;
    int fd;

    while (end + 1 < M.n && !seg_exists(M.base[end + 1]))
        end++;
    seg_name(path, sizeof(path), cdir, base, ".log");
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, (off_t)(M.pos[end] + M.size[end] - M.pos[k]));
    buf = malloc((size_t)st.st_size);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    assert_memory_equal(buf, M.bytes + M.pos[k], (size_t)st.st_size);
    free(buf);
    close(fd);
}

static void test_copy_fallback(void **state)
{
    log_config_t c = tier_cfg();
    log_move_t *m;
    int64_t base;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 100);

    tier_test_set_copy_fn(copy_exdev);
    hook_calls = 0;
    base = move_one(log, now_ms());
    assert_int_equal(hook_calls, 1);
    check_cold_file(base);

    tier_test_set_copy_fn(copy_half_then_exdev);
    hook_calls = 0;
    base = move_one(log, now_ms());
    assert_int_equal(hook_calls, 2);
    check_cold_file(base);

    /* A real failure: nothing is left in the cold dir, nothing changes. */
    tier_test_set_copy_fn(copy_eio);
    m = log_move_prepare(log, now_ms());
    base = m->base;
    assert_int_equal(log_move_run(m), -EIO);
    assert_int_equal(log_move_finish(log, m, -EIO), -EIO);
    assert_false(exists_in(cdir, base, ".log"));
    assert_true(exists_in(pdir, base, ".log"));
    assert_int_equal(check_dirs(), 2);
    check_every_offset(log);

    /* And the real copy_file_range (or the fallback the filesystem
     * needs) after that: the same segment moves. */
    tier_test_set_copy_fn(NULL);
    assert_int_equal(move_one(log, now_ms()), base);
    check_cold_file(base);
    check_every_offset(log);
    log_close(log);
}

/* A damaged local segment fails the copy's check and stays local; the
 * log stops moving until reopened. */
static void test_check_fails(void **state)
{
    log_config_t c = tier_cfg();
    char path[512];
    log_move_t *m;
    log_t *log;
    uint8_t b;
    int fd;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    log_close(log);
    /* A byte inside the records of the second batch. */
    seg_name(path, sizeof(path), pdir, 0, ".log");
    fd = open(path, O_RDWR);
    assert_int_equal(pread(fd, &b, 1, (off_t)M.pos[1] + 70), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)M.pos[1] + 70), 1);
    close(fd);
    log = open_log(&c, false);
    m = log_move_prepare(log, now_ms());
    assert_non_null(m);
    assert_int_equal(m->base, 0);
    assert_int_equal(log_move_run(m), -EBADMSG);
    assert_int_equal(log_move_finish(log, m, -EBADMSG), -EBADMSG);
    assert_int_equal(check_dirs(), 0);
    assert_true(exists_in(pdir, 0, ".log"));
    assert_null(log_move_prepare(log, now_ms()));
    log_close(log);
    /* Reopened, it tries again (and fails again). */
    log = open_log(&c, false);
    m = log_move_prepare(log, now_ms());
    assert_non_null(m);
    assert_int_equal(log_move_finish(log, m, log_move_run(m)), -EBADMSG);
    log_close(log);
}

/* ---- the log changed while the copy ran ---- */

static void test_finish_after_changes(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    log_move_t *m;
    int64_t base;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    /* Appends and rolls meanwhile. */
    m = log_move_prepare(log, now_ms());
    base = m->base;
    append_n(log, 60);
    assert_int_equal(log_move_run(m), 0);
    append_n(log, 5);
    assert_int_equal(log_move_finish(log, m, 0), 0);
    assert_true(exists_in(cdir, base, ".log"));
    check_every_offset(log);

    /* DeleteRecords deletes the very segment being moved. */
    m = log_move_prepare(log, now_ms());
    base = m->base;
    assert_int_equal(log_move_run(m), 0);
    assert_int_equal(log_delete_records(log, M.base[M.n / 2]), 0);
    assert_false(exists_in(pdir, base, ".log"));
    assert_int_equal(log_move_finish(log, m, 0), 0);
    assert_false(exists_in(cdir, base, ".log"));
    assert_false(exists_in(cdir, base, ".index"));
    log_tier_stats(log, &st);
    assert_int_equal(st.cold_segments, 0);
    check_every_offset(log);

    /* Retention deletes it before the run even starts. */
    m = log_move_prepare(log, now_ms());
    base = m->base;
    c.retention_bytes = 1;
    log_set_limits(log, &c);
    assert_true(log_retention_run(log, now_ms()) > 0);
    assert_int_equal(log_move_run(m), 0);
    assert_int_equal(log_move_finish(log, m, 0), 0);
    assert_int_equal(check_dirs(), 0);
    check_every_offset(log);
    log_close(log);
}

/* ---- log_open's reconciliation ---- */

/* Both tiers, but the cold copy is not the local one's size: the local
 * copy wins. */
static void test_reconcile_mismatch(void **state)
{
    log_config_t c = tier_cfg();
    char path[512];
    log_move_t *m;
    int64_t base;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    m = log_move_prepare(log, now_ms());
    base = m->base;
    assert_int_equal(log_move_run(m), 0);
    log_abandon(log);
    seg_name(path, sizeof(path), cdir, base, ".log");
    assert_int_equal(truncate(path, 100), 0);
    log = open_log(&c, false);
    assert_true(exists_in(pdir, base, ".log"));
    assert_false(exists_in(cdir, base, ".log"));
    assert_int_equal(check_dirs(), 0);
    check_every_offset(log);
    log_close(log);
}

/* A cold dir without its local dir is a deleted partition's. */
static void test_cold_without_local(void **state)
{
    log_config_t c = tier_cfg();
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    assert_true(move_all(log, now_ms()) > 0);
    log_close(log);
    rm_rf(pdir);
    model_reset();
    log = open_log(&c, false);
    assert_int_equal(log_start_offset(log), 0);
    assert_int_equal(log_end_offset(log), 0);
    assert_int_equal(log_segment_count(log), 1);
    assert_int_equal(access(cdir, F_OK), -1);
    log_close(log);
}

/* A plain file where the cold dir goes: the partition opens with its
 * local segments, moves fail and leave them in place, reads go on. */
static void test_cold_path_is_a_file(void **state)
{
    log_config_t c = tier_cfg();
    log_move_t *m;
    log_t *log;
    int fd, rc;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    log_close(log);
    {
        char parent[320];
        snprintf(parent, sizeof(parent), "%s/cold", tmpdir);
        mkdir(parent, 0755); /* nothing moved yet: maybe not there */
    }
    fd = open(cdir, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    for (int recover = 0; recover < 2; recover++) {
        log = open_log(&c, recover);
        assert_int_equal(log_end_offset(log), M.next);
        check_every_offset(log);
        m = log_move_prepare(log, now_ms());
        assert_non_null(m);
        rc = log_move_run(m);
        assert_true(rc < 0);
        assert_int_equal(log_move_finish(log, m, rc), rc);
        check_every_offset(log);
        append_n(log, 5);
        check_every_offset(log);
        log_close(log);
    }
    /* a new partition of that name (no local dir) opens too */
    rm_rf(pdir);
    model_reset();
    log = open_log(&c, false);
    assert_int_equal(log_end_offset(log), 0);
    log_close(log);
    assert_int_equal(unlink(cdir), 0);
}

/* Only cold segments left (the local ones lost): a new active segment
 * follows them. */
static void test_only_cold_left(void **state)
{
    log_config_t c = tier_cfg();
    log_tier_stats_t st;
    char path[512];
    size_t k;
    log_t *log;

    (void)state;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    move_all(log, now_ms());
    log_close(log);
    /* Lose the active segment, keeping the checkpoint. */
    for (k = M.n - 1; !seg_exists(M.base[k]); k--)
        ;
    assert_true(k > 0 && exists_in(pdir, M.base[k], ".log"));
    seg_name(path, sizeof(path), pdir, M.base[k], ".log");
    assert_int_equal(unlink(path), 0);
    seg_name(path, sizeof(path), pdir, M.base[k], ".index");
    unlink(path);
    seg_name(path, sizeof(path), pdir, M.base[k], ".timeindex");
    unlink(path);
    M.n = k;
    M.len = M.pos[k];
    M.next = M.last[k - 1] + 1;
    log = open_log(&c, true);
    assert_int_equal(log_end_offset(log), M.next);
    log_tier_stats(log, &st);
    assert_int_equal(st.local_segments, 1);
    assert_int_equal(st.local_bytes, 0);
    check_every_offset(log);
    append_n(log, 10);
    check_every_offset(log);
    log_close(log);
}

/* A cold .log shorter than its index claims: reads stop short, nothing
 * crashes. */
static void test_cold_short(void **state)
{
    log_config_t c = tier_cfg();
    char path[512];
    size_t k, cut_k;
    log_slice_t s;
    int64_t off;
    log_t *log;
    int rc, pass;

    (void)state;
    c.local_retention_bytes = 0;
    c.segment_bytes = 1 << 16;
    log = open_log(&c, false);
    append_n(log, 200);
    append_n(log, 200);
    assert_true(move_all(log, now_ms()) > 0);
    log_close(log);
    /* Cut the first cold segment in the middle of batch cut_k. */
    for (k = 1; !seg_exists(M.base[k]); k++)
        ;
    cut_k = k / 2;
    seg_name(path, sizeof(path), cdir, 0, ".log");
    assert_int_equal(truncate(path, (off_t)(M.pos[cut_k] + 10)), 0);
    for (pass = 0; pass < 2; pass++) {
        log = open_log(&c, pass == 1);
        for (off = 0; off < log_end_offset(log); off++) {
            rc = log_read(log, off, 1500, &s);
            assert_true(rc == 0 || rc == -EIO);
            if (rc == 0 && off <= M.last[cut_k - 1])
                check_slice(&s, M.pos[model_find(off)]);
            else if (rc == 0)
                mem_unref(s.ref);
        }
        log_close(log);
    }
}

static void test_set_limits_cold_dir(void **state)
{
    log_config_t c = tier_cfg();
    char other[400];
    log_t *log;

    (void)state;
    c.cold_dir = NULL;
    c.local_retention_bytes = 0;
    log = open_log(&c, false);
    append_n(log, 60);
    assert_null(log_move_prepare(log, now_ms()));
    c.cold_dir = cdir;
    log_set_limits(log, &c);
    assert_int_equal(move_one(log, now_ms()), 0);
    /* Changed or unset: ignored, the segments stay readable. */
    snprintf(other, sizeof(other), "%s/other", tmpdir);
    c.cold_dir = other;
    log_set_limits(log, &c);
    assert_true(move_one(log, now_ms()) > 0);
    c.cold_dir = NULL;
    log_set_limits(log, &c);
    assert_true(move_one(log, now_ms()) > 0);
    assert_int_equal(access(other, F_OK), -1);
    assert_int_equal(check_dirs(), 3);
    check_every_offset(log);
    /* The limits themselves do change. */
    c.local_retention_bytes = -1;
    log_set_limits(log, &c);
    assert_null(log_move_prepare(log, now_ms()));
    log_close(log);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_no_cold_dir),
        T(test_move_by_bytes),
        T(test_move_by_age),
        T(test_active_never_moves),
        T(test_one_outstanding),
        T(test_crash_every_step),
        T(test_slices_survive),
        T(test_retention_bytes),
        T(test_retention_time),
        T(test_delete_records),
        T(test_destroy),
        T(test_copy_fallback),
        T(test_check_fails),
        T(test_finish_after_changes),
        T(test_reconcile_mismatch),
        T(test_cold_without_local),
        T(test_only_cold_left),
        T(test_cold_short),
        T(test_cold_path_is_a_file),
        T(test_set_limits_cold_dir),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
