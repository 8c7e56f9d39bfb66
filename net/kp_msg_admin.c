/* The admin calls operators' tools make (kafka-ui, AKHQ, kafka-configs.sh,
 * AdminClient): DescribeConfigs (key 32) v0-3, AlterConfigs (33) v0-1,
 * IncrementalAlterConfigs (44) v0-1, CreatePartitions (37) v0-1,
 * DescribeCluster (60) v0, DescribeLogDirs (35) v0-1 and DeleteRecords (21)
 * v0-2.
 *
 * Grouped because they are small and share a shape (a list of resources
 * in, one result per resource out). Within these ranges only two versions
 * are flexible: IncrementalAlterConfigs v1 and DescribeCluster v0 (its
 * first version); the others change only semantics or add plain fields:
 * DescribeConfigs v1 adds IncludeSynonyms, ConfigSource and the synonyms
 * (and drops IsDefault), v2 changes nothing on the wire, v3 adds
 * IncludeDocumentation, ConfigType and Documentation; AlterConfigs v1,
 * CreatePartitions v1 and DescribeLogDirs v1 are their v0 with other
 * throttling; DeleteRecords v1 is v0 with other throttling and v2 its
 * flexible form. AlterConfigs and IncrementalAlterConfigs share their structs
 * (kp_msg.h): the legacy form simply has no ConfigOperation. As in every
 * codec file, tagged-field sections are read wherever a flexible version
 * would carry them, so the code stays right when a range grows. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define DC_MIN_V 0
#define DC_MAX_V 3
#define AC_MIN_V 0
#define AC_MAX_V 1
#define IAC_MIN_V 0
#define IAC_MAX_V 1
#define CP_MIN_V 0
#define CP_MAX_V 1
#define DCL_MIN_V 0
#define DCL_MAX_V 0
#define DLD_MIN_V 0
#define DLD_MAX_V 1
#define DR_MIN_V 0
#define DR_MAX_V 2

#define NULLSTR ((kp_str_t){NULL, -1})

/* ---- DescribeConfigs ---- */

int kp_DescribeConfigsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_DescribeConfigsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeConfigs, version);
    size_t rmin =
        1 + KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DC_MIN_V, DC_MAX_V))
        return KP_EINVAL;
    out->n_Resources = kp_rd_array(rd, flex, false, rmin);
    out->Resources =
        kp__alloc(rd, pool, out->n_Resources, sizeof(*out->Resources));
    for (i = 0; i < out->n_Resources && !rd->err; i++) {
        kp_DescribeConfigsResource_t *r = &out->Resources[i];
        r->ResourceType = kp_rd_i8(rd);
        r->ResourceName = kp_rd_str(rd, flex);
        r->n_ConfigurationKeys = kp_rd_array(rd, flex, true, KP__STR_MIN(flex));
        r->ConfigurationKeys = kp__alloc(rd, pool, r->n_ConfigurationKeys,
                                         sizeof(*r->ConfigurationKeys));
        for (j = 0; j < r->n_ConfigurationKeys && !rd->err; j++)
            r->ConfigurationKeys[j] = kp_rd_str(rd, flex);
        kp_rd_tags(rd, flex);
    }
    if (version >= 1)
        out->IncludeSynonyms = kp_rd_bool(rd);
    if (version >= 3)
        out->IncludeDocumentation = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeConfigsRequest_encode(kp_wr_t *w, int version,
                                      const kp_DescribeConfigsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeConfigs, version);
    int32_t i, j;

    st_assert(version >= DC_MIN_V && version <= DC_MAX_V);
    kp_wr_array(w, flex, m->n_Resources);
    for (i = 0; i < m->n_Resources; i++) {
        const kp_DescribeConfigsResource_t *r = &m->Resources[i];
        kp_wr_i8(w, r->ResourceType);
        kp_wr_kstr(w, flex, r->ResourceName);
        kp_wr_array(w, flex, r->n_ConfigurationKeys);
        for (j = 0; j < r->n_ConfigurationKeys; j++)
            kp_wr_kstr(w, flex, r->ConfigurationKeys[j]);
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 1)
        kp_wr_bool(w, m->IncludeSynonyms);
    if (version >= 3)
        kp_wr_bool(w, m->IncludeDocumentation);
    kp_wr_tags_empty(w, flex);
}

