/*
 * The network IR: a list of nodes in topological order, one output tensor per node.
 * Tensors are row-major float32; 4-D activations are NHWC (TF order), so loaders for NCHW
 * formats transpose weights once at load. Conv weights are stored HWIO: [KH][KW][I/groups][O].
 */
#ifndef FID_NN_GRAPH_H
#define FID_NN_GRAPH_H

#include <stdint.h>

#include "faceid.h"

#define FID__MAX_RANK 4
#define FID__MAX_POST_OPS 6
/* Largest tensor accepted (1 GiB of float32): anything larger comes from a broken file. */
#define FID__MAX_ELEMENTS ((int64_t)1 << 28)

typedef enum fid__op {
    FID__OP_INPUT,
    FID__OP_CONST,
    FID__OP_IDENTITY, /* output aliases input 0 (Identity, Reshape, Squeeze, fused-away nodes) */
    FID__OP_CONV,     /* inputs: x [, residual for a SUM post-op] */
    FID__OP_POOL,
    FID__OP_BINARY, /* numpy broadcasting */
    FID__OP_UNARY,
    FID__OP_MATMUL, /* x[M,K] · W[K,N] + bias, W const */
    FID__OP_CONCAT,
    FID__OP_PAD,
    FID__OP_MEAN,
    FID__OP_SOFTMAX,
    FID__OP_RESIZE, /* spatial resize of NHWC (ONNX Resize/Upsample semantics) */
} fid__op;

typedef enum fid__resize_coord {
    FID__COORD_HALF_PIXEL,
    FID__COORD_ASYMMETRIC,
    FID__COORD_ALIGN_CORNERS,
    FID__COORD_PYTORCH_HALF_PIXEL,
} fid__resize_coord;

typedef enum fid__resize_round {
    FID__ROUND_PREFER_FLOOR,
    FID__ROUND_PREFER_CEIL,
    FID__ROUND_FLOOR,
    FID__ROUND_CEIL,
} fid__resize_round;

typedef enum fid__unary {
    FID__UN_RELU, /* alpha = negative slope (leaky relu), 0 for plain relu */
    FID__UN_CLIP, /* min(max(x, alpha), beta) */
    FID__UN_SIGMOID,
    FID__UN_TANH,
    FID__UN_EXP,
    FID__UN_LINEAR, /* alpha * x + beta */
} fid__unary;

typedef enum fid__binary {
    FID__BIN_ADD,
    FID__BIN_SUB,
    FID__BIN_MUL,
    FID__BIN_DIV,
    FID__BIN_MIN,
    FID__BIN_MAX,
} fid__binary;

typedef enum fid__post_kind {
    FID__POST_UNARY,  /* y = unary(y) */
    FID__POST_BINARY, /* y = y (op) const node `operand` (scalar or per-channel) */
    FID__POST_SUM,    /* y = y + tensor `operand` of the same shape (residual connection) */
} fid__post_kind;

typedef struct fid__post_op {
    fid__post_kind kind;
    int alg; /* fid__unary or fid__binary */
    float alpha, beta;
    int operand; /* node id for BINARY and SUM */
} fid__post_op;

typedef enum fid__padding { FID__PAD_EXPLICIT, FID__PAD_SAME, FID__PAD_VALID } fid__padding;

typedef struct fid__conv_attr {
    int weights, bias; /* const node ids; bias -1 when absent */
    int kh, kw, groups, out_channels;
    int stride_h, stride_w, dilation_h, dilation_w;
    fid__padding padding;
    int pad_top, pad_bottom, pad_left, pad_right; /* explicit, or computed from SAME */
} fid__conv_attr;

typedef struct fid__pool_attr {
    int is_max;
    int kh, kw, stride_h, stride_w;
    fid__padding padding;
    int pad_top, pad_bottom, pad_left, pad_right;
} fid__pool_attr;

