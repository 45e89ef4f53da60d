#!/usr/bin/python3
"""Trains and exports the LLM-style decoder fixture, testdata/quant/decoder/.

A tiny decoder-only transformer in the shape of today's LLMs (Llama's
layout): byte-level token embedding, 2 pre-norm blocks with RMSNorm,
causal self-attention with rotary position embeddings, a SwiGLU MLP, a
final RMSNorm and an untied LM head; int64 token ids [batch, seq] in,
logits [batch, seq, 256] out. It is trained briefly on English text (the
license texts every Debian machine has under /usr/share/common-licenses),
then given LLM-style outlier channels function-preservingly: a few RMSNorm
weight channels are scaled up and the input columns of the Linear layers
reading them scaled down, so the float function is unchanged but those
activation channels are 60x larger than the rest, as in real LLMs.

Files (all from the committed token data, so nothing depends on the
machine once it exists):
  train_tokens.npy    uint8, the training text as bytes (token ids)
  heldout_tokens.npy  uint8, a held-out license text as bytes
  calib.npy           int64 [256, 64]: calibration sequences from the
                      training text
  test.npy            int64 [128, 64]: held-out sequences
  ref_input.npy       int64 [4, 64]: the first held-out sequences
  ref_output.npy      float32 [4, 64, 256]: PyTorch's logits on ref_input
  model_op17.onnx     torch.onnx.export at opset 17, dynamic batch and
                      sequence axes (sequences up to MAX_SEQ tokens)
  model.pt            the state dict (outliers included)

Run with Debian's python3 (torch 1.13):
  /usr/bin/python3 scripts/decoder_fixture.py [--from-text]
--from-text rebuilds the token files from /usr/share/common-licenses first.
The module class is importable (as quant_fixtures' are).
"""
import math
import os
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "testdata", "quant", "decoder")

