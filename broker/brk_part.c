/* Partitions on their owner shard: the batch aggregator, group commit, and
 * the long-poll waiters.
 *
 * Produce ops assign offsets as they arrive (rewriting each batch's
 * baseOffset in the request buffer, which the CRC does not cover) and
 * queue their buffers; at the end of the loop turn every partition with
 * queued appends writes them all with one log_append (one pwritev). acks=1
 * ops are answered then; acks=all ops wait for an fdatasync, which runs in
 * libuv's thread pool so the loop never blocks, at most one per partition
 * at a time: appends that arrive while it runs are covered by the next
 * one, so many producers share each fsync.
 *
 * Fetches that found too little data leave a ticket (brk_wait) on each
 * partition they read; the next append wakes every ticket. Tickets whose
 * fetch has finished are dropped lazily.
 *
 * Idempotent producers: every batch with a producer id is checked against
 * the partition's producer state (brk_pid.h) when it gets its offsets, so
 * the state always runs ahead of the log by exactly the batches queued
 * this turn; they are committed when the turn's append succeeds and
 * forgotten when it fails. A duplicate is answered with its original's
 * offsets, but never before the original itself could be: it waits behind
 * an original still queued, and for acks=all behind its fsync. The state
 * is rebuilt lazily, on the first batch with a producer id after the
 * partition opens, from the snapshot file plus a scan of the batch headers
 * written after it, so opening thousands of partitions reads nothing more
 * than one snapshot header each. The snapshot is written when a segment
 * rolls (on the thread pool) and when the partition closes. */
#include "broker/brk.h"
#include "broker/brk_metrics.h"
#include "broker/brk_pid.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

/* A partition's producer state, once rebuilt. */
struct brk_part_pids {
    brk_pid_table_t t;
    bool snapping;   /* a snapshot write runs on the thread pool */
    bool snap_again; /* a segment rolled meanwhile: write again after */
};

/* ---- table of owned partitions ---- */

static size_t bucket(const brk_shard_t *sh, uint64_t id, int32_t index)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull ^ (uint64_t)(uint32_t)index;
    h ^= h >> 29;
    return (size_t)(h % sh->nbuckets);
}

brk_part_t *brk_part_find(brk_shard_t *sh, uint64_t topic_id, int32_t index)
{
    brk_part_t *p;
    if (!sh->nbuckets)
        return NULL;
    for (p = sh->parts[bucket(sh, topic_id, index)]; p; p = p->hnext)
        if (p->topic_id == topic_id && p->index == index)
            return p;
    return NULL;
}

static int table_grow(brk_shard_t *sh)
{
    size_t n = sh->nbuckets ? sh->nbuckets * 2 : 64;
    brk_part_t **t = mem_calloc(n, sizeof(*t));
    brk_part_t **old = sh->parts;
    size_t oldn = sh->nbuckets;
    if (!t)
        return -ENOMEM;
    sh->parts = t;
    sh->nbuckets = n;
    for (size_t i = 0; i < oldn; i++) {
        brk_part_t *p = old[i], *next;
        for (; p; p = next) {
            size_t b = bucket(sh, p->topic_id, p->index);
            next = p->hnext;
            p->hnext = t[b];
            t[b] = p;
        }
    }
    mem_free(old);
    return 0;
}

/* <root>/<topic>-<index>: Kafka's partition directory, in either tier. */
static void part_dirname(char *out, size_t n, const char *root,
                         const brk_topic_t *t, int32_t index)
{
    snprintf(out, n, "%s/%.*s-%d", root, (int)t->name_len, t->name, index);
}

log_config_t brk_log_config(const brk_t *b, const brk_topic_t *t, int32_t index,
                            char *cold, size_t n)
{
    log_config_t lc = {0};
    /* __consumer_offsets stays local: the coordinator replays and
     * compacts it, and it is small. */
    if (b->cfg->has_log_tier_cold_dir &&
        !brk_topic_is_internal(t->name, t->name_len)) {
        part_dirname(cold, n, b->cfg->log_tier_cold_dir, t, index);
        lc.cold_dir = cold;
    }
    lc.io_mode = (log_io_mode_t)(b->cfg->log_io_mode + LOG_IO_PWRITE);
    lc.hot_reads = b->cfg->log_hot_reads;
    lc.cold_after_ms = b->cfg->log_tier_cold_after_ms;
    lc.local_retention_bytes = b->cfg->log_tier_local_retention_bytes;
    lc.segment_bytes = t->cfg.segment_bytes;
    lc.roll_ms = brk_config_roll_ms(b->cfg);
    lc.index_interval_bytes = b->cfg->log_index_interval_bytes;
    lc.index_max_bytes = b->cfg->log_index_size_max_bytes;
    lc.retention_ms = t->cfg.retention_ms;
    lc.retention_bytes = t->cfg.retention_bytes;
    return lc;
}

/* A snapshot beyond the log's end describes batches a crash took away.
 * It must go now, durably, before new batches reach that offset again and
 * make it look valid. Costs one failed open() when there is no snapshot. */
static void drop_stale_snapshot(brk_part_t *p)
{
    int64_t off;
    int rc = brk_pid_snapshot_peek_offset(p->dir, &off);
    if (rc < 0 || off <= log_end_offset(p->log))
        return;
    st_warn("%s: producer state snapshot at offset %lld is past the log end "
            "%lld: removing it",
            p->dir, (long long)off, (long long)log_end_offset(p->log));
    rc = brk_pid_snapshot_remove(p->dir);
    if (rc < 0)
        st_error("%s: cannot remove %s: %s", p->dir, BRK_PID_SNAPSHOT_NAME,
                 strerror(-rc));
}

/* ---- partitions that failed to open ---- */

struct brk_offline {
    uint64_t topic_id;
    int32_t index;
};

/* Best effort: without memory the partition stays listed with a leader,
 * and its ops still answer KAFKA_STORAGE_ERROR (in_snapshot below). */
