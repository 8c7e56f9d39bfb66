/* The partition log: an ordered list of segments in one directory
 * (<log.dirs>/<topic>-<partition>), Kafka's on-disk layout (see segment.c
 * and index.c for the file formats, log.c for the checkpoint file).
 *
 * Write path, once per event-loop turn and partition: the broker validates
 * each Produce batch blob (log_batches_validate), stamps offsets into it
 * (log_assign_offsets, which only rewrites baseOffset: the CRC does not
 * cover it), then hands everything queued during the turn to log_append,
 * which writes it with one write per segment, in the log's io mode
 * (log_io_mode_t below), and updates the sparse indexes from the headers
 * in memory. Durability is separate: log_sync_* fdatasyncs from a worker
 * thread, so acks=all waits for it and acks=1 does not.
 *
 * Read path: log_read returns a slice (fd, position, length) of whole
 * batches inside one segment, holding a reference on the segment file so
 * that roll, retention, a move to the cold tier or deletion never closes a
 * file a socket is still sending from.
 *
 * Tiers: sealed segments may move to a second directory (the cold tier,
 * usually another disk) and stay readable there; the log is one list of
 * segments in offset order, each in one tier, the cold ones being the
 * oldest. A move copies and checks on a worker (log_move_*), like a sync.
 *
 * Background: the slow file work that remains (loading or rebuilding a
 * sealed segment's index, writing it at a roll, a directory fsync after a
 * move) can be queued as jobs for a worker too (log_set_background).
 *
 * Thread: a log_t is owned by one shard thread; every function is called
 * from that thread, except log_sync_run, log_move_run and log_job_run (any
 * thread) and the log_dir_* helpers. */
#ifndef STRATA_STORAGE_LOG_H
#define STRATA_STORAGE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "alloc/mem.h"
#include "storage/batch.h"

/* How appends reach the active segment's file (log.io.mode). Reads are the
 * same in every mode (pread and sendfile of the segment's descriptor), and
 * so are the files: a segment written in one mode is read, recovered, moved
 * and retained like any other, and a log may be reopened in another mode.
 * Measured figures and the reasons for the default: docs/performance.md,
 * "What each write path measured". */
typedef enum log_io_mode {
    /* Zero, so that a zeroed log_config_t gets it: LOG_IO_MODE_DEFAULT. */
    LOG_IO_DEFAULT = 0,
    /* Buffered pwritev into the page cache, one per segment per append;
     * the kernel writes back when it likes and the pages stay cached. */
    LOG_IO_PWRITE,
    /* pwritev as above, and the log drives the writeback itself: each
     * 16 MiB window of appended bytes is handed to writeback when full
     * (sync_file_range) and its pages are dropped from the page cache two
     * windows later (fadvise DONTNEED), so appends reuse a bounded set of
     * recycled pages instead of always new ones; the writeback and its
     * waits run on the trail's thread (trail.h). log_append waits for it when
     * it falls four windows behind (back-pressure, not a growing heap of dirty
     * pages). Readers more than ~32-48 MiB behind the tail read from the disk.
     */
    LOG_IO_WRITEBACK,
    /* memcpy into a shared mapping of the active segment, which is
     * preallocated (fallocate) in growing chunks and cut to its real length
     * when sealed or closed; the same trail of writeback and dropped pages
     * as LOG_IO_WRITEBACK. After a crash the preallocated zeros past the
     * last batch are cut by loading without a warning. */
    LOG_IO_MMAP,
    /* O_DIRECT writes of whole 4 KiB blocks from an aligned buffer, the
     * last partial block kept in memory and rewritten by the next append;
     * that partial block also goes to the file with a buffered write, so
     * the file's length is always the log's and readers see every byte.
     * Nothing but that block stays in the page cache: readers read from
     * the disk. Every append waits for the disk. */
    LOG_IO_DIRECT,
    /* LOG_IO_WRITEBACK (the same trail), but each append is issued as one
     * IORING_OP_WRITEV on the calling thread's io_uring and waited for. */
    LOG_IO_URING,
    /* LOG_IO_DIRECT (the same files and page-cache use), but the whole
     * blocks of an append go as O_DIRECT writes of up to 1 MiB, up to 8
     * of them submitted together on the calling thread's io_uring and
     * awaited together, so the device may see more than one at a time. */
    LOG_IO_URING_DIRECT,
} log_io_mode_t;

