/* faceid live: cameras, streams or files in; tracked faces named or "?"; a window, annotated
 * videos and JSON events out. The work is fid_pipeline's: this file parses, wires and prints. */
#include <errno.h>
#include <getopt.h>
#include <ini.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/window.h"
#include "faceid.h"
#include "util/clock.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static long peak_rss_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atol(line + 6);
    if (f) fclose(f);
    return kb;
}

enum { MAX_CAMERAS = 32 };

typedef struct appearance {
    char name[208];
    int tracks;
} appearance;

/* One source and what is done with it. */
typedef struct camera {
    char name[64];
    char *url, *output;
    fid_detector_kind detector;
    int tile_face; /* a config file's tile-face; -1: --tile-face or the detector's default */
    fid_box roi;
    int realtime;
    double reconnect_s;
    char *camera_size, *camera_format;
    double camera_fps;
    /* running */
    fid_pipeline *pipeline;
    pthread_t thread;
    int started, rc, quit;
    fid_video_writer *writer;
    fid_image *canvas;
    live_window *window;
    int window_mode; /* 0 none, 1 required, 2 if one opens */
    double shown_fps, last_at;
    appearance *seen;
    int n_seen;
    double t_start, t_end;
} camera;

/* Outputs every camera writes to, one line at a time. */
typedef struct shared_out {
    FILE *events, *tracks;
    const char *events_path, *tracks_path;
    pthread_mutex_t lock;
} shared_out;

static const char *event_names[] = {"appeared", "identified", "changed", "left"};

static json_t *track_json(const fid_track_info *t) {
    json_t *j = json_pack("{s:i,s:o,s:o,s:s}", "track", t->id, "box", fid_cli_json_box(t->box), "score",
                          fid_cli_json_number(t->score), "name", t->name);
    if (isfinite(t->distance) && strcmp(t->name, "?")) json_object_set_new(j, "distance", fid_cli_json_number(t->distance));
    return j;
}

static void write_event(shared_out *o, const fid_pipeline_event *e) {
    char when[32];
    fid_cli_iso_time(e->wall, when);
    json_t *j = json_pack("{s:i,s:s,s:s,s:s,s:o,s:I}", "schema", FID_JSON_SCHEMA, "event", event_names[e->kind],
                          "source", e->source, "time", when, "stream_time", fid_cli_json_number(e->seconds), "frame",
                          (json_int_t)e->frame);
    json_t *t = track_json(&e->track);
    json_object_update(j, t);
    json_decref(t);
    fid_cli_write_line(o->events, j);
}

static void write_result(camera *c, shared_out *o, const fid_pipeline_result *r, int with_tracks) {
    pthread_mutex_lock(&o->lock);
    for (int i = 0; o->events && i < r->n_events; i++)
        write_event(o, &r->events[i]);
    if (o->tracks && with_tracks) {
        char when[32];
        fid_cli_iso_time(r->wall, when);
        json_t *list = json_array();
        for (int i = 0; i < r->n_tracks; i++)
            json_array_append_new(list, track_json(&r->tracks[i]));
        fid_cli_write_line(o->tracks, json_pack("{s:i,s:s,s:s,s:o,s:I,s:o}", "schema", FID_JSON_SCHEMA, "source",
                                                c->name, "time", when, "stream_time", fid_cli_json_number(r->seconds),
                                                "frame", (json_int_t)r->frame, "tracks", list));
    }
    pthread_mutex_unlock(&o->lock);
    for (int i = 0; i < r->n_events; i++) { /* people seen, for the summary */
        const fid_pipeline_event *e = &r->events[i];
        if (e->kind != FID_TRACK_IDENTIFIED && e->kind != FID_TRACK_CHANGED) continue;
        if (!strcmp(e->track.name, "?")) continue;
        int j = 0;
        while (j < c->n_seen && strcmp(c->seen[j].name, e->track.name))
            j++;
        if (j == c->n_seen) {
            appearance *grown = realloc(c->seen, (size_t)(c->n_seen + 1) * sizeof *grown);
            if (!grown) continue;
            c->seen = grown;
            snprintf(c->seen[j].name, sizeof c->seen[j].name, "%s", e->track.name);
            c->seen[c->n_seen++].tracks = 0;
        }
        c->seen[j].tracks++;
    }
}

