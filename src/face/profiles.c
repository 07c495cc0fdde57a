#include "face/profiles.h"

#include <string.h>

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
     /* Nearest of up to 20 samples per person lowers impostor distances: on the seed clips,
      * genuine frames stay <= 0.25 while the closest of the 22 sample-photo strangers is 0.577. */
     .identify_threshold = 0.5f,
     .note = "face-api FaceRecognitionNet (dlib ResNet-34 port), MIT, shipped"},
};

const fid__profile *fid__profile_find(const char *id) {
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (!strcmp(profiles[i].id, id)) return &profiles[i];
    return 0;
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
