/*
 * Landmarks, alignment and descriptors. Other profiles (VGGFace2 ResNet-50, any ONNX embedder)
 * reuse the landmarks and crop by margin or 5-point similarity. For the default profile it follows face-api's
 * detectAllFaces().withFaceLandmarks().withFaceDescriptors() step for step:
 * extractFaceTensors (clip + floor), FaceLandmark68NetBase.postProcess, FaceLandmarks.alignDlib,
 * FaceRecognitionNet on the dlib-aligned crop. Its quirks are kept on purpose (see comments),
 * so that descriptors are interchangeable with face-api's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <nettle/sha2.h>
#include <string.h>

#include "face/align.h"
#include "face/calibration.h"
#include "face/profiles.h"
#include "nn/net.h"
#include "image/image.h"
#include "util/error.h"

struct fid_embedder {
    const fid__profile *profile;
    fid_net *landmark_net, *descriptor_net;
    fid_runner *landmarks, *descriptor;
    int dim, input_size, bgr;
    float mean[3], scale;
    char model_id[300];
    fid_alignment alignment;
    int refine_passes;
    float *crop;    /* input_size^2 * 3 RGB floats for the non-face-api paths */
    float *flipped; /* the landmark net's input, mirrored */
    /* While the descriptor net is being made: describe stops at the descriptor's input and
     * writes it here (its calibration inputs are faces prepared exactly as live ones are). */
    float *calib_dst;
};

/* Landmarks found again in the frame their own last positions make, until the frame moves by
 * less than 0.6% of its side (at most 4 passes): the fixed point does not depend on the box the
 * first pass started from. A pass moves the frame by at most 20% of its side and scales it by
 * 0.8-1.25x (0.7-1.4x of the first frame in all): from a box twice the face, the landmark net's
 * points huddle in the middle, and following them all the way collapsed the frame onto a cheek.
 * The landmark net's own jitter (about 1% a pass) is what the passes fight: the same faces from
 * SSD's box and BlazeFace's keypoints moved by a median 0.054 after 2 passes, 0.024 after 3, 0.019
 * with up to 4 until 0.6% (3.3 on average), 0.013 with up to 5 until 0.3% (4.1 on average, 15%
 * more time per face). */
#define REFINE_PASSES 4
#define REFINE_STABLE 0.006

fid_embedder_params fid_embedder_default_params(void) {
    fid_embedder_params p = {
        .profile = "faceapi-128", .threads = 1, .precision = FID_PRECISION_AUTO, .alignment = FID_ALIGN_LANDMARKS,
        .refine_passes = REFINE_PASSES};
    return p;
}

/* Face crops at the net's input side, normalised as `ctx` (a fid__input_norm) says: 16 of them,
 * enough for the gate to meet hard faces, few enough that a ResNet-50 gate costs ~1 s. */
static float *face_calibration(const fid_net *net, const void *ctx, int *n) {
    int64_t d[4];
    if (fid_net_input_shape(net, 0, d) != 4 || d[1] != d[2] || d[3] != 3) return *n = 0, NULL;
    return fid__calibration_inputs((int)d[1], ctx, 0, 16, n);
}

/* The descriptor net's calibration inputs: the calibration faces through this embedder's own
 * landmarks and alignment (ctx: the embedder, its landmark runner made), each cell of the grid
 * taken as a detection. Crops cut any other way met activations up to 2x larger than calibration
 * saw on real aligned faces, and int8 descriptors moved by up to 0.19. */
static float *descriptor_calibration(const fid_net *net, const void *ctx, int *n) {
    fid_embedder *e = (fid_embedder *)ctx;
    int64_t d[4];
    *n = 0;
    if (fid_net_input_shape(net, 0, d) != 4 || d[1] != d[2] || d[3] != 3 || d[1] < 8 || d[1] > 1024) return NULL;
    int S = (int)d[1], saved_size = e->input_size, m = 0;
    size_t per = (size_t)S * S * 3;
    fid_box cells[16];
    fid_image *im = fid__calibration_faces(cells, 16, &m);
    float *out = im ? malloc((size_t)m * per * sizeof *out) : NULL, *saved_crop = e->crop, dummy[1];
    e->crop = malloc(per * sizeof *e->crop);
    e->input_size = S;
    for (int i = 0; out && e->crop && i < m; i++) {
        fid_detection det = {.box = cells[i], .score = 1};
        fid_face face;
        e->calib_dst = out + (size_t)*n * per;
        if (fid_embedder_describe(e, im, &det, &face, dummy) == FID_OK) ++*n;
    }
    e->calib_dst = NULL;
    free(e->crop);
    e->crop = saved_crop;
    e->input_size = saved_size;
    fid_image_free(im);
    if (!*n) {
        free(out);
        return NULL;
    }
    return out;
}

