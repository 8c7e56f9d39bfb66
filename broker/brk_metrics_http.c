/* The metrics/ops HTTP endpoint: GET /metrics (Prometheus text format
 * 0.0.4), GET /healthz and GET /v1/status (JSON), on metrics.listener.
 *
 * libmicrohttpd runs the server on one internal thread of its own, so a
 * slow or hostile HTTP client never touches a shard, and malformed HTTP is
 * its parser's business (it answers 400 itself). We bind the socket
 * ourselves and hand it over (MHD_OPTION_LISTEN_SOCKET): that gives a real
 * errno when the address is taken, the bound port when the configured one
 * is 0, and IPv6 the way the Kafka listener does it.
 *
 * A scrape asks every shard for a snapshot through that shard's uv_async_t:
 * the shard reads its partitions, groups, per-topic traffic, connection
 * counts and loop idle time on its own loop, where they are safe to read,
 * and hands the snapshot back under the registry mutex, signalling a
 * condition variable. The HTTP thread waits at most one second in all; a
 * shard that has not answered by then is reported down (strata_shard_up 0,
 * /healthz 503) and its previous snapshot is shown instead, so counters
 * summed over shards never go backwards. The mutex is taken only by the
 * HTTP thread and by those async callbacks, never on the request path.
 * Counters of fixed shape are read directly (brk_metrics.h). */
#include "broker/brk.h"
#include "broker/brk_metrics.h"
#include "broker/brk_offsets.h"
#include "strata_features.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* How long a scrape waits for the shards, and so the /healthz deadline. */
#define MET_SCRAPE_TIMEOUT_MS 1000

struct met_slot {
    /* under the registry mutex */
    uv_async_t *async; /* NULL: the shard is not attached */
    uint64_t want;     /* scrape generation asked for; 0 none */
    met_snap_t *answer;
    /* shard thread only */
    uint64_t loop_start_ns;
    /* HTTP thread only */
    met_snap_t *last;
    bool fresh;
    uint64_t prev_idle, prev_run;
    double utilization;
};

typedef struct met_registry {
    brk_t *b;
    int nshards;
    met_shard_t **shards;
    struct met_slot *slots;
    const char **api_names;
    int napis;
    uint64_t start_ns;
    int64_t start_wall_ms;
    bool http; /* the endpoint is configured */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t gen;
    int answered;
    struct MHD_Daemon *mhd;
} met_registry_t;

/* ---- shard side ---- */

static bool topic_alive(void *arg, uint64_t id, const char *name, size_t len)
{
    const brk_topic_t *t = brk_topics_find(arg, name, len);
    return t && t->id == id;
}

static int on_group(void *arg, const brk_coord_group_info_t *g)
{
    return met_snap_add_group(arg, g->id, g->id_len, g->state, g->protocol_type,
                              g->members, g->generation);
}

static int on_offset(void *arg, kp_str_t topic, int32_t partition,
                     const struct brk_ocommit *c)
{
    return met_snap_add_offset(arg, topic.p, (size_t)topic.len, partition,
                               c->offset);
}

