/* Frame-parallel detection for files read as fast as they decode: each worker thread owns a
 * 1-thread detector and takes the next frame, so two frames are detected at once on 2 cores
 * (one 2-thread detector scaled 10 -> 8.5 ms; two 1-thread ones give ~5 ms per frame). Results
 * come back in frame order. Not for live sources: a frame would wait for the next one. A region
 * of interest is cut out before detection and the boxes moved back into frame pixels. */
#ifndef FID_PIPELINE_DETECT_POOL_H
#define FID_PIPELINE_DETECT_POOL_H

#include <stdint.h>

#include "face/detector.h"
#include "faceid.h"

typedef struct detect_pool detect_pool;

/* Faces per frame and faces followed at most. */
#define FID__MAX_FACES 64

/* What to scan in one frame (pipeline/scan_plan.h), in frame pixels. */
typedef struct scan_request {
    int n_tiles; /* 0: no tile this frame */
    uint8_t tiles[FID__MAX_TILES];
    int n_follow, n_small, n_refused, n_carry;
    fid_box follow[FID__MAX_FACES], small[FID__MAX_FACES], refused[FID__MAX_REFUSED];
    /* detections of earlier frames that still hold (nothing changed around them): added to the
     * frame's unless it found them again */
    fid_detection carry[FID__MAX_FACES];
    int64_t carry_from[FID__MAX_FACES];
} scan_request;

typedef struct detected_frame {
    const fid_image *image; /* the pool's copy (inline: the submitted frame), valid until detect_pool_release */
    int64_t index;
    double seconds, captured;
    fid_detection faces[FID__MAX_FACES];
    int64_t detected_in[FID__MAX_FACES]; /* the frame each face was detected in (carried: earlier) */
    int n_faces;                         /* -1: the detector failed */
    fid_box refused[FID__MAX_REFUSED];   /* what the second look refused in this frame */
    int n_refused;
    double wall;
    const char *error; /* then: why, one line */
} detected_frame;

/* `workers` detectors made with `params` (threads forced to 1; 0 workers: one detector with the
 * params' threads, run by detect_pool_submit itself, for live sources); faces looked for inside roi only
 * (width 0: the whole frame). NULL with *status set on failure. */
detect_pool *detect_pool_start(const fid_detector_params *params, int workers, fid_box roi, fid_status *status);
void detect_pool_stop(detect_pool *pool);
/* The first worker's detector (every worker's was made alike), for what it computes with. */
const fid_detector *detect_pool_detector(const detect_pool *pool);
int detect_pool_depth(const detect_pool *pool); /* frames that can be in flight */
/* Copies the frame and the request in and queues it (waits while every slot is busy). */
void detect_pool_submit(detect_pool *pool, const fid_image *frame, int64_t index, double seconds, double captured,
                        double wall, const scan_request *request);
/* The oldest submitted frame once detected (waits); NULL when nothing is in flight. */
const detected_frame *detect_pool_collect(detect_pool *pool);
/* Gives the collected frame's slot back. */
void detect_pool_release(detect_pool *pool);
int detect_pool_in_flight(detect_pool *pool);

#endif
