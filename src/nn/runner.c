/*
 * fid_runner: a graph compiled for one batch size and thread count, executed with oneDNN.
 * All activations live in one arena laid out at compile time (no allocation per run); weights
 * are reordered once into the layout each primitive prefers.
 */
#define _GNU_SOURCE /* qsort_r */
#include <dnnl.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <nettle/sha2.h>

#include "nn/choice_cache.h"
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
    /* Reorders run before the primitive: a source converted to the precision the primitive
     * computes in (into the runner's conversion buffer), a residual of another data type
     * converted into the output buffer. */
    int n_pre;
    dnnl_primitive_t pre[2];
    dnnl_memory_t pre_mems[4];
    /* int8: the weights' reorder scales (1 / per-output-channel scale) and the bias in the
     * accumulator's units (oneDNN 2.x adds the bias before the output scales) */
    float *wscale, *qbias;
    int wmask;
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
    /* Threads per layer (adaptive runners): step k of "all threads" runs plan 1's one-thread
     * primitive where that measured faster (small layers pay more for a second thread than it
     * gives). NULL: plan 0 throughout. See choose_step_threads. */
    uint8_t *one_thread;
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    double flops;
    /* Data type of each node's buffer, and of the computation of convolutions and matmuls (the
     * other ops compute in f32). Graph inputs and outputs are always f32. */
    dnnl_data_type_t *dt, *cdt;
    fid_precision precision;
    char note[200];
    void *cvt; /* sources converted for the primitive that reads them next (one at a time) */
    size_t cvt_bytes;
    /* int8: each node's range as the fp32 net met it on the calibration inputs (by root), and
     * its quantization step: real value = stored value * qs */
    const float *smin, *smax;
    float *qs;
    float **wsteps; /* per conv node: its weights' per-output-channel steps, made once (weight_steps) */
    /* set while an fp32 runner collects those ranges (collect_ranges) */
    float *stat_min, *stat_max;
};

fid_runner_params fid_runner_default_params(void) {
    fid_runner_params p = {.batch = 1, .threads = 1, .adaptive_threads = 1, .precision = FID_PRECISION_FP32};
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

static void nhwc_md(dnnl_memory_desc_t *md, const int64_t *nhwc, dnnl_data_type_t dt) {
    dnnl_dims_t d = {nhwc[0], nhwc[3], nhwc[1], nhwc[2]};
    dnnl_memory_desc_init_by_tag(md, 4, d, dt, dnnl_nhwc);
}

static size_t dt_size(dnnl_data_type_t dt) {
    return dt == dnnl_bf16 || dt == dnnl_f16 ? 2 : dt == dnnl_s8 || dt == dnnl_u8 ? 1 : 4;
}

static int is_int8(dnnl_data_type_t dt) { return dt == dnnl_u8 || dt == dnnl_s8; }

/* The int8 type of a node's values: u8 when calibration never met a negative one. */
static dnnl_data_type_t qdt(const fid_runner *r, int id) {
    return r->smin[fid__graph_root(r->g, id)] >= 0 ? dnnl_u8 : dnnl_s8;
}

/* What one stored unit of node id is worth: its quantization step when stored as int8, else 1. */
static float unit(const fid_runner *r, int id) { return is_int8(r->dt[id]) ? r->qs[id] : 1; }

/* The type a convolution or matmul reads its source x in. */
static dnnl_data_type_t source_type(const fid_runner *r, int id, int x) {
    return r->cdt[id] == dnnl_s8 ? qdt(r, x) : r->cdt[id];
}

/* Where a residual R sits in the output buffer for the SUM post-op: in the output's type, worth
 * 1 per unit, when the output is not int8; else as int8 in R's own step. */
static void residual_place(const fid_runner *r, int id, int res, dnnl_data_type_t *dt, float *per_unit) {
    *dt = !is_int8(r->dt[id]) ? r->dt[id] : is_int8(r->dt[res]) ? r->dt[res] : qdt(r, res);
    *per_unit = is_int8(*dt) ? r->qs[res] : 1;
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
    int id = (int)(n - r->g->nodes);
    /* int8: the output scales have made the accumulator real values; the graph's post-ops run
     * on those, and a last linear step quantizes them into the output's step */
    int quantized = r->precision == FID_PRECISION_INT8 && n->op == FID__OP_CONV && r->cdt[id] == dnnl_s8;
    DNNL_TRY(dnnl_post_ops_create(&po), "post-ops");
    for (int k = 0; k < n->n_post; k++) {
        const fid__post_op *p = &n->post[k];
        if (p->kind == FID__POST_UNARY) {
            DNNL_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, eltwise_alg(p->alg), p->alpha, p->beta), "eltwise post-op");
        } else if (p->kind == FID__POST_SUM && quantized) {
            dnnl_data_type_t rt;
            float per_unit;
            residual_place(r, id, p->operand, &rt, &per_unit);
            DNNL_TRY(dnnl_post_ops_append_sum_v2(po, per_unit, rt), "sum post-op");
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
    if (quantized && is_int8(r->dt[id]))
        DNNL_TRY(dnnl_post_ops_append_eltwise(po, 1.0f, dnnl_eltwise_linear, 1 / r->qs[id], 0), "requantization");
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
                                  const float *data, const dnnl_memory_desc_t *want_md, void *dst, const step *s) {
    fid_status st = FID_OK;
    dnnl_memory_t src_m = NULL, dst_m = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t reorder = NULL;
    dnnl_primitive_attr_t attr = NULL;
    DNNL_TRY(dnnl_memory_create(&dst_m, want_md, r->engine, dst), "weights memory");
    DNNL_TRY(dnnl_memory_create(&src_m, user_md, r->engine, (void *)data), "weights memory");
    if (s->wscale) { /* int8: each output channel divided by its own step */
        DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
        DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, n->a.conv.out_channels, s->wmask, s->wscale),
                 "weight scales");
    }
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, user_md, r->engine, want_md, r->engine, attr), "weights reorder");
    DNNL_TRY(dnnl_primitive_create(&reorder, pd), "weights reorder");
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, src_m}, {DNNL_ARG_TO, dst_m}};
    DNNL_TRY(dnnl_primitive_execute(reorder, r->stream, 2, args), "weights reorder");
    dnnl_stream_wait(r->stream);
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
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
            (st = reorder_weights(r, n, &s->pending_user, s->pending_data, &s->pending_want, s->packed, s)) != FID_OK)
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

