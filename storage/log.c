/* The partition log: segments in offset order, appends, reads, durability,
 * retention and recovery. Contract in log.h.
 *
 * Appends work in two phases so that a failure leaves nothing behind: the
 * first writes (one write per segment through the segment's writer, in the
 * log's io mode: io.h; creating rolled segments as it goes) and on error
 * cuts and removes what it wrote; the second, which cannot fail, walks the
 * same batch headers in memory to advance sizes, indexes and offsets, and
 * seals the writers of the segments rolled past (their files get their
 * exact length, and are synced with the next sync for that length to be
 * durable). The active segment's indexes are only in memory until it is
 * sealed or the log closed; the .log is the truth and indexes are rebuilt
 * from it whenever they look wrong.
 *
 * Crash recovery needs to know which segments may hold torn writes. A sync
 * records a recovery point: every segment before the one it lies in was
 * fdatasynced. The point only changes when the active segment changes, so
 * the checkpoint file is rewritten about once per segment roll, not per
 * sync.
 *
 * On-disk format of <dir>/strata-checkpoint (28 bytes, big-endian):
 *
 *   off size field
 *     0   4  magic 0x53544350 ("STCP")
 *     4   2  version (1)
 *     6   2  reserved, 0
 *     8   8  log start offset (survives retention and DeleteRecords)
 *    16   8  recovery point: segments with a base offset below that of the
 *            segment holding this offset are durable; -1 when unknown
 *    24   4  CRC-32C of bytes 0..23
 *
 * A missing or damaged checkpoint means: start offset = first segment's
 * base, recovery point unknown (recovery checks every segment).
 *
 * Tiers: each seg_t knows whether its files are in the local or the cold
 * dir (seg->cold), and everything that names a segment's files asks
 * seg_dir(). The copy itself is tier.c's; here are the decision (which
 * segment is due), the swap once the copy is committed, and the
 * reconciliation of both directories at open, which is what makes a crash
 * at any step of a move harmless (docs/storage.md, "Tiers"). */
#include "storage/log.h"

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/hot.h"
#include "storage/io.h"
#include "storage/reap.h"
#include "storage/records.h"
#include "storage/segment.h"
#include "storage/tier.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define CKPT_NAME "strata-checkpoint"
#define CKPT_MAGIC 0x53544350u
#define CKPT_VERSION 1
#define CKPT_SIZE 28
#define CLEAN_MARKER ".strata_clean_shutdown"

/* Sealed segments whose index may stay in memory at once, per log; more
 * are unloaded, least recently used first. */
#define LOG_LOADED_SEALED_MAX 4
/* Separate buffers one write call takes from log_append's stack. */
#define APPEND_IOV_MAX 512
/* Window for reading batch headers in log_read and friends. */
#define READ_BUF 16384
/* Reads within this many bytes of the log's end may be served from the hot
 * tier's mappings: the part the writer's trail keeps in the page cache. */
#define HOT_BYTES (2 * (int64_t)LOG_IO_WINDOW)

/* Dirty segment files one sync holds without allocating. */
#define SYNC_INLINE_FILES 8

/* At most one sync per log is outstanding, so it lives inside the log and
 * preparing one cannot fail for want of memory. */
struct log_sync {
    int64_t end_offset;
    int64_t ckpt_start, ckpt_rp;
    bool write_ckpt, sync_dir, sync_parent;
    bool use_syncfs; /* too many files and no memory: sync the filesystem */
    int result;
    const char *dir; /* the log's, which outlives the sync */
    size_t nfiles;
    seg_file_t **files; /* inline, or allocated when more */
    seg_file_t *inline_files[SYNC_INLINE_FILES];
};

struct log {
    char *dir;
    char *cold_dir; /* NULL: no cold tier; cfg.cold_dir points here */
    log_config_t cfg;
    seg_t **segs; /* by base offset; the last one is active */
    size_t nsegs, cap_segs;
    int64_t start_offset, end_offset, next_offset, durable_offset;
    int64_t ckpt_start, ckpt_rp; /* as in the checkpoint file */
    bool ckpt_dirty;             /* start offset changed since written */
    bool dir_dirty;              /* a file was created in dir */
    bool parent_dirty;           /* dir itself was created */
    bool sync_pending;
    uint64_t tick;
    log_sync_t sync;
    log_move_t *move;      /* the outstanding move, if any */
    log_io_mode_t io_mode; /* effective: cfg.io_mode resolved, or fallen back */
    log_io_trail_t trail;  /* page-cache trail of the buffered modes */
    /* The hot tier: a read mapping of the active segment, made by the
     * first read that may use it (NULL before, and once the segment is
     * sealed). Reads from hot_since on may be served from it (log_read). */
    hot_map_t *hot;
    int64_t hot_since;
    /* The segment sealed last keeps its mapping while its end is in the
     * trail's cached part (less than 2 windows before the log's end):
     * consumers at the tail read across the roll. */
    hot_map_t *hot_prev;
    int64_t hot_prev_since;
    bool hot_failed; /* mapping refused once: reads use sendfile */
    /* Background jobs (log.h): queue slow file work instead of doing it;
     * the queue, oldest first, and the number taken but not finished. */
    bool background;
    log_job_t *jobs, **jobs_tail;
    size_t jobs_out;
};

/* A job of log.h's background work. Made and finished on the owner
 * thread; run on one other thread in between, with no access to the log. */
struct log_job {
    log_job_t *next; /* in the log's queue */
    log_job_kind_t kind;
    int64_t base; /* LOAD, STORE_INDEX: the segment's base offset */
    bool cold;    /* ... and its tier */
    /* The segment went away (deleted, moved, the log freed) before the
     * finish: nothing to apply, and a STORE_INDEX job owns idx. */
    bool orphan;
    char *dir; /* the segment's directory, or the one to fsync */
    /* LOAD: the segment is loaded into this private copy, which holds
     * its own file reference, and then handed over at the finish. */
    seg_t *copy;
    int64_t max_offset;
    int32_t interval;
    /* STORE_INDEX: the segment's idx (shared arrays, see seg_t.job). */
    idx_t idx;
};

void log_config_default(log_config_t *cfg)
{
    *cfg = (log_config_t){
        .segment_bytes = 1073741824,
        .roll_ms = 7 * 24 * 3600 * 1000LL,
        .index_interval_bytes = 4096,
        .index_max_bytes = 10485760,
        .retention_ms = 7 * 24 * 3600 * 1000LL,
        .retention_bytes = -1,
        .cold_dir = NULL,
        .cold_after_ms = -1,
        .local_retention_bytes = -1,
        .io_mode = LOG_IO_DEFAULT,
        .hot_reads = true,
    };
}

static seg_t *active(const log_t *log)
{
    return log->segs[log->nsegs - 1];
}

/* The directory holding a segment's files. */
static const char *seg_dir(const log_t *log, const seg_t *seg)
{
    return seg->cold ? log->cold_dir : log->dir;
}

/* ---- small file helpers ---- */

/* A copy of dir without trailing slashes: -EINVAL when empty,
 * -ENAMETOOLONG when too long for segment paths. */
static int dir_dup(const char *dir, char **out)
{
    size_t len = strlen(dir);

    while (len > 1 && dir[len - 1] == '/')
        len--;
    if (len == 0)
        return -EINVAL;
    if (len >= SEG_DIR_MAX)
        return -ENAMETOOLONG;
    *out = mem_strndup(dir, len);
    return *out ? 0 : -ENOMEM;
}

/* Unlinks every entry of dir, then dir itself; *nfiles counts the entries
 * removed. -ENOENT when there is no dir. */
static int remove_dir(const char *dir, size_t *nfiles)
{
    struct dirent *de;
    size_t n = 0;
    int rc = 0, r;
    DIR *d = opendir(dir);

    if (!d)
        return -errno;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        /* the reaper frees the blocks: a shard's loop may be calling */
        if ((r = reap_unlinkat(dirfd(d), de->d_name)) < 0) {
            if (!rc)
                rc = r;
        } else {
            n++;
        }
    }
    closedir(d);
    if (rmdir(dir) < 0 && errno != ENOENT && !rc)
        rc = -errno;
    if (nfiles)
        *nfiles = n;
    return rc;
}

int log_dir_create(const char *dir)
{
    size_t created_at;
    int rc = tier__make_dirs(dir, &created_at);
    return rc < 0 ? rc : tier__sync_dirs(dir, created_at);
}

static void ckpt_path(const char *dir, char *out, size_t n)
{
    snprintf(out, n, "%s/" CKPT_NAME, dir);
}

static bool ckpt_read(const char *dir, int64_t *start, int64_t *rp)
{
    char path[SEG_PATH_MAX];
    uint8_t b[CKPT_SIZE];
    ssize_t n;
    int fd;

    ckpt_path(dir, path, sizeof(path));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    n = pread(fd, b, sizeof(b), 0);
    close(fd);
    if (n != CKPT_SIZE || st_be32(b) != CKPT_MAGIC ||
        st_be16(b + 4) != CKPT_VERSION ||
        simd_crc32c(0, b, 24) != st_be32(b + 24)) {
        if (n >= 0)
            st_warn("%s: ignoring damaged %s", dir, CKPT_NAME);
        return false;
    }
    *start = (int64_t)st_be64(b + 8);
    *rp = (int64_t)st_be64(b + 16);
    return *start >= 0;
}

