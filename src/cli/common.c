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

fid_detector *fid_cli_detector(const char *name, int threads, int min_face, float score) {
    fid_detector_kind kind;
    if (fid_cli_detector_kind(name, &kind)) return NULL;
    fid_detector_params p = fid_detector_default_params(kind);
    p.threads = threads;
    if (min_face) p.min_face_size = min_face;
    if (!isnan(score)) p.score_threshold = score;
    fid_status st;
    fid_detector *d = fid_detector_create(&p, &st);
    if (!d) fprintf(stderr, "faceid: %s\n", fid_last_error());
    return d;
}

fid_embedder *fid_cli_embedder(int threads) {
    fid_embedder_params p = fid_embedder_default_params();
    p.threads = threads;
    fid_status st;
    fid_embedder *e = fid_embedder_create(&p, &st);
    if (!e) fprintf(stderr, "faceid: %s\n", fid_last_error());
    return e;
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
