/*
 * faceid — live face identification in C.
 *
 * This header is the whole public API. Conventions:
 *  - Every name starts with fid_. Handles are opaque.
 *  - Constructors return NULL on failure and store a status in *status (when status is not NULL);
 *    fid_last_error() then describes the failure in one line (which file, what is wrong).
 *  - Shared read-only objects (fid_net: weights and graph) may be used from many threads at
 *    once. Per-stream objects (fid_runner) belong to one thread at a time.
 *  - Parameters come from fid_*_default_params() by value; change the fields you care about.
 *  - The library never calls exit() or abort() because of its input.
 *  - Ownership: "caller frees" means the caller must call the matching fid_*_free(); "borrowed"
 *    means the pointer stays valid as long as the object it came from and must not be freed.
 */
#ifndef FACEID_H
#define FACEID_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FID_VERSION_MAJOR 0
#define FID_VERSION_MINOR 1
#define FID_VERSION_PATCH 0

typedef enum fid_status {
    FID_OK = 0,
    FID_ERR_INVALID_ARGUMENT = 1, /* a NULL or out-of-range argument from the caller */
    FID_ERR_IO = 2,               /* a file could not be opened, read or written */
    FID_ERR_FORMAT = 3,           /* a file was read but its content is malformed */
    FID_ERR_UNSUPPORTED = 4,      /* well-formed but uses something faceid does not implement */
    FID_ERR_NO_MEMORY = 5,
    FID_ERR_BACKEND = 6, /* the compute backend (oneDNN) refused or failed */
    FID_ERR_SHAPE = 7,   /* tensor shapes do not fit together */
    /* Not failures: what a call that waits or reads a stream found instead of a result. */
    FID_AGAIN = 8,   /* nothing ready within the wait; the source is still there: call again */
    FID_END = 9,     /* the end of a file or stream, or stopped on request: nothing more will come */
    FID_TIMEOUT = 10, /* a network read stalled longer than its timeout (the stream may come back) */
    FID_ERR_NOT_FOUND = 11, /* the named thing (a person, a calibration) does not exist */
    FID_ERR_TOO_LARGE = 12, /* well-formed, but beyond a safety limit (an image's pixels, a file's size) */
} fid_status;

/* Static English text for a status. Borrowed; never NULL. */
const char *fid_strerror(fid_status status);

/* One-line description of the last failure in the calling thread (thread-local).
 * Borrowed; valid until the next faceid call in this thread. Empty string if none. */
const char *fid_last_error(void);

/* Frees a buffer the library handed to the caller as "the caller's (fid_free)". NULL is fine. */
void fid_free(void *buffer);

/* Library version as "MAJOR.MINOR.PATCH". Borrowed, static. */
const char *fid_version(void);
/* What this build can load beyond the shipped models: "+onnx +keras-h5", with '-' for a part built
 * without (FID_WITH_ONNX, FID_WITH_HDF5); such files then fail with FID_ERR_UNSUPPORTED. Static. */
const char *fid_build_features(void);
/* The CPU as oneDNN sees it, the level its kernels use: "avx2", "avx512_core_vnni",
 * "avx512_core_bf16", "avx512_core_amx"... Decides which precisions exist here. Static. */
const char *fid_cpu_isa(void);

/* Threads. Runners set OpenMP's thread count for their own runs only: the calling thread's
 * setting (omp_set_num_threads) is given back after every create and run. How idle OpenMP threads
 * wait cannot be changed once a program runs: with libgomp's default (spin 300,000 times) a busy
 * neighbour on a small CPU made 2-thread inferences many times slower, and a purely passive wait
 * made every small layer pay a wake-up. Call this first in main(), before any thread exists: when
 * neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, it sets GOMP_SPINCOUNT=10000 and re-executes
 * the program with the same argv (so it returns only when nothing was to do: FID_OK, or when the
 * exec failed: FID_ERR_IO, and the program may go on). Bindings set the variable before loading. */
fid_status fid_bounded_spin_wait(char **argv);

/* Directory that holds the model files installed by scripts/setup: $FID_MODEL_DIR when set,
 * else the directory chosen at build time. Borrowed, static. */
const char *fid_model_dir(void);

/* ------------------------------------------------------------------------------------------ */
/* Neural networks                                                                            */
/* ------------------------------------------------------------------------------------------ */

/* A loaded network: graph + weights. Read-only after load; share it between threads. */
typedef struct fid_net fid_net;
/* Per-thread executor for a fid_net: compiled kernels and activation memory for a fixed batch. */
typedef struct fid_runner fid_runner;

typedef enum fid_net_format {
    FID_NET_AUTO = 0,            /* decide from the file name and content */
    FID_NET_TFJS_GRAPH,          /* TF.js graph model: model.json + .bin shards */
    FID_NET_FACEAPI_RECOGNITION, /* face-api weight manifests, architecture written in C */
    FID_NET_FACEAPI_LANDMARK68,
    FID_NET_FACEAPI_LANDMARK68_TINY,
    FID_NET_FACEAPI_TINY_FACE_DETECTOR,
    FID_NET_FACEAPI_SSD_MOBILENETV1,
    FID_NET_ONNX,                   /* ONNX ModelProto (.onnx), NCHW graphs mapped to NHWC */
    FID_NET_KERAS_VGGFACE_RESNET50, /* keras-vggface RESNET50 weights (.h5), architecture in C */
} fid_net_format;

typedef struct fid_net_params {
    fid_net_format format;
    /* Refuse weight files larger than this many bytes (guards against absurd inputs). */
    uint64_t max_weight_bytes;
} fid_net_params;

fid_net_params fid_net_default_params(void);

/* Loads a network from path: a TF.js model.json or a face-api *-weights_manifest.json (the .bin
 * shards are found next to it), an ONNX file, or keras-vggface ResNet-50 weights (.h5). Image
 * inputs and 4-D outputs are NHWC whatever the file's layout. Returns NULL on failure. Caller frees with fid_net_free.
 */
fid_net *fid_net_load(const char *path, const fid_net_params *params, fid_status *status);
void fid_net_free(fid_net *net);

/* Number of graph inputs/outputs and their names (borrowed). */
int fid_net_input_count(const fid_net *net);
int fid_net_output_count(const fid_net *net);
const char *fid_net_input_name(const fid_net *net, int index);
const char *fid_net_output_name(const fid_net *net, int index);

/* Shape of input `index` as declared by the model; dims[0] (batch) is -1 when free.
 * Returns the rank (<= 4), or -1 for a bad index. */
int fid_net_input_shape(const fid_net *net, int index, int64_t dims[4]);

