/* Records inside a v2 record batch: decompression and iteration.
 *
 * Most of Strata never looks inside a batch: batches are stored and sent
 * as produced. What does look inside — ListOffsets by timestamp (the
 * first record at or after a time, not just its batch), and later
 * producer state and compaction — goes through log_records_each(), which
 * inflates the records section with the batch's codec (gzip, snappy in
 * raw or xerial framing, lz4 frame, zstd) into a bounded buffer and walks
 * the records.
 *
 * A record (after decompression), all lengths as zigzag varints:
 *   length | attributes i8 | timestampDelta varlong | offsetDelta varint |
 *   keyLength | key | valueLength | value | headerCount |
 *   headerCount × (keyLength | key | valueLength | value)
 * A length of -1 is null. */
#ifndef STRATA_STORAGE_RECORDS_H
#define STRATA_STORAGE_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LOG_RECORDS_MAX_INFLATED (64u << 20) /* per batch */

typedef struct log_record {
    int64_t offset;    /* batch base offset + offsetDelta */
    int64_t timestamp; /* base + delta, or maxTimestamp for LogAppendTime */
    const uint8_t *key;
    int32_t key_len; /* -1 null */
    const uint8_t *value;
    int32_t value_len; /* -1 null */
    int32_t headers;
} log_record_t;

/* Calls fn for each record of the batch at `batch` (len bytes, a whole
 * batch whose header was already validated) until fn returns non-zero,
 * which is then returned. Returns 0 after the last record, or a negative
 * code: -EPROTO for malformed records or compressed data, -ENOTSUP for an
 * unknown codec, -EFBIG when the records inflate beyond
 * LOG_RECORDS_MAX_INFLATED, -ENOMEM. */
int log_records_each(const uint8_t *batch, size_t len,
                     int (*fn)(void *arg, const log_record_t *r), void *arg);

/* The first record of the batch with timestamp >= ts and offset >=
 * min_offset: its offset and timestamp. Returns 1 when found, 0 when none,
 * or a negative code as above. */
int log_records_find_time(const uint8_t *batch, size_t len, int64_t ts,
                          int64_t min_offset, int64_t *offset,
                          int64_t *found_ts);

#endif
