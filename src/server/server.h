/* The service behind `faceid serve`: cameras run through the live pipeline, an HTTP API and a
 * web page (libmicrohttpd), events kept for queries and pushed to SSE clients and MQTT
 * (libmosquitto), strangers grouped for naming, crops expired. It owns no models and parses no
 * files: the command wires models, a gallery and settings in (src/cli/serve_command.c). */
#ifndef FID_SERVER_SERVER_H
#define FID_SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "faceid.h"

typedef struct fid_server fid_server;

/* One camera: a source run through its own pipeline, as `faceid live` runs it. */
typedef struct fid_server_camera {
    char name[64];
    const char *url;                 /* borrowed during fid_server_start / fid_server_set_cameras */
    fid_pipeline_params pipeline;    /* .name is set from name */
    fid_capture_params capture;      /* strings borrowed as url */
    const char *output;              /* annotated recording (NULL: none); borrowed as url */
} fid_server_camera;

typedef struct fid_server_mqtt {
    const char *host; /* NULL: no MQTT */
    int port;         /* default 1883 */
    const char *user, *password;
    const char *prefix; /* topic prefix; default "faceid" */
    int crops;          /* publish each identified/stranger face as JPEG on PREFIX/CAMERA/NAME/snapshot */
    int discovery;      /* Home Assistant MQTT discovery; default 1 */
    const char *discovery_prefix; /* default "homeassistant" */
    const char *ca_file;          /* TLS to the broker, checked against this CA (PEM); NULL: plain */
    const char *cert_file, *key_file; /* a client certificate, when the broker asks for one */
} fid_server_mqtt;

/* A webhook: chosen events POSTed as JSON (server/webhook.c). */
#define SRV_MAX_WEBHOOKS 8
typedef struct fid_server_webhook {
    const char *name;   /* for messages ("webhook" when NULL) */
    const char *url;    /* http:// or https:// */
    const char *events; /* "identified,changed" (default); also appeared, left, known, unknown */
    const char *people; /* only these names, "?" for strangers ("alice, bob"); NULL: everyone */
    const char *secret; /* HMAC-SHA256 signature header when set */
    double timeout_s;   /* per attempt; default 5 */
    int retries;        /* attempts after the first, back-off 1, 2, 4 ... s; default 3 */
} fid_server_webhook;

typedef struct fid_server_params {
    const char *listen;   /* "ADDR:PORT" (IPv4); default "127.0.0.1:8080" */
    const char *token;    /* bearer token every /api request must carry; NULL: none (loopback only) */
    const char *tls_cert, *tls_key; /* PEM files; both or neither */
    size_t max_upload;    /* bytes of a request body; default 20 MB */
    int max_connections;  /* default 64 */
    int max_per_client;   /* connections from one address; default 16 */
    double rate_limit;    /* requests per second per client (bursts of 10 s); default 50; <= 0: none */
    int64_t max_pixels;   /* an uploaded image or clip frame, from its declared size; default 40 M */
    double header_seconds, body_seconds; /* deadlines for a request's whole header and whole body; 10, 120 */
    const char *allowed_hosts; /* Host names served besides addresses and localhost (comma-separated) */
    const char *audit_log;     /* JSON lines file (capped at 16 MB, one old file kept); NULL: stderr */
    double work_seconds;       /* caps every route's work budget (> 0); default: each route's own */
    int max_faces;             /* faces one identify answer describes; default 256 (more: "truncated") */
    int blur_unknown;     /* pixelate strangers in the live view, snapshots and recordings */
    double crops_hours;   /* event and unknown-face crops are dropped after this; default 24 */
    double events_hours;  /* events kept for queries; default 168 (a week), at most 100000 of them */
    int max_unknown_groups; /* default 100 */
    float threshold;        /* 1:N for uploads; NAN (default): the gallery's calibration, else the profile's */
    const char *node;       /* this service's name in a history shared by many nodes; default: the host name */
    int history_crops;      /* keep events' crops in the history too (within crops_hours); default 1 */
    fid_server_mqtt mqtt;
    fid_server_webhook webhooks[SRV_MAX_WEBHOOKS];
    int n_webhooks;
} fid_server_params;

fid_server_params fid_server_default_params(void);

enum { SRV_MAX_WORKERS = 16 };

/* The models and gallery the server uses; all borrowed and must outlive it. The request side
 * (detector, embedder, gallery) serves uploads under one lock; the identifier (with its own
 * embedder and gallery handle) names the cameras' faces. */
typedef struct fid_server_models {
    fid_detector *detector;
    fid_embedder *embedder;
    /* Request workers: more detector and embedder pairs, each used by one identify or verify at
     * a time outside the lock (only the match takes it), so uploads use every core instead of
     * waiting in line for one set of models. 0 workers: those requests use the pair above. */
    fid_detector *worker_detectors[SRV_MAX_WORKERS];
    fid_embedder *worker_embedders[SRV_MAX_WORKERS];
    int n_workers;
    fid_gallery *gallery;
    fid_identifier *identifier;
    /* a handle of its own on the same gallery, for the history (events that survive a restart);
     * NULL: events live in memory only */
    fid_gallery *history;
} fid_server_models;

/* Starts the cameras and serving. NULL with a one-line reason in why. */
fid_server *fid_server_start(const fid_server_params *params, const fid_server_models *models,
                             const fid_server_camera *cameras, int n_cameras, char *why, size_t why_size);
/* Replaces the camera set (SIGHUP): cameras whose settings are unchanged keep running, others
 * stop, start or restart; blur and retention follow params. 0, or -1 with why. */
int fid_server_reconfigure(fid_server *server, const fid_server_params *params, const fid_server_camera *cameras,
                           int n_cameras, char *why, size_t why_size);
/* The port actually bound (for "ADDR:0"). */
int fid_server_port(const fid_server *server);
void fid_server_stop(fid_server *server);

#endif
