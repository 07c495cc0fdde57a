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
                             .threads = 1};
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
static int suppress(candidate *c, int n, double iou_threshold, int max_keep) {
    qsort(c, (size_t)n, sizeof *c, by_score_desc);
    int kept = 0;
    for (int i = 0; i < n && kept < max_keep; i++) {
        int ok = 1;
        for (int j = 0; j < kept && ok; j++)
            if (iou_relative(&c[i], &c[j]) > iou_threshold) ok = 0;
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
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces);
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
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces);
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
    count = suppress(c, count, d->p.iou_threshold, d->p.max_faces);
    *out = c;
    *keypoints = kp;
    return count;
}

int fid_detector_run(fid_detector *d, const fid_image *im, fid_detection *out, int capacity, fid_status *status) {
    if (!d || !im || (capacity > 0 && !out)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_detector_run: NULL argument"));
        return -1;
    }
    if (d->haar) {
        fid_box boxes[1024];
        int n = fid__haar_detect(d->haar, im, 1.2, 10, d->p.min_face_size, boxes, 1024, d->p.threads), found = 0;
        if (n < 0) {
            fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "Haar detector: out of memory"));
            return -1;
        }
        for (int i = 0; i < n && i < 1024 && found < d->p.max_faces; i++, found++)
            if (found < capacity) out[found] = (fid_detection){.box = boxes[i], .score = 1};
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
    if (n < 0) {
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
        if (keypoints) {
            det.n_keypoints = 6;
            for (int k = 0; k < 6; k++)
                det.keypoints[k] = (fid_point){(float)(keypoints[c[i].index * 12 + 2 * k] * big),
                                               (float)(keypoints[c[i].index * 12 + 2 * k + 1] * big)};
        }
        float shorter = det.box.width < det.box.height ? det.box.width : det.box.height;
        if (shorter < d->p.min_face_size || det.box.width <= 0 || det.box.height <= 0) continue;
        if (found < capacity) out[found] = det;
        found++;
    }
    free(c);
    free(keypoints);
    fid__set_status(status, FID_OK);
    return found;
}
