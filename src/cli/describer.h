/* Identification off the frame loop: a worker thread runs landmarks + descriptor + gallery match
 * for the tracks that need it, while the loop detects and tracks the next frames. */
#ifndef FID_CLI_DESCRIBER_H
#define FID_CLI_DESCRIBER_H

#include <stdint.h>

#include "faceid.h"

typedef struct describer describer;

typedef struct describe_result {
    int track_id;
    int64_t frame; /* the frame the face was described in */
    double seconds;
    fid_match match;
    float *descriptor; /* dim floats, owned by the describer, valid until the next take */
} describe_result;

/* Takes no ownership; the embedder is used by the worker thread only from now on. NULL on failure. */
describer *describer_start(fid_embedder *embedder, const fid_matcher *matcher, int capacity);
void describer_stop(describer *d);

/* Queues the faces of one frame (the frame is copied once). Returns how many were queued: fewer
 * when the queue is full. */
int describer_submit(describer *d, const fid_image *frame, int64_t index, double seconds, const int *track_ids,
                     const fid_detection *faces, int n);
/* 1 when the track has a job queued, running or finished but not taken. */
int describer_in_flight(describer *d, int track_id);
/* Jobs queued or running, plus results not taken. */
int describer_outstanding(describer *d);
/* Waits until every queued job is done. */
void describer_wait(describer *d);
/* Takes one finished result (oldest first): 1, or 0 when none is ready. Faces that could not be
 * described (at the border) produce no result. */
int describer_take(describer *d, describe_result *out);

#endif
