/*
 * fid_runner: a graph compiled for one batch size and thread count, executed with oneDNN.
 * All activations live in one arena laid out at compile time (no allocation per run); weights
 * are reordered once into the layout each primitive prefers.
 */
#define _GNU_SOURCE /* qsort_r */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "nn/kernels.h"
#include "nn/net.h"
#include "nn/reference.h"
#include "util/error.h"

static size_t align64(size_t x);

typedef enum step_kind { STEP_DNNL, STEP_PAD, STEP_REFERENCE, STEP_AFFINE, STEP_POOL } step_kind;

#define MAX_ARGS (8 + FID__MAX_POST_OPS)

typedef struct step {
    int node;
    step_kind kind;
    dnnl_primitive_t prim;
    int n_args;
    dnnl_exec_arg_t args[MAX_ARGS];
    int n_mems;
    dnnl_memory_t mems[MAX_ARGS];
    /* Weights waiting for their reorder into the runner's weight block (see pack_weights). */
    int has_pending;
    dnnl_memory_desc_t pending_user, pending_want;
    const float *pending_data;
    int pending_arg;
    void *packed;           /* where pack_weights put them */
    int copy_residual_from; /* SUM post-op whose operand is not already in the output buffer */
    dnnl_memory_desc_t scratch_md;
    /* STEP_AFFINE: y = x * scale[c] + shift[c] over the last axis of `channels` */
    float *scale, *shift;
    int64_t channels;
    int affine_src;
} step;

/* The steps compiled for one thread count. oneDNN fixes a primitive's thread count when it is
 * created (a 2-thread primitive used 2 cores even under omp_set_num_threads(1)), so the
 * adaptive runner keeps a 1-thread plan beside the full one; both share arena and weights. */
typedef struct plan {
    step *steps;
    int n_steps;
    int threads;
    void *weights; /* reordered weights of this plan's steps, one block (NULL if all shared) */
} plan;

struct fid_runner {
    const fid_net *net;
    const fid__graph *g;
    int batch, threads;
    /* Adaptive thread count (threads > 1): the latency of each mode is tracked and the faster
     * one used; the other is probed now and then, less often each time it loses. A busy
     * neighbour on one of our cores makes a 2-thread run wait for its descheduled half. */
    int adaptive, use_all, runs_to_probe, probe_interval;
    double ms_all, ms_one;
    int64_t (*dims)[FID__MAX_RANK];
    int *rank;
    float **buf;
    void *arena;
    size_t arena_bytes;
    void *scratch; /* one scratchpad shared by all steps (they run one after another) */
    size_t scratch_bytes;
    dnnl_primitive_attr_t plain_attr; /* user-managed scratchpad, no post-ops */
    plan plans[2];                    /* [0]: all threads; [1]: one thread, when adaptive */
    int n_plans;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    double flops;
};

fid_runner_params fid_runner_default_params(void) {
    fid_runner_params p = {.batch = 1, .threads = 1, .adaptive_threads = 1};
    return p;
}

#define DNNL_TRY(call, what)                                                                                           \
    do {                                                                                                               \
        dnnl_status_t s_ = (call);                                                                                     \
        if (s_ != dnnl_success) {                                                                                      \
            st = fid__fail(FID_ERR_BACKEND, "oneDNN refused %s for node '%s' (status %d)", what, n->name, (int)s_);    \
            goto fail;                                                                                                 \
        }                                                                                                              \
    } while (0)

static dnnl_format_tag_t plain_tag(int rank) {
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd};
    return tags[rank];
}

/* Plain row-major descriptor; rank-0 tensors become [1]. Shorter shapes are right-aligned into
 * `as_rank` dims with leading 1s (numpy broadcasting). */
static void plain_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, int as_rank) {
    dnnl_dims_t d;
    if (as_rank < rank) as_rank = rank;
    if (as_rank == 0) {
        d[0] = 1;
        dnnl_memory_desc_init_by_tag(md, 1, d, dnnl_f32, dnnl_a);
        return;
    }
    for (int i = 0; i < as_rank; i++)
        d[i] = i < as_rank - rank ? 1 : dims[i - (as_rank - rank)];
    dnnl_memory_desc_init_by_tag(md, as_rank, d, dnnl_f32, plain_tag(as_rank));
}

/* Like plain_md, but 4-D tensors are described as logical NCHW in nhwc layout, the form in
 * which oneDNN's binary kernels handle per-channel broadcasting fast (plain abcd with a
 * broadcast innermost dim of 3 ran 20x slower). */
static void activation_md(dnnl_memory_desc_t *md, int rank, const int64_t *dims, int as_rank) {
    if (as_rank != 4) {
        plain_md(md, rank, dims, as_rank);
        return;
    }
    int64_t d[4];
    for (int i = 0; i < 4; i++)
        d[i] = i < 4 - rank ? 1 : dims[i - (4 - rank)];
    dnnl_dims_t logical = {d[0], d[3], d[1], d[2]};
    dnnl_memory_desc_init_by_tag(md, 4, logical, dnnl_f32, dnnl_nhwc);
}

