/* The face pipeline against face-api itself (tests/oracle/faces.js) on the six sample photos of
 * the face-api package (22 faces), decoded by the same libjpeg-turbo on both sides:
 * detections IoU >= 0.9 (SSD and Tiny), landmarks within 1.5 px, descriptors cosine >= 0.999. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "faceid.h"

static double iou(fid_box a, const double *b) {
    double x0 = fmax(a.x, b[0]), y0 = fmax(a.y, b[1]);
    double x1 = fmin(a.x + a.width, b[0] + b[2]), y1 = fmin(a.y + a.height, b[1] + b[3]);
    double inter = fmax(0, x1 - x0) * fmax(0, y1 - y0);
    return inter / ((double)a.width * a.height + b[2] * b[3] - inter);
}

static void read_box(json_t *a, double *b) {
    for (int i = 0; i < 4; i++)
        b[i] = json_number_value(json_array_get(a, (size_t)i));
}

/* Index of the golden face (array `faces`) best overlapping `box`, with its IoU. */
static int match(json_t *faces, fid_box box, double *best_iou) {
    int best = -1;
    *best_iou = 0;
    for (size_t i = 0; i < json_array_size(faces); i++) {
        double b[4];
        read_box(json_object_get(json_array_get(faces, i), "box"), b);
        double v = iou(box, b);
        if (v > *best_iou) *best_iou = v, best = (int)i;
    }
    return best;
}

static double worst_landmark, worst_cosine = 1, worst_iou = 1;
static int faces_checked;

static void check_image(const char *golden_path, fid_detector *ssd, fid_detector *tiny, fid_embedder *emb) {
    json_error_t err;
    json_t *g = json_load_file(golden_path, 0, &err);
    CHECK(g != NULL, "%s: %s", golden_path, err.text);
    if (!g) return;
    char path[4096];
    const char *name = json_string_value(json_object_get(g, "image"));
    snprintf(path, sizeof path, "%s/samples/%s", fid_model_dir(), name);
    fid_status st;
    fid_image *im = fid_image_load(path, &st);
    CHECK(im != NULL, "%s", fid_last_error());
    if (!im) {
        json_decref(g);
        return;
    }
    CHECK(fid_image_width(im) == json_integer_value(json_object_get(g, "width")) &&
              fid_image_height(im) == json_integer_value(json_object_get(g, "height")),
          "%s: size differs from the oracle's", name);
    fid_detection dets[64];
    json_t *want = json_object_get(g, "ssd");
    int n = fid_detector_run(ssd, im, dets, 64, &st);
    CHECK(n == (int)json_array_size(want), "%s: SSD found %d faces, face-api %zu", name, n, json_array_size(want));
    float *desc = malloc((size_t)fid_embedder_dim(emb) * sizeof *desc);
    for (int i = 0; i < n && i < 64; i++) {
        double v;
        int k = match(want, dets[i].box, &v);
        CHECK(k >= 0 && v >= 0.9, "%s: SSD face %d has IoU %.3f with face-api's", name, i, v);
        if (k < 0) continue;
        worst_iou = fmin(worst_iou, v);
        json_t *wf = json_array_get(want, (size_t)k);
        CHECK(fabs(dets[i].score - json_number_value(json_object_get(wf, "score"))) < 1e-3, "%s: score %.5f vs %.5f",
              name, dets[i].score, json_number_value(json_object_get(wf, "score")));
        fid_face face;
        st = fid_embedder_describe(emb, im, &dets[i], &face, desc);
        CHECK(st == FID_OK, "%s: describe: %s", name, fid_last_error());
        double lm = 0;
        json_t *wl = json_object_get(wf, "landmarks");
        for (int p = 0; p < 68; p++) {
            json_t *pt = json_array_get(wl, (size_t)p);
            lm = fmax(lm, hypot(face.landmarks[p].x - json_number_value(json_array_get(pt, 0)),
                                face.landmarks[p].y - json_number_value(json_array_get(pt, 1))));
        }
        worst_landmark = fmax(worst_landmark, lm);
        CHECK(lm <= 1.5, "%s: face %d landmarks off by %.2f px", name, i, lm);
        double ab[4];
        read_box(json_object_get(wf, "aligned"), ab);
        CHECK(iou(face.aligned, ab) >= 0.9, "%s: aligned box IoU %.3f", name, iou(face.aligned, ab));
        json_t *wd = json_object_get(wf, "descriptor");
        double dot = 0, na = 0, nb = 0;
        for (int d = 0; d < fid_embedder_dim(emb); d++) {
            double w = json_number_value(json_array_get(wd, (size_t)d));
            dot += desc[d] * w, na += (double)desc[d] * desc[d], nb += w * w;
        }
        double cosine = dot / sqrt(na * nb);
        worst_cosine = fmin(worst_cosine, cosine);
        CHECK(cosine >= 0.999, "%s: face %d descriptor cosine %.5f", name, i, cosine);
        faces_checked++;
    }
    free(desc);
    json_t *want_tiny = json_object_get(g, "tiny");
    n = fid_detector_run(tiny, im, dets, 64, &st);
    CHECK(n == (int)json_array_size(want_tiny), "%s: tiny found %d faces, face-api %zu", name, n,
          json_array_size(want_tiny));
    for (int i = 0; i < n && i < 64; i++) {
        double v;
        match(want_tiny, dets[i].box, &v);
        CHECK(v >= 0.9, "%s: tiny face %d has IoU %.3f with face-api's", name, i, v);
        worst_iou = fmin(worst_iou, v);
    }
    fid_image_free(im);
    json_decref(g);
}