/* Everything only the shard may read, read now. NULL when out of memory. */
static met_snap_t *collect(brk_shard_t *sh, struct met_slot *slot)
{
    uv_loop_t *loop = net_shard_loop(sh->ns);
    const brk_topics_t *tt = sh->topics;
    met_snap_t *s = met_snap_new(sh->id);
    brk_coord_visitor_t v = {on_group, on_offset, NULL};
    int rc = 0;

    if (!s)
        return NULL;
    s->loop_idle_ns = uv_metrics_idle_time(loop);
    s->loop_run_ns = uv_hrtime() - slot->loop_start_ns;
    s->net = *net_shard_stats(sh->ns);
    for (int32_t i = 0; tt && i < tt->n && rc == 0; i++) {
        const brk_topic_t *t = &tt->topics[i];
        rc = met_snap_add_topic(s, t->name, t->name_len, t->nparts);
        for (int32_t p = 0; p < t->nparts && rc == 0; p++) {
            brk_part_t *bp;
            met_part_snap_t ps;
            if (brk_owner(t, p, sh->b->nshards) != sh->id)
                continue;
            bp = brk_part_find(sh, t->id, p);
            if (!bp)
                continue;
            ps.partition = p;
            ps.log_start = log_start_offset(bp->log);
            ps.log_end = log_end_offset(bp->log);
            {
                log_tier_stats_t ts;
                log_tier_stats(bp->log, &ts);
                ps.size_bytes = ts.local_bytes;
                ps.segments = (int64_t)ts.local_segments;
                ps.cold_size_bytes = ts.cold_bytes;
                ps.cold_segments = (int64_t)ts.cold_segments;
            }
            rc = met_snap_add_part(s, t->name, t->name_len, &ps);
        }
    }
    v.arg = s;
    if (rc == 0)
        rc = brk_coord_collect(sh, &v);
    if (tt)
        met_topic_prune(sh->met, topic_alive, (void *)tt);
    if (rc == 0)
        rc = met_snap_add_traffic(s, sh->met);
    if (rc < 0) {
        met_snap_free(s);
        return NULL;
    }
    return s;
}

