/*
 * TF.js graph models (model.json with modelTopology + weightsManifest, .bin shards), as shipped
 * by @vladmandic/human. TF nodes are mapped onto the IR; fused TF ops are split back into
 * conv/matmul + bias + activation and re-fused by the optimiser into oneDNN post-ops.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/net.h"
#include "nn/weights.h"
#include "util/error.h"
#include "util/file.h"

typedef struct tfjs {
    const char *path;
    json_t *nodes; /* modelTopology.node */
    fid__graph *g;
    fid__weights ws;
    int *ids; /* node index -> graph id, -2 = in progress, -1 = not yet */
    int depth;
} tfjs;

/* Small enough to write out: attribute strings in the JSON are base64. */
static int base64_decode(const char *in, char *out, size_t out_size) {
    static const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (; *in && *in != '='; in++) {
        const char *p = strchr(alphabet, *in);
        if (!p) return -1;
        acc = (acc << 6) | (unsigned)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= out_size) return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = 0;
    return 0;
}

static json_t *attr(json_t *node, const char *name) { return json_object_get(json_object_get(node, "attr"), name); }

static int attr_string(json_t *node, const char *name, char *out, size_t out_size) {
    const char *s = json_string_value(json_object_get(attr(node, name), "s"));
    out[0] = 0;
    return s ? base64_decode(s, out, out_size) : -1;
}

/* Integer list attribute (strings or numbers in the JSON). Returns count or -1. */
static int attr_ints(json_t *node, const char *name, int64_t *out, int max) {
    json_t *list = json_object_get(json_object_get(attr(node, name), "list"), "i");
    if (!json_is_array(list)) return -1;
    int n = (int)json_array_size(list);
    if (n > max) return -1;
    for (int i = 0; i < n; i++) {
        json_t *v = json_array_get(list, (size_t)i);
        out[i] = json_is_string(v) ? strtoll(json_string_value(v), NULL, 10) : json_integer_value(v);
    }
    return n;
}

static int attr_bool(json_t *node, const char *name) { return json_is_true(json_object_get(attr(node, name), "b")); }

static float attr_float(json_t *node, const char *name, float fallback) {
    json_t *f = json_object_get(attr(node, name), "f");
    return json_is_number(f) ? (float)json_number_value(f) : fallback;
}

static int find_node(tfjs *t, const char *name, size_t len) {
    size_t i;
    json_t *n;
    json_array_foreach(t->nodes, i, n) {
        const char *nm = json_string_value(json_object_get(n, "name"));
        if (nm && strlen(nm) == len && !strncmp(nm, name, len)) return (int)i;
    }
    return -1;
}

static int convert(tfjs *t, int index, fid_status *st);

/* Graph id of the k-th data input of node (control inputs "^x" are skipped). */
static int input_id(tfjs *t, json_t *node, int k, fid_status *st) {
    json_t *inputs = json_object_get(node, "input");
    int seen = 0;
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        const char *ref = json_string_value(json_array_get(inputs, i));
        if (!ref || ref[0] == '^') continue;
        if (seen++ != k) continue;
        const char *colon = strchr(ref, ':');
        if (colon && strcmp(colon, ":0")) {
            *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s' reads output '%s' (only first outputs are supported)",
                            t->path, json_string_value(json_object_get(node, "name")), ref);
            return -1;
        }
        int idx = find_node(t, ref, colon ? (size_t)(colon - ref) : strlen(ref));
        if (idx < 0) {
            *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s' reads unknown node '%s'", t->path,
                            json_string_value(json_object_get(node, "name")), ref);
            return -1;
        }
        return convert(t, idx, st);
    }
    *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s' lacks input %d", t->path,
                    json_string_value(json_object_get(node, "name")), k);
    return -1;
}

static int data_input_count(json_t *node) {
    json_t *inputs = json_object_get(node, "input");
    int n = 0;
    for (size_t i = 0; i < json_array_size(inputs); i++) {
        const char *ref = json_string_value(json_array_get(inputs, i));
        if (ref && ref[0] != '^') n++;
    }
    return n;
}

