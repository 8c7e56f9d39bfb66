/* strata-bench consumer: one thread, one connection, Fetch in a loop.
 *
 * Set-up asks ListOffsets where to start (earliest or latest; e2e always
 * starts at the end, before the producers begin) and, for a catch-up
 * read, where the topic ends. Then each Fetch asks for every partition not
 * yet finished from its next offset, with --fetch-wait-ms of long poll,
 * and one Fetch is kept ahead: a response is processed in two passes,
 * batch headers first (which give the next offsets, so the next Fetch can
 * leave at once), then the records. Records are walked one by one (storage's
 * log_records_each, which also inflates compressed batches), as a real consumer
 * must: the payload bytes come from there, and in e2e mode each record's stamp
 * (sb_batch.h) gives its latency, receipt time minus intended send time. In
 * consume mode the latency reported is the fetch round trip.
 *
 * The next offset of a partition is the last offset of the last complete
 * batch plus one; a batch cut short at the end of a response (brokers may
 * do that) is fetched again whole next time, and records below the fetch
 * offset at the front of a batch are skipped, as Kafka clients do. Any
 * error in a response is counted and stops the worker: there is no quiet
 * retry. */
#include "bench/sb_int.h"

#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "alloc/mem.h"
#include "alloc/st.h"
#include "bench/sb_batch.h"
#include "storage/batch.h"
#include "storage/records.h"

#define E2E_DRAIN_NS                                                           \
    (5 * 1000000000LL) /* after the producers: wait this                       \
                          long for stragglers */

typedef struct cons {
    sb_worker_t *w;
    sb_shared_t *sh;
    const sb_opts_t *o;
    sb_conn_t conn;
    int version;
    int64_t *offset; /* next offset per partition */
    int64_t *next;   /* offsets after the response being processed */
    int64_t *end;    /* catch-up: stop at this offset; -1 none */
    kp_FetchPartition_t *fparts;
    /* per-response scratch for the record callback */
    int64_t min_offset;
    uint64_t now_wall, t_measure_wall;
    uint64_t n_rec, n_bytes;
} cons_t;

static int on_record(void *arg, const log_record_t *r)
{
    cons_t *c = arg;
    uint64_t stamp;

    if (r->offset < c->min_offset)
        return 0;
    c->n_rec++;
    c->n_bytes += (uint64_t)(r->value_len > 0 ? r->value_len : 0) +
                  (uint64_t)(r->key_len > 0 ? r->key_len : 0);
    if (c->o->mode == SB_E2E && r->value &&
        sb_stamp_get(r->value, r->value_len, &stamp) &&
        stamp >= c->t_measure_wall)
        sb_hist_record(&c->w->lat,
                       c->now_wall > stamp ? c->now_wall - stamp : 0);
    return 0;
}

/* First pass over one partition's records: checks each complete batch's
 * header (and CRC when asked) and advances *next past it, without looking
 * at the records. Returns 0 or an error slot (> 0). */
static int scan_batches(const cons_t *c, const kp_records_t *rec, int64_t *next)
{
    const uint8_t *p = rec->p;
    size_t left = rec->len > 0 ? (size_t)rec->len : 0;

    while (left >= LOG_BATCH_HEADER_SIZE) {
        log_batch_info_t bi;
        int size;

        /* An old-format (magic 0/1) message set cannot be read here. */
        if (p[LOG_BATCH_OFF_MAGIC] != LOG_BATCH_MAGIC)
            return SB_ERR_CORRUPT;
        size = log_batch_header_parse(p, left, &bi);
        if (size < 0)
            return SB_ERR_CORRUPT;
        if ((size_t)size > left)
            break; /* cut short: fetched again next time */
        if (c->o->check_crc) {
            int rc = log_batch_parse(p, (size_t)size, true, NULL);
            if (rc == LOG_EBATCH_CRC)
                return SB_ERR_CRC;
            if (rc < 0)
                return SB_ERR_CORRUPT;
        }
        if (bi.base_offset + bi.last_offset_delta + 1 > *next)
            *next = bi.base_offset + bi.last_offset_delta + 1;
        p += size;
        left -= (size_t)size;
    }
    return 0;
}

