/* The classic consumer-group membership calls: FindCoordinator (key 10)
 * v0-2, JoinGroup (11) v0-5, SyncGroup (14) v0-3, Heartbeat (12) v0-3 and
 * LeaveGroup (13) v0-3. None of these versions is flexible (the first
 * flexible ones are 3, 6, 4, 4 and 4), but the code reads tagged fields
 * wherever a flexible version would carry them, like every codec file, so
 * raising a range only adds the new fields.
 *
 * The group protocol's payloads (JoinGroup protocol and member metadata,
 * SyncGroup assignments) are opaque to the broker, which only stores and
 * forwards them between members: they are decoded as views into the
 * request buffer, never copied, exactly like Produce records.
 *
 * Version notes, from the schemas: JoinGroup v1 adds RebalanceTimeoutMs,
 * v2 the response throttle time, v4 changes only semantics (a first join
 * with an empty member id is answered MEMBER_ID_REQUIRED), v5 adds
 * GroupInstanceId (static membership) to the request and to each member of
 * the response. SyncGroup and Heartbeat add the throttle time at v1 and
 * GroupInstanceId at v3. LeaveGroup v3 replaces the single MemberId by a
 * batch of members. FindCoordinator v1 adds KeyType and, in the response,
 * the throttle time and an error message. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define FC_MIN_V 0
#define FC_MAX_V 2
#define JG_MIN_V 0
#define JG_MAX_V 5
#define SG_MIN_V 0
#define SG_MAX_V 3
#define HB_MIN_V 0
#define HB_MAX_V 3
#define LG_MIN_V 0
#define LG_MAX_V 3

static const kp_str_t null_str = {NULL, -1};
static const kp_str_t empty_str = {"", 0};

/* ---- FindCoordinator ---- */

int kp_FindCoordinatorRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_FindCoordinatorRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_FindCoordinator, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->KeyType = KP_COORD_GROUP;
    if (kp__version_ok(rd, version, FC_MIN_V, FC_MAX_V))
        return KP_EINVAL;
    out->Key = kp_rd_str(rd, flex);
    if (version >= 1)
        out->KeyType = kp_rd_i8(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_FindCoordinatorRequest_encode(kp_wr_t *w, int version,
                                      const kp_FindCoordinatorRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_FindCoordinator, version);

    st_assert(version >= FC_MIN_V && version <= FC_MAX_V);
    kp_wr_kstr(w, flex, m->Key);
    if (version >= 1)
        kp_wr_i8(w, m->KeyType);
    kp_wr_tags_empty(w, flex);
}

