/* The write back-ends of the log (storage/io.c), below and through the log:
 * every mode writes the same bytes and leaves the file exactly as long as
 * what was written once sealed; a failed write is cut; readers on other
 * descriptors and threads see every write at once (page-cache coherency,
 * which the direct mode must not break); the buffered modes' trail drops
 * the pages of old windows; and a mode the kernel refuses falls back to
 * pwrite with the log working on. The uring modes also finish writes that
 * io_uring reports short, and fall back when the thread writing has no
 * ring. Each test works in its own mkdtemp directory.
 *
 * Where io_uring cannot be had at all (a kernel without it, a container
 * refusing it), the uring modes are only checked to fall back to pwrite:
 * main says so. */
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
#include <linux/magic.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "storage/io.h"
#include "storage/log.h"
#include "storage/segment.h"
#include "storage/trail.h"

static const log_io_mode_t all_modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP,   LOG_IO_DIRECT,
                                          LOG_IO_URING,  LOG_IO_URING_DIRECT};

/* Whether this machine gives the test an io_uring (main). */
static bool have_uring;

static bool is_uring(log_io_mode_t mode)
{
    return mode == LOG_IO_URING || mode == LOG_IO_URING_DIRECT;
}

/* The mode a writer opened in `mode` has here. */
static log_io_mode_t expect_mode(log_io_mode_t mode)
{
    return is_uring(mode) && !have_uring ? LOG_IO_PWRITE : mode;
}

static int setup(void **state)
{
    (void)state;
    return test_dir_setup("io");
}

static int teardown(void **state)
{
    return test_dir_teardown(state);
}

static off_t fd_size(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return st.st_size;
}

/* The file behind fd holds exactly want[0..len) first, zeros after. */
static void check_file(int fd, const uint8_t *want, size_t len, bool exact)
{
    off_t size = fd_size(fd);
    uint8_t *got;

    if (exact)
        assert_int_equal(size, (off_t)len);
    assert_true(size >= (off_t)len);
    got = malloc((size_t)size + 1);
    assert_int_equal(pread(fd, got, (size_t)size, 0), (ssize_t)size);
    assert_memory_equal(got, want, len);
    for (off_t i = (off_t)len; i < size; i++)
        assert_int_equal(got[i], 0);
    free(got);
}

/* ---- the writers on their own ---- */

/* Writes of odd sizes in several buffers, a cut back (a failed append),
 * more writes, then sealing: the file is the bytes written, and is as long
 * as them in every mode once sealed (before, only the mmap mode is longer,
 * with zeros). Through a 4 KiB block boundary, and past 1 MiB (one write
 * of the uring-direct mode). */
static void writer_case(log_io_mode_t mode)
{
    enum { TOTAL = 3 << 20 };
    uint8_t *want = malloc(TOTAL);
    char path[400];
    seg_file_t *f;
    log_io_t *io;
    static const size_t steps[] = {
        1,    2,     3, 100,       4095,   4096, 4097,         5000,
        8191, 12288, 3, (1 << 20), 123457, 77,   (1 << 20) + 1};
    size_t len = 0, round;
    int fd;

    for (size_t i = 0; i < TOTAL; i++)
        want[i] = (uint8_t)(i * 2654435761u >> 13);
    snprintf(path, sizeof(path), "%s/w-%s.log", tmpdir, log_io_mode_name(mode));
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    f = seg_file_new(fd);
    assert_int_equal(log_io_open(mode, f, path, 0, 1 << 30, &io), 0);
    assert_int_equal(log_io_mode(io), expect_mode(mode));
    for (round = 0; len + steps[round % ST_ARRAY_LEN(steps)] <= TOTAL;
         round++) {
        size_t step = steps[round % ST_ARRAY_LEN(steps)];
        size_t a = step / 3, b = step - a;
        struct iovec v[3];
        v[0] = (struct iovec){want + len, a};
        v[1] = (struct iovec){want + len + a, b};
        v[2] = (struct iovec){want + len + step, 0};
        assert_int_equal(log_io_writev(io, v, 3, (int64_t)len), 0);
        len += step;
        check_file(fd, want, len, mode != LOG_IO_MMAP);
        if (round % 3 == 1) {
            /* A failed append is cut; the next write goes where it was. */
            len -= step / 2 + 1;
            assert_int_equal(log_io_truncate(io, (int64_t)len), 0);
            check_file(fd, want, len, mode != LOG_IO_MMAP);
        }
    }
    assert_true(len > (1 << 20) + 4096);
    assert_true(log_io_seal(io, (int64_t)len) >= 0);
    check_file(fd, want, len, true);
    seg_file_unref(f);
    free(want);
}

