/* The cold tier's copy: moving one sealed segment's files into the cold
 * directory, off the owner thread. Contract in log.h (log_move_*) and
 * tier.h (the steps and the test hooks); the crash-safety argument, step
 * by step, is in docs/storage.md ("Tiers").
 *
 * The worker never touches the log_t: it reads the local .log through the
 * file reference log_move_prepare took (so a roll, retention or a Fetch
 * meanwhile cannot close it under the copy) and writes only files of its
 * own, each under a temporary name. The .log rename is the single commit
 * point: before it the cold dir holds nothing log_open keeps, after it both
 * copies are complete, checked and identical, and log_open keeps the cold
 * one. The local files go only in log_move_finish, after the commit has
 * been made durable by an fsync of the cold directory.
 *
 * The copy is checked by reading it back after fsync and after dropping it
 * from the page cache, so the check reads what the cold device holds rather
 * than what was just written to memory. The indexes are not copied but
 * rebuilt by that same pass: they then describe exactly the checked bytes,
 * and the owner thread may go on rewriting the local index files (an
 * eviction) without racing the copy.
 *
 * copy_file_range keeps the bytes in the kernel and lets a filesystem
 * share or offload them; older kernels refuse it across filesystems
 * (EXDEV), some filesystems not at all, so a pread/pwrite loop takes over
 * from where it stopped. Whether the build has it at all is the single #if
 * of this file (sys_copy_range). */
#include "storage/tier.h"

#include "alloc/mem.h"
#include "alloc/st.h"
#include "storage/reap.h"
#include "strata_features.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Buffer of the read/write fallback. */
#define COPY_BUF (1024 * 1024)

static const char *const seg_exts[] = {".log", ".index", ".timeindex"};

/* ---- small file helpers, shared with log.c ---- */

/* log.h: public, for the broker's own files too. */
int log_dir_fsync(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

void tier__parent_of(const char *dir, char *out, size_t n)
{
    const char *slash = strrchr(dir, '/');

    if (!slash)
        snprintf(out, n, ".");
    else if (slash == dir)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - dir), dir);
}

static int fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

int tier__make_dirs(const char *dir, size_t *created_at)
{
    char path[SEG_DIR_MAX];
    size_t i, len = strlen(dir);
    struct stat st;

    *created_at = 0;
    if (len >= sizeof(path))
        return -ENAMETOOLONG;
    /* The common case, a dir that is there, without the mkdir of every
     * level: each locks its parent dir, which the shards opening their
     * partitions at start-up then take in turn. */
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    memcpy(path, dir, len + 1);
    for (i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != 0)
            continue;
        path[i] = 0;
        if (mkdir(path, 0755) == 0) {
            if (!*created_at)
                *created_at = i;
        } else if (errno != EEXIST) {
            return -errno;
        }
        if (i < len)
            path[i] = '/';
    }
    return 0;
}

/* ---- the copy ---- */

static tier_copy_fn copy_hook;

void tier_test_set_copy_fn(tier_copy_fn fn)
{
    copy_hook = fn;
}

/* The build's copy_file_range, or ENOSYS when it has none (the fallback
 * then does everything). */
static ssize_t sys_copy_range(int fd_in, int64_t *off_in, int fd_out,
                              int64_t *off_out, size_t len)
{
#if STRATA_HAVE_COPY_FILE_RANGE
    off64_t a = *off_in, b = *off_out;
    ssize_t n = copy_file_range(fd_in, &a, fd_out, &b, len, 0);

    if (n > 0) {
        *off_in = a;
        *off_out = b;
    }
    return n;
#else
    (void)fd_in;
    (void)off_in;
    (void)fd_out;
    (void)off_out;
    (void)len;
    errno = ENOSYS;
    return -1;
#endif
}

/* Errors that mean "not here, not this way" rather than a failed device:
 * the read/write loop can still do the copy. */
static bool copy_refused(int err)
{
    return err == EXDEV || err == EOPNOTSUPP || err == ENOSYS ||
           err == EINVAL || err == ENOTSUP;
}

