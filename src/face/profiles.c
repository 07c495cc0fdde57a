#include "face/profiles.h"

#include <stdio.h>
#include <string.h>

/* The demo's network and crop, shared by its Euclidean and cosine profiles. The weights come
 * from the user (rcmalli_vggface_tf_notop_resnet50.h5 or an ONNX export). The face box grows by
 * 20% per side; keras_vggface.utils.preprocess_input(version=2): RGB -> BGR, minus BGR means. */
#define VGGFACE2_RESNET50                                                                                              \
    .descriptor_model = NULL, .landmark_model = "face-api/face_landmark_68_model-weights_manifest.json",               \
    .input_size = 224, .aligner = FID__ALIGN_MARGIN, .margin = 0.2f, .mean = {91.4953f, 103.8827f, 131.0912f},         \
    .scale = 1, .bgr = 1, .dim = 2048

static const fid__profile profiles[] = {
    {.id = "faceapi-128",
     .descriptor_model = "face-api/face_recognition_model-weights_manifest.json",
     .landmark_model = "face-api/face_landmark_68_model-weights_manifest.json",
     .input_size = 150,
     .aligner = FID__ALIGN_FACEAPI_DLIB,
     /* face-api's own normalisation ((x - mean) / 255) is part of the loaded graph */
     .mean = {0, 0, 0},
     .scale = 1,
     .bgr = 0,
     .dim = 128,
     .metric = FID__METRIC_EUCLIDEAN,
     /* face-api's FaceMatcher default on raw (unnormalised) descriptors */
     .threshold = 0.6f,
     /* 1:N, nearest sample. With landmarks refined on their own frame (fid_alignment), descriptors
      * of one person moved closer and the closest impostors did not: on the real photos of
      * dlib/johns, bbt and the sample photos' strangers (6390 impostor pairs) none came below 0.579
      * (at 0.55: TAR 99.3% on johns' 275 pairs, 91% on bbt's 80), and `make eval`'s synthesized
      * probes put FAR 1e-3 at 0.577-0.620. 0.5 left a third of one-photo bbt probes unnamed and
      * the live clips at 52-58% named; 0.55 names 29 of 32 bbt probes and 85-95% of live frames,
      * none wrong and no stranger named. A gallery's own calibration (`faceid calibrate`) may
      * tighten it; below 20 people it never loosens it. */
     .identify_threshold = 0.55f,
     .note = "face-api FaceRecognitionNet (dlib ResNet-34 port), MIT, shipped"},
    {.id = "vggface2-resnet50",
     VGGFACE2_RESNET50,
     .metric = FID__METRIC_EUCLIDEAN,
     /* the demo's rule: raw 2048-d average-pool features closer than 100 */
     .threshold = 100,
     .identify_threshold = 100,
     .note = "VGGFace2 ResNet-50 (keras-vggface), the original demo's model; weights from the user "
             "(--model vggface2-resnet50=FILE.h5|.onnx)"},
    {.id = "vggface2-resnet50-cosine",
     VGGFACE2_RESNET50,
     .metric = FID__METRIC_COSINE,
     /* Euclidean between unit vectors: 1.0 is cosine similarity 0.5 (d^2 = 2 - 2 cos) */
     .threshold = 1.0f,
     .identify_threshold = 1.0f,
     .note = "the same network, L2-normalised features (cosine); weights from the user"},
    {.id = "onnx",
     .descriptor_model = NULL,
     .landmark_model = "face-api/face_landmark_68_model-weights_manifest.json",
     .input_size = 112,
     .aligner = FID__ALIGN_SIMILARITY5,
     .mean = {127.5f, 127.5f, 127.5f},
     .scale = 1 / 127.5f,
     .bgr = 0,
     .dim = 0, /* from the file */
     .metric = FID__METRIC_COSINE,
     /* cosine similarity 0.4, a common ArcFace operating point; calibrate on your gallery */
     .threshold = 1.095f,
     .identify_threshold = 1.095f,
     .note = "any ONNX face embedder (--model onnx:FILE; ArcFace-style 5-point alignment, "
             "--input-size/--mean/--scale/--bgr)"},
};

const fid__profile *fid__profile_find(const char *id) {
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (!strcmp(profiles[i].id, id)) return &profiles[i];
    return 0;
}

/* A model id is a profile id, or "PROFILE:HASH" for the user's own file of that profile. */
const fid__profile *fid__profile_for_model(const char *model) {
    if (!model) return 0;
    const char *colon = strchr(model, ':');
    if (!colon) return fid__profile_find(model);
    char id[64];
    if ((size_t)(colon - model) >= sizeof id) return 0;
    snprintf(id, sizeof id, "%.*s", (int)(colon - model), model);
    return fid__profile_find(id);
}

const fid__profile *fid__profile_at(int i) {
    return i >= 0 && (size_t)i < sizeof profiles / sizeof profiles[0] ? &profiles[i] : 0;
}

#include "faceid.h"

int fid_profile_info(int index, const char **id, int *dim, const char **metric, float *threshold,
                     const char **description) {
    const fid__profile *p = fid__profile_at(index);
    if (!p) return -1;
    if (id) *id = p->id;
    if (dim) *dim = p->dim;
    if (metric) *metric = p->metric == FID__METRIC_COSINE ? "cosine" : "euclidean";
    if (threshold) *threshold = p->threshold;
    if (description) *description = p->note;
    return 0;
}
