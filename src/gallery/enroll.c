/*
 * Enrollment: the largest face of every image or video frame passes quality gates (size,
 * detector score, sharpness, pose, near-duplicates); the best samples are kept for the person.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/detector.h"
#include "image/image.h"
#include "util/error.h"

typedef struct kept {
    float quality;
    float *descriptor;
    fid_face face;
    char *source;
    fid_image *crop; /* the region the descriptor came from, for --save-crops */
} kept;

struct fid_enrollment {
    fid_detector *detector;
    fid_embedder *embedder;
    fid_enroll_params p;
    fid_enroll_stats stats;
    int dim;
    kept *samples;
    int n, cap;
    float *scratch;
    /* the face chosen in the previous video frame: looked for there first (below) */
    fid_box last;
    int have_last;
    char last_source[256]; /* of that frame: another file starts with a full scan */
};

const char *fid_enroll_verdict_text(fid_enroll_verdict verdict) {
    static const char *why[] = {"kept",
                                "no face found",
                                "face too small",
                                "detector score too low",
                                "face too blurry",
                                "face turned too far",
                                "same as an earlier sample",
                                "better samples already kept",
                                "landmarks do not form a frontal face (turned away, or not a face)"};
    return (unsigned)verdict < sizeof why / sizeof *why ? why[verdict] : "unknown verdict";
}

fid_enroll_params fid_enroll_default_params(void) {
    fid_enroll_params p = {.max_samples = 20,
                           .min_face_size = 64,
                           .min_score = 0.7f,
                           .min_sharpness = 12.0f,
                           .max_yaw = 0.45f,
                           .duplicate_distance = 0.08f,
                           .photo = {.min_face_size = 40, .min_score = 0.5f, .min_sharpness = 4.0f, .max_yaw = 0.6f}};
    return p;
}

fid_enrollment *fid_enrollment_begin(fid_detector *detector, fid_embedder *embedder, const fid_enroll_params *params,
                                     fid_status *status) {
    if (!detector || !embedder) {
        fid__set_status(status,
                        fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_enrollment_begin: need a detector and an embedder"));
        return NULL;
    }
    fid_enrollment *e = calloc(1, sizeof *e);
    if (!e) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate an enrollment"));
        return NULL;
    }
    e->detector = detector;
    e->embedder = embedder;
    e->p = params ? *params : fid_enroll_default_params();
    if (e->p.max_samples < 1) e->p.max_samples = 1;
    e->dim = fid_embedder_dim(embedder);
    e->scratch = malloc((size_t)e->dim * sizeof *e->scratch);
    if (!e->scratch) {
        free(e);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate an enrollment"));
        return NULL;
    }
    fid__set_status(status, FID_OK);
    return e;
}

void fid_enrollment_free(fid_enrollment *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) {
        free(e->samples[i].descriptor);
        free(e->samples[i].source);
        fid_image_free(e->samples[i].crop);
    }
    free(e->samples);
    free(e->scratch);
    free(e);
}

fid_enroll_stats fid_enrollment_stats(const fid_enrollment *e) {
    fid_enroll_stats s = {0};
    return e ? e->stats : s;
}

/* Variance of the 4-neighbour Laplacian over the face crop in grey, scaled to 112 px: focus. */
static float sharpness(const fid_image *im, fid_box crop) {
    const int S = 112;
    /* the part inside the image: the descriptor's square may leave it (black there), and a
     * border is no measure of focus */
    double left = fmax(crop.x, 0), top = fmax(crop.y, 0);
    double right = fmin(crop.x + crop.width, im->width), bottom = fmin(crop.y + crop.height, im->height);
    if (!(right - left >= 4 && bottom - top >= 4)) return 0;
    int x0 = (int)left, y0 = (int)top, w = (int)(right - left), h = (int)(bottom - top);
    float *g = malloc((size_t)S * S * sizeof *g);
    if (!g) return 0;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int sx = x0 + x * w / S, sy = y0 + y * h / S;
            if (sx >= im->width) sx = im->width - 1;
            if (sy >= im->height) sy = im->height - 1;
            const uint8_t *p = im->rgb + ((size_t)sy * im->width + sx) * 3;
            g[y * S + x] = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
        }
    double sum = 0, sum2 = 0;
    int n = 0;
    for (int y = 1; y < S - 1; y++)
        for (int x = 1; x < S - 1; x++) {
            double l = g[(y - 1) * S + x] + g[(y + 1) * S + x] + g[y * S + x - 1] + g[y * S + x + 1] - 4 * g[y * S + x];
            sum += l, sum2 += l * l, n++;
        }
    free(g);
    double mean = sum / n;
    return (float)(sum2 / n - mean * mean);
}

