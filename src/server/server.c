#define _GNU_SOURCE /* strptime, timegm */
/* faceid's HTTP API and web page on libmicrohttpd (openapi/faceid-api.json describes every
 * route). Every answer is JSON except /metrics (Prometheus text), images, the MJPEG live view,
 * the SSE event stream and the page's static files; every error is a 4xx/5xx with
 * {"error": "one line"}. A thread per connection (at most max_connections), so a live view or an
 * event stream can wait for the next frame or event without holding up other requests. Requests
 * that run the networks take turns on one lock (the request models keep per-call state); the
 * cameras have their own models (the identifier's). */
#include "server/server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gallery/gallery.h"
#include "image/image.h"
#include "server/service.h"
#include "server/web.h"
#include "util/clock.h"
#include "util/file.h"
#include "util/json.h"
#include "util/text.h"

/* ---- requests and answers ------------------------------------------------------------------ */

typedef struct part {
    char *key, *filename;
    char *data;
    size_t size;
} part;

/* What MHD keeps for one request while its body arrives. */
typedef struct upload {
    char *data; /* the raw body, when it is not multipart */
    size_t size, cap, total;
    int too_large, bad_form;
    struct MHD_PostProcessor *pp;
    part *parts;
    int n_parts;
} upload;

fid_server_params fid_server_default_params(void) {
    fid_server_params p = {.listen = "127.0.0.1:8080",
                           .max_upload = 20u << 20,
                           .max_connections = 64,
                           .crops_hours = 24,
                           .events_hours = 168,
                           .max_unknown_groups = 100,
                           .threshold = NAN};
    p.mqtt.port = 1883;
    p.mqtt.prefix = "faceid";
    return p;
}

static enum MHD_Result queue(fid_server *s, struct MHD_Connection *c, unsigned code, struct MHD_Response *r,
                             const char *type) {
    if (!r) return MHD_NO;
    if (type) MHD_add_response_header(r, "Content-Type", type);
    MHD_add_response_header(r, "Cache-Control", "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ok = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    if (code / 100 < 6) atomic_fetch_add(&s->requests[code / 100], 1);
    return ok;
}

static enum MHD_Result send_buffer(fid_server *s, struct MHD_Connection *c, unsigned code, const char *type,
                                   void *body, size_t size) {
    struct MHD_Response *r = MHD_create_response_from_buffer(size, body, MHD_RESPMEM_MUST_FREE);
    if (!r) free(body);
    return queue(s, c, code, r, type);
}

static enum MHD_Result send_text(fid_server *s, struct MHD_Connection *c, unsigned code, const char *type,
                                 char *body) {
    return send_buffer(s, c, code, type, body, strlen(body));
}

static enum MHD_Result send_json(fid_server *s, struct MHD_Connection *c, unsigned code, json_t *doc) {
    char *text = doc ? json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
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
    return send_json(s, c, code, json_pack("{s:o}", "error", fid__json_text(msg)));
}

/* A gallery call's failure: 503 when the store is away (a database restarting: try again), else 500. */
static unsigned gallery_code(fid_status st) { return st == FID_ERR_IO ? 503 : 500; }

static enum MHD_Result send_empty(fid_server *s, struct MHD_Connection *c, unsigned code) {
    return queue(s, c, code, MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT), NULL);
}