static void nhwc_md(dnnl_memory_desc_t *md, const int64_t *nhwc) {
    dnnl_dims_t d = {nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
    dnnl_memory_desc_init_by_tag(md, 4, d, dnnl_f32, dnnl_nhwc);
}

static fid_status add_mem(step *s, const dnnl_memory_desc_t *md, dnnl_engine_t eng, void *ptr, int arg,
                          const char *name) {
    dnnl_memory_t m;
    if (dnnl_memory_create(&m, md, eng, ptr) != dnnl_success)
        return fid__fail(FID_ERR_BACKEND, "oneDNN cannot create memory for node '%s'", name);
    s->mems[s->n_mems++] = m;
    s->args[s->n_args].arg = arg;
    s->args[s->n_args].memory = m;
    s->n_args++;
    return FID_OK;
}

static dnnl_alg_kind_t eltwise_alg(int alg) {
    switch (alg) {
    case FID__UN_RELU: return dnnl_eltwise_relu;
    case FID__UN_CLIP: return dnnl_eltwise_clip;
    case FID__UN_SIGMOID: return dnnl_eltwise_logistic;
    case FID__UN_TANH: return dnnl_eltwise_tanh;
    case FID__UN_EXP: return dnnl_eltwise_exp;
    case FID__UN_LINEAR: return dnnl_eltwise_linear;
    }
    return dnnl_eltwise_relu;
}

static dnnl_alg_kind_t binary_alg(int alg) {
    switch (alg) {
    case FID__BIN_ADD: return dnnl_binary_add;
    case FID__BIN_SUB: return dnnl_binary_sub;
    case FID__BIN_MUL: return dnnl_binary_mul;
    case FID__BIN_DIV: return dnnl_binary_div;
    case FID__BIN_MIN: return dnnl_binary_min;
    case FID__BIN_MAX: return dnnl_binary_max;
    }
    return dnnl_binary_add;
}

/* Post-ops of conv/matmul/binary; binary operands (scalar or per-channel constants) are
 * appended to s's args, shaped like dst: {1,C,1,1} for 4-D activations (logical NCHW), else
 * 1s with C last. */
static fid_status build_post_ops(fid_runner *r, const fid__node *n, step *s, int out_rank, dnnl_primitive_attr_t attr) {
    fid_status st = FID_OK;
    dnnl_post_ops_t po = NULL;
    DNNL_TRY(dnnl_post_ops_create(&po), "post-ops");
    for (int k = 0; k < n->n_post; k++) {
        const fid__post_op *p = &n->post[k];
        if (p->kind == FID__POST_UNARY) {
            DNNL_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, eltwise_alg(p->alg), p->alpha, p->beta), "eltwise post-op");
        } else if (p->kind == FID__POST_SUM) {
            DNNL_TRY(dnnl_post_ops_append_sum(po, 1.0f), "sum post-op");
        } else {
            const fid__node *o = &r->g->nodes[p->operand];
            int64_t c = fid__node_numel(o);
            dnnl_memory_desc_t md;
            dnnl_dims_t d = {1, 1, 1, 1};
            int rank = out_rank < 1 ? 1 : out_rank;
            d[rank == 4 ? 1 : rank - 1] = c;
            dnnl_memory_desc_init_by_tag(&md, rank, d, dnnl_f32, plain_tag(rank));
            DNNL_TRY(dnnl_post_ops_append_binary(po, binary_alg(p->alg), &md), "binary post-op");
            st = add_mem(s, &md, r->engine, o->data, DNNL_ARG_ATTR_MULTIPLE_POST_OP(k) | DNNL_ARG_SRC_1, n->name);
            if (st != FID_OK) goto fail;
        }
    }
    DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, po), "post-ops");
fail:
    if (po) dnnl_post_ops_destroy(po);
    return st;
}

/* Weights already in the layout the primitive wants are used in place; the others are
 * reordered later, all into one block (pack_weights). */
static fid_status add_weights(fid_runner *r, step *s, const fid__node *n, const dnnl_memory_desc_t *user_md,
                              const float *data, const dnnl_memory_desc_t *want_md, int arg) {
    if (dnnl_memory_desc_equal(user_md, want_md)) return add_mem(s, user_md, r->engine, (void *)data, arg, n->name);
    s->has_pending = 1;
    s->pending_user = *user_md;
    s->pending_want = *want_md;
    s->pending_data = data;
    s->pending_arg = arg;
    return FID_OK;
}

/* Large blocks on transparent huge pages: inference streams through megabytes of weights, and
 * with 4 KiB pages the TLB misses made latency vary by 40% from one process to the next. */
static void *alloc_big(size_t bytes) {
    const size_t huge = 2u << 20;
    void *p = NULL;
    size_t rounded = bytes >= huge ? (bytes + huge - 1) / huge * huge : (bytes ? bytes : 64);
    if (posix_memalign(&p, bytes >= huge ? huge : 64, rounded)) return NULL;
    if (bytes >= huge) madvise(p, rounded, MADV_HUGEPAGE);
    return p;
}

/* Copies constant data from the user layout into `dst` in the layout a primitive wants. */
static fid_status reorder_weights(fid_runner *r, const fid__node *n, const dnnl_memory_desc_t *user_md,
                                  const float *data, const dnnl_memory_desc_t *want_md, void *dst) {
    fid_status st = FID_OK;
    dnnl_memory_t src_m = NULL, dst_m = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    DNNL_TRY(dnnl_memory_create(&dst_m, want_md, r->engine, dst), "weights memory");
    DNNL_TRY(dnnl_memory_create(&src_m, user_md, r->engine, (void *)data), "weights memory");
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, user_md, r->engine, want_md, r->engine, NULL), "weights reorder");
    DNNL_TRY(dnnl_primitive_create(&reorder, pd), "weights reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src_m}, {DNNL_ARG_TO, dst_m}};
    DNNL_TRY(dnnl_primitive_execute(reorder, r->stream, 2, args), "weights reorder");
    dnnl_stream_wait(r->stream);
fail:
    if (reorder) dnnl_primitive_destroy(reorder);
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (src_m) dnnl_memory_destroy(src_m);
    if (dst_m) dnnl_memory_destroy(dst_m);
    return st;
}

/* Reorders pending weights into one block per plan; weights another plan already holds in the
 * same layout are shared instead of copied. */
static fid_status pack_weights(fid_runner *r, plan *p, const plan *share) {
    fid_status st = FID_OK;
    size_t total = 0;
    for (int k = 0; k < p->n_steps; k++) {
        step *s = &p->steps[k];
        if (!s->has_pending) continue;
        for (int j = 0; share && j < share->n_steps; j++) {
            const step *o = &share->steps[j];
            if (o->node == s->node && o->has_pending && dnnl_memory_desc_equal(&o->pending_want, &s->pending_want))
                s->packed = o->packed;
        }
        if (!s->packed) total += align64(dnnl_memory_desc_get_size(&s->pending_want));
    }
    if (total) {
        p->weights = alloc_big(total);
        if (!p->weights) return fid__fail(FID_ERR_NO_MEMORY, "cannot allocate %zu bytes of weights", total);
    }
    size_t offset = 0;
    for (int k = 0; k < p->n_steps && st == FID_OK; k++) {
        step *s = &p->steps[k];
        const fid__node *n = &r->g->nodes[s->node];
        if (!s->has_pending) continue;
        int shared = s->packed != NULL;
        if (!shared) {
            s->packed = (char *)p->weights + offset;
            offset += align64(dnnl_memory_desc_get_size(&s->pending_want));
        }
        if (!shared &&
            (st = reorder_weights(r, n, &s->pending_user, s->pending_data, &s->pending_want, s->packed)) != FID_OK)
            break;
        st = add_mem(s, &s->pending_want, r->engine, s->packed, s->pending_arg, n->name);
    }
    return st;
}

