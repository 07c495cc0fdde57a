/*
 * Face detectors behind one interface. SSD-MobileNet-v1 and the Tiny Face Detector follow
 * face-api's pre- and post-processing step for step (ssdMobilenetv1/SsdMobilenetv1.ts,
 * tinyYolov2/TinyYolov2Base.ts), so boxes match face-api's on the same pixels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/detector.h"
#include "face/calibration.h"
#include "nn/net.h"
#include "image/image.h"
#include "util/error.h"

/* Every detector kind: adding one is a file in src/face/detectors/ and a row here. */
static const fid__detector_kind *const kinds[] = {
    [FID_DETECTOR_SSD_MOBILENETV1] = &fid__detector_ssd,
    [FID_DETECTOR_TINY_FACE] = &fid__detector_tiny,
    [FID_DETECTOR_BLAZEFACE] = &fid__detector_blazeface,
    [FID_DETECTOR_HAAR] = &fid__detector_haar,
};
enum { N_KINDS = sizeof kinds / sizeof kinds[0] };

static const fid__detector_kind *test_kind; /* tests: a fake detector behind FID__DETECTOR_TEST */

void fid__detector_set_test_kind(const fid__detector_kind *kind) { test_kind = kind; }

static const fid__detector_kind *kind_of(fid_detector_kind kind) {
    if ((int)kind == FID__DETECTOR_TEST) return test_kind;
    return (unsigned)kind < N_KINDS ? kinds[kind] : NULL;
}

const char *fid_detector_kind_name(fid_detector_kind kind) {
    const fid__detector_kind *k = kind_of(kind);
    return k ? k->name : NULL;
}

fid_status fid_detector_kind_from_name(const char *name, fid_detector_kind *kind) {
    for (int i = 0; name && kind && i < N_KINDS; i++)
        if (kinds[i] && !strcmp(name, kinds[i]->name)) {
            *kind = kinds[i]->kind;
            return FID_OK;
        }
    return fid__fail(FID_ERR_INVALID_ARGUMENT, "unknown detector '%.40s' (ssd, tiny, blazeface or haar)",
                     name ? name : "(null)");
}

fid_detector_params fid_detector_default_params(fid_detector_kind kind) {
    const fid__detector_kind *k = kind_of(kind);
    fid_detector_params p = {.kind = kind,
                             .score_threshold = 0.5f,
                             .iou_threshold = k ? k->iou_threshold : 0.5f,
                             .max_faces = 100,
                             .min_face_size = k ? k->min_face_size : 0,
                             .input_size = 416,
                             .threads = 1,
                             .precision = FID_PRECISION_AUTO,
                             .tile_face = k ? k->tile_face : 0};
    return p;
}

/* Whole scenes with faces at the net's input side, as the kind feeds its net (ctx: the kind). */
static float *scene_calibration(const fid_net *net, const void *ctx, int *n) {
    const fid__detector_kind *k = ctx;
    int64_t d[4];
    if (fid_net_input_shape(net, 0, d) != 4 || d[1] != d[2] || d[3] != 3 || k->pixel_scale == 0) return *n = 0, NULL;
    float mean = -k->pixel_offset / k->pixel_scale;
    fid__input_norm norm = {{mean, mean, mean}, k->pixel_scale, 0};
    return fid__calibration_inputs((int)d[1], &norm, 1, 2, n);
}

fid_precision fid_detector_precision(const fid_detector *d, const char **note) {
    if (d && !d->runner) {
        if (note) *note = "fp32: no network";
        return FID_PRECISION_FP32;
    }
    return fid_runner_precision(d ? d->runner : NULL, note);
}

