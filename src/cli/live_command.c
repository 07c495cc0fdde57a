/* faceid live: cameras, streams or files in; tracked faces named or "?"; a window, annotated
 * videos and JSON events out. The work is fid_pipeline's: this file parses, wires and prints. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/cameras.h"
#include "cli/common.h"
#include "cli/window.h"
#include "faceid.h"
#include "pipeline/annotate.h"
#include "util/clock.h"

/* set by signal handlers and by any camera thread whose write failed: a lock-free atomic is safe for both */
static atomic_int stop_requested;
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

enum { MAX_CAMERAS = FID_CLI_MAX_CAMERAS };

typedef struct appearance {
    char name[208];
    int tracks;
} appearance;

/* One source and what is done with it. */
typedef struct camera {
    fid_cli_camera cfg;
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
    int progress; /* a line on the terminal while a file plays (stderr a TTY, one source, no --quiet) */
    double progress_at;
} camera;

/* Outputs every camera writes to, one line at a time. */
typedef struct shared_out {
    fid__output *events, *tracks;
    const char *events_path, *tracks_path;
    int failed; /* a write failed: said once, every camera stops */
    pthread_mutex_t lock;
} shared_out;

static void write_failed(shared_out *o, const char *path) {
    if (!o->failed)
        fid_cli_say("faceid: %s: cannot write: %s\n", !strcmp(path, "-") ? "standard output" : path,
                strerror(errno));
    o->failed = 1;
    stop_requested = 1;
}

static void write_event(shared_out *o, const fid_pipeline_event *e) {
    if (fid_cli_write_line(o->events, fid__event_json(e)) != 0) write_failed(o, o->events_path);
}

static void write_result(camera *c, shared_out *o, const fid_pipeline_result *r, int with_tracks) {
    pthread_mutex_lock(&o->lock);
    for (int i = 0; o->events && i < r->n_events; i++)
        write_event(o, &r->events[i]);
    if (o->tracks && with_tracks && fid_cli_write_line(o->tracks, fid__tracks_json(c->cfg.name, r)) != 0)
        write_failed(o, o->tracks_path);
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
    return (c->canvas = fid__annotate(c->canvas, r->image, r->tracks, r->n_tracks, 0)) ? 0 : -1;
}