/* What a network computes with. Reduced precision keeps fp32 accumulation, bias and outputs:
 * BF16 runs activations and weights as bfloat16 where oneDNN has bf16 kernels for this CPU
 * (AVX-512 BF16, AMX); INT8 quantizes them (u8/s8, per-channel weight steps, one step per
 * activation tensor from calibration inputs). AUTO measures each path the CPU has against fp32 at
 * load and keeps the fastest one whose outputs stay within the accuracy gate (a bare runner:
 * cosine to fp32 >= 0.999 for bf16, >= 0.995 for int8, on every calibration input; embedders and
 * detectors are stricter, see their params); otherwise fp32. See README "Precision". */
typedef enum fid_precision {
    FID_PRECISION_FP32 = 0, /* zero: parameters set by hand, not by *_default_params, stay exact */
    FID_PRECISION_BF16 = 1,
    FID_PRECISION_INT8 = 2,
    FID_PRECISION_AUTO = 3,
} fid_precision;

/* "auto", "fp32", "bf16", "int8" (static; NULL for an unknown value), and back
 * (FID_ERR_INVALID_ARGUMENT for an unknown name, the names in fid_last_error()). */
const char *fid_precision_name(fid_precision precision);
fid_status fid_precision_from_name(const char *name, fid_precision *precision);

typedef struct fid_runner_params {
    int batch;   /* images per call; default 1 */
    int threads; /* most compute threads for this runner; default 1. See README "Threads". */
    /* With threads > 1: measure each run and fall back to one thread while that is faster
     * (another busy process on the cores); probe again now and then. Default 1 (on). */
    int adaptive_threads;
    /* Default FID_PRECISION_FP32: a bare runner computes what the file says unless asked. BF16
     * fails with FID_ERR_UNSUPPORTED where the CPU (as oneDNN sees it) has no bf16 kernels, INT8
     * with FID_ERR_INVALID_ARGUMENT without calibration inputs (convolutions oneDNN has no int8
     * kernel for stay fp32); AUTO falls back to fp32 and says why (fid_runner_precision). */
    fid_precision precision;
    /* Inputs the accuracy gate (AUTO) and int8's activation scales are computed on: n_calibration
     * samples of input 0 at batch 1, one after another (NHWC float32, as fid_runner_input takes
     * them). Borrowed during create only. Without them AUTO gates on a synthetic input in [0, 1]
     * and does not consider int8, whose scales would mean nothing; INT8 fails. */
    const float *calibration;
    int n_calibration;
    /* AUTO's accuracy bar: the lowest cosine to fp32 a reduced path may show on a calibration
     * input. 0: 0.999 for bf16, 0.995 for int8. Embedders ask 0.99995 of descriptor nets (see
     * fid_embedder_params.precision). */
    double gate;
} fid_runner_params;

fid_runner_params fid_runner_default_params(void);

/* Compiles net for the given batch and thread count. The net must outlive the runner.
 * Caller frees with fid_runner_free. NULL on failure. */
fid_runner *fid_runner_create(const fid_net *net, const fid_runner_params *params, fid_status *status);
void fid_runner_free(fid_runner *runner);

/* Pointer to input `index` (NHWC float32, batch × dims as declared). Borrowed; the caller fills
 * it before fid_runner_run. Its element count is written to *count when count is not NULL. */
float *fid_runner_input(fid_runner *runner, int index, size_t *count);

/* Runs the network on the current input buffers. */
fid_status fid_runner_run(fid_runner *runner);

/* Output `index` after a run: borrowed pointer, valid until the next run or free. The shape is
 * written to dims (rank returned, -1 for a bad index). */
const float *fid_runner_output(const fid_runner *runner, int index, int64_t dims[4], int *rank);

/* Floating-point operations of one run (multiply-add = 2), for throughput reporting. */
double fid_runner_flops(const fid_runner *runner);

/* The precision this runner computes with (never AUTO), and one line saying why when note is not
 * NULL: e.g. "int8: 2.79x faster than fp32 (1.44 vs 4.03 ms), cosine >= 0.99970 on 8 calibration
 * inputs; bf16 not faster (6.64 vs 4.70 ms)" or "fp32: bf16 not faster (6.61 vs 4.69 ms); int8
 * fails the gate (cosine 0.99979 < 0.99995)". The note is owned by the runner. */
fid_precision fid_runner_precision(const fid_runner *runner, const char **note);

/* How each oneDNN primitive of the runner is implemented, one "node: implementation" per line
 * (e.g. "conv1: brgconv:avx512_core_bf16"), for benchmarks and bug reports. Caller frees. */
char *fid_runner_describe(const fid_runner *runner);

/* ------------------------------------------------------------------------------------------ */
/* Images                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* 8-bit RGB image. */
typedef struct fid_image fid_image;

/* Decodes a JPEG, PNG or WebP file (by content, not name) and applies its EXIF orientation.
 * Caller frees with fid_image_free. NULL on failure. */
fid_image *fid_image_load(const char *path, fid_status *status);

/* The same from `size` bytes in memory (an upload, a Python bytes object). `name` (may be NULL:
 * "image") names the data in error messages. Caller frees. NULL on failure. */
fid_image *fid_image_decode(const void *data, size_t size, const char *name, fid_status *status);

/* Copies `height` rows of `width` RGB pixels, `stride` bytes apart. Caller frees. */
fid_image *fid_image_from_rgb(int width, int height, const uint8_t *rgb, size_t stride, fid_status *status);

void fid_image_free(fid_image *image);
/* Copies src into `reuse` when that has src's size, else frees `reuse` and allocates a new
 * image (a per-frame buffer without an allocation per frame). Returns the copy, owned by the
 * caller; NULL on failure, with `reuse` freed. */
fid_image *fid_image_copy_into(fid_image *reuse, const fid_image *src, fid_status *status);
int fid_image_width(const fid_image *image);
int fid_image_height(const fid_image *image);
/* Packed RGB rows (width * 3 bytes each). Borrowed. */
const uint8_t *fid_image_rgb(const fid_image *image);

/* Writes PNG or JPEG by the path's extension (JPEG to a FIFO or device, which has none). A
 * regular file appears whole or not at all (written beside it, renamed over it; a symlink is
 * followed and kept); a FIFO or device is written in place, never replaced. */
fid_status fid_image_save(const fid_image *image, const char *path);

/* Draws a box outline in `color` (0xRRGGBB) and, when label is non-empty, the UTF-8 label on a
 * bar above it, in a font fontconfig finds for its characters. */
typedef struct fid_box fid_box;
fid_status fid_image_draw_label(fid_image *image, const fid_box *box, const char *label, uint32_t color);
/* Draws a line of UTF-8 text at (x, y) (top-left) on a filled bar of `background` (0xRRGGBB),
 * `px` pixels high (0: the size labels use for this image). */
fid_status fid_image_draw_text(fid_image *image, int x, int y, const char *text, int px, uint32_t color,
                               uint32_t background);

