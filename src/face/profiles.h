/* Model profiles: what each embedding model needs and how its descriptors compare. */
#ifndef FID_FACE_PROFILES_H
#define FID_FACE_PROFILES_H

typedef enum fid__metric { FID__METRIC_EUCLIDEAN, FID__METRIC_COSINE } fid__metric;

typedef enum fid__aligner {
    FID__ALIGN_FACEAPI_DLIB, /* face-api: 68 landmarks -> dlib-style square, padded to square, resized */
    FID__ALIGN_SIMILARITY5,  /* 5 points -> ArcFace 112x112 template by similarity warp */
    FID__ALIGN_MARGIN,       /* the detection box grown by `margin` per side, resized (no warp) */
} fid__aligner;

typedef struct fid__profile {
    const char *id;
    const char *descriptor_model; /* relative to fid_model_dir(); NULL: the user supplies the file */
    const char *landmark_model;
    int input_size; /* square crop fed to the descriptor net */
    fid__aligner aligner;
    float margin;  /* FID__ALIGN_MARGIN: fraction of the box's width/height added on each side */
    float mean[3]; /* input = (pixel - mean) * scale, in the channel order below */
    float scale;
    int bgr; /* channels reversed before the net */
    int dim;
    fid__metric metric;       /* COSINE: descriptors are L2-normalised, distances Euclidean between them */
    float threshold;          /* 1:1 verification: same person below this distance */
    float identify_threshold; /* 1:N: named below this distance to a person's nearest sample */
    const char *note;
} fid__profile;

const fid__profile *fid__profile_find(const char *id);
/* The profile of a gallery's model id (fid_embedder_model_id: "PROFILE:HASH" is profile PROFILE). */
const fid__profile *fid__profile_for_model(const char *model);
/* The i-th profile, or NULL past the end. */
const fid__profile *fid__profile_at(int i);

#endif
