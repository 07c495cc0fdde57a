/* The service's memory of what the cameras saw: events (with the face's crop while retention
 * allows) for queries, SSE and MQTT, and strangers grouped by likeness for "who is this?".
 * Crops live in memory only: they are gone after crops_hours, after a restart, and when the
 * person they name is deleted. A stranger's crop is described and judged by the photo gates on
 * the worker thread (the request models, under their lock), never on a camera's thread. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gallery/cluster.h"
#include "gallery/gallery.h"
#include "image/image.h"
#include "server/service.h"
#include "util/clock.h"
#include "util/json.h"

enum { MAX_QUEUE = 32 };

int srv_events_init(fid_server *s) {
    s->events = calloc(SRV_MAX_EVENTS, sizeof *s->events);
    int cap = s->p.max_unknown_groups > 0 ? s->p.max_unknown_groups : 100;
    s->groups = calloc((size_t)cap, sizeof *s->groups);
    s->queue = calloc(MAX_QUEUE, sizeof *s->queue);
    s->next_event = s->first_event = 1;
    s->next_group = s->next_face = 1;
    return s->events && s->groups && s->queue ? 0 : -1;
}

static void face_free(srv_face *f) {
    free(f->jpeg);
    free(f->descriptor);
    fid_image_free(f->image);
    memset(f, 0, sizeof *f);
}

static void group_free(srv_group *g) {
    for (int i = 0; i < g->n; i++)
        face_free(&g->faces[i]);
    free(g->centroid);
    memset(g, 0, sizeof *g);
}

void srv_group_remove(fid_server *s, int g) {
    group_free(&s->groups[g]);
    s->groups[g] = s->groups[--s->n_groups];
}

void srv_events_free(fid_server *s) {
    if (s->events)
        for (uint64_t id = s->first_event; id < s->next_event; id++)
            free(s->events[id % SRV_MAX_EVENTS].crop);
    for (int i = 0; s->groups && i < s->n_groups; i++)
        group_free(&s->groups[i]);
    for (int i = 0; s->queue && i < s->n_queue; i++)
        face_free(&s->queue[i]);
    free(s->events), free(s->groups), free(s->queue), free(s->counts);
}

/* The face with a margin around it, grey where it leaves the frame. */
static fid_image *cut(const fid_image *im, fid_box b, float margin) {
    float side = fmaxf(b.width, b.height) * (1 + 2 * margin);
    float cx = b.x + b.width / 2, cy = b.y + b.height / 2;
    int w = (int)lroundf(side), x0 = (int)lroundf(cx - side / 2), y0 = (int)lroundf(cy - side / 2);
    if (w < 8 || w > 4096) return NULL;
    return fid__image_cut(NULL, im, x0, y0, w, w);
}

static void count_name(fid_server *s, const char *name) {
    for (int i = 0; i < s->n_counts; i++)
        if (!strcmp(s->counts[i].name, name)) {
            s->counts[i].n++;
            return;
        }
    if (s->n_counts >= 10000) return; /* a bound on /metrics' size, whatever the gallery holds */
    srv_count *grown = realloc(s->counts, (size_t)(s->n_counts + 1) * sizeof *grown);
    if (!grown) return;
    s->counts = grown;
    snprintf(s->counts[s->n_counts].name, sizeof s->counts->name, "%s", name);
    s->counts[s->n_counts++].n = 1;
}

static void drop_crop(fid_server *s, srv_event *ev) {
    free(ev->crop);
    s->crop_bytes -= ev->crop_size;
    ev->crop = NULL, ev->crop_size = 0;
}

