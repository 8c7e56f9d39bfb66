/* The page-cache trail of the buffered write modes (io.h), and the thread
 * that runs it.
 *
 * Appended bytes are cut into windows of LOG_IO_WINDOW bytes (io.c's
 * log_io_trail_note). A full window is handed to writeback at once
 * (sync_file_range WRITE, which queues the I/O), and joins the ranges the
 * trail holds. When those pass two windows, the oldest is waited for and
 * its pages dropped (fadvise DONTNEED): they were written a window ago, so
 * the wait is usually short. The pages freed are the next ones the kernel
 * hands out, still backed, which is the whole point (io.c's opening
 * comment). The tail of a sealed segment joins too, so small segments are
 * recycled as well.
 *
 * On the log's owner thread that work (the kernel building and submitting
 * the writes, and the waits for the disk) took about a third of a shard's
 * time with one producer of 100 B records at 1.6 GB/s (docs/performance.md).
 * So it runs on one thread of its own for the process, fed through a
 * queue: the owner hands each window over, and drops the windows the
 * thread has seen written (q->done) at its next append. The drop stays
 * on the owner: dropped on the trail's thread, acks=all produce lost
 * 15-20% (docs/performance.md), most likely because freed pages go first
 * to the freeing CPU's own free lists, so the shard's next appends no
 * longer got the pages just freed.
 * What keeps dirty pages from piling up when the disk is slower than the
 * appends is a bound on each trail's bytes handed over and not yet dropped
 * (TRAIL_HELD_MAX): past it the owner waits, as it used to wait for the
 * oldest window itself.
 *
 * While an fdatasync of the log runs (acks=all), what is appended waits
 * for the next one; the owner also kicks the writeback of those appends
 * off on the thread (log_io_trail_kick), so that the next fdatasync finds
 * it under way: +15% for a producer with 5 requests in flight
 * (docs/performance.md).
 *
 * Each trail's worker-side state (log_io_trail_q_t) is on the heap, since the
 * log may be closed and freed while its last ranges are still queued; the
 * worker frees it at the trail's end job. When the thread cannot be
 * started, the owner runs the same steps inline (inline_run); when the
 * state cannot be allocated, the window is let go (nothing recycled).
 *
 * The thread is not pinned: like the reaper (reap.h) it is started before
 * the shards pin themselves (trail_start), and when it is started
 * later by a first append it is given every CPU the process may use. */
#include "storage/trail.h"

#include "alloc/st.h"
#include "storage/hot.h"
#include "storage/io.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

/* Bytes of one trail handed over and not yet dropped before its owner
 * waits: the two windows the trail keeps, and two more queued. */
#define TRAIL_HELD_MAX (4 * (int64_t)LOG_IO_WINDOW)
/* Queue of ranges for the thread; when full, owners wait for room. */
#define TRAIL_QUEUE_CAP 1024

typedef struct trail_job {
    log_io_trail_q_t *q;
    log_io_range_t range; /* file NULL: the trail ended, free q */
    bool start_only;      /* only start the range's writeback */
} trail_job_t;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static trail_job_t ring[TRAIL_QUEUE_CAP];
static unsigned head, tail; /* tail - head jobs queued */
static bool started, busy;
static int start_err;
static _Atomic uint64_t kicked_bytes; /* trail_kicked_bytes */

/* log_io_test_fail_waits: errno the waits pretend to get. */
static atomic_int fail_waits;

void log_io_test_fail_waits(int err)
{
    atomic_store(&fail_waits, err);
}

static void warn_once(log_io_trail_q_t *q, const char *what, int err)
{
    if (q->warned)
        return;
    q->warned = true;
    st_warn("%s of appended data failed: %s (fdatasync reports it)", what,
            strerror(err));
}

/* Unmaps and drops the pages of a written range, and lets it go. */
static void range_drop(log_io_range_t *r)
{
    /* After the wait: a read through the mapping during it would have
     * mapped the pages again, and mapped pages are not dropped. */
    hot_map_zap(r->hot, r->start, r->end - r->start);
    posix_fadvise(r->file->fd, r->start, r->end - r->start,
                  POSIX_FADV_DONTNEED);
    hot_map_unref(r->hot);
    seg_file_unref(r->file);
}

/* Waits until the range is written. Returns 0 or -errno. */
static int wait_written(const log_io_range_t *r)
{
    int err = atomic_load(&fail_waits);

    if (err)
        return -err;
    if (sync_file_range(r->file->fd, r->start, r->end - r->start,
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) < 0)
        return -errno;
    return 0;
}

