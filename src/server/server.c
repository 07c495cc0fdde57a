/*
 * faceid's HTTP API on libmicrohttpd. Every answer is JSON except /metrics (Prometheus text);
 * every error is a 4xx/5xx with {"error": "one line"}. Requests that run the networks take
 * turns on one lock (the detector and embedder keep per-call state); the matcher is rebuilt
 * when the gallery's version changes, so people enrolled by another process are named.
 *
 * Routes (v1, first slice of issue 13):
 *   GET  /healthz            {"status":"ok"}            (no token needed)
 *   GET  /metrics            requests, identifications, latency histogram, gallery size
 *   GET  /api/v1/people      {"people":[{"name","samples"}]}
 *   POST /api/v1/identify    body: a JPEG/PNG/WebP image -> {"faces":[{"box","score","name","distance"?}]}
 *   POST /api/v1/people/NAME/photos[?force=1]  body: a photo; its largest face through the photo
 *                            quality gates -> 201 {"name","samples","added"}, or 422 with the gate
 *                            that refused it and by how much (as `faceid enroll` says)
 *   DELETE /api/v1/people/NAME   204, or 404
 */
#include "server/server.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "image/image.h"

enum { N_BUCKETS = 8 };
static const double bucket_le[N_BUCKETS] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};

struct fid_server {
    struct MHD_Daemon *daemon;
    fid_server_params p;
    char *token;
    fid_detector *detector;
    fid_embedder *embedder;
    fid_gallery *gallery;
    pthread_mutex_t lock; /* the networks, the matcher */
    fid_matcher *matcher;
    uint64_t matcher_version;
    int port;
    atomic_long requests[6]; /* by status class: 1xx..5xx at [1..5] */
    atomic_long identified, strangers;
    atomic_long latency_bucket[N_BUCKETS + 1];
    double latency_sum; /* under lock */
    atomic_long latency_count;
};

/* What MHD keeps for one request while its body arrives. */
typedef struct upload {
    char *data;
    size_t size, cap;
    int too_large;
} upload;

fid_server_params fid_server_default_params(void) {
    fid_server_params p = {.listen = "127.0.0.1:8080", .token = NULL, .max_upload = 20u << 20, .threads = 2};
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static enum MHD_Result send_text(fid_server *s, struct MHD_Connection *c, unsigned code, const char *type,
                                 char *body) {
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    if (code / 100 < 6) atomic_fetch_add(&s->requests[code / 100], 1);
    return ok;
}

static enum MHD_Result send_json(fid_server *s, struct MHD_Connection *c, unsigned code, json_t *doc) {
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(doc);
    if (!text) return MHD_NO;
    return send_text(s, c, code, "application/json", text);
}

static enum MHD_Result send_error(fid_server *s, struct MHD_Connection *c, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static enum MHD_Result send_error(fid_server *s, struct MHD_Connection *c, unsigned code, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *p = msg; *p; p++) /* one line, whatever it quotes */
        if ((unsigned char)*p < 0x20) *p = '?';
    return send_json(s, c, code, json_pack("{s:s}", "error", msg));
}

static json_t *box_json(fid_box b) {
    return json_pack("[I,I,I,I]", (json_int_t)lround(b.x), (json_int_t)lround(b.y), (json_int_t)lround(b.width),
                     (json_int_t)lround(b.height));
}

static json_t *number(double v) { return isfinite(v) ? json_real(round(v * 1e4) / 1e4) : json_null(); }

/* The matcher of the gallery as it is now (rebuilt when another process changed it). Under lock. */
static const fid_matcher *current_matcher(fid_server *s) {
    uint64_t v;
    if (fid_gallery_version(s->gallery, &v) != FID_OK) return s->matcher;
    if (!s->matcher || v != s->matcher_version) {
        fid_status st;
        fid_matcher *m = fid_matcher_create(s->gallery, NULL, &st);
        if (m) {
            fid_matcher_free(s->matcher);
            s->matcher = m;
            s->matcher_version = v;
        }
    }
    return s->matcher;
}

static enum MHD_Result identify(fid_server *s, struct MHD_Connection *c, upload *u) {
    if (!u->size) return send_error(s, c, 400, "identify: the request body must be an image (JPEG, PNG or WebP)");
    fid_status st;
    fid_image *im = fid__image_decode((const unsigned char *)u->data, u->size, "request body", &st);
    if (!im)
        return send_error(s, c, st == FID_ERR_TOO_LARGE ? 413 : st == FID_ERR_NO_MEMORY ? 503 : 400, "%s",
                          fid_last_error());
    double t0 = now_s();
    pthread_mutex_lock(&s->lock);
    const fid_matcher *m = current_matcher(s);
    fid_detection dets[64];
    int n = m ? fid_detector_run(s->detector, im, dets, 64, &st) : -1;
    json_t *faces = json_array();
    float *desc = malloc((size_t)fid_embedder_dim(s->embedder) * sizeof *desc);
    int failed = n < 0 || !desc;
    for (int i = 0; i < n && i < 64 && !failed; i++) {
        fid_face face;
        fid_match match;
        if (fid_embedder_describe(s->embedder, im, &dets[i], &face, desc) != FID_OK ||
            fid_matcher_match(m, desc, &match) != FID_OK) {
            failed = 1;
            break;
        }
        json_t *f = json_pack("{s:o,s:o,s:s}", "box", box_json(dets[i].box), "score", number(dets[i].score), "name",
                              match.name);
        if (match.known) json_object_set_new(f, "distance", number(match.distance));
        atomic_fetch_add(match.known ? &s->identified : &s->strangers, 1);
        json_array_append_new(faces, f);
    }
    double dt = now_s() - t0;
    s->latency_sum += dt;
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->latency_count, 1);
    int b = 0;
    while (b < N_BUCKETS && dt > bucket_le[b])
        b++;
    atomic_fetch_add(&s->latency_bucket[b], 1);
    free(desc);
    fid_image_free(im);
    if (failed) {
        json_decref(faces);
        return send_error(s, c, 500, "identify: %s", m ? fid_last_error() : "the gallery cannot be read");
    }
    return send_json(s, c, 200, json_pack("{s:o}", "faces", faces));
}