/* Yaw proxy from landmarks: the nose tip's offset from the eyes' midpoint, in inter-eye units
 * (0 frontal, about 0.5 at a three-quarter view). */
static float yaw(const fid_face *f) {
    double lx = 0, rx = 0, ly = 0, ry = 0;
    for (int i = 0; i < 6; i++)
        lx += f->landmarks[36 + i].x, ly += f->landmarks[36 + i].y;
    for (int i = 0; i < 6; i++)
        rx += f->landmarks[42 + i].x, ry += f->landmarks[42 + i].y;
    lx /= 6, rx /= 6, ly /= 6, ry /= 6;
    double eye = hypot(rx - lx, ry - ly);
    if (eye < 1) return 1;
    return (float)fabs((f->landmarks[30].x - (lx + rx) / 2) / eye);
}

/* The descriptor's square as a picture (--save-crops), grey where it leaves the image. */
static fid_image *crop_of(const fid_image *im, fid_box b) {
    if (!(b.width >= 1 && b.height >= 1 && b.width <= 16384 && b.height <= 16384)) return NULL;
    return fid__image_cut(NULL, im, (int)floorf(b.x), (int)floorf(b.y), (int)lroundf(b.width), (int)lroundf(b.height));
}

static void keep(kept *k, const float *descriptor, int dim, float q, const fid_face *face, const fid_image *im) {
    memcpy(k->descriptor, descriptor, (size_t)dim * sizeof(float));
    k->quality = q;
    k->face = *face;
    fid_image_free(k->crop);
    k->crop = crop_of(im, face->crop);
}

/* Landmarks the network produces on a non-face (a detector's false positive) rarely form a face:
 * eyes level-ish and apart, nose between and below them, mouth below the nose. */
static int plausible(const fid_face *f) {
    double lx = 0, ly = 0, rx = 0, ry = 0;
    for (int i = 0; i < 6; i++)
        lx += f->landmarks[36 + i].x / 6, ly += f->landmarks[36 + i].y / 6;
    for (int i = 0; i < 6; i++)
        rx += f->landmarks[42 + i].x / 6, ry += f->landmarks[42 + i].y / 6;
    double eye = hypot(rx - lx, ry - ly);
    if (!(eye > 0.2 * f->box.width && eye < 0.7 * f->box.width && rx > lx)) return 0;
    /* in the eyes' frame (u along the eye line, v down the face), so a head tilted to the side (up
     * to 45 degrees of roll: a leaning head in a photo) is judged as an upright one */
    double cu = (rx - lx) / eye, cv = (ry - ly) / eye, ox = (lx + rx) / 2, oy = (ly + ry) / 2;
    if (fabs(cv) > 0.71) return 0;
#define U(p) (((p).x - ox) * cu + ((p).y - oy) * cv)
#define V(p) (-((p).x - ox) * cv + ((p).y - oy) * cu)
    double mv = 0;
    for (int i = 48; i < 68; i++)
        mv += V(f->landmarks[i]) / 20;
    double nu = U(f->landmarks[30]), nv = V(f->landmarks[30]);
#undef U
#undef V
    return nv > 0 && mv > nv && fabs(nu) < 0.7 * eye && mv < 2.0 * eye;
}

static float distance(const float *a, const float *b, int dim) {
    double s = 0;
    for (int i = 0; i < dim; i++)
        s += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    return (float)sqrt(s);
}

/* Keeps the described face in e->scratch with quality q unless a near-duplicate or max_samples
 * better samples are kept already. */
