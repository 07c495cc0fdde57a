/*
 * ONNX models (ModelProto, decoded by protobuf-c code generated at build time from the onnx.proto
 * Debian's libonnx-dev installs) mapped onto the NHWC graph IR.
 *
 * ONNX is NCHW; the IR keeps 4-D activations NHWC. Every ONNX value therefore carries a layout:
 * NCHW values hold NHWC data, and ops that name axes (Concat, Pad, Softmax, Flatten, per-channel
 * constants) are translated; Conv weights are transposed once to HWIO. Flatten of a C x H x W map
 * keeps NHWC order, so the Gemm/MatMul after it gets its weight rows permuted to match.
 * Integer tensors (Shape -> Gather -> Unsqueeze -> Concat -> Reshape chains on static shapes)
 * are evaluated at load time and never reach the graph.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/weights.h"
#include "onnx.pb-c.h"
#include "util/error.h"
#include "util/file.h"

typedef enum layout { PLAIN, NCHW } layout;

typedef struct value {
    const char *name; /* borrowed from the model */
    int node;         /* graph node holding it, -1 for load-time-only values */
    layout lay;
    /* Flatten of a NCHW map with H*W > 1: the data is in (h, w, c) order, ONNX means (c, h, w) */
    int64_t flat_c, flat_h, flat_w;
    /* float constant not yet in the graph (initializers are materialised per use) */
    const float *fdata;
    float *fowned;
    int frank;
    int64_t fdims[FID__MAX_RANK];
    /* statically known integer tensor (shape arithmetic) */
    int has_ints;
    int n_ints;
    int64_t ints[16];
} value;

typedef struct onnx {
    const char *path;
    fid__graph *g;
    Onnx__ModelProto *model;
    int opset;
    value *values;
    int n_values, cap_values;
    const char *node_name, *op; /* for error messages */
} onnx;

static fid_status unsupported(onnx *o, const char *what) {
    return fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s' (%s, opset %d): %s", o->path, o->node_name, o->op, o->opset,
                     what);
}

static fid_status malformed(onnx *o, const char *what) {
    return fid__fail(FID_ERR_FORMAT, "%s: node '%s' (%s): %s", o->path, o->node_name, o->op, what);
}

static value *find(onnx *o, const char *name) {
    for (int i = o->n_values - 1; i >= 0; i--)
        if (!strcmp(o->values[i].name, name)) return &o->values[i];
    return NULL;
}

static value *add_value(onnx *o, const char *name) {
    if (o->n_values == o->cap_values) {
        int cap = o->cap_values ? o->cap_values * 2 : 256;
        value *grown = realloc(o->values, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        o->values = grown;
        o->cap_values = cap;
    }
    value *v = &o->values[o->n_values++];
    memset(v, 0, sizeof *v);
    v->name = name;
    v->node = -1;
    return v;
}

/* ------------------------------------------------------------------------------------------ */
/* Attributes and tensors                                                                      */

static const Onnx__AttributeProto *attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

static int64_t attr_int(const Onnx__NodeProto *n, const char *name, int64_t fallback) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_i ? a->i : fallback;
}

static float attr_float(const Onnx__NodeProto *n, const char *name, float fallback) {
    const Onnx__AttributeProto *a = attr(n, name);
    return a && a->has_f ? a->f : fallback;
}

/* Up to cap ints; returns the count, or -1 when absent. */
static int attr_ints(const Onnx__NodeProto *n, const char *name, int64_t *out, int cap) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a) return -1;
    int k = (int)(a->n_ints < (size_t)cap ? a->n_ints : (size_t)cap);
    for (int i = 0; i < k; i++)
        out[i] = a->ints[i];
    return k;
}

static const char *attr_string(const Onnx__NodeProto *n, const char *name, char *buf, size_t size) {
    const Onnx__AttributeProto *a = attr(n, name);
    if (!a || !a->has_s) return NULL;
    size_t len = a->s.len < size - 1 ? a->s.len : size - 1;
    if (len) memcpy(buf, a->s.data, len);
    buf[len] = 0;
    return buf;
}

static int is_little_endian(void) {
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* Fills a value from a TensorProto: float/double/float16 as a float constant, integer types as
 * known ints (small tensors only: they are shapes and indices). */
static fid_status tensor_value(onnx *o, const Onnx__TensorProto *t, value *v) {
    if (t->n_dims > FID__MAX_RANK)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: tensor '%s' has rank %zu", o->path, t->name ? t->name : "",
                         t->n_dims);
    if (t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: tensor '%s' keeps its data in an external file (not supported)",
                         o->path, t->name ? t->name : "");
    int64_t count = 1;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || t->dims[i] > FID__MAX_ELEMENTS)
            return fid__fail(FID_ERR_FORMAT, "%s: tensor '%s' has dimension %lld", o->path, t->name ? t->name : "",
                             (long long)t->dims[i]);
        count *= t->dims[i];
        if (count > FID__MAX_ELEMENTS)
            return fid__fail(FID_ERR_FORMAT, "%s: tensor '%s' is too large", o->path, t->name ? t->name : "");
    }
    int type = t->has_data_type ? t->data_type : 0;
    size_t raw = t->has_raw_data ? t->raw_data.len : 0;
    if (!is_little_endian() && raw)
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: raw tensor data on a big-endian host", o->path);
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 || type == ONNX__TENSOR_PROTO__DATA_TYPE__INT32) {
        size_t have = raw ? raw / (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? 8 : 4)
                          : (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64 ? t->n_int64_data : t->n_int32_data);
        if (count > 16 || have != (size_t)count)
            return fid__fail(FID_ERR_UNSUPPORTED,
                             "%s: integer tensor '%s': %lld values (only small shape tensors are supported)", o->path,
                             t->name ? t->name : "", (long long)count);
        v->has_ints = 1;
        v->n_ints = (int)count;
        for (int64_t i = 0; i < count; i++) {
            if (type == ONNX__TENSOR_PROTO__DATA_TYPE__INT64) {
                int64_t x;
                if (raw)
                    memcpy(&x, t->raw_data.data + i * 8, 8);
                else
                    x = t->int64_data[i];
                v->ints[i] = x;
            } else {
                int32_t x;
                if (raw)
                    memcpy(&x, t->raw_data.data + i * 4, 4);
                else
                    x = t->int32_data[i];
                v->ints[i] = x;
            }
        }
        v->frank = (int)t->n_dims; /* rank of the integer tensor: 0 for a scalar index */
        return FID_OK;
    }
    float *data = malloc((size_t)(count ? count : 1) * sizeof *data);
    if (!data) return FID_ERR_NO_MEMORY;
    fid_status st = FID_OK;
    if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT) {
        if (raw) {
            if (raw != (size_t)count * 4)
                st = FID_ERR_FORMAT;
            else
                memcpy(data, t->raw_data.data, raw);
        } else if (t->n_float_data == (size_t)count) {
            if (count) memcpy(data, t->float_data, (size_t)count * 4); /* empty tensors (roi) have no array */
        } else {
            st = FID_ERR_FORMAT;
        }
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE) {
        if (raw ? raw != (size_t)count * 8 : t->n_double_data != (size_t)count) st = FID_ERR_FORMAT;
        for (int64_t i = 0; st == FID_OK && i < count; i++) {
            double x;
            if (raw)
                memcpy(&x, t->raw_data.data + i * 8, 8);
            else
                x = t->double_data[i];
            data[i] = (float)x;
        }
    } else if (type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT16) {
        /* raw: 2 bytes each; else one per int32_data entry */
        if (raw ? raw != (size_t)count * 2 : t->n_int32_data != (size_t)count) st = FID_ERR_FORMAT;
        for (int64_t i = 0; st == FID_OK && i < count; i++) {
            uint16_t h;
            if (raw)
                memcpy(&h, t->raw_data.data + i * 2, 2);
            else
                h = (uint16_t)t->int32_data[i];
            data[i] = fid__half_to_float(h);
        }
    } else {
        free(data);
        return fid__fail(FID_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d", o->path, t->name ? t->name : "",
                         type);
    }
    if (st != FID_OK) {
        free(data);
        return fid__fail(FID_ERR_FORMAT, "%s: tensor '%s': data size does not match its shape", o->path,
                         t->name ? t->name : "");
    }
    v->fowned = data;
    v->fdata = data;
    v->frank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++)
        v->fdims[i] = t->dims[i];
    return FID_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* Graph helpers                                                                               */

