/* Frame-parallel detection for files read as fast as they decode: each worker thread owns a
 * 1-thread detector and takes the next frame, so two frames are detected at once on 2 cores
 * (one 2-thread detector scaled 10 -> 8.5 ms; two 1-thread ones give ~5 ms per frame). Results
 * come back in frame order. Not for live sources: a frame would wait for the next one. */
#ifndef FID_CLI_DETECT_POOL_H
#define FID_CLI_DETECT_POOL_H

#include <stdint.h>

#include "faceid.h"

typedef struct detect_pool detect_pool;

typedef struct detected_frame {
    const fid_image *image; /* the pool's copy, valid until detect_pool_release */
    int64_t index;
    double seconds, captured;
    fid_detection faces[64];
    int n_faces;       /* -1: the detector failed */
    const char *error; /* then: why, one line */
} detected_frame;

/* `workers` detectors of kind `detector` (the CLI's names). NULL after printing the error. */
detect_pool *detect_pool_start(const char *detector, int workers);
void detect_pool_stop(detect_pool *pool);
/* One of the pool's detectors, for questions about its set-up (tiles); borrowed. */
const fid_detector *detect_pool_detector(const detect_pool *pool);
int detect_pool_depth(const detect_pool *pool); /* frames that can be in flight */
/* Copies the frame in and queues it (waits while every slot is busy). Large frames are scanned
 * as fid_detector_run_video does: tiles spread over `period` frames, plus the tiles holding the
 * `follow` boxes (the faces being tracked; copied). */
void detect_pool_submit(detect_pool *pool, const fid_image *frame, int64_t index, double seconds, double captured,
                        int period, const fid_box *follow, int n_follow);
/* The oldest submitted frame once detected (waits); NULL when nothing is in flight. */
const detected_frame *detect_pool_collect(detect_pool *pool);
/* Gives the collected frame's slot back. */
void detect_pool_release(detect_pool *pool);
int detect_pool_in_flight(detect_pool *pool);

#endif
