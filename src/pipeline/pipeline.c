/*
 * One camera's live identification: capture (its own thread), detection (inline, or a pool of
 * detectors for files read offline), tracking, and identification through the identifier many
 * pipelines share. The CLI, the server and the bindings all drive this object.
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "faceid.h"
#include "pipeline/detect_pool.h"
#include "pipeline/scan_plan.h"
#include "pipeline/identifier.h"
#include "util/error.h"
#include "util/clock.h"

/* Capture-to-label latencies in 0.1 ms bins (fixed memory, however long it runs). */
enum { LATENCY_BINS = 50000 };

typedef struct track_look {
    int id;
    fid__look look; /* look.last owns both buffers */
} track_look;

struct fid_pipeline {
    int reloads_seen;    /* the identifier's gallery reloads this pipeline has looked at */
    double forget_until; /* tracks named after people gone are looked for until then */
    fid_identifier *identifier;
    fid__id_client *client;
    fid_pipeline_params p;
    char *name;
    int dim;
    fid_tracker *tracker;
    detect_pool *pool; /* started by the first frame or by fid_pipeline_open, which knows the source */
    track_look *looks;
    int n_looks;
    /* What each frame's detection scans (scan_plan.h): tiles where the picture changed, and the
     * faces of the tracks not yet left (`follow`, missed lately or not) every frame. */
    scan_planner *planner;
    scan_request request;
    fid_box follow[FID__MAX_FACES];
    /* the current result's contents */
    fid_track_event tev[2 * FID__MAX_FACES + 2]; /* scratch for the tracker's events */
    fid_pipeline_event *events;
    int n_events, cap_events;
    fid_track_info tracks[FID__MAX_FACES];
    int need[FID__MAX_FACES], ids[FID__MAX_FACES];
    fid_detection faces[FID__MAX_FACES];
    fid__look submit_looks[FID__MAX_FACES];
    int holding; /* a collected pool slot backs the last result's image */
    int64_t last_frame;
    double last_seconds, last_wall;
    /* source mode */
    fid_capture *capture;
    int source_ended, finished;
    fid_status source_error;
    char source_message[512];
    atomic_int stop;
    /* statistics, read from other threads */
    pthread_mutex_t stats_lock;
    fid_pipeline_stats stats;
    uint32_t *latency_bins;
    int64_t latency_count;
};

fid_pipeline_params fid_pipeline_default_params(void) {
    fid_pipeline_params p = {.name = "camera",
                             .detector = fid_detector_default_params(FID_DETECTOR_BLAZEFACE),
                             .tracker = fid_tracker_default_params(),
                             .detect_workers = 1};
    /* the mean descriptor already pools the track's frames: its latest match is the label (a vote
     * of 5 on top held a person at "?" for 3 re-checks: named right 76% -> 86% on the dim clip) */
    p.tracker.votes = 1;
    return p;
}

fid_pipeline *fid_pipeline_create(fid_identifier *identifier, const fid_pipeline_params *params,
                                  fid_status *status) {
    fid_pipeline_params p = params ? *params : fid_pipeline_default_params();
    if (!identifier || p.detect_workers < 1 || p.detect_workers > 4 ||
        p.roi.width < 0 || p.roi.height < 0 || (p.roi.width > 0 && !(p.roi.height > 0)) || p.roi.x < 0 ||
        p.roi.y < 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "fid_pipeline_create: need an identifier, detect_workers 1..4 and a "
                                          "region of interest inside the frame"));
        return NULL;
    }
    fid_pipeline *pl = calloc(1, sizeof *pl);
    if (!pl) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a pipeline"));
        return NULL;
    }
    pthread_mutex_init(&pl->stats_lock, NULL);
    pl->identifier = identifier;
    pl->p = p;
    pl->dim = fid__identifier_dim(identifier);
    pl->name = strdup(p.name ? p.name : "camera");
    pl->p.name = pl->name;
    pl->last_frame = -1;
    pl->latency_bins = calloc(LATENCY_BINS, sizeof *pl->latency_bins);
    fid_status st = FID_OK;
    if (!pl->name || !pl->latency_bins) st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a pipeline");
    if (st == FID_OK && !(pl->planner = scan_planner_new()))
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a pipeline");
    if (st == FID_OK) pl->tracker = fid_tracker_create(&p.tracker, &st);
    if (st == FID_OK && !(pl->client = fid__identifier_join(identifier)))
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot join the identifier");
    if (st != FID_OK) {
        fid_pipeline_free(pl);
        fid__set_status(status, st);
        return NULL;
    }
    fid__set_status(status, FID_OK);
    return pl;
}

