/* SSD-MobileNet-v1 (face-api) output decoding: ssdMobilenetv1/outputLayer.ts in C. */
#ifndef FID_FACE_SSD_H
#define FID_FACE_SSD_H

#include <stdint.h>

/* box_encodings [n,4], class_predictions [n,3], anchors [n,4] -> boxes [n,4] as
 * (top, left, bottom, right) relative to the input, scores [n] = sigmoid(class 1). */
void fid__ssd_decode(const float *box_encodings, const float *class_predictions, const float *anchors, int64_t n,
                     float *boxes, float *scores);

#endif