static void rd_config_result(kp_rd_t *rd, int version, bool flex,
                             mem_pool_t *pool,
                             kp_DescribeConfigsResourceResult_t *c)
{
    size_t smin = 2 * KP__STR_MIN(flex) + 1 + KP__TAGS_MIN(flex);
    int32_t k;

    c->ConfigSource = -1;
    c->Documentation = NULLSTR;
    c->Name = kp_rd_str(rd, flex);
    c->Value = kp_rd_nstr(rd, flex);
    c->ReadOnly = kp_rd_bool(rd);
    if (version == 0)
        c->IsDefault = kp_rd_bool(rd);
    if (version >= 1)
        c->ConfigSource = kp_rd_i8(rd);
    c->IsSensitive = kp_rd_bool(rd);
    if (version >= 1) {
        c->n_Synonyms = kp_rd_array(rd, flex, false, smin);
        c->Synonyms = kp__alloc(rd, pool, c->n_Synonyms, sizeof(*c->Synonyms));
        for (k = 0; k < c->n_Synonyms && !rd->err; k++) {
            c->Synonyms[k].Name = kp_rd_str(rd, flex);
            c->Synonyms[k].Value = kp_rd_nstr(rd, flex);
            c->Synonyms[k].Source = kp_rd_i8(rd);
            kp_rd_tags(rd, flex);
        }
    }
    if (version >= 3) {
        c->ConfigType = kp_rd_i8(rd);
        c->Documentation = kp_rd_nstr(rd, flex);
    }
    kp_rd_tags(rd, flex);
}