/* Haar cascade against OpenCV's detectMultiScale with the same settings (tests/oracle/haar.py). */
static void check_haar(const char *golden_path) {
    json_error_t err;
    json_t *g = json_load_file(golden_path, 0, &err);
    CHECK(g != NULL, "%s: %s", golden_path, err.text);
    if (!g) return;
    fid_status st;
    fid_detector_params hp = fid_detector_default_params(FID_DETECTOR_HAAR);
    fid_detector *haar = fid_detector_create(&hp, &st);
    CHECK(haar != NULL, "Haar detector: %s", fid_last_error());
    const char *name;
    json_t *want;
    double worst = 1;
    int total = 0;
    json_object_foreach(json_object_get(g, "faces"), name, want) {
        char path[4096];
        snprintf(path, sizeof path, "%s/samples/%s", fid_model_dir(), name);
        fid_image *im = fid_image_load(path, &st);
        fid_detection dets[64];
        int n = haar && im ? fid_detector_run(haar, im, dets, 64, &st) : -1;
        CHECK(n == (int)json_array_size(want), "%s: Haar found %d faces, OpenCV %zu", name, n, json_array_size(want));
        for (int i = 0; i < n && i < 64; i++) {
            double best = 0;
            for (size_t k = 0; k < json_array_size(want); k++) {
                double b[4];
                read_box(json_array_get(want, k), b);
                best = fmax(best, iou(dets[i].box, b));
            }
            CHECK(best >= 0.85, "%s: Haar face %d has IoU %.3f with OpenCV's", name, i, best);
            worst = fmin(worst, best);
            total++;
        }
        fid_image_free(im);
    }
    printf("haar: %d faces, worst IoU with OpenCV %.4f\n", total, worst);
    fid_detector_free(haar);
    json_decref(g);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/golden/faces";
    fid_status st;
    fid_detector_params sp = fid_detector_default_params(FID_DETECTOR_SSD_MOBILENETV1);
    fid_detector_params tp = fid_detector_default_params(FID_DETECTOR_TINY_FACE);
    sp.tile_face = tp.tile_face = 0; /* face-api scans the whole frame only */
    /* the goldens are face-api's fp32 numbers: the exact path (bf16 has its own test) */
    sp.precision = tp.precision = FID_PRECISION_FP32;
    fid_embedder_params ep = fid_embedder_default_params();
    ep.precision = FID_PRECISION_FP32;
    ep.alignment = FID_ALIGN_DETECTOR; /* ... and face-api's alignment: landmarks from the box */
    fid_detector *ssd = fid_detector_create(&sp, &st), *tiny = fid_detector_create(&tp, &st);
    fid_embedder *emb = fid_embedder_create(&ep, &st);
    CHECK(ssd && tiny && emb, "cannot create the pipeline: %s", fid_last_error());
    if (!ssd || !tiny || !emb) return check_summary();
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    char *names[64];
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < 64)
        if (strstr(e->d_name, ".json")) names[n++] = strdup(e->d_name);
    if (d) closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        check_image(path, ssd, tiny, emb);
        free(names[i]);
    }
    CHECK(faces_checked == 22, "checked %d faces, the samples hold 22", faces_checked);
    if (argc > 2) check_haar(argv[2]);
    printf("faces %d: worst detection IoU %.4f, worst landmark error %.3f px, worst descriptor cosine %.6f\n",
           faces_checked, worst_iou, worst_landmark, worst_cosine);
    fid_detector_free(ssd);
    fid_detector_free(tiny);
    fid_embedder_free(emb);
    return check_summary();
}