/* ------------------------------------------------------------------------------------------ */
/* Faces                                                                                      */
/* ------------------------------------------------------------------------------------------ */

typedef struct fid_box {
    float x, y, width, height; /* pixels, top-left corner */
} fid_box;

typedef struct fid_point {
    float x, y;
} fid_point;

typedef enum fid_detector_kind {
    FID_DETECTOR_SSD_MOBILENETV1 = 0, /* face-api's SSD: the most accurate */
    FID_DETECTOR_TINY_FACE = 1,       /* face-api's Tiny Face Detector: fast */
    FID_DETECTOR_BLAZEFACE = 2,       /* human's BlazeFace (256x256, 896 anchors): fast, 6 keypoints */
    FID_DETECTOR_HAAR = 3, /* OpenCV's haarcascade_frontalface_alt.xml as the original demo used it (scale 1.2,
                              10 neighbours, 64 px minimum); score is always 1 */
} fid_detector_kind;

typedef struct fid_detector_params {
    fid_detector_kind kind;
    float score_threshold; /* default 0.5 (face-api's) */
    float iou_threshold;   /* non-maximum suppression; default 0.5 (SSD) / 0.4 (tiny), as face-api; 0.3 (BlazeFace) */
    int max_faces;         /* default 100 */
    int min_face_size;     /* smaller boxes (shorter side, pixels) are dropped; default 0 (Haar: 64) */
    int input_size;        /* tiny: network input side, multiple of 32; default 416 */
    int threads;           /* default 1 */
    /* Default FID_PRECISION_AUTO, which keeps detectors fp32: a box shifted by bf16 (its raw
     * outputs at cosine 0.99996) changed identification answers. A forced precision applies. */
    fid_precision precision;
    /* Smallest face (box height, pixels) to find in frames too large for the network to see it
     * whole: such frames are also scanned in overlapping tiles at a scale where a face this small
     * is big enough for the network, and the passes merged. At least the frame's longer side / 80
     * (a 12 MP photo is not cut into hundreds of tiles). 0: the whole frame only, as face-api.
     * Default 24. Not used by the Haar cascade, which scans every scale itself. */
    int tile_face;
} fid_detector_params;

/* Defaults for a detector kind. */
fid_detector_params fid_detector_default_params(fid_detector_kind kind);
/* A kind's name as users type it ("ssd", "tiny", "blazeface", "haar"; static; NULL for an unknown
 * kind), and the kind of a name (FID_ERR_INVALID_ARGUMENT, with the names in fid_last_error()). */
const char *fid_detector_kind_name(fid_detector_kind kind);
fid_status fid_detector_kind_from_name(const char *name, fid_detector_kind *kind);

typedef struct fid_detection {
    fid_box box;
    float score;
    /* BlazeFace only (else 0): right eye, left eye, nose tip, mouth, right ear, left ear (the
     * subject's right and left), image pixels */
    int n_keypoints;
    fid_point keypoints[6];
} fid_detection;

/* Loads the detector's model from fid_model_dir(). Shared state is read-only; one detector per
 * thread (it holds the runner). Caller frees with fid_detector_free. */
typedef struct fid_detector fid_detector;
fid_detector *fid_detector_create(const fid_detector_params *params, fid_status *status);
void fid_detector_free(fid_detector *detector);
/* What the detector's network computes with, and why (owned by the detector); FP32 and "fp32: no
 * network" for the Haar cascade. */
fid_precision fid_detector_precision(const fid_detector *detector, const char **note);

/* Finds faces, best score first. Writes up to `capacity` detections to `out` and returns how
 * many were found (which may exceed capacity), or -1 on failure (status set). */
int fid_detector_run(fid_detector *detector, const fid_image *image, fid_detection *out, int capacity,
                     fid_status *status);

/* The tiles (frame pixels) a frame of width x height is scanned in besides the whole frame (see
 * tile_face); writes up to capacity and returns their number, 0 when the whole frame suffices. */
int fid_detector_tiles(const fid_detector *detector, int width, int height, fid_box *tiles, int capacity);

/* For video, where a whole tiled scan per frame costs too much: the whole frame every call, the
 * tiles spread over `period` frames (tile t when t % period == frame % period), and every frame
 * the tiles holding one of the `n_follow` boxes (faces being followed, e.g. tracks), so a small
 * face is found within `period` frames and kept every frame after. Same results as
 * fid_detector_run with period 1. */
int fid_detector_run_video(fid_detector *detector, const fid_image *image, int64_t frame, int period,
                           const fid_box *follow, int n_follow, fid_detection *out, int capacity, fid_status *status);

/* 68-point landmarks (face-api FaceLandmark68Net) and descriptors (face-api FaceRecognitionNet,
 * the default profile "faceapi-128"). One embedder per thread. Caller frees. */
typedef struct fid_embedder fid_embedder;

/* FID_ALIGN_DETECTOR (0): landmarks from the detector's box, as face-api does; the descriptor
 * then depends on which detector found the face (face-api's SSD box against BlazeFace's moved
 * descriptors of the same face by 0.15 at the median). FID_ALIGN_LANDMARKS: the landmarks are
 * found again in a frame made from the landmarks themselves until that frame is stable, and the
 * descriptor's crop is cut at sub-pixel positions, so any box around a face gives (nearly) the
 * same descriptor. */
typedef enum fid_alignment { FID_ALIGN_DETECTOR = 0, FID_ALIGN_LANDMARKS = 1 } fid_alignment;

typedef struct fid_embedder_params {
    const char *profile; /* model profile id (see `faceid profiles`); default "faceapi-128" */
    int threads;         /* default 1 */
    /* Default FID_PRECISION_AUTO: the descriptor net runs reduced only when it is faster and its
     * descriptors stay within cosine 0.99995 of fp32's on the calibration faces, prepared by this
     * embedder's own landmarks and alignment (int8 at 0.9998 still moved distances by 0.026 on
     * average, 5% of the threshold, and changed answers in `make eval`; bf16 at 0.99997 changed
     * none). The landmark net stays fp32 under AUTO (its points decide the crop). A forced
     * precision applies to both nets. */
    fid_precision precision;
    /* The descriptor network file for profiles whose weights are not shipped: the user's
     * keras-vggface .h5 or an ONNX export for "vggface2-resnet50"; any ONNX embedder for "onnx".
     * Borrowed during create only. */
    const char *model_path;
    /* "onnx" only: input = (pixel - mean) * scale per channel, in BGR order when bgr;
     * defaults 127.5, 1/127.5, RGB (ArcFace/insightface). The input size comes from the file. */
    float mean[3], scale;
    int bgr;
    /* Where the landmark net looks (default FID_ALIGN_LANDMARKS). */
    fid_alignment alignment;
    /* FID_ALIGN_LANDMARKS: landmark passes at most (each the net on the frame and its mirror);
     * default 4 (0 or less: the default). A face in a photo is described once, so it gets them
     * all; live video takes 2 (FID_VIDEO_REFINE_PASSES): a track is named by the mean of its
     * frames' descriptors, and on `make eval`'s clips 1, 2 and 4 passes named the same frames,
     * while each pass costs about 2 ms per face. */
    int refine_passes;
} fid_embedder_params;