/* The frame with every track's box and label ("?" in red for strangers), into c->canvas. */
static int annotate(camera *c, const fid_pipeline_result *r) {
    if (!(c->canvas = fid_image_copy_into(c->canvas, r->image, NULL))) return -1;
    for (int i = 0; i < r->n_tracks; i++) {
        const fid_track_info *t = &r->tracks[i];
        char label[256];
        int unknown = !strcmp(t->name, "?");
        if (isfinite(t->distance) && !unknown)
            snprintf(label, sizeof label, "%s %.2f", t->name, t->distance);
        else
            snprintf(label, sizeof label, "%s", t->name);
        fid_image_draw_label(c->canvas, &t->box, label, unknown ? 0xd32f2f : 0x2e7d32);
    }
    return 0;
}

/* Draws, shows and writes one processed frame. -1 after printing an error. */
static int show_frame(camera *c, const fid_pipeline_result *r) {
    fid_status st;
    if (c->window_mode && !c->window) {
        char why[256];
        c->window = live_window_open("faceid live", fid_image_width(r->image), fid_image_height(r->image), why,
                                     sizeof why);
        if (!c->window) {
            fprintf(stderr, "faceid: %s%s\n", why, c->window_mode == 2 ? "; going on without one" : "");
            if (c->window_mode == 1) return -1;
            c->window_mode = 0;
        }
    }
    if ((c->output || c->window) && annotate(c, r) < 0) {
        fprintf(stderr, "faceid: %s: out of memory for the annotated frame\n", c->name);
        return -1;
    }
    double at = fid__monotonic_s();
    if (!isnan(c->last_at) && at > c->last_at) /* smoothed over ~1 s at camera rates */
        c->shown_fps = c->shown_fps ? 0.97 * c->shown_fps + 0.03 / (at - c->last_at) : 1 / (at - c->last_at);
    c->last_at = at;
    if (c->output) {
        double fps = fid_pipeline_fps(c->pipeline);
        if (!c->writer && !(c->writer = fid_video_writer_open(c->output, fid_image_width(r->image),
                                                              fid_image_height(r->image), fps > 0 ? fps : 25, &st))) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            return -1;
        }
        if (fid_video_writer_write(c->writer, c->canvas) != FID_OK) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            return -1;
        }
    }
    if (c->window) {
        fid_pipeline_stats ps = fid_pipeline_get_stats(c->pipeline);
        char status[160];
        snprintf(status, sizeof status, "%.1f fps  %.0f ms  %lld dropped%s", c->shown_fps, r->latency * 1e3,
                 (long long)ps.dropped, ps.reconnecting ? "  reconnecting" : "");
        fid_image_draw_text(c->canvas, 0, 0, status, 0, 0xffffff, 0x202020);
        if (live_window_show(c->window, c->canvas) == 1) c->quit = 1;
    }
    return 0;
}

typedef struct run_arg {
    camera *c;
    shared_out *o;
} run_arg;

/* One camera from start to end of its source: its own thread, so a slow or dead camera never
 * stalls another. */
static void *run_camera(void *p) {
    run_arg *a = p;
    camera *c = a->c;
    c->t_start = fid__monotonic_s();
    for (;;) {
        if ((stop_requested || c->quit)) fid_pipeline_stop(c->pipeline);
        fid_pipeline_result r;
        fid_status st = fid_pipeline_next(c->pipeline, 0.1, &r);
        if (st == FID_AGAIN) {
            if (c->window && live_window_poll(c->window)) c->quit = 1;
            continue;
        }
        if (st != FID_OK && st != FID_END) { /* the source failed: its tracks leave, then one line */
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            write_result(c, a->o, &r, 0);
            c->rc = 2;
            break;
        }
        write_result(c, a->o, &r, st == FID_OK);
        if (st == FID_END) break;
        if (show_frame(c, &r) < 0) { /* e.g. no window: the error stays one line */
            c->rc = 2;
            break;
        }
    }
    c->t_end = fid__monotonic_s();
    if (c->writer && fid_video_writer_close(c->writer) != FID_OK) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        c->rc = 2;
    }
    c->writer = NULL;
    return NULL;
}

/* ---- options and the camera list ----------------------------------------------------------- */

