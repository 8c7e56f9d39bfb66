/* Committed offsets and group metadata as the group coordinator keeps them:
 * the records of the internal topic __consumer_offsets, and the in-memory
 * table of one group's committed offsets.
 *
 * Record formats are Apache Kafka's, so tools that read __consumer_offsets
 * (kafka-console-consumer with its offsets formatter, kcat) understand
 * Strata's. Every field is big-endian; strings are int16 length + bytes
 * (-1 = null), bytes are int32 length + bytes (-1 = null).
 *
 *   key, offset commit (version 0 or 1; written as 1):
 *     version i16 | group string | topic string | partition i32
 *   key, group metadata (version 2):
 *     version i16 | group string
 *
 *   value, offset commit (version 0..3; written as 3):
 *     version i16 | offset i64 | [v3: leader epoch i32] | metadata string |
 *     commit timestamp i64 | [v1 only: expire timestamp i64]
 *   value, group metadata (version 0..3; written as 3):
 *     version i16 | protocol type string | generation i32 |
 *     protocol string (nullable) | leader string (nullable) |
 *     [v2+: current state timestamp i64] | member count i32 |
 *     members: member id string | [v3: group instance id string, nullable] |
 *              client id string | client host string |
 *              [v1+: rebalance timeout i32] | session timeout i32 |
 *              subscription bytes | assignment bytes
 *
 * A record with a null value is a tombstone: the offset (or the group) was
 * deleted. Later records for the same key replace earlier ones.
 *
 * Decoders take the bytes of one record key or value, never read past len,
 * and return views into them (no copy). Unknown versions are -EPROTO, so a
 * loader skips what a newer Strata may write. Encoders append to a kp_wr_t.
 *
 * Threads: no shared state; an offset table belongs to its group's shard. */
#ifndef STRATA_BRK_OFFSETS_H
#define STRATA_BRK_OFFSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/brk_group.h"
#include "net/kp.h"
#include "net/kp_msg.h"

/* ---- keys ---- */

enum brk_okey_kind { BRK_OKEY_OFFSET = 1, BRK_OKEY_GROUP = 2 };

typedef struct brk_okey {
    enum brk_okey_kind kind;
    kp_str_t group;
    kp_str_t topic;    /* BRK_OKEY_OFFSET only */
    int32_t partition; /* BRK_OKEY_OFFSET only */
} brk_okey_t;

/* Returns 0, or -EPROTO (truncated, trailing bytes, null group or topic,
 * unknown key version). */
int brk_okey_decode(const uint8_t *p, size_t len, brk_okey_t *out);
/* Key version 1 / version 2. */
void brk_okey_offset_encode(kp_wr_t *w, kp_str_t group, kp_str_t topic,
                            int32_t partition);
void brk_okey_group_encode(kp_wr_t *w, kp_str_t group);

/* ---- offset commit values ---- */

typedef struct brk_ovalue {
    int64_t offset;
    int32_t leader_epoch; /* -1 none (versions before 3 decode as -1) */
    kp_str_t metadata;    /* nullable */
    int64_t commit_ts;    /* ms */
    int64_t expire_ts;    /* version 1 only; -1 otherwise */
} brk_ovalue_t;

int brk_ovalue_decode(const uint8_t *p, size_t len, brk_ovalue_t *out);
/* Version 3. A null metadata is written as "" (Kafka's schema has no null
 * there, and Kafka itself stores a commit without metadata as ""). */
void brk_ovalue_encode(kp_wr_t *w, const brk_ovalue_t *v);

/* ---- group metadata values ---- */

/* grp_image_t (broker/brk_group.h) is the decoded form. Members and their
 * strings are views into p; the members array comes from pool. Returns 0,
 * -EPROTO or -ENOMEM. */
int brk_gvalue_decode(const uint8_t *p, size_t len, mem_pool_t *pool,
                      grp_image_t *out);
void brk_gvalue_encode(kp_wr_t *w, const grp_image_t *img); /* version 3 */

/* ---- one group's committed offsets ---- */

typedef struct brk_ocommit {
    int64_t offset;
    int32_t leader_epoch;
    char *metadata;       /* owned, NUL-terminated; NULL = null metadata */
    int32_t metadata_len; /* -1 when metadata is NULL (as stored) */
    int64_t commit_ts;
    int64_t expire_ts; /* -1: none given (v1 records, OffsetCommit v2-4's
                          retention time) */
} brk_ocommit_t;

typedef struct brk_otable brk_otable_t;

/* An empty table; NULL when out of memory. */
brk_otable_t *brk_otable_new(void);
void brk_otable_free(brk_otable_t *t); /* NULL is ignored */

/* Sets (copying topic and metadata: c->metadata_len bytes, any bytes) the
 * offset of topic/partition, replacing what was there. topic must not be
 * null. Returns 0 or -ENOMEM (table unchanged). */
int brk_otable_put(brk_otable_t *t, kp_str_t topic, int32_t partition,
                   const brk_ocommit_t *c);
/* The entry, or NULL. Borrowed until the table next changes. */
const brk_ocommit_t *brk_otable_get(const brk_otable_t *t, kp_str_t topic,
                                    int32_t partition);
/* Removes it; returns whether it was there. */
bool brk_otable_del(brk_otable_t *t, kp_str_t topic, int32_t partition);
size_t brk_otable_count(const brk_otable_t *t);
/* Whether any partition of topic has an offset. */
bool brk_otable_has_topic(const brk_otable_t *t, kp_str_t topic);

/* Calls fn for every entry, ordered by topic name then partition, until
 * fn returns non-zero (returned). fn must not change the table; collect
 * first to delete. */
typedef int (*brk_otable_fn)(void *arg, kp_str_t topic, int32_t partition,
                             const brk_ocommit_t *c);
int brk_otable_each(const brk_otable_t *t, brk_otable_fn fn, void *arg);

/* Kafka's partition of __consumer_offsets for a group (its partitionFor):
 * Utils.abs(groupId.hashCode()) % nparts. The Java String.hashCode runs
 * over the UTF-16 code units of the id decoded from UTF-8 (for ASCII ids:
 * over its bytes; a malformed sequence counts as one U+FFFD). Utils.abs is
 * |h|, and 0 for INT32_MIN; it is not h & 0x7fffffff (Utils.toPositive),
 * which gives another partition for a negative hash. nparts > 0. */
int32_t brk_group_partition(const char *group_id, size_t len, int32_t nparts);

#endif
