/* face-api's SSD-MobileNet-v1 (ssdMobilenetv1/SsdMobilenetv1.ts): 512x512 input, boxes decoded
 * against its anchors, clipped with the raw corners as face-api does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/detector.h"
#include "face/ssd.h"
#include "image/image.h"

static int decode(fid_detector *d, const fid_image *im) {
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
    fid__candidate *c = malloc((size_t)(n ? n : 1) * sizeof *c);
    if (!boxes || !scores || !c || !enc || !cls || !anchors) {
        free(boxes), free(scores), free(c);
        return -1;
    }
    fid__ssd_decode(enc, cls, anchors, n, boxes, scores);
    int count = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!(scores[i] > d->p.score_threshold)) continue;
        const float *b = boxes + 4 * i; /* top, left, bottom, right; ssd's IoU takes min/max */
        c[count++] = (fid__candidate){.top = fmin(b[0], b[2]),
                                      .left = fmin(b[1], b[3]),
                                      .bottom = fmax(b[0], b[2]),
                                      .right = fmax(b[1], b[3]),
                                      .score = scores[i],
                                      .index = (int)i};
    }
    count = fid__suppress(c, count, d->p.iou_threshold, d->p.max_faces, 0);
    /* Back to image pixels through face-api's own arithmetic: the network saw the image padded
     * below/right to a square and resized; its boxes are relative to the unpadded part. */
    double W = im->width, H = im->height, big = W > H ? W : H, scale = d->input_size / big;
    double px = d->input_size / floor(W * scale + 0.5), py = d->input_size / floor(H * scale + 0.5);
    int found = 0;
    for (int i = 0; i < count && found >= 0; i++) {
        const float *b = boxes + 4 * c[i].index; /* face-api clips the raw (unsorted) corners */
        double top = fmax(0, b[0]) * py, bottom = fmin(1.0, b[2]) * py;
        double left = fmax(0, b[1]) * px, right = fmin(1.0, b[3]) * px;
        fid_detection det = {.box = fid__relative_box(left, top, right, bottom, W, H), .score = (float)c[i].score};
        int kept = fid__detector_keep(d, &det);
        found = kept < 0 ? -1 : found + kept;
    }
    free(boxes);
    free(scores);
    free(c);
    return found;
}

const fid__detector_kind fid__detector_ssd = {
    .kind = FID_DETECTOR_SSD_MOBILENETV1,
    .name = "ssd",
    .model = "face-api/ssd_mobilenetv1_model-weights_manifest.json",
    .input_side = 512,
    .pixel_scale = 1,
    .iou_threshold = 0.5f,
    .tile_face = 24,
    .smallest_face = 24,
    .decode = decode,
};