/* A reorder run before step s's primitive: `from` (at src) into `to` (at dst), e.g. f32 to bf16. */
static fid_status add_convert(fid_runner *r, step *s, const fid__node *n, const dnnl_memory_desc_t *from, void *src,
                              const dnnl_memory_desc_t *to, void *dst, float scale) {
    fid_status st = FID_OK;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_attr_t attr = NULL;
    int k = s->n_pre;
    DNNL_TRY(dnnl_memory_create(&s->pre_mems[2 * k], from, r->engine, src), "conversion memory");
    DNNL_TRY(dnnl_memory_create(&s->pre_mems[2 * k + 1], to, r->engine, dst), "conversion memory");
    if (scale != 1) { /* between quantization steps: to = from * scale, rounded and saturated */
        DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
        DNNL_TRY(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &scale), "conversion scale");
    }
    DNNL_TRY(dnnl_reorder_primitive_desc_create(&pd, from, r->engine, to, r->engine, attr), "a conversion");
    DNNL_TRY(dnnl_primitive_create(&s->pre[k], pd), "a conversion");
    s->n_pre++;
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

/* int8: per-output-channel steps of convolution id's weights (HWIO, O last), max |w| / 127;
 * scanned once per node and kept (the probe and every plan ask again). NULL out of memory. */
static const float *weight_steps(fid_runner *r, int id) {
    if (r->wsteps[id]) return r->wsteps[id];
    const fid__node *w = &r->g->nodes[r->g->nodes[id].a.conv.weights];
    int64_t O = r->g->nodes[id].a.conv.out_channels, n = fid__node_numel(w);
    float *ws = calloc((size_t)O, sizeof *ws);
    if (!ws) return NULL;
    for (int64_t i = 0; i < n; i++)
        if (fabsf(w->data[i]) > ws[i % O]) ws[i % O] = fabsf(w->data[i]);
    for (int64_t c = 0; c < O; c++)
        ws[c] = ws[c] > 0 ? ws[c] / 127 : 1;
    return r->wsteps[id] = ws;
}

/* The convolution's primitive descriptor computing in `cdt` with output type `dst_dt`; its
 * post-op operands are added to s. NULL pd (and FID_OK) when oneDNN has no such kernel. */
static fid_status conv_pd(fid_runner *r, step *s, const fid__node *n, int id, dnnl_data_type_t src_dt,
                          dnnl_data_type_t cdt, dnnl_data_type_t dst_dt, dnnl_primitive_desc_t *pd) {
    fid_status st = FID_OK;
    const fid__conv_attr *c = &n->a.conv;
    const fid__node *w = &r->g->nodes[c->weights];
    int64_t O = c->out_channels, G = c->groups, ipg = w->dims[2], opg = O / G;
    dnnl_memory_desc_t src_md, dst_md, w_any, b_md;
    nhwc_md(&src_md, r->dims[n->inputs[0]], src_dt);
    nhwc_md(&dst_md, r->dims[id], dst_dt);
    if (G == 1) {
        dnnl_dims_t wd = {O, ipg, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(&w_any, 4, wd, cdt, dnnl_format_tag_any);
    } else {
        dnnl_dims_t wd = {G, opg, ipg, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(&w_any, 5, wd, cdt, dnnl_format_tag_any);
    }
    dnnl_dims_t bd = {O};
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    dnnl_dims_t strides = {c->stride_h, c->stride_w}, dil = {c->dilation_h - 1, c->dilation_w - 1};
    dnnl_dims_t pl = {c->pad_top, c->pad_left}, pr = {c->pad_bottom, c->pad_right};
    dnnl_convolution_desc_t cd;
    dnnl_primitive_attr_t attr = NULL;
    *pd = NULL;
    DNNL_TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct, &src_md,
                                                        &w_any, c->bias >= 0 ? &b_md : NULL, &dst_md, strides, dil, pl,
                                                        pr),
             "the convolution");
    DNNL_TRY(dnnl_primitive_attr_create(&attr), "attributes");
    DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user), "attributes");
    if (cdt == dnnl_s8) { /* accumulator -> real values: source step x each channel's weight step */
        const float *ws = weight_steps(r, id);
        float *scales = ws ? malloc((size_t)O * sizeof *scales) : NULL;
        if (!scales) {
            st = fid__fail(FID_ERR_NO_MEMORY, "node '%s'", n->name);
            goto fail;
        }
        for (int64_t k = 0; k < O; k++)
            scales[k] = ws[k] * r->qs[n->inputs[0]];
        dnnl_status_t ds = dnnl_primitive_attr_set_output_scales(attr, O, 1 << 1, scales);
        free(scales);
        DNNL_TRY(ds, "output scales");
    }
    if ((st = build_post_ops(r, n, s, 4, attr)) != FID_OK) goto fail;
    dnnl_status_t ds = dnnl_primitive_desc_create(pd, &cd, attr, r->engine, NULL);
    if (ds == dnnl_unimplemented && cdt != dnnl_f32) *pd = NULL;
    else DNNL_TRY(ds, "the convolution");
fail:
    if (attr) dnnl_primitive_attr_destroy(attr);
    return st;
}

static const char *impl_name(const_dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl) return "?";
    return impl;
}

/* Whether oneDNN runs node id's convolution in `cdt` with a real kernel: a reference
 * implementation ("ref:any") would be many times slower than f32. */
static int conv_has_kernel(fid_runner *r, int id, dnnl_data_type_t cdt) {
    step probe = {0};
    dnnl_primitive_desc_t pd = NULL;
    int x = fid__graph_root(r->g, r->g->nodes[id].inputs[0]);
    dnnl_data_type_t io = cdt == dnnl_s8 ? qdt(r, x) : cdt, out = cdt == dnnl_s8 ? qdt(r, id) : cdt;
    int ok = conv_pd(r, &probe, &r->g->nodes[id], id, io, cdt, out, &pd) == FID_OK && pd &&
             strncmp(impl_name(pd), "ref", 3) != 0;
    if (pd) dnnl_primitive_desc_destroy(pd);
    for (int m = 0; m < probe.n_mems; m++)
        dnnl_memory_destroy(probe.mems[m]);
    return ok;
}

/* The source of a conv/matmul in the type it computes in: the producer's buffer, or the
 * conversion buffer filled by a reorder before the primitive runs. */
static fid_status source_in(fid_runner *r, step *s, const fid__node *n, int x, const dnnl_memory_desc_t *want,
                            const dnnl_memory_desc_t *have, void **ptr) {
    *ptr = r->buf[x];
    dnnl_data_type_t type = source_type(r, s->node, x);
    if (r->dt[x] == type) return FID_OK;
    *ptr = r->cvt;
    return add_convert(r, s, n, have, r->buf[x], want, r->cvt, unit(r, x) / (is_int8(type) ? r->qs[x] : 1));
}

