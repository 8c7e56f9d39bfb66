/* Produce: decode, check every batch (length, magic 2, CRC32C, size), then
 * send each partition's records to its owner, where the batch aggregator
 * assigns offsets and writes them (brk_part.c). The response is encoded
 * once every partition has answered; acks=0 sends none.
 *
 * Versions 0-2 carry legacy message sets (magic 0 and 1): like Kafka, the
 * broker up-converts them here, on the connection's shard, into one v2
 * batch per partition, so storage and every reader only ever see v2. The
 * newer versions must carry v2 batches, the older ones must not. */
#include "broker/brk.h"
#include "broker/brk_metrics.h"
#include "storage/legacy.h"

#include <errno.h>
#include <string.h>

struct produce_ctx {
    kp_ProduceRequest_t m;
    kp_ProduceResponse_t r;
};

/* Counts the records written per topic, and the request's outcome: the
 * first partition error (decode-time ones included). */
static void produce_count(brk_rq_t *rq)
{
    for (int k = 0; k < rq->nops; k++) {
        brk_pop_t *op = rq->ops[k];
        if (!op)
            continue;
        if (op->err != KP_ERR_NONE) {
            brk_rq_error(rq, op->err);
            continue;
        }
        met_topic_in(rq->sh->met, op->topic->id, op->topic->name,
                     op->topic->name_len, op->rec_len, (uint64_t)op->rec_count);
    }
}

static void produce_done(brk_rq_t *rq)
{
    struct produce_ctx *c = rq->msg;
    int k = 0;

    produce_count(rq);
    if (rq->req->no_response) {
        brk_rq_finish(rq);
        return;
    }
    for (int32_t i = 0; i < c->r.n_Responses; i++) {
        kp_ProduceTopicResponse_t *tr = &c->r.Responses[i];
        for (int32_t j = 0; j < tr->n_PartitionResponses; j++) {
            kp_ProducePartitionResponse_t *pr = &tr->PartitionResponses[j];
            brk_pop_t *op = rq->ops[k++];
            if (!op)
                continue; /* answered at decode time */
            pr->ErrorCode = op->err;
            pr->BaseOffset = op->err ? -1 : op->base_offset;
            pr->LogStartOffset = op->err ? -1 : op->log_start;
            pr->LogAppendTimeMs = op->err ? -1 : op->ts_out;
        }
    }
    brk_resp_begin(rq);
    kp_ProduceResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &c->r);
    brk_rq_finish(rq);
}

/* Legacy records become one v2 batch in op->owned. */
static kp_err_t upconvert(brk_pop_t *op, const kp_records_t *rec)
{
    size_t len = 0;
    int32_t n = 0;
    int64_t now = st_wall_ms();
    int rc = log_legacy_upconvert(rec->p, (size_t)rec->len, now, &op->owned,
                                  &len, &n);
    if (rc == -EFBIG)
        return KP_ERR_MESSAGE_TOO_LARGE;
    if (rc == -ENOMEM)
        return KP_ERR_UNKNOWN_SERVER_ERROR;
    if (rc < 0)
        return KP_ERR_CORRUPT_MESSAGE;
    op->records = op->owned;
    op->rec_len = len;
    /* the batch says LogAppendTime when a message had no CreateTime */
    if (st_be16(op->owned + 21) & 8)
        op->ts_out = now;
    return KP_ERR_NONE;
}

static kp_err_t check_records(const brk_topic_t *t, int version,
                              kp_records_t *rec, brk_pop_t *op)
{
    log_batches_summary_t sum;
    int magic, rc;
    if (rec->len <= 0)
        return KP_ERR_CORRUPT_MESSAGE;
    magic = log_records_magic(rec->p, (size_t)rec->len);
    op->records = (uint8_t *)rec->p;
    op->rec_len = (size_t)rec->len;
    if ((version < 3) != (magic == 0 || magic == 1))
        return KP_ERR_CORRUPT_MESSAGE;
    if (version < 3) {
        kp_err_t err = upconvert(op, rec);
        if (err != KP_ERR_NONE)
            return err;
    }
    rc = log_batches_validate(op->records, op->rec_len, &sum);
    if (rc != 0)
        return KP_ERR_CORRUPT_MESSAGE;
    if (sum.max_batch_size > t->cfg.max_message_bytes)
        return KP_ERR_MESSAGE_TOO_LARGE;
    op->rec_count = (int32_t)sum.records;
    return KP_ERR_NONE;
}