static void offline_add(brk_t *b, uint64_t topic_id, int32_t index)
{
    pthread_mutex_lock(&b->offline_mu);
    size_t n = atomic_load(&b->n_offline);
    if (n == b->offline_cap) {
        size_t cap = b->offline_cap ? b->offline_cap * 2 : 16;
        struct brk_offline *o = mem_realloc(b->offline, cap * sizeof(*o));
        if (!o) {
            pthread_mutex_unlock(&b->offline_mu);
            return;
        }
        b->offline = o;
        b->offline_cap = cap;
    }
    b->offline[n] = (struct brk_offline){topic_id, index};
    atomic_store(&b->n_offline, n + 1);
    pthread_mutex_unlock(&b->offline_mu);
}

void brk_offline_forget(brk_t *b, uint64_t topic_id, int32_t index)
{
    if (atomic_load(&b->n_offline) == 0)
        return;
    pthread_mutex_lock(&b->offline_mu);
    size_t n = atomic_load(&b->n_offline);
    for (size_t i = 0; i < n; i++) {
        if (b->offline[i].topic_id == topic_id &&
            b->offline[i].index == index) {
            b->offline[i] = b->offline[n - 1];
            atomic_store(&b->n_offline, n - 1);
            break;
        }
    }
    pthread_mutex_unlock(&b->offline_mu);
}

int32_t brk_offline_of(brk_t *b, uint64_t topic_id, int32_t nparts, bool *off)
{
    int32_t found = 0;

    if (atomic_load(&b->n_offline) == 0)
        return 0;
    pthread_mutex_lock(&b->offline_mu);
    size_t n = atomic_load(&b->n_offline);
    for (size_t i = 0; i < n; i++) {
        const struct brk_offline *o = &b->offline[i];
        if (o->topic_id == topic_id && o->index >= 0 && o->index < nparts) {
            off[o->index] = true;
            found++;
        }
    }
    pthread_mutex_unlock(&b->offline_mu);
    return found;
}

void brk_offline_free(brk_t *b)
{
    mem_free(b->offline);
    b->offline = NULL;
    b->offline_cap = 0;
    atomic_store(&b->n_offline, 0);
}

static int part_open(brk_shard_t *sh, const brk_topic_t *t, int32_t index,
                     bool recover)
{
    char dir[4400], cold[4400];
    log_config_t lc = brk_log_config(sh->b, t, index, cold, sizeof(cold));
    brk_part_t *p;
    int rc;

    if (sh->nparts + 1 > sh->nbuckets && table_grow(sh) != 0)
        return -ENOMEM;
    p = mem_calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    part_dirname(dir, sizeof(dir), sh->b->cfg->log_dirs, t, index);
    p->dir = mem_strndup(dir, strlen(dir));
    rc = p->dir ? log_open(dir, &lc, recover, &p->log) : -ENOMEM;
    if (rc < 0) {
        st_error("cannot open partition %s: %s", dir, strerror(-rc));
        mem_free(p->dir);
        mem_free(p);
        return rc;
    }
    drop_stale_snapshot(p);
    /* Index loads, rebuilds and writes go to the thread pool (part_jobs).
     * Not for __consumer_offsets: the coordinator replays it at start
     * with plain reads, a few MiB per loop turn. */
    log_set_background(p->log, !brk_topic_is_internal(t->name, t->name_len));
    p->topic_id = t->id;
    p->index = index;
    p->max_message_bytes = t->cfg.max_message_bytes;
    size_t b = bucket(sh, t->id, index);
    p->hnext = sh->parts[b];
    sh->parts[b] = p;
    sh->nparts++;
    return 0;
}

int brk_part_open(brk_shard_t *sh, const brk_topic_t *t, int32_t index,
                  bool recover)
{
    int rc = part_open(sh, t, index, recover);

    if (rc < 0)
        offline_add(sh->b, t->id, index);
    return rc;
}

/* Whether the shard's topic snapshot has this partition. An op reaches
 * the partition's own shard, and the controller answers a change only
 * after every shard applied it; so a partition of the snapshot that the
 * shard does not have failed to open (brk_part_open logged why), and its
 * ops get KAFKA_STORAGE_ERROR, as from an offline log dir, rather than
 * UNKNOWN_TOPIC_OR_PARTITION for a partition the metadata lists. */
static bool in_snapshot(const brk_shard_t *sh, uint64_t topic_id, int32_t index)
{
    const brk_topics_t *t = sh->topics;
    int32_t i;

    for (i = 0; t && i < t->n; i++)
        if (t->topics[i].id == topic_id)
            return index >= 0 && index < t->topics[i].nparts;
    return false;
}

static void fail_ops(brk_shard_t *sh, brk_pop_t *op, kp_err_t err)
{
    while (op) {
        brk_pop_t *next = op->next;
        op->err = err;
        brk_pop_reply(sh, op);
        op = next;
    }
}

static void wake_waiters(brk_shard_t *sh, brk_part_t *p, bool all);
static void part_jobs(brk_shard_t *sh, brk_part_t *p);

/* ---- work on libuv's thread pool ----
 *
 * fsyncs, moves, snapshots, log jobs and read-ins: each is counted in
 * syncs_running and in the server's busy count from pool_queue to its
 * after-callback's pool_done, so that shutdown and partition close wait
 * for it; a shard stopped meanwhile is freed by the last one to end. */
static void pool_queue(brk_shard_t *sh, uv_work_t *w, uv_work_cb work,
                       uv_after_work_cb after)
{
    sh->syncs_running++;
    net_server_busy(net_shard_server(sh->ns), 1);
    uv_queue_work(net_shard_loop(sh->ns), w, work, after);
}

static void pool_done(brk_shard_t *sh)
{
    sh->syncs_running--;
    net_server_busy(net_shard_server(sh->ns), -1);
}

/* Last thing of an after-callback: sh may be gone afterwards. */
static void pool_free_stopped(brk_shard_t *sh)
{
    if (sh->stopped && sh->syncs_running == 0)
        mem_free(sh);
}

