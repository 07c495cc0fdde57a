/* faceid's JSON records (jansson): the events and tracks every output carries, whole-pixel boxes,
 * numbers rounded to 4 decimals (null when not finite or absurd), ISO-8601 UTC times. */
#ifndef FID_UTIL_JSON_H
#define FID_UTIL_JSON_H

#include <jansson.h>

#include "faceid.h"

/* Version of the JSON records (schema/faceid-output.schema.json). */
#define FID_JSON_SCHEMA 1

json_t *fid__json_box(fid_box b);
json_t *fid__json_number(double v);
/* A JSON string; invalid UTF-8 becomes U+FFFD rather than losing the record. */
json_t *fid__json_text(const char *s);
/* Unix time as "2026-11-28T14:05:00.123Z". */
void fid__iso_time(double wall, char out[32]);
json_t *fid__track_json(const fid_track_info *t);
json_t *fid__event_json(const fid_pipeline_event *e);
json_t *fid__tracks_json(const char *source, const fid_pipeline_result *r);

#endif