static camera *add_camera(camera *cams, int *n, const char *name, const camera *defaults) {
    if (*n >= MAX_CAMERAS) {
        fprintf(stderr, "faceid: at most %d sources\n", MAX_CAMERAS);
        return NULL;
    }
    for (int i = 0; i < *n; i++)
        if (!strcmp(cams[i].name, name)) {
            fprintf(stderr, "faceid: two sources are named '%s' (give NAME=URL)\n", name);
            return NULL;
        }
    camera *c = &cams[(*n)++];
    *c = *defaults; /* with copies of the strings: every camera owns its own */
    snprintf(c->name, sizeof c->name, "%s", name);
    c->url = defaults->url ? strdup(defaults->url) : NULL;
    c->output = defaults->output ? strdup(defaults->output) : NULL;
    c->camera_size = defaults->camera_size ? strdup(defaults->camera_size) : NULL;
    c->camera_format = defaults->camera_format ? strdup(defaults->camera_format) : NULL;
    return c;
}

/* A source's name: NAME= before the URL, else the file or device name without its extension. */
static void source_name(const char *spec, char *name, size_t size, const char **url) {
    const char *eq = strchr(spec, '=');
    size_t k = eq ? (size_t)(eq - spec) : 0;
    if (eq && k > 0 && k < 64 && strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") == k) {
        snprintf(name, size, "%.*s", (int)k, spec);
        *url = eq + 1;
        return;
    }
    *url = spec;
    const char *base = strrchr(spec, '/'), *scheme = strstr(spec, "://");
    base = base && base[1] ? base + 1 : scheme ? scheme + 3 : spec; /* "rtsp://host/" is "host" */
    size_t len = strcspn(base, ".?#:/");
    snprintf(name, size, "%.*s", (int)(len ? len : strlen(base)), base);
    if (!name[0]) snprintf(name, size, "camera");
}

static int parse_roi(const char *opt, const char *arg, fid_box *roi) {
    double v[4];
    char tail;
    if (sscanf(arg, "%lf,%lf,%lf,%lf%c", &v[0], &v[1], &v[2], &v[3], &tail) != 4 || !(v[0] >= 0 && v[1] >= 0) ||
        !(v[2] >= 16 && v[3] >= 16) || v[0] + v[2] > 16384 || v[1] + v[3] > 16384) {
        fprintf(stderr, "faceid: %s wants X,Y,WIDTH,HEIGHT in pixels (at least 16x16), not '%s'\n", opt, arg);
        return -1;
    }
    *roi = (fid_box){(float)v[0], (float)v[1], (float)v[2], (float)v[3]};
    return 0;
}

static int parse_camera_size(const char *opt, const char *arg) {
    int w, h;
    char tail;
    if (sscanf(arg, "%dx%d%c", &w, &h, &tail) != 2 || w < 16 || h < 16 || w > 16384 || h > 16384) {
        fprintf(stderr, "faceid: %s wants WIDTHxHEIGHT, not '%s'\n", opt, arg);
        return -1;
    }
    return 0;
}

/* One key of a camera section (or of the defaults); 0, or -1 after printing. */
static int camera_option(camera *c, const char *key, const char *value, const char *where) {
    char opt[4300];
    snprintf(opt, sizeof opt, "%s%s", where, key);
    double v;
    if (!strcmp(key, "source")) {
        free(c->url);
        c->url = strdup(value);
    } else if (!strcmp(key, "output")) {
        free(c->output);
        c->output = strdup(value);
    } else if (!strcmp(key, "detector")) {
        if (fid_cli_detector_kind(value, &c->detector)) return -1;
    } else if (!strcmp(key, "tile-face")) {
        if (fid_cli_int(opt, value, 0, 4096, &c->tile_face)) return -1;
    } else if (!strcmp(key, "roi")) {
        if (parse_roi(opt, value, &c->roi)) return -1;
    } else if (!strcmp(key, "realtime")) {
        int b;
        if (fid_cli_int(opt, value, 0, 1, &b)) return -1;
        c->realtime = b;
    } else if (!strcmp(key, "reconnect-timeout")) {
        if (fid_cli_double(opt, value, 0, 1e9, &c->reconnect_s)) return -1;
    } else if (!strcmp(key, "camera-size")) {
        if (parse_camera_size(opt, value)) return -1;
        free(c->camera_size);
        c->camera_size = strdup(value);
    } else if (!strcmp(key, "camera-fps")) {
        if (fid_cli_double(opt, value, 0.1, 1000, &v)) return -1;
        c->camera_fps = v;
    } else if (!strcmp(key, "camera-format")) {
        free(c->camera_format);
        c->camera_format = strdup(value);
    } else {
        fprintf(stderr, "faceid: %sunknown setting '%s'\n", where, key);
        return -1;
    }
    return 0;
}

