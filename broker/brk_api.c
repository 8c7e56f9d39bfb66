/* Request dispatch: one table of ApiKey → {min, max, handler} drives both
 * dispatch and the ApiVersions answer, so what is advertised is exactly
 * what is handled.
 *
 * A frame is checked in this order: ApiKey and version against the table
 * (an unknown key, or an ApiVersions version above ours, gets an
 * ApiVersions v0-format UNSUPPORTED_VERSION answer listing what we
 * support, as clients expect while negotiating; an unsupported version of
 * any other API closes the connection, since no answer the client could
 * parse exists), then the header, then the handler decodes the whole body
 * before acting. A body that does not decode closes the connection.
 *
 * Every request is counted here when it ends (brk_metrics.h): by API and
 * outcome, with its latency, on the connection's shard. */
#include "broker/brk.h"
#include "broker/brk_metrics.h"

#include <string.h>

static const brk_api_t apis[] = {
    /* Produce 0-2 carry legacy message sets, up-converted on arrival;
     * librdkafka also needs v0 in the range before it will compress with
     * gzip or snappy at all. */
    {KP_API_Produce, 0, 7, brk_handle_Produce},
    {KP_API_Fetch, 4, 11, brk_handle_Fetch},
    {KP_API_ListOffsets, 0, 3, brk_handle_ListOffsets},
    {KP_API_DeleteRecords, 0, 2, brk_handle_DeleteRecords},
    {KP_API_Metadata, 0, 7, brk_handle_Metadata},
    {KP_API_ApiVersions, 0, 3, brk_handle_ApiVersions},
    {KP_API_CreateTopics, 0, 4, brk_handle_CreateTopics},
    {KP_API_DeleteTopics, 0, 3, brk_handle_DeleteTopics},
    {KP_API_FindCoordinator, 0, 2, brk_handle_FindCoordinator},
    {KP_API_JoinGroup, 0, 5, brk_handle_JoinGroup},
    {KP_API_SyncGroup, 0, 3, brk_handle_SyncGroup},
    {KP_API_Heartbeat, 0, 3, brk_handle_Heartbeat},
    {KP_API_LeaveGroup, 0, 3, brk_handle_LeaveGroup},
    {KP_API_OffsetCommit, 0, 7, brk_handle_OffsetCommit},
    {KP_API_OffsetFetch, 0, 5, brk_handle_OffsetFetch},
    {KP_API_ListGroups, 0, 2, brk_handle_ListGroups},
    {KP_API_DescribeGroups, 0, 4, brk_handle_DescribeGroups},
    {KP_API_DeleteGroups, 0, 1, brk_handle_DeleteGroups},
    {KP_API_OffsetDelete, 0, 0, brk_handle_OffsetDelete},
    {KP_API_InitProducerId, 0, 1, brk_handle_InitProducerId},
    /* Operators' admin calls (brk_configs.c). */
    {KP_API_DescribeConfigs, 0, 3, brk_handle_DescribeConfigs},
    {KP_API_AlterConfigs, 0, 1, brk_handle_AlterConfigs},
    {KP_API_IncrementalAlterConfigs, 0, 1, brk_handle_IncrementalAlterConfigs},
    {KP_API_CreatePartitions, 0, 1, brk_handle_CreatePartitions},
    {KP_API_DescribeCluster, 0, 0, brk_handle_DescribeCluster},
    {KP_API_DescribeLogDirs, 0, 1, brk_handle_DescribeLogDirs},
};

const brk_api_t *brk_api_table(size_t *n)
{
    *n = ST_ARRAY_LEN(apis);
    return apis;
}

const brk_api_t *brk_api_find(int key)
{
    for (size_t i = 0; i < ST_ARRAY_LEN(apis); i++)
        if (apis[i].key == key)
            return &apis[i];
    return NULL;
}

