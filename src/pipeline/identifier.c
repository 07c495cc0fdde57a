/*
 * The identification worker shared by pipelines. A descriptor costs more than detecting a whole
 * frame, so on 2 cores the pipelines' frame loops (decode, detect, track) and identification run
 * side by side; a track's label arrives a frame or two after the face. One embedder serves every
 * camera: its weights and activations exist once however many cameras there are.
 */
#include "pipeline/identifier.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gallery/gallery.h"
#include "util/error.h"
#include "util/clock.h"

/* Frames are shared by the jobs of one frame and recycled, not freed: at 30 fps a fresh 1 MB
 * allocation per frame was page faults for nothing. */
typedef struct shared_frame {
    fid_image *image;
    int refs;
} shared_frame;

typedef struct job {
    fid__id_client *client;
    int track_id;
    int64_t frame;
    double seconds, wall;
    fid_detection face;
    shared_frame *image;
    int look_n;
    float *look; /* last, then mean: 2 * dim floats */
} job;

typedef struct done {
    fid__id_result r;
    float *look;
} done;

struct fid__id_client {
    int queued, running_track; /* jobs waiting; the track being described (-1: none) */
    done *results;
    int n_results;
    float *taken; /* the look handed out by take */
    shared_frame *frames;
    int n_frames;
};

struct fid_identifier {
    fid__describe_fn describe;
    void *user;
    fid_embedder *embedder;
    fid_gallery *gallery;
    fid_matcher *matcher;
    fid_identifier_params p;
    int dim, capacity; /* capacity: jobs per client */
    float split;
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int quit;
    job *jobs;
    int n_jobs, cap_jobs;
    int people, reloads;
    uint64_t version;
    double next_check;
};

fid_identifier_params fid_identifier_default_params(void) {
    fid_identifier_params p = {.matcher = fid_matcher_default_params(),
                               .per_stream = 4,
                               .split_distance = NAN,
                               .mean_frames = 10,
                               .reload_interval_s = 0.25};
    return p;
}

static int describe_with_embedder(void *user, const fid_image *image, const fid_detection *face, float *descriptor) {
    fid_face f;
    return fid_embedder_describe(user, image, face, &f, descriptor) == FID_OK ? 0 : -1;
}

/* The gallery changed since the matcher was made (another process enrolled someone): a new
 * matcher. Worker thread only (it alone uses the gallery and the matcher once started). */
static void check_gallery(fid_identifier *id) {
    double now = fid__monotonic_s();
    if (!(id->p.reload_interval_s > 0) || now < id->next_check) return;
    id->next_check = now + id->p.reload_interval_s;
    uint64_t v;
    if (fid_gallery_version(id->gallery, &v) != FID_OK || v == id->version) return;
    fid_status st;
    /* from the change log when the gallery keeps one (PostgreSQL): only the people who changed
     * are read, so a change reaches a node with a million people in well under a second */
    fid_matcher *m = fid__matcher_refresh(id->matcher, id->version, id->gallery, &id->p.matcher, &v, &st);
    if (!m) return; /* locked by a writer for longer than the busy timeout, the database away: next time */
    fid_matcher *old = id->matcher;
    pthread_mutex_lock(&id->lock);
    id->matcher = m;
    id->version = v;
    id->people = fid_matcher_people(m);
    id->reloads++;
    pthread_mutex_unlock(&id->lock);
    fid_matcher_free(old);
}

static void update_look(const fid_identifier *id, float *look, int *n, const float *desc, int *split) {
    float *last = look, *mean = look + id->dim;
    *split = 0;
    if (*n > 0) {
        double d2 = 0;
        for (int k = 0; k < id->dim; k++)
            d2 += ((double)last[k] - desc[k]) * ((double)last[k] - desc[k]);
        if (sqrt(d2) > id->split) *split = 1, *n = 0; /* someone else took the track's place */
    }
    memcpy(last, desc, (size_t)id->dim * sizeof *desc);
    ++*n;
    /* Descriptors of one face averaged over the frames of its track: each frame's descriptor
     * carries its own noise (blur, pose, a small face), the mean less. On `make eval`'s 1080p
     * clips (people enrolled from one photo, 40-110 px faces) tracks matched by their mean were
     * named right in 68% and 76% of the frames where they were detected, against 58% and 71% by
     * the vote of single frames; no stranger named either way. The mean forgets slowly (the last
     * mean_frames count most) as the face turns or nears. */
    float w = 1.0f / (*n < id->p.mean_frames ? *n : id->p.mean_frames);
    for (int k = 0; k < id->dim; k++)
        mean[k] = *n == 1 ? desc[k] : mean[k] + w * (desc[k] - mean[k]);
}