static const char *arg(struct MHD_Connection *c, const char *key) {
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

/* Logs when the gallery goes away and when it is back (once each, not per call). */
static void gallery_state(fid_server *s, int up, const char *why) {
    if (up) atomic_store(&s->gallery_synced, fid__wall_s());
    if (up == atomic_load(&s->gallery_up)) return;
    atomic_store(&s->gallery_up, up);
    if (!up) {
        atomic_fetch_add(&s->gallery_outages, 1);
        snprintf(s->gallery_error, sizeof s->gallery_error, "%s", why);
        fprintf(stderr, "faceid: gallery: %s; identifying with the copy in memory (%d people) until it is back\n", why,
                fid_matcher_people(s->matcher));
    } else {
        s->gallery_error[0] = 0;
        fprintf(stderr, "faceid: gallery %s: reachable again, in sync (version %llu)\n",
                fid__gallery_where(s->m.gallery), (unsigned long long)s->matcher_version);
    }
}

const fid_matcher *srv_current_matcher(fid_server *s) {
    uint64_t v;
    if (fid_gallery_version(s->m.gallery, &v) != FID_OK) {
        gallery_state(s, 0, fid_last_error());
        return s->matcher;
    }
    if (!s->matcher || v != s->matcher_version) {
        fid_status st;
        fid_matcher_params mp = fid_matcher_default_params();
        mp.threshold = s->p.threshold;
        /* only the people in the change log since our copy, when the gallery keeps one */
        fid_matcher *m = fid__matcher_refresh(s->matcher, s->matcher_version, s->m.gallery, &mp, &v, &st);
        if (!m) {
            gallery_state(s, 0, fid_last_error());
            return s->matcher;
        }
        fid_matcher_free(s->matcher);
        s->matcher = m;
        s->matcher_version = v;
        atomic_fetch_add(&s->matcher_refreshes, 1);
    }
    gallery_state(s, 1, "");
    return s->matcher;
}

/* The uploaded files: a multipart form's file parts, or the raw body as one. */
static int files_of(upload *u, part *out, int cap) {
    int n = 0;
    if (!u->n_parts && u->size) {
        out[0] = (part){NULL, "request body", u->data, u->size};
        return 1;
    }
    for (int i = 0; i < u->n_parts && n < cap; i++)
        if (u->parts[i].filename) out[n++] = u->parts[i];
    return n;
}

/* A form field (not a file); NULL when absent. The value is NUL-terminated by the collector. */
static const char *field(upload *u, const char *key) {
    for (int i = 0; i < u->n_parts; i++)
        if (!u->parts[i].filename && !strcmp(u->parts[i].key, key)) return u->parts[i].data;
    return NULL;
}

static int truthy(const char *v) { return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes")); }

static unsigned status_for(fid_status st) {
    return st == FID_ERR_TOO_LARGE ? 413 : st == FID_ERR_NO_MEMORY ? 503 : 400;
}

/* ---- identify and verify -------------------------------------------------------------------- */

static enum MHD_Result identify(fid_server *s, struct MHD_Connection *c, upload *u) {
    part f[1];
    if (!files_of(u, f, 1)) return send_error(s, c, 400, "identify: send an image (JPEG, PNG or WebP) as the body");
    fid_status st;
    fid_image *im = fid__image_decode((const unsigned char *)f[0].data, f[0].size, f[0].filename, &st);
    if (!im) return send_error(s, c, status_for(st), "%s", fid_last_error());
    double t0 = fid__monotonic_s();
    pthread_mutex_lock(&s->lock);
    const fid_matcher *m = srv_current_matcher(s);
    fid_detection dets[64];
    int n = m ? fid_detector_run(s->m.detector, im, dets, 64, &st) : -1;
    json_t *faces = json_array();
    float *desc = malloc((size_t)fid_embedder_dim(s->m.embedder) * sizeof *desc);
    int failed = n < 0 || !desc;
    for (int i = 0; i < n && i < 64 && !failed; i++) {
        fid_face face;
        fid_match match;
        if (fid_embedder_describe(s->m.embedder, im, &dets[i], &face, desc) != FID_OK ||
            fid_matcher_match(m, desc, &match) != FID_OK) {
            failed = 1;
            break;
        }
        json_t *j = json_pack("{s:o,s:o,s:o}", "box", fid__json_box(dets[i].box), "score",
                              fid__json_number(dets[i].score), "name", fid__json_text(match.name));
        /* what decided; a stranger's distance and runner-up name nobody enrolled, so they stay out */
        json_object_set_new(j, "threshold", fid__json_number(match.threshold));
        if (match.known) {
            json_object_set_new(j, "distance", fid__json_number(match.distance));
            if (isfinite(match.margin)) json_object_set_new(j, "margin", fid__json_number(match.margin));
        }
        atomic_fetch_add(match.known ? &s->identified : &s->strangers, 1);
        json_array_append_new(faces, j);
    }
    pthread_mutex_unlock(&s->lock);
    srv_histogram_add(&s->identify_latency, fid__monotonic_s() - t0);
    free(desc);
    fid_image_free(im);
    if (failed) {
        json_decref(faces);
        return send_error(s, c, m ? 500 : 503, "identify: %s", m ? fid_last_error() : "the gallery cannot be read");
    }
    return send_json(s, c, 200, json_pack("{s:o}", "faces", faces));
}

/* The largest face of an uploaded image and its descriptor. 0, or an HTTP status after sending. */
static int largest_face(fid_server *s, const part *f, fid_box *box, float *desc, const char **why) {
    fid_status st;
    fid_image *im = fid__image_decode((const unsigned char *)f->data, f->size, f->filename, &st);
    if (!im) {
        *why = fid_last_error();
        return status_for(st);
    }
    fid_detection dets[64];
    int n = fid_detector_run(s->m.detector, im, dets, 64, &st), best = -1;
    for (int i = 0; i < n && i < 64; i++)
        if (best < 0 || dets[i].box.width * dets[i].box.height > dets[best].box.width * dets[best].box.height) best = i;
    int code = 0;
    fid_face face;
    if (n < 0 || (best >= 0 && fid_embedder_describe(s->m.embedder, im, &dets[best], &face, desc) != FID_OK))
        *why = fid_last_error(), code = 500;
    else if (best < 0)
        *why = "no face found", code = 422;
    else
        *box = dets[best].box;
    fid_image_free(im);
    return code;
}

static enum MHD_Result verify(fid_server *s, struct MHD_Connection *c, upload *u) {
    part f[2];
    if (files_of(u, f, 2) != 2)
        return send_error(s, c, 400, "verify: send a multipart form with two image files (fields a and b)");
    int dim = fid_embedder_dim(s->m.embedder);
    float *d = malloc(2 * (size_t)dim * sizeof *d);
    if (!d) return send_error(s, c, 503, "verify: out of memory");
    fid_box box[2];
    const char *why = "";
    char reason[512];
    int code = 0, which = 0;
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < 2 && !code; i++)
        if ((code = largest_face(s, &f[i], &box[i], d + (size_t)i * dim, &why))) which = i;
    snprintf(reason, sizeof reason, "%s", why); /* copied under the lock: the last error is per thread anyway */
    float dist = code ? 0 : fid_embedder_distance(s->m.embedder, d, d + dim);
    float thr = fid_embedder_threshold(s->m.embedder);
    pthread_mutex_unlock(&s->lock);
    free(d);
    if (code) return send_error(s, c, (unsigned)code, "verify: %s: %s", f[which].filename, reason);
    return send_json(s, c, 200,
                     json_pack("{s:o,s:o,s:b,s:[o,o]}", "distance", fid__json_number(dist), "threshold",
                               fid__json_number(thr), "same", dist < thr, "boxes", fid__json_box(box[0]),
                               fid__json_box(box[1])));
}

/* ---- people ---------------------------------------------------------------------------------- */

static const char *verdict_text(fid_enroll_verdict v) {
    static const char *t[] = {"kept", "no face found", "face too small", "detector score too low", "face too blurry",
                              "face turned too far", "same as an earlier sample", "better samples already kept",
                              "landmarks do not form a frontal face"};
    return (unsigned)v < sizeof t / sizeof *t ? t[v] : "refused";
}

static int person_samples(fid_server *s, const char *name) {
    fid_status st;
    int n = fid_gallery_people(s->m.gallery, NULL, 0, &st), samples = -1;
    fid_person_info *all = n > 0 ? calloc((size_t)n, sizeof *all) : NULL;
    if (all && fid_gallery_people(s->m.gallery, all, n, &st) >= 0)
        for (int i = 0; i < n; i++)
            if (!strcmp(all[i].name, name)) samples = all[i].samples;
    free(all);
    return samples;
}

/* NULL when `name` is new or the k descriptors look like them (the median face within the 1:N
 * threshold of their nearest sample), else the 409 answer: each face's distance to them. Under
 * s->lock. */
static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static json_t *mismatch_with(fid_server *s, const char *name, const float *d, int k, fid_status *st) {
    float near[SRV_GROUP_FACES], sorted[SRV_GROUP_FACES];
    if (k > SRV_GROUP_FACES) k = SRV_GROUP_FACES;
    int samples = fid__gallery_distances(s->m.gallery, name, d, k, near, st);
    if (samples <= 0) return NULL; /* a new name, or *st says why not */
    const fid_matcher *m = srv_current_matcher(s);
    float t = m ? fid_matcher_threshold(m) : fid_embedder_threshold(s->m.embedder);
    memcpy(sorted, near, (size_t)k * sizeof *sorted);
    qsort(sorted, (size_t)k, sizeof *sorted, cmp_float);
    float median = sorted[k / 2];
    if (median < t) return NULL;
    json_t *dist = json_array();
    for (int i = 0; i < k; i++)
        json_array_append_new(dist, fid__json_number(near[i]));
    return json_pack("{s:s,s:o,s:o,s:o,s:i}", "error",
                     "the group does not look like the person of that name (send \"force\": true to add it anyway)",
                     "distances", dist, "median", fid__json_number(median), "threshold", fid__json_number(t), "samples",
                     samples);
}

static json_t *report_json(const char *file, const fid_enroll_report *r) {
    json_t *j = json_pack("{s:o,s:s,s:i}", "file", fid__json_text(file), "verdict", verdict_text(r->verdict),
                          "faces", r->faces);
    if (r->gate && *r->gate) json_object_set_new(j, "gate", json_string(r->gate));
    if (r->limit > 0) {
        json_object_set_new(j, "value", fid__json_number(r->value));
        json_object_set_new(j, "limit", fid__json_number(r->limit));
    }
    if (r->faces) {
        json_object_set_new(j, "size", json_integer((json_int_t)lroundf(fminf(r->box.width, r->box.height))));
        if (r->sharpness > 0) json_object_set_new(j, "sharpness", fid__json_number(r->sharpness));
    }
    if (r->forced) json_object_set_new(j, "forced", json_true());
    return j;
}

/* A clip: its frames through the video gates. The upload goes to a private temporary file for
 * FFmpeg, removed at once. */
static fid_status enroll_clip(fid_enrollment *e, const part *f, json_t *reports) {
    char path[] = "/tmp/faceid-clip-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return FID_ERR_IO;
    size_t done = 0;
    while (done < f->size) {
        ssize_t k = write(fd, f->data + done, f->size - done);
        if (k <= 0) break;
        done += (size_t)k;
    }
    close(fd);
    fid_status st = done == f->size ? FID_OK : FID_ERR_IO;
    fid_video *v = st == FID_OK ? fid_video_open(path, NULL, &st) : NULL;
    unlink(path);
    if (!v) return st;
    int before = fid_enrollment_count(e), frames = 0;
    const fid_image *frame;
    while ((st = fid_video_read(v, &frame, NULL)) == FID_OK && frames < 3000) {
        frames++;
        if ((st = fid_enrollment_add(e, frame, f->filename, NULL)) != FID_OK) break;
    }
    fid_video_close(v);
    if (st == FID_END) st = FID_OK;
    json_array_append_new(reports, json_pack("{s:o,s:s,s:i,s:i}", "file", fid__json_text(f->filename), "verdict",
                                             fid_enrollment_count(e) > before ? "kept" : "no usable face", "frames",
                                             frames, "kept", fid_enrollment_count(e) - before));
    return st;
}

/* Enrolls the uploaded photos and clips as `name`: photos through the photo gates (forced with
 * force), clips through the video gates; all kept samples land in one transaction. */
static enum MHD_Result enroll(fid_server *s, struct MHD_Connection *c, const char *name, upload *u, int create) {
    if (fid_person_name_check(name) != FID_OK) return send_error(s, c, 400, "%s", fid_last_error());
    part f[64];
    int nf = files_of(u, f, 64);
    if (!nf) return send_error(s, c, 400, "enroll: send photos or clips (a multipart form, or one image as the body)");
    int force = truthy(arg(c, "force")) || truthy(field(u, "force"));
    json_t *reports = json_array();
    fid_status st = FID_OK;
    int kept = 0, samples = -1, exists;
    pthread_mutex_lock(&s->lock);
    exists = person_samples(s, name) >= 0;
    fid_enrollment *e = create && exists ? NULL : fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st);
    for (int i = 0; e && i < nf && st == FID_OK; i++) {
        fid_image *im = fid__image_decode((const unsigned char *)f[i].data, f[i].size, f[i].filename, &st);
        if (im) {
            fid_enroll_report r;
            st = fid_enrollment_add_photo(e, im, f[i].filename, force, &r);
            if (st == FID_OK) json_array_append_new(reports, report_json(f[i].filename, &r));
            fid_image_free(im);
        } else if (st == FID_ERR_UNSUPPORTED) {
            st = enroll_clip(e, &f[i], reports); /* not an image: a clip, or neither */
            if (st != FID_OK) {
                json_array_append_new(reports, json_pack("{s:o,s:s}", "file", fid__json_text(f[i].filename),
                                                         "verdict", "neither an image nor a video"));
                st = FID_OK;
            }
        }
    }
    int n = e && st == FID_OK ? fid_enrollment_count(e) : 0, dim = fid_embedder_dim(s->m.embedder);
    float *d = n ? malloc((size_t)n * dim * sizeof *d) : NULL, *q = n ? malloc((size_t)n * sizeof *q) : NULL;
    if (n && d && q) {
        for (int i = 0; i < n; i++)
            fid_enrollment_sample(e, i, d + (size_t)i * dim, &q[i], NULL, NULL, NULL);
        if ((st = fid_gallery_add(s->m.gallery, name, d, n, q, NULL)) == FID_OK) kept = n;
    } else if (n && st == FID_OK) {
        st = FID_ERR_NO_MEMORY;
    }
    if (kept) samples = person_samples(s, name);
    pthread_mutex_unlock(&s->lock);
    free(d), free(q);
    fid_enrollment_free(e);
    if (create && exists) {
        json_decref(reports);
        return send_error(s, c, 409, "'%s' is already in the gallery (add samples with POST /api/v1/people/NAME/photos)",
                          name);
    }
    if (st != FID_OK) {
        json_decref(reports);
        return send_error(s, c, st == FID_ERR_FORMAT ? 400 : st == FID_ERR_TOO_LARGE ? 413 : gallery_code(st),
                          "enroll: %s", fid_last_error());
    }
    if (!kept) /* every file refused by a gate: say which and by how much, like the CLI */
        return send_json(s, c, 422,
                         json_pack("{s:s,s:o}", "error", "no sample kept: every face was refused by a quality gate",
                                   "files", reports));
    return send_json(s, c, 201, json_pack("{s:o,s:i,s:i,s:o}", "name", fid__json_text(name), "samples", samples,
                                          "added", kept, "files", reports));
}