void fid_pipeline_free(fid_pipeline *pl) {
    if (!pl) return;
    if (pl->holding) detect_pool_release(pl->pool);
    detect_pool_stop(pl->pool);
    fid_capture_close(pl->capture);
    fid__identifier_leave(pl->identifier, pl->client);
    for (int i = 0; i < pl->n_looks; i++)
        free(pl->looks[i].look.last);
    free(pl->looks);
    fid_tracker_free(pl->tracker);
    scan_planner_free(pl->planner);
    free(pl->events);
    free(pl->latency_bins);
    free(pl->name);
    pthread_mutex_destroy(&pl->stats_lock);
    free(pl);
}

static track_look *find_look(fid_pipeline *pl, int id) {
    for (int i = 0; i < pl->n_looks; i++)
        if (pl->looks[i].id == id) return &pl->looks[i];
    return NULL;
}

static track_look *look_of(fid_pipeline *pl, int id) {
    track_look *l = find_look(pl, id);
    if (l) return l;
    track_look *grown = realloc(pl->looks, (size_t)(pl->n_looks + 1) * sizeof *grown);
    if (!grown) return NULL;
    pl->looks = grown;
    l = &pl->looks[pl->n_looks];
    float *buf = calloc((size_t)pl->dim * 2, sizeof *buf);
    if (!buf) return NULL;
    *l = (track_look){.id = id, .look = {.n = 0, .last = buf, .mean = buf + pl->dim}};
    pl->n_looks++;
    return l;
}

/* A track that left no longer needs its look (keeps memory flat over hours of video). */
static void forget_look(fid_pipeline *pl, int id) {
    track_look *l = find_look(pl, id);
    if (!l) return;
    free(l->look.last);
    *l = pl->looks[--pl->n_looks];
}

static void push_event(fid_pipeline *pl, const fid_track_event *e, double seconds, double wall) {
    if (pl->n_events == pl->cap_events) {
        int cap = pl->cap_events ? pl->cap_events * 2 : 32;
        fid_pipeline_event *grown = realloc(pl->events, (size_t)cap * sizeof *grown);
        if (!grown) return; /* out of memory: the event is lost, not the frame */
        pl->events = grown, pl->cap_events = cap;
    }
    pl->events[pl->n_events++] = (fid_pipeline_event){
        .kind = e->kind, .frame = e->frame, .seconds = seconds, .wall = wall, .track = e->track, .source = pl->name};
    if (e->kind == FID_TRACK_LEFT) forget_look(pl, e->track.id);
}

/* A finished identification: split the track if someone else took its place, then vote. */
static void apply_result(fid_pipeline *pl, const fid__id_result *r) {
    int id = r->track_id;
    fid_track_event e[2];
    if (r->split) {
        int new_id = fid_tracker_split(pl->tracker, id, r->frame, e);
        if (new_id < 0) return; /* the track left meanwhile */
        push_event(pl, &e[0], r->seconds, r->wall);
        push_event(pl, &e[1], r->seconds, r->wall);
        id = new_id;
    }
    int voted = fid_tracker_vote(pl->tracker, id, r->match.name, r->match.distance, r->frame, &e[0]);
    if (voted < 0) return; /* the track left meanwhile */
    track_look *l = look_of(pl, id);
    if (l) {
        l->look.n = r->look.n;
        memcpy(l->look.last, r->look.last, (size_t)pl->dim * sizeof(float));
        memcpy(l->look.mean, r->look.mean, (size_t)pl->dim * sizeof(float));
    }
    if (voted == 1) push_event(pl, &e[0], r->seconds, r->wall);
    pthread_mutex_lock(&pl->stats_lock);
    pl->stats.identifications++;
    pthread_mutex_unlock(&pl->stats_lock);
}

static void take_results(fid_pipeline *pl) {
    fid__id_result r;
    while (fid__identifier_take(pl->identifier, pl->client, &r))
        apply_result(pl, &r);
}

static void latency_add(fid_pipeline *pl, double seconds) {
    int64_t bin = (int64_t)(seconds * 1e4);
    pl->latency_bins[bin < 0 ? 0 : bin >= LATENCY_BINS ? LATENCY_BINS - 1 : bin]++;
    pl->latency_count++;
}

static double latency_percentile(const fid_pipeline *pl, double q) {
    if (!pl->latency_count) return NAN;
    int64_t want = (int64_t)ceil(q * pl->latency_count), seen = 0;
    for (int i = 0; i < LATENCY_BINS; i++)
        if ((seen += pl->latency_bins[i]) >= want) return (i + 1) / 1e4; /* bin upper edge */
    return LATENCY_BINS / 1e4;
}