static void *work(void *arg) {
    fid_identifier *id = arg;
    float *desc = malloc((size_t)id->dim * sizeof *desc);
    pthread_mutex_lock(&id->lock);
    for (;;) {
        while (!id->quit && id->n_jobs == 0) {
            pthread_mutex_unlock(&id->lock);
            check_gallery(id);
            pthread_mutex_lock(&id->lock);
            if (id->quit || id->n_jobs) break;
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += 250000000L; /* wakes to look at the gallery now and then */
            if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&id->changed, &id->lock, &until);
        }
        if (id->quit || !desc) break;
        job j = id->jobs[0];
        memmove(id->jobs, id->jobs + 1, (size_t)--id->n_jobs * sizeof *id->jobs);
        fid__id_client *c = j.client;
        c->queued--;
        c->running_track = j.track_id;
        pthread_mutex_unlock(&id->lock);
        check_gallery(id);
        int split = 0;
        fid_match match;
        int ok = id->describe(id->user, j.image->image, &j.face, desc) == 0;
        if (ok) {
            update_look(id, j.look, &j.look_n, desc, &split);
            ok = fid_matcher_match(id->matcher, j.look + id->dim, &match) == FID_OK;
        }
        pthread_mutex_lock(&id->lock);
        j.image->refs--; /* the frame may be recycled now */
        c->running_track = -1;
        if (ok) {
            done *r = &c->results[c->n_results++];
            r->r = (fid__id_result){.track_id = j.track_id,
                                    .frame = j.frame,
                                    .seconds = j.seconds,
                                    .wall = j.wall,
                                    .split = split,
                                    .match = match,
                                    .look = {.n = j.look_n}};
            memcpy(r->look, j.look, (size_t)id->dim * 2 * sizeof(float));
        }
        free(j.look);
        pthread_cond_broadcast(&id->changed);
    }
    pthread_mutex_unlock(&id->lock);
    free(desc);
    return NULL;
}

fid_identifier *fid__identifier_create_with(fid__describe_fn describe, void *user, int dim, float split_distance,
                                            fid_gallery *gallery, const fid_identifier_params *params,
                                            fid_status *status) {
    fid_identifier_params p = params ? *params : fid_identifier_default_params();
    if (!describe || dim < 1 || !gallery || p.per_stream < 1 || p.per_stream > 256 || p.mean_frames < 1 ||
        !(split_distance > 0)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "fid_identifier_create: need an embedder, a gallery, per_stream 1..256, "
                                          "mean_frames >= 1 and a positive split distance"));
        return NULL;
    }
    if (fid_gallery_dim(gallery) != dim) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "the gallery holds %d-d descriptors, the embedder makes %d-d ones",
                                          fid_gallery_dim(gallery), dim));
        return NULL;
    }
    fid_identifier *id = calloc(1, sizeof *id);
    if (!id) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate an identifier"));
        return NULL;
    }
    id->describe = describe, id->user = user, id->gallery = gallery, id->p = p, id->dim = dim;
    id->capacity = p.per_stream, id->split = split_distance;
    pthread_mutex_init(&id->lock, NULL);
    pthread_cond_init(&id->changed, NULL);
    fid_status st = fid_gallery_version(gallery, &id->version);
    if (st == FID_OK) id->matcher = fid_matcher_create(gallery, &p.matcher, &st);
    if (id->matcher) id->people = fid_matcher_people(id->matcher);
    id->next_check = fid__monotonic_s() + p.reload_interval_s;
    if (st == FID_OK && pthread_create(&id->thread, NULL, work, id))
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot start the identification thread");
    if (st != FID_OK) {
        fid_identifier_free(id);
        fid__set_status(status, st);
        return NULL;
    }
    id->started = 1;
    fid__set_status(status, FID_OK);
    return id;
}

