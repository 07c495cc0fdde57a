/* 5-point similarity alignment (ArcFace-style crops) for embedding models other than face-api's. */
#ifndef FID_FACE_ALIGN_H
#define FID_FACE_ALIGN_H

#include "faceid.h"

/* The ArcFace/InsightFace 112x112 template: eye centres, nose tip, mouth corners (image left
 * to right as seen). */
extern const fid_point fid__arcface_template[5];

/* Least-squares similarity (rotation, uniform scale, translation; no reflection, Umeyama 1991)
 * mapping src[i] onto dst[i]; m = {a, -b, tx, b, a, ty} for x' = a x - b y + tx, y' = b x + a y + ty.
 * Returns 0, or -1 for degenerate points. */
int fid__similarity(const fid_point *src, const fid_point *dst, int n, double m[6]);

/* The 5 template points from 68 landmarks: eye centres, nose tip (30), mouth corners (48, 54). */
void fid__five_points(const fid_point landmarks[68], fid_point out[5]);

/* Crops `size` x `size` RGB floats: output pixel p samples the image at the inverse of m (m maps
 * image -> crop), bilinear, zero outside. `size`/112 scales the ArcFace template. */
void fid__warp_similarity(const fid_image *im, const double m[6], float *out, int size);

#endif
