#!/usr/bin/env bash
# Installs what amq's tests need on a fresh Debian machine: ONNX's conformance
# data, CMake for the ACL shim, and ONNX Runtime's CPU library (the reference
# runtime for fake-quant models and for speed comparisons), valgrind for the
# C shim's tests, NumPy (to check that NumPy reads amq's .npy files) and
# PaddleOCR's opset-9 direction classifier (a third-party old-opset model),
# Slurm and munge (scripts/test-slurm.sh runs a one-node cluster), and the
# aarch64 cross compiler with qemu-user (scripts/board-deps.sh).
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(libonnx-testdata cmake gcc g++ make valgrind python3-numpy slurm-wlm munge)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The aarch64 cross compiler and qemu-user, for scripts/test-board.sh.
bash scripts/board-deps.sh
bash scripts/fetch-ort.sh >/dev/null
bash scripts/fetch-ocr-models.sh >/dev/null