/* Second pass: the records of the complete batches (already checked by
 * scan_batches) at or after the partition's offset, which then moves on.
 * Returns 0 or an error slot (> 0). */
static int take_records(cons_t *c, int i, const kp_records_t *rec)
{
    const uint8_t *p = rec->p;
    size_t left = rec->len > 0 ? (size_t)rec->len : 0;

    while (left >= LOG_BATCH_HEADER_SIZE) {
        int64_t size = log_batch_size(p), next;

        if (size < LOG_BATCH_HEADER_SIZE || (size_t)size > left)
            break;
        next = log_batch_base_offset(p) + log_batch_last_offset_delta(p) + 1;
        if (next > c->offset[i]) {
            int16_t attr = (int16_t)st_be16(p + LOG_BATCH_OFF_ATTRIBUTES);
            if (!(attr & LOG_BATCH_ATTR_CONTROL)) {
                c->min_offset = c->offset[i];
                if (log_records_each(p, (size_t)size, on_record, c) < 0)
                    return SB_ERR_CORRUPT;
            }
            c->offset[i] = next;
        }
        sb__add(&c->w->wire_bytes, (uint64_t)size);
        p += size;
        left -= (size_t)size;
    }
    return 0;
}

/* Queues a Fetch for every partition not finished, from off[]. Returns 1,
 * 0 when every partition is finished, or -ENOMEM. */
static int send_fetch(cons_t *c, const int64_t *off, int32_t *corr)
{
    const sb_opts_t *o = c->o;
    kp_FetchTopic_t t;
    kp_FetchRequest_t req;
    kp_wr_t *wr;
    int n = 0;

    for (int i = 0; i < c->w->n_parts; i++) {
        if (c->end[i] >= 0 && off[i] >= c->end[i])
            continue;
        c->fparts[n++] = (kp_FetchPartition_t){
            c->w->parts[i], -1, off[i], -1, (int32_t)o->partition_fetch_bytes};
    }
    if (!n)
        return 0;
    t = (kp_FetchTopic_t){{o->topic, (int32_t)strlen(o->topic)}, n, c->fparts};
    memset(&req, 0, sizeof(req));
    req.ReplicaId = -1;
    req.MaxWaitMs = o->fetch_wait_ms;
    req.MinBytes = 1;
    req.MaxBytes = (int32_t)o->fetch_max_bytes;
    req.IsolationLevel = 0;
    req.SessionId = 0;
    req.SessionEpoch = -1; /* no fetch session: full fetches */
    req.n_Topics = 1;
    req.Topics = &t;
    req.RackId = (kp_str_t){"", 0};
    if (!(wr = sb_conn_begin(&c->conn, KP_API_Fetch, c->version, corr)))
        return -ENOMEM;
    kp_FetchRequest_encode(wr, c->version, &req);
    if (sb_conn_commit(&c->conn, wr) < 0)
        return -ENOMEM;
    return 1;
}

static int part_index(const cons_t *c, int32_t part)
{
    for (int i = 0; i < c->w->n_parts; i++)
        if (c->w->parts[i] == part)
            return i;
    return -1;
}

/* Decodes a Fetch response into resp (arrays in pool) and runs the first
 * pass: error codes, batch headers, and c->next (the offsets the next
 * fetch asks for). Returns 0 or an error slot (> 0); *err_part and *kerr
 * say where an error came from (-1 / 0 when not from a partition). */
