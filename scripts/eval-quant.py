#!/usr/bin/python3
"""Held-out comparison of quantization modes on the project's fixtures.

For each fixture under testdata/quant (cnn, transformer, conv3d, deconv,
decoder) and each mode, runs `amq quantize` on the fixture's calibration
data, runs the deploy model on sim (`amq run`: Ascend's int8 arithmetic,
bit for bit) on the held-out data, and prints a markdown table of:

  output SQNR  10·log10(Σ ref² / Σ (ref − int8)²) over all held-out outputs,
               ref = PyTorch's float outputs (test_output.npy) where the
               fixture has them, else the float model run on sim (decoder);
  accuracy     share of argmax hits on test_labels.npy (classifiers); for
               the decoder the top-1 next-token accuracy;
  perplexity   decoder only: exp of the mean next-token cross entropy.

Modes: by default "α 0.5" (dmq.cfg) and "no DMQ" (nodmq.cfg). Each --mode
'LABEL=CFG [quantize flags...]' replaces the defaults (give all you want),
e.g. to add a third mode:

  /usr/bin/python3 scripts/eval-quant.py --mode 'α 0.5=dmq.cfg' \\
      --mode 'no DMQ=nodmq.cfg' --mode 'auto=dmq.cfg --alpha auto'

CFG is a file under testdata/quant or a path. Rows "AMCT α 0.5" and "AMCT no
DMQ" evaluate the records Huawei's AMCT wrote (testdata/quant/<f>/amct/dmq
and nodmq, scripts/amct_reference.py): their keys (PyTorch module names)
are mapped to the ONNX node names, and `amq save` turns them into the deploy
model, as AMCT's save_model would (--no-amct leaves them out). AMCT and amq
calibrate on the same batch: the first 64 samples of calib.npy (all of it
for the digits fixtures; the decoder's has 256 sequences), in one batch.

  /usr/bin/python3 scripts/eval-quant.py [--fixtures cnn,decoder] [--amq BIN]
      [--keep DIR] [--mode ...] [--no-amct]

Without --amq it builds amq from this checkout (go build). Needs numpy and
onnx (Debian's python3-numpy, python3-onnx).
"""
import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
QUANT = os.path.join(REPO, "testdata", "quant")

# The model of each fixture; every one calibrates on the first 64 samples of
# its calib.npy in one batch, as AMCT did (scripts/amct_reference.py).
FIXTURES = {
    "cnn": "model_op13.onnx",
    "transformer": "model_op13.onnx",
    "conv3d": "model_op13.onnx",
    "deconv": "model_op13.onnx",
    "decoder": "model_op17.onnx",
}
BATCHES = ["--batch-size", "64", "--batch-num", "1"]
DEFAULT_MODES = ["α 0.5=dmq.cfg", "no DMQ=nodmq.cfg"]
AMCT_MODES = [("AMCT α 0.5", "dmq"), ("AMCT no DMQ", "nodmq")]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run(cmd):
    """Runs cmd, failing with its output when it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        sys.exit("failed (exit %d): %s\n%s" % (p.returncode, " ".join(map(shlex.quote, cmd)), p.stdout))
    return p.stdout


def parse_mode(spec):
    """'LABEL=CFG flags...' -> (label, cfg path, [flags])."""
    label, sep, rest = spec.partition("=")
    words = shlex.split(rest)
    if not sep or not label or not words:
        sys.exit("--mode %r: want 'LABEL=CFG [quantize flags...]'" % spec)
    cfg = words[0] if os.path.exists(words[0]) else os.path.join(QUANT, words[0])
    if not os.path.exists(cfg):
        sys.exit("--mode %r: no config %s" % (spec, words[0]))
    return label, cfg, words[1:]


def amct_name(node):
    """The PyTorch module path AMCT keys a layer by, from the torch.onnx node
    name: "/blocks/blocks.0/attn/q/MatMul" -> "blocks.0.attn.q" (as
    amctName in quant/amct_test.go)."""
    parts = node.strip("/").split("/")[:-1]
    name = ""
    for p in parts:
        if not name:
            name = p
        elif p.startswith(name + "."):
            name = p
        else:
            name += "." + p
    return name


def amct_to_amq(model, amct_dir, out):
    """Writes AMCT's config.json and record.txt under out with their layer
    keys renamed to the model's node names; returns the two paths."""
    import json

    import onnx
    nodes = {}
    for n in onnx.load(model).graph.node:
        if n.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul") and n.name:
            nodes.setdefault(amct_name(n.name), []).append(n.name)
    rename = {}
    with open(os.path.join(amct_dir, "config.json")) as f:
        cfg = json.load(f)
    for k, v in cfg.items():
        if isinstance(v, dict):
            cands = nodes.get(k, [])
            if len(cands) != 1:
                sys.exit("%s: AMCT layer %r matches nodes %s of %s" % (amct_dir, k, cands, model))
            rename[k] = cands[0]
    cfg = {rename.get(k, k): v for k, v in cfg.items()}
    config = os.path.join(out, "config.json")
    with open(config, "w") as f:
        json.dump(cfg, f, indent=4)
    lines = []
    with open(os.path.join(amct_dir, "record.txt")) as f:
        for line in f:
            s = line.strip()
            if s.startswith("key:"):
                key = json.loads(s[len("key:"):].strip())
                if key not in rename:
                    sys.exit("%s: record key %r is not in AMCT's config" % (amct_dir, key))
                line = line.replace(json.dumps(key), json.dumps(rename[key]))
            lines.append(line)
    record = os.path.join(out, "record.txt")
    with open(record, "w") as f:
        f.writelines(lines)
    return config, record


