/*
 * Naive reference kernels: the executable definition of each op's semantics. Used to fold
 * constants at load and, in tests, as the oracle the oneDNN backend is compared against.
 * Accumulation is in double so the reference is the more exact side of any comparison.
 */
#include "nn/reference.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

float fid__ref_unary(int alg, float alpha, float beta, float x) {
    switch (alg) {
    case FID__UN_RELU: return x > 0 ? x : x * alpha;
    case FID__UN_CLIP: return x < alpha ? alpha : (x > beta ? beta : x);
    case FID__UN_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case FID__UN_TANH: return tanhf(x);
    case FID__UN_EXP: return expf(x);
    case FID__UN_LINEAR: return alpha * x + beta;
    }
    return x;
}

float fid__ref_binary(int alg, float a, float b) {
    switch (alg) {
    case FID__BIN_ADD: return a + b;
    case FID__BIN_SUB: return a - b;
    case FID__BIN_MUL: return a * b;
    case FID__BIN_DIV: return a / b;
    case FID__BIN_MIN: return a < b ? a : b;
    case FID__BIN_MAX: return a > b ? a : b;
    }
    return a;
}

/* Applies post-ops to out[i] whose channel (last axis) is c. */
static float apply_post(const fid__graph *g, const fid__node *n, float v, int64_t i, int64_t c, float *const *bufs) {
    for (int k = 0; k < n->n_post; k++) {
        const fid__post_op *po = &n->post[k];
        switch (po->kind) {
        case FID__POST_UNARY: v = fid__ref_unary(po->alg, po->alpha, po->beta, v); break;
        case FID__POST_BINARY: {
            const fid__node *o = &g->nodes[po->operand];
            float b = fid__node_numel(o) == 1 ? o->data[0] : o->data[c];
            v = fid__ref_binary(po->alg, v, b);
            break;
        }
        case FID__POST_SUM: v += bufs[po->operand][i]; break;
        }
    }
    return v;
}

static void ref_conv(const fid__graph *g, const fid__node *n, const int64_t *xd, const float *x, const int64_t *yd,
                     float *y, float *const *bufs) {
    const fid__conv_attr *c = &n->a.conv;
    const float *w = g->nodes[c->weights].data;
    const float *bias = c->bias >= 0 ? g->nodes[c->bias].data : NULL;
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3];
    int64_t OH = yd[1], OW = yd[2], O = yd[3];
    int64_t ipg = C / c->groups, opg = O / c->groups;
    for (int64_t b = 0; b < N; b++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t o = 0; o < O; o++) {
                    int64_t grp = o / opg;
                    double acc = bias ? bias[o] : 0;
                    for (int ky = 0; ky < c->kh; ky++) {
                        int64_t iy = oy * c->stride_h - c->pad_top + ky * c->dilation_h;
                        if (iy < 0 || iy >= H) continue;
                        for (int kx = 0; kx < c->kw; kx++) {
                            int64_t ix = ox * c->stride_w - c->pad_left + kx * c->dilation_w;
                            if (ix < 0 || ix >= W) continue;
                            const float *xp = x + ((b * H + iy) * W + ix) * C + grp * ipg;
                            const float *wp = w + ((int64_t)ky * c->kw + kx) * ipg * O + o;
                            for (int64_t i = 0; i < ipg; i++)
                                acc += (double)xp[i] * wp[i * O];
                        }
                    }
                    int64_t idx = ((b * OH + oy) * OW + ox) * O + o;
                    y[idx] = apply_post(g, n, (float)acc, idx, o, bufs);
                }
}

static void ref_pool(const fid__node *n, const int64_t *xd, const float *x, const int64_t *yd, float *y) {
    const fid__pool_attr *p = &n->a.pool;
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3], OH = yd[1], OW = yd[2];
    for (int64_t b = 0; b < N; b++)
        for (int64_t oy = 0; oy < OH; oy++)
            for (int64_t ox = 0; ox < OW; ox++)
                for (int64_t ch = 0; ch < C; ch++) {
                    double acc = p->is_max ? -INFINITY : 0;
                    int count = 0;
                    for (int ky = 0; ky < p->kh; ky++) {
                        int64_t iy = oy * p->stride_h - p->pad_top + ky;
                        if (iy < 0 || iy >= H) continue;
                        for (int kx = 0; kx < p->kw; kx++) {
                            int64_t ix = ox * p->stride_w - p->pad_left + kx;
                            if (ix < 0 || ix >= W) continue;
                            float v = x[((b * H + iy) * W + ix) * C + ch];
                            if (p->is_max)
                                acc = v > acc ? v : acc;
                            else
                                acc += v;
                            count++;
                        }
                    }
                    /* TF excludes padding from the average. */
                    y[((b * OH + oy) * OW + ox) * C + ch] = (float)(p->is_max ? acc : (count ? acc / count : 0));
                }
}