static int decode_response(cons_t *c, const uint8_t *f, size_t len,
                           int32_t corr, mem_pool_t *pool,
                           kp_FetchResponse_t *resp, int32_t *err_part,
                           kp_err_t *kerr)
{
    kp_rd_t rd;

    *err_part = -1;
    *kerr = 0;
    memcpy(c->next, c->offset, (size_t)c->w->n_parts * sizeof(*c->next));
    kp_rd_init(&rd, f, len);
    if (kp_rd_resp_hdr(&rd, kp_api_is_flex(KP_API_Fetch, c->version)) != corr)
        return SB_ERR_PROTOCOL;
    if (kp_FetchResponse_decode(&rd, c->version, pool, resp) < 0)
        return SB_ERR_PROTOCOL;
    if (resp->ErrorCode != KP_ERR_NONE) {
        *kerr = resp->ErrorCode;
        return sb_err_slot(resp->ErrorCode);
    }
    for (int32_t t = 0; t < resp->n_Responses; t++) {
        const kp_FetchTopicResponse_t *tr = &resp->Responses[t];
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            const kp_FetchPartitionResponse_t *pr = &tr->Partitions[j];
            int i = part_index(c, pr->PartitionIndex), slot;
            if (i < 0)
                continue;
            *err_part = pr->PartitionIndex;
            if (pr->ErrorCode != KP_ERR_NONE) {
                *kerr = pr->ErrorCode;
                return sb_err_slot(pr->ErrorCode);
            }
            if ((slot = scan_batches(c, &pr->Records, &c->next[i])) != 0)
                return slot;
        }
    }
    *err_part = -1;
    return 0;
}

/* Second pass over a decoded response: records, bytes, latencies. */
static int take_response(cons_t *c, const kp_FetchResponse_t *resp,
                         int32_t *err_part)
{
    for (int32_t t = 0; t < resp->n_Responses; t++) {
        const kp_FetchTopicResponse_t *tr = &resp->Responses[t];
        for (int32_t j = 0; j < tr->n_Partitions; j++) {
            const kp_FetchPartitionResponse_t *pr = &tr->Partitions[j];
            int i = part_index(c, pr->PartitionIndex), slot;
            if (i < 0)
                continue;
            if ((slot = take_records(c, i, &pr->Records)) != 0) {
                *err_part = pr->PartitionIndex;
                return slot;
            }
        }
    }
    return 0;
}

