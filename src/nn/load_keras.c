/*
 * keras-vggface's RESNET50 from its weights file (rcmalli_vggface_tf_notop_resnet50.h5 or
 * rcmalli_vggface_tf_resnet50.h5, Keras HDF5 weights read with libhdf5). An h5 weights file holds
 * no architecture, so the network is written here exactly as keras_vggface/models.py builds it:
 * conv1/7x7_s2 (7x7/2 'same', no bias) + BN + ReLU, 3x3/2 max pool ('valid'), bottleneck stages
 * of 3, 4, 6, 3 blocks (the stride sits on the 1x1 reduce conv, Caffe style), 7x7 average pool:
 * the 2048-d features the demo used (include_top=False, pooling='avg'). Keras BN epsilon is
 * 1e-3; BN is folded into the convolutions by the graph optimiser. A top classifier in the file
 * is ignored.
 */
#include <hdf5.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "util/error.h"

typedef struct keras {
    const char *path;
    hid_t file;
    char root[32]; /* "/" (save_weights) or "/model_weights/" (a whole saved model) */
    fid__graph *g;
} keras;

static void quiet_hdf5(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* Reads dataset <layer>/<layer>/<weight>:0 as float32 of the expected shape (rank/dims). NULL
 * after recording an error. */
static float *read_weight(keras *k, const char *layer, const char *weight, int rank, const int64_t *want) {
    char path[1024];
    hid_t ds = H5I_INVALID_HID;
    for (int attempt = 0; attempt < 2 && ds < 0; attempt++) {
        snprintf(path, sizeof path, "%s%s/%s/%s%s", k->root, layer, layer, weight, attempt ? "" : ":0");
        if (H5Lexists(k->file, path, H5P_DEFAULT) > 0) ds = H5Dopen2(k->file, path, H5P_DEFAULT);
    }
    if (ds < 0) {
        fid__fail(FID_ERR_FORMAT, "%s: no weight '%s/%s' (not keras-vggface RESNET50 weights?)", k->path, layer,
                  weight);
        return NULL;
    }
    hid_t space = H5Dget_space(ds);
    hsize_t dims[8];
    int r = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    int ok = r == rank && r <= 8 && H5Sget_simple_extent_dims(space, dims, NULL) == r;
    int64_t n = 1;
    for (int i = 0; ok && i < r; i++) {
        ok = (int64_t)dims[i] == want[i];
        n *= want[i];
    }
    float *data = ok ? malloc((size_t)n * sizeof *data) : NULL;
    if (ok && data && H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        free(data);
        data = NULL;
        fid__fail(FID_ERR_FORMAT, "%s: weight '%s/%s' cannot be read", k->path, layer, weight);
    } else if (!ok) {
        char shape[128] = "";
        for (int i = 0; i < rank; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", i ? "x" : "", (long long)want[i]);
        fid__fail(FID_ERR_FORMAT, "%s: weight '%s/%s' is not %s", k->path, layer, weight, shape);
    } else if (!data) {
        fid__fail(FID_ERR_NO_MEMORY, "%s: cannot allocate weights", k->path);
    }
    if (space >= 0) H5Sclose(space);
    H5Dclose(ds);
    return data;
}

/* conv (no bias, HWIO kernel as Keras stores it) + BN (as scale/shift the optimiser folds) */
static int conv_bn(keras *k, int x, const char *name, int kernel, int cin, int cout, int stride, fid__padding pad,
                   int relu) {
    int64_t wd[4] = {kernel, kernel, cin, cout};
    float *w = read_weight(k, name, "kernel", 4, wd);
    if (!w) return -1;
    int wid = fid__graph_const(k->g, name, 4, wd, w);
    int id = wid < 0 ? -1 : fid__graph_conv(k->g, name, x, wid, -1, 1, stride, pad);
    if (id < 0) return -1;
    char bn[256];
    snprintf(bn, sizeof bn, "%s/bn", name);
    int64_t c = cout;
    float *gamma = read_weight(k, bn, "gamma", 1, &c), *beta = gamma ? read_weight(k, bn, "beta", 1, &c) : NULL;
    float *mean = beta ? read_weight(k, bn, "moving_mean", 1, &c) : NULL;
    float *var = mean ? read_weight(k, bn, "moving_variance", 1, &c) : NULL;
    if (!var) {
        free(gamma), free(beta), free(mean);
        return -1;
    }
    for (int i = 0; i < cout; i++) {
        gamma[i] /= sqrtf(var[i] + 1e-3f); /* Keras BatchNormalization's default epsilon */
        beta[i] -= mean[i] * gamma[i];
    }
    free(mean);
    free(var);
    char nm[300];
    snprintf(nm, sizeof nm, "%s/scale", bn);
    int s = fid__graph_const(k->g, nm, 1, &c, gamma);
    snprintf(nm, sizeof nm, "%s/shift", bn);
    int b = fid__graph_const(k->g, nm, 1, &c, beta);
    snprintf(nm, sizeof nm, "%s/mul", bn);
    int m = s < 0 || b < 0 ? -1 : fid__graph_binary(k->g, nm, id, s, FID__BIN_MUL);
    int y = m < 0 ? -1 : fid__graph_binary(k->g, bn, m, b, FID__BIN_ADD);
    if (y >= 0 && relu) {
        snprintf(nm, sizeof nm, "%s/relu", name);
        y = fid__graph_unary(k->g, nm, y, FID__UN_RELU, 0, 0);
    }
    return y;
}

static int block(keras *k, int x, int stage, int index, int cin, int f1, int f3, int stride) {
    char p[64], name[128];
    snprintf(p, sizeof p, "conv%d_%d", stage, index);
    snprintf(name, sizeof name, "%s_1x1_reduce", p);
    int y = conv_bn(k, x, name, 1, cin, f1, stride, FID__PAD_VALID, 1);
    snprintf(name, sizeof name, "%s_3x3", p);
    y = y < 0 ? -1 : conv_bn(k, y, name, 3, f1, f1, 1, FID__PAD_SAME, 1);
    snprintf(name, sizeof name, "%s_1x1_increase", p);
    y = y < 0 ? -1 : conv_bn(k, y, name, 1, f1, f3, 1, FID__PAD_VALID, 0);
    int shortcut = x;
    if (index == 1) {
        snprintf(name, sizeof name, "%s_1x1_proj", p);
        shortcut = y < 0 ? -1 : conv_bn(k, x, name, 1, cin, f3, stride, FID__PAD_VALID, 0);
    }
    if (y < 0 || shortcut < 0) return -1;
    snprintf(name, sizeof name, "%s/add", p);
    int sum = fid__graph_binary(k->g, name, y, shortcut, FID__BIN_ADD);
    snprintf(name, sizeof name, "%s/relu", p);
    return sum < 0 ? -1 : fid__graph_unary(k->g, name, sum, FID__UN_RELU, 0, 0);
}

fid_status fid__load_keras_vggface_resnet50(const char *path, const fid_net_params *p, fid__graph **out) {
    (void)p;
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_hdf5);
    keras k = {.path = path};
    k.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (k.file < 0) return fid__fail(FID_ERR_FORMAT, "%s: not a readable HDF5 file", path);
    snprintf(k.root, sizeof k.root, "%s",
             H5Lexists(k.file, "/model_weights", H5P_DEFAULT) > 0 ? "/model_weights/" : "/");
    char probe[64];
    snprintf(probe, sizeof probe, "%sconv1", k.root);
    fid_status st = FID_OK;
    if (H5Lexists(k.file, probe, H5P_DEFAULT) <= 0) {
        H5Fclose(k.file);
        return fid__fail(FID_ERR_FORMAT, "%s: no layer 'conv1/7x7_s2': not keras-vggface RESNET50 weights", path);
    }
    k.g = fid__graph_new();
    int64_t in_dims[4] = {1, 224, 224, 3};
    int x = k.g ? fid__graph_input(k.g, "input", 4, in_dims) : -1;
    x = x < 0 ? -1 : conv_bn(&k, x, "conv1/7x7_s2", 7, 3, 64, 2, FID__PAD_SAME, 1);
    x = x < 0 ? -1 : fid__graph_pool(k.g, "pool1/3x3_s2", x, 1, 3, 2, FID__PAD_VALID);
    static const int stages[4][3] = {{64, 256, 3}, {128, 512, 4}, {256, 1024, 6}, {512, 2048, 3}};
    int cin = 64;
    for (int s = 0; s < 4 && x >= 0; s++)
        for (int b = 1; b <= stages[s][2] && x >= 0; b++) {
            x = block(&k, x, s + 2, b, cin, stages[s][0], stages[s][1], s > 0 && b == 1 ? 2 : 1);
            cin = stages[s][1];
        }
    x = x < 0 ? -1 : fid__graph_pool(k.g, "avg_pool", x, 0, 7, 7, FID__PAD_VALID);
    int flat = x < 0 ? -1 : fid__graph_add(k.g, FID__OP_IDENTITY, "flatten", 1, &x);
    if (flat >= 0) {
        k.g->nodes[flat].a.reshape.rank = 2;
        k.g->nodes[flat].a.reshape.dims[0] = 0;
        k.g->nodes[flat].a.reshape.dims[1] = 2048;
    }
    if (flat < 0 || fid__graph_mark_output(k.g, flat, "avg_pool") < 0) st = FID_ERR_FORMAT; /* error recorded */
    H5Fclose(k.file);
    if (st != FID_OK) {
        fid__graph_free(k.g);
        return st;
    }
    *out = k.g;
    return FID_OK;
}
