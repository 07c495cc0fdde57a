/* Inputs for the reduced-precision gate (fid_runner_params.calibration): real faces, never the
 * evaluation data. They come from calibration/faces.jpg in fid_model_dir(), the face-match
 * screenshot of the pinned @vladmandic/human package (MIT; sha256 in scripts/models.sha256):
 * 102 face crops of many people in a 17 x 6 grid, with photos above them. */
#ifndef FID_FACE_CALIBRATION_H
#define FID_FACE_CALIBRATION_H

#include "faceid.h"

/* How a net's input is made from 8-bit RGB: (pixel - mean[c]) * scale, channels reversed when
 * bgr. */
typedef struct fid__input_norm {
    float mean[3], scale;
    int bgr;
} fid__input_norm;

/* The calibration image and up to `max` of its face cells (evenly spread over the grid), for a
 * caller that crops them its own way (the embedder: landmarks and alignment, as for any face).
 * NULL (and *n = 0) when the file is missing or not the pinned one. Caller frees the image. */
fid_image *fid__calibration_faces(fid_box *cells, int max, int *n);

/* Up to `max` face crops resized to side x side (what embedders and landmark nets take), or for
 * `scene` whole images letterboxed to a square (what detectors take); NHWC floats one after
 * another, *n of them. NULL (and *n = 0) when the file is missing or unreadable: the gate then
 * runs on a synthetic input, which only bf16 may pass. Caller frees. */
float *fid__calibration_inputs(int side, const fid__input_norm *norm, int scene, int max, int *n);

#endif
