#!/usr/bin/python3
"""Exports the PyTorch fixture modules (scripts/fixtures) to ONNX.

For every fixture it writes, under testdata/fixtures/<name>/:
  model_op<N>.onnx  the module exported by torch.onnx.export at opset N
                    (eval mode, constant folding on, dynamic batch axis);
  input.npy         a float32 batch of inputs (fixed seed);
  output.npy        PyTorch's float32 output for that batch.
Run with Debian's /usr/bin/python3 (torch 1.13, onnx 1.12):
  /usr/bin/python3 scripts/make-fixtures.py [out_dir]
The output is deterministic for a given torch build.
"""

import os
import sys
import warnings

import numpy as np
import onnx
import torch

sys.dont_write_bytecode = True  # keep scripts/fixtures free of __pycache__
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402


def export(name, out_dir):
    _, shape, opsets, dynamic = fixtures.FIXTURES[name]
    model = fixtures.build(name)
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(*shape, generator=g)
    with torch.no_grad():
        y = model(x)
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    np.save(os.path.join(d, "input.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(d, "output.npy"), y.numpy().astype(np.float32))
    axes = {"input": {0: "N"}, "output": {0: "N"}} if dynamic else None
    for opset in opsets:
        path = os.path.join(d, "model_op%d.onnx" % opset)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), path, opset_version=opset,
                              input_names=["input"], output_names=["output"],
                              dynamic_axes=axes, do_constant_folding=True)
        onnx.checker.check_model(onnx.load(path))
        ops = sorted({n.op_type for n in onnx.load(path).graph.node})
        print("%s opset %d: %s" % (path, opset, " ".join(ops)))


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "testdata", "fixtures")
    torch.set_num_threads(1)
    for name in fixtures.FIXTURES:
        export(name, out_dir)


if __name__ == "__main__":
    main()
