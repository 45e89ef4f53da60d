#!/usr/bin/env bash
# What sharding costs on a ResNet-18-sized model (bench's ResNet-18, batch 8,
# random weights and inputs): runs preprocess and calibrate in one process
# and in N shards (one after another, on this machine), merges, checks that
# the records are equal, and prints the stats file sizes and the time of
# each step.
#
# usage: scripts/bench-shard.sh [N (default 4)] [batches (default 4)] [cfg]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-4} batches=${2:-4} cfg=${3:-testdata/quant/dmq.cfg}
tmp=$(mktemp -d /tmp/amq-bench-shard.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/amq" ./cmd/amq
go run ./bench/cmd/resnet18 -batch 8 -samples $((8 * batches)) -out "$tmp"
amq=$tmp/amq
"$amq" create-config --model "$tmp/resnet18.onnx" --cfg "$cfg" --batch-num "$batches" --out "$tmp/config.json" >/dev/null
run=(--model "$tmp/resnet18.onnx" --config "$tmp/config.json" --data "$tmp/calib.npy" --quiet)
t() { local s; s=$(date +%s.%N); "$@" >/dev/null; echo "$(date +%s.%N) - $s" | bc; }
echo "ResNet-18, $batches batches of 8, $n shards, $(basename "$cfg")"
echo "one process: preprocess $(t "$amq" preprocess "${run[@]}" --record "$tmp/one.txt") s, calibrate $(t "$amq" calibrate "${run[@]}" --record "$tmp/one.txt") s"
for phase in preprocess calibrate; do
  total=0
  for k in $(seq 0 $((n - 1))); do
    s=$(t "$amq" $phase "${run[@]}" --record "$tmp/sharded.txt" --shard "$k/$n" --stats "$tmp/$phase-$k.stats")
    total=$(echo "$total + $s" | bc)
  done
  m=$(t "$amq" merge --model "$tmp/resnet18.onnx" --config "$tmp/config.json" --record "$tmp/sharded.txt" --stats "$tmp"/$phase-*.stats)
  sizes=$(stat -c %s "$tmp"/$phase-*.stats | awk '{s+=$1; printf "%s%.2f", (NR>1?" ":""), $1/1048576} END {printf " (total %.1f MiB)", s/1048576}')
  echo "$phase: shards $total s in all; stats files MiB: $sizes; merge $m s"
done
cmp "$tmp/one.txt" "$tmp/sharded.txt" && echo "merged record equals the one-process record"
