/* libFuzzer target for the Haar cascade XML loader; a cascade that loads is run on a small image. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face/haar.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/faceid-fuzz-haar-%d.xml", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    fid_status st;
    fid__haar *h = fid__haar_load(path, &st);
    if (h) {
        fid_image *im = fid__image_new(64, 48);
        for (int i = 0; i < 64 * 48 * 3; i++)
            im->rgb[i] = (uint8_t)(i * 7);
        fid_box boxes[16];
        fid__haar_detect(h, im, 1.2, 1, 0, boxes, 16, 1);
        fid_image_free(im);
    }
    fid__haar_free(h);
    return 0;
}
