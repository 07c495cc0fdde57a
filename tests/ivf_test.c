/* The inverted-file index (gallery/ivf.h) against a naive exact search on random galleries:
 * probing every list gives the exact nearest row with its distance (to fp16's precision); fewer
 * probes only ever answer a farther row, never a nearer one than exists (a stranger is never
 * named by the index's mistake); known people seen again are found with few probes; the portable
 * scan and the AVX2 scan agree; odd sizes (one row, more lists than rows, dim not a multiple of
 * 32). And fp16 conversion against the compiler's _Float16 where it has one. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gallery/ivf.h"
#include "gallery/scan.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return ((rng >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

static int64_t naive_nearest(const float *data, int64_t n, int dim, const float *q, double *best_d) {
    int64_t best = -1;
    double bd = INFINITY;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int j = 0; j < dim; j++)
            s += ((double)data[i * dim + j] - q[j]) * ((double)data[i * dim + j] - q[j]);
        if (s < bd) bd = s, best = i;
    }
    *best_d = sqrt(bd);
    return best;
}

/* The fast int8 dot product (AVX2 on x86-64, NEON on arm64) against the portable one, on random
 * rows and on the extremes (+-127 everywhere: the largest sums the int16 steps must hold). */
#ifdef FID__HAVE_DOT_I8_FAST
/* compiled for the fast ISA, as the scans are: the dot product inlines only there */
FID__FAST_TARGET static int32_t fast_dot(const int8_t *a, const int8_t *b, int n) { return FID__DOT_I8_FAST(a, b, n); }
#endif

static void check_dot(void) {
#ifdef FID__HAVE_DOT_I8_FAST
    if (!FID__FAST_AVAILABLE()) {
        printf("skip: the fast int8 dot product: this CPU lacks %s\n", FID__FAST_NAME);
        return;
    }
    int8_t a[1024], b[1024];
    int same = 1, trials = 0;
    for (int t = 0; t < 2000; t++) {
        int n = 32 * (1 + (int)(urand() * 32)), mode = t % 4;
        for (int k = 0; k < n; k++) {
            a[k] = (int8_t)(mode == 0 ? 127 : mode == 1 ? -127 : (int)(urand() * 255) - 127);
            b[k] = (int8_t)(mode == 0 ? 127 : mode == 1 ? 127 : (int)(urand() * 255) - 127);
        }
        same &= fid__dot_i8(a, b, n) == fast_dot(a, b, n);
        trials++;
    }
    CHECK(same, "the %s int8 dot product equals the portable one (%d vectors, extremes included)", FID__FAST_NAME, trials);
#else
    printf("skip: no fast int8 dot product on this architecture (portable only)\n");
#endif
}

int main(void) {
    check_dot();
    /* fp16 */
    int half_ok = 1;
#ifdef __FLT16_MAX__
    for (int i = 0; i < 200000 && half_ok; i++) {
        float f = (float)(gauss() * pow(2.0, (int)(urand() * 40) - 28)); /* normals, subnormals, overflow */
        _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, &h, 2);
        uint16_t got = fid__half_from_float(f);
        float back = fid__float_from_half(got);
        if (got != want || back != (float)h) {
            half_ok = 0;
            CHECK(0, "fp16 of %.9g: 0x%04x, _Float16 0x%04x (back %.9g, want %.9g)", f, got, want, back, (float)h);
        }
    }
    CHECK(half_ok, "fp16 conversion equals _Float16's on 200,000 values from 2^-28 to 2^12");
#else
    printf("skip: this compiler has no _Float16 to compare fp16 conversion with\n");
#endif
    CHECK(fid__half_from_float(INFINITY) == 0x7c00 && isnan(fid__float_from_half(fid__half_from_float(NAN))),
          "fp16: inf and nan");

    static const struct {
        int64_t n;
        int dim, lists;
    } cases[] = {{1, 128, 0}, {5, 128, 9}, {3000, 100, 0}, {20000, 128, 40}, {4000, 512, 16}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n;
        int dim = cases[c].dim;
        float *data = malloc((size_t)n * dim * sizeof *data);
        for (int64_t i = 0; i < n * dim; i++)
            data[i] = (float)(0.09 * gauss());
        fid_status st;
        fid__ivf *ix = fid__ivf_build(data, n, dim, cases[c].lists, 2, &st);
        CHECK(ix != NULL, "n %lld dim %d: built (%s)", (long long)n, dim, ix ? "" : fid_last_error());
        if (!ix) continue;
        int L = fid__ivf_lists(ix);
        CHECK(L >= 1 && L <= n, "n %lld: %d lists", (long long)n, L);
        int exact_all = 1, dist_ok = 1, never_nearer = 1, known = 0, agree = 1, queries = 60;
        float *q = malloc((size_t)dim * sizeof *q);
        for (int k = 0; k < queries; k++) {
            int stranger = k % 2;
            int64_t row = (int64_t)(urand() * n);
            for (int j = 0; j < dim; j++)
                q[j] = stranger ? (float)(0.09 * gauss()) : data[row * dim + j] + (float)(0.02 * gauss());
            double exact_d;
            int64_t exact = naive_nearest(data, n, dim, q, &exact_d);
            int64_t idx[3];
            float d[3];
            int got = fid__ivf_search(ix, q, 3, L, 64, 2, idx, d);
            exact_all &= got >= 1 && idx[0] == exact;
            dist_ok &= got >= 1 && fabs(d[0] - exact_d) <= 2e-3 * exact_d + 1e-4;
            for (int a = 1; a < got; a++)
                dist_ok &= d[a] >= d[a - 1];
            /* few probes: never nearer than the truth; known people found */
            int probes = L > 8 ? L / 8 : 1;
            got = fid__ivf_search(ix, q, 1, probes, 32, 2, idx, d);
            never_nearer &= got == 1 && d[0] >= exact_d * (1 - 2e-3) - 1e-4;
            known += !stranger && got == 1 && idx[0] == exact;
            int64_t idx2[1];
            float d2[1];
            fid__ivf_portable_only(1);
            int got2 = fid__ivf_search(ix, q, 1, probes, 32, 1, idx2, d2);
            fid__ivf_portable_only(0);
            agree &= got2 == got && idx2[0] == idx[0] && fabsf(d2[0] - d[0]) <= 1e-5f * d[0];
        }
        CHECK(exact_all, "n %lld dim %d: every list probed gives the exact nearest row", (long long)n, dim);
        CHECK(dist_ok, "n %lld dim %d: distances within 0.2%% of exact, ascending", (long long)n, dim);
        CHECK(never_nearer, "n %lld dim %d: with 1/8 of the lists, never a distance below the nearest's", (long long)n,
              dim);
        CHECK(known >= queries / 2 - 1, "n %lld dim %d: known people found with 1/8 of the lists (%d of %d)",
              (long long)n, dim, known, queries / 2);
        CHECK(agree, "n %lld dim %d: the portable scan (1 thread) answers as the fast one (2 threads)", (long long)n,
              dim);
        free(q);
        fid__ivf_free(ix);
        free(data);
    }
    fid_status st;
    CHECK(fid__ivf_build(NULL, 5, 128, 0, 1, &st) == NULL && st == FID_ERR_INVALID_ARGUMENT, "bad arguments refused");
    return check_summary();
}
