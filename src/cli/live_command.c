/* faceid live: a video source in, tracked faces named or "?", annotated video and JSON events out. */
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/commands.h"
#include "cli/common.h"
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

/* The last descriptor of each live track: a re-check that finds someone else splits the track. */
typedef struct track_look {
    int id;
    float *descriptor;
} track_look;

static float *look_of(track_look **looks, int *n, int id, int dim) {
    for (int i = 0; i < *n; i++)
        if ((*looks)[i].id == id) return (*looks)[i].descriptor;
    track_look *grown = realloc(*looks, (size_t)(*n + 1) * sizeof **looks);
    if (!grown) return NULL;
    *looks = grown;
    (*looks)[*n].id = id;
    (*looks)[*n].descriptor = calloc((size_t)dim, sizeof(float));
    if (!(*looks)[*n].descriptor) return NULL;
    (*looks)[*n].descriptor[0] = NAN; /* nothing seen yet */
    return (*looks)[(*n)++].descriptor;
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

static const char *live_usage =
    "usage: faceid live --source FILE|URL [--gallery DB] [--output OUT.mp4] [--events EVENTS.jsonl]\n"
    "                   [--realtime] [--detector tiny|ssd|blazeface|haar] [--threads N]\n"
    "Follows every face of a video (file or anything libavformat opens), names it or shows \"?\",\n"
    "and writes an annotated H.264 video and/or JSON Lines events (appeared, identified, changed,\n"
    "left). A track is identified when it appears and re-checked every 15 frames; its label is the\n"
    "majority of its last 5 identifications. --realtime paces a file at its frame rate like a camera.\n"
    "Ctrl-C finishes the output cleanly. A summary goes to stderr at the end.\n"
    "examples:\n"
    "  faceid live --source party.mp4 --output out/annotated.mp4 --events out/events.jsonl\n";

int fid_cli_live(int argc, char **argv) {
    const char *source = NULL, *output = NULL, *events_path = NULL, *gallery = NULL, *detector = "tiny";
    int threads = 2, realtime = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(live_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--source") && next)
            source = argv[++i];
        else if (!strcmp(a, "--output") && next)
            output = argv[++i];
        else if (!strcmp(a, "--events") && next)
            events_path = argv[++i];
        else if (!strcmp(a, "--gallery") && next)
            gallery = argv[++i];
        else if (!strcmp(a, "--detector") && next)
            detector = argv[++i];
        else if (!strcmp(a, "--threads") && next)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--realtime"))
            realtime = 1;
        else {
            fprintf(stderr, "faceid: unknown or incomplete option '%s' (try --help)\n", a);
            return 2;
        }
    }
    if (!source) {
        fputs(live_usage, stderr);
        return 2;
    }
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "faceid: --threads must be 1..64\n");
        return 2;
    }
    fid_status st;
    fid_gallery_params gp = fid_gallery_default_params();
    gp.readonly = 1;
    char path[4096];
    gallery = fid_cli_gallery_path(gallery, path, sizeof path);
    fid_gallery *g = fid_gallery_open(gallery, &gp, &st);
    fid_matcher *m = g ? fid_matcher_create(g, NULL, &st) : NULL;
    if (!m) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        fid_gallery_close(g);
        return 2;
    }
    fid_detector *det = fid_cli_detector(detector, threads, 0, NAN);
    fid_embedder *emb = det ? fid_cli_embedder(threads) : NULL;
    fid_video *video = NULL;
    if (emb) {
        fid_video_params vp = fid_video_default_params();
        vp.threads = threads;
        if (!(video = fid_video_open(source, &vp, &st))) fprintf(stderr, "faceid: %s\n", fid_last_error());
    }
    FILE *events = NULL;
    if (video && events_path && !(events = fopen(events_path, "w"))) {
        fprintf(stderr, "faceid: %s: cannot create\n", events_path);
    }
    fid_tracker *tracker = fid_tracker_create(NULL, &st);
    int rc = video && tracker && (!events_path || events) ? 0 : 2;
    fid_video_writer *writer = NULL;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    double fps = video ? fid_video_fps(video) : 0;
    if (!(fps > 0)) fps = 25;
    float *desc = emb ? malloc((size_t)fid_embedder_dim(emb) * sizeof *desc) : NULL;
    appearance *seen = NULL;
    int n_seen = 0, n_looks = 0, dim = emb ? fid_embedder_dim(emb) : 0;
    track_look *looks = NULL;
    int64_t frames = 0;
    double t_start = now_s(), first_pts = NAN;
    while (rc == 0 && !stop_requested) {
        const fid_image *frame;
        double t;
        int r = fid_video_read(video, &frame, &t, &st);
        if (r < 0) {
            fprintf(stderr, "faceid: %s\n", fid_last_error());
            rc = 2;
            break;
        }
        if (r == 0) break;
        if (isnan(t)) t = frames / fps;
        if (isnan(first_pts)) first_pts = t;
        if (realtime) { /* a file behaves like a camera: no frame before its time */
            double wait = (t - first_pts) - (now_s() - t_start);
            if (wait > 0) {
                struct timespec ts = {(time_t)wait, (long)((wait - (time_t)wait) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        fid_detection dets[64];
        int n = fid_detector_run(det, frame, dets, 64, &st);
        if (n < 0) {
            fprintf(stderr, "faceid: %s: frame %lld: %s\n", source, (long long)frames, fid_last_error());
            rc = 2;
            break;
        }
        if (n > 64) n = 64;
        fid_track_event ev[128];
        int k = fid_tracker_update(tracker, dets, n, frames, ev, 128);
        for (int i = 0; i < k && i < 128; i++) {
            write_event(events, &ev[i], t);
            if (ev[i].kind == FID_TRACK_LEFT) forget_look(looks, &n_looks, ev[i].track.id);
        }
        fid_track_info tracks[64];
        int need[64];
        int nt = fid_tracker_tracks(tracker, tracks, 64, frames, need);
        if (nt > 64) nt = 64;
        for (int i = 0; i < nt; i++) {
            if (!need[i]) continue;
            fid_detection d = {.box = tracks[i].box, .score = tracks[i].score};
            fid_face face;
            fid_match match;
            if (fid_embedder_describe(emb, frame, &d, &face, desc) != FID_OK ||
                fid_matcher_match(m, desc, &match) != FID_OK)
                continue; /* a face at the border that cannot be described: try again next time */
            int id = tracks[i].id;
            float *look = look_of(&looks, &n_looks, id, dim);
            if (look && !isnan(look[0])) {
                double d2 = 0;
                for (int k2 = 0; k2 < dim; k2++)
                    d2 += ((double)look[k2] - desc[k2]) * ((double)look[k2] - desc[k2]);
                /* beyond the 1:N threshold from its own last look: another person took the place */
                if (sqrt(d2) > 0.5) {
                    fid_track_event split[2];
                    id = fid_tracker_split(tracker, id, frames, split);
                    write_event(events, &split[0], t);
                    write_event(events, &split[1], t);
                    look = look_of(&looks, &n_looks, id, dim);
                }
            }
            if (look) memcpy(look, desc, (size_t)dim * sizeof *desc);
            fid_track_event e;
            if (fid_tracker_vote(tracker, id, match.name, match.distance, frames, &e) == 1) {
                write_event(events, &e, t);
                if (strcmp(e.track.name, "?")) {
                    int j = 0;
                    while (j < n_seen && strcmp(seen[j].name, e.track.name))
                        j++;
                    if (j == n_seen) {
                        appearance *grown = realloc(seen, (size_t)(n_seen + 1) * sizeof *seen);
                        if (!grown) continue;
                        seen = grown;
                        snprintf(seen[n_seen].name, sizeof seen[0].name, "%s", e.track.name);
                        seen[n_seen++].tracks = 0;
                    }
                    seen[j].tracks++;
                }
            }
        }
        if (output) {
            if (!writer &&
                !(writer = fid_video_writer_open(output, fid_image_width(frame), fid_image_height(frame), fps, &st))) {
                fprintf(stderr, "faceid: %s\n", fid_last_error());
                rc = 2;
                break;
            }
            /* draw on a copy: the decoded frame belongs to the reader */
            fid_image *canvas = fid_image_from_rgb(fid_image_width(frame), fid_image_height(frame),
                                                   fid_image_rgb(frame), (size_t)fid_image_width(frame) * 3, &st);
            nt = fid_tracker_tracks(tracker, tracks, 64, frames, NULL);
            for (int i = 0; canvas && i < nt && i < 64; i++) {
                int unknown = !strcmp(tracks[i].name, "?");
                fid_image_draw_label(canvas, &tracks[i].box, tracks[i].name, unknown ? 0xd32f2f : 0x2e7d32);
            }
            if (!canvas || fid_video_writer_write(writer, canvas) != FID_OK) {
                fprintf(stderr, "faceid: %s\n", fid_last_error());
                rc = 2;
            }
            fid_image_free(canvas);
        }
        frames++;
    }
    if (writer && fid_video_writer_close(writer) != FID_OK) {
        fprintf(stderr, "faceid: %s\n", fid_last_error());
        rc = 2;
    }
    double elapsed = now_s() - t_start;
    if (video) {
        fprintf(stderr, "%s%lld frames in %.1f s (%.1f frames/s), 0 dropped", stop_requested ? "stopped: " : "",
                (long long)frames, elapsed, elapsed > 0 ? frames / elapsed : 0);
        for (int i = 0; i < n_seen; i++)
            fprintf(stderr, "%s %s x%d", i ? "," : "; seen:", seen[i].name, seen[i].tracks);
        fprintf(stderr, "\n");
    }
    if (events) fclose(events);
    free(seen);
    for (int i = 0; i < n_looks; i++)
        free(looks[i].descriptor);
    free(looks);
    free(desc);
    fid_tracker_free(tracker);
    fid_video_close(video);
    fid_embedder_free(emb);
    fid_detector_free(det);
    fid_matcher_free(m);
    fid_gallery_close(g);
    return rc;
}