static void test_writers(void **state)
{
    size_t m;

    (void)state;
    for (m = 0; m < ST_ARRAY_LEN(all_modes); m++)
        writer_case(all_modes[m]);
}

/* Bytes of disk the file behind fd holds. */
static int64_t fd_disk(int fd)
{
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    return (int64_t)st.st_blocks * 512;
}

/* The writeback and uring modes reserve blocks past the end without
 * lengthening the file, and give them back when cut and when sealed. Only
 * where the filesystem frees blocks past the end on ftruncate to the same
 * length (ext4, xfs; not tmpfs): elsewhere only the bytes are checked. */
static void prealloc_case(log_io_mode_t mode)
{
    enum { A = 100 << 10, B = 300 << 10 };
    uint8_t *want = malloc(B);
    char path[400];
    struct statfs sf;
    seg_file_t *f;
    log_io_t *io;
    struct iovec v;
    bool blocks;
    int fd;

    for (size_t i = 0; i < B; i++)
        want[i] = (uint8_t)(i * 7 + 1);
    snprintf(path, sizeof(path), "%s/p-%s.log", tmpdir, log_io_mode_name(mode));
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(fstatfs(fd, &sf), 0);
    blocks = sf.f_type == EXT4_SUPER_MAGIC || sf.f_type == XFS_SUPER_MAGIC;
    f = seg_file_new(fd);
    assert_int_equal(log_io_open(mode, f, path, 0, 1 << 30, &io), 0);
    v = (struct iovec){want, A};
    assert_int_equal(log_io_writev(io, &v, 1, 0), 0);
    check_file(fd, want, A, true);
    /* as much again as the segment holds */
    if (blocks)
        assert_true(fd_disk(fd) >= 2 * A);
    assert_int_equal(log_io_truncate(io, A / 2), 0);
    check_file(fd, want, A / 2, true);
    if (blocks)
        assert_true(fd_disk(fd) <= A / 2 + 4096);
    v = (struct iovec){want + A / 2, B - A / 2};
    assert_int_equal(log_io_writev(io, &v, 1, A / 2), 0);
    check_file(fd, want, B, true);
    if (blocks)
        assert_true(fd_disk(fd) >= 2 * B);
    assert_int_equal(log_io_seal(io, B), 0);
    check_file(fd, want, B, true);
    if (blocks)
        assert_int_equal(fd_disk(fd), B);
    seg_file_unref(f);
    free(want);
}

static void test_prealloc(void **state)
{
    (void)state;
    prealloc_case(LOG_IO_WRITEBACK);
    if (have_uring)
        prealloc_case(LOG_IO_URING);
}

/* io_uring writes that report fewer bytes than asked are finished: the
 * uring mode resubmits the rest of its buffers, the uring-direct mode
 * redoes the rest of each chunk. */
static void test_uring_short_writes(void **state)
{
    (void)state;
    log_io_test_short_writes(5000); /* uring-direct: one block */
    writer_case(LOG_IO_URING);
    writer_case(LOG_IO_URING_DIRECT);
    log_io_test_short_writes(0);
}

/* Appends larger than the direct modes' staging buffers (4 MiB for
 * direct; 8 chunks of 1 MiB for uring-direct), which go out a buffer at a
 * time, with a partial block before and after. */
