#include "pipeline/detect_pool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/box.h"
#include "util/error.h"

enum { MAX_WORKERS = 4 };
typedef enum { FREE, QUEUED, RUNNING, DONE } slot_state;

typedef struct slot {
    detected_frame f;
    scan_request r;
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

static fid_box moved(fid_box b, float dx, float dy) { return (fid_box){b.x + dx, b.y + dy, b.width, b.height}; }


/* Detects as the request says, in the region of interest only (cut out; boxes moved between
 * frame and region pixels), then adds the carried detections it did not find again. */
static int detect_roi(detect_pool *pool, int w, slot *s) {
    fid_status st;
    fid_box r = pool->roi;
    const scan_request *q = &s->r;
    const fid_image *im = s->f.image;
    float x0 = 0, y0 = 0;
    if (r.width > 0) {
        x0 = (float)(int)r.x, y0 = (float)(int)r.y;
        pool->cuts[w] = fid__image_cut(pool->cuts[w], s->f.image, (int)x0, (int)y0, (int)r.width, (int)r.height);
        if (!pool->cuts[w]) return fid__fail(FID_ERR_NO_MEMORY, "cannot cut the region of interest"), -1;
        im = pool->cuts[w];
    }
    fid_box follow[FID__MAX_FACES], small[FID__MAX_FACES], refused[FID__MAX_REFUSED];
    for (int i = 0; i < q->n_follow; i++)
        follow[i] = moved(q->follow[i], -x0, -y0);
    for (int i = 0; i < q->n_small; i++)
        small[i] = moved(q->small[i], -x0, -y0);
    for (int i = 0; i < q->n_refused; i++)
        refused[i] = moved(q->refused[i], -x0, -y0);
    fid__scan_plan plan = {.tiles = q->n_tiles ? q->tiles : NULL,
                           .n_tiles = q->n_tiles,
                           .follow = follow,
                           .n_follow = q->n_follow,
                           .small = small,
                           .n_small = q->n_small,
                           .refused = refused,
                           .n_refused = q->n_refused};
    fid_detector *d = pool->detectors[w];
    int n = fid__detector_run_plan(d, im, &plan, s->f.faces, FID__MAX_FACES, &st);
    if (n < 0) return -1;
    if (n > FID__MAX_FACES) n = FID__MAX_FACES;
    for (int i = 0; i < n; i++) {
        fid_detection *det = &s->f.faces[i];
        det->box.x += x0, det->box.y += y0;
        for (int k = 0; k < det->n_keypoints; k++)
            det->keypoints[k].x += x0, det->keypoints[k].y += y0;
        s->f.detected_in[i] = s->f.index;
    }
    s->f.n_refused = d->n_refused;
    for (int i = 0; i < d->n_refused; i++)
        s->f.refused[i] = moved(d->refused[i], x0, y0);
    int found = n;
    for (int c = 0; c < q->n_carry && n < FID__MAX_FACES; c++) {
        int again = 0;
        for (int i = 0; i < found && !again; i++)
            again = fid__box_iou(s->f.faces[i].box, q->carry[c].box) > 0.3f;
        if (again) continue;
        s->f.faces[n] = q->carry[c];
        s->f.detected_in[n++] = q->carry_from[c];
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
                        double wall, const scan_request *request) {
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
    s->r = *request;
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