static int64_t numel(int rank, const int64_t *d) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= d[i];
    return n;
}

/* A graph constant of the given shape from a copy of data. */
static int make_const(onnx *o, const char *name, int rank, const int64_t *dims, const float *data) {
    int64_t n = numel(rank, dims);
    float *copy = malloc((size_t)(n ? n : 1) * sizeof *copy);
    if (!copy) return -1;
    memcpy(copy, data, (size_t)n * sizeof *copy);
    return fid__graph_const(o->g, name, rank, dims, copy);
}

static int scalar_const(onnx *o, const char *name, float x) {
    int64_t one = 1;
    return make_const(o, name, 1, &one, &x);
}

/* The ONNX shape of a graph-backed value (runs shape inference on the graph built so far). */
static fid_status onnx_dims(onnx *o, const value *v, int *rank, int64_t *dims) {
    if (v->node < 0) {
        if (v->fdata) {
            *rank = v->frank;
            memcpy(dims, v->fdims, sizeof v->fdims);
            return FID_OK;
        }
        return unsupported(o, "shape of a load-time value");
    }
    fid_status st = fid__graph_store_shapes(o->g);
    if (st != FID_OK) return st;
    const fid__node *n = &o->g->nodes[v->node];
    *rank = n->rank;
    if (v->lay == NCHW && n->rank == 4) {
        dims[0] = n->dims[0], dims[1] = n->dims[3], dims[2] = n->dims[1], dims[3] = n->dims[2];
    } else {
        memcpy(dims, n->dims, sizeof n->dims);
    }
    return FID_OK;
}

/* NCHW axis -> NHWC axis */
static int nhwc_axis(int axis) { return axis == 0 ? 0 : axis == 1 ? 3 : axis - 1; }

/* The graph node for an input operand: materialises float constants (as given, PLAIN). */
static int node_of(onnx *o, value *v) {
    if (v->node >= 0) return v->node;
    if (v->fdata) {
        v->node = make_const(o, v->name, v->frank ? v->frank : 1, v->frank ? v->fdims : (int64_t[]){1}, v->fdata);
        v->lay = PLAIN;
        return v->node;
    }
    return -1;
}

/* A constant operand of a binary op whose other side is NCHW: ONNX shapes [C,1,1] / [1,C,1,1]
 * (per channel) become [C]; a full [1,C,H,W] is transposed to [1,H,W,C]; scalars stay. */
static int nchw_operand(onnx *o, value *v) {
    int64_t n = numel(v->frank, v->fdims);
    if (n == 1) return scalar_const(o, v->name, v->fdata[0]);
    int r = v->frank;
    const int64_t *d = v->fdims;
    int per_channel = (r == 3 && d[1] == 1 && d[2] == 1) || (r == 4 && d[0] == 1 && d[2] == 1 && d[3] == 1);
    if (per_channel) {
        int64_t c = r == 3 ? d[0] : d[1];
        return make_const(o, v->name, 1, &c, v->fdata);
    }
    if (r == 4 && d[0] == 1) {
        int64_t C = d[1], H = d[2], W = d[3], nd[4] = {1, H, W, C};
        float *t = malloc((size_t)n * sizeof *t);
        if (!t) return -1;
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++)
                for (int64_t x = 0; x < W; x++)
                    t[(y * W + x) * C + c] = v->fdata[(c * H + y) * W + x];
        return fid__graph_const(o->g, v->name, 4, nd, t);
    }
    return -2;
}

static value *input_value(onnx *o, const Onnx__NodeProto *n, size_t k) {
    if (k >= n->n_input || !n->input[k] || !n->input[k][0]) return NULL;
    return find(o, n->input[k]);
}

/* ------------------------------------------------------------------------------------------ */
/* Ops                                                                                         */

static fid_status conv_pads(onnx *o, const Onnx__NodeProto *n, int *padding, int64_t pads[4]) {
    char mode[32];
    const char *ap = attr_string(n, "auto_pad", mode, sizeof mode);
    pads[0] = pads[1] = pads[2] = pads[3] = 0;
    *padding = FID__PAD_EXPLICIT;
    if (!ap || !strcmp(ap, "NOTSET")) {
        int k = attr_ints(n, "pads", pads, 4);
        if (k >= 0 && k != 4) return unsupported(o, "only 2-D pads");
        for (int i = 0; i < 4; i++)
            if (pads[i] < 0 || pads[i] > 4096) return malformed(o, "absurd pads");
    } else if (!strcmp(ap, "SAME_UPPER")) {
        *padding = FID__PAD_SAME;
    } else if (!strcmp(ap, "VALID")) {
        *padding = FID__PAD_VALID;
    } else {
        return unsupported(o, "auto_pad other than NOTSET, SAME_UPPER, VALID");
    }
    return FID_OK;
}

