/* POST /api/v1/identify and /api/v1/verify: the faces of uploaded images. The image is decoded
 * within the pixel budget before the models are taken: a request worker's (one per core, its own
 * detector and embedder; the lock only for the match), or the shared pair held one face at a time.
 * Either way at most until the request's budget ends. */
#include "server/api.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"
#include "util/clock.h"
#include "util/json.h"

enum MHD_Result srv_identify(srv_request *r) {
    fid_server *s = r->s;
    srv_part f[1];
    if (!srv_files(r, f, 1)) return srv_send_error(r, 400, "identify: send an image (JPEG, PNG or WebP) as the body");
    fid_status st;
    fid_image *im = srv_decode(r, &f[0], &st);
    if (!im && st == FID_TIMEOUT) return srv_send_budget(r, "identify");
    if (!im) return srv_send_error(r, srv_status_for(st), "%s", fid_last_error());
    /* faces one answer describes at most (max_faces); the rest are counted: "found", "truncated" */
    const int max_faces = s->max_faces;
    fid_detection *dets = malloc((size_t)max_faces * sizeof *dets);
    float *desc = malloc((size_t)fid_embedder_dim(s->m.embedder) * sizeof *desc);
    if (!dets || !desc) {
        free(dets), free(desc), fid_image_free(im);
        return srv_send_error(r, 503, "identify: out of memory");
    }
    double t0 = fid__monotonic_s();
    json_t *faces = json_array();
    int n = -1, done = 0, failed = 0, stopped = 0, gallery_ok = 1;
    /* A request worker when there are some: its models are this request's alone, and the lock is
     * taken only to match. Without: the shared pair under the lock, given back between faces so
     * that a crowd photo does not hold the models from every other request. */
    int w = srv_worker_take(r), shared = w == -2;
    fid_detector *det = w >= 0 ? s->m.worker_detectors[w] : s->m.detector;
    fid_embedder *emb = w >= 0 ? s->m.worker_embedders[w] : s->m.embedder;
    if (w == -1 || srv_models_lock(r) != 0) {
        stopped = 1;
    } else {
        gallery_ok = srv_current_matcher(s) != NULL;
        if (!shared) srv_models_unlock(r);
        n = gallery_ok ? fid_detector_run(det, im, dets, max_faces, &st) : -1;
        failed = n < 0;
        for (int i = 0; i < n && i < max_faces && !failed; i++) {
            if (shared ? i && (srv_models_unlock(r), srv_models_lock(r) != 0) : !srv_alive(r)) {
                stopped = 1;
                break;
            }
            fid_face face;
            fid_match match;
            if (fid_embedder_describe(emb, im, &dets[i], &face, desc) != FID_OK) {
                failed = 1;
                break;
            }
            if (!shared && srv_models_lock(r) != 0) {
                stopped = 1;
                break;
            }
            const fid_matcher *m = srv_current_matcher(s);
            gallery_ok = m != NULL;
            failed = !m || fid_matcher_match(m, desc, &match) != FID_OK;
            if (!shared) srv_models_unlock(r);
            if (failed) break;
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
            done++;
        }
        if (shared && !stopped) srv_models_unlock(r);
    }
    srv_worker_give(r, w);
    srv_histogram_add(&s->identify_latency, fid__monotonic_s() - t0);
    free(desc), free(dets);
    fid_image_free(im);
    if (failed) {
        json_decref(faces);
        return srv_send_error(r, gallery_ok ? 500 : 503, "identify: %s",
                              gallery_ok ? fid_last_error() : "the gallery cannot be read");
    }
    if (stopped && n < 0) {
        json_decref(faces);
        return srv_send_budget(r, "identify");
    }
    /* the limits are in the answer: every face found is counted, the ones described listed */
    json_t *doc = json_pack("{s:o,s:i,s:b}", "faces", faces, "found", n, "truncated", done < n);
    if (done < n)
        json_object_set_new(doc, "truncated_by",
                            json_string(stopped ? (r->why_stopped ? r->why_stopped : "budget") : "the face limit"));
    json_object_set_new(doc, "max_faces", json_integer(max_faces));
    return srv_send_json(r, 200, doc);
}

/* The largest face of an uploaded image and its descriptor. 0, or an HTTP status. */
static int largest_face(srv_request *r, const srv_part *f, fid_box *box, float *desc, const char **why) {
    fid_server *s = r->s;
    fid_status st;
    fid_image *im = srv_decode(r, f, &st);
    if (!im) {
        *why = fid_last_error();
        return (int)srv_status_for(st);
    }
    /* a request worker's models, or the shared pair under the lock (see srv_identify) */
    int w = srv_worker_take(r), shared = w == -2;
    if (w == -1 || (shared && srv_models_lock(r) != 0)) {
        fid_image_free(im);
        *why = r->why_stopped;
        return 503;
    }
    fid_detector *det = w >= 0 ? s->m.worker_detectors[w] : s->m.detector;
    fid_embedder *emb = w >= 0 ? s->m.worker_embedders[w] : s->m.embedder;
    fid_detection dets[64];
    int n = fid_detector_run(det, im, dets, 64, &st), best = -1;
    for (int i = 0; i < n && i < 64; i++)
        if (best < 0 || dets[i].box.width * dets[i].box.height > dets[best].box.width * dets[best].box.height) best = i;
    int code = 0;
    fid_face face;
    if (n < 0 || (best >= 0 && fid_embedder_describe(emb, im, &dets[best], &face, desc) != FID_OK))
        *why = fid_last_error(), code = 500;
    else if (best < 0)
        *why = "no face found", code = 422;
    else
        *box = dets[best].box;
    if (shared) srv_models_unlock(r);
    srv_worker_give(r, w);
    fid_image_free(im);
    return code;
}

enum MHD_Result srv_verify(srv_request *r) {
    fid_server *s = r->s;
    srv_part f[2];
    if (srv_files(r, f, 2) != 2)
        return srv_send_error(r, 400, "verify: send a multipart form with two image files (fields a and b)");
    int dim = fid_embedder_dim(s->m.embedder);
    float *d = malloc(2 * (size_t)dim * sizeof *d);
    if (!d) return srv_send_error(r, 503, "verify: out of memory");
    fid_box box[2];
    const char *why = "";
    char reason[512];
    int code = 0, which = 0;
    for (int i = 0; i < 2 && !code; i++)
        if ((code = largest_face(r, &f[i], &box[i], d + (size_t)i * dim, &why))) which = i;
    snprintf(reason, sizeof reason, "%s", why ? why : "");
    float dist = code ? 0 : fid_embedder_distance(s->m.embedder, d, d + dim);
    float thr = fid_embedder_threshold(s->m.embedder);
    free(d);
    if (code == 503 && r->why_stopped) return srv_send_budget(r, "verify");
    if (code) return srv_send_error(r, (unsigned)code, "verify: %s: %s", f[which].filename, reason);
    return srv_send_json(r, 200,
                         json_pack("{s:o,s:o,s:b,s:[o,o]}", "distance", fid__json_number(dist), "threshold",
                                   fid__json_number(thr), "same", dist < thr, "boxes", fid__json_box(box[0]),
                                   fid__json_box(box[1])));
}
