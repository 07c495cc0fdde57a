#!/usr/bin/python3
"""Random-weight test models built with Debian's python3-onnx, and their reference outputs from
an independent implementation (OpenCV DNN, python3-opencv).

  onnx_models.py [--small] OUTDIR     (--small: only the small graphs, e.g. as fuzzing seeds)

Writes, for each model NAME: NAME.onnx, NAME.input.f32 (NCHW float32), NAME.ref.f32 (OpenCV's
output) and NAME.json (shapes). Also vggface2_resnet50.h5: the same weights as
vggface2_resnet50.onnx in keras-vggface's RESNET50 layout and layer names (Keras HDF5 weights
format, written with python3-h5py), for the h5 loader.

Models:
  vggface2_resnet50  keras-vggface's RESNET50 (conv1/7x7_s2 ... conv5_3_1x1_increase, avg_pool),
                     2048-d output; BN separate (eps 1e-3 as Keras), stride on the 1x1 reduce.
  arcface_small      BN, PReLU, a strided conv stack, BN, Dropout, Flatten of a 7x7 map, Gemm
                     (transB), Identity, MatMul by a Constant node, BN on [N, 128]: the
                     ArcFace/insightface head.
  ops (opset 10)     NHWC input transposed to NCHW, depthwise and dilated convs, Pad, AveragePool
                     with pads, Clip, Sigmoid, LeakyRelu, per-channel Mul/Sub/Div, Concat on
                     channels, a Shape->Gather->Unsqueeze->Concat->Reshape chain, Softmax.
"""
import json
import os
import sys

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20261127)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def const(self, name, arr):
        self.inits.append(numpy_helper.from_array(np.asarray(arr), name))
        return name

    def op(self, op, inputs, name=None, **attrs):
        self.n += 1
        name = name or f"{op.lower()}_{self.n}"
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, x, cin, cout, k, stride=1, pads=None, name=None, group=1, dilation=1, bias=True, weights=None):
        w = weights if weights is not None else (
            rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / (cin // group * k * k))).astype(np.float32)
        ins = [x, self.const((name or f"w{self.n}") + "_W", w)]
        if bias:
            ins.append(self.const((name or f"w{self.n}") + "_B", (rng.standard_normal(cout) * 0.1).astype(np.float32)))
        p = pads if pads is not None else [k // 2 * dilation] * 4
        return self.op("Conv", ins, name=name, kernel_shape=[k, k], strides=[stride, stride], pads=p, group=group,
                       dilations=[dilation, dilation])

    def bn(self, x, c, name=None, eps=1e-5, params=None):
        g, b, m, v = params if params is not None else bn_params(c)
        base = name or f"bn{self.n}"
        ins = [x, self.const(base + "_g", g), self.const(base + "_b", b), self.const(base + "_m", m),
               self.const(base + "_v", v)]
        return self.op("BatchNormalization", ins, name=name, epsilon=eps)

    def model(self, inp, shape, out, out_shape, opset=13):
        graph = helper.make_graph(self.nodes, "g", [helper.make_tensor_value_info(inp, TensorProto.FLOAT, shape)],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)], self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="faceid-tests")
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def bn_params(c):
    return ((0.5 + 0.5 * rng.random(c)).astype(np.float32), (rng.standard_normal(c) * 0.1).astype(np.float32),
            (rng.standard_normal(c) * 0.1).astype(np.float32), (0.5 + rng.random(c)).astype(np.float32))


def vggface2_resnet50():
    """keras-vggface RESNET50 with random weights; returns the ONNX model and the Keras weights."""
    b = Builder()
    keras = {}  # layer name -> list of (weight name, array) in Keras order

    def conv_bn(x, cin, cout, k, stride, name, pads, relu):
        w = (rng.standard_normal((cout, cin, k, k)) * np.sqrt(2.0 / (cin * k * k))).astype(np.float32)
        # keras kernel: (KH, KW, I, O)
        keras[name] = [("kernel:0", w.transpose(2, 3, 1, 0))]
        y = b.conv(x, cin, cout, k, stride, pads=pads, name=name, bias=False, weights=w)
        g, be, m, v = bn_params(cout)
        keras[name + "/bn"] = [("gamma:0", g), ("beta:0", be), ("moving_mean:0", m), ("moving_variance:0", v)]
        y = b.bn(y, cout, name=name + "/bn", eps=1e-3, params=(g, be, m, v))
        return b.op("Relu", [y]) if relu else y

    x = conv_bn("input", 3, 64, 7, 2, "conv1/7x7_s2", [2, 2, 3, 3], True)  # Keras 'same' at 224: 2 before, 3 after
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    cin = 64
    for stage, (f1, f3, blocks) in enumerate([(64, 256, 3), (128, 512, 4), (256, 1024, 6), (512, 2048, 3)], start=2):
        for block in range(1, blocks + 1):
            stride = 1 if stage == 2 or block > 1 else 2
            p = f"conv{stage}_{block}"
            y = conv_bn(x, cin, f1, 1, stride, p + "_1x1_reduce", [0, 0, 0, 0], True)
            y = conv_bn(y, f1, f1, 3, 1, p + "_3x3", [1, 1, 1, 1], True)
            y = conv_bn(y, f1, f3, 1, 1, p + "_1x1_increase", [0, 0, 0, 0], False)
            short = conv_bn(x, cin, f3, 1, stride, p + "_1x1_proj", [0, 0, 0, 0], False) if block == 1 else x
            x = b.op("Relu", [b.op("Add", [y, short])])
            cin = f3
    x = b.op("AveragePool", [x], name="avg_pool", kernel_shape=[7, 7], strides=[7, 7])
    x = b.op("Flatten", [x], name="flatten", axis=1)
    return b.model("input", [1, 3, 224, 224], x, [1, 2048]), keras


def arcface_small():
    b = Builder()
    x = b.conv("input", 3, 32, 3, 1, name="conv0")
    x = b.bn(x, 32)
    x = b.op("PRelu", [x, b.const("prelu0_slope", (0.25 + 0.1 * rng.random((32, 1, 1))).astype(np.float32))])
    for i, (cin, cout) in enumerate([(32, 64), (64, 64), (64, 64), (64, 64)]):
        x = b.conv(x, cin, cout, 3, 2, name=f"conv{i + 1}")
        x = b.bn(x, cout)
        x = b.op("PRelu", [x, b.const(f"prelu{i + 1}_slope", (0.25 * rng.random((cout, 1, 1))).astype(np.float32))])
    x = b.bn(x, 64)
    x = b.op("Dropout", [x])
    x = b.op("Flatten", [x])  # 64 x 7 x 7: the row order matters
    w = (rng.standard_normal((128, 64 * 7 * 7)) / np.sqrt(64 * 7 * 7)).astype(np.float32)
    x = b.op("Gemm", [x, b.const("fc_W", w), b.const("fc_B", (rng.standard_normal(128) * 0.1).astype(np.float32))],
             transB=1)
    x = b.op("Identity", [x])
    w2 = b.op("Constant", [], value=numpy_helper.from_array((rng.standard_normal((128, 128)) / 11).astype(np.float32)))
    x = b.op("MatMul", [x, w2])
    x = b.bn(x, 128)
    return b.model("input", [1, 3, 112, 112], x, [1, 128])


def ops():
    b = Builder()
    x = b.op("Transpose", ["input"], perm=[0, 3, 1, 2])  # an NHWC input, as TF exports do
    x = b.conv(x, 3, 16, 3, 1, name="c1")
    x = b.op("LeakyRelu", [x], alpha=0.1)
    d = b.conv(x, 16, 16, 3, 1, name="dw", group=16)
    d = b.op("Clip", [d], min=-1.0, max=2.0)
    e = b.conv(x, 16, 8, 3, 1, name="dil", dilation=2)
    e = b.op("Sigmoid", [e])
    e = b.op("Mul", [e, b.const("scale", (1 + rng.random((8, 1, 1))).astype(np.float32))])
    e = b.op("Sub", [e, b.const("shift", rng.random((1, 8, 1, 1)).astype(np.float32))])
    e = b.op("Div", [e, b.const("two", np.float32(2.0))])
    x = b.op("Concat", [d, e], axis=1)  # 24 channels
    x = b.op("Pad", [x], pads=[0, 0, 1, 2, 0, 0, 1, 0], mode="constant")
    # no pads here: OpenCV 4.6 divides by the padded window (ONNX says count_include_pad=0)
    x = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    x = b.op("GlobalAveragePool", [x])
    shape = b.op("Shape", [x])
    batch = b.op("Gather", [shape, b.const("zero", np.array(0, np.int64))], axis=0)
    batch = b.op("Unsqueeze", [batch], axes=[0])
    target = b.op("Concat", [batch, b.const("minus1", np.array([-1], np.int64))], axis=0)
    x = b.op("Reshape", [x, target])
    x = b.op("Gemm", [x, b.const("fc", rng.standard_normal((10, 24)).astype(np.float32)),
                      b.const("fcb", (rng.standard_normal(10) * 0.1).astype(np.float32))], transB=1)  # OpenCV 4.6 ignores alpha
    x = b.op("Softmax", [x], axis=1)
    return b.model("input", [1, 40, 48, 3], x, [1, 10], opset=10)  # attribute forms of Clip, Pad, Unsqueeze


def resize():
    """An FPN-style upsampling path (YuNet/SCRFD detectors): nearest x2 by scales, bilinear to
    explicit sizes (half_pixel), added to a lateral branch; a 4-D NCHW output."""
    b = Builder()
    x = b.conv("input", 3, 8, 3, 2, name="down")  # 24x32 -> 12x16
    up = b.op("Resize", [x, b.const("roi", np.zeros(0, np.float32)), b.const("scales", np.array([1, 1, 2, 2], np.float32))],
              mode="nearest")
    lat = b.conv("input", 3, 8, 1, 1, name="lateral", pads=[0, 0, 0, 0])
    x = b.op("Add", [up, lat])
    x = b.op("Resize", [x, b.const("roi2", np.zeros(0, np.float32)), b.const("noscales", np.zeros(0, np.float32)),
                        b.const("sizes", np.array([1, 8, 36, 44], np.int64))], mode="linear",
             coordinate_transformation_mode="half_pixel")
    return b.model("input", [1, 3, 24, 32], x, [1, 8, 36, 44])


def write(outdir, name, model, shape):
    path = os.path.join(outdir, name + ".onnx")
    onnx.save(model, path)
    x = rng.standard_normal(shape).astype(np.float32)
    if name == "vggface2_resnet50":  # an image-like input: preprocess_input(version=2) of pixels
        x = (rng.random(shape) * 255 - 110).astype(np.float32)
    net = cv2.dnn.readNetFromONNX(path)
    net.setInput(x)
    ref = net.forward().astype(np.float32)
    x.tofile(os.path.join(outdir, name + ".input.f32"))
    ref.tofile(os.path.join(outdir, name + ".ref.f32"))
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump({"input": list(shape), "output": list(ref.shape)}, f)


def write_keras_h5(path, weights):
    """Keras' save_weights HDF5 layout: root attrs layer_names; per layer a group with attr
    weight_names and datasets at <layer>/<weight> (a '/' in a layer name nests groups)."""
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [n.encode() for n in weights]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for layer, ws in weights.items():
            g = f.create_group(layer)
            names = [f"{layer}/{w}" for w, _ in ws]
            g.attrs["weight_names"] = [n.encode() for n in names]
            for n, (_, arr) in zip(names, ws):
                g.create_dataset(n, data=arr)


def main():
    small = sys.argv[1] == "--small"
    outdir = sys.argv[-1]
    os.makedirs(outdir, exist_ok=True)
    if not small:
        m, keras = vggface2_resnet50()
        write(outdir, "vggface2_resnet50", m, [1, 3, 224, 224])
        write_keras_h5(os.path.join(outdir, "vggface2_resnet50.h5"), keras)
        write(outdir, "arcface_small", arcface_small(), [1, 3, 112, 112])
    write(outdir, "ops", ops(), [1, 40, 48, 3])
    write(outdir, "resize", resize(), [1, 3, 24, 32])
    # refused with a clear error: an op faceid does not run, and an h5 of another architecture
    b = Builder()
    b.op("Hardmax", ["input"], name="the_hardmax")
    onnx.save(b.model("input", [1, 10], "the_hardmax_out", [1, 10]), os.path.join(outdir, "unsupported.onnx"))
    write_keras_h5(os.path.join(outdir, "not_vggface.h5"),
                   {"dense_1": [("kernel:0", np.zeros((4, 4), np.float32)), ("bias:0", np.zeros(4, np.float32))]})


if __name__ == "__main__":
    main()
