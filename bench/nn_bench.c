/* Latency of one model: median over timed runs after warm-up, and achieved GFLOP/s.
 *   nn_bench MODEL [--threads N] [--batch N] [--runs N] [--precision fp32|bf16|int8|auto] [--describe] [--json]
 *            [--calibrate faces|scenes|FILE.f32] [--norm MEAN,SCALE]
 * --calibrate: the inputs int8's steps and AUTO's gate use: the calibration faces or scenes at the
 * net's input side (pixel - MEAN) * SCALE (default 0,1), or raw float32 samples from a file.
 * Prints one line (or one JSON object with --json); --describe first lists each primitive's
 * oneDNN implementation (which ISA it runs on) on stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "face/calibration.h"
#include "util/file.h"
#include "faceid.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    fid_bounded_spin_wait(argv);
    if (argc == 2 && !strcmp(argv[1], "--isa")) {
        printf("%s\n", fid_cpu_isa());
        return 0;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: nn_bench MODEL [--threads N] [--batch N] [--runs N] [--precision P] [--describe] "
                        "[--json]\n");
        return 2;
    }
    fid_runner_params rp = fid_runner_default_params();
    int runs = 30, json = 0, describe = 0;
    const char *calibrate = NULL;
    fid__input_norm norm = {{0, 0, 0}, 1, 0};
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            rp.threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            rp.batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else if (!strcmp(argv[i], "--describe"))
            describe = 1;
        else if (!strcmp(argv[i], "--calibrate") && i + 1 < argc)
            calibrate = argv[++i];
        else if (!strcmp(argv[i], "--norm") && i + 1 < argc &&
                 sscanf(argv[++i], "%f,%f", &norm.mean[0], &norm.scale) == 2)
            norm.mean[1] = norm.mean[2] = norm.mean[0];
        else if (!strcmp(argv[i], "--precision") && i + 1 < argc) {
            if (fid_precision_from_name(argv[++i], &rp.precision) != FID_OK) {
                fprintf(stderr, "nn_bench: %s\n", fid_last_error());
                return 2;
            }
        }
        else {
            fprintf(stderr, "nn_bench: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (runs < 1) runs = 1;
    fid_status st;
    fid_net *net = fid_net_load(argv[1], NULL, &st);
    float *calib = NULL;
    if (net && calibrate) {
        int64_t d[4];
        fid_net_input_shape(net, 0, d);
        size_t per = (size_t)d[1] * (size_t)d[2] * (size_t)d[3];
        if (!strcmp(calibrate, "faces") || !strcmp(calibrate, "scenes")) {
            calib = fid__calibration_inputs((int)d[1], &norm, calibrate[0] == 's', 16, &rp.n_calibration);
        } else { /* raw float32 samples */
            unsigned char *data = NULL;
            size_t bytes = 0;
            if (fid__read_file(calibrate, (uint64_t)1 << 31, &data, &bytes) == FID_OK && bytes &&
                bytes % (per * sizeof(float)) == 0)
                rp.n_calibration = (int)(bytes / (per * sizeof(float)));
            calib = (float *)data;
        }
        if (!rp.n_calibration) {
            fprintf(stderr, "nn_bench: %s: no calibration inputs for this net\n", calibrate);
            free(calib);
            fid_net_free(net);
            return 2;
        }
        rp.calibration = calib;
    }
    fid_runner *r = net ? fid_runner_create(net, &rp, &st) : NULL;
    free(calib);
    if (!r) {
        fprintf(stderr, "nn_bench: %s\n", fid_last_error());
        fid_net_free(net);
        return 1;
    }
    const char *note;
    fid_precision prec = fid_runner_precision(r, &note);
    if (describe) {
        char *d = fid_runner_describe(r);
        fprintf(stderr, "%s", d ? d : "");
        free(d);
    }
    size_t n;
    float *in = fid_runner_input(r, 0, &n);
    for (size_t i = 0; i < n; i++)
        in[i] = (float)((i * 2654435761u) % 256);
    for (int i = 0; i < 3; i++)
        fid_runner_run(r);
    double *t = malloc((size_t)runs * sizeof *t);
    for (int i = 0; i < runs; i++) {
        double t0 = now_ms();
        fid_runner_run(r);
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    double median = t[runs / 2], gflops = fid_runner_flops(r) / 1e9;
    if (json)
        printf("{\"model\":\"%s\",\"threads\":%d,\"batch\":%d,\"precision\":\"%s\",\"median_ms\":%.4f,"
               "\"min_ms\":%.4f,\"gflop\":%.5f}\n",
               argv[1], rp.threads, rp.batch, fid_precision_name(prec), median, t[0], gflops);
    else
        printf("%-60s threads %d batch %d %s: median %.3f ms (min %.3f), %.1f GFLOP/s\n  %s\n", argv[1], rp.threads,
               rp.batch, fid_precision_name(prec), median, t[0], gflops / (median / 1e3), note);
    free(t);
    fid_runner_free(r);
    fid_net_free(net);
    return 0;
}
