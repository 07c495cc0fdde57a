/*
 * Face detectors behind one interface. SSD-MobileNet-v1 and the Tiny Face Detector follow
 * face-api's pre- and post-processing step for step (ssdMobilenetv1/SsdMobilenetv1.ts,
 * tinyYolov2/TinyYolov2Base.ts), so boxes match face-api's on the same pixels.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/haar.h"
#include "face/ssd.h"
#include "nn/net.h"
#include "image/image.h"
#include "util/error.h"

struct fid_detector {
    fid_detector_params p;
    fid__haar *haar;
    fid_net *net;
    fid_runner *runner;
    int input_size;
    fid_image *tile;      /* reused copy of the tile being scanned */
    fid_detection *found; /* every pass's detections before the merge */
    int n_found, cap_found;
};

typedef struct candidate {
    double left, top, right, bottom; /* relative to the network input */
    double score;
    int index;
} candidate;

fid_detector_params fid_detector_default_params(fid_detector_kind kind) {
    fid_detector_params p = {.kind = kind,
                             .score_threshold = 0.5f,
                             .iou_threshold = kind == FID_DETECTOR_TINY_FACE   ? 0.4f
                                              : kind == FID_DETECTOR_BLAZEFACE ? 0.3f
                                                                               : 0.5f,
                             .max_faces = 100,
                             .min_face_size = kind == FID_DETECTOR_HAAR ? 64 : 0,
                             .input_size = 416,
                             .threads = 1,
                             .tile_face = kind == FID_DETECTOR_HAAR ? 0 : 24};
    return p;
}

fid_detector *fid_detector_create(const fid_detector_params *params, fid_status *status) {
    fid_detector_params p = params ? *params : fid_detector_default_params(FID_DETECTOR_SSD_MOBILENETV1);
    const char *file;
    switch (p.kind) {
    case FID_DETECTOR_SSD_MOBILENETV1: file = "face-api/ssd_mobilenetv1_model-weights_manifest.json"; break;
    case FID_DETECTOR_TINY_FACE: file = "face-api/tiny_face_detector_model-weights_manifest.json"; break;
    case FID_DETECTOR_BLAZEFACE: file = "human/blazeface.json"; break;
    case FID_DETECTOR_HAAR: file = NULL; break;
    default:
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "unknown detector kind %d", (int)p.kind));
        return NULL;
    }
    if (p.kind == FID_DETECTOR_TINY_FACE && (p.input_size < 32 || p.input_size > 1024 || p.input_size % 32)) {
        fid__set_status(status,
                        fid__fail(FID_ERR_INVALID_ARGUMENT,
                                  "tiny face detector input size %d: need a multiple of 32 in 32..1024", p.input_size));
        return NULL;
    }
    if (p.max_faces < 1 || p.threads < 1 || !(p.score_threshold >= 0 && p.score_threshold <= 1) ||
        !(p.iou_threshold >= 0 && p.iou_threshold <= 1)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "detector parameters out of range"));
        return NULL;
    }
    fid_detector *d = calloc(1, sizeof *d);
    if (!d) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a detector"));
        return NULL;
    }
    d->p = p;
    d->input_size = p.kind == FID_DETECTOR_SSD_MOBILENETV1 ? 512
                    : p.kind == FID_DETECTOR_BLAZEFACE     ? 256
                                                           : p.input_size;
    char path[4096];
    fid_status st;
    if (!file) { /* Haar: Debian's opencv-data, or $FID_HAAR_CASCADE */
        const char *env = getenv("FID_HAAR_CASCADE");
        snprintf(path, sizeof path, "%s", env && *env ? env : FID_HAAR_DIR "/haarcascade_frontalface_alt.xml");
        d->haar = fid__haar_load(path, &st);
        if (!d->haar) {
            fid_detector_free(d);
            fid__set_status(status, st);
            return NULL;
        }
        fid__set_status(status, FID_OK);
        return d;
    }
    snprintf(path, sizeof path, "%s/%s", fid_model_dir(), file);
    /* The tiny detector is fully convolutional: its input size is a free choice. */
    d->runner =
        fid__load_private_runner(path, p.kind == FID_DETECTOR_TINY_FACE ? d->input_size : 0, p.threads, &d->net, &st);
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
    fid__haar_free(d->haar);
    free(d);
}

