/* Producer state of one partition, for the idempotent producer: for each
 * producer id, its epoch and where its last five batches went, checked
 * against every v2 batch with a producer id before the batch gets offsets,
 * as Kafka's ProducerStateManager does.
 *
 * Everything here is pure (memory only) except the snapshot file helpers
 * at the end. Changes made by brk_pid_check stay undoable until
 * brk_pid_commit, so the owner can forget the batches of an append that
 * failed: a retry of such a batch must be written, not answered as a
 * duplicate of data that never reached the log.
 *
 * Thread: a table belongs to its partition's owner shard. The snapshot
 * file helpers may run on any thread (the owner encodes, a worker writes). */
#ifndef STRATA_BRK_PID_H
#define STRATA_BRK_PID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/kp_msg.h"
#include "storage/batch.h"

/* Batches remembered per producer, as Kafka (a producer has at most five
 * requests in flight per partition, so a retry is one of those). */
#define BRK_PID_BATCHES 5
/* Kafka's default producer.id.expiration.ms (one day): the state of a
 * producer whose newest batch is older than this is dropped. */
#define BRK_PID_EXPIRE_MS (24 * 3600 * 1000LL)
/* The snapshot file in the partition directory. */
#define BRK_PID_SNAPSHOT_NAME "producer-state.snapshot"

typedef struct brk_pid_batch {
    int32_t first_seq, last_seq;
    int64_t first_offset, last_offset;
} brk_pid_batch_t;

typedef struct brk_pid_entry {
    struct brk_pid_entry *next; /* hash chain */
    int64_t producer_id;
    int64_t last_ts; /* maxTimestamp of the newest batch (for expiry) */
    int16_t epoch;
    uint8_t nbatches;                         /* 1..BRK_PID_BATCHES */
    brk_pid_batch_t batches[BRK_PID_BATCHES]; /* oldest first */
} brk_pid_entry_t;

typedef struct brk_pid_table {
    brk_pid_entry_t **buckets;
    size_t nbuckets, count;
    struct brk_pid_undo *undo; /* changes since the last commit */
    size_t nundo, cap_undo;
} brk_pid_table_t;

/* What the check needs of a batch: its v2 header fields, and the base
 * offset the broker is about to give it (or gave it, on replay). */
typedef struct brk_pid_in {
    int64_t producer_id;
    int16_t epoch;
    int16_t attributes;
    int32_t base_seq;
    int32_t last_delta; /* lastOffsetDelta */
    int64_t base_offset;
    int64_t max_ts;
} brk_pid_in_t;

/* From a validated batch header (at least LOG_BATCH_HEADER_SIZE bytes). */
void brk_pid_in_from_header(brk_pid_in_t *in, const uint8_t *batch,
                            int64_t base_offset);
/* From a header read back from the log. */
void brk_pid_in_from_info(brk_pid_in_t *in, const log_batch_info_t *info);

/* Kafka's sequence arithmetic: seq + delta, wrapping to 0 after
 * INT32_MAX. */
int32_t brk_pid_seq_add(int32_t seq, int32_t delta);

void brk_pid_init(brk_pid_table_t *t);
/* Frees every entry and the undo log. The table may be reused after
 * brk_pid_init. */
void brk_pid_fini(brk_pid_table_t *t);

typedef struct brk_pid_verdict {
    kp_err_t err;         /* KP_ERR_NONE: write it, or answer the duplicate */
    bool duplicate;       /* written before (nothing recorded): see orig */
    brk_pid_batch_t orig; /* the original's offsets, when duplicate */
} brk_pid_verdict_t;

/* Checks one batch at offset-assignment time and, when it is to be
 * written, records it (undoable until commit). Kafka's rules:
 *
 * - transactional batch: TRANSACTIONAL_ID_AUTHORIZATION_FAILED (Strata has
 *   no transaction coordinator; this is what Kafka answers a producer that
 *   may not use transactions, and clients treat it as final, not as
 *   something to retry); a control batch: CORRUPT_MESSAGE (clients may not
 *   write transaction markers);
 * - producer id < 0: not idempotent, accepted, nothing recorded (t may
 *   then be NULL);
 * - base sequence < 0 with a producer id: CORRUPT_MESSAGE (Kafka's
 *   InvalidRecordException);
 * - unknown producer: sequence 0 starts it, anything else is
 *   UNKNOWN_PRODUCER_ID;
 * - epoch below the known one: INVALID_PRODUCER_EPOCH;
 * - epoch above the known one: must start at sequence 0 (the cached
 *   batches are dropped), else OUT_OF_ORDER_SEQUENCE_NUMBER;
 * - same epoch, (first, last) sequence equal to a cached batch's: a
 *   duplicate, answered with that batch's offsets and not written;
 * - same epoch, first sequence = last sequence + 1 (0 after INT32_MAX):
 *   accepted; anything else OUT_OF_ORDER_SEQUENCE_NUMBER.
 *
 * Returns UNKNOWN_SERVER_ERROR only when memory runs out. */
