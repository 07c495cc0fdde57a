/* Review and correct over HTTP: a person's samples with their crops, removing or moving one,
 * merging two people, and "not this person" on an event. Every change is the gallery's own (its
 * change log carries it to every node). Names come decoded once from the path or a JSON string
 * and pass fid_person_name_check; sample ids are the gallery's. */
#include "server/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gallery/gallery.h"
#include "image/image.h"
#include "util/clock.h"
#include "util/json.h"

/* "/api/v1/people/NAME/samples/ID.jpg" with NAME percent-encoded (any byte outside the URL's
 * unreserved set), so the page can use it as it comes. */
void srv_sample_crop_url(const char *name, int64_t id, char *out, size_t size) {
    size_t n = (size_t)snprintf(out, size, "/api/v1/people/");
    for (const unsigned char *c = (const unsigned char *)name; *c && n + 4 < size; c++)
        n += (size_t)((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                              strchr("-._~", *c)
                          ? snprintf(out + n, size - n, "%c", *c)
                          : snprintf(out + n, size - n, "%%%02X", *c));
    snprintf(out + n, size - n, "/samples/%lld.jpg", (long long)id);
}

/* A person's samples under the model lock; NULL with *code set when there is no such person or
 * the gallery failed (message in fid_last_error). */
static fid_sample_info *samples_of(fid_server *s, const char *name, int *n, unsigned *code) {
    fid_status st;
    *code = 200;
    int count = fid_gallery_sample_list(s->m.gallery, name, NULL, 0, &st);
    fid_sample_info *info = count > 0 ? calloc((size_t)count, sizeof *info) : malloc(sizeof *info);
    if (count > 0 && info) count = fid_gallery_sample_list(s->m.gallery, name, info, count, &st);
    if (count < 0 || !info) {
        *code = count < 0 ? srv_gallery_code(st) : 500;
        free(info);
        return NULL;
    }
    if (count == 0 && srv_person_samples(s, name) < 0) { /* nobody, rather than nobody's samples */
        *code = 404;
        free(info);
        return NULL;
    }
    *n = count;
    return info;
}

enum MHD_Result srv_samples(srv_request *r) {
    fid_server *s = r->s;
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "samples");
    int n = 0;
    unsigned code;
    fid_sample_info *info = samples_of(s, r->name, &n, &code);
    srv_models_unlock(r);
    if (code == 404) return srv_send_error(r, 404, "no person named '%s'", r->name);
    if (!info) return srv_send_error(r, code, "%s", fid_last_error());
    json_t *arr = json_array();
    for (int i = 0; i < n; i++) {
        char t[32], url[4 * FID_NAME_MAX + 64];
        fid__iso_time(info[i].created, t);
        json_t *j = json_pack("{s:I,s:s,s:o,s:o}", "id", (json_int_t)info[i].id, "time", t, "source",
                              info[i].source[0] ? fid__json_text(info[i].source) : json_null(), "quality",
                              fid__json_number(info[i].quality));
        if (info[i].has_crop) {
            srv_sample_crop_url(r->name, info[i].id, url, sizeof url);
            json_object_set_new(j, "crop", json_string(url));
        }
        json_array_append_new(arr, j);
    }
    free(info);
    return srv_send_json(r, 200, json_pack("{s:o,s:o}", "name", fid__json_text(r->name), "samples", arr));
}

enum MHD_Result srv_sample_crop(srv_request *r) {
    unsigned char *jpeg = NULL;
    size_t size = 0;
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "sample crop");
    fid_status st = fid_gallery_sample_crop(r->s->m.gallery, r->name, (int64_t)r->id[0], &jpeg, &size);
    srv_models_unlock(r);
    /* the answer names what the client asked for, never the gallery's location */
    if (st == FID_ERR_NOT_FOUND)
        return srv_send_error(r, 404, "'%s' has no sample %llu with a crop", r->name, (unsigned long long)r->id[0]);
    if (st != FID_OK) return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    return srv_send_buffer(r, 200, "image/jpeg", jpeg, size);
}

enum MHD_Result srv_delete_sample(srv_request *r) {
    srv_audit_person(r, r->name);
    if (srv_models_lock(r) != 0) return srv_send_budget(r, "remove sample");
    fid_status st = fid_gallery_sample_remove(r->s->m.gallery, r->name, (int64_t)r->id[0]);
    srv_models_unlock(r);
    if (st == FID_ERR_NOT_FOUND)
        return srv_send_error(r, 404, "'%s' has no sample %llu", r->name, (unsigned long long)r->id[0]);
    if (st != FID_OK) return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    return srv_send_empty(r, 204);
}

/* move (one sample) and merge (everything, and the person goes): {"name": "OTHER"}. */
static enum MHD_Result move_or_merge(srv_request *r, int merge) {
    fid_server *s = r->s;
    json_t *doc;
    enum MHD_Result answer = MHD_NO;
    const char *to = srv_json_name(r, &doc, &answer);
    if (!to) {
        json_decref(doc);
        return answer;
    }
    srv_audit_person(r, r->name);
    if (srv_models_lock(r) != 0) {
        json_decref(doc);
        return srv_send_budget(r, merge ? "merge" : "move");
    }
    /* a merge renames the person's events too: the stale-crop sweep waits for it */
    if (merge) atomic_fetch_add(&s->renames_pending, 1);
    fid_status st = merge ? fid_gallery_merge(s->m.gallery, r->name, to)
                          : fid_gallery_sample_move(s->m.gallery, r->name, (int64_t)r->id[0], to);
    int samples = st == FID_OK ? srv_person_samples(s, to) : -1;
    srv_models_unlock(r);
    if (merge) {
        if (st == FID_OK) srv_events_rename(s, r->name, to);
        atomic_fetch_add(&s->renames_done, 1);
        atomic_fetch_sub(&s->renames_pending, 1);
    }
    if (st == FID_OK)
        answer = srv_send_json(r, 200, json_pack("{s:o,s:i}", "name", fid__json_text(to), "samples", samples));
    else if (st == FID_ERR_NOT_FOUND && merge)
        answer = srv_send_error(r, 404, "no person named '%s'", r->name);
    else if (st == FID_ERR_NOT_FOUND)
        answer = srv_send_error(r, 404, "'%s' has no sample %llu", r->name, (unsigned long long)r->id[0]);
    else
        answer = srv_send_error(r, st == FID_ERR_INVALID_ARGUMENT ? 400 : srv_gallery_code(st), "%s", fid_last_error());
    json_decref(doc);
    return answer;
}

