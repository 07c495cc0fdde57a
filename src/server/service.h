/* What the parts of the service share: the server's state, the cameras (cameras.c), the events
 * and unknown faces (events.c), MQTT (mqtt.c) and the HTTP side (server.c, web.c). Internal. */
#ifndef FID_SERVER_SERVICE_H
#define FID_SERVER_SERVICE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

#include "server/server.h"

enum { SRV_MAX_CAMERAS = 32, SRV_MAX_TRACKS = 64, SRV_GROUP_FACES = 12, SRV_MAX_EVENTS = 100000 };
/* Event crops kept in memory at most (the oldest go first, before crops_hours if need be). */
#define SRV_CROP_BUDGET ((size_t)256 << 20)
enum { SRV_BUCKETS = 8 };
extern const double srv_bucket_le[SRV_BUCKETS];

typedef struct srv_histogram {
    atomic_long bucket[SRV_BUCKETS + 1];
    atomic_long count;
    _Atomic double sum;
} srv_histogram;
void srv_histogram_add(srv_histogram *h, double seconds);

/* One event as the API, SSE and MQTT deliver it, with the face's crop while it is kept. */
typedef struct srv_event {
    uint64_t id;
    fid_pipeline_event e; /* e.source points at camera */
    char camera[64];
    unsigned char *crop; /* JPEG; NULL once expired or for "left" */
    size_t crop_size;
    int rejected; /* a user said "not this person" (POST /api/v1/events/{id}/reject) */
    int forgotten; /* names someone no longer in the gallery: crop dropped, never written to the history */
} srv_event;

/* One stranger's face kept for "who is this?": its crop, descriptor and how the photo gates
 * judge it (an enrollment from it uses the same gates). */
typedef struct srv_face {
    uint64_t id;
    double wall;
    char camera[64];
    unsigned char *jpeg;
    size_t jpeg_size;
    fid_image *image; /* the padded crop, what an enrollment from it reads */
    float *descriptor;
    int size;        /* the face's shorter box side, pixels */
    float sharpness; /* variance of the Laplacian at 112 px */
    float score, turn;
    const char *gate; /* "" when the photo gates accept it, else the first that refuses (static) */
    /* what tells two strangers apart: one track of one camera is one person until the tracker
     * splits it, and the other tracks on that camera in the same frame are other people */
    int track;
    int64_t frame;
    int n_with;
    int with[16];
} srv_face;

typedef struct srv_group {
    uint64_t id;
    int n;
    srv_face faces[SRV_GROUP_FACES];
    float *centroid; /* mean of the faces' descriptors */
    double first, last;
    int sightings;
    float spread_mean, spread_max; /* distances between its faces: how surely it is one person */
} srv_group;

typedef struct srv_camera {
    fid_server_camera cfg;
    char *url, *output, *camera_size, *camera_format; /* owned copies cfg points at */
    struct fid_server *s;
    pthread_t thread;
    int started;
    atomic_int quit;
    pthread_mutex_t lock; /* everything below */
    fid_pipeline *pipeline;
    fid_image *frame; /* the newest frame, unannotated */
    fid_track_info tracks[SRV_MAX_TRACKS];
    /* the names drawn on the last frames, with when (the caption says what the video showed) */
    struct {
        char name[208];
        double wall;
    } recent[16];
    int n_recent;
    int n_tracks;
    uint64_t seq; /* frames taken so far */
    double frame_wall, fps, last_at;
    char state[24];  /* "starting", "running", "reconnecting", "restarting", "failed" */
    char error[256]; /* the last error, one line */
    int64_t frames, dropped_before, restarts, reconnects_before;
    fid_pipeline_stats last_stats;
    srv_histogram latency;
    fid_video_writer *writer;
} srv_camera;

/* Identifications per name, for /metrics. */
typedef struct srv_count {
    char name[208];
    long n;
} srv_count;

typedef struct srv_mqtt srv_mqtt;
typedef struct srv_webhooks srv_webhooks;

struct fid_server {
    struct MHD_Daemon *daemon;
    fid_server_params p;
    char *token, *tls_cert_pem, *tls_key_pem;
    fid_server_models m;
    int port;
    atomic_int stopping;
    _Atomic int blur_unknown;
    _Atomic double crops_hours, events_hours;

    pthread_mutex_t lock; /* the request models and the matcher */
    pthread_mutex_t workers_lock; /* which request workers are taken */
    pthread_cond_t worker_given;
    uint8_t worker_busy[SRV_MAX_WORKERS];
    fid_matcher *matcher;
    uint64_t matcher_version;
    /* the gallery as seen by srv_current_matcher: a database may go away, and the matcher in
     * hand goes on naming people meanwhile */
    atomic_int gallery_up;
    char gallery_error[256];
    _Atomic double gallery_synced; /* wall time the gallery last answered */
    atomic_long gallery_outages, matcher_refreshes;

    pthread_mutex_t cams_lock; /* the camera list */
    srv_camera *cams[SRV_MAX_CAMERAS];
    int n_cams;

    pthread_mutex_t ev_lock; /* events, unknown groups, counts, the queue */
    srv_event *events;       /* ring of SRV_MAX_EVENTS */
    uint64_t next_event, first_event; /* ids; ring slot = id % SRV_MAX_EVENTS */
    size_t crop_bytes;                /* JPEG bytes of the event crops kept */
    uint64_t crop_cursor;             /* crops before this id are gone (retention or the memory budget) */
    srv_group *groups;
    int n_groups;
    uint64_t next_group, next_face;
    srv_count *counts;
    int n_counts;
    srv_face *queue; /* strangers' crops waiting for a descriptor */
    int n_queue;
    pthread_cond_t work;
    pthread_t worker;
    int worker_started;
    uint64_t groups_checked; /* the matcher version the unknown groups were last checked against */
    _Atomic float group_threshold; /* average linkage below which strangers' faces group: the 1:N threshold */