/* file: relative to fid_model_dir() unless absolute (or given by the user, `as_is`) */
/* AUTO's bar for descriptor nets (fid_embedder_params.precision): the smallest perturbation
 * measured to change no answer in `make eval` was bf16's (cosine 0.99997 on the calibration
 * faces); int8's 0.9998 changed some. */
#define DESCRIPTOR_GATE 0.99995

static fid_runner *load_file(const char *file, int as_is, const fid_embedder_params *p,
                             const fid__precision_policy *policy, fid_net **net, fid_status *st) {
    char path[4096];
    snprintf(path, sizeof path, "%s%s%s", as_is ? "" : fid_model_dir(), as_is ? "" : "/", file);
    return fid__load_private_runner(path, 0, p->threads, policy, net, st);
}

/* face-api's landmark nets take pixels as they are */
static const fid__input_norm pixels = {{0, 0, 0}, 1, 0};

/* Input side and output length of a user-supplied descriptor net, checked against the profile. */
static fid_status check_descriptor_net(fid_embedder *e, const char *path) {
    int64_t d[4];
    int rank = fid_net_input_shape(e->descriptor_net, 0, d);
    if (rank != 4 || d[1] != d[2] || d[3] != 3)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: the embedder's input must be a square RGB image (NCHW 3xSxS)", path);
    e->input_size = (int)d[1];
    if (e->profile->aligner == FID__ALIGN_MARGIN && e->input_size != e->profile->input_size)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: input %dx%d, profile %s wants %dx%d", path, e->input_size,
                         e->input_size, e->profile->id, e->profile->input_size, e->profile->input_size);
    int64_t od[4];
    int orank;
    if (!fid_runner_output(e->descriptor, 0, od, &orank)) return fid__fail(FID_ERR_FORMAT, "%s: no output", path);
    int64_t n = 1;
    for (int i = 1; i < orank; i++)
        n *= od[i];
    if (n < 1 || n > 65536 || (e->profile->dim && n != e->profile->dim))
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: outputs %lld values per face, profile %s wants %d", path,
                         (long long)n, e->profile->id, e->profile->dim);
    e->dim = (int)n;
    e->crop = malloc((size_t)e->input_size * e->input_size * 3 * sizeof *e->crop);
    return e->crop ? FID_OK : FID_ERR_NO_MEMORY;
}

/* A network from the user's file is known by what it computes, not by the file's name: the
 * profile, then 16 hex digits of SHA-256 over the weights' digest and the input normalisation
 * ("onnx:3f2a9c..."). Another network that happens to share a name gets another id (its
 * descriptors never mix into the gallery); a copy under another name gets the same one. The
 * pinned npm models keep their profile id: models.sha256 already fixes their content. */
static void set_file_model_id(fid_embedder *e) {
    struct sha256_ctx h;
    uint8_t d[32];
    sha256_init(&h);
    sha256_update(&h, 32, fid__net_digest(e->descriptor_net));
    sha256_update(&h, sizeof e->mean, (const uint8_t *)e->mean);
    sha256_update(&h, sizeof e->scale, (const uint8_t *)&e->scale);
    sha256_update(&h, sizeof e->bgr, (const uint8_t *)&e->bgr);
    sha256_update(&h, sizeof e->input_size, (const uint8_t *)&e->input_size);
    sha256_digest(&h, sizeof d, d);
    int n = snprintf(e->model_id, sizeof e->model_id, "%s:", e->profile->id);
    for (int i = 0; i < 8; i++)
        n += snprintf(e->model_id + n, sizeof e->model_id - (size_t)n, "%02x", d[i]);
}

