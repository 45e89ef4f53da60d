#!/usr/bin/env bash
# ATC wrapper for amq: sets up CANN's environment when it is not set yet,
# then runs Huawei's ATC with the given arguments. Point amq at it with
# AMQ_ATC=/path/to/scripts/atc.sh (amq runs `atc` from PATH by default).
#
#   scripts/atc.sh --model=m.onnx --framework=5 --output=m --soc_version=Ascend310P3 ...
set -euo pipefail
if ! command -v atc >/dev/null 2>&1; then
	home=${ASCEND_TOOLKIT_HOME:-/usr/local/Ascend/ascend-toolkit/latest}
	for env in "$home/../set_env.sh" "$home/set_env.sh" /usr/local/Ascend/ascend-toolkit/set_env.sh; do
		if [ -f "$env" ]; then
			# shellcheck disable=SC1090
			set +u; source "$env"; set -u
			break
		fi
	done
fi
if ! command -v atc >/dev/null 2>&1; then
	echo "atc.sh: ATC not found: install CANN's toolkit (Ascend-cann-toolkit) and source its set_env.sh" >&2
	exit 127
fi
exec atc "$@"
