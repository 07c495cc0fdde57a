#include "image/motion.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

/* A block is 1/160 of the longer side, at least 8 px: 12 px at 1080p, 8 at 640x480. A 40 px
 * face covers 9+ blocks, and the mean of 36+ sampled pixels is ~6x steadier than one pixel
 * against sensor and compression noise. */
enum { GRID = 160, MIN_BLOCK = 8 };
/* Change threshold on a block mean, grey levels: 4 robust noise deviations of the frame's block
 * differences, never below 4 (H.264 at CRF 23 moves still block means by up to ~2) nor above 12
 * (a camera panning everywhere must not raise it past what a face walking in changes). */
static const float floor_levels = 4.0f, ceiling_levels = 12.0f, noise_sigmas = 4.0f;

struct fid__motion {
    int width, height, block, cols, rows;
    float *ref, *cur, *scratch;
    int64_t *stamp;
    float threshold;
    int fed;
};

fid__motion *fid__motion_new(void) { return calloc(1, sizeof(fid__motion)); }

static void release(fid__motion *m) {
    free(m->ref), free(m->cur), free(m->scratch), free(m->stamp);
    m->ref = m->cur = m->scratch = NULL, m->stamp = NULL;
    m->width = m->height = m->cols = m->rows = 0;
}

void fid__motion_free(fid__motion *m) {
    if (!m) return;
    release(m);
    free(m);
}

/* Block means of luma ((r + 2g + b) / 4) over every second pixel of every second row. */
static void block_means(const fid__motion *m, const fid_image *im, float *out) {
    int B = m->block;
    for (int by = 0; by < m->rows; by++) {
        int y0 = by * B, y1 = y0 + B < im->height ? y0 + B : im->height;
        for (int bx = 0; bx < m->cols; bx++) {
            int x0 = bx * B, x1 = x0 + B < im->width ? x0 + B : im->width;
            uint32_t sum = 0, n = 0;
            for (int y = y0; y < y1; y += 2) {
                const uint8_t *p = im->rgb + ((size_t)y * im->width + x0) * 3;
                for (int x = x0; x < x1; x += 2, p += 6)
                    sum += (uint32_t)p[0] + 2u * p[1] + p[2], n++;
            }
            out[by * m->cols + bx] = n ? (float)sum / (4.0f * n) : 0;
        }
    }
}

