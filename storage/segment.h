/* One segment of a partition log: <base>.log plus its two sparse indexes
 * (file formats at the top of segment.c and index.c).
 *
 * The open file is a refcounted seg_file_t, separate from the segment's
 * bookkeeping (seg_t), so that a Fetch slice or an fsync in flight keeps the
 * descriptor alive after the segment is rolled away, deleted by retention
 * or the whole log is destroyed; the last mem_unref closes it.
 *
 * Sealed segments are opened and indexed lazily: start-up only lists and
 * stats them, which keeps opening thousands of partitions cheap.
 *
 * Thread: seg_t belongs to its log's owner thread; a seg_file_t may be
 * referenced, read and fsynced from any thread. */
#ifndef STRATA_STORAGE_SEGMENT_H
#define STRATA_STORAGE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/mem.h"
#include "storage/batch.h"
#include "storage/index.h"

/* "<dir>/<20 digits>.timeindex" fits when dir is shorter than this. */
#define SEG_DIR_MAX 4000
#define SEG_PATH_MAX (SEG_DIR_MAX + 40)

typedef struct seg_file {
    mem_ref_t ref; /* release closes fd and frees */
    int fd;
    /* The file is (being) unlinked: the last release hands fd to the
     * reaper (reap.h), since that close frees the file's blocks. Set by
     * the owner before it drops its reference; read by the release. */
    bool deleted;
} seg_file_t;

/* Takes ownership of fd (closed here when allocation fails). */
seg_file_t *seg_file_new(int fd);
static inline seg_file_t *seg_file_ref(seg_file_t *f)
{
    mem_ref(&f->ref);
    return f;
}
static inline void seg_file_unref(seg_file_t *f)
{
    if (f)
        mem_unref(&f->ref);
}
/* The file is unlinked (or about to be): its last release goes to the
 * reaper. NULL is fine. */
static inline void seg_file_deleted(seg_file_t *f)
{
    if (f)
        f->deleted = true;
}

struct log_io;
struct log_job;

typedef struct seg {
    int64_t base;          /* base offset, the file name */
    int64_t size;          /* bytes of whole, valid batches in the .log */
    int64_t next_offset;   /* offset after the last batch; base when empty */
    int64_t max_ts;        /* largest batch maxTimestamp; -1 when none */
    uint32_t max_ts_rel;   /* relative last offset of the batch that set it */
    int64_t roll_start_ms; /* age reference for log.roll.ms */
    int64_t since_index;   /* .log bytes since the last index entry */
    seg_file_t *file;      /* NULL until opened */
    struct log_io *io;     /* the writer while active (io.h), else NULL */
    idx_t idx;
    bool loaded;   /* idx, max_ts and since_index are valid */
    bool ts_known; /* max_ts is valid (survives unloading idx) */
    bool writable; /* file opened read-write */
    bool dirty;    /* written since the last log_sync_prepare */
    bool cold;     /* the files live in the cold tier's directory */
    bool refused;  /* a copy failed its check: stays local until reopened */
    uint64_t used; /* last use tick, to unload idle sealed indexes */
    /* Reads far behind the tail drop the pages they have passed: bytes
     * below this were already dropped (log_read, the recycling modes). */
    int64_t read_dropped;
    /* ... and bytes below this were already handed out to be read ahead
     * (log_slice_t.ahead_len). */
    int64_t read_ahead;
    /* The background job (log.h) loading this segment, or writing its
     * index files from its idx, which it then shares: while set, idx is
     * neither changed nor freed here. NULL when none. */
    struct log_job *job;
} seg_t;

/* Builds "<dir>/<base as 20 digits><ext>". */
void seg_path(char *out, size_t n, const char *dir, int64_t base,
              const char *ext);

/* Parses a segment file name "<20 digits>.log"; returns the base offset or
 * -1 when the name is not one. */
int64_t seg_parse_name(const char *name, const char *ext);

/* A segment known only by name and size; nothing opened (NULL on ENOMEM). */
seg_t *seg_new(int64_t base, int64_t size);
/* Frees the bookkeeping and the writer (log_io_free: the file's length is
 * left as it is) and drops this segment's file reference. */
void seg_free(seg_t *seg);

/* Creates an empty segment file (truncating a stale one and removing stale
 * indexes), opened read-write and loaded. Returns 0 or -errno. */
int seg_create(const char *dir, int64_t base, int64_t now_ms, seg_t **out);