void brk_handle_Produce(brk_rq_t *rq)
{
    struct produce_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    int total = 0, k = 0;

    if (!c || kp_ProduceRequest_decode(&rq->body, rq->hdr.ApiVersion, rq->pool,
                                       &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    rq->on_done = produce_done;
    for (int32_t i = 0; i < c->m.n_TopicData; i++)
        total += c->m.TopicData[i].n_PartitionData;
    c->r.n_Responses = c->m.n_TopicData;
    c->r.Responses = mem_pool_calloc(rq->pool, (size_t)c->m.n_TopicData + 1,
                                     sizeof(*c->r.Responses));
    rq->ops = mem_pool_calloc(rq->pool, (size_t)total + 1, sizeof(*rq->ops));
    if (!c->r.Responses || !rq->ops) {
        brk_rq_bad(rq, "too large");
        return;
    }
    rq->nops = total;
    if (c->m.Acks == 0)
        rq->req->no_response = true;

    rq->pending = 1;
    for (int32_t i = 0; i < c->m.n_TopicData; i++) {
        kp_ProduceTopic_t *td = &c->m.TopicData[i];
        kp_ProduceTopicResponse_t *tr = &c->r.Responses[i];
        const brk_topic_t *t =
            brk_topics_find(rq->snap, td->Name.p, (size_t)td->Name.len);
        tr->Name = td->Name;
        tr->n_PartitionResponses = td->n_PartitionData;
        tr->PartitionResponses =
            mem_pool_calloc(rq->pool, (size_t)td->n_PartitionData + 1,
                            sizeof(*tr->PartitionResponses));
        if (!tr->PartitionResponses) {
            tr->n_PartitionResponses = 0;
            k += td->n_PartitionData;
            continue;
        }
        for (int32_t j = 0; j < td->n_PartitionData; j++, k++) {
            kp_ProducePartition_t *pd = &td->PartitionData[j];
            kp_ProducePartitionResponse_t *pr = &tr->PartitionResponses[j];
            brk_pop_t *op = mem_pool_calloc(rq->pool, 1, sizeof(*op));
            kp_err_t err = KP_ERR_NONE;

            pr->Index = pd->Index;
            pr->BaseOffset = -1;
            pr->LogAppendTimeMs = -1;
            pr->LogStartOffset = -1;
            if (!op) {
                pr->ErrorCode = KP_ERR_UNKNOWN_SERVER_ERROR;
                continue;
            }
            /* Registered first, so that up-converted records are freed
             * with the request whatever happens next. */
            rq->ops[k] = op;
            op->ts_out = -1;
            if (!t || pd->Index < 0 || pd->Index >= t->nparts)
                err = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
            else if (brk_topic_is_internal(t->name, t->name_len))
                /* Only the group coordinator writes __consumer_offsets
                 * (Kafka refuses clients the same way). */
                err = KP_ERR_INVALID_TOPIC_EXCEPTION;
            else if (c->m.Acks != 0 && c->m.Acks != 1 && c->m.Acks != -1)
                err = KP_ERR_INVALID_REQUIRED_ACKS;
            else if (c->m.TransactionalId.len >= 0)
                /* No transactions: refuse rather than write records we
                 * cannot commit, with the final error InitProducerId
                 * gives a transactional id. */
                err = KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
            else
                err = check_records(t, rq->hdr.ApiVersion, &pd->Records, op);
            if (err != KP_ERR_NONE) {
                op->err = err;
                continue;
            }
            op->kind = BRK_POP_PRODUCE;
            op->topic = t;
            op->partition = pd->Index;
            /* The records (the frame buffer, or the up-converted copy) are
             * ours until the request is freed, so the owner may rewrite
             * base offsets in place. */
            op->acks = c->m.Acks;
            brk_pop_send(rq, op);
        }
    }
    brk_rq_hint_home(rq);
    if (--rq->pending == 0)
        produce_done(rq);
}
