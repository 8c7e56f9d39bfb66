/* The write back-ends of the partition log (log.io.mode): how the bytes of
 * log_append reach the active segment's file. Internal to storage/: the
 * broker only sees log_config_t.io_mode and log_effective_io_mode (log.h).
 *
 * A log_io_t is the writer of one segment while it is written: created when
 * the segment becomes active (or is created by a roll), sealed when the log
 * rolls past it or closes. The modes, and why each exists, are described in
 * io.c and docs/storage.md ("Write paths"). Whatever the mode, the file is
 * read through the segment's ordinary descriptor (pread, sendfile), and
 * fdatasync of that descriptor makes everything written durable. The uring
 * modes write through an io_uring of the calling thread, made at its
 * first use and freed when the thread exits (or at exit() for the thread
 * calling it); writes stay synchronous all the same.
 *
 * A log_io_trail_t belongs to a log and recycles page-cache pages behind
 * the writers of the buffered modes (writeback, mmap): it starts writeback of
 * what was appended, window by window, and drops the pages of old windows
 * once written.
 *
 * Thread: both belong to the log's owner thread; the trail's work runs on
 * a thread of its own (trail.c). */
#ifndef STRATA_STORAGE_IO_H
#define STRATA_STORAGE_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "storage/log.h"
#include "storage/segment.h"
#include "storage/trail.h"

/* Page-cache window of the trail: writeback of each window starts when it
 * is full, and its pages are dropped once two more windows have followed. */
#define LOG_IO_WINDOW (16 << 20)
/* The least a kick (log_io_trail_kick) starts the writeback of. */
#define LOG_IO_KICK_MIN (256 << 10)
/* Ranges the trail holds (whole windows, or the tails of sealed segments). */
#define LOG_IO_TRAIL_MAX 8

typedef struct log_io log_io_t;

/* Opens the writer of the segment file f (opened read-write; the writer
 * takes its own reference) at `path`, whose first `size` bytes are valid.
 * `cap` is the segment size limit (log.segment.bytes), which bounds the
 * preallocation of the mmap mode. A mode the kernel or filesystem refuses
 * (O_DIRECT or fallocate unsupported, mmap refused, no io_uring for this
 * thread) falls back to LOG_IO_PWRITE with one warning per process and mode
 * saying why: check log_io_mode(), also after each write (the direct modes
 * may learn only then that the filesystem wants stricter alignment, and
 * the uring modes that the writing thread, when not the opening one, has
 * no io_uring). Returns 0 and *out,
 * or -ENOMEM, or the -errno of opening another descriptor of the file
 * (every mode but pwrite) or of reading its last block (direct). */
int log_io_open(log_io_mode_t mode, seg_file_t *f, const char *path,
                int64_t size, int64_t cap, log_io_t **out);

/* The writer's mode after any fallback. */
log_io_mode_t log_io_mode(const log_io_t *io);

/* Changes the preallocation bound (log_set_limits). */
void log_io_set_cap(log_io_t *io, int64_t cap);

/* Writes the n buffers at pos, which must be where the previous write (or
 * the open size, or the last truncate) ended. The entries of iov[] are
 * used up (changed), the bytes only read. Returns 0, or -errno with part
 * of it possibly written: the caller then calls log_io_truncate. */
int log_io_writev(log_io_t *io, struct iovec *iov, int n, int64_t pos);

/* Cuts what was written after `size` (a failed append): afterwards the
 * file reads as if it had never been written past size. Returns 0 or
 * -errno. */
int log_io_truncate(log_io_t *io, int64_t size);

/* The segment is sealed (rolled away) or the log closes at `size` bytes:
 * the file's length becomes exactly size (the mmap mode preallocates past
 * it), the blocks the writeback and uring modes reserved past it are given
 * back, the writer's own resources go, and io is freed. Returns 0, 1 when
 * the file's length changed (the caller must fdatasync the file for the
 * length to be durable), or -errno of the truncation (the file may then
 * keep a zero tail, which loading cuts, or reserved blocks past its end,
 * which only cost disk space until the segment is deleted). */
int log_io_seal(log_io_t *io, int64_t size);

/* Frees the writer without touching the file's length (the segment is
 * being deleted, or the log abandoned as by a crash). NULL is fine. */
void log_io_free(log_io_t *io);

