/* strata-bench run: set-up, worker threads, the per-second sampler, and the
 * figures of the finished run (sb.h).
 *
 * Set-up happens once on a bootstrap connection: versions, the topic's
 * metadata (created with CreateTopics when missing and the mode produces),
 * and a wait until every partition has a leader. Partitions are dealt to
 * workers round-robin (producer i gets p with p % P == i; with more
 * producers than partitions each gets one, shared); each worker connects to
 * its partitions' leader, so all of a worker's partitions must share one.
 * Consumers are started and finish their own set-up (ListOffsets) before
 * the clock starts and the producers are released, so e2e consumers
 * really start at the end of the topic.
 *
 * The main thread then samples every worker once a second (relaxed loads,
 * no locks): interval rates and interval latency percentiles go to the
 * series, and a progress line to stderr. The summary counts everything
 * that completed; rates and latencies leave out the --warmup seconds. */
#include "bench/sb_int.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc/mem.h"
#include "alloc/st.h"
#include "simd/simd.h"

#define SETUP_TIMEOUT_MS 15000
#define NS 1000000000.0

/* ---- errors ---- */

int sb_err_slot(int kafka_code)
{
    if (kafka_code < -1 || kafka_code + 1 >= SB_ERR_KAFKA_MAX)
        return SB_ERR_KAFKA_MAX - 1;
    return kafka_code + 1;
}

const char *sb_err_slot_name(int slot)
{
    static const char *const client[] = {
        "disconnected",  "timeout",         "protocol_error", "crc_mismatch",
        "corrupt_batch", "missing_records", "client_error"};

    if (slot >= SB_ERR_DISCONNECTED && slot < SB_NERR)
        return client[slot - SB_ERR_DISCONNECTED];
    if (slot >= 0 && slot < SB_ERR_KAFKA_MAX) {
        const char *n = kp_err_name((kp_err_t)(slot - 1));
        return n && strcmp(n, "?") ? n : "UNKNOWN_KAFKA_ERROR";
    }
    return "?";
}

void sb__count_err(sb_worker_t *w, int slot, uint64_t n)
{
    if (slot < 0 || slot >= SB_NERR)
        slot = SB_ERR_CLIENT;
    sb__add(&w->err[slot], n);
    sb__add(&w->errors, n);
}

