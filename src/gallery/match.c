/*
 * Open-set matching against a gallery snapshot held in memory: every face gets the closest
 * person (distance to that person's nearest sample), the runner-up, and the margin between
 * them; it is named only when the distance is under the threshold and the margin is large
 * enough, else it is unknown ("?").
 *
 * A snapshot is a base (everyone when it was read: samples, the int8 index over them; shared,
 * reference-counted, never changed) and a delta (the people changed since, with their samples,
 * and which base people they replace). A change applied from the gallery's change log makes a
 * new snapshot that shares the base and copies only the delta, so a node with a million people
 * takes in an enrollment in milliseconds, not the seconds of reading and indexing everyone
 * again; when the delta grows, base and delta are merged in memory into a new base.
 */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/profiles.h"
#include "faceid.h"
#include "gallery/gallery.h"
#include "gallery/index.h"
#include "util/error.h"

/* People and their samples, each person's consecutive. */
typedef struct {
    int n_people, cap_people;
    int64_t n_samples, cap_samples;
    fid_person_info *people;
    int *owner;  /* sample -> person */
    float *data; /* n_samples x dim */
} set;

typedef struct {
    atomic_int refs;
    set s;             /* people sorted by name (bytewise), so a changed name is found by bisection */
    int sorted;        /* 0: not (the back end's order was another): changes are applied by reading all */
    fid__index *index; /* large galleries: int8 scan + exact re-rank */
} base;

struct fid_matcher {
    fid_matcher_params p;
    int dim;
    base *b;
    unsigned char *removed; /* bitmap over b's people replaced or removed since (NULL: none) */
    int n_removed;
    set delta; /* the people changed since b was made */
    /* Counter-examples ("not this person"), read whole on every refresh: they are few, one per
     * correction. A face nearer one of the best person's counter-examples than to any of their
     * samples is not named that person. */
    set counters;
};

/* Below this many samples the exact scan is fast enough (50k x 128-d: ~5 ms). */
#define INDEX_FROM 50000
/* Nearest samples fetched from the index to find the best and runner-up people. */
#define INDEX_K 64
/* The delta is merged into a new base past this many samples (or a tenth of the base removed). */
#define DELTA_MAX(base_samples) ((base_samples) / 20 > 20000 ? (base_samples) / 20 : 20000)

fid_matcher_params fid_matcher_default_params(void) {
    fid_matcher_params p = {.threshold = NAN, .margin = 0.0f};
    return p;
}

static void set_free(set *s) {
    free(s->people);
    free(s->owner);
    free(s->data);
    memset(s, 0, sizeof *s);
}

static fid_status set_reserve(set *s, int people, int64_t samples, int dim) {
    if (people > s->cap_people) {
        fid_person_info *p = realloc(s->people, (size_t)people * sizeof *p);
        if (!p) return fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery: out of memory");
        s->people = p, s->cap_people = people;
    }
    if (samples > s->cap_samples) {
        float *data = realloc(s->data, (size_t)samples * dim * sizeof *data);
        if (data) s->data = data;
        int *owner = realloc(s->owner, (size_t)samples * sizeof *owner);
        if (owner) s->owner = owner;
        if (!data || !owner) return fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery: out of memory");
        s->cap_samples = samples;
    }
    return FID_OK;
}

/* Appends n samples of `name` (a new person when it differs from the last one appended). */
static fid_status set_append(set *s, int dim, const char *name, const float *d, int64_t n) {
    int is_new = !s->n_people || strcmp(s->people[s->n_people - 1].name, name);
    fid_status st = set_reserve(s, s->n_people + is_new > s->cap_people ? 2 * s->cap_people + 64 : s->cap_people,
                                s->n_samples + n > s->cap_samples ? 2 * s->cap_samples + n + 256 : s->cap_samples, dim);
    if (st != FID_OK) return st;
    if (is_new) {
        fid_person_info *p = &s->people[s->n_people++];
        snprintf(p->name, sizeof p->name, "%s", name);
        p->samples = 0;
    }
    memcpy(s->data + (size_t)s->n_samples * dim, d, (size_t)n * dim * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        s->owner[s->n_samples++] = s->n_people - 1;
    s->people[s->n_people - 1].samples += (int)n;
    return FID_OK;
}

typedef struct {
    set *s;
    int dim;
} append_to;

static fid_status append_sample(void *user, const char *name, const float *d, double quality, const char *source) {
    append_to *a = user;
    (void)quality, (void)source;
    return set_append(a->s, a->dim, name, d, 1);
}

static void base_release(base *b) {
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1) return;
    set_free(&b->s);
    fid__index_free(b->index);
    free(b);
}

