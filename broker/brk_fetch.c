/* Fetch: one round sends a read op to the owner of every requested
 * partition; each returns a slice of a segment file (refcounted) plus the
 * partition's offsets. If the round found fewer than MinBytes and MaxWaitMs
 * has not passed, the fetch leaves a watch ticket on every partition and
 * sleeps until an append wakes it or the timer fires, then runs another
 * round. The response splices the slices in by reference: tail reads of
 * an active segment as memory in its read mapping (the hot tier, sent with
 * the rest of the response by one writev), others as file ranges sent
 * from the page cache with sendfile.
 *
 * MaxBytes bounds the whole response: partitions are filled in request
 * order and the first one with data is always included whole, even when
 * larger (as Kafka does, so a consumer can always make progress).
 *
 * Fetch sessions (v7+) are declined: the response carries SessionId 0,
 * which tells the client to keep sending full fetch requests. */
#include "broker/brk.h"
#include "broker/brk_metrics.h"

#include <string.h>

struct fetch_ctx {
    kp_FetchRequest_t m;
    uint64_t deadline_ms; /* loop time */
    bool hinted;          /* brk_rq_hint_home done (first round) */
};

static void fetch_round(brk_rq_t *rq);

static void timer_closed(uv_handle_t *h)
{
    mem_free(h);
}

static void stop_waiting(brk_rq_t *rq)
{
    if (rq->wait) {
        atomic_store(&rq->wait->dead, true);
        rq->wait->rq = NULL;
        brk_wait_unref(rq->wait);
        rq->wait = NULL;
    }
    if (rq->timer) {
        uv_close((uv_handle_t *)rq->timer, timer_closed);
        rq->timer = NULL;
    }
}

static size_t round_bytes(brk_rq_t *rq)
{
    size_t n = 0;
    for (int i = 0; i < rq->nops; i++)
        if (rq->ops[i] && !rq->ops[i]->err)
            n += rq->ops[i]->slice.len;
    return n;
}

static bool round_has_error(brk_rq_t *rq)
{
    for (int i = 0; i < rq->nops; i++)
        if (!rq->ops[i] || rq->ops[i]->err)
            return true;
    return false;
}

static void release_slices(brk_rq_t *rq)
{
    for (int i = 0; i < rq->nops; i++) {
        if (rq->ops[i]) {
            mem_unref(rq->ops[i]->slice.ref);
            memset(&rq->ops[i]->slice, 0, sizeof(rq->ops[i]->slice));
        }
    }
}

