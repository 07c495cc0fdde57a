/* The route handlers, one file per resource (api_*.c); routes.c lists them with their rules.
 * Internal. */
#ifndef FID_SERVER_API_H
#define FID_SERVER_API_H

#include "server/http.h"

/* api_faces.c */
enum MHD_Result srv_identify(srv_request *r);
enum MHD_Result srv_verify(srv_request *r);

/* api_people.c */
enum MHD_Result srv_people(srv_request *r);
enum MHD_Result srv_enroll_new(srv_request *r);
enum MHD_Result srv_enroll_more(srv_request *r);
enum MHD_Result srv_delete_person(srv_request *r);
enum MHD_Result srv_rename_person(srv_request *r);
enum MHD_Result srv_export(srv_request *r);
/* For naming a group: the person's samples (-1: none), the 409 answer when the faces do not
 * look like an existing person of that name, an enrollment report as JSON. */
int srv_person_samples(fid_server *s, const char *name);
json_t *srv_mismatch_with(fid_server *s, const char *name, const float *d, int k, fid_status *st);
json_t *srv_report_json(const char *file, const fid_enroll_report *r);

/* api_samples.c: review and correct */
/* "/api/v1/people/NAME/samples/ID.jpg", NAME percent-encoded. */
void srv_sample_crop_url(const char *name, int64_t id, char *out, size_t size);
enum MHD_Result srv_samples(srv_request *r);
enum MHD_Result srv_sample_crop(srv_request *r);
enum MHD_Result srv_delete_sample(srv_request *r);
enum MHD_Result srv_move_sample(srv_request *r);
enum MHD_Result srv_merge_person(srv_request *r);
enum MHD_Result srv_reject_event(srv_request *r);
/* api_cameras.c */
enum MHD_Result srv_cameras(srv_request *r);
enum MHD_Result srv_snapshot(srv_request *r);
enum MHD_Result srv_stream(srv_request *r);

/* api_events.c */
enum MHD_Result srv_events(srv_request *r);
enum MHD_Result srv_event_crop(srv_request *r);
enum MHD_Result srv_event_stream(srv_request *r);
/* Streaming answers' buffered bytes (their states start with one). */
typedef struct srv_pending {
    char *buf;
    size_t len, pos;
} srv_pending;
ssize_t srv_pending_take(srv_pending *p, char *out, size_t max);
void srv_stream_free(void *cls);

/* api_unknown.c */
enum MHD_Result srv_unknown_groups(srv_request *r);
enum MHD_Result srv_unknown_face(srv_request *r);
enum MHD_Result srv_dismiss_group(srv_request *r);
enum MHD_Result srv_name_group(srv_request *r);

/* api_system.c */
enum MHD_Result srv_metrics(srv_request *r);
enum MHD_Result srv_healthz(srv_request *r);
enum MHD_Result srv_readyz(srv_request *r);
enum MHD_Result srv_session(srv_request *r);

#endif
