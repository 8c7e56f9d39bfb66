/* Record-batch building and compression for strata-bench (sb_batch.h).
 *
 * Records are encoded straight into the batch buffer behind a reserved
 * 61-byte header, and the caller writes each value in place, so producing a
 * record costs one copy of its payload. Sealing an uncompressed batch only
 * fills the header and runs the CRC; a compressed one is compressed into a
 * second buffer that already has room for the header in front, so neither
 * path copies the records again. Both buffers are kept across resets:
 * touching fresh memory is slow on the machines this runs on. */
#include "bench/sb_batch.h"

#include <errno.h>
#include <lz4frame.h>
#include <snappy-c.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "alloc/mem.h"
#include "alloc/st.h"
#include "simd/simd.h"

#define HDR 61

static const char *const codec_names[] = {"none", "gzip", "snappy", "lz4",
                                          "zstd"};

const char *sb_codec_name(int codec)
{
    if (codec < 0 || codec >= (int)ST_ARRAY_LEN(codec_names))
        return "?";
    return codec_names[codec];
}

int sb_codec_parse(const char *name)
{
    for (int i = 0; i < (int)ST_ARRAY_LEN(codec_names); i++)
        if (!strcmp(name, codec_names[i]))
            return i;
    return -1;
}

/* ---- compression ---- */

static const LZ4F_preferences_t lz4_prefs = {
    .frameInfo = {.blockSizeID = LZ4F_max64KB,
                  .blockMode = LZ4F_blockIndependent},
};

void sb_compressor_init(sb_compressor_t *c)
{
    c->zlib = NULL;
    c->zstd = NULL;
}

void sb_compressor_fini(sb_compressor_t *c)
{
    if (c->zlib) {
        deflateEnd(c->zlib);
        mem_free(c->zlib);
    }
    if (c->zstd)
        ZSTD_freeCCtx(c->zstd);
    sb_compressor_init(c);
}

size_t sb_compress_bound(int codec, size_t n)
{
    switch (codec) {
    case SB_CODEC_GZIP:
        /* zlib's conservative deflateBound, plus the gzip wrapper */
        return n + (n >> 3) + (n >> 6) + 5 + 18;
    case SB_CODEC_SNAPPY:
        return snappy_max_compressed_length(n);
    case SB_CODEC_LZ4:
        return LZ4F_compressFrameBound(n, &lz4_prefs);
    case SB_CODEC_ZSTD:
        return ZSTD_compressBound(n);
    default:
        return n;
    }
}

static long gzip_compress(sb_compressor_t *c, const uint8_t *in, size_t n,
                          uint8_t *out, size_t cap)
{
    z_stream *z = c->zlib;
    long rc;

    if (!z) {
        z = mem_calloc(1, sizeof(*z));
        if (!z)
            return -ENOMEM;
        /* windowBits 15 + 16: a gzip wrapper, as Kafka's GZIPInputStream
         * expects. */
        if (deflateInit2(z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            mem_free(z);
            return -EIO;
        }
        c->zlib = z;
    } else if (deflateReset(z) != Z_OK) {
        return -EIO;
    }
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)n;
    z->next_out = out;
    z->avail_out = (uInt)cap;
    rc = deflate(z, Z_FINISH) == Z_STREAM_END ? (long)z->total_out : -EIO;
    return rc;
}

long sb_compress(sb_compressor_t *c, int codec, const uint8_t *in, size_t n,
                 uint8_t *out, size_t cap)
{
    switch (codec) {
    case SB_CODEC_GZIP:
        return gzip_compress(c, in, n, out, cap);
    case SB_CODEC_SNAPPY: {
        size_t len = cap;
        if (snappy_compress((const char *)in, n, (char *)out, &len) !=
            SNAPPY_OK)
            return -EIO;
        return (long)len;
    }
    case SB_CODEC_LZ4: {
        size_t r = LZ4F_compressFrame(out, cap, in, n, &lz4_prefs);
        return LZ4F_isError(r) ? -EIO : (long)r;
    }
    case SB_CODEC_ZSTD: {
        size_t r;
        if (!c->zstd && !(c->zstd = ZSTD_createCCtx()))
            return -ENOMEM;
        r = ZSTD_compressCCtx(c->zstd, out, cap, in, n, 3);
        return ZSTD_isError(r) ? -EIO : (long)r;
    }
    default:
        return -EINVAL;
    }
}

/* ---- varints ---- */

static inline size_t put_uvarint(uint8_t *p, uint64_t z)
{
    size_t n = 0;

    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    return n;
}

