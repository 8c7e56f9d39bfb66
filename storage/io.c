/* Write back-ends of the partition log (log.io.mode). Contract in io.h.
 *
 * The choice between them is a measured one (docs/performance.md, "What
 * each write path measured"). On the reference VM, buffered writes into new
 * files run at ~450 MB/s however they are issued (pwritev, after fallocate,
 * memcpy into a mapping): the cost is the kernel touching page-cache pages
 * that the host has to back first, since the guest hands free memory back
 * (free page reporting). Rewriting pages already cached runs at ~8 GB/s.
 * So what helps is recycling pages, not another way of copying into new
 * ones: the writeback and mmap modes drive writeback themselves and drop
 * pages a few windows behind the tail (the trail: below, and trail.c),
 * and the direct mode bypasses the page cache altogether. pwrite stays as the
 * plain path the others fall back to. The uring modes are writeback and direct
 * with the writes issued through an io_uring per thread (the ring section
 * below), the direct one with several writes in flight per append; they
 * exist to measure whether the submission path or the queue depth matters
 * (issue #5, docs/performance.md).
 *
 * Every mode writes the same bytes at the same positions, so the files do
 * not depend on the mode; only the mmap mode's preallocated tail (zeros
 * past the log's end, cut when the segment is sealed or closed) is visible
 * after a crash, and loading a segment treats zeros there as its end. */
#include "storage/io.h"

#include "alloc/st.h"
#include "strata_features.h"
#include "storage/hot.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#if STRATA_HAVE_URING
#include <liburing.h>
#endif

/* The mmap mode's preallocation: chunks grow from MMAP_STEP_MIN, doubling
 * with the segment, to MMAP_STEP_MAX, never past the segment size limit
 * (unless one append needs more). Small first chunks keep thousands of
 * quiet partitions from reserving much disk; the file's length includes
 * the chunk until the segment is sealed or closed. */
#define MMAP_STEP_MIN (1 << 20)
#define MMAP_STEP_MAX (64 << 20)
/* The buffered trail modes (writeback, uring) reserve the blocks ahead of
 * the end with fallocate(FALLOC_FL_KEEP_SIZE), which leaves the file's
 * length alone. A write into reserved blocks skips ext4's per-page delayed
 * allocation (reserving the block, the quota, the extent-status entry),
 * which cost about a quarter of the writer's CPU with recycled pages
 * (docs/performance.md, "Blocks reserved ahead"). Each reservation covers
 * as much again as the segment holds, from PREALLOC_MIN to MMAP_STEP_MAX,
 * so a quiet partition reserves little. */
#define PREALLOC_MIN (64 << 10)
#define PAGE 4096
/* The direct mode writes whole blocks of this size, from memory aligned to
 * it: 4 KiB satisfies every device up to 4 KiB logical blocks. */
#define BLOCK 4096
/* ... through a staging buffer of this many bytes per thread. Raw O_DIRECT
 * writes of 1 MiB and 4 MiB run alike (256 KiB: -30%), but a 1 MiB
 * buffer splits a ~1 MiB append into a full write and a small one, which
 * cost the log 15% (docs/performance.md). */
#define DIRECT_CHUNK (4 << 20)
/* The uring-direct mode writes the whole blocks of an append as writes of
 * RING_CHUNK bytes, up to RING_INFLIGHT of them submitted together, from a
 * staging buffer of RING_CHUNK * RING_INFLIGHT bytes. The ring has room
 * for them (RING_ENTRIES), being idle between two writes. */
#define RING_CHUNK (1 << 20)
#define RING_INFLIGHT 8
#define RING_ENTRIES 16

struct log_io {
    log_io_mode_t mode;
    char *path;       /* of the .log, for messages */
    seg_file_t *file; /* the segment's read-write descriptor, referenced */
    int64_t cap;
    int64_t end; /* where the next write starts */
    /* writeback and mmap: a read-only descriptor of the same file for the
     * trail. sync_file_range with a wait consumes the file's writeback
     * error (errseq) for the descriptor it is given; with a descriptor of
     * its own, fdatasync of the segment's descriptor still reports every
     * error, so an acks=all answer never hides a failed writeback. */
    seg_file_t *wb;
    /* mmap: the mapping covers [0, alloc) of the file, which fallocate
     * made that long; [0, unmapped) has been given back (MADV_DONTNEED:
     * the pages stay in the page cache, the mapping just stops pinning
     * them, so the trail can drop them); high is the highest end written,
     * which a truncate zeroes down from. */
    uint8_t *map;
    int64_t alloc, unmapped, high;
    /* writeback and uring: blocks up to alloc are reserved (KEEP_SIZE);
     * false once a reservation failed (the writes then report a full disk
     * themselves) and in the other modes. */
    bool prealloc;
    /* direct: an O_DIRECT descriptor of the file, and the last partial
     * block: tail_len bytes of the file at tail_pos (block-aligned), which
     * the next write rewrites in front of its own bytes. */
    int dfd;
    bool dio_ok; /* an O_DIRECT write succeeded: EINVAL is then an error */
    int64_t tail_pos;
    size_t tail_len;
    uint8_t tail[BLOCK];
};

