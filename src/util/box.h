/* Box geometry shared by the layers that match boxes (the tracker, the detection pool, the scan
 * planner). */
#ifndef FID_UTIL_BOX_H
#define FID_UTIL_BOX_H

#include <math.h>

#include "faceid.h"

/* Intersection over union of two boxes; 0 when they do not overlap or both are empty. */
static inline float fid__box_iou(fid_box a, fid_box b) {
    float x0 = fmaxf(a.x, b.x), y0 = fmaxf(a.y, b.y);
    float x1 = fminf(a.x + a.width, b.x + b.width), y1 = fminf(a.y + a.height, b.y + b.height);
    float inter = fmaxf(0, x1 - x0) * fmaxf(0, y1 - y0), uni = a.width * a.height + b.width * b.height - inter;
    return uni > 0 ? inter / uni : 0;
}

#endif
