/* Model profiles: what each embedding model needs and how its descriptors compare. */
#ifndef FID_FACE_PROFILES_H
#define FID_FACE_PROFILES_H

typedef enum fid__metric { FID__METRIC_EUCLIDEAN, FID__METRIC_COSINE } fid__metric;

typedef struct fid__profile {
    const char *id;
    const char *descriptor_model; /* relative to fid_model_dir() */
    const char *landmark_model;
    int input_size; /* square crop fed to the descriptor net */
    int dim;
    fid__metric metric;
    float threshold; /* default: same person below this distance */
} fid__profile;

const fid__profile *fid__profile_find(const char *id);

#endif