/* Waits for the oldest range to be written, then drops its pages: here
 * when the trail runs inline, else on the owner (q->done; see
 * log_io__trail_push), falling back to here when that list is full. */
static void q_pop(log_io_trail_q_t *q)
{
    log_io_range_t r = q->r[0];
    int64_t len = r.end - r.start;
    bool handed = false;
    int rc;

    st_assert(q->n > 0);
    q->bytes -= len;
    q->n--;
    memmove(q->r, q->r + 1, q->n * sizeof(*q->r));
    if ((rc = wait_written(&r)) < 0) {
        warn_once(q, "writeback", -rc);
        /* not known to be written: let go, pages left to the kernel */
        hot_map_unref(r.hot);
        seg_file_unref(r.file);
        atomic_fetch_sub_explicit(&q->held, len, memory_order_release);
        return;
    }
    if (!q->inline_run) {
        pthread_mutex_lock(&mu);
        if (q->ndone < LOG_IO_TRAIL_MAX) {
            q->done[q->ndone++] = r;
            atomic_store_explicit(&q->any_done, true, memory_order_release);
            handed = true;
        }
        pthread_mutex_unlock(&mu);
    }
    if (!handed) {
        range_drop(&r);
        atomic_fetch_sub_explicit(&q->held, len, memory_order_release);
    }
}

/* Starts writeback of the range (its references now q's), and drops the
 * oldest ones beyond two windows. */
static void q_push(log_io_trail_q_t *q, log_io_range_t range)
{
    if (sync_file_range(range.file->fd, range.start, range.end - range.start,
                        SYNC_FILE_RANGE_WRITE) < 0)
        warn_once(q, "writeback", errno);
    if (q->n == LOG_IO_TRAIL_MAX)
        q_pop(q);
    q->r[q->n++] = range;
    q->bytes += range.end - range.start;
    while (q->bytes > 2 * (int64_t)LOG_IO_WINDOW)
        q_pop(q);
}

/* The trail ended: the written ranges are dropped, the others' pages left
 * to the kernel. */
static void q_forget(log_io_trail_q_t *q)
{
    unsigned i;

    for (i = 0; i < q->n; i++) {
        hot_map_unref(q->r[i].hot);
        seg_file_unref(q->r[i].file);
    }
    for (i = 0; i < q->ndone; i++) /* written: dropped all the same */
        range_drop(&q->done[i]);
    q->n = q->ndone = 0;
    q->bytes = 0;
    atomic_store_explicit(&q->any_done, false, memory_order_relaxed);
}

static void *trail_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        trail_job_t job;
        while (head == tail)
            pthread_cond_wait(&work_cv, &mu);
        job = ring[head++ % TRAIL_QUEUE_CAP];
        busy = true;
        pthread_mutex_unlock(&mu);
        if (job.start_only) {
            /* errors reach the fdatasync that follows */
            if (sync_file_range(job.range.file->fd, job.range.start,
                                job.range.end - job.range.start,
                                SYNC_FILE_RANGE_WRITE) == 0)
                atomic_fetch_add_explicit(
                    &kicked_bytes, (uint64_t)(job.range.end - job.range.start),
                    memory_order_relaxed);
            seg_file_unref(job.range.file);
        } else if (job.range.file) {
            q_push(job.q, job.range);
        } else {
            q_forget(job.q);
            mem_free(job.q);
        }
        pthread_mutex_lock(&mu);
        busy = false;
        /* room in the queue, bytes dropped, or idle: all in one */
        pthread_cond_broadcast(&done_cv);
    }
    return NULL;
}

/* mu held. */
static int start_locked(void)
{
    int rc;

    if (started || start_err)
        return -start_err;
    rc = st_thread_spawn("strata-trail", trail_main, true);
    if (rc != 0) {
        start_err = rc;
        st_warn("cannot start the page-cache trail thread (appends drive "
                "writeback themselves): %s",
                strerror(rc));
        return -rc;
    }
    started = true;
    return 0;
}

int trail_start(void)
{
    int rc;
    pthread_mutex_lock(&mu);
    rc = start_locked();
    pthread_mutex_unlock(&mu);
    return rc;
}

void trail_wait(void)
{
    pthread_mutex_lock(&mu);
    while (started && (head != tail || busy))
        pthread_cond_wait(&done_cv, &mu);
    pthread_mutex_unlock(&mu);
}