fid_detector *fid_detector_create(const fid_detector_params *params, fid_status *status) {
    fid_detector_params p = params ? *params : fid_detector_default_params(FID_DETECTOR_SSD_MOBILENETV1);
    const fid__detector_kind *k = kind_of(p.kind);
    if (!k) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "unknown detector kind %d", (int)p.kind));
        return NULL;
    }
    if (k->model && !k->input_side && (p.input_size < 32 || p.input_size > 1024 || p.input_size % 32)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "%s detector input size %d: need a multiple of 32 in 32..1024", k->name,
                                          p.input_size));
        return NULL;
    }
    if (p.max_faces < 1 || p.threads < 1 || !(p.score_threshold >= 0 && p.score_threshold <= 1) ||
        !(p.iou_threshold >= 0 && p.iou_threshold <= 1) || p.min_face_size < 0 || p.tile_face < 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "detector parameters out of range"));
        return NULL;
    }
    fid_detector *d = calloc(1, sizeof *d);
    if (!d) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a detector"));
        return NULL;
    }
    d->p = p;
    d->kind = k;
    d->input_size = k->input_side ? k->input_side : p.input_size;
    fid_status st;
    if (!k->model) {
        if ((st = k->load(d)) != FID_OK) {
            fid_detector_free(d);
            fid__set_status(status, st);
            return NULL;
        }
        fid__set_status(status, FID_OK);
        return d;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", fid_model_dir(), k->model);
    /* a fully convolutional net takes the input side asked for */
    /* AUTO keeps detectors exact: the box feeds every later step's crop, and BlazeFace in bf16
     * (raw outputs at cosine 0.99996, inside the gate) moved boxes enough to change identification
     * distances by up to 0.044 on the bbt photos and to name two faces differently; the landmark
     * and descriptor nets in bf16 changed no answer. A forced precision applies. */
    fid__precision_policy policy = {
        .precision = p.precision,
        .keep_exact = "fp32: auto keeps detectors exact (bf16 boxes moved identification distances)",
        .calibration = scene_calibration,
        .ctx = k};
    d->runner = fid__load_private_runner(path, k->input_side ? 0 : d->input_size, p.threads, &policy, &d->net, &st);
    if (!d->runner) {
        fid_detector_free(d);
        fid__set_status(status, st);
        return NULL;
    }
    fid__set_status(status, FID_OK);
    return d;
}

void fid_detector_free(fid_detector *d) {
    if (!d) return;
    fid_image_free(d->tile);
    free(d->found);
    fid_runner_free(d->runner);
    fid_net_free(d->net);
    if (d->kind && d->kind->unload) d->kind->unload(d);
    free(d);
}

static double iou_relative(const fid__candidate *a, const fid__candidate *b) {
    double ai = (a->bottom - a->top) * (a->right - a->left), bi = (b->bottom - b->top) * (b->right - b->left);
    if (ai <= 0 || bi <= 0) return 0;
    double w = fmin(a->right, b->right) - fmax(a->left, b->left), h = fmin(a->bottom, b->bottom) - fmax(a->top, b->top);
    double inter = fmax(w, 0) * fmax(h, 0);
    return inter / (ai + bi - inter);
}

static int by_score_desc(const void *a, const void *b) {
    const fid__candidate *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index - y->index;
}

/* Share of the smaller box that lies in the larger. */
static double inside_relative(const fid__candidate *a, const fid__candidate *b) {
    double ai = (a->bottom - a->top) * (a->right - a->left), bi = (b->bottom - b->top) * (b->right - b->left);
    double w = fmin(a->right, b->right) - fmax(a->left, b->left), h = fmin(a->bottom, b->bottom) - fmax(a->top, b->top);
    double small = fmin(ai, bi);
    return small > 0 ? fmax(w, 0) * fmax(h, 0) / small : 0;
}

int fid__suppress(fid__candidate *c, int n, double iou_threshold, int max_keep, int nested) {
    if (n > 1) qsort(c, (size_t)n, sizeof *c, by_score_desc);
    int kept = 0;
    for (int i = 0; i < n && kept < max_keep; i++) {
        int ok = 1;
        for (int j = 0; j < kept && ok; j++)
            if (iou_relative(&c[i], &c[j]) > iou_threshold || (nested && inside_relative(&c[i], &c[j]) > 0.6)) ok = 0;
        if (ok) c[kept++] = c[i];
    }
    return kept;
}

double fid__sigmoid(double x) { return 1 / (1 + exp(-x)); }