/* toBatchTensor(inputSize, false): pad below/right to a square, resize to the input size. */
static fid_status fill_input(fid_detector *d, const fid_image *im) {
    /* human scales BlazeFace's input to -1..1 outside the graph */
    int blaze = d->p.kind == FID_DETECTOR_BLAZEFACE;
    fid__square_resize(im, fid_runner_input(d->runner, 0, NULL), d->input_size, blaze ? 1 / 127.5f : 1, blaze ? -1 : 0,
                       d->p.threads);
    return FID_OK;
}

static double iou_relative(const candidate *a, const candidate *b) {
    double ai = (a->bottom - a->top) * (a->right - a->left), bi = (b->bottom - b->top) * (b->right - b->left);
    if (ai <= 0 || bi <= 0) return 0;
    double w = fmin(a->right, b->right) - fmax(a->left, b->left), h = fmin(a->bottom, b->bottom) - fmax(a->top, b->top);
    double inter = fmax(w, 0) * fmax(h, 0);
    return inter / (ai + bi - inter);
}

static int by_score_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->index - y->index;
}

/* Greedy non-maximum suppression over candidates sorted by score; keeps at most max_keep. */
/* Share of the smaller box that lies in the larger. */
static double inside_relative(const candidate *a, const candidate *b) {
    double ai = (a->bottom - a->top) * (a->right - a->left), bi = (b->bottom - b->top) * (b->right - b->left);
    double w = fmin(a->right, b->right) - fmax(a->left, b->left), h = fmin(a->bottom, b->bottom) - fmax(a->top, b->top);
    double small = fmin(ai, bi);
    return small > 0 ? fmax(w, 0) * fmax(h, 0) / small : 0;
}

/* Greedy non-maximum suppression over candidates sorted by score; keeps at most max_keep. With
 * `nested`, a box lying mostly (> 60%) inside a better one also goes: BlazeFace on a face that
 * fills the picture also reports its eyes-and-nose and half-face parts (3 boxes on a bbt crop,
 * which plain IoU keeps since their areas differ). */
static int suppress(candidate *c, int n, double iou_threshold, int max_keep, int nested) {
    qsort(c, (size_t)n, sizeof *c, by_score_desc);
    int kept = 0;
    for (int i = 0; i < n && kept < max_keep; i++) {
        int ok = 1;
        for (int j = 0; j < kept && ok; j++)
            if (iou_relative(&c[i], &c[j]) > iou_threshold || (nested && inside_relative(&c[i], &c[j]) > 0.6)) ok = 0;
        if (ok) c[kept++] = c[i];
    }
    return kept;
}

static int ssd_candidates(fid_detector *d, candidate **out) {
    int64_t dims[4];
    int rank;
    const float *enc = NULL, *cls = NULL, *anchors = NULL;
    int64_t n = 0;
    for (int i = 0; i < fid_net_output_count(d->net); i++) {
        const float *p = fid_runner_output(d->runner, i, dims, &rank);
        const char *name = fid_net_output_name(d->net, i);
        if (!strcmp(name, "box_encodings"))
            enc = p, n = dims[1];
        else if (!strcmp(name, "class_predictions"))
            cls = p;
        else if (!strcmp(name, "anchors"))
            anchors = p;
    }
    float *boxes = malloc((size_t)n * 4 * sizeof *boxes), *scores = malloc((size_t)n * sizeof *scores);
    candidate *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    if (!boxes || !scores || !c || !enc || !cls || !anchors) {
        free(boxes), free(scores), free(c);
        return -1;
    }
    fid__ssd_decode(enc, cls, anchors, n, boxes, scores);
    int count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(scores[i] > d->p.score_threshold)) continue;
        const float *b = boxes + 4 * i; /* top, left, bottom, right; ssd's IoU takes min/max */
        c[count++] = (candidate){.top = fmin(b[0], b[2]),
                                 .left = fmin(b[1], b[3]),
                                 .bottom = fmax(b[0], b[2]),
                                 .right = fmax(b[1], b[3]),
                                 .score = scores[i],
                                 .index = (int)i};
    }
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces, 0);
    /* face-api clips with the raw (unsorted) corners: keep those for the output. */
    for (int i = 0; i < count; i++) {
        const float *b = boxes + 4 * c[i].index;
        c[i].top = fmax(0, b[0]), c[i].bottom = fmin(1.0, b[2]);
        c[i].left = fmax(0, b[1]), c[i].right = fmin(1.0, b[3]);
    }
    free(boxes);
    free(scores);
    *out = c;
    return count;
}

