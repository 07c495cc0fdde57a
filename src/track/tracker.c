/*
 * Face tracks across frames: detections join the track they overlap most (greedy by IoU), new
 * ones open tracks, tracks unseen for a while close. A track asks for a descriptor when it is new
 * and every recheck_frames after; its label is the majority of its last votes, so one bad
 * frame does not flip a name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faceid.h"
#include "util/box.h"
#include "util/error.h"

#define MAX_VOTES 16

typedef struct track {
    fid_track_info info;
    float vx, vy, vh; /* per frame: motion of the box centre and change of its height, smoothed */
    int64_t identifications; /* votes ever cast (n_votes stops at the window's size) */
    int last_described, misses;
    char votes[MAX_VOTES][208];
    float vote_distance[MAX_VOTES];
    int n_votes, next_vote;
} track;

struct fid_tracker {
    fid_tracker_params p;
    track *tracks;
    int n, cap, next_id;
};

fid_tracker_params fid_tracker_default_params(void) {
    fid_tracker_params p = {.min_iou = 0.3f, .max_misses = 10, .recheck_frames = 15, .votes = 5};
    return p;
}

fid_tracker *fid_tracker_create(const fid_tracker_params *params, fid_status *status) {
    fid_tracker *t = calloc(1, sizeof *t);
    if (!t) {
        fid__set_status(status, fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a tracker"));
        return NULL;
    }
    t->p = params ? *params : fid_tracker_default_params();
    if (t->p.votes < 1) t->p.votes = 1;
    if (t->p.votes > MAX_VOTES) t->p.votes = MAX_VOTES;
    t->next_id = 1;
    fid__set_status(status, FID_OK);
    return t;
}

void fid_tracker_free(fid_tracker *t) {
    if (!t) return;
    free(t->tracks);
    free(t);
}


/* Where the track's face should be in `frame`, moving on as it moved (constant velocity). */
static fid_box predicted(const track *tr, int64_t frame) {
    float dt = (float)(frame - tr->info.last_seen);
    fid_box b = tr->info.box;
    if (dt <= 0) return b;
    float h = b.height + tr->vh * dt, w = h > 1 && b.height > 0 ? b.width * h / b.height : b.width;
    float cx = b.x + b.width / 2 + tr->vx * dt, cy = b.y + b.height / 2 + tr->vy * dt;
    return h > 1 ? (fid_box){cx - w / 2, cy - h / 2, w, h} : b;
}

static void emit(fid_track_event *events, int capacity, int *n, fid_track_event_kind kind, const track *tr,
                 int64_t frame) {
    if (*n < capacity) {
        events[*n].kind = kind;
        events[*n].frame = frame;
        events[*n].track = tr->info;
    }
    (*n)++;
}

int fid_tracker_end(fid_tracker *t, int64_t frame, fid_track_event *events, int capacity) {
    if (!t) return -1;
    int n_events = 0;
    for (int i = 0; i < t->n; i++)
        emit(events, capacity, &n_events, FID_TRACK_LEFT, &t->tracks[i], frame);
    t->n = 0;
    return n_events;
}

int fid_tracker_update(fid_tracker *t, const fid_detection *dets, int n_dets, int64_t frame, fid_track_event *events,
                       int capacity) {
    int n_events = 0;
    char *used = calloc((size_t)(n_dets > 0 ? n_dets : 1), 1);
    if (!t || !used) {
        free(used);
        return -1;
    }
    /* greedy: repeatedly take the best remaining (track, detection) pair */
    char *matched = calloc((size_t)(t->n > 0 ? t->n : 1), 1);
    for (;;) {
        float best = t->p.min_iou;
        int bt = -1, bd = -1;
        for (int i = 0; i < t->n; i++) {
            if (matched[i]) continue;
            for (int d = 0; d < n_dets; d++) {
                if (used[d]) continue;
                float v = fid__box_iou(predicted(&t->tracks[i], frame), dets[d].box);
                if (v > best) best = v, bt = i, bd = d;
            }
        }
        if (bt < 0) break;
        matched[bt] = used[bd] = 1;
        track *tr = &t->tracks[bt];
        float dt = (float)(frame - tr->info.last_seen);
        if (dt > 0) {
            fid_box o = tr->info.box, b = dets[bd].box;
            tr->vx = 0.5f * tr->vx + 0.5f * ((b.x + b.width / 2) - (o.x + o.width / 2)) / dt;
            tr->vy = 0.5f * tr->vy + 0.5f * ((b.y + b.height / 2) - (o.y + o.height / 2)) / dt;
            tr->vh = 0.5f * tr->vh + 0.5f * (b.height - o.height) / dt;
        }
        tr->info.box = dets[bd].box;
        tr->info.score = dets[bd].score;
        tr->info.last_seen = frame;
        tr->info.hits++;
        tr->misses = 0;
    }
    /* unmatched tracks age; old ones leave */
    int kept = 0;
    for (int i = 0; i < t->n; i++) {
        track *tr = &t->tracks[i];
        if (!matched[i] && ++tr->misses > t->p.max_misses) {
            emit(events, capacity, &n_events, FID_TRACK_LEFT, tr, frame);
            continue;
        }
        t->tracks[kept++] = *tr;
    }
    t->n = kept;
    free(matched);
    /* new detections open tracks */
    for (int d = 0; d < n_dets; d++) {
        if (used[d]) continue;
        if (t->n == t->cap) {
            int cap = t->cap ? 2 * t->cap : 16;
            track *grown = realloc(t->tracks, (size_t)cap * sizeof *grown);
            if (!grown) break;
            t->tracks = grown;
            t->cap = cap;
        }
        track *tr = &t->tracks[t->n++];
        memset(tr, 0, sizeof *tr);
        tr->info.id = t->next_id++;
        tr->info.box = dets[d].box;
        tr->info.score = dets[d].score;
        tr->info.first_seen = tr->info.last_seen = frame;
        tr->info.hits = 1;
        tr->info.distance = INFINITY;
        snprintf(tr->info.name, sizeof tr->info.name, "?");
        tr->last_described = -1000000;
        emit(events, capacity, &n_events, FID_TRACK_APPEARED, tr, frame);
    }
    free(used);
    return n_events;
}

int fid_tracker_tracks(const fid_tracker *t, fid_track_info *out, int capacity, int64_t frame, int *needs_descriptor) {
    int n = 0;
    for (int i = 0; t && i < t->n; i++) {
        const track *tr = &t->tracks[i];
        if (tr->info.last_seen != frame) continue; /* only tracks visible in this frame */
        if (n < capacity) {
            out[n] = tr->info;
            if (needs_descriptor)
                needs_descriptor[n] = tr->n_votes == 0 ? 2 : frame - tr->last_described >= t->p.recheck_frames;
        }
        n++;
    }
    return n;
}

int fid_tracker_active(const fid_tracker *t, int64_t frame, fid_box *boxes, int capacity) {
    int n = 0;
    for (int i = 0; t && i < t->n; i++, n++)
        if (n < capacity) boxes[n] = predicted(&t->tracks[i], frame);
    return n;
}

int fid_tracker_vote(fid_tracker *t, int track_id, const char *name, float distance, int64_t frame,
                     fid_track_event *event) {
    track *tr = NULL;
    for (int i = 0; t && i < t->n && !tr; i++)
        if (t->tracks[i].info.id == track_id) tr = &t->tracks[i];
    if (!tr || !name) return -1;
    tr->last_described = (int)frame;
    snprintf(tr->votes[tr->next_vote], sizeof tr->votes[0], "%s", name);
    tr->vote_distance[tr->next_vote] = distance;
    tr->next_vote = (tr->next_vote + 1) % t->p.votes;
    if (tr->n_votes < t->p.votes) tr->n_votes++;
    /* majority of the window; a tie keeps the current label */
    int best = -1, best_count = 0;
    for (int i = 0; i < tr->n_votes; i++) {
        int c = 0;
        for (int j = 0; j < tr->n_votes; j++)
            c += !strcmp(tr->votes[i], tr->votes[j]);
        if (c > best_count || (c == best_count && !strcmp(tr->votes[i], tr->info.name))) best = i, best_count = c;
    }
    char previous[208];
    snprintf(previous, sizeof previous, "%s", tr->info.name);
    snprintf(tr->info.name, sizeof tr->info.name, "%s", tr->votes[best]);
    tr->info.distance = distance;
    int changed = strcmp(previous, tr->info.name) != 0, first = ++tr->identifications == 1;
    if (event && (changed || first)) {
        event->kind = first ? FID_TRACK_IDENTIFIED : FID_TRACK_CHANGED;
        event->frame = frame;
        event->track = tr->info;
        return 1;
    }
    return 0;
}

int fid_tracker_unname(fid_tracker *t, int track_id, int64_t frame, fid_track_event *event) {
    track *tr = NULL;
    for (int i = 0; t && i < t->n && !tr; i++)
        if (t->tracks[i].info.id == track_id) tr = &t->tracks[i];
    if (!tr) return -1;
    int named = strcmp(tr->info.name, "?") != 0;
    tr->n_votes = 0, tr->next_vote = 0;
    snprintf(tr->info.name, sizeof tr->info.name, "?");
    tr->info.distance = INFINITY;
    tr->last_described = -1000000; /* due for a check at once */
    if (!named) return 0;
    if (event) {
        event->kind = FID_TRACK_CHANGED;
        event->frame = frame;
        event->track = tr->info;
    }
    return 1;
}

int fid_tracker_split(fid_tracker *t, int track_id, int64_t frame, fid_track_event events[2]) {
    for (int i = 0; t && i < t->n; i++) {
        track *tr = &t->tracks[i];
        if (tr->info.id != track_id) continue;
        events[0].kind = FID_TRACK_LEFT;
        events[0].frame = frame;
        events[0].track = tr->info;
        /* same place, new person: a fresh track with no votes */
        fid_box box = tr->info.box;
        float score = tr->info.score;
        memset(tr, 0, sizeof *tr);
        tr->info.id = t->next_id++;
        tr->info.box = box;
        tr->info.score = score;
        tr->info.first_seen = tr->info.last_seen = frame;
        tr->info.hits = 1;
        tr->info.distance = INFINITY;
        snprintf(tr->info.name, sizeof tr->info.name, "?");
        tr->last_described = -1000000;
        events[1].kind = FID_TRACK_APPEARED;
        events[1].frame = frame;
        events[1].track = tr->info;
        return tr->info.id;
    }
    return -1;
}