int kp_FindCoordinatorResponse_decode(kp_rd_t *rd, int version,
                                      mem_pool_t *pool,
                                      kp_FindCoordinatorResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_FindCoordinator, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->ErrorMessage = null_str;
    if (kp__version_ok(rd, version, FC_MIN_V, FC_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    if (version >= 1)
        out->ErrorMessage = kp_rd_nstr(rd, flex);
    out->NodeId = kp_rd_i32(rd);
    out->Host = kp_rd_str(rd, flex);
    out->Port = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_FindCoordinatorResponse_encode(kp_wr_t *w, int version,
                                       const kp_FindCoordinatorResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_FindCoordinator, version);

    st_assert(version >= FC_MIN_V && version <= FC_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    if (version >= 1)
        kp_wr_kstr(w, flex, m->ErrorMessage);
    kp_wr_i32(w, m->NodeId);
    kp_wr_kstr(w, flex, m->Host);
    kp_wr_i32(w, m->Port);
    kp_wr_tags_empty(w, flex);
}

/* ---- JoinGroup ---- */

int kp_JoinGroupRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                               kp_JoinGroupRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_JoinGroup, version);
    size_t pmin = KP__STR_MIN(flex) + KP__BYTES_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->RebalanceTimeoutMs = -1;
    out->GroupInstanceId = null_str;
    if (kp__version_ok(rd, version, JG_MIN_V, JG_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    out->SessionTimeoutMs = kp_rd_i32(rd);
    if (version >= 1)
        out->RebalanceTimeoutMs = kp_rd_i32(rd);
    out->MemberId = kp_rd_str(rd, flex);
    if (version >= 5)
        out->GroupInstanceId = kp_rd_nstr(rd, flex);
    out->ProtocolType = kp_rd_str(rd, flex);
    out->n_Protocols = kp_rd_array(rd, flex, false, pmin);
    out->Protocols =
        kp__alloc(rd, pool, out->n_Protocols, sizeof(*out->Protocols));
    for (i = 0; i < out->n_Protocols && !rd->err; i++) {
        out->Protocols[i].Name = kp_rd_str(rd, flex);
        out->Protocols[i].Metadata = kp_rd_bytes(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_JoinGroupRequest_encode(kp_wr_t *w, int version,
                                const kp_JoinGroupRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_JoinGroup, version);
    int32_t i;

    st_assert(version >= JG_MIN_V && version <= JG_MAX_V);
    kp_wr_kstr(w, flex, m->GroupId);
    kp_wr_i32(w, m->SessionTimeoutMs);
    if (version >= 1)
        kp_wr_i32(w, m->RebalanceTimeoutMs);
    kp_wr_kstr(w, flex, m->MemberId);
    if (version >= 5)
        kp_wr_kstr(w, flex, m->GroupInstanceId);
    kp_wr_kstr(w, flex, m->ProtocolType);
    kp_wr_array(w, flex, m->n_Protocols);
    for (i = 0; i < m->n_Protocols; i++) {
        const kp_JoinGroupRequestProtocol_t *p = &m->Protocols[i];
        kp_wr_kstr(w, flex, p->Name);
        kp_wr_bytes(w, flex, p->Metadata.p, p->Metadata.len);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_JoinGroupResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                kp_JoinGroupResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_JoinGroup, version);
    size_t mmin = KP__STR_MIN(flex) + (version >= 5 ? KP__STR_MIN(flex) : 0) +
                  KP__BYTES_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->GenerationId = -1;
    if (kp__version_ok(rd, version, JG_MIN_V, JG_MAX_V))
        return KP_EINVAL;
    if (version >= 2)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    out->GenerationId = kp_rd_i32(rd);
    out->ProtocolName = kp_rd_str(rd, flex);
    out->Leader = kp_rd_str(rd, flex);
    out->MemberId = kp_rd_str(rd, flex);
    out->n_Members = kp_rd_array(rd, flex, false, mmin);
    out->Members = kp__alloc(rd, pool, out->n_Members, sizeof(*out->Members));
    for (i = 0; i < out->n_Members && !rd->err; i++) {
        kp_JoinGroupResponseMember_t *mb = &out->Members[i];
        mb->MemberId = kp_rd_str(rd, flex);
        mb->GroupInstanceId = version >= 5 ? kp_rd_nstr(rd, flex) : null_str;
        mb->Metadata = kp_rd_bytes(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_JoinGroupResponse_encode(kp_wr_t *w, int version,
                                 const kp_JoinGroupResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_JoinGroup, version);
    int32_t i;

    st_assert(version >= JG_MIN_V && version <= JG_MAX_V);
    if (version >= 2)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_i32(w, m->GenerationId);
    kp_wr_kstr(w, flex, m->ProtocolName);
    kp_wr_kstr(w, flex, m->Leader);
    kp_wr_kstr(w, flex, m->MemberId);
    kp_wr_array(w, flex, m->n_Members);
    for (i = 0; i < m->n_Members; i++) {
        const kp_JoinGroupResponseMember_t *mb = &m->Members[i];
        kp_wr_kstr(w, flex, mb->MemberId);
        if (version >= 5)
            kp_wr_kstr(w, flex, mb->GroupInstanceId);
        kp_wr_bytes(w, flex, mb->Metadata.p, mb->Metadata.len);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- SyncGroup ---- */

int kp_SyncGroupRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                               kp_SyncGroupRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_SyncGroup, version);
    size_t amin = KP__STR_MIN(flex) + KP__BYTES_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->GroupInstanceId = null_str;
    if (kp__version_ok(rd, version, SG_MIN_V, SG_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    out->GenerationId = kp_rd_i32(rd);
    out->MemberId = kp_rd_str(rd, flex);
    if (version >= 3)
        out->GroupInstanceId = kp_rd_nstr(rd, flex);
    out->n_Assignments = kp_rd_array(rd, flex, false, amin);
    out->Assignments =
        kp__alloc(rd, pool, out->n_Assignments, sizeof(*out->Assignments));
    for (i = 0; i < out->n_Assignments && !rd->err; i++) {
        out->Assignments[i].MemberId = kp_rd_str(rd, flex);
        out->Assignments[i].Assignment = kp_rd_bytes(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_SyncGroupRequest_encode(kp_wr_t *w, int version,
                                const kp_SyncGroupRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_SyncGroup, version);
    int32_t i;

    st_assert(version >= SG_MIN_V && version <= SG_MAX_V);
    kp_wr_kstr(w, flex, m->GroupId);
    kp_wr_i32(w, m->GenerationId);
    kp_wr_kstr(w, flex, m->MemberId);
    if (version >= 3)
        kp_wr_kstr(w, flex, m->GroupInstanceId);
    kp_wr_array(w, flex, m->n_Assignments);
    for (i = 0; i < m->n_Assignments; i++) {
        const kp_SyncGroupRequestAssignment_t *a = &m->Assignments[i];
        kp_wr_kstr(w, flex, a->MemberId);
        kp_wr_bytes(w, flex, a->Assignment.p, a->Assignment.len);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_SyncGroupResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                kp_SyncGroupResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_SyncGroup, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, SG_MIN_V, SG_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    out->Assignment = kp_rd_bytes(rd, flex);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_SyncGroupResponse_encode(kp_wr_t *w, int version,
                                 const kp_SyncGroupResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_SyncGroup, version);

    st_assert(version >= SG_MIN_V && version <= SG_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_bytes(w, flex, m->Assignment.p, m->Assignment.len);
    kp_wr_tags_empty(w, flex);
}

/* ---- Heartbeat ---- */

int kp_HeartbeatRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                               kp_HeartbeatRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Heartbeat, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    out->GroupInstanceId = null_str;
    if (kp__version_ok(rd, version, HB_MIN_V, HB_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    out->GenerationId = kp_rd_i32(rd);
    out->MemberId = kp_rd_str(rd, flex);
    if (version >= 3)
        out->GroupInstanceId = kp_rd_nstr(rd, flex);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_HeartbeatRequest_encode(kp_wr_t *w, int version,
                                const kp_HeartbeatRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Heartbeat, version);

    st_assert(version >= HB_MIN_V && version <= HB_MAX_V);
    kp_wr_kstr(w, flex, m->GroupId);
    kp_wr_i32(w, m->GenerationId);
    kp_wr_kstr(w, flex, m->MemberId);
    if (version >= 3)
        kp_wr_kstr(w, flex, m->GroupInstanceId);
    kp_wr_tags_empty(w, flex);
}

int kp_HeartbeatResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                kp_HeartbeatResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Heartbeat, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, HB_MIN_V, HB_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_HeartbeatResponse_encode(kp_wr_t *w, int version,
                                 const kp_HeartbeatResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Heartbeat, version);

    st_assert(version >= HB_MIN_V && version <= HB_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_tags_empty(w, flex);
}

/* ---- LeaveGroup ---- */

int kp_LeaveGroupRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                kp_LeaveGroupRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_LeaveGroup, version);
    size_t mmin = 2 * KP__STR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    out->MemberId = empty_str;
    if (kp__version_ok(rd, version, LG_MIN_V, LG_MAX_V))
        return KP_EINVAL;
    out->GroupId = kp_rd_str(rd, flex);
    if (version <= 2) {
        out->MemberId = kp_rd_str(rd, flex);
    } else {
        out->n_Members = kp_rd_array(rd, flex, false, mmin);
        out->Members =
            kp__alloc(rd, pool, out->n_Members, sizeof(*out->Members));
        for (i = 0; i < out->n_Members && !rd->err; i++) {
            out->Members[i].MemberId = kp_rd_str(rd, flex);
            out->Members[i].GroupInstanceId = kp_rd_nstr(rd, flex);
            kp_rd_tags(rd, flex);
        }
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_LeaveGroupRequest_encode(kp_wr_t *w, int version,
                                 const kp_LeaveGroupRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_LeaveGroup, version);
    int32_t i;

    st_assert(version >= LG_MIN_V && version <= LG_MAX_V);
    kp_wr_kstr(w, flex, m->GroupId);
    if (version <= 2) {
        kp_wr_kstr(w, flex, m->MemberId);
    } else {
        kp_wr_array(w, flex, m->n_Members);
        for (i = 0; i < m->n_Members; i++) {
            kp_wr_kstr(w, flex, m->Members[i].MemberId);
            kp_wr_kstr(w, flex, m->Members[i].GroupInstanceId);
            kp_wr_tags_empty(w, flex);
        }
    }
    kp_wr_tags_empty(w, flex);
}

int kp_LeaveGroupResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                 kp_LeaveGroupResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_LeaveGroup, version);
    size_t mmin = 2 * KP__STR_MIN(flex) + 2 + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, LG_MIN_V, LG_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    if (version >= 3) {
        out->n_Members = kp_rd_array(rd, flex, false, mmin);
        out->Members =
            kp__alloc(rd, pool, out->n_Members, sizeof(*out->Members));
        for (i = 0; i < out->n_Members && !rd->err; i++) {
            kp_LeaveGroupMemberResponse_t *mb = &out->Members[i];
            mb->MemberId = kp_rd_str(rd, flex);
            mb->GroupInstanceId = kp_rd_nstr(rd, flex);
            mb->ErrorCode = kp_rd_i16(rd);
            kp_rd_tags(rd, flex);
        }
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_LeaveGroupResponse_encode(kp_wr_t *w, int version,
                                  const kp_LeaveGroupResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_LeaveGroup, version);
    int32_t i;

    st_assert(version >= LG_MIN_V && version <= LG_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    if (version >= 3) {
        kp_wr_array(w, flex, m->n_Members);
        for (i = 0; i < m->n_Members; i++) {
            const kp_LeaveGroupMemberResponse_t *mb = &m->Members[i];
            kp_wr_kstr(w, flex, mb->MemberId);
            kp_wr_kstr(w, flex, mb->GroupInstanceId);
            kp_wr_i16(w, mb->ErrorCode);
            kp_wr_tags_empty(w, flex);
        }
    }
    kp_wr_tags_empty(w, flex);
}