def sqnr(ref, got):
    ref, got = ref.astype(np.float64), got.astype(np.float64)
    noise = np.sum((ref - got) ** 2)
    return float("inf") if noise == 0 else 10 * np.log10(np.sum(ref ** 2) / noise)


def metrics(name, x, ref, y):
    """(SQNR, accuracy %, perplexity) of outputs y on held-out inputs x;
    None where a metric does not apply."""
    s = sqnr(ref, y) if ref is not None else None
    if name == "decoder":
        logits, nxt = y[:, :-1].astype(np.float64), x[:, 1:]
        top = logits.max(-1, keepdims=True)
        lse = top[..., 0] + np.log(np.exp(logits - top).sum(-1))
        nll = lse - np.take_along_axis(logits, nxt[..., None], -1)[..., 0]
        return s, 100 * float((logits.argmax(-1) == nxt).mean()), float(np.exp(nll.mean()))
    labels = os.path.join(QUANT, name, "test_labels.npy")
    if not os.path.exists(labels):
        return s, None, None
    return s, 100 * float((y.argmax(1) == np.load(labels)).mean()), None


class Evaluator:
    def __init__(self, amq, work):
        self.amq, self.work = amq, work

    def deploy_outputs(self, deploy, x_path, out):
        run([self.amq, "run", "--quiet", "--model", deploy, "--input", x_path, "--output", out])
        return np.load(out)

    def fixture(self, name, modes, amct):
        """Rows (mode, SQNR, accuracy, perplexity) of one fixture."""
        model_file = FIXTURES[name]
        d = os.path.join(QUANT, name)
        model, calib, x_path = os.path.join(d, model_file), os.path.join(d, "calib.npy"), os.path.join(d, "test.npy")
        w = os.path.join(self.work, name)
        os.makedirs(w, exist_ok=True)
        x = np.load(x_path)
        ref_path = os.path.join(d, "test_output.npy")
        if os.path.exists(ref_path):
            ref = np.load(ref_path)
        else:
            ref = self.deploy_outputs(model, x_path, os.path.join(w, "float.npy"))
        rows = [("FP32",) + metrics(name, x, None, ref)]
        if amct:
            for label, variant in AMCT_MODES:
                src = os.path.join(d, "amct", variant)
                if not os.path.isdir(src):
                    continue
                log("%s: %s" % (name, label))
                sub = os.path.join(w, "amct_" + variant)
                os.makedirs(sub, exist_ok=True)
                config, record = amct_to_amq(model, src, sub)
                run([self.amq, "save", "--quiet", "--model", model, "--config", config, "--record", record,
                     "--out", os.path.join(sub, "m")])
                y = self.deploy_outputs(os.path.join(sub, "m_deploy_model.onnx"), x_path, os.path.join(sub, "y.npy"))
                rows.append((label,) + metrics(name, x, ref, y))
        for i, (label, cfg, flags) in enumerate(modes):
            log("%s: %s" % (name, label))
            prefix = os.path.join(w, "mode%d" % i, "m")
            run([self.amq, "quantize", "--quiet", "--no-report", "--no-eval", "--model", model, "--data", calib,
                 "--config", cfg, "--out", prefix] + BATCHES + flags)
            y = self.deploy_outputs(prefix + "_deploy_model.onnx", x_path, prefix + "_y.npy")
            rows.append((label,) + metrics(name, x, ref, y))
        return rows


def fmt(v, spec):
    return "" if v is None else spec % v


def table(results):
    out = ["| fixture | mode | output SQNR (dB) | accuracy (%) | perplexity |", "|---|---|---|---|---|"]
    for name, rows in results:
        for mode, s, acc, ppl in rows:
            out.append("| %s | %s | %s | %s | %s |" % (name, mode, fmt(s, "%.1f"), fmt(acc, "%.2f"), fmt(ppl, "%.4f")))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixtures", default=",".join(FIXTURES), help="comma-separated, from %s" % ", ".join(FIXTURES))
    ap.add_argument("--mode", action="append", help="'LABEL=CFG [quantize flags...]' (repeatable)")
    ap.add_argument("--no-amct", action="store_true", help="leave out the rows of AMCT's records")
    ap.add_argument("--amq", help="amq binary (default: go build ./cmd/amq)")
    ap.add_argument("--keep", help="write the models here and keep them (default: a temporary folder)")
    args = ap.parse_args()
    names = [n for n in args.fixtures.split(",") if n]
    for n in names:
        if n not in FIXTURES:
            sys.exit("unknown fixture %r (have %s)" % (n, ", ".join(FIXTURES)))
    modes = [parse_mode(m) for m in (args.mode or DEFAULT_MODES)]
    work = args.keep or tempfile.mkdtemp(prefix="amq-eval-")
    os.makedirs(work, exist_ok=True)
    try:
        amq = args.amq
        if not amq:
            amq = os.path.join(work, "amq")
            log("building amq")
            subprocess.run(["go", "build", "-o", amq, "./cmd/amq"], cwd=REPO, check=True)
        ev = Evaluator(os.path.abspath(amq), work)
        results = [(n, ev.fixture(n, modes, not args.no_amct)) for n in names]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(table(results))


if __name__ == "__main__":
    main()