static int ckpt_write(const char *dir, int64_t start, int64_t rp)
{
    char path[SEG_PATH_MAX];
    uint8_t b[CKPT_SIZE] = {0};
    int fd, rc = 0;

    st_put_be32(b, CKPT_MAGIC);
    st_put_be16(b + 4, CKPT_VERSION);
    st_put_be64(b + 8, (uint64_t)start);
    st_put_be64(b + 16, (uint64_t)rp);
    st_put_be32(b + 24, simd_crc32c(0, b, 24));
    ckpt_path(dir, path, sizeof(path));
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b))
        rc = errno ? -errno : -EIO;
    else if (fdatasync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* ---- segment list ---- */

static int segs_reserve(log_t *log, size_t n)
{
    seg_t **p;
    size_t cap;

    if (n <= log->cap_segs)
        return 0;
    cap = log->cap_segs ? log->cap_segs * 2 : 8;
    while (cap < n)
        cap *= 2;
    p = mem_realloc(log->segs, cap * sizeof(*p));
    if (!p)
        return -ENOMEM;
    log->segs = p;
    log->cap_segs = cap;
    return 0;
}

/* Index of the last segment with base <= offset (0 when none). */
static size_t seg_find(const log_t *log, int64_t offset)
{
    size_t lo = 0, hi = log->nsegs;

    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->segs[mid]->base <= offset)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Keeps at most LOG_LOADED_SEALED_MAX sealed indexes in memory and open
 * files, dropping the least recently used first: a log with thousands of
 * segments holds a handful of descriptors. */
static void evict_sealed(log_t *log)
{
    for (;;) {
        size_t j, loaded = 0, lru = SIZE_MAX;
        for (j = 0; j + 1 < log->nsegs; j++) {
            seg_t *s = log->segs[j];
            if (!s->loaded || s->job)
                continue; /* a job shares its index */
            loaded++;
            if (lru == SIZE_MAX || s->used < log->segs[lru]->used)
                lru = j;
        }
        if (loaded <= LOG_LOADED_SEALED_MAX)
            return;
        seg_store_index(log->segs[lru], seg_dir(log, log->segs[lru]));
        seg_unload(log->segs[lru]);
        /* Its descriptor too, unless a sync still needs it (slices hold
         * their own references). */
        if (!log->segs[lru]->dirty) {
            seg_file_unref(log->segs[lru]->file);
            log->segs[lru]->file = NULL;
        }
    }
}

/* Loads a segment's file and index on first use, on this thread. */
static int load_now(log_t *log, size_t i)
{
    seg_t *seg = log->segs[i];
    int64_t max_off;
    enum seg_cut cut;
    int rc;

    seg->used = ++log->tick;
    if (seg->loaded)
        return 0;
    rc = seg_open_file(seg, seg_dir(log, seg), false);
    if (rc < 0)
        return rc;
    max_off = i + 1 < log->nsegs ? log->segs[i + 1]->base : INT64_MAX;
    rc = seg_load(seg, seg_dir(log, seg), SEG_LOAD_TRUST,
                  log->cfg.index_interval_bytes, max_off, false, &cut);
    if (rc < 0)
        return rc;
    evict_sealed(log);
    return 0;
}

/* ---- background jobs ---- */

static log_job_t *job_new(log_job_kind_t kind, const char *dir)
{
    log_job_t *job = mem_calloc(1, sizeof(*job));

    if (!job)
        return NULL;
    job->kind = kind;
    job->dir = mem_strndup(dir, strlen(dir));
    if (!job->dir) {
        mem_free(job);
        return NULL;
    }
    idx_init(&job->idx);
    return job;
}

static void job_free(log_job_t *job)
{
    if (job->kind == LOG_JOB_STORE_INDEX && job->orphan)
        idx_fini(&job->idx);
    seg_free(job->copy);
    mem_free(job->dir);
    mem_free(job);
}

static void job_queue(log_t *log, log_job_t *job)
{
    job->next = NULL;
    *log->jobs_tail = job;
    log->jobs_tail = &job->next;
}

/* The segment is going away (deleted, moved to the other tier, freed):
 * its job, if any, will find nothing to apply, and an index write keeps
 * the arrays it shares, which the segment forgets. */
static void seg_detach_job(seg_t *seg)
{
    log_job_t *job = seg->job;

    if (!job)
        return;
    job->orphan = true;
    if (job->kind == LOG_JOB_STORE_INDEX)
        idx_init(&seg->idx);
    seg->job = NULL;
}

/* ensure_loaded in background mode: queues the load of segment i (once)
 * and says to come back. Falls back to loading here without memory. */
static int queue_load(log_t *log, size_t i)
{
    seg_t *seg = log->segs[i];
    log_job_t *job;
    int rc;

    if (seg->job)
        return -EWOULDBLOCK; /* queued or running already */
    /* Opening is quick; the descriptor is the segment's, as in load_now. */
    if ((rc = seg_open_file(seg, seg_dir(log, seg), false)) < 0)
        return rc;
    job = job_new(LOG_JOB_LOAD, seg_dir(log, seg));
    if (job)
        job->copy = seg_new(seg->base, 0);
    if (!job || !job->copy) {
        if (job)
            job_free(job);
        return load_now(log, i);
    }
    job->copy->file = seg_file_ref(seg->file);
    job->base = seg->base;
    job->cold = seg->cold;
    job->max_offset = i + 1 < log->nsegs ? log->segs[i + 1]->base : INT64_MAX;
    job->interval = log->cfg.index_interval_bytes;
    seg->job = job;
    job_queue(log, job);
    return -EWOULDBLOCK;
}

/* Loads a segment's file and index on first use: here, or in background
 * mode as a job (-EWOULDBLOCK until it is finished). */
static int ensure_loaded(log_t *log, size_t i)
{
    seg_t *seg = log->segs[i];

    seg->used = ++log->tick;
    if (seg->loaded)
        return 0;
    return log->background ? queue_load(log, i) : load_now(log, i);
}

/* Writes the index files of a segment just sealed: here, or in background
 * mode as a job that shares its idx until finished. */
static void store_sealed_index(log_t *log, seg_t *seg)
{
    log_job_t *job = NULL;
    int rc;

    if (log->background && !seg->job && seg->loaded)
        job = job_new(LOG_JOB_STORE_INDEX, seg_dir(log, seg));
    if (job) {
        /* The final time entry, as seg_store_index adds it. */
        idx_append_time(&seg->idx, seg->max_ts, seg->max_ts_rel);
        job->idx = seg->idx;
        job->base = seg->base;
        job->cold = seg->cold;
        seg->job = job;
        job_queue(log, job);
        return;
    }
    if ((rc = seg_store_index(seg, seg_dir(log, seg))) < 0)
        st_warn("%s: cannot write index of segment %" PRId64 ": %s", log->dir,
                seg->base, strerror(-rc));
}

void log_set_background(log_t *log, bool on)
{
    log->background = on;
}

log_job_t *log_job_take(log_t *log)
{
    log_job_t *job = log->jobs;

    if (!job)
        return NULL;
    log->jobs = job->next;
    if (!log->jobs)
        log->jobs_tail = &log->jobs;
    job->next = NULL;
    log->jobs_out++;
    return job;
}

bool log_job_queued(const log_t *log)
{
    return log->jobs != NULL;
}

size_t log_jobs_out(const log_t *log)
{
    return log->jobs_out;
}

log_job_kind_t log_job_kind(const log_job_t *job)
{
    return job->kind;
}

int log_job_run(log_job_t *job)
{
    char opath[SEG_PATH_MAX], tpath[SEG_PATH_MAX];
    enum seg_cut cut;
    int rc, r;

    switch (job->kind) {
    case LOG_JOB_LOAD:
        rc = seg_load(job->copy, job->dir, SEG_LOAD_TRUST, job->interval,
                      job->max_offset, false, &cut);
        /* Entries the files lacked (missing files, or a segment sealed
         * without them) are written here rather than by the owner when
         * the segment is unloaded or closed. */
        if (rc == 0 && (r = seg_store_index(job->copy, job->dir)) < 0)
            st_warn("%s: cannot write index of segment %" PRId64 ": %s",
                    job->dir, job->base, strerror(-r));
        return rc;
    case LOG_JOB_STORE_INDEX:
        seg_path(opath, sizeof(opath), job->dir, job->base, ".index");
        seg_path(tpath, sizeof(tpath), job->dir, job->base, ".timeindex");
        return idx_store(&job->idx, opath, tpath);
    case LOG_JOB_SYNC_DIR:
        return log_dir_fsync(job->dir);
    }
    return -EINVAL;
}

/* The segment a job works for, or SIZE_MAX when it went away. */
static size_t job_seg(const log_t *log, const log_job_t *job)
{
    size_t i;

    if (job->orphan || job->kind == LOG_JOB_SYNC_DIR)
        return SIZE_MAX;
    i = seg_find(log, job->base);
    st_assert(i < log->nsegs && log->segs[i]->job == job);
    return i;
}

/* A job's segment went away: index files it wrote for it are garbage,
 * unless a segment of that base is in that tier again (never today). */
static void job_remove_files(const log_t *log, const log_job_t *job)
{
    char path[SEG_PATH_MAX];
    size_t i;

    if (job->kind == LOG_JOB_SYNC_DIR)
        return;
    for (i = 0; i < log->nsegs; i++)
        if (log->segs[i]->base == job->base && log->segs[i]->cold == job->cold)
            return;
    seg_path(path, sizeof(path), job->dir, job->base, ".index");
    unlink(path);
    seg_path(path, sizeof(path), job->dir, job->base, ".timeindex");
    unlink(path);
}

int log_job_finish(log_t *log, log_job_t *job, int rc)
{
    size_t i = job_seg(log, job);
    seg_t *seg = i == SIZE_MAX ? NULL : log->segs[i];

    st_assert(log->jobs_out > 0);
    log->jobs_out--;
    if (!seg) {
        if (job->kind == LOG_JOB_SYNC_DIR && rc < 0 && rc != -ECANCELED)
            st_warn("%s: fsync after a move to the cold tier: %s (the next "
                    "open removes the local copy if it comes back)",
                    job->dir, strerror(-rc));
        job_remove_files(log, job);
        job_free(job);
        return rc;
    }
    seg->job = NULL;
    if (job->kind == LOG_JOB_LOAD && rc == 0) {
        seg_t *c = job->copy;
        idx_fini(&seg->idx);
        seg->idx = c->idx;
        idx_init(&c->idx);
        seg->size = c->size;
        seg->next_offset = c->next_offset;
        seg->max_ts = c->max_ts;
        seg->max_ts_rel = c->max_ts_rel;
        seg->since_index = c->since_index;
        seg->loaded = c->loaded;
        seg->ts_known = c->ts_known;
        /* The newest in use: the reads that waited for it run next, so
         * the eviction must not pick it (they would queue it again). */
        seg->used = ++log->tick;
        evict_sealed(log);
    } else if (job->kind == LOG_JOB_STORE_INDEX) {
        /* The arrays are the segment's again; what the files now hold: */
        seg->idx.off_synced = job->idx.off_synced;
        seg->idx.off_file = job->idx.off_file;
        seg->idx.time_synced = job->idx.time_synced;
        seg->idx.time_file = job->idx.time_file;
        if (rc < 0) {
            seg->idx.off_file = seg->idx.time_file = UINT32_MAX;
            if (rc != -ECANCELED)
                st_warn("%s: cannot write index of segment %" PRId64 ": %s",
                        log->dir, seg->base, strerror(-rc));
        }
    }
    job_free(job);
    return rc;
}

/* Drops the jobs still queued (log_free): nobody runs them now. */
static void drop_queued_jobs(log_t *log)
{
    log_job_t *job;

    while ((job = log->jobs)) {
        size_t i = job_seg(log, job);
        log->jobs = job->next;
        if (i != SIZE_MAX)
            log->segs[i]->job = NULL; /* STORE_INDEX: idx stays its own */
        if (job->kind == LOG_JOB_SYNC_DIR)
            log->dir_dirty = true; /* log_close fsyncs it instead */
        job_free(job);
    }
    log->jobs_tail = &log->jobs;
}

/* Drops the oldest segment and its files; readers keep their slices. */
static void delete_oldest(log_t *log)
{
    seg_t *seg = log->segs[0];

    st_assert(log->nsegs > 1);
    memmove(log->segs, log->segs + 1, (log->nsegs - 1) * sizeof(*log->segs));
    log->nsegs--;
    seg_detach_job(seg);
    seg_unlink(seg_dir(log, seg), seg->base);
    seg_file_deleted(seg->file);
    st_info("%s: deleted segment %" PRId64 " (%" PRId64 " bytes%s)", log->dir,
            seg->base, seg->size, seg->cold ? ", cold tier" : "");
    seg_free(seg);
    if (log->segs[0]->base > log->start_offset) {
        log->start_offset = log->segs[0]->base;
        log->ckpt_dirty = true;
    }
}

/* ---- open and close ---- */

struct seg_name {
    int64_t base, size; /* size -1: removed by reconcile() */
    bool cold;
};

struct seg_listing {
    struct seg_name *logs; /* <base>.log files, with their sizes */
    int64_t *idx;          /* bases of index files */
    size_t nlog, nidx, cap_log, cap_idx;
};

/* The temporary files of a move (tier.h), removed wherever found. */
static const char *const tmp_exts[] = {".log" TIER_TMP, ".index" TIER_TMP,
                                       ".timeindex" TIER_TMP};

static int cmp_name(const void *a, const void *b)
{
    int64_t x = ((const struct seg_name *)a)->base;
    int64_t y = ((const struct seg_name *)b)->base;
    return x < y ? -1 : x > y;
}

static int grow_array(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    p = mem_realloc(*arr, ncap * elem);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

static bool is_tmp_name(const char *name)
{
    size_t k;

    for (k = 0; k < ST_ARRAY_LEN(tmp_exts); k++)
        if (seg_parse_name(name, tmp_exts[k]) >= 0)
            return true;
    return false;
}

/* Lists <base>.log files (with sizes) and index files, and removes the
 * temporary files of a move that a crash interrupted before its commit
 * (left in the cold dir; a move never writes in the local one, but there
 * too they could only be such leftovers). */
static int list_dir(const char *dir, bool cold, struct seg_listing *ls)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t ntmp = 0;
    int rc = 0;

    if (!d)
        return -errno;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        struct stat st;
        int64_t base;

        if ((base = seg_parse_name(de->d_name, ".log")) >= 0) {
            if (fstatat(dirfd(d), de->d_name, &st, 0) < 0) {
                rc = -errno;
                break;
            }
            rc = grow_array((void **)&ls->logs, &ls->cap_log, ls->nlog,
                            sizeof(*ls->logs));
            if (rc == 0)
                ls->logs[ls->nlog++] =
                    (struct seg_name){base, st.st_size, cold};
        } else if ((base = seg_parse_name(de->d_name, ".index")) >= 0 ||
                   (base = seg_parse_name(de->d_name, ".timeindex")) >= 0) {
            rc = grow_array((void **)&ls->idx, &ls->cap_idx, ls->nidx,
                            sizeof(*ls->idx));
            if (rc == 0)
                ls->idx[ls->nidx++] = base;
        } else if (is_tmp_name(de->d_name)) {
            ntmp++;
        }
    }
    closedir(d);
    if (rc == 0 && ntmp) {
        /* Removed after the listing: readdir need not cope with it. */
        st_warn("%s: removing %zu temporary file(s) of an interrupted move",
                dir, ntmp);
        d = opendir(dir);
        while (d && (de = readdir(d)) != NULL)
            if (is_tmp_name(de->d_name))
                unlinkat(dirfd(d), de->d_name, 0);
        if (d)
            closedir(d);
    }
    return rc;
}