static const double tiny_anchors[5][2] = {
    {1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061}, {4.266906, 5.178857}, {9.041765, 10.66308}};

static double sigmoid(double x) { return 1 / (1 + exp(-x)); }

/* extractBoxes: a 13x13 (for 416) grid of 5 anchors x (x, y, w, h, score). Boxes are relative
 * to the padded input square. */
static int tiny_candidates(fid_detector *d, const fid_image *im, candidate **out) {
    int64_t dims[4];
    int rank;
    const float *grid = fid_runner_output(d->runner, 0, dims, &rank);
    int m = (int)dims[1];
    candidate *c = malloc((size_t)m * m * 5 * sizeof *c);
    if (!c) return -1;
    double scale = (double)d->input_size / (im->width > im->height ? im->width : im->height);
    double rw = floor(im->width * scale + 0.5), rh = floor(im->height * scale + 0.5);
    double side = rw > rh ? rw : rh, sx = side / rw, sy = side / rh;
    int count = 0;
    for (int row = 0; row < m; row++)
        for (int col = 0; col < m; col++)
            for (int a = 0; a < 5; a++) {
                const float *v = grid + ((size_t)(row * m + col) * 5 + a) * 5;
                double score = sigmoid(v[4]);
                if (!(score > d->p.score_threshold)) continue;
                double cx = (col + sigmoid(v[0])) / m * sx, cy = (row + sigmoid(v[1])) / m * sy;
                double w = exp(v[2]) * tiny_anchors[a][0] / m * sx, h = exp(v[3]) * tiny_anchors[a][1] / m * sy;
                double left = cx - w / 2, top = cy - h / 2;
                c[count] = (candidate){
                    .left = left, .top = top, .right = left + w, .bottom = top + h, .score = score, .index = count};
                count++;
            }
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces, 0);
    *out = c;
    return count;
}

/* BlazeFace (human's face/blazeface.ts): 16x16x2 anchors at stride 16, then 8x8x6 at stride 32;
 * per anchor a logit, a box (dx, dy, w, h) and 6 keypoints (dx, dy), in input pixels. */