static void test_large_writes(void **state)
{
    enum { TOTAL = (27 << 20) + 12351 };
    static const size_t sizes[] = {6, (19 << 20) + 12345, 8 << 20};
    uint8_t *want = malloc(TOTAL);
    char path[400];
    size_t m, i;

    (void)state;
    for (i = 0; i < TOTAL; i++)
        want[i] = (uint8_t)(i * 2246822519u >> 11);
    for (m = 0; m < ST_ARRAY_LEN(all_modes); m++) {
        log_io_mode_t mode = all_modes[m];
        size_t len = 0;
        seg_file_t *f;
        log_io_t *io;
        int fd;

        snprintf(path, sizeof(path), "%s/big-%s.log", tmpdir,
                 log_io_mode_name(mode));
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        assert_true(fd >= 0);
        f = seg_file_new(fd);
        assert_int_equal(log_io_open(mode, f, path, 0, 1 << 30, &io), 0);
        for (i = 0; i < ST_ARRAY_LEN(sizes); i++) {
            size_t a = sizes[i] / 3, b = sizes[i] / 2;
            struct iovec v[3] = {{want + len, a},
                                 {want + len + a, b},
                                 {want + len + a + b, sizes[i] - a - b}};
            assert_int_equal(log_io_writev(io, v, 3, (int64_t)len), 0);
            len += sizes[i];
        }
        assert_int_equal(len, TOTAL);
        assert_int_equal(log_io_mode(io), expect_mode(mode));
        assert_true(log_io_seal(io, (int64_t)len) >= 0);
        check_file(fd, want, len, true);
        seg_file_unref(f);
        unlink(path);
    }
    free(want);
}

/* A write cut short by the file size limit (a full disk alike) fails
 * with the limit's error in the uring modes too, after writing what fit,
 * and is cut; below the limit again, writing goes on. */
static void test_uring_efbig(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_URING, LOG_IO_URING_DIRECT};
    uint8_t want[3 << 14];
    size_t m;

    (void)state;
    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)(i * 13 + 1);
    signal(SIGXFSZ, SIG_IGN);
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        struct rlimit old, lim;
        struct iovec v;
        char path[400];
        seg_file_t *f;
        log_io_t *io;
        int fd;

        snprintf(path, sizeof(path), "%s/fbig-%s.log", tmpdir,
                 log_io_mode_name(modes[m]));
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        f = seg_file_new(fd);
        assert_int_equal(log_io_open(modes[m], f, path, 0, 1 << 30, &io), 0);
        v = (struct iovec){want, 5000};
        assert_int_equal(log_io_writev(io, &v, 1, 0), 0);
        getrlimit(RLIMIT_FSIZE, &old);
        lim = old;
        lim.rlim_cur = 20000;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        v = (struct iovec){want + 5000, 30000};
        assert_int_equal(log_io_writev(io, &v, 1, 5000), -EFBIG);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(log_io_truncate(io, 5000), 0);
        check_file(fd, want, 5000, true);
        v = (struct iovec){want + 5000, sizeof(want) - 5000};
        assert_int_equal(log_io_writev(io, &v, 1, 5000), 0);
        assert_int_equal(log_io_mode(io), expect_mode(modes[m]));
        assert_true(log_io_seal(io, sizeof(want)) >= 0);
        check_file(fd, want, sizeof(want), true);
        seg_file_unref(f);
    }
}

/* A writer may be written from another thread than the one that opened
 * it: that thread gets a ring of its own (freed when it exits), or, when
 * it cannot have one (refused here), the writer falls back to pwrite at
 * that write, which still lands. */
struct thread_write {
    log_io_t *io;
    const uint8_t *bytes;
    size_t from, len;
    int rc;
};

static void *thread_write_main(void *arg)
{
    struct thread_write *w = arg;
    struct iovec v = {(void *)(w->bytes + w->from), w->len};

    w->rc = log_io_writev(w->io, &v, 1, (int64_t)w->from);
    return NULL;
}

static void test_uring_other_thread(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_URING, LOG_IO_URING_DIRECT};
    uint8_t want[40000];
    size_t m;

    (void)state;
    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)(i * 29 + 5);
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        struct thread_write w = {.bytes = want};
        struct iovec v;
        char path[400];
        pthread_t th;
        seg_file_t *f;
        int fd;

        snprintf(path, sizeof(path), "%s/thr-%s.log", tmpdir,
                 log_io_mode_name(modes[m]));
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        f = seg_file_new(fd);
        assert_int_equal(log_io_open(modes[m], f, path, 0, 1 << 30, &w.io), 0);
        v = (struct iovec){want, 10000};
        assert_int_equal(log_io_writev(w.io, &v, 1, 0), 0);
        /* a thread of its own: a ring of its own */
        w.from = 10000;
        w.len = 10000;
        assert_int_equal(pthread_create(&th, NULL, thread_write_main, &w), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(log_io_mode(w.io), expect_mode(modes[m]));
        /* a thread without one */
        log_io_test_refuse(modes[m], ENOSYS);
        w.from = 20000;
        assert_int_equal(pthread_create(&th, NULL, thread_write_main, &w), 0);
        assert_int_equal(pthread_join(th, NULL), 0);
        log_io_test_refuse(modes[m], 0);
        assert_int_equal(w.rc, 0);
        assert_int_equal(log_io_mode(w.io), LOG_IO_PWRITE);
        v = (struct iovec){want + 30000, sizeof(want) - 30000};
        assert_int_equal(log_io_writev(w.io, &v, 1, 30000), 0);
        assert_true(log_io_seal(w.io, sizeof(want)) >= 0);
        check_file(fd, want, sizeof(want), true);
        seg_file_unref(f);
    }
}

