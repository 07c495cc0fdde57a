/* ONNX and Keras-h5 loaders against an independent implementation: random-weight models built by
 * tests/oracle/onnx_models.py (python3-onnx), reference outputs from OpenCV DNN. Every model at
 * 1 and 2 threads and batch 2; the keras-vggface .h5 (same weights as the ONNX ResNet-50) against
 * the ONNX path; broken files refused with a clear error.
 *   onnx_test MODEL_DIR */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compare.h"
#include "faceid.h"

static float *read_f32(const char *path, size_t *count) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    float *d = malloc((size_t)bytes);
    if (!d || fread(d, 1, (size_t)bytes, f) != (size_t)bytes) {
        free(d);
        d = NULL;
    }
    fclose(f);
    *count = (size_t)bytes / sizeof *d;
    return d;
}

/* Runs net on the oracle's input (NCHW unless the net takes it as it is) in every batch slot;
 * returns slot 0's output (malloc'ed) and checks the other slots equal it. */
static float *run(fid_net *net, int batch, int threads, const float *input, const int64_t *onnx_in, size_t *out_count) {
    fid_runner_params rp = fid_runner_default_params();
    rp.batch = batch;
    rp.threads = threads;
    fid_status st;
    fid_runner *r = fid_runner_create(net, &rp, &st);
    if (!r) {
        fprintf(stderr, "runner: %s\n", fid_last_error());
        return NULL;
    }
    int64_t d[4];
    int rank = fid_net_input_shape(net, 0, d);
    size_t count;
    float *in = fid_runner_input(r, 0, &count);
    int64_t per = (int64_t)count / batch;
    int as_is = rank == 4 && d[1] == onnx_in[1] && d[2] == onnx_in[2] && d[3] == onnx_in[3];
    for (int b = 0; b < batch; b++) {
        float *slot = in + b * per;
        if (rank != 4 || as_is) {
            memcpy(slot, input, (size_t)per * sizeof *slot);
        } else { /* NCHW -> NHWC */
            int64_t C = onnx_in[1], H = onnx_in[2], W = onnx_in[3];
            for (int64_t c = 0; c < C; c++)
                for (int64_t y = 0; y < H; y++)
                    for (int64_t x = 0; x < W; x++)
                        slot[(y * W + x) * C + c] = input[(c * H + y) * W + x];
        }
    }
    float *result = NULL;
    if (fid_runner_run(r) == FID_OK) { /* 4-D outputs come out NHWC: compared as NCHW */
        int64_t od[4];
        int orank;
        const float *out = fid_runner_output(r, 0, od, &orank);
        size_t n = 1;
        for (int i = 1; i < orank; i++)
            n *= (size_t)od[i];
        result = malloc(n * sizeof *result);
        if (orank == 4) {
            for (int64_t y = 0; y < od[1]; y++)
                for (int64_t x = 0; x < od[2]; x++)
                    for (int64_t c = 0; c < od[3]; c++)
                        result[(c * od[1] + y) * od[2] + x] = out[(y * od[2] + x) * od[3] + c];
        } else {
            memcpy(result, out, n * sizeof *result);
        }
        for (int b = 1; b < batch; b++)
            CHECK(!memcmp(out, out + b * n, n * sizeof *out), "batch slot %d differs from slot 0", b);
        *out_count = n;
    }
    fid_runner_free(r);
    return result;
}