#define FID_VIDEO_REFINE_PASSES 1

fid_embedder_params fid_embedder_default_params(void);
fid_embedder *fid_embedder_create(const fid_embedder_params *params, fid_status *status);
void fid_embedder_free(fid_embedder *embedder);

/* Descriptor length, e.g. 128. */
int fid_embedder_dim(const fid_embedder *embedder);
/* What the descriptor network computes with, and why (fid_runner_precision's note, owned by the
 * embedder); the landmark network's precision and note go to *landmarks and *landmark_note when
 * those are not NULL. */
fid_precision fid_embedder_precision(const fid_embedder *embedder, const char **note, fid_precision *landmarks,
                                     const char **landmark_note);
/* Side of the square face crop the descriptor network takes (150 for faceapi-128). */
int fid_embedder_input_size(const fid_embedder *embedder);
/* What a gallery records as the descriptors' model: the profile id for the pinned face-api
 * models; for a network from the caller's file the profile, ':' and 16 hex digits of a SHA-256
 * over its weights and input normalisation ("onnx:3f2a9c0d1e2b4a5c"), so the same weights under
 * another file name match and other weights under the same name do not. Owned by the embedder. */
const char *fid_embedder_model_id(const fid_embedder *embedder);

typedef struct fid_face {
    fid_box box; /* the detection */
    float score;
    fid_point landmarks[68]; /* image pixels */
    fid_box aligned;         /* face-api's alignedRect: landmark bounds padded by 20% */
    fid_box crop;            /* the region the descriptor was computed from */
    /* FID_ALIGN_LANDMARKS: how far the last refinement moved the landmarks' frame, as a fraction of
     * its side. Under 0.003 the landmarks found their fixed point; far more (a profile, a face too
     * blurred to place) and the descriptor depends on where the detector put the box. 0 with
     * FID_ALIGN_DETECTOR. */
    float unsettled;
} fid_face;

/* Landmarks and descriptor for a detected face. `descriptor` receives fid_embedder_dim() floats.
 * face->box and face->score are copied from `detection`. */
fid_status fid_embedder_describe(fid_embedder *embedder, const fid_image *image, const fid_detection *detection,
                                 fid_face *face, float *descriptor);

/* Model profiles known to this build: id, descriptor length, metric ("euclidean" or "cosine"),
 * default threshold and a one-line description. Returns 0, or -1 past the last index. All
 * strings are static. */
int fid_profile_info(int index, const char **id, int *dim, const char **metric, float *threshold,
                     const char **description);

/* Distance between two descriptors in the embedder's metric (Euclidean for faceapi-128), and the
 * profile's default threshold below which two faces are the same person. */
float fid_embedder_distance(const fid_embedder *embedder, const float *a, const float *b);
float fid_embedder_threshold(const fid_embedder *embedder);

/* ------------------------------------------------------------------------------------------ */
/* Gallery                                                                                    */
/* ------------------------------------------------------------------------------------------ */

/* Known people and their descriptor samples, in an SQLite file (WAL, mode 0600, versioned
 * schema; several processes may use one file, writers wait up to 10 s for each other) or in a
 * PostgreSQL database shared by many nodes (schema "faceid", created and migrated by faceid; a
 * change reaches the other nodes through LISTEN/NOTIFY and a change log). One handle per thread.
 * Every change is one transaction: a crash leaves the gallery as before. */
typedef struct fid_gallery fid_gallery;

typedef struct fid_gallery_params {
    const char *model; /* model of the descriptors (fid_embedder_model_id); default "faceapi-128";
                        * NULL: an existing gallery, whatever model it holds (fid_gallery_model) */
    int dim;           /* descriptor length; default 128 */
    int readonly;      /* default 0: created when missing */
} fid_gallery_params;

fid_gallery_params fid_gallery_default_params(void);

/* Opens or creates the gallery at path: a file, or a database as "postgresql://..." /
 * "postgres://..." (a libpq URI) or "postgres:" followed by libpq keywords ("postgres:host=/run/pg
 * dbname=faceid"); passwords are best left to ~/.pgpass or PGPASSWORD, and are never shown in
 * messages. A gallery made with another model or dimension, a foreign or corrupt file or schema,
 * or a newer schema is refused. With PostgreSQL, a call made while the database is unreachable
 * fails at once with FID_ERR_IO (reconnecting after 1 s, doubling to 30 s), so a node keeps
 * identifying with the matcher it has. Caller closes. NULL on failure. */
fid_gallery *fid_gallery_open(const char *path, const fid_gallery_params *params, fid_status *status);
void fid_gallery_close(fid_gallery *gallery);
int fid_gallery_dim(const fid_gallery *gallery);
const char *fid_gallery_model(const fid_gallery *gallery); /* borrowed */

/* Whether `name` can name a person: FID_OK, or FID_ERR_INVALID_ARGUMENT with the reason in
 * fid_last_error(). Names are shown in events and terminals and become file and folder names
 * (enrollment crops), so one rule holds for enroll, import, rename and crops: 1 to
 * FID_NAME_MAX bytes of valid UTF-8; no control characters (C0, DEL, C1), no bidirectional
 * overrides or line separators; no '/' or '\\'; not "?" (the stranger), not starting with '.'
 * (hidden files, "..") nor starting or ending with a space. Letters of every script are fine. */
#define FID_NAME_MAX 200
fid_status fid_person_name_check(const char *name);

/* Adds n >= 1 samples (n * dim floats, all finite) to person `name` (fid_person_name_check),
 * creating the person when new. quality (n floats) and source (a file name) may be NULL. All or
 * nothing. */
fid_status fid_gallery_add(fid_gallery *gallery, const char *name, const float *descriptors, int n,
                           const float *quality, const char *source);
fid_status fid_gallery_remove(fid_gallery *gallery, const char *name);
fid_status fid_gallery_rename(fid_gallery *gallery, const char *from, const char *to);

typedef struct fid_person_info {
    char name[208];
    int samples;
} fid_person_info;

/* People sorted by name: writes up to capacity, returns the count (-1 on error). */
int fid_gallery_people(fid_gallery *gallery, fid_person_info *out, int capacity, fid_status *status);

/* The samples of one person (capacity * dim floats at most); returns the count (-1 on error). */
int fid_gallery_samples(fid_gallery *gallery, const char *name, float *out, int capacity, fid_status *status);

/* Review and correct. Every change below is one transaction in the gallery's change log, so every
 * node sharing the gallery sees it. */
