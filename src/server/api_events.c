#define _GNU_SOURCE /* strptime, timegm */
/* Events (query, crops, the SSE stream) and the unknown faces waiting for a name. */
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

/* ---- events ---------------------------------------------------------------------------------- */

/* A time as Unix seconds or ISO-8601 UTC ("2026-11-28T10:00:00Z", fraction optional). */
static int parse_time(const char *v, double *out) {
    char *end;
    double t = strtod(v, &end);
    if (end != v && !*end && isfinite(t)) {
        *out = t;
        return 0;
    }
    struct tm tm = {0};
    const char *rest = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!rest) return -1;
    double frac = 0;
    if (*rest == '.') frac = strtod(rest, (char **)&rest);
    if (*rest == 'Z') rest++;
    if (*rest) return -1;
    *out = (double)timegm(&tm) + frac;
    return 0;
}

enum MHD_Result srv_events(srv_request *r) {
    fid_server *s = r->s;
    double since = -INFINITY, until = INFINITY;
    const char *v, *camera = srv_arg(r, "camera"), *name = srv_arg(r, "name");
    int limit = 100;
    if ((v = srv_arg(r, "since")) && parse_time(v, &since))
        return srv_send_error(r, 400, "since=%s: want Unix seconds or ISO-8601 (2026-11-28T10:00:00Z)", v);
    if ((v = srv_arg(r, "until")) && parse_time(v, &until))
        return srv_send_error(r, 400, "until=%s: want Unix seconds or ISO-8601 (2026-11-28T10:00:00Z)", v);
    if ((v = srv_arg(r, "limit"))) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*end || end == v || l < 1 || l > 10000) return srv_send_error(r, 400, "limit=%s: want 1..10000", v);
        limit = (int)l;
    }
    json_t *arr = json_array();
    int truncated = 0;
    pthread_mutex_lock(&s->ev_lock);
    /* newest first, then reversed: the last `limit` matching, oldest first; one more match beyond
     * the limit is looked for, so the answer can say it is not all */
    for (uint64_t id = s->next_event; id-- > s->first_event;) {
        const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (ev->e.wall < since || ev->e.wall > until) continue;
        if (camera && strcmp(camera, ev->camera)) continue;
        if (name && strcmp(name, ev->e.track.name)) continue;
        if ((int)json_array_size(arr) == limit) {
            truncated = 1;
            break;
        }
        json_array_insert_new(arr, 0, srv_event_json(ev));
    }
    pthread_mutex_unlock(&s->ev_lock);
    return srv_send_json(r, 200, json_pack("{s:o,s:b,s:i}", "events", arr, "truncated", truncated, "limit", limit));
}

enum MHD_Result srv_event_crop(srv_request *r) {
    fid_server *s = r->s;
    uint64_t id = r->id[0];
    unsigned char *copy = NULL;
    size_t size = 0;
    pthread_mutex_lock(&s->ev_lock);
    if (id >= s->first_event && id < s->next_event) {
        const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (ev->crop && (copy = malloc(ev->crop_size))) memcpy(copy, ev->crop, size = ev->crop_size);
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (!copy) return srv_send_error(r, 404, "event %llu has no crop (unknown, expired or deleted)", (unsigned long long)id);
    return srv_send_buffer(r, 200, "image/jpeg", copy, size);
}

/* Server-Sent Events: every new event as `id: N`, `event: face`, `data: JSON`; a comment every
 * 15 s keeps proxies from closing an idle stream; Last-Event-ID resumes after a reconnect. */
typedef struct sse {
    srv_pending out;
    fid_server *s;
    uint64_t next;
    double quiet_since;
} sse;

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max) {
    (void)pos;
    sse *x = cls;
    while (x->out.pos == x->out.len) {
        if (atomic_load(&x->s->stopping)) return MHD_CONTENT_READER_END_OF_STREAM;
        free(x->out.buf);
        x->out.buf = NULL, x->out.len = x->out.pos = 0;
        pthread_mutex_lock(&x->s->ev_lock);
        if (x->next < x->s->first_event) x->next = x->s->first_event;
        size_t cap = 0;
        FILE *f = open_memstream(&x->out.buf, &cap);
        for (int k = 0; f && x->next < x->s->next_event && k < 64; k++, x->next++) {
            json_t *j = srv_event_json(&x->s->events[x->next % SRV_MAX_EVENTS]);
            char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
            if (text) fprintf(f, "id: %llu\nevent: face\ndata: %s\n\n", (unsigned long long)x->next, text);
            free(text);
            json_decref(j);
        }
        pthread_mutex_unlock(&x->s->ev_lock);
        if (f) fclose(f);
        if (!x->out.buf) return MHD_CONTENT_READER_END_WITH_ERROR;
        x->out.len = strlen(x->out.buf);
        if (x->out.len) {
            x->quiet_since = fid__monotonic_s();
            break;
        }
        if (fid__monotonic_s() - x->quiet_since > 15) {
            free(x->out.buf);
            x->out.buf = strdup(": keep-alive\n\n");
            if (!x->out.buf) return MHD_CONTENT_READER_END_WITH_ERROR;
            x->out.len = strlen(x->out.buf);
            x->quiet_since = fid__monotonic_s();
            break;
        }
        srv_nap(x->s, 0.1);
    }
    return srv_pending_take(&x->out, out, max);
}

enum MHD_Result srv_event_stream(srv_request *r) {
    fid_server *s = r->s;
    sse *x = calloc(1, sizeof *x);
    if (!x) return srv_send_error(r, 503, "out of memory");
    x->s = s;
    x->quiet_since = fid__monotonic_s();
    const char *last = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "Last-Event-ID");
    pthread_mutex_lock(&s->ev_lock);
    x->next = last ? strtoull(last, NULL, 10) + 1 : s->next_event;
    if (x->next > s->next_event) x->next = s->next_event;
    pthread_mutex_unlock(&s->ev_lock);
    /* the first bytes at once: a client knows the stream is open before any event happens */
    x->out.buf = strdup(": faceid events\n\n");
    x->out.len = x->out.buf ? strlen(x->out.buf) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, x, srv_stream_free);
    return srv_queue(r, 200, resp, "text/event-stream");
}