/* NAME from /api/v1/people/NAME[/rest], percent-decoded in place into out; rest after it. */
static int person_from_url(const char *url, char *out, size_t size, const char **rest) {
    const char *p = url + strlen("/api/v1/people/"), *end = strchr(p, '/');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n >= size) return 0;
    memcpy(out, p, n);
    out[n] = 0;
    out[MHD_http_unescape(out)] = 0;
    *rest = end ? end : "";
    return 1;
}

static const char *verdicts[] = {"kept", "no face found", "face too small", "detector score too low", "face too blurry",
                                 "face turned too far", "same as an earlier sample", "better samples already kept",
                                 "landmarks do not form a frontal face"};

static enum MHD_Result enroll_photo(fid_server *s, struct MHD_Connection *c, const char *name, upload *u) {
    if (fid_person_name_check(name) != FID_OK) return send_error(s, c, 400, "%s", fid_last_error());
    if (!u->size) return send_error(s, c, 400, "enroll: the request body must be a photo (JPEG, PNG or WebP)");
    fid_status st;
    fid_image *im = fid__image_decode((const unsigned char *)u->data, u->size, "request body", &st);
    if (!im) return send_error(s, c, st == FID_ERR_TOO_LARGE ? 413 : 400, "%s", fid_last_error());
    const char *force = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "force");
    fid_enroll_report r;
    memset(&r, 0, sizeof r);
    pthread_mutex_lock(&s->lock);
    fid_enrollment *e = fid_enrollment_begin(s->detector, s->embedder, NULL, &st);
    st = e ? fid_enrollment_add_photo(e, im, "upload", force && !strcmp(force, "1"), &r) : st;
    int n = e && st == FID_OK ? fid_enrollment_count(e) : 0, dim = fid_embedder_dim(s->embedder);
    float *d = n ? malloc((size_t)n * dim * sizeof *d) : NULL, q = 0;
    if (n && d) {
        fid_enrollment_sample(e, 0, d, &q, NULL, NULL, NULL);
        st = fid_gallery_add(s->gallery, name, d, 1, &q, NULL);
    }
    int samples = -1;
    if (st == FID_OK && n) {
        int k = fid_gallery_people(s->gallery, NULL, 0, &st), total = k > 0 ? k : 0;
        fid_person_info *all = total ? calloc((size_t)total, sizeof *all) : NULL;
        if (all && fid_gallery_people(s->gallery, all, total, &st) >= 0)
            for (int i = 0; i < total; i++)
                if (!strcmp(all[i].name, name)) samples = all[i].samples;
        free(all);
    }
    pthread_mutex_unlock(&s->lock);
    free(d);
    fid_enrollment_free(e);
    fid_image_free(im);
    if (st != FID_OK) return send_error(s, c, 500, "enroll: %s", fid_last_error());
    if (!n) { /* refused by a gate: say which and by how much, like the CLI */
        json_t *j = json_pack("{s:s,s:s,s:i}", "error", r.verdict < 9 ? verdicts[r.verdict] : "refused", "gate",
                              r.gate ? r.gate : "", "faces", r.faces);
        if (r.limit > 0) json_object_set_new(j, "value", number(r.value)), json_object_set_new(j, "limit", number(r.limit));
        return send_json(s, c, 422, j);
    }
    return send_json(s, c, 201, json_pack("{s:s,s:i,s:i,s:b}", "name", name, "samples", samples, "added", 1, "forced",
                                          r.forced));
}