/* The highest mode: the valid ones are LOG_IO_DEFAULT..LOG_IO_MODE_LAST
 * (modes are only ever added after it, so stored values keep meaning). */
#define LOG_IO_MODE_LAST LOG_IO_URING_DIRECT

/* The mode LOG_IO_DEFAULT stands for: the fastest measured on the
 * reference machine, with acks=1 and with acks=all (docs/performance.md). */
#define LOG_IO_MODE_DEFAULT LOG_IO_WRITEBACK

/* "pwrite", "writeback", "mmap", "direct", "uring", "uring-direct"
 * (LOG_IO_DEFAULT: "default");
 * "unknown" for other values. Static strings. */
const char *log_io_mode_name(log_io_mode_t mode);
/* Parses one of the names above ("default" included), exactly. Returns 0
 * and *out, or -EINVAL. */
int log_io_mode_parse(const char *name, log_io_mode_t *out);

typedef struct log_config {
    int64_t segment_bytes;        /* log.segment.bytes; clamped to INT32_MAX */
    int64_t roll_ms;              /* log.roll.ms; <= 0: never roll by age */
    int32_t index_interval_bytes; /* log.index.interval.bytes */
    int32_t index_max_bytes;      /* log.index.size.max.bytes */
    int64_t retention_ms;         /* log.retention.ms; -1 unlimited */
    int64_t retention_bytes;      /* log.retention.bytes; -1 unlimited */
    /* This log's directory in the cold tier (for example
     * <log.tier.cold.dir>/<topic>-<part>); NULL or "" = no cold tier.
     * log_open and log_set_limits copy the string. */
    const char *cold_dir;
    /* A sealed local segment whose largest timestamp (file mtime when it
     * has none) is older than this many ms is due for the cold tier; -1:
     * never by age. */
    int64_t cold_after_ms;
    /* While the local segments' bytes exceed this, the oldest sealed local
     * segment is due; -1: no limit. */
    int64_t local_retention_bytes;
    /* log.io.mode. A mode the kernel or filesystem refuses falls back to
     * LOG_IO_PWRITE with a warning, never a failure: see
     * log_effective_io_mode. Fixed at log_open (log_set_limits ignores
     * it). */
    log_io_mode_t io_mode;
    /* log.hot.reads: tail reads of the active segment are served from a
     * read mapping of it (log_slice_t.p), the hot tier; false: every read
     * is a file range for sendfile. log_config_default: true. */
    bool hot_reads;
} log_config_t;

/* Kafka's defaults: 1 GiB segments, 7 days roll and retention, 4 KiB index
 * interval, 10 MiB indexes, unlimited retention bytes; no cold tier
 * (cold_dir NULL, cold_after_ms and local_retention_bytes -1); io_mode
 * LOG_IO_DEFAULT. */
void log_config_default(log_config_t *cfg);

typedef struct log log_t;

/* Opens (creating dir and its parents when missing) the log in `dir`
 * (shorter than 4000 bytes). cfg is copied.
 *
 * recover = false (the log dirs were shut down cleanly): trusts the files;
 * only the active segment's tail after its last index entry is checked
 * (no CRC), and sealed segments are opened lazily on first use.
 * recover = true: every segment written after the last recorded sync
 * point (all of them when unknown) is read in full and each batch checked
 * (length, magic, CRC-32C, offsets); the log is cut at the first bad batch
 * with a warning saying what was cut, later segments are dropped, and the
 * indexes of the checked segments are rebuilt. Zeros where a batch would
 * start (preallocated or never written: segment.h, SEG_CUT_ZEROS) end a
 * segment too, with an information line, and later segments stay when
 * their offsets follow on without a gap.
 *
 * With cfg->cold_dir (shorter than 4000 bytes, not dir itself) the cold
 * dir is listed too, when it exists, and both are reconciled first, in
 * either mode: temporary files of an interrupted move are removed, index
 * files without their .log too, and a segment found in both tiers (a crash
 * after a move's commit) keeps its cold copy when the two .log files have
 * the same size, else its local copy, with a warning. Cold segments are
 * never checked by recovery (they were checked and synced when moved) and
 * are opened lazily. When dir itself had to be created, a cold dir found
 * there belongs to a deleted partition of the same name and is removed.
 * The last segment is always local: when only cold segments are left, a
 * new empty local one follows them.
 *
 * Returns 0 and *out, or -errno (-ENAMETOOLONG, -EINVAL, -ENOMEM, I/O
 * errors). */