/* Opens the .log when not open yet (read-write when writable). */
int seg_open_file(seg_t *seg, const char *dir, bool writable);

/* Accounts one batch appended at pos (== seg->size) of `size` bytes:
 * size, next offset, largest timestamp and, every interval bytes, one
 * entry in each index (Kafka's rule). Never fails (an entry that cannot be
 * allocated is skipped; the index is only sparser). */
void seg_account(seg_t *seg, int64_t pos, int32_t size, int64_t base_offset,
                 int32_t last_delta, int64_t max_ts, int32_t interval);

enum seg_load_mode {
    /* Trust the files: load the indexes, then check the .log from the last
     * index entry to its end batch by batch without CRC. */
    SEG_LOAD_TRUST,
    /* Crash recovery: ignore the index files and check every batch of the
     * .log, CRC included, rebuilding both indexes. */
    SEG_LOAD_RECOVER,
};

/* What seg_load cut from the end of a segment. */
enum seg_cut {
    SEG_CUT_NONE = 0,
    /* Zeros where the next batch would start (a zero length): space that
     * was preallocated (log.io.mode=mmap) or allocated but never written
     * before a crash. No batch was torn there; logged as information. */
    SEG_CUT_ZEROS,
    /* A torn or damaged batch, or garbage: logged as a warning. */
    SEG_CUT_DAMAGE,
};

/* Loads the segment (the file must be open): indexes, size, next offset,
 * largest timestamp. Batches must have offsets in [seg->base, max_offset).
 * At the first bad batch the segment ends there: the .log is truncated
 * when `truncate` (file opened writable), otherwise only seg->size is
 * capped; either way a log line says what was cut and *cut tells how.
 * Index files found incomplete are rewritten.
 * Returns 0 or -errno (I/O error, -ENOMEM). */
int seg_load(seg_t *seg, const char *dir, enum seg_load_mode mode,
             int32_t interval, int64_t max_offset, bool truncate,
             enum seg_cut *cut);

/* Checks a copy of a sealed segment before the cold tier trusts it, and
 * accounts it into seg (a fresh seg_new(base, 0), loaded on success: its
 * indexes are then the copy's): the file behind fd must be exactly `size`
 * bytes of whole batches, each with magic 2 and a correct CRC-32C, whose
 * offsets follow each other without a gap from seg->base and stay below
 * max_offset. `what` names the copy in the error logged. Returns 0,
 * -EBADMSG when a batch fails, -EIO when the file is shorter or longer
 * than size, -ENOMEM, or the -errno of a read. */
int seg_check_copy(seg_t *seg, int fd, int64_t size, int64_t max_offset,
                   int32_t interval, const char *what);

/* Drops the in-memory index of a sealed segment (reloaded on demand). */
void seg_unload(seg_t *seg);

/* Adds the final time index entry (the segment's largest timestamp) and
 * writes both index files. Returns 0 or -errno; failures only cost a
 * rebuild at the next load. */
int seg_store_index(seg_t *seg, const char *dir);

/* Removes the three files of the segment at base (missing ones are fine);
 * the .log's blocks are freed by the reaper (reap.h), not by the caller.
 * Mark the segment's open file deleted (seg_file_t) before dropping it. */
void seg_unlink(const char *dir, int64_t base);

/* A cursor over a segment file for reading batch headers with few
 * syscalls: a window of `cap` bytes is read with one pread and served from
 * until a request falls outside it. */
typedef struct seg_reader {
    int fd;
    int64_t limit; /* nothing at or past this position is read */
    uint8_t *buf;
    size_t cap;
    int64_t wpos; /* file position of buf[0] */
    size_t wlen;  /* valid bytes in buf */
    int err;      /* first I/O error (-errno), or -ENODATA on a short file */
} seg_reader_t;

void seg_reader_init(seg_reader_t *r, int fd, int64_t limit, uint8_t *buf,
                     size_t cap);
/* n bytes at pos (n <= cap), or NULL when they pass the limit or cannot be
 * read (r->err set). Valid until the next call. */
const uint8_t *seg_reader_peek(seg_reader_t *r, int64_t pos, size_t n);

/* Parses the header of the batch at pos, which must lie wholly before the
 * reader's limit. Returns the batch size, or a LOG_EBATCH_* code or the
 * reader's error. */
int seg_reader_batch(seg_reader_t *r, int64_t pos, log_batch_info_t *info);

#endif
