/* Metrics: per-shard counters and histograms, per-shard snapshots of what
 * only a shard may read, and the renderers of /metrics (Prometheus text
 * format 0.0.4) and /v1/status (JSON). The HTTP endpoint that serves them
 * is brk_metrics_http.c.
 *
 * Two ways for a number to reach a scrape, chosen by who may read it:
 *
 * - Counters of fixed shape (requests by API and error code, latency and
 *   fsync histograms) live in a met_shard_t per shard. Only that shard
 *   writes them, with relaxed atomic loads and stores (a plain add, no
 *   locked instruction), and the HTTP thread reads them with relaxed loads
 *   and sums the shards. Each shard's block is allocated on its own cache
 *   lines, so shards never share a line.
 * - Everything else (partition offsets and sizes, committed offsets of
 *   groups, per-topic byte and record counts kept in a table that grows,
 *   connection counts, loop idle time) is read by the shard itself into a
 *   met_snap_t when the HTTP thread asks, on the shard's own loop.
 *
 * Histogram sums and counts are read bucket by bucket without a common
 * snapshot, so a scrape may see a count one observation ahead of the sum;
 * Prometheus tolerates that, as every client library has the same race.
 *
 * Threads: met_shard_t counters: written by their shard, read by any
 * thread. Its topic table and the met_topic_* functions: shard thread
 * only. A met_snap_t belongs to whoever holds it (built on a shard, then
 * handed to the HTTP thread). Renderers: any thread, pure. */
#ifndef STRATA_BRK_METRICS_H
#define STRATA_BRK_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "alloc/mem.h"
#include "net/kp_msg.h"
#include "net/net.h"

/* ---- histograms ---- */

/* Upper bounds of the latency buckets, in seconds: 50 us to 10 s, then
 * +Inf. The same bounds serve request and fsync latencies, so panels can
 * put them side by side. */
#define MET_HIST_BOUNDS 17
extern const uint64_t met_hist_bound_ns[MET_HIST_BOUNDS];
extern const char *const met_hist_bound_text[MET_HIST_BOUNDS];

typedef struct met_hist {
    /* Observations per bucket (not cumulative); the last is +Inf. */
    _Atomic uint64_t bucket[MET_HIST_BOUNDS + 1];
    _Atomic uint64_t sum_ns;
} met_hist_t;

/* One writer only (the owning shard). */
void met_hist_observe(met_hist_t *h, uint64_t ns);

/* A histogram summed over shards, ready to render. */
typedef struct met_hist_sum {
    uint64_t bucket[MET_HIST_BOUNDS + 1]; /* per bucket, not cumulative */
    uint64_t sum_ns;
} met_hist_sum_t;

/* Adds h into s (any thread). */
void met_hist_add(met_hist_sum_t *s, const met_hist_t *h);
uint64_t met_hist_count(const met_hist_sum_t *s);

/* ---- per-shard counters ---- */

/* API slots: the index of the API in brk_api_table(), and one more for
 * requests whose ApiKey is not in the table. Error slots: Kafka error
 * code + 1 (UNKNOWN_SERVER_ERROR, -1, is slot 0). */
#define MET_API_SLOTS 40
#define MET_ERR_SLOTS 128

static inline int met_err_slot(kp_err_t err)
{
    return err >= -1 && err < MET_ERR_SLOTS - 1 ? err + 1 : 0;
}

struct met_topic; /* shard-only table entry (brk_metrics.c) */

/* log_job_kind_t's values (checked where the broker counts them). */
#define MET_LOG_JOB_KINDS 3

typedef struct met_shard {
    _Alignas(64) _Atomic uint64_t requests[MET_API_SLOTS][MET_ERR_SLOTS];
    met_hist_t latency[MET_API_SLOTS];
    met_hist_t fsync;
    _Atomic uint64_t fsync_errors;
    /* Segment moves to the cold tier, and the bytes they moved. */
    met_hist_t tier_move;
    _Atomic uint64_t tier_moves_failed, tier_moved_bytes;
    /* Record bytes sent by Fetch: from the hot tier's mappings (writev),
     * and as file ranges (sendfile). */
    _Atomic uint64_t fetch_hot_bytes, fetch_file_bytes;
    /* Catch-up file ranges read into the page cache on the thread pool
     * before being sent (log_slice_read_in). */
    _Atomic uint64_t fetch_read_in_bytes;
    /* Background jobs of the logs (log.h), by log_job_kind_t: ended,
     * failed, and nanoseconds spent running on the thread pool. */
    _Atomic uint64_t log_jobs[MET_LOG_JOB_KINDS];
    _Atomic uint64_t log_job_failures[MET_LOG_JOB_KINDS];
    _Atomic uint64_t log_job_ns[MET_LOG_JOB_KINDS];
    /* Shard thread only: bytes and records in and out per topic, an open
     * hash table keyed by topic id. */
    _Alignas(64) struct met_topic **topics;
    size_t ntopics, topics_cap;
} met_shard_t;

