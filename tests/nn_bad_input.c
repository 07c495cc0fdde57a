/* Broken model files: every one must be refused with a status, a one-line message that names
 * the file and the cause, and no crash or leak (ASan run). Files are written to a temp dir. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "faceid.h"

static char dir[256];

static void write_file(const char *name, const void *data, size_t size) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, size, f);
    fclose(f);
}

static void write_text(const char *name, const char *text) { write_file(name, text, strlen(text)); }

static void write_floats(const char *name, size_t count, float value) {
    float *d = malloc(count * sizeof *d);
    for (size_t i = 0; i < count; i++)
        d[i] = value;
    write_file(name, d, count * sizeof *d);
    free(d);
}

/* Loads `name` and expects failure with `status`, the path and `cause` in one line. */
static void expect_fail(const char *name, fid_status status, const char *cause) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    fid_status st = FID_OK;
    fid_net *net = fid_net_load(path, NULL, &st);
    const char *msg = fid_last_error();
    CHECK(net == NULL, "%s: loaded although broken", name);
    CHECK(st == status, "%s: status %d (%s), expected %d; message: %s", name, st, fid_strerror(st), status, msg);
    CHECK(strstr(msg, path) != NULL, "%s: message does not name the file: %s", name, msg);
    CHECK(strstr(msg, cause) != NULL, "%s: message lacks '%s': %s", name, cause, msg);
    CHECK(strchr(msg, '\n') == NULL, "%s: message is more than one line", name);
    fid_net_free(net);
}