static void model_case(const char *dir, const char *name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, name);
    json_t *meta = json_load_file(path, 0, NULL);
    CHECK(meta != NULL, "%s: no metadata", path);
    if (!meta) return;
    int64_t in_dims[4] = {1, 1, 1, 1};
    for (size_t i = 0; i < 4 && i < json_array_size(json_object_get(meta, "input")); i++)
        in_dims[i] = json_integer_value(json_array_get(json_object_get(meta, "input"), i));
    size_t n_in, n_ref;
    snprintf(path, sizeof path, "%s/%s.input.f32", dir, name);
    float *input = read_f32(path, &n_in);
    snprintf(path, sizeof path, "%s/%s.ref.f32", dir, name);
    float *ref = read_f32(path, &n_ref);
    snprintf(path, sizeof path, "%s/%s.onnx", dir, name);
    fid_status st;
    fid_net *net = fid_net_load(path, NULL, &st);
    CHECK(net != NULL, "%s: %s", path, fid_last_error());
    float *onnx_out = NULL;
    for (int threads = 1; net && input && ref && threads <= 2; threads++)
        for (int batch = 1; batch <= 2; batch++) {
            size_t n = 0;
            float *out = run(net, batch, threads, input, in_dims, &n);
            diff df = out ? compare(out, ref, n < n_ref ? n : n_ref) : (diff){0};
            double max_abs = df.max_abs, cos = df.cosine;
            CHECK(out && n == n_ref && cos >= 0.9999, "%s: threads %d batch %d: %zu values (want %zu), cosine %.7f",
                  name, threads, batch, n, n_ref, cos);
            if (threads == 1 && batch == 1) {
                printf("%-20s vs OpenCV DNN: cosine %.7f, max abs diff %.2e\n", name, cos, max_abs);
                onnx_out = out;
            } else {
                free(out);
            }
        }
    snprintf(path, sizeof path, "%s/%s.h5", dir, name);
    FILE *h5 = fopen(path, "rb");
    if (h5 && onnx_out) { /* the same weights through the keras-vggface architecture written in C */
        fclose(h5);
        fid_net *kn = fid_net_load(path, NULL, &st);
        CHECK(kn != NULL, "%s: %s", path, fid_last_error());
        size_t n = 0;
        float *out = kn ? run(kn, 1, 2, input, in_dims, &n) : NULL;
        diff df = out ? compare(out, onnx_out, n) : (diff){0};
        double max_abs = df.max_abs, cos = df.cosine;
        CHECK(out && n == n_ref && cos >= 0.99999, "%s.h5 vs .onnx: cosine %.7f", name, cos);
        printf("%-20s .h5 vs .onnx: cosine %.7f, max abs diff %.2e\n", name, cos, max_abs);
        free(out);
        fid_net_free(kn);
    }
    free(onnx_out);
    fid_net_free(net);
    free(input);
    free(ref);
    json_decref(meta);
}

/* A copy of `src` cut to `keep` bytes, or with `junk` written at offset. */
static void damaged_copy(const char *src, const char *dst, long keep, long junk_at) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    if (!in || !out) {
        if (in) fclose(in);
        if (out) fclose(out);
        return;
    }
    char buf[65536];
    long done = 0;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, in)) > 0 && (keep < 0 || done < keep)) {
        if (keep >= 0 && done + (long)got > keep) got = (size_t)(keep - done);
        if (junk_at >= done && junk_at < done + (long)got) memset(buf + (junk_at - done), 0xff, 64);
        fwrite(buf, 1, got, out);
        done += (long)got;
    }
    fclose(in);
    fclose(out);
}

static void expect_refused(const char *path, const char *needle) {
    fid_status st;
    fid_net *net = fid_net_load(path, NULL, &st);
    const char *msg = fid_last_error();
    CHECK(!net && st != FID_OK && strstr(msg, path) && (!needle || strstr(msg, needle)) && !strchr(msg, '\n'),
          "%s: want a one-line error naming the file%s%s, got '%s'", path, needle ? " and " : "", needle ? needle : "",
          net ? "(loaded)" : msg);
    fid_net_free(net);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: onnx_test MODEL_DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    model_case(dir, "vggface2_resnet50");
    model_case(dir, "arcface_small");
    model_case(dir, "ops");
    model_case(dir, "resize");
    char src[4096], dst[4096];
    snprintf(src, sizeof src, "%s/arcface_small.onnx", dir);
    snprintf(dst, sizeof dst, "%s/truncated.onnx", dir);
    damaged_copy(src, dst, 100000, -1);
    expect_refused(dst, NULL);
    snprintf(dst, sizeof dst, "%s/scrambled.onnx", dir);
    damaged_copy(src, dst, -1, 40);
    expect_refused(dst, NULL);
    snprintf(dst, sizeof dst, "%s/unsupported.onnx", dir);
    expect_refused(dst, "Hardmax");
    snprintf(src, sizeof src, "%s/vggface2_resnet50.h5", dir);
    snprintf(dst, sizeof dst, "%s/truncated.h5", dir);
    damaged_copy(src, dst, 1000000, -1);
    expect_refused(dst, NULL);
    snprintf(dst, sizeof dst, "%s/not_vggface.h5", dir);
    expect_refused(dst, "conv1/7x7_s2");
    return check_summary();
}