static fid_status build_step(fid_runner *r, step *s, int id);

static fid_status build_plan(fid_runner *r, plan *p, int threads, const int *order, int n_order) {
    p->threads = threads;
    p->steps = calloc((size_t)(n_order ? n_order : 1), sizeof *p->steps);
    if (!p->steps) return fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a runner");
    /* oneDNN sizes (and fixes) its kernels' threading by the count in force at creation. */
    omp_set_num_threads(threads);
    int first = p == &r->plans[0];
    for (int k = 0; k < n_order; k++) {
        int id = order[k];
        fid__op op = r->g->nodes[id].op;
        if (op == FID__OP_INPUT || op == FID__OP_CONST || op == FID__OP_IDENTITY) continue;
        step *s = &p->steps[p->n_steps++];
        fid_status st = build_step(r, s, id);
        if (st != FID_OK) return st;
        if (first) r->flops += fid__node_flops(r->g, id, r->dims);
    }
    return pack_weights(r, p, first ? NULL : &r->plans[0]);
}

static fid_status finish_primitive(fid_runner *r, step *s, const fid__node *n, dnnl_primitive_desc_t pd) {
    fid_status st = FID_OK;
    const dnnl_memory_desc_t *scratch = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (scratch) {
        s->scratch_md = *scratch;
        size_t bytes = dnnl_memory_desc_get_size(scratch);
        if (bytes > r->scratch_bytes) r->scratch_bytes = bytes;
    }
    DNNL_TRY(dnnl_primitive_create(&s->prim, pd), "the primitive");
fail:
    dnnl_primitive_desc_destroy(pd);
    (void)r;
    return st;
}

static fid_status build_conv(fid_runner *r, step *s, const fid__node *n, int id) {
    fid_status st = FID_OK;
    const fid__graph *g = r->g;
    const fid__conv_attr *c = &n->a.conv;
    int x = n->inputs[0];
    const fid__node *w = &g->nodes[c->weights];
    int64_t O = c->out_channels, G = c->groups, ipg = w->dims[2], opg = O / G;
    dnnl_memory_desc_t src_md, dst_md, w_user, w_any, b_md;
    nhwc_md(&src_md, r->dims[x]);
    nhwc_md(&dst_md, r->dims[id]);
    if (G == 1) {
        dnnl_dims_t wd = {O, ipg, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_hwio);
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, dnnl_f32, dnnl_format_tag_any);
    } else {
        /* HWIO with O = g*opg + o: strides of the logical (g, o, i, h, w) dims. */
        dnnl_dims_t wd = {G, opg, ipg, c->kh, c->kw};
        dnnl_dims_t ws = {opg, 1, O, c->kw * ipg * O, ipg * O};
        dnnl_memory_desc_init_by_strides(&w_user, 5, wd, dnnl_f32, ws);
        dnnl_memory_desc_init_by_tag(&w_any, 5, wd, dnnl_f32, dnnl_format_tag_any);
    }
    dnnl_dims_t bd = {O};
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    dnnl_dims_t strides = {c->stride_h, c->stride_w}, dil = {c->dilation_h - 1, c->dilation_w - 1};
    dnnl_dims_t pl = {c->pad_top, c->pad_left}, pr = {c->pad_bottom, c->pad_right};
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                        &w_any, c->bias >= 0 ? &b_md : NULL, &dst_md, strides, dil, pl,
                                                        pr),
             "the convolution");
    DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attributes");
    if ((st = build_post_ops(r, n, s, 4, attr)) != FID_OK) goto fail;
    if ((st = add_mem(s, &src_md, r->engine, r->buf[x], DNNL_ARG_SRC, n->name)) != FID_OK) goto fail;
    if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
    if (c->bias >= 0 && (st = add_mem(s, &b_md, r->engine, g->nodes[c->bias].data, DNNL_ARG_BIAS, n->name)) != FID_OK)
        goto fail;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &cd, attr, r->engine, NULL), "the convolution");
    if ((st = add_weights(r, s, n, &w_user, w->data, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                          DNNL_ARG_WEIGHTS)) != FID_OK)
        goto fail;
    st = finish_primitive(r, s, n, pd);
    pd = NULL;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