/* The detection a track took its box from this frame, keypoints and all (the embedder starts
 * its landmarks from BlazeFace's keypoints); the box alone for a track not seen this frame. */
static fid_detection detection_of(const detected_frame *d, int n, const fid_track_info *t) {
    for (int i = 0; i < n; i++)
        if (!memcmp(&d->faces[i].box, &t->box, sizeof t->box)) return d->faces[i];
    return (fid_detection){.box = t->box, .score = t->score};
}

/* After the gallery changed: a track named after someone no longer in it (deleted, renamed) is
 * "?" at once and identified again, instead of wearing the old name until its next re-check
 * votes it away (a person deleted and enrolled again in between was never named anew). */
static void forget_departed(fid_pipeline *pl, const detected_frame *d) {
    int reloads = fid_identifier_reloads(pl->identifier);
    double now = fid__monotonic_s();
    /* the tracks of this frame, for 2 s after each reload: a track missed in one frame is seen
     * in the next */
    if (reloads != pl->reloads_seen) pl->reloads_seen = reloads, pl->forget_until = now + 2;
    if (now > pl->forget_until) return;
    int n = fid_tracker_tracks(pl->tracker, pl->tracks, FID__MAX_FACES, d->index, NULL);
    if (n > FID__MAX_FACES) n = FID__MAX_FACES;
    for (int i = 0; i < n; i++) {
        fid_track_event e;
        if (strcmp(pl->tracks[i].name, "?") && !fid__identifier_knows(pl->identifier, pl->tracks[i].name) &&
            fid_tracker_unname(pl->tracker, pl->tracks[i].id, d->index, &e) == 1)
            push_event(pl, &e, d->seconds, d->wall);
    }
}

/* Track a detected frame; hand the tracks that need identifying to the identifier and apply what
 * it finished. Deterministic: the previous frame's identifications are waited for, so a file
 * gives the same labels on every run; else what is ready is taken and nothing waits. */
static fid_status track_frame(fid_pipeline *pl, const detected_frame *d, fid_pipeline_result *out) {
    int m = FID__MAX_FACES;
    if (d->n_faces < 0) return fid__fail(FID_ERR_BACKEND, "%s: frame %lld: %s", pl->name, (long long)d->index, d->error);
    int n = d->n_faces < m ? d->n_faces : m;
    int k = fid_tracker_update(pl->tracker, d->faces, n, d->index, pl->tev, m * 2 + 2);
    for (int i = 0; i < k && i < m * 2 + 2; i++)
        push_event(pl, &pl->tev[i], d->seconds, d->wall);
    if (pl->p.deterministic) fid__identifier_wait(pl->identifier, pl->client);
    take_results(pl);
    forget_departed(pl, d);
    int nt = fid_tracker_tracks(pl->tracker, pl->tracks, m, d->index, pl->need);
    if (nt > m) nt = m;
    scan_planner_learn(pl->planner, d, pl->tracks, nt);
    /* New faces first; re-checks one per frame, or the tracks that appeared together would all
     * fall due on the same frame every 15 frames and queue up behind each other. */
    int n_faces = 0, rechecks = 0;
    for (int pass = 2; pass >= 1; pass--)
        for (int i = 0; i < nt; i++) {
            if (pl->need[i] != pass || (pass == 1 && rechecks++ >= 1) ||
                fid__identifier_in_flight(pl->identifier, pl->client, pl->tracks[i].id))
                continue;
            track_look *l = find_look(pl, pl->tracks[i].id);
            pl->submit_looks[n_faces] = l ? l->look : (fid__look){0};
            pl->ids[n_faces] = pl->tracks[i].id;
            pl->faces[n_faces++] = detection_of(d, n, &pl->tracks[i]);
        }
    fid__identifier_submit(pl->identifier, pl->client, d->image, d->index, d->seconds, d->wall, pl->ids, pl->faces,
                           pl->submit_looks, n_faces);
    pl->last_frame = d->index, pl->last_seconds = d->seconds, pl->last_wall = d->wall;
    *out = (fid_pipeline_result){.image = d->image,
                                 .frame = d->index,
                                 .seconds = d->seconds,
                                 .wall = d->wall,
                                 .n_tracks = nt,
                                 .tracks = pl->tracks,
                                 .n_events = pl->n_events,
                                 .events = pl->events};
    return FID_OK;
}

