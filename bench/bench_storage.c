/* Micro-benchmark of the partition log and of the ways a file can be
 * written, to choose the log's write path (log.io.mode) by measurement.
 *
 *   bench_storage [options] [dir] [MiB to write] [batch bytes]
 *                 [batches per append]
 *
 * Without --raw: append throughput (assign offsets + one log_append per
 * simulated loop turn) in the write mode of --mode (log.io.mode; "all" runs
 * each in turn, default: the log's default), catch-up reads (log_read
 * slices of 1 MiB copied out with pread), tail reads (the lookup cost
 * alone) and fsync through log_sync. With --sync, every append is followed
 * by a log_sync (acks=all-like: one group commit per loop turn).
 *
 * --raw: plain file writes of `MiB` in 1 MiB chunks, no log at all, one case
 * per way of writing (see raw_cases[]): buffered pwritev into a new file,
 * the same after fallocate, rewriting a file already cached, O_DIRECT,
 * buffered writes into a file whose predecessor was synced and dropped from
 * the page cache, buffered writes that drop their own pages two windows
 * behind, and memcpy into a shared mapping. With --sync, each chunk is
 * followed by fdatasync (acks=all-like).
 *
 * --runs=N repeats each measurement and prints every run and the median;
 * --pause=S sleeps S seconds before each run (default 5). The pause matters
 * on VMs with free page reporting (virtio-balloon): pages freed by the
 * previous run go back to the host after about 2 s and are slow to touch
 * again, which is the state a broker with free memory lives in; back-to-back
 * runs would measure recycled pages instead.
 *
 * --raw has no io_uring case (bench/ does not link liburing); through the
 * log, --mode=uring and --mode=uring-direct measure it (issue #5).
 *
 * dir defaults to a fresh directory under /tmp, removed at the end. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/log.h"

/* One batch of `records` records of `vsize` bytes each (no keys). */
static size_t build_batch(uint8_t *out, int records, size_t vsize)
{
    uint8_t *p = out + LOG_BATCH_HEADER_SIZE;
    size_t total;
    int i;

    for (i = 0; i < records; i++) {
        uint8_t *start = p + 3; /* body; 3-byte varint length fits 64 KiB */
        uint8_t *q = start;
        uint64_t z;
        size_t n;
        *q++ = 0;
        *q++ = (uint8_t)(i << 1 & 0x7f); /* timestampDelta (small) */
        *q++ = (uint8_t)(i << 1 & 0x7f); /* offsetDelta (small) */
        *q++ = 1;                        /* key: null (zigzag -1) */
        z = (uint64_t)vsize << 1;
        while (z >= 0x80) {
            *q++ = (uint8_t)(z | 0x80);
            z >>= 7;
        }
        *q++ = (uint8_t)z;
        memset(q, 'x', vsize);
        q += vsize;
        *q++ = 0;
        n = (size_t)(q - start);
        z = (uint64_t)n << 1;
        p[0] = (uint8_t)(z | 0x80);
        p[1] = (uint8_t)((z >> 7) | 0x80);
        p[2] = (uint8_t)(z >> 14);
        p = q;
    }
    total = (size_t)(p - out);
    memset(out, 0, LOG_BATCH_HEADER_SIZE);
    st_put_be32(out + LOG_BATCH_OFF_LENGTH, (uint32_t)(total - 12));
    out[LOG_BATCH_OFF_MAGIC] = 2;
    st_put_be32(out + LOG_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(records - 1));
    st_put_be64(out + LOG_BATCH_OFF_BASE_TS, (uint64_t)st_wall_ms());
    st_put_be64(out + LOG_BATCH_OFF_MAX_TS, (uint64_t)st_wall_ms());
    st_put_be64(out + LOG_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    st_put_be32(out + LOG_BATCH_OFF_RECORDS, (uint32_t)records);
    st_put_be32(out + LOG_BATCH_OFF_CRC,
                simd_crc32c(0, out + LOG_BATCH_OFF_ATTRIBUTES,
                            total - LOG_BATCH_OFF_ATTRIBUTES));
    return total;
}

static double secs(uint64_t t0)
{
    return (double)(st_now_ns() - t0) / 1e9;
}

struct opts {
    const char *root; /* NULL: a fresh directory under /tmp */
    size_t mib, bsize;
    int per_append, runs, pause;
    bool raw, sync;
    log_io_mode_t mode; /* LOG_IO_DEFAULT with all_modes: each in turn */
    bool all_modes;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double s[64];
    int i;

    for (i = 0; i < n; i++)
        s[i] = v[i];
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---- raw file writes ---- */

#define RAW_CHUNK (1 << 20)
/* The drop-behind case's window: writeback of a window starts when the
 * next one begins, and its pages are dropped two windows later. */
#define RAW_WINDOW (64 << 20)

enum raw_how { RAW_PWRITE, RAW_DROP, RAW_MMAP };

struct raw_ctx {
    char path[4200];
    size_t total;
    uint8_t *buf; /* RAW_CHUNK bytes, 4 KiB aligned */
    bool sync;
};

static int write_full(int fd, const uint8_t *p, size_t len, off_t pos)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        p += w;
        len -= (size_t)w;
        pos += w;
    }
    return 0;
}

