#!/usr/bin/env bash
# Times sim against ONNX Runtime on full-size models built in Go with fixed
# random weights (bench/: ResNet-18 and a BERT-base encoder layer at
# sequence 128, at batch 1 and 8), with one thread and with all cores, and
# prints a table (times, GFLOP/s and, with AMQ_PEAK_GFLOPS set to one core's
# float32 peak, the fraction of the cores' peak; Go allocation per run, peak
# heap).
# Each configuration first checks that sim's output matches ONNX Runtime's
# (1e-3 relative); a sim that fails or disagrees shows as FAIL.
#
# usage: scripts/bench-sim.sh [benchmark regexp]     (default: ^Benchmark(ResNet18|BERTLayer)$; Deploy* and *CPUTime are separate)
# env:   BENCH_TIME  go test -benchtime per measurement (default 2s)
#        BENCH_COUNT repetitions; the table shows the fastest (default 5),
#                    since other load on the machine only ever adds time
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash scripts/fetch-ort.sh)}
pattern=${1:-'^Benchmark(ResNet18|BERTLayer)$'} # BenchmarkFlow times whole flows: run it alone
raw=$(mktemp)
trap 'rm -f "$raw"' EXIT

set +e
go test ./bench -run '^$' -bench "$pattern" -benchtime="${BENCH_TIME:-2s}" \
  -count="${BENCH_COUNT:-5}" -timeout 60m 2>&1 | tee "$raw"
status=${PIPESTATUS[0]}
set -e

echo
echo "fastest of ${BENCH_COUNT:-5} runs; sim MB/op = Go heap allocated per run;"
echo "sim peak MB = largest Go heap growth over the loaded model during the first"
echo "              run (activations, their garbage, one-time preparation);"
echo "max |sim-ORT| = largest output difference in the check before timing"
awk '
function key(name,   parts, n) {
  sub(/^Benchmark/, "", name); sub(/-[0-9]+$/, "", name)
  n = split(name, parts, "/")
  if (n != 4) return ""
  sub(/batch=/, "", parts[2]); sub(/threads=/, "", parts[3])
  engine = parts[4]
  return parts[1] "\t" parts[2] "\t" parts[3]
}
/^--- FAIL: Benchmark.*\/sim$/ { k = key($3); if (k != "") { fail[k] = 1; seen(k) } ; next }
/^Benchmark.*ns\/op/ {
  k = key($1); if (k == "") next
  seen(k)
  ns = $3 + 0
  last = ""
  if (engine == "sim") {
    last = k
    if (!(k in sim) || ns < sim[k]) sim[k] = ns
    for (i = 4; i < NF; i++) {
      if ($(i+1) == "B/op") mem[k] = $i / 1048576
      if ($(i+1) == "run-heap-MB" && (!(k in peak) || $i > peak[k])) peak[k] = $i
      if ($(i+1) == "GFLOP/s" && $i > gsim[k] + 0) gsim[k] = $i
      if ($(i+1) == "of-peak" && $i > psim[k] + 0) psim[k] = $i
    }
  } else if (engine == "ort") {
    if (!(k in ort) || ns < ort[k]) ort[k] = ns
    for (i = 4; i < NF; i++) {
      if ($(i+1) == "GFLOP/s" && $i > gort[k] + 0) gort[k] = $i
      if ($(i+1) == "of-peak" && $i > port[k] + 0) port[k] = $i
    }
  }
}
/sim vs ONNX Runtime: max abs error/ {
  if (last != "") { e = $(NF-2) + 0; if (!(last in err) || e > err[last]) err[last] = e }
  next
}
function seen(k) { if (!(k in order)) { order[k] = ++nkeys; keys[nkeys] = k } }
END {
  printf "%-10s %5s %7s %10s %10s %9s %10s %10s %9s %9s %10s %12s %14s\n", "model", "batch", "threads", "sim ms", "ORT ms", "sim/ORT", "sim GF/s", "ORT GF/s", "sim %peak", "ORT %peak", "sim MB/op", "sim peak MB", "max |sim-ORT|"
  for (i = 1; i <= nkeys; i++) {
    k = keys[i]; split(k, f, "\t")
    s = (k in sim) ? sprintf("%.1f", sim[k] / 1e6) : (k in fail ? "FAIL" : "-")
    o = (k in ort) ? sprintf("%.1f", ort[k] / 1e6) : "-"
    r = ((k in sim) && (k in ort)) ? sprintf("%.2f", sim[k] / ort[k]) : "-"
    m = (k in mem) ? sprintf("%.0f", mem[k]) : "-"
    d = (k in err) ? sprintf("%.2g", err[k]) : "-"
    p = (k in peak) ? sprintf("%.0f", peak[k]) : "-"
    gs = (k in gsim) ? sprintf("%.1f", gsim[k]) : "-"
    go_ = (k in gort) ? sprintf("%.1f", gort[k]) : "-"
    ps = (k in psim) ? sprintf("%.0f%%", 100 * psim[k]) : "-"
    po = (k in port) ? sprintf("%.0f%%", 100 * port[k]) : "-"
    printf "%-10s %5s %7s %10s %10s %9s %10s %10s %9s %9s %10s %12s %14s\n", f[1], f[2], f[3], s, o, r, gs, go_, ps, po, m, p, d
  }
}' "$raw"
exit "$status"
