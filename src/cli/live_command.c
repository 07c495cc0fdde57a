/* faceid live: a video source in, tracked faces named or "?", annotated video and JSON events out. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "cli/common.h"
#include "cli/describer.h"
#include "cli/detect_pool.h"
#include "cli/window.h"
#include "faceid.h"

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *event_names[] = {"appeared", "identified", "changed", "left"};

static void write_event(FILE *f, const fid_track_event *e, double t) {
    if (!f) return;
    json_t *j =
        json_pack("{s:s,s:f,s:I,s:i,s:[f,f,f,f],s:s}", "event", event_names[e->kind], "time", round(t * 1000) / 1000,
                  "frame", (json_int_t)e->frame, "track", e->track.id, "box", round(e->track.box.x),
                  round(e->track.box.y), round(e->track.box.width), round(e->track.box.height), "name", e->track.name);
    if (isfinite(e->track.distance))
        json_object_set_new(j, "distance", json_real(round(e->track.distance * 1e4) / 1e4));
    char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (line) fprintf(f, "%s\n", line);
    free(line);
    json_decref(j);
    fflush(f); /* events are for other programs: hand them over as they happen */
}

/* What each live track looked like: its last descriptor (a re-check that finds someone else
 * splits the track) and the mean of its descriptors so far (the evidence it is matched by). */
typedef struct track_look {
    int id, n;
    float *descriptor, *mean; /* dim floats each, one allocation */
} track_look;

static track_look *look_of(track_look **looks, int *n, int id, int dim) {
    for (int i = 0; i < *n; i++)
        if ((*looks)[i].id == id) return &(*looks)[i];
    track_look *grown = realloc(*looks, (size_t)(*n + 1) * sizeof **looks);
    if (!grown) return NULL;
    *looks = grown;
    track_look *l = &(*looks)[*n];
    l->id = id, l->n = 0; /* nothing seen yet */
    if (!(l->descriptor = calloc((size_t)dim * 2, sizeof(float)))) return NULL;
    l->mean = l->descriptor + dim;
    ++*n;
    return l;
}

/* A track that left no longer needs its look (keeps memory flat over hours of video). */
static void forget_look(track_look *looks, int *n, int id) {
    for (int i = 0; i < *n; i++)
        if (looks[i].id == id) {
            free(looks[i].descriptor);
            looks[i] = looks[--*n];
            return;
        }
}

typedef struct appearance {
    char name[208];
    int tracks;
} appearance;

/* Capture-to-label latencies in 0.1 ms bins (fixed memory, however long it runs). */
enum { LATENCY_BINS = 50000 };
typedef struct latency_histogram {
    uint32_t bins[LATENCY_BINS];
    int64_t count;
} latency_histogram;

static void latency_add(latency_histogram *h, double seconds) {
    int64_t bin = (int64_t)(seconds * 1e4);
    h->bins[bin < 0 ? 0 : bin >= LATENCY_BINS ? LATENCY_BINS - 1 : bin]++;
    h->count++;
}

