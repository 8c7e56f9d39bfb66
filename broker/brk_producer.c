/* InitProducerId: hands an idempotent producer its producer id and epoch.
 *
 * Ids must be unique across restarts, or a restarted broker could take a
 * new producer for an old one and drop its first batches as duplicates.
 * The controller (shard 0) alone hands them out, from blocks reserved in
 * the metadata log (brk_meta_producer_id); another shard asks it with
 * net_post and finishes the request when the answer comes back. Every
 * producer gets a new id with epoch 0, as Kafka gives a producer without a
 * transactional id.
 *
 * A transactional id is refused with TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
 * Strata has no transaction coordinator, and this is the answer Kafka gives
 * a producer that may not use transactions. Clients treat it as final and
 * say so ("Transactional Id authorization failed"), whereas the
 * coordinator errors (COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR) would
 * make them retry forever. */
#include "broker/brk.h"

#include <errno.h>
#include <string.h>

struct pid_ask {
    brk_rq_t *rq;
    int origin;
    int rc;
    int64_t producer_id;
};

static void respond(brk_rq_t *rq, kp_err_t err, int64_t pid)
{
    kp_InitProducerIdResponse_t r = {0};
    r.ErrorCode = err;
    r.ProducerId = err == KP_ERR_NONE ? pid : -1;
    r.ProducerEpoch = err == KP_ERR_NONE ? 0 : -1;
    brk_resp_begin(rq);
    kp_InitProducerIdResponse_encode(&rq->req->resp, rq->hdr.ApiVersion, &r);
    brk_rq_finish(rq);
}

static void on_answer(net_shard_t *dst, void *arg)
{
    struct pid_ask *a = arg;
    (void)dst;
    /* A failed metadata write may be transient (disk full): a retriable
     * error lets the client ask again. */
    respond(a->rq, a->rc == 0 ? KP_ERR_NONE : KP_ERR_COORDINATOR_NOT_AVAILABLE,
            a->producer_id);
}

static void on_ask(net_shard_t *dst, void *arg)
{
    struct pid_ask *a = arg;
    brk_shard_t *sh = net_shard_app(dst);
    st_assert(sh->id == 0);
    a->rc = brk_meta_producer_id(sh->b, &a->producer_id);
    net_post(dst, a->origin, on_answer, a);
}

void brk_handle_InitProducerId(brk_rq_t *rq)
{
    kp_InitProducerIdRequest_t m;
    struct pid_ask *a;

    if (kp_InitProducerIdRequest_decode(&rq->body, rq->hdr.ApiVersion, rq->pool,
                                        &m) != 0) {
        brk_rq_bad(rq, "body");
        return;
    }
    if (m.TransactionalId.len >= 0) {
        respond(rq, KP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED, -1);
        return;
    }
    a = mem_pool_calloc(rq->pool, 1, sizeof(*a));
    if (!a) {
        respond(rq, KP_ERR_UNKNOWN_SERVER_ERROR, -1);
        return;
    }
    a->rq = rq;
    a->origin = rq->sh->id;
    /* Through the mailbox even on shard 0, so the answer never runs
     * inside this call. */
    net_post(rq->sh->ns, 0, on_ask, a);
}
