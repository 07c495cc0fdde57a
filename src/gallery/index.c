/*
 * Nearest-neighbour search for large galleries: descriptors quantised to int8 (one symmetric
 * scale for the whole index) are scanned with int8 dot products, the best candidates
 * are re-ranked with the exact float32 distances (AVX2 or NEON where the CPU has it: gallery/scan.h).
 * 1M x 128-d is 128 MB of int8 instead of
 * 512 MB of float32: the scan is memory-bound, so it is 4x less to read.
 */
#include "gallery/index.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gallery/scan.h"
#include "util/error.h"

struct fid__index {
    int dim, dim_padded; /* padded to 32 int8 lanes */
    int64_t n;
    float scale;        /* x ~= q * scale */
    int8_t *q;          /* n x dim_padded */
    float *norm2;       /* |q|^2 * scale^2 per row */
    const float *exact; /* n x dim, borrowed */
};

fid__index *fid__index_build(const float *data, int64_t n, int dim, fid_status *status) {
    fid__index *ix = calloc(1, sizeof *ix);
    if (!ix) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "index: out of memory"));
        return NULL;
    }
    ix->dim = dim;
    ix->dim_padded = (dim + 31) / 32 * 32;
    ix->n = n;
    ix->exact = data;
    float maxabs = 1e-12f;
    for (int64_t i = 0; i < n * dim; i++)
        maxabs = fmaxf(maxabs, fabsf(data[i]));
    ix->scale = maxabs / 127.0f;
    if (posix_memalign((void **)&ix->q, 64, (size_t)(n ? n : 1) * ix->dim_padded) ||
        !(ix->norm2 = malloc((size_t)(n ? n : 1) * sizeof *ix->norm2))) {
        fid__index_free(ix);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "index: cannot hold %lld descriptors", (long long)n));
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        int8_t *row = ix->q + (size_t)i * ix->dim_padded;
        int64_t s = 0;
        for (int k = 0; k < ix->dim_padded; k++) {
            int v = k < dim ? (int)lrintf(data[(size_t)i * dim + k] / ix->scale) : 0;
            row[k] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
            s += row[k] * row[k];
        }
        ix->norm2[i] = (float)s * ix->scale * ix->scale;
    }
    fid__set_status(status, FID_OK);
    return ix;
}

void fid__index_free(fid__index *ix) {
    if (!ix) return;
    free(ix->q);
    free(ix->norm2);
    free(ix);
}

/* One thread's share of rows [from, to): int8 distances into its candidate heap. The whole loop
 * is compiled for the fast ISA (AVX2) so the dot product inlines (a call per row cost a third of the time). */
#define SCAN_BODY(DOT)                                                                                                 \
    {                                                                                                                  \
        float s2 = ix->scale * ix->scale;                                                                              \
        for (int64_t i = from; i < to; i++) {                                                                          \
            const int8_t *row = ix->q + (size_t)i * ix->dim_padded;                                                    \
            float d = ix->norm2[i] - 2.0f * (float)DOT(row, qq, ix->dim_padded) * s2; /* |x-q|^2 - |q|^2 */            \
            if (*size < k || d < heap[0].d) fid__hit_push(heap, size, k, d, i);                                        \
        }                                                                                                              \
    }

#ifdef FID__HAVE_DOT_I8_FAST
FID__FAST_TARGET static void scan_fast(const fid__index *ix, const int8_t *qq, int64_t from, int64_t to,
                                                      fid__hit *heap, int *size, int k) SCAN_BODY(FID__DOT_I8_FAST)
#endif

    static void scan_plain(const fid__index *ix, const int8_t *qq, int64_t from, int64_t to, fid__hit *heap, int *size,
                           int k) SCAN_BODY(fid__dot_i8)

        int fid__index_search(const fid__index *ix, const float *query, int k, int candidates, int threads,
                              int64_t *out_index, float *out_distance) {
    if (k < 1 || !ix->n) return 0;
    if (candidates < k) candidates = k;
    if (candidates > 4096) candidates = 4096;
    int8_t *qq;
    if (posix_memalign((void **)&qq, 64, (size_t)ix->dim_padded)) return -1;
    for (int j = 0; j < ix->dim_padded; j++) {
        int v = j < ix->dim ? (int)lrintf(query[j] / ix->scale) : 0;
        qq[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
    }
#ifdef FID__HAVE_DOT_I8_FAST
    int use_fast = FID__FAST_AVAILABLE();
#else
    int use_fast = 0;
#endif
    if (threads < 1) threads = 1;
    fid__hit *heaps = malloc((size_t)threads * candidates * sizeof *heaps);
    int *sizes = calloc((size_t)threads, sizeof *sizes);
    if (!heaps || !sizes) {
        free(qq), free(heaps), free(sizes);
        return -1;
    }
#pragma omp parallel num_threads(threads) if (threads > 1 && ix->n > 20000)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int64_t from = ix->n * t / nt, to = ix->n * (t + 1) / nt;
#ifdef FID__HAVE_DOT_I8_FAST
        if (use_fast)
            scan_fast(ix, qq, from, to, heaps + (size_t)t * candidates, &sizes[t], candidates);
        else
#endif
            scan_plain(ix, qq, from, to, heaps + (size_t)t * candidates, &sizes[t], candidates);
    }
    /* exact float32 re-rank of every thread's candidates */
    fid__hit *best = malloc((size_t)k * sizeof *best);
    int nb = 0;
    for (int t = 0; t < threads && best; t++)
        for (int c = 0; c < sizes[t]; c++) {
            int64_t i = heaps[(size_t)t * candidates + c].i;
            const float *x = ix->exact + (size_t)i * ix->dim;
            double acc = 0;
            for (int j = 0; j < ix->dim; j++)
                acc += ((double)x[j] - query[j]) * ((double)x[j] - query[j]);
            fid__hit_push(best, &nb, k, (float)sqrt(acc), i);
        }
    /* heap -> ascending */
    for (int a = 0; best && a < nb; a++)
        for (int b = a + 1; b < nb; b++)
            if (best[b].d < best[a].d) {
                fid__hit tmp = best[a];
                best[a] = best[b];
                best[b] = tmp;
            }
    for (int a = 0; best && a < nb; a++) {
        out_index[a] = best[a].i;
        out_distance[a] = best[a].d;
    }
    int result = best ? nb : -1;
    free(qq), free(heaps), free(sizes), free(best);
    return result;
}