static enum MHD_Result delete_person(fid_server *s, struct MHD_Connection *c, const char *name) {
    pthread_mutex_lock(&s->lock);
    fid_status st = fid_gallery_remove(s->m.gallery, name);
    pthread_mutex_unlock(&s->lock);
    if (st == FID_ERR_NOT_FOUND) return send_error(s, c, 404, "no person named '%s'", name);
    if (st != FID_OK) return send_error(s, c, gallery_code(st), "%s", fid_last_error());
    srv_events_forget(s, name); /* their crops and retained presence go with them */
    return send_empty(s, c, 204);
}

/* {"name": "..."} from a JSON body; NULL (after sending 400) otherwise. Caller decrefs *doc. */
static const char *json_name(fid_server *s, struct MHD_Connection *c, upload *u, json_t **doc, enum MHD_Result *r) {
    json_error_t err;
    *doc = u->size ? json_loadb(u->data, u->size, 0, &err) : NULL;
    const char *name = *doc ? json_string_value(json_object_get(*doc, "name")) : NULL;
    if (!name)
        *r = send_error(s, c, 400, "send a JSON object with a \"name\" string%s%s", *doc || !u->size ? "" : ": ",
                        *doc || !u->size ? "" : err.text);
    return name;
}

static enum MHD_Result rename_person(fid_server *s, struct MHD_Connection *c, const char *from, upload *u) {
    json_t *doc;
    enum MHD_Result r = MHD_NO;
    const char *to = json_name(s, c, u, &doc, &r);
    if (!to) {
        json_decref(doc);
        return r;
    }
    fid_status st = fid_person_name_check(to);
    int taken = 0;
    if (st == FID_OK) {
        pthread_mutex_lock(&s->lock);
        taken = person_samples(s, to) >= 0 && strcmp(from, to);
        if (!taken) st = fid_gallery_rename(s->m.gallery, from, to);
        pthread_mutex_unlock(&s->lock);
    }
    if (taken)
        r = send_error(s, c, 409, "'%s' is already in the gallery", to);
    else if (st == FID_OK)
        r = send_json(s, c, 200, json_pack("{s:o}", "name", fid__json_text(to)));
    else if (st == FID_ERR_NOT_FOUND)
        r = send_error(s, c, 404, "no person named '%s'", from);
    else
        r = send_error(s, c, st == FID_ERR_INVALID_ARGUMENT ? 400 : 500, "%s", fid_last_error());
    json_decref(doc);
    return r;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const fid_person_info *)a)->name, ((const fid_person_info *)b)->name);
}

static enum MHD_Result people(fid_server *s, struct MHD_Connection *c) {
    fid_status st;
    pthread_mutex_lock(&s->lock);
    int n = fid_gallery_people(s->m.gallery, NULL, 0, &st);
    fid_person_info *list = n > 0 ? calloc((size_t)n, sizeof *list) : NULL;
    if (n > 0) n = list ? fid_gallery_people(s->m.gallery, list, n, &st) : -1;
    pthread_mutex_unlock(&s->lock);
    if (n < 0) {
        free(list);
        return send_error(s, c, gallery_code(st), "%s", fid_last_error());
    }
    /* each person's face: the crop of their latest event still kept (one pass over the events) */
    uint64_t *face = n > 0 ? calloc((size_t)n, sizeof *face) : NULL;
    if (face) {
        qsort(list, (size_t)n, sizeof *list, by_name);
        pthread_mutex_lock(&s->ev_lock);
        for (uint64_t id = s->next_event; id-- > s->first_event;) {
            const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
            fid_person_info key;
            if (!ev->crop || !strcmp(ev->e.track.name, "?")) continue;
            snprintf(key.name, sizeof key.name, "%s", ev->e.track.name);
            fid_person_info *hit = bsearch(&key, list, (size_t)n, sizeof *list, by_name);
            if (hit && !face[hit - list]) face[hit - list] = id;
        }
        pthread_mutex_unlock(&s->ev_lock);
    }
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        json_t *j = json_pack("{s:o,s:i}", "name", fid__json_text(list[i].name), "samples", list[i].samples);
        if (face && face[i]) {
            char url[64];
            snprintf(url, sizeof url, "/api/v1/events/%llu/crop.jpg", (unsigned long long)face[i]);
            json_object_set_new(j, "face", json_string(url));
        }
        json_array_append_new(arr, j);
    }
    free(face);
    free(list);
    return send_json(s, c, 200, json_pack("{s:o}", "people", arr));
}

