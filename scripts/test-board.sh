#!/usr/bin/env bash
# Tests amq's aarch64 board build under emulation (scripts/test.sh runs it;
# about a minute once the packages are there):
#  1. installs the cross compiler and qemu-user if missing
#     (scripts/board-deps.sh) and builds with scripts/build-board.sh;
#  2. runs under qemu-aarch64 the shim's C tests (ctest, cross-built) against
#     the aarch64 fake libascendcl and stub;
#  3. `amq doctor` with the release binary against the fake runtime;
#  4. `amq quantize` on every quantization fixture (testdata/quant) with
#     --backend sim for each config (dmq, nodmq, hfmg) and with --backend
#     ascend against the fake runtime for dmq (amq built with the amqfake
#     tag, the fake ATC; the fake executes with sim, so the other configs
#     would repeat the sim runs' arithmetic), and compares
#     every output file (record, config, fake-quant and deploy model) byte
#     for byte with amd64 amq's --backend sim run on the pure-Go GEMM kernel
#     (AMQ_SIM_GEMM=go2x4, what the purego tag builds): the pure-Go kernels
#     are the only ones aarch64 has (README, "aarch64 boards").
# Exits non-zero on any failure or difference.
#
#   bash scripts/test-board.sh
#   AMQ_BOARD_BROKEN=1 bash scripts/test-board.sh   must fail: builds a copy
#       of the tree with an amd64-only file in package sim (no build tag
#       guards it on arm64) and checks that the board build catches it
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/board-deps.sh

if [ -n "${AMQ_BOARD_BROKEN:-}" ]; then
  # A scratch copy of the tree with an amd64-only source in package sim:
  # it calls a function that only the amd64 files define. The amd64 build
  # passes; the aarch64 build must fail.
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  git ls-files -z | xargs -0 cp --parents -t "$scratch"
  cat >"$scratch/sim/broken_board.go" <<'GO'
package sim

// Deliberately broken for aarch64: kernelAVX2_6x16 exists only on amd64.
var _ = kernelAVX2_6x16
GO
  (cd "$scratch" && go build ./sim/) || { echo "test-board: the broken tree does not even build on amd64" >&2; exit 1; }
  echo "== broken tree: amd64 builds; test-board.sh must fail"
  if (cd "$scratch" && AMQ_BOARD_BROKEN= AMQ_BOARD_BUILD="$scratch/build/board" bash scripts/test-board.sh) >"$scratch/log" 2>&1; then
    cat "$scratch/log"
    echo "test-board: FAILED to catch an amd64-only file in the aarch64 build" >&2
    exit 1
  fi
  # It must fail for that reason, not another.
  grep "undefined: kernelAVX2_6x16" "$scratch/log" || { cat "$scratch/log"; echo "test-board: the broken tree failed for another reason" >&2; exit 1; }
  echo "test-board: broken aarch64 build caught"
  exit 0
fi

out=${AMQ_BOARD_BUILD:-$root/build/board}
export AMQ_BOARD_BUILD=$out
echo "== build (scripts/build-board.sh)"
bash scripts/build-board.sh
echo "   ${SECONDS}s"

sysroot=/usr/aarch64-linux-gnu
qemu=(qemu-aarch64 -L "$sysroot")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== C tests of the shim under qemu-aarch64"
ctest --test-dir "$out/c" --output-on-failure

# amq runs ATC as a child process; without binfmt_misc the kernel cannot
# exec an aarch64 binary, so the fake ATC runs through a wrapper.
printf '#!/bin/sh\nexec qemu-aarch64 -L %s %s "$@"\n' "$sysroot" "$out/bin/atc" >"$work/atc"
chmod +x "$work/atc"
export AMQ_ASCENDCL_LIB=$out/c/libascendcl_fake.so AMQ_ATC=$work/atc
export AMQ_SOC_VERSION=Ascend310P3 AMQ_CACHE_DIR=$work/om

echo "== amq doctor under qemu-aarch64"
"${qemu[@]}" "$out/amq-linux-arm64" doctor | tee "$work/doctor"
for want in "library:        $AMQ_ASCENDCL_LIB" "stub library:   no" "devices:        2" "SoC:            Ascend310P3" "ATC:            $AMQ_ATC"; do
  grep -qF "$want" "$work/doctor" || { echo "test-board: doctor does not say \"$want\"" >&2; exit 1; }
done

