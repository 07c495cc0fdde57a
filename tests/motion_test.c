/* Motion map: block stamps equal a naive re-implementation's on random frames; and the behaviour
 * detection relies on: sensor noise, H.264-like block noise and a global light change mark
 * nothing; a square walking in marks the blocks it crosses and no others; a slow drift adds up
 * until it counts; a box's answer is the newest stamp of the blocks it touches. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "image/image.h"
#include "image/motion.h"

static unsigned rng = 777;
static double urand(void) {
    rng = rng * 1664525u + 1013904223u;
    return ((rng >> 8) & 0xffffff) / 16777216.0;
}
/* near-normal, unit variance (the sum of 4 uniforms; cheap enough for 1080p frames) */
static double gauss(void) { return (urand() + urand() + urand() + urand() - 2) * 1.7320508; }
static uint8_t clip(double v) { return v < 0 ? 0 : v > 255 ? 255 : (uint8_t)lround(v); }

/* A textured still background (smooth gradients plus fixed speckle), a bright square at
 * (sx, sy) of side ss (ss 0: none), every pixel + gain * value + offset + noise. */
static void scene(fid_image *im, int sx, int sy, int ss, double gain, double offset, double noise) {
    static float *base; /* the background, made once per size */
    static int bw, bh;
    if (bw != im->width || bh != im->height) {
        free(base);
        base = malloc((size_t)im->width * im->height * sizeof *base);
        bw = im->width, bh = im->height;
        unsigned keep = rng;
        rng = 99; /* the same speckle every time */
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++)
                base[(size_t)y * bw + x] = (float)(60 + 50 * sin(x * 0.013) * cos(y * 0.021) + 20 * urand());
        rng = keep;
    }
    for (int y = 0; y < im->height; y++)
        for (int x = 0; x < im->width; x++) {
            double v = base[(size_t)y * bw + x];
            if (ss && x >= sx && x < sx + ss && y >= sy && y < sy + ss) v = 200 + 30 * ((x / 5) % 2);
            uint8_t *p = im->rgb + ((size_t)y * im->width + x) * 3;
            p[0] = p[1] = p[2] = clip(gain * v + offset);
        }
    if (noise > 0)
        for (size_t i = 0; i < (size_t)im->width * im->height * 3; i++)
            im->rgb[i] = clip(im->rgb[i] + noise * gauss());
}

