/* fid_net internals shared by the loaders and the runner. */
#ifndef FID_NN_NET_H
#define FID_NN_NET_H

#include "nn/graph.h"

struct fid_net {
    fid__graph *graph;
    fid_net_format format;
    char *path;
    int weights_released; /* fid__net_release_packed_weights ran: no further runners */
    unsigned char digest[32]; /* SHA-256 of every constant's shape and values, in graph order */
};

/* What the net computes with, independent of the file's name: fid__net_from_graph hashes the
 * weights as loaded (before optimisation), so a copy under another name has the same digest. */
const unsigned char *fid__net_digest(const fid_net *net);

const fid__graph *fid__net_graph(const fid_net *net);

/* Takes ownership of g (freed on failure): optimises it and wraps it as a fid_net. */
fid_net *fid__net_from_graph(fid__graph *g, fid_net_format format, const char *path, fid_status *status);

/* Loaders: build the graph from files. Errors name the file. */
fid_status fid__load_tfjs_graph(const char *path, const fid_net_params *p, fid__graph **out);
fid_status fid__load_faceapi(const char *path, fid_net_format format, const fid_net_params *p, fid__graph **out);

fid_status fid__load_onnx(const char *path, const fid_net_params *p, fid__graph **out);
fid_status fid__load_keras_vggface_resnet50(const char *path, const fid_net_params *p, fid__graph **out);

/* Tells the format of a model file from its content. */
fid_status fid__detect_format(const char *path, fid_net_format *format);

/* Sets the spatial size of a fully convolutional net's image input (load time only, before the
 * net is shared): e.g. the Tiny Face Detector at 320 or 608 instead of 416. */
void fid__net_set_input_side(fid_net *net, int side);

/* Frees the graph's float weights that `runner` (made from this net) holds packed in all its
 * plans. For nets private to one runner (inside detectors and embedders); the net can make no
 * further runners. */
struct fid_runner;
void fid__net_release_packed_weights(fid_net *net, const struct fid_runner *runner);

/* Calibration inputs for a loaded net (fid_runner_params.calibration; malloc'ed, *n of them),
 * NULL when there are none. */
typedef float *(*fid__calibration_fn)(const fid_net *net, const void *ctx, int *n);

/* Replaces the runner's precision note (fid_runner_precision) with one line of the caller's. */
void fid__runner_set_note(struct fid_runner *runner, const char *note);
/* Tests: which steps run on one thread (runner.c's per-layer choice), pattern[k % n] for step k,
 * in every run from now on (the adaptive switch is turned off); 0 when the runner has no
 * one-thread plan (not adaptive, or 1 thread), else its step count. */
int fid__runner_force_one_thread(struct fid_runner *runner, const uint8_t *pattern, int n);

/* How a private net chooses its precision. AUTO (and INT8, for its steps) use what
 * `calibration` returns (ctx passed along), gated at `gate` (0: the runner's default bars). With
 * `keep_exact` set, AUTO means fp32 for this net, and the runner's note says so with that reason
 * (nets whose outputs place later crops: a shift inside any output gate still changed answers). */
typedef struct fid__precision_policy {
    fid_precision precision;
    double gate;
    const char *keep_exact;
    fid__calibration_fn calibration;
    const void *ctx;
} fid__precision_policy;

/* A net and the one runner it will ever have (detectors, embedders): loaded, optionally given
 * an input side (fully convolutional nets; 0 keeps the file's), compiled for `threads` in the
 * policy's precision, its float weights released. NULL with *net possibly set (caller frees
 * both either way). */
struct fid_runner *fid__load_private_runner(const char *path, int input_side, int threads,
                                            const fid__precision_policy *policy, fid_net **net, fid_status *status);
#endif
