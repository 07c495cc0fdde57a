/* TF.js-style weight manifests (used by TF.js graph models and face-api): entries decoded from
 * the concatenated .bin shards into float32, with uint8/uint16 affine and float16 quantisation. */
#ifndef FID_NN_WEIGHTS_H
#define FID_NN_WEIGHTS_H

#include <jansson.h>
#include <stdint.h>

#include "faceid.h"

typedef struct fid__weight {
    char *name;
    int rank;
    int64_t dims[8];
    float *data; /* owned until taken */
    int is_int;  /* int32 in the file (shapes, axes): values are exact in float */
} fid__weight;

typedef struct fid__weights {
    fid__weight *w;
    int n;
} fid__weights;

/* Decodes every group of `manifest` (a JSON array of {paths, weights}); shard paths are relative
 * to manifest_path's directory. Errors name the manifest or shard file. */
fid_status fid__weights_load(json_t *manifest, const char *manifest_path, uint64_t max_bytes, fid__weights *out);
void fid__weights_free(fid__weights *ws);

/* Entry by name, or NULL. */
fid__weight *fid__weights_find(fid__weights *ws, const char *name);

/* Removes the data from the entry (caller owns it). NULL if absent or already taken. */
float *fid__weights_take(fid__weight *w);

/* IEEE half to float, exactly (subnormals, infinities and NaN included). */
float fid__half_to_float(uint16_t h);

#endif