/* Cache-line aligned and zeroed; NULL when out of memory. */
met_shard_t *met_shard_new(void);
void met_shard_free(met_shard_t *m);

/* A request finished (shard thread): counted under (api_slot, err), its
 * latency (frame complete → response ready) recorded for the API. */
void met_request_done(met_shard_t *m, int api_slot, kp_err_t err,
                      uint64_t latency_ns);
void met_fsync_done(met_shard_t *m, uint64_t ns, bool failed);
/* A move to the cold tier ended (shard thread): its duration (copy,
 * check, fsync and rename) and the bytes moved when it succeeded. */
void met_tier_move_done(met_shard_t *m, uint64_t ns, bool failed,
                        uint64_t bytes);
/* A log's background job ended (shard thread): kind is a log_job_kind_t,
 * ns the time it ran on the worker. */
void met_log_job_done(met_shard_t *m, int kind, uint64_t ns, bool failed);
/* Record bytes put into a Fetch response (shard thread): from a mapping
 * (hot) or a file range. */
void met_fetch_bytes(met_shard_t *m, bool hot, uint64_t bytes);
/* A catch-up range of `bytes` was read in on the thread pool. */
void met_fetch_read_in(met_shard_t *m, uint64_t bytes);

/* Per-topic traffic (shard thread). The topic is identified by its id
 * (unique within the process, so a topic deleted and created again starts
 * from zero); the name is copied on first use. Allocation failure drops
 * the count. */
void met_topic_in(met_shard_t *m, uint64_t topic_id, const char *name,
                  size_t len, uint64_t bytes, uint64_t records);
void met_topic_out(met_shard_t *m, uint64_t topic_id, const char *name,
                   size_t len, uint64_t bytes, uint64_t records);
/* Drops the entries for which keep() returns false (topics deleted), so
 * the table holds only live topics. Shard thread. */
void met_topic_prune(met_shard_t *m,
                     bool (*keep)(void *arg, uint64_t topic_id,
                                  const char *name, size_t len),
                     void *arg);

/* ---- shard snapshots ---- */

typedef struct met_part_snap {
    const char *topic; /* NUL-terminated, in the snapshot's pool */
    int32_t partition;
    int64_t log_start, log_end;
    int64_t size_bytes, segments;           /* local tier */
    int64_t cold_size_bytes, cold_segments; /* cold tier */
} met_part_snap_t;

typedef struct met_group_snap {
    const char *id; /* id_len bytes, any bytes, in the pool */
    size_t id_len;
    const char *state;         /* static string */
    const char *protocol_type; /* in the pool; NULL if none */
    int32_t members, generation;
    size_t first_offset, noffsets; /* its entries in offsets[] */
} met_group_snap_t;

typedef struct met_offset_snap {
    const char *topic; /* in the pool */
    int32_t partition;
    int64_t offset;
} met_offset_snap_t;

typedef struct met_topic_snap {
    const char *topic; /* in the pool */
    uint64_t bytes_in, records_in, bytes_out, records_out;
} met_topic_snap_t;

typedef struct met_topic_info {
    const char *name; /* in the pool */
    int32_t partitions;
} met_topic_info_t;

/* What one shard saw, at one moment. Arrays grow with the met_snap_add_*
 * functions; strings live in the pool. */
typedef struct met_snap {
    mem_pool_t *pool;
    int shard;
    uint64_t loop_idle_ns, loop_run_ns; /* since the shard's loop started */
    net_stats_t net;
    met_topic_info_t *topics; /* the shard's topic list, sorted by name */
    size_t ntopics, cap_topics;
    met_part_snap_t *parts; /* partitions the shard owns */
    size_t nparts, cap_parts;
    met_group_snap_t *groups; /* groups the shard coordinates */
    size_t ngroups, cap_groups;
    met_offset_snap_t *offsets;
    size_t noffsets, cap_offsets;
    met_topic_snap_t *traffic; /* per-topic traffic seen by this shard */
    size_t ntraffic, cap_traffic;
} met_snap_t;

