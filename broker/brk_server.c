/* Broker start-up and shutdown.
 *
 * Start: pick the CRC32C kernel, read the clean-shutdown marker (and
 * remove it, so a crash from here on is detected next time), replay the
 * metadata log, bind the listeners, and start the shards; each shard opens
 * the partitions it owns, checking their tails unless the last shutdown
 * was clean.
 *
 * Stop (SIGTERM/SIGINT): listeners and connections close, waiting fetches
 * are answered, in-flight work and fsyncs settle, every partition is
 * flushed and closed, and only then is the clean-shutdown marker written. */
#include "broker/brk.h"
#include "broker/brk_metrics.h"
#include "simd/simd.h"
#include "storage/reap.h"
#include "storage/trail.h"
#include "strata_features.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void on_retention_timer(uv_timer_t *t)
{
    brk_parts_retention(t->data, st_wall_ms());
}

/* The cold tier's directory is created when missing, and must be neither
 * log.dirs nor inside it, nor contain it: partition directories of one
 * would be taken for those of the other. */
static int check_cold_dir(const brk_config_t *cfg)
{
    char local[PATH_MAX], cold[PATH_MAX];
    size_t nl, nc;
    int rc;
    if (!cfg->has_log_tier_cold_dir)
        return 0;
    rc = log_dir_create(cfg->log_tier_cold_dir);
    if (rc < 0 || !realpath(cfg->log_tier_cold_dir, cold) ||
        !realpath(cfg->log_dirs, local)) {
        rc = rc < 0 ? rc : -errno;
        st_error("log.tier.cold.dir %s: %s", cfg->log_tier_cold_dir,
                 strerror(-rc));
        return rc;
    }
    nl = strlen(local);
    nc = strlen(cold);
    if (!strcmp(local, cold) ||
        (nc > nl && !strncmp(cold, local, nl) && cold[nl] == '/') ||
        (nl > nc && !strncmp(local, cold, nc) && local[nc] == '/')) {
        st_error("log.tier.cold.dir %s and log.dirs %s must not be the same "
                 "directory or inside one another",
                 cold, local);
        return -EINVAL;
    }
    st_info("cold tier in %s (segments older than %lld ms%s)", cold,
            (long long)cfg->log_tier_cold_after_ms,
            cfg->log_tier_local_retention_bytes >= 0
                ? ", or beyond log.tier.local.retention.bytes"
                : "");
    return 0;
}

static void on_tier_timer(uv_timer_t *t)
{
    brk_parts_tier(t->data, st_wall_ms());
}

static void on_shard_start(net_shard_t *ns)
{
    brk_t *b = net_server_app(net_shard_server(ns));
    brk_shard_t *sh = mem_calloc(1, sizeof(*sh));
    const brk_topics_t *t = b->initial;
    int failed = 0;

    st_assert(sh);
    sh->b = b;
    sh->ns = ns;
    sh->id = net_shard_id(ns);
    sh->topics = brk_topics_ref(b->initial);
    net_shard_set_app(ns, sh);
    met_shard_attach(sh);
    for (int32_t i = 0; i < t->n; i++)
        for (int32_t p = 0; p < t->topics[i].nparts; p++)
            if (brk_owner(&t->topics[i], p, b->nshards) == sh->id &&
                brk_part_open(sh, &t->topics[i], p, !b->clean_start) != 0)
                failed++;
    if (failed)
        st_error("shard %d: %d partition(s) could not be opened", sh->id,
                 failed);
    brk_coord_start(sh);
    /* Retention deletes whole sealed segments (an unlink each), cheap
     * enough to run on the loop; the interval is the operator's. */
    sh->retention_timer = mem_alloc(sizeof(*sh->retention_timer));
    st_assert(sh->retention_timer);
    uv_timer_init(net_shard_loop(ns), sh->retention_timer);
    sh->retention_timer->data = sh;
    uv_timer_start(sh->retention_timer, on_retention_timer,
                   (uint64_t)b->cfg->log_retention_check_interval_ms,
                   (uint64_t)b->cfg->log_retention_check_interval_ms);
    /* Deciding what moves is cheap (a look at each partition's oldest
     * local segment); the moves themselves run on the thread pool. */
    if (b->cfg->has_log_tier_cold_dir) {
        sh->tier_timer = mem_alloc(sizeof(*sh->tier_timer));
        st_assert(sh->tier_timer);
        uv_timer_init(net_shard_loop(ns), sh->tier_timer);
        sh->tier_timer->data = sh;
        uv_timer_start(sh->tier_timer, on_tier_timer,
                       (uint64_t)b->cfg->log_tier_check_interval_ms,
                       (uint64_t)b->cfg->log_tier_check_interval_ms);
    }
}

