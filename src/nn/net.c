#include "nn/net.h"

#include <math.h>
#include <nettle/sha2.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"

fid_net_params fid_net_default_params(void) {
    fid_net_params p = {.format = FID_NET_AUTO, .max_weight_bytes = 1ull << 30};
    return p;
}

const fid__graph *fid__net_graph(const fid_net *net) { return net->graph; }

/* Every loader ends here, so one check covers them all: a NaN or infinite weight would turn
 * every descriptor into NaN, which matches nobody (or, compared carelessly, everybody). */
static fid_status check_and_hash(const fid__graph *g, unsigned char digest[32]) {
    struct sha256_ctx h;
    sha256_init(&h);
    for (int i = 0; i < g->n_nodes; i++) {
        const fid__node *n = &g->nodes[i];
        if (n->op != FID__OP_CONST || !n->data) continue;
        int64_t count = fid__node_numel(n);
        for (int64_t k = 0; k < count; k++)
            if (!isfinite(n->data[k]))
                return fid__fail(FID_ERR_FORMAT, "weight '%s' holds a non-finite value (%g at index %lld)",
                                 n->name ? n->name : "?", n->data[k], (long long)k);
        sha256_update(&h, sizeof n->rank, (const uint8_t *)&n->rank);
        sha256_update(&h, (size_t)n->rank * sizeof *n->dims, (const uint8_t *)n->dims);
        sha256_update(&h, (size_t)count * sizeof *n->data, (const uint8_t *)n->data);
    }
    sha256_digest(&h, 32, digest);
    return FID_OK;
}

const unsigned char *fid__net_digest(const fid_net *net) { return net->digest; }

fid_net *fid__net_from_graph(fid__graph *g, fid_net_format format, const char *path, fid_status *status) {
    unsigned char digest[32];
    fid_status st = check_and_hash(g, digest);
    if (st == FID_OK) st = fid__graph_store_shapes(g);
    if (st == FID_OK) st = fid__graph_optimize(g);
    fid_net *net = NULL;
    if (st == FID_OK) {
        net = calloc(1, sizeof *net);
        if (net) net->path = strdup(path ? path : "");
        if (!net || !net->path) {
            free(net);
            net = NULL;
            st = fid__fail(FID_ERR_NO_MEMORY, "cannot allocate a net");
        }
    }
    if (st != FID_OK) {
        if (path && !strstr(fid_last_error(), path)) fid__error_prefix(path);
        fid__graph_free(g);
        fid__set_status(status, st);
        return NULL;
    }
    net->graph = g;
    net->format = format;
    memcpy(net->digest, digest, sizeof digest);
    fid__set_status(status, FID_OK);
    return net;
}

fid_net *fid_net_load(const char *path, const fid_net_params *params, fid_status *status) {
    fid_net_params p = params ? *params : fid_net_default_params();
    if (!path) {
        fid__set_status(status, fid__fail(FID_ERR_INVALID_ARGUMENT, "fid_net_load: path is NULL"));
        return NULL;
    }
    fid_net_format format = p.format;
    fid__graph *g = NULL;
    fid_status st = format == FID_NET_AUTO ? fid__detect_format(path, &format) : FID_OK;
    if (st != FID_OK) {
        /* detect_format recorded why */
    } else if (format == FID_NET_TFJS_GRAPH) {
        st = fid__load_tfjs_graph(path, &p, &g);
    } else if (format == FID_NET_ONNX) {
        st = fid__load_onnx(path, &p, &g);
    } else if (format == FID_NET_KERAS_VGGFACE_RESNET50) {
        st = fid__load_keras_vggface_resnet50(path, &p, &g);
    } else {
        st = fid__load_faceapi(path, format, &p, &g);
    }
    if (st != FID_OK) {
        fid__graph_free(g);
        fid__set_status(status, st);
        return NULL;
    }
    return fid__net_from_graph(g, format, path, status);
}

void fid_net_free(fid_net *net) {
    if (!net) return;
    fid__graph_free(net->graph);
    free(net->path);
    free(net);
}

int fid_net_input_count(const fid_net *net) { return net ? net->graph->n_inputs : 0; }
int fid_net_output_count(const fid_net *net) { return net ? net->graph->n_outputs : 0; }

const char *fid_net_input_name(const fid_net *net, int index) {
    if (!net || index < 0 || index >= net->graph->n_inputs) return NULL;
    return net->graph->nodes[net->graph->inputs[index]].name;
}

const char *fid_net_output_name(const fid_net *net, int index) {
    if (!net || index < 0 || index >= net->graph->n_outputs) return NULL;
    return net->graph->output_names[index];
}

int fid_net_input_shape(const fid_net *net, int index, int64_t dims[4]) {
    if (!net || index < 0 || index >= net->graph->n_inputs) return -1;
    const fid__node *n = &net->graph->nodes[net->graph->inputs[index]];
    memcpy(dims, n->dims, sizeof n->dims);
    return n->rank;
}

void fid__net_set_input_side(fid_net *net, int side) {
    fid__node *in = &net->graph->nodes[net->graph->inputs[0]];
    if (in->rank == 4) in->dims[1] = in->dims[2] = side;
}

fid_runner *fid__load_private_runner(const char *path, int input_side, int threads,
                                     const fid__precision_policy *policy, fid_net **net, fid_status *status) {
    *net = fid_net_load(path, NULL, status);
    if (!*net) return NULL;
    if (input_side > 0) fid__net_set_input_side(*net, input_side);
    fid_runner_params rp = fid_runner_default_params();
    rp.threads = threads;
    int exact = policy->keep_exact && policy->precision == FID_PRECISION_AUTO;
    rp.precision = exact ? FID_PRECISION_FP32 : policy->precision;
    rp.gate = policy->gate;
    float *calib = NULL;
    if ((rp.precision == FID_PRECISION_AUTO || rp.precision == FID_PRECISION_INT8) && policy->calibration)
        calib = policy->calibration(*net, policy->ctx, &rp.n_calibration);
    rp.calibration = calib;
    if (!calib) rp.n_calibration = 0;
    fid_runner *r = fid_runner_create(*net, &rp, status);
    free(calib);
    if (r && exact) fid__runner_set_note(r, policy->keep_exact);
    if (r) fid__net_release_packed_weights(*net, r);
    return r;
}
