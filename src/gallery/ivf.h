/* An inverted-file index for galleries of millions (issue 27: ten million people on one node).
 *
 * The descriptors are split into `lists` cells by k-means (trained on a sample; the distances by
 * oneDNN's sgemm). A query scans only the `probes` cells whose centres are nearest to it, each
 * row as an int8 code of its offset from the cell's centre (one step per cell: the offsets are
 * small, so the steps are fine), keeps the best `candidates` and ranks them again with the row's
 * fp16 copy. Per row: dim bytes of code + 2 * dim bytes of fp16 + 8 bytes (id, norm): 10M x 128-d
 * is 3.9 GB, where float32 alone is 5.1 GB, and a query reads probes / lists of the codes.
 *
 * Portable C; the int8 dot product has an AVX2 path on x86-64 (chosen at run time) and is left
 * to the compiler's vectoriser elsewhere (NEON on arm64). */
#ifndef FID_GALLERY_IVF_H
#define FID_GALLERY_IVF_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

typedef struct fid__ivf fid__ivf;

/* Builds the index of n x dim descriptors (copied in; `data` may go after). lists 0: about
 * sqrt(n) / 3, at least 1. Rows are numbered 0..n-1 (n < 2^31). NULL with *status on failure. */
fid__ivf *fid__ivf_build(const float *data, int64_t n, int dim, int lists, int threads, fid_status *status);
void fid__ivf_free(fid__ivf *ix);

/* The k nearest rows of `query` among the cells of the `probes` nearest centres, ranked by the
 * fp16 copies of the best `candidates` int8 guesses; ascending distances. Returns how many were
 * written (<= k), -1 when out of memory. */
int fid__ivf_search(const fid__ivf *ix, const float *query, int k, int probes, int candidates, int threads,
                    int64_t *out_index, float *out_distance);

/* Bytes the index holds, and its number of lists. */
size_t fid__ivf_bytes(const fid__ivf *ix);
int fid__ivf_lists(const fid__ivf *ix);

/* Tests: 1 makes searches use the portable scan even where AVX2 is there. */
void fid__ivf_portable_only(int on);

/* fp16 <-> float, round to nearest even (exposed for the test) */
uint16_t fid__half_from_float(float f);
float fid__float_from_half(uint16_t h);

#endif