typedef struct fid_sample_info {
    int64_t id;         /* the gallery's, stable until the sample is removed */
    double created;     /* Unix seconds when it was added */
    float quality;      /* NAN: not recorded */
    char source[256];   /* the file or camera it came from, "" when not recorded */
    int has_crop;       /* a crop of the face is kept (fid_gallery_sample_crop) */
} fid_sample_info;

/* The samples of `name`, oldest first: writes up to capacity, returns the count (-1 on error). */
int fid_gallery_sample_list(fid_gallery *gallery, const char *name, fid_sample_info *out, int capacity,
                            fid_status *status);

/* The JPEG crop sample `id` of `name` was made from; *jpeg is the caller's (fid_free). A sample
 * without one (added before crops were kept, or by fid_gallery_add) is FID_ERR_NOT_FOUND. */
fid_status fid_gallery_sample_crop(fid_gallery *gallery, const char *name, int64_t id, unsigned char **jpeg,
                                   size_t *size);

/* Removes one sample; the person stays, also with no samples left (remove the person for that). */
fid_status fid_gallery_sample_remove(fid_gallery *gallery, const char *name, int64_t id);

/* Moves a sample to another person (created when new). */
fid_status fid_gallery_sample_move(fid_gallery *gallery, const char *name, int64_t id, const char *to);

/* Merges `from` into `into` (created when new): every sample and counter-example, then `from` goes. */
fid_status fid_gallery_merge(fid_gallery *gallery, const char *from, const char *into);

/* "Not this person": keeps `descriptor` as a counter-example of `name`. A face nearer to one of
 * a person's counter-examples than to any of their samples is not named that person (matcher). */
fid_status fid_gallery_reject(fid_gallery *gallery, const char *name, const float *descriptor, const char *source);

typedef struct fid_enrollment fid_enrollment; /* below: Enrollment */
/* Adds every sample of an enrollment to `name` (created when new), each with its source and the
 * JPEG of its aligned face for review. */
fid_status fid_gallery_add_enrollment(fid_gallery *gallery, const char *name, const fid_enrollment *enrollment);

/* JSON export of every person and sample (written whole or not at all), and import of such a file
 * into this gallery in one transaction (same model and dimension required; names merge). */
fid_status fid_gallery_export(fid_gallery *gallery, const char *path);
typedef struct fid_import_params {
    int refuse_existing; /* 1: a person already in the gallery fails the import (nothing imported) */
    int max_samples;     /* merging stops adding a person's samples at this many; default 20 */
} fid_import_params;
fid_import_params fid_import_default_params(void);
/* Names merge: a sample the person already has is skipped, and nobody grows past max_samples.
 * *samples counts the samples added. params may be NULL (defaults). */
fid_status fid_gallery_import(fid_gallery *gallery, const char *path, const fid_import_params *params, int *people,
                              int *samples);
/* Opens the gallery at `path` for the import of `export_path`: created with the export's model
 * and dimension when missing, refused when it holds another model. Caller closes. NULL on failure. */
fid_gallery *fid_gallery_open_for_import(const char *path, const char *export_path, fid_status *status);

typedef struct fid_calibration {
    int genuine, impostor;       /* leave-one-out distances measured */
    double target_far, far, tar; /* at the chosen threshold */
    float threshold;
    int resolution_limited; /* fewer impostor distances than 1/target_far: FAR is coarser */
    int capped; /* fewer than FID_CALIBRATION_MIN_PEOPLE people: kept at the model's default, not loosened */
    float closest_impostor, farthest_genuine;
    struct {
        double far, measured_far, tar;
        float threshold;
    } table[4]; /* FAR 1e-1, 1e-2, 1e-3, 1e-4 */
} fid_calibration;

#define FID_CALIBRATION_MIN_PEOPLE 20

/* Leave-one-out genuine and impostor distances from the gallery's own samples; the threshold for
 * target_far (e.g. 1e-3). With store, it is saved in the gallery and used by identification
 * from then on (a matcher whose threshold is NAN). Needs 2 people, one with 2+ samples. */
fid_status fid_gallery_calibrate(fid_gallery *gallery, double target_far, int store, fid_calibration *out);

/* A number that changes whenever the gallery's content changed, through this handle or any other
 * (another process enrolling, say): poll it to know when a matcher is out of date. */
fid_status fid_gallery_version(fid_gallery *gallery, uint64_t *version);

/* The stored calibrated 1:N threshold: FID_OK with *threshold set; FID_ERR_NOT_FOUND (and NAN) when
 * the gallery was never calibrated; another status when it cannot be read. */
fid_status fid_gallery_threshold(fid_gallery *gallery, float *threshold);

/* In-memory snapshot of a gallery for identification (read-only once made: share it between
 * threads). Caller frees. */
typedef struct fid_matcher fid_matcher;

typedef struct fid_matcher_params {
    float threshold; /* named only below this distance; default NAN: the model profile's (0.55 for faceapi-128) */
    float margin;    /* ... and when the runner-up person is at least this much further; default 0 */
} fid_matcher_params;

typedef struct fid_match {
    char name[208]; /* the person, or "?" when unknown */
    int known;
    float distance;      /* to the closest person's nearest sample (INFINITY: empty gallery) */
    char candidate[208]; /* the closest person even when unknown */
    char second[208];    /* runner-up person ("" if none) */
    float second_distance;
    float margin; /* second_distance - distance */
    float threshold; /* the threshold the distance was held against (calibrated or the profile's) */
    int rejected;    /* close enough to `candidate`, but nearer one of their counter-examples */
} fid_match;

fid_matcher_params fid_matcher_default_params(void);
fid_matcher *fid_matcher_create(fid_gallery *gallery, const fid_matcher_params *params, fid_status *status);
void fid_matcher_free(fid_matcher *matcher);
int fid_matcher_people(const fid_matcher *matcher);
/* The 1:N threshold the matcher names below (the gallery's calibration, else the profile's). */
float fid_matcher_threshold(const fid_matcher *matcher);
fid_status fid_matcher_match(const fid_matcher *matcher, const float *descriptor, fid_match *out);

/* ------------------------------------------------------------------------------------------ */
/* Enrollment                                                                                 */
/* ------------------------------------------------------------------------------------------ */

/* Collects a person's best samples from images and video frames: the largest face of each,
 * through quality gates. Uses (does not own) a detector and an embedder. One per thread. */
typedef struct fid_enrollment fid_enrollment;

/* Quality gates. Video frames are many and mostly redundant, so their gates are strict; a photo
 * is often all a user has (one ID photo per person), so photos have gates of their own that
 * refuse only what would poison the gallery. */
typedef struct fid_enroll_gates {
    int min_face_size;   /* pixels, shorter box side */
    float min_score;     /* detector score */
    float min_sharpness; /* variance of the Laplacian of the face at 112 px */
    float max_yaw;       /* nose offset from the eyes' midpoint / eye distance */
} fid_enroll_gates;

