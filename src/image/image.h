/* Image internals shared by the image, face and video layers. */
#ifndef FID_IMAGE_IMAGE_H
#define FID_IMAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

struct fid_image {
    int width, height;
    uint8_t *rgb; /* width * height * 3, rows packed */
};

/* Uninitialised pixels; NULL (error recorded) for absurd sizes. */
fid_image *fid__image_new(int width, int height);

/* Decodes JPEG (with EXIF orientation), PNG or WebP from memory; `path` names it in errors. */
fid_image *fid__image_decode(const unsigned char *data, size_t size, const char *path, fid_status *status);

/* Applies EXIF orientation 1..8; consumes im, returns the oriented image (NULL on no memory). */
fid_image *fid__image_orient(fid_image *im, int orientation);

#endif