/* The gallery's export (the file `faceid export` writes), through a private temporary file. */
static enum MHD_Result export_gallery(fid_server *s, struct MHD_Connection *c) {
    char dir[] = "/tmp/faceid-export-XXXXXX", path[64];
    if (!mkdtemp(dir)) return send_error(s, c, 500, "export: cannot make a temporary directory");
    snprintf(path, sizeof path, "%s/export.json", dir);
    pthread_mutex_lock(&s->lock);
    fid_status st = fid_gallery_export(s->m.gallery, path);
    pthread_mutex_unlock(&s->lock);
    size_t size = 0;
    unsigned char *data = NULL;
    if (st == FID_OK) st = fid__read_file(path, 1u << 30, &data, &size);
    unlink(path);
    rmdir(dir);
    if (!data) return send_error(s, c, gallery_code(st), "export: %s", fid_last_error());
    return send_buffer(s, c, 200, "application/json", data, size);
}

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
    pthread_mutex_unlock(&c->lock);
    return j;
}

static enum MHD_Result cameras(fid_server *s, struct MHD_Connection *c) {
    json_t *arr = json_array();
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++)
        json_array_append_new(arr, camera_json(s->cams[i]));
    pthread_mutex_unlock(&s->cams_lock);
    return send_json(s, c, 200, json_pack("{s:o}", "cameras", arr));
}

static enum MHD_Result snapshot(fid_server *s, struct MHD_Connection *c, const char *name) {
    unsigned char *jpeg = NULL;
    size_t size;
    uint64_t seq;
    int r = srv_camera_jpeg(s, name, 0, truthy(arg(c, "raw")), &jpeg, &size, &seq);
    if (r == -1) return send_error(s, c, 404, "no camera named '%s'", name);
    if (r == 2 || r == 1) return send_error(s, c, 503, "camera %s: no frame yet", name);
    if (r != 0) return send_error(s, c, 500, "camera %s: cannot encode the frame", name);
    return send_buffer(s, c, 200, "image/jpeg", jpeg, size);
}

/* The live view: multipart/x-mixed-replace JPEGs, at most 10 a second, for as long as the client
 * watches. The callback may wait: each connection has its own thread. */
/* Bytes a streaming response has made and not yet handed to libmicrohttpd. Streams' states start
 * with one, so one function frees them all. */
typedef struct pending {
    char *buf;
    size_t len, pos;
} pending;

static ssize_t pending_take(pending *p, char *out, size_t max) {
    size_t n = p->len - p->pos < max ? p->len - p->pos : max;
    memcpy(out, p->buf + p->pos, n);
    p->pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    free(((pending *)cls)->buf);
    free(cls);
}

typedef struct mjpeg {
    pending out;
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
    return pending_take(&m->out, out, max);
}

static enum MHD_Result stream(fid_server *s, struct MHD_Connection *c, const char *name) {
    int known = 0;
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++)
        known |= !strcmp(s->cams[i]->cfg.name, name);
    pthread_mutex_unlock(&s->cams_lock);
    if (!known) return send_error(s, c, 404, "no camera named '%s'", name);
    mjpeg *m = calloc(1, sizeof *m);
    if (!m) return send_error(s, c, 503, "out of memory");
    m->s = s;
    m->last = fid__monotonic_s();
    snprintf(m->camera, sizeof m->camera, "%s", name);
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, mjpeg_read, m, stream_free);
    return queue(s, c, 200, r, "multipart/x-mixed-replace; boundary=frame");
}

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

static enum MHD_Result events(fid_server *s, struct MHD_Connection *c) {
    double since = -INFINITY, until = INFINITY;
    const char *v, *camera = arg(c, "camera"), *name = arg(c, "name");
    int limit = 100;
    if ((v = arg(c, "since")) && parse_time(v, &since))
        return send_error(s, c, 400, "since=%s: want Unix seconds or ISO-8601 (2026-11-28T10:00:00Z)", v);
    if ((v = arg(c, "until")) && parse_time(v, &until))
        return send_error(s, c, 400, "until=%s: want Unix seconds or ISO-8601 (2026-11-28T10:00:00Z)", v);
    if ((v = arg(c, "limit"))) {
        char *end;
        long l = strtol(v, &end, 10);
        if (*end || end == v || l < 1 || l > 10000) return send_error(s, c, 400, "limit=%s: want 1..10000", v);
        limit = (int)l;
    }
    json_t *arr = json_array();
    pthread_mutex_lock(&s->ev_lock);
    /* newest first, then reversed: the last `limit` matching, oldest first */
    for (uint64_t id = s->next_event; id-- > s->first_event && (int)json_array_size(arr) < limit;) {
        const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (ev->e.wall < since || ev->e.wall > until) continue;
        if (camera && strcmp(camera, ev->camera)) continue;
        if (name && strcmp(name, ev->e.track.name)) continue;
        json_array_insert_new(arr, 0, srv_event_json(ev));
    }
    pthread_mutex_unlock(&s->ev_lock);
    return send_json(s, c, 200, json_pack("{s:o}", "events", arr));
}

static enum MHD_Result event_crop(fid_server *s, struct MHD_Connection *c, uint64_t id) {
    unsigned char *copy = NULL;
    size_t size = 0;
    pthread_mutex_lock(&s->ev_lock);
    if (id >= s->first_event && id < s->next_event) {
        const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        if (ev->crop && (copy = malloc(ev->crop_size))) memcpy(copy, ev->crop, size = ev->crop_size);
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (!copy) return send_error(s, c, 404, "event %llu has no crop (unknown, expired or deleted)", (unsigned long long)id);
    return send_buffer(s, c, 200, "image/jpeg", copy, size);
}

/* Server-Sent Events: every new event as `id: N`, `event: face`, `data: JSON`; a comment every
 * 15 s keeps proxies from closing an idle stream; Last-Event-ID resumes after a reconnect. */
typedef struct sse {
    pending out;
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
    return pending_take(&x->out, out, max);
}

static enum MHD_Result event_stream(fid_server *s, struct MHD_Connection *c) {
    sse *x = calloc(1, sizeof *x);
    if (!x) return send_error(s, c, 503, "out of memory");
    x->s = s;
    x->quiet_since = fid__monotonic_s();
    const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
    pthread_mutex_lock(&s->ev_lock);
    x->next = last ? strtoull(last, NULL, 10) + 1 : s->next_event;
    if (x->next > s->next_event) x->next = s->next_event;
    pthread_mutex_unlock(&s->ev_lock);
    /* the first bytes at once: a client knows the stream is open before any event happens */
    x->out.buf = strdup(": faceid events\n\n");
    x->out.len = x->out.buf ? strlen(x->out.buf) : 0;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, x, stream_free);
    return queue(s, c, 200, r, "text/event-stream");
}

/* ---- unknown faces --------------------------------------------------------------------------- */

