/* Micro-benchmark of the partition log: append throughput (assign offsets +
 * one log_append per simulated loop turn), catch-up reads (log_read slices
 * of 1 MiB copied out with pread), tail reads (the lookup cost alone) and fsync
 * through log_sync.
 *
 *   bench_storage [dir] [MiB to write] [batch bytes] [batches per append]
 *
 * dir defaults to a fresh directory under /tmp, removed at the end. The
 * numbers are page-cache numbers unless the data outgrows memory. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/st.h"
#include "simd/simd.h"
#include "storage/batch.h"
#include "storage/log.h"

/* One batch of `records` records of `vsize` bytes each (no keys). */
static size_t build_batch(uint8_t *out, int records, size_t vsize)
{
    uint8_t *p = out + LOG_BATCH_HEADER_SIZE;
    size_t total;
    int i;

    for (i = 0; i < records; i++) {
        uint8_t *start = p + 3; /* body; 3-byte varint length fits 64 KiB */
        uint8_t *q = start;
        uint64_t z;
        size_t n;
        *q++ = 0;
        *q++ = (uint8_t)(i << 1 & 0x7f); /* timestampDelta (small) */
        *q++ = (uint8_t)(i << 1 & 0x7f); /* offsetDelta (small) */
        *q++ = 1;                        /* key: null (zigzag -1) */
        z = (uint64_t)vsize << 1;
        while (z >= 0x80) {
            *q++ = (uint8_t)(z | 0x80);
            z >>= 7;
        }
        *q++ = (uint8_t)z;
        memset(q, 'x', vsize);
        q += vsize;
        *q++ = 0;
        n = (size_t)(q - start);
        z = (uint64_t)n << 1;
        p[0] = (uint8_t)(z | 0x80);
        p[1] = (uint8_t)((z >> 7) | 0x80);
        p[2] = (uint8_t)(z >> 14);
        p = q;
    }
    total = (size_t)(p - out);
    memset(out, 0, LOG_BATCH_HEADER_SIZE);
    st_put_be32(out + LOG_BATCH_OFF_LENGTH, (uint32_t)(total - 12));
    out[LOG_BATCH_OFF_MAGIC] = 2;
    st_put_be32(out + LOG_BATCH_OFF_LAST_OFFSET_DELTA, (uint32_t)(records - 1));
    st_put_be64(out + LOG_BATCH_OFF_BASE_TS, (uint64_t)st_wall_ms());
    st_put_be64(out + LOG_BATCH_OFF_MAX_TS, (uint64_t)st_wall_ms());
    st_put_be64(out + LOG_BATCH_OFF_PRODUCER_ID, UINT64_MAX);
    st_put_be32(out + LOG_BATCH_OFF_RECORDS, (uint32_t)records);
    st_put_be32(out + LOG_BATCH_OFF_CRC,
                simd_crc32c(0, out + LOG_BATCH_OFF_ATTRIBUTES,
                            total - LOG_BATCH_OFF_ATTRIBUTES));
    return total;
}

static double secs(uint64_t t0)
{
    return (double)(st_now_ns() - t0) / 1e9;
}

