/* libFuzzer target for live's events and --tracks writers: events and track lists made of
 * arbitrary bytes (names, sources, NaN and huge numbers) must each become exactly one line of
 * valid JSON, whatever they hold. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/common.h"

static size_t take(const uint8_t **d, size_t *n, void *out, size_t want) {
    size_t k = *n < want ? *n : want;
    memset(out, 0, want);
    memcpy(out, *d, k);
    *d += k, *n -= k;
    return k;
}

/* one line of JSON, no newline inside, parses back to an object */
static void check_line(json_t *j) {
    if (!j) abort();
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
    if (!text || strchr(text, '\n')) abort();
    json_error_t err;
    json_t *back = json_loads(text, 0, &err);
    if (!json_is_object(back)) abort();
    json_decref(back);
    free(text);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fid_track_info tracks[4];
    fid_pipeline_event ev;
    char source[64];
    memset(&ev, 0, sizeof ev);
    take(&data, &size, source, sizeof source - 1);
    source[sizeof source - 1] = 0;
    for (int i = 0; i < 4; i++) {
        take(&data, &size, &tracks[i], sizeof tracks[i]);
        tracks[i].name[sizeof tracks[i].name - 1] = 0;
    }
    take(&data, &size, &ev.kind, sizeof ev.kind);
    take(&data, &size, &ev.frame, sizeof ev.frame);
    take(&data, &size, &ev.seconds, sizeof ev.seconds);
    take(&data, &size, &ev.wall, sizeof ev.wall);
    ev.track = tracks[0];
    ev.source = source;
    check_line(fid__event_json(&ev));
    fid_pipeline_result r;
    memset(&r, 0, sizeof r);
    r.frame = ev.frame, r.seconds = ev.seconds, r.wall = ev.wall;
    r.n_tracks = 4, r.tracks = tracks;
    check_line(fid__tracks_json(source, &r));
    return 0;
}
