/* Cropping, padding and resizing exactly as face-api and TF.js do them, so that the networks
 * see the same input tensors as in the original implementation. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/clones.h"
#include "util/error.h"

float *fid__image_crop_float(const fid_image *im, int x, int y, int w, int h) {
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > im->width || y + h > im->height) {
        fid__fail(FID_ERR_INVALID_ARGUMENT, "crop %dx%d+%d+%d outside a %dx%d image", w, h, x, y, im->width,
                  im->height);
        return NULL;
    }
    float *out = malloc((size_t)w * h * 3 * sizeof *out);
    if (!out) {
        fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a %dx%d crop", w, h);
        return NULL;
    }
    for (int r = 0; r < h; r++) {
        const uint8_t *src = im->rgb + ((size_t)(y + r) * im->width + x) * 3;
        float *dst = out + (size_t)r * w * 3;
        for (int i = 0; i < w * 3; i++)
            dst[i] = src[i];
    }
    return out;
}

fid_status fid__region_square(const fid_image *im, int x, int y, int w, int h, float *dst, int size) {
    float *crop = fid__image_crop_float(im, x, y, w, h);
    int side;
    float *square = crop ? fid__pad_to_square(crop, h, w, 1, &side) : NULL;
    free(crop);
    if (!square) return FID_ERR_NO_MEMORY;
    fid__resize_bilinear(square, side, side, dst, size, size);
    free(square);
    return FID_OK;
}

float *fid__pad_to_square(const float *src, int h, int w, int centered, int *side) {
    int s = h > w ? h : w, diff = abs(h - w);
    /* JS Math.round: halves round up */
    int append = (int)floor(diff * (centered ? 0.5 : 1.0) + 0.5), prepend = centered ? diff - append : 0;
    float *out = calloc((size_t)s * s * 3, sizeof *out);
    if (!out) {
        fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a %dx%d tensor", s, s);
        return NULL;
    }
    int oy = h < w ? prepend : 0, ox = w < h ? prepend : 0;
    for (int r = 0; r < h; r++)
        memcpy(out + ((size_t)(oy + r) * s + ox) * 3, src + (size_t)r * w * 3, (size_t)w * 3 * sizeof *out);
    *side = s;
    return out;
}

void fid__resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw) {
    double ry = (double)sh / dh, rx = (double)sw / dw;
    for (int y = 0; y < dh; y++) {
        double fy = ry * y;
        int y0 = (int)floor(fy), y1 = (int)ceil(fy);
        if (y0 < 0) y0 = 0;
        if (y1 > sh - 1) y1 = sh - 1;
        double wy = fy - y0;
        for (int x = 0; x < dw; x++) {
            double fx = rx * x;
            int x0 = (int)floor(fx), x1 = (int)ceil(fx);
            if (x0 < 0) x0 = 0;
            if (x1 > sw - 1) x1 = sw - 1;
            double wx = fx - x0;
            const float *tl = src + ((size_t)y0 * sw + x0) * 3, *tr = src + ((size_t)y0 * sw + x1) * 3;
            const float *bl = src + ((size_t)y1 * sw + x0) * 3, *br = src + ((size_t)y1 * sw + x1) * 3;
            float *o = dst + ((size_t)y * dw + x) * 3;
            for (int c = 0; c < 3; c++) {
                double top = tl[c] + (tr[c] - tl[c]) * wx, bottom = bl[c] + (br[c] - bl[c]) * wx;
                o[c] = (float)(top + (bottom - top) * wy);
            }
        }
    }
}

/* Source taps of one output coordinate; a tap past the image (in the zero padding) is -1. */
typedef struct tap {
    int i0, i1;
    double w;
} tap;

/* Both loops of one output row of fid__square_resize, vectorised (AVX2 clone; no FMA, so the
 * rounding stays TF's). */
FID_CLONES static void
horizontal_row(const uint8_t *row, const tap *tx, int both_end, int one_end, int size, double *hr);
FID_CLONES static void vertical_row(const double *top, const double *bottom,
                                                                           double wy, int n, int affine, float scale,
                                                                           float offset, float *o) {
    if (affine)
        for (int i = 0; i < n; i++)
            o[i] = (float)(top[i] + (bottom[i] - top[i]) * wy) * scale + offset;
    else
        for (int i = 0; i < n; i++)
            o[i] = (float)(top[i] + (bottom[i] - top[i]) * wy);
}

FID_CLONES static void
horizontal_row(const uint8_t *row, const tap *tx, int both_end, int one_end, int size, double *hr) {
    for (int x = 0; x < both_end; x++) {
        const uint8_t *a = row + tx[x].i0 * 3, *b = row + tx[x].i1 * 3;
        for (int k = 0; k < 3; k++)
            hr[x * 3 + k] = a[k] + (double)(b[k] - a[k]) * tx[x].w;
    }
    for (int x = both_end; x < one_end; x++) {
        const uint8_t *a = row + tx[x].i0 * 3;
        for (int k = 0; k < 3; k++)
            hr[x * 3 + k] = a[k] + (double)(0 - a[k]) * tx[x].w;
    }
    for (int x = one_end; x < size; x++)
        hr[x * 3] = hr[x * 3 + 1] = hr[x * 3 + 2] = 0;
}

static void taps(tap *t, int size, int side, int extent) {
    double r = (double)side / size;
    for (int i = 0; i < size; i++) {
        double f = r * i;
        int i0 = (int)floor(f), i1 = (int)ceil(f);
        if (i1 > side - 1) i1 = side - 1;
        t[i] = (tap){i0 < extent ? i0 : -1, i1 < extent ? i1 : -1, f - i0};
    }
}

