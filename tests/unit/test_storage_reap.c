/* The reaper (storage/reap.c): deleted files are closed on its thread, so
 * the caller's unlink returns before the file system frees the blocks; the
 * last release of a segment file marked deleted goes there too; and the
 * log hands it the files that retention, DeleteRecords and a topic
 * deletion remove. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "storage/log.h"
#include "storage/reap.h"
#include "storage/segment.h"

static char tmpdir[256];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/strata-test-reap-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    reap_wait();
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void test_close_and_unlink(void **state)
{
    char path[400];
    uint64_t before = reap_closed();
    int fd;
    struct stat st;
    (void)state;

    assert_int_equal(reap_start(), 0);
    assert_int_equal(reap_start(), 0);
    reap_close(-1); /* ignored */
    fd = open("/dev/null", O_RDONLY);
    assert_true(fd >= 0);
    reap_close(fd);
    reap_wait();
    assert_false(fd_open(fd));
    assert_int_equal(reap_closed(), before + 1);

    snprintf(path, sizeof(path), "%s/x.log", tmpdir);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    assert_int_equal(reap_unlink(path), 0);
    assert_int_equal(stat(path, &st), -1);
    reap_wait();
    assert_int_equal(reap_closed(), before + 2); /* its O_PATH descriptor */
    assert_int_equal(reap_unlink(path), -ENOENT);
}

/* A segment file marked deleted is closed by the reaper when its last
 * reference goes, whoever drops it; an unmarked one at once. */
static void test_seg_file_release(void **state)
{
    uint64_t before;
    seg_file_t *f;
    int fd;
    (void)state;

    reap_wait();
    before = reap_closed();
    fd = open("/dev/null", O_RDONLY);
    f = seg_file_new(fd);
    seg_file_unref(f);
    assert_false(fd_open(fd));
    assert_int_equal(reap_closed(), before);

    fd = open("/dev/null", O_RDONLY);
    f = seg_file_new(fd);
    seg_file_ref(f); /* a response in flight */
    seg_file_deleted(f);
    seg_file_unref(f);
    assert_true(fd_open(fd));
    seg_file_unref(f); /* the response is sent */
    reap_wait();
    assert_false(fd_open(fd));
    assert_int_equal(reap_closed(), before + 1);
}

static void append_some(log_t *log, int n)
{
    uint8_t buf[8192];
    for (int i = 0; i < n; i++) {
        size_t len = build_batch(buf, 10, 500, 1000);
        struct iovec v = {buf, len};
        log_assign_offsets(log, buf, len);
        assert_int_equal(log_append(log, &v, 1), 0);
    }
}

/* Retention, DeleteRecords and destroying the log hand their .log files
 * to the reaper (opened or not). */
static void test_log_deletions_reaped(void **state)
{
    log_config_t c;
    char dir[400];
    log_t *log;
    uint64_t before;
    size_t nsegs;
    (void)state;

    log_config_default(&c);
    c.segment_bytes = 16 << 10;
    c.retention_ms = -1;
    snprintf(dir, sizeof(dir), "%s/topic-0", tmpdir);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    append_some(log, 40);
    nsegs = log_segment_count(log);
    assert_true(nsegs >= 5);
    reap_wait();
    before = reap_closed();
    /* DeleteRecords into the third segment: two go */
    assert_int_equal(log_delete_records(log, log_end_offset(log) / 2), 0);
    reap_wait();
    assert_true(reap_closed() >= before + (nsegs - log_segment_count(log)));
    /* retention of everything but the active one */
    c.retention_bytes = 1;
    log_set_limits(log, &c);
    before = reap_closed();
    nsegs = log_segment_count(log);
    assert_true(log_retention_run(log, st_wall_ms()) > 0);
    reap_wait();
    assert_true(reap_closed() >= before + (nsegs - log_segment_count(log)));
    /* and the whole log */
    append_some(log, 40);
    before = reap_closed();
    assert_int_equal(log_destroy(log), 0);
    reap_wait();
    assert_true(reap_closed() >= before + 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_close_and_unlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seg_file_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_deletions_reaped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
