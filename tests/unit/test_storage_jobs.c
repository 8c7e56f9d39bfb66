/* Background jobs of the log (log.h, log_set_background): with them on, a
 * read of a sealed segment that is not loaded returns -EWOULDBLOCK and
 * queues its load, which runs on another thread and is applied by
 * log_job_finish; a roll queues the sealed segment's index write; a cold
 * move queues the directory's fsync; retention and moves wait for a load
 * rather than doing it; and a segment deleted while its job runs leaves
 * no index file behind. Each test works in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"
#include "tests/unit/test_log_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc/st.h"
#include "storage/log.h"
#include "storage/segment.h"

static char pdir[300], cdir[300];

static int setup(void **state)
{
    if (test_dir_setup("jobs") < 0)
        return -1;
    snprintf(pdir, sizeof(pdir), "%s/t-0", tmpdir);
    snprintf(cdir, sizeof(cdir), "%s/cold/t-0", tmpdir);
    (void)state;
    return 0;
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

/* 64 KiB segments, small index interval: a few segments of many batches. */
static log_config_t small_cfg(void)
{
    log_config_t c = cfg_for(LOG_IO_PWRITE);
    c.segment_bytes = 65536;
    c.index_interval_bytes = 512;
    return c;
}

static bool exists(const char *dir, int64_t base, const char *ext)
{
    char path[SEG_PATH_MAX];
    struct stat st;
    seg_path(path, sizeof(path), dir, base, ext);
    return stat(path, &st) == 0;
}