static int keep_found(fid_detector *d, int more) {
    if (d->n_found + more <= d->cap_found) return 0;
    int cap = (d->n_found + more) * 2;
    fid_detection *grown = realloc(d->found, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    d->found = grown, d->cap_found = cap;
    return 0;
}

int fid__detector_keep(fid_detector *d, const fid_detection *det) {
    if (!(det->box.width > 0 && det->box.height > 0)) return 0;
    if (keep_found(d, 1)) return -1;
    d->found[d->n_found++] = *det;
    return 1;
}

/* One run of the detector over `im` (the frame or a tile of it): appends its detections, in im's
 * pixels, best score first, up to max_faces, to d->found; returns how many (-1 on failure). */
static int detect_pass(fid_detector *d, const fid_image *im, fid_status *status) {
    if (d->kind->pass) return d->kind->pass(d, im, status);
    /* face-api's toBatchTensor(inputSize, false): pad below/right to a square, resize */
    fid__square_resize(im, fid_runner_input(d->runner, 0, NULL), d->input_size, d->kind->pixel_scale,
                       d->kind->pixel_offset, d->p.threads);
    fid_status st = fid_runner_run(d->runner);
    if (st != FID_OK) {
        fid__set_status(status, st);
        return -1;
    }
    int first = d->n_found, found = d->kind->decode(d, im);
    if (found < 0) {
        d->n_found = first;
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s detector: cannot decode its outputs", d->kind->name));
        return -1;
    }
    fid__set_status(status, FID_OK);
    return found;
}

int fid_detector_tiles(const fid_detector *d, int width, int height, fid_box *tiles, int capacity) {
    if (!d || width < 1 || height < 1 || !d->runner || d->p.tile_face <= 0) return 0;
    double m = d->kind->smallest_face, S = d->input_size, big = width > height ? width : height;
    double face = d->p.tile_face > big / 80 ? d->p.tile_face : big / 80;
    double need = m / face, whole = S / big; /* network pixels per image pixel */
    /* A pyramid: scales halving from `need` down to the whole frame's. A face too small for one
     * level is big enough for the next finer one, where it lies whole inside some tile because
     * the tiles overlap by the largest face the coarser level misses. */
    double scales[16];
    int levels = 0;
    for (double sc = need; sc > whole * 1.25 && levels < 16; sc /= 2)
        scales[levels++] = sc;
    int n = 0;
    for (int l = levels - 1; l >= 0; l--) {
        double coarser = l + 1 < levels ? scales[l + 1] : whole;
        int side = (int)(S / scales[l]);
        int overlap = (int)ceil(1.15 * m / coarser);
        if (overlap > side / 2) overlap = side / 2;
        int tw = side < width ? side : width, th = side < height ? side : height;
        int nx = width <= tw ? 1 : (int)ceil((double)(width - overlap) / (tw - overlap));
        int ny = height <= th ? 1 : (int)ceil((double)(height - overlap) / (th - overlap));
        for (int y = 0; y < ny; y++)
            for (int x = 0; x < nx; x++) {
                if (n < capacity) {
                    int x0 = nx > 1 ? (int)lround((double)x * (width - tw) / (nx - 1)) : 0;
                    int y0 = ny > 1 ? (int)lround((double)y * (height - th) / (ny - 1)) : 0;
                    tiles[n] = (fid_box){(float)x0, (float)y0, (float)tw, (float)th};
                }
                n++;
            }
    }
    return n;
}

/* A detection in a region's pixels moved into the pixels of the image the region was cut from. */
static fid_detection shifted(fid_detection det, float dx, float dy) {
    det.box.x += dx, det.box.y += dy;
    for (int k = 0; k < det.n_keypoints; k++)
        det.keypoints[k].x += dx, det.keypoints[k].y += dy;
    return det;
}

/* Runs the detector on tile t of im; appends its detections (in frame pixels) that do not touch
 * a cut edge of the tile: a face cut by the tile's border lies whole in its neighbour. */
static fid_status scan_tile(fid_detector *d, const fid_image *im, fid_box t) {
    int x0 = (int)t.x, y0 = (int)t.y, w = (int)t.width, h = (int)t.height;
    if (!(d->tile = fid__image_cut(d->tile, im, x0, y0, w, h)))
        return fid__fail(FID_ERR_NO_MEMORY, "detector: cannot allocate a %dx%d tile", w, h);
    fid_status st;
    int first = d->n_found, n = detect_pass(d, d->tile, &st);
    if (n < 0) return st;
    d->n_found = first;
    const float edge = 2;
    for (int i = 0; i < n; i++) {
        fid_detection det = d->found[first + i];
        fid_box b = det.box;
        if ((x0 > 0 && b.x < edge) || (y0 > 0 && b.y < edge) || (x0 + w < im->width && b.x + b.width > w - edge) ||
            (y0 + h < im->height && b.y + b.height > h - edge))
            continue;
        d->found[d->n_found++] = shifted(det, (float)x0, (float)y0);
    }
    return FID_OK;
}

/* Followed small faces, several in one pass: each gets a cell of a 2x2 mosaic filling the network
 * input, holding the image around it (2.4 times its size, bilinear), so the face is 53 px tall in
 * BlazeFace's input (it finds 24) with room to have moved since the box was taken (a file's
 * frames are detected ahead of tracking). One pass follows up to 4 small faces, where a tile each
 * cost a pass per face. Measured on moving faces in `make eval`'s 1080p clips (frames where a
 * walking person was detected): 3x3 cells with 1.6 times the face 523 and 406 of 804 and 857,
 * 2x2 with 2.4 times 638 and 424; larger regions at 3x3 shrank the face and lost more. Finds
 * touching a cell's edge are dropped: another cell's or a later frame's. */
enum { MOSAIC = 2 };

static fid_status scan_mosaic(fid_detector *d, const fid_image *im, const fid_box *faces, int n) {
    int S = d->input_size, C = S / MOSAIC;
    if (!d->tile || d->tile->width != S || d->tile->height != S) {
        fid_image_free(d->tile);
        if (!(d->tile = fid__image_new(S, S))) return fid__fail(FID_ERR_NO_MEMORY, "detector: out of memory");
    }
    memset(d->tile->rgb, 128, (size_t)S * S * 3);
    double rx[MOSAIC * MOSAIC], ry[MOSAIC * MOSAIC], rs[MOSAIC * MOSAIC]; /* region origin, px per cell px */
    for (int c = 0; c < n; c++) {
        fid_box f = faces[c];
        double side = 2.4 * (f.width > f.height ? f.width : f.height);
        rx[c] = f.x + f.width / 2 - side / 2, ry[c] = f.y + f.height / 2 - side / 2, rs[c] = side / C;
        int ox = (c % MOSAIC) * C, oy = (c / MOSAIC) * C;
        for (int y = 0; y < C; y++) {
            double sy = ry[c] + (y + 0.5) * rs[c] - 0.5;
            int y0 = (int)floor(sy);
            double wy = sy - y0;
            if (y0 < 0 || y0 + 1 >= im->height) continue; /* outside the frame: grey */
            uint8_t *dst = d->tile->rgb + ((size_t)(oy + y) * S + ox) * 3;
            for (int x = 0; x < C; x++) {
                double sx = rx[c] + (x + 0.5) * rs[c] - 0.5;
                int x0 = (int)floor(sx);
                double wx = sx - x0;
                if (x0 < 0 || x0 + 1 >= im->width) continue;
                const uint8_t *a = im->rgb + ((size_t)y0 * im->width + x0) * 3, *b = a + (size_t)im->width * 3;
                for (int k = 0; k < 3; k++)
                    dst[x * 3 + k] = (uint8_t)((a[k] * (1 - wx) + a[3 + k] * wx) * (1 - wy) +
                                               (b[k] * (1 - wx) + b[3 + k] * wx) * wy + 0.5);
            }
        }
    }
    fid_status st;
    int first = d->n_found, found = detect_pass(d, d->tile, &st);
    if (found < 0) return st;
    d->n_found = first;
    for (int i = 0; i < found; i++) {
        fid_detection det = d->found[first + i];
        fid_box b = det.box;
        int c = (int)((b.y + b.height / 2) / C) * MOSAIC + (int)((b.x + b.width / 2) / C);
        if (c < 0 || c >= n) continue;
        double ox = (c % MOSAIC) * C, oy = (c / MOSAIC) * C;
        if (b.x < ox + 1 || b.y < oy + 1 || b.x + b.width > ox + C - 1 || b.y + b.height > oy + C - 1) continue;
        det.box = (fid_box){(float)(rx[c] + (b.x - ox) * rs[c]), (float)(ry[c] + (b.y - oy) * rs[c]),
                            (float)(b.width * rs[c]), (float)(b.height * rs[c])};
        for (int k = 0; k < det.n_keypoints; k++)
            det.keypoints[k] = (fid_point){(float)(rx[c] + (det.keypoints[k].x - ox) * rs[c]),
                                           (float)(ry[c] + (det.keypoints[k].y - oy) * rs[c])};
        d->found[d->n_found++] = det;
    }
    return FID_OK;
}

static double box_iou(fid_box a, fid_box b) {
    double w = fmin(a.x + a.width, b.x + b.width) - fmax(a.x, b.x);
    double h = fmin(a.y + a.height, b.y + b.height) - fmax(a.y, b.y);
    if (w <= 0 || h <= 0) return 0;
    double inter = w * h;
    return inter / ((double)a.width * a.height + (double)b.width * b.height - inter);
}

static double box_inside(fid_box a, fid_box b) { /* share of the smaller box inside the other */
    double w = fmin(a.x + a.width, b.x + b.width) - fmax(a.x, b.x);
    double h = fmin(a.y + a.height, b.y + b.height) - fmax(a.y, b.y);
    double small = fmin((double)a.width * a.height, (double)b.width * b.height);
    return w > 0 && h > 0 && small > 0 ? w * h / small : 0;
}

static int by_detection_score(const void *a, const void *b) {
    const fid_detection *x = a, *y = b;
    return (x->score < y->score) - (x->score > y->score);
}

/* Tiles show the network clutter at a zoom it was not trained on (a glass, a badge, a chair
 * back): on the sample photos BlazeFace's tiles added 3-6 such boxes per photo at scores 0.5-0.84.
 * A detection below verify_below, once tiles were scanned, is looked at again framed as a face
 * would be (2.5x its box, a small face seen at twice the smallest size the network finds): a face
 * is found again, clutter mostly not. On `make eval`'s scenes: false positives 39 -> 13, recall of
 * faces >= 24 px 95.9% -> 94.4% (at the 20 px tile scale of the time). */
static const float verify_below = 0.95f;
/* Faces below twice tile_face are not looked at again: at 24-32 px a second look lost a quarter of
 * the real faces (too little of a face to find twice), and clutter boxes are rarely that small. */
static const float verify_from = 2.0f;

static int confirmed(fid_detector *d, const fid_image *im, fid_detection det, fid_status *status) {
    fid_box b = det.box;
    /* a small face is not blown up past twice the smallest the network finds: upscaled faces blur */
    float longer = b.width > b.height ? b.width : b.height;
    int side = (int)fmax(2.5 * longer, longer * d->input_size / (2 * d->kind->smallest_face));
    if (side < 16) side = 16;
    int x0 = (int)(b.x + b.width / 2 - side / 2), y0 = (int)(b.y + b.height / 2 - side / 2);
    if (!(d->tile = fid__image_cut(d->tile, im, x0, y0, side, side))) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "detector: out of memory"));
        return -1;
    }
    int first = d->n_found, n = detect_pass(d, d->tile, status), ok = 0;
    if (n < 0) return -1;
    for (int i = 0; i < n && !ok; i++) {
        fid_box again = d->found[first + i].box;
        again.x += x0, again.y += y0;
        ok = box_iou(again, b) > 0.4;
    }
    d->n_found = first;
    return ok;
}

