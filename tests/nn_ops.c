/* Randomized op tests: small graphs with random shapes and attributes, run by the oneDNN
 * runner (after load-time folding and fusion) and by the naive reference on the unoptimised
 * graph; every output must agree to 1e-4 relative. Seeds are fixed, so failures reproduce. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "faceid.h"
#include "nn/net.h"
#include "nn/reference.h"

static uint32_t rng;
static uint32_t next_u32(void) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    return rng;
}
static int rand_int(int lo, int hi) { return lo + (int)(next_u32() % (uint32_t)(hi - lo + 1)); }
static float rand_float(void) { return (float)((next_u32() % 20001) / 10000.0 - 1.0); }

static int rand_const(fid__graph *g, int rank, const int64_t *dims) {
    int64_t n = fid__numel(rank, dims);
    float *d = malloc((size_t)(n ? n : 1) * sizeof *d);
    for (int64_t i = 0; i < n; i++)
        d[i] = rand_float();
    return fid__graph_const(g, "c", rank, dims, d);
}

typedef int (*builder_fn)(fid__graph *g, int x, const int64_t *in_dims);

/* Runs the graph built by fn for input dims through both implementations. */
static void run_case(const char *what, int seed, int rank, const int64_t *in_dims, builder_fn fn) {
    fid__graph *graphs[2];
    for (int k = 0; k < 2; k++) {
        rng = (uint32_t)seed * 2654435761u + 1;
        graphs[k] = fid__graph_new();
        int x = fid__graph_input(graphs[k], "x", rank, in_dims);
        int y = fn(graphs[k], x, in_dims);
        CHECK(y >= 0, "%s seed %d: build failed: %s", what, seed, fid_last_error());
        if (y < 0) return;
        fid__graph_mark_output(graphs[k], y, "y");
    }
    int batch = (int)in_dims[0];
    int64_t n = fid__numel(rank, in_dims);
    float *input = malloc((size_t)n * sizeof *input);
    rng = (uint32_t)seed;
    for (int64_t i = 0; i < n; i++)
        input[i] = rand_float() * 3;
    float *want = NULL;
    fid_status st = fid__graph_store_shapes(graphs[1]);
    if (st == FID_OK) st = fid__ref_run(graphs[1], batch, &input, &want);
    CHECK(st == FID_OK, "%s seed %d: reference: %s", what, seed, fid_last_error());
    fid_net *net = fid__net_from_graph(graphs[0], FID_NET_AUTO, what, &st);
    CHECK(net != NULL, "%s seed %d: net: %s", what, seed, fid_last_error());
    fid_runner_params rp = fid_runner_default_params();
    rp.batch = batch;
    rp.threads = 1 + seed % 2;
    fid_runner *r = net ? fid_runner_create(net, &rp, &st) : NULL;
    CHECK(r != NULL, "%s seed %d: runner: %s", what, seed, fid_last_error());
    if (r && want) {
        size_t count;
        memcpy(fid_runner_input(r, 0, &count), input, (size_t)n * sizeof *input);
        CHECK(fid_runner_run(r) == FID_OK, "%s seed %d: run: %s", what, seed, fid_last_error());
        int64_t dims[4];
        int out_rank;
        const float *got = fid_runner_output(r, 0, dims, &out_rank);
        int64_t m = fid__numel(out_rank, dims);
        double worst = 0, scale = 1;
        for (int64_t i = 0; i < m; i++)
            scale = fmax(scale, fabs(want[i]));
        for (int64_t i = 0; i < m; i++)
            worst = fmax(worst, fabs((double)got[i] - want[i]) / scale);
        CHECK(worst <= 1e-4 && !isnan(worst), "%s seed %d: relative error %.3g", what, seed, worst);
        /* 2 threads: the per-layer mix (steps alternately on one thread) computes the same */
        static const uint8_t alternate[2] = {1, 0};
        if (fid__runner_force_one_thread(r, alternate + seed % 2, 2) > 0) {
            memcpy(fid_runner_input(r, 0, &count), input, (size_t)n * sizeof *input);
            CHECK(fid_runner_run(r) == FID_OK, "%s seed %d: mixed run: %s", what, seed, fid_last_error());
            got = fid_runner_output(r, 0, dims, &out_rank);
            worst = 0;
            for (int64_t i = 0; i < m; i++)
                worst = fmax(worst, fabs((double)got[i] - want[i]) / scale);
            CHECK(worst <= 1e-4 && !isnan(worst), "%s seed %d: with steps on one thread: relative error %.3g", what,
                  seed, worst);
        }
    }
    fid_runner_free(r);
    fid_net_free(net);
    fid__graph_free(graphs[1]);
    free(want);
    free(input);
}