/* Values of a constant input as integers (shapes, axes, paddings). */
static int const_ints(tfjs *t, int id, int64_t *out, int max, const char *node_name, fid_status *st) {
    const fid__node *c = &t->g->nodes[id];
    int64_t n = fid__node_numel(c);
    if (c->op != FID__OP_CONST || n > max) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s' needs a small constant input", t->path, node_name);
        return -1;
    }
    for (int64_t i = 0; i < n; i++)
        out[i] = (int64_t)c->data[i];
    return (int)n;
}

static fid__padding padding_of(json_t *node, int *ok) {
    char s[32];
    *ok = 1;
    if (attr_string(node, "padding", s, sizeof s) != 0) return FID__PAD_VALID;
    if (!strcmp(s, "SAME")) return FID__PAD_SAME;
    if (!strcmp(s, "VALID")) return FID__PAD_VALID;
    if (!strcmp(s, "EXPLICIT")) return FID__PAD_EXPLICIT;
    *ok = 0;
    return FID__PAD_VALID;
}

/* Applies _Fused* ops after `id`: BiasAdd uses data input `first_extra`. */
static int apply_fused(tfjs *t, json_t *node, const char *name, int id, int first_extra, fid_status *st) {
    json_t *ops = json_object_get(json_object_get(attr(node, "fused_ops"), "list"), "s");
    int extra = first_extra;
    for (size_t i = 0; id >= 0 && i < json_array_size(ops); i++) {
        char op[64];
        if (base64_decode(json_string_value(json_array_get(ops, i)), op, sizeof op)) op[0] = 0;
        if (!strcmp(op, "BiasAdd")) {
            int b = input_id(t, node, extra++, st);
            id = b < 0 ? -1 : fid__graph_binary(t->g, name, id, b, FID__BIN_ADD);
        } else if (!strcmp(op, "Relu")) {
            id = fid__graph_unary(t->g, name, id, FID__UN_RELU, 0, 0);
        } else if (!strcmp(op, "Relu6")) {
            id = fid__graph_unary(t->g, name, id, FID__UN_CLIP, 0, 6);
        } else if (!strcmp(op, "LeakyRelu")) {
            id = fid__graph_unary(t->g, name, id, FID__UN_RELU, attr_float(node, "leakyrelu_alpha", 0.2f), 0);
        } else if (!strcmp(op, "Sigmoid")) {
            id = fid__graph_unary(t->g, name, id, FID__UN_SIGMOID, 0, 0);
        } else {
            *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': fused op '%s' is not supported", t->path, name, op);
            return -1;
        }
    }
    if (id < 0 && *st == FID_OK) *st = FID_ERR_NO_MEMORY;
    return id;
}