/* Sorts the listing and removes index files whose .log is gone (they
 * would be trusted if a segment of that name were created again). */
static void sort_listing(const char *dir, struct seg_listing *ls)
{
    size_t i;

    if (ls->nlog)
        qsort(ls->logs, ls->nlog, sizeof(*ls->logs), cmp_name);
    for (i = 0; i < ls->nidx; i++) {
        struct seg_name key = {ls->idx[i], 0, false};
        if (!ls->nlog ||
            !bsearch(&key, ls->logs, ls->nlog, sizeof(*ls->logs), cmp_name)) {
            st_warn("%s: removing index files of missing segment %" PRId64, dir,
                    key.base);
            seg_unlink(dir, key.base);
        }
    }
}

/* A segment in both tiers: a move crashed after its commit (the cold .log
 * renamed into place, its data synced before) and before log_move_finish
 * removed the local files. The two are then identical, so the cold copy
 * is kept, as the finished move would have; a size that differs means one
 * was changed by something else, and the local one, the original, wins.
 * The crash may have come before the move's fsync of the cold dir, so that
 * fsync is done here before any local copy goes; if it fails, the local
 * copies are used and both stay on disk. Both listings are sorted; the
 * losers get size -1. */
static void reconcile(log_t *log, struct seg_listing *ls,
                      struct seg_listing *cs)
{
    bool local_changed = false, cold_changed = false, cold_synced = false;
    size_t i = 0, j = 0;
    int rc;

    while (i < ls->nlog && j < cs->nlog) {
        struct seg_name *l = &ls->logs[i], *c = &cs->logs[j];

        if (l->base != c->base) {
            if (l->base < c->base)
                i++;
            else
                j++;
            continue;
        }
        i++;
        j++;
        if (l->size != c->size) {
            st_warn("%s: segment %" PRId64 " is in both tiers with %" PRId64
                    " bytes in the cold copy and %" PRId64
                    " locally: removing the cold copy",
                    log->dir, l->base, c->size, l->size);
            seg_unlink(log->cold_dir, c->base);
            c->size = -1;
            cold_changed = true;
            continue;
        }
        if (!cold_synced) {
            rc = tier__sync_dirs(log->cold_dir, 0);
            if (rc < 0) {
                st_error("%s: fsync: %s; segment %" PRId64
                         " stays local for now",
                         log->cold_dir, strerror(-rc), l->base);
                c->size = -1;
                continue;
            }
            cold_synced = true;
        }
        st_warn("%s: segment %" PRId64
                " is in both tiers (a move was interrupted): removing the "
                "local copy",
                log->dir, l->base);
        seg_unlink(log->dir, l->base);
        l->size = -1;
        local_changed = true;
    }
    /* Made durable now, so that a later crash cannot bring a removed copy
     * back next to a changed twin. */
    if (local_changed && (rc = log_dir_fsync(log->dir)) < 0)
        st_warn("%s: fsync: %s", log->dir, strerror(-rc));
    if (cold_changed && (rc = log_dir_fsync(log->cold_dir)) < 0)
        st_warn("%s: fsync: %s", log->cold_dir, strerror(-rc));
}

/* Something that is not a directory where the partition's cold dir goes
 * (an operator's stray file): nothing of the partition can be there, so
 * it opens with its local segments, and moves fail (and are retried, with
 * a warning each) until the path is freed. Refusing to open would take
 * the partition offline for a file that holds none of its data. */
static int cold_not_dir(log_t *log)
{
    st_warn("%s is not a directory: no segment of this partition is in the "
            "cold tier, and none can move there until it is removed",
            log->cold_dir);
    return 0;
}

/* Lists the cold dir (when there is one) and reconciles it with the local
 * listing. `created`: the local dir was just made. */
static int list_cold(log_t *log, bool created, struct seg_listing *ls,
                     struct seg_listing *cs)
{
    char parent[SEG_DIR_MAX];
    size_t n = 0;
    int rc;

    if (created) {
        /* A partition always has its local dir before anything can move,
         * and log_destroy removes the cold dir first: a cold dir without a
         * local one is what a deleted partition of this name left (its
         * deletion interrupted, or its disk wiped). A new partition must
         * not inherit its records. */
        rc = remove_dir(log->cold_dir, &n);
        if (rc == -ENOENT)
            return 0;
        if (rc == -ENOTDIR)
            return cold_not_dir(log);
        st_warn("%s: removed %zu file(s) of a deleted partition from the "
                "cold tier",
                log->cold_dir, n);
        if (rc == 0) {
            tier__parent_of(log->cold_dir, parent, sizeof(parent));
            rc = log_dir_fsync(parent);
        }
        return rc;
    }
    rc = list_dir(log->cold_dir, true, cs);
    if (rc == -ENOENT)
        return 0; /* nothing moved yet */
    if (rc == -ENOTDIR)
        return cold_not_dir(log);
    if (rc < 0)
        return rc;
    sort_listing(log->cold_dir, cs);
    reconcile(log, ls, cs);
    return 0;
}

/* Both listings merged in base order, without reconcile()'s losers. */
static int merge_listings(const struct seg_listing *ls,
                          const struct seg_listing *cs, struct seg_name **out,
                          size_t *n)
{
    size_t i = 0, j = 0, k = 0;
    struct seg_name *all;

    *out = NULL;
    *n = 0;
    if (ls->nlog + cs->nlog == 0)
        return 0;
    all = mem_alloc((ls->nlog + cs->nlog) * sizeof(*all));
    if (!all)
        return -ENOMEM;
    while (i < ls->nlog || j < cs->nlog) {
        const struct seg_name *next;
        if (j == cs->nlog ||
            (i < ls->nlog && ls->logs[i].base < cs->logs[j].base))
            next = &ls->logs[i++];
        else
            next = &cs->logs[j++];
        if (next->size >= 0)
            all[k++] = *next;
    }
    *out = all;
    *n = k;
    return 0;
}

/* The age reference of a reopened active segment: its first batch's
 * timestamp, as Kafka does, unless absent or in the future. */
static int64_t roll_start_of(seg_t *seg, int64_t now)
{
    uint8_t buf[LOG_BATCH_HEADER_SIZE];
    log_batch_info_t info;
    seg_reader_t r;

    if (seg->size == 0)
        return now;
    seg_reader_init(&r, seg->file->fd, seg->size, buf, sizeof(buf));
    if (seg_reader_batch(&r, 0, &info) < 0 || info.max_ts < 0 ||
        info.max_ts > now)
        return now;
    return info.max_ts;
}

