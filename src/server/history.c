/* The service's history: every event (and, within crops-hours, its face's crop) written to the
 * gallery's database once a second by a thread of its own, so a restart or a kill -9 loses at
 * most the last second of who was seen when. The events API reads it back; ids go on after a
 * restart. Retention is applied to the stored rows every minute; a person deleted or renamed in
 * the gallery takes their history along (gallery.c does it in the same transaction, on every
 * node). Uses its own gallery handle (models.history): never the request side's lock. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gallery/gallery.h"
#include "server/service.h"
#include "util/clock.h"

#define FLUSH_S 1.0
#define PRUNE_S 60.0
#define BATCH 512 /* events per transaction: a burst is written in several short ones */

/* Says once when writing fails and once when it works again (a database restarting). */
static void history_state(fid_server *s, int ok) {
    if (ok == !s->history_failing) return;
    s->history_failing = !ok;
    if (!ok)
        fprintf(stderr, "faceid: history: %s; events are kept in memory until it works again\n", fid_last_error());
    else
        fprintf(stderr, "faceid: history: writing again\n");
}

int srv_history_flush(fid_server *s) {
    if (!s->m.history) return 0;
    pthread_mutex_lock(&s->history_lock);
    int failed = 0;
    for (;;) {
        fid__history_row rows[BATCH];
        unsigned char *crops[BATCH];
        int n = 0;
        pthread_mutex_lock(&s->ev_lock);
        if (s->history_upto < s->first_event) s->history_upto = s->first_event; /* the ring moved past: gone */
        uint64_t from = s->history_upto;
        uint64_t upto = from;
        for (uint64_t id = from; id < s->next_event && n < BATCH; id++, upto++) {
            const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
            if (ev->forgotten) continue; /* a deleted person's: the history never gets it */
            int stranger = !strcmp(ev->e.track.name, "?");
            /* a stranger's face is not written down when the service blurs strangers */
            int keep_crop = ev->crop && s->p.history_crops && !(stranger && atomic_load(&s->blur_unknown));
            crops[n] = keep_crop ? malloc(ev->crop_size) : NULL;
            if (crops[n]) memcpy(crops[n], ev->crop, ev->crop_size);
            rows[n] = (fid__history_row){.id = ev->id,
                                         .camera = strdup(ev->camera),
                                         .name = strdup(ev->e.track.name),
                                         .kind = ev->e.kind,
                                         .frame = ev->e.frame,
                                         .seconds = ev->e.seconds,
                                         .wall = ev->e.wall,
                                         .track = ev->e.track.id,
                                         .box = ev->e.track.box,
                                         .score = ev->e.track.score,
                                         .distance = ev->e.track.distance,
                                         .crop = crops[n],
                                         .crop_size = crops[n] ? ev->crop_size : 0,
                                         .rejected = ev->rejected};
            n++;
        }
        pthread_mutex_unlock(&s->ev_lock);
        fid_status st = n ? fid__history_add(s->m.history, s->node, rows, n) : FID_OK;
        for (int i = 0; i < n; i++) {
            free((char *)rows[i].camera), free((char *)rows[i].name);
            free(crops[i]);
        }
        if (n) history_state(s, st == FID_OK);
        if (st != FID_OK) {
            failed = 1;
            break;
        }
        pthread_mutex_lock(&s->ev_lock);
        if (s->history_upto == from) s->history_upto = upto;
        int more = s->history_upto < s->next_event;
        pthread_mutex_unlock(&s->ev_lock);
        if (upto == from || !more) break;
    }
    pthread_mutex_unlock(&s->history_lock);
    return failed ? -1 : 0;
}

void srv_history_forget(fid_server *s, const char *name) {
    if (!s->m.history) return;
    srv_history_flush(s); /* what is still in memory goes to the database first, then all of it */
    pthread_mutex_lock(&s->history_lock);
    fid_status st = fid__history_forget(s->m.history, name);
    pthread_mutex_unlock(&s->history_lock);
    if (st != FID_OK) history_state(s, 0);
}

void srv_history_rename(fid_server *s, const char *from, const char *to) {
    if (!s->m.history) return;
    srv_history_flush(s);
    pthread_mutex_lock(&s->history_lock);
    fid_status st = fid__history_rename(s->m.history, from, to);
    pthread_mutex_unlock(&s->history_lock);
    if (st != FID_OK) history_state(s, 0);
}

static void prune(fid_server *s) {
    double now = fid__wall_s();
    pthread_mutex_lock(&s->history_lock);
    fid_status st = fid__history_prune(s->m.history, s->node, now - atomic_load(&s->events_hours) * 3600,
                                       now - atomic_load(&s->crops_hours) * 3600);
    pthread_mutex_unlock(&s->history_lock);
    if (st != FID_OK) history_state(s, 0);
}

static void *history_loop(void *arg) {
    fid_server *s = arg;
    double next_prune = 0;
    pthread_mutex_lock(&s->history_wait_lock);
    while (!atomic_load(&s->stopping)) {
        pthread_mutex_unlock(&s->history_wait_lock);
        srv_history_flush(s);
        if (fid__monotonic_s() >= next_prune) {
            prune(s);
            next_prune = fid__monotonic_s() + PRUNE_S;
        }
        pthread_mutex_lock(&s->history_wait_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)FLUSH_S;
        if (!atomic_load(&s->stopping)) pthread_cond_timedwait(&s->history_wake, &s->history_wait_lock, &until);
    }
    pthread_mutex_unlock(&s->history_wait_lock);
    return NULL;
}

int srv_history_start(fid_server *s, char *why, size_t why_size) {
    pthread_mutex_init(&s->history_lock, NULL);
    pthread_mutex_init(&s->history_wait_lock, NULL);
    pthread_cond_init(&s->history_wake, NULL);
    s->history_inited = 1;
    if (!s->m.history) return 0;
    uint64_t last = 0;
    if (fid__history_last(s->m.history, s->node, &last) != FID_OK) {
        snprintf(why, why_size, "history: %s", fid_last_error());
        return -1;
    }
    /* ids go on where the stored history ends: a restart never reuses one */
    s->next_event = s->first_event = s->history_upto = s->crop_cursor = last + 1;
    s->events_base = last;
    if (pthread_create(&s->history_thread, NULL, history_loop, s)) {
        snprintf(why, why_size, "history: cannot start its thread");
        return -1;
    }
    s->history_started = 1;
    return 0;
}

void srv_history_stop(fid_server *s) {
    if (!s->history_inited) return;
    if (s->history_started) {
        pthread_mutex_lock(&s->history_wait_lock);
        pthread_cond_signal(&s->history_wake);
        pthread_mutex_unlock(&s->history_wait_lock);
        pthread_join(s->history_thread, NULL);
        srv_history_flush(s); /* the cameras have stopped: their last events too */
    }
    pthread_cond_destroy(&s->history_wake);
    pthread_mutex_destroy(&s->history_wait_lock);
    pthread_mutex_destroy(&s->history_lock);
    s->history_inited = 0;
}
