/* Identifier internals the pipeline (and the tests) use: a pipeline joins the identifier as a
 * client, hands it faces with what its track looked like so far, and takes results back. */
#ifndef FID_PIPELINE_IDENTIFIER_H
#define FID_PIPELINE_IDENTIFIER_H

#include <stdint.h>

#include "faceid.h"

typedef struct fid__id_client fid__id_client;

/* What a track looked like: its last descriptor (a re-check far from it is someone else) and
 * the running mean of its descriptors (what it is named by); n descriptors so far. */
typedef struct fid__look {
    int n;
    float *last, *mean; /* dim floats each */
} fid__look;

typedef struct fid__id_result {
    int track_id;
    int64_t frame;
    double seconds, wall;
    int split;         /* the face was someone else than the track's previous look */
    fid_match match;   /* of the (new) look's mean */
    fid__look look;    /* the track's look after this face; borrowed until the next take */
} fid__id_result;

fid__id_client *fid__identifier_join(fid_identifier *id);
/* Waits for the client's jobs to finish and drops its results. */
void fid__identifier_leave(fid_identifier *id, fid__id_client *client);
int fid__identifier_dim(const fid_identifier *id);
/* Whether the gallery as the identifier has it now names someone `name`. Thread-safe. */
int fid__identifier_knows(fid_identifier *id, const char *name);

/* Queues faces of one frame (copied once) with each track's look (NULL or n 0: none yet).
 * Returns how many were queued: fewer when the client's share of the queue is full. */
int fid__identifier_submit(fid_identifier *id, fid__id_client *c, const fid_image *frame, int64_t index,
                           double seconds, double wall, const int *track_ids, const fid_detection *faces,
                           const fid__look *looks, int n);
int fid__identifier_in_flight(fid_identifier *id, fid__id_client *c, int track_id);
void fid__identifier_wait(fid_identifier *id, fid__id_client *c);
/* The client's oldest finished result: 1, or 0 when none is ready. Faces that could not be
 * described (at the border) produce no result. */
int fid__identifier_take(fid_identifier *id, fid__id_client *c, fid__id_result *out);

/* An identifier whose faces are described by `describe` instead of an embedder (tests): returns
 * 0 and writes dim floats, or -1 when the face cannot be described. */
typedef int (*fid__describe_fn)(void *user, const fid_image *image, const fid_detection *face, float *descriptor);
fid_identifier *fid__identifier_create_with(fid__describe_fn describe, void *user, int dim, float split_distance,
                                            fid_gallery *gallery, const fid_identifier_params *params,
                                            fid_status *status);

#endif
