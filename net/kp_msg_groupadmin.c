/* The consumer-group admin calls: ListGroups (key 16) v0-2, DescribeGroups
 * (15) v0-4 and DeleteGroups (42) v0-1, what AdminClient and the
 * kafka-consumer-groups tool use.
 *
 * Kept apart from the membership calls (kp_msg_group.c) because they are
 * read-mostly views of the coordinator's state rather than steps of the
 * rebalance protocol. None of these versions is flexible (ListGroups is
 * from v3, DescribeGroups from v5, DeleteGroups from v2); tagged-field
 * sections are read where a flexible version would have them, as in every
 * codec file. ListGroups v0-2 requests have an empty body; its response
 * gains the throttle time at v1. DescribeGroups v1 adds the throttle time,
 * v3 the authorized-operations request flag and bitfield, v4 each member's
 * GroupInstanceId. DeleteGroups v1 changes only throttling behaviour.
 * Member metadata and assignments in DescribeGroups are opaque bytes,
 * decoded as views. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define LG_MIN_V 0
#define LG_MAX_V 2
#define DG_MIN_V 0
#define DG_MAX_V 4
#define DEL_MIN_V 0
#define DEL_MAX_V 1

/* []string fields: plain strings, no per-element tagged fields. */
static void rd_strs(kp_rd_t *rd, bool flex, mem_pool_t *pool, int32_t *n,
                    kp_str_t **v)
{
    int32_t i;

    *n = kp_rd_array(rd, flex, false, KP__STR_MIN(flex));
    *v = kp__alloc(rd, pool, *n, sizeof(**v));
    for (i = 0; i < *n && !rd->err; i++)
        (*v)[i] = kp_rd_str(rd, flex);
}

static void wr_strs(kp_wr_t *w, bool flex, int32_t n, const kp_str_t *v)
{
    int32_t i;

    kp_wr_array(w, flex, n);
    for (i = 0; i < n; i++)
        kp_wr_kstr(w, flex, v[i]);
}

/* ---- ListGroups ---- */

int kp_ListGroupsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                kp_ListGroupsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ListGroups, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, LG_MIN_V, LG_MAX_V))
        return KP_EINVAL;
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ListGroupsRequest_encode(kp_wr_t *w, int version,
                                 const kp_ListGroupsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ListGroups, version);

    (void)m;
    st_assert(version >= LG_MIN_V && version <= LG_MAX_V);
    kp_wr_tags_empty(w, flex);
}

int kp_ListGroupsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                 kp_ListGroupsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_ListGroups, version);
    size_t gmin = 2 * KP__STR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, LG_MIN_V, LG_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    out->n_Groups = kp_rd_array(rd, flex, false, gmin);
    out->Groups = kp__alloc(rd, pool, out->n_Groups, sizeof(*out->Groups));
    for (i = 0; i < out->n_Groups && !rd->err; i++) {
        out->Groups[i].GroupId = kp_rd_str(rd, flex);
        out->Groups[i].ProtocolType = kp_rd_str(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_ListGroupsResponse_encode(kp_wr_t *w, int version,
                                  const kp_ListGroupsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_ListGroups, version);
    int32_t i;

    st_assert(version >= LG_MIN_V && version <= LG_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_array(w, flex, m->n_Groups);
    for (i = 0; i < m->n_Groups; i++) {
        kp_wr_kstr(w, flex, m->Groups[i].GroupId);
        kp_wr_kstr(w, flex, m->Groups[i].ProtocolType);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- DescribeGroups ---- */

int kp_DescribeGroupsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                    kp_DescribeGroupsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeGroups, version);

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DG_MIN_V, DG_MAX_V))
        return KP_EINVAL;
    rd_strs(rd, flex, pool, &out->n_Groups, &out->Groups);
    if (version >= 3)
        out->IncludeAuthorizedOperations = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeGroupsRequest_encode(kp_wr_t *w, int version,
                                     const kp_DescribeGroupsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeGroups, version);

    st_assert(version >= DG_MIN_V && version <= DG_MAX_V);
    wr_strs(w, flex, m->n_Groups, m->Groups);
    if (version >= 3)
        kp_wr_bool(w, m->IncludeAuthorizedOperations);
    kp_wr_tags_empty(w, flex);
}

