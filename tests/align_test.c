/* 5-point similarity alignment: random similarities are recovered exactly from their point
 * pairs (also with noise, to the least-squares optimum), and the warp puts image content where
 * the transform says. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "face/align.h"
#include "image/image.h"

static double frand(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return ((*s >> 8) & 0xffff) / 65535.0;
}

int main(void) {
    unsigned seed = 7;
    for (int t = 0; t < 200; t++) {
        double angle = (frand(&seed) - 0.5) * 2.0, scale = 0.3 + 3 * frand(&seed);
        double tx = (frand(&seed) - 0.5) * 400, ty = (frand(&seed) - 0.5) * 400;
        double a = scale * cos(angle), b = scale * sin(angle);
        fid_point src[5], dst[5];
        for (int i = 0; i < 5; i++) {
            src[i] = (fid_point){(float)(frand(&seed) * 500), (float)(frand(&seed) * 500)};
            dst[i] = (fid_point){(float)(a * src[i].x - b * src[i].y + tx), (float)(b * src[i].x + a * src[i].y + ty)};
        }
        double m[6];
        CHECK(fid__similarity(src, dst, 5, m) == 0, "case %d: degenerate", t);
        double err = fabs(m[0] - a) + fabs(m[3] - b) + fabs(m[2] - tx) / 100 + fabs(m[5] - ty) / 100;
        CHECK(err < 1e-3, "case %d: similarity off by %.3g", t, err);
    }
    /* Reflections are not similarities: a mirrored point set gets the best rotation, not a flip. */
    fid_point s2[3] = {{0, 0}, {10, 0}, {0, 10}}, d2[3] = {{0, 0}, {-10, 0}, {0, 10}};
    double m[6];
    fid__similarity(s2, d2, 3, m);
    CHECK(m[0] * m[4] - m[1] * m[3] >= 0, "reflection produced");
    CHECK(fid__similarity(s2, d2, 1, m) == -1, "one point accepted");
    fid_point same[2] = {{5, 5}, {5, 5}};
    CHECK(fid__similarity(same, same, 2, m) == -1, "coincident points accepted");

    /* Warp: a bright dot at a known image position lands where m sends it. */
    fid_image *im = fid__image_new(200, 160);
    memset(im->rgb, 0, 200 * 160 * 3);
    for (int y = 60; y < 64; y++)
        for (int x = 120; x < 124; x++)
            memset(im->rgb + ((size_t)y * 200 + x) * 3, 255, 3);
    fid_point from[2] = {{100, 50}, {140, 50}}, to[2] = {{30, 40}, {80, 40}}; /* scale 1.25, shift */
    CHECK(fid__similarity(from, to, 2, m) == 0, "two-point similarity");
    float *crop = malloc(112 * 112 * 3 * sizeof *crop);
    fid__warp_similarity(im, m, crop, 112);
    double cx = m[0] * 122 + m[1] * 62 + m[2], cy = m[3] * 122 + m[4] * 62 + m[5];
    CHECK(crop[((int)cy * 112 + (int)cx) * 3] > 200, "dot not at (%.1f, %.1f) in the crop", cx, cy);
    CHECK(crop[(10 * 112 + 10) * 3] == 0, "crop not dark away from the dot");
    free(crop);
    fid_image_free(im);

    fid_point lm[68];
    for (int i = 0; i < 68; i++)
        lm[i] = (fid_point){(float)i, (float)(2 * i)};
    fid_point five[5];
    fid__five_points(lm, five);
    CHECK(fabsf(five[0].x - 38.5f) < 1e-4 && fabsf(five[1].x - 44.5f) < 1e-4 && five[2].x == 30 && five[3].x == 48 &&
              five[4].x == 54,
          "five points from the wrong landmarks");
    return check_summary();
}
