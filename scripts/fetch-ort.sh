#!/usr/bin/env bash
# Fetches ONNX Runtime's CPU library from the npm package onnxruntime-node
# (no install scripts run) and prints its path. The version matches the C API
# that github.com/yalue/onnxruntime_go in go.mod was written against.
set -euo pipefail
ver=${ORT_VERSION:-1.24.3}
dir=${AMQ_CACHE:-$HOME/.cache/amq}/onnxruntime-$ver
lib=$dir/libonnxruntime.so.1
if [ ! -f "$lib" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$ver" >/dev/null)
  tar -xzf "$tmp"/onnxruntime-node-*.tgz -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
  mkdir -p "$dir"
  mv "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" "$lib.tmp"
  mv "$lib.tmp" "$lib"
fi
echo "$lib"