static int copy_rw(int fd_in, int fd_out, int64_t pos, int64_t len)
{
    uint8_t *buf = mem_alloc(COPY_BUF);
    int rc = 0;

    if (!buf)
        return -ENOMEM;
    while (len > 0) {
        ssize_t n = pread(fd_in, buf, (size_t)ST_MIN(len, COPY_BUF), pos);
        size_t done = 0;

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO; /* the source is too short */
            break;
        }
        while (done < (size_t)n) {
            ssize_t w =
                pwrite(fd_out, buf + done, (size_t)n - done, pos + (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                rc = w < 0 ? -errno : -EIO;
                goto out;
            }
            done += (size_t)w;
        }
        pos += n;
        len -= n;
    }
out:
    mem_free(buf);
    return rc;
}

static int copy_data(log_move_t *m)
{
    tier_copy_fn fn = copy_hook ? copy_hook : sys_copy_range;
    int64_t in = 0, out = 0;

    while (in < m->size) {
        ssize_t n =
            fn(m->src->fd, &in, m->tmp_fd, &out, (size_t)(m->size - in));

        if (n > 0)
            continue;
        if (n == 0)
            return -EIO; /* the source is shorter than the segment */
        if (errno == EINTR)
            continue;
        if (!copy_refused(errno))
            return -errno;
        st_debug("%s: copy_file_range refused (%s); copying segment %" PRId64
                 " with read/write from position %" PRId64,
                 m->cold_dir, strerror(errno), m->base, in);
        return copy_rw(m->src->fd, m->tmp_fd, in, m->size - in);
    }
    return 0;
}

/* ---- the steps ---- */

static void tmp_path(char *out, size_t n, const log_move_t *m, size_t ext)
{
    char ext_tmp[32];

    snprintf(ext_tmp, sizeof(ext_tmp), "%s" TIER_TMP, seg_exts[ext]);
    seg_path(out, n, m->cold_dir, m->base, ext_tmp);
}

static int step_create(log_move_t *m)
{
    char path[SEG_PATH_MAX];
    int rc = tier__make_dirs(m->cold_dir, &m->created_at);

    if (rc < 0)
        return rc;
    tmp_path(path, sizeof(path), m, 0);
    m->tmp_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return m->tmp_fd < 0 ? -errno : 0;
}

static int step_sync_log(log_move_t *m)
{
    if (fsync(m->tmp_fd) < 0)
        return -errno;
    /* Clean pages now: dropping them makes the check read the device. */
    posix_fadvise(m->tmp_fd, 0, 0, POSIX_FADV_DONTNEED);
    return 0;
}

static int step_check(log_move_t *m)
{
    char what[SEG_PATH_MAX];
    int rc;

    m->copy = seg_new(m->base, 0);
    if (!m->copy)
        return -ENOMEM;
    tmp_path(what, sizeof(what), m, 0);
    rc = seg_check_copy(m->copy, m->tmp_fd, m->size, m->max_offset, m->interval,
                        what);
    if (rc == 0) {
        close(m->tmp_fd);
        m->tmp_fd = -1;
    }
    return rc;
}

static int step_write_index(log_move_t *m)
{
    char opath[SEG_PATH_MAX], tpath[SEG_PATH_MAX];
    int rc;

    tmp_path(opath, sizeof(opath), m, 1);
    tmp_path(tpath, sizeof(tpath), m, 2);
    rc = idx_store(&m->copy->idx, opath, tpath);
    if (rc == 0)
        rc = fsync_file(opath);
    if (rc == 0)
        rc = fsync_file(tpath);
    return rc;
}

static int rename_into_place(log_move_t *m, size_t ext)
{
    char from[SEG_PATH_MAX], to[SEG_PATH_MAX];

    tmp_path(from, sizeof(from), m, ext);
    seg_path(to, sizeof(to), m->cold_dir, m->base, seg_exts[ext]);
    return rename(from, to) < 0 ? -errno : 0;
}

static int step_rename_index(log_move_t *m)
{
    return rename_into_place(m, 1);
}

static int step_rename_time(log_move_t *m)
{
    return rename_into_place(m, 2);
}

static int step_commit(log_move_t *m)
{
    int rc = rename_into_place(m, 0);

    if (rc == 0)
        m->committed = true;
    return rc;
}

