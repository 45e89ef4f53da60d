#!/usr/bin/env bash
# Load, run and flow time and peak memory of amq on an LLM-shaped decoder,
# beside ONNX Runtime on the same files (issue 15's benchmark).
#
# usage: scripts/bench-llm.sh DIR [MODELS]
#   DIR     a folder written by scripts/make-llm.py (model.onnx, model_ext.onnx,
#           model_fp16.onnx, calib.npy), e.g.
#             /usr/bin/python3 scripts/make-llm.py --size 0.1B --out /tmp/llm-0.1B
#   MODELS  which of them to measure, comma-separated (default: all present)
# env:   BATCH   sequences per run and per calibration batch (default 8)
#        FLOW=0  skip `amq quantize`; ORT=0 skip ONNX Runtime
#        AMQ     the amq binary (default: built from this tree)
#
# Per model: `amq run` (load = LoadFile + the sim session, run = one batch),
# ONNX Runtime (bench/ortrun: session creation, one batch), and the DMQ flow
# `amq quantize --config testdata/quant/dmq.cfg --no-eval --no-report` on
# every whole batch of BATCH sequences in calib.npy (--batch-num). Peak RSS is /usr/bin/time's
# "Maximum resident set size" of each process; sim's logits are checked
# against ONNX Runtime's (largest |difference| relative to the largest |logit|).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:?usage: scripts/bench-llm.sh DIR [MODELS]}
batch=${BATCH:-8}
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash scripts/fetch-ort.sh)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
amq=${AMQ:-$tmp/amq}
[ -n "${AMQ:-}" ] || go build -o "$amq" ./cmd/amq
go build -o "$tmp/ortrun" ./bench/ortrun
/usr/bin/python3 -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:int(sys.argv[3])])" \
  "$dir/calib.npy" "$tmp/in.npy" "$batch"

# Every whole batch of calib.npy (dmq.cfg says batch_num 1).
batches=$(/usr/bin/python3 -c "import numpy as np, sys; print(max(1, np.load(sys.argv[1]).shape[0] // int(sys.argv[2])))" "$dir/calib.npy" "$batch")
models=${2:-}
if [ -z "$models" ]; then
  for m in model model_ext model_fp16; do [ -f "$dir/$m.onnx" ] && models+="${models:+,}$m"; done
fi

# measure NAME CMD...: runs CMD under /usr/bin/time -v, keeps its output in
# $tmp/NAME.out and prints "seconds peak-GB load run".
measure() {
  local name=$1; shift
  if ! /usr/bin/time -v -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>&1; then
    echo "FAIL FAIL FAIL FAIL"
    sed 's/^/    /' "$tmp/$name.out" | tail -3 >&2
    return
  fi
  local wall rss load run
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$tmp/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.3f", $2 * 1024 / 1e9 }' "$tmp/$name.time")
  load=$(sed -n 's/^load \([^,]*\), run \([^ ]*\) .*/\1/p' "$tmp/$name.out")
  run=$(sed -n 's/^load \([^,]*\), run \([^ ]*\) .*/\2/p' "$tmp/$name.out")
  echo "$wall $rss ${load:--} ${run:--}"
}

weights_bytes() { # bytes of the model file and its external data
  local n=0 f
  for f in "$dir/$1.onnx" "$dir/$1.onnx.data"; do [ -f "$f" ] && n=$((n + $(stat -c %s "$f"))); done
  echo "$n"
}
weights_gb() { awk -v n="$(weights_bytes "$1")" 'BEGIN { printf "%.2f", n / 1e9 }'; }

printf '%-11s %6s | %-22s %8s | %-22s %8s %8s | %9s %8s %7s\n' model "GB" \
  "sim load / run" "peak GB" "ORT load / run" "peak GB" "sim-ORT" "flow s" "peak GB" "×file"
for m in ${models//,/ }; do
  read -r _ srss sload srun < <(measure "sim-$m" "$amq" run --model "$dir/$m.onnx" --input "$tmp/in.npy" --output "$tmp/sim-$m.npy")
  orss=- oload=- orun=- diff=-
  if [ "${ORT:-1}" != 0 ]; then
    read -r _ orss oload orun < <(measure "ort-$m" "$tmp/ortrun" --model "$dir/$m.onnx" --input "$tmp/in.npy" --output "$tmp/ort-$m.npy")
    diff=$(/usr/bin/python3 -c "import numpy as np, sys; a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); print('%.1e' % (abs(a - b).max() / abs(b).max()))" \
      "$tmp/sim-$m.npy" "$tmp/ort-$m.npy" 2>/dev/null || echo -)
  fi
  fwall=- frss=- ratio=-
  if [ "${FLOW:-1}" != 0 ]; then
    read -r fwall frss _ _ < <(measure "flow-$m" "$amq" quantize --quiet --model "$dir/$m.onnx" --data "$dir/calib.npy" \
      --batch-size "$batch" --batch-num "$batches" --config testdata/quant/dmq.cfg --no-eval --no-report --out "$tmp/q-$m/out")
    [ "$frss" != FAIL ] && ratio=$(awk -v a="$frss" -v b="$(weights_bytes "$m")" 'BEGIN { printf "%.2f", a * 1e9 / b }')
    rm -rf "$tmp/q-$m"
  fi
  printf '%-11s %6s | %-22s %8s | %-22s %8s %8s | %9s %8s %7s\n' "$m" "$(weights_gb "$m")" \
    "$sload / $srun" "$srss" "$oload / $orun" "$orss" "$diff" "$fwall" "$frss" "$ratio"
done
echo "batch $batch × $(/usr/bin/python3 -c "import numpy as np, sys; print(np.load(sys.argv[1]).shape[1])" "$dir/calib.npy") tokens; flow on $batches such batches (all of calib.npy); GB = model file + external data; ×file = flow peak / GB"
