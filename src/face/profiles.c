#include "face/profiles.h"

#include <string.h>

static const fid__profile profiles[] = {
    /* face-api's FaceRecognitionNet (dlib's ResNet-34 port): raw, unnormalised 128-d vectors;
     * face-api's FaceMatcher threshold 0.6 on their Euclidean distance. */
    {"faceapi-128", "face-api/face_recognition_model-weights_manifest.json",
     "face-api/face_landmark_68_model-weights_manifest.json", 150, 128, FID__METRIC_EUCLIDEAN, 0.6f},
};

const fid__profile *fid__profile_find(const char *id) {
    for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++)
        if (!strcmp(profiles[i].id, id)) return &profiles[i];
    return 0;
}