VOCAB = 256  # bytes
SEQ = 64  # training, calibration and test sequence length
MAX_SEQ = 128  # longest sequence the exported model takes (rotary and mask tables)
TRAIN_TEXTS = ("GPL-3", "Apache-2.0", "LGPL-2.1", "GFDL-1.3", "Artistic", "CC0-1.0", "BSD")
HELDOUT_TEXT = "MPL-2.0"
OUTLIER_CHANNELS = (5, 21, 42, 60)
OUTLIER_FACTOR = 60.0
CALIB_BATCH = 64  # sequences in the calibration batch AMCT and amq are compared on


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · weight, written with Pow, ReduceMean, Add,
    Sqrt, Div and Mul so that the export needs no fused op."""

    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        return x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotary_tables(head_dim, n, base=10000.0):
    """cos and sin [n, head_dim] of rotary embeddings in the rotate-half
    layout (GPT-NeoX, Llama): channel i and i + head_dim/2 form a pair."""
    inv = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    ang = torch.arange(n, dtype=torch.float32)[:, None] * inv[None, :]
    ang = torch.cat([ang, ang], dim=-1)
    return ang.cos(), ang.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Attention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.heads
        q = self.q(x).reshape(b, t, h, d // h).transpose(1, 2)
        k = self.k(x).reshape(b, t, h, d // h).transpose(1, 2)
        v = self.v(x).reshape(b, t, h, d // h).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        a = q @ k.transpose(-2, -1) / math.sqrt(d // h) + mask
        a = torch.softmax(a, dim=-1)
        return self.o((a @ v).transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.gate = nn.Linear(d, hidden, bias=False)
        self.up = nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, d, heads, hidden):
        super().__init__()
        self.attn_norm = RMSNorm(d)
        self.attn = Attention(d, heads)
        self.mlp_norm = RMSNorm(d)
        self.mlp = SwiGLU(d, hidden)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return x + self.mlp(self.mlp_norm(x))


class Decoder(nn.Module):
    """Decoder-only transformer: token ids [batch, seq] -> logits [batch, seq, vocab]."""

    def __init__(self, vocab=VOCAB, d=64, heads=4, hidden=176, depth=2, max_seq=MAX_SEQ):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList([Block(d, heads, hidden) for _ in range(depth)])
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        cos, sin = rotary_tables(d // heads, max_seq)
        self.register_buffer("cos", cos)
        self.register_buffer("sin", sin)
        # Additive causal mask: 0 on and below the diagonal, -1e9 above.
        self.register_buffer("mask", torch.triu(torch.full((max_seq, max_seq), -1e9), diagonal=1))

    def forward(self, tokens):
        t = tokens.shape[1]
        cos, sin, mask = self.cos[:t], self.sin[:t], self.mask[:t, :t]
        x = self.embed(tokens)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.head(self.norm(x))


def inject_outliers(model, channels=OUTLIER_CHANNELS, factor=OUTLIER_FACTOR):
    """Scales a few RMSNorm weight channels by factor and divides the
    matching input columns of the Linear layers that read the norm's
    output: the function is unchanged, but those activation channels carry
    LLM-style outliers, the same channels in every norm (as the massive
    activations of real LLMs sit in fixed channels)."""
    with torch.no_grad():
        pairs = []
        for blk in model.blocks:
            pairs.append((blk.attn_norm, (blk.attn.q, blk.attn.k, blk.attn.v)))
            pairs.append((blk.mlp_norm, (blk.mlp.gate, blk.mlp.up)))
        pairs.append((model.norm, (model.head,)))
        for norm, readers in pairs:
            for c in channels:
                norm.weight[c] *= factor
                for lin in readers:
                    lin.weight[:, c] /= factor


def read_texts():
    """The training and held-out texts as uint8 byte arrays, from Debian's
    /usr/share/common-licenses (base-files: on every Debian machine)."""
    base = "/usr/share/common-licenses"

    def read(name):
        with open(os.path.join(base, name), "rb") as f:
            return f.read()

    train = b"\n".join(read(n) for n in TRAIN_TEXTS)
    return np.frombuffer(train, np.uint8).copy(), np.frombuffer(read(HELDOUT_TEXT), np.uint8).copy()


def sequences(tokens, n, seq=SEQ):
    """n non-overlapping sequences of seq tokens, evenly spread over tokens."""
    starts = np.linspace(0, len(tokens) - seq, n).astype(np.int64)
    return np.stack([tokens[s:s + seq] for s in starts]).astype(np.int64)


def train(model, tokens, steps=400, batch=16, lr=6e-3):
    """AdamW with cosine decay on random windows of seq+1 tokens: one to two
    minutes on one core (Debian's torch uses the generic BLAS)."""
    torch.manual_seed(1)
    torch.set_num_threads(1)  # the same sums in the same order on every machine
    data = torch.from_numpy(tokens.astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for step in range(steps):
        idx = torch.randint(0, len(data) - SEQ - 1, (batch,))
        win = torch.stack([data[i:i + SEQ + 1] for i in idx.tolist()])
        logits = model(win[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), win[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 100 == 0:
            print("step %d: loss %.3f" % (step, loss.item()))
    model.eval()


def perplexity(model, seqs):
    """exp of the mean cross entropy of every next-token prediction
    (logits at position t against the token at t+1) in seqs."""
    with torch.no_grad():
        x = torch.from_numpy(seqs)
        logits = model(x)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, VOCAB), x[:, 1:].reshape(-1))
    return math.exp(loss.item())


def export(model, calib, path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, torch.from_numpy(calib[:2]), path, opset_version=17,
                          input_names=["tokens"], output_names=["logits"],
                          dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
                          do_constant_folding=True)


def token_data(from_text):
    tr, ho = os.path.join(ROOT, "train_tokens.npy"), os.path.join(ROOT, "heldout_tokens.npy")
    if from_text or not os.path.exists(tr):
        train_tok, held_tok = read_texts()
        np.save(tr, train_tok)
        np.save(ho, held_tok)
    return np.load(tr), np.load(ho)


def build(from_text=False):
    """Returns the trained decoder (outliers injected) and its data,
    deterministically for a given torch build."""
    os.makedirs(ROOT, exist_ok=True)
    train_tok, held_tok = token_data(from_text)
    torch.manual_seed(0)
    m = Decoder()
    t0 = time.time()
    train(m, train_tok)
    print("trained in %.1fs" % (time.time() - t0))
    calib = sequences(train_tok, 256)
    test = sequences(held_tok, 128)
    before = perplexity(m, test)
    inject_outliers(m)
    after = perplexity(m, test)
    print("held-out perplexity %.4f (uniform %d), with outliers %.4f" % (before, VOCAB, after))
    return m, calib, test


def load():
    """The committed decoder (model.pt) in eval mode and its calibration
    batch: the first CALIB_BATCH sequences of calib.npy, the one batch that
    scripts/amct_reference.py gives AMCT and scripts/eval-quant.py gives amq."""
    m = Decoder()
    m.load_state_dict(torch.load(os.path.join(ROOT, "model.pt")))
    m.eval()
    return m, np.load(os.path.join(ROOT, "calib.npy"))[:CALIB_BATCH]


def main():
    m, calib, test = build("--from-text" in sys.argv[1:])
    np.save(os.path.join(ROOT, "calib.npy"), calib)
    np.save(os.path.join(ROOT, "test.npy"), test)
    ref = test[:4]
    np.save(os.path.join(ROOT, "ref_input.npy"), ref)
    with torch.no_grad():
        np.save(os.path.join(ROOT, "ref_output.npy"), m(torch.from_numpy(ref)).numpy().astype(np.float32))
    torch.save(m.state_dict(), os.path.join(ROOT, "model.pt"))
    path = os.path.join(ROOT, "model_op17.onnx")
    export(m, calib, path)
    import onnx
    onnx.checker.check_model(onnx.load(path))
    ops = sorted({n.op_type for n in onnx.load(path).graph.node})
    print("%s: %d bytes, ops %s" % (path, os.path.getsize(path), " ".join(ops)))


if __name__ == "__main__":
    main()