    /* history (history.c): events written to the gallery's database through models.history */
    char node[128];                 /* this service's name in the shared history */
    pthread_mutex_t history_lock;   /* the history handle */
    pthread_mutex_t history_wait_lock;
    pthread_cond_t history_wake;
    pthread_t history_thread;
    int history_started, history_inited, history_failing;
    uint64_t history_upto; /* events before this id are written (under ev_lock) */
    uint64_t events_base;  /* the last id of earlier runs (metrics count this run's) */

    srv_mqtt *mqtt;
    srv_webhooks *webhooks;
    double sweep_until; /* the worker looks for people gone from the gallery until then */
    /* a rename through the API in progress (the gallery renamed, its events not yet): the sweep
     * must not take the old name for a person who left */
    atomic_int renames_pending;
    atomic_long renames_done;

    /* the HTTP side (http.c) */
    pthread_mutex_t conn_lock; /* the connections and the rate table */
    struct srv_conn *conns;
    void *rates;
    pthread_t watchdog;
    int watchdog_started;
    int max_connections, max_per_client;
    double rate_limit, header_seconds, body_seconds, work_seconds;
    int max_faces;
    int64_t max_pixels;
    char *hosts[16]; /* allowed-hosts */
    int n_hosts;
    unsigned char csrf_raw[16];
    char csrf[33];
    pthread_mutex_t slot_lock; /* decode slots: at most slots_free more decodes at once */
    pthread_cond_t slot_free;
    int slots_free;
    pthread_mutex_t audit_lock;
    FILE *audit;
    char *audit_path;
    atomic_long conns_refused, header_timeouts, body_timeouts, rate_refused, budget_stops;

    atomic_long requests[6]; /* by status class */
    atomic_long identified, strangers;
    srv_histogram identify_latency;
};

/* server.c: the matcher of the gallery as it is now (rebuilt when it changed). Under s->lock. */
const fid_matcher *srv_current_matcher(fid_server *s);

/* cameras.c */
int srv_cameras_set(fid_server *s, const fid_server_camera *cams, int n, char *why, size_t why_size);
void srv_cameras_stop_all(fid_server *s);
/* The camera's newest frame after after_seq as JPEG: with boxes and names drawn (strangers
 * pixelated when set), or with `raw` as captured (to enroll from). 0 with *jpeg malloc'd and *seq
 * the frame's; -1 no such camera; 1 nothing newer yet; 2 no frame yet; -2 encoding failed. */
int srv_camera_jpeg(fid_server *s, const char *name, uint64_t after_seq, int raw, unsigned char **jpeg, size_t *size,
                    uint64_t *seq);

/* history.c: the events in the gallery's database. start sets the first id after the stored
 * ones; flush writes what is not yet written (0, or -1 when the database refused). */
int srv_history_start(fid_server *s, char *why, size_t why_size);
void srv_history_stop(fid_server *s);
int srv_history_flush(fid_server *s);
/* Every stored event naming `name` goes (the gallery's delete did the same for what was written;
 * this catches what the cameras named meanwhile). */
void srv_history_forget(fid_server *s, const char *name);
void srv_history_rename(fid_server *s, const char *from, const char *to);

/* events.c */
int srv_events_init(fid_server *s);
void srv_events_free(fid_server *s);
/* Records one pipeline result's events (crops cut from r->image) and queues strangers. */
void srv_events_add(fid_server *s, srv_camera *cam, const fid_pipeline_result *r);
/* The worker: describes queued strangers and groups them, expires crops and events. */
void *srv_worker(void *arg);
/* Forgets the crops of events naming `name` (the person was deleted). */
void srv_events_forget(fid_server *s, const char *name);
/* Frees unknown group g (an index) and closes the gap. Under ev_lock. */
void srv_group_remove(fid_server *s, int g);
/* A rename made here: the events follow the name. */
void srv_events_rename(fid_server *s, const char *from, const char *to);
/* The JSON of event id (with "id" and "crop" URL when it has one); caller decrefs. Under ev_lock. */
struct json_t;
struct json_t *srv_event_json(const srv_event *ev);

/* mqtt.c: all no-ops when MQTT is not configured or not built */
srv_mqtt *srv_mqtt_start(const fid_server_mqtt *p, const char *node, char *why, size_t why_size);
/* webhook.c: chosen events to the operator's URLs, never holding the caller (queued) */
srv_webhooks *srv_webhooks_start(const fid_server_webhook *cfg, int n, const char *node, char *why, size_t why_size);
void srv_webhooks_event(srv_webhooks *w, const srv_event *ev); /* under ev_lock: formats and queues */
void srv_webhooks_stats(srv_webhooks *w, long *delivered, long *failed, long *dropped, long *retried);
void srv_webhooks_stop(srv_webhooks *w);
/* Home Assistant discovery: the gallery's people and the cameras as they are now (sensors of the
 * ones gone are removed). */
void srv_mqtt_sync_people(srv_mqtt *m, const fid_person_info *people, int n);
void srv_mqtt_sync_cameras(srv_mqtt *m, const char *const *names, int n);
void srv_mqtt_event(srv_mqtt *m, const srv_event *ev);
void srv_mqtt_forget(srv_mqtt *m, const char *name);
int srv_mqtt_connected(srv_mqtt *m);
long srv_mqtt_published(srv_mqtt *m);
void srv_mqtt_stop(srv_mqtt *m);

/* Sleeps up to `seconds`, less when the server stops. */
void srv_nap(fid_server *s, double seconds);

#endif
