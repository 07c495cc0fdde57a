#define _GNU_SOURCE /* SCHED_IDLE */
/*
 * A video source decoded on its own thread. The consumer (detection, tracking, drawing) takes the
 * newest frame; from a live source the frames it had no time for are dropped and counted, so the
 * picture never lags behind the camera. Files are read losslessly unless paced as a camera.
 *
 * Two frame buffers: `ready` (decoded, not yet taken) and `held` (lent to the consumer). The
 * decoder copies into `ready` under the lock (a 640x480 frame is ~0.1 ms), so neither side ever
 * waits for the other's work, only for the copy.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "image/image.h"
#include "util/error.h"
#include "video/video.h"
#include "util/clock.h"

struct fid_capture {
    char *source;
    char *camera_size, *camera_format; /* copies: reopened after a cut */
    fid_capture_params params;
    fid_video *video; /* owned by the decoder thread once it runs */
    double fps, duration;
    int live, network;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    atomic_int stopping;

    /* under lock */
    fid_image *ready, *held;
    int has_ready, ended;
    double ready_seconds, ready_captured, ready_wall;
    fid_status error;
    char error_message[512];
    fid_capture_stats stats;
};

static int interrupted(void *opaque) { return atomic_load(&((fid_capture *)opaque)->stopping); }

fid_capture_params fid_capture_default_params(void) {
    fid_capture_params p = {.threads = 1, .realtime = 0, .reconnect_s = -1, .timeout_s = 5};
    return p;
}

static fid_video *open_video(fid_capture *c, fid_status *status) {
    fid_video_params vp = fid_video_default_params();
    vp.threads = c->params.threads;
    vp.timeout_s = c->params.timeout_s;
    vp.interrupt = interrupted;
    vp.interrupt_opaque = c;
    vp.camera_size = c->camera_size;
    vp.camera_format = c->camera_format;
    vp.camera_fps = c->params.camera_fps;
    return fid_video_open(c->source, &vp, status);
}

/* Sleeps until `until` (monotonic seconds) or a stop request; returns 0 when stopped. */
static int sleep_until(fid_capture *c, double until) {
    pthread_mutex_lock(&c->lock);
    while (!atomic_load(&c->stopping)) {
        double left = until - fid__monotonic_s();
        if (left <= 0) break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        double end = ts.tv_sec + ts.tv_nsec / 1e9 + left;
        ts.tv_sec = (time_t)end;
        ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
        if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
        pthread_cond_timedwait(&c->changed, &c->lock, &ts);
    }
    int go_on = !atomic_load(&c->stopping);
    pthread_mutex_unlock(&c->lock);
    return go_on;
}

/* Publishes a decoded frame. A file read losslessly waits for the consumer to take the previous
 * one; a live source overwrites it (a drop). Returns 0 when asked to stop. */
static int publish(fid_capture *c, const fid_image *frame, double seconds, double captured) {
    int lossless = !c->live && !c->params.realtime;
    pthread_mutex_lock(&c->lock);
    while (lossless && c->has_ready && !atomic_load(&c->stopping))
        pthread_cond_wait(&c->changed, &c->lock);
    int go_on = !atomic_load(&c->stopping);
    if (go_on) {
        if (c->has_ready) c->stats.dropped++;
        if (!(c->ready = fid_image_copy_into(c->ready, frame, NULL))) {
            c->error = fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a frame", c->source);
            snprintf(c->error_message, sizeof c->error_message, "%s", fid_last_error());
            go_on = 0;
        } else {
            c->has_ready = 1;
            c->ready_seconds = seconds;
            c->ready_captured = captured;
            c->ready_wall = fid__wall_s() - (fid__monotonic_s() - captured); /* the same instant on the calendar */
            c->stats.decoded++;
        }
        pthread_cond_broadcast(&c->changed);
    }
    pthread_mutex_unlock(&c->lock);
    return go_on;
}

static void set_reconnecting(fid_capture *c, int on) {
    pthread_mutex_lock(&c->lock);
    c->stats.reconnecting = on;
    if (!on) c->stats.reconnects++;
    pthread_mutex_unlock(&c->lock);
}