/* log_io_test_refuse: errno the probe of each mode pretends to get. */
static atomic_int refuse[LOG_IO_MODE_LAST + 1];
/* log_io_test_short_writes: the most a ring write reports done. */
static atomic_size_t short_max;

void log_io_test_refuse(log_io_mode_t mode, int err)
{
    st_assert((unsigned)mode <= LOG_IO_MODE_LAST);
    atomic_store(&refuse[mode], err);
}

void log_io_test_short_writes(size_t max)
{
    atomic_store(&short_max, max);
}

/* One warning per process and mode: thousands of partitions falling back
 * for the same reason would otherwise repeat it thousands of times. */
static atomic_bool warned[LOG_IO_MODE_LAST + 1];

static void fall_back(log_io_t *io, const char *path, const char *why, int err)
{
    if (!atomic_exchange(&warned[io->mode], true))
        st_warn("%s: log.io.mode=%s is not available (%s: %s); using pwrite",
                path, log_io_mode_name(io->mode), why, strerror(err));
    io->mode = LOG_IO_PWRITE;
}

static bool is_direct(log_io_mode_t mode)
{
    return mode == LOG_IO_DIRECT || mode == LOG_IO_URING_DIRECT;
}

/* Skips the empty entries at the front of (*iov, *n); false when none is
 * left. */
static bool iov_next(struct iovec **iov, int *n)
{
    while (*n > 0 && (*iov)->iov_len == 0) {
        (*iov)++;
        (*n)--;
    }
    return *n > 0;
}

/* Consumes w written bytes from the front of (*iov, *n), so that a short
 * write (disk full, signal) resumes where it stopped. */
static void iov_consume(struct iovec **iov, int *n, size_t w)
{
    while (w > 0) {
        struct iovec *v = *iov;
        if (w >= v->iov_len) {
            w -= v->iov_len;
            (*iov)++;
            (*n)--;
        } else {
            v->iov_base = (uint8_t *)v->iov_base + w;
            v->iov_len -= w;
            w = 0;
        }
    }
}

/* pwritev of every buffer at pos; iov[] is used up (short writes resume
 * where they stopped, adjusting the entries). */
static int pwritev_all(int fd, struct iovec *iov, int n, int64_t pos)
{
    while (iov_next(&iov, &n)) {
        ssize_t w = pwritev(fd, iov, ST_MIN(n, IOV_MAX), pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        pos += w;
        iov_consume(&iov, &n, (size_t)w);
    }
    return 0;
}

/* ---- names ---- */

static const char *const mode_names[] = {
    [LOG_IO_DEFAULT] = "default",
    [LOG_IO_PWRITE] = "pwrite",
    [LOG_IO_WRITEBACK] = "writeback",
    [LOG_IO_MMAP] = "mmap",
    [LOG_IO_DIRECT] = "direct",
    [LOG_IO_URING] = "uring",
    [LOG_IO_URING_DIRECT] = "uring-direct",
};

const char *log_io_mode_name(log_io_mode_t mode)
{
    if ((unsigned)mode >= ST_ARRAY_LEN(mode_names))
        return "unknown";
    return mode_names[mode];
}

int log_io_mode_parse(const char *name, log_io_mode_t *out)
{
    size_t i;

    for (i = 0; i < ST_ARRAY_LEN(mode_names); i++) {
        if (strcmp(name, mode_names[i]) == 0) {
            *out = (log_io_mode_t)i;
            return 0;
        }
    }
    return -EINVAL;
}

/* ---- mmap ---- */

static int64_t round_up(int64_t v, int64_t to)
{
    return (v + to - 1) / to * to;
}

/* The end a preallocation aims at, `want`, held to the segment size limit
 * unless one append needs more (`need`), in whole pages. */
static int64_t alloc_target(const log_io_t *io, int64_t need, int64_t want)
{
    return round_up(ST_MIN(want, ST_MAX(need, io->cap)), PAGE);
}

/* Whether fallocate and a shared mapping work on this file, without
 * changing its length: the segment may never be written. */
static int mmap_probe(log_io_t *io, const char *path)
{
    int fd = io->file->fd, err = atomic_load(&refuse[LOG_IO_MMAP]);
    void *p;

    /* Without fallocate a mapping would be sparse, and a full disk would
     * then kill the process with SIGBUS instead of failing an append.
     * Other errors (ENOSPC) are the append's to report. */
    if (!err && fallocate(fd, FALLOC_FL_KEEP_SIZE, io->end, PAGE) < 0 &&
        (errno == EOPNOTSUPP || errno == ENOSYS))
        err = errno;
    if (err) {
        fall_back(io, path, "fallocate", err);
        return 0;
    }
    p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        if (errno == ENOMEM)
            return -ENOMEM;
        fall_back(io, path, "mmap", errno);
        return 0;
    }
    munmap(p, PAGE);
    io->alloc = io->end;
    io->high = io->end;
    io->unmapped = io->end / PAGE * PAGE;
    return 0;
}