void srv_events_add(fid_server *s, srv_camera *cam, const fid_pipeline_result *r) {
    for (int i = 0; i < r->n_events; i++) {
        const fid_pipeline_event *e = &r->events[i];
        int named = e->kind == FID_TRACK_IDENTIFIED || e->kind == FID_TRACK_CHANGED;
        int stranger = named && !strcmp(e->track.name, "?");
        unsigned char *jpeg = NULL;
        size_t jpeg_size = 0;
        fid_image *face = NULL, *wide = NULL;
        if (named && r->image && (face = cut(r->image, e->track.box, 0.25f)))
            fid__image_encode_jpeg(face, 85, &jpeg, &jpeg_size);
        fid_image_free(face);
        /* a stranger's wider crop: what the detector needs to find the face again when it is named */
        if (stranger && r->image) wide = cut(r->image, e->track.box, 0.6f);
        pthread_mutex_lock(&s->ev_lock);
        uint64_t id = s->next_event++;
        if (id - s->first_event >= SRV_MAX_EVENTS) { /* the ring is full: the oldest goes */
            drop_crop(s, &s->events[s->first_event % SRV_MAX_EVENTS]);
            s->first_event++;
        }
        srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        ev->id = id;
        ev->e = *e;
        ev->rejected = ev->forgotten = 0;
        snprintf(ev->camera, sizeof ev->camera, "%s", cam->cfg.name);
        ev->e.source = ev->camera;
        ev->crop = jpeg, ev->crop_size = jpeg_size;
        s->crop_bytes += jpeg_size;
        /* a busy site within crops_hours could still fill the memory: the oldest crops go first */
        if (s->crop_cursor < s->first_event) s->crop_cursor = s->first_event;
        while (s->crop_bytes > SRV_CROP_BUDGET && s->crop_cursor < id)
            drop_crop(s, &s->events[s->crop_cursor++ % SRV_MAX_EVENTS]);
        if (named && !stranger) count_name(s, e->track.name);
        if (wide && s->n_queue < MAX_QUEUE) {
            srv_face *f = &s->queue[s->n_queue++];
            memset(f, 0, sizeof *f);
            f->wall = e->wall;
            f->track = e->track.id, f->frame = e->frame;
            for (int t = 0; t < r->n_tracks && f->n_with < (int)(sizeof f->with / sizeof *f->with); t++)
                if (r->tracks[t].id != e->track.id) f->with[f->n_with++] = r->tracks[t].id;
            snprintf(f->camera, sizeof f->camera, "%s", cam->cfg.name);
            f->image = wide;
            wide = NULL;
            pthread_cond_signal(&s->work);
        }
        srv_mqtt_event(s->mqtt, ev);
        srv_webhooks_event(s->webhooks, ev);
        pthread_mutex_unlock(&s->ev_lock);
        fid_image_free(wide);
    }
}

json_t *srv_event_json(const srv_event *ev) {
    json_t *j = fid__event_json(&ev->e);
    if (!j) return NULL;
    json_object_set_new(j, "id", json_integer((json_int_t)ev->id));
    if (ev->rejected) json_object_set_new(j, "rejected", json_true());
    if (ev->crop) {
        char url[64];
        snprintf(url, sizeof url, "/api/v1/events/%llu/crop.jpg", (unsigned long long)ev->id);
        json_object_set_new(j, "crop", json_string(url));
    }
    return j;
}

void srv_events_rename(fid_server *s, const char *from, const char *to) {
    pthread_mutex_lock(&s->ev_lock);
    for (uint64_t id = s->first_event; id < s->next_event; id++) {
        srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (!strcmp(ev->e.track.name, from)) snprintf(ev->e.track.name, sizeof ev->e.track.name, "%s", to);
    }
    /* a merge: `to` may be counted already, and one name keeps one count */
    int into = -1;
    for (int i = 0; i < s->n_counts; i++)
        if (!strcmp(s->counts[i].name, to)) into = i;
    for (int i = 0; i < s->n_counts; i++) {
        if (strcmp(s->counts[i].name, from)) continue;
        if (into >= 0) {
            s->counts[into].n += s->counts[i].n;
            s->counts[i] = s->counts[--s->n_counts];
            if (into == s->n_counts) into = i;
            break;
        }
        snprintf(s->counts[i].name, sizeof s->counts[i].name, "%s", to);
    }
    pthread_mutex_unlock(&s->ev_lock);
    srv_mqtt_forget(s->mqtt, from);
    srv_history_rename(s, from, to); /* what was written meanwhile under the old name */
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(((const fid_person_info *)a)->name, ((const fid_person_info *)b)->name);
}

/* Events naming someone the gallery no longer holds lose their crops (and the name its count and
 * presence): a delete through the API, `faceid remove`, a rename elsewhere or another node's
 * delete all end here, found from the gallery itself rather than from who did it. Skipped while
 * the gallery cannot be read. */