static const fid__padding paddings[] = {FID__PAD_SAME, FID__PAD_VALID, FID__PAD_EXPLICIT};

/* conv (plain, grouped or depthwise; stride, dilation, padding) + bias + random post chain */
static int build_conv(fid__graph *g, int x, const int64_t *in) {
    int C = (int)in[3];
    int groups = 1;
    int kind = rand_int(0, 2);
    if (kind == 1) groups = C;                   /* depthwise */
    if (kind == 2 && C % 2 == 0) groups = C / 2; /* grouped */
    int mult = kind == 1 ? rand_int(1, 2) : 1;
    int O = kind == 1 ? C * mult : groups * rand_int(1, 6);
    int k = rand_int(1, 3) * 2 - 1 + rand_int(0, 1) * (kind == 0);
    int64_t wd[4] = {k, k, C / groups, O};
    int w = rand_const(g, 4, wd);
    int64_t bd[1] = {O};
    int b = rand_int(0, 1) ? rand_const(g, 1, bd) : -1;
    fid__padding pad = paddings[rand_int(0, 2)];
    int dilation = rand_int(1, 2);
    if ((k - 1) * dilation + 1 > (in[1] < in[2] ? in[1] : in[2])) pad = FID__PAD_SAME; /* VALID would not fit */
    int y = fid__graph_conv(g, "conv", x, w, b, groups, rand_int(1, 2), pad);
    fid__conv_attr *c = &g->nodes[y].a.conv;
    c->dilation_h = c->dilation_w = dilation;
    if (pad == FID__PAD_EXPLICIT) {
        c->pad_top = rand_int(0, 2), c->pad_bottom = rand_int(0, 2);
        c->pad_left = rand_int(0, 2), c->pad_right = rand_int(0, 2);
    }
    int steps = rand_int(0, 3);
    int64_t sd[1] = {1};
    for (int s = 0; s < steps; s++) {
        switch (rand_int(0, 4)) {
        case 0: y = fid__graph_unary(g, "relu", y, FID__UN_RELU, rand_int(0, 1) ? 0.1f : 0, 0); break;
        case 1: y = fid__graph_unary(g, "clip", y, FID__UN_CLIP, 0, 6); break;
        case 2: y = fid__graph_binary(g, "mul", y, rand_const(g, 1, bd), FID__BIN_MUL); break;
        case 3: y = fid__graph_binary(g, "add", rand_const(g, 1, rand_int(0, 1) ? bd : sd), y, FID__BIN_ADD); break;
        case 4: y = fid__graph_binary(g, "min", y, rand_const(g, 1, sd), FID__BIN_MIN); break;
        }
    }
    return y;
}

/* y = act(conv2(act(conv1(x))) + x): the residual sum post-op, in place or copied */
static int build_residual(fid__graph *g, int x, const int64_t *in) {
    int C = (int)in[3];
    int64_t wd[4] = {3, 3, C, C}, bd[1] = {C};
    int y = fid__graph_conv(g, "conv1", x, rand_const(g, 4, wd), rand_const(g, 1, bd), 1, 1, FID__PAD_SAME);
    y = fid__graph_unary(g, "relu", y, FID__UN_RELU, 0, 0);
    int z = fid__graph_conv(g, "conv2", y, rand_const(g, 4, wd), -1, 1, 1, FID__PAD_SAME);
    z = fid__graph_binary(g, "mul", z, rand_const(g, 1, bd), FID__BIN_MUL);
    int skip = rand_int(0, 1) ? x : y; /* y is read again after the conv: must not be overwritten */
    z = fid__graph_binary(g, "add", rand_int(0, 1) ? z : skip, rand_int(0, 1) ? skip : z, FID__BIN_ADD);
    if (g->nodes[z].inputs[0] == g->nodes[z].inputs[1]) return z;
    z = fid__graph_unary(g, "relu", z, FID__UN_RELU, 0, 0);
    if (skip == y) z = fid__graph_binary(g, "again", z, y, FID__BIN_SUB);
    return z;
}

