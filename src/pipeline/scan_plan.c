#include "pipeline/scan_plan.h"

#include <stdlib.h>
#include <string.h>

#include "image/motion.h"
#include "util/box.h"

/* Tile passes a frame: the round robin's (every tile within 30 frames, 3 a frame at 1080p, one at
 * 640x480). Costs at 1080p on 2 cores (bench/live_bench): a BlazeFace pass ~5 ms on one core;
 * the whole frame's pass, 3 tiles and a crowd's mosaics were ~90% of the frame's detection. */
enum { ROUND = 30 };
/* Still tiles are scanned again after this many frames (10 s at 30 fps): a face that came without
 * a change over the noise threshold, or that the detector missed in its first look and that has
 * not moved since. At 1080p that costs 81 passes in 10 s, 0.27 a frame (~1.4 ms of a core), where
 * every 4 rounds (3.6 s) cost 0.75 a frame. */
enum { STILL_RESCAN_FRAMES = 300 };
/* A carried detection is at most this old (1 s at 30 fps): keypoints are refreshed at least
 * that often even where the change stays under the threshold. */
enum { HOLD_FRAMES = 30 };
/* A face's surroundings: its box grown by a quarter on each side. */
static const float AROUND = 0.25f;

typedef struct held {
    fid_detection det;
    int64_t from;
    int carried; /* by the frame being planned */
} held;

typedef struct refusal {
    fid_box box;
    int64_t frame;
} refusal;

struct scan_planner {
    fid__motion *motion;
    int width, height, n_tiles, per_frame;
    fid_box tiles[FID__MAX_TILES]; /* in frame pixels */
    int64_t scanned[FID__MAX_TILES];
    held held[FID__MAX_FACES];
    int n_held;
    refusal refused[2 * FID__MAX_REFUSED];
    int n_refusals;
    int64_t count_tiles, count_carried, count_mosaic;
};

scan_planner *scan_planner_new(void) {
    scan_planner *sp = calloc(1, sizeof *sp);
    if (sp && !(sp->motion = fid__motion_new())) {
        free(sp);
        return NULL;
    }
    return sp;
}

void scan_planner_free(scan_planner *sp) {
    if (!sp) return;
    fid__motion_free(sp->motion);
    free(sp);
}

static fid_box around(fid_box b) {
    return (fid_box){b.x - AROUND * b.width, b.y - AROUND * b.height, b.width * (1 + 2 * AROUND),
                     b.height * (1 + 2 * AROUND)};
}

/* The detected area's tiles, in frame pixels; a new size starts every tile unscanned. */
static void layout(scan_planner *sp, const fid_detector *det, int W, int H, fid_box roi) {
    int w = roi.width > 0 ? (int)roi.width : W, h = roi.width > 0 ? (int)roi.height : H;
    if (w == sp->width && h == sp->height) return;
    sp->width = w, sp->height = h;
    int n = fid_detector_tiles(det, w, h, sp->tiles, FID__MAX_TILES);
    sp->n_tiles = n < FID__MAX_TILES ? n : FID__MAX_TILES;
    float x0 = roi.width > 0 ? (float)(int)roi.x : 0, y0 = roi.width > 0 ? (float)(int)roi.y : 0;
    for (int t = 0; t < sp->n_tiles; t++)
        sp->tiles[t].x += x0, sp->tiles[t].y += y0, sp->scanned[t] = INT64_MIN / 2;
    sp->per_frame = (n + ROUND - 1) / ROUND;
    sp->n_held = sp->n_refusals = 0;
}

static void choose_tiles(scan_planner *sp, int64_t index, int moving_map, scan_request *out) {
    out->n_tiles = sp->n_tiles;
    /* per tile: 2 changed since its last scan, 1 still but overdue, 0 not due (looked up once) */
    for (int t = 0; t < sp->n_tiles; t++) {
        int64_t since = moving_map ? fid__motion_since(sp->motion, sp->tiles[t]) : INT64_MAX;
        out->tiles[t] = since > sp->scanned[t] ? 2 : index - sp->scanned[t] >= STILL_RESCAN_FRAMES;
    }
    int picked[FID__MAX_TILES], n = 0;
    while (n < sp->per_frame) { /* the oldest-scanned changed tile, else the oldest still tile overdue */
        int best = -1;
        for (int t = 0; t < sp->n_tiles; t++)
            if (out->tiles[t] && (best < 0 || out->tiles[t] > out->tiles[best] ||
                                  (out->tiles[t] == out->tiles[best] && sp->scanned[t] < sp->scanned[best])))
                best = t;
        if (best < 0) break;
        out->tiles[best] = 0, picked[n++] = best;
    }
    memset(out->tiles, 0, (size_t)sp->n_tiles);
    for (int i = 0; i < n; i++)
        out->tiles[picked[i]] = 1, sp->scanned[picked[i]] = index, sp->count_tiles++;
}

