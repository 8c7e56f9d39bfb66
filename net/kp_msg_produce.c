/* Produce (key 0), versions 0-7.
 *
 * v0-2 are kept although Kafka deprecates them: librdkafka (2.0.x at least)
 * only compresses when the broker's Produce range starts at v0, so a broker
 * advertising 3+ would receive every "gzip" batch uncompressed. v0-2 have no
 * TransactionalId and carry legacy message sets (magic 0 or 1) instead of
 * record batches (magic 2, v3+); the response gains ThrottleTimeMs at v1,
 * LogAppendTimeMs at v2 and LogStartOffset at v5.
 *
 * The records of each partition are decoded as a view into the request
 * buffer, never copied: the broker checks the batches in place and appends
 * them from there. Their content, whatever its magic, is the storage
 * layer's business (including up-converting message sets); here they are
 * opaque nullable bytes. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 0
#define MAX_V 7

int kp_ProduceRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                             kp_ProduceRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Produce, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + KP__BYTES_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    out->TransactionalId = (kp_str_t){NULL, -1};
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    if (version >= 3)
        out->TransactionalId = kp_rd_nstr(rd, flex);
    out->Acks = kp_rd_i16(rd);
    out->TimeoutMs = kp_rd_i32(rd);
    out->n_TopicData = kp_rd_array(rd, flex, false, tmin);
    out->TopicData =
        kp__alloc(rd, pool, out->n_TopicData, sizeof(*out->TopicData));
    for (i = 0; i < out->n_TopicData && !rd->err; i++) {
        kp_ProduceTopic_t *t = &out->TopicData[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_PartitionData = kp_rd_array(rd, flex, false, pmin);
        t->PartitionData =
            kp__alloc(rd, pool, t->n_PartitionData, sizeof(*t->PartitionData));
        for (j = 0; j < t->n_PartitionData && !rd->err; j++) {
            kp_ProducePartition_t *p = &t->PartitionData[j];
            p->Index = kp_rd_i32(rd);
            p->Records = kp__rd_records(rd, flex);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ProduceRequest_encode(kp_wr_t *w, int version,
                              const kp_ProduceRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Produce, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    if (version >= 3)
        kp_wr_kstr(w, flex, m->TransactionalId);
    kp_wr_i16(w, m->Acks);
    kp_wr_i32(w, m->TimeoutMs);
    kp_wr_array(w, flex, m->n_TopicData);
    for (i = 0; i < m->n_TopicData; i++) {
        const kp_ProduceTopic_t *t = &m->TopicData[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_PartitionData);
        for (j = 0; j < t->n_PartitionData; j++) {
            kp_wr_i32(w, t->PartitionData[j].Index);
            kp__wr_records(w, flex, &t->PartitionData[j].Records);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_ProduceResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                              kp_ProduceResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Produce, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 2 + 8 + (version >= 2 ? 8 : 0) + (version >= 5 ? 8 : 0) +
                  KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->n_Responses = kp_rd_array(rd, flex, false, tmin);
    out->Responses =
        kp__alloc(rd, pool, out->n_Responses, sizeof(*out->Responses));
    for (i = 0; i < out->n_Responses && !rd->err; i++) {
        kp_ProduceTopicResponse_t *t = &out->Responses[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_PartitionResponses = kp_rd_array(rd, flex, false, pmin);
        t->PartitionResponses = kp__alloc(rd, pool, t->n_PartitionResponses,
                                          sizeof(*t->PartitionResponses));
        for (j = 0; j < t->n_PartitionResponses && !rd->err; j++) {
            kp_ProducePartitionResponse_t *p = &t->PartitionResponses[j];
            p->Index = kp_rd_i32(rd);
            p->ErrorCode = kp_rd_i16(rd);
            p->BaseOffset = kp_rd_i64(rd);
            p->LogAppendTimeMs = version >= 2 ? kp_rd_i64(rd) : -1;
            p->LogStartOffset = version >= 5 ? kp_rd_i64(rd) : -1;
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ProduceResponse_encode(kp_wr_t *w, int version,
                               const kp_ProduceResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Produce, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_array(w, flex, m->n_Responses);
    for (i = 0; i < m->n_Responses; i++) {
        const kp_ProduceTopicResponse_t *t = &m->Responses[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_PartitionResponses);
        for (j = 0; j < t->n_PartitionResponses; j++) {
            const kp_ProducePartitionResponse_t *p = &t->PartitionResponses[j];
            kp_wr_i32(w, p->Index);
            kp_wr_i16(w, p->ErrorCode);
            kp_wr_i64(w, p->BaseOffset);
            if (version >= 2)
                kp_wr_i64(w, p->LogAppendTimeMs);
            if (version >= 5)
                kp_wr_i64(w, p->LogStartOffset);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_tags_empty(w, flex);
}
