#!/usr/bin/python3
"""Runs Huawei's AMCT (PyTorch classic PTQ flow) on the quantization fixtures
and stores its config.json and record.txt under
testdata/quant/<fixture>/amct/<variant>/ as reference data for amq's tests.

AMCT is not part of amq. Point AMCT_ROOT at a checkout of hicann/amct whose
.proto files were compiled to Python the way its CMake target
amct_pytorch_proto_compile does; this script only drives it:

  AMCT_ROOT=/path/to/amct /usr/bin/python3 scripts/amct_reference.py

Variants: "dmq" (ifmr + dmq_balancer 0.5), "nodmq" (ifmr only) and "hfmg"
(hfmg 4096 bins + dmq_balancer 0.5), all
from the .cfg files in testdata/quant/, with batch_num 1 and the fixture's
calib.npy as the single calibration batch, which amq's tests use too (the
decoder: its committed model.pt and the first 64 sequences of calib.npy).
"""
import importlib
import os
import shutil
import sys
import tempfile
import types

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import decoder_fixture  # noqa: E402
import quant_fixtures  # noqa: E402


def load_amct(root):
    sys.path.insert(0, root)
    # Import the classic graph-based flow without running amct_pytorch's
    # top-level __init__, which pulls in the LLM flow and its dependencies.
    for name, sub in (("amct_pytorch", "amct_pytorch"), ("amct_pytorch.classic", "amct_pytorch/classic")):
        mod = types.ModuleType(name)
        mod.__path__ = [os.path.join(root, sub)]
        sys.modules[name] = mod
    return importlib.import_module("amct_pytorch.classic.graph_based.amct_pytorch")


def fixture(name):
    """The module, its calibration batch, and the ONNX input and output
    names and dynamic axes of its export."""
    if name == "decoder":
        model, calib = decoder_fixture.load()
        return model, calib, "tokens", "logits", {0: "batch", 1: "seq"}
    model, calib, _, _ = quant_fixtures.build(name)
    return model, calib, "input", "output", {0: "batch"}


def run(amct, name, variant):
    model, calib, inp, outp, axes = fixture(name)
    data = torch.from_numpy(calib)
    cfg = os.path.join(quant_fixtures.ROOT, variant + ".cfg")
    out = os.path.join(quant_fixtures.ROOT, name, "amct", variant)
    os.makedirs(out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "config.json")
        record = os.path.join(tmp, "record.txt")
        amct.create_quant_config(config_file=config, model=model, input_data=(data,), config_defination=cfg)
        if variant in ("dmq", "hfmg"):
            pre = amct.quantize_preprocess(config, record, model, (data,))
            with torch.no_grad():
                pre(data)
        qm = amct.quantize_model(config, os.path.join(tmp, "modified.onnx"), record, model, (data,),
                                 input_names=[inp], output_names=[outp],
                                 dynamic_axes={inp: axes, outp: axes})
        with torch.no_grad():
            qm(data)
        shutil.copy(config, os.path.join(out, "config.json"))
        shutil.copy(record, os.path.join(out, "record.txt"))
    print("%s/%s: done" % (name, variant))


def main():
    root = os.environ.get("AMCT_ROOT")
    if not root:
        sys.exit("set AMCT_ROOT to an AMCT checkout with compiled protos")
    amct = load_amct(root)
    names = sys.argv[1:] or ["cnn", "transformer", "deconv", "conv3d", "decoder"]
    for name in names:
        for variant in ("dmq", "nodmq", "hfmg"):
            run(amct, name, variant)


if __name__ == "__main__":
    main()