typedef struct fid_enroll_params {
    int max_samples;          /* best samples kept; default 20 */
    int min_face_size;        /* video frames: default 64 */
    float min_score;          /* video frames: default 0.7 */
    float min_sharpness;      /* video frames: default 12 */
    float max_yaw;            /* video frames: default 0.45 */
    float duplicate_distance; /* closer samples count as one (the better is kept); default 0.08 */
    fid_enroll_gates photo;   /* photos: default 40 px, score 0.5, sharpness 4, yaw 0.6 */
} fid_enroll_params;

typedef enum fid_enroll_verdict {
    FID_ENROLL_KEPT,
    FID_ENROLL_NO_FACE,
    FID_ENROLL_TOO_SMALL,
    FID_ENROLL_LOW_SCORE,
    FID_ENROLL_BLURRY,
    FID_ENROLL_POSE,
    FID_ENROLL_DUPLICATE,
    FID_ENROLL_NOT_BEST,   /* good, but max_samples better ones are kept */
    FID_ENROLL_NOT_A_FACE, /* landmarks do not form a face: a detector false positive */
} fid_enroll_verdict;

typedef struct fid_enroll_stats {
    int frames, accepted, no_face, too_small, low_score, blurry, pose, duplicates, not_best, not_a_face,
        multi_face_frames;
} fid_enroll_stats;

fid_enroll_params fid_enroll_default_params(void);
/* What a verdict means, as the CLI says it (e.g. "face too blurry"); static. */
const char *fid_enroll_verdict_text(fid_enroll_verdict verdict);
fid_enrollment *fid_enrollment_begin(fid_detector *detector, fid_embedder *embedder, const fid_enroll_params *params,
                                     fid_status *status);
void fid_enrollment_free(fid_enrollment *enrollment);

/* What happened to one image or frame: the verdict, and for a gate that refused it the measured
 * value and the limit it missed (e.g. sharpness 7.1 < 12), else both 0. */
typedef struct fid_enroll_report {
    fid_enroll_verdict verdict;
    const char *gate; /* "face size", "detector score", "sharpness", "turn", "landmarks", "" (static) */
    float value, limit;
    int faces;      /* faces the detector found; the largest was considered */
    fid_box box;    /* of the largest */
    float score;    /* its detector score */
    int forced;     /* kept by `force` although a gate refused it */
    /* Measured on the largest face once it passed the size and score gates (or was forced), else
     * 0: the variance of the Laplacian at 112 px and the turn (as the gates judge them). */
    float sharpness, turn;
} fid_enroll_report;

/* Considers the largest face of a video frame (the strict gates); *verdict (may be NULL) says what
 * happened. `source` names the file for the record. */
fid_status fid_enrollment_add(fid_enrollment *enrollment, const fid_image *image, const char *source,
                              fid_enroll_verdict *verdict);

/* The same for a photo, judged by the photo gates; with `force`, its largest face is kept even
 * when a gate refuses it (report->forced says so). report may be NULL. */
fid_status fid_enrollment_add_photo(fid_enrollment *enrollment, const fid_image *image, const char *source, int force,
                                    fid_enroll_report *report);

int fid_enrollment_count(const fid_enrollment *enrollment);
fid_enroll_stats fid_enrollment_stats(const fid_enrollment *enrollment);

/* Sample i: descriptor (dim floats), quality, face, source and the face crop; any output may be
 * NULL. source and crop are borrowed from the enrollment. */
fid_status fid_enrollment_sample(const fid_enrollment *enrollment, int i, float *descriptor, float *quality,
                                 fid_face *face, const char **source, const fid_image **crop);

/* ------------------------------------------------------------------------------------------ */
/* Tracking                                                                                   */
/* ------------------------------------------------------------------------------------------ */

/* Faces followed across frames, each track with a stable id and a voted label. One per stream. */
typedef struct fid_tracker fid_tracker;

typedef struct fid_tracker_params {
    float min_iou;      /* a detection continues a track when they overlap at least this; default 0.3 */
    int max_misses;     /* frames a track may go unseen before it leaves; default 10 */
    int recheck_frames; /* a described track asks again after this many frames; default 15 */
    int votes;          /* label = majority of the last this many identifications (<= 16); default 5 */
} fid_tracker_params;

typedef struct fid_track_info {
    int id;
    fid_box box;
    float score;
    char name[208]; /* "?" until identified, and for strangers */
    float distance; /* of the latest identification */
    int64_t first_seen, last_seen;
    int hits;
} fid_track_info;

typedef enum fid_track_event_kind {
    FID_TRACK_APPEARED,
    FID_TRACK_IDENTIFIED, /* first label */
    FID_TRACK_CHANGED,    /* the voted label changed */
    FID_TRACK_LEFT,
} fid_track_event_kind;

typedef struct fid_track_event {
    fid_track_event_kind kind;
    int64_t frame;
    fid_track_info track;
} fid_track_event;

fid_tracker_params fid_tracker_default_params(void);
fid_tracker *fid_tracker_create(const fid_tracker_params *params, fid_status *status);
void fid_tracker_free(fid_tracker *tracker);

/* Feeds one frame's detections; writes up to capacity appeared/left events and returns their
 * number (-1 on failure). */
int fid_tracker_update(fid_tracker *tracker, const fid_detection *detections, int n, int64_t frame,
                       fid_track_event *events, int capacity);

/* End of stream: every track leaves. Writes up to capacity left events; returns their number. */
int fid_tracker_end(fid_tracker *tracker, int64_t frame, fid_track_event *events, int capacity);

/* Tracks seen in `frame`; needs_descriptor[i] (may be NULL) says which want an identification
 * now: 2 never identified yet, 1 due for a re-check, 0 not now. A caller on a time budget may
 * postpone some; they stay due. Returns the count. */
int fid_tracker_tracks(const fid_tracker *tracker, fid_track_info *out, int capacity, int64_t frame,
                       int *needs_descriptor);

/* Where every track not yet left should be in `frame` (seen lately or not), moving on as it moved:
 * what a detector looks for again (fid_detector_run_video's `follow`). Returns the count. Tracks
 * are matched to detections by these predicted boxes too. */
int fid_tracker_active(const fid_tracker *tracker, int64_t frame, fid_box *boxes, int capacity);

/* Records an identification of a track; returns 1 and fills *event when it is the first label
 * or the voted label changed, 0 otherwise, -1 for an unknown track. */
int fid_tracker_vote(fid_tracker *tracker, int track_id, const char *name, float distance, int64_t frame,
                     fid_track_event *event);

/* Forgets a track's label (its person left the gallery): its votes go, it is "?" until it is
 * identified again, and due for that at once. Returns 1 and fills *event (changed) when it had a
 * name, 0 when it was "?" already, -1 for an unknown track. */