int log_open(const char *dir, const log_config_t *cfg, bool recover,
             log_t **out);

/* Writes the indexes, fdatasyncs what is dirty, records the start offset
 * and sync point, and frees the log. Slices still referenced stay valid.
 * No log_sync and no log_move may be outstanding (asserted): finish or
 * cancel them first; a move whose worker is running must be waited for. */
void log_close(log_t *log);

/* Frees the log and deletes its directory, and its cold dir, with
 * everything in them (DeleteTopics); the cold dir goes first, so that a
 * crash half-way never leaves cold segments without their log. Slices
 * still referenced stay readable. No log_sync and no log_move may be
 * outstanding (asserted). Returns 0 or -errno from the removal. */
int log_destroy(log_t *log);

/* First offset still readable. */
int64_t log_start_offset(const log_t *log);
/* Next offset to be written (the high watermark of a single node). */
int64_t log_end_offset(const log_t *log);
/* Next offset to assign: > end offset while assigned batches await
 * log_append. */
int64_t log_next_offset(const log_t *log);
/* End offset known to be on stable storage. */
int64_t log_durable_offset(const log_t *log);
/* Bytes in all segments of both tiers, and their number. */
int64_t log_size_bytes(const log_t *log);
size_t log_segment_count(const log_t *log);
/* The directory (borrowed, valid until close). */
const char *log_dir(const log_t *log);
/* The write mode in use: cfg->io_mode resolved (LOG_IO_DEFAULT becomes
 * LOG_IO_MODE_DEFAULT), or LOG_IO_PWRITE once the kernel or filesystem
 * refused it (at log_open, or later for a new segment). Never
 * LOG_IO_DEFAULT. */
log_io_mode_t log_effective_io_mode(const log_t *log);
/* Changes the limits of an open log (a topic's configs were altered):
 * segment_bytes, roll_ms, retention_ms, retention_bytes, cold_after_ms and
 * local_retention_bytes are taken from cfg and apply from the next append,
 * retention run or log_move_prepare; the index settings of cfg are ignored
 * (the open indexes keep theirs). cold_dir may go from unset to set (the
 * directory is not listed then: it is expected empty); any other change of
 * an existing cold_dir, unsetting it included, is ignored with a warning,
 * since the segments already there must stay readable. */
void log_set_limits(log_t *log, const log_config_t *cfg);

/* Stamps consecutive base offsets, from log_next_offset, into the batches
 * (len bytes of whole batches already validated by log_batches_validate)
 * and advances the next offset. Nothing is written. Returns the first
 * assigned offset. */
int64_t log_assign_offsets(log_t *log, uint8_t *batches, size_t len);

/* Writes every batch assigned since the last append, in offset order
 * (each iov holds one or more whole batches), with one write per segment
 * touched in the log's io mode (more only past 512 separate buffers, or
 * in the direct mode past 4 MiB). Rolls to a new
 * segment, whose base offset is its first batch's, at a batch boundary
 * when the active segment would outgrow segment_bytes, is older than
 * roll_ms, has a full index, or relative offsets would pass 2^31. Updates
 * the indexes and the end offset. The buffers are only read; the caller
 * may free them on return.
 *
 * Returns 0, or -errno with nothing written: what was partly written is
 * truncated away, new segments are removed, and the assigned offsets are
 * forgotten (next offset = end offset), so the caller must fail (or assign
 * again) all of these batches. */
int log_append(log_t *log, const struct iovec *iov, int iovcnt);

/* ---- durability: fdatasync away from the owner thread ---- */

typedef struct log_sync log_sync_t;

