/* Building v2 record batches for strata-bench: records appended in place,
 * then the batch sealed (records section compressed with the chosen codec,
 * header filled in, CRC-32C computed) ready to be spliced into a Produce
 * request without another copy.
 *
 * The layout is the one storage/batch.h documents byte by byte. Batches are
 * what a plain (non-idempotent, non-transactional) producer sends:
 * baseOffset 0, partitionLeaderEpoch -1, producerId -1, producerEpoch -1,
 * baseSequence -1, CreateTime timestamps. Codecs follow Kafka: gzip (zlib,
 * gzip wrapper), snappy (raw block, as librdkafka sends), lz4 (frame format,
 * independent 64 KiB blocks, which Kafka's Java reader requires), zstd.
 *
 * The value of each benchmark record may start with a 12-byte stamp — the
 * 4 magic bytes "SB\x01\x00" then the intended send time in wall-clock ns,
 * big-endian — from which a consumer, in the same process or another,
 * computes end-to-end latency.
 *
 * Threading: a batch and a compressor belong to one thread. */
#ifndef STRATA_SB_BATCH_H
#define STRATA_SB_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum sb_codec {
    SB_CODEC_NONE = 0,
    SB_CODEC_GZIP = 1,
    SB_CODEC_SNAPPY = 2,
    SB_CODEC_LZ4 = 3,
    SB_CODEC_ZSTD = 4,
};

/* "none", "gzip", ...; the codec for a name, or -1. */
const char *sb_codec_name(int codec);
int sb_codec_parse(const char *name);

/* ---- compression ---- */

/* Reusable compression state (zlib stream, zstd context) for one thread. */
typedef struct sb_compressor {
    void *zlib; /* z_stream *, created on first gzip use */
    void *zstd; /* ZSTD_CCtx *, created on first zstd use */
} sb_compressor_t;

void sb_compressor_init(sb_compressor_t *c);
void sb_compressor_fini(sb_compressor_t *c);
/* Largest output sb_compress can produce for n input bytes. */
size_t sb_compress_bound(int codec, size_t n);
/* Compresses n bytes at in into out (cap bytes, at least
 * sb_compress_bound). Returns the compressed size (> 0), or -EINVAL for
 * SB_CODEC_NONE or an unknown codec, -EIO when the library fails. */
long sb_compress(sb_compressor_t *c, int codec, const uint8_t *in, size_t n,
                 uint8_t *out, size_t cap);

/* ---- batches ---- */

typedef struct sb_batch {
    uint8_t *buf; /* 61-byte header, then the uncompressed records */
    size_t cap;   /* bytes allocated at buf */
    size_t limit; /* target total batch size (first record always fits) */
    size_t len;   /* bytes used at buf, header included */
    int32_t n;    /* records */
    int64_t base_ts, max_ts; /* ms */
    uint8_t *zbuf;           /* sealed compressed batch, grown as needed */
    size_t zcap;
    const uint8_t *data; /* sealed batch: buf or zbuf */
    size_t data_len;
} sb_batch_t;

/* limit: the batch's intended total size (--batch-bytes). Returns 0 or
 * -ENOMEM. */
int sb_batch_init(sb_batch_t *b, size_t limit);
void sb_batch_fini(sb_batch_t *b);
void sb_batch_reset(sb_batch_t *b); /* empty, ready for records */

/* Encoded size of a record with a null or key_len-byte key and a
 * value_len-byte value, length prefix included (offset and timestamp
 * deltas taken at their largest plausible size, 5 and 10 bytes). */
size_t sb_record_size_max(int32_t key_len, int32_t value_len);

/* Appends a record (timestamp ts in ms, key NULL for null) and returns
 * where its value_len value bytes go, for the caller to fill; NULL when
 * the batch holds records already and this one would take it past its
 * limit (seal it and start another), or when memory runs out. */
uint8_t *sb_batch_add(sb_batch_t *b, int64_t ts, const void *key,
                      int32_t key_len, int32_t value_len);

/* Whether another record of this encoded size (sb_record_size_max) still
 * fits under the limit. */
bool sb_batch_has_room(const sb_batch_t *b, size_t rec_size);

/* Seals the batch: compresses the records with codec (c may be NULL for
 * SB_CODEC_NONE), writes the header and CRC. The sealed bytes are
 * b->data / b->data_len until the next reset. Returns 0, -EINVAL for an
 * empty batch or a bad codec, -ENOMEM, -EIO. */
int sb_batch_seal(sb_batch_t *b, int codec, sb_compressor_t *c);

/* ---- the value stamp ---- */

#define SB_STAMP_SIZE 12

static inline void sb_stamp_put(uint8_t *p, uint64_t wall_ns)
{
    p[0] = 'S';
    p[1] = 'B';
    p[2] = 1;
    p[3] = 0;
    for (int i = 0; i < 8; i++)
        p[4 + i] = (uint8_t)(wall_ns >> (56 - 8 * i));
}

/* True (and *wall_ns) when the value carries a stamp. */
static inline bool sb_stamp_get(const uint8_t *p, int32_t len,
                                uint64_t *wall_ns)
{
    uint64_t v = 0;

    if (len < SB_STAMP_SIZE || p[0] != 'S' || p[1] != 'B' || p[2] != 1 ||
        p[3] != 0)
        return false;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[4 + i];
    *wall_ns = v;
    return true;
}

#endif
