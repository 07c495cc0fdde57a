#include "nn/kernels.h"
#include "util/clones.h"

#include <float.h>
#include <string.h>

/* One output row of a pooling window; the channel loop is contiguous and vectorises. */
FID_CLONES static void
pool_row(const fid__pool_attr *p, const int64_t *xd, const float *x, int64_t OW, float *y, int64_t oy) {
    int64_t H = xd[1], W = xd[2], C = xd[3];
    int64_t y0 = oy * p->stride_h - p->pad_top, y1 = y0 + p->kh;
    if (y0 < 0) y0 = 0;
    if (y1 > H) y1 = H;
    for (int64_t ox = 0; ox < OW; ox++) {
        int64_t x0 = ox * p->stride_w - p->pad_left, x1 = x0 + p->kw;
        if (x0 < 0) x0 = 0;
        if (x1 > W) x1 = W;
        float *out = y + ox * C;
        if (p->is_max && y1 - y0 == 2 && x1 - x0 == 2) {
            /* the common 2x2 window inside the map: one pass over the channels, not four */
            const float *a = x + (y0 * W + x0) * C, *b = a + C, *c2 = a + W * C, *d = c2 + C;
            for (int64_t c = 0; c < C; c++) {
                float m0 = a[c] > b[c] ? a[c] : b[c], m1 = c2[c] > d[c] ? c2[c] : d[c];
                out[c] = m0 > m1 ? m0 : m1;
            }
        } else if (p->is_max) {
            for (int64_t c = 0; c < C; c++)
                out[c] = -FLT_MAX;
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++) {
                    const float *in = x + (iy * W + ix) * C;
                    for (int64_t c = 0; c < C; c++)
                        out[c] = in[c] > out[c] ? in[c] : out[c];
                }
        } else {
            memset(out, 0, (size_t)C * sizeof *out);
            for (int64_t iy = y0; iy < y1; iy++)
                for (int64_t ix = x0; ix < x1; ix++) {
                    const float *in = x + (iy * W + ix) * C;
                    for (int64_t c = 0; c < C; c++)
                        out[c] += in[c];
                }
            int64_t count = (y1 - y0) * (x1 - x0);
            float inv = count > 0 ? 1.0f / (float)count : 0;
            for (int64_t c = 0; c < C; c++)
                out[c] *= inv;
        }
    }
}

void fid__pool_nhwc(const fid__pool_attr *p, const int64_t *xd, const float *x, const int64_t *yd, float *y,
                    int threads) {
    int64_t N = yd[0], OH = yd[1], OW = yd[2], C = yd[3];
    int64_t rows = N * OH;
#pragma omp parallel for num_threads(threads) schedule(static) if (threads > 1)
    for (int64_t r = 0; r < rows; r++) {
        int64_t b = r / OH, oy = r % OH;
        pool_row(p, xd, x + b * xd[1] * xd[2] * xd[3], OW, y + (b * OH + oy) * OW * C, oy);
    }
}