/* A writer opened on a file that already holds bytes (the active segment
 * reopened) continues after them, the direct mode with their partial last
 * block. */
static void test_writer_reopen(void **state)
{
    uint8_t want[20000];
    char path[400];
    size_t m;

    (void)state;
    for (size_t i = 0; i < sizeof(want); i++)
        want[i] = (uint8_t)(i * 7 + 3);
    for (m = 0; m < ST_ARRAY_LEN(all_modes); m++) {
        struct iovec v;
        seg_file_t *f;
        log_io_t *io;
        int fd;

        snprintf(path, sizeof(path), "%s/r-%s.log", tmpdir,
                 log_io_mode_name(all_modes[m]));
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
        assert_int_equal(pwrite(fd, want, 5000, 0), 5000);
        f = seg_file_new(fd);
        assert_int_equal(log_io_open(all_modes[m], f, path, 5000, 1 << 30, &io),
                         0);
        v = (struct iovec){want + 5000, sizeof(want) - 5000};
        assert_int_equal(log_io_writev(io, &v, 1, 5000), 0);
        assert_int_equal(log_io_seal(io, sizeof(want)) >= 0, 1);
        check_file(fd, want, sizeof(want), true);
        seg_file_unref(f);
    }
}

/* ---- the log, in every mode ---- */

/* A reader thread with its own descriptor of the segment, as another
 * process would have, reads what the log has committed while appends go
 * on, and compares with the model (which only grows past what it reads).
 * Through the page cache, this is what a Fetch being sent sees. */
struct reader {
    char path[500];
    _Atomic size_t committed;
    atomic_bool stop;
    const uint8_t *bytes; /* stable: reserved before the thread starts */
    _Atomic unsigned long reads;
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    uint8_t *buf = malloc(1 << 20);
    int fd = open(r->path, O_RDONLY);
    unsigned seed = 7;

    assert_true(fd >= 0);
    while (!atomic_load(&r->stop)) {
        size_t end = atomic_load(&r->committed), from, n;
        if (end == 0)
            continue;
        seed = seed * 1103515245u + 12345u;
        /* mostly the newest bytes, where a direct write just landed */
        from = end - ST_MIN(end, (size_t)(seed >> 8) % 20000 + 1);
        n = ST_MIN(end - from, (size_t)1 << 20);
        assert_int_equal(pread(fd, buf, n, (off_t)from), (ssize_t)n);
        if (memcmp(buf, r->bytes + from, n) != 0)
            fail_msg("reader saw stale bytes in [%zu, %zu)", from, from + n);
        atomic_fetch_add(&r->reads, 1);
    }
    close(fd);
    free(buf);
    return NULL;
}

static void coherency_case(log_io_mode_t mode)
{
    log_config_t c = cfg_for(mode);
    struct reader r = {0};
    pthread_t th;
    char dir[400];
    log_t *log;
    int i;

    model_reset();
    /* Every byte the test will write, reserved up front so that the
     * reader's pointer stays valid. */
    M.cap = 64 << 20;
    M.bytes = malloc(M.cap);
    snprintf(dir, sizeof(dir), "%s/coh-%s", tmpdir, log_io_mode_name(mode));
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    snprintf(r.path, sizeof(r.path), "%s/%020d.log", dir, 0);
    r.bytes = M.bytes;
    assert_int_equal(pthread_create(&th, NULL, reader_main, &r), 0);
    for (i = 0; i < 400; i++) {
        if (i % 40 == 39) /* some larger: O_DIRECT writes of many blocks */
            append_batches(log, 40, 8, 1000);
        else
            append_batches(log, 1 + i % 5, 1 + i % 4,
                           100 + (size_t)(i * 37 % 900));
        assert_true(M.len <= M.cap);
        atomic_store(&r.committed, M.len);
    }
    /* A loaded machine may not have run the reader yet: let it check the
     * finished file too, for up to 10 s. */
    for (i = 0; atomic_load(&r.reads) < 100 && i < 10000; i++)
        usleep(1000);
    atomic_store(&r.stop, true);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_true(atomic_load(&r.reads) > 0);
    log_close(log);
}