/* The naive reference: the same rule, written the plain way (sorts for medians). */
typedef struct {
    int B, cols, rows;
    double *ref;
    int64_t *stamp;
} naive;
static int cmpd(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double kth(double *v, int n) { /* the element at n/2 once sorted, as quickselect gives */
    qsort(v, (size_t)n, sizeof *v, cmpd);
    return v[n / 2];
}
static void naive_means(const naive *r, const fid_image *im, double *out) {
    for (int by = 0; by < r->rows; by++)
        for (int bx = 0; bx < r->cols; bx++) {
            double s = 0;
            int n = 0;
            for (int y = by * r->B; y < (by + 1) * r->B && y < im->height; y += 2)
                for (int x = bx * r->B; x < (bx + 1) * r->B && x < im->width; x += 2) {
                    const uint8_t *p = im->rgb + ((size_t)y * im->width + x) * 3;
                    s += p[0] + 2.0 * p[1] + p[2], n++;
                }
            out[by * r->cols + bx] = s / (4.0 * n);
        }
}
static void naive_update(naive *r, const fid_image *im, int64_t index) {
    int n = r->cols * r->rows;
    double *cur = malloc(n * sizeof *cur), *d = malloc(n * sizeof *d);
    naive_means(r, im, cur);
    /* light: cur = a ref + b by least squares, refitted without the blocks > 3 MAD off */
    double a = 1, b = 0;
    for (int pass = 0; pass < 2; pass++) {
        double cut = INFINITY;
        if (pass) {
            for (int i = 0; i < n; i++)
                d[i] = fabs(cur[i] - (a * r->ref[i] + b));
            cut = 3 * 1.4826 * kth(d, n) + 0.5;
        }
        double sx = 0, sy = 0, sxx = 0, sxy = 0, k = 0;
        for (int i = 0; i < n; i++)
            if (!pass || fabs(cur[i] - (a * r->ref[i] + b)) <= cut)
                sx += r->ref[i], sy += cur[i], sxx += r->ref[i] * r->ref[i], sxy += r->ref[i] * cur[i], k++;
        double var = k * sxx - sx * sx;
        if (var > 1e-6 * k * k)
            a = (k * sxy - sx * sy) / var, b = (sy - a * sx) / k;
        else
            a = 1, b = (sy - sx) / k;
        if (a < 0.5 || a > 2.0) a = 1, b = (sy - sx) / k;
    }
    for (int i = 0; i < n; i++)
        r->ref[i] = a * r->ref[i] + b, d[i] = fabs(cur[i] - r->ref[i]);
    double t = 4 * 1.4826 * kth(d, n);
    t = t < 4 ? 4 : t > 12 ? 12 : t;
    int *over = calloc(n, sizeof *over);
    for (int i = 0; i < n; i++)
        over[i] = fabs(cur[i] - r->ref[i]) > t;
    for (int i = 0; i < n; i++) {
        int x = i % r->cols, y = i / r->cols, near = 0;
        for (int dy = -1; dy <= 1; dy++) /* any other block over the threshold within one block */
            for (int dx = -1; dx <= 1; dx++)
                if ((dx || dy) && x + dx >= 0 && x + dx < r->cols && y + dy >= 0 && y + dy < r->rows)
                    near |= over[(y + dy) * r->cols + x + dx];
        if (over[i] && near) r->stamp[i] = index, r->ref[i] = cur[i];
    }
    free(over), free(cur), free(d);
}

int main(void) {
    /* 1. against the naive rule: 640x360 (8 px blocks), random squares and light each frame */
    {
        fid_image *im = fid__image_new(640, 360);
        fid__motion *m = fid__motion_new();
        naive r = {.B = 8, .cols = 80, .rows = 45};
        r.ref = calloc(80 * 45, sizeof *r.ref), r.stamp = calloc(80 * 45, sizeof *r.stamp);
        int agree = 1, frames = 60, moved = 0;
        for (int f = 0; f < frames; f++) {
            scene(im, (int)(urand() * 600), (int)(urand() * 320), 10 + (int)(urand() * 60), 0.8 + 0.4 * urand(),
                  20 * urand() - 10, 3);
            int c = fid__motion_update(m, im, f);
            if (f == 0) {
                naive_means(&r, im, r.ref);
                CHECK(c == 80 * 45, "the first frame counts as a change everywhere (%d)", c);
            } else {
                naive_update(&r, im, f);
                moved += c;
            }
            for (int by = 0; by < r.rows; by++)
                for (int bx = 0; bx < r.cols; bx++) {
                    fid_box b = {bx * 8.0f + 1, by * 8.0f + 1, 6, 6}; /* inside one block */
                    int64_t got = fid__motion_since(m, b), want = r.stamp[by * r.cols + bx];
                    if (got != want && agree) {
                        agree = 0;
                        CHECK(0, "frame %d block %d,%d: stamp %lld, naive %lld", f, bx, by, (long long)got,
                              (long long)want);
                    }
                }
        }
        CHECK(agree, "stamps equal the naive rule's on %d random frames", frames);
        CHECK(moved > 0, "random squares moved something");
        int block, cols, rows;
        fid__motion_geometry(m, &block, &cols, &rows, NULL);
        CHECK(block == 8 && cols == 80 && rows == 45, "640x360: 8 px blocks, 80x45 (%d, %dx%d)", block, cols, rows);
        free(r.ref), free(r.stamp);
        fid__motion_free(m);
        fid_image_free(im);
    }
    /* 2. behaviour at 1080p */
    fid_image *im = fid__image_new(1920, 1080);
    fid__motion *m = fid__motion_new();
    CHECK(fid__motion_since(m, (fid_box){0, 0, 100, 100}) == INT64_MAX, "before any frame nothing is known still");
    int64_t f = 0;
    scene(im, 0, 0, 0, 1, 0, 4);
    fid__motion_update(m, im, f++);
    int block;
    fid__motion_geometry(m, &block, NULL, NULL, NULL);
    CHECK(block == 12, "1080p: 12 px blocks (%d)", block);
    int noisy = 0;
    for (int i = 0; i < 10; i++, f++) { /* sensor noise sigma 6, then light rising 40% over 10 frames */
        scene(im, 0, 0, 0, 1 + 0.04 * i, 3 * i, 6);
        noisy += fid__motion_update(m, im, f);
    }
    CHECK(noisy == 0, "noise and a rising light mark no block (%d marked)", noisy);
    /* coarse 8x8 "compression" blocks of +-2 levels, different every frame */
    int blocky = 0;
    for (int i = 0; i < 5; i++, f++) {
        scene(im, 0, 0, 0, 1.4, 27, 0);
        for (int by = 0; by < 1080; by += 8)
            for (int bx = 0; bx < 1920; bx += 8) {
                int d = (int)lround(4 * urand() - 2);
                for (int y = by; y < by + 8 && y < 1080; y++)
                    for (int x = bx; x < bx + 8; x++)
                        for (int k = 0; k < 3; k++) {
                            uint8_t *p = im->rgb + ((size_t)y * 1920 + x) * 3 + k;
                            *p = clip(*p + d);
                        }
            }
        blocky += fid__motion_update(m, im, f);
    }
    CHECK(blocky == 0, "compression-like block noise marks nothing (%d)", blocky);
    int64_t quiet = f - 1;
    /* a 48 px square walks in from the left along y = 500 at 8 px a frame */
    int64_t start = f;
    for (int i = 0; i < 20; i++, f++) {
        scene(im, 8 * i, 500, 48, 1.4, 27, 3);
        fid__motion_update(m, im, f);
    }
    int64_t path = fid__motion_since(m, (fid_box){0, 500, 200, 48});
    CHECK(path >= start, "the square's path changed (last change %lld, walk from %lld)", (long long)path,
          (long long)start);
    int64_t far = fid__motion_since(m, (fid_box){1000, 100, 400, 300});
    CHECK(far <= quiet, "far from the square nothing changed (last change %lld)", (long long)far);
    int64_t above = fid__motion_since(m, (fid_box){0, 400, 300, 80});
    CHECK(above <= quiet, "blocks above the square's row stayed (last change %lld)", (long long)above);
    /* a whole-frame box sees the newest stamp */
    CHECK(fid__motion_since(m, (fid_box){-50, -50, 5000, 5000}) == f - 1, "a box larger than the frame is clipped");
    /* a slow drift: 0.5 px a frame sideways adds up until it counts */
    int64_t drift_from = f;
    scene(im, 600, 200, 60, 1.4, 27, 0);
    fid__motion_update(m, im, f++);
    int64_t settled = f;
    for (int i = 1; i <= 40; i++, f++) {
        scene(im, 600 + i / 2, 200, 60, 1.4, 27, 0);
        fid__motion_update(m, im, f);
    }
    int64_t drift = fid__motion_since(m, (fid_box){590, 190, 90, 80});
    CHECK(drift > settled, "a 20 px drift at 0.5 px a frame counted (last change %lld, from %lld)", (long long)drift,
          (long long)drift_from);
    /* another size starts over */
    fid_image *small = fid__image_new(320, 240);
    scene(small, 0, 0, 0, 1, 0, 0);
    CHECK(fid__motion_update(m, small, f) == 40 * 30, "a frame of another size counts as a change everywhere");
    fid_image_free(small);
    fid__motion_free(m);
    fid_image_free(im);
    return check_summary();
}
