/* Where a video frame's detection is spent, from where the picture moved (image/motion.h).
 *
 * A 1080p frame has 81 BlazeFace tiles and a crowd needs a mosaic pass per 4 small followed
 * faces; on 2 cores that is more than a frame's time. Like an NVR, the planner spends it where
 * something changes:
 *  - tiles: each frame a budget of tile passes (the old round robin's), given first to tiles
 *    where something changed since their last scan, oldest first, then to still tiles not
 *    scanned for STILL_RESCAN_FRAMES (10 s at 30 fps). A new face that moves in is scanned within
 *    ceil(changed tiles / budget) frames (tests/motion_scene_test.py: 8 frames after it entered);
 *    one that appears without a change over the noise threshold within 10 s.
 *  - followed small faces: a face whose surroundings did not change since it was last detected
 *    (and not longer than HOLD_FRAMES ago) keeps that detection, carried over to this frame,
 *    instead of a mosaic cell; the rest stay in the mosaic every frame.
 *  - the second look at uncertain finds: a box it refused where nothing changed since is refused
 *    again without a pass.
 * The whole frame is scanned every frame. All decisions are made in frame order by the thread
 * that submits frames, from results collected in order, so a file gives the same answers on
 * every run. */
#ifndef FID_PIPELINE_SCAN_PLAN_H
#define FID_PIPELINE_SCAN_PLAN_H

#include <stdint.h>

#include "face/detector.h"
#include "pipeline/detect_pool.h"

typedef struct scan_planner scan_planner;

scan_planner *scan_planner_new(void);
void scan_planner_free(scan_planner *sp);

/* Plans the detection of frame `index` (the whole frame; `roi` its detected part, width 0 for all
 * of it) for detector `det`; `follow` are the tracks' predicted boxes. Fills *out. -1 when out of
 * memory for the motion map (then everything is scanned as before: the round robin). */
int scan_planner_plan(scan_planner *sp, const fid_detector *det, const fid_image *frame, fid_box roi, int64_t index,
                      const fid_box *follow, int n_follow, scan_request *out);

/* Learns from a collected frame: the detection each track now holds (`tracks`: the tracks seen in
 * it) and what the second look refused. */
void scan_planner_learn(scan_planner *sp, const detected_frame *d, const fid_track_info *tracks, int n_tracks);

/* For the bench and tests: tile passes, carried faces and faces put in mosaics so far. */
void scan_planner_counts(const scan_planner *sp, int64_t *tiles, int64_t *carried, int64_t *mosaic_faces);

#endif