static void test_coherency(void **state)
{
    size_t m;

    (void)state;
    for (m = 0; m < ST_ARRAY_LEN(all_modes); m++)
        coherency_case(all_modes[m]);
}

/* The first MiB the log reads back is the model's first MiB. */
static void check_first_mib(log_t *log)
{
    log_slice_t s;
    uint8_t *buf = malloc(1 << 20);

    assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
    assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
    assert_memory_equal(buf, M.bytes, s.len);
    mem_unref(s.ref);
    free(buf);
}

/* The buffered modes with a trail keep only the last windows in the page
 * cache; pwrite keeps everything. */
static void test_trail_drops_pages(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP, LOG_IO_URING};
    size_t m;

    (void)state;
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        log_config_t c = cfg_for(modes[m]);
        size_t win_pages = LOG_IO_WINDOW / 4096, first;

        if (expect_mode(modes[m]) != modes[m])
            continue;
        char dir[400], path[500];
        log_t *log;
        int fd, i;

        model_reset();
        snprintf(dir, sizeof(dir), "%s/trail-%s", tmpdir,
                 log_io_mode_name(modes[m]));
        assert_int_equal(log_open(dir, &c, false, &log), 0);
        /* 5 windows and a bit, in appends of ~1 MiB */
        for (i = 0; i < 6 * (LOG_IO_WINDOW >> 20); i++)
            append_batches(log, 64, 15, 1000);
        assert_true(M.len > 5 * (size_t)LOG_IO_WINDOW);
        snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        first = resident(fd, 0, LOG_IO_WINDOW);
        if (modes[m] == LOG_IO_PWRITE)
            assert_true(first > win_pages / 2);
        else
            assert_true(first < win_pages / 10);
        close(fd);
        /* the data is all there all the same */
        check_first_mib(log);
        log_close(log);
        /* Disk space for the next mode. */
        assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    }
    model_reset();
}

/* A failed wait (a disk error) lets its window go without dropping it:
 * the appends go on, past many windows, and keep their data; the pages
 * stay cached. Before, such a window stayed counted as held, and the
 * owner waited for it forever once four were. */
static void test_trail_failed_waits(void **state)
{
    log_config_t c = cfg_for(LOG_IO_WRITEBACK);
    size_t win_pages = LOG_IO_WINDOW / 4096;
    char dir[400], path[500];
    log_t *log;
    int fd, i;

    (void)state;
    if (expect_mode(LOG_IO_WRITEBACK) != LOG_IO_WRITEBACK)
        skip();
    snprintf(dir, sizeof(dir), "%s/trail-fail", tmpdir);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    log_io_test_fail_waits(EIO);
    for (i = 0; i < 8 * (LOG_IO_WINDOW >> 20); i++)
        append_batches(log, 64, 15, 1000);
    trail_wait();
    log_io_test_fail_waits(0);
    assert_true(M.len > 7 * (size_t)LOG_IO_WINDOW);
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    /* nothing was dropped */
    assert_true(resident(fd, 0, LOG_IO_WINDOW) > win_pages / 2);
    close(fd);
    check_first_mib(log);
    log_close(log);
    trail_wait();
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    model_reset();
}

/* While a sync of the log is running, what is appended has its writeback
 * started at once on the trail's thread (kicked), not only when its
 * window is full; without a sync running, nothing is kicked. */
