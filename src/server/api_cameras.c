/* The cameras: their state, a snapshot, the live view (MJPEG). */
#include "server/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/json.h"

/* ---- cameras ------------------------------------------------------------------------------- */

static json_t *camera_json(srv_camera *c) {
    pthread_mutex_lock(&c->lock);
    fid_pipeline_stats ps = c->pipeline ? fid_pipeline_get_stats(c->pipeline) : (fid_pipeline_stats){0};
    json_t *tracks = json_array();
    for (int i = 0; i < c->n_tracks; i++)
        json_array_append_new(tracks, fid__track_json(&c->tracks[i]));
    json_t *j = json_pack("{s:s,s:s,s:o,s:I,s:I,s:I,s:I,s:o,s:o,s:o,s:s}", "name", c->cfg.name, "state", c->state,
                          "fps", fid__json_number(c->fps), "frames", (json_int_t)c->frames, "dropped",
                          (json_int_t)(c->dropped_before + ps.dropped), "reconnects",
                          (json_int_t)(c->reconnects_before + ps.reconnects), "restarts", (json_int_t)c->restarts,
                          "latency_p50", fid__json_number(c->pipeline ? ps.latency_p50 : NAN), "latency_p99",
                          fid__json_number(c->pipeline ? ps.latency_p99 : NAN), "tracks", tracks, "snapshot", "");
    char url[128];
    snprintf(url, sizeof url, "/api/v1/cameras/%s/snapshot.jpg", c->cfg.name);
    json_object_set_new(j, "snapshot", json_string(url));
    if (c->error[0]) json_object_set_new(j, "error", fid__json_text(c->error));
    json_t *recent = json_array();
    double now = fid__wall_s();
    for (int i = 0; i < c->n_recent; i++)
        if (now - c->recent[i].wall <= 3)
            json_array_append_new(recent, json_pack("{s:o,s:o}", "name", fid__json_text(c->recent[i].name), "seconds_ago",
                                                    fid__json_number(now - c->recent[i].wall)));
    json_object_set_new(j, "recent", recent);
    pthread_mutex_unlock(&c->lock);
    return j;
}

enum MHD_Result srv_cameras(srv_request *r) {
    fid_server *s = r->s;
    json_t *arr = json_array();
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++)
        json_array_append_new(arr, camera_json(s->cams[i]));
    pthread_mutex_unlock(&s->cams_lock);
    return srv_send_json(r, 200, json_pack("{s:o}", "cameras", arr));
}

enum MHD_Result srv_snapshot(srv_request *r) {
    fid_server *s = r->s;
    const char *name = r->name;
    unsigned char *jpeg = NULL;
    size_t size;
    uint64_t seq;
    int got = srv_camera_jpeg(s, name, 0, srv_truthy(srv_arg(r, "raw")), &jpeg, &size, &seq);
    if (got == -1) return srv_send_error(r, 404, "no camera named '%s'", name);
    if (got == 2 || got == 1) return srv_send_error(r, 503, "camera %s: no frame yet", name);
    if (got != 0) return srv_send_error(r, 500, "camera %s: cannot encode the frame", name);
    return srv_send_buffer(r, 200, "image/jpeg", jpeg, size);
}

/* The live view: multipart/x-mixed-replace JPEGs, at most 10 a second, for as long as the client
 * watches. The callback may wait: each connection has its own thread. */
/* Bytes a streaming response has made and not yet handed to libmicrohttpd. Streams' states start
 * with one, so one function frees them all. */

ssize_t srv_pending_take(srv_pending *p, char *out, size_t max) {
    size_t n = p->len - p->pos < max ? p->len - p->pos : max;
    memcpy(out, p->buf + p->pos, n);
    p->pos += n;
    return (ssize_t)n;
}

void srv_stream_free(void *cls) {
    free(((srv_pending *)cls)->buf);
    free(cls);
}

typedef struct mjpeg {
    srv_pending out;
    fid_server *s;
    char camera[64];
    uint64_t seq;
    double last;
} mjpeg;

static ssize_t mjpeg_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    mjpeg *m = cls;
    while (m->out.pos == m->out.len) {
        if (atomic_load(&m->s->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;
        double wait = m->last + 0.1 - fid__monotonic_s();
        if (wait > 0) srv_nap(m->s, wait);
        unsigned char *jpeg = NULL;
        size_t size;
        /* a camera that stalls gets its last frame again every 2 s: the only way to learn that a
         * viewer left is a write that fails, and each viewer holds a connection's thread */
        double idle = fid__monotonic_s() - m->last;
        int r = srv_camera_jpeg(m->s, m->camera, idle > 2 ? 0 : m->seq, 0, &jpeg, &size, &m->seq);
        if (r == -1) return MHD_CONTENT_READER_END_OF_STREAM; /* the camera was removed */
        if (r == 2 && idle > 10) return MHD_CONTENT_READER_END_OF_STREAM; /* no frame ever: give up */
        if (r != 0) {
            srv_nap(m->s, 0.04);
            continue;
        }
        m->last = fid__monotonic_s();
        char head[128];
        int h = snprintf(head, sizeof head, "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %zu\r\n\r\n", size);
        free(m->out.buf);
        char *buf = m->out.buf = malloc((size_t)h + size + 2);
        if (!buf) {
            free(jpeg);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        memcpy(buf, head, (size_t)h);
        memcpy(buf + h, jpeg, size);
        memcpy(buf + h + size, "\r\n", 2);
        free(jpeg);
        m->out.len = (size_t)h + size + 2, m->out.pos = 0;
    }
    return srv_pending_take(&m->out, out, max);
}

enum MHD_Result srv_stream(srv_request *r) {
    fid_server *s = r->s;
    const char *name = r->name;
    int known = 0;
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++)
        known |= !strcmp(s->cams[i]->cfg.name, name);
    pthread_mutex_unlock(&s->cams_lock);
    if (!known) return srv_send_error(r, 404, "no camera named '%s'", name);
    mjpeg *m = calloc(1, sizeof *m);
    if (!m) return srv_send_error(r, 503, "out of memory");
    m->s = s;
    m->last = fid__monotonic_s();
    snprintf(m->camera, sizeof m->camera, "%.63s", name); /* a camera's name: found above, so short */
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, mjpeg_read, m, srv_stream_free);
    return srv_queue(r, 200, resp, "multipart/x-mixed-replace; boundary=frame");
}
