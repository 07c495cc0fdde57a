/* Tracker: stable ids for moving faces, appear/leave events, votes that resist one-frame flips. */
#include <string.h>

#include "check.h"
#include "faceid.h"

int main(void) {
    fid_status st;
    fid_tracker_params p = fid_tracker_default_params();
    fid_tracker *t = fid_tracker_create(&p, &st);
    fid_track_event ev[16];
    int ids[2] = {0, 0}, appeared = 0, left = 0;
    for (int f = 0; f < 40; f++) {
        fid_detection d[2] = {{.box = {100 + 3 * f, 100, 80, 100}, .score = 0.9f},
                              {.box = {400 - 2 * f, 120 + f, 70, 90}, .score = 0.8f}};
        int n = f < 20 ? 2 : 1; /* the second face leaves at frame 20 */
        if (f == 7) n = 0;      /* one frame without detections: tracks must survive it */
        int k = fid_tracker_update(t, d, n, f, ev, 16);
        for (int i = 0; i < k; i++) {
            if (ev[i].kind == FID_TRACK_APPEARED) appeared++;
            if (ev[i].kind == FID_TRACK_LEFT) {
                left++;
                CHECK(ev[i].track.id == ids[1] && f == 20 + p.max_misses, "track %d left at frame %d", ev[i].track.id,
                      f);
            }
        }
        fid_track_info tr[4];
        int need[4];
        int m = fid_tracker_tracks(t, tr, 4, f, need);
        if (f == 0) {
            CHECK(m == 2 && need[0] && need[1], "new tracks want descriptors");
            ids[0] = tr[0].box.x < 200 ? tr[0].id : tr[1].id;
            ids[1] = tr[0].box.x < 200 ? tr[1].id : tr[0].id;
        } else if (f != 7 && f < 20) {
            int ok = m == 2;
            for (int i = 0; i < m; i++)
                ok &= (tr[i].box.x < 300 ? tr[i].id == ids[0] : tr[i].id == ids[1]) || f > 15;
            CHECK(ok, "frame %d: ids not stable", f);
        }
    }
    CHECK(appeared == 2, "%d tracks appeared, expected 2 (ids must survive a frame without detections)", appeared);
    CHECK(left == 1, "%d tracks left", left);

    /* votes: a b a a -> stays a; then b b b -> changes to b */
    fid_track_event e;
    CHECK(fid_tracker_vote(t, ids[0], "alice", 0.2f, 40, &e) == 1 && e.kind == FID_TRACK_IDENTIFIED, "first label");
    CHECK(fid_tracker_vote(t, ids[0], "bob", 0.4f, 41, &e) == 0, "one dissenting vote flipped the label");
    fid_tracker_vote(t, ids[0], "alice", 0.2f, 42, &e);
    fid_tracker_vote(t, ids[0], "alice", 0.2f, 43, &e);
    int changed = 0;
    for (int i = 0; i < 4; i++)
        changed += fid_tracker_vote(t, ids[0], "bob", 0.3f, 44 + i, &e) == 1;
    CHECK(changed == 1 && e.kind == FID_TRACK_CHANGED && !strcmp(e.track.name, "bob"),
          "majority change not reported once");
    CHECK(fid_tracker_vote(t, 999, "x", 0, 50, &e) == -1, "vote for an unknown track accepted");
    fid_tracker_free(t);

    /* One vote decides (as live uses it): identified once, then only real changes. */
    p.votes = 1;
    t = fid_tracker_create(&p, &st);
    fid_detection one = {.box = {10, 10, 50, 60}, .score = 0.9f};
    fid_tracker_update(t, &one, 1, 0, ev, 16);
    fid_track_info info;
    fid_tracker_tracks(t, &info, 1, 0, NULL);
    const char *labels[] = {"amy", "amy", "amy", "?", "?", "amy"};
    int identified = 0, changes = 0;
    for (int i = 0; i < 6; i++)
        if (fid_tracker_vote(t, info.id, labels[i], 0.4f, 1 + i, &e) == 1)
            identified += e.kind == FID_TRACK_IDENTIFIED, changes += e.kind == FID_TRACK_CHANGED;
    CHECK(identified == 1 && changes == 2, "votes 1: %d identified, %d changed (want 1 and 2)", identified, changes);
    /* the person left the gallery: the label goes at once, the track is due for a check, and a
     * vote for the same name afterwards is a change again (a new event, not a silent label) */
    int need = 0;
    CHECK(fid_tracker_unname(t, info.id, 7, &e) == 1 && e.kind == FID_TRACK_CHANGED && !strcmp(e.track.name, "?"),
          "unname: a changed event to ?");
    fid_tracker_tracks(t, &info, 1, 0, &need);
    CHECK(need >= 1 && !strcmp(info.name, "?"), "unnamed track: '%s', due %d", info.name, need);
    CHECK(fid_tracker_unname(t, info.id, 8, &e) == 0, "unname twice: nothing to change");
    CHECK(fid_tracker_vote(t, info.id, "amy", 0.3f, 9, &e) == 1 && e.kind == FID_TRACK_CHANGED && !strcmp(e.track.name, "amy"),
          "named again after unname: a changed event");
    CHECK(fid_tracker_unname(t, 99999, 9, &e) == -1, "unname of no track");
    /* the motion of a track predicts where it is looked for next */
    for (int f = 1; f < 5; f++) {
        fid_detection moved = {.box = {10 + 8.0f * f, 10, 50, 60}, .score = 0.9f};
        fid_tracker_update(t, &moved, 1, f, ev, 16);
    }
    fid_box ahead;
    CHECK(fid_tracker_active(t, 7, &ahead, 1) == 1 && ahead.x > 10 + 8 * 4 + 8, "predicted x %.1f for frame 7",
          ahead.x);
    fid_tracker_free(t);
    return check_summary();
}