static int build_pool(fid__graph *g, int x, const int64_t *in) {
    int k = rand_int(1, 3);
    return fid__graph_pool(g, "pool", x, rand_int(0, 1), k, rand_int(1, 3), paddings[rand_int(0, 1)]);
}

static int build_binary(fid__graph *g, int x, const int64_t *in) {
    int64_t d[4];
    memcpy(d, in, sizeof d);
    int shape = rand_int(0, 3);
    int64_t cd[4] = {1, 1, 1, in[3]};
    int other;
    if (shape == 0)
        other = rand_const(g, 4, (d[0] = 1, d)); /* full (batch-broadcast) */
    else if (shape == 1)
        other = rand_const(g, 1, cd + 3); /* per channel */
    else if (shape == 2)
        other = rand_const(g, 4, (cd[2] = in[2], cd)); /* per (w, c) */
    else
        other = fid__graph_unary(g, "exp", x, FID__UN_TANH, 0, 0); /* tensor, same shape */
    int alg = rand_int(0, 5);
    if (alg == FID__BIN_DIV) {
        int a = fid__graph_unary(g, "pos", other, FID__UN_LINEAR, 0.25f, 2.0f); /* keep away from 0 */
        other = a;
    }
    int y = rand_int(0, 1) ? fid__graph_binary(g, "bin", x, other, alg) : fid__graph_binary(g, "bin", other, x, alg);
    /* A chain the optimiser fuses into the binary op (or the runner turns into one affine map). */
    int steps = rand_int(0, 3);
    int64_t cd1[1] = {in[3]}, sd[1] = {1};
    for (int k = 0; k < steps; k++) {
        int c = rand_const(g, 1, rand_int(0, 1) ? cd1 : sd);
        int op = rand_int(0, 4);
        if (op == 4)
            y = fid__graph_unary(g, "relu", y, FID__UN_RELU, 0, 0);
        else if (op == FID__BIN_DIV)
            y = fid__graph_binary(g, "div", y, fid__graph_unary(g, "pos", c, FID__UN_LINEAR, 0.25f, 2.0f), op);
        else
            y = rand_int(0, 1) ? fid__graph_binary(g, "chain", y, c, op) : fid__graph_binary(g, "chain", c, y, op);
    }
    return y;
}

/* Per-channel affine chains (input normalisation): x op c0 op c1 ..., every alg, either side. */
static int build_affine_chain(fid__graph *g, int x, const int64_t *in) {
    int64_t cd[1] = {in[3]}, sd[1] = {1};
    int y = x, steps = rand_int(1, 4);
    for (int k = 0; k < steps; k++) {
        int c = rand_const(g, 1, rand_int(0, 3) ? cd : sd);
        int op = rand_int(0, 3);
        if (op == FID__BIN_DIV) c = fid__graph_unary(g, "pos", c, FID__UN_LINEAR, 0.25f, 2.0f);
        int const_first = op != FID__BIN_DIV && rand_int(0, 1);
        y = const_first ? fid__graph_binary(g, "aff", c, y, op) : fid__graph_binary(g, "aff", y, c, op);
    }
    return y;
}

static int build_unary(fid__graph *g, int x, const int64_t *in) {
    int alg = rand_int(0, 5);
    float alpha = alg == FID__UN_CLIP ? -0.5f : (alg == FID__UN_EXP ? 0 : rand_float());
    float beta = alg == FID__UN_CLIP ? 0.7f : rand_float();
    return fid__graph_unary(g, "un", x, alg, alpha, beta);
}

