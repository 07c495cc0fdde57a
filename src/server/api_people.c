#define _GNU_SOURCE /* strcasestr */
/* The gallery over HTTP: list, enroll (photos and clips), rename, delete, export. Names come
 * decoded once from the path (or a form field, or a JSON string) and pass fid_person_name_check
 * before anything is read or written. */
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
#include "util/error.h"
#include "util/json.h"
#include "video/video.h"

/* What one enrollment request may make the models do: frames of clips looked at (one every
 * CLIP_STEP seconds of video at most), clips per request. */
#define CLIP_STEP 0.2
#define MAX_FRAMES 150
#define MAX_CLIPS 8

static const char *verdict_text(fid_enroll_verdict v) {
    static const char *t[] = {"kept", "no face found", "face too small", "detector score too low", "face too blurry",
                              "face turned too far", "same as an earlier sample", "better samples already kept",
                              "landmarks do not form a frontal face"};
    return (unsigned)v < sizeof t / sizeof *t ? t[v] : "refused";
}

int srv_person_samples(fid_server *s, const char *name) {
    fid_status st;
    int n = 0, samples = -1;
    fid_person_info *all = fid__gallery_people_all(s->m.gallery, &n, &st);
    for (int i = 0; all && i < n; i++)
        if (!strcmp(all[i].name, name)) samples = all[i].samples;
    free(all);
    return samples;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* NULL when `name` is new or the k descriptors look like them (the median face within the 1:N
 * threshold of their nearest sample), else the 409 answer: each face's distance to them. Under
 * s->lock. */
json_t *srv_mismatch_with(fid_server *s, const char *name, const float *d, int k, fid_status *st) {
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

json_t *srv_report_json(const char *file, const fid_enroll_report *r) {
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

/* FFmpeg's blocking reads give up when the request must stop. */
static int clip_interrupt(void *opaque) { return !srv_alive(opaque); }

/* A clip, read from the uploaded bytes only (fid__video_open_upload: no file, no protocol, no
 * playlist), a frame every CLIP_STEP seconds through the video gates, the models taken per
 * frame. *frames_left is the request's frame budget. FID_ERR_UNSUPPORTED: not an accepted clip. */
static fid_status enroll_clip(srv_request *r, fid_enrollment *e, const srv_part *f, json_t *reports, int *frames_left) {
    fid_status st;
    if (srv_decode_slot(r) != 0) return FID_TIMEOUT; /* one decode slot for the whole clip */
    fid_video *v = fid__video_open_upload(f->data, f->size, f->filename, r->s->max_pixels, clip_interrupt, r, &st);
    if (!v) {
        srv_decode_slot_done(r);
        return st;
    }
    int before = fid_enrollment_count(e), frames = 0, looked = 0;
    const fid_image *frame;
    double t, next = -1;
    while ((st = fid_video_read(v, &frame, &t)) == FID_OK) {
        if (++frames > 30 * 600) break; /* ten minutes of 30 fps decoded at most */
        if (!srv_alive(r)) { /* frames skipped cost decoding too (a GIF of ten thousand frames) */
            st = FID_TIMEOUT;
            break;
        }
        if (!isfinite(t)) t = frames / 25.0; /* no timestamps: the usual rate */
        if (t < next && next - t < 60) continue;
        if (*frames_left <= 0) break;
        if (srv_models_lock(r) != 0) {
            st = FID_TIMEOUT;
            break;
        }
        st = fid_enrollment_add(e, frame, f->filename, NULL);
        srv_models_unlock(r);
        if (st != FID_OK) break;
        --*frames_left, looked++;
        next = t + CLIP_STEP;
    }
    fid_video_close(v);
    srv_decode_slot_done(r);
    if (st == FID_END) st = FID_OK;
    json_array_append_new(reports, json_pack("{s:o,s:s,s:i,s:i,s:i}", "file", fid__json_text(f->filename), "verdict",
                                             fid_enrollment_count(e) > before ? "kept" : "no usable face", "frames",
                                             frames, "looked_at", looked, "kept", fid_enrollment_count(e) - before));
    return st;
}

/* Enrolls the uploaded photos and clips as `name`: photos through the photo gates (forced with
 * force), clips through the video gates; all kept samples land in one transaction, or none when
 * the budget runs out. */
static enum MHD_Result enroll(srv_request *r, const char *name, int create) {
    fid_server *s = r->s;
    srv_audit_person(r, name);
    if (fid_person_name_check(name) != FID_OK) return srv_send_error(r, 400, "%s", fid_last_error());
    srv_part f[64];
    int nf = srv_files(r, f, 64);
    if (!nf) return srv_send_error(r, 400, "enroll: send photos or clips (a multipart form, or one image as the body)");
    int force = srv_truthy(srv_arg(r, "force")) || srv_truthy(srv_field(r, "force"));
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "enroll");
    int exists = srv_person_samples(s, name) >= 0;
    srv_models_unlock(r);
    if (create && exists)
        return srv_send_error(r, 409, "'%s' is already in the gallery (add samples with POST /api/v1/people/NAME/photos)",
                              name);
    json_t *reports = json_array();
    fid_status st = FID_OK;
    int kept = 0, samples = -1, frames_left = MAX_FRAMES, clips = 0;
    fid_enrollment *e = fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st);
    for (int i = 0; e && i < nf && st == FID_OK; i++) {
        fid_image *im = srv_decode(r, &f[i], &st);
        if (im) {
            fid_enroll_report rep;
            if (srv_models_lock(r) != 0) {
                st = FID_TIMEOUT;
            } else {
                st = fid_enrollment_add_photo(e, im, f[i].filename, force, &rep);
                srv_models_unlock(r);
            }
            if (st == FID_OK) json_array_append_new(reports, srv_report_json(f[i].filename, &rep));
            fid_image_free(im);
        } else if (st == FID_ERR_UNSUPPORTED) { /* not an image: a clip, or neither */
            st = ++clips > MAX_CLIPS ? FID_ERR_TOO_LARGE : enroll_clip(r, e, &f[i], reports, &frames_left);
            if (st == FID_ERR_UNSUPPORTED || st == FID_ERR_FORMAT) {
                json_array_append_new(reports, json_pack("{s:o,s:s}", "file", fid__json_text(f[i].filename),
                                                         "verdict", "neither an image nor a video in an accepted format"));
                st = FID_OK;
            } else if (st == FID_ERR_TOO_LARGE && clips > MAX_CLIPS) {
                fid__fail(st, "%s: more than %d clips in one request", f[i].filename, MAX_CLIPS);
            }
        }
    }
    if (st == FID_TIMEOUT || (st != FID_OK && !srv_alive(r))) {
        fid_enrollment_free(e);
        json_decref(reports);
        return srv_send_budget(r, "enroll");
    }
    int n = e && st == FID_OK ? fid_enrollment_count(e) : 0, dim = fid_embedder_dim(s->m.embedder);
    float *d = n ? malloc((size_t)n * dim * sizeof *d) : NULL, *q = n ? malloc((size_t)n * sizeof *q) : NULL;
    if (n && d && q) {
        for (int i = 0; i < n; i++)
            fid_enrollment_sample(e, i, d + (size_t)i * dim, &q[i], NULL, NULL, NULL);
        if (srv_models_lock(r) != 0) {
            st = FID_TIMEOUT;
        } else {
            if ((st = fid_gallery_add_enrollment(s->m.gallery, name, e)) == FID_OK) kept = n;
            if (kept) samples = srv_person_samples(s, name);
            srv_models_unlock(r);
        }
    } else if (n && st == FID_OK) {
        st = FID_ERR_NO_MEMORY;
    }
    free(d), free(q);
    fid_enrollment_free(e);
    if (st == FID_TIMEOUT) {
        json_decref(reports);
        return srv_send_budget(r, "enroll");
    }
    if (st != FID_OK) {
        json_decref(reports);
        return srv_send_error(r, st == FID_ERR_FORMAT ? 400 : st == FID_ERR_TOO_LARGE ? 413 : srv_gallery_code(st),
                              "enroll: %s", fid_last_error());
    }
    if (!kept) /* every file refused by a gate: say which and by how much, like the CLI */
        return srv_send_json(r, 422,
                             json_pack("{s:s,s:o}", "error", "no sample kept: every face was refused by a quality gate",
                                       "files", reports));
    return srv_send_json(r, 201, json_pack("{s:o,s:i,s:i,s:o}", "name", fid__json_text(name), "samples", samples,
                                           "added", kept, "files", reports));
}

enum MHD_Result srv_enroll_new(srv_request *r) {
    const char *name = srv_field(r, "name");
    if (!name) return srv_send_error(r, 400, "POST /api/v1/people: a multipart form with a name field and files");
    return enroll(r, name, 1);
}

enum MHD_Result srv_enroll_more(srv_request *r) { return enroll(r, r->name, 0); }

enum MHD_Result srv_delete_person(srv_request *r) {
    fid_server *s = r->s;
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "delete");
    fid_status st = fid_gallery_remove(s->m.gallery, r->name);
    srv_models_unlock(r);
    if (st == FID_ERR_NOT_FOUND) return srv_send_error(r, 404, "no person named '%s'", r->name);
    if (st != FID_OK) return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    srv_events_forget(s, r->name); /* their crops and retained presence go with them */
    return srv_send_empty(r, 204);
}

