#include "face/align.h"

#include <math.h>

#include "image/image.h"

const fid_point fid__arcface_template[5] = {
    {38.2946f, 51.6963f}, {73.5318f, 51.5014f}, {56.0252f, 71.7366f}, {41.5493f, 92.3655f}, {70.7299f, 92.2041f}};

int fid__similarity(const fid_point *src, const fid_point *dst, int n, double m[6]) {
    if (n < 2) return -1;
    double sx = 0, sy = 0, dx = 0, dy = 0;
    for (int i = 0; i < n; i++)
        sx += src[i].x, sy += src[i].y, dx += dst[i].x, dy += dst[i].y;
    sx /= n, sy /= n, dx /= n, dy /= n;
    /* For a similarity the optimum has closed form: a = sum(p.q)/|p|^2, b = sum(p x q)/|p|^2
     * over centred points p (source) and q (target). */
    double pp = 0, pq = 0, px = 0;
    for (int i = 0; i < n; i++) {
        double ax = src[i].x - sx, ay = src[i].y - sy, bx = dst[i].x - dx, by = dst[i].y - dy;
        pp += ax * ax + ay * ay;
        pq += ax * bx + ay * by;
        px += ax * by - ay * bx;
    }
    if (pp < 1e-12) return -1;
    double a = pq / pp, b = px / pp;
    m[0] = a, m[1] = -b, m[2] = dx - (a * sx - b * sy);
    m[3] = b, m[4] = a, m[5] = dy - (b * sx + a * sy);
    return 0;
}

void fid__five_points(const fid_point lm[68], fid_point out[5]) {
    double ex[2] = {0, 0}, ey[2] = {0, 0};
    for (int i = 0; i < 6; i++) {
        ex[0] += lm[36 + i].x, ey[0] += lm[36 + i].y;
        ex[1] += lm[42 + i].x, ey[1] += lm[42 + i].y;
    }
    out[0] = (fid_point){(float)(ex[0] / 6), (float)(ey[0] / 6)};
    out[1] = (fid_point){(float)(ex[1] / 6), (float)(ey[1] / 6)};
    out[2] = lm[30];
    out[3] = lm[48];
    out[4] = lm[54];
}

void fid__warp_similarity(const fid_image *im, const double m[6], float *out, int size) {
    /* inverse of [a -b; b a] is [a b; -b a] / (a^2 + b^2) */
    double a = m[0], b = m[3], det = a * a + b * b;
    double ia = a / det, ib = b / det;
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size; x++) {
            double u = x - m[2], v = y - m[5];
            double sx = ia * u + ib * v, sy = -ib * u + ia * v;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            double wx = sx - x0, wy = sy - y0;
            float *o = out + ((size_t)y * size + x) * 3;
            for (int c = 0; c < 3; c++) {
                double acc = 0;
                for (int k = 0; k < 4; k++) {
                    int px = x0 + (k & 1), py = y0 + (k >> 1);
                    if (px < 0 || py < 0 || px >= im->width || py >= im->height) continue;
                    double w = ((k & 1) ? wx : 1 - wx) * ((k >> 1) ? wy : 1 - wy);
                    acc += w * im->rgb[((size_t)py * im->width + px) * 3 + c];
                }
                o[c] = (float)acc;
            }
        }
}