static enum MHD_Result delete_person(fid_server *s, struct MHD_Connection *c, const char *name) {
    pthread_mutex_lock(&s->lock);
    fid_status st = fid_gallery_remove(s->gallery, name);
    pthread_mutex_unlock(&s->lock);
    if (st == FID_ERR_NOT_FOUND) return send_error(s, c, 404, "no person named '%s'", name);
    if (st != FID_OK) return send_error(s, c, 500, "%s", fid_last_error());
    return send_text(s, c, 204, "application/json", strdup(""));
}

static enum MHD_Result people(fid_server *s, struct MHD_Connection *c) {
    fid_status st;
    pthread_mutex_lock(&s->lock);
    int n = fid_gallery_people(s->gallery, NULL, 0, &st);
    fid_person_info *list = n > 0 ? calloc((size_t)n, sizeof *list) : NULL;
    if (n > 0) n = list ? fid_gallery_people(s->gallery, list, n, &st) : -1;
    pthread_mutex_unlock(&s->lock);
    if (n < 0) {
        free(list);
        return send_error(s, c, 500, "%s", fid_last_error());
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s,s:i}", "name", list[i].name, "samples", list[i].samples));
    free(list);
    return send_json(s, c, 200, json_pack("{s:o}", "people", arr));
}

static enum MHD_Result metrics(fid_server *s, struct MHD_Connection *c) {
    fid_status st;
    pthread_mutex_lock(&s->lock);
    int n_people = fid_gallery_people(s->gallery, NULL, 0, &st);
    double sum = s->latency_sum;
    pthread_mutex_unlock(&s->lock);
    size_t cap = 4096, len = 0;
    char *out = malloc(cap);
    if (!out) return MHD_NO;
#define EMIT(...) len += (size_t)snprintf(out + len, cap - len, __VA_ARGS__)
    EMIT("# HELP faceid_http_requests_total HTTP requests answered, by status class.\n"
         "# TYPE faceid_http_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        EMIT("faceid_http_requests_total{code=\"%dxx\"} %ld\n", k, atomic_load(&s->requests[k]));
    EMIT("# HELP faceid_identify_faces_total Faces answered by /api/v1/identify.\n"
         "# TYPE faceid_identify_faces_total counter\n"
         "faceid_identify_faces_total{result=\"known\"} %ld\nfaceid_identify_faces_total{result=\"stranger\"} %ld\n",
         atomic_load(&s->identified), atomic_load(&s->strangers));
    EMIT("# HELP faceid_identify_seconds Time to detect, describe and match one uploaded image.\n"
         "# TYPE faceid_identify_seconds histogram\n");
    long cumulative = 0;
    for (int b = 0; b < N_BUCKETS; b++) {
        cumulative += atomic_load(&s->latency_bucket[b]);
        EMIT("faceid_identify_seconds_bucket{le=\"%g\"} %ld\n", bucket_le[b], cumulative);
    }
    cumulative += atomic_load(&s->latency_bucket[N_BUCKETS]);
    EMIT("faceid_identify_seconds_bucket{le=\"+Inf\"} %ld\nfaceid_identify_seconds_sum %.6f\n"
         "faceid_identify_seconds_count %ld\n",
         cumulative, sum, atomic_load(&s->latency_count));
    EMIT("# HELP faceid_gallery_people People in the gallery.\n# TYPE faceid_gallery_people gauge\n"
         "faceid_gallery_people %d\n",
         n_people < 0 ? 0 : n_people);
#undef EMIT
    if (len >= cap) len = cap - 1, out[len] = 0;
    return send_text(s, c, 200, "text/plain; version=0.0.4", out);
}

static int authorized(fid_server *s, struct MHD_Connection *c) {
    if (!s->token) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    /* compared in constant time: the token is a secret */
    const char *given = h + 7;
    size_t a = strlen(given), b = strlen(s->token);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned)(unsigned char)(i < a ? given[i] : 0) ^ (unsigned char)s->token[i];
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *data_size, void **state) {
    (void)version;
    fid_server *s = cls;
    upload *u = *state;
    if (!u) { /* first call: headers only */
        if (!(u = calloc(1, sizeof *u))) return MHD_NO;
        *state = u;
        const char *len = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        if (len && strtoull(len, NULL, 10) > s->p.max_upload) u->too_large = 1;
        return MHD_YES;
    }
    if (*data_size) { /* the body, in pieces */
        if (!u->too_large && u->size + *data_size > s->p.max_upload) u->too_large = 1;
        if (!u->too_large) {
            if (u->size + *data_size > u->cap) {
                size_t cap = (u->size + *data_size) * 2;
                if (cap > s->p.max_upload) cap = s->p.max_upload;
                char *grown = realloc(u->data, cap);
                if (!grown) return MHD_NO;
                u->data = grown, u->cap = cap;
            }
            memcpy(u->data + u->size, data, *data_size);
            u->size += *data_size;
        }
        *data_size = 0;
        return MHD_YES;
    }
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/healthz")) return get ? send_json(s, c, 200, json_pack("{s:s}", "status", "ok"))
                                             : send_error(s, c, 405, "%s %s: use GET", method, url);
    if (!authorized(s, c)) return send_error(s, c, 401, "%s: a bearer token is required (Authorization: Bearer ...)", url);
    if (u->too_large)
        return send_error(s, c, 413, "%s: the request body is larger than %zu bytes", url, s->p.max_upload);
    if (!strcmp(url, "/metrics")) return get ? metrics(s, c) : send_error(s, c, 405, "%s %s: use GET", method, url);
    if (!strcmp(url, "/api/v1/people")) return get ? people(s, c) : send_error(s, c, 405, "%s %s: use GET", method, url);
    if (!strncmp(url, "/api/v1/people/", 15)) {
        char name[4 * FID_NAME_MAX];
        const char *rest;
        if (!person_from_url(url, name, sizeof name, &rest)) return send_error(s, c, 404, "%s: no such resource", url);
        if (!strcmp(rest, "/photos"))
            return post ? enroll_photo(s, c, name, u) : send_error(s, c, 405, "%s %s: use POST with a photo", method, url);
        if (!*rest && !strcmp(method, "DELETE")) return delete_person(s, c, name);
        return send_error(s, c, *rest ? 404 : 405, "%s %s: not a resource or method of the API", method, url);
    }
    if (!strcmp(url, "/api/v1/identify"))
        return post ? identify(s, c, u) : send_error(s, c, 405, "%s %s: use POST with an image", method, url);
    return send_error(s, c, 404, "%s: no such resource (see /api/v1/people, /api/v1/identify, /metrics, /healthz)", url);
}

