/*
 * Open-set matching against a gallery snapshot held in memory: every face gets the closest
 * person (distance to that person's nearest sample), the runner-up, and the margin between
 * them; it is named only when the distance is under the threshold and the margin is large
 * enough, else it is unknown ("?").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/profiles.h"
#include "faceid.h"
#include "gallery/gallery.h"
#include "gallery/index.h"
#include "util/error.h"

struct fid_matcher {
    fid_matcher_params p;
    int dim, n_people, n_samples;
    fid_person_info *people;
    int *owner;        /* sample -> person */
    float *data;       /* n_samples x dim */
    fid__index *index; /* large galleries: int8 scan + exact re-rank */
};

/* Below this many samples the exact scan is fast enough (50k x 128-d: ~5 ms). */
#define INDEX_FROM 50000
/* Nearest samples fetched from the index to find the best and runner-up people. */
#define INDEX_K 64

fid_matcher_params fid_matcher_default_params(void) {
    fid_matcher_params p = {.threshold = NAN, .margin = 0.0f};
    return p;
}

fid_matcher *fid_matcher_create(fid_gallery *g, const fid_matcher_params *params, fid_status *status) {
    fid_matcher *m = calloc(1, sizeof *m);
    fid_status st = FID_OK;
    if (!g || !m) {
        free(m);
        fid__set_status(status, g ? fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a matcher")
                                  : fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_matcher_create: no gallery"));
        return NULL;
    }
    m->p = params ? *params : fid_matcher_default_params();
    m->dim = fid_gallery_dim(g);
    if (isnan(m->p.threshold)) { /* calibrated */
        st = fid_gallery_threshold(g, &m->p.threshold);
        if (st != FID_OK && st != FID_ERR_NOT_FOUND) goto fail;
    }
    if (isnan(m->p.threshold)) { /* else the model profile's */
        const fid__profile *prof = fid__profile_for_model(fid__gallery_model(g));
        if (!prof) {
            st = fid__fail(FID_ERR_INVALID_ARGUMENT,
                           "no threshold known for the gallery's model '%s': calibrate it or give a threshold",
                           fid__gallery_model(g));
            goto fail;
        }
        m->p.threshold = prof->identify_threshold;
    }
    int n = fid_gallery_people(g, NULL, 0, &st);
    if (n < 0) goto fail;
    m->people = calloc((size_t)(n ? n : 1), sizeof *m->people);
    if (!m->people) {
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery");
        goto fail;
    }
    m->n_people = fid_gallery_people(g, m->people, n, &st);
    if (m->n_people < 0) goto fail;
    if (m->n_people > n) m->n_people = n; /* changed meanwhile: the snapshot holds the first n */
    for (int i = 0; i < m->n_people; i++)
        m->n_samples += m->people[i].samples;
    m->data = malloc((size_t)(m->n_samples ? m->n_samples : 1) * m->dim * sizeof *m->data);
    m->owner = malloc((size_t)(m->n_samples ? m->n_samples : 1) * sizeof *m->owner);
    if (!m->data || !m->owner) {
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot load %d samples", m->n_samples);
        goto fail;
    }
    int at = 0;
    for (int i = 0; i < m->n_people; i++) {
        int k = fid_gallery_samples(g, m->people[i].name, m->data + (size_t)at * m->dim, m->n_samples - at, &st);
        if (k < 0) goto fail;
        if (k > m->n_samples - at) k = m->n_samples - at;
        for (int j = 0; j < k; j++)
            m->owner[at + j] = i;
        m->people[i].samples = k;
        at += k;
    }
    m->n_samples = at;
    if (m->n_samples >= INDEX_FROM && !(m->index = fid__index_build(m->data, m->n_samples, m->dim, &st))) goto fail;
    fid__set_status(status, FID_OK);
    return m;
fail:
    fid_matcher_free(m);
    fid__set_status(status, st);
    return NULL;
}

void fid_matcher_free(fid_matcher *m) {
    if (!m) return;
    free(m->people);
    free(m->owner);
    free(m->data);
    fid__index_free(m->index);
    free(m);
}

int fid_matcher_people(const fid_matcher *m) { return m ? m->n_people : 0; }

fid_status fid_matcher_match(const fid_matcher *m, const float *d, fid_match *out) {
    if (!m || !d || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_matcher_match: NULL argument");
    memset(out, 0, sizeof *out);
    out->distance = out->second_distance = INFINITY;
    float *best = malloc((size_t)(m->n_people ? m->n_people : 1) * sizeof *best);
    if (!best) return fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
    for (int i = 0; i < m->n_people; i++)
        best[i] = INFINITY;
    if (m->index) {
        /* The runner-up person must be among the INDEX_K nearest samples; if one person owns
         * them all, the margin is reported as infinite. */
        int64_t idx[INDEX_K];
        float dist[INDEX_K];
        int got = fid__index_search(m->index, d, INDEX_K, 2 * INDEX_K, 2, idx, dist);
        if (got < 0) {
            free(best);
            return fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
        }
        for (int r = 0; r < got; r++)
            if (dist[r] * dist[r] < best[m->owner[idx[r]]]) best[m->owner[idx[r]]] = dist[r] * dist[r];
    }
    for (int s = 0; !m->index && s < m->n_samples; s++) {
        const float *x = m->data + (size_t)s * m->dim;
        float acc = 0;
        for (int k = 0; k < m->dim; k++)
            acc += (x[k] - d[k]) * (x[k] - d[k]);
        if (acc < best[m->owner[s]]) best[m->owner[s]] = acc;
    }
    int b = -1, s2 = -1;
    for (int i = 0; i < m->n_people; i++) {
        if (b < 0 || best[i] < best[b])
            s2 = b, b = i;
        else if (s2 < 0 || best[i] < best[s2])
            s2 = i;
    }
    if (b >= 0) {
        out->distance = sqrtf(best[b]);
        snprintf(out->candidate, sizeof out->candidate, "%s", m->people[b].name);
    }
    if (s2 >= 0) {
        out->second_distance = sqrtf(best[s2]);
        snprintf(out->second, sizeof out->second, "%s", m->people[s2].name);
    }
    out->margin = s2 >= 0 ? out->second_distance - out->distance : INFINITY;
    out->known = b >= 0 && out->distance < m->p.threshold && out->margin >= m->p.margin;
    snprintf(out->name, sizeof out->name, "%s", out->known ? m->people[b].name : "?");
    free(best);
    return FID_OK;
}