/* Preallocates and maps the file up to at least `need`. */
static int mmap_grow(log_io_t *io, int64_t need)
{
    int64_t step = ST_MIN(ST_MAX(io->alloc, MMAP_STEP_MIN), MMAP_STEP_MAX);
    int64_t want = ST_MAX(need, io->alloc + step);
    size_t old_len = (size_t)round_up(io->alloc, PAGE);
    void *p;

    want = alloc_target(io, need, want);
    if (fallocate(io->file->fd, 0, io->alloc, want - io->alloc) < 0)
        return -errno;
    if (io->map)
        p = mremap(io->map, old_len, (size_t)want, MREMAP_MAYMOVE);
    else
        p = mmap(NULL, (size_t)want, PROT_READ | PROT_WRITE, MAP_SHARED,
                 io->file->fd, 0);
    if (p == MAP_FAILED)
        return -errno;
    io->map = p;
    io->alloc = want;
    return 0;
}

static int mmap_write(log_io_t *io, const struct iovec *iov, int n, int64_t pos)
{
    int64_t end = pos;
    int i, rc;

    for (i = 0; i < n; i++)
        end += (int64_t)iov[i].iov_len;
    if (end > io->alloc && (rc = mmap_grow(io, end)) < 0)
        return rc;
    for (i = 0; i < n; i++) {
        memcpy(io->map + pos, iov[i].iov_base, iov[i].iov_len);
        pos += (int64_t)iov[i].iov_len;
    }
    io->high = ST_MAX(io->high, end);
    /* Keep a window mapped behind the tail; older pages belong to the
     * trail. */
    while (end - io->unmapped >= 2 * (int64_t)LOG_IO_WINDOW) {
        madvise(io->map + io->unmapped, LOG_IO_WINDOW, MADV_DONTNEED);
        io->unmapped += LOG_IO_WINDOW;
    }
    return 0;
}

/* ---- blocks reserved ahead (writeback, uring) ---- */

/* Reserves the blocks up to at least `need`. Best effort: a refusal (a
 * filesystem without fallocate, a disk too full for the whole step) ends
 * the reservations of this writer, and its writes go on without. */
static void prealloc_grow(log_io_t *io, int64_t need)
{
    int64_t step = ST_MIN(ST_MAX(need, PREALLOC_MIN), MMAP_STEP_MAX);
    int64_t want = alloc_target(io, need, need + step);

    if (fallocate(io->file->fd, FALLOC_FL_KEEP_SIZE, io->alloc,
                  want - io->alloc) < 0) {
        io->prealloc = false;
        return;
    }
    io->alloc = want;
}

/* ---- io_uring ----
 *
 * The uring modes submit their writes to an io_uring of the calling
 * thread: one per thread that writes in these modes (a shard), made when
 * it first opens or writes a segment in one of them, so that a broker in
 * another mode never makes one; freed when the thread exits (the
 * destructor of a thread-specific key) or, for the thread that calls
 * exit(), by an atexit handler. Writes stay synchronous: a writer submits
 * and reaps its own completions before returning, so the ring is idle
 * between two calls, every log of the thread shares it, and a small queue
 * is enough. A thread whose ring cannot be made (a kernel without io_uring,
 * a seccomp filter refusing it, the memlock limit of kernels before 5.12)
 * keeps the error, and its writers fall back to pwrite. A forked child
 * must not write through the rings it inherited (nothing in Strata forks).
 * liburing is optional at build time (STRATA_HAVE_URING): without it,
 * every ring fails with ENOSYS and the modes fall back. */

