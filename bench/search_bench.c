/* Top-1 search in a large synthetic gallery against the exact float32 scan, same queries, same
 * threads. Reports ms per query and recall@1.
 *   search_bench [N] [--threads T] [--queries Q]
 *       the flat int8 index + float32 re-rank (gallery/index.h; the matcher's today)
 *   search_bench N --ivf [--threads T] [--queries Q] [--probes P,P,...] [--lists L]
 *       the inverted file (gallery/ivf.h) for ten million and more: build time, bytes, and for
 *       each probe count p50/p99 ms and recall@1 of known people seen again and of strangers;
 *       the exact answers by oneDNN's sgemm over the float32 matrix (not timed) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dnnl.h>

#include "gallery/index.h"
#include "gallery/ivf.h"

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

static double fast_gauss(void) {
    double s = 0;
    for (int i = 0; i < 4; i++) {
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        s += (rng >> 11) / 9007199254740992.0;
    }
    return (s - 2) * 1.7320508075688772;
}

static int by_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The exact nearest row of each query: sgemm of the queries against the data in chunks. */
static void exact_nearest(const float *data, int64_t n, int dim, const float *q, int nq, int64_t *best) {
    enum { ROWS = 1 << 18 };
    float *dots = malloc((size_t)nq * ROWS * sizeof *dots), *bd = malloc((size_t)nq * sizeof *bd);
    for (int k = 0; k < nq; k++)
        bd[k] = INFINITY, best[k] = -1;
    for (int64_t i = 0; i < n; i += ROWS) {
        int64_t m = n - i < ROWS ? n - i : ROWS;
        dnnl_sgemm('N', 'T', nq, m, dim, 1.0f, q, dim, data + (size_t)i * dim, dim, 0.0f, dots, m);
        for (int64_t r = 0; r < m; r++) {
            const float *x = data + (size_t)(i + r) * dim;
            float n2 = 0;
            for (int j = 0; j < dim; j++)
                n2 += x[j] * x[j];
            for (int k = 0; k < nq; k++) {
                float d = n2 - 2 * dots[(size_t)k * m + r];
                if (d < bd[k]) bd[k] = d, best[k] = i + r;
            }
        }
    }
    free(dots), free(bd);
}

static int ivf_main(int64_t n, int threads, int queries, const char *probe_list, int lists) {
    int dim = 128;
    printf("# inverted file: %lld synthetic identities x %d-d, %d threads, %d known and %d stranger queries\n",
           (long long)n, dim, threads, queries, queries);
    float *data = malloc((size_t)n * dim * sizeof *data);
    if (!data) return fprintf(stderr, "search_bench: no memory for %lld rows\n", (long long)n), 1;
    for (int64_t i = 0; i < n * dim; i++) /* near-normal from 4 uniforms: 10M x 128 in seconds */
        data[i] = (float)(0.09 * fast_gauss());
    fid_status st;
    double t0 = now_ms();
    fid__ivf *ix = fid__ivf_build(data, n, dim, lists, threads, &st);
    if (!ix) return fprintf(stderr, "search_bench: %s\n", fid_last_error()), 1;
    double build = now_ms() - t0;
    /* known people seen again (their row plus noise), then strangers (new random vectors) */
    int nq = 2 * queries;
    float *q = malloc((size_t)nq * dim * sizeof *q);
    int64_t *truth = malloc((size_t)nq * sizeof *truth);
    for (int k = 0; k < nq; k++) {
        int64_t row = (int64_t)((rng >> 11) % (uint64_t)n);
        for (int j = 0; j < dim; j++)
            q[(size_t)k * dim + j] =
                k < queries ? data[row * dim + j] + (float)(0.02 * fast_gauss()) : (float)(0.09 * fast_gauss());
    }
    exact_nearest(data, n, dim, q, nq, truth);
    printf("{\"n\":%lld,\"dim\":%d,\"threads\":%d,\"lists\":%d,\"build_s\":%.1f,\"index_mb\":%.0f,"
           "\"float32_mb\":%.0f}\n",
           (long long)n, dim, threads, fid__ivf_lists(ix), build / 1e3, fid__ivf_bytes(ix) / 1048576.0,
           (double)n * dim * 4 / 1048576.0);
    char probes_copy[256];
    snprintf(probes_copy, sizeof probes_copy, "%s", probe_list);
    double *ms = malloc((size_t)nq * sizeof *ms);
    for (char *tok = strtok(probes_copy, ","); tok; tok = strtok(NULL, ",")) {
        int probes = atoi(tok), known = 0, strange = 0;
        for (int k = 0; k < nq; k++) {
            int64_t idx[1] = {-1};
            float d[1];
            t0 = now_ms();
            fid__ivf_search(ix, q + (size_t)k * dim, 1, probes, 32, threads, idx, d);
            ms[k] = now_ms() - t0;
            if (idx[0] == truth[k]) k < queries ? known++ : strange++;
        }
        qsort(ms, (size_t)nq, sizeof *ms, by_double);
        printf("{\"probes\":%d,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"recall_at_1_known\":%.4f,"
               "\"recall_at_1_strangers\":%.4f}\n",
               probes, ms[nq / 2], ms[(int)(0.99 * (nq - 1) + 0.5)], (double)known / queries,
               (double)strange / queries);
    }
    fid__ivf_free(ix);
    free(data), free(q), free(truth), free(ms);
    return 0;
}

int main(int argc, char **argv) {
    fid_bounded_spin_wait(argv);
    int ivf = 0, lists = 0;
    const char *probes = "8,16,32,64";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ivf"))
            ivf = 1;
        else if (!strcmp(argv[i], "--probes") && i + 1 < argc)
            probes = argv[++i];
        else if (!strcmp(argv[i], "--lists") && i + 1 < argc)
            lists = atoi(argv[++i]);
    }
    int64_t n = 1000000;
    int threads = 2, queries = 50, dim = 128;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--queries") && i + 1 < argc)
            queries = atoi(argv[++i]);
        else if ((!strcmp(argv[i], "--probes") || !strcmp(argv[i], "--lists")) && i + 1 < argc)
            i++;
        else if (strcmp(argv[i], "--ivf"))
            n = atoll(argv[i]);
    }
    if (ivf) return ivf_main(n, threads, queries, probes, lists);
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
