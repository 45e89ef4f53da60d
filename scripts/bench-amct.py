#!/usr/bin/python3
"""Times Huawei's AMCT doing the work of amq's BenchmarkFlow (bench/flow_test.go,
case resnet18-dmq) and amq quantize doing it, in the same run, on the same
model and data: the ResNet-18-shaped benchmark model of bench/models.go
(BatchNorm folded into biased convolutions, fixed random weights, written
by bench/cmd/resnet18 from its own seed), 256 standard-normal samples of
3x224x224 in batches of 8, DMQ balance with migration strength 0.5, IFMR
on every layer, asymmetric activations, then the quantized models saved.

AMCT runs its classic PyTorch post-training flow (create_quant_config ->
quantize_preprocess + one forward pass -> quantize_model + 32 forward passes
-> save_model) on a hand-built PyTorch ResNet-18 carrying the very weights of
amq's ONNX file (the costs of both tools do not depend on the weight values;
sharing them just removes a doubt). AMCT's ONNX flow (amct_onnx) would need
onnxruntime for Python, which neither Debian nor this machine has, so the
PyTorch flow stands in for it; for the same reason PaddleOCR's recognizer,
an ONNX-only model, is not run through AMCT.

AMCT's DMQ records the balance factors of exactly one forward pass (its
documentation: more passes record the factors again and the flow fails),
where amq keeps a running per-channel maximum over every batch. By default
that one pass sees one batch of 8 samples, as AMCT's example does (less work
than amq's 256); --dmq-samples 256 gives it all samples in one batch, the
same statistics as amq's.

Each tool runs as a child process of this script; the figures are its wall
time, its CPU time (user + sys, less sensitive to other jobs on the machine
than wall time) and its peak resident memory (ru_maxrss from wait4). amq
runs with the sim backend on all cores; PyTorch with its default threads
(Debian's torch starts one OpenMP thread; in a 16-sample trial on the
shared 2-core machine, --torch-threads 2 took 5.5 times the wall time and
2.8 times the CPU time, its threads waiting for each other), so compare
CPU times first.

AMCT is not part of amq: point AMCT_ROOT at a checkout of hicann/amct whose
.proto files were compiled to Python (scripts/bench-amct.sh does both):

  AMCT_ROOT=/path/to/amct /usr/bin/python3 scripts/bench-amct.py [--dmq-samples 256]
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# BenchmarkFlow's resnet18-dmq config (bench/flow_test.go; batch_num is
# samples/batch, 32 there), which both tools read: amq as its simplified
# config, AMCT as config_defination.
FLOW_CONFIG = """batch_num : %d
activation_offset : true
common_config : {
    dmq_balancer : { migration_strength : 0.5 }
}
"""


def measured(argv, **kw):
    """Runs argv as a child and returns (wall s, user+sys s, peak RSS MB, stdout).

    A child started by vfork begins its ru_maxrss at its parent's peak, so
    this process stays small (no torch, no data) and prints its own peak."""
    start = time.monotonic()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, **kw)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.exit("%s: exit %d" % (" ".join(argv), code))
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, out.decode()


def build_amq(tmp):
    exe = os.environ.get("AMQ_FLOW_BIN")  # as BenchmarkFlow: an amq built elsewhere
    if exe:
        return exe
    exe = os.path.join(tmp, "amq")
    subprocess.run(["go", "build", "-o", exe, "./cmd/amq"], cwd=REPO, check=True)
    return exe


def run_amq(amq, work, args):
    model, data, cfg = (os.path.join(work, f) for f in ("resnet18.onnx", "calib.npy", "flow.cfg"))
    argv = [amq, "quantize", "--model", model, "--data", data, "--config", cfg,
            "--batch-size", str(args.batch), "--batch-num", str(args.samples // args.batch),
            "--no-report", "--out", os.path.join(work, "amq-out", "q")]
    return measured(argv)


def run_amct(work, args):
    argv = [sys.executable, os.path.abspath(__file__), "--child", "--work", work,
            "--samples", str(args.samples), "--batch", str(args.batch), "--dmq-samples", str(args.dmq_samples),
            "--torch-threads", str(args.torch_threads)]
    # AMCT writes its log folder into the working directory.
    env = dict(os.environ, AMCT_LOG_LEVEL=os.environ.get("AMCT_LOG_LEVEL", "WARNING"))
    return measured(argv, cwd=work, env=env)


def parent(args):
    if not os.environ.get("AMCT_ROOT"):
        sys.exit("set AMCT_ROOT to an AMCT checkout with compiled protos (scripts/bench-amct.sh does it)")
    with tempfile.TemporaryDirectory(prefix="bench-amct-") as work:
        subprocess.run(["go", "run", "./bench/cmd/resnet18", "-batch", str(args.batch),
                        "-samples", str(args.samples), "-out", work], cwd=REPO, check=True)
        with open(os.path.join(work, "flow.cfg"), "w") as f:
            f.write(FLOW_CONFIG % (args.samples // args.batch))
        amq = build_amq(work)
        load, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        rows = {}
        for name, run in (("amq", lambda: run_amq(amq, work, args)), ("AMCT", lambda: run_amct(work, args))):
            wall, cpu, rss, out = run()
            rows[name] = (wall, cpu, rss)
            print("%s: wall %.1f s, CPU %.1f s, peak RSS %.0f MB" % (name, wall, cpu, rss), flush=True)
            if name == "AMCT":
                print("  AMCT phases (s): " + out.strip().splitlines()[-1], flush=True)
        print()
        print("ResNet-18 shape (bench/), %d samples, batch %d, DMQ 0.5 + IFMR; AMCT's DMQ pass on %d samples"
              % (args.samples, args.batch, args.dmq_samples))
        print("load average at start: %.1f %.1f %.1f on %d CPUs; %s" % (load + (os.cpu_count(), started)))
        print("| tool | wall s | CPU (user+sys) s | peak RSS MB |")
        print("|---|---:|---:|---:|")
        for name, (wall, cpu, rss) in rows.items():
            print("| %s | %.1f | %.1f | %.0f |" % (name, wall, cpu, rss))
        a, q = rows["AMCT"], rows["amq"]
        print("| AMCT/amq | %.1f× | %.1f× | %.1f× |" % (a[0] / q[0], a[1] / q[1], a[2] / q[2]))
        print("(this script's own peak RSS: %.0f MB)" % (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


# ---- the AMCT child: imports torch and AMCT only here ----

def resnet18(onnx_path):
    """bench/models.go's ResNet18 as a torch module, weights from its ONNX file."""
    import onnx
    import torch
    import torch.nn as nn
    from onnx import numpy_helper

    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(onnx_path).graph.initializer}

    def conv(name, cin, cout, k, stride, pad):
        c = nn.Conv2d(cin, cout, k, stride, pad, bias=True)
        with torch.no_grad():
            c.weight.copy_(torch.from_numpy(weights[name + ".weight"].copy()))
            c.bias.copy_(torch.from_numpy(weights[name + ".bias"].copy()))
        return c

    class Block(nn.Module):
        def __init__(self, name, cin, cout, stride):
            super().__init__()
            self.conv1 = conv(name + "/conv1", cin, cout, 3, stride, 1)
            self.conv2 = conv(name + "/conv2", cout, cout, 3, 1, 1)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = conv(name + "/downsample", cin, cout, 1, stride, 0)

        def forward(self, x):
            y = self.conv2(torch.relu(self.conv1(x)))
            return torch.relu(y + (x if self.downsample is None else self.downsample(x)))

    class ResNet18(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = conv("/conv1", 3, 64, 7, 2, 3)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            blocks, cin = [], 64
            for i, cout in enumerate((64, 128, 256, 512)):
                stride = 1 if i == 0 else 2
                blocks.append(Block("/layer%d/layer%d.0" % (i + 1, i + 1), cin, cout, stride))
                blocks.append(Block("/layer%d/layer%d.1" % (i + 1, i + 1), cout, cout, 1))
                cin = cout
            self.layers = nn.Sequential(*blocks)
            self.fc = nn.Linear(512, 1000)
            with torch.no_grad():
                self.fc.weight.copy_(torch.from_numpy(weights["fc.weight"].copy()))
                self.fc.bias.copy_(torch.from_numpy(weights["fc.bias"].copy()))

        def forward(self, x):
            x = self.layers(self.maxpool(torch.relu(self.conv1(x))))
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))

    return ResNet18().eval()