fid_embedder *fid_embedder_create(const fid_embedder_params *params, fid_status *status) {
    fid_embedder_params p = params ? *params : fid_embedder_default_params();
    const fid__profile *profile = fid__profile_find(p.profile ? p.profile : "faceapi-128");
    if (!profile) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "unknown model profile '%s'", p.profile));
        return NULL;
    }
    if (p.threads < 1) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "embedder threads must be >= 1"));
        return NULL;
    }
    fid_embedder *e = calloc(1, sizeof *e);
    if (!e) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate an embedder"));
        return NULL;
    }
    e->profile = profile;
    e->alignment = p.alignment;
    e->refine_passes = p.refine_passes > 0 ? p.refine_passes : REFINE_PASSES;
    if (!(e->flipped = malloc(112 * 112 * 3 * sizeof *e->flipped))) {
        free(e);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate an embedder"));
        return NULL;
    }
    e->dim = profile->dim;
    e->input_size = profile->input_size;
    memcpy(e->mean, profile->mean, sizeof e->mean);
    e->scale = profile->scale;
    e->bgr = profile->bgr;
    if (!strcmp(profile->id, "onnx") && p.scale != 0) { /* the caller's normalisation */
        memcpy(e->mean, p.mean, sizeof e->mean);
        e->scale = p.scale;
        e->bgr = p.bgr;
    }
    snprintf(e->model_id, sizeof e->model_id, "%s", profile->id);
    fid_status st = FID_OK;
    if (!profile->descriptor_model && !p.model_path) {
        st = fid__fail(FID_ERR_INVALID_ARGUMENT, "profile %s needs the descriptor network's file (--model %s=FILE)",
                       profile->id, profile->id);
    } else {
        /* AUTO keeps the landmark net exact, as it keeps detectors: its points decide the
         * descriptor's crop, and a shift too small for its own outputs' gate (cosine 0.99993 in
         * int8) moved descriptors of real faces far more than the descriptor net's own int8 did */
        fid__precision_policy lp = {.precision = p.precision,
                                    .keep_exact = "fp32: auto keeps landmarks exact (their points decide the crop)",
                                    .calibration = face_calibration,
                                    .ctx = &pixels};
        e->landmarks = load_file(profile->landmark_model, 0, &p, &lp, &e->landmark_net, &st);
    }
    fid__precision_policy dp = {
        .precision = p.precision, .gate = DESCRIPTOR_GATE, .calibration = descriptor_calibration, .ctx = e};
    if (e->landmarks)
        e->descriptor = load_file(profile->descriptor_model ? profile->descriptor_model : p.model_path,
                                  !profile->descriptor_model, &p, &dp, &e->descriptor_net, &st);
    if (e->descriptor && !profile->descriptor_model && (st = check_descriptor_net(e, p.model_path)) != FID_OK) {
        fid_runner_free(e->descriptor);
        e->descriptor = NULL;
    }
    if (!e->descriptor) {
        fid_embedder_free(e);
        fid__set_status(status, st);
        return NULL;
    }
    if (!profile->descriptor_model) set_file_model_id(e);
    fid__set_status(status, FID_OK);
    return e;
}

void fid_embedder_free(fid_embedder *e) {
    if (!e) return;
    fid_runner_free(e->landmarks);
    fid_runner_free(e->descriptor);
    fid_net_free(e->landmark_net);
    fid_net_free(e->descriptor_net);
    free(e->crop);
    free(e->flipped);
    free(e);
}

int fid_embedder_dim(const fid_embedder *e) { return e ? e->dim : 0; }

fid_precision fid_embedder_precision(const fid_embedder *e, const char **note, fid_precision *landmarks,
                                     const char **landmark_note) {
    fid_precision l = fid_runner_precision(e ? e->landmarks : NULL, landmark_note);
    if (landmarks) *landmarks = l;
    return fid_runner_precision(e ? e->descriptor : NULL, note);
}
const char *fid_embedder_model_id(const fid_embedder *e) { return e ? e->model_id : NULL; }
int fid_embedder_input_size(const fid_embedder *e) { return e ? e->input_size : 0; }
float fid_embedder_threshold(const fid_embedder *e) { return e ? e->profile->threshold : 0; }

float fid_embedder_distance(const fid_embedder *e, const float *a, const float *b) {
    double sum = 0;
    for (int i = 0; i < e->dim; i++)
        sum += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return (float)sqrt(sum);
}

