#!/usr/bin/env bash
# Times Huawei's AMCT against amq quantize on BenchmarkFlow's ResNet-18 DMQ
# work (scripts/bench-amct.py says what is run and measured). Run by hand;
# neither CI nor the tests run AMCT.
#
#   AMCT_SRC=/path/to/amct.git bash scripts/bench-amct.sh [--dmq-samples 256]
#
# AMCT_SRC is a clone of hicann/amct (bare or not; AMCT_REF picks the
# commit, HEAD by default): its tree is exported to a temporary folder and
# its .proto files compiled to Python there, as its CMake target
# amct_pytorch_proto_compile does. AMCT_ROOT instead names a checkout
# already prepared that way. Needs Debian's python3-torch, python3-onnx and
# protobuf-compiler, and Go.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${AMCT_ROOT:-}" ]; then
	src=${AMCT_SRC:?set AMCT_SRC to a git clone of hicann/amct, or AMCT_ROOT to a prepared checkout}
	ref=${AMCT_REF:-HEAD}
	AMCT_ROOT=$(mktemp -d /tmp/amct-bench.XXXXXX)
	trap 'rm -rf "$AMCT_ROOT"' EXIT
	git -C "$src" archive "$ref" | tar -x -C "$AMCT_ROOT"
	echo "AMCT $(git -C "$src" rev-parse --short "$ref") exported to $AMCT_ROOT"
	proto=amct_pytorch/classic/graph_based/amct_pytorch/proto
	for f in basic_info calibration_config_pytorch scale_offset_record_pytorch retrain_config_pytorch; do
		(cd "$AMCT_ROOT" && protoc -I=./ -I=./$proto --python_out=./ $proto/$f.proto)
	done
	for f in distill_config_pytorch quant_calibration_config_pytorch; do
		(cd "$AMCT_ROOT/$proto" && protoc --python_out=./ $f.proto)
	done
fi
export AMCT_ROOT
/usr/bin/python3 scripts/bench-amct.py "$@"