static fid_status build_matmul(fid_runner *r, step *s, const fid__node *n, int id) {
    fid_status st = FID_OK;
    const fid__node *w = &r->g->nodes[n->a.matmul.weights];
    int x = n->inputs[0];
    dnnl_memory_desc_t src_md, dst_md, w_user, w_any, b_md;
    plain_md(&src_md, 2, r->dims[x], 2);
    plain_md(&dst_md, 2, r->dims[id], 2);
    plain_md(&w_user, 2, w->dims, 2);
    dnnl_dims_t wd = {w->dims[0], w->dims[1]};
    dnnl_memory_desc_init_by_tag(&w_any, 2, wd, dnnl_f32, dnnl_format_tag_any);
    dnnl_dims_t bd = {1, w->dims[1]};
    dnnl_memory_desc_init_by_tag(&b_md, 2, bd, dnnl_f32, dnnl_ab);
    int has_bias = n->a.matmul.bias >= 0;
    dnnl_matmul_desc_t md;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_primitive_desc_t pd = NULL;
    DNNL_TRY(dnnl_matmul_desc_init(&md, &src_md, &w_any, has_bias ? &b_md : NULL, &dst_md), "the matmul");
    DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attributes");
    if ((st = build_post_ops(r, n, s, 2, attr)) != FID_OK) goto fail;
    DNNL_TRY(dnnl_primitive_desc_create(&pd, &md, attr, r->engine, NULL), "the matmul");
    if ((st = add_mem(s, &src_md, r->engine, r->buf[x], DNNL_ARG_SRC, n->name)) != FID_OK) goto fail;
    if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
    if ((st = add_weights(r, s, n, &w_user, w->data, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                          DNNL_ARG_WEIGHTS)) != FID_OK)
        goto fail;
    if (has_bias &&
        (st = add_mem(s, &b_md, r->engine, r->g->nodes[n->a.matmul.bias].data, DNNL_ARG_BIAS, n->name)) != FID_OK)
        goto fail;
    st = finish_primitive(r, s, n, pd);
    pd = NULL;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

static int build_affine(fid_runner *r, step *s, const fid__node *n, int id);

static fid_status build_step(fid_runner *r, step *s, int id) {
    fid_status st = FID_OK;
    const fid__graph *g = r->g;
    const fid__node *n = &g->nodes[id];
    s->node = id;
    s->kind = STEP_DNNL;
    s->copy_residual_from = -1;
    dnnl_primitive_desc_t pd = NULL;
    int x = n->n_inputs ? n->inputs[0] : -1;
    int yr = r->rank[id];
    dnnl_memory_desc_t src_md, dst_md;
    switch (n->op) {
    case FID__OP_CONV:
        st = build_conv(r, s, n, id);
        for (int k = 0; k < n->n_post; k++)
            if (n->post[k].kind == FID__POST_SUM && r->buf[n->post[k].operand] != r->buf[id])
                s->copy_residual_from = n->post[k].operand;
        return st;
    case FID__OP_MATMUL: return build_matmul(r, s, n, id);
    case FID__OP_POOL: s->kind = STEP_POOL; return FID_OK;
    case FID__OP_UNARY: {
        plain_md(&src_md, yr, r->dims[x], yr);
        dst_md = src_md;
        dnnl_eltwise_desc_t ed;
        DNNL_TRY(dnnl_eltwise_forward_desc_init(&ed, dnnl_forward_inference, eltwise_alg(n->a.unary.alg), &src_md,
                                                n->a.unary.alpha, n->a.unary.beta),
                 "the eltwise op");
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &ed, r->plain_attr, r->engine, NULL), "the eltwise op");
        break;
    }
    case FID__OP_BINARY: {
        if (build_affine(r, s, n, id)) return s->scale ? FID_OK : fid__fail(FID_ERR_NO_MEMORY, "node '%s'", n->name);
        int a = n->inputs[0], b = n->inputs[1];
        int alg = n->a.binary.alg;
        int64_t na = fid__numel(r->rank[a], r->dims[a]), total = fid__numel(yr, r->dims[id]);
        if (na != total) {
            int commutes = alg == FID__BIN_ADD || alg == FID__BIN_MUL || alg == FID__BIN_MIN || alg == FID__BIN_MAX;
            if (!commutes || fid__numel(r->rank[b], r->dims[b]) != total) {
                s->kind = STEP_REFERENCE; /* src0 broadcasting: rare, left to the naive kernel */
                return FID_OK;
            }
            int t = a;
            a = b;
            b = t;
        }
        dnnl_memory_desc_t src1_md;
        activation_md(&src_md, r->rank[a], r->dims[a], yr);
        activation_md(&src1_md, r->rank[b], r->dims[b], yr);
        activation_md(&dst_md, yr, r->dims[id], yr);
        dnnl_binary_desc_t bd;
        dnnl_primitive_attr_t attr = NULL;
        DNNL_TRY(dnnl_binary_desc_init(&bd, binary_alg(alg), &src_md, &src1_md, &dst_md), "the binary op");
        DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
        if (dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user) != dnnl_success ||
            (st = build_post_ops(r, n, s, yr, attr)) != FID_OK ||
            dnnl_primitive_desc_create(&pd, &bd, attr, r->engine, NULL) != dnnl_success) {
            dnnl_primitive_attr_destroy(attr);
            if (st == FID_OK) st = fid__fail(FID_ERR_BACKEND, "oneDNN refused the binary op for node '%s'", n->name);
            goto fail;
        }
        dnnl_primitive_attr_destroy(attr);
        if ((st = add_mem(s, &src_md, r->engine, r->buf[a], DNNL_ARG_SRC_0, n->name)) != FID_OK) goto fail;
        if ((st = add_mem(s, &src1_md, r->engine, r->buf[b], DNNL_ARG_SRC_1, n->name)) != FID_OK) goto fail;
        if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
        return finish_primitive(r, s, n, pd);
    }
    case FID__OP_SOFTMAX: {
        plain_md(&src_md, yr, r->dims[x], yr);
        dst_md = src_md;
        dnnl_softmax_desc_t sd;
        DNNL_TRY(dnnl_softmax_forward_desc_init(&sd, dnnl_forward_inference, &src_md, n->a.softmax.axis),
                 "the softmax");
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &sd, r->plain_attr, r->engine, NULL), "the softmax");
        break;
    }
    case FID__OP_MEAN: {
        int xr = r->rank[x];
        int64_t kd[FID__MAX_RANK];
        for (int i = 0; i < xr; i++)
            kd[i] = (n->a.mean.axes_mask & (1 << i)) ? 1 : r->dims[x][i];
        plain_md(&src_md, xr, r->dims[x], xr);
        plain_md(&dst_md, xr, kd, xr);
        dnnl_reduction_desc_t rd;
        DNNL_TRY(dnnl_reduction_desc_init(&rd, dnnl_reduction_mean, &src_md, &dst_md, 0.f, 0.f), "the mean");
        DNNL_TRY(dnnl_primitive_desc_create(&pd, &rd, r->plain_attr, r->engine, NULL), "the mean");
        break;
    }
    case FID__OP_CONCAT: {
        dnnl_memory_desc_t srcs[16];
        if (n->n_inputs > 16) {
            s->kind = STEP_REFERENCE;
            return FID_OK;
        }
        for (int k = 0; k < n->n_inputs; k++)
            plain_md(&srcs[k], yr, r->dims[n->inputs[k]], yr);
        plain_md(&dst_md, yr, r->dims[id], yr);
        DNNL_TRY(dnnl_concat_primitive_desc_create(&pd, &dst_md, n->n_inputs, n->a.concat.axis, srcs, r->plain_attr,
                                                   r->engine),
                 "the concat");
        for (int k = 0; k < n->n_inputs; k++)
            if ((st = add_mem(s, &srcs[k], r->engine, r->buf[n->inputs[k]], DNNL_ARG_MULTIPLE_SRC + k, n->name)) !=
                FID_OK)
                goto fail;
        if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
        return finish_primitive(r, s, n, pd);
    }
    case FID__OP_PAD: s->kind = STEP_PAD; return FID_OK;
    case FID__OP_RESIZE: s->kind = STEP_REFERENCE; return FID_OK;
    default: return fid__fail(FID_ERR_UNSUPPORTED, "node '%s': op %d has no kernel", n->name, (int)n->op);
    }
    /* Single-source ops: src -> dst. */
    if ((st = add_mem(s, &src_md, r->engine, r->buf[x], DNNL_ARG_SRC, n->name)) != FID_OK) goto fail;
    if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
    return finish_primitive(r, s, n, pd);
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* Per-channel constant of node `id` for channel c (scalar or [.., C]), or NAN if not one. */
static float channel_value(const fid__graph *g, int id, int64_t channels, int64_t c) {
    const fid__node *k = &g->nodes[id];
    int64_t n = fid__node_numel(k);
    if (k->op != FID__OP_CONST || !k->data || (n != 1 && (n != channels || k->dims[k->rank - 1] != channels)))
        return NAN;
    return k->data[n == 1 ? 0 : c];
}