static void forget_departed(fid_server *s) {
    fid_status st;
    int n = 0;
    long renames = atomic_load(&s->renames_done);
    if (atomic_load(&s->renames_pending)) return; /* the next sweep, 250 ms on */
    pthread_mutex_lock(&s->lock);
    fid_person_info *people = fid__gallery_people_all(s->m.gallery, &n, &st);
    pthread_mutex_unlock(&s->lock);
    if (!people) return;
    if (n) qsort(people, (size_t)n, sizeof *people, cmp_name);
    char gone[16][208];
    int n_gone = 0;
    pthread_mutex_lock(&s->ev_lock);
    /* a rename began or ended since the list was read: its events may carry either name */
    if (atomic_load(&s->renames_pending) || atomic_load(&s->renames_done) != renames) {
        pthread_mutex_unlock(&s->ev_lock);
        free(people);
        return;
    }
    for (uint64_t id = s->first_event; id < s->next_event; id++) {
        srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        const char *name = ev->e.track.name;
        /* each event is forgotten once: the next sweeps (every 250 ms for 5 s) find nothing new
         * and neither tell MQTT nor touch the history again */
        if (ev->forgotten || !*name || !strcmp(name, "?")) continue;
        fid_person_info key;
        snprintf(key.name, sizeof key.name, "%s", name);
        if (n && bsearch(&key, people, (size_t)n, sizeof *people, cmp_name)) continue;
        int seen = 0;
        for (int k = 0; k < n_gone; k++)
            seen |= !strcmp(gone[k], name);
        if (!seen && n_gone < 16) snprintf(gone[n_gone++], sizeof gone[0], "%s", name);
        ev->forgotten = 1;
        if (ev->crop) drop_crop(s, ev);
    }
    for (int i = 0; i < s->n_counts; i++) {
        fid_person_info key;
        snprintf(key.name, sizeof key.name, "%s", s->counts[i].name);
        if (!n || !bsearch(&key, people, (size_t)n, sizeof *people, cmp_name)) s->counts[i--] = s->counts[--s->n_counts];
    }
    pthread_mutex_unlock(&s->ev_lock);
    for (int k = 0; k < n_gone; k++) {
        srv_mqtt_forget(s->mqtt, gone[k]);
        srv_history_forget(s, gone[k]);
    }
    free(people);
}

void srv_events_forget(fid_server *s, const char *name) {
    pthread_mutex_lock(&s->ev_lock);
    for (uint64_t id = s->first_event; id < s->next_event; id++) {
        srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (strcmp(ev->e.track.name, name)) continue;
        ev->forgotten = 1;
        drop_crop(s, ev);
    }
    for (int i = 0; i < s->n_counts; i++)
        if (!strcmp(s->counts[i].name, name)) s->counts[i] = s->counts[--s->n_counts];
    pthread_mutex_unlock(&s->ev_lock);
    srv_mqtt_forget(s->mqtt, name);
    srv_history_forget(s, name);
}

/* Describes a stranger's crop with the request models and judges it by the photo gates. */
static int describe(fid_server *s, srv_face *f) {
    fid_status st;
    fid_enroll_report rep;
    int dim = fid_embedder_dim(s->m.embedder), ok = 0;
    pthread_mutex_lock(&s->lock);
    fid_enrollment *e = fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st);
    /* forced, so the descriptor is computed even when a gate refuses: the gate is shown, and
     * naming the group later leaves such a face out unless the user insists */
    if (e && fid_enrollment_add_photo(e, f->image, "camera", 1, &rep) == FID_OK && fid_enrollment_count(e) == 1 &&
        (f->descriptor = malloc((size_t)dim * sizeof *f->descriptor)) &&
        fid_enrollment_sample(e, 0, f->descriptor, NULL, NULL, NULL, NULL) == FID_OK) {
        f->size = (int)fminf(rep.box.width, rep.box.height);
        f->sharpness = rep.sharpness, f->turn = rep.turn, f->score = rep.score;
        f->gate = rep.forced ? rep.gate : "";
        /* a face the photo gates refuse (blurred, turned away, a doubtful detection: the
         * background object seen eleven times) joins no group */
        ok = !*f->gate;
        /* named by the gallery as it is now: the camera called them a stranger just before they
         * were enrolled (its identifier reloads every second) */
        const fid_matcher *m = srv_current_matcher(s);
        fid_match match;
        if (m && fid_matcher_match(m, f->descriptor, &match) == FID_OK && match.known) ok = 0;
        if (m) atomic_store(&s->group_threshold, fid_matcher_threshold(m));
    }
    pthread_mutex_unlock(&s->lock);
    fid_enrollment_free(e);
    if (ok) ok = fid__image_encode_jpeg(f->image, 85, &f->jpeg, &f->jpeg_size) == FID_OK;
    return ok ? 0 : -1;
}