int scan_planner_plan(scan_planner *sp, const fid_detector *det, const fid_image *frame, fid_box roi, int64_t index,
                      const fid_box *follow, int n_follow, scan_request *out) {
    int W = fid_image_width(frame), H = fid_image_height(frame);
    layout(sp, det, W, H, roi);
    int map = fid__motion_update(sp->motion, frame, index) >= 0;
    out->n_small = out->n_carry = out->n_refused = 0;
    out->n_follow = n_follow < FID__MAX_FACES ? n_follow : FID__MAX_FACES;
    memcpy(out->follow, follow, (size_t)out->n_follow * sizeof *follow);
    choose_tiles(sp, index, map, out);
    for (int i = 0; i < sp->n_held; i++)
        sp->held[i].carried = 0;
    /* followed faces: carried where still, else in the mosaic when too small for the whole pass */
    for (int k = 0; k < out->n_follow; k++) {
        fid_box f = out->follow[k];
        if (!fid__detector_needs_mosaic(det, sp->width, sp->height, f)) continue; /* the whole pass sees it */
        held *h = NULL; /* each detection is carried once: two tracks on one face must not both live on it */
        for (int i = 0; i < sp->n_held && !h; i++)
            if (!sp->held[i].carried && fid__box_iou(sp->held[i].det.box, f) > 0.6f) h = &sp->held[i];
        if (map && h && index - h->from <= HOLD_FRAMES &&
            fid__motion_since(sp->motion, around(h->det.box)) <= h->from) {
            h->carried = 1;
            out->carry[out->n_carry] = h->det, out->carry_from[out->n_carry++] = h->from;
            sp->count_carried++;
        } else {
            out->small[out->n_small++] = f;
            sp->count_mosaic++;
        }
    }
    /* refusals where nothing changed since stand; the others are forgotten */
    int kept = 0;
    for (int i = 0; i < sp->n_refusals; i++) {
        refusal r = sp->refused[i];
        if (!map || fid__motion_since(sp->motion, around(r.box)) > r.frame) continue;
        sp->refused[kept++] = r;
        if (out->n_refused < FID__MAX_REFUSED) out->refused[out->n_refused++] = r.box;
    }
    sp->n_refusals = kept;
    return map ? 0 : -1;
}

void scan_planner_learn(scan_planner *sp, const detected_frame *d, const fid_track_info *tracks, int n_tracks) {
    if (d->n_faces < 0) return;
    sp->n_held = 0;
    for (int t = 0; t < n_tracks && sp->n_held < FID__MAX_FACES; t++)
        for (int i = 0; i < d->n_faces; i++)
            if (!memcmp(&d->faces[i].box, &tracks[t].box, sizeof tracks[t].box)) {
                sp->held[sp->n_held++] = (held){.det = d->faces[i], .from = d->detected_in[i]};
                break;
            }
    for (int i = 0; i < d->n_refused; i++) {
        int k = 0;
        while (k < sp->n_refusals && fid__box_iou(sp->refused[k].box, d->refused[i]) <= 0.5f)
            k++;
        if (k == sp->n_refusals) {
            if (sp->n_refusals == 2 * FID__MAX_REFUSED) /* full: the oldest goes */
                memmove(sp->refused, sp->refused + 1, (size_t)--sp->n_refusals * sizeof *sp->refused);
            k = sp->n_refusals++;
        }
        sp->refused[k] = (refusal){d->refused[i], d->index};
    }
}

void scan_planner_counts(const scan_planner *sp, int64_t *tiles, int64_t *carried, int64_t *mosaic_faces) {
    if (tiles) *tiles = sp ? sp->count_tiles : 0;
    if (carried) *carried = sp ? sp->count_carried : 0;
    if (mosaic_faces) *mosaic_faces = sp ? sp->count_mosaic : 0;
}