static void submit(fid_pipeline *pl, const fid_image *frame, int64_t index, double seconds, double captured,
                   double wall) {
    /* the faces to look for: every track not yet left, where its motion puts it then (a file's
     * frames are detected a few frames ahead of tracking) */
    int nf = fid_tracker_active(pl->tracker, index, pl->follow, FID__MAX_FACES);
    if (nf > FID__MAX_FACES) nf = FID__MAX_FACES;
    scan_planner_plan(pl->planner, detect_pool_detector(pl->pool), frame, pl->p.roi, index, pl->follow, nf,
                      &pl->request);
    detect_pool_submit(pl->pool, frame, index, seconds, captured, wall, &pl->request);
    pthread_mutex_lock(&pl->stats_lock);
    scan_planner_counts(pl->planner, &pl->stats.tiles_scanned, &pl->stats.faces_carried, &pl->stats.faces_mosaic);
    pthread_mutex_unlock(&pl->stats_lock);
}

static void begin_result(fid_pipeline *pl) {
    if (pl->holding) detect_pool_release(pl->pool);
    pl->holding = 0;
    pl->n_events = 0;
}

fid_status fid_pipeline_process(fid_pipeline *pl, const fid_image *frame, int64_t index, double seconds, double wall,
                                fid_pipeline_result *out) {
    if (!pl || !frame || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_process: NULL argument");
    if (pl->capture) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_process: the pipeline reads a source");
    if (index <= pl->last_frame)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_process: frame %lld after frame %lld", (long long)index,
                         (long long)pl->last_frame);
    fid_status st;
    if (!pl->pool && !(pl->pool = detect_pool_start(&pl->p.detector, 0, pl->p.roi, &st))) return st;
    begin_result(pl);
    submit(pl, frame, index, seconds, 0, isnan(wall) ? fid__wall_s() : wall);
    const detected_frame *d = detect_pool_collect(pl->pool);
    pl->holding = 1;
    st = track_frame(pl, d, out);
    pthread_mutex_lock(&pl->stats_lock);
    pl->stats.frames++;
    pthread_mutex_unlock(&pl->stats_lock);
    return st;
}