brk_pid_verdict_t brk_pid_check(brk_pid_table_t *t, const brk_pid_in_t *in);

/* Undo: a mark is the number of changes since the last commit;
 * rollback(mark) undoes the later ones (rollback(t, 0): everything since
 * the last commit). Commit makes every change final. */
size_t brk_pid_mark(const brk_pid_table_t *t);
void brk_pid_rollback(brk_pid_table_t *t, size_t mark);
void brk_pid_commit(brk_pid_table_t *t);

/* Records a batch read back from the log, without checks or undo (the
 * state is being rebuilt). Batches without a producer id, transactional
 * and control batches are ignored; a batch of an older epoch than known
 * too. Returns 0 or -ENOMEM. */
int brk_pid_replay(brk_pid_table_t *t, const brk_pid_in_t *in);

/* The producer's state (borrowed, valid until the next change), or NULL. */
const brk_pid_entry_t *brk_pid_find(const brk_pid_table_t *t,
                                    int64_t producer_id);
size_t brk_pid_count(const brk_pid_table_t *t);

/* Drops producers whose newest batch's maxTimestamp is max_age_ms or more
 * before now_ms (Kafka's expiry). Only without uncommitted changes
 * (asserted). Returns how many were dropped. */
size_t brk_pid_expire(brk_pid_table_t *t, int64_t now_ms, int64_t max_age_ms);

/* ---- snapshot ----
 *
 * <partition dir>/producer-state.snapshot: the committed state as of an
 * offset (every batch below it is accounted for, none at or above it).
 * All integers big-endian:
 *
 *   off size field
 *     0   4  magic 0x53545053 ("STPS")
 *     4   2  version (1)
 *     6   2  reserved, 0
 *     8   8  offset: the log end offset the state is valid for
 *    16   4  producer count N
 *    20      N producer entries, in no particular order, each
 *              0   8  producer id (>= 0, each at most once)
 *              8   2  epoch
 *             10   1  batch count k (1..5)
 *             11   1  reserved, 0
 *             12   8  last timestamp (maxTimestamp of the newest batch)
 *             20 24k  k batches, oldest first, each
 *                       0  4  first sequence
 *                       4  4  last sequence
 *                       8  8  first offset
 *                      16  8  last offset (< the snapshot's offset)
 *   end-4   4  CRC-32C of every byte before it
 *
 * A file that is short, long, or fails any of these checks is ignored as
 * a whole (the state is then rebuilt from the log). */

/* Encodes the table's committed state (no uncommitted changes: asserted)
 * as of `offset`. Returns 0 and *out (caller frees with mem_free) and
 * *len, or -ENOMEM. */
int brk_pid_snapshot_encode(const brk_pid_table_t *t, int64_t offset,
                            uint8_t **out, size_t *len);
/* Decodes into t, which must be empty. Returns 0 and *offset, -EINVAL for
 * a damaged file (t left empty), or -ENOMEM. */
int brk_pid_snapshot_decode(brk_pid_table_t *t, const uint8_t *buf, size_t len,
                            int64_t *offset);

/* File helpers (any thread; dir is the partition directory). */

/* Writes <dir>/producer-state.snapshot.tmp, fdatasyncs it, renames it over
 * the snapshot and fsyncs dir. Returns 0 or -errno. */
int brk_pid_snapshot_write(const char *dir, const uint8_t *buf, size_t len);
/* Reads the whole file (caller frees *out). Returns 0, -ENOENT, -EINVAL
 * (implausibly large), -ENOMEM or -errno. */
int brk_pid_snapshot_read(const char *dir, uint8_t **out, size_t *len);
/* Reads only the offset field of the header. Returns 0, -ENOENT, -EINVAL
 * (not a snapshot of this format) or -errno. */
int brk_pid_snapshot_peek_offset(const char *dir, int64_t *offset);
/* Removes the snapshot and fsyncs dir. Returns 0 (also when missing) or
 * -errno. */
int brk_pid_snapshot_remove(const char *dir);

#endif
