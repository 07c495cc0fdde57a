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
} fid_status;

/* Static English text for a status. Borrowed; never NULL. */
const char *fid_strerror(fid_status status);

/* One-line description of the last failure in the calling thread (thread-local).
 * Borrowed; valid until the next faceid call in this thread. Empty string if none. */
const char *fid_last_error(void);

/* Library version as "MAJOR.MINOR.PATCH". Borrowed, static. */
const char *fid_version(void);

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
} fid_net_format;

typedef struct fid_net_params {
    fid_net_format format;
    /* Refuse weight files larger than this many bytes (guards against absurd inputs). */
    uint64_t max_weight_bytes;
} fid_net_params;

fid_net_params fid_net_default_params(void);

/* Loads a network from path (a model.json or a face-api *-weights_manifest.json; the .bin
 * shards are found next to it). Returns NULL on failure. Caller frees with fid_net_free. */
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

typedef struct fid_runner_params {
    int batch;   /* images per call; default 1 */
    int threads; /* most compute threads for this runner; default 1. See README "Threads". */
    /* With threads > 1: measure each run and fall back to one thread while that is faster
     * (another busy process on the cores); probe again now and then. Default 1 (on). */
    int adaptive_threads;
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

/* ------------------------------------------------------------------------------------------ */
/* Images                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/* 8-bit RGB image. */
typedef struct fid_image fid_image;

/* Decodes a JPEG, PNG or WebP file (by content, not name) and applies its EXIF orientation.
 * Caller frees with fid_image_free. NULL on failure. */
fid_image *fid_image_load(const char *path, fid_status *status);

/* Copies `height` rows of `width` RGB pixels, `stride` bytes apart. Caller frees. */
fid_image *fid_image_from_rgb(int width, int height, const uint8_t *rgb, size_t stride, fid_status *status);

void fid_image_free(fid_image *image);
int fid_image_width(const fid_image *image);
int fid_image_height(const fid_image *image);
/* Packed RGB rows (width * 3 bytes each). Borrowed. */
const uint8_t *fid_image_rgb(const fid_image *image);

/* Writes PNG or JPEG by the path's extension; the file appears whole or not at all. */
fid_status fid_image_save(const fid_image *image, const char *path);

#ifdef __cplusplus
}
#endif
#endif
