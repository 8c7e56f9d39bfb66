/* CreateTopics (key 19), versions 0-4, and DeleteTopics (key 20), versions
 * 0-3: the admin calls clients use to manage topics.
 *
 * Grouped because both are small and change little across these versions:
 * CreateTopics v1 adds validateOnly and a per-topic error message, v2 the
 * throttle time, v3 and v4 change only semantics (v4 lets NumPartitions
 * and ReplicationFactor be -1 without an assignment); DeleteTopics v1 adds
 * the throttle time and v2-v3 change only semantics. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define CT_MIN_V 0
#define CT_MAX_V 4
#define DT_MIN_V 0
#define DT_MAX_V 3

/* ---- CreateTopics ---- */

static void rd_creatable(kp_rd_t *rd, bool flex, mem_pool_t *pool,
                         kp_CreatableTopic_t *t)
{
    size_t amin = 4 + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t cmin = 2 * KP__STR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t j;

    t->Name = kp_rd_str(rd, flex);
    t->NumPartitions = kp_rd_i32(rd);
    t->ReplicationFactor = kp_rd_i16(rd);
    t->n_Assignments = kp_rd_array(rd, flex, false, amin);
    t->Assignments =
        kp__alloc(rd, pool, t->n_Assignments, sizeof(*t->Assignments));
    for (j = 0; j < t->n_Assignments && !rd->err; j++) {
        kp_CreatableReplicaAssignment_t *a = &t->Assignments[j];
        a->PartitionIndex = kp_rd_i32(rd);
        kp__rd_i32s(rd, flex, false, pool, &a->n_BrokerIds, &a->BrokerIds);
        kp_rd_tags(rd, flex);
    }
    t->n_Configs = kp_rd_array(rd, flex, false, cmin);
    t->Configs = kp__alloc(rd, pool, t->n_Configs, sizeof(*t->Configs));
    for (j = 0; j < t->n_Configs && !rd->err; j++) {
        t->Configs[j].Name = kp_rd_str(rd, flex);
        t->Configs[j].Value = kp_rd_nstr(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
}

int kp_CreateTopicsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_CreateTopicsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_CreateTopics, version);
    size_t tmin =
        KP__STR_MIN(flex) + 4 + 2 + 2 * KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->timeoutMs = 60000;
    if (kp__version_ok(rd, version, CT_MIN_V, CT_MAX_V))
        return KP_EINVAL;
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++)
        rd_creatable(rd, flex, pool, &out->Topics[i]);
    out->timeoutMs = kp_rd_i32(rd);
    if (version >= 1)
        out->validateOnly = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_CreateTopicsRequest_encode(kp_wr_t *w, int version,
                                   const kp_CreateTopicsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_CreateTopics, version);
    int32_t i, j;

    st_assert(version >= CT_MIN_V && version <= CT_MAX_V);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_CreatableTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_i32(w, t->NumPartitions);
        kp_wr_i16(w, t->ReplicationFactor);
        kp_wr_array(w, flex, t->n_Assignments);
        for (j = 0; j < t->n_Assignments; j++) {
            const kp_CreatableReplicaAssignment_t *a = &t->Assignments[j];
            kp_wr_i32(w, a->PartitionIndex);
            kp__wr_i32s(w, flex, a->n_BrokerIds, a->BrokerIds);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_array(w, flex, t->n_Configs);
        for (j = 0; j < t->n_Configs; j++) {
            kp_wr_kstr(w, flex, t->Configs[j].Name);
            kp_wr_kstr(w, flex, t->Configs[j].Value);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_i32(w, m->timeoutMs);
    if (version >= 1)
        kp_wr_bool(w, m->validateOnly);
    kp_wr_tags_empty(w, flex);
}

int kp_CreateTopicsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_CreateTopicsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_CreateTopics, version);
    size_t tmin = KP__STR_MIN(flex) + 2 +
                  (version >= 1 ? KP__STR_MIN(flex) : 0) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, CT_MIN_V, CT_MAX_V))
        return KP_EINVAL;
    if (version >= 2)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_CreatableTopicResult_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->ErrorCode = kp_rd_i16(rd);
        /* v0 has no message: null, i.e. "no message". */
        t->ErrorMessage =
            version >= 1 ? kp_rd_nstr(rd, flex) : (kp_str_t){NULL, -1};
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_CreateTopicsResponse_encode(kp_wr_t *w, int version,
                                    const kp_CreateTopicsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_CreateTopics, version);
    int32_t i;

    st_assert(version >= CT_MIN_V && version <= CT_MAX_V);
    if (version >= 2)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_CreatableTopicResult_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_i16(w, t->ErrorCode);
        if (version >= 1)
            kp_wr_kstr(w, flex, t->ErrorMessage);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- DeleteTopics ---- */

int kp_DeleteTopicsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_DeleteTopicsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteTopics, version);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DT_MIN_V, DT_MAX_V))
        return KP_EINVAL;
    /* A []string: plain strings, no per-element tagged fields. */
    out->n_TopicNames = kp_rd_array(rd, flex, false, KP__STR_MIN(flex));
    out->TopicNames =
        kp__alloc(rd, pool, out->n_TopicNames, sizeof(*out->TopicNames));
    for (i = 0; i < out->n_TopicNames && !rd->err; i++)
        out->TopicNames[i] = kp_rd_str(rd, flex);
    out->TimeoutMs = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteTopicsRequest_encode(kp_wr_t *w, int version,
                                   const kp_DeleteTopicsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteTopics, version);
    int32_t i;

    st_assert(version >= DT_MIN_V && version <= DT_MAX_V);
    kp_wr_array(w, flex, m->n_TopicNames);
    for (i = 0; i < m->n_TopicNames; i++)
        kp_wr_kstr(w, flex, m->TopicNames[i]);
    kp_wr_i32(w, m->TimeoutMs);
    kp_wr_tags_empty(w, flex);
}

int kp_DeleteTopicsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_DeleteTopicsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteTopics, version);
    size_t tmin = KP__STR_MIN(flex) + 2 + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DT_MIN_V, DT_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Responses = kp_rd_array(rd, flex, false, tmin);
    out->Responses =
        kp__alloc(rd, pool, out->n_Responses, sizeof(*out->Responses));
    for (i = 0; i < out->n_Responses && !rd->err; i++) {
        out->Responses[i].Name = kp_rd_str(rd, flex);
        out->Responses[i].ErrorCode = kp_rd_i16(rd);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteTopicsResponse_encode(kp_wr_t *w, int version,
                                    const kp_DeleteTopicsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteTopics, version);
    int32_t i;

    st_assert(version >= DT_MIN_V && version <= DT_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Responses);
    for (i = 0; i < m->n_Responses; i++) {
        kp_wr_kstr(w, flex, m->Responses[i].Name);
        kp_wr_i16(w, m->Responses[i].ErrorCode);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