static fid_status op_conv(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0), *w = input_value(o, n, 1), *b = input_value(o, n, 2);
    if (!x || !w || x->node < 0) return malformed(o, "missing input");
    if (x->lay != NCHW) return unsupported(o, "convolution of a tensor that is not 4-D NCHW");
    if (!w->fdata || w->frank != 4) return unsupported(o, "weights that are not a 4-D constant");
    if (b && (!b->fdata || numel(b->frank, b->fdims) != w->fdims[0]))
        return unsupported(o, "bias that is not a constant of O values");
    int64_t O = w->fdims[0], I = w->fdims[1], KH = w->fdims[2], KW = w->fdims[3];
    int64_t group = attr_int(n, "group", 1), strides[2] = {1, 1}, dil[2] = {1, 1}, pads[4];
    attr_ints(n, "strides", strides, 2);
    attr_ints(n, "dilations", dil, 2);
    int padding;
    fid_status st = conv_pads(o, n, &padding, pads);
    if (st != FID_OK) return st;
    if (group < 1 || O % group || strides[0] < 1 || strides[1] < 1 || strides[0] > 64 || strides[1] > 64 ||
        dil[0] < 1 || dil[1] < 1 || dil[0] > 64 || dil[1] > 64 || KH < 1 || KW < 1 || KH > 64 || KW > 64)
        return malformed(o, "absurd group, strides, dilations or kernel");
    /* [O][I/g][KH][KW] -> HWIO [KH][KW][I/g][O] */
    float *hwio = malloc((size_t)(O * I * KH * KW) * sizeof *hwio);
    if (!hwio) return FID_ERR_NO_MEMORY;
    for (int64_t oc = 0; oc < O; oc++)
        for (int64_t ic = 0; ic < I; ic++)
            for (int64_t y = 0; y < KH; y++)
                for (int64_t xx = 0; xx < KW; xx++)
                    hwio[((y * KW + xx) * I + ic) * O + oc] = w->fdata[((oc * I + ic) * KH + y) * KW + xx];
    int64_t wd[4] = {KH, KW, I, O};
    int wid = fid__graph_const(o->g, w->name, 4, wd, hwio);
    int bid = b ? make_const(o, b->name, 1, &O, b->fdata) : -1;
    if (wid < 0 || (b && bid < 0)) return FID_ERR_NO_MEMORY;
    int id = fid__graph_conv(o->g, o->node_name, x->node, wid, bid, (int)group, (int)strides[0], (fid__padding)padding);
    if (id < 0) return FID_ERR_NO_MEMORY;
    fid__conv_attr *c = &o->g->nodes[id].a.conv;
    c->stride_w = (int)strides[1];
    c->dilation_h = (int)dil[0];
    c->dilation_w = (int)dil[1];
    c->pad_top = (int)pads[0], c->pad_left = (int)pads[1], c->pad_bottom = (int)pads[2], c->pad_right = (int)pads[3];
    out->node = id;
    out->lay = NCHW;
    return FID_OK;
}

static fid_status op_pool(onnx *o, const Onnx__NodeProto *n, value *out, int is_max, int global) {
    value *x = input_value(o, n, 0);
    if (!x || x->node < 0) return malformed(o, "missing input");
    if (x->lay != NCHW) return unsupported(o, "pooling of a tensor that is not 4-D NCHW");
    if (global && !is_max) {
        int id = fid__graph_add(o->g, FID__OP_MEAN, o->node_name, 1, &x->node);
        if (id < 0) return FID_ERR_NO_MEMORY;
        o->g->nodes[id].a.mean.axes_mask = 1 << 1 | 1 << 2;
        o->g->nodes[id].a.mean.keep_dims = 1;
        out->node = id;
        out->lay = NCHW;
        return FID_OK;
    }
    int64_t k[2] = {0, 0}, s[2] = {1, 1}, pads[4] = {0, 0, 0, 0};
    int padding = FID__PAD_VALID;
    if (global) {
        int rank;
        int64_t d[4];
        fid_status st = onnx_dims(o, x, &rank, d);
        if (st != FID_OK) return st;
        k[0] = d[2], k[1] = d[3];
    } else {
        if (attr_ints(n, "kernel_shape", k, 2) != 2) return unsupported(o, "only 2-D pooling windows");
        attr_ints(n, "strides", s, 2);
        fid_status st = conv_pads(o, n, &padding, pads);
        if (st != FID_OK) return st;
        int64_t dil[2] = {1, 1};
        attr_ints(n, "dilations", dil, 2);
        if (dil[0] != 1 || dil[1] != 1) return unsupported(o, "dilated pooling");
        if (!is_max && attr_int(n, "count_include_pad", 0) && (pads[0] || pads[1] || pads[2] || pads[3]))
            return unsupported(o, "count_include_pad with padding");
        if (attr_int(n, "ceil_mode", 0) && padding == FID__PAD_EXPLICIT) {
            int rank;
            int64_t d[4];
            st = onnx_dims(o, x, &rank, d);
            if (st != FID_OK) return st;
            for (int i = 0; i < 2; i++) {
                int64_t span = d[2 + i] + pads[i] + pads[i + 2] - k[i];
                if (span >= 0 && span % s[i]) return unsupported(o, "ceil_mode that changes the output size");
            }
        }
    }
    if (k[0] < 1 || k[1] < 1 || k[0] > 4096 || k[1] > 4096 || s[0] < 1 || s[1] < 1 || s[0] > 4096 || s[1] > 4096)
        return malformed(o, "absurd pooling window");
    int id = fid__graph_pool(o->g, o->node_name, x->node, is_max, (int)k[0], (int)s[0], (fid__padding)padding);
    if (id < 0) return FID_ERR_NO_MEMORY;
    fid__pool_attr *p = &o->g->nodes[id].a.pool;
    p->kw = (int)k[1];
    p->stride_w = (int)s[1];
    p->pad_top = (int)pads[0], p->pad_left = (int)pads[1], p->pad_bottom = (int)pads[2], p->pad_right = (int)pads[3];
    out->node = id;
    out->lay = NCHW;
    return FID_OK;
}

/* Per-channel y = x * scale + shift, as two binary ops the optimiser folds into the conv before. */
static fid_status affine(onnx *o, value *x, const float *scale, const float *shift, int64_t C, value *out) {
    char name[512];
    snprintf(name, sizeof name, "%s/scale", o->node_name);
    int s = make_const(o, name, 1, &C, scale);
    snprintf(name, sizeof name, "%s/shift", o->node_name);
    int b = make_const(o, name, 1, &C, shift);
    if (s < 0 || b < 0) return FID_ERR_NO_MEMORY;
    snprintf(name, sizeof name, "%s/mul", o->node_name);
    int m = fid__graph_binary(o->g, name, x->node, s, FID__BIN_MUL);
    int id = m < 0 ? -1 : fid__graph_binary(o->g, o->node_name, m, b, FID__BIN_ADD);
    if (id < 0) return FID_ERR_NO_MEMORY;
    out->node = id;
    out->lay = x->lay;
    return FID_OK;
}

static fid_status op_batchnorm(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0), *sc = input_value(o, n, 1), *bi = input_value(o, n, 2), *mu = input_value(o, n, 3),
          *var = input_value(o, n, 4);
    if (!x || !sc || !bi || !mu || !var || x->node < 0) return malformed(o, "missing input");
    if (!sc->fdata || !bi->fdata || !mu->fdata || !var->fdata)
        return unsupported(o, "parameters that are not constants");
    int64_t C = numel(sc->frank, sc->fdims);
    if (numel(bi->frank, bi->fdims) != C || numel(mu->frank, mu->fdims) != C || numel(var->frank, var->fdims) != C)
        return malformed(o, "parameter sizes differ");
    if (x->lay != NCHW) {
        int rank;
        int64_t d[4];
        fid_status st = onnx_dims(o, x, &rank, d);
        if (st != FID_OK) return st;
        if (rank != 2) return unsupported(o, "batch normalisation of a tensor that is neither NCHW nor [N, C]");
    }
    float eps = attr_float(n, "epsilon", 1e-5f);
    float *a = malloc((size_t)C * 2 * sizeof *a);
    if (!a) return FID_ERR_NO_MEMORY;
    for (int64_t c = 0; c < C; c++) {
        a[c] = sc->fdata[c] / sqrtf(var->fdata[c] + eps);
        a[C + c] = bi->fdata[c] - mu->fdata[c] * a[c];
    }
    fid_status st = affine(o, x, a, a + C, C, out);
    free(a);
    return st;
}