/* Box.clipAtImageBorders(w, h) then .floor(): the region extractFaceTensors slices. */
static int clip_floor(double x, double y, double w, double h, int W, int H, int r[4]) {
    double x0 = fmax(x, 0), y0 = fmax(y, 0);
    double cw = fmin(x + w - x0, W - x0), ch = fmin(y + h - y0, H - y0);
    r[0] = (int)floor(x0), r[1] = (int)floor(y0), r[2] = (int)floor(cw), r[3] = (int)floor(ch);
    if (r[0] + r[2] > W) r[2] = W - r[0];
    if (r[1] + r[3] > H) r[3] = H - r[1];
    return r[2] > 0 && r[3] > 0;
}

/* toBatchTensor(size, true) of an image region into dst, or into a runner's input. */
static fid_status region_into(float *dst, const fid_image *im, const int r[4], int size) {
    return fid__region_square(im, r[0], r[1], r[2], r[3], dst, size);
}

static fid_status region_input(fid_runner *runner, const fid_image *im, const int r[4], int size) {
    return region_into(fid_runner_input(runner, 0, NULL), im, r, size);
}

typedef struct dpoint {
    double x, y;
} dpoint;

static dpoint center(const dpoint *p, int n) {
    dpoint c = {0, 0};
    for (int i = 0; i < n; i++)
        c.x += p[i].x, c.y += p[i].y;
    return (dpoint){c.x / n, c.y / n};
}

/* Profiles other than face-api's: a crop by margin (VGGFace2 demo) or by 5-point similarity
 * (ArcFace template), normalised as the profile says, through the descriptor net. */
static fid_status describe_other(fid_embedder *e, const fid_image *im, const fid_detection *det, fid_face *face,
                                 float *descriptor) {
    int S = e->input_size;
    if (e->profile->aligner == FID__ALIGN_MARGIN) {
        double mx = det->box.width * e->profile->margin, my = det->box.height * e->profile->margin;
        int r[4];
        if (!clip_floor(det->box.x - mx, det->box.y - my, det->box.width + 2 * mx, det->box.height + 2 * my, im->width,
                        im->height, r))
            return fid__fail(FID_ERR_INVALID_ARGUMENT, "face lies outside the %dx%d image", im->width, im->height);
        face->crop = (fid_box){(float)r[0], (float)r[1], (float)r[2], (float)r[3]};
        float *region = fid__image_crop_float(im, r[0], r[1], r[2], r[3]);
        if (!region) return FID_ERR_NO_MEMORY;
        fid__resize_bilinear(region, r[3], r[2], e->crop, S, S);
        free(region);
    } else {
        fid_point five[5], dst[5];
        fid__five_points(face->landmarks, five);
        for (int i = 0; i < 5; i++)
            dst[i] = (fid_point){fid__arcface_template[i].x * S / 112.0f, fid__arcface_template[i].y * S / 112.0f};
        double m[6];
        if (fid__similarity(five, dst, 5, m) != 0)
            return fid__fail(FID_ERR_INVALID_ARGUMENT, "degenerate landmarks: cannot align the face");
        fid__warp_similarity(im, m, e->crop, S);
        face->crop = face->aligned;
    }
    float *in = e->calib_dst ? e->calib_dst : fid_runner_input(e->descriptor, 0, NULL);
    for (size_t i = 0; i < (size_t)S * S; i++)
        for (int c = 0; c < 3; c++)
            in[i * 3 + c] = (e->crop[i * 3 + (e->bgr ? 2 - c : c)] - e->mean[c]) * e->scale;
    if (e->calib_dst) return FID_OK;
    fid_status st = fid_runner_run(e->descriptor);
    if (st != FID_OK) return st;
    memcpy(descriptor, fid_runner_output(e->descriptor, 0, NULL, NULL), (size_t)e->dim * sizeof *descriptor);
    if (e->profile->metric == FID__METRIC_COSINE) {
        double norm = 0;
        for (int i = 0; i < e->dim; i++)
            norm += (double)descriptor[i] * descriptor[i];
        norm = sqrt(norm);
        for (int i = 0; i < e->dim && norm > 0; i++)
            descriptor[i] = (float)(descriptor[i] / norm);
    }
    return FID_OK;
}

/* min x, min y, max x, max y of the 68 points */
static void bounds(const dpoint pts[68], double b[4]) {
    b[0] = b[1] = INFINITY, b[2] = b[3] = -INFINITY;
    for (int i = 0; i < 68; i++) {
        b[0] = fmin(b[0], pts[i].x), b[2] = fmax(b[2], pts[i].x);
        b[1] = fmin(b[1], pts[i].y), b[3] = fmax(b[3], pts[i].y);
    }
}

