/* The unknown faces: groups of strangers waiting for a name, their crops, naming and dismissing. */
#include "server/api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/json.h"

/* ---- unknown faces --------------------------------------------------------------------------- */

enum MHD_Result srv_unknown_groups(srv_request *r) {
    fid_server *s = r->s;
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
    return srv_send_json(r, 200, json_pack("{s:o}", "groups", arr));
}

static int find_group(fid_server *s, uint64_t id) {
    for (int i = 0; i < s->n_groups; i++)
        if (s->groups[i].id == id) return i;
    return -1;
}

enum MHD_Result srv_unknown_face(srv_request *r) {
    fid_server *s = r->s;
    uint64_t gid = r->id[0], fid = r->id[1];
    unsigned char *copy = NULL;
    size_t size = 0;
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    for (int k = 0; g >= 0 && k < s->groups[g].n; k++) {
        const srv_face *f = &s->groups[g].faces[k];
        if (f->id == fid && (copy = malloc(f->jpeg_size))) memcpy(copy, f->jpeg, size = f->jpeg_size);
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (!copy) return srv_send_error(r, 404, "no face %llu in group %llu", (unsigned long long)fid, (unsigned long long)gid);
    return srv_send_buffer(r, 200, "image/jpeg", copy, size);
}

enum MHD_Result srv_dismiss_group(srv_request *r) {
    fid_server *s = r->s;
    uint64_t gid = r->id[0];
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    if (g >= 0) srv_group_remove(s, g);
    pthread_mutex_unlock(&s->ev_lock);
    if (g < 0) return srv_send_error(r, 404, "no unknown group %llu", (unsigned long long)gid);
    return srv_send_empty(r, 204);
}

/* Names a group: its crops go through the photo gates like uploaded photos (with "force": true
 * also those a gate refuses), the kept ones become the person's samples, and the group goes. */
enum MHD_Result srv_name_group(srv_request *r) {
    fid_server *s = r->s;
    uint64_t gid = r->id[0];
    json_t *doc;
    enum MHD_Result answer = MHD_NO;
    const char *name = srv_json_name(r, &doc, &answer);
    if (!name) {
        json_decref(doc);
        return answer;
    }
    srv_audit_person(r, name);
    int force = json_is_true(json_object_get(doc, "force"));
    /* take the group's images out under ev_lock, enroll under the model lock (never both held) */
    fid_image *ims[SRV_GROUP_FACES];
    uint64_t ids[SRV_GROUP_FACES];
    char from[SRV_GROUP_FACES][112]; /* each sample's source: the camera and when it saw the face */
    int n = 0;
    pthread_mutex_lock(&s->ev_lock);
    int g = find_group(s, gid);
    for (int k = 0; g >= 0 && k < s->groups[g].n; k++) {
        ims[n] = fid_image_copy_into(NULL, s->groups[g].faces[k].image, NULL);
        ids[n] = s->groups[g].faces[k].id;
        char t[32];
        fid__iso_time(s->groups[g].faces[k].wall, t);
        snprintf(from[n], sizeof from[n], "camera %s, %s", s->groups[g].faces[k].camera, t);
        if (ims[n]) n++;
    }
    pthread_mutex_unlock(&s->ev_lock);
    if (g < 0) {
        json_decref(doc);
        return srv_send_error(r, 404, "no unknown group %llu", (unsigned long long)gid);
    }
    json_t *reports = json_array();
    fid_status st = FID_OK;
    int kept = 0, samples = -1;
    if (srv_models_lock(r) != 0) {
        for (int i = 0; i < n; i++)
            fid_image_free(ims[i]);
        json_decref(doc), json_decref(reports);
        return srv_send_budget(r, "name");
    }
    fid_enrollment *e = fid_enrollment_begin(s->m.detector, s->m.embedder, NULL, &st);
    for (int i = 0; e && i < n && st == FID_OK; i++) {
        fid_enroll_report rep;
        char label[32];
        snprintf(label, sizeof label, "face %llu", (unsigned long long)ids[i]);
        if ((st = fid_enrollment_add_photo(e, ims[i], from[i], force, &rep)) == FID_OK)
            json_array_append_new(reports, srv_report_json(label, &rep));
    }
    int k = e && st == FID_OK ? fid_enrollment_count(e) : 0, dim = fid_embedder_dim(s->m.embedder);
    float *d = k ? malloc((size_t)k * dim * sizeof *d) : NULL, *q = k ? malloc((size_t)k * sizeof *q) : NULL;
    json_t *mismatch = NULL;
    if (k && d && q) {
        for (int i = 0; i < k; i++)
            fid_enrollment_sample(e, i, d + (size_t)i * dim, &q[i], NULL, NULL, NULL);
        /* a name already in the gallery: the group must look like that person, or one wrong
         * sample poisons every later answer about them */
        if (!force) mismatch = srv_mismatch_with(s, name, d, k, &st);
        if (!mismatch && st == FID_OK && (st = fid_gallery_add_enrollment(s->m.gallery, name, e)) == FID_OK) kept = k;
        samples = kept ? srv_person_samples(s, name) : -1;
    }
    srv_models_unlock(r);
    free(d), free(q);
    fid_enrollment_free(e);
    for (int i = 0; i < n; i++)
        fid_image_free(ims[i]);
    if (st != FID_OK) {
        json_decref(doc), json_decref(reports);
        return srv_send_error(r, srv_gallery_code(st), "%s", fid_last_error());
    }
    if (mismatch) {
        json_object_set_new(mismatch, "files", reports);
        json_decref(doc);
        return srv_send_json(r, 409, mismatch);
    }
    if (!kept) {
        answer = srv_send_json(r, 422,
                      json_pack("{s:s,s:o}", "error",
                                "no face of the group passes the quality gates (send \"force\": true to keep them anyway)",
                                "files", reports));
        json_decref(doc);
        return answer;
    }
    pthread_mutex_lock(&s->ev_lock); /* named: the group is no longer unknown */
    if ((g = find_group(s, gid)) >= 0) srv_group_remove(s, g);
    pthread_mutex_unlock(&s->ev_lock);
    answer = srv_send_json(r, 201, json_pack("{s:o,s:i,s:i,s:o}", "name", fid__json_text(name), "samples", samples,
                                             "added", kept, "files", reports));
    json_decref(doc);
    return answer;
}