static void *decode_loop(void *arg) {
    fid_capture *c = arg;
    /* Decoding runs ahead in the gaps the networks leave; at normal priority it preempted one of
     * the 2 inference threads mid-layer and stalled its partner at the barrier (p99 latency
     * 39 -> 57 ms at 30 fps). But SCHED_IDLE also yields to every other process: beside three
     * CPU-hungry ones a paced 30 fps file decoded at 1.5 frames/s (287 s for 20 s of video). So
     * idle only while it keeps up: a source running 0.25 s behind its own clock gets normal
     * priority, and goes back to idle after 10 s on time. */
    struct sched_param prio = {0};
    int idle = pthread_setschedparam(pthread_self(), SCHED_IDLE, &prio) == 0;
    double on_time_since = fid__monotonic_s();
    fid_status st = FID_OK;
    double last_frame_at = fid__monotonic_s(), t0_wall = NAN, t0_stream = NAN;
    int64_t n = 0;
    while (!atomic_load(&c->stopping)) {
        const fid_image *frame = NULL;
        double seconds = NAN;
        st = c->video ? fid_video_read(c->video, &frame, &seconds) : FID_ERR_IO;
        if (st == FID_OK) {
            double captured = fid__monotonic_s();
            if (isnan(seconds)) seconds = c->fps > 0 ? n / c->fps : n / 25.0;
            n++;
            if (c->params.realtime || c->live) {
                if (isnan(t0_wall)) t0_wall = captured, t0_stream = seconds;
                double due = t0_wall + (seconds - t0_stream);
                if (c->live && due > captured) /* a live source sets the clock: re-anchor when early */
                    t0_wall -= due - captured, due = captured;
                if (!c->live) { /* a file delivered as a camera would */
                    if (due > captured && !sleep_until(c, due)) break;
                    if (due > captured) captured = due;
                }
                double late = captured - due;
                if (idle && late > 0.25) {
                    idle = pthread_setschedparam(pthread_self(), SCHED_OTHER, &prio) != 0;
                    on_time_since = captured;
                } else if (late > 0.05) {
                    on_time_since = captured;
                } else if (!idle && captured - on_time_since > 10) {
                    idle = pthread_setschedparam(pthread_self(), SCHED_IDLE, &prio) == 0;
                }
            }
            last_frame_at = captured;
            if (!publish(c, frame, seconds, captured)) break;
            continue;
        }
        if (atomic_load(&c->stopping)) break;
        if (!c->network || c->params.reconnect_s == 0) {
            if (st != FID_END) {
                pthread_mutex_lock(&c->lock);
                c->error = st;
                snprintf(c->error_message, sizeof c->error_message, "%s", fid_last_error());
                pthread_mutex_unlock(&c->lock);
            }
            break;
        }
        /* A network source that ended or failed: the stream was cut. Reopen with back-off until
         * it is back or reconnect_s has passed without a frame. */
        fid_video_close(c->video);
        c->video = NULL;
        set_reconnecting(c, 1);
        double backoff = 0.25;
        while (!atomic_load(&c->stopping)) {
            if (c->params.reconnect_s > 0 && fid__monotonic_s() - last_frame_at > c->params.reconnect_s) break;
            if (!sleep_until(c, fid__monotonic_s() + backoff)) break;
            backoff = backoff * 2 > 8 ? 8 : backoff * 2;
            if ((c->video = open_video(c, &st))) break;
        }
        if (!c->video) {
            pthread_mutex_lock(&c->lock);
            if (!atomic_load(&c->stopping)) {
                c->error = FID_ERR_IO;
                snprintf(c->error_message, sizeof c->error_message, "%s: cut, and not back after %.0f s", c->source,
                         c->params.reconnect_s);
            }
            pthread_mutex_unlock(&c->lock);
            break;
        }
        set_reconnecting(c, 0);
        t0_wall = NAN;
        n = 0;
    }
    pthread_mutex_lock(&c->lock);
    c->ended = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

fid_capture *fid_capture_open(const char *source, const fid_capture_params *params, fid_status *status) {
    if (!source) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_capture_open: source is NULL"));
        return NULL;
    }
    fid_capture *c = calloc(1, sizeof *c);
    if (!c || !(c->source = strdup(source))) {
        free(c);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a capture", source));
        return NULL;
    }
    c->params = params ? *params : fid_capture_default_params();
    if ((c->params.camera_size && !(c->camera_size = strdup(c->params.camera_size))) ||
        (c->params.camera_format && !(c->camera_format = strdup(c->params.camera_format)))) {
        free(c->camera_size);
        free(c->source);
        free(c);
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate a capture", source));
        return NULL;
    }
    if (c->params.threads < 1) c->params.threads = 1;
    c->network = fid_video_is_network(source);
    pthread_mutex_init(&c->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &attr);
    pthread_condattr_destroy(&attr);
    fid_status st;
    if (!(c->video = open_video(c, &st))) {
        fid_capture_close(c);
        fid__set_status(status, st);
        return NULL;
    }
    c->fps = fid_video_fps(c->video);
    c->live = fid_video_is_live(c->video);
    c->duration = c->live ? 0 : fid_video_duration(c->video);
    if (pthread_create(&c->thread, NULL, decode_loop, c)) {
        fid_capture_close(c);
        fid__set_status(status, fid__fail(FID_ERR_BACKEND, "%s: cannot start the decoder thread", source));
        return NULL;
    }
    c->thread_started = 1;
    fid__set_status(status, FID_OK);
    return c;
}