/* The 68-point scheme's mirror image: point i of a mirrored face is point mirror68[i]. */
static const unsigned char mirror68[68] = {
    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  26, 25, 24, 23, 22, 21,
    20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36,
    41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65};

static void flip_rows(float *t, int size) {
    for (int y = 0; y < size; y++)
        for (int x = 0; x < size / 2; x++)
            for (int c = 0; c < 3; c++) {
                float *a = t + ((size_t)y * size + x) * 3 + c, *b = t + ((size_t)y * size + size - 1 - x) * 3 + c;
                float v = *a;
                *a = *b, *b = v;
            }
}

/* The landmark net's 68 points in the square frame f = {x, y, side} (image pixels): the mean
 * of its points on the frame and, mirrored back, on the frame mirrored, which halves their noise
 * (SSD-box against BlazeFace-keypoint descriptors of the same faces: median 0.019 -> 0.010). */
static fid_status landmarks_in_frame(fid_embedder *e, const fid_image *im, const double f[3], dpoint pts[68]) {
    float *in = fid_runner_input(e->landmarks, 0, NULL);
    size_t bytes = 112 * 112 * 3 * sizeof *in;
    fid_status st = fid__sample_square(im, f[0], f[1], f[2], in, 112);
    if (st != FID_OK) return st;
    memcpy(e->flipped, in, bytes);
    flip_rows(e->flipped, 112);
    if ((st = fid_runner_run(e->landmarks)) != FID_OK) return st;
    const float *out = fid_runner_output(e->landmarks, 0, NULL, NULL);
    for (int i = 0; i < 68; i++)
        pts[i] = (dpoint){f[0] + out[2 * i] * f[2], f[1] + out[2 * i + 1] * f[2]};
    memcpy(in, e->flipped, bytes);
    if ((st = fid_runner_run(e->landmarks)) != FID_OK) return st;
    out = fid_runner_output(e->landmarks, 0, NULL, NULL);
    for (int i = 0; i < 68; i++) {
        int j = mirror68[i];
        /* column c of the flipped crop is column 111 - c: x' = 1 - x - 1/112 in crop units */
        double x = f[0] + (1 - out[2 * j]) * f[2] - f[2] / 112, y = f[1] + out[2 * j + 1] * f[2];
        pts[i].x = (pts[i].x + x) / 2, pts[i].y = (pts[i].y + y) / 2;
    }
    return FID_OK;
}

/* The frame the landmark net is given around landmarks: the square that face-api's SSD box
 * (padded to square, as the landmark net takes it) makes around a face, from 171 faces of
 * dlib/johns, dlib/faces, bbt's group photos, the sample photos and the seed clips: side 1.31x
 * the larger side of the 68 points' bounds, centre 0.134 of that above the bounds' centre. */
static void frame_of(const dpoint pts[68], double f[3]) {
    double b[4];
    bounds(pts, b);
    double ext = fmax(b[2] - b[0], b[3] - b[1]), side = 1.31 * ext;
    double cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2 - 0.134 * ext;
    f[0] = cx - side / 2, f[1] = cy - side / 2, f[2] = side;
}

/* BlazeFace's keypoints (eyes, nose, mouth) place the same frame: side 2.055x the hypotenuse of
 * the eye-to-eye and eyes-to-mouth distances, centred 0.079 eyes-to-mouth above the centre of the
 * eyes and mouth (same 171 faces). Its boxes do not: they range from tight to twice the face. */
static int frame_of_keypoints(const fid_detection *det, double f[3]) {
    if (det->n_keypoints < 4) return 0;
    const fid_point *k = det->keypoints;
    double ex = (k[0].x + k[1].x) / 2, ey = (k[0].y + k[1].y) / 2;
    double em = hypot(k[3].x - ex, k[3].y - ey), ee = hypot(k[1].x - k[0].x, k[1].y - k[0].y);
    double side = 2.055 * hypot(em, ee);
    if (!(side > 4)) return 0;
    double cx = (k[0].x + k[1].x + k[3].x) / 3, cy = (k[0].y + k[1].y + k[3].y) / 3 - 0.079 * em;
    f[0] = cx - side / 2, f[1] = cy - side / 2, f[2] = side;
    return 1;
}