/* Index into a broadcast operand of rank r_in for an output coordinate of rank r_out. */
static int64_t broadcast_index(const int64_t *coord, int r_out, const int64_t *d_in, int r_in) {
    int64_t idx = 0;
    for (int i = 0; i < r_in; i++) {
        int64_t ci = coord[i + r_out - r_in];
        idx = idx * d_in[i] + (d_in[i] == 1 ? 0 : ci);
    }
    return idx;
}

static void unravel(int64_t i, int r, const int64_t *d, int64_t *coord) {
    for (int k = r - 1; k >= 0; k--) {
        coord[k] = i % d[k];
        i /= d[k];
    }
}

/* Source coordinate of output index `o` along an axis (ONNX Resize's coordinate transforms). */
static double resize_source(const fid__node *n, int64_t o, int64_t in, int64_t out, double scale) {
    switch (n->a.resize.coord) {
    case FID__COORD_ASYMMETRIC: return o / scale;
    case FID__COORD_ALIGN_CORNERS: return out > 1 ? o * (double)(in - 1) / (double)(out - 1) : 0;
    case FID__COORD_PYTORCH_HALF_PIXEL: return out > 1 ? (o + 0.5) / scale - 0.5 : 0;
    default: return (o + 0.5) / scale - 0.5;
    }
}

static int64_t resize_nearest(const fid__node *n, double x, int64_t in) {
    double r;
    switch (n->a.resize.round) {
    case FID__ROUND_FLOOR: r = floor(x); break;
    case FID__ROUND_CEIL: r = ceil(x); break;
    case FID__ROUND_PREFER_CEIL: r = x - floor(x) == 0.5 ? ceil(x) : round(x); break;
    default: r = x - floor(x) == 0.5 ? floor(x) : round(x); break;
    }
    return r < 0 ? 0 : r > in - 1 ? in - 1 : (int64_t)r;
}

/* Used by the runner too: resizing is memory-bound and rare (detector FPNs). */
static void ref_resize(const fid__node *n, const int64_t *xd, const float *x, const int64_t *yd, float *y) {
    int64_t N = xd[0], H = xd[1], W = xd[2], C = xd[3], OH = yd[1], OW = yd[2];
    /* with explicit sizes the scale is output/input, as ONNX defines it */
    double sh = n->a.resize.out_h > 0 ? (double)OH / H : n->a.resize.scale_h;
    double sw = n->a.resize.out_w > 0 ? (double)OW / W : n->a.resize.scale_w;
    for (int64_t b = 0; b < N; b++)
        for (int64_t oy = 0; oy < OH; oy++) {
            double fy = resize_source(n, oy, H, OH, sh);
            for (int64_t ox = 0; ox < OW; ox++) {
                double fx = resize_source(n, ox, W, OW, sw);
                float *o = y + ((b * OH + oy) * OW + ox) * C;
                if (!n->a.resize.linear) {
                    const float *p = x + ((b * H + resize_nearest(n, fy, H)) * W + resize_nearest(n, fx, W)) * C;
                    memcpy(o, p, (size_t)C * sizeof *o);
                    continue;
                }
                double cy = fy < 0 ? 0 : fy > H - 1 ? H - 1 : fy, cx = fx < 0 ? 0 : fx > W - 1 ? W - 1 : fx;
                int64_t y0 = (int64_t)floor(cy), x0 = (int64_t)floor(cx);
                int64_t y1 = y0 + 1 < H ? y0 + 1 : y0, x1 = x0 + 1 < W ? x0 + 1 : x0;
                double wy = cy - y0, wx = cx - x0;
                const float *p00 = x + ((b * H + y0) * W + x0) * C, *p01 = x + ((b * H + y0) * W + x1) * C;
                const float *p10 = x + ((b * H + y1) * W + x0) * C, *p11 = x + ((b * H + y1) * W + x1) * C;
                for (int64_t c = 0; c < C; c++)
                    o[c] =
                        (float)((p00[c] * (1 - wx) + p01[c] * wx) * (1 - wy) + (p10[c] * (1 - wx) + p11[c] * wx) * wy);
            }
        }
}

