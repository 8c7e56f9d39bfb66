/* Decompression shared by the storage readers that look inside compressed
 * data: records.c (the records section of a v2 batch) and legacy.c (the
 * inner message set of a magic 0/1 wrapper message). Internal to storage/,
 * hence the double underscore.
 *
 * Thread: pure, callable from any thread. */
#ifndef STRATA_STORAGE_INFLATE_H
#define STRATA_STORAGE_INFLATE_H

#include <stddef.h>
#include <stdint.h>

/* Kafka codec ids, the same in every message format version. */
enum {
    LOG_CODEC_NONE = 0,
    LOG_CODEC_GZIP = 1,
    LOG_CODEC_SNAPPY = 2,
    LOG_CODEC_LZ4 = 3,
    LOG_CODEC_ZSTD = 4,
};

/* Inflates n bytes at in, compressed with codec (1 gzip or zlib, 2 snappy
 * raw or xerial-framed, 3 lz4 frame, 4 zstd), into a new buffer of at most
 * LOG_RECORDS_MAX_INFLATED bytes. On success returns 0, *out (mem_alloc'd,
 * the caller mem_free()s it; may be NULL when *out_len is 0) and *out_len.
 * Otherwise returns -EPROTO for malformed or truncated data, -ENOTSUP for
 * codec 0 or an unknown codec, -EFBIG past the cap, -ENOMEM; *out is then
 * NULL and nothing is left allocated. */
int log__inflate(int codec, const uint8_t *in, size_t n, uint8_t **out,
                 size_t *out_len);

#endif
