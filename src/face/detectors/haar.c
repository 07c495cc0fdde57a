/* OpenCV's haarcascade_frontalface_alt.xml as the original demo used it: scale 1.2, 10
 * neighbours, 64 px minimum; no network, every scale scanned by the cascade itself. */
#include <stdio.h>
#include <stdlib.h>

#include "face/detector.h"
#include "face/haar.h"
#include "util/error.h"

static fid_status load(fid_detector *d) { /* Debian's opencv-data, or $FID_HAAR_CASCADE */
    const char *env = getenv("FID_HAAR_CASCADE");
    char path[4096];
    snprintf(path, sizeof path, "%s", env && *env ? env : FID_HAAR_DIR "/haarcascade_frontalface_alt.xml");
    fid_status st;
    d->own = fid__haar_load(path, &st);
    return d->own ? FID_OK : st;
}

static int pass(fid_detector *d, const fid_image *im, fid_status *status) {
    fid_box boxes[1024];
    int n = fid__haar_detect(d->own, im, 1.2, 10, d->p.min_face_size, boxes, 1024, d->p.threads), found = 0;
    if (n > 1024) n = 1024;
    for (int i = 0; n >= 0 && i < n && found < d->p.max_faces; i++) {
        int kept = fid__detector_keep(d, &(fid_detection){.box = boxes[i], .score = 1});
        if (kept < 0) n = -1;
        found += kept > 0;
    }
    if (n < 0) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "Haar detector: out of memory"));
        return -1;
    }
    fid__set_status(status, FID_OK);
    return found;
}

static void unload(fid_detector *d) { fid__haar_free(d->own); }

const fid__detector_kind fid__detector_haar = {
    .kind = FID_DETECTOR_HAAR,
    .name = "haar",
    .iou_threshold = 0.5f,
    .min_face_size = 64,
    .tile_face = 0,
    .load = load,
    .pass = pass,
    .unload = unload,
};