static enum MHD_Result unknown_groups(fid_server *s, struct MHD_Connection *c) {
    json_t *arr = json_array();
    pthread_mutex_lock(&s->ev_lock);
    for (int i = 0; i < s->n_groups; i++) {
        const srv_group *g = &s->groups[i];
        json_t *faces = json_array();
        for (int k = 0; k < g->n; k++) {
            const srv_face *f = &g->faces[k];
            char when[32], url[96];
            fid__iso_time(f->wall, when);
            snprintf(url, sizeof url, "/api/v1/unknown/%llu/faces/%llu.jpg", (unsigned long long)g->id,
                     (unsigned long long)f->id);
            json_t *j = json_pack("{s:I,s:s,s:s,s:i,s:o,s:o,s:o,s:b,s:s}", "id", (json_int_t)f->id, "camera", f->camera,
                                  "time", when, "size", f->size, "sharpness", fid__json_number(f->sharpness), "score",
                                  fid__json_number(f->score), "turn", fid__json_number(f->turn), "passes", !*f->gate,
                                  "crop", url);
            if (*f->gate) json_object_set_new(j, "gate", json_string(f->gate));
            /* where it was seen: faces of one frame on one camera are never one group */
            json_object_set_new(j, "track", json_integer(f->track));
            json_object_set_new(j, "frame", json_integer((json_int_t)f->frame));
            json_array_append_new(faces, j);
        }
        char first[32], last[32];
        fid__iso_time(g->first, first);
        fid__iso_time(g->last, last);
        float t = atomic_load(&s->group_threshold);
        json_t *consistency = json_pack("{s:o,s:o,s:o}", "mean_distance", fid__json_number(g->spread_mean),
                                        "max_distance", fid__json_number(g->spread_max), "threshold",
                                        fid__json_number(t > 0 ? t : fid_embedder_threshold(s->m.embedder)));
        json_array_append_new(arr, json_pack("{s:I,s:s,s:s,s:i,s:o,s:o}", "id", (json_int_t)g->id, "first_seen", first,
                                             "last_seen", last, "sightings", g->sightings, "consistency", consistency,
                                             "faces", faces));
    }
    pthread_mutex_unlock(&s->ev_lock);
    return send_json(s, c, 200, json_pack("{s:o}", "groups", arr));
}

static int find_group(fid_server *s, uint64_t id) {
    for (int i = 0; i < s->n_groups; i++)
        if (s->groups[i].id == id) return i;
    return -1;
}