static inline size_t put_varlong(uint8_t *p, int64_t v)
{
    return put_uvarint(p, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static inline size_t varlong_size(int64_t v)
{
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;

    while (z >= 0x80) {
        z >>= 7;
        n++;
    }
    return n;
}

/* ---- batches ---- */

int sb_batch_init(sb_batch_t *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit < HDR + 16 ? HDR + 16 : limit;
    b->cap = b->limit;
    b->buf = mem_alloc(b->cap);
    if (!b->buf)
        return -ENOMEM;
    sb_batch_reset(b);
    return 0;
}

void sb_batch_fini(sb_batch_t *b)
{
    mem_free(b->buf);
    mem_free(b->zbuf);
    memset(b, 0, sizeof(*b));
}

void sb_batch_reset(sb_batch_t *b)
{
    b->len = HDR;
    b->n = 0;
    b->base_ts = b->max_ts = 0;
    b->data = NULL;
    b->data_len = 0;
}

size_t sb_record_size_max(int32_t key_len, int32_t value_len)
{
    size_t body = 1 + 10 + 5 +
                  (size_t)varlong_size(key_len < 0 ? -1 : key_len) +
                  (size_t)(key_len > 0 ? key_len : 0) +
                  (size_t)varlong_size(value_len) + (size_t)value_len + 1;
    return body + varlong_size((int64_t)body);
}

bool sb_batch_has_room(const sb_batch_t *b, size_t rec_size)
{
    return b->n == 0 || b->len + rec_size <= b->limit;
}

uint8_t *sb_batch_add(sb_batch_t *b, int64_t ts, const void *key,
                      int32_t key_len, int32_t value_len)
{
    int64_t ts_delta;
    size_t body, total;
    uint8_t *p, *v;

    if (!key)
        key_len = -1;
    if (b->n == 0)
        b->base_ts = b->max_ts = ts;
    ts_delta = ts - b->base_ts;
    body = 1 + varlong_size(ts_delta) + varlong_size(b->n) +
           varlong_size(key_len) + (size_t)(key_len > 0 ? key_len : 0) +
           varlong_size(value_len) + (size_t)value_len + 1;
    total = body + varlong_size((int64_t)body);
    if (b->n > 0 && b->len + total > b->limit)
        return NULL;
    if (b->len + total > b->cap) { /* a first record larger than limit */
        uint8_t *nb = mem_realloc(b->buf, b->len + total);
        if (!nb)
            return NULL;
        b->buf = nb;
        b->cap = b->len + total;
    }
    p = b->buf + b->len;
    p += put_varlong(p, (int64_t)body);
    *p++ = 0; /* attributes */
    p += put_varlong(p, ts_delta);
    p += put_varlong(p, b->n);
    p += put_varlong(p, key_len);
    if (key_len > 0) {
        memcpy(p, key, (size_t)key_len);
        p += key_len;
    }
    p += put_varlong(p, value_len);
    v = p;
    p += value_len;
    *p++ = 0; /* no headers */
    b->len = (size_t)(p - b->buf);
    b->n++;
    if (ts > b->max_ts)
        b->max_ts = ts;
    return v;
}

static void write_header(uint8_t *h, size_t total, int codec,
                         const sb_batch_t *b)
{
    st_put_be64(h + 0, 0);                      /* baseOffset */
    st_put_be32(h + 8, (uint32_t)(total - 12)); /* batchLength */
    st_put_be32(h + 12, UINT32_MAX);            /* partitionLeaderEpoch -1 */
    h[16] = 2;                                  /* magic */
    st_put_be16(h + 21, (uint16_t)codec);       /* attributes */
    st_put_be32(h + 23, (uint32_t)(b->n - 1));  /* lastOffsetDelta */
    st_put_be64(h + 27, (uint64_t)b->base_ts);
    st_put_be64(h + 35, (uint64_t)b->max_ts);
    st_put_be64(h + 43, UINT64_MAX); /* producerId -1 */
    st_put_be16(h + 51, UINT16_MAX); /* producerEpoch -1 */
    st_put_be32(h + 53, UINT32_MAX); /* baseSequence -1 */
    st_put_be32(h + 57, (uint32_t)b->n);
    st_put_be32(h + 17, simd_crc32c(0, h + 21, total - 21));
}

int sb_batch_seal(sb_batch_t *b, int codec, sb_compressor_t *c)
{
    size_t raw = b->len - HDR, need;
    long z;

    if (b->n == 0 || codec < SB_CODEC_NONE || codec > SB_CODEC_ZSTD)
        return -EINVAL;
    if (codec == SB_CODEC_NONE) {
        write_header(b->buf, b->len, codec, b);
        b->data = b->buf;
        b->data_len = b->len;
        return 0;
    }
    need = HDR + sb_compress_bound(codec, raw);
    if (need > b->zcap) {
        uint8_t *nz = mem_realloc(b->zbuf, need);
        if (!nz)
            return -ENOMEM;
        b->zbuf = nz;
        b->zcap = need;
    }
    z = sb_compress(c, codec, b->buf + HDR, raw, b->zbuf + HDR, b->zcap - HDR);
    if (z < 0)
        return (int)z;
    write_header(b->zbuf, HDR + (size_t)z, codec, b);
    b->data = b->zbuf;
    b->data_len = HDR + (size_t)z;
    return 0;
}
