/* Naive reference implementation of every op (the semantics oracle). */
#ifndef FID_NN_REFERENCE_H
#define FID_NN_REFERENCE_H

#include "nn/graph.h"

float fid__ref_unary(int alg, float alpha, float beta, float x);
float fid__ref_binary(int alg, float a, float b);

/* Evaluates node id into out. dims/rank give every node's shape (NULL: the nodes' own), bufs
 * every node's values (NULL: constants' data). */
fid_status fid__ref_node(const fid__graph *g, int id, int64_t (*dims)[FID__MAX_RANK], const int *rank,
                         float *const *bufs, float *out);

/* Runs the whole graph for `batch`; outputs[k] are malloc'ed (caller frees). */
fid_status fid__ref_run(fid__graph *g, int batch, float *const *inputs, float **outputs);

#endif