/* Drops segments [from, nsegs) after recovery cut the one before them. */
static void drop_tail(log_t *log, size_t from)
{
    if (from >= log->nsegs)
        return;
    st_warn("%s: dropping %zu segment(s) from offset %" PRId64 " after a cut",
            log->dir, log->nsegs - from, log->segs[from]->base);
    while (log->nsegs > from) {
        seg_t *seg = log->segs[--log->nsegs];
        seg_unlink(seg_dir(log, seg), seg->base);
        seg_file_deleted(seg->file);
        seg_free(seg);
    }
    log->dir_dirty = true;
}

static int recover_segments(log_t *log)
{
    size_t i, first = 0;
    int rc;

    if (log->ckpt_rp >= 0)
        first = seg_find(log, log->ckpt_rp);
    for (i = first; i < log->nsegs; i++) {
        seg_t *seg = log->segs[i];
        int64_t max_off =
            i + 1 < log->nsegs ? log->segs[i + 1]->base : INT64_MAX;
        enum seg_cut cut;

        /* Checked (CRC included) and synced before its move committed. */
        if (seg->cold)
            continue;
        rc = seg_open_file(seg, log->dir, true);
        if (rc < 0)
            return rc;
        rc = seg_load(seg, log->dir, SEG_LOAD_RECOVER,
                      log->cfg.index_interval_bytes, max_off, true, &cut);
        if (rc < 0)
            return rc;
        /* What survived a crash may sit only in the page cache. */
        seg->dirty = true;
        /* Later segments may only follow a cut that lost nothing: zeros
         * (a preallocated tail whose cut at sealing was not durable yet)
         * with the next segment starting right after the last batch. */
        if (cut == SEG_CUT_DAMAGE ||
            (cut == SEG_CUT_ZEROS && i + 1 < log->nsegs &&
             log->segs[i + 1]->base != seg->next_offset))
            drop_tail(log, i + 1);
        if (i + 1 < log->nsegs)
            seg_unload(seg);
    }
    log->durable_offset = log->segs[first]->base;
    return 0;
}

static void config_sanitize(log_config_t *c)
{
    if (c->segment_bytes <= 0 || c->segment_bytes > INT32_MAX)
        c->segment_bytes = INT32_MAX;
    if (c->index_interval_bytes < 0)
        c->index_interval_bytes = 0;
    if (c->index_max_bytes < 4 * IDX_TIME_ENTRY_SIZE)
        c->index_max_bytes = 4 * IDX_TIME_ENTRY_SIZE;
}

static void log_free(log_t *log)
{
    size_t i;

    /* A job taken would find its segment freed. */
    st_assert(log->jobs_out == 0);
    drop_queued_jobs(log);
    for (i = 0; i < log->nsegs; i++)
        seg_free(log->segs[i]);
    log_io_trail_fini(&log->trail);
    hot_map_unref(log->hot);
    hot_map_unref(log->hot_prev);
    mem_free(log->segs);
    mem_free(log->dir);
    mem_free(log->cold_dir);
    mem_free(log);
}

/* The last segment is cold: every local one was lost, or reconcile() gave
 * the last one to the cold tier. Appends go on in a new empty local
 * segment at the cold one's end (an empty cold one gives way to it). */
static int add_local_active(log_t *log)
{
    seg_t *last = active(log), *seg;
    int64_t next;
    int rc = load_now(log, log->nsegs - 1);

    if (rc < 0)
        return rc;
    next = last->next_offset;
    if (next == last->base) {
        seg_unlink(log->cold_dir, last->base);
        seg_free(last);
        log->nsegs--;
    }
    rc = seg_create(log->dir, next, st_wall_ms(), &seg);
    if (rc < 0)
        return rc;
    log->segs[log->nsegs++] = seg;
    log->dir_dirty = true;
    return 0;
}

/* Gives a writable segment of the local dir its writer, in the log's
 * mode; when the kernel refuses that mode for this file, the log goes on in
 * the mode it fell back to. */
static int attach_io(log_t *log, seg_t *seg)
{
    char path[SEG_PATH_MAX];
    int rc;

    st_assert(seg->file && seg->writable && !seg->cold && !seg->io);
    seg_path(path, sizeof(path), log->dir, seg->base, ".log");
    rc = log_io_open(log->io_mode, seg->file, path, seg->size,
                     log->cfg.segment_bytes, &seg->io);
    if (rc == 0)
        log->io_mode = log_io_mode(seg->io);
    return rc;
}

/* The read mapping of seg when it has one (the trail zaps it). */
static hot_map_t *hot_of(const log_t *log, const seg_t *seg)
{
    return log->hot && log->hot->file == seg->file ? log->hot : NULL;
}

/* The writer of a segment the log moves past (rolled away, or the log
 * closing): its file gets its exact length. */
static void seal_io(log_t *log, seg_t *seg)
{
    bool mapped;
    int rc;

    if (!seg->io)
        return;
    log_io_trail_seal(&log->trail, seg->io, hot_of(log, seg));
    /* The segment sealed last stays hot for a while (hot_slice); older
     * ones are read with sendfile. Slices already handed out, and the
     * trail, keep their mappings. */
    if (hot_of(log, seg)) {
        hot_map_unref(log->hot_prev);
        log->hot_prev = log->hot;
        log->hot_prev_since = log->hot_since;
        log->hot = NULL;
    }
    mapped = log_io_mode(seg->io) == LOG_IO_MMAP;
    rc = log_io_seal(seg->io, seg->size);
    seg->io = NULL;
    /* The mmap mode's file runs past the data, and the next load cuts
     * it; the other modes' length is exact, and only the blocks reserved
     * past it stay allocated. */
    if (rc < 0)
        st_warn("%s: cannot cut segment %" PRId64 " to %" PRId64
                " bytes (%s): %s",
                log->dir, seg->base, seg->size,
                mapped ? "the next load will"
                       : "the blocks reserved past it stay allocated",
                strerror(-rc));
    /* A length that changed must reach the disk with the next sync. */
    if (rc != 0)
        seg->dirty = true;
}

int log_open(const char *dir, const log_config_t *cfg, bool recover,
             log_t **out)
{
    struct seg_listing ls = {0}, cs = {0};
    struct seg_name *all = NULL;
    size_t i, nall = 0;
    size_t created_at;
    log_t *log;
    int rc;

    log = mem_calloc(1, sizeof(*log));
    if (!log)
        return -ENOMEM;
    log->jobs_tail = &log->jobs;
    rc = dir_dup(dir, &log->dir);
    if (rc < 0) {
        mem_free(log);
        return rc;
    }
    log->cfg = *cfg;
    config_sanitize(&log->cfg);
    log->cfg.cold_dir = NULL;
    if ((unsigned)cfg->io_mode > LOG_IO_MODE_LAST) {
        rc = -EINVAL;
        goto fail;
    }
    log->io_mode =
        cfg->io_mode == LOG_IO_DEFAULT ? LOG_IO_MODE_DEFAULT : cfg->io_mode;
    if (cfg->cold_dir && cfg->cold_dir[0]) {
        rc = dir_dup(cfg->cold_dir, &log->cold_dir);
        if (rc == 0 && strcmp(log->cold_dir, log->dir) == 0)
            rc = -EINVAL;
        if (rc < 0)
            goto fail;
        log->cfg.cold_dir = log->cold_dir;
    }
    log->ckpt_start = log->ckpt_rp = -1;

    rc = tier__make_dirs(log->dir, &created_at);
    if (rc < 0)
        goto fail;
    /* a level made means the last one was made too */
    if (created_at)
        log->dir_dirty = log->parent_dirty = true;
    if (!ckpt_read(log->dir, &log->ckpt_start, &log->ckpt_rp))
        log->ckpt_start = log->ckpt_rp = -1;
    rc = list_dir(log->dir, false, &ls);
    if (rc < 0)
        goto fail;
    sort_listing(log->dir, &ls);
    if (log->cold_dir && (rc = list_cold(log, created_at != 0, &ls, &cs)) < 0)
        goto fail;
    rc = merge_listings(&ls, &cs, &all, &nall);
    if (rc < 0)
        goto fail;
    /* One more for a new active segment after cold ones. */
    rc = segs_reserve(log, nall + 1);
    if (rc < 0)
        goto fail;

    if (nall == 0) {
        int64_t base = log->ckpt_start > 0 ? log->ckpt_start : 0;
        rc = seg_create(log->dir, base, st_wall_ms(), &log->segs[0]);
        if (rc < 0)
            goto fail;
        log->nsegs = 1;
        log->dir_dirty = true;
    } else {
        for (i = 0; i < nall; i++) {
            seg_t *seg = seg_new(all[i].base, all[i].size);
            if (!seg) {
                rc = -ENOMEM;
                goto fail;
            }
            seg->cold = all[i].cold;
            if (i + 1 < nall)
                seg->next_offset = all[i + 1].base;
            log->segs[log->nsegs++] = seg;
        }
        if (active(log)->cold && (rc = add_local_active(log)) < 0)
            goto fail;
        if (recover) {
            rc = recover_segments(log);
        } else if (!active(log)->loaded) {
            enum seg_cut cut;
            rc = seg_open_file(active(log), log->dir, true);
            if (rc == 0)
                rc = seg_load(active(log), log->dir, SEG_LOAD_TRUST,
                              log->cfg.index_interval_bytes, INT64_MAX, true,
                              &cut);
            if (rc == 0 && cut != SEG_CUT_NONE)
                active(log)->dirty = true;
        }
        if (rc < 0)
            goto fail;
        /* A recovery point past what survived would let a later recovery
         * skip segments written after this one. */
        if (recover && log->ckpt_rp > active(log)->next_offset) {
            log->ckpt_rp = -1;
            rc = ckpt_write(log->dir, ST_MAX(log->ckpt_start, 0), -1);
            if (rc < 0)
                goto fail;
        }
        if (!active(log)->writable) {
            rc = seg_open_file(active(log), log->dir, true);
            if (rc < 0)
                goto fail;
        }
    }

    rc = attach_io(log, active(log));
    if (rc < 0)
        goto fail;
    active(log)->roll_start_ms = roll_start_of(active(log), st_wall_ms());
    log->end_offset = log->next_offset = active(log)->next_offset;
    log->start_offset = log->segs[0]->base;
    if (log->ckpt_start > log->start_offset)
        log->start_offset = ST_MIN(log->ckpt_start, log->end_offset);
    if (log->start_offset != log->ckpt_start)
        log->ckpt_dirty = true;
    if (!recover)
        log->durable_offset = log->end_offset;
    st_debug("%s: opened, offsets [%" PRId64 ", %" PRId64 "), %zu segment(s)",
             log->dir, log->start_offset, log->end_offset, log->nsegs);
    mem_free(all);
    mem_free(ls.logs);
    mem_free(ls.idx);
    mem_free(cs.logs);
    mem_free(cs.idx);
    *out = log;
    return 0;

fail:
    st_error("%s: cannot open log: %s", dir, strerror(-rc));
    mem_free(all);
    mem_free(ls.logs);
    mem_free(ls.idx);
    mem_free(cs.logs);
    mem_free(cs.idx);
    log_free(log);
    return rc;
}