/* Owner thread. Collects references to the segment files written since
 * the last prepare, and the end offset they cover. NULL only when nothing
 * needs syncing: everything appended is already durable (it never fails;
 * the sync lives inside the log). At most one sync per log may be
 * outstanding (asserted); appends may go on meanwhile. */
log_sync_t *log_sync_prepare(log_t *log);
/* Any thread. fdatasyncs the files, then writes the checkpoint when it is
 * due and fsyncs the directory when a file was created in it. Returns 0 or
 * the first -errno (the data may then not be durable: Kafka takes the log
 * dir offline on such errors). */
int log_sync_run(log_sync_t *s);
/* Owner thread, after log_sync_run returned. Advances the durable offset
 * when the run succeeded, frees s, and returns the durable offset. */
int64_t log_sync_finish(log_t *log, log_sync_t *s);
/* Whether a sync is outstanding. */
bool log_sync_pending(const log_t *log);

/* ---- reads ---- */

typedef struct log_slice {
    mem_ref_t *ref; /* the segment file or its mapping: caller must
                       mem_unref (NULL when len is 0) */
    int fd;         /* valid while ref is held */
    int64_t pos;
    size_t len;
    /* The hot tier: the same len bytes in a read mapping of the segment,
     * valid while ref is held (send them from memory); NULL for a file
     * range (sendfile or pread from fd at pos). */
    const uint8_t *p;
    int64_t next_offset; /* after the slice's last batch: where to read on */
    /* A catch-up read far behind the end (a file range whose pages the
     * trail has likely dropped): log_slice_read_in on another thread
     * first keeps the disk read out of the sender's sendfile. */
    bool behind;
    /* For a behind slice: the range after it, as long as the slice and
     * within the segment, that no earlier slice handed out already
     * (ahead_len 0: none). The consumer asks for it next, so the caller
     * reads it into the page cache meanwhile (log_slice_ahead). */
    int64_t ahead_pos;
    size_t ahead_len;
} log_slice_t;

/* A slice of whole batches from one segment: it starts with the batch that
 * contains `offset` (or the first batch after it), and ends at the last
 * batch boundary within max_bytes, but always covers that first batch even
 * when larger (KIP-74). It may stop at the segment's end: the caller reads
 * again from the offset after it. offset == end offset: returns 0 with len
 * 0. Offsets outside [start, end]: -ERANGE. -EWOULDBLOCK: its segment is
 * being loaded (background jobs, below). Other errors: -errno, or -EIO
 * when a batch header on disk is invalid. */
int log_read(log_t *log, int64_t offset, size_t max_bytes, log_slice_t *out);

/* Any thread, while the slice's reference is held, for a catch-up slice:
 * maps the slice's file range read-only and reads its pages in, so that it
 * is sent from memory afterwards (one writev with the rest of the
 * response, like the hot tier) without waiting for the disk or faulting.
 * On success s->p points into the mapping and s->ref is the mapping's
 * reference (which holds the file's); release it as before. When the
 * mapping cannot be made, it falls back to log_slice_prefetch and the
 * slice stays a file range. Returns 0 or -errno (the slice is valid
 * either way). */
int log_slice_read_in(log_slice_t *s);
/* Any thread, while the slice's reference is held: reads the slice's file
 * range into the page cache (sendfile to /dev/null: no copy) and maps
 * nothing. Used to read ahead of a catch-up. Returns 0 or -errno. */
int log_slice_prefetch(const log_slice_t *s);
/* Owner thread, while s's reference is held: when s has a range to read
 * ahead, fills *ahead with it as a file-range slice holding its own file
 * reference (for log_slice_prefetch on any thread, then mem_unref) and
 * returns true. */
bool log_slice_ahead(const log_slice_t *s, log_slice_t *ahead);

/* The base offset of the first batch (at or after the start offset) whose
 * maxTimestamp >= ts, and that timestamp in *found_ts; -1 when there is
 * none (ListOffsets by timestamp; the special timestamps -1/-2/-3 are the
 * caller's); -EWOULDBLOCK when a segment must be loaded first (background
 * jobs, below). A batch, not a record, is the unit: the answer may lie a few
 * records before the first record at ts. */