static int blaze_candidates(fid_detector *d, candidate **out, float **keypoints) {
    const float *logits[2] = {NULL, NULL}, *regs[2] = {NULL, NULL};
    int64_t dims[4];
    int rank;
    for (int i = 0; i < fid_net_output_count(d->net); i++) {
        const float *p = fid_runner_output(d->runner, i, dims, &rank);
        if (rank != 3) return -1;
        int which = dims[1] == 512 ? 0 : dims[1] == 384 ? 1 : -1;
        if (which < 0) return -1;
        if (dims[2] == 1)
            logits[which] = p;
        else if (dims[2] == 16)
            regs[which] = p;
    }
    if (!logits[0] || !logits[1] || !regs[0] || !regs[1]) return -1;
    candidate *c = malloc(896 * sizeof *c);
    float *kp = malloc(896 * 12 * sizeof *kp);
    if (!c || !kp) {
        free(c), free(kp);
        return -1;
    }
    double S = d->input_size;
    int count = 0;
    for (int level = 0; level < 2; level++) {
        int stride = level ? 32 : 16, per = level ? 6 : 2, grid = (int)S / stride;
        for (int gy = 0; gy < grid; gy++)
            for (int gx = 0; gx < grid; gx++)
                for (int a = 0; a < per; a++) {
                    int row = (gy * grid + gx) * per + a;
                    double score = sigmoid(logits[level][row]);
                    if (!(score > d->p.score_threshold)) continue;
                    const float *r = regs[level] + (size_t)row * 16;
                    double ax = stride * (gx + 0.5), ay = stride * (gy + 0.5);
                    double cx = r[0] + ax, cy = r[1] + ay, w = r[2], h = r[3];
                    c[count] = (candidate){.left = (cx - w / 2) / S,
                                           .top = (cy - h / 2) / S,
                                           .right = (cx + w / 2) / S,
                                           .bottom = (cy + h / 2) / S,
                                           .score = score,
                                           .index = count};
                    for (int k = 0; k < 6; k++) {
                        kp[count * 12 + 2 * k] = (float)((r[4 + 2 * k] + ax) / S);
                        kp[count * 12 + 2 * k + 1] = (float)((r[5 + 2 * k] + ay) / S);
                    }
                    count++;
                }
    }
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces, 1);
    *out = c;
    *keypoints = kp;
    return count;
}

/* The smallest face height, in network-input pixels, each network finds reliably (measured on
 * faces composited at known sizes, `make eval`): what tiling scales small faces up to. */
static double smallest_face(fid_detector_kind kind) {
    switch (kind) {
    case FID_DETECTOR_TINY_FACE: return 40;
    case FID_DETECTOR_SSD_MOBILENETV1: return 24;
    case FID_DETECTOR_BLAZEFACE: return 24;
    default: return 0;
    }
}

static int keep_found(fid_detector *d, int more) {
    if (d->n_found + more <= d->cap_found) return 0;
    int cap = (d->n_found + more) * 2;
    fid_detection *grown = realloc(d->found, (size_t)cap * sizeof *grown);
    if (!grown) return -1;
    d->found = grown, d->cap_found = cap;
    return 0;
}

/* One run of the detector over `im` (the frame or a tile of it): appends its detections, in im's
 * pixels, best score first, up to max_faces, to d->found; returns how many (-1 on failure). */
