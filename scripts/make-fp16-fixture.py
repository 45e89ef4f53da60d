#!/usr/bin/python3
"""Writes sim/testdata/fp16/: a model whose sums of squares pass float16's
largest value, 65504, and what float16 arithmetic computes for it.

The model (opset 13, input x [4, 16]) has two norms of x:
  rms: x / sqrt(ReduceSumSquare(x) / 16 + eps) * gamma   (an RMSNorm)
  ln:  (x - mean) / sqrt(mean((x - mean)^2) + eps) * gamma + beta  (a
       LayerNorm as torch.onnx decomposes it, Pow then ReduceMean)
Row 0 (values near ±100) overflows the RMSNorm's sum of squares; row 2 has
one channel at 300, whose squared deviation overflows the LayerNorm's Pow;
rows 1 and 3 stay finite (row 3's sum of squares is 57600, near the limit).

rms_force_fp16.npy and ln_force_fp16.npy are the outputs of ATC's
force_fp16 mode as amq emulates it (docs/design.md "NPU numerics"),
computed here with NumPy alone: every operator reads float16 inputs,
computes in float32 and rounds its output to float16. Inputs are integers,
so every float32 sum is exact and the order of summation does not matter.

Run: /usr/bin/python3 scripts/make-fp16-fixture.py (NumPy, Debian's
python3-onnx).
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "sim", "testdata", "fp16")
C = 16
EPS = np.float32(1e-5)


def inputs():
    rng = np.random.default_rng(11)
    x = np.zeros((4, C), np.float32)
    x[0] = rng.integers(90, 111, C) * rng.choice([-1, 1], C)
    x[1] = rng.integers(-20, 21, C)
    x[2] = rng.integers(-5, 6, C)
    x[2, 3] = 300
    x[3] = 60 * rng.choice([-1, 1], C)
    # Whole means keep x - mean whole, so that sums stay exact.
    for r in range(4):
        x[r, -1] -= x[r].sum() % C
    assert (x ** 2).sum(axis=1)[0] > 65504 and (x ** 2).sum(axis=1)[3] <= 65504
    return x


def model(gamma, beta):
    n = helper.make_node
    nodes = [
        n("ReduceSumSquare", ["x"], ["ss"], name="rms/ReduceSumSquare", axes=[-1], keepdims=1),
        n("Div", ["ss", "C"], ["ms"], name="rms/Div"),
        n("Add", ["ms", "eps"], ["ms_eps"], name="rms/Add"),
        n("Sqrt", ["ms_eps"], ["rms"], name="rms/Sqrt"),
        n("Div", ["x", "rms"], ["xn"], name="rms/Div_1"),
        n("Mul", ["xn", "gamma"], ["rms_out"], name="rms/Mul"),
        n("ReduceMean", ["x"], ["mean"], name="ln/ReduceMean", axes=[-1], keepdims=1),
        n("Sub", ["x", "mean"], ["d"], name="ln/Sub"),
        n("Pow", ["d", "two"], ["d2"], name="ln/Pow"),
        n("ReduceMean", ["d2"], ["var"], name="ln/ReduceMean_1", axes=[-1], keepdims=1),
        n("Add", ["var", "eps"], ["var_eps"], name="ln/Add"),
        n("Sqrt", ["var_eps"], ["std"], name="ln/Sqrt"),
        n("Div", ["d", "std"], ["dn"], name="ln/Div"),
        n("Mul", ["dn", "gamma"], ["dg"], name="ln/Mul"),
        n("Add", ["dg", "beta"], ["ln_out"], name="ln/Add_1"),
    ]
    inits = [
        numpy_helper.from_array(np.float32(C), "C"),
        numpy_helper.from_array(EPS, "eps"),
        numpy_helper.from_array(np.float32(2), "two"),
        numpy_helper.from_array(gamma, "gamma"),
        numpy_helper.from_array(beta, "beta"),
    ]
    g = helper.make_graph(
        nodes, "fp16_norms",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, C])],
        [helper.make_tensor_value_info("rms_out", TensorProto.FLOAT, [4, C]),
         helper.make_tensor_value_info("ln_out", TensorProto.FLOAT, [4, C])],
        inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="make-fp16-fixture.py")
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


def h(a):
    """Rounds to float16 (half to even, overflow to inf)."""
    with np.errstate(over="ignore"):
        return np.asarray(a, np.float32).astype(np.float16)


def op(f, *args):
    """One operator under force_fp16: float16 inputs, float32 arithmetic,
    a float16 result."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return h(f(*[h(a).astype(np.float32) for a in args]))


def force_fp16(x, gamma, beta):
    ss = op(lambda a: (a * a).sum(axis=-1, keepdims=True, dtype=np.float32), x)
    ms = op(np.divide, ss, np.float32(C))
    rms = op(np.sqrt, op(np.add, ms, EPS))
    rms_out = op(np.multiply, op(np.divide, x, rms), gamma)
    mean = op(lambda a: a.sum(axis=-1, keepdims=True, dtype=np.float32) / np.float32(C), x)
    d = op(np.subtract, x, mean)
    d2 = op(np.power, d, np.float32(2))
    var = op(lambda a: a.sum(axis=-1, keepdims=True, dtype=np.float32) / np.float32(C), d2)
    std = op(np.sqrt, op(np.add, var, EPS))
    ln_out = op(np.add, op(np.multiply, op(np.divide, d, std), gamma), beta)
    return rms_out, ln_out


def main():
    os.makedirs(OUT, exist_ok=True)
    x = inputs()
    gamma = (np.arange(C, dtype=np.float32) % 4 + 1) * np.float32(0.25)
    beta = np.full(C, 0.5, np.float32)
    onnx.save(model(gamma, beta), os.path.join(OUT, "model.onnx"))
    np.save(os.path.join(OUT, "x.npy"), x)
    rms_out, ln_out = force_fp16(x, gamma, beta)
    # Stored as float32 (the model's output type), holding float16 values.
    np.save(os.path.join(OUT, "rms_force_fp16.npy"), rms_out.astype(np.float32))
    np.save(os.path.join(OUT, "ln_force_fp16.npy"), ln_out.astype(np.float32))
    print("rms_out row 0 (overflowed):", rms_out[0, :4], "row 3:", rms_out[3, :4])
    print("ln_out row 2 (overflowed):", ln_out[2, :4])


if __name__ == "__main__":
    main()
