/* Committed consumer offsets: OffsetCommit (key 8) v0-7, OffsetFetch (9)
 * v0-5 and OffsetDelete (47) v0.
 *
 * OffsetCommit is the call whose layout moves most across these versions,
 * so the version tests sit next to each field: v1 adds the generation and
 * member id and a per-partition CommitTimestamp that v2 drops again for a
 * request-wide RetentionTimeMs, which v5 drops in turn (retention is the
 * broker's offsets.retention.minutes since); v6 adds each partition's
 * CommittedLeaderEpoch and v7 the GroupInstanceId; the response gains the
 * throttle time at v3. OffsetFetch v2 lets Topics be null, meaning every
 * offset the group has committed, and adds a top-level error code after
 * the topics; v3 adds the throttle time, v5 the leader epoch of each
 * committed offset. OffsetDelete has a single, never flexible version.
 * None of the versions here is flexible (OffsetCommit is from v8,
 * OffsetFetch from v6); tagged-field sections are read where a flexible
 * version would carry them, as in every codec file. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define OC_MIN_V 0
#define OC_MAX_V 7
#define OF_MIN_V 0
#define OF_MAX_V 5
#define OD_MIN_V 0
#define OD_MAX_V 0

/* ---- OffsetCommit ---- */

static void rd_commit_topic(kp_rd_t *rd, int version, bool flex,
                            mem_pool_t *pool, kp_OffsetCommitRequestTopic_t *t)
{
    size_t pmin = 4 + 8 + (version >= 6 ? 4 : 0) + (version == 1 ? 8 : 0) +
                  KP__STR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t j;

    t->Name = kp_rd_str(rd, flex);
    t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
    t->Partitions =
        kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
    for (j = 0; j < t->n_Partitions && !rd->err; j++) {
        kp_OffsetCommitRequestPartition_t *p = &t->Partitions[j];
        p->PartitionIndex = kp_rd_i32(rd);
        p->CommittedOffset = kp_rd_i64(rd);
        p->CommittedLeaderEpoch = version >= 6 ? kp_rd_i32(rd) : -1;
        p->CommitTimestamp = version == 1 ? kp_rd_i64(rd) : -1;
        p->CommittedMetadata = kp_rd_nstr(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
}

int kp_OffsetCommitRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_OffsetCommitRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_OffsetCommit, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->GenerationIdOrMemberEpoch = -1;
    out->MemberId = (kp_str_t){"", 0};
    out->GroupInstanceId = (kp_str_t){NULL, -1};
    out->RetentionTimeMs = -1;
    if (kp__version_ok(rd, version, OC_MIN_V, OC_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    if (version >= 1) {
        out->GenerationIdOrMemberEpoch = kp_rd_i32(rd);
        out->MemberId = kp_rd_str(rd, flex);
    }
    if (version >= 7)
        out->GroupInstanceId = kp_rd_nstr(rd, flex);
    if (version >= 2 && version <= 4)
        out->RetentionTimeMs = kp_rd_i64(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++)
        rd_commit_topic(rd, version, flex, pool, &out->Topics[i]);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_OffsetCommitRequest_encode(kp_wr_t *w, int version,
                                   const kp_OffsetCommitRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_OffsetCommit, version);
    int32_t i, j;

    st_assert(version >= OC_MIN_V && version <= OC_MAX_V);
    kp_wr_kstr(w, flex, m->GroupId);
    if (version >= 1) {
        kp_wr_i32(w, m->GenerationIdOrMemberEpoch);
        kp_wr_kstr(w, flex, m->MemberId);
    }
    if (version >= 7)
        kp_wr_kstr(w, flex, m->GroupInstanceId);
    if (version >= 2 && version <= 4)
        kp_wr_i64(w, m->RetentionTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetCommitRequestTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_OffsetCommitRequestPartition_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i64(w, p->CommittedOffset);
            if (version >= 6)
                kp_wr_i32(w, p->CommittedLeaderEpoch);
            if (version == 1)
                kp_wr_i64(w, p->CommitTimestamp);
            kp_wr_kstr(w, flex, p->CommittedMetadata);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_OffsetCommitResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_OffsetCommitResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_OffsetCommit, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 2 + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, OC_MIN_V, OC_MAX_V))
        return KP_EINVAL;
    if (version >= 3)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_OffsetCommitResponseTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            t->Partitions[j].PartitionIndex = kp_rd_i32(rd);
            t->Partitions[j].ErrorCode = kp_rd_i16(rd);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_OffsetCommitResponse_encode(kp_wr_t *w, int version,
                                    const kp_OffsetCommitResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_OffsetCommit, version);
    int32_t i, j;

    st_assert(version >= OC_MIN_V && version <= OC_MAX_V);
    if (version >= 3)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetCommitResponseTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            kp_wr_i32(w, t->Partitions[j].PartitionIndex);
            kp_wr_i16(w, t->Partitions[j].ErrorCode);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- OffsetFetch ---- */

int kp_OffsetFetchRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                 kp_OffsetFetchRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_OffsetFetch, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, OF_MIN_V, OF_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    /* Null (all committed offsets) only from v2; v0-1 refuse it. */
    out->n_Topics = kp_rd_array(rd, flex, version >= 2, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_OffsetFetchRequestTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        kp__rd_i32s(rd, flex, false, pool, &t->n_PartitionIndexes,
                    &t->PartitionIndexes);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_OffsetFetchRequest_encode(kp_wr_t *w, int version,
                                  const kp_OffsetFetchRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_OffsetFetch, version);
    int32_t i;

    st_assert(version >= OF_MIN_V && version <= OF_MAX_V);
    /* v0-1 cannot say "all": a null list there is a caller bug. */
    st_assert(m->n_Topics >= 0 || version >= 2);
    kp_wr_kstr(w, flex, m->GroupId);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetFetchRequestTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp__wr_i32s(w, flex, t->n_PartitionIndexes, t->PartitionIndexes);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_OffsetFetchResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_OffsetFetchResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_OffsetFetch, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 8 + (version >= 5 ? 4 : 0) + KP__STR_MIN(flex) + 2 +
                  KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, OF_MIN_V, OF_MAX_V))
        return KP_EINVAL;
    if (version >= 3)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_OffsetFetchResponseTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            kp_OffsetFetchResponsePartition_t *p = &t->Partitions[j];
            p->PartitionIndex = kp_rd_i32(rd);
            p->CommittedOffset = kp_rd_i64(rd);
            p->CommittedLeaderEpoch = version >= 5 ? kp_rd_i32(rd) : -1;
            p->Metadata = kp_rd_nstr(rd, flex);
            p->ErrorCode = kp_rd_i16(rd);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    if (version >= 2)
        out->ErrorCode = kp_rd_i16(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_OffsetFetchResponse_encode(kp_wr_t *w, int version,
                                   const kp_OffsetFetchResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_OffsetFetch, version);
    int32_t i, j;

    st_assert(version >= OF_MIN_V && version <= OF_MAX_V);
    if (version >= 3)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetFetchResponseTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_OffsetFetchResponsePartition_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i64(w, p->CommittedOffset);
            if (version >= 5)
                kp_wr_i32(w, p->CommittedLeaderEpoch);
            kp_wr_kstr(w, flex, p->Metadata);
            kp_wr_i16(w, p->ErrorCode);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 2)
        kp_wr_i16(w, m->ErrorCode);
    kp_wr_tags_empty(w, flex);
}

/* ---- OffsetDelete (never flexible) ---- */

int kp_OffsetDeleteRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_OffsetDeleteRequest_t *out)
{
    size_t tmin = KP__STR_MIN(false) + KP__ARR_MIN(false);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, OD_MIN_V, OD_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, false);
    out->n_Topics = kp_rd_array(rd, false, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_OffsetDeleteRequestTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, false);
        t->n_Partitions = kp_rd_array(rd, false, false, 4);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++)
            t->Partitions[j].PartitionIndex = kp_rd_i32(rd);
    }
    return rd->err;
}

