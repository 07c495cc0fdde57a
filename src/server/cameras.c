/* The service's cameras: one thread per camera runs its pipeline (src/pipeline), keeps the newest
 * frame and tracks for the live view and snapshots, records, and hands events to events.c. A
 * service keeps its cameras up: a source that fails or ends (a file) is opened again, after 1 s
 * doubling to 30 s. A reload stops only the cameras whose settings changed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"
#include "pipeline/annotate.h"
#include "server/service.h"
#include "util/clock.h"

const double srv_bucket_le[SRV_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

void srv_histogram_add(srv_histogram *h, double dt) {
    int b = 0;
    while (b < SRV_BUCKETS && dt > srv_bucket_le[b])
        b++;
    atomic_fetch_add(&h->bucket[b], 1);
    atomic_fetch_add(&h->count, 1);
    double old = atomic_load(&h->sum);
    while (!atomic_compare_exchange_weak(&h->sum, &old, old + dt)) {
    }
}

void srv_nap(fid_server *s, double seconds) {
    double until = fid__monotonic_s() + seconds;
    while (!atomic_load(&s->stopping) && fid__monotonic_s() < until) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void set_state(srv_camera *c, const char *state, const char *error) {
    pthread_mutex_lock(&c->lock);
    snprintf(c->state, sizeof c->state, "%s", state);
    if (error) {
        snprintf(c->error, sizeof c->error, "%s", error);
        for (char *p = c->error; *p; p++)
            if ((unsigned char)*p < 0x20) *p = '?';
    }
    pthread_mutex_unlock(&c->lock);
}

/* One processed frame: kept for viewers, recorded, its events recorded. */
static void take_result(srv_camera *c, const fid_pipeline_result *r) {
    fid_server *s = c->s;
    int n = r->n_tracks < SRV_MAX_TRACKS ? r->n_tracks : SRV_MAX_TRACKS;
    pthread_mutex_lock(&c->lock);
    if (r->image) {
        fid_image *copy = fid_image_copy_into(c->frame, r->image, NULL);
        c->frame = copy;
        memcpy(c->tracks, r->tracks, (size_t)n * sizeof *c->tracks);
        c->n_tracks = copy ? n : 0;
        double now = fid__wall_s();
        for (int i = 0; i < c->n_tracks; i++) { /* each name drawn, with when it was last drawn */
            int at = -1, oldest = 0;
            for (int k = 0; k < c->n_recent; k++) {
                if (!strcmp(c->recent[k].name, c->tracks[i].name)) at = k;
                if (c->recent[k].wall < c->recent[oldest].wall) oldest = k;
            }
            if (at < 0) at = c->n_recent < 16 ? c->n_recent++ : oldest;
            snprintf(c->recent[at].name, sizeof c->recent[at].name, "%s", c->tracks[i].name);
            c->recent[at].wall = now;
        }
        c->seq++;
        c->frames++;
        c->frame_wall = r->wall;
        double at = fid__monotonic_s();
        if (c->last_at > 0 && at > c->last_at)
            c->fps = c->fps > 0 ? 0.95 * c->fps + 0.05 / (at - c->last_at) : 1 / (at - c->last_at);
        c->last_at = at;
    }
    pthread_mutex_unlock(&c->lock);
    if (r->image) srv_histogram_add(&c->latency, r->latency);
    if (r->image && c->cfg.output) {
        if (!c->writer) {
            double fps = fid_pipeline_fps(c->pipeline);
            fid_status st;
            c->writer = fid_video_writer_open(c->cfg.output, fid_image_width(r->image), fid_image_height(r->image),
                                              fps > 0 ? fps : 25, &st);
            if (!c->writer) {
                fprintf(stderr, "faceid: camera %s: %s; not recording\n", c->cfg.name, fid_last_error());
                c->cfg.output = NULL;
            }
        }
        fid_image *canvas = c->writer ? fid__annotate(NULL, r->image, r->tracks, n, atomic_load(&s->blur_unknown)) : NULL;
        if (canvas && fid_video_writer_write(c->writer, canvas) != FID_OK) {
            fprintf(stderr, "faceid: camera %s: %s; recording stopped\n", c->cfg.name, fid_last_error());
            fid_video_writer_close(c->writer);
            c->writer = NULL;
            c->cfg.output = NULL;
        }
        fid_image_free(canvas);
    }
    if (r->n_events) srv_events_add(s, c, r);
}

