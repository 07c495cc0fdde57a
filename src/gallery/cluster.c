/*
 * Average-linkage clustering with cannot-link constraints, for "who is this?": strangers'
 * faces from the cameras, grouped so that naming a group names one person. Distances between
 * groups are kept in a matrix updated by Lance-Williams (the average linkage of a merged group is
 * the size-weighted mean of its parts'), each row remembering its nearest group, so a merge costs
 * O(n) except for the rows whose nearest was one of the merged groups.
 */
#include "gallery/cluster.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float dist(const float *a, const float *b, int dim) {
    double s = 0;
    for (int k = 0; k < dim; k++)
        s += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
    return (float)sqrt(s);
}

/* Row i's nearest active group j != i that it may merge with. */
static void nearest(const float *D, const unsigned char *no, const int *size, int n, int i, int *nn, float *nd) {
    nn[i] = -1, nd[i] = INFINITY;
    for (int j = 0; j < n; j++)
        if (j != i && size[j] && !no[(size_t)i * n + j] && D[(size_t)i * n + j] < nd[i])
            nd[i] = D[(size_t)i * n + j], nn[i] = j;
}

int fid__cluster(const float *x, int n, int dim, float threshold, fid__cannot_link_fn cannot, void *user,
                 int *labels) {
    if (n <= 0) return 0;
    float *D = malloc((size_t)n * n * sizeof *D), *nd = malloc((size_t)n * sizeof *nd);
    unsigned char *no = calloc((size_t)n * n, 1);
    int *size = malloc((size_t)n * sizeof *size), *nn = malloc((size_t)n * sizeof *nn),
        *root = malloc((size_t)n * sizeof *root);
    int groups = -1;
    if (!D || !nd || !no || !size || !nn || !root) goto done;
    for (int i = 0; i < n; i++) {
        size[i] = 1, root[i] = i;
        D[(size_t)i * n + i] = 0;
        for (int j = 0; j < i; j++) {
            D[(size_t)i * n + j] = D[(size_t)j * n + i] = dist(x + (size_t)i * dim, x + (size_t)j * dim, dim);
            if (cannot && cannot(user, i, j)) no[(size_t)i * n + j] = no[(size_t)j * n + i] = 1;
        }
    }
    for (int i = 0; i < n; i++)
        nearest(D, no, size, n, i, nn, nd);
    for (;;) {
        int a = -1;
        for (int i = 0; i < n; i++)
            if (size[i] && nn[i] >= 0 && (a < 0 || nd[i] < nd[a])) a = i;
        if (a < 0 || !(nd[a] < threshold)) break;
        int b = nn[a];
        /* b joins a: average linkage to every other group, cannot-links united */
        for (int k = 0; k < n; k++) {
            if (!size[k] || k == a || k == b) continue;
            float v = (size[a] * D[(size_t)a * n + k] + size[b] * D[(size_t)b * n + k]) / (float)(size[a] + size[b]);
            D[(size_t)a * n + k] = D[(size_t)k * n + a] = v;
            unsigned char c = no[(size_t)a * n + k] | no[(size_t)b * n + k];
            no[(size_t)a * n + k] = no[(size_t)k * n + a] = c;
        }
        size[a] += size[b], size[b] = 0;
        for (int i = 0; i < n; i++)
            if (root[i] == b) root[i] = a;
        for (int k = 0; k < n; k++) {
            if (!size[k]) continue;
            if (k == a || nn[k] == a || nn[k] == b)
                nearest(D, no, size, n, k, nn, nd);
            else if (!no[(size_t)k * n + a] && D[(size_t)k * n + a] < nd[k])
                nd[k] = D[(size_t)k * n + a], nn[k] = a;
        }
    }
    /* groups numbered in order of their first face */
    groups = 0;
    for (int i = 0; i < n; i++)
        nn[i] = -1;
    for (int i = 0; i < n; i++) {
        if (nn[root[i]] < 0) nn[root[i]] = groups++;
        labels[i] = nn[root[i]];
    }
done:
    free(D), free(nd), free(no), free(size), free(nn), free(root);
    return groups;
}

void fid__cluster_spread(const float *x, const int *members, int n, int dim, float *mean, float *max) {
    double sum = 0;
    float top = 0;
    long pairs = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) {
            float d = dist(x + (size_t)members[i] * dim, x + (size_t)members[j] * dim, dim);
            sum += d, pairs++;
            if (d > top) top = d;
        }
    *mean = pairs ? (float)(sum / pairs) : 0;
    *max = top;
}