static fid_status keep_sample(fid_enrollment *e, const fid_image *im, const char *source, const fid_face *face,
                              float q, fid_enroll_verdict *v) {
    int dup = -1;
    for (int i = 0; i < e->n && dup < 0; i++)
        if (distance(e->samples[i].descriptor, e->scratch, e->dim) < e->p.duplicate_distance) dup = i;
    if (dup >= 0) {
        *v = FID_ENROLL_DUPLICATE, e->stats.duplicates++;
        if (q > e->samples[dup].quality) /* the sharper twin replaces the other */
            keep(&e->samples[dup], e->scratch, e->dim, q, face, im);
        return FID_OK;
    }
    int slot = e->n;
    if (e->n == e->p.max_samples) { /* full: replace the worst if this one is better */
        slot = 0;
        for (int i = 1; i < e->n; i++)
            if (e->samples[i].quality < e->samples[slot].quality) slot = i;
        if (e->samples[slot].quality >= q) slot = -1;
    } else if (e->n == e->cap) {
        int cap = e->cap ? e->cap * 2 : 16;
        kept *grown = realloc(e->samples, (size_t)cap * sizeof *grown);
        if (!grown) return fid__fail(FID_ERR_NO_MEMORY, "enrollment: out of memory");
        e->samples = grown;
        e->cap = cap;
    }
    if (slot == e->n) {
        memset(&e->samples[slot], 0, sizeof e->samples[slot]);
        e->samples[slot].descriptor = malloc((size_t)e->dim * sizeof(float));
        if (!e->samples[slot].descriptor) return fid__fail(FID_ERR_NO_MEMORY, "enrollment: out of memory");
        e->n++;
    }
    if (slot < 0) {
        *v = FID_ENROLL_NOT_BEST, e->stats.not_best++;
        return FID_OK;
    }
    keep(&e->samples[slot], e->scratch, e->dim, q, face, im);
    free(e->samples[slot].source);
    e->samples[slot].source = source ? strdup(source) : NULL;
    *v = FID_ENROLL_KEPT, e->stats.accepted++;
    return FID_OK;
}

/* A video frame's faces, the cheap way first: the whole frame, and the face chosen in the
 * previous sampled frame looked for where it was (one mosaic pass); the tiled scan of the whole
 * frame (20 BlazeFace passes at 720p, 3/4 of enrolling a clip) only when that finds nothing.
 * A face that is followed across a clip is the same face either way. */
static int detect_video(fid_enrollment *e, const fid_image *im, const char *source, fid_detection *dets, int cap,
                        fid_status *st) {
    if (e->have_last && !strncmp(e->last_source, source ? source : "", sizeof e->last_source - 1)) {
        fid__scan_plan plan = {.small = &e->last, .n_small = 1, .follow = &e->last, .n_follow = 1};
        int n = fid__detector_run_plan(e->detector, im, &plan, dets, cap, st);
        if (n != 0) return n;
    }
    return fid_detector_run(e->detector, im, dets, cap, st);
}