typedef struct config_ctx {
    const char *path;
    camera *cams;
    int *n;
    const camera *defaults;
    char section[64];
    int failed;
} config_ctx;

static int on_ini(void *user, const char *section, const char *key, const char *value) {
    config_ctx *x = user;
    char where[4200];
    snprintf(where, sizeof where, "%s: [%s] ", x->path, section);
    if (!section[0]) {
        fprintf(stderr, "faceid: %s'%s' outside a [camera] section\n", where, key);
        return x->failed = 1, 0;
    }
    camera *c = NULL;
    for (int i = 0; i < *x->n && !c; i++)
        if (!strcmp(x->cams[i].name, section)) c = &x->cams[i];
    if (!c && !(c = add_camera(x->cams, x->n, section, x->defaults))) return x->failed = 1, 0;
    if (camera_option(c, key, value, where) < 0) return x->failed = 1, 0;
    return 1;
}

static const char *live_usage =
    "usage: faceid live [--source [NAME=]SRC]... [--config CAMERAS.ini] [--gallery DB]\n"
    "                   [--window | --no-window] [--output OUT.mp4] [--events FILE] [--tracks FILE]\n"
    "                   [--realtime] [--detector blazeface|tiny|ssd|haar] [--tile-face PX] [--roi X,Y,W,H]\n"
    "                   [--reconnect-timeout S] [--threads N] [--model SPEC]\n"
    "                   [--camera-size WxH] [--camera-fps N] [--camera-format mjpeg|yuyv422|...]\n"
    "Follows every face of cameras, streams or video files, names it or shows \"?\" for strangers,\n"
    "in a window (one source, when a display exists) and/or into annotated H.264 videos and JSON\n"
    "Lines (schema/faceid-output.schema.json). SRC: /dev/videoN (default /dev/video0), a file,\n"
    "rtsp://, http(s)://, anything FFmpeg opens. Each source decodes on its own thread and the\n"
    "newest frame wins: frames there is no time for are dropped (counted), so the picture never lags.\n"
    "Several sources share one set of models and one identification thread; each has its own\n"
    "tracks, and its events carry its name. People enrolled or removed while it runs count from\n"
    "their next identification (the gallery is checked every second).\n"
    "A track is identified when it appears and re-checked every 15 frames; it is named by the mean\n"
    "of its descriptors so far (one frame's blur or pose averages out).\n"
    "  --source [NAME=]SRC    a source (repeat for several); NAME tags its events (default: the\n"
    "                         file or device name)\n"
    "  --config FILE          sources from an INI file: a [NAME] section per camera with source=,\n"
    "                         and optionally detector=, tile-face=, roi=X,Y,W,H, realtime=0|1,\n"
    "                         output=, reconnect-timeout=, camera-size=, camera-fps=, camera-format=\n"
    "  --output OUT.mp4       annotated video; with several sources put {name} in the path\n"
    "  --events FILE          JSON Lines: appeared, identified, changed, left, with the source's\n"
    "                         name, ISO-8601 time and stream time (- for stdout). Every track gets\n"
    "                         its left at the end of its source\n"
    "  --tracks FILE          JSON Lines, one per frame and source: every track's id, box, detector\n"
    "                         score, name and distance (- for stdout)\n"
    "  --roi X,Y,W,H          look for faces in this region of the frame only\n"
    "  --tile-face PX         smallest face to find in large frames (default 24; 0: the whole frame\n"
    "                         only). A 1080p frame's tiles are spread over frames; tracked faces'\n"
    "                         tiles are scanned every frame\n"
    "  --realtime             pace a file at its frame rate, as a camera would deliver it\n"
    "  --threads N            compute threads of a source's detector (default 2; a file read\n"
    "                         offline runs N 1-thread detectors on consecutive frames instead)\n"
    "  --camera-size/-fps/-format  ask a V4L2 camera for a mode (most USB webcams need mjpeg\n"
    "                         for 720p at 30 fps; `v4l2-ctl --list-formats-ext` lists them)\n"
    "  --reconnect-timeout S  a network stream that was cut is reopened with back-off; give up\n"
    "                         after S seconds without a frame (default: never; 0: do not reconnect)\n"
    "Esc or q in the window, or Ctrl-C, stops; output files are finished cleanly. A summary per\n"
    "source (frames, dropped, fps, capture-to-label latency, people seen) goes to stderr at the end.\n"
    "Exit status: 0 every source ended cleanly, 2 a usage error or a source that failed.\n"
    "examples:\n"
    "  faceid live                                   # the webcam, in a window\n"
    "  faceid live --source rtsp://cam.local/stream --no-window --events events.jsonl\n"
    "  faceid live --source door=rtsp://door/s --source yard=rtsp://yard/s --events - --no-window\n"
    "  faceid live --config cameras.ini --output 'out/{name}.mp4' --events out/events.jsonl\n";

