#include "face/calibration.h"

#include <stdio.h>
#include <stdlib.h>

#include "image/image.h"

/* The face grid of the screenshot (1920 x 954): rows start at these y, columns every 112.9 px
 * from x = 2, each cell a 104-pixel square holding one face (found by eye on the pinned file). */
static const int grid_rows[] = {285, 397, 508, 621, 733, 846};
#define GRID_COLS 17
#define GRID_CELL 104

static void normalise(float *px, size_t count, const fid__input_norm *norm) {
    for (size_t i = 0; i < count; i += 3) {
        float r = px[i], g = px[i + 1], b = px[i + 2];
        if (norm->bgr) r = px[i + 2], b = px[i];
        px[i] = (r - norm->mean[0]) * norm->scale;
        px[i + 1] = (g - norm->mean[1]) * norm->scale;
        px[i + 2] = (b - norm->mean[2]) * norm->scale;
    }
}

static fid_image *load_pinned(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/calibration/faces.jpg", fid_model_dir());
    fid_status st;
    fid_image *im = fid_image_load(path, &st);
    if (im && (fid_image_width(im) != 1920 || fid_image_height(im) != 954)) {
        fid_image_free(im);
        im = NULL;
    }
    return im;
}

fid_image *fid__calibration_faces(fid_box *cells, int max, int *n) {
    *n = 0;
    fid_image *im = max > 0 ? load_pinned() : NULL;
    int all = (int)(sizeof grid_rows / sizeof *grid_rows) * GRID_COLS, want = max < all ? max : all;
    /* evenly spread over the grid: the first rows repeat one person (the screenshot's match) */
    for (int k = 0; im && k < want; k++) {
        int cell = (int)((long)k * all / want), row = cell / GRID_COLS, col = cell % GRID_COLS;
        cells[k] = (fid_box){(float)(int)(2 + col * 112.9 + 0.5), (float)grid_rows[row], GRID_CELL, GRID_CELL};
    }
    if (im) *n = want;
    return im;
}

float *fid__calibration_inputs(int side, const fid__input_norm *norm, int scene, int max, int *n) {
    *n = 0;
    fid_box cells[GRID_COLS * 6];
    int n_cells = 0;
    fid_image *im = scene ? load_pinned() : fid__calibration_faces(cells, max, &n_cells);
    int W = im ? fid_image_width(im) : 0, H = im ? fid_image_height(im) : 0;
    if (!im || side < 8 || max < 1) {
        fid_image_free(im);
        return NULL;
    }
    size_t per = (size_t)side * side * 3;
    int want = scene ? 2 : n_cells;
    float *out = malloc((size_t)want * per * sizeof *out);
    int got = 0;
    if (scene) { /* the whole screenshot, and the face grid alone (smaller faces, more of them) */
        got += out && fid__region_square(im, 0, 0, W, H, out, side) == FID_OK;
        got += out && got == 1 && fid__region_square(im, 0, grid_rows[0], W, H - grid_rows[0], out + per, side) == FID_OK;
    } else {
        for (int k = 0; out && k < want; k++) {
            const fid_box *c = &cells[k];
            if (fid__region_square(im, (int)c->x, (int)c->y, (int)c->width, (int)c->height, out + (size_t)got * per,
                                   side) != FID_OK)
                break;
            got++;
        }
    }
    fid_image_free(im);
    if (!out || got < want) {
        free(out);
        return NULL;
    }
    normalise(out, (size_t)got * per, norm);
    *n = got;
    return out;
}