typedef struct ring {
    int err; /* -errno of making it; 0: u is usable */
#if STRATA_HAVE_URING
    struct io_uring u;
#endif
} ring_t;

static pthread_key_t ring_key;
static pthread_once_t ring_once = PTHREAD_ONCE_INIT;

static void ring_release(void *raw)
{
    ring_t *r = raw;
#if STRATA_HAVE_URING
    if (r->err == 0)
        io_uring_queue_exit(&r->u);
#endif
    mem_free(r);
}

/* Thread-specific destructors do not run for the thread that calls exit(),
 * usually main: its ring goes here, so leak checkers see nothing left. */
static void ring_atexit(void)
{
    ring_t *r = pthread_getspecific(ring_key);

    if (r) {
        pthread_setspecific(ring_key, NULL);
        ring_release(r);
    }
}

static void ring_key_init(void)
{
    st_assert(pthread_key_create(&ring_key, ring_release) == 0);
    atexit(ring_atexit);
}

static int ring_setup(ring_t *r)
{
#if STRATA_HAVE_URING
    struct io_uring_params p = {0};
    int rc;

    /* One thread submits and reaps, and only while it waits: let the
     * kernel run completions then (kernel 6.1), not interrupt the thread
     * for them. Older kernels refuse the flags with EINVAL. */
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    rc = io_uring_queue_init_params(RING_ENTRIES, &r->u, &p);
    if (rc == -EINVAL) {
        p = (struct io_uring_params){0};
        rc = io_uring_queue_init_params(RING_ENTRIES, &r->u, &p);
    }
    return rc;
#else
    (void)r;
    return -ENOSYS;
#endif
}

/* The calling thread's ring for a writer in `mode`, made at the first
 * call: 0 and *out, or the -errno for which there is none (why making it
 * failed, which the thread keeps; or -ENOMEM). A thread without a ring
 * yet gets none while log_io_test_refuse refuses the mode. */
static int ring_get(log_io_mode_t mode, ring_t **out)
{
    int refused = atomic_load(&refuse[mode]);
    ring_t *r;

    pthread_once(&ring_once, ring_key_init);
    r = pthread_getspecific(ring_key);
    if (!r) {
        if (refused)
            return -refused;
        r = mem_calloc(1, sizeof(*r));
        if (!r)
            return -ENOMEM;
        r->err = ring_setup(r);
        if (pthread_setspecific(ring_key, r) != 0) {
            ring_release(r);
            return -ENOMEM;
        }
    }
    if (r->err)
        return r->err;
    *out = r;
    return 0;
}

/* Opening a writer: whether the mode's ring can be had on this thread;
 * falls back to pwrite when not. */
static void ring_probe(log_io_t *io, const char *path)
{
    int err = atomic_load(&refuse[io->mode]);
    ring_t *r;

    if (!err)
        err = -ring_get(io->mode, &r);
    if (err)
        fall_back(io, path, "io_uring_queue_init", err);
}

/* The ring of the thread writing through io, which may not be the one
 * that opened it: NULL when it has none, io then having fallen back to
 * pwrite (the direct mode's caller closes its O_DIRECT descriptor). */
static ring_t *ring_for(log_io_t *io)
{
    ring_t *r = NULL;
    int rc = ring_get(io->mode, &r);

    if (rc < 0) {
        fall_back(io, io->path, "io_uring_queue_init", -rc);
        return NULL;
    }
    return r;
}

#if STRATA_HAVE_URING
/* What a completion reports, as log_io_test_short_writes lets it. */
static int ring_res(int res)
{
    size_t max = atomic_load(&short_max);

    if (max && res > 0 && (size_t)res > max)
        return (int)max;
    return res;
}

/* Submits what was prepared and waits for `want` completions, storing
 * each result at res[user_data]. A ring that fails itself (not one of its
 * writes) is given up: the thread's later writers fall back. */
