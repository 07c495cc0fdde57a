#include "gallery/ivf.h"

#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "gallery/scan.h"
#include "util/error.h"

/* k-means: Lloyd's iterations on a sample of this many rows per list (enough for the centres to
 * settle; faiss uses 39-256) */
enum { TRAIN_PER_LIST = 48, ITERATIONS = 10, CHUNK = 8192 };

struct fid__ivf {
    int dim, dim_padded, lists;
    int64_t n;
    float *centres;   /* lists x dim */
    float *centre_n2; /* |c|^2 */
    int64_t *start;   /* lists + 1: list l holds positions start[l] .. start[l + 1] */
    float *step;      /* per list: offset ~= code * step */
    int32_t *id;      /* n, in list order */
    int8_t *code;     /* n x dim_padded, in list order */
    float *code_n2;   /* |code * step|^2 */
    uint16_t *half;   /* n x dim, fp16, in list order: the re-rank */
};

/* ---- fp16 -------------------------------------------------------------------------------------- */

uint16_t fid__half_from_float(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, mant = x & 0x7fffffu;
    int32_t exp = (int32_t)((x >> 23) & 0xff);
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0)); /* inf, nan */
    exp = exp - 127 + 15;
    if (exp >= 0x1f) return (uint16_t)(sign | 0x7c00u); /* too large: inf */
    if (exp <= 0) {                                     /* a subnormal half, or zero */
        if (exp < -10) return (uint16_t)sign;
        mant |= 0x800000u;
        int shift = 14 - exp;
        uint32_t half = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half & 1))) half++;
        return (uint16_t)(sign | half);
    }
    uint32_t half = ((uint32_t)exp << 10) | (mant >> 13), rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (half & 1))) half++; /* a carry moves the exponent: right */
    return (uint16_t)(sign | half);
}