static void free_camera_strings(camera *c) {
    free(c->url);
    free(c->output);
    free(c->camera_size);
    free(c->camera_format);
}

/* "{name}" in an output path becomes the camera's name. NULL when out of memory. */
static char *output_for(const char *pattern, const char *name) {
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

int fid_cli_live(int argc, char **argv) {
    enum {
        O_SOURCE = FID_OPT_COMMAND, O_CONFIG, O_OUTPUT, O_EVENTS, O_TRACKS, O_GALLERY, O_DETECTOR, O_THREADS,
        O_RECONNECT, O_CAMERA_SIZE, O_CAMERA_FPS, O_CAMERA_FORMAT, O_REALTIME, O_WINDOW, O_NO_WINDOW, O_ROI
    };
    static const struct option longopts[] = {
        {"help", no_argument, 0, 'h'},
        {"source", required_argument, 0, O_SOURCE},
        {"config", required_argument, 0, O_CONFIG},
        {"events", required_argument, 0, O_EVENTS},
        {"tracks", required_argument, 0, O_TRACKS},
        {"gallery", required_argument, 0, O_GALLERY},
        {"threads", required_argument, 0, O_THREADS},
        {"window", no_argument, 0, O_WINDOW},
        {"no-window", no_argument, 0, O_NO_WINDOW},
        /* every camera's settings, named as the keys of a --config section (camera_option) */
        {"output", required_argument, 0, O_OUTPUT},
        {"detector", required_argument, 0, O_DETECTOR},
        {"roi", required_argument, 0, O_ROI},
        {"realtime", no_argument, 0, O_REALTIME},
        {"reconnect-timeout", required_argument, 0, O_RECONNECT},
        {"camera-size", required_argument, 0, O_CAMERA_SIZE},
        {"camera-fps", required_argument, 0, O_CAMERA_FPS},
        {"camera-format", required_argument, 0, O_CAMERA_FORMAT},
        FID_CLI_MODEL_OPTIONS,
        {0, 0, 0, 0},
    };
    static camera cams[MAX_CAMERAS];
    int n_cams = 0;
    camera defaults = {.detector = FID_DETECTOR_BLAZEFACE, .tile_face = -1, .reconnect_s = -1, .last_at = NAN};
    const char *sources[MAX_CAMERAS], *configs[8], *gallery = NULL;
    int n_sources = 0, n_configs = 0, threads = 2, window_mode = -1; /* -1: when a display exists */
    shared_out o = {0};
    int c;
    optind = 1;
    int rc = FID_EXIT_OK;
    while (rc == 0 && (c = fid_cli_getopt(argc, argv, ":h", longopts)) != -1) {
        int m = fid_cli_model_option(c, optarg);
        if (m) { /* --tile-face reaches every camera through fid_cli_detector_params */
            if (m < 0) rc = FID_EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'h':
            fputs(live_usage, stdout);
            fputs(fid_cli_contract, stdout);
            free_camera_strings(&defaults);
            return FID_EXIT_OK;
        case O_SOURCE:
            if (n_sources < MAX_CAMERAS)
                sources[n_sources++] = optarg;
            else
                fprintf(stderr, "faceid: at most %d sources\n", MAX_CAMERAS), rc = FID_EXIT_USAGE;
            break;
        case O_CONFIG:
            if (n_configs < 8)
                configs[n_configs++] = optarg;
            else
                fprintf(stderr, "faceid: at most 8 --config files\n"), rc = FID_EXIT_USAGE;
            break;
        case O_EVENTS: o.events_path = optarg; break;
        case O_TRACKS: o.tracks_path = optarg; break;
        case O_GALLERY: gallery = optarg; break;
        case O_THREADS:
            if (fid_cli_int("--threads", optarg, 1, 64, &threads)) rc = FID_EXIT_USAGE;
            break;
        case O_WINDOW: window_mode = 1; break;
        case O_NO_WINDOW: window_mode = 0; break;
        case '?': rc = FID_EXIT_USAGE; break;
        default: /* a camera's setting, for every camera: the same keys as a --config section */
            for (const struct option *lo = longopts; lo->name; lo++)
                if (lo->val == c && camera_option(&defaults, lo->name, optarg ? optarg : "1", "--") < 0)
                    rc = FID_EXIT_USAGE;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "faceid live: unexpected argument '%s' (sources go with --source; try --help)\n", argv[optind]);
        rc = FID_EXIT_USAGE;
    }
    for (int i = 0; i < n_sources && rc == 0; i++) {
        char name[64];
        const char *url;
        source_name(sources[i], name, sizeof name, &url);
        camera *cam = add_camera(cams, &n_cams, name, &defaults);
        if (!cam) rc = FID_EXIT_USAGE;
        else
            cam->url = strdup(url);
    }
    for (int i = 0; i < n_configs && rc == 0; i++) {
        config_ctx x = {.path = configs[i], .cams = cams, .n = &n_cams, .defaults = &defaults};
        int err = ini_parse(configs[i], on_ini, &x);
        if (err < 0) {
            fprintf(stderr, "faceid: %s: cannot read: %s\n", configs[i], strerror(errno));
            rc = FID_EXIT_USAGE;
        } else if (err > 0 || x.failed) {
            if (!x.failed) fprintf(stderr, "faceid: %s:%d: not an INI line\n", configs[i], err);
            rc = FID_EXIT_USAGE;
        }
    }
    for (int i = 0; i < n_cams && rc == 0; i++)
        if (!cams[i].url) {
            fprintf(stderr, "faceid: camera '%s' has no source=\n", cams[i].name);
            rc = FID_EXIT_USAGE;
        }
    if (rc == 0 && n_cams == 0 && access("/dev/video0", F_OK) != 0) {
        fprintf(stderr, "faceid: no --source given and no camera at /dev/video0 (try --help)\n");
        rc = FID_EXIT_USAGE;
    } else if (rc == 0 && n_cams == 0) {
        camera *cam = add_camera(cams, &n_cams, "video0", &defaults);
        free(cam->url);
        cam->url = strdup("/dev/video0");
    }
    if (rc == 0 && n_cams > 1) {
        if (window_mode == 1) {
            fprintf(stderr, "faceid: --window shows one source; with %d give --output '...{name}...'\n", n_cams);
            rc = FID_EXIT_USAGE;
        }
        for (int i = 0; i < n_cams && rc == 0; i++)
            for (int j = 0; j < i && rc == 0; j++)
                if (cams[i].output && cams[j].output && !strcmp(cams[i].output, cams[j].output) &&
                    !strstr(cams[i].output, "{name}")) {
                    fprintf(stderr, "faceid: sources '%s' and '%s' would write one --output: put {name} in it\n",
                            cams[j].name, cams[i].name);
                    rc = FID_EXIT_USAGE;
                }
        window_mode = 0;
    }
    for (int i = 0; i < n_cams && rc == 0; i++) {
        if (cams[i].output) {
            char *out = output_for(cams[i].output, cams[i].name);
            free(cams[i].output);
            cams[i].output = out;
        }
        if (window_mode < 0) window_mode = live_window_display_present() ? 2 : 0; /* 2: if it opens */
        cams[i].window_mode = window_mode;
    }
    free_camera_strings(&defaults); /* every camera has its own copies */
    if (rc != 0) {
        for (int i = 0; i < n_cams; i++)
            free_camera_strings(&cams[i]);
        return rc;
    }

    /* one set of models and one gallery for every source */
    fid_status st;
    char path[4096];
    gallery = fid_cli_gallery_path(gallery, path, sizeof path);
    fid_embedder *embedder = fid_cli_embedder(1); /* on its own thread, beside the detectors */
    fid_gallery *g = embedder ? fid_cli_open_gallery(gallery, 1, embedder) : NULL;
    fid_identifier *identifier = g ? fid_identifier_create(embedder, g, NULL, &st) : NULL;
    if (g && !identifier) fprintf(stderr, "faceid: %s\n", fid_last_error());
    rc = identifier ? 0 : FID_EXIT_USAGE;
    pthread_mutex_init(&o.lock, NULL);
    if (rc == 0 && o.events_path && !(o.events = fid_cli_open_output(o.events_path))) rc = FID_EXIT_USAGE;
    if (rc == 0 && o.tracks_path && !(o.tracks = fid_cli_open_output(o.tracks_path))) rc = FID_EXIT_USAGE;
    for (int i = 0; i < n_cams && rc == 0; i++) {
        camera *cam = &cams[i];
        fid_pipeline_params pp = fid_pipeline_default_params();
        pp.name = cam->name;
        pp.detector = fid_cli_detector_params(cam->detector, threads);
        if (cam->tile_face >= 0) pp.detector.tile_face = cam->tile_face;
        pp.roi = cam->roi;
        pp.detect_workers = threads > 1 ? 2 : 1;
        if (!(cam->pipeline = fid_pipeline_create(identifier, &pp, &st))) {
            fprintf(stderr, "faceid: %s: %s\n", cam->name, fid_last_error());
            rc = FID_EXIT_USAGE;
            break;
        }
        fid_capture_params cp = fid_capture_default_params();
        cp.realtime = cam->realtime;
        cp.reconnect_s = cam->reconnect_s;
        cp.camera_size = cam->camera_size;
        cp.camera_fps = cam->camera_fps;
        cp.camera_format = cam->camera_format;
        if (fid_pipeline_open(cam->pipeline, cam->url, &cp) != FID_OK) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            rc = FID_EXIT_USAGE;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    run_arg args[MAX_CAMERAS];
    double t0 = fid__monotonic_s();
    if (rc == 0 && n_cams == 1) { /* the window (SDL) lives on the main thread */
        args[0] = (run_arg){&cams[0], &o};
        run_camera(&args[0]);
    } else if (rc == 0) {
        for (int i = 0; i < n_cams; i++) {
            args[i] = (run_arg){&cams[i], &o};
            cams[i].started = !pthread_create(&cams[i].thread, NULL, run_camera, &args[i]);
            if (!cams[i].started) {
                fprintf(stderr, "faceid: %s: cannot start a thread\n", cams[i].name);
                cams[i].rc = FID_EXIT_USAGE;
            }
        }
        for (int i = 0; i < n_cams; i++)
            if (cams[i].started) pthread_join(cams[i].thread, NULL);
    }
    double elapsed = fid__monotonic_s() - t0;
    for (int i = 0; i < n_cams; i++) {
        camera *cam = &cams[i];
        if (cam->rc) rc = cam->rc;
        if (!cam->pipeline || !cam->t_end || cam->rc) continue;
        fid_pipeline_stats ps = fid_pipeline_get_stats(cam->pipeline);
        double t = cam->t_end - cam->t_start;
        fprintf(stderr,
                "%s%s: %lld frames in %.1f s (%.1f frames/s), %lld dropped, capture-to-label latency p50 %.1f ms "
                "p99 %.1f ms",
                stop_requested ? "stopped: " : "", cam->name, (long long)ps.frames, t, t > 0 ? ps.frames / t : 0,
                (long long)ps.dropped, ps.latency_p50 * 1e3, ps.latency_p99 * 1e3);
        if (ps.reconnects) fprintf(stderr, ", %d reconnects", ps.reconnects);
        for (int j = 0; j < cam->n_seen; j++)
            fprintf(stderr, "%s %s x%d", j ? "," : "; seen:", cam->seen[j].name, cam->seen[j].tracks);
        fprintf(stderr, "\n");
    }
    int ran = 0;
    for (int i = 0; i < n_cams; i++)
        ran += cams[i].t_end > 0 && !cams[i].rc;
    if (identifier && ran > 0 && elapsed > 0)
        fprintf(stderr, "%d source%s in %.1f s, peak memory %.0f MB%s\n", n_cams, n_cams > 1 ? "s" : "", elapsed,
                peak_rss_kb() / 1024.0,
                fid_identifier_reloads(identifier) ? "; the gallery changed and was reloaded" : "");
    if (fid_cli_close_output(o.events, o.events_path) || fid_cli_close_output(o.tracks, o.tracks_path))
        rc = FID_EXIT_USAGE;
    for (int i = 0; i < n_cams; i++) {
        camera *cam = &cams[i];
        live_window_close(cam->window);
        fid_image_free(cam->canvas);
        free(cam->seen);
        fid_pipeline_free(cam->pipeline);
        free_camera_strings(cam);
    }
    pthread_mutex_destroy(&o.lock);
    fid_identifier_free(identifier);
    fid_embedder_free(embedder);
    fid_gallery_close(g);
    return rc;
}
