/* InitProducerId (key 22), versions 0-1: how a producer obtains its
 * producer id and epoch before it produces idempotently (TransactionalId
 * null) or transactionally.
 *
 * v1 is v0 with different throttling behaviour only; the first flexible
 * version is 2 and the one adding ProducerId/ProducerEpoch to the request
 * (to resume after INVALID_PRODUCER_EPOCH) is 3, both outside this range,
 * so the layout is the same for every version here. Tagged-field sections
 * are read where a flexible version would carry them, as in every codec
 * file. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 0
#define MAX_V 1

int kp_InitProducerIdRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                    kp_InitProducerIdRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_InitProducerId, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->TransactionalId = (kp_str_t){NULL, -1};
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->TransactionalId = kp_rd_nstr(rd, flex);
    out->TransactionTimeoutMs = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_InitProducerIdRequest_encode(kp_wr_t *w, int version,
                                     const kp_InitProducerIdRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_InitProducerId, version);

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_kstr(w, flex, m->TransactionalId);
    kp_wr_i32(w, m->TransactionTimeoutMs);
    kp_wr_tags_empty(w, flex);
}

int kp_InitProducerIdResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_InitProducerIdResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_InitProducerId, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->ProducerId = -1;
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    out->ProducerId = kp_rd_i64(rd);
    out->ProducerEpoch = kp_rd_i16(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_InitProducerIdResponse_encode(kp_wr_t *w, int version,
                                      const kp_InitProducerIdResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_InitProducerId, version);

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_i64(w, m->ProducerId);
    kp_wr_i16(w, m->ProducerEpoch);
    kp_wr_tags_empty(w, flex);
}