float fid__float_from_half(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    if (exp == 0 && mant == 0) {
        x = sign;
    } else if (exp == 0) { /* subnormal: normalised for float */
        exp = 127 - 15 + 1;
        while (!(mant & 0x400u))
            mant <<= 1, exp--;
        x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    } else if (exp == 0x1f) {
        x = sign | 0x7f800000u | (mant << 13);
    } else {
        x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ---- building ---------------------------------------------------------------------------------- */

void fid__ivf_free(fid__ivf *ix) {
    if (!ix) return;
    free(ix->centres), free(ix->centre_n2), free(ix->start), free(ix->step), free(ix->id);
    free(ix->code), free(ix->code_n2), free(ix->half);
    free(ix);
}

/* For rows x[0..m) the nearest centre of c[0..lists): `dots` is scratch of m x lists. */
static int assign(const float *x, int64_t m, int dim, const float *c, const float *c_n2, int lists, float *dots,
                  int32_t *out, int threads) {
    /* x . c^T by sgemm (row-major: dots = x (m x dim) * c^T (dim x lists)) */
    if (dnnl_sgemm('N', 'T', m, lists, dim, 1.0f, x, dim, c, dim, 0.0f, dots, lists) != dnnl_success) return -1;
#pragma omp parallel for num_threads(threads) if (threads > 1 && m > 1024)
    for (int64_t i = 0; i < m; i++) {
        const float *d = dots + (size_t)i * lists;
        int best = 0;
        float bd = c_n2[0] - 2 * d[0];
        for (int l = 1; l < lists; l++) {
            float v = c_n2[l] - 2 * d[l]; /* |x - c|^2 - |x|^2 */
            if (v < bd) bd = v, best = l;
        }
        out[i] = best;
    }
    return 0;
}

static void centre_norms(fid__ivf *ix) {
    for (int l = 0; l < ix->lists; l++) {
        double s = 0;
        for (int j = 0; j < ix->dim; j++)
            s += (double)ix->centres[(size_t)l * ix->dim + j] * ix->centres[(size_t)l * ix->dim + j];
        ix->centre_n2[l] = (float)s;
    }
}

static fid_status train(fid__ivf *ix, const float *data, int64_t n, int threads) {
    int dim = ix->dim, lists = ix->lists;
    int64_t m = (int64_t)lists * TRAIN_PER_LIST < n ? (int64_t)lists * TRAIN_PER_LIST : n;
    float *sample = malloc((size_t)m * dim * sizeof *sample), *dots = malloc((size_t)CHUNK * lists * sizeof *dots);
    double *sum = malloc((size_t)lists * dim * sizeof *sum);
    int32_t *who = malloc((size_t)m * sizeof *who);
    int64_t *count = malloc((size_t)lists * sizeof *count);
    fid_status st = FID_OK;
    if (!sample || !dots || !sum || !who || !count) {
        st = fid__fail(FID_ERR_NO_MEMORY, "index: out of memory training %d lists", lists);
        goto done;
    }
    for (int64_t i = 0; i < m; i++) /* spread over the rows: a gallery's order is by person */
        memcpy(sample + (size_t)i * dim, data + (size_t)(i * n / m) * dim, (size_t)dim * sizeof *sample);
    for (int l = 0; l < lists; l++) /* the first centres: rows spread over the sample */
        memcpy(ix->centres + (size_t)l * dim, sample + (size_t)((int64_t)l * m / lists) * dim,
               (size_t)dim * sizeof *sample);
    for (int it = 0; it < ITERATIONS; it++) {
        centre_norms(ix);
        for (int64_t i = 0; i < m; i += CHUNK)
            if (assign(sample + (size_t)i * dim, m - i < CHUNK ? m - i : CHUNK, dim, ix->centres, ix->centre_n2, lists,
                       dots, who + i, threads)) {
                st = fid__fail(FID_ERR_BACKEND, "index: oneDNN's sgemm failed");
                goto done;
            }
        memset(sum, 0, (size_t)lists * dim * sizeof *sum);
        memset(count, 0, (size_t)lists * sizeof *count);
        for (int64_t i = 0; i < m; i++) {
            count[who[i]]++;
            for (int j = 0; j < dim; j++)
                sum[(size_t)who[i] * dim + j] += sample[(size_t)i * dim + j];
        }
        for (int l = 0; l < lists; l++) {
            if (count[l]) {
                for (int j = 0; j < dim; j++)
                    ix->centres[(size_t)l * dim + j] = (float)(sum[(size_t)l * dim + j] / count[l]);
            } else { /* an empty cell takes a row of the largest one, nudged */
                int big = 0;
                for (int b = 1; b < lists; b++)
                    if (count[b] > count[big]) big = b;
                for (int64_t i = 0; i < m; i++)
                    if (who[i] == big) {
                        for (int j = 0; j < dim; j++)
                            ix->centres[(size_t)l * dim + j] = sample[(size_t)i * dim + j] * 1.001f;
                        break;
                    }
                count[big]--, count[l] = 1;
            }
        }
    }
    centre_norms(ix);
done:
    free(sample), free(dots), free(sum), free(who), free(count);
    return st;
}

fid__ivf *fid__ivf_build(const float *data, int64_t n, int dim, int lists, int threads, fid_status *status) {
    if (!data || n < 1 || n > INT32_MAX || dim < 1 || dim > 4096 || lists < 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid__ivf_build: bad argument"));
        return NULL;
    }
    if (threads < 1) threads = 1;
    if (lists == 0) lists = (int)(sqrt((double)n) / 3);
    if (lists < 1) lists = 1;
    if (lists > n) lists = (int)n;
    fid__ivf *ix = calloc(1, sizeof *ix);
    int32_t *who = NULL;
    float *dots = NULL;
    fid_status st = FID_OK;
    if (!ix) goto oom;
    ix->dim = dim, ix->dim_padded = (dim + 31) / 32 * 32, ix->lists = lists, ix->n = n;
    ix->centres = malloc((size_t)lists * dim * sizeof *ix->centres);
    ix->centre_n2 = malloc((size_t)lists * sizeof *ix->centre_n2);
    ix->start = calloc((size_t)lists + 1, sizeof *ix->start);
    ix->step = malloc((size_t)lists * sizeof *ix->step);
    ix->id = malloc((size_t)n * sizeof *ix->id);
    ix->code = malloc((size_t)n * ix->dim_padded);
    ix->code_n2 = malloc((size_t)n * sizeof *ix->code_n2);
    ix->half = malloc((size_t)n * dim * sizeof *ix->half);
    who = malloc((size_t)n * sizeof *who);
    dots = malloc((size_t)CHUNK * lists * sizeof *dots);
    if (!ix->centres || !ix->centre_n2 || !ix->start || !ix->step || !ix->id || !ix->code || !ix->code_n2 ||
        !ix->half || !who || !dots)
        goto oom;
    int callers = omp_get_max_threads(); /* sgemm's threads are the caller's OpenMP setting */
    omp_set_num_threads(threads);
    if ((st = train(ix, data, n, threads)) == FID_OK)
        for (int64_t i = 0; i < n && st == FID_OK; i += CHUNK)
            if (assign(data + (size_t)i * dim, n - i < CHUNK ? n - i : CHUNK, dim, ix->centres, ix->centre_n2, lists,
                       dots, who + i, threads))
                st = fid__fail(FID_ERR_BACKEND, "index: oneDNN's sgemm failed");
    omp_set_num_threads(callers);
    if (st != FID_OK) goto fail;
    /* rows in list order */
    for (int64_t i = 0; i < n; i++)
        ix->start[who[i] + 1]++;
    for (int l = 0; l < lists; l++)
        ix->start[l + 1] += ix->start[l];
    {
        int64_t *fill = malloc((size_t)lists * sizeof *fill);
        if (!fill) goto oom;
        memcpy(fill, ix->start, (size_t)lists * sizeof *fill);
        for (int64_t i = 0; i < n; i++)
            ix->id[fill[who[i]]++] = (int32_t)i;
        free(fill);
    }
    /* per list: the offsets' step, the codes, their norms, the fp16 copies */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 16) if (threads > 1)
    for (int l = 0; l < lists; l++) {
        const float *c = ix->centres + (size_t)l * dim;
        float top = 1e-12f;
        for (int64_t p = ix->start[l]; p < ix->start[l + 1]; p++)
            for (int j = 0; j < dim; j++)
                top = fmaxf(top, fabsf(data[(size_t)ix->id[p] * dim + j] - c[j]));
        float step = ix->step[l] = top / 127.0f;
        for (int64_t p = ix->start[l]; p < ix->start[l + 1]; p++) {
            const float *x = data + (size_t)ix->id[p] * dim;
            int8_t *q = ix->code + (size_t)p * ix->dim_padded;
            int64_t s2 = 0;
            for (int j = 0; j < ix->dim_padded; j++) {
                int v = j < dim ? (int)lrintf((x[j] - c[j]) / step) : 0;
                q[j] = (int8_t)(v > 127 ? 127 : v < -127 ? -127 : v);
                s2 += q[j] * q[j];
            }
            ix->code_n2[p] = (float)s2 * step * step;
            for (int j = 0; j < dim; j++)
                ix->half[(size_t)p * dim + j] = fid__half_from_float(x[j]);
        }
    }
    free(who), free(dots);
    fid__set_status(status, FID_OK);
    return ix;
oom:
    st = fid__fail(FID_ERR_NO_MEMORY, "index: cannot hold %lld descriptors", (long long)n);
fail:
    free(who), free(dots);
    fid__ivf_free(ix);
    fid__set_status(status, st);
    return NULL;
}

size_t fid__ivf_bytes(const fid__ivf *ix) {
    if (!ix) return 0;
    size_t n = (size_t)ix->n, L = (size_t)ix->lists;
    return sizeof *ix + L * ix->dim * 4 + L * 4 + (L + 1) * 8 + L * 4 + n * 4 + n * ix->dim_padded + n * 4 +
           n * ix->dim * 2;
}

int fid__ivf_lists(const fid__ivf *ix) { return ix ? ix->lists : 0; }

/* ---- searching --------------------------------------------------------------------------------- */

/* One list's rows against the query's offset from its centre (qq: int8 at step qs). */
#define SCAN_LIST(DOT)                                                                                                 \
    {                                                                                                                  \
        float scale = 2.0f * ix->step[l] * qs;                                                                         \
        for (int64_t p = ix->start[l]; p < ix->start[l + 1]; p++) {                                                    \
            float d = q_n2 + ix->code_n2[p] - scale * (float)DOT(ix->code + (size_t)p * ix->dim_padded, qq, dp);       \
            if (*size < k || d < heap[0].d) fid__hit_push(heap, size, k, d, p);                                        \
        }                                                                                                              \
    }

static void scan_plain(const fid__ivf *ix, int l, const int8_t *qq, float qs, float q_n2, fid__hit *heap, int *size,
                       int k) {
    int dp = ix->dim_padded;
    SCAN_LIST(fid__dot_i8)
}

#ifdef FID__HAVE_DOT_I8_FAST
FID__FAST_TARGET static void scan_fast(const fid__ivf *ix, int l, const int8_t *qq, float qs, float q_n2,
                                                      fid__hit *heap, int *size, int k) {
    int dp = ix->dim_padded;
    SCAN_LIST(FID__DOT_I8_FAST)
}
#endif

static int portable_only;
void fid__ivf_portable_only(int on) { portable_only = on; }

static int by_distance(const void *a, const void *b) {
    float x = ((const fid__hit *)a)->d, y = ((const fid__hit *)b)->d;
    return (x > y) - (x < y);
}

int fid__ivf_search(const fid__ivf *ix, const float *query, int k, int probes, int candidates, int threads,
                    int64_t *out_index, float *out_distance) {
    if (!ix || !query || k < 1) return 0;
    int dim = ix->dim, dp = ix->dim_padded, lists = ix->lists;
    if (probes < 1) probes = 1;
    if (probes > lists) probes = lists;
    if (candidates < k) candidates = k;
    if (threads < 1) threads = 1;
    /* the nearest centres */
    fid__hit *near = malloc((size_t)lists * sizeof *near);
    fid__hit *heaps = malloc((size_t)threads * candidates * sizeof *heaps);
    int *sizes = calloc((size_t)threads, sizeof *sizes);
    int8_t *qqs = malloc((size_t)threads * dp);
    float *offs = malloc((size_t)threads * dim * sizeof *offs);
    if (!near || !heaps || !sizes || !qqs || !offs) {
        free(near), free(heaps), free(sizes), free(qqs), free(offs);
        return -1;
    }
    for (int l = 0; l < lists; l++) {
        const float *c = ix->centres + (size_t)l * dim;
        float s = 0;
        for (int j = 0; j < dim; j++)
            s += (query[j] - c[j]) * (query[j] - c[j]);
        near[l] = (fid__hit){s, l};
    }
    /* partial selection of the `probes` nearest */
    for (int a = 0; a < probes; a++) {
        int m = a;
        for (int b = a + 1; b < lists; b++)
            if (near[b].d < near[m].d) m = b;
        fid__hit t = near[a];
        near[a] = near[m], near[m] = t;
    }
#ifdef FID__HAVE_DOT_I8_FAST
    int fast = !portable_only && FID__FAST_AVAILABLE();
#endif
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        int t = omp_get_thread_num();
        int8_t *qq = qqs + (size_t)t * dp;
        float *off = offs + (size_t)t * dim;
        fid__hit *heap = heaps + (size_t)t * candidates;
#pragma omp for schedule(dynamic, 1)
        for (int a = 0; a < probes; a++) {
            int l = (int)near[a].i;
            const float *c = ix->centres + (size_t)l * dim;
            float top = 1e-12f, q_n2 = 0;
            for (int j = 0; j < dim; j++)
                off[j] = query[j] - c[j], top = fmaxf(top, fabsf(off[j])), q_n2 += off[j] * off[j];
            float qs = top / 127.0f;
            for (int j = 0; j < dp; j++)
                qq[j] = (int8_t)(j < dim ? lrintf(off[j] / qs) : 0);
#ifdef FID__HAVE_DOT_I8_FAST
            if (fast)
                scan_fast(ix, l, qq, qs, q_n2, heap, &sizes[t], candidates);
            else
#endif
                scan_plain(ix, l, qq, qs, q_n2, heap, &sizes[t], candidates);
        }
    }
    /* every thread's candidates ranked again with their fp16 copies, gathered in place */
    int nb = 0;
    for (int t = 0; t < threads; t++)
        for (int c = 0; c < sizes[t]; c++) {
            int64_t p = heaps[(size_t)t * candidates + c].i;
            const uint16_t *h = ix->half + (size_t)p * dim;
            float s = 0;
            for (int j = 0; j < dim; j++) {
                float v = fid__float_from_half(h[j]) - query[j];
                s += v * v;
            }
            heaps[nb++] = (fid__hit){sqrtf(s), p}; /* nb <= t * candidates + c: read before written */
        }
    qsort(heaps, (size_t)nb, sizeof *heaps, by_distance);
    int out = nb < k ? nb : k;
    for (int a = 0; a < out; a++)
        out_index[a] = ix->id[heaps[a].i], out_distance[a] = heaps[a].d;
    free(near), free(heaps), free(sizes), free(qqs), free(offs);
    return out;
}