/* Scans the whole frame, then the `small` followed faces the whole frame missed (mosaics), then
 * the tiles `which` selects (all with NULL); merges the passes with NMS, looks again at uncertain
 * finds that are not `follow`ed faces, and hands out what passes min_face_size. */
static int run_scan(fid_detector *d, const fid_image *im, const fid_box *tiles, int n_tiles, const uint8_t *which,
                    const fid_box *small, int n_small, const fid_box *follow, int n_follow, const fid_box *refused,
                    int n_refused, fid_detection *out, int capacity, fid_status *status) {
    d->n_found = 0, d->n_refused = 0;
    fid_status st;
    if (detect_pass(d, im, &st) < 0) {
        fid__set_status(status, st);
        return -1;
    }
    int scanned = 0, n_whole = d->n_found;
    /* followed faces the whole-frame pass found again need no mosaic (640x480: 78 -> 100+ frames/s) */
    fid_box lost[MOSAIC * MOSAIC * 16];
    int n_lost = 0;
    for (int k = 0; k < n_small && n_lost < (int)(sizeof lost / sizeof lost[0]); k++) {
        int again = 0;
        for (int j = 0; j < n_whole && !again; j++)
            again = box_iou(small[k], d->found[j].box) > 0.3;
        if (!again) lost[n_lost++] = small[k];
    }
    for (int k = 0; k < n_lost; k += MOSAIC * MOSAIC, scanned++)
        if ((st = scan_mosaic(d, im, lost + k, n_lost - k < MOSAIC * MOSAIC ? n_lost - k : MOSAIC * MOSAIC)) !=
            FID_OK) {
            fid__set_status(status, st);
            return -1;
        }
    for (int t = 0; t < n_tiles; t++) {
        if (which && !which[t]) continue;
        if ((st = scan_tile(d, im, tiles[t])) != FID_OK) {
            fid__set_status(status, st);
            return -1;
        }
        scanned++;
    }
    int n = d->n_found;
    if (scanned) { /* the same face from the frame and from one or two tiles: the best box stays */
        if (n > 1) qsort(d->found, (size_t)n, sizeof *d->found, by_detection_score);
        int kept = 0;
        for (int i = 0; i < n && kept < d->p.max_faces; i++) {
            int ok = 1;
            for (int j = 0; j < kept && ok; j++)
                if (box_iou(d->found[i].box, d->found[j].box) > d->p.iou_threshold ||
                    box_inside(d->found[i].box, d->found[j].box) > 0.6)
                    ok = 0;
            if (ok) d->found[kept++] = d->found[i];
        }
        n = kept;
        kept = 0;
        for (int i = 0; i < n; i++) {
            fid_box b = d->found[i].box;
            int followed = 0; /* a followed face was looked at again when it was first found */
            for (int k = 0; k < n_follow && !followed; k++)
                followed = box_iou(b, follow[k]) > 0.3;
            int sure = followed || d->found[i].score >= verify_below || b.height < verify_from * d->p.tile_face;
            int again = 0; /* refused before, and nothing there changed since */
            for (int k = 0; k < n_refused && !sure && !again; k++)
                again = box_iou(b, refused[k]) > 0.5;
            int ok = sure ? 1 : again ? 0 : confirmed(d, im, d->found[i], status);
            if (ok < 0) return -1;
            if (ok)
                d->found[kept++] = d->found[i];
            else if (d->n_refused < FID__MAX_REFUSED)
                d->refused[d->n_refused++] = b;
        }
        n = kept;
    }
    /* With tiles, boxes well below the smallest face they look for are noise (10-19 px boxes on
     * the sample photos' clutter, which then got names) */
    double floor_px = scanned ? 0.75 * d->p.tile_face : 0;
    int found = 0; /* d->found keeps the answer too */
    for (int i = 0; i < n; i++) {
        fid_box b = d->found[i].box;
        if ((b.width < b.height ? b.width : b.height) < d->p.min_face_size || b.height < floor_px) continue;
        d->found[found] = d->found[i];
        if (found < capacity) out[found] = d->found[i];
        found++;
    }
    d->n_found = found;
    fid__set_status(status, FID_OK);
    return found;
}

