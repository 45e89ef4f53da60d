#!/usr/bin/env bash
# Tests of the ACL bridge (scripts/test.sh runs this after `go test`):
#  1. CMake build of the shim and the fake/stub libascendcl, and ctest
#     (C tests of the shim against the fake, with valgrind when installed);
#  2. the Go tests of cann against the fake (AMQ_ASCENDCL_LIB), also with
#     the fake ATC ordering and naming outputs as real ATC may;
#  3. the same C tests and one Go test under AddressSanitizer;
#  4. the cann package without cgo (it must compile and vet);
#  5. the check of amq's ACL declarations against CANN's headers
#     (scripts/check-cann-headers.sh; given by $AMQ_CANN_HEADERS or a CANN
#     install, else it prints "skipped: no CANN headers").
#
# ASan and Go: the Go test binary is not instrumented, but the fake runtime
# can be: the fake is built with -fsanitize=address and the ASan runtime is
# LD_PRELOADed into the Go test process (ASan must come first in the
# library list). detect_leaks=0 there, since LeakSanitizer cannot tell Go's
# heap from leaks; the fake's own leak report covers ACL objects.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${AMQ_ASCEND_BUILD:-$PWD/build/ascend}
export CI=${CI:-}

echo "== cmake build + ctest"
cmake -S . -B "$build/plain" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build/plain" -j2 >/dev/null
ctest --test-dir "$build/plain" --output-on-failure

echo "== fake ATC"
go build -o "$build/bin/atc" ./cgo/fake/fakeatc

echo "== Go tests of cann against the fake runtime"
export AMQ_ATC="$build/bin/atc"
AMQ_ASCENDCL_LIB="$build/plain/libascendcl_fake.so" \
AMQ_ASCENDCL_STUB_LIB="$build/plain/libascendcl_stub.so" \
	go test -count=1 -race ./cann/... ./cgo/...
AMQ_ASCENDCL_LIB="$build/plain/libascendcl_fake.so" \
	go test -count=1 ./cmd/amq/ -run 'Ascend|Doctor|Validate'

# Real ATC need not keep the order of --out_nodes and names outputs its own
# way: the fake ATC does the same under AMQ_FAKE_ATC_OUTPUTS, and every
# Ascend-backend test must still equal sim (cann's own tests also cover each
# naming in subtests).
for naming in node node-tensor position; do
	echo "== Go tests with the fake ATC reordering inputs and outputs, outputs named as $naming"
	export AMQ_FAKE_ATC_OUTPUTS=$naming
	AMQ_ASCENDCL_LIB="$build/plain/libascendcl_fake.so" \
	AMQ_ASCENDCL_STUB_LIB="$build/plain/libascendcl_stub.so" \
		go test -count=1 ./cann/
	AMQ_ASCENDCL_LIB="$build/plain/libascendcl_fake.so" \
		go test -count=1 ./cmd/amq/ -run 'Ascend|Doctor|Validate'
	unset AMQ_FAKE_ATC_OUTPUTS
done

echo "== AddressSanitizer: C tests"
cmake -S . -B "$build/asan" -DCMAKE_BUILD_TYPE=Debug -DAMQ_SANITIZE=address >/dev/null
cmake --build "$build/asan" -j2 >/dev/null
ctest --test-dir "$build/asan" --output-on-failure

echo "== AddressSanitizer: Go test against the ASan-built fake"
asan_rt=$(gcc -print-file-name=libasan.so)
CGO_ENABLED=1 go test -c -o "$build/cann.test" ./cann
(cd "$root/cann" && LD_PRELOAD="$asan_rt" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	AMQ_ASCENDCL_LIB="$build/asan/libascendcl_fake.so" \
	AMQ_ASCENDCL_STUB_LIB="$build/asan/libascendcl_stub.so" \
	"$build/cann.test" -test.count=1 -test.run 'TestAscendMatchesSim|TestEachACLCallFailing|TestTwoDevicesEqualOne')

echo "== cann without cgo"
CGO_ENABLED=0 go build ./cann ./cmd/amq
CGO_ENABLED=0 go vet ./cann ./cgo/... ./cmd/amq
# Without cgo the backend must say so.
out=$(CGO_ENABLED=0 go run ./cmd/amq doctor 2>&1 || true)
echo "$out" | grep -q "built without cgo" || { echo "CGO_ENABLED=0 amq doctor: $out"; exit 1; }
echo "== CANN header check"
bash scripts/check-cann-headers.sh
echo "test-ascend: ok"