/* The median of v[0..n) (reorders v): quickselect, ~0.1 ms for 1080p's 14,400 blocks. */
static float kth(float *v, int n, int k) {
    int lo = 0, hi = n - 1;
    while (lo < hi) {
        float pivot = v[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (v[j] > pivot)
                j--;
            if (i <= j) {
                float t = v[i];
                v[i++] = v[j], v[j--] = t;
            }
        }
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

static float median(float *v, int n) { return kth(v, n, n / 2); }

int fid__motion_update(fid__motion *m, const fid_image *im, int64_t index) {
    if (!m || !im || im->width < 1 || im->height < 1) return 0;
    if (im->width != m->width || im->height != m->height || !m->ref) {
        release(m);
        int longer = im->width > im->height ? im->width : im->height;
        int B = (longer + GRID - 1) / GRID;
        if (B < MIN_BLOCK) B = MIN_BLOCK;
        int cols = (im->width + B - 1) / B, rows = (im->height + B - 1) / B;
        size_t n = (size_t)cols * rows;
        m->ref = malloc(n * sizeof *m->ref), m->cur = malloc(n * sizeof *m->cur);
        m->scratch = malloc(n * sizeof *m->scratch), m->stamp = malloc(n * sizeof *m->stamp);
        if (!m->ref || !m->cur || !m->scratch || !m->stamp) {
            release(m);
            m->fed = 0;
            return -1;
        }
        m->width = im->width, m->height = im->height, m->block = B, m->cols = cols, m->rows = rows;
        block_means(m, im, m->ref);
        for (size_t i = 0; i < n; i++)
            m->stamp[i] = index;
        m->threshold = floor_levels;
        m->fed = 1;
        return (int)n;
    }
    int n = m->cols * m->rows;
    block_means(m, im, m->cur);
    /* The common change: light and exposure scale and shift every block alike (cur = a ref + b).
     * Fitted by least squares, then again without the blocks more than 3 robust deviations off
     * (what moved), and the references follow it. */
    float a = 1, b = 0;
    for (int pass = 0; pass < 2; pass++) {
        float cut = INFINITY;
        if (pass) {
            for (int i = 0; i < n; i++)
                m->scratch[i] = fabsf(m->cur[i] - (a * m->ref[i] + b));
            cut = 3 * 1.4826f * median(m->scratch, n) + 0.5f;
        }
        double sx = 0, sy = 0, sxx = 0, sxy = 0, k = 0;
        for (int i = 0; i < n; i++) {
            double x = m->ref[i], y = m->cur[i];
            if (pass && fabs(y - (a * x + b)) > cut) continue;
            sx += x, sy += y, sxx += x * x, sxy += x * y, k++;
        }
        double var = k * sxx - sx * sx;
        if (k < 2) break;
        if (var > 1e-6 * k * k) {
            a = (float)((k * sxy - sx * sy) / var), b = (float)((sy - a * sx) / k);
        } else { /* a flat picture: a shift only */
            a = 1, b = (float)((sy - sx) / k);
        }
        if (a < 0.5f || a > 2.0f) a = 1, b = (float)((sy - sx) / k); /* not a light change: a cut */
    }
    for (int i = 0; i < n; i++)
        m->ref[i] = a * m->ref[i] + b, m->scratch[i] = fabsf(m->cur[i] - m->ref[i]);
    /* the noise: most blocks hold still, so the median deviation is theirs (1.4826: MAD -> sigma) */
    float sigma = 1.4826f * median(m->scratch, n), t = noise_sigmas * sigma;
    m->threshold = t < floor_levels ? floor_levels : t > ceiling_levels ? ceiling_levels : t;
    /* A change counts where a neighbouring block (of the 8) changed too: a face moving in changes
     * a patch of blocks at once (24 px covers 2x2 or more), while the encoder refining a still
     * picture flips single blocks (after a face stopped, single blocks near it kept firing for
     * 80 frames and every tile over them was scanned again). */
    for (int i = 0; i < n; i++)
        m->scratch[i] = fabsf(m->cur[i] - m->ref[i]) > m->threshold;
    int changed = 0;
    for (int y = 0; y < m->rows; y++)
        for (int x = 0; x < m->cols; x++) {
            int i = y * m->cols + x, near = 0;
            if (m->scratch[i] == 0) continue;
            for (int dy = -1; dy <= 1 && !near; dy++)
                for (int dx = -1; dx <= 1 && !near; dx++)
                    if ((dx || dy) && x + dx >= 0 && x + dx < m->cols && y + dy >= 0 && y + dy < m->rows)
                        near = m->scratch[(y + dy) * m->cols + x + dx] != 0;
            if (near) m->stamp[i] = index, m->ref[i] = m->cur[i], changed++;
        }
    return changed;
}

int64_t fid__motion_since(const fid__motion *m, fid_box box) {
    if (!m || !m->fed) return INT64_MAX;
    int B = m->block;
    int x0 = (int)floor(box.x / B), y0 = (int)floor(box.y / B);
    int x1 = (int)floor((box.x + box.width) / B), y1 = (int)floor((box.y + box.height) / B);
    if (x0 < 0) x0 = 0;
    if (y0 < 0) y0 = 0;
    if (x1 >= m->cols) x1 = m->cols - 1;
    if (y1 >= m->rows) y1 = m->rows - 1;
    int64_t last = -1;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++)
            if (m->stamp[y * m->cols + x] > last) last = m->stamp[y * m->cols + x];
    return last;
}

void fid__motion_geometry(const fid__motion *m, int *block, int *cols, int *rows, float *threshold) {
    if (block) *block = m ? m->block : 0;
    if (cols) *cols = m ? m->cols : 0;
    if (rows) *rows = m ? m->rows : 0;
    if (threshold) *threshold = m ? m->threshold : 0;
}
