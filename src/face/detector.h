/* Detector internals: what every detector kind provides (one file per kind under
 * src/face/detectors/, one row in the table in detect.c), and the shared detector state. */
#ifndef FID_FACE_DETECTOR_H
#define FID_FACE_DETECTOR_H

#include "faceid.h"

struct fid__haar;

enum { FID__MAX_REFUSED = 32, FID__MAX_TILES = 256 };

/* One video frame's scan, as the caller planned it (the pipeline, from where the picture moved):
 * the whole frame always; the tiles (in fid_detector_tiles' order) whose `tiles[t]` is set; the
 * `small` followed faces in mosaics; `follow`: every followed face, never looked at twice;
 * `refused`: boxes the second look refused lately where nothing changed since, refused again
 * without a pass (a clutter box a tile finds again at every visit cost a pass each time). */
typedef struct fid__scan_plan {
    const uint8_t *tiles;
    int n_tiles;
    const fid_box *small, *follow, *refused;
    int n_small, n_follow, n_refused;
} fid__scan_plan;

/* 1 when a followed face's box in a width x height frame is too small for the whole-frame pass:
 * it is looked for in a mosaic (fid_detector_run_video, the pipeline's scan plan). */
int fid__detector_needs_mosaic(const fid_detector *d, int width, int height, fid_box face);

/* Runs a plan on a frame; after it d->refused holds what the second look refused this time. */
int fid__detector_run_plan(fid_detector *d, const fid_image *im, const fid__scan_plan *plan, fid_detection *out,
                           int capacity, fid_status *status);

/* A network's box, relative to its input, before it is mapped back to image pixels. */
typedef struct fid__candidate {
    double left, top, right, bottom;
    double score;
    int index;
} fid__candidate;

struct fid_detector {
    fid_detector_params p;
    const struct fid__detector_kind *kind;
    void *own; /* a kind that is no network keeps its model here (Haar cascade) */
    fid_net *net;
    fid_runner *runner;
    int input_size;
    fid_image *tile;      /* reused copy of the tile being scanned */
    fid_detection *found; /* every pass's detections before the merge */
    int n_found, cap_found;
    /* the boxes the last run's second look refused (fid__detector_run_plan) */
    fid_box refused[FID__MAX_REFUSED];
    int n_refused;
};

typedef struct fid__detector_kind {
    fid_detector_kind kind;
    const char *name;  /* as users type it: "ssd", "tiny", "blazeface", "haar" */
    const char *model; /* network file under fid_model_dir(); NULL: the kind loads its own model */
    int input_side;    /* network input side; 0: params.input_size (fully convolutional nets) */
    float pixel_scale, pixel_offset; /* network input = pixel * scale + offset */
    float iou_threshold;             /* default non-maximum suppression */
    int min_face_size;               /* default */
    int tile_face;                   /* default; 0: this kind scans every scale itself */
    /* The smallest face height, in network-input pixels, the network finds reliably (measured on
     * faces composited at known sizes, `make eval`): what tiling scales small faces up to. */
    double smallest_face;
    /* Networks: turns the runner's outputs for `im` into detections in im's pixels, appended
     * with fid__detector_keep; returns how many, -1 when the outputs are not what it expects. */
    int (*decode)(fid_detector *d, const fid_image *im);
    /* Kinds without a network: load(model) at create, pass(im) instead of decode, unload. */
    fid_status (*load)(fid_detector *d);
    int (*pass)(fid_detector *d, const fid_image *im, fid_status *status);
    void (*unload)(fid_detector *d);
} fid__detector_kind;

/* Appends a detection to d->found: 1, or 0 for an empty box (not kept), -1 when out of memory. */
int fid__detector_keep(fid_detector *d, const fid_detection *det);
/* A box given by its edges relative to a W x H image, in pixels. */
static inline fid_box fid__relative_box(double left, double top, double right, double bottom, double W, double H) {
    return (fid_box){(float)(left * W), (float)(top * H), (float)((right - left) * W), (float)((bottom - top) * H)};
}
/* Greedy non-maximum suppression over candidates (sorted here by score); keeps at most max_keep.
 * With `nested`, a box lying mostly (> 60%) inside a better one goes too. */
int fid__suppress(fid__candidate *c, int n, double iou_threshold, int max_keep, int nested);
double fid__sigmoid(double x);

/* Tests: detector kind FID__DETECTOR_TEST is `kind` (a fake without a model: load and pass). */
enum { FID__DETECTOR_TEST = 99 };
void fid__detector_set_test_kind(const fid__detector_kind *kind);

extern const fid__detector_kind fid__detector_ssd, fid__detector_tiny, fid__detector_blazeface, fid__detector_haar;

#endif
