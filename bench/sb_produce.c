/* strata-bench producer: one thread, one connection, pipelined Produce.
 *
 * The loop alternates between making records and moving bytes, and sleeps
 * only when neither can progress. Records go to one open batch at a time
 * (a sticky partitioner: the batch's partition advances round-robin each
 * time a batch closes), so batches fill as fast as the rate allows whatever
 * the partition count. A batch closes when full; it is sent when a request
 * slot is free (at most --inflight) and it is either full or older than
 * --linger-ms. A request carries at most one batch per partition (Kafka
 * refuses more) and batches leave in the order they closed, so a
 * partition's records are acknowledged in order.
 *
 * Latency is per record, from its intended send time to the moment its
 * acknowledgement is parsed (acks=0: to the moment its request left the
 * socket). With --throughput the intended time is the rate schedule's
 * (t0 + k / rate), not the time the record was actually made: when the
 * broker stalls and the buffer fills, records fall behind their schedule
 * and that wait is counted, instead of the stall silently lowering the
 * offered load. Without a rate the intended time is the creation time.
 *
 * Nothing is retried. An error code in a partition response fails that
 * batch's records and is counted; a lost connection or a request timeout
 * fails everything outstanding and ends the worker. */
#include "bench/sb_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "alloc/mem.h"
#include "alloc/st.h"
#include "bench/sb_batch.h"

#define PAYLOAD_POOL (64u << 10)
#define GEN_CHUNK 4096 /* records made between two looks at the socket */
#define MAX_WAIT_NS (100 * 1000000LL) /* notice a stop within 100 ms */

typedef struct pb {
    sb_batch_t b;
    int32_t part;
    uint64_t *t_int; /* intended send time of each record, monotonic ns */
    int32_t t_cap;
    uint64_t t_open; /* when its first record was made */
    mem_ref_t ref;   /* lets request writers splice the batch (never 0) */
    struct pb *next;
} pb_t;

typedef struct preq {
    int32_t corr;
    uint64_t seq; /* connection sequence: written when conn.written >= */
    uint64_t t_sent;
    pb_t *pbs; /* the request's batches, linked by next */
} preq_t;

typedef struct prod {
    sb_worker_t *w;
    sb_shared_t *sh;
    const sb_opts_t *o;
    sb_conn_t conn;
    int version;
    sb_compressor_t z;
    pb_t *free_pbs;
    int n_pbs, max_pbs;
    pb_t *open;
    pb_t *ready, *ready_tail;
    int next_part;
    preq_t *reqs; /* ring of o->inflight */
    int req_head, req_n;
    kp_ProducePartition_t *pdata; /* request scratch, one per partition */
    uint64_t k;                   /* records made */
    double interval;              /* ns per record, 0 = unlimited */
    bool gen_done;
    size_t rec_size; /* encoded size of one record (upper bound) */
    uint8_t *payload;
    uint64_t rng;
} prod_t;

static void pb_ref_release(mem_ref_t *ref)
{
    (void)ref;
    st_assert(!"a batch's own reference was dropped");
}

static pb_t *pb_get(prod_t *p)
{
    pb_t *b = p->free_pbs;

    if (b) {
        p->free_pbs = b->next;
    } else {
        if (p->n_pbs >= p->max_pbs)
            return NULL;
        if (!(b = mem_calloc(1, sizeof(*b))))
            return NULL;
        if (sb_batch_init(&b->b, (size_t)p->o->batch_bytes) < 0) {
            mem_free(b);
            return NULL;
        }
        mem_ref_init(&b->ref, pb_ref_release);
        p->n_pbs++;
    }
    sb_batch_reset(&b->b);
    b->next = NULL;
    return b;
}

static void pb_put(prod_t *p, pb_t *b)
{
    b->next = p->free_pbs;
    p->free_pbs = b;
}

static void pb_free_list(pb_t *b)
{
    while (b) {
        pb_t *n = b->next;
        sb_batch_fini(&b->b);
        mem_free(b->t_int);
        mem_free(b);
        b = n;
    }
}

static uint64_t xorshift(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *s = x;
}