static void free_handle(uv_handle_t *h)
{
    mem_free(h);
}

static void on_shard_quiesce(net_shard_t *ns)
{
    brk_parts_cancel_waits(net_shard_app(ns));
    brk_coord_quiesce(net_shard_app(ns));
}

static void on_shard_stop(net_shard_t *ns)
{
    brk_shard_t *sh = net_shard_app(ns);
    met_shard_detach(sh);
    brk_coord_stop(sh);
    brk_parts_turn_end(sh);
    brk_part_close_all(sh);
    brk_topics_unref(sh->topics);
    sh->topics = NULL;
    net_shard_set_app(ns, NULL);
    uv_close((uv_handle_t *)sh->retention_timer, free_handle);
    if (sh->tier_timer)
        uv_close((uv_handle_t *)sh->tier_timer, free_handle);
    /* An fsync still running (the shutdown wait is bounded) finishes its
     * partitions' close and frees the shard after itself. */
    if (sh->syncs_running == 0)
        mem_free(sh);
    else
        sh->stopped = true;
}

/* Raises the soft open-file limit to the hard one, and returns the soft
 * limit it leaves (RLIM_INFINITY when unknown). Shells and systemd
 * commonly start programs with a soft limit of 1,024 (kept low for
 * programs using select) and a far higher hard limit, which a program
 * needing more descriptors is expected to raise itself to; each partition
 * keeps two open, so 1,024 runs out at about 500 partitions. The kernel
 * refuses more than fs.nr_open, so an unlimited hard limit means that. */
static rlim_t raise_nofile(void)
{
    struct rlimit rl;
    rlim_t old, max_open = 1048576;
    FILE *f;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return RLIM_INFINITY;
    if (rl.rlim_cur >= rl.rlim_max)
        return rl.rlim_cur;
    if ((f = fopen("/proc/sys/fs/nr_open", "r")) != NULL) {
        unsigned long long v;
        if (fscanf(f, "%llu", &v) == 1 && v > 0)
            max_open = (rlim_t)v;
        fclose(f);
    }
    old = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max < max_open ? rl.rlim_max : max_open;
    if (rl.rlim_cur <= old)
        return old;
    if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
        st_info("open-file limit raised from %llu to %llu (%s)",
                (unsigned long long)old, (unsigned long long)rl.rlim_cur,
                rl.rlim_cur == rl.rlim_max ? "the hard limit" : "fs.nr_open");
        return rl.rlim_cur;
    }
    st_warn("cannot raise the open-file limit from %llu: %s",
            (unsigned long long)old, strerror(errno));
    return old;
}

/* Grows the process's descriptor table to hold n descriptors (below
 * `limit`, the soft open-file limit) while this is its only thread. Once
 * threads share the table, the kernel waits for an RCU grace period at each
 * growth (expand_files), and the shards opening their partitions at start-up
 * (two descriptors each) doubled it from 64 to 4,096 one grace period at
 * a time, the other shard waiting on the same growth: 10 to 20 ms each on
 * a busy VM, most of the start-up with 1,000 partitions. Best effort. */
static void fd_table_reserve(long n, rlim_t limit)
{
    int fd, hi;

    if (limit != RLIM_INFINITY && (rlim_t)n >= limit)
        n = (long)limit - 1;
    if (n < 64 || n > INT_MAX)
        return;
    fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    hi = fcntl(fd, F_DUPFD_CLOEXEC, (int)n);
    if (hi >= 0)
        close(hi);
    close(fd);
}

/* Descriptors the partitions of the topics at start keep open (a writer
 * and a reader of each active segment), one per connection allowed
 * (max.connections), and 1,024 for the other files. The kernel rounds
 * the table up to a power of two, at 8 bytes and 2 bits a slot (about
 * 1 MiB of kernel memory for the default 65,536 connections), and in
 * return a burst of connections no longer waits for a grace period at
 * each doubling (docs/performance.md). */
static long start_fds(const brk_topics_t *t, int32_t max_connections)
{
    long n = 1024L + max_connections;
    int32_t i;

    for (i = 0; t && i < t->n; i++)
        n += 2L * t->topics[i].nparts;
    return n;
}

static void on_turn_end(net_shard_t *ns)
{
    brk_shard_t *sh = net_shard_app(ns);
    if (sh->dirty)
        brk_parts_turn_end(sh);
}