# The pure-Go arithmetic must give the same bits on both architectures; Go
# fuses x*y+z into one FMA instruction on arm64 (not on amd64), which a
# float32()/float64() conversion prevents (docs/design.md "Same bits on
# every architecture"). Fixtures exercise some paths; this covers all of
# amq's own code (the report's plotting aside: pictures, not numbers).
echo "== no fused multiply-add in amq's arm64 code"
fused=$(go tool objdump -s '^(amq/|main\.)' "$out/amq-linux-arm64" | awk '/^TEXT /{fn=$2} /\t(FMADD|FMSUB|FNMADD|FNMSUB)[SD] /{print fn}' |
  grep -E '^(amq/|main\.)' | grep -v '^amq/report\.' | sort | uniq -c || true)
if [ -n "$fused" ]; then
  echo "test-board: fused multiply-adds (x*y+z without a conversion) in:" >&2
  echo "$fused" >&2
  exit 1
fi

echo "== amq quantize: aarch64 (sim, ascend on the fake runtime) against amd64 sim (pure-Go GEMM)"
go build -trimpath -o "$work/amq-amd64" ./cmd/amq
q=$root/testdata/quant
jobs=() # NAME MODEL DATA CONFIG
for fx in cnn/model_op13 cnn/model_op13_bn transformer/model_op13 transformer/model_op17 \
  deconv/model_op13 conv3d/model_op13 decoder/model_op17; do
  for cfg in dmq nodmq hfmg; do
    jobs+=("${fx/\//-}-$cfg $q/$fx.onnx $q/${fx%/*}/calib.npy $q/$cfg.cfg")
  done
done
# quantize_all DIR FLAGS CMD...: `CMD quantize ... FLAGS` on every job
# (with FLAGS "--backend ascend", on the dmq ones), outputs and messages in
# DIR/NAME/.
quantize_all() {
  local dir=$1 flags=$2 name model data cfg j
  shift 2
  for j in "${jobs[@]}"; do
    read -r name model data cfg <<<"$j"
    [[ $flags != *ascend* || $name == *-dmq ]] || continue
    # Go programs under qemu-user can hang in fork/exec (golang/go#70329;
    # seen once here, in os/exec starting the fake ATC): a run that takes
    # more than 120 s (they take seconds) is stopped with a goroutine dump
    # (kept as log.hang) and run once more; any other failure counts.
    local try rc
    for try in 1 2; do
      rm -rf "${dir:?}/$name"
      mkdir -p "$dir/$name"
      rc=0
      # shellcheck disable=SC2086
      timeout -s QUIT 120 "$@" quantize --model "$model" --data "$data" --config "$cfg" --batch-size 16 --no-report --quiet \
        $flags --out "$dir/$name/m" >"$dir/$name/log" 2>&1 || rc=$?
      [[ $rc == 124 && $try == 1 ]] || break
      cp "$dir/$name/log" "$work/$name.log.hang"
      echo "   $name: hung under qemu (dump in $work/$name.log.hang), once more"
    done
    [[ $rc == 0 ]] || echo "exit $rc" >>"$dir/$name/log"
  done
}
# Two qemu streams on two cores; the amd64 reference, much faster, shares.
AMQ_SIM_GEMM=go2x4 quantize_all "$work/amd64" "" "$work/amq-amd64" &
ref=$!
quantize_all "$work/ascend" "--backend ascend" "${qemu[@]}" "$out/amq-fake-linux-arm64" &
asc=$!
quantize_all "$work/sim" "" "${qemu[@]}" "$out/amq-linux-arm64"
wait $ref $asc
echo "   ${SECONDS}s"

fail=0
for j in "${jobs[@]}"; do
  read -r name _ <<<"$j"
  runs=(amd64 sim)
  [[ $name != *-dmq ]] || runs+=(ascend)
  for run in "${runs[@]}"; do
    if grep -q '^exit' "$work/$run/$name/log" || [ ! -s "$work/$run/$name/m_record.txt" ]; then
      echo "FAILED: $name ($run):" >&2
      cat "$work/$run/$name/log" >&2
      fail=1
    fi
  done
  for run in "${runs[@]:1}"; do
    same=()
    for f in "$work/amd64/$name"/m_*; do
      b=$(basename "$f")
      if cmp -s "$f" "$work/$run/$name/$b"; then
        same+=("${b#m_}")
      else
        echo "DIFFERENT: $name: $b of aarch64 --backend $run differs from amd64's" >&2
        fail=1
      fi
    done
    printf '%-32s aarch64 %-6s = amd64 sim: %s\n' "$name" "$run" "${same[*]}"
  done
done
[ "$fail" -eq 0 ] || { echo "test-board: FAILED" >&2; exit 1; }
echo "test-board: ok (${#jobs[@]} fixture runs byte-identical on aarch64 and amd64 sim, the dmq ones also on aarch64 ascend with the fake runtime; ${SECONDS}s)"