void kp_OffsetDeleteRequest_encode(kp_wr_t *w, int version,
                                   const kp_OffsetDeleteRequest_t *m)
{
    int32_t i, j;

    st_assert(version >= OD_MIN_V && version <= OD_MAX_V);
    kp_wr_kstr(w, false, m->GroupId);
    kp_wr_array(w, false, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetDeleteRequestTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, false, t->Name);
        kp_wr_array(w, false, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++)
            kp_wr_i32(w, t->Partitions[j].PartitionIndex);
    }
}

int kp_OffsetDeleteResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_OffsetDeleteResponse_t *out)
{
    size_t tmin = KP__STR_MIN(false) + KP__ARR_MIN(false);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, OD_MIN_V, OD_MAX_V))
        return KP_EINVAL;
    out->ErrorCode = kp_rd_i16(rd);
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, false, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_OffsetDeleteResponseTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, false);
        t->n_Partitions = kp_rd_array(rd, false, false, 4 + 2);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            t->Partitions[j].PartitionIndex = kp_rd_i32(rd);
            t->Partitions[j].ErrorCode = kp_rd_i16(rd);
        }
    }
    return rd->err;
}

void kp_OffsetDeleteResponse_encode(kp_wr_t *w, int version,
                                    const kp_OffsetDeleteResponse_t *m)
{
    int32_t i, j;

    st_assert(version >= OD_MIN_V && version <= OD_MAX_V);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, false, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_OffsetDeleteResponseTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, false, t->Name);
        kp_wr_array(w, false, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            kp_wr_i32(w, t->Partitions[j].PartitionIndex);
            kp_wr_i16(w, t->Partitions[j].ErrorCode);
        }
    }
}
