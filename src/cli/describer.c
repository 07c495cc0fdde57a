/*
 * The identification worker of `faceid live`. A descriptor costs more than detecting a whole
 * frame, so on 2 cores the frame loop (decode, detect, track, draw) and identification run side
 * by side; a track's label arrives a frame or two after the face.
 */
#include "cli/describer.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Frames are shared by the jobs of one frame and recycled, not freed: at 30 fps a fresh 1 MB
 * allocation per frame was page faults for nothing. */
typedef struct shared_frame {
    fid_image *image;
    int refs;
} shared_frame;

typedef struct job {
    int track_id;
    int64_t frame;
    double seconds;
    fid_detection face;
    shared_frame *image;
} job;

typedef struct done {
    describe_result r;
    float *descriptor;
} done;

struct describer {
    fid_embedder *embedder;
    const fid_matcher *matcher;
    int dim, capacity;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int quit, running_track; /* track of the job being described, -1 when idle */
    job *jobs;
    int n_jobs;
    done *results;
    int n_results;
    float *taken; /* the descriptor handed out by describer_take */
    shared_frame *frames;
    int n_frames;
};

static void *work(void *arg) {
    describer *d = arg;
    float *desc = malloc((size_t)d->dim * sizeof *desc);
    pthread_mutex_lock(&d->lock);
    for (;;) {
        while (!d->quit && d->n_jobs == 0)
            pthread_cond_wait(&d->changed, &d->lock);
        if (d->quit || !desc) break;
        job j = d->jobs[0];
        memmove(d->jobs, d->jobs + 1, (size_t)--d->n_jobs * sizeof *d->jobs);
        d->running_track = j.track_id;
        pthread_mutex_unlock(&d->lock);
        fid_face face;
        fid_match match;
        int ok = fid_embedder_describe(d->embedder, j.image->image, &j.face, &face, desc) == FID_OK &&
                 fid_matcher_match(d->matcher, desc, &match) == FID_OK;
        pthread_mutex_lock(&d->lock);
        j.image->refs--; /* the frame may be recycled now */
        d->running_track = -1;
        if (ok) {
            done *r = &d->results[d->n_results++];
            r->r = (describe_result){.track_id = j.track_id, .frame = j.frame, .seconds = j.seconds, .match = match};
            memcpy(r->descriptor, desc, (size_t)d->dim * sizeof *desc);
        }
        pthread_cond_broadcast(&d->changed);
    }
    pthread_mutex_unlock(&d->lock);
    free(desc);
    return NULL;
}

describer *describer_start(fid_embedder *embedder, const fid_matcher *matcher, int capacity) {
    describer *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->embedder = embedder;
    d->matcher = matcher;
    d->dim = fid_embedder_dim(embedder);
    d->capacity = capacity;
    d->running_track = -1;
    d->jobs = calloc((size_t)capacity, sizeof *d->jobs);
    /* every job can become a result before any is taken */
    d->results = calloc((size_t)capacity + 1, sizeof *d->results);
    d->frames = calloc((size_t)capacity + 1, sizeof *d->frames);
    d->taken = malloc((size_t)d->dim * sizeof *d->taken);
    int ok = d->jobs && d->results && d->frames && d->taken;
    for (int i = 0; ok && i <= capacity; i++)
        ok = (d->results[i].descriptor = malloc((size_t)d->dim * sizeof(float))) != NULL;
    pthread_mutex_init(&d->lock, NULL);
    pthread_cond_init(&d->changed, NULL);
    if (!ok || pthread_create(&d->thread, NULL, work, d)) {
        d->thread = 0;
        describer_stop(d);
        return NULL;
    }
    return d;
}

void describer_stop(describer *d) {
    if (!d) return;
    if (d->thread) {
        pthread_mutex_lock(&d->lock);
        d->quit = 1;
        pthread_cond_broadcast(&d->changed);
        pthread_mutex_unlock(&d->lock);
        pthread_join(d->thread, NULL);
    }
    for (int i = 0; d->results && i <= d->capacity; i++)
        free(d->results[i].descriptor);
    for (int i = 0; d->frames && i < d->n_frames; i++)
        fid_image_free(d->frames[i].image);
    pthread_cond_destroy(&d->changed);
    pthread_mutex_destroy(&d->lock);
    free(d->frames);
    free(d->results);
    free(d->jobs);
    free(d->taken);
    free(d);
}

/* A recycled frame buffer holding a copy of `frame` (under the lock). */
static shared_frame *copy_in(describer *d, const fid_image *frame) {
    shared_frame *f = NULL;
    for (int i = 0; i < d->n_frames && !f; i++)
        if (d->frames[i].refs == 0) f = &d->frames[i];
    if (!f) {
        if (d->n_frames > d->capacity) return NULL;
        f = &d->frames[d->n_frames++];
    }
    return (f->image = fid_image_copy_into(f->image, frame, NULL)) ? f : NULL;
}

int describer_submit(describer *d, const fid_image *frame, int64_t index, double seconds, const int *track_ids,
                     const fid_detection *faces, int n) {
    pthread_mutex_lock(&d->lock);
    int room = d->capacity - d->n_jobs - d->n_results - (d->running_track >= 0);
    int queued = 0;
    shared_frame *f = n > 0 && room > 0 ? copy_in(d, frame) : NULL;
    for (int i = 0; f && i < n && queued < room; i++) {
        d->jobs[d->n_jobs++] =
            (job){.track_id = track_ids[i], .frame = index, .seconds = seconds, .face = faces[i], .image = f};
        f->refs++;
        queued++;
    }
    if (queued) pthread_cond_broadcast(&d->changed);
    pthread_mutex_unlock(&d->lock);
    return queued;
}

int describer_in_flight(describer *d, int track_id) {
    pthread_mutex_lock(&d->lock);
    int found = d->running_track == track_id;
    for (int i = 0; i < d->n_jobs && !found; i++)
        found = d->jobs[i].track_id == track_id;
    for (int i = 0; i < d->n_results && !found; i++)
        found = d->results[i].r.track_id == track_id;
    pthread_mutex_unlock(&d->lock);
    return found;
}

int describer_outstanding(describer *d) {
    pthread_mutex_lock(&d->lock);
    int n = d->n_jobs + d->n_results + (d->running_track >= 0);
    pthread_mutex_unlock(&d->lock);
    return n;
}

void describer_wait(describer *d) {
    pthread_mutex_lock(&d->lock);
    while (d->n_jobs > 0 || d->running_track >= 0)
        pthread_cond_wait(&d->changed, &d->lock);
    pthread_mutex_unlock(&d->lock);
}

int describer_take(describer *d, describe_result *out) {
    pthread_mutex_lock(&d->lock);
    int got = d->n_results > 0;
    if (got) {
        *out = d->results[0].r;
        memcpy(d->taken, d->results[0].descriptor, (size_t)d->dim * sizeof *d->taken);
        out->descriptor = d->taken;
        float *keep = d->results[0].descriptor; /* rotate the buffers with the entries */
        memmove(d->results, d->results + 1, (size_t)--d->n_results * sizeof *d->results);
        d->results[d->n_results].descriptor = keep;
    }
    pthread_mutex_unlock(&d->lock);
    return got;
}
