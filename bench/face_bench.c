/* Face pipeline speed on one 640x480 image (a sample photo scaled down, decoded by faceid):
 * each detector, and detect + landmarks + descriptor for one face. Median of N runs.
 *   face_bench IMAGE [--threads N] [--runs N] [--json] [--save-input RAW_RGB_FILE] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faceid.h"
#include "image/image.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp);
    return t[n / 2];
}

int main(int argc, char **argv) {
    fid_bounded_spin_wait(argv);
    if (argc < 2) {
        fprintf(stderr, "usage: face_bench IMAGE [--threads N] [--runs N] [--json]\n");
        return 2;
    }
    int threads = 1, runs = 30, json = 0;
    const char *save = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--save-input") && i + 1 < argc)
            save = argv[++i];
    }
    fid_status st;
    fid_image *src = fid_image_load(argv[1], &st);
    if (!src) {
        fprintf(stderr, "face_bench: %s\n", fid_last_error());
        return 1;
    }
    /* 640x480 (4:3 crop of the photo, resized with the same bilinear as the pipeline) */
    int cw = src->width, ch = src->width * 3 / 4;
    if (ch > src->height) ch = src->height, cw = ch * 4 / 3;
    float *crop = fid__image_crop_float(src, (src->width - cw) / 2, (src->height - ch) / 2, cw, ch);
    float *small = malloc(640 * 480 * 3 * sizeof *small);
    fid__resize_bilinear(crop, ch, cw, small, 480, 640);
    fid_image *im = fid__image_new(640, 480);
    for (int i = 0; i < 640 * 480 * 3; i++)
        im->rgb[i] = (uint8_t)(small[i] + 0.5f);
    free(crop), free(small);
    if (save) { /* the exact pixels, for the peers (bench/peers.js, bench/haar_opencv.py) */
        FILE *f = fopen(save, "wb");
        if (!f || fwrite(im->rgb, 1, 640 * 480 * 3, f) != 640 * 480 * 3) {
            fprintf(stderr, "face_bench: cannot write %s\n", save);
            return 1;
        }
        fclose(f);
    }
    double *t = malloc((size_t)runs * sizeof *t);
    const char *names[] = {"ssd", "tiny", "blazeface", "haar"};
    fid_detector_kind kinds[] = {FID_DETECTOR_SSD_MOBILENETV1, FID_DETECTOR_TINY_FACE, FID_DETECTOR_BLAZEFACE,
                                 FID_DETECTOR_HAAR};
    if (json) printf("{\"threads\":%d,\"detectors\":{", threads);
    for (int k = 0; k < 4; k++) {
        fid_detector_params p = fid_detector_default_params(kinds[k]);
        p.threads = threads;
        p.tile_face = 0; /* one pass over the whole frame: the work the peers do */
        fid_detector *d = fid_detector_create(&p, &st);
        fid_detection dets[32];
        int n = 0;
        for (int i = 0; i < 3; i++)
            n = fid_detector_run(d, im, dets, 32, &st);
        for (int i = 0; i < runs; i++) {
            double t0 = now_ms();
            fid_detector_run(d, im, dets, 32, &st);
            t[i] = now_ms() - t0;
        }
        double m = median(t, runs);
        if (json)
            printf("%s\"%s\":{\"ms\":%.3f,\"faces\":%d}", k ? "," : "", names[k], m, n);
        else
            printf("detector %-10s threads %d: %7.3f ms (%6.1f fps), %d faces\n", names[k], threads, m, 1000 / m, n);
        fid_detector_free(d);
    }
    /* Full pipeline for the largest face: SSD + landmarks + descriptor. */
    fid_detector_params p = fid_detector_default_params(FID_DETECTOR_SSD_MOBILENETV1);
    p.threads = threads;
    p.tile_face = 0;
    fid_detector *d = fid_detector_create(&p, &st);
    fid_embedder_params ep = fid_embedder_default_params();
    ep.threads = threads;
    fid_embedder *e = fid_embedder_create(&ep, &st);
    fid_detection dets[32];
    fid_face face;
    float desc[128];
    for (int i = 0; i < runs + 3; i++) {
        double t0 = now_ms();
        int n = fid_detector_run(d, im, dets, 32, &st);
        if (n > 0) fid_embedder_describe(e, im, &dets[0], &face, desc);
        if (i >= 3) t[i - 3] = now_ms() - t0;
    }
    double full = median(t, runs);
    for (int i = 0; i < runs + 3; i++) {
        double t0 = now_ms();
        fid_embedder_describe(e, im, &dets[0], &face, desc);
        if (i >= 3) t[i - 3] = now_ms() - t0;
    }
    double describe = median(t, runs);
    if (json)
        printf("},\"pipeline_ms\":%.3f,\"describe_ms\":%.3f}\n", full, describe);
    else
        printf("pipeline (ssd + landmarks + descriptor, 1 face) threads %d: %.3f ms; landmarks + descriptor alone %.3f "
               "ms\n",
               threads, full, describe);
    fid_detector_free(d);
    fid_embedder_free(e);
    fid_image_free(im);
    fid_image_free(src);
    free(t);
    return 0;
}
