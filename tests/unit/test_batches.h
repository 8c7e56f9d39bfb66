/* Record batches for the storage unit tests (header-only, test code
 * only): valid v2 batches of `records` records of vsize bytes each, every
 * record at time ts, as maxTimestamp says. */
#ifndef STRATA_TEST_BATCHES_H
#define STRATA_TEST_BATCHES_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "tests/unit/test_util.h"

static inline size_t batch_bound(int records, size_t vsize)
{
    return LOG_BATCH_HEADER_SIZE + (size_t)records * (vsize + 32);
}

static inline size_t build_batch(uint8_t *out, int records, size_t vsize,
                                 int64_t ts)
{
    uint8_t *p = out + LOG_BATCH_HEADER_SIZE;
    size_t total;
    int i;

    for (i = 0; i < records; i++) {
        uint8_t hdr[32];
        size_t n = 0, len;
        hdr[n++] = 0;
        /* every record at the batch's time, as maxTimestamp says:
         * ListOffsets looks at record timestamps */
        n += test_put_varlong(hdr + n, 0);
        n += test_put_varlong(hdr + n, i);
        n += test_put_varlong(hdr + n, -1);
        n += test_put_varlong(hdr + n, (int64_t)vsize);
        len = n + vsize + 1;
        p += test_put_varlong(p, (int64_t)len);
        memcpy(p, hdr, n);
        p += n;
        memset(p, 'a' + (int)((ts + i) % 26), vsize);
        p += vsize;
        *p++ = 0; /* no headers */
    }
    total = (size_t)(p - out);
    memset(out, 0, LOG_BATCH_HEADER_SIZE);
    st_put_be32(out + LOG_BATCH_OFF_LENGTH, (uint32_t)(total - 12));
    st_put_be32(out + LOG_BATCH_OFF_LEADER_EPOCH, 0xffffffffu);
    out[LOG_BATCH_OFF_MAGIC] = 2;
    st_put_be32(out + LOG_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(records - 1));
    st_put_be64(out + LOG_BATCH_OFF_BASE_TS, (uint64_t)ts);
    st_put_be64(out + LOG_BATCH_OFF_MAX_TS, (uint64_t)ts);
    st_put_be64(out + LOG_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    st_put_be16(out + LOG_BATCH_OFF_PRODUCER_EPOCH, 0xffff);
    st_put_be32(out + LOG_BATCH_OFF_BASE_SEQUENCE, 0xffffffffu);
    st_put_be32(out + LOG_BATCH_OFF_RECORDS, (uint32_t)records);
    st_put_be32(out + LOG_BATCH_OFF_CRC,
                simd_crc32c(0, out + LOG_BATCH_OFF_ATTRIBUTES,
                            total - LOG_BATCH_OFF_ATTRIBUTES));
    return total;
}

/* ---- the model: what the log must hold, batch by batch ---- */

typedef struct model {
    uint8_t *bytes; /* all batches as stored */
    size_t len, cap;
    size_t n, ncap;
    int64_t *base, *last, *ts;
    size_t *pos, *size;
    int64_t next;
} model_t;

/* One model per test executable (the tests run one at a time). */
static model_t M;

static inline void model_reset(void)
{
    free(M.bytes);
    free(M.base);
    free(M.last);
    free(M.ts);
    free(M.pos);
    free(M.size);
    memset(&M, 0, sizeof(M));
}

static inline void model_add(const uint8_t *b, size_t size)
{
    if (M.len + size > M.cap) {
        M.cap = (M.len + size) * 2;
        M.bytes = realloc(M.bytes, M.cap);
    }
    if (M.n == M.ncap) {
        M.ncap = M.ncap ? M.ncap * 2 : 256;
        M.base = realloc(M.base, M.ncap * sizeof(int64_t));
        M.last = realloc(M.last, M.ncap * sizeof(int64_t));
        M.ts = realloc(M.ts, M.ncap * sizeof(int64_t));
        M.pos = realloc(M.pos, M.ncap * sizeof(size_t));
        M.size = realloc(M.size, M.ncap * sizeof(size_t));
    }
    memcpy(M.bytes + M.len, b, size);
    M.base[M.n] = log_batch_base_offset(b);
    M.last[M.n] = M.base[M.n] + log_batch_last_offset_delta(b);
    M.ts[M.n] = log_batch_max_ts(b);
    M.pos[M.n] = M.len;
    M.size[M.n] = size;
    M.n++;
    M.len += size;
    M.next = M.base[M.n - 1] + log_batch_last_offset_delta(b) + 1;
}

static inline size_t model_find(int64_t offset)
{
    size_t lo = 0, hi = M.n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (M.last[mid] < offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static inline int recs_var(int i)
{
    return 1 + i % 5;
}

static inline size_t vsize_var(int i)
{
    return (size_t)(i * 37 % 300);
}

#endif
