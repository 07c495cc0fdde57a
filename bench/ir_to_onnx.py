#!/usr/bin/python3
"""Builds an ONNX graph (NCHW, opset 13) from faceid's IR dump (bench/ir_export), carrying the
same weights, so ONNX Runtime runs exactly the network faceid runs.

    ir_to_onnx.py IR_PREFIX OUT.onnx

Input and 4-D outputs stay NHWC at the graph boundary (a Transpose each), so results can be
compared element for element with faceid's."""
import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OP_INPUT, OP_CONST, OP_IDENTITY, OP_CONV, OP_POOL, OP_BINARY, OP_UNARY, OP_MATMUL, OP_CONCAT, OP_PAD, OP_MEAN, OP_SOFTMAX = range(12)
UN_RELU, UN_CLIP, UN_SIGMOID, UN_TANH, UN_EXP, UN_LINEAR = range(6)
BIN_NAMES = ["Add", "Sub", "Mul", "Div", "Min", "Max"]
POST_UNARY, POST_BINARY, POST_SUM = range(3)
NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


class Builder:
    def __init__(self, ir, weights):
        self.ir = ir
        self.nodes = {n["id"]: n for n in ir["nodes"]}
        self.w = weights
        self.onnx_nodes = []
        self.inits = []
        self.names = {}  # IR id -> ONNX value name (NCHW for rank-4 tensors)
        self.counter = 0

    def fresh(self, base):
        self.counter += 1
        return f"{base}_{self.counter}"

    def const_array(self, node_id):
        n = self.nodes[node_id]
        count = int(np.prod(n["dims"])) if n["dims"] else 1
        return self.w[n["offset"]:n["offset"] + count].reshape(n["dims"] if n["dims"] else ())

    def init(self, array, base="c"):
        name = self.fresh(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array.astype(np.float32)), name))
        return name

    def add(self, op, inputs, **attrs):
        out = self.fresh(op)
        self.onnx_nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def rank(self, node_id):
        return len(self.nodes[node_id]["dims"])

    def value(self, node_id):
        if node_id in self.names:
            return self.names[node_id]
        n = self.nodes[node_id]
        if n["op"] == OP_CONST:
            a = self.const_array(node_id)
            if a.ndim == 4:
                a = a.transpose(0, 3, 1, 2)
            self.names[node_id] = self.init(a, "const")
            return self.names[node_id]
        raise KeyError(f"node {node_id} used before it was built")

    def operand(self, node_id, out_rank):
        """A constant operand broadcast against an NCHW tensor of rank out_rank."""
        a = self.const_array(node_id)
        if out_rank == 4:
            if a.ndim == 4:
                a = a.transpose(0, 3, 1, 2)
            elif a.size > 1:  # per-channel (last NHWC axis)
                a = a.reshape(-1, 1, 1)
        return self.init(a, "operand")

    def unary(self, x, alg, alpha, beta):
        if alg == UN_RELU:
            return self.add("Relu", [x]) if alpha == 0 else self.add("LeakyRelu", [x], alpha=alpha)
        if alg == UN_CLIP:
            return self.add("Clip", [x, self.init(np.array(alpha)), self.init(np.array(beta))])
        if alg == UN_SIGMOID:
            return self.add("Sigmoid", [x])
        if alg == UN_TANH:
            return self.add("Tanh", [x])
        if alg == UN_EXP:
            return self.add("Exp", [x])
        return self.add("Add", [self.add("Mul", [x, self.init(np.array(alpha))]), self.init(np.array(beta))])

    def post_ops(self, x, n, out_rank):
        for p in n["post"]:
            if p["kind"] == POST_UNARY:
                x = self.unary(x, p["alg"], p["alpha"], p["beta"])
            elif p["kind"] == POST_BINARY:
                x = self.add(BIN_NAMES[p["alg"]], [x, self.operand(p["operand"], out_rank)])
            else:
                x = self.add("Add", [x, self.value(p["operand"])])
        return x

    def to_nhwc(self, x):
        return self.add("Transpose", [x], perm=[0, 2, 3, 1])

    def to_nchw(self, x):
        return self.add("Transpose", [x], perm=[0, 3, 1, 2])

    def build_node(self, nid):
        n = self.nodes[nid]
        op, a, ins = n["op"], n.get("attr", {}), n["inputs"]
        rank = len(n["dims"])
        if op == OP_CONV:
            w = self.const_array(a["weights"]).transpose(3, 2, 0, 1)  # HWIO -> OIHW
            inputs = [self.value(ins[0]), self.init(w, "W")]
            if a["bias"] >= 0:
                inputs.append(self.init(self.const_array(a["bias"]), "B"))
            p = a["pads"]
            y = self.add("Conv", inputs, group=a["groups"], strides=a["strides"], dilations=a["dilations"],
                         pads=[p[0], p[1], p[2], p[3]], kernel_shape=list(w.shape[2:]))
            return self.post_ops(y, n, 4)
        if op == OP_POOL:
            p = a["pads"]
            kw = dict(kernel_shape=a["kernel"], strides=a["strides"], pads=[p[0], p[1], p[2], p[3]])
            if a["is_max"]:
                return self.add("MaxPool", [self.value(ins[0])], **kw)
            return self.add("AveragePool", [self.value(ins[0])], count_include_pad=0, **kw)
        if op == OP_UNARY:
            return self.unary(self.value(ins[0]), a["alg"], a["alpha"], a["beta"])
        if op == OP_BINARY:
            vals = []
            for i in ins:
                if self.nodes[i]["op"] == OP_CONST:
                    vals.append(self.operand(i, rank))
                else:
                    vals.append(self.value(i))
            return self.add(BIN_NAMES[a["alg"]], vals)
        if op == OP_MATMUL:
            y = self.add("MatMul", [self.value(ins[0]), self.init(self.const_array(a["weights"]), "W")])
            if a["bias"] >= 0:
                y = self.add("Add", [y, self.init(self.const_array(a["bias"]), "B")])
            return self.post_ops(y, n, 2)
        if op == OP_CONCAT:
            axis = NHWC_TO_NCHW_AXIS[a["axis"]] if rank == 4 else a["axis"]
            return self.add("Concat", [self.value(i) for i in ins], axis=axis)
        if op == OP_PAD:
            order = [0, 3, 1, 2] if rank == 4 else list(range(rank))
            pads = [a["before"][k] for k in order] + [a["after"][k] for k in order]
            return self.add("Pad", [self.value(ins[0]), self.int_init(pads)], mode="constant")
        if op == OP_MEAN:
            in_rank = self.rank(ins[0])
            axes = [k for k in range(in_rank) if a["axes_mask"] & (1 << k)]
            if in_rank == 4:
                axes = sorted(NHWC_TO_NCHW_AXIS[k] for k in axes)
            # Reducing H and W leaves (N, C) in both layouts; other reductions of 4-D tensors do not occur.
            return self.add("ReduceMean", [self.value(ins[0])], axes=axes, keepdims=1 if a["keep_dims"] else 0)
        if op == OP_SOFTMAX:
            return self.add("Softmax", [self.value(ins[0])], axis=a["axis"])
        if op == OP_IDENTITY:
            x = self.value(ins[0])
            shape = a.get("reshape", [])
            if not shape:
                return x
            if self.rank(ins[0]) == 4:
                x = self.to_nhwc(x)
            y = self.add("Reshape", [x, self.int_init(shape)])
            return self.to_nchw(y) if rank == 4 else y
        raise NotImplementedError(f"IR op {op} (node {n['name']})")

    def out_shape(self, node_id):
        dims = list(self.nodes[node_id]["dims"])
        if dims:
            dims[0] = 1
        return dims

    def int_init(self, values):
        name = self.fresh("shape")
        self.inits.append(numpy_helper.from_array(np.array(values, dtype=np.int64), name))
        return name

    def build(self):
        order = []
        state = {}

        def visit(i):
            if state.get(i) == 2:
                return
            state[i] = 1
            for k in self.nodes[i]["inputs"]:
                visit(k)
            for p in self.nodes[i]["post"]:
                if p["kind"] == POST_SUM:
                    visit(p["operand"])
            state[i] = 2
            order.append(i)

        for o in self.ir["outputs"]:
            visit(o["id"])
        inp = self.ir["inputs"][0]
        in_dims = list(self.nodes[inp]["dims"])
        in_dims[0] = 1
        graph_in = helper.make_tensor_value_info("input", TensorProto.FLOAT, in_dims)
        self.names[inp] = self.to_nchw("input") if len(in_dims) == 4 else "input"
        for i in order:
            n = self.nodes[i]
            if i in self.names or n["op"] in (OP_INPUT, OP_CONST):
                continue
            self.names[i] = self.build_node(i)
        outputs = []
        for o in self.ir["outputs"]:
            v = self.value(o["id"])
            if self.rank(o["id"]) == 4:
                v = self.to_nhwc(v)
            name = o["name"].replace("/", "_").replace(":", "_")
            self.onnx_nodes.append(helper.make_node("Identity", [v], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, self.out_shape(o["id"])))
        graph = helper.make_graph(self.onnx_nodes, "faceid", [graph_in], outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="faceid ir_to_onnx")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: ir_to_onnx.py IR_PREFIX OUT.onnx")
    prefix, out = sys.argv[1:]
    ir = json.load(open(prefix + ".json"))
    weights = np.fromfile(prefix + ".f32", dtype=np.float32)
    model = Builder(ir, weights).build()
    onnx.save(model, out)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    with open(out + ".json", "w") as f:
        json.dump({"input": dims}, f)


if __name__ == "__main__":
    main()
