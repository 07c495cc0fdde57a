/* libFuzzer target for the model loaders. Input: the model JSON, a NUL byte, then the bytes of
 * its single weight shard "w.bin"; with FUZZ_ONNX the input is an ONNX file. FUZZ_TFJS selects
 * the TF.js graph loader, else face-api manifests (architecture guessed from the weight names).
 * A model that loads is also compiled and run when its tensors are small. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "faceid.h"
#include "nn/net.h"

static char dir[64];

static void write_all(const char *name, const uint8_t *data, size_t size) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size) fwrite(data, 1, size, f);
    fclose(f);
}

static int small_enough(const fid_net *net) {
    const fid__graph *g = fid__net_graph(net);
    int64_t total = 0;
    for (int i = 0; i < g->n_nodes; i++)
        total += fid__node_numel(&g->nodes[i]);
    return total < (8 << 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/faceid-fuzz-%d", (int)getpid());
        if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0) abort();
    }
    char path[128];
    fid_net_params p = fid_net_default_params();
    p.max_weight_bytes = 1 << 20;
#ifdef FUZZ_ONNX
    write_all("model.onnx", data, size);
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    p.format = FID_NET_ONNX;
#else
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    write_all("model.json", data, json_len);
    write_all("w.bin", nul ? nul + 1 : data, nul ? size - json_len - 1 : 0);
    snprintf(path, sizeof path, "%s/model.json", dir);
#ifdef FUZZ_TFJS
    p.format = FID_NET_TFJS_GRAPH;
#endif
#endif
    fid_status st;
    fid_net *net = fid_net_load(path, &p, &st);
    if (net && small_enough(net)) {
        fid_runner *r = fid_runner_create(net, NULL, &st);
        if (r) {
            size_t n;
            float *in = fid_runner_input(r, 0, &n);
            for (size_t i = 0; in && i < n; i++)
                in[i] = (float)(i % 7);
            fid_runner_run(r);
        }
        fid_runner_free(r);
    }
    fid_net_free(net);
    return 0;
}
