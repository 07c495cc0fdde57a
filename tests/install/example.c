/* An external program against the installed libfaceid (tests/install_test.sh builds it with
 * pkg-config and with CMake's find_package): the descriptor of the largest face of a photo, and
 * whether a second photo shows the same person. */
#include <faceid.h>
#include <stdio.h>
#include <stdlib.h>

static int largest(fid_detector *det, fid_embedder *emb, const char *path, float *desc) {
    fid_status st;
    fid_image *im = fid_image_load(path, &st);
    if (!im) return fprintf(stderr, "%s\n", fid_strerror(st)), -1;
    fid_detection d[16];
    int n = fid_detector_run(det, im, d, 16, &st), best = 0;
    for (int i = 1; i < n && i < 16; i++)
        if (d[i].box.width * d[i].box.height > d[best].box.width * d[best].box.height) best = i;
    fid_face face;
    int ok = n > 0 && fid_embedder_describe(emb, im, &d[best], &face, desc) == FID_OK;
    fid_image_free(im);
    return ok ? 0 : -1;
}

int main(int argc, char **argv) {
    if (argc != 3) return fprintf(stderr, "usage: example A.jpg B.jpg\n"), 2;
    fid_status st;
    fid_detector_params dp = fid_detector_default_params(FID_DETECTOR_BLAZEFACE);
    fid_detector *det = fid_detector_create(&dp, &st);
    fid_embedder *emb = det ? fid_embedder_create(NULL, &st) : NULL;
    if (!emb) return fprintf(stderr, "models: %s (%s)\n", fid_last_error(), fid_model_dir()), 2;
    int dim = fid_embedder_dim(emb);
    float *a = malloc(2 * (size_t)dim * sizeof *a);
    if (largest(det, emb, argv[1], a) || largest(det, emb, argv[2], a + dim)) return 2;
    float dist = fid_embedder_distance(emb, a, a + dim);
    printf("faceid %s, models in %s: %d-d descriptors, distance %.4f: %s\n", fid_version(), fid_model_dir(), dim,
           dist, dist < fid_embedder_threshold(emb) ? "same person" : "different people");
    free(a);
    fid_embedder_free(emb);
    fid_detector_free(det);
    return 0;
}