void log_close(log_t *log)
{
    char parent[SEG_DIR_MAX];
    size_t i;
    int rc;

    if (!log)
        return;
    st_assert(!log->sync_pending && !log->move && log->jobs_out == 0);
    /* Their work is done below (indexes, the directory's fsync). */
    drop_queued_jobs(log);
    for (i = 0; i < log->nsegs; i++) {
        seg_t *seg = log->segs[i];
        seal_io(log, seg);
        if (seg->loaded && (rc = seg_store_index(seg, seg_dir(log, seg))) < 0)
            st_warn("%s: cannot write index of segment %" PRId64 ": %s",
                    log->dir, seg->base, strerror(-rc));
        if (seg->dirty && seg->file && fdatasync(seg->file->fd) < 0)
            st_error("%s: fdatasync of segment %" PRId64 ": %s", log->dir,
                     seg->base, strerror(errno));
    }
    /* The recovery point matters per segment only, so after a sync in
     * this segment there is nothing to write. */
    if (log->ckpt_start != log->start_offset ||
        log->ckpt_rp < active(log)->base) {
        rc = ckpt_write(log->dir, log->start_offset, log->end_offset);
        if (rc < 0)
            st_error("%s: cannot write %s: %s", log->dir, CKPT_NAME,
                     strerror(-rc));
        log->dir_dirty = true;
    }
    if (log->dir_dirty && (rc = log_dir_fsync(log->dir)) < 0)
        st_error("%s: fsync: %s", log->dir, strerror(-rc));
    if (log->parent_dirty) {
        tier__parent_of(log->dir, parent, sizeof(parent));
        log_dir_fsync(parent);
    }
    log_free(log);
}

int log_destroy(log_t *log)
{
    int rc = 0, r;

    st_assert(!log->sync_pending && !log->move);
    /* Cold first: a crash half-way must not leave cold segments without
     * the local dir that says where the log starts (list_cold() removes
     * such a dir, but only when a partition of that name is created). */
    if (log->cold_dir && (r = remove_dir(log->cold_dir, NULL)) < 0 &&
        r != -ENOENT)
        rc = r;
    if ((r = remove_dir(log->dir, NULL)) < 0 && r != -ENOENT && !rc)
        rc = r;
    for (size_t i = 0; i < log->nsegs; i++)
        seg_file_deleted(log->segs[i]->file);
    log_free(log);
    return rc;
}

/* ---- accessors ---- */

int64_t log_start_offset(const log_t *log)
{
    return log->start_offset;
}

int64_t log_end_offset(const log_t *log)
{
    return log->end_offset;
}

int64_t log_next_offset(const log_t *log)
{
    return log->next_offset;
}

int64_t log_durable_offset(const log_t *log)
{
    return log->durable_offset;
}

int64_t log_size_bytes(const log_t *log)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < log->nsegs; i++)
        total += log->segs[i]->size;
    return total;
}

size_t log_segment_count(const log_t *log)
{
    return log->nsegs;
}

const char *log_dir(const log_t *log)
{
    return log->dir;
}

log_io_mode_t log_effective_io_mode(const log_t *log)
{
    return log->io_mode;
}

/* Only from unset to set: segments already in a cold dir must stay where
 * the log looks for them. */
static void set_cold_dir(log_t *log, const char *cold_dir)
{
    char *dup = NULL;
    int rc = 0;

    if (cold_dir && cold_dir[0]) {
        rc = dir_dup(cold_dir, &dup);
        if (rc == 0 && strcmp(dup, log->dir) == 0)
            rc = -EINVAL;
    }
    if (rc < 0) {
        st_warn("%s: ignoring cold tier dir %s: %s", log->dir, cold_dir,
                strerror(-rc));
    } else if (log->cold_dir && (!dup || strcmp(dup, log->cold_dir) != 0)) {
        st_warn("%s: ignoring a change of the cold tier dir from %s to %s "
                "(its segments stay there; it may only be set once)",
                log->dir, log->cold_dir, dup ? dup : "none");
    } else if (!log->cold_dir && dup) {
        log->cold_dir = dup;
        dup = NULL;
    }
    mem_free(dup);
    log->cfg.cold_dir = log->cold_dir;
}

void log_set_limits(log_t *log, const log_config_t *cfg)
{
    /* Read only when a segment may roll (log_append) and by retention, so
     * a new value simply applies from the next append or retention run.
     * The index settings stay: the open indexes were sized with them. */
    log->cfg.segment_bytes = cfg->segment_bytes;
    log->cfg.roll_ms = cfg->roll_ms;
    log->cfg.retention_ms = cfg->retention_ms;
    log->cfg.retention_bytes = cfg->retention_bytes;
    log->cfg.cold_after_ms = cfg->cold_after_ms;
    log->cfg.local_retention_bytes = cfg->local_retention_bytes;
    config_sanitize(&log->cfg);
    set_cold_dir(log, cfg->cold_dir);
    if (active(log)->io)
        log_io_set_cap(active(log)->io, log->cfg.segment_bytes);
}

/* ---- append ---- */

int64_t log_assign_offsets(log_t *log, uint8_t *batches, size_t len)
{
    int64_t first = log->next_offset;
    size_t pos = 0;

    while (pos < len) {
        uint8_t *b = batches + pos;
        int64_t size;

        st_assert(len - pos >= LOG_BATCH_HEADER_SIZE);
        size = log_batch_size(b);
        st_assert(size >= LOG_BATCH_HEADER_SIZE && (size_t)size <= len - pos);
        log_batch_set_base_offset(b, log->next_offset);
        log->next_offset += (int64_t)log_batch_last_offset_delta(b) + 1;
        pos += (size_t)size;
    }
    return first;
}

/* Buffers gathered for one write into one segment. */
struct stage {
    struct iovec v[APPEND_IOV_MAX];
    int n;
    int64_t pos; /* file position of v[0] */
};

static int stage_flush(log_t *log, struct stage *st, seg_t *seg)
{
    size_t len = 0;
    int i, rc;

    for (i = 0; i < st->n; i++)
        len += st->v[i].iov_len;
    rc = log_io_writev(seg->io, st->v, st->n, st->pos);
    /* A writer may fall back on its first write (io.h). */
    log->io_mode = log_io_mode(seg->io);
    if (rc < 0)
        return rc;
    st->pos += (int64_t)len;
    st->n = 0;
    return 0;
}

static int stage_add(log_t *log, struct stage *st, seg_t *seg, const uint8_t *p,
                     size_t len)
{
    int rc;

    if (st->n > 0) {
        struct iovec *last = &st->v[st->n - 1];
        if ((const uint8_t *)last->iov_base + last->iov_len == p) {
            last->iov_len += len;
            return 0;
        }
    }
    if (st->n == APPEND_IOV_MAX && (rc = stage_flush(log, st, seg)) < 0)
        return rc;
    st->v[st->n++] = (struct iovec){(void *)p, len};
    return 0;
}

/* Whether the active segment must be rolled before anything else is
 * appended: too old, or an index is full. */
static bool roll_due(const log_t *log, const seg_t *seg, int64_t now)
{
    if (seg->size == 0)
        return false;
    if (log->cfg.roll_ms > 0 && now - seg->roll_start_ms > log->cfg.roll_ms)
        return true;
    return seg->idx.n_off + 1 >=
               (uint32_t)log->cfg.index_max_bytes / IDX_OFF_ENTRY_SIZE ||
           seg->idx.n_time + 2 >=
               (uint32_t)log->cfg.index_max_bytes / IDX_TIME_ENTRY_SIZE;
}

