#include "cli/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int fid_cli_detector_kind(const char *name, fid_detector_kind *kind) {
    static const struct {
        const char *name;
        fid_detector_kind kind;
    } kinds[] = {
        {"ssd", FID_DETECTOR_SSD_MOBILENETV1},
        {"tiny", FID_DETECTOR_TINY_FACE},
        {"blazeface", FID_DETECTOR_BLAZEFACE},
        {"haar", FID_DETECTOR_HAAR},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(name, kinds[i].name)) {
            *kind = kinds[i].kind;
            return 0;
        }
    fprintf(stderr, "faceid: unknown detector '%s' (ssd, tiny, blazeface or haar)\n", name);
    return -1;
}

/* --tile-face and --detector-size, shared by every command that detects (-1: the default) */
static struct {
    int tile_face, input_size;
} detector_opts = {-1, -1};

void fid_cli_default_tile_face(int px) {
    if (detector_opts.tile_face < 0) detector_opts.tile_face = px;
}

fid_detector *fid_cli_detector(const char *name, int threads, int min_face, float score) {
    fid_detector_kind kind;
    if (fid_cli_detector_kind(name, &kind)) return NULL;
    fid_detector_params p = fid_detector_default_params(kind);
    p.threads = threads;
    if (detector_opts.tile_face >= 0) p.tile_face = detector_opts.tile_face;
    if (detector_opts.input_size > 0) p.input_size = detector_opts.input_size;
    if (min_face) p.min_face_size = min_face;
    if (!isnan(score)) p.score_threshold = score;
    fid_status st;
    fid_detector *d = fid_detector_create(&p, &st);
    if (!d) fprintf(stderr, "faceid: %s\n", fid_last_error());
    return d;
}

static struct {
    char profile[64];
    const char *path;
    float mean[3], scale;
    int bgr, input_size;
} model_opts;

static int parse_floats(const char *s, float *out, int n) {
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(s, &end);
        if (end == s || (i < n - 1 ? *end != ',' : *end != 0)) return -1;
        s = end + 1;
    }
    return 0;
}

int fid_cli_model_option(int argc, char **argv, int *i) {
    const char *a = argv[*i], *next = *i + 1 < argc ? argv[*i + 1] : NULL;
    if (!strcmp(a, "--bgr")) return model_opts.bgr = 1;
    int takes = !strcmp(a, "--model") || !strcmp(a, "--mean") || !strcmp(a, "--scale") || !strcmp(a, "--input-size") ||
                !strcmp(a, "--tile-face") || !strcmp(a, "--detector-size");
    if (!takes) return 0;
    if (!next) {
        fprintf(stderr, "faceid: %s needs a value (try --help)\n", a);
        return -1;
    }
    char *end;
    long v;
    if (!strcmp(a, "--tile-face")) {
        if ((v = strtol(next, &end, 10)) < 0 || v > 4096 || *end || end == next) {
            fprintf(stderr, "faceid: --tile-face wants a face height in pixels (0: whole frame only), not '%s'\n", next);
            return -1;
        }
        detector_opts.tile_face = (int)v;
    } else if (!strcmp(a, "--detector-size")) {
        if ((v = strtol(next, &end, 10)) < 32 || v > 1024 || v % 32 || *end) {
            fprintf(stderr, "faceid: --detector-size wants a multiple of 32 in 32..1024 (tiny), not '%s'\n", next);
            return -1;
        }
        detector_opts.input_size = (int)v;
    } else if (!strcmp(a, "--model")) {
        const char *eq = strchr(next, '=');
        if (!strncmp(next, "onnx:", 5)) {
            snprintf(model_opts.profile, sizeof model_opts.profile, "onnx");
            model_opts.path = next + 5;
        } else if (eq) {
            snprintf(model_opts.profile, sizeof model_opts.profile, "%.*s", (int)(eq - next), next);
            model_opts.path = eq + 1;
        } else {
            snprintf(model_opts.profile, sizeof model_opts.profile, "%s", next);
        }
    } else if (!strcmp(a, "--mean") && parse_floats(next, model_opts.mean, 3)) {
        fprintf(stderr, "faceid: --mean wants R,G,B (e.g. 127.5,127.5,127.5), not '%s'\n", next);
        return -1;
    } else if (!strcmp(a, "--scale") && (!((model_opts.scale = strtof(next, &end)) != 0) || *end)) {
        fprintf(stderr, "faceid: --scale wants a non-zero number, not '%s'\n", next);
        return -1;
    } else if (!strcmp(a, "--input-size") && ((model_opts.input_size = (int)strtol(next, &end, 10)) < 16 || *end)) {
        fprintf(stderr, "faceid: --input-size wants a side in pixels, not '%s'\n", next);
        return -1;
    }
    ++*i; /* the value */
    return 1;
}

fid_embedder *fid_cli_embedder(int threads) {
    fid_embedder_params p = fid_embedder_default_params();
    p.threads = threads;
    if (model_opts.profile[0]) p.profile = model_opts.profile;
    p.model_path = model_opts.path;
    if (model_opts.scale != 0 || model_opts.mean[0] != 0 || model_opts.bgr) {
        memcpy(p.mean, model_opts.mean, sizeof p.mean);
        p.scale = model_opts.scale != 0 ? model_opts.scale : 1;
        p.bgr = model_opts.bgr;
    }
    fid_status st;
    fid_embedder *e = fid_embedder_create(&p, &st);
    if (!e) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        return NULL;
    }
    if (model_opts.input_size && model_opts.input_size != fid_embedder_input_size(e)) {
        /* the file decides the input size; a different --input-size is a mistake worth saying */
        fprintf(stderr, "faceid: %s: the network takes %dx%d faces, not --input-size %d\n",
                model_opts.path ? model_opts.path : model_opts.profile, fid_embedder_input_size(e),
                fid_embedder_input_size(e), model_opts.input_size);
        fid_embedder_free(e);
        return NULL;
    }
    return e;
}

fid_gallery *fid_cli_open_gallery(const char *path, int readonly, const fid_embedder *embedder) {
    fid_gallery_params p = fid_gallery_default_params();
    p.readonly = readonly;
    p.model = embedder ? fid_embedder_model_id(embedder) : NULL;
    p.dim = embedder ? fid_embedder_dim(embedder) : 0;
    fid_status st;
    fid_gallery *g = fid_gallery_open(path, &p, &st);
    if (!g) fprintf(stderr, "faceid: %s\n", fid_last_error());
    return g;
}

void fid_cli_print_json(json_t *doc) {
    char *text = json_dumps(doc, JSON_INDENT(1) | JSON_REAL_PRECISION(7));
    if (text) puts(text);
    free(text);
    json_decref(doc);
}

const char *fid_cli_gallery_path(const char *option, char *buf, size_t size) {
    if (option) return option;
    const char *env = getenv("FID_GALLERY");
    if (env && *env) return env;
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    char base[3072];
    if (xdg && *xdg)
        snprintf(base, sizeof base, "%s/faceid", xdg);
    else
        snprintf(base, sizeof base, "%s/.local/share/faceid", home ? home : ".");
    for (char *p = base + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            mkdir(base, 0700);
            *p = '/';
        }
    mkdir(base, 0700);
    snprintf(buf, size, "%s/gallery.db", base);
    return buf;
}
