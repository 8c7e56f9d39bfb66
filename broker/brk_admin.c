/* Metadata, ListOffsets, DeleteRecords, CreateTopics and DeleteTopics.
 *
 * Metadata answers from the shard's topic snapshot. Missing topics are
 * created first when the client allows it and auto.create.topics.enable is
 * on; the answer then waits for the controller, so the topic it lists is
 * usable on every connection. This broker is the only one and the
 * controller; it advertises advertised.listeners, else its listener's
 * address, else (a wildcard listener) the address the client reached it
 * on — never "localhost". */
#include "broker/brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ================= Metadata ================= */

struct md_ctx {
    kp_MetadataRequest_t m;
    brk_ctl_req_t ctl;
};

static void metadata_answer(brk_rq_t *rq)
{
    struct md_ctx *c = rq->msg;
    brk_t *b = rq->sh->b;
    const brk_topics_t *snap = rq->snap;
    kp_MetadataResponse_t r = {0};
    kp_MetadataBroker_t br = {0};
    int32_t *nodes = mem_pool_calloc(rq->pool, 1, sizeof(int32_t));
    bool all =
        c->m.n_Topics < 0 || (rq->hdr.ApiVersion == 0 && c->m.n_Topics == 0);
    int32_t n = all ? snap->n : c->m.n_Topics;
    const char *host =
        b->adv_host[0] ? b->adv_host : net_conn_local_host(rq->req->conn);

    size_t need = ((size_t)n + 1) * sizeof(*r.Topics) + 4096;
    mem_pool_t *rp;
    bool *off; /* of each topic's partitions: failed to open */

    /* The answer to "all topics" grows with the broker's partitions, not
     * with the request, so it cannot come from the request's pool (whose
     * limit follows the frame size): it gets a pool of its own, sized to
     * the snapshot and freed once encoded. */
    for (int32_t i = 0; all && i < n; i++)
        need += (size_t)snap->topics[i].nparts *
                    (sizeof(*r.Topics->Partitions) + sizeof(bool)) +
                32;
    for (int32_t i = 0; !all && i < n; i++) {
        const brk_topic_t *t =
            brk_topics_find(snap, c->m.Topics[i].p, (size_t)c->m.Topics[i].len);
        need += t ? (size_t)t->nparts *
                            (sizeof(*r.Topics->Partitions) + sizeof(bool)) +
                        32
                  : 0;
    }
    /* A chunk abandons at most the size of the allocation that did not
     * fit, so twice the need is always enough. */
    rp = mem_pool_new(16384, 2 * need + 32768);
    if (!nodes || !rp)
        goto oom;
    nodes[0] = b->cfg->node_id;
    br.NodeId = b->cfg->node_id;
    br.Host.p = host;
    br.Host.len = (int32_t)strlen(host);
    /* The bound port is known before any shard runs, so reading it from
     * the server (not from b, filled in later) cannot race. */
    br.Port = b->adv_port > 0 ? b->adv_port
                              : net_server_port(net_shard_server(rq->sh->ns));
    br.Rack.len = -1;
    r.n_Brokers = 1;
    r.Brokers = &br;
    r.ClusterId.p = b->cluster_id;
    r.ClusterId.len = (int32_t)strlen(b->cluster_id);
    r.ControllerId = b->cfg->node_id;
    r.n_Topics = n;
    r.Topics = mem_pool_calloc(rp, (size_t)n + 1, sizeof(*r.Topics));
    if (!r.Topics)
        goto oom;
    for (int32_t i = 0; i < n; i++) {
        kp_MetadataTopic_t *mt = &r.Topics[i];
        const brk_topic_t *t;
        if (all) {
            t = &snap->topics[i];
            mt->Name.p = t->name;
            mt->Name.len = (int32_t)t->name_len;
        } else {
            mt->Name = c->m.Topics[i];
            t = brk_topics_find(snap, mt->Name.p, (size_t)mt->Name.len);
        }
        if (!t) {
            mt->ErrorCode =
                brk_topic_name_valid(mt->Name.p, (size_t)mt->Name.len)
                    ? KP_ERR_UNKNOWN_TOPIC_OR_PARTITION
                    : KP_ERR_INVALID_TOPIC_EXCEPTION;
            continue;
        }
        mt->IsInternal = brk_topic_is_internal(t->name, t->name_len);
        mt->n_Partitions = t->nparts;
        mt->Partitions =
            mem_pool_calloc(rp, (size_t)t->nparts, sizeof(*mt->Partitions));
        off = mem_pool_calloc(rp, (size_t)t->nparts, sizeof(*off));
        if (!mt->Partitions || !off)
            goto oom;
        brk_offline_of(b, t->id, t->nparts, off);
        for (int32_t p = 0; p < t->nparts; p++) {
            kp_MetadataPartition_t *mp = &mt->Partitions[p];
            mp->PartitionIndex = p;
            mp->LeaderId = b->cfg->node_id;
            mp->LeaderEpoch = 0;
            mp->n_ReplicaNodes = mp->n_IsrNodes = 1;
            mp->ReplicaNodes = mp->IsrNodes = nodes;
            mp->n_OfflineReplicas = 0;
            mp->OfflineReplicas = nodes;
            if (off[p]) {
                /* It failed to open: its only replica is offline. */
                mp->ErrorCode = KP_ERR_LEADER_NOT_AVAILABLE;
                mp->LeaderId = -1;
                mp->n_IsrNodes = 0;
                mp->n_OfflineReplicas = 1;
            }
        }
    }
    for (int32_t i = 0; i < r.n_Topics; i++)
        brk_rq_error(rq, r.Topics[i].ErrorCode);
    brk_resp_begin(rq);
    kp_MetadataResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    mem_pool_free(rp);
    brk_rq_finish(rq);
    return;
oom:
    mem_pool_free(rp);
    brk_rq_bad(rq, "out of memory");
}

