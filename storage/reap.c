/* The reaper thread: closes descriptors of deleted files. Contract and
 * reasons in reap.h.
 *
 * A mutex and two condition variables over a ring of descriptors: a
 * handful of deletions per retention pass do not need anything lock-free,
 * and a mutex makes reap_wait exact. */
#include "storage/reap.h"

#include "alloc/st.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <stdbool.h>
#include <unistd.h>

#define REAP_CAP 4096

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static int ring[REAP_CAP];
static unsigned head, tail; /* tail - head descriptors queued */
static bool started, busy;
static int start_err;
static uint64_t nclosed;

static void *reap_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        int fd;
        while (head == tail)
            pthread_cond_wait(&work_cv, &mu);
        fd = ring[head++ % REAP_CAP];
        busy = true;
        pthread_mutex_unlock(&mu);
        close(fd);
        pthread_mutex_lock(&mu);
        busy = false;
        nclosed++;
        if (head == tail)
            pthread_cond_broadcast(&idle_cv);
    }
    return NULL;
}

/* mu held. */
static int start_locked(void)
{
    int rc;

    if (started || start_err)
        return -start_err;
    rc = st_thread_spawn("strata-reap", reap_main, false);
    if (rc != 0) {
        start_err = rc;
        st_warn("cannot start the file reaper thread (deleted segments are "
                "closed inline): %s",
                strerror(rc));
        return -rc;
    }
    started = true;
    return 0;
}

int reap_start(void)
{
    int rc;
    pthread_mutex_lock(&mu);
    rc = start_locked();
    pthread_mutex_unlock(&mu);
    return rc;
}

void reap_close(int fd)
{
    if (fd < 0)
        return;
    pthread_mutex_lock(&mu);
    if (start_locked() < 0 || tail - head == REAP_CAP) {
        pthread_mutex_unlock(&mu);
        close(fd);
        return;
    }
    ring[tail++ % REAP_CAP] = fd;
    pthread_cond_signal(&work_cv);
    pthread_mutex_unlock(&mu);
}

void reap_wait(void)
{
    pthread_mutex_lock(&mu);
    while (started && (head != tail || busy))
        pthread_cond_wait(&idle_cv, &mu);
    pthread_mutex_unlock(&mu);
}

uint64_t reap_closed(void)
{
    uint64_t n;
    pthread_mutex_lock(&mu);
    n = nclosed;
    pthread_mutex_unlock(&mu);
    return n;
}

int reap_unlinkat(int dirfd, const char *name)
{
    /* O_PATH would not keep the inode's blocks any less alive, but it is
     * enough: any descriptor does, and O_PATH needs no read permission. */
    int fd = openat(dirfd, name, O_PATH | O_CLOEXEC | O_NOFOLLOW);
    int rc = unlinkat(dirfd, name, 0) < 0 ? -errno : 0;
    if (fd >= 0)
        reap_close(fd);
    return rc;
}

int reap_unlink(const char *path)
{
    return reap_unlinkat(AT_FDCWD, path);
}