static double latency_percentile_ms(const latency_histogram *h, double q) {
    if (!h->count) return NAN;
    int64_t want = (int64_t)ceil(q * h->count), seen = 0;
    for (int i = 0; i < LATENCY_BINS; i++)
        if ((seen += h->bins[i]) >= want) return (i + 1) / 10.0; /* bin upper edge */
    return LATENCY_BINS / 10.0;
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

/* Everything the per-frame work shares: models, the tracker and what it learned so far. */
typedef struct live_state {
    fid_detector *detector;
    fid_embedder *embedder;
    fid_matcher *matcher;
    fid_tracker *tracker;
    describer *describer;
    FILE *events, *tracks_out; /* --events, --tracks */
    int dim;
    track_look *looks;
    int n_looks;
    appearance *seen;
    int n_seen;
    const char *source;
    /* Large frames: the detector's tiles are spread over `period` frames, and the faces of the
     * tracks not yet left (`follow`, missed lately or not) are looked for every frame. */
    int period, n_follow;
    fid_box follow[64];
} live_state;

/* Tiles are spread so that a frame costs the whole-frame pass, one tile pass per 30 tiles and a
 * mosaic pass per 4 followed small faces the whole frame missed: 640x480 (12 BlazeFace tiles) one
 * tile a frame, all in 12 frames (0.4 s at 30 fps; 2 a frame cost 100 -> 78 frames/s offline);
 * 1080p (81 tiles) 3 a frame, all in 27 frames (0.9 s): a new small face is found within that,
 * and once followed it is looked for every frame. */
static int scan_period(const fid_detector *d, const fid_image *frame) {
    int n = d ? fid_detector_tiles(d, fid_image_width(frame), fid_image_height(frame), NULL, 0) : 0;
    int per_frame = (n + 29) / 30;
    return per_frame ? (n + per_frame - 1) / per_frame : 1;
}

/* The faces to look for in `frame`: every track not yet left, where its motion puts it then (a
 * file's frames are detected a few frames ahead of tracking). */
static void follow_tracks(live_state *s, int64_t frame) {
    s->n_follow = fid_tracker_active(s->tracker, frame, s->follow, 64);
    if (s->n_follow > 64) s->n_follow = 64;
}


static void count_appearance(live_state *s, const char *name) {
    if (!strcmp(name, "?")) return;
    int j = 0;
    while (j < s->n_seen && strcmp(s->seen[j].name, name))
        j++;
    if (j == s->n_seen) {
        appearance *grown = realloc(s->seen, (size_t)(s->n_seen + 1) * sizeof *s->seen);
        if (!grown) return;
        s->seen = grown;
        snprintf(s->seen[j].name, sizeof s->seen[j].name, "%s", name);
        s->seen[s->n_seen++].tracks = 0;
    }
    s->seen[j].tracks++;
}

/* A finished identification: split the track if someone else took its place, then vote. */
/* Descriptors of one face averaged over the frames of its track: each frame's descriptor carries
 * its own noise (blur, pose, a small face), the mean less. On `make eval`'s 1080p clips (people
 * enrolled from one photo, 40-110 px faces) tracks matched by their mean were named right in 68%
 * and 76% of the frames where they were detected, against 58% and 71% by the vote of single
 * frames; no stranger named either way. The mean forgets slowly (the last MEAN_FRAMES count most)
 * as the face turns or nears. */
enum { MEAN_FRAMES = 10 };

static void apply_result(live_state *s, const describe_result *r) {
    int id = r->track_id;
    track_look *look = look_of(&s->looks, &s->n_looks, id, s->dim);
    if (look && look->n) {
        double d = fid_embedder_distance(s->embedder, look->descriptor, r->descriptor);
        /* no longer the same person by the model's 1:1 threshold: someone else took the place */
        if (d > fid_embedder_threshold(s->embedder)) {
            fid_track_event split[2];
            int new_id = fid_tracker_split(s->tracker, id, r->frame, split);
            if (new_id < 0) return; /* the track left meanwhile */
            write_event(s->events, &split[0], r->seconds);
            write_event(s->events, &split[1], r->seconds);
            forget_look(s->looks, &s->n_looks, id);
            id = new_id;
            look = look_of(&s->looks, &s->n_looks, id, s->dim);
        }
    }
    fid_match m = r->match;
    if (look) {
        memcpy(look->descriptor, r->descriptor, (size_t)s->dim * sizeof *r->descriptor);
        look->n++;
        float w = 1.0f / (look->n < MEAN_FRAMES ? look->n : MEAN_FRAMES);
        for (int j = 0; j < s->dim; j++)
            look->mean[j] += w * (r->descriptor[j] - look->mean[j]);
        if (look->n > 1 && fid_matcher_match(s->matcher, look->mean, &m) != FID_OK) m = r->match;
    }
    fid_track_event e;
    if (fid_tracker_vote(s->tracker, id, m.name, m.distance, r->frame, &e) == 1) {
        write_event(s->events, &e, r->seconds);
        count_appearance(s, e.track.name);
    }
}

/* Detect and track; hand the tracks that need identifying to the describer and apply what it
 * finished. `in_step`: results of the previous frame are waited for, so a file gives the same
 * labels on every run; a live source takes what is ready and never waits. -1 after an error. */
static int track_frame(live_state *s, const fid_image *frame, int64_t index, double t, int in_step,
                       const fid_detection *dets, int n) {
    fid_track_event ev[128];
    int k = fid_tracker_update(s->tracker, dets, n, index, ev, 128);
    for (int i = 0; i < k && i < 128; i++) {
        write_event(s->events, &ev[i], t);
        if (ev[i].kind == FID_TRACK_LEFT) forget_look(s->looks, &s->n_looks, ev[i].track.id);
    }
    if (in_step) describer_wait(s->describer);
    describe_result r;
    while (describer_take(s->describer, &r))
        apply_result(s, &r);
    fid_track_info tracks[64];
    int need[64], ids[64];
    fid_detection faces[64];
    int nt = fid_tracker_tracks(s->tracker, tracks, 64, index, need);
    if (nt > 64) nt = 64;
    /* New faces first; re-checks one per frame, or the tracks that appeared together would all
     * fall due on the same frame every 15 frames and queue up behind each other. */
    int n_faces = 0, rechecks = 0;
    for (int pass = 2; pass >= 1; pass--)
        for (int i = 0; i < nt; i++) {
            if (need[i] != pass || (pass == 1 && rechecks++ >= 1) || describer_in_flight(s->describer, tracks[i].id))
                continue;
            ids[n_faces] = tracks[i].id;
            faces[n_faces++] = (fid_detection){.box = tracks[i].box, .score = tracks[i].score};
        }
    describer_submit(s->describer, frame, index, t, ids, faces, n_faces);
    return 0;
}

/* The frame with every track's box and label ("?" in red for strangers), into canvas. */
static fid_image *annotate(live_state *s, const fid_image *frame, fid_image *canvas, int64_t index) {
    if (!(canvas = fid_image_copy_into(canvas, frame, NULL))) return NULL;
    fid_track_info tracks[64];
    int nt = fid_tracker_tracks(s->tracker, tracks, 64, index, NULL);
    for (int i = 0; i < nt && i < 64; i++) {
        char label[256];
        int unknown = !strcmp(tracks[i].name, "?");
        if (isfinite(tracks[i].distance) && !unknown)
            snprintf(label, sizeof label, "%s %.2f", tracks[i].name, tracks[i].distance);
        else
            snprintf(label, sizeof label, "%s", tracks[i].name);
        fid_image_draw_label(canvas, &tracks[i].box, label, unknown ? 0xd32f2f : 0x2e7d32);
    }
    return canvas;
}

/* What the loop shows and writes, and its running numbers. */
typedef struct live_out {
    const char *output;
    int window_mode; /* 0 none, 1 required, 2 if one opens */
    double fps;
    fid_video_writer *writer;
    live_window *window;
    fid_image *canvas;
    latency_histogram *latency;
    double shown_fps, last_at, last_latency;
    int64_t frames;
    int quit; /* the user closed the window */
} live_out;

/* Track, identify, draw, show and write one detected frame. -1 after printing an error. */
/* "-" is standard output, as for every output file. */
static FILE *open_output(const char *path) { return strcmp(path, "-") ? fopen(path, "w") : stdout; }

/* Closes (or, for stdout, flushes) an output; 1 after saying that writing it failed. */
static int close_output(FILE *f, const char *path) {
    if (!f) return 0;
    int bad = ferror(f) | (f == stdout ? fflush(f) : fclose(f));
    if (bad) fprintf(stderr, "faceid: %s: could not write everything\n", path);
    return bad != 0;
}

/* --tracks: one JSON line per frame with every track seen in it, for scoring a run frame by frame. */
static void write_tracks(live_state *s, int64_t index, double seconds) {
    if (!s->tracks_out) return;
    fid_track_info tracks[64];
    int nt = fid_tracker_tracks(s->tracker, tracks, 64, index, NULL);
    json_t *list = json_array();
    for (int i = 0; i < nt && i < 64; i++) {
        json_t *t = json_pack("{s:i,s:[f,f,f,f],s:f,s:s}", "track", tracks[i].id, "box", round(tracks[i].box.x),
                              round(tracks[i].box.y), round(tracks[i].box.width), round(tracks[i].box.height), "score",
                              round(tracks[i].score * 1e3) / 1e3, "name", tracks[i].name);
        if (isfinite(tracks[i].distance))
            json_object_set_new(t, "distance", json_real(round(tracks[i].distance * 1e4) / 1e4));
        json_array_append_new(list, t);
    }
    json_t *j = json_pack("{s:I,s:f,s:o}", "frame", (json_int_t)index, "time",
                          isfinite(seconds) ? round(seconds * 1000) / 1000 : -1.0, "tracks", list);
    char *line = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (line) fprintf(s->tracks_out, "%s\n", line);
    free(line);
    json_decref(j);
}

static int handle_frame(live_state *s, live_out *o, fid_capture *capture, const fid_image *image, int64_t index,
                        double seconds, double captured, const fid_detection *dets, int n, int in_step) {
    fid_status st;
    if (track_frame(s, image, index, seconds, in_step, dets, n) < 0) return -1;
    write_tracks(s, index, seconds);
    if (o->window_mode && !o->window) {
        char why[256];
        o->window = live_window_open("faceid live", fid_image_width(image), fid_image_height(image), why, sizeof why);
        if (!o->window) {
            fprintf(stderr, "faceid: %s%s\n", why, o->window_mode == 2 ? "; going on without one" : "");
            if (o->window_mode == 1) return -1;
            o->window_mode = 0;
        }
    }
    if ((o->output || o->window) && !(o->canvas = annotate(s, image, o->canvas, index))) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        return -1;
    }
    double labelled = now_s();
    o->last_latency = labelled - captured;
    latency_add(o->latency, o->last_latency);
    if (!isnan(o->last_at) && labelled > o->last_at) /* smoothed over ~1 s at camera rates */
        o->shown_fps =
            o->shown_fps ? 0.97 * o->shown_fps + 0.03 / (labelled - o->last_at) : 1 / (labelled - o->last_at);
    o->last_at = labelled;
    if (o->output) {
        if (!o->writer && !(o->writer = fid_video_writer_open(o->output, fid_image_width(image),
                                                              fid_image_height(image), o->fps, &st))) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            return -1;
        }
        if (fid_video_writer_write(o->writer, o->canvas) != FID_OK) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            return -1;
        }
    }
    if (o->window) {
        fid_capture_stats cs = fid_capture_get_stats(capture);
        char status[160];
        snprintf(status, sizeof status, "%.1f fps  %.0f ms  %lld dropped%s", o->shown_fps, o->last_latency * 1e3,
                 (long long)cs.dropped, cs.reconnecting ? "  reconnecting" : "");
        fid_image_draw_text(o->canvas, 0, 0, status, 0, 0xffffff, 0x202020);
        if (live_window_show(o->window, o->canvas) == 1) o->quit = 1;
    }
    o->frames++;
    return 0;
}