/* A valid tiny TF.js graph: x[1,4,4,2] -> Conv2D(3x3, 2->3, SAME) + BiasAdd -> Relu. */
static const char *tfjs_model(const char *conv_op, const char *filter_shape, const char *paths, const char *extra) {
    static char buf[4096];
    snprintf(
        buf, sizeof buf,
        "{\"format\":\"graph-model\",\"modelTopology\":{\"node\":["
        "{\"name\":\"x\",\"op\":\"Placeholder\",\"attr\":{\"shape\":{\"shape\":{\"dim\":[{\"size\":\"-1\"},{\"size\":"
        "\"4\"},{\"size\":\"4\"},{\"size\":\"2\"}]}}}},"
        "{\"name\":\"w\",\"op\":\"Const\"},{\"name\":\"b\",\"op\":\"Const\"},"
        "{\"name\":\"conv\",\"op\":\"%s\",\"input\":[\"x\",\"w\",\"b\"],\"attr\":{\"padding\":{\"s\":\"U0FNRQ==\"},"
        "\"strides\":{\"list\":{\"i\":[\"1\",\"1\",\"1\",\"1\"]}},\"fused_ops\":{\"list\":{\"s\":[\"Qmlhc0FkZA==\"]}}}}"
        ","
        "{\"name\":\"y\",\"op\":\"Relu\",\"input\":[\"conv\"]}%s]},"
        "\"weightsManifest\":[{\"paths\":[%s],\"weights\":["
        "{\"name\":\"w\",\"shape\":%s,\"dtype\":\"float32\"},{\"name\":\"b\",\"shape\":[3],\"dtype\":\"float32\"}]}]}",
        conv_op, extra, paths, filter_shape);
    return buf;
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/faceid-bad-input-XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");

    /* The valid model loads and runs: the broken ones below differ from it in one thing. */
    write_text("ok.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"ok.bin\"", ""));
    write_floats("ok.bin", 3 * 3 * 2 * 3 + 3, 0.5f);
    char path[512];
    snprintf(path, sizeof path, "%s/ok.json", dir);
    fid_status st;
    fid_net *net = fid_net_load(path, NULL, &st);
    CHECK(net != NULL, "valid model refused: %s", fid_last_error());
    fid_runner *r = net ? fid_runner_create(net, NULL, &st) : NULL;
    CHECK(r != NULL && fid_runner_run(r) == FID_OK, "valid model does not run: %s", fid_last_error());
    fid_runner_free(r);
    fid_net_free(net);

    expect_fail("missing.json", FID_ERR_IO, "No such file");
    write_text("broken.json", "{\"modelTopology\": {\"node\": [");
    expect_fail("broken.json", FID_ERR_FORMAT, "line");
    write_text("empty.json", "");
    expect_fail("empty.json", FID_ERR_FORMAT, "line");
    write_text("foreign.json", "{\"hello\": 1}");
    expect_fail("foreign.json", FID_ERR_FORMAT, "neither");

    write_text("trunc.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"trunc.bin\"", ""));
    write_floats("trunc.bin", 20, 0.5f);
    expect_fail("trunc.json", FID_ERR_FORMAT, "truncated");
    write_text("over.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"over.bin\"", ""));
    write_floats("over.bin", 3 * 3 * 2 * 3 + 3 + 1, 0.5f);
    expect_fail("over.json", FID_ERR_FORMAT, "describes");
    write_text("noshard.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"nothere.bin\"", ""));
    expect_fail("noshard.json", FID_ERR_IO, "nothere.bin");
    write_text("escape.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"../../etc/passwd\"", ""));
    expect_fail("escape.json", FID_ERR_FORMAT, "shard path");

    write_text("nan.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"nan.bin\"", ""));
    write_floats("nan.bin", 3 * 3 * 2 * 3 + 3, NAN);
    expect_fail("nan.json", FID_ERR_FORMAT, "NaN");
    write_text("inf.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"inf.bin\"", ""));
    write_floats("inf.bin", 3 * 3 * 2 * 3 + 3, INFINITY);
    expect_fail("inf.json", FID_ERR_FORMAT, "Inf");

    write_text("absurd.json", tfjs_model("_FusedConv2D", "[3,3,2,99999999999]", "\"ok.bin\"", ""));
    expect_fail("absurd.json", FID_ERR_FORMAT, "absurd");
    write_text("mismatch.json", tfjs_model("_FusedConv2D", "[3,3,5,3]", "\"mm.bin\"", ""));
    write_floats("mm.bin", 3 * 3 * 5 * 3 + 3, 0.5f);
    expect_fail("mismatch.json", FID_ERR_SHAPE, "input channels");

    write_text("unknown_op.json", tfjs_model("FancyConv", "[3,3,2,3]", "\"ok.bin\"", ""));
    expect_fail("unknown_op.json", FID_ERR_UNSUPPORTED, "FancyConv");
    write_text("unknown_op2.json", tfjs_model("_FusedConv2D", "[3,3,2,3]", "\"ok.bin\"",
                                              ",{\"name\":\"z\",\"op\":\"Erf\",\"input\":[\"y\"]}"));
    expect_fail("unknown_op2.json", FID_ERR_UNSUPPORTED, "'Erf' (node 'z')");

    /* face-api manifest: right names, wrong byte count / missing entry. */
    write_text("fa.json", "[{\"paths\":[\"fa.bin\"],\"weights\":[{\"name\":\"conv8/filters\",\"shape\":[1,1,4,25],"
                          "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.1,\"min\":-1}}]}]");
    write_floats("fa.bin", 26, 0.5f); /* 104 bytes for 100 uint8 values */
    expect_fail("fa.json", FID_ERR_FORMAT, "describes");
    write_file("fa2.bin",
               "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
               100);
    write_text("fa2.json", "[{\"paths\":[\"fa2.bin\"],\"weights\":[{\"name\":\"conv8/filters\",\"shape\":[1,1,4,25],"
                           "\"dtype\":\"float32\",\"quantization\":{\"dtype\":\"uint8\",\"scale\":0.1,\"min\":-1}}]}]");
    expect_fail("fa2.json", FID_ERR_FORMAT, "conv0/filters");
    write_text("fa3.json", "[{\"paths\":[\"fa2.bin\"],\"weights\":[{\"name\":\"conv8/filters\",\"shape\":[1,1,4,25],"
                           "\"dtype\":\"complex64\"}]}]");
    expect_fail("fa3.json", FID_ERR_UNSUPPORTED, "complex64");

    /* Size limit from the parameters. */
    fid_net_params p = fid_net_default_params();
    p.max_weight_bytes = 16;
    snprintf(path, sizeof path, "%s/ok.json", dir);
    net = fid_net_load(path, &p, &st);
    CHECK(net == NULL && st == FID_ERR_FORMAT && strstr(fid_last_error(), "limit"), "size limit not applied: %s",
          fid_last_error());

    CHECK(fid_net_load(NULL, NULL, &st) == NULL && st == FID_ERR_INVALID_ARGUMENT, "NULL path accepted");
    fid_runner_params bad = {.batch = 0, .threads = 1};
    CHECK(fid_runner_create(NULL, &bad, &st) == NULL && st == FID_ERR_INVALID_ARGUMENT, "bad runner params accepted");

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0, "cleanup");
    return check_summary();
}
