/* libFuzzer target for the image decoders (JPEG + EXIF, PNG, WebP, chosen by content). */
#include <stdint.h>
#include <stdlib.h>

#include "faceid.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fid_status st;
    fid_image *im = fid__image_decode(data, size, "fuzz", &st);
    if (im && (im->width <= 0 || im->height <= 0)) abort();
    fid_image_free(im);
    return 0;
}