/* Draws, shows and writes one processed frame. -1 after printing an error. */
static int show_frame(camera *c, const fid_pipeline_result *r) {
    fid_status st;
    if (c->window_mode && !c->window) {
        char why[256];
        c->window = live_window_open("faceid live", fid_image_width(r->image), fid_image_height(r->image), why,
                                     sizeof why);
        if (!c->window) {
            fid_cli_say("faceid: %s%s\n", why, c->window_mode == 2 ? "; going on without one" : "");
            if (c->window_mode == 1) return -1;
            c->window_mode = 0;
        }
    }
    if ((c->cfg.output || c->window) && annotate(c, r) < 0) {
        fid_cli_say("faceid: %s: out of memory for the annotated frame\n", c->cfg.name);
        return -1;
    }
    double at = fid__monotonic_s();
    if (!isnan(c->last_at) && at > c->last_at) /* smoothed over ~1 s at camera rates */
        c->shown_fps = c->shown_fps ? 0.97 * c->shown_fps + 0.03 / (at - c->last_at) : 1 / (at - c->last_at);
    c->last_at = at;
    if (c->cfg.output) {
        double fps = fid_pipeline_fps(c->pipeline);
        if (!c->writer && !(c->writer = fid_video_writer_open(c->cfg.output, fid_image_width(r->image),
                                                              fid_image_height(r->image), fps > 0 ? fps : 25, &st))) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            return -1;
        }
        if (fid_video_writer_write(c->writer, c->canvas) != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
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

/* "clip.mp4: 12.0 of 48.0 s, 25.1 frames/s, ETA 1 s, named: alice bob" on one line, redrawn at
 * most twice a second; long files used to say nothing until their summary. */
static void show_progress(camera *c, const fid_pipeline_result *r) {
    double now = fid__monotonic_s(), total = fid_pipeline_duration(c->pipeline);
    if (now - c->progress_at < 0.5 || total <= 0) return;
    c->progress_at = now;
    double elapsed = now - c->t_start, rate = elapsed > 0 ? r->frame / elapsed : 0;
    double speed = elapsed > 0 ? r->seconds / elapsed : 0; /* stream seconds per second */
    char eta[32] = "";
    if (speed > 0 && total > r->seconds) snprintf(eta, sizeof eta, ", ETA %.0f s", (total - r->seconds) / speed);
    char names[160] = "";
    size_t n = 0;
    for (int j = 0; j < c->n_seen && n + 2 < sizeof names; j++)
        n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", j ? " " : ", named: ", c->seen[j].name);
    if (n >= sizeof names) snprintf(names + sizeof names - 5, 5, "...");
    fprintf(stderr, "\r\033[K%s: %.1f of %.1f s (%.0f%%), %.1f frames/s%s%s", c->cfg.name, r->seconds, total,
            100 * fmin(1, r->seconds / total), rate, eta, names);
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
            fid_cli_say("faceid: %s\n", fid_last_error());
            write_result(c, a->o, &r, 0);
            c->rc = 2;
            break;
        }
        write_result(c, a->o, &r, st == FID_OK);
        if (c->progress && st == FID_OK) show_progress(c, &r);
        if (st == FID_END) break;
        if (show_frame(c, &r) < 0) { /* e.g. no window: the error stays one line */
            c->rc = 2;
            break;
        }
    }
    c->t_end = fid__monotonic_s();
    if (c->progress && c->progress_at > 0) fprintf(stderr, "\r\033[K"); /* the summary takes its place */
    /* after a failed write the reason is out already: the close only finishes what it can */
    if (c->writer && fid_video_writer_close(c->writer) != FID_OK && !c->rc) {
        fid_cli_say("faceid: %s\n", fid_last_error());
        c->rc = 2;
    }
    c->writer = NULL;
    return NULL;
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
    "  --precision P          auto (default: the descriptor net in bf16 or int8 where that is\n"
    "                         faster and passes the accuracy gate; detectors and landmarks fp32),\n"
    "                         or fp32, bf16, int8 for every network\n"
    "  --threads N            compute threads of a source's detector (default 2; a file read\n"
    "                         offline runs N 1-thread detectors on consecutive frames instead)\n"
    "  --camera-size/-fps/-format  ask a V4L2 camera for a mode (most USB webcams need mjpeg\n"
    "                         for 720p at 30 fps; `v4l2-ctl --list-formats-ext` lists them)\n"
    "  --reconnect-timeout S  a network stream that was cut is reopened with back-off; give up\n"
    "                         after S seconds without a frame (default: never; 0: do not reconnect)\n"
    "  --quiet                no progress line (one shows on a terminal while a file plays: seconds\n"
    "                         done of the total, frames/s, ETA, who was named)\n"
    "Esc or q in the window, or Ctrl-C, stops; output files are finished cleanly. A summary per\n"
    "source (frames, dropped, fps, capture-to-label latency, people seen) goes to stderr at the end.\n"
    "Exit status: 0 every source ended cleanly, 2 a usage error or a source that failed.\n"
    "examples:\n"
    "  faceid live                                   # the webcam, in a window\n"
    "  faceid live --source rtsp://cam.local/stream --no-window --events events.jsonl\n"
    "  faceid live --source door=rtsp://door/s --source yard=rtsp://yard/s --events - --no-window\n"
    "  faceid live --config cameras.ini --output 'out/{name}.mp4' --events out/events.jsonl\n";

int fid_cli_live(int argc, char **argv) {
    enum {
        O_SOURCE = FID_OPT_COMMAND, O_CONFIG, O_OUTPUT, O_EVENTS, O_TRACKS, O_GALLERY, O_DETECTOR, O_THREADS,
        O_RECONNECT, O_CAMERA_SIZE, O_CAMERA_FPS, O_CAMERA_FORMAT, O_REALTIME, O_WINDOW, O_NO_WINDOW, O_ROI, O_QUIET
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
        {"quiet", no_argument, 0, O_QUIET},
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
    static fid_cli_camera cfgs[MAX_CAMERAS];
    static camera cams[MAX_CAMERAS];
    int n_cams = 0;
    fid_cli_camera defaults = fid_cli_camera_defaults();
    const char *sources[MAX_CAMERAS], *configs[8], *gallery = NULL;
    int n_sources = 0, n_configs = 0, threads = 2, window_mode = -1; /* -1: when a display exists */
    int quiet = 0;
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
            fid_cli_camera_free(&defaults);
            return FID_EXIT_OK;
        case O_SOURCE:
            if (n_sources < MAX_CAMERAS)
                sources[n_sources++] = optarg;
            else
                fid_cli_say("faceid: at most %d sources\n", MAX_CAMERAS), rc = FID_EXIT_USAGE;
            break;
        case O_CONFIG:
            if (n_configs < 8)
                configs[n_configs++] = optarg;
            else
                fid_cli_say("faceid: at most 8 --config files\n"), rc = FID_EXIT_USAGE;
            break;
        case O_EVENTS: o.events_path = optarg; break;
        case O_TRACKS: o.tracks_path = optarg; break;
        case O_GALLERY: gallery = optarg; break;
        case O_THREADS:
            if (fid_cli_int("--threads", optarg, 1, 64, &threads)) rc = FID_EXIT_USAGE;
            break;
        case O_WINDOW: window_mode = 1; break;
        case O_NO_WINDOW: window_mode = 0; break;
        case O_QUIET: quiet = 1; break;
        case '?': rc = FID_EXIT_USAGE; break;
        default: /* a camera's setting, for every camera: the same keys as a --config section */
            for (const struct option *lo = longopts; lo->name; lo++)
                if (lo->val == c && fid_cli_camera_option(&defaults, lo->name, optarg ? optarg : "1", "--") < 0)
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
        fid_cli_source_name(sources[i], name, sizeof name, &url);
        fid_cli_camera *cam = fid_cli_camera_add(cfgs, &n_cams, name, &defaults);
        if (!cam || fid_cli_camera_option(cam, "source", url, "--") < 0) rc = FID_EXIT_USAGE;
    }
    for (int i = 0; i < n_configs && rc == 0; i++)
        if (fid_cli_cameras_load(configs[i], cfgs, &n_cams, &defaults) < 0) rc = FID_EXIT_USAGE;
    for (int i = 0; i < n_cams && rc == 0; i++)
        if (!cfgs[i].url) {
            fid_cli_say("faceid: camera '%s' has no source=\n", cfgs[i].name);
            rc = FID_EXIT_USAGE;
        }
    if (rc == 0 && n_cams == 0 && access("/dev/video0", F_OK) != 0) {
        fid_cli_say("faceid: no --source given and no camera at /dev/video0 (try --help)\n");
        rc = FID_EXIT_USAGE;
    } else if (rc == 0 && n_cams == 0) {
        fid_cli_camera *cam = fid_cli_camera_add(cfgs, &n_cams, "video0", &defaults);
        if (!cam || fid_cli_camera_option(cam, "source", "/dev/video0", "--") < 0) rc = FID_EXIT_USAGE;
    }
    if (rc == 0 && n_cams > 1) {
        if (window_mode == 1) {
            fid_cli_say("faceid: --window shows one source; with %d give --output '...{name}...'\n", n_cams);
            rc = FID_EXIT_USAGE;
        }
        for (int i = 0; i < n_cams && rc == 0; i++)
            for (int j = 0; j < i && rc == 0; j++)
                if (cfgs[i].output && cfgs[j].output && !strcmp(cfgs[i].output, cfgs[j].output) &&
                    !strstr(cfgs[i].output, "{name}")) {
                    fid_cli_say("faceid: sources '%s' and '%s' would write one --output: put {name} in it\n",
                            cfgs[j].name, cfgs[i].name);
                    rc = FID_EXIT_USAGE;
                }
        window_mode = 0;
    }
    if (window_mode < 0) window_mode = live_window_display_present() ? 2 : 0; /* 2: if it opens */
    for (int i = 0; i < n_cams; i++) {
        cams[i] = (camera){.cfg = cfgs[i], .window_mode = window_mode, .last_at = NAN}; /* takes the strings */
        if (cams[i].cfg.output) {
            char *out = fid_cli_output_for(cams[i].cfg.output, cams[i].cfg.name);
            free(cams[i].cfg.output);
            cams[i].cfg.output = out;
        }
    }
    fid_cli_camera_free(&defaults); /* every camera has its own copies */
    if (rc != 0) {
        for (int i = 0; i < n_cams; i++)
            fid_cli_camera_free(&cams[i].cfg);
        return rc;
    }

    /* one set of models and one gallery for every source */
    fid_status st;
    char path[4096];
    gallery = fid_cli_gallery_path(gallery, path, sizeof path);
    fid_embedder *embedder = fid_cli_embedder(1, 1); /* on its own thread, beside the detectors */
    fid_gallery *g = embedder ? fid_cli_open_gallery(gallery, 1, embedder) : NULL;
    fid_identifier *identifier = g ? fid_identifier_create(embedder, g, NULL, &st) : NULL;
    if (g && !identifier) fid_cli_say("faceid: %s\n", fid_last_error());
    rc = identifier ? 0 : FID_EXIT_USAGE;
    pthread_mutex_init(&o.lock, NULL);
    struct stat se, st_;
    if (rc == 0 && o.events_path && o.tracks_path && strcmp(o.events_path, "-") &&
        (!strcmp(o.events_path, o.tracks_path) ||
         (stat(o.events_path, &se) == 0 && stat(o.tracks_path, &st_) == 0 && S_ISREG(se.st_mode) &&
          se.st_dev == st_.st_dev && se.st_ino == st_.st_ino))) {
        fid_cli_say("faceid: --events and --tracks name the same file (%s): their lines would overwrite each other\n",
                o.events_path);
        rc = FID_EXIT_USAGE;
    }
    if (rc == 0 && o.events_path && !(o.events = fid_cli_open_output(o.events_path))) rc = FID_EXIT_USAGE;
    if (rc == 0 && o.tracks_path && !(o.tracks = fid_cli_open_output(o.tracks_path))) rc = FID_EXIT_USAGE;
    for (int i = 0; i < n_cams && rc == 0; i++) {
        camera *cam = &cams[i];
        fid_pipeline_params pp = fid_pipeline_default_params();
        pp.name = cam->cfg.name;
        pp.detector = fid_cli_detector_params(cam->cfg.detector, threads);
        if (cam->cfg.tile_face >= 0) pp.detector.tile_face = cam->cfg.tile_face;
        pp.roi = cam->cfg.roi;
        pp.detect_workers = threads > 1 ? 2 : 1;
        if (!(cam->pipeline = fid_pipeline_create(identifier, &pp, &st))) {
            fid_cli_say("faceid: %s: %s\n", cam->cfg.name, fid_last_error());
            rc = FID_EXIT_USAGE;
            break;
        }
        fid_capture_params cp = fid_capture_default_params();
        cp.realtime = cam->cfg.realtime;
        cp.reconnect_s = cam->cfg.reconnect_s;
        cp.camera_size = cam->cfg.camera_size;
        cp.camera_fps = cam->cfg.camera_fps;
        cp.camera_format = cam->cfg.camera_format;
        if (fid_pipeline_open(cam->pipeline, cam->cfg.url, &cp) != FID_OK) {
            fid_cli_say("faceid: %s\n", fid_last_error());
            rc = FID_EXIT_USAGE;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal); /* a closed terminal ends the run like Ctrl-C: outputs finished */
    run_arg args[MAX_CAMERAS];
    double t0 = fid__monotonic_s();
    if (rc == 0 && n_cams == 1) { /* the window (SDL) lives on the main thread */
        /* the window shows its own status line; several sources would fight over one line */
        cams[0].progress = !quiet && isatty(2) && !cams[0].window_mode && !fid_pipeline_is_live(cams[0].pipeline);
        args[0] = (run_arg){&cams[0], &o};
        run_camera(&args[0]);
    } else if (rc == 0) {
        for (int i = 0; i < n_cams; i++) {
            args[i] = (run_arg){&cams[i], &o};
            cams[i].started = !pthread_create(&cams[i].thread, NULL, run_camera, &args[i]);
            if (!cams[i].started) {
                fid_cli_say("faceid: %s: cannot start a thread\n", cams[i].cfg.name);
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
        /* a run stopped by a failed write ends on that one line, not on statistics */
        if (!cam->pipeline || !cam->t_end || cam->rc || o.failed) continue;
        fid_pipeline_stats ps = fid_pipeline_get_stats(cam->pipeline);
        double t = cam->t_end - cam->t_start;
        fprintf(stderr,
                "%s%s: %lld frames in %.1f s (%.1f frames/s), %lld dropped, capture-to-label latency p50 %.1f ms "
                "p99 %.1f ms",
                stop_requested ? "stopped: " : "", cam->cfg.name, (long long)ps.frames, t, t > 0 ? ps.frames / t : 0,
                (long long)ps.dropped, ps.latency_p50 * 1e3, ps.latency_p99 * 1e3);
        if (ps.reconnects) fprintf(stderr, ", %d reconnects", ps.reconnects);
        fprintf(stderr, "; detector %s", fid_precision_name(fid_pipeline_precision(cam->pipeline, NULL)));
        int64_t small = ps.faces_carried + ps.faces_mosaic;
        if (ps.frames > 0 && (ps.tiles_scanned || small))
            fprintf(stderr, ", %.1f tiles a frame, %.0f%% of small followed faces held still",
                    (double)ps.tiles_scanned / ps.frames, small ? 100.0 * ps.faces_carried / small : 0.0);
        for (int j = 0; j < cam->n_seen; j++)
            fprintf(stderr, "%s %s x%d", j ? "," : "; seen:", cam->seen[j].name, cam->seen[j].tracks);
        fprintf(stderr, "\n");
    }
    int ran = 0;
    for (int i = 0; i < n_cams; i++)
        ran += cams[i].t_end > 0 && !cams[i].rc;
    if (identifier && ran > 0 && elapsed > 0 && !o.failed)
        fprintf(stderr, "%d source%s in %.1f s, peak memory %.0f MB, %s%s\n", n_cams, n_cams > 1 ? "s" : "", elapsed,
                peak_rss_kb() / 1024.0, fid_cli_precision_line(NULL, embedder),
                fid_identifier_reloads(identifier) ? "; the gallery changed and was reloaded" : "");
    if (fid_cli_close_output(o.events, o.failed) | fid_cli_close_output(o.tracks, o.failed)) rc = FID_EXIT_USAGE;
    for (int i = 0; i < n_cams; i++) {
        camera *cam = &cams[i];
        live_window_close(cam->window);
        fid_image_free(cam->canvas);
        free(cam->seen);
        fid_pipeline_free(cam->pipeline);
        fid_cli_camera_free(&cam->cfg);
    }
    pthread_mutex_destroy(&o.lock);
    fid_identifier_free(identifier);
    fid_embedder_free(embedder);
    fid_gallery_close(g);
    return rc;
}
