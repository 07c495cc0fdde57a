/* faceid serve's settings: one INI file (sections [server], [retention], [mqtt]; every other
 * section is a camera with live's keys), then the command line on top. Parsed again on SIGHUP. */
#ifndef FID_CLI_SERVE_CONFIG_H
#define FID_CLI_SERVE_CONFIG_H

#include "cli/cameras.h"
#include "server/server.h"

typedef struct fid_cli_serve_config {
    fid_server_params server; /* strings point into `strings` */
    const char *gallery;      /* NULL: FID_GALLERY or the default */
    const char *detector;     /* the upload side's detector; default "blazeface" */
    int threads;
    int workers; /* request workers for identify and verify (server.h); default: one per core */
    int history; /* [retention] history: events kept in the gallery's database; default 1 */
    fid_cli_camera cams[FID_CLI_MAX_CAMERAS];
    int n_cams;
    char *strings[128];
    int n_strings;
} fid_cli_serve_config;

/* Defaults (serve's cameras are paced like live cameras: realtime 1). */
void fid_cli_serve_config_init(fid_cli_serve_config *cfg);
/* Reads an INI file into cfg. 0, or -1 after printing one line naming the file, section and key. */
int fid_cli_serve_config_load(fid_cli_serve_config *cfg, const char *path);
/* One [server]/[retention]/[mqtt] key (also how the command line sets them: where = "--"). */
int fid_cli_serve_setting(fid_cli_serve_config *cfg, const char *section, const char *key, const char *value,
                          const char *where);
void fid_cli_serve_config_free(fid_cli_serve_config *cfg);

#endif