static void centroid(srv_group *g, int dim) {
    for (int k = 0; k < dim; k++) {
        double sum = 0;
        for (int i = 0; i < g->n; i++)
            sum += g->faces[i].descriptor[k];
        g->centroid[k] = (float)(sum / g->n);
    }
    float *x = malloc((size_t)(g->n ? g->n : 1) * dim * sizeof *x);
    int members[SRV_GROUP_FACES];
    g->spread_mean = g->spread_max = 0;
    if (!x) return;
    for (int i = 0; i < g->n; i++)
        memcpy(x + (size_t)i * dim, g->faces[i].descriptor, (size_t)dim * sizeof *x), members[i] = i;
    fid__cluster_spread(x, members, g->n, dim, &g->spread_mean, &g->spread_max);
    free(x);
}

static int has(const srv_face *f, int track) {
    for (int i = 0; i < f->n_with; i++)
        if (f->with[i] == track) return 1;
    return 0;
}

/* Two faces that cannot be one person: another track of the same camera in the same frame, or
 * a track that was on that camera beside the other's. */
static int cannot_link(void *user, int a, int b) {
    srv_face **faces = user;
    const srv_face *x = faces[a], *y = faces[b];
    if (strcmp(x->camera, y->camera) || x->track == y->track) return 0;
    return x->frame == y->frame || has(x, y->track) || has(y, x->track);
}

static int sharper_first(const void *a, const void *b) {
    float x = (*(srv_face *const *)a)->sharpness, y = (*(srv_face *const *)b)->sharpness;
    return (x < y) - (x > y);
}

/* Every stranger's face, f among them, clustered again (average linkage at the 1:N threshold,
 * the same-frame rule), so groups split and merge as they grow instead of keeping what the first
 * faces made of them. A new group keeps the id of the old group most of its faces come from (each
 * id once), so a group the user is looking at keeps its id. Under ev_lock. */