static void test_trail_kicks(void **state)
{
    log_config_t c = cfg_for(LOG_IO_WRITEBACK);
    char dir[400];
    log_sync_t *sync;
    uint64_t before;
    log_t *log;
    int i;

    (void)state;
    if (expect_mode(LOG_IO_WRITEBACK) != LOG_IO_WRITEBACK)
        skip();
    snprintf(dir, sizeof(dir), "%s/trail-kick", tmpdir);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    before = trail_kicked_bytes();
    for (i = 0; i < 4; i++)
        append_batches(log, 64, 15, 1000);
    trail_wait();
    assert_true(trail_kicked_bytes() == before);
    sync = log_sync_prepare(log);
    assert_non_null(sync);
    for (i = 0; i < 4; i++)
        append_batches(log, 64, 15, 1000);
    trail_wait();
    /* each ~1 MiB append was kicked off */
    assert_true(trail_kicked_bytes() - before >= 3u << 20);
    assert_int_equal(log_sync_run(sync), 0);
    log_sync_finish(log, sync);
    check_first_mib(log);
    log_close(log);
    trail_wait();
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    model_reset();
}

/* Whether a thread of this process has the given name. */
static bool thread_named(const char *name)
{
    char path[300], comm[64];
    bool found = false;
    int i;

    for (i = 0; i < 4096 && !found; i++) {
        FILE *f;
        snprintf(path, sizeof(path), "/proc/self/task/%d/comm",
                 (int)getpid() + i);
        f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof(comm), f))
            found = strncmp(comm, name, strlen(name)) == 0;
        fclose(f);
    }
    return found;
}

/* The trail's work runs on its own thread: an append only hands windows
 * over, waiting once its log has four not yet dropped, so the page cache
 * holds a bounded part of the log at every step. A log closed with
 * windows still queued leaves them to the thread, which drops them and
 * then lets go of the files (ASan: nothing leaked or used after free). */
static void test_trail_thread(void **state)
{
    log_config_t c = cfg_for(LOG_IO_WRITEBACK);
    size_t win_pages = LOG_IO_WINDOW / 4096, most = 0;
    char dir[400], path[500];
    log_t *log;
    int fd, i;

    (void)state;
    if (expect_mode(LOG_IO_WRITEBACK) != LOG_IO_WRITEBACK)
        skip();
    assert_int_equal(trail_start(), 0);
    assert_true(thread_named("strata-trail"));
    snprintf(dir, sizeof(dir), "%s/trail-thread", tmpdir);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    /* 10 windows and a bit, in appends of ~1 MiB */
    for (i = 0; i < 11 * (LOG_IO_WINDOW >> 20); i++) {
        size_t n;
        append_batches(log, 64, 15, 1000);
        n = resident(fd, 0, ((int64_t)M.len + 4095) & ~4095);
        most = n > most ? n : most;
    }
    assert_true(M.len > 10 * (size_t)LOG_IO_WINDOW);
    /* four windows held, the one being filled, and the edges */
    assert_true(most <= 5 * win_pages + 16);
    log_close(log);
    trail_wait();
    /* what the trail held at the close: its last two windows and the tail
     * are left cached; everything before was dropped */
    assert_true(resident(fd, 0, 8 * (int64_t)LOG_IO_WINDOW) < win_pages / 10);
    close(fd);
    assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    model_reset();
}

/* A catch-up read far behind the end drops the pages it has passed in the
 * recycling modes (so that reading from disk reuses pages too); pwrite
 * keeps them. The reads bring the pages in themselves (the trail dropped
 * them when they were written). */