/* Successful or failed completion of one batch. */
static void complete(prod_t *p, pb_t *b, int err_slot, uint64_t now)
{
    sb_worker_t *w = p->w;
    uint64_t n = (uint64_t)b->b.n;

    if (err_slot >= 0) {
        sb__count_err(w, err_slot, 1);
        sb__add(&w->failed, n);
    } else {
        for (int32_t i = 0; i < b->b.n; i++)
            if (b->t_int[i] >= p->sh->t_measure)
                sb_hist_record(&w->lat, now - b->t_int[i]);
        sb__add(&w->records, n);
        sb__add(&w->bytes, n * (uint64_t)p->o->record_size);
        sb__add(&w->wire_bytes, b->b.data_len);
        atomic_fetch_add_explicit(&p->sh->produced, n, memory_order_relaxed);
    }
    atomic_store_explicit(&w->t_last, now, memory_order_relaxed);
    pb_put(p, b);
}

/* Fails every record still held: the connection is gone. The error is
 * counted once; the records are counted as failed. */
static void fail_all(prod_t *p, int err_slot, uint64_t now)
{
    sb__count_err(p->w, err_slot, 1);
    while (p->req_n > 0) {
        preq_t *r = &p->reqs[p->req_head];
        for (pb_t *b = r->pbs, *n; b; b = n) {
            n = b->next;
            sb__add(&p->w->failed, (uint64_t)b->b.n);
            pb_put(p, b);
        }
        p->req_head = (p->req_head + 1) % p->o->inflight;
        p->req_n--;
    }
    for (pb_t *b = p->ready, *n; b; b = n) {
        n = b->next;
        sb__add(&p->w->failed, (uint64_t)b->b.n);
        pb_put(p, b);
    }
    p->ready = p->ready_tail = NULL;
    if (p->open) {
        sb__add(&p->w->failed, (uint64_t)p->open->b.n);
        pb_put(p, p->open);
        p->open = NULL;
    }
    atomic_store_explicit(&p->w->t_last, now, memory_order_relaxed);
    p->gen_done = true;
}

static int close_open(prod_t *p)
{
    pb_t *b = p->open;
    int rc;

    p->open = NULL;
    rc = sb_batch_seal(&b->b, p->o->codec, &p->z);
    if (rc < 0) {
        sb__add(&p->w->failed, (uint64_t)b->b.n);
        pb_put(p, b);
        return rc;
    }
    if (p->ready_tail)
        p->ready_tail->next = b;
    else
        p->ready = b;
    p->ready_tail = b;
    return 0;
}

static bool can_make_record(prod_t *p)
{
    return p->open ? true : (p->free_pbs || p->n_pbs < p->max_pbs);
}

/* Makes records while the schedule allows and there is room. Returns 0 or
 * a negative error (compression or memory failure). */
static int generate(prod_t *p)
{
    const sb_opts_t *o = p->o;
    const sb_shared_t *sh = p->sh;
    int32_t rs = o->record_size;
    uint64_t now = st_now_ns();
    int rc;

    for (int i = 0; i < GEN_CHUNK && !p->gen_done; i++) {
        uint64_t t;
        uint8_t *v;

        if ((i & 255) == 255)
            now = st_now_ns();
        if (p->k >= p->w->limit ||
            atomic_load_explicit(&p->sh->stop, memory_order_relaxed)) {
            p->gen_done = true;
            break;
        }
        t = p->interval ? sh->t0 + (uint64_t)((double)p->k * p->interval) : now;
        if (sh->t_end && t >= sh->t_end) {
            p->gen_done = true;
            break;
        }
        if (t > now)
            break; /* ahead of the schedule */
        if (!p->open) {
            if (!(p->open = pb_get(p)))
                break; /* buffer full: wait for acknowledgements */
            p->open->part = p->w->parts[p->next_part];
            p->next_part = (p->next_part + 1) % p->w->n_parts;
            p->open->t_open = now;
        }
        pb_t *b = p->open;
        v = sb_batch_add(&b->b,
                         (int64_t)(t + (uint64_t)sh->wall_offset) / 1000000,
                         NULL, -1, rs);
        if (!v) {
            if (b->b.n == 0)
                return -ENOMEM;
            if ((rc = close_open(p)) < 0)
                return rc;
            i--;
            continue;
        }
        if (b->b.n > b->t_cap) {
            int32_t ncap = b->t_cap ? b->t_cap * 2 : 256;
            uint64_t *nt = mem_realloc(b->t_int, (size_t)ncap * sizeof(*nt));
            if (!nt)
                return -ENOMEM;
            b->t_int = nt;
            b->t_cap = ncap;
        }
        b->t_int[b->b.n - 1] = t;
        if (rs >= SB_STAMP_SIZE) {
            sb_stamp_put(v, t + (uint64_t)sh->wall_offset);
            memcpy(v + SB_STAMP_SIZE,
                   p->payload + xorshift(&p->rng) % PAYLOAD_POOL,
                   (size_t)rs - SB_STAMP_SIZE);
        } else {
            memcpy(v, p->payload + xorshift(&p->rng) % PAYLOAD_POOL,
                   (size_t)rs);
        }
        p->k++;
        if (!sb_batch_has_room(&b->b, p->rec_size) && (rc = close_open(p)) < 0)
            return rc;
    }
    return 0;
}

