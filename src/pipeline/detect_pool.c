#include "pipeline/detect_pool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/error.h"

enum { MAX_WORKERS = 4 };
typedef enum { FREE, QUEUED, RUNNING, DONE } slot_state;

typedef struct slot {
    detected_frame f;
    int period, n_follow;
    fid_box follow[FID__MAX_FACES];
    fid_image *copy;
    slot_state state;
    char error[512];
} slot;

typedef struct worker_arg {
    struct detect_pool *pool;
    int id;
} worker_arg;

struct detect_pool {
    int n_workers, depth;
    pthread_t threads[MAX_WORKERS];
    fid_detector *detectors[MAX_WORKERS];
    pthread_mutex_t lock;
    pthread_cond_t changed;
    slot slots[MAX_WORKERS + 1];
    worker_arg args[MAX_WORKERS];
    int64_t submitted, collected; /* sequence numbers; slot = seq % depth */
    fid_box roi;
    fid_image *cuts[MAX_WORKERS]; /* each worker's copy of the region of interest */
    int quit;
};

/* Detects in the region of interest only: cut out, boxes (followed and found) moved between
 * frame and region pixels. */
static int detect_roi(detect_pool *pool, int w, slot *s) {
    fid_status st;
    fid_box r = pool->roi;
    if (!(r.width > 0))
        return fid_detector_run_video(pool->detectors[w], s->f.image, s->f.index, s->period, s->follow, s->n_follow,
                                      s->f.faces, FID__MAX_FACES, &st);
    int x0 = (int)r.x, y0 = (int)r.y;
    pool->cuts[w] = fid__image_cut(pool->cuts[w], s->f.image, x0, y0, (int)r.width, (int)r.height);
    if (!pool->cuts[w]) return fid__fail(FID_ERR_NO_MEMORY, "cannot cut the region of interest"), -1;
    fid_box follow[FID__MAX_FACES];
    for (int i = 0; i < s->n_follow; i++)
        follow[i] = (fid_box){s->follow[i].x - x0, s->follow[i].y - y0, s->follow[i].width, s->follow[i].height};
    int n = fid_detector_run_video(pool->detectors[w], pool->cuts[w], s->f.index, s->period, follow, s->n_follow,
                                   s->f.faces, FID__MAX_FACES, &st);
    for (int i = 0; i < n && i < FID__MAX_FACES; i++) {
        fid_detection *d = &s->f.faces[i];
        d->box.x += x0, d->box.y += y0;
        for (int k = 0; k < d->n_keypoints; k++)
            d->keypoints[k].x += x0, d->keypoints[k].y += y0;
    }
    return n;
}

static void *work(void *p) {
    worker_arg *a = p;
    detect_pool *pool = a->pool;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        slot *s = NULL;
        /* the oldest queued frame first, so results come back in order soon */
        for (int64_t q = pool->collected; q < pool->submitted && !s; q++)
            if (pool->slots[q % pool->depth].state == QUEUED) s = &pool->slots[q % pool->depth];
        if (!s && pool->quit) break;
        if (!s) {
            pthread_cond_wait(&pool->changed, &pool->lock);
            continue;
        }
        s->state = RUNNING;
        pthread_mutex_unlock(&pool->lock);
        int n = detect_roi(pool, a->id, s);
        if (n < 0) snprintf(s->error, sizeof s->error, "%s", fid_last_error());
        s->f.n_faces = n < 0 ? -1 : n > FID__MAX_FACES ? FID__MAX_FACES : n;
        pthread_mutex_lock(&pool->lock);
        s->state = DONE;
        pthread_cond_broadcast(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

const fid_detector *detect_pool_detector(const detect_pool *pool) { return pool ? pool->detectors[0] : NULL; }

detect_pool *detect_pool_start(const fid_detector_params *params, int workers, fid_box roi, fid_status *status) {
    if (workers < 0 || workers > MAX_WORKERS) workers = 2;
    detect_pool *pool = calloc(1, sizeof *pool);
    if (!pool) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a detection pool"));
        return NULL;
    }
    pool->depth = workers + 1;
    pool->roi = roi;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);
    fid_detector_params p = *params;
    if (workers == 0) { /* inline: the submitting thread detects, with the threads asked for */
        pool->depth = 1;
        if (!(pool->detectors[0] = fid_detector_create(&p, status))) {
            detect_pool_stop(pool);
            return NULL;
        }
        return pool;
    }
    p.threads = 1;
    for (int i = 0; i < workers; i++) {
        if (!(pool->detectors[i] = fid_detector_create(&p, status))) {
            detect_pool_stop(pool);
            return NULL;
        }
        pool->args[i] = (worker_arg){pool, i};
        if (pthread_create(&pool->threads[i], NULL, work, &pool->args[i])) {
            fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot start a detection thread"));
            detect_pool_stop(pool);
            return NULL;
        }
        pool->n_workers = i + 1;
    }
    fid__set_status(status, FID_OK);
    return pool;
}

