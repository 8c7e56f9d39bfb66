/* Metadata (key 3), versions 0-7: brokers, cluster id, controller, and the
 * partitions of the requested topics.
 *
 * "All topics" is spelled differently by version: v0 has no null arrays and
 * sends an empty array, v1+ sends a null array (and an empty array means no
 * topics). Decoding keeps what was sent (n_Topics 0 at v0, -1 at v1+);
 * encoding a null array at v0 writes the empty array, its v0 spelling. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 0
#define MAX_V 7

int kp_MetadataRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                              kp_MetadataRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Metadata, version);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->AllowAutoTopicCreation = true;
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->n_Topics = kp_rd_array(rd, flex, version >= 1,
                                KP__STR_MIN(flex) + KP__TAGS_MIN(flex));
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        out->Topics[i] = kp_rd_str(rd, flex);
        kp_rd_tags(rd, flex);
    }
    if (version >= 4)
        out->AllowAutoTopicCreation = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_MetadataRequest_encode(kp_wr_t *w, int version,
                               const kp_MetadataRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Metadata, version);
    int32_t i;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_array(w, flex, version == 0 && m->n_Topics < 0 ? 0 : m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        kp_wr_kstr(w, flex, m->Topics[i]);
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 4)
        kp_wr_bool(w, m->AllowAutoTopicCreation);
    kp_wr_tags_empty(w, flex);
}

static void rd_partition(kp_rd_t *rd, int version, bool flex, mem_pool_t *pool,
                         kp_MetadataPartition_t *p)
{
    p->ErrorCode = kp_rd_i16(rd);
    p->PartitionIndex = kp_rd_i32(rd);
    p->LeaderId = kp_rd_i32(rd);
    p->LeaderEpoch = version >= 7 ? kp_rd_i32(rd) : -1;
    kp__rd_i32s(rd, flex, false, pool, &p->n_ReplicaNodes, &p->ReplicaNodes);
    kp__rd_i32s(rd, flex, false, pool, &p->n_IsrNodes, &p->IsrNodes);
    if (version >= 5)
        kp__rd_i32s(rd, flex, false, pool, &p->n_OfflineReplicas,
                    &p->OfflineReplicas);
    kp_rd_tags(rd, flex);
}

static void rd_topic(kp_rd_t *rd, int version, bool flex, mem_pool_t *pool,
                     kp_MetadataTopic_t *t)
{
    size_t pmin = 2 + 4 + 4 + (version >= 7 ? 4 : 0) +
                  KP__ARR_MIN(flex) * (version >= 5 ? 3 : 2) +
                  KP__TAGS_MIN(flex);
    int32_t i;

    t->ErrorCode = kp_rd_i16(rd);
    t->Name = kp_rd_str(rd, flex);
    if (version >= 1)
        t->IsInternal = kp_rd_bool(rd);
    t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
    t->Partitions =
        kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
    for (i = 0; i < t->n_Partitions && !rd->err; i++)
        rd_partition(rd, version, flex, pool, &t->Partitions[i]);
    kp_rd_tags(rd, flex);
}

int kp_MetadataResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                               kp_MetadataResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Metadata, version);
    size_t bmin = 4 + KP__STR_MIN(flex) + 4 +
                  (version >= 1 ? KP__STR_MIN(flex) : 0) + KP__TAGS_MIN(flex);
    size_t tmin = 2 + KP__STR_MIN(flex) + (version >= 1 ? 1 : 0) +
                  KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->ClusterId = (kp_str_t){NULL, -1};
    out->ControllerId = -1;
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    if (version >= 3)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Brokers = kp_rd_array(rd, flex, false, bmin);
    out->Brokers = kp__alloc(rd, pool, out->n_Brokers, sizeof(*out->Brokers));
    for (i = 0; i < out->n_Brokers && !rd->err; i++) {
        kp_MetadataBroker_t *b = &out->Brokers[i];
        b->NodeId = kp_rd_i32(rd);
        b->Host = kp_rd_str(rd, flex);
        b->Port = kp_rd_i32(rd);
        b->Rack = version >= 1 ? kp_rd_nstr(rd, flex) : (kp_str_t){NULL, -1};
        kp_rd_tags(rd, flex);
    }
    if (version >= 2)
        out->ClusterId = kp_rd_nstr(rd, flex);
    if (version >= 1)
        out->ControllerId = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++)
        rd_topic(rd, version, flex, pool, &out->Topics[i]);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_MetadataResponse_encode(kp_wr_t *w, int version,
                                const kp_MetadataResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Metadata, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    if (version >= 3)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Brokers);
    for (i = 0; i < m->n_Brokers; i++) {
        const kp_MetadataBroker_t *b = &m->Brokers[i];
        kp_wr_i32(w, b->NodeId);
        kp_wr_kstr(w, flex, b->Host);
        kp_wr_i32(w, b->Port);
        if (version >= 1)
            kp_wr_kstr(w, flex, b->Rack);
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 2)
        kp_wr_kstr(w, flex, m->ClusterId);
    if (version >= 1)
        kp_wr_i32(w, m->ControllerId);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_MetadataTopic_t *t = &m->Topics[i];
        kp_wr_i16(w, t->ErrorCode);
        kp_wr_kstr(w, flex, t->Name);
        if (version >= 1)
            kp_wr_bool(w, t->IsInternal);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_MetadataPartition_t *p = &t->Partitions[j];
            kp_wr_i16(w, p->ErrorCode);
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i32(w, p->LeaderId);
            if (version >= 7)
                kp_wr_i32(w, p->LeaderEpoch);
            kp__wr_i32s(w, flex, p->n_ReplicaNodes, p->ReplicaNodes);
            kp__wr_i32s(w, flex, p->n_IsrNodes, p->IsrNodes);
            if (version >= 5)
                kp__wr_i32s(w, flex, p->n_OfflineReplicas, p->OfflineReplicas);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