int brk_run(brk_config_t *cfg)
{
    brk_t b = {0};
    net_config_t nc = {0};
    const brk_listener_t *adv = brk_config_advertised(cfg);
    sigset_t sigs;
    char addr[300];
    int rc, sig = 0;
    uint64_t t0 = st_now_ns();

    b.cfg = cfg;
    b.meta_fd = -1;
    pthread_mutex_init(&b.offline_mu, NULL);
    b.nshards = brk_config_shards(cfg);
    /* libuv's thread pool runs the fsyncs acks=all waits for, and each
     * shard may keep one thread busy with a cold-tier copy: size it so
     * that the copies never take every thread (libuv reads this at the
     * pool's first use, which is later). An operator's value wins. */
    if (!getenv("UV_THREADPOOL_SIZE")) {
        char n[16];
        snprintf(n, sizeof(n), "%d",
                 2 * b.nshards + 2 > 4 ? 2 * b.nshards + 2 : 4);
        setenv("UV_THREADPOOL_SIZE", n, 0);
    }
    st_info("strata %s: crc32c kernel %s, %d shard(s)", STRATA_VERSION,
            simd_init(), b.nshards);

    rc = brk_meta_load(&b);
    if (rc < 0)
        goto out;
    rc = check_cold_dir(cfg);
    if (rc < 0)
        goto out;
    b.clean_start = log_dir_was_clean(cfg->log_dirs);
    if (!b.clean_start && b.initial->n > 0 && !b.meta_new)
        st_info("no clean-shutdown marker: checking partition tails");
    /* From here on a crash must be detected at the next start. */
    rc = log_dir_mark_clean(cfg->log_dirs, false);
    if (rc < 0) {
        st_error("cannot remove the clean-shutdown marker in %s: %s",
                 cfg->log_dirs, strerror(-rc));
        goto out;
    }

    if (!adv->wildcard)
        snprintf(b.adv_host, sizeof(b.adv_host), "%s", adv->host);
    b.adv_port = adv->port;

    /* Shard threads inherit this mask: only the main thread takes the
     * signals, through sigwait. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    /* Before the first thread. */
    fd_table_reserve(start_fds(b.initial, cfg->max_connections),
                     raise_nofile());

    /* Deleted segments are closed (their blocks freed) off the shard
     * loops; started here so that it inherits no shard's CPU pin. */
    reap_start();
    /* The same for the page-cache trail of the buffered log.io.modes. */
    trail_start();

    /* Before the shards, which register with it as they start; its HTTP
     * thread inherits the signal mask. */
    rc = met_server_start(&b);
    if (rc < 0)
        goto out;

    /* A wildcard listens on every address of its family: [::] on IPv6
     * (which also takes IPv4 unless the system says otherwise). */
    nc.host = !cfg->listeners.wildcard ? cfg->listeners.host
              : cfg->listeners.ipv6    ? "::"
                                       : "0.0.0.0";
    nc.port = cfg->listeners.port;
    nc.nshards = b.nshards;
    nc.pin = cfg->cpu_pin;
    nc.follow = cfg->connections_follow;
    nc.max_connections = cfg->max_connections;
    nc.max_frame = (uint32_t)cfg->socket_request_max_bytes;
    nc.max_inflight = cfg->queued_max_requests;
    nc.idle_ms = cfg->connections_max_idle_ms;
    nc.cb.on_request = brk_on_request;
    nc.cb.on_req_free = brk_on_req_free;
    nc.cb.on_shard_start = on_shard_start;
    nc.cb.on_shard_quiesce = on_shard_quiesce;
    nc.cb.on_shard_stop = on_shard_stop;
    nc.cb.on_turn_end = on_turn_end;
    nc.app = &b;
    rc = net_server_start(&nc, &b.srv);
    if (rc < 0 && !b.srv)
        goto out;
    if (rc == 0) {
        brk_listener_format(&cfg->listeners, addr, sizeof(addr));
        st_info(
            "listening on %s (port %d), data in %s (log.io.mode %s), "
            "%d topic(s), started in %.1f ms",
            addr, net_server_port(b.srv), cfg->log_dirs,
            log_io_mode_name((log_io_mode_t)(cfg->log_io_mode + LOG_IO_PWRITE)),
            b.initial->n, (double)(st_now_ns() - t0) / 1e6);
        while (sigwait(&sigs, &sig) != 0)
            ;
        st_info("received %s, shutting down", strsignal(sig));
    }
    met_server_stop(&b);
    net_server_stop(b.srv);
    net_server_join(b.srv);
    trail_wait(); /* its last references go to the reaper */
    reap_wait();  /* the space of deleted segments is free on exit */
    if (rc == 0) {
        rc = log_dir_mark_clean(cfg->log_dirs, true);
        if (rc == 0)
            st_info("clean shutdown");
    }
out:
    met_server_free(&b);
    brk_meta_close(&b);
    brk_topics_unref(b.initial);
    brk_offline_free(&b);
    pthread_mutex_destroy(&b.offline_mu);
    return rc;
}