static fid_status op_binary(onnx *o, const Onnx__NodeProto *n, value *out, fid__binary alg) {
    value *a = input_value(o, n, 0), *b = input_value(o, n, 1);
    if (!a || !b) return malformed(o, "missing input");
    if (a->has_ints || b->has_ints) return unsupported(o, "integer arithmetic");
    int ia, ib;
    layout lay = PLAIN;
    if (a->fdata && b->fdata) { /* both constants: the optimiser folds it */
        ia = node_of(o, a), ib = node_of(o, b);
    } else if (!a->fdata && !b->fdata) {
        if (a->lay != b->lay) return unsupported(o, "operands in different layouts");
        ia = a->node, ib = b->node, lay = a->lay;
    } else {
        value *act = a->fdata ? b : a, *k = a->fdata ? a : b;
        int ik = act->lay == NCHW ? nchw_operand(o, k) : node_of(o, k);
        if (ik == -2) return unsupported(o, "a constant that broadcasts along other than the channel axis");
        ia = act == a ? act->node : ik;
        ib = act == a ? ik : act->node;
        lay = act->lay;
    }
    if (ia < 0 || ib < 0) return FID_ERR_NO_MEMORY;
    int id = fid__graph_binary(o->g, o->node_name, ia, ib, alg);
    if (id < 0) return FID_ERR_NO_MEMORY;
    out->node = id;
    out->lay = lay;
    return FID_OK;
}

static fid_status op_prelu(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0), *s = input_value(o, n, 1);
    if (!x || !s || x->node < 0) return malformed(o, "missing input");
    if (!s->fdata) return unsupported(o, "a slope that is not a constant");
    int slope = x->lay == NCHW ? nchw_operand(o, s) : node_of(o, s);
    if (slope == -2) return unsupported(o, "a slope that is neither scalar nor per channel");
    char name[512];
    snprintf(name, sizeof name, "%s/zero", o->node_name);
    int zero = scalar_const(o, name, 0);
    snprintf(name, sizeof name, "%s/relu", o->node_name);
    int pos = fid__graph_unary(o->g, name, x->node, FID__UN_RELU, 0, 0);
    snprintf(name, sizeof name, "%s/min", o->node_name);
    int neg = pos < 0 || zero < 0 ? -1 : fid__graph_binary(o->g, name, x->node, zero, FID__BIN_MIN);
    snprintf(name, sizeof name, "%s/scaled", o->node_name);
    int scaled = neg < 0 || slope < 0 ? -1 : fid__graph_binary(o->g, name, neg, slope, FID__BIN_MUL);
    int id = scaled < 0 ? -1 : fid__graph_binary(o->g, o->node_name, pos, scaled, FID__BIN_ADD);
    if (id < 0) return FID_ERR_NO_MEMORY;
    out->node = id;
    out->lay = x->lay;
    return FID_OK;
}

/* W [K,N] (already transposed and scaled) into a MATMUL, rows permuted after a NCHW Flatten. */
static fid_status matmul(onnx *o, value *a, float *w, int64_t K, int64_t N, const float *bias, value *out) {
    if (a->flat_c) {
        int64_t C = a->flat_c, H = a->flat_h, W = a->flat_w;
        if (C * H * W != K) {
            free(w);
            return malformed(o, "inner dimensions differ");
        }
        float *p = malloc((size_t)(K * N) * sizeof *p);
        if (!p) {
            free(w);
            return FID_ERR_NO_MEMORY;
        }
        for (int64_t c = 0; c < C; c++)
            for (int64_t hw = 0; hw < H * W; hw++)
                memcpy(p + (hw * C + c) * N, w + (c * H * W + hw) * N, (size_t)N * sizeof *p);
        free(w);
        w = p;
    }
    int64_t wd[2] = {K, N};
    char name[512];
    snprintf(name, sizeof name, "%s/weights", o->node_name);
    int wid = fid__graph_const(o->g, name, 2, wd, w);
    snprintf(name, sizeof name, "%s/bias", o->node_name);
    int bid = bias ? make_const(o, name, 1, &N, bias) : -1;
    if (wid < 0 || (bias && bid < 0)) return FID_ERR_NO_MEMORY;
    int id = fid__graph_add(o->g, FID__OP_MATMUL, o->node_name, 1, &a->node);
    if (id < 0) return FID_ERR_NO_MEMORY;
    o->g->nodes[id].a.matmul.weights = wid;
    o->g->nodes[id].a.matmul.bias = bid;
    out->node = id;
    out->lay = PLAIN;
    return FID_OK;
}

static fid_status op_gemm(onnx *o, const Onnx__NodeProto *n, value *out, int is_gemm) {
    value *a = input_value(o, n, 0), *b = input_value(o, n, 1), *c = is_gemm ? input_value(o, n, 2) : NULL;
    if (!a || !b || a->node < 0) return malformed(o, "missing input");
    if (!b->fdata || b->frank != 2) return unsupported(o, "a second operand that is not a 2-D constant");
    if (a->lay == NCHW) return unsupported(o, "a 4-D NCHW first operand");
    if (is_gemm && attr_int(n, "transA", 0)) return unsupported(o, "transA");
    int transb = is_gemm && attr_int(n, "transB", 0);
    float alpha = is_gemm ? attr_float(n, "alpha", 1) : 1, beta = is_gemm ? attr_float(n, "beta", 1) : 1;
    int64_t K = transb ? b->fdims[1] : b->fdims[0], N = transb ? b->fdims[0] : b->fdims[1];
    float *w = malloc((size_t)(K * N) * sizeof *w), *bias = NULL;
    if (!w) return FID_ERR_NO_MEMORY;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++)
            w[k * N + j] = alpha * (transb ? b->fdata[j * K + k] : b->fdata[k * N + j]);
    if (c) {
        int64_t cn = c->fdata ? numel(c->frank, c->fdims) : -1;
        if (cn != 1 && cn != N) {
            free(w);
            return unsupported(o, "a bias that is not a constant of N values");
        }
        if (!(bias = malloc((size_t)N * sizeof *bias))) {
            free(w);
            return FID_ERR_NO_MEMORY;
        }
        for (int64_t j = 0; j < N; j++)
            bias[j] = beta * c->fdata[cn == 1 ? 0 : j];
    }
    fid_status st = matmul(o, a, w, K, N, bias, out);
    free(bias);
    return st;
}