/* Writes c->total bytes in chunks through fd (or map), timed. */
static int timed_writes(struct raw_ctx *c, int fd, enum raw_how how,
                        uint8_t *map, double *t)
{
    size_t off, started = 0, dropped = 0;
    uint64_t t0 = st_now_ns();
    int rc;

    for (off = 0; off < c->total; off += RAW_CHUNK) {
        if (how == RAW_MMAP) {
            memcpy(map + off, c->buf, RAW_CHUNK);
        } else {
            struct iovec v = {c->buf, RAW_CHUNK};
            ssize_t w = pwritev(fd, &v, 1, (off_t)off);
            if (w != RAW_CHUNK)
                return w < 0 ? -errno : -EIO;
        }
        if (c->sync && fdatasync(fd) < 0)
            return -errno;
        if (how != RAW_DROP)
            continue;
        if (off + RAW_CHUNK - started >= RAW_WINDOW) {
            sync_file_range(fd, (off_t)started, RAW_WINDOW,
                            SYNC_FILE_RANGE_WRITE);
            started += RAW_WINDOW;
        }
        if (started - dropped >= 2 * RAW_WINDOW) {
            rc = sync_file_range(fd, (off_t)dropped, RAW_WINDOW,
                                 SYNC_FILE_RANGE_WAIT_BEFORE |
                                     SYNC_FILE_RANGE_WRITE |
                                     SYNC_FILE_RANGE_WAIT_AFTER);
            if (rc < 0)
                return -errno;
            posix_fadvise(fd, (off_t)dropped, RAW_WINDOW, POSIX_FADV_DONTNEED);
            dropped += RAW_WINDOW;
        }
    }
    *t = secs(t0);
    return 0;
}

static int open_new(struct raw_ctx *c, int extra)
{
    int fd =
        open(c->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | extra, 0644);
    return fd < 0 ? -errno : fd;
}

/* (a) buffered pwritev of 1 MiB chunks into a new file. */
static int raw_buffered(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc;
    if (fd < 0)
        return fd;
    rc = timed_writes(c, fd, RAW_PWRITE, NULL, t);
    close(fd);
    return rc;
}

/* (b) the same after fallocate of the whole file. */
static int raw_fallocate(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc;
    if (fd < 0)
        return fd;
    rc = fallocate(fd, 0, 0, (off_t)c->total) < 0 ? -errno : 0;
    if (rc == 0)
        rc = timed_writes(c, fd, RAW_PWRITE, NULL, t);
    close(fd);
    return rc;
}

/* (c) rewriting a file whose pages are all cached. */
static int raw_rewrite(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc = 0;
    size_t off;
    if (fd < 0)
        return fd;
    for (off = 0; off < c->total && rc == 0; off += RAW_CHUNK)
        rc = write_full(fd, c->buf, RAW_CHUNK, (off_t)off);
    if (rc == 0)
        rc = timed_writes(c, fd, RAW_PWRITE, NULL, t);
    close(fd);
    return rc;
}

/* (d) O_DIRECT pwritev of 4 KiB-aligned 1 MiB chunks. */
static int raw_direct(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, O_DIRECT), rc;
    if (fd < 0)
        return fd;
    rc = timed_writes(c, fd, RAW_PWRITE, NULL, t);
    close(fd);
    return rc;
}