int log_append(log_t *log, const struct iovec *iov, int iovcnt)
{
    seg_t *act = active(log), *seg = act;
    size_t orig_nsegs = log->nsegs, si;
    int64_t orig_size = act->size, seg_pos = act->size, seg_start, expect;
    int64_t now = st_wall_ms();
    struct stage st;
    bool first = true;
    int i, rc = 0, rc2;

    st.n = 0;
    st.pos = act->size;

    /* Phase 1: write, rolling at batch boundaries. */
    expect = log->end_offset;
    for (i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;

        while (left > 0) {
            int64_t size, base, last;
            bool roll = false;

            st_assert(left >= LOG_BATCH_HEADER_SIZE);
            size = log_batch_size(p);
            base = log_batch_base_offset(p);
            st_assert(size >= LOG_BATCH_HEADER_SIZE && (size_t)size <= left);
            st_assert(base == expect);
            last = base + log_batch_last_offset_delta(p);
            if (seg_pos > 0) {
                if (first && roll_due(log, seg, now))
                    roll = true;
                else if (seg_pos + size > log->cfg.segment_bytes)
                    roll = true;
                else if (last - seg->base > INT32_MAX)
                    roll = true;
            }
            first = false;
            if (roll) {
                seg_t *nseg;
                if (st.n && (rc = stage_flush(log, &st, seg)) < 0)
                    goto undo;
                if ((rc = segs_reserve(log, log->nsegs + 1)) < 0)
                    goto undo;
                if ((rc = seg_create(log->dir, base, now, &nseg)) < 0)
                    goto undo;
                log->segs[log->nsegs++] = nseg;
                if ((rc = attach_io(log, nseg)) < 0)
                    goto undo;
                log->dir_dirty = true;
                seg = nseg;
                seg_pos = 0;
                st.pos = 0;
            }
            if ((rc = stage_add(log, &st, seg, p, (size_t)size)) < 0)
                goto undo;
            seg_pos += size;
            expect = last + 1;
            p += size;
            left -= (size_t)size;
        }
    }
    st_assert(expect == log->next_offset);
    if (st.n && (rc = stage_flush(log, &st, seg)) < 0)
        goto undo;

    /* Phase 2: account, from the headers in memory. */
    seg_start = orig_size;
    si = orig_nsegs - 1;
    seg = log->segs[si];
    for (i = 0; i < iovcnt; i++) {
        const uint8_t *p = iov[i].iov_base, *end = p + iov[i].iov_len;

        while (p < end) {
            int64_t size = log_batch_size(p), base = log_batch_base_offset(p);
            if (si + 1 < log->nsegs && base == log->segs[si + 1]->base) {
                log_io_trail_note(&log->trail, seg->io, hot_of(log, seg),
                                  seg_start, seg->size);
                seal_io(log, seg);
                seg_start = 0;
                store_sealed_index(log, seg);
                seg->used = ++log->tick;
                seg = log->segs[++si];
            }
            seg_account(seg, seg->size, (int32_t)size, base,
                        log_batch_last_offset_delta(p), log_batch_max_ts(p),
                        log->cfg.index_interval_bytes);
            seg->dirty = true;
            p += size;
        }
    }
    log_io_trail_note(&log->trail, seg->io, hot_of(log, seg), seg_start,
                      seg->size);
    /* Appends during a sync wait for the next one: their writeback can
     * start now, so that the next fdatasync finds it under way. */
    if (log->sync_pending)
        log_io_trail_kick(&log->trail, seg->io);
    /* The sealed segment's end has left the cached part: reads of it are
     * file ranges from now on (the trail drops its last pages soon). */
    if (log->hot_prev && seg->size >= HOT_BYTES) {
        hot_map_unref(log->hot_prev);
        log->hot_prev = NULL;
    }
    log->end_offset = expect;
    if (log->nsegs > orig_nsegs)
        evict_sealed(log);
    return 0;

undo:
    st_error("%s: append of offsets [%" PRId64 ", %" PRId64 ") failed: %s",
             log->dir, log->end_offset, log->next_offset, strerror(-rc));
    while (log->nsegs > orig_nsegs) {
        seg_t *s = log->segs[--log->nsegs];
        seg_unlink(log->dir, s->base);
        seg_free(s);
    }
    if ((rc2 = log_io_truncate(act->io, orig_size)) < 0)
        st_error("%s: cannot truncate segment %" PRId64 " back to %" PRId64
                 ": %s",
                 log->dir, act->base, orig_size, strerror(-rc2));
    log->next_offset = log->end_offset;
    return rc;
}

/* ---- sync ---- */

log_sync_t *log_sync_prepare(log_t *log)
{
    log_sync_t *s = &log->sync;
    size_t n = 0, i;
    bool write_ckpt;

    st_assert(!log->sync_pending);
    /* Dirty segments are always the newest ones. */
    for (i = log->nsegs; i > 0 && log->segs[i - 1]->dirty; i--)
        n++;
    write_ckpt = log->ckpt_dirty || log->ckpt_rp < active(log)->base;
    if (n == 0 && !write_ckpt && !log->dir_dirty && !log->parent_dirty)
        return NULL;
    *s = (log_sync_t){.dir = log->dir, .files = s->inline_files};
    if (n > SYNC_INLINE_FILES) {
        seg_file_t **files = mem_alloc(n * sizeof(*files));
        if (files)
            s->files = files;
        else
            s->use_syncfs = true;
    }
    if (!s->use_syncfs) {
        s->nfiles = n;
        for (i = 0; i < n; i++)
            s->files[i] = seg_file_ref(log->segs[log->nsegs - n + i]->file);
    }
    for (i = log->nsegs - n; i < log->nsegs; i++)
        log->segs[i]->dirty = false;
    s->end_offset = log->end_offset;
    s->write_ckpt = write_ckpt;
    s->ckpt_start = log->start_offset;
    s->ckpt_rp = log->end_offset;
    s->sync_dir = log->dir_dirty;
    s->sync_parent = log->parent_dirty;
    log->dir_dirty = log->parent_dirty = false;
    log->sync_pending = true;
    return s;
}

int log_sync_run(log_sync_t *s)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < s->nfiles; i++)
        if (fdatasync(s->files[i]->fd) < 0 && !rc)
            rc = -errno;
    if (s->use_syncfs) {
        int fd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || syncfs(fd) < 0)
            rc = -errno;
        if (fd >= 0)
            close(fd);
    }
    /* The recovery point may only claim what is already durable. */
    if (!rc && s->write_ckpt) {
        rc = ckpt_write(s->dir, s->ckpt_start, s->ckpt_rp);
        s->sync_dir = true;
    }
    if (!rc && s->sync_dir)
        rc = log_dir_fsync(s->dir);
    if (!rc && s->sync_parent) {
        char parent[SEG_DIR_MAX];
        tier__parent_of(s->dir, parent, sizeof(parent));
        rc = log_dir_fsync(parent);
    }
    s->result = rc;
    return rc;
}

int64_t log_sync_finish(log_t *log, log_sync_t *s)
{
    size_t i;

    st_assert(log->sync_pending && s == &log->sync);
    log->sync_pending = false;
    if (s->result == 0) {
        if (s->end_offset > log->durable_offset)
            log->durable_offset = s->end_offset;
        if (s->write_ckpt) {
            log->ckpt_start = s->ckpt_start;
            log->ckpt_rp = s->ckpt_rp;
            if (log->ckpt_start == log->start_offset)
                log->ckpt_dirty = false;
        }
    } else {
        st_error("%s: sync failed: %s", s->dir, strerror(-s->result));
        log->dir_dirty |= s->sync_dir;
        log->parent_dirty |= s->sync_parent;
    }
    for (i = 0; i < s->nfiles; i++)
        seg_file_unref(s->files[i]);
    if (s->files != s->inline_files)
        mem_free(s->files);
    s->files = s->inline_files;
    s->nfiles = 0;
    return log->durable_offset;
}

bool log_sync_pending(const log_t *log)
{
    return log->sync_pending;
}

/* ---- reads ---- */

/* Finds the batch holding `offset` (or the first after it) in a loaded
 * segment: its position in *pos and its header in *info. Returns 0,
 * -ENOENT when the segment ends first, or an error. */
static int find_batch(log_t *log, seg_t *seg, seg_reader_t *r, int64_t offset,
                      int64_t *pos, log_batch_info_t *info)
{
    int64_t rel = offset - seg->base, e, p = 0;
    int total;

    if (rel > 0) {
        e = idx_lookup_off(&seg->idx,
                           rel > UINT32_MAX ? UINT32_MAX : (uint32_t)rel);
        if (e >= 0)
            p = seg->idx.off[e].pos;
    }
    while (p < seg->size) {
        total = seg_reader_batch(r, p, info);
        if (total < 0) {
            st_error("%s: segment %" PRId64 ": bad batch at position %" PRId64
                     ": %s",
                     log->dir, seg->base, p,
                     total <= LOG_EBATCH_LENGTH ? log_batch_strerror(total)
                                                : strerror(-total));
            return total <= LOG_EBATCH_LENGTH || total == -ENODATA ? -EIO
                                                                   : total;
        }
        if (info->base_offset + info->last_offset_delta >= offset) {
            *pos = p;
            return 0;
        }
        p += total;
    }
    return -ENOENT;
}

/* Reads that lag this far behind the end of the log are catch-up reads. */
#define READ_BEHIND_MIN (4 * (int64_t)LOG_IO_WINDOW)
/* Pages this far behind a catch-up read are dropped, in steps of at least
 * READ_DROP_STEP: the responses in flight just before it keep theirs. */
#define READ_DROP_LAG (8 << 20)
#define READ_DROP_STEP (4 << 20)
#define READ_DROP_ALIGN (2 << 20)

/* A catch-up read in the recycling modes (all but pwrite): the pages of
 * what it passed are dropped, as the writer's trail drops what it wrote,
 * so that reading from disk allocates recycled pages rather than new ones
 * (the same VM cost as writing into new pages: docs/performance.md). The
 * slice is marked `behind`, and the caller reads it in on another thread
 * (log_slice_read_in); asking the kernel for it here too (WILLNEED) cost
 * the loop about 0.5 ms a slice and gained nothing. Reads near the tail,
 * in the part the trail keeps cached, change nothing. */
/* Bytes of the log from pos of seg to the end, counted up to `enough`. */
static int64_t bytes_after(const log_t *log, const seg_t *seg, int64_t pos,
                           int64_t enough)
{
    int64_t n = 0;
    for (size_t i = log->nsegs; i > 0 && n < enough; i--) {
        const seg_t *s = log->segs[i - 1];
        if (s == seg)
            return n + (s->size - pos);
        n += s->size;
    }
    return n;
}

static bool read_behind(log_t *log, seg_t *seg, int64_t start, int64_t end,
                        log_slice_t *out)
{
    /* Aligned, so that no folio straddles an end: the page cache holds
     * large folios (up to 2 MiB, aligned to their size) after readahead,
     * and DONTNEED keeps any folio the range covers only in part, which
     * left about 2 MiB of every 4 MiB step behind. */
    int64_t drop_to = (start - READ_DROP_LAG) & ~(int64_t)(READ_DROP_ALIGN - 1);
    int fd = seg->file->fd;

    if (log->io_mode == LOG_IO_PWRITE ||
        bytes_after(log, seg, start, READ_BEHIND_MIN) < READ_BEHIND_MIN)
        return false;
    if (drop_to - seg->read_dropped >= READ_DROP_STEP) {
        posix_fadvise(fd, seg->read_dropped, drop_to - seg->read_dropped,
                      POSIX_FADV_DONTNEED);
        seg->read_dropped = drop_to;
    } else if (drop_to < seg->read_dropped - READ_DROP_LAG) {
        /* another reader, further back: it drops from here on */
        seg->read_dropped = drop_to > 0 ? drop_to : 0;
    }
    /* The next slice, read ahead unless an earlier slice handed it out
     * already (a cursor beyond it belongs to a reader further on). */
    {
        int64_t from = end, to = ST_MIN(end + (end - start), seg->size);
        if (seg->read_ahead > from && seg->read_ahead <= to)
            from = seg->read_ahead;
        if (to > from) {
            out->ahead_pos = from;
            out->ahead_len = (size_t)(to - from);
            seg->read_ahead = to;
        }
    }
    return true;
}

/* A catch-up slice mapped in (log_slice_read_in): its own read-only
 * shared mapping of the slice's pages, populated on the worker thread, in
 * place of the slice's file reference, which it keeps until released. */
