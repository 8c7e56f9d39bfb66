/* Up-conversion of legacy message sets (magic 0 and 1) to one v2 batch.
 *
 * Strata stores only v2 record batches. Produce v0-v2 carry the message
 * format of Kafka before 0.11 (librdkafka still sends it when it picks
 * Produce v2 or lower, e.g. to compress with gzip/snappy for old brokers),
 * so, as Kafka does, the broker converts such a blob once on produce and
 * from then on the log sees only v2.
 *
 * Legacy layout (all integers big-endian):
 *
 *   MessageSet := (offset i64 | message_size i32 | message)*   no count
 *   message v0 := crc u32 | magic i8 = 0 | attributes i8 | key | value
 *   message v1 := crc u32 | magic i8 = 1 | attributes i8 | timestamp i64 |
 *                 key | value
 *   key, value := length i32 (-1 = null) | bytes
 *
 *   crc         CRC-32 (IEEE, zlib's crc32) of magic .. end of message
 *   attributes  bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4);
 *               bit 3 (v1 only) timestamp type, 1 = LogAppendTime
 *
 * A compressed message ("wrapper") carries in its value a whole inner
 * message set compressed with its codec; the inner messages have the
 * wrapper's magic and are never compressed themselves.
 *
 * Thread: pure, callable from any thread. */
#ifndef STRATA_STORAGE_LEGACY_H
#define STRATA_STORAGE_LEGACY_H

#include <stddef.h>
#include <stdint.h>

#include "storage/batch.h" /* LOG_EBATCH_* */

/* The magic byte of the first message or batch of a records blob: byte 16
 * in every format (offset, size, crc for legacy messages; baseOffset,
 * batchLength, partitionLeaderEpoch for v2), as 0..255. Returns -1 when
 * the blob is shorter than 17 bytes. Looks at nothing else: the blob is
 * validated by log_batches_validate() or log_legacy_upconvert(). */
int log_records_magic(const uint8_t *buf, size_t len);

/* Converts the legacy message set at in (len bytes, magic 0 and/or 1
 * messages, possibly compressed wrappers one level deep) into ONE
 * uncompressed v2 batch: baseOffset 0 (the log assigns offsets),
 * partitionLeaderEpoch, producerId, producerEpoch and baseSequence -1,
 * records with offsetDelta 0..n-1 in message order, keys and values byte
 * for byte (null stays null), no headers, CRC-32C set.
 *
 * Timestamps: a magic 1 message with CreateTime keeps its timestamp. A
 * message that lacks one — magic 0, LogAppendTime in its own or its
 * wrapper's attributes, or a negative one such as -1 (NO_TIMESTAMP) — gets
 * now_ms (>= 0), and then the whole batch is marked LogAppendTime with
 * maxTimestamp now_ms (so readers see now_ms for every record). Otherwise
 * the batch is CreateTime with maxTimestamp the largest timestamp.
 *
 * The whole blob must be well formed: every message complete (a partial
 * trailing message is refused, as suits produce input), its CRC right, its
 * magic 0 or 1, key and value lengths exactly filling the message, codec
 * 0-3, inner messages of a wrapper with the wrapper's magic and
 * uncompressed, no empty (inner) message set. lz4 with magic 0 is
 * accepted with the broken frame-header checksum Kafka 0.8-0.9 and
 * librdkafka wrote then (KAFKA-3160): like Kafka, that checksum is not
 * checked for magic 0; for magic 1 the frame must be standard.
 *
 * Returns 0 and sets *out (mem_alloc'd, the caller mem_free()s it),
 * *out_len and *records; or LOG_EBATCH_CRC for a CRC mismatch,
 * LOG_EBATCH_CORRUPT for anything else malformed (also a magic other than
 * 0/1, undecodable compressed data, unknown codec — never -EPROTO),
 * -EFBIG when the decompressed content or the output batch would exceed
 * LOG_RECORDS_MAX_INFLATED (64 MiB), -ENOMEM. Nothing is allocated on
 * error. */
int log_legacy_upconvert(const uint8_t *in, size_t len, int64_t now_ms,
                         uint8_t **out, size_t *out_len, int32_t *records);

#endif
