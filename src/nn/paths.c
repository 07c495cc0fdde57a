#include <stdlib.h>

#include "faceid.h"

#ifndef FID_DEFAULT_MODEL_DIR
#define FID_DEFAULT_MODEL_DIR "/usr/share/faceid/models"
#endif

const char *fid_version(void) { return "0.1.0"; }

const char *fid_model_dir(void) {
    const char *env = getenv("FID_MODEL_DIR");
    return env && *env ? env : FID_DEFAULT_MODEL_DIR;
}
