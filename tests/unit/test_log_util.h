/* Helpers of the storage tests that drive a whole log (header-only, test
 * code only; include after <cmocka.h>): a log configuration for one write
 * mode, appends recorded in the model of test_batches.h, and the page-cache
 * residency of a file range. */
#ifndef STRATA_TEST_LOG_UTIL_H
#define STRATA_TEST_LOG_UTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "storage/log.h"
#include "tests/unit/test_batches.h"

/* Each test's own directory, made by test_dir_setup and removed with
 * everything under it by test_dir_teardown (cmocka setup/teardown); the
 * model is reset by both. */
static char tmpdir[256];

static inline int rm_entry(const char *path, const struct stat *sb, int flag,
                           struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* name: a few letters naming the test file, in /tmp/strata-test-<name>-*. */
static inline int test_dir_setup(const char *name)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/strata-test-%s-XXXXXX", name);
    if (!mkdtemp(tmpdir))
        return -1;
    model_reset();
    return 0;
}

static inline int test_dir_teardown(void **state)
{
    (void)state;
    model_reset();
    nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Kafka's defaults in the given mode, without time retention. */
static inline log_config_t cfg_for(log_io_mode_t mode)
{
    log_config_t c;
    log_config_default(&c);
    c.retention_ms = -1;
    c.io_mode = mode;
    return c;
}

/* Appends n batches of `records` x vsize, each its own iovec, in one
 * log_append, and adds them to the model. */
static inline void append_batches(log_t *log, int n, int records, size_t vsize)
{
    size_t cap = (size_t)n * batch_bound(records, vsize), len = 0;
    uint8_t *blob = malloc(cap);
    struct iovec *v = calloc((size_t)n, sizeof(*v));
    int i;

    for (i = 0; i < n; i++) {
        size_t k = build_batch(blob + len, records, vsize, 1000 + i);
        v[i] = (struct iovec){blob + len, k};
        len += k;
    }
    log_assign_offsets(log, blob, len);
    assert_int_equal(log_append(log, v, n), 0);
    for (i = 0; i < n; i++)
        model_add(v[i].iov_base, v[i].iov_len);
    free(v);
    free(blob);
}

/* Pages of fd's file in [from, to) that are in the page cache. */
static inline size_t resident(int fd, int64_t from, int64_t to)
{
    size_t len = (size_t)(to - from), n = 0, i;
    long page = sysconf(_SC_PAGESIZE);
    unsigned char *vec = malloc(len / (size_t)page + 1);
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, from);

    assert_true(p != MAP_FAILED);
    assert_int_equal(mincore(p, len, vec), 0);
    for (i = 0; i < len / (size_t)page; i++)
        n += vec[i] & 1;
    munmap(p, len);
    free(vec);
    return n;
}

#endif
