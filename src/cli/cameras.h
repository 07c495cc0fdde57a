/* faceid live's sources: one camera's settings, from --source [NAME=]URL, the per-camera options
 * and the [NAME] sections of an INI --config file (the same keys: source, output, detector,
 * tile-face, roi, realtime, reconnect-timeout, camera-size, camera-fps, camera-format). */
#ifndef FID_CLI_CAMERAS_H
#define FID_CLI_CAMERAS_H

#include "faceid.h"

enum { FID_CLI_MAX_CAMERAS = 32 };

typedef struct fid_cli_camera {
    char name[64]; /* letters, digits, '_', '-', '.' */
    char *url, *output, *camera_size, *camera_format; /* owned; NULL: not set */
    fid_detector_kind detector;
    int tile_face; /* a config file's tile-face; -1: --tile-face or the detector's default */
    fid_box roi;
    int realtime;
    double reconnect_s, camera_fps;
} fid_cli_camera;

/* Settings before any option: BlazeFace, no region, reconnect forever. */
fid_cli_camera fid_cli_camera_defaults(void);
void fid_cli_camera_free(fid_cli_camera *camera);

/* Appends a camera named `name` with copies of `defaults`' settings; NULL after printing why
 * (too many, a name used twice or not usable). */
fid_cli_camera *fid_cli_camera_add(fid_cli_camera *cams, int *n, const char *name, const fid_cli_camera *defaults);

/* A source's name: NAME= before the URL, else the file or device name without its extension.
 * *url points into spec. */
void fid_cli_source_name(const char *spec, char *name, size_t size, const char **url);

/* One setting (key as in an INI section); `where` prefixes error messages ("--" for options,
 * "FILE: [NAME] " for a config file). 0, or -1 after printing. */
int fid_cli_camera_option(fid_cli_camera *camera, const char *key, const char *value, const char *where);

/* One key of an INI [section] that names a camera (added on its first key). 0, or -1 after
 * printing one line naming the file, section and key. */
int fid_cli_camera_ini(fid_cli_camera *cams, int *n, const fid_cli_camera *defaults, const char *path,
                       const char *section, const char *key, const char *value);

/* Adds (or completes) a camera per [NAME] section of an INI file. 0, or -1 after printing one line
 * naming the file, and the section and key or the line. */
int fid_cli_cameras_load(const char *path, fid_cli_camera *cams, int *n, const fid_cli_camera *defaults);

/* "{name}" in an output path becomes the camera's name. NULL when out of memory. */
char *fid_cli_output_for(const char *pattern, const char *name);

#endif