int fid_detector_run(fid_detector *d, const fid_image *im, fid_detection *out, int capacity, fid_status *status) {
    if (!d || !im || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_detector_run: NULL argument"));
        return -1;
    }
    fid_box tiles[FID__MAX_TILES];
    int n = fid_detector_tiles(d, im->width, im->height, tiles, FID__MAX_TILES);
    int found = run_scan(d, im, tiles, n < FID__MAX_TILES ? n : FID__MAX_TILES, NULL, NULL, 0, NULL, 0, NULL, 0, out,
                         capacity, status);
    if (found != 0 || !d->runner) return found;
    /* Nothing: perhaps a face that fills the picture (an ID photo, a face crop), which the
     * networks were not trained to see without surroundings (face-api's SSD finds 6 of the 40
     * bbt crops). Again with a grey border of a quarter of the longer side on every side. */
    int pad = (im->width > im->height ? im->width : im->height) / 4, W = im->width + 2 * pad, H = im->height + 2 * pad;
    fid_image *framed = fid__image_cut(NULL, im, -pad, -pad, W, H);
    if (!framed) { /* too large to pad: what was found (nothing) stands */
        fid__set_status(status, FID_OK);
        return 0;
    }
    n = fid_detector_tiles(d, W, H, tiles, FID__MAX_TILES);
    int all = run_scan(d, framed, tiles, n < FID__MAX_TILES ? n : FID__MAX_TILES, NULL, NULL, 0, NULL, 0, NULL, 0, NULL,
                       0, status);
    fid_image_free(framed);
    if (all < 0) return -1;
    for (int i = 0; i < all; i++) {
        fid_detection det = d->found[i];
        float cx = det.box.x + det.box.width / 2 - pad, cy = det.box.y + det.box.height / 2 - pad;
        if (cx < 0 || cy < 0 || cx >= im->width || cy >= im->height) continue; /* a face in the border? */
        if (found < capacity) out[found] = shifted(det, (float)-pad, (float)-pad);
        found++;
    }
    return found;
}

