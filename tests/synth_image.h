/* Deterministic synthetic RGB image with integer pixel values; tests/oracle/golden.js has the
 * same generator, so the C runtime and the JS oracle see identical float inputs. */
#ifndef FID_TESTS_SYNTH_IMAGE_H
#define FID_TESTS_SYNTH_IMAGE_H

#include <stdint.h>

static inline void synth_image(float *out, int h, int w, uint32_t seed) {
    uint32_t s = seed;
    int64_t i = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                int wd = w > 1 ? w - 1 : 1, hd = h > 1 ? h - 1 : 1;
                int base = ((x * 255 * (c + 1)) / wd + (y * 255 * (3 - c)) / hd) / 4;
                int v = base + (int)(s % 48);
                out[i++] = (float)(v > 255 ? 255 : v);
            }
}

#endif
