/* The hot tier (storage/hot.c, and log_read through it): a read mapping
 * sees later writes to its file and outlives the file's deletion and the
 * log's reference while a slice holds one; the log serves tail reads of
 * the active segment from the mapping and everything else as file ranges;
 * a mapped slice outlives a roll and a retention pass that deletes its
 * segment; and in the recycling modes the trail still drops the pages of
 * windows a reader had mapped (they are unmapped first). Each test works
 * in its own mkdtemp directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"
#include "tests/unit/test_log_util.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/hot.h"
#include "storage/io.h"
#include "storage/log.h"
#include "storage/segment.h"

static int setup(void **state)
{
    (void)state;
    return test_dir_setup("hot");
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

static seg_file_t *make_file(char *path, size_t n, const char *name)
{
    int fd;
    snprintf(path, n, "%s/%s", tmpdir, name);
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    return seg_file_new(fd);
}

/* ---- the mapping itself ---- */

static void test_sees_later_writes(void **state)
{
    char path[400];
    seg_file_t *f = make_file(path, sizeof(path), "a");
    hot_map_t *m;
    uint8_t a[5000], b[3000];
    (void)state;

    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    assert_int_equal(pwrite(f->fd, a, sizeof(a), 0), (ssize_t)sizeof(a));
    /* longer than the file: the active segment grows into its mapping */
    assert_int_equal(hot_map_open(f, 1 << 20, &m), 0);
    assert_true(m->cap >= 1 << 20);
    assert_ptr_equal(m->file, f);
    assert_memory_equal(m->base, a, sizeof(a));
    /* appended after the mapping was made: visible at once */
    assert_int_equal(pwrite(f->fd, b, sizeof(b), sizeof(a)),
                     (ssize_t)sizeof(b));
    assert_memory_equal(m->base + sizeof(a), b, sizeof(b));
    /* unmapped pages fault back in with the same bytes; a range past the
     * mapping is clipped, a bad one ignored */
    hot_map_zap(m, 0, sizeof(a) + sizeof(b));
    assert_memory_equal(m->base, a, sizeof(a));
    hot_map_zap(m, 4096, INT64_MAX / 2);
    hot_map_zap(m, -1, 10);
    hot_map_zap(NULL, 0, 10);
    assert_memory_equal(m->base + sizeof(a), b, sizeof(b));
    hot_map_unref(m);
    seg_file_unref(f);
}

static void test_outlives_file_and_owner(void **state)
{
    char path[400];
    seg_file_t *f = make_file(path, sizeof(path), "b");
    hot_map_t *m, *slice;
    uint8_t a[100];
    (void)state;

    memset(a, 'x', sizeof(a));
    assert_int_equal(pwrite(f->fd, a, sizeof(a), 0), (ssize_t)sizeof(a));
    assert_int_equal(hot_map_open(f, sizeof(a), &m), 0);
    slice = hot_map_ref(m); /* a response in flight */
    /* retention deletes the segment, the log drops the file and its
     * reference to the mapping */
    unlink(path);
    seg_file_unref(f);
    hot_map_unref(m);
    assert_memory_equal(slice->base, a, sizeof(a));
    /* the descriptor stays valid with the mapping */
    assert_int_equal(pread(slice->file->fd, a, 10, 0), 10);
    hot_map_unref(slice); /* the last one unmaps and closes */
    hot_map_unref(NULL);
}

static void test_refusals(void **state)
{
    char path[400];
    seg_file_t *f = make_file(path, sizeof(path), "c"), *w;
    hot_map_t *m = (hot_map_t *)1;
    (void)state;

    assert_int_equal(hot_map_open(f, 0, &m), -EINVAL);
    assert_null(m);
    /* a write-only descriptor cannot back a read mapping */
    w = seg_file_new(open(path, O_WRONLY));
    assert_non_null(w);
    assert_int_equal(hot_map_open(w, 4096, &m), -EACCES);
    assert_null(m);
    seg_file_unref(w);
    seg_file_unref(f);
}

/* ---- through the log ---- */

/* Reads at offset and checks the bytes against the model, from memory for
 * a mapped slice and with pread for a file range (the descriptor is valid
 * either way). Returns whether the slice was mapped; the caller unrefs
 * *s. */
static bool read_check(log_t *log, int64_t offset, size_t max, log_slice_t *s)
{
    size_t k = model_find(offset);
    uint8_t *buf;

    assert_int_equal(log_read(log, offset, max, s), 0);
    assert_true(s->len > 0);
    assert_true(M.pos[k] + s->len <= M.len);
    buf = malloc(s->len);
    assert_int_equal(pread(s->fd, buf, s->len, s->pos), (ssize_t)s->len);
    assert_memory_equal(buf, M.bytes + M.pos[k], s->len);
    free(buf);
    if (s->p)
        assert_memory_equal(s->p, M.bytes + M.pos[k], s->len);
    return s->p != NULL;
}

/* Tail reads of the active segment are mapped, in every mode that writes
 * through the page cache; reads of sealed segments are file ranges; the
 * direct mode and log.hot.reads=false never map. */
