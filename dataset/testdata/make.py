"""Makes the image fixtures of package dataset and their expected tensors,
with NumPy and the standard library only (zlib for PNG), so that the
reference does not share a decoder or a resize with the Go code.

    cd dataset/testdata && /usr/bin/python3 make.py

rgb/      three 8-bit RGB PNGs of 10x12 pixels (height x width)
alpha/    one 8-bit RGBA PNG with varying alpha (alpha is dropped)
gray/     one 8-bit grayscale PNG of 10x12

Expected tensors (float32, computed in float64, NCHW, one row per image in
name order), with pixels p scaled to p/255:
  rgb_bgr.npy       (x - mean) / std in BGR order, MEAN_BGR, STD_BGR
  rgb_luma.npy      C=1: (0.299 R + 0.587 G + 0.114 B - 0.5) / 0.25
  rgb_down.npy      RGB resized to 7x9, then MEAN/STD (RGB order)
  rgb_up.npy        RGB resized to 15x20, then MEAN/STD
  alpha_rgb.npy     the RGBA image's R, G, B, no normalization
  gray_rgb.npy      the grayscale image as 3 equal channels
The resize is the separable tent filter defined in resize() below, without
rounding; the Go code (golang.org/x/image/draw's BiLinear) rounds it to 16
bits per channel.
"""
import os
import struct
import zlib

import numpy as np

MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])
MEAN_BGR, STD_BGR = MEAN[::-1].copy(), STD[::-1].copy()


def png(path, pixels, color_type):
    """Writes an 8-bit PNG: pixels is (H, W) for grayscale or (H, W, C)."""
    h, w = pixels.shape[:2]
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(tag, data):
        body = tag + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 9)))
        f.write(chunk(b"IEND", b""))


def weights(dst, src):
    """Row-normalized tent weights mapping src samples to dst samples:
    pixel centres at (i + 0.5) * src/dst - 0.5; when shrinking the tent is
    widened by src/dst; weights of taps outside the image are dropped and
    the rest normalized to sum 1."""
    scale = src / dst
    widen = max(scale, 1.0)
    w = np.zeros((dst, src))
    for i in range(dst):
        centre = (i + 0.5) * scale - 0.5
        t = np.abs(centre - np.arange(src)) / widen
        w[i] = np.where(t < 1, 1 - t, 0)
        w[i] /= w[i].sum()
    return w


def resize(chw, h, w):
    wy, wx = weights(h, chw.shape[1]), weights(w, chw.shape[2])
    return np.stack([wy @ c @ wx.T for c in chw])


def main():
    rng = np.random.default_rng(8)
    os.makedirs("rgb", exist_ok=True)
    os.makedirs("alpha", exist_ok=True)
    os.makedirs("gray", exist_ok=True)
    imgs = []
    for name in "abc":
        # A gradient plus noise, so that a resize has structure to get wrong.
        y, x = np.mgrid[0:10, 0:12]
        base = np.stack([x * 20, y * 25, (x + y) * 10], axis=-1)
        p = np.clip(base + rng.integers(0, 40, size=(10, 12, 3)), 0, 255).astype(np.uint8)
        png(f"rgb/{name}.png", p, 2)
        imgs.append(p.astype(np.float64) / 255)
    chw = [i.transpose(2, 0, 1) for i in imgs]

    def norm(x, mean, std):
        return (x - mean[:, None, None]) / std[:, None, None]

    save = lambda name, a: np.save(name, np.stack(a).astype(np.float32))
    save("rgb_bgr.npy", [norm(c[::-1], MEAN_BGR, STD_BGR) for c in chw])
    save("rgb_luma.npy", [(0.299 * c[0:1] + 0.587 * c[1:2] + 0.114 * c[2:3] - 0.5) / 0.25 for c in chw])
    save("rgb_down.npy", [norm(resize(c, 7, 9), MEAN, STD) for c in chw])
    save("rgb_up.npy", [norm(resize(c, 15, 20), MEAN, STD) for c in chw])

    rgba = rng.integers(0, 256, size=(6, 5, 4)).astype(np.uint8)
    rgba[0, 0, 3] = 0  # a transparent pixel keeps its colour
    png("alpha/a.png", rgba, 6)
    save("alpha_rgb.npy", [rgba[..., :3].astype(np.float64).transpose(2, 0, 1) / 255])

    g = rng.integers(0, 256, size=(10, 12)).astype(np.uint8)
    png("gray/a.png", g, 0)
    save("gray_rgb.npy", [np.repeat(g[None].astype(np.float64) / 255, 3, axis=0)])


if __name__ == "__main__":
    main()
