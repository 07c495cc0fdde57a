/* Dumps a loaded model's optimised IR (JSON + raw float32 constants) so that
 * bench/ir_to_onnx.py can build the same network, with the same weights, as an ONNX graph for
 * ONNX Runtime.   ir_export MODEL OUT_PREFIX   ->  OUT_PREFIX.json, OUT_PREFIX.f32 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "faceid.h"
#include "nn/net.h"

static json_t *ints(const int64_t *v, int n) {
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ir_export MODEL OUT_PREFIX\n");
        return 2;
    }
    fid_status st;
    fid_net *net = fid_net_load(argv[1], NULL, &st);
    if (!net) {
        fprintf(stderr, "ir_export: %s\n", fid_last_error());
        return 1;
    }
    const fid__graph *g = fid__net_graph(net);
    char path[4096];
    snprintf(path, sizeof path, "%s.f32", argv[2]);
    FILE *wf = fopen(path, "wb");
    if (!wf) {
        perror(path);
        return 1;
    }
    long offset = 0;
    json_t *nodes = json_array();
    for (int i = 0; i < g->n_nodes; i++) {
        const fid__node *n = &g->nodes[i];
        json_t *j = json_object();
        json_object_set_new(j, "id", json_integer(i));
        json_object_set_new(j, "op", json_integer(n->op));
        json_object_set_new(j, "name", json_string(n->name));
        json_object_set_new(j, "dims", ints(n->dims, n->rank));
        json_t *in = json_array();
        for (int k = 0; k < n->n_inputs; k++)
            json_array_append_new(in, json_integer(n->inputs[k]));
        json_object_set_new(j, "inputs", in);
        json_t *post = json_array();
        for (int k = 0; k < n->n_post; k++)
            json_array_append_new(post, json_pack("{s:i,s:i,s:f,s:f,s:i}", "kind", n->post[k].kind, "alg",
                                                  n->post[k].alg, "alpha", n->post[k].alpha, "beta", n->post[k].beta,
                                                  "operand", n->post[k].operand));
        json_object_set_new(j, "post", post);
        switch (n->op) {
        case FID__OP_CONST: {
            if (!n->data) break; /* dropped by the optimiser: nothing live reads it */
            int64_t cnt = fid__node_numel(n);
            fwrite(n->data, sizeof(float), (size_t)cnt, wf);
            json_object_set_new(j, "offset", json_integer(offset));
            offset += cnt;
            break;
        }
        case FID__OP_CONV: {
            const fid__conv_attr *c = &n->a.conv;
            json_object_set_new(j, "attr",
                                json_pack("{s:i,s:i,s:i,s:[i,i],s:[i,i],s:[i,i,i,i]}", "weights", c->weights, "bias",
                                          c->bias, "groups", c->groups, "strides", c->stride_h, c->stride_w,
                                          "dilations", c->dilation_h, c->dilation_w, "pads", c->pad_top, c->pad_left,
                                          c->pad_bottom, c->pad_right));
            break;
        }
        case FID__OP_POOL: {
            const fid__pool_attr *p = &n->a.pool;
            json_object_set_new(j, "attr",
                                json_pack("{s:b,s:[i,i],s:[i,i],s:[i,i,i,i]}", "is_max", p->is_max, "kernel", p->kh,
                                          p->kw, "strides", p->stride_h, p->stride_w, "pads", p->pad_top, p->pad_left,
                                          p->pad_bottom, p->pad_right));
            break;
        }
        case FID__OP_UNARY:
            json_object_set_new(
                j, "attr",
                json_pack("{s:i,s:f,s:f}", "alg", n->a.unary.alg, "alpha", n->a.unary.alpha, "beta", n->a.unary.beta));
            break;
        case FID__OP_BINARY: json_object_set_new(j, "attr", json_pack("{s:i}", "alg", n->a.binary.alg)); break;
        case FID__OP_MATMUL:
            json_object_set_new(j, "attr",
                                json_pack("{s:i,s:i}", "weights", n->a.matmul.weights, "bias", n->a.matmul.bias));
            break;
        case FID__OP_CONCAT: json_object_set_new(j, "attr", json_pack("{s:i}", "axis", n->a.concat.axis)); break;
        case FID__OP_PAD: {
            int64_t b[4], a[4];
            for (int k = 0; k < 4; k++)
                b[k] = n->a.pad.before[k], a[k] = n->a.pad.after[k];
            json_object_set_new(
                j, "attr",
                json_pack("{s:o,s:o,s:f}", "before", ints(b, 4), "after", ints(a, 4), "value", n->a.pad.value));
            break;
        }
        case FID__OP_MEAN:
            json_object_set_new(
                j, "attr", json_pack("{s:i,s:b}", "axes_mask", n->a.mean.axes_mask, "keep_dims", n->a.mean.keep_dims));
            break;
        case FID__OP_SOFTMAX: json_object_set_new(j, "attr", json_pack("{s:i}", "axis", n->a.softmax.axis)); break;
        case FID__OP_IDENTITY:
            json_object_set_new(j, "attr", json_pack("{s:o}", "reshape", ints(n->a.reshape.dims, n->a.reshape.rank)));
            break;
        default: break;
        }
        json_array_append_new(nodes, j);
    }
    fclose(wf);
    json_t *outs = json_array(), *ins = json_array();
    for (int k = 0; k < g->n_outputs; k++)
        json_array_append_new(outs, json_pack("{s:i,s:s}", "id", g->outputs[k], "name", g->output_names[k]));
    for (int k = 0; k < g->n_inputs; k++)
        json_array_append_new(ins, json_integer(g->inputs[k]));
    json_t *root = json_pack("{s:o,s:o,s:o}", "nodes", nodes, "inputs", ins, "outputs", outs);
    snprintf(path, sizeof path, "%s.json", argv[2]);
    if (json_dump_file(root, path, JSON_COMPACT)) {
        fprintf(stderr, "ir_export: cannot write %s\n", path);
        return 1;
    }
    json_decref(root);
    fid_net_free(net);
    return 0;
}
