#!/usr/bin/env bash
# Builds amq for aarch64 boards (Atlas 200I/500 A2, Kunpeng servers) on an
# amd64 Debian machine with the cross compiler (scripts/board-deps.sh
# installs it):
#
#   build/board/amq-linux-arm64        the board's binary: cgo, libascendcl
#                                      loaded with dlopen at run time, as on amd64
#
# and, unless --binary-only, what scripts/test-board.sh runs under qemu:
#
#   build/board/c/                     the shim, the fake and stub libascendcl
#                                      and the shim's C tests (CMake with
#                                      cmake/aarch64-linux-gnu.cmake)
#   build/board/bin/atc                the fake ATC
#   build/board/amq-fake-linux-arm64   amq with the amqfake tag: installs sim
#                                      as the fake runtime's executor
#
#   bash scripts/build-board.sh [--binary-only]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${AMQ_BOARD_BUILD:-$PWD/build/board}
mkdir -p "$out/bin"
arm64=(env CGO_ENABLED=1 GOOS=linux GOARCH=arm64 CC=aarch64-linux-gnu-gcc)
# Go's build cache does not see the C files that cann/shim.c includes
# (cgo/amq_acl.c, include/*.h): a digest of them in CGO_CFLAGS makes a
# change rebuild the cgo packages instead of shipping the old shim.
shim=$(cat cgo/*.c include/*.h cgo/fake/*.h | sha256sum | cut -c1-16)
export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g} -DAMQ_SHIM_DIGEST=$shim"

# Written under a temporary name and renamed, so that a failed build leaves
# no binary of an earlier one under the name that is tested or shipped.
gobuild() { # OUTPUT ARGS...
  local o=$1
  shift
  "${arm64[@]}" go build -trimpath -o "$o.tmp" "$@"
  mv "$o.tmp" "$o"
}

gobuild "$out/amq-linux-arm64" ./cmd/amq
[ "${1:-}" = --binary-only ] && exit 0

cmake -S . -B "$out/c" -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$out/c" -j2 >/dev/null
gobuild "$out/bin/atc" ./cgo/fake/fakeatc
gobuild "$out/amq-fake-linux-arm64" -tags amqfake ./cmd/amq
