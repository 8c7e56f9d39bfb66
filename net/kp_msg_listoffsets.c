/* ListOffsets (key 2), versions 0-3: the offset for a timestamp, or the
 * earliest (-2) / latest (-1) offset of each partition.
 *
 * v0 is the old shape: a MaxNumOffsets per partition in the request and an
 * array of offsets in the response; v1+ answer one (Timestamp, Offset)
 * pair. v2 adds the isolation level and the throttle time; v3 is v2. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 0
#define MAX_V 3

int kp_ListOffsetsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                 kp_ListOffsetsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ListOffsets, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 8 + (version == 0 ? 4 : 0) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->ReplicaId = kp_rd_i32(rd);
    if (version >= 2)
        out->IsolationLevel = kp_rd_i8(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_ListOffsetsTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            kp_ListOffsetsPartition_t *p = &t->Partitions[j];
            p->PartitionIndex = kp_rd_i32(rd);
            p->Timestamp = kp_rd_i64(rd);
            p->MaxNumOffsets = version == 0 ? kp_rd_i32(rd) : 1;
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ListOffsetsRequest_encode(kp_wr_t *w, int version,
                                  const kp_ListOffsetsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ListOffsets, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_i32(w, m->ReplicaId);
    if (version >= 2)
        kp_wr_i8(w, m->IsolationLevel);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_ListOffsetsTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_ListOffsetsPartition_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i64(w, p->Timestamp);
            if (version == 0)
                kp_wr_i32(w, p->MaxNumOffsets);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_ListOffsetsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_ListOffsetsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ListOffsets, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin =
        4 + 2 + (version == 0 ? KP__ARR_MIN(flex) : 16) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    if (version >= 2)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_ListOffsetsTopicResponse_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            kp_ListOffsetsPartitionResponse_t *p = &t->Partitions[j];
            p->PartitionIndex = kp_rd_i32(rd);
            p->ErrorCode = kp_rd_i16(rd);
            p->Timestamp = -1;
            p->Offset = -1;
            if (version == 0) {
                kp__rd_i64s(rd, flex, false, pool, &p->n_OldStyleOffsets,
                            &p->OldStyleOffsets);
            } else {
                p->Timestamp = kp_rd_i64(rd);
                p->Offset = kp_rd_i64(rd);
            }
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ListOffsetsResponse_encode(kp_wr_t *w, int version,
                                   const kp_ListOffsetsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ListOffsets, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    if (version >= 2)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_ListOffsetsTopicResponse_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_ListOffsetsPartitionResponse_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i16(w, p->ErrorCode);
            if (version == 0) {
                kp__wr_i64s(w, flex, p->n_OldStyleOffsets, p->OldStyleOffsets);
            } else {
                kp_wr_i64(w, p->Timestamp);
                kp_wr_i64(w, p->Offset);
            }
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