static off_t file_size(const char *dir, int64_t base, const char *ext)
{
    char path[SEG_PATH_MAX];
    struct stat st;
    seg_path(path, sizeof(path), dir, base, ext);
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* Removes pdir's file of segment base with extension ext. */
static void remove_file(int64_t base, const char *ext)
{
    char path[SEG_PATH_MAX];
    seg_path(path, sizeof(path), pdir, base, ext);
    assert_int_equal(unlink(path), 0);
}

/* The base offsets of the .log files in pdir, ascending; returns n. */
static size_t bases(int64_t *out, size_t cap)
{
    DIR *d = opendir(pdir);
    struct dirent *de;
    size_t n = 0;
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        int64_t b = seg_parse_name(de->d_name, ".log");
        if (b >= 0 && n < cap)
            out[n++] = b;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

/* Writes ~300 KiB (several sealed segments) and closes the log. Returns
 * the base offset of the second segment. */
static int64_t fill(log_config_t *c)
{
    log_t *log;
    int64_t second;
    assert_int_equal(log_open(pdir, c, false, &log), 0);
    for (int k = 0; k < 30; k++)
        append_batches(log, 10, 3, 300);
    assert_true(log_segment_count(log) >= 4);
    log_close(log);
    {
        int64_t b[64];
        assert_true(bases(b, 64) >= 4);
        second = b[1];
    }
    assert_true(second > 0);
    return second;
}

struct runner {
    log_job_t *job;
    int rc;
    pthread_t tid;
};

static void *run_thread(void *arg)
{
    struct runner *r = arg;
    r->tid = pthread_self();
    r->rc = log_job_run(r->job);
    return NULL;
}

/* Runs a job on a thread of its own, as the broker's pool does. */
static int run_elsewhere(log_job_t *job)
{
    struct runner r = {.job = job, .rc = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, run_thread, &r), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_false(pthread_equal(r.tid, pthread_self()));
    return r.rc;
}

/* Takes, runs and finishes every queued job; returns how many. */
static int drain(log_t *log)
{
    log_job_t *job;
    int n = 0;
    while ((job = log_job_take(log))) {
        assert_int_equal(log_job_finish(log, job, run_elsewhere(job)), 0);
        n++;
    }
    assert_int_equal(log_jobs_out(log), 0);
    return n;
}

/* Reads [off, end) and compares with the model. */
static void check_tail(log_t *log, int64_t off)
{
    while (off < log_end_offset(log)) {
        log_slice_t s;
        size_t k = model_find(off);
        uint8_t *buf;
        int rc = log_read(log, off, 1 << 20, &s);
        while (rc == -EWOULDBLOCK) {
            assert_true(drain(log) > 0);
            rc = log_read(log, off, 1 << 20, &s);
        }
        assert_int_equal(rc, 0);
        assert_true(k < M.n && s.len >= M.size[k]);
        buf = malloc(s.len);
        assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
        assert_memory_equal(buf, M.bytes + M.pos[k], s.len);
        free(buf);
        mem_unref(s.ref);
        off = s.next_offset;
    }
}

/* A sealed segment whose index files are gone is rebuilt by a job on
 * another thread; the read that asked waits, the one after succeeds. */
static void test_load_rebuilds_off_thread(void **state)
{
    log_config_t c = small_cfg();
    int64_t second = fill(&c), off;
    log_t *log;
    log_slice_t s;
    log_job_t *job;
    (void)state;

    remove_file(0, ".index");
    remove_file(0, ".timeindex");
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    off = second / 2;
    assert_int_equal(log_read(log, off, 4096, &s), -EWOULDBLOCK);
    assert_null(s.ref);
    /* Asking again queues nothing more. */
    assert_int_equal(log_read(log, off, 4096, &s), -EWOULDBLOCK);
    assert_int_equal(log_offset_for_time(log, 1000, NULL), -EWOULDBLOCK);
    job = log_job_take(log);
    assert_non_null(job);
    assert_null(log_job_take(log));
    assert_int_equal(log_job_kind(job), LOG_JOB_LOAD);
    assert_int_equal(log_jobs_out(log), 1);
    assert_false(exists(pdir, 0, ".index"));
    assert_int_equal(run_elsewhere(job), 0);
    /* The rebuilt files are written by the job, as log_open would. */
    assert_true(file_size(pdir, 0, ".index") > 0);
    assert_true(file_size(pdir, 0, ".timeindex") > 0);
    /* Nothing applied before the finish. */
    assert_int_equal(log_read(log, off, 4096, &s), -EWOULDBLOCK);
    assert_int_equal(log_job_finish(log, job, 0), 0);
    assert_int_equal(log_jobs_out(log), 0);
    check_tail(log, 0);
    assert_int_equal(log_offset_for_time(log, 1000, NULL), 0);
    log_close(log);
}

/* A failed load applies nothing; the next read queues it again. */
static void test_failed_load_is_retried(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    log_slice_t s;
    log_job_t *job;
    (void)state;

    fill(&c);
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    assert_int_equal(log_read(log, 0, 4096, &s), -EWOULDBLOCK);
    job = log_job_take(log);
    assert_int_equal(log_job_finish(log, job, -ECANCELED), -ECANCELED);
    assert_int_equal(log_read(log, 0, 4096, &s), -EWOULDBLOCK);
    assert_int_equal(drain(log), 1);
    assert_int_equal(log_read(log, 0, 4096, &s), 0);
    mem_unref(s.ref);
    log_close(log);
}

/* A roll queues the index write of the segment it seals: nothing on the
 * appending thread writes it, the job does, and a reopen trusts it. */
static void test_roll_queues_index_write(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    log_job_t *job;
    (void)state;

    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    while (log_segment_count(log) < 2)
        append_batches(log, 10, 3, 300);
    assert_true(log_job_queued(log));
    assert_false(exists(pdir, 0, ".index"));
    job = log_job_take(log);
    assert_int_equal(log_job_kind(job), LOG_JOB_STORE_INDEX);
    /* The segment is still read from memory while its index is written. */
    check_tail(log, 0);
    assert_int_equal(run_elsewhere(job), 0);
    assert_true(file_size(pdir, 0, ".index") > 0);
    assert_int_equal(file_size(pdir, 0, ".index") % 8, 0);
    assert_int_equal(log_job_finish(log, job, 0), 0);
    while (log_segment_count(log) < 4)
        append_batches(log, 10, 3, 300);
    assert_int_equal(drain(log), 2);
    log_close(log);
    /* Reopened in the default mode: every sealed index read as written. */
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    check_tail(log, 0);
    assert_int_equal(log_offset_for_time(log, 1005, NULL) >= 0, 1);
    log_close(log);
}

/* Jobs queued but never taken are dropped at close, which writes the
 * indexes itself. */
static void test_close_drops_queued_jobs(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    (void)state;

    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    while (log_segment_count(log) < 3)
        append_batches(log, 10, 3, 300);
    assert_true(log_job_queued(log));
    log_close(log);
    assert_true(file_size(pdir, 0, ".index") > 0);
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    check_tail(log, 0);
    log_close(log);
}

/* DeleteRecords deletes the segment a job is loading, or whose index it
 * is writing: the finish applies nothing and removes what the job wrote. */
static void test_segment_deleted_while_job_runs(void **state)
{
    log_config_t c = small_cfg();
    int64_t second = fill(&c);
    log_t *log;
    log_slice_t s;
    log_job_t *load, *store;
    int64_t sealed;
    (void)state;

    remove_file(0, ".index");
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    assert_int_equal(log_read(log, 1, 100, &s), -EWOULDBLOCK);
    load = log_job_take(log);
    /* A roll: its index write, for a segment deleted below too. */
    {
        size_t n0 = log_segment_count(log);
        int64_t b[64];
        /* The second roll's: a segment made in this open, whose index
         * file has never been written. */
        while (log_segment_count(log) < n0 + 2)
            append_batches(log, 10, 3, 300);
        sealed = b[bases(b, 64) - 2];
        store = log_job_take(log);
        assert_int_equal(log_job_kind(store), LOG_JOB_STORE_INDEX);
        assert_int_equal(log_job_finish(log, store, run_elsewhere(store)), 0);
    }
    assert_true(sealed > second);
    store = log_job_take(log);
    assert_non_null(store);
    assert_int_equal(log_job_kind(store), LOG_JOB_STORE_INDEX);
    /* Both segments go while the jobs run. */
    assert_int_equal(log_delete_records(log, log_end_offset(log)), 0);
    assert_int_equal(run_elsewhere(load), 0);
    assert_int_equal(run_elsewhere(store), 0);
    assert_true(exists(pdir, 0, ".index"));
    assert_true(exists(pdir, sealed, ".index"));
    assert_int_equal(log_job_finish(log, load, 0), 0);
    assert_int_equal(log_job_finish(log, store, 0), 0);
    assert_false(exists(pdir, 0, ".index"));
    assert_false(exists(pdir, 0, ".timeindex"));
    assert_false(exists(pdir, sealed, ".index"));
    assert_false(exists(pdir, sealed, ".timeindex"));
    assert_int_equal(log_read(log, log_end_offset(log), 100, &s), 0);
    log_close(log);
}

/* A segment moves to the cold tier while its index is being rebuilt: the
 * load applies nothing, the local index files it wrote go, and reads are
 * served from the cold copy. */
static void test_segment_moved_while_loading(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    log_slice_t s;
    log_move_t *m;
    log_job_t *load;
    (void)state;

    fill(&c);
    remove_file(0, ".index");
    c.cold_dir = cdir;
    c.local_retention_bytes = 0; /* due by size: no timestamp needed */
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    assert_int_equal(log_read(log, 1, 100, &s), -EWOULDBLOCK);
    load = log_job_take(log);
    m = log_move_prepare(log, st_wall_ms());
    assert_non_null(m);
    assert_int_equal(log_move_run(m), 0);
    assert_int_equal(log_move_finish(log, m, 0), 0);
    assert_true(exists(cdir, 0, ".log"));
    assert_false(exists(pdir, 0, ".log"));
    /* The load runs after the move: it rewrites the local index. */
    assert_int_equal(run_elsewhere(load), 0);
    assert_true(exists(pdir, 0, ".index"));
    assert_int_equal(log_job_finish(log, load, 0), 0);
    assert_false(exists(pdir, 0, ".index"));
    assert_false(exists(pdir, 0, ".timeindex"));
    assert_true(exists(cdir, 0, ".index"));
    drain(log); /* the move's directory fsync, the cold segment's load */
    check_tail(log, 0);
    log_close(log);
}

/* A load finishing while more sealed segments are loaded than are kept
 * evicts another one, never the segment just loaded: the reads that
 * waited for it run next. */
static void test_loaded_segment_survives_eviction(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    log_slice_t s;
    log_job_t *job;
    int64_t b[64];
    size_t n;
    (void)state;

    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    while (log_segment_count(log) < 8)
        append_batches(log, 10, 3, 300);
    log_close(log);
    n = bases(b, 64);
    assert_true(n >= 8);
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    /* Segment 5's load is asked for first... */
    assert_int_equal(log_read(log, b[5], 100, &s), -EWOULDBLOCK);
    job = log_job_take(log);
    /* ...then segments 1-4 are loaded and read after it. */
    for (int k = 1; k <= 4; k++) {
        int rc = log_read(log, b[k], 100, &s);
        if (rc == -EWOULDBLOCK) {
            log_job_t *j = log_job_take(log);
            assert_int_equal(log_job_finish(log, j, run_elsewhere(j)), 0);
            rc = log_read(log, b[k], 100, &s);
        }
        assert_int_equal(rc, 0);
        mem_unref(s.ref);
    }
    assert_int_equal(log_job_finish(log, job, run_elsewhere(job)), 0);
    assert_int_equal(log_read(log, b[5], 100, &s), 0);
    mem_unref(s.ref);
    log_close(log);
}

/* Retention by time needs the oldest segment's largest timestamp: in
 * background mode it queues the load and deletes after it. */
static void test_retention_waits_for_load(void **state)
{
    log_config_t c = small_cfg();
    int64_t second = fill(&c);
    log_t *log;
    (void)state;

    c.retention_ms = 1000; /* the batches are from 1970 */
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    assert_int_equal(log_retention_run(log, st_wall_ms()), 0);
    assert_int_equal(log_start_offset(log), 0);
    assert_int_equal(drain(log), 1);
    assert_true(log_retention_run(log, st_wall_ms()) >= 1);
    assert_true(log_start_offset(log) >= second);
    log_close(log);
}

/* A cold move, decided on a loaded segment's timestamp, queues the local
 * directory's fsync instead of running it on the owner. */
static void test_move_queues_dir_fsync(void **state)
{
    log_config_t c = small_cfg();
    log_t *log;
    log_move_t *m;
    log_job_t *job;
    (void)state;

    fill(&c);
    c.cold_dir = cdir;
    c.cold_after_ms = 0;
    assert_int_equal(log_open(pdir, &c, false, &log), 0);
    log_set_background(log, true);
    assert_null(log_move_prepare(log, st_wall_ms())); /* loads first */
    assert_int_equal(drain(log), 1);
    m = log_move_prepare(log, st_wall_ms());
    assert_non_null(m);
    assert_int_equal(log_move_run(m), 0);
    assert_false(log_job_queued(log));
    assert_int_equal(log_move_finish(log, m, 0), 0);
    assert_false(exists(pdir, 0, ".log"));
    assert_true(exists(cdir, 0, ".log"));
    job = log_job_take(log);
    assert_non_null(job);
    assert_int_equal(log_job_kind(job), LOG_JOB_SYNC_DIR);
    assert_int_equal(log_job_finish(log, job, run_elsewhere(job)), 0);
    check_tail(log, 0);
    log_close(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_rebuilds_off_thread, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_load_is_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_roll_queues_index_write, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_drops_queued_jobs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_segment_deleted_while_job_runs,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_moved_while_loading, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_loaded_segment_survives_eviction,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_waits_for_load, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_move_queues_dir_fsync, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
