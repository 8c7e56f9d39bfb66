/* Fetch (key 1), versions 4-11.
 *
 * The response is where zero-copy pays: each partition's records are
 * either memory (hot tier, spliced with a reference) or a file range (warm
 * and cold tiers, spliced for sendfile), and only the small framing around
 * them is written into the writer's own buffer. Error partitions carry null
 * records. Decoding (client side and tests) gives memory views. */
#include "net/kp_msg_int.h"

#include <string.h>

#include "alloc/st.h"

#define MIN_V 4
#define MAX_V 11

int kp_FetchRequest_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                           kp_FetchRequest_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Fetch, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + (version >= 9 ? 4 : 0) + 8 + (version >= 5 ? 8 : 0) + 4 +
                  KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    out->MaxBytes = 0x7fffffff;
    out->SessionEpoch = -1;
    out->RackId = (kp_str_t){"", 0};
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->ReplicaId = kp_rd_i32(rd);
    out->MaxWaitMs = kp_rd_i32(rd);
    out->MinBytes = kp_rd_i32(rd);
    out->MaxBytes = kp_rd_i32(rd);      /* v3+ */
    out->IsolationLevel = kp_rd_i8(rd); /* v4+ */
    if (version >= 7) {
        out->SessionId = kp_rd_i32(rd);
        out->SessionEpoch = kp_rd_i32(rd);
    }
    out->n_Topics = kp_rd_array(rd, flex, false, tmin);
    out->Topics = kp__alloc(rd, pool, out->n_Topics, sizeof(*out->Topics));
    for (i = 0; i < out->n_Topics && !rd->err; i++) {
        kp_FetchTopic_t *t = &out->Topics[i];
        t->Topic = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++) {
            kp_FetchPartition_t *p = &t->Partitions[j];
            p->Partition = kp_rd_i32(rd);
            p->CurrentLeaderEpoch = version >= 9 ? kp_rd_i32(rd) : -1;
            p->FetchOffset = kp_rd_i64(rd);
            p->LogStartOffset = version >= 5 ? kp_rd_i64(rd) : -1;
            p->PartitionMaxBytes = kp_rd_i32(rd);
            kp_rd_tags(rd, flex);
        }
        kp_rd_tags(rd, flex);
    }
    if (version >= 7) {
        out->n_ForgottenTopicsData = kp_rd_array(rd, flex, false, tmin);
        out->ForgottenTopicsData =
            kp__alloc(rd, pool, out->n_ForgottenTopicsData,
                      sizeof(*out->ForgottenTopicsData));
        for (i = 0; i < out->n_ForgottenTopicsData && !rd->err; i++) {
            kp_ForgottenTopic_t *f = &out->ForgottenTopicsData[i];
            f->Topic = kp_rd_str(rd, flex);
            kp__rd_i32s(rd, flex, false, pool, &f->n_Partitions,
                        &f->Partitions);
            kp_rd_tags(rd, flex);
        }
    }
    if (version >= 11)
        out->RackId = kp_rd_str(rd, flex);
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_FetchRequest_encode(kp_wr_t *w, int version, const kp_FetchRequest_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Fetch, version);
    int32_t i, j;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_i32(w, m->ReplicaId);
    kp_wr_i32(w, m->MaxWaitMs);
    kp_wr_i32(w, m->MinBytes);
    kp_wr_i32(w, m->MaxBytes);
    kp_wr_i8(w, m->IsolationLevel);
    if (version >= 7) {
        kp_wr_i32(w, m->SessionId);
        kp_wr_i32(w, m->SessionEpoch);
    }
    kp_wr_array(w, flex, m->n_Topics);
    for (i = 0; i < m->n_Topics; i++) {
        const kp_FetchTopic_t *t = &m->Topics[i];
        kp_wr_kstr(w, flex, t->Topic);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_FetchPartition_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->Partition);
            if (version >= 9)
                kp_wr_i32(w, p->CurrentLeaderEpoch);
            kp_wr_i64(w, p->FetchOffset);
            if (version >= 5)
                kp_wr_i64(w, p->LogStartOffset);
            kp_wr_i32(w, p->PartitionMaxBytes);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    if (version >= 7) {
        kp_wr_array(w, flex, m->n_ForgottenTopicsData);
        for (i = 0; i < m->n_ForgottenTopicsData; i++) {
            const kp_ForgottenTopic_t *f = &m->ForgottenTopicsData[i];
            kp_wr_kstr(w, flex, f->Topic);
            kp__wr_i32s(w, flex, f->n_Partitions, f->Partitions);
            kp_wr_tags_empty(w, flex);
        }
    }
    if (version >= 11)
        kp_wr_kstr(w, flex, m->RackId);
    kp_wr_tags_empty(w, flex);
}

