/* Every shipped model against golden outputs of the original JS implementation
 * (tests/oracle/golden.js): cosine >= 0.9999 and a bounded max abs difference, at 1 and 2
 * threads, and at batch 2 (each batch slot must match). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "compare.h"
#include "face/ssd.h"
#include "faceid.h"
#include "synth_image.h"

static float *read_f32(const char *path, size_t count) {
    FILE *f = fopen(path, "rb");
    float *d = malloc(count * sizeof *d);
    if (!f || !d || fread(d, sizeof *d, count, f) != count) {
        free(d);
        d = NULL;
    }
    if (f) fclose(f);
    return d;
}

/* Output `name` of the runner for batch slot b, decoding SSD outputs like face-api does. */
static const float *net_output(fid_net *net, fid_runner *r, const char *name, int b, size_t count, float *scratch) {
    int n_out = fid_net_output_count(net);
    int64_t dims[4];
    int rank;
    if (!strcmp(name, "boxes") || !strcmp(name, "scores")) {
        const float *enc = NULL, *cls = NULL, *anchors = NULL;
        for (int i = 0; i < n_out; i++) {
            const float *p = fid_runner_output(r, i, dims, &rank);
            const char *on = fid_net_output_name(net, i);
            if (!strcmp(on, "box_encodings")) enc = p + (size_t)b * dims[1] * 4;
            if (!strcmp(on, "class_predictions")) cls = p + (size_t)b * dims[1] * 3;
            if (!strcmp(on, "anchors")) anchors = p;
        }
        if (!enc || !cls || !anchors) return NULL;
        int64_t n = !strcmp(name, "scores") ? (int64_t)count : (int64_t)count / 4;
        float *boxes = malloc((size_t)n * 4 * sizeof *boxes), *scores = malloc((size_t)n * sizeof *scores);
        fid__ssd_decode(enc, cls, anchors, n, boxes, scores);
        memcpy(scratch, !strcmp(name, "scores") ? scores : boxes, count * sizeof *scratch);
        free(boxes);
        free(scores);
        return scratch;
    }
    for (int i = 0; i < n_out; i++)
        if (!strcmp(fid_net_output_name(net, i), name)) {
            const float *p = fid_runner_output(r, i, dims, &rank);
            return p + (size_t)b * count;
        }
    return NULL;
}

static void run_case(const char *golden_dir, const char *json_name) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", golden_dir, json_name);
    json_error_t err;
    json_t *meta = json_load_file(path, 0, &err);
    CHECK(meta != NULL, "%s: %s", path, err.text);
    if (!meta) return;
    const char *model = json_string_value(json_object_get(meta, "model"));
    json_t *input = json_object_get(meta, "input");
    int size = (int)json_integer_value(json_array_get(json_object_get(input, "shape"), 1));
    uint32_t seed = (uint32_t)json_integer_value(json_object_get(input, "seed"));
    char model_path[4096];
    snprintf(model_path, sizeof model_path, "%s/%s", fid_model_dir(), model);
    fid_status st;
    fid_net *net = fid_net_load(model_path, NULL, &st);
    CHECK(net != NULL, "%s: %s", model_path, fid_last_error());
    if (!net) {
        json_decref(meta);
        return;
    }
    size_t image_size = (size_t)size * size * 3;
    float *image = malloc(image_size * sizeof *image);
    synth_image(image, size, size, seed);
    json_t *scale_j = json_object_get(input, "scale");
    float scale = scale_j ? (float)json_number_value(scale_j) : 1.0f;
    /* Same float op as the oracle's v * scale (scale rounded to float first there too). */
    for (size_t i = 0; i < image_size; i++)
        image[i] = (float)((double)image[i] * (double)scale);
    static const fid_runner_params configs[] = {
        {.batch = 1, .threads = 1}, {.batch = 1, .threads = 2}, {.batch = 2, .threads = 1}};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        fid_runner *r = fid_runner_create(net, &configs[c], &st);
        CHECK(r != NULL, "%s: runner: %s", model, fid_last_error());
        if (!r) continue;
        size_t count;
        float *in = fid_runner_input(r, 0, &count);
        CHECK(count == image_size * (size_t)configs[c].batch, "%s: input size %zu", model, count);
        for (int b = 0; b < configs[c].batch; b++)
            memcpy(in + (size_t)b * image_size, image, image_size * sizeof *in);
        /* An adaptive 2-thread runner runs its 1-thread plan second (its first probe): check both. */
        for (int run = 0; run < configs[c].threads; run++) {
            st = fid_runner_run(r);
            CHECK(st == FID_OK, "%s: run: %s", model, fid_last_error());
            const char *key;
            json_t *out;
            json_object_foreach(json_object_get(meta, "outputs"), key, out) {
                size_t n = 1;
                json_t *dim;
                size_t k;
                json_array_foreach(json_object_get(out, "shape"), k, dim) n *= (size_t)json_integer_value(dim);
                char f32[4096];
                snprintf(f32, sizeof f32, "%s/%s", golden_dir, json_string_value(json_object_get(out, "file")));
                float *want = read_f32(f32, n), *scratch = malloc(n * sizeof *scratch);
                CHECK(want != NULL, "%s: cannot read %zu floats", f32, n);
                for (int b = 0; want && b < configs[c].batch; b++) {
                    const float *got = net_output(net, r, key, b, n, scratch);
                    CHECK(got != NULL, "%s: no output '%s'", model, key);
                    if (!got) continue;
                    diff d = compare(got, want, n);
                    double tol = 1e-3 * (d.max_ref > 1 ? d.max_ref : 1);
                    printf(
                        "%-28s %-22s threads %d run %d batch %d slot %d: cosine %.7f  max|diff| %.3g (max|ref| %.3g)\n",
                        json_name, key, configs[c].threads, run + 1, configs[c].batch, b, d.cosine, d.max_abs,
                        d.max_ref);
                    CHECK(d.cosine >= 0.9999, "%s %s: cosine %.7f", model, key, d.cosine);
                    CHECK(d.max_abs <= tol, "%s %s: max abs diff %.3g > %.3g", model, key, d.max_abs, tol);
                }
                free(want);
                free(scratch);
            }
        }
        fid_runner_free(r);
    }
    free(image);
    fid_net_free(net);
    json_decref(meta);
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/golden";
    DIR *d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d) return check_summary();
    char *names[256];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && !strcmp(e->d_name + len - 5, ".json")) names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, by_name);
    CHECK(n >= 9, "expected goldens for 9 models in %s, found %d", dir, n);
    for (int i = 0; i < n; i++) {
        run_case(dir, names[i]);
        free(names[i]);
    }
    return check_summary();
}