fid_status fid__ref_node(const fid__graph *g, int id, int64_t (*dims)[FID__MAX_RANK], const int *rank,
                         float *const *bufs, float *out) {
    const fid__node *n = &g->nodes[id];
#define D(k) (dims ? dims[k] : g->nodes[k].dims)
#define R(k) (rank ? rank[k] : g->nodes[k].rank)
#define B(k) (bufs ? bufs[k] : g->nodes[k].data)
    const int64_t *yd = D(id);
    int yr = R(id);
    int64_t total = fid__numel(yr, yd);
    int in0 = n->n_inputs ? n->inputs[0] : -1;
    switch (n->op) {
    case FID__OP_INPUT: return fid__fail(FID_ERR_INVALID_ARGUMENT, "reference: input '%s' has no value", n->name);
    case FID__OP_CONST: memcpy(out, n->data, (size_t)total * sizeof(float)); return FID_OK;
    case FID__OP_IDENTITY: memcpy(out, B(in0), (size_t)total * sizeof(float)); return FID_OK;
    case FID__OP_CONV: ref_conv(g, n, D(in0), B(in0), yd, out, bufs); return FID_OK;
    case FID__OP_POOL: ref_pool(n, D(in0), B(in0), yd, out); return FID_OK;
    case FID__OP_RESIZE: ref_resize(n, D(in0), B(in0), yd, out); return FID_OK;
    case FID__OP_UNARY:
        for (int64_t i = 0; i < total; i++)
            out[i] = fid__ref_unary(n->a.unary.alg, n->a.unary.alpha, n->a.unary.beta, B(in0)[i]);
        return FID_OK;
    case FID__OP_BINARY: {
        int a = n->inputs[0], b = n->inputs[1];
        int64_t coord[FID__MAX_RANK];
        for (int64_t i = 0; i < total; i++) {
            unravel(i, yr, yd, coord);
            float va = B(a)[broadcast_index(coord, yr, D(a), R(a))];
            float vb = B(b)[broadcast_index(coord, yr, D(b), R(b))];
            out[i] = apply_post(g, n, fid__ref_binary(n->a.binary.alg, va, vb), i, coord[yr - 1], bufs);
        }
        return FID_OK;
    }
    case FID__OP_MATMUL: {
        const fid__node *w = &g->nodes[n->a.matmul.weights];
        const float *bias = n->a.matmul.bias >= 0 ? g->nodes[n->a.matmul.bias].data : NULL;
        int64_t M = yd[0], N = yd[1], K = w->dims[0];
        const float *x = B(in0);
        for (int64_t m = 0; m < M; m++)
            for (int64_t j = 0; j < N; j++) {
                double acc = bias ? bias[j] : 0;
                for (int64_t k = 0; k < K; k++)
                    acc += (double)x[m * K + k] * w->data[k * N + j];
                out[m * N + j] = apply_post(g, n, (float)acc, m * N + j, j, bufs);
            }
        return FID_OK;
    }
    case FID__OP_CONCAT: {
        int axis = n->a.concat.axis;
        int64_t outer = fid__numel(axis, yd), inner = fid__numel(yr - axis - 1, yd + axis + 1);
        int64_t offset = 0;
        for (int k = 0; k < n->n_inputs; k++) {
            int xi = n->inputs[k];
            int64_t len = D(xi)[axis] * inner;
            for (int64_t o = 0; o < outer; o++)
                memcpy(out + o * yd[axis] * inner + offset, B(xi) + o * len, (size_t)len * sizeof(float));
            offset += len;
        }
        return FID_OK;
    }
    case FID__OP_PAD: {
        const int64_t *xd = D(in0);
        int64_t coord[FID__MAX_RANK];
        for (int64_t i = 0; i < total; i++) {
            unravel(i, yr, yd, coord);
            int64_t src = 0;
            int inside = 1;
            for (int k = 0; k < yr; k++) {
                int64_t c = coord[k] - n->a.pad.before[k];
                if (c < 0 || c >= xd[k]) inside = 0;
                src = src * xd[k] + c;
            }
            out[i] = inside ? B(in0)[src] : n->a.pad.value;
        }
        return FID_OK;
    }
    case FID__OP_MEAN: {
        const int64_t *xd = D(in0);
        int xr = R(in0);
        int64_t xn = fid__numel(xr, xd), coord[FID__MAX_RANK];
        double *acc = calloc((size_t)(total ? total : 1), sizeof(double));
        if (!acc) return fid__fail(FID_ERR_NO_MEMORY, "reference mean");
        int64_t count = 1;
        for (int k = 0; k < xr; k++)
            if (n->a.mean.axes_mask & (1 << k)) count *= xd[k];
        for (int64_t i = 0; i < xn; i++) {
            unravel(i, xr, xd, coord);
            int64_t o = 0;
            for (int k = 0; k < xr; k++) {
                if (n->a.mean.axes_mask & (1 << k)) continue;
                o = o * xd[k] + coord[k];
            }
            acc[o] += B(in0)[i];
        }
        for (int64_t i = 0; i < total; i++)
            out[i] = (float)(acc[i] / (double)count);
        free(acc);
        return FID_OK;
    }
    case FID__OP_SOFTMAX: {
        int axis = n->a.softmax.axis;
        int64_t len = yd[axis], inner = fid__numel(yr - axis - 1, yd + axis + 1);
        int64_t outer = total / (len * inner);
        const float *x = B(in0);
        for (int64_t o = 0; o < outer; o++)
            for (int64_t in = 0; in < inner; in++) {
                const float *xp = x + o * len * inner + in;
                float *yp = out + o * len * inner + in;
                double mx = -INFINITY, sum = 0;
                for (int64_t k = 0; k < len; k++)
                    mx = xp[k * inner] > mx ? xp[k * inner] : mx;
                for (int64_t k = 0; k < len; k++)
                    sum += exp(xp[k * inner] - mx);
                for (int64_t k = 0; k < len; k++)
                    yp[k * inner] = (float)(exp(xp[k * inner] - mx) / sum);
            }
        return FID_OK;
    }
    }
#undef D
#undef R
#undef B
    return fid__fail(FID_ERR_UNSUPPORTED, "reference: node '%s' has unknown op %d", n->name, (int)n->op);
}