static enum MHD_Result unknown_face(fid_server *s, struct MHD_Connection *c, uint64_t gid, uint64_t fid) {
    unsigned char *copy = NULL;
    size_t size = 0;
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    for (int k = 0; g >= 0 && k < s->groups[g].n; k++) {
        const srv_face *f = &s->groups[g].faces[k];
        if (f->id == fid && (copy = malloc(f->jpeg_size))) memcpy(copy, f->jpeg, size = f->jpeg_size);
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (!copy) return send_error(s, c, 404, "no face %llu in group %llu", (unsigned long long)fid, (unsigned long long)gid);
    return send_buffer(s, c, 200, "image/jpeg", copy, size);
}

static enum MHD_Result dismiss_group(fid_server *s, struct MHD_Connection *c, uint64_t gid) {
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    if (g >= 0) {
        srv_group *gr = &s->groups[g];
        for (int k = 0; k < gr->n; k++) {
            free(gr->faces[k].jpeg), free(gr->faces[k].descriptor);
            fid_image_free(gr->faces[k].image);
        }
        free(gr->centroid);
        s->groups[g] = s->groups[--s->n_groups];
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (g < 0) return send_error(s, c, 404, "no unknown group %llu", (unsigned long long)gid);
    return send_empty(s, c, 204);
}

/* Names a group: its crops go through the photo gates like uploaded photos (with "force": true
 * also those a gate refuses), the kept ones become the person's samples, and the group goes. */
static enum MHD_Result name_group(fid_server *s, struct MHD_Connection *c, uint64_t gid, upload *u) {
    json_t *doc;
    enum MHD_Result r = MHD_NO;
    const char *name = json_name(s, c, u, &doc, &r);
    if (!name) {
        json_decref(doc);
        return r;
    }
    if (fid_person_name_check(name) != FID_OK) {
        r = send_error(s, c, 400, "%s", fid_last_error());
        json_decref(doc);
        return r;
    }
    int force = json_is_true(json_object_get(doc, "force"));
    /* take the group's images out under ev_lock, enroll under the model lock (never both held) */
    fid_image *ims[SRV_GROUP_FACES];
    uint64_t ids[SRV_GROUP_FACES];
    int n = 0;
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    for (int k = 0; g >= 0 && k < s->groups[g].n; k++) {
        ims[n] = fid_image_copy_into(NULL, s->groups[g].faces[k].image, NULL);
        ids[n] = s->groups[g].faces[k].id;
        if (ims[n]) n++;
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (g < 0) {
        json_decref(doc);
        return send_error(s, c, 404, "no unknown group %llu", (unsigned long long)gid);
    }
    json_t *reports = json_array();
    fid_status st = FID_OK;
    int kept = 0, samples = -1;
    pthread_mutex_lock(&s->lock);
    fid_enrollment *e = fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st);
    for (int i = 0; e && i < n && st == FID_OK; i++) {
        fid_enroll_report rep;
        char label[32];
        snprintf(label, sizeof label, "face %llu", (unsigned long long)ids[i]);
        if ((st = fid_enrollment_add_photo(e, ims[i], label, force, &rep)) == FID_OK)
            json_array_append_new(reports, report_json(label, &rep));
    }
    int k = e && st == FID_OK ? fid_enrollment_count(e) : 0, dim = fid_embedder_dim(s->m.embedder);
    float *d = k ? malloc((size_t)k * dim * sizeof *d) : NULL, *q = k ? malloc((size_t)k * sizeof *q) : NULL;
    json_t *mismatch = NULL;
    if (k && d && q) {
        for (int i = 0; i < k; i++)
            fid_enrollment_sample(e, i, d + (size_t)i * dim, &q[i], NULL, NULL, NULL);
        /* a name already in the gallery: the group must look like that person, or one wrong
         * sample poisons every later answer about them */
        if (!force) mismatch = mismatch_with(s, name, d, k, &st);
        if (!mismatch && st == FID_OK && (st = fid_gallery_add(s->m.gallery, name, d, k, q, NULL)) == FID_OK) kept = k;
        samples = kept ? person_samples(s, name) : -1;
    }
    pthread_mutex_unlock(&s->lock);
    free(d), free(q);
    fid_enrollment_free(e);
    for (int i = 0; i < n; i++)
        fid_image_free(ims[i]);
    if (st != FID_OK) {
        json_decref(doc), json_decref(reports);
        return send_error(s, c, gallery_code(st), "%s", fid_last_error());
    }
    if (mismatch) {
        json_object_set_new(mismatch, "files", reports);
        json_decref(doc);
        return send_json(s, c, 409, mismatch);
    }
    if (!kept) {
        r = send_json(s, c, 422,
                      json_pack("{s:s,s:o}", "error",
                                "no face of the group passes the quality gates (send \"force\": true to keep them anyway)",
                                "files", reports));
        json_decref(doc);
        return r;
    }
    pthread_mutex_lock(&s->ev_lock); /* named: the group is no longer unknown */
    if ((g = find_group(s, gid)) >= 0) {
        srv_group *gr = &s->groups[g];
        for (int i = 0; i < gr->n; i++) {
            free(gr->faces[i].jpeg), free(gr->faces[i].descriptor);
            fid_image_free(gr->faces[i].image);
        }
        free(gr->centroid);
        s->groups[g] = s->groups[--s->n_groups];
    }
    pthread_mutex_unlock(&s->ev_lock);
    r = send_json(s, c, 201, json_pack("{s:o,s:i,s:i,s:o}", "name", fid__json_text(name), "samples", samples, "added",
                                       kept, "files", reports));
    json_decref(doc);
    return r;
}

/* ---- metrics --------------------------------------------------------------------------------- */

static void histogram_text(FILE *f, const char *name, const char *labels, const srv_histogram *h) {
    long cumulative = 0;
    for (int b = 0; b < SRV_BUCKETS; b++) {
        cumulative += atomic_load(&h->bucket[b]);
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %ld\n", name, labels, *labels ? "," : "", srv_bucket_le[b], cumulative);
    }
    cumulative += atomic_load(&h->bucket[SRV_BUCKETS]);
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %ld\n%s_sum%s%s%s %.6f\n%s_count%s%s%s %ld\n", name, labels,
            *labels ? "," : "", cumulative, name, *labels ? "{" : "", labels, *labels ? "}" : "",
            atomic_load(&h->sum), name, *labels ? "{" : "", labels, *labels ? "}" : "", atomic_load(&h->count));
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void label_value(FILE *f, const char *v) {
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') fputc('\\', f);
        if (*v == '\n')
            fputs("\\n", f);
        else
            fputc(*v, f);
    }
}

static enum MHD_Result metrics(fid_server *s, struct MHD_Connection *c) {
    fid_status st;
    pthread_mutex_lock(&s->lock);
    int n_people = fid_gallery_people(s->m.gallery, NULL, 0, &st);
    const fid_matcher *cur = srv_current_matcher(s);
    int matcher_people = fid_matcher_people(cur);
    uint64_t matcher_version = s->matcher_version;
    pthread_mutex_unlock(&s->lock);
    char *out = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&out, &size);
    if (!f) return MHD_NO;
    fprintf(f, "# HELP faceid_http_requests_total HTTP requests answered, by status class.\n"
               "# TYPE faceid_http_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        fprintf(f, "faceid_http_requests_total{code=\"%dxx\"} %ld\n", k, atomic_load(&s->requests[k]));
    fprintf(f, "# HELP faceid_identify_faces_total Faces answered by /api/v1/identify.\n"
               "# TYPE faceid_identify_faces_total counter\n"
               "faceid_identify_faces_total{result=\"known\"} %ld\nfaceid_identify_faces_total{result=\"stranger\"} %ld\n",
            atomic_load(&s->identified), atomic_load(&s->strangers));
    fprintf(f, "# HELP faceid_identify_seconds Time to detect, describe and match one uploaded image.\n"
               "# TYPE faceid_identify_seconds histogram\n");
    histogram_text(f, "faceid_identify_seconds", "", &s->identify_latency);
    fprintf(f, "# HELP faceid_gallery_people People in the gallery (in the copy in memory while it is away).\n"
               "# TYPE faceid_gallery_people gauge\nfaceid_gallery_people %d\n",
            n_people >= 0 ? n_people : matcher_people);
    fprintf(f, "# HELP faceid_gallery_up 1 while the gallery answers (0: a database away; the copy in memory names).\n"
               "# TYPE faceid_gallery_up gauge\nfaceid_gallery_up{backend=\"%s\"} %d\n"
               "# HELP faceid_gallery_outages_total Times the gallery stopped answering.\n"
               "# TYPE faceid_gallery_outages_total counter\nfaceid_gallery_outages_total %ld\n"
               "# HELP faceid_gallery_last_sync_timestamp_seconds When the gallery last answered.\n"
               "# TYPE faceid_gallery_last_sync_timestamp_seconds gauge\nfaceid_gallery_last_sync_timestamp_seconds %.3f\n"
               "# HELP faceid_gallery_version The gallery version the matcher in use reflects.\n"
               "# TYPE faceid_gallery_version gauge\nfaceid_gallery_version %llu\n"
               "# HELP faceid_matcher_refreshes_total Matchers made after a gallery change.\n"
               "# TYPE faceid_matcher_refreshes_total counter\nfaceid_matcher_refreshes_total %ld\n",
            fid__gallery_kind(s->m.gallery), atomic_load(&s->gallery_up), atomic_load(&s->gallery_outages),
            atomic_load(&s->gallery_synced), (unsigned long long)matcher_version, atomic_load(&s->matcher_refreshes));
    fprintf(f, "# HELP faceid_camera_frames_total Frames processed per camera.\n# TYPE faceid_camera_frames_total counter\n"
               "# HELP faceid_camera_dropped_total Frames a camera delivered with no time for them.\n"
               "# TYPE faceid_camera_dropped_total counter\n"
               "# HELP faceid_camera_reconnects_total Reconnections of a camera's stream.\n"
               "# TYPE faceid_camera_reconnects_total counter\n"
               "# HELP faceid_camera_up 1 while a camera delivers frames.\n# TYPE faceid_camera_up gauge\n"
               "# HELP faceid_camera_latency_seconds Capture to labels, per frame.\n"
               "# TYPE faceid_camera_latency_seconds histogram\n");
    pthread_mutex_lock(&s->cams_lock);
    for (int i = 0; i < s->n_cams; i++) {
        srv_camera *cam = s->cams[i];
        pthread_mutex_lock(&cam->lock);
        fid_pipeline_stats ps = cam->pipeline ? fid_pipeline_get_stats(cam->pipeline) : (fid_pipeline_stats){0};
        char labels[96];
        snprintf(labels, sizeof labels, "camera=\"%s\"", cam->cfg.name); /* camera names are [A-Za-z0-9_.-] */
        fprintf(f, "faceid_camera_frames_total{%s} %lld\nfaceid_camera_dropped_total{%s} %lld\n"
                   "faceid_camera_reconnects_total{%s} %lld\nfaceid_camera_up{%s} %d\n",
                labels, (long long)cam->frames, labels, (long long)(cam->dropped_before + ps.dropped), labels,
                (long long)(cam->reconnects_before + ps.reconnects), labels, !strcmp(cam->state, "running"));
        pthread_mutex_unlock(&cam->lock);
        histogram_text(f, "faceid_camera_latency_seconds", labels, &cam->latency);
    }
    pthread_mutex_unlock(&s->cams_lock);
    fprintf(f, "# HELP faceid_identifications_total Tracks the cameras named, per name.\n"
               "# TYPE faceid_identifications_total counter\n");
    pthread_mutex_lock(&s->ev_lock);
    for (int i = 0; i < s->n_counts; i++) {
        fputs("faceid_identifications_total{name=\"", f);
        label_value(f, s->counts[i].name);
        fprintf(f, "\"} %ld\n", s->counts[i].n);
    }
    fprintf(f, "# HELP faceid_events_total Events recorded since the start.\n# TYPE faceid_events_total counter\n"
               "faceid_events_total %llu\n# HELP faceid_unknown_groups Groups of strangers waiting for a name.\n"
               "# TYPE faceid_unknown_groups gauge\nfaceid_unknown_groups %d\n",
            (unsigned long long)(s->next_event - 1), s->n_groups);
    pthread_mutex_unlock(&s->ev_lock);
    if (s->mqtt)
        fprintf(f, "# HELP faceid_mqtt_connected 1 while connected to the broker.\n# TYPE faceid_mqtt_connected gauge\n"
                   "faceid_mqtt_connected %d\n# HELP faceid_mqtt_published_total Messages published.\n"
                   "# TYPE faceid_mqtt_published_total counter\nfaceid_mqtt_published_total %ld\n",
                srv_mqtt_connected(s->mqtt), srv_mqtt_published(s->mqtt));
    fclose(f);
    return send_buffer(s, c, 200, "text/plain; version=0.0.4", out, size);
}

/* ---- routing --------------------------------------------------------------------------------- */

static int token_equal(const char *given, size_t a, const char *token) {
    /* compared in constant time: the token is a secret */
    size_t b = strlen(token);
    unsigned diff = (unsigned)(a ^ b);
    for (size_t i = 0; i < b; i++)
        diff |= (unsigned)(unsigned char)(i < a ? given[i] : 0) ^ (unsigned char)token[i];
    return diff == 0;
}

/* Authorization: Bearer TOKEN, or the web page's faceid_token cookie (SameSite=Strict, so another
 * site cannot make a browser send it). */
static int authorized(fid_server *s, struct MHD_Connection *c) {
    if (!s->token) return 1;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7)) return token_equal(h + 7, strlen(h + 7), s->token);
    const char *cookie = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, "faceid_token");
    if (cookie) {
        char decoded[512];
        snprintf(decoded, sizeof decoded, "%s", cookie);
        decoded[MHD_http_unescape(decoded)] = 0;
        return token_equal(decoded, strlen(decoded), s->token);
    }
    return 0;
}