/* Flatten / Reshape to [N, rest] of a NCHW map. */
static fid_status flatten_nchw(onnx *o, value *x, value *out) {
    int rank;
    int64_t d[4];
    fid_status st = onnx_dims(o, x, &rank, d);
    if (st != FID_OK) return st;
    int id = fid__graph_add(o->g, FID__OP_IDENTITY, o->node_name, 1, &x->node);
    if (id < 0) return FID_ERR_NO_MEMORY;
    o->g->nodes[id].a.reshape.rank = 2;
    o->g->nodes[id].a.reshape.dims[0] = 0;
    o->g->nodes[id].a.reshape.dims[1] = d[1] * d[2] * d[3];
    out->node = id;
    out->lay = PLAIN;
    if (d[2] * d[3] > 1) out->flat_c = d[1], out->flat_h = d[2], out->flat_w = d[3];
    return FID_OK;
}

static fid_status op_reshape(onnx *o, const Onnx__NodeProto *n, value *out, const int64_t *shape, int rank) {
    value *x = input_value(o, n, 0);
    if (!x) return malformed(o, "missing input");
    if (x->node < 0 && x->fdata) { /* reshaping a constant: new dims, same data */
        int64_t total = numel(x->frank, x->fdims), known = 1, free_axis = -1;
        if (rank > FID__MAX_RANK) return unsupported(o, "rank above 4");
        out->fdata = x->fdata;
        out->frank = rank;
        for (int i = 0; i < rank; i++) {
            out->fdims[i] = shape[i] == 0 && i < x->frank ? x->fdims[i] : shape[i];
            if (out->fdims[i] < 0)
                free_axis = i;
            else
                known *= out->fdims[i];
        }
        if (free_axis >= 0 && known > 0) out->fdims[free_axis] = total / known;
        return numel(rank, out->fdims) == total ? FID_OK : malformed(o, "element count changes");
    }
    if (x->node < 0) return unsupported(o, "reshape of a load-time value");
    int xr;
    int64_t xd[4];
    fid_status st = onnx_dims(o, x, &xr, xd);
    if (st != FID_OK) return st;
    if (x->lay == NCHW) {
        if (rank == 2 && (shape[0] == 0 || shape[0] == xd[0]) && (shape[1] == -1 || shape[1] == xd[1] * xd[2] * xd[3]))
            return flatten_nchw(o, x, out);
        if (rank == 4 && (shape[0] == 0 || shape[0] == xd[0]) && shape[1] == xd[1] && shape[2] == xd[2] &&
            shape[3] == xd[3]) {
            *out = *x;
            out->name = n->output[0];
            return FID_OK;
        }
        return unsupported(o, "reshape of a 4-D NCHW tensor other than flattening it");
    }
    if (x->flat_c) return unsupported(o, "reshape of a flattened NCHW map");
    if (rank > FID__MAX_RANK || rank < 1) return unsupported(o, "rank above 4");
    int id = fid__graph_add(o->g, FID__OP_IDENTITY, o->node_name, 1, &x->node);
    if (id < 0) return FID_ERR_NO_MEMORY;
    o->g->nodes[id].a.reshape.rank = rank;
    for (int i = 0; i < rank; i++)
        /* the batch dimension stays free: a model exported with batch 1 still runs batched */
        o->g->nodes[id].a.reshape.dims[i] = i == 0 && shape[0] == xd[0] ? 0 : shape[i];
    out->node = id;
    out->lay = PLAIN;
    return FID_OK;
}

static fid_status op_concat(onnx *o, const Onnx__NodeProto *n, value *out) {
    int64_t axis = attr_int(n, "axis", 0);
    int all_ints = 1;
    for (size_t i = 0; i < n->n_input; i++) {
        value *v = input_value(o, n, i);
        if (!v) return malformed(o, "missing input");
        all_ints &= v->has_ints;
    }
    if (all_ints) {
        out->has_ints = 1;
        for (size_t i = 0; i < n->n_input; i++) {
            value *v = input_value(o, n, i);
            if (out->n_ints + v->n_ints > 16) return unsupported(o, "integer tensors longer than 16");
            memcpy(out->ints + out->n_ints, v->ints, (size_t)v->n_ints * sizeof *v->ints);
            out->n_ints += v->n_ints;
        }
        out->frank = 1;
        return FID_OK;
    }
    if (n->n_input < 1 || n->n_input > 64) return unsupported(o, "more than 64 inputs");
    int ins[64];
    layout lay = PLAIN;
    int rank = 0;
    for (size_t i = 0; i < n->n_input; i++) {
        value *v = input_value(o, n, i);
        if (i == 0) lay = v->node >= 0 ? v->lay : PLAIN;
        if (v->node < 0 && v->fdata && lay == NCHW) return unsupported(o, "constants concatenated to NCHW tensors");
        if ((ins[i] = node_of(o, v)) < 0) return unsupported(o, "integer and float inputs mixed");
        if (v->lay != lay) return unsupported(o, "inputs in different layouts");
        int64_t d[4];
        fid_status st = onnx_dims(o, v, &rank, d);
        if (st != FID_OK) return st;
    }
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return malformed(o, "axis out of range");
    int id = fid__graph_add(o->g, FID__OP_CONCAT, o->node_name, (int)n->n_input, ins);
    if (id < 0) return FID_ERR_NO_MEMORY;
    o->g->nodes[id].a.concat.axis = lay == NCHW ? nhwc_axis((int)axis) : (int)axis;
    out->node = id;
    out->lay = lay;
    return FID_OK;
}

static fid_status op_pad(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0);
    if (!x || x->node < 0) return malformed(o, "missing input");
    char mode[32];
    const char *m = attr_string(n, "mode", mode, sizeof mode);
    if (m && strcmp(m, "constant")) return unsupported(o, "padding modes other than constant");
    int64_t pads[8];
    int k;
    float fill = 0;
    if (o->opset < 11) {
        k = attr_ints(n, "pads", pads, 8);
        fill = attr_float(n, "value", 0);
    } else {
        value *p = input_value(o, n, 1), *c = input_value(o, n, 2);
        if (!p || !p->has_ints) return unsupported(o, "pads that are not known at load time");
        k = p->n_ints < 8 ? p->n_ints : 8;
        memcpy(pads, p->ints, (size_t)k * sizeof *pads);
        if (c && c->fdata) fill = c->fdata[0];
        if (input_value(o, n, 3)) return unsupported(o, "the axes input");
    }
    int rank;
    int64_t d[4];
    fid_status st = onnx_dims(o, x, &rank, d);
    if (st != FID_OK) return st;
    if (k != 2 * rank) return malformed(o, "pads do not match the rank");
    int id = fid__graph_add(o->g, FID__OP_PAD, o->node_name, 1, &x->node);
    if (id < 0) return FID_ERR_NO_MEMORY;
    for (int i = 0; i < rank; i++) {
        if (pads[i] < 0 || pads[i] > 4096 || pads[i + rank] < 0 || pads[i + rank] > 4096)
            return unsupported(o, "negative or absurd pads");
        int ax = x->lay == NCHW ? nhwc_axis(i) : i;
        o->g->nodes[id].a.pad.before[ax] = (int)pads[i];
        o->g->nodes[id].a.pad.after[ax] = (int)pads[i + rank];
    }
    o->g->nodes[id].a.pad.value = fill;
    out->node = id;
    out->lay = x->lay;
    return FID_OK;
}