void brk_write_versions(kp_wr_t *w, int version, kp_err_t err)
{
    kp_ApiVersion_t keys[ST_ARRAY_LEN(apis)];
    kp_ApiVersionsResponse_t m = {0};
    for (size_t i = 0; i < ST_ARRAY_LEN(apis); i++) {
        keys[i].ApiKey = apis[i].key;
        keys[i].MinVersion = apis[i].min;
        keys[i].MaxVersion = apis[i].max;
    }
    m.ErrorCode = err;
    m.n_ApiKeys = (int32_t)ST_ARRAY_LEN(apis);
    m.ApiKeys = keys;
    kp_ApiVersionsResponse_encode(w, version, &m);
}

void brk_resp_begin(brk_rq_t *rq)
{
    /* The ApiVersions response header is always v0, even for flexible
     * versions, so a client that does not yet know our versions can read
     * it. */
    bool flex = rq->hdr.ApiKey != KP_API_ApiVersions &&
                kp_api_is_flex(rq->hdr.ApiKey, rq->hdr.ApiVersion);
    kp_wr_resp_hdr(&rq->req->resp, flex, rq->hdr.CorrelationId);
}

/* Responses whose ErrorCode is a top-level field at a fixed place: first
 * in the body, or right after ThrottleTimeMs from version throttle_from
 * on, up to version max (later versions moved or dropped it). From the
 * Kafka schemas; the other APIs report through brk_rq_error(). */
static const struct top_error {
    int16_t key, throttle_from, max;
} top_errors[] = {
    {KP_API_ApiVersions, INT16_MAX, 4},  /* ThrottleTimeMs comes later */
    {KP_API_FindCoordinator, 1, 3},      /* v4+: per-key errors only */
    {KP_API_JoinGroup, 2, 9},            /* v0-1: ErrorCode first */
    {KP_API_Heartbeat, 1, 4},            /* v0: ErrorCode first */
    {KP_API_LeaveGroup, 1, 5},           /* v3+: member errors too */
    {KP_API_SyncGroup, 1, 5},            /* v0: ErrorCode first */
    {KP_API_ListGroups, 1, 5},           /* v0: ErrorCode first */
    {KP_API_OffsetDelete, INT16_MAX, 0}, /* ThrottleTimeMs comes later */
    {KP_API_InitProducerId, 0, 5},       /* always after ThrottleTimeMs */
    {KP_API_DescribeCluster, 0, 1},      /* always after ThrottleTimeMs */
};

/* The top-level ErrorCode of the response written so far, or NONE. */
static kp_err_t resp_top_error(const brk_rq_t *rq)
{
    const kp_wr_t *w = &rq->req->resp;
    int key = rq->hdr.ApiKey, version = rq->hdr.ApiVersion;
    size_t off;
    for (size_t i = 0; i < ST_ARRAY_LEN(top_errors); i++) {
        const struct top_error *t = &top_errors[i];
        if (t->key != key || version > t->max)
            continue;
        /* the header brk_resp_begin wrote: CorrelationId, then an empty
         * tag buffer (one byte) in the flexible header */
        off = 4 + (key != KP_API_ApiVersions && kp_api_is_flex(key, version));
        off += version >= t->throttle_from ? 4 : 0;
        return w->len >= off + 2 ? (kp_err_t)st_be16(w->buf + off)
                                 : KP_ERR_NONE;
    }
    return KP_ERR_NONE;
}

static int api_slot(int key)
{
    size_t n;
    const brk_api_t *tab = brk_api_table(&n);
    const brk_api_t *api = brk_api_find(key);
    return api ? (int)(api - tab) : (int)n;
}

static void count_request(net_req_t *req, met_shard_t *m, int key, kp_err_t err)
{
    met_request_done(m, api_slot(key), err, st_now_ns() - req->recv_ns);
}

void brk_rq_error(brk_rq_t *rq, kp_err_t err)
{
    if (rq->err == KP_ERR_NONE)
        rq->err = err;
}

void brk_rq_finish(brk_rq_t *rq)
{
    st_assert(!rq->finished);
    rq->finished = true;
    if (rq->err == KP_ERR_NONE && !rq->req->no_response)
        rq->err = resp_top_error(rq);
    count_request(rq->req, rq->sh->met, rq->hdr.ApiKey, rq->err);
    net_req_complete(rq->req);
}

