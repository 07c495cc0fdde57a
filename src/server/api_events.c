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

typedef struct history_page {
    json_t *arr;
    int limit, truncated;
    double crops_since; /* older crops are past retention (gone at the next prune) */
} history_page;

/* One stored event as the API shows it (the same JSON as an event in memory). */
static int take_row(void *user, const fid__history_row *row) {
    history_page *p = user;
    if ((int)json_array_size(p->arr) == p->limit) { /* the one beyond the limit: there is more */
        p->truncated = 1;
        return 1;
    }
    fid_pipeline_event e = {.kind = (fid_track_event_kind)row->kind,
                            .frame = row->frame,
                            .seconds = row->seconds,
                            .wall = row->wall,
                            .source = row->camera};
    e.track.id = row->track;
    e.track.box = row->box;
    e.track.score = row->score;
    e.track.distance = row->distance;
    snprintf(e.track.name, sizeof e.track.name, "%s", row->name);
    json_t *j = fid__event_json(&e);
    if (!j) return 0;
    json_object_set_new(j, "id", json_integer((json_int_t)row->id));
    if (row->crop_size && row->wall >= p->crops_since) { /* whether there is one; the crop comes on its own */
        char url[64];
        snprintf(url, sizeof url, "/api/v1/events/%llu/crop.jpg", (unsigned long long)row->id);
        json_object_set_new(j, "crop", json_string(url));
    }
    if (row->rejected) json_object_set_new(j, "rejected", json_true());
    json_array_insert_new(p->arr, 0, j); /* rows come newest first; the answer is oldest first */
    return 0;
}

/* From the history: what was written, and first what was not yet (so nothing seen is missing). */
static enum MHD_Result history_events(srv_request *r, double since, double until, const char *camera, const char *name,
                                      uint64_t before, int limit) {
    fid_server *s = r->s;
    srv_history_flush(s);
    /* retention holds at once, not at the next prune */
    double now = fid__wall_s(), oldest = now - atomic_load(&s->events_hours) * 3600;
    fid__history_query q = {since > oldest ? since : oldest, until, camera, name, before, limit + 1};
    history_page page = {json_array(), limit, 0, now - atomic_load(&s->crops_hours) * 3600};
    pthread_mutex_lock(&s->history_lock);
    fid_status st = fid__history_list(s->m.history, s->node, &q, take_row, &page);
    pthread_mutex_unlock(&s->history_lock);
    if (st != FID_OK) {
        json_decref(page.arr);
        return srv_send_error(r, srv_gallery_code(st), "history: %s", fid_last_error());
    }
    return srv_send_json(r, 200, json_pack("{s:o,s:b,s:i}", "events", page.arr, "truncated", page.truncated, "limit",
                                           limit));
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
    uint64_t before = 0;
    if ((v = srv_arg(r, "before"))) {
        char *end;
        unsigned long long b = strtoull(v, &end, 10);
        if (*end || end == v || b < 1) return srv_send_error(r, 400, "before=%s: want an event id", v);
        before = b;
    }
    if (s->m.history) return history_events(r, since, until, camera, name, before, limit);
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
        if (before && id >= before) continue;
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
    if (!copy && s->m.history) { /* before this run, or dropped from memory: the stored one */
        pthread_mutex_lock(&s->history_lock);
        fid_status st = fid__history_crop(s->m.history, s->node, id, fid__wall_s() - atomic_load(&s->crops_hours) * 3600,
                                          &copy, &size);
        pthread_mutex_unlock(&s->history_lock);
        if (st != FID_OK && st != FID_ERR_NOT_FOUND) return srv_send_error(r, srv_gallery_code(st), "history: %s", fid_last_error());
    }
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