static fid_status refine_landmarks(fid_embedder *e, const fid_image *im, double f[3], dpoint pts[68],
                                   float *unsettled) {
    double g[3], start = f[2], best_move = INFINITY;
    dpoint best[68];
    for (int k = 0; k < e->refine_passes; k++) {
        fid_status st = landmarks_in_frame(e, im, f, pts);
        if (st != FID_OK) return st;
        frame_of(pts, g);
        double lim = 0.2 * f[2], cx = g[0] + g[2] / 2, cy = g[1] + g[2] / 2, fx = f[0] + f[2] / 2,
               fy = f[1] + f[2] / 2;
        cx = fmin(fmax(cx, fx - lim), fx + lim), cy = fmin(fmax(cy, fy - lim), fy + lim);
        g[2] = fmin(fmax(g[2], fmax(0.8 * f[2], 0.7 * start)), fmin(1.25 * f[2], 1.4 * start));
        g[0] = cx - g[2] / 2, g[1] = cy - g[2] / 2;
        double moved = fmax(fmax(fabs(g[0] - f[0]), fabs(g[1] - f[1])), fabs(g[2] - f[2])) / f[2];
        if (moved < best_move) best_move = moved, memcpy(best, pts, sizeof best);
        *unsettled = (float)best_move;
        if (moved < REFINE_STABLE) return FID_OK;
        memcpy(f, g, sizeof g);
    }
    /* no fixed point: the points of the pass that moved its frame least (a small, blurred face
     * can send the frame shrinking pass after pass) */
    memcpy(pts, best, sizeof best);
    return FID_OK;
}

/* face-api's landmarks: the detector's box (clipped, floored) padded to a centred square. */
static fid_status faceapi_landmarks(fid_embedder *e, const fid_image *im, const fid_detection *det, const int r[4],
                                    dpoint pts[68]) {
    fid_status st = region_input(e->landmarks, im, r, 112);
    if (st == FID_OK) st = fid_runner_run(e->landmarks);
    if (st != FID_OK) return st;
    const float *out = fid_runner_output(e->landmarks, 0, NULL, NULL);
    /* postProcess, in float32 tensor arithmetic: undo the centred padding of the crop. */
    double scale = 112.0 / (r[2] > r[3] ? r[2] : r[3]);
    float iw = (float)(r[2] * scale), ih = (float)(r[3] * scale);
    float pad_x = iw < ih ? (float)(fabs((double)r[2] * scale - (double)r[3] * scale) / 2) : 0;
    float pad_y = ih < iw ? (float)(fabs((double)r[2] * scale - (double)r[3] * scale) / 2) : 0;
    for (int i = 0; i < 68; i++) {
        float rx = (out[2 * i] * 112.0f - pad_x) / iw, ry = (out[2 * i + 1] * 112.0f - pad_y) / ih;
        /* relative to the crop, placed at the unclipped detection corner (face-api's shift) */
        pts[i] = (dpoint){rx * (double)r[2] + det->box.x, ry * (double)r[3] + det->box.y};
    }
    return FID_OK;
}

/* The descriptor of the square (x, y, side) of the image, or its input into calib_dst. */
static fid_status describe_square(fid_embedder *e, const fid_image *im, double x, double y, double side,
                                  float *descriptor) {
    float *dst = e->calib_dst ? e->calib_dst : fid_runner_input(e->descriptor, 0, NULL);
    fid_status st = fid__sample_square(im, x, y, side, dst, e->profile->input_size);
    if (e->calib_dst || st != FID_OK) return st;
    if ((st = fid_runner_run(e->descriptor)) != FID_OK) return st;
    memcpy(descriptor, fid_runner_output(e->descriptor, 0, NULL, NULL), (size_t)e->profile->dim * sizeof *descriptor);
    return FID_OK;
}