enum MHD_Result srv_rename_person(srv_request *r) {
    fid_server *s = r->s;
    json_t *doc;
    enum MHD_Result answer = MHD_NO;
    const char *to = srv_json_name(r, &doc, &answer);
    if (!to) {
        json_decref(doc);
        return answer;
    }
    char detail[4 * FID_NAME_MAX + 8];
    snprintf(detail, sizeof detail, "to %s", to);
    int taken = 0;
    fid_status st = FID_OK;
    if (srv_models_lock(r) != 0) {
        json_decref(doc);
        return srv_send_budget(r, "rename");
    }
    taken = srv_person_samples(s, to) >= 0 && strcmp(r->name, to);
    atomic_fetch_add(&s->renames_pending, 1);
    if (!taken) st = fid_gallery_rename(s->m.gallery, r->name, to);
    srv_models_unlock(r);
    if (st == FID_OK && !taken)
        srv_events_rename(s, r->name, to); /* their events follow the name: a later delete finds them */
    atomic_fetch_add(&s->renames_done, 1);
    atomic_fetch_sub(&s->renames_pending, 1);
    if (taken)
        answer = srv_send_error(r, 409, "'%s' is already in the gallery", to);
    else if (st == FID_OK) {
        answer = srv_send_json(r, 200, json_pack("{s:o}", "name", fid__json_text(to)));
    } else if (st == FID_ERR_NOT_FOUND)
        answer = srv_send_error(r, 404, "no person named '%s'", r->name);
    else
        answer = srv_send_error(r, st == FID_ERR_INVALID_ARGUMENT ? 400 : 500, "%s", fid_last_error());
    json_decref(doc);
    return answer;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const fid_person_info *)a)->name, ((const fid_person_info *)b)->name);
}