void detect_pool_stop(detect_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->lock);
    pool->quit = 1;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->threads[i], NULL);
    for (int i = 0; i < MAX_WORKERS; i++)
        fid_detector_free(pool->detectors[i]), fid_image_free(pool->cuts[i]);
    for (int i = 0; i <= MAX_WORKERS; i++)
        fid_image_free(pool->slots[i].copy);
    pthread_cond_destroy(&pool->changed);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
}

int detect_pool_depth(const detect_pool *pool) { return pool->depth; }

int detect_pool_in_flight(detect_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    int n = (int)(pool->submitted - pool->collected);
    pthread_mutex_unlock(&pool->lock);
    return n;
}

void detect_pool_submit(detect_pool *pool, const fid_image *frame, int64_t index, double seconds, double captured,
                        double wall, int period, const fid_box *follow, int n_follow) {
    pthread_mutex_lock(&pool->lock);
    while (pool->submitted - pool->collected >= pool->depth)
        pthread_cond_wait(&pool->changed, &pool->lock);
    slot *s = &pool->slots[pool->submitted % pool->depth];
    pthread_mutex_unlock(&pool->lock);
    /* the slot is free and only this thread fills it: copy outside the lock */
    /* inline, the caller's frame is used where it is: it outlives the slot's collection */
    const fid_image *image = pool->n_workers ? (s->copy = fid_image_copy_into(s->copy, frame, NULL)) : frame;
    s->f = (detected_frame){.image = image, .index = index, .seconds = seconds, .captured = captured, .wall = wall};
    s->error[0] = 0;
    s->period = period;
    s->n_follow = n_follow < FID__MAX_FACES ? n_follow : FID__MAX_FACES;
    memcpy(s->follow, follow, (size_t)s->n_follow * sizeof *follow);
    if (image && pool->n_workers == 0) { /* inline */
        int n = detect_roi(pool, 0, s);
        if (n < 0) snprintf(s->error, sizeof s->error, "%s", fid_last_error());
        s->f.n_faces = n < 0 ? -1 : n > FID__MAX_FACES ? FID__MAX_FACES : n;
    }
    pthread_mutex_lock(&pool->lock);
    if (image && pool->n_workers == 0) {
        s->state = DONE;
    } else if (image) {
        s->state = QUEUED;
    } else { /* out of memory: reported as a failed detection */
        s->f.n_faces = -1;
        snprintf(s->error, sizeof s->error, "out of memory for a frame copy");
        s->state = DONE;
    }
    pool->submitted++;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

const detected_frame *detect_pool_collect(detect_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    if (pool->collected == pool->submitted) {
        pthread_mutex_unlock(&pool->lock);
        return NULL;
    }
    slot *s = &pool->slots[pool->collected % pool->depth];
    while (s->state != DONE)
        pthread_cond_wait(&pool->changed, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
    s->f.error = s->error;
    return &s->f;
}

void detect_pool_release(detect_pool *pool) {
    pthread_mutex_lock(&pool->lock);
    pool->slots[pool->collected % pool->depth].state = FREE;
    pool->collected++;
    pthread_cond_broadcast(&pool->changed);
    pthread_mutex_unlock(&pool->lock);
}

/* Tiles are spread so that a frame costs the whole-frame pass, one tile pass per 30 tiles and a
 * mosaic pass per 4 followed small faces the whole frame missed: 640x480 (12 BlazeFace tiles) one
 * tile a frame, all in 12 frames (0.4 s at 30 fps; 2 a frame cost 100 -> 78 frames/s offline);
 * 1080p (81 tiles) 3 a frame, all in 27 frames (0.9 s): a new small face is found within that,
 * and once followed it is looked for every frame. */
int detect_pool_scan_period(const detect_pool *pool, int width, int height) {
    if (pool->roi.width > 0) width = (int)pool->roi.width, height = (int)pool->roi.height;
    int n = fid_detector_tiles(pool->detectors[0], width, height, NULL, 0);
    int per_frame = (n + 29) / 30;
    return per_frame ? (n + per_frame - 1) / per_frame : 1;
}
