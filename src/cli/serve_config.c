#include "cli/serve_config.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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
    cfg->workers = -1; /* one per core */
    cfg->history = 1;
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
    /* before anything can fail and print: no message shows a secret */
    if (!strcmp(key, "token") || !strcmp(key, "password") || !strcmp(key, "secret"))
        fid_cli_secret(value);
    else
        fid_cli_secret_in_url(value);
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
        if (!strcmp(key, "workers")) return fid_cli_int(opt, value, 0, SRV_MAX_WORKERS, &cfg->workers);
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
        if (!strcmp(key, "max-per-client")) return fid_cli_int(opt, value, 1, 1024, &p->max_per_client);
        if (!strcmp(key, "rate-limit")) return fid_cli_double(opt, value, 0, 1e6, &p->rate_limit);
        if (!strcmp(key, "max-pixels")) {
            if (fid_cli_double(opt, value, 1e4, 1e8, &d)) return -1;
            p->max_pixels = (int64_t)d;
            return 0;
        }
        if (!strcmp(key, "header-seconds")) return fid_cli_double(opt, value, 1, 3600, &p->header_seconds);
        if (!strcmp(key, "body-seconds")) return fid_cli_double(opt, value, 1, 86400, &p->body_seconds);
        if (!strcmp(key, "allowed-hosts")) STRING(p->allowed_hosts);
        if (!strcmp(key, "work-seconds")) return fid_cli_double(opt, value, 0.1, 3600, &p->work_seconds);
        if (!strcmp(key, "max-faces")) return fid_cli_int(opt, value, 1, 4096, &p->max_faces);
        if (!strcmp(key, "audit-log")) STRING(p->audit_log);
        if (!strcmp(key, "blur-unknown")) return fid_cli_int(opt, value, 0, 1, &p->blur_unknown);
        if (!strcmp(key, "node")) {
            /* a name in the shared history: printable, no spaces, short */
            int ok = *value && strlen(value) <= 100;
            for (const char *c = value; ok && *c; c++)
                ok = (unsigned char)*c > ' ' && *c != 0x7f;
            if (!ok) {
                fid_cli_say("faceid: %s: a name of 1 to 100 printable characters without spaces, not '%s'\n", opt,
                            value);
                return -1;
            }
            STRING(p->node);
        }
        if (!strcmp(key, "threshold")) {
            if (fid_cli_double(opt, value, 0.01, 10, &d)) return -1;
            p->threshold = (float)d;
            return 0;
        }
    } else if (!strcmp(section, "webhook") || !strncmp(section, "webhook ", 8)) {
        /* [webhook] or [webhook NAME]: one entry per section */
        fid_server_webhook *w = NULL;
        for (int i = 0; i < p->n_webhooks && !w; i++)
            if (!strcmp(p->webhooks[i].name, section)) w = &p->webhooks[i];
        if (!w) {
            if (p->n_webhooks == SRV_MAX_WEBHOOKS) {
                fid_cli_say("faceid: %s: at most %d webhooks\n", opt, SRV_MAX_WEBHOOKS);
                return -1;
            }
            w = &p->webhooks[p->n_webhooks++];
            *w = (fid_server_webhook){.timeout_s = 5, .retries = 3};
            const char *value_ = value;
            value = section;
            if (!(w->name = keep(cfg, value))) {
                fid_cli_say("faceid: %s: too many settings\n", opt);
                return -1;
            }
            value = value_;
        }
        if (!strcmp(key, "url")) {
            if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8)) {
                fid_cli_say("faceid: %s wants an http:// or https:// URL, not '%s'\n", opt, value);
                return -1;
            }
            STRING(w->url);
        }
        if (!strcmp(key, "events")) STRING(w->events);
        if (!strcmp(key, "people")) STRING(w->people);
        if (!strcmp(key, "secret")) STRING(w->secret);
        if (!strcmp(key, "timeout")) return fid_cli_double(opt, value, 0.1, 600, &w->timeout_s);
        if (!strcmp(key, "retries")) return fid_cli_int(opt, value, 0, 20, &w->retries);
    } else if (!strcmp(section, "retention")) {
        if (!strcmp(key, "crops-hours")) return hours(opt, value, &p->crops_hours);
        if (!strcmp(key, "events-hours")) return hours(opt, value, &p->events_hours);
        if (!strcmp(key, "unknown-groups")) return fid_cli_int(opt, value, 1, 10000, &p->max_unknown_groups);
        if (!strcmp(key, "history")) return fid_cli_int(opt, value, 0, 1, &cfg->history);
        if (!strcmp(key, "history-crops")) return fid_cli_int(opt, value, 0, 1, &p->history_crops);
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
        if (!strcmp(key, "discovery")) return fid_cli_int(opt, value, 0, 1, &p->mqtt.discovery);
        if (!strcmp(key, "discovery-prefix")) {
            if (!*value || strpbrk(value, "+#") || value[strlen(value) - 1] == '/') {
                fid_cli_say("faceid: %s: a topic prefix without '+', '#' or a trailing '/', not '%s'\n", opt, value);
                return -1;
            }
            STRING(p->mqtt.discovery_prefix);
        }
        if (!strcmp(key, "ca-file")) STRING(p->mqtt.ca_file);
        if (!strcmp(key, "cert-file")) STRING(p->mqtt.cert_file);
        if (!strcmp(key, "key-file")) STRING(p->mqtt.key_file);
    }
