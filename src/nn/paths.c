/* Where the models are: FID_MODEL_DIR; else share/faceid/models beside the installed program or
 * library (found from this code's own address, so an install under any prefix works, moved or
 * not); else the directory this build was configured with (the source tree's .cache/models). */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "faceid.h"

#ifndef FID_DEFAULT_MODEL_DIR
#define FID_DEFAULT_MODEL_DIR "/usr/share/faceid/models"
#endif

const char *fid_version(void) { return "0.1.0"; }

static char installed[PATH_MAX];
static pthread_once_t once = PTHREAD_ONCE_INIT;

/* bin/faceid, lib/libfaceid.so or lib/<multiarch>/libfaceid.so: share/ is one or two up. */
static void find_installed(void) {
    Dl_info info;
    char self[PATH_MAX], candidate[PATH_MAX + 64];
    struct stat st;
    if (!dladdr((void *)&find_installed, &info) || !info.dli_fname || !realpath(info.dli_fname, self)) return;
    char *slash = strrchr(self, '/');
    if (!slash) return;
    *slash = 0;
    for (int up = 1; up <= 2; up++) {
        snprintf(candidate, sizeof candidate, "%s%s/share/faceid/models", self, up == 1 ? "/.." : "/../..");
        if (stat(candidate, &st) == 0 && S_ISDIR(st.st_mode) && realpath(candidate, installed)) return;
    }
    installed[0] = 0;
}

const char *fid_model_dir(void) {
    const char *env = getenv("FID_MODEL_DIR");
    if (env && *env) return env;
    pthread_once(&once, find_installed);
    return installed[0] ? installed : FID_DEFAULT_MODEL_DIR;
}
