/* int8 scan + float32 re-rank nearest-neighbour index over a descriptor matrix. */
#ifndef FID_GALLERY_INDEX_H
#define FID_GALLERY_INDEX_H

#include <stdint.h>

#include "faceid.h"

typedef struct fid__index fid__index;

/* Quantises n x dim descriptors; `data` is borrowed (used for exact re-ranking) and must
 * outlive the index. */
fid__index *fid__index_build(const float *data, int64_t n, int dim, fid_status *status);
void fid__index_free(fid__index *index);

/* The k nearest rows (ascending exact Euclidean distance), from `candidates` int8 candidates
 * per thread. Returns how many were written (<= k), -1 on no memory. */
int fid__index_search(const fid__index *index, const float *query, int k, int candidates, int threads,
                      int64_t *out_index, float *out_distance);

#endif