/* A binary op with a per-channel constant, followed only by +-*÷ per-channel constants, is one
 * affine map per channel: run it as such. oneDNN's binary kernel was 20x slower on the 3-channel
 * input normalisation that every face-api model starts with. */
static int build_affine(fid_runner *r, step *s, const fid__node *n, int id) {
    const fid__graph *g = r->g;
    int yr = r->rank[id];
    int64_t C = yr ? r->dims[id][yr - 1] : 1;
    int x = -1, k = -1;
    for (int i = 0; i < 2; i++) {
        int in = n->inputs[i];
        if (g->nodes[in].op == FID__OP_CONST && !isnan(channel_value(g, in, C, 0)))
            k = in;
        else if (fid__numel(r->rank[in], r->dims[in]) == fid__numel(yr, r->dims[id]))
            x = in;
    }
    if (x < 0 || k < 0) return 0;
    int alg = n->a.binary.alg, const_first = n->inputs[0] == k;
    if (alg == FID__BIN_MIN || alg == FID__BIN_MAX || (alg == FID__BIN_DIV && const_first)) return 0;
    for (int p = 0; p < n->n_post; p++) {
        const fid__post_op *po = &n->post[p];
        if (po->kind != FID__POST_BINARY || po->alg == FID__BIN_MIN || po->alg == FID__BIN_MAX) return 0;
    }
    s->kind = STEP_AFFINE;
    s->channels = C;
    s->affine_src = x;
    s->scale = malloc((size_t)C * sizeof(float));
    s->shift = malloc((size_t)C * sizeof(float));
    if (!s->scale || !s->shift) {
        free(s->scale);
        free(s->shift);
        s->scale = NULL;
        return 1;
    }
    for (int64_t c = 0; c < C; c++) {
        double a = 1, b = 0, v = channel_value(g, k, C, c);
        switch (alg) {
        case FID__BIN_ADD: b = v; break;
        case FID__BIN_SUB: a = const_first ? -1 : 1, b = const_first ? v : -v; break;
        case FID__BIN_MUL: a = v; break;
        case FID__BIN_DIV: a = 1 / v; break;
        }
        for (int p = 0; p < n->n_post; p++) {
            double w = channel_value(g, n->post[p].operand, C, c);
            switch (n->post[p].alg) {
            case FID__BIN_ADD: b += w; break;
            case FID__BIN_SUB: b -= w; break;
            case FID__BIN_MUL: a *= w, b *= w; break;
            case FID__BIN_DIV: a /= w, b /= w; break;
            }
        }
        s->scale[c] = (float)a;
        s->shift[c] = (float)b;
    }
    return 1;
}

static void run_affine(const fid_runner *r, const step *s) {
    const float *x = r->buf[s->affine_src];
    float *y = r->buf[s->node];
    int64_t C = s->channels, rows = fid__numel(r->rank[s->node], r->dims[s->node]) / C;
    for (int64_t i = 0; i < rows; i++, x += C, y += C)
        for (int64_t c = 0; c < C; c++)
            y[c] = x[c] * s->scale[c] + s->shift[c];
}

