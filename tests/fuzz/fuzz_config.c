/* libFuzzer target for the config files: faceid live's --config (INI through libinih, then each
 * camera's settings through fid_cli_camera_option) and faceid serve's (also [server], [retention]
 * and [mqtt]). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli/cameras.h"
#include "cli/serve_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/faceid-fuzz-config-%d.ini", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    fid_cli_camera cams[FID_CLI_MAX_CAMERAS], defaults = fid_cli_camera_defaults();
    int n = 0;
    fid_cli_cameras_load(path, cams, &n, &defaults);
    for (int i = 0; i < n; i++) {
        if (cams[i].output) free(fid_cli_output_for(cams[i].output, cams[i].name));
        fid_cli_camera_free(&cams[i]);
    }
    fid_cli_serve_config cfg;
    fid_cli_serve_config_init(&cfg);
    fid_cli_serve_config_load(&cfg, path);
    fid_cli_serve_config_free(&cfg);
    return 0;
}
