/*
 * face-api (@vladmandic/face-api) models: a weight manifest + .bin, with the architecture in
 * code. These builders mirror face-api's TypeScript layer for layer (file names in comments),
 * including its input normalisation, so outputs match face-api's forwardInput().
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/weights.h"
#include "util/error.h"
#include "util/file.h"

typedef struct builder {
    fid__graph *g;
    fid__weights *ws;
    const char *path;
    fid_status st;
} builder;

static int fail_missing(builder *b, const char *name) {
    if (b->st == FID_OK)
        b->st = fid__fail(FID_ERR_FORMAT, "%s: weight '%s' is missing or has the wrong shape", b->path, name);
    return -1;
}

/* Weight `name` as a constant node with `rank` dims (-1 on failure, recorded in b->st). */
static int weight(builder *b, const char *name, int rank) {
    if (b->st != FID_OK) return -1;
    fid__weight *w = fid__weights_find(b->ws, name);
    if (!w || !w->data || w->rank != rank) return fail_missing(b, name);
    int id = fid__graph_const(b->g, name, w->rank, w->dims, fid__weights_take(w));
    if (id < 0) b->st = FID_ERR_NO_MEMORY;
    return id;
}

static int fmt_weight(builder *b, int rank, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fmt_weight(builder *b, int rank, const char *fmt, ...) {
    char name[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    return weight(b, name, rank);
}

static int check(builder *b, int id) {
    if (id < 0 && b->st == FID_OK) b->st = FID_ERR_NO_MEMORY;
    return id;
}

static int scalar(builder *b, float v) {
    if (b->st != FID_OK) return -1;
    float *d = malloc(sizeof *d);
    if (!d) return check(b, -1);
    *d = v;
    return check(b, fid__graph_const(b->g, "scalar", 0, NULL, d));
}

static int vector3(builder *b, float x, float y, float z) {
    if (b->st != FID_OK) return -1;
    float *d = malloc(3 * sizeof *d);
    if (!d) return check(b, -1);
    d[0] = x, d[1] = y, d[2] = z;
    int64_t dims[1] = {3};
    return check(b, fid__graph_const(b->g, "mean_rgb", 1, dims, d));
}

static int conv(builder *b, int x, int w, int bias, int stride, fid__padding pad) {
    if (b->st != FID_OK) return -1;
    int id = check(b, fid__graph_conv(b->g, b->g->nodes[w].name, x, w, -1, 1, stride, pad));
    if (id >= 0 && bias >= 0) id = check(b, fid__graph_binary(b->g, "bias", id, bias, FID__BIN_ADD));
    return id;
}

/* TF depthwise filter [kh,kw,C,1] is HWIO [kh,kw,1,C] with C groups: same bytes. */
static int depthwise(builder *b, int x, int w, int stride, fid__padding pad) {
    if (b->st != FID_OK) return -1;
    fid__node *wn = &b->g->nodes[w];
    int channels = (int)(wn->dims[2] * wn->dims[3]);
    wn->dims[3] = channels;
    wn->dims[2] = 1;
    return check(b, fid__graph_conv(b->g, wn->name, x, w, -1, channels, stride, pad));
}

static int binary(builder *b, int x, int y, fid__binary alg) {
    if (b->st != FID_OK) return -1;
    return check(b, fid__graph_binary(b->g, "", x, y, alg));
}

static int unary(builder *b, int x, fid__unary alg, float alpha, float beta) {
    if (b->st != FID_OK) return -1;
    return check(b, fid__graph_unary(b->g, "", x, alg, alpha, beta));
}

static int relu(builder *b, int x) { return unary(b, x, FID__UN_RELU, 0, 0); }

static int pool(builder *b, int x, int is_max, int k, int stride, fid__padding pad) {
    if (b->st != FID_OK) return -1;
    return check(b, fid__graph_pool(b->g, "pool", x, is_max, k, stride, pad));
}

static int reshape(builder *b, int x, int rank, const int64_t *dims) {
    if (b->st != FID_OK) return -1;
    int id = check(b, fid__graph_add(b->g, FID__OP_IDENTITY, "reshape", 1, &x));
    if (id < 0) return -1;
    b->g->nodes[id].a.reshape.rank = rank;
    memcpy(b->g->nodes[id].a.reshape.dims, dims, (size_t)rank * sizeof(int64_t));
    return id;
}

static int image_input(builder *b, int size) {
    if (b->st != FID_OK) return -1;
    int64_t dims[4] = {-1, size, size, 3};
    return check(b, fid__graph_input(b->g, "image", 4, dims));
}

/* ops/normalize.ts then .div(255) */
static int normalize(builder *b, int x, float r, float g, float bl) {
    return binary(b, binary(b, x, vector3(b, r, g, bl), FID__BIN_SUB), scalar(b, 255.f), FID__BIN_DIV);
}

static void output(builder *b, int id, const char *name) {
    if (b->st == FID_OK && fid__graph_mark_output(b->g, id, name) < 0) b->st = FID_ERR_NO_MEMORY;
}

/* ---- FaceRecognitionNet (faceRecognitionNet/) ----------------------------------------- */

static int rec_conv(builder *b, int x, const char *prefix, int stride, fid__padding pad, int with_relu) {
    int w = fmt_weight(b, 4, "%s/conv/filters", prefix);
    int bias = fmt_weight(b, 1, "%s/conv/bias", prefix);
    int sw = fmt_weight(b, 1, "%s/scale/weights", prefix);
    int sb = fmt_weight(b, 1, "%s/scale/biases", prefix);
    int out = conv(b, x, w, bias, stride, pad);
    out = binary(b, binary(b, out, sw, FID__BIN_MUL), sb, FID__BIN_ADD);
    return with_relu ? relu(b, out) : out;
}

static int residual(builder *b, int x, const char *prefix) {
    char p[128];
    snprintf(p, sizeof p, "%s/conv1", prefix);
    int out = rec_conv(b, x, p, 1, FID__PAD_SAME, 1);
    snprintf(p, sizeof p, "%s/conv2", prefix);
    out = rec_conv(b, out, p, 1, FID__PAD_SAME, 0);
    return relu(b, binary(b, out, x, FID__BIN_ADD));
}

static int residual_down(builder *b, int x, const char *prefix) {
    char p[128];
    snprintf(p, sizeof p, "%s/conv1", prefix);
    int out = rec_conv(b, x, p, 2, FID__PAD_VALID, 1);
    snprintf(p, sizeof p, "%s/conv2", prefix);
    out = rec_conv(b, out, p, 1, FID__PAD_SAME, 0);
    int pooled = pool(b, x, 0, 2, 2, FID__PAD_VALID);
    if (b->st != FID_OK) return -1;
    /* Shapes are known at this point only through inference: run it on the partial graph. */
    if ((b->st = fid__graph_store_shapes(b->g)) != FID_OK) return -1;
    const int64_t *od = b->g->nodes[out].dims, *pd = b->g->nodes[pooled].dims;
    if (od[1] != pd[1] || od[2] != pd[2]) {
        /* residualLayer.ts: a zero row below and a zero column right of the conv output. */
        int pad = check(b, fid__graph_add(b->g, FID__OP_PAD, "pad_hw", 1, &out));
        if (pad < 0) return -1;
        b->g->nodes[pad].a.pad.after[1] = (int)(pd[1] - od[1]);
        b->g->nodes[pad].a.pad.after[2] = (int)(pd[2] - od[2]);
        out = pad;
    }
    if (od[3] != pd[3]) {
        int pad = check(b, fid__graph_add(b->g, FID__OP_PAD, "pad_c", 1, &pooled));
        if (pad < 0) return -1;
        b->g->nodes[pad].a.pad.after[3] = (int)(od[3] - pd[3]);
        pooled = pad;
    }
    return relu(b, binary(b, pooled, out, FID__BIN_ADD));
}

static void build_recognition(builder *b) {
    int x = normalize(b, image_input(b, 150), 122.782f, 117.001f, 104.298f);
    int out = rec_conv(b, x, "conv32_down", 2, FID__PAD_VALID, 1);
    out = pool(b, out, 1, 3, 2, FID__PAD_VALID);
    out = residual(b, out, "conv32_1");
    out = residual(b, out, "conv32_2");
    out = residual(b, out, "conv32_3");
    out = residual_down(b, out, "conv64_down");
    out = residual(b, out, "conv64_1");
    out = residual(b, out, "conv64_2");
    out = residual(b, out, "conv64_3");
    out = residual_down(b, out, "conv128_down");
    out = residual(b, out, "conv128_1");
    out = residual(b, out, "conv128_2");
    out = residual_down(b, out, "conv256_down");
    out = residual(b, out, "conv256_1");
    out = residual(b, out, "conv256_2");
    out = residual_down(b, out, "conv256_down_out");
    if (b->st != FID_OK) return;
    int mean = check(b, fid__graph_add(b->g, FID__OP_MEAN, "global_avg", 1, &out));
    if (mean < 0) return;
    b->g->nodes[mean].a.mean.axes_mask = (1 << 1) | (1 << 2);
    int fc = weight(b, "fc", 2);
    if (b->st != FID_OK) return;
    int mm = check(b, fid__graph_add(b->g, FID__OP_MATMUL, "fc", 1, &mean));
    if (mm < 0) return;
    b->g->nodes[mm].a.matmul.weights = fc;
    b->g->nodes[mm].a.matmul.bias = -1;
    output(b, mm, "descriptor");
}

/* ---- FaceLandmark68Net / TinyNet (faceFeatureExtractor/) ------------------------------ */

/* common/depthwiseSeparableConv.ts: separableConv2d(same) + bias */
static int separable(builder *b, const char *prefix, int x, int stride) {
    int dw = fmt_weight(b, 4, "%s/depthwise_filter", prefix);
    int pw = fmt_weight(b, 4, "%s/pointwise_filter", prefix);
    int bias = fmt_weight(b, 1, "%s/bias", prefix);
    return conv(b, depthwise(b, x, dw, stride, FID__PAD_SAME), pw, bias, 1, FID__PAD_SAME);
}

/* denseBlock.ts: denseBlock3 (n_convs 3) and denseBlock4 (n_convs 4) */
static int dense_block(builder *b, const char *prefix, int x, int first, int n_convs) {
    char p[128];
    int out1;
    snprintf(p, sizeof p, "%s/conv0", prefix);
    if (first) {
        int w = fmt_weight(b, 4, "%s/filters", p), bias = fmt_weight(b, 1, "%s/bias", p);
        out1 = relu(b, conv(b, x, w, bias, 2, FID__PAD_SAME));
    } else {
        out1 = relu(b, separable(b, p, x, 2));
    }
    snprintf(p, sizeof p, "%s/conv1", prefix);
    int out2 = separable(b, p, out1, 1);
    int in3 = relu(b, binary(b, out1, out2, FID__BIN_ADD));
    snprintf(p, sizeof p, "%s/conv2", prefix);
    int out3 = separable(b, p, in3, 1);
    if (n_convs == 3) return relu(b, binary(b, out1, binary(b, out2, out3, FID__BIN_ADD), FID__BIN_ADD));
    int in4 = relu(b, binary(b, out1, binary(b, out2, out3, FID__BIN_ADD), FID__BIN_ADD));
    snprintf(p, sizeof p, "%s/conv3", prefix);
    int out4 = separable(b, p, in4, 1);
    return relu(b, binary(b, out1, binary(b, out2, binary(b, out3, out4, FID__BIN_ADD), FID__BIN_ADD), FID__BIN_ADD));
}

static void build_landmarks(builder *b, int tiny) {
    int x = normalize(b, image_input(b, 112), 122.782f, 117.001f, 104.298f);
    int out;
    if (tiny) {
        out = dense_block(b, "dense0", x, 1, 3);
        out = dense_block(b, "dense1", out, 0, 3);
        out = dense_block(b, "dense2", out, 0, 3);
        out = pool(b, out, 0, 14, 2, FID__PAD_VALID);
    } else {
        out = dense_block(b, "dense0", x, 1, 4);
        out = dense_block(b, "dense1", out, 0, 4);
        out = dense_block(b, "dense2", out, 0, 4);
        out = dense_block(b, "dense3", out, 0, 4);
        out = pool(b, out, 0, 7, 2, FID__PAD_VALID);
    }
    int64_t flat[2] = {0, -1};
    out = reshape(b, out, 2, flat);
    int w = weight(b, "fc/weights", 2), bias = weight(b, "fc/bias", 1);
    if (b->st != FID_OK) return;
    int mm = check(b, fid__graph_add(b->g, FID__OP_MATMUL, "fc", 1, &out));
    if (mm < 0) return;
    b->g->nodes[mm].a.matmul.weights = w;
    b->g->nodes[mm].a.matmul.bias = bias;
    output(b, mm, "landmarks");
}

/* ---- TinyFaceDetector (tinyYolov2/TinyYolov2Base.ts runMobilenet) ------------------------- */

static int leaky(builder *b, int x) { return unary(b, x, FID__UN_RELU, 0.1f, 0); }

static int yolo_separable(builder *b, const char *prefix, int x) {
    int dw = fmt_weight(b, 4, "%s/depthwise_filter", prefix);
    int pw = fmt_weight(b, 4, "%s/pointwise_filter", prefix);
    int bias = fmt_weight(b, 1, "%s/bias", prefix);
    /* tf.pad by 1 then 'valid' == explicit padding 1 */
    int d = depthwise(b, x, dw, 1, FID__PAD_EXPLICIT);
    if (d >= 0) {
        fid__conv_attr *c = &b->g->nodes[d].a.conv;
        c->pad_top = c->pad_bottom = c->pad_left = c->pad_right = 1;
    }
    return leaky(b, conv(b, d, pw, bias, 1, FID__PAD_VALID));
}

static void build_tiny_face_detector(builder *b, int input_size) {
    int x = normalize(b, image_input(b, input_size), 117.001f, 114.697f, 97.404f);
    int w = weight(b, "conv0/filters", 4), bias = weight(b, "conv0/bias", 1);
    int out = leaky(b, conv(b, x, w, bias, 1, FID__PAD_VALID));
    out = pool(b, out, 1, 2, 2, FID__PAD_SAME);
    out = yolo_separable(b, "conv1", out);
    out = pool(b, out, 1, 2, 2, FID__PAD_SAME);
    out = yolo_separable(b, "conv2", out);
    out = pool(b, out, 1, 2, 2, FID__PAD_SAME);
    out = yolo_separable(b, "conv3", out);
    out = pool(b, out, 1, 2, 2, FID__PAD_SAME);
    out = yolo_separable(b, "conv4", out);
    out = pool(b, out, 1, 2, 2, FID__PAD_SAME);
    out = yolo_separable(b, "conv5", out);
    out = pool(b, out, 1, 2, 1, FID__PAD_SAME);
    if (fid__weights_find(b->ws, "conv6/depthwise_filter")) out = yolo_separable(b, "conv6", out);
    if (fid__weights_find(b->ws, "conv7/depthwise_filter")) out = yolo_separable(b, "conv7", out);
    w = weight(b, "conv8/filters", 4);
    bias = weight(b, "conv8/bias", 1);
    out = conv(b, out, w, bias, 1, FID__PAD_VALID);
    output(b, out, "grid");
}

/* ---- SsdMobilenetv1 (ssdMobilenetv1/) ------------------------------------------------- */

/* pointwiseConvLayer.ts: conv(same) + bn offset, clip 0..6 */
static int ssd_pointwise(builder *b, const char *prefix, int idx, int x, int stride) {
    int w = fmt_weight(b, 4, "%s/Conv2d_%d_pointwise/weights", prefix, idx);
    int off = fmt_weight(b, 1, "%s/Conv2d_%d_pointwise/convolution_bn_offset", prefix, idx);
    return unary(b, conv(b, x, w, off, stride, FID__PAD_SAME), FID__UN_CLIP, 0, 6);
}

/* mobileNetV1.ts depthwiseConvLayer: depthwise(same) + batchNorm(eps 1e-3), clip 0..6 */
static int ssd_depthwise(builder *b, int idx, int x, int stride) {
    char p[96];
    snprintf(p, sizeof p, "MobilenetV1/Conv2d_%d_depthwise", idx);
    int w = fmt_weight(b, 4, "%s/depthwise_weights", p);
    int gamma = fmt_weight(b, 1, "%s/BatchNorm/gamma", p);
    int beta = fmt_weight(b, 1, "%s/BatchNorm/beta", p);
    int mean = fmt_weight(b, 1, "%s/BatchNorm/moving_mean", p);
    int var = fmt_weight(b, 1, "%s/BatchNorm/moving_variance", p);
    if (b->st != FID_OK) return -1;
    /* batchNorm = (x - mean) * gamma / sqrt(var + eps) + beta, as two per-channel affine ops
     * that the optimiser folds into the depthwise conv. */
    const float eps = 0.0010000000474974513f;
    fid__node *vn = &b->g->nodes[var], *gn = &b->g->nodes[gamma];
    int64_t c = fid__node_numel(vn);
    if (fid__node_numel(gn) != c) return fail_missing(b, "BatchNorm/gamma");
    for (int64_t i = 0; i < c; i++)
        vn->data[i] = gn->data[i] / sqrtf(vn->data[i] + eps);
    int out = depthwise(b, x, w, stride, FID__PAD_SAME);
    out = binary(b, binary(b, binary(b, out, mean, FID__BIN_SUB), var, FID__BIN_MUL), beta, FID__BIN_ADD);
    return unary(b, out, FID__UN_CLIP, 0, 6);
}

/* boxPredictionLayer.ts: two 1x1 convs reshaped to [N,-1,4] and [N,-1,3] */
static void ssd_box_predictor(builder *b, int idx, int x, int *box, int *cls) {
    char p[96];
    snprintf(p, sizeof p, "Prediction/BoxPredictor_%d/BoxEncodingPredictor", idx);
    int w = fmt_weight(b, 4, "%s/weights", p), bias = fmt_weight(b, 1, "%s/biases", p);
    int64_t box_dims[3] = {0, -1, 4}, cls_dims[3] = {0, -1, 3};
    *box = reshape(b, conv(b, x, w, bias, 1, FID__PAD_SAME), 3, box_dims);
    snprintf(p, sizeof p, "Prediction/BoxPredictor_%d/ClassPredictor", idx);
    w = fmt_weight(b, 4, "%s/weights", p);
    bias = fmt_weight(b, 1, "%s/biases", p);
    *cls = reshape(b, conv(b, x, w, bias, 1, FID__PAD_SAME), 3, cls_dims);
}

static int concat(builder *b, const int *ins, int n, int axis) {
    if (b->st != FID_OK) return -1;
    int id = check(b, fid__graph_add(b->g, FID__OP_CONCAT, "concat", n, ins));
    if (id >= 0) b->g->nodes[id].a.concat.axis = axis;
    return id;
}

static void build_ssd(builder *b) {
    int x = unary(b, image_input(b, 512), FID__UN_LINEAR, 1.0f / 127.5f, -1.0f);
    int out = ssd_pointwise(b, "MobilenetV1", 0, x, 2), conv11 = -1;
    for (int i = 1; i <= 13; i++) {
        int stride = (i == 2 || i == 4 || i == 6 || i == 12) ? 2 : 1;
        out = ssd_depthwise(b, i, out, stride);
        out = ssd_pointwise(b, "MobilenetV1", i, out, 1);
        if (i == 11) conv11 = out;
    }
    int c0 = ssd_pointwise(b, "Prediction", 0, out, 1);
    int c1 = ssd_pointwise(b, "Prediction", 1, c0, 2);
    int c2 = ssd_pointwise(b, "Prediction", 2, c1, 1);
    int c3 = ssd_pointwise(b, "Prediction", 3, c2, 2);
    int c4 = ssd_pointwise(b, "Prediction", 4, c3, 1);
    int c5 = ssd_pointwise(b, "Prediction", 5, c4, 2);
    int c6 = ssd_pointwise(b, "Prediction", 6, c5, 1);
    int c7 = ssd_pointwise(b, "Prediction", 7, c6, 2);
    int src[6] = {conv11, out, c1, c3, c5, c7}, boxes[6], classes[6];
    for (int i = 0; i < 6; i++)
        ssd_box_predictor(b, i, src[i], &boxes[i], &classes[i]);
    int box = concat(b, boxes, 6, 1), cls = concat(b, classes, 6, 1);
    int anchors = weight(b, "Output/extra_dim", 3);
    output(b, box, "box_encodings");
    output(b, cls, "class_predictions");
    output(b, anchors, "anchors");
}

fid_status fid__load_faceapi(const char *path, fid_net_format format, const fid_net_params *p, fid__graph **out) {
    *out = NULL;
    json_t *manifest;
    fid_status st = fid__read_json(path, 64u << 20, &manifest);
    if (st != FID_OK) return st;
    fid__weights ws;
    st = fid__weights_load(manifest, path, p->max_weight_bytes, &ws);
    json_decref(manifest);
    if (st != FID_OK) return st;
    builder b = {.g = fid__graph_new(), .ws = &ws, .path = path, .st = FID_OK};
    if (!b.g) {
        fid__weights_free(&ws);
        return FID_ERR_NO_MEMORY;
    }
    switch (format) {
    case FID_NET_FACEAPI_RECOGNITION: build_recognition(&b); break;
    case FID_NET_FACEAPI_LANDMARK68: build_landmarks(&b, 0); break;
    case FID_NET_FACEAPI_LANDMARK68_TINY: build_landmarks(&b, 1); break;
    case FID_NET_FACEAPI_TINY_FACE_DETECTOR: build_tiny_face_detector(&b, 416); break;
    case FID_NET_FACEAPI_SSD_MOBILENETV1: build_ssd(&b); break;
    default: b.st = fid__fail(FID_ERR_INVALID_ARGUMENT, "%s: not a face-api format", path);
    }
    fid__weights_free(&ws);
    if (b.st != FID_OK) {
        if (!strstr(fid_last_error(), path)) fid__error_prefix(path);
        fid__graph_free(b.g);
        return b.st;
    }
    *out = b.g;
    return FID_OK;
}

fid_status fid__detect_format(const char *path, fid_net_format *format) {
    /* Binary formats by their first bytes: HDF5's signature; JSON starts with { or [ (after
     * blanks); anything else is tried as an ONNX protobuf. */
    FILE *file = fopen(path, "rb");
    unsigned char head[8] = {0};
    size_t got = file ? fread(head, 1, sizeof head, file) : 0;
    if (file) fclose(file);
    if (!file) return fid__fail(FID_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (got == 8 && !memcmp(head, "\x89HDF\r\n\x1a\n", 8)) {
        *format = FID_NET_KERAS_VGGFACE_RESNET50;
        return FID_OK;
    }
    size_t k = 0;
    while (k < got && (head[k] == ' ' || head[k] == '\n' || head[k] == '\r' || head[k] == '\t'))
        k++;
    if (got > 0 && (k == got || (head[k] != '{' && head[k] != '['))) {
        *format = FID_NET_ONNX;
        return FID_OK;
    }
    json_t *j;
    fid_status st = fid__read_json(path, 64u << 20, &j);
    if (st != FID_OK) return st;
    fid_net_format f = FID_NET_AUTO;
    if (json_is_object(j) && json_object_get(j, "modelTopology")) {
        f = FID_NET_TFJS_GRAPH;
    } else if (json_is_array(j)) {
        /* face-api manifests: tell the architecture by a weight name only it has. */
        static const struct {
            const char *name;
            fid_net_format format;
        } marks[] = {
            {"conv32_down/conv/filters", FID_NET_FACEAPI_RECOGNITION},
            {"dense3/conv0/depthwise_filter", FID_NET_FACEAPI_LANDMARK68},
            {"dense2/conv0/depthwise_filter", FID_NET_FACEAPI_LANDMARK68_TINY},
            {"conv8/filters", FID_NET_FACEAPI_TINY_FACE_DETECTOR},
            {"Output/extra_dim", FID_NET_FACEAPI_SSD_MOBILENETV1},
        };
        for (size_t m = 0; m < sizeof marks / sizeof marks[0] && f == FID_NET_AUTO; m++) {
            size_t gi, wi;
            json_t *grp, *w;
            json_array_foreach(j, gi, grp) {
                json_array_foreach(json_object_get(grp, "weights"), wi, w) {
                    const char *n = json_string_value(json_object_get(w, "name"));
                    if (n && !strcmp(n, marks[m].name)) f = marks[m].format;
                }
            }
        }
    }
    json_decref(j);
    *format = f;
    if (f == FID_NET_AUTO)
        return fid__fail(FID_ERR_FORMAT, "%s: neither a TF.js graph model nor a known face-api manifest", path);
    return FID_OK;
}
