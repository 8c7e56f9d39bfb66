/* The write back-ends of the log (storage/io.c), below and through the log:
 * every mode writes the same bytes and leaves the file exactly as long as
 * what was written once sealed; a failed write is cut; readers on other
 * descriptors and threads see every write at once (page-cache coherency,
 * which the direct mode must not break); the buffered modes' trail drops
 * the pages of old windows; and a mode the kernel refuses falls back to
 * pwrite with the log working on. Each test works in its own mkdtemp
 * directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tests/unit/test_batches.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/io.h"
#include "storage/log.h"
#include "storage/segment.h"

static const log_io_mode_t all_modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP, LOG_IO_DIRECT};

static char tmpdir[256];

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
    strcpy(tmpdir, "/tmp/strata-test-io-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    model_reset();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    model_reset();
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
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
 * with zeros). Through a 4 KiB block boundary and past the direct mode's
 * 1 MiB staging buffer. */
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
    assert_int_equal(log_io_mode(io), mode);
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

static log_config_t cfg_for(log_io_mode_t mode)
{
    log_config_t c;
    log_config_default(&c);
    c.retention_ms = -1;
    c.io_mode = mode;
    return c;
}

/* Appends n batches of `records` x vsize, each its own iovec. */
static void append_batches(log_t *log, int n, int records, size_t vsize)
{
    size_t cap = (size_t)n * batch_bound(records, vsize), len = 0;
    uint8_t *blob = malloc(cap);
    struct iovec *v = calloc((size_t)n, sizeof(*v));
    int i;

    for (i = 0; i < n; i++) {
        size_t k = build_batch(blob + len, records, vsize, 1000 + i);
        v[i] = (struct iovec){blob + len, k};
        len += k;
    }
    log_assign_offsets(log, blob, len);
    assert_int_equal(log_append(log, v, n), 0);
    for (i = 0; i < n; i++)
        model_add(v[i].iov_base, v[i].iov_len);
    free(v);
    free(blob);
}

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

/* Pages of fd's file in [from, to) that are in the page cache. */
static size_t resident(int fd, int64_t from, int64_t to)
{
    size_t len = (size_t)(to - from), n = 0, i;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *vec = malloc(len / (size_t)page + 1);
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, from);

    assert_true(p != MAP_FAILED);
    assert_int_equal(mincore(p, len, vec), 0);
    for (i = 0; i < len / (size_t)page; i++)
        n += vec[i] & 1;
    munmap(p, len);
    free(vec);
    return n;
}

/* The buffered modes with a trail keep only the last windows in the page
 * cache; pwrite keeps everything. */
static void test_trail_drops_pages(void **state)
{
    static const log_io_mode_t modes[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                          LOG_IO_MMAP};
    size_t m;

    (void)state;
    for (m = 0; m < ST_ARRAY_LEN(modes); m++) {
        log_config_t c = cfg_for(modes[m]);
        size_t win_pages = LOG_IO_WINDOW / 4096, first;
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
        {
            log_slice_t s;
            uint8_t *buf = malloc(1 << 20);
            assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
            assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
            assert_memory_equal(buf, M.bytes, s.len);
            mem_unref(s.ref);
            free(buf);
        }
        log_close(log);
        /* Disk space for the next mode. */
        assert_int_equal(nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
    }
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
            assert_int_equal(pread(s.fd, buf, s.len, s.pos), (ssize_t)s.len);
            assert_memory_equal(buf, M.bytes + s.pos, s.len);
            pos = s.pos + (int64_t)s.len;
            off = s.next_offset;
            mem_unref(s.ref);
        }
        snprintf(path, sizeof(path), "%s/%020d.log", dir, 0);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
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

static void fallback_case(log_io_mode_t mode, int err)
{
    log_config_t c = cfg_for(mode);
    char dir[400];
    log_t *log;
    log_slice_t s;

    model_reset();
    c.segment_bytes = 8192;
    snprintf(dir, sizeof(dir), "%s/fb-%s", tmpdir, log_io_mode_name(mode));
    log_io_test_refuse(mode, err);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    assert_int_equal(log_effective_io_mode(log), LOG_IO_PWRITE);
    append_batches(log, 30, 2, 500); /* rolls: new segments stay pwrite */
    assert_true(log_segment_count(log) > 2);
    assert_int_equal(log_effective_io_mode(log), LOG_IO_PWRITE);
    assert_int_equal(log_read(log, 0, 1 << 20, &s), 0);
    mem_unref(s.ref);
    log_close(log);
    /* Once allowed again, a reopened log uses the mode. */
    log_io_test_refuse(mode, 0);
    assert_int_equal(log_open(dir, &c, false, &log), 0);
    assert_int_equal(log_effective_io_mode(log), mode);
    assert_int_equal(log_end_offset(log), M.next);
    log_close(log);
}

static void test_fallback(void **state)
{
    (void)state;
    fallback_case(LOG_IO_DIRECT, EINVAL);
    fallback_case(LOG_IO_MMAP, EOPNOTSUPP);
}

/* Names and parsing: what the broker's config uses. */
static void test_names(void **state)
{
    log_io_mode_t m;
    log_config_t c;

    (void)state;
    for (m = LOG_IO_DEFAULT; m <= LOG_IO_DIRECT; m++) {
        log_io_mode_t back;
        assert_int_equal(log_io_mode_parse(log_io_mode_name(m), &back), 0);
        assert_int_equal(back, m);
    }
    assert_string_equal(log_io_mode_name(LOG_IO_WRITEBACK), "writeback");
    assert_string_equal(log_io_mode_name((log_io_mode_t)99), "unknown");
    assert_int_equal(log_io_mode_parse("uring", &m), -EINVAL);
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

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_writers),
        T(test_writer_reopen),
        T(test_coherency),
        T(test_trail_drops_pages),
        T(test_catch_up_drops_pages),
        T(test_fallback),
        T(test_names),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