static void test_catch_up_drops_pages(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK};
    size_t m;

    (void)state;
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        log_config_t c = cfg_for(modes[m]);
        size_t pages = (16 << 20) / 4096, kept;
        char dir[400], path[500];
        uint8_t *buf = malloc(2 << 20);
        int64_t off = 0, pos = 0;
        log_t *log;
        int fd, i;

        model_reset();
        snprintf(dir, sizeof(dir), "%s/catchup-%s", tmpdir,
                 log_io_mode_name(modes[m]));
        assert_int_equal(log_open(dir, &c, false, &log), 0);
        for (i = 0; i < 8 * (LOG_IO_WINDOW >> 20); i++)
            append_batches(log, 64, 15, 1000);
        /* read the first 32 MiB, as a consumer would */
        while (pos < (32 << 20)) {
            log_slice_t s;
            assert_int_equal(log_read(log, off, 1 << 20, &s), 0);
            /* marked for a read-in on another thread where the trail
             * dropped the pages */
            assert_int_equal(s.behind, modes[m] != LOG_IO_PWRITE);
            assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
            assert_memory_equal(buf, M.bytes + s.pos, s.len);
            pos = s.pos + (int64_t)s.len;
            off = s.next_offset;
            mem_unref(s.ref);
        }
        snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        {
            /* log_slice_read_in leaves the whole range cached, and the
             * slice mapped: it points at the same bytes in memory */
            log_slice_t s, t;
            assert_int_equal(log_read(log, off, 1 << 20, &s), 0);
            /* pwrite: the hot tier's mapping already; else a file range */
            assert_true(s.behind == (s.p == NULL));
            assert_int_equal(
                posix_fadvise(fd, s.pos, (off_t)s.len, POSIX_FADV_DONTNEED), 0);
            assert_int_equal(log_slice_read_in(&s), 0);
            assert_int_equal(
                resident(fd, s.pos & ~4095, (s.pos + (int64_t)s.len) & ~4095),
                (size_t)(((s.pos + (int64_t)s.len) & ~4095) - (s.pos & ~4095)) /
                    4096);
            assert_non_null(s.p);
            assert_memory_equal(s.p, M.bytes + s.pos, s.len);
            /* log_slice_prefetch reads the next range in, maps nothing */
            assert_int_equal(log_read(log, s.next_offset, 1 << 20, &t), 0);
            assert_int_equal(
                posix_fadvise(fd, t.pos, (off_t)t.len, POSIX_FADV_DONTNEED), 0);
            assert_int_equal(log_slice_prefetch(&t), 0);
            assert_true(t.behind == (t.p == NULL));
            assert_int_equal(
                resident(fd, t.pos & ~4095, (t.pos + (int64_t)t.len) & ~4095),
                (size_t)(((t.pos + (int64_t)t.len) & ~4095) - (t.pos & ~4095)) /
                    4096);
            mem_unref(t.ref);
            mem_unref(s.ref); /* unmaps, then drops the file */
        }
        kept = resident(fd, 0, 16 << 20);
        if (modes[m] == LOG_IO_PWRITE)
            assert_true(kept > pages / 2);
        else
            assert_true(kept < pages / 10);
        close(fd);
        free(buf);
        log_close(log);
        assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    }
    model_reset();
}

/* ---- a mode the kernel refuses: pwrite, with a warning ---- */

/* stderr (fd 2, where st_log writes) goes to a file between these two;
 * capture_end puts it back, passes on what was written, and counts the
 * lines holding `needle`. */
static int saved_stderr = -1;
static char capture_path[300];

static void capture_begin(void)
{
    int fd;

    snprintf(capture_path, sizeof(capture_path), "%s/stderr.txt", tmpdir);
    fd = open(capture_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    fflush(stderr);
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(fd, 2), 2);
    close(fd);
}

