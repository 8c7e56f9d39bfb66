/* Sparse offset and time indexes of one segment (the .index and .timeindex
 * files; byte layout at the top of index.c).
 *
 * Entries live in memory, in two growing arrays, and are written to the
 * files only when a segment is sealed or the log is closed: the append path
 * never touches the index files, and an index lost in a crash is rebuilt
 * from the .log, which is the only source of truth. Relative offsets and
 * positions are uint32 as in Kafka's files; the log rolls segments before
 * either could overflow.
 *
 * Thread: an idx_t belongs to its log's owner thread. */
#ifndef STRATA_STORAGE_INDEX_H
#define STRATA_STORAGE_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDX_OFF_ENTRY_SIZE 8
#define IDX_TIME_ENTRY_SIZE 12

typedef struct idx_off_entry {
    uint32_t rel; /* last offset of the indexed batch - segment base */
    uint32_t pos; /* file position of that batch */
} idx_off_entry_t;

typedef struct idx_time_entry {
    int64_t ts;   /* largest maxTimestamp in the segment up to here */
    uint32_t rel; /* last offset of the batch that first reached ts - base */
} idx_time_entry_t;

typedef struct idx {
    idx_off_entry_t *off;
    uint32_t n_off, cap_off;
    idx_time_entry_t *time;
    uint32_t n_time, cap_time;
    /* Entries [0, *_synced) are known to be in the file as they are in
     * memory; *_file is the number of entries the file holds (UINT32_MAX:
     * unknown), so idx_store() writes only what changed. */
    uint32_t off_synced, off_file;
    uint32_t time_synced, time_file;
} idx_t;

void idx_init(idx_t *idx);
void idx_fini(idx_t *idx);
/* Drops every entry (the files are rewritten on the next idx_store). */
void idx_reset(idx_t *idx);

/* Appends an offset entry; rel and pos must be larger than the last
 * entry's (asserted). -ENOMEM leaves the index sparser but still correct. */
int idx_append_off(idx_t *idx, uint32_t rel, uint32_t pos);
/* Appends a time entry when ts is larger than the last one (a no-op
 * otherwise, returning 0); rel must not be smaller than the last entry's. */
int idx_append_time(idx_t *idx, int64_t ts, uint32_t rel);
/* Drops the time entries whose rel is larger than max_rel (all of them when
 * max_rel < 0). */
void idx_trim_time(idx_t *idx, int64_t max_rel);

/* Lookups return the entry's index in the array, or -1 when none fits. */
/* Largest entry with rel <= rel. */
int64_t idx_lookup_off(const idx_t *idx, uint32_t rel);
/* Largest entry with pos <= pos. */
int64_t idx_lookup_pos(const idx_t *idx, uint32_t pos);
/* Largest entry with ts < ts (strictly: every batch up to that entry has a
 * smaller timestamp, so a scan may start there). */
int64_t idx_lookup_time(const idx_t *idx, int64_t ts);

static inline const idx_off_entry_t *idx_last_off(const idx_t *idx)
{
    return idx->n_off ? &idx->off[idx->n_off - 1] : NULL;
}
static inline const idx_time_entry_t *idx_last_time(const idx_t *idx)
{
    return idx->n_time ? &idx->time[idx->n_time - 1] : NULL;
}

/* Reads both files into idx (which must be empty), keeping the longest
 * prefix of well-formed entries: increasing rel and pos, pos < log_size,
 * increasing ts, non-decreasing rel. A missing or damaged file yields fewer
 * entries, never an error; the caller scans the .log from the last entry
 * to complete the index. Returns 0 or -ENOMEM / -errno (unreadable). */
int idx_load(idx_t *idx, const char *off_path, const char *time_path,
             int64_t log_size);

/* Brings both files in line with memory: writes the entries past the
 * synced prefix and truncates to the exact size. Creates missing files.
 * Not fsynced: an index is rebuilt when found short. Returns 0 or -errno. */
int idx_store(idx_t *idx, const char *off_path, const char *time_path);

#endif