/* (f) buffered writes right after a file of the same size was written,
 * fdatasynced, dropped with fadvise(DONTNEED) and deleted: do the freed
 * pages come back fast? */
static int raw_recycled(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc = 0;
    size_t off;
    if (fd < 0)
        return fd;
    for (off = 0; off < c->total && rc == 0; off += RAW_CHUNK)
        rc = write_full(fd, c->buf, RAW_CHUNK, (off_t)off);
    if (rc == 0 && fdatasync(fd) < 0)
        rc = -errno;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
    unlink(c->path);
    if (rc < 0)
        return rc;
    fd = open_new(c, 0);
    if (fd < 0)
        return fd;
    rc = timed_writes(c, fd, RAW_PWRITE, NULL, t);
    close(fd);
    return rc;
}

/* (f') buffered writes that recycle their own pages: writeback of each
 * window is started when it is complete, and its pages are dropped two
 * windows later (what log.io.mode=writeback does). */
static int raw_drop_behind(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc;
    if (fd < 0)
        return fd;
    rc = timed_writes(c, fd, RAW_DROP, NULL, t);
    close(fd);
    return rc;
}

/* (g) memcpy into a MAP_SHARED mapping of a fallocated file. */
static int raw_mmap(struct raw_ctx *c, double *t)
{
    int fd = open_new(c, 0), rc;
    uint8_t *map;
    if (fd < 0)
        return fd;
    if (fallocate(fd, 0, 0, (off_t)c->total) < 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    map = mmap(NULL, c->total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        close(fd);
        return rc;
    }
    rc = timed_writes(c, fd, RAW_MMAP, map, t);
    munmap(map, c->total);
    close(fd);
    return rc;
}

static const struct raw_case {
    const char *name;
    int (*fn)(struct raw_ctx *c, double *t);
} raw_cases[] = {
    {"buffered", raw_buffered},
    {"fallocate", raw_fallocate},
    {"rewrite-cached", raw_rewrite},
    {"direct", raw_direct},
    {"recycled", raw_recycled},
    {"drop-behind", raw_drop_behind},
    {"mmap", raw_mmap},
};

static int run_raw(const struct opts *o, const char *root)
{
    struct raw_ctx c = {.total = o->mib << 20, .sync = o->sync};
    size_t k;
    int r, rc;

    if (posix_memalign((void **)&c.buf, 4096, RAW_CHUNK) != 0)
        return 1;
    memset(c.buf, 'x', RAW_CHUNK);
    snprintf(c.path, sizeof(c.path), "%s/raw.dat", root);
    printf("raw writes: %zu MiB in 1 MiB chunks%s, %d run(s), %d s pause\n",
           o->mib, o->sync ? ", fdatasync after each" : "", o->runs, o->pause);
    for (k = 0; k < ST_ARRAY_LEN(raw_cases); k++) {
        double mbs[64];
        for (r = 0; r < o->runs; r++) {
            double t = 0;
            sleep((unsigned)o->pause);
            rc = raw_cases[k].fn(&c, &t);
            unlink(c.path);
            if (rc < 0) {
                printf("%-15s %s\n", raw_cases[k].name, strerror(-rc));
                break;
            }
            mbs[r] = (double)c.total / t / 1e6;
            printf("%-15s run %d: %8.0f MB/s\n", raw_cases[k].name, r + 1,
                   mbs[r]);
            fflush(stdout);
        }
        if (r == o->runs)
            printf("%-15s median: %8.0f MB/s\n", raw_cases[k].name,
                   median(mbs, o->runs));
    }
    free(c.buf);
    return 0;
}

/* ---- the log ---- */

struct log_figures {
    double append_mbs; /* MB/s of log_append (with the syncs, when --sync) */
};

/* One run: a fresh log in root/bench-<run>, `mib` appended. The first
 * run also measures fsync, validation, catch-up and tail reads. */
static int run_log_once(const struct opts *o, const char *root, int run,
                        struct log_figures *fig)
{
    size_t one, blob_len, total = 0, appends = 0, reads = 0;
    int records = (int)(o->bsize / 110), i, rc;
    struct iovec *iov;
    log_config_t cfg;
    log_sync_t *s;
    uint8_t *blob, *rbuf, *probe;
    char dir[4200];
    log_t *log;
    uint64_t t0;
    int64_t off;
    double t;

    if (records < 1)
        records = 1;
    snprintf(dir, sizeof(dir), "%s/bench-%s-%d", root,
             log_io_mode_name(o->mode), run);
    log_config_default(&cfg);
    cfg.io_mode = o->mode;
    rc = log_open(dir, &cfg, false, &log);
    if (rc < 0) {
        fprintf(stderr, "log_open: %s\n", strerror(-rc));
        return 1;
    }
    probe = malloc(o->bsize + 4096);
    one = build_batch(probe, records, 100); /* size probe */
    free(probe);
    blob = malloc((one + 64) * (size_t)o->per_append);
    iov = calloc((size_t)o->per_append, sizeof(*iov));
    blob_len = 0;
    for (i = 0; i < o->per_append; i++) {
        size_t n = build_batch(blob + blob_len, records, 100);
        iov[i] = (struct iovec){blob + blob_len, n};
        blob_len += n;
    }
    if (run == 0)
        printf("io mode %s: batch %zu bytes (%d records), %d batches per "
               "append (%zu bytes), %zu MiB per run%s\n",
               log_io_mode_name(log_effective_io_mode(log)), one, records,
               o->per_append, blob_len, o->mib,
               o->sync ? ", fdatasync after each append" : "");

    /* Appends: each turn validates nothing (the net layer does), assigns
     * offsets and writes; each batch in its own iovec as if from separate
     * requests. With --sync, each turn also waits for its fdatasync, as an
     * acks=all group commit does. */
    t0 = st_now_ns();
    while (total < o->mib << 20) {
        log_assign_offsets(log, blob, blob_len);
        rc = log_append(log, iov, o->per_append);
        if (rc < 0) {
            fprintf(stderr, "log_append: %s\n", strerror(-rc));
            return 1;
        }
        if (o->sync && (s = log_sync_prepare(log)) != NULL) {
            rc = log_sync_run(s);
            log_sync_finish(log, s);
            if (rc < 0) {
                fprintf(stderr, "log_sync_run: %s\n", strerror(-rc));
                return 1;
            }
        }
        total += blob_len;
        appends++;
    }
    t = secs(t0);
    fig->append_mbs = (double)total / t / 1e6;
    printf("run %d append: %8.0f MB/s  %8.0f appends/s  (%zu segments)\n",
           run + 1, fig->append_mbs, (double)appends / t,
           log_segment_count(log));

    t0 = st_now_ns();
    s = log_sync_prepare(log);
    if (s) {
        log_sync_run(s);
        log_sync_finish(log, s);
    }
    if (run == 0)
        printf("fsync:    %8.1f ms for what was not synced yet\n",
               secs(t0) * 1e3);

    if (run == 0) {
        /* Validation cost (CRC of every batch), per byte. */
        t0 = st_now_ns();
        for (i = 0; i < 200; i++) {
            rc = log_batches_validate(blob, blob_len, NULL);
            if (rc < 0) {
                fprintf(stderr, "validate: %s\n", log_batch_strerror(rc));
                return 1;
            }
        }
        t = secs(t0);
        printf("validate: %8.0f MB/s\n", 200.0 * (double)blob_len / t / 1e6);

        /* Catch-up: read everything in 1 MiB slices, copied out with pread
         * (a socket send costs about the same copy); the next offset comes
         * from the headers in the copy. */
        rbuf = malloc(4 << 20);
        t0 = st_now_ns();
        total = 0;
        for (off = log_start_offset(log); off < log_end_offset(log);) {
            log_slice_t sl;
            size_t p = 0;
            int64_t last = off - 1;
            if (log_read(log, off, 1 << 20, &sl) < 0 || sl.len == 0 ||
                sl.len > 4 << 20 ||
                pread(sl.fd, rbuf, sl.len, sl.pos) != (ssize_t)sl.len)
                break;
            while (p < sl.len) {
                last = log_batch_base_offset(rbuf + p) +
                       log_batch_last_offset_delta(rbuf + p);
                p += (size_t)log_batch_size(rbuf + p);
            }
            off = last + 1;
            total += sl.len;
            reads++;
            mem_unref(sl.ref);
        }
        t = secs(t0);
        printf("catch-up: %8.0f MB/s  %8.0f reads/s\n", (double)total / t / 1e6,
               (double)reads / t);
        free(rbuf);

        /* Tail reads: lookup cost for offsets near the end. */
        t0 = st_now_ns();
        for (i = 0; i < 200000; i++) {
            log_slice_t sl;
            int64_t o2 = log_end_offset(log) - 1 - (i % 1000);
            if (log_read(log, o2, 65536, &sl) == 0)
                mem_unref(sl.ref);
        }
        t = secs(t0);
        printf("tail:     %8.0f log_read/s\n", 200000 / t);
    }
    free(blob);
    free(iov);
    if (o->root) {
        log_close(log);
    } else {
        log_destroy(log);
    }
    return 0;
}

static int run_log_mode(const struct opts *o, const char *root)
{
    double mbs[64];
    int r;

    for (r = 0; r < o->runs; r++) {
        struct log_figures fig;
        if (r > 0 || o->runs > 1)
            sleep((unsigned)o->pause);
        if (run_log_once(o, root, r, &fig) != 0)
            return 1;
        mbs[r] = fig.append_mbs;
        fflush(stdout);
    }
    printf("%s: append%s median: %8.0f MB/s (%d runs)\n",
           log_io_mode_name(o->mode), o->sync ? " + fdatasync" : "",
           median(mbs, o->runs), o->runs);
    return 0;
}

static int run_log(const struct opts *o, const char *root)
{
    static const log_io_mode_t all[] = {LOG_IO_PWRITE, LOG_IO_WRITEBACK,
                                        LOG_IO_MMAP,   LOG_IO_DIRECT,
                                        LOG_IO_URING,  LOG_IO_URING_DIRECT};
    struct opts one = *o;
    size_t k;

    if (!o->all_modes)
        return run_log_mode(o, root);
    for (k = 0; k < ST_ARRAY_LEN(all); k++) {
        one.mode = all[k];
        if (run_log_mode(&one, root) != 0)
            return 1;
    }
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_storage [--raw] [--sync] [--runs=N] [--pause=S]\n"
            "                     [--mode=pwrite|writeback|mmap|direct|uring|\n"
            "                             uring-direct|all]\n"
            "                     [dir] [MiB] [batch bytes] [batches per "
            "append]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/strata-bench-storage-XXXXXX";
    struct opts o = {
        .mib = 1024, .bsize = 16384, .per_append = 64, .runs = 1, .pause = 5};
    const char *root;
    int i, npos = 0, rc;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--raw") == 0) {
            o.raw = true;
        } else if (strcmp(a, "--sync") == 0) {
            o.sync = true;
        } else if (strncmp(a, "--runs=", 7) == 0) {
            o.runs = atoi(a + 7);
            if (o.runs < 1 || o.runs > 64)
                usage();
        } else if (strncmp(a, "--pause=", 8) == 0) {
            o.pause = atoi(a + 8);
        } else if (strcmp(a, "--mode=all") == 0) {
            o.all_modes = true;
        } else if (strncmp(a, "--mode=", 7) == 0) {
            if (log_io_mode_parse(a + 7, &o.mode) < 0)
                usage();
        } else if (a[0] == '-' && a[1] == '-') {
            usage();
        } else {
            switch (npos++) {
            case 0:
                o.root = a[0] ? a : NULL;
                break;
            case 1:
                o.mib = strtoul(a, NULL, 10);
                break;
            case 2:
                o.bsize = strtoul(a, NULL, 10);
                break;
            case 3:
                o.per_append = atoi(a);
                break;
            default:
                usage();
            }
        }
    }
    if (o.mib == 0 || o.per_append < 1 || o.bsize == 0)
        usage();
    printf("crc32c kernel: %s\n", simd_init());
    root = o.root ? o.root : mkdtemp(tmpl);
    if (!root) {
        perror("mkdtemp");
        return 1;
    }
    rc = o.raw ? run_raw(&o, root) : run_log(&o, root);
    if (!o.root)
        rmdir(root);
    return rc;
}