void log_io_trail_init(log_io_trail_t *t)
{
    *t = (log_io_trail_t){0};
}

/* Queues a job, or returns false when there is no thread. mu held. */
static bool enqueue_locked(trail_job_t job)
{
    if (start_locked() < 0)
        return false;
    while (tail - head == TRAIL_QUEUE_CAP)
        pthread_cond_wait(&done_cv, &mu);
    ring[tail++ % TRAIL_QUEUE_CAP] = job;
    pthread_cond_signal(&work_cv);
    return true;
}

/* Owner: drops the ranges the thread has seen written (mu held; released
 * while dropping). Freed on the owner's CPU, the pages go to its own free
 * lists, where its next appends find them first. */
static void drain_locked(log_io_trail_q_t *q)
{
    while (q->ndone > 0) {
        log_io_range_t r[LOG_IO_TRAIL_MAX];
        unsigned i, n = q->ndone;

        memcpy(r, q->done, n * sizeof(*r));
        q->ndone = 0;
        atomic_store_explicit(&q->any_done, false, memory_order_relaxed);
        pthread_mutex_unlock(&mu);
        for (i = 0; i < n; i++) {
            int64_t len = r[i].end - r[i].start;
            range_drop(&r[i]);
            atomic_fetch_sub_explicit(&q->held, len, memory_order_release);
        }
        pthread_mutex_lock(&mu);
    }
}

void log_io__trail_drain(log_io_trail_t *t)
{
    if (!t->q || t->q->inline_run ||
        !atomic_load_explicit(&t->q->any_done, memory_order_acquire))
        return;
    pthread_mutex_lock(&mu);
    drain_locked(t->q);
    pthread_mutex_unlock(&mu);
}

void log_io_trail_fini(log_io_trail_t *t)
{
    seg_file_unref(t->cur);
    if (t->q && t->q->inline_run) {
        q_forget(t->q);
        mem_free(t->q);
    } else if (t->q) {
        bool queued;
        pthread_mutex_lock(&mu); /* the thread drops what is written */
        queued = enqueue_locked((trail_job_t){t->q, {NULL, NULL, 0, 0}, false});
        pthread_mutex_unlock(&mu);
        st_assert(queued); /* not inline_run: there is a thread */
    }
    log_io_trail_init(t);
}

/* The trail's state, made at its first use; NULL when out of memory. */
static log_io_trail_q_t *q_get(log_io_trail_t *t)
{
    if (!t->q) {
        t->q = mem_calloc(1, sizeof(*t->q));
        if (!t->q)
            return NULL;
        pthread_mutex_lock(&mu);
        t->q->inline_run = start_locked() < 0;
        pthread_mutex_unlock(&mu);
    }
    return t->q;
}

void log_io__trail_push(log_io_trail_t *t, seg_file_t *f, hot_map_t *hot,
                        int64_t start, int64_t end)
{
    log_io_range_t range;
    int64_t len = end - start;
    bool queued;

    if (len <= 0)
        return;
    range = (log_io_range_t){seg_file_ref(f), hot ? hot_map_ref(hot) : NULL,
                             start, end};
    if (!q_get(t)) { /* these are hints: nothing recycled for now */
        hot_map_unref(range.hot);
        seg_file_unref(range.file);
        return;
    }
    if (t->q->inline_run) {
        q_push(t->q, range);
        return;
    }
    atomic_fetch_add_explicit(&t->q->held, len, memory_order_relaxed);
    pthread_mutex_lock(&mu);
    queued = enqueue_locked((trail_job_t){t->q, range, false});
    st_assert(queued); /* not inline_run: there is a thread */
    for (;;) {
        drain_locked(t->q);
        if (atomic_load_explicit(&t->q->held, memory_order_acquire) <=
            TRAIL_HELD_MAX)
            break;
        pthread_cond_wait(&done_cv, &mu);
    }
    pthread_mutex_unlock(&mu);
}

void log_io__trail_kick(log_io_trail_t *t, seg_file_t *f, int64_t start,
                        int64_t end)
{
    if (!q_get(t) || t->q->inline_run)
        return;
    pthread_mutex_lock(&mu);
    if (tail - head < TRAIL_QUEUE_CAP)
        enqueue_locked(
            (trail_job_t){t->q, {seg_file_ref(f), NULL, start, end}, true});
    pthread_mutex_unlock(&mu);
}

uint64_t trail_kicked_bytes(void)
{
    return atomic_load_explicit(&kicked_bytes, memory_order_relaxed);
}