int tier__sync_dirs(const char *dir, size_t created_at)
{
    char path[SEG_DIR_MAX], parent[SEG_DIR_MAX];
    int rc = log_dir_fsync(dir);
    bool first = true;

    snprintf(path, sizeof(path), "%s", dir);
    while (rc == 0) {
        /* path's entry in its parent must be durable when this caller made
         * path, and for the dir itself; above that it is only likely
         * made and synced long ago, so an error there (a read-only or
         * unreadable ancestor) is no failure. */
        bool needed = first || (created_at && strlen(path) >= created_at);
        int r;

        tier__parent_of(path, parent, sizeof(parent));
        if (strcmp(parent, path) == 0)
            break;
        r = log_dir_fsync(parent);
        if (needed)
            rc = r;
        memcpy(path, parent, strlen(parent) + 1);
        first = false;
    }
    return rc;
}

/* The cold dir, whose entries are the commit, and the path to it: another
 * log's first move may have just made <log.tier.cold.dir> itself, and
 * not synced its entry yet. */
static int step_sync_dir(log_move_t *m)
{
    return tier__sync_dirs(m->cold_dir, m->created_at);
}

typedef int (*step_fn)(log_move_t *m);

static const step_fn steps[TIER_STEP_DONE] = {
    [TIER_STEP_CREATE] = step_create,
    [TIER_STEP_COPY] = copy_data,
    [TIER_STEP_SYNC_LOG] = step_sync_log,
    [TIER_STEP_CHECK] = step_check,
    [TIER_STEP_WRITE_INDEX] = step_write_index,
    [TIER_STEP_RENAME_INDEX] = step_rename_index,
    [TIER_STEP_RENAME_TIME] = step_rename_time,
    [TIER_STEP_COMMIT] = step_commit,
    [TIER_STEP_SYNC_DIR] = step_sync_dir,
};

static const char *const step_names[TIER_STEP_DONE] = {
    "create", "copy",   "fsync",  "check",    "index",
    "rename", "rename", "commit", "dir fsync"};

/* Removes whatever the move may have made in the cold dir: the temporary
 * files and, when they were renamed, the final ones. The local copy is
 * whole until log_move_finish, so nothing of value goes. */
static void remove_files(log_move_t *m)
{
    char path[SEG_PATH_MAX];
    size_t k;

    /* The reaper frees the blocks: this may run on a shard's loop. */
    for (k = 0; k < ST_ARRAY_LEN(seg_exts); k++) {
        tmp_path(path, sizeof(path), m, k);
        reap_unlink(path);
    }
    if (m->tmp_fd >= 0) {
        reap_close(m->tmp_fd);
        m->tmp_fd = -1;
    }
    seg_unlink(m->cold_dir, m->base);
    m->committed = false;
}

int log_move_run_steps(log_move_t *m, int max_steps)
{
    int n;

    for (n = 0; m->step < TIER_STEP_DONE && m->result == 0; n++) {
        int rc;

        if (n == max_steps)
            return 1;
        rc = steps[m->step](m);
        if (rc < 0) {
            st_error("%s: moving segment %" PRId64
                     " to the cold tier failed (%s): %s",
                     m->cold_dir, m->base, step_names[m->step], strerror(-rc));
            remove_files(m);
            m->result = rc;
            break;
        }
        m->step++;
    }
    return m->result;
}

int log_move_run(log_move_t *m)
{
    return log_move_run_steps(m, INT_MAX);
}

/* ---- lifetime ---- */

log_move_t *tier__move_new(const char *cold_dir, int64_t base, int64_t size,
                           int64_t max_offset, int32_t interval,
                           seg_file_t *src)
{
    log_move_t *m = mem_calloc(1, sizeof(*m));

    if (m)
        m->cold_dir = mem_strndup(cold_dir, strlen(cold_dir));
    if (!m || !m->cold_dir) {
        mem_free(m);
        seg_file_unref(src);
        return NULL;
    }
    m->base = base;
    m->size = size;
    m->max_offset = max_offset;
    m->interval = interval;
    m->src = src;
    m->tmp_fd = -1;
    m->step = TIER_STEP_CREATE;
    return m;
}

void tier__move_free(log_move_t *m)
{
    if (!m)
        return;
    if (m->tmp_fd >= 0)
        close(m->tmp_fd);
    seg_file_unref(m->src);
    seg_free(m->copy);
    mem_free(m->cold_dir);
    mem_free(m);
}

void tier__move_discard(log_move_t *m)
{
    /* A failed run has cleaned up already; one never run made nothing. */
    if (m->result == 0 && m->step > TIER_STEP_CREATE)
        remove_files(m);
    tier__move_free(m);
}
