/* libFuzzer target for the remembered AUTO precision choice (src/nn/choice_cache.c): whatever
 * sits in ~/.cache/faceid/precision-KEY is read back as a precision and a note, or refused. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/choice_cache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char dir[64], path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/faceid-fuzz-choice-%d", (int)getpid());
        snprintf(path, sizeof path, "%s/precision-key", dir);
        setenv("FID_CACHE_DIR", dir, 1);
        fid__choice_store("seed", FID_PRECISION_FP32, "seed"); /* makes the directory */
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    fid_precision p;
    char note[200];
    if (fid__choice_load("key", &p, note, sizeof note)) {
        if (p != FID_PRECISION_FP32 && p != FID_PRECISION_BF16 && p != FID_PRECISION_INT8) abort();
        if (strlen(note) >= sizeof note) abort();
    }
    return 0;
}