fid_identifier *fid_identifier_create(fid_embedder *embedder, fid_gallery *gallery, const fid_identifier_params *params,
                                      fid_status *status) {
    if (!embedder) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_identifier_create: no embedder"));
        return NULL;
    }
    fid_identifier_params p = params ? *params : fid_identifier_default_params();
    /* no longer the same person by the model's 1:1 threshold: someone else took the place */
    float split = isnan(p.split_distance) ? fid_embedder_threshold(embedder) : p.split_distance;
    if (gallery && strcmp(fid_gallery_model(gallery), fid_embedder_model_id(embedder))) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT,
                                          "the gallery holds descriptors of model '%s', the embedder is '%s'",
                                          fid_gallery_model(gallery), fid_embedder_model_id(embedder)));
        return NULL;
    }
    fid_identifier *id = fid__identifier_create_with(describe_with_embedder, embedder, fid_embedder_dim(embedder),
                                                     split, gallery, &p, status);
    if (id) id->embedder = embedder;
    return id;
}

void fid_identifier_free(fid_identifier *id) {
    if (!id) return;
    if (id->started) {
        pthread_mutex_lock(&id->lock);
        id->quit = 1;
        pthread_cond_broadcast(&id->changed);
        pthread_mutex_unlock(&id->lock);
        pthread_join(id->thread, NULL);
    }
    for (int i = 0; i < id->n_jobs; i++)
        free(id->jobs[i].look);
    free(id->jobs);
    fid_matcher_free(id->matcher);
    pthread_cond_destroy(&id->changed);
    pthread_mutex_destroy(&id->lock);
    free(id);
}

int fid_identifier_people(fid_identifier *id) {
    if (!id) return 0;
    pthread_mutex_lock(&id->lock);
    int n = id->people;
    pthread_mutex_unlock(&id->lock);
    return n;
}

int fid_identifier_reloads(fid_identifier *id) {
    if (!id) return 0;
    pthread_mutex_lock(&id->lock);
    int n = id->reloads;
    pthread_mutex_unlock(&id->lock);
    return n;
}

int fid__identifier_dim(const fid_identifier *id) { return id->dim; }

int fid__identifier_knows(fid_identifier *id, const char *name) {
    pthread_mutex_lock(&id->lock);
    /* before the first matcher (no gallery yet) everyone is taken as known: nothing to forget */
    int known = !id->matcher || fid__matcher_knows(id->matcher, name);
    pthread_mutex_unlock(&id->lock);
    return known;
}

fid__id_client *fid__identifier_join(fid_identifier *id) {
    fid__id_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    int cap = id->capacity + 1; /* every job can become a result before any is taken */
    c->running_track = -1;
    c->results = calloc((size_t)cap, sizeof *c->results);
    c->frames = calloc((size_t)cap, sizeof *c->frames);
    c->taken = malloc((size_t)id->dim * 2 * sizeof *c->taken);
    int ok = c->results && c->frames && c->taken;
    for (int i = 0; ok && i < cap; i++)
        ok = (c->results[i].look = malloc((size_t)id->dim * 2 * sizeof(float))) != NULL;
    if (!ok) {
        fid__identifier_leave(id, c);
        return NULL;
    }
    return c;
}

static void drop_jobs_locked(fid_identifier *id, fid__id_client *c) {
    int kept = 0;
    for (int i = 0; i < id->n_jobs; i++) {
        if (id->jobs[i].client == c) {
            free(id->jobs[i].look);
            id->jobs[i].image->refs--;
            c->queued--;
        } else {
            id->jobs[kept++] = id->jobs[i];
        }
    }
    id->n_jobs = kept;
}

void fid__identifier_leave(fid_identifier *id, fid__id_client *c) {
    if (!c) return;
    if (id) {
        pthread_mutex_lock(&id->lock);
        drop_jobs_locked(id, c);
        while (c->running_track >= 0)
            pthread_cond_wait(&id->changed, &id->lock);
        pthread_mutex_unlock(&id->lock);
    }
    int cap = id ? id->capacity + 1 : 0;
    for (int i = 0; c->results && i < cap; i++)
        free(c->results[i].look);
    for (int i = 0; c->frames && i < c->n_frames; i++)
        fid_image_free(c->frames[i].image);
    free(c->results);
    free(c->frames);
    free(c->taken);
    free(c);
}