typedef struct fid__node {
    fid__op op;
    char *name;
    int n_inputs;
    int *inputs;
    int rank;
    int64_t dims[FID__MAX_RANK];
    float *data; /* CONST: owned values */
    int n_post;
    fid__post_op post[FID__MAX_POST_OPS];
    union {
        fid__conv_attr conv;
        fid__pool_attr pool;
        struct {
            int alg;
            float alpha, beta;
        } unary;
        struct {
            int alg;
        } binary;
        struct {
            int weights, bias;
        } matmul;
        struct {
            int axis;
        } concat;
        struct {
            int before[FID__MAX_RANK], after[FID__MAX_RANK];
            float value;
        } pad;
        struct {
            int axes_mask;
            int keep_dims;
        } mean;
        struct {
            int axis;
        } softmax;
        struct {
            int out_h, out_w;       /* > 0: the output size; else from the scales */
            float scale_h, scale_w; /* output / input */
            int linear;             /* 0 nearest, 1 bilinear */
            int coord;              /* fid__resize_coord */
            int round;              /* fid__resize_round (nearest) */
        } resize;
        /* IDENTITY with a new shape: -1 is inferred, 0 keeps the input's dimension */
        struct {
            int rank;
            int64_t dims[FID__MAX_RANK];
        } reshape;
    } a;
} fid__node;

typedef struct fid__graph {
    fid__node *nodes;
    int n_nodes, cap;
    int n_inputs, n_outputs;
    int inputs[8];
    int outputs[16];
    char *output_names[16];
} fid__graph;

fid__graph *fid__graph_new(void);
void fid__graph_free(fid__graph *g);

/* Appends a node; returns its id or -1 (out of memory; error recorded). `inputs` is copied. */
int fid__graph_add(fid__graph *g, fid__op op, const char *name, int n_inputs, const int *inputs);
/* A constant of the given shape; takes ownership of data (malloc'ed). */
int fid__graph_const(fid__graph *g, const char *name, int rank, const int64_t *dims, float *data);
int fid__graph_input(fid__graph *g, const char *name, int rank, const int64_t *dims);
int fid__graph_mark_output(fid__graph *g, int node, const char *name);

int64_t fid__numel(int rank, const int64_t *dims);
static inline int64_t fid__node_numel(const fid__node *n) { return fid__numel(n->rank, n->dims); }

/* Convenience builders used by the loaders (return node id or -1). */
int fid__graph_conv(fid__graph *g, const char *name, int x, int weights, int bias, int groups, int stride,
                    fid__padding padding);
int fid__graph_unary(fid__graph *g, const char *name, int x, fid__unary alg, float alpha, float beta);
int fid__graph_binary(fid__graph *g, const char *name, int a, int b, fid__binary alg);
int fid__graph_pool(fid__graph *g, const char *name, int x, int is_max, int k, int stride, fid__padding padding);

/* Infers every node's dims for the given batch size (dims[0] of rank >= 2 inputs) into
 * dims[n_nodes][4] / rank, reading the graph only. */
fid_status fid__graph_infer_shapes(const fid__graph *g, int batch, int64_t (*dims)[FID__MAX_RANK], int *rank);
/* The same for batch 1, stored in the nodes: while a graph is built, before anything shares it. */
fid_status fid__graph_store_shapes(fid__graph *g);

/* Load-time rewrites that keep results identical up to float rounding: constant folding,
 * per-channel scale/shift folded into conv weights, activations/constants/residuals fused
 * into conv and matmul post-ops, identities removed. Shapes must be inferred first. */
fid_status fid__graph_optimize(fid__graph *g);

/* Node id that actually holds node's data (follows IDENTITY chains). */
int fid__graph_root(const fid__graph *g, int node);

/* Number of multiply-add based flops for a node at the given dims (for reporting). */
double fid__node_flops(const fid__graph *g, int node, int64_t (*dims)[FID__MAX_RANK]);

#endif