static int build_matmul(fid__graph *g, int x, const int64_t *in) {
    int64_t flat[2] = {0, -1};
    int f = fid__graph_add(g, FID__OP_IDENTITY, "flat", 1, &x);
    g->nodes[f].a.reshape.rank = 2;
    memcpy(g->nodes[f].a.reshape.dims, flat, sizeof flat);
    int64_t K = in[1] * in[2] * in[3], N = rand_int(1, 40);
    int64_t wd[2] = {K, N}, bd[1] = {N};
    int m = fid__graph_add(g, FID__OP_MATMUL, "mm", 1, &f);
    g->nodes[m].a.matmul.weights = rand_const(g, 2, wd);
    g->nodes[m].a.matmul.bias = rand_int(0, 1) ? rand_const(g, 1, bd) : -1;
    int y = m;
    if (rand_int(0, 1)) y = fid__graph_unary(g, "sig", y, FID__UN_SIGMOID, 0, 0);
    if (rand_int(0, 1)) y = fid__graph_binary(g, "scale", y, rand_const(g, 1, bd), FID__BIN_MUL);
    if (rand_int(0, 1)) {
        int s = fid__graph_add(g, FID__OP_SOFTMAX, "softmax", 1, &y);
        g->nodes[s].a.softmax.axis = 1;
        y = s;
    }
    return y;
}

/* batch 1 (the caller fixes it), so constants can be concatenated with the input */
static int build_concat(fid__graph *g, int x, const int64_t *in) {
    int axis = rand_int(1, 3), n = rand_int(2, 4);
    int ins[4];
    for (int k = 0; k < n; k++) {
        int64_t d[4];
        memcpy(d, in, sizeof d);
        d[axis] = rand_int(1, 5);
        ins[k] = k == 0 ? x : rand_const(g, 4, d);
    }
    if (rand_int(0, 1)) { /* input not first */
        int t = ins[0];
        ins[0] = ins[n - 1];
        ins[n - 1] = t;
    }
    int id = fid__graph_add(g, FID__OP_CONCAT, "concat", n, ins);
    g->nodes[id].a.concat.axis = axis;
    return id;
}

static int build_pad_mean(fid__graph *g, int x, const int64_t *in) {
    int p = fid__graph_add(g, FID__OP_PAD, "pad", 1, &x);
    for (int k = 1; k < 4; k++) {
        g->nodes[p].a.pad.before[k] = rand_int(0, 2);
        g->nodes[p].a.pad.after[k] = rand_int(0, 2);
    }
    g->nodes[p].a.pad.value = rand_int(0, 1) ? 0 : 0.5f;
    if (rand_int(0, 1)) return p;
    int m = fid__graph_add(g, FID__OP_MEAN, "mean", 1, &p);
    g->nodes[m].a.mean.axes_mask = rand_int(1, 7) << 1;
    g->nodes[m].a.mean.keep_dims = rand_int(0, 1);
    return m;
}

int main(void) {
    static const struct {
        const char *name;
        builder_fn fn;
        int cases;
    } ops[] = {
        {"conv", build_conv, 120},     {"residual", build_residual, 30},   {"pool", build_pool, 40},
        {"binary", build_binary, 100}, {"affine", build_affine_chain, 60}, {"unary", build_unary, 30},
        {"matmul", build_matmul, 30},  {"concat", build_concat, 20},       {"pad_mean", build_pad_mean, 30},
    };
    /* runners set OpenMP's thread count for themselves only: the caller's own setting stays */
    omp_set_num_threads(3);
    for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
        int before = check_failed;
        for (int s = 1; s <= ops[o].cases; s++) {
            rng = (uint32_t)(s * 7919 + (int)o * 104729);
            int64_t d[4] = {rand_int(1, 2), rand_int(3, 12), rand_int(3, 12), rand_int(1, 24)};
            if (!strcmp(ops[o].name, "concat")) d[0] = 1;
            run_case(ops[o].name, s * 31 + (int)o, 4, d, ops[o].fn);
        }
        printf("%-10s %3d cases, %s\n", ops[o].name, ops[o].cases, check_failed == before ? "ok" : "FAILED");
        CHECK(omp_get_max_threads() == 3, "%s: the caller's OpenMP thread count became %d", ops[o].name,
              omp_get_max_threads());
    }
    return check_summary();
}