static void regroup(fid_server *s, srv_face *f) {
    int dim = fid_embedder_dim(s->m.embedder), n = 1, cap = s->p.max_unknown_groups > 0 ? s->p.max_unknown_groups : 100;
    for (int i = 0; i < s->n_groups; i++)
        n += s->groups[i].n;
    srv_face **faces = malloc((size_t)n * sizeof *faces);
    int *from = malloc((size_t)n * sizeof *from), *label = malloc((size_t)n * sizeof *label);
    float *x = malloc((size_t)n * dim * sizeof *x);
    srv_group *old = malloc((size_t)(s->n_groups ? s->n_groups : 1) * sizeof *old);
    int groups = -1, n_old = s->n_groups;
    if (faces && from && label && x && old) {
        n = 0;
        for (int i = 0; i < n_old; i++)
            for (int k = 0; k < s->groups[i].n; k++)
                faces[n] = &s->groups[i].faces[k], from[n++] = i;
        faces[n] = f, from[n++] = -1;
        for (int i = 0; i < n; i++)
            memcpy(x + (size_t)i * dim, faces[i]->descriptor, (size_t)dim * sizeof *x);
        float t = atomic_load(&s->group_threshold);
        if (!(t > 0)) t = fid_embedder_threshold(s->m.embedder);
        groups = fid__cluster(x, n, dim, t, cannot_link, faces, label);
    }
    if (groups < 0) { /* out of memory: the face is dropped, the groups stay */
        face_free(f);
        free(faces), free(from), free(label), free(x), free(old);
        return;
    }
    memcpy(old, s->groups, (size_t)n_old * sizeof *old);
    int *taken = calloc((size_t)(n_old ? n_old : 1), sizeof *taken);
    /* count[g * n_old + o]: faces of new group g that were in old group o */
    int *count = calloc((size_t)groups * (n_old ? n_old : 1), sizeof *count);
    srv_group *made = calloc((size_t)groups, sizeof *made);
    srv_face **list = malloc((size_t)n * sizeof *list);
    if (!taken || !count || !made || !list) {
        face_free(f);
        free(faces), free(from), free(label), free(x), free(old), free(taken), free(count), free(made), free(list);
        return;
    }
    for (int i = 0; i < n; i++)
        if (from[i] >= 0) count[label[i] * n_old + from[i]]++;
    /* the faces are moved from s->groups and f into made; s->groups is overwritten below */
    for (int g = 0; g < groups; g++) {
        srv_group *ng = &made[g];
        const int *c = count + (size_t)g * n_old;
        int best = -1; /* the old group most of its faces come from */
        for (int o = 0; o < n_old; o++)
            if (!taken[o] && c[o] > 0 && (best < 0 || c[o] > c[best])) best = o;
        if (best >= 0) {
            taken[best] = 1;
            ng->id = old[best].id, ng->first = old[best].first, ng->last = old[best].last;
            ng->centroid = old[best].centroid, old[best].centroid = NULL;
        } else {
            ng->id = s->next_group++, ng->first = INFINITY;
        }
        int nl = 0;
        for (int i = 0; i < n; i++)
            if (label[i] == g) list[nl++] = faces[i];
        qsort(list, (size_t)nl, sizeof *list, sharper_first);
        for (int i = 0; i < nl; i++) {
            ng->first = fmin(ng->first, list[i]->wall), ng->last = fmax(ng->last, list[i]->wall);
            if (ng->n < SRV_GROUP_FACES)
                ng->faces[ng->n++] = *list[i];
            else
                face_free(list[i]); /* a full group keeps its sharpest faces */
        }
        /* sightings: the old groups' in proportion to the faces that came along, and f's */
        double sightings = 0;
        for (int o = 0; o < n_old; o++)
            if (c[o] && old[o].n) sightings += (double)old[o].sightings * c[o] / old[o].n;
        ng->sightings = (int)lround(sightings) + (label[n - 1] == g);
        if (ng->sightings < 1) ng->sightings = 1;
        if (!ng->centroid) ng->centroid = malloc((size_t)dim * sizeof *ng->centroid);
    }
    for (int o = 0; o < n_old; o++)
        free(old[o].centroid);
    /* over the cap: the groups seen longest ago go */
    while (groups > cap) {
        int oldest = 0;
        for (int g = 1; g < groups; g++)
            if (made[g].last < made[oldest].last) oldest = g;
        group_free(&made[oldest]);
        made[oldest] = made[--groups];
    }
    s->n_groups = 0;
    for (int g = 0; g < groups; g++) {
        if (!made[g].centroid) {
            group_free(&made[g]);
            continue;
        }
        s->groups[s->n_groups] = made[g];
        centroid(&s->groups[s->n_groups++], dim);
    }
    memset(f, 0, sizeof *f);
    free(faces), free(from), free(label), free(x), free(old), free(taken), free(count), free(made), free(list);
}

/* A stranger's described face into "who is this?". The same look again (a looping clip, someone
 * standing still) is one face, the sharper kept: a group shows how the person looks, not twelve
 * copies of one frame. Otherwise every face is clustered again with it. Under ev_lock. */
static void group_face(fid_server *s, srv_face *f) {
    int dim = fid_embedder_dim(s->m.embedder);
    float same = fid_embedder_threshold(s->m.embedder) * 0.15f;
    f->id = s->next_face++;
    for (int g = 0; g < s->n_groups; g++)
        for (int i = 0; i < s->groups[g].n; i++) {
            srv_face *o = &s->groups[g].faces[i];
            if (fid_embedder_distance(s->m.embedder, f->descriptor, o->descriptor) >= same || cannot_link((srv_face *[]){o, f}, 0, 1))
                continue;
            s->groups[g].sightings++;
            s->groups[g].last = fmax(s->groups[g].last, f->wall);
            if (f->sharpness > o->sharpness) {
                face_free(o);
                *o = *f;
                memset(f, 0, sizeof *f);
                centroid(&s->groups[g], dim);
            } else {
                face_free(f);
            }
            return;
        }
    regroup(s, f);
}