static int convert_conv(tfjs *t, json_t *node, const char *name, int depthwise, fid_status *st) {
    int x = input_id(t, node, 0, st);
    int w = x < 0 ? -1 : input_id(t, node, 1, st);
    if (w < 0) return -1;
    fid__node *wn = &t->g->nodes[w];
    if (wn->op != FID__OP_CONST || wn->rank != 4) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': filter is not a 4-D constant", t->path, name);
        return -1;
    }
    char fmt[16];
    if (attr_string(node, "data_format", fmt, sizeof fmt) == 0 && fmt[0] && strcmp(fmt, "NHWC")) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': data_format %s", t->path, name, fmt);
        return -1;
    }
    int64_t strides[4] = {1, 1, 1, 1}, dil[4] = {1, 1, 1, 1}, pads[8] = {0};
    attr_ints(node, "strides", strides, 4);
    attr_ints(node, "dilations", dil, 4);
    int ok;
    fid__padding padding = padding_of(node, &ok);
    if (!ok) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': unknown padding", t->path, name);
        return -1;
    }
    int groups = 1;
    if (depthwise) {
        groups = (int)wn->dims[2];
        wn->dims[3] *= wn->dims[2];
        wn->dims[2] = 1;
    }
    int id = fid__graph_conv(t->g, name, x, w, -1, groups, (int)strides[1], padding);
    if (id < 0) {
        *st = FID_ERR_NO_MEMORY;
        return -1;
    }
    fid__conv_attr *c = &t->g->nodes[id].a.conv;
    c->stride_w = (int)strides[2];
    c->dilation_h = (int)dil[1];
    c->dilation_w = (int)dil[2];
    if (padding == FID__PAD_EXPLICIT && attr_ints(node, "explicit_paddings", pads, 8) == 8) {
        c->pad_top = (int)pads[2], c->pad_bottom = (int)pads[3];
        c->pad_left = (int)pads[4], c->pad_right = (int)pads[5];
    }
    if (c->stride_h < 1 || c->stride_w < 1 || c->dilation_h < 1 || c->dilation_w < 1 || c->stride_h > 64 ||
        c->stride_w > 64 || c->dilation_h > 64 || c->dilation_w > 64) {
        *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s': absurd strides or dilations", t->path, name);
        return -1;
    }
    return apply_fused(t, node, name, id, 2, st);
}

static int convert_matmul(tfjs *t, json_t *node, const char *name, fid_status *st) {
    int x = input_id(t, node, 0, st);
    int w = x < 0 ? -1 : input_id(t, node, 1, st);
    if (w < 0) return -1;
    fid__node *wn = &t->g->nodes[w];
    if (wn->op != FID__OP_CONST || wn->rank != 2 || attr_bool(node, "transpose_a")) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': MatMul needs constant 2-D weights", t->path, name);
        return -1;
    }
    if (attr_bool(node, "transpose_b")) {
        int64_t r = wn->dims[0], c = wn->dims[1];
        float *tr = malloc((size_t)(r * c + 1) * sizeof(float));
        if (!tr) return *st = FID_ERR_NO_MEMORY, -1;
        for (int64_t i = 0; i < r; i++)
            for (int64_t j = 0; j < c; j++)
                tr[j * r + i] = wn->data[i * c + j];
        free(wn->data);
        wn->data = tr;
        wn->dims[0] = c;
        wn->dims[1] = r;
    }
    int id = fid__graph_add(t->g, FID__OP_MATMUL, name, 1, &x);
    if (id < 0) return *st = FID_ERR_NO_MEMORY, -1;
    t->g->nodes[id].a.matmul.weights = w;
    t->g->nodes[id].a.matmul.bias = -1;
    return apply_fused(t, node, name, id, 2, st);
}

static int convert_pool(tfjs *t, json_t *node, const char *name, int is_max, fid_status *st) {
    int x = input_id(t, node, 0, st);
    if (x < 0) return -1;
    int64_t k[4] = {1, 1, 1, 1}, s[4] = {1, 1, 1, 1};
    attr_ints(node, "ksize", k, 4);
    attr_ints(node, "strides", s, 4);
    int ok;
    fid__padding padding = padding_of(node, &ok);
    if (!ok || padding == FID__PAD_EXPLICIT || k[0] != 1 || k[3] != 1 || k[1] < 1 || k[2] < 1 || s[1] < 1 || s[2] < 1 ||
        k[1] > 4096 || k[2] > 4096 || s[1] > 4096 || s[2] > 4096) {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: node '%s': unsupported pooling window", t->path, name);
        return -1;
    }
    int id = fid__graph_pool(t->g, name, x, is_max, (int)k[1], (int)s[1], padding);
    if (id < 0) return *st = FID_ERR_NO_MEMORY, -1;
    t->g->nodes[id].a.pool.kw = (int)k[2];
    t->g->nodes[id].a.pool.stride_w = (int)s[2];
    return id;
}

/* Shapes of the graph built so far (needed by ops whose attributes depend on rank). */
static int infer_rank(tfjs *t, int id, fid_status *st) {
    if ((*st = fid__graph_store_shapes(t->g)) != FID_OK) return -1;
    return t->g->nodes[id].rank;
}