int64_t log_offset_for_time(log_t *log, int64_t ts, int64_t *found_ts);

/* Called by log_scan_batches for each batch header; a non-zero return
 * stops the scan and is returned by it. */
typedef int (*log_scan_fn)(const log_batch_info_t *info, void *arg);

/* Calls cb with the header of every batch from the one holding `from` (or
 * the first after it; `from` below the start offset means the start
 * offset) to the end offset, in offset order. Only headers are read
 * (pread through a window, no CRC), so the cost is about one small read
 * per batch, fewer for small batches; sealed segments are opened as a
 * read would open them. Batches assigned but not yet appended are not
 * seen. Returns 0, cb's non-zero value, -ERANGE when from is above the end
 * offset, -EIO when a stored header is invalid, or -errno. */
int log_scan_batches(log_t *log, int64_t from, log_scan_fn cb, void *arg);

/* Deletes whole oldest sealed segments of either tier (never the active
 * one): while the log minus the oldest segment is still >=
 * retention_bytes, while the oldest segment's largest timestamp (its file
 * mtime when it has none) is more than retention_ms before now_ms, and
 * those wholly below the start offset. Advances the start offset. Slices
 * of deleted segments stay readable. A segment being moved may go too:
 * log_move_finish then drops the copy. Returns the number of segments
 * deleted, or -errno. */
int log_retention_run(log_t *log, int64_t now_ms);

/* Advances the start offset to `offset` (DeleteRecords) and deletes the
 * segments wholly below it, in either tier. Returns 0, or -ERANGE when
 * offset is above the end offset. An offset at or below the start offset
 * changes nothing. */
int log_delete_records(log_t *log, int64_t offset);

/* ---- the cold tier: moving sealed segments off the owner thread ---- */

typedef struct log_move log_move_t;
/* Owner thread. The oldest sealed local segment due for the cold tier
 * (never the active one), with references on its files so that the copy
 * can run elsewhere; NULL when none is due, no cold tier is set, or a
 * move of this log is outstanding (at most one). Also NULL, until the log
 * is reopened, once that segment has failed the copy's check (-EBADMSG):
 * it stays local, and the segments after it too, since the cold ones are
 * always the oldest; retention removes it in time. Deciding may load the
 * segment's index (its largest timestamp), as retention does (in
 * background mode: NULL, and the load is queued). */
log_move_t *log_move_prepare(log_t *log, int64_t now_ms);
/* Any thread, no access to the log_t: copies the segment's .log into the
 * cold dir under a temporary name (copy_file_range, falling back to
 * read/write when the kernel or filesystem refuses, e.g. EXDEV, EOPNOTSUPP,
 * ENOSYS, EINVAL), checks the copy batch by batch (length, magic, CRC-32C,
 * offsets contiguous from the base), writes/copies the indexes, fsyncs
 * every file, renames them into place (the .log last: its rename is the
 * commit point) and fsyncs the cold directory and the path to it (its
 * parent, and the directories it created). Returns 0 or -errno
 * (-EIO/-EBADMSG when the check fails); on failure it removes its
 * temporary files, and the renamed ones. */
int log_move_run(log_move_t *m);
/* Owner thread, after log_move_run returned rc. rc == 0: the segment now
 * reads from its cold copy (new reads open the cold files; slices already
 * handed out keep the local fd alive), the local files are unlinked and
 * the local dir fsynced. rc != 0: nothing changes. Frees m. Returns 0 or
 * -errno. The log may have been changed meanwhile (appends, rolls,
 * retention, DeleteRecords deleting that very segment): handle each.
 *
 * In detail: returns rc when rc != 0; 0 also when the segment was deleted
 * meanwhile (the cold copy is then removed); or the -errno of removing a
 * local file (the segment reads from the cold tier all the same, and the
 * next log_open removes the local copy). */
int log_move_finish(log_t *log, log_move_t *m, int rc);
/* Abandons an outstanding move without running it (used on shutdown or
 * deletion before the worker ran): frees m. Also safe after log_move_run
 * returned, whatever it returned (what it made in the cold dir is removed;
 * the segment stays local), but never while it runs. */