static fid_status add(fid_enrollment *e, const fid_image *im, const char *source, const fid_enroll_gates *g, int force,
                      int video, fid_enroll_report *r) {
    memset(r, 0, sizeof *r);
    r->gate = "";
    r->verdict = FID_ENROLL_NO_FACE;
    if (!e || !im) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_enrollment_add: NULL argument");
    e->stats.frames++;
    fid_detection dets[64];
    fid_status st;
    int n = video ? detect_video(e, im, source, dets, 64, &st) : fid_detector_run(e->detector, im, dets, 64, &st);
    if (n < 0) return st;
    if (n > 64) n = 64;
    r->faces = n;
    if (n > 1) e->stats.multi_face_frames++;
    int best = -1;
    for (int i = 0; i < n; i++)
        if (best < 0 || dets[i].box.width * dets[i].box.height > dets[best].box.width * dets[best].box.height) best = i;
    e->have_last = video && best >= 0;
    if (best < 0) {
        e->stats.no_face++;
        return FID_OK;
    }
    if (video) e->last = dets[best].box, snprintf(e->last_source, sizeof e->last_source, "%s", source ? source : "");
    r->box = dets[best].box, r->score = dets[best].score;
    /* the first gate that refuses, checked in the order of their cost */
    float size = fminf(dets[best].box.width, dets[best].box.height);
    fid_enroll_verdict refused = FID_ENROLL_KEPT;
    if (size < g->min_face_size)
        refused = FID_ENROLL_TOO_SMALL, r->gate = "face size", r->value = size, r->limit = (float)g->min_face_size;
    else if (dets[best].score < g->min_score)
        refused = FID_ENROLL_LOW_SCORE, r->gate = "detector score", r->value = dets[best].score, r->limit = g->min_score;
    fid_face face;
    float sharp = 0, turn = 0;
    if (refused == FID_ENROLL_KEPT || force) {
        if ((st = fid_embedder_describe(e->embedder, im, &dets[best], &face, e->scratch)) != FID_OK) return st;
        sharp = sharpness(im, face.crop), turn = yaw(&face);
        r->sharpness = sharp, r->turn = turn;
        if (refused == FID_ENROLL_KEPT) {
            if (!plausible(&face))
                refused = FID_ENROLL_NOT_A_FACE, r->gate = "landmarks";
            else if (sharp < g->min_sharpness)
                refused = FID_ENROLL_BLURRY, r->gate = "sharpness", r->value = sharp, r->limit = g->min_sharpness;
            else if (turn > g->max_yaw)
                refused = FID_ENROLL_POSE, r->gate = "turn", r->value = turn, r->limit = g->max_yaw;
        }
    }
    if (refused != FID_ENROLL_KEPT && !force) {
        r->verdict = refused;
        switch (refused) {
        case FID_ENROLL_TOO_SMALL: e->stats.too_small++; break;
        case FID_ENROLL_LOW_SCORE: e->stats.low_score++; break;
        case FID_ENROLL_NOT_A_FACE: e->stats.not_a_face++; break;
        case FID_ENROLL_BLURRY: e->stats.blurry++; break;
        default: e->stats.pose++; break;
        }
        return FID_OK;
    }
    r->forced = refused != FID_ENROLL_KEPT;
    /* quality: detector confidence, focus (saturating), frontal-ness; a forced sample ranks low */
    float q = dets[best].score * fminf(1.0f, sharp / (4 * fmaxf(g->min_sharpness, 1e-3f))) * fmaxf(0.01f, 1 - turn);
    if (r->forced) q *= 0.01f;
    return keep_sample(e, im, source, &face, q, &r->verdict);
}

fid_status fid_enrollment_add(fid_enrollment *e, const fid_image *im, const char *source, fid_enroll_verdict *verdict) {
    if (!e) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_enrollment_add: NULL argument");
    fid_enroll_gates g = {e->p.min_face_size, e->p.min_score, e->p.min_sharpness, e->p.max_yaw};
    fid_enroll_report r;
    fid_status st = add(e, im, source, &g, 0, 1, &r);
    if (verdict) *verdict = r.verdict;
    return st;
}

fid_status fid_enrollment_add_photo(fid_enrollment *e, const fid_image *im, const char *source, int force,
                                    fid_enroll_report *report) {
    if (!e) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_enrollment_add_photo: NULL argument");
    fid_enroll_report r;
    fid_status st = add(e, im, source, &e->p.photo, force, 0, &r);
    if (report) *report = r;
    return st;
}

int fid_enrollment_count(const fid_enrollment *e) { return e ? e->n : 0; }

fid_status fid_enrollment_sample(const fid_enrollment *e, int i, float *descriptor, float *quality, fid_face *face,
                                 const char **source, const fid_image **crop) {
    if (!e || i < 0 || i >= e->n) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_enrollment_sample: no sample %d", i);
    if (descriptor) memcpy(descriptor, e->samples[i].descriptor, (size_t)e->dim * sizeof(float));
    if (quality) *quality = e->samples[i].quality;
    if (face) *face = e->samples[i].face;
    if (source) *source = e->samples[i].source;
    if (crop) *crop = e->samples[i].crop;
    return FID_OK;
}
