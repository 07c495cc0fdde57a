/* human's BlazeFace (face/blazeface.ts): 256x256 input scaled to -1..1; 16x16x2 anchors at
 * stride 16, then 8x8x6 at stride 32; per anchor a logit, a box (dx, dy, w, h) and 6 keypoints
 * (dx, dy), in input pixels. */
#include <math.h>
#include <stdlib.h>

#include "face/detector.h"
#include "image/image.h"

static int decode(fid_detector *d, const fid_image *im) {
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
    fid__candidate *c = malloc(896 * sizeof *c);
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
                    double score = fid__sigmoid(logits[level][row]);
                    if (!(score > d->p.score_threshold)) continue;
                    const float *r = regs[level] + (size_t)row * 16;
                    double ax = stride * (gx + 0.5), ay = stride * (gy + 0.5);
                    double cx = r[0] + ax, cy = r[1] + ay, w = r[2], h = r[3];
                    c[count] = (fid__candidate){.left = (cx - w / 2) / S,
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
    /* nested: BlazeFace on a face that fills the picture also reports its eyes-and-nose and
     * half-face parts (3 boxes on a bbt crop, which plain IoU keeps since their areas differ) */
    count = fid__suppress(c, count, d->p.iou_threshold, d->p.max_faces, 1);
    double W = im->width, H = im->height, big = W > H ? W : H; /* boxes relative to the padded square */
    int found = 0;
    for (int i = 0; i < count && found >= 0; i++) {
        /* human's box is framed lower and narrower than face-api's SSD box, which the landmark
         * net was trained on: descriptors from raw BlazeFace boxes sat up to 0.69 from SSD's.
         * Reframed by the median offsets measured on 101 faces (bbt crops, the seed clips, the
         * sample photos) the worst case is 0.35, below the tiny detector's 0.56 (median 0.090
         * vs 0.097). */
        fid_box b = fid__relative_box(c[i].left * big / W, c[i].top * big / H, c[i].right * big / W,
                                      c[i].bottom * big / H, W, H);
        /* in float, step for step as measured: the boxes (and so the tracks) stay byte-identical */
        float w = b.width, h = b.height;
        float cx = b.x + w / 2 - 0.025f * w, cy = b.y + h / 2 - 0.133f * h;
        w *= 0.906f, h *= 1.196f;
        fid_detection det = {.box = {cx - w / 2, cy - h / 2, w, h}, .score = (float)c[i].score, .n_keypoints = 6};
        for (int k = 0; k < 6; k++)
            det.keypoints[k] =
                (fid_point){(float)(kp[c[i].index * 12 + 2 * k] * big), (float)(kp[c[i].index * 12 + 2 * k + 1] * big)};
        int kept = fid__detector_keep(d, &det);
        found = kept < 0 ? -1 : found + kept;
    }
    free(c);
    free(kp);
    return found;
}

const fid__detector_kind fid__detector_blazeface = {
    .kind = FID_DETECTOR_BLAZEFACE,
    .name = "blazeface",
    .model = "human/blazeface.json",
    .input_side = 256,
    .pixel_scale = 1 / 127.5f,
    .pixel_offset = -1,
    .iou_threshold = 0.3f,
    .tile_face = 24,
    .smallest_face = 24,
    .decode = decode,
};