/* A base over s (taken over): checks the order, indexes a large one. */
static base *base_make(set *s, int dim, fid_status *st) {
    base *b = calloc(1, sizeof *b);
    if (!b) {
        *st = fid__fail(FID_ERR_NO_MEMORY, "cannot load the gallery: out of memory");
        set_free(s);
        return NULL;
    }
    atomic_init(&b->refs, 1);
    b->s = *s;
    memset(s, 0, sizeof *s);
    b->sorted = 1;
    for (int i = 1; i < b->s.n_people && b->sorted; i++)
        b->sorted = strcmp(b->s.people[i - 1].name, b->s.people[i].name) < 0;
    *st = FID_OK;
    if (b->s.n_samples >= INDEX_FROM && !(b->index = fid__index_build(b->s.data, b->s.n_samples, dim, st))) {
        base_release(b);
        return NULL;
    }
    return b;
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

fid_matcher *fid_matcher_create(fid_gallery *g, const fid_matcher_params *params, fid_status *status) {
    fid_matcher *m = new_matcher(g, params, status);
    if (!m) return NULL;
    /* one scan of everyone (one query, not one per person: a million people load in seconds) */
    set s = {0};
    append_to a = {&s, m->dim};
    fid_status st = fid__gallery_scan(g, NULL, append_sample, &a);
    if (st == FID_OK) m->b = base_make(&s, m->dim, &st);
    append_to c = {&m->counters, m->dim};
    if (st == FID_OK) st = fid__gallery_counters(g, append_sample, &c);
    set_free(&s);
    if (st != FID_OK) {
        fid_matcher_free(m);
        m = NULL;
    }
    fid__set_status(status, st);
    return m;
}

void fid_matcher_free(fid_matcher *m) {
    if (!m) return;
    base_release(m->b);
    free(m->removed);
    set_free(&m->delta);
    set_free(&m->counters);
    free(m);
}

int fid_matcher_people(const fid_matcher *m) {
    return m && m->b ? m->b->s.n_people - m->n_removed + m->delta.n_people : 0;
}

float fid_matcher_threshold(const fid_matcher *m) { return m ? m->p.threshold : NAN; }

static int is_removed(const fid_matcher *m, int person) {
    return m->removed && (m->removed[person >> 3] >> (person & 7) & 1);
}

static float dist2(const float *x, const float *d, int dim) {
    float acc = 0;
    for (int k = 0; k < dim; k++)
        acc += (x[k] - d[k]) * (x[k] - d[k]);
    return acc;
}

fid_status fid_matcher_match(const fid_matcher *m, const float *d, fid_match *out) {
    if (!m || !d || !out) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_matcher_match: NULL argument");
    memset(out, 0, sizeof *out);
    out->distance = out->second_distance = INFINITY;
    const set *bs = &m->b->s, *ds = &m->delta;
    int nb = bs->n_people, n = nb + ds->n_people; /* persons: the base's, then the delta's */
    float *best = malloc((size_t)(n ? n : 1) * sizeof *best);
    if (!best) return fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
    for (int i = 0; i < n; i++)
        best[i] = INFINITY;
    int exact = !m->b->index;
    if (m->b->index) {
        /* The runner-up person must be among the INDEX_K nearest samples; if one person owns
         * them all, the margin is reported as infinite. */
        int64_t idx[INDEX_K];
        float dist[INDEX_K];
        int got = fid__index_search(m->b->index, d, INDEX_K, 2 * INDEX_K, 2, idx, dist);
        if (got < 0) {
            free(best);
            return fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
        }
        int kept = 0;
        for (int r = 0; r < got; r++) {
            int p = bs->owner[idx[r]];
            if (is_removed(m, p)) continue;
            kept++;
            if (dist[r] * dist[r] < best[p]) best[p] = dist[r] * dist[r];
        }
        /* the nearest samples all belonged to people removed since: look at everyone */
        exact = kept == 0 && got > 0 && m->n_removed < nb;
    }
    for (int64_t s = 0; exact && s < bs->n_samples; s++) {
        int p = bs->owner[s];
        if (is_removed(m, p)) continue;
        float acc = dist2(bs->data + (size_t)s * m->dim, d, m->dim);
        if (acc < best[p]) best[p] = acc;
    }
    for (int64_t s = 0; s < ds->n_samples; s++) {
        float acc = dist2(ds->data + (size_t)s * m->dim, d, m->dim);
        if (acc < best[nb + ds->owner[s]]) best[nb + ds->owner[s]] = acc;
    }
    int b = -1, s2 = -1;
    for (int i = 0; i < n; i++) {
        if (i < nb && is_removed(m, i)) continue;
        if (b < 0 || best[i] < best[b])
            s2 = b, b = i;
        else if (s2 < 0 || best[i] < best[s2])
            s2 = i;
    }
#define NAME_OF(i) ((i) < nb ? bs->people[i].name : ds->people[(i) - nb].name)
    if (b >= 0) {
        out->distance = sqrtf(best[b]);
        snprintf(out->candidate, sizeof out->candidate, "%s", NAME_OF(b));
    }
    if (s2 >= 0) {
        out->second_distance = sqrtf(best[s2]);
        snprintf(out->second, sizeof out->second, "%s", NAME_OF(s2));
    }
    out->margin = s2 >= 0 ? out->second_distance - out->distance : INFINITY;
    out->threshold = m->p.threshold;
    out->known = b >= 0 && out->distance < m->p.threshold && out->margin >= m->p.margin;
    const set *cs = &m->counters;
    for (int64_t c = 0; out->known && c < cs->n_samples; c++)
        if (!strcmp(cs->people[cs->owner[c]].name, NAME_OF(b)) &&
            dist2(cs->data + (size_t)c * m->dim, d, m->dim) < best[b])
            out->known = 0, out->rejected = 1;
    snprintf(out->name, sizeof out->name, "%s", out->known ? NAME_OF(b) : "?");
#undef NAME_OF
    free(best);
    return FID_OK;
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
    if (!(c->names[c->n] = strdup(name))) return 1;
    c->n++;
    return 0;
}

/* The base person named `name`, or -1 (base people are sorted by name). */
static int base_find(const base *b, const char *name) {
    int lo = 0, hi = b->s.n_people - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(b->s.people[mid].name, name);
        if (!c) return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

int fid__matcher_knows(const fid_matcher *m, const char *name) {
    if (!m || !m->b) return 0;
    int p = base_find(m->b, name);
    if (p >= 0 && !is_removed(m, p) && m->b->sorted) return 1;
    if (!m->b->sorted) /* not sorted by name: a plain look */
        for (int i = 0; i < m->b->s.n_people; i++)
            if (!is_removed(m, i) && !strcmp(m->b->s.people[i].name, name)) return 1;
    for (int i = 0; i < m->delta.n_people; i++)
        if (!strcmp(m->delta.people[i].name, name)) return 1;
    return 0;
}

typedef struct {
    const char *name;
    int index;
} named;

static int cmp_named(const void *a, const void *b) { return strcmp(((const named *)a)->name, ((const named *)b)->name); }

/* Base (less the removed) and delta merged by name into a new base, in memory. */
static fid_status compact(fid_matcher *m) {
    const set *bs = &m->b->s, *ds = &m->delta;
    int nd = ds->n_people;
    int64_t *bfirst = malloc((size_t)(bs->n_people + 1) * sizeof *bfirst),
            *dfirst = malloc((size_t)(nd + 1) * sizeof *dfirst);
    named *order = malloc((size_t)(nd ? nd : 1) * sizeof *order);
    set s = {0};
    fid_status st = bfirst && dfirst && order ? set_reserve(&s, bs->n_people - m->n_removed + nd,
                                                            bs->n_samples + ds->n_samples, m->dim)
                                              : fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
    if (st == FID_OK) {
        bfirst[0] = dfirst[0] = 0;
        for (int i = 0; i < bs->n_people; i++)
            bfirst[i + 1] = bfirst[i] + bs->people[i].samples;
        for (int i = 0; i < nd; i++)
            dfirst[i + 1] = dfirst[i] + ds->people[i].samples, order[i] = (named){ds->people[i].name, i};
        qsort(order, (size_t)nd, sizeof *order, cmp_named); /* up to 20000 people */
        int i = 0, j = 0;
        while (st == FID_OK && (i < bs->n_people || j < nd)) {
            if (i < bs->n_people && is_removed(m, i)) {
                i++;
                continue;
            }
            int take_base = j >= nd || (i < bs->n_people && strcmp(bs->people[i].name, order[j].name) < 0);
            if (take_base) {
                st = set_append(&s, m->dim, bs->people[i].name, bs->data + (size_t)bfirst[i] * m->dim,
                                bs->people[i].samples);
                i++;
            } else {
                int p = order[j++].index;
                st = set_append(&s, m->dim, ds->people[p].name, ds->data + (size_t)dfirst[p] * m->dim,
                                ds->people[p].samples);
            }
        }
    }
    free(bfirst), free(dfirst), free(order);
    base *nb = st == FID_OK ? base_make(&s, m->dim, &st) : NULL;
    set_free(&s);
    if (!nb) return st;
    base_release(m->b);
    m->b = nb;
    free(m->removed);
    m->removed = NULL, m->n_removed = 0;
    set_free(&m->delta);
    return FID_OK;
}

/* More changed people than this: reading everyone again is cheaper than one query each. */
#define REFRESH_MAX_PEOPLE 2000

/* old's snapshot with the changed people (sorted names) read again from the gallery. */
static fid_matcher *apply_changes(const fid_matcher *old, fid_gallery *g, char **names, int n_names,
                                  fid_status *st) {
    fid_matcher *m = calloc(1, sizeof *m);
    if (!m) {
        *st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a matcher");
        return NULL;
    }
    /* old's threshold as resolved: a calibration changed is a settings change, which reads everything */
    m->p = old->p, m->dim = old->dim;
    base *b = old->b;
    atomic_fetch_add(&b->refs, 1);
    m->b = b;
    size_t bytes = ((size_t)b->s.n_people + 7) / 8;
    *st = FID_OK;
    if (old->removed || n_names) {
        if (!(m->removed = calloc(bytes ? bytes : 1, 1))) *st = fid__fail(FID_ERR_NO_MEMORY, "matcher: out of memory");
        if (m->removed && old->removed) memcpy(m->removed, old->removed, bytes);
        m->n_removed = old->n_removed;
    }
    /* a changed person's base samples are replaced by what the gallery holds now (none: removed) */
    for (int i = 0; *st == FID_OK && i < n_names; i++) {
        int p = base_find(b, names[i]);
        if (p >= 0 && !is_removed(m, p)) m->removed[p >> 3] |= (unsigned char)(1 << (p & 7)), m->n_removed++;
    }
    const set *od = &old->delta;
    for (int i = 0, at = 0; *st == FID_OK && i < od->n_people; at += od->people[i++].samples) {
        const char *key = od->people[i].name;
        if (!bsearch(&key, names, (size_t)n_names, sizeof *names, cmp_name))
            *st = set_append(&m->delta, m->dim, key, od->data + (size_t)at * m->dim, od->people[i].samples);
    }
    append_to a = {&m->delta, m->dim}, c = {&m->counters, m->dim};
    for (int i = 0; *st == FID_OK && i < n_names; i++)
        if (!i || strcmp(names[i], names[i - 1])) *st = fid__gallery_scan(g, names[i], append_sample, &a);
    if (*st == FID_OK) *st = fid__gallery_counters(g, append_sample, &c);
    if (*st == FID_OK &&
        (m->delta.n_samples > DELTA_MAX(b->s.n_samples) || m->n_removed > b->s.n_people / 10 + 1000))
        *st = compact(m);
    if (*st != FID_OK) {
        fid_matcher_free(m);
        return NULL;
    }
    return m;
}

fid_matcher *fid__matcher_refresh(const fid_matcher *old, uint64_t old_version, fid_gallery *g,
                                  const fid_matcher_params *params, uint64_t *version, fid_status *status) {
    change_set c = {0};
    fid_status st = old && old->b->sorted ? fid__gallery_changes(g, old_version, take_change, &c) : FID_ERR_UNSUPPORTED;
    fid_matcher *m = NULL;
    if (st == FID_OK && !c.settings && c.n <= REFRESH_MAX_PEOPLE) {
        qsort(c.names, (size_t)c.n, sizeof *c.names, cmp_name);
        if ((m = apply_changes(old, g, c.names, c.n, &st))) *version = c.last > old_version ? c.last : old_version;
    } else if (st == FID_OK || st == FID_ERR_UNSUPPORTED || st == FID_ERR_NOT_FOUND) {
        /* no log, a gap in it, settings changed or too much changed: read everything; the version
         * is taken first, so a change made meanwhile is seen again next time, never lost */
        if ((st = fid_gallery_version(g, version)) == FID_OK) m = fid_matcher_create(g, params, &st);
    } else if (st == FID_ERR_NO_MEMORY) {
        fid__fail(st, "matcher: out of memory reading the change log");
    }
    for (int i = 0; i < c.n; i++)
        free(c.names[i]);
    free(c.names);
    fid__set_status(status, m ? FID_OK : st);
    return m;
}
