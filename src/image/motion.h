/* Where the picture changed: a coarse change map of a video, for spending detection where
 * something moves (as NVRs do). Frames are reduced to block means of luma; a block "changes" in
 * frame t when it differs from its reference by more than the noise allows, after the whole
 * frame's common change (light, exposure, a compression keyframe: a gain and an offset) is
 * taken out, and a neighbouring block changed too (lone blocks are the encoder). The reference
 * is what the block looked like when it last changed, so a slow drift (a pan, a face edging
 * sideways) adds up until it counts, and the question "did anything in this box change since
 * frame F?" has an exact answer from one stamp per block. */
#ifndef FID_IMAGE_MOTION_H
#define FID_IMAGE_MOTION_H

#include <stdint.h>

#include "faceid.h"

typedef struct fid__motion fid__motion;

fid__motion *fid__motion_new(void);
void fid__motion_free(fid__motion *m);

/* Feeds frame `index` (increasing). The first frame, or one of another size, counts as a change
 * everywhere. Returns the number of blocks that changed, -1 when out of memory (the map is then
 * reset: everything counts as changed at the next frame). */
int fid__motion_update(fid__motion *m, const fid_image *im, int64_t index);

/* The last frame in which a block overlapping `box` (frame pixels) changed; INT64_MAX when no
 * frame was fed yet (nothing is known to be still); -1 never happens after a frame. */
int64_t fid__motion_since(const fid__motion *m, fid_box box);

/* Block side in frame pixels, grid size and the current change threshold in grey levels of a
 * block mean (for tests and the bench). */
void fid__motion_geometry(const fid__motion *m, int *block, int *cols, int *rows, float *threshold);

#endif