int kp_DescribeConfigsResponse_decode(kp_rd_t *rd, int version,
                                      mem_pool_t *pool,
                                      kp_DescribeConfigsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeConfigs, version);
    size_t rmin =
        2 + 1 + 2 * KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    /* Name, Value, ReadOnly, IsSensitive, and per version IsDefault or
     * ConfigSource plus the synonyms; v3 adds a type and a string. */
    size_t cmin =
        2 * KP__STR_MIN(flex) + 3 + (version >= 1 ? KP__ARR_MIN(flex) : 0) +
        (version >= 3 ? 1 + KP__STR_MIN(flex) : 0) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DC_MIN_V, DC_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Results = kp_rd_array(rd, flex, false, rmin);
    out->Results = kp__alloc(rd, pool, out->n_Results, sizeof(*out->Results));
    for (i = 0; i < out->n_Results && !rd->err; i++) {
        kp_DescribeConfigsResult_t *r = &out->Results[i];
        r->ErrorCode = kp_rd_i16(rd);
        r->ErrorMessage = kp_rd_nstr(rd, flex);
        r->ResourceType = kp_rd_i8(rd);
        r->ResourceName = kp_rd_str(rd, flex);
        r->n_Configs = kp_rd_array(rd, flex, false, cmin);
        r->Configs = kp__alloc(rd, pool, r->n_Configs, sizeof(*r->Configs));
        for (j = 0; j < r->n_Configs && !rd->err; j++)
            rd_config_result(rd, version, flex, pool, &r->Configs[j]);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeConfigsResponse_encode(kp_wr_t *w, int version,
                                       const kp_DescribeConfigsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeConfigs, version);
    int32_t i, j, k;

    st_assert(version >= DC_MIN_V && version <= DC_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Results);
    for (i = 0; i < m->n_Results; i++) {
        const kp_DescribeConfigsResult_t *r = &m->Results[i];
        kp_wr_i16(w, r->ErrorCode);
        kp_wr_kstr(w, flex, r->ErrorMessage);
        kp_wr_i8(w, r->ResourceType);
        kp_wr_kstr(w, flex, r->ResourceName);
        kp_wr_array(w, flex, r->n_Configs);
        for (j = 0; j < r->n_Configs; j++) {
            const kp_DescribeConfigsResourceResult_t *c = &r->Configs[j];
            kp_wr_kstr(w, flex, c->Name);
            kp_wr_kstr(w, flex, c->Value);
            kp_wr_bool(w, c->ReadOnly);
            if (version == 0)
                kp_wr_bool(w, c->IsDefault);
            if (version >= 1)
                kp_wr_i8(w, c->ConfigSource);
            kp_wr_bool(w, c->IsSensitive);
            if (version >= 1) {
                kp_wr_array(w, flex, c->n_Synonyms);
                for (k = 0; k < c->n_Synonyms; k++) {
                    kp_wr_kstr(w, flex, c->Synonyms[k].Name);
                    kp_wr_kstr(w, flex, c->Synonyms[k].Value);
                    kp_wr_i8(w, c->Synonyms[k].Source);
                    kp_wr_tags_empty(w, flex);
                }
            }
            if (version >= 3) {
                kp_wr_i8(w, c->ConfigType);
                kp_wr_kstr(w, flex, c->Documentation);
            }
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- AlterConfigs and IncrementalAlterConfigs ---- */

static int rd_alter_request(kp_rd_t *rd, int api, int version, int min, int max,
                            mem_pool_t *pool, kp_AlterConfigsRequest_t *out)
{
    bool flex = kp_api_is_flex(api, version);
    bool incr = api == KP_API_IncrementalAlterConfigs;
    size_t rmin =
        1 + KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t cmin = 2 * KP__STR_MIN(flex) + (incr ? 1 : 0) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, min, max))
        return KP_EINVAL;
    out->n_Resources = kp_rd_array(rd, flex, false, rmin);
    out->Resources =
        kp__alloc(rd, pool, out->n_Resources, sizeof(*out->Resources));
    for (i = 0; i < out->n_Resources && !rd->err; i++) {
        kp_AlterConfigsResource_t *r = &out->Resources[i];
        r->ResourceType = kp_rd_i8(rd);
        r->ResourceName = kp_rd_str(rd, flex);
        r->n_Configs = kp_rd_array(rd, flex, false, cmin);
        r->Configs = kp__alloc(rd, pool, r->n_Configs, sizeof(*r->Configs));
        for (j = 0; j < r->n_Configs && !rd->err; j++) {
            kp_AlterableConfig_t *c = &r->Configs[j];
            c->Name = kp_rd_str(rd, flex);
            if (incr)
                c->ConfigOperation = kp_rd_i8(rd);
            c->Value = kp_rd_nstr(rd, flex);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    out->ValidateOnly = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

static void wr_alter_request(kp_wr_t *w, int api, int version,
                             const kp_AlterConfigsRequest_t *m)
{
    bool flex = kp_api_is_flex(api, version);
    bool incr = api == KP_API_IncrementalAlterConfigs;
    int32_t i, j;

    kp_wr_array(w, flex, m->n_Resources);
    for (i = 0; i < m->n_Resources; i++) {
        const kp_AlterConfigsResource_t *r = &m->Resources[i];
        kp_wr_i8(w, r->ResourceType);
        kp_wr_kstr(w, flex, r->ResourceName);
        kp_wr_array(w, flex, r->n_Configs);
        for (j = 0; j < r->n_Configs; j++) {
            kp_wr_kstr(w, flex, r->Configs[j].Name);
            if (incr)
                kp_wr_i8(w, r->Configs[j].ConfigOperation);
            kp_wr_kstr(w, flex, r->Configs[j].Value);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_bool(w, m->ValidateOnly);
    kp_wr_tags_empty(w, flex);
}

static int rd_alter_response(kp_rd_t *rd, int api, int version, int min,
                             int max, mem_pool_t *pool,
                             kp_AlterConfigsResponse_t *out)
{
    bool flex = kp_api_is_flex(api, version);
    size_t rmin = 2 + 1 + 2 * KP__STR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, min, max))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Responses = kp_rd_array(rd, flex, false, rmin);
    out->Responses =
        kp__alloc(rd, pool, out->n_Responses, sizeof(*out->Responses));
    for (i = 0; i < out->n_Responses && !rd->err; i++) {
        kp_AlterConfigsResourceResponse_t *r = &out->Responses[i];
        r->ErrorCode = kp_rd_i16(rd);
        r->ErrorMessage = kp_rd_nstr(rd, flex);
        r->ResourceType = kp_rd_i8(rd);
        r->ResourceName = kp_rd_str(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

static void wr_alter_response(kp_wr_t *w, int api, int version,
                              const kp_AlterConfigsResponse_t *m)
{
    bool flex = kp_api_is_flex(api, version);
    int32_t i;

    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Responses);
    for (i = 0; i < m->n_Responses; i++) {
        const kp_AlterConfigsResourceResponse_t *r = &m->Responses[i];
        kp_wr_i16(w, r->ErrorCode);
        kp_wr_kstr(w, flex, r->ErrorMessage);
        kp_wr_i8(w, r->ResourceType);
        kp_wr_kstr(w, flex, r->ResourceName);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_AlterConfigsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                  kp_AlterConfigsRequest_t *out)
{
    return rd_alter_request(rd, KP_API_AlterConfigs, version, AC_MIN_V,
                            AC_MAX_V, pool, out);
}

void kp_AlterConfigsRequest_encode(kp_wr_t *w, int version,
                                   const kp_AlterConfigsRequest_t *m)
{
    st_assert(version >= AC_MIN_V && version <= AC_MAX_V);
    wr_alter_request(w, KP_API_AlterConfigs, version, m);
}

int kp_AlterConfigsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_AlterConfigsResponse_t *out)
{
    return rd_alter_response(rd, KP_API_AlterConfigs, version, AC_MIN_V,
                             AC_MAX_V, pool, out);
}

void kp_AlterConfigsResponse_encode(kp_wr_t *w, int version,
                                    const kp_AlterConfigsResponse_t *m)
{
    st_assert(version >= AC_MIN_V && version <= AC_MAX_V);
    wr_alter_response(w, KP_API_AlterConfigs, version, m);
}

int kp_IncrementalAlterConfigsRequest_decode(
    kp_rd_t *rd, int version, mem_pool_t *pool,
    kp_IncrementalAlterConfigsRequest_t *out)
{
    return rd_alter_request(rd, KP_API_IncrementalAlterConfigs, version,
                            IAC_MIN_V, IAC_MAX_V, pool, out);
}

void kp_IncrementalAlterConfigsRequest_encode(
    kp_wr_t *w, int version, const kp_IncrementalAlterConfigsRequest_t *m)
{
    st_assert(version >= IAC_MIN_V && version <= IAC_MAX_V);
    wr_alter_request(w, KP_API_IncrementalAlterConfigs, version, m);
}

int kp_IncrementalAlterConfigsResponse_decode(
    kp_rd_t *rd, int version, mem_pool_t *pool,
    kp_IncrementalAlterConfigsResponse_t *out)
{
    return rd_alter_response(rd, KP_API_IncrementalAlterConfigs, version,
                             IAC_MIN_V, IAC_MAX_V, pool, out);
}

void kp_IncrementalAlterConfigsResponse_encode(
    kp_wr_t *w, int version, const kp_IncrementalAlterConfigsResponse_t *m)
{
    st_assert(version >= IAC_MIN_V && version <= IAC_MAX_V);
    wr_alter_response(w, KP_API_IncrementalAlterConfigs, version, m);
}

/* ---- CreatePartitions ---- */

int kp_CreatePartitionsRequest_decode(kp_rd_t *rd, int version,
                                      mem_pool_t *pool,
                                      kp_CreatePartitionsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_CreatePartitions, version);
    size_t tmin =
        KP__STR_MIN(flex) + 4 + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t amin = KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, CP_MIN_V, CP_MAX_V))
        return KP_EINVAL;
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_CreatePartitionsTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->Count = kp_rd_i32(rd);
        t->n_Assignments = kp_rd_array(rd, flex, true, amin);
        t->Assignments =
            kp__alloc(rd, pool, t->n_Assignments, sizeof(*t->Assignments));
        for (j = 0; j < t->n_Assignments && !rd->err; j++) {
            kp_CreatePartitionsAssignment_t *a = &t->Assignments[j];
            kp__rd_i32s(rd, flex, false, pool, &a->n_BrokerIds, &a->BrokerIds);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    out->TimeoutMs = kp_rd_i32(rd);
    out->ValidateOnly = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_CreatePartitionsRequest_encode(kp_wr_t *w, int version,
                                       const kp_CreatePartitionsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_CreatePartitions, version);
    int32_t i, j;

    st_assert(version >= CP_MIN_V && version <= CP_MAX_V);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_CreatePartitionsTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_i32(w, t->Count);
        kp_wr_array(w, flex, t->n_Assignments);
        for (j = 0; j < t->n_Assignments; j++) {
            kp__wr_i32s(w, flex, t->Assignments[j].n_BrokerIds,
                        t->Assignments[j].BrokerIds);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_i32(w, m->TimeoutMs);
    kp_wr_bool(w, m->ValidateOnly);
    kp_wr_tags_empty(w, flex);
}

int kp_CreatePartitionsResponse_decode(kp_rd_t *rd, int version,
                                       mem_pool_t *pool,
                                       kp_CreatePartitionsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_CreatePartitions, version);
    size_t rmin = 2 * KP__STR_MIN(flex) + 2 + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, CP_MIN_V, CP_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Results = kp_rd_array(rd, flex, false, rmin);
    out->Results = kp__alloc(rd, pool, out->n_Results, sizeof(*out->Results));
    for (i = 0; i < out->n_Results && !rd->err; i++) {
        kp_CreatePartitionsTopicResult_t *r = &out->Results[i];
        r->Name = kp_rd_str(rd, flex);
        r->ErrorCode = kp_rd_i16(rd);
        r->ErrorMessage = kp_rd_nstr(rd, flex);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_CreatePartitionsResponse_encode(kp_wr_t *w, int version,
                                        const kp_CreatePartitionsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_CreatePartitions, version);
    int32_t i;

    st_assert(version >= CP_MIN_V && version <= CP_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Results);
    for (i = 0; i < m->n_Results; i++) {
        kp_wr_kstr(w, flex, m->Results[i].Name);
        kp_wr_i16(w, m->Results[i].ErrorCode);
        kp_wr_kstr(w, flex, m->Results[i].ErrorMessage);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- DescribeCluster ---- */

int kp_DescribeClusterRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_DescribeClusterRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeCluster, version);

    (void)pool;
    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DCL_MIN_V, DCL_MAX_V))
        return KP_EINVAL;
    out->IncludeClusterAuthorizedOperations = kp_rd_bool(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeClusterRequest_encode(kp_wr_t *w, int version,
                                      const kp_DescribeClusterRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeCluster, version);

    st_assert(version >= DCL_MIN_V && version <= DCL_MAX_V);
    kp_wr_bool(w, m->IncludeClusterAuthorizedOperations);
    kp_wr_tags_empty(w, flex);
}

int kp_DescribeClusterResponse_decode(kp_rd_t *rd, int version,
                                      mem_pool_t *pool,
                                      kp_DescribeClusterResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeCluster, version);
    size_t bmin = 4 + 2 * KP__STR_MIN(flex) + 4 + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DCL_MIN_V, DCL_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->ErrorCode = kp_rd_i16(rd);
    out->ErrorMessage = kp_rd_nstr(rd, flex);
    out->ClusterId = kp_rd_str(rd, flex);
    out->ControllerId = kp_rd_i32(rd);
    out->n_Brokers = kp_rd_array(rd, flex, false, bmin);
    out->Brokers = kp__alloc(rd, pool, out->n_Brokers, sizeof(*out->Brokers));
    for (i = 0; i < out->n_Brokers && !rd->err; i++) {
        kp_DescribeClusterBroker_t *b = &out->Brokers[i];
        b->BrokerId = kp_rd_i32(rd);
        b->Host = kp_rd_str(rd, flex);
        b->Port = kp_rd_i32(rd);
        b->Rack = kp_rd_nstr(rd, flex);
        kp_rd_tags(rd, flex);
    }
    out->ClusterAuthorizedOperations = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeClusterResponse_encode(kp_wr_t *w, int version,
                                       const kp_DescribeClusterResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeCluster, version);
    int32_t i;

    st_assert(version >= DCL_MIN_V && version <= DCL_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_i16(w, m->ErrorCode);
    kp_wr_kstr(w, flex, m->ErrorMessage);
    kp_wr_kstr(w, flex, m->ClusterId);
    kp_wr_i32(w, m->ControllerId);
    kp_wr_array(w, flex, m->n_Brokers);
    for (i = 0; i < m->n_Brokers; i++) {
        const kp_DescribeClusterBroker_t *b = &m->Brokers[i];
        kp_wr_i32(w, b->BrokerId);
        kp_wr_kstr(w, flex, b->Host);
        kp_wr_i32(w, b->Port);
        kp_wr_kstr(w, flex, b->Rack);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_i32(w, m->ClusterAuthorizedOperations);
    kp_wr_tags_empty(w, flex);
}

/* ---- DescribeLogDirs ---- */

int kp_DescribeLogDirsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                     kp_DescribeLogDirsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeLogDirs, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    int32_t i;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DLD_MIN_V, DLD_MAX_V))
        return KP_EINVAL;
    out->n_Topics = kp_rd_array(rd, flex, true, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_DescribableLogDirTopic_t *t = &out->Topics[i];
        t->Topic = kp_rd_str(rd, flex);
        kp__rd_i32s(rd, flex, false, pool, &t->n_Partitions, &t->Partitions);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeLogDirsRequest_encode(kp_wr_t *w, int version,
                                      const kp_DescribeLogDirsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeLogDirs, version);
    int32_t i;

    st_assert(version >= DLD_MIN_V && version <= DLD_MAX_V);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        kp_wr_kstr(w, flex, m->Topics[i].Topic);
        kp__wr_i32s(w, flex, m->Topics[i].n_Partitions,
                    m->Topics[i].Partitions);
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

int kp_DescribeLogDirsResponse_decode(kp_rd_t *rd, int version,
                                      mem_pool_t *pool,
                                      kp_DescribeLogDirsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DescribeLogDirs, version);
    size_t rmin =
        2 + KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 8 + 8 + 1 + KP__TAGS_MIN(flex);
    int32_t i, j, k;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DLD_MIN_V, DLD_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Results = kp_rd_array(rd, flex, false, rmin);
    out->Results = kp__alloc(rd, pool, out->n_Results, sizeof(*out->Results));
    for (i = 0; i < out->n_Results && !rd->err; i++) {
        kp_DescribeLogDirsResult_t *r = &out->Results[i];
        r->ErrorCode = kp_rd_i16(rd);
        r->LogDir = kp_rd_str(rd, flex);
        r->n_Topics = kp_rd_array(rd, flex, false, tmin);
        r->Topics = kp__alloc(rd, pool, r->n_Topics, sizeof(*r->Topics));
        for (j = 0; j < r->n_Topics && !rd->err; j++) {
            kp_DescribeLogDirsTopic_t *t = &r->Topics[j];
            t->Name = kp_rd_str(rd, flex);
            t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
            t->Partitions =
                kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
            for (k = 0; k < t->n_Partitions && !rd->err; k++) {
                kp_DescribeLogDirsPartition_t *p = &t->Partitions[k];
                p->PartitionIndex = kp_rd_i32(rd);
                p->PartitionSize = kp_rd_i64(rd);
                p->OffsetLag = kp_rd_i64(rd);
                p->IsFutureKey = kp_rd_bool(rd);
                kp_rd_tags(rd, flex);
            }
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DescribeLogDirsResponse_encode(kp_wr_t *w, int version,
                                       const kp_DescribeLogDirsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DescribeLogDirs, version);
    int32_t i, j, k;

    st_assert(version >= DLD_MIN_V && version <= DLD_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Results);
    for (i = 0; i < m->n_Results; i++) {
        const kp_DescribeLogDirsResult_t *r = &m->Results[i];
        kp_wr_i16(w, r->ErrorCode);
        kp_wr_kstr(w, flex, r->LogDir);
        kp_wr_array(w, flex, r->n_Topics);
        for (j = 0; j < r->n_Topics; j++) {
            const kp_DescribeLogDirsTopic_t *t = &r->Topics[j];
            kp_wr_kstr(w, flex, t->Name);
            kp_wr_array(w, flex, t->n_Partitions);
            for (k = 0; k < t->n_Partitions; k++) {
                const kp_DescribeLogDirsPartition_t *p = &t->Partitions[k];
                kp_wr_i32(w, p->PartitionIndex);
                kp_wr_i64(w, p->PartitionSize);
                kp_wr_i64(w, p->OffsetLag);
                kp_wr_bool(w, p->IsFutureKey);
                kp_wr_tags_empty(w, flex);
            }
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}

/* ---- DeleteRecords ---- */

int kp_DeleteRecordsRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                   kp_DeleteRecordsRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteRecords, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 8 + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DR_MIN_V, DR_MAX_V))
        return KP_EINVAL;
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_DeleteRecordsTopic_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            t->Partitions[j].PartitionIndex = kp_rd_i32(rd);
            t->Partitions[j].Offset = kp_rd_i64(rd);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    out->TimeoutMs = kp_rd_i32(rd);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteRecordsRequest_encode(kp_wr_t *w, int version,
                                    const kp_DeleteRecordsRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteRecords, version);
    int32_t i, j;

    st_assert(version >= DR_MIN_V && version <= DR_MAX_V);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_DeleteRecordsTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            kp_wr_i32(w, t->Partitions[j].PartitionIndex);
            kp_wr_i64(w, t->Partitions[j].Offset);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_i32(w, m->TimeoutMs);
    kp_wr_tags_empty(w, flex);
}

int kp_DeleteRecordsResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                                    kp_DeleteRecordsResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_DeleteRecords, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 8 + 2 + KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, DR_MIN_V, DR_MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd);
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_DeleteRecordsTopicResult_t *t = &out->Topics[i];
        t->Name = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            t->Partitions[j].PartitionIndex = kp_rd_i32(rd);
            t->Partitions[j].LowWatermark = kp_rd_i64(rd);
            t->Partitions[j].ErrorCode = kp_rd_i16(rd);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_DeleteRecordsResponse_encode(kp_wr_t *w, int version,
                                     const kp_DeleteRecordsResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_DeleteRecords, version);
    int32_t i, j;

    st_assert(version >= DR_MIN_V && version <= DR_MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_DeleteRecordsTopicResult_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Name);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            kp_wr_i32(w, t->Partitions[j].PartitionIndex);
            kp_wr_i64(w, t->Partitions[j].LowWatermark);
            kp_wr_i16(w, t->Partitions[j].ErrorCode);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