static int detect_pass(fid_detector *d, const fid_image *im, fid_status *status) {
    if (d->haar) {
        fid_box boxes[1024];
        int n = fid__haar_detect(d->haar, im, 1.2, 10, d->p.min_face_size, boxes, 1024, d->p.threads), found = 0;
        if (n > 1024) n = 1024;
        if (n < 0 || keep_found(d, n)) {
            fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "Haar detector: out of memory"));
            return -1;
        }
        for (int i = 0; i < n && found < d->p.max_faces; i++, found++)
            d->found[d->n_found++] = (fid_detection){.box = boxes[i], .score = 1};
        fid__set_status(status, FID_OK);
        return found;
    }
    fid_status st = fill_input(d, im);
    if (st == FID_OK) st = fid_runner_run(d->runner);
    if (st != FID_OK) {
        fid__set_status(status, st);
        return -1;
    }
    candidate *c = NULL;
    float *keypoints = NULL;
    int n = d->p.kind == FID_DETECTOR_SSD_MOBILENETV1 ? ssd_candidates(d, &c)
            : d->p.kind == FID_DETECTOR_TINY_FACE     ? tiny_candidates(d, im, &c)
                                                      : blaze_candidates(d, &c, &keypoints);
    if (n < 0 || keep_found(d, n)) {
        free(c), free(keypoints);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "detector: cannot decode outputs"));
        return -1;
    }
    /* Back to image pixels through face-api's own arithmetic: the network saw the image padded
     * to a square of side max(w, h) and resized to the input size. */
    double W = im->width, H = im->height, big = W > H ? W : H;
    double scale = d->input_size / big;
    double rw = floor(W * scale + 0.5), rh = floor(H * scale + 0.5);
    int found = 0;
    for (int i = 0; i < n; i++) {
        double left, top, right, bottom;
        if (d->p.kind == FID_DETECTOR_SSD_MOBILENETV1) {
            double px = d->input_size / rw, py = d->input_size / rh;
            left = c[i].left * px, right = c[i].right * px, top = c[i].top * py, bottom = c[i].bottom * py;
        } else if (d->p.kind == FID_DETECTOR_BLAZEFACE) { /* relative to the padded square */
            left = c[i].left * big / W, right = c[i].right * big / W, top = c[i].top * big / H,
            bottom = c[i].bottom * big / H;
        } else {
            left = c[i].left, right = c[i].right, top = c[i].top, bottom = c[i].bottom;
        }
        fid_detection det = {
            .box = {(float)(left * W), (float)(top * H), (float)((right - left) * W), (float)((bottom - top) * H)},
            .score = (float)c[i].score};
        if (d->p.kind == FID_DETECTOR_BLAZEFACE) {
            /* human's BlazeFace box is framed lower and narrower than face-api's SSD box, which
             * the landmark net was trained on: descriptors from raw BlazeFace boxes sat up to 0.69
             * from SSD's. Reframed by the median offsets measured on 101 faces (bbt crops, the
             * seed clips, the sample photos) the worst case is 0.35, below the tiny detector's
             * 0.56 (median 0.090 vs 0.097). */
            float w = det.box.width, h = det.box.height;
            float cx = det.box.x + w / 2 - 0.025f * w, cy = det.box.y + h / 2 - 0.133f * h;
            w *= 0.906f, h *= 1.196f;
            det.box = (fid_box){cx - w / 2, cy - h / 2, w, h};
        }
        if (keypoints) {
            det.n_keypoints = 6;
            for (int k = 0; k < 6; k++)
                det.keypoints[k] = (fid_point){(float)(keypoints[c[i].index * 12 + 2 * k] * big),
                                               (float)(keypoints[c[i].index * 12 + 2 * k + 1] * big)};
        }
        if (det.box.width <= 0 || det.box.height <= 0) continue;
        d->found[d->n_found++] = det;
        found++;
    }
    free(c);
    free(keypoints);
    fid__set_status(status, FID_OK);
    return found;
}