def child(args):
    import numpy as np
    import torch

    sys.path.insert(0, HERE)
    from amct_reference import load_amct

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    times = {}
    start = last = time.monotonic()

    def lap(name):
        nonlocal last
        now = time.monotonic()
        times[name] = round(now - last, 2)
        last = now

    amct = load_amct(os.environ["AMCT_ROOT"])
    model = resnet18(os.path.join(args.work, "resnet18.onnx"))
    data = np.load(os.path.join(args.work, "calib.npy"), mmap_mode="r")
    lap("load")

    def batch(i, n=args.batch):  # read as amq does, one batch at a time
        return torch.from_numpy(np.ascontiguousarray(data[i * n:(i + 1) * n]))

    out = os.path.join(args.work, "amct")
    os.makedirs(out)
    config, record, modified = (os.path.join(out, f) for f in ("config.json", "record.txt", "modified.onnx"))
    first = batch(0)
    amct.create_quant_config(config_file=config, model=model, input_data=(first,),
                             config_defination=os.path.join(args.work, "flow.cfg"))
    lap("create_config")
    with torch.no_grad():
        pre = amct.quantize_preprocess(config, record, model, (first,))
        pre(batch(0, args.dmq_samples))
    lap("dmq")
    with torch.no_grad():
        qm = amct.quantize_model(config, modified, record, model, (first,),
                                 input_names=["input"], output_names=["output"])
        for i in range(args.samples // args.batch):
            qm(batch(i))
    lap("calibrate")
    amct.save_model(modified, record, os.path.join(out, "q"))
    lap("save")
    times["total"] = round(time.monotonic() - start, 2)
    times["torch_threads"] = torch.get_num_threads()
    print(json.dumps(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--dmq-samples", type=int, default=8,
                    help="samples of AMCT's one DMQ forward pass (8: one batch, as AMCT's example; 256: all, as amq)")
    ap.add_argument("--torch-threads", type=int, default=0, help="PyTorch's threads for AMCT (0: its default)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--work", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.samples % args.batch or args.dmq_samples > args.samples:
        sys.exit("--samples must be a multiple of --batch and at least --dmq-samples")
    (child if args.child else parent)(args)


if __name__ == "__main__":
    main()
