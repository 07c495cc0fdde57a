#include "cli/serve_config.h"

#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

void fid_cli_serve_config_init(fid_cli_serve_config *cfg) {
    memset(cfg, 0, sizeof *cfg);
    cfg->server = fid_server_default_params();
    cfg->detector = "blazeface";
    cfg->threads = 2;
}

void fid_cli_serve_config_free(fid_cli_serve_config *cfg) {
    for (int i = 0; i < cfg->n_cams; i++)
        fid_cli_camera_free(&cfg->cams[i]);
    for (int i = 0; i < cfg->n_strings; i++)
        free(cfg->strings[i]);
    cfg->n_cams = cfg->n_strings = 0;
}

static const char *keep(fid_cli_serve_config *cfg, const char *value) {
    if (cfg->n_strings == (int)(sizeof cfg->strings / sizeof *cfg->strings)) return NULL;
    return cfg->strings[cfg->n_strings++] = strdup(value);
}

static int hours(const char *opt, const char *value, double *out) { return fid_cli_double(opt, value, 1e-4, 1e6, out); }

int fid_cli_serve_setting(fid_cli_serve_config *cfg, const char *section, const char *key, const char *value,
                          const char *where) {
    char opt[4400];
    snprintf(opt, sizeof opt, "%s%s", where, key);
    fid_server_params *p = &cfg->server;
    int v;
    double d;
#define STRING(field) return (field = keep(cfg, value)) ? 0 : (fid_cli_say("faceid: %s: too many settings\n", opt), -1)
    if (!strcmp(section, "server")) {
        if (!strcmp(key, "listen")) STRING(p->listen);
        if (!strcmp(key, "token")) STRING(p->token);
        if (!strcmp(key, "tls-cert")) STRING(p->tls_cert);
        if (!strcmp(key, "tls-key")) STRING(p->tls_key);
        if (!strcmp(key, "gallery")) STRING(cfg->gallery);
        if (!strcmp(key, "detector")) {
            fid_detector_kind kind;
            if (fid_cli_detector_kind(value, &kind)) return -1;
            STRING(cfg->detector);
        }
        if (!strcmp(key, "threads")) return fid_cli_int(opt, value, 1, 64, &cfg->threads);
        if (!strcmp(key, "precision")) {
            if (fid_precision_from_name(value, NULL) != FID_OK) {
                fid_cli_say("faceid: %s wants auto, fp32, bf16 or int8, not '%s'\n", opt, value);
                return -1;
            }
            return fid_cli_model_option(FID_OPT_PRECISION, value) == 1 ? 0 : -1;
        }
        if (!strcmp(key, "max-upload")) {
            if (fid_cli_int(opt, value, 1024, 1 << 30, &v)) return -1;
            p->max_upload = (size_t)v;
            return 0;
        }
        if (!strcmp(key, "max-connections")) return fid_cli_int(opt, value, 4, 1024, &p->max_connections);
        if (!strcmp(key, "blur-unknown")) return fid_cli_int(opt, value, 0, 1, &p->blur_unknown);
        if (!strcmp(key, "threshold")) {
            if (fid_cli_double(opt, value, 0.01, 10, &d)) return -1;
            p->threshold = (float)d;
            return 0;
        }
    } else if (!strcmp(section, "retention")) {
        if (!strcmp(key, "crops-hours")) return hours(opt, value, &p->crops_hours);
        if (!strcmp(key, "events-hours")) return hours(opt, value, &p->events_hours);
        if (!strcmp(key, "unknown-groups")) return fid_cli_int(opt, value, 1, 10000, &p->max_unknown_groups);
    } else if (!strcmp(section, "mqtt")) {
        if (!strcmp(key, "host")) STRING(p->mqtt.host);
        if (!strcmp(key, "port")) return fid_cli_int(opt, value, 1, 65535, &p->mqtt.port);
        if (!strcmp(key, "user")) STRING(p->mqtt.user);
        if (!strcmp(key, "password")) STRING(p->mqtt.password);
        if (!strcmp(key, "prefix")) {
            if (!*value || strpbrk(value, "+#") || value[strlen(value) - 1] == '/') {
                fid_cli_say("faceid: %s: a topic prefix without '+', '#' or a trailing '/', not '%s'\n", opt, value);
                return -1;
            }
            STRING(p->mqtt.prefix);
        }
        if (!strcmp(key, "crops")) return fid_cli_int(opt, value, 0, 1, &p->mqtt.crops);
    }
#undef STRING
    fid_cli_say("faceid: %sunknown setting '%s'\n", where, key);
    return -1;
}

typedef struct ctx {
    fid_cli_serve_config *cfg;
    const char *path;
    fid_cli_camera defaults;
    int failed;
} ctx;

static int on_ini(void *user, const char *section, const char *key, const char *value) {
    ctx *x = user;
    int rc;
    if (!strcmp(section, "server") || !strcmp(section, "retention") || !strcmp(section, "mqtt")) {
        char where[4200];
        snprintf(where, sizeof where, "%s: [%s] ", x->path, section);
        rc = fid_cli_serve_setting(x->cfg, section, key, value, where);
    } else {
        rc = fid_cli_camera_ini(x->cfg->cams, &x->cfg->n_cams, &x->defaults, x->path, section, key, value);
    }
    if (rc == 0) return 1;
    x->failed = 1;
    return 0;
}

int fid_cli_serve_config_load(fid_cli_serve_config *cfg, const char *path) {
    ctx x = {.cfg = cfg, .path = path, .defaults = fid_cli_camera_defaults()};
    x.defaults.realtime = 1; /* a file named as a camera plays at its pace, as a camera would */
    int err = ini_parse(path, on_ini, &x);
    if (err < 0) {
        fid_cli_say("faceid: %s: cannot read: %s\n", path, err == -1 ? strerror(errno) : "out of memory");
        return -1;
    }
    if (err > 0 && !x.failed) fid_cli_say("faceid: %s:%d: not an INI line\n", path, err);
    if (err || x.failed) return -1;
    for (int i = 0; i < cfg->n_cams; i++)
        if (!cfg->cams[i].url) {
            fid_cli_say("faceid: %s: [%s] has no source\n", path, cfg->cams[i].name);
            return -1;
        }
    return 0;
}