int fid_tracker_unname(fid_tracker *tracker, int track_id, int64_t frame, fid_track_event *event);

/* Ends a track and starts a new one in its place (another person where the track was, e.g. at a
 * cut): writes its left and the new track's appeared event; returns the new id, -1 if unknown. */
int fid_tracker_split(fid_tracker *tracker, int track_id, int64_t frame, fid_track_event events[2]);

/* ------------------------------------------------------------------------------------------ */
/* Video                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/* A video file or stream decoded by FFmpeg (anything libavformat opens). One reader per thread. */
typedef struct fid_video fid_video;

typedef struct fid_video_params {
    int threads;      /* decoder threads; default 1 */
    double timeout_s; /* network sources: a read that stalls this long fails; default 5 */
    /* Called while blocked in I/O; returning non-zero abandons the open or read (FFmpeg's
     * AVIOInterruptCB), so another thread can stop a reader stuck on a dead stream. */
    int (*interrupt)(void *opaque);
    void *interrupt_opaque;
    /* Cameras (V4L2) only, NULL/0 for the driver's default: "1280x720", frames per second, and
     * the pixel format ("mjpeg" is what most USB webcams need for 720p at 30 fps). Borrowed. */
    const char *camera_size;
    double camera_fps;
    const char *camera_format;
} fid_video_params;

fid_video_params fid_video_default_params(void);

/* Opens a file path, a URL (rtsp://, http(s)://, anything libavformat opens) or a V4L2 camera
 * (/dev/videoN, or v4l2:DEVICE). Caller closes with fid_video_close. NULL on failure. */
fid_video *fid_video_open(const char *url, const fid_video_params *params, fid_status *status);
void fid_video_close(fid_video *video);

/* Decodes the next frame: FID_OK with *frame (borrowed, upright RGB, valid until the next read or
 * close) and *seconds (presentation time, NAN if unknown; may be NULL); FID_END at the end;
 * FID_TIMEOUT when a network read stalled past timeout_s; another status on an error. */
fid_status fid_video_read(fid_video *video, const fid_image **frame, double *seconds);

/* Nominal frame rate, duration in seconds and frame count (estimates; 0 when unknown). */
double fid_video_fps(const fid_video *video);
double fid_video_duration(const fid_video *video);
int64_t fid_video_frame_count(const fid_video *video);
/* 1 for a camera or an endless stream (frames arrive at their own pace), 0 for a file. */
int fid_video_is_live(const fid_video *video);
/* 1 when url names a network source (scheme://, other than file://). */
int fid_video_is_network(const char *url);

/* A source decoded on its own thread, so a slow consumer never makes a camera lag: from a live
 * source (camera, network stream, or a file with `realtime`) the newest frame wins and the frames
 * the consumer had no time for are dropped and counted; a plain file delivers every frame, decoding
 * the next one while the consumer works on the current. Network sources reconnect after a cut with
 * back-off (0.25 s doubling to 8 s). One consumer thread; fid_capture_stop from any thread. */
typedef struct fid_capture fid_capture;

typedef struct fid_capture_params {
    int threads;        /* decoder threads; default 1 (the other core is for the networks) */
    int realtime;       /* pace a file at its frame rate, as a camera would deliver it; default 0 */
    double reconnect_s; /* network sources: give up after this long without a frame; default -1
                         * (never: a camera stream is meant to come back); 0 = do not reconnect */
    double timeout_s;   /* network read timeout before a cut is declared; default 5 */
    const char *camera_size, *camera_format; /* as in fid_video_params; borrowed during open */
    double camera_fps;
} fid_capture_params;

typedef struct fid_capture_frame {
    const fid_image *image; /* borrowed until the next fid_capture_next or fid_capture_close */
    int64_t index;          /* 0, 1, 2... over delivered frames */
    double seconds;         /* presentation time in the stream (restarts after a reconnect) */
    double captured;        /* CLOCK_MONOTONIC seconds when the frame was decoded (or, with
                             * realtime, when it was due): the start of capture-to-label latency */
    double wall;            /* the same instant as Unix time (CLOCK_REALTIME), for timestamps */
} fid_capture_frame;

typedef struct fid_capture_stats {
    int64_t decoded, delivered, dropped;
    int reconnects;
    int reconnecting; /* 1 while the source is cut and being reopened */
} fid_capture_stats;

fid_capture_params fid_capture_default_params(void);
/* Opens the source (errors such as a missing device or an HTTP 404 are reported here) and starts
 * decoding. Caller closes with fid_capture_close. NULL on failure. */
fid_capture *fid_capture_open(const char *source, const fid_capture_params *params, fid_status *status);
/* Waits up to wait_s seconds (< 0: as long as it takes) for the next frame. FID_OK with *frame
 * filled; FID_AGAIN when the wait ran out (the source is still there, e.g. reconnecting); FID_END
 * at the end of the source or after fid_capture_stop; another status on an error the source
 * cannot recover from (fid_last_error() says which source and what). */
fid_status fid_capture_next(fid_capture *capture, double wait_s, fid_capture_frame *frame);
/* Asks the decoder thread to finish, interrupting blocked network I/O; thread-safe. */
void fid_capture_stop(fid_capture *capture);
fid_capture_stats fid_capture_get_stats(fid_capture *capture);
double fid_capture_fps(const fid_capture *capture); /* nominal; 0 when unknown */
/* A file's length in seconds (an estimate from its container); 0 for cameras, streams and when unknown. */
double fid_capture_duration(const fid_capture *capture);
int fid_capture_is_live(const fid_capture *capture);
void fid_capture_close(fid_capture *capture);

/* Encoded video output (H.264 through libavcodec; the container follows the file name; "-", a
 * FIFO or a device get fragmented MP4). Odd sizes lose their last column/row. Written in place
 * as it goes, MP4 in 1 s fragments: if the process dies the file plays up to about a second
 * before; close finishes it. A new file is created 0600 (it shows faces). Caller closes. */
typedef struct fid_video_writer fid_video_writer;
fid_video_writer *fid_video_writer_open(const char *path, int width, int height, double fps, fid_status *status);
fid_status fid_video_writer_write(fid_video_writer *writer, const fid_image *frame);
/* Flushes, finishes the container and renames it into place; frees the writer either way. */
fid_status fid_video_writer_close(fid_video_writer *writer);


/* ------------------------------------------------------------------------------------------ */
/* Live pipeline                                                                              */
/* ------------------------------------------------------------------------------------------ */

/* Identification shared by any number of pipelines (cameras): one thread with one embedder
 * describes the faces the pipelines hand it, oldest first and at most `per_stream` waiting per
 * pipeline (a busy camera cannot starve a quiet one), and names them with a matcher it rebuilds
 * when the gallery changes (fid_gallery_version), so people enrolled or removed while it runs
 * count from their next identification. Thread-safe. */