/* Whether the open batch may leave now (linger over or nothing more
 * coming). */
static bool open_due(prod_t *p, uint64_t now)
{
    return p->open && p->open->b.n > 0 &&
           (p->gen_done ||
            (double)(now - p->open->t_open) >= p->o->linger_ms * 1e6);
}

/* Fails and recycles the batches of a request that could not be built. */
static void drop_list(prod_t *p, pb_t *b)
{
    while (b) {
        pb_t *n = b->next;
        sb__add(&p->w->failed, (uint64_t)b->b.n);
        pb_put(p, b);
        b = n;
    }
}

/* Builds and queues one Produce request from the closed batches (and the
 * open one when due). Returns 1 when a request was queued, 0 when there
 * was nothing to send, negative on failure. */
static int send_one(prod_t *p, uint64_t now)
{
    const sb_opts_t *o = p->o;
    pb_t *head = NULL, **tail = &head;
    int n = 0, rc;
    kp_ProduceTopic_t topic;
    kp_ProduceRequest_t req;
    preq_t *r;
    kp_wr_t *wr;
    int64_t seq;

    /* closed batches in order, stopping at a partition already taken */
    while (p->ready && n < p->w->n_parts) {
        pb_t *b = p->ready;
        bool dup = false;
        for (pb_t *x = head; x; x = x->next)
            dup |= x->part == b->part;
        if (dup)
            break;
        p->ready = b->next;
        if (!p->ready)
            p->ready_tail = NULL;
        b->next = NULL;
        *tail = b;
        tail = &b->next;
        n++;
    }
    if (open_due(p, now)) {
        bool dup = false;
        for (pb_t *x = head; x; x = x->next)
            dup |= x->part == p->open->part;
        if (!dup && !p->ready) {
            pb_t *b = p->open;
            if ((rc = close_open(p)) < 0) {
                drop_list(p, head);
                return rc;
            }
            p->ready = p->ready_tail = NULL; /* b alone was appended */
            *tail = b;
            tail = &b->next;
            n++;
        }
    }
    if (!n)
        return 0;
    {
        int i = 0;
        for (pb_t *b = head; b; b = b->next, i++) {
            p->pdata[i].Index = b->part;
            p->pdata[i].Records = (kp_records_t){
                b->b.data, (int32_t)b->b.data_len, -1, 0, &b->ref};
        }
    }
    topic =
        (kp_ProduceTopic_t){{o->topic, (int32_t)strlen(o->topic)}, n, p->pdata};
    req = (kp_ProduceRequest_t){{NULL, -1}, o->acks, o->timeout_ms, 1, &topic};
    r = &p->reqs[(p->req_head + p->req_n) % o->inflight];
    if (!(wr = sb_conn_begin(&p->conn, KP_API_Produce, p->version, &r->corr))) {
        drop_list(p, head);
        return -ENOMEM;
    }
    kp_ProduceRequest_encode(wr, p->version, &req);
    if ((seq = sb_conn_commit(&p->conn, wr)) < 0) {
        drop_list(p, head);
        return (int)seq;
    }
    r->seq = (uint64_t)seq;
    r->t_sent = now;
    r->pbs = head;
    p->req_n++;
    sb__add(&p->w->requests, 1);
    return 1;
}

static void pop_req(prod_t *p)
{
    p->req_head = (p->req_head + 1) % p->o->inflight;
    p->req_n--;
}

/* acks=0: a request is complete once it has left the socket. */
static void complete_written(prod_t *p, uint64_t now)
{
    while (p->req_n > 0 &&
           p->reqs[p->req_head].seq <= sb_conn_written(&p->conn)) {
        pb_t *b = p->reqs[p->req_head].pbs;
        pop_req(p);
        while (b) {
            pb_t *n = b->next;
            complete(p, b, -1, now);
            b = n;
        }
    }
}

