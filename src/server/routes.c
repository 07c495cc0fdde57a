/* Every route of faceid serve and the rules it is served by (http.c applies them before the
 * handler runs): method, whether it changes state (Origin and CSRF checked, audited), whether it
 * needs the token, its body budget and its work budget. A new route is one line here. */
#include "server/api.h"

#define UPLOAD SRV_UPLOAD
#define CHANGES SRV_CHANGES
#define OPEN SRV_OPEN
#define STREAM SRV_STREAM
#define FORM SRV_MULTIPART
#define JSON_BODY ((size_t)16 << 10) /* {"name": ..., "force": ...} */

const srv_route srv_routes[] = {
    /* method   pattern                                       flags            body       s    handler */
    {"GET", "/healthz", OPEN, 0, 5, srv_healthz, NULL},
    {"GET", "/readyz", OPEN, 0, 5, srv_readyz, NULL},
    {"GET", "/metrics", 0, 0, 10, srv_metrics, NULL},
    {"GET", "/api/v1/session", 0, 0, 5, srv_session, NULL},
    {"GET", "/api/v1/people", 0, 0, 10, srv_people, NULL},
    {"POST", "/api/v1/people", CHANGES | FORM, UPLOAD, 120, srv_enroll_new, "enroll"},
    {"POST", "/api/v1/people/{name}/photos", CHANGES | FORM, UPLOAD, 120, srv_enroll_more, "enroll"},
    {"PATCH", "/api/v1/people/{name}", CHANGES, JSON_BODY, 10, srv_rename_person, "rename"},
    {"DELETE", "/api/v1/people/{name}", CHANGES, 0, 10, srv_delete_person, "delete"},
    {"GET", "/api/v1/people/{name}/samples", 0, 0, 10, srv_samples, NULL},
    {"GET", "/api/v1/people/{name}/samples/{id}.jpg", 0, 0, 5, srv_sample_crop, NULL},
    {"DELETE", "/api/v1/people/{name}/samples/{id}", CHANGES, 0, 10, srv_delete_sample, "remove-sample"},
    {"POST", "/api/v1/people/{name}/samples/{id}/move", CHANGES, JSON_BODY, 10, srv_move_sample, "move-sample"},
    {"POST", "/api/v1/people/{name}/merge", CHANGES, JSON_BODY, 10, srv_merge_person, "merge"},
    {"POST", "/api/v1/identify", FORM, UPLOAD, 30, srv_identify, NULL},
    {"POST", "/api/v1/verify", FORM, UPLOAD, 30, srv_verify, NULL},
    {"GET", "/api/v1/export", 0, 0, 60, srv_export, "export"},
    {"GET", "/api/v1/cameras", 0, 0, 5, srv_cameras, NULL},
    {"GET", "/api/v1/cameras/{name}/snapshot.jpg", 0, 0, 10, srv_snapshot, NULL},
    {"GET", "/api/v1/cameras/{name}/stream.mjpeg", STREAM, 0, 0, srv_stream, NULL},
    {"GET", "/api/v1/events", 0, 0, 10, srv_events, NULL},
    {"GET", "/api/v1/events/stream", STREAM, 0, 0, srv_event_stream, NULL},
    {"GET", "/api/v1/events/{id}/crop.jpg", 0, 0, 5, srv_event_crop, NULL},
    {"POST", "/api/v1/events/{id}/reject", CHANGES, JSON_BODY, 30, srv_reject_event, "reject"},
    {"GET", "/api/v1/unknown", 0, 0, 10, srv_unknown_groups, NULL},
    {"DELETE", "/api/v1/unknown/{id}", CHANGES, 0, 10, srv_dismiss_group, "dismiss"},
    {"POST", "/api/v1/unknown/{id}/name", CHANGES, JSON_BODY, 60, srv_name_group, "name-group"},
    {"GET", "/api/v1/unknown/{id}/faces/{id}.jpg", 0, 0, 5, srv_unknown_face, NULL},
    /* the web page: static files compiled in, no data in them, no token (handler NULL) */
    {"GET", "/", OPEN, 0, 5, NULL, NULL},
    {"GET", "/{name}", OPEN, 0, 5, NULL, NULL},
};
const int srv_n_routes = (int)(sizeof srv_routes / sizeof *srv_routes);
