#!/usr/bin/python3
"""Writes an LLM-shaped decoder of a chosen size as ONNX, for load, run and
flow benchmarks (scripts/bench-llm.sh) and for the load tests of onnx/.

The graph is Llama's layout, written node by node with onnx.helper in the
form torch.onnx gives testdata/quant/decoder (scripts/decoder_fixture.py):
int64 token ids [batch, seq] in, a Gather embedding, pre-norm blocks with
RMSNorm (Pow, ReduceMean, Add, Sqrt, Div, Mul), causal self-attention with
rotary position embeddings (rotate-half with Slice, Neg, Concat) and an
additive causal mask sliced to the sequence, a SwiGLU MLP (x·Sigmoid(x)),
a final RMSNorm and an untied LM head; logits [batch, seq, vocab] out.
Weights are random (normal, std 0.02, seeded), with LLM-style outlier
channels put in function-preservingly: a few RMSNorm weight channels ×60,
the matching input rows of the MatMuls reading them ÷60 (so DMQ has work).

usage: make-llm.py --size 0.1B|0.5B|tiny --out DIR [--seq 128] [--calib N]
writes DIR/model.onnx          fp32, weights inline (refused above 2 GiB)
       DIR/model_ext.onnx      fp32, weights ≥ 1 KiB in DIR/model_ext.onnx.data
       DIR/model_fp16.onnx     fp16 weights and activations (as published
                               LLM exports), inline, or external above 2 GiB
       DIR/calib.npy           int64 [N, seq] random token ids (default N 16)
--only inline,ext,fp16 picks the files.
"""
import argparse
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# name -> (d_model, heads, mlp hidden, layers, vocab)
SIZES = {
    "tiny": (64, 4, 176, 2, 256),  # the decoder fixture's shape, for tests
    "0.1B": (768, 12, 2048, 7, 32000),  # 98.8M parameters
    "0.5B": (1024, 16, 2816, 34, 32000),  # 502M parameters
}
OUTLIERS = (5, 21, 42, 60)
OUTLIER_FACTOR = 60.0
MAX_SEQ = 128


class Builder:
    """Collects nodes and initializers; dtype is the float type of the graph."""

    def __init__(self, dtype):
        self.dtype = dtype
        self.np = np.float16 if dtype == TensorProto.FLOAT16 else np.float32
        self.nodes, self.inits = [], []
        self.count = 0

    def init(self, name, arr, keep=False):
        if arr.dtype.kind == "f" and not keep:
            arr = arr.astype(self.np)
        self.inits.append(numpy_helper.from_array(arr, name))
        return name

    def node(self, op, inputs, name, **attrs):
        out = name + "_out"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out


def rmsnorm(b, x, w, name, eps):
    p = b.node("Pow", [x, "two"], name + "/Pow")
    m = b.node("ReduceMean", [p], name + "/ReduceMean", axes=[-1], keepdims=1)
    e = b.node("Add", [m, eps], name + "/Add")
    s = b.node("Sqrt", [e], name + "/Sqrt")
    y = b.node("Div", [x, s], name + "/Div")
    return b.node("Mul", [y, w], name + "/Mul")


def rotary(b, x, name, tables):
    lo = b.node("Slice", [x, "zero1", "half", "axis3"], name + "/Slice_lo")
    hi = b.node("Slice", [x, "half", "hd", "axis3"], name + "/Slice_hi")
    neg = b.node("Neg", [hi], name + "/Neg")
    rot = b.node("Concat", [neg, lo], name + "/Concat", axis=-1)
    a = b.node("Mul", [x, tables[0]], name + "/Mul_cos")
    c = b.node("Mul", [rot, tables[1]], name + "/Mul_sin")
    return b.node("Add", [a, c], name + "/Add")