static void on_collect(uv_async_t *a)
{
    brk_shard_t *sh = a->data;
    met_registry_t *r = sh->b->met;
    struct met_slot *slot = &r->slots[sh->id];
    met_snap_t *s;
    uint64_t gen;

    pthread_mutex_lock(&r->mu);
    gen = slot->answer ? 0 : slot->want;
    pthread_mutex_unlock(&r->mu);
    if (!gen)
        return;
    s = collect(sh, slot);
    pthread_mutex_lock(&r->mu);
    if (s && slot->want == gen && !slot->answer) {
        slot->answer = s;
        s = NULL;
        r->answered++;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    met_snap_free(s); /* too late: the scrape moved on */
}

static void free_handle(uv_handle_t *h)
{
    mem_free(h);
}

void met_shard_attach(brk_shard_t *sh)
{
    met_registry_t *r = sh->b->met;
    struct met_slot *slot = &r->slots[sh->id];
    uv_loop_t *loop = net_shard_loop(sh->ns);
    uv_async_t *a;
    int rc;

    sh->met = r->shards[sh->id];
    if (!r->http)
        return;
    /* Before the loop first runs, as libuv requires. */
    rc = uv_loop_configure(loop, UV_METRICS_IDLE_TIME);
    if (rc != 0)
        st_warn("shard %d: no loop idle time for the metrics: %s", sh->id,
                uv_strerror(rc));
    slot->loop_start_ns = uv_hrtime();
    a = mem_alloc(sizeof(*a));
    if (!a || uv_async_init(loop, a, on_collect) != 0) {
        st_error("shard %d: cannot set up metrics snapshots", sh->id);
        mem_free(a);
        return;
    }
    a->data = sh;
    pthread_mutex_lock(&r->mu);
    slot->async = a;
    pthread_mutex_unlock(&r->mu);
}

void met_shard_detach(brk_shard_t *sh)
{
    met_registry_t *r = sh->b->met;
    struct met_slot *slot = &r->slots[sh->id];
    uv_async_t *a;

    pthread_mutex_lock(&r->mu);
    a = slot->async;
    slot->async = NULL;
    slot->want = 0;
    pthread_mutex_unlock(&r->mu);
    if (a)
        uv_close((uv_handle_t *)a, free_handle);
}

/* ---- HTTP thread ---- */

/* Asks every attached shard for a snapshot and waits for the answers, at
 * most MET_SCRAPE_TIMEOUT_MS. Afterwards slot->last is each shard's newest
 * snapshot and slot->fresh says whether it came now. */
static void scrape(met_registry_t *r)
{
    struct timespec until;
    int asked = 0;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += MET_SCRAPE_TIMEOUT_MS / 1000;
    until.tv_nsec += (MET_SCRAPE_TIMEOUT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&r->mu);
    r->gen++;
    r->answered = 0;
    for (int i = 0; i < r->nshards; i++) {
        struct met_slot *slot = &r->slots[i];
        if (!slot->async)
            continue;
        slot->want = r->gen;
        net_wake(slot->async);
        asked++;
    }
    while (r->answered < asked)
        if (pthread_cond_timedwait(&r->cv, &r->mu, &until) == ETIMEDOUT)
            break;
    for (int i = 0; i < r->nshards; i++) {
        struct met_slot *slot = &r->slots[i];
        slot->want = 0;
        slot->fresh = slot->answer != NULL;
        slot->utilization = -1;
        if (!slot->answer)
            continue;
        met_snap_free(slot->last);
        slot->last = slot->answer;
        slot->answer = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    for (int i = 0; i < r->nshards; i++) {
        struct met_slot *slot = &r->slots[i];
        const met_snap_t *s = slot->last;
        if (!slot->fresh || s->loop_run_ns <= slot->prev_run)
            continue;
        double run = (double)(s->loop_run_ns - slot->prev_run);
        double idle = s->loop_idle_ns > slot->prev_idle
                          ? (double)(s->loop_idle_ns - slot->prev_idle)
                          : 0;
        slot->utilization = idle >= run ? 0 : 1 - idle / run;
        slot->prev_run = s->loop_run_ns;
        slot->prev_idle = s->loop_idle_ns;
    }
}

static int view_and_render(met_registry_t *r, bool status, met_buf_t *out)
{
    met_snap_t *snaps[NET_MAX_SHARDS];
    bool fresh[NET_MAX_SHARDS];
    double util[NET_MAX_SHARDS];
    met_view_t v = {0};
    int up = 0;

    scrape(r);
    for (int i = 0; i < r->nshards; i++) {
        snaps[i] = r->slots[i].last;
        fresh[i] = r->slots[i].fresh;
        util[i] = r->slots[i].utilization;
        up += fresh[i];
    }
    v.nshards = r->nshards;
    v.shards = r->shards;
    v.snaps = snaps;
    v.fresh = fresh;
    v.utilization = util;
    v.api_names = r->api_names;
    v.napis = r->napis;
    v.node_id = r->b->cfg->node_id;
    v.cluster_id = r->b->cluster_id;
    v.version = STRATA_VERSION;
    v.uptime_s = (double)(st_now_ns() - r->start_ns) / 1e9;
    v.start_time_s = (double)r->start_wall_ms / 1e3;
    v.max_connections = r->b->cfg->max_connections;
    v.cold_tier = r->b->cfg->has_log_tier_cold_dir;
    /* statvfs here, on the HTTP thread: a slow disk delays the scrape,
     * never a shard. */
    v.dirs[v.ndirs++] =
        (struct met_dir){.tier = "local", .path = r->b->cfg->log_dirs};
    if (r->b->cfg->has_log_tier_cold_dir)
        v.dirs[v.ndirs++] = (struct met_dir){
            .tier = "cold", .path = r->b->cfg->log_tier_cold_dir};
    for (int i = 0; out && !status && i < v.ndirs; i++) {
        struct statvfs sv;
        if (statvfs(v.dirs[i].path, &sv) == 0) {
            v.dirs[i].ok = true;
            v.dirs[i].free_bytes = (uint64_t)sv.f_bavail * sv.f_frsize;
            v.dirs[i].size_bytes = (uint64_t)sv.f_blocks * sv.f_frsize;
        }
    }
    if (out) {
        if (status)
            met_render_status(&v, out);
        else
            met_render_prometheus(&v, out);
    }
    return up;
}

static enum MHD_Result answer(struct MHD_Connection *c, unsigned code,
                              const char *type, met_buf_t *body)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (body->err) {
        met_buf_free(body);
        return answer(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain",
                      &(met_buf_t){0});
    }
    if (body->p)
        resp = MHD_create_response_from_buffer_with_free_callback(
            body->len, body->p, mem_free);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"",
                                               MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        met_buf_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(c, code, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_http(void *cls, struct MHD_Connection *c,
                               const char *url, const char *method,
                               const char *version, const char *upload,
                               size_t *upload_len, void **req_cls)
{
    met_registry_t *r = cls;
    met_buf_t body = {0};
    bool get = !strcmp(method, MHD_HTTP_METHOD_GET) ||
               !strcmp(method, MHD_HTTP_METHOD_HEAD);
    bool known = !strcmp(url, "/metrics") || !strcmp(url, "/healthz") ||
                 !strcmp(url, "/v1/status");
    (void)version;
    (void)upload;
    (void)upload_len;
    (void)req_cls;

    /* Answered on the first call, once the headers are in: none of our
     * resources takes a body, and one that came is discarded. */
    if (!known) {
        met_buf_printf(&body, "not found: try /metrics, /healthz or "
                              "/v1/status\n");
        return answer(c, MHD_HTTP_NOT_FOUND, "text/plain; charset=utf-8",
                      &body);
    }
    if (!get) {
        met_buf_printf(&body, "method not allowed\n");
        return answer(c, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "text/plain; charset=utf-8", &body);
    }
    if (!strcmp(url, "/healthz")) {
        int up = view_and_render(r, false, NULL);
        if (up == r->nshards) {
            met_buf_printf(&body, "ok\n");
            return answer(c, MHD_HTTP_OK, "text/plain; charset=utf-8", &body);
        }
        met_buf_printf(&body,
                       "unhealthy: %d of %d shard(s) answered within "
                       "%d ms:",
                       up, r->nshards, MET_SCRAPE_TIMEOUT_MS);
        for (int i = 0; i < r->nshards; i++)
            if (!r->slots[i].fresh)
                met_buf_printf(&body, " shard %d down", i);
        met_buf_printf(&body, "\n");
        return answer(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                      "text/plain; charset=utf-8", &body);
    }
    if (!strcmp(url, "/v1/status")) {
        view_and_render(r, true, &body);
        return answer(c, MHD_HTTP_OK, "application/json", &body);
    }
    view_and_render(r, false, &body);
    return answer(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
                  &body);
}

__attribute__((format(printf, 2, 0))) static void
on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    size_t n;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    st_warn("metrics http: %s", msg);
}

/* ---- start and stop ---- */

/* A non-blocking listening socket on l; returns the fd or -errno. */
static int bind_listener(const brk_listener_t *l, int *port)
{
    struct addrinfo hints = {0}, *ai = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char portstr[8];
    const char *host = l->wildcard ? (l->ipv6 ? "::" : "0.0.0.0") : l->host;
    int fd, rc, one = 1;

    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)l->port);
    rc = getaddrinfo(host, portstr, &hints, &ai);
    if (rc != 0) {
        st_error("metrics.listener: cannot resolve %s: %s", host,
                 gai_strerror(rc));
        return -EINVAL;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
        rc = -errno;
        close(fd);
        goto out;
    }
    *port = ss.ss_family == AF_INET6
                ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    rc = fd;
out:
    freeaddrinfo(ai);
    return rc;
}

