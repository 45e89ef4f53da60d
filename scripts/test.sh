#!/usr/bin/env bash
# The project's test command: installs what the tests need (scripts/setup.sh),
# builds the fake ACL runtime, then runs gofmt, go vet and every Go test under
# the race detector (conformance suite, fixtures, quantization flow, ACL
# backend against the fake runtime), and the C tests of the ACL shim (ctest,
# AddressSanitizer), the sharded calibration on a one-node Slurm cluster
# (scripts/test-slurm.sh) and the aarch64 board build under qemu-user
# (scripts/test-board.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export ONNXRUNTIME_LIB=${ONNXRUNTIME_LIB:-$(bash scripts/fetch-ort.sh)}

# The ACL backend's Go tests run against the fake libascendcl and fake ATC
# that the project builds (there is no NPU here).
build=${AMQ_ASCEND_BUILD:-$PWD/build/ascend}
cmake -S . -B "$build/plain" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build/plain" -j2 >/dev/null
go build -o "$build/bin/atc" ./cgo/fake/fakeatc
export AMQ_ASCENDCL_LIB=$build/plain/libascendcl_fake.so
export AMQ_ASCENDCL_STUB_LIB=$build/plain/libascendcl_stub.so
export AMQ_ATC=$build/bin/atc

test -z "$(gofmt -l $(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $(git ls-files '*.go'); exit 1; }
go vet ./...
# The purego build (no assembly, the pure-Go kernels) must compile too,
# and sim's tests pass on it (the assembly paths' own tests skip there).
go vet -tags purego ./...
go test -race -count=1 ./...
go test -count=1 -tags purego ./sim/
# The live-heap tests (quant/memory_test.go) and the allocation bounds
# (bench/alloc_test.go, onnx/marshal_alloc_test.go,
# dataset/arrays_alloc_test.go) are left out of race builds, which change
# what they measure and make them slow; they run here.
go test -count=1 -run 'MemoryIndependentOfBatches' ./quant/
go test -count=1 -run 'SteadyRunAllocates|ReturnedConvAllocatesItsOutputOnly' ./bench/
go test -count=1 -run 'MarshalAllocatesTheModelOnce|ReadingArraysCostsNoMoreThanTheirRows' ./onnx/ ./dataset/
AMQ_ASCEND_BUILD=$build bash scripts/test-ascend.sh
bash scripts/test-slurm.sh
# The aarch64 board build under qemu-user, checked against amd64's records.
bash scripts/test-board.sh