met_snap_t *met_snap_new(int shard); /* NULL when out of memory */
void met_snap_free(met_snap_t *s);   /* NULL is ignored */
/* Each returns 0 or -ENOMEM (the snapshot then misses that entry). Names
 * are copied. add_offset belongs to the group added last. */
int met_snap_add_topic(met_snap_t *s, const char *name, size_t len,
                       int32_t partitions);
int met_snap_add_part(met_snap_t *s, const char *topic, size_t len,
                      const met_part_snap_t *p);
int met_snap_add_group(met_snap_t *s, const char *id, size_t id_len,
                       const char *state, const char *protocol_type,
                       int32_t members, int32_t generation);
int met_snap_add_offset(met_snap_t *s, const char *topic, size_t len,
                        int32_t partition, int64_t offset);
/* Copies the shard's per-topic traffic table into the snapshot. */
int met_snap_add_traffic(met_snap_t *s, const met_shard_t *m);

/* ---- rendering ---- */

/* A growable text buffer; err sticks at -ENOMEM after a failed growth. */
typedef struct met_buf {
    char *p;
    size_t len, cap;
    int err;
} met_buf_t;

void met_buf_printf(met_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void met_buf_put(met_buf_t *b, const char *s, size_t n);
/* A Prometheus label value: backslash, double quote and newline escaped,
 * bytes that are not valid UTF-8 replaced by U+FFFD (the format requires
 * UTF-8). */
void met_buf_label(met_buf_t *b, const char *s, size_t n);
/* A JSON string with its quotes, same UTF-8 repair, control characters
 * escaped. */
void met_buf_json_str(met_buf_t *b, const char *s, size_t n);
void met_buf_free(met_buf_t *b);

/* Everything one scrape shows. shards/snaps/fresh have nshards entries;
 * snaps[i] may be NULL (the shard never answered), and fresh[i] says
 * whether it answered this time (else snaps[i] is its last answer). */
typedef struct met_view {
    int nshards;
    met_shard_t *const *shards;
    met_snap_t *const *snaps;
    const bool *fresh;
    /* loop utilisation since the previous scrape, per shard; NULL or a
     * negative entry when unknown */
    const double *utilization;
    /* api_names[slot]: label of each API slot in use; napis slots */
    const char *const *api_names;
    int napis;
    int32_t node_id;
    const char *cluster_id;
    const char *version;
    double uptime_s;
    double start_time_s;     /* Unix time */
    int32_t max_connections; /* max.connections */
    bool cold_tier;          /* log.tier.cold.dir is set */
    /* The filesystems holding each tier's directory (statvfs at scrape
     * time): local (log.dirs) first, then cold when configured. */
    struct met_dir {
        const char *tier, *path;
        bool ok; /* statvfs succeeded */
        uint64_t free_bytes, size_bytes;
    } dirs[2];
    int ndirs;
} met_view_t;

/* Appends the Prometheus text exposition (format 0.0.4) of v. */
void met_render_prometheus(const met_view_t *v, met_buf_t *out);
/* Appends the /v1/status JSON document of v. */
void met_render_status(const met_view_t *v, met_buf_t *out);

/* ---- the endpoint (brk_metrics_http.c) ----
 *
 * One registry per broker (b->met): every shard's counters, and, when
 * metrics.listener is set, the HTTP server on its own thread
 * (libmicrohttpd) with one uv_async_t per shard through which it asks the
 * shard for a snapshot. Only the HTTP thread and those async callbacks
 * share the registry's mutex; the request path never takes it. */
struct brk;
struct brk_shard;

/* Main thread, before the shards start (and after the signal mask is set:
 * the HTTP thread inherits it). Creates the registry in b->met, binds
 * metrics.listener when set and starts the HTTP thread, logging the
 * address. Returns 0, or -errno (logged; b->met may be set and must be
 * freed with met_server_free). */
int met_server_start(struct brk *b);
/* Main thread: stops the HTTP thread and waits for it (a scrape in
 * progress ends within its deadline). Before the shards stop. */
void met_server_stop(struct brk *b);
/* Main thread, once the shard threads have exited. NULL-safe. */
void met_server_free(struct brk *b);
/* Shard thread, first thing in on_shard_start: sets sh->met, and with the
 * endpoint on enables loop idle-time accounting and registers the shard's
 * snapshot async. */
void met_shard_attach(struct brk_shard *sh);
/* Shard thread, in on_shard_stop: unregisters and closes the async. */
void met_shard_detach(struct brk_shard *sh);

#endif