/* A recycled frame buffer holding a copy of `frame` (under the lock). */
static shared_frame *copy_in(fid_identifier *id, fid__id_client *c, const fid_image *frame) {
    shared_frame *f = NULL;
    for (int i = 0; i < c->n_frames && !f; i++)
        if (c->frames[i].refs == 0) f = &c->frames[i];
    if (!f) {
        if (c->n_frames > id->capacity) return NULL;
        f = &c->frames[c->n_frames++];
    }
    return (f->image = fid_image_copy_into(f->image, frame, NULL)) ? f : NULL;
}

int fid__identifier_submit(fid_identifier *id, fid__id_client *c, const fid_image *frame, int64_t index,
                           double seconds, double wall, const int *track_ids, const fid_detection *faces,
                           const fid__look *looks, int n) {
    pthread_mutex_lock(&id->lock);
    int room = id->capacity - c->queued - c->n_results - (c->running_track >= 0);
    int queued = 0;
    shared_frame *f = n > 0 && room > 0 ? copy_in(id, c, frame) : NULL;
    for (int i = 0; f && i < n && queued < room; i++) {
        if (id->n_jobs == id->cap_jobs) {
            int cap = id->cap_jobs ? id->cap_jobs * 2 : 16;
            job *grown = realloc(id->jobs, (size_t)cap * sizeof *grown);
            if (!grown) break;
            id->jobs = grown, id->cap_jobs = cap;
        }
        float *look = malloc((size_t)id->dim * 2 * sizeof *look);
        if (!look) break;
        int look_n = looks && looks[i].n > 0 ? looks[i].n : 0;
        if (look_n) {
            memcpy(look, looks[i].last, (size_t)id->dim * sizeof *look);
            memcpy(look + id->dim, looks[i].mean, (size_t)id->dim * sizeof *look);
        }
        id->jobs[id->n_jobs++] = (job){.client = c,
                                       .track_id = track_ids[i],
                                       .frame = index,
                                       .seconds = seconds,
                                       .wall = wall,
                                       .face = faces[i],
                                       .image = f,
                                       .look_n = look_n,
                                       .look = look};
        f->refs++;
        c->queued++;
        queued++;
    }
    if (queued) pthread_cond_broadcast(&id->changed);
    pthread_mutex_unlock(&id->lock);
    return queued;
}

int fid__identifier_in_flight(fid_identifier *id, fid__id_client *c, int track_id) {
    pthread_mutex_lock(&id->lock);
    int found = c->running_track == track_id;
    for (int i = 0; i < id->n_jobs && !found; i++)
        found = id->jobs[i].client == c && id->jobs[i].track_id == track_id;
    for (int i = 0; i < c->n_results && !found; i++)
        found = c->results[i].r.track_id == track_id;
    pthread_mutex_unlock(&id->lock);
    return found;
}

void fid__identifier_wait(fid_identifier *id, fid__id_client *c) {
    pthread_mutex_lock(&id->lock);
    while (c->queued > 0 || c->running_track >= 0)
        pthread_cond_wait(&id->changed, &id->lock);
    pthread_mutex_unlock(&id->lock);
}

int fid__identifier_take(fid_identifier *id, fid__id_client *c, fid__id_result *out) {
    pthread_mutex_lock(&id->lock);
    int got = c->n_results > 0;
    if (got) {
        *out = c->results[0].r;
        memcpy(c->taken, c->results[0].look, (size_t)id->dim * 2 * sizeof *c->taken);
        out->look.last = c->taken;
        out->look.mean = c->taken + id->dim;
        float *keep = c->results[0].look; /* rotate the buffers with the entries */
        memmove(c->results, c->results + 1, (size_t)--c->n_results * sizeof *c->results);
        c->results[c->n_results].look = keep;
    }
    pthread_mutex_unlock(&id->lock);
    return got;
}
