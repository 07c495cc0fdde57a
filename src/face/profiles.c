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
     /* 1:N, nearest sample. `make eval` (10 people, 22 strangers, probes clean, 24/40 px, blurred,
      * noisy, JPEG q35, dim) found no impostor below 0.55 in 14,217 comparisons with 1 or 4
      * samples per person, and 0.55 would raise genuine faces below the threshold from 90% to 93%
      * (1 sample). But a real stranger of the sample photos sits at 0.506 from a person enrolled
      * from one grey bbt photo (tests/photos_test.sh): ten identities are too few to loosen a
      * default on, so it stays 0.5 and `faceid calibrate` (20+ people) may move it. */
     .identify_threshold = 0.5f,
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