static void test_log_serves_tail_from_mapping(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP,   LOG_IO_DIRECT,
                                          LOG_IO_URING,  LOG_IO_URING_DIRECT};
    size_t m;
    (void)state;

    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        for (int hot = 0; hot < 2; hot++) {
            log_config_t c = cfg_for(modes[m]);
            log_io_mode_t eff;
            bool want;
            char dir[400];
            log_slice_t s, s2;
            log_t *log;
            int64_t tail;

            model_reset();
            c.hot_reads = hot;
            c.segment_bytes = 256 << 10;
            snprintf(dir, sizeof(dir), "%s/tail-%s-%d", tmpdir,
                     log_io_mode_name(modes[m]), hot);
            assert_int_equal(log_open(dir, &c, false, &log), 0);
            append_batches(log, 20, 10, 1000); /* ~200 KiB */
            /* a kernel without io_uring falls back to pwrite */
            eff = log_effective_io_mode(log);
            assert_true(eff == modes[m] || eff == LOG_IO_PWRITE);
            want = hot && eff != LOG_IO_DIRECT && eff != LOG_IO_URING_DIRECT;
            assert_int_equal(read_check(log, 0, 1 << 20, &s), want);
            /* appended after the mapping was made: mapped too */
            tail = log_end_offset(log);
            append_batches(log, 3, 10, 1000);
            assert_int_equal(read_check(log, tail, 1 << 20, &s2), want);
            mem_unref(s2.ref);
            /* roll: the segment sealed last is still read from its
             * mapping; the earlier slice is still good */
            append_batches(log, 10, 10, 1000);
            assert_int_equal(log_segment_count(log), 2);
            assert_int_equal(read_check(log, 0, 1 << 20, &s2), want);
            mem_unref(s2.ref);
            assert_memory_equal(s.p ? s.p : M.bytes, M.bytes, s.len);
            mem_unref(s.ref);
            /* and the new active segment's tail is mapped */
            tail = log_end_offset(log);
            append_batches(log, 1, 10, 1000);
            assert_int_equal(read_check(log, tail, 1 << 20, &s2), want);
            mem_unref(s2.ref);
            /* another roll: the first segment is two seals back, a file
             * range; the second is the one sealed last */
            append_batches(log, 30, 10, 1000);
            assert_int_equal(log_segment_count(log), 3);
            assert_false(read_check(log, 0, 1 << 20, &s2));
            mem_unref(s2.ref);
            tail = s2.next_offset; /* the second segment's base */
            assert_int_equal(read_check(log, tail, 1 << 20, &s2), want);
            mem_unref(s2.ref);
            log_close(log);
        }
    }
}

/* A mapped slice outlives a roll, a retention pass that deletes its
 * segment, and the log's close. */
static void test_slice_outlives_retention(void **state)
{
    log_config_t c = cfg_for(LOG_IO_WRITEBACK);
    char dir[400], path[500];
    log_slice_t s;
    log_t *log;
    uint8_t *copy;
    struct stat st;
    (void)state;

    c.segment_bytes = 64 << 10;
    snprintf(dir, sizeof(dir), "%s/ret", tmpdir);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    append_batches(log, 5, 10, 1000);
    assert_true(read_check(log, 0, 1 << 20, &s));
    copy = malloc(s.len);
    memcpy(copy, M.bytes, s.len);
    /* roll a few times, then keep only the last segment */
    append_batches(log, 8, 10, 1000);
    append_batches(log, 8, 10, 1000);
    assert_true(log_segment_count(log) >= 3);
    c.retention_bytes = 1;
    log_set_limits(log, &c);
    assert_true(log_retention_run(log, st_wall_ms()) >= 2);
    assert_true(log_start_offset(log) > 0);
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
    assert_int_equal(stat(path, &st), -1);
    log_close(log);
    /* the segment is gone from the disk and the log is closed: the bytes
     * a socket would still be sending are there */
    assert_memory_equal(s.p, copy, s.len);
    mem_unref(s.ref);
    free(copy);
}

/* A tailing reader touches every page of the mapping as the writer goes;
 * the trail must still drop the old windows (fadvise alone skips mapped
 * pages). Also: reads far behind the tail are file ranges. */
static void test_trail_drops_mapped_pages(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_WRITEBACK, LOG_IO_MMAP,
                                          LOG_IO_URING};
    size_t m;
    (void)state;

    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        log_config_t c = cfg_for(modes[m]);
        size_t win_pages = LOG_IO_WINDOW / 4096, mapped = 0;
        char dir[400], path[500];
        log_slice_t s;
        log_t *log;
        int fd, i;

        model_reset();
        snprintf(dir, sizeof(dir), "%s/trail-%s", tmpdir,
                 log_io_mode_name(modes[m]));
        assert_int_equal(log_open(dir, &c, false, &log), 0);
        if (log_effective_io_mode(log) != modes[m]) { /* fell back */
            log_close(log);
            continue;
        }
        /* 5 windows and a bit, in appends of ~1 MiB, each read back
         * through the mapping by a reader at the tail */
        for (i = 0; i < 6 * (LOG_IO_WINDOW >> 20); i++) {
            int64_t tail = log_end_offset(log);
            append_batches(log, 64, 15, 1000);
            mapped += read_check(log, tail, 2 << 20, &s);
            mem_unref(s.ref);
        }
        /* the first read made the mapping; every later one used it */
        assert_true(mapped >= (size_t)i - 1);
        assert_true(M.len > 5 * (size_t)LOG_IO_WINDOW);
        /* The trail's thread has seen the windows written; the next
         * append drops them. */
        trail_wait();
        append_batches(log, 1, 1, 100);
        snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_true(resident(fd, LOG_IO_WINDOW, 2 * LOG_IO_WINDOW) <
                    win_pages / 10);
        close(fd);
        /* a catch-up read from the start is a file range */
        assert_false(read_check(log, 0, 1 << 20, &s));
        mem_unref(s.ref);
        log_close(log);
        assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    }
    model_reset();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sees_later_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outlives_file_and_owner, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_serves_tail_from_mapping,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_slice_outlives_retention, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_trail_drops_mapped_pages, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