struct slice_map {
    mem_ref_t ref;
    mem_ref_t *file; /* the slice's reference to the segment file */
    void *map;
    size_t len;
};

static void slice_map_release(mem_ref_t *r)
{
    struct slice_map *m = (struct slice_map *)r;
    munmap(m->map, m->len);
    mem_unref(m->file);
    mem_free(m);
}

static int slice_map_in(log_slice_t *s)
{
    int64_t at = s->pos & ~(int64_t)(sysconf(_SC_PAGESIZE) - 1);
    size_t len = (size_t)(s->pos - at) + s->len;
    struct slice_map *m = mem_alloc(sizeof(*m));
    void *p;
    int rc;

    if (!m)
        return -ENOMEM;
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, s->fd, at);
    if (p == MAP_FAILED) {
        mem_free(m);
        return -errno;
    }
    /* Reads the pages in (from the page cache when the read-ahead got
     * there first) and fills the page tables, so that sending from the
     * mapping neither waits for the disk nor faults. Linux 5.14. */
    if (madvise(p, len, MADV_POPULATE_READ) != 0) {
        rc = -errno;
        munmap(p, len);
        mem_free(m);
        return rc;
    }
    mem_ref_init(&m->ref, slice_map_release);
    m->file = s->ref;
    m->map = p;
    m->len = len;
    s->ref = &m->ref;
    s->p = (const uint8_t *)p + (s->pos - at);
    return 0;
}

int log_slice_read_in(log_slice_t *s)
{
    if (s->p || s->fd < 0 || s->len == 0)
        return 0;
    if (slice_map_in(s) == 0)
        return 0;
    return log_slice_prefetch(s);
}

bool log_slice_ahead(const log_slice_t *s, log_slice_t *ahead)
{
    if (!s->behind || s->ahead_len == 0 || s->fd < 0)
        return false;
    *ahead = (log_slice_t){.ref = mem_ref(s->ref),
                           .fd = s->fd,
                           .pos = s->ahead_pos,
                           .len = s->ahead_len};
    return true;
}

int log_slice_prefetch(const log_slice_t *s)
{
    off_t pos = s->pos;
    size_t left = s->len;
    int null_fd, rc = 0;

    if (s->p || s->fd < 0 || left == 0)
        return 0;
    null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd < 0)
        return -errno;
    while (left > 0) {
        ssize_t n = sendfile(null_fd, s->fd, &pos, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -ENODATA;
            break;
        }
        left -= (size_t)n;
    }
    close(null_fd);
    return rc;
}

/* The hot tier: a slice [start, end) of the active segment, or of the one
 * sealed just before it, is served from the segment's read mapping when
 * - hot reads are on (log.hot.reads), and the mode writes through the page
 *   cache (not direct or uring-direct: their pages are not cached, and an
 *   O_DIRECT write invalidating pages a mapping holds is the kernel's least
 *   reliable path);
 * - the mapping covers it, and it starts at or after hot_since: in the
 *   recycling modes, where the trail drops pages behind the writer, only
 *   the windows the trail takes after the mapping was made carry it, to
 *   be unmapped (hot_map_zap) before their pages are dropped; pages of
 *   earlier windows, once mapped, could never be dropped again, and the
 *   writer would be back to new pages;
 * - and it lies in the part of the log the trail keeps cached (the last
 *   2 windows): a catch-up reader further back goes through sendfile and
 *   read_behind, which keep the page cache bounded.
 * Only the active segment's mapping is made here; the sealed one's is the
 * mapping it had while active (seal_io keeps it), so its pages are in
 * trail windows that carry it.
 * Returns true when out now holds the mapped range. */
static bool hot_slice(log_t *log, seg_t *seg, int64_t start, int64_t end,
                      log_slice_t *out)
{
    bool recycling = log->io_mode != LOG_IO_PWRITE;
    hot_map_t *m;
    int rc;

    if (!log->cfg.hot_reads || log->hot_failed ||
        (log->io_mode == LOG_IO_DIRECT ||
         log->io_mode == LOG_IO_URING_DIRECT) ||
        (recycling && bytes_after(log, seg, start, HOT_BYTES) > HOT_BYTES))
        return false;
    if (seg != active(log)) {
        m = log->hot_prev;
        if (!m || m->file != seg->file || log->nsegs < 2 ||
            seg != log->segs[log->nsegs - 2] || start < log->hot_prev_since ||
            (uint64_t)end > m->cap)
            return false;
        out->p = m->base + start;
        out->ref = &hot_map_ref(m)->ref;
        out->fd = m->file->fd;
        return true;
    }
    if (!seg->io)
        return false;
    if (!log->hot) {
        int64_t cap = log->cfg.segment_bytes > seg->size
                          ? log->cfg.segment_bytes
                          : seg->size;
        rc = hot_map_open(seg->file, (size_t)cap, &log->hot);
        if (rc < 0) {
            st_warn("%s: cannot map segment %" PRId64
                    " for reading (reads use sendfile): %s",
                    log->dir, seg->base, strerror(-rc));
            log->hot_failed = true;
            return false;
        }
        /* The trail takes the current window (from cur_start) and all
         * later ones with the mapping; what it holds already, or dropped,
         * lies before. No current window: nothing appended yet. */
        log->hot_since = !recycling       ? 0
                         : log->trail.cur ? log->trail.cur_start
                                          : seg->size;
    }
    if (start < log->hot_since || (uint64_t)end > log->hot->cap)
        return false;
    out->p = log->hot->base + start;
    out->ref = &hot_map_ref(log->hot)->ref;
    out->fd = log->hot->file->fd;
    return true;
}

int log_read(log_t *log, int64_t offset, size_t max_bytes, log_slice_t *out)
{
    uint8_t buf[READ_BUF];
    size_t i;

    *out = (log_slice_t){.ref = NULL, .fd = -1, .p = NULL};
    if (offset < log->start_offset || offset > log->end_offset)
        return -ERANGE;
    if (offset == log->end_offset)
        return 0;
    for (i = seg_find(log, offset); i < log->nsegs; i++) {
        seg_t *seg = log->segs[i];
        log_batch_info_t info;
        seg_reader_t r;
        int64_t start, first_end, limit, end;
        int rc;

        rc = ensure_loaded(log, i);
        if (rc < 0)
            return rc;
        if (offset >= seg->next_offset)
            continue;
        seg_reader_init(&r, seg->file->fd, seg->size, buf, sizeof(buf));
        rc = find_batch(log, seg, &r, offset, &start, &info);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            return rc;
        first_end = start + info.length;
        limit = max_bytes >= (size_t)(seg->size - start)
                    ? seg->size
                    : start + (int64_t)max_bytes;
        if (limit >= seg->size) {
            end = seg->size;
        } else if (first_end >= limit) {
            end = first_end;
        } else {
            /* Jump to the last indexed batch before the limit, then walk
             * the few headers up to it. */
            int64_t e = idx_lookup_pos(&seg->idx, (uint32_t)limit);
            end = first_end;
            if (e >= 0 && seg->idx.off[e].pos > end)
                end = seg->idx.off[e].pos;
            while (end < limit) {
                int total = seg_reader_batch(&r, end, &info);
                if (total < 0)
                    return -EIO;
                if (end + total > limit)
                    break;
                end += total;
            }
        }
        /* The next offset: the segment's end, or the base offset of the
         * batch at `end` (a header the walk has usually just read). */
        if (end >= seg->size) {
            out->next_offset = seg->next_offset;
        } else if (seg_reader_batch(&r, end, &info) >= 0) {
            out->next_offset = info.base_offset;
        } else {
            return -EIO;
        }
        if (!hot_slice(log, seg, start, end, out)) {
            out->behind = read_behind(log, seg, start, end, out);
            out->ref = &seg_file_ref(seg->file)->ref;
            out->fd = seg->file->fd;
        }
        out->pos = start;
        out->len = (size_t)(end - start);
        return 0;
    }
    return -ERANGE;
}

int log_scan_batches(log_t *log, int64_t from, log_scan_fn cb, void *arg)
{
    uint8_t buf[READ_BUF];
    size_t i;

    if (from > log->end_offset)
        return -ERANGE;
    if (from < log->start_offset)
        from = log->start_offset;
    if (from == log->end_offset)
        return 0;
    for (i = seg_find(log, from); i < log->nsegs; i++) {
        seg_t *seg = log->segs[i];
        log_batch_info_t info;
        seg_reader_t r;
        int64_t pos;
        int rc = load_now(log, i);

        if (rc < 0)
            return rc;
        if (from >= seg->next_offset)
            continue;
        seg_reader_init(&r, seg->file->fd, seg->size, buf, sizeof(buf));
        rc = find_batch(log, seg, &r, from, &pos, &info);
        if (rc == -ENOENT)
            continue;
        if (rc < 0)
            return rc;
        while (pos < seg->size) {
            int total = seg_reader_batch(&r, pos, &info);
            if (total < 0)
                return total <= LOG_EBATCH_LENGTH || total == -ENODATA ? -EIO
                                                                       : total;
            if ((rc = cb(&info, arg)) != 0)
                return rc;
            pos += total;
        }
    }
    return 0;
}

/* Reads the batch at pos and finds its first record at or after ts (and
 * at or after min_offset): Kafka answers ListOffsets by timestamp with a
 * record's offset, not the batch's. Returns 1 found, 0 none, < 0 error. */
static int batch_find_time(seg_t *seg, int64_t pos, int total, int64_t ts,
                           int64_t min_offset, int64_t *off, int64_t *fts)
{
    uint8_t *b = mem_alloc((size_t)total);
    ssize_t n;
    int rc;
    if (!b)
        return -ENOMEM;
    n = pread(seg->file->fd, b, (size_t)total, pos);
    rc = n == total
             ? log_records_find_time(b, (size_t)total, ts, min_offset, off, fts)
             : -EIO;
    mem_free(b);
    return rc;
}