static int convert_node(tfjs *t, json_t *node, fid_status *st) {
    const char *name = json_string_value(json_object_get(node, "name"));
    const char *op = json_string_value(json_object_get(node, "op"));
    fid__graph *g = t->g;
    if (!name || !op) {
        *st = fid__fail(FID_ERR_FORMAT, "%s: node without name or op", t->path);
        return -1;
    }
    int id = -1;
    if (!strcmp(op, "Const")) {
        fid__weight *w = fid__weights_find(&t->ws, name);
        if (!w || !w->data || w->rank > FID__MAX_RANK) {
            *st = fid__fail(FID_ERR_FORMAT, "%s: constant '%s' has no weights (or rank > 4)", t->path, name);
            return -1;
        }
        id = fid__graph_const(g, name, w->rank, w->dims, fid__weights_take(w));
    } else if (!strcmp(op, "Placeholder")) {
        json_t *dims = json_object_get(json_object_get(attr(node, "shape"), "shape"), "dim");
        int64_t d[FID__MAX_RANK];
        int rank = (int)json_array_size(dims);
        if (rank < 1 || rank > FID__MAX_RANK) {
            *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: input '%s' has rank %d", t->path, name, rank);
            return -1;
        }
        for (int i = 0; i < rank; i++) {
            json_t *sz = json_object_get(json_array_get(dims, (size_t)i), "size");
            d[i] = json_is_string(sz) ? strtoll(json_string_value(sz), NULL, 10) : json_integer_value(sz);
            if (i > 0 && (d[i] < 1 || d[i] > 16384)) {
                *st = fid__fail(FID_ERR_FORMAT, "%s: input '%s' has dimension %lld", t->path, name, (long long)d[i]);
                return -1;
            }
        }
        id = fid__graph_input(g, name, rank, d);
    } else if (!strcmp(op, "Conv2D") || !strcmp(op, "_FusedConv2D")) {
        return convert_conv(t, node, name, 0, st);
    } else if (!strcmp(op, "DepthwiseConv2dNative") || !strcmp(op, "FusedDepthwiseConv2dNative")) {
        return convert_conv(t, node, name, 1, st);
    } else if (!strcmp(op, "MatMul") || !strcmp(op, "_FusedMatMul")) {
        return convert_matmul(t, node, name, st);
    } else if (!strcmp(op, "MaxPool") || !strcmp(op, "AvgPool")) {
        return convert_pool(t, node, name, op[0] == 'M', st);
    } else if (!strcmp(op, "Add") || !strcmp(op, "AddV2") || !strcmp(op, "BiasAdd") || !strcmp(op, "Sub") ||
               !strcmp(op, "Mul") || !strcmp(op, "RealDiv") || !strcmp(op, "Div") || !strcmp(op, "Minimum") ||
               !strcmp(op, "Maximum")) {
        int a = input_id(t, node, 0, st);
        int b = a < 0 ? -1 : input_id(t, node, 1, st);
        if (b < 0) return -1;
        fid__binary alg = op[0] == 'A' || op[0] == 'B' ? FID__BIN_ADD
                          : op[0] == 'S'               ? FID__BIN_SUB
                          : !strcmp(op, "Mul")         ? FID__BIN_MUL
                          : op[1] == 'i'               ? FID__BIN_MIN
                          : op[1] == 'a'               ? FID__BIN_MAX
                                                       : FID__BIN_DIV;
        id = fid__graph_binary(g, name, a, b, alg);
    } else if (!strcmp(op, "Relu") || !strcmp(op, "Relu6") || !strcmp(op, "Sigmoid") || !strcmp(op, "Tanh") ||
               !strcmp(op, "Exp") || !strcmp(op, "LeakyRelu")) {
        int x = input_id(t, node, 0, st);
        if (x < 0) return -1;
        if (!strcmp(op, "Relu"))
            id = fid__graph_unary(g, name, x, FID__UN_RELU, 0, 0);
        else if (!strcmp(op, "Relu6"))
            id = fid__graph_unary(g, name, x, FID__UN_CLIP, 0, 6);
        else if (!strcmp(op, "Sigmoid"))
            id = fid__graph_unary(g, name, x, FID__UN_SIGMOID, 0, 0);
        else if (!strcmp(op, "Tanh"))
            id = fid__graph_unary(g, name, x, FID__UN_TANH, 0, 0);
        else if (!strcmp(op, "Exp"))
            id = fid__graph_unary(g, name, x, FID__UN_EXP, 0, 0);
        else
            id = fid__graph_unary(g, name, x, FID__UN_RELU, attr_float(node, "alpha", 0.2f), 0);
    } else if (!strcmp(op, "Identity") || !strcmp(op, "Reshape") || !strcmp(op, "Squeeze")) {
        int x = input_id(t, node, 0, st);
        if (x < 0) return -1;
        int64_t shape[FID__MAX_RANK];
        int rank = 0;
        if (op[0] == 'R') {
            int s = input_id(t, node, 1, st);
            if (s < 0 || (rank = const_ints(t, s, shape, FID__MAX_RANK, name, st)) < 0) return -1;
        } else if (op[0] == 'S') {
            int64_t axes[FID__MAX_RANK];
            int n_axes = attr_ints(node, "squeeze_dims", axes, FID__MAX_RANK);
            int xr = infer_rank(t, x, st);
            if (xr < 0) return -1;
            const int64_t *xd = g->nodes[x].dims;
            for (int i = 0; i < xr; i++) {
                int drop = 0;
                for (int k = 0; k < n_axes; k++)
                    if (axes[k] == i || axes[k] + xr == i) drop = 1;
                if (n_axes <= 0) drop = xd[i] == 1;
                if (!drop) shape[rank++] = i == 0 ? 0 : xd[i];
            }
            if (rank == 0) shape[rank++] = 1;
        }
        id = fid__graph_add(g, FID__OP_IDENTITY, name, 1, &x);
        if (id >= 0 && op[0] != 'I') {
            g->nodes[id].a.reshape.rank = rank;
            for (int i = 0; i < rank; i++) {
                /* TF spells "any" as -1; a literal 0-sized dim is meaningless here. */
                if (shape[i] == 0 && op[0] == 'R') {
                    *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s': zero-sized reshape", t->path, name);
                    return -1;
                }
                g->nodes[id].a.reshape.dims[i] = shape[i];
            }
        }
    } else if (!strcmp(op, "Pad") || !strcmp(op, "PadV2")) {
        int x = input_id(t, node, 0, st);
        int p = x < 0 ? -1 : input_id(t, node, 1, st);
        if (p < 0) return -1;
        int64_t pads[2 * FID__MAX_RANK];
        int n = const_ints(t, p, pads, 2 * FID__MAX_RANK, name, st);
        if (n < 0) return -1;
        float value = 0;
        if (!strcmp(op, "PadV2")) {
            int v = input_id(t, node, 2, st);
            if (v < 0) return -1;
            value = g->nodes[v].op == FID__OP_CONST && g->nodes[v].data ? g->nodes[v].data[0] : 0;
        }
        id = fid__graph_add(g, FID__OP_PAD, name, 1, &x);
        if (id >= 0) {
            for (int i = 0; i < n / 2; i++) {
                if (pads[2 * i] < 0 || pads[2 * i] > 4096 || pads[2 * i + 1] < 0 || pads[2 * i + 1] > 4096) {
                    *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s': absurd padding", t->path, name);
                    return -1;
                }
                g->nodes[id].a.pad.before[i] = (int)pads[2 * i];
                g->nodes[id].a.pad.after[i] = (int)pads[2 * i + 1];
            }
            g->nodes[id].a.pad.value = value;
        }
    } else if (!strcmp(op, "Mean")) {
        int x = input_id(t, node, 0, st);
        int a = x < 0 ? -1 : input_id(t, node, 1, st);
        if (a < 0) return -1;
        int64_t axes[FID__MAX_RANK];
        int n = const_ints(t, a, axes, FID__MAX_RANK, name, st);
        int xr = n < 0 ? -1 : infer_rank(t, x, st);
        if (xr < 0) return -1;
        id = fid__graph_add(g, FID__OP_MEAN, name, 1, &x);
        if (id >= 0) {
            for (int k = 0; k < n; k++) {
                int64_t ax = axes[k] < 0 ? axes[k] + xr : axes[k];
                if (ax < 0 || ax >= xr) {
                    *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s': axis out of range", t->path, name);
                    return -1;
                }
                g->nodes[id].a.mean.axes_mask |= 1 << ax;
            }
            g->nodes[id].a.mean.keep_dims = attr_bool(node, "keep_dims");
        }
    } else if (!strcmp(op, "Softmax")) {
        int x = input_id(t, node, 0, st);
        int xr = x < 0 ? -1 : infer_rank(t, x, st);
        if (xr < 0) return -1;
        id = fid__graph_add(g, FID__OP_SOFTMAX, name, 1, &x);
        if (id >= 0) g->nodes[id].a.softmax.axis = xr - 1;
    } else if (!strcmp(op, "ConcatV2")) {
        int n = data_input_count(node) - 1;
        if (n < 1 || n > 64) {
            *st = fid__fail(FID_ERR_FORMAT, "%s: node '%s': %d concat inputs", t->path, name, n);
            return -1;
        }
        int ins[64];
        for (int k = 0; k < n; k++)
            if ((ins[k] = input_id(t, node, k, st)) < 0) return -1;
        int a = input_id(t, node, n, st);
        int64_t axis;
        if (a < 0 || const_ints(t, a, &axis, 1, name, st) != 1) return -1;
        int xr = infer_rank(t, ins[0], st);
        if (xr < 0) return -1;
        id = fid__graph_add(g, FID__OP_CONCAT, name, n, ins);
        if (id >= 0) g->nodes[id].a.concat.axis = (int)(axis < 0 ? axis + xr : axis);
    } else {
        *st = fid__fail(FID_ERR_UNSUPPORTED, "%s: op '%s' (node '%s') is not supported", t->path, op, name);
        return -1;
    }
    if (id < 0 && *st == FID_OK) *st = FID_ERR_NO_MEMORY;
    return id;
}

