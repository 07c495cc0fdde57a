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
/* The w x h region of im at (x0, y0), grey (128) where it leaves the image, into `reuse` when
 * that has the size (else a new image; reuse is freed). NULL when out of memory. */
fid_image *fid__image_cut(fid_image *reuse, const fid_image *im, int x0, int y0, int w, int h);

/* Decodes JPEG (with EXIF orientation), PNG or WebP from memory; `path` names it in errors. */
fid_image *fid__image_decode(const unsigned char *data, size_t size, const char *path, fid_status *status);
/* The same within a budget: an image declaring more than max_pixels (0: no budget beyond the
 * library's 100 MP) is refused from its header, FID_ERR_TOO_LARGE, before anything is allocated. */
fid_image *fid__image_decode_limited(const unsigned char *data, size_t size, const char *path, uint64_t max_pixels,
                                     fid_status *status);

/* Applies EXIF orientation 1..8; consumes im, returns the oriented image (NULL on no memory). */
fid_image *fid__image_orient(fid_image *im, int orientation);

/* ---- float tensors (HWC, 3 channels) as TF.js builds them ------------------------------------ */

/* Pixels of the rectangle (x, y, w, h), which must lie inside the image, as floats. Caller frees. */
float *fid__image_crop_float(const fid_image *im, int x, int y, int w, int h);

/* face-api's padToSquare: zeros appended below/right, or split around the image when centred
 * (the appended side gets round(diff / 2)). Returns a new (side x side) tensor; caller frees. */
float *fid__pad_to_square(const float *src, int h, int w, int centered, int *side);

/* tf.image.resizeBilinear(alignCorners=false, halfPixelCenters=false) as tfjs computes it:
 * double arithmetic, float32 results. */
void fid__resize_bilinear(const float *src, int sh, int sw, float *dst, int dh, int dw);

/* face-api's toBatchTensor(size, true) of the rectangle (x, y, w, h), which must lie inside the
 * image: padded to a centred square and resized into dst (size x size x 3 floats). */
fid_status fid__region_square(const fid_image *im, int x, int y, int w, int h, float *dst, int size);

/* The square (x, y, side x side), which may leave the image (black there), sampled into dst
 * (size x size x 3 floats) at continuous positions: bilinear, from q x q block means when the
 * square shrinks by q = 2 or more (no aliasing). FID_ERR_INVALID_ARGUMENT for an absurd side. */
fid_status fid__sample_square(const fid_image *im, double x, double y, double side, float *dst, int size);

/* 1 when the font fontconfig picks for `text` has a glyph for every character of it. */
int fid__font_covers(const char *text);

/* The whole image, zero-padded below/right to a square (face-api's padToSquare(false)) and
 * resized to size x size with fid__resize_bilinear's arithmetic, straight from the 8-bit pixels,
 * then mapped v * scale + offset (1, 0: unchanged). Rows split over `threads`. */
void fid__square_resize(const fid_image *im, float *dst, int size, float scale, float offset, int threads);

/* JPEG of the image in memory (*out malloc'd, caller frees), for the HTTP API's snapshots. */
fid_status fid__image_encode_jpeg(const fid_image *im, int quality, unsigned char **out, size_t *size);

/* Replaces the box (clipped to the image) by blocks of `cell` pixels of their mean colour: an
 * unknown face that must not be recognisable in a live view or a recording. */
void fid__image_pixelate(fid_image *im, fid_box box, int cell);

/* fid_image_save with the permissions a new file gets (0600 for faces: enrollment crops). */
fid_status fid__image_save_mode(const fid_image *im, const char *path, int mode);

#endif