/* Tests only: from now on, the probe of `mode` (LOG_IO_MMAP: fallocate;
 * LOG_IO_DIRECT: opening with O_DIRECT, in both direct modes; LOG_IO_URING
 * and LOG_IO_URING_DIRECT: making the thread's io_uring, each for its own
 * mode) fails with errno err, as on a kernel or filesystem refusing the
 * mode; 0 restores the real probe. */
void log_io_test_refuse(log_io_mode_t mode, int err);

/* Tests only: from now on, a write through io_uring that did more than max
 * bytes reports max (a short write, which the writer must finish: the
 * bytes after max are written again, to the same place); 0 turns it off.
 * The direct mode counts whole blocks only. */
void log_io_test_short_writes(size_t max);

/* Tests only: the trail's waits for written windows fail with err (as on
 * a disk error) while it is not 0. */
void log_io_test_fail_waits(int err);

/* ---- the page-cache trail of the buffered modes ---- */

struct hot_map;

typedef struct log_io_range {
    seg_file_t *file;    /* a read-only descriptor of the segment, referenced */
    struct hot_map *hot; /* the segment's read mapping (hot.h) or NULL */
    int64_t start, end;
} log_io_range_t;

/* The worker's side of a trail (trail.c), on the heap. */
typedef struct log_io_trail_q {
    log_io_range_t r[LOG_IO_TRAIL_MAX]; /* writeback started, oldest first */
    unsigned n;
    int64_t bytes; /* in r[] */
    bool warned;
    /* Written, for the owner to drop (under trail.c's lock). */
    log_io_range_t done[LOG_IO_TRAIL_MAX];
    unsigned ndone;
    _Atomic bool any_done; /* ndone > 0, for the owner to look without it */
    bool inline_run;       /* no thread: the owner runs it all itself */
    /* Handed over by the owner and not yet dropped (or forgotten). */
    _Atomic int64_t held;
} log_io_trail_q_t;

typedef struct log_io_trail {
    /* Appended bytes of the current segment whose writeback has not been
     * started yet: [cur_start, cur_end) of cur (referenced). */
    seg_file_t *cur;
    int64_t cur_start, cur_end;
    int64_t kicked; /* of cur: writeback started up to here by kicks */
    /* The ranges handed over (trail.c); NULL before the first. */
    log_io_trail_q_t *q;
} log_io_trail_t;

void log_io_trail_init(log_io_trail_t *t);
/* Drops the references; pages are left to the kernel (the ranges handed
 * over are let go by the thread, after those queued before). */
void log_io_trail_fini(log_io_trail_t *t);
/* The writer io (of the trail's modes; others are ignored) appended
 * [start, end): starts writeback of each full window, and waits for and
 * drops the oldest ones beyond the trail's length. hot is the segment's
 * read mapping, or NULL: the windows taken now keep a reference to it, and
 * its pages of a window are unmapped (hot_map_zap) before the window's
 * pages are dropped, since mapped pages cannot be. Never fails (these are
 * hints: errors reach fdatasync of the segment's own descriptor). */
void log_io_trail_note(log_io_trail_t *t, log_io_t *io, struct hot_map *hot,
                       int64_t start, int64_t end);
/* io's segment is sealed: writeback of its last bytes starts now. Call
 * before log_io_seal; hot as for log_io_trail_note. */
void log_io_trail_seal(log_io_trail_t *t, log_io_t *io, struct hot_map *hot);
/* Internal (io.c to trail.c): hands [start, end) of f over to writeback
 * and to the drop behind it. */
void log_io__trail_push(log_io_trail_t *t, seg_file_t *f, struct hot_map *hot,
                        int64_t start, int64_t end);
/* Internal (io.c to trail.c): drops what the trail's thread has seen
 * written, if anything. */
void log_io__trail_drain(log_io_trail_t *t);
/* Internal (io.c to trail.c): starts the writeback of [start, end) of f on
 * the trail's thread, and nothing else. */
void log_io__trail_kick(log_io_trail_t *t, seg_file_t *f, int64_t start,
                        int64_t end);
/* An fdatasync of the log is running (acks=all): the writeback of what was
 * appended since the current window began, or since the last kick, starts
 * now on the trail's thread (at least LOG_IO_KICK_MIN bytes), so that the
 * next fdatasync finds it under way. A hint: skipped when the trail runs
 * inline or its queue is full. */
void log_io_trail_kick(log_io_trail_t *t, log_io_t *io);

#endif
