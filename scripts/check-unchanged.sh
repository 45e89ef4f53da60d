#!/usr/bin/env bash
# Checks that a change of structure changed no behaviour: builds amq from a
# base revision and from the working tree, runs the same commands with both
# on the project's quantization fixtures (quantize with each config and
# option set; create-config → preprocess → calibrate → save; run on a deploy
# model) and the demo, and compares every file written, byte for byte, and what each
# command printed on stdout.
#
#   bash scripts/check-unchanged.sh [BASE]     (BASE defaults to origin/main, else HEAD)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${1:-$(git rev-parse --verify -q origin/main || git rev-parse HEAD)}
work=$(mktemp -d)
[ -n "${KEEP:-}" ] && echo "keeping $work" || trap 'git -C "$root" worktree remove --force "$work/base-src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

git worktree add --detach -q "$work/base-src" "$base"
(cd "$work/base-src" && go build -o "$work/amq-base" ./cmd/amq)
go build -o "$work/amq-new" ./cmd/amq

q=$root/testdata/quant
# model calib
fixtures=(
  "cnn/model_op13.onnx cnn/calib.npy"
  "cnn/model_op13_bn.onnx cnn/calib.npy"
  "transformer/model_op13.onnx transformer/calib.npy"
  "transformer/model_op17.onnx transformer/calib.npy"
  "deconv/model_op13.onnx deconv/calib.npy"
  "conv3d/model_op13.onnx conv3d/calib.npy"
)

# run_all BIN OUTDIR: every command of the check, outputs under OUTDIR.
run_all() {
  local amq=$1 out=$2
  mkdir -p "$out"
  # Reports hold the binary's path and timings: leave them out where the
  # binary can.
  local norep=""
  if "$amq" quantize --help 2>/dev/null | grep -q -- --no-report; then norep=--no-report; fi
  cd "$out" # paths printed are relative, hence equal in both runs
  local i=0
  for fx in "${fixtures[@]}"; do
    set -- $fx
    local model=$q/$1 data=$q/$2
    for cfg in dmq nodmq hfmg; do
      for opts in "--batch-size 16" "--batch-size 16 --joint --fold" "--keep-shared --batch-num 2 --batch-size 8"; do
        i=$((i + 1))
        local d=q$i
        mkdir -p "$d"
        echo "$1 $cfg $opts" >"$d/args"
        # shellcheck disable=SC2086
        "$amq" quantize --model "$model" --data "$data" --config "$q/$cfg.cfg" --out "$d/m" $opts $norep \
          >"$d/stdout" 2>"$d/stderr" || echo "exit $?" >>"$d/stdout"
      done
      # The four AMCT steps one by one.
      i=$((i + 1))
      local d=s$i
      mkdir -p "$d"
      echo "$1 $cfg steps" >"$d/args"
      {
        "$amq" create-config --model "$model" --cfg "$q/$cfg.cfg" --out "$d/config.json" || echo "exit $?"
        "$amq" preprocess --model "$model" --config "$d/config.json" --data "$data" --batch-size 16 --record "$d/record.txt" || echo "exit $?"
        "$amq" calibrate --model "$model" --config "$d/config.json" --data "$data" --batch-size 16 --record "$d/record.txt" || echo "exit $?"
        "$amq" save --model "$model" --config "$d/config.json" --record "$d/record.txt" --out "$d/m" || echo "exit $?"
        "$amq" run --model "$d/m_deploy_model.onnx" --input "$data" --output "$d/deploy_out.npy" || echo "exit $?"
      } >"$d/stdout" 2>"$d/stderr"
    done
  done
  mkdir -p demo
  "$amq" demo --out demo >demo/stdout 2>demo/stderr || echo "exit $?" >>demo/stdout
}

(run_all "$work/amq-base" "$work/base") &
# Progress bars (lines with carriage returns) are the only stderr that may
# differ between runs.
(run_all "$work/amq-new" "$work/new")
wait

# Timings printed by run differ too.
sed -i "s/^load .*, run .* (backend/load T, run T (backend/" "$work"/{base,new}/*/stdout
# The demo's reports hold timings and the binary's path.
rm -f "$work"/{base,new}/demo/*_report*
# So do progress lines ("calibrate: 4 batches in 1.2s", "load m.onnx: 3ms").
for f in "$work"/{base,new}/*/stderr; do
  grep -av $'\r' "$f" | grep -avE '^[a-z][^:]*: ([0-9]+ batch(es)? in )?[0-9.hmµs]+$' >"$f.msg" || true
  rm "$f"
done
if diff -r "$work/base" "$work/new"; then
  n=$(find "$work/new" -type f | wc -l)
  echo "unchanged: $n files identical to those of $(git rev-parse --short "$base")"
else
  echo "CHANGED: outputs differ from those of $(git rev-parse --short "$base")" >&2
  exit 1
fi