int main(int argc, char **argv)
{
    char tmpl[] = "/tmp/strata-bench-storage-XXXXXX", dir[4096];
    const char *root = argc > 1 && argv[1][0] ? argv[1] : NULL;
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    size_t bsize = argc > 3 ? strtoul(argv[3], NULL, 10) : 16384;
    int per_append = argc > 4 ? atoi(argv[4]) : 64;
    int records = (int)(bsize / 110), i, rc;
    size_t one, blob_len, total = 0, appends = 0, reads = 0;
    struct iovec *iov;
    log_config_t cfg;
    log_sync_t *s;
    uint8_t *blob, *rbuf;
    log_t *log;
    uint64_t t0;
    int64_t off;
    double t;

    printf("crc32c kernel: %s\n", simd_init());
    if (records < 1)
        records = 1;
    if (!root)
        root = mkdtemp(tmpl);
    snprintf(dir, sizeof(dir), "%s/bench-0", root);
    log_config_default(&cfg);
    rc = log_open(dir, &cfg, false, &log);
    if (rc < 0) {
        fprintf(stderr, "log_open: %s\n", strerror(-rc));
        return 1;
    }
    one = build_batch(malloc(bsize + 4096), records, 100); /* size probe */
    blob = malloc((one + 64) * (size_t)per_append);
    iov = calloc((size_t)per_append, sizeof(*iov));
    blob_len = 0;
    for (i = 0; i < per_append; i++) {
        size_t n = build_batch(blob + blob_len, records, 100);
        iov[i] = (struct iovec){blob + blob_len, n};
        blob_len += n;
    }
    printf("batch %zu bytes (%d records), %d batches per append, %zu MiB\n",
           one, records, per_append, mib);

    /* Appends: each turn validates nothing (the net layer does), assigns
     * offsets and writes; each batch in its own iovec as if from separate
     * requests. */
    t0 = st_now_ns();
    while (total < mib << 20) {
        log_assign_offsets(log, blob, blob_len);
        rc = log_append(log, iov, per_append);
        if (rc < 0) {
            fprintf(stderr, "log_append: %s\n", strerror(-rc));
            return 1;
        }
        total += blob_len;
        appends++;
    }
    t = secs(t0);
    printf("append:   %8.1f MiB/s  %8.0f appends/s  (%zu segments)\n",
           (double)total / t / 1048576, (double)appends / t,
           log_segment_count(log));

    t0 = st_now_ns();
    s = log_sync_prepare(log);
    if (s) {
        log_sync_run(s);
        log_sync_finish(log, s);
    }
    printf("fsync:    %8.1f ms for %zu MiB\n", secs(t0) * 1e3, mib);

    /* Validation cost (CRC of every batch), per byte. */
    t0 = st_now_ns();
    for (i = 0; i < 200; i++) {
        rc = log_batches_validate(blob, blob_len, NULL);
        if (rc < 0) {
            fprintf(stderr, "validate: %s\n", log_batch_strerror(rc));
            return 1;
        }
    }
    t = secs(t0);
    printf("validate: %8.1f MiB/s\n", 200.0 * (double)blob_len / t / 1048576);

    /* Catch-up: read everything in 1 MiB slices, copied out with pread
     * (a socket send costs about the same copy); the next offset comes
     * from the headers in the copy. */
    rbuf = malloc(4 << 20);
    t0 = st_now_ns();
    total = 0;
    for (off = log_start_offset(log); off < log_end_offset(log);) {
        log_slice_t sl;
        size_t p = 0;
        int64_t last = off - 1;
        if (log_read(log, off, 1 << 20, &sl) < 0 || sl.len == 0 ||
            sl.len > 4 << 20 ||
            pread(sl.fd, rbuf, sl.len, sl.pos) != (ssize_t)sl.len)
            break;
        while (p < sl.len) {
            last = log_batch_base_offset(rbuf + p) +
                   log_batch_last_offset_delta(rbuf + p);
            p += (size_t)log_batch_size(rbuf + p);
        }
        off = last + 1;
        total += sl.len;
        reads++;
        mem_unref(sl.ref);
    }
    t = secs(t0);
    printf("catch-up: %8.1f MiB/s  %8.0f reads/s\n",
           (double)total / t / 1048576, (double)reads / t);
    free(rbuf);

    /* Tail reads: lookup cost for offsets near the end. */
    t0 = st_now_ns();
    for (i = 0; i < 200000; i++) {
        log_slice_t sl;
        int64_t o = log_end_offset(log) - 1 - (i % 1000);
        if (log_read(log, o, 65536, &sl) == 0)
            mem_unref(sl.ref);
    }
    t = secs(t0);
    printf("tail:     %8.0f log_read/s\n", 200000 / t);
    if (root == tmpl) {
        log_destroy(log);
        rmdir(root);
    } else {
        log_close(log);
    }
    return 0;
}
