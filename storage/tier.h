/* The cold tier's copy machinery, shared by log.c (which decides what
 * moves and swaps the segment over) and tier.c (which copies, checks and
 * commits the files), plus the hooks the unit tests use to inject crashes
 * and copy failures. Storage-internal: nothing outside storage/ and its
 * tests includes this.
 *
 * A move is a small state machine whose steps are listed below in the
 * order they run; a crash between any two of them leaves files that
 * log_open reconciles (docs/storage.md, "Tiers", walks through each).
 *
 * Thread: a log_move_t is created and freed on its log's owner thread and
 * run on any one thread in between, never by two at once. */
#ifndef STRATA_STORAGE_TIER_H
#define STRATA_STORAGE_TIER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "storage/log.h"
#include "storage/segment.h"

/* Suffix of the files a move writes before renaming them into place:
 * "<base>.log.tmp", "<base>.index.tmp", "<base>.timeindex.tmp". log_open
 * removes any it finds (a move that crashed before its commit). */
#define TIER_TMP ".tmp"

/* The steps of log_move_run, in order. */
enum tier_step {
    TIER_STEP_CREATE,       /* mkdir -p the cold dir, create <base>.log.tmp */
    TIER_STEP_COPY,         /* copy the .log into it */
    TIER_STEP_SYNC_LOG,     /* fsync it, drop it from the page cache */
    TIER_STEP_CHECK,        /* read it back: every batch, CRC-32C; indexes */
    TIER_STEP_WRITE_INDEX,  /* write and fsync both .tmp index files */
    TIER_STEP_RENAME_INDEX, /* .index.tmp -> .index */
    TIER_STEP_RENAME_TIME,  /* .timeindex.tmp -> .timeindex */
    TIER_STEP_COMMIT,       /* .log.tmp -> .log: the commit point */
    TIER_STEP_SYNC_DIR,     /* fsync the cold dir and its ancestors */
    TIER_STEP_DONE,
};

struct log_move {
    /* What moves, fixed by log_move_prepare. */
    int64_t base;       /* the segment's base offset */
    int64_t size;       /* bytes of its .log to copy */
    int64_t max_offset; /* its offsets stay below this (next segment) */
    int32_t interval;   /* index interval for the copy's indexes */
    seg_file_t *src;    /* reference on the local .log */
    char *cold_dir;     /* the log's cold dir (a copy) */
    /* Progress, owned by the thread running the move. */
    enum tier_step step; /* the next step to run */
    int result;          /* 0, or the -errno that stopped the move */
    int tmp_fd;          /* <base>.log.tmp while open, else -1 */
    size_t created_at;   /* length of the shallowest dir made, 0: none */
    bool committed;      /* the cold .log is in place */
    seg_t *copy;         /* the checked copy's accounting and indexes */
};

/* A move of the segment at base (owner thread); takes ownership of the
 * reference `src`. NULL when out of memory (src is then released). */
log_move_t *tier__move_new(const char *cold_dir, int64_t base, int64_t size,
                           int64_t max_offset, int32_t interval,
                           seg_file_t *src);
/* Frees the move's memory and descriptors; touches no file. */
void tier__move_free(log_move_t *m);
/* Removes every file the move made in the cold dir, the committed ones
 * included (the local copy is still complete), then frees it. */
void tier__move_discard(log_move_t *m);

/* mkdir -p; *created_at is the length of the shallowest prefix of dir made
 * here (0: none; every level below it was made too), so that the entries
 * of every new level can be synced. Returns 0 or -errno. */
int tier__make_dirs(const char *dir, size_t *created_at);
/* The parent of dir ("." for a bare name, "/" for "/x"). */
void tier__parent_of(const char *dir, char *out, size_t n);
/* fsyncs dir and each of its ancestors, so that the path to dir is
 * durable. Errors count for dir, its parent, and the levels the caller
 * made (those at least created_at long; 0: none); above those the fsyncs
 * are best effort. Returns 0 or -errno. */
int tier__sync_dirs(const char *dir, size_t created_at);

/* ---- test hooks: unit tests only ---- */

/* Runs at most max_steps more steps of log_move_run. Returns 1 when it
 * stopped early (files left as a crash there would leave them), 0 when the
 * move is complete, or the move's -errno (its files then removed). */
int log_move_run_steps(log_move_t *m, int max_steps);

/* log_move_finish stopped after max_steps of its steps: 1 the in-memory
 * swap, 2-4 unlinking the local .index, .timeindex and .log, 5 the fsync
 * of the local dir. Returns 1 when it stopped early (only log_abandon may
 * follow), else as log_move_finish. Frees m either way. */
int log_move_finish_steps(log_t *log, log_move_t *m, int rc, int max_steps);

/* A crash: frees the log, an outstanding move and sync, and closes their
 * descriptors, writing and removing nothing. No worker may be running. */
void log_abandon(log_t *log);

/* copy_file_range as the move calls it: returns bytes copied, or -1 and
 * errno. Offsets are advanced by what was copied. */
typedef ssize_t (*tier_copy_fn)(int fd_in, int64_t *off_in, int fd_out,
                                int64_t *off_out, size_t len);
/* Replaces copy_file_range for every later move (NULL: the real one), so a
 * test can make it fail with EXDEV and see the read/write fallback, or
 * with EIO and see the clean-up. Not thread-safe: set it while no move
 * runs. */
void tier_test_set_copy_fn(tier_copy_fn fn);

#endif