/* The next path segment after *p, percent-decoded into out; 0 when there is none or too long. */
static int segment(const char **p, char *out, size_t size) {
    if (**p != '/') return 0;
    const char *start = *p + 1, *end = strchr(start, '/');
    size_t n = end ? (size_t)(end - start) : strlen(start);
    if (n == 0 || n >= size) return 0;
    memcpy(out, start, n);
    out[n] = 0;
    out[MHD_http_unescape(out)] = 0;
    *p = start + n;
    return 1;
}

static int number_segment(const char **p, const char *suffix, uint64_t *out) {
    char seg[64];
    if (!segment(p, seg, sizeof seg)) return 0;
    size_t n = strlen(seg), k = suffix ? strlen(suffix) : 0;
    if (k && (n <= k || strcmp(seg + n - k, suffix))) return 0;
    seg[n - k] = 0;
    char *end;
    unsigned long long v = strtoull(seg, &end, 10);
    if (*end || end == seg || !isdigit((unsigned char)seg[0])) return 0;
    *out = v;
    return 1;
}

#define WANT(m)                                                                                                        \
    do {                                                                                                               \
        if (strcmp(method, m)) return send_error(s, c, 405, "%s %s: use %s", method, url, m);                          \
    } while (0)

static enum MHD_Result route(fid_server *s, struct MHD_Connection *c, const char *url, const char *method, upload *u) {
    const char *p;
    if (!strncmp(url, "/api/v1/people", 14) && (url[14] == 0 || url[14] == '/')) {
        p = url + 14;
        if (!*p) {
            if (!strcmp(method, "GET")) return people(s, c);
            WANT("POST");
            const char *name = field(u, "name");
            if (!name) return send_error(s, c, 400, "POST /api/v1/people: a multipart form with a name field and files");
            return enroll(s, c, name, u, 1);
        }
        char name[4 * FID_NAME_MAX];
        if (!segment(&p, name, sizeof name)) return send_error(s, c, 404, "%s: no such resource", url);
        if (!strcmp(p, "/photos")) {
            WANT("POST");
            return enroll(s, c, name, u, 0);
        }
        if (*p) return send_error(s, c, 404, "%s: no such resource", url);
        if (!strcmp(method, "DELETE")) return delete_person(s, c, name);
        if (!strcmp(method, "PATCH")) return rename_person(s, c, name, u);
        return send_error(s, c, 405, "%s %s: use PATCH (rename) or DELETE", method, url);
    }
    if (!strcmp(url, "/api/v1/identify")) {
        WANT("POST");
        return identify(s, c, u);
    }
    if (!strcmp(url, "/api/v1/verify")) {
        WANT("POST");
        return verify(s, c, u);
    }
    if (!strcmp(url, "/api/v1/export")) {
        WANT("GET");
        return export_gallery(s, c);
    }
    if (!strcmp(url, "/api/v1/cameras")) {
        WANT("GET");
        return cameras(s, c);
    }
    if (!strncmp(url, "/api/v1/cameras/", 16)) {
        char name[64];
        p = url + 15;
        if (segment(&p, name, sizeof name)) {
            if (!strcmp(p, "/snapshot.jpg")) {
                WANT("GET");
                return snapshot(s, c, name);
            }
            if (!strcmp(p, "/stream.mjpeg")) {
                WANT("GET");
                return stream(s, c, name);
            }
        }
        return send_error(s, c, 404, "%s: no such resource", url);
    }
    if (!strcmp(url, "/api/v1/events")) {
        WANT("GET");
        return events(s, c);
    }
    if (!strcmp(url, "/api/v1/events/stream")) {
        WANT("GET");
        return event_stream(s, c);
    }
    uint64_t id, id2;
    if (!strncmp(url, "/api/v1/events/", 15)) {
        p = url + 14;
        if (number_segment(&p, NULL, &id) && !strcmp(p, "/crop.jpg")) {
            WANT("GET");
            return event_crop(s, c, id);
        }
        return send_error(s, c, 404, "%s: no such resource", url);
    }
    if (!strcmp(url, "/api/v1/unknown")) {
        WANT("GET");
        return unknown_groups(s, c);
    }
    if (!strncmp(url, "/api/v1/unknown/", 16)) {
        p = url + 15;
        if (number_segment(&p, NULL, &id)) {
            if (!*p) {
                WANT("DELETE");
                return dismiss_group(s, c, id);
            }
            if (!strcmp(p, "/name")) {
                WANT("POST");
                return name_group(s, c, id, u);
            }
            const char *q = p;
            if (!strncmp(q, "/faces", 6) && (q += 6, number_segment(&q, ".jpg", &id2)) && !*q) {
                WANT("GET");
                return unknown_face(s, c, id, id2);
            }
        }
        return send_error(s, c, 404, "%s: no such resource", url);
    }
    if (!strcmp(url, "/metrics")) {
        WANT("GET");
        return metrics(s, c);
    }
    return send_error(s, c, 404, "%s: no such resource (the API is under /api/v1; see openapi/faceid-api.json)", url);
}

static enum MHD_Result on_form(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
                               const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
                               size_t size) {
    (void)kind, (void)content_type, (void)transfer_encoding;
    upload *u = cls;
    if (!key) key = ""; /* a part without a name (fuzz_http found libmicrohttpd passes NULL) */
    part *last = u->n_parts ? &u->parts[u->n_parts - 1] : NULL;
    if (!last || off == 0 || strcmp(last->key, key) || (!!filename != !!last->filename) ||
        (filename && strcmp(filename, last->filename))) {
        if (u->n_parts >= 256) {
            u->bad_form = 1;
            return MHD_NO;
        }
        part *grown = realloc(u->parts, (size_t)(u->n_parts + 1) * sizeof *grown);
        if (!grown) return MHD_NO;
        u->parts = grown;
        last = &u->parts[u->n_parts++];
        *last = (part){strdup(key), filename ? strdup(filename) : NULL, NULL, 0};
        if (!last->key || (filename && !last->filename)) return MHD_NO;
    }
    char *grown = realloc(last->data, last->size + size + 1);
    if (!grown) return MHD_NO;
    if (size) memcpy(grown + last->size, data, size);
    last->data = grown;
    last->size += size;
    grown[last->size] = 0; /* fields read as strings */
    return MHD_YES;
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
        const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
        if (type && !strncasecmp(type, "multipart/form-data", 19) && !u->too_large &&
            !(u->pp = MHD_create_post_processor(c, 64 * 1024, on_form, u)))
            u->bad_form = 1; /* no boundary */
        return MHD_YES;
    }
    if (*data_size) { /* the body, in pieces */
        u->total += *data_size;
        if (u->total > s->p.max_upload) u->too_large = 1;
        if (!u->too_large && !u->bad_form && u->pp) {
            if (MHD_post_process(u->pp, data, *data_size) != MHD_YES) u->bad_form = 1;
        } else if (!u->too_large && !u->bad_form) {
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
    if (!strcmp(url, "/healthz")) {
        WANT("GET");
        /* alive either way: with the gallery away, the copy in memory still names people */
        return send_json(s, c, 200,
                         json_pack("{s:s,s:{s:s,s:b}}", "status", "ok", "gallery", "backend",
                                   fid__gallery_kind(s->m.gallery), "up", atomic_load(&s->gallery_up)));
    }
    if (!strcmp(url, "/readyz")) { /* for a load balancer: 503 while the gallery is away (no new people) */
        WANT("GET");
        int up = atomic_load(&s->gallery_up);
        return send_json(s, c, up ? 200 : 503,
                         json_pack("{s:s,s:{s:s,s:b}}", "status", up ? "ok" : "gallery unreachable", "gallery",
                                   "backend", fid__gallery_kind(s->m.gallery), "up", up));
    }
    if (strncmp(url, "/api/", 5) && strcmp(url, "/metrics")) { /* the web page: no data in it, no token */
        const fid__web_file *w = fid__web_find(url);
        if (!w) return send_error(s, c, 404, "%s: no such page", url);
        WANT("GET");
        struct MHD_Response *r =
            MHD_create_response_from_buffer(w->size, (void *)w->data, MHD_RESPMEM_PERSISTENT);
        if (r) MHD_add_response_header(r, "Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:");
        return queue(s, c, 200, r, w->type);
    }
    if (!authorized(s, c))
        return send_error(s, c, 401, "%s: a token is required (Authorization: Bearer TOKEN)", url);
    if (u->too_large)
        return send_error(s, c, 413, "%s: the request body is larger than %zu bytes", url, s->p.max_upload);
    if (u->bad_form) return send_error(s, c, 400, "%s: the multipart form cannot be read", url);
    if (u->pp) {
        MHD_destroy_post_processor(u->pp); /* flushes the last part */
        u->pp = NULL;
    }
    return route(s, c, url, method, u);
}

static void request_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode why) {
    (void)cls, (void)c, (void)why;
    upload *u = *state;
    if (!u) return;
    if (u->pp) MHD_destroy_post_processor(u->pp);
    for (int i = 0; i < u->n_parts; i++)
        free(u->parts[i].key), free(u->parts[i].filename), free(u->parts[i].data);
    free(u->parts);
    free(u->data);
    free(u);
    *state = NULL;
}