int64_t log_offset_for_time(log_t *log, int64_t ts, int64_t *found_ts)
{
    uint8_t buf[READ_BUF];
    size_t i;

    for (i = seg_find(log, log->start_offset); i < log->nsegs; i++) {
        seg_t *seg = log->segs[i];
        log_batch_info_t info;
        seg_reader_t r;
        int64_t e, p = 0;

        if (!seg->ts_known || seg->max_ts >= ts) {
            int rc = ensure_loaded(log, i);
            if (rc == -EWOULDBLOCK)
                return rc;
            if (rc < 0)
                return -1;
        }
        if (seg->max_ts < ts)
            continue;
        e = idx_lookup_time(&seg->idx, ts);
        if (e >= 0) {
            int64_t k = idx_lookup_off(&seg->idx, seg->idx.time[e].rel);
            if (k >= 0)
                p = seg->idx.off[k].pos;
        }
        seg_reader_init(&r, seg->file->fd, seg->size, buf, sizeof(buf));
        while (p < seg->size) {
            int total = seg_reader_batch(&r, p, &info);
            if (total < 0)
                return -1;
            if (info.max_ts >= ts &&
                info.base_offset + info.last_offset_delta >=
                    log->start_offset) {
                int64_t off, fts;
                int rc = batch_find_time(seg, p, total, ts, log->start_offset,
                                         &off, &fts);
                if (rc == 0) {
                    p += total; /* maxTimestamp promised more than is there */
                    continue;
                }
                if (rc < 0) {
                    /* unreadable records: answer with the batch */
                    off = ST_MAX(info.base_offset, log->start_offset);
                    fts = info.max_ts;
                }
                if (found_ts)
                    *found_ts = fts;
                return off;
            }
            p += total;
        }
    }
    return -1;
}

/* ---- retention ---- */

/* The largest timestamp of a sealed segment, or its mtime without one. */
static int64_t largest_ts(log_t *log, size_t i)
{
    seg_t *seg = log->segs[i];
    char path[SEG_PATH_MAX];
    struct stat st;

    if (!seg->ts_known && ensure_loaded(log, i) < 0)
        return -1;
    if (seg->max_ts >= 0)
        return seg->max_ts;
    seg_path(path, sizeof(path), seg_dir(log, seg), seg->base, ".log");
    if (stat(path, &st) < 0)
        return -1;
    return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

int log_retention_run(log_t *log, int64_t now_ms)
{
    int deleted = 0;

    if (log->cfg.retention_bytes >= 0) {
        int64_t total = log_size_bytes(log);
        while (log->nsegs > 1 &&
               total - log->segs[0]->size >= log->cfg.retention_bytes) {
            total -= log->segs[0]->size;
            delete_oldest(log);
            deleted++;
        }
    }
    if (log->cfg.retention_ms >= 0) {
        while (log->nsegs > 1) {
            int64_t ts = largest_ts(log, 0);
            if (ts < 0 || now_ms - ts <= log->cfg.retention_ms)
                break;
            delete_oldest(log);
            deleted++;
        }
    }
    while (log->nsegs > 1 && log->segs[1]->base <= log->start_offset) {
        delete_oldest(log);
        deleted++;
    }
    return deleted;
}

int log_delete_records(log_t *log, int64_t offset)
{
    if (offset > log->end_offset || offset < 0)
        return -ERANGE;
    if (offset <= log->start_offset)
        return 0;
    log->start_offset = offset;
    log->ckpt_dirty = true;
    while (log->nsegs > 1 && log->segs[1]->base <= log->start_offset)
        delete_oldest(log);
    return 0;
}

/* ---- the cold tier ---- */

/* Bytes of the local segments, the active one included. */
static int64_t local_bytes(const log_t *log)
{
    int64_t total = 0;
    size_t i;

    for (i = 0; i < log->nsegs; i++)
        if (!log->segs[i]->cold)
            total += log->segs[i]->size;
    return total;
}

log_move_t *log_move_prepare(log_t *log, int64_t now_ms)
{
    char path[SEG_PATH_MAX];
    seg_file_t *src;
    log_move_t *m;
    seg_t *seg;
    bool due;
    size_t i;

    if (!log->cold_dir || log->move)
        return NULL;
    /* The oldest local segment; the cold ones are the oldest of all. */
    for (i = 0; i + 1 < log->nsegs && log->segs[i]->cold; i++)
        ;
    if (i + 1 >= log->nsegs || log->segs[i]->refused)
        return NULL;
    due = log->cfg.local_retention_bytes >= 0 &&
          local_bytes(log) > log->cfg.local_retention_bytes;
    if (!due && log->cfg.cold_after_ms >= 0) {
        int64_t ts = largest_ts(log, i);
        due = ts >= 0 && now_ms - ts > log->cfg.cold_after_ms;
    }
    if (!due)
        return NULL;
    seg = log->segs[i];
    if (seg->file) {
        src = seg_file_ref(seg->file);
    } else {
        /* A descriptor of the move's own: the segment's would stay open
         * after a failed move, past the limit of evict_sealed(). */
        int fd;
        seg_path(path, sizeof(path), log->dir, seg->base, ".log");
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            st_error("%s: cannot open segment %" PRId64 " to move it: %s",
                     log->dir, seg->base, strerror(errno));
            return NULL;
        }
        src = seg_file_new(fd);
        if (!src)
            return NULL;
    }
    m = tier__move_new(log->cold_dir, seg->base, seg->size,
                       log->segs[i + 1]->base, log->cfg.index_interval_bytes,
                       src);
    log->move = m;
    return m;
}

static int move_finish(log_t *log, log_move_t *m, int rc, int max_steps)
{
    static const char *const exts[] = {".index", ".timeindex", ".log"};
    char path[SEG_PATH_MAX];
    int steps = 0, r = 0;
    seg_t *seg = NULL;
    log_job_t *job;
    size_t i, k;

    st_assert(log->move == m && (rc != 0 || m->step == TIER_STEP_DONE));
    log->move = NULL;
    i = seg_find(log, m->base);
    if (log->segs[i]->base == m->base && !log->segs[i]->cold)
        seg = log->segs[i];
    if (rc != 0) {
        st_error("%s: segment %" PRId64 " stays local: %s", log->dir, m->base,
                 strerror(-rc));
        /* A copy that fails its check would fail again: the segment is
         * damaged, and copying it again and again would only cost I/O. */
        if (rc == -EBADMSG && seg)
            seg->refused = true;
        tier__move_discard(m);
        return rc;
    }
    if (!seg || seg->size != m->size) {
        /* Retention or DeleteRecords deleted it meanwhile (seg->size is
         * only changed by loading a damaged segment, never by growing it):
         * the copy must not come back at the next open. */
        st_info("%s: segment %" PRId64
                " was deleted while it moved: dropping its cold copy",
                log->dir, m->base);
        tier__move_discard(m);
        if ((r = log_dir_fsync(log->cold_dir)) < 0)
            st_warn("%s: fsync: %s", log->cold_dir, strerror(-r));
        return 0;
    }
    if (steps++ == max_steps) {
        tier__move_free(m);
        return 1;
    }
    /* Reads open the cold files from now on; slices keep the local one,
     * whose last close the reaper does (it is unlinked below). */
    seg_file_deleted(seg->file);
    seg_file_unref(seg->file);
    seg->file = NULL;
    seg_detach_job(seg);
    seg_unload(seg);
    seg->cold = true;
    seg->read_dropped = seg->read_ahead = 0; /* another file now */
    seg->writable = false;
    /* Its cold copy is synced, so no sync needs the local file (dirty
     * segments stay a suffix of the list: the older ones are all cold). */
    seg->dirty = false;
    tier__move_free(m);
    /* Indexes first: a crash in between leaves a local .log, which the
     * next open removes since the cold copy is there. */
    for (k = 0; k < ST_ARRAY_LEN(exts); k++) {
        if (steps++ == max_steps)
            return 1;
        seg_path(path, sizeof(path), log->dir, seg->base, exts[k]);
        if ((rc = reap_unlink(path)) < 0 && rc != -ENOENT && !r)
            r = rc;
    }
    if (steps++ == max_steps)
        return 1;
    if (log->background && (job = job_new(LOG_JOB_SYNC_DIR, log->dir))) {
        job_queue(log, job); /* its failure is logged by log_job_finish */
        rc = 0;
    } else {
        rc = log_dir_fsync(log->dir);
    }
    if (r == 0)
        r = rc;
    if (r < 0)
        st_warn("%s: segment %" PRId64
                " moved to the cold tier, but removing the local copy failed "
                "(the next open does it): %s",
                log->dir, seg->base, strerror(-r));
    else
        st_info("%s: segment %" PRId64 " (%" PRId64
                " bytes) moved to the cold tier",
                log->dir, seg->base, seg->size);
    return r;
}

int log_move_finish(log_t *log, log_move_t *m, int rc)
{
    return move_finish(log, m, rc, INT_MAX);
}

int log_move_finish_steps(log_t *log, log_move_t *m, int rc, int max_steps)
{
    return move_finish(log, m, rc, max_steps);
}

void log_move_cancel(log_t *log, log_move_t *m)
{
    st_assert(log->move == m);
    log->move = NULL;
    tier__move_discard(m);
}

bool log_move_pending(const log_t *log)
{
    return log->move != NULL;
}

void log_tier_stats(const log_t *log, log_tier_stats_t *out)
{
    size_t i;

    *out = (log_tier_stats_t){0};
    for (i = 0; i < log->nsegs; i++) {
        const seg_t *seg = log->segs[i];
        if (seg->cold) {
            out->cold_bytes += seg->size;
            out->cold_segments++;
        } else {
            out->local_bytes += seg->size;
            out->local_segments++;
        }
    }
}

void log_abandon(log_t *log)
{
    size_t i;

    tier__move_free(log->move);
    if (log->sync_pending) {
        for (i = 0; i < log->sync.nfiles; i++)
            seg_file_unref(log->sync.files[i]);
        if (log->sync.files != log->sync.inline_files)
            mem_free(log->sync.files);
    }
    log_free(log);
}

/* ---- clean-shutdown marker ---- */

int log_dir_mark_clean(const char *logdirs, bool clean)
{
    char path[PATH_MAX];
    int fd, rc = 0;

    if (snprintf(path, sizeof(path), "%s/" CLEAN_MARKER, logdirs) >=
        (int)sizeof(path))
        return -ENAMETOOLONG;
    if (!clean) {
        if (unlink(path) < 0 && errno != ENOENT)
            return -errno;
        return log_dir_fsync(logdirs);
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    if (write(fd, "clean\n", 6) != 6)
        rc = errno ? -errno : -EIO;
    else if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    if (rc == 0)
        rc = log_dir_fsync(logdirs);
    return rc;
}

bool log_dir_was_clean(const char *logdirs)
{
    char path[PATH_MAX];

    if (snprintf(path, sizeof(path), "%s/" CLEAN_MARKER, logdirs) >=
        (int)sizeof(path))
        return false;
    return access(path, F_OK) == 0;
}
