/* Top-1 search in a large synthetic gallery: int8 index + float32 re-rank against the exact
 * float32 scan, same queries, same threads. Reports ms per query and recall@1.
 *   search_bench [N] [--threads T] [--queries Q] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gallery/index.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng = 88172645463325252ull;
static double gauss(void) { /* Box-Muller on xorshift64 */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double u = ((rng >> 11) + 0.5) / 9007199254740992.0;
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    double v = ((rng >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

int main(int argc, char **argv) {
    fid_bounded_spin_wait(argv);
    int64_t n = 1000000;
    int threads = 2, queries = 50, dim = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atoi(argv[++i]);
        else
            n = atoll(argv[i]);
    }
    /* face-api-like descriptors: components ~N(0, 0.09), people 0.6..1 apart */
    float *data = malloc((size_t)n * dim * sizeof *data);
    for (int64_t i = 0; i < n * dim; i++)
        data[i] = (float)(0.09 * gauss());
    fid_status st;
    double t0 = now_ms();
    fid__index *ix = fid__index_build(data, n, dim, &st);
    double build = now_ms() - t0;
    float *q = malloc((size_t)queries * dim * sizeof *q);
    int64_t *truth = malloc((size_t)queries * sizeof *truth);
    for (int k = 0; k < queries; k++) { /* a known person seen again: their vector plus noise */
        truth[k] = (int64_t)((rng >> 11) % (uint64_t)n);
        for (int j = 0; j < dim; j++)
            q[k * dim + j] = data[truth[k] * dim + j] + (float)(0.02 * gauss());
    }
    /* exact float32 scan, for recall and as the baseline */
    double exact_ms = 0;
    int64_t *exact_best = malloc((size_t)queries * sizeof *exact_best);
    for (int k = 0; k < queries; k++) {
        t0 = now_ms();
        double best = INFINITY;
        for (int64_t i = 0; i < n; i++) {
            const float *x = data + i * dim;
            float acc = 0;
            for (int j = 0; j < dim; j++)
                acc += (x[j] - q[k * dim + j]) * (x[j] - q[k * dim + j]);
            if (acc < best) best = acc, exact_best[k] = i;
        }
        exact_ms += now_ms() - t0;
    }
    double ms = 0;
    int hits = 0;
    for (int k = 0; k < queries; k++) {
        int64_t idx[1];
        float d[1];
        t0 = now_ms();
        fid__index_search(ix, q + k * dim, 1, 16, threads, idx, d);
        ms += now_ms() - t0;
        hits += idx[0] == exact_best[k];
    }
    printf("{\"n\":%lld,\"dim\":%d,\"threads\":%d,\"build_ms\":%.1f,\"int8_ms\":%.3f,\"exact_fp32_1thread_ms\":%.3f,"
           "\"recall_at_1_vs_exact\":%.4f,\"exact_found_truth\":%d}\n",
           (long long)n, dim, threads, build, ms / queries, exact_ms / queries, (double)hits / queries, queries);
    fid__index_free(ix);
    free(data), free(q), free(truth), free(exact_best);
    return 0;
}