/* A frame out of the detection pool, through handle_frame. */
static int handle_detected(live_state *s, live_out *o, fid_capture *capture, detect_pool *pool, int in_step) {
    const detected_frame *d = detect_pool_collect(pool);
    if (!d) return 0;
    int r = d->n_faces < 0 ? -1 : 0;
    if (r < 0)
        fprintf(stderr, "faceid: %s: frame %lld: %s\n", s->source, (long long)d->index, d->error);
    else
        r = handle_frame(s, o, capture, d->image, d->index, d->seconds, d->captured, d->faces, d->n_faces, in_step);
    detect_pool_release(pool);
    return r;
}

static const char *live_usage =
    "usage: faceid live [--source SRC] [--gallery DB] [--window | --no-window] [--output OUT.mp4]\n"
    "                   [--events EVENTS.jsonl] [--tracks TRACKS.jsonl] [--realtime]\n"
    "                   [--detector blazeface|tiny|ssd|haar] [--tile-face PX]\n"
    "                   [--reconnect-timeout S] [--threads N] [--model SPEC]\n"
    "                   [--camera-size WxH] [--camera-fps N] [--camera-format mjpeg|yuyv422|...]\n"
    "Follows every face of a camera, stream or video file, names it or shows \"?\" for strangers,\n"
    "in a window (when a display exists) and/or into an annotated H.264 video and JSON Lines events\n"
    "(appeared, identified, changed, left). SRC: /dev/videoN (default /dev/video0), a file, rtsp://,\n"
    "http(s)://, anything FFmpeg opens. Decoding runs on its own thread and the newest frame wins:\n"
    "frames the pipeline has no time for are dropped (counted), so the picture never lags.\n"
    "A track is identified when it appears and re-checked every 15 frames; it is named by the mean\n"
    "of its descriptors so far (one frame's blur or pose averages out).\n"
    "  --events FILE          JSON Lines: appeared, identified, changed, left (- for stdout)\n"
    "  --tracks FILE          JSON Lines, one per frame: frame, time and every track's id, box,\n"
    "                         detector score, name and distance (- for stdout)\n"
    "  --tile-face PX         smallest face to find in large frames (default 24; 0: the whole frame\n"
    "                         only). A 1080p frame's tiles are spread over frames; tracked faces'\n"
    "                         tiles are scanned every frame\n"
    "  --realtime             pace a file at its frame rate, as a camera would deliver it\n"
    "  --camera-size/-fps/-format  ask a V4L2 camera for a mode (most USB webcams need mjpeg\n"
    "                         for 720p at 30 fps; `v4l2-ctl --list-formats-ext` lists them)\n"
    "  --reconnect-timeout S  a network stream that was cut is reopened with back-off; give up\n"
    "                         after S seconds without a frame (default: never; 0: do not reconnect)\n"
    "Esc or q in the window, or Ctrl-C, stops; output files are finished cleanly. A summary (frames,\n"
    "dropped, fps, capture-to-label latency, people seen) goes to stderr at the end.\n"
    "examples:\n"
    "  faceid live                                   # the webcam, in a window\n"
    "  faceid live --source rtsp://cam.local/stream --no-window --events events.jsonl\n"
    "  faceid live --source party.mp4 --output out/annotated.mp4 --events out/events.jsonl\n";

