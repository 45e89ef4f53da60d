#!/usr/bin/env bash
# Whole-process `amq run` (sim) against ONNX Runtime's whole process
# (bench/ortrun: the same load, one run, the same .npy input and output) on
# the same model and batch: each process is started RUNS times, one after
# the other, and the table shows the fastest wall time of each (other load
# on the machine only ever adds time), their ratio (issue 10: within 1.2x),
# the load and run times each process printed for that fastest start, and
# the peak resident memory.
# Models: PaddleOCR's PP-OCRv4 recognizer at batch 8 of 3x48x320 (when
# scripts/fetch-ocr-models.sh has fetched it), bench's ResNet-18 at batch 1
# and 8, and bench's 10 MB convolution stack at batch 1.
#
# usage: scripts/bench-run.sh            env: RUNS (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash scripts/fetch-ort.sh)}
runs=${RUNS:-5}
tmp=$(mktemp -d /tmp/amq-bench-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/amq" ./cmd/amq
go build -o "$tmp/ortrun" ./bench/ortrun
go build -o "$tmp/randinput" ./bench/cmd/randinput
go build -o "$tmp/models" ./bench/cmd/models

cases=()
ocr=${AMQ_CACHE:-$HOME/.cache/amq}/ocr-models-1.4.2/ch_PP-OCRv4_rec_infer.onnx
if [ -f "$ocr" ]; then
  "$tmp/randinput" -shape 8,3,48,320 -out "$tmp/ocr8.npy"
  cases+=("ppocr-rec 8 $ocr $tmp/ocr8.npy")
fi
for b in 1 8; do
  "$tmp/models" -model resnet18 -batch $b -out "$tmp/resnet18_b$b.onnx"
  "$tmp/randinput" -shape $b,3,224,224 -out "$tmp/resnet18_b$b.npy"
  cases+=("resnet18 $b $tmp/resnet18_b$b.onnx $tmp/resnet18_b$b.npy")
done
"$tmp/models" -model convstack -batch 1 -out "$tmp/convstack.onnx"
"$tmp/randinput" -shape 1,3,64,64 -out "$tmp/convstack.npy"
cases+=("convstack-10MB 1 $tmp/convstack.onnx $tmp/convstack.npy")

# fastest CMD...: the fastest of $runs starts as "seconds<TAB>peak-KB<TAB>load<TAB>run".
fastest() {
  local best="" i
  for i in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
    read -r secs kb <"$tmp/time"
    lr=$(sed -n 's/^load \([^,]*\), run \([^ ]*\) .*/\1\t\2/p' "$tmp/out")
    if [ -z "$best" ] || awk -v a="$secs" -v b="${best%%$'\t'*}" 'BEGIN{exit !(a < b)}'; then
      best="$secs"$'\t'"$kb"$'\t'"$lr"
    fi
  done
  echo "$best"
}

printf '%-15s %5s %9s %9s %9s %13s %13s %13s %13s %9s %9s\n' model batch "amq s" "ORT s" amq/ORT "amq load" "ORT load" "amq run" "ORT run" "amq MB" "ORT MB"
for c in "${cases[@]}"; do
  read -r name batch model input <<<"$c"
  a=$(fastest "$tmp/amq" run --model "$model" --input "$input" --output "$tmp/a.npy")
  o=$(fastest "$tmp/ortrun" --model "$model" --input "$input" --output "$tmp/o.npy")
  IFS=$'\t' read -r as akb al ar <<<"$a"
  IFS=$'\t' read -r os okb ol or <<<"$o"
  printf '%-15s %5s %9s %9s %9.2f %13s %13s %13s %13s %9.0f %9.0f\n' "$name" "$batch" "$as" "$os" "$(echo "$as / $os" | bc -l)" "$al" "$ol" "$ar" "$or" "$(echo "$akb / 1024" | bc -l)" "$(echo "$okb / 1024" | bc -l)"
done
