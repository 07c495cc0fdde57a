#include "cli/detect_pool.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

enum { MAX_WORKERS = 4 };
typedef enum { FREE, QUEUED, RUNNING, DONE } slot_state;

typedef struct slot {
    detected_frame f;
    int period, n_follow;
    fid_box follow[64];
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
    int quit;
};

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
        fid_status st;
        int n = fid_detector_run_video(pool->detectors[a->id], s->copy, s->f.index, s->period, s->follow, s->n_follow,
                                       s->f.faces, 64, &st);
        if (n < 0) snprintf(s->error, sizeof s->error, "%s", fid_last_error());
        s->f.n_faces = n < 0 ? -1 : n > 64 ? 64 : n;
        pthread_mutex_lock(&pool->lock);
        s->state = DONE;
        pthread_cond_broadcast(&pool->changed);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

detect_pool *detect_pool_start(const char *detector, int workers) {
    if (workers < 1 || workers > MAX_WORKERS) workers = 2;
    detect_pool *pool = calloc(1, sizeof *pool);
    if (!pool) return NULL;
    pool->depth = workers + 1;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->changed, NULL);
    for (int i = 0; i < workers; i++) {
        if (!(pool->detectors[i] = fid_cli_detector(detector, 1, 0, NAN))) {
            detect_pool_stop(pool);
            return NULL;
        }
        pool->args[i] = (worker_arg){pool, i};
        if (pthread_create(&pool->threads[i], NULL, work, &pool->args[i])) {
            fprintf(stderr, "faceid: cannot start a detection thread\n");
            detect_pool_stop(pool);
            return NULL;
        }
        pool->n_workers = i + 1;
    }
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
        fid_detector_free(pool->detectors[i]);
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
                        int period, const fid_box *follow, int n_follow) {
    pthread_mutex_lock(&pool->lock);
    while (pool->submitted - pool->collected >= pool->depth)
        pthread_cond_wait(&pool->changed, &pool->lock);
    slot *s = &pool->slots[pool->submitted % pool->depth];
    pthread_mutex_unlock(&pool->lock);
    /* the slot is free and only this thread fills it: copy outside the lock */
    s->copy = fid_image_copy_into(s->copy, frame, NULL);
    s->f = (detected_frame){.image = s->copy, .index = index, .seconds = seconds, .captured = captured};
    s->error[0] = 0;
    s->period = period;
    s->n_follow = n_follow < 64 ? n_follow : 64;
    memcpy(s->follow, follow, (size_t)s->n_follow * sizeof *follow);
    pthread_mutex_lock(&pool->lock);
    if (s->copy) {
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

const fid_detector *detect_pool_detector(const detect_pool *pool) { return pool->detectors[0]; }
