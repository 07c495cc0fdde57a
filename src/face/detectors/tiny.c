/* face-api's Tiny Face Detector (tinyYolov2/TinyYolov2Base.ts): fully convolutional (input side
 * a free multiple of 32, default 416), a grid of 5 anchors x (x, y, w, h, score). */
#include <math.h>
#include <stdlib.h>

#include "face/detector.h"
#include "image/image.h"

static const double anchors[5][2] = {
    {1.603231, 2.094468}, {6.041143, 7.080126}, {2.882459, 3.518061}, {4.266906, 5.178857}, {9.041765, 10.66308}};

/* extractBoxes: boxes relative to the padded input square, then to image pixels. */
static int decode(fid_detector *d, const fid_image *im) {
    int64_t dims[4];
    int rank;
    const float *grid = fid_runner_output(d->runner, 0, dims, &rank);
    if (rank != 4 || dims[3] != 25) return -1;
    int m = (int)dims[1];
    fid__candidate *c = malloc((size_t)m * m * 5 * sizeof *c);
    if (!c) return -1;
    double scale = (double)d->input_size / (im->width > im->height ? im->width : im->height);
    double rw = floor(im->width * scale + 0.5), rh = floor(im->height * scale + 0.5);
    double side = rw > rh ? rw : rh, sx = side / rw, sy = side / rh;
    int count = 0;
    for (int row = 0; row < m; row++)
        for (int col = 0; col < m; col++)
            for (int a = 0; a < 5; a++) {
                const float *v = grid + ((size_t)(row * m + col) * 5 + a) * 5;
                double score = fid__sigmoid(v[4]);
                if (!(score > d->p.score_threshold)) continue;
                double cx = (col + fid__sigmoid(v[0])) / m * sx, cy = (row + fid__sigmoid(v[1])) / m * sy;
                double w = exp(v[2]) * anchors[a][0] / m * sx, h = exp(v[3]) * anchors[a][1] / m * sy;
                double left = cx - w / 2, top = cy - h / 2;
                c[count] = (fid__candidate){
                    .left = left, .top = top, .right = left + w, .bottom = top + h, .score = score, .index = count};
                count++;
            }
    count = fid__suppress(c, count, d->p.iou_threshold, d->p.max_faces, 0);
    double W = im->width, H = im->height;
    int found = 0;
    for (int i = 0; i < count && found >= 0; i++) {
        fid_detection det = {.box = fid__relative_box(c[i].left, c[i].top, c[i].right, c[i].bottom, W, H),
                             .score = (float)c[i].score};
        int kept = fid__detector_keep(d, &det);
        found = kept < 0 ? -1 : found + kept;
    }
    free(c);
    return found;
}

const fid__detector_kind fid__detector_tiny = {
    .kind = FID_DETECTOR_TINY_FACE,
    .name = "tiny",
    .model = "face-api/tiny_face_detector_model-weights_manifest.json",
    .input_side = 0,
    .pixel_scale = 1,
    .iou_threshold = 0.4f,
    .tile_face = 24,
    .smallest_face = 40,
    .decode = decode,
};
