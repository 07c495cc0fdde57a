#include "face/ssd.h"

#include <math.h>

void fid__ssd_decode(const float *enc, const float *cls, const float *anchors, int64_t n, float *boxes, float *scores) {
    for (int64_t i = 0; i < n; i++) {
        const float *a = anchors + 4 * i, *e = enc + 4 * i;
        /* Same operation order as face-api so results agree to the last bits. */
        float size0 = a[2] - a[0], size1 = a[3] - a[1];
        float center0 = a[0] + size0 / 2, center1 = a[1] + size1 / 2;
        float half0 = expf(e[2] / 5) * size0 / 2, half1 = expf(e[3] / 5) * size1 / 2;
        float mid0 = e[0] / 10 * size0 + center0, mid1 = e[1] / 10 * size1 + center1;
        boxes[4 * i + 0] = mid0 - half0;
        boxes[4 * i + 1] = mid1 - half1;
        boxes[4 * i + 2] = mid0 + half0;
        boxes[4 * i + 3] = mid1 + half1;
        scores[i] = 1.0f / (1.0f + expf(-cls[3 * i + 1]));
    }
}
