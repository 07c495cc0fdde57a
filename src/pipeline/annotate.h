#ifndef FID_PIPELINE_ANNOTATE_H
#define FID_PIPELINE_ANNOTATE_H

#include "faceid.h"

/* frame copied into `reuse` (or a new image; reuse is freed when it does not fit) with each
 * track's box and label: "name 0.42" in green, "?" in red; with `blur`, strangers pixelated.
 * NULL when out of memory. */
fid_image *fid__annotate(fid_image *reuse, const fid_image *frame, const fid_track_info *tracks, int n, int blur);

#endif
