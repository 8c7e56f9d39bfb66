/* RecordBatch v2: the unit Kafka producers send, Strata stores and consumers
 * fetch, byte for byte. This header is a view over those bytes (no copies):
 * field offsets, validation, and the few accessors the log needs.
 *
 * Layout (all integers big-endian; sizes in bytes):
 *
 *   off size field
 *     0   8  baseOffset            assigned by the broker (not under the CRC)
 *     8   4  batchLength           bytes after this field (total - 12)
 *    12   4  partitionLeaderEpoch  (not under the CRC)
 *    16   1  magic                 2
 *    17   4  crc                   CRC-32C of bytes 21 .. end
 *    21   2  attributes            bits 0-2 codec (0 none, 1 gzip, 2 snappy,
 *                                  3 lz4, 4 zstd), 3 timestamp type (1 =
 *                                  LogAppendTime), 4 transactional, 5 control,
 *                                  6 delete horizon
 *    23   4  lastOffsetDelta       offset of the last record - baseOffset
 *    27   8  baseTimestamp
 *    35   8  maxTimestamp
 *    43   8  producerId
 *    51   2  producerEpoch
 *    53   4  baseSequence
 *    57   4  recordsCount
 *    61   .. records (compressed as one block when the codec is not 0)
 *
 * Because the CRC starts at byte 21, the broker may rewrite baseOffset and
 * partitionLeaderEpoch without recomputing it.
 *
 * Thread: everything here is pure and may be called from any thread. */
#ifndef STRATA_STORAGE_BATCH_H
#define STRATA_STORAGE_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/st.h"

#define LOG_BATCH_PREFIX_SIZE 12 /* baseOffset + batchLength */
#define LOG_BATCH_HEADER_SIZE 61
#define LOG_BATCH_MIN_LENGTH (LOG_BATCH_HEADER_SIZE - LOG_BATCH_PREFIX_SIZE)
#define LOG_BATCH_MAGIC 2
/* The smallest encoded record: seven one-byte varints/fields. */
#define LOG_RECORD_MIN_SIZE 7

#define LOG_BATCH_OFF_BASE_OFFSET 0
#define LOG_BATCH_OFF_LENGTH 8
#define LOG_BATCH_OFF_LEADER_EPOCH 12
#define LOG_BATCH_OFF_MAGIC 16
#define LOG_BATCH_OFF_CRC 17
#define LOG_BATCH_OFF_ATTRIBUTES 21
#define LOG_BATCH_OFF_LAST_OFFSET_DELTA 23
#define LOG_BATCH_OFF_BASE_TS 27
#define LOG_BATCH_OFF_MAX_TS 35
#define LOG_BATCH_OFF_PRODUCER_ID 43
#define LOG_BATCH_OFF_PRODUCER_EPOCH 51
#define LOG_BATCH_OFF_BASE_SEQUENCE 53
#define LOG_BATCH_OFF_RECORDS 57

#define LOG_BATCH_ATTR_CODEC_MASK 0x07
#define LOG_BATCH_ATTR_LOG_APPEND_TIME 0x08
#define LOG_BATCH_ATTR_TRANSACTIONAL 0x10
#define LOG_BATCH_ATTR_CONTROL 0x20
#define LOG_BATCH_ATTR_DELETE_HORIZON 0x40
#define LOG_BATCH_CODEC_MAX 4 /* zstd */

/* Validation errors. Negative like errno codes but outside errno's range,
 * so a caller can tell them apart from I/O errors; the broker maps them to
 * Kafka error codes (CORRUPT_MESSAGE, INVALID_RECORD, ...). */
enum {
    /* Fewer bytes than the header or the batchLength announce, or a
     * batchLength too small for a v2 header. */
    LOG_EBATCH_LENGTH = -4001,
    LOG_EBATCH_MAGIC = -4002,   /* magic is not 2 */
    LOG_EBATCH_CRC = -4003,     /* CRC-32C mismatch */
    LOG_EBATCH_CORRUPT = -4004, /* lastOffsetDelta < 0, bad records count,
                                   unknown compression codec */
};

/* A short constant name for a LOG_EBATCH_* code ("unknown" otherwise). */
const char *log_batch_strerror(int code);

typedef struct log_batch_info {
    int64_t base_offset;
    int32_t length; /* total bytes, including the 12-byte prefix */
    int32_t last_offset_delta;
    int64_t base_ts, max_ts;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records;
    int16_t attributes;
} log_batch_info_t;

/* Checks what the first 61 bytes alone can tell: avail (bytes readable at
 * hdr) covers the header, magic, batchLength >= 49, lastOffsetDelta >= 0,
 * 0 <= recordsCount <= lastOffsetDelta + 1, and for uncompressed batches
 * that the records can fit in the announced length. Does NOT require the
 * whole batch to be present and does not check the CRC (the disk scanner
 * reads headers ahead of bodies). Returns the batch's total size (> 0) and
 * fills info, or a LOG_EBATCH_* code. */
int log_batch_header_parse(const uint8_t *hdr, size_t avail,
                           log_batch_info_t *info);

/* Validates one whole batch at buf (len bytes available): the header checks
 * above, the full length present, and the CRC when check_crc. Returns the
 * batch's total size (> 0) and fills info (which may be NULL), or a
 * LOG_EBATCH_* code. Lenient on recordsCount (compacted batches may hold
 * fewer records than offsets), as suits data read back from disk. */
int log_batch_parse(const uint8_t *buf, size_t len, bool check_crc,
                    log_batch_info_t *info);

typedef struct log_batches_summary {
    int32_t batches;
    int64_t records;        /* sum of lastOffsetDelta + 1 */
    int32_t max_batch_size; /* largest total batch size */
    int64_t max_ts;         /* largest maxTimestamp (-1 when none) */
} log_batches_summary_t;

/* Validates a records blob as carried by a Produce request: one or more
 * concatenated batches, each complete, magic 2, CRC correct, and strict
 * about counts as Kafka is for producers (recordsCount > 0 and equal to
 * lastOffsetDelta + 1, known codec). An empty blob is LOG_EBATCH_LENGTH.
 * Returns 0 and fills out (may be NULL), or the code of the first bad
 * batch. */
int log_batches_validate(const uint8_t *buf, size_t len,
                         log_batches_summary_t *out);

/* ---- accessors over a batch already validated ---- */

static inline int64_t log_batch_base_offset(const uint8_t *b)
{
    return (int64_t)st_be64(b + LOG_BATCH_OFF_BASE_OFFSET);
}
static inline void log_batch_set_base_offset(uint8_t *b, int64_t off)
{
    st_put_be64(b + LOG_BATCH_OFF_BASE_OFFSET, (uint64_t)off);
}
/* Total bytes including the 12-byte prefix. */
static inline int64_t log_batch_size(const uint8_t *b)
{
    return (int64_t)(int32_t)st_be32(b + LOG_BATCH_OFF_LENGTH) +
           LOG_BATCH_PREFIX_SIZE;
}
static inline int32_t log_batch_last_offset_delta(const uint8_t *b)
{
    return (int32_t)st_be32(b + LOG_BATCH_OFF_LAST_OFFSET_DELTA);
}
static inline int64_t log_batch_max_ts(const uint8_t *b)
{
    return (int64_t)st_be64(b + LOG_BATCH_OFF_MAX_TS);
}

#endif
