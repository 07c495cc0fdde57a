/* Faces of people nobody has named, grouped so that a group holds one person. */
#ifndef FID_GALLERY_CLUSTER_H
#define FID_GALLERY_CLUSTER_H

/* 1 when faces a and b cannot be one person (seen in the same frame, or in two tracks that were
 * on the same camera at the same time). */
typedef int (*fid__cannot_link_fn)(void *user, int a, int b);

/* Average-linkage agglomerative clustering of n descriptors (n x dim, Euclidean): the two groups
 * whose faces are closest on average merge, as long as that average is below `threshold` and no
 * face of one cannot be one person with a face of the other. Average linkage does not chain (one
 * close pair does not join two people, as nearest-face or centroid rules did). labels[i]: the
 * group of face i, 0..groups-1 in order of first face. Returns the number of groups, or -1 when
 * out of memory. */
int fid__cluster(const float *descriptors, int n, int dim, float threshold, fid__cannot_link_fn cannot, void *user,
                 int *labels);

/* Mean and largest distance between the faces of a group (0 for fewer than two faces). */
void fid__cluster_spread(const float *descriptors, const int *members, int n, int dim, float *mean, float *max);

#endif
