/* The thread of the page-cache trail: the writeback and the page drops
 * behind the appends of the buffered log.io.modes (io.h, trail.c).
 *
 * One thread for the process, started by trail_start (or by the first
 * append that needs it), not pinned. The broker starts it with the
 * reaper, before any shard pins itself.
 *
 * Thread: both functions may be called from any thread. */
#ifndef STRATA_STORAGE_TRAIL_H
#define STRATA_STORAGE_TRAIL_H

#include <stdint.h>

/* Starts the thread now (idempotent). Returns 0 or -errno; on failure each
 * trail runs on its log's owner thread. */
int trail_start(void);

/* Waits until the thread has done everything handed to it so far (tests;
 * the broker's shutdown, before reap_wait, since the trail's last
 * references to deleted files go to the reaper). */
void trail_wait(void);

/* Bytes whose writeback the thread started early because a sync of their
 * log was running (log_io_trail_kick), since the start. */
uint64_t trail_kicked_bytes(void);

#endif