int fid__detector_needs_mosaic(const fid_detector *d, int width, int height, fid_box face) {
    double whole = (double)d->input_size / (width > height ? width : height);
    return face.height * whole < 1.3 * d->kind->smallest_face && face.width > 0 && face.height > 0;
}

int fid_detector_run_video(fid_detector *d, const fid_image *im, int64_t frame, int period, const fid_box *follow,
                           int n_follow, fid_detection *out, int capacity, fid_status *status) {
    if (!d || !im || (capacity > 0 && !out) || (n_follow > 0 && !follow) || frame < 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_detector_run_video: bad argument"));
        return -1;
    }
    fid_box tiles[FID__MAX_TILES];
    uint8_t which[FID__MAX_TILES];
    int n = fid_detector_tiles(d, im->width, im->height, tiles, FID__MAX_TILES);
    if (n > FID__MAX_TILES) n = FID__MAX_TILES;
    if (period < 1) period = 1;
    for (int t = 0; t < n; t++)
        which[t] = t % period == frame % period;
    /* followed faces too small for the whole-frame pass are looked for every frame, in mosaics */
    fid_box small[FID__MAX_TILES];
    int n_small = 0;
    for (int k = 0; k < n_follow && n_small < FID__MAX_TILES; k++)
        if (fid__detector_needs_mosaic(d, im->width, im->height, follow[k])) small[n_small++] = follow[k];
    return run_scan(d, im, tiles, n, which, small, n_small, follow, n_follow, NULL, 0, out, capacity, status);
}

int fid__detector_run_plan(fid_detector *d, const fid_image *im, const fid__scan_plan *plan, fid_detection *out,
                           int capacity, fid_status *status) {
    if (!d || !im || !plan || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid__detector_run_plan: bad argument"));
        return -1;
    }
    fid_box tiles[FID__MAX_TILES];
    int n = fid_detector_tiles(d, im->width, im->height, tiles, FID__MAX_TILES);
    if (n > FID__MAX_TILES) n = FID__MAX_TILES;
    if (!plan->tiles || plan->n_tiles != n) n = 0; /* a plan for another size scans no tile */
    return run_scan(d, im, tiles, n, plan->tiles, plan->small, plan->n_small, plan->follow, plan->n_follow,
                    plan->refused, plan->n_refused, out, capacity, status);
}