void sb__fatal(sb_worker_t *w, const char *fmt, ...)
{
    va_list ap;

    if (!w->fatal[0]) {
        int n =
            snprintf(w->fatal, sizeof(w->fatal),
                     "%s %d: ", w->producer ? "producer" : "consumer", w->id);
        va_start(ap, fmt);
        vsnprintf(w->fatal + n, sizeof(w->fatal) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    atomic_store(&w->sh->stop, true);
}

int sb__connect(sb_worker_t *w, sb_conn_t *c)
{
    const sb_opts_t *o = w->sh->o;
    int rc = sb_conn_open(c, w->host, w->port, o->client_id,
                          ST_MIN(o->timeout_ms, SETUP_TIMEOUT_MS));

    if (rc == 0)
        rc = sb_conn_negotiate(c, ST_MIN(o->timeout_ms, SETUP_TIMEOUT_MS));
    if (rc < 0) {
        sb__count_err(
            w, rc == -ETIMEDOUT ? SB_ERR_TIMEOUT : SB_ERR_DISCONNECTED, 1);
        sb__fatal(w, "cannot connect to %s:%d: %s", w->host, w->port,
                  strerror(-rc));
    }
    return rc;
}

/* ---- signals ---- */

static atomic_bool *volatile stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    if (stop_flag)
        atomic_store(stop_flag, true);
}

/* ---- set-up ---- */

static int topic_setup(const sb_opts_t *o, sb_conn_t *c, sb_topic_info_t *ti)
{
    uint64_t deadline;
    int rc;

    if ((rc = sb_conn_metadata(c, o->topic, ti, SETUP_TIMEOUT_MS)) < 0) {
        fprintf(stderr, "strata-bench: Metadata failed: %s\n", strerror(-rc));
        return rc;
    }
    if (ti->err == KP_ERR_UNKNOWN_TOPIC_OR_PARTITION ||
        (ti->err == KP_ERR_NONE && ti->n_parts == 0)) {
        kp_err_t err;
        char msg[256];
        int32_t np = o->partitions ? o->partitions : 1;

        if (o->mode == SB_CONSUME) {
            fprintf(stderr, "strata-bench: topic '%s' does not exist\n",
                    o->topic);
            return -ENOENT;
        }
        rc = sb_conn_create_topic(c, o->topic, np, o->replication,
                                  SETUP_TIMEOUT_MS, &err, msg, sizeof(msg));
        if (rc < 0 ||
            (err != KP_ERR_NONE && err != KP_ERR_TOPIC_ALREADY_EXISTS)) {
            fprintf(stderr, "strata-bench: cannot create topic '%s': %s%s%s\n",
                    o->topic, rc < 0 ? strerror(-rc) : kp_err_name(err),
                    msg[0] ? ": " : "", msg);
            return rc < 0 ? rc : -EPROTO;
        }
    } else if (ti->err != KP_ERR_NONE &&
               ti->err != KP_ERR_LEADER_NOT_AVAILABLE) {
        fprintf(stderr, "strata-bench: topic '%s': %s\n", o->topic,
                kp_err_name(ti->err));
        return -EPROTO;
    }
    /* wait until every partition has a leader */
    deadline = st_now_ns() + (uint64_t)SETUP_TIMEOUT_MS * 1000000u;
    for (;;) {
        bool ready;

        sb_topic_info_fini(ti);
        if ((rc = sb_conn_metadata(c, o->topic, ti, SETUP_TIMEOUT_MS)) < 0) {
            fprintf(stderr, "strata-bench: Metadata failed: %s\n",
                    strerror(-rc));
            return rc;
        }
        ready = ti->err == KP_ERR_NONE && ti->n_parts > 0;
        for (int32_t i = 0; ready && i < ti->n_parts; i++)
            ready = ti->parts[i].leader >= 0 &&
                    sb_topic_info_broker(ti, ti->parts[i].leader);
        if (ready)
            break;
        if (st_now_ns() > deadline) {
            fprintf(stderr,
                    "strata-bench: topic '%s' has no leader for every "
                    "partition after %d s (%s)\n",
                    o->topic, SETUP_TIMEOUT_MS / 1000, kp_err_name(ti->err));
            return -ETIMEDOUT;
        }
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    if (o->partitions && ti->n_parts != o->partitions && !o->quiet)
        fprintf(stderr,
                "strata-bench: topic '%s' exists with %d partitions; using "
                "them (--partitions %d only applies when creating it)\n",
                o->topic, ti->n_parts, o->partitions);
    return 0;
}

/* Deals partitions to n workers; fills leader address. */
static int deal(sb_worker_t *ws, int n, const sb_topic_info_t *ti,
                const char *role)
{
    int32_t np = ti->n_parts;

    for (int i = 0; i < n; i++) {
        sb_worker_t *w = &ws[i];
        int32_t leader = -1;

        w->parts = mem_calloc((size_t)np, sizeof(*w->parts));
        if (!w->parts)
            return -ENOMEM;
        if (n > np) {
            w->parts[w->n_parts++] = i % np;
        } else {
            for (int32_t p = i; p < np; p += n)
                w->parts[w->n_parts++] = p;
        }
        for (int j = 0; j < w->n_parts; j++) {
            int32_t l = ti->parts[w->parts[j]].leader;
            if (leader >= 0 && l != leader) {
                fprintf(stderr,
                        "strata-bench: the partitions of %s %d have "
                        "different leaders (%d, %d): use as many %ss as "
                        "partitions\n",
                        role, i, leader, l, role);
                return -EINVAL;
            }
            leader = l;
        }
        const sb_broker_addr_t *b = sb_topic_info_broker(ti, leader);
        snprintf(w->host, sizeof(w->host), "%s", b->host);
        w->port = b->port;
    }
    return 0;
}

/* ---- sampling ---- */

typedef struct sampler {
    sb_worker_t *ws;
    int nw;
    bool (*primary)(const sb_worker_t *w); /* whose records count */
    sb_hist_t *cur, *prev, *interval;
    uint64_t last_records, last_bytes, last_produced, last_t;
    sb_point_t *series;
    int n_series, cap_series;
    /* warm-up snapshot */
    bool warm;
    uint64_t warm_records, warm_bytes, warm_t;
} sampler_t;

static bool is_producer(const sb_worker_t *w)
{
    return w->producer;
}

static bool is_consumer(const sb_worker_t *w)
{
    return !w->producer;
}

static void totals(sampler_t *s, uint64_t *records, uint64_t *bytes,
                   uint64_t *produced, uint64_t *errors)
{
    *records = *bytes = *produced = *errors = 0;
    for (int i = 0; i < s->nw; i++) {
        sb_worker_t *w = &s->ws[i];
        *errors += sb__ld(&w->errors);
        if (w->producer)
            *produced += sb__ld(&w->records);
        if (!s->primary(w))
            continue;
        *records += sb__ld(&w->records);
        *bytes += sb__ld(&w->bytes);
    }
}

static void merged_hist(sampler_t *s, sb_hist_t *h)
{
    sb_hist_init(h);
    for (int i = 0; i < s->nw; i++)
        if (s->primary(&s->ws[i]))
            sb_hist_add(h, &s->ws[i].lat);
}

static void sample(sampler_t *s, const sb_shared_t *sh, uint64_t now,
                   bool print)
{
    const sb_opts_t *o = sh->o;
    uint64_t records, bytes, produced, errors;
    double dt = (double)(now - s->last_t) / NS;
    sb_point_t pt;
    sb_hist_t *t;

    if (dt <= 0)
        return;
    totals(s, &records, &bytes, &produced, &errors);
    merged_hist(s, s->cur);
    sb_hist_diff(s->interval, s->cur, s->prev);
    pt.t = (double)(now - sh->t0) / NS;
    pt.records_per_sec = (double)(records - s->last_records) / dt;
    pt.mb_per_sec = (double)(bytes - s->last_bytes) / dt / 1e6;
    pt.produced_per_sec = (double)(produced - s->last_produced) / dt;
    pt.p50_ms = (double)sb_hist_percentile(s->interval, 50) / 1e6;
    pt.p99_ms = (double)sb_hist_percentile(s->interval, 99) / 1e6;
    pt.errors = errors;
    if (s->n_series == s->cap_series) {
        int ncap = s->cap_series ? s->cap_series * 2 : 64;
        sb_point_t *n = mem_realloc(s->series, (size_t)ncap * sizeof(*n));
        if (n) {
            s->series = n;
            s->cap_series = ncap;
        }
    }
    if (s->n_series < s->cap_series)
        s->series[s->n_series++] = pt;
    if (print && !o->quiet) {
        const char *kind = o->mode == SB_PRODUCE ? "ack"
                           : o->mode == SB_E2E   ? "e2e"
                                                 : "fetch";
        char prod[64] = "";
        if (o->mode == SB_E2E)
            snprintf(prod, sizeof(prod), "produced %9.0f rec/s  ",
                     pt.produced_per_sec);
        fprintf(stderr,
                "%6.1f s  %s%s %9.0f rec/s  %8.2f MB/s  %s p50 %.3f ms  "
                "p99 %.3f ms  errors %llu\n",
                pt.t, prod,
                o->mode != SB_PRODUCE ? "read"
                : o->acks             ? "acked"
                                      : "sent ",
                pt.records_per_sec, pt.mb_per_sec, kind,
                (double)sb_hist_percentile(s->cur, 50) / 1e6,
                (double)sb_hist_percentile(s->cur, 99) / 1e6,
                (unsigned long long)errors);
    }
    if (!s->warm && now >= sh->t_measure) {
        s->warm = true;
        s->warm_records = sh->t_measure > sh->t0 ? records : 0;
        s->warm_bytes = sh->t_measure > sh->t0 ? bytes : 0;
        s->warm_t = sh->t_measure > sh->t0 ? now : sh->t0;
    }
    s->last_records = records;
    s->last_bytes = bytes;
    s->last_produced = produced;
    s->last_t = now;
    t = s->prev;
    s->prev = s->cur;
    s->cur = t;
}

static bool all_done(sb_worker_t *ws, int nw)
{
    for (int i = 0; i < nw; i++)
        if (!atomic_load(&ws[i].done))
            return false;
    return true;
}

static int start_worker(sb_worker_t *w)
{
    int rc = pthread_create(
        &w->th, NULL, w->producer ? sb__produce_main : sb__consume_main, w);
    if (rc) {
        snprintf(w->fatal, sizeof(w->fatal), "cannot start a thread: %s",
                 strerror(rc));
        atomic_store(&w->done, true);
        atomic_store(&w->ready, true);
        return -rc;
    }
    w->joinable = true;
    return 0;
}

void sb_result_fini(sb_result_t *r)
{
    mem_free(r->latency);
    mem_free(r->ack_latency);
    mem_free(r->series);
    r->latency = r->ack_latency = NULL;
    r->series = NULL;
}

int sb_run(const sb_opts_t *o, sb_result_t *r)
{
    static sb_shared_t sh; /* reachable from the signal handler */
    sb_conn_t boot;
    sb_topic_info_t ti = {0};
    sb_worker_t *ws = NULL;
    int np_w = o->mode == SB_CONSUME ? 0 : o->producers;
    int nc_w = o->mode == SB_PRODUCE ? 0 : o->consumers;
    int nw = 0, rc;
    sampler_t s;
    struct sigaction sa, old_int, old_term;
    static char fatal_buf[256];

    memset(r, 0, sizeof(*r));
    memset(&s, 0, sizeof(s));
    r->opts = o;
    simd_init();

    rc = sb_conn_open(&boot, o->host, o->port, o->client_id,
                      ST_MIN(o->timeout_ms, SETUP_TIMEOUT_MS));
    if (rc == 0)
        rc = sb_conn_negotiate(&boot, ST_MIN(o->timeout_ms, SETUP_TIMEOUT_MS));
    if (rc < 0) {
        fprintf(stderr, "strata-bench: cannot connect to %s: %s\n",
                o->bootstrap, strerror(-rc));
        sb_conn_close(&boot);
        return rc;
    }
    rc = topic_setup(o, &boot, &ti);
    sb_conn_close(&boot);
    if (rc < 0)
        goto out_ti;
    if (nc_w > ti.n_parts) {
        if (!o->quiet)
            fprintf(stderr,
                    "strata-bench: %d consumers for %d partitions: using "
                    "%d\n",
                    nc_w, ti.n_parts, ti.n_parts);
        nc_w = ti.n_parts;
    }
    nw = np_w + nc_w;
    ws = mem_calloc((size_t)nw, sizeof(*ws));
    if (!ws) {
        rc = -ENOMEM;
        goto out_ti;
    }
    memset(&sh, 0, sizeof(sh));
    sh.o = o;
    sh.n_parts = ti.n_parts;
    sh.consume_target = o->mode == SB_CONSUME ? (uint64_t)o->count : 0;
    atomic_store(&sh.producers_left, np_w);
    for (int i = 0; i < nw; i++) {
        sb_worker_t *w = &ws[i];
        w->sh = &sh;
        w->producer = i < np_w;
        w->id = w->producer ? i : i - np_w;
        sb_hist_init(&w->lat);
        if (w->producer) {
            int64_t c = o->count;
            w->limit =
                c ? (uint64_t)(c / np_w + (w->id < c % np_w)) : UINT64_MAX;
            w->rate = o->throughput > 0 ? o->throughput / np_w : 0;
        }
    }
    if ((rc = deal(ws, np_w, &ti, "producer")) < 0 ||
        (rc = deal(ws + np_w, nc_w, &ti, "consumer")) < 0)
        goto out_ws;
    r->partitions = ti.n_parts;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_flag = &sh.stop;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    /* consumers first: their start offsets must predate the load */
    for (int i = np_w; i < nw; i++)
        start_worker(&ws[i]);
    for (int i = np_w; i < nw; i++)
        while (!atomic_load(&ws[i].ready)) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL);
        }
    sh.t0 = st_now_ns();
    {
        struct timespec wall;
        clock_gettime(CLOCK_REALTIME, &wall);
        uint64_t mono = st_now_ns();
        sh.wall_offset = (int64_t)((uint64_t)wall.tv_sec * 1000000000u +
                                   (uint64_t)wall.tv_nsec) -
                         (int64_t)mono;
    }
    sh.t_measure = sh.t0 + (uint64_t)(o->warmup * NS);
    sh.t_end = o->duration ? sh.t0 + (uint64_t)(o->duration * NS) : 0;
    atomic_store(&sh.go, true);
    for (int i = 0; i < np_w; i++)
        if (start_worker(&ws[i]) < 0)
            atomic_fetch_sub(&sh.producers_left, 1);

    /* the sampler */
    s.ws = ws;
    s.nw = nw;
    s.primary = o->mode == SB_PRODUCE ? is_producer : is_consumer;
    s.cur = mem_alloc(sizeof(sb_hist_t));
    s.prev = mem_alloc(sizeof(sb_hist_t));
    s.interval = mem_alloc(sizeof(sb_hist_t));
    if (!s.cur || !s.prev || !s.interval) {
        atomic_store(&sh.stop, true);
        rc = -ENOMEM;
    } else {
        sb_hist_init(s.prev);
    }
    s.last_t = sh.t0;
    for (uint64_t tick = sh.t0 + (uint64_t)NS; s.cur;) {
        uint64_t now = st_now_ns();
        if (all_done(ws, nw))
            break;
        if (now >= tick) {
            sample(&s, &sh, now, true);
            tick += (uint64_t)NS;
            continue;
        }
        uint64_t nap = ST_MIN(tick - now, (uint64_t)20000000);
        struct timespec ts = {0, (long)nap};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < nw; i++)
        if (ws[i].joinable)
            pthread_join(ws[i].th, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    stop_flag = NULL;

    if (!s.cur)
        goto out_ws;
    /* the last, partial second (when it is long enough to mean much) */
    {
        uint64_t t_last = sh.t0;
        for (int i = 0; i < nw; i++) {
            uint64_t t = atomic_load(&ws[i].t_last);
            if (s.primary(&ws[i]) && t > t_last)
                t_last = t;
        }
        uint64_t now = st_now_ns();
        if (now - s.last_t >= 200000000u || s.n_series == 0)
            sample(&s, &sh, now, false);
        r->elapsed_s = (double)(t_last - sh.t0) / NS;
        if (!s.warm) { /* ended inside the warm-up */
            s.warm_t = t_last;
            s.warm_records = s.last_records;
            s.warm_bytes = s.last_bytes;
        }
        r->measured_s =
            t_last > s.warm_t ? (double)(t_last - s.warm_t) / NS : 0;
    }

    /* figures */
    r->latency = mem_alloc(sizeof(sb_hist_t));
    if (o->mode == SB_E2E)
        r->ack_latency = mem_alloc(sizeof(sb_hist_t));
    if (!r->latency || (o->mode == SB_E2E && !r->ack_latency)) {
        rc = -ENOMEM;
        goto out_ws;
    }
    sb_hist_init(r->latency);
    if (r->ack_latency)
        sb_hist_init(r->ack_latency);
    for (int i = 0; i < nw; i++) {
        sb_worker_t *w = &ws[i];
        if (s.primary(w)) {
            r->records += sb__ld(&w->records);
            r->bytes += sb__ld(&w->bytes);
            r->wire_bytes += sb__ld(&w->wire_bytes);
            r->requests += sb__ld(&w->requests);
            sb_hist_add(r->latency, &w->lat);
        }
        if (w->producer) {
            r->produced += sb__ld(&w->records);
            if (r->ack_latency)
                sb_hist_add(r->ack_latency, &w->lat);
        }
        r->failed += sb__ld(&w->failed);
        for (int e = 0; e < SB_NERR; e++)
            r->err[e] += sb__ld(&w->err[e]);
        if (!w->producer)
            r->target += w->start_records;
        if (w->fatal[0] && !r->fatal) {
            snprintf(fatal_buf, sizeof(fatal_buf), "%s", w->fatal);
            r->fatal = fatal_buf;
        }
    }
    if (o->mode == SB_PRODUCE || o->mode == SB_E2E)
        r->target = (uint64_t)o->count;
    else if (o->count)
        r->target = (uint64_t)o->count;
    if (o->mode == SB_E2E) {
        if (r->produced > r->records) {
            r->err[SB_ERR_MISSING] += r->produced - r->records;
            r->failed += r->produced - r->records;
        }
        if (!r->target)
            r->target = r->produced;
    }
    for (int e = 0; e < SB_NERR; e++)
        r->errors += r->err[e];
    r->latency_kind = o->mode == SB_PRODUCE ? "ack"
                      : o->mode == SB_E2E   ? "e2e"
                                            : "fetch";
    {
        uint64_t mrec = r->records - ST_MIN(r->records, s.warm_records);
        uint64_t mbytes = r->bytes - ST_MIN(r->bytes, s.warm_bytes);
        if (r->measured_s > 0) {
            r->records_per_sec = (double)mrec / r->measured_s;
            r->mb_per_sec = (double)mbytes / r->measured_s / 1e6;
        }
    }
    if (atomic_load(&sh.stop) && !r->fatal)
        r->fatal = "interrupted";
    r->ok = r->errors == 0 && !r->fatal &&
            (o->mode == SB_E2E
                 ? r->produced >= r->target && r->records >= r->produced
                 : r->records >= r->target);
    r->series = s.series;
    r->n_series = s.n_series;
    s.series = NULL;
    rc = 0;
out_ws:
    mem_free(s.cur);
    mem_free(s.prev);
    mem_free(s.interval);
    mem_free(s.series);
    for (int i = 0; i < nw; i++)
        mem_free(ws[i].parts);
    mem_free(ws);
out_ti:
    sb_topic_info_fini(&ti);
    return rc;
}
