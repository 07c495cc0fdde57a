#include "cli/cameras.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

static const char name_chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.";

fid_cli_camera fid_cli_camera_defaults(void) {
    return (fid_cli_camera){.detector = FID_DETECTOR_BLAZEFACE, .tile_face = -1, .reconnect_s = -1};
}

void fid_cli_camera_free(fid_cli_camera *c) {
    free(c->url);
    free(c->output);
    free(c->camera_size);
    free(c->camera_format);
    c->url = c->output = c->camera_size = c->camera_format = NULL;
}

static char *copy(const char *s) { return s ? strdup(s) : NULL; }

fid_cli_camera *fid_cli_camera_add(fid_cli_camera *cams, int *n, const char *name, const fid_cli_camera *defaults) {
    size_t len = strlen(name);
    if (!len || len >= sizeof cams->name || strspn(name, name_chars) != len) {
        fid_cli_say("faceid: camera name '%.80s' is not usable (up to 63 letters, digits, '_', '-', '.')\n", name);
        return NULL;
    }
    if (*n >= FID_CLI_MAX_CAMERAS) {
        fid_cli_say("faceid: at most %d sources\n", FID_CLI_MAX_CAMERAS);
        return NULL;
    }
    for (int i = 0; i < *n; i++)
        if (!strcmp(cams[i].name, name)) {
            fid_cli_say("faceid: two sources are named '%s' (give NAME=URL)\n", name);
            return NULL;
        }
    fid_cli_camera *c = &cams[(*n)++];
    *c = *defaults; /* with copies of the strings: every camera owns its own */
    snprintf(c->name, sizeof c->name, "%s", name);
    c->url = copy(defaults->url);
    c->output = copy(defaults->output);
    c->camera_size = copy(defaults->camera_size);
    c->camera_format = copy(defaults->camera_format);
    return c;
}

void fid_cli_source_name(const char *spec, char *name, size_t size, const char **url) {
    const char *eq = strchr(spec, '=');
    size_t k = eq ? (size_t)(eq - spec) : 0;
    if (eq && k > 0 && k < 64 && strspn(spec, name_chars) == k) {
        snprintf(name, size, "%.*s", (int)k, spec);
        *url = eq + 1;
        return;
    }
    *url = spec;
    const char *base = strrchr(spec, '/'), *scheme = strstr(spec, "://");
    base = base && base[1] ? base + 1 : scheme ? scheme + 3 : spec; /* "rtsp://host/" is "host" */
    size_t len = strspn(base, name_chars), stop = strcspn(base, ".");
    if (stop > 0 && stop < len) len = stop; /* without the extension */
    snprintf(name, size, "%.*s", (int)(len < size ? len : size - 1), base);
    if (!name[0]) snprintf(name, size, "camera");
}

static int parse_roi(const char *opt, const char *arg, fid_box *roi) {
    double v[4];
    char tail;
    if (sscanf(arg, "%lf,%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 || !(v[0] >= 0 && v[1] >= 0) ||
        !(v[2] >= 16 && v[3] >= 16) || v[0] + v[2] > 16384 || v[1] + v[3] > 16384) {
        fid_cli_say("faceid: %s wants X,Y,WIDTH,HEIGHT in pixels (at least 16x16), not '%s'\n", opt, arg);
        return -1;
    }
    *roi = (fid_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    return 0;
}

static int check_camera_size(const char *opt, const char *arg) {
    int w, h;
    char tail;
    if (sscanf(arg, "%dx%d%c", &w, &h, &tail) != 2 || w < 16 || h < 16 || w > 16384 || h > 16384) {
        fid_cli_say("faceid: %s wants WIDTHxHEIGHT, not '%s'\n", opt, arg);
        return -1;
    }
    return 0;
}

static void set_string(char **field, const char *value) {
    free(*field);
    *field = strdup(value);
}

int fid_cli_camera_option(fid_cli_camera *c, const char *key, const char *value, const char *where) {
    char opt[4300];
    snprintf(opt, sizeof opt, "%s%s", where, key);
    int b;
    if (!strcmp(key, "source"))
        set_string(&c->url, value);
    else if (!strcmp(key, "output"))
        set_string(&c->output, value);
    else if (!strcmp(key, "camera-format"))
        set_string(&c->camera_format, value);
    else if (!strcmp(key, "camera-size")) {
        if (check_camera_size(opt, value)) return -1;
        set_string(&c->camera_size, value);
    } else if (!strcmp(key, "detector"))
        return fid_cli_detector_kind(value, &c->detector);
    else if (!strcmp(key, "tile-face"))
        return fid_cli_int(opt, value, 0, 4096, &c->tile_face);
    else if (!strcmp(key, "roi"))
        return parse_roi(opt, value, &c->roi);
    else if (!strcmp(key, "reconnect-timeout"))
        return fid_cli_double(opt, value, 0, 1e9, &c->reconnect_s);
    else if (!strcmp(key, "camera-fps"))
        return fid_cli_double(opt, value, 0.1, 1000, &c->camera_fps);
    else if (!strcmp(key, "realtime")) {
        if (fid_cli_int(opt, value, 0, 1, &b)) return -1;
        c->realtime = b;
    } else {
        fid_cli_say("faceid: %sunknown setting '%s'\n", where, key);
        return -1;
    }
    return 0;
}

typedef struct config_ctx {
    const char *path;
    fid_cli_camera *cams;
    int *n;
    const fid_cli_camera *defaults;
    int failed;
} config_ctx;

int fid_cli_camera_ini(fid_cli_camera *cams, int *n, const fid_cli_camera *defaults, const char *path,
                       const char *section, const char *key, const char *value) {
    char where[4200];
    snprintf(where, sizeof where, "%s: [%s] ", path, section);
    fid_cli_camera *c = NULL;
    for (int i = 0; i < *n && !c; i++)
        if (!strcmp(cams[i].name, section)) c = &cams[i];
    if (!section[0]) {
        fid_cli_say("faceid: %s: '%s' outside a [camera] section\n", path, key);
        return -1;
    }
    if (!c && !(c = fid_cli_camera_add(cams, n, section, defaults))) return -1;
    return fid_cli_camera_option(c, key, value, where);
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
    config_ctx *x = user;
    if (fid_cli_camera_ini(x->cams, x->n, x->defaults, x->path, section, key, value) == 0) return 1;
    x->failed = 1;
    return 0; /* inih stops at the first error */
}

int fid_cli_cameras_load(const char *path, fid_cli_camera *cams, int *n, const fid_cli_camera *defaults) {
    config_ctx x = {.path = path, .cams = cams, .n = n, .defaults = defaults};
    int err = ini_parse(path, on_ini, &x);
    if (err < 0) {
        fid_cli_say("faceid: %s: cannot read: %s\n", path, err == -1 ? strerror(errno) : "out of memory");
        return -1;
    }
    if (err > 0 && !x.failed) fid_cli_say("faceid: %s:%d: not an INI line\n", path, err);
    return err || x.failed ? -1 : 0;
}

char *fid_cli_output_for(const char *pattern, const char *name) {
    const char *at = strstr(pattern, "{name}");
    size_t n = strlen(pattern) + strlen(name) + 1;
    char *out = malloc(n);
    if (!out) return NULL;
    if (at)
        snprintf(out, n, "%.*s%s%s", (int)(at - pattern), pattern, name, at + 6);
    else
        snprintf(out, n, "%s", pattern);
    return out;
}