static int ring_run(ring_t *r, unsigned want, int *res)
{
    unsigned got = 0;
    int rc;

    /* The kernel submits before waiting, and waits only when it took
     * everything: entries left over (EAGAIN, EBUSY, a signal) go again. */
    while (io_uring_sq_ready(&r->u) > 0) {
        rc = io_uring_submit_and_wait(&r->u, want);
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
            goto broken;
    }
    while (got < want) {
        struct io_uring_cqe *cqe;
        rc = io_uring_wait_cqe(&r->u, &cqe);
        if (rc == -EINTR || rc == -EAGAIN)
            continue;
        if (rc < 0)
            goto broken;
        st_assert(cqe->user_data < want);
        res[cqe->user_data] = ring_res(cqe->res);
        io_uring_cqe_seen(&r->u, cqe);
        got++;
    }
    return 0;
broken:
    st_warn("io_uring failed (%s): writes of this thread fall back to "
            "pwrite",
            strerror(-rc));
    io_uring_queue_exit(&r->u);
    r->err = rc;
    return rc;
}

/* The uring mode's write: the buffers at pos as IORING_OP_WRITEV, a short
 * one resubmitted for the rest. iov[] is used up as by pwritev_all. */
static int ring_writev(ring_t *r, int fd, struct iovec *iov, int n, int64_t pos)
{
    while (iov_next(&iov, &n)) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&r->u);
        int res, rc;

        st_assert(sqe); /* the ring is idle between writes */
        io_uring_prep_writev(sqe, fd, iov, (unsigned)ST_MIN(n, IOV_MAX),
                             (uint64_t)pos);
        sqe->user_data = 0;
        if ((rc = ring_run(r, 1, &res)) < 0)
            return rc;
        if (res == -EINTR || res == -EAGAIN)
            continue;
        if (res < 0)
            return res;
        if (res == 0)
            return -EIO;
        pos += res;
        iov_consume(&iov, &n, (size_t)res);
    }
    return 0;
}

/* Queues one write of buf[0, len) at pos, tagged k. */
static void ring_prep_write(ring_t *r, int fd, const uint8_t *buf, size_t len,
                            int64_t pos, unsigned k)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->u);

    st_assert(sqe);
    io_uring_prep_write(sqe, fd, buf, (unsigned)len, (uint64_t)pos);
    sqe->user_data = k;
}
#else
static int ring_run(ring_t *r, unsigned want, int *res)
{
    (void)r;
    (void)want;
    (void)res;
    return -ENOSYS;
}

static int ring_writev(ring_t *r, int fd, struct iovec *iov, int n, int64_t pos)
{
    (void)r;
    (void)fd;
    (void)iov;
    (void)n;
    (void)pos;
    return -ENOSYS;
}

static void ring_prep_write(ring_t *r, int fd, const uint8_t *buf, size_t len,
                            int64_t pos, unsigned k)
{
    (void)r;
    (void)fd;
    (void)buf;
    (void)len;
    (void)pos;
    (void)k;
}
#endif

/* The uring mode's append. */
static int uring_write(log_io_t *io, struct iovec *iov, int n, int64_t pos)
{
    ring_t *r = ring_for(io);

    if (!r)
        return pwritev_all(io->file->fd, iov, n, pos);
    return ring_writev(r, io->file->fd, iov, n, pos);
}

/* ---- direct ----
 *
 * Each write copies the partial block and the new bytes into a staging
 * buffer aligned to BLOCK, writes the whole blocks with O_DIRECT, and the
 * last partial block with an ordinary buffered pwrite through the
 * segment's descriptor. That buffered write is what keeps the file's
 * length exact and every byte readable at once; the page it dirties is
 * written back and dropped by the kernel when the next O_DIRECT write
 * covers its block (the kernel flushes and invalidates the cached range of
 * a direct write before and after it), which is also why pread and
 * sendfile of the segment's descriptor always see what O_DIRECT wrote.
 * Setting the length with ftruncate instead costs more: shrinking into a
 * block makes ext4 read that block back to zero its end (measured -15%). */

static pthread_key_t stage_key;
static pthread_once_t stage_once = PTHREAD_ONCE_INIT;

static void stage_release(void *raw)
{
    mem_free(raw);
}

static void stage_key_init(void)
{
    st_assert(pthread_key_create(&stage_key, stage_release) == 0);
}

/* The calling thread's staging buffer of at least `size` bytes (every log
 * of a shard shares it: writes are synchronous), freed when the thread
 * exits. The allocation starts with its usable size; the buffer is
 * aligned to BLOCK after it. */