enum MHD_Result srv_move_sample(srv_request *r) { return move_or_merge(r, 0); }
enum MHD_Result srv_merge_person(srv_request *r) { return move_or_merge(r, 1); }

typedef struct stored_event {
    uint64_t id;
    char *name, *camera; /* 208 and 64 bytes */
    int found;
} stored_event;

static int take_stored(void *user, const fid__history_row *row) {
    stored_event *se = user;
    if (row->id != se->id) return 1;
    snprintf(se->name, 208, "%s", row->name);
    snprintf(se->camera, 64, "%s", row->camera);
    se->found = 1;
    return 1;
}

/* "Not this person": the event's face becomes a counter-example of the name it was given, so the
 * matcher stops naming that face so (everywhere the gallery is shared). Needs the event's crop:
 * the face is described again from it. */
enum MHD_Result srv_reject_event(srv_request *r) {
    fid_server *s = r->s;
    uint64_t id = r->id[0];
    unsigned char *jpeg = NULL;
    size_t size = 0;
    char name[208] = "", camera[64] = "";
    pthread_mutex_lock(&s->ev_lock);
    int known = id >= s->first_event && id < s->next_event;
    if (known) {
        const srv_event *ev = &s->events[id % SRV_MAX_EVENTS];
        snprintf(name, sizeof name, "%s", ev->e.track.name);
        snprintf(camera, sizeof camera, "%s", ev->camera);
        if (ev->crop && (jpeg = malloc(ev->crop_size))) memcpy(jpeg, ev->crop, size = ev->crop_size);
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (!known && s->m.history) { /* an event of an earlier run: from the history */
        stored_event se = {id, name, camera, 0};
        fid__history_query q = {-INFINITY, INFINITY, NULL, NULL, id + 1, 1};
        pthread_mutex_lock(&s->history_lock);
        if (fid__history_list(s->m.history, s->node, &q, take_stored, &se) == FID_OK && se.found) {
            known = 1;
            fid__history_crop(s->m.history, s->node, id, fid__wall_s() - atomic_load(&s->crops_hours) * 3600, &jpeg,
                              &size);
        }
        pthread_mutex_unlock(&s->history_lock);
    }
    if (!known) {
        free(jpeg);
        return srv_send_error(r, 404, "no event %llu", (unsigned long long)id);
    }
    srv_audit_person(r, name);
    if (!name[0] || !strcmp(name, "?")) {
        free(jpeg);
        return srv_send_error(r, 409, "event %llu names nobody: there is nothing to correct", (unsigned long long)id);
    }
    if (!jpeg)
        return srv_send_error(r, 410, "event %llu's crop is no longer kept: its face cannot be learnt from",
                              (unsigned long long)id);
    fid_status st;
    fid_image *im = fid__image_decode(jpeg, size, "event crop", &st);
    free(jpeg);
    if (!im) return srv_send_error(r, 500, "%s", fid_last_error());
    if (srv_models_lock(r) != 0) {
        fid_image_free(im);
        return srv_send_budget(r, "reject");
    }
    int dim = fid_embedder_dim(s->m.embedder), described = 0;
    float *d = malloc((size_t)dim * sizeof *d);
    fid_enrollment *e = d ? fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st) : NULL;
    fid_enroll_report rep;
    /* forced: a blurred or turned face is still the face the camera named wrongly */
    if (e && fid_enrollment_add_photo(e, im, "event", 1, &rep) == FID_OK && fid_enrollment_count(e) == 1 &&
        fid_enrollment_sample(e, 0, d, NULL, NULL, NULL, NULL) == FID_OK)
        described = 1;
    char source[128];
    snprintf(source, sizeof source, "event %llu, camera %s", (unsigned long long)id, camera);
    st = described ? fid_gallery_reject(s->m.gallery, name, d, source) : FID_ERR_NOT_FOUND;
    srv_models_unlock(r);
    fid_enrollment_free(e);
    fid_image_free(im);
    free(d);
    if (!described) return srv_send_error(r, 422, "event %llu: no face found again in its crop", (unsigned long long)id);
    if (st == FID_ERR_NOT_FOUND) return srv_send_error(r, 404, "no person named '%s' any more", name);
    if (st != FID_OK) return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    pthread_mutex_lock(&s->ev_lock);
    if (id >= s->first_event && id < s->next_event) s->events[id % SRV_MAX_EVENTS].rejected = 1;
    pthread_mutex_unlock(&s->ev_lock);
    if (s->m.history) { /* written first, so the mark finds its row */
        srv_history_flush(s);
        pthread_mutex_lock(&s->history_lock);
        fid__history_reject(s->m.history, s->node, id);
        pthread_mutex_unlock(&s->history_lock);
    }
    return srv_send_json(r, 200, json_pack("{s:I,s:o,s:b}", "event", (json_int_t)id, "not", fid__json_text(name),
                                           "rejected", 1));
}
