/* Micro-benchmark of the CRC-32C kernels: GB/s (10^9 bytes per second) of
 * every kernel this CPU can run, at 64 B (a small record batch), 4 KiB and
 * 1 MiB (a large produce request), plus what simd_crc32c() dispatches to.
 *
 * Each measurement is the median of several repetitions; a repetition
 * checksums the same warm buffer (so 1 MiB runs from L2 cache, as a batch
 * just received would) about 32 MiB worth of times. Calls are independent
 * (results are xored, not chained), which is how a broker checks many
 * batches: for short buffers this measures throughput, not latency.
 *
 * Usage: bench_crc32c [--json] [--reps N] */
#include "simd/simd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_BYTES_PER_REP (32u << 20)
#define BENCH_MAX_REPS 101

static const size_t sizes[] = {64, 4096, 1 << 20};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The sink keeps the calls from being optimised away. */
static volatile uint32_t sink;

static double measure(simd_crc32c_fn fn, const uint8_t *buf, size_t size,
                      int reps)
{
    double gbps[BENCH_MAX_REPS];
    size_t iters = BENCH_BYTES_PER_REP / size;
    uint32_t acc = 0;

    for (size_t i = 0; i < iters / 4 + 1; i++) /* warm up */
        acc ^= fn(0, buf, size);
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        for (size_t i = 0; i < iters; i++)
            acc ^= fn((uint32_t)i, buf, size);
        uint64_t t1 = now_ns();
        gbps[r] = (double)(iters * size) / (double)(t1 - t0 + 1);
    }
    sink = acc;
    qsort(gbps, (size_t)reps, sizeof(gbps[0]), cmp_double);
    return gbps[reps / 2];
}

static void print_features(bool json)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        {SIMD_SSE42, "sse4.2"},       {SIMD_PCLMUL, "pclmulqdq"},
        {SIMD_AVX2, "avx2"},          {SIMD_AVX512, "avx512f+vl+bw"},
        {SIMD_VPCLMUL, "vpclmulqdq"},
    };
    const char *sep = "";

    printf(json ? "  \"features\": [" : "cpu features:");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!simd_cpu_has(names[i].bit))
            continue;
        printf(json ? "%s\"%s\"" : "%s %s", sep, names[i].name);
        sep = json ? ", " : "";
    }
    printf(json ? "],\n" : "\n");
}

int main(int argc, char **argv)
{
    size_t nkernels, nsizes = sizeof(sizes) / sizeof(sizes[0]);
    const struct simd_crc32c_kernel *k = simd_crc32c_kernels(&nkernels);
    const char *chosen = simd_init();
    size_t maxsize = sizes[nsizes - 1];
    bool json = false, first = true;
    int reps = 11;
    uint8_t *buf;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > BENCH_MAX_REPS) {
                fprintf(stderr, "--reps: 1..%d\n", BENCH_MAX_REPS);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: %s [--json] [--reps N]\n", argv[0]);
            return 2;
        }
    }
    buf = aligned_alloc(64, maxsize);
    if (buf == NULL) {
        perror("aligned_alloc");
        return 1;
    }
    srand(1);
    for (size_t i = 0; i < maxsize; i++)
        buf[i] = (uint8_t)rand();

    if (json) {
        printf("{\n");
        print_features(true);
        printf("  \"dispatch\": \"%s\",\n  \"reps\": %d,\n"
               "  \"unit\": \"GB/s\",\n  \"results\": [\n",
               chosen, reps);
    } else {
        print_features(false);
        printf("simd_crc32c dispatches to: %s\n", chosen);
        printf("median of %d repetitions, GB/s (1e9 B/s)\n\n", reps);
        printf("%-20s", "kernel");
        for (size_t s = 0; s < nsizes; s++) {
            char label[32];
            if (sizes[s] >= (1 << 20))
                snprintf(label, sizeof(label), "%zu MiB", sizes[s] >> 20);
            else if (sizes[s] >= 1024)
                snprintf(label, sizeof(label), "%zu KiB", sizes[s] >> 10);
            else
                snprintf(label, sizeof(label), "%zu B", sizes[s]);
            printf("%10s", label);
        }
        printf("\n");
    }
    /* The kernels, then the dispatcher itself (last row). */
    for (size_t i = 0; i <= nkernels; i++) {
        const char *name = i < nkernels ? k[i].name : "simd_crc32c";
        simd_crc32c_fn fn = i < nkernels ? k[i].fn : simd_crc32c;

        if (i < nkernels && !simd_cpu_has(k[i].needs))
            continue;
        if (!json)
            printf("%-20s", name);
        for (size_t s = 0; s < nsizes; s++) {
            double g = measure(fn, buf, sizes[s], reps);
            if (json) {
                printf("%s    {\"kernel\": \"%s\", \"bytes\": %zu, "
                       "\"gbps\": %.2f}",
                       first ? "" : ",\n", name, sizes[s], g);
                first = false;
            } else {
                printf("%10.2f", g);
            }
            fflush(stdout);
        }
        if (!json)
            printf("\n");
    }
    if (json)
        printf("\n  ]\n}\n");
    free(buf);
    return 0;
}