static fid_status build_conv(fid_runner *r, step *s, const fid__node *n, int id) {
    fid_status st = FID_OK;
    const fid__graph *g = r->g;
    const fid__conv_attr *c = &n->a.conv;
    int x = n->inputs[0];
    const fid__node *w = &g->nodes[c->weights];
    int64_t O = c->out_channels, G = c->groups, ipg = w->dims[2], opg = O / G;
    dnnl_memory_desc_t src_md, have_md, dst_md, w_user, b_md;
    dnnl_primitive_desc_t pd = NULL;
    nhwc_md(&src_md, r->dims[x], source_type(r, id, x));
    nhwc_md(&have_md, r->dims[x], r->dt[x]);
    nhwc_md(&dst_md, r->dims[id], r->dt[id]);
    if (G == 1) {
        dnnl_dims_t wd = {O, ipg, c->kh, c->kw};
        dnnl_memory_desc_init_by_tag(&w_user, 4, wd, dnnl_f32, dnnl_hwio);
    } else {
        /* HWIO with O = g*opg + o: strides of the logical (g, o, i, h, w) dims. */
        dnnl_dims_t wd = {G, opg, ipg, c->kh, c->kw};
        dnnl_dims_t ws = {opg, 1, O, c->kw * ipg * O, ipg * O};
        dnnl_memory_desc_init_by_strides(&w_user, 5, wd, dnnl_f32, ws);
    }
    dnnl_dims_t bd = {O};
    dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_a);
    if ((st = conv_pd(r, s, n, id, source_type(r, id, x), r->cdt[id], r->dt[id], &pd)) != FID_OK) goto fail;
    if (!pd) {
        st = fid__fail(FID_ERR_BACKEND, "oneDNN has no %s convolution for node '%s'",
                       r->cdt[id] == dnnl_bf16 ? "bf16" : "int8", n->name);
        goto fail;
    }
    void *src;
    if ((st = source_in(r, s, n, x, &src_md, &have_md, &src)) != FID_OK) goto fail;
    /* The residual goes into the output buffer before the primitive sums it there: nothing to do
     * when it is there already, copied as it is when its place has its type and step, else
     * converted into that place. */
    for (int k = 0; k < n->n_post; k++) {
        int res = n->post[k].operand;
        if (n->post[k].kind != FID__POST_SUM || r->buf[res] == r->buf[id]) continue;
        dnnl_data_type_t rt;
        float per_unit;
        residual_place(r, id, res, &rt, &per_unit);
        if (r->dt[res] == rt) {
            s->copy_residual_from = res;
            continue;
        }
        dnnl_memory_desc_t res_md, place_md;
        nhwc_md(&res_md, r->dims[res], r->dt[res]);
        nhwc_md(&place_md, r->dims[id], rt);
        if ((st = add_convert(r, s, n, &res_md, r->buf[res], &place_md, r->buf[id], unit(r, res) / per_unit)) != FID_OK)
            goto fail;
    }
    const float *bias = c->bias >= 0 ? g->nodes[c->bias].data : NULL;
    if (r->cdt[id] == dnnl_s8) { /* weights divided by their steps; bias in accumulator units */
        const float *ws = weight_steps(r, id);
        s->wscale = ws ? malloc((size_t)O * sizeof *s->wscale) : NULL;
        s->wmask = G == 1 ? 1 : 3;
        if (s->wscale && bias && (s->qbias = malloc((size_t)O * sizeof *s->qbias)))
            for (int64_t k = 0; k < O; k++)
                s->qbias[k] = bias[k] / (ws[k] * r->qs[x]);
        for (int64_t k = 0; s->wscale && k < O; k++)
            s->wscale[k] = 1 / ws[k];
        if (!s->wscale || (bias && !s->qbias)) {
            st = fid__fail(FID_ERR_NO_MEMORY, "node '%s'", n->name);
            goto fail;
        }
        bias = s->qbias;
    }
    if ((st = add_mem(s, &src_md, r->engine, src, DNNL_ARG_SRC, n->name)) != FID_OK) goto fail;
    if ((st = add_mem(s, &dst_md, r->engine, r->buf[id], DNNL_ARG_DST, n->name)) != FID_OK) goto fail;
    if (bias && (st = add_mem(s, &b_md, r->engine, (void *)bias, DNNL_ARG_BIAS, n->name)) != FID_OK) goto fail;
    if ((st = add_weights(r, s, n, &w_user, w->data, dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0),
                          DNNL_ARG_WEIGHTS)) != FID_OK)
        goto fail;
    st = finish_primitive(r, s, n, pd);
    pd = NULL;
fail:
    if (pd) dnnl_primitive_desc_destroy(pd);
    return st;
}