/* One Produce response. Returns 0, or negative when it cannot be matched
 * or decoded (the connection is then unusable). */
static int on_response(prod_t *p, const uint8_t *f, size_t len, uint64_t now)
{
    preq_t *r;
    kp_ProduceResponse_t resp;
    mem_pool_t *pool;
    kp_rd_t rd;
    pb_t *b;
    int rc;

    if (p->req_n == 0 || p->o->acks == 0)
        return -EPROTO;
    r = &p->reqs[p->req_head];
    kp_rd_init(&rd, f, len);
    if (kp_rd_resp_hdr(&rd, kp_api_is_flex(KP_API_Produce, p->version)) !=
        r->corr)
        return -EPROTO;
    if (!(pool = mem_pool_new(0, 0)))
        return -ENOMEM;
    if ((rc = kp_ProduceResponse_decode(&rd, p->version, pool, &resp)) < 0) {
        mem_pool_free(pool);
        return -EPROTO;
    }
    b = r->pbs;
    pop_req(p);
    while (b) {
        pb_t *n = b->next;
        int slot = sb_err_slot(KP_ERR_UNKNOWN_SERVER_ERROR);
        bool found = false;
        for (int32_t i = 0; i < resp.n_Responses && !found; i++) {
            const kp_ProduceTopicResponse_t *t = &resp.Responses[i];
            for (int32_t j = 0; j < t->n_PartitionResponses; j++) {
                if (t->PartitionResponses[j].Index != b->part)
                    continue;
                kp_err_t e = t->PartitionResponses[j].ErrorCode;
                slot = e == KP_ERR_NONE ? -1 : sb_err_slot(e);
                found = true;
                break;
            }
        }
        if (!found)
            slot = SB_ERR_PROTOCOL;
        complete(p, b, slot, now);
        b = n;
    }
    mem_pool_free(pool);
    return 0;
}

static bool finished(const prod_t *p)
{
    return p->gen_done && !p->open && !p->ready && p->req_n == 0 &&
           !sb_conn_want_write(&p->conn);
}

static void loop(prod_t *p)
{
    const sb_opts_t *o = p->o;
    sb_worker_t *w = p->w;
    int rc;

    for (;;) {
        uint64_t now;
        const uint8_t *f;
        size_t flen;

        if ((rc = generate(p)) < 0) {
            sb__fatal(w, "cannot build a batch: %s", strerror(-rc));
            fail_all(p, SB_ERR_CLIENT, st_now_ns());
            return;
        }
        now = st_now_ns();
        if (p->open && p->gen_done && p->open->b.n == 0) {
            pb_put(p, p->open);
            p->open = NULL;
        }
        while (p->req_n < o->inflight && (rc = send_one(p, now)) > 0)
            ;
        if (rc < 0) {
            sb__fatal(w, "cannot build a request: %s", strerror(-rc));
            fail_all(p, SB_ERR_CLIENT, now);
            return;
        }
        if ((rc = sb_conn_flush(&p->conn)) < 0) {
            sb__fatal(w, "connection to %s:%d lost: %s", w->host, w->port,
                      strerror(-rc));
            fail_all(p, SB_ERR_DISCONNECTED, now);
            return;
        }
        if (o->acks == 0)
            complete_written(p, st_now_ns());
        if (p->req_n > 0 && o->acks != 0) {
            rc = sb_conn_fill(&p->conn);
            now = st_now_ns();
            while (rc == 0 && (rc = sb_conn_frame(&p->conn, &f, &flen)) == 1)
                rc = on_response(p, f, flen, now);
            if (rc < 0) {
                sb__fatal(w, "connection to %s:%d: %s", w->host, w->port,
                          rc == -ECONNRESET ? "closed by the broker"
                          : rc == -EPROTO   ? "undecodable response"
                                            : strerror(-rc));
                fail_all(p,
                         rc == -EPROTO ? SB_ERR_PROTOCOL : SB_ERR_DISCONNECTED,
                         now);
                return;
            }
        }
        if (finished(p))
            return;
        if (p->req_n > 0 && now - p->reqs[p->req_head].t_sent >
                                (uint64_t)o->timeout_ms * 1000000u) {
            sb__fatal(w, "no response within %d ms", o->timeout_ms);
            fail_all(p, SB_ERR_TIMEOUT, now);
            return;
        }

        /* Sleep until something can happen: the next scheduled record,
         * the open batch's linger deadline, a response, or room in the
         * socket. */
        now = st_now_ns();
        int64_t wait = MAX_WAIT_NS;
        bool slot = p->req_n < o->inflight;
        if (!p->gen_done && can_make_record(p)) {
            if (!p->interval)
                continue; /* make more right away */
            uint64_t next = p->sh->t0 + (uint64_t)((double)p->k * p->interval);
            if (next <= now)
                continue;
            wait = ST_MIN(wait, (int64_t)(next - now));
        }
        if (slot && p->ready)
            continue;
        if (slot && p->open && p->open->b.n > 0) {
            uint64_t due = p->open->t_open + (uint64_t)(o->linger_ms * 1e6);
            if (p->gen_done || due <= now)
                continue;
            wait = ST_MIN(wait, (int64_t)(due - now));
        }
        if (p->req_n == 0 && !sb_conn_want_write(&p->conn) && p->gen_done)
            continue;
        if (p->req_n == 0 && !sb_conn_want_write(&p->conn)) {
            /* nothing on the wire: a plain sleep */
            struct timespec ts = {wait / 1000000000, wait % 1000000000};
            nanosleep(&ts, NULL);
            continue;
        }
        if ((rc = sb_conn_wait(&p->conn, wait)) < 0) {
            sb__fatal(w, "poll: %s", strerror(-rc));
            fail_all(p, SB_ERR_CLIENT, now);
            return;
        }
    }
}