fid_status fid__ref_run(fid__graph *g, int batch, float *const *inputs, float **outputs) {
    int nn = g->n_nodes;
    int64_t(*dims)[FID__MAX_RANK] = calloc((size_t)nn, sizeof *dims);
    int *rank = calloc((size_t)nn, sizeof *rank);
    float **bufs = calloc((size_t)nn, sizeof *bufs);
    fid_status st = (dims && rank && bufs) ? FID_OK : fid__fail(FID_ERR_NO_MEMORY, "reference run");
    if (st == FID_OK) st = fid__graph_infer_shapes(g, batch, dims, rank);
    /* Evaluate in dependency order: repeat passes until every node has a value. */
    int remaining = nn, progress = 1;
    while (st == FID_OK && remaining > 0 && progress) {
        progress = 0;
        for (int i = 0; i < nn && st == FID_OK; i++) {
            if (bufs[i]) continue;
            const fid__node *n = &g->nodes[i];
            int ready = 1;
            for (int k = 0; k < n->n_inputs; k++)
                if (!bufs[n->inputs[k]]) ready = 0;
            if (!ready) continue;
            int64_t cnt = fid__numel(rank[i], dims[i]);
            bufs[i] = malloc((size_t)(cnt ? cnt : 1) * sizeof(float));
            if (!bufs[i]) {
                st = fid__fail(FID_ERR_NO_MEMORY, "reference run");
                break;
            }
            if (n->op == FID__OP_INPUT) {
                int which = -1;
                for (int k = 0; k < g->n_inputs; k++)
                    if (g->inputs[k] == i) which = k;
                memcpy(bufs[i], inputs[which], (size_t)cnt * sizeof(float));
            } else {
                st = fid__ref_node(g, i, dims, rank, bufs, bufs[i]);
            }
            remaining--;
            progress = 1;
        }
    }
    for (int k = 0; st == FID_OK && k < g->n_outputs; k++) {
        int o = g->outputs[k];
        int64_t cnt = fid__numel(rank[o], dims[o]);
        outputs[k] = malloc((size_t)(cnt ? cnt : 1) * sizeof(float));
        if (!outputs[k])
            st = fid__fail(FID_ERR_NO_MEMORY, "reference run");
        else
            memcpy(outputs[k], bufs[o], (size_t)cnt * sizeof(float));
    }
    if (bufs)
        for (int i = 0; i < nn; i++)
            free(bufs[i]);
    free(bufs);
    free(dims);
    free(rank);
    return st;
}