int fid_detector_tiles(const fid_detector *d, int width, int height, fid_box *tiles, int capacity) {
    if (!d || width < 1 || height < 1 || d->haar || d->p.tile_face <= 0) return 0;
    double m = smallest_face(d->p.kind), S = d->input_size, big = width > height ? width : height;
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

/* The w x h region of im at (x0, y0), grey (128) where it leaves the image, into `reuse` when that
 * has the size (else a new image; reuse is freed). NULL when out of memory. Tiles, second looks
 * and the border retry all cut their input this way. */
static fid_image *cut_region(fid_image *reuse, const fid_image *im, int x0, int y0, int w, int h) {
    if (!reuse || reuse->width != w || reuse->height != h) {
        fid_image_free(reuse);
        if (!(reuse = fid__image_new(w, h))) return NULL;
    }
    int cx0 = x0 < 0 ? 0 : x0, cy0 = y0 < 0 ? 0 : y0;
    int cx1 = x0 + w > im->width ? im->width : x0 + w, cy1 = y0 + h > im->height ? im->height : y0 + h;
    if (cx0 > x0 || cy0 > y0 || cx1 < x0 + w || cy1 < y0 + h) memset(reuse->rgb, 128, (size_t)w * h * 3);
    for (int y = cy0; y < cy1 && cx1 > cx0; y++)
        memcpy(reuse->rgb + ((size_t)(y - y0) * w + (cx0 - x0)) * 3, im->rgb + ((size_t)y * im->width + cx0) * 3,
               (size_t)(cx1 - cx0) * 3);
    return reuse;
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
    if (!(d->tile = cut_region(d->tile, im, x0, y0, w, h)))
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
    int side = (int)fmax(2.5 * longer, longer * d->input_size / (2 * smallest_face(d->p.kind)));
    if (side < 16) side = 16;
    int x0 = (int)(b.x + b.width / 2 - side / 2), y0 = (int)(b.y + b.height / 2 - side / 2);
    if (!(d->tile = cut_region(d->tile, im, x0, y0, side, side))) {
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
                    const fid_box *small, int n_small, const fid_box *follow, int n_follow, fid_detection *out,
                    int capacity, fid_status *status) {
    d->n_found = 0;
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
            int ok = followed || d->found[i].score >= verify_below || b.height < verify_from * d->p.tile_face
                         ? 1
                         : confirmed(d, im, d->found[i], status);
            if (ok < 0) return -1;
            if (ok) d->found[kept++] = d->found[i];
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

#define FID_MAX_TILES 256

int fid_detector_run(fid_detector *d, const fid_image *im, fid_detection *out, int capacity, fid_status *status) {
    if (!d || !im || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_detector_run: NULL argument"));
        return -1;
    }
    fid_box tiles[FID_MAX_TILES];
    int n = fid_detector_tiles(d, im->width, im->height, tiles, FID_MAX_TILES);
    int found =
        run_scan(d, im, tiles, n < FID_MAX_TILES ? n : FID_MAX_TILES, NULL, NULL, 0, NULL, 0, out, capacity, status);
    if (found != 0 || d->haar) return found;
    /* Nothing: perhaps a face that fills the picture (an ID photo, a face crop), which the
     * networks were not trained to see without surroundings (face-api's SSD finds 6 of the 40
     * bbt crops). Again with a grey border of a quarter of the longer side on every side. */
    int pad = (im->width > im->height ? im->width : im->height) / 4, W = im->width + 2 * pad, H = im->height + 2 * pad;
    fid_image *framed = cut_region(NULL, im, -pad, -pad, W, H);
    if (!framed) { /* too large to pad: what was found (nothing) stands */
        fid__set_status(status, FID_OK);
        return 0;
    }
    n = fid_detector_tiles(d, W, H, tiles, FID_MAX_TILES);
    int all =
        run_scan(d, framed, tiles, n < FID_MAX_TILES ? n : FID_MAX_TILES, NULL, NULL, 0, NULL, 0, NULL, 0, status);
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

int fid_detector_run_video(fid_detector *d, const fid_image *im, int64_t frame, int period, const fid_box *follow,
                           int n_follow, fid_detection *out, int capacity, fid_status *status) {
    if (!d || !im || (capacity > 0 && !out) || (n_follow > 0 && !follow) || frame < 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_detector_run_video: bad argument"));
        return -1;
    }
    fid_box tiles[FID_MAX_TILES];
    uint8_t which[FID_MAX_TILES];
    int n = fid_detector_tiles(d, im->width, im->height, tiles, FID_MAX_TILES);
    if (n > FID_MAX_TILES) n = FID_MAX_TILES;
    if (period < 1) period = 1;
    double whole = (double)d->input_size / (im->width > im->height ? im->width : im->height);
    double m = smallest_face(d->p.kind);
    for (int t = 0; t < n; t++)
        which[t] = t % period == frame % period;
    /* followed faces too small for the whole-frame pass are looked for every frame, in mosaics */
    fid_box small[FID_MAX_TILES];
    int n_small = 0;
    for (int k = 0; k < n_follow && n_small < FID_MAX_TILES; k++)
        if (follow[k].height * whole < 1.3 * m && follow[k].width > 0 && follow[k].height > 0)
            small[n_small++] = follow[k];
    return run_scan(d, im, tiles, n, which, small, n_small, follow, n_follow, out, capacity, status);
}