static void respond(brk_rq_t *rq)
{
    struct fetch_ctx *c = rq->msg;
    kp_FetchResponse_t r = {0};
    int k = 0;
    int64_t budget = c->m.MaxBytes > 0 ? c->m.MaxBytes : 0;
    bool any = false;

    stop_waiting(rq);
    r.n_Responses = c->m.n_Topics;
    r.Responses = mem_pool_calloc(rq->pool, (size_t)c->m.n_Topics + 1,
                                  sizeof(*r.Responses));
    if (!r.Responses)
        goto oom;
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        kp_FetchTopic_t *ft = &c->m.Topics[i];
        kp_FetchTopicResponse_t *tr = &r.Responses[i];
        tr->Topic = ft->Topic;
        tr->n_Partitions = ft->n_Partitions;
        tr->Partitions = mem_pool_calloc(rq->pool, (size_t)ft->n_Partitions + 1,
                                         sizeof(*tr->Partitions));
        if (!tr->Partitions)
            goto oom;
        for (int32_t j = 0; j < ft->n_Partitions; j++, k++) {
            kp_FetchPartitionResponse_t *pr = &tr->Partitions[j];
            brk_pop_t *op = rq->ops[k];
            pr->PartitionIndex = ft->Partitions[j].Partition;
            pr->PreferredReadReplica = -1;
            pr->n_AbortedTransactions = -1;
            /* Empty, not null, records for every partition, errors
             * included: librdkafka refuses a null record set. */
            pr->Records.p = (const uint8_t *)"";
            pr->Records.len = 0;
            pr->Records.fd = -1;
            if (!op) {
                brk_rq_error(rq, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
                pr->ErrorCode = KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
                pr->HighWatermark = pr->LastStableOffset = -1;
                pr->LogStartOffset = -1;
                continue;
            }
            pr->ErrorCode = op->err;
            pr->HighWatermark =
                op->err == KP_ERR_UNKNOWN_TOPIC_OR_PARTITION ? -1 : op->hw;
            pr->LastStableOffset = pr->HighWatermark;
            pr->LogStartOffset = op->err == KP_ERR_UNKNOWN_TOPIC_OR_PARTITION
                                     ? -1
                                     : op->log_start;
            if (op->err) {
                brk_rq_error(rq, op->err);
                continue;
            }
            if (op->slice.len > 0 &&
                (!any || (int64_t)op->slice.len <= budget)) {
                /* the hot tier's mapping, or a file range */
                pr->Records.p = op->slice.p;
                pr->Records.fd = op->slice.fd;
                pr->Records.off = op->slice.pos;
                pr->Records.len = (int32_t)op->slice.len;
                pr->Records.ref = op->slice.ref;
                budget -= (int64_t)op->slice.len;
                any = true;
                met_fetch_bytes(rq->sh->met,
                                op->slice.p != NULL && !op->slice.behind,
                                op->slice.len);
                met_topic_out(
                    rq->sh->met, op->topic->id, op->topic->name,
                    op->topic->name_len, op->slice.len,
                    op->slice.next_offset > op->offset
                        ? (uint64_t)(op->slice.next_offset - op->offset)
                        : 0);
            }
        }
    }
    r.SessionId = 0;
    brk_resp_begin(rq);
    kp_FetchResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
    return;
oom:
    brk_rq_bad(rq, "out of memory");
}

static void on_timer(uv_timer_t *t)
{
    brk_rq_t *rq = t->data;
    rq->timed_out = true;
    stop_waiting(rq);
    fetch_round(rq);
}

/* A watched partition got data (or went away): run another round. */
void brk_fetch_wake(net_shard_t *dst, void *arg)
{
    brk_wait_t *w = arg;
    brk_rq_t *rq = w->rq;
    (void)dst;
    if (!atomic_load(&w->dead) && rq && rq->wait == w) {
        stop_waiting(rq);
        fetch_round(rq);
    }
    brk_wait_unref(w);
}

static void start_waiting(brk_rq_t *rq)
{
    struct fetch_ctx *c = rq->msg;
    brk_shard_t *sh = rq->sh;
    uint64_t now = uv_now(net_shard_loop(sh->ns));
    brk_wait_t *w = mem_calloc(1, sizeof(*w));
    int k = 0;

    rq->timer = mem_alloc(sizeof(*rq->timer));
    if (!w || !rq->timer) {
        mem_free(w);
        mem_free(rq->timer);
        rq->timer = NULL;
        respond(rq);
        return;
    }
    uv_timer_init(net_shard_loop(sh->ns), rq->timer);
    rq->timer->data = rq;
    uv_timer_start(rq->timer, on_timer,
                   c->deadline_ms > now ? c->deadline_ms - now : 0, 0);
    atomic_init(&w->refs, 1);
    atomic_init(&w->dead, false);
    w->origin = sh->id;
    w->rq = rq;
    rq->wait = w;
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        kp_FetchTopic_t *ft = &c->m.Topics[i];
        for (int32_t j = 0; j < ft->n_Partitions; j++, k++) {
            brk_pop_t *op = rq->ops[k], *watch;
            if (!op)
                continue;
            watch = mem_calloc(1, sizeof(*watch));
            if (!watch)
                continue;
            watch->kind = BRK_POP_WATCH;
            watch->topic = op->topic;
            watch->partition = op->partition;
            watch->offset = op->offset;
            atomic_fetch_add(&w->refs, 1);
            watch->wait = w;
            brk_pop_send(rq, watch);
        }
    }
}