void brk_rq_bad(brk_rq_t *rq, const char *what)
{
    char why[160];
    snprintf(why, sizeof(why), "malformed %s v%d request (%s)",
             kp_api_name(rq->hdr.ApiKey), rq->hdr.ApiVersion, what);
    rq->finished = true;
    count_request(rq->req, rq->sh->met, (int16_t)st_be16(rq->req->frame->data),
                  KP_ERR_INVALID_REQUEST);
    net_conn_abort(rq->req->conn, why);
    /* The request itself is still ours: complete it so it is freed. */
    net_req_complete(rq->req);
}

void brk_handle_ApiVersions(brk_rq_t *rq)
{
    kp_ApiVersionsRequest_t m;
    if (kp_ApiVersionsRequest_decode(&rq->body, rq->hdr.ApiVersion, rq->pool,
                                     &m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    brk_resp_begin(rq);
    brk_write_versions(&rq->req->resp, rq->hdr.ApiVersion, KP_ERR_NONE);
    brk_rq_finish(rq);
}

/* The v0-format UNSUPPORTED_VERSION answer (header v0, then ErrorCode and
 * the ApiKeys array): the shape every client can parse. */
static void answer_unsupported(net_req_t *req, int32_t correlation_id)
{
    kp_wr_resp_hdr(&req->resp, false, correlation_id);
    brk_write_versions(&req->resp, 0, KP_ERR_UNSUPPORTED_VERSION);
    net_req_complete(req);
}

void brk_on_req_free(net_req_t *req)
{
    brk_rq_t *rq = req->app;
    if (!rq)
        return;
    for (int i = 0; i < rq->nops; i++) {
        if (rq->ops[i]) {
            mem_unref(rq->ops[i]->slice.ref);
            mem_free(rq->ops[i]->owned);
        }
    }
    brk_topics_unref(rq->snap);
    mem_pool_free(rq->pool);
    mem_free(rq);
    req->app = NULL;
}

void brk_on_request(net_req_t *req)
{
    const uint8_t *f = req->frame->data;
    size_t len = req->frame->len;
    int key = (int16_t)st_be16(f), version = (int16_t)st_be16(f + 2);
    const brk_api_t *api = brk_api_find(key);
    brk_rq_t *rq;
    bool flex;

    if (!api || version < api->min || version > api->max) {
        count_request(req, ((brk_shard_t *)net_shard_app(req->shard))->met, key,
                      KP_ERR_UNSUPPORTED_VERSION);
        if (!api || key == KP_API_ApiVersions) {
            answer_unsupported(req, (int32_t)st_be32(f + 4));
        } else {
            char why[96];
            snprintf(why, sizeof(why), "unsupported %s version %d",
                     kp_api_name(key), version);
            net_conn_abort(req->conn, why);
            net_req_complete(req);
        }
        return;
    }
    rq = mem_calloc(1, sizeof(*rq));
    /* Everything a request allocates (decoded structures, one op and one
     * response entry per partition) is proportional to the partitions it
     * names, and array counts are checked against the bytes left, so a
     * linear limit in the frame size caps it. The factor covers the worst
     * case, ListOffsets v1: 12 request bytes per partition against ~250
     * bytes of op, decoded and response entries. */
    if (rq)
        rq->pool = mem_pool_new(4096, 64 * 1024 + 32 * (size_t)len);
    if (!rq || !rq->pool) {
        mem_free(rq);
        net_conn_abort(req->conn, "out of memory");
        net_req_complete(req);
        return;
    }
    req->app = rq;
    rq->req = req;
    rq->sh = net_shard_app(req->shard);
    rq->snap = brk_topics_ref(rq->sh->topics);
    flex = kp_api_is_flex(key, version);
    kp_rd_init(&rq->body, f, len);
    kp_rd_req_hdr(&rq->body, flex, &rq->hdr);
    if (rq->body.err) {
        brk_rq_bad(rq, "header");
        return;
    }
    api->handler(rq);
}
