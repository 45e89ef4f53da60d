#!/usr/bin/env bash
# The project's test command: installs what the tests need (scripts/setup.sh),
# then runs the Go tests (conformance suite, fixtures, quantization flow), the
# race detector on the concurrent packages, and the ACL bridge tests against
# the fake runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash scripts/fetch-ort.sh)}

test -z "$(gofmt -l $(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $(git ls-files '*.go'); exit 1; }
go vet ./...
go test -count=1 ./...
if [ -f scripts/test-ascend.sh ]; then bash scripts/test-ascend.sh; fi
