/* OpenCV Haar cascade classifier (XML, current format, stumps). */
#ifndef FID_FACE_HAAR_H
#define FID_FACE_HAAR_H

#include "faceid.h"

typedef struct fid__haar fid__haar;

fid__haar *fid__haar_load(const char *path, fid_status *status);
void fid__haar_free(fid__haar *cascade);

/* detectMultiScale: writes up to `capacity` boxes, returns how many were found (-1: no memory).
 * Pyramid levels are spread over `threads`. */
int fid__haar_detect(const fid__haar *cascade, const fid_image *image, double scale_factor, int min_neighbors,
                     int min_size, fid_box *out, int capacity, int threads);

#endif
