/*
 * Threshold calibration on the gallery's own samples, leave-one-out: each sample is matched as
 * identify would match it (distance to a person's nearest sample) against its own person
 * without itself (a genuine distance) and against every other person (impostor distances).
 * The threshold for a target false-accept rate is the matching quantile of the impostors.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "faceid.h"
#include "face/profiles.h"
#include "gallery/gallery.h"
#include "util/error.h"

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* Fraction of sorted values strictly below t. */
static double below(const float *v, int n, float t) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (v[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return n ? (double)lo / n : 0;
}

fid_status fid_gallery_calibrate(fid_gallery *g, double target_far, int store, fid_calibration *out) {
    if (!g || !out || !(target_far > 0 && target_far < 1))
        return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_gallery_calibrate: need a gallery and 0 < FAR < 1");
    memset(out, 0, sizeof *out);
    fid_status st;
    int n_people = 0;
    fid_person_info *people = fid__gallery_people_all(g, &n_people, &st);
    if (!people) return st;
    int dim = fid_gallery_dim(g), total = 0, usable = 0, with_samples = 0;
    for (int i = 0; i < n_people; i++)
        total += people[i].samples, usable += people[i].samples >= 2, with_samples += people[i].samples >= 1;
    /* genuine distances need a person with 2 samples, impostor distances two people with any:
     * without both there is nothing to measure, and a threshold from nothing would be stored */
    if (with_samples < 2 || usable < 1) {
        free(people);
        return fid__fail(FID_ERR_INVALID_ARGUMENT,
                         "calibration needs at least 2 people with samples and one with 2 or more (gallery has %d "
                         "people, %d with samples, %d with 2 or more)",
                         n_people, with_samples, usable);
    }
    float *data = malloc((size_t)total * dim * sizeof *data);
    int *owner = malloc((size_t)total * sizeof *owner);
    float *genuine = malloc((size_t)total * sizeof *genuine);
    float *impostor = malloc((size_t)total * n_people * sizeof *impostor);
    float *best = malloc((size_t)n_people * sizeof *best);
    if (!data || !owner || !genuine || !impostor || !best) {
        st = fid__fail(FID_ERR_NO_MEMORY, "calibrate: out of memory");
        goto done;
    }
    int at = 0;
    for (int i = 0; i < n_people; i++) {
        int k = fid_gallery_samples(g, people[i].name, data + (size_t)at * dim, total - at, &st);
        if (k < 0) goto done;
        if (k > total - at) k = total - at; /* samples added since the count: not read, not counted */
        for (int j = 0; j < k; j++)
            owner[at + j] = i;
        at += k;
    }
    total = at;
    int n_gen = 0, n_imp = 0;
    for (int s = 0; s < total; s++) {
        for (int p = 0; p < n_people; p++)
            best[p] = INFINITY;
        for (int t = 0; t < total; t++) {
            if (t == s) continue; /* leave the probe out */
            double acc = 0;
            for (int k = 0; k < dim; k++) {
                double d = (double)data[(size_t)s * dim + k] - data[(size_t)t * dim + k];
                acc += d * d;
            }
            if (acc < best[owner[t]]) best[owner[t]] = (float)acc;
        }
        for (int p = 0; p < n_people; p++) {
            if (!isfinite(best[p])) continue;
            if (p == owner[s])
                genuine[n_gen++] = sqrtf(best[p]);
            else
                impostor[n_imp++] = sqrtf(best[p]);
        }
    }
    if (n_gen < 1 || n_imp < 1) { /* samples removed since the count */
        st = fid__fail(FID_ERR_INVALID_ARGUMENT, "calibration found %d genuine and %d impostor distances; it needs both",
                       n_gen, n_imp);
        goto done;
    }
    qsort(genuine, (size_t)n_gen, sizeof *genuine, cmp_float);
    qsort(impostor, (size_t)n_imp, sizeof *impostor, cmp_float);
    out->genuine = n_gen;
    out->impostor = n_imp;
    out->target_far = target_far;
    /* Largest threshold whose false-accept rate stays within the target: below the
     * floor(FAR * n)-th smallest impostor distance. With few impostors the achievable FAR is
     * coarse (1/n); then the threshold sits under the closest impostor. */
    int k = (int)floor(target_far * n_imp);
    float t = impostor[k < n_imp ? k : n_imp - 1];
    out->threshold = t;
    out->far = below(impostor, n_imp, t);
    out->tar = below(genuine, n_gen, t);
    out->resolution_limited = target_far * n_imp < 1;
    static const double fars[] = {1e-1, 1e-2, 1e-3, 1e-4};
    for (int i = 0; i < 4; i++) {
        int kk = (int)floor(fars[i] * n_imp);
        float th = impostor[kk < n_imp ? kk : n_imp - 1];
        out->table[i].far = fars[i];
        out->table[i].threshold = th;
        out->table[i].tar = below(genuine, n_gen, th);
        out->table[i].measured_far = below(impostor, n_imp, th);
    }
    /* Impostors among a handful of enrolled people say little about strangers: with fewer than
     * FID_CALIBRATION_MIN_PEOPLE people, calibration may tighten the model's default but never
     * loosen it (on the seed clips, 2 people gave 0.76 while a stranger came within 0.58). */
    const fid__profile *prof = fid__profile_for_model(fid__gallery_model(g));
    float cap = prof ? prof->identify_threshold : 0.5f;
    if (n_people < FID_CALIBRATION_MIN_PEOPLE && out->threshold > cap) {
        out->capped = 1;
        out->threshold = cap;
        out->far = below(impostor, n_imp, cap);
        out->tar = below(genuine, n_gen, cap);
    }
    t = out->threshold;
    out->closest_impostor = impostor[0];
    out->farthest_genuine = n_gen ? genuine[n_gen - 1] : 0;
    if (store)
        st = fid__gallery_set_threshold(g, t, target_far);
    else
        st = FID_OK;
done:
    free(people), free(data), free(owner), free(genuine), free(impostor), free(best);
    return st;
}