static fid_status build_matmul(fid_runner *r, step *s, const fid__node *n, int id) {
    fid_status st = FID_OK;
    const fid__node *w = &r->g->nodes[n->a.matmul.weights];
    int x = n->inputs[0];
    dnnl_memory_desc_t src_md, have_md, dst_md, w_user, w_any, b_md;
    dnnl_dims_t sd = {r->dims[x][0], r->dims[x][1]}, dd = {r->dims[id][0], r->dims[id][1]};
    dnnl_memory_desc_init_by_tag(&src_md, 2, sd, r->cdt[id], dnnl_ab);
    dnnl_memory_desc_init_by_tag(&have_md, 2, sd, r->dt[x], dnnl_ab);
    dnnl_memory_desc_init_by_tag(&dst_md, 2, dd, r->dt[id], dnnl_ab);
    plain_md(&w_user, 2, w->dims, 2);
    dnnl_dims_t wd = {w->dims[0], w->dims[1]};
    dnnl_memory_desc_init_by_tag(&w_any, 2, wd, r->cdt[id], dnnl_format_tag_any);
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
    void *src;
    if ((st = source_in(r, s, n, x, &src_md, &have_md, &src)) != FID_OK) goto fail;
    if ((st = add_mem(s, &src_md, r->engine, src, DNNL_ARG_SRC, n->name)) != FID_OK) goto fail;
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
    case FID__OP_CONV: return build_conv(r, s, n, id);
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
                fid__graph_root(g, n->inputs[0]) != res && r->dt[res] == r->dt[id])
                reuse = stor[res];
        }
        if (reuse >= 0) {
            stor[id] = reuse;
        } else {
            stor[id] = n_st;
            st[n_st].bytes = align64((size_t)fid__numel(r->rank[id], r->dims[id]) * dt_size(r->dt[id]));
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

/* Which nodes compute and store in bf16 (precision BF16): every convolution and matmul oneDNN has
 * a real bf16 kernel for computes in bf16 and writes bf16 when all its readers are bf16
 * convolutions or matmuls; a reader of another kind (pooling, padding, concat, the graph's
 * outputs...) gets f32 from the same primitive, and an f32 source is converted before the
 * primitive that reads it. So precision is lost only inside the compute-heavy ops, never in the
 * glue between them. */
static fid_status assign_types(fid_runner *r, const int *order, int n_order) {
    const fid__graph *g = r->g;
    for (int i = 0; i < g->n_nodes; i++)
        r->dt[i] = r->cdt[i] = dnnl_f32;
    if (r->precision == FID_PRECISION_FP32) return FID_OK;
    int int8 = r->precision == FID_PRECISION_INT8;
    /* int8: s8 weights; u8 or s8 activations by the sign calibration met (qdt), each with a step
     * that maps the largest magnitude met onto 255 or 127 */
    dnnl_data_type_t low = int8 ? dnnl_s8 : dnnl_bf16;
    if (int8) {
        r->qs = malloc((size_t)g->n_nodes * sizeof *r->qs);
        r->wsteps = calloc((size_t)g->n_nodes, sizeof *r->wsteps);
        if (!r->qs || !r->wsteps) return fid__fail(FID_ERR_NO_MEMORY, "int8 steps");
        for (int i = 0; i < g->n_nodes; i++) {
            int root = fid__graph_root(g, i); /* ranges were recorded where the data lives */
            float hi = fmaxf(fabsf(r->smin[root]), fabsf(r->smax[root]));
            r->qs[i] = isfinite(hi) && hi > 0 ? hi / (qdt(r, i) == dnnl_u8 ? 255.f : 127.f) : 1.f / 255;
        }
    }
    for (int k = 0; k < n_order; k++) {
        int id = order[k];
        fid__op op = g->nodes[id].op;
        /* int8 matmuls are left out: the nets end in one small one, where it would gain nothing */
        if ((op == FID__OP_MATMUL && !int8) || (op == FID__OP_CONV && conv_has_kernel(r, id, low)))
            r->cdt[id] = low, r->dt[id] = int8 ? qdt(r, id) : low;
    }
    for (int k = 0; k < n_order; k++) {
        const fid__node *n = &g->nodes[order[k]];
        if (n->op == FID__OP_IDENTITY) continue;
        int reads_low = (n->op == FID__OP_CONV || n->op == FID__OP_MATMUL) && r->cdt[order[k]] == low;
        /* (an int8 conv's source may be u8 or s8 and needs its own step: it reads what it is given) */
        /* a residual (SUM operand, inputs[1]) of another type is converted into the output */
        for (int j = 0; j < n->n_inputs; j++)
            if (!(reads_low && (j == 0 || (n->op == FID__OP_CONV && j == 1))))
                r->dt[fid__graph_root(g, n->inputs[j])] = dnnl_f32;
    }
    for (int k = 0; k < g->n_outputs; k++)
        r->dt[fid__graph_root(g, g->outputs[k])] = dnnl_f32;
    size_t cvt = 0;
    for (int k = 0; k < n_order; k++) {
        int id = order[k];
        const fid__node *n = &g->nodes[id];
        if (n->op == FID__OP_IDENTITY) r->dt[id] = r->dt[n->inputs[0]];
        if ((n->op != FID__OP_CONV && n->op != FID__OP_MATMUL) || r->cdt[id] == dnnl_f32) continue;
        int x = fid__graph_root(g, n->inputs[0]);
        size_t bytes = (size_t)fid__numel(r->rank[x], r->dims[x]) * dt_size(source_type(r, id, x));
        if (r->dt[x] != source_type(r, id, x) && bytes > cvt) cvt = bytes;
    }
    if (cvt && !(r->cvt = alloc_big(cvt))) return fid__fail(FID_ERR_NO_MEMORY, "cannot allocate %zu bytes", cvt);
    r->cvt_bytes = cvt;
    return FID_OK;
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

/* Threads per layer, by measurement. A 2-thread primitive halves a large convolution, but a small
 * layer (landmark68's and liveness's later ones, a pooling of a few thousand values) pays a
 * wake-up and a barrier larger than its work: on one CPU landmark68 ran slower on 2 threads
 * than on 1 as a whole. Each step is timed in both plans (median of 9 rounds after 3 warm-up
 * runs) and runs where it was faster; the mix is kept only when it beats plan 0 as a whole. The
 * choice is remembered per machine like the precision (choice_cache.c: "steps-<key>"). */
enum { STEP_WARMUP = 3, STEP_ROUNDS = 9 };
static double now_ms(void);
static fid_status run_step(fid_runner *r, const step *s, int threads);
static fid_status run_plan(fid_runner *r, const plan *p, int threads);
static fid_status run_mixed(fid_runner *r);

int fid__runner_force_one_thread(fid_runner *r, const uint8_t *pattern, int n) {
    int steps = r && r->n_plans == 2 ? r->plans[0].n_steps : 0;
    if (!steps || !pattern || n < 1) return 0;
    if (!r->one_thread && !(r->one_thread = calloc((size_t)steps, 1))) return 0;
    for (int k = 0; k < steps; k++)
        r->one_thread[k] = pattern[k % n] != 0;
    r->adaptive = 0; /* every run now takes the mix: no probing of the one-thread plan */
    return steps;
}

static int by_ms(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void steps_key(const fid_runner *r, char hex[65]) {
    struct sha256_ctx h;
    uint8_t d[32];
    static const char scheme[] = "steps-v1: per step median of 9, mix kept when faster than all threads";
    int in = r->g->inputs[0];
    int ints[4] = {r->batch, r->threads, (int)dnnl_get_effective_cpu_isa(), (int)r->precision};
    sha256_init(&h);
    sha256_update(&h, sizeof scheme, (const uint8_t *)scheme);
    sha256_update(&h, strlen(fid_version()) + 1, (const uint8_t *)fid_version());
    sha256_update(&h, 32, fid__net_digest(r->net));
    sha256_update(&h, sizeof r->dims[in], (const uint8_t *)r->dims[in]);
    sha256_update(&h, sizeof ints, (const uint8_t *)ints);
    sha256_digest(&h, sizeof d, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Median ms of `rounds` whole runs: plan 0, or the mix when `mixed`. */
static double whole_ms(fid_runner *r, int mixed, int rounds) {
    double t[STEP_ROUNDS];
    for (int i = 0; i < rounds; i++) {
        double t0 = now_ms();
        if (mixed) run_mixed(r);
        else run_plan(r, &r->plans[0], r->threads);
        t[i] = now_ms() - t0;
    }
    qsort(t, (size_t)rounds, sizeof *t, by_ms);
    return t[rounds / 2];
}

static void choose_step_threads(fid_runner *r) {
    int n = r->plans[0].n_steps;
    if (!r->adaptive || r->n_plans != 2 || r->plans[1].n_steps != n || n == 0 || r->stat_max) return;
    uint8_t *one = calloc((size_t)n, 1);
    double *t = malloc((size_t)2 * n * STEP_ROUNDS * sizeof *t);
    char key[65], text[4096];
    steps_key(r, key);
    if (one && n < (int)sizeof text && fid__choice_load_text("steps", key, text, sizeof text) &&
        (int)strlen(text) == n && strspn(text, "01") == (size_t)n) {
        int any = 0;
        for (int k = 0; k < n; k++)
            any |= one[k] = text[k] == '1';
        if (any) r->one_thread = one, one = NULL;
        free(one), free(t);
        return;
    }
    if (!one || !t) {
        free(one), free(t);
        return;
    }
    int callers = omp_get_max_threads();
    for (int p = 0; p < 2; p++) {
        int threads = p ? 1 : r->threads;
        omp_set_num_threads(threads);
        for (int w = 0; w < STEP_WARMUP; w++)
            run_plan(r, &r->plans[p], threads);
        for (int round = 0; round < STEP_ROUNDS; round++)
            for (int k = 0; k < n; k++) {
                double t0 = now_ms();
                run_step(r, &r->plans[p].steps[k], threads);
                dnnl_stream_wait(r->stream);
                t[((size_t)p * n + k) * STEP_ROUNDS + round] = now_ms() - t0;
            }
    }
    int any = 0;
    for (int k = 0; k < n; k++) {
        double *all = t + (size_t)k * STEP_ROUNDS, *single = t + ((size_t)n + k) * STEP_ROUNDS;
        qsort(all, STEP_ROUNDS, sizeof *all, by_ms);
        qsort(single, STEP_ROUNDS, sizeof *single, by_ms);
        any |= one[k] = single[STEP_ROUNDS / 2] < all[STEP_ROUNDS / 2];
    }
    omp_set_num_threads(r->threads);
    if (any) {
        r->one_thread = one;
        double mixed = whole_ms(r, 1, STEP_ROUNDS), plain = whole_ms(r, 0, STEP_ROUNDS);
        if (!(mixed < plain)) r->one_thread = NULL, memset(one, 0, (size_t)n);
    }
    omp_set_num_threads(callers);
    for (int k = 0; k < n && n < (int)sizeof text; k++)
        text[k] = one[k] ? '1' : '0';
    if (n < (int)sizeof text) text[n] = 0, fid__choice_store_text("steps", key, text);
    if (!r->one_thread) free(one);
    free(t);
}

/* A runner computing in one precision (FP32, BF16, or INT8 with the fp32 net's value ranges
 * smin/smax, read during the build only); parameters already checked. */
static fid_runner *build_runner(const fid_net *net, const fid_runner_params *params, fid_precision precision,
                                const float *smin, const float *smax, fid_status *status) {
    fid_runner_params p = *params;
    fid_status st = FID_OK;
    fid_runner *r = NULL;
    int *order = NULL;
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
    r->precision = precision;
    r->smin = smin, r->smax = smax;
    int nn = r->g->n_nodes;
    r->dims = calloc((size_t)nn, sizeof *r->dims);
    r->rank = calloc((size_t)nn, sizeof *r->rank);
    r->buf = calloc((size_t)nn, sizeof *r->buf);
    r->dt = calloc((size_t)nn, sizeof *r->dt);
    r->cdt = calloc((size_t)nn, sizeof *r->cdt);
    order = malloc((size_t)nn * sizeof *order);
    if (!r->dims || !r->rank || !r->buf || !r->dt || !r->cdt || !order) {
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
    if (dnnl_engine_create(&r->engine, dnnl_cpu, 0) != dnnl_success ||
        dnnl_stream_create(&r->stream, r->engine, dnnl_stream_default_flags) != dnnl_success) {
        st = fid__fail(FID_ERR_BACKEND, "oneDNN cannot create a CPU engine");
        goto fail;
    }
    if ((st = assign_types(r, order, n_order)) != FID_OK) goto fail;
    if ((st = plan_memory(r, order, n_order)) != FID_OK) goto fail;
    if ((st = address_space_headroom(r)) != FID_OK) goto fail;
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
    choose_step_threads(r);
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
            for (int m = 0; m < s->n_pre; m++)
                dnnl_primitive_destroy(s->pre[m]);
            for (int m = 0; m < 4; m++)
                if (s->pre_mems[m]) dnnl_memory_destroy(s->pre_mems[m]);
            free(s->scale);
            free(s->shift);
            free(s->wscale);
            free(s->qbias);
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
    free(r->cvt);
    free(r->qs);
    for (int i = 0; r->wsteps && i < r->g->n_nodes; i++)
        free(r->wsteps[i]);
    free(r->wsteps);
    free(r->dt);
    free(r->cdt);
    if (r->plain_attr) dnnl_primitive_attr_destroy(r->plain_attr);
    free(r->dims);
    free(r->rank);
    free(r->buf);
    free(r->one_thread);
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

/* Widens node id's range by its current values (f32 buffers: the fp32 runner collecting ranges). */
static void record_range(fid_runner *r, int id) {
    const float *x = r->buf[id];
    int64_t n = fid__numel(r->rank[id], r->dims[id]);
    float lo = r->stat_min[id], hi = r->stat_max[id];
    for (int64_t i = 0; i < n; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    r->stat_min[id] = lo, r->stat_max[id] = hi;
}

static fid_status run_step(fid_runner *r, const step *s, int threads) {
    const fid__node *n = &r->g->nodes[s->node];
    if (s->kind == STEP_PAD) {
        run_pad(r, n, s->node);
        return FID_OK;
    }
    if (s->kind == STEP_POOL) {
        fid__pool_nhwc(&n->a.pool, r->dims[n->inputs[0]], r->buf[n->inputs[0]], r->dims[s->node], r->buf[s->node],
                       threads);
        return FID_OK;
    }
    if (s->kind == STEP_AFFINE) {
        run_affine(r, s);
        return FID_OK;
    }
    if (s->kind == STEP_REFERENCE) return fid__ref_node(r->g, s->node, r->dims, r->rank, r->buf, r->buf[s->node]);
    if (s->copy_residual_from >= 0)
        memcpy(r->buf[s->node], r->buf[s->copy_residual_from],
               (size_t)fid__numel(r->rank[s->node], r->dims[s->node]) * dt_size(r->dt[s->node]));
    for (int m = 0; m < s->n_pre; m++) {
        dnnl_exec_arg_t a[2] = {{DNNL_ARG_FROM, s->pre_mems[2 * m]}, {DNNL_ARG_TO, s->pre_mems[2 * m + 1]}};
        dnnl_status_t ds = dnnl_primitive_execute(s->pre[m], r->stream, 2, a);
        if (ds != dnnl_success)
            return fid__fail(FID_ERR_BACKEND, "oneDNN failed converting for node '%s' (status %d)", n->name, (int)ds);
    }
    dnnl_status_t ds = dnnl_primitive_execute(s->prim, r->stream, s->n_args, s->args);
    if (ds != dnnl_success)
        return fid__fail(FID_ERR_BACKEND, "oneDNN failed on node '%s' (status %d)", n->name, (int)ds);
    return FID_OK;
}

static fid_status run_plan(fid_runner *r, const plan *p, int threads) {
    for (int k = 0; r->stat_max && k < r->g->n_inputs; k++)
        record_range(r, r->g->inputs[k]);
    for (int k = 0; k < p->n_steps; k++) {
        if (k > 0 && r->stat_max) record_range(r, p->steps[k - 1].node);
        fid_status st = run_step(r, &p->steps[k], threads);
        if (st != FID_OK) return st;
    }
    dnnl_stream_wait(r->stream);
    if (r->stat_max && p->n_steps) record_range(r, p->steps[p->n_steps - 1].node);
    return FID_OK;
}

/* "All threads" with the per-layer choice: each step from the plan it runs faster in. The
 * caller has set the OpenMP count to r->threads; a one-thread step sets 1 for itself. */
static fid_status run_mixed(fid_runner *r) {
    for (int k = 0; k < r->plans[0].n_steps; k++) {
        int one = r->one_thread[k];
        if (one) omp_set_num_threads(1);
        fid_status st = run_step(r, one ? &r->plans[1].steps[k] : &r->plans[0].steps[k], one ? 1 : r->threads);
        if (one) omp_set_num_threads(r->threads);
        if (st != FID_OK) return st;
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
    int all = threads == r->threads;
    fid_status st = all && r->one_thread ? run_mixed(r) : run_plan(r, &r->plans[all ? 0 : 1], threads);
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

/* ---------------------------------------------------------------------------------------- */
/* Precision: what the CPU has, the accuracy gate, the choice                               */
/* ---------------------------------------------------------------------------------------- */

static const char *const precision_names[] = {"fp32", "bf16", "int8", "auto"};

const char *fid_precision_name(fid_precision p) {
    return (unsigned)p < sizeof precision_names / sizeof *precision_names ? precision_names[p] : NULL;
}

fid_status fid_precision_from_name(const char *name, fid_precision *p) {
    for (unsigned i = 0; name && i < sizeof precision_names / sizeof *precision_names; i++)
        if (!strcmp(name, precision_names[i])) {
            if (p) *p = (fid_precision)i;
            return FID_OK;
        }
    return fid__fail(FID_ERR_INVALID_ARGUMENT, "unknown precision '%s' (auto, fp32, bf16 or int8)", name ? name : "");
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "unknown";
    }
}

const char *fid_cpu_isa(void) { return isa_name(dnnl_get_effective_cpu_isa()); }

/* oneDNN's own view of the CPU (its ISA levels nest as bit sets), never the CPU's name. */
static int isa_has_bf16(void) {
    return (dnnl_get_effective_cpu_isa() & dnnl_cpu_isa_avx512_core_bf16) == dnnl_cpu_isa_avx512_core_bf16;
}

/* Runs plan 0 (all threads) once; milliseconds. */
static double timed_run(fid_runner *r, fid_status *st) {
    int callers = omp_get_max_threads();
    omp_set_num_threads(r->threads);
    double t0 = now_ms();
    *st = run_plan(r, &r->plans[0], r->threads);
    double ms = now_ms() - t0;
    omp_set_num_threads(callers);
    return ms;
}

/* Fills input 0 of every batch slot with one calibration sample. */
static void fill_input(fid_runner *r, const float *sample, size_t per) {
    size_t count;
    float *in = fid_runner_input(r, 0, &count);
    for (size_t off = 0; off + per <= count; off += per)
        memcpy(in + off, sample, per * sizeof *in);
}

/* Cosine between the two runners' outputs, all outputs taken as one vector. */
static double outputs_cosine(const fid_runner *a, const fid_runner *b) {
    double dot = 0, na = 0, nb = 0;
    for (int k = 0; k < a->g->n_outputs; k++) {
        int id = a->g->outputs[k];
        int64_t n = fid__numel(a->rank[id], a->dims[id]);
        const float *x = a->buf[id], *y = b->buf[id];
        for (int64_t i = 0; i < n; i++) {
            if (!isfinite(x[i]) || !isfinite(y[i])) return -1;
            dot += (double)x[i] * y[i], na += (double)x[i] * x[i], nb += (double)y[i] * y[i];
        }
    }
    if (na == 0 && nb == 0) return 1;
    return na > 0 && nb > 0 ? dot / sqrt(na * nb) : 0;
}

/* Lowest cosine to fp32 over samples first, first + stride, ... (the gate). */
static fid_status gate(fid_runner *ref, fid_runner *cand, const float *x, int first, int stride, int n, size_t per,
                       double *min_cos) {
    fid_status st = FID_OK;
    *min_cos = 1;
    for (int i = first; i < n && st == FID_OK; i += stride) {
        fill_input(ref, x + (size_t)i * per, per);
        fill_input(cand, x + (size_t)i * per, per);
        timed_run(ref, &st);
        if (st == FID_OK) timed_run(cand, &st);
        double c = outputs_cosine(ref, cand);
        if (c < *min_cos) *min_cos = c;
    }
    return st;
}

/* Each runner's fastest of a few interleaved runs on one input (interleaved so that a
 * neighbour's burst costs both alike). */
static fid_status race(fid_runner *ref, fid_runner *cand, const float *x, size_t per, double *ref_ms, double *cand_ms) {
    fid_status st = FID_OK;
    fill_input(ref, x, per);
    fill_input(cand, x, per);
    *ref_ms = *cand_ms = INFINITY;
    double spent = 0;
    for (int round = 0; st == FID_OK && round < 9 && (round < 3 || spent < 300); round++) {
        double a = timed_run(ref, &st);
        double b = st == FID_OK ? timed_run(cand, &st) : 0;
        spent += a + b;
        if (a < *ref_ms) *ref_ms = a;
        if (b < *cand_ms) *cand_ms = b;
    }
    return st;
}

/* The range of every node's values as the fp32 runner meets them on samples first, first + stride...
 * (*lo, *hi: one per node, caller frees). */
static fid_status collect_ranges(fid_runner *ref, const float *x, int first, int stride, int n, size_t per, float **lo,
                                 float **hi) {
    int nn = ref->g->n_nodes;
    *lo = malloc((size_t)nn * sizeof **lo);
    *hi = malloc((size_t)nn * sizeof **hi);
    if (!*lo || !*hi) return fid__fail(FID_ERR_NO_MEMORY, "cannot allocate int8 ranges");
    for (int i = 0; i < nn; i++)
        (*lo)[i] = INFINITY, (*hi)[i] = -INFINITY;
    ref->stat_min = *lo, ref->stat_max = *hi;
    fid_status st = FID_OK;
    for (int i = first; i < n && st == FID_OK; i += stride) {
        fill_input(ref, x + (size_t)i * per, per);
        timed_run(ref, &st);
    }
    ref->stat_min = ref->stat_max = NULL;
    return st;
}

/* An int8 runner whose steps come from ref's ranges on samples first, first + stride, ... */
static fid_runner *build_int8(const fid_net *net, const fid_runner_params *p, fid_runner *ref, const float *x,
                              int first, int stride, int n, size_t per, fid_status *status) {
    float *lo = NULL, *hi = NULL;
    fid_runner *r = NULL;
    fid_status st = collect_ranges(ref, x, first, stride, n, per, &lo, &hi);
    if (st == FID_OK) {
        r = build_runner(net, p, FID_PRECISION_INT8, lo, hi, status);
        if (r) r->smin = r->smax = NULL; /* only the build reads them */
    } else {
        fid__set_status(status, st);
    }
    free(lo);
    free(hi);
    return r;
}

/* A smooth synthetic image in [0, 1] (two of them) for a gate without calibration inputs. */
static float *synthetic_inputs(size_t per, int *n) {
    float *x = malloc(2 * per * sizeof *x);
    if (!x) return NULL;
    for (size_t i = 0; i < 2 * per; i++)
        x[i] = 0.5f + 0.45f * sinf((float)(i % per) * (i < per ? 0.0137f : 0.0291f)) * cosf((float)(i % 7) * 0.9f);
    *n = 2;
    return x;
}

/* What the AUTO choice depends on, hashed (see choice_cache.c). */
static void choice_key(const fid_net *net, const fid_runner_params *p, size_t per, char hex[65]) {
    struct sha256_ctx h;
    uint8_t d[32];
    int64_t dims[4] = {0};
    int rank = fid_net_input_shape(net, 0, dims);
    int ints[5] = {p->batch, p->threads, (int)dnnl_get_effective_cpu_isa(), p->n_calibration, rank};
    /* bump the scheme when what AUTO considers or how it judges changes: a choice made by older
     * rules must not outlive them within one version */
    static const char scheme[] = "auto-v2: bf16 0.999, int8 0.995 on alternate inputs";
    sha256_init(&h);
    sha256_update(&h, sizeof scheme, (const uint8_t *)scheme);
    sha256_update(&h, strlen(fid_version()) + 1, (const uint8_t *)fid_version());
    sha256_update(&h, 32, fid__net_digest(net));
    sha256_update(&h, sizeof p->gate, (const uint8_t *)&p->gate);
    sha256_update(&h, sizeof dims, (const uint8_t *)dims);
    sha256_update(&h, sizeof ints, (const uint8_t *)ints);
    if (p->n_calibration) sha256_update(&h, (size_t)p->n_calibration * per * sizeof(float), (const uint8_t *)p->calibration);
    sha256_digest(&h, sizeof d, d);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}

/* Appends one clause to a note ("; " between clauses). */
static void note_add(char *note, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void note_add(char *note, size_t cap, const char *fmt, ...) {
    size_t len = strlen(note);
    if (len && len + 2 < cap) strcat(note, "; "), len += 2;
    va_list ap;
    va_start(ap, fmt);
    if (len < cap) vsnprintf(note + len, cap - len, fmt, ap);
    va_end(ap);
}

fid_runner *fid_runner_create(const fid_net *net, const fid_runner_params *params, fid_status *status) {
    fid_runner_params p = params ? *params : fid_runner_default_params();
    if (!net || p.batch < 1 || p.batch > 4096 || p.threads < 1 || p.threads > 256 ||
        !fid_precision_name(p.precision) || p.n_calibration < 0 || (p.n_calibration > 0 && !p.calibration) ||
        !(p.gate >= 0 && p.gate <= 1)) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_runner_create: need a net, batch 1..4096, "
                                                                    "threads 1..256, a known precision and "
                                                                    "calibration data when a count is given"));
        return NULL;
    }
    const char *isa = isa_name(dnnl_get_effective_cpu_isa());
    if (p.precision == FID_PRECISION_BF16 && !isa_has_bf16()) {
        fid__set_status(status, fid__fail(FID_ERR_UNSUPPORTED, "bf16: oneDNN has no bf16 kernels on this CPU "
                                                               "(its ISA here: %s; bf16 needs AVX-512 BF16 or AMX)",
                                          isa));
        return NULL;
    }
    if (p.precision == FID_PRECISION_INT8 && p.n_calibration == 0) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "int8: needs calibration inputs to set its "
                                                                    "steps (fid_runner_params.calibration)"));
        return NULL;
    }
    if (p.precision == FID_PRECISION_FP32 || p.precision == FID_PRECISION_BF16) {
        fid_runner *r = build_runner(net, &p, p.precision, NULL, NULL, status);
        if (r) snprintf(r->note, sizeof r->note, "%s: asked for", fid_precision_name(p.precision));
        return r;
    }
    fid_runner *ref = build_runner(net, &p, FID_PRECISION_FP32, NULL, NULL, status);
    if (!ref) return NULL;
    size_t count;
    fid_runner_input(ref, 0, &count);
    size_t per = count / (size_t)p.batch;
    /* int8 takes its steps from every other calibration input and is judged on the rest (all of
     * them when there are fewer than 4) */
    int n = p.n_calibration, split = n >= 4;
    if (p.precision == FID_PRECISION_INT8) {
        fid_runner *r = build_int8(net, &p, ref, p.calibration, 0, 1, n, per, status);
        fid_runner_free(ref);
        if (r) snprintf(r->note, sizeof r->note, "int8: asked for (steps from %d calibration inputs)", n);
        return r;
    }
    char key[65], remembered[sizeof ref->note];
    fid_precision cached;
    choice_key(net, &p, per, key);
    if (fid__choice_load(key, &cached, remembered, sizeof remembered)) {
        fid_runner *r = cached == FID_PRECISION_FP32 ? ref
                        : cached == FID_PRECISION_INT8
                            ? (n ? build_int8(net, &p, ref, p.calibration, 0, 1 + split, n, per, status) : NULL)
                            : build_runner(net, &p, cached, NULL, NULL, status);
        if (r) {
            if (r != ref) fid_runner_free(ref);
            snprintf(r->note, sizeof r->note, "%s", remembered);
            return r;
        }
    }
    /* The candidates this CPU and these inputs allow: bf16 where oneDNN has its kernels, int8
     * when there are real calibration inputs (a synthetic image's steps would mean nothing). */
    int synthetic_n = 0;
    float *synthetic = n ? NULL : synthetic_inputs(per, &synthetic_n);
    const float *x = n ? p.calibration : synthetic;
    int nx = n ? n : synthetic_n;
    char why[sizeof ref->note] = "";
    fid_runner *best = ref;
    double best_ms = INFINITY, ref_ms = INFINITY, best_cos = 1;
    fid_status st = x ? FID_OK : fid__fail(FID_ERR_NO_MEMORY, "cannot allocate synthetic inputs");
    if (!isa_has_bf16()) note_add(why, sizeof why, "no bf16 kernels on this CPU (oneDNN ISA %s)", isa);
    if (!n) note_add(why, sizeof why, "int8 not tried (no calibration inputs)");
    for (int c = 0; c < 2 && st == FID_OK; c++) {
        fid_precision cp = c == 0 ? FID_PRECISION_BF16 : FID_PRECISION_INT8;
        if ((cp == FID_PRECISION_BF16 && !isa_has_bf16()) || (cp == FID_PRECISION_INT8 && !n)) continue;
        const char *name = fid_precision_name(cp);
        fid_status bst;
        fid_runner *cand = cp == FID_PRECISION_BF16 ? build_runner(net, &p, cp, NULL, NULL, &bst)
                                                    : build_int8(net, &p, ref, x, 0, 1 + split, nx, per, &bst);
        if (!cand) {
            note_add(why, sizeof why, "%s failed to build: %.80s", name, fid_last_error());
            continue;
        }
        double ms_ref, ms, cos = 0;
        st = race(ref, cand, x, per, &ms_ref, &ms);
        if (ms_ref < ref_ms) ref_ms = ms_ref;
        double bar = p.gate > 0 ? p.gate : cp == FID_PRECISION_BF16 ? 0.999 : 0.995;
        if (st == FID_OK && ms > 0.95 * ms_ref) {
            note_add(why, sizeof why, "%s not faster (%.2f vs %.2f ms)", name, ms, ms_ref);
        } else if (st == FID_OK &&
                   (st = gate(ref, cand, x, cp == FID_PRECISION_INT8 && split, 1 + (cp == FID_PRECISION_INT8 && split),
                              nx, per, &cos)) == FID_OK &&
                   cos < bar) {
            note_add(why, sizeof why, "%s fails the gate (cosine %.5f < %g)", name, cos, bar);
        } else if (st == FID_OK && ms < best_ms) {
            if (best != ref) {
                note_add(why, sizeof why, "%s slower than %s (%.2f ms)", fid_precision_name(best->precision),
                         name, ms);
                fid_runner_free(best);
            }
            best = cand, best_ms = ms, best_cos = cos, cand = NULL;
        } else if (st == FID_OK) {
            note_add(why, sizeof why, "%s slower than %s (%.2f vs %.2f ms)", name,
                     fid_precision_name(best->precision), ms, best_ms);
        }
        fid_runner_free(cand);
    }
    int synthetic_inputs_used = synthetic != NULL;
    free(synthetic);
    if (st != FID_OK) { /* the comparison itself failed: fp32, which works, and why */
        if (best != ref) fid_runner_free(best);
        best = ref;
        snprintf(why, sizeof why, "comparing reduced precision failed: %.120s", fid_last_error());
    }
    if (best == ref) {
        snprintf(ref->note, sizeof ref->note, "fp32: %.190s", why);
    } else {
        snprintf(best->note, sizeof best->note, "%s: %.2fx faster than fp32 (%.2f vs %.2f ms), cosine >= %.5f on %d %s inputs",
                 fid_precision_name(best->precision), ref_ms / best_ms, best_ms, ref_ms, best_cos,
                 best->precision == FID_PRECISION_INT8 && split ? nx / 2 : nx,
                 synthetic_inputs_used ? "synthetic" : "calibration");
        if (why[0]) note_add(best->note, sizeof best->note, "%s", why);
        fid_runner_free(ref);
    }
    if (st == FID_OK) fid__choice_store(key, best->precision, best->note);
    fid__set_status(status, FID_OK);
    return best;
}

void fid__runner_set_note(fid_runner *r, const char *note) { snprintf(r->note, sizeof r->note, "%s", note); }

fid_precision fid_runner_precision(const fid_runner *r, const char **note) {
    if (note) *note = r ? r->note : "";
    return r ? r->precision : FID_PRECISION_FP32;
}

char *fid_runner_describe(const fid_runner *r) {
    if (!r) return NULL;
    size_t cap = 256, len = 0;
    char *out = malloc(cap);
    if (!out) return NULL;
    out[0] = 0;
    for (int k = 0; k < r->plans[0].n_steps; k++) {
        const step *s = &r->plans[0].steps[k];
        const char *impl = "faceid C kernel";
        if (s->kind == STEP_DNNL) {
            const_dnnl_primitive_desc_t pd = NULL;
            impl = dnnl_primitive_get_primitive_desc(s->prim, &pd) == dnnl_success && pd ? impl_name(pd) : "?";
        }
        const char *name = r->g->nodes[s->node].name;
        size_t need = strlen(name) + strlen(impl) + 40;
        if (len + need > cap) {
            char *grown = realloc(out, cap = 2 * cap + need);
            if (!grown) return free(out), NULL;
            out = grown;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s: %s%s\n", name, impl,
                                s->n_pre ? " (+ conversion)" : "");
    }
    return out;
}

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