static uint8_t *stage_buf(size_t size)
{
    size_t *raw;

    pthread_once(&stage_once, stage_key_init);
    raw = pthread_getspecific(stage_key);
    if (raw && raw[0] < size) {
        /* a uring-direct writer after direct ones: a larger buffer */
        pthread_setspecific(stage_key, NULL);
        mem_free(raw);
        raw = NULL;
    }
    if (!raw) {
        raw = mem_alloc(size + 2 * BLOCK);
        if (!raw)
            return NULL;
        raw[0] = size;
        if (pthread_setspecific(stage_key, raw) != 0) {
            mem_free(raw);
            return NULL;
        }
    }
    /* past the size word, which mem_alloc's alignment keeps below BLOCK */
    return (uint8_t *)(((uintptr_t)raw + BLOCK) & ~(uintptr_t)(BLOCK - 1));
}

/* Reads the partial last block of a file `size` bytes long. */
static int direct_load_tail(log_io_t *io, int64_t size)
{
    size_t got = 0;

    io->tail_pos = size / BLOCK * BLOCK;
    io->tail_len = (size_t)(size - io->tail_pos);
    while (got < io->tail_len) {
        ssize_t n = pread(io->file->fd, io->tail + got, io->tail_len - got,
                          io->tail_pos + (int64_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        got += (size_t)n;
    }
    return 0;
}

static int direct_probe(log_io_t *io, const char *path)
{
    int err = atomic_load(&refuse[LOG_IO_DIRECT]);

    io->dfd = err ? -1 : open(path, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (io->dfd < 0) {
        err = err ? err : errno;
        /* Filesystems without O_DIRECT refuse it with EINVAL; other errors
         * (EMFILE, ...) are no reason to leave the mode for good. */
        if (err != EINVAL)
            return -err;
        fall_back(io, path, "open with O_DIRECT", err);
        return 0;
    }
    return direct_load_tail(io, io->end);
}

/* O_DIRECT write of len bytes (whole blocks) at pos. EINVAL (a filesystem
 * wanting stricter alignment, or a write cut short by a file size limit,
 * which leaves an unaligned length) gets the same bytes written through
 * the page cache, which either works or fails with the real reason; when
 * it works and no direct write ever did, the writer falls back to pwrite
 * for good. */
static int dio_write(log_io_t *io, const uint8_t *buf, size_t len, int64_t pos)
{
    while (len > 0) {
        struct iovec v = {(void *)buf, len};
        ssize_t w;

        if (io->dfd < 0)
            return pwritev_all(io->file->fd, &v, 1, pos);
        w = pwrite(io->dfd, buf, len, pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EINVAL) {
            int rc = pwritev_all(io->file->fd, &v, 1, pos);
            /* Only a refusal that a buffered write does not share is about
             * O_DIRECT itself. */
            if (rc == 0 && !io->dio_ok) {
                close(io->dfd);
                io->dfd = -1;
                fall_back(io, io->path, "a write with O_DIRECT", EINVAL);
            }
            return rc;
        }
        if (w < 0)
            return -errno;
        /* A direct write stops short only on whole blocks; anything else
         * would leave the staging buffer out of step with the file. */
        if (w == 0 || w % BLOCK)
            return -EIO;
        buf += w;
        len -= (size_t)w;
        pos += w;
    }
    io->dio_ok = true;
    return 0;
}

/* The uring-direct mode's dio_write: buf[0, len) (whole blocks, at most
 * RING_INFLIGHT chunks) as O_DIRECT writes of RING_CHUNK bytes, submitted
 * together and awaited together. A chunk that did not complete in full
 * (stopped short, interrupted, refused with EINVAL, failed) is finished
 * by dio_write, which redoes what it can and reports the real error, so
 * that the rules above apply unchanged. Without the thread's ring, the
 * writer falls back to pwrite here. */
static int ring_dio_write(log_io_t *io, const uint8_t *buf, size_t len,
                          int64_t pos)
{
    int res[RING_INFLIGHT];
    unsigned k, n = 0;
    size_t off;
    ring_t *r;
    int rc;

    if (io->dfd < 0)
        return dio_write(io, buf, len, pos);
    if (!(r = ring_for(io))) {
        close(io->dfd);
        io->dfd = -1;
        return dio_write(io, buf, len, pos);
    }
    st_assert(len <= (size_t)RING_CHUNK * RING_INFLIGHT);
    for (off = 0; off < len; off += RING_CHUNK)
        ring_prep_write(r, io->dfd, buf + off, ST_MIN(len - off, RING_CHUNK),
                        pos + (int64_t)off, n++);
    if ((rc = ring_run(r, n, res)) < 0)
        return rc;
    /* Any chunk written in full shows that O_DIRECT works here, before a
     * refused one is judged. */
    for (k = 0, off = 0; k < n; k++, off += RING_CHUNK)
        if (res[k] > 0 && (size_t)res[k] == ST_MIN(len - off, RING_CHUNK))
            io->dio_ok = true;
    for (k = 0, off = 0; k < n; k++, off += RING_CHUNK) {
        size_t clen = ST_MIN(len - off, RING_CHUNK);
        /* whole blocks only, or the rest would start unaligned */
        size_t done = res[k] > 0 ? (size_t)res[k] / BLOCK * BLOCK : 0;
        if (done < clen && (rc = dio_write(io, buf + off + done, clen - done,
                                           pos + (int64_t)(off + done))) < 0)
            return rc;
    }
    return 0;
}

/* The append of both direct modes, through a staging buffer of `cap`
 * bytes whose contents go, each time it is full and at the end, with
 * `dio` (dio_write or ring_dio_write). */
static int direct_write(log_io_t *io, const struct iovec *iov, int n,
                        int64_t pos)
{
    bool ring = io->mode == LOG_IO_URING_DIRECT;
    size_t cap = ring ? (size_t)RING_CHUNK * RING_INFLIGHT : DIRECT_CHUNK;
    int (*dio)(log_io_t *, const uint8_t *, size_t, int64_t) =
        ring ? ring_dio_write : dio_write;
    uint8_t *stage = stage_buf(cap);
    int64_t base = io->tail_pos;
    size_t fill = io->tail_len, whole, rest;
    int i, rc;

    if (!stage)
        return -ENOMEM;
    st_assert(pos == io->tail_pos + (int64_t)io->tail_len);
    memcpy(stage, io->tail, io->tail_len);
    for (i = 0; i < n; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            size_t k = ST_MIN(left, cap - fill);
            memcpy(stage + fill, p, k);
            fill += k;
            p += k;
            left -= k;
            if (fill == cap) {
                if ((rc = dio(io, stage, fill, base)) < 0)
                    return rc;
                base += (int64_t)cap;
                fill = 0;
            }
        }
    }
    whole = fill / BLOCK * BLOCK;
    rest = fill - whole;
    if (whole && (rc = dio(io, stage, whole, base)) < 0)
        return rc;
    if (rest) {
        struct iovec v = {stage + whole, rest};
        if ((rc = pwritev_all(io->file->fd, &v, 1, base + (int64_t)whole)) < 0)
            return rc;
    }
    memcpy(io->tail, stage + whole, rest);
    io->tail_pos = base + (int64_t)whole;
    io->tail_len = rest;
    return 0;
}

/* ---- the writer ---- */

int log_io_open(log_io_mode_t mode, seg_file_t *f, const char *path,
                int64_t size, int64_t cap, log_io_t **out)
{
    log_io_t *io = mem_calloc(1, sizeof(*io));
    int rc = 0;

    if (!io)
        return -ENOMEM;
    st_assert(mode > LOG_IO_DEFAULT && mode <= LOG_IO_MODE_LAST);
    io->mode = mode;
    io->path = mem_strndup(path, strlen(path));
    if (!io->path) {
        mem_free(io);
        return -ENOMEM;
    }
    io->file = seg_file_ref(f);
    io->cap = cap;
    io->end = size;
    io->dfd = -1;
    /* uring-direct: the ring first, then O_DIRECT; either refused means
     * pwrite. */
    if (io->mode == LOG_IO_URING || io->mode == LOG_IO_URING_DIRECT)
        ring_probe(io, path);
    if (is_direct(io->mode))
        rc = direct_probe(io, path);
    else if (io->mode == LOG_IO_MMAP)
        rc = mmap_probe(io, path);
    if (rc == 0 && (io->mode == LOG_IO_WRITEBACK || io->mode == LOG_IO_MMAP ||
                    io->mode == LOG_IO_URING)) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            rc = -errno;
        else if (!(io->wb = seg_file_new(fd)))
            rc = -ENOMEM;
    }
    if (io->mode == LOG_IO_WRITEBACK || io->mode == LOG_IO_URING) {
        io->prealloc = true;
        io->alloc = size;
    }
    if (rc < 0) {
        log_io_free(io);
        return rc;
    }
    *out = io;
    return 0;
}

log_io_mode_t log_io_mode(const log_io_t *io)
{
    return io->mode;
}

void log_io_set_cap(log_io_t *io, int64_t cap)
{
    io->cap = cap;
}

int log_io_writev(log_io_t *io, struct iovec *iov, int n, int64_t pos)
{
    size_t len = 0;
    int i, rc;

    st_assert(pos == io->end);
    for (i = 0; i < n; i++)
        len += iov[i].iov_len;
    if (io->mode == LOG_IO_MMAP) {
        rc = mmap_write(io, iov, n, pos);
    } else if (is_direct(io->mode)) {
        rc = direct_write(io, iov, n, pos);
    } else {
        if (io->prealloc && pos + (int64_t)len > io->alloc)
            prealloc_grow(io, pos + (int64_t)len);
        if (io->mode == LOG_IO_URING)
            rc = uring_write(io, iov, n, pos);
        else
            rc = pwritev_all(io->file->fd, iov, n, pos);
    }
    if (rc == 0)
        io->end = pos + (int64_t)len;
    return rc;
}

int log_io_truncate(log_io_t *io, int64_t size)
{
    st_assert(size <= io->end);
    if (io->mode == LOG_IO_MMAP) {
        /* The preallocated length stays; what lies past size must read
         * as zeros again, or a crash would bring the cut batches back. */
        int64_t high = ST_MIN(io->high, io->alloc);
        if (high > size)
            memset(io->map + size, 0, (size_t)(high - size));
        io->high = size;
    } else if (ftruncate(io->file->fd, size) < 0) {
        return -errno;
    } else if (io->prealloc) {
        /* ext4 and xfs free the reserved blocks past the new length too */
        io->alloc = size;
    }
    io->end = size;
    /* The staging tail must hold what the file now ends with. */
    if (is_direct(io->mode))
        return direct_load_tail(io, size);
    return 0;
}

int log_io_seal(log_io_t *io, int64_t size)
{
    int rc = 0;

    st_assert(size == io->end);
    if (io->mode == LOG_IO_MMAP) {
        if (io->map)
            munmap(io->map, (size_t)round_up(io->alloc, PAGE));
        io->map = NULL;
        /* Also when the length is right: the probe may have allocated a
         * block past it, which ftruncate gives back. */
        if (ftruncate(io->file->fd, size) < 0)
            rc = -errno;
        else if (io->alloc != size)
            rc = 1;
    } else if (io->alloc > size) {
        /* The blocks reserved past the end: ftruncate to the same length
         * gives them back (the length, and so what a crash may leave,
         * never included them). */
        if (ftruncate(io->file->fd, size) < 0)
            rc = -errno;
    }
    log_io_free(io);
    return rc;
}

void log_io_free(log_io_t *io)
{
    if (!io)
        return;
    if (io->map)
        munmap(io->map, (size_t)round_up(io->alloc, PAGE));
    if (io->dfd >= 0)
        close(io->dfd);
    seg_file_unref(io->wb);
    seg_file_unref(io->file);
    mem_free(io->path);
    mem_free(io);
}

/* ---- the trail (the rest is in trail.c) ---- */

void log_io_trail_note(log_io_trail_t *t, log_io_t *io, hot_map_t *hot,
                       int64_t start, int64_t end)
{
    if (!io || !io->wb)
        return;
    log_io__trail_drain(t);
    if (t->cur != io->wb) {
        /* Sealing pushed the previous segment's tail already. */
        seg_file_unref(t->cur);
        t->cur = seg_file_ref(io->wb);
        t->cur_start = t->cur_end = t->kicked = start;
    }
    /* Appends are contiguous, except after a failed one was cut: then the
     * window (and the kicks) restart there. */
    if (start != t->cur_end)
        t->cur_start = t->kicked = start;
    t->cur_end = end;
    while (t->cur_end - t->cur_start >= LOG_IO_WINDOW) {
        log_io__trail_push(t, t->cur, hot, t->cur_start,
                           t->cur_start + LOG_IO_WINDOW);
        t->cur_start += LOG_IO_WINDOW;
    }
}

void log_io_trail_seal(log_io_trail_t *t, log_io_t *io, hot_map_t *hot)
{
    if (!io || !io->wb || t->cur != io->wb)
        return;
    log_io__trail_push(t, t->cur, hot, t->cur_start, t->cur_end);
    seg_file_unref(t->cur);
    t->cur = NULL;
}

void log_io_trail_kick(log_io_trail_t *t, log_io_t *io)
{
    if (!io || !io->wb || t->cur != io->wb)
        return;
    /* A window handed over has its writeback started already. */
    if (t->kicked < t->cur_start)
        t->kicked = t->cur_start;
    if (t->cur_end - t->kicked < LOG_IO_KICK_MIN)
        return;
    log_io__trail_kick(t, t->cur, t->kicked, t->cur_end);
    t->kicked = t->cur_end;
}
