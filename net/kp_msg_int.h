/* Helpers shared by the per-API codec files (net/kp_msg_*.c); not part of
 * the codec's public contract.
 *
 * Minimum element sizes: array counts are checked against the bytes left
 * at the smallest encoding of one element, which depends on the encoding:
 * a classic string takes at least 2 bytes (int16 length), a compact one 1;
 * a classic array or bytes length 4, a compact one 1; a struct in a
 * flexible version at least 1 more byte for its tagged-fields count. */
#ifndef STRATA_KP_MSG_INT_H
#define STRATA_KP_MSG_INT_H

#include "net/kp_msg.h"

#define KP__STR_MIN(flex) ((size_t)((flex) ? 1 : 2))
#define KP__ARR_MIN(flex) ((size_t)((flex) ? 1 : 4))
#define KP__BYTES_MIN(flex) ((size_t)((flex) ? 1 : 4))
#define KP__TAGS_MIN(flex) ((size_t)((flex) ? 1 : 0))

/* Fails rd with KP_EINVAL and returns it unless min <= version <= max. */
int kp__version_ok(kp_rd_t *rd, int version, int min, int max);

/* n zeroed elements of `size` bytes from `pool`; NULL for n <= 0. On
 * failure (or pool NULL) fails rd with KP_ENOMEM and returns NULL. */
void *kp__alloc(kp_rd_t *rd, mem_pool_t *pool, int32_t n, size_t size);

/* []int32 / []int64 fields: *n is the count (-1 when null and nullable). */
void kp__rd_i32s(kp_rd_t *rd, bool flex, bool nullable, mem_pool_t *pool,
                 int32_t *n, int32_t **v);
void kp__wr_i32s(kp_wr_t *w, bool flex, int32_t n, const int32_t *v);
void kp__rd_i64s(kp_rd_t *rd, bool flex, bool nullable, mem_pool_t *pool,
                 int32_t *n, int64_t **v);
void kp__wr_i64s(kp_wr_t *w, bool flex, int32_t n, const int64_t *v);

/* Records field (nullable bytes). Decoded records are a view into the
 * reader's buffer (fd -1, no ref). Encoding: null for len < 0; memory with
 * a ref is spliced (the writer takes its own reference); memory without a
 * ref is copied; p == NULL with len > 0 is the file range (fd, off). */
kp_records_t kp__rd_records(kp_rd_t *rd, bool flex);
void kp__wr_records(kp_wr_t *w, bool flex, const kp_records_t *r);

#endif