static void metadata_created(brk_rq_t *rq, brk_ctl_req_t *ctl)
{
    (void)ctl;
    /* The shard applied the change before this answer came back: answer
     * from the snapshot that has the new topics. */
    brk_topics_unref(rq->snap);
    rq->snap = brk_topics_ref(rq->sh->topics);
    metadata_answer(rq);
}

static int cmp_name(const void *a, const void *b)
{
    const kp_str_t *x = a, *y = b;
    int32_t xl = x->len < 0 ? 0 : x->len, yl = y->len < 0 ? 0 : y->len;
    int c =
        memcmp(x->p ? x->p : "", y->p ? y->p : "", (size_t)(xl < yl ? xl : yl));
    if (c)
        return c;
    return xl != yl ? (xl < yl ? -1 : 1)
                    : (x->len > y->len) - (x->len < y->len);
}

void brk_handle_Metadata(brk_rq_t *rq)
{
    struct md_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    brk_t *b = rq->sh->b;
    int missing = 0;

    if (!c || kp_MetadataRequest_decode(&rq->body, rq->hdr.ApiVersion, rq->pool,
                                        &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    /* Kafka treats the names as a set. Answering each copy would let a
     * small request naming a big topic many times ask for a huge answer. */
    if (c->m.n_Topics > 1) {
        int32_t u = 1;
        qsort(c->m.Topics, (size_t)c->m.n_Topics, sizeof(*c->m.Topics),
              cmp_name);
        for (int32_t i = 1; i < c->m.n_Topics; i++)
            if (cmp_name(&c->m.Topics[i], &c->m.Topics[u - 1]) != 0)
                c->m.Topics[u++] = c->m.Topics[i];
        c->m.n_Topics = u;
    }
    if (c->m.n_Topics > 0 && c->m.AllowAutoTopicCreation &&
        b->cfg->auto_create_topics_enable) {
        c->ctl.topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics,
                                        sizeof(*c->ctl.topics));
        for (int32_t i = 0; c->ctl.topics && i < c->m.n_Topics; i++) {
            kp_str_t nm = c->m.Topics[i];
            brk_new_topic_t *nt = &c->ctl.topics[missing];
            if (brk_topics_find(rq->snap, nm.p, (size_t)nm.len) ||
                !brk_topic_name_valid(nm.p, (size_t)nm.len))
                continue;
            nt->name = nm.p;
            nt->name_len = (size_t)nm.len;
            nt->nparts = b->cfg->num_partitions;
            brk_topic_config_defaults(&nt->cfg, b->cfg);
            missing++;
        }
    }
    if (missing == 0) {
        metadata_answer(rq);
        return;
    }
    c->ctl.create = true;
    c->ctl.auto_create = true;
    c->ctl.n = missing;
    c->ctl.done = metadata_created;
    brk_ctl_submit(rq, &c->ctl);
}

/* ================= per-partition requests ================= */

/* ListOffsets and DeleteRecords are one op per partition they name, sent
 * to the partition's owner. ops_begin gives rq->ops one slot per named
 * partition, in request order, and holds the request open until ops_end;
 * it returns false (the request answered as bad) when too large. */
static bool ops_begin(brk_rq_t *rq, int total, void (*done)(brk_rq_t *rq))
{
    rq->on_done = done;
    rq->ops = mem_pool_calloc(rq->pool, (size_t)total + 1, sizeof(*rq->ops));
    if (!rq->ops) {
        brk_rq_bad(rq, "too large");
        return false;
    }
    rq->nops = total;
    rq->pending = 1;
    return true;
}

/* The op of `kind` for partition `index` of t, in slot k; the caller fills
 * in its inputs and sends it. NULL, leaving the slot empty (answered
 * UNKNOWN_TOPIC_OR_PARTITION), for no topic, an index out of range, or no
 * memory. */
static brk_pop_t *op_new(brk_rq_t *rq, int k, const brk_topic_t *t,
                         int32_t index, enum brk_pop_kind kind)
{
    brk_pop_t *op;
    if (!t || index < 0 || index >= t->nparts ||
        !(op = mem_pool_calloc(rq->pool, 1, sizeof(*op))))
        return NULL;
    op->kind = kind;
    op->topic = t;
    op->partition = index;
    rq->ops[k] = op;
    return op;
}

static void ops_end(brk_rq_t *rq)
{
    if (--rq->pending == 0)
        rq->on_done(rq);
}

/* ================= ListOffsets ================= */

static void list_done(brk_rq_t *rq)
{
    kp_ListOffsetsRequest_t *m = rq->msg;
    kp_ListOffsetsResponse_t r = {0};
    int k = 0;
    r.n_Topics = m->n_Topics;
    r.Topics =
        mem_pool_calloc(rq->pool, (size_t)m->n_Topics + 1, sizeof(*r.Topics));
    if (!r.Topics)
        goto oom;
    for (int32_t i = 0; i < m->n_Topics; i++) {
        kp_ListOffsetsTopicResponse_t *tr = &r.Topics[i];
        tr->Name = m->Topics[i].Name;
        tr->n_Partitions = m->Topics[i].n_Partitions;
        tr->Partitions = mem_pool_calloc(rq->pool, (size_t)tr->n_Partitions + 1,
                                         sizeof(*tr->Partitions));
        if (!tr->Partitions)
            goto oom;
        for (int32_t j = 0; j < tr->n_Partitions; j++, k++) {
            kp_ListOffsetsPartitionResponse_t *pr = &tr->Partitions[j];
            brk_pop_t *op = rq->ops[k];
            pr->PartitionIndex = m->Topics[i].Partitions[j].PartitionIndex;
            pr->Timestamp = -1;
            pr->Offset = -1;
            if (!op) {
                pr->ErrorCode = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                continue;
            }
            pr->ErrorCode = op->err;
            if (op->err)
                continue;
            pr->Offset = op->base_offset;
            pr->Timestamp = op->ts_out;
            if (rq->hdr.ApiVersion == 0) {
                /* v0 lists offsets, at most MaxNumOffsets, newest first;
                 * "none found" is an empty list. */
                pr->OldStyleOffsets = mem_pool_calloc(rq->pool, 1, 8);
                if (!pr->OldStyleOffsets)
                    goto oom;
                pr->n_OldStyleOffsets =
                    op->base_offset >= 0 &&
                            m->Topics[i].Partitions[j].MaxNumOffsets > 0
                        ? 1
                        : 0;
                pr->OldStyleOffsets[0] = op->base_offset;
            }
        }
    }
    for (int32_t i = 0; i < r.n_Topics; i++)
        for (int32_t j = 0; j < r.Topics[i].n_Partitions; j++)
            brk_rq_error(rq, r.Topics[i].Partitions[j].ErrorCode);
    brk_resp_begin(rq);
    kp_ListOffsetsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
    return;
oom:
    brk_rq_bad(rq, "out of memory");
}

void brk_handle_ListOffsets(brk_rq_t *rq)
{
    kp_ListOffsetsRequest_t *m = mem_pool_calloc(rq->pool, 1, sizeof(*m));
    int total = 0, k = 0;
    if (!m || kp_ListOffsetsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                           rq->pool, m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = m;
    for (int32_t i = 0; i < m->n_Topics; i++)
        total += m->Topics[i].n_Partitions;
    if (!ops_begin(rq, total, list_done))
        return;
    for (int32_t i = 0; i < m->n_Topics; i++) {
        kp_ListOffsetsTopic_t *lt = &m->Topics[i];
        const brk_topic_t *t =
            brk_topics_find(rq->snap, lt->Name.p, (size_t)lt->Name.len);
        for (int32_t j = 0; j < lt->n_Partitions; j++, k++) {
            kp_ListOffsetsPartition_t *lp = &lt->Partitions[j];
            brk_pop_t *op =
                op_new(rq, k, t, lp->PartitionIndex, BRK_POP_LIST_OFFSETS);
            if (op) {
                op->timestamp = lp->Timestamp;
                brk_pop_send(rq, op);
            }
        }
    }
    ops_end(rq);
}

/* ================= DeleteRecords ================= */

/* Each partition goes to its owner shard (brk_part.c), which moves the log
 * start offset and answers once that is durable. Kafka refuses the
 * internal topic: its records are the group coordinator's state. */
static void delete_records_done(brk_rq_t *rq)
{
    kp_DeleteRecordsRequest_t *m = rq->msg;
    kp_DeleteRecordsResponse_t r = {0};
    int k = 0;
    r.n_Topics = m->n_Topics;
    r.Topics =
        mem_pool_calloc(rq->pool, (size_t)m->n_Topics + 1, sizeof(*r.Topics));
    if (!r.Topics)
        goto oom;
    for (int32_t i = 0; i < m->n_Topics; i++) {
        kp_DeleteRecordsTopicResult_t *tr = &r.Topics[i];
        kp_str_t name = m->Topics[i].Name;
        bool internal = brk_topic_is_internal(name.p, (size_t)name.len);
        tr->Name = name;
        tr->n_Partitions = m->Topics[i].n_Partitions;
        tr->Partitions = mem_pool_calloc(rq->pool, (size_t)tr->n_Partitions + 1,
                                         sizeof(*tr->Partitions));
        if (!tr->Partitions)
            goto oom;
        for (int32_t j = 0; j < tr->n_Partitions; j++, k++) {
            kp_DeleteRecordsPartitionResult_t *pr = &tr->Partitions[j];
            brk_pop_t *op = rq->ops[k];
            pr->PartitionIndex = m->Topics[i].Partitions[j].PartitionIndex;
            pr->LowWatermark = -1;
            if (internal)
                pr->ErrorCode = KP_ERR_INVALID_TOPIC_EXCEPTION;
            else if (!op)
                pr->ErrorCode = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (!(pr->ErrorCode = op->err))
                pr->LowWatermark = op->log_start;
            brk_rq_error(rq, pr->ErrorCode);
        }
    }
    brk_resp_begin(rq);
    kp_DeleteRecordsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
    return;
oom:
    brk_rq_bad(rq, "out of memory");
}

void brk_handle_DeleteRecords(brk_rq_t *rq)
{
    kp_DeleteRecordsRequest_t *m = mem_pool_calloc(rq->pool, 1, sizeof(*m));
    int total = 0, k = 0;
    if (!m || kp_DeleteRecordsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                             rq->pool, m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = m;
    for (int32_t i = 0; i < m->n_Topics; i++)
        total += m->Topics[i].n_Partitions;
    if (!ops_begin(rq, total, delete_records_done))
        return;
    for (int32_t i = 0; i < m->n_Topics; i++) {
        kp_DeleteRecordsTopic_t *dt = &m->Topics[i];
        const brk_topic_t *t =
            brk_topics_find(rq->snap, dt->Name.p, (size_t)dt->Name.len);
        if (t && brk_topic_is_internal(t->name, t->name_len))
            t = NULL;
        for (int32_t j = 0; j < dt->n_Partitions; j++, k++) {
            kp_DeleteRecordsPartition_t *dp = &dt->Partitions[j];
            brk_pop_t *op =
                op_new(rq, k, t, dp->PartitionIndex, BRK_POP_DELETE_RECORDS);
            if (op) {
                op->offset = dp->Offset;
                brk_pop_send(rq, op);
            }
        }
    }
    ops_end(rq);
}

/* ================= CreateTopics ================= */

struct ct_ctx {
    kp_CreateTopicsRequest_t m;
    brk_ctl_req_t ctl;
};

static void create_done(brk_rq_t *rq, brk_ctl_req_t *ctl)
{
    kp_CreateTopicsResponse_t r = {0};
    r.n_Topics = ctl->n;
    r.Topics = mem_pool_calloc(rq->pool, (size_t)ctl->n + 1, sizeof(*r.Topics));
    if (!r.Topics) {
        brk_rq_bad(rq, "out of memory");
        return;
    }
    for (int i = 0; i < ctl->n; i++) {
        brk_new_topic_t *nt = &ctl->topics[i];
        r.Topics[i].Name.p = nt->name;
        r.Topics[i].Name.len = (int32_t)nt->name_len;
        r.Topics[i].ErrorCode = nt->err;
        r.Topics[i].ErrorMessage.len = -1;
        if (nt->err && nt->errmsg[0]) {
            r.Topics[i].ErrorMessage.p = nt->errmsg;
            r.Topics[i].ErrorMessage.len = (int32_t)strlen(nt->errmsg);
        }
    }
    for (int32_t i = 0; i < r.n_Topics; i++)
        brk_rq_error(rq, r.Topics[i].ErrorCode);
    brk_resp_begin(rq);
    kp_CreateTopicsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

static void validate_new_topic(brk_t *b, const kp_CreatableTopic_t *ct,
                               brk_new_topic_t *nt)
{
    nt->name = ct->Name.p;
    nt->name_len = (size_t)ct->Name.len;
    nt->nparts =
        ct->NumPartitions == -1 ? b->cfg->num_partitions : ct->NumPartitions;
    brk_topic_config_defaults(&nt->cfg, b->cfg);
    if (ct->n_Assignments > 0) {
        nt->err = KP_ERR_INVALID_REPLICA_ASSIGNMENT;
        snprintf(nt->errmsg, sizeof(nt->errmsg),
                 "manual replica assignment is not supported");
        return;
    }
    if (nt->nparts < 1 || nt->nparts > 100000) {
        nt->err = KP_ERR_INVALID_PARTITIONS;
        snprintf(nt->errmsg, sizeof(nt->errmsg),
                 "Number of partitions must be between 1 and 100000.");
        return;
    }
    if (ct->ReplicationFactor != -1 && ct->ReplicationFactor != 1) {
        nt->err = KP_ERR_INVALID_REPLICATION_FACTOR;
        snprintf(nt->errmsg, sizeof(nt->errmsg),
                 "Replication factor %d is larger than the 1 available "
                 "broker.",
                 ct->ReplicationFactor);
        return;
    }
    for (int32_t k = 0; k < ct->n_Configs; k++) {
        const kp_CreatableTopicConfig_t *cc = &ct->Configs[k];
        char err[128];
        if (cc->Value.len < 0) {
            nt->err = KP_ERR_INVALID_CONFIG;
            snprintf(nt->errmsg, sizeof(nt->errmsg), "config %.*s: null value",
                     (int)cc->Name.len, cc->Name.p);
            return;
        }
        if (brk_topic_config_set(&nt->cfg, cc->Name.p, (size_t)cc->Name.len,
                                 cc->Value.p, (size_t)cc->Value.len, err,
                                 sizeof(err)) != 0) {
            nt->err = KP_ERR_INVALID_CONFIG;
            snprintf(nt->errmsg, sizeof(nt->errmsg), "%s", err);
            return;
        }
    }
}

void brk_handle_CreateTopics(brk_rq_t *rq)
{
    struct ct_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    if (!c || kp_CreateTopicsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                            rq->pool, &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->ctl.create = true;
    c->ctl.validate_only = c->m.validateOnly;
    c->ctl.n = c->m.n_Topics;
    c->ctl.done = create_done;
    c->ctl.topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics + 1,
                                    sizeof(*c->ctl.topics));
    if (!c->ctl.topics) {
        brk_rq_bad(rq, "too large");
        return;
    }
    for (int32_t i = 0; i < c->m.n_Topics; i++)
        validate_new_topic(rq->sh->b, &c->m.Topics[i], &c->ctl.topics[i]);
    brk_ctl_submit(rq, &c->ctl);
}

/* ================= DeleteTopics ================= */

struct dt_ctx {
    kp_DeleteTopicsRequest_t m;
    brk_ctl_req_t ctl;
};

static void delete_done(brk_rq_t *rq, brk_ctl_req_t *ctl)
{
    kp_DeleteTopicsResponse_t r = {0};
    r.n_Responses = ctl->n;
    r.Responses =
        mem_pool_calloc(rq->pool, (size_t)ctl->n + 1, sizeof(*r.Responses));
    if (!r.Responses) {
        brk_rq_bad(rq, "out of memory");
        return;
    }
    for (int i = 0; i < ctl->n; i++) {
        r.Responses[i].Name.p = ctl->topics[i].name;
        r.Responses[i].Name.len = (int32_t)ctl->topics[i].name_len;
        r.Responses[i].ErrorCode = ctl->topics[i].err;
    }
    for (int32_t i = 0; i < r.n_Responses; i++)
        brk_rq_error(rq, r.Responses[i].ErrorCode);
    brk_resp_begin(rq);
    kp_DeleteTopicsResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

void brk_handle_DeleteTopics(brk_rq_t *rq)
{
    struct dt_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    if (!c || kp_DeleteTopicsRequest_decode(&rq->body, rq->hdr.ApiVersion,
                                            rq->pool, &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    c->ctl.n = c->m.n_TopicNames;
    c->ctl.done = delete_done;
    c->ctl.topics = mem_pool_calloc(rq->pool, (size_t)c->m.n_TopicNames + 1,
                                    sizeof(*c->ctl.topics));
    if (!c->ctl.topics) {
        brk_rq_bad(rq, "too large");
        return;
    }
    for (int32_t i = 0; i < c->m.n_TopicNames; i++) {
        c->ctl.topics[i].name = c->m.TopicNames[i].p;
        c->ctl.topics[i].name_len = (size_t)c->m.TopicNames[i].len;
        if (!rq->sh->b->cfg->delete_topic_enable)
            c->ctl.topics[i].err = KP_ERR_TOPIC_DELETION_DISABLED;
        /* The coordinator's topic: deleting it would lose every committed
         * offset (Kafka refuses it too). */
        else if (brk_topic_is_internal(c->m.TopicNames[i].p,
                                       (size_t)c->m.TopicNames[i].len))
            c->ctl.topics[i].err = KP_ERR_INVALID_TOPIC_EXCEPTION;
    }
    brk_ctl_submit(rq, &c->ctl);
}
