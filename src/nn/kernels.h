/* Small C kernels for ops where oneDNN 2.6's generic paths were measured slow on NHWC data
 * (pooling: 2.5 ms for a 414x414x16 2x2 max-pool, 5x slower than memory bandwidth allows). */
#ifndef FID_NN_KERNELS_H
#define FID_NN_KERNELS_H

#include <stdint.h>

#include "nn/graph.h"

/* NHWC pooling with TF semantics (average excludes padding); rows split over `threads`. */
void fid__pool_nhwc(const fid__pool_attr *p, const int64_t *in_dims, const float *x, const int64_t *out_dims, float *y,
                    int threads);

#endif