def build(size, dtype, seed=0):
    d, heads, hidden, layers, vocab = SIZES[size]
    hd = d // heads
    rng = np.random.default_rng(seed)
    b = Builder(dtype)

    def weight(rows, cols):
        return (rng.standard_normal((rows, cols), dtype=np.float32) * 0.02).astype(np.float32)

    def norm_weight():
        w = np.ones(d, np.float32)
        w[list(OUTLIERS)] *= OUTLIER_FACTOR
        return w

    def reader(rows, cols):
        w = weight(rows, cols)
        w[list(OUTLIERS), :] /= OUTLIER_FACTOR
        return w

    # Pow's exponent may have its own type; a float32 2 also keeps ONNX
    # Runtime's fp16 SimplifiedLayerNormFusion from failing on a shared one.
    b.init("two", np.array(2.0, np.float32), keep=True)
    b.init("eps", np.array(1e-5, np.float32))
    b.init("scale", np.array(1.0 / np.sqrt(hd), np.float32))
    b.init("zero1", np.array([0], np.int64))
    b.init("half", np.array([hd // 2], np.int64))
    b.init("hd", np.array([hd], np.int64))
    b.init("axis3", np.array([3], np.int64))
    b.init("axes01", np.array([0, 1], np.int64))
    b.init("zeros2", np.array([0, 0], np.int64))
    b.init("heads_shape", np.array([0, 0, heads, hd], np.int64))
    b.init("model_shape", np.array([0, 0, d], np.int64))
    inv = 1.0 / 10000.0 ** (np.arange(0, hd, 2, dtype=np.float32) / hd)
    ang = np.arange(MAX_SEQ, dtype=np.float32)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=-1)
    b.init("cos", np.cos(ang))
    b.init("sin", np.sin(ang))
    # -1e4 rather than -1e9 so that the fp16 model has the same mask.
    b.init("mask", np.triu(np.full((MAX_SEQ, MAX_SEQ), -1e4, np.float32), 1))

    # Tables cut to the sequence length, as torch's export slices buffers.
    t = b.node("Shape", ["tokens"], "/Shape", start=1, end=2)
    tables = (b.node("Slice", ["cos", "zero1", t, "zero1"], "/Slice_cos"),
              b.node("Slice", ["sin", "zero1", t, "zero1"], "/Slice_sin"))
    tt = b.node("Concat", [t, t], "/Concat_tt", axis=0)
    mask = b.node("Slice", ["mask", "zeros2", tt, "axes01"], "/Slice_mask")

    b.init("embed.weight", weight(vocab, d))
    x = b.node("Gather", ["embed.weight", "tokens"], "/embed/Gather", axis=0)
    for i in range(layers):
        p = f"/blocks.{i}"
        b.init(f"blocks.{i}.attn_norm.weight", norm_weight())
        z = rmsnorm(b, x, f"blocks.{i}.attn_norm.weight", p + "/attn_norm", "eps")
        qkv = []
        for n in "qkv":
            b.init(f"blocks.{i}.attn.{n}.weight", reader(d, d))
            y = b.node("MatMul", [z, f"blocks.{i}.attn.{n}.weight"], f"{p}/attn/{n}/MatMul")
            y = b.node("Reshape", [y, "heads_shape"], f"{p}/attn/Reshape_{n}")
            qkv.append(b.node("Transpose", [y], f"{p}/attn/Transpose_{n}", perm=[0, 2, 1, 3]))
        q = rotary(b, qkv[0], p + "/attn/rot_q", tables)
        k = rotary(b, qkv[1], p + "/attn/rot_k", tables)
        kt = b.node("Transpose", [k], p + "/attn/Transpose_kt", perm=[0, 1, 3, 2])
        s = b.node("MatMul", [q, kt], p + "/attn/MatMul_qk")
        s = b.node("Mul", [s, "scale"], p + "/attn/Mul_scale")
        s = b.node("Add", [s, mask], p + "/attn/Add_mask")
        a = b.node("Softmax", [s], p + "/attn/Softmax", axis=-1)
        o = b.node("MatMul", [a, qkv[2]], p + "/attn/MatMul_av")
        o = b.node("Transpose", [o], p + "/attn/Transpose_o", perm=[0, 2, 1, 3])
        o = b.node("Reshape", [o, "model_shape"], p + "/attn/Reshape_o")
        b.init(f"blocks.{i}.attn.o.weight", weight(d, d))
        o = b.node("MatMul", [o, f"blocks.{i}.attn.o.weight"], p + "/attn/o/MatMul")
        x = b.node("Add", [x, o], p + "/Add_attn")
        b.init(f"blocks.{i}.mlp_norm.weight", norm_weight())
        z = rmsnorm(b, x, f"blocks.{i}.mlp_norm.weight", p + "/mlp_norm", "eps")
        b.init(f"blocks.{i}.mlp.gate.weight", reader(d, hidden))
        b.init(f"blocks.{i}.mlp.up.weight", reader(d, hidden))
        b.init(f"blocks.{i}.mlp.down.weight", weight(hidden, d))
        g = b.node("MatMul", [z, f"blocks.{i}.mlp.gate.weight"], p + "/mlp/gate/MatMul")
        sg = b.node("Sigmoid", [g], p + "/mlp/Sigmoid")
        g = b.node("Mul", [g, sg], p + "/mlp/Mul_silu")
        u = b.node("MatMul", [z, f"blocks.{i}.mlp.up.weight"], p + "/mlp/up/MatMul")
        h = b.node("Mul", [g, u], p + "/mlp/Mul")
        h = b.node("MatMul", [h, f"blocks.{i}.mlp.down.weight"], p + "/mlp/down/MatMul")
        x = b.node("Add", [x, h], p + "/Add_mlp")
    b.init("norm.weight", norm_weight())
    z = rmsnorm(b, x, "norm.weight", "/norm", "eps")
    b.init("head.weight", reader(d, vocab))
    y = b.node("MatMul", [z, "head.weight"], "/head/MatMul")
    # float32 logits either way, so that readers without float16 outputs
    # (amq's ONNX Runtime bindings) take the fp16 model too.
    b.nodes.append(helper.make_node("Cast", [y], ["logits"], name="/logits", to=TensorProto.FLOAT))

    graph = helper.make_graph(
        b.nodes, "decoder_" + size,
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", vocab])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="amq make-llm.py")
    model.ir_version = 8
    return model


def weight_bytes(model):
    return sum(np.prod(t.dims, dtype=np.int64) * (2 if t.data_type == TensorProto.FLOAT16 else 4)
               for t in model.graph.initializer)


def save(model, path, external):
    if os.path.exists(path + ".data"):
        os.remove(path + ".data")
    if external:
        onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(path) + ".data", size_threshold=1024)
    else:
        onnx.save_model(model, path)
    print(path, os.path.getsize(path), "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", choices=sorted(SIZES), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--calib", type=int, default=16)
    ap.add_argument("--only", default="inline,ext,fp16")
    args = ap.parse_args()
    only = set(args.only.split(","))
    os.makedirs(args.out, exist_ok=True)
    vocab = SIZES[args.size][4]
    rng = np.random.default_rng(1)
    np.save(os.path.join(args.out, "calib.npy"), rng.integers(0, vocab, (args.calib, args.seq), dtype=np.int64))
    if only & {"inline", "ext"}:
        m = build(args.size, TensorProto.FLOAT)
        params = sum(int(np.prod(t.dims)) for t in m.graph.initializer if len(t.dims) == 2)
        print(f"{args.size}: {params / 1e6:.1f}M parameters in matrices, {weight_bytes(m) / 1e9:.2f} GB fp32")
        if "inline" in only:
            if weight_bytes(m) < 2**31 - 2**20:
                save(m, os.path.join(args.out, "model.onnx"), False)
            else:
                print("model.onnx: weights exceed a 2 GiB protobuf; inline model not written")
        if "ext" in only:
            save(m, os.path.join(args.out, "model_ext.onnx"), True)
        del m
    if "fp16" in only:
        m = build(args.size, TensorProto.FLOAT16)
        save(m, os.path.join(args.out, "model_fp16.onnx"), weight_bytes(m) >= 2**31 - 2**20)


if __name__ == "__main__":
    main()
