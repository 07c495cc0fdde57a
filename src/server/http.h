/* The HTTP side of the service: one route table (routes.c) in which every route declares its
 * method, whether it changes state, whether it needs the token, its body and work budget and its
 * handler; http.c applies those rules once, from the table, before a handler runs (and before a
 * byte of the body is kept), and keeps the connections honest (deadlines, per-client caps, rates).
 * The handlers (api_*.c) only read the request, call the library and answer. Internal. */
#ifndef FID_SERVER_HTTP_H
#define FID_SERVER_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>

#include "faceid.h"
#include "server/service.h"

typedef struct srv_part {
    char *key, *filename;
    char *data;
    size_t size;
} srv_part;

typedef struct srv_route srv_route;

/* One request from its headers to its answer. */
typedef struct srv_request {
    fid_server *s;
    struct MHD_Connection *c;
    const srv_route *route;
    const char *url, *method;
    char client[48];          /* the peer's address, for the audit log */
    /* the path's parameters, decoded once (by libmicrohttpd) and never again */
    char name[4 * FID_NAME_MAX + 4];
    uint64_t id[2];
    /* the body: raw, or a multipart form's parts */
    char *data;
    size_t size, cap, total;
    int too_large, bad_form, refused;
    struct MHD_PostProcessor *pp;
    srv_part *parts;
    int n_parts;
    /* the work budget: the request stops (and lets go of the models) past it, when the client
     * hangs up or when the service stops */
    double started, deadline, budget;
    int fd;
    const char *why_stopped;  /* set when srv_alive says no */
    char audit_person[4 * FID_NAME_MAX + 4]; /* who the audit line names (srv_audit_person), a copy */
    int cookie;               /* authenticated by the page's cookie */
    int status;               /* the answer's, once queued */
} srv_request;

typedef enum MHD_Result (*srv_handler)(srv_request *r);

enum {
    SRV_CHANGES = 1,    /* changes the gallery or the service's state: Origin/CSRF checked, audited */
    SRV_OPEN = 2,       /* no token (health checks, the page's static files) */
    SRV_STREAM = 4,     /* answers for as long as the client watches (no work deadline) */
    SRV_MULTIPART = 8,  /* the body may be a multipart form */
};

struct srv_route {
    const char *method;
    /* "/api/v1/people/{name}/photos": {name} is one path segment, {id} digits, {id}.jpg digits
     * then ".jpg"; anything else must be equal */
    const char *pattern;
    unsigned flags;
    size_t max_body;   /* bytes; 0: no body; SRV_UPLOAD: the server's max_upload */
    double budget_s;   /* seconds of work at most */
    srv_handler handler;
    const char *audit; /* the audit log's name for the action; NULL: not audited */
};
#define SRV_UPLOAD ((size_t)-1)

extern const srv_route srv_routes[];
extern const int srv_n_routes;

/* ---- answers (each counts its status class and closes the request) ---- */
enum MHD_Result srv_queue(srv_request *r, unsigned code, struct MHD_Response *resp, const char *type);
enum MHD_Result srv_send_buffer(srv_request *r, unsigned code, const char *type, void *body, size_t size);
enum MHD_Result srv_send_json(srv_request *r, unsigned code, json_t *doc); /* steals doc */
enum MHD_Result srv_send_error(srv_request *r, unsigned code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
enum MHD_Result srv_send_empty(srv_request *r, unsigned code);
/* A gallery call's failure: 503 when the store is away (a database restarting), else 500. */
unsigned srv_gallery_code(fid_status st);
/* 413 for too large, 503 for memory, 400 otherwise (a bad upload). */
unsigned srv_status_for(fid_status st);

/* ---- reading a request ---- */
const char *srv_arg(srv_request *r, const char *key);
/* The uploaded files: a multipart form's file parts, or the raw body as one. */
int srv_files(srv_request *r, srv_part *out, int cap);
/* A form field (not a file), NUL-terminated; NULL when absent. */
const char *srv_field(srv_request *r, const char *key);
int srv_truthy(const char *v);
/* {"name": "..."} from a JSON body: the name (checked by fid_person_name_check), or NULL after
 * answering 400. Caller decrefs *doc. */
const char *srv_json_name(srv_request *r, json_t **doc, enum MHD_Result *answer);

/* ---- the work budget ---- */
/* 1 while the request may go on working: within its budget, its client connected, the service
 * running. */
int srv_alive(srv_request *r);
/* Takes the request models' lock, waiting at most until the budget ends (or the client leaves):
 * 0, or -1 (nothing held; answer with srv_send_busy). */
int srv_models_lock(srv_request *r);
/* A request worker (server.h) for an identify or verify: its index, waiting at most until the
 * budget ends; -1 then (r->why_stopped says why). Without workers: -2, and the caller takes the
 * lock and the shared pair instead. */
int srv_worker_take(srv_request *r);
void srv_worker_give(srv_request *r, int worker);
void srv_models_unlock(srv_request *r);
/* The answer when the budget ran out, the client left or the service stops. */
enum MHD_Result srv_send_budget(srv_request *r, const char *what);
/* Decodes an uploaded image within the server's pixel budget, in one of the decode slots
 * (FID_TIMEOUT when none came free within the budget). */
fid_image *srv_decode(srv_request *r, const srv_part *f, fid_status *st);
/* A decode slot for a clip's whole decoding: 0, or -1 when the budget ran out waiting. */
int srv_decode_slot(srv_request *r);
void srv_decode_slot_done(srv_request *r);

/* ---- the audit log ---- */
/* The person a state-changing request concerns, for its audit line (copied: the handler's
 * strings are gone by the time the request ends). */
void srv_audit_person(srv_request *r, const char *name);
/* One JSON line: time, client, route, person, outcome (an HTTP status or a word). Thread-safe. */
void srv_audit(fid_server *s, const char *client, const char *action, const char *person, const char *detail,
               int status);
int srv_audit_open(fid_server *s, const char *path, char *why, size_t why_size);
void srv_audit_close(fid_server *s);

/* ---- the daemon ---- */
int srv_http_start(fid_server *s, const void *addr, char *why, size_t why_size);
void srv_http_stop(fid_server *s);

#endif
