/* Pieces every per-API codec uses: version checks, pool allocation that
 * reports failure through the reader, integer arrays, and the records
 * field, which is where zero-copy happens (a Fetch response splices stored
 * batches, memory or file, instead of copying them). */
#include "net/kp_msg_int.h"

#include "alloc/st.h"

int kp__version_ok(kp_rd_t *rd, int version, int min, int max)
{
    if (version < min || version > max) {
        kp_rd_fail(rd, KP_EINVAL);
        return KP_EINVAL;
    }
    return 0;
}

void *kp__alloc(kp_rd_t *rd, mem_pool_t *pool, int32_t n, size_t size)
{
    void *p;

    if (n <= 0 || rd->err)
        return NULL;
    p = pool ? mem_pool_calloc(pool, (size_t)n, size) : NULL;
    if (!p)
        kp_rd_fail(rd, KP_ENOMEM);
    return p;
}

void kp__rd_i32s(kp_rd_t *rd, bool flex, bool nullable, mem_pool_t *pool,
                 int32_t *n, int32_t **v)
{
    int32_t i;

    *n = kp_rd_array(rd, flex, nullable, 4);
    *v = kp__alloc(rd, pool, *n, sizeof(**v));
    for (i = 0; i < *n && !rd->err; i++)
        (*v)[i] = kp_rd_i32(rd);
}

void kp__wr_i32s(kp_wr_t *w, bool flex, int32_t n, const int32_t *v)
{
    int32_t i;

    kp_wr_array(w, flex, n);
    for (i = 0; i < n; i++)
        kp_wr_i32(w, v[i]);
}

void kp__rd_i64s(kp_rd_t *rd, bool flex, bool nullable, mem_pool_t *pool,
                 int32_t *n, int64_t **v)
{
    int32_t i;

    *n = kp_rd_array(rd, flex, nullable, 8);
    *v = kp__alloc(rd, pool, *n, sizeof(**v));
    for (i = 0; i < *n && !rd->err; i++)
        (*v)[i] = kp_rd_i64(rd);
}

void kp__wr_i64s(kp_wr_t *w, bool flex, int32_t n, const int64_t *v)
{
    int32_t i;

    kp_wr_array(w, flex, n);
    for (i = 0; i < n; i++)
        kp_wr_i64(w, v[i]);
}

kp_records_t kp__rd_records(kp_rd_t *rd, bool flex)
{
    kp_bytes_t b = kp_rd_nbytes(rd, flex);
    return (kp_records_t){b.p, b.len, -1, 0, NULL};
}

void kp__wr_records(kp_wr_t *w, bool flex, const kp_records_t *r)
{
    if (r->len < 0) {
        kp_wr_bytes_hdr(w, flex, -1);
    } else if (r->len == 0) {
        kp_wr_bytes_hdr(w, flex, 0);
    } else if (r->p && !r->ref) {
        kp_wr_bytes(w, flex, r->p, r->len);
    } else if (r->p) {
        kp_wr_bytes_hdr(w, flex, r->len);
        kp_wr_ext_mem(w, r->p, (size_t)r->len, r->ref);
    } else {
        kp_wr_bytes_hdr(w, flex, r->len);
        kp_wr_ext_file(w, r->fd, r->off, (size_t)r->len, r->ref);
    }
}
