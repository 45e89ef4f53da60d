#!/usr/bin/python3
"""Trains and exports the quantization fixtures under testdata/quant/.

Each fixture is a small real PyTorch model trained on the handwritten digits
data set that scikit-learn ships (1797 8x8 images, no download), exported with
torch.onnx.export, plus its calibration batch, a held-out test set with labels,
and PyTorch's outputs on it:

  cnn/                Conv2d+BatchNorm+ReLU classifier; model_op13_bn.onnx is
                      the same model exported with TrainingMode.PRESERVE, so
                      its BatchNormalization nodes stay (Conv+BN fusion test)
  transformer/        pre-LN transformer classifier with LLM-style outlier
                      activation channels injected function-preservingly
  deconv/             Conv2d encoder + ConvTranspose2d decoder (reconstruction)
  conv3d/             Conv3d net over a stack of shifted digits

The LLM-style decoder fixture, decoder/, trains on text instead:
scripts/decoder_fixture.py.

Run with Debian's python3 (torch 1.13): /usr/bin/python3 scripts/quant_fixtures.py
(--bn: write only cnn/model_op13_bn.onnx, from the committed cnn/model.pt)
The module classes are importable (scripts/amct_reference.py uses them).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "quant")


def digits():
    from sklearn.datasets import load_digits
    d = load_digits()
    x = (d.data.astype(np.float32) / 16.0).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    rng = np.random.RandomState(0)
    idx = rng.permutation(len(x))
    x, y = x[idx], y[idx]
    # 1197 train, 64 calibration (from the training part), 600 held out.
    return (x[:1197], y[:1197]), (x[1197:], y[1197:])


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.conv3 = nn.Conv2d(32, 32, 3, padding=1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.conv3(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(x)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)

    def forward(self, x):
        b, t, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, t, h, d // h).transpose(1, 2)
        k = self.k(x).reshape(b, t, h, d // h).transpose(1, 2)
        v = self.v(x).reshape(b, t, h, d // h).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-2, -1) / (d // h) ** 0.5, dim=-1)
        return self.proj((a @ v).transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Transformer(nn.Module):
    """Rows of the image are the tokens."""

    def __init__(self, d=32, heads=4, hidden=64, depth=2):
        super().__init__()
        self.embed = nn.Linear(8, d)
        self.pos = nn.Parameter(torch.zeros(1, 8, d))
        self.blocks = nn.Sequential(*[Block(d, heads, hidden) for _ in range(depth)])
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, x):
        x = self.embed(x.reshape(x.shape[0], 8, 8)) + self.pos
        x = self.ln(self.blocks(x))
        return self.head(x.mean(1))


def inject_outliers(model, channels=(3, 11, 17, 29), factor=100.0):
    """Scales a few LayerNorm output channels by factor and divides the
    matching input columns of the Linear layers that read them: the function
    is unchanged, but those activation channels carry LLM-style outliers."""
    with torch.no_grad():
        for blk in model.blocks:
            for ln, readers in ((blk.ln1, (blk.attn.q, blk.attn.k, blk.attn.v)), (blk.ln2, (blk.fc1,))):
                for c in channels:
                    ln.weight[c] *= factor
                    ln.bias[c] *= factor
                    for lin in readers:
                        lin.weight[:, c] /= factor


class Deconv(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 16, 3, stride=2, padding=1)
        self.enc2 = nn.Conv2d(16, 32, 3, padding=1)
        self.dec1 = nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1)
        self.dec2 = nn.Conv2d(16, 1, 3, padding=1)

    def forward(self, x):
        x = F.relu(self.enc1(x))
        x = F.relu(self.enc2(x))
        x = F.relu(self.dec1(x))
        return self.dec2(x)


class Conv3dNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv3d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv3d(8, 16, 3, stride=(1, 2, 2), padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3, 4)))


def to_video(x):
    """Stacks each digit with 3 shifted copies: (N,1,4,8,8)."""
    frames = [np.roll(x, s, axis=3) for s in range(4)]
    return np.stack(frames, axis=2)


def train(model, x, y, epochs, loss="ce", lr=3e-3):
    torch.manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            out = model(xt[b])
            l = F.cross_entropy(out, yt[b]) if loss == "ce" else F.mse_loss(out, xt[b])
            opt.zero_grad()
            l.backward()
            opt.step()
    model.eval()


def accuracy(model, x, y):
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def export(model, x, path, opset):
    torch.onnx.export(model, torch.from_numpy(x[:1]), path, opset_version=opset,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def export_bn(model, x, path):
    """Exports model (in eval mode) keeping its BatchNormalization nodes:
    with TrainingMode.PRESERVE torch.onnx does not fold them into the Convs,
    as other exporters do not, while the nodes still use the running stats."""
    model.eval()
    torch.onnx.export(model, torch.from_numpy(x[:1]), path, opset_version=13,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      do_constant_folding=False,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})


def main_bn():
    """Writes cnn/model_op13_bn.onnx from the committed weights of cnn/model.pt
    (the ones build("cnn") trains), leaving the other cnn files alone."""
    d = os.path.join(ROOT, "cnn")
    m = CNN()
    m.load_state_dict(torch.load(os.path.join(d, "model.pt")))
    calib = np.load(os.path.join(d, "calib.npy"))
    export_bn(m, calib, os.path.join(d, "model_op13_bn.onnx"))
    print("cnn: exported model_op13_bn.onnx")


def save(name, model, opsets, calib, test_x, test_y=None):
    d = os.path.join(ROOT, name)
    os.makedirs(d, exist_ok=True)
    for op in opsets:
        export(model, calib, os.path.join(d, "model_op%d.onnx" % op), op)
    np.save(os.path.join(d, "calib.npy"), calib)
    np.save(os.path.join(d, "test.npy"), test_x)
    if test_y is not None:
        np.save(os.path.join(d, "test_labels.npy"), test_y)
    with torch.no_grad():
        np.save(os.path.join(d, "test_output.npy"), model(torch.from_numpy(test_x)).numpy())
    torch.save(model.state_dict(), os.path.join(d, "model.pt"))
    if name == "cnn":
        export_bn(model, calib, os.path.join(d, "model_op13_bn.onnx"))


def build(name):
    """Returns the trained model and its data, deterministically."""
    torch.manual_seed(0)
    (xtr, ytr), (xte, yte) = digits()
    calib = xtr[:64]
    if name == "cnn":
        m = CNN()
        train(m, xtr, ytr, 15)
        return m, calib, xte, yte
    if name == "transformer":
        m = Transformer()
        train(m, xtr, ytr, 40)
        inject_outliers(m)
        return m, calib, xte, yte
    if name == "deconv":
        m = Deconv()
        train(m, xtr, ytr, 10, loss="mse")
        return m, calib, xte[:200], None
    if name == "conv3d":
        m = Conv3dNet()
        vtr, vte = to_video(xtr), to_video(xte)
        train(m, vtr, ytr, 8)
        return m, vtr[:64], vte[:200], yte[:200]
    raise KeyError(name)


OPSETS = {"cnn": (13,), "transformer": (13, 17), "deconv": (13,), "conv3d": (13,)}


def main(names):
    for name in names or OPSETS:
        m, calib, xte, yte = build(name)
        save(name, m, OPSETS[name], calib, xte, yte)
        msg = "%s: exported" % name
        if yte is not None:
            msg += ", held-out accuracy %.4f" % accuracy(m, xte, yte)
        print(msg)


if __name__ == "__main__":
    if sys.argv[1:] == ["--bn"]:
        main_bn()
    else:
        main(sys.argv[1:])