void fid__square_resize(const fid_image *im, float *dst, int size, float scale, float offset, int threads) {
    int side = im->width > im->height ? im->width : im->height;
    tap *tx = malloc((size_t)size * 2 * sizeof *tx), *ty = tx + size;
    if (!tx) { /* keep the arithmetic, lose the precomputation */
        float *all = fid__image_crop_float(im, 0, 0, im->width, im->height);
        int s2;
        float *sq = all ? fid__pad_to_square(all, im->height, im->width, 0, &s2) : NULL;
        if (sq) fid__resize_bilinear(sq, s2, s2, dst, size, size);
        for (size_t i = 0; sq && i < (size_t)size * size * 3; i++)
            dst[i] = dst[i] * scale + offset;
        free(all);
        free(sq);
        return;
    }
    taps(tx, size, side, im->width);
    taps(ty, size, side, im->height);
    /* Taps are monotonic: x < both_end has both source columns, x < one_end only the left one,
     * the rest lies in the padding. */
    int both_end = 0, one_end = 0;
    while (both_end < size && tx[both_end].i1 >= 0)
        both_end++;
    one_end = both_end;
    while (one_end < size && tx[one_end].i0 >= 0)
        one_end++;
    int affine = scale != 1.0f || offset != 0.0f;
    /* Each output row blends two horizontally interpolated source rows; same double arithmetic
     * as TF's per-pixel formula (top/bottom first, then vertical), without per-pixel branches. */
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        double *h = malloc((size_t)size * 6 * sizeof *h);
#pragma omp for schedule(static)
        for (int y = 0; y < size; y++) {
            float *o = dst + (size_t)y * size * 3;
            if (!h) {
                for (int i = 0; i < size * 3; i++)
                    o[i] = NAN; /* out of memory inside a parallel region: poison, never a crash */
                continue;
            }
            for (int r = 0; r < 2; r++) {
                int src = r ? ty[y].i1 : ty[y].i0;
                double *hr = h + (size_t)r * size * 3;
                if (src < 0) {
                    memset(hr, 0, (size_t)size * 3 * sizeof *hr);
                    continue;
                }
                horizontal_row(im->rgb + (size_t)src * im->width * 3, tx, both_end, one_end, size, hr);
            }
            vertical_row(h, h + (size_t)size * 3, ty[y].w, size * 3, affine, scale, offset, o);
        }
        free(h);
    }
    free(tx);
}

/* Bilinear sample of a packed float RGB plane (w x h) at (u, v), edges clamped. */
static void bilinear_plane(const float *p, int w, int h, double u, double v, float *o) {
    if (u < 0) u = 0;
    if (v < 0) v = 0;
    if (u > w - 1) u = w - 1;
    if (v > h - 1) v = h - 1;
    int x0 = (int)u, y0 = (int)v, x1 = x0 + (x0 < w - 1), y1 = y0 + (y0 < h - 1);
    double wx = u - x0, wy = v - y0;
    const float *a = p + ((size_t)y0 * w + x0) * 3, *b = p + ((size_t)y0 * w + x1) * 3;
    const float *c = p + ((size_t)y1 * w + x0) * 3, *d = p + ((size_t)y1 * w + x1) * 3;
    for (int k = 0; k < 3; k++) {
        double top = a[k] + (b[k] - a[k]) * wx, bottom = c[k] + (d[k] - c[k]) * wx;
        o[k] = (float)(top + (bottom - top) * wy);
    }
}

fid_status fid__sample_square(const fid_image *im, double x, double y, double side, float *dst, int size) {
    double step = side / size;
    /* Shrinking a large face by plain bilinear sampling aliases: a shift of a pixel changes what
     * the network sees. The square's pixels are first averaged in q x q blocks (q = the whole
     * part of the step), then sampled bilinearly from those blocks. */
    int q = step >= 2 ? (int)step : 1;
    int x0 = (int)floor(x) - q, y0 = (int)floor(y) - q;
    int n = (int)ceil((side + 2.0 * q + 2) / q);
    if (!(side > 0) || side > 1e6 || n > 1 << 14) return fid__fail(FID_ERR_INVALID_ARGUMENT, "bad face frame");
    float *plane = calloc((size_t)n * n * 3, sizeof *plane);
    if (!plane) return fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a %dx%d face frame", n, n);
    float inv = 1.0f / (float)(q * q);
    for (int by = 0; by < n; by++) {
        int ys = y0 + by * q;
        if (ys + q <= 0 || ys >= im->height) continue;
        for (int bx = 0; bx < n; bx++) {
            int xs = x0 + bx * q;
            if (xs + q <= 0 || xs >= im->width) continue;
            float acc[3] = {0, 0, 0};
            for (int yy = ys < 0 ? 0 : ys; yy < ys + q && yy < im->height; yy++) {
                const uint8_t *row = im->rgb + ((size_t)yy * im->width) * 3;
                for (int xx = xs < 0 ? 0 : xs; xx < xs + q && xx < im->width; xx++)
                    acc[0] += row[xx * 3], acc[1] += row[xx * 3 + 1], acc[2] += row[xx * 3 + 2];
            }
            float *o = plane + ((size_t)by * n + bx) * 3;
            o[0] = acc[0] * inv, o[1] = acc[1] * inv, o[2] = acc[2] * inv;
        }
    }
    /* output pixel j's centre, x + (j + 0.5) step - 0.5 in image pixels, in block coordinates */
    for (int i = 0; i < size; i++) {
        double v = (y + (i + 0.5) * step - 0.5 - y0 + 0.5) / q - 0.5;
        for (int j = 0; j < size; j++) {
            double u = (x + (j + 0.5) * step - 0.5 - x0 + 0.5) / q - 0.5;
            bilinear_plane(plane, n, n, u, v, dst + ((size_t)i * size + j) * 3);
        }
    }
    free(plane);
    return FID_OK;
}