static void round_done(brk_rq_t *rq)
{
    struct fetch_ctx *c = rq->msg;
    uint64_t now = uv_now(net_shard_loop(rq->sh->ns));
    size_t bytes = round_bytes(rq);

    if (rq->timed_out || c->m.MaxWaitMs <= 0 || now >= c->deadline_ms ||
        bytes >= (size_t)(c->m.MinBytes > 0 ? c->m.MinBytes : 1) ||
        round_has_error(rq) || net_shard_stopping(rq->sh->ns) ||
        net_conn_closed(rq->req->conn)) {
        respond(rq);
        return;
    }
    release_slices(rq);
    start_waiting(rq);
}

static void fetch_round(brk_rq_t *rq)
{
    struct fetch_ctx *c = rq->msg;
    int k = 0;

    release_slices(rq);
    /* Each round looks topics up afresh (a topic may have gone), in the
     * newest snapshot, kept alive until the next round. */
    if (rq->snap != rq->sh->topics) {
        brk_topics_unref(rq->snap);
        rq->snap = brk_topics_ref(rq->sh->topics);
    }
    rq->pending = 1;
    rq->on_done = round_done;
    for (int32_t i = 0; i < c->m.n_Topics; i++) {
        kp_FetchTopic_t *ft = &c->m.Topics[i];
        const brk_topic_t *t =
            brk_topics_find(rq->snap, ft->Topic.p, (size_t)ft->Topic.len);
        for (int32_t j = 0; j < ft->n_Partitions; j++, k++) {
            kp_FetchPartition_t *fp = &ft->Partitions[j];
            brk_pop_t *op = rq->ops[k];
            if (!t || fp->Partition < 0 || fp->Partition >= t->nparts) {
                rq->ops[k] = NULL;
                continue;
            }
            if (!op) {
                op = mem_pool_calloc(rq->pool, 1, sizeof(*op));
                if (!op)
                    continue;
                rq->ops[k] = op;
            }
            memset(op, 0, sizeof(*op));
            op->kind = BRK_POP_FETCH;
            op->topic = t;
            op->partition = fp->Partition;
            op->offset = fp->FetchOffset;
            op->max_bytes =
                fp->PartitionMaxBytes > 0 ? fp->PartitionMaxBytes : 0;
            if (c->m.MaxBytes > 0 && op->max_bytes > c->m.MaxBytes)
                op->max_bytes = c->m.MaxBytes;
            brk_pop_send(rq, op);
        }
    }
    if (!c->hinted) {
        c->hinted = true;
        brk_rq_hint_home(rq);
    }
    if (--rq->pending == 0)
        round_done(rq);
}

void brk_handle_Fetch(brk_rq_t *rq)
{
    struct fetch_ctx *c = mem_pool_calloc(rq->pool, 1, sizeof(*c));
    int total = 0;
    int32_t max_bytes;

    if (!c || kp_FetchRequest_decode(&rq->body, rq->hdr.ApiVersion, rq->pool,
                                     &c->m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    rq->msg = c;
    if (c->m.SessionId != 0 ||
        (c->m.SessionEpoch != 0 && c->m.SessionEpoch != -1)) {
        kp_FetchResponse_t r = {0};
        r.ErrorCode = c->m.SessionId != 0 ? KP_ERR_FETCH_SESSION_ID_NOT_FOUND
                                          : KP_ERR_INVALID_FETCH_SESSION_EPOCH;
        brk_rq_error(rq, r.ErrorCode);
        brk_resp_begin(rq);
        kp_FetchResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
        brk_rq_finish(rq);
        return;
    }
    max_bytes = rq->sh->b->cfg->fetch_max_bytes;
    if (c->m.MaxBytes <= 0 || c->m.MaxBytes > max_bytes)
        c->m.MaxBytes = max_bytes;
    for (int32_t i = 0; i < c->m.n_Topics; i++)
        total += c->m.Topics[i].n_Partitions;
    rq->ops = mem_pool_calloc(rq->pool, (size_t)total + 1, sizeof(*rq->ops));
    if (!rq->ops) {
        brk_rq_bad(rq, "too large");
        return;
    }
    rq->nops = total;
    c->deadline_ms = uv_now(net_shard_loop(rq->sh->ns)) +
                     (uint64_t)(c->m.MaxWaitMs > 0 ? c->m.MaxWaitMs : 0);
    fetch_round(rq);
}