#undef STRING
    fid_cli_say("faceid: %sunknown setting '%s'\n", where, key);
    return -1;
}

typedef struct ctx {
    fid_cli_serve_config *cfg;
    const char *path;
    const char *text; /* what is left to read */
    int line;         /* of the line inih has now */
    fid_cli_camera defaults;
    int failed;
} ctx;

/* inih's reader: one line at a time from the checked text, counted, so errors name their line. */
static char *next_line(char *out, int size, void *stream) {
    ctx *x = stream;
    if (!*x->text) return NULL;
    size_t n = strcspn(x->text, "\n");
    if (x->text[n] == '\n') n++;
    if (n >= (size_t)size) n = (size_t)size - 1; /* not reached: lines are checked shorter */
    memcpy(out, x->text, n);
    out[n] = 0;
    x->text += n;
    x->line++;
    return out;
}

static int on_ini(void *user, const char *section, const char *key, const char *value) {
    ctx *x = user;
    int rc;
    fid_cli_secret_in_url(value); /* a camera's URL may carry a password */
    if (!strcmp(section, "server") || !strcmp(section, "retention") || !strcmp(section, "mqtt") ||
        !strcmp(section, "webhook") || !strncmp(section, "webhook ", 8)) {
        char where[4200];
        snprintf(where, sizeof where, "%s:%d: [%s] ", x->path, x->line, section);
        rc = fid_cli_serve_setting(x->cfg, section, key, value, where);
    } else {
        char at[4200];
        snprintf(at, sizeof at, "%s:%d", x->path, x->line);
        rc = fid_cli_camera_ini(x->cfg->cams, &x->cfg->n_cams, &x->defaults, at, section, key, value);
    }
    if (rc == 0) return 1;
    x->failed = 1;
    return 0;
}

/* inih's limits, checked before it reads: a longer line would be split (the rest read as more
 * lines, the error numbered wrong), and an indented line continues the previous key's value (a
 * token line would vanish into the key above it). */
#define LINE_MAX_CHARS 199
#define CONFIG_MAX_BYTES (1 << 20)

static char *read_config(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fid_cli_say("faceid: %s: cannot read: %s\n", path, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) { /* a directory, a FIFO or a device is not a config (it read as an empty one) */
        fid_cli_say("faceid: %s: not a regular file\n", path);
        close(fd);
        return NULL;
    }
    if (st.st_size > CONFIG_MAX_BYTES) {
        fid_cli_say("faceid: %s: larger than %d bytes: not a config file\n", path, CONFIG_MAX_BYTES);
        close(fd);
        return NULL;
    }
    char *text = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    ssize_t k;
    while (text && got < (size_t)st.st_size && (k = read(fd, text + got, (size_t)st.st_size - got)) > 0)
        got += (size_t)k;
    close(fd);
    if (!text || got != (size_t)st.st_size) {
        fid_cli_say("faceid: %s: cannot read: %s\n", path, text ? "short read" : "out of memory");
        free(text);
        return NULL;
    }
    text[got] = 0;
    int line = 1;
    for (const char *p = text; p < text + got; line++) {
        const char *end = memchr(p, '\n', (size_t)(text + got - p));
        if (!end) end = text + got;
        size_t n = (size_t)(end - p);
        if (n && p[n - 1] == '\r') n--;
        const char *why = NULL;
        if (memchr(p, 0, n))
            why = "holds a NUL byte";
        else if (n > LINE_MAX_CHARS)
            why = "is longer than 199 characters";
        else if (n && (*p == ' ' || *p == '\t') && p[strspn(p, " \t")] != '\r' && p[strspn(p, " \t")] != '\n' &&
                 p[strspn(p, " \t")] != ';' && p[strspn(p, " \t")] != '#' && p + strspn(p, " \t") < end)
            why = "starts with a space or tab (it would continue the previous key's value): remove the indentation";
        if (why) {
            fid_cli_say("faceid: %s:%d: the line %s\n", path, line, why);
            free(text);
            return NULL;
        }
        p = end + 1;
    }
    return text;
}

int fid_cli_serve_config_load(fid_cli_serve_config *cfg, const char *path) {
    ctx x = {.cfg = cfg, .path = path, .defaults = fid_cli_camera_defaults()};
    x.defaults.realtime = 1; /* a file named as a camera plays at its pace, as a camera would */
    char *text = read_config(path);
    if (!text) return -1;
    x.text = text;
    int err = ini_parse_stream(next_line, &x, on_ini, &x);
    free(text);
    if (err > 0 && !x.failed) fid_cli_say("faceid: %s:%d: not an INI line\n", path, err);
    if (err || x.failed) return -1;
    for (int i = 0; i < cfg->n_cams; i++)
        if (!cfg->cams[i].url) {
            fid_cli_say("faceid: %s: [%s] has no source\n", path, cfg->cams[i].name);
            return -1;
        }
    return 0;
}
