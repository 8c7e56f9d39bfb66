/* The reaper: closes descriptors of deleted segment files on a thread of
 * its own, because that close is where the file system frees the file.
 *
 * Unlinking a file that is still open only removes its name; the blocks
 * and the page cache are freed when the last descriptor goes, and for a
 * 1 GiB segment on ext4 that close measured ~200 ms here (256 MiB: 53 ms).
 * Done on a shard's loop (retention, a move to the cold tier, a topic
 * deletion, or the last in-flight response of a deleted segment), it would
 * stall every partition and connection of that shard. So deleted files are
 * opened (if they are not already), unlinked, and their last descriptor is
 * handed here.
 *
 * One thread for the process, started by reap_start (or by the first
 * reap_close), not pinned: it inherits the affinity of the thread that
 * starts it, so the broker starts it before pinning any shard. The queue is
 * a fixed ring; when it is full, or the thread cannot be started, the
 * caller closes the descriptor itself, which is only slower.
 *
 * Thread: every function may be called from any thread. */
#ifndef STRATA_STORAGE_REAP_H
#define STRATA_STORAGE_REAP_H

#include <stdint.h>

/* Starts the thread now (idempotent). Returns 0 or -errno; on failure
 * reap_close closes inline. */
int reap_start(void);

/* Closes fd on the reaper thread, soon. fd < 0 is ignored. */
void reap_close(int fd);

/* Waits until every descriptor handed over so far has been closed (tests,
 * and the broker's shutdown, so that the disk space is free on exit). */
void reap_wait(void);

/* Descriptors closed by the reaper thread since the start. */
uint64_t reap_closed(void);

/* Opens the file at path (to hold its last reference), unlinks it and
 * hands the descriptor to the reaper. Returns 0 or -errno of unlink
 * (-ENOENT when there is no such file). */
int reap_unlink(const char *path);
/* The same relative to a directory descriptor (unlinkat). */
int reap_unlinkat(int dirfd, const char *name);

#endif