static fid_status op_transpose(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0);
    if (!x) return malformed(o, "missing input");
    int64_t perm[4];
    int k = attr_ints(n, "perm", perm, 4);
    if (x->node < 0 && x->fdata) { /* constants are transposed now */
        int r = x->frank;
        if (k < 0) {
            k = r;
            for (int i = 0; i < r; i++)
                perm[i] = r - 1 - i;
        }
        if (k != r || r < 1) return malformed(o, "perm does not match the rank");
        int64_t nd[4], stride[4], total = numel(r, x->fdims);
        for (int i = 0; i < r; i++) {
            if (perm[i] < 0 || perm[i] >= r) return malformed(o, "perm out of range");
            nd[i] = x->fdims[perm[i]];
        }
        stride[r - 1] = 1;
        for (int i = r - 2; i >= 0; i--)
            stride[i] = stride[i + 1] * x->fdims[i + 1];
        float *t = malloc((size_t)(total ? total : 1) * sizeof *t);
        if (!t) return FID_ERR_NO_MEMORY;
        for (int64_t j = 0; j < total; j++) {
            int64_t rem = j, src = 0;
            for (int i = r - 1; i >= 0; i--) {
                src += (rem % nd[i]) * stride[perm[i]];
                rem /= nd[i];
            }
            t[j] = x->fdata[src];
        }
        out->fowned = t;
        out->fdata = t;
        out->frank = r;
        memcpy(out->fdims, nd, sizeof nd);
        return FID_OK;
    }
    /* On activations only the layout changes that the NHWC data already satisfies. */
    static const int64_t to_nhwc[4] = {0, 2, 3, 1}, to_nchw[4] = {0, 3, 1, 2};
    if (x->node >= 0 && k == 4 && x->lay == NCHW && !memcmp(perm, to_nhwc, sizeof perm)) {
        *out = *x;
        out->lay = PLAIN;
    } else if (x->node >= 0 && k == 4 && x->lay == PLAIN && !x->flat_c && !memcmp(perm, to_nchw, sizeof perm)) {
        *out = *x;
        out->lay = NCHW;
    } else {
        return unsupported(o, "transposing activations other than between NCHW and NHWC");
    }
    out->name = n->output[0];
    out->fowned = NULL;
    return FID_OK;
}

/* Shape arithmetic on known integer tensors. */
static fid_status op_ints(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0);
    if (!x) return malformed(o, "missing input");
    if (!strcmp(o->op, "Shape")) {
        int rank;
        int64_t d[4];
        fid_status st = onnx_dims(o, x, &rank, d);
        if (st != FID_OK) return st;
        out->has_ints = 1;
        out->n_ints = rank;
        out->frank = 1;
        memcpy(out->ints, d, (size_t)rank * sizeof *d);
        return FID_OK;
    }
    if (!x->has_ints) return unsupported(o, "only integer shape arithmetic known at load time");
    out->has_ints = 1;
    if (!strcmp(o->op, "Gather")) {
        value *idx = input_value(o, n, 1);
        if (!idx || !idx->has_ints || attr_int(n, "axis", 0) != 0)
            return unsupported(o, "gather other than of shape values");
        out->n_ints = idx->n_ints;
        out->frank = idx->frank;
        for (int i = 0; i < idx->n_ints; i++) {
            int64_t j = idx->ints[i] < 0 ? idx->ints[i] + x->n_ints : idx->ints[i];
            if (j < 0 || j >= x->n_ints) return malformed(o, "index out of range");
            out->ints[i] = x->ints[j];
        }
        return FID_OK;
    }
    /* Unsqueeze, Squeeze, Cast, Identity of shape values: same numbers, rank 1 */
    out->n_ints = x->n_ints;
    memcpy(out->ints, x->ints, sizeof x->ints);
    out->frank = 1;
    return FID_OK;
}

static fid_status op_squeeze(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0);
    if (!x) return malformed(o, "missing input");
    if (x->has_ints) return op_ints(o, n, out);
    if (x->node < 0 && x->fdata) { /* constant: drop the size-1 dims */
        *out = *x;
        out->name = n->output[0];
        out->fowned = NULL;
        out->frank = 0;
        for (int i = 0; i < x->frank; i++)
            if (x->fdims[i] != 1 || (!strcmp(o->op, "Unsqueeze"))) out->fdims[out->frank++] = x->fdims[i];
        return FID_OK;
    }
    int rank;
    int64_t d[4];
    fid_status st = onnx_dims(o, x, &rank, d);
    if (st != FID_OK) return st;
    if (!strcmp(o->op, "Squeeze") && x->lay == NCHW && d[2] == 1 && d[3] == 1) return flatten_nchw(o, x, out);
    return unsupported(o, "squeezing or unsqueezing activations other than [N,C,1,1] -> [N,C]");
}

static int index_of(const char *s, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(s, names[i])) return i;
    return -1;
}

