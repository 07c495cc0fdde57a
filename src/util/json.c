/* The JSON of faceid's records (events, tracks, boxes, numbers, times), shared by the CLI's
 * outputs, the HTTP API and MQTT so that one event reads the same wherever it is delivered. */
#include "util/json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/text.h"

/* Whole pixels; a coordinate no frame can have (NaN, beyond +-2^31) is clamped, not undefined. */
static json_int_t pixel(float v) {
    if (!(v > -2147483648.0f)) return v != v ? 0 : INT32_MIN;
    return v < 2147483647.0f ? (json_int_t)lround(v) : INT32_MAX;
}

json_t *fid__json_box(fid_box b) {
    return json_pack("[I,I,I,I]", pixel(b.x), pixel(b.y), pixel(b.width), pixel(b.height));
}

json_t *fid__json_number(double v) {
    /* no score, distance or time reaches 1e15; a value that does is garbage, and near DBL_MAX
     * its 10-digit form would even read back as infinity (fuzz_writers found it) */
    if (!isfinite(v) || fabs(v) >= 1e15) return json_null();
    return json_real(round(v * 1e4) / 1e4);
}

void fid__iso_time(double wall, char out[32]) {
    if (!(wall >= 0 && wall < 253402300800.0)) wall = 0; /* 1970 .. 9999: what gmtime and the format hold */
    time_t s = (time_t)floor(wall);
    int ms = (int)floor((wall - (double)s) * 1000);
    if (ms > 999) ms = 999;
    struct tm tm;
    gmtime_r(&s, &tm);
    char day[24];
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03dZ", day, ms < 0 ? 0 : ms);
}


/* A string for JSON: jansson refuses invalid UTF-8 (json_pack would return NULL and the line
 * would be lost), so such bytes become U+FFFD; names from a gallery are checked already, this
 * is for anything else (a source's name, a damaged record). */
json_t *fid__json_text(const char *s) {
    json_t *j = json_string(s ? s : "");
    if (j) return j;
    size_t n = strlen(s);
    char *fixed = malloc(n * 3 + 1), *o = fixed;
    if (!fixed) return json_string("");
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        const unsigned char *next = p;
        if (fid__utf8_next(&next) < 0) {
            memcpy(o, "\xef\xbf\xbd", 3), o += 3, p++;
        } else {
            memcpy(o, p, (size_t)(next - p)), o += next - p, p = next;
        }
    }
    *o = 0;
    j = json_string(fixed);
    free(fixed);
    return j ? j : json_string("");
}

json_t *fid__track_json(const fid_track_info *t) {
    json_t *j = json_pack("{s:i,s:o,s:o,s:o}", "track", t->id, "box", fid__json_box(t->box), "score",
                          fid__json_number(t->score), "name", fid__json_text(t->name));
    if (j && isfinite(t->distance) && strcmp(t->name, "?"))
        json_object_set_new(j, "distance", fid__json_number(t->distance));
    return j;
}

json_t *fid__event_json(const fid_pipeline_event *e) {
    static const char *names[] = {"appeared", "identified", "changed", "left"};
    char when[32];
    fid__iso_time(e->wall, when);
    json_t *j = json_pack("{s:i,s:s,s:o,s:s,s:o,s:I}", "schema", FID_JSON_SCHEMA, "event",
                          (unsigned)e->kind < 4 ? names[e->kind] : "unknown", "source", fid__json_text(e->source), "time",
                          when, "stream_time", fid__json_number(e->seconds), "frame", (json_int_t)e->frame);
    json_t *t = fid__track_json(&e->track);
    if (j && t) json_object_update(j, t);
    json_decref(t);
    return j;
}

char *fid_pipeline_event_json(const fid_pipeline_event *event) {
    if (!event) return NULL;
    json_t *j = fid__event_json(event);
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    return text;
}

json_t *fid__tracks_json(const char *source, const fid_pipeline_result *r) {
    char when[32];
    fid__iso_time(r->wall, when);
    json_t *list = json_array();
    for (int i = 0; i < r->n_tracks; i++)
        json_array_append_new(list, fid__track_json(&r->tracks[i]));
    return json_pack("{s:i,s:o,s:s,s:o,s:I,s:o}", "schema", FID_JSON_SCHEMA, "source", fid__json_text(source), "time", when,
                     "stream_time", fid__json_number(r->seconds), "frame", (json_int_t)r->frame, "tracks", list);
}