fid_status fid_capture_next(fid_capture *c, double wait_s, fid_capture_frame *out) {
    if (!c || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_capture_next: NULL argument");
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (wait_s >= 0) {
        double end = deadline.tv_sec + deadline.tv_nsec / 1e9 + wait_s;
        deadline.tv_sec = (time_t)end;
        deadline.tv_nsec = (long)((end - (double)deadline.tv_sec) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) deadline.tv_sec++, deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&c->lock);
    fid_status r = FID_AGAIN;
    while (!c->has_ready && !c->ended) {
        int err = wait_s < 0 ? pthread_cond_wait(&c->changed, &c->lock)
                             : pthread_cond_timedwait(&c->changed, &c->lock, &deadline);
        if (err == ETIMEDOUT) break;
    }
    if (c->has_ready) {
        fid_image *t = c->held;
        c->held = c->ready;
        c->ready = t;
        c->has_ready = 0;
        out->image = c->held;
        out->index = c->stats.delivered++;
        out->seconds = c->ready_seconds;
        out->captured = c->ready_captured;
        out->wall = c->ready_wall;
        pthread_cond_broadcast(&c->changed);
        r = FID_OK;
    } else if (c->ended) {
        r = c->error != FID_OK ? fid__fail(c->error, "%s", c->error_message) : FID_END;
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

void fid_capture_stop(fid_capture *c) {
    if (!c) return;
    atomic_store(&c->stopping, 1);
    pthread_mutex_lock(&c->lock);
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
}

fid_capture_stats fid_capture_get_stats(fid_capture *c) {
    fid_capture_stats s = {0};
    if (!c) return s;
    pthread_mutex_lock(&c->lock);
    s = c->stats;
    pthread_mutex_unlock(&c->lock);
    return s;
}

double fid_capture_fps(const fid_capture *c) { return c ? c->fps : 0; }
double fid_capture_duration(const fid_capture *c) { return c ? c->duration : 0; }
int fid_capture_is_live(const fid_capture *c) { return c ? c->live || c->params.realtime : 0; }

void fid_capture_close(fid_capture *c) {
    if (!c) return;
    if (c->thread_started) {
        fid_capture_stop(c);
        pthread_join(c->thread, NULL);
    }
    fid_video_close(c->video);
    fid_image_free(c->ready);
    fid_image_free(c->held);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    free(c->camera_size);
    free(c->camera_format);
    free(c->source);
    free(c);
}