/* Constant-value padding, copying whole innermost rows. */
static void run_pad(const fid_runner *r, const fid__node *n, int id) {
    int x = n->inputs[0], rank = r->rank[id];
    const int64_t *xd = r->dims[x], *yd = r->dims[id];
    const float *src = r->buf[x];
    float *dst = r->buf[id];
    int64_t total = fid__numel(rank, yd);
    for (int64_t i = 0; i < total; i++)
        dst[i] = n->a.pad.value;
    if (rank == 0) return;
    int64_t rows = fid__numel(rank - 1, xd), row_len = xd[rank - 1];
    int64_t coord[FID__MAX_RANK] = {0};
    for (int64_t row = 0; row < rows; row++) {
        int64_t rem = row;
        for (int k = rank - 2; k >= 0; k--) {
            coord[k] = rem % xd[k];
            rem /= xd[k];
        }
        int64_t off = 0;
        for (int k = 0; k < rank - 1; k++)
            off = off * yd[k] + coord[k] + n->a.pad.before[k];
        off = off * yd[rank - 1] + n->a.pad.before[rank - 1];
        memcpy(dst + off, src + row * row_len, (size_t)row_len * sizeof(float));
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Scheduling and memory plan                                                               */
/* ---------------------------------------------------------------------------------------- */

static int topo_order(const fid__graph *g, int *order) {
    char *state = calloc((size_t)g->n_nodes, 1);
    int *stack = malloc((size_t)g->n_nodes * sizeof *stack);
    int *next_in = calloc((size_t)g->n_nodes, sizeof *next_in);
    int count = 0;
    if (!state || !stack || !next_in) count = -1;
    for (int k = 0; count >= 0 && k < g->n_outputs; k++) {
        int sp = 0;
        if (state[g->outputs[k]]) continue;
        stack[sp++] = g->outputs[k];
        state[g->outputs[k]] = 1;
        while (sp > 0) {
            int id = stack[sp - 1];
            const fid__node *n = &g->nodes[id];
            if (next_in[id] < n->n_inputs) {
                int in = n->inputs[next_in[id]++];
                if (!state[in]) {
                    state[in] = 1;
                    stack[sp++] = in;
                }
                continue;
            }
            sp--;
            state[id] = 2;
            order[count++] = id;
        }
    }
    free(state);
    free(stack);
    free(next_in);
    return count;
}

typedef struct storage {
    size_t bytes;
    int first, last;
    size_t offset;
    int placed;
} storage;

static int cmp_size_desc(const void *a, const void *b, void *ctx) {
    const storage *s = ctx;
    int ia = *(const int *)a, ib = *(const int *)b;
    return s[ia].bytes < s[ib].bytes ? 1 : (s[ia].bytes > s[ib].bytes ? -1 : ia - ib);
}

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Greedy first-fit by decreasing size among storages whose lifetimes overlap. */
static size_t place_storages(storage *st, int n) {
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) return (size_t)-1;
    for (int i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)n, sizeof *idx, cmp_size_desc, st);
    size_t total = 0;
    for (int a = 0; a < n; a++) {
        storage *s = &st[idx[a]];
        size_t off = 0;
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int b = 0; b < a; b++) {
                storage *o = &st[idx[b]];
                if (o->last < s->first || s->last < o->first) continue;
                if (off < o->offset + o->bytes && o->offset < off + s->bytes) {
                    off = align64(o->offset + o->bytes);
                    moved = 1;
                }
            }
        }
        s->offset = off;
        if (off + s->bytes > total) total = off + s->bytes;
    }
    free(idx);
    return total;
}

static fid_status plan_memory(fid_runner *r, const int *order, int n_order) {
    const fid__graph *g = r->g;
    int nn = g->n_nodes;
    int *stor = malloc((size_t)nn * sizeof *stor), *pos = malloc((size_t)nn * sizeof *pos);
    int *last_use = malloc((size_t)nn * sizeof *last_use);
    storage *st = calloc((size_t)(nn ? nn : 1), sizeof *st);
    fid_status status = FID_OK;
    if (!stor || !pos || !last_use || !st) {
        status = fid__fail(FID_ERR_NO_MEMORY, "cannot plan memory");
        goto done;
    }
    for (int i = 0; i < nn; i++)
        stor[i] = -1, pos[i] = -1, last_use[i] = -1;
    for (int k = 0; k < n_order; k++)
        pos[order[k]] = k;
    /* Last read of each root (reads through identities count for the root). */
    for (int k = 0; k < n_order; k++) {
        const fid__node *n = &g->nodes[order[k]];
        if (n->op == FID__OP_IDENTITY) continue;
        for (int j = 0; j < n->n_inputs; j++) {
            int root = fid__graph_root(g, n->inputs[j]);
            if (last_use[root] < k) last_use[root] = k;
        }
    }
    for (int k = 0; k < g->n_outputs; k++)
        last_use[fid__graph_root(g, g->outputs[k])] = n_order;
    for (int k = 0; k < g->n_inputs; k++)
        last_use[g->inputs[k]] = n_order; /* callers fill inputs once */
    int n_st = 0;
    for (int k = 0; k < n_order; k++) {
        int id = order[k];
        const fid__node *n = &g->nodes[id];
        if (n->op == FID__OP_CONST) continue;
        if (n->op == FID__OP_IDENTITY) {
            stor[id] = stor[n->inputs[0]];
            continue;
        }
        int reuse = -1;
        for (int p = 0; p < n->n_post; p++) {
            if (n->post[p].kind != FID__POST_SUM) continue;
            int res = fid__graph_root(g, n->post[p].operand);
            /* In place only when nothing reads the residual later and the conv does not read it. */
            if (g->nodes[res].op != FID__OP_CONST && last_use[res] == k && stor[res] >= 0 &&
                fid__graph_root(g, n->inputs[0]) != res)
                reuse = stor[res];
        }
        if (reuse >= 0) {
            stor[id] = reuse;
        } else {
            stor[id] = n_st;
            st[n_st].bytes = align64((size_t)fid__numel(r->rank[id], r->dims[id]) * sizeof(float));
            st[n_st].first = n->op == FID__OP_INPUT ? -1 : k;
            st[n_st].last = k;
            n_st++;
        }
        int root_last = last_use[id] > k ? last_use[id] : k;
        if (st[stor[id]].last < root_last) st[stor[id]].last = root_last;
    }
    size_t total = place_storages(st, n_st);
    if (total == (size_t)-1 || !(r->arena = alloc_big(total))) {
        status = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate %zu bytes of activations", total);
        goto done;
    }
    memset(r->arena, 0, total ? total : 64);
    r->arena_bytes = total;
    for (int k = 0; k < n_order; k++) {
        int id = order[k];
        const fid__node *n = &g->nodes[id];
        if (n->op == FID__OP_CONST)
            r->buf[id] = n->data;
        else if (n->op == FID__OP_IDENTITY)
            r->buf[id] = r->buf[n->inputs[0]];
        else
            r->buf[id] = (float *)((char *)r->arena + st[stor[id]].offset);
    }
    for (int i = 0; i < nn; i++)
        if (g->nodes[i].op == FID__OP_CONST) r->buf[i] = g->nodes[i].data;
done:
    free(stor);
    free(pos);
    free(last_use);
    free(st);
    return status;
}