static int convert(tfjs *t, int index, fid_status *st) {
    if (t->ids[index] >= 0) return t->ids[index];
    if (t->ids[index] == -2) {
        *st = fid__fail(FID_ERR_FORMAT, "%s: graph has a cycle at node %d", t->path, index);
        return -1;
    }
    if (++t->depth > 2000) {
        *st = fid__fail(FID_ERR_FORMAT, "%s: graph is too deep", t->path);
        return -1;
    }
    t->ids[index] = -2;
    int id = convert_node(t, json_array_get(t->nodes, (size_t)index), st);
    t->depth--;
    t->ids[index] = id < 0 ? -1 : id;
    return id;
}

/* Output node names: the signature's outputs, else every node nobody reads. */
static fid_status mark_outputs(tfjs *t, json_t *root) {
    fid_status st = FID_OK;
    json_t *sig = json_object_get(json_object_get(root, "signature"), "outputs");
    if (!sig)
        sig = json_object_get(json_object_get(json_object_get(root, "userDefinedMetadata"), "signature"), "outputs");
    if (json_is_object(sig) && json_object_size(sig) > 0) {
        const char *key;
        json_t *v;
        /* Sorted by key for a stable output order. */
        const char *keys[16];
        int n = 0;
        json_object_foreach(sig, key, v) {
            if (n < 16) keys[n++] = key;
        }
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
                if (strcmp(keys[j], keys[i]) < 0) {
                    const char *tmp = keys[i];
                    keys[i] = keys[j];
                    keys[j] = tmp;
                }
        for (int i = 0; i < n; i++) {
            json_t *o = json_object_get(sig, keys[i]);
            const char *ref = json_string_value(json_object_get(o, "name"));
            if (!ref) ref = keys[i];
            const char *colon = strchr(ref, ':');
            int idx = find_node(t, ref, colon ? (size_t)(colon - ref) : strlen(ref));
            if (idx < 0) return fid__fail(FID_ERR_FORMAT, "%s: signature output '%s' is not a node", t->path, ref);
            int id = convert(t, idx, &st);
            if (id < 0) return st;
            /* Named like TF.js's model.outputs: the node name without ":0". */
            if (fid__graph_mark_output(
                    t->g, id, json_string_value(json_object_get(json_array_get(t->nodes, (size_t)idx), "name"))) < 0)
                return FID_ERR_NO_MEMORY;
        }
        return FID_OK;
    }
    size_t n = json_array_size(t->nodes);
    char *read = calloc(n ? n : 1, 1);
    if (!read) return fid__fail(FID_ERR_NO_MEMORY, "%s", t->path);
    for (size_t i = 0; i < n; i++) {
        json_t *inputs = json_object_get(json_array_get(t->nodes, i), "input");
        for (size_t k = 0; k < json_array_size(inputs); k++) {
            const char *ref = json_string_value(json_array_get(inputs, k));
            if (!ref) continue;
            if (ref[0] == '^') ref++;
            const char *colon = strchr(ref, ':');
            int idx = find_node(t, ref, colon ? (size_t)(colon - ref) : strlen(ref));
            if (idx >= 0) read[idx] = 1;
        }
    }
    for (size_t i = 0; i < n && st == FID_OK; i++) {
        json_t *node = json_array_get(t->nodes, i);
        const char *op = json_string_value(json_object_get(node, "op"));
        if (read[i] || !op || !strcmp(op, "Const")) continue;
        int id = convert(t, (int)i, &st);
        if (id >= 0 && fid__graph_mark_output(t->g, id, json_string_value(json_object_get(node, "name"))) < 0)
            st = FID_ERR_NO_MEMORY;
    }
    free(read);
    if (st == FID_OK && t->g->n_outputs == 0) st = fid__fail(FID_ERR_FORMAT, "%s: graph has no outputs", t->path);
    return st;
}