fid_status fid_pipeline_finish(fid_pipeline *pl, fid_pipeline_result *out) {
    if (!pl || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_finish: NULL argument");
    begin_result(pl);
    if (!pl->finished) {
        fid__identifier_wait(pl->identifier, pl->client); /* the last frames' identifications still count */
        take_results(pl);
        int64_t frame = pl->last_frame < 0 ? 0 : pl->last_frame;
        int k = fid_tracker_end(pl->tracker, frame, pl->tev, 2 * FID__MAX_FACES + 2);
        for (int i = 0; i < k && i < 2 * FID__MAX_FACES + 2; i++)
            push_event(pl, &pl->tev[i], pl->last_seconds, pl->last_wall);
        pl->finished = 1;
    }
    *out = (fid_pipeline_result){.frame = pl->last_frame,
                                 .seconds = pl->last_seconds,
                                 .wall = pl->last_wall,
                                 .n_events = pl->n_events,
                                 .events = pl->events};
    return FID_OK;
}

fid_status fid_pipeline_open(fid_pipeline *pl, const char *source, const fid_capture_params *cp) {
    if (!pl || !source) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_open: NULL argument");
    if (pl->capture || pl->pool)
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_open: the pipeline already has frames");
    fid_status st;
    if (!(pl->capture = fid_capture_open(source, cp, &st))) return st;
    int live = fid_capture_is_live(pl->capture);
    /* A file read as fast as it decodes gets frames detected side by side (see detect_pool.h);
     * a camera, a stream or a paced file one frame at a time, each as soon as it arrives. */
    int workers = !live && pl->p.detect_workers > 1 ? pl->p.detect_workers : 0;
    if (!(pl->pool = detect_pool_start(&pl->p.detector, workers, pl->p.roi, &st))) {
        fid_capture_close(pl->capture);
        pl->capture = NULL;
        return st;
    }
    pl->p.deterministic |= !live;
    return FID_OK;
}

double fid_pipeline_fps(const fid_pipeline *pl) { return pl && pl->capture ? fid_capture_fps(pl->capture) : 0; }
double fid_pipeline_duration(const fid_pipeline *pl) {
    return pl && pl->capture ? fid_capture_duration(pl->capture) : 0;
}
int fid_pipeline_is_live(const fid_pipeline *pl) { return pl && pl->capture ? fid_capture_is_live(pl->capture) : 0; }

void fid_pipeline_stop(fid_pipeline *pl) {
    if (!pl) return;
    atomic_store(&pl->stop, 1);
    if (pl->capture) fid_capture_stop(pl->capture);
}

static void update_capture_stats(fid_pipeline *pl) {
    fid_capture_stats cs = fid_capture_get_stats(pl->capture);
    pthread_mutex_lock(&pl->stats_lock);
    pl->stats.decoded = cs.decoded, pl->stats.dropped = cs.dropped;
    pl->stats.reconnects = cs.reconnects, pl->stats.reconnecting = cs.reconnecting;
    pthread_mutex_unlock(&pl->stats_lock);
}

fid_status fid_pipeline_next(fid_pipeline *pl, double wait_s, fid_pipeline_result *out) {
    if (!pl || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_next: NULL argument");
    if (!pl->capture) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_pipeline_next: no source (fid_pipeline_open)");
    begin_result(pl);
    double deadline = wait_s < 0 ? INFINITY : fid__monotonic_s() + wait_s;
    for (;;) {
        if (atomic_load(&pl->stop) && !pl->source_ended) pl->source_ended = 1; /* frames in flight still come */
        int in_flight = detect_pool_in_flight(pl->pool);
        if (!pl->source_ended && in_flight < detect_pool_depth(pl->pool)) {
            /* bounded waits keep fid_pipeline_stop responsive while a stream reconnects */
            double left = deadline - fid__monotonic_s();
            fid_capture_frame f;
            /* a live source's frame in flight is never held back for the next one; a file's
             * decoder is waited for, keeping the detectors busy */
            int live = fid_capture_is_live(pl->capture);
            double wait = in_flight && live ? 0 : left < 0 ? 0 : left > 0.1 ? 0.1 : left;
            fid_status st = fid_capture_next(pl->capture, wait, &f);
            if (st == FID_OK) {
                submit(pl, f.image, f.index, f.seconds, f.captured, f.wall);
                continue;
            }
            if (st == FID_AGAIN) {
                update_capture_stats(pl);
                if (!in_flight && fid__monotonic_s() >= deadline) return FID_AGAIN;
                if (!in_flight || (!live && fid__monotonic_s() < deadline && !atomic_load(&pl->stop))) continue;
            } else {
                pl->source_ended = 1;
                if (st != FID_END) {
                    pl->source_error = st;
                    snprintf(pl->source_message, sizeof pl->source_message, "%s", fid_last_error());
                }
            }
        }
        if (detect_pool_in_flight(pl->pool) > 0) {
            const detected_frame *d = detect_pool_collect(pl->pool);
            pl->holding = 1;
            fid_status st = track_frame(pl, d, out);
            double latency = fid__monotonic_s() - d->captured;
            update_capture_stats(pl);
            pthread_mutex_lock(&pl->stats_lock);
            pl->stats.frames++;
            latency_add(pl, latency);
            pthread_mutex_unlock(&pl->stats_lock);
            out->latency = latency;
            if (st != FID_OK) { /* a detector failure ends the source: one line, tracks leave */
                pl->source_ended = 1, pl->source_error = st;
                snprintf(pl->source_message, sizeof pl->source_message, "%s", fid_last_error());
                detect_pool_release(pl->pool), pl->holding = 0;
                while (detect_pool_in_flight(pl->pool) > 0)
                    detect_pool_collect(pl->pool), detect_pool_release(pl->pool);
                continue;
            }
            return FID_OK;
        }
        /* the source ended and every frame is out: the final events */
        int first = !pl->finished;
        fid_pipeline_finish(pl, out);
        if (pl->source_error != FID_OK && first) {
            fid__fail(pl->source_error, "%s", pl->source_message);
            return pl->source_error;
        }
        return FID_END;
    }
}

fid_precision fid_pipeline_precision(const fid_pipeline *pl, const char **note) {
    const fid_detector *d = pl ? detect_pool_detector(pl->pool) : NULL;
    if (!d) {
        if (note) *note = "";
        return FID_PRECISION_FP32;
    }
    return fid_detector_precision(d, note);
}

fid_pipeline_stats fid_pipeline_get_stats(fid_pipeline *pl) {
    fid_pipeline_stats s = {.latency_p50 = NAN, .latency_p99 = NAN};
    if (!pl) return s;
    pthread_mutex_lock(&pl->stats_lock);
    s = pl->stats;
    s.latency_p50 = latency_percentile(pl, 0.5);
    s.latency_p99 = latency_percentile(pl, 0.99);
    pthread_mutex_unlock(&pl->stats_lock);
    return s;
}