typedef struct fid_identifier fid_identifier;

typedef struct fid_identifier_params {
    fid_matcher_params matcher; /* threshold NAN: the gallery's calibration, else the model profile's */
    int per_stream;             /* faces waiting per pipeline; default 4 */
    /* A re-check of a track further than this from its previous look is someone else (the track
     * is split). NAN (default): the embedder's 1:1 threshold (fid_embedder_threshold). */
    float split_distance;
    /* A track is named by the mean of its descriptors; the last this many count most. Default 10. */
    int mean_frames;
    double reload_interval_s; /* how often the gallery is checked for changes; default 0.25 (a cheap
                               * check: a pragma, or notifications PostgreSQL already sent); 0: never */
} fid_identifier_params;

fid_identifier_params fid_identifier_default_params(void);
/* Starts the identification thread. embedder and gallery are borrowed and from now on used by
 * that thread only, until fid_identifier_free; both must outlive the identifier. */
fid_identifier *fid_identifier_create(fid_embedder *embedder, fid_gallery *gallery, const fid_identifier_params *params,
                                      fid_status *status);
void fid_identifier_free(fid_identifier *identifier);
/* People in the matcher in use, and how many times it was rebuilt after a gallery change. */
int fid_identifier_people(fid_identifier *identifier);
int fid_identifier_reloads(fid_identifier *identifier);

/* One camera or video: detection, tracking, identification (through a shared identifier),
 * events. Fed frames (fid_pipeline_process) or given a source (fid_pipeline_open + _next). A
 * pipeline is used from one thread at a time; fid_pipeline_stop and fid_pipeline_get_stats from
 * any thread. Many pipelines may share one identifier, each on its own thread. */
typedef struct fid_pipeline fid_pipeline;

typedef struct fid_pipeline_params {
    const char *name; /* the source's name in events (copied); default "camera" */
    fid_detector_params detector;
    fid_tracker_params tracker; /* votes default 1 here: the mean descriptor already pools frames */
    /* Region of interest in frame pixels: faces are looked for inside it only. width 0 (default):
     * the whole frame. */
    fid_box roi;
    /* A file read as fast as it decodes: this many detectors work on consecutive frames side by
     * side (results stay in frame order). Live sources always use one. Default 1. */
    int detect_workers;
    /* Wait for each frame's identifications before the next frame, so a file gives the same
     * labels on every run (fid_pipeline_open sets it for files read offline). Default 0. */
    int deterministic;
} fid_pipeline_params;

typedef struct fid_pipeline_event {
    fid_track_event_kind kind;
    int64_t frame;
    double seconds;     /* stream time */
    double wall;        /* Unix time of the frame's capture */
    fid_track_info track;
    const char *source; /* the pipeline's name; borrowed */
} fid_pipeline_event;

typedef struct fid_pipeline_result {
    const fid_image *image; /* the frame; borrowed until the next call on this pipeline */
    int64_t frame;
    double seconds, wall;
    double latency; /* capture to labels, seconds (source mode; 0 when fed) */
    int n_tracks;   /* the tracks seen in this frame (box, score, name or "?", distance) */
    const fid_track_info *tracks;
    int n_events; /* appeared, identified, changed, left since the previous result */
    const fid_pipeline_event *events;
} fid_pipeline_result;

typedef struct fid_pipeline_stats {
    int64_t frames, decoded, dropped; /* dropped: frames a live source delivered with no time for them */
    int reconnects, reconnecting;
    double latency_p50, latency_p99; /* seconds, capture to labels (NAN before the first frame) */
    int64_t identifications;
    /* Where detection went: tile passes; followed small faces looked for in mosaics, and those
     * carried over from an earlier frame because nothing around them changed. */
    int64_t tiles_scanned, faces_mosaic, faces_carried;
} fid_pipeline_stats;

fid_pipeline_params fid_pipeline_default_params(void);
/* Creates a pipeline on a shared identifier (borrowed; must outlive it). Its detectors are loaded
 * by fid_pipeline_open (as many as the source needs) or by the first fid_pipeline_process. At most
 * 64 faces per frame are followed. */
fid_pipeline *fid_pipeline_create(fid_identifier *identifier, const fid_pipeline_params *params,
                                  fid_status *status);
void fid_pipeline_free(fid_pipeline *pipeline);

/* Fed mode: detects, tracks and applies the identifications that finished on one frame (copied
 * where needed). `index` grows by 1 per frame; `seconds` stream time; `wall` Unix time (NAN: now). */
fid_status fid_pipeline_process(fid_pipeline *pipeline, const fid_image *frame, int64_t index, double seconds,
                                double wall, fid_pipeline_result *result);
/* End of stream in fed mode: waits for the identifications still running, then every track
 * leaves; result holds those events (image NULL). */
fid_status fid_pipeline_finish(fid_pipeline *pipeline, fid_pipeline_result *result);

/* Source mode: opens a camera, file or stream (fid_capture_open) and decodes it on its own thread. */
fid_status fid_pipeline_open(fid_pipeline *pipeline, const char *source, const fid_capture_params *capture);
/* The next processed frame: FID_OK with result; FID_AGAIN when none came within wait_s (< 0:
 * wait as long as it takes); FID_END at the end of the source or after fid_pipeline_stop, with
 * result holding the final events (every track's left); another status on an error that ends the
 * source (the final events are then in result too). */
fid_status fid_pipeline_next(fid_pipeline *pipeline, double wait_s, fid_pipeline_result *result);
/* An event as one line of `faceid live --events` writes it (JSON, no newline): schema, event,
 * source, time, stream_time, frame, track, box, score, name and, for a known person, distance.
 * The caller's (fid_free); NULL when out of memory. For bindings that want the CLI's fields. */
char *fid_pipeline_event_json(const fid_pipeline_event *event);
/* Makes the pipeline's next fid_pipeline_next return FID_END soon; thread-safe. */
void fid_pipeline_stop(fid_pipeline *pipeline);
fid_pipeline_stats fid_pipeline_get_stats(fid_pipeline *pipeline);
/* What the source's detector network computes with and why (fid_detector_precision), once
 * fid_pipeline_open has made the detectors; FP32 and "" before. */
fid_precision fid_pipeline_precision(const fid_pipeline *pipeline, const char **note);
/* The source's nominal frame rate (0 when unknown) and whether it is live (a camera, a stream or
 * a paced file), after fid_pipeline_open. */
double fid_pipeline_fps(const fid_pipeline *pipeline);
double fid_pipeline_duration(const fid_pipeline *pipeline); /* fid_capture_duration of its source */
int fid_pipeline_is_live(const fid_pipeline *pipeline);

#ifdef __cplusplus
}
#endif
#endif