static int capture_end(const char *needle)
{
    char buf[8192];
    const char *p;
    ssize_t n;
    int fd, count = 0;

    fflush(stderr);
    assert_int_equal(dup2(saved_stderr, 2), 2);
    close(saved_stderr);
    fd = open(capture_path, O_RDONLY);
    assert_true(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    assert_true(n >= 0);
    buf[n] = 0;
    fputs(buf, stderr);
    for (p = buf; (p = strstr(p, needle)); p++)
        count++;
    return count;
}

/* `mode` with the probe of `refused` failing with err: the log works in
 * pwrite, through rolls, saying so `warnings` times (-1: not checked). */
static void fallback_case(log_io_mode_t mode, log_io_mode_t refused, int err,
                          int warnings)
{
    log_config_t c = cfg_for(mode);
    char dir[400], needle[100];
    log_t *log;
    log_slice_t s;
    int got;

    model_reset();
    c.segment_bytes = 8192;
    snprintf(dir, sizeof(dir), "%s/fb-%s-%s", tmpdir, log_io_mode_name(mode),
             log_io_mode_name(refused));
    snprintf(needle, sizeof(needle), "log.io.mode=%s is not available",
             log_io_mode_name(mode));
    log_io_test_refuse(refused, err);
    capture_begin();
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    assert_int_equal(log_effective_io_mode(log), LOG_IO_PWRITE);
    append_batches(log, 30, 2, 500); /* rolls: new segments stay pwrite */
    assert_true(log_segment_count(log) > 2);
    assert_int_equal(log_effective_io_mode(log), LOG_IO_PWRITE);
    assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
    mem_unref(s.ref);
    log_close(log);
    got = capture_end(needle);
    if (warnings >= 0)
        assert_int_equal(got, warnings);
    /* Once allowed again, a reopened log uses the mode. */
    log_io_test_refuse(refused, 0);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    assert_int_equal(log_effective_io_mode(log), expect_mode(mode));
    assert_int_equal(log_end_offset(log), M.next);
    log_close(log);
}

/* One warning per process and mode, however many segments fall back. */
static void test_fallback(void **state)
{
    int once = have_uring ? 1 : -1;

    (void)state;
    fallback_case(LOG_IO_DIRECT, LOG_IO_DIRECT, EINVAL, 1);
    fallback_case(LOG_IO_MMAP, LOG_IO_MMAP, EOPNOTSUPP, 1);
    /* no io_uring: not in the kernel, or refused by seccomp */
    fallback_case(LOG_IO_URING, LOG_IO_URING, ENOSYS, once);
    fallback_case(LOG_IO_URING_DIRECT, LOG_IO_URING_DIRECT, EPERM, once);
    /* a ring, but no O_DIRECT (said already for this mode) */
    fallback_case(LOG_IO_URING_DIRECT, LOG_IO_DIRECT, EINVAL,
                  have_uring ? 0 : -1);
}

/* Names and parsing: what the broker's config uses. */
static void test_names(void **state)
{
    log_io_mode_t m;
    log_config_t c;

    (void)state;
    for (m = LOG_IO_DEFAULT; m <= LOG_IO_MODE_LAST; m++) {
        log_io_mode_t back;
        assert_int_equal(log_io_mode_parse(log_io_mode_name(m), &back), 0);
        assert_int_equal(back, m);
    }
    assert_string_equal(log_io_mode_name(LOG_IO_WRITEBACK), "writeback");
    assert_string_equal(log_io_mode_name((log_io_mode_t)99), "unknown");
    assert_string_equal(log_io_mode_name(LOG_IO_URING_DIRECT), "uring-direct");
    assert_int_equal(log_io_mode_parse("uring", &m), 0);
    assert_int_equal(m, LOG_IO_URING);
    assert_int_equal(log_io_mode_parse("io_uring", &m), -EINVAL);
    assert_int_equal(log_io_mode_parse("uring-", &m), -EINVAL);
    assert_int_equal(log_io_mode_parse("", &m), -EINVAL);
    log_config_default(&c);
    assert_int_equal(c.io_mode, LOG_IO_DEFAULT);
    {
        char dir[400];
        log_t *log;
        snprintf(dir, sizeof(dir), "%s/names", tmpdir);
        assert_int_equal(log_open(dir, &c, false, &log), 0);
        assert_int_equal(log_effective_io_mode(log), LOG_IO_MODE_DEFAULT);
        log_close(log);
        c.io_mode = (log_io_mode_t)42;
        assert_int_equal(log_open(dir, &c, false, &log), -EINVAL);
    }
}

/* Whether a writer in the uring mode keeps it here. */
static bool probe_uring(void)
{
    char path[] = "/tmp/strata-test-io-probe-XXXXXX";
    int fd = mkstemp(path);
    seg_file_t *f;
    log_io_t *io;
    bool ok;

    assert_true(fd >= 0);
    f = seg_file_new(fd);
    assert_int_equal(log_io_open(LOG_IO_URING, f, path, 0, 1 << 30, &io), 0);
    ok = log_io_mode(io) == LOG_IO_URING;
    log_io_free(io);
    seg_file_unref(f);
    unlink(path);
    return ok;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_writers),
        T(test_prealloc),
        T(test_uring_short_writes),
        T(test_large_writes),
        T(test_uring_efbig),
        T(test_writer_reopen),
        T(test_coherency),
        T(test_trail_drops_pages),
        T(test_trail_thread),
        T(test_trail_failed_waits),
        T(test_trail_kicks),
        T(test_catch_up_drops_pages),
        /* before anything else refuses a mode: it counts the warnings */
        T(test_fallback),
        T(test_uring_other_thread),
        T(test_names),
    };
#undef T
    have_uring = probe_uring();
    if (!have_uring)
        fprintf(stderr, "# no io_uring here: the uring modes are only "
                        "checked to fall back to pwrite\n");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