fid_status fid__load_tfjs_graph(const char *path, const fid_net_params *p, fid__graph **out) {
    *out = NULL;
    json_t *root;
    fid_status st = fid__read_json(path, 64u << 20, &root);
    if (st != FID_OK) return st;
    tfjs t = {.path = path};
    t.nodes = json_object_get(json_object_get(root, "modelTopology"), "node");
    if (!json_is_array(t.nodes)) {
        json_decref(root);
        return fid__fail(FID_ERR_FORMAT, "%s: no modelTopology.node list", path);
    }
    st = fid__weights_load(json_object_get(root, "weightsManifest"), path, p->max_weight_bytes, &t.ws);
    if (st == FID_OK) {
        t.g = fid__graph_new();
        size_t n = json_array_size(t.nodes);
        t.ids = malloc((n ? n : 1) * sizeof *t.ids);
        if (!t.g || !t.ids) st = fid__fail(FID_ERR_NO_MEMORY, "%s", path);
        for (size_t i = 0; t.ids && i < n; i++)
            t.ids[i] = -1;
        if (st == FID_OK) st = mark_outputs(&t, root);
        if (st == FID_OK && t.g->n_inputs == 0) st = fid__fail(FID_ERR_FORMAT, "%s: graph has no input", path);
    }
    fid__weights_free(&t.ws);
    free(t.ids);
    json_decref(root);
    if (st != FID_OK) {
        if (!strstr(fid_last_error(), path)) fid__error_prefix(path);
        fid__graph_free(t.g);
        return st;
    }
    *out = t.g;
    return FID_OK;
}