void log_move_cancel(log_t *log, log_move_t *m);
/* Whether a move is outstanding. */
bool log_move_pending(const log_t *log);

/* ---- background jobs: slow file work off the owner thread ----
 *
 * Three pieces of work on a log's files can take long: loading a sealed
 * segment's index (reading its index files, or rebuilding them from the
 * .log when they are missing or do not match it: about a second per GiB
 * of small batches), writing a sealed segment's index files at a roll (a
 * few MiB of new page-cache pages), and fsyncing the local directory after
 * a cold move. By default they run inline. After log_set_background(log,
 * true) the log queues them as jobs instead; the owner takes each
 * (log_job_take), runs it on another thread (log_job_run) and finishes it
 * on the owner thread (log_job_finish), which applies its result:
 * - log_read and log_offset_for_time return -EWOULDBLOCK when they need a
 *   sealed segment that is not loaded, and queue its load: call again
 *   once that load is finished (a failed load is queued again by the next
 *   call);
 * - log_retention_run and log_move_prepare stop where they would need a
 *   load (queued too), and go on at their next call;
 * - a roll queues the sealed segment's index write, and log_move_finish
 *   the directory's fsync.
 * log_open, log_scan_batches and log_close stay synchronous. A segment
 * deleted or moved while its job runs is handled by log_job_finish (the
 * job's index files are removed with it). Every job taken must be
 * finished before log_close or log_destroy; jobs still queued are dropped
 * there (log_close writes the indexes itself). */
typedef struct log_job log_job_t;

typedef enum log_job_kind {
    LOG_JOB_LOAD,        /* load (or rebuild) a sealed segment's index */
    LOG_JOB_STORE_INDEX, /* write a sealed segment's index files */
    LOG_JOB_SYNC_DIR,    /* fsync the local directory after a cold move */
    LOG_JOB_KIND_LAST = LOG_JOB_SYNC_DIR,
} log_job_kind_t;

/* Owner thread: queue slow file work as jobs (true) or do it inline. */
void log_set_background(log_t *log, bool on);
/* Owner thread: the oldest queued job, now the caller's to run and finish;
 * NULL when none is queued. */
log_job_t *log_job_take(log_t *log);
/* Whether a job is queued (not yet taken). */
bool log_job_queued(const log_t *log);
log_job_kind_t log_job_kind(const log_job_t *job);
/* Any thread, no access to the log_t. Returns 0 or -errno. A load that
 * had to rebuild the index writes the index files as log_open would. */
int log_job_run(log_job_t *job);
/* Owner thread, after log_job_run returned rc (or, with rc = -ECANCELED,
 * instead of running it). Applies a load to its segment (its index, size,
 * largest timestamp) or records what an index write wrote; a job whose
 * segment was deleted or moved meanwhile removes the index files it may
 * have written for it. Frees job and returns rc. */
int log_job_finish(log_t *log, log_job_t *job, int rc);
/* Taken jobs not yet finished. */
size_t log_jobs_out(const log_t *log);

typedef struct log_tier_stats {
    int64_t local_bytes, cold_bytes;
    size_t local_segments, cold_segments;
} log_tier_stats_t;
/* Bytes and segments per tier (their sums are log_size_bytes and
 * log_segment_count). */
void log_tier_stats(const log_t *log, log_tier_stats_t *out);

/* ---- clean-shutdown marker of a log.dirs root ---- */

/* clean = true: writes <logdirs>/.strata_clean_shutdown and fsyncs it and
 * the directory (after every log is closed). clean = false: removes it (at
 * start, after log_dir_was_clean). Returns 0 or -errno. */
int log_dir_mark_clean(const char *logdirs, bool clean);
bool log_dir_was_clean(const char *logdirs);

/* mkdir -p of dir (shorter than 4000 bytes), with the levels it made
 * durable (their parents fsynced): for a tier's root at start. Returns 0
 * or -errno. */
int log_dir_create(const char *dir);

/* fsync of a directory, so that the entries created, renamed or removed in
 * it are durable. Returns 0 or -errno. */
int log_dir_fsync(const char *dir);

#endif