/* The people, filtered (?q= a part of the name, any case) and paged (?offset=, ?limit=, default
 * 1000), each with a picture: their best sample's crop, else their latest event's. */
enum MHD_Result srv_people(srv_request *r) {
    fid_server *s = r->s;
    fid_status st;
    const char *q = srv_arg(r, "q"), *v;
    long offset = 0, limit = 1000;
    char *end;
    if ((v = srv_arg(r, "offset")) && ((offset = strtol(v, &end, 10)) < 0 || *end || end == v))
        return srv_send_error(r, 400, "offset=%s: want 0 or more", v);
    if ((v = srv_arg(r, "limit")) && ((limit = strtol(v, &end, 10)) < 1 || limit > 10000 || *end || end == v))
        return srv_send_error(r, 400, "limit=%s: want 1..10000", v);
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "people");
    int n = 0;
    fid_person_info *list = fid__gallery_people_all(s->m.gallery, &n, &st);
    if (!list) {
        srv_models_unlock(r);
        return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    }
    qsort(list, (size_t)n, sizeof *list, by_name);
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (!q || !*q || strcasestr(list[i].name, q)) list[kept++] = list[i];
    int total = kept, from = (int)(offset < kept ? offset : kept), count = (int)(limit < kept - from ? limit : kept - from);
    /* the page's people: their best sample with a crop (one query each, for this page only) */
    int64_t *best = count > 0 ? calloc((size_t)count, sizeof *best) : NULL;
    for (int i = 0; best && i < count; i++) {
        fid_sample_info info[64];
        int m = fid_gallery_sample_list(s->m.gallery, list[from + i].name, info, 64, &st);
        float top = -1;
        for (int k = 0; k < m && k < 64; k++)
            if (info[k].has_crop && (isnan(info[k].quality) ? 0 : info[k].quality) > top)
                top = isnan(info[k].quality) ? 0 : info[k].quality, best[i] = info[k].id;
    }
    srv_models_unlock(r);
    /* else the crop of their latest event still kept (one pass over the events) */
    uint64_t *face = count > 0 ? calloc((size_t)count, sizeof *face) : NULL;
    if (face) {
        pthread_mutex_lock(&s->ev_lock);
        for (uint64_t id = s->next_event; id-- > s->first_event;) {
            const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
            fid_person_info key;
            if (!ev->crop || !strcmp(ev->e.track.name, "?")) continue;
            snprintf(key.name, sizeof key.name, "%s", ev->e.track.name);
            fid_person_info *hit = bsearch(&key, list + from, (size_t)count, sizeof *list, by_name);
            if (hit && !face[hit - list - from]) face[hit - list - from] = id;
        }
        pthread_mutex_unlock(&s->ev_lock);
    }
    json_t *arr = json_array();
    for (int i = 0; i < count; i++) {
        json_t *j = json_pack("{s:o,s:i}", "name", fid__json_text(list[from + i].name), "samples", list[from + i].samples);
        char url[4 * FID_NAME_MAX + 64];
        if (best && best[i]) {
            srv_sample_crop_url(list[from + i].name, best[i], url, sizeof url);
            json_object_set_new(j, "face", json_string(url));
        } else if (face && face[i]) {
            snprintf(url, sizeof url, "/api/v1/events/%llu/crop.jpg", (unsigned long long)face[i]);
            json_object_set_new(j, "face", json_string(url));
        }
        json_array_append_new(arr, j);
    }
    free(face);
    free(best);
    free(list);
    return srv_send_json(r, 200, json_pack("{s:o,s:i,s:i}", "people", arr, "total", total, "offset", from));
}

/* The gallery's export (the file `faceid export` writes), through a private temporary file. */
enum MHD_Result srv_export(srv_request *r) {
    fid_server *s = r->s;
    char dir[] = "/tmp/faceid-export-XXXXXX", path[64];
    if (!mkdtemp(dir)) return srv_send_error(r, 500, "export: cannot make a temporary directory");
    snprintf(path, sizeof path, "%s/export.json", dir);
    fid_status st = FID_TIMEOUT;
    if (srv_models_lock(r) == 0) {
        st = fid_gallery_export(s->m.gallery, path);
        srv_models_unlock(r);
    }
    size_t size = 0;
    unsigned char *data = NULL;
    if (st == FID_OK) st = fid__read_file(path, 1u << 30, &data, &size);
    unlink(path);
    rmdir(dir);
    if (st == FID_TIMEOUT && !data) return srv_send_budget(r, "export");
    if (!data) return srv_send_error(r, srv_gallery_code(st), "export: %s", fid_last_error());
    return srv_send_buffer(r, 200, "application/json", data, size);
}