static void *run(void *arg) {
    srv_camera *c = arg;
    fid_server *s = c->s;
    double backoff = 1;
    int failing = 0;
    while (!atomic_load(&c->quit) && !atomic_load(&s->stopping)) {
        fid_status st;
        fid_pipeline_params pp = c->cfg.pipeline;
        pp.name = c->cfg.name;
        fid_pipeline *p = fid_pipeline_create(s->m.identifier, &pp, &st);
        if (p && (st = fid_pipeline_open(p, c->url, &c->cfg.capture)) != FID_OK) {
            fid_pipeline_free(p);
            p = NULL;
        }
        if (!p) {
            /* said once per distinct error, not at every retry: a dead camera must not flood the log */
            if (strcmp(c->error, fid_last_error()))
                fprintf(stderr, "faceid: camera %s: %s; trying again (1 s, doubling to 30 s)\n", c->cfg.name,
                        fid_last_error());
            set_state(c, "failed", fid_last_error());
            failing = 1;
            srv_nap(s, backoff);
            backoff = fmin(backoff * 2, 30);
            continue;
        }
        pthread_mutex_lock(&c->lock);
        c->pipeline = p;
        pthread_mutex_unlock(&c->lock);
        if (atomic_load(&c->quit)) fid_pipeline_stop(p); /* a stop that came while opening */
        if (failing) fprintf(stderr, "faceid: camera %s: running\n", c->cfg.name);
        failing = 0;
        set_state(c, "running", "");
        double opened = fid__monotonic_s();
        fid_pipeline_result r;
        for (;;) {
            st = fid_pipeline_next(p, 0.5, &r);
            if (st == FID_AGAIN) {
                fid_pipeline_stats ps = fid_pipeline_get_stats(p);
                set_state(c, ps.reconnecting ? "reconnecting" : "running", NULL);
                continue;
            }
            if (st == FID_OK) {
                take_result(c, &r);
                continue;
            }
            take_result(c, &r); /* the final events: every track left */
            break;
        }
        if (st != FID_END) {
            fprintf(stderr, "faceid: camera %s: %s; opening it again\n", c->cfg.name, fid_last_error());
            set_state(c, "failed", fid_last_error());
            failing = 1;
        }
        fid_pipeline_stats ps = fid_pipeline_get_stats(p);
        pthread_mutex_lock(&c->lock);
        c->pipeline = NULL;
        c->dropped_before += ps.dropped;
        c->reconnects_before += ps.reconnects;
        c->n_tracks = 0;
        pthread_mutex_unlock(&c->lock);
        fid_pipeline_free(p);
        if (atomic_load(&c->quit) || atomic_load(&s->stopping)) break;
        /* a file played to its end, or a source gave up: a service opens it again */
        if (fid__monotonic_s() - opened > 60) backoff = 1;
        if (st == FID_END) set_state(c, "restarting", NULL);
        pthread_mutex_lock(&c->lock);
        c->restarts++;
        pthread_mutex_unlock(&c->lock);
        srv_nap(s, st == FID_END ? 0.2 : backoff);
        if (st != FID_END) backoff = fmin(backoff * 2, 30);
    }
    if (c->writer) fid_video_writer_close(c->writer);
    c->writer = NULL;
    set_state(c, "stopped", NULL);
    return NULL;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

static srv_camera *camera_new(fid_server *s, const fid_server_camera *cfg) {
    srv_camera *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->s = s;
    c->cfg = *cfg;
    c->url = dup_or_null(cfg->url);
    c->output = dup_or_null(cfg->output);
    c->camera_size = dup_or_null(cfg->capture.camera_size);
    c->camera_format = dup_or_null(cfg->capture.camera_format);
    c->cfg.url = c->url, c->cfg.output = c->output;
    c->cfg.capture.camera_size = c->camera_size, c->cfg.capture.camera_format = c->camera_format;
    c->cfg.pipeline.name = c->cfg.name;
    snprintf(c->state, sizeof c->state, "starting");
    pthread_mutex_init(&c->lock, NULL);
    if (!c->url || pthread_create(&c->thread, NULL, run, c)) {
        pthread_mutex_destroy(&c->lock);
        free(c->url), free(c->output), free(c->camera_size), free(c->camera_format);
        free(c);
        return NULL;
    }
    c->started = 1;
    return c;
}

static void camera_stop(srv_camera *c) {
    atomic_store(&c->quit, 1);
    pthread_mutex_lock(&c->lock);
    if (c->pipeline) fid_pipeline_stop(c->pipeline);
    pthread_mutex_unlock(&c->lock);
}

static void camera_free(srv_camera *c) {
    if (!c) return;
    if (c->started) pthread_join(c->thread, NULL);
    fid_image_free(c->frame);
    pthread_mutex_destroy(&c->lock);
    free(c->url), free(c->output), free(c->camera_size), free(c->camera_format);
    free(c);
}

static int same_str(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* The settings that need a restart to change. */
static int same_camera(const fid_server_camera *a, const fid_server_camera *b) {
    return !strcmp(a->name, b->name) && same_str(a->url, b->url) && same_str(a->output, b->output) &&
           !memcmp(&a->pipeline.detector, &b->pipeline.detector, sizeof a->pipeline.detector) &&
           !memcmp(&a->pipeline.roi, &b->pipeline.roi, sizeof a->pipeline.roi) &&
           a->capture.realtime == b->capture.realtime && a->capture.reconnect_s == b->capture.reconnect_s &&
           same_str(a->capture.camera_size, b->capture.camera_size) &&
           same_str(a->capture.camera_format, b->capture.camera_format) &&
           a->capture.camera_fps == b->capture.camera_fps;
}

int srv_cameras_set(fid_server *s, const fid_server_camera *cams, int n, char *why, size_t why_size) {
    if (n > SRV_MAX_CAMERAS) {
        snprintf(why, why_size, "at most %d cameras", SRV_MAX_CAMERAS);
        return -1;
    }
    srv_camera *keep[SRV_MAX_CAMERAS] = {0}, *gone[SRV_MAX_CAMERAS];
    int n_gone = 0, failed = 0;
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++) {
        int j = 0;
        while (j < n && !same_camera(&s->cams[i]->cfg, &cams[j]))
            j++;
        if (j < n && !keep[j])
            keep[j] = s->cams[i];
        else
            gone[n_gone++] = s->cams[i];
    }
    for (int j = 0; j < n; j++)
        if (!keep[j] && !(keep[j] = camera_new(s, &cams[j]))) {
            snprintf(why, why_size, "camera %s: cannot start (out of memory or threads)", cams[j].name);
            failed = 1;
        }
    int k = 0;
    for (int j = 0; j < n; j++)
        if (keep[j]) s->cams[k++] = keep[j];
    s->n_cams = k;
    pthread_mutex_unlock(&s->cams_lock);
    for (int i = 0; i < n_gone; i++)
        camera_stop(gone[i]);
    for (int i = 0; i < n_gone; i++)
        camera_free(gone[i]);
    if (s->mqtt) { /* a sensor per camera in Home Assistant */
        const char *names[SRV_MAX_CAMERAS];
        int nk = 0;
        pthread_mutex_lock(&s->cams_lock);
        for (int i = 0; i < s->n_cams; i++)
            names[nk++] = s->cams[i]->cfg.name;
        srv_mqtt_sync_cameras(s->mqtt, names, nk);
        pthread_mutex_unlock(&s->cams_lock);
    }
    return failed ? -1 : 0;
}

void srv_cameras_stop_all(fid_server *s) {
    pthread_mutex_lock(&s->cams_lock);
    int n = s->n_cams;
    srv_camera *all[SRV_MAX_CAMERAS];
    memcpy(all, s->cams, (size_t)n * sizeof *all);
    s->n_cams = 0;
    pthread_mutex_unlock(&s->cams_lock);
    for (int i = 0; i < n; i++)
        camera_stop(all[i]);
    for (int i = 0; i < n; i++)
        camera_free(all[i]);
}

int srv_camera_jpeg(fid_server *s, const char *name, uint64_t after_seq, int raw, unsigned char **jpeg, size_t *size,
                    uint64_t *seq) {
    int found = -1;
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++) {
        srv_camera *c = s->cams[i];
        if (strcmp(c->cfg.name, name)) continue;
        found = 0;
        pthread_mutex_lock(&c->lock);
        fid_image *canvas = NULL;
        if (c->frame && c->seq > after_seq) {
            canvas = raw ? fid_image_copy_into(NULL, c->frame, NULL)
                         : fid__annotate(NULL, c->frame, c->tracks, c->n_tracks, atomic_load(&s->blur_unknown));
            *seq = c->seq;
        } else {
            found = c->frame ? 1 : 2; /* 1: nothing newer yet; 2: no frame at all */
        }
        pthread_mutex_unlock(&c->lock);
        /* encoded outside the camera's lock: the camera thread never waits for a viewer */
        if (canvas && fid__image_encode_jpeg(canvas, 80, jpeg, size) != FID_OK) found = -2;
        fid_image_free(canvas);
    }
    pthread_mutex_unlock(&s->cams_lock);
    return found;
}