fid_status fid_embedder_describe(fid_embedder *e, const fid_image *im, const fid_detection *det, fid_face *face,
                                 float *descriptor) {
    if (!e || !im || !det || !face || !descriptor)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_embedder_describe: NULL argument");
    memset(face, 0, sizeof *face);
    face->box = det->box;
    face->score = det->score;
    int W = im->width, H = im->height, r[4];
    /* FaceDetection.forSize() round-trips the box through relative coordinates. */
    double bx = det->box.x * (1.0 / W) * W, by = det->box.y * (1.0 / H) * H;
    double bw = det->box.width * (1.0 / W) * W, bh = det->box.height * (1.0 / H) * H;
    if (!clip_floor(bx, by, bw, bh, W, H, r))
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "face box %gx%g+%g+%g lies outside the %dx%d image", bw, bh, bx, by,
                         W, H);
    dpoint pts[68]; /* face-api keeps landmark positions in doubles */
    double frame[3];
    fid_status st;
    if (e->alignment == FID_ALIGN_LANDMARKS) {
        /* BlazeFace's keypoints place the first frame; any other detector's box goes through
         * face-api's pass first, whose points place it */
        if (!frame_of_keypoints(det, frame)) {
            if ((st = faceapi_landmarks(e, im, det, r, pts)) != FID_OK) return st;
            frame_of(pts, frame);
        }
        st = refine_landmarks(e, im, frame, pts, &face->unsettled);
    } else {
        st = faceapi_landmarks(e, im, det, r, pts);
    }
    if (st != FID_OK) return st;
    for (int i = 0; i < 68; i++)
        face->landmarks[i] = (fid_point){(float)pts[i].x, (float)pts[i].y};
    /* alignedRect: landmark bounds padded by 20% (FaceLandmarks.alignMinBbox). */
    double minx = INFINITY, miny = INFINITY, maxx = 0, maxy = 0;
    for (int i = 0; i < 68; i++) {
        minx = fmin(minx, pts[i].x), maxx = fmax(maxx, pts[i].x);
        miny = fmin(miny, pts[i].y), maxy = fmax(maxy, pts[i].y);
    }
    double pw = (maxx - minx) * 0.2, ph = (maxy - miny) * 0.2;
    face->aligned =
        (fid_box){(float)(minx - pw / 2), (float)(miny - ph / 2), (float)(maxx - minx + pw), (float)(maxy - miny + ph)};
    if (e->profile->aligner != FID__ALIGN_FACEAPI_DLIB) return describe_other(e, im, det, face, descriptor);
    /* alignDlib: a square from the eyes and mouth. */
    dpoint ref[3] = {center(pts + 36, 6), center(pts + 42, 6), center(pts + 48, 20)};
    double d0 = hypot(ref[2].x - ref[0].x, ref[2].y - ref[0].y), d1 = hypot(ref[2].x - ref[1].x, ref[2].y - ref[1].y);
    dpoint c = center(ref, 3);
    if (e->alignment == FID_ALIGN_LANDMARKS) {
        /* The same square, not floored or clipped: sampled at sub-pixel positions, black where it
         * leaves the image, so a face at the border (or a tight crop given as the image) keeps its
         * place in it. A 1% shift of the square moved descriptors by 0.08 at the median. */
        double side = (d0 + d1) / 2 / 0.45, x0 = c.x - 0.5 * side, y0 = c.y - 0.43 * side;
        face->crop = (fid_box){(float)x0, (float)y0, (float)side, (float)side};
        return describe_square(e, im, x0, y0, side, descriptor);
    }
    /* face-api's square: floored, clipped, padded to a centred square. Its size limit uses the
     * crop's width and height where the image's were meant (face-api's "imageWidth" is the
     * crop's); kept. */
    double size = floor((d0 + d1) / 2 / 0.45);
    double ax = floor(fmax(0, c.x - 0.5 * size)), ay = floor(fmax(0, c.y - 0.43 * size));
    double aw = fmin(size, r[2] + ax), ah = fmin(size, r[3] + ay);
    int cr[4];
    if (!clip_floor(ax, ay, aw, ah, W, H, cr))
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "aligned face lies outside the %dx%d image", W, H);
    face->crop = (fid_box){(float)cr[0], (float)cr[1], (float)cr[2], (float)cr[3]};
    if (e->calib_dst) return region_into(e->calib_dst, im, cr, e->profile->input_size);
    st = region_input(e->descriptor, im, cr, e->profile->input_size);
    if (st == FID_OK) st = fid_runner_run(e->descriptor);
    if (st != FID_OK) return st;
    memcpy(descriptor, fid_runner_output(e->descriptor, 0, NULL, NULL), (size_t)e->profile->dim * sizeof *descriptor);
    return FID_OK;
}
