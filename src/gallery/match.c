/*
 * Open-set matching against a gallery snapshot held in memory: every face gets the closest
 * person (distance to that person's nearest sample), the runner-up, and the margin between
 * them; it is named only when the distance is under the threshold and the margin is large
 * enough, else it is unknown ("?").
 */
#include <math.h>
#include <stdint.h>
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
    int dim, n_people, cap_people;
    int64_t n_samples, cap_samples;
    fid_person_info *people; /* each person's samples are consecutive rows of data */
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

/* Appends one sample of `name` (a new person when it differs from the last one appended). */
static fid_status append_sample(void *user, const char *name, const float *d, double quality, const char *source) {
    fid_matcher *m = user;
    (void)quality, (void)source;
    if (!m->n_people || strcmp(m->people[m->n_people - 1].name, name)) {
        if (m->n_people == m->cap_people) {
            int cap = m->cap_people ? 2 * m->cap_people : 64;
            fid_person_info *p = realloc(m->people, (size_t)cap * sizeof *p);
            if (!p) return fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery: out of memory");
            m->people = p, m->cap_people = cap;
        }
        fid_person_info *p = &m->people[m->n_people++];
        snprintf(p->name, sizeof p->name, "%s", name);
        p->samples = 0;
    }
    if (m->n_samples == m->cap_samples) {
        int64_t cap = m->cap_samples ? 2 * m->cap_samples : 256;
        float *data = realloc(m->data, (size_t)cap * m->dim * sizeof *data);
        if (data) m->data = data;
        int *owner = realloc(m->owner, (size_t)cap * sizeof *owner);
        if (owner) m->owner = owner;
        if (!data || !owner) return fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery: out of memory");
        m->cap_samples = cap;
    }
    memcpy(m->data + (size_t)m->n_samples * m->dim, d, (size_t)m->dim * sizeof *d);
    m->owner[m->n_samples++] = m->n_people - 1;
    m->people[m->n_people - 1].samples++;
    return FID_OK;
}

/* The threshold in use: the caller's, else the gallery's calibration, else the model profile's. */
static fid_status resolve_threshold(fid_matcher *m, fid_gallery *g) {
    if (isnan(m->p.threshold)) { /* calibrated */
        fid_status st = fid_gallery_threshold(g, &m->p.threshold);
        if (st != FID_OK && st != FID_ERR_NOT_FOUND) return st;
    }
    if (isnan(m->p.threshold)) { /* else the model profile's */
        const fid__profile *prof = fid__profile_for_model(fid__gallery_model(g));
        if (!prof)
            return fid__fail(FID_ERR_INVALID_ARGUMENT,
                             "no threshold known for the gallery's model '%s': calibrate it or give a threshold",
                             fid__gallery_model(g));
        m->p.threshold = prof->identify_threshold;
    }
    return FID_OK;
}

static fid_matcher *new_matcher(fid_gallery *g, const fid_matcher_params *params, fid_status *status) {
    fid_matcher *m = g ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        fid__set_status(status, g ? fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a matcher")
                                  : fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_matcher_create: no gallery"));
        return NULL;
    }
    m->p = params ? *params : fid_matcher_default_params();
    m->dim = fid_gallery_dim(g);
    fid_status st = resolve_threshold(m, g);
    if (st != FID_OK) {
        fid_matcher_free(m);
        fid__set_status(status, st);
        return NULL;
    }
    return m;
}

static fid_matcher *finish_matcher(fid_matcher *m, fid_status st, fid_status *status) {
    if (st == FID_OK && m->n_samples >= INDEX_FROM && !(m->index = fid__index_build(m->data, m->n_samples, m->dim, &st)))
        st = st == FID_OK ? FID_ERR_NO_MEMORY : st;
    if (st != FID_OK) {
        fid_matcher_free(m);
        m = NULL;
    }
    fid__set_status(status, st);
    return m;
}

fid_matcher *fid_matcher_create(fid_gallery *g, const fid_matcher_params *params, fid_status *status) {
    fid_matcher *m = new_matcher(g, params, status);
    if (!m) return NULL;
    /* one scan of everyone (one query, not one per person: a million people load in seconds) */
    return finish_matcher(m, fid__gallery_scan(g, NULL, append_sample, m), status);
}

/* ---- incremental refresh from the change log ---- */

typedef struct {
    char **names;
    int n, cap, settings;
    uint64_t last;
} change_set;

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int take_change(void *user, uint64_t version, const char *name) {
    change_set *c = user;
    c->last = version;
    if (!name) {
        c->settings = 1;
        return 0;
    }
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 16;
        char **n = realloc(c->names, (size_t)cap * sizeof *n);
        if (!n) return 1;
        c->names = n, c->cap = cap;
    }
    return !(c->names[c->n] = strdup(name)) || (c->n++, 0);
}

/* More changed people than this: reading everyone again is cheaper than one query each. */
#define REFRESH_MAX_PEOPLE 2000

fid_matcher *fid__matcher_refresh(const fid_matcher *old, uint64_t old_version, fid_gallery *g,
                                  const fid_matcher_params *params, uint64_t *version, fid_status *status) {
    change_set c = {0};
    fid_status st = old ? fid__gallery_changes(g, old_version, take_change, &c) : FID_ERR_UNSUPPORTED;
    fid_matcher *m = NULL;
    if (st == FID_OK && !c.settings && c.n <= REFRESH_MAX_PEOPLE && c.n <= old->n_people / 4 + 16 &&
        (m = new_matcher(g, params, &st))) {
        qsort(c.names, (size_t)c.n, sizeof *c.names, cmp_name);
        /* everyone unchanged comes over from the old snapshot, the changed people from the log */
        for (int i = 0, at = 0; i < old->n_people && st == FID_OK; at += old->people[i++].samples) {
            const char *key = old->people[i].name;
            if (bsearch(&key, c.names, (size_t)c.n, sizeof *c.names, cmp_name)) continue;
            for (int k = 0; k < old->people[i].samples && st == FID_OK; k++)
                st = append_sample(m, key, old->data + (size_t)(at + k) * old->dim, NAN, NULL);
        }
        for (int i = 0; i < c.n && st == FID_OK; i++)
            if (!i || strcmp(c.names[i], c.names[i - 1])) st = fid__gallery_scan(g, c.names[i], append_sample, m);
        m = finish_matcher(m, st, &st);
        if (m) *version = c.last > old_version ? c.last : old_version;
    } else if (st == FID_OK || st == FID_ERR_UNSUPPORTED || st == FID_ERR_NOT_FOUND) {
        /* no log, a gap in it, settings changed or too much changed: read everything; the version
         * is taken first, so a change made meanwhile is seen again next time, never lost */
        if ((st = fid_gallery_version(g, version)) == FID_OK) m = fid_matcher_create(g, params, &st);
    }
    for (int i = 0; i < c.n; i++)
        free(c.names[i]);
    free(c.names);
    fid__set_status(status, m ? FID_OK : st);
    return m;
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