/* A worker still uses the log's files: closing must wait for it. */
static bool part_busy(const brk_part_t *p)
{
    return p->syncing || p->moving || p->jobs_running > 0 ||
           (p->pids && p->pids->snapping);
}

static void part_free(brk_shard_t *sh, brk_part_t *p, bool destroy)
{
    fail_ops(sh, p->load_head, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    p->load_head = p->load_tail = NULL;
    fail_ops(sh, p->pend_head, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    p->pend_head = p->pend_tail = NULL;
    fail_ops(sh, p->sync_head, KP_ERR_UNKNOWN_TOPIC_OR_PARTITION);
    p->sync_head = p->sync_tail = NULL;
    wake_waiters(sh, p, true);
    if (destroy) {
        log_destroy(p->log);
    } else {
        uint8_t *snap = NULL;
        size_t len = 0;
        int rc = 0;
        /* The failed ops above were never written. */
        if (p->pids) {
            brk_pid_rollback(&p->pids->t, 0);
            rc = brk_pid_snapshot_encode(&p->pids->t, log_end_offset(p->log),
                                         &snap, &len);
        }
        /* Data first (log_close syncs it), then the state that covers it;
         * a crash in between leaves an older snapshot, which is fine. */
        log_close(p->log);
        if (rc == 0 && snap)
            rc = brk_pid_snapshot_write(p->dir, snap, len);
        if (rc < 0)
            st_warn("%s: cannot write %s: %s", p->dir, BRK_PID_SNAPSHOT_NAME,
                    strerror(-rc));
        mem_free(snap);
    }
    if (p->pids) {
        brk_pid_fini(&p->pids->t);
        mem_free(p->pids);
    }
    mem_free(p->iov);
    mem_free(p->dir);
    mem_free(p);
}

void brk_part_close(brk_shard_t *sh, brk_part_t *p, bool destroy)
{
    brk_part_t **pp = &sh->parts[bucket(sh, p->topic_id, p->index)];
    while (*pp != p)
        pp = &(*pp)->hnext;
    *pp = p->hnext;
    sh->nparts--;
    if (p->dirty) {
        brk_part_t **d = &sh->dirty;
        while (*d != p)
            d = &(*d)->next_dirty;
        *d = p->next_dirty;
        p->dirty = false;
    }
    if (part_busy(p)) {
        /* A worker still uses the log's files: finish in sync_after,
         * snap_after, move_after or job_after, closing or deleting as
         * asked here. */
        p->closing = true;
        p->destroy = destroy;
        p->hnext = NULL;
        return;
    }
    part_free(sh, p, destroy);
}

void brk_part_close_all(brk_shard_t *sh)
{
    for (size_t i = 0; i < sh->nbuckets; i++)
        while (sh->parts[i])
            brk_part_close(sh, sh->parts[i], false);
    mem_free(sh->parts);
    sh->parts = NULL;
    sh->nbuckets = 0;
}

/* ---- long-poll waiters ---- */

void brk_wait_unref(brk_wait_t *w)
{
    if (atomic_fetch_sub(&w->refs, 1) == 1)
        mem_free(w);
}

static void wake_waiters(brk_shard_t *sh, brk_part_t *p, bool all)
{
    struct brk_waiter **pp = &p->waiters, *x;
    int64_t end = p->log ? log_end_offset(p->log) : 0;
    while ((x = *pp)) {
        bool dead = atomic_load(&x->w->dead);
        if (dead || all || end > x->offset) {
            *pp = x->next;
            if (dead)
                brk_wait_unref(x->w);
            else
                net_post(sh->ns, x->w->origin, brk_fetch_wake, x->w);
            mem_free(x);
        } else {
            pp = &x->next;
        }
    }
}

void brk_parts_cancel_waits(brk_shard_t *sh)
{
    for (size_t i = 0; i < sh->nbuckets; i++)
        for (brk_part_t *p = sh->parts[i]; p; p = p->hnext)
            wake_waiters(sh, p, true);
}

void brk_parts_retention(brk_shard_t *sh, int64_t now_ms)
{
    for (size_t i = 0; i < sh->nbuckets; i++) {
        for (brk_part_t *p = sh->parts[i]; p; p = p->hnext) {
            int n = log_retention_run(p->log, now_ms);
            part_jobs(sh, p); /* a load retention needs first */
            if (n > 0)
                st_info("retention: deleted %d segment(s) of %s, log start "
                        "offset now %lld",
                        n, p->dir, (long long)log_start_offset(p->log));
            else if (n < 0)
                st_warn("retention of %s failed: %s", p->dir, strerror(-n));
            /* Producers silent for a day are forgotten, as in Kafka; only
             * between turns, when nothing is uncommitted. */
            if (p->pids && brk_pid_mark(&p->pids->t) == 0)
                brk_pid_expire(&p->pids->t, now_ms, BRK_PID_EXPIRE_MS);
        }
    }
}

/* ---- group commit ---- */

struct sync_job {
    uv_work_t work;
    brk_shard_t *sh;
    brk_part_t *p;
    log_sync_t *s;
    int rc;
    uint64_t ns;  /* how long log_sync_run took */
    uint64_t seq; /* p->sync_seq when prepared */
};

static void start_sync(brk_shard_t *sh, brk_part_t *p);

static void sync_work(uv_work_t *w)
{
    struct sync_job *j = w->data;
    uint64_t t0 = st_now_ns();
    j->rc = log_sync_run(j->s);
    j->ns = st_now_ns() - t0;
}

static void sync_after(uv_work_t *w, int status)
{
    struct sync_job *j = w->data;
    brk_shard_t *sh = j->sh;
    brk_part_t *p = j->p;
    int64_t durable = log_sync_finish(p->log, j->s);
    brk_pop_t **pp = &p->sync_head, *op;
    bool failed = j->rc != 0 || status != 0;
    uint64_t seq = j->seq;

    if (failed)
        st_error("fsync of %s failed: %s", p->dir,
                 strerror(j->rc ? -j->rc : EIO));
    /* Counted here, on the shard, not in the worker: each shard's
     * counters have that one writer. */
    met_fsync_done(sh->met, j->ns, failed);
    pool_done(sh);
    mem_free(j);
    p->syncing = false;
    /* Answer every op whose records are now on stable storage. */
    while ((op = *pp)) {
        if (failed ||
            (op->sync_seq ? op->sync_seq <= seq : op->last_offset < durable)) {
            *pp = op->next;
            if (failed)
                op->err = KP_ERR_KAFKA_STORAGE_ERROR;
            op->next = NULL;
            brk_pop_reply(sh, op);
        } else {
            pp = &op->next;
        }
    }
    p->sync_tail = NULL;
    for (op = p->sync_head; op; op = op->next)
        p->sync_tail = op;
    if (p->closing) {
        if (!part_busy(p))
            part_free(sh, p, p->destroy);
    } else if (p->sync_head) {
        start_sync(sh, p);
    }
    pool_free_stopped(sh);
}

static void start_sync(brk_shard_t *sh, brk_part_t *p)
{
    struct sync_job *j;
    log_sync_t *s;
    if (p->syncing || !p->sync_head)
        return;
    s = log_sync_prepare(p->log);
    if (!s) {
        /* Already durable (an earlier sync covered it). */
        brk_pop_t *op = p->sync_head;
        p->sync_head = p->sync_tail = NULL;
        while (op) {
            brk_pop_t *next = op->next;
            op->next = NULL;
            brk_pop_reply(sh, op);
            op = next;
        }
        return;
    }
    j = mem_calloc(1, sizeof(*j));
    st_assert(j);
    j->sh = sh;
    j->p = p;
    j->s = s;
    j->seq = ++p->sync_seq;
    j->work.data = j;
    p->syncing = true;
    pool_queue(sh, &j->work, sync_work, sync_after);
}

/* ---- background jobs of the logs ---- */

/* The slow file work of a log (log.h: index loads and rebuilds, index
 * writes at a roll, the directory fsync after a move) runs on libuv's
 * thread pool (pool_queue). */
struct log_job_work {
    uv_work_t work;
    brk_shard_t *sh;
    brk_part_t *p;
    log_job_t *job;
    int rc;
    uint64_t ns;
};

_Static_assert(LOG_JOB_KIND_LAST + 1 == MET_LOG_JOB_KINDS,
               "metrics count every job kind");

static void rerun_loads(brk_shard_t *sh, brk_part_t *p, int rc);

static void job_work(uv_work_t *w)
{
    struct log_job_work *j = w->data;
    uint64_t t0 = st_now_ns();
    j->rc = log_job_run(j->job);
    j->ns = st_now_ns() - t0;
}

static void job_after(uv_work_t *w, int status)
{
    struct log_job_work *j = w->data;
    brk_shard_t *sh = j->sh;
    brk_part_t *p = j->p;
    log_job_kind_t kind = log_job_kind(j->job);
    int rc = log_job_finish(p->log, j->job, status < 0 ? -ECANCELED : j->rc);

    met_log_job_done(sh->met, (int)kind, j->ns, rc < 0);
    pool_done(sh);
    mem_free(j);
    p->jobs_running--;
    if (p->closing) {
        if (!part_busy(p))
            part_free(sh, p, p->destroy);
    } else if (kind == LOG_JOB_LOAD) {
        rerun_loads(sh, p, rc);
    }
    pool_free_stopped(sh);
}

/* Hands the jobs the log has queued to the thread pool. */
static void part_jobs(brk_shard_t *sh, brk_part_t *p)
{
    log_job_t *job;

    while (!p->closing && !sh->stopped && (job = log_job_take(p->log))) {
        struct log_job_work *j = mem_calloc(1, sizeof(*j));
        if (!j) {
            /* Finished unrun: a load is asked for again by the next read,
             * an index write is redone by log_close. */
            log_job_kind_t kind = log_job_kind(job);
            log_job_finish(p->log, job, -ENOMEM);
            if (kind == LOG_JOB_LOAD)
                rerun_loads(sh, p, -ENOMEM);
            continue;
        }
        j->sh = sh;
        j->p = p;
        j->job = job;
        j->work.data = j;
        p->jobs_running++;
        pool_queue(sh, &j->work, job_work, job_after);
    }
}

/* ---- the cold tier ---- */

/* One move at a time per shard: a move copies a whole segment, and the
 * thread pool also runs the fsyncs that acks=all producers wait for. */
struct move_job {
    uv_work_t work;
    brk_shard_t *sh;
    brk_part_t *p;
    log_move_t *m;
    int rc;
    uint64_t ns;
};

static void move_work(uv_work_t *w)
{
    struct move_job *j = w->data;
    uint64_t t0 = st_now_ns();
    j->rc = log_move_run(j->m);
    j->ns = st_now_ns() - t0;
}

static void move_after(uv_work_t *w, int status)
{
    struct move_job *j = w->data;
    brk_shard_t *sh = j->sh;
    brk_part_t *p = j->p;
    int rc = status < 0 ? -ECANCELED : j->rc, frc;
    log_tier_stats_t before, after;

    log_tier_stats(p->log, &before);
    if (status < 0) {
        log_move_cancel(p->log, j->m);
        frc = rc;
    } else {
        frc = log_move_finish(p->log, j->m, rc);
    }
    log_tier_stats(p->log, &after);
    if (rc < 0)
        st_warn("%s: moving a segment to the cold tier failed: %s", p->dir,
                strerror(-rc));
    else if (frc < 0)
        st_warn("%s: segment moved to the cold tier, but its local copy "
                "could not be removed: %s (removed at the next start)",
                p->dir, strerror(-frc));
    met_tier_move_done(sh->met, j->ns,
                       rc<0, after.cold_bytes> before.cold_bytes
                           ? (uint64_t)(after.cold_bytes - before.cold_bytes)
                           : 0);
    pool_done(sh);
    mem_free(j);
    p->moving = false;
    sh->tier_moving = false;
    part_jobs(sh, p); /* the local directory's fsync */
    if (p->closing) {
        if (!part_busy(p))
            part_free(sh, p, p->destroy);
    } else if (rc == 0 && !sh->stopped) {
        /* Catching up (a backlog after start, or a burst): go on with
         * the next due segment rather than wait for the timer. */
        brk_parts_tier(sh, st_wall_ms());
    }
    pool_free_stopped(sh);
}

static bool start_move(brk_shard_t *sh, brk_part_t *p, int64_t now_ms)
{
    struct move_job *j;
    log_move_t *m;
    if (p->moving || p->closing)
        return false;
    m = log_move_prepare(p->log, now_ms);
    if (!m) {
        part_jobs(sh, p); /* a load the decision needs first */
        return false;
    }
    j = mem_calloc(1, sizeof(*j));
    if (!j) {
        log_move_cancel(p->log, m);
        return false;
    }
    j->sh = sh;
    j->p = p;
    j->m = m;
    j->work.data = j;
    p->moving = true;
    sh->tier_moving = true;
    pool_queue(sh, &j->work, move_work, move_after);
    return true;
}

void brk_parts_tier(brk_shard_t *sh, int64_t now_ms)
{
    if (sh->tier_moving || sh->stopped || !sh->b->cfg->has_log_tier_cold_dir ||
        sh->nbuckets == 0)
        return;
    /* Round robin over the buckets, so that one busy partition does not
     * starve the others. */
    for (size_t k = 0; k < sh->nbuckets; k++) {
        size_t i = (sh->tier_cursor + k) % sh->nbuckets;
        for (brk_part_t *p = sh->parts[i]; p; p = p->hnext) {
            if (start_move(sh, p, now_ms)) {
                sh->tier_cursor = i + 1;
                return;
            }
        }
    }
}

/* ---- producer state snapshots ---- */

/* On the thread pool (pool_queue): the shard and the partition outlive
 * the job as they outlive an fsync. */
struct snap_job {
    uv_work_t work;
    brk_shard_t *sh;
    brk_part_t *p;
    uint8_t *buf;
    size_t len;
    int rc;
};

static void snap_work(uv_work_t *w)
{
    struct snap_job *j = w->data;
    j->rc = brk_pid_snapshot_write(j->p->dir, j->buf, j->len);
}

static void start_snapshot(brk_shard_t *sh, brk_part_t *p);

static void snap_after(uv_work_t *w, int status)
{
    struct snap_job *j = w->data;
    brk_shard_t *sh = j->sh;
    brk_part_t *p = j->p;

    if (j->rc < 0 || status < 0)
        st_warn("%s: cannot write %s: %s", p->dir, BRK_PID_SNAPSHOT_NAME,
                strerror(j->rc < 0 ? -j->rc : ECANCELED));
    pool_done(sh);
    mem_free(j->buf);
    mem_free(j);
    p->pids->snapping = false;
    if (p->closing) {
        /* part_free writes the final snapshot itself. */
        if (!part_busy(p))
            part_free(sh, p, p->destroy);
    } else if (p->pids->snap_again && brk_pid_mark(&p->pids->t) == 0) {
        /* Only between turns: batches checked this turn but not yet
         * appended are uncommitted producer state, which a snapshot must
         * not see. Otherwise flush_part starts it after the commit. */
        start_snapshot(sh, p);
    }
    pool_free_stopped(sh);
}

/* Writes the committed state as of the log end on the thread pool (a
 * segment rolled). One job per partition at a time; a roll meanwhile asks
 * for another when it ends. Failures only make the next rebuild scan
 * further back. */
static void start_snapshot(brk_shard_t *sh, brk_part_t *p)
{
    struct snap_job *j;

    if (p->pids->snapping) {
        p->pids->snap_again = true;
        return;
    }
    p->pids->snap_again = false;
    j = mem_calloc(1, sizeof(*j));
    if (!j || brk_pid_snapshot_encode(&p->pids->t, log_end_offset(p->log),
                                      &j->buf, &j->len) < 0) {
        st_warn("%s: no memory for a producer state snapshot", p->dir);
        mem_free(j);
        return;
    }
    j->sh = sh;
    j->p = p;
    j->work.data = j;
    p->pids->snapping = true;
    pool_queue(sh, &j->work, snap_work, snap_after);
}

static int replay_batch(const log_batch_info_t *info, void *arg)
{
    brk_pid_in_t in;
    brk_pid_in_from_info(&in, info);
    return brk_pid_replay(arg, &in);
}

/* Rebuilds the producer state: the snapshot when it lies within the log,
 * then every batch header from its offset (or the log start) to the end.
 * Runs on the owner's loop, on the first batch with a producer id after
 * the partition opened: after a clean shutdown the snapshot is at the end
 * and nothing is scanned; after a crash, about the active segment. */
static int load_pids(brk_part_t *p)
{
    struct brk_part_pids *pp = mem_calloc(1, sizeof(*pp));
    int64_t start = log_start_offset(p->log), end = log_end_offset(p->log);
    int64_t from = start, off = -1;
    uint64_t t0 = st_now_ns();
    uint8_t *buf = NULL;
    size_t len = 0;
    bool used_snapshot = false;
    int rc;

    if (!pp)
        return -ENOMEM;
    brk_pid_init(&pp->t);
    rc = brk_pid_snapshot_read(p->dir, &buf, &len);
    if (rc == 0) {
        /* A failed decode leaves the table empty. */
        rc = brk_pid_snapshot_decode(&pp->t, buf, len, &off);
        mem_free(buf);
        if (rc == 0 && off >= start && off <= end) {
            from = off;
            used_snapshot = true;
        } else if (rc == 0) {
            /* Retention passed it: what it knows may be gone. */
            brk_pid_fini(&pp->t);
            brk_pid_init(&pp->t);
        } else if (rc == -EINVAL) {
            st_warn("%s: ignoring damaged %s", p->dir, BRK_PID_SNAPSHOT_NAME);
        }
    } else if (rc != -ENOENT && rc != -ENOMEM) {
        st_warn("%s: cannot read %s: %s", p->dir, BRK_PID_SNAPSHOT_NAME,
                strerror(-rc));
    }
    if (rc == -ENOMEM) {
        mem_free(pp);
        return rc;
    }
    rc = log_scan_batches(p->log, from, replay_batch, &pp->t);
    if (rc < 0) {
        st_error("%s: cannot rebuild producer state: %s", p->dir,
                 strerror(-rc));
        brk_pid_fini(&pp->t);
        mem_free(pp);
        return rc;
    }
    st_info("%s: producer state of %zu producer(s) rebuilt from %s, "
            "offsets [%lld, %lld) scanned in %.1f ms",
            p->dir, brk_pid_count(&pp->t),
            used_snapshot ? "its snapshot" : "the log", (long long)from,
            (long long)end, (double)(st_now_ns() - t0) / 1e6);
    p->pids = pp;
    return 0;
}

/* ---- the aggregator ---- */

static void flush_part(brk_shard_t *sh, brk_part_t *p)
{
    size_t nsegs = log_segment_count(p->log);
    int rc = log_append(p->log, p->iov, p->niov);
    brk_pop_t *op = p->pend_head;

    p->niov = 0;
    p->pend_head = p->pend_tail = NULL;
    if (rc < 0) {
        st_error("append to %s failed: %s", p->dir, strerror(-rc));
        /* A retry of these batches must be written, not taken for a
         * duplicate of what never reached the log. */
        if (p->pids)
            brk_pid_rollback(&p->pids->t, 0);
        fail_ops(sh, op, KP_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    if (p->pids) {
        brk_pid_commit(&p->pids->t);
        if (log_segment_count(p->log) > nsegs || p->pids->snap_again)
            start_snapshot(sh, p);
    }
    if (log_job_queued(p->log))
        part_jobs(sh, p); /* a roll's index write */
    while (op) {
        brk_pop_t *next = op->next;
        op->next = NULL;
        op->log_start = log_start_offset(p->log);
        if (op->acks == -1) {
            if (p->sync_tail)
                p->sync_tail->next = op;
            else
                p->sync_head = op;
            p->sync_tail = op;
        } else {
            brk_pop_reply(sh, op);
        }
        op = next;
    }
    wake_waiters(sh, p, false);
    start_sync(sh, p);
}

void brk_parts_turn_end(brk_shard_t *sh)
{
    while (sh->dirty) {
        brk_part_t *p = sh->dirty;
        sh->dirty = p->next_dirty;
        p->dirty = false;
        p->next_dirty = NULL;
        flush_part(sh, p);
    }
}

/* Runs the producer checks on every batch of the op, with the offsets it
 * is about to get. On success the accepted batches are recorded
 * (uncommitted); on an error or a duplicate nothing is. A duplicate is
 * honoured only as the op's single batch: in a blob of several, part of
 * which would be written, it is DUPLICATE_SEQUENCE_NUMBER (Kafka takes one
 * batch per partition from v3 on, so clients never send that). */
static kp_err_t check_producers(brk_part_t *p, brk_pop_t *op,
                                brk_pid_verdict_t *dup)
{
    size_t pos = 0, mark = p->pids ? brk_pid_mark(&p->pids->t) : 0;
    int64_t off = log_next_offset(p->log);
    kp_err_t err = KP_ERR_NONE;

    dup->duplicate = false;
    while (pos < op->rec_len && err == KP_ERR_NONE) {
        const uint8_t *b = op->records + pos;
        size_t size = (size_t)log_batch_size(b);
        brk_pid_verdict_t v;
        brk_pid_in_t in;

        brk_pid_in_from_header(&in, b, off);
        if (in.producer_id >= 0 && !p->pids && load_pids(p) < 0) {
            err = KP_ERR_KAFKA_STORAGE_ERROR;
            break;
        }
        v = brk_pid_check(p->pids ? &p->pids->t : NULL, &in);
        if (v.err != KP_ERR_NONE)
            err = v.err;
        else if (v.duplicate && (pos != 0 || size != op->rec_len))
            err = KP_ERR_DUPLICATE_SEQUENCE_NUMBER;
        else if (v.duplicate)
            *dup = v;
        off += (int64_t)in.last_delta + 1;
        pos += size;
    }
    if (p->pids && (err != KP_ERR_NONE || dup->duplicate))
        brk_pid_rollback(&p->pids->t, mark);
    return err;
}

/* A retried batch already in the log (or queued before it this turn):
 * answered with the original's offsets once the original could be. */
static void exec_duplicate(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op,
                           const brk_pid_batch_t *orig)
{
    st_debug("%s: duplicate batch, answered with offsets [%lld, %lld]", p->dir,
             (long long)orig->first_offset, (long long)orig->last_offset);
    op->base_offset = orig->first_offset;
    op->last_offset = orig->last_offset;
    op->log_start = log_start_offset(p->log);
    op->next = NULL;
    if (orig->last_offset >= log_end_offset(p->log)) {
        /* Queued this turn: flush_part answers it after the original is
         * written, or fails it with it. The partition is already dirty. */
        st_assert(p->dirty && p->pend_tail);
        p->pend_tail->next = op;
        p->pend_tail = op;
        return;
    }
    if (op->acks == -1 && orig->last_offset >= log_durable_offset(p->log)) {
        if (p->sync_tail)
            p->sync_tail->next = op;
        else
            p->sync_head = op;
        p->sync_tail = op;
        start_sync(sh, p);
        return;
    }
    brk_pop_reply(sh, op);
}

static void exec_produce(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    brk_pid_verdict_t dup;
    kp_err_t err;

    if (p->niov == p->cap_iov) {
        int cap = p->cap_iov ? p->cap_iov * 2 : 16;
        struct iovec *iov = mem_realloc(p->iov, sizeof(*iov) * (size_t)cap);
        if (!iov) {
            op->err = KP_ERR_UNKNOWN_SERVER_ERROR;
            brk_pop_reply(sh, op);
            return;
        }
        p->iov = iov;
        p->cap_iov = cap;
    }
    err = check_producers(p, op, &dup);
    if (err != KP_ERR_NONE) {
        op->err = err;
        brk_pop_reply(sh, op);
        return;
    }
    if (dup.duplicate) {
        exec_duplicate(sh, p, op, &dup.orig);
        return;
    }
    op->base_offset = log_assign_offsets(p->log, op->records, op->rec_len);
    op->last_offset = log_next_offset(p->log) - 1;
    p->iov[p->niov].iov_base = op->records;
    p->iov[p->niov].iov_len = op->rec_len;
    p->niov++;
    op->next = NULL;
    if (p->pend_tail)
        p->pend_tail->next = op;
    else
        p->pend_head = op;
    p->pend_tail = op;
    if (!p->dirty) {
        p->dirty = true;
        p->next_dirty = sh->dirty;
        sh->dirty = p;
    }
}

/* The op needs a segment that a job is loading: it waits for the job's
 * end (rerun_loads), while the loop serves everything else. */
static void wait_load(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    op->next = NULL;
    if (p->load_tail)
        p->load_tail->next = op;
    else
        p->load_head = op;
    p->load_tail = op;
    part_jobs(sh, p);
}

/* A catch-up read (log_slice_t.behind): its pages are read in and mapped
 * on the thread pool (log_slice_read_in), and the op answered after, so
 * that the disk read happens there and not inside the send on the shard's
 * loop, and the slice goes out from memory. The slice holds the file. */
struct read_in_job {
    uv_work_t work;
    brk_shard_t *sh;
    brk_pop_t *op;
};

static void read_in_work(uv_work_t *w)
{
    struct read_in_job *j = w->data;
    log_slice_read_in(&j->op->slice); /* a failure shows when sending */
}

static void read_in_after(uv_work_t *w, int status)
{
    struct read_in_job *j = w->data;
    brk_shard_t *sh = j->sh;
    (void)status;
    met_fetch_read_in(sh->met, j->op->slice.len);
    brk_pop_reply(sh, j->op);
    mem_free(j);
    pool_done(sh);
    pool_free_stopped(sh);
}

/* The client asks for the range after a catch-up slice next
 * (log_slice_t.ahead_pos): it is read into the page cache on another pool
 * thread while this one is mapped in and sent, so that the disk works
 * while the network and the client do. */
struct read_ahead_job {
    uv_work_t work;
    brk_shard_t *sh;
    log_slice_t slice; /* holds its own reference to the file */
};

static void read_ahead_work(uv_work_t *w)
{
    struct read_ahead_job *j = w->data;
    log_slice_prefetch(&j->slice); /* a failure only costs time */
}

static void read_ahead_after(uv_work_t *w, int status)
{
    struct read_ahead_job *j = w->data;
    brk_shard_t *sh = j->sh;
    (void)status;
    mem_unref(j->slice.ref);
    mem_free(j);
    pool_done(sh);
    pool_free_stopped(sh);
}

static void start_read_ahead(brk_shard_t *sh, const log_slice_t *s)
{
    struct read_ahead_job *j = mem_calloc(1, sizeof(*j));
    if (!j)
        return;
    if (!log_slice_ahead(s, &j->slice)) {
        mem_free(j);
        return;
    }
    j->sh = sh;
    j->work.data = j;
    pool_queue(sh, &j->work, read_ahead_work, read_ahead_after);
}

static bool start_read_in(brk_shard_t *sh, brk_pop_t *op)
{
    struct read_in_job *j;
    if (sh->stopped || !(j = mem_calloc(1, sizeof(*j))))
        return false;
    j->sh = sh;
    j->op = op;
    j->work.data = j;
    start_read_ahead(sh, &op->slice);
    pool_queue(sh, &j->work, read_in_work, read_in_after);
    return true;
}

static void exec_fetch(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    int64_t start = log_start_offset(p->log), end = log_end_offset(p->log);
    int rc;
    op->hw = end;
    op->log_start = start;
    if (op->offset < start || op->offset > end) {
        op->err = KP_ERR_OFFSET_OUT_OF_RANGE;
    } else if (op->offset < end) {
        rc = log_read(p->log, op->offset, (size_t)op->max_bytes, &op->slice);
        if (rc == -EWOULDBLOCK) {
            wait_load(sh, p, op);
            return;
        }
        if (rc == -ERANGE)
            op->err = KP_ERR_OFFSET_OUT_OF_RANGE;
        else if (rc < 0)
            op->err = KP_ERR_KAFKA_STORAGE_ERROR;
        else if (op->slice.behind && start_read_in(sh, op))
            return;
    }
    brk_pop_reply(sh, op);
}

static void exec_list(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    op->log_start = log_start_offset(p->log);
    op->hw = log_end_offset(p->log);
    op->ts_out = -1;
    if (op->timestamp == -2) {
        op->base_offset = op->log_start;
    } else if (op->timestamp == -1) {
        op->base_offset = op->hw;
    } else if (op->timestamp < 0) {
        op->err = KP_ERR_INVALID_REQUEST;
    } else {
        int64_t ts = -1;
        op->base_offset = log_offset_for_time(p->log, op->timestamp, &ts);
        if (op->base_offset == -EWOULDBLOCK) {
            wait_load(sh, p, op);
            return;
        }
        op->ts_out = op->base_offset >= 0 ? ts : -1;
    }
    brk_pop_reply(sh, op);
}

/* A load ended: the ops that waited for one run again (and may wait for
 * the next segment's), or fail with it. Retention and the cold tier,
 * which skip what is not loaded yet, go on at their next pass. */
static void rerun_loads(brk_shard_t *sh, brk_part_t *p, int rc)
{
    brk_pop_t *op = p->load_head;

    p->load_head = p->load_tail = NULL;
    if (rc < 0) {
        fail_ops(sh, op, KP_ERR_KAFKA_STORAGE_ERROR);
        return;
    }
    while (op) {
        brk_pop_t *next = op->next;
        op->next = NULL;
        if (op->kind == BRK_POP_FETCH)
            exec_fetch(sh, p, op);
        else
            exec_list(sh, p, op);
        op = next;
    }
}

/* DeleteRecords: moves the log start offset, deleting the segments wholly
 * below it, and answers once the checkpoint holding the new start offset
 * is on stable storage, so that a crash cannot bring the records back. */
static void exec_delete_records(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    int64_t end = log_end_offset(p->log);
    int64_t to = op->offset == -1 ? end : op->offset;
    int rc;

    op->log_start = log_start_offset(p->log);
    if (to < 0 || to > end) {
        op->err = KP_ERR_OFFSET_OUT_OF_RANGE;
        brk_pop_reply(sh, op);
        return;
    }
    rc = log_delete_records(p->log, to);
    if (rc < 0) {
        op->err = rc == -ERANGE ? KP_ERR_OFFSET_OUT_OF_RANGE
                                : KP_ERR_KAFKA_STORAGE_ERROR;
        brk_pop_reply(sh, op);
        return;
    }
    op->log_start = log_start_offset(p->log);
    if (op->log_start > op->offset && op->offset >= 0)
        st_info("%s: log start offset now %" PRId64 " (DeleteRecords)", p->dir,
                op->log_start);
    /* The sync after the running one (if any) writes the checkpoint. */
    op->sync_seq = p->sync_seq + 1;
    op->next = NULL;
    if (p->sync_tail)
        p->sync_tail->next = op;
    else
        p->sync_head = op;
    p->sync_tail = op;
    start_sync(sh, p);
}

static void exec_watch(brk_shard_t *sh, brk_part_t *p, brk_pop_t *op)
{
    brk_wait_t *w = op->wait;
    struct brk_waiter *x;
    /* drop tickets of fetches that are over, and wake at once if data
     * arrived since the fetch read */
    wake_waiters(sh, p, false);
    if (atomic_load(&w->dead)) {
        brk_wait_unref(w);
        return;
    }
    if (log_end_offset(p->log) > op->offset) {
        net_post(sh->ns, w->origin, brk_fetch_wake, w);
        return;
    }
    x = mem_alloc(sizeof(*x));
    if (!x) {
        net_post(sh->ns, w->origin, brk_fetch_wake, w);
        return;
    }
    x->w = w;
    x->offset = op->offset;
    x->next = p->waiters;
    p->waiters = x;
}

void brk_parts_exec(brk_shard_t *sh, brk_pop_t *op)
{
    brk_part_t *p;
    /* The origin may have seen a newer topic snapshot than ours only if a
     * change is still on its way here; the controller answers changes
     * after every shard applied them, so this cannot happen for a client
     * that waited for its CreateTopics. */
    p = brk_part_find(sh, op->topic_id, op->partition);
    if (op->kind == BRK_POP_WATCH) {
        /* Watch ops are heap-allocated (the fetch may finish before they
         * arrive) and end here. */
        if (p)
            exec_watch(sh, p, op);
        else
            net_post(sh->ns, op->wait->origin, brk_fetch_wake, op->wait);
        mem_free(op);
        return;
    }
    if (!p) {
        op->err = in_snapshot(sh, op->topic_id, op->partition)
                      ? KP_ERR_KAFKA_STORAGE_ERROR
                      : KP_ERR_UNKNOWN_TOPIC_OR_PARTITION;
        brk_pop_reply(sh, op);
        return;
    }
    switch (op->kind) {
    case BRK_POP_PRODUCE:
        exec_produce(sh, p, op);
        break;
    case BRK_POP_FETCH:
        exec_fetch(sh, p, op);
        break;
    case BRK_POP_LIST_OFFSETS:
        exec_list(sh, p, op);
        break;
    case BRK_POP_DELETE_RECORDS:
        exec_delete_records(sh, p, op);
        break;
    case BRK_POP_WATCH:
        break;
    }
}

/* ---- op transport ---- */

static void on_pop_exec(net_shard_t *dst, void *arg)
{
    brk_parts_exec(net_shard_app(dst), arg);
}

static void on_pop_home(net_shard_t *dst, void *arg)
{
    brk_pop_t *op = arg;
    brk_rq_t *rq = op->rq;
    (void)dst;
    if (--rq->pending == 0)
        rq->on_done(rq);
}

void brk_pop_send(brk_rq_t *rq, brk_pop_t *op)
{
    brk_shard_t *sh = rq->sh;
    int owner = brk_owner(op->topic, op->partition, sh->b->nshards);
    op->origin = sh->id;
    op->rq = rq;
    op->topic_id = op->topic->id;
    if (op->kind != BRK_POP_WATCH)
        rq->pending++;
    if (op->kind == BRK_POP_PRODUCE || op->kind == BRK_POP_FETCH)
        rq->home = rq->home == 0 || rq->home == owner + 1 ? owner + 1 : -1;
    if (owner == sh->id)
        brk_parts_exec(sh, op);
    else
        net_post(sh->ns, owner, on_pop_exec, op);
}

void brk_rq_hint_home(brk_rq_t *rq)
{
    net_conn_hint_shard(rq->req->conn, rq->home > 0 ? rq->home - 1 : -1);
}

void brk_pop_reply(brk_shard_t *owner, brk_pop_t *op)
{
    /* Broker-internal ops finish in their own callback, even after the
     * shard stopped (they free their memory there). Only an fsync that
     * outlived the shutdown wait answers after the shards stopped; nobody
     * can take a client's answer any more. */
    if (op->local_done) {
        op->local_done(owner, op);
        return;
    }
    if (owner->stopped)
        return;
    if (op->origin == owner->id)
        on_pop_home(owner->ns, op);
    else
        net_post(owner->ns, op->origin, on_pop_home, op);
}