void *sb__produce_main(void *arg)
{
    sb_worker_t *w = arg;
    sb_shared_t *sh = w->sh;
    const sb_opts_t *o = sh->o;
    prod_t p;

    /* Wake up on time for the rate schedule: the default 50 µs timer
     * slack would be counted as latency of every scheduled record. */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    memset(&p, 0, sizeof(p));
    p.w = w;
    p.sh = sh;
    p.o = o;
    p.conn.fd = -1;
    sb_compressor_init(&p.z);
    p.rng = 0x9E3779B97F4A7C15ull ^ ((uint64_t)w->id << 32);
    p.interval = w->rate > 0 ? 1e9 / w->rate : 0;
    p.rec_size = sb_record_size_max(-1, o->record_size);
    p.max_pbs =
        (int)ST_MIN((int64_t)1 << 20, ST_MAX(o->buffer_bytes / o->batch_bytes,
                                             (int64_t)o->inflight + 2));
    p.reqs = mem_calloc((size_t)o->inflight, sizeof(*p.reqs));
    p.pdata = mem_calloc((size_t)w->n_parts, sizeof(*p.pdata));
    p.payload = mem_alloc(PAYLOAD_POOL + (size_t)o->record_size + 1);
    if (!p.reqs || !p.pdata || !p.payload) {
        sb__fatal(w, "out of memory");
        sb__count_err(w, SB_ERR_CLIENT, 1);
        goto out;
    }
    /* Random capital letters, like kafka-producer-perf-test's payload:
     * compressible about as much as text. */
    for (size_t i = 0; i < PAYLOAD_POOL + (size_t)o->record_size; i++)
        p.payload[i] = (uint8_t)('A' + xorshift(&p.rng) % 26);
    if (sb__connect(w, &p.conn) < 0)
        goto out;
    p.version = sb_conn_version(&p.conn, KP_API_Produce, 3, 7);
    if (p.version < 0) {
        sb__fatal(w, "the broker offers no Produce version from 3 to 7");
        sb__count_err(w, SB_ERR_PROTOCOL, 1);
        goto out;
    }
    loop(&p);
out:
    if (p.open)
        pb_put(&p, p.open);
    for (pb_t *b = p.ready, *n; b; b = n) {
        n = b->next;
        pb_put(&p, b);
    }
    for (; p.req_n > 0; pop_req(&p))
        for (pb_t *b = p.reqs[p.req_head].pbs, *n; b; b = n) {
            n = b->next;
            pb_put(&p, b);
        }
    sb_conn_close(&p.conn); /* drops the writers' references first */
    pb_free_list(p.free_pbs);
    sb_compressor_fini(&p.z);
    mem_free(p.reqs);
    mem_free(p.pdata);
    mem_free(p.payload);
    atomic_fetch_sub(&sh->producers_left, 1);
    atomic_store(&w->done, true);
    return NULL;
}