static void request_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    upload *u = *state;
    if (u) free(u->data);
    free(u);
    *state = NULL;
}

fid_server *fid_server_start(const fid_server_params *params, fid_detector *detector, fid_embedder *embedder,
                             fid_gallery *gallery, char *why, size_t why_size) {
    fid_server_params p = params ? *params : fid_server_default_params();
    if (!p.listen) p.listen = "127.0.0.1:8080";
    char host[64];
    const char *colon = strrchr(p.listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - p.listen) >= sizeof host || *end || colon[1] == 0 || port < 0 || port > 65535) {
        snprintf(why, why_size, "--listen %s: want ADDR:PORT (e.g. 127.0.0.1:8080)", p.listen);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - p.listen), p.listen);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(why, why_size, "--listen %s: '%s' is not an IPv4 address", p.listen, host);
        return NULL;
    }
    addr.sin_port = htons((uint16_t)port);
    int loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && (!p.token || strlen(p.token) < 16)) {
        /* faces and names over the network: never without a secret */
        snprintf(why, why_size, "--listen %s: beyond 127.0.0.0/8 the API needs a token of 16 or more characters "
                                "(--token or FID_TOKEN)",
                 p.listen);
        return NULL;
    }
    fid_server *s = calloc(1, sizeof *s);
    if (!s || (p.token && !(s->token = strdup(p.token)))) {
        free(s);
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    s->p = p;
    s->detector = detector, s->embedder = embedder, s->gallery = gallery;
    pthread_mutex_init(&s->lock, NULL);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, handle, s,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE,
                                 (unsigned)(p.threads > 0 ? p.threads : 2), MHD_OPTION_NOTIFY_COMPLETED, request_done,
                                 s, MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
    if (!s->daemon) {
        snprintf(why, why_size, "--listen %s: cannot listen there (in use, or not this machine's address)", p.listen);
        pthread_mutex_destroy(&s->lock);
        free(s->token);
        free(s);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info ? info->port : (int)port;
    return s;
}

int fid_server_port(const fid_server *s) { return s ? s->port : 0; }


void fid_server_stop(fid_server *s) {
    if (!s) return;
    MHD_stop_daemon(s->daemon);
    fid_matcher_free(s->matcher);
    pthread_mutex_destroy(&s->lock);
    free(s->token);
    free(s);
}