/* Drops crops, faces and events past their retention. Under ev_lock. */
static void expire(fid_server *s) {
    double now = fid__wall_s(), crops = atomic_load(&s->crops_hours) * 3600,
           events = atomic_load(&s->events_hours) * 3600;
    while (s->first_event < s->next_event && now - s->events[s->first_event % SRV_MAX_EVENTS].e.wall > events) {
        srv_event *ev = &s->events[s->first_event % SRV_MAX_EVENTS];
        drop_crop(s, ev);
        memset(ev, 0, sizeof *ev);
        s->first_event++;
    }
    /* events arrive in time order: crops expire from the oldest on, so a cursor (shared with the
     * memory budget) stops at the first one still kept instead of a pass over the whole ring */
    if (s->crop_cursor < s->first_event) s->crop_cursor = s->first_event;
    while (s->crop_cursor < s->next_event && now - s->events[s->crop_cursor % SRV_MAX_EVENTS].e.wall > crops)
        drop_crop(s, &s->events[s->crop_cursor++ % SRV_MAX_EVENTS]);
    for (int i = 0; i < s->n_groups; i++) {
        srv_group *g = &s->groups[i];
        int kept = 0;
        for (int k = 0; k < g->n; k++)
            if (now - g->faces[k].wall > crops)
                face_free(&g->faces[k]);
            else
                g->faces[kept++] = g->faces[k];
        g->n = kept;
        if (kept == 0) {
            group_free(g);
            s->groups[i--] = s->groups[--s->n_groups];
        } else {
            centroid(g, fid_embedder_dim(s->m.embedder));
        }
    }
}

/* Strangers who are strangers no more: after the gallery changed (an upload, another process, a
 * group named), groups whose faces the gallery now names leave "who is this?". */
static void drop_known(fid_server *s) {
    pthread_mutex_lock(&s->lock);
    const fid_matcher *m = srv_current_matcher(s);
    uint64_t v = s->matcher_version;
    int changed = m && v != s->groups_checked;
    s->groups_checked = v;
    pthread_mutex_unlock(&s->lock);
    /* a camera's identifier may name a removed person for a moment after the change: the sweep
     * goes on for a few seconds */
    double now = fid__monotonic_s();
    if (changed) s->sweep_until = now + 5;
    if (now < s->sweep_until) forget_departed(s);
    if (!changed) return;
    if (s->mqtt) { /* Home Assistant's sensors follow the gallery: new people appear, removed ones go */
        fid_status st;
        int n = 0;
        pthread_mutex_lock(&s->lock);
        fid_person_info *people = fid__gallery_people_all(s->m.gallery, &n, &st);
        pthread_mutex_unlock(&s->lock);
        if (people) srv_mqtt_sync_people(s->mqtt, people, n);
        free(people);
    }
    pthread_mutex_lock(&s->ev_lock);
    pthread_mutex_lock(&s->lock); /* always ev_lock first, then lock: one order, no deadlock */
    m = srv_current_matcher(s);
    for (int i = 0; m && i < s->n_groups; i++) {
        int known = 0;
        for (int k = 0; k < s->groups[i].n; k++) {
            fid_match match;
            if (fid_matcher_match(m, s->groups[i].faces[k].descriptor, &match) == FID_OK && match.known) known++;
        }
        if (known * 2 > s->groups[i].n) { /* most of its faces */
            group_free(&s->groups[i]);
            s->groups[i--] = s->groups[--s->n_groups];
        }
    }
    pthread_mutex_unlock(&s->lock);
    pthread_mutex_unlock(&s->ev_lock);
}

void *srv_worker(void *arg) {
    fid_server *s = arg;
    pthread_mutex_lock(&s->ev_lock);
    while (!atomic_load(&s->stopping)) {
        if (s->n_queue) {
            srv_face f = s->queue[0];
            memmove(s->queue, s->queue + 1, (size_t)--s->n_queue * sizeof *s->queue);
            pthread_mutex_unlock(&s->ev_lock);
            int ok = describe(s, &f) == 0;
            pthread_mutex_lock(&s->ev_lock);
            if (ok)
                group_face(s, &f);
            else
                face_free(&f);
            continue;
        }
        expire(s);
        pthread_mutex_unlock(&s->ev_lock);
        drop_known(s);
        pthread_mutex_lock(&s->ev_lock);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
        pthread_cond_timedwait(&s->work, &s->ev_lock, &until);
    }
    pthread_mutex_unlock(&s->ev_lock);
    return NULL;
}
