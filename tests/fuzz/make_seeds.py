#!/usr/bin/python3
"""Writes the committed seed corpora for fuzz_model (tests/fuzz/corpus/{tfjs,faceapi}/): small
valid models in the fuzzer's input format (JSON, NUL, weight bytes)."""
import json
import os
import struct

here = os.path.dirname(os.path.abspath(__file__))


def b64(s):
    import base64
    return base64.b64encode(s.encode()).decode()


def floats(n, v=0.25):
    return struct.pack("<%df" % n, *[v * ((i % 7) - 3) for i in range(n)])


def node(name, op, inputs=(), **attr):
    return {"name": name, "op": op, "input": list(inputs), "attr": attr}


def ints(*v):
    return {"list": {"i": [str(x) for x in v]}}


def tfjs(nodes, weights, data):
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": [{"paths": ["w.bin"], "weights": weights}]}
    return json.dumps(model).encode() + b"\0" + data


def placeholder(h, w, c):
    return node("x", "Placeholder", shape={"shape": {"dim": [{"size": "-1"}, {"size": str(h)}, {"size": str(w)}, {"size": str(c)}]}})


def w(name, shape, dtype="float32", quant=None):
    e = {"name": name, "shape": shape, "dtype": dtype}
    if quant:
        e["quantization"] = quant
    return e


seeds = {}
same = {"s": b64("SAME")}
valid = {"s": b64("VALID")}
seeds["tfjs/conv_relu"] = tfjs(
    [placeholder(5, 5, 2), node("w", "Const"), node("b", "Const"),
     node("conv", "_FusedConv2D", ["x", "w", "b"], padding=same, strides=ints(1, 1, 1, 1),
          fused_ops={"list": {"s": [b64("BiasAdd"), b64("Relu")]}}),
     node("y", "Relu6", ["conv"])],
    [w("w", [3, 3, 2, 3]), w("b", [3])], floats(3 * 3 * 2 * 3 + 3))
seeds["tfjs/dw_pool_dense"] = tfjs(
    [placeholder(6, 6, 3), node("dw", "Const"), node("shape", "Const"), node("m", "Const"), node("mb", "Const"),
     node("d", "DepthwiseConv2dNative", ["x", "dw"], padding=valid, strides=ints(1, 1, 1, 1)),
     node("p", "MaxPool", ["d"], padding=same, ksize=ints(1, 2, 2, 1), strides=ints(1, 2, 2, 1)),
     node("r", "Reshape", ["p", "shape"]),
     node("fc", "_FusedMatMul", ["r", "m", "mb"], fused_ops={"list": {"s": [b64("BiasAdd")]}}),
     node("s", "Softmax", ["fc"])],
    [w("dw", [3, 3, 3, 1], quant={"dtype": "float16"}), w("shape", [2], "int32"),
     w("m", [12, 4], quant={"dtype": "uint8", "scale": 0.01, "min": -1}), w("mb", [4])],
    b"\x00\x3c" * 27 + struct.pack("<2i", -1, 12) + bytes(range(48)) + floats(4))
seeds["tfjs/pad_concat_mean"] = tfjs(
    [placeholder(4, 4, 2), node("pads", "Const"), node("axis", "Const"), node("axes", "Const"),
     node("pd", "Pad", ["x", "pads"]), node("c", "ConcatV2", ["pd", "pd", "axis"]),
     node("mn", "Mean", ["c", "axes"], keep_dims={"b": False}), node("sg", "Sigmoid", ["mn"])],
    [w("pads", [4, 2], "int32"), w("axis", [], "int32"), w("axes", [2], "int32")],
    struct.pack("<8i", 0, 0, 1, 1, 1, 1, 0, 0) + struct.pack("<i", 3) + struct.pack("<2i", 1, 2))


def faceapi(weights, data):
    return json.dumps([{"paths": ["w.bin"], "weights": weights}]).encode() + b"\0" + data


q = {"dtype": "uint8", "scale": 0.004, "min": -0.5}
tiny = [w("conv0/filters", [3, 3, 3, 4], quant=q), w("conv0/bias", [4], quant=q)]
chans = [4, 4, 4, 4, 4, 4]
for i in range(1, 6):
    tiny += [w(f"conv{i}/depthwise_filter", [3, 3, chans[i - 1], 1], quant=q),
             w(f"conv{i}/pointwise_filter", [1, 1, chans[i - 1], chans[i]], quant=q), w(f"conv{i}/bias", [chans[i]], quant=q)]
tiny += [w("conv8/filters", [1, 1, 4, 25], quant=q), w("conv8/bias", [25], quant=q)]
size = sum(__import__("math").prod(e["shape"]) for e in tiny)
seeds["faceapi/tiny_face_detector"] = faceapi(tiny, bytes((i * 37) % 256 for i in range(size)))
lm = []
for b, c in enumerate([4, 4, 4]):
    cin = 3 if b == 0 else 4
    if b == 0:
        lm += [w("dense0/conv0/filters", [3, 3, 3, 4], quant=q), w("dense0/conv0/bias", [4], quant=q)]
    else:
        lm += [w(f"dense{b}/conv0/depthwise_filter", [3, 3, 4, 1], quant=q),
               w(f"dense{b}/conv0/pointwise_filter", [1, 1, 4, 4], quant=q), w(f"dense{b}/conv0/bias", [4], quant=q)]
    for k in (1, 2):
        lm += [w(f"dense{b}/conv{k}/depthwise_filter", [3, 3, 4, 1], quant=q),
               w(f"dense{b}/conv{k}/pointwise_filter", [1, 1, 4, 4], quant=q), w(f"dense{b}/conv{k}/bias", [4], quant=q)]
lm += [w("fc/weights", [4, 136], quant=q), w("fc/bias", [136], quant=q)]
size = sum(__import__("math").prod(e["shape"]) for e in lm)
seeds["faceapi/landmark68_tiny"] = faceapi(lm, bytes((i * 11) % 256 for i in range(size)))

for name, data in seeds.items():
    path = os.path.join(here, "corpus", name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}: {len(data)} bytes")