static met_registry_t *registry_new(brk_t *b)
{
    met_registry_t *r = mem_calloc(1, sizeof(*r));
    const brk_api_t *apis;
    size_t napis;
    pthread_condattr_t ca;

    if (!r)
        return NULL;
    r->b = b;
    r->nshards = b->nshards;
    r->start_ns = st_now_ns();
    r->start_wall_ms = st_wall_ms();
    pthread_mutex_init(&r->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    b->met = r;
    r->shards = mem_calloc((size_t)r->nshards, sizeof(*r->shards));
    r->slots = mem_calloc((size_t)r->nshards, sizeof(*r->slots));
    apis = brk_api_table(&napis);
    /* Slot napis counts requests whose ApiKey we do not know. */
    st_assert(napis + 1 <= MET_API_SLOTS);
    r->napis = (int)napis + 1;
    r->api_names = mem_calloc(napis + 1, sizeof(*r->api_names));
    if (!r->shards || !r->slots || !r->api_names)
        return NULL;
    for (size_t i = 0; i < napis; i++)
        r->api_names[i] = kp_api_name(apis[i].key);
    r->api_names[napis] = "unknown";
    for (int i = 0; i < r->nshards; i++)
        if (!(r->shards[i] = met_shard_new()))
            return NULL;
    return r;
}

/* Whether l is metrics.listener's built-in default (brk_config.c). */
static bool is_default_listener(const brk_listener_t *l)
{
    return l->port == 8080 && !strcmp(l->host, "127.0.0.1");
}

int met_server_start(brk_t *b)
{
    const brk_config_t *cfg = b->cfg;
    met_registry_t *r = registry_new(b);
    char addr[300];
    int fd, port = 0;

    if (!r) {
        st_error("metrics: out of memory");
        return -ENOMEM;
    }
    if (!cfg->has_metrics_listener) {
        st_info("metrics endpoint off (metrics.listener is empty)");
        return 0;
    }
    fd = bind_listener(&cfg->metrics_listener, &port);
    if (fd == -EADDRINUSE && is_default_listener(&cfg->metrics_listener)) {
        /* Nobody asked for this address: 8080 is also the default of
         * kafka-ui, AKHQ and many more, and a broker that will not start
         * next to them for want of an endpoint nobody configured helps no
         * one. An address the operator chose is refused below. */
        st_warn("metrics.listener: 127.0.0.1:8080 (the default) is in use: "
                "metrics endpoint off; set metrics.listener to a free "
                "host:port, or to none");
        return 0;
    }
    if (fd < 0) {
        st_error("metrics.listener: cannot listen on %s:%u: %s",
                 cfg->metrics_listener.host[0] ? cfg->metrics_listener.host
                                               : "*",
                 (unsigned)cfg->metrics_listener.port, strerror(-fd));
        return fd;
    }
    r->http = true;
    r->mhd = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0,
        NULL, NULL, on_http, r, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, r,
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 64,
        MHD_OPTION_CONNECTION_TIMEOUT, 10, MHD_OPTION_END);
    if (!r->mhd) {
        st_error("metrics.listener: cannot start the HTTP server");
        close(fd);
        r->http = false;
        return -EIO;
    }
    snprintf(addr, sizeof(addr),
             cfg->metrics_listener.ipv6 ? "http://[%s]:%d" : "http://%s:%d",
             cfg->metrics_listener.wildcard
                 ? (cfg->metrics_listener.ipv6 ? "::" : "0.0.0.0")
                 : cfg->metrics_listener.host,
             port);
    st_info("metrics on %s (/metrics, /healthz, /v1/status)", addr);
    return 0;
}

void met_server_stop(brk_t *b)
{
    met_registry_t *r = b->met;
    if (r && r->mhd) {
        MHD_stop_daemon(r->mhd);
        r->mhd = NULL;
    }
}

void met_server_free(brk_t *b)
{
    met_registry_t *r = b->met;
    if (!r)
        return;
    met_server_stop(b);
    for (int i = 0; r->slots && i < r->nshards; i++) {
        met_snap_free(r->slots[i].last);
        met_snap_free(r->slots[i].answer);
    }
    for (int i = 0; r->shards && i < r->nshards; i++)
        met_shard_free(r->shards[i]);
    mem_free(r->shards);
    mem_free(r->slots);
    mem_free(r->api_names);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    mem_free(r);
    b->met = NULL;
}