static void rd_described(kp_rd_t *rd, int version, bool flex, mem_pool_t *pool,
                         kp_DescribedGroup_t *g)
{
    size_t mmin = (version >= 4 ? 4 : 3) * KP__STR_MIN(flex) +
                  2 * KP__BYTES_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t j;

    g->ErrorCode = kp_rd_i16(rd);
    g->GroupId = kp_rd_str(rd, flex);
    g->GroupState = kp_rd_str(rd, flex);
    g->ProtocolType = kp_rd_str(rd, flex);
    g->ProtocolData = kp_rd_str(rd, flex);
    g->n_Members = kp_rd_array(rd, flex, false, mmin);
    g->Members = kp__alloc(rd, pool, g->n_Members, sizeof(*g->Members));
    for (j = 0; j < g->n_Members && !rd->err; j++) {
        kp_DescribedGroupMember_t *mb = &g->Members[j];
        mb->MemberId = kp_rd_str(rd, flex);
        mb->GroupInstanceId =
            version >= 4 ? kp_rd_nstr(rd, flex) : (kp_str_t){NULL, -1};
        mb->ClientId = kp_rd_str(rd, flex);
        mb->ClientHost = kp_rd_str(rd, flex);
        mb->MemberMetadata = kp_rd_bytes(rd, flex);
        mb->MemberAssignment = kp_rd_bytes(rd, flex);
        kp_rd_tags(rd, flex);
    }
    g->AuthorizedOperations = version >= 3 ? kp_rd_i32(rd) : INT32_MIN;
    kp_rd_tags(rd, flex);
}

int kp_DescribeGroupsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_DescribeGroupsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeGroups, version);
    size_t gmin = 2 + 4 * KP__STR_MIN(flex) + KP__ARR_MIN(flex) +
                  (version >= 3 ? 4 : 0) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DG_MIN_V, DG_MAX_V))
        return KP_EINVAL;
    if (version >= 1)
        out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Groups = kp_rd_array(rd, flex, false, gmin);
    out->Groups = kp__alloc(rd, pool, out->n_Groups, sizeof(*out->Groups));
    for (i = 0; i < out->n_Groups && !rd->err; i++)
        rd_described(rd, version, flex, pool, &out->Groups[i]);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeGroupsResponse_encode(kp_wr_t *w, int version,
                                      const kp_DescribeGroupsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeGroups, version);
    int32_t i, j;

    st_assert(version >= DG_MIN_V && version <= DG_MAX_V);
    if (version >= 1)
        kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Groups);
    for (i = 0; i < m->n_Groups; i++) {
        const kp_DescribedGroup_t *g = &m->Groups[i];
        kp_wr_i16(w, g->ErrorCode);
        kp_wr_kstr(w, flex, g->GroupId);
        kp_wr_kstr(w, flex, g->GroupState);
        kp_wr_kstr(w, flex, g->ProtocolType);
        kp_wr_kstr(w, flex, g->ProtocolData);
        kp_wr_array(w, flex, g->n_Members);
        for (j = 0; j < g->n_Members; j++) {
            const kp_DescribedGroupMember_t *mb = &g->Members[j];
            kp_wr_kstr(w, flex, mb->MemberId);
            if (version >= 4)
                kp_wr_kstr(w, flex, mb->GroupInstanceId);
            kp_wr_kstr(w, flex, mb->ClientId);
            kp_wr_kstr(w, flex, mb->ClientHost);
            kp_wr_bytes(w, flex, mb->MemberMetadata.p, mb->MemberMetadata.len);
            kp_wr_bytes(w, flex, mb->MemberAssignment.p,
                        mb->MemberAssignment.len);
            kp_wr_tags_empty(w, flex);
        }
        if (version >= 3)
            kp_wr_i32(w, g->AuthorizedOperations);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- DeleteGroups ---- */

int kp_DeleteGroupsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_DeleteGroupsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteGroups, version);

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DEL_MIN_V, DEL_MAX_V))
        return KP_EINVAL;
    rd_strs(rd, flex, pool, &out->n_GroupsNames, &out->GroupsNames);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteGroupsRequest_encode(kp_wr_t *w, int version,
                                   const kp_DeleteGroupsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteGroups, version);

    st_assert(version >= DEL_MIN_V && version <= DEL_MAX_V);
    wr_strs(w, flex, m->n_GroupsNames, m->GroupsNames);
    kp_wr_tags_empty(w, flex);
}

int kp_DeleteGroupsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_DeleteGroupsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteGroups, version);
    size_t rmin = KP__STR_MIN(flex) + 2 + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DEL_MIN_V, DEL_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Results = kp_rd_array(rd, flex, false, rmin);
    out->Results = kp__alloc(rd, pool, out->n_Results, sizeof(*out->Results));
    for (i = 0; i < out->n_Results && !rd->err; i++) {
        out->Results[i].GroupId = kp_rd_str(rd, flex);
        out->Results[i].ErrorCode = kp_rd_i16(rd);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteGroupsResponse_encode(kp_wr_t *w, int version,
                                    const kp_DeleteGroupsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteGroups, version);
    int32_t i;

    st_assert(version >= DEL_MIN_V && version <= DEL_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Results);
    for (i = 0; i < m->n_Results; i++) {
        kp_wr_kstr(w, flex, m->Results[i].GroupId);
        kp_wr_i16(w, m->Results[i].ErrorCode);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