/* Set-up: connection, versions, start (and catch-up end) offsets. */
static int setup(cons_t *c)
{
    sb_worker_t *w = c->w;
    const sb_opts_t *o = c->o;
    int n = w->n_parts, rc;
    kp_err_t *errs;
    bool latest = o->mode == SB_E2E || o->from_latest;

    c->offset = mem_calloc((size_t)n, sizeof(*c->offset));
    c->next = mem_calloc((size_t)n, sizeof(*c->next));
    c->end = mem_calloc((size_t)n, sizeof(*c->end));
    c->fparts = mem_calloc((size_t)n, sizeof(*c->fparts));
    errs = mem_calloc((size_t)n, sizeof(*errs));
    if (!c->offset || !c->next || !c->end || !c->fparts || !errs) {
        mem_free(errs);
        sb__count_err(w, SB_ERR_CLIENT, 1);
        sb__fatal(w, "out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < n; i++)
        c->end[i] = -1;
    if ((rc = sb__connect(w, &c->conn)) < 0)
        goto out;
    c->version = sb_conn_version(&c->conn, KP_API_Fetch, 4, 11);
    if (c->version < 0 ||
        sb_conn_version(&c->conn, KP_API_ListOffsets, 1, 3) < 0) {
        sb__count_err(w, SB_ERR_PROTOCOL, 1);
        sb__fatal(w, "the broker offers no Fetch version from 4 to 11 or "
                     "no ListOffsets version from 1 to 3");
        rc = -EPROTONOSUPPORT;
        goto out;
    }
    rc = sb_conn_list_offsets(&c->conn, o->topic, w->parts, n, latest ? -1 : -2,
                              c->offset, errs, o->timeout_ms);
    for (int i = 0; rc == 0 && i < n; i++)
        if (errs[i] != KP_ERR_NONE) {
            sb__count_err(w, sb_err_slot(errs[i]), 1);
            sb__fatal(w, "ListOffsets: %s on partition %d",
                      kp_err_name(errs[i]), w->parts[i]);
            rc = -EPROTO;
            goto out;
        }
    /* consume without a count or duration: read up to today's end */
    if (rc == 0 && o->mode == SB_CONSUME && !o->count && !o->duration) {
        rc = sb_conn_list_offsets(&c->conn, o->topic, w->parts, n, -1, c->end,
                                  errs, o->timeout_ms);
        for (int i = 0; rc == 0 && i < n; i++) {
            if (errs[i] != KP_ERR_NONE) {
                sb__count_err(w, sb_err_slot(errs[i]), 1);
                sb__fatal(w, "ListOffsets: %s on partition %d",
                          kp_err_name(errs[i]), w->parts[i]);
                rc = -EPROTO;
                goto out;
            }
            if (c->end[i] > c->offset[i])
                w->start_records += (uint64_t)(c->end[i] - c->offset[i]);
        }
    }
    if (rc < 0) {
        sb__count_err(
            w, rc == -ETIMEDOUT ? SB_ERR_TIMEOUT : SB_ERR_DISCONNECTED, 1);
        sb__fatal(w, "ListOffsets failed: %s", strerror(-rc));
    }
out:
    mem_free(errs);
    return rc;
}

static bool should_stop(cons_t *c, uint64_t now, uint64_t *idle_since)
{
    sb_shared_t *sh = c->sh;
    const sb_opts_t *o = c->o;
    uint64_t consumed = atomic_load(&sh->consumed);

    if (atomic_load_explicit(&sh->stop, memory_order_relaxed))
        return true;
    if (o->mode == SB_CONSUME) {
        if (sh->consume_target && consumed >= sh->consume_target)
            return true;
        if (sh->t_end && now >= sh->t_end)
            return true;
        /* with a count, give up after --timeout-ms without a record */
        if (sh->consume_target &&
            now - *idle_since > (uint64_t)o->timeout_ms * 1000000u)
            return true;
        return false;
    }
    /* e2e: done once every acknowledged record was read, or after a
     * grace period once the producers are done */
    if (atomic_load(&sh->producers_left) > 0) {
        *idle_since = now;
        return false;
    }
    if (consumed >= atomic_load(&sh->produced))
        return true;
    return now - *idle_since > (uint64_t)E2E_DRAIN_NS;
}

/* Waits for the response frame to the fetch in flight. Returns 0 or
 * -errno. */
static int await_frame(cons_t *c, uint64_t deadline, const uint8_t **f,
                       size_t *flen)
{
    int rc;

    for (;;) {
        uint64_t now;
        if ((rc = sb_conn_flush(&c->conn)) < 0)
            return rc;
        if ((rc = sb_conn_frame(&c->conn, f, flen)) != 0)
            return rc < 0 ? rc : 0;
        now = st_now_ns();
        if (now >= deadline)
            return -ETIMEDOUT;
        if ((rc = sb_conn_wait(&c->conn, (int64_t)(deadline - now))) < 0 ||
            (rc = sb_conn_fill(&c->conn)) < 0)
            return rc;
    }
}

/* Fetches until done. One fetch is kept ahead: once a response's batch
 * headers give the next offsets, the next Fetch leaves before its records
 * are walked, so the broker prepares the next response while this one is
 * processed. */
static void loop(cons_t *c)
{
    sb_worker_t *w = c->w;
    const sb_opts_t *o = c->o;
    uint64_t idle_since = st_now_ns(), t_sent = 0;
    bool inflight = false;
    int32_t corr = 0;
    int rc;

    for (;;) {
        int32_t err_part, next_corr = 0;
        kp_err_t kerr;
        uint64_t now = st_now_ns(), next_sent = 0;
        const uint8_t *f = NULL;
        size_t flen = 0;
        kp_FetchResponse_t resp;
        mem_pool_t *pool;
        bool next_inflight = false;

        if (!inflight) {
            if (should_stop(c, now, &idle_since))
                return;
            if ((rc = send_fetch(c, c->offset, &corr)) == 0)
                return; /* every partition caught up */
            if (rc < 0) {
                sb__count_err(w, SB_ERR_CLIENT, 1);
                sb__fatal(w, "cannot build a fetch: %s", strerror(-rc));
                return;
            }
            t_sent = now;
            inflight = true;
        }
        rc = await_frame(
            c,
            t_sent + ((uint64_t)o->fetch_wait_ms + (uint64_t)o->timeout_ms) *
                         1000000u,
            &f, &flen);
        if (rc < 0) {
            sb__count_err(w,
                          rc == -ETIMEDOUT ? SB_ERR_TIMEOUT
                          : rc == -EPROTO  ? SB_ERR_PROTOCOL
                                           : SB_ERR_DISCONNECTED,
                          1);
            sb__fatal(w, "fetch from %s:%d: %s", w->host, w->port,
                      rc == -ECONNRESET ? "connection closed by the broker"
                                        : strerror(-rc));
            return;
        }
        now = st_now_ns();
        if (!(pool = mem_pool_new(0, 0))) {
            sb__count_err(w, SB_ERR_CLIENT, 1);
            sb__fatal(w, "out of memory");
            return;
        }
        rc = decode_response(c, f, flen, corr, pool, &resp, &err_part, &kerr);
        if (rc == 0 &&
            !atomic_load_explicit(&c->sh->stop, memory_order_relaxed)) {
            int r2 = send_fetch(c, c->next, &next_corr);
            if (r2 > 0 && sb_conn_flush(&c->conn) == 0) {
                next_inflight = true;
                next_sent = st_now_ns();
            } else if (r2 < 0) {
                rc = SB_ERR_CLIENT;
            }
        }
        c->now_wall = now + (uint64_t)c->sh->wall_offset;
        c->t_measure_wall = c->sh->t_measure + (uint64_t)c->sh->wall_offset;
        c->n_rec = c->n_bytes = 0;
        if (rc == 0)
            rc = take_response(c, &resp, &err_part);
        mem_pool_free(pool);
        sb__add(&w->requests, 1);
        if (c->n_rec) {
            sb__add(&w->records, c->n_rec);
            sb__add(&w->bytes, c->n_bytes);
            atomic_fetch_add(&c->sh->consumed, c->n_rec);
            atomic_store_explicit(&w->t_last, now, memory_order_relaxed);
            idle_since = now;
        }
        if (o->mode == SB_CONSUME && t_sent >= c->sh->t_measure)
            sb_hist_record(&w->lat, now - t_sent);
        if (rc != 0) {
            sb__count_err(w, rc, 1);
            if (kerr)
                sb__fatal(w, "fetch: %s on partition %d", kp_err_name(kerr),
                          err_part);
            else if (err_part >= 0)
                sb__fatal(w, "fetch: %s on partition %d", sb_err_slot_name(rc),
                          err_part);
            else
                sb__fatal(w, "fetch: %s", sb_err_slot_name(rc));
            return;
        }
        inflight = next_inflight;
        corr = next_corr;
        t_sent = next_sent;
        /* the fetch sent ahead, if any, is simply dropped on the way out */
        if (inflight && should_stop(c, st_now_ns(), &idle_since))
            return;
    }
}

void *sb__consume_main(void *arg)
{
    sb_worker_t *w = arg;
    cons_t c;

    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* see sb_produce.c */
    memset(&c, 0, sizeof(c));
    c.w = w;
    c.sh = w->sh;
    c.o = w->sh->o;
    c.conn.fd = -1;
    if (setup(&c) == 0) {
        atomic_store(&w->ready, true);
        while (!atomic_load(&c.sh->go) && !atomic_load(&c.sh->stop)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&c.sh->go))
            loop(&c);
    }
    atomic_store(&w->ready, true);
    sb_conn_close(&c.conn);
    mem_free(c.offset);
    mem_free(c.next);
    mem_free(c.end);
    mem_free(c.fparts);
    atomic_store(&w->done, true);
    return NULL;
}