int fid_cli_live(int argc, char **argv) {
    const char *source = NULL, *output = NULL, *events_path = NULL, *gallery = NULL, *detector = "blazeface",
               *tracks_path = NULL;
    int threads = 2, realtime = 0, window_mode = -1; /* -1: when a display exists */
    double reconnect_s = -1, camera_fps = 0;
    const char *camera_size = NULL, *camera_format = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        int model_option = fid_cli_model_option(argc, argv, &i);
        if (model_option < 0) return 2;
        if (model_option) continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(live_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--source") && next)
            source = argv[++i];
        else if (!strcmp(a, "--output") && next)
            output = argv[++i];
        else if (!strcmp(a, "--events") && next)
            events_path = argv[++i];
        else if (!strcmp(a, "--tracks") && next)
            tracks_path = argv[++i];
        else if (!strcmp(a, "--gallery") && next)
            gallery = argv[++i];
        else if (!strcmp(a, "--detector") && next)
            detector = argv[++i];
        else if (!strcmp(a, "--threads") && next)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--reconnect-timeout") && next) {
            reconnect_s = strtod(argv[++i], &end);
            if (*end || reconnect_s < 0) {
                fprintf(stderr, "faceid: --reconnect-timeout wants seconds >= 0, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--camera-size") && next) {
            camera_size = argv[++i];
            int w, h;
            char tail;
            if (sscanf(camera_size, "%dx%d%c", &w, &h, &tail) != 2 || w < 16 || h < 16) {
                fprintf(stderr, "faceid: --camera-size wants WIDTHxHEIGHT, not '%s'\n", camera_size);
                return 2;
            }
        } else if (!strcmp(a, "--camera-fps") && next) {
            camera_fps = strtod(argv[++i], &end);
            if (*end || !(camera_fps > 0 && camera_fps <= 1000)) {
                fprintf(stderr, "faceid: --camera-fps wants frames per second, not '%s'\n", argv[i]);
                return 2;
            }
        } else if (!strcmp(a, "--camera-format") && next)
            camera_format = argv[++i];
        else if (!strcmp(a, "--realtime"))
            realtime = 1;
        else if (!strcmp(a, "--window"))
            window_mode = 1;
        else if (!strcmp(a, "--no-window"))
            window_mode = 0;
        else {
            fprintf(stderr, "faceid: unknown or incomplete option '%s' (try --help)\n", a);
            return 2;
        }
    }
    if (!source) {
        if (access("/dev/video0", F_OK) != 0) {
            fprintf(stderr, "faceid: no --source given and no camera at /dev/video0 (try --help)\n");
            return 2;
        }
        source = "/dev/video0";
    }
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "faceid: --threads must be 1..64\n");
        return 2;
    }
    if (window_mode < 0) window_mode = live_window_display_present() ? 2 : 0; /* 2: if it opens */

    fid_status st;
    char path[4096];
    gallery = fid_cli_gallery_path(gallery, path, sizeof path);
    live_state s = {.source = source};
    s.embedder = fid_cli_embedder(1); /* on its own thread, beside the detector */
    fid_gallery *g = s.embedder ? fid_cli_open_gallery(gallery, 1, s.embedder) : NULL;
    s.matcher = g ? fid_matcher_create(g, NULL, &st) : NULL;
    if (!s.matcher) {
        if (g) fprintf(stderr, "faceid: %s\n", fid_last_error());
        fid_gallery_close(g);
        fid_embedder_free(s.embedder);
        return 2;
    }
    /* A file read as fast as it decodes gets two frames detected at once (see detect_pool.h);
     * a camera, a stream or --realtime one frame at a time, each as soon as it arrives. */
    int file_offline = !realtime && !fid_video_is_network(source) && strncmp(source, "/dev/", 5) &&
                       strncmp(source, "v4l2:", 5) && threads > 1;
    detect_pool *pool = file_offline ? detect_pool_start(detector, 2) : NULL;
    if (!pool) s.detector = fid_cli_detector(detector, threads, 0, NAN);
    fid_tracker_params tpar = fid_tracker_default_params();
    /* the mean descriptor already pools the track's frames: its latest match is the label (a vote
     * of 5 on top held a person at "?" for 3 re-checks: named right 76% -> 86% on the dim clip) */
    tpar.votes = 1;
    s.tracker = s.detector || pool ? fid_tracker_create(&tpar, &st) : NULL;
    s.dim = s.embedder ? fid_embedder_dim(s.embedder) : 0;
    s.describer = s.tracker ? describer_start(s.embedder, s.matcher, 4) : NULL;
    if (s.tracker && !s.describer) fprintf(stderr, "faceid: cannot start the identification thread\n");
    fid_capture *capture = NULL;
    if (s.describer) {
        fid_capture_params cp = fid_capture_default_params();
        cp.realtime = realtime;
        cp.reconnect_s = reconnect_s;
        cp.camera_size = camera_size;
        cp.camera_fps = camera_fps;
        cp.camera_format = camera_format;
        if (!(capture = fid_capture_open(source, &cp, &st))) fprintf(stderr, "faceid: %s\n", fid_last_error());
    }
    if (capture && events_path && !(s.events = open_output(events_path)))
        fprintf(stderr, "faceid: %s: cannot create: %s\n", events_path, strerror(errno));
    if (capture && tracks_path && (!events_path || s.events) && !(s.tracks_out = open_output(tracks_path)))
        fprintf(stderr, "faceid: %s: cannot create: %s\n", tracks_path, strerror(errno));
    int rc = capture && (!events_path || s.events) && (!tracks_path || s.tracks_out) ? 0 : 2;
    latency_histogram *latency = rc == 0 ? calloc(1, sizeof *latency) : NULL;
    if (rc == 0 && !latency) rc = 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double fps = capture ? fid_capture_fps(capture) : 0;
    int live = capture && fid_capture_is_live(capture);
    if (!(fps > 0)) fps = 25;
    live_out o = {.output = output, .window_mode = window_mode, .fps = fps, .latency = latency, .last_at = NAN};
    double t_start = now_s();
    while (rc == 0 && !stop_requested && !o.quit) {
        fid_capture_frame f;
        /* bounded waits keep Ctrl-C and the window responsive while a stream reconnects */
        int r = fid_capture_next(capture, 0.1, &f, &st);
        if (r == 2) {
            if (o.window && live_window_poll(o.window)) break;
            continue;
        }
        if (r < 0) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            rc = 2;
            break;
        }
        if (r == 0) break;
        if (pool) {
            if (!s.period) s.period = scan_period(detect_pool_detector(pool), f.image);
            follow_tracks(&s, f.index);
            detect_pool_submit(pool, f.image, f.index, f.seconds, f.captured, s.period, s.follow, s.n_follow);
            if (detect_pool_in_flight(pool) >= detect_pool_depth(pool) && handle_detected(&s, &o, capture, pool, 1) < 0)
                rc = 2;
            continue;
        }
        fid_detection dets[64];
        if (!s.period) s.period = scan_period(s.detector, f.image);
        follow_tracks(&s, f.index);
        int n = fid_detector_run_video(s.detector, f.image, f.index, s.period, s.follow, s.n_follow, dets, 64, &st);
        if (n < 0) {
            fprintf(stderr, "faceid: %s: frame %lld: %s\n", source, (long long)f.index, fid_last_error());
            rc = 2;
            break;
        }
        if (handle_frame(&s, &o, capture, f.image, f.index, f.seconds, f.captured, dets, n > 64 ? 64 : n, !live) < 0)
            rc = 2;
    }
    while (pool && rc == 0 && !o.quit && detect_pool_in_flight(pool) > 0) /* the frames still in the pool */
        if (handle_detected(&s, &o, capture, pool, 1) < 0) rc = 2;
    detect_pool_stop(pool);
    if (capture) fid_capture_stop(capture);
    if (s.describer && rc == 0) { /* the identifications of the last frame still count */
        describer_wait(s.describer);
        describe_result r;
        while (describer_take(s.describer, &r))
            apply_result(&s, &r);
    }
    if (o.writer && fid_video_writer_close(o.writer) != FID_OK) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        rc = 2;
    }
    double elapsed = now_s() - t_start;
    if (capture && latency && (rc == 0 || o.frames > 0)) { /* an error before any frame stays one line */
        fid_capture_stats cs = fid_capture_get_stats(capture);
        fprintf(stderr,
                "%s%lld frames in %.1f s (%.1f frames/s), %lld dropped, capture-to-label latency p50 %.1f ms "
                "p99 %.1f ms, peak memory %.0f MB",
                stop_requested ? "stopped: " : "", (long long)o.frames, elapsed, elapsed > 0 ? o.frames / elapsed : 0,
                (long long)cs.dropped, latency_percentile_ms(latency, 0.5), latency_percentile_ms(latency, 0.99),
                peak_rss_kb() / 1024.0);
        if (cs.reconnects) fprintf(stderr, ", %d reconnects", cs.reconnects);
        for (int i = 0; i < s.n_seen; i++)
            fprintf(stderr, "%s %s x%d", i ? "," : "; seen:", s.seen[i].name, s.seen[i].tracks);
        fprintf(stderr, "\n");
    }
    live_window_close(o.window);
    fid_image_free(o.canvas);
    free(latency);
    if (close_output(s.events, events_path) || close_output(s.tracks_out, tracks_path)) rc = 2;
    free(s.seen);
    for (int i = 0; i < s.n_looks; i++)
        free(s.looks[i].descriptor);
    free(s.looks);
    describer_stop(s.describer);
    fid_capture_close(capture);
    fid_tracker_free(s.tracker);
    fid_embedder_free(s.embedder);
    fid_detector_free(s.detector);
    fid_matcher_free(s.matcher);
    fid_gallery_close(g);
    return rc;
}