/* oneDNN 2.6 does not survive running out of address space while it generates its JIT kernels
 * (under ulimit -v it dereferences the failed mapping: a segfault inside dnnl_primitive_create).
 * So before any primitive is made, the room it will need is claimed once and given back: the
 * packed weights, the arena, and 48 MB for kernels, scratch and
 * the OpenMP threads' stacks. Without a limit there is nothing to check. */
static fid_status address_space_headroom(const fid_runner *r) {
    struct rlimit lim;
    if (getrlimit(RLIMIT_AS, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return FID_OK;
    size_t weights = 0;
    for (int i = 0; i < r->g->n_nodes; i++)
        if (r->g->nodes[i].op == FID__OP_CONST) weights += (size_t)fid__node_numel(&r->g->nodes[i]) * sizeof(float);
    size_t need = weights + r->arena_bytes + ((size_t)48 << 20);
    void *probe = mmap(NULL, need, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe == MAP_FAILED)
        return fid__fail(FID_ERR_NO_MEMORY, "the address-space limit (ulimit -v %llu kB) leaves less than the %zu MB a "
                                            "network needs",
                         (unsigned long long)(lim.rlim_cur >> 10), need >> 20);
    munmap(probe, need);
    return FID_OK;
}

fid_runner *fid_runner_create(const fid_net *net, const fid_runner_params *params, fid_status *status) {
    fid_runner_params p = params ? *params : fid_runner_default_params();
    fid_status st = FID_OK;
    fid_runner *r = NULL;
    int *order = NULL;
    if (!net || p.batch < 1 || p.batch > 4096 || p.threads < 1 || p.threads > 256) {
        st = fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_runner_create: need a net, batch 1..4096 and threads 1..256");
        goto fail;
    }
    r = calloc(1, sizeof *r);
    if (!r) {
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a runner");
        goto fail;
    }
    if (net->weights_released) {
        st = fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_runner_create: this net's weights were released");
        goto fail;
    }
    r->net = net;
    r->g = fid__net_graph(net);
    r->batch = p.batch;
    r->threads = p.threads;
    r->adaptive = p.threads > 1 && p.adaptive_threads;
    r->use_all = 1;
    r->probe_interval = 8;
    int nn = r->g->n_nodes;
    r->dims = calloc((size_t)nn, sizeof *r->dims);
    r->rank = calloc((size_t)nn, sizeof *r->rank);
    r->buf = calloc((size_t)nn, sizeof *r->buf);
    order = malloc((size_t)nn * sizeof *order);
    if (!r->dims || !r->rank || !r->buf || !order) {
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a runner");
        goto fail;
    }
    st = fid__graph_infer_shapes(r->g, p.batch, r->dims, r->rank);
    if (st != FID_OK) goto fail;
    int n_order = topo_order(r->g, order);
    if (n_order < 0) {
        st = fid__fail(FID_ERR_NO_MEMORY, "cannot order graph");
        goto fail;
    }
    if ((st = plan_memory(r, order, n_order)) != FID_OK) goto fail;
    if ((st = address_space_headroom(r)) != FID_OK) goto fail;
    if (dnnl_engine_create(&r->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&r->stream, r->engine, dnnl_stream_default_flags) != dnnl_success) {
        st = fid__fail(FID_ERR_BACKEND, "oneDNN cannot create a CPU engine");
        goto fail;
    }
    if (dnnl_primitive_attr_create(&r->plain_attr) != dnnl_success ||
        dnnl_primitive_attr_set_scratchpad_mode(r->plain_attr, dnnl_scratchpad_mode_user) != dnnl_success) {
        st = fid__fail(FID_ERR_BACKEND, "oneDNN cannot create attributes");
        goto fail;
    }
    r->n_plans = r->adaptive ? 2 : 1;
    int callers = omp_get_max_threads(); /* build_plan sets the count; the caller's comes back */
    for (int i = 0; i < r->n_plans && st == FID_OK; i++)
        st = build_plan(r, &r->plans[i], i == 0 ? r->threads : 1, order, n_order);
    omp_set_num_threads(callers);
    if (st != FID_OK) goto fail;
    if (r->scratch_bytes) {
        r->scratch = alloc_big(r->scratch_bytes);
        if (!r->scratch) {
            st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate %zu bytes of scratchpad", r->scratch_bytes);
            goto fail;
        }
        for (int i = 0; i < r->n_plans; i++)
            for (int k = 0; k < r->plans[i].n_steps; k++) {
                step *s = &r->plans[i].steps[k];
                if (s->kind == STEP_DNNL && dnnl_memory_desc_get_size(&s->scratch_md) > 0 &&
                    (st = add_mem(s, &s->scratch_md, r->engine, r->scratch, DNNL_ARG_SCRATCHPAD,
                                  r->g->nodes[s->node].name)) != FID_OK)
                    goto fail;
            }
    }
    free(order);
    fid__set_status(status, FID_OK);
    return r;
fail:
    free(order);
    fid_runner_free(r);
    fid__set_status(status, st);
    return NULL;
}

void fid_runner_free(fid_runner *r) {
    if (!r) return;
    for (int i = 0; i < 2; i++) {
        plan *p = &r->plans[i];
        for (int k = 0; p->steps && k < p->n_steps; k++) {
            step *s = &p->steps[k];
            if (s->prim) dnnl_primitive_destroy(s->prim);
            free(s->scale);
            free(s->shift);
            for (int m = 0; m < s->n_mems; m++)
                dnnl_memory_destroy(s->mems[m]);
        }
        free(p->steps);
        free(p->weights);
    }
    if (r->stream) dnnl_stream_destroy(r->stream);
    if (r->engine) dnnl_engine_destroy(r->engine);
    free(r->arena);
    free(r->scratch);
    if (r->plain_attr) dnnl_primitive_attr_destroy(r->plain_attr);
    free(r->dims);
    free(r->rank);
    free(r->buf);
    free(r);
}

float *fid_runner_input(fid_runner *r, int index, size_t *count) {
    if (!r || index < 0 || index >= r->g->n_inputs) return NULL;
    int id = r->g->inputs[index];
    if (count) *count = (size_t)fid__numel(r->rank[id], r->dims[id]);
    return r->buf[id];
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Which thread count this run uses; probing flips to the other mode for one run. */
static int choose_threads(fid_runner *r, int *probing) {
    *probing = 0;
    if (!r->adaptive) return r->threads;
    if (r->ms_all == 0) return r->threads; /* first measurements: all threads, then one */
    if (r->ms_one == 0) return *probing = 1, 1;
    if (--r->runs_to_probe <= 0) {
        *probing = 1;
        return r->use_all ? 1 : r->threads;
    }
    return r->use_all ? r->threads : 1;
}

/* The choice is made again after every run, not only after a probe: a probe can be lucky (the
 * busy neighbour was descheduled for those 2 ms), and waiting for the next probe to notice
 * meant up to 256 runs with a thread stuck behind the neighbour at every barrier (7.7x the idle
 * latency on one machine). Now the mode in use pays for a bad run at once: its average rises
 * past the other mode's and the next run switches. */
static void record_latency(fid_runner *r, int threads, int probing, double ms) {
    double *ewma = threads == 1 ? &r->ms_one : &r->ms_all;
    *ewma = *ewma == 0 || probing ? ms : 0.7 * *ewma + 0.3 * ms;
    int was_all = r->use_all;
    r->use_all = r->ms_one == 0 || r->ms_all <= r->ms_one;
    if (!probing && r->use_all == was_all) return;
    /* A probe that changed nothing comes back later; a switch resets the interval. */
    r->probe_interval = r->use_all == was_all ? (r->probe_interval < 256 ? r->probe_interval * 2 : 256) : 8;
    r->runs_to_probe = r->probe_interval;
}

static fid_status run_plan(fid_runner *r, const plan *p, int threads) {
    for (int k = 0; k < p->n_steps; k++) {
        const step *s = &p->steps[k];
        const fid__node *n = &r->g->nodes[s->node];
        if (s->kind == STEP_PAD) {
            run_pad(r, n, s->node);
            continue;
        }
        if (s->kind == STEP_POOL) {
            fid__pool_nhwc(&n->a.pool, r->dims[n->inputs[0]], r->buf[n->inputs[0]], r->dims[s->node], r->buf[s->node],
                           threads);
            continue;
        }
        if (s->kind == STEP_AFFINE) {
            run_affine(r, s);
            continue;
        }
        if (s->kind == STEP_REFERENCE) {
            fid_status st = fid__ref_node(r->g, s->node, r->dims, r->rank, r->buf, r->buf[s->node]);
            if (st != FID_OK) return st;
            continue;
        }
        if (s->copy_residual_from >= 0)
            memcpy(r->buf[s->node], r->buf[s->copy_residual_from],
                   (size_t)fid__numel(r->rank[s->node], r->dims[s->node]) * sizeof(float));
        dnnl_status_t ds = dnnl_primitive_execute(s->prim, r->stream, s->n_args, s->args);
        if (ds != dnnl_success)
            return fid__fail(FID_ERR_BACKEND, "oneDNN failed on node '%s' (status %d)", n->name, (int)ds);
    }
    dnnl_stream_wait(r->stream);
    return FID_OK;
}

fid_status fid_runner_run(fid_runner *r) {
    if (!r) return fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_runner_run: runner is NULL");
    int probing, threads = choose_threads(r, &probing);
    double t0 = r->adaptive ? now_ms() : 0;
    /* The OpenMP thread count is the calling thread's setting: set for the run, then given back,
     * so a program's own parallel regions in this thread are not changed by faceid. */
    int callers = omp_get_max_threads();
    omp_set_num_threads(threads);
    fid_status st = run_plan(r, &r->plans[threads == r->threads ? 0 : 1], threads);
    omp_set_num_threads(callers);
    if (st == FID_OK && r->adaptive) record_latency(r, threads, probing, now_ms() - t0);
    return st;
}

const float *fid_runner_output(const fid_runner *r, int index, int64_t dims[4], int *rank) {
    if (!r || index < 0 || index >= r->g->n_outputs) return NULL;
    int id = r->g->outputs[index];
    if (dims) memcpy(dims, r->dims[id], sizeof r->dims[id]);
    if (rank) *rank = r->rank[id];
    return r->buf[id];
}

double fid_runner_flops(const fid_runner *r) { return r ? r->flops * 1.0 : 0; }

/* A weight the runner holds packed in every plan, read by nothing else, need not stay in the
 * graph: the nets inside detectors and embedders are private to one runner, and their float
 * copies were a fifth of the live pipeline's memory. */
static int weight_of(const fid__node *c) {
    return c->op == FID__OP_CONV ? c->a.conv.weights : c->op == FID__OP_MATMUL ? c->a.matmul.weights : -1;
}

void fid__net_release_packed_weights(fid_net *net, const fid_runner *r) {
    fid__graph *g = net->graph;
    if (!r || r->g != g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        fid__node *w = &g->nodes[i];
        if (w->op != FID__OP_CONST || !w->data) continue;
        int releasable = 1;
        for (int o = 0; o < g->n_outputs; o++)
            releasable &= g->outputs[o] != i;
        for (int j = 0; j < g->n_nodes && releasable; j++) {
            const fid__node *c = &g->nodes[j];
            for (int k = 0; k < c->n_inputs; k++)
                releasable &= c->inputs[k] != i;
            for (int k = 0; k < c->n_post; k++)
                releasable &= c->post[k].operand != i;
            if (c->op == FID__OP_CONV) releasable &= c->a.conv.bias != i;
            if (c->op == FID__OP_MATMUL) releasable &= c->a.matmul.bias != i;
            if (weight_of(c) != i) continue;
            /* every step computing this node must hold the weight packed, in every plan */
            for (int p = 0; p < r->n_plans && releasable; p++)
                for (int k = 0; k < r->plans[p].n_steps; k++) {
                    const step *s = &r->plans[p].steps[k];
                    if (s->node == j) releasable &= s->has_pending && s->packed && s->pending_data == w->data;
                }
        }
        if (!releasable) continue;
        free(w->data);
        w->data = NULL;
        net->weights_released = 1;
    }
}