/* ---- start and stop -------------------------------------------------------------------------- */

static char *read_pem(const char *path, char *why, size_t why_size) {
    size_t size;
    unsigned char *pem = NULL;
    if (fid__read_file(path, 1 << 20, &pem, &size) != FID_OK) snprintf(why, why_size, "%s", fid_last_error());
    return (char *)pem;
}

static void apply(fid_server *s, const fid_server_params *p) {
    atomic_store(&s->blur_unknown, p->blur_unknown);
    atomic_store(&s->crops_hours, p->crops_hours > 0 ? p->crops_hours : 24);
    atomic_store(&s->events_hours, p->events_hours > 0 ? p->events_hours : 168);
}

fid_server *fid_server_start(const fid_server_params *params, const fid_server_models *models,
                             const fid_server_camera *cams, int n_cams, char *why, size_t why_size) {
    fid_server_params p = params ? *params : fid_server_default_params();
    if (!p.listen) p.listen = "127.0.0.1:8080";
    char host[64];
    const char *colon = strrchr(p.listen, ':');
    char *end;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (!colon || (size_t)(colon - p.listen) >= sizeof host || *end || colon[1] == 0 || port < 0 || port > 65535) {
        snprintf(why, why_size, "listen %s: want ADDR:PORT (e.g. 127.0.0.1:8080)", p.listen);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - p.listen), p.listen);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        snprintf(why, why_size, "listen %s: '%s' is not an IPv4 address", p.listen, host);
        return NULL;
    }
    addr.sin_port = htons((uint16_t)port);
    int loopback = (ntohl(addr.sin_addr.s_addr) >> 24) == 127;
    if (!loopback && (!p.token || strlen(p.token) < 16)) {
        /* faces and names over the network: never without a secret */
        snprintf(why, why_size, "listen %s: beyond 127.0.0.0/8 the API needs a token of 16 or more characters "
                                "(--token, FID_TOKEN or the config's token)",
                 p.listen);
        return NULL;
    }
    if (!p.tls_cert != !p.tls_key) {
        snprintf(why, why_size, "TLS needs both a certificate and its key (tls-cert and tls-key)");
        return NULL;
    }
    fid_server *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(why, why_size, "out of memory");
        return NULL;
    }
    s->p = p;
    s->m = *models;
    atomic_store(&s->gallery_up, 1);
    pthread_mutex_init(&s->lock, NULL);
    pthread_mutex_init(&s->cams_lock, NULL);
    pthread_mutex_init(&s->ev_lock, NULL);
    pthread_cond_init(&s->work, NULL);
    apply(s, &p);
    int ok = (!p.token || (s->token = strdup(p.token))) && srv_events_init(s) == 0;
    if (!ok) snprintf(why, why_size, "out of memory");
    if (ok && p.tls_cert)
        ok = (s->tls_cert_pem = read_pem(p.tls_cert, why, why_size)) && (s->tls_key_pem = read_pem(p.tls_key, why, why_size));
    if (ok && p.mqtt.host) ok = (s->mqtt = srv_mqtt_start(&p.mqtt, why, why_size)) != NULL;
    if (ok) ok = (s->worker_started = !pthread_create(&s->worker, NULL, srv_worker, s));
    if (ok) {
        unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
        if (s->tls_cert_pem) flags |= MHD_USE_TLS;
        unsigned limit = (unsigned)(p.max_connections > 0 ? p.max_connections : 64);
        s->daemon = s->tls_cert_pem
                        ? MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                           MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_CONNECTION_TIMEOUT,
                                           30u, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_HTTPS_MEM_CERT,
                                           s->tls_cert_pem, MHD_OPTION_HTTPS_MEM_KEY, s->tls_key_pem, MHD_OPTION_END)
                        : MHD_start_daemon(flags, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                           MHD_OPTION_NOTIFY_COMPLETED, request_done, s, MHD_OPTION_CONNECTION_TIMEOUT,
                                           30u, MHD_OPTION_CONNECTION_LIMIT, limit, MHD_OPTION_END);
        if (!s->daemon)
            snprintf(why, why_size, "listen %s: cannot listen there (in use, not this machine's address%s)", p.listen,
                     s->tls_cert_pem ? ", or the certificate and key do not load" : "");
        ok = s->daemon != NULL;
    }
    if (ok) {
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
        s->port = info ? info->port : (int)port;
        ok = srv_cameras_set(s, cams, n_cams, why, why_size) == 0;
    }
    if (!ok) {
        fid_server_stop(s);
        return NULL;
    }
    return s;
}

int fid_server_reconfigure(fid_server *s, const fid_server_params *p, const fid_server_camera *cams, int n,
                           char *why, size_t why_size) {
    apply(s, p);
    return srv_cameras_set(s, cams, n, why, why_size);
}

int fid_server_port(const fid_server *s) { return s ? s->port : 0; }

void fid_server_stop(fid_server *s) {
    if (!s) return;
    atomic_store(&s->stopping, 1); /* streams end, naps return */
    srv_cameras_stop_all(s);
    if (s->daemon) MHD_stop_daemon(s->daemon);
    if (s->worker_started) {
        pthread_mutex_lock(&s->ev_lock);
        pthread_cond_signal(&s->work);
        pthread_mutex_unlock(&s->ev_lock);
        pthread_join(s->worker, NULL);
    }
    srv_mqtt_stop(s->mqtt);
    srv_events_free(s);
    fid_matcher_free(s->matcher);
    pthread_cond_destroy(&s->work);
    pthread_mutex_destroy(&s->ev_lock);
    pthread_mutex_destroy(&s->cams_lock);
    pthread_mutex_destroy(&s->lock);
    free(s->token);
    free(s->tls_cert_pem);
    free(s->tls_key_pem);
    free(s);
}