/* Resize (opset 10: X, scales; 11+: X, roi, scales, sizes) and Upsample (X, scales). */
static fid_status op_resize(onnx *o, const Onnx__NodeProto *n, value *out) {
    value *x = input_value(o, n, 0);
    if (!x || x->node < 0) return malformed(o, "missing input");
    if (x->lay != NCHW) return unsupported(o, "resizing a tensor that is not 4-D NCHW");
    int v10 = !strcmp(o->op, "Upsample") || o->opset < 11;
    value *scales = input_value(o, n, v10 ? 1 : 2), *sizes = v10 ? NULL : input_value(o, n, 3);
    char buf[64];
    const char *mode = attr_string(n, "mode", buf, sizeof buf);
    int linear;
    if (!mode || !strcmp(mode, "nearest"))
        linear = 0;
    else if (!strcmp(mode, "linear") || !strcmp(mode, "bilinear"))
        linear = 1;
    else
        return unsupported(o, "modes other than nearest and linear");
    int out_h = 0, out_w = 0;
    float scale_h = 0, scale_w = 0;
    if (sizes && sizes->has_ints) {
        if (sizes->n_ints != 4) return malformed(o, "sizes must have 4 values");
        out_h = (int)sizes->ints[2], out_w = (int)sizes->ints[3];
    } else if (scales && scales->fdata && numel(scales->frank, scales->fdims) == 4) {
        if (scales->fdata[0] != 1 || scales->fdata[1] != 1) return unsupported(o, "scaling the batch or channels");
        scale_h = scales->fdata[2], scale_w = scales->fdata[3];
        if (!(scale_h > 0 && scale_h < 1024 && scale_w > 0 && scale_w < 1024)) return malformed(o, "absurd scales");
    } else {
        return unsupported(o, "scales or sizes not known at load time");
    }
    /* Upsample and Resize-10 use asymmetric coordinates and floor for nearest */
    int coord = v10 ? FID__COORD_ASYMMETRIC : FID__COORD_HALF_PIXEL;
    int round_mode = v10 ? FID__ROUND_FLOOR : FID__ROUND_PREFER_FLOOR;
    /* names in the order of fid__resize_coord / fid__resize_round */
    static const char *const coords[] = {"half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel"};
    static const char *const rounds[] = {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
    const char *ct = v10 ? NULL : attr_string(n, "coordinate_transformation_mode", buf, sizeof buf);
    if (ct && (coord = index_of(ct, coords, 4)) < 0)
        return unsupported(o, "coordinate_transformation_mode other than half_pixel, asymmetric, align_corners, "
                              "pytorch_half_pixel");
    const char *nm = v10 ? NULL : attr_string(n, "nearest_mode", buf, sizeof buf);
    if (nm && (round_mode = index_of(nm, rounds, 4)) < 0) return unsupported(o, "nearest_mode");
    if (!v10 && attr_int(n, "exclude_outside", 0)) return unsupported(o, "exclude_outside");
    int id = fid__graph_add(o->g, FID__OP_RESIZE, o->node_name, 1, &x->node);
    if (id < 0) return FID_ERR_NO_MEMORY;
    fid__node *r = &o->g->nodes[id];
    r->a.resize.linear = linear;
    r->a.resize.out_h = out_h, r->a.resize.out_w = out_w;
    r->a.resize.scale_h = scale_h, r->a.resize.scale_w = scale_w;
    r->a.resize.coord = coord;
    r->a.resize.round = round_mode;
    out->node = id;
    out->lay = NCHW;
    return FID_OK;
}

static fid_status convert_node(onnx *o, const Onnx__NodeProto *n) {
    o->node_name = n->name && n->name[0] ? n->name : n->n_output ? n->output[0] : "?";
    o->op = n->op_type ? n->op_type : "";
    if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx"))
        return unsupported(o, "operators outside the default ONNX domain");
    if (n->n_output < 1 || !n->output[0]) return malformed(o, "no output");
    for (size_t i = 0; i < n->n_input; i++)
        if (n->input[i] && n->input[i][0] && !find(o, n->input[i])) {
            char what[600];
            snprintf(what, sizeof what, "input '%s' is not produced before it is used", n->input[i]);
            return malformed(o, what);
        }
    value res;
    memset(&res, 0, sizeof res);
    res.node = -1;
    res.name = n->output[0];
    const char *op = o->op;
    fid_status st = FID_OK;
    value *x = input_value(o, n, 0);
    if (!strcmp(op, "Conv"))
        st = op_conv(o, n, &res);
    else if (!strcmp(op, "BatchNormalization"))
        st = op_batchnorm(o, n, &res);
    else if (!strcmp(op, "MaxPool"))
        st = op_pool(o, n, &res, 1, 0);
    else if (!strcmp(op, "AveragePool"))
        st = op_pool(o, n, &res, 0, 0);
    else if (!strcmp(op, "GlobalAveragePool"))
        st = op_pool(o, n, &res, 0, 1);
    else if (!strcmp(op, "GlobalMaxPool"))
        st = op_pool(o, n, &res, 1, 1);
    else if (!strcmp(op, "Add"))
        st = op_binary(o, n, &res, FID__BIN_ADD);
    else if (!strcmp(op, "Sub"))
        st = op_binary(o, n, &res, FID__BIN_SUB);
    else if (!strcmp(op, "Mul"))
        st = op_binary(o, n, &res, FID__BIN_MUL);
    else if (!strcmp(op, "Div"))
        st = op_binary(o, n, &res, FID__BIN_DIV);
    else if (!strcmp(op, "PRelu"))
        st = op_prelu(o, n, &res);
    else if (!strcmp(op, "Gemm"))
        st = op_gemm(o, n, &res, 1);
    else if (!strcmp(op, "MatMul"))
        st = op_gemm(o, n, &res, 0);
    else if (!strcmp(op, "Concat"))
        st = op_concat(o, n, &res);
    else if (!strcmp(op, "Pad"))
        st = op_pad(o, n, &res);
    else if (!strcmp(op, "Resize") || !strcmp(op, "Upsample"))
        st = op_resize(o, n, &res);
    else if (!strcmp(op, "Transpose"))
        st = op_transpose(o, n, &res);
    else if (!strcmp(op, "Shape") || !strcmp(op, "Gather"))
        st = op_ints(o, n, &res);
    else if (!strcmp(op, "Squeeze") || !strcmp(op, "Unsqueeze"))
        st = op_squeeze(o, n, &res);
    else if (!strcmp(op, "Constant")) {
        const Onnx__AttributeProto *a = attr(n, "value");
        if (!a || !a->t) return unsupported(o, "constants other than a tensor 'value'");
        st = tensor_value(o, a->t, &res);
    } else if (!strcmp(op, "Identity") || !strcmp(op, "Dropout") || !strcmp(op, "Cast")) {
        if (!x) return malformed(o, "missing input");
        if (!strcmp(op, "Cast") && x->has_ints) return op_ints(o, n, &res);
        res = *x;
        res.name = n->output[0];
        res.fowned = NULL;
    } else if (!strcmp(op, "Flatten")) {
        if (!x || x->node < 0) return malformed(o, "missing input");
        if (attr_int(n, "axis", 1) != 1) return unsupported(o, "axis other than 1");
        if (x->lay == NCHW) {
            st = flatten_nchw(o, x, &res);
        } else {
            int64_t shape[2] = {0, -1};
            st = op_reshape(o, n, &res, shape, 2);
        }
    } else if (!strcmp(op, "Reshape")) {
        value *s = input_value(o, n, 1);
        if (!s || !s->has_ints) return unsupported(o, "a shape not known at load time");
        if (attr_int(n, "allowzero", 0)) return unsupported(o, "allowzero");
        st = op_reshape(o, n, &res, s->ints, s->n_ints);
    } else if (!strcmp(op, "Relu") || !strcmp(op, "LeakyRelu") || !strcmp(op, "Sigmoid") || !strcmp(op, "Clip") ||
               !strcmp(op, "Tanh")) {
        if (!x || node_of(o, x) < 0) return malformed(o, "missing input");
        fid__unary alg = FID__UN_RELU;
        float alpha = 0, beta = 0;
        if (!strcmp(op, "LeakyRelu")) alpha = attr_float(n, "alpha", 0.01f);
        if (!strcmp(op, "Sigmoid")) alg = FID__UN_SIGMOID;
        if (!strcmp(op, "Tanh")) alg = FID__UN_TANH;
        if (!strcmp(op, "Clip")) {
            alg = FID__UN_CLIP;
            alpha = attr_float(n, "min", -FLT_MAX), beta = attr_float(n, "max", FLT_MAX);
            value *lo = input_value(o, n, 1), *hi = input_value(o, n, 2);
            if ((lo && !lo->fdata) || (hi && !hi->fdata)) return unsupported(o, "bounds not known at load time");
            if (lo) alpha = lo->fdata[0];
            if (hi) beta = hi->fdata[0];
        }
        int id = fid__graph_unary(o->g, o->node_name, x->node, alg, alpha, beta);
        if (id < 0) return FID_ERR_NO_MEMORY;
        res.node = id;
        res.lay = x->lay;
    } else if (!strcmp(op, "Softmax")) {
        if (!x || x->node < 0) return malformed(o, "missing input");
        int rank;
        int64_t d[4];
        if ((st = onnx_dims(o, x, &rank, d)) != FID_OK) return st;
        int64_t axis = attr_int(n, "axis", o->opset < 13 ? 1 : -1);
        if (axis < 0) axis += rank;
        if (o->opset < 13 && axis != rank - 1) return unsupported(o, "softmax over flattened trailing axes");
        int id = fid__graph_add(o->g, FID__OP_SOFTMAX, o->node_name, 1, &x->node);
        if (id < 0) return FID_ERR_NO_MEMORY;
        o->g->nodes[id].a.softmax.axis = x->lay == NCHW ? nhwc_axis((int)axis) : (int)axis;
        res.node = id;
        res.lay = x->lay;
    } else {
        return unsupported(o, "operator not supported");
    }
    if (st != FID_OK) {
        free(res.fowned);
        return st;
    }
    value *v = add_value(o, n->output[0]);
    if (!v) {
        free(res.fowned);
        return FID_ERR_NO_MEMORY;
    }
    *v = res;
    v->name = n->output[0];
    return FID_OK;
}

fid_status fid__load_onnx(const char *path, const fid_net_params *p, fid__graph **out) {
    unsigned char *bytes = NULL;
    size_t size = 0;
    fid_status st = fid__read_file(path, p->max_weight_bytes, &bytes, &size);
    if (st != FID_OK) return st;
    onnx o = {.path = path};
    o.model = onnx__model_proto__unpack(NULL, size, bytes);
    free(bytes);
    if (!o.model || !o.model->graph) {
        if (o.model) onnx__model_proto__free_unpacked(o.model, NULL);
        return fid__fail(FID_ERR_FORMAT, "%s: not an ONNX model (protobuf ModelProto does not decode)", path);
    }
    for (size_t i = 0; i < o.model->n_opset_import; i++) {
        const Onnx__OperatorSetIdProto *s = o.model->opset_import[i];
        if (!s->domain || !s->domain[0] || !strcmp(s->domain, "ai.onnx")) o.opset = (int)s->version;
    }
    const Onnx__GraphProto *gp = o.model->graph;
    o.g = fid__graph_new();
    if (!o.g) st = FID_ERR_NO_MEMORY;
    if (st == FID_OK && (o.opset < 7 || o.opset > 18))
        st = fid__fail(FID_ERR_UNSUPPORTED, "%s: ONNX opset %d (supported: 7 to 18)", path, o.opset);
    for (size_t i = 0; st == FID_OK && i < gp->n_initializer; i++) {
        value *v = add_value(&o, gp->initializer[i]->name ? gp->initializer[i]->name : "");
        st = v ? tensor_value(&o, gp->initializer[i], v) : FID_ERR_NO_MEMORY;
    }
    for (size_t i = 0; st == FID_OK && i < gp->n_input; i++) {
        const Onnx__ValueInfoProto *in = gp->input[i];
        if (!in->name || find(&o, in->name)) continue; /* old IR versions list initializers as inputs too */
        const Onnx__TypeProto__Tensor *tt = in->type ? in->type->tensor_type : NULL;
        if (!tt || !tt->shape || tt->shape->n_dim < 1 || tt->shape->n_dim > FID__MAX_RANK) {
            st = fid__fail(FID_ERR_UNSUPPORTED, "%s: input '%s' is not a tensor of rank 1 to 4", path, in->name);
            break;
        }
        int rank = (int)tt->shape->n_dim;
        int64_t d[4];
        for (int k = 0; k < rank; k++) {
            const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[k];
            d[k] = dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE ? dim->dim_value : -1;
            if (d[k] < 0 && k == 0) d[k] = 1; /* a symbolic batch */
            if (d[k] < 1 || d[k] > 65536) {
                st = fid__fail(FID_ERR_UNSUPPORTED, "%s: input '%s' needs a fixed size on axis %d", path, in->name, k);
                break;
            }
        }
        if (st != FID_OK) break;
        /* An NHWC input (TF exports) is transposed to NCHW by its first node: keep it as is. */
        int nhwc_input = 0;
        for (size_t k = 0; rank == 4 && k < gp->n_node; k++) {
            const Onnx__NodeProto *n = gp->node[k];
            int64_t perm[4];
            if (n->n_input > 0 && n->input[0] && !strcmp(n->input[0], in->name) && n->op_type &&
                !strcmp(n->op_type, "Transpose") && attr_ints(n, "perm", perm, 4) == 4 && perm[0] == 0 &&
                perm[1] == 3 && perm[2] == 1 && perm[3] == 2)
                nhwc_input = 1;
        }
        value *v = add_value(&o, in->name);
        int64_t nhwc[4] = {d[0], d[2], d[3], d[1]};
        if (!v || (v->node = fid__graph_input(o.g, in->name, rank, rank == 4 && !nhwc_input ? nhwc : d)) < 0) {
            st = FID_ERR_NO_MEMORY;
            break;
        }
        v->lay = rank == 4 && !nhwc_input ? NCHW : PLAIN;
    }
    for (size_t i = 0; st == FID_OK && i < gp->n_node; i++)
        st = convert_node(&o, gp->node[i]);
    for (size_t i = 0; st == FID_OK && i < gp->n_output; i++) {
        value *v = gp->output[i]->name ? find(&o, gp->output[i]->name) : NULL;
        if (v && v->flat_c) { /* its elements are in (h, w, c) order here, ONNX promises (c, h, w) */
            st = fid__fail(FID_ERR_UNSUPPORTED, "%s: output '%s' is a flattened %lldx%lldx%lld map (not supported)",
                           path, gp->output[i]->name, (long long)v->flat_c, (long long)v->flat_h, (long long)v->flat_w);
            break;
        }
        if (!v || node_of(&o, v) < 0 || fid__graph_mark_output(o.g, v->node, gp->output[i]->name) < 0)
            st = fid__fail(FID_ERR_FORMAT, "%s: output '%s' is not computed by the graph", path,
                           gp->output[i]->name ? gp->output[i]->name : "");
    }
    if (st == FID_OK && o.g->n_inputs == 0) st = fid__fail(FID_ERR_FORMAT, "%s: the graph has no input", path);
    for (int i = 0; i < o.n_values; i++)
        free(o.values[i].fowned);
    free(o.values);
    onnx__model_proto__free_unpacked(o.model, NULL);
    if (st != FID_OK) {
        fid__graph_free(o.g);
        return st;
    }
    *out = o.g;
    return FID_OK;
}
