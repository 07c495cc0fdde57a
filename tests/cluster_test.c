/* Strangers' grouping (src/gallery/cluster.c): average linkage with cannot-link constraints,
 * against a naive reference that recomputes every group-to-group average from the faces, on
 * random faces; and the two rules the service relies on: no chaining through a face between two
 * people, and faces seen in one frame never in one group. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gallery/cluster.h"

static unsigned seed = 12345;
static double frand(void) { return ((seed = seed * 1103515245u + 12345u) >> 8 & 0xffffff) / (double)0x1000000; }

static float dist(const float *a, const float *b, int dim) {
    double s = 0;
    for (int k = 0; k < dim; k++)
        s += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return (float)sqrt(s);
}

typedef struct {
    const unsigned char *no;
    int n;
} links;

static int cannot(void *user, int a, int b) {
    const links *l = user;
    return l->no[a * l->n + b];
}

/* Naive UPGMA: every step, the pair of groups with the smallest mean face-to-face distance and no
 * cannot-link between their faces merges, while that mean is below t. */
static int naive(const float *x, int n, int dim, float t, const unsigned char *no, int *label) {
    int g[64];
    for (int i = 0; i < n; i++)
        g[i] = i;
    for (;;) {
        int ba = -1, bb = -1;
        double best = INFINITY;
        for (int a = 0; a < n; a++)
            for (int b = a + 1; b < n; b++) {
                double sum = 0;
                int pairs = 0, bad = 0, any_a = 0, any_b = 0;
                for (int i = 0; i < n; i++)
                    for (int j = 0; j < n; j++) {
                        if (g[i] != a || g[j] != b) continue;
                        any_a = any_b = 1;
                        sum += dist(x + i * dim, x + j * dim, dim), pairs++;
                        bad |= no[i * n + j];
                    }
                if (!any_a || !any_b || bad) continue;
                if (sum / pairs < best) best = sum / pairs, ba = a, bb = b;
            }
        if (ba < 0 || !(best < t)) break;
        for (int i = 0; i < n; i++)
            if (g[i] == bb) g[i] = ba;
    }
    int map[64], groups = 0;
    for (int i = 0; i < n; i++)
        map[i] = -1;
    for (int i = 0; i < n; i++) {
        if (map[g[i]] < 0) map[g[i]] = groups++;
        label[i] = map[g[i]];
    }
    return groups;
}

int main(void) {
    /* random faces around a few people, random same-frame pairs */
    int mismatched = 0;
    for (int trial = 0; trial < 300; trial++) {
        int n = 2 + (int)(frand() * 40), dim = 2 + (int)(frand() * 6), people = 1 + (int)(frand() * 6);
        float x[64 * 8], centers[8 * 8], t = (float)(0.3 + frand() * 1.2);
        unsigned char no[64 * 64] = {0};
        for (int p = 0; p < people; p++)
            for (int k = 0; k < dim; k++)
                centers[p * dim + k] = (float)(frand() * 3);
        for (int i = 0; i < n; i++) {
            int p = (int)(frand() * people);
            for (int k = 0; k < dim; k++)
                x[i * dim + k] = centers[p * dim + k] + (float)((frand() - 0.5) * 0.8);
        }
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                if (frand() < 0.05) no[i * n + j] = no[j * n + i] = 1;
        links l = {no, n};
        int got[64], want[64];
        int gg = fid__cluster(x, n, dim, t, cannot, &l, got), gw = naive(x, n, dim, t, no, want);
        int same = gg == gw && !memcmp(got, want, (size_t)n * sizeof *got);
        mismatched += !same;
        CHECK(same, "trial %d (n %d, dim %d, t %.2f): %d groups, the reference %d", trial, n, dim, t, gg, gw);
        /* whatever the grouping, no group holds two faces that cannot be one person */
        for (int i = 0; i < n; i++)
            for (int j = 0; j < i; j++)
                CHECK(!(no[i * n + j] && got[i] == got[j]), "trial %d: faces %d and %d of one frame grouped", trial, i,
                      j);
    }
    printf("random: %d of 300 groupings differ from the reference\n", mismatched);

    /* two people 1.0 apart and a face half-way: nearest-face or centroid rules at 0.55 join all
     * seven (0.5 from each side); average linkage keeps the two people apart */
    float line[7] = {0.0f, 0.05f, 0.1f, 0.5f, 0.9f, 0.95f, 1.0f};
    int lab[7];
    int groups = fid__cluster(line, 7, 1, 0.55f, NULL, NULL, lab);
    CHECK(groups >= 2 && lab[0] == lab[2] && lab[4] == lab[6] && lab[0] != lab[6],
          "a face between two people chained them: %d groups", groups);

    /* two faces at 0.1 from each other, seen in one frame: two people; a third face near both
     * joins one of them, never both */
    float near[3] = {0.0f, 0.1f, 0.05f};
    unsigned char no3[9] = {0, 1, 0, 1, 0, 0, 0, 0, 0};
    links l3 = {no3, 3};
    groups = fid__cluster(near, 3, 1, 0.55f, cannot, &l3, lab);
    CHECK(groups == 2 && lab[0] != lab[1] && (lab[2] == lab[0] || lab[2] == lab[1]),
          "same-frame faces: %d groups (%d %d %d)", groups, lab[0], lab[1], lab[2]);

    float mean, max;
    int members[3] = {0, 1, 2};
    fid__cluster_spread(near, members, 3, 1, &mean, &max);
    CHECK(fabsf(max - 0.1f) < 1e-6 && fabsf(mean - 0.2f / 3) < 1e-6, "spread: mean %.4f max %.4f", mean, max);
    CHECK(fid__cluster(NULL, 0, 4, 0.5f, NULL, NULL, NULL) == 0, "no faces, no groups");
    return check_summary();
}