static void rd_partition(kp_rd_t *rd, int version, bool flex, mem_pool_t *pool,
                         kp_FetchPartitionResponse_t *p)
{
    int32_t k;

    p->PartitionIndex = kp_rd_i32(rd);
    p->ErrorCode = kp_rd_i16(rd);
    p->HighWatermark = kp_rd_i64(rd);
    p->LastStableOffset = kp_rd_i64(rd); /* v4+ */
    p->LogStartOffset = version >= 5 ? kp_rd_i64(rd) : -1;
    p->n_AbortedTransactions =
        kp_rd_array(rd, flex, true, 16 + KP__TAGS_MIN(flex));
    p->AbortedTransactions = kp__alloc(rd, pool, p->n_AbortedTransactions,
                                       sizeof(*p->AbortedTransactions));
    for (k = 0; k < p->n_AbortedTransactions && !rd->err; k++) {
        p->AbortedTransactions[k].ProducerId = kp_rd_i64(rd);
        p->AbortedTransactions[k].FirstOffset = kp_rd_i64(rd);
        kp_rd_tags(rd, flex);
    }
    p->PreferredReadReplica = version >= 11 ? kp_rd_i32(rd) : -1;
    p->Records = kp__rd_records(rd, flex);
    kp_rd_tags(rd, flex);
}

int kp_FetchResponse_decode(kp_rd_t *rd, int version, mem_pool_t *pool,
                            kp_FetchResponse_t *out)
{
    bool flex = kp_api_is_flex(KP_API_Fetch, version);
    size_t tmin = KP__STR_MIN(flex) + KP__ARR_MIN(flex) + KP__TAGS_MIN(flex);
    size_t pmin = 4 + 2 + 8 + 8 + (version >= 5 ? 8 : 0) + KP__ARR_MIN(flex) +
                  (version >= 11 ? 4 : 0) + KP__BYTES_MIN(flex) +
                  KP__TAGS_MIN(flex);
    int32_t i, j;

    memset(out, 0, sizeof(*out));
    if (kp__version_ok(rd, version, MIN_V, MAX_V))
        return KP_EINVAL;
    out->ThrottleTimeMs = kp_rd_i32(rd); /* v1+ */
    if (version >= 7) {
        out->ErrorCode = kp_rd_i16(rd);
        out->SessionId = kp_rd_i32(rd);
    }
    out->n_Responses = kp_rd_array(rd, flex, false, tmin);
    out->Responses =
        kp__alloc(rd, pool, out->n_Responses, sizeof(*out->Responses));
    for (i = 0; i < out->n_Responses && !rd->err; i++) {
        kp_FetchTopicResponse_t *t = &out->Responses[i];
        t->Topic = kp_rd_str(rd, flex);
        t->n_Partitions = kp_rd_array(rd, flex, false, pmin);
        t->Partitions =
            kp__alloc(rd, pool, t->n_Partitions, sizeof(*t->Partitions));
        for (j = 0; j < t->n_Partitions && !rd->err; j++)
            rd_partition(rd, version, flex, pool, &t->Partitions[j]);
        kp_rd_tags(rd, flex);
    }
    kp_rd_tags(rd, flex);
    return rd->err;
}

void kp_FetchResponse_encode(kp_wr_t *w, int version,
                             const kp_FetchResponse_t *m)
{
    bool flex = kp_api_is_flex(KP_API_Fetch, version);
    int32_t i, j, k;

    st_assert(version >= MIN_V && version <= MAX_V);
    kp_wr_i32(w, m->ThrottleTimeMs);
    if (version >= 7) {
        kp_wr_i16(w, m->ErrorCode);
        kp_wr_i32(w, m->SessionId);
    }
    kp_wr_array(w, flex, m->n_Responses);
    for (i = 0; i < m->n_Responses; i++) {
        const kp_FetchTopicResponse_t *t = &m->Responses[i];
        kp_wr_kstr(w, flex, t->Topic);
        kp_wr_array(w, flex, t->n_Partitions);
        for (j = 0; j < t->n_Partitions; j++) {
            const kp_FetchPartitionResponse_t *p = &t->Partitions[j];
            kp_wr_i32(w, p->PartitionIndex);
            kp_wr_i16(w, p->ErrorCode);
            kp_wr_i64(w, p->HighWatermark);
            kp_wr_i64(w, p->LastStableOffset);
            if (version >= 5)
                kp_wr_i64(w, p->LogStartOffset);
            kp_wr_array(w, flex, p->n_AbortedTransactions);
            for (k = 0; k < p->n_AbortedTransactions; k++) {
                kp_wr_i64(w, p->AbortedTransactions[k].ProducerId);
                kp_wr_i64(w, p->AbortedTransactions[k].FirstOffset);
                kp_wr_tags_empty(w, flex);
            }
            if (version >= 11)
                kp_wr_i32(w, p->PreferredReadReplica);
            kp__wr_records(w, flex, &p->Records);
            kp_wr_tags_empty(w, flex);
        }
        kp_wr_tags_empty(w, flex);
    }
    kp_wr_tags_empty(w, flex);
}
